/* Elementwise binary ops with NumPy/PyTorch broadcasting, comparisons, logical ops,
 * where/masked_fill, and the in-place updates used by optimizers and gradient accumulation.
 *
 * Dtypes: both inputs of a binary op have one dtype (no implicit promotion). Floats (F32/F64)
 * take every op and are differentiable; integers (I64/I32/U8) take add/sub/mul (wrapping on
 * overflow, as torch), maximum/minimum, floor_divide/remainder and comparisons, never with a
 * gradient; bool takes comparisons and logical ops. Comparisons give 0/1 in the input's dtype
 * for floats (so masks multiply in), DC_BOOL for integer and bool inputs.
 *
 * Backward of a broadcast op: the gradient of the output is reduced back to each input's
 * shape with dc_sum_to_shape (summing over the dims that were broadcast). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdatomic.h>

#define ELEMENTWISE_GRAIN 32768

typedef enum {
    BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MAX, BIN_MIN, BIN_REM, BIN_FLOORDIV,
    BIN_AXPY, /* out = a + alpha * b (in place only) */
    BIN_EQ, BIN_NE, BIN_GT, BIN_LT, BIN_GE, BIN_LE, /* comparisons */
    BIN_AND, BIN_OR, BIN_XOR,                       /* logical: any dtypes, bool result */
    BIN_COUNT
} binary_op;

static bool is_comparison(binary_op op) { return op >= BIN_EQ && op <= BIN_LE; }
static bool is_logical(binary_op op) { return op >= BIN_AND && op <= BIN_XOR; }

typedef struct {
    binary_op op;
    char *out;
    const char *a, *b;
    dc_dtype dtype;   /* of a (and of b, but for logical ops) */
    double alpha;
    dc_dtype b_dtype; /* logical ops only */
} binary_job;

/* One loop per (op, dtype); the three strided pointers are walked with their strides.
 * gcc vectorises the loop when the strides are 1 (it versions on them). TO is the output
 * element type, T the inputs'. */
#define BINARY_LOOP2(TO, T, EXPR)                                                              \
    do {                                                                                       \
        TO *o = (TO *)j->out + off[0];                                                         \
        const T *pa = (const T *)j->a + off[1], *pb = (const T *)j->b + off[2];                \
        const int64_t so = it->inner_stride[0], sa = it->inner_stride[1],                      \
                      sb = it->inner_stride[2];                                                \
        const T alpha = (T)j->alpha;                                                           \
        (void)alpha;                                                                           \
        if (so == 1 && sa == 1 && sb == 1) {                                                   \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i], y = pb[i];                                                        \
                o[i] = (TO)(EXPR);                                                             \
            }                                                                                  \
        } else if (so == 1 && sa == 1 && sb == 0) {                                            \
            const T y = pb[0];                                                                 \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i];                                                                   \
                o[i] = (TO)(EXPR);                                                             \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = pa[i * sa], y = pb[i * sb];                                              \
                o[i * so] = (TO)(EXPR);                                                        \
            }                                                                                  \
        }                                                                                      \
    } while (0)
#define BINARY_LOOP(T, EXPR) BINARY_LOOP2(T, T, EXPR)

/* torch's floor division and remainder of floats (remainder has the divisor's sign):
 * div = (a - fmod(a, b)) / b, corrected by one where fmod and b differ in sign, then
 * rounded to the nearest integer; a / b (inf or nan) when b == 0. */
#define DEFINE_FLOAT_DIV(T, SUF, FMOD, FLOOR)                                                  \
    static inline T floordiv_##SUF(T a, T b)                                                   \
    {                                                                                          \
        if (b == 0) return a / b;                                                              \
        T mod = FMOD(a, b), div = (a - mod) / b;                                               \
        if (mod != 0 && (b < 0) != (mod < 0)) div -= 1;                                        \
        if (div == 0) return copysign((T)0, a / b);                                            \
        T fl = FLOOR(div);                                                                     \
        return div - fl > (T)0.5 ? fl + 1 : fl;                                                \
    }                                                                                          \
    static inline T remainder_##SUF(T a, T b)                                                  \
    {                                                                                          \
        T mod = FMOD(a, b);                                                                    \
        return mod != 0 && (b < 0) != (mod < 0) ? mod + b : mod;                               \
    }
