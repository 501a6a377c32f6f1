/* GEMM: C = alpha * A @ B + beta * C for float32 (fast, threaded) and float64 (portable).
 *
 * Compile flags: plain (e.g. -O2 -std=c11 -pthread); never -march=native. The ISA-specific
 * micro-kernels live in gemm_avx2.c and gemm_avx512.c (their own flags) and are picked at
 * run time from dc_isa_active().
 *
 * The float32 path is the BLIS/GotoBLAS loop nest (Goto & van de Geijn, "Anatomy of
 * High-Performance Matrix Multiplication", 2008):
 *
 *   for jc in N by NC:                 B block (KC x NC) lives in L3
 *     for pc in K by KC:               pack B(pc, jc) into NR-column micro-panels
 *       for ic in M by MC:             pack A(ic, pc) into MR-row micro-panels (in L2)
 *         for jr in NC by NR:          one B micro-panel (KC x NR) stays in L1
 *           for ir in MC by MR:        micro-kernel: MR x NR tile of C in registers
 *
 * Packing reads A and B through their strides, so transposed operands cost nothing extra,
 * and zero-pads partial panels (in the same vectorised packing as whole ones), so
 * micro-kernels only ever see whole tiles; partial tiles of C (and C with a non-unit
 * column stride) go through a small tile buffer instead.
 * Threads split N (or M, whichever is larger) into contiguous ranges of whole micro-panels;
 * each thread packs into its own buffers, so threads never wait on each other. */
#define _POSIX_C_SOURCE 200809L
#include "gemm_internal.h"
#include "kernels.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Below this many multiply-adds the thread hand-off costs more than it saves. */
#define SGEMM_PARALLEL_MIN_WORK (32 * 1024)
/* Each thread's share should be at least this big (in multiply-adds). */
#define SGEMM_MIN_WORK_PER_THREAD (64 * 1024)

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t round_up(int64_t x, int64_t multiple)
{
    return (x + multiple - 1) / multiple * multiple;
}

/* ---- portable micro-kernel ------------------------------------------------------------ */

/* 4 x 8: on baseline x86-64 (SSE2, 16 xmm registers) gcc -O2 keeps the 4 x 2 vector
 * accumulators plus the B row in registers; on other targets it is plain correct C. */
#define PORTABLE_MR 4
#define PORTABLE_NR 8

static void sgemm_kernel_portable(int64_t k, const float *restrict a, const float *restrict b,
                                  float *restrict c, int64_t rsc, float alpha, float beta)
{
    float acc[PORTABLE_MR][PORTABLE_NR] = {{0}};
    for (int64_t p = 0; p < k; p++) {
#pragma GCC unroll 4
        for (int i = 0; i < PORTABLE_MR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < PORTABLE_NR; j++)
                acc[i][j] += a[i] * b[j];
        a += PORTABLE_MR;
        b += PORTABLE_NR;
    }
    for (int i = 0; i < PORTABLE_MR; i++)
        for (int j = 0; j < PORTABLE_NR; j++)
            c[i * rsc + j] = beta == 0.0f ? alpha * acc[i][j]
                                          : alpha * acc[i][j] + beta * c[i * rsc + j];
}

static void pack_panel_copy_portable(int64_t kc, int width, int lines, const float *src,
                                     int64_t ld, float *restrict dst);
static void pack_panel_transpose_portable(int64_t kc, int width, int lines, const float *src,
                                          int64_t ld, float *restrict dst);

static const dc_sgemm_config portable_config = {
    .name = "portable 4x8",
    .mr = PORTABLE_MR,
    .nr = PORTABLE_NR,
    .kc = 256,
    .mc = 4 * 32,
    .nc = 8 * 256,
    .kernel = sgemm_kernel_portable,
    .pack_copy = pack_panel_copy_portable,
    .pack_transpose = pack_panel_transpose_portable,
};

/* ---- configuration per ISA ------------------------------------------------------------ */

/* Mutable copies so dc_sgemm_tune_blocks() can experiment; filled once. */
static dc_sgemm_config configs[DC_ISA_COUNT];
static pthread_once_t configs_once = PTHREAD_ONCE_INIT;

