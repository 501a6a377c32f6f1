/* Convolution as GEMM (see conv_kernels.h for the three passes).
 *
 * im2col lays out, for a *block* of B images, every kernel tap (c, kh, kw) as a row and
 * every (image b, output position oh, ow) as a column:
 *     cols[(c*KH + kh)*KW + kw][b*L + oh*OW + ow] = x_b[c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw]
 * (L = OH*OW; 0 where that reads padding). Rows of one group are contiguous, so group g's
 * conv of the whole block is one GEMM
 *     Y_g[C_out/G, B*L] = W_g[C_out/G, C_in/G*KH*KW] @ cols_g
 * instead of B tiny ones (LeNet's conv2 per image: M=64, K=800, N=16, where packing and
 * dispatch cost more than the multiply). Y and the incoming gradient are [N, C, L] in
 * memory, so they pass through a [C, B*L] staging matrix (a copy of the output only).
 * Scratch stays bounded: a block's columns are capped at BLOCK_COLS_BYTES per thread. */
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

/* Visit every (tap row, image b, output row oh) triple of a block of `nimages` images
 * (consecutive [C, H, W] planes): `row` points at the OW column entries of (b, oh), `ih` is
 * the input row (maybe padding) and [w_lo, w_hi) the columns that read real input at
 * im[base + ow*sw]. Tap rows are nimages*OH*OW long. The valid column range depends on the
 * tap only, so it is computed once per tap for the whole block (the images loop is inside:
 * with LeNet's 4x4 outputs a tap row of one image is only 16 entries).
 * BODY does the copy one way or the other. */