DEFINE_FLOAT_DIV(float, f32, fmodf, floorf)
DEFINE_FLOAT_DIV(double, f64, fmod, floor)

/* Integer floor division and remainder (b != 0, checked by the op). C's / truncates, so a
 * nonzero remainder of the other sign moves the quotient down by one; b == -1 is done by a
 * wrapping negation (INT64_MIN / -1 would overflow, and wraps in torch). */
#define DEFINE_INT_DIV(T, UT, SUF)                                                             \
    static inline T floordiv_##SUF(T a, T b)                                                   \
    {                                                                                          \
        if (b == -1) return (T)((UT)0 - (UT)a);                                                \
        T q = a / b;                                                                           \
        return a % b != 0 && (a < 0) != (b < 0) ? q - 1 : q;                                   \
    }                                                                                          \
    static inline T remainder_##SUF(T a, T b)                                                  \
    {                                                                                          \
        if (b == -1) return 0;                                                                 \
        T r = a % b;                                                                           \
        return r != 0 && (r < 0) != (b < 0) ? (T)(r + b) : r;                                  \
    }
DEFINE_INT_DIV(int64_t, uint64_t, i64)
DEFINE_INT_DIV(int32_t, uint32_t, i32)

#define FLOAT_SWITCH(T, SUF, POW)                                                              \
    switch (j->op) {                                                                           \
    case BIN_ADD: BINARY_LOOP(T, x + y); break;                                                \
    case BIN_SUB: BINARY_LOOP(T, x - y); break;                                                \
    case BIN_MUL: BINARY_LOOP(T, x * y); break;                                                \
    case BIN_DIV: BINARY_LOOP(T, x / y); break;                                                \
    case BIN_POW: BINARY_LOOP(T, POW(x, y)); break;                                            \
    case BIN_MAX: BINARY_LOOP(T, (x != x || x > y) ? x : y); break;                            \
    case BIN_MIN: BINARY_LOOP(T, (x != x || x < y) ? x : y); break;                            \
    case BIN_REM: BINARY_LOOP(T, remainder_##SUF(x, y)); break;                                \
    case BIN_FLOORDIV: BINARY_LOOP(T, floordiv_##SUF(x, y)); break;                            \
    case BIN_AXPY: BINARY_LOOP(T, x + alpha * y); break;                                       \
    case BIN_EQ: BINARY_LOOP(T, (T)(x == y)); break;                                           \
    case BIN_NE: BINARY_LOOP(T, (T)(x != y)); break;                                           \
    case BIN_GT: BINARY_LOOP(T, (T)(x > y)); break;                                            \
    case BIN_LT: BINARY_LOOP(T, (T)(x < y)); break;                                            \
    case BIN_GE: BINARY_LOOP(T, (T)(x >= y)); break;                                           \
    case BIN_LE: BINARY_LOOP(T, (T)(x <= y)); break;                                           \
    default: break;                                                                            \
    }

/* Integers: arithmetic in the unsigned type UT, so overflow wraps (as torch) instead of
 * being undefined; comparisons write bool bytes. */
#define INT_SWITCH(T, UT, FLOORDIV, REM)                                                       \
    switch (j->op) {                                                                           \
    case BIN_ADD: BINARY_LOOP(T, (T)((UT)x + (UT)y)); break;                                   \
    case BIN_SUB: BINARY_LOOP(T, (T)((UT)x - (UT)y)); break;                                   \
    case BIN_MUL: BINARY_LOOP(T, (T)((UT)x * (UT)y)); break;                                   \
    case BIN_MAX: BINARY_LOOP(T, x > y ? x : y); break;                                        \
    case BIN_MIN: BINARY_LOOP(T, x < y ? x : y); break;                                        \
    case BIN_FLOORDIV: BINARY_LOOP(T, FLOORDIV(x, y)); break;                                  \
    case BIN_REM: BINARY_LOOP(T, REM(x, y)); break;                                            \
    case BIN_EQ: BINARY_LOOP2(uint8_t, T, x == y); break;                                      \
    case BIN_NE: BINARY_LOOP2(uint8_t, T, x != y); break;                                      \
    case BIN_GT: BINARY_LOOP2(uint8_t, T, x > y); break;                                       \
    case BIN_LT: BINARY_LOOP2(uint8_t, T, x < y); break;                                       \
    case BIN_GE: BINARY_LOOP2(uint8_t, T, x >= y); break;                                      \
    case BIN_LE: BINARY_LOOP2(uint8_t, T, x <= y); break;                                      \
    default: break;                                                                            \
    }

#define U8_FLOORDIV(x, y) ((x) / (y))
#define U8_REM(x, y) ((x) % (y))

static void binary_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const binary_job *j = ctx;
    switch (j->dtype) {
    case DC_F32: FLOAT_SWITCH(float, f32, powf) break;
    case DC_F64: FLOAT_SWITCH(double, f64, pow) break;
    case DC_I64: INT_SWITCH(int64_t, uint64_t, floordiv_i64, remainder_i64) break;
    case DC_I32: INT_SWITCH(int32_t, uint32_t, floordiv_i32, remainder_i32) break;
    case DC_U8:
    case DC_BOOL: INT_SWITCH(uint8_t, unsigned, U8_FLOORDIV, U8_REM) break;
    default: break;
    }
}

/* Logical ops read each input's truth (nonzero), whatever its dtype, and write bool. */
static void logical_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const binary_job *j = ctx;
    const dc_dtype at = j->dtype, bt = j->b_dtype;
    uint8_t *o = (uint8_t *)j->out + off[0];
    const char *pa = j->a + (size_t)off[1] * dc__elsize(at);
    const char *pb = j->b + (size_t)off[2] * dc__elsize(bt);
    const int64_t *s = it->inner_stride;
    for (int64_t i = 0; i < n; i++) {
        bool x = dc__load_truth(pa, at, i * s[1]), y = dc__load_truth(pb, bt, i * s[2]);
        o[i * s[0]] = j->op == BIN_AND ? x && y : j->op == BIN_OR ? x || y : x != y;
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
    if (is_logical(op)) {
        binary_job j = {op, dc_data(out), dc_data(a), dc_data(b), a->dtype, alpha, b->dtype};
        dc__iter_run(&it, ELEMENTWISE_GRAIN, logical_segment, &j);
        return;
    }
    binary_job j = {op, dc_data(out), dc_data(a), dc_data(b), a->dtype, alpha, a->dtype};
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

/* remainder(a, b) = a - floor_divide(a, b) * b: d/da = g, d/db = -g * floor_divide(a, b)
 * (the floor is piecewise constant, as torch). */
static int remainder_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1];
    if (dc__needs_grad(node, 0)) grads[0] = to_input_shape(node, 0, g);
    if (dc__needs_grad(node, 1))
        grads[1] = to_input_shape(node, 1, dc_neg(dc_mul(g, dc_floor_divide(a, b))));
    return 0;
}

