/* A training run of the deepc command: its configuration (flags, config file, checkpoint
 * metadata), its data (Fashion-MNIST split into train/val and normalised with the training
 * statistics; or a text corpus as token ids with a validation tail), its model, and
 * evaluation. `train`, `eval`, `sample` and `info` all build a run the same way, so a
 * checkpoint's metadata is enough to rebuild exactly the model that was trained. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RUN_OPT(name, type, field, min, max, choices, saved)                                    \
    {name, type, offsetof(run_config, field), sizeof(((run_config *)0)->field), min, max, choices, \
     saved, NULL}

/* Every `deepc train` option; "saved" ones define the run and go into checkpoints. */
const dc_option run_options[] = {
    RUN_OPT("task", DC_OPTION_TEXT, task, 0, 0, NULL, true),
    RUN_OPT("model", DC_OPTION_TEXT, model, 0, 0, "mlp|lenet|resnet-small|vit|gpt|lstm", true),
    RUN_OPT("data", DC_OPTION_TEXT, data, 0, 0, NULL, true),
    RUN_OPT("data-dir", DC_OPTION_TEXT, data_dir, 0, 0, NULL, true),
    RUN_OPT("tokenizer", DC_OPTION_TEXT, tokenizer, 0, 0, "char|bpe", true),
    RUN_OPT("merges", DC_OPTION_INT, merges, 1, 65536, NULL, true),
    RUN_OPT("shuffle-lines", DC_OPTION_TEXT, shuffle_lines, 0, 0, "yes|no", true),
    RUN_OPT("hidden", DC_OPTION_TEXT, hidden, 0, 0, NULL, true),
    RUN_OPT("context", DC_OPTION_INT, context, 1, 8192, NULL, true),
    RUN_OPT("layers", DC_OPTION_INT, layers, 1, 256, NULL, true),
    RUN_OPT("heads", DC_OPTION_INT, heads, 1, 256, NULL, true),
    RUN_OPT("dim", DC_OPTION_INT, dim, 1, 16384, NULL, true),
    RUN_OPT("embedding", DC_OPTION_INT, embedding, 1, 1000000, NULL, true),
    RUN_OPT("dropout", DC_OPTION_REAL, dropout, 0, 0.99, NULL, true),
    RUN_OPT("epochs", DC_OPTION_INT, epochs, 1, 1e6, NULL, true),
    RUN_OPT("batch", DC_OPTION_INT, batch, 1, 1e6, NULL, true),
    RUN_OPT("lr", DC_OPTION_REAL, lr, 1e-12, 100, NULL, true),
    RUN_OPT("optim", DC_OPTION_TEXT, optim, 0, 0, "adamw|adam|sgd", true),
    RUN_OPT("weight-decay", DC_OPTION_REAL, weight_decay, 0, 100, NULL, true),
    RUN_OPT("schedule", DC_OPTION_TEXT, schedule, 0, 0, "cosine|step|constant", true),
    RUN_OPT("warmup", DC_OPTION_INT, warmup, 0, 1e12, NULL, true),
    RUN_OPT("clip", DC_OPTION_REAL, clip, 0, 1e9, NULL, true),
    RUN_OPT("val", DC_OPTION_REAL, val, 0, 1e12, NULL, true),
    RUN_OPT("augment", DC_OPTION_FLAG, augment, 0, 0, NULL, true),
    RUN_OPT("steps-per-epoch", DC_OPTION_INT, steps_per_epoch, 0, 1e12, NULL, true),
    RUN_OPT("seed", DC_OPTION_INT, seed, 0, 1e15, NULL, true),
    RUN_OPT("threads", DC_OPTION_INT, threads, 1, 1024, NULL, false),
    RUN_OPT("max-steps", DC_OPTION_INT, max_steps, 1, 1e15, NULL, false),
    RUN_OPT("log-every", DC_OPTION_INT, log_every, 1, 1e12, NULL, false),
    RUN_OPT("save-every", DC_OPTION_INT, save_every, 1, 1e12, NULL, false),
    RUN_OPT("on-nonfinite", DC_OPTION_TEXT, on_nonfinite, 0, 0, "stop|skip", false),
    RUN_OPT("out", DC_OPTION_TEXT, out, 0, 0, NULL, false),
    RUN_OPT("config", DC_OPTION_TEXT, config, 0, 0, NULL, false),
    RUN_OPT("resume", DC_OPTION_FLAG, resume, 0, 0, NULL, false),
    RUN_OPT("report", DC_OPTION_FLAG, report, 0, 0, NULL, false),
    DC_OPTION_END,
};

