/* Convolutions (src/ops/conv.c): PyTorch references, float64 gradient checks, properties
 * (transposed conv is the adjoint of conv, 1-D = 2-D with height 1, thread count and
 * memory layout do not change results) and error cases. Also the shared machinery of
 * tests/conv_cases.h (reference reader, table runner) used by tests/test_pool.c. */
#include "conv_cases.h"
#include "gradcheck.h"
#include "ref_loader.h"

#include <unistd.h>

/* ---- Reference values (tests/ref/conv_refs.txt, read with tests/ref_loader.h) --------- */

/* `make test` runs from tests/, `build/run_tests conv` from the repository root. */
static int load_conv_refs(ref_chain *c, char *err, size_t err_size)
{
    c->path =
        access("ref/conv_refs.txt", R_OK) == 0 ? "ref/conv_refs.txt" : "tests/ref/conv_refs.txt";
    return ref_load(c, err, err_size);
}

/* The entry "<case>.<field>" with this role, or NULL. */
static ref_tensor *case_entry(ref_chain *c, const conv_case *row, const char *role,
                              const char *field)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", row->name, field);
    return ref_find(c, role, name, NULL);
}

/* A leaf of the given dtype holding the entry's values (requires grad if asked); NULL if the
 * entry is absent (a conv without bias, a pool without weight). */
static dc_tensor *case_leaf(const ref_tensor *t, dc_dtype dtype, bool requires_grad)
{
    if (!t) return NULL;
    dc_tensor *v = dc_from_buffer(DC_F64, t->ndim, t->shape, t->values);
    if (dtype != DC_F64) v = dc_to_dtype(v, dtype);
    return requires_grad ? dc_requires_grad(v, true) : v;
}

/* ---- Running a row ------------------------------------------------------------------------ */

const conv_case *conv_case_find(const conv_case *table, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(table[i].name, name)) return &table[i];
    return NULL;
}

#define OR_DEFAULT(v, d) ((v) ? (v) : (d))

dc_tensor *conv_case_run(const conv_case *c, dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    const int s0 = OR_DEFAULT(c->stride[0], 1), s1 = OR_DEFAULT(c->stride[1], 1);
    const int d0 = OR_DEFAULT(c->dilation[0], 1), d1 = OR_DEFAULT(c->dilation[1], 1);
    const int g = OR_DEFAULT(c->groups, 1);
    const dc_pool2d_opts pool = {
        {c->kernel[0], c->kernel[1]}, {c->stride[0], c->stride[1]}, {c->padding[0], c->padding[1]}};
    switch (c->op) {
    case CASE_CONV1D: return dc_conv1d(x, w, b, s0, c->padding[0], d0, g);
    case CASE_CONV2D:
        return dc_conv2d(x, w, b,
                         (dc_conv2d_opts){{s0, s1}, {c->padding[0], c->padding[1]}, {d0, d1}, g});
    case CASE_CONV_TRANSPOSE1D:
        return dc_conv_transpose1d(x, w, b, s0, c->padding[0], c->output_padding[0], g, d0);
    case CASE_CONV_TRANSPOSE2D:
        return dc_conv_transpose2d(
            x, w, b,
            (dc_conv_transpose2d_opts){{s0, s1},
                                       {c->padding[0], c->padding[1]},
                                       {c->output_padding[0], c->output_padding[1]},
                                       g,
                                       {d0, d1}});
    case CASE_MAX_POOL1D: return dc_max_pool1d(x, c->kernel[0], c->stride[0], c->padding[0]);
    case CASE_MAX_POOL2D: return dc_max_pool2d(x, pool);
    case CASE_AVG_POOL1D: return dc_avg_pool1d(x, c->kernel[0], c->stride[0], c->padding[0]);
    case CASE_AVG_POOL2D: return dc_avg_pool2d(x, pool);
    case CASE_ADAPTIVE_AVG_POOL2D: return dc_adaptive_avg_pool2d(x, c->size[0], c->size[1]);
    case CASE_UPSAMPLE_NEAREST2D: return dc_upsample_nearest2d(x, (int)c->size[0], (int)c->size[1]);
    case CASE_UPSAMPLE_BILINEAR2D:
        return dc_upsample_bilinear2d(x, c->size[0], c->size[1], c->align_corners);
    }
    return dc_error("conv_case_run: unknown op %d", (int)c->op);
}

