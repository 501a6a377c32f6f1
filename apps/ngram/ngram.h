/* Count language models (the course's makemore practicals, part 1): bigram and trigram (any
 * order) models over token ids with add-k smoothing, their held-out negative log-likelihood
 * and sampling; and the text helpers the language-model applications share (names split into
 * train / val / test lines). Uses only the public headers. */
#ifndef DEEPC_APPS_NGRAM_H
#define DEEPC_APPS_NGRAM_H

#include "deepc.h"

/* An n-gram model over ids 0 .. vocab-1: counts c(w_1 .. w_n) of every n-gram seen and the
 * smoothed conditional p(w | ctx) = (c(ctx, w) + k) / (c(ctx) + k V).
 * The context of a token is the order-1 tokens before it, but never reaching back past a
 * `boundary` token (the end of a name or a line): positions before the start of the
 * sequence or before the last boundary are filled with `boundary`. So in "emma\nolivia\n"
 * with boundary '\n' the trigram context of the 'o' is ("\n", "\n"), as for the first 'e'. */
typedef struct {
    int order;        /* n: 1 unigram, 2 bigram, 3 trigram, ... */
    int64_t vocab;    /* V */
    int64_t boundary; /* the id that ends a sequence and pads contexts */
    double k;         /* add-k smoothing (0: maximum likelihood) */
    double *counts;   /* V^order counts, row-major: index = ((w_1 V + w_2) V + ...) */
    double *totals;   /* V^(order-1) context totals c(ctx) = sum_w c(ctx, w) */
} ngram_model;

/* A model with zero counts. Errors (NULL): order < 1, vocab < 1, V^order above 2^27 entries,
 * boundary outside the vocabulary, k < 0. Free it with ngram_free. */
ngram_model *ngram_new(int order, int64_t vocab, int64_t boundary, double k);
void ngram_free(ngram_model *m);
/* Count the n-gram ending at every token of ids[0..n) (contexts as described above).
 * An id outside the vocabulary is an error naming it and its position (nothing counted). */
int ngram_add(ngram_model *m, const int64_t *ids, int64_t n);
/* The count c(gram[0], ..., gram[order-1]); NaN for an id out of range. */
double ngram_count(const ngram_model *m, const int64_t *gram);
/* p(next | context) with context the order-1 previous ids (oldest first; NULL for a unigram
 * model). NaN for an id out of range, or when k = 0 and the context was never seen. */
double ngram_prob(const ngram_model *m, const int64_t *context, int64_t next);
/* The mean negative log-likelihood (nats per token) of ids[0..n) under the model, every
 * token predicted from its context as in ngram_add (the boundary tokens are predicted too).
 * inf when a token has probability 0 (k = 0); NaN with an error for a bad id or n < 1. */
double ngram_nll(const ngram_model *m, const int64_t *ids, int64_t n);
/* Draw one sequence: tokens from the boundary context until the model draws `boundary` or
 * max_len tokens are drawn; writes them (without the final boundary) to out and returns how
 * many, or -1. */
int64_t ngram_sample(const ngram_model *m, dc_rng *rng, int64_t max_len, int64_t *out);

/* Text helpers shared by the language models. */

/* The non-empty lines of text (trailing '\r' removed, lower-cased when `lower`), shuffled
 * with seed, split into three malloc'ed texts of lines each ending in '\n': the last
 * round(val_fraction N) and, before them, round(test_fraction N) lines are *val and *test,
 * the rest *train (any pointer may be NULL to drop that part). Returns the number of lines
 * N, or -1 (fewer than 3 lines, fractions outside [0, 1) or summing to 1 or more). */
int64_t lm_split_lines(const char *text, bool lower, uint64_t seed, double val_fraction,
                       double test_fraction, char **train, char **val, char **test);
/* The first file of the list that can be read (e.g. "data/names.txt", then the committed
 * sample): a malloc'ed NUL-terminated text and its path through *used (static or from the
 * list); NULL with an error naming the first path when none can be read. */
char *lm_read_first(const char *const *paths, int n, const char **used, size_t *len);

#endif
