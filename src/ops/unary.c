/* Unary math: y = f(x) elementwise, dy/dx from the saved input or output. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>

typedef enum { U_NEG, U_EXP, U_LOG, U_SQRT, U_ABS, U_TANH, U_SIGMOID, U_RELU, U_SIN, U_COS } unary_op;

typedef struct {
    unary_op op;
    char *out;
    const char *in;
    dc_dtype dtype;
} unary_job;

#define UNARY_LOOP(T, EXPR)                                                                    \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *p = (const T *)j->in + off[1];                                                \
        const int64_t so = it->inner_stride[0], si = it->inner_stride[1];                      \
        if (so == 1 && si == 1) {                                                              \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = p[i];                                                                    \
                o[i] = (EXPR);                                                                 \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                T x = p[i * si];                                                               \
                o[i * so] = (EXPR);                                                            \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define UNARY_SWITCH(T, EXP, LOG, SQRT, FABS, TANH, SIN, COS)                                  \
    switch (j->op) {                                                                           \
    case U_NEG: UNARY_LOOP(T, -x); break;                                                      \
    case U_EXP: UNARY_LOOP(T, EXP(x)); break;                                                  \
    case U_LOG: UNARY_LOOP(T, LOG(x)); break;                                                  \
    case U_SQRT: UNARY_LOOP(T, SQRT(x)); break;                                                \
    case U_ABS: UNARY_LOOP(T, FABS(x)); break;                                                 \
    case U_TANH: UNARY_LOOP(T, TANH(x)); break;                                                \
    /* 1/(1+e^-x) for x >= 0, e^x/(1+e^x) otherwise: no overflow either side */               \
    case U_SIGMOID: UNARY_LOOP(T, x >= 0 ? 1 / (1 + EXP(-x)) : EXP(x) / (1 + EXP(x))); break; \
    case U_RELU: UNARY_LOOP(T, x > 0 ? x : 0); break;                                          \
    case U_SIN: UNARY_LOOP(T, SIN(x)); break;                                                  \
    case U_COS: UNARY_LOOP(T, COS(x)); break;                                                  \
    }

static void unary_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const unary_job *j = ctx;
    if (j->dtype == DC_F32) {
        UNARY_SWITCH(float, expf, logf, sqrtf, fabsf, tanhf, sinf, cosf)
    } else {
        UNARY_SWITCH(double, exp, log, sqrt, fabs, tanh, sin, cos)
    }
}

/* ---- Backward (in terms of other ops; runs with grad mode off) ------------------------------ */

static int unary_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *y = node->saved[1];
    dc_tensor *zero = dc_scalar(g->dtype, 0.0);
    switch ((unary_op)node->i[0]) {
    case U_NEG: grads[0] = dc_neg(g); break;
    case U_EXP: grads[0] = dc_mul(g, y); break;                          /* e^x */
    case U_LOG: grads[0] = dc_div(g, x); break;                          /* 1/x */
    case U_SQRT: grads[0] = dc_div(dc_mul_scalar(g, 0.5), y); break;     /* 1/(2 sqrt x) */
    case U_ABS: grads[0] = dc_mul(g, dc_sub(dc_gt(x, zero), dc_lt(x, zero))); break; /* sign */
    case U_TANH: grads[0] = dc_mul(g, dc_rsub_scalar(dc_mul(y, y), 1.0)); break;     /* 1-y^2 */
    case U_SIGMOID: grads[0] = dc_mul(g, dc_mul(y, dc_rsub_scalar(y, 1.0))); break;  /* y(1-y) */
    case U_RELU: grads[0] = dc_mul(g, dc_gt(x, zero)); break;
    case U_SIN: grads[0] = dc_mul(g, dc_cos(x)); break;
    case U_COS: grads[0] = dc_neg(dc_mul(g, dc_sin(x))); break;
    }
    return grads[0] ? 0 : -1;
}

static const char *const unary_names[] = {
    [U_NEG] = "neg", [U_EXP] = "exp", [U_LOG] = "log", [U_SQRT] = "sqrt", [U_ABS] = "abs",
    [U_TANH] = "tanh", [U_SIGMOID] = "sigmoid", [U_RELU] = "relu", [U_SIN] = "sin", [U_COS] = "cos",
};

static dc_tensor *unary(unary_op op, dc_tensor *a)
{
    const char *name = unary_names[op];
    if (!a) return dc_error("dc_%s: input is NULL", name);
    if (!dc__check_float(a, name)) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    int64_t strides[2][DC_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        strides[0][d] = out->stride[d];
        strides[1][d] = a->stride[d];
    }
    dc_iter it;
    dc__iter_init(&it, a->ndim, a->shape, 2, strides);
    unary_job j = {op, dc_data(out), dc_data(a), a->dtype};
    dc__iter_run(&it, 16384, unary_segment, &j);
    dc_node *node;
    if (dc__record(out, name, unary_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = op;
        dc__save(node, a);   /* saved[0] = x */
        dc__save(node, out); /* saved[1] = y */
    }
    return dc__publish(out);
}

dc_tensor *dc_neg(dc_tensor *a) { return unary(U_NEG, a); }
dc_tensor *dc_exp(dc_tensor *a) { return unary(U_EXP, a); }
dc_tensor *dc_log(dc_tensor *a) { return unary(U_LOG, a); }
dc_tensor *dc_sqrt(dc_tensor *a) { return unary(U_SQRT, a); }
dc_tensor *dc_abs(dc_tensor *a) { return unary(U_ABS, a); }
dc_tensor *dc_tanh(dc_tensor *a) { return unary(U_TANH, a); }
dc_tensor *dc_sigmoid(dc_tensor *a) { return unary(U_SIGMOID, a); }
dc_tensor *dc_relu(dc_tensor *a) { return unary(U_RELU, a); }
dc_tensor *dc_sin(dc_tensor *a) { return unary(U_SIN, a); }
dc_tensor *dc_cos(dc_tensor *a) { return unary(U_COS, a); }
