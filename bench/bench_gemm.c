/* sgemm benchmark: C[M,N] = A[M,K] @ B[K,N] in float32 through dc_matmul (so the op layer's
 * checks and the output allocation are timed too, as torch.matmul's are in
 * bench/torch_gemm.py).
 *
 * usage: bench_gemm [--threads T] [--reps R] MxKxN...
 * Prints "time sgemm_MxKxN <seconds per product>" R times per shape. Each repetition runs
 * enough products to do about 2 GFLOP (so small shapes are not timer noise), after two
 * untimed warm-up products; bench/torch_gemm.py uses the same rule. */
#include "bench_common.h"

#include <math.h>

/* Products per timed repetition: ~2 GFLOP of work, at least one (same rule in torch_gemm.py). */
static long products_per_rep(double flops)
{
    long n = (long)ceil(2e9 / flops);
    return n < 1 ? 1 : n;
}

static int bench_shape(long m, long k, long n, int reps)
{
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_randn(NULL, DC_F32, DC_SHAPE(m, k));
    dc_tensor *b = dc_randn(NULL, DC_F32, DC_SHAPE(k, n));
    double flops = 2.0 * (double)m * (double)k * (double)n;
    long inner = products_per_rep(flops);
    int ok = a && b;
    for (int warm = 0; warm < 2 && ok; warm++) {
        size_t step = dc_scope_begin();
        ok = dc_matmul(a, b) != NULL;
        dc_scope_end(step);
    }
    for (int r = 0; r < reps && ok; r++) {
        double start = bench_now();
        for (long i = 0; i < inner && ok; i++) {
            size_t step = dc_scope_begin(); /* frees C, as torch frees its result */
            ok = dc_matmul(a, b) != NULL;
            dc_scope_end(step);
        }
        printf("time sgemm_%ldx%ldx%ld %.9f\n", m, k, n, (bench_now() - start) / (double)inner);
        fflush(stdout);
    }
    dc_scope_end(scope);
    if (!ok) fprintf(stderr, "bench_gemm: %ldx%ldx%ld failed: %s\n", m, k, n, dc_last_error());
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    bench_options opt;
    if (bench_parse_options(argc, argv, &opt) != 0 || bench_setup(&opt) != 0) return 1;
    for (int i = opt.first_positional; i < argc; i++) {
        long m, k, n;
        if (sscanf(argv[i], "%ldx%ldx%ld", &m, &k, &n) != 3 || m < 1 || k < 1 || n < 1) {
            fprintf(stderr, "bench_gemm: bad shape '%s' (expected MxKxN, e.g. 256x768x3072)\n",
                    argv[i]);
            return 1;
        }
        if (bench_shape(m, k, n, opt.reps) != 0) return 1;
    }
    return 0;
}
