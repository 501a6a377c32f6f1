/* Training tasks: what `deepc train --task NAME` runs (DESIGN.md, "Round 2").
 *
 * An application (apps/NAME/) describes itself as one dc_task: its own options, how to build
 * its data and model, one training step, its metrics and its pictures. The deepc command's
 * run loop (tools/) does everything else once for all tasks: the shared options (epochs,
 * batch, lr, optimizer, schedule, seed, threads), progress, the log, validation at every
 * epoch, checkpoints (the model, the optimizer, the task's options and the generators) and
 * exact resume, the final test metrics and pictures.
 *
 * Life of a task in a run:
 *   settings = calloc(task->settings_size); task->defaults(settings) (if given); the task's
 *   options are then set from the config file / flags / checkpoint (dc_option, by offset);
 *   setup(ctx)            data and model -> ctx->state, ctx->model, ctx->steps_per_epoch
 *   step(state, ...)      repeated: one batch's loss (the loop back-propagates and updates)
 *   evaluate(state, ...)  at each epoch's end on DC_TASK_VAL, at the end on DC_TASK_TEST
 *   render(state, dir)    at the end: the task's pictures (PNG/SVG) into the run directory
 *   close(state)          frees the state (not the model: the loop owns ctx->model)
 * When setup fails, the caller still closes whatever it left in ctx->state and frees
 * ctx->model, so setup may return early at any point.
 * Every function runs inside a scope opened by the caller: tensors a task creates while
 * computing are freed when it returns, except those it keeps (dc_tensor_retain / its state).
 * Errors are values: return NULL / -1 with dc_error(...) naming what was wrong. */
#ifndef DEEPC_TASK_H
#define DEEPC_TASK_H

#include "core.h"
#include "nn.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Options -------------------------------------------------------------------------------- */

typedef enum { DC_OPTION_INT, DC_OPTION_REAL, DC_OPTION_TEXT, DC_OPTION_FLAG } dc_option_type;

/* One option: "--name VALUE" (or "--name=VALUE", or just "--name" for a flag) on the command
 * line, "name = value" in a config file and in checkpoint metadata. It sets the field at
 * `offset` of a settings struct: long (INT), double (REAL), char[size] (TEXT), bool (FLAG).
 * A table ends with DC_OPTION_END. */
typedef struct {
    const char *name;
    dc_option_type type;
    size_t offset, size;
    double min, max;     /* INT, REAL: accepted range */
    const char *choices; /* TEXT: "a|b|c", or NULL for free text */
    bool saved;          /* part of a training run's identity: written to checkpoints */
    const char *help;    /* one line for --help (may be NULL) */
} dc_option;

#define DC_OPTION_END {NULL, DC_OPTION_INT, 0, 0, 0, 0, NULL, false, NULL}

/* A saved option of the settings struct TYPE, field FIELD: DC_OPTION(my_settings, "width",
 * DC_OPTION_INT, width, 1, 512, NULL, "channels at full resolution"). */
#define DC_OPTION(TYPE, name, type, field, min, max, choices, help)                             \
    {name, type, offsetof(TYPE, field), sizeof(((TYPE *)0)->field), min, max, choices, true, help}

/* ---- Metrics -------------------------------------------------------------------------------- */

enum { DC_TASK_MAX_METRICS = 16 };

typedef struct {
    char name[32];  /* "psnr_db", "map50", "accuracy": a CSV/identifier-safe name */
    double value;
    bool higher_is_better;
} dc_metric;

/* What evaluate measures. `loss` is the task's training loss on the split (the log's val_loss;
 * NaN when it has none); metrics[0] is the task's headline figure (printed each epoch). */
typedef struct {
    double loss;
    int n;
    dc_metric metrics[DC_TASK_MAX_METRICS];
} dc_metrics;

/* Add (or replace) a metric by name. Returns 0, or -1 when the list is full. */
int dc_metrics_set(dc_metrics *m, const char *name, double value, bool higher_is_better);
/* The value of the metric `name`, or NaN when there is none. */
double dc_metrics_get(const dc_metrics *m, const char *name);

/* ---- Tasks ---------------------------------------------------------------------------------- */

typedef enum { DC_TASK_VAL, DC_TASK_TEST } dc_task_split;

/* What setup gets from the run and gives back. */
typedef struct {
    /* in */
    const void *settings;  /* the task's options (task->settings_size bytes), filled */
    const char *data;      /* --data ("" when not given: the task's default data) */
    const char *data_dir;  /* --data-dir (Fashion-MNIST's Debian directory by default) */
    uint64_t seed;         /* --seed: the data (train/val/test sets) depend only on it */
    int64_t batch;         /* --batch */
    bool with_data;        /* false: build only the model (eval/info from a checkpoint) */
    dc_rng *model_rng;     /* initial weights (and dropout masks: it lives as long as the model) */
    /* out */
    void *state;             /* the task's own, handed to every other function */
    dc_module *model;        /* the trained parameters (owned by the loop afterwards) */
    int64_t steps_per_epoch; /* batches per epoch (with_data) */
    int64_t items_per_batch; /* examples per step, for the throughput shown (0: batch) */
} dc_task_setup;

typedef struct dc_task {
    const char *name;    /* --task NAME */
    const char *summary; /* one line: what it trains and what it reports */
    /* The task's own options (all saved in checkpoints; names must differ from the shared
     * ones) over a settings struct of settings_size bytes, and the function that fills their
     * defaults (NULL: all zero). */
    const dc_option *options;
    size_t settings_size;
    void (*defaults)(void *settings);
    /* Defaults of the shared options for this task, as a config file's text
     * ("epochs = 10\nbatch = 64\nlr = 2e-3\n"); NULL keeps the general ones. */
    const char *run_defaults;
    int (*setup)(dc_task_setup *ctx);
    /* One training batch's mean loss, a scalar with a graph to the model's parameters. The
     * batch is drawn with rng (resumed exactly from checkpoints) or from `step` (the global
     * step number, 0-based). The model is in training mode. */
    dc_tensor *(*step)(void *state, dc_module *model, dc_rng *rng, int64_t step);
    /* true: step updates the parameters itself (a GAN's two optimizers; it keeps them in its
     * state, so resuming restarts their moments) and returns its loss as a scalar without a
     * graph; the loop then only logs it, and makes no optimizer. */
    bool updates_itself;
    /* Metrics on the validation or test split, without gradients, the model in eval mode. */
    int (*evaluate)(void *state, dc_module *model, dc_task_split split, dc_metrics *out);
    /* Pictures of what the trained model does (PNG, SVG) into the existing directory dir,
     * after the test evaluation (NULL: none). Returns 0 or -1. */
    int (*render)(void *state, dc_module *model, const char *dir);
    /* Generative tasks (`deepc generate`): n samples drawn with `seed` in `steps` sampling
     * steps (0: the task's default), written as one picture to path (PNG). NULL: none. */
    int (*generate)(void *state, dc_module *model, int64_t n, int64_t steps, uint64_t seed,
                    const char *path);
    void (*close)(void *state);
} dc_task;

#endif
