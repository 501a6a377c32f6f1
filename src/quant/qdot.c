/* Portable quantized dot-product kernels and the run-time choice between ISAs
 * (see qkernels.h). Compile flags: plain (-O2 -std=c11). */
#include "qkernels.h"

/* Decode one block into 32 floats. */
static void decode_q8_0(const uint8_t *b, float w[DC_QBLOCK])
{
    const float d = dc__qhalf(b);
    for (int i = 0; i < DC_QBLOCK; i++) w[i] = d * (float)(int8_t)b[2 + i];
}

static void decode_q4_1(const uint8_t *b, float w[DC_QBLOCK])
{
    const float d = dc__qhalf(b), m = dc__qhalf(b + 2);
    for (int j = 0; j < DC_QBLOCK / 2; j++) {
        w[j] = d * (float)(b[4 + j] & 15) + m;
        w[j + 16] = d * (float)(b[4 + j] >> 4) + m;
    }
}

/* The same loop for both formats: decode a block once, use it for every input row. Eight
 * partial sums per row, so the compiler may vectorise the inner loop. */
static void qdot_generic(void (*decode)(const uint8_t *, float *), size_t block_bytes,
                         const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx, int nx,
                         float *y, int64_t ldy)
{
    float acc[DC_QDOT_MAXX][8] = {{0}};
    float wb[DC_QBLOCK];
    for (int64_t b = 0; b < nblocks; b++) {
        decode(w + (size_t)b * block_bytes, wb);
        for (int r = 0; r < nx; r++) {
            const float *xb = x + r * ldx + b * DC_QBLOCK;
            for (int i = 0; i < DC_QBLOCK; i++) acc[r][i % 8] += wb[i] * xb[i];
        }
    }
    for (int r = 0; r < nx; r++) {
        float s = 0;
        for (int i = 0; i < 8; i++) s += acc[r][i];
        y[r * ldy] = s;
    }
}

static void qdot_q8_0_portable(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                               int nx, float *y, int64_t ldy)
{
    qdot_generic(decode_q8_0, DC_Q8_0_BYTES, w, nblocks, x, ldx, nx, y, ldy);
}

static void qdot_q4_1_portable(const uint8_t *w, int64_t nblocks, const float *x, int64_t ldx,
                               int nx, float *y, int64_t ldy)
{
    qdot_generic(decode_q4_1, DC_Q4_1_BYTES, w, nblocks, x, ldx, nx, y, ldy);
}

static const dc_qdot_kernels portable = {qdot_q8_0_portable, qdot_q4_1_portable};

const dc_qdot_kernels *dc__qdot_portable(void) { return &portable; }

const dc_qdot_kernels *dc__qdot_active(void)
{
    const dc_qdot_kernels *k = NULL;
    switch (dc_isa_active()) {
    case DC_ISA_AVX512: k = dc__qdot_avx512(); break;
    case DC_ISA_AVX2: k = dc__qdot_avx2(); break;
    default: break;
    }
    return k ? k : &portable;
}