static void init_configs(void)
{
    const dc_sgemm_config *avx2 = dc_sgemm_config_avx2();
    const dc_sgemm_config *avx512 = dc_sgemm_config_avx512();
    /* A build without an ISA file's flags falls back to the next slower kernel. */
    configs[DC_ISA_PORTABLE] = portable_config;
    configs[DC_ISA_AVX2] = avx2 != NULL ? *avx2 : portable_config;
    configs[DC_ISA_AVX512] = avx512 != NULL ? *avx512 : configs[DC_ISA_AVX2];
}

const dc_sgemm_config *dc_sgemm_active_config(void)
{
    pthread_once(&configs_once, init_configs);
    return &configs[dc_isa_active()];
}

void dc_sgemm_tune_blocks(int64_t kc, int64_t mc, int64_t nc)
{
    pthread_once(&configs_once, init_configs);
    dc_sgemm_config *cfg = &configs[dc_isa_active()];
    if (kc > 0)
        cfg->kc = kc;
    if (mc > 0)
        cfg->mc = round_up(mc, cfg->mr);
    if (nc > 0)
        cfg->nc = round_up(nc, cfg->nr);
}

/* ---- per-thread packing buffers -------------------------------------------------------- */

typedef struct {
    float *packed_a;
    float *packed_b;
    size_t a_capacity, b_capacity; /* in floats */
} gemm_workspace;

static _Thread_local gemm_workspace tls_workspace;
/* Only used for its destructor: frees the buffers of threads outside the pool on exit. */
static pthread_key_t workspace_key;
static pthread_once_t workspace_key_once = PTHREAD_ONCE_INIT;
static int workspace_key_ok;

static void release_workspace(void *ws_ptr)
{
    gemm_workspace *ws = ws_ptr;
    free(ws->packed_a);
    free(ws->packed_b);
    *ws = (gemm_workspace){0};
}

static void create_workspace_key(void)
{
    workspace_key_ok = pthread_key_create(&workspace_key, release_workspace) == 0;
}

void dc_gemm_free_thread_workspace(void)
{
    release_workspace(&tls_workspace);
    pthread_once(&workspace_key_once, create_workspace_key);
    if (workspace_key_ok)
        pthread_setspecific(workspace_key, NULL);
}

/* Grows *buf to hold `count` floats, 64-byte aligned (cache line and zmm width). */
static int reserve_floats(float **buf, size_t *capacity, size_t count)
{
    if (*capacity >= count)
        return 0;
    size_t bytes = round_up((int64_t)(count * sizeof(float)), 64);
    float *grown = aligned_alloc(64, bytes);
    if (grown == NULL)
        return -1;
    free(*buf);
    *buf = grown;
    *capacity = bytes / sizeof(float);
    return 0;
}

static gemm_workspace *thread_workspace(size_t a_floats, size_t b_floats)
{
    gemm_workspace *ws = &tls_workspace;
    if (ws->a_capacity < a_floats || ws->b_capacity < b_floats) {
        if (ws->packed_a == NULL && ws->packed_b == NULL) {
            /* First buffers of this thread: arrange for them to be freed at its exit. */
            pthread_once(&workspace_key_once, create_workspace_key);
            if (workspace_key_ok)
                pthread_setspecific(workspace_key, ws);
        }
        if (reserve_floats(&ws->packed_a, &ws->a_capacity, a_floats) != 0 ||
            reserve_floats(&ws->packed_b, &ws->b_capacity, b_floats) != 0)
            return NULL;
    }
    return ws;
}

/* ---- float32 driver ------------------------------------------------------------------- */

typedef struct {
    int64_t M, N, K;
    float alpha;
    const float *A;
    int64_t rsa, csa;
    const float *B;
    int64_t rsb, csb;
    float beta;
    float *C;
    int64_t rsc, csc;
} sgemm_problem;

