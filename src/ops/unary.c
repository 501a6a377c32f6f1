/* Unary math and activations (book §4.3): y = f(x) elementwise.
 * Backward is one fused pass dx = g * f'(x, y), computed from the saved input x and/or
 * output y, so activations cost no temporaries in training. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>

typedef enum {
    U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_TANH, U_SIGMOID, U_RELU, U_SIN, U_COS,
    U_LEAKY_RELU, U_GELU, U_GELU_TANH, U_SILU, U_SOFTPLUS,
} unary_op;

typedef struct {
    unary_op op;
    dc_dtype dtype;
    double p0, p1;               /* parameters: slope; softplus beta, threshold */
    char *out;
    const char *x, *y, *g;       /* forward reads x; backward reads g and x / y */
} unary_job;

#define SQRT_2_OVER_PI 0.79788456080286535588
#define INV_SQRT_2 0.70710678118654752440
#define INV_SQRT_2PI 0.39894228040143267794

/* Forward formulas, f(x). */
#define UNARY_FORWARD(T, M)                                                                    \
    switch (j->op) {                                                                           \
    case U_NEG: UNARY_LOOP(T, -x); break;                                                      \
    case U_EXP: UNARY_LOOP(T, M(exp)(x)); break;                                               \
    case U_LOG: UNARY_LOOP(T, M(log)(x)); break;                                               \
    case U_SQRT: UNARY_LOOP(T, M(sqrt)(x)); break;                                             \
    case U_ABS: UNARY_LOOP(T, M(fabs)(x)); break;                                              \
    case U_TANH: UNARY_LOOP(T, M(tanh)(x)); break;                                             \
    /* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise: no overflow on either side */            \
    case U_SIGMOID: UNARY_LOOP(T, x >= 0 ? 1 / (1 + M(exp)(-x)) : M(exp)(x) / (1 + M(exp)(x))); break; \
    case U_RELU: UNARY_LOOP(T, x > 0 ? x : 0); break;                                          \
    case U_SIN: UNARY_LOOP(T, M(sin)(x)); break;                                               \
    case U_COS: UNARY_LOOP(T, M(cos)(x)); break;                                               \
    case U_LEAKY_RELU: UNARY_LOOP(T, x > 0 ? x : (T)j->p0 * x); break;                         \
    case U_GELU: UNARY_LOOP(T, (T)0.5 * x * (1 + M(erf)(x * (T)INV_SQRT_2))); break;           \
    case U_GELU_TANH:                                                                          \
        UNARY_LOOP(T, (T)0.5 * x * (1 + M(tanh)((T)SQRT_2_OVER_PI * (x + (T)0.044715 * x * x * x)))); \
        break;                                                                                 \
    case U_SILU: UNARY_LOOP(T, x / (1 + M(exp)(-x))); break;                                   \
    case U_SOFTPLUS:                                                                           \
        UNARY_LOOP(T, x * (T)j->p0 > (T)j->p1 ? x : M(log1p)(M(exp)(x * (T)j->p0)) / (T)j->p0); \
        break;                                                                                 \
    }