void run_config_init(run_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    long *ints[] = {&cfg->merges,  &cfg->context,         &cfg->layers, &cfg->heads,
                    &cfg->dim,     &cfg->epochs,          &cfg->batch,  &cfg->warmup,
                    &cfg->seed,    &cfg->steps_per_epoch, &cfg->threads, &cfg->max_steps,
                    &cfg->log_every, &cfg->save_every, &cfg->embedding};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) *ints[i] = -1;
    cfg->dropout = cfg->lr = cfg->weight_decay = cfg->clip = cfg->val = NAN;
}

/* The combined tables of run_options_for, built on first use and kept for the process. */
enum { MAX_TASK_TABLES = 64 };
static struct {
    const dc_task *task;
    dc_option *table;
} task_tables[MAX_TASK_TABLES];

const dc_option *run_options_for(const dc_task *task)
{
    if (!task) return run_options;
    int slot = 0;
    while (slot < MAX_TASK_TABLES && task_tables[slot].task && task_tables[slot].task != task)
        slot++;
    if (slot == MAX_TASK_TABLES) return dc_error("run_options_for: too many tasks"), NULL;
    if (task_tables[slot].table) return task_tables[slot].table;
    if (task->settings_size > RUN_TASK_SETTINGS)
        return dc_error("task %s: its settings take %zu bytes, more than the %d a run holds",
                        task->name, task->settings_size, (int)RUN_TASK_SETTINGS),
               NULL;
    size_t n_shared = 0, n_task = 0;
    while (run_options[n_shared].name) n_shared++;
    while (task->options && task->options[n_task].name) n_task++;
    dc_option *table = malloc((n_shared + n_task + 1) * sizeof *table);
    if (!table) return dc_error("run_options_for: out of memory"), NULL;
    memcpy(table, run_options, n_shared * sizeof *table);
    for (size_t i = 0; i < n_task; i++) {
        table[n_shared + i] = task->options[i];
        table[n_shared + i].offset += offsetof(run_config, task_settings);
        table[n_shared + i].saved = true; /* a task's options define its run */
    }
    table[n_shared + n_task] = (dc_option)DC_OPTION_END;
    task_tables[slot].task = task, task_tables[slot].table = table;
    return table;
}

int run_config_set_task(run_config *cfg, const dc_task *task, const char *command)
{
    if (!task) return 0;
    snprintf(cfg->task, sizeof cfg->task, "%s", task->name);
    memset(cfg->task_settings, 0, sizeof cfg->task_settings);
    if (!run_options_for(task)) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_USAGE;
    }
    if (task->defaults) task->defaults(cfg->task_settings);
    char why[1024];
    if (task->run_defaults && options_parse_buffer(run_options, cfg, task->run_defaults,
                                                   strlen(task->run_defaults), why,
                                                   sizeof why) != 0) {
        fprintf(stderr, "deepc %s: task %s: its run defaults: line %s\n", command, task->name,
                why);
        return EXIT_USAGE;
    }
    return 0;
}

