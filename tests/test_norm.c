/* Normalisation ops and layers (src/ops/norm.c, src/nn/norm_layers.c; book §4.6):
 * float64 gradient checks of every op (batch norm in training mode included), the float32
 * kernels against float64 on sizes that use several threads and blocks, thread-count
 * independence, the BatchNorm module's state, and the errors. Values against PyTorch are in
 * test_nn_refs.c. */
#include "gradcheck.h"

#include <float.h>

/* ---- Inputs ------------------------------------------------------------------------------ */

/* A float64 leaf requiring grad with values U(lo, hi). */
static dc_tensor *leaf(dc_rng *rng, int ndim, const int64_t *shape, double lo, double hi)
{
    return dc_requires_grad(dc_uniform(rng, DC_F64, ndim, shape, lo, hi), true);
}

/* The same values as a non-contiguous leaf: the transpose of a contiguous [.., b, a] tensor
 * (last two dims swapped). */
static dc_tensor *noncontiguous_leaf(dc_tensor *t)
{
    int nd = t->ndim;
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[nd - 1] = t->shape[nd - 2];
    shape[nd - 2] = t->shape[nd - 1];
    dc_tensor *view = dc_transpose(dc_zeros(DC_F64, nd, shape), -1, -2);
    if (!view || dc_copy_(view, t) != 0) return NULL;
    return dc_requires_grad(view, true);
}

/* ---- Gradient checks -------------------------------------------------------------------- */

typedef dc_tensor *(*op_fn)(dc_tensor *const *x);
typedef struct {
    op_fn fn;
} fn_ctx;

static dc_tensor *call(dc_tensor *const *inputs, void *ctx) { return ((fn_ctx *)ctx)->fn(inputs); }

#define GRADCHECK(name, fn, n, ...)                                                                \
    do {                                                                                           \
        fn_ctx ctx_ = {fn};                                                                        \
        dc_tensor *in_[] = {__VA_ARGS__};                                                          \
        CHECK_GRADIENTS(name, call, &ctx_, n, in_, NULL);                                          \
    } while (0)

static dc_tensor *f_layer_norm_1(dc_tensor *const *x)
{
    return dc_layer_norm(x[0], 1, x[1], x[2], 1e-5);
}
static dc_tensor *f_layer_norm_2(dc_tensor *const *x)
{
    return dc_layer_norm(x[0], 2, x[1], x[2], 1e-5);
}
static dc_tensor *f_layer_norm_plain(dc_tensor *const *x)
{
    return dc_layer_norm(x[0], 1, NULL, NULL, 1e-3);
}
static dc_tensor *f_layer_norm_weight_only(dc_tensor *const *x)
{
    return dc_layer_norm(x[0], 1, x[1], NULL, 1e-5);
}

TEST(test_layer_norm_gradcheck)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    GRADCHECK("layer_norm_last_dim", f_layer_norm_1, 3, leaf(&rng, DC_SHAPE(3, 5), -2, 2),
              leaf(&rng, DC_SHAPE(5), 0.5, 1.5), leaf(&rng, DC_SHAPE(5), -1, 1));
    GRADCHECK("layer_norm_two_dims", f_layer_norm_2, 3, leaf(&rng, DC_SHAPE(2, 3, 2, 3), -2, 2),
              leaf(&rng, DC_SHAPE(2, 3), 0.5, 1.5), leaf(&rng, DC_SHAPE(2, 3), -1, 1));
    GRADCHECK("layer_norm_no_affine", f_layer_norm_plain, 1, leaf(&rng, DC_SHAPE(4, 6), 1, 3));
    GRADCHECK("layer_norm_weight_only", f_layer_norm_weight_only, 2,
              leaf(&rng, DC_SHAPE(2, 7), -2, 2), leaf(&rng, DC_SHAPE(7), -1, 1));
    /* a transposed input and weight: the op reads them through their strides */
    dc_tensor *x = noncontiguous_leaf(leaf(&rng, DC_SHAPE(2, 4, 3), -2, 2));
    dc_tensor *w = noncontiguous_leaf(leaf(&rng, DC_SHAPE(4, 3), 0.5, 1.5));
    REQUIRE(x && w && !dc_is_contiguous(x) && !dc_is_contiguous(w));
    GRADCHECK("layer_norm_non_contiguous", f_layer_norm_2, 3, x, w,
              leaf(&rng, DC_SHAPE(4, 3), -1, 1));
}

