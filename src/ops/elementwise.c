/* Elementwise binary ops with NumPy/PyTorch broadcasting, comparisons, where/masked_fill,
 * and the in-place updates used by optimizers and gradient accumulation.
 *
 * Backward of a broadcast op: the gradient of the output is reduced back to each input's
 * shape with dc_sum_to_shape (summing over the dims that were broadcast). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>

#define ELEMENTWISE_GRAIN 32768

typedef enum {
    BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MAX, BIN_MIN,
    BIN_EQ, BIN_GT, BIN_LT, BIN_GE, BIN_LE, BIN_AXPY /* out = a + alpha * b */
} binary_op;

typedef struct {
    binary_op op;
    char *out;
    const char *a, *b;
    dc_dtype dtype;
    double alpha;
} binary_job;

/* One loop per (op, dtype); the three strided pointers are walked with their strides.
 * gcc vectorises the loop when the strides are 1 (it versions on them). */
#define BINARY_LOOP(T, EXPR)                                                                   \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *pa = (const T *)j->a + off[1], *pb = (const T *)j->b + off[2];                \
        const int64_t so = it->inner_stride[0], sa = it->inner_stride[1],                      \
                      sb = it->inner_stride[2];                                                \
        const T alpha = (T)j->alpha;                                                           \
        (void)alpha;                                                                           \
        if (so == 1 && sa == 1 && sb == 1) {                                                   \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i], y = pb[i];                                                        \
                o[i] = (EXPR);                                                                 \
            }                                                                                  \
        } else if (so == 1 && sa == 1 && sb == 0) {                                            \
            const T y = pb[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i];                                                                   \
                o[i] = (EXPR);                                                                 \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i * sa], y = pb[i * sb];                                              \
                o[i * so] = (EXPR);                                                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define BINARY_SWITCH(T, POW, FMAX, FMIN)                                                      \
    switch (j->op) {                                                                           \
    case BIN_ADD: BINARY_LOOP(T, x + y); break;                                                \
    case BIN_SUB: BINARY_LOOP(T, x - y); break;                                                \
    case BIN_MUL: BINARY_LOOP(T, x * y); break;                                                \
    case BIN_DIV: BINARY_LOOP(T, x / y); break;                                                \
    case BIN_POW: BINARY_LOOP(T, POW(x, y)); break;                                            \
    case BIN_MAX: BINARY_LOOP(T, (x != x || x > y) ? x : y); break;                            \
    case BIN_MIN: BINARY_LOOP(T, (x != x || x < y) ? x : y); break;                            \
    case BIN_EQ: BINARY_LOOP(T, (T)(x == y)); break;                                           \
    case BIN_GT: BINARY_LOOP(T, (T)(x > y)); break;                                            \
    case BIN_LT: BINARY_LOOP(T, (T)(x < y)); break;                                            \
    case BIN_GE: BINARY_LOOP(T, (T)(x >= y)); break;                                           \
    case BIN_LE: BINARY_LOOP(T, (T)(x <= y)); break;                                           \
    case BIN_AXPY: BINARY_LOOP(T, x + alpha * y); break;                                       \
    }

static void binary_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const binary_job *j = ctx;
    if (j->dtype == DC_F32) {
        BINARY_SWITCH(float, powf, fmaxf, fminf)
    } else {
        BINARY_SWITCH(double, pow, fmax, fmin)
    }
}

/* out = a op b over out's shape; a and b broadcast to it. */
static void binary_kernel(binary_op op, dc_tensor *out, const dc_tensor *a, const dc_tensor *b,
                          double alpha)
{
    int64_t strides[3][DC_MAX_DIMS];
    for (int d = 0; d < out->ndim; d++) strides[0][d] = out->stride[d];
    dc__broadcast_strides(a, out->ndim, out->shape, strides[1]);
    dc__broadcast_strides(b, out->ndim, out->shape, strides[2]);
    dc_iter it;
    dc__iter_init(&it, out->ndim, out->shape, 3, strides);
    binary_job j = {op, dc_data(out), dc_data(a), dc_data(b), out->dtype, alpha};
    dc__iter_run(&it, ELEMENTWISE_GRAIN, binary_segment, &j);
}

