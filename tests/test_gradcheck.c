/* Every differentiable op's backward against central finite differences, in float64.
 *
 * One table (in the style of ggml's test-backend-ops) drives it: a row names the case, the
 * dc_ functions it covers, its inputs (shape and value domain) and a one-line function that
 * calls the op. Adding an op = adding rows here. Rows marked NC are run a second time with
 * every input replaced by a non-contiguous view (transposed and sliced with a step out of a
 * bigger tensor) holding the same values: the forward must agree with the contiguous run and
 * the gradients must pass the check through the view's strides.
 *
 * test_gradcheck_covers_every_op reads the public headers and fails if a function returning
 * a dc_tensor * is neither covered by a row nor listed, with its reason, in
 * not_differentiable[] below. */
#include "gradcheck.h"

#include <stdlib.h>

/* ---- Inputs ------------------------------------------------------------------------------ */

typedef enum {
    ANY,            /* U(-2, 2) */
    POSITIVE,       /* U(0.5, 2): log, sqrt, bases of pow */
    AWAY_FROM_ZERO, /* |x| in [0.5, 2): kinks of abs/relu at 0, divisors */
    PROBABILITY,    /* U(0.1, 0.9): inputs of binary cross-entropy */
    TARGET,         /* U(0, 1), no gradient: BCE soft targets, batch norm running stats */
    MASK,           /* 0/1 float64, no gradient: conditions of where / masked_fill */
    INDEX,          /* int64 in [0, high): gather / index_select */
} domain;

typedef struct {
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    domain dom;
    int64_t high; /* INDEX only */
} input_spec;

/* The table and its macros read best one row per line: */
/* clang-format off */
#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define IN(dom, ...) {NDIMS(__VA_ARGS__), {__VA_ARGS__}, (dom), 0}
#define T(...) IN(ANY, __VA_ARGS__)
#define SCALAR_IN(dom) {0, {0}, (dom), 0}
#define S SCALAR_IN(ANY)
#define IDX(high, ...) {NDIMS(__VA_ARGS__), {__VA_ARGS__}, INDEX, (high)}

/* ---- The table ------------------------------------------------------------------------- */

#define MAX_INPUTS 4
typedef dc_tensor *(*case_fn)(dc_tensor *const *x);

typedef struct {
    const char *family; /* one TEST per family */
    const char *name;
    const char *covers; /* the dc_ functions this row exercises, space separated */
    case_fn fn;
    int n_inputs;
    input_spec in[MAX_INPUTS];
    bool noncontig; /* also rerun with non-contiguous inputs */
} op_case;

#define NC true

/* One-line case functions: x[] are the row's inputs in order. */
#define FN(name, expr)                                                                         \
    static dc_tensor *name(dc_tensor *const *x) { return (expr); }

FN(f_add, dc_add(x[0], x[1]))
FN(f_sub, dc_sub(x[0], x[1]))
FN(f_mul, dc_mul(x[0], x[1]))
FN(f_square, dc_mul(x[0], x[0]))
FN(f_div, dc_div(x[0], x[1]))
FN(f_pow, dc_pow(x[0], x[1]))
FN(f_maximum, dc_maximum(x[0], x[1]))
FN(f_minimum, dc_minimum(x[0], x[1]))
FN(f_add_scalar, dc_add_scalar(x[0], 1.5))
FN(f_mul_scalar, dc_mul_scalar(x[0], -2.5))
FN(f_rsub_scalar, dc_rsub_scalar(x[0], 0.75))
FN(f_pow_scalar_frac, dc_pow_scalar(x[0], 2.5))
FN(f_pow_scalar_int, dc_pow_scalar(x[0], 3.0))
FN(f_pow_scalar_neg, dc_pow_scalar(x[0], -1.5))
FN(f_where, dc_where(x[0], x[1], x[2]))
FN(f_masked_fill, dc_masked_fill(x[0], x[1], 0.5))
FN(f_sum_to_3x1, dc_sum_to_shape(x[0], 2, (int64_t[]){3, 1}))
FN(f_sum_to_scalar, dc_sum_to_shape(x[0], 0, NULL))
FN(f_sum_to_same, dc_sum_to_shape(x[0], 2, (int64_t[]){3, 4}))

FN(f_neg, dc_neg(x[0]))
FN(f_exp, dc_exp(x[0]))
FN(f_log, dc_log(x[0]))
FN(f_sqrt, dc_sqrt(x[0]))
FN(f_abs, dc_abs(x[0]))
FN(f_tanh, dc_tanh(x[0]))
FN(f_sigmoid, dc_sigmoid(x[0]))
FN(f_relu, dc_relu(x[0]))
FN(f_sin, dc_sin(x[0]))
FN(f_cos, dc_cos(x[0]))

FN(f_sum_d1, dc_sum(x[0], 1, (int[]){1}, false))
FN(f_sum_d02_keep, dc_sum(x[0], 2, (int[]){0, 2}, true))
FN(f_sum_dlast, dc_sum(x[0], 1, (int[]){-1}, false))
FN(f_sum_all_dims, dc_sum(x[0], 0, NULL, false))
FN(f_sum_all_dims_keep, dc_sum(x[0], 0, NULL, true))
FN(f_mean_d1, dc_mean(x[0], 1, (int[]){1}, false))
FN(f_mean_d02_keep, dc_mean(x[0], 2, (int[]){0, 2}, true))
FN(f_mean_all_dims, dc_mean(x[0], 0, NULL, false))
FN(f_var_d1, dc_var(x[0], 1, (int[]){1}, 1, false))
FN(f_var_d02_biased_keep, dc_var(x[0], 2, (int[]){0, 2}, 0, true))
FN(f_var_all, dc_var(x[0], 0, NULL, 1, false))
FN(f_var_dlast_keep, dc_var(x[0], 1, (int[]){-1}, 1, true))
FN(f_max_d1, dc_max(x[0], 1, false))
FN(f_max_dlast_keep, dc_max(x[0], -1, true))
FN(f_max_d0, dc_max(x[0], 0, false))
FN(f_max_d0_keep, dc_max(x[0], 0, true))
FN(f_sum_all, dc_sum_all(x[0]))
FN(f_mean_all, dc_mean_all(x[0]))

FN(f_matmul, dc_matmul(x[0], x[1]))

FN(f_softmax_dlast, dc_softmax(x[0], -1))
FN(f_softmax_d0, dc_softmax(x[0], 0))
FN(f_softmax_d1, dc_softmax(x[0], 1))
FN(f_log_softmax_dlast, dc_log_softmax(x[0], -1))
FN(f_log_softmax_d0, dc_log_softmax(x[0], 0))
FN(f_log_softmax_d1, dc_log_softmax(x[0], 1))

FN(f_gather_d1, dc_gather(x[0], 1, x[1]))
FN(f_gather_d0, dc_gather(x[0], 0, x[1]))
FN(f_gather_dlast, dc_gather(x[0], -1, x[1]))
FN(f_index_select_d0, dc_index_select(x[0], 0, x[1]))
FN(f_index_select_d1, dc_index_select(x[0], 1, x[1]))
FN(f_cat3_d0, dc_cat(x, 3, 0))
FN(f_cat2_d1, dc_cat(x, 2, 1))
FN(f_cat2_dlast, dc_cat(x, 2, -1))
FN(f_stack3_d0, dc_stack(x, 3, 0))
FN(f_stack2_dlast, dc_stack(x, 2, 2))
FN(f_stack2_d1, dc_stack(x, 2, 1))