/* ---- Forward ------------------------------------------------------------------------------- */

/* The public names, for errors. */
static const char *const binary_names[BIN_COUNT] = {
    [BIN_ADD] = "dc_add", [BIN_SUB] = "dc_sub", [BIN_MUL] = "dc_mul", [BIN_DIV] = "dc_div",
    [BIN_POW] = "dc_pow", [BIN_MAX] = "dc_maximum", [BIN_MIN] = "dc_minimum",
    [BIN_REM] = "dc_remainder", [BIN_FLOORDIV] = "dc_floor_divide", [BIN_AXPY] = "dc_axpy_",
    [BIN_EQ] = "dc_eq", [BIN_NE] = "dc_ne", [BIN_GT] = "dc_gt", [BIN_LT] = "dc_lt",
    [BIN_GE] = "dc_ge", [BIN_LE] = "dc_le", [BIN_AND] = "dc_logical_and",
    [BIN_OR] = "dc_logical_or", [BIN_XOR] = "dc_logical_xor",
};

/* Can op take inputs of dtype d? Sets an error naming op if not. */
static bool check_op_dtype(binary_op op, dc_dtype d, const char *name)
{
    if (is_logical(op) || dc_dtype_is_float(d) || is_comparison(op)) return true;
    if (op == BIN_DIV || op == BIN_POW) {
        dc_error("%s: not defined for %s tensors (true division and powers give floats: "
                 "convert with dc_to_dtype%s)", name, dc_dtype_name(d),
                 op == BIN_DIV ? ", or use dc_floor_divide" : "");
        return false;
    }
    if (d == DC_BOOL) {
        dc_error("%s: not defined for bool tensors (use dc_logical_and / dc_logical_or, or "
                 "convert with dc_to_dtype)", name);
        return false;
    }
    return true;
}

