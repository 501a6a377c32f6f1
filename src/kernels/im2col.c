/* Convolution as GEMM (see conv_kernels.h for the three passes).
 *
 * im2col lays out, for one image, every kernel tap (c, kh, kw) as a row and every output
 * position (oh, ow) as a column:
 *     cols[(c*KH + kh)*KW + kw][oh*OW + ow] = x[c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw]
 * (0 where that reads padding). Rows of one group are contiguous, so group g's conv is
 *     y_g[C_out/G, OH*OW] = W_g[C_out/G, C_in/G*KH*KW] @ cols_g.
 * Scratch stays bounded: one image's columns per thread, never the whole batch.
 * A 1x1 kernel with stride 1 and no padding needs no columns at all: the image [C, H*W] is
 * already its own column matrix (plain GEMM fast path). */
#include "conv_kernels.h"
#include "kernels.h"

#include <string.h>

static int64_t div_floor(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The output positions o in [lo, hi) whose input position o*stride + offset is inside
 * [0, n_in); the others read padding. */
static void valid_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset, int64_t *lo,
                        int64_t *hi)
{
    int64_t a = -div_floor(offset, stride); /* ceil(-offset / stride) */
    int64_t b = div_floor(n_in - 1 - offset, stride) + 1;
    a = a < 0 ? 0 : (a > n_out ? n_out : a);
    b = b < a ? a : (b > n_out ? n_out : b);
    *lo = a;
    *hi = b;
}

/* Visit every (tap row, output row oh) pair: `row` points at OW column entries, `ih` is the
 * input row (maybe padding) and [w_lo, w_hi) the columns that read real input at
 * plane[ih*W + ow*sw + off_w]. BODY does the copy one way or the other. */