#define FOR_EACH_COL_ROW(T, s, cols, nimages, BODY)                                                \
    do {                                                                                           \
        const int64_t H_ = (s)->in_h, W_ = (s)->in_w, OH_ = (s)->out_h, OW_ = (s)->out_w;          \
        const int64_t sw = (s)->stride_w, L_ = OH_ * OW_, CHW_ = (s)->in_channels * H_ * W_;       \
        T *tap_row = (cols);                                                                       \
        for (int64_t c = 0; c < (s)->in_channels; c++) {                                           \
            const int64_t plane_off = c * H_ * W_;                                                 \
            for (int64_t kh = 0; kh < (s)->kernel_h; kh++) {                                       \
                const int64_t off_h = kh * (s)->dil_h - (s)->pad_h;                                \
                for (int64_t kw = 0; kw < (s)->kernel_w; kw++, tap_row += (nimages)*L_) {          \
                    const int64_t off_w = kw * (s)->dil_w - (s)->pad_w;                            \
                    int64_t w_lo, w_hi;                                                            \
                    valid_range(OW_, W_, sw, off_w, &w_lo, &w_hi);                                 \
                    for (int64_t b = 0; b < (nimages); b++) {                                      \
                        T *row = tap_row + b * L_;                                                 \
                        for (int64_t oh = 0; oh < OH_; oh++, row += OW_) {                         \
                            const int64_t ih = oh * (s)->stride_h + off_h;                         \
                            const bool inside = ih >= 0 && ih < H_;                                \
                            const int64_t base = b * CHW_ + plane_off + ih * W_ + off_w;           \
                            (void)base;                                                            \
                            BODY                                                                   \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#define DEFINE_IM2COL(T, SUFFIX)                                                                   \
    void dc_im2col_##SUFFIX(const dc_conv_shape *s, const T *im, int64_t nimages, T *cols)         \
    {                                                                                              \
        FOR_EACH_COL_ROW(T, s, cols, nimages, {                                                    \
            if (!inside) {                                                                         \
                for (int64_t ow = 0; ow < OW_; ow++) row[ow] = 0;                                  \
                continue;                                                                          \
            }                                                                                      \
            const T *src = im + base;                                                              \
            for (int64_t ow = 0; ow < w_lo; ow++) row[ow] = 0;                                     \
            if (sw == 1) /* rows are short: a loop beats a memcpy call */                          \
                for (int64_t ow = w_lo; ow < w_hi; ow++) row[ow] = src[ow];                        \
            else                                                                                   \
                for (int64_t ow = w_lo; ow < w_hi; ow++) row[ow] = src[ow * sw];                   \
            for (int64_t ow = w_hi; ow < OW_; ow++) row[ow] = 0;                                   \
        });                                                                                        \
    }                                                                                              \
    /* the adjoint: every column entry is added back where im2col read it from */                  \
    void dc_col2im_##SUFFIX(const dc_conv_shape *s, const T *cols, int64_t nimages, T *im)         \
    {                                                                                              \
        FOR_EACH_COL_ROW(const T, s, cols, nimages, {                                              \
            if (!inside) continue;                                                                 \
            T *dst = im + base;                                                                    \
            for (int64_t ow = w_lo; ow < w_hi; ow++) dst[ow * sw] += row[ow];                      \
        });                                                                                        \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

/* ---- The three passes -------------------------------------------------------------------- */

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Below this many multiply-adds per call, waking the pool costs more than it saves. */
#define PARALLEL_MIN_WORK (1 << 18)
/* Cap on one block's columns (per thread): big enough for GEMMs of a few hundred columns,
 * small enough to stay in L2/L3 between im2col and the GEMM that reads them. */
#define BLOCK_COLS_BYTES ((size_t)1 << 20)

/* How a call is cut: `threads` slots (1: blocks run one after another and each GEMM is
 * threaded; else every thread runs whole blocks with its own slot and a serial GEMM), and
 * blocks of `block` images. */
typedef struct {
    int threads;
    int64_t block;
} conv_plan;

static conv_plan plan_of(const dc_conv_shape *s, size_t es)
{
    const int nthreads = dc_get_num_threads();
    const double work = (double)s->batch * (double)s->out_channels * (double)s->out_h *
                        (double)s->out_w * (double)(s->in_channels / s->groups) *
                        (double)(s->kernel_h * s->kernel_w);
    conv_plan p = {1, 1};
    if (nthreads > 1 && s->batch >= nthreads && work >= PARALLEL_MIN_WORK) p.threads = nthreads;
    /* images per thread, cut into equal blocks under the cap */
    const int64_t per_thread = (s->batch + p.threads - 1) / p.threads;
    const size_t image_cols =
        (size_t)(s->in_channels * s->kernel_h * s->kernel_w * s->out_h * s->out_w) * es;
    const int64_t max_block = image_cols ? (int64_t)(BLOCK_COLS_BYTES / image_cols) : per_thread;
    const int64_t cap = max_block < 1 ? 1 : max_block;
    const int64_t nblocks = per_thread > 0 ? (per_thread + cap - 1) / cap : 1;
    p.block = per_thread > 0 ? (per_thread + nblocks - 1) / nblocks : 1;
    return p;
}

static int64_t weight_count(const dc_conv_shape *s)
{
    return s->out_channels * (s->in_channels / s->groups) * s->kernel_h * s->kernel_w;
}

/* One slot: a block's columns [Cin*KH*KW, B*L], its staging matrix [Cout, B*L] and (weight
 * pass) the thread's own partial dW, transposed (see backward_weight_block), summed at the
 * end so threads never race on dW. */
typedef struct {
    size_t cols, stage, dw, total;
} slot_layout;

static slot_layout slot_of(const dc_conv_shape *s, size_t es, dc_conv_pass pass, conv_plan p)
{
    const size_t ld = (size_t)(p.block * s->out_h * s->out_w);
    slot_layout l;
    l.cols = round_up64((size_t)(s->in_channels * s->kernel_h * s->kernel_w) * ld * es);
    l.stage = round_up64((size_t)s->out_channels * ld * es);
    l.dw = pass == DC_CONV_BACKWARD_WEIGHT ? round_up64((size_t)weight_count(s) * es) : 0;
    l.total = l.cols + l.stage + l.dw;
    return l;
}

size_t dc_conv_scratch_bytes(const dc_conv_shape *s, bool f64, dc_conv_pass pass)
{
    const size_t es = f64 ? 8 : 4;
    const conv_plan p = plan_of(s, es);
    return (size_t)p.threads * slot_of(s, es, pass, p).total;
}

typedef struct {
    const dc_conv_shape *s;
    bool f64;
    size_t es;
    const char *image_in, *cols_in, *w, *bias; /* what the pass reads */
    char *out;                                 /* what it writes */
    char *scratch;
    conv_plan plan;
    slot_layout slot;
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

/* Between a block of a [N, C, L] tensor and its [C, B*L] staging matrix, optionally adding
 * bias[c] on the way out: to_stage ? stage[c][b*L + l] = t[n0+b][c][l]
 *                                  : t[n0+b][c][l] = stage[c][b*L + l] (+ bias[c]). */
#define DEFINE_RESTAGE(T, SUFFIX)                                                                  \
    static void restage_##SUFFIX(T *t, T *stage, int64_t n0, int64_t nb, int64_t C, int64_t L,     \
                                 const T *bias, bool to_stage)                                     \
    {                                                                                              \
        const int64_t ld = nb * L;                                                                 \
        for (int64_t b = 0; b < nb; b++)                                                           \
            for (int64_t c = 0; c < C; c++) {                                                      \
                T *tp = t + ((n0 + b) * C + c) * L, *sp = stage + c * ld + b * L;                  \
                if (to_stage) memcpy(sp, tp, sizeof(T) * (size_t)L);                               \
                else {                                                                             \
                    const T add = bias ? bias[c] : 0;                                              \
                    for (int64_t l = 0; l < L; l++) tp[l] = sp[l] + add;                           \
                }                                                                                  \
            }                                                                                      \
    }
DEFINE_RESTAGE(float, f32)
DEFINE_RESTAGE(double, f64)

static void restage(const conv_job *j, const void *t, void *stage, int64_t n0, int64_t nb,
                    int64_t C, const void *bias, bool to_stage)
{
    const int64_t L = j->s->out_h * j->s->out_w;
    if (j->f64) restage_f64((double *)t, stage, n0, nb, C, L, bias, to_stage);
    else restage_f32((float *)t, stage, n0, nb, C, L, bias, to_stage);
}

/* Sizes shared by the passes: per group, W_g is [Cout_g, Kg] and columns are [Kg, ld]. */
#define GROUP_SIZES(s, nb)                                                                         \
    const int64_t G = (s)->groups, Cout_g = (s)->out_channels / G;                                 \
    const int64_t Kg = (s)->in_channels / G * (s)->kernel_h * (s)->kernel_w;                       \
    const int64_t L = (s)->out_h * (s)->out_w, HW = (s)->in_h * (s)->in_w, ld = (nb)*L;            \
    (void)HW, (void)Cout_g, (void)Kg, (void)ld

/* cols[:, b*L ...] = im2col(x_{n0+b}) for the block */
static void columns_of_block(const conv_job *j, int64_t n0, int64_t nb, char *cols)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s, nb);
    const char *x = j->image_in + (size_t)(n0 * s->in_channels * HW) * j->es;
    if (j->f64) dc_im2col_f64(s, (const double *)x, nb, (double *)cols);
    else dc_im2col_f32(s, (const float *)x, nb, (float *)cols);
}

/* Y_g = W_g @ cols_g, then y_n = Y[:, n's columns] + bias */
static void forward_block(const conv_job *j, int64_t n0, int64_t nb, char *slot)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    columns_of_block(j, n0, nb, cols);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Cout_g, ld, Kg, j->w + (size_t)(g * Cout_g * Kg) * j->es, Kg, 1,
             cols + (size_t)(g * Kg * ld) * j->es, ld, 1, 0.0,
             stage + (size_t)(g * Cout_g * ld) * j->es, ld, 1);
    restage(j, j->out, stage, n0, nb, s->out_channels, j->bias, false);
}

/* x_n = col2im(W_g^T @ Y_g) (+ bias): the adjoint of forward_block */
static void backward_data_block(const conv_job *j, int64_t n0, int64_t nb, char *slot)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    restage(j, j->cols_in, stage, n0, nb, s->out_channels, NULL, true);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Kg, ld, Cout_g, j->w + (size_t)(g * Cout_g * Kg) * j->es, 1, Kg,
             stage + (size_t)(g * Cout_g * ld) * j->es, ld, 1, 0.0,
             cols + (size_t)(g * Kg * ld) * j->es, ld, 1);
    char *x = j->out + (size_t)(n0 * s->in_channels * HW) * j->es;
    for (int64_t p = 0; p < nb * s->in_channels; p++) { /* x = bias (or 0), then += */
        const int64_t c = p % s->in_channels;
        if (j->f64) {
            double *d = (double *)x + p * HW, v = j->bias ? ((const double *)j->bias)[c] : 0;
            for (int64_t i = 0; i < HW; i++) d[i] = v;
        } else {
            float *d = (float *)x + p * HW, v = j->bias ? ((const float *)j->bias)[c] : 0;
            for (int64_t i = 0; i < HW; i++) d[i] = v;
        }
    }
    if (j->f64) dc_col2im_f64(s, (const double *)cols, nb, (double *)x);
    else dc_col2im_f32(s, (const float *)cols, nb, (float *)x);
}

/* dW_g += Y_g @ cols_g^T, accumulated as its transpose dWt_g[Kg, Cout_g] += cols_g @ Y_g^T:
 * the GEMM packs its operands in panels of MR rows of A and NR columns of B, and a partial
 * panel takes a slow strided copy of the whole long K side. Cout is usually a multiple of
 * NR (32, 64), Kg often is not (LeNet's conv1: 25), so Kg goes on the M side where only
 * its last MR-row panel is partial. */
static void backward_weight_block(const conv_job *j, int64_t n0, int64_t nb, char *slot, char *dwt)
{
    const dc_conv_shape *s = j->s;
    GROUP_SIZES(s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    restage(j, j->cols_in, stage, n0, nb, s->out_channels, NULL, true);
    columns_of_block(j, n0, nb, cols);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Kg, Cout_g, ld, cols + (size_t)(g * Kg * ld) * j->es, ld, 1,
             stage + (size_t)(g * Cout_g * ld) * j->es, 1, ld, 1.0,
             dwt + (size_t)(g * Kg * Cout_g) * j->es, Cout_g, 1);
}

static void run_block(const conv_job *j, int64_t block, char *slot)
{
    const int64_t n0 = block * j->plan.block;
    const int64_t nb = n0 + j->plan.block <= j->s->batch ? j->plan.block : j->s->batch - n0;
    switch (j->pass) {
    case DC_CONV_FORWARD: forward_block(j, n0, nb, slot); break;
    case DC_CONV_BACKWARD_DATA: backward_data_block(j, n0, nb, slot); break;
    case DC_CONV_BACKWARD_WEIGHT:
        backward_weight_block(j, n0, nb, slot, slot + j->slot.cols + j->slot.stage);
        break;
    }
}

/* A range of blocks on one thread, with that thread's slot (serial GEMMs: nested pool
 * calls run inline). */
static void block_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const conv_job *j = ctx;
    char *slot = j->scratch + (size_t)tid * j->slot.total;
    for (int64_t b = begin; b < end; b++) run_block(j, b, slot);
}

