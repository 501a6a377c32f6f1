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

#define KERNEL_NAME sgemm_kernel_6x16
#define MR 6
#define NV 2 /* ymm vectors per row of the tile */
#define VW 8
#define VEC __m256
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOAD(p) _mm256_load_ps(p)
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_MUL(x, y) _mm256_mul_ps(x, y)
#define V_FMA(x, y, z) _mm256_fmadd_ps(x, y, z)
#include "gemm_kernel_x86.h"

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