static dc_tensor *f_rms_norm_1(dc_tensor *const *x) { return dc_rms_norm(x[0], 1, x[1], 1e-6); }
static dc_tensor *f_rms_norm_2_plain(dc_tensor *const *x) { return dc_rms_norm(x[0], 2, NULL, -1); }

TEST(test_rms_norm_gradcheck)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    GRADCHECK("rms_norm_last_dim", f_rms_norm_1, 2, leaf(&rng, DC_SHAPE(3, 5), -2, 2),
              leaf(&rng, DC_SHAPE(5), 0.5, 1.5));
    GRADCHECK("rms_norm_two_dims_no_weight", f_rms_norm_2_plain, 1,
              leaf(&rng, DC_SHAPE(2, 2, 3), -2, 2));
}

static dc_tensor *f_group_norm_3(dc_tensor *const *x)
{
    return dc_group_norm(x[0], 3, x[1], x[2], 1e-5);
}
static dc_tensor *f_group_norm_2(dc_tensor *const *x)
{
    return dc_group_norm(x[0], 2, x[1], x[2], 1e-5);
}
static dc_tensor *f_group_norm_1_plain(dc_tensor *const *x)
{
    return dc_group_norm(x[0], 1, NULL, NULL, 1e-5);
}
static dc_tensor *f_group_norm_per_channel(dc_tensor *const *x)
{
    return dc_group_norm(x[0], 4, x[1], NULL, 1e-5);
}

TEST(test_group_norm_gradcheck)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    GRADCHECK("group_norm_3_groups_1d", f_group_norm_3, 3, leaf(&rng, DC_SHAPE(2, 6, 3), -2, 2),
              leaf(&rng, DC_SHAPE(6), 0.5, 1.5), leaf(&rng, DC_SHAPE(6), -1, 1));
    GRADCHECK("group_norm_2_groups_2d", f_group_norm_2, 3, leaf(&rng, DC_SHAPE(2, 4, 2, 2), -2, 2),
              leaf(&rng, DC_SHAPE(4), 0.5, 1.5), leaf(&rng, DC_SHAPE(4), -1, 1));
    GRADCHECK("group_norm_one_group_no_affine", f_group_norm_1_plain, 1,
              leaf(&rng, DC_SHAPE(3, 4), -2, 2));
    /* groups == channels (instance norm) */
    GRADCHECK("group_norm_per_channel_weight_only", f_group_norm_per_channel, 2,
              leaf(&rng, DC_SHAPE(2, 4, 3), -2, 2), leaf(&rng, DC_SHAPE(4), 0.5, 1.5));
}

/* Training mode: the batch statistics depend on every input, and backward goes through them.
 * The running statistics (x[3], x[4]) are updated by every forward of the check, which does
 * not change the output. */
