/* What the files of the deepc command share.
 *
 *   tools/deepc.c        the command table, the dispatcher, `info` and `bench`
 *   tools/cli_options.c  option tables: command-line flags, config files, checkpoint metadata
 *   tools/cli_run.c      a run: its configuration, data, model and evaluation
 *   tools/cli_train.c    `train` (progress, logs, checkpoints, resume), `eval`, `sample`
 *   tools/cli_report.c   `report`: a run directory as one HTML page (and what training writes
 *                        for it)
 *
 * Exit status of every command: 0 success, 1 a failure while running (missing file, failed
 * step), 2 a usage error (bad flag or value). Errors are printed as one line on stderr. */
#ifndef DEEPC_TOOLS_CLI_H
#define DEEPC_TOOLS_CLI_H

#include "deepc.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* ---- Option tables (cli_options.c) ---------------------------------------------------------- */

/* The options themselves (dc_option, DC_OPTION_END) are the public type of deepc/task.h:
 * tasks declare theirs with it. */

/* Set the option `name` from its text form. Returns 1 on success, 0 if the table has no such
 * option, -1 (message in `why`) for a bad value. */
int option_set(const dc_option *table, void *settings, const char *name, const char *value,
               char *why, size_t why_size);
/* Parse argv[1..argc) (argv[0]: the command's name) into settings. Returns 0, or EXIT_USAGE
 * with a one-line message in `why` for an unknown option, a missing or bad value. Prints
 * nothing: the seam for tests and fuzzers. */
int options_parse_argv(const dc_option *table, void *settings, int argc, char **argv,
                       char *why, size_t why_size);
/* The same, printing "deepc CMD: <why>" on stderr on error. */
int options_parse_args(const dc_option *table, void *settings, int argc, char **argv);
/* Longest config line accepted (bytes, without the '\n'); a longer one is an error. */
#define OPTION_LINE_MAX 4096
/* Parse a config file's text[0..len): "key = value" lines, '#' starts a comment, blank lines
 * skipped. Returns 0, or EXIT_USAGE with "LINE: message" in `why` for an unknown key, a bad
 * value, a line without '=', a line holding a NUL byte or one over OPTION_LINE_MAX bytes
 * (settings then hold the lines before it). Prints nothing: the seam for tests and fuzzers. */
int options_parse_buffer(const dc_option *table, void *settings, const char *text,
                         size_t len, char *why, size_t why_size);
/* Read a config file through options_parse_buffer. Returns 0, EXIT_RUNTIME (cannot read) or
 * EXIT_USAGE, the message printed as "deepc CMD: FILE:LINE: ...". */
int options_parse_file(const dc_option *table, void *settings, const char *path,
                       const char *command);
/* The value of an option as text (as options_parse_* read it back). */
void option_format(const dc_option *spec, const void *settings, char *buf, size_t size);
/* Whether option_format's text is run_config_init's "unset" ("", -1, NaN: outside every
 * option's range), e.g. the options a task run does not use. */
bool option_is_unset(const dc_option *o, const char *formatted);
/* The option given on the command line as "--name V" / "--name=V", or NULL. */
const char *option_in_args(int argc, char **argv, const char *name);

/* ---- Tasks (cli_tasks.c) ------------------------------------------------------------------- */

/* The applications `deepc train --task NAME` runs, NULL-terminated. */
extern const dc_task *const cli_tasks[];
/* The task called name, or NULL. */
const dc_task *cli_task_find(const char *name);
/* For --help: the tasks with their summaries, or (task_name given) that task's options with
 * their defaults and the defaults it gives the shared options. */
void cli_tasks_help(FILE *out, const char *task_name);

/* ---- A training run (cli_run.c) ------------------------------------------------------------- */

enum { RUN_TASK_SETTINGS = 4096 };

typedef struct {
    /* model and data (saved) */
    char model[32], data[1024], data_dir[1024], tokenizer[8], hidden[128], shuffle_lines[4];
    long merges, context, layers, heads, dim, embedding; /* embedding: lstm */
    double dropout;
    /* optimisation (saved) */
    long epochs, batch, warmup, steps_per_epoch, seed;
    double lr, weight_decay, clip, val;
    char optim[16], schedule[16];
    bool augment;
    /* this invocation only */
    long threads, max_steps, log_every, save_every;
    char out[1024], config[1024], on_nonfinite[8];
    bool resume, report; /* report: keep OUT/report.html up to date */
    /* --task NAME (saved): an application of the task table instead of --model; its own
     * options live in task_settings (dc_task.settings_size bytes at most RUN_TASK_SETTINGS) */
    char task[32];
    _Alignas(max_align_t) unsigned char task_settings[RUN_TASK_SETTINGS];
} run_config;

/* The shared options of every run (a table over run_config). */
extern const dc_option run_options[];
/* run_options followed by the options of `task` (offsets moved into run_config's
 * task_settings), so one table parses flags, config files and checkpoint metadata of a task
 * run; run_options itself for NULL. Built once per task; NULL (error set) if the task's
 * settings do not fit. */