int run_find_task(const char *name, const dc_task **task, const char *command)
{
    *task = NULL;
    if (!name || !*name) return 0;
    if ((*task = cli_task_find(name))) return 0;
    fprintf(stderr, "deepc %s: unknown --task '%s'; the tasks are:", command, name);
    for (const dc_task *const *t = cli_tasks; *t; t++)
        fprintf(stderr, " %s", (*t)->name);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

/* The MLP's widths: 784, the --hidden list ("512,256": each in [1, MLP_MAX_WIDTH]; as many
 * as the option's text holds), 10. Returns the number of layers, or -1 with the reason. */
enum { MLP_MAX_WIDTHS = 2 + sizeof(((run_config *)0)->hidden) / 2, MLP_MAX_WIDTH = 1000000 };
static int mlp_widths(const char *hidden, int64_t widths[MLP_MAX_WIDTHS], char *why,
                      size_t why_size);

static bool is_image_model(const char *model)
{
    return strcmp(model, "gpt") != 0 && strcmp(model, "lstm") != 0;
}

#define DEFAULT_TEXT(field, value)                                                             \
    if (!cfg->field[0]) snprintf(cfg->field, sizeof cfg->field, "%s", value)
#define DEFAULT_NUMBER(field, value)                                                           \
    if (cfg->field < 0 || cfg->field != cfg->field) cfg->field = (value)

static dc_optim_kind optim_kind(const char *name)
{
    return !strcmp(name, "sgd") ? DC_SGD : !strcmp(name, "adam") ? DC_ADAM : DC_ADAMW;
}

/* The shared options' defaults for a task run. */
static int task_config_finish(run_config *cfg, const char *command)
{
    const dc_task *task;
    int rc = run_find_task(cfg->task, &task, command);
    if (rc) return rc;
    if (cfg->model[0]) {
        fprintf(stderr, "deepc %s: --task %s builds its own model; --model %s does not apply\n",
                command, cfg->task, cfg->model);
        return EXIT_USAGE;
    }
    DEFAULT_TEXT(data_dir, DC_FASHION_MNIST_DIR);
    DEFAULT_TEXT(optim, "adamw");
    DEFAULT_TEXT(schedule, "cosine");
    DEFAULT_TEXT(on_nonfinite, "stop");
    DEFAULT_NUMBER(epochs, 10);
    DEFAULT_NUMBER(batch, 64);
    DEFAULT_NUMBER(lr, 1e-3);
    DEFAULT_NUMBER(weight_decay, dc_optim_defaults(optim_kind(cfg->optim), 1e-3).weight_decay);
    DEFAULT_NUMBER(warmup, 0);
    DEFAULT_NUMBER(clip, 0.0);
    DEFAULT_NUMBER(steps_per_epoch, 0);
    DEFAULT_NUMBER(seed, 0);
    if (!cfg->out[0]) snprintf(cfg->out, sizeof cfg->out, "runs/%s", cfg->task);
    return 0;
}

int run_config_finish(run_config *cfg, const char *command)
{
    if (cfg->task[0]) return task_config_finish(cfg, command);
    DEFAULT_TEXT(model, "mlp");
    bool images = is_image_model(cfg->model), gpt = !images;
    bool vit = !strcmp(cfg->model, "vit"), lstm = !strcmp(cfg->model, "lstm");
    DEFAULT_TEXT(data, images ? "fashion-mnist" : "names");
    if (images != !strcmp(cfg->data, "fashion-mnist")) {
        fprintf(stderr,
                "deepc %s: --model %s trains on %s, not --data %s\n", command, cfg->model,
                images ? "images (--data fashion-mnist, --data-dir DIR for another MNIST-format set)"
                       : "text (--data names, brown or a text file)",
                cfg->data);
        return EXIT_USAGE;
    }
    DEFAULT_TEXT(data_dir, DC_FASHION_MNIST_DIR);
    DEFAULT_TEXT(tokenizer, "char");
    /* names.txt is sorted: without shuffling, the validation tail would be all Z-names */
    DEFAULT_TEXT(shuffle_lines, !strcmp(cfg->data, "names") ? "yes" : "no");
    DEFAULT_TEXT(hidden, lstm ? "256" : "512,256"); /* lstm: one width, the state size */
    DEFAULT_TEXT(optim, "adamw");
    DEFAULT_TEXT(schedule, "cosine");
    DEFAULT_TEXT(on_nonfinite, "stop");
    DEFAULT_NUMBER(merges, 256);
    DEFAULT_NUMBER(context, 32);
    DEFAULT_NUMBER(layers, lstm ? 2 : 4);
    DEFAULT_NUMBER(embedding, 64);
    DEFAULT_NUMBER(heads, 4);
    DEFAULT_NUMBER(dim, vit ? 64 : 128);
    DEFAULT_NUMBER(dropout, 0.0);
    DEFAULT_NUMBER(epochs, gpt ? 5 : 10);
    DEFAULT_NUMBER(batch, images ? 128 : 32);
    DEFAULT_NUMBER(lr, 1e-3);
    DEFAULT_NUMBER(weight_decay, dc_optim_defaults(optim_kind(cfg->optim), 1e-3).weight_decay);
    DEFAULT_NUMBER(warmup, 0);
    DEFAULT_NUMBER(clip, gpt ? 1.0 : 0.0);
    DEFAULT_NUMBER(val, images ? 5000 : 0.1);
    DEFAULT_NUMBER(steps_per_epoch, 0);
    DEFAULT_NUMBER(seed, 0);
    if (((gpt && !lstm) || vit) && cfg->dim % cfg->heads != 0) {
        fprintf(stderr, "deepc %s: --heads %ld must divide --dim %ld\n", command, cfg->heads,
                cfg->dim);
        return EXIT_USAGE;
    }
    int64_t widths[MLP_MAX_WIDTHS];
    char why[256];
    if (mlp_widths(cfg->hidden, widths, why, sizeof why) < 0) {
        fprintf(stderr, "deepc %s: --hidden expects widths like 512,256: %s\n", command, why);
        return EXIT_USAGE;
    }
    if (lstm && strchr(cfg->hidden, ',')) {
        fprintf(stderr, "deepc %s: --model lstm takes one --hidden width (the state size), got "
                        "'%s'\n", command, cfg->hidden);
        return EXIT_USAGE;
    }
    if (!cfg->out[0]) snprintf(cfg->out, sizeof cfg->out, "runs/%s", cfg->model);
    return 0;
}

void path_dirname(const char *path, char *buf, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(buf, size, ".");
    else if (slash == path) snprintf(buf, size, "/");
    else snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* ---- Data ----------------------------------------------------------------------------------- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The text file behind --data: "names" and "brown" are data/{names,brown}.txt (from `make
 * data`) or else the samples committed in assets/, looked up from the working directory and
 * from the source tree above this executable (build/deepc); anything else is a path.
 * note_sample: say so on stderr when falling back to a sample. */
static int resolve_text_file(const char *data, char *path, size_t size, bool note_sample,
                             const char *command)
{
    if (strcmp(data, "names") != 0 && strcmp(data, "brown") != 0) {
        snprintf(path, size, "%s", data);
        if (file_exists(path)) return 0;
        fprintf(stderr, "deepc %s: cannot read the text file %s: %s\n", command, data,
                strerror(errno ? errno : ENOENT));
        return EXIT_RUNTIME;
    }
    char exe[1024] = "", roots[2][1024 + 4];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(roots[0], sizeof roots[0], ".");
    path_dirname(exe, roots[1], sizeof roots[1]);
    strncat(roots[1], "/..", sizeof roots[1] - strlen(roots[1]) - 1);
    const char *files[2][2] = {{"data/names.txt", "assets/names_sample.txt"},
                               {"data/brown.txt", "assets/brown_sample.txt"}};
    const char *const *candidates = files[!strcmp(data, "brown")];
    for (int c = 0; c < 2; c++)
        for (int root = 0; root < 2; root++) {
            snprintf(path, size, "%s/%s", roots[root], candidates[c]);
            if (!file_exists(path)) continue;
            if (c == 1 && note_sample)
                fprintf(stderr, "deepc %s: note: %s not found ('make data' fetches it); "
                                "using the small sample %s\n", command, candidates[0], path);
            return 0;
        }
    fprintf(stderr, "deepc %s: cannot find %s or %s (run 'make data', or give --data FILE)\n",
            command, candidates[0], candidates[1]);
    return EXIT_RUNTIME;
}

/* Fashion-MNIST training images, split into train / val, both normalised with the training
 * split's mean and standard deviation. */
dc_dataset *run_load_images(const run *r, bool train, const char *command)
{
    dc_dataset *ds = dc_fashion_mnist_load(r->cfg.data_dir, train);
    if (!ds) {
        bool debian_dir = !strcmp(r->cfg.data_dir, DC_FASHION_MNIST_DIR);
        fprintf(stderr, "deepc %s: %s%s\n", command, dc_last_error(),
                debian_dir ? " (install it: sudo apt-get install dataset-fashion-mnist)" : "");
    }
    return ds;
}

static int open_images(run *r, const char *command)
{
    dc_dataset *full = run_load_images(r, true, command);
    if (!full) return EXIT_RUNTIME;
    int64_t n = dc_dataset_size(full);
    int64_t n_val = r->cfg.val < 1 ? llround(r->cfg.val * (double)n) : (int64_t)r->cfg.val;
    if (n_val >= n) {
        fprintf(stderr, "deepc %s: --val %g leaves no training images (of %lld)\n", command,
                r->cfg.val, (long long)n);
        dc_dataset_free(full);
        return EXIT_USAGE;
    }
    int rc = dc_dataset_split(full, n_val, (uint64_t)r->cfg.seed, &r->train_set, &r->val_set);
    dc_dataset_free(full);
    if (rc == 0 && dc_dataset_channel_stats(r->train_set, &r->mean, &r->std, 1) != 1) rc = -1;
    if (rc == 0) rc = dc_dataset_normalize(r->train_set, &r->mean, &r->std);
    if (rc == 0) rc = dc_dataset_normalize(r->val_set, &r->mean, &r->std);
    if (rc != 0) {
        fprintf(stderr, "deepc %s: preparing the images failed: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}

/* Put the lines of text[0..len) in a random order that depends only on seed (in place; the
 * same bytes, a line without a final '\n' may move and the last line placed goes without
 * one). For corpora of independent lines such as names, so the validation tail is a fair
 * sample of them. Returns 0, or -1 when out of memory. */
static int shuffle_lines(char *text, size_t len, uint64_t seed)
{
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++) n_lines += i == 0 || text[i - 1] == '\n';
    size_t *starts = malloc((n_lines + 1) * sizeof *starts);
    char *copy = malloc(len + 1);
    if (!starts || !copy) {
        free(starts), free(copy);
        return -1;
    }
    for (size_t i = 0, k = 0; i < len; i++)
        if (i == 0 || text[i - 1] == '\n') starts[k++] = i;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (size_t i = n_lines; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(dc_rng_u64(&rng) % i), t = starts[i - 1];
        starts[i - 1] = starts[j], starts[j] = t;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < n_lines; k++) {
        size_t line_len = strcspn(copy + starts[k], "\n");
        memcpy(text + used, copy + starts[k], line_len);
        used += line_len;
        if (used < len) text[used++] = '\n';
    }
    free(starts), free(copy);
    return 0;
}

/* The corpus as token ids, the tokenizer (loaded from tokenizer_path, else built from the
 * text: characters, or BPE merges learned on the training part), and the validation windows. */
static int open_text(run *r, const char *tokenizer_path, bool with_data, const char *command)
{
    int rc = resolve_text_file(r->cfg.data, r->data_file, sizeof r->data_file,
                               with_data || !tokenizer_path, command);
    if (rc) return rc;
    if (tokenizer_path && !(r->tok = dc_tokenizer_load(tokenizer_path))) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    if (r->tok && !with_data) return 0;
    size_t len;
    char *text = dc_read_text_file(r->data_file, &len);
    if (!text) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    if (!strcmp(r->cfg.shuffle_lines, "yes") && shuffle_lines(text, len, (uint64_t)r->cfg.seed) != 0) {
        free(text);
        fprintf(stderr, "deepc %s: out of memory\n", command);
        return EXIT_RUNTIME;
    }
    /* BPE learns its merges on the training part only (the first 1 - val of the text; at
     * most 2 MB of it, which already gives stable merges). */
    size_t train_bytes = r->cfg.val < 1 ? (size_t)((1 - r->cfg.val) * (double)len) : len;
    if (train_bytes > (2u << 20)) train_bytes = 2u << 20;
    if (!r->tok)
        r->tok = !strcmp(r->cfg.tokenizer, "bpe")
                     ? dc_tokenizer_bpe_train(text, train_bytes, (int)r->cfg.merges)
                     : dc_tokenizer_char_build(text, len);
    if (r->tok) r->tokens = dc_tokenizer_encode(r->tok, text, len, &r->n_tokens);
    free(text);
    if (!r->tokens) {
        fprintf(stderr, "deepc %s: %s: %s\n", command, r->data_file, dc_last_error());
        return EXIT_RUNTIME;
    }
    int64_t n_val = r->cfg.val < 1 ? llround(r->cfg.val * (double)r->n_tokens)
                                   : (int64_t)r->cfg.val;
    r->n_train_tokens = r->n_tokens - n_val;
    int64_t T = r->cfg.context;
    if (n_val < T + 1 || r->n_train_tokens < T + 1) {
        fprintf(stderr,
                "deepc %s: %s: %lld tokens split into %lld train / %lld val, each needs more "
                "than --context %lld\n",
                command, r->data_file, (long long)r->n_tokens, (long long)r->n_train_tokens,
                (long long)n_val, (long long)T);
        return EXIT_USAGE;
    }
    if (with_data && dc_lm_windows(r->tokens + r->n_train_tokens, n_val, T, T, 0.0,
                                   &r->val_windows, NULL) != 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}

/* ---- Models --------------------------------------------------------------------------------- */

static int mlp_widths(const char *hidden, int64_t widths[MLP_MAX_WIDTHS], char *why,
                      size_t why_size)
{
    int n = 0;
    widths[n++] = 28 * 28;
    for (const char *h = hidden;; h++) {
        size_t len = strspn(h, "0123456789");
        long width = len <= 7 ? strtol(h, NULL, 10) : MLP_MAX_WIDTH + 1L;
        if (h[len] && h[len] != ',')
            return snprintf(why, why_size, "'%s' holds '%c'", hidden, h[len]), -1;
        if (!len) return snprintf(why, why_size, "'%s' has an empty width", hidden), -1;
        if (width < 1 || width > MLP_MAX_WIDTH)
            return snprintf(why, why_size, "in '%s', %.*s is not a width in [1, %d]", hidden,
                            (int)len, h, MLP_MAX_WIDTH), -1;
        if (n == MLP_MAX_WIDTHS - 1)
            return snprintf(why, why_size, "'%s' has more than %d widths", hidden,
                            MLP_MAX_WIDTHS - 2), -1;
        widths[n++] = width;
        h += len;
        if (!*h) break;
    }
    widths[n] = 10;
    return n;
}

static dc_module *build_model(run *r)
{
    const run_config *c = &r->cfg;
    dc_rng *rng = &r->model_rng;
    if (!strcmp(c->model, "mlp")) {
        int64_t widths[MLP_MAX_WIDTHS];
        char why[256];
        int n_layers = mlp_widths(c->hidden, widths, why, sizeof why);
        if (n_layers < 0) return dc_error("--hidden: %s", why), NULL;
        /* flatten [N, 1, 28, 28] -> [N, 784] in the model, so it takes the images as they are */
        return dc_sequential_new(2, dc_flatten_new(1, -1),
                                 dc_mlp_new(n_layers, widths, DC_ACT_RELU, c->dropout, rng));
    }
    if (!strcmp(c->model, "lenet")) return dc_lenet_new(10, rng);
    if (!strcmp(c->model, "resnet-small")) return dc_resnet_small_new(10, 1, rng);
    if (!strcmp(c->model, "vit")) {
        dc_vit_config v = {28, 7, 1, 10, (int)c->layers, c->heads, c->dim, 0, 0, c->dropout};
        return dc_vit_new(&v, rng);
    }
    if (!strcmp(c->model, "lstm")) {
        dc_rnn_lm_config l = {DC_RNN_LSTM, dc_tokenizer_vocab_size(r->tok), c->embedding,
                              strtol(c->hidden, NULL, 10), (int)c->layers, c->dropout};
        return dc_rnn_lm_new(&l, rng);
    }
    dc_gpt_config g = {dc_tokenizer_vocab_size(r->tok), c->context, (int)c->layers, c->heads,
                       c->dim, c->dropout};
    return dc_gpt_new(&g, rng);
}

/* A task's data and model (dc_task.setup). */
static int open_app(run *r, bool with_data, const char *command)
{
    if (run_find_task(r->cfg.task, &r->app, command)) return EXIT_USAGE;
    size_t scope = dc_scope_begin();
    dc_task_setup ctx = {r->cfg.task_settings, r->cfg.data, r->cfg.data_dir,
                         (uint64_t)r->cfg.seed, r->cfg.batch, with_data, &r->model_rng,
                         NULL, NULL, 0, 0};
    int rc = r->app->setup(&ctx);
    dc_scope_end(scope);
    r->app_state = ctx.state, r->model = ctx.model;
    r->app_steps_per_epoch = ctx.steps_per_epoch;
    r->app_items_per_batch = ctx.items_per_batch > 0 ? ctx.items_per_batch : r->cfg.batch;
    if (rc == 0 && !r->model) rc = (dc_error("the task built no model"), -1);
    if (rc == 0 && with_data && r->app_steps_per_epoch < 1)
        rc = (dc_error("the task has no training batches"), -1);
    if (rc != 0) {
        fprintf(stderr, "deepc %s: task %s: %s\n", command, r->cfg.task, dc_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}

int run_open(run *r, const run_config *cfg, const char *tokenizer_path, bool with_data,
             const char *command)
{
    memset(r, 0, sizeof *r);
    r->cfg = *cfg;
    r->task = cfg->task[0] ? TASK_APP : is_image_model(cfg->model) ? TASK_IMAGES : TASK_TEXT;
    dc_rng_seed(&r->model_rng, (uint64_t)cfg->seed);
    if (r->task == TASK_APP) return open_app(r, with_data, command);
    int rc = r->task == TASK_TEXT ? open_text(r, tokenizer_path, with_data, command)
             : with_data          ? open_images(r, command)
                                  : 0;
    if (rc) return rc;
    if (!(r->model = build_model(r))) {
        fprintf(stderr, "deepc %s: cannot build --model %s: %s\n", command, cfg->model,
                dc_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}

void run_close(run *r)
{
    if (r->app && r->app->close && r->app_state) r->app->close(r->app_state);
    dc_module_free(r->model);
    dc_dataset_free(r->train_set);
    dc_dataset_free(r->val_set);
    dc_dataset_free(r->val_windows);
    dc_tokenizer_free(r->tok);
    free(r->tokens);
    memset(r, 0, sizeof *r);
}

dc_tensor *run_example_input(const run *r)
{
    if (r->task == TASK_TEXT) return dc_zeros(DC_I64, DC_SHAPE(1, r->cfg.context));
    return dc_zeros(DC_F32, DC_SHAPE(1, 1, 28, 28));
}

dc_tensor *run_loss(const run *r, dc_tensor *logits, dc_tensor *targets)
{
    if (r->task == TASK_IMAGES) return dc_cross_entropy(logits, targets, NULL);
    /* next-token logits [B, T, V] against ids [B, T]: one prediction per position */
    int64_t vocab = logits ? logits->shape[logits->ndim - 1] : 0;
    return dc_cross_entropy(dc_reshape(logits, DC_SHAPE(-1, vocab)),
                            dc_reshape(targets, DC_SHAPE(-1)), NULL);
}

int run_evaluate(run *r, const dc_dataset *ds, double *loss, double *accuracy)
{
    enum { EVAL_BATCH = 500 };
    dc_loader *loader = dc_loader_new(ds, r->task == TASK_TEXT ? 64 : EVAL_BATCH, false, false, 0);
    if (!loader) return -1;
    bool was_training = r->model->training, grad = dc_no_grad_begin();
    dc_module_train(r->model, false);
    double loss_sum = 0, correct = 0;
    int64_t seen = 0;
    int got;
    for (;;) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        got = dc_loader_next(loader, &x, &y);
        double batch_loss = NAN, batch_acc = 0;
        if (got == 1) {
            dc_tensor *logits = dc_forward(r->model, x);
            batch_loss = dc_item(run_loss(r, logits, y));
            if (r->task == TASK_IMAGES) batch_acc = dc_accuracy(logits, y);
            if (isnan(batch_loss) || batch_acc < 0) got = -1;
        }
        int64_t b = got == 1 ? x->shape[0] : 0;
        dc_scope_end(scope);
        if (got != 1) break;
        loss_sum += batch_loss * (double)b, correct += batch_acc * (double)b, seen += b;
    }
    dc_module_train(r->model, was_training);
    dc_grad_mode_restore(grad);
    dc_loader_free(loader);
    *loss = seen ? loss_sum / (double)seen : NAN;
    *accuracy = r->task == TASK_IMAGES && seen ? correct / (double)seen : NAN;
    return got < 0 ? -1 : 0;
}

int run_evaluate_app(run *r, dc_task_split split, dc_metrics *m)
{
    *m = (dc_metrics){.loss = NAN};
    bool was_training = r->model->training, grad = dc_no_grad_begin();
    dc_module_train(r->model, false);
    size_t scope = dc_scope_begin();
    int rc = r->app->evaluate(r->app_state, r->model, split, m);
    dc_scope_end(scope);
    dc_module_train(r->model, was_training);
    dc_grad_mode_restore(grad);
    return rc;
}

void run_format_metrics(const dc_metrics *m, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < m->n && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s %.4g", i ? ", " : "", m->metrics[i].name,
                         m->metrics[i].value);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* ---- Checkpoint metadata -------------------------------------------------------------------- */

void metadata_add(metadata *m, const char *key, const char *fmt, ...)
{
    if (m->n >= METADATA_MAX) return;
    snprintf(m->keys[m->n], sizeof m->keys[m->n], "%s", key);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->values[m->n], sizeof m->values[m->n], fmt, ap);
    va_end(ap);
    m->n++;
}

void run_metadata(const run *r, metadata *m)
{
    metadata_add(m, "deepc", "%s", DC_VERSION);
    char value[1024];
    for (const dc_option *o = run_options_for(r->app); o->name; o++) {
        if (!o->saved) continue;
        option_format(o, &r->cfg, value, sizeof value);
        if (!option_is_unset(o, value)) metadata_add(m, o->name, "%s", value);
    }
    if (r->task == TASK_APP) {
        /* nothing else: the task's data depend only on its options and the seed */
    } else if (r->task == TASK_IMAGES) {
        metadata_add(m, "norm_mean", "%.17g", r->mean);
        metadata_add(m, "norm_std", "%.17g", r->std);
    } else {
        metadata_add(m, "tokenizer_file", "tokenizer.txt"); /* next to the checkpoint */
        metadata_add(m, "vocab", "%lld", (long long)dc_tokenizer_vocab_size(r->tok));
        char *abs = realpath(r->data_file, NULL);
        metadata_add(m, "data_file", "%s", abs ? abs : r->data_file);
        free(abs);
    }
}

/* Metadata value as a number; NaN when absent or malformed. */
static double metadata_number(dc_safetensors *f, const char *key)
{
    const char *text = dc_safetensors_metadata(f, key);
    char *end;
    double v = text ? strtod(text, &end) : NAN;
    return text && end != text && !*end ? v : NAN;
}

int run_config_from_checkpoint(run_config *cfg, const char *path, const char *command)
{
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    int rc = 0;
    char why[512];
    const char *task_name = dc_safetensors_metadata(f, "task");
    if (!dc_safetensors_metadata(f, "deepc") ||
        !(dc_safetensors_metadata(f, "model") || task_name)) {
        fprintf(stderr, "deepc %s: %s is not a checkpoint written by deepc train (no run "
                        "metadata)\n", command, path);
        rc = EXIT_RUNTIME;
    }
    const dc_task *task = NULL;
    if (rc == 0 && task_name && (run_find_task(task_name, &task, command) ||
                                 run_config_set_task(cfg, task, command)))
        rc = EXIT_RUNTIME;
    const dc_option *table = run_options_for(task);
    for (const dc_option *o = table; rc == 0 && o->name; o++) {
        const char *value = o->saved ? dc_safetensors_metadata(f, o->name) : NULL;
        if (value && option_set(table, cfg, o->name, value, why, sizeof why) < 0) {
            fprintf(stderr, "deepc %s: %s: metadata: %s\n", command, path, why);
            rc = EXIT_RUNTIME;
        }
    }
    dc_safetensors_close(f);
    return rc;
}

int run_open_checkpoint(run *r, const char *path, bool with_text, const char *command,
                        const run_config *overrides)
{
    memset(r, 0, sizeof *r); /* so run_close is safe whatever fails */
    run_config cfg;
    run_config_init(&cfg);
    int rc = run_config_from_checkpoint(&cfg, path, command);
    if (rc) return rc;
    if (overrides && overrides->data_dir[0]) memcpy(cfg.data_dir, overrides->data_dir, sizeof cfg.data_dir);
    if (overrides && overrides->data[0]) memcpy(cfg.data, overrides->data, sizeof cfg.data);
    if ((rc = run_config_finish(&cfg, command))) return rc;
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) return EXIT_RUNTIME; /* was readable a moment ago */
    char dir[4096], tokenizer[8192] = "";
    path_dirname(path, dir, sizeof dir);
    const char *tokenizer_file = dc_safetensors_metadata(f, "tokenizer_file");
    /* a plain file name next to the checkpoint: a crafted checkpoint must not make us read
     * another path */
    if (tokenizer_file && (!*tokenizer_file || strchr(tokenizer_file, '/') ||
                           !strcmp(tokenizer_file, ".") || !strcmp(tokenizer_file, "..") ||
                           strlen(tokenizer_file) > 255)) {
        fprintf(stderr,
                "deepc %s: %s: metadata: tokenizer_file '%.300s' must be a file name in the "
                "checkpoint's directory (no '/', not '..', not empty)\n",
                command, path, tokenizer_file);
        dc_safetensors_close(f);
        return EXIT_RUNTIME;
    }
    if (tokenizer_file) snprintf(tokenizer, sizeof tokenizer, "%s/%s", dir, tokenizer_file);
    /* eval on a text run reads the validation text it was trained with */
    const char *data_file = dc_safetensors_metadata(f, "data_file");
    if (data_file && !(overrides && overrides->data[0]))
        snprintf(cfg.data, sizeof cfg.data, "%s", data_file);
    double mean = metadata_number(f, "norm_mean"), std = metadata_number(f, "norm_std");
    dc_safetensors_close(f);
    bool text = !cfg.task[0] && !is_image_model(cfg.model);
    rc = run_open(r, &cfg, tokenizer[0] ? tokenizer : NULL, with_text && (text || cfg.task[0]),
                  command);
    if (rc) return rc;
    if (!text) r->mean = mean, r->std = std;
    /* a file of deepc quantize: the fresh model gets its blocks (dc_quant_load) */
    if (dc_quant_file_is_quantized(path) ? dc_quant_load(path, r->model) < 0
                                         : dc_checkpoint_load(path, r->model, NULL) != 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    return 0;
}