FN(f_reshape_2x6, dc_reshape(x[0], 2, (int64_t[]){2, 6}))
FN(f_reshape_flat, dc_reshape(x[0], 1, (int64_t[]){-1}))
FN(f_reshape_4xNx2, dc_reshape(x[0], 3, (int64_t[]){4, -1, 2}))
FN(f_reshape_1x1, dc_reshape(x[0], 2, (int64_t[]){1, 1}))
FN(f_view_4x3, dc_view(x[0], 2, (int64_t[]){4, 3}))
FN(f_view_6x4, dc_view(x[0], 2, (int64_t[]){6, 4}))
FN(f_flatten_01, dc_flatten(x[0], 0, 1))
FN(f_flatten_1_last, dc_flatten(x[0], 1, -1))
FN(f_flatten_scalar, dc_flatten(x[0], 0, -1))
FN(f_permute_201, dc_permute(x[0], (int[]){2, 0, 1}))
FN(f_permute_10, dc_permute(x[0], (int[]){1, 0}))
FN(f_transpose_01, dc_transpose(x[0], 0, 1))
FN(f_transpose_02, dc_transpose(x[0], 0, 2))
FN(f_transpose_neg, dc_transpose(x[0], -1, -2))
FN(f_slice_step2, dc_slice(x[0], 0, 1, 6, 2))
FN(f_slice_neg_step3, dc_slice(x[0], -1, -5, 7, 3))
FN(f_slice_step1, dc_slice(x[0], 1, 1, 3, 1))
FN(f_narrow_d1, dc_narrow(x[0], 1, 1, 2))
FN(f_narrow_neg_start, dc_narrow(x[0], 0, -3, 2))
FN(f_select_d0, dc_select(x[0], 0, 1))
FN(f_select_last_neg, dc_select(x[0], -1, -1))
FN(f_select_to_scalar, dc_select(x[0], 0, 3))
FN(f_unsqueeze_d1, dc_unsqueeze(x[0], 1))
FN(f_unsqueeze_dlast, dc_unsqueeze(x[0], -1))
FN(f_unsqueeze_d0, dc_unsqueeze(x[0], 0))
FN(f_squeeze_d1, dc_squeeze(x[0], 1))
FN(f_squeeze_all, dc_squeeze(x[0], -100))
FN(f_squeeze_d0, dc_squeeze(x[0], 0))
FN(f_expand_3d, dc_expand(x[0], 3, (int64_t[]){2, 3, 4}))
FN(f_expand_2x3, dc_expand(x[0], 2, (int64_t[]){2, 3}))
FN(f_expand_keep, dc_expand(x[0], 2, (int64_t[]){3, -1}))
FN(f_contiguous, dc_contiguous(x[0]))
FN(f_clone, dc_clone(x[0]))
FN(f_to_f64, dc_to_dtype(x[0], DC_F64))

FN(f_leaky_relu, dc_leaky_relu(x[0], 0.01))
FN(f_leaky_relu_02, dc_leaky_relu(x[0], 0.2))
FN(f_gelu_erf, dc_gelu(x[0], false))
FN(f_gelu_tanh, dc_gelu(x[0], true))
FN(f_silu, dc_silu(x[0]))
FN(f_softplus, dc_softplus(x[0], 1.0, 20.0))
FN(f_softplus_beta2_threshold1, dc_softplus(x[0], 2.0, 1.0))
FN(f_linear, dc_linear(x[0], x[1], x[2]))
FN(f_linear_no_bias, dc_linear(x[0], x[1], NULL))

FN(f_conv2d, dc_conv2d(x[0], x[1], x[2], DC_CONV2D_DEFAULTS))
FN(f_conv2d_stride2_pad1, dc_conv2d(x[0], x[1], x[2], DC_CONV2D_OPTS(2, 1, 1, 1)))
FN(f_conv2d_dilation2_groups2, dc_conv2d(x[0], x[1], NULL, DC_CONV2D_OPTS(1, 0, 2, 2)))
FN(f_conv1d_stride2_pad1, dc_conv1d(x[0], x[1], x[2], 2, 1, 1, 1))
FN(f_conv1d_dilation2_depthwise, dc_conv1d(x[0], x[1], NULL, 1, 0, 2, 3))
FN(f_conv_transpose2d_stride2, dc_conv_transpose2d(x[0], x[1], x[2],
                                                   DC_CONV_TRANSPOSE2D_OPTS(2, 1, 1, 1, 1)))
FN(f_conv_transpose2d_default, dc_conv_transpose2d(x[0], x[1], NULL, DC_CONV_TRANSPOSE2D_DEFAULTS))
FN(f_conv_transpose1d_stride2, dc_conv_transpose1d(x[0], x[1], x[2], 2, 1, 1, 1, 1))
FN(f_max_pool2d_k2, dc_max_pool2d(x[0], DC_POOL2D_OPTS(2, 0, 0)))
FN(f_max_pool2d_k3_s2_p1, dc_max_pool2d(x[0], DC_POOL2D_OPTS(3, 2, 1)))
FN(f_avg_pool2d_k2, dc_avg_pool2d(x[0], DC_POOL2D_OPTS(2, 0, 0)))
FN(f_avg_pool2d_k3_s2_p1, dc_avg_pool2d(x[0], DC_POOL2D_OPTS(3, 2, 1)))
FN(f_max_pool1d_k2, dc_max_pool1d(x[0], 2, 0, 0))
FN(f_max_pool1d_k3_s2_p1, dc_max_pool1d(x[0], 3, 2, 1))
FN(f_avg_pool1d_k2, dc_avg_pool1d(x[0], 2, 0, 0))
FN(f_avg_pool1d_k3_s2_p1, dc_avg_pool1d(x[0], 3, 2, 1))
FN(f_adaptive_avg_pool_2x3, dc_adaptive_avg_pool2d(x[0], 2, 3))
FN(f_adaptive_avg_pool_1x1, dc_adaptive_avg_pool2d(x[0], 1, 1))
FN(f_upsample_nearest_2x3, dc_upsample_nearest2d(x[0], 2, 3))
FN(f_upsample_bilinear, dc_upsample_bilinear2d(x[0], 5, 7, false))
FN(f_upsample_bilinear_align, dc_upsample_bilinear2d(x[0], 6, 5, true))

FN(f_mse_mean, dc_mse_loss(x[0], x[1], DC_REDUCE_MEAN))
FN(f_mse_sum, dc_mse_loss(x[0], x[1], DC_REDUCE_SUM))
FN(f_mse_none, dc_mse_loss(x[0], x[1], DC_REDUCE_NONE))
FN(f_cross_entropy, dc_cross_entropy(x[0], x[1], NULL))
/* ignore_index 2 is a class id the random targets do contain */
FN(f_cross_entropy_smooth_sum_ignore2,
   dc_cross_entropy(x[0], x[1], &(dc_ce_opts){DC_REDUCE_SUM, 2, 0.1}))
FN(f_cross_entropy_none, dc_cross_entropy(x[0], x[1], &(dc_ce_opts){DC_REDUCE_NONE, -100, 0.0}))
FN(f_nll, dc_nll_loss(x[0], x[1], NULL))
FN(f_nll_ignore2_none, dc_nll_loss(x[0], x[1], &(dc_ce_opts){DC_REDUCE_NONE, 2, 0.0}))
FN(f_bce_mean, dc_bce_loss(x[0], x[1], DC_REDUCE_MEAN))
FN(f_bce_sum, dc_bce_loss(x[0], x[1], DC_REDUCE_SUM))
FN(f_bce_logits_mean, dc_bce_with_logits(x[0], x[1], DC_REDUCE_MEAN))
FN(f_bce_logits_none, dc_bce_with_logits(x[0], x[1], DC_REDUCE_NONE))
FN(f_triplet, dc_triplet_margin_loss(x[0], x[1], x[2], 1.0))
FN(f_kl_normal, dc_kl_normal(x[0], x[1]))

