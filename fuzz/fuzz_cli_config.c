/* Fuzz target: the deepc command's configuration parsing (tools/cli_options.c and
 * tools/cli_run.c, compiled into this harness so their static helpers are reachable).
 *
 * Input: byte 0 picks the source (mod 3), the rest is its text:
 *   0  a config file ("key = value" lines, '#' comments) for options_parse_buffer, and
 *      options_parse_file on the same bytes as a file, which must agree with it;
 *   1  command-line arguments separated by NUL bytes, for options_parse_argv (and
 *      option_in_args for every option name);
 *   2  checkpoint metadata, NUL-separated key, value, key, value, ...: written with
 *      dc_safetensors_save (when the writer accepts them) and read back by
 *      run_config_from_checkpoint, as `deepc eval` / `sample` / `--resume` do.
 * Whatever parses then goes through run_config_finish; a configuration it accepts must be
 * sound (text fields NUL-terminated, numbers in their ranges, heads dividing dim for the
 * attention models, the MLP's --hidden widths parseable), and every option must print and
 * parse back to the same text. The CLI's messages go to /dev/null instead of stderr. */
#include "fuzz_common.h"

static FILE *fuzz_quiet(void)
{
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    return null ? null : stderr;
}
#undef stderr
#define stderr fuzz_quiet()
#include "../tools/cli_options.c"
#include "../tools/cli_run.c"
#include "../tools/cli_tasks.c"
#undef stderr
#define stderr stderr

/* The accepted configuration is sound. */
static void check_config(const run_config *cfg)
{
    const dc_task *task = cli_task_find(cfg->task);
    FUZZ_CHECK(!cfg->task[0] || task);
    for (const dc_option *o = run_options_for(task); o->name; o++)
        if (o->type == DC_OPTION_TEXT) FUZZ_CHECK(memchr((const char *)cfg + o->offset, 0, o->size) != NULL);
    FUZZ_CHECK(cfg->epochs >= 1 && cfg->batch >= 1 && cfg->lr > 0 && cfg->clip >= 0);
    FUZZ_CHECK(cfg->out[0] != '\0');
    if (task) return; /* the task's model and data options are its own */
    FUZZ_CHECK(cfg->heads >= 1 && cfg->dim >= 1 && cfg->context >= 1 && cfg->layers >= 1);
    FUZZ_CHECK(cfg->epochs >= 1 && cfg->batch >= 1 && cfg->merges >= 1);
    FUZZ_CHECK(cfg->lr > 0 && cfg->dropout >= 0 && cfg->dropout < 1 && cfg->clip >= 0);
    FUZZ_CHECK(cfg->weight_decay >= 0 && cfg->val >= 0 && cfg->warmup >= 0 && cfg->seed >= 0);
    if (!strcmp(cfg->model, "gpt") || !strcmp(cfg->model, "vit")) FUZZ_CHECK(cfg->dim % cfg->heads == 0);
    int64_t widths[MLP_MAX_WIDTHS];
    char why[256];
    int n = mlp_widths(cfg->hidden, widths, why, sizeof why);
    FUZZ_CHECK(n >= 1 && n < MLP_MAX_WIDTHS && widths[0] == 784 && widths[n] == 10);
    for (int i = 1; i < n; i++) FUZZ_CHECK(widths[i] >= 1 && widths[i] <= MLP_MAX_WIDTH);
    FUZZ_CHECK(cfg->out[0] != '\0');
}

/* Every option prints as text that option_set reads back to the same setting. */
static void check_format_round_trip(const run_config *cfg)
{
    char text[1100], again[1100], why[512];
    const dc_option *table = run_options_for(cli_task_find(cfg->task));
    for (const dc_option *o = table; o->name; o++) {
        option_format(o, cfg, text, sizeof text);
        run_config copy = *cfg;
        int got = option_set(table, &copy, o->name, text, why, sizeof why);
        FUZZ_CHECK(got != 0);
        if (got < 0) continue; /* an unset value (-1, NaN, "") is outside the option's range */
        option_format(o, &copy, again, sizeof again);
        FUZZ_CHECK(!strcmp(text, again));
    }
}

static void finish(run_config *cfg)
{
    if (run_config_finish(cfg, "train") == 0) {
        check_config(cfg);
        check_format_round_trip(cfg);
    }
}

/* NUL-separated strings of data[0..size) into out (at most max; the last one need not be
 * terminated). Returns the count; the strings live in `buf`, a terminated copy of data. */
static int split(const uint8_t *data, size_t size, char *buf, char **out, int max)
{
    memcpy(buf, data, size);
    buf[size] = '\0';
    int n = 0;
    for (size_t i = 0; i < size && n < max; i += strlen(buf + i) + 1) out[n++] = buf + i;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    int mode = size > 0 ? data[0] % 3 : 0;
    const uint8_t *text = size > 0 ? data + 1 : data;
    size_t len = size > 0 ? size - 1 : 0;
    run_config cfg;
    run_config_init(&cfg);
    char *buf = malloc(len + 1), *args[65];
    FUZZ_CHECK(buf != NULL);
    char why[2048] = "";
    if (mode == 0) {
        /* the buffer parser, and the file reader around it, agree */
        int rc = options_parse_buffer(run_options, &cfg, (const char *)text, len, why, sizeof why);
        FUZZ_CHECK(rc == 0 || (rc == EXIT_USAGE && why[0]));
        run_config from_file;
        run_config_init(&from_file);
        int file_rc = options_parse_file(run_options, &from_file, fuzz_file(0, text, len), "train");
        FUZZ_CHECK(file_rc == rc && !memcmp(&from_file, &cfg, sizeof cfg));
        if (rc == 0) finish(&cfg);
    } else if (mode == 1) {
        args[0] = "train";
        int argc = 1 + split(text, len, buf, args + 1, 64);
        for (const dc_option *o = run_options; o->name; o++) {
            const char *v = option_in_args(argc, args, o->name);
            FUZZ_CHECK(!v || (v >= buf && v <= buf + len));
        }
        int rc = options_parse_argv(run_options, &cfg, argc, args, why, sizeof why);
        FUZZ_CHECK(rc == 0 || (rc == EXIT_USAGE && why[0]));
        if (rc == 0) finish(&cfg);
    } else {
        int n = split(text, len, buf, args, 64) / 2;
        char path[512];
        fuzz_path(path, sizeof path, "metadata.safetensors");
        if (dc_safetensors_save(path, NULL, 0, (const char *const *)args, n) == 0) {
            int rc = run_config_from_checkpoint(&cfg, path, "eval");
            FUZZ_CHECK(rc == 0 || rc == EXIT_RUNTIME);
            if (rc == 0) finish(&cfg);
        }
        dc_clear_error();
    }
    free(buf);
    fuzz_end();
    return 0;
}
