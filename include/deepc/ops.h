/* deepc ops: differentiable tensor operations (forward and backward).
 *
 * Every op returns a new tensor (see core.h for ownership), records its backward when grad
 * mode is on and an input requires a gradient, and returns NULL with dc_last_error() set on
 * bad input (NULL tensors, shape mismatch, bad dim, dtype mismatch, out of memory).
 * Binary ops broadcast like NumPy/PyTorch. Float ops accept DC_F32 and DC_F64 (both inputs
 * of one dtype). `dim` arguments may be negative (counted from the end). */
#ifndef DEEPC_OPS_H
#define DEEPC_OPS_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Elementwise, broadcasting (src/ops/elementwise.c) ------------------------------- */
/* Both inputs have one dtype: mixed dtypes are an error (no implicit promotion). Floats take
 * every op here. Integers (DC_I64/I32/U8) take add, sub, mul (wrapping on overflow, as
 * torch), maximum, minimum, floor_divide, remainder and the comparisons, with no gradient
 * (integer tensors never require grad); div and pow on integers are errors (convert with
 * dc_to_dtype). DC_BOOL takes comparisons, logical ops and where/masked_fill. */

dc_tensor *dc_add(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_sub(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_mul(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_div(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_pow(dc_tensor *a, dc_tensor *b);     /* a^b, a > 0 where b is not an integer */
dc_tensor *dc_maximum(dc_tensor *a, dc_tensor *b); /* ties: gradient split evenly (torch) */
dc_tensor *dc_minimum(dc_tensor *a, dc_tensor *b);
/* torch.floor_divide (rounds the quotient down; float: no gradient) and torch.remainder
 * (a - floor_divide(a, b) * b, the divisor's sign; gradient g, -g * floor_divide(a, b)).
 * Integer division by zero is an error naming the index (float: inf / nan as torch). */
dc_tensor *dc_floor_divide(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_remainder(dc_tensor *a, dc_tensor *b);
/* Scalar ops; on an integer tensor (add, mul, rsub) the scalar must be an integer its dtype
 * holds, else an error. */
dc_tensor *dc_add_scalar(dc_tensor *a, double s);
dc_tensor *dc_mul_scalar(dc_tensor *a, double s);
dc_tensor *dc_pow_scalar(dc_tensor *a, double exponent);
dc_tensor *dc_rsub_scalar(dc_tensor *a, double s); /* s - a */
/* Comparisons, no gradient. Result dtype: float inputs give 0/1 in their own dtype (a mask
 * that multiplies in); integer and bool inputs give DC_BOOL. */
dc_tensor *dc_eq(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_ne(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_gt(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_lt(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_ge(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_le(dc_tensor *a, dc_tensor *b);
/* Logical ops of the inputs' truth (nonzero = true; any dtypes, mixed allowed) -> DC_BOOL. */
dc_tensor *dc_logical_and(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_logical_or(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_logical_xor(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_logical_not(dc_tensor *a);
/* 0-dim DC_BOOL: some element / every element of a is nonzero (all of nothing is true). */
dc_tensor *dc_any(dc_tensor *a);
dc_tensor *dc_all(dc_tensor *a);
/* cond != 0 ? a : b, all three broadcast together (cond of any dtype, e.g. a DC_BOOL mask;
 * a and b of one dtype, any); gradient flows to float a and b. */
dc_tensor *dc_where(dc_tensor *cond, dc_tensor *a, dc_tensor *b);
/* mask != 0 ? value : t (mask of any dtype, broadcast to t; value must fit t's dtype). */
dc_tensor *dc_masked_fill(dc_tensor *t, dc_tensor *mask, double value);
/* Sum t over broadcast dims so it has `shape` (the backward of broadcasting). */
dc_tensor *dc_sum_to_shape(dc_tensor *t, int ndim, const int64_t *shape);

/* In place, no autograd (optimizers, gradient accumulation): dst op= src (src broadcast). */
int dc_add_(dc_tensor *dst, const dc_tensor *src);
int dc_mul_scalar_(dc_tensor *dst, double s);
/* dst += alpha * src */
int dc_axpy_(dc_tensor *dst, double alpha, const dc_tensor *src);

/* ---- Unary math (src/ops/unary.c) ---------------------------------------------------- */

dc_tensor *dc_neg(dc_tensor *a);
dc_tensor *dc_exp(dc_tensor *a);
dc_tensor *dc_log(dc_tensor *a);
dc_tensor *dc_sqrt(dc_tensor *a);
dc_tensor *dc_abs(dc_tensor *a);   /* gradient sign(a), 0 at 0 */
dc_tensor *dc_tanh(dc_tensor *a);
dc_tensor *dc_sigmoid(dc_tensor *a);
dc_tensor *dc_relu(dc_tensor *a);  /* gradient 0 at 0 */
dc_tensor *dc_sin(dc_tensor *a);
dc_tensor *dc_cos(dc_tensor *a);

/* ---- Activations (src/ops/unary.c; book §4.3) ------------------------------------------ */

dc_tensor *dc_leaky_relu(dc_tensor *a, double negative_slope); /* torch default 0.01 */
/* GELU: x * Phi(x) with the exact erf (approximate = false) or the tanh approximation
 * 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (approximate = true). */
dc_tensor *dc_gelu(dc_tensor *a, bool approximate);
dc_tensor *dc_silu(dc_tensor *a); /* x * sigmoid(x) */
/* log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (torch: 1, 20). */
dc_tensor *dc_softplus(dc_tensor *a, double beta, double threshold);

/* ---- Reductions (src/ops/reduce.c) ---------------------------------------------------- */

/* Over the listed dims (ndims == 0: over all dims); keepdim keeps them with size 1. */
dc_tensor *dc_sum(dc_tensor *a, int ndims, const int *dims, bool keepdim);
dc_tensor *dc_mean(dc_tensor *a, int ndims, const int *dims, bool keepdim);
/* Variance with Bessel's correction (correction = 1 is torch's default, 0 is biased). */
dc_tensor *dc_var(dc_tensor *a, int ndims, const int *dims, int correction, bool keepdim);
/* Maximum along one dim; the gradient goes to the first maximal element (like argmax). */
dc_tensor *dc_max(dc_tensor *a, int dim, bool keepdim);
/* Index (DC_I64) of the first maximal element along dim; no gradient. */
dc_tensor *dc_argmax(dc_tensor *a, int dim, bool keepdim);
/* Minimum along one dim (NaN propagates); the gradient goes to the first minimal element. */
dc_tensor *dc_min(dc_tensor *a, int dim, bool keepdim);
/* Index (DC_I64) of the first minimal element along dim; no gradient. */
dc_tensor *dc_argmin(dc_tensor *a, int dim, bool keepdim);
/* Scalar sum / mean of all elements. */
dc_tensor *dc_sum_all(dc_tensor *a);
dc_tensor *dc_mean_all(dc_tensor *a);

/* ---- Linear algebra (src/ops/matmul.c) ------------------------------------------------ */

/* torch.matmul: 1-D operands are promoted (and the added dim removed), leading (batch) dims
 * broadcast. [.., n, k] @ [.., k, m] -> [.., n, m]. */
dc_tensor *dc_matmul(dc_tensor *a, dc_tensor *b);
/* Fully connected layer (book §4.1): x[..., in] @ weight[out, in]^T + bias[out] (bias may be
 * NULL) -> [..., out]; leading dims are flattened into one matrix product. */
dc_tensor *dc_linear(dc_tensor *x, dc_tensor *weight, dc_tensor *bias);

/* ---- Softmax (src/ops/softmax.c) ------------------------------------------------------ */

/* Numerically stable (max subtracted) along dim. */
dc_tensor *dc_softmax(dc_tensor *a, int dim);
dc_tensor *dc_log_softmax(dc_tensor *a, int dim);

/* ---- Indexing and joining (src/ops/index.c) ------------------------------------------- */

/* torch.gather: out[i][j] = a[index[i][j]][j] for dim 0, etc.; index is DC_I64 with a's
 * ndim; backward scatter-adds. */
dc_tensor *dc_gather(dc_tensor *a, int dim, dc_tensor *index);
/* torch.index_select with an index of any shape: the dim is replaced by index's dims.
 * dc_index_select(weight[V, C], 0, ids[B, T]) -> [B, T, C] is an embedding lookup; its
 * backward scatter-adds into the rows (repeated ids accumulate). */
dc_tensor *dc_index_select(dc_tensor *a, int dim, dc_tensor *index);
/* Join along an existing dim (cat) or a new one (stack). Shapes must match elsewhere. */
dc_tensor *dc_cat(dc_tensor *const *tensors, int n, int dim);
dc_tensor *dc_stack(dc_tensor *const *tensors, int n, int dim);


/* ---- Convolution, pooling, upsampling (src/ops/conv.c, pool.c) ------------------------- */
/* torch.nn.functional semantics, NCHW / NCL layouts, batch dim required (book §4.2, §4.4).
 * Output size per spatial dim: floor((in + 2*padding - dilation*(kernel-1) - 1)/stride) + 1.
 * Errors (NULL result): wrong ndim, in_channels mismatch, groups not dividing the channels,
 * stride/dilation/kernel < 1, padding < 0, an output size < 1 (kernel larger than the padded
 * input), mixed dtypes. `bias` may be NULL everywhere. */

/* Spatial options of a 2-D convolution, [0] = height, [1] = width. */
typedef struct {
    int stride[2], padding[2], dilation[2], groups;
} dc_conv2d_opts;
/* Square options, e.g. dc_conv2d(x, w, b, DC_CONV2D_OPTS(2, 1, 1, 1)) for stride 2, pad 1. */
#define DC_CONV2D_OPTS(stride, padding, dilation, groups)                                      \
    ((dc_conv2d_opts){{(stride), (stride)}, {(padding), (padding)}, {(dilation), (dilation)}, \
                      (groups)})
#define DC_CONV2D_DEFAULTS DC_CONV2D_OPTS(1, 0, 1, 1) /* torch's defaults */

/* F.conv2d: x[N, Cin, H, W], weight[Cout, Cin/groups, KH, KW], bias[Cout] -> [N, Cout, OH, OW]. */
dc_tensor *dc_conv2d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, dc_conv2d_opts opts);
/* F.conv1d: x[N, Cin, L], weight[Cout, Cin/groups, K], bias[Cout] -> [N, Cout, OL]. */
dc_tensor *dc_conv1d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, int stride, int padding,
                     int dilation, int groups);

/* Options of a transposed convolution (field order as torch's argument order). */
typedef struct {
    int stride[2], padding[2], output_padding[2], groups, dilation[2];
} dc_conv_transpose2d_opts;
#define DC_CONV_TRANSPOSE2D_OPTS(stride, padding, output_padding, groups, dilation)             \
    ((dc_conv_transpose2d_opts){{(stride), (stride)}, {(padding), (padding)},                 \
                                {(output_padding), (output_padding)}, (groups),               \
                                {(dilation), (dilation)}})
#define DC_CONV_TRANSPOSE2D_DEFAULTS DC_CONV_TRANSPOSE2D_OPTS(1, 0, 0, 1, 1)

/* F.conv_transpose2d, the gradient of conv2d w.r.t. its input: x[N, Cin, H, W],
 * weight[Cin, Cout/groups, KH, KW] (torch layout), bias[Cout] -> [N, Cout, OH, OW] with
 * OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1.
 * output_padding must be smaller than stride or dilation (as torch). */
dc_tensor *dc_conv_transpose2d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                               dc_conv_transpose2d_opts opts);
/* F.conv_transpose1d: x[N, Cin, L], weight[Cin, Cout/groups, K] (torch's argument order). */
dc_tensor *dc_conv_transpose1d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, int stride,
                               int padding, int output_padding, int groups, int dilation);

/* Pooling windows, [0] = height, [1] = width. stride 0 means stride = kernel (torch's
 * default); padding must be at most half the kernel. */
typedef struct {
    int kernel[2], stride[2], padding[2];
} dc_pool2d_opts;
#define DC_POOL2D_OPTS(kernel, stride, padding)                                                 \
    ((dc_pool2d_opts){{(kernel), (kernel)}, {(stride), (stride)}, {(padding), (padding)}})

/* F.max_pool2d: x[N, C, H, W] -> [N, C, OH, OW], max over each window (padding never wins).
 * The gradient goes to the first maximal element of each window (as torch). */
dc_tensor *dc_max_pool2d(dc_tensor *x, dc_pool2d_opts opts);
/* F.avg_pool2d with count_include_pad=True: the window sum divided by KH*KW. */
dc_tensor *dc_avg_pool2d(dc_tensor *x, dc_pool2d_opts opts);
/* 1-D versions on x[N, C, L] (stride 0 = kernel). */
dc_tensor *dc_max_pool1d(dc_tensor *x, int kernel, int stride, int padding);
dc_tensor *dc_avg_pool1d(dc_tensor *x, int kernel, int stride, int padding);
/* F.adaptive_avg_pool2d: output cell i averages input rows floor(i*H/out_h) to
 * ceil((i+1)*H/out_h) - 1 (same for columns). */
dc_tensor *dc_adaptive_avg_pool2d(dc_tensor *x, int64_t out_h, int64_t out_w);
/* F.interpolate(mode='nearest') with integer scale factors: out[i][j] = x[i/sh][j/sw]. */
dc_tensor *dc_upsample_nearest2d(dc_tensor *x, int scale_h, int scale_w);
/* F.interpolate(size=(out_h, out_w), mode='bilinear', align_corners=...). */
dc_tensor *dc_upsample_bilinear2d(dc_tensor *x, int64_t out_h, int64_t out_w, bool align_corners);

/* ---- Losses and metrics (src/ops/loss.c; book §3.1, §3.6) ------------------------------ */

typedef enum { DC_REDUCE_MEAN, DC_REDUCE_SUM, DC_REDUCE_NONE } dc_reduction;

/* mean/sum/none of (input - target)^2; shapes broadcast (torch.nn.functional.mse_loss). */
dc_tensor *dc_mse_loss(dc_tensor *input, dc_tensor *target, dc_reduction reduction);

typedef struct {
    dc_reduction reduction; /* DC_REDUCE_MEAN: average over non-ignored targets */
    int64_t ignore_index;   /* targets equal to it contribute nothing (torch: -100) */
    double label_smoothing; /* in [0, 1] */
} dc_ce_opts;
#define DC_CE_DEFAULTS ((dc_ce_opts){DC_REDUCE_MEAN, -100, 0.0})
/* Cross-entropy from logits [N, C] or [N, C, d1, ...] (per token / per pixel) with class
 * indices target [N] or [N, d1, ...] (DC_I64), as torch.nn.functional.cross_entropy.
 * Out-of-range targets are an error naming the value. opts NULL = defaults. */
dc_tensor *dc_cross_entropy(dc_tensor *logits, dc_tensor *target, const dc_ce_opts *opts);
/* Negative log-likelihood of log-probabilities (same shapes and options, no smoothing). */
dc_tensor *dc_nll_loss(dc_tensor *log_probs, dc_tensor *target, const dc_ce_opts *opts);
/* Binary cross-entropy of probabilities in [0, 1] (logs clamped at -100 like torch), and
 * the numerically stable version from logits. target has input's shape (float). */
dc_tensor *dc_bce_loss(dc_tensor *probs, dc_tensor *target, dc_reduction reduction);
dc_tensor *dc_bce_with_logits(dc_tensor *logits, dc_tensor *target, dc_reduction reduction);
/* mean of max(d(a, p) - d(a, n) + margin, 0) with d the L2 distance over the last dim
 * (+1e-6 inside the norm as torch's pairwise_distance). */
dc_tensor *dc_triplet_margin_loss(dc_tensor *anchor, dc_tensor *positive, dc_tensor *negative,
                                  double margin);
/* KL(N(mu, exp(logvar)) || N(0, I)) = -0.5 * sum(1 + logvar - mu^2 - exp(logvar)), summed
 * over all dims but the first and averaged over the batch (the VAE's regulariser). */
dc_tensor *dc_kl_normal(dc_tensor *mu, dc_tensor *logvar);
/* Fraction of rows whose argmax over dim 1 equals target (non-differentiable); -1 on error. */
double dc_accuracy(dc_tensor *logits, dc_tensor *target);
/* exp(mean cross-entropy) for a loss value. */
double dc_perplexity(double mean_cross_entropy);

/* ---- Attention (src/ops/attention.c; book §4.10) ----------------------------------------- */

/* softargmax(q k^T / sqrt(D_qk)) v for q [..., Nq, Dqk], k [..., Nkv, Dqk], v [..., Nkv, Dv]
 * (leading dims broadcast) -> [..., Nq, Dv]. mask (nullable) broadcasts to [..., Nq, Nkv]
 * with nonzero = may attend (torch's boolean attn_mask); causal masks keys after the query
 * (top-left aligned). Dropout on the attention weights when training and dropout_p > 0. */
dc_tensor *dc_scaled_dot_product_attention(dc_tensor *q, dc_tensor *k, dc_tensor *v,
                                           dc_tensor *mask, bool causal, double dropout_p,
                                           bool training, dc_rng *rng);

/* ---- Normalisation (src/ops/norm.c; book §4.6) ----------------------------------------- */
/* torch.nn.functional semantics. eps is added to the variance (torch's default 1e-5).
 * weight and bias (the affine gamma and beta) may be NULL (= 1 and 0); their shape is given
 * below. The variance used to normalise is the biased one (divide by the count). Errors
 * (NULL result) name the shapes: x with too few dims, weight/bias of the wrong shape, mixed
 * dtypes, groups not dividing the channels, a training batch with one value per channel. */

/* F.layer_norm over the last normalized_ndim dims of x: y = (x - mean) / sqrt(var + eps) * w
 * + b, statistics per row; weight/bias have the normalized shape x.shape[-normalized_ndim:]. */
dc_tensor *dc_layer_norm(dc_tensor *x, int normalized_ndim, dc_tensor *weight, dc_tensor *bias,
                         double eps);
/* F.batch_norm on x [N, C], [N, C, L] or [N, C, H, W] (any x [N, C, ...]); weight, bias,
 * running_mean, running_var are [C]. training: normalise with the batch statistics over all
 * dims but C, and if running stats are given update them in place (no autograd):
 * running = (1 - momentum) * running + momentum * batch, with the UNBIASED batch variance for
 * running_var (as torch). Eval (training false): normalise with the running stats (required);
 * the gradient is then a plain per-channel scale. */
dc_tensor *dc_batch_norm(dc_tensor *x, dc_tensor *running_mean, dc_tensor *running_var,
                         dc_tensor *weight, dc_tensor *bias, bool training, double momentum,
                         double eps);
/* F.group_norm: x [N, C, ...], the C channels split into num_groups groups (which must divide
 * C); statistics per (sample, group) over the group's channels and all spatial positions;
 * weight/bias [C] per channel. */
dc_tensor *dc_group_norm(dc_tensor *x, int num_groups, dc_tensor *weight, dc_tensor *bias,
                         double eps);
/* RMSNorm (torch 2.x nn.RMSNorm): y = x / sqrt(mean(x^2) + eps) * w over the last
 * normalized_ndim dims; weight (nullable) has the normalized shape. eps < 0 means torch's
 * default (eps=None): the machine epsilon of x's dtype (FLT_EPSILON / DBL_EPSILON); LLaMA-style
 * models pass 1e-6 or 1e-5 explicitly. */
dc_tensor *dc_rms_norm(dc_tensor *x, int normalized_ndim, dc_tensor *weight, double eps);

/* ---- Dropout (src/ops/dropout.c; book §4.5) --------------------------------------------- */
/* In training each element is zeroed with probability p (0 <= p <= 1, else an error) and the
 * kept ones are scaled by 1/(1-p), so the expected value is unchanged; p = 1 gives zeros.
 * In eval (training false) or with p = 0 the result is x itself (a new reference, no copy).
 * The mask is drawn from rng (NULL: the global generator) and kept for backward:
 * dx = g * mask. */
dc_tensor *dc_dropout(dc_tensor *x, double p, bool training, dc_rng *rng);
/* F.dropout2d / dropout3d: x [N, C, ...] (at least 2 dims); whole channels x[n, c] are zeroed
 * together (one draw per (n, c)). */
dc_tensor *dc_dropout2d(dc_tensor *x, double p, bool training, dc_rng *rng);

/* ---- Positional encoding (src/nn/embedding.c; book §4.10) ------------------------------- */
/* The fixed sinusoidal table [T, C] of Vaswani et al. (book eq. 4.15, base 10^4):
 * pe[t, d] = sin(t / 10000^(d/C)) for even d, cos(t / 10000^((d-1)/C)) for odd d, i.e. the
 * usual sin(t / 10000^(2i/C)), cos(t / 10000^(2i/C)) for d = 2i, 2i+1. No gradient. */
dc_tensor *dc_sinusoidal_positions(int64_t T, int64_t C, dc_dtype dtype);

/* ---- Sorting, searching, scatter (src/ops/sort.c, src/ops/scatter.c) ------------------- */
/* (section of the indexing helper: keep additions inside it) */
/* torch semantics. Index tensors are DC_I64; an index outside [0, size) is an error naming
 * the value and its position (index_put and dc_index also take -size <= i < 0 from the end,
 * as torch's advanced indexing does), and nothing is written. Data tensors are DC_F32, DC_F64
 * or DC_I64 (the gradient flows to float ones). Masks may be of any dtype, nonzero = true.
 * Functions with two or three results return 0 / -1 and store new references (scope-owned
 * like every result) through their out-pointers; a NULL out-pointer skips that result, and
 * on error every out-pointer is set to NULL. Sorting is a stable merge sort per row
 * (O(n log n), rows split over the thread pool); NaN sorts as the largest value. */

/* torch.scatter: a copy of a with out[index[i][j]][j] = src[i][j] (dim 0; likewise for other
 * dims). index has a's ndim, index.shape <= src.shape in every dim and <= a.shape outside dim.
 * Repeated destinations: the last write wins. Gradients: da = g with the written places
 * zeroed, dsrc = g.gather(dim, index) (zero where src is not read). */
dc_tensor *dc_scatter(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *src);
/* torch.scatter with a scalar: out[index[i][j]][j] = value. */
dc_tensor *dc_scatter_value(dc_tensor *a, int dim, dc_tensor *index, double value);
/* torch.scatter_add: out = a, then out[index[i][j]][j] += src[i][j] (repeats accumulate). */
dc_tensor *dc_scatter_add(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *src);
/* torch.index_add: out = a, then out.select(dim, index[k]) += alpha * source.select(dim, k)
 * for a 1-D (or 0-D) index of length L; source is a's shape with dim of size L. */
dc_tensor *dc_index_add(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *source,
                        double alpha);
/* a[indices[0], ..., indices[n-1]] (torch's advanced indexing with n index tensors on the
 * leading dims): the indices broadcast together to B, the result is B + a.shape[n:]. */
dc_tensor *dc_index(dc_tensor *a, dc_tensor *const *indices, int n);
/* Out-of-place tensor.index_put_(indices, values, accumulate): a copy of a with
 * out[indices] = values (accumulate false; repeats: the last wins) or += values (true;
 * repeats accumulate). values broadcasts to B + a.shape[n:] as in dc_index. */
dc_tensor *dc_index_put(dc_tensor *a, dc_tensor *const *indices, int n, dc_tensor *values,
                        bool accumulate);
/* torch.masked_select: the elements of a where mask != 0 (a and mask broadcast together),
 * in row-major order, as a 1-D tensor. */
dc_tensor *dc_masked_select(dc_tensor *a, dc_tensor *mask);
/* torch.nonzero: the positions of the nonzero elements of a (any dtype), I64 [n, ndim]. */
dc_tensor *dc_nonzero(dc_tensor *a);
/* F.one_hot: I64 [...] -> I64 [..., num_classes]; num_classes = -1 uses max + 1. */
dc_tensor *dc_one_hot(dc_tensor *a, int64_t num_classes);
/* torch.bincount of a 1-D non-negative I64 tensor: counts (I64), or sums of weights (same
 * length, F32/F64, the result in weights' dtype; NULL = no weights); length
 * max(max + 1, minlength). No gradient (as torch). */
dc_tensor *dc_bincount(dc_tensor *a, dc_tensor *weights, int64_t minlength);

/* torch.sort(stable=True) along dim, ascending or descending (ties keep their order).
 * values has a's shape and dtype (gradient: scattered back to the indices), indices I64. */
int dc_sort(dc_tensor *a, int dim, bool descending, dc_tensor **values, dc_tensor **indices);
/* The indices of dc_sort (I64, no gradient). */
dc_tensor *dc_argsort(dc_tensor *a, int dim, bool descending);
/* torch.topk: the k largest (or smallest) along dim, 0 <= k <= size; the result is always in
 * sorted order (sorted = false is accepted and gives the same), ties in index order. */
int dc_topk(dc_tensor *a, int64_t k, int dim, bool largest, bool sorted, dc_tensor **values,
            dc_tensor **indices);
/* torch.unique(sorted=True) over all elements: sorted distinct values [U], and optionally
 * the inverse (a's shape, I64: the position of each element in values) and counts [U] (I64).
 * Each NaN is its own value, after all numbers. No gradient. */
int dc_unique(dc_tensor *a, dc_tensor **values, dc_tensor **inverse, dc_tensor **counts);
/* torch.searchsorted: for each value, the insertion index into the sorted last dim of
 * boundaries: the first i with boundaries[i] >= v (right = false) or > v (right = true).
 * boundaries is 1-D (values of any shape) or has values' leading dims. I64, values' shape. */
dc_tensor *dc_searchsorted(dc_tensor *boundaries, dc_tensor *values, bool right);

/* ---- More math: rounding, clamping, scans, norms, einsum (src/ops/math.c, reduce.c) ---- */
/* (section of the math helper: keep additions inside it) */
/* torch semantics throughout; float dtypes; dims as in the reductions above (ndims == 0:
 * all dims). Piecewise-constant ops (sign, floor, ceil, round) have a zero gradient. */

/* clamp(a, min, max) = min(max(a, min), max); NaN for a bound means "absent" (not both).
 * NaN in a propagates; min > max gives max. Gradient g where min <= a <= max, else 0. */
dc_tensor *dc_clamp(dc_tensor *a, double min, double max);
/* torch.clamp with tensor bounds (either may be NULL, not both), all three broadcast
 * together. Gradients: a where min <= a <= max; min where a < min < max; max where a > max
 * or max < min. */
dc_tensor *dc_clamp_tensor(dc_tensor *a, dc_tensor *min, dc_tensor *max);
dc_tensor *dc_sign(dc_tensor *a);  /* -1, 0, 1 (0 for NaN, as torch) */
dc_tensor *dc_floor(dc_tensor *a);
dc_tensor *dc_ceil(dc_tensor *a);
dc_tensor *dc_round(dc_tensor *a); /* half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0 */
dc_tensor *dc_erf(dc_tensor *a);
dc_tensor *dc_erfc(dc_tensor *a);  /* 1 - erf, accurate for large a */
/* log(sum(exp(a))) over dims, stable (max subtracted); a row of -inf gives -inf. */
dc_tensor *dc_logsumexp(dc_tensor *a, int ndims, const int *dims, bool keepdim);
/* Inclusive scans along dim (same shape); cumprod's gradient is exact with zeros. */
dc_tensor *dc_cumsum(dc_tensor *a, int dim);
dc_tensor *dc_cumprod(dc_tensor *a, int dim);
/* Product along one dim / of all elements (a scalar); gradient exact with zeros. */
dc_tensor *dc_prod(dc_tensor *a, int dim, bool keepdim);
dc_tensor *dc_prod_all(dc_tensor *a);
/* Standard deviation sqrt(dc_var(...)); gradient 0 (not NaN) where the std is 0. */
dc_tensor *dc_std(dc_tensor *a, int ndims, const int *dims, int correction, bool keepdim);
/* torch.linalg.vector_norm: (sum |a|^p)^(1/p) over dims; p = INFINITY / -INFINITY: max /
 * min |a|, p = 0: number of nonzeros, p = 2 over all dims: Frobenius. Gradient 0 where the
 * norm is 0; inf-norm ties share the gradient evenly (torch 1.13). */
dc_tensor *dc_norm(dc_tensor *a, double p, int ndims, const int *dims, bool keepdim);
/* F.cosine_similarity (torch 1.13): sum over dim of (x1 / max(||x1||, eps)) *
 * (x2 / max(||x2||, eps)), x1 and x2 broadcast together; torch's eps is 1e-8. */
dc_tensor *dc_cosine_similarity(dc_tensor *x1, dc_tensor *x2, int dim, double eps);
/* F.normalize: x / max(||x||_p over dim, eps); torch's defaults p = 2, dim = 1, eps = 1e-12. */
dc_tensor *dc_normalize(dc_tensor *x, double p, int dim, double eps);
/* torch.einsum over n operands (src/ops/einsum.c): "bij,bjk->bik", "ii->i", "ij->ji",
 * "...ij,...jk" (broadcast "..."), implicit output without "->" (the labels used once, in
 * alphabetical order, upper case first). Labels are [a-zA-Z]; a repeated label in one
 * operand takes the diagonal; size-1 dims broadcast. Contractions run as permute/reshape
 * and batched dc_matmul, so the gradient comes from those ops. Malformed equations are
 * errors naming the problem and its position. */
dc_tensor *dc_einsum(const char *equation, int n, dc_tensor *const *operands);

/* ---- Shapes: padding, flips, repeats, splits, unfold/fold, triangles (src/ops/shape.c) - */
/* (section of the shapes helper: keep additions inside it) */
/* Copies unless marked "view" (a view shares t's storage, like dc_slice). Multi-output ops
 * (split, chunk, meshgrid) write new references into a caller's array `outs` and return
 * their count (-1 on error, nothing written): each outs[k] is owned like any op result (by
 * the open scope, else by the caller, who frees each with dc_tensor_free). */

typedef enum { DC_PAD_CONSTANT, DC_PAD_REFLECT, DC_PAD_REPLICATE, DC_PAD_CIRCULAR } dc_pad_mode;
/* F.pad: pad[2k], pad[2k+1] = (before, after) for dim ndim-1-k (torch's order: last dim
 * first), npad even, npad/2 <= ndim. Negative pads crop. Constant fills with value; reflect
 * mirrors without repeating the edge (pad < size); replicate repeats the edge; circular wraps
 * (pad <= size). Non-constant modes work on any rank (torch: 2-D to 5-D inputs). */
dc_tensor *dc_pad(dc_tensor *t, int npad, const int64_t *pad, dc_pad_mode mode, double value);
/* torch.flip: a copy with each listed (distinct) dim reversed. */
dc_tensor *dc_flip(dc_tensor *t, int ndims, const int *dims);
/* torch.roll: shift element i of dims[k] to (i + shifts[k]) mod size (wrapping around).
 * dims NULL: nshifts must be 1 and the flattened tensor is rolled (shape kept). */
dc_tensor *dc_roll(dc_tensor *t, int nshifts, const int64_t *shifts, const int *dims);
/* Tensor.repeat: nreps >= ndim counts (leading ones add dims); out size = size * count. */
dc_tensor *dc_repeat(dc_tensor *t, int nreps, const int64_t *repeats);
/* torch.tile: dc_repeat, with ones prepended to reps when it has fewer entries than dims. */
dc_tensor *dc_tile(dc_tensor *t, int nreps, const int64_t *reps);
/* torch.split(t, split_size, dim): views of split_size along dim (the last may be shorter;
 * one empty piece for an empty dim). outs NULL: only return the count; otherwise more
 * pieces than max_outs is an error. */
int dc_split(dc_tensor *t, int64_t split_size, int dim, dc_tensor **outs, int max_outs);
/* torch.split(t, [sizes], dim): views of the given sizes (summing to the dim's size);
 * outs has nsizes slots. */
int dc_split_sizes(dc_tensor *t, int nsizes, const int64_t *sizes, int dim, dc_tensor **outs);
/* torch.chunk: views of ceil(size / chunks) each, so there may be fewer than `chunks`;
 * outs NULL returns the count. */
int dc_chunk(dc_tensor *t, int chunks, int dim, dc_tensor **outs, int max_outs);

/* Sliding-window options of F.unfold / F.fold, [0] = height, [1] = width (torch's order). */
typedef struct {
    int kernel[2], dilation[2], padding[2], stride[2];
} dc_unfold_opts;
#define DC_UNFOLD_OPTS(kernel, dilation, padding, stride)                                       \
    ((dc_unfold_opts){{(kernel), (kernel)}, {(dilation), (dilation)}, {(padding), (padding)},  \
                      {(stride), (stride)}})
/* F.unfold (im2col): x[N, C, H, W] (or [C, H, W]) -> [N, C*kh*kw, L] (or [C*kh*kw, L]),
 * L = number of window positions; row (c*kh + i)*kw + j holds tap (i, j) of channel c.
 * Backward: dc_fold. Error if the dilated kernel does not fit the padded input. */
dc_tensor *dc_unfold(dc_tensor *x, dc_unfold_opts opts);
/* F.fold (col2im, the adjoint of unfold: overlapping taps are summed): x[N, C*kh*kw, L] (or
 * [C*kh*kw, L]) -> [N, C, out_h, out_w]; L must be the window count of that output size. */
dc_tensor *dc_fold(dc_tensor *x, int64_t out_h, int64_t out_w, dc_unfold_opts opts);
/* Tensor.unfold(dim, size, step), a view: dim of size n becomes the (n - size)/step + 1 window
 * positions and a last dim of length size is appended (audio frames, 1-D patches).
 * 1 <= size <= the dim's size, step >= 1. Backward sums overlapping windows. */
dc_tensor *dc_unfold_dim(dc_tensor *t, int dim, int64_t size, int64_t step);

/* torch.tril / triu on the last two dims (>= 2 dims): keep j - i <= diagonal (tril) or
 * j - i >= diagonal (triu), zero elsewhere. */
dc_tensor *dc_tril(dc_tensor *t, int64_t diagonal);
dc_tensor *dc_triu(dc_tensor *t, int64_t diagonal);
/* torch.diag: 1-D [n] -> [n+|k|, n+|k|] with t on diagonal k (> 0 above the main one);
 * 2-D -> a 1-D copy of diagonal k. */
dc_tensor *dc_diag(dc_tensor *t, int64_t offset);
/* torch.diagonal, a view: dims dim1 and dim2 (distinct) are removed and the diagonal
 * `offset` of them appended as the last dim (length 0 if the offset is past the edge). */
dc_tensor *dc_diagonal(dc_tensor *t, int64_t offset, int dim1, int dim2);

typedef enum { DC_MESHGRID_IJ, DC_MESHGRID_XY } dc_meshgrid_indexing;
/* torch.meshgrid of n 0-D or 1-D tensors (one dtype), views: outs[k] has shape
 * [len_0, ..., len_{n-1}] ("ij"; "xy" swaps the first two) and varies along input k's dim.
 * outs has n slots; returns n. */
int dc_meshgrid(dc_tensor *const *tensors, int n, dc_meshgrid_indexing indexing,
                dc_tensor **outs);

/* ---- Recurrent cells (src/ops/rnn.c; torch.nn.RNNCell / LSTMCell / GRUCell) ------------- */
/* One step of a recurrent layer on x [B, I] with weights w_ih [G*H, I], w_hh [G*H, H] and
 * biases b_ih, b_hh [G*H] (each nullable), PyTorch's gate order and formulas (G = 1 for the
 * plain RNN, 4 for the LSTM: i, f, g, o; 3 for the GRU: r, z, n with
 * n = tanh(W_in x + b_in + r * (W_hn h + b_hn))). A NULL state h / c is zeros. */
dc_tensor *dc_rnn_tanh_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                            dc_tensor *b_ih, dc_tensor *b_hh); /* tanh(...) -> h' [B, H] */
dc_tensor *dc_rnn_relu_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                            dc_tensor *b_ih, dc_tensor *b_hh); /* relu(...) -> h' [B, H] */
/* LSTMCell: returns [2, B, H] holding h' (index 0) and c' (index 1); dc_select them. */
dc_tensor *dc_lstm_cell(dc_tensor *x, dc_tensor *h, dc_tensor *c, dc_tensor *w_ih,
                        dc_tensor *w_hh, dc_tensor *b_ih, dc_tensor *b_hh);
/* GRUCell -> h' [B, H]. */
dc_tensor *dc_gru_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                       dc_tensor *b_ih, dc_tensor *b_hh);
/* The pointwise part of an LSTM step as one op, from the gate pre-activations
 * gx = x W_ih^T + b_ih and gh = h W_hh^T + b_hh (both [B, 4H]; gh NULL = zeros) and c [B, H]
 * (NULL = zeros): [2, B, H] with h' = o tanh(c'), c' = f c + i g. */
dc_tensor *dc_lstm_fused_cell(dc_tensor *gx, dc_tensor *gh, dc_tensor *c);
/* The pointwise part of a GRU step: gx, gh [B, 3H] as above and h [B, H] -> h' [B, H]. */
dc_tensor *dc_gru_fused_cell(dc_tensor *gx, dc_tensor *gh, dc_tensor *h);

/* ---- Linear algebra (src/ops/linalg.c) ---------------------------------------------------- */
/* (section of the linear-algebra helper: keep additions inside it) */
/* torch.linalg semantics on batches of matrices [..., m, n] (any number of leading batch dims;
 * float32 or float64, computed in float64 scratch). Errors, never NaNs, for a singular matrix
 * to solve/inv (a pivot of LU with partial pivoting exactly 0 or |pivot| <= n * 2^-52 * max|A|:
 * "the matrix is singular (pivot N is 0)"), a non-positive-definite matrix to cholesky ("not
 * positive definite (leading minor N)"), non-square or < 2-D inputs, batch dims that do not
 * broadcast, integer dtypes; inputs are never modified. Multi-output functions return 0 / -1
 * and store new references (scope-owned like every result) through their out-pointers; a
 * NULL out-pointer skips that result; on error every out-pointer is set to NULL. Gradients
 * are torch 1.13's formulas, composed of dc_ ops; eigh and svd need distinct eigenvalues /
 * singular values, det / slogdet / logdet an invertible A (backward of a singular one fails). */

/* torch.linalg.solve: X with A X = B; A [..., n, n], B [..., n, k] or a (batch of) vector(s)
 * [..., n] (1-D, or A's shape without its last dim: X then has B's shape); batch dims
 * broadcast. Gradients gB = solve(A^T, g), gA = -gB X^T. */
dc_tensor *dc_linalg_solve(dc_tensor *a, dc_tensor *b);
/* torch.linalg.inv [..., n, n]; singular as in solve. Gradient -A^-T g A^-T. */
dc_tensor *dc_linalg_inv(dc_tensor *a);
/* torch.linalg.det [..., n, n] -> [...] (0 for a singular matrix). Gradient g det A^-T. */
dc_tensor *dc_linalg_det(dc_tensor *a);
/* torch.linalg.slogdet: sign (-1, 0, 1; no gradient) and log|det| (-inf if singular) [...]. */
int dc_linalg_slogdet(dc_tensor *a, dc_tensor **sign, dc_tensor **logabsdet);
/* torch.logdet: log det, nan where det < 0, -inf where singular. Gradient g A^-T. */
dc_tensor *dc_logdet(dc_tensor *a);
/* torch.linalg.cholesky: lower L with L L^T = A (upper: U = L^T, U^T U = A), from A's lower
 * triangle, A symmetric positive definite [..., n, n]. */
dc_tensor *dc_linalg_cholesky(dc_tensor *a, bool upper);
typedef enum { DC_QR_REDUCED, DC_QR_COMPLETE } dc_qr_mode;
/* torch.linalg.qr by Householder reflections (LAPACK's sign convention, so R's diagonal
 * matches torch's): A [..., m, n] = Q R, k = min(m, n); reduced: Q [m, k], R [k, n];
 * complete: Q [m, m], R [m, n]. Not differentiable for complete with m > n (as torch). */
int dc_linalg_qr(dc_tensor *a, dc_qr_mode mode, dc_tensor **q, dc_tensor **r);
/* The least-squares solution of min ||A X - B|| (torch.linalg.lstsq's solution) through the
 * reduced QR, X = R^-1 Q^T B: A [..., m, n] of full column rank with m >= n (else an error:
 * wide or rank-deficient A are not supported), B [..., m, k]; batch dims broadcast.
 * Differentiable through qr, matmul and solve. */
dc_tensor *dc_linalg_lstsq(dc_tensor *a, dc_tensor *b);
/* torch.linalg.eigh of a symmetric A [..., n, n] (its lower triangle is used) by cyclic
 * Jacobi: eigenvalues [..., n] ascending and orthonormal eigenvectors (columns) [..., n, n],
 * each with its largest component positive (torch's signs are arbitrary). */
int dc_linalg_eigh(dc_tensor *a, dc_tensor **eigenvalues, dc_tensor **eigenvectors);
/* torch.linalg.svd by one-sided Jacobi: A [..., m, n] = U diag(S) Vh, S [..., k] descending
 * (k = min(m, n)); full_matrices false: U [m, k], Vh [k, n]; true: U [m, m], Vh [n, n] (the
 * extra columns get no gradient). Signs of singular vectors are arbitrary (as torch). */
int dc_linalg_svd(dc_tensor *a, bool full_matrices, dc_tensor **u, dc_tensor **s,
                  dc_tensor **vh);
/* torch.linalg.svdvals: S of dc_linalg_svd. Gradient U diag(g) Vh. */
dc_tensor *dc_linalg_svdvals(dc_tensor *a);

/* ---- Boxes (src/ops/boxes.c; book §6.3 object detection) --------------------------------- */
/* Boxes are float [N, 4] tensors of corners (x0, y0, x1, y1), x0 <= x1, y0 <= y1 (else an
 * error naming the box), as in torchvision.ops. N = 0 is valid and gives empty results.
 * Geometry on data, without autograd (listed as not differentiable), except the loss. */

/* torchvision.ops.box_iou: [N, M] of |a_i n b_j| / |a_i u b_j| (0 when both boxes have zero
 * area, where torchvision gives NaN); a and b of one dtype. */
dc_tensor *dc_box_iou(dc_tensor *a, dc_tensor *b);
/* SSD / Faster R-CNN box coding of boxes [N, 4] against anchors [N, 4] (row i with row i;
 * positive widths and heights): dx = (cx - acx) / (aw v0), dy = (cy - acy) / (ah v1),
 * dw = log(w / aw) / v2, dh = log(h / ah) / v3 with centres c and sizes w, h; variances v
 * (4 positive values; NULL = 1, 1, 1, 1; SSD uses 0.1, 0.1, 0.2, 0.2) -> deltas [N, 4]. */
dc_tensor *dc_box_encode(dc_tensor *boxes, dc_tensor *anchors, const double *variances);
/* The inverse of dc_box_encode: deltas [N, 4] -> boxes [N, 4]; dw v2 and dh v3 are clamped
 * at log(1000 / 16) before exp, like torchvision's BoxCoder. */
dc_tensor *dc_box_decode(dc_tensor *deltas, dc_tensor *anchors, const double *variances);
/* torchvision.ops.nms: greedy non-maximum suppression of boxes [N, 4] with scores [N]
 * (no NaN): the kept indices (int64 [K]) by decreasing score (ties: lower index first);
 * a box is dropped when its IoU with a kept, better box is > iou_threshold (in [0, 1]). */
dc_tensor *dc_nms(dc_tensor *boxes, dc_tensor *scores, double iou_threshold);
/* torchvision.ops.batched_nms: NMS within each class idxs [N] (integer); boxes of different
 * classes never suppress each other. Kept indices by decreasing score. */
dc_tensor *dc_batched_nms(dc_tensor *boxes, dc_tensor *scores, dc_tensor *idxs,
                          double iou_threshold);
/* SSD-style anchors of a feat_h x feat_w feature map whose cells are `stride` input pixels:
 * for each cell (row-major), each size s and each ratio r (= width / height), a box centred
 * at ((x + 0.5) stride, (y + 0.5) stride) of width s sqrt(r) and height s / sqrt(r) ->
 * float32 [feat_h * feat_w * n_sizes * n_ratios, 4] in that order. */
dc_tensor *dc_anchor_boxes(int64_t feat_h, int64_t feat_w, double stride, const double *sizes,
                           int n_sizes, const double *ratios, int n_ratios);
/* Match anchors [A, 4] to ground-truth boxes truth [G, 4] (SSD): each anchor takes its
 * best-overlapping ground truth if that IoU >= iou_threshold (in [0, 1]), else -1
 * (background); then each ground truth takes its own best anchor (if they overlap at all)
 * whatever the threshold, later ground truths winning a shared one. -> int64 [A]. */
dc_tensor *dc_match_anchors(dc_tensor *anchors, dc_tensor *truth, double iou_threshold);
/* SSD's hard-negative mining: loss [A] or [B, A] (per-anchor classification loss, float) and
 * positive (same shape, nonzero = positive anchor) -> a bool mask (same shape) of the
 * positives plus, per row, the k negatives of highest loss (ties: lower index first), k =
 * min(floor(neg_pos_ratio * positives), negatives), raised to min_negatives (if there are
 * that many) so an image without objects still trains the background. */
dc_tensor *dc_hard_negative_mining(dc_tensor *loss, dc_tensor *positive, double neg_pos_ratio,
                                   int64_t min_negatives);
/* torch.nn.functional.smooth_l1_loss: d = input - target (broadcast), 0.5 d^2 / beta where
 * |d| < beta, else |d| - 0.5 beta (beta = 0: |d|; beta >= 0); mean / sum / none.
 * Differentiable. */
dc_tensor *dc_smooth_l1_loss(dc_tensor *input, dc_tensor *target, double beta,
                             dc_reduction reduction);

/* One image's boxes for dc_mean_average_precision (borrowed): boxes [K, 4], classes [K]
 * (integer, in [0, n_classes)) and, for detections, scores [K] (ignored for truths). */
typedef struct {
    dc_tensor *boxes;
    dc_tensor *scores;
    dc_tensor *classes;
} dc_box_set;
/* A class's precision-recall curve: n points, one per detection by decreasing score
 * (malloc'ed; release with dc_pr_curve_free). */
typedef struct {
    int n;
    double *recall, *precision;
} dc_pr_curve;
void dc_pr_curve_free(dc_pr_curve *curve);
/* Mean average precision at one IoU threshold (mAP@0.5 with 0.5) of detections against
 * truths over n_images images. Per class: detections of all images by decreasing score
 * (ties: earlier image, then lower index, first); one is a true positive if the ground truth
 * of its class in its image that it overlaps most has IoU >= iou_threshold and is not yet
 * claimed, else a false positive. AP is the area under the precision-recall curve with
 * all-points interpolation (PASCAL VOC 2010+; not VOC 2007's 11 points, not COCO's 101):
 * sum over the recall steps of (r_k - r_{k-1}) * max(precision at recall >= r_k). ap
 * receives n_classes values (NaN for a class without ground truth; 0 for one with ground
 * truth but no detections), *map the mean over the classes with ground truth (NaN if
 * none); curves (n_classes, or NULL) the raw curves. ap, map may be NULL. 0 or -1. */
int dc_mean_average_precision(const dc_box_set *detections, const dc_box_set *truths,
                              int64_t n_images, int64_t n_classes, double iou_threshold,
                              double *ap, double *map, dc_pr_curve *curves);

/* ---- Signal processing: FFT, STFT, mel features (src/ops/fft.c) -------------------------- */
/* Complex values are a trailing dim of 2 (real, imaginary), as torch.view_as_real. The FFT
 * is radix-2 for powers of two and Bluestein's chirp z-transform for every other length
 * (O(n log n) for all n), computed in double. Everything is differentiable: the FFT's
 * backward is its adjoint (another FFT), the rest are compositions of differentiable ops. */

/* torch.fft.fft / ifft along dim -2 of x [..., n, 2] -> [..., n, 2]; inverse divides by n
 * (norm "backward"). */
dc_tensor *dc_fft(dc_tensor *x, bool inverse);
/* torch.fft.rfft of real x [..., n] along the last dim -> [..., n/2 + 1, 2]. */
dc_tensor *dc_rfft(dc_tensor *x);
/* |z| of complex x [..., 2] -> [...]; gradient 0 where |z| = 0 (as torch). */
dc_tensor *dc_complex_abs(dc_tensor *x);
/* torch.hann_window: 0.5 - 0.5 cos(2 pi k / N), N = n (periodic, torch's default) or n - 1. */
dc_tensor *dc_hann_window(int64_t n, bool periodic, dc_dtype dtype);
/* torch.stft(x, n_fft, hop_length, win_length, window, center, pad_mode, normalized=False,
 * onesided, return_complex=False): x [L] or [B, L] -> [(B,) freq, frames, 2] with freq =
 * n_fft/2 + 1 (onesided) or n_fft, frames = 1 + (L' - n_fft) / hop (L' = L + 2 (n_fft/2)
 * with center, padded with pad_mode, else L). hop_length <= 0: n_fft / 4; win_length <= 0:
 * n_fft; window [win_length] or NULL (ones, torch's default); a window shorter than n_fft is
 * zero-padded on both sides (centred). */
dc_tensor *dc_stft(dc_tensor *x, int64_t n_fft, int64_t hop_length, int64_t win_length,
                   dc_tensor *window, bool center, dc_pad_mode pad_mode, bool onesided);
/* torchaudio.functional.spectrogram (center, reflect padding, onesided, not normalized):
 * |stft|^power -> [(B,) n_fft/2 + 1, frames] with window [win_length <= n_fft] (centred) or
 * NULL (ones); power 2 is the power spectrogram (the sum of squares, smooth at 0), 1 the
 * magnitude. */
dc_tensor *dc_spectrogram(dc_tensor *x, int64_t n_fft, int64_t hop_length, dc_tensor *window,
                          double power);

typedef enum { DC_MEL_NORM_NONE, DC_MEL_NORM_SLANEY } dc_mel_norm;
typedef enum { DC_MEL_HTK, DC_MEL_SLANEY } dc_mel_scale;
/* torchaudio.functional.melscale_fbanks: [n_freqs, n_mels] triangles between n_mels + 2
 * points equally spaced on the mel scale (HTK: 2595 log10(1 + f/700); Slaney: linear below
 * 1 kHz, logarithmic above) from f_min to f_max, at the bins linspace(0, sample_rate // 2,
 * n_freqs); norm slaney divides each triangle by half its width in Hz (equal area). */
dc_tensor *dc_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                             int sample_rate, dc_mel_norm norm, dc_mel_scale mel_scale,
                             dc_dtype dtype);
/* Options of torchaudio.transforms.MelSpectrogram (hann window, center, reflect padding). */
typedef struct {
    int sample_rate;
    int64_t n_fft, win_length, hop_length; /* <= 0: win = n_fft, hop = win / 2 (torchaudio) */
    double f_min, f_max;                   /* f_max <= 0: sample_rate / 2 */
    int64_t n_mels;
    double power;                          /* 2: power (default), 1: magnitude */
    dc_mel_norm norm;
    dc_mel_scale mel_scale;
    double log_offset;                     /* dc_log_mel_spectrogram: log(mel + log_offset) */
} dc_mel_opts;
/* torchaudio's defaults: n_fft 400, hop 200, 128 mels, power 2, HTK, no norm; offset 1e-6. */
#define DC_MEL_DEFAULTS(sample_rate)                                                            \
    ((dc_mel_opts){(sample_rate), 400, 0, 0, 0.0, 0.0, 128, 2.0, DC_MEL_NORM_NONE, DC_MEL_HTK, \
                   1e-6})
/* x [L] or [B, L] -> [(B,) n_mels, frames]: fb^T @ spectrogram(x). */
dc_tensor *dc_mel_spectrogram(dc_tensor *x, const dc_mel_opts *opts);
/* log(dc_mel_spectrogram(x) + opts->log_offset), the usual speech features. */
dc_tensor *dc_log_mel_spectrogram(dc_tensor *x, const dc_mel_opts *opts);

/* ---- CTC (src/ops/ctc.c) ------------------------------------------------------------------ */

/* torch.nn.functional.ctc_loss: log_probs [T, N, C] (log-softmax outputs), targets [N, S]
 * (padded) or 1-D (concatenated) integer labels in [0, C) other than blank, input_lengths and
 * target_lengths integer [N] (input_lengths <= T). Forward by the alpha recursion and gradient
 * by alpha-beta, both in log space in double. reduction none: [N] losses; sum; mean: each loss
 * divided by max(target length, 1), then averaged (torch). An impossible alignment (input
 * too short) gives inf and a NaN gradient, or 0 and a zero gradient with zero_infinity. The
 * gradient is the true one w.r.t. log_probs (torch's adds exp(log_probs): equal after the
 * log_softmax); no second derivative. */
dc_tensor *dc_ctc_loss(dc_tensor *log_probs, dc_tensor *targets, dc_tensor *input_lengths,
                       dc_tensor *target_lengths, int64_t blank, dc_reduction reduction,
                       bool zero_infinity);
/* Best path decoding: argmax per frame, repeats merged, blanks removed. log_probs [T, N, C],
 * input_lengths integer [N] or NULL (all T). Returns I64 [N, max_len] padded with -1, and
 * the lengths I64 [N] through *lengths (nullable). */
dc_tensor *dc_ctc_greedy_decode(dc_tensor *log_probs, dc_tensor *input_lengths, int64_t blank,
                                dc_tensor **lengths);
/* Prefix beam search (no language model): keeps the beam_width most probable label
 * prefixes, each with its blank- and label-ending path probabilities, merging paths that
 * collapse to the same prefix. Same outputs as greedy, plus *scores F64 [N] (nullable): the
 * log probability of each decoded labeling (exact when the beam holds every prefix). */
dc_tensor *dc_ctc_beam_decode(dc_tensor *log_probs, dc_tensor *input_lengths, int64_t blank,
                              int beam_width, dc_tensor **lengths, dc_tensor **scores);

#ifdef __cplusplus
}
#endif
#endif
