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

/* ---- max pool against the naive loop ----------------------------------------------------------
 * src/ops/pool.c computes max pool in three ways (an interior kernel for 2x2 and 3x3 windows
 * inside the image, a generic row-at-a-time path for the border and other sizes, a backward that
 * writes dX without zeroing it first); each must give torch's answer bit for bit, ties and NaNs
 * included. The reference is torch's loop written out plainly. */

/* Stride 0 means the kernel size. */
static int64_t pool_stride(dc_pool2d_opts o, int d)
{
    return o.stride[d] ? o.stride[d] : o.kernel[d];
}

/* Per output, the window's real taps in row-major order, starting from -inf at the first real
 * element; take = v > best || isnan(v) (the first max wins a tie, the last NaN wins, padding
 * never does); dX[argmax] += g. x, g, y, dx in double; dx is [planes, H, W], zeroed here. */
static void naive_max_pool2d(const double *x, int64_t planes, int64_t H, int64_t W,
                             dc_pool2d_opts o, int64_t OH, int64_t OW, const double *g, double *y,
                             double *dx)
{
    const int64_t sh = pool_stride(o, 0), sw = pool_stride(o, 1);
    for (int64_t k = 0; k < planes * H * W; k++) dx[k] = 0;
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t jj = 0; jj < OW; jj++) {
                const int64_t h0 = i * sh - o.padding[0], w0 = jj * sw - o.padding[1];
                double best = -INFINITY;
                int64_t at = (h0 < 0 ? 0 : h0) * W + (w0 < 0 ? 0 : w0);
                for (int64_t r = h0; r < h0 + o.kernel[0]; r++)
                    for (int64_t c = w0; c < w0 + o.kernel[1]; c++) {
                        if (r < 0 || r >= H || c < 0 || c >= W) continue;
                        const double v = x[pl * H * W + r * W + c];
                        if (v > best || isnan(v)) {
                            best = v;
                            at = r * W + c;
                        }
                    }
                const int64_t out = (pl * OH + i) * OW + jj;
                y[out] = best;
                dx[pl * H * W + at] += g[out];
            }
}

/* Values with many exact ties (a few small integers), NaNs, +-inf, +-0, and on every third
 * plane a 5 x 7 block of -inf in the top-left corner, so that whole windows (with and without
 * padding) are -inf. */
static double *tricky_values(int64_t planes, int64_t H, int64_t W, uint64_t seed)
{
    double *v = malloc((size_t)(planes * H * W) * sizeof *v);
    if (!v) return NULL;
    for (int64_t k = 0; k < planes * H * W; k++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        const unsigned r = (unsigned)(seed >> 33) % 100;
        v[k] = r < 6    ? NAN
               : r < 12 ? -INFINITY
               : r < 14 ? INFINITY
               : r < 20 ? (r % 2 ? -0.0 : 0.0)
                        : (double)(r % 7) - 3.0;
    }
    for (int64_t pl = 0; pl < planes; pl += 3)
        for (int64_t r = 0; r < H && r < 5; r++)
            for (int64_t c = 0; c < W && c < 7; c++) v[pl * H * W + r * W + c] = -INFINITY;
    return v;
}

/* The n values of `got` are those of `want`, bit for bit up to the NaN payload: NaN matches
 * NaN, and -0 does not match +0 (y is the element at the argmax, not just an equal value). */
static void check_same_values(const char *what, const double *got, const double *want, int64_t n)
{
    for (int64_t k = 0; k < n; k++) {
        const bool same = isnan(want[k]) ? isnan(got[k])
                                         : got[k] == want[k] && signbit(got[k]) == signbit(want[k]);
        if (!same) {
            dc_test_fail(__FILE__, __LINE__, "%s: element %lld is %g, want %g", what, (long long)k,
                         got[k], want[k]);
            return;
        }
    }
}

/* A tensor of dtype with the (double) values v: float32 holds the values exactly. */
static dc_tensor *tensor_of(dc_dtype dtype, int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                            const double *v)
{
    const int64_t shape[4] = {n0, n1, n2, n3}, n = n0 * n1 * n2 * n3;
    if (dtype == DC_F64) return dc_from_buffer(DC_F64, 4, shape, v);
    float *f = malloc((size_t)n * sizeof *f);
    if (!f) return NULL;
    for (int64_t k = 0; k < n; k++) f[k] = (float)v[k];
    dc_tensor *t = dc_from_buffer(DC_F32, 4, shape, f);
    free(f);
    return t;
}

/* Release a tensor of this shape filled with 1e30 (a value no input has): the next allocation
 * of that size is likely to get its memory back, so an element a kernel forgets to write shows. */
static void leave_garbage(dc_dtype dtype, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    size_t scope = dc_scope_begin();
    dc_full(dtype, 4, (int64_t[]){n0, n1, n2, n3}, 1e30);
    dc_scope_end(scope);
}

/* y = max_pool2d(x) and x.grad for the seed g = 1, 2, 3, ... (distinct, and their sums exact in
 * float32, so dX shows which output picked which element) against the naive loop, with garbage
 * left where y and dX are likely to be allocated. */
