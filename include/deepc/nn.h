/* deepc nn: modules (layers with parameters), initialisers and the model summary.
 *
 * A module owns named parameters (trainable tensors), named buffers (state such as
 * BatchNorm's running statistics) and named child modules. Names compose with dots exactly
 * like PyTorch's state_dict ("blocks.3.attn.qkv.weight"), so a checkpoint maps 1:1 onto a
 * PyTorch model. Layers follow torch.nn's argument order, defaults and initialisation.
 *
 * Ownership: dc_*_new returns a module the caller frees with dc_module_free (which frees
 * its parameters, buffers and children). A child added to a parent is owned by the parent. */
#ifndef DEEPC_NN_H
#define DEEPC_NN_H

#include "autograd.h"
#include "core.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dc_module dc_module;

struct dc_module {
    const char *type; /* "Linear", "Sequential", ... (static string) */
    /* y = forward(self, x); NULL for containers of other shapes (call their own API). */
    dc_tensor *(*forward)(dc_module *self, dc_tensor *x);
    /* Optional: writes the constructor arguments ("in_features=784, out_features=10"). */
    void (*describe)(const dc_module *self, char *buf, size_t size);
    /* Optional: frees `impl` and anything else the type allocated. */
    void (*destroy)(dc_module *self);
    void *impl; /* type-specific state */
    bool training;
    int n_params, n_buffers, n_children;
    char **param_names, **buffer_names, **child_names;
    dc_tensor **params, **buffers;
    dc_module **children;
    struct dc_module_hooks *hooks; /* dc_module_register_*_hook; NULL if none */
};

/* ---- Building modules ------------------------------------------------------------------ */

/* An empty module of the given type (static string); add members with the functions below. */
dc_module *dc_module_new(const char *type);
void dc_module_free(dc_module *m);
/* An empty module whose `impl` is a copy of the size bytes at impl (a layer's settings),
 * freed with the module: the usual start of a layer constructor. */
dc_module *dc_module_new_impl(const char *type, const void *impl, size_t size);
/* Register a member under `name` (no dots). Tensors are retained (the module adds its own
 * reference; the caller's stays the caller's); a child module becomes owned by m (also on
 * failure). Parameters get requires_grad. Returns the registered object or NULL (duplicate
 * name, NULL input, out of memory). */
dc_tensor *dc_module_add_param(dc_module *m, const char *name, dc_tensor *t);
dc_tensor *dc_module_add_buffer(dc_module *m, const char *name, dc_tensor *t);
dc_module *dc_module_add_child(dc_module *m, const char *name, dc_module *child);
/* Members by (dotted) name, NULL if absent (no error set). */
dc_tensor *dc_module_param(const dc_module *m, const char *name);
dc_tensor *dc_module_buffer(const dc_module *m, const char *name);
dc_module *dc_module_child(const dc_module *m, const char *name);

/* ---- Using modules ---------------------------------------------------------------------- */

/* Call m->forward (and the summary hook). Returns NULL with an error for a NULL module or a
 * module without a single-input forward. */
dc_tensor *dc_forward(dc_module *m, dc_tensor *x);
/* Module hooks (torch's register_forward_hook / register_full_backward_hook): after every
 * dc_forward of m, a forward hook sees the input and output (activation statistics); a
 * backward hook is registered as a gradient hook (autograd.h) on the output, so it sees (and
 * may replace) the gradient of m's output in the backward pass. Hooks run in registration
 * order; `user` is passed through. Each returns a handle >= 0 for
 * dc_module_remove_hook, or -1. */
typedef void (*dc_forward_hook_fn)(dc_module *m, dc_tensor *input, dc_tensor *output, void *user);
int dc_module_register_forward_hook(dc_module *m, dc_forward_hook_fn fn, void *user);
int dc_module_register_backward_hook(dc_module *m, dc_grad_hook_fn fn, void *user);
int dc_module_remove_hook(dc_module *m, int handle);
/* Training mode (dropout active, batch statistics) or eval mode, recursively. */
void dc_module_train(dc_module *m, bool training);
/* Number of parameter elements (trainable_only: only those with requires_grad). */
int64_t dc_module_num_params(const dc_module *m, bool trainable_only);
/* requires_grad = !frozen for every parameter whose dotted name starts with prefix
 * ("" = all). Returns how many parameters matched. */