FN(f_sdpa, dc_scaled_dot_product_attention(x[0], x[1], x[2], NULL, false, 0.0, false, NULL))
FN(f_sdpa_causal, dc_scaled_dot_product_attention(x[0], x[1], x[2], NULL, true, 0.0, false, NULL))
FN(f_sdpa_mask, dc_scaled_dot_product_attention(x[0], x[1], x[2], x[3], false, 0.0, false, NULL))
/* Dropout from a generator seeded the same on every call: the same mask in each forward. */
static dc_tensor *f_sdpa_dropout(dc_tensor *const *x)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    return dc_scaled_dot_product_attention(x[0], x[1], x[2], NULL, true, 0.3, true, &rng);
}

FN(f_layer_norm, dc_layer_norm(x[0], 1, x[1], x[2], 1e-5))
FN(f_layer_norm_2d_no_bias, dc_layer_norm(x[0], 2, x[1], NULL, 1e-5))
FN(f_batch_norm_train, dc_batch_norm(x[0], NULL, NULL, x[1], x[2], true, 0.1, 1e-5))
FN(f_batch_norm_train_plain, dc_batch_norm(x[0], NULL, NULL, NULL, NULL, true, 0.1, 1e-5))
FN(f_batch_norm_eval, dc_batch_norm(x[0], x[1], dc_add_scalar(x[2], 0.5), x[3], NULL, false, 0.1, 1e-5))
FN(f_group_norm, dc_group_norm(x[0], 2, x[1], x[2], 1e-5))
FN(f_group_norm_plain, dc_group_norm(x[0], 3, NULL, NULL, 1e-5))
FN(f_rms_norm, dc_rms_norm(x[0], 1, x[1], 1e-6))
FN(f_rms_norm_2d_default_eps, dc_rms_norm(x[0], 2, NULL, -1.0))

/* Dropout from a generator seeded the same on every call: the same mask in each forward. */
static dc_tensor *f_dropout(dc_tensor *const *x)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    return dc_dropout(x[0], 0.4, true, &rng);
}
static dc_tensor *f_dropout2d(dc_tensor *const *x)
{
    dc_rng rng;
    dc_rng_seed(&rng, 12);
    return dc_dropout2d(x[0], 0.5, true, &rng);
}
FN(f_dropout_eval, dc_dropout(x[0], 0.4, false, NULL))

/* Case functions of the families in tests/gradcheck_rows/ (one file per family). */
#define GRADCHECK_FUNCTIONS
#include "gradcheck_rows/sorting.h"
#include "gradcheck_rows/math.h"
#include "gradcheck_rows/shapes.h"
#include "gradcheck_rows/dtypes.h"
#include "gradcheck_rows/autograd.h"
#include "gradcheck_rows/rnn.h"
#include "gradcheck_rows/signal.h"
#include "gradcheck_rows/linalg.h"
#include "gradcheck_rows/boxes.h"
#undef GRADCHECK_FUNCTIONS

