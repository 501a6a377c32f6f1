/* Private to src/kernels/gemm*.c: what an ISA file provides to the portable GEMM driver.
 *
 * The driver (gemm.c) does the BLIS/GotoBLAS loop nest: cache blocking over NC/KC/MC,
 * packing A into MR-row micro-panels and B into NR-column micro-panels, and threading. An
 * ISA file only supplies the register-blocked micro-kernel and the block sizes that suit it.
 *
 * Packed layouts (both zero-padded up to a whole micro-panel, so kernels never see edges):
 *   A micro-panel: k-major, MR values per k:  a[p*MR + i] = alpha-free A(i, p)
 *   B micro-panel: k-major, NR values per k:  b[p*NR + j] = B(p, j)
 * Both are 64-byte aligned (aligned vector loads are allowed). */
#ifndef DC_GEMM_INTERNAL_H
#define DC_GEMM_INTERNAL_H

#include <stdint.h>

/* C[0:MR, 0:NR] = alpha * (A panel @ B panel) + beta * C, C row-major with row stride rsc
 * and unit column stride. beta == 0: C is not read. k >= 1. */
typedef void (*dc_sgemm_microkernel_fn)(int64_t k, const float *a_panel, const float *b_panel,
                                        float *c, int64_t rsc, float alpha, float beta);

/* Pack one micro-panel of `width` (= MR or NR) lines and kc steps of k, of which the first
 * `lines` (1..width) are real and the rest are zero padding (the last panel of an operand):
 *   copy:      dst[p*width + l] = src[p*ld + l]   (at each k the lines are contiguous)
 *   transpose: dst[p*width + l] = src[l*ld + p]   (each line is contiguous along k)
 * for l < lines, 0 for lines <= l < width. Only the real lines are read. Either may store
 * up to DC_SGEMM_PACK_SLACK floats past the panel, see the x86 packing below. */
typedef void (*dc_sgemm_pack_fn)(int64_t kc, int width, int lines, const float *src, int64_t ld,
                                 float *dst);

typedef struct {
    const char *name;
    int mr, nr;          /* micro-tile; mr * nr <= DC_SGEMM_MAX_TILE */
    int64_t kc, mc, nc;  /* cache blocks: mc a multiple of mr, nc a multiple of nr */
    dc_sgemm_microkernel_fn kernel;
    dc_sgemm_pack_fn pack_copy, pack_transpose;
} dc_sgemm_config;

#define DC_SGEMM_MAX_TILE (32 * 64)
#define DC_SGEMM_PACK_SLACK 16

/* Each returns NULL when its file was compiled without the ISA flags it needs (so a
 * misconfigured build falls back to a slower path instead of failing to link). The caller
 * must only use the result when dc_isa_detect() says the CPU can run it. */
const dc_sgemm_config *dc_sgemm_config_avx2(void);
const dc_sgemm_config *dc_sgemm_config_avx512(void);

/* The configuration dc_sgemm uses for the active ISA (for tests and benchmarks), and a
 * tuning hook: overrides the block sizes of the active ISA's config (0 keeps a value). */
const dc_sgemm_config *dc_sgemm_active_config(void);
void dc_sgemm_tune_blocks(int64_t kc, int64_t mc, int64_t nc);

/* ---- vectorised packing for the x86 ISA files ------------------------------------------ */
#if defined(DC_GEMM_X86_PACKING)
/* Vectorised packing of full GEMM micro-panels, shared by gemm_avx2.c and gemm_avx512.c.
 * Compiled only where DC_GEMM_X86_PACKING is defined before including this header, which
 * only files built with at least -mavx2 may do (it uses 256-bit intrinsics).
 *
 * Why: with scalar packing, re-laying out A and B took 15-30% of a GEMM's time (worst for
 * x @ W^T, whose B must be transposed while packing). Here a transpose is done 8 x 8 in
 * registers and a straight copy uses whole vectors.
 *
 * Stores may run up to 7 floats past the end of the panel: every store goes to a higher
 * address than the previous one's start, so any spill lands where the next store (or the
 * next panel) writes later. The driver allocates DC_SGEMM_PACK_SLACK floats of slack for the
 * last panel. Loads never read outside the matrix. */

#include <immintrin.h>
#include <stdbool.h>

/* Lanes [0, count) set, for _mm256_maskload_ps (masked-off lanes do not fault). */
static inline __m256i lane_mask_8(int count)
{
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), lane);
}

/* dst[p*width + l] = src[p*ld + l] (0 past `lines`): each k step is up to `width`
 * contiguous floats, moved 8 at a time; groups past the real lines load masked (zeros). */
static void pack_panel_copy_x86(int64_t kc, int width, int lines, const float *src, int64_t ld,
                                float *dst)
{
    enum { MAX_GROUPS = 8 }; /* width <= 64 */
    const int ngroups = (width + 7) / 8;
    __m256i mask[MAX_GROUPS];
    bool full[MAX_GROUPS];
    for (int g = 0; g < ngroups; g++) {
        const int real = lines - 8 * g;
        full[g] = real >= 8;
        mask[g] = lane_mask_8(real < 0 ? 0 : real);
    }
    for (int64_t p = 0; p < kc; p++) {
        const float *row = src + p * ld;
        float *out = dst + p * width;
        /* a last partial group spills up to 7 floats into the next k step's slot, which
         * that step overwrites */
        for (int g = 0; g < ngroups; g++)
            _mm256_storeu_ps(out + 8 * g, full[g] ? _mm256_loadu_ps(row + 8 * g)
                                                  : _mm256_maskload_ps(row + 8 * g, mask[g]));
    }
}

/* In-register transpose of 8 rows of 8 floats. */
static inline void transpose_8x8(__m256 r[8])
{
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[p*width + l] = src[l*ld + p] (0 past `lines`): each line is contiguous in k (rows
 * of a row-major A, columns of a transposed B). Groups of 8 lines x 8 k steps are
 * transposed in registers; the last (maybe partial) group goes first so that the full
 * groups' stores overwrite its spill. */
static void pack_panel_transpose_x86(int64_t kc, int width, int lines, const float *src,
                                     int64_t ld, float *dst)
{
    const int64_t kc8 = kc / 8 * 8;
    const int ngroups = (width + 7) / 8;
    for (int64_t p = 0; p < kc8; p += 8) {
        for (int gi = 0; gi < ngroups; gi++) {
            int g = (gi + ngroups - 1) % ngroups; /* last (maybe partial) group first */
            int l0 = g * 8, real = lines - l0 < 8 ? lines - l0 : 8;
            __m256 r[8];
            for (int l = 0; l < 8; l++)
                r[l] = l < real ? _mm256_loadu_ps(src + (l0 + l) * ld + p) : _mm256_setzero_ps();
            transpose_8x8(r);
            for (int q = 0; q < 8; q++)
                _mm256_storeu_ps(dst + (p + q) * width + l0, r[q]);
        }
    }
    for (int64_t p = kc8; p < kc; p++) /* k tail: scalar, overwrites the last spill */
        for (int l = 0; l < width; l++)
            dst[p * width + l] = l < lines ? src[l * ld + p] : 0.0f;
}

#endif /* DC_GEMM_X86_PACKING */

#endif