int dc_module_freeze(dc_module *m, const char *prefix, bool frozen);
/* Drop the gradients of all parameters. */
void dc_module_zero_grad(dc_module *m);

/* A flat list of named tensors (borrowed pointers; the names are owned by the list). */
typedef struct {
    int n;
    dc_tensor **tensors;
    char **names;
} dc_tensor_list;

/* Parameters (dotted names, registration order). */
int dc_module_parameters(const dc_module *m, dc_tensor_list *out);
/* Parameters and buffers: PyTorch's state_dict. */
int dc_module_state(const dc_module *m, dc_tensor_list *out);
void dc_tensor_list_free(dc_tensor_list *list);

/* Print a table of every submodule called during one forward of x (name, type, output
 * shape, parameter count) and the totals, like torchinfo. Runs the forward in eval mode
 * under no-grad. Returns 0 or -1. */
int dc_module_summary(dc_module *m, dc_tensor *x, FILE *out);

/* ---- Layers (src/nn/layers.c) -------------------------------------------------------------- */

/* torch.nn.Linear(in, out, bias): weight [out, in] and bias [out], both U(-1/sqrt(in),
 * 1/sqrt(in)) drawn from rng (NULL: the global generator). */
dc_module *dc_linear_new(int64_t in_features, int64_t out_features, bool bias, dc_rng *rng);

typedef enum {
    DC_ACT_IDENTITY, DC_ACT_RELU, DC_ACT_TANH, DC_ACT_SIGMOID, DC_ACT_GELU,
    DC_ACT_GELU_TANH, DC_ACT_SILU, DC_ACT_LEAKY_RELU, DC_ACT_SOFTPLUS
} dc_activation;
/* ---- Initialisers (src/nn/init.c; torch.nn.init) ------------------------------------------ */

/* In place, no autograd; rng NULL = global generator. Fans as torch: fan_in = size(1) x
 * receptive field, fan_out = size(0) x receptive field (needs >= 2 dims). Plain uniform,
 * normal and constant fills are dc_uniform_, dc_normal_ and dc_fill_ (core.h). */
/* torch.nn.init.calculate_gain (param: leaky_relu's negative slope). */
double dc_init_gain(dc_activation nonlinearity, double param);
int dc_init_xavier_uniform_(dc_tensor *t, double gain, dc_rng *rng); /* U(+-gain sqrt(6/(in+out))) */
int dc_init_xavier_normal_(dc_tensor *t, double gain, dc_rng *rng);  /* N(0, gain sqrt(2/(in+out))) */
/* He init for leaky_relu(a) (a = 0: relu), std = sqrt(2/(1+a^2)) / sqrt(fan), fan_in or fan_out. */
int dc_init_kaiming_uniform_(dc_tensor *t, double a, bool fan_in_mode, dc_rng *rng);
int dc_init_kaiming_normal_(dc_tensor *t, double a, bool fan_in_mode, dc_rng *rng);

/* An activation as a module; param is LeakyReLU's negative_slope or Softplus' beta. */
dc_module *dc_activation_new(dc_activation kind, double param);
/* The same as a function (for model code that stores the kind in a config). */
dc_tensor *dc_activation_apply(dc_activation kind, double param, dc_tensor *x);
/* torch.nn.Flatten(start_dim, end_dim) (torch defaults: 1, -1). */
dc_module *dc_flatten_new(int start_dim, int end_dim);
/* torch.nn.Sequential: children named "0", "1", ...; takes ownership of the n modules (also
 * when it fails: a NULL child makes it fail and frees the others). */
dc_module *dc_sequential_new(int n, ...);
dc_module *dc_sequential_append(dc_module *seq, dc_module *child);

/* ---- Attention (src/nn/attention.c; book §4.12) --------------------------------------------- */

/* Multi-head attention with the book's weight shapes: parameters w_q, w_k [heads, dim, dim_qk],
 * w_v [heads, dim, dim_v], w_o [heads*dim_v, dim]. dc_forward(m, x) is self-attention on
 * x [B, N, dim] (causal if set); attention dropout in training mode. */
dc_module *dc_mha_new(int64_t dim, int64_t heads, int64_t dim_qk, int64_t dim_v, bool causal,
                      double dropout, dc_rng *rng);
/* Cross-attention (or self-attention with a mask): queries xq [B, N, dim], keys/values
 * xkv [B, M, dim], mask (nullable) broadcast to [B, heads, N, M], nonzero = may attend. */