/* Two rows per unary op: a 2-D tensor (also non-contiguous) and a 0-dim scalar. */
#define UNARY_ROWS(op, dom)                                                                    \
    {"unary", #op "_2d", "dc_" #op, f_##op, 1, {IN(dom, 3, 4)}, NC},                           \
        {"unary", #op "_scalar", "dc_" #op, f_##op, 1, {SCALAR_IN(dom)}, false}

static const op_case cases[] = {
    /* ---- elementwise (src/ops/elementwise.c) ---- */
    {"elementwise", "add_same", "dc_add", f_add, 2, {T(3, 4), T(3, 4)}, NC},
    {"elementwise", "add_broadcast", "dc_add", f_add, 2, {T(3, 1, 4), T(2, 4)}, NC},
    {"elementwise", "add_scalar_tensor", "dc_add", f_add, 2, {S, T(2, 3)}, NC},
    {"elementwise", "add_two_scalars", "dc_add", f_add, 2, {S, S}, false},
    {"elementwise", "sub_same", "dc_sub", f_sub, 2, {T(3, 4), T(3, 4)}, NC},
    {"elementwise", "sub_broadcast", "dc_sub", f_sub, 2, {T(2, 3), T(3)}, NC},
    {"elementwise", "sub_tensor_scalar", "dc_sub", f_sub, 2, {T(2, 3), S}, false},
    {"elementwise", "mul_same", "dc_mul", f_mul, 2, {T(3, 4), T(3, 4)}, NC},
    {"elementwise", "mul_outer_broadcast", "dc_mul", f_mul, 2, {T(4, 1), T(1, 5)}, NC},
    {"elementwise", "mul_scalar_tensor", "dc_mul", f_mul, 2, {S, T(2, 3)}, false},
    /* x * x: both gradients accumulate into one leaf */
    {"elementwise", "mul_same_input_twice", "dc_mul", f_square, 1, {T(3, 4)}, NC},
    {"elementwise", "div_same", "dc_div", f_div, 2, {T(3, 4), IN(AWAY_FROM_ZERO, 3, 4)}, NC},
    {"elementwise", "div_broadcast", "dc_div", f_div, 2, {T(3, 1, 4), IN(AWAY_FROM_ZERO, 2, 4)},
     NC},
    {"elementwise", "div_by_scalar", "dc_div", f_div, 2, {T(2, 3), SCALAR_IN(AWAY_FROM_ZERO)},
     false},
    {"elementwise", "pow_same", "dc_pow", f_pow, 2, {IN(POSITIVE, 3, 4), T(3, 4)}, NC},
    {"elementwise", "pow_broadcast", "dc_pow", f_pow, 2, {IN(POSITIVE, 2, 3), T(3)}, NC},
    {"elementwise", "pow_scalar_base", "dc_pow", f_pow, 2, {SCALAR_IN(POSITIVE), T(2, 3)},
     false},
    {"elementwise", "maximum_same", "dc_maximum", f_maximum, 2, {T(3, 4), T(3, 4)}, NC},
    {"elementwise", "maximum_broadcast", "dc_maximum", f_maximum, 2, {T(3, 1, 4), T(2, 4)}, NC},
    {"elementwise", "maximum_scalar", "dc_maximum", f_maximum, 2, {T(2, 3), S}, false},
    {"elementwise", "minimum_same", "dc_minimum", f_minimum, 2, {T(3, 4), T(3, 4)}, NC},
    {"elementwise", "minimum_broadcast", "dc_minimum", f_minimum, 2, {T(3, 1, 4), T(2, 4)}, NC},
    {"elementwise", "minimum_scalar", "dc_minimum", f_minimum, 2, {S, T(2, 3)}, false},
    {"elementwise", "add_scalar_2d", "dc_add_scalar", f_add_scalar, 1, {T(3, 4)}, NC},
    {"elementwise", "add_scalar_0d", "dc_add_scalar", f_add_scalar, 1, {S}, false},
    {"elementwise", "mul_scalar_2d", "dc_mul_scalar", f_mul_scalar, 1, {T(3, 4)}, NC},
    {"elementwise", "mul_scalar_0d", "dc_mul_scalar", f_mul_scalar, 1, {S}, false},
    {"elementwise", "rsub_scalar_2d", "dc_rsub_scalar", f_rsub_scalar, 1, {T(3, 4)}, NC},
    {"elementwise", "rsub_scalar_0d", "dc_rsub_scalar", f_rsub_scalar, 1, {S}, false},
    {"elementwise", "pow_scalar_fractional", "dc_pow_scalar", f_pow_scalar_frac, 1,
     {IN(POSITIVE, 3, 4)}, NC},
    {"elementwise", "pow_scalar_integer_negative_base", "dc_pow_scalar", f_pow_scalar_int, 1,
     {T(3, 4)}, NC},
    {"elementwise", "pow_scalar_negative_exponent", "dc_pow_scalar", f_pow_scalar_neg, 1,
     {SCALAR_IN(POSITIVE)}, false},
    {"elementwise", "where_same", "dc_where", f_where, 3, {IN(MASK, 3, 4), T(3, 4), T(3, 4)}, NC},
    {"elementwise", "where_broadcast", "dc_where", f_where, 3, {IN(MASK, 3, 1), T(1, 4), S}, NC},
    {"elementwise", "masked_fill_broadcast_mask", "dc_masked_fill", f_masked_fill, 2,
     {T(3, 4), IN(MASK, 4)}, NC},
    {"elementwise", "masked_fill_3d", "dc_masked_fill", f_masked_fill, 2,
     {T(2, 3, 4), IN(MASK, 3, 1)}, NC},
    {"elementwise", "sum_to_shape_3x1", "dc_sum_to_shape", f_sum_to_3x1, 1, {T(2, 3, 4)}, NC},
    {"elementwise", "sum_to_shape_scalar", "dc_sum_to_shape", f_sum_to_scalar, 1, {T(2, 3)}, NC},
    {"elementwise", "sum_to_shape_same", "dc_sum_to_shape", f_sum_to_same, 1, {T(3, 4)}, NC},

    /* ---- unary (src/ops/unary.c) ---- */
    UNARY_ROWS(neg, ANY),
    UNARY_ROWS(exp, ANY),
    UNARY_ROWS(log, POSITIVE),
    UNARY_ROWS(sqrt, POSITIVE),
    UNARY_ROWS(abs, AWAY_FROM_ZERO),
    UNARY_ROWS(tanh, ANY),
    UNARY_ROWS(sigmoid, ANY),
    UNARY_ROWS(relu, AWAY_FROM_ZERO),
    UNARY_ROWS(sin, ANY),
    UNARY_ROWS(cos, ANY),
    {"unary", "tanh_3d", "dc_tanh", f_tanh, 1, {T(2, 3, 2)}, NC},

    /* ---- activations (src/ops/unary.c) ---- */
    {"activations", "leaky_relu_2d", "dc_leaky_relu", f_leaky_relu, 1, {IN(AWAY_FROM_ZERO, 3, 4)},
     NC},
    {"activations", "leaky_relu_slope02_scalar", "dc_leaky_relu", f_leaky_relu_02, 1,
     {SCALAR_IN(AWAY_FROM_ZERO)}, false},
    {"activations", "gelu_erf", "dc_gelu", f_gelu_erf, 1, {T(3, 4)}, NC},
    {"activations", "gelu_tanh_approximation", "dc_gelu", f_gelu_tanh, 1, {T(3, 4)}, NC},
    {"activations", "silu_2d", "dc_silu", f_silu, 1, {T(3, 4)}, NC},
    {"activations", "silu_scalar", "dc_silu", f_silu, 1, {S}, false},
    {"activations", "softplus_default", "dc_softplus", f_softplus, 1, {T(3, 4)}, NC},
    /* beta x crosses the threshold inside U(-2, 2): both branches are checked */
    {"activations", "softplus_beta2_threshold1", "dc_softplus", f_softplus_beta2_threshold1, 1,
     {T(3, 4)}, NC},

    /* ---- linear, convolution, pooling, upsampling (src/ops/conv.c, pool.c) ---- */
    {"conv", "linear_with_bias", "dc_linear", f_linear, 3, {T(4, 3), T(5, 3), T(5)}, NC},
    {"conv", "linear_3d_input_no_bias", "dc_linear", f_linear_no_bias, 2, {T(2, 3, 4), T(2, 4)},
     NC},
    {"conv", "conv2d_default", "dc_conv2d", f_conv2d, 3, {T(2, 3, 5, 5), T(4, 3, 3, 3), T(4)}, NC},
    {"conv", "conv2d_stride2_pad1", "dc_conv2d", f_conv2d_stride2_pad1, 3,
     {T(1, 2, 5, 6), T(3, 2, 3, 3), T(3)}, NC},
    {"conv", "conv2d_dilation2_groups2_no_bias", "dc_conv2d", f_conv2d_dilation2_groups2, 2,
     {T(1, 4, 6, 6), T(2, 2, 2, 2)}, NC},
    {"conv", "conv1d_stride2_pad1", "dc_conv1d", f_conv1d_stride2_pad1, 3,
     {T(2, 3, 7), T(4, 3, 3), T(4)}, NC},
    {"conv", "conv1d_dilation2_depthwise", "dc_conv1d", f_conv1d_dilation2_depthwise, 2,
     {T(1, 3, 8), T(3, 1, 2)}, NC},
    {"conv", "conv_transpose2d_stride2_outpad1", "dc_conv_transpose2d",
     f_conv_transpose2d_stride2, 3, {T(1, 3, 4, 4), T(3, 2, 3, 3), T(2)}, NC},
    {"conv", "conv_transpose2d_default_no_bias", "dc_conv_transpose2d",
     f_conv_transpose2d_default, 2, {T(2, 2, 3, 3), T(2, 3, 2, 2)}, NC},
    {"conv", "conv_transpose1d_stride2_outpad1", "dc_conv_transpose1d",
     f_conv_transpose1d_stride2, 3, {T(2, 3, 5), T(3, 2, 3), T(2)}, NC},
    {"conv", "max_pool2d_k2", "dc_max_pool2d", f_max_pool2d_k2, 1, {T(2, 3, 4, 4)}, NC},
    {"conv", "max_pool2d_k3_s2_p1", "dc_max_pool2d", f_max_pool2d_k3_s2_p1, 1, {T(1, 2, 5, 5)},
     NC},
    {"conv", "avg_pool2d_k2", "dc_avg_pool2d", f_avg_pool2d_k2, 1, {T(2, 3, 4, 4)}, NC},
    {"conv", "avg_pool2d_k3_s2_p1", "dc_avg_pool2d", f_avg_pool2d_k3_s2_p1, 1, {T(1, 2, 5, 5)},
     NC},
    {"conv", "max_pool1d_k2", "dc_max_pool1d", f_max_pool1d_k2, 1, {T(2, 3, 6)}, NC},
    {"conv", "max_pool1d_k3_s2_p1", "dc_max_pool1d", f_max_pool1d_k3_s2_p1, 1, {T(1, 2, 7)}, NC},
    {"conv", "avg_pool1d_k2", "dc_avg_pool1d", f_avg_pool1d_k2, 1, {T(2, 3, 6)}, NC},
    {"conv", "avg_pool1d_k3_s2_p1", "dc_avg_pool1d", f_avg_pool1d_k3_s2_p1, 1, {T(1, 2, 7)}, NC},
    {"conv", "adaptive_avg_pool2d_uneven", "dc_adaptive_avg_pool2d", f_adaptive_avg_pool_2x3, 1,
     {T(2, 3, 5, 7)}, NC},
    {"conv", "adaptive_avg_pool2d_global", "dc_adaptive_avg_pool2d", f_adaptive_avg_pool_1x1, 1,
     {T(1, 2, 3, 4)}, NC},
    {"conv", "upsample_nearest2d", "dc_upsample_nearest2d", f_upsample_nearest_2x3, 1,
     {T(1, 2, 3, 3)}, NC},
    {"conv", "upsample_bilinear2d", "dc_upsample_bilinear2d", f_upsample_bilinear, 1,
     {T(1, 2, 3, 4)}, NC},
    {"conv", "upsample_bilinear2d_align_corners", "dc_upsample_bilinear2d",
     f_upsample_bilinear_align, 1, {T(1, 2, 3, 4)}, NC},

    /* ---- losses (src/ops/loss.c) ---- */
    {"loss", "mse_mean", "dc_mse_loss", f_mse_mean, 2, {T(3, 4), T(3, 4)}, NC},
    {"loss", "mse_sum_broadcast_target", "dc_mse_loss", f_mse_sum, 2, {T(3, 4), T(4)}, NC},
    {"loss", "mse_none", "dc_mse_loss", f_mse_none, 2, {T(3, 4), T(3, 4)}, false},
    {"loss", "cross_entropy_mean", "dc_cross_entropy", f_cross_entropy, 2, {T(4, 5), IDX(5, 4)},
     NC},
    {"loss", "cross_entropy_smoothing_sum_ignore_index", "dc_cross_entropy",
     f_cross_entropy_smooth_sum_ignore2, 2, {T(6, 4), IDX(4, 6)}, NC},
    {"loss", "cross_entropy_per_pixel", "dc_cross_entropy", f_cross_entropy, 2,
     {T(2, 3, 2, 2), IDX(3, 2, 2, 2)}, NC},
    {"loss", "cross_entropy_none", "dc_cross_entropy", f_cross_entropy_none, 2,
     {T(4, 5), IDX(5, 4)}, false},
    {"loss", "nll_mean", "dc_nll_loss", f_nll, 2, {T(4, 5), IDX(5, 4)}, NC},
    {"loss", "nll_ignore_index_none", "dc_nll_loss", f_nll_ignore2_none, 2, {T(6, 4), IDX(4, 6)},
     false},
    {"loss", "bce_mean", "dc_bce_loss", f_bce_mean, 2, {IN(PROBABILITY, 3, 4), IN(TARGET, 3, 4)},
     NC},
    {"loss", "bce_sum", "dc_bce_loss", f_bce_sum, 2, {IN(PROBABILITY, 5), IN(TARGET, 5)}, false},
    {"loss", "bce_with_logits_mean", "dc_bce_with_logits", f_bce_logits_mean, 2,
     {T(3, 4), IN(TARGET, 3, 4)}, NC},
    {"loss", "bce_with_logits_none", "dc_bce_with_logits", f_bce_logits_none, 2,
     {T(3, 4), IN(TARGET, 3, 4)}, false},
    {"loss", "triplet_margin", "dc_triplet_margin_loss", f_triplet, 3, {T(4, 5), T(4, 5), T(4, 5)},
     NC},
    {"loss", "kl_normal", "dc_kl_normal", f_kl_normal, 2, {T(4, 3), T(4, 3)}, NC},

    /* ---- attention (src/ops/attention.c) ---- */
    {"attention", "sdpa", "dc_scaled_dot_product_attention", f_sdpa, 3,
     {T(2, 3, 4), T(2, 5, 4), T(2, 5, 3)}, NC},
    {"attention", "sdpa_causal", "dc_scaled_dot_product_attention", f_sdpa_causal, 3,
     {T(2, 4, 4), T(2, 4, 4), T(2, 4, 2)}, NC},
    {"attention", "sdpa_broadcast_heads_key_mask", "dc_scaled_dot_product_attention", f_sdpa_mask,
     4, {T(2, 2, 3, 4), T(2, 5, 4), T(2, 5, 3), IN(MASK, 3, 5)}, NC},
    {"attention", "sdpa_causal_dropout_fixed_seed", "dc_scaled_dot_product_attention",
     f_sdpa_dropout, 3, {T(2, 4, 4), T(2, 4, 4), T(2, 4, 2)}, NC},

    /* ---- normalisation and dropout (src/ops/norm.c, dropout.c) ---- */
    {"norm", "layer_norm_affine", "dc_layer_norm", f_layer_norm, 3, {T(3, 4), T(4), T(4)}, NC},
    {"norm", "layer_norm_two_dims_no_bias", "dc_layer_norm", f_layer_norm_2d_no_bias, 2, {T(2, 3, 4), T(3, 4)}, NC},
    {"norm", "batch_norm_training_affine", "dc_batch_norm", f_batch_norm_train, 3, {T(4, 3), T(3), T(3)}, NC},
    {"norm", "batch_norm_training_4d", "dc_batch_norm", f_batch_norm_train_plain, 1, {T(2, 3, 2, 2)}, NC},
    /* running stats are constants (running_var = U(0.5, 1.5)) */
    {"norm", "batch_norm_eval", "dc_batch_norm", f_batch_norm_eval, 4, {T(2, 3, 2), IN(TARGET, 3), IN(TARGET, 3), T(3)}, NC},
    {"norm", "group_norm_affine", "dc_group_norm", f_group_norm, 3, {T(2, 4, 3), T(4), T(4)}, NC},
    {"norm", "group_norm_4d_plain", "dc_group_norm", f_group_norm_plain, 1, {T(1, 6, 2, 2)}, NC},
    {"norm", "rms_norm_weight", "dc_rms_norm", f_rms_norm, 2, {T(3, 4), T(4)}, NC},
    {"norm", "rms_norm_two_dims_default_eps", "dc_rms_norm", f_rms_norm_2d_default_eps, 1, {T(2, 3, 4)}, NC},
    {"norm", "dropout_training_fixed_seed", "dc_dropout", f_dropout, 1, {T(3, 4)}, NC},
    {"norm", "dropout_eval_is_identity", "dc_dropout", f_dropout_eval, 1, {T(3, 4)}, NC},
    {"norm", "dropout2d_training_fixed_seed", "dc_dropout2d", f_dropout2d, 1, {T(2, 3, 2, 2)}, NC},

    /* ---- reductions (src/ops/reduce.c) ---- */
    {"reduce", "sum_dim1", "dc_sum", f_sum_d1, 1, {T(3, 4, 5)}, NC},
    {"reduce", "sum_dims02_keepdim", "dc_sum", f_sum_d02_keep, 1, {T(3, 4, 5)}, NC},
    {"reduce", "sum_last_dim", "dc_sum", f_sum_dlast, 1, {T(4, 6)}, NC},
    {"reduce", "sum_all_dims", "dc_sum", f_sum_all_dims, 1, {T(3, 4)}, NC},
    {"reduce", "sum_all_dims_keepdim", "dc_sum", f_sum_all_dims_keep, 1, {T(3, 4)}, false},
    {"reduce", "sum_of_scalar", "dc_sum", f_sum_all_dims, 1, {S}, false},
    {"reduce", "mean_dim1", "dc_mean", f_mean_d1, 1, {T(3, 4, 5)}, NC},
    {"reduce", "mean_dims02_keepdim", "dc_mean", f_mean_d02_keep, 1, {T(3, 4, 5)}, NC},
    {"reduce", "mean_all_dims", "dc_mean", f_mean_all_dims, 1, {T(3, 4)}, NC},
    {"reduce", "mean_of_scalar", "dc_mean", f_mean_all_dims, 1, {S}, false},
    {"reduce", "var_dim1_unbiased", "dc_var", f_var_d1, 1, {T(3, 4, 5)}, NC},
    {"reduce", "var_dims02_biased_keepdim", "dc_var", f_var_d02_biased_keep, 1, {T(3, 4, 5)},
     NC},
    {"reduce", "var_all_dims", "dc_var", f_var_all, 1, {T(3, 4)}, NC},
    {"reduce", "var_last_dim_keepdim", "dc_var", f_var_dlast_keep, 1, {T(4, 6)}, NC},
    {"reduce", "max_dim1", "dc_max", f_max_d1, 1, {T(3, 4, 5)}, NC},
    {"reduce", "max_last_dim_keepdim", "dc_max", f_max_dlast_keep, 1, {T(4, 6)}, NC},
    {"reduce", "max_1d", "dc_max", f_max_d0, 1, {T(5)}, NC},
    {"reduce", "max_dim0_keepdim", "dc_max", f_max_d0_keep, 1, {T(3, 4)}, NC},
    {"reduce", "sum_all_2d", "dc_sum_all", f_sum_all, 1, {T(3, 4)}, NC},
    {"reduce", "sum_all_scalar", "dc_sum_all", f_sum_all, 1, {S}, false},
    {"reduce", "mean_all_3d", "dc_mean_all", f_mean_all, 1, {T(2, 3, 4)}, NC},
    {"reduce", "mean_all_scalar", "dc_mean_all", f_mean_all, 1, {S}, false},

    /* ---- matmul (src/ops/matmul.c) ---- */
    {"matmul", "matmul_2d", "dc_matmul", f_matmul, 2, {T(3, 4), T(4, 5)}, NC},
    {"matmul", "matmul_batched", "dc_matmul", f_matmul, 2, {T(2, 3, 4), T(2, 4, 5)}, NC},
    {"matmul", "matmul_batch_broadcast", "dc_matmul", f_matmul, 2, {T(2, 1, 3, 4), T(3, 4, 2)},
     NC},
    {"matmul", "matmul_batched_by_matrix", "dc_matmul", f_matmul, 2, {T(2, 3, 4), T(4, 5)}, NC},
    {"matmul", "matmul_vector_matrix", "dc_matmul", f_matmul, 2, {T(4), T(4, 5)}, NC},
    {"matmul", "matmul_matrix_vector", "dc_matmul", f_matmul, 2, {T(3, 4), T(4)}, NC},
    {"matmul", "matmul_vector_vector", "dc_matmul", f_matmul, 2, {T(4), T(4)}, NC},
    {"matmul", "matmul_vector_batched", "dc_matmul", f_matmul, 2, {T(4), T(2, 4, 3)}, NC},
    {"matmul", "matmul_batched_vector", "dc_matmul", f_matmul, 2, {T(2, 3, 4), T(4)}, NC},

    /* ---- softmax (src/ops/softmax.c) ---- */
    {"softmax", "softmax_last_dim", "dc_softmax", f_softmax_dlast, 1, {T(3, 5)}, NC},
    {"softmax", "softmax_dim0", "dc_softmax", f_softmax_d0, 1, {T(4, 3)}, NC},
    {"softmax", "softmax_middle_dim", "dc_softmax", f_softmax_d1, 1, {T(2, 3, 4)}, NC},
    {"softmax", "softmax_1d", "dc_softmax", f_softmax_d0, 1, {T(5)}, NC},
    {"softmax", "log_softmax_last_dim", "dc_log_softmax", f_log_softmax_dlast, 1, {T(3, 5)}, NC},
    {"softmax", "log_softmax_dim0", "dc_log_softmax", f_log_softmax_d0, 1, {T(4, 3)}, NC},
    {"softmax", "log_softmax_middle_dim", "dc_log_softmax", f_log_softmax_d1, 1, {T(2, 3, 4)},
     NC},
    {"softmax", "log_softmax_1d", "dc_log_softmax", f_log_softmax_d0, 1, {T(5)}, NC},

    /* ---- indexing and joining (src/ops/index.c) ---- */
    {"index", "gather_dim1", "dc_gather", f_gather_d1, 2, {T(3, 5), IDX(5, 3, 4)}, NC},
    {"index", "gather_dim0", "dc_gather", f_gather_d0, 2, {T(4, 3), IDX(4, 2, 3)}, NC},
    {"index", "gather_last_dim_3d", "dc_gather", f_gather_dlast, 2, {T(2, 3, 4), IDX(4, 2, 3, 2)},
     NC},
    /* 10 ids drawn from 3 rows: repeats are certain, so accumulation is tested */
    {"index", "index_select_embedding_repeated_ids", "dc_index_select", f_index_select_d0, 2,
     {T(6, 3), IDX(3, 2, 5)}, NC},
    {"index", "index_select_dim1", "dc_index_select", f_index_select_d1, 2, {T(3, 5), IDX(5, 4)},
     NC},
    {"index", "index_select_1d_ids", "dc_index_select", f_index_select_d0, 2, {T(4, 3), IDX(2, 5)},
     NC},
    {"index", "cat_three_dim0", "dc_cat", f_cat3_d0, 3, {T(2, 3), T(4, 3), T(1, 3)}, NC},
    {"index", "cat_two_dim1", "dc_cat", f_cat2_d1, 2, {T(2, 3), T(2, 2)}, NC},
    {"index", "cat_last_dim_3d", "dc_cat", f_cat2_dlast, 2, {T(2, 3, 1), T(2, 3, 2)}, NC},
    {"index", "stack_three_dim0", "dc_stack", f_stack3_d0, 3, {T(2, 3), T(2, 3), T(2, 3)}, NC},
    {"index", "stack_two_new_last_dim", "dc_stack", f_stack2_dlast, 2, {T(2, 3), T(2, 3)}, NC},
    {"index", "stack_two_dim1", "dc_stack", f_stack2_d1, 2, {T(4), T(4)}, NC},

    /* ---- views (src/core/views.c, copy.c) ---- */
    {"views", "reshape_2x6", "dc_reshape", f_reshape_2x6, 1, {T(3, 4)}, NC},
    {"views", "reshape_flat", "dc_reshape", f_reshape_flat, 1, {T(3, 4)}, NC},
    {"views", "reshape_infer_dim", "dc_reshape", f_reshape_4xNx2, 1, {T(2, 3, 4)}, NC},
    {"views", "reshape_scalar", "dc_reshape", f_reshape_1x1, 1, {S}, false},
    /* dc_view refuses non-contiguous inputs it cannot express: no NC rerun */
    {"views", "view_4x3", "dc_view", f_view_4x3, 1, {T(3, 4)}, false},
    {"views", "view_6x4", "dc_view", f_view_6x4, 1, {T(2, 3, 4)}, false},
    {"views", "flatten_leading", "dc_flatten", f_flatten_01, 1, {T(2, 3, 4)}, NC},
    {"views", "flatten_trailing", "dc_flatten", f_flatten_1_last, 1, {T(2, 3, 4)}, NC},
    {"views", "flatten_scalar", "dc_flatten", f_flatten_scalar, 1, {S}, false},
    {"views", "permute_3d", "dc_permute", f_permute_201, 1, {T(2, 3, 4)}, NC},
    {"views", "permute_2d", "dc_permute", f_permute_10, 1, {T(3, 4)}, NC},
    {"views", "transpose_2d", "dc_transpose", f_transpose_01, 1, {T(3, 4)}, NC},
    {"views", "transpose_outer_3d", "dc_transpose", f_transpose_02, 1, {T(2, 3, 4)}, NC},
    {"views", "transpose_negative_dims", "dc_transpose", f_transpose_neg, 1, {T(2, 3, 4)}, NC},
    {"views", "slice_step2", "dc_slice", f_slice_step2, 1, {T(6, 4)}, NC},
    {"views", "slice_negative_start_step3", "dc_slice", f_slice_neg_step3, 1, {T(3, 7)}, NC},
    {"views", "slice_step1", "dc_slice", f_slice_step1, 1, {T(2, 4)}, NC},
    {"views", "narrow_dim1", "dc_narrow", f_narrow_d1, 1, {T(5, 4)}, NC},
    {"views", "narrow_negative_start", "dc_narrow", f_narrow_neg_start, 1, {T(5, 4)}, NC},
    {"views", "select_dim0", "dc_select", f_select_d0, 1, {T(3, 4)}, NC},
    {"views", "select_last_dim_negative", "dc_select", f_select_last_neg, 1, {T(2, 3, 4)}, NC},
    {"views", "select_to_scalar", "dc_select", f_select_to_scalar, 1, {T(5)}, NC},
    {"views", "unsqueeze_dim1", "dc_unsqueeze", f_unsqueeze_d1, 1, {T(3, 4)}, NC},
    {"views", "unsqueeze_last", "dc_unsqueeze", f_unsqueeze_dlast, 1, {T(3, 4)}, NC},
    {"views", "unsqueeze_scalar", "dc_unsqueeze", f_unsqueeze_d0, 1, {S}, false},
    {"views", "squeeze_dim1", "dc_squeeze", f_squeeze_d1, 1, {T(3, 1, 4)}, NC},
    {"views", "squeeze_all", "dc_squeeze", f_squeeze_all, 1, {T(1, 3, 1)}, NC},
    {"views", "squeeze_to_scalar", "dc_squeeze", f_squeeze_d0, 1, {T(1)}, NC},
    {"views", "expand_new_and_size1_dims", "dc_expand", f_expand_3d, 1, {T(3, 1)}, NC},
    {"views", "expand_scalar", "dc_expand", f_expand_2x3, 1, {S}, false},
    {"views", "expand_keep_dim", "dc_expand", f_expand_keep, 1, {T(1, 4)}, NC},
    {"views", "contiguous", "dc_contiguous", f_contiguous, 1, {T(3, 4)}, NC},
    {"views", "clone_2d", "dc_clone", f_clone, 1, {T(3, 4)}, NC},
    {"views", "clone_scalar", "dc_clone", f_clone, 1, {S}, false},
    {"views", "to_dtype_f64_to_f64", "dc_to_dtype", f_to_f64, 1, {T(3, 4)}, NC},

    /* ---- the families in tests/gradcheck_rows/ ---- */
#define GRADCHECK_ROWS
#include "gradcheck_rows/sorting.h"
#include "gradcheck_rows/math.h"
#include "gradcheck_rows/shapes.h"
#include "gradcheck_rows/dtypes.h"
#include "gradcheck_rows/autograd.h"
#include "gradcheck_rows/rnn.h"
#include "gradcheck_rows/signal.h"
#include "gradcheck_rows/linalg.h"
#include "gradcheck_rows/boxes.h"
#undef GRADCHECK_ROWS
};

#define N_CASES ((int)(sizeof cases / sizeof cases[0]))

/* Public functions that return a dc_tensor * but have no gradient to check, and why. */
static const char *const not_differentiable[] = {
    /* creation: no tensor inputs */
    "dc_empty", "dc_zeros", "dc_ones", "dc_full", "dc_scalar", "dc_arange", "dc_from_buffer",
    "dc_zeros_like", "dc_ones_like",
    /* a fixed table (no tensor input) */
    "dc_sinusoidal_positions",
    /* random numbers */
    "dc_rand", "dc_uniform", "dc_randn", "dc_normal", "dc_bernoulli",
    /* piecewise constant: documented to have no gradient (test_comparisons_record_no_graph) */
    "dc_eq", "dc_gt", "dc_lt", "dc_ge", "dc_le", "dc_argmax",
    /* memory management, not ops */
    "dc_tensor_retain", "dc_scope_return",
    /* autograd plumbing: detach cuts the graph by design, requires_grad marks a leaf */
    "dc_detach", "dc_requires_grad",
    /* the families in tests/gradcheck_rows/ */
#define GRADCHECK_NOT_DIFFERENTIABLE
#include "gradcheck_rows/sorting.h"
#include "gradcheck_rows/math.h"
#include "gradcheck_rows/shapes.h"
#include "gradcheck_rows/dtypes.h"
#include "gradcheck_rows/autograd.h"
#include "gradcheck_rows/rnn.h"
#include "gradcheck_rows/signal.h"
#include "gradcheck_rows/linalg.h"
#include "gradcheck_rows/boxes.h"
#undef GRADCHECK_NOT_DIFFERENTIABLE
};

/* clang-format on */

/* ---- Building inputs --------------------------------------------------------------------- */

static int64_t spec_numel(const input_spec *spec)
{
    int64_t n = 1;
    for (int d = 0; d < spec->ndim; d++) n *= spec->shape[d];
    return n;
}

/* A contiguous input with values from its domain. Float inputs other than masks are float64
 * leaves that require grad. */
static dc_tensor *make_input(const input_spec *spec, dc_rng *rng)
{
    int64_t n = spec_numel(spec);
    if (spec->dom == INDEX) {
        int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
        if (!ids) return NULL;
        for (int64_t i = 0; i < n; i++) ids[i] = (int64_t)(dc_rng_u64(rng) % (uint64_t)spec->high);
        dc_tensor *t = dc_from_buffer(DC_I64, spec->ndim, spec->shape, ids);
        free(ids);
        return t;
    }
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++) {
        double u = dc_rng_uniform(rng);
        switch (spec->dom) {
        case ANY: v[i] = 4 * u - 2; break;
        case POSITIVE: v[i] = 0.5 + 1.5 * u; break;
        case AWAY_FROM_ZERO: v[i] = (u < 0.5 ? -1 : 1) * (0.5 + 3 * fabs(u - 0.5)); break;
        case PROBABILITY: v[i] = 0.1 + 0.8 * u; break;
        case TARGET: v[i] = u; break;
        case MASK: v[i] = u < 0.5 ? 0 : 1; break;
        case INDEX: break;
        }
    }
    dc_tensor *t = dc_from_buffer(DC_F64, spec->ndim, spec->shape, v);
    free(v);
    return spec->dom == MASK || spec->dom == TARGET ? t : dc_requires_grad(t, true);
}

/* The same values as t in a non-contiguous leaf: a bigger tensor with t's dims reversed and
 * its last dim of size > 1 twice as long, viewed back through permute + slice with step 2
 * (both transposed and strided). */
static dc_tensor *make_noncontiguous(dc_tensor *t)
{
    int nd = t->ndim, reverse[DC_MAX_DIMS], strided_dim = -1;
    for (int d = 0; d < nd; d++)
        if (t->shape[d] > 1) strided_dim = d;
    if (strided_dim < 0) return t; /* at most one element: every layout is contiguous */
    int64_t big[DC_MAX_DIMS];
    for (int d = 0; d < nd; d++) {
        big[d] = t->shape[nd - 1 - d];
        reverse[d] = nd - 1 - d;
    }
    big[nd - 1 - strided_dim] *= 2;
    dc_tensor *storage = dc_zeros(t->dtype, nd, big);
    dc_tensor *view =
        dc_slice(dc_permute(storage, reverse), strided_dim, 0, 2 * t->shape[strided_dim], 2);
    if (!view || dc_copy_(view, t) != 0) return NULL;
    return t->requires_grad ? dc_requires_grad(view, true) : view;
}

static dc_tensor *run_case_fn(dc_tensor *const *inputs, void *ctx)
{
    return ((const op_case *)ctx)->fn(inputs);
}

/* Forward values of a case under no-grad (malloc'ed, caller frees), NULL on error. */
static double *forward_values(const op_case *c, dc_tensor *const *inputs, int64_t *n)
{
    bool prev = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor *out = c->fn(inputs);
    double *v = dc_test_values(out);
    *n = dc_numel(out);
    dc_scope_end(scope);
    dc_grad_mode_restore(prev);
    return v;
}

/* Check one row (and its non-contiguous rerun). Returns true if it passed; prints a line
 * for each failure. */
static bool check_case(int index)
{
    const op_case *c = &cases[index];
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 1000 + (uint64_t)index);
    dc_tensor *inputs[MAX_INPUTS] = {0}, *strided[MAX_INPUTS] = {0};
    char msg[768] = "";
    bool ok = true;
    for (int k = 0; k < c->n_inputs; k++) inputs[k] = make_input(&c->in[k], &rng);
    ok = dc_gradcheck(c->name, run_case_fn, (void *)c, c->n_inputs, inputs, NULL, msg, sizeof msg);
    if (!ok) printf("  %s\n", msg);
    if (ok && c->noncontig) {
        for (int k = 0; k < c->n_inputs; k++) {
            strided[k] = make_noncontiguous(inputs[k]);
            if (strided[k] && dc_numel(strided[k]) > 1 && dc_is_contiguous(strided[k])) {
                printf("  %s: input %d of the NC rerun is contiguous\n", c->name, k);
                ok = false;
            }
        }
        int64_t n_plain = 0, n_strided = 0;
        double *plain = forward_values(c, inputs, &n_plain);
        double *other = forward_values(c, strided, &n_strided);
        char what[128];
        snprintf(what, sizeof what, "%s: forward with non-contiguous inputs", c->name);
        if (!plain || !other || n_plain != n_strided) {
            printf("  %s failed: %s\n", what, dc_last_error());
            ok = false;
        } else if (!CHECK_ALLCLOSE(what, other, plain, n_plain, 1e-12, 1e-12)) {
            ok = false;
        }
        free(plain);
        free(other);
        dc_clear_error();
        char name[128];
        snprintf(name, sizeof name, "%s (non-contiguous inputs)", c->name);
        if (ok && !dc_gradcheck(name, run_case_fn, (void *)c, c->n_inputs, strided, NULL, msg,
                                sizeof msg)) {
            printf("  %s\n", msg);
            ok = false;
        }
    }
    dc_scope_end(scope);
    return ok;
}

