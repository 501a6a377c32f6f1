/* deepc train, eval, sample and info --model: the commands that build a run (cli_run.c).
 *
 * A training run's directory (--out) holds
 *   checkpoint.safetensors  model + optimizer state + metadata (the run's options, the step,
 *                           the random generators' positions), rewritten atomically at the
 *                           end of every epoch, every --save-every steps and when --max-steps
 *                           stops the run
 *   log.csv                 epoch,step,train_loss,val_loss,val_acc,lr,seconds
 *   loss.svg                training and validation loss against the epoch (book fig. 3.5)
 *   tokenizer.txt           text runs: the tokenizer (dc_tokenizer_save)
 *   confusion.csv, misclassified.csv   images, at the end: the test set's confusion matrix
 *                           and a few misclassified test images (cli_report.c)
 *   sample.txt              text runs, at the end: the generated sample
 *   report.html             --report: the run as a page (deepc report), rewritten at every
 *                           log row; it reloads itself until the run ends
 * Resuming is exact: the data order depends only on (seed, epoch, batch) and the model's and
 * the text batches' generators are restored, so a run stopped and resumed takes the same
 * steps, bit for bit, as one that never stopped. Every file is written to NAME.tmp.PID and
 * renamed, so a crash (even SIGKILL during a write) leaves the previous complete file; the
 * next run in the directory removes the temporaries whose process is gone. A NaN/inf loss or
 * gradient stops the run (or skips the step: --on-nonfinite skip) naming the step and the
 * parameter. Test hook: DEEPC_DEBUG_KILL_AFTER_STEP=N makes the run SIGKILL itself right after
 * step N's update (tests/test_faults.c). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1:05:09" / "4:07" */
static void format_duration(char *buf, size_t size, double seconds)
{
    long s = isfinite(seconds) && seconds > 0 ? lround(seconds) : 0;
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* mkdir -p. *created: the length of the shortest prefix of path it created (0: none), for
 * remove_created_dirs. */
static int make_dirs(const char *path, size_t *created)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    *created = 0;
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            char saved = *p;
            *p = '\0';
            if (mkdir(buf, 0777) == 0) {
                if (!*created) *created = strlen(buf);
            } else if (errno != EEXIST) {
                return -1;
            }
            if (!(*p = saved)) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) return errno = ENOTDIR, -1;
    return 0;
}

/* Undo make_dirs for a failed run: remove the directories it created, deepest first, as
 * long as they are empty (a run that wrote files keeps them). */
static void remove_created_dirs(const char *path, size_t created)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    while (created && rmdir(buf) == 0) {
        char *slash = strrchr(buf, '/');
        if (!slash || (size_t)(slash - buf) < created) return;
        *slash = '\0';
    }
}

/* Files a killed run may leave: NAME.tmp.PID, the temporaries of the atomic writes. Remove
 * those of the run's files whose PID is no live process (a run still writing keeps its own). */
static void remove_stray_temps(const char *dir, const char *command)
{
    static const char *const names[] = {"checkpoint.safetensors", "log.csv", "loss.svg",
                                        "tokenizer.txt", "report.html", "confusion.csv",
                                        "misclassified.csv", "sample.txt", "metrics.txt"};
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
            size_t len = strlen(names[i]);
            const char *pid_text = e->d_name + len + 5;
            if (strncmp(e->d_name, names[i], len) || strncmp(e->d_name + len, ".tmp.", 5) ||
                !*pid_text || strspn(pid_text, "0123456789") != strlen(pid_text) ||
                strlen(pid_text) > 9)
                continue;
            long pid = strtol(pid_text, NULL, 10);
            if (pid <= 0 || pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
                continue; /* a live process (or one we may not signal): maybe still writing */
            char path[4400];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0)
                fprintf(stderr, "deepc %s: removed %s, left by an interrupted run\n", command,
                        path);
        }
    }
    closedir(d);
}

/* ---- The log: CSV rows, and the loss curves drawn from them ------------------------------ */

typedef struct {
    double epoch; /* fractional: step / steps per epoch */
    long long step;
    double train_loss, val_loss, val_acc, lr, seconds;
} log_row;

typedef struct {
    log_row *rows;
    int n, cap;
} train_log;

static int log_add(train_log *log, log_row row)
{
    if (log->n == log->cap) {
        int cap = log->cap ? 2 * log->cap : 64;
        log_row *rows = realloc(log->rows, (size_t)cap * sizeof *rows);
        if (!rows) return -1;
        log->rows = rows, log->cap = cap;
    }
    log->rows[log->n++] = row;
    return 0;
}

/* A value for the CSV: empty when not measured (NaN). */
static void csv_number(FILE *f, double v) { isnan(v) ? fputs(",", f) : fprintf(f, ",%.6g", v); }

/* Rewrite log.csv (atomically: temp + rename) and loss.svg from the rows. */
static int log_write(const train_log *log, const char *dir)
{
    char path[4200], tmp[4400];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = atomic_open(path, tmp, sizeof tmp);
    if (!f) return -1;
    fprintf(f, "epoch,step,train_loss,val_loss,val_acc,lr,seconds\n");
    for (int i = 0; i < log->n; i++) {
        const log_row *r = &log->rows[i];
        fprintf(f, "%.4f,%lld", r->epoch, r->step);
        csv_number(f, r->train_loss), csv_number(f, r->val_loss), csv_number(f, r->val_acc);
        fprintf(f, ",%.6g,%.2f\n", r->lr, r->seconds);
    }
    /* a full disk shows at the last write or at fclose: only a complete file replaces the
     * old log */
    if (atomic_close(f, tmp, path) != 0) return -1;
    /* the curves: training loss at every row, validation loss where it was measured */
    int n = log->n, n_val = 0;
    double *x = malloc(4 * ((size_t)n + 1) * sizeof *x);
    if (!x) return dc_error("out of memory"), -1;
    double *train = x + n + 1, *val_x = train + n + 1, *val = val_x + n + 1;
    for (int i = 0; i < n; i++) {
        x[i] = log->rows[i].epoch, train[i] = log->rows[i].train_loss;
        if (!isnan(log->rows[i].val_loss))
            val_x[n_val] = log->rows[i].epoch, val[n_val++] = log->rows[i].val_loss;
    }
    dc_plot_series series[2] = {{"training loss", x, train, n, NULL, false},
                                {"validation loss", val_x, val, n_val, NULL, true}};
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    int rc = dc_plot_svg(path, "Loss", "epoch", "cross-entropy loss", series, 2);
    free(x);
    return rc;
}