static dc_tensor *f_batch_norm_train(dc_tensor *const *x)
{
    return dc_batch_norm(x[0], NULL, NULL, x[1], x[2], true, 0.1, 1e-5);
}
static dc_tensor *f_batch_norm_train_running(dc_tensor *const *x)
{
    return dc_batch_norm(x[0], x[3], x[4], x[1], x[2], true, 0.1, 1e-5);
}
static dc_tensor *f_batch_norm_train_plain(dc_tensor *const *x)
{
    return dc_batch_norm(x[0], NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
}
static dc_tensor *f_batch_norm_eval(dc_tensor *const *x)
{
    return dc_batch_norm(x[0], x[3], x[4], x[1], x[2], false, 0.1, 1e-5);
}

TEST(test_batch_norm_gradcheck_training_and_eval)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    GRADCHECK("batch_norm_train_2d", f_batch_norm_train, 3, leaf(&rng, DC_SHAPE(5, 3), -2, 2),
              leaf(&rng, DC_SHAPE(3), 0.5, 1.5), leaf(&rng, DC_SHAPE(3), -1, 1));
    dc_tensor *rm = dc_zeros(DC_F64, DC_SHAPE(2)), *rv = dc_ones(DC_F64, DC_SHAPE(2));
    GRADCHECK("batch_norm_train_3d_running_stats", f_batch_norm_train_running, 5,
              leaf(&rng, DC_SHAPE(3, 2, 4), -2, 2), leaf(&rng, DC_SHAPE(2), 0.5, 1.5),
              leaf(&rng, DC_SHAPE(2), -1, 1), rm, rv);
    GRADCHECK("batch_norm_train_4d_no_affine", f_batch_norm_train_plain, 1,
              leaf(&rng, DC_SHAPE(2, 3, 2, 2), -2, 2));
    dc_tensor *x = noncontiguous_leaf(leaf(&rng, DC_SHAPE(2, 3, 4), -2, 2));
    GRADCHECK("batch_norm_train_non_contiguous", f_batch_norm_train, 3, x,
              leaf(&rng, DC_SHAPE(3), 0.5, 1.5), leaf(&rng, DC_SHAPE(3), -1, 1));
    GRADCHECK("batch_norm_eval", f_batch_norm_eval, 5, leaf(&rng, DC_SHAPE(4, 3, 2), -2, 2),
              leaf(&rng, DC_SHAPE(3), 0.5, 1.5), leaf(&rng, DC_SHAPE(3), -1, 1),
              dc_uniform(&rng, DC_F64, DC_SHAPE(3), -1, 1),
              dc_uniform(&rng, DC_F64, DC_SHAPE(3), 0.5, 2));
}

/* ---- Forward values ------------------------------------------------------------------------ */

/* Layer norm against its definition with reduction ops, and the statistics of the result. */
TEST(test_layer_norm_matches_composite_definition)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *x = dc_normal(&rng, DC_F64, DC_SHAPE(6, 37), 3, 2);
    dc_tensor *w = dc_uniform(&rng, DC_F64, DC_SHAPE(37), 0.5, 1.5);
    dc_tensor *b = dc_uniform(&rng, DC_F64, DC_SHAPE(37), -1, 1);
    dc_tensor *mu = dc_mean(x, 1, (int[]){-1}, true), *var = dc_var(x, 1, (int[]){-1}, 0, true);
    dc_tensor *want =
        dc_add(dc_mul(dc_div(dc_sub(x, mu), dc_sqrt(dc_add_scalar(var, 1e-5))), w), b);
    double *a = dc_test_values(dc_layer_norm(x, 1, w, b, 1e-5)), *e = dc_test_values(want);
    REQUIRE(a && e);
    CHECK_ALLCLOSE("layer_norm vs composite", a, e, 6 * 37, 1e-12, 1e-12);
    free(a);
    free(e);
    /* without affine each row has mean 0 and (biased) variance 1 (up to eps) */
    dc_tensor *y = dc_layer_norm(x, 1, NULL, NULL, 0);
    CHECK_NEAR(dc_item(dc_mean_all(y)), 0, 1e-12);
    double *v = dc_test_values(dc_var(y, 1, (int[]){1}, 0, false));
    REQUIRE(v);
    for (int i = 0; i < 6; i++) CHECK_NEAR(v[i], 1, 1e-12);
    free(v);
}

/* Batch norm normalises per channel over N and the spatial dims (book Fig. 4.8, left); group
 * norm with one group per channel over the spatial dims only. */
TEST(test_batch_and_group_norm_statistics)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    dc_tensor *x = dc_normal(&rng, DC_F64, DC_SHAPE(4, 3, 5, 2), 2, 3);
    dc_tensor *y = dc_batch_norm(x, NULL, NULL, NULL, NULL, true, 0.1, 0);
    double *m = dc_test_values(dc_mean(y, 3, (int[]){0, 2, 3}, false));
    double *v = dc_test_values(dc_var(y, 3, (int[]){0, 2, 3}, 0, false));
    REQUIRE(m && v);
    for (int c = 0; c < 3; c++) {
        CHECK_NEAR(m[c], 0, 1e-12);
        CHECK_NEAR(v[c], 1, 1e-12);
    }
    free(m);
    free(v);
    dc_tensor *g = dc_group_norm(x, 3, NULL, NULL, 0);
    m = dc_test_values(dc_mean(g, 2, (int[]){2, 3}, false));
    v = dc_test_values(dc_var(g, 2, (int[]){2, 3}, 0, false));
    REQUIRE(m && v);
    for (int i = 0; i < 12; i++) {
        CHECK_NEAR(m[i], 0, 1e-12);
        CHECK_NEAR(v[i], 1, 1e-12);
    }
    free(m);
    free(v);
}

