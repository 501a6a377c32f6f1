/* Count n-gram language models with add-k smoothing (apps/ngram/ngram.h). */
#include "ngram/ngram.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NGRAM_MAX_ORDER = 8 };
#define NGRAM_MAX_ENTRIES ((int64_t)1 << 27)

ngram_model *ngram_new(int order, int64_t vocab, int64_t boundary, double k)
{
    if (order < 1 || order > NGRAM_MAX_ORDER)
        return dc_error("ngram_new: order %d is not in [1, %d]", order, NGRAM_MAX_ORDER);
    if (vocab < 1) return dc_error("ngram_new: vocab %lld < 1", (long long)vocab);
    if (boundary < 0 || boundary >= vocab)
        return dc_error("ngram_new: boundary %lld is not in [0, %lld)", (long long)boundary,
                        (long long)vocab);
    if (!(k >= 0)) return dc_error("ngram_new: smoothing k = %g < 0", k);
    int64_t entries = 1;
    for (int i = 0; i < order; i++) {
        if (entries > NGRAM_MAX_ENTRIES / vocab)
            return dc_error("ngram_new: vocab %lld ^ order %d is more than 2^27 counts",
                            (long long)vocab, order);
        entries *= vocab;
    }
    ngram_model *m = calloc(1, sizeof *m);
    if (!m) return dc_error("ngram_new: out of memory");
    *m = (ngram_model){order, vocab, boundary, k, calloc((size_t)entries, sizeof(double)),
                       calloc((size_t)(entries / vocab), sizeof(double))};
    if (!m->counts || !m->totals) {
        ngram_free(m);
        return dc_error("ngram_new: out of memory for %lld counts", (long long)entries);
    }
    return m;
}

void ngram_free(ngram_model *m)
{
    if (!m) return;
    free(m->counts);
    free(m->totals);
    free(m);
}

static int check_ids(const char *fn, const ngram_model *m, const int64_t *ids, int64_t n)
{
    if (!m || (!ids && n > 0) || n < 0) return dc_error("%s: NULL model or ids, or n < 0", fn), -1;
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->vocab)
            return dc_error("%s: id %lld at position %lld is not in [0, %lld)", fn,
                            (long long)ids[i], (long long)i, (long long)m->vocab),
                   -1;
    return 0;
}

/* Walks ids keeping the context index (the last order-1 ids, boundary-padded, reset after
 * each boundary); calls fn(ctx index, next id) for every token. */
#define NGRAM_WALK(m, ids, n, CTX, NEXT, BODY)                                                    \
    do {                                                                                          \
        int64_t span_ = 1, start_ = 0;                                                            \
        for (int o_ = 1; o_ < (m)->order; o_++) span_ *= (m)->vocab;                              \
        for (int o_ = 1; o_ < (m)->order; o_++) start_ = start_ * (m)->vocab + (m)->boundary;     \
        int64_t CTX = start_;                                                                     \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                    \
            int64_t NEXT = (ids)[i_];                                                             \
            BODY;                                                                                 \
            CTX = NEXT == (m)->boundary || (m)->order == 1 ? start_                               \
                                                           : (CTX * (m)->vocab + NEXT) % span_;   \
        }                                                                                         \
    } while (0)

int ngram_add(ngram_model *m, const int64_t *ids, int64_t n)
{
    if (check_ids("ngram_add", m, ids, n) != 0) return -1;
    NGRAM_WALK(m, ids, n, ctx, next, {
        m->counts[ctx * m->vocab + next] += 1;
        m->totals[ctx] += 1;
    });
    return 0;
}

double ngram_count(const ngram_model *m, const int64_t *gram)
{
    if (check_ids("ngram_count", m, gram, m ? m->order : 0) != 0) return NAN;
    int64_t idx = 0;
    for (int i = 0; i < m->order; i++) idx = idx * m->vocab + gram[i];
    return m->counts[idx];
}

static double prob_at(const ngram_model *m, int64_t ctx, int64_t next)
{
    double total = m->totals[ctx] + m->k * (double)m->vocab;
    if (total == 0) return NAN;
    return (m->counts[ctx * m->vocab + next] + m->k) / total;
}

double ngram_prob(const ngram_model *m, const int64_t *context, int64_t next)
{
    if (!m || (!context && m->order > 1)) return dc_error("ngram_prob: NULL model or context"), NAN;
    if (check_ids("ngram_prob", m, context, m->order - 1) != 0 ||
        check_ids("ngram_prob", m, &next, 1) != 0)
        return NAN;
    int64_t ctx = 0;
    for (int i = 0; i < m->order - 1; i++) ctx = ctx * m->vocab + context[i];
    double p = prob_at(m, ctx, next);
    if (isnan(p)) dc_error("ngram_prob: the context was never seen and k = 0");
    return p;
}

