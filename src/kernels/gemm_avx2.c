/* AVX2 + FMA float32 GEMM micro-kernel.
 *
 * Compile flags: -O2 -mavx2 -mfma   (only this file; e.g. gcc -O2 -std=c11 -mavx2 -mfma
 * -c gemm_avx2.c). The code only runs when dc_isa_active() == DC_ISA_AVX2 (which
 * dc_isa_detect() only allows when the CPU has both AVX2 and FMA).
 *
 * Tile: MR x NR = 6 x 16, i.e. 12 ymm accumulators + 2 ymm for the B row + 1 broadcast of
 * A = 15 of 16 registers. Per k step: 2 loads of B, 6 broadcasts of A, 12 FMAs; 12
 * independent accumulators cover FMA latency (4-5 cycles) x 2 pipes. */
#if defined(__AVX2__) && defined(__FMA__)
#define DC_GEMM_X86_PACKING /* the shared vectorised packing in gemm_internal.h */
#endif
#include "gemm_internal.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define MR 6
#define NV 2 /* ymm vectors per row of the tile */
#define NR (NV * 8)

static void sgemm_kernel_6x16(int64_t k, const float *restrict a, const float *restrict b,
                               float *restrict c, int64_t rsc, float alpha, float beta)
{
    __m256 acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            acc[i][j] = _mm256_setzero_ps();

    /* Warm the C tile while the k loop runs: it is read only at the end. */
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rsc + NR - 1), _MM_HINT_T0); /* row's last line */
    }

#pragma GCC unroll 2
    for (int64_t p = 0; p < k; p++) {
        __m256 brow[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            brow[j] = _mm256_load_ps(b + j * 8);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                acc[i][j] = _mm256_fmadd_ps(ai, brow[j], acc[i][j]);
        }
        a += MR;
        b += NR;
    }

    __m256 valpha = _mm256_set1_ps(alpha);
    if (beta == 0.0f) { /* C is write-only: NaNs already there must not leak through */
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                _mm256_storeu_ps(c + i * rsc + j * 8, _mm256_mul_ps(valpha, acc[i][j]));
    } else {
        __m256 vbeta = _mm256_set1_ps(beta);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) {
                float *cij = c + i * rsc + j * 8;
                __m256 scaled_c = _mm256_mul_ps(vbeta, _mm256_loadu_ps(cij));
                _mm256_storeu_ps(cij, _mm256_fmadd_ps(valpha, acc[i][j], scaled_c));
            }
    }
}

static const dc_sgemm_config avx2_config = {
    .name = "avx2 6x16",
    .mr = MR,
    .nr = NR,
    .kc = 256,
    .mc = 6 * 24,
    .nc = 16 * 128,
    .pack_copy = pack_panel_copy_x86,
    .pack_transpose = pack_panel_transpose_x86,
    .kernel = sgemm_kernel_6x16,
};

const dc_sgemm_config *dc_sgemm_config_avx2(void) { return &avx2_config; }

#else /* built without -mavx2 -mfma: report "not available" instead of failing */

const dc_sgemm_config *dc_sgemm_config_avx2(void) { return 0; }

#endif