/* The float32 kernels on sizes split over threads (and over several weight-gradient blocks)
 * agree with the float64 ones, and give bit-identical results with 1 or 2 threads. */
typedef dc_tensor *(*norm_op)(dc_tensor *x, dc_tensor *w, dc_tensor *b);
static dc_tensor *ln_op(dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    return dc_layer_norm(x, 1, w, b, 1e-5);
}
static dc_tensor *gn_op(dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    return dc_group_norm(x, 4, w, b, 1e-5);
}
static dc_tensor *bn_op(dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    return dc_batch_norm(x, NULL, NULL, w, b, true, 0.1, 1e-5);
}
static dc_tensor *rms_op(dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    (void)b;
    return dc_rms_norm(x, 1, w, 1e-6);
}

/* Forward + backward of op in dtype; returns the values of y, dx, dw, db concatenated. */
static double *run_norm(norm_op op, dc_dtype dtype, int ndim, const int64_t *shape, int64_t C,
                        int64_t *n_values)
{
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 77);
    dc_tensor *x =
        dc_requires_grad(dc_to_dtype(dc_normal(&rng, DC_F64, ndim, shape, 1, 2), dtype), true);
    dc_tensor *w =
        dc_requires_grad(dc_to_dtype(dc_uniform(&rng, DC_F64, 1, &C, 0.5, 1.5), dtype), true);
    dc_tensor *b =
        dc_requires_grad(dc_to_dtype(dc_uniform(&rng, DC_F64, 1, &C, -1, 1), dtype), true);
    dc_tensor *y = op(x, w, b);
    dc_tensor *seed = dc_to_dtype(dc_normal(&rng, DC_F64, ndim, shape, 0, 1), dtype);
    double *out = NULL;
    if (y && dc_backward_with(y, seed) == 0 && x->grad && w->grad) {
        int64_t n = dc_numel(y), nx = n, nw = C, nb = b->grad ? C : 0;
        out = malloc((size_t)(n + nx + nw + nb) * sizeof *out);
        if (out) {
            dc_to_double_buffer(y, out, n);
            dc_to_double_buffer(x->grad, out + n, nx);
            dc_to_double_buffer(w->grad, out + n + nx, nw);
            if (nb) dc_to_double_buffer(b->grad, out + n + nx + nw, nb);
            *n_values = n + nx + nw + nb;
        }
    }
    dc_scope_end(scope);
    return out;
}

static void check_f32_vs_f64_and_threads(const char *what, norm_op op, int ndim,
                                         const int64_t *shape, int64_t C)
{
    int64_t n32 = 0, n64 = 0, n1 = 0;
    double *v32 = run_norm(op, DC_F32, ndim, shape, C, &n32);
    double *v64 = run_norm(op, DC_F64, ndim, shape, C, &n64);
    int threads = dc_get_num_threads();
    dc_set_num_threads(1);
    double *v1 = run_norm(op, DC_F32, ndim, shape, C, &n1);
    dc_set_num_threads(threads < 2 ? 2 : threads);
    double *v2 = NULL;
    int64_t n2 = 0;
    if (threads < 2) v2 = run_norm(op, DC_F32, ndim, shape, C, &n2);
    dc_set_num_threads(threads);
    if (!v32 || !v64 || !v1 || n32 != n64 || n1 != n32) {
        dc_test_fail(__FILE__, __LINE__, "%s: run failed: %s", what, dc_last_error());
    } else {
        char label[128];
        /* weight gradients sum thousands of terms: compare with a tolerance scaled by them */
        snprintf(label, sizeof label, "%s float32 vs float64", what);
        double scale = 1;
        for (int64_t i = 0; i < n64; i++) scale = fmax(scale, fabs(v64[i]));
        CHECK_ALLCLOSE(label, v32, v64, n32, 1e-4, 1e-5 * scale);
        snprintf(label, sizeof label, "%s 1 thread vs %d", what, threads);
        CHECK_ALLCLOSE(label, v1, v32, n32, 0, 0);
        if (v2) CHECK_ALLCLOSE(label, v2, v1, n32, 0, 0);
    }
    free(v32);
    free(v64);
    free(v1);
    free(v2);
}

