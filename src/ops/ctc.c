/* Connectionist temporal classification (Graves et al. 2006): the CTC loss
 * (torch.nn.functional.ctc_loss) and greedy / prefix beam-search decoders.
 *
 * A target l of length L is extended with blanks to l' = (b, l_1, b, l_2, ..., l_L, b) of
 * length S = 2L + 1. With y_t(c) = exp(log_probs[t, c]):
 *   alpha_0(0) = y_0(b), alpha_0(1) = y_0(l_1),
 *   alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [l'_s != b, l'_s != l'_{s-2}]
 *                 alpha_{t-1}(s-2)) y_t(l'_s),
 *   p(l | x) = alpha_{T-1}(S-1) + alpha_{T-1}(S-2),   loss = -log p(l | x),
 * and beta is the same recursion run backwards from the end (both include y_t(l'_s)). Then
 * alpha_t(s) beta_t(s) / y_t(l'_s) sums the probability of every path through (t, s), so
 *   d loss / d log_probs[t, c] = -exp(log(sum_{s: l'_s = c} alpha_t(s) beta_t(s))
 *                                     - log_probs[t, c] + loss).
 * Everything runs in log space (log-sum-exp) in double. This is the true gradient w.r.t.
 * log_probs (the finite-difference checker agrees with it whatever log_probs holds); torch's
 * ctc_loss backward returns that plus exp(log_probs), which gives the same gradient once it
 * goes through the log_softmax that produced normalised log_probs (sum_c of the term above is
 * -1 at every t), so the references compare gradients w.r.t. the logits.
 *
 * The per-sample losses are one recorded op ("ctc_loss") whose backward multiplies the
 * gradient computed in the forward by g; the reductions are dc_ ops. Second derivatives are
 * not supported (the saved gradient is a constant). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double lse2(double a, double b)
{
    if (a == -INFINITY) return b;
    if (b == -INFINITY) return a;
    double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

/* Integer values of a 0-D or 1-D tensor of N entries (any integer dtype) into out. */
static bool read_lengths(const dc_tensor *t, int64_t n, int64_t *out, const char *what)
{
    char buf[96];
    if (!dc__is_int(t->dtype))
        return dc_error("dc_ctc_loss: %s must be an integer tensor, got %s", what,
                        dc_dtype_name(t->dtype)), false;
    if (!(t->ndim == 1 && t->shape[0] == n) && !(t->ndim == 0 && n == 1))
        return dc_error("dc_ctc_loss: %s must have shape [%lld] (one per batch entry), got %s",
                        what, (long long)n, dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf)),
               false;
    for (int64_t i = 0; i < n; i++)
        out[i] = (int64_t)dc__load_double(dc_data(t), t->dtype, t->ndim ? i * t->stride[0] : 0);
    return true;
}

typedef struct {
    const void *lp;       /* log_probs [T, N, C], strided */
    dc_dtype dtype;
    int64_t st, sn, sc;   /* its strides */
    int64_t C, N, blank;
    const int64_t *labels;   /* the targets of sample n start at labels + label_off[n] */
    const int64_t *label_off, *in_len, *tgt_len;
    const int64_t *work_off; /* doubles of alpha (and beta) per sample */
    double *work;
    double *nll;             /* [N] */
    double *grad;            /* [T, N, C] contiguous, NULL if no gradient is needed */
    int64_t T;
} ctc_job;

#define LP(t, c) dc__load_double(j->lp, j->dtype, (t) * j->st + n * j->sn + (c) * j->sc)

