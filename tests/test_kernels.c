/* Kernels: every GEMM path this CPU can run (portable, AVX2, AVX-512) against a float64
 * triple loop over a table of layouts, sizes, alpha/beta and degenerate cases; the thread
 * pool's coverage, nesting and resizing; ISA dispatch. (Timings live in bench/.) */
#include "test.h"
#include "kernels/gemm_internal.h"
#include "kernels/kernels.h"

#include <float.h>
#include <stdatomic.h>

/* Small deterministic generator: tests must not depend on libc rand(). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static double uniform_pm1(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0;
}

/* ---- GEMM check ------------------------------------------------------------------------ */

/* How a matrix of rows x cols is laid out in memory:
 *   'n' row-major with padded rows: rs = cols + 3, cs = 1
 *   't' column-major (a transposed operand): rs = 1, cs = rows + 5
 *   's' both strides non-unit: rs = 3 * cols + 2, cs = 3
 *   'r' row-major, columns stored backwards (negative column stride) */
typedef struct {
    int64_t rs, cs, offset, span; /* span: elements to allocate; offset: where (0,0) is */
} layout;

static layout make_layout(char kind, int64_t rows, int64_t cols)
{
    layout l = {0, 0, 0, 0};
    switch (kind) {
    case 't':
        l.rs = 1;
        l.cs = rows + 5;
        break;
    case 's':
        l.cs = 3;
        l.rs = 3 * cols + 2;
        break;
    case 'r':
        l.rs = cols + 1;
        l.cs = -1;
        l.offset = cols - 1;
        break;
    default: /* 'n' */
        l.rs = cols + 3;
        l.cs = 1;
        break;
    }
    int64_t last = l.offset + (rows - 1) * l.rs + (cols - 1) * (l.cs > 0 ? l.cs : 0);
    l.span = (rows > 0 && cols > 0 ? last + 1 : 1);
    return l;
}

typedef struct {
    int64_t M, N, K;
    char a_layout, b_layout, c_layout; /* see make_layout */
    double alpha, beta;
} gemm_case;

/* Runs one case through dc_sgemm (active ISA) and dc_dgemm, compares both against a
 * double-precision triple loop. Returns 0 if both match, else -1 (and prints why).
 * With beta == 0, C starts as NaN: a kernel that reads C would poison the result. */
static int check_gemm_case(const gemm_case *tc)
{
    int64_t M = tc->M, N = tc->N, K = tc->K;
    layout la = make_layout(tc->a_layout, M, K), lb = make_layout(tc->b_layout, K, N);
    layout lc = make_layout(tc->c_layout, M, N);
    float *a32 = malloc(sizeof(float) * (size_t)la.span);
    float *b32 = malloc(sizeof(float) * (size_t)lb.span);
    float *c32 = malloc(sizeof(float) * (size_t)lc.span);
    double *a64 = malloc(sizeof(double) * (size_t)la.span);
    double *b64 = malloc(sizeof(double) * (size_t)lb.span);
    double *c64 = malloc(sizeof(double) * (size_t)lc.span);
    double *expected = malloc(sizeof(double) * (size_t)(M * N + 1));
    double *magnitude = malloc(sizeof(double) * (size_t)(M * N + 1));
    float *c_before = malloc(sizeof(float) * (size_t)lc.span);
    char *is_element = calloc((size_t)lc.span, 1);
    int status = 0;
    if (!a32 || !b32 || !c32 || !a64 || !b64 || !c64 || !expected || !magnitude || !c_before ||
        !is_element) {
        printf("FAIL: out of memory for case %ldx%ldx%ld\n", (long)M, (long)N, (long)K);
        status = -1;
        goto done;
    }
    /* Values exactly representable in float, so both precisions see the same inputs. */
    for (int64_t i = 0; i < la.span; i++)
        a64[i] = a32[i] = (float)uniform_pm1();
    for (int64_t i = 0; i < lb.span; i++)
        b64[i] = b32[i] = (float)uniform_pm1();
    for (int64_t i = 0; i < lc.span; i++)
        c64[i] = c32[i] = tc->beta == 0.0 ? NAN : (float)uniform_pm1();
    memcpy(c_before, c32, sizeof(float) * (size_t)lc.span);

#define AT(l, ptr, i, j) (ptr)[(l).offset + (i) * (l).rs + (j) * (l).cs]
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double sum = 0, abs_sum = 0;
            for (int64_t p = 0; p < K; p++) {
                double term = AT(la, a64, i, p) * AT(lb, b64, p, j);
                sum += term;
                abs_sum += fabs(term);
            }
            double c0 = tc->beta == 0.0 ? 0.0 : tc->beta * AT(lc, c64, i, j);
            expected[i * N + j] = tc->alpha * sum + c0;
            magnitude[i * N + j] = fabs(tc->alpha) * abs_sum + fabs(c0);
        }

    dc_sgemm(M, N, K, (float)tc->alpha, a32 + la.offset, la.rs, la.cs, b32 + lb.offset, lb.rs,
             lb.cs, (float)tc->beta, c32 + lc.offset, lc.rs, lc.cs);
    dc_dgemm(M, N, K, tc->alpha, a64 + la.offset, la.rs, la.cs, b64 + lb.offset, lb.rs, lb.cs,
             tc->beta, c64 + lc.offset, lc.rs, lc.cs);

    /* float32 accumulation error grows at most ~K * eps relative to sum |a||b|. */
    double tol32 = (double)(K + 4) * FLT_EPSILON, tol64 = (double)(K + 4) * DBL_EPSILON;
    double worst32 = 0, worst64 = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double scale = magnitude[i * N + j] + DBL_MIN;
            double err32 = fabs(AT(lc, c32, i, j) - expected[i * N + j]) / scale;
            double err64 = fabs(AT(lc, c64, i, j) - expected[i * N + j]) / scale;
            if (!(err32 <= worst32)) /* also catches NaN */
                worst32 = isnan(err32) ? INFINITY : err32;
            if (!(err64 <= worst64))
                worst64 = isnan(err64) ? INFINITY : err64;
        }
    /* Elements of C outside the matrix (padding between rows) must be untouched. */
    int64_t touched_outside = 0;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++)
            is_element[lc.offset + i * lc.rs + j * lc.cs] = 1;
    for (int64_t i = 0; i < lc.span; i++)
        if (!is_element[i] && memcmp(&c32[i], &c_before[i], sizeof(float)) != 0)
            touched_outside++;
    if (!(worst32 <= tol32) || !(worst64 <= tol64) || touched_outside) {
        printf("FAIL sgemm/dgemm [%s] M=%ld N=%ld K=%ld A=%c B=%c C=%c alpha=%g beta=%g: "
               "rel err f32 %.3g (tol %.3g), f64 %.3g (tol %.3g), padding writes %ld\n",
               dc_sgemm_active_config()->name, (long)M, (long)N, (long)K, tc->a_layout,
               tc->b_layout, tc->c_layout, tc->alpha, tc->beta, worst32, tol32, worst64, tol64,
               (long)touched_outside);
        status = -1;
    }
