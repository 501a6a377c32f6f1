/* word2vec: vocabulary, SGNS / CBOW losses, batches, queries, PCA (apps/word2vec/word2vec.h). */
#include "word2vec/word2vec.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Vocabulary: an open-addressing hash table of words --------------------------------- */

struct w2v_vocab {
    int64_t n;
    char **words;
    int64_t *counts;
    int64_t cap;    /* hash slots, a power of two */
    int64_t *slots; /* id or -1 */
};

static uint64_t hash_word(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* The next word of text at or after *pos: lower-cased into buf (at most size - 1 bytes,
 * longer words truncated); returns its length, 0 at the end. */
static size_t next_word(const char *text, size_t *pos, char *buf, size_t size)
{
    size_t i = *pos;
    while (text[i] && !isalnum((unsigned char)text[i])) i++;
    size_t len = 0;
    while (text[i] && isalnum((unsigned char)text[i])) {
        if (len + 1 < size) buf[len++] = (char)tolower((unsigned char)text[i]);
        i++;
    }
    buf[len] = 0;
    *pos = i;
    return len;
}

/* A growable table of (word, count) used while counting. */
typedef struct {
    int64_t n, cap;
    char **words;
    int64_t *counts, *slots;
} counter;

static int64_t *find_slot(int64_t *slots, int64_t cap, char *const *words, const char *w, size_t len)
{
    uint64_t h = hash_word(w, len) & (uint64_t)(cap - 1);
    while (slots[h] >= 0 && strcmp(words[slots[h]], w)) h = (h + 1) & (uint64_t)(cap - 1);
    return &slots[h];
}

static int counter_grow(counter *c)
{
    int64_t cap = c->cap ? c->cap * 2 : 1 << 16;
    int64_t *slots = malloc((size_t)cap * sizeof *slots);
    char **words = realloc(c->words, (size_t)(cap / 2) * sizeof *words);
    int64_t *counts = realloc(c->counts, (size_t)(cap / 2) * sizeof *counts);
    if (words) c->words = words;
    if (counts) c->counts = counts;
    if (!slots || !words || !counts) return free(slots), -1;
    for (int64_t i = 0; i < cap; i++) slots[i] = -1;
    for (int64_t i = 0; i < c->n; i++)
        *find_slot(slots, cap, c->words, c->words[i], strlen(c->words[i])) = i;
    free(c->slots);
    c->slots = slots, c->cap = cap;
    return 0;
}

static const int64_t *sort_counts;
static char *const *sort_words;
static int by_count(const void *a, const void *b)
{
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (sort_counts[i] != sort_counts[j]) return sort_counts[i] > sort_counts[j] ? -1 : 1;
    return strcmp(sort_words[i], sort_words[j]);
}

void w2v_vocab_free(w2v_vocab *v)
{
    if (!v) return;
    for (int64_t i = 0; i < v->n; i++) free(v->words[i]);
    free(v->words), free(v->counts), free(v->slots), free(v);
}

w2v_vocab *w2v_vocab_build(const char *text, int64_t min_count, int64_t max_words)
{
    if (!text) return dc_error("w2v_vocab_build: NULL text");
    counter c = {0};
    char buf[64];
    size_t pos = 0, len;
    int fail = counter_grow(&c);
    while (!fail && (len = next_word(text, &pos, buf, sizeof buf)) > 0) {
        int64_t *slot = find_slot(c.slots, c.cap, c.words, buf, len);
        if (*slot >= 0) {
            c.counts[*slot]++;
            continue;
        }
        if (!(c.words[c.n] = strdup(buf))) fail = 1;
        else c.counts[c.n] = 1, *slot = c.n++;
        if (!fail && 2 * c.n >= c.cap) fail = counter_grow(&c);
    }
    int64_t *order = fail ? NULL : malloc((size_t)(c.n ? c.n : 1) * sizeof *order);
    w2v_vocab *v = order ? calloc(1, sizeof *v) : NULL;
    if (v) {
        for (int64_t i = 0; i < c.n; i++) order[i] = i;
        sort_counts = c.counts, sort_words = c.words;
        qsort(order, (size_t)c.n, sizeof *order, by_count);
        int64_t keep = 0;
        while (keep < c.n && c.counts[order[keep]] >= min_count &&
               (max_words <= 0 || keep < max_words))
            keep++;
        v->cap = 16;
        while (v->cap < 2 * keep + 2) v->cap *= 2;
        v->words = malloc((size_t)(keep ? keep : 1) * sizeof *v->words);
        v->counts = malloc((size_t)(keep ? keep : 1) * sizeof *v->counts);
        v->slots = malloc((size_t)v->cap * sizeof *v->slots);
        if (!v->words || !v->counts || !v->slots) {
            fail = 1;
        } else {
            for (int64_t i = 0; i < v->cap; i++) v->slots[i] = -1;
            for (int64_t i = 0; i < keep; i++) {
                v->words[i] = c.words[order[i]], c.words[order[i]] = NULL;
                v->counts[i] = c.counts[order[i]];
                *find_slot(v->slots, v->cap, v->words, v->words[i], strlen(v->words[i])) = i;
                v->n++;
            }
        }
    }
    for (int64_t i = 0; i < c.n; i++) free(c.words[i]);
    free(c.words), free(c.counts), free(c.slots), free(order);
    if (fail || !v) return w2v_vocab_free(v), dc_error("w2v_vocab_build: out of memory");
    if (v->n == 0) {
        w2v_vocab_free(v);
        return dc_error("w2v_vocab_build: no word occurs %lld times or more", (long long)min_count);
    }
    return v;
}

int64_t w2v_vocab_size(const w2v_vocab *v) { return v ? v->n : 0; }
const char *w2v_vocab_word(const w2v_vocab *v, int64_t id)
{
    return v && id >= 0 && id < v->n ? v->words[id] : NULL;
}
int64_t w2v_vocab_count(const w2v_vocab *v, int64_t id)
{
    return v && id >= 0 && id < v->n ? v->counts[id] : 0;
}

int64_t w2v_vocab_id(const w2v_vocab *v, const char *word)
{
    if (!v || !word) return -1;
    char buf[64];
    size_t len = 0;
    for (; word[len] && len + 1 < sizeof buf; len++) buf[len] = (char)tolower((unsigned char)word[len]);
    buf[len] = 0;
    return *find_slot(v->slots, v->cap, v->words, buf, len);
}

int64_t *w2v_encode(const w2v_vocab *v, const char *text, int64_t *n)
{
    if (!v || !text || !n) return dc_error("w2v_encode: NULL argument");
    int64_t cap = 1024, len = 0;
    int64_t *ids = malloc((size_t)cap * sizeof *ids);
    char buf[64];
    size_t pos = 0, wl;
    while (ids && (wl = next_word(text, &pos, buf, sizeof buf)) > 0) {
        int64_t id = *find_slot(v->slots, v->cap, v->words, buf, wl);
        if (id < 0) continue;
        if (len == cap) {
            int64_t *bigger = realloc(ids, (size_t)(cap *= 2) * sizeof *ids);
            if (!bigger) free(ids);
            ids = bigger;
            if (!ids) break;
        }
        ids[len++] = id;
    }
    if (!ids) return dc_error("w2v_encode: out of memory");
    *n = len;
    return ids;
}

/* ---- Model and losses ------------------------------------------------------------------- */

dc_module *w2v_new(int64_t vocab, int64_t dim, dc_rng *rng)
{
    if (vocab < 2 || dim < 1)
        return dc_error("w2v_new: vocab (%lld) must be >= 2 and dim (%lld) >= 1", (long long)vocab,
                        (long long)dim);
    dc_module *m = dc_module_new("Word2Vec");
    dc_module *in = dc_embedding_new(vocab, dim, rng), *out = NULL;
    bool ok = m && in && dc_module_add_child(m, "in", in);
    if (!ok && !m) dc_module_free(in);
    ok = ok && (out = dc_embedding_new(vocab, dim, rng)) && dc_module_add_child(m, "out", out);
    ok = ok && dc_uniform_(rng, dc_module_param(m, "in.weight"), -0.5 / (double)dim, 0.5 / (double)dim) == 0 &&
         dc_fill_(dc_module_param(m, "out.weight"), 0) == 0;
    if (!ok) {
        dc_module_free(m);
        return dc_error("w2v_new: %s", dc_last_error());
    }
    return m;
}

/* -log s(pos) - sum_k log s(-neg_k) = softplus(-pos) + sum_k softplus(neg_k), batch mean;
 * v [B, D] the input vectors, targets [B] and negatives [B, K] rows of "out". */
static dc_tensor *ns_loss(dc_module *model, dc_tensor *v, dc_tensor *targets, dc_tensor *negatives)
{
    dc_tensor *out = dc_module_param(model, "out.weight");
    dc_tensor *u_pos = dc_index_select(out, 0, targets);               /* [B, D] */
    dc_tensor *u_neg = dc_index_select(out, 0, negatives);             /* [B, K, D] */
    dc_tensor *pos = dc_sum(dc_mul(v, u_pos), 1, (int[]){-1}, false);  /* [B] */
    dc_tensor *neg = dc_squeeze(dc_matmul(u_neg, dc_unsqueeze(v, -1)), -1); /* [B, K] */
    dc_tensor *lp = dc_mean_all(dc_softplus(dc_neg(pos), 1, 20));
    dc_tensor *ln = dc_mul_scalar(dc_mean_all(dc_softplus(neg, 1, 20)),
                                  neg ? (double)neg->shape[1] : 1);
    return dc_add(lp, ln);
}

static int check_ids(const char *fn, dc_tensor *t, int ndim, int64_t B)
{
    if (!t || t->dtype != DC_I64 || t->ndim != ndim || (B >= 0 && t->shape[0] != B)) {
        char buf[64];
        return dc_error("%s: expected int64 ids with %d dims%s, got %s", fn, ndim,
                        B >= 0 ? " and the batch's size" : "",
                        t ? dc_shape_str(t, buf, sizeof buf) : "NULL"),
               -1;
    }
    return 0;
}

dc_tensor *w2v_sgns_loss(dc_module *model, dc_tensor *centers, dc_tensor *contexts,
                         dc_tensor *negatives)
{
    static const char fn[] = "w2v_sgns_loss";
    if (!model || !dc_module_param(model, "in.weight")) return dc_error("%s: not a word2vec model", fn);
    if (check_ids(fn, centers, 1, -1) || check_ids(fn, contexts, 1, centers->shape[0]) ||
        check_ids(fn, negatives, 2, centers->shape[0]))
        return NULL;
    dc_tensor *v = dc_index_select(dc_module_param(model, "in.weight"), 0, centers);
    return ns_loss(model, v, contexts, negatives);
}

dc_tensor *w2v_cbow_loss(dc_module *model, dc_tensor *contexts, dc_tensor *targets,
                         dc_tensor *negatives)
{
    static const char fn[] = "w2v_cbow_loss";
    if (!model || !dc_module_param(model, "in.weight")) return dc_error("%s: not a word2vec model", fn);
    if (check_ids(fn, contexts, 2, -1) || check_ids(fn, targets, 1, contexts->shape[0]) ||
        check_ids(fn, negatives, 2, contexts->shape[0]))
        return NULL;
    dc_tensor *v = dc_mean(dc_index_select(dc_module_param(model, "in.weight"), 0, contexts), 1,
                           (int[]){1}, false);
    return ns_loss(model, v, targets, negatives);
}

/* ---- Training data ------------------------------------------------------------------------ */

struct w2v_data {
    int64_t n, vocab;
    int64_t *ids;
    double *cdf; /* cumulative unigram^0.75 distribution, vocab entries */
    int window;
};

void w2v_data_free(w2v_data *d)
{
    if (!d) return;
    free(d->ids), free(d->cdf), free(d);
}

int64_t w2v_data_tokens(const w2v_data *d) { return d ? d->n : 0; }

w2v_data *w2v_data_new(const w2v_vocab *vocab, const int64_t *ids, int64_t n, double subsample,
                       int window, uint64_t seed)
{
    if (!vocab || !ids || n < 1 || window < 1 || subsample < 0)
        return dc_error("w2v_data_new: bad arguments (n %lld, window %d, subsample %g)",
                        (long long)n, window, subsample);
    w2v_data *d = calloc(1, sizeof *d);
    if (d) d->ids = malloc((size_t)n * sizeof *d->ids), d->cdf = malloc((size_t)vocab->n * sizeof *d->cdf);
    if (!d || !d->ids || !d->cdf) return w2v_data_free(d), dc_error("w2v_data_new: out of memory");
    d->vocab = vocab->n, d->window = window;
    int64_t total = 0;
    for (int64_t i = 0; i < vocab->n; i++) total += vocab->counts[i];
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= vocab->n) {
            w2v_data_free(d);
            return dc_error("w2v_data_new: id %lld at %lld is not in the vocabulary",
                            (long long)ids[i], (long long)i);
        }
        double f = (double)vocab->counts[ids[i]] / (double)total;
        double keep = subsample > 0 ? sqrt(subsample / f) + subsample / f : 1;
        if (keep >= 1 || dc_rng_uniform(&rng) < keep) d->ids[d->n++] = ids[i];
    }
    double acc = 0;
    for (int64_t i = 0; i < vocab->n; i++) d->cdf[i] = acc += pow((double)vocab->counts[i], 0.75);
    for (int64_t i = 0; i < vocab->n; i++) d->cdf[i] /= acc;
    if (d->n < 2 * window + 1) {
        w2v_data_free(d);
        return dc_error("w2v_data_new: %lld tokens left, fewer than 2 window + 1", (long long)d->n);
    }
    return d;
}

