/* word2vec (the course's word vectors): skip-gram with negative sampling and CBOW with
 * negative sampling (Mikolov et al. 2013) on the Brown corpus; nearest neighbours, analogy
 * queries and a 2-D PCA picture of selected words. Uses only the public headers. */
#ifndef DEEPC_APPS_WORD2VEC_H
#define DEEPC_APPS_WORD2VEC_H

#include "deepc.h"

/* ---- Vocabulary -------------------------------------------------------------------------- */

/* Words are the maximal runs of ASCII letters and digits, lower-cased ("Don't" -> "don",
 * "t"). Ids are by descending count (ties: alphabetical), so id 0 is the most frequent. */
typedef struct w2v_vocab w2v_vocab;
/* The words of text seen at least min_count times (at most max_words of them, the most
 * frequent; max_words <= 0: all). NULL when no word qualifies. */
w2v_vocab *w2v_vocab_build(const char *text, int64_t min_count, int64_t max_words);
void w2v_vocab_free(w2v_vocab *v);
int64_t w2v_vocab_size(const w2v_vocab *v);
/* The word of an id (NULL when out of range) and its count. */
const char *w2v_vocab_word(const w2v_vocab *v, int64_t id);
int64_t w2v_vocab_count(const w2v_vocab *v, int64_t id);
/* The id of a word (lower-cased first), or -1 when it is not in the vocabulary. */
int64_t w2v_vocab_id(const w2v_vocab *v, const char *word);
/* The ids of text's words in order, words outside the vocabulary dropped: a malloc'ed array of
 * *n ids (NULL on error). */
int64_t *w2v_encode(const w2v_vocab *v, const char *text, int64_t *n);

/* ---- Model and losses ------------------------------------------------------------------- */

/* Two embedding tables, as word2vec.c: "in.weight" [V, D] (the word vectors, U(-0.5/D,
 * 0.5/D)) and "out.weight" [V, D] (the context vectors, zeros). No forward of its own. */
dc_module *w2v_new(int64_t vocab, int64_t dim, dc_rng *rng);
/* Skip-gram with negative sampling: centers [B], contexts [B], negatives [B, K] (int64) ->
 * mean over the batch of -log s(u_o . v_c) - sum_k log s(-u_k . v_c), s the logistic
 * function, v rows of "in" and u rows of "out". */
dc_tensor *w2v_sgns_loss(dc_module *model, dc_tensor *centers, dc_tensor *contexts,
                         dc_tensor *negatives);
/* CBOW with negative sampling: contexts [B, C] (the words around each target), targets [B],
 * negatives [B, K]: the same loss with v_c replaced by the mean of the context words' "in"
 * vectors, predicting the target's "out" vector. */
dc_tensor *w2v_cbow_loss(dc_module *model, dc_tensor *contexts, dc_tensor *targets,
                         dc_tensor *negatives);

/* ---- Training data ------------------------------------------------------------------------ */

/* A token stream and its sampling tables. */
typedef struct w2v_data w2v_data;
/* Over ids[0..n) (copied) with vocab's counts: frequent words are subsampled once here
 * (a token of frequency f is kept with probability min(1, sqrt(t / f) + t / f), t =
 * subsample; 0 keeps all) with a generator seeded by seed; negatives are drawn from the
 * unigram distribution to the power 3/4. NULL when fewer than 2 * window + 1 tokens remain. */
w2v_data *w2v_data_new(const w2v_vocab *vocab, const int64_t *ids, int64_t n, double subsample,
                       int window, uint64_t seed);
void w2v_data_free(w2v_data *d);
int64_t w2v_data_tokens(const w2v_data *d);
/* A batch of B examples drawn with rng. Skip-gram (cbow false): *a = centers [B] and *b =
 * contexts [B], a context at distance 1..r (r uniform in 1..window, word2vec's reduced
 * window) on either side; CBOW: *a = contexts [B, 2 window] (the window around each target)
 * and *b = targets [B]. *neg = negatives [B, K] (never the positive word). 0 or -1. */
int w2v_batch(const w2v_data *d, bool cbow, int64_t B, int64_t K, dc_rng *rng, dc_tensor **a,
              dc_tensor **b, dc_tensor **neg);

/* ---- Queries and pictures ------------------------------------------------------------------ */

/* The k rows of emb [V, D] most cosine-similar to query [D] (float32 or float64), skipping the
 * n_exclude ids in exclude: ids and similarities, best first. Returns how many (<= k), -1. */
int w2v_nearest(const dc_tensor *emb, const dc_tensor *query, int k, const int64_t *exclude,
                int n_exclude, int64_t *ids, double *sims);
/* The analogy a : b :: c : ? answered by the nearest word to b - a + c (unit-normalised
 * vectors, a, b, c excluded), or -1. */
int64_t w2v_analogy(const dc_tensor *emb, int64_t a, int64_t b, int64_t c);
/* The projection of the rows x [n, D] (n >= 2) on their first two principal axes (centred,
 * eigenvectors of the covariance by dc_linalg_eigh, largest first): [n, 2] float64. */
dc_tensor *w2v_pca2(const dc_tensor *x);
/* A labelled scatter plot as SVG: n points xy[2 i], xy[2 i + 1] with labels[i] drawn in
 * group colour groups[i] (0 .. 9). 0 or -1. */
int w2v_scatter_svg(const char *path, const char *title, const double *xy,
                    const char *const *labels, const int *groups, int n);

/* Built-in analogy questions (a b c d: a is to b as c is to d) over common English words. */
extern const char *const w2v_analogies[][4];
extern const int w2v_n_analogies;
/* Fraction of the built-in analogies with all four words in the vocabulary that emb answers
 * exactly; *n_asked (nullable) gets how many were asked. -1 on error. */
double w2v_analogy_accuracy(const dc_tensor *emb, const w2v_vocab *v, int *n_asked);

/* The report of trained vectors emb [V, D]: the 8 nearest neighbours of a fixed list of
 * query words and the answers to the built-in analogies, printed to out, and (svg_path not
 * NULL) the PCA picture of groups of selected words (numbers, days, family, verbs of
 * saying, colours, places). 0 or -1. */
int w2v_report(const dc_tensor *emb, const w2v_vocab *v, FILE *out, const char *svg_path);

/* `deepc train --task word2vec`: Brown (data/brown.txt, else the committed sample), the first
 * 90% of the words for training, the rest for the validation loss; metrics: loss and the
 * analogy accuracy; render: word2vec_pca.svg and neighbours.txt. */
extern const dc_task word2vec_task;

#endif
