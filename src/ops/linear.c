/* Fully connected layer (book §4.1) as one op, forward and backward side by side:
 *   y[r, o] = sum_i x[r, i] W[o, i] + b[o]          (x flattened to rows r = prod(leading dims))
 *   dx = g W,   dW = g^T x,   db = sum_r g[r, :]
 * Each product is one gemm on the weight's own strides (W^T needs no copy) and the bias is
 * written first so the forward gemm accumulates onto it (beta = 1). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

/* C[M,N] = A @ B + beta C, strides in elements, float32 or float64. */
static void gemm(dc_dtype dtype, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa,
                 int64_t csa, const void *B, int64_t rsb, int64_t csb, double beta, void *C,
                 int64_t rsc)
{
    if (dtype == DC_F32)
        dc_sgemm(M, N, K, 1.0f, A, rsa, csa, B, rsb, csb, (float)beta, C, rsc, 1);
    else
        dc_dgemm(M, N, K, 1.0, A, rsa, csa, B, rsb, csb, beta, C, rsc, 1);
}

/* saved[0] = x as a contiguous [rows, in] matrix, saved[1] = W. */
static int linear_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x2 = node->saved[0], *w = node->saved[1];
    if (!x2 || !w) return dc_error("dc_backward: linear lost its saved tensors"), -1;
    const int64_t rows = x2->shape[0], in = x2->shape[1], out = w->shape[0];
    if (dc__grad_enabled) { /* create_graph: from the live x and W (saved x2 is a copy) */
        dc_tensor *x = node->inputs[0], *g2 = dc_reshape(g, 2, (int64_t[]){rows, out});
        if (dc__needs_grad(node, 0)) grads[0] = dc_reshape(dc_matmul(g2, w), x->ndim, x->shape);
        if (dc__needs_grad(node, 1))
            grads[1] = dc_matmul(dc_transpose(g2, 0, 1), dc_reshape(x, 2, (int64_t[]){rows, in}));
        if (node->n_inputs > 2 && dc__needs_grad(node, 2)) grads[2] = dc_sum(g2, 1, (int[]){0}, false);
        return 0;
    }
    dc_tensor *g2 = dc_contiguous(dc_reshape(g, 2, (int64_t[]){rows, out}));
    if (!g2) return -1;
    if (dc__needs_grad(node, 0)) { /* dx = g W: [rows, out] @ [out, in] */
        dc_tensor *dx = dc__alloc_result(g->dtype, 2, (int64_t[]){rows, in});
        if (!dx) return -1;
        gemm(g->dtype, rows, in, out, dc_data(g2), out, 1, dc_data(w), w->stride[0], w->stride[1],
             0.0, dc_data(dx), in);
        const dc_tensor *x = node->inputs[0];
        grads[0] = dc_reshape(dc__publish(dx), x->ndim, x->shape);
    }
    if (dc__needs_grad(node, 1)) { /* dW = g^T x: [out, rows] @ [rows, in] */
        dc_tensor *dw = dc__alloc_result(g->dtype, 2, (int64_t[]){out, in});
        if (!dw) return -1;
        gemm(g->dtype, out, in, rows, dc_data(g2), 1, out, dc_data(x2), in, 1, 0.0, dc_data(dw), in);
        grads[1] = dc__publish(dw);
    }
    if (node->n_inputs > 2 && dc__needs_grad(node, 2)) grads[2] = dc_sum(g2, 1, (int[]){0}, false);
    return 0;
}

dc_tensor *dc_linear(dc_tensor *x, dc_tensor *weight, dc_tensor *bias)
{
    DC_CHECK_TENSOR(x, "dc_linear");
    DC_CHECK_TENSOR(weight, "dc_linear");
    if (!dc__check_float(x, "dc_linear") || !dc__check_same_dtype(x, weight, "dc_linear")) return NULL;
    char a[96], b[96];
    if (weight->ndim != 2)
        return dc_error("dc_linear: weight must be [out, in], got %s",
                        dc__shape_fmt(weight->ndim, weight->shape, a, sizeof a));
    const int64_t in = weight->shape[1], out = weight->shape[0];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != in)
        return dc_error("dc_linear: input %s does not end with in_features %lld of weight %s",
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a), (long long)in,
                        dc__shape_fmt(weight->ndim, weight->shape, b, sizeof b));
    if (bias && (bias->ndim != 1 || bias->shape[0] != out || bias->dtype != x->dtype))
        return dc_error("dc_linear: bias must be [%lld] of the input's dtype, got %s", (long long)out,
                        dc_shape_str(bias, a, sizeof a));
    size_t scope = dc_scope_begin();
    const int64_t rows = x->ndim ? dc_numel(x) / (in ? in : 1) : 1;
    dc_tensor *x2 = dc_contiguous(dc_reshape(x, 2, (int64_t[]){rows, in}));
    int64_t out_shape[DC_MAX_DIMS];
    for (int d = 0; d < x->ndim - 1; d++) out_shape[d] = x->shape[d];
    out_shape[x->ndim - 1] = out;
    dc_tensor *y = x2 ? dc__alloc_result(x->dtype, x->ndim, out_shape) : NULL;
    if (!y) return dc_scope_return(scope, NULL);
    if (bias) { /* every row starts as the bias; the gemm adds x W^T onto it */
        dc_tensor *rows_view = dc__make_view(y, 2, (int64_t[]){rows, out}, (int64_t[]){out, 1}, 0);
        int rc = rows_view ? dc_copy_(rows_view, bias) : -1;
        dc_tensor_free(rows_view);
        if (rc) {
            dc_tensor_free(y);
            return dc_scope_return(scope, NULL);
        }
    }
    gemm(x->dtype, rows, out, in, dc_data(x2), in, 1, dc_data(weight), weight->stride[1],
         weight->stride[0], bias ? 1.0 : 0.0, dc_data(y), out);
    dc_node *node;
    dc_tensor *inputs[3] = {x, weight, bias};
    if (dc__record(y, "linear", linear_backward, bias ? 3 : 2, inputs, &node) != 0) {
        dc_tensor_free(y);
        return dc_scope_return(scope, NULL);
    }
    if (node) {
        dc__save(node, x2);
        dc__save(node, weight);
    }
    return dc_scope_return(scope, dc__publish(y));
}