TEST(test_norm_float32_kernels_match_float64_on_any_thread_count)
{
    check_f32_vs_f64_and_threads("layer_norm [300, 257]", ln_op, 2, (int64_t[]){300, 257}, 257);
    check_f32_vs_f64_and_threads("rms_norm [300, 64]", rms_op, 2, (int64_t[]){300, 64}, 64);
    check_f32_vs_f64_and_threads("group_norm [8, 16, 20, 20]", gn_op, 4, (int64_t[]){8, 16, 20, 20},
                                 16);
    check_f32_vs_f64_and_threads("batch_norm [64, 32, 12]", bn_op, 3, (int64_t[]){64, 32, 12}, 32);
    check_f32_vs_f64_and_threads("batch_norm [4096, 8]", bn_op, 2, (int64_t[]){4096, 8}, 8);
}

/* ---- Batch norm state ---------------------------------------------------------------------- */

TEST(test_batch_norm_updates_running_stats_with_unbiased_variance)
{
    /* one channel, values 1..4: mean 2.5, biased var 1.25, unbiased 5/3 */
    dc_tensor *x = dc_from_buffer(DC_F64, DC_SHAPE(4, 1), (double[]){1, 2, 3, 4});
    dc_tensor *rm = dc_full(DC_F64, DC_SHAPE(1), 1.0), *rv = dc_full(DC_F64, DC_SHAPE(1), 2.0);
    dc_tensor *y = dc_batch_norm(x, rm, rv, NULL, NULL, true, 0.25, 0);
    REQUIRE(y);
    CHECK_NEAR(dc_item(rm), 0.75 * 1 + 0.25 * 2.5, 1e-15);
    CHECK_NEAR(dc_item(rv), 0.75 * 2 + 0.25 * 5.0 / 3.0, 1e-15);
    CHECK_NEAR(dc_item_at(y, (int64_t[]){0, 0}), -1.5 / sqrt(1.25), 1e-12);
    /* eval: (x - running_mean) / sqrt(running_var + eps), running stats untouched */
    double m = dc_item(rm), v = dc_item(rv);
    dc_tensor *e = dc_batch_norm(x, rm, rv, NULL, NULL, false, 0.25, 1e-5);
    REQUIRE(e);
    CHECK_NEAR(dc_item_at(e, (int64_t[]){3, 0}), (4 - m) / sqrt(v + 1e-5), 1e-12);
    CHECK(dc_item(rm) == m && dc_item(rv) == v);
    /* the running stats are updated under no-grad too (a validation pass in train mode) */
    bool prev = dc_no_grad_begin();
    dc_batch_norm(x, rm, rv, NULL, NULL, true, 0.5, 0);
    dc_grad_mode_restore(prev);
    CHECK_NEAR(dc_item(rm), 0.5 * m + 0.5 * 2.5, 1e-15);
}

TEST(test_batch_norm_module_state_names_and_modes)
{
    dc_module *bn = dc_batch_norm2d_new(3, 1e-5, 0.1, true);
    REQUIRE(bn);
    dc_tensor_list state;
    REQUIRE(dc_module_state(bn, &state) == 0);
    const char *names[] = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"};
    CHECK(state.n == 5);
    for (int i = 0; i < state.n && i < 5; i++) CHECK(strcmp(state.names[i], names[i]) == 0);
    dc_tensor_list_free(&state);
    CHECK(dc_module_num_params(bn, false) == 6);
    CHECK(dc_module_buffer(bn, "num_batches_tracked")->dtype == DC_I64);
    CHECK(dc_item(dc_sum_all(dc_module_buffer(bn, "running_var"))) == 3);

    dc_rng rng;
    dc_rng_seed(&rng, 8);
    dc_tensor *x = dc_normal(&rng, DC_F32, DC_SHAPE(2, 3, 4, 4), 5, 1);
    CHECK(dc_forward(bn, x) != NULL);
    CHECK(dc_forward(bn, x) != NULL);
    CHECK(dc_item(dc_module_buffer(bn, "num_batches_tracked")) == 2);
    /* after two steps from 0 with momentum 0.1: 0.19 * batch mean (about 5) */
    CHECK_NEAR(dc_item_at(dc_module_buffer(bn, "running_mean"), (int64_t[]){0}), 0.19 * 5, 0.1);
    dc_module_train(bn, false);
    dc_tensor *before = dc_clone(dc_module_buffer(bn, "running_mean"));
    dc_tensor *y = dc_forward(bn, x);
    CHECK(y && dc_item(dc_module_buffer(bn, "num_batches_tracked")) == 2);
    CHECK(dc_item(dc_sum_all(dc_sub(before, dc_module_buffer(bn, "running_mean")))) == 0);
    char desc[160];
    bn->describe(bn, desc, sizeof desc);
    CHECK(strstr(desc, "3, eps=1e-05, momentum=0.1") != NULL);
    dc_module_free(bn);

    dc_module *plain = dc_batch_norm1d_new(4, 1e-5, 0.1, false);
    REQUIRE(plain);
    CHECK(dc_module_num_params(plain, false) == 0 && plain->n_buffers == 3);
    dc_module_free(plain);
}