#define FOR_EACH_COL_ROW(T, s, cols, BODY)                                                         \
    do {                                                                                           \
        const int64_t H_ = (s)->in_h, W_ = (s)->in_w, OH_ = (s)->out_h, OW_ = (s)->out_w;          \
        const int64_t sw = (s)->stride_w;                                                          \
        T *row = (cols);                                                                           \
        for (int64_t c = 0; c < (s)->in_channels; c++) {                                           \
            const int64_t plane_off = c * H_ * W_;                                                 \
            for (int64_t kh = 0; kh < (s)->kernel_h; kh++) {                                       \
                const int64_t off_h = kh * (s)->dil_h - (s)->pad_h;                                \
                for (int64_t kw = 0; kw < (s)->kernel_w; kw++) {                                   \
                    const int64_t off_w = kw * (s)->dil_w - (s)->pad_w;                            \
                    int64_t w_lo, w_hi;                                                            \
                    valid_range(OW_, W_, sw, off_w, &w_lo, &w_hi);                                 \
                    for (int64_t oh = 0; oh < OH_; oh++, row += OW_) {                             \
                        const int64_t ih = oh * (s)->stride_h + off_h;                             \
                        const bool inside = ih >= 0 && ih < H_;                                    \
                        const int64_t base = plane_off + ih * W_ + off_w;                          \
                        (void)base;                                                                \
                        BODY                                                                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define DEFINE_IM2COL(T, SUFFIX)                                                                   \
    void dc_im2col_##SUFFIX(const dc_conv_shape *s, const T *im, T *cols)                          \
    {                                                                                              \
        FOR_EACH_COL_ROW(T, s, cols, {                                                             \
            if (!inside) {                                                                         \
                memset(row, 0, sizeof(T) * (size_t)OW_);                                           \
                continue;                                                                          \
            }                                                                                      \
            for (int64_t ow = 0; ow < w_lo; ow++) row[ow] = 0;                                     \
            if (sw == 1) {                                                                         \
                if (w_hi > w_lo)                                                                   \
                    memcpy(row + w_lo, im + base + w_lo, sizeof(T) * (size_t)(w_hi - w_lo));       \
            } else {                                                                               \
                for (int64_t ow = w_lo; ow < w_hi; ow++) row[ow] = im[base + ow * sw];             \
            }                                                                                      \
            for (int64_t ow = w_hi; ow < OW_; ow++) row[ow] = 0;                                   \
        });                                                                                        \
    }                                                                                              \
    /* the adjoint: every column entry is added back where im2col read it from */                  \
    void dc_col2im_##SUFFIX(const dc_conv_shape *s, const T *cols, T *im)                          \
    {                                                                                              \
        FOR_EACH_COL_ROW(const T, s, cols, {                                                       \
            if (!inside) continue;                                                                 \
            for (int64_t ow = w_lo; ow < w_hi; ow++) im[base + ow * sw] += row[ow];                \
        });                                                                                        \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

/* ---- The three passes -------------------------------------------------------------------- */

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

static bool is_pointwise(const dc_conv_shape *s)
{
    return s->kernel_h == 1 && s->kernel_w == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->pad_h == 0 && s->pad_w == 0 && s->out_h == s->in_h && s->out_w == s->in_w;
}

/* Below this many multiply-adds per call, waking the pool costs more than it saves. */
#define PARALLEL_MIN_WORK (1 << 18)

/* Images in parallel (each GEMM on one thread) when there are enough of them; otherwise
 * one image at a time with the GEMM itself threaded (or not, if it is small). */
static bool images_in_parallel(const dc_conv_shape *s)
{
    const int nthreads = dc_get_num_threads();
    const double work = (double)s->batch * (double)s->out_channels * (double)s->out_h *
                        (double)s->out_w * (double)(s->in_channels / s->groups) *
                        (double)(s->kernel_h * s->kernel_w);
    return nthreads > 1 && s->batch >= nthreads && work >= PARALLEL_MIN_WORK;
}

static size_t cols_bytes(const dc_conv_shape *s, size_t es)
{
    if (is_pointwise(s)) return 0;
    return round_up64((size_t)(s->in_channels * s->kernel_h * s->kernel_w) *
                      (size_t)(s->out_h * s->out_w) * es);
}

static size_t weight_bytes(const dc_conv_shape *s, size_t es)
{
    return round_up64(
        (size_t)(s->out_channels * (s->in_channels / s->groups) * s->kernel_h * s->kernel_w) * es);
}

/* Bytes of one thread's slot: its columns, plus (weight pass, parallel images) its own
 * partial dW, summed at the end so threads never race on dW. */
static size_t slot_bytes(const dc_conv_shape *s, size_t es, dc_conv_pass pass)
{
    size_t b = cols_bytes(s, es);
    if (pass == DC_CONV_BACKWARD_WEIGHT && images_in_parallel(s)) b += weight_bytes(s, es);
    return b;
}

size_t dc_conv_scratch_bytes(const dc_conv_shape *s, bool f64, dc_conv_pass pass)
{
    const size_t es = f64 ? 8 : 4;
    const size_t slots = images_in_parallel(s) ? (size_t)dc_get_num_threads() : 1;
    return slots * slot_bytes(s, es, pass);
}

typedef struct {
    const dc_conv_shape *s;
    bool f64;
    size_t es;
    const char *image_in, *cols_in, *w, *bias; /* what the pass reads */
    char *out;                                 /* what it writes */
    char *scratch;
    size_t slot; /* bytes per thread slot */
    dc_conv_pass pass;
} conv_job;

/* C = A @ B + beta*C in the job's dtype. */
static void gemm(const conv_job *j, int64_t M, int64_t N, int64_t K, const void *A, int64_t rsa,
                 int64_t csa, const void *B, int64_t rsb, int64_t csb, double beta, void *C,
                 int64_t rsc, int64_t csc)
{
    if (j->f64) dc_dgemm(M, N, K, 1.0, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
    else dc_sgemm(M, N, K, 1.0f, A, rsa, csa, B, rsb, csb, (float)beta, C, rsc, csc);
}

/* dst[c][l] = bias ? bias[c] : 0 for C rows of L. */
static void fill_rows(const conv_job *j, void *dst, int64_t C, int64_t L, const void *bias)
{
    if (!bias) {
        memset(dst, 0, (size_t)(C * L) * j->es);
        return;
    }
    for (int64_t c = 0; c < C; c++) {
        if (j->f64) {
            double *d = (double *)dst + c * L, v = ((const double *)bias)[c];
            for (int64_t l = 0; l < L; l++) d[l] = v;
        } else {
            float *d = (float *)dst + c * L, v = ((const float *)bias)[c];
            for (int64_t l = 0; l < L; l++) d[l] = v;
        }
    }
}

/* Columns of image n: the image itself on the 1x1 fast path, else im2col into scratch. */
static const char *columns_of(const conv_job *j, const char *image, char *scratch)
{
    if (is_pointwise(j->s)) return image;
    if (j->f64) dc_im2col_f64(j->s, (const double *)image, (double *)scratch);
    else dc_im2col_f32(j->s, (const float *)image, (float *)scratch);
    return scratch;
}

/* Sizes shared by the passes: per group, W_g is [Cout_g, Kg] and columns are [Kg, L]. */
#define GROUP_SIZES(s)                                                                             \
    const int64_t G = (s)->groups, Cout_g = (s)->out_channels / G;                                 \
    const int64_t Kg = (s)->in_channels / G * (s)->kernel_h * (s)->kernel_w;                       \
    const int64_t L = (s)->out_h * (s)->out_w, HW = (s)->in_h * (s)->in_w;                         \
    (void)HW

/* y_n,g = W_g @ cols_g(x_n) (+ bias) */
static void forward_image(const conv_job *j, int64_t n, char *scratch)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s);
    const char *x_n = j->image_in + (size_t)(n * s->in_channels * HW) * j->es;
    char *y_n = j->out + (size_t)(n * s->out_channels * L) * j->es;
    const char *cols = columns_of(j, x_n, scratch);
    if (j->bias) fill_rows(j, y_n, s->out_channels, L, j->bias);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Cout_g, L, Kg, j->w + (size_t)(g * Cout_g * Kg) * j->es, Kg, 1,
             cols + (size_t)(g * Kg * L) * j->es, L, 1, j->bias ? 1.0 : 0.0,
             y_n + (size_t)(g * Cout_g * L) * j->es, L, 1);
}

/* x_n = col2im(W_g^T @ y_n,g) (+ bias): the adjoint of forward_image */
static void backward_data_image(const conv_job *j, int64_t n, char *scratch)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s);
    const char *y_n = j->cols_in + (size_t)(n * s->out_channels * L) * j->es;
    char *x_n = j->out + (size_t)(n * s->in_channels * HW) * j->es;
    const bool direct = is_pointwise(s); /* the columns are the image: write in place */
    fill_rows(j, x_n, s->in_channels, HW, j->bias);
    char *cols = direct ? x_n : scratch;
    for (int64_t g = 0; g < G; g++)
        gemm(j, Kg, L, Cout_g, j->w + (size_t)(g * Cout_g * Kg) * j->es, 1, Kg,
             y_n + (size_t)(g * Cout_g * L) * j->es, L, 1, direct ? 1.0 : 0.0,
             cols + (size_t)(g * Kg * L) * j->es, L, 1);
    if (direct) return;
    if (j->f64) dc_col2im_f64(s, (const double *)cols, (double *)x_n);
    else dc_col2im_f32(s, (const float *)cols, (float *)x_n);
}

/* dW_g (beta=0: =, beta=1: +=) y_n,g @ cols_g(x_n)^T */
static void backward_weight_image(const conv_job *j, int64_t n, char *scratch, char *dw,
                                  double beta)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s);
    const char *x_n = j->image_in + (size_t)(n * s->in_channels * HW) * j->es;
    const char *y_n = j->cols_in + (size_t)(n * s->out_channels * L) * j->es;
    const char *cols = columns_of(j, x_n, scratch);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Cout_g, Kg, L, y_n + (size_t)(g * Cout_g * L) * j->es, L, 1,
             cols + (size_t)(g * Kg * L) * j->es, 1, L, beta,
             dw + (size_t)(g * Cout_g * Kg) * j->es, Kg, 1);
}