/* Run every row of one family; one test failure lists the rows that failed. */
static void check_family(const char *family)
{
    int n_run = 0, n_failed = 0;
    char failed[1024] = "";
    for (int i = 0; i < N_CASES; i++) {
        if (strcmp(cases[i].family, family) != 0) continue;
        n_run++;
        if (check_case(i)) continue;
        n_failed++;
        size_t len = strlen(failed);
        snprintf(failed + len, sizeof failed - len, "%s%s", len ? ", " : "", cases[i].name);
    }
    if (n_run == 0) dc_test_fail(__FILE__, __LINE__, "no gradcheck rows in family %s", family);
    if (n_failed)
        dc_test_fail(__FILE__, __LINE__, "%d of %d %s cases failed the gradient check: %s",
                     n_failed, n_run, family, failed);
}

TEST(test_gradcheck_elementwise_ops) { check_family("elementwise"); }
TEST(test_gradcheck_unary_ops) { check_family("unary"); }
TEST(test_gradcheck_reductions) { check_family("reduce"); }
TEST(test_gradcheck_matmul) { check_family("matmul"); }
TEST(test_gradcheck_softmax) { check_family("softmax"); }
TEST(test_gradcheck_index_and_join_ops) { check_family("index"); }
TEST(test_gradcheck_views) { check_family("views"); }
TEST(test_gradcheck_losses) { check_family("loss"); }
TEST(test_gradcheck_attention) { check_family("attention"); }
TEST(test_gradcheck_norms_and_dropout) { check_family("norm"); }
TEST(test_gradcheck_activations) { check_family("activations"); }
TEST(test_gradcheck_conv_pool_linear) { check_family("conv"); }
#define GRADCHECK_TESTS
#include "gradcheck_rows/sorting.h"
#include "gradcheck_rows/math.h"
#include "gradcheck_rows/shapes.h"
#include "gradcheck_rows/dtypes.h"
#include "gradcheck_rows/autograd.h"
#include "gradcheck_rows/rnn.h"
#include "gradcheck_rows/signal.h"
#include "gradcheck_rows/linalg.h"
#include "gradcheck_rows/boxes.h"
#undef GRADCHECK_TESTS

