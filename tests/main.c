/* Test runner: see test.h. */
#include "test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *name;
    dc_test_fn fn;
} test_entry;

static test_entry *tests;
static int n_tests, cap_tests;
static int current_failures;
static const char *current_name;

void dc_test_register(const char *name, dc_test_fn fn)
{
    if (n_tests == cap_tests) {
        cap_tests = cap_tests ? cap_tests * 2 : 64;
        test_entry *grown = realloc(tests, (size_t)cap_tests * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "test registry: out of memory\n");
            return;
        }
        tests = grown;
    }
    tests[n_tests++] = (test_entry){name, fn};
}

void dc_test_fail(const char *file, int line, const char *fmt, ...)
{
    if (current_failures++ < 8) { /* first few failures of a test are enough to debug */
        printf("  FAIL %s (%s:%d): ", current_name, file, line);
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
}

int dc_test_failures(void) { return current_failures; }

bool dc_test_have(const char *lib)
{
    bool have = false;
#ifdef DC_HAVE_JANSSON
    have |= strcmp(lib, "jansson") == 0;
#endif
#ifdef DC_HAVE_ZLIB
    have |= strcmp(lib, "zlib") == 0;
#endif
#ifdef DC_HAVE_PNG
    have |= strcmp(lib, "libpng") == 0;
#endif
    if (!have) printf("skipped: %s not installed (%s)\n", lib, current_name);
    return have;
}

int dc_test_allclose(const char *file, int line, const char *what, const double *a,
                     const double *b, int64_t n, double rtol, double atol)
{
    int64_t worst = -1;
    double worst_excess = 0;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs(a[i] - b[i]), allowed = atol + rtol * fabs(b[i]);
        bool bad = !(err <= allowed); /* NaN counts as bad */
        if (bad && (worst < 0 || !(err - allowed <= worst_excess))) {
            worst = i;
            worst_excess = err - allowed;
        }
    }
    if (worst >= 0) {
        dc_test_fail(file, line, "%s: element %lld: %.9g vs expected %.9g (rtol %g, atol %g)",
                     what, (long long)worst, a[worst], b[worst], rtol, atol);
        return 0;
    }
    return 1;
}

double *dc_test_values(const dc_tensor *t)
{
    if (!t) return NULL;
    int64_t n = dc_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (v && dc_to_double_buffer(t, v, n) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* Directory holding this binary (e.g. "../build"), found once through /proc/self/exe. */
static const char *build_dir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        char *slash = n > 0 ? (dir[n] = '\0', strrchr(dir, '/')) : NULL;
        if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, "../build");
    }
    return dir;
}

int dc_test_run_built(const char *command, char *out, size_t size)
{
    char line[4352];
    snprintf(line, sizeof line, "%s/%s 2>&1", build_dir(), command);
    FILE *pipe = popen(line, "r");
    if (!pipe) return -1;
    size_t used = 0, got;
    char chunk[4096];
    while ((got = fread(chunk, 1, sizeof chunk, pipe)) > 0) /* drain it all, keep the start */
        for (size_t i = 0; i < got && used + 1 < size; i++) out[used++] = chunk[i];
    out[used] = '\0';
    int status = pclose(pipe);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *dc_test_tmp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/deepc_test_%ld_%s", (long)getpid(), tag);
    return buf;
}

unsigned char *dc_test_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = n >= 0 ? malloc(n > 0 ? (size_t)n : 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

bool dc_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return false;
    bool ok = fwrite(data, 1, len, fp) == len;
    return fclose(fp) == 0 && ok;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const test_entry *)a)->name, ((const test_entry *)b)->name);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    qsort(tests, (size_t)n_tests, sizeof *tests, by_name);
    int passed = 0, failed = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        current_name = tests[i].name;
        current_failures = 0;
        dc_clear_error();
        dc_manual_seed(1234);
        int64_t live_before = dc_live_tensors();
        size_t scope = dc_scope_begin();
        tests[i].fn();
        dc_scope_end(scope);
        int64_t leaked = dc_live_tensors() - live_before;
        if (leaked != 0)
            dc_test_fail(__FILE__, __LINE__, "%lld tensor(s) still alive after the test",
                         (long long)leaked);
        if (current_failures) failed++;
        else passed++;
        printf("%s %s\n", current_failures ? "FAIL" : "ok  ", current_name);
    }
    free(tests);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

int dc_test_deepc(char *out, size_t size, const char *fmt, ...)
{
    char args[4096], line[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(line, sizeof line, "deepc %s", args);
    return dc_test_run_built(line, out, size);
}

const char *dc_test_temp_dir(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/deepc_%s_XXXXXX", tag);
    return mkdtemp(buf);
}

void dc_test_remove_dir(const char *dir)
{
    char command[4200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
}