TEST(test_norm_modules_parameters_and_forward)
{
    dc_module *ln = dc_layer_norm_new(2, (int64_t[]){3, 4}, 1e-5, true);
    dc_module *gn = dc_group_norm_new(2, 6, 1e-5, true);
    dc_module *rms = dc_rms_norm_new(1, (int64_t[]){4}, -1, true);
    REQUIRE(ln && gn && rms);
    CHECK(dc_module_param(ln, "weight")->ndim == 2 && dc_module_num_params(ln, false) == 24);
    CHECK(dc_module_num_params(gn, false) == 12);
    CHECK(dc_module_param(rms, "weight") && !dc_module_param(rms, "bias"));
    CHECK(dc_item(dc_sum_all(dc_module_param(ln, "weight"))) == 12);
    CHECK(dc_item(dc_sum_all(dc_module_param(ln, "bias"))) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(2, 6, 3, 4));
    dc_tensor *a = dc_forward(ln, x), *b = dc_forward(gn, x), *c = dc_forward(rms, x);
    CHECK(a && b && c && dc_same_shape(a, x) && dc_same_shape(b, x) && dc_same_shape(c, x));
    /* the default RMSNorm eps is float32's machine epsilon */
    double *got = dc_test_values(c), *want = dc_test_values(dc_rms_norm(x, 1, NULL, FLT_EPSILON));
    REQUIRE(got && want);
    CHECK_ALLCLOSE("RMSNorm default eps", got, want, dc_numel(x), 0, 0);
    free(got);
    free(want);
    char desc[160];
    ln->describe(ln, desc, sizeof desc);
    CHECK(strcmp(desc, "(3, 4), eps=1e-05, elementwise_affine=true") == 0);
    rms->describe(rms, desc, sizeof desc);
    CHECK(strstr(desc, "eps=None") != NULL);
    dc_module_free(ln);
    dc_module_free(gn);
    dc_module_free(rms);
}

/* ---- Errors -----------------------------------------------------------------------------------
 */