void conv_case_check_torch(const conv_case *c)
{
    ref_chain r = {0};
    char err[256];
    if (load_conv_refs(&r, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&r);
        return;
    }
    const char *fields[3] = {"x", "w", "b"};
    dc_tensor *in[3];
    for (int k = 0; k < 3; k++)
        in[k] = case_leaf(case_entry(&r, c, "param", fields[k]), DC_F32, true);
    const ref_tensor *want_y = case_entry(&r, c, "out", "y");
    if (!in[0] || !want_y) {
        dc_test_fail(__FILE__, __LINE__,
                     "%s: no such case in %s (regenerate with "
                     "/usr/bin/python3 tests/ref/make_conv_refs.py)",
                     c->name, r.path);
        ref_free(&r);
        return;
    }
    char what[160];
    dc_tensor *y = conv_case_run(c, in[0], in[1], in[2]);
    snprintf(what, sizeof what, "%s: output", c->name);
    ref_compare_tol(what, y, want_y, 1e-5, 1e-5);
    dc_tensor *seed = case_leaf(case_entry(&r, c, "seed", "R"), DC_F32, false);
    if (y && seed && dc_backward_with(y, seed) == 0) {
        for (int k = 0; k < 3; k++) {
            if (!in[k]) continue;
            snprintf(what, sizeof what, "%s: gradient of %s", c->name, fields[k]);
            ref_compare_tol(what, in[k]->grad, case_entry(&r, c, "grad", fields[k]), 1e-5, 1e-5);
        }
    } else {
        dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", c->name, dc_last_error());
    }
    ref_free(&r);
}

static dc_tensor *gradcheck_row(dc_tensor *const *inputs, void *ctx)
{
    return conv_case_run(ctx, inputs[0], inputs[1], inputs[2]);
}

void conv_case_check_gradients(const conv_case *c)
{
    ref_chain r = {0};
    char err[256];
    if (load_conv_refs(&r, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&r);
        return;
    }
    dc_tensor *in[3] = {case_leaf(case_entry(&r, c, "param", "x"), DC_F64, true),
                        case_leaf(case_entry(&r, c, "param", "w"), DC_F64, true),
                        case_leaf(case_entry(&r, c, "param", "b"), DC_F64, true)};
    const int n = in[2] ? 3 : in[1] ? 2 : 1;
    if (!in[0]) dc_test_fail(__FILE__, __LINE__, "%s: no such case in %s", c->name, r.path);
    else CHECK_GRADIENTS(c->name, gradcheck_row, (void *)c, n, in, NULL);
    ref_free(&r);
}

/* ---- The convolution rows (mirroring make_conv_refs.py) ----------------------------------- */