static int64_t draw_negative(const w2v_data *d, dc_rng *rng)
{
    double u = dc_rng_uniform(rng);
    int64_t lo = 0, hi = d->vocab - 1;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (d->cdf[mid] > u) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

static int64_t draw_below(dc_rng *rng, int64_t n) { return (int64_t)(dc_rng_u64(rng) % (uint64_t)n); }

int w2v_batch(const w2v_data *d, bool cbow, int64_t B, int64_t K, dc_rng *rng, dc_tensor **a,
              dc_tensor **b, dc_tensor **neg)
{
    if (!d || !rng || !a || !b || !neg || B < 1 || K < 1)
        return dc_error("w2v_batch: bad arguments (B %lld, K %lld)", (long long)B, (long long)K), -1;
    int64_t W = d->window, C = cbow ? 2 * W : 1;
    dc_tensor *ta = cbow ? dc_empty(DC_I64, DC_SHAPE(B, C)) : dc_empty(DC_I64, DC_SHAPE(B));
    dc_tensor *tb = dc_empty(DC_I64, DC_SHAPE(B)), *tn = dc_empty(DC_I64, DC_SHAPE(B, K));
    if (!ta || !tb || !tn) return -1;
    int64_t *pa = dc_data(ta), *pb = dc_data(tb), *pn = dc_data(tn);
    for (int64_t i = 0; i < B; i++) {
        int64_t t = W + draw_below(rng, d->n - 2 * W), positive;
        if (cbow) {
            for (int64_t j = 0, c = 0; j <= 2 * W; j++)
                if (j != W) pa[i * C + c++] = d->ids[t - W + j];
            positive = pb[i] = d->ids[t];
        } else {
            int64_t r = 1 + draw_below(rng, W), off = 1 + draw_below(rng, r);
            if (dc_rng_uniform(rng) < 0.5) off = -off;
            pa[i] = d->ids[t];
            positive = pb[i] = d->ids[t + off];
        }
        for (int64_t k = 0; k < K; k++) {
            int64_t w;
            do w = draw_negative(d, rng);
            while (w == positive && d->vocab > 1);
            pn[i * K + k] = w;
        }
    }
    *a = ta, *b = tb, *neg = tn;
    return 0;
}

/* ---- Queries ------------------------------------------------------------------------------ */

int w2v_nearest(const dc_tensor *emb, const dc_tensor *query, int k, const int64_t *exclude,
                int n_exclude, int64_t *ids, double *sims)
{
    if (!emb || emb->ndim != 2 || !query || dc_numel(query) != emb->shape[1] || k < 1 || !ids)
        return dc_error("w2v_nearest: emb must be [V, D], query [D], k >= 1"), -1;
    int64_t V = emb->shape[0], D = emb->shape[1];
    double *e = malloc((size_t)(V * D) * sizeof *e), *q = malloc((size_t)D * sizeof *q);
    double *best = malloc((size_t)k * sizeof *best);
    if (!e || !q || !best || dc_to_double_buffer(emb, e, V * D) || dc_to_double_buffer(query, q, D))
        return free(e), free(q), free(best), -1;
    double qn = 0;
    for (int64_t j = 0; j < D; j++) qn += q[j] * q[j];
    qn = sqrt(qn) + 1e-12;
    int found = 0;
    for (int64_t i = 0; i < V; i++) {
        bool skip = false;
        for (int x = 0; x < n_exclude; x++) skip |= exclude[x] == i;
        if (skip) continue;
        double dot = 0, nn = 0;
        for (int64_t j = 0; j < D; j++) dot += e[i * D + j] * q[j], nn += e[i * D + j] * e[i * D + j];
        double s = dot / (qn * (sqrt(nn) + 1e-12));
        if (found == k && s <= best[k - 1]) continue;
        int p = found < k ? found++ : k - 1;
        while (p > 0 && best[p - 1] < s) best[p] = best[p - 1], ids[p] = ids[p - 1], p--;
        best[p] = s, ids[p] = i;
    }
    if (sims)
        for (int i = 0; i < found; i++) sims[i] = best[i];
    free(e), free(q), free(best);
    return found;
}

int64_t w2v_analogy(const dc_tensor *emb, int64_t a, int64_t b, int64_t c)
{
    if (!emb || emb->ndim != 2 || a < 0 || b < 0 || c < 0 || a >= emb->shape[0] ||
        b >= emb->shape[0] || c >= emb->shape[0])
        return dc_error("w2v_analogy: bad embedding or ids"), -1;
    size_t scope = dc_scope_begin();
    bool g = dc_no_grad_begin();
    dc_tensor *n = dc_normalize((dc_tensor *)emb, 2, 1, 1e-12);
    dc_tensor *q = dc_add(dc_sub(dc_select(n, 0, b), dc_select(n, 0, a)), dc_select(n, 0, c));
    int64_t ex[3] = {a, b, c}, id = -1;
    int got = q ? w2v_nearest(n, q, 1, ex, 3, &id, NULL) : -1;
    dc_grad_mode_restore(g);
    dc_scope_end(scope);
    return got == 1 ? id : -1;
}

const char *const w2v_analogies[][4] = {
    {"man", "woman", "king", "queen"},     {"man", "woman", "he", "she"},
    {"he", "she", "his", "her"},           {"man", "woman", "boy", "girl"},
    {"brother", "sister", "father", "mother"}, {"son", "daughter", "father", "mother"},
    {"husband", "wife", "man", "woman"},   {"men", "women", "man", "woman"},
    {"man", "men", "woman", "women"},      {"day", "days", "year", "years"},
    {"child", "children", "man", "men"},   {"city", "cities", "state", "states"},
    {"go", "went", "come", "came"},        {"see", "saw", "know", "knew"},
    {"take", "took", "give", "gave"},      {"say", "said", "tell", "told"},
    {"is", "was", "are", "were"},          {"have", "had", "do", "did"},
    {"good", "better", "bad", "worse"},    {"big", "bigger", "small", "smaller"},
    {"one", "two", "first", "second"},     {"two", "three", "second", "third"},
    {"monday", "tuesday", "friday", "saturday"}, {"january", "february", "march", "april"},
    {"up", "down", "in", "out"},           {"north", "south", "east", "west"},
    {"white", "black", "good", "bad"},     {"mr", "mrs", "he", "she"},
    {"i", "we", "me", "us"},               {"he", "him", "she", "her"},
    {"year", "years", "week", "weeks"},    {"war", "wars", "church", "churches"},
};
const int w2v_n_analogies = (int)(sizeof w2v_analogies / sizeof w2v_analogies[0]);

double w2v_analogy_accuracy(const dc_tensor *emb, const w2v_vocab *v, int *n_asked)
{
    int asked = 0, right = 0;
    for (int i = 0; i < w2v_n_analogies; i++) {
        int64_t id[4];
        bool all = true;
        for (int j = 0; j < 4; j++) all &= (id[j] = w2v_vocab_id(v, w2v_analogies[i][j])) >= 0;
        if (!all) continue;
        int64_t got = w2v_analogy(emb, id[0], id[1], id[2]);
        if (got < 0) return -1;
        asked++, right += got == id[3];
    }
    if (n_asked) *n_asked = asked;
    return asked ? (double)right / asked : 0;
}

dc_tensor *w2v_pca2(const dc_tensor *x)
{
    if (!x || x->ndim != 2 || x->shape[0] < 2 || x->shape[1] < 2)
        return dc_error("w2v_pca2: x must be [n >= 2, D >= 2]");
    size_t scope = dc_scope_begin();
    bool g = dc_no_grad_begin();
    dc_tensor *xd = dc_to_dtype((dc_tensor *)x, DC_F64);
    dc_tensor *c = dc_sub(xd, dc_mean(xd, 1, (int[]){0}, true));
    dc_tensor *cov = dc_mul_scalar(dc_matmul(dc_transpose(c, 0, 1), c), 1.0 / (double)(x->shape[0] - 1));
    dc_tensor *vals = NULL, *vecs = NULL, *out = NULL;
    if (cov && dc_linalg_eigh(cov, &vals, &vecs) == 0) {
        int64_t D = x->shape[1];
        /* ascending eigenvalues: the last two columns, largest first */
        dc_tensor *top[2] = {dc_select(vecs, 1, D - 1), dc_select(vecs, 1, D - 2)};
        out = dc_matmul(c, dc_stack(top, 2, 1));
    }
    dc_grad_mode_restore(g);
    return dc_scope_return(scope, out);
}

int w2v_scatter_svg(const char *path, const char *title, const double *xy,
                    const char *const *labels, const int *groups, int n)
{
    if (!path || !xy || !labels || n < 1) return dc_error("w2v_scatter_svg: bad arguments"), -1;
    static const char *colors[10] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                                     "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, xy[2 * i]), x1 = fmax(x1, xy[2 * i]);
        y0 = fmin(y0, xy[2 * i + 1]), y1 = fmax(y1, xy[2 * i + 1]);
    }
    if (!(x1 > x0)) x1 = x0 + 1;
    if (!(y1 > y0)) y1 = y0 + 1;
    const double W = 720, H = 560, M = 50;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return dc_error("w2v_scatter_svg: cannot write %s", path), -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"%.0f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\">%s</text>\n"
               "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"#ccc\"/>\n",
            W, H, W, H, W / 2, title ? title : "", M, M, W - 2 * M, H - 2 * M);
    for (int i = 0; i < n; i++) {
        double px = M + 10 + (xy[2 * i] - x0) / (x1 - x0) * (W - 2 * M - 80);
        double py = H - M - 10 - (xy[2 * i + 1] - y0) / (y1 - y0) * (H - 2 * M - 20);
        const char *col = colors[(groups ? groups[i] : 0) % 10];
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"%s\">%s</text>\n",
                px, py, col, px + 5, py - 3, col, labels[i]);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\" font-size=\"12\">first principal "
               "component</text>\n<text x=\"16\" y=\"%.0f\" font-size=\"12\" transform=\"rotate(-90 16 "
               "%.0f)\" text-anchor=\"middle\">second principal component</text>\n</svg>\n",
            W / 2, H - 18, H / 2, H / 2);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return dc_error("w2v_scatter_svg: cannot write %s", path), -1;
    }
    return 0;
}
