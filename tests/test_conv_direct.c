/* The direct single-input-channel convolution (src/kernels/conv_direct.c): on every ISA this
 * CPU runs and with 1 and 2 threads, the conv kernel passes (conv_kernels.h) of shapes it
 * takes (float32, in_channels 1, stride 1, dilation 1, kernel up to 7x7) match a float64
 * loop over the definition, and really go direct (dc_conv_direct_calls counts them); shapes
 * it must leave to im2col + GEMM still match and do not go direct; and conv2d /
 * conv_transpose2d ops whose passes go direct match their float64 versions. */
#include "test.h"
#include "kernels/conv_direct.h"
#include "kernels/conv_kernels.h"
#include "kernels/kernels.h"

/* Test data: uniform in [-1, 1) from the library's seeded generator. */
static dc_rng data_rng = {.seed = 0x2545F4914F6CDD1Du};
static float uniform_pm1(void) { return (float)(2.0 * dc_rng_uniform(&data_rng) - 1.0); }

typedef struct {
    const char *name;
    int64_t batch, in_c, h, w, out_c, kh, kw;
    int pad_h, pad_w, stride, dilation, groups; /* stride, dilation, groups: 0 means 1 */
    bool direct;                                /* must take the direct path */
} conv_shape_case;

static const conv_shape_case cases[] = {
    /* LeNet's conv1 on a Fashion-MNIST batch: 32 = 4 forward blocks, 24x24 = 12 groups */
    {"lenet conv1 128x1x28x28 * 32x1x5x5", 128, 1, 28, 28, 32, 5, 5, 0, 0, 0, 0, 0, true},
    /* odd sizes: 7x15 and 11x17 outputs (no multiple of any vector width), 37 channels
     * (a partial channel block on every ISA), a tall kernel */
    {"3x1x13x17 * 37x1x7x3 pad 0", 3, 1, 13, 17, 37, 7, 3, 0, 0, 0, 0, 0, true},
    {"3x1x13x17 * 37x1x7x3 pad 2,1", 3, 1, 13, 17, 37, 7, 3, 2, 1, 0, 0, 0, true},
    /* batch 1, one output channel, 'same' padding */
    {"1x1x28x28 * 1x1x5x5 pad 2", 1, 1, 28, 28, 1, 5, 5, 2, 2, 0, 0, 0, true},
    {"2x1x9x11 * 6x1x3x3 pad 1", 2, 1, 9, 11, 6, 3, 3, 1, 1, 0, 0, 0, true},
    /* 1xK and Kx1 kernels, a 1-row image (conv1d) */
    {"5x1x6x40 * 13x1x1x7 pad 0,3", 5, 1, 6, 40, 13, 1, 7, 0, 3, 0, 0, 0, true},
    {"2x1x1x30 * 5x1x1x3 pad 0,1", 2, 1, 1, 30, 5, 1, 3, 0, 1, 0, 0, 0, true},
    {"3x1x20x4 * 7x1x6x1 pad 0", 3, 1, 20, 4, 7, 6, 1, 0, 0, 0, 0, 0, true},
    /* a 7x7 kernel on a 7x5 image padded by 3: border taps read only padding */
    {"4x1x7x5 * 9x1x7x7 pad 3", 4, 1, 7, 5, 9, 7, 7, 3, 3, 0, 0, 0, true},
    /* an image tall enough to be cut into several strips of output rows */
    {"2x1x200x150 * 3x1x5x5 pad 2", 2, 1, 200, 150, 3, 5, 5, 2, 2, 0, 0, 0, true},
    /* not direct: more input channels, stride, dilation, groups, kernel over 7 */
    {"2x3x10x12 * 4x3x3x3 pad 1 (3 input channels)", 2, 3, 10, 12, 4, 3, 3, 1, 1, 0, 0, 0, false},
    {"2x1x15x15 * 6x1x3x3 stride 2 pad 1", 2, 1, 15, 15, 6, 3, 3, 1, 1, 2, 0, 0, false},
    {"2x1x12x12 * 5x1x3x3 dilation 2", 2, 1, 12, 12, 5, 3, 3, 0, 0, 0, 2, 0, false},
    {"2x2x9x9 * 4x1x3x3 groups 2", 2, 2, 9, 9, 4, 3, 3, 0, 0, 0, 0, 2, false},
    {"2x1x20x20 * 3x1x9x9 pad 4 (kernel over 7)", 2, 1, 20, 20, 3, 9, 9, 4, 4, 0, 0, 0, false},
};