/* The unblocked definition: the fallback when no packing memory can be had. */
static void sgemm_unpacked(const sgemm_problem *g)
{
    for (int64_t i = 0; i < g->M; i++)
        for (int64_t j = 0; j < g->N; j++) {
            float sum = 0.0f;
            for (int64_t p = 0; p < g->K; p++)
                sum += g->A[i * g->rsa + p * g->csa] * g->B[p * g->rsb + j * g->csb];
            float *c = &g->C[i * g->rsc + j * g->csc];
            *c = g->beta == 0.0f ? g->alpha * sum : g->alpha * sum + g->beta * *c;
        }
}

static void pack_panel_copy_portable(int64_t kc, int width, int lines, const float *src,
                                     int64_t ld, float *restrict dst)
{
    for (int64_t p = 0; p < kc; p++)
        for (int l = 0; l < width; l++)
            dst[p * width + l] = l < lines ? src[p * ld + l] : 0.0f;
}

static void pack_panel_transpose_portable(int64_t kc, int width, int lines, const float *src,
                                          int64_t ld, float *restrict dst)
{
    for (int l = 0; l < width; l++) /* read each line contiguously; writes stay in L1 */
        for (int64_t p = 0; p < kc; p++)
            dst[p * width + l] = l < lines ? src[l * ld + p] : 0.0f;
}

/* Neither stride is 1 (views such as a strided slice): zero-pads lines [lines, width). */
static void pack_panel_strided(int64_t kc, int width, int lines, const float *src,
                               int64_t line_stride, int64_t k_stride, float *restrict dst)
{
    for (int64_t p = 0; p < kc; p++)
        for (int l = 0; l < width; l++)
            dst[p * width + l] = l < lines ? src[l * line_stride + p * k_stride] : 0.0f;
}

/* A(0:mc, 0:kc) -> ceil(mc/mr) micro-panels of kc x mr, rows past mc zeroed. */
static void pack_a(const dc_sgemm_config *cfg, int64_t mc, int64_t kc, const float *A,
                   int64_t rsa, int64_t csa, float *dst)
{
    const int mr = cfg->mr;
    for (int64_t i0 = 0; i0 < mc; i0 += mr, dst += (int64_t)mr * kc) {
        int rows = (int)min_i64(mr, mc - i0);
        const float *src = A + i0 * rsa;
        if (csa == 1)
            cfg->pack_transpose(kc, mr, rows, src, rsa, dst); /* row-major A */
        else if (rsa == 1)
            cfg->pack_copy(kc, mr, rows, src, csa, dst); /* column-major A (A^T given) */
        else
            pack_panel_strided(kc, mr, rows, src, rsa, csa, dst);
    }
}

/* B(0:kc, 0:nc) -> ceil(nc/nr) micro-panels of kc x nr, columns past nc zeroed. */
static void pack_b(const dc_sgemm_config *cfg, int64_t kc, int64_t nc, const float *B,
                   int64_t rsb, int64_t csb, float *dst)
{
    const int nr = cfg->nr;
    for (int64_t j0 = 0; j0 < nc; j0 += nr, dst += (int64_t)nr * kc) {
        int cols = (int)min_i64(nr, nc - j0);
        const float *src = B + j0 * csb;
        if (csb == 1)
            cfg->pack_copy(kc, nr, cols, src, rsb, dst); /* row-major B */
        else if (rsb == 1)
            cfg->pack_transpose(kc, nr, cols, src, csb, dst); /* B = W^T, as in x @ W^T */
        else
            pack_panel_strided(kc, nr, cols, src, csb, rsb, dst);
    }
}