static void ctc_samples(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const ctc_job *j = ctx;
    for (int64_t n = begin; n < end; n++) {
        const int64_t *l = j->labels + j->label_off[n];
        int64_t T = j->in_len[n], L = j->tgt_len[n], S = 2 * L + 1;
        /* l'_s: blank at even s, l_{(s-1)/2} at odd s */
#define EXT(s) ((s) % 2 == 0 ? j->blank : l[((s) - 1) / 2])
        if (T == 0) { /* no frames: only the empty target has a (single, empty) path */
            j->nll[n] = L == 0 ? 0.0 : INFINITY;
            continue;
        }
        double *alpha = j->work + j->work_off[n], *beta = alpha + T * S;
        for (int64_t s = 0; s < S; s++) alpha[s] = -INFINITY;
        alpha[0] = LP(0, j->blank);
        if (S > 1) alpha[1] = LP(0, EXT(1));
        for (int64_t t = 1; t < T; t++) {
            const double *prev = alpha + (t - 1) * S;
            double *cur = alpha + t * S;
            for (int64_t s = 0; s < S; s++) {
                double a = prev[s];
                if (s >= 1) a = lse2(a, prev[s - 1]);
                if (s >= 2 && EXT(s) != j->blank && EXT(s) != EXT(s - 2)) a = lse2(a, prev[s - 2]);
                cur[s] = a == -INFINITY ? -INFINITY : a + LP(t, EXT(s));
            }
        }
        const double *last = alpha + (T - 1) * S;
        double logp = S > 1 ? lse2(last[S - 1], last[S - 2]) : last[0];
        j->nll[n] = -logp;
        if (!j->grad) continue;
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < j->C; c++) j->grad[(t * j->N + n) * j->C + c] = 0.0;
        if (logp == -INFINITY) continue; /* impossible: the caller decides (NaN or zero) */
        for (int64_t s = 0; s < S; s++) beta[(T - 1) * S + s] = -INFINITY;
        beta[(T - 1) * S + S - 1] = LP(T - 1, EXT(S - 1));
        if (S > 1) beta[(T - 1) * S + S - 2] = LP(T - 1, EXT(S - 2));
        for (int64_t t = T - 2; t >= 0; t--) {
            const double *next = beta + (t + 1) * S;
            double *cur = beta + t * S;
            for (int64_t s = 0; s < S; s++) {
                double b = next[s];
                if (s + 1 < S) b = lse2(b, next[s + 1]);
                if (s + 2 < S && EXT(s) != j->blank && EXT(s + 2) != EXT(s)) b = lse2(b, next[s + 2]);
                cur[s] = b == -INFINITY ? -INFINITY : b + LP(t, EXT(s));
            }
        }
        /* grad[t, c] = -exp(lse_{s: l'_s = c}(alpha + beta) - lp[t, c] - logp); the per-class
         * log-sum is accumulated in place (the row starts at 0 = "nothing yet", so use a
         * marker of -inf first) */
        for (int64_t t = 0; t < T; t++) {
            double *g = j->grad + (t * j->N + n) * j->C;
            for (int64_t c = 0; c < j->C; c++) g[c] = -INFINITY;
            for (int64_t s = 0; s < S; s++) {
                double ab = alpha[t * S + s] + beta[t * S + s];
                if (ab > -INFINITY) g[EXT(s)] = lse2(g[EXT(s)], ab);
            }
            for (int64_t c = 0; c < j->C; c++)
                g[c] = g[c] == -INFINITY ? 0.0 : -exp(g[c] - LP(t, c) - logp);
        }
#undef EXT
    }
}
#undef LP