/* ---- Every op is in the table ------------------------------------------------------------- */

/* True if `word` appears as a whole space-separated token in `list`. */
static bool has_token(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n) {
        bool starts = p == list || p[-1] == ' ';
        bool ends = p[n] == '\0' || p[n] == ' ';
        if (starts && ends) return true;
    }
    return false;
}

static bool is_covered(const char *fn_name)
{
    for (int i = 0; i < N_CASES; i++)
        if (has_token(cases[i].covers, fn_name)) return true;
    for (size_t i = 0; i < sizeof not_differentiable / sizeof *not_differentiable; i++)
        if (strcmp(not_differentiable[i], fn_name) == 0) return true;
    return false;
}

/* Every `dc_tensor *dc_xxx(` declared at the start of a line of a public header. The runner
 * runs from tests/, so the headers are in ../include. */
TEST(test_gradcheck_covers_every_op)
{
    static const char *const headers[] = {"../include/deepc/ops.h", "../include/deepc/core.h",
                                          "../include/deepc/autograd.h"};
    int n_declared = 0, n_missing = 0;
    char missing[2048] = "";
    for (size_t h = 0; h < sizeof headers / sizeof *headers; h++) {
        FILE *f = fopen(headers[h], "r");
        if (!f) {
            dc_test_fail(__FILE__, __LINE__, "cannot open %s (run the tests from tests/)",
                         headers[h]);
            continue;
        }
        char line[512];
        const char *prefix = "dc_tensor *dc_";
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, prefix, strlen(prefix)) != 0) continue;
            char name[64];
            const char *start = line + strlen("dc_tensor *");
            size_t len = strcspn(start, "(");
            if (len >= sizeof name || start[len] != '(') continue;
            memcpy(name, start, len);
            name[len] = '\0';
            n_declared++;
            if (!is_covered(name)) {
                size_t len = strlen(missing);
                snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", name);
                n_missing++;
            }
        }
        fclose(f);
    }
    if (n_missing)
        dc_test_fail(__FILE__, __LINE__,
                     "%d public op(s) have no row in the gradcheck table of "
                     "tests/test_gradcheck.c and are not in not_differentiable[]: %s",
                     n_missing, missing);
    CHECK(n_declared > 50); /* the parse found the declarations at all */
}