/* dW[g][co][k] = sum over slots of their dWt[g][k][co] */
#define DEFINE_SUM_PARTIALS(T, SUFFIX)                                                             \
    static void sum_partials_##SUFFIX(const conv_job *j, T *dw)                                    \
    {                                                                                              \
        const dc_conv_shape *s = j->s;                                                             \
        GROUP_SIZES(s, 1);                                                                         \
        memset(dw, 0, sizeof(T) * (size_t)weight_count(s));                                        \
        for (int t = 0; t < j->plan.threads; t++) {                                                \
            const T *part = (const T *)(j->scratch + (size_t)t * j->slot.total + j->slot.cols +    \
                                        j->slot.stage);                                            \
            for (int64_t g = 0; g < G; g++)                                                        \
                for (int64_t co = 0; co < Cout_g; co++)                                            \
                    for (int64_t k = 0; k < Kg; k++)                                               \
                        dw[(g * Cout_g + co) * Kg + k] += part[(g * Kg + k) * Cout_g + co];        \
        }                                                                                          \
    }
DEFINE_SUM_PARTIALS(float, f32)
DEFINE_SUM_PARTIALS(double, f64)

static void run(conv_job *j)
{
    const dc_conv_shape *s = j->s;
    j->es = j->f64 ? 8 : 4;
    j->plan = plan_of(s, j->es);
    j->slot = slot_of(s, j->es, j->pass, j->plan);
    const int64_t nblocks = (s->batch + j->plan.block - 1) / j->plan.block;
    if (j->slot.dw) /* partials of threads that get no block must read as 0 */
        for (int t = 0; t < j->plan.threads; t++)
            memset(j->scratch + (size_t)t * j->slot.total + j->slot.cols + j->slot.stage, 0,
                   (size_t)weight_count(s) * j->es);
    if (j->plan.threads == 1)
        for (int64_t b = 0; b < nblocks; b++) run_block(j, b, j->scratch);
    else dc_parallel_for(nblocks, 1, block_range, j);
    if (!j->slot.dw) return;
    if (j->f64) sum_partials_f64(j, (double *)j->out);
    else sum_partials_f32(j, (float *)j->out);
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