dc_tensor *dc_mha_forward(dc_module *mha, dc_tensor *xq, dc_tensor *xkv, dc_tensor *mask);
/* Self-attention with a KV cache, for autoregressive decoding: x [B, T, dim] holds the
 * positions that follow the n cached ones. *keys [B, heads, n, dim_qk] and *values
 * [B, heads, n, dim_v] (both NULL when nothing is cached yet) are replaced by new tensors
 * with the T new positions appended (the old ones are freed; the caller frees the last).
 * Returns [B, T, dim], equal to the last T rows of dc_forward on all n + T positions (a
 * causal module's new queries see the cached keys and the new ones up to their own). On
 * error returns NULL and leaves the caches as they were. */
dc_tensor *dc_mha_forward_cached(dc_module *mha, dc_tensor *x, dc_tensor **keys,
                                 dc_tensor **values);

/* ---- Normalisation layers (src/nn/norm_layers.c; book §4.6) -------------------------------- */
/* torch.nn's layers with their parameter and buffer names: weight (ones) and bias (zeros)
 * when affine; BatchNorm also has the buffers running_mean (zeros), running_var (ones) and
 * num_batches_tracked (an int64 scalar). Training mode uses batch statistics and updates the
 * running ones; eval mode uses the running ones (dc_module_train). torch's defaults:
 * eps 1e-5, momentum 0.1, affine true. */

/* BatchNorm1d: x [N, C] or [N, C, L]; BatchNorm2d: x [N, C, H, W]. */
dc_module *dc_batch_norm1d_new(int64_t num_features, double eps, double momentum, bool affine);
dc_module *dc_batch_norm2d_new(int64_t num_features, double eps, double momentum, bool affine);
/* LayerNorm(normalized_shape): over the last ndim dims of its input, which must end with
 * normalized_shape; weight/bias of that shape. */
dc_module *dc_layer_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                             bool elementwise_affine);
/* GroupNorm(num_groups, num_channels): x [N, C, ...]; num_groups must divide num_channels. */
dc_module *dc_group_norm_new(int num_groups, int64_t num_channels, double eps, bool affine);
/* RMSNorm(normalized_shape) (torch 2.x): weight only (ones). eps < 0: torch's eps=None, the
 * machine epsilon of the input's dtype (see dc_rms_norm). */
dc_module *dc_rms_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                           bool elementwise_affine);

/* ---- Dropout layers (src/nn/norm_layers.c; book §4.5) ------------------------------------- */
/* Dropout(p) and Dropout2d(p) (whole channels of x [N, C, ...]): active only in training
 * mode; masks drawn from rng (borrowed, must outlive the module; NULL: the global
 * generator). p outside [0, 1] is an error. */
dc_module *dc_dropout_new(double p, dc_rng *rng);
dc_module *dc_dropout2d_new(double p, dc_rng *rng);

/* ---- Embeddings and positions (src/nn/embedding.c; book §4.9, §4.10) ---------------------- */

/* Embedding(num_embeddings, embedding_dim): weight [num, dim] ~ N(0, 1) (torch's init) from
 * rng (NULL: global). Forward: int64 ids of any shape [...] -> [..., dim]; an id out of
 * [0, num) is an error naming it. */
dc_module *dc_embedding_new(int64_t num_embeddings, int64_t embedding_dim, dc_rng *rng);
/* Learned positions: parameter "weight" [max_len, dim] ~ N(0, 1) (like an nn.Embedding of
 * positions, e.g. GPT-2's wpe; re-initialise it with dc_normal_ for other schemes). Forward:
 * x [..., T, dim] -> x + weight[:T] (T <= max_len). */
dc_module *dc_learned_positional_encoding_new(int64_t max_len, int64_t dim, dc_rng *rng);
/* Fixed sinusoidal positions (dc_sinusoidal_positions; no parameters, no state_dict entry):
 * x [..., T, dim] -> x + pe[:T] (T <= max_len). */
dc_module *dc_sinusoidal_positional_encoding_new(int64_t max_len, int64_t dim);

/* ---- Convolution, pooling and upsampling layers (src/nn/conv_layers.c; book §4.2, §4.4) --- */
/* torch.nn's layers over the functional ops of ops.h (same shapes, options and errors), with
 * torch's argument order. Conv parameters: "weight" [out, in/groups, k...] (transposed:
 * [in, out/groups, k...]) and "bias" [out], both U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from
 * rng (NULL: the global generator) with fan_in = weight.size(1) * prod(kernel) as torch
 * (in/groups * k for a convolution, out/groups * k for a transposed one). A constructor
 * rejects channels not divisible by groups, kernel/stride/dilation < 1, padding < 0; forward
 * rejects an input whose channel count is not in_channels, naming both. */