/* C block (mc x nc) += packed A block @ packed B block, tile by tile. */
static void sgemm_macro_kernel(const dc_sgemm_config *cfg, int64_t mc, int64_t nc, int64_t kc,
                               const float *packed_a, const float *packed_b, float alpha,
                               float beta, float *C, int64_t rsc, int64_t csc)
{
    const int mr = cfg->mr, nr = cfg->nr;
    _Alignas(64) float tile[DC_SGEMM_MAX_TILE];
    for (int64_t jr = 0; jr < nc; jr += nr) {
        int cols = (int)min_i64(nr, nc - jr);
        const float *b_panel = packed_b + jr * kc;
        for (int64_t ir = 0; ir < mc; ir += mr) {
            int rows = (int)min_i64(mr, mc - ir);
            const float *a_panel = packed_a + ir * kc;
            float *c = C + ir * rsc + jr * csc;
            if (rows == mr && cols == nr && csc == 1) {
                cfg->kernel(kc, a_panel, b_panel, c, rsc, alpha, beta);
                continue;
            }
            /* Partial or strided tile: compute into the buffer, merge what is real. */
            cfg->kernel(kc, a_panel, b_panel, tile, nr, 1.0f, 0.0f);
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) {
                    float *cij = c + i * rsc + j * csc;
                    float product = alpha * tile[i * nr + j];
                    *cij = beta == 0.0f ? product : product + beta * *cij;
                }
        }
    }
}

/* The whole loop nest on the calling thread, with its own packing buffers. */
static void sgemm_blocked(const dc_sgemm_config *cfg, const sgemm_problem *g)
{
    /* Equal K blocks: K = 400 as 200 + 200, not 384 + 16, since every K block costs a pass
     * over C. Multiples of 8 keep the packing's vector path busy. */
    const int64_t k_blocks = (g->K + cfg->kc - 1) / cfg->kc;
    const int64_t kc_max = min_i64(round_up((g->K + k_blocks - 1) / k_blocks, 8), g->K);
    const int64_t mc_max = min_i64(cfg->mc, round_up(g->M, cfg->mr));
    const int64_t nc_max = min_i64(cfg->nc, round_up(g->N, cfg->nr));
    gemm_workspace *ws = thread_workspace((size_t)(mc_max * kc_max) + DC_SGEMM_PACK_SLACK,
                                          (size_t)(nc_max * kc_max) + DC_SGEMM_PACK_SLACK);
    if (ws == NULL) {
        sgemm_unpacked(g); /* out of memory: slow but correct, never a crash */
        return;
    }
    for (int64_t jc = 0; jc < g->N; jc += cfg->nc) {
        int64_t nc = min_i64(cfg->nc, g->N - jc);
        for (int64_t pc = 0; pc < g->K; pc += kc_max) {
            int64_t kc = min_i64(kc_max, g->K - pc);
            /* Later K blocks accumulate onto what the first one wrote. */
            float beta = pc == 0 ? g->beta : 1.0f;
            pack_b(cfg, kc, nc, g->B + pc * g->rsb + jc * g->csb, g->rsb, g->csb, ws->packed_b);
            for (int64_t ic = 0; ic < g->M; ic += cfg->mc) {
                int64_t mc = min_i64(cfg->mc, g->M - ic);
                pack_a(cfg, mc, kc, g->A + ic * g->rsa + pc * g->csa, g->rsa, g->csa,
                       ws->packed_a);
                sgemm_macro_kernel(cfg, mc, nc, kc, ws->packed_a, ws->packed_b, g->alpha,
                                   beta, g->C + ic * g->rsc + jc * g->csc, g->rsc, g->csc);
            }
        }
    }
}

typedef struct {
    const dc_sgemm_config *cfg;
    const sgemm_problem *whole;
    int split_n; /* 1: ranges are of NR-column panels, 0: of MR-row panels */
} sgemm_split;

static void sgemm_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid; /* buffers are found through thread-local storage, see thread_workspace */
    const sgemm_split *s = ctx;
    sgemm_problem part = *s->whole;
    if (s->split_n) {
        int64_t n0 = begin * s->cfg->nr, n1 = min_i64(end * s->cfg->nr, part.N);
        part.N = n1 - n0;
        part.B += n0 * part.csb;
        part.C += n0 * part.csc;
    } else {
        int64_t m0 = begin * s->cfg->mr, m1 = min_i64(end * s->cfg->mr, part.M);
        part.M = m1 - m0;
        part.A += m0 * part.rsa;
        part.C += m0 * part.rsc;
    }
    sgemm_blocked(s->cfg, &part);
}

/* ---- one row of C: a matrix-vector product ------------------------------------------- */