#define OR_ONE(v) ((v) ? (v) : 1)

static dc_conv_shape shape_of(const conv_shape_case *c)
{
    const int64_t st = OR_ONE(c->stride), d = OR_ONE(c->dilation);
    dc_conv_shape s = {
        .batch = c->batch,
        .groups = OR_ONE(c->groups),
        .in_channels = c->in_c,
        .in_h = c->h,
        .in_w = c->w,
        .out_channels = c->out_c,
        .kernel_h = c->kh,
        .kernel_w = c->kw,
        .stride_h = st,
        .stride_w = st,
        .pad_h = c->pad_h,
        .pad_w = c->pad_w,
        .dil_h = d,
        .dil_w = d,
    };
    s.out_h = (c->h + 2 * c->pad_h - d * (c->kh - 1) - 1) / st + 1;
    s.out_w = (c->w + 2 * c->pad_w - d * (c->kw - 1) - 1) / st + 1;
    return s;
}

/* The definition, in float64 from the float32 values (one loop for all three):
 *   y[n,co,oh,ow] = b[co] + sum_{ci,kh,kw} w[co,ci,kh,kw] * x[n, g*Cin_g + ci, ih, iw]
 *   dw[co,ci,kh,kw] = sum_{n,oh,ow} g[n,co,oh,ow] * x[n, g*Cin_g + ci, ih, iw]
 *   db[co] = sum_{n,oh,ow} g[n,co,oh,ow]
 * with ih = oh*stride - pad + kh*dilation (likewise iw), x = 0 outside the image. */
static void reference(const dc_conv_shape *s, const float *x, const float *w, const float *b,
                      const float *g, double *y, double *dw, double *db)
{
    const int64_t cin_g = s->in_channels / s->groups, cout_g = s->out_channels / s->groups;
    const int64_t KH = s->kernel_h, KW = s->kernel_w, OH = s->out_h, OW = s->out_w;
    memset(dw, 0, sizeof(double) * (size_t)(s->out_channels * cin_g * KH * KW));
    memset(db, 0, sizeof(double) * (size_t)s->out_channels);
    for (int64_t n = 0; n < s->batch; n++)
        for (int64_t co = 0; co < s->out_channels; co++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    const int64_t at = ((n * s->out_channels + co) * OH + oh) * OW + ow;
                    const double gv = g[at];
                    double acc = b[co];
                    db[co] += gv;
                    for (int64_t ci = 0; ci < cin_g; ci++)
                        for (int64_t kh = 0; kh < KH; kh++) {
                            const int64_t ih = oh * s->stride_h - s->pad_h + kh * s->dil_h;
                            if (ih < 0 || ih >= s->in_h) continue;
                            for (int64_t kw = 0; kw < KW; kw++) {
                                const int64_t iw = ow * s->stride_w - s->pad_w + kw * s->dil_w;
                                if (iw < 0 || iw >= s->in_w) continue;
                                const int64_t c = co / cout_g * cin_g + ci;
                                const double xv =
                                    x[((n * s->in_channels + c) * s->in_h + ih) * s->in_w + iw];
                                const int64_t wi = ((co * cin_g + ci) * KH + kh) * KW + kw;
                                acc += w[wi] * xv;
                                dw[wi] += gv * xv;
                            }
                        }
                    y[at] = acc;
                }
}

typedef struct {
    dc_conv_shape s;
    int64_t nx, nw, ny;
    float *x, *w, *b, *g; /* inputs */
    double *y, *dw, *db;  /* the reference */
    float *got_y, *got_dw, *got_db;
    double *as_double; /* a float32 result widened for CHECK_ALLCLOSE */
} conv_data;