/* ---- Backward --------------------------------------------------------------------------- */

/* Reduce g to input i's shape (undo broadcasting). */
static dc_tensor *to_input_shape(dc_node *node, int i, dc_tensor *g)
{
    const dc_tensor *in = node->inputs[i];
    return dc_sum_to_shape(g, in->ndim, in->shape);
}

static int add_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    if (dc__needs_grad(node, 0)) grads[0] = to_input_shape(node, 0, g);
    if (dc__needs_grad(node, 1))
        grads[1] = to_input_shape(node, 1, node->f[0] == 1.0 ? g : dc_mul_scalar(g, node->f[0]));
    return 0;
}

/* d(a*b) = g*b, g*a */
static int mul_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1];
    if (dc__needs_grad(node, 0)) grads[0] = to_input_shape(node, 0, dc_mul(g, b));
    if (dc__needs_grad(node, 1)) grads[1] = to_input_shape(node, 1, dc_mul(g, a));
    return 0;
}

/* d(a/b) = g/b, -g*a/b^2 */
static int div_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1];
    dc_tensor *g_over_b = dc_div(g, b);
    if (dc__needs_grad(node, 0)) grads[0] = to_input_shape(node, 0, g_over_b);
    if (dc__needs_grad(node, 1))
        grads[1] = to_input_shape(node, 1, dc_neg(dc_div(dc_mul(g_over_b, a), b)));
    return 0;
}

/* d(a^b) = g*b*a^(b-1), g*a^b*log(a) (the latter only where a > 0, as torch masks a == 0) */
static int pow_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1], *out = node->saved[2];
    if (dc__needs_grad(node, 0))
        grads[0] = to_input_shape(node, 0, dc_mul(g, dc_mul(b, dc_pow(a, dc_add_scalar(b, -1)))));
    if (dc__needs_grad(node, 1)) {
        dc_tensor *zero = dc_scalar(a->dtype, 0.0);
        dc_tensor *safe_log = dc_where(dc_gt(a, zero), dc_log(dc_where(dc_gt(a, zero), a,
                                       dc_ones_like(a))), zero);
        grads[1] = to_input_shape(node, 1, dc_mul(g, dc_mul(out, safe_log)));
    }
    return 0;
}

/* max/min: the gradient goes to the selected input, split evenly on ties (torch). */
static int minmax_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1];
    bool is_max = node->i[0] == BIN_MAX;
    dc_tensor *a_wins = is_max ? dc_gt(a, b) : dc_lt(a, b);
    dc_tensor *half_tie = dc_mul_scalar(dc_eq(a, b), 0.5);
    dc_tensor *weight_a = dc_add(a_wins, half_tie);
    if (dc__needs_grad(node, 0)) grads[0] = to_input_shape(node, 0, dc_mul(g, weight_a));
    if (dc__needs_grad(node, 1))
        grads[1] = to_input_shape(node, 1, dc_mul(g, dc_rsub_scalar(weight_a, 1.0)));
    return 0;
}

/* ---- Forward ------------------------------------------------------------------------------- */

static const char *const binary_names[] = {
    [BIN_ADD] = "add", [BIN_SUB] = "sub", [BIN_MUL] = "mul", [BIN_DIV] = "div",
    [BIN_POW] = "pow", [BIN_MAX] = "maximum", [BIN_MIN] = "minimum", [BIN_EQ] = "eq",
    [BIN_GT] = "gt", [BIN_LT] = "lt", [BIN_GE] = "ge", [BIN_LE] = "le", [BIN_AXPY] = "axpy",
};