/* M == 1 (a single token through a Linear layer, a single query's attention): packing B
 * would copy the whole matrix to use each element once, so B is streamed straight from
 * memory instead, in one of two forms that read it contiguously:
 *   B's rows contiguous (csb == 1):    C[0, :] = sum_p A[p] * B[p, :]  (row axpys)
 *   B's columns contiguous (rsb == 1): C[0, j] = A . B[:, j]          (dot products, e.g.
 *                                                                       x @ W^T)
 * Threads split the columns of C. Dot products run in LANES independent partial sums (one
 * running sum is a dependency chain that does not vectorise). */
enum { GEMV_LANES = 16 };

static bool gemv_applies(const sgemm_problem *g)
{
    return g->M == 1 && ((g->csb == 1 && g->csc == 1) || (g->rsb == 1 && g->csa == 1));
}

static void gemv_range(void *ctx, int64_t j0, int64_t j1, int tid)
{
    (void)tid;
    const sgemm_problem *g = ctx;
    float *c = g->C;
    if (g->csb == 1 && g->csc == 1) {
        for (int64_t j = j0; j < j1; j++) c[j] = g->beta == 0.0f ? 0.0f : g->beta * c[j];
        for (int64_t p = 0; p < g->K; p++) {
            const float a = g->alpha * g->A[p * g->csa];
            const float *b = g->B + p * g->rsb;
            for (int64_t j = j0; j < j1; j++) c[j] += a * b[j];
        }
        return;
    }
    for (int64_t j = j0; j < j1; j++) {
        const float *a = g->A, *b = g->B + j * g->csb;
        float part[GEMV_LANES] = {0};
        int64_t p = 0;
        for (; p + GEMV_LANES <= g->K; p += GEMV_LANES)
            for (int l = 0; l < GEMV_LANES; l++) part[l] += a[p + l] * b[p + l];
        for (; p < g->K; p++) part[0] += a[p] * b[p];
        float sum = 0.0f;
        for (int l = 0; l < GEMV_LANES; l++) sum += part[l];
        float *cj = c + j * g->csc;
        *cj = g->beta == 0.0f ? g->alpha * sum : g->alpha * sum + g->beta * *cj;
    }
}

/* C = beta * C, the whole answer when K == 0 or alpha == 0 (A and B are not read). */
#define DEFINE_SCALE_C(name, T)                                                              \
    static void name(int64_t M, int64_t N, T beta, T *C, int64_t rsc, int64_t csc)           \
    {                                                                                        \
        for (int64_t i = 0; i < M; i++)                                                      \
            for (int64_t j = 0; j < N; j++) {                                                \
                T *c = &C[i * rsc + j * csc];                                                \
                *c = beta == 0 ? (T)0 : beta * *c;                                           \
            }                                                                                \
    }
DEFINE_SCALE_C(scale_c_f32, float)
DEFINE_SCALE_C(scale_c_f64, double)

void dc_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t rsc, int64_t csc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c_f32(M, N, beta, C, rsc, csc);
        return;
    }
    sgemm_problem g;
    if (csc != 1 && rsc == 1) {
        /* Column-major C: compute C^T = B^T @ A^T instead, so tiles store contiguously. */
        g = (sgemm_problem){N, M, K, alpha, B, csb, rsb, A, csa, rsa, beta, C, csc, rsc};
    } else {
        g = (sgemm_problem){M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc};
    }
    double work = (double)M * (double)N * (double)K;
    if (gemv_applies(&g)) {
        const int64_t grain = 1 + SGEMM_MIN_WORK_PER_THREAD / g.K;
        if (work < SGEMM_PARALLEL_MIN_WORK) gemv_range(&g, 0, g.N, 0);
        else dc_parallel_for(g.N, grain, gemv_range, &g);
        return;
    }
    const dc_sgemm_config *cfg = dc_sgemm_active_config();
    if (work < SGEMM_PARALLEL_MIN_WORK || dc_get_num_threads() == 1) {
        sgemm_blocked(cfg, &g);
        return;
    }
    /* Split the larger dimension: each thread re-packs all of the other operand, which
     * costs (threads / split dimension) relative to the multiply itself. */
    sgemm_split split = {cfg, &g, g.N >= g.M};
    int64_t unit = split.split_n ? cfg->nr * g.M * g.K : cfg->mr * g.N * g.K;
    int64_t units = split.split_n ? (g.N + cfg->nr - 1) / cfg->nr : (g.M + cfg->mr - 1) / cfg->mr;
    int64_t grain = (SGEMM_MIN_WORK_PER_THREAD + unit - 1) / unit;
    dc_parallel_for(units, grain, sgemm_range, &split);
}

