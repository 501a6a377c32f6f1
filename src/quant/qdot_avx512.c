/* AVX-512F quantized dot-product kernels (see qkernels.h).
 *
 * Compile flags: -O2 -mavx512f -mfma (only this file, from its name); runs only when
 * dc_isa_active() == DC_ISA_AVX512. Only AVX-512F instructions (no BW/VL): a block is two
 * vectors of 16 weights, bytes widened with vpmovsxbd / vpmovzxbd, converted and scaled as
 * in the AVX2 twin, then one FMA per input row and vector. */
#include "qkernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

static void qdot_q8_0_avx512(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                             int nx, float *y, int64_t ldy)
{
    __m512 acc[DC_QDOT_MAXX][2];
    for (int r = 0; r < DC_QDOT_MAXX; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = w + b * DC_Q8_0_BYTES;
        const __m512 d = _mm512_set1_ps(dc__qhalf(blk));
        const __m512 w0 = _mm512_mul_ps(
            d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2)))));
        const __m512 w1 = _mm512_mul_ps(
            d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18)))));
        for (int r = 0; r < nx; r++) {
            const float *xb = x + r * ldx + b * DC_QBLOCK;
            acc[r][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xb), acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb + 16), acc[r][1]);
        }
    }
    for (int r = 0; r < nx; r++) y[r * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

static void qdot_q4_1_avx512(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                             int nx, float *y, int64_t ldy)
{
    __m512 acc[DC_QDOT_MAXX][2];
    for (int r = 0; r < DC_QDOT_MAXX; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    const __m512i low4 = _mm512_set1_epi32(15);
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = w + b * DC_Q4_1_BYTES;
        const __m512 d = _mm512_set1_ps(dc__qhalf(blk)), m = _mm512_set1_ps(dc__qhalf(blk + 2));
        const __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + 4)));
        const __m512 w0 = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_and_si512(bytes, low4)), m);
        const __m512 w1 = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(_mm512_srli_epi32(bytes, 4)), m);
        for (int r = 0; r < nx; r++) {
            const float *xb = x + r * ldx + b * DC_QBLOCK;
            acc[r][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(xb), acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(xb + 16), acc[r][1]);
        }
    }
    for (int r = 0; r < nx; r++) y[r * ldy] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

static const dc_qdot_kernels avx512 = {qdot_q8_0_avx512, qdot_q4_1_avx512};

const dc_qdot_kernels *dc__qdot_avx512(void) { return &avx512; }

#else /* built without -mavx512f */

const dc_qdot_kernels *dc__qdot_avx512(void) { return 0; }

#endif