const dc_option *run_options_for(const dc_task *task);

/* Everything unset: numbers -1 (NaN for reals), text "" (filled by run_config_finish). */
void run_config_init(run_config *cfg);
/* Start a run of `task` (NULL: a --model run, nothing to do): the task's option defaults and
 * its defaults for the shared options (dc_task.run_defaults). Returns 0 or EXIT_USAGE. */
int run_config_set_task(run_config *cfg, const dc_task *task, const char *command);
/* The task called name into *task (NULL for no name: a --model run). Returns 0, or EXIT_USAGE
 * after printing the known tasks. */
int run_find_task(const char *name, const dc_task **task, const char *command);
/* Fill what was left unset with the model's defaults and check the combination (model and
 * data kinds). Returns 0 or EXIT_USAGE (message printed). */
int run_config_finish(run_config *cfg, const char *command);

typedef enum {
    TASK_IMAGES, /* --model mlp|lenet|resnet-small|vit on Fashion-MNIST */
    TASK_TEXT,   /* --model gpt|lstm on a text corpus */
    TASK_APP     /* --task NAME: an application of the task table (app, app_state) */
} task_kind;

typedef struct {
    run_config cfg;
    task_kind task;
    const dc_task *app;
    void *app_state;
    int64_t app_steps_per_epoch, app_items_per_batch;
    dc_module *model;
    dc_rng model_rng; /* initial weights, then dropout masks: lives as long as the model */
    /* images: Fashion-MNIST (or an MNIST-format directory) split into train / val */
    dc_dataset *train_set, *val_set;
    double mean, std; /* normalisation from the training split */
    /* text: the tokenizer, the corpus as ids, the training prefix and validation windows */
    dc_tokenizer *tok;
    int64_t *tokens, n_tokens, n_train_tokens;
    dc_dataset *val_windows; /* [M, context] inputs and targets from the validation tail */
    char data_file[4096];    /* the text file read */
} run;

/* Load the run's data (with_data false: text runs load only what the tokenizer needs) and
 * build its model. tokenizer_path: load the tokenizer from there instead of building it
 * (resume, eval, sample). Returns 0 or EXIT_RUNTIME / EXIT_USAGE with a one-line message
 * printed as "deepc CMD: ...". */
int run_open(run *r, const run_config *cfg, const char *tokenizer_path, bool with_data,
             const char *command);
void run_close(run *r);
/* Fashion-MNIST's (or --data-dir's) training or test images, not normalised; NULL after
 * printing a one-line error that names the file (and the Debian package to install). */
dc_dataset *run_load_images(const run *r, bool train, const char *command);
/* An example input for the model summary: [1, 1, 28, 28] images or [1, context] ids. */
dc_tensor *run_example_input(const run *r);
/* The mean loss of a batch: cross-entropy of the logits (per token for text). */
dc_tensor *run_loss(const run *r, dc_tensor *logits, dc_tensor *targets);
/* Mean loss and accuracy (NaN for text) of ds in eval mode without gradients. */
int run_evaluate(run *r, const dc_dataset *ds, double *loss, double *accuracy);

/* A task run's metrics on its validation or test split (dc_task.evaluate in eval mode,
 * without gradients). Returns 0 or -1 (error set). */
int run_evaluate_app(run *r, dc_task_split split, dc_metrics *m);
/* "name value, name value, ..." of the metrics, into buf. */
void run_format_metrics(const dc_metrics *m, char *buf, size_t size);

