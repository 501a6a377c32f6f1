/* A small test framework: TEST(name) registers a test, CHECK* record failures and go on,
 * REQUIRE* stop the test. The runner (tests/main.c) runs every test (or those whose name
 * contains argv[1]), checks that each test leaves no live tensor behind, prints one line
 * per failure and a closing "N passed, N failed", and exits non-zero on any failure. */
#ifndef DC_TEST_H
#define DC_TEST_H

#include "deepc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*dc_test_fn)(void);
void dc_test_register(const char *name, dc_test_fn fn);
/* Record a failure of the running test (printf-style message). */
void dc_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Failures recorded so far in the running test. */
int dc_test_failures(void);

#define TEST(name)                                                                             \
    static void name(void);                                                                    \
    __attribute__((constructor)) static void register_##name(void)                             \
    {                                                                                          \
        dc_test_register(#name, name);                                                         \
    }                                                                                          \
    static void name(void)

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) dc_test_fail(__FILE__, __LINE__, "CHECK(%s) failed; last error: %s",     \
                                  #cond, dc_last_error());                                     \
    } while (0)

/* CHECK with a printf-style message of the test's own. */
#define EXPECT(cond, ...)                                                                      \
    do {                                                                                       \
        if (!(cond)) dc_test_fail(__FILE__, __LINE__, __VA_ARGS__);                            \
    } while (0)

#define REQUIRE(cond)                                                                          \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            dc_test_fail(__FILE__, __LINE__, "REQUIRE(%s) failed; last error: %s", #cond,      \
                         dc_last_error());                                                     \
            return;                                                                            \
        }                                                                                      \
    } while (0)

/* |a - b| <= tol (absolute). */
#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double a_ = (a), b_ = (b);                                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                                         \
            dc_test_fail(__FILE__, __LINE__, "CHECK_NEAR(%s, %s): %.9g vs %.9g (tol %g)", #a,  \
                         #b, a_, b_, (double)(tol));                                           \
    } while (0)

/* An error is expected: the call returned NULL / -1 and the message contains `fragment`. */
#define CHECK_ERROR(failed, fragment)                                                          \
    do {                                                                                       \
        dc_clear_error();                                                                      \
        bool failed_ = (failed);                                                               \
        if (!failed_ || !strstr(dc_last_error(), (fragment)))                                  \
            dc_test_fail(__FILE__, __LINE__, "expected an error containing '%s', got %s '%s'", \
                         (fragment), failed_ ? "failure" : "success", dc_last_error());        \
        dc_clear_error();                                                                      \
    } while (0)

/* Compare n values with a mixed tolerance |a-b| <= atol + rtol*|b|; reports the worst. */
int dc_test_allclose(const char *file, int line, const char *what, const double *a,
                     const double *b, int64_t n, double rtol, double atol);
#define CHECK_ALLCLOSE(what, a, b, n, rtol, atol)                                              \
    dc_test_allclose(__FILE__, __LINE__, (what), (a), (b), (n), (rtol), (atol))

/* Tests that need an optional library ("jansson", "zlib", "libpng"): true if it was built in;
 * otherwise prints "skipped: LIB not installed (test)" and returns false. */
bool dc_test_have(const char *lib);

/* Files for tests that write and corrupt them: a unique path "/tmp/deepc_test_<pid>_<tag>"
 * in buf; a whole file in a malloc'ed buffer (caller frees; NULL if unreadable); a write. */
const char *dc_test_tmp_path(char *buf, size_t size, const char *tag);
unsigned char *dc_test_read_file(const char *path, size_t *len);
bool dc_test_write_file(const char *path, const void *data, size_t len);

/* Run "<build dir>/COMMAND" (the build dir: the one holding this test binary) through the
 * shell with stderr merged into stdout; keeps the first size - 1 bytes of the output in out
 * and returns the exit status, -1 if it could not run. */
int dc_test_run_built(const char *command, char *out, size_t size);
/* dc_test_run_built of "deepc ARGS" (printf-style): the CLI of the test's build dir. */
int dc_test_deepc(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Run dc_test_deepc into the char array buf and expect exit status `status` and `fragment`
 * in the output (a failure shows both). */
#define CHECK_DEEPC_INTO(buf, status, fragment, ...)                                           \
    do {                                                                                       \
        int got_ = dc_test_deepc(buf, sizeof buf, __VA_ARGS__);                                \
        EXPECT(got_ == (status) && strstr(buf, (fragment)),                                    \
               "deepc exited %d (want %d), output %s '%s':\n%s", got_, (status),               \
               strstr(buf, (fragment)) ? "has" : "lacks", (fragment), buf);                    \
    } while (0)
/* A fresh directory "/tmp/deepc_<tag>_XXXXXX" in buf (NULL on failure), and its removal. */
const char *dc_test_temp_dir(char *buf, size_t size, const char *tag);
void dc_test_remove_dir(const char *dir);

/* A training task's contract, end to end (deepc/task.h): its defaults, then `options` as a
 * config file's text ("width = 16\n", may be NULL), setup with data (seed 0, the given batch),
 * `steps` AdamW steps at lr (or the task's own updates), a validation and a test evaluation
 * (each must give a finite loss or metrics[0]), render and generate (4 samples) into a
 * temporary directory (removed after), close. The mean loss of
 * the first and the last quarter of the steps go to *first, *last (the caller checks they
 * fall); metrics: the test metrics (may be NULL). Returns false after recording a failure. */
bool dc_test_train_task(const dc_task *task, const char *options, int64_t batch, double lr,
                        int steps, double *first, double *last, dc_metrics *metrics);

/* Tensor -> malloc'ed double array (caller frees), NULL on error. */
double *dc_test_values(const dc_tensor *t);

#endif
