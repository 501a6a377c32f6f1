/* Pooling and upsampling (src/ops/pool.c): PyTorch references and float64 gradient checks
 * through the table of tests/conv_cases.h, torch's tie and padding rules, error cases. */
#include "conv_cases.h"
#include "gradcheck.h"

/* The pooling rows (mirroring make_conv_refs.py; stride 0 = the kernel size). */
static const conv_case pool_cases[] = {
    {.name = "max_pool2d_k2", .op = CASE_MAX_POOL2D, .kernel = {2, 2}},
    {.name = "max_pool2d_k3_stride2_padding1",
     .op = CASE_MAX_POOL2D,
     .kernel = {3, 3},
     .stride = {2, 2},
     .padding = {1, 1}},
    {.name = "max_pool2d_nonsquare_k2x3_stride1x2_padding1",
     .op = CASE_MAX_POOL2D,
     .kernel = {2, 3},
     .stride = {1, 2},
     .padding = {1, 1}},
    {.name = "max_pool1d_k3_stride2_padding1",
     .op = CASE_MAX_POOL1D,
     .kernel = {3},
     .stride = {2},
     .padding = {1}},
    {.name = "avg_pool2d_k2", .op = CASE_AVG_POOL2D, .kernel = {2, 2}},
    {.name = "avg_pool2d_k3_stride2_padding1_counts_padding",
     .op = CASE_AVG_POOL2D,
     .kernel = {3, 3},
     .stride = {2, 2},
     .padding = {1, 1}},
    {.name = "avg_pool1d_k4_stride3_padding2",
     .op = CASE_AVG_POOL1D,
     .kernel = {4},
     .stride = {3},
     .padding = {2}},
    {.name = "adaptive_avg_pool2d_7x5_to_3x2", .op = CASE_ADAPTIVE_AVG_POOL2D, .size = {3, 2}},
    {.name = "adaptive_avg_pool2d_global_1x1", .op = CASE_ADAPTIVE_AVG_POOL2D, .size = {1, 1}},
    {.name = "adaptive_avg_pool2d_3x3_up_to_5x4", .op = CASE_ADAPTIVE_AVG_POOL2D, .size = {5, 4}},
    {.name = "upsample_nearest2d_scale2", .op = CASE_UPSAMPLE_NEAREST2D, .size = {2, 2}},
    {.name = "upsample_nearest2d_scale3x1", .op = CASE_UPSAMPLE_NEAREST2D, .size = {3, 1}},
    {.name = "upsample_bilinear2d_3x4_to_7x9", .op = CASE_UPSAMPLE_BILINEAR2D, .size = {7, 9}},
    {.name = "upsample_bilinear2d_align_corners_3x4_to_5x6",
     .op = CASE_UPSAMPLE_BILINEAR2D,
     .size = {5, 6},
     .align_corners = true},
    {.name = "upsample_bilinear2d_down_5x7_to_2x3", .op = CASE_UPSAMPLE_BILINEAR2D, .size = {2, 3}},
};

CONV_TORCH_TEST(pool_cases, max_pool2d_k2)
CONV_TORCH_TEST(pool_cases, max_pool2d_k3_stride2_padding1)
CONV_TORCH_TEST(pool_cases, max_pool2d_nonsquare_k2x3_stride1x2_padding1)
CONV_TORCH_TEST(pool_cases, max_pool1d_k3_stride2_padding1)
CONV_TORCH_TEST(pool_cases, avg_pool2d_k2)
CONV_TORCH_TEST(pool_cases, avg_pool2d_k3_stride2_padding1_counts_padding)
CONV_TORCH_TEST(pool_cases, avg_pool1d_k4_stride3_padding2)
CONV_TORCH_TEST(pool_cases, adaptive_avg_pool2d_7x5_to_3x2)
CONV_TORCH_TEST(pool_cases, adaptive_avg_pool2d_global_1x1)
CONV_TORCH_TEST(pool_cases, adaptive_avg_pool2d_3x3_up_to_5x4)
CONV_TORCH_TEST(pool_cases, upsample_nearest2d_scale2)
CONV_TORCH_TEST(pool_cases, upsample_nearest2d_scale3x1)
CONV_TORCH_TEST(pool_cases, upsample_bilinear2d_3x4_to_7x9)
CONV_TORCH_TEST(pool_cases, upsample_bilinear2d_align_corners_3x4_to_5x6)
CONV_TORCH_TEST(pool_cases, upsample_bilinear2d_down_5x7_to_2x3)