#undef AT
done:
    free(a32), free(b32), free(c32), free(a64), free(b64), free(c64);
    free(expected), free(magnitude), free(c_before), free(is_element);
    return status;
}

static int run_gemm_checks(void)
{
    static const int64_t sizes[] = {1, 2, 3, 7, 14, 16, 17, 31, 33, 65, 100};
    static const char layouts[] = {'n', 't', 's', 'r'};
    static const double alphas[] = {1.0, -0.5};
    static const double betas[] = {0.0, 1.0, 0.75};
    int bad = 0, count = 0;
    /* Every layout combination on a few odd shapes. */
    for (size_t ia = 0; ia < sizeof layouts; ia++)
        for (size_t ib = 0; ib < sizeof layouts; ib++)
            for (size_t ic = 0; ic < sizeof layouts; ic++)
                for (size_t ib2 = 0; ib2 < 3; ib2++) {
                    gemm_case tc = {17, 33, 19, layouts[ia], layouts[ib], layouts[ic],
                                    alphas[ib2 % 2], betas[ib2]};
                    bad += check_gemm_case(&tc) != 0;
                    tc.M = 45, tc.N = 7, tc.K = 5; /* M > N: the M-split path */
                    bad += check_gemm_case(&tc) != 0;
                    count += 2;
                }
    /* Shape sweep, row-major and the transposed-B Linear layout. */
    for (size_t im = 0; im < sizeof sizes / sizeof *sizes; im++)
        for (size_t in = 0; in < sizeof sizes / sizeof *sizes; in++)
            for (size_t ik = 0; ik < sizeof sizes / sizeof *sizes; ik += 2) {
                gemm_case tc = {sizes[im], sizes[in], sizes[ik], 'n', (char)(in % 2 ? 't' : 'n'),
                                'n', alphas[ik % 2], betas[(im + in) % 3]};
                bad += check_gemm_case(&tc) != 0;
                count++;
            }
    /* Sizes that cross the cache blocks (KC, MC, NC) and the threading split. */
    const gemm_case big[] = {
        {1000, 1000, 1000, 'n', 'n', 'n', 1.0, 0.0},  {515, 777, 1031, 'n', 't', 'n', 1.0, 1.0},
        {300, 2100, 400, 't', 'n', 'n', 0.5, 0.5},    {2100, 70, 600, 'n', 'n', 't', 1.0, 0.0},
        {129, 4100, 65, 'n', 't', 'n', -1.0, 1.0},    {1, 3000, 800, 'n', 't', 'n', 1.0, 0.0},
        {3000, 1, 800, 'n', 'n', 'n', 1.0, 1.0},      {64, 64, 3000, 's', 's', 's', 1.0, 0.25},
    };
    for (size_t i = 0; i < sizeof big / sizeof *big; i++, count++)
        bad += check_gemm_case(&big[i]) != 0;
    /* Degenerate: K == 0 (C = beta*C), and alpha == 0 (A, B not read). */
    const gemm_case degenerate[] = {
        {5, 6, 0, 'n', 'n', 'n', 1.0, 0.0}, {5, 6, 0, 'n', 'n', 'n', 1.0, 0.5},
        {5, 6, 7, 'n', 'n', 'n', 0.0, 2.0}, {0, 6, 7, 'n', 'n', 'n', 1.0, 1.0},
    };
    for (size_t i = 0; i < sizeof degenerate / sizeof *degenerate; i++, count++)
        bad += check_gemm_case(&degenerate[i]) != 0;
    EXPECT(bad == 0, "gemm [%s]: %d of %d cases wrong", dc_sgemm_active_config()->name, bad, count);
    return bad;
}