/* d losses[n] / d log_probs = D[:, n, :] (saved): grad = D * g[None, :, None] */
static int ctc_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *d = node->saved[0];
    grads[0] = dc_mul(d, dc_reshape(g, 3, (int64_t[]){1, g->shape[0], 1}));
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_ctc_loss(dc_tensor *log_probs, dc_tensor *targets, dc_tensor *input_lengths,
                       dc_tensor *target_lengths, int64_t blank, dc_reduction reduction,
                       bool zero_infinity)
{
    const char *op = "dc_ctc_loss";
    DC_CHECK_TENSOR(log_probs, op);
    DC_CHECK_TENSOR(targets, op);
    DC_CHECK_TENSOR(input_lengths, op);
    DC_CHECK_TENSOR(target_lengths, op);
    if (!dc__check_float(log_probs, op)) return NULL;
    char buf[96];
    if (log_probs->ndim != 3)
        return dc_error("%s: log_probs must be [T, N, C], got shape %s", op,
                        dc__shape_fmt(log_probs->ndim, log_probs->shape, buf, sizeof buf));
    int64_t T = log_probs->shape[0], N = log_probs->shape[1], C = log_probs->shape[2];
    if (C < 1) return dc_error("%s: log_probs needs at least one class (C = 0)", op);
    if (blank < 0 || blank >= C)
        return dc_error("%s: blank %lld is not a class of log_probs (C = %lld)", op,
                        (long long)blank, (long long)C);
    if (reduction != DC_REDUCE_MEAN && reduction != DC_REDUCE_SUM && reduction != DC_REDUCE_NONE)
        return dc_error("%s: unknown reduction %d", op, (int)reduction);
    if (!dc__is_int(targets->dtype))
        return dc_error("%s: targets must be an integer tensor, got %s", op,
                        dc_dtype_name(targets->dtype));
    if (targets->ndim != 1 && !(targets->ndim == 2 && targets->shape[0] == N))
        return dc_error("%s: targets must be [N, S] (N = %lld) or 1-D concatenated, got shape %s",
                        op, (long long)N, dc__shape_fmt(targets->ndim, targets->shape, buf,
                                                        sizeof buf));
    int64_t nt = dc_numel(targets);
    int64_t *in_len = malloc((size_t)(3 * N + 1) * sizeof *in_len);
    int64_t *labels = malloc((size_t)(nt + 1) * sizeof *labels);
    if (!in_len || !labels) {
        free(in_len), free(labels);
        return dc_error("%s: out of memory", op);
    }
    int64_t *tgt_len = in_len + N, *label_off = tgt_len + N, *work_off = NULL;
    double *work = NULL, *nll = NULL, *dgrad = NULL;
    dc_tensor *out = NULL;
    bool ok = read_lengths(input_lengths, N, in_len, "input_lengths") &&
              read_lengths(target_lengths, N, tgt_len, "target_lengths");
    for (int64_t k = 0; ok && k < nt; k++) { /* targets in row-major order */
        int64_t off = 0, idx = k;
        for (int d = targets->ndim - 1; d >= 0; d--) {
            off += (idx % targets->shape[d]) * targets->stride[d];
            idx /= targets->shape[d];
        }
        labels[k] = (int64_t)dc__load_double(dc_data(targets), targets->dtype, off);
    }
    int64_t total = 0, S_max = targets->ndim == 2 ? targets->shape[1] : nt;
    for (int64_t n = 0; ok && n < N; n++) {
        if (in_len[n] < 0 || in_len[n] > T) {
            dc_error("%s: input_lengths[%lld] = %lld is outside [0, T = %lld]", op, (long long)n,
                     (long long)in_len[n], (long long)T);
            ok = false;
        } else if (tgt_len[n] < 0 || (targets->ndim == 2 && tgt_len[n] > S_max)) {
            dc_error("%s: target_lengths[%lld] = %lld is outside [0, %lld]", op, (long long)n,
                     (long long)tgt_len[n], (long long)S_max);
            ok = false;
        } else {
            label_off[n] = targets->ndim == 2 ? n * S_max : total;
            total += tgt_len[n];
        }
    }
    if (ok && targets->ndim == 1 && total != nt) {
        dc_error("%s: 1-D targets hold %lld labels but target_lengths sum to %lld", op,
                 (long long)nt, (long long)total);
        ok = false;
    }
    for (int64_t n = 0; ok && n < N; n++)
        for (int64_t k = 0; ok && k < tgt_len[n]; k++) {
            int64_t v = labels[label_off[n] + k];
            if (v < 0 || v >= C || v == blank) {
                dc_error("%s: target %lld of sample %lld is %lld: labels must be classes in "
                         "[0, %lld) other than blank %lld", op, (long long)k, (long long)n,
                         (long long)v, (long long)C, (long long)blank);
                ok = false;
            }
        }
    bool need_grad = ok && dc__grad_enabled && log_probs->requires_grad;
    if (ok) {
        work_off = malloc((size_t)(N + 1) * sizeof *work_off);
        int64_t words = 0;
        for (int64_t n = 0; work_off && n < N; n++) {
            work_off[n] = words;
            words += in_len[n] * (2 * tgt_len[n] + 1) * (need_grad ? 2 : 1);
        }
        work = work_off ? malloc((size_t)(words + 1) * sizeof *work) : NULL;
        if (!work) {
            dc_error("%s: out of memory for the alpha/beta tables", op);
            ok = false;
        }
    }
    if (ok) {
        nll = calloc((size_t)N + 1, sizeof *nll);
        dgrad = need_grad ? calloc((size_t)(T * N * C + 1), sizeof *dgrad) : NULL;
        ok = nll && (!need_grad || dgrad);
        if (!ok) dc_error("%s: out of memory", op);
    }
    if (ok) {
        ctc_job j = {.lp = dc_data(log_probs), .dtype = log_probs->dtype,
                     .st = log_probs->stride[0], .sn = log_probs->stride[1],
                     .sc = log_probs->stride[2], .C = C, .N = N, .blank = blank,
                     .labels = labels, .label_off = label_off, .in_len = in_len,
                     .tgt_len = tgt_len, .work_off = work_off, .work = work,
                     .nll = nll, .grad = dgrad, .T = T};
        dc_parallel_for(N, 1, ctc_samples, &j);
        double *loss = nll, *d = dgrad;
        for (int64_t n = 0; n < N; n++) {
            if (isfinite(loss[n])) continue;
            if (zero_infinity) loss[n] = 0.0; /* and its gradient stays 0 */
            for (int64_t t = 0; d && !zero_infinity && t < T; t++)
                for (int64_t c = 0; c < C; c++) d[(t * N + n) * C + c] = NAN;
        }
        out = dc__alloc_result(log_probs->dtype, 1, &N);
        ok = out != NULL;
        for (int64_t n = 0; ok && n < N; n++) {
            if (out->dtype == DC_F64) ((double *)dc_data(out))[n] = loss[n];
            else ((float *)dc_data(out))[n] = (float)loss[n];
        }
    }
    dc_node *node = NULL;
    if (ok && dc__record(out, "ctc_loss", ctc_backward, 1, &log_probs, &node) != 0) ok = false;
    if (ok && node) { /* the gradient of each loss w.r.t. log_probs, in their dtype */
        dc_tensor *dg = dc__alloc_result(log_probs->dtype, 3, log_probs->shape);
        for (int64_t i = 0; dg && i < T * N * C; i++) {
            if (dg->dtype == DC_F64) ((double *)dc_data(dg))[i] = dgrad[i];
            else ((float *)dc_data(dg))[i] = (float)dgrad[i];
        }
        ok = dg && dc__save(node, dg) >= 0;
        dc_tensor_free(dg);
    }
    free(nll);
    free(dgrad);
    free(work);
    free(work_off);
    free(labels);
    if (!ok) {
        dc_tensor_free(out);
        free(in_len);
        return NULL;
    }
    out = dc__publish(out);
    if (reduction == DC_REDUCE_NONE) {
        free(in_len);
        return out;
    }
    /* mean: each loss divided by its target length (at least 1), then the batch mean */
    size_t scope = dc_scope_begin();
    dc_tensor *res;
    if (reduction == DC_REDUCE_SUM) {
        res = dc_sum_all(out);
    } else {
        dc_tensor *len = dc_empty(out->dtype, 1, &N);
        for (int64_t n = 0; len && n < N; n++) {
            double v = tgt_len[n] > 1 ? (double)tgt_len[n] : 1.0;
            if (len->dtype == DC_F64) ((double *)dc_data(len))[n] = v;
            else ((float *)dc_data(len))[n] = (float)v;
        }
        res = dc_mean_all(dc_div(out, len));
    }
    free(in_len);
    return dc_scope_return(scope, res);
}