TEST(test_pool_gradients_match_finite_differences_float64)
{
    for (size_t i = 0; i < sizeof pool_cases / sizeof *pool_cases; i++)
        conv_case_check_gradients(&pool_cases[i]);
}

/* ---- torch's rules, by hand ---------------------------------------------------------------- */

/* In a window of equal values the whole gradient goes to the first one in row-major order
 * (torch's `val > maxval` scan), not split as dc_maximum does. */
TEST(test_max_pool2d_gives_ties_gradient_to_the_first_max)
{
    dc_tensor *x = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(1, 1, 2, 4)), true);
    dc_tensor *y = dc_max_pool2d(x, DC_POOL2D_OPTS(2, 0, 0));
    REQUIRE(y && y->shape[3] == 2);
    REQUIRE(dc_backward(dc_sum_all(y)) == 0);
    const double want[8] = {1, 0, 1, 0, 0, 0, 0, 0};
    double *g = dc_test_values(x->grad);
    REQUIRE(g);
    CHECK_ALLCLOSE("max pool tie gradient", g, want, 8, 0, 0);
    free(g);
}

/* Padding never wins a max, even over negative values; an average counts it as zeros. */
TEST(test_max_pool_ignores_padding_and_avg_pool_counts_it)
{
    dc_tensor *x = dc_full(DC_F32, DC_SHAPE(1, 1, 3), -5.0);
    dc_tensor *m = dc_max_pool1d(x, 2, 2, 1); /* windows [pad, x0], [x1, x2] */
    dc_tensor *a = dc_avg_pool1d(x, 2, 2, 1);
    REQUIRE(m && a && m->shape[2] == 2);
    CHECK_NEAR(dc_item_at(m, (int64_t[]){0, 0, 0}), -5.0, 0);
    CHECK_NEAR(dc_item_at(a, (int64_t[]){0, 0, 0}), -2.5, 0);
    CHECK_NEAR(dc_item_at(a, (int64_t[]){0, 0, 1}), -5.0, 0);
}

TEST(test_upsample_nearest2d_repeats_each_pixel)
{
    dc_tensor *x = dc_arange(DC_F32, 0, 4, 1);
    dc_tensor *y = dc_upsample_nearest2d(dc_reshape(x, DC_SHAPE(1, 1, 2, 2)), 2, 3);
    REQUIRE(y && y->shape[2] == 4 && y->shape[3] == 6);
    const double want[24] = {0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1,
                             2, 2, 2, 3, 3, 3, 2, 2, 2, 3, 3, 3};
    double *v = dc_test_values(y);
    REQUIRE(v);
    CHECK_ALLCLOSE("nearest x2 x3", v, want, 24, 0, 0);
    free(v);
}

/* A sliced (non-contiguous) leaf: the ops read through its strides. */
static dc_tensor *pool_chain(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    dc_tensor *m = dc_max_pool2d(in[0], DC_POOL2D_OPTS(2, 1, 1));
    return dc_upsample_bilinear2d(dc_avg_pool2d(m, DC_POOL2D_OPTS(2, 0, 0)), 5, 3, false);
}

