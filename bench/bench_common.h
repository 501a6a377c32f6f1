/* Shared helpers of the C benchmark programs in bench/ (header-only: each program is one
 * .c file linked against libdeepc).
 *
 * Output protocol, read by bench/run.py (the PyTorch scripts bench/torch_*.py print the same):
 *   info <key> <value...>        facts about the run (ISA, threads, data source, ...)
 *   time <workload> <seconds>    one timed repetition of a workload
 * Anything else on stdout is ignored by the driver; errors go to stderr with exit code 1. */
#ifndef DEEPC_BENCH_COMMON_H
#define DEEPC_BENCH_COMMON_H

#include <deepc.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Options every program takes: --threads T (default 2, the benchmark's fixed count) and
 * --reps R (timed repetitions per workload, default 3). Other arguments are left in
 * argv[first_positional..argc) for the program, which must not start with "--". Returns 0,
 * or -1 after printing a usage error. */
typedef struct {
    int threads, reps;
    int first_positional;
    long batches; /* --batches N (training programs: batches per timed repetition, 0 = all) */
} bench_options;

static inline int bench_parse_options(int argc, char **argv, bench_options *opt)
{
    opt->threads = 2, opt->reps = 3, opt->batches = 0;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (i + 1 >= argc) {
            fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[i]);
            return -1;
        }
        long value = strtol(argv[i + 1], NULL, 10);
        if (strcmp(argv[i], "--threads") == 0 && value >= 1) opt->threads = (int)value;
        else if (strcmp(argv[i], "--reps") == 0 && value >= 1) opt->reps = (int)value;
        else if (strcmp(argv[i], "--batches") == 0 && value >= 0) opt->batches = value;
        else {
            fprintf(stderr, "%s: bad option %s %s\n", argv[0], argv[i], argv[i + 1]);
            return -1;
        }
        i++;
    }
    opt->first_positional = i;
    return 0;
}

/* Fix the thread count and report what the driver puts in the table's header. */
static inline int bench_setup(const bench_options *opt)
{
    if (dc_set_num_threads(opt->threads) != 0) {
        fprintf(stderr, "cannot use %d threads: %s\n", opt->threads, dc_last_error());
        return -1;
    }
    printf("info isa %s\n", dc_kernel_isa());
    printf("info threads %d\n", dc_get_num_threads());
    return 0;
}

/* The end of a training step that built `loss` inside `scope`: backward, optimizer step,
 * zero the gradients, end the scope. Returns the loss value, or NAN on failure. */
static inline double bench_finish_step(dc_tensor *loss, dc_optimizer *opt, size_t scope)
{
    double value = NAN;
    if (loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0) value = dc_item(loss);
    dc_optimizer_zero_grad(opt);
    dc_scope_end(scope);
    return value;
}

/* One training step on (x, y); returns the loss or NAN. */
typedef double (*bench_step_fn)(dc_module *model, dc_optimizer *opt, dc_tensor *x, dc_tensor *y);

/* `warmup` untimed steps (their seconds as info lines), then `reps` timed ones printed as
 * "time NAME seconds", then the final loss. Returns false (message on stderr) on failure. */
static inline bool bench_time_steps(const char *name, int warmup, int reps, bench_step_fn step,
                                    dc_module *model, dc_optimizer *opt, dc_tensor *x,
                                    dc_tensor *y)
{
    bool ok = true;
    double loss = NAN;
    for (int s = 0; s < warmup && ok; s++) {
        double start = bench_now();
        ok = !isnan(step(model, opt, x, y));
        printf("info %s_warmup%d_seconds %.3f\n", name, s, bench_now() - start);
    }
    for (int r = 0; r < reps && ok; r++) {
        double start = bench_now();
        loss = step(model, opt, x, y);
        ok = !isnan(loss);
        if (ok) printf("time %s %.6f\n", name, bench_now() - start);
        fflush(stdout);
    }
    if (ok) printf("info %s_final_loss %.4f\n", name, loss);
    else fprintf(stderr, "%s failed: %s\n", name, dc_last_error());
    return ok;
}

/* A program's workloads by name. bench_main parses the options, sets up, and runs the
 * workloads named on the command line in order; exit status 1 at the first unknown name
 * or failure. */
typedef struct {
    const char *name;
    int (*run)(const bench_options *opt); /* 0 on success */
} bench_workload;

static inline int bench_main(int argc, char **argv, const bench_workload *workloads, size_t n)
{
    bench_options opt;
    if (bench_parse_options(argc, argv, &opt) != 0 || bench_setup(&opt) != 0) return 1;
    for (int i = opt.first_positional; i < argc; i++) {
        const bench_workload *w = NULL;
        for (size_t k = 0; k < n && !w; k++)
            if (strcmp(argv[i], workloads[k].name) == 0) w = &workloads[k];
        if (!w) {
            fprintf(stderr, "%s: unknown workload '%s' (", argv[0], argv[i]);
            for (size_t k = 0; k < n; k++)
                fprintf(stderr, "%s%s", k ? ", " : "", workloads[k].name);
            fprintf(stderr, ")\n");
            return 1;
        }
        if (w->run(&opt) != 0) return 1;
    }
    return 0;
}

#endif