/* A chunk of images on one thread, with that thread's scratch slot. */
static void image_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const conv_job *j = ctx;
    char *slot = j->scratch ? j->scratch + (size_t)tid * j->slot : NULL;
    for (int64_t n = begin; n < end; n++) {
        switch (j->pass) {
        case DC_CONV_FORWARD: forward_image(j, n, slot); break;
        case DC_CONV_BACKWARD_DATA: backward_data_image(j, n, slot); break;
        case DC_CONV_BACKWARD_WEIGHT:
            backward_weight_image(j, n, slot, slot + cols_bytes(j->s, j->es), 1.0);
            break;
        }
    }
}

static void run(conv_job *j)
{
    const dc_conv_shape *s = j->s;
    j->es = j->f64 ? 8 : 4;
    j->slot = slot_bytes(s, j->es, j->pass);
    if (!images_in_parallel(s)) {
        for (int64_t n = 0; n < s->batch; n++) {
            switch (j->pass) {
            case DC_CONV_FORWARD: forward_image(j, n, j->scratch); break;
            case DC_CONV_BACKWARD_DATA: backward_data_image(j, n, j->scratch); break;
            case DC_CONV_BACKWARD_WEIGHT:
                backward_weight_image(j, n, j->scratch, j->out, n > 0 ? 1.0 : 0.0);
                break;
            }
        }
        if (j->pass == DC_CONV_BACKWARD_WEIGHT && s->batch == 0)
            memset(j->out, 0, weight_bytes(s, j->es));
        return;
    }
    const int nthreads = dc_get_num_threads();
    const size_t wb = weight_bytes(s, j->es), cb = cols_bytes(s, j->es);
    if (j->pass == DC_CONV_BACKWARD_WEIGHT)
        for (int t = 0; t < nthreads; t++) memset(j->scratch + (size_t)t * j->slot + cb, 0, wb);
    dc_parallel_for(s->batch, 1, image_range, j);
    if (j->pass != DC_CONV_BACKWARD_WEIGHT) return;
    /* dW = sum of the threads' partials */
    const int64_t nw = s->out_channels * (s->in_channels / s->groups) * s->kernel_h * s->kernel_w;
    memcpy(j->out, j->scratch + cb, (size_t)nw * j->es);
    for (int t = 1; t < nthreads; t++) {
        const char *part = j->scratch + (size_t)t * j->slot + cb;
        if (j->f64) {
            double *d = (double *)j->out;
            for (int64_t i = 0; i < nw; i++) d[i] += ((const double *)part)[i];
        } else {
            float *d = (float *)j->out;
            for (int64_t i = 0; i < nw; i++) d[i] += ((const float *)part)[i];
        }
    }
}

void dc_conv_forward(const dc_conv_shape *s, bool f64, const void *x, const void *w,
                     const void *bias, void *y, void *scratch)
{
    conv_job j = {.s = s,
                  .f64 = f64,
                  .image_in = x,
                  .w = w,
                  .bias = bias,
                  .out = y,
                  .scratch = scratch,
                  .pass = DC_CONV_FORWARD};
    run(&j);
}

void dc_conv_backward_data(const dc_conv_shape *s, bool f64, const void *y, const void *w,
                           const void *bias, void *x, void *scratch)
{
    conv_job j = {.s = s,
                  .f64 = f64,
                  .cols_in = y,
                  .w = w,
                  .bias = bias,
                  .out = x,
                  .scratch = scratch,
                  .pass = DC_CONV_BACKWARD_DATA};
    run(&j);
}

void dc_conv_backward_weight(const dc_conv_shape *s, bool f64, const void *x, const void *y,
                             void *dw, void *scratch)
{
    conv_job j = {.s = s,
                  .f64 = f64,
                  .image_in = x,
                  .cols_in = y,
                  .out = dw,
                  .scratch = scratch,
                  .pass = DC_CONV_BACKWARD_WEIGHT};
    run(&j);
}