#include "ops.h" /* dc_conv2d_opts, dc_conv_transpose2d_opts, dc_pool2d_opts */

/* Conv2d(in, out, (kernel_h, kernel_w), stride, padding, dilation, groups from opts, bias). */
dc_module *dc_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w,
                         dc_conv2d_opts opts, bool bias, dc_rng *rng);
dc_module *dc_conv1d_new(int64_t in_channels, int64_t out_channels, int kernel_size, int stride,
                         int padding, int dilation, int groups, bool bias, dc_rng *rng);
/* ConvTranspose2d(in, out, (kernel_h, kernel_w), stride, padding, output_padding, groups,
 * bias, dilation) with the options from opts. */
dc_module *dc_conv_transpose2d_new(int64_t in_channels, int64_t out_channels, int kernel_h,
                                   int kernel_w, dc_conv_transpose2d_opts opts, bool bias,
                                   dc_rng *rng);
/* ConvTranspose1d in torch's argument order (bias before dilation). */
dc_module *dc_conv_transpose1d_new(int64_t in_channels, int64_t out_channels, int kernel_size,
                                   int stride, int padding, int output_padding, int groups,
                                   bool bias, int dilation, dc_rng *rng);
/* MaxPool2d / AvgPool2d (count_include_pad=True) with opts.stride 0 = the kernel size
 * (torch's stride=None); the 1-D versions on [N, C, L]. No parameters. */
dc_module *dc_max_pool2d_new(dc_pool2d_opts opts);
dc_module *dc_avg_pool2d_new(dc_pool2d_opts opts);
dc_module *dc_max_pool1d_new(int kernel_size, int stride, int padding);
dc_module *dc_avg_pool1d_new(int kernel_size, int stride, int padding);
/* AdaptiveAvgPool2d((out_h, out_w)); (1, 1) is global average pooling. */
dc_module *dc_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w);
/* Upsample(scale_factor=(scale_h, scale_w), mode='nearest') with integer scales >= 1. */
dc_module *dc_upsample_nearest_new(int scale_h, int scale_w);
/* Upsample(mode='bilinear', align_corners) to size (out_h, out_w), or, with out_h = out_w = 0,
 * by scale_factor to floor(in * scale_factor). The scale form samples with in/out (torch's
 * recompute_scale_factor=True), which equals torch's default whenever in * scale_factor is an
 * integer (always for integer scales). */
dc_module *dc_upsample_bilinear_new(int64_t out_h, int64_t out_w, double scale_factor,
                                    bool align_corners);

/* ---- Recurrent layers (src/nn/rnn.c; torch.nn.RNN / LSTM / GRU and their cells) ---------- */
/* PyTorch's formulas, gate order (LSTM i, f, g, o; GRU r, z, n with the reset gate applied to
 * W_hn h + b_hn), initialisation (every weight and bias U(-1/sqrt(hidden), 1/sqrt(hidden))
 * from rng, NULL: the global generator) and parameter names: weight_ih_l0 [G*hidden, input],
 * weight_hh_l0 [G*hidden, hidden], bias_ih_l0, bias_hh_l0 [G*hidden], "_reverse" for the
 * backward direction, weight_ih_l1 [G*hidden, directions*hidden] ... (G = 1, 4, 3), so a
 * PyTorch state_dict loads by name (dc_checkpoint_load). Back-propagation through time is the
 * autograd over the unrolled steps. Truncated BPTT over a long stream: carry h_n (and c_n)
 * into the next batch as dc_detach(h_n), so gradients stay within each window. */
typedef enum { DC_RNN_TANH, DC_RNN_RELU, DC_RNN_LSTM, DC_RNN_GRU } dc_rnn_mode;

typedef struct {
    int num_layers;      /* stacked layers, >= 1 */
    bool bias;           /* b_ih and b_hh */
    bool batch_first;    /* x and output [B, T, .] instead of [T, B, .] (states stay [L*D, B, H]) */
    double dropout;      /* on each layer's output except the last's, in training mode only */
    bool bidirectional;  /* D = 2 directions; the output is [fwd, bwd] along the last dim */
    dc_rng *dropout_rng; /* borrowed (must outlive the module); NULL: the global generator */
} dc_rnn_opts;
#define DC_RNN_DEFAULTS ((dc_rnn_opts){1, true, false, 0.0, false, NULL}) /* torch's defaults */

