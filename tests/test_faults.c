/* Fault tests of a training run (README "Reliability: fault tests"): what deepc guarantees
 * when things go wrong. A full disk (RLIMIT_FSIZE on the child: writes past the limit fail
 * with EFBIG, as on a full disk, with no root or tmpfs needed) keeps the old log and
 * checkpoint and leaves no partial file; SIGKILL at random moments (also during a checkpoint
 * write) always leaves a loadable checkpoint, the next run removes the dead run's temporaries,
 * and resuming reaches the uninterrupted run's weights bit for bit (also from a --save-every
 * checkpoint in the middle of an epoch); divergence is named; a long training loop keeps a
 * constant RSS; bad flags, config lines, environment variables and crafted checkpoint
 * metadata are clear errors. The runs are tiny (a 1-layer GPT on the committed names sample)
 * so the whole file takes a few seconds. */
#include "test.h"

#include "../tools/cli.h"
#include "kernels/kernels.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- Running deepc as a child process ------------------------------------------------------ */

typedef struct {
    const char *env[3]; /* "NAME=value" set in the child */
    long max_file_bytes; /* > 0: RLIMIT_FSIZE of the child (SIGXFSZ ignored: writes fail) */
} child_opts;

/* "<directory of this test binary>/deepc" */
static const char *deepc_path(void)
{
    static char path[4200];
    if (!path[0]) {
        char exe[4096];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(path, sizeof path, "%s/deepc", exe);
    }
    return path;
}

/* Start deepc with the blank-separated arguments of `args` (no quoting: the paths here have
 * no blanks), its stdout and stderr into the pipe end `out_fd` (or /dev/null when -1). */
static pid_t spawn_deepc(const child_opts *o, int out_fd, const char *args)
{
    char buf[4096], *argv[64];
    snprintf(buf, sizeof buf, "%s", args);
    int argc = 0;
    argv[argc++] = (char *)deepc_path();
    for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
    argv[argc] = NULL;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
    dup2(fd, 1), dup2(fd, 2);
    for (int i = 0; o && i < 3 && o->env[i]; i++) putenv((char *)o->env[i]);
    if (o && o->max_file_bytes > 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {(rlim_t)o->max_file_bytes, (rlim_t)o->max_file_bytes};
        setrlimit(RLIMIT_FSIZE, &limit);
    }
    execv(argv[0], argv);
    _exit(127);
}