/* ---- thread pool checks --------------------------------------------------------------- */

typedef struct {
    int64_t n;
    atomic_int *visits;
    atomic_int inner_calls_inline;
} coverage_ctx;

static void inner_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    coverage_ctx *c = ctx;
    if (begin == 0 && end == 8) /* nested call ran as one inline chunk */
        atomic_fetch_add(&c->inner_calls_inline, 1);
}

static void visit_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    coverage_ctx *c = ctx;
    EXPECT(tid >= 0 && tid < dc_get_num_threads(), "tid %d out of range", tid);
    for (int64_t i = begin; i < end; i++)
        atomic_fetch_add(&c->visits[i], 1);
    coverage_ctx inner = {8, NULL, 0};
    dc_parallel_for(8, 1, inner_range, &inner);
    atomic_fetch_add(&c->inner_calls_inline, atomic_load(&inner.inner_calls_inline));
}

static void check_parallel_for_covers_each_index_once(void)
{
    static const int64_t ns[] = {1, 2, 3, 5, 64, 1000, 100003};
    for (size_t t = 0; t < sizeof ns / sizeof *ns; t++) {
        int64_t n = ns[t];
        coverage_ctx ctx = {n, calloc((size_t)n, sizeof(atomic_int)), 0};
        if (ctx.visits == NULL)
            continue;
        for (int rep = 0; rep < 3; rep++)
            dc_parallel_for(n, 1, visit_range, &ctx);
        int64_t wrong = 0;
        for (int64_t i = 0; i < n; i++)
            wrong += atomic_load(&ctx.visits[i]) != 3;
        EXPECT(wrong == 0, "n=%ld: %ld indices not visited exactly once per call", (long)n,
               (long)wrong);
        /* n == 1 runs inline without entering a parallel region, so its inner call may
         * use the pool; from n == 2 on, every chunk's inner call must run inline. */
        if (n >= 2)
            EXPECT(atomic_load(&ctx.inner_calls_inline) >= 3 * (dc_get_num_threads() > 1 ? 2 : 1),
                   "nested calls did not run inline (n=%ld)", (long)n);
        free(ctx.visits);
    }
}

static void count_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    atomic_fetch_add((atomic_long *)ctx, (long)(end - begin));
}

static void check_thread_count_changes(void)
{
    int original = dc_get_num_threads();
    EXPECT(dc_set_num_threads(0) == -1, "0 threads accepted");
    for (int n = 1; n <= 4; n++) {
        EXPECT(dc_set_num_threads(n) == 0 && dc_get_num_threads() == n, "set %d threads", n);
        atomic_long total = 0;
        for (int rep = 0; rep < 100; rep++)
            dc_parallel_for(1000, 1, count_range, &total);
        EXPECT(atomic_load(&total) == 100000, "with %d threads covered %ld", n,
               (long)atomic_load(&total));
    }
    dc_set_num_threads(original);
}

TEST(test_kernels_every_gemm_path_matches_float64_reference)
{
    dc_isa saved = dc_isa_active();
    CHECK(dc_isa_set(DC_ISA_COUNT) == -1);
    for (int isa = 0; isa < DC_ISA_COUNT; isa++) {
        if (dc_isa_set((dc_isa)isa) != 0) {
            printf("  (%s kernels: not supported by this CPU, skipped)\n", dc_isa_name((dc_isa)isa));
            continue;
        }
        run_gemm_checks();
    }
    dc_isa_set(saved);
}

TEST(test_kernels_parallel_for_covers_each_index_once)
{
    check_parallel_for_covers_each_index_once();
}

TEST(test_kernels_thread_count_changes)
{
    check_thread_count_changes();
}
