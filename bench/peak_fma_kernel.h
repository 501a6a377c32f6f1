/* The loop of the peak-FMA microbenchmark, written once and instantiated per ISA by
 * peak_fma_avx2.c and peak_fma_avx512.c (which the Makefile compiles with -mavx2 -mfma /
 * -mavx512f ...; bench/peak_fma.c picks one at run time).
 *
 * ACCUMULATORS independent chains acc = acc * m + c keep both FMA pipes busy: a core with
 * P pipes of latency L needs P * L chains in flight (Zen 4/5 and Skylake-X: 2 x 4 = 8);
 * 12 leaves margin and still fits AVX2's 16 registers with the two constants.
 * m < 1 and c > 0 make every chain converge to c / (1 - m): no overflow, no denormals.
 * Before including, define VEC, SET1, FMA, ADD, STORE, LANES and KERNEL_NAME. */
#define ACCUMULATORS 12

/* Runs `iters` iterations; returns the floating-point operations done (2 per FMA lane). */
double KERNEL_NAME(long iters)
{
    VEC m = SET1(0.999999f), c = SET1(1e-6f);
    VEC acc[ACCUMULATORS];
    for (int i = 0; i < ACCUMULATORS; i++) acc[i] = SET1((float)i);
    for (long it = 0; it < iters; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < ACCUMULATORS; i++) acc[i] = FMA(acc[i], m, c);
    }
    /* Sum and store the chains so the compiler must compute them. */
    VEC total = acc[0];
    for (int i = 1; i < ACCUMULATORS; i++) total = ADD(total, acc[i]);
    float lanes[LANES];
    STORE(lanes, total);
    volatile float sink = lanes[0];
    (void)sink;
    return 2.0 * LANES * ACCUMULATORS * (double)iters;
}
