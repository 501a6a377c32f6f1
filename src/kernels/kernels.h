/* Internal kernel interface: the hot loops, independent of tensors and autograd.
 *
 * src/ops/ says *what* an op computes (shapes, broadcasting, the tape); this layer says
 * *how fast*. Every fast path here has a portable C twin that it is tested against.
 * Nothing in this header reports errors: callers validate shapes before calling in. */
#ifndef DC_KERNELS_H
#define DC_KERNELS_H

#include <stdint.h>

/* ---- CPU features and kernel dispatch ------------------------------------------------ */

typedef enum {
    DC_ISA_PORTABLE = 0, /* plain C, any machine */
    DC_ISA_AVX2 = 1,     /* AVX2 + FMA */
    DC_ISA_AVX512 = 2,   /* AVX-512F */
    DC_ISA_COUNT
} dc_isa;

/* Best ISA this CPU supports (CPUID, cached after the first call). */
dc_isa dc_isa_detect(void);
/* ISA currently used by the dispatching kernels (defaults to dc_isa_detect()). */
dc_isa dc_isa_active(void);
/* Force an ISA (tests run every path the machine supports). Returns 0 on success, -1 if the
 * CPU cannot run it (the active ISA is then unchanged). */
int dc_isa_set(dc_isa isa);
const char *dc_isa_name(dc_isa isa);
/* What is wrong with $DEEPC_ISA: NULL when unset or valid, else a one-line message naming
 * the value and what is used instead. The library then warns once on stderr and goes on
 * with the default; the deepc command makes it an error. */
const char *dc_isa_env_problem(void);

/* ---- Thread pool --------------------------------------------------------------------- */

/* One pool for every op. Workers set flush-to-zero / denormals-are-zero on start.
 * fn is called on disjoint [begin, end) chunks covering [0, n); tid in [0, nthreads).
 * Runs inline when n <= grain or the pool has one thread. Nested calls run inline.
 * Chunks hold at least `grain` items (so at most n / grain chunks). tid names the pool
 * thread running the chunk (0 = the calling thread); a nested inline call passes on its
 * thread's tid, so per-tid scratch of one dispatch is never shared by two threads.
 * Dispatches from several application threads are serialised; such threads all use tid 0
 * for inline work, so per-tid scratch must belong to the call, not be global. */
typedef void (*dc_range_fn)(void *ctx, int64_t begin, int64_t end, int tid);
void dc_parallel_for(int64_t n, int64_t grain, dc_range_fn fn, void *ctx);

/* Public (also declared in include/deepc/core.h): thread count of the pool. Default: the
 * DEEPC_NUM_THREADS environment variable, else the number of online CPUs. Changing it
 * joins the old workers and starts new ones; returns 0, or -1 if n < 1. */
int dc_set_num_threads(int n);
int dc_get_num_threads(void);
/* What is wrong with $DEEPC_NUM_THREADS (not an integer in [1, 4096]): NULL when unset or
 * valid, else a one-line message; handled like dc_isa_env_problem. */
const char *dc_threads_env_problem(void);

/* Set FTZ/DAZ on the calling thread (x86 MXCSR; no-op elsewhere). */
void dc_set_flush_denormal(void);

/* Joins the workers and frees the calling thread's kernel scratch, so leak checkers stay
 * quiet. Registered with atexit() on first use; safe to call again, and the pool restarts
 * lazily if used afterwards. Does nothing when called from inside a parallel chunk. */
void dc_threads_shutdown(void);

/* ---- GEMM ---------------------------------------------------------------------------- */

/* C[M,N] = alpha * A[M,K] @ B[K,N] + beta * C, with arbitrary element strides:
 * A(i,k) = A[i*rsa + k*csa], B(k,n) = B[k*rsb + n*csb], C(i,n) = C[i*rsc + n*csc].
 * So transposed operands need no copy. beta == 0 means C is write-only (NaNs in C ignored);
 * alpha == 0 or K == 0 gives C = beta * C without reading A or B (as BLAS does).
 * Threaded through the pool; dispatched on dc_isa_active(). */
void dc_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t rsc, int64_t csc);
/* Same in float64 (used by the gradient checker; portable, cache-blocked). */
void dc_dgemm(int64_t M, int64_t N, int64_t K, double alpha, const double *A, int64_t rsa,
              int64_t csa, const double *B, int64_t rsb, int64_t csb, double beta, double *C,
              int64_t rsc, int64_t csc);

/* Frees the calling thread's GEMM packing buffers (they are per thread, grown on demand and
 * reused across calls). Pool workers call it on exit, dc_threads_shutdown() for its caller;
 * other threads that ran a GEMM get theirs freed by a thread-exit destructor. */
void dc_gemm_free_thread_workspace(void);

/* Sum of n contiguous values, returned in double. float32 runs DC_SUM_LANES independent
 * partial sums (one running sum is a dependency chain that gcc does not vectorise), added
 * up in double at the end: a bias gradient's per-channel sums use it. */
enum { DC_SUM_LANES = 16 };

static inline double dc_sum_f32(const float *p, int64_t n)
{
    float part[DC_SUM_LANES] = {0};
    int64_t i = 0;
    for (; i + DC_SUM_LANES <= n; i += DC_SUM_LANES)
        for (int k = 0; k < DC_SUM_LANES; k++) part[k] += p[i + k];
    for (; i < n; i++) part[0] += p[i];
    double total = 0;
    for (int k = 0; k < DC_SUM_LANES; k++) total += (double)part[k];
    return total;
}

static inline double dc_sum_f64(const double *p, int64_t n)
{
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += p[i];
    return total;
}

#endif
