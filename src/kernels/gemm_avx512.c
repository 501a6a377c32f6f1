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

#define KERNEL_NAME sgemm_kernel_14x32
#define MR 14
#define NV 2 /* zmm vectors per row of the tile */
#define VW 16
#define VEC __m512
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOAD(p) _mm512_load_ps(p)
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_MUL(x, y) _mm512_mul_ps(x, y)
#define V_FMA(x, y, z) _mm512_fmadd_ps(x, y, z)
#include "gemm_kernel_x86.h"

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
