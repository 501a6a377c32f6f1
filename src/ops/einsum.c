/* torch.einsum: an equation such as "bij,bjk->bik" over n operands.
 *
 * The equation is parsed into integer labels (A-Z = 0..25, a-z = 26..51, the dims covered
 * by "..." = 52.., right-aligned across operands so they broadcast like NumPy). Each
 * operand is prepared on its own: a repeated label takes the diagonal (a product with an
 * identity mask summed over the second copy), and labels that no other operand and not the
 * output use are summed out. The operands are then contracted left to right, two at a
 * time: labels in both are batch dims (kept) or contracted dims (summed), labels in one are
 * that side's free dims; both sides are permuted and reshaped to [batch, free, contracted]
 * and multiplied with one batched dc_matmul. Everything is a differentiable op, so the
 * gradient comes from permute, reshape, expand, sum, mul and matmul. */
#include "../core/internal.h"

#include <string.h>

#define N_LETTERS 52
#define MAX_LABELS (N_LETTERS + DC_MAX_DIMS)

static int letter_label(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
    return -1;
}

/* "'j'" for a letter, "'...'" for a broadcast dim (into buf) */
static const char *label_name(int l, char *buf)
{
    if (l >= N_LETTERS) return strcpy(buf, "'...'");
    buf[0] = '\'', buf[1] = (char)(l < 26 ? 'A' + l : 'a' + l - 26), buf[2] = '\'', buf[3] = 0;
    return buf;
}

/* One side of the equation's terms as parsed: letters before and after the ellipsis. */
typedef struct {
    int nbefore, nafter;
    int before[DC_MAX_DIMS + 1], after[DC_MAX_DIMS + 1];
    bool ellipsis;
    int start; /* position in the equation (for messages) */
} term;

/* A tensor whose dims carry labels (unique after preparation). */
typedef struct {
    dc_tensor *t;
    int n;
    int labels[DC_MAX_DIMS];
} labelled;

/* Parse one term from eq[*pos] up to a ',' (if commas), "->" or the end. */
static bool parse_term(const char *eq, size_t *pos, size_t end, bool commas, term *t)
{
    memset(t, 0, sizeof *t);
    t->start = (int)*pos;
    for (size_t i = *pos; i < end; i++) {
        char c = eq[i];
        if (c == ' ') continue;
        if (c == ',' && commas) {
            *pos = i;
            return true;
        }
        if (c == '.') {
            if (i + 2 >= end || eq[i + 1] != '.' || eq[i + 2] != '.')
                return dc_error("dc_einsum: '.' at index %zu of \"%s\" is not part of an "
                                "ellipsis '...'", i, eq), false;
            if (t->ellipsis)
                return dc_error("dc_einsum: more than one ellipsis '...' in one term (index %zu "
                                "of \"%s\")", i, eq), false;
            t->ellipsis = true;
            i += 2;
            continue;
        }
        int l = letter_label(c);
        if (l < 0)
            return dc_error("dc_einsum: invalid subscript '%c' at index %zu of \"%s\" "
                            "(subscripts are letters a-z, A-Z)", c, i, eq), false;
        int *n = t->ellipsis ? &t->nafter : &t->nbefore;
        if (t->nbefore + t->nafter == DC_MAX_DIMS)
            return dc_error("dc_einsum: a term of \"%s\" has more than %d subscripts", eq,
                            DC_MAX_DIMS), false;
        (t->ellipsis ? t->after : t->before)[(*n)++] = l;
    }
    *pos = end;
    return true;
}

/* Sum the dims of x whose labels are marked in drop[] (labels removed). */
static bool sum_out(labelled *x, const bool *drop)
{
    int dims[DC_MAX_DIMS], nd = 0, m = 0;
    for (int k = 0; k < x->n; k++) {
        if (drop[x->labels[k]]) dims[nd++] = k;
        else x->labels[m++] = x->labels[k];
    }
    if (nd == 0) return true;
    x->t = dc_sum(x->t, nd, dims, false);
    x->n = m;
    return x->t != NULL;
}