static const conv_case conv_cases[] = {
    {.name = "conv2d_basic_bias", .op = CASE_CONV2D},
    {.name = "conv2d_stride2_padding1", .op = CASE_CONV2D, .stride = {2, 2}, .padding = {1, 1}},
    {.name = "conv2d_dilation2_padding1_batch1",
     .op = CASE_CONV2D,
     .padding = {1, 1},
     .dilation = {2, 2}},
    {.name = "conv2d_groups2", .op = CASE_CONV2D, .groups = 2},
    {.name = "conv2d_depthwise_groups4_batch4", .op = CASE_CONV2D, .padding = {1, 1}, .groups = 4},
    {.name = "conv2d_nonsquare_kernel_stride_padding_dilation",
     .op = CASE_CONV2D,
     .stride = {2, 1},
     .padding = {1, 2},
     .dilation = {1, 2}},
    {.name = "conv2d_1x1_fast_path", .op = CASE_CONV2D},
    {.name = "conv2d_1x1_stride2", .op = CASE_CONV2D, .stride = {2, 2}},
    {.name = "conv1d_basic_bias", .op = CASE_CONV1D},
    {.name = "conv1d_stride2_padding2_dilation2_groups2",
     .op = CASE_CONV1D,
     .stride = {2},
     .padding = {2},
     .dilation = {2},
     .groups = 2},
    {.name = "conv_transpose2d_basic_bias", .op = CASE_CONV_TRANSPOSE2D},
    {.name = "conv_transpose2d_stride2_padding1_output_padding1",
     .op = CASE_CONV_TRANSPOSE2D,
     .stride = {2, 2},
     .padding = {1, 1},
     .output_padding = {1, 1}},
    {.name = "conv_transpose2d_groups2_dilation2_nonsquare",
     .op = CASE_CONV_TRANSPOSE2D,
     .stride = {1, 2},
     .padding = {0, 1},
     .groups = 2,
     .dilation = {2, 2}},
    {.name = "conv_transpose2d_1x1_fast_path", .op = CASE_CONV_TRANSPOSE2D},
    {.name = "conv_transpose1d_stride3_padding1_output_padding2",
     .op = CASE_CONV_TRANSPOSE1D,
     .stride = {3},
     .padding = {1},
     .output_padding = {2}},
    {.name = "conv_transpose1d_output_padding_below_dilation",
     .op = CASE_CONV_TRANSPOSE1D,
     .output_padding = {2},
     .dilation = {3}},
};

CONV_TORCH_TEST(conv_cases, conv2d_basic_bias)
CONV_TORCH_TEST(conv_cases, conv2d_stride2_padding1)
CONV_TORCH_TEST(conv_cases, conv2d_dilation2_padding1_batch1)
CONV_TORCH_TEST(conv_cases, conv2d_groups2)
CONV_TORCH_TEST(conv_cases, conv2d_depthwise_groups4_batch4)
CONV_TORCH_TEST(conv_cases, conv2d_nonsquare_kernel_stride_padding_dilation)
CONV_TORCH_TEST(conv_cases, conv2d_1x1_fast_path)
CONV_TORCH_TEST(conv_cases, conv2d_1x1_stride2)
CONV_TORCH_TEST(conv_cases, conv1d_basic_bias)
CONV_TORCH_TEST(conv_cases, conv1d_stride2_padding2_dilation2_groups2)
CONV_TORCH_TEST(conv_cases, conv_transpose2d_basic_bias)
CONV_TORCH_TEST(conv_cases, conv_transpose2d_stride2_padding1_output_padding1)
CONV_TORCH_TEST(conv_cases, conv_transpose2d_groups2_dilation2_nonsquare)
CONV_TORCH_TEST(conv_cases, conv_transpose2d_1x1_fast_path)
CONV_TORCH_TEST(conv_cases, conv_transpose1d_stride3_padding1_output_padding2)
CONV_TORCH_TEST(conv_cases, conv_transpose1d_output_padding_below_dilation)

TEST(test_conv_gradients_match_finite_differences_float64)
{
    for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
        conv_case_check_gradients(&conv_cases[i]);
}

/* ---- Properties --------------------------------------------------------------------------- */

static double dot(dc_tensor *a, dc_tensor *b)
{
    double *va = dc_test_values(a), *vb = dc_test_values(b), s = 0;
    for (int64_t i = 0; va && vb && i < dc_numel(a); i++) s += va[i] * vb[i];
    free(va);
    free(vb);
    return s;
}

/* <conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for every stride/padding/dilation/groups:
 * the transposed convolution is the adjoint (book §4.2, Fig. 4.1-4.2). */