/* ---- Decoders ------------------------------------------------------------------------- */

/* Validate [T, N, C] log_probs, optional input_lengths and blank; fill lens (N entries). */
static bool decode_args(dc_tensor *lp, dc_tensor *input_lengths, int64_t blank, int64_t *lens,
                        const char *op)
{
    char buf[96];
    if (!lp) return dc_error("%s: input 'log_probs' is NULL", op), false;
    if (!dc__check_float(lp, op)) return false;
    if (lp->ndim != 3)
        return dc_error("%s: log_probs must be [T, N, C], got shape %s", op,
                        dc__shape_fmt(lp->ndim, lp->shape, buf, sizeof buf)), false;
    int64_t T = lp->shape[0], N = lp->shape[1], C = lp->shape[2];
    if (blank < 0 || blank >= C)
        return dc_error("%s: blank %lld is not a class of log_probs (C = %lld)", op,
                        (long long)blank, (long long)C), false;
    for (int64_t n = 0; n < N; n++) lens[n] = T;
    if (!input_lengths) return true;
    if (!dc__is_int(input_lengths->dtype) || input_lengths->ndim != 1 ||
        input_lengths->shape[0] != N)
        return dc_error("%s: input_lengths must be an integer tensor [%lld], got %s", op,
                        (long long)N, dc_shape_str(input_lengths, buf, sizeof buf)), false;
    for (int64_t n = 0; n < N; n++) {
        lens[n] = (int64_t)dc__load_double(dc_data(input_lengths), input_lengths->dtype,
                                           n * input_lengths->stride[0]);
        if (lens[n] < 0 || lens[n] > T)
            return dc_error("%s: input_lengths[%lld] = %lld is outside [0, T = %lld]", op,
                            (long long)n, (long long)lens[n], (long long)T), false;
    }
    return true;
}

