/* What the libFuzzer harnesses of fuzz/ share (`make fuzz`, README "Reliability: fuzzing").
 *
 * Each harness (fuzz_TARGET.c) defines LLVMFuzzerTestOneInput, which feeds one input to the
 * library's public readers and checks, besides the sanitizers' own findings:
 *   - errors are values: a reader either succeeds or fails with a message, never crashes;
 *   - no tensor outlives the input (dc_live_tensors() is back to 0), no allocation leaks
 *     (LeakSanitizer, run by libFuzzer);
 *   - round trips hold where the format allows one (what was read saves and reads back
 *     equal), checked with FUZZ_CHECK, which aborts so libFuzzer records the input.
 * The readers take paths, so an input becomes a file: an in-memory file (memfd) named
 * /proc/self/fd/N, rewritten for every input (no disk traffic); files the library writes
 * itself (saves, renames) go to a private directory in /dev/shm (else $TMPDIR or /tmp),
 * removed at exit. fuzz/make_corpus.c includes this header for the checkpoint model. */
#ifndef DEEPC_FUZZ_COMMON_H
#define DEEPC_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "deepc.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A property that must hold: print what failed and abort (a finding for libFuzzer). */
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed; last error: %s\n", __FILE__,        \
                    __LINE__, #cond, dc_last_error());                                         \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* The private directory for files the library writes ("" before fuzz_dir is first called). */
static char fuzz_dir_path[256];

static inline void fuzz_dir_remove(void)
{
    DIR *d = opendir(fuzz_dir_path);
    if (d) {
        char path[512];
        for (struct dirent *e; (e = readdir(d));) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            snprintf(path, sizeof path, "%s/%s", fuzz_dir_path, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(fuzz_dir_path);
}

/* dir/name in buf, dir being the private directory (created on first use). */
static inline const char *fuzz_path(char *buf, size_t size, const char *name)
{
    if (!fuzz_dir_path[0]) {
        const char *tmp = getenv("TMPDIR");
        if (access("/dev/shm", W_OK) == 0) tmp = "/dev/shm";
        snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/deepc_fuzz_XXXXXX", tmp ? tmp : "/tmp");
        FUZZ_CHECK(mkdtemp(fuzz_dir_path) != NULL);
        atexit(fuzz_dir_remove);
    }
    snprintf(buf, size, "%s/%s", fuzz_dir_path, name);
    return buf;
}

/* The input bytes as a file: slot (0..3) names one of a few files, each rewritten in place
 * by every call; returns a path that the library's readers open like any file. */
static inline const char *fuzz_file(int slot, const uint8_t *data, size_t size)
{
    static int fds[4] = {-1, -1, -1, -1};
    static char paths[4][64];
    if (fds[slot] < 0) {
        char name[32];
        snprintf(name, sizeof name, "deepc_fuzz_%d", slot);
        fds[slot] = memfd_create(name, 0);
        if (fds[slot] >= 0) {
            snprintf(paths[slot], sizeof paths[slot], "/proc/self/fd/%d", fds[slot]);
        } else { /* no memfd: a file in the private directory */
            fuzz_path(paths[slot], sizeof paths[slot], name);
            fds[slot] = open(paths[slot], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        }
        FUZZ_CHECK(fds[slot] >= 0);
    }
    FUZZ_CHECK(ftruncate(fds[slot], 0) == 0);
    for (size_t done = 0; done < size;) {
        ssize_t n = pwrite(fds[slot], data + done, size - done, (off_t)done);
        FUZZ_CHECK(n > 0);
        done += (size_t)n;
    }
    return paths[slot];
}

/* Once per process: one thread (deterministic, and the machine is shared). */
static inline void fuzz_init(void)
{
    static int done;
    if (done++) return;
    dc_set_num_threads(1);
}

/* Tensors a harness keeps from one input to the next (set once after creating them). */
static int64_t fuzz_live_baseline;

/* After each input: every tensor of the input released, and a clean error state for the
 * next one. */
static inline void fuzz_end(void)
{
    if (dc_live_tensors() != fuzz_live_baseline) { /* DEEPC_LEAK_REPORT=1 lists them */
        static char report[4096];
        dc_leak_report(report, sizeof report, 10);
        fprintf(stderr, "%lld tensors live after the input, %lld expected:\n%s\n",
                (long long)dc_live_tensors(), (long long)fuzz_live_baseline, report);
    }
    FUZZ_CHECK(dc_live_tensors() == fuzz_live_baseline);
    dc_clear_error();
}

/* Little-endian integers from the front of an input (0 past its end). */
static inline uint32_t fuzz_u16(const uint8_t *p, size_t size)
{
    return size >= 2 ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : 0;
}

/* The model and optimizer that fuzz_checkpoint loads checkpoints into (and that
 * make_corpus saves its seeds from): Linear(3, 4) -> BatchNorm1d(4) -> ReLU -> Linear(4, 2),
 * so the state has weights, biases, running statistics and an int64 counter; AdamW state
 * per parameter. Returns 0, or -1 (nothing left allocated). */
static inline int fuzz_checkpoint_model(dc_module **model, dc_optimizer **opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    *model = dc_sequential_new(4, dc_linear_new(3, 4, true, &rng),
                               dc_batch_norm1d_new(4, 1e-5, 0.1, true),
                               dc_activation_new(DC_ACT_RELU, 0), dc_linear_new(4, 2, true, &rng));
    *opt = NULL;
    if (!*model) return -1;
    dc_tensor_list params = {0};
    if (dc_module_parameters(*model, &params) == 0) {
        dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 1e-2);
        *opt = dc_optimizer_new(&params, &cfg);
    }
    dc_tensor_list_free(&params);
    if (!*opt) {
        dc_module_free(*model);
        *model = NULL;
        return -1;
    }
    return 0;
}

/* One training step of that model on a fixed batch (2 samples) in train mode; returns the
 * loss (NaN allowed: loaded values may be anything), or NAN when a step fails. */
static inline double fuzz_checkpoint_step(dc_module *model, dc_optimizer *opt)
{
    size_t scope = dc_scope_begin();
    const double xs[6] = {0.5, -1, 2, 0.25, 0, -3};
    dc_tensor *x = dc_empty(DC_F32, DC_SHAPE(2, 3)), *loss = NULL;
    if (x) {
        for (int i = 0; i < 6; i++) ((float *)dc_data(x))[i] = (float)xs[i];
        dc_tensor *y = dc_zeros(DC_I64, DC_SHAPE(2));
        if (y) ((int64_t *)dc_data(y))[1] = 1;
        loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
    }
    double value = NAN;
    dc_optimizer_zero_grad(opt);
    if (loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0) value = dc_item(loss);
    dc_optimizer_zero_grad(opt);
    dc_scope_end(scope);
    return value;
}

#endif