/* Take the diagonal of every repeated label: x[.., i, .., i, ..] -> x[.., i, ..]. */
static bool take_diagonals(labelled *x)
{
    for (int p = 0; p < x->n; p++)
        for (int q = p + 1; q < x->n; q++) {
            if (x->labels[q] != x->labels[p]) continue;
            int64_t n = x->t->shape[p];
            dc_tensor *eye = dc_zeros(x->t->dtype, 2, (int64_t[]){n, n});
            if (!eye) return false;
            for (int64_t i = 0; i < n; i++) {
                if (eye->dtype == DC_F32) ((float *)dc_data(eye))[i * n + i] = 1;
                else ((double *)dc_data(eye))[i * n + i] = 1;
            }
            int64_t shape[DC_MAX_DIMS];
            for (int d = 0; d < x->n; d++) shape[d] = d == p || d == q ? n : 1;
            x->t = dc_sum(dc_mul(x->t, dc_reshape(eye, x->n, shape)), 1, &q, false);
            if (!x->t) return false;
            for (int d = q; d + 1 < x->n; d++) x->labels[d] = x->labels[d + 1];
            x->n--;
            q--;
        }
    return true;
}

/* x with its dims permuted to the label order `order` (every label of x, once), each
 * expanded to size[label] (broadcast of size-1 dims), then reshaped to `groups` dims whose
 * label counts are in group_len. */
static dc_tensor *arrange(labelled *x, const int *order, const int64_t *size, int ngroups,
                          const int *group_len)
{
    int perm[DC_MAX_DIMS];
    int64_t full[DC_MAX_DIMS], grouped[3];
    for (int k = 0; k < x->n; k++) {
        for (int d = 0; d < x->n; d++)
            if (x->labels[d] == order[k]) perm[k] = d;
        full[k] = size[order[k]];
    }
    for (int gidx = 0, k = 0; gidx < ngroups; gidx++) {
        grouped[gidx] = 1;
        for (int e = 0; e < group_len[gidx]; e++) grouped[gidx] *= full[k++];
    }
    dc_tensor *t = x->n ? dc_permute(x->t, perm) : x->t;
    t = dc_expand(t, x->n, full);
    return dc_reshape(t, ngroups, grouped);
}

/* a (x) b over their labels, keeping the labels marked in keep[]; result into *out. */
static bool contract(labelled *a, labelled *b, const bool *keep, const int64_t *size,
                     labelled *out)
{
    bool in_a[MAX_LABELS] = {false}, in_b[MAX_LABELS] = {false}, drop[MAX_LABELS] = {false};
    for (int k = 0; k < a->n; k++) in_a[a->labels[k]] = true;
    for (int k = 0; k < b->n; k++) in_b[b->labels[k]] = true;
    /* one-sided labels nobody needs are summed first */
    for (int l = 0; l < MAX_LABELS; l++) drop[l] = (in_a[l] != in_b[l]) && !keep[l];
    if (!sum_out(a, drop) || !sum_out(b, drop)) return false;
    int batch[DC_MAX_DIMS], left[DC_MAX_DIMS], right[DC_MAX_DIMS], con[DC_MAX_DIMS];
    int nb = 0, nl = 0, nr = 0, nc = 0;
    for (int k = 0; k < a->n; k++) {
        int l = a->labels[k];
        if (!in_b[l]) left[nl++] = l;
        else if (keep[l]) batch[nb++] = l;
        else con[nc++] = l;
    }
    for (int k = 0; k < b->n; k++)
        if (!in_a[b->labels[k]]) right[nr++] = b->labels[k];
    if (nb + nl + nr > DC_MAX_DIMS)
        return dc_error("dc_einsum: an intermediate result would have %d dims, more than %d",
                        nb + nl + nr, DC_MAX_DIMS), false;
    int order_a[DC_MAX_DIMS], order_b[DC_MAX_DIMS], na = 0, nbb = 0;
    for (int k = 0; k < nb; k++) order_a[na++] = batch[k], order_b[nbb++] = batch[k];
    for (int k = 0; k < nl; k++) order_a[na++] = left[k];
    for (int k = 0; k < nc; k++) order_a[na++] = con[k], order_b[nbb++] = con[k];
    for (int k = 0; k < nr; k++) order_b[nbb++] = right[k];
    dc_tensor *ma = arrange(a, order_a, size, 3, (int[]){nb, nl, nc});
    dc_tensor *mb = arrange(b, order_b, size, 3, (int[]){nb, nc, nr});
    dc_tensor *prod = dc_matmul(ma, mb); /* [batch, left, right] */
    int64_t shape[DC_MAX_DIMS];
    out->n = 0;
    for (int k = 0; k < nb; k++) out->labels[out->n] = batch[k], shape[out->n++] = size[batch[k]];
    for (int k = 0; k < nl; k++) out->labels[out->n] = left[k], shape[out->n++] = size[left[k]];
    for (int k = 0; k < nr; k++) out->labels[out->n] = right[k], shape[out->n++] = size[right[k]];
    out->t = dc_reshape(prod, out->n, shape);
    return out->t != NULL;
}

