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
#include "conv_direct.h"
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
#define FOR_EACH_COL_ROW(T, s, cols, nimages, c_begin, c_end, BODY)                                \
    do {                                                                                           \
        const int64_t H_ = (s)->in_h, W_ = (s)->in_w, OH_ = (s)->out_h, OW_ = (s)->out_w;          \
        const int64_t sw = (s)->stride_w, L_ = OH_ * OW_, CHW_ = (s)->in_channels * H_ * W_;       \
        T *tap_row = (cols) + (c_begin) * (s)->kernel_h * (s)->kernel_w * (nimages)*L_;            \
        for (int64_t c = (c_begin); c < (c_end); c++) {                                            \
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
    /* the tap rows of input channels [c0, c1) */                                                \
    static void im2col_channels_##SUFFIX(const dc_conv_shape *s, const T *im, int64_t nimages,    \
                                         T *cols, int64_t c0, int64_t c1)                         \
    {                                                                                              \
        FOR_EACH_COL_ROW(T, s, cols, nimages, c0, c1, {                                            \
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
    /* the adjoint: every column entry is added back where im2col read it from (channels      \
     * [c0, c1) of the images only, so channel ranges can run in parallel) */                  \
    static void col2im_channels_##SUFFIX(const dc_conv_shape *s, const T *cols, int64_t nimages,  \
                                         T *im, int64_t c0, int64_t c1)                           \
    {                                                                                              \
        FOR_EACH_COL_ROW(const T, s, cols, nimages, c0, c1, {                                      \
            if (!inside) continue;                                                                 \
            T *dst = im + base;                                                                    \
            for (int64_t ow = w_lo; ow < w_hi; ow++) dst[ow * sw] += row[ow];                      \
        });                                                                                        \
    }                                                                                              \
    void dc_im2col_##SUFFIX(const dc_conv_shape *s, const T *im, int64_t nimages, T *cols)         \
    {                                                                                              \
        im2col_channels_##SUFFIX(s, im, nimages, cols, 0, s->in_channels);                        \
    }                                                                                              \
    void dc_col2im_##SUFFIX(const dc_conv_shape *s, const T *cols, int64_t nimages, T *im)         \
    {                                                                                              \
        col2im_channels_##SUFFIX(s, cols, nimages, im, 0, s->in_channels);                        \
    }

DEFINE_IM2COL(float, f32)
DEFINE_IM2COL(double, f64)

/* Windows that never read padding (pad 0 after cropping: LeNet's valid convolutions) need
 * none of the per-row bookkeeping above: every tap row of an image is OH spans of OW
 * inputs, OH*sh rows apart. Small maps make the spans short (conv2's 4x4 outputs: 4
 * floats), so spans of up to 8 elements are copied with compile-time lengths (straight
 * vector moves; a runtime-length loop or memcpy call costs more than the copy). */
#define VALID_SPAN_CASES(n, SPAN)                                                                  \
    switch (n) {                                                                                   \
    case 1: SPAN(1); break;                                                                        \
    case 2: SPAN(2); break;                                                                        \
    case 3: SPAN(3); break;                                                                        \
    case 4: SPAN(4); break;                                                                        \
    case 5: SPAN(5); break;                                                                        \
    case 6: SPAN(6); break;                                                                        \
    case 7: SPAN(7); break;                                                                        \
    case 8: SPAN(8); break;                                                                        \
    default: SPAN(n); break;                                                                       \
    }

static bool reads_no_padding(const dc_conv_shape *s) { return s->pad_h == 0 && s->pad_w == 0; }

/* Visit the spans of tap rows of channels [c0, c1): `span` is the OW column entries of
 * (tap, image b, output row oh) and `src` the first input they read (then src[ow * sw]). */
#define FOR_EACH_VALID_SPAN(T, s, cols, nimages, c0, c1, BODY)                                     \
    do {                                                                                           \
        const int64_t W_ = (s)->in_w, OH_ = (s)->out_h, OW_ = (s)->out_w, L_ = OH_ * OW_;          \
        const int64_t HW_ = (s)->in_h * W_, CHW_ = (s)->in_channels * HW_;                         \
        const int64_t row_step = (s)->stride_h * W_;                                               \
        T *span = (cols) + (c0) * (s)->kernel_h * (s)->kernel_w * (nimages)*L_;                    \
        for (int64_t c = (c0); c < (c1); c++)                                                      \
            for (int64_t kh = 0; kh < (s)->kernel_h; kh++)                                         \
                for (int64_t kw = 0; kw < (s)->kernel_w; kw++) {                                   \
                    const int64_t tap_off = c * HW_ + kh * (s)->dil_h * W_ + kw * (s)->dil_w;      \
                    for (int64_t b = 0; b < (nimages); b++)                                        \
                        for (int64_t oh = 0; oh < OH_; oh++, span += OW_) {                        \
                            const int64_t at = b * CHW_ + tap_off + oh * row_step;                 \
                            BODY                                                                   \
                        }                                                                          \
                }                                                                                  \
    } while (0)

#define DEFINE_VALID_IM2COL(T, SUFFIX)                                                             \
    static void im2col_valid_##SUFFIX(const dc_conv_shape *s, const T *im, int64_t nimages,        \
                                      T *cols, int64_t c0, int64_t c1)                             \
    {                                                                                              \
        const int64_t sw = s->stride_w;                                                            \
        FOR_EACH_VALID_SPAN(T, s, cols, nimages, c0, c1, {                                         \
            const T *src = im + at;                                                                \
            if (sw == 1) {                                                                         \
                VALID_SPAN_CASES(OW_, COPY_SPAN);                                                  \
            } else                                                                                 \
                for (int64_t ow = 0; ow < OW_; ow++) span[ow] = src[ow * sw];                      \
        });                                                                                        \
    }                                                                                              \
    static void col2im_valid_##SUFFIX(const dc_conv_shape *s, const T *cols, int64_t nimages,      \
                                      T *im, int64_t c0, int64_t c1)                               \
    {                                                                                              \
        const int64_t sw = s->stride_w;                                                            \
        FOR_EACH_VALID_SPAN(const T, s, cols, nimages, c0, c1, {                                   \
            T *dst = im + at;                                                                      \
            if (sw == 1) {                                                                         \
                VALID_SPAN_CASES(OW_, ADD_SPAN);                                                   \
            } else                                                                                 \
                for (int64_t ow = 0; ow < OW_; ow++) dst[ow * sw] += span[ow];                     \
        });                                                                                        \
    }
#define COPY_SPAN(n)                                                                               \
    for (int64_t ow = 0; ow < (n); ow++) span[ow] = src[ow]
#define ADD_SPAN(n)                                                                                \
    for (int64_t ow = 0; ow < (n); ow++) dst[ow] += span[ow]
DEFINE_VALID_IM2COL(float, f32)
DEFINE_VALID_IM2COL(double, f64)

/* Small outputs (ResNet-18's late stages: 4x4 down to 1x1) make the rows above a few
 * entries long, and per-row bookkeeping costs 3-6 ns per entry. There a table per tap gives,
 * for every column entry of a block (image b, output position), the offset it reads in a
 * channel plane of the block (b*C*H*W + ih*W + iw), or -1 for padding: im2col becomes one
 * gather per tap row of the whole block, col2im one scatter-add (no two entries of one tap
 * row read the same input, so the adds never collide). */
#define TABLE_MAX_OUT_W 7

static bool uses_table(const dc_conv_shape *s)
{
    return s->out_w <= TABLE_MAX_OUT_W && !reads_no_padding(s);
}

/* table[tap][b*L + oh*OW + ow] for a block of nimages images */
static void build_table(const dc_conv_shape *s, int64_t nimages, int64_t *table)
{
    const int64_t CHW = s->in_channels * s->in_h * s->in_w;
    for (int64_t kh = 0; kh < s->kernel_h; kh++)
        for (int64_t kw = 0; kw < s->kernel_w; kw++)
            for (int64_t b = 0; b < nimages; b++)
                for (int64_t oh = 0; oh < s->out_h; oh++) {
                    const int64_t ih = oh * s->stride_h + kh * s->dil_h - s->pad_h;
                    for (int64_t ow = 0; ow < s->out_w; ow++) {
                        const int64_t iw = ow * s->stride_w + kw * s->dil_w - s->pad_w;
                        const bool inside = ih >= 0 && ih < s->in_h && iw >= 0 && iw < s->in_w;
                        *table++ = inside ? b * CHW + ih * s->in_w + iw : -1;
                    }
                }
}

#define DEFINE_TABLE_IM2COL(T, SUFFIX)                                                             \
    static void im2col_table_##SUFFIX(const dc_conv_shape *s, const int64_t *table, const T *im,  \
                                      int64_t nimages, T *cols, int64_t c0, int64_t c1)            \
    {                                                                                              \
        const int64_t taps = s->kernel_h * s->kernel_w, n = nimages * s->out_h * s->out_w;        \
        for (int64_t c = c0; c < c1; c++) {                                                        \
            const T *plane = im + c * s->in_h * s->in_w;                                           \
            for (int64_t t = 0; t < taps; t++) {                                                   \
                T *row = cols + (c * taps + t) * n;                                                \
                const int64_t *tab = table + t * n;                                                \
                for (int64_t i = 0; i < n; i++) row[i] = tab[i] >= 0 ? plane[tab[i]] : 0;          \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void col2im_table_##SUFFIX(const dc_conv_shape *s, const int64_t *table, const T *cols, \
                                      int64_t nimages, T *im, int64_t c0, int64_t c1)              \
    {                                                                                              \
        const int64_t taps = s->kernel_h * s->kernel_w, n = nimages * s->out_h * s->out_w;        \
        for (int64_t c = c0; c < c1; c++) {                                                        \
            T *plane = im + c * s->in_h * s->in_w;                                                 \
            for (int64_t t = 0; t < taps; t++) {                                                   \
                const T *row = cols + (c * taps + t) * n;                                          \
                const int64_t *tab = table + t * n;                                                \
                for (int64_t i = 0; i < n; i++)                                                    \
                    if (tab[i] >= 0) plane[tab[i]] += row[i];                                      \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_TABLE_IM2COL(float, f32)
DEFINE_TABLE_IM2COL(double, f64)

/* ---- The three passes -------------------------------------------------------------------- */

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Below this many multiply-adds per call, waking the pool costs more than it saves. */
#define PARALLEL_MIN_WORK (1 << 18)
/* Cap on one block's columns per thread: big enough for GEMMs of a few hundred columns,
 * small enough to stay in L2/L3 between im2col and the GEMM that reads them. */
#define BLOCK_COLS_BYTES ((size_t)1 << 20)
/* Threads go over images only when every thread's copy of the weight (packed by each
 * thread's GEMMs, and a partial dW per thread in the weight pass) is at most this fraction
 * of the columns they share out: early layers (big images, few channels). Late layers
 * (ResNet-18's 512 x 512 x 3 x 3 weight against 1 x 1 outputs) thread every step instead. */
#define IMAGES_MAX_WEIGHT_SHARE 4

/* How a call is cut: blocks of `block` images, and `threads` slots. threads > 1: every
 * thread runs whole blocks in its own slot with serial GEMMs. threads == 1: blocks run one
 * after another and each step of a block is threaded (the GEMM over its larger side,
 * im2col, col2im and restaging over channels). */
typedef struct {
    int threads;
    int64_t per_slot; /* images each slot runs (the last one may get fewer) */
    int64_t block;
} conv_plan;

static int64_t weight_count(const dc_conv_shape *s)
{
    return s->out_channels * (s->in_channels / s->groups) * s->kernel_h * s->kernel_w;
}

static conv_plan plan_of(const dc_conv_shape *s, size_t es)
{
    const int nthreads = dc_get_num_threads();
    const double taps = (double)(s->in_channels * s->kernel_h * s->kernel_w);
    const double positions = (double)s->batch * (double)(s->out_h * s->out_w);
    const double work = positions * (double)s->out_channels * taps / (double)s->groups;
    conv_plan p = {1, s->batch, 1};
    if (nthreads > 1 && s->batch >= nthreads && work >= PARALLEL_MIN_WORK &&
        (double)weight_count(s) * nthreads * IMAGES_MAX_WEIGHT_SHARE <= positions * taps)
        p.threads = nthreads;
    /* images per slot, cut into equal blocks under the cap (a shared block gets every
     * thread's share of the cap) */
    const int64_t per_slot = p.per_slot = (s->batch + p.threads - 1) / p.threads;
    const size_t cap_bytes = BLOCK_COLS_BYTES * (size_t)(p.threads == 1 ? nthreads : 1);
    const size_t image_cols = (size_t)(taps * (double)(s->out_h * s->out_w)) * es;
    const int64_t max_block = image_cols ? (int64_t)(cap_bytes / image_cols) : per_slot;
    const int64_t cap = max_block < 1 ? 1 : max_block;
    const int64_t nblocks = per_slot > 0 ? (per_slot + cap - 1) / cap : 1;
    p.block = per_slot > 0 ? (per_slot + nblocks - 1) / nblocks : 1;
    return p;
}

/* One slot: a block's columns [Cin*KH*KW, B*L], its staging matrix [Cout, B*L], (weight
 * pass over images) the thread's own partial dW, summed at the end so threads never race
 * on dW, (weight pass) the slot's per-channel sums of y for the bias gradient, in double,
 * and (small outputs) the block's gather table. */
typedef struct {
    size_t cols, stage, dw, sums, table, total;
} slot_layout;

static slot_layout slot_of(const dc_conv_shape *s, size_t es, dc_conv_pass pass, conv_plan p)
{
    const size_t ld = (size_t)(p.block * s->out_h * s->out_w);
    slot_layout l;
    l.cols = round_up64((size_t)(s->in_channels * s->kernel_h * s->kernel_w) * ld * es);
    l.stage = round_up64((size_t)s->out_channels * ld * es);
    l.dw = pass == DC_CONV_BACKWARD_WEIGHT && p.threads > 1
               ? round_up64((size_t)weight_count(s) * es)
               : 0;
    l.sums = pass == DC_CONV_BACKWARD_WEIGHT ? round_up64((size_t)s->out_channels * sizeof(double))
                                             : 0;
    l.table = uses_table(s) ? round_up64((size_t)(s->kernel_h * s->kernel_w) * ld * sizeof(int64_t))
                            : 0;
    l.total = l.cols + l.stage + l.dw + l.sums + l.table;
    return l;
}

/* Taps that read only padding, for every output position, add nothing: ResNet-18's 3x3
 * convs on 1x1 maps use only the centre tap, and im2col + GEMM would spend 9x the work on
 * zeros. The taps that read something form a window [kh0, kh1) x [kw0, kw1) (the input rows
 * a tap reads shift with it); a call whose window is smaller than the kernel runs as the
 * convolution with the kernel cropped to it and the padding reduced to match, so every
 * tap keeps its offset. Returns s itself when nothing is cropped, else fills *cropped. */
static void tap_window(int64_t out, int64_t in, int64_t stride, int64_t kernel, int64_t dil,
                       int64_t pad, int64_t *k0, int64_t *k1)
{
    *k0 = kernel, *k1 = 0;
    for (int64_t k = 0; k < kernel; k++) {
        int64_t lo, hi;
        valid_range(out, in, stride, k * dil - pad, &lo, &hi);
        if (lo < hi) *k0 = *k0 < k ? *k0 : k, *k1 = k + 1;
    }
    if (*k0 >= *k1) *k0 = 0, *k1 = kernel; /* nothing valid (empty output): keep the kernel */
}

static const dc_conv_shape *crop_kernel(const dc_conv_shape *s, dc_conv_shape *cropped,
                                        int64_t *kh0, int64_t *kw0)
{
    int64_t kh1, kw1;
    tap_window(s->out_h, s->in_h, s->stride_h, s->kernel_h, s->dil_h, s->pad_h, kh0, &kh1);
    tap_window(s->out_w, s->in_w, s->stride_w, s->kernel_w, s->dil_w, s->pad_w, kw0, &kw1);
    if (kh1 - *kh0 == s->kernel_h && kw1 - *kw0 == s->kernel_w) return s;
    *cropped = *s;
    cropped->kernel_h = kh1 - *kh0, cropped->kernel_w = kw1 - *kw0;
    cropped->pad_h = s->pad_h - *kh0 * s->dil_h, cropped->pad_w = s->pad_w - *kw0 * s->dil_w;
    return cropped;
}

/* Between a full weight [Cout, Cin/G, KH, KW] and its cropped window [.., kh, kw] at
 * (kh0, kw0): from_full copies the window out of `from`, else `to` is the full weight and
 * gets the window with zeros around it (the gradient of the taps that read only padding).
 * Either way every cache line of the full weight is touched (9.4 MB for ResNet-18's last
 * convs), so the planes are shared out over the threads. */
typedef struct {
    const dc_conv_shape *full, *win;
    int64_t kh0, kw0;
    size_t es;
    const char *from;
    char *to;
    bool from_full;
} window_copy;

static void copy_window_range(void *ctx, int64_t p0, int64_t p1, int tid)
{
    (void)tid;
    const window_copy *c = ctx;
    const int64_t KH = c->full->kernel_h, KW = c->full->kernel_w;
    const int64_t kh = c->win->kernel_h, kw = c->win->kernel_w;
    if (!c->from_full)
        memset(c->to + (size_t)(p0 * KH * KW) * c->es, 0, (size_t)((p1 - p0) * KH * KW) * c->es);
    if (kh * kw == 1) { /* one tap per plane (3x3 kernels on 1x1 maps): a strided copy */
        const int64_t tap = c->kh0 * KW + c->kw0, taps = KH * KW;
        if (c->es == 8) {
            const double *from = (const double *)c->from;
            double *to = (double *)c->to;
            for (int64_t p = p0; p < p1; p++)
                if (c->from_full) to[p] = from[p * taps + tap];
                else to[p * taps + tap] = from[p];
        } else {
            const float *from = (const float *)c->from;
            float *to = (float *)c->to;
            for (int64_t p = p0; p < p1; p++)
                if (c->from_full) to[p] = from[p * taps + tap];
                else to[p * taps + tap] = from[p];
        }
        return;
    }
    /* windows are a few elements wide: copy 32-bit words inline, not by memcpy */
    const int64_t words = kw * (int64_t)(c->es / 4);
    for (int64_t p = p0; p < p1; p++)
        for (int64_t r = 0; r < kh; r++) {
            const size_t at_full = (size_t)((p * KH + c->kh0 + r) * KW + c->kw0) * c->es,
                         at_win = (size_t)((p * kh + r) * kw) * c->es;
            uint32_t *dst = (uint32_t *)(c->to + (c->from_full ? at_win : at_full));
            const uint32_t *src = (const uint32_t *)(c->from + (c->from_full ? at_full : at_win));
            for (int64_t i = 0; i < words; i++) dst[i] = src[i];
        }
}

static void copy_window(const dc_conv_shape *full, const dc_conv_shape *win, int64_t kh0,
                        int64_t kw0, size_t es, const char *from, char *to, bool from_full)
{
    window_copy c = {full, win, kh0, kw0, es, from, to, from_full};
    const int64_t planes = full->out_channels * (full->in_channels / full->groups);
    const int64_t grain = 1 + (1 << 14) / (full->kernel_h * full->kernel_w);
    dc_parallel_for(planes, grain, copy_window_range, &c);
}

size_t dc_conv_scratch_bytes(const dc_conv_shape *s, bool f64, dc_conv_pass pass)
{
    if (pass != DC_CONV_BACKWARD_DATA && dc_conv_direct_handles(s, f64))
        return dc_conv_direct_scratch_bytes(s, pass);
    const size_t es = f64 ? 8 : 4;
    dc_conv_shape cropped;
    int64_t kh0, kw0;
    const dc_conv_shape *run_shape = crop_kernel(s, &cropped, &kh0, &kw0);
    const conv_plan p = plan_of(run_shape, es);
    const size_t window = run_shape != s ? round_up64((size_t)weight_count(run_shape) * es) : 0;
    return (size_t)p.threads * slot_of(run_shape, es, pass, p).total + window;
}

typedef struct {
    const dc_conv_shape *s;
    bool f64;
    size_t es;
    const char *image_in, *cols_in, *w, *bias; /* what the pass reads */
    char *out;                                 /* what it writes */
    char *db;                                  /* weight pass: bias gradient, or NULL */
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

/* Between channels [c0, c1) of a block of a [N, C, L] tensor and its [C, B*L] staging
 * matrix, optionally adding bias[c] on the way out or summing each channel on the way in:
 *   to_stage ? stage[c][b*L + l] = t[n0+b][c][l], sums[c] += sum_l t[n0+b][c][l]
 *            : t[n0+b][c][l] = stage[c][b*L + l] (+ bias[c])
 * (each row summed by dc_sum_f32/f64 while it is in L1, in double). */
#define DEFINE_RESTAGE(T, SUFFIX)                                                                  \
    static void restage_##SUFFIX(T *t, T *stage, int64_t n0, int64_t nb, int64_t C, int64_t L,     \
                                 const T *bias, bool to_stage, double *sums, int64_t c0,           \
                                 int64_t c1)                                                       \
    {                                                                                              \
        const int64_t ld = nb * L;                                                                 \
        for (int64_t b = 0; b < nb; b++)                                                           \
            for (int64_t c = c0; c < c1; c++) {                                                    \
                T *tp = t + ((n0 + b) * C + c) * L, *sp = stage + c * ld + b * L;                  \
                if (to_stage) { /* rows are short (L = 1..256): a loop beats a memcpy call */    \
                    for (int64_t l = 0; l < L; l++) sp[l] = tp[l];                                 \
                    if (sums) sums[c] += dc_sum_##SUFFIX(sp, L);                                   \
                } else {                                                                           \
                    const T add = bias ? bias[c] : 0;                                              \
                    for (int64_t l = 0; l < L; l++) tp[l] = sp[l] + add;                           \
                }                                                                                  \
            }                                                                                      \
    }
DEFINE_RESTAGE(float, f32)
DEFINE_RESTAGE(double, f64)

/* x[n0 + b][c] = bias[c] (or 0) for channels [c0, c1): what col2im then adds onto */
#define DEFINE_FILL_PLANES(T, SUFFIX)                                                              \
    static void fill_planes_##SUFFIX(T *x, int64_t nb, int64_t C, int64_t HW, const T *bias,       \
                                     int64_t c0, int64_t c1)                                       \
    {                                                                                              \
        for (int64_t b = 0; b < nb; b++)                                                           \
            for (int64_t c = c0; c < c1; c++) {                                                    \
                T *d = x + (b * C + c) * HW, v = bias ? bias[c] : 0;                               \
                for (int64_t i = 0; i < HW; i++) d[i] = v;                                         \
            }                                                                                      \
    }
DEFINE_FILL_PLANES(float, f32)
DEFINE_FILL_PLANES(double, f64)

/* The non-GEMM steps of a block, each over a range of channels. */
typedef enum {
    STEP_IM2COL,     /* cols = im2col(image_in block)                   (input channels) */
    STEP_COL2IM,     /* out block = bias, then += col2im(cols)          (input channels) */
    STEP_TO_STAGE,   /* stage = cols_in block                           (output channels) */
    STEP_FROM_STAGE, /* out block = stage + bias                        (output channels) */
} block_step;

typedef struct {
    const conv_job *j;
    block_step step;
    int64_t n0, nb;
    char *cols, *stage;
    double *sums;         /* STEP_TO_STAGE of the weight pass with a bias gradient, else NULL */
    const int64_t *table; /* NULL: the row-by-row im2col */
} step_job;

#define DEFINE_STEP_RANGE(T, SUFFIX)                                                               \
    static void step_range_##SUFFIX(void *ctx, int64_t c0, int64_t c1, int tid)                    \
    {                                                                                              \
        (void)tid;                                                                                 \
        const step_job *t = ctx;                                                                   \
        const conv_job *j = t->j;                                                                  \
        const dc_conv_shape *s = j->s;                                                             \
        const int64_t HW = s->in_h * s->in_w, L = s->out_h * s->out_w;                             \
        const int64_t image_off = t->n0 * s->in_channels * HW;                                     \
        T *cols = (T *)t->cols, *stage = (T *)t->stage;                                            \
        switch (t->step) {                                                                         \
        case STEP_IM2COL: {                                                                        \
            const T *x = (const T *)j->image_in + image_off;                                       \
            if (t->table) im2col_table_##SUFFIX(s, t->table, x, t->nb, cols, c0, c1);              \
            else if (reads_no_padding(s)) im2col_valid_##SUFFIX(s, x, t->nb, cols, c0, c1);        \
            else im2col_channels_##SUFFIX(s, x, t->nb, cols, c0, c1);                              \
            break;                                                                                 \
        }                                                                                          \
        case STEP_COL2IM: {                                                                        \
            T *x = (T *)j->out + image_off;                                                        \
            fill_planes_##SUFFIX(x, t->nb, s->in_channels, HW, (const T *)j->bias, c0, c1);        \
            if (t->table) col2im_table_##SUFFIX(s, t->table, cols, t->nb, x, c0, c1);              \
            else if (reads_no_padding(s)) col2im_valid_##SUFFIX(s, cols, t->nb, x, c0, c1);        \
            else col2im_channels_##SUFFIX(s, cols, t->nb, x, c0, c1);                              \
            break;                                                                                 \
        }                                                                                          \
        case STEP_TO_STAGE:                                                                        \
            restage_##SUFFIX((T *)j->cols_in, stage, t->n0, t->nb, s->out_channels, L, NULL, true, \
                             t->sums, c0, c1);                                                     \
            break;                                                                                 \
        case STEP_FROM_STAGE:                                                                      \
            restage_##SUFFIX((T *)j->out, stage, t->n0, t->nb, s->out_channels, L,                 \
                             (const T *)j->bias, false, NULL, c0, c1);                             \
            break;                                                                                 \
        }                                                                                          \
    }
DEFINE_STEP_RANGE(float, f32)
DEFINE_STEP_RANGE(double, f64)

/* A slot's regions after the columns and the staging matrix (see slot_layout). */
static char *slot_dw(const conv_job *j, char *slot) { return slot + j->slot.cols + j->slot.stage; }
static double *slot_sums(const conv_job *j, char *slot)
{
    return (double *)(slot_dw(j, slot) + j->slot.dw);
}

/* One step over all its channels: threaded when the plan shares blocks (a call from inside
 * a per-thread block runs inline), in chunks of at least ~16k elements. */
static void run_step(const conv_job *j, block_step step, int64_t n0, int64_t nb, char *slot)
{
    const dc_conv_shape *s = j->s;
    const bool input_side = step == STEP_IM2COL || step == STEP_COL2IM;
    const int64_t channels = input_side ? s->in_channels : s->out_channels;
    const int64_t per_channel =
        nb * (input_side ? s->kernel_h * s->kernel_w * s->out_h * s->out_w : s->out_h * s->out_w);
    int64_t *table = NULL;
    if (input_side && j->slot.table) {
        table = (int64_t *)(slot + j->slot.total - j->slot.table);
        build_table(s, nb, table);
    }
    double *sums = step == STEP_TO_STAGE && j->db ? slot_sums(j, slot) : NULL;
    step_job t = {j, step, n0, nb, slot, slot + j->slot.cols, sums, table};
    dc_parallel_for(channels, 1 + (1 << 14) / (per_channel > 0 ? per_channel : 1),
                    j->f64 ? step_range_f64 : step_range_f32, &t);
}

/* Sizes shared by the passes: per group, W_g is [Cout_g, Kg] and columns are [Kg, ld]. */
#define GROUP_SIZES(s, nb)                                                                         \
    const int64_t G = (s)->groups, Cout_g = (s)->out_channels / G;                                 \
    const int64_t Kg = (s)->in_channels / G * (s)->kernel_h * (s)->kernel_w;                       \
    const int64_t ld = (nb) * (s)->out_h * (s)->out_w;                                             \
    (void)Cout_g, (void)Kg, (void)ld

/* Y_g = W_g @ cols_g, then y_n = Y[:, n's columns] + bias */
static void forward_block(const conv_job *j, int64_t n0, int64_t nb, char *slot)
{
    GROUP_SIZES(j->s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    run_step(j, STEP_IM2COL, n0, nb, slot);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Cout_g, ld, Kg, j->w + (size_t)(g * Cout_g * Kg) * j->es, Kg, 1,
             cols + (size_t)(g * Kg * ld) * j->es, ld, 1, 0.0,
             stage + (size_t)(g * Cout_g * ld) * j->es, ld, 1);
    run_step(j, STEP_FROM_STAGE, n0, nb, slot);
}

/* x_n = col2im(W_g^T @ Y_g) (+ bias): the adjoint of forward_block */
static void backward_data_block(const conv_job *j, int64_t n0, int64_t nb, char *slot)
{
    GROUP_SIZES(j->s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    run_step(j, STEP_TO_STAGE, n0, nb, slot);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Kg, ld, Cout_g, j->w + (size_t)(g * Cout_g * Kg) * j->es, 1, Kg,
             stage + (size_t)(g * Cout_g * ld) * j->es, ld, 1, 0.0,
             cols + (size_t)(g * Kg * ld) * j->es, ld, 1);
    run_step(j, STEP_COL2IM, n0, nb, slot);
}

/* dW_g (+)= Y_g @ cols_g^T into dw: the slot's partial when threads go over images (zeroed
 * first, so always +=), else the result itself (= for the first block, then +=). */
static void backward_weight_block(const conv_job *j, int64_t n0, int64_t nb, char *slot, char *dw)
{
    const double beta = j->slot.dw || n0 > 0 ? 1.0 : 0.0;
    GROUP_SIZES(j->s, nb);
    char *cols = slot, *stage = slot + j->slot.cols;
    run_step(j, STEP_TO_STAGE, n0, nb, slot);
    run_step(j, STEP_IM2COL, n0, nb, slot);
    for (int64_t g = 0; g < G; g++)
        gemm(j, Cout_g, Kg, ld, stage + (size_t)(g * Cout_g * ld) * j->es, ld, 1,
             cols + (size_t)(g * Kg * ld) * j->es, 1, ld, beta,
             dw + (size_t)(g * Cout_g * Kg) * j->es, Kg, 1);
}

/* Images [n0, n1) in blocks, in one slot. */
static void run_blocks(const conv_job *j, int64_t n0, int64_t n1, char *slot)
{
    for (; n0 < n1; n0 += j->plan.block) {
        const int64_t nb = n1 - n0 < j->plan.block ? n1 - n0 : j->plan.block;
        switch (j->pass) {
        case DC_CONV_FORWARD: forward_block(j, n0, nb, slot); break;
        case DC_CONV_BACKWARD_DATA: backward_data_block(j, n0, nb, slot); break;
        case DC_CONV_BACKWARD_WEIGHT:
            backward_weight_block(j, n0, nb, slot, j->slot.dw ? slot_dw(j, slot) : j->out);
            break;
        }
    }
}

/* Slots [begin, end), each its share of the images in its own blocks (serial GEMMs: nested
 * pool calls run inline). Whole shares, not blocks, are dealt out, so the threads' image
 * counts differ by at most one whatever the block size. */
static void slot_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const conv_job *j = ctx;
    char *slot = j->scratch + (size_t)tid * j->slot.total;
    for (int64_t t = begin; t < end; t++) {
        const int64_t n0 = t * j->plan.per_slot, n1 = n0 + j->plan.per_slot;
        run_blocks(j, n0 < j->s->batch ? n0 : j->s->batch, n1 < j->s->batch ? n1 : j->s->batch,
                   slot);
    }
}

/* dW = the sum of the slots' partials (when threads went over images), db = the sum of
 * the slots' channel sums */
#define DEFINE_SUM_PARTIALS(T, SUFFIX)                                                             \
    static void sum_partials_##SUFFIX(const conv_job *j)                                           \
    {                                                                                              \
        const int64_t n = weight_count(j->s), C = j->s->out_channels;                              \
        T *dw = (T *)j->out, *db = (T *)j->db;                                                     \
        for (int t = 0; t < j->plan.threads && j->slot.dw; t++) {                                  \
            const T *part = (const T *)slot_dw(j, j->scratch + (size_t)t * j->slot.total);         \
            for (int64_t i = 0; i < n; i++) dw[i] = t ? dw[i] + part[i] : part[i];                 \
        }                                                                                          \
        for (int64_t c = 0; c < C && db; c++) {                                                    \
            double sum = 0;                                                                        \
            for (int t = 0; t < j->plan.threads; t++)                                              \
                sum += slot_sums(j, j->scratch + (size_t)t * j->slot.total)[c];                    \
            db[c] = (T)sum;                                                                        \
        }                                                                                          \
    }
DEFINE_SUM_PARTIALS(float, f32)
DEFINE_SUM_PARTIALS(double, f64)

static void run(conv_job *j)
{
    const dc_conv_shape *full = j->s;
    dc_conv_shape cropped;
    int64_t kh0, kw0;
    const dc_conv_shape *s = j->s = crop_kernel(full, &cropped, &kh0, &kw0);
    j->es = j->f64 ? 8 : 4;
    j->plan = plan_of(s, j->es);
    j->slot = slot_of(s, j->es, j->pass, j->plan);
    char *window = j->scratch + (size_t)j->plan.threads * j->slot.total, *full_dw = j->out;
    if (s != full) { /* run on the cropped weight (see crop_kernel) */
        if (j->pass == DC_CONV_BACKWARD_WEIGHT) j->out = window;
        else copy_window(full, s, kh0, kw0, j->es, j->w, window, true), j->w = window;
    }
    const size_t dw_bytes = (size_t)weight_count(s) * j->es;
    if (j->pass == DC_CONV_BACKWARD_WEIGHT) { /* see backward_weight_block */
        /* partials and sums of threads that get no block must read as 0 too */
        for (int t = 0; t < j->plan.threads; t++)
            memset(slot_dw(j, j->scratch + (size_t)t * j->slot.total), 0,
                   j->slot.dw + j->slot.sums);
        if (!j->slot.dw && s->batch == 0) memset(j->out, 0, dw_bytes); /* no block runs */
    }
    if (j->plan.threads == 1) run_blocks(j, 0, s->batch, j->scratch);
    else dc_parallel_for(j->plan.threads, 1, slot_range, j);
    if (j->pass == DC_CONV_BACKWARD_WEIGHT) {
        if (j->f64) sum_partials_f64(j);
        else sum_partials_f32(j);
    }
    if (s != full && j->pass == DC_CONV_BACKWARD_WEIGHT)
        copy_window(full, s, kh0, kw0, j->es, window, full_dw, false);
}

void dc_conv_forward(const dc_conv_shape *s, bool f64, const void *x, const void *w,
                     const void *bias, void *y, void *scratch)
{
    if (dc_conv_direct_handles(s, f64)) { /* single-input-channel layers: conv_direct.h */
        dc_conv_direct_forward(s, x, w, bias, y, scratch);
        return;
    }
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
                             void *dw, void *db, void *scratch)
{
    if (dc_conv_direct_handles(s, f64)) {
        dc_conv_direct_backward_weight(s, x, y, dw, db, scratch);
        return;
    }
    conv_job j = {.s = s,
                  .f64 = f64,
                  .image_in = x,
                  .cols_in = y,
                  .out = dw,
                  .db = db,
                  .scratch = scratch,
                  .pass = DC_CONV_BACKWARD_WEIGHT};
    run(&j);
}