/* torch.nn.RNN (DC_RNN_TANH / DC_RNN_RELU nonlinearity), LSTM or GRU. dc_forward(m, x) is
 * dc_rnn_forward with zero initial states, returning the output only. */
dc_module *dc_rnn_new(dc_rnn_mode mode, int64_t input_size, int64_t hidden_size, dc_rnn_opts opts,
                      dc_rng *rng);
/* Run the sequence module on x [T, B, input] ([B, T, input] when batch_first) from the initial
 * states h0, c0 [L*D, B, hidden] (NULL: zeros; c0 for LSTM only). lengths (nullable, I64 [B],
 * each in [1, T]) gives each sequence's valid steps, as pack_padded_sequence(enforce_sorted=
 * False): outputs at padded steps are 0 and padded steps change no state. Returns the output
 * [T, B, D*hidden] ([B, T, D*hidden] when batch_first) and, through h_n / c_n when not NULL,
 * the final states [L*D, B, hidden] (each sequence's state after its last valid step; c_n for
 * LSTM only). Wrong shapes or dtypes, lengths out of range, an empty batch or sequence: NULL
 * with an error, inputs untouched. */
dc_tensor *dc_rnn_forward(dc_module *rnn, dc_tensor *x, dc_tensor *h0, dc_tensor *c0,
                          dc_tensor *lengths, dc_tensor **h_n, dc_tensor **c_n);
/* torch.nn.RNNCell / LSTMCell / GRUCell: parameters weight_ih, weight_hh, bias_ih, bias_hh.
 * dc_forward(cell, x) is one step from a zero state. */
dc_module *dc_rnn_cell_new(dc_rnn_mode mode, int64_t input_size, int64_t hidden_size, bool bias,
                           dc_rng *rng);
/* One step: x [B, input], h (and for LSTMCell c) [B, hidden] (NULL: zeros) -> h' [B, hidden];
 * an LSTMCell also stores c' through c_out when not NULL (c and c_out must be NULL otherwise). */
dc_tensor *dc_rnn_cell_forward(dc_module *cell, dc_tensor *x, dc_tensor *h, dc_tensor *c,
                               dc_tensor **c_out);

/* Attention of encoder-decoder models over a source sequence:
 *   DC_ATTN_ADDITIVE (Bahdanau): score = v^T tanh(W_q q + W_k k), children "query"
 *     (Linear(query_dim, attn_dim, bias=False)), "key" (Linear(key_dim, attn_dim)) and "v"
 *     (Linear(attn_dim, 1, bias=False));
 *   DC_ATTN_DOT (Luong): score = q . k (query_dim == key_dim, no parameters);
 *   DC_ATTN_GENERAL (Luong): score = q^T W k, child "w" (Linear(key_dim, query_dim,
 *     bias=False)); attn_dim is unused by the Luong kinds. */
typedef enum { DC_ATTN_ADDITIVE, DC_ATTN_DOT, DC_ATTN_GENERAL } dc_seq_attention_kind;
dc_module *dc_seq_attention_new(dc_seq_attention_kind kind, int64_t query_dim, int64_t key_dim,
                                int64_t attn_dim, dc_rng *rng);
/* query [B, query_dim] (one decoder step) or [B, N, query_dim], keys [B, S, key_dim], values
 * [B, S, value_dim] (NULL: the keys), mask (nullable) [B, S], nonzero = a real source position
 * (each row needs one). Returns the context softmax(scores) @ values, [B, value_dim] or
 * [B, N, value_dim], and through weights (when not NULL) the attention weights [B, S] or
 * [B, N, S] (0 at masked positions). */
dc_tensor *dc_seq_attention_forward(dc_module *attn, dc_tensor *query, dc_tensor *keys,
                                    dc_tensor *values, dc_tensor *mask, dc_tensor **weights);