TEST(test_conv_transpose2d_is_the_adjoint_of_conv2d)
{
    const dc_conv2d_opts configs[] = {DC_CONV2D_DEFAULTS, DC_CONV2D_OPTS(2, 1, 1, 1),
                                      DC_CONV2D_OPTS(1, 2, 2, 2), DC_CONV2D_OPTS(3, 0, 1, 2)};
    for (size_t k = 0; k < sizeof configs / sizeof *configs; k++) {
        const dc_conv2d_opts o = configs[k];
        dc_tensor *x = dc_randn(NULL, DC_F64, DC_SHAPE(2, 4, 9, 8));
        dc_tensor *w = dc_randn(NULL, DC_F64, DC_SHAPE(6, 4 / o.groups, 3, 2));
        dc_tensor *cx = dc_conv2d(x, w, NULL, o);
        REQUIRE(cx);
        dc_tensor *y = dc_randn(NULL, DC_F64, cx->ndim, cx->shape);
        /* output_padding makes the transposed output match x's size exactly */
        int op[2];
        for (int d = 0; d < 2; d++)
            op[d] = (int)(x->shape[2 + d] + 2 * o.padding[d] -
                          o.dilation[d] * (w->shape[2 + d] - 1) - 1) %
                    o.stride[d];
        dc_conv_transpose2d_opts t = {{o.stride[0], o.stride[1]},
                                      {o.padding[0], o.padding[1]},
                                      {op[0], op[1]},
                                      o.groups,
                                      {o.dilation[0], o.dilation[1]}};
        dc_tensor *ty = dc_conv_transpose2d(y, w, NULL, t);
        REQUIRE(ty && dc_same_shape(ty, x));
        const double lhs = dot(cx, y), rhs = dot(x, ty);
        CHECK_NEAR(lhs, rhs, 1e-9 * (1 + fabs(lhs)));
    }
}

TEST(test_conv1d_equals_conv2d_on_a_height1_image)
{
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(3, 4, 13));
    dc_tensor *w = dc_randn(NULL, DC_F32, DC_SHAPE(6, 2, 3));
    dc_tensor *b = dc_randn(NULL, DC_F32, DC_SHAPE(6));
    dc_tensor *y1 = dc_conv1d(x, w, b, 2, 1, 2, 2);
    dc_tensor *y2 = dc_conv2d(dc_unsqueeze(x, 2), dc_unsqueeze(w, 2), b,
                              (dc_conv2d_opts){{1, 2}, {0, 1}, {1, 2}, 2});
    REQUIRE(y1 && y2);
    CHECK(y1->ndim == 3 && y1->shape[2] == 6);
    double *a = dc_test_values(y1), *c = dc_test_values(y2);
    REQUIRE(a && c);
    CHECK_ALLCLOSE("conv1d vs conv2d", a, c, dc_numel(y1), 0, 0);
    free(a);
    free(c);
}

/* y, dX, dW, db of conv2d or conv_transpose2d (groups 2, stride 2, padding 1) computed in
 * `dtype` from float64 sources, with L = sum(y * R) for a fixed R. */
typedef struct {
    double *v[4]; /* malloc'ed */
    int64_t n[4];
} conv_values;

static bool big_conv_values(dc_dtype dtype, bool transposed, bool valid, dc_tensor *const *src,
                            conv_values *out)
{
    dc_tensor *in[3];
    for (int k = 0; k < 3; k++) in[k] = dc_requires_grad(dc_to_dtype(src[k], dtype), true);
    /* valid: torch's defaults (stride 1, no padding, one group), else strided, padded, grouped */
    dc_tensor *y = transposed ? dc_conv_transpose2d(in[0], in[1], in[2],
                                                    valid ? DC_CONV_TRANSPOSE2D_DEFAULTS
                                                          : DC_CONV_TRANSPOSE2D_OPTS(2, 1, 1, 2, 1))
                              : dc_conv2d(in[0], in[1], in[2],
                                          valid ? DC_CONV2D_DEFAULTS : DC_CONV2D_OPTS(2, 1, 1, 2));
    if (!y) return false;
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *r = dc_to_dtype(dc_randn(&rng, DC_F64, y->ndim, y->shape), dtype);
    if (dc_backward_with(y, r) != 0) return false;
    dc_tensor *results[4] = {y, in[0]->grad, in[1]->grad, in[2]->grad};
    bool ok = true;
    for (int k = 0; k < 4; k++) {
        out->n[k] = dc_numel(results[k]);
        ok = (out->v[k] = dc_test_values(results[k])) && ok;
    }
    return ok;
}