/* ---- float64: portable and cache-blocked ---------------------------------------------- */

/* The gradient checker's GEMM: correctness first. B is packed block by block into a
 * contiguous row-major buffer so the inner loop is a unit-stride axpy that gcc vectorises. */
#define DGEMM_KC 128
#define DGEMM_NC 512

typedef struct {
    int64_t M, N, K;
    double alpha;
    const double *A;
    int64_t rsa, csa;
    const double *B;
    int64_t rsb, csb;
    double beta;
    double *C;
    int64_t rsc, csc;
} dgemm_problem;

static void dgemm_unpacked_rows(const dgemm_problem *g, int64_t i0, int64_t i1)
{
    for (int64_t i = i0; i < i1; i++)
        for (int64_t j = 0; j < g->N; j++) {
            double sum = 0.0;
            for (int64_t p = 0; p < g->K; p++)
                sum += g->A[i * g->rsa + p * g->csa] * g->B[p * g->rsb + j * g->csb];
            double *c = &g->C[i * g->rsc + j * g->csc];
            *c = g->beta == 0.0 ? g->alpha * sum : g->alpha * sum + g->beta * *c;
        }
}

static void dgemm_rows(void *ctx, int64_t i0, int64_t i1, int tid)
{
    (void)tid;
    const dgemm_problem *g = ctx;
    int64_t kc_max = min_i64(DGEMM_KC, g->K), nc_max = min_i64(DGEMM_NC, g->N);
    double *packed_b = malloc(sizeof(double) * (size_t)(kc_max * nc_max));
    double *row_sum = malloc(sizeof(double) * (size_t)nc_max);
    if (packed_b == NULL || row_sum == NULL) {
        free(packed_b);
        free(row_sum);
        dgemm_unpacked_rows(g, i0, i1); /* out of memory: slow but correct */
        return;
    }
    for (int64_t jc = 0; jc < g->N; jc += DGEMM_NC) {
        int64_t nc = min_i64(DGEMM_NC, g->N - jc);
        for (int64_t pc = 0; pc < g->K; pc += DGEMM_KC) {
            int64_t kc = min_i64(DGEMM_KC, g->K - pc);
            for (int64_t p = 0; p < kc; p++)
                for (int64_t j = 0; j < nc; j++)
                    packed_b[p * nc + j] = g->B[(pc + p) * g->rsb + (jc + j) * g->csb];
            for (int64_t i = i0; i < i1; i++) {
                memset(row_sum, 0, sizeof(double) * (size_t)nc);
                for (int64_t p = 0; p < kc; p++) {
                    double a = g->A[i * g->rsa + (pc + p) * g->csa];
                    const double *b_row = packed_b + p * nc;
                    for (int64_t j = 0; j < nc; j++)
                        row_sum[j] += a * b_row[j];
                }
                double *c_row = g->C + i * g->rsc + jc * g->csc;
                for (int64_t j = 0; j < nc; j++) {
                    double *c = c_row + j * g->csc;
                    double product = g->alpha * row_sum[j];
                    if (pc > 0)
                        *c += product; /* later K blocks accumulate */
                    else
                        *c = g->beta == 0.0 ? product : product + g->beta * *c;
                }
            }
        }
    }
    free(packed_b);
    free(row_sum);
}

void dc_dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
              int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
              int64_t rsc, int64_t csc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0.0) {
        scale_c_f64(M, N, beta, C, rsc, csc);
        return;
    }
    dgemm_problem g = {M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc};
    /* Rows are independent; give each thread at least ~64k multiply-adds. */
    int64_t grain = 1 + 65536 / (N * K);
    dc_parallel_for(M, grain, dgemm_rows, &g);
}
