/* The machine's measured float32 FMA peak, the denominator of "fraction of peak" in the
 * benchmark table: every thread runs independent FMA chains (peak_fma_kernel.h) on the
 * widest vectors the CPU supports, chosen at run time with __builtin_cpu_supports (the
 * ISA files are compiled with their own -m flags, this one for the baseline target).
 *
 * usage: peak_fma [--threads T] [--reps R]
 * Prints "info fma_isa <isa>" and "peak_gflops <threads> <GFLOP/s>" for 1 thread and for
 * T threads, each the best of R runs of ~0.2 s (best, not median: a peak is a bound). */
#include "bench_common.h"

#include <pthread.h>

double peak_fma_avx2(long iters);
double peak_fma_avx512(long iters);

typedef double (*fma_loop)(long iters);

typedef struct {
    fma_loop loop;
    long iters;
    double flops;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *arg = p;
    arg->flops = arg->loop(arg->iters);
    return NULL;
}

/* GFLOP/s of `threads` threads each running loop(iters) at once. */
static double run_threads(fma_loop loop, int threads, long iters)
{
    enum { MAX_THREADS = 256 };
    pthread_t ids[MAX_THREADS];
    worker_arg args[MAX_THREADS];
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    double start = bench_now();
    for (int t = 0; t < threads; t++) {
        args[t] = (worker_arg){loop, iters, 0};
        if (pthread_create(&ids[t], NULL, worker, &args[t]) != 0) threads = t;
    }
    double flops = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        flops += args[t].flops;
    }
    return flops / (bench_now() - start) * 1e-9;
}

int main(int argc, char **argv)
{
    bench_options opt;
    if (bench_parse_options(argc, argv, &opt) != 0) return 1;
    fma_loop loop = NULL;
    const char *isa = "none";
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) loop = peak_fma_avx512, isa = "avx512";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        loop = peak_fma_avx2, isa = "avx2";
#endif
    printf("info fma_isa %s\n", isa);
    if (!loop) return 0; /* no x86 FMA: the table shows no fraction of peak */
    /* Calibrate to ~0.2 s per run on one thread. */
    long iters = 1 << 20;
    double gflops = run_threads(loop, 1, iters);
    iters = (long)(0.2e9 * gflops / (2.0 * 16 * 12)) + 1;
    int counts[2] = {1, opt.threads};
    for (int c = 0; c < (opt.threads > 1 ? 2 : 1); c++) {
        double best = 0;
        for (int r = 0; r < opt.reps; r++) {
            double g = run_threads(loop, counts[c], iters);
            if (g > best) best = g;
        }
        printf("peak_gflops %d %.1f\n", counts[c], best);
    }
    return 0;
}