/* Exit status of a child: its code, or 128 + the signal that killed it. */
static int child_status(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

enum { OUT_SIZE = 1 << 16 };
static char out[OUT_SIZE];

/* Run deepc ARGS (printf-style) to its end; its output (stderr merged) into `out`. */
static int run_deepc(const child_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run_deepc(const child_opts *o, const char *fmt, ...)
{
    char args[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    int fds[2];
    out[0] = '\0';
    if (pipe(fds) != 0) return -1;
    pid_t pid = spawn_deepc(o, fds[1], args);
    close(fds[1]);
    size_t used = 0;
    ssize_t got;
    char chunk[4096];
    while ((got = read(fds[0], chunk, sizeof chunk)) > 0 || (got < 0 && errno == EINTR))
        for (ssize_t i = 0; i < got && used + 1 < sizeof out; i++) out[used++] = chunk[i];
    out[used] = '\0';
    close(fds[0]);
    return pid > 0 ? child_status(pid) : -1;
}

/* deepc ARGS must exit with `status` and print `fragment`. */
#define CHECK_RUN(opts, status, fragment, ...)                                                    \
    do {                                                                                          \
        int got_ = run_deepc((opts), __VA_ARGS__);                                                \
        EXPECT(got_ == (status) && strstr(out, (fragment)),                                       \
               "deepc exited %d (want %d), output %s '%s':\n%s", got_, (status),                  \
               strstr(out, (fragment)) ? "has" : "lacks", (fragment), out);                       \
    } while (0)

/* ---- Files ------------------------------------------------------------------------------ */

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unsigned char *data = dc_test_read_file(path, len);
    return (char *)data;
}

static bool same_file(const char *dir_a, const char *dir_b, const char *name)
{
    size_t la = 0, lb = 0;
    char *a = slurp(dir_a, name, &la), *b = slurp(dir_b, name, &lb);
    bool same = a && b && la == lb && memcmp(a, b, la) == 0;
    free(a), free(b);
    return same;
}

static bool exists(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* Names in dir holding ".tmp." (the atomic writes' temporaries). */
static int count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

/* Lines of `out` starting with `prefix`. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    for (const char *line = text; *line; line += strcspn(line, "\n"), line += *line == '\n')
        n += !strncmp(line, prefix, strlen(prefix));
    return n;
}

/* A checkpoint deepc eval and sample can use: its run rebuilt and its weights loaded. */
static bool loadable(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    run r;
    fflush(stderr);
    int saved = dup(2), null = open("/dev/null", O_WRONLY); /* its errors are expected noise */
    dup2(null, 2);
    int rc = run_open_checkpoint(&r, path, false, "test", NULL);
    dup2(saved, 2), close(saved), close(null);
    run_close(&r);
    dc_clear_error();
    return rc == 0;
}

#define SAMPLE "../assets/names_sample.txt"
#define TINY_GPT "--model gpt --layers 1 --heads 2 --dim 32 --context 16 --batch 8 --data " SAMPLE

/* A small MNIST-format set in dir (train: 256 images, t10k: 64; 28x28, pixels and labels
 * from a fixed formula), so image runs need no installed data and load in no time. */
static bool write_tiny_mnist(const char *dir)
{
    for (int train = 0; train < 2; train++) {
        uint32_t n = train ? 256 : 64;
        size_t image_bytes = 16 + (size_t)n * 784, label_bytes = 8 + n;
        unsigned char *images = malloc(image_bytes), *labels = malloc(label_bytes);
        if (!images || !labels) return free(images), free(labels), false;
        uint32_t image_head[4] = {0x803, n, 28, 28}, label_head[2] = {0x801, n};
        for (int i = 0; i < 16; i++) images[i] = (unsigned char)(image_head[i / 4] >> (24 - 8 * (i % 4)));
        for (int i = 0; i < 8; i++) labels[i] = (unsigned char)(label_head[i / 4] >> (24 - 8 * (i % 4)));
        for (uint32_t i = 0; i < n; i++) {
            labels[8 + i] = (unsigned char)(i * 7 % 10);
            for (int p = 0; p < 784; p++) /* a class-dependent stripe plus texture */
                images[16 + (size_t)i * 784 + (size_t)p] =
                    (unsigned char)((p % 28 / 3 == labels[8 + i] ? 200 : 0) + (i * 31 + (unsigned)p * 17) % 50);
        }
        char path[256];
        snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, train ? "train" : "t10k");
        bool ok = dc_test_write_file(path, images, image_bytes);
        snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, train ? "train" : "t10k");
        ok = ok && dc_test_write_file(path, labels, label_bytes);
        free(images), free(labels);
        if (!ok) return false;
    }
    return true;
}

/* ---- A full disk ------------------------------------------------------------------------- */

/* The regression: log.csv's rewrite fails at fclose (the data past the limit), and the old
 * code renamed the partial temporary over the good log anyway. */
TEST(test_faults_full_disk_keeps_the_old_log_and_checkpoint_and_names_the_error)
{
    if (!dc_test_have("jansson")) return;
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    CHECK_RUN(NULL, 0, "epoch 1/1", "train " TINY_GPT " --epochs 1 --steps-per-epoch 12 "
                                    "--log-every 1 --out %s", dir);
    size_t log_len = 0;
    char *log = slurp(dir, "log.csv", &log_len);
    REQUIRE(log && log_len > 400);
    child_opts full = {{NULL}, (long)log_len / 2}; /* the new log (longer) cannot be written */
    CHECK_RUN(&full, 1, "log.csv: File too large", "train --resume --epochs 2 --out %s", dir);
    EXPECT(count_lines(out, "deepc train:") == 1, "want one error line:\n%s", out);
    size_t now_len = 0;
    char *now = slurp(dir, "log.csv", &now_len);
    EXPECT(now && now_len == log_len && !memcmp(now, log, log_len), "log.csv changed: %zu -> %zu bytes",
           log_len, now_len);
    CHECK(count_temps(dir) == 0);
    CHECK(loadable(dir));
    free(log), free(now);
    dc_test_remove_dir(dir);
}

/* A fresh run into a directory that fills up: status 1, one line naming the file and the
 * error, no checkpoint and no temporaries (every file there is complete). */
TEST(test_faults_full_output_directory_gives_one_line_and_no_partial_file)
{
    if (!dc_test_have("jansson")) return;
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    child_opts full = {{NULL}, 16384}; /* the tokenizer, log and plot fit, the checkpoint not */
    CHECK_RUN(&full, 1, "File too large", "train " TINY_GPT " --epochs 1 --steps-per-epoch 2 "
                                          "--out %s", dir);
    CHECK(strstr(out, "checkpoint.safetensors"));
    EXPECT(count_lines(out, "deepc train:") == 1, "want one error line:\n%s", out);
    CHECK(!exists(dir, "checkpoint.safetensors"));
    CHECK(count_temps(dir) == 0);
    size_t len = 0;
    char *log = slurp(dir, "log.csv", &len);
    CHECK(log && len > 0 && log[len - 1] == '\n');
    free(log);
    dc_test_remove_dir(dir);
}

/* Directories that cannot be made, and runs that fail before writing anything: status 1, one
 * line, and no directory left behind. */
TEST(test_faults_unwritable_out_and_failed_runs_leave_no_empty_directories)
{
    char dir[64], nested[128];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    CHECK_RUN(NULL, 1, "cannot create the directory /proc/deepc_run",
              "train " TINY_GPT " --epochs 1 --steps-per-epoch 1 --out /proc/deepc_run");
    CHECK_RUN(NULL, 1, "Not a directory", "train " TINY_GPT " --epochs 1 --steps-per-epoch 1 "
                                          "--out /dev/null/run");
    snprintf(nested, sizeof nested, "%s/a/b", dir);
    CHECK_RUN(NULL, 1, "cannot read the text file", "train --model gpt --data /nonexistent.txt "
                                                    "--out %s", nested);
    CHECK(!exists(dir, "a"));
    /* a failure at the first step (a context longer than the sample's windows allow is
     * caught before; a bad thread count is usage): an error after the directory is made */
    child_opts full = {{NULL}, 1}; /* not even the tokenizer fits */
    CHECK_RUN(&full, 1, "File too large", "train " TINY_GPT " --epochs 1 --steps-per-epoch 1 "
                                          "--out %s", nested);
    CHECK(!exists(dir, "a"));
    CHECK(count_temps(dir) == 0);
    dc_test_remove_dir(dir);
}

/* ---- Crashes ------------------------------------------------------------------------------ */

/* Wait (up to timeout_us) until the checkpoint temporary of process pid shows in dir: the
 * process is then in the middle of a checkpoint write. */
static void wait_for_checkpoint_write(const char *dir, pid_t pid, long timeout_us)
{
    char name[64];
    snprintf(name, sizeof name, "checkpoint.safetensors.tmp.%ld", (long)pid);
    struct timespec poll = {0, 50000};
    for (long waited = 0; waited < timeout_us && !exists(dir, name); waited += 50)
        nanosleep(&poll, NULL);
}

/* An uninterrupted run, and one killed with SIGKILL and resumed again and again (checkpoints
 * every step): every other kill at a random moment, the others as soon as a checkpoint write
 * has begun. After every kill the last checkpoint loads; the temporaries of dead runs are
 * removed by the next run (not those of a live process); the final checkpoint is the
 * uninterrupted run's, byte for byte. */
TEST(test_faults_sigkill_at_random_moments_leaves_a_loadable_checkpoint_and_resumes_exactly)
{
    if (!dc_test_have("jansson")) return;
    char a[64], b[64], path[256];
    REQUIRE(dc_test_temp_dir(a, sizeof a, "faults") && dc_test_temp_dir(b, sizeof b, "faults"));
    const char *args = TINY_GPT " --dropout 0.1 --epochs 2 --steps-per-epoch 6 --save-every 1";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RUN(NULL, 0, "epoch 2/2", "train %s --out %s", args, a);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long run_us = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
    /* temporaries of a dead process (a child that has exited) and of a live one (us) */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    REQUIRE(dead > 0 && child_status(dead) == 0);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors.tmp.%ld", b, (long)dead);
    REQUIRE(dc_test_write_file(path, "partial", 7));
    snprintf(path, sizeof path, "%s/log.csv.tmp.%ld", b, (long)getpid());
    REQUIRE(dc_test_write_file(path, "in use", 6));
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    int kills = 0, mid_write = 0;
    for (int round = 0; round < 12; round++) {
        char command[1024];
        snprintf(command, sizeof command, "train %s --out %s%s", args, b,
                 exists(b, "checkpoint.safetensors") ? " --resume" : "");
        pid_t pid = spawn_deepc(NULL, -1, command);
        REQUIRE(pid > 0);
        if (round % 2) {
            wait_for_checkpoint_write(b, pid, 2 * run_us);
        } else {
            long delay_us = (long)((double)rand() / RAND_MAX * 0.5 * (double)run_us);
            struct timespec pause = {delay_us / 1000000, delay_us % 1000000 * 1000};
            nanosleep(&pause, NULL);
        }
        kill(pid, SIGKILL);
        int status = child_status(pid);
        if (status == 128 + SIGKILL) kills++;
        else EXPECT(status == 0, "round %d: deepc exited %d (seed %u)", round, status, seed);
        if (status == 0) break; /* it finished first */
        mid_write += count_temps(b) > 1; /* more than our live process's */
        if (exists(b, "checkpoint.safetensors"))
            EXPECT(loadable(b), "round %d: the checkpoint does not load (seed %u)", round, seed);
    }
    CHECK_RUN(NULL, 0, "", "train %s --out %s%s", args, b,
              exists(b, "checkpoint.safetensors") ? " --resume" : "");
    printf("note: %d kills, %d left a temporary (seed %u)\n", kills, mid_write, seed);
    EXPECT(same_file(a, b, "checkpoint.safetensors"), "the resumed run differs (seed %u)", seed);
    snprintf(path, sizeof path, "%s/checkpoint.safetensors.tmp.%ld", b, (long)dead);
    CHECK(access(path, F_OK) != 0);
    snprintf(path, sizeof path, "%s/log.csv.tmp.%ld", b, (long)getpid());
    CHECK(access(path, F_OK) == 0);
    CHECK(count_temps(b) == 1);
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

/* A crash (DEEPC_DEBUG_KILL_AFTER_STEP: SIGKILL right after that step's update) after a
 * --save-every checkpoint in the middle of an epoch: resuming from it retakes the lost steps
 * and ends on the uninterrupted run's bytes. Text (random windows, dropout) and, when the
 * data is installed, images (the loader's shuffled order, random crops). */
static void check_crash_resume(const char *args, int save_every, int kill_after,
                               const char *want_step)
{
    char a[64], b[64], env[64];
    if (!dc_test_temp_dir(a, sizeof a, "faults") || !dc_test_temp_dir(b, sizeof b, "faults")) {
        EXPECT(false, "no temporary directory");
        return;
    }
    CHECK_RUN(NULL, 0, "epoch 2/2", "train %s --out %s", args, a);
    snprintf(env, sizeof env, "DEEPC_DEBUG_KILL_AFTER_STEP=%d", kill_after);
    child_opts crash = {{env}, 0};
    CHECK_RUN(&crash, 128 + SIGKILL, "", "train %s --save-every %d --out %s", args, save_every, b);
    CHECK(loadable(b));
    CHECK_RUN(NULL, 0, want_step, "info --checkpoint %s/checkpoint.safetensors", b);
    dc_safetensors *f = NULL;
    char path[128];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", b);
    f = dc_safetensors_open(path);
    const char *step = f ? dc_safetensors_metadata(f, "step") : NULL;
    EXPECT(step && !strcmp(step, want_step), "checkpoint step %s, want %s", step ? step : "none",
           want_step);
    dc_safetensors_close(f);
    CHECK_RUN(NULL, 0, "(resumed)", "train --resume --out %s", b);
    CHECK(same_file(a, b, "checkpoint.safetensors"));
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

TEST(test_faults_resume_from_a_mid_epoch_save_every_checkpoint_is_bit_exact)
{
    if (!dc_test_have("jansson")) return;
    /* 6 steps an epoch, saved at 4, 6 (the epoch's end), 8; killed after 9: resumed from 8,
     * in the middle of epoch 2 */
    check_crash_resume(TINY_GPT " --dropout 0.1 --epochs 2 --steps-per-epoch 6", 4, 9, "8");
    /* images: 5 steps an epoch, saved at 3, 5, 6; killed after 7: resumed from 6 */
    char data[64], args[256];
    REQUIRE(dc_test_temp_dir(data, sizeof data, "faults") && write_tiny_mnist(data));
    snprintf(args, sizeof args, "--data-dir %s --hidden 16 --epochs 2 --steps-per-epoch 5 "
                                "--batch 32 --val 64 --augment", data);
    check_crash_resume(args, 3, 7, "6");
    dc_test_remove_dir(data);
}

/* ---- Divergence ------------------------------------------------------------------------------ */

TEST(test_faults_divergence_is_named_with_the_step_the_loss_and_the_parameter)
{
    if (!dc_test_have("jansson")) return;
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    const char *sgd = TINY_GPT " --epochs 1 --optim sgd --lr 100 --clip 0 --schedule constant";
    CHECK_RUN(NULL, 1, "; stopping", "train %s --out %s", sgd, dir);
    CHECK(strstr(out, "deepc train: step ") && strstr(out, "the loss is "));
    CHECK(strstr(out, "the gradient of ") && strstr(out, "not finite"));
    CHECK(strstr(out, "warning: the loss is diverging"));
    CHECK(loadable(dir) || !exists(dir, "checkpoint.safetensors"));
    /* --on-nonfinite skip: such steps are skipped (warned), the run stops only after 10 */
    CHECK_RUN(NULL, 1, "after 10 such steps in a row", "train %s --on-nonfinite skip --out %s",
              sgd, dir);
    CHECK(strstr(out, "skipped (no update)"));
    /* AdamW at lr 100 stays finite but explodes: the run ends, with a warning */
    CHECK_RUN(NULL, 0, "warning: the loss is diverging",
              "train " TINY_GPT " --epochs 1 --steps-per-epoch 10 --lr 100 --out %s", dir);
    CHECK(strstr(out, "try a lower --lr"));
    CHECK_RUN(NULL, 0, "epoch 1/1", "train " TINY_GPT " --epochs 1 --steps-per-epoch 10 --out %s",
              dir);
    CHECK(!strstr(out, "diverging"));
    dc_test_remove_dir(dir);
}

/* ---- Memory --------------------------------------------------------------------------------- */

static long rss_pages(void)
{
    long size = 0, resident = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f && fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    if (f) fclose(f);
    return resident;
}

/* A small MLP trained with AdamW: RSS after 20,000 steps is that after 2,000 (within 2% and
 * 64 pages). Skipped under AddressSanitizer, whose quarantine keeps freed memory resident
 * (its leak checker covers the same ground there). */
TEST(test_faults_a_long_training_loop_keeps_a_constant_rss)
{
#if defined(__SANITIZE_ADDRESS__)
    printf("note: skipped under AddressSanitizer\n");
    return;
#endif
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_module *model = dc_sequential_new(3, dc_linear_new(4, 16, true, &rng),
                                         dc_activation_new(DC_ACT_RELU, 0),
                                         dc_linear_new(16, 3, true, &rng));
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(8, 4));
    dc_tensor *y = dc_from_buffer(DC_I64, DC_SHAPE(8), (int64_t[]){0, 1, 2, 0, 1, 2, 0, 1});
    dc_tensor_list params;
    REQUIRE(model && x && y && dc_module_parameters(model, &params) == 0);
    dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 1e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    REQUIRE(opt);
    long before = -1, after = -1;
    bool ok = true;
    for (int step = 0; step < 20000 && ok; step++) {
        if (step == 2000) before = rss_pages();
        size_t s = dc_scope_begin();
        dc_tensor *loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
        ok = loss && dc_backward(loss) == 0 && dc_clip_grad_norm(&params, 1.0) >= 0 &&
             dc_optimizer_step(opt) == 0;
        dc_optimizer_zero_grad(opt);
        dc_scope_end(s);
    }
    after = rss_pages();
    CHECK(ok);
    long page_kb = sysconf(_SC_PAGESIZE) / 1024;
    EXPECT(before > 0 && after <= before + before / 50 + 64,
           "RSS grew from %ld KB at step 2000 to %ld KB at step 20000", before * page_kb,
           after * page_kb);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    dc_scope_end(scope);
}

/* ---- Bad input ------------------------------------------------------------------------------ */

/* A checkpoint whose metadata names a tokenizer outside its directory is refused before
 * anything is read. */
TEST(test_faults_crafted_tokenizer_file_in_a_checkpoint_is_refused)
{
    if (!dc_test_have("jansson")) return;
    char dir[64], path[128];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", dir);
    const char *bad[] = {"../../../../etc/passwd", "/etc/passwd", "..", "", "sub/tokenizer.txt",
                         "."};
    for (int i = 0; i < 6; i++) {
        const char *kv[] = {"deepc", DC_VERSION, "model", "gpt", "tokenizer_file", bad[i]};
        REQUIRE(dc_safetensors_save(path, NULL, 0, kv, 3) == 0);
        CHECK_RUN(NULL, 1, "must be a file name in the checkpoint's directory",
                  "sample --checkpoint %s", path);
        EXPECT(count_lines(out, "deepc sample:") == 1 && !strstr(out, "root:"), "%s", out);
        CHECK_RUN(NULL, 1, "must be a file name", "eval --checkpoint %s", path);
    }
    dc_test_remove_dir(dir);
}

/* The config parser (the seam tests and fuzzers call): a NUL byte and an over-long line are
 * errors naming the line; long lines under the limit neither split nor shift line numbers. */
TEST(test_faults_config_lines_with_nul_bytes_or_over_the_limit_are_errors)
{
    run_config cfg;
    char why[512];
    run_config_init(&cfg);
    const char nul[] = "epochs = 3\nmodel = g\0pt\n";
    CHECK(options_parse_buffer(run_options, &cfg, nul, sizeof nul - 1, why, sizeof why) ==
          EXIT_USAGE);
    EXPECT(!strcmp(why, "2: the line holds a NUL byte (not a text file?)"), "%s", why);
    CHECK(cfg.epochs == 3 && !cfg.model[0]);
    /* a 3000-byte comment line (the old 2047-byte buffer split it), then an error on line 3 */
    size_t n = 3000 + 64;
    char *text = malloc(OPTION_LINE_MAX + 64);
    REQUIRE(text);
    memset(text, ' ', 3000);
    text[0] = '#';
    n = 3000 + (size_t)sprintf(text + 3000, "\nbatch = 4\ncolour = blue\n");
    run_config_init(&cfg);
    CHECK(options_parse_buffer(run_options, &cfg, text, n, why, sizeof why) == EXIT_USAGE);
    EXPECT(!strcmp(why, "3: unknown key 'colour'"), "%s", why);
    CHECK(cfg.batch == 4);
    memset(text, 'x', OPTION_LINE_MAX + 1);
    CHECK(options_parse_buffer(run_options, &cfg, text, OPTION_LINE_MAX + 1, why, sizeof why) ==
          EXIT_USAGE);
    EXPECT(strstr(why, "1: the line is 4097 bytes long (at most 4096)"), "%s", why);
    free(text);
    /* no final newline, CRLF, blanks, comments */
    run_config_init(&cfg);
    const char ok[] = "  # c\r\nepochs=2\r\n\n dim = 64 # d\nlr = 0.5";
    CHECK(options_parse_buffer(run_options, &cfg, ok, sizeof ok - 1, why, sizeof why) == 0);
    CHECK(cfg.epochs == 2 && cfg.dim == 64 && cfg.lr == 0.5);
    /* through deepc: the file's line in the message, status 2, before any data is read */
    char dir[64], conf[128];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "faults"));
    snprintf(conf, sizeof conf, "%s/run.conf", dir);
    REQUIRE(dc_test_write_file(conf, nul, sizeof nul - 1));
    CHECK_RUN(NULL, 2, "run.conf:2: the line holds a NUL byte", "train --config %s", conf);
    dc_test_remove_dir(dir);
}

/* Bad option values are usage errors (status 2) found before any data is loaded: the data
 * directory given does not exist, so loading it would have been status 1. */
TEST(test_faults_bad_option_values_are_status_2_before_any_data_is_loaded)
{
    const char *no_data = "--data-dir /nonexistent";
    CHECK_RUN(NULL, 2, "0 is not a width in [1, 1000000]", "train --hidden 0 %s", no_data);
    CHECK_RUN(NULL, 2, "is not a width", "train --hidden 16,99999999 %s", no_data);
    CHECK_RUN(NULL, 2, "holds 'a'", "train --hidden 16,a %s", no_data);
    CHECK_RUN(NULL, 2, "an empty width", "train --hidden 16, %s", no_data);
    CHECK_RUN(NULL, 2, "--top-p expects a number in (0, 1]", "sample --checkpoint /nonexistent "
                                                             "--top-p 0");
    CHECK_RUN(NULL, 2, "--on-nonfinite expects one of stop|skip", "train --on-nonfinite maybe");
    CHECK_RUN(NULL, 2, "--save-every expects an integer", "train --save-every 0");
    char long_hidden[200];
    snprintf(long_hidden, sizeof long_hidden, "16");
    for (int i = 0; i < 60; i++) strcat(long_hidden, ",1");
    CHECK_RUN(NULL, 2, "--hidden: value too long", "train --hidden %s%s %s", long_hidden,
              ",1,1,1,1,1,1,1,1,1,1", no_data);
    /* more than 16 widths are all used (they used to be cut at 16) */
    CHECK_RUN(NULL, 0, "", "info --model mlp --hidden 4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4");
    int linear = 0;
    for (const char *p = out; (p = strstr(p, " Linear ")); p++) linear++;
    EXPECT(linear == 21, "want 21 Linear layers, the summary has %d:\n%s", linear, out);
}

/* DEEPC_NUM_THREADS and DEEPC_ISA: the library reports a bad value (and keeps its default),
 * the command makes it a usage error. */
TEST(test_faults_bad_environment_values_are_reported)
{
    const char *saved = getenv("DEEPC_NUM_THREADS");
    char *copy = saved ? strdup(saved) : NULL;
    setenv("DEEPC_NUM_THREADS", "lots", 1);
    const char *problem = dc_threads_env_problem();
    EXPECT(problem && strstr(problem, "DEEPC_NUM_THREADS='lots'"), "%s", problem ? problem : "NULL");
    setenv("DEEPC_NUM_THREADS", "0", 1);
    CHECK(dc_threads_env_problem() != NULL);
    setenv("DEEPC_NUM_THREADS", "3", 1);
    CHECK(dc_threads_env_problem() == NULL);
    if (copy) setenv("DEEPC_NUM_THREADS", copy, 1);
    else unsetenv("DEEPC_NUM_THREADS");
    free(copy);
    child_opts threads = {{"DEEPC_NUM_THREADS=lots"}, 0};
    CHECK_RUN(&threads, 2, "DEEPC_NUM_THREADS='lots' is not a thread count", "info");
    child_opts isa = {{"DEEPC_ISA=avx9"}, 0};
    CHECK_RUN(&isa, 2, "DEEPC_ISA='avx9' is not one of portable, avx2, avx512", "info");
    child_opts good = {{"DEEPC_NUM_THREADS=2", "DEEPC_ISA=portable"}, 0};
    CHECK_RUN(&good, 0, "threads:      2", "info");
    CHECK(strstr(out, "portable in use"));
}

/* --data names without `make data`: the command says it trains on the small sample. */
TEST(test_faults_falling_back_to_the_assets_sample_is_announced)
{
    if (access("../data/names.txt", F_OK) == 0 || access("data/names.txt", F_OK) == 0) {
        printf("note: data/names.txt exists; nothing to fall back from\n");
        return;
    }
    CHECK_RUN(NULL, 0, "note: data/names.txt not found ('make data' fetches it); using the "
                       "small sample", "info --model gpt --data names");
}