/* Big enough for the vectorised GEMM paths, the im2col edges and every threading: at 2
 * threads the first shape runs images in parallel with per-thread dW partials, the second
 * and third (large weights on small images; the third's kernel cropped to the taps that
 * read the 2x2 images) run one block at a time with every step threaded; at 1 thread all
 * run serially. The last two are valid convolutions (no padding: the span copies of
 * im2col.c), LeNet's conv2 (4x4 outputs) and a wider one. float32 against float64, the
 * output and every gradient. */
TEST(test_conv2d_and_transpose_float32_match_float64_with_1_and_2_threads)
{
    const int threads = dc_get_num_threads();
    static const char *what[4] = {"y", "dX", "dW", "db"};
    static const struct {
        int64_t x[4], conv_w[4], transpose_w[4], out_channels;
        bool valid;
    } shapes[] = {
        {{3, 16, 19, 21}, {24, 8, 3, 3}, {16, 12, 3, 3}, 24, false},
        {{4, 64, 5, 5}, {96, 32, 3, 3}, {64, 48, 3, 3}, 96, false},
        {{4, 64, 2, 2}, {128, 32, 3, 3}, {64, 64, 3, 3}, 128, false},
        {{5, 32, 8, 8}, {64, 32, 5, 5}, {32, 64, 5, 5}, 64, true},
        {{3, 3, 17, 30}, {16, 3, 3, 5}, {3, 16, 3, 5}, 16, true},
    };
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int transposed = 0; transposed <= 1; transposed++) {
            const int64_t *w_shape = transposed ? shapes[sh].transpose_w : shapes[sh].conv_w;
            dc_tensor *src[3] = {dc_randn(NULL, DC_F64, 4, shapes[sh].x),
                                 dc_mul_scalar(dc_randn(NULL, DC_F64, 4, w_shape), 0.2),
                                 dc_randn(NULL, DC_F64, 1, &shapes[sh].out_channels)};
            conv_values want = {0};
            CHECK(big_conv_values(DC_F64, transposed, shapes[sh].valid, src, &want));
            for (int t = 1; t <= 2; t++) {
                conv_values got = {0};
                CHECK(dc_set_num_threads(t) == 0);
                CHECK(big_conv_values(DC_F32, transposed, shapes[sh].valid, src, &got));
                for (int k = 0; k < 4; k++) {
                    if (!got.v[k] || !want.v[k] || got.n[k] != want.n[k]) continue;
                    char label[80];
                    snprintf(label, sizeof label, "shape %zu %s%s with %d thread(s)", sh,
                             transposed ? "conv_transpose2d " : "conv2d ", what[k], t);
                    double scale = 1;
                    for (int64_t i = 0; i < want.n[k]; i++)
                        scale = fmax(scale, fabs(want.v[k][i]));
                    CHECK_ALLCLOSE(label, got.v[k], want.v[k], want.n[k], 1e-4, 1e-5 * scale);
                }
                for (int k = 0; k < 4; k++) free(got.v[k]);
            }
            for (int k = 0; k < 4; k++) free(want.v[k]);
        }
    dc_set_num_threads(threads);
}