static void *alloc_or_null(size_t bytes) { return malloc(bytes ? bytes : 1); }

static bool make_data(const conv_shape_case *c, conv_data *d)
{
    memset(d, 0, sizeof *d);
    d->s = shape_of(c);
    const dc_conv_shape *s = &d->s;
    d->nx = s->batch * s->in_channels * s->in_h * s->in_w;
    d->nw = s->out_channels * (s->in_channels / s->groups) * s->kernel_h * s->kernel_w;
    d->ny = s->batch * s->out_channels * s->out_h * s->out_w;
    /* exact sizes, so ASan sees a kernel that reads or writes past any of them */
    d->x = alloc_or_null(sizeof(float) * (size_t)d->nx);
    d->w = alloc_or_null(sizeof(float) * (size_t)d->nw);
    d->b = alloc_or_null(sizeof(float) * (size_t)s->out_channels);
    d->g = alloc_or_null(sizeof(float) * (size_t)d->ny);
    d->y = alloc_or_null(sizeof(double) * (size_t)d->ny);
    d->dw = alloc_or_null(sizeof(double) * (size_t)d->nw);
    d->db = alloc_or_null(sizeof(double) * (size_t)s->out_channels);
    d->got_y = alloc_or_null(sizeof(float) * (size_t)d->ny);
    d->got_dw = alloc_or_null(sizeof(float) * (size_t)d->nw);
    d->got_db = alloc_or_null(sizeof(float) * (size_t)s->out_channels);
    d->as_double = alloc_or_null(sizeof(double) * (size_t)(d->ny > d->nw ? d->ny : d->nw));
    if (!d->x || !d->w || !d->b || !d->g || !d->y || !d->dw || !d->db || !d->got_y || !d->got_dw ||
        !d->got_db || !d->as_double)
        return false;
    for (int64_t i = 0; i < d->nx; i++) d->x[i] = uniform_pm1();
    for (int64_t i = 0; i < d->nw; i++) d->w[i] = 0.3f * uniform_pm1();
    for (int64_t i = 0; i < s->out_channels; i++) d->b[i] = uniform_pm1();
    for (int64_t i = 0; i < d->ny; i++) d->g[i] = uniform_pm1();
    reference(s, d->x, d->w, d->b, d->g, d->y, d->dw, d->db);
    return true;
}

static void free_data(conv_data *d)
{
    free(d->x), free(d->w), free(d->b), free(d->g);
    free(d->y), free(d->dw), free(d->db);
    free(d->got_y), free(d->got_dw), free(d->got_db), free(d->as_double);
}

/* float32 results vs the reference: |got - want| <= 1e-4 |want| + 1e-5 max|want| */
static void check_close(conv_data *d, const char *label, const float *got, const double *want,
                        int64_t n)
{
    double scale = 1;
    for (int64_t i = 0; i < n; i++) {
        d->as_double[i] = got[i];
        scale = fmax(scale, fabs(want[i]));
    }
    CHECK_ALLCLOSE(label, d->as_double, want, n, 1e-4, 1e-5 * scale);
}

/* Scratch of exactly the size the caller would be told (64-byte aligned, as promised). */
static void *scratch_for(const dc_conv_shape *s, dc_conv_pass pass)
{
    const size_t bytes = dc_conv_scratch_bytes(s, false, pass);
    return bytes ? aligned_alloc(64, (bytes + 63) & ~(size_t)63) : NULL;
}

/* The forward and weight passes (with and without db) of one case on the active ISA and
 * thread count, against the reference; outputs start as NaN so every one must be written. */
