/* The register-blocked float32 micro-kernel of gemm_avx2.c and gemm_avx512.c, written once.
 *
 * Included by an ISA file (built with its own -m flags) after it defines:
 *   KERNEL_NAME  the function to define (a dc_sgemm_microkernel_fn)
 *   MR, NV       tile rows, and vectors per tile row (NR = NV * VW columns)
 *   VW           floats per vector; VEC its type
 *   V_ZERO(), V_SET1(x), V_LOAD(p) (aligned), V_LOADU(p), V_STOREU(p, v), V_MUL(a, b),
 *   V_FMA(a, b, c) = a * b + c
 * The tile's MR x NV accumulators, the NV vectors of the B row and one broadcast of A must
 * fit the ISA's vector registers (see each file's header for its count). */
#define NR (NV * VW)

static void KERNEL_NAME(int64_t k, const float *restrict a, const float *restrict b,
                        float *restrict c, int64_t rsc, float alpha, float beta)
{
    VEC acc[MR][NV];
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            acc[i][j] = V_ZERO();

    /* Warm the C tile while the k loop runs: it is read only at the end. */
#pragma GCC unroll 32
    for (int i = 0; i < MR; i++) {
        _mm_prefetch((const char *)(c + i * rsc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * rsc + NR - 1), _MM_HINT_T0); /* row's last line */
    }

#pragma GCC unroll 2
    for (int64_t p = 0; p < k; p++) {
        VEC brow[NV];
#pragma GCC unroll 4
        for (int j = 0; j < NV; j++)
            brow[j] = V_LOAD(b + j * VW);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++) {
            VEC ai = V_SET1(a[i]);
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                acc[i][j] = V_FMA(ai, brow[j], acc[i][j]);
        }
        a += MR;
        b += NR;
    }

    VEC valpha = V_SET1(alpha);
    if (beta == 0.0f) { /* C is write-only: NaNs already there must not leak through */
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++)
                V_STOREU(c + i * rsc + j * VW, V_MUL(valpha, acc[i][j]));
    } else {
        VEC vbeta = V_SET1(beta);
#pragma GCC unroll 32
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
            for (int j = 0; j < NV; j++) {
                float *cij = c + i * rsc + j * VW;
                VEC scaled_c = V_MUL(vbeta, V_LOADU(cij));
                V_STOREU(cij, V_FMA(valpha, acc[i][j], scaled_c));
            }
    }
}