/* Integer floor division and remainder need a divisor without zeros (torch raises too). */
static bool check_no_zero_divisor(const dc_tensor *b, const char *name)
{
    const char *p = dc_data(b);
    int64_t idx[DC_MAX_DIMS] = {0}, total = dc_numel(b);
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int d = 0; d < b->ndim; d++) off += idx[d] * b->stride[d];
        if (!dc__load_truth(p, b->dtype, off)) {
            char where[160];
            dc_error("%s: integer division by zero (the divisor is 0 at index %s)", name,
                     dc__shape_fmt(b->ndim, idx, where, sizeof where));
            return false;
        }
        for (int d = b->ndim - 1; d >= 0; d--) {
            if (++idx[d] < b->shape[d]) break;
            idx[d] = 0;
        }
    }
    return true;
}

static dc_tensor *binary(binary_op op, dc_tensor *a, dc_tensor *b)
{
    const char *name = binary_names[op];
    if (!a) return dc_error("%s: input 'a' is NULL", name);
    if (!b) return dc_error("%s: input 'b' is NULL", name);
    if (!is_logical(op) && (!dc__check_same_dtype(a, b, name) ||
                            !check_op_dtype(op, a->dtype, name)))
        return NULL;
    if ((op == BIN_FLOORDIV || op == BIN_REM) && !dc_dtype_is_float(a->dtype) &&
        !check_no_zero_divisor(b, name))
        return NULL;
    int64_t shape[DC_MAX_DIMS];
    int ndim = dc__broadcast_shape(a->ndim, a->shape, b->ndim, b->shape, shape, name);
    if (ndim < 0) return NULL;
    bool to_bool = is_logical(op) || (is_comparison(op) && !dc_dtype_is_float(a->dtype));
    dc_tensor *out = dc__alloc_result(to_bool ? DC_BOOL : a->dtype, ndim, shape);
    if (!out) return NULL;
    binary_kernel(op, out, a, b, 1.0);
    static const dc_backward_fn backward[BIN_COUNT] = {
        [BIN_ADD] = add_backward, [BIN_SUB] = add_backward, [BIN_MUL] = mul_backward,
        [BIN_DIV] = div_backward, [BIN_POW] = pow_backward, [BIN_MAX] = minmax_backward,
        [BIN_MIN] = minmax_backward, [BIN_REM] = remainder_backward,
    };
    /* comparisons, logical ops and floor division are piecewise constant: no gradient;
     * integer inputs never require grad */
    if (!backward[op] || !dc_dtype_is_float(a->dtype)) return dc__publish(out);
    dc_node *node;
    if (dc__record(out, name + 3, backward[op], 2, (dc_tensor *[]){a, b}, &node) != 0) {
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
dc_tensor *dc_floor_divide(dc_tensor *a, dc_tensor *b) { return binary(BIN_FLOORDIV, a, b); }
dc_tensor *dc_remainder(dc_tensor *a, dc_tensor *b) { return binary(BIN_REM, a, b); }
dc_tensor *dc_eq(dc_tensor *a, dc_tensor *b) { return binary(BIN_EQ, a, b); }
dc_tensor *dc_ne(dc_tensor *a, dc_tensor *b) { return binary(BIN_NE, a, b); }
dc_tensor *dc_gt(dc_tensor *a, dc_tensor *b) { return binary(BIN_GT, a, b); }
dc_tensor *dc_lt(dc_tensor *a, dc_tensor *b) { return binary(BIN_LT, a, b); }
dc_tensor *dc_ge(dc_tensor *a, dc_tensor *b) { return binary(BIN_GE, a, b); }
dc_tensor *dc_le(dc_tensor *a, dc_tensor *b) { return binary(BIN_LE, a, b); }
dc_tensor *dc_logical_and(dc_tensor *a, dc_tensor *b) { return binary(BIN_AND, a, b); }
dc_tensor *dc_logical_or(dc_tensor *a, dc_tensor *b) { return binary(BIN_OR, a, b); }
dc_tensor *dc_logical_xor(dc_tensor *a, dc_tensor *b) { return binary(BIN_XOR, a, b); }

/* A 0-dim tensor of dtype holding s, or NULL with an error naming api: integer dtypes take
 * integral scalars that they hold (checked by dc__fill). */
static dc_tensor *scalar_for(dc_dtype dtype, double s, const char *api)
{
    if (!dc_dtype_is_float(dtype) && !(isfinite(s) && s == trunc(s)))
        return dc_error("%s: the scalar %.17g is not an integer, and the tensor is %s (no "
                        "implicit promotion: convert it with dc_to_dtype)", api, s,
                        dc_dtype_name(dtype));
    dc_tensor *t = dc__alloc_result(dtype, 0, NULL);
    if (t && dc__fill(t, s, api) != 0) {
        dc_tensor_free(t);
        return NULL;
    }
    return dc__publish(t);
}

/* Scalar variants: the scalar becomes a 0-dim tensor of a's dtype (broadcast for free). */
static dc_tensor *with_scalar(binary_op op, dc_tensor *a, double s, bool scalar_first,
                              const char *api)
{
    if (!a) return dc_error("%s: input 'a' is NULL", api);
    if (!dc_dtype_is_float(a->dtype) && (op == BIN_POW || a->dtype == DC_BOOL))
        return dc_error("%s: expected a float32 or float64 tensor%s, got %s", api,
                        op == BIN_POW ? "" : " (or an integer one)", dc_dtype_name(a->dtype));
    size_t scope = dc_scope_begin();
    dc_tensor *st = scalar_for(a->dtype, s, api);
    dc_tensor *out = st ? (scalar_first ? binary(op, st, a) : binary(op, a, st)) : NULL;
    return dc_scope_return(scope, out);
}

dc_tensor *dc_add_scalar(dc_tensor *a, double s)
{
    return with_scalar(BIN_ADD, a, s, false, "dc_add_scalar");
}
dc_tensor *dc_mul_scalar(dc_tensor *a, double s)
{
    return with_scalar(BIN_MUL, a, s, false, "dc_mul_scalar");
}
dc_tensor *dc_pow_scalar(dc_tensor *a, double e)
{
    return with_scalar(BIN_POW, a, e, false, "dc_pow_scalar");
}
dc_tensor *dc_rsub_scalar(dc_tensor *a, double s)
{
    return with_scalar(BIN_SUB, a, s, true, "dc_rsub_scalar");
}

/* ---- Logical not and the all/any reductions (no gradient) -------------------------------- */

typedef struct {
    const char *src;
    char *out;
    dc_dtype dtype;
    atomic_bool seen_true, seen_false;
} truth_job;

static void not_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const truth_job *j = ctx;
    uint8_t *o = (uint8_t *)j->out + off[0];
    const char *s = j->src + (size_t)off[1] * dc__elsize(j->dtype);
    for (int64_t i = 0; i < n; i++)
        o[i * it->inner_stride[0]] = !dc__load_truth(s, j->dtype, i * it->inner_stride[1]);
}

dc_tensor *dc_logical_not(dc_tensor *a)
{
    DC_CHECK_TENSOR(a, "dc_logical_not");
    dc_tensor *out = dc__alloc_result(DC_BOOL, a->ndim, a->shape);
    if (!out) return NULL;
    int64_t strides[2][DC_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        strides[0][d] = out->stride[d];
        strides[1][d] = a->stride[d];
    }
    dc_iter it;
    dc__iter_init(&it, a->ndim, a->shape, 2, strides);
    truth_job j = {.src = dc_data(a), .out = dc_data(out), .dtype = a->dtype};
    dc__iter_run(&it, ELEMENTWISE_GRAIN, not_segment, &j);
    return dc__publish(out);
}

static void truth_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    truth_job *j = ctx;
    const char *s = j->src + (size_t)off[0] * dc__elsize(j->dtype);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++) count += dc__load_truth(s, j->dtype, i * it->inner_stride[0]);
    if (count > 0) atomic_store(&j->seen_true, true);
    if (count < n) atomic_store(&j->seen_false, true);
}