/* Pack N decoded sequences (seqs[n] of len[n]) into I64 [N, max_len] padded with -1. */
static dc_tensor *pack(int64_t N, int64_t *const *seqs, const int64_t *len, dc_tensor **lengths)
{
    int64_t max_len = 0;
    for (int64_t n = 0; n < N; n++) max_len = len[n] > max_len ? len[n] : max_len;
    dc_tensor *out = dc__alloc_result(DC_I64, 2, (int64_t[]){N, max_len});
    dc_tensor *lt = lengths ? dc__alloc_result(DC_I64, 1, &N) : NULL;
    if (!out || (lengths && !lt)) {
        dc_tensor_free(out);
        dc_tensor_free(lt);
        return NULL;
    }
    int64_t *o = dc_data(out);
    for (int64_t n = 0; n < N; n++) {
        for (int64_t k = 0; k < max_len; k++) o[n * max_len + k] = k < len[n] ? seqs[n][k] : -1;
        if (lt) ((int64_t *)dc_data(lt))[n] = len[n];
    }
    if (lengths) *lengths = lt; /* unpublished until the caller succeeds */
    return out;
}

dc_tensor *dc_ctc_greedy_decode(dc_tensor *log_probs, dc_tensor *input_lengths, int64_t blank,
                                dc_tensor **lengths)
{
    const char *op = "dc_ctc_greedy_decode";
    if (lengths) *lengths = NULL;
    int64_t N = log_probs && log_probs->ndim == 3 ? log_probs->shape[1] : 0;
    int64_t *lens = malloc((size_t)(2 * N + 1) * sizeof *lens);
    int64_t **seqs = calloc((size_t)N + 1, sizeof *seqs);
    if (!lens || !seqs) {
        free(lens), free(seqs);
        return dc_error("%s: out of memory", op);
    }
    dc_tensor *out = NULL;
    bool ok = decode_args(log_probs, input_lengths, blank, lens, op);
    int64_t *dlen = lens + N, C = ok ? log_probs->shape[2] : 0;
    for (int64_t n = 0; ok && n < N; n++) {
        seqs[n] = malloc((size_t)(lens[n] + 1) * sizeof **seqs);
        if (!seqs[n]) {
            dc_error("%s: out of memory", op);
            ok = false;
            break;
        }
        dlen[n] = 0;
        int64_t prev = -1;
        for (int64_t t = 0; t < lens[n]; t++) {
            int64_t best = 0;
            double bv = -INFINITY;
            for (int64_t c = 0; c < C; c++) {
                double v = dc__load_double(dc_data(log_probs), log_probs->dtype,
                                           t * log_probs->stride[0] + n * log_probs->stride[1] +
                                               c * log_probs->stride[2]);
                if (v > bv || c == 0) bv = v, best = c;
            }
            if (best != blank && best != prev) seqs[n][dlen[n]++] = best;
            prev = best;
        }
    }
    if (ok) out = pack(N, seqs, dlen, lengths);
    for (int64_t n = 0; n < N; n++) free(seqs[n]);
    free(seqs);
    free(lens);
    if (!out) return NULL;
    if (lengths) dc__publish(*lengths);
    return dc__publish(out);
}