dc_tensor *dc_einsum(const char *equation, int n, dc_tensor *const *operands)
{
    if (!equation) return dc_error("dc_einsum: equation is NULL");
    if (n < 1) return dc_error("dc_einsum: needs at least one operand, got %d", n);
    if (!operands) return dc_error("dc_einsum: operands is NULL");
    for (int i = 0; i < n; i++) {
        if (!operands[i]) return dc_error("dc_einsum: operand %d is NULL", i);
        if (!dc__check_float(operands[i], "dc_einsum")) return NULL;
        if (i > 0 && !dc__check_same_dtype(operands[0], operands[i], "dc_einsum")) return NULL;
    }
    const char *arrow = strstr(equation, "->");
    if (arrow && strstr(arrow + 2, "->"))
        return dc_error("dc_einsum: more than one '->' in \"%s\"", equation);
    size_t len = strlen(equation), lhs_end = arrow ? (size_t)(arrow - equation) : len;
    if (!arrow)
        for (size_t i = 0; i < len; i++)
            if (equation[i] == '-' || equation[i] == '>')
                return dc_error("dc_einsum: invalid subscript '%c' at index %zu of \"%s\" "
                                "(the output is introduced by \"->\")", equation[i], i, equation);

    /* ---- the operands' terms and labels ---- */
    int64_t size[MAX_LABELS];
    int count[MAX_LABELS] = {0}; /* operands holding each label */
    for (int l = 0; l < MAX_LABELS; l++) size[l] = -1;
    labelled ops[64];
    if (n > 64) return dc_error("dc_einsum: at most 64 operands, got %d", n);
    term terms[64];
    size_t pos = 0;
    int nterms = 0, max_ell = 0;
    while (true) {
        if (nterms == n)
            return dc_error("dc_einsum: \"%s\" has more operand terms than the %d tensor(s) "
                            "given", equation, n);
        if (!parse_term(equation, &pos, lhs_end, true, &terms[nterms])) return NULL;
        nterms++;
        if (pos >= lhs_end) break;
        pos++; /* the comma */
    }
    if (nterms != n)
        return dc_error("dc_einsum: \"%s\" has %d operand term(s) but %d tensor(s) were given",
                        equation, nterms, n);
    for (int i = 0; i < n; i++) {
        const term *t = &terms[i];
        int named = t->nbefore + t->nafter, nd = operands[i]->ndim;
        if (t->ellipsis ? named > nd : named != nd)
            return dc_error("dc_einsum: operand %d has %d dims but its term (at index %d of "
                            "\"%s\") has %d subscripts%s", i, nd, t->start, equation, named,
                            t->ellipsis ? "" : " and no ellipsis");
        if (t->ellipsis && nd - named > max_ell) max_ell = nd - named;
    }
    char b1[8];
    for (int i = 0; i < n; i++) {
        const term *t = &terms[i];
        dc_tensor *x = operands[i];
        int ell = x->ndim - t->nbefore - t->nafter;
        labelled *o = &ops[i];
        o->t = x;
        o->n = 0;
        for (int k = 0; k < t->nbefore; k++) o->labels[o->n++] = t->before[k];
        for (int k = 0; t->ellipsis && k < ell; k++)
            o->labels[o->n++] = N_LETTERS + (max_ell - ell) + k;
        for (int k = 0; k < t->nafter; k++) o->labels[o->n++] = t->after[k];
        bool seen[MAX_LABELS] = {false};
        for (int d = 0; d < o->n; d++) {
            int l = o->labels[d];
            int64_t s = x->shape[d];
            if (seen[l]) {
                for (int e = 0; e < d; e++)
                    if (o->labels[e] == l && x->shape[e] != s)
                        return dc_error("dc_einsum: subscript %s is repeated in operand %d but "
                                        "its sizes differ (%lld and %lld)", label_name(l, b1), i,
                                        (long long)x->shape[e], (long long)s);
                continue;
            }
            seen[l] = true;
            count[l]++;
            if (size[l] < 0 || size[l] == 1) size[l] = s;
            else if (s != 1 && s != size[l])
                return dc_error("dc_einsum: subscript %s has size %lld in operand %d, which does "
                                "not broadcast with size %lld in an earlier operand",
                                label_name(l, b1), (long long)s, i, (long long)size[l]);
        }
    }

    /* ---- the output's labels ---- */
    int out_labels[MAX_LABELS], nout = 0;
    bool in_out[MAX_LABELS] = {false};
    if (arrow) {
        term t;
        pos = lhs_end + 2;
        if (!parse_term(equation, &pos, len, false, &t)) return NULL;
        for (int k = 0; k < t.nbefore + t.nafter + (t.ellipsis ? max_ell : 0); k++) {
            int l = k < t.nbefore                  ? t.before[k]
                    : !t.ellipsis                   ? t.after[k - t.nbefore]
                    : k < t.nbefore + max_ell      ? N_LETTERS + (k - t.nbefore)
                                                    : t.after[k - t.nbefore - max_ell];
            if (l < N_LETTERS && count[l] == 0)
                return dc_error("dc_einsum: output subscript %s does not appear in any operand "
                                "of \"%s\"", label_name(l, b1), equation);
            if (in_out[l])
                return dc_error("dc_einsum: output subscript %s appears more than once in \"%s\"",
                                label_name(l, b1), equation);
            in_out[l] = true;
            out_labels[nout++] = l;
        }
    } else { /* implicit: the broadcast dims, then the labels used once, sorted */
        for (int k = 0; k < max_ell; k++) out_labels[nout++] = N_LETTERS + k;
        int uses[N_LETTERS] = {0};
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < terms[i].nbefore; k++) uses[terms[i].before[k]]++;
            for (int k = 0; k < terms[i].nafter; k++) uses[terms[i].after[k]]++;
        }
        for (int l = 0; l < N_LETTERS; l++)
            if (uses[l] == 1) out_labels[nout++] = l;
        for (int k = 0; k < nout; k++) in_out[out_labels[k]] = true;
    }
    if (nout > DC_MAX_DIMS)
        return dc_error("dc_einsum: the output of \"%s\" would have %d dims, more than %d",
                        equation, nout, DC_MAX_DIMS);
    for (int l = 0; l < MAX_LABELS; l++)
        if (size[l] < 0 && in_out[l]) size[l] = 1; /* "..." covering no dim in any operand */

    /* ---- prepare each operand, contract left to right ---- */
    size_t scope = dc_scope_begin();
    bool ok = true;
    for (int i = 0; ok && i < n; i++) {
        bool drop[MAX_LABELS];
        ok = take_diagonals(&ops[i]);
        for (int l = 0; l < MAX_LABELS; l++) drop[l] = count[l] == 1 && !in_out[l];
        ok = ok && sum_out(&ops[i], drop);
    }
    labelled cur = ops[0];
    for (int i = 1; ok && i < n; i++) {
        bool keep[MAX_LABELS];
        for (int l = 0; l < MAX_LABELS; l++) {
            keep[l] = in_out[l];
            for (int j = i + 1; j < n && !keep[l]; j++)
                for (int k = 0; k < ops[j].n; k++) keep[l] |= ops[j].labels[k] == l;
        }
        labelled next;
        ok = contract(&cur, &ops[i], keep, size, &next);
        cur = next;
    }
    if (!ok) return dc_scope_return(scope, NULL);
    /* cur holds exactly the output labels; permute them into place, broadcast size-1 dims */
    int perm[DC_MAX_DIMS];
    int64_t shape[DC_MAX_DIMS];
    for (int k = 0; k < nout; k++) {
        perm[k] = -1;
        for (int d = 0; d < cur.n; d++)
            if (cur.labels[d] == out_labels[k]) perm[k] = d;
        shape[k] = size[out_labels[k]];
    }
    dc_tensor *y = cur.t;
    if (cur.n != nout) { /* a "..." in the output covering no dim adds nothing */
        return dc_scope_return(scope, dc_error("dc_einsum: internal: %d labels left for %d "
                                               "outputs", cur.n, nout));
    }
    if (nout > 0) y = dc_expand(dc_permute(y, perm), nout, shape);
    return dc_scope_return(scope, y);
}