static dc_tensor *binary(binary_op op, dc_tensor *a, dc_tensor *b)
{
    const char *name = binary_names[op];
    if (!a) return dc_error("dc_%s: input 'a' is NULL", name);
    if (!b) return dc_error("dc_%s: input 'b' is NULL", name);
    if (!dc__check_float(a, name) || !dc__check_float(b, name) ||
        !dc__check_same_dtype(a, b, name))
        return NULL;
    int64_t shape[DC_MAX_DIMS];
    int ndim = dc__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, shape, name);
    if (ndim < 0) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;
    binary_kernel(op, out, a, b, 1.0);
    if (op >= BIN_EQ) return dc__publish(out); /* comparisons have no gradient */
    static const dc_backward_fn backward[] = {
        [BIN_ADD] = add_backward, [BIN_SUB] = add_backward, [BIN_MUL] = mul_backward,
        [BIN_DIV] = div_backward, [BIN_POW] = pow_backward, [BIN_MAX] = minmax_backward,
        [BIN_MIN] = minmax_backward,
    };
    dc_node *node;
    if (dc__record(out, name, backward[op], 2, (dc_tensor *[]){a, b}, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->f[0] = op == BIN_SUB ? -1.0 : 1.0; /* sign of b's gradient for add/sub */
        node->i[0] = op;
        if (op != BIN_ADD && op != BIN_SUB) {
            dc__save(node, a);
            dc__save(node, b);
            if (op == BIN_POW) dc__save(node, out);
        }
    }
    return dc__publish(out);
}

dc_tensor *dc_add(dc_tensor *a, dc_tensor *b) { return binary(BIN_ADD, a, b); }
dc_tensor *dc_sub(dc_tensor *a, dc_tensor *b) { return binary(BIN_SUB, a, b); }
dc_tensor *dc_mul(dc_tensor *a, dc_tensor *b) { return binary(BIN_MUL, a, b); }
dc_tensor *dc_div(dc_tensor *a, dc_tensor *b) { return binary(BIN_DIV, a, b); }
dc_tensor *dc_pow(dc_tensor *a, dc_tensor *b) { return binary(BIN_POW, a, b); }
dc_tensor *dc_maximum(dc_tensor *a, dc_tensor *b) { return binary(BIN_MAX, a, b); }
dc_tensor *dc_minimum(dc_tensor *a, dc_tensor *b) { return binary(BIN_MIN, a, b); }
dc_tensor *dc_eq(dc_tensor *a, dc_tensor *b) { return binary(BIN_EQ, a, b); }
dc_tensor *dc_gt(dc_tensor *a, dc_tensor *b) { return binary(BIN_GT, a, b); }
dc_tensor *dc_lt(dc_tensor *a, dc_tensor *b) { return binary(BIN_LT, a, b); }
dc_tensor *dc_ge(dc_tensor *a, dc_tensor *b) { return binary(BIN_GE, a, b); }
dc_tensor *dc_le(dc_tensor *a, dc_tensor *b) { return binary(BIN_LE, a, b); }

/* Scalar variants: the scalar becomes a 0-dim tensor of a's dtype (broadcast for free). */
static dc_tensor *with_scalar(binary_op op, dc_tensor *a, double s, bool scalar_first)
{
    if (!a) return dc_error("dc_%s_scalar: input 'a' is NULL", binary_names[op]);
    if (!dc__check_float(a, binary_names[op])) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *st = dc_scalar(a->dtype, s);
    dc_tensor *out = st ? (scalar_first ? binary(op, st, a) : binary(op, a, st)) : NULL;
    return dc_scope_return(scope, out);
}

dc_tensor *dc_add_scalar(dc_tensor *a, double s) { return with_scalar(BIN_ADD, a, s, false); }
dc_tensor *dc_mul_scalar(dc_tensor *a, double s) { return with_scalar(BIN_MUL, a, s, false); }
dc_tensor *dc_pow_scalar(dc_tensor *a, double e) { return with_scalar(BIN_POW, a, e, false); }
dc_tensor *dc_rsub_scalar(dc_tensor *a, double s) { return with_scalar(BIN_SUB, a, s, true); }

/* ---- In place (no autograd) ------------------------------------------------------------- */

