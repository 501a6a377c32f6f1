/* Copies: dc_copy_, dc_fill_, contiguous, clone and dtype conversion. */
#include "../kernels/kernels.h"
#include "internal.h"

#include <string.h>

typedef struct {
    char *dst;
    const char *src;
    dc_dtype dt, st;
} copy_job;

/* Load element i of a strided row as double / store a double: the slow, general path. */
static inline double load_d(const char *p, dc_dtype t, int64_t i)
{
    return t == DC_F32 ? ((const float *)p)[i] : t == DC_F64 ? ((const double *)p)[i]
                                                             : (double)((const int64_t *)p)[i];
}

static inline void store_d(char *p, dc_dtype t, int64_t i, double v)
{
    if (t == DC_F32) ((float *)p)[i] = (float)v;
    else if (t == DC_F64) ((double *)p)[i] = v;
    else ((int64_t *)p)[i] = (int64_t)v;
}

static void copy_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const copy_job *j = ctx;
    const int64_t ds = it->inner_stride[0], ss = it->inner_stride[1];
    const size_t esz = dc__elsize(j->dt);
    char *d = j->dst + (size_t)off[0] * esz;
    const char *s = j->src + (size_t)off[1] * dc__elsize(j->st);
    if (j->dt == j->st && ds == 1 && ss == 1) {
        memcpy(d, s, (size_t)n * esz);
    } else if (j->dt == DC_F32 && j->st == DC_F32) {
        for (int64_t i = 0; i < n; i++) ((float *)d)[i * ds] = ((const float *)s)[i * ss];
    } else if (j->dt == j->st) { /* 8-byte types */
        for (int64_t i = 0; i < n; i++) ((int64_t *)d)[i * ds] = ((const int64_t *)s)[i * ss];
    } else {
        for (int64_t i = 0; i < n; i++) store_d(d, j->dt, i * ds, load_d(s, j->st, i * ss));
    }
}

int dc_copy_(dc_tensor *dst, const dc_tensor *src)
{
    if (!dst || !src) return dc_error("dc_copy_: NULL tensor"), -1;
    int64_t shape[DC_MAX_DIMS];
    int nd = dc__broadcast_shape(dst->ndim, dst->shape, src->ndim, src->shape, shape, "dc_copy_");
    if (nd < 0) return -1;
    bool fits = nd == dst->ndim;
    for (int d = 0; fits && d < nd; d++) fits = shape[d] == dst->shape[d];
    if (!fits) {
        char a[96], b[96];
        dc_error("dc_copy_: source shape %s does not broadcast to %s",
                 dc__shape_fmt(src->ndim, src->shape, a, sizeof a),
                 dc__shape_fmt(dst->ndim, dst->shape, b, sizeof b));
        return -1;
    }
    copy_job j = {.dst = dc_data(dst), .src = dc_data(src), .dt = dst->dtype, .st = src->dtype};
    int64_t strides[2][DC_MAX_DIMS];
    for (int d = 0; d < nd; d++) strides[0][d] = dst->stride[d];
    dc__broadcast_strides(src, nd, dst->shape, strides[1]);
    dc_iter it;
    dc__iter_init(&it, nd, dst->shape, 2, strides);
    dc__iter_run(&it, 32768, copy_segment, &j);
    return 0;
}

typedef struct {
    char *dst;
    dc_dtype dt;
    double value;
} fill_job;

static void fill_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const fill_job *j = ctx;
    char *d = j->dst + (size_t)off[0] * dc__elsize(j->dt);
    int64_t s = it->inner_stride[0];
    if (j->dt == DC_F32) {
        float v = (float)j->value;
        for (int64_t i = 0; i < n; i++) ((float *)d)[i * s] = v;
    } else {
        for (int64_t i = 0; i < n; i++) store_d(d, j->dt, i * s, j->value);
    }
}

int dc_fill_(dc_tensor *dst, double value)
{
    if (!dst) return dc_error("dc_fill_: NULL tensor"), -1;
    fill_job j = {.dst = dc_data(dst), .dt = dst->dtype, .value = value};
    int64_t strides[1][DC_MAX_DIMS];
    for (int d = 0; d < dst->ndim; d++) strides[0][d] = dst->stride[d];
    dc_iter it;
    dc__iter_init(&it, dst->ndim, dst->shape, 1, strides);
    dc__iter_run(&it, 32768, fill_segment, &j);
    return 0;
}

/* ---- Differentiable copies ------------------------------------------------------------- */

static int clone_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    (void)node;
    grads[0] = dc_clone(grad_out);
    return grads[0] ? 0 : -1;
}

/* Copy into a fresh contiguous tensor of `dtype`, recording `op` for backward. */
static dc_tensor *copy_as(dc_tensor *t, dc_dtype dtype, const char *op, dc_backward_fn bw)
{
    dc_tensor *out = dc__alloc_result(dtype, t->ndim, t->shape);
    if (!out) return NULL;
    dc_node *node;
    if (dc_copy_(out, t) != 0 || dc__record(out, op, bw, 1, &t, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) node->i[0] = t->dtype;
    return dc__publish(out);
}

dc_tensor *dc_clone(dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_clone");
    return copy_as(t, t->dtype, "clone", clone_backward);
}

dc_tensor *dc_contiguous(dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_contiguous");
    if (dc_is_contiguous(t)) return dc__publish(dc_tensor_retain(t));
    return copy_as(t, t->dtype, "contiguous", clone_backward);
}

static int to_dtype_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    grads[0] = dc_to_dtype(grad_out, (dc_dtype)node->i[0]);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_to_dtype(dc_tensor *t, dc_dtype dtype)
{
    DC_CHECK_TENSOR(t, "dc_to_dtype");
    if ((unsigned)dtype >= DC_DTYPE_COUNT) return dc_error("dc_to_dtype: unknown dtype %d", dtype);
    if (t->requires_grad && dtype == DC_I64)
        return dc_error("dc_to_dtype: cannot convert a tensor that requires grad to int64");
    return copy_as(t, dtype, "to_dtype", to_dtype_backward);
}