/* Derivatives g * f'(x) with y = f(x) available. */
#define UNARY_BACKWARD(T, M)                                                                   \
    switch (j->op) {                                                                           \
    case U_NEG: BACKWARD_LOOP(T, -g); break;                                                   \
    case U_EXP: BACKWARD_LOOP(T, g * y); break;                                                \
    case U_LOG: BACKWARD_LOOP(T, g / x); break;                                                \
    case U_SQRT: BACKWARD_LOOP(T, g / (2 * y)); break;                                         \
    case U_ABS: BACKWARD_LOOP(T, x > 0 ? g : x < 0 ? -g : 0); break;                           \
    case U_TANH: BACKWARD_LOOP(T, g * (1 - y * y)); break;                                     \
    case U_SIGMOID: BACKWARD_LOOP(T, g * y * (1 - y)); break;                                  \
    case U_RELU: BACKWARD_LOOP(T, x > 0 ? g : 0); break;                                       \
    case U_SIN: BACKWARD_LOOP(T, g * M(cos)(x)); break;                                        \
    case U_COS: BACKWARD_LOOP(T, -g * M(sin)(x)); break;                                       \
    case U_LEAKY_RELU: BACKWARD_LOOP(T, x > 0 ? g : g * (T)j->p0); break;                      \
    /* d/dx x Phi(x) = Phi(x) + x phi(x) */                                                    \
    case U_GELU:                                                                               \
        BACKWARD_LOOP(T, g * ((T)0.5 * (1 + M(erf)(x * (T)INV_SQRT_2)) +                       \
                              x * (T)INV_SQRT_2PI * M(exp)((T)-0.5 * x * x)));                 \
        break;                                                                                 \
    /* u = k (x + c x^3): d/dx 0.5 x (1 + tanh u) = 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2) */ \
    case U_GELU_TANH:                                                                          \
        BACKWARD_LOOP(T, g * gelu_tanh_grad_##T(x));                                           \
        break;                                                                                 \
    /* s + x s (1 - s), s = sigmoid(x) */                                                      \
    case U_SILU: BACKWARD_LOOP(T, g * silu_grad_##T(x)); break;                                \
    /* sigmoid(beta x), and 1 above the threshold */                                           \
    case U_SOFTPLUS:                                                                           \
        BACKWARD_LOOP(T, x * (T)j->p0 > (T)j->p1 ? g : g / (1 + M(exp)(-x * (T)j->p0)));      \
        break;                                                                                 \
    }

#define FLOAT_MATH(name) name##f
#define DOUBLE_MATH(name) name

static inline float gelu_tanh_grad_float(float x)
{
    float t = tanhf((float)SQRT_2_OVER_PI * (x + 0.044715f * x * x * x));
    return 0.5f * (1 + t) + 0.5f * x * (1 - t * t) * (float)SQRT_2_OVER_PI * (1 + 3 * 0.044715f * x * x);
}
static inline double gelu_tanh_grad_double(double x)
{
    double t = tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}
static inline float silu_grad_float(float x)
{
    float s = 1 / (1 + expf(-x));
    return s * (1 + x * (1 - s));
}
static inline double silu_grad_double(double x)
{
    double s = 1 / (1 + exp(-x));
    return s * (1 + x * (1 - s));
}

/* Operands of the iteration: 0 = out, 1 = x, 2 = y (backward), 3 = g (backward). */
#define UNARY_LOOP(T, EXPR)                                                                    \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *px = (const T *)j->x + off[1];                                                \
        const int64_t so = it->inner_stride[0], sx = it->inner_stride[1];                      \
        if (so == 1 && sx == 1) {                                                              \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = px[i];                                                                   \
                o[i] = (EXPR);                                                                 \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = px[i * sx];                                                              \
                o[i * so] = (EXPR);                                                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define BACKWARD_LOOP(T, EXPR)                                                                 \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *px = (const T *)j->x + off[1], *py = (const T *)j->y + off[2];                \
        const T *pg = (const T *)j->g + off[3];                                                \
        const int64_t *s = it->inner_stride;                                                   \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T x = px[i * s[1]], y = py[i * s[2]], g = pg[i * s[3]];                            \
            (void)x, (void)y;                                                                  \
            o[i * s[0]] = (EXPR);                                                              \
        }                                                                                      \
    } while (0)

static void forward_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const unary_job *j = ctx;
    if (j->dtype == DC_F32) {
        UNARY_FORWARD(float, FLOAT_MATH)
    } else {
        UNARY_FORWARD(double, DOUBLE_MATH)
    }
}

static void backward_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const unary_job *j = ctx;
    if (j->dtype == DC_F32) {
        UNARY_BACKWARD(float, FLOAT_MATH)
    } else {
        UNARY_BACKWARD(double, DOUBLE_MATH)
    }
}