/* A 0-dim bool: any element nonzero (want_all false) / every element nonzero (true). */
static dc_tensor *truth_reduce(dc_tensor *a, bool want_all, const char *api)
{
    DC_CHECK_TENSOR(a, api);
    int64_t strides[1][DC_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) strides[0][d] = a->stride[d];
    dc_iter it;
    dc__iter_init(&it, a->ndim, a->shape, 1, strides);
    truth_job j = {.src = dc_data(a), .dtype = a->dtype};
    atomic_init(&j.seen_true, false);
    atomic_init(&j.seen_false, false);
    dc__iter_run(&it, ELEMENTWISE_GRAIN, truth_segment, &j);
    dc_tensor *out = dc__alloc_result(DC_BOOL, 0, NULL);
    if (!out) return NULL;
    *(uint8_t *)dc_data(out) = want_all ? !atomic_load(&j.seen_false) : atomic_load(&j.seen_true);
    return dc__publish(out);
}

dc_tensor *dc_any(dc_tensor *a) { return truth_reduce(a, false, "dc_any"); }
dc_tensor *dc_all(dc_tensor *a) { return truth_reduce(a, true, "dc_all"); }

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

static void where_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const where_job *j = ctx;
    const size_t es = dc__elsize(j->dtype);
    char *o = j->out + off[0] * es;
    const char *c = j->cond + off[1] * dc__elsize(j->cond_dtype);
    const char *a = j->a + off[2] * es, *b = j->b + off[3] * es;
    const int64_t *s = it->inner_stride;
#define WHERE_LOOP(T)                                                                          \
    for (int64_t i = 0; i < n; i++)                                                            \
        ((T *)o)[i * s[0]] = dc__load_truth(c, j->cond_dtype, i * s[1])                        \
                                 ? ((const T *)a)[i * s[2]]                                    \
                                 : ((const T *)b)[i * s[3]]
    switch (es) { /* the values are copied, so only their size matters */
    case 1: WHERE_LOOP(uint8_t); break;
    case 4: WHERE_LOOP(uint32_t); break;
    default: WHERE_LOOP(uint64_t); break;
    }
#undef WHERE_LOOP
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
    if (!dc__check_same_dtype(a, b, "dc_where")) return NULL;
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
    if (!dc_dtype_is_float(a->dtype)) return dc__publish(out); /* no gradient */
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
    dc_tensor *fill = scalar_for(t->dtype, value, "dc_masked_fill");
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