/* Taps that only ever read padding are skipped (the kernel is cropped to the taps that read
 * something: ResNet-18's 3x3 convs on 1x1 maps). The cropped conv must equal the same conv
 * on an explicitly zero-padded input with no padding (which crops nothing), and its
 * gradients, the cropped-away taps' zero weight gradient included, must pass the check.
 * Two cases: height 1 with kernel 5 and padding 2 (only tap 2 reads the input) and width 2
 * with kernel 3, padding 1, stride 2 (taps 1 and 2); and ResNet-18's single centre tap (a
 * 3x3 kernel, padding 1, on 1x1 maps), in float64 and float32. */
typedef struct {
    dc_conv2d_opts opts;
    int64_t x[4], w[4];
} cropped_case;

static const cropped_case cropped_cases[] = {
    {{{1, 2}, {2, 1}, {1, 1}, 1}, {2, 3, 1, 2}, {4, 3, 5, 3}},
    {{{1, 1}, {1, 1}, {1, 1}, 1}, {3, 6, 1, 1}, {5, 6, 3, 3}},
};

static dc_tensor *conv2d_cropped(dc_tensor *const *in, void *ctx)
{
    return dc_conv2d(in[0], in[1], in[2], ((const cropped_case *)ctx)->opts);
}

TEST(test_conv2d_skips_taps_that_read_only_padding)
{
    for (size_t k = 0; k < sizeof cropped_cases / sizeof *cropped_cases; k++)
        for (int f32 = 0; f32 <= 1; f32++) {
            const cropped_case *c = &cropped_cases[k];
            const dc_dtype dtype = f32 ? DC_F32 : DC_F64;
            dc_tensor *x = dc_requires_grad(dc_randn(NULL, dtype, 4, c->x), true);
            dc_tensor *w = dc_requires_grad(dc_randn(NULL, dtype, 4, c->w), true);
            dc_tensor *b = dc_requires_grad(dc_randn(NULL, dtype, DC_SHAPE(c->w[0])), true);
            const int64_t ph = c->opts.padding[0], pw = c->opts.padding[1];
            dc_tensor *padded =
                dc_zeros(dtype, DC_SHAPE(c->x[0], c->x[1], c->x[2] + 2 * ph, c->x[3] + 2 * pw));
            REQUIRE(dc_copy_(dc_slice(dc_slice(padded, 2, ph, ph + c->x[2], 1), 3, pw,
                                      pw + c->x[3], 1),
                             x) == 0);
            dc_conv2d_opts unpadded = c->opts;
            unpadded.padding[0] = unpadded.padding[1] = 0;
            dc_tensor *y = conv2d_cropped((dc_tensor *[]){x, w, b}, (void *)c);
            dc_tensor *y_ref = dc_conv2d(padded, w, b, unpadded);
            REQUIRE(y && y_ref && dc_same_shape(y, y_ref));
            double *got = dc_test_values(y), *want = dc_test_values(y_ref);
            REQUIRE(got && want);
            const double tol = f32 ? 1e-5 : 1e-12;
            CHECK_ALLCLOSE("cropped vs explicitly padded", got, want, dc_numel(y), tol, tol);
            free(got);
            free(want);
            /* the weight gradient too (the padded conv's cropped-away taps read zeros) */
            REQUIRE(dc_backward(dc_sum_all(y)) == 0);
            dc_tensor *dw_cropped = dc_clone(w->grad);
            dc_zero_grad(w);
            REQUIRE(dw_cropped && dc_backward(dc_sum_all(y_ref)) == 0);
            got = dc_test_values(dw_cropped), want = dc_test_values(w->grad);
            REQUIRE(got && want);
            CHECK_ALLCLOSE("cropped vs explicitly padded dW", got, want, dc_numel(w), tol, tol);
            free(got);
            free(want);
            dc_zero_grad(x), dc_zero_grad(w), dc_zero_grad(b);
            if (!f32)
                CHECK_GRADIENTS("conv2d_cropped_kernel", conv2d_cropped, (void *)c, 3,
                                ((dc_tensor *[]){x, w, b}), NULL);
        }
}

