/* AVX-512 kernels of the direct single-input-channel convolution (conv_direct.h).
 *
 * Compile flags: -O2 -mavx512f -mfma (only this file). AVX-512F only (dc_isa_detect checks
 * nothing else): the masks are plain __mmask16, no -mavx512dq/bw/vl instructions.
 * The code only runs when dc_isa_active() == DC_ISA_AVX512.
 *
 * Forward block 8 channels x 3 vectors (48 positions): 24 zmm accumulators + 3 inputs + 1
 * broadcast weight = 28 of 32 registers; per tap 3 loads + 8 broadcasts feed 24 FMAs.
 * LeNet's conv1 (32 channels, 24x24 = 576 = 12 x 48 positions) has no partial block.
 * Weight block 4 channels x up to 6 taps: 24 accumulators + 4 of g + 1 input = 29; a 5x5
 * kernel is 5 blocks of 5 taps. */
#include "conv_direct.h"

#if defined(__AVX512F__) && defined(__FMA__)
#include <immintrin.h>

#define KSUFFIX avx512
#define VW 16
#define VEC __m512
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(x) _mm512_set1_ps(x)
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define LANE_MASK(n) ((__mmask16)((1u << (n)) - 1u))
#define V_MASKZ_LOADU(p, n) _mm512_maskz_loadu_ps(LANE_MASK(n), p)
#define V_MASK_STOREU(p, v, n) _mm512_mask_storeu_ps(p, LANE_MASK(n), v)
#define V_STORE_LANES(out, v) _mm512_storeu_ps(out, v)
#define FWD_CB 8
#define FWD_NV 3
#define WGT_CB 4
#define WGT_TB 6
#include "conv_direct_kernel.h"

static const dc_conv_direct_kernels avx512_kernels = {
    .name = "avx512",
    .vw = VW,
    .fwd_cb = FWD_CB,
    .wgt_cb = WGT_CB,
    .wgt_tb = WGT_TB,
    .fwd = fwd_avx512,
    .wgt = wgt_avx512,
    .sum = sum_avx512,
};

const dc_conv_direct_kernels *dc_conv_direct_kernels_avx512(void) { return &avx512_kernels; }

#else /* built without -mavx512f -mfma: report "not available" instead of failing */

const dc_conv_direct_kernels *dc_conv_direct_kernels_avx512(void) { return 0; }

#endif