/* Rows of an existing log.csv up to step `last_step` (resuming drops rows written after the
 * checkpoint). A missing file gives no rows. */
static int log_read(train_log *log, const char *dir, long long last_step)
{
    char path[4200], line[512];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        log_row r;
        double v[5];
        char *p = line, *end;
        r.epoch = strtod(p, &end);
        if (end == p || *end != ',') continue; /* the header */
        r.step = strtoll(end + 1, &p, 10);
        for (int k = 0; k < 5; k++) { /* empty fields are NaN */
            v[k] = *p == ',' && p[1] != ',' && p[1] != '\n' ? strtod(p + 1, &end) : NAN;
            p = strchr(p + 1, ',') ? strchr(p + 1, ',') : p + strlen(p);
        }
        r.train_loss = v[0], r.val_loss = v[1], r.val_acc = v[2], r.lr = v[3], r.seconds = v[4];
        if (r.step <= last_step && log_add(log, r) != 0) break;
    }
    fclose(f);
    return 0;
}

/* ---- Progress on stderr ----------------------------------------------------------------------- */

/* One line redrawn in place (\r) when stderr is a terminal; otherwise a plain line at every
 * tenth of the epoch, so logs stay readable. */
typedef struct {
    bool tty;
    double start;            /* when this epoch's first step of this session began */
    double last_draw;        /* terminal: redraw at most 10 times a second */
    int64_t first, last_bar; /* batch index of that step; last tenth printed */
} progress;