static int inplace(binary_op op, dc_tensor *dst, const dc_tensor *src, double alpha,
                   const char *name)
{
    if (!dst || !src) return dc_error("%s: NULL tensor", name), -1;
    if (!dc__check_float(dst, name) || !dc__check_same_dtype(dst, src, name)) return -1;
    int64_t shape[DC_MAX_DIMS];
    int ndim = dc__broadcast_shape(dst->ndim, dst->shape, src->ndim, src->shape, shape, name);
    if (ndim < 0) return -1;
    if (ndim != dst->ndim || dc__shape_numel(ndim, shape) != dc_numel(dst)) {
        char a[96], b[96];
        return dc_error("%s: source shape %s does not broadcast to destination %s", name,
                        dc__shape_fmt(src->ndim, src->shape, a, sizeof a),
                        dc__shape_fmt(dst->ndim, dst->shape, b, sizeof b)),
               -1;
    }
    binary_kernel(op, dst, dst, src, alpha);
    return 0;
}

int dc_add_(dc_tensor *dst, const dc_tensor *src) { return inplace(BIN_ADD, dst, src, 1.0, "dc_add_"); }

int dc_axpy_(dc_tensor *dst, double alpha, const dc_tensor *src)
{
    return inplace(BIN_AXPY, dst, src, alpha, "dc_axpy_");
}

int dc_mul_scalar_(dc_tensor *dst, double s)
{
    if (!dst) return dc_error("dc_mul_scalar_: NULL tensor"), -1;
    if (!dc__check_float(dst, "dc_mul_scalar_")) return -1;
    dc_tensor scalar = {.dtype = dst->dtype, .ndim = 0};
    double d = s;
    float f = (float)s;
    dc_storage storage = {.data = dst->dtype == DC_F32 ? (void *)&f : (void *)&d};
    scalar.storage = &storage;
    binary_kernel(BIN_MUL, dst, dst, &scalar, 1.0);
    return 0;
}

/* ---- where / masked_fill -------------------------------------------------------------------- */

typedef struct {
    char *out;
    const char *cond, *a, *b;
    dc_dtype dtype, cond_dtype;
} where_job;

static inline bool truthy(const char *p, dc_dtype t, int64_t i)
{
    return t == DC_F32 ? ((const float *)p)[i] != 0
                       : t == DC_F64 ? ((const double *)p)[i] != 0 : ((const int64_t *)p)[i] != 0;
}

static void where_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const where_job *j = ctx;
    const size_t es = dc__elsize(j->dtype);
    char *o = j->out + off[0] * es;
    const char *c = j->cond + off[1] * dc__elsize(j->cond_dtype);
    const char *a = j->a + off[2] * es, *b = j->b + off[3] * es;
    const int64_t *s = it->inner_stride;
    for (int64_t i = 0; i < n; i++) {
        bool take_a = truthy(c, j->cond_dtype, i * s[1]);
        if (j->dtype == DC_F32)
            ((float *)o)[i * s[0]] = take_a ? ((const float *)a)[i * s[2]] : ((const float *)b)[i * s[3]];
        else
            ((double *)o)[i * s[0]] = take_a ? ((const double *)a)[i * s[2]] : ((const double *)b)[i * s[3]];
    }
}

/* Gradient flows to a where cond holds, to b elsewhere. */
static int where_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *cond = node->saved[0];
    dc_tensor *zero = dc_scalar(g->dtype, 0.0);
    if (dc__needs_grad(node, 1)) grads[1] = to_input_shape(node, 1, dc_where(cond, g, zero));
    if (dc__needs_grad(node, 2)) grads[2] = to_input_shape(node, 2, dc_where(cond, zero, g));
    return 0;
}

