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

dc_tensor *dc_add(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_sub(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_mul(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_div(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_pow(dc_tensor *a, dc_tensor *b);     /* a^b, a > 0 where b is not an integer */
dc_tensor *dc_maximum(dc_tensor *a, dc_tensor *b); /* ties: gradient split evenly (torch) */
dc_tensor *dc_minimum(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_add_scalar(dc_tensor *a, double s);
dc_tensor *dc_mul_scalar(dc_tensor *a, double s);
dc_tensor *dc_pow_scalar(dc_tensor *a, double exponent);
dc_tensor *dc_rsub_scalar(dc_tensor *a, double s); /* s - a */
/* Comparisons give 0/1 in a's dtype; no gradient. */
dc_tensor *dc_eq(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_gt(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_lt(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_ge(dc_tensor *a, dc_tensor *b);
dc_tensor *dc_le(dc_tensor *a, dc_tensor *b);
/* cond != 0 ? a : b, all three broadcast together; gradient flows to a and b. */
dc_tensor *dc_where(dc_tensor *cond, dc_tensor *a, dc_tensor *b);
/* mask != 0 ? value : t (mask broadcast to t). */
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
/* Scalar sum / mean of all elements. */
dc_tensor *dc_sum_all(dc_tensor *a);
dc_tensor *dc_mean_all(dc_tensor *a);

/* ---- Linear algebra (src/ops/matmul.c) ------------------------------------------------ */

/* torch.matmul: 1-D operands are promoted (and the added dim removed), leading (batch) dims
 * broadcast. [.., n, k] @ [.., k, m] -> [.., n, m]. */
dc_tensor *dc_matmul(dc_tensor *a, dc_tensor *b);

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

#ifdef __cplusplus
}
#endif
#endif