static void progress_show(progress *p, const run *r, int64_t epoch, int64_t batch,
                          int64_t steps_per_epoch, double loss, int64_t items_per_step)
{
    double elapsed = seconds_now() - p->start;
    int64_t done = batch + 1 - p->first;
    int tenth = (int)(10 * (batch + 1) / steps_per_epoch);
    bool last = batch + 1 == steps_per_epoch;
    if (!p->tty && tenth == p->last_bar) return;
    if (p->tty && !last && seconds_now() - p->last_draw < 0.1) return;
    p->last_bar = tenth, p->last_draw = seconds_now();
    char eta[32], bar[32];
    format_duration(eta, sizeof eta, elapsed / (double)done * (double)(steps_per_epoch - batch - 1));
    int filled = (int)(24 * (batch + 1) / steps_per_epoch);
    for (int i = 0; i < 24; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
    bar[24] = '\0';
    fprintf(stderr, "%sepoch %lld/%ld [%s] %lld/%lld  loss %.4f  %.0f %s/s  ETA %s%s",
            p->tty ? "\r" : "", (long long)epoch + 1, r->cfg.epochs, bar, (long long)batch + 1,
            (long long)steps_per_epoch, loss, (double)(done * items_per_step) / elapsed,
            r->task == TASK_TEXT ? "tokens" : r->task == TASK_APP ? "examples" : "images", eta,
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

static void progress_done(const progress *p)
{
    if (p->tty) fprintf(stderr, "\r\033[K");
}

/* ---- deepc train ----------------------------------------------------------------------------- */

typedef struct {
    run r;
    dc_optimizer *opt;
    dc_tensor_list params;
    dc_lr_schedule schedule;
    dc_loader *loader; /* images */
    dc_rng batch_rng;  /* text: positions of the random windows */
    int64_t steps_per_epoch, total_steps, step;
    train_log log;
    double seconds_before; /* training time of the sessions this one resumes */
    size_t created_dirs;   /* make_dirs' record, to remove them if the run fails */
    char checkpoint[4200], tokenizer[4200];
} trainer;

/* Configuration: the checkpoint's (--resume), then the config file, then the flags. */
/* Configuration: the task's defaults (--task, which must be given on the command line or come
 * from the checkpoint), the checkpoint's (--resume), then the config file, then the flags. */
static int train_config(run_config *cfg, int argc, char **argv, char *checkpoint, size_t size)
{
    const dc_task *task;
    int rc = run_find_task(option_in_args(argc, argv, "task"), &task, argv[0]);
    if (rc) return rc;
    const dc_option *table = run_options_for(task);
    if (!table) {
        fprintf(stderr, "deepc %s: %s\n", argv[0], dc_last_error());
        return EXIT_USAGE;
    }
    run_config given;
    run_config_init(&given);
    if ((rc = options_parse_args(table, &given, argc, argv))) return rc;
    run_config_init(cfg);
    if (given.resume) {
        if (given.out[0]) snprintf(checkpoint, size, "%s/checkpoint.safetensors", given.out);
        else /* the default --out of run_config_finish */
            snprintf(checkpoint, size, "runs/%s/checkpoint.safetensors",
                     given.task[0] ? given.task : given.model[0] ? given.model : "mlp");
        if ((rc = run_config_from_checkpoint(cfg, checkpoint, argv[0]))) return rc;
        if (task && strcmp(cfg->task, task->name) != 0) {
            fprintf(stderr, "deepc %s: %s was not trained with --task %s\n", argv[0], checkpoint,
                    task->name);
            return EXIT_USAGE;
        }
        if ((rc = run_find_task(cfg->task, &task, argv[0]))) return rc;
        table = run_options_for(task);
    } else if ((rc = run_config_set_task(cfg, task, argv[0]))) {
        return rc;
    }
    if (given.config[0] && (rc = options_parse_file(table, cfg, given.config, argv[0])))
        return rc;
    if (strcmp(cfg->task, task ? task->name : "") != 0) { /* its defaults were not applied */
        fprintf(stderr, "deepc %s: %s: give --task %s on the command line (it decides which "
                        "options exist)\n", argv[0], given.config, cfg->task);
        return EXIT_USAGE;
    }
    if ((rc = options_parse_args(table, cfg, argc, argv))) return rc;
    return run_config_finish(cfg, argv[0]);
}

static int train_setup(trainer *t, const run_config *cfg, const char *command)
{
    const char *out = cfg->out;
    snprintf(t->checkpoint, sizeof t->checkpoint, "%s/checkpoint.safetensors", out);
    snprintf(t->tokenizer, sizeof t->tokenizer, "%s/tokenizer.txt", out);
    bool text = !strcmp(cfg->model, "gpt") || !strcmp(cfg->model, "lstm");
    int rc = run_open(&t->r, cfg, cfg->resume && text ? t->tokenizer : NULL, true, command);
    if (rc) return rc;
    run *r = &t->r;
    /* the directory once the data and the model are there (a failed start leaves none) */
    if (make_dirs(out, &t->created_dirs) != 0) {
        fprintf(stderr, "deepc %s: cannot create the directory %s: %s\n", command, out,
                strerror(errno));
        return EXIT_RUNTIME;
    }
    remove_stray_temps(out, command);
    if (text && !cfg->resume && dc_tokenizer_save(r->tok, t->tokenizer) != 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    /* the optimizer: torch's defaults with our lr and weight decay (SGD with momentum 0.9) */
    dc_optim_kind kind = !strcmp(cfg->optim, "sgd") ? DC_SGD
                         : !strcmp(cfg->optim, "adam") ? DC_ADAM
                                                       : DC_ADAMW;
    dc_optim_config oc = dc_optim_defaults(kind, cfg->lr);
    oc.weight_decay = cfg->weight_decay;
    if (kind == DC_SGD) oc.momentum = 0.9;
    bool own_updates = r->task == TASK_APP && r->app->updates_itself;
    if (dc_module_parameters(r->model, &t->params) != 0 ||
        (!own_updates && !(t->opt = dc_optimizer_new(&t->params, &oc)))) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    /* an epoch: one pass over the training images, or as many random windows as the
     * training text has tokens; --steps-per-epoch caps it */
    if (r->task == TASK_APP) {
        t->steps_per_epoch = r->app_steps_per_epoch;
        dc_rng_seed(&t->batch_rng, (uint64_t)cfg->seed + 1);
    } else if (r->task == TASK_IMAGES) {
        t->loader = dc_loader_new(r->train_set, cfg->batch, true, false, (uint64_t)cfg->seed);
        if (!t->loader || (cfg->augment && dc_loader_set_augment(t->loader, 2, true) != 0)) {
            fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
            return EXIT_RUNTIME;
        }
        t->steps_per_epoch = dc_loader_num_batches(t->loader);
    } else {
        t->steps_per_epoch = r->n_train_tokens / (cfg->batch * cfg->context);
        if (t->steps_per_epoch < 1) t->steps_per_epoch = 1;
        dc_rng_seed(&t->batch_rng, (uint64_t)cfg->seed + 1);
    }
    if (cfg->steps_per_epoch > 0 && cfg->steps_per_epoch < t->steps_per_epoch)
        t->steps_per_epoch = cfg->steps_per_epoch;
    t->total_steps = cfg->epochs * t->steps_per_epoch;
    dc_lr_kind lr_kind = !strcmp(cfg->schedule, "cosine") ? DC_LR_COSINE
                         : !strcmp(cfg->schedule, "step") ? DC_LR_STEP
                                                          : DC_LR_CONSTANT;
    /* step: x0.1 after each third of the run; cosine: down to 0 at the last step */
    t->schedule = (dc_lr_schedule){lr_kind, cfg->lr, cfg->warmup,
                                   (t->total_steps + 2) / 3, 0.1, t->total_steps, 0.0};
    if (isnan(dc_lr_at(&t->schedule, 0))) {
        fprintf(stderr, "deepc %s: --warmup %ld must be shorter than the run (%lld steps)\n",
                command, cfg->warmup, (long long)t->total_steps);
        return EXIT_USAGE;
    }
    return 0;
}

/* "seed:counter" of a generator, and back. */
static int parse_rng(const char *text, dc_rng *rng)
{
    unsigned long long seed, counter;
    if (!text || sscanf(text, "%llu:%llu", &seed, &counter) != 2) return -1;
    rng->seed = seed, rng->counter = counter;
    return 0;
}

static int train_save(trainer *t)
{
    metadata m = {0};
    run_metadata(&t->r, &m);
    metadata_add(&m, "step", "%lld", (long long)t->step);
    metadata_add(&m, "model_rng", "%llu:%llu", (unsigned long long)t->r.model_rng.seed,
                 (unsigned long long)t->r.model_rng.counter);
    metadata_add(&m, "batch_rng", "%llu:%llu", (unsigned long long)t->batch_rng.seed,
                 (unsigned long long)t->batch_rng.counter);
    const char *kv[2 * METADATA_MAX];
    for (int i = 0; i < m.n; i++) kv[2 * i] = m.keys[i], kv[2 * i + 1] = m.values[i];
    return dc_checkpoint_save(t->checkpoint, t->r.model, t->opt, kv, m.n);
}

/* Continue from the checkpoint: weights, optimizer state, step, generators, log rows. */
static int train_resume(trainer *t, const char *command)
{
    dc_safetensors *f = dc_safetensors_open(t->checkpoint);
    const char *step = f ? dc_safetensors_metadata(f, "step") : NULL;
    bool ok = step && parse_rng(dc_safetensors_metadata(f, "model_rng"), &t->r.model_rng) == 0 &&
              parse_rng(dc_safetensors_metadata(f, "batch_rng"), &t->batch_rng) == 0;
    if (ok) t->step = strtoll(step, NULL, 10);
    dc_safetensors_close(f);
    if (!ok || dc_checkpoint_load(t->checkpoint, t->r.model, t->opt) != 0) {
        fprintf(stderr, "deepc %s: cannot resume from %s: %s\n", command, t->checkpoint,
                f ? (dc_has_error() ? dc_last_error() : "no step / generator metadata")
                  : dc_last_error());
        return EXIT_RUNTIME;
    }
    log_read(&t->log, t->r.cfg.out, t->step);
    if (t->log.n) t->seconds_before = t->log.rows[t->log.n - 1].seconds;
    return 0;
}

/* The next training batch (published to the open scope). */
static int next_batch(trainer *t, dc_tensor **x, dc_tensor **y)
{
    if (t->r.task == TASK_TEXT)
        return dc_lm_random_batch(t->r.tokens, t->r.n_train_tokens, t->r.cfg.batch,
                                  t->r.cfg.context, &t->batch_rng, x, y) == 0 ? 1 : -1;
    int got = dc_loader_next(t->loader, x, y);
    return got == 0 ? dc_error("the loader ran out of batches"), -1 : got;
}

/* The first element of t that is not finite (NaN, +-inf), or 0 when all are. */
static double first_nonfinite(const dc_tensor *t)
{
    int64_t n = dc_numel(t);
    if (t->dtype == DC_F32 && dc_is_contiguous(t)) {
        const float *v = dc_data(t);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(v[i])) return v[i];
        return 0;
    }
    if (t->dtype == DC_F64 && dc_is_contiguous(t)) {
        const double *v = dc_data(t);
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(v[i])) return v[i];
        return 0;
    }
    size_t scope = dc_scope_begin(); /* any other layout: x * 0 sums to NaN iff x has one */
    double sum = dc_item(dc_sum_all(dc_mul_scalar((dc_tensor *)t, 0.0)));
    dc_scope_end(scope);
    return isnan(sum) ? NAN : 0;
}

enum { STEP_OK = 0, STEP_FAILED = -1, STEP_NONFINITE = 1 };

/* One optimisation step: forward, loss, backward, clipping, update. Returns STEP_OK (the loss
 * in *loss), STEP_FAILED (error recorded), or STEP_NONFINITE when the loss or a gradient is
 * not finite: nothing is updated and `why` names the loss and the first such parameter. */
/* The loss of the next training batch (published to the open scope), NULL on error. */
static dc_tensor *batch_loss(trainer *t)
{
    if (t->r.task == TASK_APP)
        return t->r.app->step(t->r.app_state, t->r.model, &t->batch_rng, t->step);
    dc_tensor *x, *y;
    return next_batch(t, &x, &y) == 1 ? run_loss(&t->r, dc_forward(t->r.model, x), y) : NULL;
}

static int train_step(trainer *t, double lr, double *loss_value, char *why, size_t why_size)
{
    size_t scope = dc_scope_begin();
    int rc = STEP_FAILED;
    *loss_value = NAN;
    if (!t->opt) { /* a task that updates its parameters itself */
        dc_tensor *loss = batch_loss(t);
        if (loss) *loss_value = dc_item(loss);
        if (loss && !isfinite(*loss_value)) {
            snprintf(why, why_size, "the loss is %g", *loss_value);
            rc = STEP_NONFINITE;
        } else if (loss) {
            rc = STEP_OK;
        }
        dc_scope_end(scope);
        return rc;
    }
    dc_optimizer_set_lr(t->opt, lr);
    dc_tensor *loss = batch_loss(t);
    if (loss && dc_backward(loss) == 0) {
        *loss_value = dc_item(loss);
        int bad = -1;
        double bad_value = 0;
        for (int i = 0; i < t->params.n && bad < 0; i++) {
            const dc_tensor *g = t->params.tensors[i]->grad;
            if (g && (bad_value = first_nonfinite(g)) != 0) bad = i;
        }
        if (!isfinite(*loss_value) || bad >= 0) {
            int used = snprintf(why, why_size, "the loss is %g", *loss_value);
            if (bad >= 0 && used >= 0 && (size_t)used < why_size)
                snprintf(why + used, why_size - (size_t)used,
                         "%s the gradient of %s holds %g (the first parameter whose "
                         "gradient is not finite)",
                         isfinite(*loss_value) ? ", but" : " and", t->params.names[bad],
                         bad_value);
            rc = STEP_NONFINITE;
        } else if ((t->r.cfg.clip <= 0 || dc_clip_grad_norm(&t->params, t->r.cfg.clip) >= 0) &&
                   dc_optimizer_step(t->opt) == 0) {
            rc = STEP_OK;
        }
    }
    dc_optimizer_zero_grad(t->opt);
    dc_scope_end(scope);
    return rc;
}

/* Start epoch `epoch` at its batch `batch`: the loader's order for that epoch, skipping the
 * batches a resumed run already took (text batches need nothing: their generator resumes). */
static void loader_seek(trainer *t, int64_t epoch, int64_t batch)
{
    if (!t->loader) return;
    dc_loader_set_epoch(t->loader, epoch);
    for (int64_t b = 0; b < batch; b++) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        dc_loader_next(t->loader, &x, &y);
        dc_scope_end(scope);
    }
}

/* Fill the row's validation loss (and accuracy) and print the epoch's line. */
static int validate(trainer *t, log_row *row, double train_loss, double epoch_start)
{
    run *r = &t->r;
    const dc_dataset *val = r->task == TASK_TEXT ? r->val_windows : r->val_set;
    dc_metrics m = {0};
    int rc = r->task == TASK_APP ? run_evaluate_app(r, DC_TASK_VAL, &m)
                                 : run_evaluate(r, val, &row->val_loss, &row->val_acc);
    if (r->task == TASK_APP) row->val_loss = m.loss;
    printf("epoch %.4g/%ld: train loss %.4f, val loss %.4f", row->epoch, r->cfg.epochs,
           train_loss, row->val_loss);
    if (r->task == TASK_APP) {
        char line[1024];
        run_format_metrics(&m, line, sizeof line);
        printf("%s%s", *line ? ", " : "", line);
    } else if (r->task == TASK_IMAGES) printf(", val accuracy %.2f%%", 100 * row->val_acc);
    else printf(" (perplexity %.*g)", dc_perplexity(row->val_loss) < 1e6 ? 6 : 3,
                dc_perplexity(row->val_loss));
    printf(", lr %.3g, %.1f s\n", row->lr, seconds_now() - epoch_start);
    fflush(stdout);
    return rc;
}

/* After training: test accuracy (images) or a sample (text). */
static int train_report(trainer *t, const char *command);

int cmd_train(int argc, char **argv)
{
    run_config cfg;
    char resume_from[4200] = "";
    int rc = train_config(&cfg, argc, argv, resume_from, sizeof resume_from);
    if (rc) return rc;
    if (cfg.threads > 0 && dc_set_num_threads((int)cfg.threads) != 0) {
        fprintf(stderr, "deepc train: cannot use %ld threads: %s\n", cfg.threads, dc_last_error());
        return EXIT_RUNTIME;
    }
    trainer t = {0};
    rc = train_setup(&t, &cfg, argv[0]);
    if (!rc && cfg.resume) rc = train_resume(&t, argv[0]);
    run *r = &t.r;
    int64_t items_per_step = r->task == TASK_APP ? r->app_items_per_batch
                             : cfg.batch * (r->task == TASK_TEXT ? cfg.context : 1);
    int64_t log_every = cfg.log_every > 0 ? cfg.log_every
                                          : (t.steps_per_epoch >= 10 ? t.steps_per_epoch / 10 : 1);
    int64_t stop = t.total_steps;
    if (cfg.max_steps > 0 && t.step + cfg.max_steps < stop) stop = t.step + cfg.max_steps;
    char what[4400];
    if (r->task == TASK_APP) snprintf(what, sizeof what, "%s (%s)", cfg.task, r->app->summary);
    else snprintf(what, sizeof what, "%s on %s", cfg.model,
                  r->task == TASK_TEXT ? r->data_file : cfg.data);
    if (!rc)
        printf("training %s: %lld parameters, %lld steps of %ld per epoch, %ld epochs, "
               "%d threads, out %s%s\n",
               what,
               (long long)dc_module_num_params(r->model, true), (long long)t.steps_per_epoch,
               cfg.batch, cfg.epochs, dc_get_num_threads(), cfg.out,
               cfg.resume ? " (resumed)" : "");
    if (!rc && t.step >= t.total_steps)
        printf("already trained for %ld epochs (give --epochs to train longer)\n", cfg.epochs);
    fflush(stdout);
    progress bar = {isatty(2), 0, 0, 0, -1};
    double session_start = seconds_now(), row_loss = 0, epoch_loss = 0;
    int64_t row_steps = 0, epoch_steps = 0, skipped_in_a_row = 0;
    bool skip_nonfinite = !strcmp(cfg.on_nonfinite, "skip"), warned_divergence = false;
    /* divergence: the loss two orders of magnitude above the run's first (logged) loss */
    double early_loss = t.log.n ? t.log.rows[0].train_loss : NAN;
    /* test hook: die (SIGKILL, no clean-up) right after this step's update, as a crash would */
    const char *kill_after = getenv("DEEPC_DEBUG_KILL_AFTER_STEP");
    long long kill_step = kill_after ? strtoll(kill_after, NULL, 10) : -1;
    while (!rc && t.step < stop) {
        int64_t epoch = t.step / t.steps_per_epoch, batch = t.step % t.steps_per_epoch;
        if (batch == 0 || bar.start == 0) { /* an epoch starts, or this session does */
            loader_seek(&t, epoch, batch);
            bar.start = seconds_now(), bar.first = batch, bar.last_bar = -1;
        }
        double lr = dc_lr_at(&t.schedule, t.step), loss;
        char why[1024];
        int step_rc = train_step(&t, lr, &loss, why, sizeof why);
        if (step_rc == STEP_FAILED) {
            progress_done(&bar);
            fprintf(stderr, "deepc train: step %lld failed: %s\n", (long long)t.step + 1,
                    dc_last_error());
            rc = EXIT_RUNTIME;
            break;
        }
        if (step_rc == STEP_NONFINITE) {
            progress_done(&bar);
            if (!skip_nonfinite || ++skipped_in_a_row >= 10) {
                fprintf(stderr, "deepc train: step %lld: %s; stopping%s (lower --lr, or "
                                "--clip; --on-nonfinite skip skips such steps)\n",
                        (long long)t.step + 1, why,
                        skip_nonfinite ? " after 10 such steps in a row" : "");
                rc = EXIT_RUNTIME;
                break;
            }
            fprintf(stderr, "deepc train: warning: step %lld skipped (no update): %s\n",
                    (long long)t.step + 1, why);
        } else {
            skipped_in_a_row = 0;
            row_loss += loss, row_steps++, epoch_loss += loss, epoch_steps++;
            if (isnan(early_loss)) early_loss = loss;
            if (!warned_divergence && early_loss > 0 && loss > 100 * early_loss) {
                progress_done(&bar);
                fprintf(stderr, "deepc train: warning: the loss is diverging: %.4g at step %lld "
                                "is %.3gx its early value %.4g (try a lower --lr than %g)\n",
                        loss, (long long)t.step + 1, loss / early_loss, early_loss, cfg.lr);
                warned_divergence = true;
            }
        }
        t.step++;
        if (t.step == kill_step) raise(SIGKILL);
        progress_show(&bar, r, epoch, batch, t.steps_per_epoch, epoch_loss / (double)epoch_steps,
                      items_per_step);
        bool epoch_end = t.step % t.steps_per_epoch == 0, last = t.step == stop;
        bool save = epoch_end || last || (cfg.save_every > 0 && t.step % cfg.save_every == 0);
        if (epoch_end || last || t.step % log_every == 0) {
            log_row row = {(double)t.step / (double)t.steps_per_epoch, t.step,
                           row_loss / (double)row_steps, NAN, NAN, lr,
                           t.seconds_before + seconds_now() - session_start};
            row_loss = 0, row_steps = 0;
            if (epoch_end || last) { /* validate, log, checkpoint */
                progress_done(&bar);
                if (validate(&t, &row, epoch_loss / (double)epoch_steps, bar.start) != 0)
                    rc = EXIT_RUNTIME;
                epoch_loss = 0, epoch_steps = 0;
                row.seconds = t.seconds_before + seconds_now() - session_start;
            }
            if (!rc && (log_add(&t.log, row) != 0 || log_write(&t.log, cfg.out) != 0))
                rc = EXIT_RUNTIME;
            if (!rc && cfg.report && report_update(&cfg, true) != 0) rc = EXIT_RUNTIME;
        }
        if (!rc && save && train_save(&t) != 0) rc = EXIT_RUNTIME;
        if (rc) {
            progress_done(&bar);
            fprintf(stderr, "deepc train: %s\n", dc_last_error());
        }
    }
    if (!rc && t.step < t.total_steps)
        printf("stopped after %lld of %lld steps (--max-steps); continue with: deepc train "
               "--resume --out %s\n",
               (long long)t.step, (long long)t.total_steps, cfg.out);
    else if (!rc)
        rc = train_report(&t, argv[0]);
    if (cfg.report && t.log.n && report_update(&cfg, false) != 0 && !rc) { /* the last page */
        fprintf(stderr, "deepc train: %s\n", dc_last_error());
        rc = EXIT_RUNTIME;
    }
    if (rc) remove_created_dirs(cfg.out, t.created_dirs);
    dc_loader_free(t.loader);
    dc_optimizer_free(t.opt);
    dc_tensor_list_free(&t.params);
    free(t.log.rows);
    run_close(&t.r);
    return rc;
}

/* ---- deepc eval ------------------------------------------------------------------------------- */

typedef struct {
    char checkpoint[4096], data[1024], data_dir[1024];
    long threads;
} eval_settings;

#define EVAL_OPT(name, type, field, min, max)                                                     \
    {name, type, offsetof(eval_settings, field), sizeof(((eval_settings *)0)->field), min, max,    \
     NULL, false, NULL}
static const dc_option eval_options[] = {
    EVAL_OPT("checkpoint", DC_OPTION_TEXT, checkpoint, 0, 0),
    EVAL_OPT("data", DC_OPTION_TEXT, data, 0, 0),
    EVAL_OPT("data-dir", DC_OPTION_TEXT, data_dir, 0, 0),
    EVAL_OPT("threads", DC_OPTION_INT, threads, 1, 1024),
    DC_OPTION_END,
};

static int set_threads(long threads, const char *command)
{
    if (threads <= 0 || dc_set_num_threads((int)threads) == 0) return 0;
    fprintf(stderr, "deepc %s: cannot use %ld threads: %s\n", command, threads, dc_last_error());
    return EXIT_RUNTIME;
}

/* A task's test metrics, printed; save_dir: also written there as metrics.txt ("name =
 * value" lines) and the task's pictures rendered there. */
static int evaluate_app(run *r, const char *command, const char *save_dir)
{
    dc_metrics m;
    if (run_evaluate_app(r, DC_TASK_TEST, &m) != 0) {
        fprintf(stderr, "deepc %s: task %s: evaluation failed: %s\n", command, r->cfg.task,
                dc_last_error());
        return EXIT_RUNTIME;
    }
    char line[1024];
    run_format_metrics(&m, line, sizeof line);
    printf("test: loss %.4f%s%s\n", m.loss, *line ? ", " : "", line);
    if (!save_dir) return 0;
    char path[4200], text[4096] = "";
    size_t used = 0;
    used += (size_t)snprintf(text, sizeof text, "loss = %.9g\n", m.loss);
    for (int i = 0; i < m.n && used < sizeof text; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "%s = %.9g\n",
                                 m.metrics[i].name, m.metrics[i].value);
    snprintf(path, sizeof path, "%s/metrics.txt", save_dir);
    if (write_file_atomic(path, text, strlen(text)) != 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    if (!r->app->render) return 0;
#ifndef DC_HAVE_PNG
    printf("metrics in %s (no pictures: deepc was built without libpng)\n", save_dir);
    return 0;
#endif
    size_t scope = dc_scope_begin();
    bool grad = dc_no_grad_begin();
    dc_module_train(r->model, false);
    int rc = r->app->render(r->app_state, r->model, save_dir);
    dc_grad_mode_restore(grad);
    dc_scope_end(scope);
    if (rc != 0) {
        fprintf(stderr, "deepc %s: task %s: drawing its pictures failed: %s\n", command,
                r->cfg.task, dc_last_error());
        return EXIT_RUNTIME;
    }
    printf("metrics and pictures in %s\n", save_dir);
    return 0;
}

/* Test accuracy on the full Fashion-MNIST test set (normalised with the training statistics)
 * or the loss on the validation text. Prints one line; returns 0 or an exit status. save_dir:
 * also write the confusion matrix and misclassified images there (images; NULL: not). */
static int evaluate_run(run *r, const char *command, const char *save_dir)
{
    double loss, accuracy;
    if (r->task == TASK_APP) return evaluate_app(r, command, save_dir);
    if (r->task == TASK_TEXT) {
        if (run_evaluate(r, r->val_windows, &loss, &accuracy) != 0) {
            fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
            return EXIT_RUNTIME;
        }
        printf("val loss %.4f, perplexity %.3f (%lld tokens of %s)\n", loss, dc_perplexity(loss),
               (long long)(dc_dataset_size(r->val_windows) * r->cfg.context), r->data_file);
        return 0;
    }
    dc_dataset *test = run_load_images(r, false, command);
    if (!test) return EXIT_RUNTIME;
    int rc = dc_dataset_normalize(test, &r->mean, &r->std) == 0 &&
                     (save_dir ? report_evaluate_images(r, test, save_dir, &loss, &accuracy)
                               : run_evaluate(r, test, &loss, &accuracy)) == 0
                 ? 0
                 : EXIT_RUNTIME;
    if (rc) fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
    else
        printf("test accuracy %.2f%% (%lld images), test loss %.4f\n", 100 * accuracy,
               (long long)dc_dataset_size(test), loss);
    dc_dataset_free(test);
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    eval_settings s = {.threads = -1};
    int rc = options_parse_args(eval_options, &s, argc, argv);
    if (rc) return rc;
    if (!s.checkpoint[0]) {
        fprintf(stderr, "deepc eval: --checkpoint FILE is required\n");
        return EXIT_USAGE;
    }
    if ((rc = set_threads(s.threads, argv[0]))) return rc;
    run_config overrides;
    run_config_init(&overrides);
    memcpy(overrides.data, s.data, sizeof s.data);
    memcpy(overrides.data_dir, s.data_dir, sizeof s.data_dir);
    run r;
    rc = run_open_checkpoint(&r, s.checkpoint, true, argv[0], &overrides);
    if (!rc) rc = evaluate_run(&r, argv[0], NULL);
    run_close(&r);
    return rc;
}

/* ---- deepc sample ----------------------------------------------------------------------------- */

typedef struct {
    char checkpoint[4096], prompt[4096];
    long n, top_k, seed, threads;
    double temperature, top_p;
} sample_settings;

#define SAMPLE_OPT(name, type, field, min, max)                                                   \
    {name, type, offsetof(sample_settings, field), sizeof(((sample_settings *)0)->field), min, max, \
     NULL, false, NULL}
static const dc_option sample_options[] = {
    SAMPLE_OPT("checkpoint", DC_OPTION_TEXT, checkpoint, 0, 0),
    SAMPLE_OPT("prompt", DC_OPTION_TEXT, prompt, 0, 0),
    SAMPLE_OPT("n", DC_OPTION_INT, n, 1, 1e7),
    SAMPLE_OPT("temperature", DC_OPTION_REAL, temperature, 0, 100),
    SAMPLE_OPT("top-k", DC_OPTION_INT, top_k, 0, 1e9),
    SAMPLE_OPT("top-p", DC_OPTION_REAL, top_p, 0, 1),
    SAMPLE_OPT("seed", DC_OPTION_INT, seed, 0, 1e15),
    SAMPLE_OPT("threads", DC_OPTION_INT, threads, 1, 1024),
    DC_OPTION_END,
};

/* Generate n tokens after `prompt` ("" = a newline: the start of a line, e.g. of a name) and
 * print the text (without that implicit newline); save_dir: also save it there as sample.txt
 * (NULL: not). Returns 0 or an exit status. */
static int generate(run *r, const char *prompt, const sample_settings *s, const char *command,
                    const char *save_dir)
{
    const char *start = prompt[0] ? prompt : "\n";
    int64_t n_ids;
    int64_t *ids = dc_tokenizer_encode(r->tok, start, strlen(start), &n_ids);
    if (!ids || n_ids < 1) {
        fprintf(stderr, "deepc %s: cannot encode the prompt: %s\n", command,
                ids ? "it is empty" : dc_last_error());
        free(ids);
        return EXIT_USAGE;
    }
    dc_rng rng;
    dc_rng_seed(&rng, (uint64_t)s->seed);
    size_t scope = dc_scope_begin();
    dc_tensor *prompt_ids = dc_from_buffer(DC_I64, DC_SHAPE(n_ids), ids);
    dc_tensor *out = dc_rnn_lm_get_config(r->model)
                         ? dc_rnn_lm_generate(r->model, prompt_ids, s->n, s->temperature,
                                              s->top_k, s->top_p, &rng)
                         : dc_gpt_generate(r->model, prompt_ids, s->n, s->temperature, s->top_k,
                                           s->top_p, &rng);
    size_t len = 0;
    char *text = out ? dc_tokenizer_decode(r->tok, dc_data(out), dc_numel(out), &len) : NULL;
    dc_scope_end(scope);
    free(ids);
    if (!text) {
        fprintf(stderr, "deepc %s: generation failed: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    size_t skip = prompt[0] ? 0 : strlen(start);
    fwrite(text + skip, 1, len - skip, stdout);
    if (len > skip && text[len - 1] != '\n') putchar('\n');
    int rc = save_dir && report_save_sample(save_dir, text + skip, len - skip) != 0;
    if (rc) fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
    free(text);
    return rc ? EXIT_RUNTIME : 0;
}

int cmd_sample(int argc, char **argv)
{
    sample_settings s = {.n = 200, .top_k = 0, .seed = 0, .threads = -1, .temperature = 1.0,
                         .top_p = 1.0};
    int rc = options_parse_args(sample_options, &s, argc, argv);
    if (rc) return rc;
    if (!(s.top_p > 0)) { /* the table's ranges are closed; nucleus sampling needs p > 0 */
        fprintf(stderr, "deepc sample: --top-p expects a number in (0, 1], got %g\n", s.top_p);
        return EXIT_USAGE;
    }
    if (!s.checkpoint[0]) {
        fprintf(stderr, "deepc sample: --checkpoint FILE is required\n");
        return EXIT_USAGE;
    }
    if ((rc = set_threads(s.threads, argv[0]))) return rc;
    run r;
    rc = run_open_checkpoint(&r, s.checkpoint, false, argv[0], NULL);
    if (!rc && r.task != TASK_TEXT) {
        if (r.task == TASK_APP)
            fprintf(stderr, "deepc sample: %s holds a --task %s run; sample needs a gpt or lstm "
                            "(deepc generate draws from generative tasks)\n",
                    s.checkpoint, r.cfg.task);
        else
            fprintf(stderr,
                    "deepc sample: %s holds a %s image classifier; sample needs a gpt or lstm\n",
                    s.checkpoint, r.cfg.model);
        rc = EXIT_USAGE;
    }
    if (!rc) rc = generate(&r, s.prompt, &s, argv[0], NULL);
    run_close(&r);
    return rc;
}

/* ---- deepc generate ------------------------------------------------------------------------- */

typedef struct {
    char checkpoint[4096], out[4096];
    long n, steps, seed, threads;
} generate_settings;

#define GENERATE_OPT(name, type, field, min, max)                                                  \
    {name, type, offsetof(generate_settings, field), sizeof(((generate_settings *)0)->field), min, \
     max, NULL, false, NULL}
static const dc_option generate_options[] = {
    GENERATE_OPT("checkpoint", DC_OPTION_TEXT, checkpoint, 0, 0),
    GENERATE_OPT("out", DC_OPTION_TEXT, out, 0, 0),
    GENERATE_OPT("n", DC_OPTION_INT, n, 1, 4096),
    GENERATE_OPT("steps", DC_OPTION_INT, steps, 0, 1e6),
    GENERATE_OPT("seed", DC_OPTION_INT, seed, 0, 1e15),
    GENERATE_OPT("threads", DC_OPTION_INT, threads, 1, 1024),
    DC_OPTION_END,
};

int cmd_generate(int argc, char **argv)
{
    generate_settings s = {.out = "samples.png", .n = 64, .steps = 0, .seed = 0, .threads = -1};
    int rc = options_parse_args(generate_options, &s, argc, argv);
    if (rc) return rc;
    if (!s.checkpoint[0]) {
        fprintf(stderr, "deepc generate: --checkpoint FILE is required\n");
        return EXIT_USAGE;
    }
    if ((rc = set_threads(s.threads, argv[0]))) return rc;
    run r;
    rc = run_open_checkpoint(&r, s.checkpoint, false, argv[0], NULL);
    if (!rc && (r.task != TASK_APP || !r.app->generate)) {
        fprintf(stderr, "deepc generate: %s holds a %s %s run, which generates no samples (the "
                        "generative tasks:", s.checkpoint, r.task == TASK_APP ? "--task" : "--model",
                r.task == TASK_APP ? r.cfg.task : r.cfg.model);
        for (const dc_task *const *t = cli_tasks; *t; t++)
            if ((*t)->generate) fprintf(stderr, " %s", (*t)->name);
        fprintf(stderr, ")\n");
        rc = EXIT_USAGE;
    }
    if (!rc) {
        size_t scope = dc_scope_begin();
        bool grad = dc_no_grad_begin();
        dc_module_train(r.model, false);
        if (r.app->generate(r.app_state, r.model, s.n, s.steps, (uint64_t)s.seed, s.out) != 0) {
            fprintf(stderr, "deepc generate: %s\n", dc_last_error());
            rc = EXIT_RUNTIME;
        } else {
            printf("wrote %ld samples to %s\n", s.n, s.out);
        }
        dc_grad_mode_restore(grad);
        dc_scope_end(scope);
    }
    run_close(&r);
    return rc;
}

/* ---- After training, and deepc info --model ------------------------------------------------ */

static int train_report(trainer *t, const char *command)
{
    if (t->r.task != TASK_TEXT) return evaluate_run(&t->r, command, t->r.cfg.out);
    sample_settings s = {.n = 200, .temperature = 1.0, .top_p = 1.0};
    printf("sample (deepc sample --checkpoint %s):\n", t->checkpoint);
    return generate(&t->r, "", &s, command, t->r.cfg.out);
}

/* A task's model: each parameter's name and shape, and the total (tasks' models take inputs
 * of their own kinds, so there is no one example input to trace a summary with). */
static void print_parameters(dc_module *model)
{
    dc_tensor_list params;
    if (dc_module_parameters(model, &params) != 0) return;
    char shape[96];
    for (int i = 0; i < params.n; i++)
        printf("  %-48s %s\n", params.names[i], dc_shape_str(params.tensors[i], shape, sizeof shape));
    printf("total: %lld parameters\n", (long long)dc_module_num_params(model, false));
    dc_tensor_list_free(&params);
}

int cli_model_info(int argc, char **argv)
{
    const char *checkpoint = option_in_args(argc, argv, "checkpoint");
    run r;
    int rc;
    if (checkpoint) {
        if (argc != 3) {
            fprintf(stderr, "deepc info: --checkpoint takes no other options\n");
            return EXIT_USAGE;
        }
        rc = run_open_checkpoint(&r, checkpoint, false, argv[0], NULL);
    } else {
        run_config cfg;
        run_config_init(&cfg);
        const dc_task *task;
        rc = run_find_task(option_in_args(argc, argv, "task"), &task, argv[0]);
        if (!rc) rc = run_config_set_task(&cfg, task, argv[0]);
        if (!rc) rc = options_parse_args(run_options_for(task), &cfg, argc, argv);
        if (!rc) rc = run_config_finish(&cfg, argv[0]);
        memset(&r, 0, sizeof r);
        if (!rc) rc = run_open(&r, &cfg, NULL, false, argv[0]);
    }
    if (!rc) {
        size_t scope = dc_scope_begin();
        printf("%s %s (%s)\n", r.task == TASK_APP ? "task" : "model",
               r.task == TASK_APP ? r.cfg.task : r.cfg.model, checkpoint ? checkpoint : "new weights");
        if (r.task == TASK_APP) {
            print_parameters(r.model);
        } else if (dc_module_summary(r.model, run_example_input(&r), stdout) != 0) {
            fprintf(stderr, "deepc %s: %s\n", argv[0], dc_last_error());
            rc = EXIT_RUNTIME;
        }
        dc_scope_end(scope);
        printf("\n");
    }
    run_close(&r);
    return rc;
}