dc_tensor *dc_where(dc_tensor *cond, dc_tensor *a, dc_tensor *b)
{
    DC_CHECK_TENSOR(cond, "dc_where");
    DC_CHECK_TENSOR(a, "dc_where");
    DC_CHECK_TENSOR(b, "dc_where");
    if (!dc__check_float(a, "dc_where") || !dc__check_same_dtype(a, b, "dc_where")) return NULL;
    if (cond->requires_grad) return dc_error("dc_where: the condition must not require grad");
    int64_t ab[DC_MAX_DIMS], shape[DC_MAX_DIMS];
    int nab = dc__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, ab, "dc_where");
    if (nab < 0) return NULL;
    int ndim = dc__broadcast_shape(cond->ndim, cond->shape, nab, ab, shape, "dc_where");
    if (ndim < 0) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;
    int64_t strides[4][DC_MAX_DIMS];
    for (int d = 0; d < ndim; d++) strides[0][d] = out->stride[d];
    dc__broadcast_strides(cond, ndim, shape, strides[1]);
    dc__broadcast_strides(a, ndim, shape, strides[2]);
    dc__broadcast_strides(b, ndim, shape, strides[3]);
    dc_iter it;
    dc__iter_init(&it, ndim, shape, 4, strides);
    where_job j = {dc_data(out), dc_data(cond), dc_data(a), dc_data(b), a->dtype, cond->dtype};
    dc__iter_run(&it, ELEMENTWISE_GRAIN, where_segment, &j);
    dc_node *node;
    if (dc__record(out, "where", where_backward, 3, (dc_tensor *[]){cond, a, b}, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) dc__save(node, cond);
    return dc__publish(out);
}

dc_tensor *dc_masked_fill(dc_tensor *t, dc_tensor *mask, double value)
{
    DC_CHECK_TENSOR(t, "dc_masked_fill");
    DC_CHECK_TENSOR(mask, "dc_masked_fill");
    if (!dc__check_float(t, "dc_masked_fill")) return NULL;
    int64_t shape[DC_MAX_DIMS];
    int ndim = dc__broadcast_shape(mask->ndim, mask->shape, t->ndim, t->shape, shape,
                                   "dc_masked_fill");
    if (ndim < 0) return NULL;
    if (ndim != t->ndim || dc__shape_numel(ndim, shape) != dc_numel(t)) {
        char a[96], b[96];
        return dc_error("dc_masked_fill: mask %s does not broadcast to the input %s",
                        dc__shape_fmt(mask->ndim, mask->shape, a, sizeof a),
                        dc__shape_fmt(t->ndim, t->shape, b, sizeof b));
    }
    size_t scope = dc_scope_begin();
    dc_tensor *fill = dc_scalar(t->dtype, value);
    return dc_scope_return(scope, dc_where(mask, fill, t));
}

/* ---- Undo broadcasting ---------------------------------------------------------------------- */

dc_tensor *dc_sum_to_shape(dc_tensor *t, int ndim, const int64_t *shape)
{
    DC_CHECK_TENSOR(t, "dc_sum_to_shape");
    if (ndim > t->ndim) return dc_error("dc_sum_to_shape: target has more dims than the input");
    int dims[DC_MAX_DIMS], n = 0;
    int lead = t->ndim - ndim;
    for (int d = 0; d < t->ndim; d++) {
        int td = d - lead;
        if (td < 0 || (shape[td] == 1 && t->shape[d] != 1)) dims[n++] = d;
        else if (shape[td] != t->shape[d]) {
            char a[96], b[96];
            return dc_error("dc_sum_to_shape: %s cannot be reduced to %s",
                            dc__shape_fmt(t->ndim, t->shape, a, sizeof a),
                            dc__shape_fmt(ndim, shape, b, sizeof b));
        }
    }
    if (n == 0) return dc__publish(dc_tensor_retain(t));
    /* Only leading dims added by broadcasting: the sum without keepdim has the shape already
     * (and owns its storage, so autograd can adopt it without a copy). */
    if (n == lead) return dc_sum(t, n, dims, false);
    size_t scope = dc_scope_begin();
    dc_tensor *summed = dc_sum(t, n, dims, true);
    dc_tensor *out = summed ? dc_reshape(summed, ndim, shape) : NULL;
    return dc_scope_return(scope, out);
}
