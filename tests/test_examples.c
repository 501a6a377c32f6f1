/* The examples and the CLI, run as a user would run them (the runner's cwd is tests/).
 *
 * The programs are taken from the directory of this test binary, so `make test` checks
 * build/ and `make asan` checks the sanitized programs in build-asan/. Each test reads the
 * program's output through popen() and checks its exit status and a line of its output. */
#include "test.h"

#include <stdlib.h>

#define OUTPUT_SIZE 65536

/* Runs command, expects exit status `want_status` and `fragment` in the output. */
#define CHECK_PROGRAM(command, want_status, fragment)                                              \
    do {                                                                                           \
        static char out_[OUTPUT_SIZE];                                                             \
        int status_ = dc_test_run_built((command), out_, sizeof out_);                             \
        if (status_ != (want_status) || !strstr(out_, (fragment)))                                 \
            dc_test_fail(__FILE__, __LINE__, "'%s' exited %d (want %d), output %s '%s':\n%s",      \
                         (command), status_, (want_status),                                        \
                         strstr(out_, (fragment)) ? "has" : "lacks", (fragment), out_);            \
    } while (0)

TEST(test_examples_micrograd_matches_pytorch_and_finite_differences)
{
    CHECK_PROGRAM("examples/micrograd", 0, "all checks passed");
}

TEST(test_examples_custom_function_newton_matches_adam)
{
    CHECK_PROGRAM("examples/custom_function", 0, "newton and adam agree");
}

TEST(test_examples_readme_example_runs)
{
    CHECK_PROGRAM("examples/readme_example", 0, "expected error: dc_matmul");
}

/* 200 full-batch Adam steps on 300 points already separate the arms: the demo's claim of > 95%
 * held-out accuracy is checked here with a shorter run than `make demo`. */
TEST(test_examples_mlp_modules_trains_and_saves_a_checkpoint)
{
#ifdef DC_HAVE_JANSSON
    CHECK_PROGRAM("examples/mlp_modules", 0, "train accuracy");
#else /* its checkpoint cannot be written: it says why */
    printf("  note: deepc built without jansson; checking mlp_modules' error instead\n");
    CHECK_PROGRAM("examples/mlp_modules", 1, "built without jansson");
#endif
}

TEST(test_examples_spiral_mlp_learns_the_spiral)
{
    static char out[OUTPUT_SIZE];
    int status = dc_test_run_built("examples/spiral_mlp --steps 200 --points 100", out, sizeof out);
    CHECK(status == 0);
    const char *line = strstr(out, "held-out accuracy ");
    double accuracy = 0;
    if (!line || sscanf(line, "held-out accuracy %lf", &accuracy) != 1 || accuracy <= 95.0)
        dc_test_fail(__FILE__, __LINE__, "spiral_mlp: status %d, held-out accuracy %.1f%%:\n%s",
                     status, accuracy, out);
}

TEST(test_examples_spiral_mlp_rejects_bad_arguments)
{
    CHECK_PROGRAM("examples/spiral_mlp --steps nope", 2, "bad --steps");
    CHECK_PROGRAM("examples/spiral_mlp --bogus", 2, "unknown argument");
}

TEST(test_examples_cli_info_and_help)
{
    CHECK_PROGRAM("deepc info", 0, "kernels:");
    CHECK_PROGRAM("deepc --version", 0, DC_VERSION);
    CHECK_PROGRAM("deepc --help", 0, "bench");
    CHECK_PROGRAM("deepc bench --help", 0, "usage: deepc bench gemm");
    CHECK_PROGRAM("deepc bench gemm --size 64 --runs 3", 0, "GFLOP/s");
}

TEST(test_examples_cli_errors_exit_nonzero)
{
    CHECK_PROGRAM("deepc bogus", 2, "unknown command 'bogus'");
    CHECK_PROGRAM("deepc", 2, "usage");
    CHECK_PROGRAM("deepc info --bogus", 2, "unknown argument");
    CHECK_PROGRAM("deepc bench gemm --size 0", 2, "--size expects");
    CHECK_PROGRAM("deepc train --bogus", 2, "unknown argument"); /* more in tests/test_cli.c */
}

/* The benchmark programs speak bench/run.py's protocol ("time <workload> <seconds>"), and
 * reject unknown workloads: a smoke run of one batch each (make bench itself is not a test). */
TEST(test_bench_programs_print_times_and_reject_unknown_workloads)
{
    CHECK_PROGRAM("bench/bench_train --threads 1 --reps 1 --batches 1 mlp lenet", 0,
                  "time lenet_epoch ");
    CHECK_PROGRAM("bench/bench_gemm --threads 2 --reps 1 64x32x48", 0, "time sgemm_64x32x48 ");
    CHECK_PROGRAM("bench/bench_train --reps 1 nosuch", 1, "unknown workload 'nosuch'");
}