/* The exclusions above are honest: comparisons and argmax record no graph. */
TEST(test_comparisons_record_no_graph)
{
    dc_tensor *a = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(3, 4)), true);
    dc_tensor *b = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(3, 4)), true);
    dc_tensor *results[] = {dc_eq(a, b), dc_gt(a, b), dc_lt(a, b), dc_ge(a, b), dc_le(a, b)};
    for (size_t i = 0; i < sizeof results / sizeof *results; i++) {
        REQUIRE(results[i]);
        CHECK(!results[i]->requires_grad && !results[i]->grad_fn);
    }
}

/* ---- The checker itself catches wrong gradients ------------------------------------------- */

/* y = 2x with a backward that claims 3: the check must fail and name the element. */
#include "core/internal.h"

static int wrong_double_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    (void)node;
    grads[0] = dc_mul_scalar(g, 3.0);
    return grads[0] ? 0 : -1;
}

static dc_tensor *double_with_wrong_gradient(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    bool prev = dc_no_grad_begin();
    dc_tensor *out = dc_mul_scalar(x[0], 2.0);
    dc_grad_mode_restore(prev);
    dc_node *node;
    if (out && dc__record(out, "double_wrong", wrong_double_backward, 1, x, &node) != 0)
        return NULL;
    return out;
}

static dc_tensor *double_right(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    return dc_mul_scalar(x[0], 2.0);
}

TEST(test_gradcheck_detects_a_wrong_backward)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(2, 3)), true);
    char msg[768];
    CHECK(dc_gradcheck("double_right", double_right, NULL, 1, &x, NULL, msg, sizeof msg));
    CHECK(!dc_gradcheck("double_wrong", double_with_wrong_gradient, NULL, 1, &x, NULL, msg,
                        sizeof msg));
    CHECK(strstr(msg, "double_wrong") && strstr(msg, "input 0[") && strstr(msg, "6 of 6"));
    CHECK(x->grad == NULL); /* the checker leaves no gradient behind */
}

TEST(test_gradcheck_reports_forward_errors)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(2, 3)), true);
    dc_tensor *y = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(4)), true);
    dc_tensor *inputs[] = {x, y};
    char msg[768];
    CHECK(!dc_gradcheck("bad_shapes", run_case_fn, (void *)&cases[0], 2, inputs, NULL, msg,
                        sizeof msg));
    CHECK(strstr(msg, "forward failed") != NULL);
    CHECK(!dc_has_error());
}
