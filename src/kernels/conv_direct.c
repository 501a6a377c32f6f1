/* Direct convolution for single-input-channel layers (see conv_direct.h): the portable
 * kernels, the run-time choice of an ISA's kernels, and the driver every ISA shares
 * (shifted strip copies, weight packing, threading over images, the weight partials).
 *
 * Compile flags: plain (e.g. -O2 -std=c11); the AVX2 / AVX-512 kernels live in
 * conv_direct_avx2.c / conv_direct_avx512.c with their own flags. */
#include "conv_direct.h"
#include "kernels.h"

#include <stdatomic.h>
#include <string.h>

/* ---- Portable kernels: conv_direct_kernel.h on vectors of 4 floats ---------------------- */

/* GNU C vectors (gcc, clang) become the target's baseline SIMD (SSE2 on x86-64, NEON on
 * arm64). Any other compiler gets structs of 4 floats: correct, not fast (gcc turns the
 * structs of the forward block into scalar shuffles: 30x slower than the vectors). */
#if defined(__GNUC__)
typedef float pvec __attribute__((vector_size(16)));
static inline pvec pv_set1(float a) { return (pvec){a, a, a, a}; }
static inline pvec pv_loadu(const float *p)
{
    pvec r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void pv_storeu(float *p, pvec a) { memcpy(p, &a, sizeof a); }
static inline pvec pv_add(pvec a, pvec b) { return a + b; }
static inline pvec pv_fma(pvec a, pvec b, pvec c) { return c + a * b; }
static inline pvec pv_maskz_loadu(const float *p, int n)
{
    float lanes[4] = {0, 0, 0, 0};
    memcpy(lanes, p, (size_t)n * sizeof(float));
    return pv_loadu(lanes);
}
static inline void pv_mask_storeu(float *p, pvec a, int n)
{
    memcpy(p, &a, (size_t)n * sizeof(float));
}
#else
typedef struct {
    float v[4];
} pvec;

static inline pvec pv_set1(float a)
{
    pvec r;
    for (int i = 0; i < 4; i++) r.v[i] = a;
    return r;
}
static inline pvec pv_loadu(const float *p)
{
    pvec r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void pv_storeu(float *p, pvec a) { memcpy(p, a.v, sizeof a.v); }
static inline pvec pv_add(pvec a, pvec b)
{
    for (int i = 0; i < 4; i++) a.v[i] += b.v[i];
    return a;
}
static inline pvec pv_fma(pvec a, pvec b, pvec c)
{
    for (int i = 0; i < 4; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
}
static inline pvec pv_maskz_loadu(const float *p, int n)
{
    pvec r = pv_set1(0.0f);
    memcpy(r.v, p, (size_t)n * sizeof(float));
    return r;
}
static inline void pv_mask_storeu(float *p, pvec a, int n)
{
    memcpy(p, a.v, (size_t)n * sizeof(float));
}
#endif

#define KSUFFIX portable
#define VW 4
#define VEC pvec
#define V_ZERO() pv_set1(0.0f)
#define V_SET1(x) pv_set1(x)
#define V_LOADU(p) pv_loadu(p)
#define V_STOREU(p, v) pv_storeu(p, v)
#define V_ADD(a, b) pv_add(a, b)
#define V_FMA(a, b, c) pv_fma(a, b, c)
#define V_MASKZ_LOADU(p, n) pv_maskz_loadu(p, n)
#define V_MASK_STOREU(p, v, n) pv_mask_storeu(p, v, n)
#define V_STORE_LANES(out, v) pv_storeu(out, v)
#define FWD_CB 4
#define FWD_NV 2
#define WGT_CB 2
#define WGT_TB 5
#include "conv_direct_kernel.h"

static const dc_conv_direct_kernels portable_kernels = {
    .name = "portable",
    .vw = VW,
    .fwd_cb = FWD_CB,
    .wgt_cb = WGT_CB,
    .wgt_tb = WGT_TB,
    .fwd = fwd_portable,
    .wgt = wgt_portable,
    .sum = sum_portable,
};

/* The kernels for dc_isa_active(); an ISA file built without its flags falls back to the
 * next slower one. */
static const dc_conv_direct_kernels *active_kernels(void)
{
    const dc_isa isa = dc_isa_active();
    const dc_conv_direct_kernels *k = NULL;
    if (isa >= DC_ISA_AVX512) k = dc_conv_direct_kernels_avx512();
    if (!k && isa >= DC_ISA_AVX2) k = dc_conv_direct_kernels_avx2();
    return k ? k : &portable_kernels;
}

const char *dc_conv_direct_kernel_name(void) { return active_kernels()->name; }

static atomic_llong direct_calls;

int64_t dc_conv_direct_calls(void) { return (int64_t)atomic_load(&direct_calls); }

/* ---- Shapes, strips, scratch ------------------------------------------------------------- */

/* One thread's shifted copies hold about this many floats (128 KB: in L2, and for LeNet's
 * 28x28 images the whole image is one 13 KB strip in L1). */
#define STRIP_FLOATS (32 * 1024)
/* A strip of a single output row may not need more than this (1M floats = 4 MB): wider
 * images take the im2col path. */
#define MAX_ROW_FLOATS (1024 * 1024)
/* Below this many multiply-adds per chunk, waking the pool costs more than it saves. */
#define PARALLEL_MIN_WORK (1 << 18)

bool dc_conv_direct_handles(const dc_conv_shape *s, bool f64)
{
    return !f64 && s->in_channels == 1 && s->groups == 1 && s->stride_h == 1 && s->stride_w == 1 &&
           s->dil_h == 1 && s->dil_w == 1 && s->kernel_h >= 1 &&
           s->kernel_h <= DC_CONV_DIRECT_MAX_K && s->kernel_w >= 1 &&
           s->kernel_w <= DC_CONV_DIRECT_MAX_K && s->out_channels >= 1 && s->out_h >= 1 &&
           s->out_w >= 1 && s->batch >= 0 && s->kernel_w * s->kernel_h * s->out_w <= MAX_ROW_FLOATS;
}

static size_t round_up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* The threads' slots start on pages of their own. With slots back to back, the thread with
 * the second slot ran LeNet's conv1 forward 35% slower than the first (swapping the slots
 * swapped which thread was slow; a gap of 2.5 KB or more between them removed it): likely
 * a hardware prefetcher running past the end of one thread's strip into the next slot, so
 * those lines bounce between the cores every image. Prefetchers stay within a 4 KB page. */
#define PAGE 4096
static size_t round_up_page(size_t n) { return (n + PAGE - 1) & ~(size_t)(PAGE - 1); }

/* How a call is cut: images into strips of `rows` output rows (the last may have fewer),
 * each strip's KW shifted planes `plane` floats apart in a thread's strip buffer; and what a
 * thread's slot and the shared region (forward: the packed weights) hold. */
typedef struct {
    int64_t rows, nstrips, plane, taps;
    size_t strip_bytes, part_bytes, db_bytes, slot_bytes;
    size_t wp_bytes, shared_bytes; /* forward: packed weights, then the packed bias */
    int threads;
} geometry;

static geometry geometry_of(const dc_conv_shape *s, dc_conv_pass pass)
{
    geometry g;
    const int64_t KH = s->kernel_h, KW = s->kernel_w, OH = s->out_h, OW = s->out_w;
    int64_t max_rows = STRIP_FLOATS / (KW * OW) - (KH - 1);
    if (max_rows < 1) max_rows = 1;
    g.nstrips = (OH + max_rows - 1) / max_rows;
    g.rows = (OH + g.nstrips - 1) / g.nstrips;
    /* planes 64-byte aligned; loads run up to DC_CONV_DIRECT_SLACK floats past a plane */
    g.plane = ((g.rows + KH - 1) * OW + DC_CONV_DIRECT_SLACK + 15) & ~(int64_t)15;
    g.taps = KH * KW;
    g.strip_bytes = round_up64((size_t)(KW * g.plane) * sizeof(float));
    const bool weight = pass == DC_CONV_BACKWARD_WEIGHT;
    g.part_bytes =
        weight
            ? round_up64((size_t)(s->out_channels * g.taps * DC_CONV_DIRECT_MAX_VW) * sizeof(float))
            : 0;
    g.db_bytes = weight ? round_up64((size_t)s->out_channels * sizeof(double)) : 0;
    g.slot_bytes = round_up_page(g.strip_bytes + g.part_bytes + g.db_bytes);
    const size_t padded_channels = (size_t)(s->out_channels + DC_CONV_DIRECT_MAX_CB);
    g.wp_bytes = weight ? 0 : round_up64(padded_channels * (size_t)g.taps * sizeof(float));
    g.shared_bytes = weight ? 0 : g.wp_bytes + round_up64(padded_channels * sizeof(float));
    g.threads = dc_get_num_threads();
    return g;
}

size_t dc_conv_direct_scratch_bytes(const dc_conv_shape *s, dc_conv_pass pass)
{
    const geometry g = geometry_of(s, pass);
    return g.shared_bytes + PAGE + (size_t)g.threads * g.slot_bytes; /* + aligning the slots */
}

/* The shifted planes of output rows [r0, r0 + rows) of image x (see conv_direct.h):
 *   xs[kw*plane + i*OW + ow] = x[r0 - pad_h + i][ow - pad_w + kw]   (0 outside the image)
 * for i < rows + KH - 1, and zeros after the last row up to the plane's end (the kernels'
 * loads past the strip read finite values: 0 * slack adds nothing to a weight sum). */
static void build_strip(const dc_conv_shape *s, const geometry *g, const float *x, int64_t r0,
                        int64_t rows, float *xs)
{
    const int64_t H = s->in_h, W = s->in_w, OW = s->out_w;
    const int64_t rows_in = rows + s->kernel_h - 1;
    for (int64_t kw = 0; kw < s->kernel_w; kw++) {
        float *plane = xs + kw * g->plane;
        const int64_t off = kw - s->pad_w; /* input column of output column 0 */
        int64_t lo = -off, hi = W - off;   /* output columns reading inside the image */
        lo = lo < 0 ? 0 : (lo > OW ? OW : lo);
        hi = hi < lo ? lo : (hi > OW ? OW : hi);
        for (int64_t i = 0; i < rows_in; i++) {
            float *row = plane + i * OW;
            const int64_t ih = r0 - s->pad_h + i;
            if (ih < 0 || ih >= H) {
                memset(row, 0, (size_t)OW * sizeof(float));
                continue;
            }
            const float *src = x + ih * W;
            for (int64_t ow = 0; ow < lo; ow++) row[ow] = 0;
            memcpy(row + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
            for (int64_t ow = hi; ow < OW; ow++) row[ow] = 0;
        }
        memset(plane + rows_in * OW, 0, (size_t)(g->plane - rows_in * OW) * sizeof(float));
    }
}

typedef struct {
    const dc_conv_shape *s;
    const dc_conv_direct_kernels *k;
    geometry g;
    const float *x, *grad; /* the images; the weight pass's gradient g */
    float *y;              /* forward: the output */
    const float *wp, *bp;  /* forward: weights and bias packed per channel block */
    bool db;               /* weight pass: sum the bias gradient */
    char *slots;           /* the threads' slots, slot_bytes each, page-aligned */
    int64_t tap_off[DC_CONV_DIRECT_MAX_K * DC_CONV_DIRECT_MAX_K]; /* kw*plane + kh*OW */
} direct_job;

static void init_job(direct_job *j, const dc_conv_shape *s, dc_conv_pass pass, void *scratch)
{
    j->s = s;
    j->k = active_kernels();
    j->g = geometry_of(s, pass);
    const uintptr_t after_shared = (uintptr_t)scratch + j->g.shared_bytes;
    j->slots = (char *)scratch + (round_up_page(after_shared) - (uintptr_t)scratch);
    for (int64_t kh = 0; kh < s->kernel_h; kh++)
        for (int64_t kw = 0; kw < s->kernel_w; kw++)
            j->tap_off[kh * s->kernel_w + kw] = kw * j->g.plane + kh * s->out_w;
}

static int64_t image_grain(const dc_conv_shape *s)
{
    const int64_t work = s->out_channels * s->kernel_h * s->kernel_w * s->out_h * s->out_w;
    return 1 + PARALLEL_MIN_WORK / (work > 0 ? work : 1);
}

/* ---- Forward ----------------------------------------------------------------------------- */

static void forward_range(void *ctx, int64_t n0, int64_t n1, int tid)
{
    const direct_job *j = ctx;
    const dc_conv_shape *s = j->s;
    const int64_t C = s->out_channels, OH = s->out_h, OW = s->out_w, taps = j->g.taps;
    const int cb = j->k->fwd_cb;
    float *xs = (float *)(j->slots + (size_t)tid * j->g.slot_bytes);
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r0 = 0; r0 < OH; r0 += j->g.rows) {
            const int64_t rows = OH - r0 < j->g.rows ? OH - r0 : j->g.rows;
            build_strip(s, &j->g, j->x + n * s->in_h * s->in_w, r0, rows, xs);
            for (int64_t c0 = 0; c0 < C; c0 += cb)
                j->k->fwd(xs, j->tap_off, taps, rows * OW, j->wp + c0 * taps, j->bp + c0,
                          j->y + ((n * C + c0) * OH + r0) * OW, OH * OW,
                          (int)(C - c0 < cb ? C - c0 : cb));
        }
}

void dc_conv_direct_forward(const dc_conv_shape *s, const float *x, const float *w,
                            const float *bias, float *y, void *scratch)
{
    atomic_fetch_add(&direct_calls, 1);
    direct_job j = {0};
    init_job(&j, s, DC_CONV_FORWARD, scratch);
    j.x = x, j.y = y;
    /* wp[c0*taps + t*cb + i] = w[c0 + i][t] per block of cb channels from c0 (zero past the
     * last channel), bp[c0 + i] = bias[c0 + i] (or 0) */
    const int64_t C = s->out_channels, taps = j.g.taps, cb = j.k->fwd_cb;
    const int64_t padded = (C + cb - 1) / cb * cb;
    float *wp = scratch, *bp = (float *)((char *)scratch + j.g.wp_bytes);
    for (int64_t c0 = 0; c0 < padded; c0 += cb)
        for (int64_t t = 0; t < taps; t++)
            for (int64_t i = 0; i < cb; i++)
                wp[c0 * taps + t * cb + i] = c0 + i < C ? w[(c0 + i) * taps + t] : 0;
    for (int64_t c = 0; c < padded; c++) bp[c] = bias && c < C ? bias[c] : 0;
    j.wp = wp, j.bp = bp;
    dc_parallel_for(s->batch, image_grain(s), forward_range, &j);
}

/* ---- Weight pass --------------------------------------------------------------------------- */

static float *slot_part(const direct_job *j, int tid)
{
    return (float *)(j->slots + (size_t)tid * j->g.slot_bytes + j->g.strip_bytes);
}
static double *slot_db(const direct_job *j, int tid)
{
    return (double *)(j->slots + (size_t)tid * j->g.slot_bytes + j->g.strip_bytes +
                      j->g.part_bytes);
}

/* Adds images [n0, n1) into the thread's partials: part[(c*taps + t)*vw + lane] and, when
 * asked, db[c]. Taps go in equal blocks of at most wgt_tb. */
static void weight_range(void *ctx, int64_t n0, int64_t n1, int tid)
{
    const direct_job *j = ctx;
    const dc_conv_shape *s = j->s;
    const int64_t C = s->out_channels, OH = s->out_h, OW = s->out_w, taps = j->g.taps;
    const int cb = j->k->wgt_cb, vw = j->k->vw;
    const int64_t tap_blocks = (taps + j->k->wgt_tb - 1) / j->k->wgt_tb;
    float *xs = (float *)(j->slots + (size_t)tid * j->g.slot_bytes), *part = slot_part(j, tid);
    double *db = slot_db(j, tid);
    for (int64_t n = n0; n < n1; n++)
        for (int64_t r0 = 0; r0 < OH; r0 += j->g.rows) {
            const int64_t rows = OH - r0 < j->g.rows ? OH - r0 : j->g.rows, npos = rows * OW;
            const float *g = j->grad + (n * C * OH + r0) * OW; /* channel c at g + c*OH*OW */
            build_strip(s, &j->g, j->x + n * s->in_h * s->in_w, r0, rows, xs);
            if (j->db)
                for (int64_t c = 0; c < C; c++) db[c] += j->k->sum(g + c * OH * OW, npos);
            for (int64_t c0 = 0; c0 < C; c0 += cb)
                for (int64_t b = 0; b < tap_blocks; b++) {
                    const int64_t t0 = b * taps / tap_blocks, t1 = (b + 1) * taps / tap_blocks;
                    j->k->wgt(xs, j->tap_off + t0, (int)(t1 - t0), npos, g + c0 * OH * OW, OH * OW,
                              (int)(C - c0 < cb ? C - c0 : cb), part + (c0 * taps + t0) * vw,
                              taps * vw);
                }
        }
}

void dc_conv_direct_backward_weight(const dc_conv_shape *s, const float *x, const float *g,
                                    float *dw, float *db, void *scratch)
{
    atomic_fetch_add(&direct_calls, 1);
    direct_job j = {0};
    init_job(&j, s, DC_CONV_BACKWARD_WEIGHT, scratch);
    j.x = x, j.grad = g, j.db = db != NULL;
    /* every slot's partials start at 0: a thread that gets no images still adds its own */
    for (int t = 0; t < j.g.threads; t++)
        memset(slot_part(&j, t), 0, j.g.part_bytes + j.g.db_bytes);
    dc_parallel_for(s->batch, image_grain(s), weight_range, &j);
    const int64_t C = s->out_channels, taps = j.g.taps, vw = j.k->vw;
    for (int64_t i = 0; i < C * taps; i++) {
        double sum = 0;
        for (int t = 0; t < j.g.threads; t++) {
            const float *lanes = slot_part(&j, t) + i * vw;
            for (int64_t l = 0; l < vw; l++) sum += (double)lanes[l];
        }
        dw[i] = (float)sum;
    }
    for (int64_t c = 0; c < C && db; c++) {
        double sum = 0;
        for (int t = 0; t < j.g.threads; t++) sum += slot_db(&j, t)[c];
        db[c] = (float)sum;
    }
}