/* A transposed (non-contiguous) input and weight give the same result and gradients as
 * their contiguous copies; the gradient check runs on the views themselves. */
static dc_tensor *conv2d_pad1(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dc_conv2d(in[0], in[1], NULL, DC_CONV2D_OPTS(1, 1, 1, 1));
}

TEST(test_conv2d_accepts_non_contiguous_views)
{
    /* non-contiguous leaves: a transposed x and every other output channel of w */
    dc_tensor *x = dc_requires_grad(
        dc_detach(dc_transpose(dc_randn(NULL, DC_F64, DC_SHAPE(2, 3, 5, 4)), 2, 3)), true);
    dc_tensor *w = dc_requires_grad(
        dc_detach(dc_slice(dc_randn(NULL, DC_F64, DC_SHAPE(4, 3, 3, 3)), 0, 0, 4, 2)), true);
    REQUIRE(x && w && !dc_is_contiguous(x) && !dc_is_contiguous(w));
    dc_tensor *y = conv2d_pad1((dc_tensor *[]){x, w}, NULL);
    dc_tensor *y_ref = conv2d_pad1((dc_tensor *[]){dc_contiguous(x), dc_contiguous(w)}, NULL);
    double *a = dc_test_values(y), *b = dc_test_values(y_ref);
    if (a && b) CHECK_ALLCLOSE("view vs copy", a, b, dc_numel(y), 1e-12, 1e-12);
    else CHECK(!"conv2d on views failed");
    free(a);
    free(b);
    CHECK_GRADIENTS("conv2d_non_contiguous_views", conv2d_pad1, NULL, 2, ((dc_tensor *[]){x, w}),
                    NULL);
}

/* An allocation failing anywhere inside the op gives NULL and an error, never a crash or a
 * leaked tensor (the runner checks that no tensor outlives the test). */
TEST(test_conv2d_survives_allocation_failures)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 6, 6)), true);
    dc_tensor *w = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(4, 3, 3, 3)), true);
    dc_tensor *b = dc_randn(NULL, DC_F32, DC_SHAPE(4));
    for (int n = 1; n <= 12; n++) {
        size_t scope = dc_scope_begin();
        dc_debug_fail_alloc_after(n);
        dc_tensor *y = dc_conv2d(x, w, b, DC_CONV2D_OPTS(1, 1, 1, 1));
        dc_tensor *t = dc_conv_transpose2d(x, dc_transpose(w, 0, 1), b,
                                           DC_CONV_TRANSPOSE2D_OPTS(2, 1, 1, 1, 1));
        dc_debug_fail_alloc_after(0);
        CHECK((y && t) || dc_has_error());
        dc_clear_error();
        dc_scope_end(scope);
    }
}

/* ---- Errors ------------------------------------------------------------------------------- */