/* Run `segment` over out's shape with the given operands (NULL operands alias x). */
static void run(unary_job *j, dc_tensor *out, const dc_tensor *x, const dc_tensor *y,
                const dc_tensor *g, dc_segment_fn segment)
{
    const dc_tensor *ops[4] = {out, x, y ? y : x, g ? g : x};
    int64_t strides[4][DC_MAX_DIMS];
    for (int k = 0; k < 4; k++)
        for (int d = 0; d < out->ndim; d++) strides[k][d] = ops[k]->stride[d];
    dc_iter it;
    dc__iter_init(&it, out->ndim, out->shape, g ? 4 : 2, strides);
    j->out = dc_data(out);
    j->x = dc_data(x);
    j->y = dc_data(ops[2]);
    j->g = dc_data(ops[3]);
    dc__iter_run(&it, 16384, segment, j);
}

static const char *const unary_names[] = {
    [U_NEG] = "neg", [U_EXP] = "exp", [U_LOG] = "log", [U_SQRT] = "sqrt", [U_ABS] = "abs",
    [U_TANH] = "tanh", [U_SIGMOID] = "sigmoid", [U_RELU] = "relu", [U_SIN] = "sin",
    [U_COS] = "cos", [U_LEAKY_RELU] = "leaky_relu", [U_GELU] = "gelu",
    [U_GELU_TANH] = "gelu_tanh", [U_SILU] = "silu", [U_SOFTPLUS] = "softplus",
};

/* The same derivatives from differentiable ops, for a backward pass that records its own
 * graph (dc_grad with create_graph: grad mode is on and x, y are the live tensors). NULL with
 * an error for the ops this does not cover (exact GELU needs erf). */
static dc_tensor *unary_backward_graph(unary_op op, dc_tensor *x, dc_tensor *y, dc_tensor *g,
                                       double p0, double p1)
{
    switch (op) {
    case U_NEG: return dc_neg(g);
    case U_EXP: return dc_mul(g, y);
    case U_LOG: return dc_div(g, x);
    case U_SQRT: return dc_div(g, dc_mul_scalar(y, 2.0));
    case U_ABS: return dc_mul(g, dc_sub(dc_gt(x, dc_zeros_like(x)), dc_lt(x, dc_zeros_like(x))));
    case U_TANH: return dc_mul(g, dc_rsub_scalar(dc_mul(y, y), 1.0));
    case U_SIGMOID: return dc_mul(g, dc_mul(y, dc_rsub_scalar(y, 1.0)));
    case U_RELU: return dc_mul(g, dc_gt(x, dc_zeros_like(x)));
    case U_SIN: return dc_mul(g, dc_cos(x));
    case U_COS: return dc_neg(dc_mul(g, dc_sin(x)));
    case U_LEAKY_RELU: {
        dc_tensor *positive = dc_gt(x, dc_zeros_like(x)); /* slope + (1 - slope) [x > 0] */
        return dc_mul(g, dc_add_scalar(dc_mul_scalar(positive, 1.0 - p0), p0));
    }
    case U_GELU_TANH: { /* 0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3c x^2), t = tanh(k (x + c x^3)) */
        dc_tensor *x2 = dc_mul(x, x);
        dc_tensor *t = dc_tanh(dc_mul_scalar(dc_mul(x, dc_add_scalar(dc_mul_scalar(x2, 0.044715), 1.0)),
                                             SQRT_2_OVER_PI));
        dc_tensor *left = dc_mul_scalar(dc_add_scalar(t, 1.0), 0.5);
        dc_tensor *right = dc_mul(dc_mul_scalar(x, 0.5 * SQRT_2_OVER_PI),
                                  dc_mul(dc_rsub_scalar(dc_mul(t, t), 1.0),
                                         dc_add_scalar(dc_mul_scalar(x2, 3 * 0.044715), 1.0)));
        return dc_mul(g, dc_add(left, right));
    }
    case U_SILU: { /* s (1 + x (1 - s)) */
        dc_tensor *s = dc_sigmoid(x);
        return dc_mul(g, dc_mul(s, dc_add_scalar(dc_mul(x, dc_rsub_scalar(s, 1.0)), 1.0)));
    }
    case U_SOFTPLUS: { /* sigmoid(beta x), 1 above the threshold */
        dc_tensor *above = dc_gt(dc_mul_scalar(x, p0), dc_full(x->dtype, 0, NULL, p1));
        return dc_mul(g, dc_where(above, dc_ones_like(x), dc_sigmoid(dc_mul_scalar(x, p0))));
    }
    default:
        return dc_error("dc_grad: create_graph through '%s' is not supported yet",
                        unary_names[op]);
    }
}