/* ---- LoRA adapters (src/nn/lora.c; book §8.3) -------------------------------------------- */
/* An adapted Linear keeps its weight W [out, in] and bias frozen and gains the children
 * lora_A (Linear(in, r, bias=False), torch's kaiming-uniform init as PEFT), lora_B
 * (Linear(r, out, bias=False), zeros) and lora_dropout (no parameters):
 *   y = x W^T + b + (alpha / r) * B(A(dropout(x))).
 * State names: "<name>.lora_A.weight", "<name>.lora_B.weight". A Linear with a quantized
 * weight (dc_module_quantize, e.g. Q4_1: QLoRA) runs its base product on the blocks, also when
 * training the adapters (dx uses the float weight, which holds the dequantized values). */
typedef struct {
    int64_t rank;       /* r >= 1 */
    double alpha;       /* the update is scaled by alpha / r; > 0 */
    double dropout;     /* on the adapter's input in training mode, [0, 1) */
    const char *target; /* glob over dotted module names ('*' any run, dots included; '?' one
                         * character), e.g. "blocks.*.ffw.fc?"; NULL or "" = every Linear */
    dc_rng *rng;        /* A's init and the dropout masks (borrowed, must outlive the model;
                         * NULL: the global generator) */
} dc_lora_config;

/* Adapt every Linear of model matching config->target and freeze all parameters but the
 * adapters' (requires_grad false), so dc_lora_parameters is what trains. Bad settings, or a
 * target that already has an adapter: -1, model untouched. Returns the number adapted (0 if
 * nothing matched). */
int dc_lora_apply(dc_module *model, const dc_lora_config *config);
/* The adapters' weights (dotted names, model order): the list to give dc_optimizer_new. */
int dc_lora_parameters(const dc_module *model, dc_tensor_list *out);
/* Number of adapted Linear layers in model. */
int dc_lora_count(const dc_module *model);
/* Save only the adapters as safetensors with PEFT's names
 * ("base_model.model.<name>.lora_A.weight" / "lora_B.weight") and metadata format=pt,
 * peft_type=LORA, r, lora_alpha, lora_dropout, target_modules (comma-separated), plus n_kv
 * (<= 64) pairs of the caller's. All adapters must share r, alpha and dropout. 0 or -1. */
int dc_lora_save(const char *path, const dc_module *model, const char *const *metadata_kv,
                 int n_kv);
/* Load an adapter file onto model: each named module must be a Linear whose weight fits
 * (A [r, in], B [out, r], one r, lora_alpha in the metadata); modules without an adapter get
 * one (dropout masks from rng), adapted ones get the file's values; then the base is frozen
 * as by dc_lora_apply. Everything is checked first: a name the model lacks, a wrong shape,
 * a tensor that is not a LoRA weight or missing metadata is -1 with an error naming it, the
 * model untouched. Returns the number of modules loaded. */
int dc_lora_load(const char *path, dc_module *model, dc_rng *rng);
/* Fold every adapter into its base: W += (alpha / r) B A, then remove the adapters (the layers
 * become plain Linears again; parameters keep their requires_grad). A quantized base is
 * quantized again, to its type, from the merged weight. Returns the number merged or -1
 * (model untouched). */
int dc_lora_merge(dc_module *model);
/* The same on files, for any safetensors checkpoint whose tensors carry the adapter's module
 * names (deepc train's, a PyTorch state_dict): OUT = BASE with each "<name>.weight" +=
 * (alpha / r) B A (in float64), BASE's metadata kept, its "optimizer.*" state dropped (it
 * belongs to the unmerged weights). Atomic; a quantized BASE, a weight missing or of another
 * shape is -1 with nothing written. Returns the number of weights merged. */
int dc_lora_merge_file(const char *base_path, const char *adapter_path, const char *out_path);

/* ---- Model merging (src/nn/merge.c; book §8.4) --------------------------------------------- */
/* Over models of one architecture (same state names, shapes and dtypes as out, else an error
 * naming the tensor, out untouched); computed in float64; out may be one of the inputs;
 * integer buffers are copied from base (or models[0]). Return 0 or -1. */
/* Weighted average ("model soup"): out = sum_i weights[i] * models[i] (use weights summing
 * to 1 for an average). */
int dc_module_average(dc_module *out, int n, dc_module *const *models, const double *weights);
/* Task arithmetic: out = base + sum_i lambdas[i] * (models[i] - base), the task vectors of
 * fine-tunes of base, scaled and added. */
int dc_module_task_arithmetic(dc_module *out, const dc_module *base, int n,
                              dc_module *const *models, const double *lambdas);

#ifdef __cplusplus
}
#endif
#endif