TEST(test_conv_errors_name_the_op_and_the_problem)
{
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(1, 4, 5, 5));
    dc_tensor *w = dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 3, 3));
    const dc_conv2d_opts def = DC_CONV2D_DEFAULTS;
    CHECK_ERROR(!dc_conv2d(NULL, w, NULL, def), "dc_conv2d: input 'x' is NULL");
    CHECK_ERROR(!dc_conv2d(x, NULL, NULL, def), "dc_conv2d: input 'weight' is NULL");
    CHECK_ERROR(!dc_conv2d(dc_randn(NULL, DC_F32, DC_SHAPE(4, 5, 5)), w, NULL, def),
                "dc_conv2d: input must be 4-D [N, C, H, W], got shape [4, 5, 5]");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 3)), NULL, def),
                "dc_conv2d: weight must be 4-D");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 3, 3)), NULL, def),
                "expects in_channels=3, but the input has in_channels=4");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(3, 2, 3, 3)), NULL,
                           DC_CONV2D_OPTS(1, 0, 1, 2)),
                "groups=2 must divide both in_channels=4 and out_channels=3");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(3, 1, 3, 3)), NULL,
                           DC_CONV2D_OPTS(1, 0, 1, 3)),
                "groups=3 must divide both in_channels=4");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 7, 3)), NULL, def),
                "kernel height 7 (dilated: 7) is larger than the padded input height 5");
    CHECK_ERROR(!dc_conv2d(x, w, NULL, DC_CONV2D_OPTS(1, 0, 3, 1)),
                "kernel height 3 (dilated: 7) is larger than the padded input height 5");
    CHECK_ERROR(!dc_conv2d(x, w, NULL, DC_CONV2D_OPTS(0, 0, 1, 1)), "stride must be >= 1, got 0");
    CHECK_ERROR(!dc_conv2d(x, w, NULL, DC_CONV2D_OPTS(1, 0, 0, 1)), "dilation must be >= 1, got 0");
    CHECK_ERROR(!dc_conv2d(x, w, NULL, DC_CONV2D_OPTS(1, -1, 1, 1)), "padding must be >= 0");
    CHECK_ERROR(!dc_conv2d(x, w, NULL, DC_CONV2D_OPTS(1, 0, 1, 0)), "groups must be >= 1");
    CHECK_ERROR(!dc_conv2d(x, w, dc_randn(NULL, DC_F32, DC_SHAPE(3)), def),
                "bias must have shape [2]");
    CHECK_ERROR(!dc_conv2d(x, dc_randn(NULL, DC_F64, DC_SHAPE(2, 4, 3, 3)), NULL, def),
                "dc_conv2d");
    /* 1-D */
    dc_tensor *x1 = dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 6));
    CHECK_ERROR(!dc_conv1d(x, w, NULL, 1, 0, 1, 1), "dc_conv1d: input must be 3-D [N, C, L]");
    CHECK_ERROR(!dc_conv1d(x1, dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 3)), NULL, 1, 0, 1, 1),
                "dc_conv1d: weight [2, 3, 3] with groups=1 expects in_channels=3, but the "
                "input has in_channels=4");
    CHECK_ERROR(!dc_conv1d(x1, dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 7)), NULL, 1, 0, 1, 1),
                "dc_conv1d: kernel length 7 (dilated: 7) is larger than the padded input length 6");
    CHECK_ERROR(!dc_conv1d(x1, dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 3)), NULL, 1, 0, 0, 1),
                "dc_conv1d: dilation must be >= 1, got 0 (length)");
    /* transposed */
    dc_tensor *wt = dc_randn(NULL, DC_F32, DC_SHAPE(4, 3, 3, 3));
    CHECK_ERROR(!dc_conv_transpose2d(x, dc_randn(NULL, DC_F32, DC_SHAPE(3, 3, 3, 3)), NULL,
                                     DC_CONV_TRANSPOSE2D_DEFAULTS),
                "expects in_channels=3 (weight.shape[0]), but the input has in_channels=4");
    CHECK_ERROR(
        !dc_conv_transpose2d(x, wt, NULL, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 2, 1, 1)),
        "output_padding (2) must be >= 0 and smaller than either stride (2) or dilation (1)");
    CHECK_ERROR(!dc_conv_transpose2d(x, wt, NULL, DC_CONV_TRANSPOSE2D_OPTS(1, 0, 0, 3, 1)),
                "groups=3 must divide in_channels=4");
    CHECK_ERROR(!dc_conv_transpose2d(dc_randn(NULL, DC_F32, DC_SHAPE(1, 4, 1, 1)), wt, NULL,
                                     DC_CONV_TRANSPOSE2D_OPTS(1, 2, 0, 1, 1)),
                "output height would be -1 (< 1)");
    CHECK_ERROR(!dc_conv_transpose1d(x, wt, NULL, 1, 0, 0, 1, 1),
                "dc_conv_transpose1d: input must be 3-D");
}