/* Checkpoint metadata: a flat list of key/value strings. */
enum { METADATA_MAX = 96 };
typedef struct {
    int n;
    char keys[METADATA_MAX][32];
    char values[METADATA_MAX][1024];
} metadata;
void metadata_add(metadata *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The run's configuration (saved options) and data facts as metadata. */
void run_metadata(const run *r, metadata *m);
/* Read a checkpoint's run configuration back (saved options). Returns 0 or EXIT_RUNTIME. */
int run_config_from_checkpoint(run_config *cfg, const char *path, const char *command);
/* Rebuild the run a checkpoint was trained with and load its weights (image runs take the
 * normalisation from the metadata and load no images). with_text: text runs also load their
 * corpus and validation windows, task runs their data (for evaluation). overrides: data / data_dir to use instead
 * of the saved ones ("" keeps them), or NULL. Returns 0 or an exit status (message printed). */
int run_open_checkpoint(run *r, const char *path, bool with_text, const char *command,
                        const run_config *overrides);

/* Files written atomically (cli_report.c): open PATH.tmp.PID (tmp receives its name; NULL
 * with an error), then close it and rename it over path if everything was written (0, or -1
 * with an error naming path); or both at once for bytes in memory. A crash leaves the
 * previous complete file. */
FILE *atomic_open(const char *path, char *tmp, size_t tmp_size);
int atomic_close(FILE *f, const char *tmp, const char *path);
int write_file_atomic(const char *path, const void *data, size_t len);

/* Directory part of a path ("." if none), into buf. */
void path_dirname(const char *path, char *buf, size_t size);

/* ---- Commands (cli_train.c) ----------------------------------------------------------------- */

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
/* `deepc generate --checkpoint F [--n N] [--steps S] [--seed S] [--out PNG]`: samples of a
 * generative task (dc_task.generate). */
int cmd_generate(int argc, char **argv);
/* `deepc info --model ... | --checkpoint ...`: print the model summary. */
int cli_model_info(int argc, char **argv);

/* ---- Training reports (cli_report.c) -------------------------------------------------------- */

enum { REPORT_MAX_RUNS = 10, REPORT_MAX_CLASSES = 100, REPORT_MAX_IMAGES = 16 };
enum { REPORT_MAX_PICTURES = 16, REPORT_MAX_PICTURE_BYTES = 8 << 20 };
enum { REPORT_RELOAD_SECONDS = 5 }; /* a live page reloads itself this often */

/* One row of log.csv (NaN: an empty field, not measured). */
typedef struct {
    double epoch;
    long long step;
    double train_loss, val_loss, val_acc, lr, seconds;
} report_row;

/* A misclassified test image: pixels [height, width] (gray, 0..255). */
typedef struct {
    long long index;
    int label, predicted, height, width;
    double probability; /* of the predicted class */
    unsigned char *pixels;
} report_image;

/* A run directory as the report reads it. */
typedef struct {
    char dir[4096]; /* as given, without trailing slashes */
    report_row *rows;
    int n_rows;
    metadata config;       /* the saved options; n == 0: not recorded */
    char config_note[512]; /* where the configuration came from, or why it is missing */
    int n_classes;         /* classifiers, from confusion.csv (0: none) */
    char (*class_names)[64];
    long long *confusion; /* [n_classes, n_classes]: rows true class, columns predicted */
    report_image images[REPORT_MAX_IMAGES];
    int n_images;
    char *sample; /* text runs: sample.txt, or NULL */
    /* task runs (--task): the test metrics of metrics.txt (n == 0: none yet) and the
     * pictures the task drew (the run directory's .png / .svg files other than loss.svg),
     * each as a data: URI */
    metadata metrics;
    int n_pictures;
    char picture_names[REPORT_MAX_PICTURES][256];
    char *picture_uris[REPORT_MAX_PICTURES];
} report_run;

/* Write s as HTML text (also safe inside a quoted attribute): & < > " ' escaped, control
 * characters other than newline and tab shown as U+FFFD. */
void report_escape_html(FILE *f, const char *s);
/* Parse the text of a log.csv (text[0..len), modified in place; path names it in messages)
 * into malloc'ed rows. Returns 0, or -1 with a one-line reason in `why` for an empty file, a
 * wrong header, no rows, or a truncated or bad row (naming its line). */
int report_parse_log(char *text, size_t len, const char *path, report_row **rows, int *n_rows,
                     char *why, size_t why_size);
/* Read run directory `dir`: log.csv (required), the configuration (cfg's saved options when
 * cfg is not NULL, else the checkpoint's metadata), confusion.csv, misclassified.csv and
 * sample.txt when present. Returns 0, or -1 with a one-line reason in `why` (a directory
 * that does not exist, a missing or truncated log.csv, a bad CSV naming its line); the run
 * then holds nothing to free. */
int report_run_load(report_run *run, const char *dir, const run_config *cfg, char *why,
                    size_t why_size);
void report_run_free(report_run *run);
/* The page for runs[0..n_runs) (1 to REPORT_MAX_RUNS), written at time `written`. live: it
 * reloads itself every REPORT_RELOAD_SECONDS (a script, or a meta refresh without scripts),
 * until it has not been rewritten for 30 minutes. Returns 0 or -1 (error set). */
int report_write_html(FILE *f, const report_run *runs, int n_runs, bool live, time_t written);
/* report_write_html into `path`, atomically (temp file + rename). 0 or -1 (error set). */
int report_write_file(const char *path, const report_run *runs, int n_runs, bool live);
/* `deepc train --report`: rewrite cfg->out/report.html from the run directory and cfg.
 * 0 or -1 (error set). */
int report_update(const run_config *cfg, bool live);
/* End of training, images: loss and accuracy of the test set like run_evaluate (same
 * batches, same values), and dir/confusion.csv and dir/misclassified.csv (the first
 * REPORT_MAX_IMAGES misclassified images). test: normalised with r's statistics. 0 or -1. */
int report_evaluate_images(run *r, const dc_dataset *test, const char *dir, double *loss,
                           double *accuracy);
/* End of training, text: the generated sample as dir/sample.txt (atomically). 0 or -1. */
int report_save_sample(const char *dir, const char *text, size_t len);
/* `deepc report RUN_DIR [RUN_DIR ...] [--out FILE]`. */
int cmd_report(int argc, char **argv);

#endif
