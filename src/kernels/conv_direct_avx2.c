/* AVX2 + FMA kernels of the direct single-input-channel convolution (conv_direct.h).
 *
 * Compile flags: -O2 -mavx2 -mfma (only this file). The code only runs when
 * dc_isa_active() == DC_ISA_AVX2 (the CPU has both AVX2 and FMA).
 *
 * Forward block 4 channels x 3 vectors (24 positions): 12 ymm accumulators + 3 inputs + 1
 * broadcast weight = all 16 registers (on L1-resident data 90% of the FMA peak, against 80%
 * for 4 x 2). Weight block 2 channels x up to 6 taps: 12 accumulators + 2 of g + 1 input =
 * 15. */
#include "conv_direct.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define KSUFFIX avx2
#define VW 8
#define VEC __m256
#define V_ZERO() _mm256_setzero_ps()
#define V_SET1(x) _mm256_set1_ps(x)
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
/* lanes i < n set: all bits of lane i where n > i */
#define LANE_MASK(n)                                                                               \
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define V_MASKZ_LOADU(p, n) _mm256_maskload_ps(p, LANE_MASK(n))
#define V_MASK_STOREU(p, v, n) _mm256_maskstore_ps(p, LANE_MASK(n), v)
#define V_STORE_LANES(out, v) _mm256_storeu_ps(out, v)
#define FWD_CB 4
#define FWD_NV 3
#define WGT_CB 2
#define WGT_TB 6
#include "conv_direct_kernel.h"

static const dc_conv_direct_kernels avx2_kernels = {
    .name = "avx2",
    .vw = VW,
    .fwd_cb = FWD_CB,
    .wgt_cb = WGT_CB,
    .wgt_tb = WGT_TB,
    .fwd = fwd_avx2,
    .wgt = wgt_avx2,
    .sum = sum_avx2,
};

const dc_conv_direct_kernels *dc_conv_direct_kernels_avx2(void) { return &avx2_kernels; }

#else /* built without -mavx2 -mfma: report "not available" instead of failing */

const dc_conv_direct_kernels *dc_conv_direct_kernels_avx2(void) { return 0; }

#endif