TEST(test_pooling_accepts_non_contiguous_views)
{
    dc_tensor *x = dc_requires_grad(
        dc_detach(dc_slice(dc_randn(NULL, DC_F64, DC_SHAPE(2, 3, 6, 10)), 3, 1, 10, 2)), true);
    REQUIRE(x && !dc_is_contiguous(x));
    CHECK_GRADIENTS("max_avg_bilinear_on_a_slice", pool_chain, NULL, 1, ((dc_tensor *[]){x}), NULL);
    dc_tensor *y = pool_chain((dc_tensor *[]){x}, NULL);
    dc_tensor *y_ref = pool_chain((dc_tensor *[]){dc_contiguous(x)}, NULL);
    double *a = dc_test_values(y), *b = dc_test_values(y_ref);
    if (a && b) CHECK_ALLCLOSE("view vs copy", a, b, dc_numel(y), 0, 0);
    else CHECK(!"pooling a view failed");
    free(a);
    free(b);
}

TEST(test_pooling_is_the_same_with_1_and_2_threads)
{
    const int threads = dc_get_num_threads();
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(4, 8, 33, 31));
    double *first = NULL;
    for (int t = 1; t <= 2; t++) {
        REQUIRE(dc_set_num_threads(t) == 0);
        dc_tensor *y = pool_chain((dc_tensor *[]){x}, NULL);
        double *v = dc_test_values(y);
        if (first && v) CHECK_ALLCLOSE("2 threads vs 1", v, first, dc_numel(y), 0, 0);
        if (first) free(v);
        else first = v;
    }
    dc_set_num_threads(threads);
    free(first);
}

/* ---- Errors -------------------------------------------------------------------------------- */

TEST(test_pool_errors_name_the_op_and_the_problem)
{
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(1, 2, 5, 4));
    dc_tensor *x1 = dc_randn(NULL, DC_F32, DC_SHAPE(1, 2, 5));
    CHECK_ERROR(!dc_max_pool2d(NULL, DC_POOL2D_OPTS(2, 0, 0)), "dc_max_pool2d: input 'x' is NULL");
    CHECK_ERROR(!dc_max_pool2d(x1, DC_POOL2D_OPTS(2, 0, 0)),
                "dc_max_pool2d: input must be 4-D [N, C, H, W], got shape [1, 2, 5]");
    CHECK_ERROR(!dc_avg_pool2d(x, DC_POOL2D_OPTS(6, 0, 0)),
                "dc_avg_pool2d: kernel height 6 is larger than the padded input height 5");
    CHECK_ERROR(!dc_max_pool2d(x, DC_POOL2D_OPTS(2, 0, 2)),
                "padding must be between 0 and half the kernel size (2), got 2");
    CHECK_ERROR(!dc_max_pool2d(x, DC_POOL2D_OPTS(0, 0, 0)), "kernel size must be >= 1, got 0");
    CHECK_ERROR(!dc_max_pool2d(x, DC_POOL2D_OPTS(2, -1, 0)), "stride must be >= 1");
    CHECK_ERROR(!dc_max_pool1d(x, 2, 0, 0), "dc_max_pool1d: input must be 3-D [N, C, L]");
    CHECK_ERROR(!dc_avg_pool1d(x1, 8, 0, 1),
                "dc_avg_pool1d: kernel length 8 is larger than the padded input length 7");
    CHECK_ERROR(!dc_adaptive_avg_pool2d(x, 0, 2),
                "dc_adaptive_avg_pool2d: output size must be >= 1, got 0 x 2");
    CHECK_ERROR(!dc_upsample_nearest2d(x, 0, 2),
                "dc_upsample_nearest2d: scale factors must be integers >= 1, got 0 x 2");
    CHECK_ERROR(!dc_upsample_bilinear2d(x1, 4, 4, false),
                "dc_upsample_bilinear2d: input must be 4-D");
    CHECK_ERROR(!dc_upsample_bilinear2d(NULL, 4, 4, true),
                "dc_upsample_bilinear2d: input 'x' is NULL");
    CHECK_ERROR(!dc_max_pool2d(dc_zeros(DC_I64, DC_SHAPE(1, 1, 2, 2)), DC_POOL2D_OPTS(2, 0, 0)),
                "dc_max_pool2d");
}
