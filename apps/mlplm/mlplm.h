/* A Bengio-style MLP language model (the course's makemore practicals 2-4): the previous
 * `block` characters -> embeddings (concatenated) -> `depth` hidden layers Linear -> BatchNorm
 * -> tanh -> Linear -> next-character logits; the diagnostics of the practicals (activation
 * and gradient statistics per layer, the update-to-data ratio) and a hand-written backward
 * pass ("backprop ninja") checked against autograd. Uses only the public headers. */
#ifndef DEEPC_APPS_MLPLM_H
#define DEEPC_APPS_MLPLM_H

#include "deepc.h"

typedef struct {
    int64_t vocab; /* characters, the boundary included */
    int64_t block; /* context length (characters seen) */
    int64_t emb;   /* embedding width per character */
    int64_t width; /* hidden layer width */
    int depth;     /* hidden layers (>= 1) */
    bool batchnorm; /* BatchNorm1d after each hidden Linear (which then has no bias) */
} mlplm_config;

/* Children: "emb" (Embedding vocab x emb), "layers.<i>.fc" (Linear, bias only without batch
 * norm), "layers.<i>.bn" (BatchNorm1d), "head" (Linear width -> vocab). Initialisation of the
 * practicals: hidden weights N(0, (5/3)^2 / fan_in) (tanh's Kaiming gain), head weights
 * N(0, 0.01 / width) and bias 0 (an unconfident first guess: loss ~ log vocab at step 0),
 * embeddings N(0, 1). dc_forward: ids [B, block] (int64) -> logits [B, vocab]. NULL on a bad
 * config. */
dc_module *mlplm_new(const mlplm_config *config, dc_rng *rng);
/* Its configuration (NULL for another module). */
const mlplm_config *mlplm_get_config(const dc_module *model);
/* The forward pass; acts (nullable, depth entries) receives each hidden layer's tanh output
 * [B, width] (the tensors the diagnostics look at; attach dc_register_hook to them for their
 * gradients). */
dc_tensor *mlplm_forward(dc_module *model, dc_tensor *ids, dc_tensor **acts);
/* Convert every float parameter and buffer of model (any module tree) to dtype, in place
 * (float64 for gradient checks). 0 or -1. */
int mlplm_to_dtype(dc_module *model, dc_dtype dtype);

/* "Backprop ninja": the mean cross-entropy of (ids [B, block], targets [B]) and its gradient
 * with respect to every parameter, derived by hand and computed with plain tensor ops under
 * no-grad (no tape): grads[i] (new tensors) in dc_module_parameters order. Batch norm uses
 * the batch statistics as in training mode (biased variance, eps 1e-5) and its running
 * statistics are not touched. Returns the loss (a scalar), or NULL. */
dc_tensor *mlplm_manual_backward(dc_module *model, dc_tensor *ids, dc_tensor *targets,
                                 dc_tensor **grads);

/* Next-character examples from ids[0..n) (a text of lines, `boundary` ending each): for every
 * token, the `block` tokens before it on its line, padded with boundary at the line start ->
 * a dataset of inputs int64 [n, block] and targets int64 [n]. NULL on a bad id or block < 1. */
dc_dataset *mlplm_windows(const int64_t *ids, int64_t n, int64_t boundary, int64_t vocab,
                          int64_t block);
/* Draw one line: characters from a context of boundaries until the model draws the boundary
 * or max_len characters (eval mode, no grad) -> out; returns the count or -1. */
int64_t mlplm_sample(dc_module *model, dc_rng *rng, int64_t boundary, int64_t max_len,
                     int64_t *out);

/* Statistics of a tensor for the diagnostics plots: mean, standard deviation, the fraction
 * of |x| > saturation (nullable outputs), and a histogram of `bins` equal bins over
 * [lo, hi] as densities (values outside are dropped): centers[bins], density[bins]
 * (nullable). 0 or -1. */
int mlplm_stats(const dc_tensor *t, double saturation, double lo, double hi, int bins,
                double *mean, double *std, double *saturated, double *centers, double *density);

/* `deepc train --task mlplm`: the names (data/names.txt, else the committed sample) split
 * 80/10/10 by line, next-character cross-entropy; metrics nll (nats per character) and
 * perplexity; render: samples.txt. */
extern const dc_task mlplm_task;

#endif