double ngram_nll(const ngram_model *m, const int64_t *ids, int64_t n)
{
    if (n < 1) return dc_error("ngram_nll: no tokens (n = %lld)", (long long)n), NAN;
    if (check_ids("ngram_nll", m, ids, n) != 0) return NAN;
    double sum = 0;
    NGRAM_WALK(m, ids, n, ctx, next, {
        double p = prob_at(m, ctx, next);
        sum += isnan(p) || p == 0 ? INFINITY : -log(p);
    });
    return sum / (double)n;
}

int64_t ngram_sample(const ngram_model *m, dc_rng *rng, int64_t max_len, int64_t *out)
{
    if (!m || !rng || !out || max_len < 1)
        return dc_error("ngram_sample: NULL model, generator or output, or max_len < 1"), -1;
    int64_t span = 1, ctx = 0;
    for (int o = 1; o < m->order; o++) span *= m->vocab, ctx = ctx * m->vocab + m->boundary;
    int64_t start = ctx, len = 0;
    while (len < max_len) {
        double u = dc_rng_uniform(rng), acc = 0;
        if (m->totals[ctx] + m->k * (double)m->vocab == 0) break;
        int64_t next = m->vocab - 1;
        for (int64_t w = 0; w < m->vocab; w++) {
            acc += prob_at(m, ctx, w);
            if (u < acc) {
                next = w;
                break;
            }
        }
        if (next == m->boundary) break;
        out[len++] = next;
        ctx = m->order == 1 ? start : (ctx * m->vocab + next) % span;
    }
    return len;
}

/* ---- Text helpers -------------------------------------------------------------------------- */

int64_t lm_split_lines(const char *text, bool lower, uint64_t seed, double val_fraction,
                       double test_fraction, char **train, char **val, char **test)
{
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (test) *test = NULL;
    if (!text) return dc_error("lm_split_lines: NULL text"), -1;
    if (!(val_fraction >= 0 && test_fraction >= 0 && val_fraction + test_fraction < 1))
        return dc_error("lm_split_lines: fractions %g and %g are not in [0, 1) with a sum < 1",
                        val_fraction, test_fraction),
               -1;
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    int64_t cap = 1024, n = 0;
    char **lines = malloc((size_t)cap * sizeof *lines);
    if (!copy || !lines) {
        free(copy), free(lines);
        return dc_error("lm_split_lines: out of memory"), -1;
    }
    memcpy(copy, text, len + 1);
    for (char *s = copy; *s;) {
        char *e = strchr(s, '\n');
        char *next = e ? e + 1 : s + strlen(s);
        if (e) *e = 0;
        size_t l = strlen(s);
        while (l > 0 && s[l - 1] == '\r') s[--l] = 0;
        if (l > 0) {
            if (n == cap) {
                char **bigger = realloc(lines, (size_t)(cap *= 2) * sizeof *lines);
                if (!bigger) {
                    free(copy), free(lines);
                    return dc_error("lm_split_lines: out of memory"), -1;
                }
                lines = bigger;
            }
            if (lower)
                for (char *c = s; *c; c++) *c = (char)tolower((unsigned char)*c);
            lines[n++] = s;
        }
        s = next;
    }
    if (n < 3) {
        free(copy), free(lines);
        return dc_error("lm_split_lines: %lld non-empty lines, need at least 3", (long long)n), -1;
    }
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(dc_rng_u64(&rng) % (uint64_t)(i + 1));
        char *t = lines[i];
        lines[i] = lines[j], lines[j] = t;
    }
    int64_t n_val = (int64_t)llround(val_fraction * (double)n);
    int64_t n_test = (int64_t)llround(test_fraction * (double)n);
    int64_t bounds[4] = {0, n - n_val - n_test, n - n_val, n};
    char **outs[3] = {train, test, val};
    int rc = 0;
    for (int p = 0; p < 3; p++) {
        if (!outs[p]) continue;
        size_t bytes = 1;
        for (int64_t i = bounds[p]; i < bounds[p + 1]; i++) bytes += strlen(lines[i]) + 1;
        char *out = malloc(bytes), *w = out;
        if (!out) {
            rc = -1;
            break;
        }
        for (int64_t i = bounds[p]; i < bounds[p + 1]; i++) {
            size_t l = strlen(lines[i]);
            memcpy(w, lines[i], l);
            w += l;
            *w++ = '\n';
        }
        *w = 0;
        *outs[p] = out;
    }
    free(copy), free(lines);
    if (rc != 0) {
        for (int p = 0; p < 3; p++)
            if (outs[p]) free(*outs[p]), *outs[p] = NULL;
        return dc_error("lm_split_lines: out of memory"), -1;
    }
    return n;
}

char *lm_read_first(const char *const *paths, int n, const char **used, size_t *len)
{
    for (int i = 0; i < n; i++) {
        FILE *f = fopen(paths[i], "rb");
        if (!f) continue;
        fclose(f);
        char *text = dc_read_text_file(paths[i], len);
        if (text && used) *used = paths[i];
        return text;
    }
    return dc_error("cannot read %s (run `make data`)", n > 0 ? paths[0] : "(no path)");
}