TEST(test_norm_errors_name_the_shapes)
{
    dc_tensor *x = dc_zeros(DC_F32, DC_SHAPE(2, 6, 4));
    dc_tensor *w4 = dc_ones(DC_F32, DC_SHAPE(4)), *w5 = dc_ones(DC_F32, DC_SHAPE(5));
    dc_tensor *w6 = dc_ones(DC_F32, DC_SHAPE(6));
    CHECK_ERROR(dc_layer_norm(x, 1, w5, NULL, 1e-5) == NULL,
                "weight has shape [5], expected [4] for input [2, 6, 4]");
    CHECK_ERROR(dc_layer_norm(x, 1, w4, w5, 1e-5) == NULL, "bias has shape [5]");
    CHECK_ERROR(dc_layer_norm(x, 0, NULL, NULL, 1e-5) == NULL, "normalized_ndim 0");
    CHECK_ERROR(dc_layer_norm(x, 4, NULL, NULL, 1e-5) == NULL, "normalized_ndim 4");
    CHECK_ERROR(dc_layer_norm(x, 1, dc_ones(DC_F64, DC_SHAPE(4)), NULL, 1e-5) == NULL,
                "weight is float64 but the input is float32");
    CHECK_ERROR(dc_layer_norm(x, 1, NULL, NULL, -1) == NULL, "eps must be >= 0");
    CHECK_ERROR(dc_rms_norm(x, 2, w4, 1e-6) == NULL, "expected [6, 4]");
    CHECK_ERROR(dc_group_norm(x, 4, NULL, NULL, 1e-5) == NULL,
                "num_groups 4 must divide the 6 channels of input [2, 6, 4]");
    CHECK_ERROR(dc_group_norm(x, 0, NULL, NULL, 1e-5) == NULL, "num_groups 0");
    CHECK_ERROR(dc_group_norm(x, 3, w4, NULL, 1e-5) == NULL, "weight has shape [4], expected [6]");
    CHECK_ERROR(dc_group_norm(dc_zeros(DC_F32, DC_SHAPE(6)), 3, NULL, NULL, 1e-5) == NULL,
                "input must be [N, C, ...], got [6]");
    CHECK_ERROR(dc_batch_norm(x, NULL, NULL, w4, NULL, true, 0.1, 1e-5) == NULL,
                "weight has shape [4], expected [6]");
    CHECK_ERROR(dc_batch_norm(x, NULL, NULL, w6, w6, false, 0.1, 1e-5) == NULL,
                "eval mode (training false) needs running_mean and running_var");
    CHECK_ERROR(dc_batch_norm(x, w6, NULL, NULL, NULL, true, 0.1, 1e-5) == NULL,
                "both running_mean and running_var");
    CHECK_ERROR(dc_batch_norm(dc_zeros(DC_F32, DC_SHAPE(1, 6)), NULL, NULL, NULL, NULL, true, 0.1,
                              1e-5) == NULL,
                "expected more than 1 value per channel when training, got input [1, 6]");
    CHECK_ERROR(dc_batch_norm(x, dc_zeros(DC_F32, DC_SHAPE(6)), w6, NULL, NULL, true, 1.5, 1e-5) ==
                    NULL,
                "momentum must be in [0, 1]");
    CHECK_ERROR(dc_layer_norm(dc_zeros(DC_I64, DC_SHAPE(2, 3)), 1, NULL, NULL, 1e-5) == NULL,
                "float32 or float64");
    CHECK_ERROR(dc_layer_norm(NULL, 1, NULL, NULL, 1e-5) == NULL, "NULL");
    CHECK_ERROR(dc_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, 1e-5) == NULL, "NULL");

    /* modules */
    dc_module *ln = dc_layer_norm_new(1, (int64_t[]){5}, 1e-5, false);
    dc_module *bn2 = dc_batch_norm2d_new(6, 1e-5, 0.1, true);
    dc_module *gn = dc_group_norm_new(3, 6, 1e-5, true);
    REQUIRE(ln && bn2 && gn);
    CHECK_ERROR(dc_forward(ln, x) == NULL,
                "LayerNorm: input [2, 6, 4] does not end with normalized_shape [5]");
    CHECK_ERROR(dc_forward(bn2, x) == NULL,
                "BatchNorm2d: expected a 4-D [N, C, H, W] input, got [2, 6, 4]");
    CHECK_ERROR(dc_forward(gn, dc_zeros(DC_F32, DC_SHAPE(2, 4, 3))) == NULL,
                "GroupNorm: expected input [N, 6, ...], got [2, 4, 3]");
    CHECK_ERROR(dc_group_norm_new(4, 6, 1e-5, true) == NULL,
                "num_groups 4 must divide num_channels 6");
    CHECK_ERROR(dc_batch_norm1d_new(0, 1e-5, 0.1, true) == NULL, "num_features must be positive");
    CHECK_ERROR(dc_batch_norm1d_new(3, 1e-5, -0.1, true) == NULL, "momentum");
    CHECK_ERROR(dc_layer_norm_new(0, (int64_t[]){5}, 1e-5, true) == NULL, "normalized_shape");
    CHECK_ERROR(dc_rms_norm_new(1, (int64_t[]){-2}, 1e-5, true) == NULL, "must be positive");
    dc_module_free(ln);
    dc_module_free(bn2);
    dc_module_free(gn);
}