/* A prefix of the beam: its labels and the log probabilities of the paths that produce it
 * ending in a blank (pb) and in its last label (pnb). */
typedef struct {
    int64_t *seq;
    int64_t len;
    double pb, pnb;
} beam_entry;

static double beam_total(const beam_entry *e) { return lse2(e->pb, e->pnb); }

static int cmp_beam(const void *a, const void *b)
{
    double x = beam_total(a), y = beam_total(b);
    return x > y ? -1 : x < y ? 1 : 0;
}

/* Prefix beam search over one sample (Hannun et al. 2014, without a language model): the
 * best labeling's sequence into out (capacity T) and its log probability. */
static int beam_one(const dc_tensor *lp, int64_t n, int64_t T, int64_t blank, int width,
                    int64_t *out, int64_t *out_len, double *score)
{
    int64_t C = lp->shape[2];
    int64_t cap = (int64_t)width * (C + 1);
    beam_entry *beams = calloc((size_t)width, sizeof *beams);
    beam_entry *cand = calloc((size_t)cap, sizeof *cand);
    int64_t *pool = malloc((size_t)(width + cap) * (size_t)(T + 1) * sizeof *pool);
    if (!beams || !cand || !pool) {
        free(beams), free(cand), free(pool);
        dc_error("dc_ctc_beam_decode: out of memory");
        return -1;
    }
    for (int64_t k = 0; k < width; k++) beams[k].seq = pool + k * (T + 1);
    for (int64_t k = 0; k < cap; k++) cand[k].seq = pool + (width + k) * (T + 1);
    int nb = 1;
    beams[0].len = 0, beams[0].pb = 0.0, beams[0].pnb = -INFINITY;
    for (int64_t t = 0; t < T; t++) {
        int64_t nc = 0;
#define LPV(c) dc__load_double(dc_data(lp), lp->dtype,                                          \
                               t * lp->stride[0] + n * lp->stride[1] + (c) * lp->stride[2])
        /* the candidate with this prefix (creating it), so equal prefixes merge */
        for (int b = 0; b < nb; b++) {
            const beam_entry *e = &beams[b];
            double tot = beam_total(e);
            for (int64_t c = 0; c < C; c++) {
                double p = LPV(c);
                bool extend = c != blank;
                int64_t len = e->len + (extend ? 1 : 0);
                int64_t k = 0;
                for (; k < nc; k++) {
                    if (cand[k].len != len || memcmp(cand[k].seq, e->seq, (size_t)e->len * sizeof(int64_t)))
                        continue;
                    if (!extend || cand[k].seq[len - 1] == c) break;
                }
                if (k == nc) {
                    memcpy(cand[k].seq, e->seq, (size_t)e->len * sizeof(int64_t));
                    if (extend) cand[k].seq[len - 1] = c;
                    cand[k].len = len, cand[k].pb = cand[k].pnb = -INFINITY;
                    nc++;
                }
                if (!extend) {
                    cand[k].pb = lse2(cand[k].pb, tot + p);
                } else if (e->len > 0 && e->seq[e->len - 1] == c) {
                    /* a repeat extends only through a blank; without one it stays e */
                    cand[k].pnb = lse2(cand[k].pnb, e->pb + p);
                } else {
                    cand[k].pnb = lse2(cand[k].pnb, tot + p);
                }
            }
            if (e->len > 0) { /* e's last label repeated: the prefix stays e */
                int64_t c = e->seq[e->len - 1];
                int64_t k = 0;
                for (; k < nc; k++)
                    if (cand[k].len == e->len &&
                        !memcmp(cand[k].seq, e->seq, (size_t)e->len * sizeof(int64_t)))
                        break;
                if (k == nc) {
                    memcpy(cand[k].seq, e->seq, (size_t)e->len * sizeof(int64_t));
                    cand[k].len = e->len, cand[k].pb = cand[k].pnb = -INFINITY;
                    nc++;
                }
                cand[k].pnb = lse2(cand[k].pnb, e->pnb + LPV(c));
            }
        }
#undef LPV
        qsort(cand, (size_t)nc, sizeof *cand, cmp_beam);
        nb = (int)(nc < width ? nc : width);
        for (int b = 0; b < nb; b++) { /* swap sequence buffers rather than copy */
            int64_t *tmp = beams[b].seq;
            beams[b] = cand[b];
            cand[b].seq = tmp;
        }
    }
    int64_t best = 0;
    for (int b = 1; b < nb; b++)
        if (beam_total(&beams[b]) > beam_total(&beams[best])) best = b;
    memcpy(out, beams[best].seq, (size_t)beams[best].len * sizeof(int64_t));
    *out_len = beams[best].len;
    *score = beam_total(&beams[best]);
    free(beams), free(cand), free(pool);
    return 0;
}

