/* Internal: the quantized dot-product kernels behind dc_qlinear (src/quant/quant.c).
 *
 * A kernel takes one quantized weight row (nblocks blocks, in the layout described in
 * include/deepc/quant.h) and nx <= DC_QDOT_MAXX float rows x_r = x + r * ldx of
 * nblocks * 32 values each, and writes y[r * ldy] = sum_k x_r[k] * w[k], w the dequantized
 * row. Decoding a block once and using it for up to four inputs is the matrix-matrix case;
 * nx = 1 is the matrix-vector one. Every weight value is formed exactly as dc_dequantize
 * forms it (d * q is exact in float32; Q4_1's d * q + m is rounded once), so the ISA
 * versions differ from the portable one only in the order of the additions.
 * Compile flags: the *_avx2.c / *_avx512.c twins get -mavx2 -mfma / -mavx512f -mfma from
 * the Makefile; this header and qdot.c are plain C. No validation here. */
#ifndef DC_QKERNELS_H
#define DC_QKERNELS_H

#include "deepc/quant.h"
#include "kernels/kernels.h"

#include <stdint.h>
#include <string.h>

enum { DC_QDOT_MAXX = 4, DC_Q8_0_BYTES = 34, DC_Q4_1_BYTES = 20 };

typedef void (*dc_qdot_fn)(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                           int nx, float *y, int64_t ldy);

typedef struct {
    dc_qdot_fn q8_0, q4_1;
} dc_qdot_kernels;

/* The kernels of one ISA, or NULL when this build has none for it. */
const dc_qdot_kernels *dc__qdot_portable(void);
const dc_qdot_kernels *dc__qdot_avx2(void);
const dc_qdot_kernels *dc__qdot_avx512(void);
/* The kernels for dc_isa_active() (portable when that ISA was not built). */
const dc_qdot_kernels *dc__qdot_active(void);

/* y[M, N] = x[M, K] W^T (+ bias[N] when not NULL) for a 2-D quantized W [N, K] with the
 * kernels k, threaded over the output columns (dc_qlinear's core; tests call it per ISA). */
int dc__qlinear_raw(const dc_qdot_kernels *k, const dc_qtensor *w, const float *x,
                    const float *bias, float *y, int64_t M);

/* The fp16 stored at p (little-endian), as float: an inline twin of dc_fp16_to_fp32. */
static inline float dc__qhalf(const uint8_t *p)
{
    uint32_t h = (uint32_t)p[0] | (uint32_t)p[1] << 8;
    uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | mant << 13 | (mant ? 0x400000u : 0);
    } else if (exp == 0) {
        float v = (float)mant * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -v : v;
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

#endif