static void check_passes(conv_data *d, const conv_shape_case *c, const char *isa, int threads)
{
    const dc_conv_shape *s = &d->s;
    char label[200];
    const int64_t expected_calls = c->direct ? 1 : 0;

    for (int64_t i = 0; i < d->ny; i++) d->got_y[i] = NAN;
    void *scratch = scratch_for(s, DC_CONV_FORWARD);
    int64_t calls = dc_conv_direct_calls();
    dc_conv_forward(s, false, d->x, d->w, d->b, d->got_y, scratch);
    EXPECT(dc_conv_direct_calls() - calls == expected_calls, "%s forward (%s, %d threads): %s",
           c->name, isa, threads, c->direct ? "did not go direct" : "went direct");
    free(scratch);
    snprintf(label, sizeof label, "%s: y (%s, %d threads)", c->name, isa, threads);
    check_close(d, label, d->got_y, d->y, d->ny);

    for (int64_t i = 0; i < d->nw; i++) d->got_dw[i] = NAN;
    for (int64_t i = 0; i < s->out_channels; i++) d->got_db[i] = NAN;
    scratch = scratch_for(s, DC_CONV_BACKWARD_WEIGHT);
    calls = dc_conv_direct_calls();
    dc_conv_backward_weight(s, false, d->x, d->g, d->got_dw, d->got_db, scratch);
    EXPECT(dc_conv_direct_calls() - calls == expected_calls, "%s weight pass (%s, %d threads): %s",
           c->name, isa, threads, c->direct ? "did not go direct" : "went direct");
    snprintf(label, sizeof label, "%s: dW (%s, %d threads)", c->name, isa, threads);
    check_close(d, label, d->got_dw, d->dw, d->nw);
    snprintf(label, sizeof label, "%s: db (%s, %d threads)", c->name, isa, threads);
    check_close(d, label, d->got_db, d->db, s->out_channels);

    /* without a bias gradient: the same dW, bit for bit */
    float *dw_again = alloc_or_null(sizeof(float) * (size_t)d->nw);
    if (dw_again) {
        for (int64_t i = 0; i < d->nw; i++) dw_again[i] = NAN;
        dc_conv_backward_weight(s, false, d->x, d->g, dw_again, NULL, scratch);
        EXPECT(memcmp(dw_again, d->got_dw, sizeof(float) * (size_t)d->nw) == 0,
               "%s (%s, %d threads): dW differs when db is not asked for", c->name, isa, threads);
        free(dw_again);
    }
    free(scratch);
}

TEST(test_conv_direct_takes_exactly_the_single_channel_stride1_shapes)
{
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const dc_conv_shape s = shape_of(&cases[k]);
        EXPECT(dc_conv_direct_handles(&s, false) == cases[k].direct, "%s: handles() says %d",
               cases[k].name, (int)!cases[k].direct);
        EXPECT(!dc_conv_direct_handles(&s, true), "%s: float64 must keep the im2col path",
               cases[k].name);
    }
    /* a row too wide for a strip's scratch cap falls back too */
    dc_conv_shape wide = shape_of(&cases[0]);
    wide.in_w = 1 << 20, wide.out_w = wide.in_w - 4;
    CHECK(!dc_conv_direct_handles(&wide, false));
}

TEST(test_conv_direct_passes_match_float64_on_every_isa_with_1_and_2_threads)
{
    const dc_isa saved_isa = dc_isa_active();
    const int saved_threads = dc_get_num_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        conv_data d;
        if (!make_data(&cases[k], &d)) {
            free_data(&d);
            REQUIRE(!"out of memory");
        }
        for (int isa = 0; isa < DC_ISA_COUNT; isa++) {
            if (dc_isa_set((dc_isa)isa) != 0) {
                if (k == 0)
                    printf("  (%s kernels: not supported by this CPU, skipped)\n",
                           dc_isa_name((dc_isa)isa));
                continue;
            }
            EXPECT(strcmp(dc_conv_direct_kernel_name(), dc_isa_name((dc_isa)isa)) == 0,
                   "ISA %s runs the %s direct kernels", dc_isa_name((dc_isa)isa),
                   dc_conv_direct_kernel_name());
            for (int threads = 1; threads <= 2; threads++) {
                CHECK(dc_set_num_threads(threads) == 0);
                check_passes(&d, &cases[k], dc_isa_name((dc_isa)isa), threads);
            }
        }
        dc_isa_set(saved_isa);
        dc_set_num_threads(saved_threads);
        free_data(&d);
    }
}