dc_tensor *dc_ctc_beam_decode(dc_tensor *log_probs, dc_tensor *input_lengths, int64_t blank,
                              int beam_width, dc_tensor **lengths, dc_tensor **scores)
{
    const char *op = "dc_ctc_beam_decode";
    if (lengths) *lengths = NULL;
    if (scores) *scores = NULL;
    if (beam_width < 1) return dc_error("%s: beam_width must be >= 1, got %d", op, beam_width);
    int64_t N = log_probs && log_probs->ndim == 3 ? log_probs->shape[1] : 0;
    int64_t *lens = malloc((size_t)(2 * N + 1) * sizeof *lens);
    int64_t **seqs = calloc((size_t)N + 1, sizeof *seqs);
    double *sc = malloc((size_t)(N + 1) * sizeof *sc);
    if (!lens || !seqs || !sc) {
        free(lens), free(seqs), free(sc);
        return dc_error("%s: out of memory", op);
    }
    dc_tensor *out = NULL, *st = NULL;
    bool ok = decode_args(log_probs, input_lengths, blank, lens, op);
    int64_t *dlen = lens + N;
    for (int64_t n = 0; ok && n < N; n++) {
        seqs[n] = malloc((size_t)(lens[n] + 1) * sizeof **seqs);
        ok = seqs[n] && beam_one(log_probs, n, lens[n], blank, beam_width, seqs[n], &dlen[n],
                                 &sc[n]) == 0;
        if (!seqs[n]) dc_error("%s: out of memory", op);
    }
    if (ok && scores) {
        st = dc__alloc_result(DC_F64, 1, &N);
        ok = st != NULL;
        if (ok) memcpy(dc_data(st), sc, (size_t)N * sizeof(double));
    }
    if (ok) out = pack(N, seqs, dlen, lengths);
    if (!out) dc_tensor_free(st);
    if (!out && lengths) *lengths = NULL;
    for (int64_t n = 0; n < N; n++) free(seqs[n]);
    free(seqs), free(lens), free(sc);
    if (!out) return NULL;
    if (scores) *scores = dc__publish(st);
    if (lengths) dc__publish(*lengths);
    return dc__publish(out);
}