static int unary_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *y = node->saved[1];
    if (!x || !y) return dc_error("dc_backward: %s lost its saved tensors", node->op), -1;
    if (dc__grad_enabled) { /* create_graph */
        grads[0] = unary_backward_graph((unary_op)node->i[0], x, y, g, node->f[0], node->f[1]);
        return grads[0] ? 0 : -1;
    }
    dc_tensor *dx = dc__alloc_result(g->dtype, g->ndim, g->shape);
    if (!dx) return -1;
    unary_job j = {.op = (unary_op)node->i[0], .dtype = g->dtype, .p0 = node->f[0], .p1 = node->f[1]};
    run(&j, dx, x, y, g, backward_segment);
    grads[0] = dc__publish(dx);
    return grads[0] ? 0 : -1;
}


static dc_tensor *unary(unary_op op, dc_tensor *a, double p0, double p1)
{
    const char *name = unary_names[op];
    if (!a) return dc_error("dc_%s: input is NULL", name);
    if (!dc__check_float(a, name)) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    unary_job j = {.op = op, .dtype = a->dtype, .p0 = p0, .p1 = p1};
    run(&j, out, a, NULL, NULL, forward_segment);
    dc_node *node;
    if (dc__record(out, name, unary_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = op;
        node->f[0] = p0;
        node->f[1] = p1;
        dc__save(node, a);   /* saved[0] = x */
        dc__save(node, out); /* saved[1] = y */
    }
    return dc__publish(out);
}

dc_tensor *dc_neg(dc_tensor *a) { return unary(U_NEG, a, 0, 0); }
dc_tensor *dc_exp(dc_tensor *a) { return unary(U_EXP, a, 0, 0); }
dc_tensor *dc_log(dc_tensor *a) { return unary(U_LOG, a, 0, 0); }
dc_tensor *dc_sqrt(dc_tensor *a) { return unary(U_SQRT, a, 0, 0); }
dc_tensor *dc_abs(dc_tensor *a) { return unary(U_ABS, a, 0, 0); }
dc_tensor *dc_tanh(dc_tensor *a) { return unary(U_TANH, a, 0, 0); }
dc_tensor *dc_sigmoid(dc_tensor *a) { return unary(U_SIGMOID, a, 0, 0); }
dc_tensor *dc_relu(dc_tensor *a) { return unary(U_RELU, a, 0, 0); }
dc_tensor *dc_sin(dc_tensor *a) { return unary(U_SIN, a, 0, 0); }
dc_tensor *dc_cos(dc_tensor *a) { return unary(U_COS, a, 0, 0); }
dc_tensor *dc_leaky_relu(dc_tensor *a, double slope) { return unary(U_LEAKY_RELU, a, slope, 0); }
dc_tensor *dc_gelu(dc_tensor *a, bool approximate)
{
    return unary(approximate ? U_GELU_TANH : U_GELU, a, 0, 0);
}
dc_tensor *dc_silu(dc_tensor *a) { return unary(U_SILU, a, 0, 0); }
dc_tensor *dc_softplus(dc_tensor *a, double beta, double threshold)
{
    if (!(beta > 0)) return dc_error("dc_softplus: beta must be positive, got %g", beta);
    return unary(U_SOFTPLUS, a, beta, threshold);
}
