/* CPU feature detection and the run-time ISA switch that every dispatching kernel reads.
 *
 * Compile flags: plain (e.g. -O2 -std=c11); never -march=native. This file only asks the CPU
 * what it can do; the ISA-specific code lives in gemm_avx2.c / gemm_avx512.c.
 *
 * Why run time: the same machine kind has been an AVX-512 Xeon and an AVX2-only EPYC, and
 * build outputs survive moves between machines (see DESIGN.md). */
#include "kernels.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h> /* _mm_getcsr/_mm_setcsr: SSE is part of the x86-64 baseline */
#endif

/* -1 = not detected yet. Detection is idempotent, so a benign race between two first
 * callers just computes the same value twice; atomics keep it formally race-free. */
static atomic_int detected_isa = -1;
static atomic_int active_isa = -1;

static dc_isa detect_uncached(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    /* libgcc's __builtin_cpu_supports also checks XGETBV, i.e. that the OS saves the
     * YMM/ZMM state, so a "yes" here means the instructions are really usable. */
    __builtin_cpu_init();
    int has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (has_avx2_fma && __builtin_cpu_supports("avx512f"))
        return DC_ISA_AVX512;
    if (has_avx2_fma)
        return DC_ISA_AVX2;
#endif
    return DC_ISA_PORTABLE;
}

dc_isa dc_isa_detect(void)
{
    int isa = atomic_load_explicit(&detected_isa, memory_order_acquire);
    if (isa < 0) {
        isa = (int)detect_uncached();
        atomic_store_explicit(&detected_isa, isa, memory_order_release);
    }
    return (dc_isa)isa;
}

const char *dc_isa_env_problem(void)
{
    static char problem[200];
    dc_isa best = dc_isa_detect();
    const char *requested = getenv("DEEPC_ISA");
    if (requested == NULL)
        return NULL;
    for (int isa = 0; isa < DC_ISA_COUNT; isa++) {
        if (strcmp(requested, dc_isa_name((dc_isa)isa)) != 0)
            continue;
        if (isa <= (int)best)
            return NULL;
        snprintf(problem, sizeof problem,
                 "DEEPC_ISA=%s is more than this CPU runs (ignored: %s, its best)", requested,
                 dc_isa_name(best));
        return problem;
    }
    snprintf(problem, sizeof problem,
             "DEEPC_ISA='%.40s' is not one of portable, avx2, avx512 (ignored: %s, the best "
             "this CPU runs)", requested, dc_isa_name(best));
    return problem;
}

/* DEEPC_ISA=portable|avx2|avx512 may lower (never raise) the default, e.g. to reproduce
 * an AVX2-only machine's numbers on an AVX-512 one. Other values are ignored with a warning
 * on stderr, once (dc_isa_env_problem lets a program make them an error). */
static dc_isa default_isa(void)
{
    dc_isa best = dc_isa_detect();
    const char *requested = getenv("DEEPC_ISA");
    const char *problem = dc_isa_env_problem();
    if (requested == NULL)
        return best;
    if (problem != NULL) {
        static atomic_int warned;
        if (atomic_exchange(&warned, 1) == 0)
            fprintf(stderr, "deepc: warning: %s\n", problem);
        return best;
    }
    for (int isa = 0; isa < DC_ISA_COUNT; isa++)
        if (strcmp(requested, dc_isa_name((dc_isa)isa)) == 0)
            return (dc_isa)isa;
    return best;
}

dc_isa dc_isa_active(void)
{
    int isa = atomic_load_explicit(&active_isa, memory_order_relaxed);
    if (isa < 0) {
        int expected = -1;
        int chosen = (int)default_isa();
        /* If dc_isa_set() won the race, keep its choice. */
        if (!atomic_compare_exchange_strong(&active_isa, &expected, chosen))
            return (dc_isa)expected;
        return (dc_isa)chosen;
    }
    return (dc_isa)isa;
}

int dc_isa_set(dc_isa isa)
{
    if ((int)isa < 0 || isa >= DC_ISA_COUNT || isa > dc_isa_detect())
        return -1;
    atomic_store_explicit(&active_isa, (int)isa, memory_order_relaxed);
    return 0;
}

const char *dc_isa_name(dc_isa isa)
{
    switch (isa) {
    case DC_ISA_PORTABLE:
        return "portable";
    case DC_ISA_AVX2:
        return "avx2";
    case DC_ISA_AVX512:
        return "avx512";
    default:
        return "unknown";
    }
}

/* Denormal floats take a microcode assist (~100x slower per op) and appear in training when
 * gradients decay; flushing them to zero slowed nothing we measured and sped GPT-2 up 5-8x
 * in PyTorch on our box. MXCSR is per thread, so every pool worker calls this on start. */
void dc_set_flush_denormal(void)
{
#if defined(__x86_64__) || defined(__i386__)
    const unsigned int flush_to_zero = 1u << 15;     /* FTZ: denormal results become 0 */
    const unsigned int denormals_are_zero = 1u << 6; /* DAZ: denormal inputs read as 0 */
    _mm_setcsr(_mm_getcsr() | flush_to_zero | denormals_are_zero);
#endif
}