/* The ops on top: conv2d as LeNet trains it (input without gradient: forward and the
 * weight pass with the bias gradient go direct) and conv_transpose2d to one channel (its
 * input gradient runs the forward pass, its weight gradient the weight pass: both direct),
 * float32 against the same graph in float64 (which never goes direct). */
static bool op_values(dc_dtype dtype, bool transposed, dc_tensor *const *src, double **out,
                      int64_t *counts)
{
    const size_t scope = dc_scope_begin();
    dc_tensor *in[3];
    for (int k = 0; k < 3; k++) in[k] = dc_to_dtype(src[k], dtype);
    bool ok = in[0] && in[1] && in[2];
    if (ok && transposed) dc_requires_grad(in[0], true);
    if (ok) dc_requires_grad(in[1], true), dc_requires_grad(in[2], true);
    dc_tensor *y = !ok          ? NULL
                   : transposed ? dc_conv_transpose2d(in[0], in[1], in[2],
                                                      DC_CONV_TRANSPOSE2D_OPTS(1, 1, 0, 1, 1))
                                : dc_conv2d(in[0], in[1], in[2], DC_CONV2D_DEFAULTS);
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    dc_tensor *r = y ? dc_to_dtype(dc_randn(&rng, DC_F64, y->ndim, y->shape), dtype) : NULL;
    ok = y && r && dc_backward_with(y, r) == 0;
    dc_tensor *results[4] = {y, in[1]->grad, in[2]->grad, transposed ? in[0]->grad : NULL};
    for (int k = 0; k < 4 && ok; k++) {
        if (!results[k]) continue;
        counts[k] = dc_numel(results[k]);
        ok = (out[k] = dc_test_values(results[k])) != NULL;
    }
    dc_scope_end(scope);
    return ok;
}

TEST(test_conv_direct_conv2d_and_transpose_ops_match_float64)
{
    static const char *what[4] = {"y", "dW", "db", "dX"};
    for (int transposed = 0; transposed <= 1; transposed++) {
        const size_t scope = dc_scope_begin();
        const int64_t x_shape[4] = {16, 1, 28, 28}, w_shape[4] = {32, 1, 5, 5}, b_len = 32;
        const int64_t xt_shape[4] = {3, 6, 10, 12}, wt_shape[4] = {6, 1, 3, 3}, bt_len = 1;
        dc_rng rng;
        dc_rng_seed(&rng, 5);
        dc_tensor *src[3] = {
            dc_randn(&rng, DC_F64, 4, transposed ? xt_shape : x_shape),
            dc_mul_scalar(dc_randn(&rng, DC_F64, 4, transposed ? wt_shape : w_shape), 0.2),
            dc_randn(&rng, DC_F64, 1, transposed ? &bt_len : &b_len)};
        double *want[4] = {0}, *got[4] = {0};
        int64_t n_want[4] = {0}, n_got[4] = {0};
        CHECK(op_values(DC_F64, transposed, src, want, n_want));
        const int64_t calls = dc_conv_direct_calls();
        CHECK(op_values(DC_F32, transposed, src, got, n_got));
        EXPECT(dc_conv_direct_calls() - calls == 2, "%s: %lld passes went direct, expected 2",
               transposed ? "conv_transpose2d" : "conv2d",
               (long long)(dc_conv_direct_calls() - calls));
        for (int k = 0; k < 4; k++) {
            if (!got[k] || !want[k]) continue;
            REQUIRE(n_got[k] == n_want[k]);
            char label[80];
            snprintf(label, sizeof label, "%s %s", transposed ? "conv_transpose2d" : "conv2d",
                     what[k]);
            double scale = 1;
            for (int64_t i = 0; i < n_want[k]; i++) scale = fmax(scale, fabs(want[k][i]));
            CHECK_ALLCLOSE(label, got[k], want[k], n_want[k], 1e-4, 1e-5 * scale);
        }
        for (int k = 0; k < 4; k++) free(want[k]), free(got[k]);
        dc_scope_end(scope);
    }
}