static void check_max_pool_against_naive(const char *name, dc_dtype dtype, int64_t H, int64_t W,
                                         dc_pool2d_opts o, uint64_t seed)
{
    const int64_t N = 2, C = 3, planes = N * C;
    const int64_t OH = (H + 2 * o.padding[0] - o.kernel[0]) / pool_stride(o, 0) + 1;
    const int64_t OW = (W + 2 * o.padding[1] - o.kernel[1]) / pool_stride(o, 1) + 1;
    const int64_t ny = planes * OH * OW;
    double *xv = tricky_values(planes, H, W, seed), *y_got = NULL, *dx_got = NULL;
    double *gv = malloc((size_t)ny * sizeof *gv), *y_want = malloc((size_t)ny * sizeof *y_want);
    double *dx_want = malloc((size_t)(planes * H * W) * sizeof *dx_want);
    size_t scope = dc_scope_begin();
    if (xv && gv && y_want && dx_want) {
        for (int64_t k = 0; k < ny; k++) gv[k] = (double)(k + 1);
        naive_max_pool2d(xv, planes, H, W, o, OH, OW, gv, y_want, dx_want);
        dc_tensor *x = dc_requires_grad(tensor_of(dtype, N, C, H, W, xv), true);
        dc_tensor *g = tensor_of(dtype, N, C, OH, OW, gv);
        leave_garbage(dtype, N, C, OH, OW);
        dc_tensor *y = x && g ? dc_max_pool2d(x, o) : NULL;
        leave_garbage(dtype, N, C, H, W);
        if (y && y->shape[2] == OH && y->shape[3] == OW && dc_backward_with(y, g) == 0) {
            y_got = dc_test_values(y);
            dx_got = dc_test_values(x->grad);
        }
    }
    if (y_got && dx_got) {
        char what[160];
        const char *type = dtype == DC_F64 ? "float64" : "float32";
        snprintf(what, sizeof what, "%s %s, %d threads: y", name, type, dc_get_num_threads());
        check_same_values(what, y_got, y_want, ny);
        snprintf(what, sizeof what, "%s %s, %d threads: dX", name, type, dc_get_num_threads());
        check_same_values(what, dx_got, dx_want, planes * H * W);
    } else {
        dc_test_fail(__FILE__, __LINE__, "%s: max_pool2d or its backward failed: %s", name,
                     dc_last_error());
    }
    free(xv);
    free(gv);
    free(y_want);
    free(dx_want);
    free(y_got);
    free(dx_got);
    dc_scope_end(scope);
}

/* Shapes for every path: windows with k == s, s < k, s > k, padding, non-square kernels,
 * strides and inputs, inputs whose size is not a multiple of the stride (uncovered last rows
 * and columns), interiors whose width is not a multiple of the kernel's block of 4 outputs, and
 * interiors too narrow for the interior kernel. */
static const struct {
    const char *name;
    int64_t h, w;
    dc_pool2d_opts o;
} max_pool_cases[] = {
    {"k2_s2_7_outputs_wide", 8, 14, DC_POOL2D_OPTS(2, 2, 0)},
    {"k2_s2_odd_input", 9, 19, DC_POOL2D_OPTS(2, 2, 0)},
    {"k3_s3_25x25_last_row_and_column_unread", 25, 25, DC_POOL2D_OPTS(3, 3, 0)},
    {"k3_s3_24x24_lenet", 24, 24, DC_POOL2D_OPTS(3, 3, 0)},
    {"k3_s2_overlapping", 17, 19, DC_POOL2D_OPTS(3, 2, 0)},
    {"k2_s1_overlapping", 9, 11, DC_POOL2D_OPTS(2, 1, 0)},
    {"k2_s3_gaps", 13, 20, DC_POOL2D_OPTS(2, 3, 0)},
    {"k3_s1_p1", 7, 12, DC_POOL2D_OPTS(3, 1, 1)},
    {"k3_s2_p1_resnet", 16, 16, DC_POOL2D_OPTS(3, 2, 1)},
    {"k3_s2_p1_odd_input", 15, 21, DC_POOL2D_OPTS(3, 2, 1)},
    {"k2_s2_p1", 10, 13, DC_POOL2D_OPTS(2, 2, 1)},
    {"k3_stride1x2_padding1x0", 9, 30, {{3, 3}, {1, 2}, {1, 0}}},
    {"k3_stride3x2_padding0x1", 14, 23, {{3, 3}, {3, 2}, {0, 1}}},
    {"k2x3_stride2_padding1_generic", 10, 17, {{2, 3}, {2, 2}, {1, 1}}},
    {"k1x3_stride1x2_1d", 1, 20, {{1, 3}, {1, 2}, {0, 1}}},
    {"k4_s2_p2_generic", 11, 12, DC_POOL2D_OPTS(4, 2, 2)},
    {"k3_s3_3_outputs_wide", 12, 9, DC_POOL2D_OPTS(3, 3, 0)},
    {"k2_s2_2x2_input", 2, 2, DC_POOL2D_OPTS(2, 2, 0)},
};

