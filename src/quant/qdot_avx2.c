/* AVX2 + FMA quantized dot-product kernels (see qkernels.h).
 *
 * Compile flags: -O2 -mavx2 -mfma (only this file, from its name); runs only when
 * dc_isa_active() == DC_ISA_AVX2. A block is four vectors of 8 weights: int8 (Q8_0) or
 * nibbles (Q4_1) widened to int32, converted to float and scaled (d * q exact; Q4_1 adds m
 * with one fused rounding, as the portable decode's single rounding of d * q + m), then one
 * FMA per input row. Two accumulators per row (even / odd vectors) hide the FMA latency. */
#include "qkernels.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

static float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static __m128i load8(const uint8_t *p)
{
    int64_t v;
    memcpy(&v, p, sizeof v);
    return _mm_cvtsi64_si128(v);
}

/* acc[r][c & 1] += w_c * x_r[8c .. 8c + 8) for the four weight vectors w of a block. */
#define ACCUMULATE_BLOCK(wv, x, ldx, nx, b, acc)                                               \
    for (int r = 0; r < (nx); r++) {                                                           \
        const float *xb = (x) + r * (ldx) + (b) * DC_QBLOCK;                                   \
        acc[r][0] = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xb), acc[r][0]);                    \
        acc[r][1] = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xb + 8), acc[r][1]);                \
        acc[r][0] = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xb + 16), acc[r][0]);               \
        acc[r][1] = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xb + 24), acc[r][1]);               \
    }

static void qdot_q8_0_avx2(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                           int nx, float *y, int64_t ldy)
{
    __m256 acc[DC_QDOT_MAXX][2];
    for (int r = 0; r < DC_QDOT_MAXX; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = w + b * DC_Q8_0_BYTES;
        const __m256 d = _mm256_set1_ps(dc__qhalf(blk));
        __m256 wv[4];
        for (int c = 0; c < 4; c++)
            wv[c] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(load8(blk + 2 + 8 * c))));
        ACCUMULATE_BLOCK(wv, x, ldx, nx, b, acc)
    }
    for (int r = 0; r < nx; r++) y[r * ldy] = hsum256(_mm256_add_ps(acc[r][0], acc[r][1]));
}

static void qdot_q4_1_avx2(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                           int nx, float *y, int64_t ldy)
{
    __m256 acc[DC_QDOT_MAXX][2];
    for (int r = 0; r < DC_QDOT_MAXX; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi32(15);
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = w + b * DC_Q4_1_BYTES;
        const __m256 d = _mm256_set1_ps(dc__qhalf(blk)), m = _mm256_set1_ps(dc__qhalf(blk + 2));
        const __m256i b0 = _mm256_cvtepu8_epi32(load8(blk + 4)); /* elements 0..7, 16..23 */
        const __m256i b1 = _mm256_cvtepu8_epi32(load8(blk + 12)); /* 8..15, 24..31 */
        __m256 wv[4];
        wv[0] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(b0, low4)), m);
        wv[1] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_and_si256(b1, low4)), m);
        wv[2] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_srli_epi32(b0, 4)), m);
        wv[3] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(_mm256_srli_epi32(b1, 4)), m);
        ACCUMULATE_BLOCK(wv, x, ldx, nx, b, acc)
    }
    for (int r = 0; r < nx; r++) y[r * ldy] = hsum256(_mm256_add_ps(acc[r][0], acc[r][1]));
}

static const dc_qdot_kernels avx2 = {qdot_q8_0_avx2, qdot_q4_1_avx2};

const dc_qdot_kernels *dc__qdot_avx2(void) { return &avx2; }

#else /* built without -mavx2 -mfma */

const dc_qdot_kernels *dc__qdot_avx2(void) { return 0; }

#endif