TEST(test_max_pool2d_values_and_gradients_match_the_naive_loop_with_ties_nans_and_infs)
{
    const int threads = dc_get_num_threads();
    for (int t = 1; t <= 2; t++) {
        REQUIRE(dc_set_num_threads(t) == 0);
        for (size_t c = 0; c < sizeof max_pool_cases / sizeof *max_pool_cases; c++)
            for (int d = 0; d < 2; d++)
                check_max_pool_against_naive(max_pool_cases[c].name, d ? DC_F64 : DC_F32,
                                             max_pool_cases[c].h, max_pool_cases[c].w,
                                             max_pool_cases[c].o, 1000 + c);
    }
    dc_set_num_threads(threads);
}

/* Windows of -inf only: y = -inf and the gradient goes to the window's first real element,
 * inside the image (interior kernel) and at a padded border (generic path). Windows with
 * NaNs: the last NaN in row-major order takes the gradient. */
TEST(test_max_pool2d_all_minus_inf_window_picks_its_first_element_and_the_last_nan_wins)
{
    for (int d = 0; d < 2; d++) {
        size_t scope = dc_scope_begin();
        const dc_dtype dtype = d ? DC_F64 : DC_F32;
        /* 1 x 1 x 3 x 12: 3x3 windows at columns 0, 3, 6, 9 (no padding: all interior) */
        double v[36];
        for (int k = 0; k < 36; k++) v[k] = -INFINITY;
        v[12 + 4] = NAN; /* window 1: NaNs at (1,4) and (2,3): the last one, (2,3), wins */
        v[24 + 3] = NAN;
        v[7] = 5; /* window 2: 5 at (0,7), a NaN after it at (1,8) wins */
        v[12 + 8] = NAN;
        v[9] = 2; /* window 3: the first of two equal maxima, (0,9) not (2,11) */
        v[24 + 11] = 2;
        dc_tensor *x = dc_requires_grad(tensor_of(dtype, 1, 1, 3, 12, v), true);
        dc_tensor *y = dc_max_pool2d(x, DC_POOL2D_OPTS(3, 3, 0));
        REQUIRE(y && y->shape[3] == 4);
        REQUIRE(dc_backward_with(y, dc_full(dtype, 4, (int64_t[]){1, 1, 1, 4}, 1.0)) == 0);
        double *yv = dc_test_values(y), *g = dc_test_values(x->grad);
        REQUIRE(yv && g);
        CHECK(yv[0] == -INFINITY && isnan(yv[1]) && isnan(yv[2]) && yv[3] == 2);
        double want[36] = {0};
        want[0] = want[24 + 3] = want[12 + 8] = want[9] = 1;
        check_same_values("3x3 windows on 3 x 12", g, want, 36);
        free(yv);
        free(g);
        /* padding 1, 2x2 windows on an all -inf 3 x 3 image: every window's first real
         * element, never a padding position */
        dc_tensor *x2 = dc_requires_grad(dc_full(dtype, DC_SHAPE(1, 1, 3, 3), -INFINITY), true);
        dc_tensor *y2 = dc_max_pool2d(x2, DC_POOL2D_OPTS(2, 2, 1));
        REQUIRE(y2 && y2->shape[2] == 2 && y2->shape[3] == 2);
        REQUIRE(dc_backward_with(y2, dc_full(dtype, 4, (int64_t[]){1, 1, 2, 2}, 1.0)) == 0);
        g = dc_test_values(x2->grad);
        REQUIRE(g);
        const double want2[9] = {1, 1, 0, 1, 1, 0, 0, 0, 0};
        check_same_values("2x2 windows, padding 1, on -inf", g, want2, 9);
        free(g);
        dc_scope_end(scope);
    }
}

/* With k3 s3 a 25 x 25 input has its last row and column outside every window: their gradient
 * is 0 although dX is allocated without zeroing (here over recycled garbage, 80 KB so that the
 * block cache keeps it). */
TEST(test_max_pool2d_gradient_is_zero_where_no_window_reads_even_in_recycled_memory)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(4, 8, 25, 25)), true);
    dc_tensor *y = dc_max_pool2d(x, DC_POOL2D_OPTS(3, 3, 0));
    REQUIRE(y && y->shape[2] == 8);
    leave_garbage(DC_F32, 4, 8, 25, 25);
    REQUIRE(dc_backward_with(y, dc_ones_like(y)) == 0);
    double *g = dc_test_values(x->grad);
    REQUIRE(g);
    int64_t unread_nonzero = 0, ones = 0, others = 0;
    for (int64_t k = 0; k < 32 * 25 * 25; k++) {
        const int64_t r = k / 25 % 25, c = k % 25;
        if (r == 24 || c == 24) unread_nonzero += g[k] != 0;
        else if (g[k] == 1) ones++;
        else others += g[k] != 0;
    }
    CHECK(unread_nonzero == 0);
    CHECK(others == 0);
    CHECK(ones == 32 * 8 * 8); /* one gradient per window: the windows do not overlap */
    free(g);
    dc_scope_end(scope);
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
