/* deepc report: a training run directory as one self-contained HTML page.
 *
 * The page is built only from what a run wrote (see cli_train.c's list of files):
 *   log.csv                 the curves: training/validation loss, validation accuracy, the
 *                           learning rate and the throughput (items per second between rows)
 *   checkpoint.safetensors  the configuration (its metadata: the saved options)
 *   confusion.csv           classifiers: the test set's confusion matrix (rows: true class)
 *   misclassified.csv       classifiers: a few misclassified test images (hex pixels)
 *   sample.txt              language models: the text generated at the end of training
 * The last three are written at the end of training (report_evaluate_images,
 * report_save_sample). Nothing is fetched: plots are inline SVG (src/io/plot.c), images
 * inline PNG data (written here, uncompressed), and the only script is inline. `deepc train
 * --report` rewrites OUT/report.html (atomically) at every log row; while the run is live
 * the page reloads itself every few seconds, and its last version does not. Several run
 * directories give one page comparing them: curves overlaid, configurations in columns. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const run_colors[REPORT_MAX_RUNS] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

/* ---- Small writers: HTML text, atomic files ------------------------------------------------ */

void report_escape_html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) fputs("&#xfffd;", f);
            else fputc(c, f);
        }
    }
}

FILE *atomic_open(const char *path, char *tmp, size_t tmp_size)
{
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) dc_error("cannot write %s: %s", tmp, strerror(errno));
    return f;
}

int atomic_close(FILE *f, const char *tmp, const char *path)
{
    errno = 0;
    bool ok = !ferror(f);
    int err = errno ? errno : EIO;
    if (fclose(f) != 0 && ok) ok = false, err = errno;
    if (ok && rename(tmp, path) != 0) ok = false, err = errno;
    if (ok) return 0;
    remove(tmp);
    return dc_error("cannot write %s: %s", path, strerror(err)), -1;
}

int write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4400];
    FILE *f = atomic_open(path, tmp, sizeof tmp);
    if (!f) return -1;
    fwrite(data, 1, len, f);
    return atomic_close(f, tmp, path);
}

/* ---- Images as data URIs ---------------------------------------------------------------- */

/* An 8-bit grayscale image of pixels [h, w] as "data:image/png;base64,...", malloc'ed (the
 * PNG bytes from libpng: dc_png_encode); NULL with the error recorded when that fails, e.g.
 * in a build without libpng. */
/* "data:MIME;base64,..." of bytes[0..n), malloc'ed (NULL when out of memory). */
static char *data_uri(const char *mime, const unsigned char *bytes, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char prefix[64];
    snprintf(prefix, sizeof prefix, "data:%s;base64,", mime);
    char *uri = malloc(strlen(prefix) + 4 * (n + 2) / 3 + 4);
    if (!uri) return NULL;
    char *o = uri + strlen(prefix);
    memcpy(uri, prefix, strlen(prefix));
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)bytes[i] << 16;
        if (i + 1 < n) v |= (uint32_t)bytes[i + 1] << 8;
        if (i + 2 < n) v |= bytes[i + 2];
        *o++ = b64[v >> 18 & 63], *o++ = b64[v >> 12 & 63];
        *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return uri;
}

static char *png_data_uri(const unsigned char *pixels, int w, int h)
{
    size_t scope = dc_scope_begin();
    dc_tensor *img = dc_from_buffer(DC_U8, DC_SHAPE(1, h, w), pixels);
    unsigned char *png = NULL;
    size_t n = 0;
    int rc = img ? dc_png_encode(img, &png, &n) : -1;
    dc_scope_end(scope);
    if (rc != 0) return NULL;
    char *uri = data_uri("image/png", png, n);
    free(png);
    return uri;
}

/* ---- Reading a run directory ---------------------------------------------------------------- */

/* A whole file, NUL-terminated (malloc'ed); NULL with errno set. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *text = NULL;
    size_t n = 0, cap = 0, got;
    errno = 0;
    do {
        if (n + 4096 + 1 > cap) {
            char *grown = cap < ((size_t)256 << 20) ? realloc(text, cap ? 2 * cap : 8192) : NULL;
            if (!grown) {
                free(text), fclose(f);
                errno = cap ? EFBIG : ENOMEM;
                return NULL;
            }
            text = grown, cap = cap ? 2 * cap : 8192;
        }
        got = fread(text + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (err) {
        free(text);
        errno = err;
        return NULL;
    }
    text[n] = '\0';
    if (len) *len = n;
    return text;
}

/* Split line (modified in place) at commas into at most max fields; returns the count
 * (max + 1 when there are more). */
static int split_fields(char *line, char **fields, int max)
{
    int n = 0;
    for (char *p = line;; p++) {
        if (n == max) return max + 1;
        fields[n++] = p;
        p += strcspn(p, ",");
        if (!*p) return n;
        *p = '\0';
    }
}

/* A whole-field number: "" is NaN when allowed; false for anything else. */
static bool parse_number(const char *text, bool empty_ok, double *v)
{
    if (!*text) {
        *v = NAN;
        return empty_ok;
    }
    char *end;
    *v = strtod(text, &end);
    return end != text && !*end;
}

static bool parse_long(const char *text, long long min, long long max, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(text, &end, 10);
    return *text && !*end && !errno && *v >= min && *v <= max;
}

/* The next line of text[*at..] without its '\n' (in place); NULL at the end. *complete: it
 * ended with '\n' (a last line without one was cut short). */
static char *next_line(char *text, size_t len, size_t *at, bool *complete)
{
    if (*at >= len) return NULL;
    char *line = text + *at, *nl = memchr(line, '\n', len - *at);
    *complete = nl != NULL;
    if (nl) *nl = '\0', *at = (size_t)(nl - text) + 1;
    else *at = len;
    size_t n = strlen(line);
    if (n && line[n - 1] == '\r') line[n - 1] = '\0';
    return line;
}

static const char log_header[] = "epoch,step,train_loss,val_loss,val_acc,lr,seconds";

int report_parse_log(char *text, size_t len, const char *path, report_row **rows, int *n_rows,
                     char *why, size_t why_size)
{
    *rows = NULL, *n_rows = 0;
    if (memchr(text, '\0', len)) {
        snprintf(why, why_size, "%s holds a NUL byte: not a deepc log", path);
        return -1;
    }
    size_t at = 0;
    bool complete;
    char *line = next_line(text, len, &at, &complete);
    if (!line) {
        snprintf(why, why_size, "%s is empty (truncated?)", path);
        return -1;
    }
    if (strcmp(line, log_header) != 0) {
        snprintf(why, why_size, "%s:1: not a deepc log: expected the header '%s'", path,
                 log_header);
        return -1;
    }
    int cap = 0;
    for (long number = 2; (line = next_line(text, len, &at, &complete)); number++) {
        char *f[8];
        int n = split_fields(line, f, 7);
        report_row r;
        double step;
        bool ok = complete && n == 7 && parse_number(f[0], false, &r.epoch) &&
                  parse_number(f[1], false, &step) && step >= 0 && step <= 9e18 &&
                  step == floor(step) && parse_number(f[2], true, &r.train_loss) &&
                  parse_number(f[3], true, &r.val_loss) && parse_number(f[4], true, &r.val_acc) &&
                  parse_number(f[5], false, &r.lr) && parse_number(f[6], false, &r.seconds);
        if (!ok) {
            if (!complete || n < 7)
                snprintf(why, why_size, "%s:%ld: truncated row (%d of 7 fields%s)", path, number,
                         n > 7 ? 7 : n, complete ? "" : ", no end of line");
            else
                snprintf(why, why_size, "%s:%ld: bad row: expected 7 numbers "
                                        "(epoch,step,train_loss,val_loss,val_acc,lr,seconds)",
                         path, number);
            free(*rows), *rows = NULL, *n_rows = 0;
            return -1;
        }
        r.step = (long long)step;
        if (*n_rows == cap) {
            cap = cap ? 2 * cap : 64;
            report_row *grown = realloc(*rows, (size_t)cap * sizeof *grown);
            if (!grown) {
                snprintf(why, why_size, "%s: out of memory", path);
                free(*rows), *rows = NULL, *n_rows = 0;
                return -1;
            }
            *rows = grown;
        }
        (*rows)[(*n_rows)++] = r;
    }
    if (*n_rows == 0) {
        snprintf(why, why_size, "%s has a header but no rows (truncated?)", path);
        return -1;
    }
    return 0;
}

/* A real option's value as the shortest text that reads back the same ("0.003", not
 * "0.0030000000000000001" as checkpoints store it); other values as they are. */
static void add_config(metadata *m, const dc_option *o, const char *value)
{
    char *end, shortest[64];
    double v = o->type == DC_OPTION_REAL ? strtod(value, &end) : 0;
    if (o->type == DC_OPTION_REAL && end != value && !*end && isfinite(v))
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(shortest, sizeof shortest, "%.*g", digits, v);
            if (strtod(shortest, NULL) == v) {
                value = shortest;
                break;
            }
        }
    metadata_add(m, o->name, "%s", value);
}

/* The configuration from the checkpoint's metadata: the saved options of run_options, in
 * their order. No checkpoint (a run stopped before its first epoch ended) leaves none. */
static void config_from_checkpoint(report_run *run)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/checkpoint.safetensors", run->dir);
    struct stat st;
    if (stat(path, &st) != 0) return;
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) {
        snprintf(run->config_note, sizeof run->config_note, "unreadable checkpoint: %s",
                 dc_last_error());
        dc_clear_error();
        return;
    }
    const char *version = dc_safetensors_metadata(f, "deepc");
    if (version) metadata_add(&run->config, "deepc", "%s", version);
    const char *task = dc_safetensors_metadata(f, "task");
    const dc_option *table = run_options_for(task ? cli_task_find(task) : NULL);
    for (const dc_option *o = table ? table : run_options; o->name; o++) {
        const char *v = o->saved ? dc_safetensors_metadata(f, o->name) : NULL;
        if (v) add_config(&run->config, o, v);
    }
    dc_safetensors_close(f);
    snprintf(run->config_note, sizeof run->config_note, "from checkpoint.safetensors");
}

static const char *config_value(const report_run *run, const char *key)
{
    for (int i = 0; i < run->config.n; i++)
        if (!strcmp(run->config.keys[i], key)) return run->config.values[i];
    return NULL;
}

/* confusion.csv: "true\predicted,NAME,...", then one row per true class: NAME,COUNT,... */
static int read_confusion(report_run *run, char *why, size_t why_size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/confusion.csv", run->dir);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return errno == ENOENT ? 0 : (snprintf(why, why_size, "cannot read %s: %s", path,
                                                      strerror(errno)), -1);
    size_t at = 0;
    bool complete;
    char *line = next_line(text, len, &at, &complete);
    char *f[REPORT_MAX_CLASSES + 2];
    int n = line && complete ? split_fields(line, f, REPORT_MAX_CLASSES + 1) : 0;
    int k = n - 1, rc = 0;
    if (k < 1 || k > REPORT_MAX_CLASSES) {
        snprintf(why, why_size, "%s:1: expected a header 'true\\predicted,CLASS,...' with 1 to %d "
                                "classes", path, REPORT_MAX_CLASSES);
        free(text);
        return -1;
    }
    run->n_classes = k;
    run->class_names = calloc((size_t)k, sizeof *run->class_names);
    run->confusion = calloc((size_t)k * (size_t)k, sizeof *run->confusion);
    if (!run->class_names || !run->confusion) {
        snprintf(why, why_size, "%s: out of memory", path);
        free(text);
        return -1;
    }
    for (int j = 0; j < k; j++)
        snprintf(run->class_names[j], sizeof run->class_names[j], "%s", f[j + 1]);
    for (int i = 0; i < k && rc == 0; i++) {
        line = next_line(text, len, &at, &complete);
        n = line ? split_fields(line, f, k + 1) : 0;
        bool ok = line && complete && n == k + 1;
        for (int j = 0; ok && j < k; j++) {
            long long v;
            ok = parse_long(f[j + 1], 0, (long long)1 << 50, &v);
            run->confusion[i * k + j] = v;
        }
        if (!ok) {
            snprintf(why, why_size, "%s:%d: %s row of class %d (expected its name and %d counts)",
                     path, i + 2, !line || !complete || n < k + 1 ? "truncated" : "bad", i, k);
            rc = -1;
        }
    }
    free(text);
    return rc;
}

/* misclassified.csv: index,label,predicted,probability,height,width,pixels (hex, row-major) */
static int read_misclassified(report_run *run, char *why, size_t why_size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/misclassified.csv", run->dir);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return errno == ENOENT ? 0 : (snprintf(why, why_size, "cannot read %s: %s", path,
                                                      strerror(errno)), -1);
    size_t at = 0;
    bool complete;
    char *line = next_line(text, len, &at, &complete); /* the header */
    int rc = 0;
    for (int number = 2; rc == 0 && (line = next_line(text, len, &at, &complete)); number++) {
        if (run->n_images == REPORT_MAX_IMAGES) break;
        char *f[8];
        int n = split_fields(line, f, 7);
        report_image *im = &run->images[run->n_images];
        long long index, label, predicted, h, w;
        bool ok = complete && n == 7 && parse_long(f[0], 0, INT64_MAX, &index) &&
                  parse_long(f[1], 0, REPORT_MAX_CLASSES - 1, &label) &&
                  parse_long(f[2], 0, REPORT_MAX_CLASSES - 1, &predicted) &&
                  parse_number(f[3], false, &im->probability) && parse_long(f[4], 1, 256, &h) &&
                  parse_long(f[5], 1, 256, &w) && strlen(f[6]) == (size_t)(2 * h * w) &&
                  strspn(f[6], "0123456789abcdefABCDEF") == strlen(f[6]);
        if (ok && !(im->pixels = malloc((size_t)(h * w)))) ok = false;
        for (long long i = 0; ok && i < h * w; i++) {
            char hex[3] = {f[6][2 * i], f[6][2 * i + 1], '\0'};
            im->pixels[i] = (unsigned char)strtol(hex, NULL, 16);
        }
        if (!ok) {
            snprintf(why, why_size, "%s:%d: %s row (expected index,label,predicted,probability,"
                                    "height,width,pixels)",
                     path, number, !complete || n < 7 ? "truncated" : "bad");
            rc = -1;
            break;
        }
        im->index = index, im->label = (int)label, im->predicted = (int)predicted;
        im->height = (int)h, im->width = (int)w;
        run->n_images++;
    }
    free(text);
    return rc;
}

/* metrics.txt of a task run: "name = number" lines (training writes it with the test
 * metrics at the end). Missing: no metrics. */
static int read_metrics(report_run *run, char *why, size_t why_size)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.txt", run->dir);
    size_t len, at = 0;
    char *text = read_file(path, &len);
    if (!text) {
        if (errno == ENOENT) return 0;
        snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    bool complete;
    for (long number = 1; rc == 0 && at < len; number++) {
        char *line = next_line(text, len, &at, &complete);
        if (!*line) continue;
        char *eq = strchr(line, '=');
        double v;
        if (eq) *eq = '\0';
        size_t name_len = eq ? strcspn(line, " ") : 0;
        if (!eq || name_len == 0 || name_len >= sizeof run->metrics.keys[0] ||
            !parse_number(eq + 1 + strspn(eq + 1, " "), false, &v) ||
            run->metrics.n == METADATA_MAX) {
            snprintf(why, why_size, "%s:%ld: expected 'name = number'", path, number);
            rc = -1;
            break;
        }
        line[name_len] = '\0';
        metadata_add(&run->metrics, line, "%.6g", v);
    }
    free(text);
    return rc;
}

static bool is_picture_name(const char *name, const char **mime)
{
    size_t n = strlen(name);
    if (n > 4 && !strcmp(name + n - 4, ".png")) return *mime = "image/png", true;
    if (n > 4 && !strcmp(name + n - 4, ".svg") && strcmp(name, "loss.svg"))
        return *mime = "image/svg+xml", true;
    return false;
}

static int compare_names(const void *a, const void *b) { return strcmp(a, b); }

/* The pictures a task drew into its run directory (PNG, SVG; not loss.svg, which the report
 * draws itself), in name order, as data URIs shown with <img> (an SVG shown so runs no
 * script). Only for task runs; too large a file is skipped with a note. */
static int read_pictures(report_run *run, char *why, size_t why_size)
{
    DIR *d = opendir(run->dir);
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d)) && run->n_pictures < REPORT_MAX_PICTURES;) {
        const char *mime;
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof run->picture_names[0] ||
            !is_picture_name(e->d_name, &mime))
            continue;
        snprintf(run->picture_names[run->n_pictures++], sizeof run->picture_names[0], "%s",
                 e->d_name);
    }
    closedir(d);
    qsort(run->picture_names, (size_t)run->n_pictures, sizeof run->picture_names[0],
          compare_names);
    for (int i = 0; i < run->n_pictures; i++) {
        char path[4400];
        const char *mime;
        is_picture_name(run->picture_names[i], &mime);
        snprintf(path, sizeof path, "%s/%s", run->dir, run->picture_names[i]);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > REPORT_MAX_PICTURE_BYTES)
            continue; /* not shown: the page says so */
        size_t len;
        char *bytes = read_file(path, &len);
        if (!bytes) {
            snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        run->picture_uris[i] = data_uri(mime, (const unsigned char *)bytes, len);
        free(bytes);
        if (!run->picture_uris[i]) return snprintf(why, why_size, "out of memory"), -1;
    }
    return 0;
}

void report_run_free(report_run *run)
{
    if (!run) return;
    for (int i = 0; i < run->n_pictures; i++) free(run->picture_uris[i]);
    free(run->rows);
    free(run->class_names);
    free(run->confusion);
    for (int i = 0; i < run->n_images; i++) free(run->images[i].pixels);
    free(run->sample);
    memset(run, 0, sizeof *run);
}

int report_run_load(report_run *run, const char *dir, const run_config *cfg, char *why,
                    size_t why_size)
{
    memset(run, 0, sizeof *run);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    snprintf(run->dir, sizeof run->dir, "%.*s", (int)n, dir);
    struct stat st;
    if (stat(run->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, why_size, "%s: %s", run->dir,
                 stat(run->dir, &st) != 0 ? "no such run directory" : "not a directory");
        return -1;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/log.csv", run->dir);
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        if (errno == ENOENT)
            snprintf(why, why_size, "%s: no log.csv (not a deepc training run directory?)",
                     run->dir);
        else snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = report_parse_log(text, len, path, &run->rows, &run->n_rows, why, why_size);
    free(text);
    if (rc == 0 && cfg) { /* the running training's own configuration */
        metadata_add(&run->config, "deepc", "%s", DC_VERSION);
        char value[1024];
        const dc_option *table = run_options_for(cli_task_find(cfg->task));
        for (const dc_option *o = table ? table : run_options; o->name; o++)
            if (o->saved) {
                option_format(o, cfg, value, sizeof value);
                if (!option_is_unset(o, value)) add_config(&run->config, o, value);
            }
        snprintf(run->config_note, sizeof run->config_note, "of the running training");
    } else if (rc == 0) {
        config_from_checkpoint(run);
    }
    if (rc == 0 && config_value(run, "task")) rc = read_metrics(run, why, why_size);
    if (rc == 0 && config_value(run, "task")) rc = read_pictures(run, why, why_size);
    if (rc == 0) rc = read_confusion(run, why, why_size);
    if (rc == 0) rc = read_misclassified(run, why, why_size);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/sample.txt", run->dir);
        run->sample = read_file(path, NULL);
        if (!run->sample && errno != ENOENT) {
            snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
            rc = -1;
        }
    }
    if (rc) report_run_free(run);
    return rc;
}

/* ---- The page -------------------------------------------------------------------------------- */

static bool is_text_run(const report_run *run)
{
    const char *model = config_value(run, "model");
    return run->sample || (model && (!strcmp(model, "gpt") || !strcmp(model, "lstm")));
}

/* Items (images or tokens) per step, from the configuration; 0 if unknown. */
static double items_per_step(const report_run *run)
{
    const char *batch = config_value(run, "batch"), *context = config_value(run, "context");
    double b = batch ? strtod(batch, NULL) : 0, c = context ? strtod(context, NULL) : 0;
    return is_text_run(run) ? b * c : b;
}

static const report_row *last_row(const report_run *run) { return &run->rows[run->n_rows - 1]; }

/* "finished", "stopped at epoch 1.5 of 3", or the live status. */
static void run_status(const report_run *run, bool live, char *buf, size_t size)
{
    const char *epochs = config_value(run, "epochs");
    double done = last_row(run)->epoch, want = epochs ? strtod(epochs, NULL) : NAN;
    if (live) snprintf(buf, size, "training: epoch %.4g of %.4g", done, want);
    else if (!isfinite(want)) snprintf(buf, size, "epoch %.4g (epochs not recorded)", done);
    else if (done >= want - 1e-9) snprintf(buf, size, "finished");
    else snprintf(buf, size, "stopped at epoch %.4g of %.4g", done, want);
}

static void format_duration(char *buf, size_t size, double seconds)
{
    if (seconds < 60) {
        snprintf(buf, size, "%.1f s", isfinite(seconds) && seconds > 0 ? seconds : 0.0);
        return;
    }
    long s = isfinite(seconds) && seconds > 0 ? lround(seconds) : 0;
    if (s >= 3600) snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

static long long confusion_total(const report_run *run, long long *correct)
{
    long long total = 0;
    *correct = 0;
    for (int i = 0; i < run->n_classes; i++)
        for (int j = 0; j < run->n_classes; j++) {
            total += run->confusion[i * run->n_classes + j];
            if (i == j) *correct += run->confusion[i * run->n_classes + j];
        }
    return total;
}

/* One row of the summary table: a label, then a cell per run from fill(run, buf). */
typedef void (*cell_fn)(const report_run *run, bool live, char *buf, size_t size);

static void cell_status(const report_run *r, bool live, char *b, size_t n)
{
    run_status(r, live, b, n);
}
static void cell_model(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    const char *model = config_value(r, "model");
    snprintf(b, n, "%s", model ? model : "?");
}
static void cell_steps(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    snprintf(b, n, "%lld", last_row(r)->step);
}
static void cell_time(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    format_duration(b, n, last_row(r)->seconds);
}
static void cell_throughput(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    double items = items_per_step(r), s = last_row(r)->seconds;
    if (items > 0 && s > 0)
        snprintf(b, n, "%.0f %s/s", (double)last_row(r)->step * items / s,
                 is_text_run(r) ? "tokens" : "images");
    else snprintf(b, n, "-");
}
static void cell_train_loss(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    snprintf(b, n, "%.4f", last_row(r)->train_loss);
}
static void cell_val_loss(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    int best = -1, last = -1;
    for (int i = 0; i < r->n_rows; i++)
        if (isfinite(r->rows[i].val_loss)) {
            last = i;
            if (best < 0 || r->rows[i].val_loss < r->rows[best].val_loss) best = i;
        }
    if (last < 0) snprintf(b, n, "-");
    else snprintf(b, n, "%.4f (best %.4f at epoch %.4g)", r->rows[last].val_loss,
                  r->rows[best].val_loss, r->rows[best].epoch);
}
static void cell_val_acc(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    snprintf(b, n, "-");
    for (int i = r->n_rows - 1; i >= 0; i--)
        if (isfinite(r->rows[i].val_acc)) {
            snprintf(b, n, "%.2f%%", 100 * r->rows[i].val_acc);
            break;
        }
}
static void cell_test_acc(const report_run *r, bool live, char *b, size_t n)
{
    (void)live;
    long long correct, total = r->confusion ? confusion_total(r, &correct) : 0;
    if (total > 0) snprintf(b, n, "%.2f%% (%lld images)", 100.0 * (double)correct / (double)total,
                            total);
    else snprintf(b, n, "%s", is_text_run(r) ? "-" : "after training");
}

static void write_summary(FILE *f, const report_run *runs, int n_runs, bool live)
{
    static const struct {
        const char *label;
        cell_fn fill;
    } rows[] = {{"status", cell_status},         {"model", cell_model},
                {"steps", cell_steps},           {"training time", cell_time},
                {"throughput", cell_throughput}, {"training loss (last row)", cell_train_loss},
                {"validation loss", cell_val_loss}, {"validation accuracy", cell_val_acc},
                {"test accuracy", cell_test_acc}};
    fprintf(f, "<section id=\"summary\"><h2>Summary</h2>\n<table class=\"grid\"><tr><th></th>");
    for (int r = 0; r < n_runs; r++) {
        fprintf(f, "<th><span class=\"swatch\" style=\"background:%s\"></span>", run_colors[r]);
        report_escape_html(f, runs[r].dir);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    char cell[512];
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        fprintf(f, "<tr><th>%s</th>", rows[i].label);
        for (int r = 0; r < n_runs; r++) {
            rows[i].fill(&runs[r], live, cell, sizeof cell);
            fprintf(f, "<td%s>", i == 0 ? " class=\"status\"" : "");
            report_escape_html(f, cell);
            fprintf(f, "</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table></section>\n");
}

/* Which curve of a run: the values of one log column (or the throughput) per row. */
enum { CURVE_TRAIN, CURVE_VAL, CURVE_ACC, CURVE_LR, CURVE_SPEED };

static double curve_value(const report_run *run, int i, int which)
{
    const report_row *r = &run->rows[i];
    switch (which) {
    case CURVE_TRAIN: return r->train_loss;
    case CURVE_VAL: return r->val_loss;
    case CURVE_ACC: return 100 * r->val_acc;
    case CURVE_LR: return r->lr;
    default: { /* items per second since the previous row */
        double steps = (double)r->step - (i ? (double)run->rows[i - 1].step : 0);
        double secs = r->seconds - (i ? run->rows[i - 1].seconds : 0);
        return secs > 0 && steps > 0 ? steps * items_per_step(run) / secs : NAN;
    }
    }
}

/* One plot of curves `which[0..n_which)` of every run, inline. Runs with no finite value of
 * any of them add no series; returns false (nothing written) when no run has any. */
static bool write_plot(FILE *f, const report_run *runs, int n_runs, const int *which,
                       const char *const *names, int n_which, const char *title,
                       const char *ylabel)
{
    enum { MAX_SERIES = 2 * REPORT_MAX_RUNS };
    dc_plot_series series[MAX_SERIES];
    double *buffers[MAX_SERIES];
    char labels[MAX_SERIES][4200];
    int n = 0;
    for (int r = 0; r < n_runs; r++)
        for (int w = 0; w < n_which && n < MAX_SERIES; w++) {
            const report_run *run = &runs[r];
            double *x = malloc(2 * (size_t)run->n_rows * sizeof *x);
            if (!x) continue;
            double *y = x + run->n_rows;
            int k = 0;
            for (int i = 0; i < run->n_rows; i++) {
                double v = curve_value(run, i, which[w]);
                if (isfinite(v)) x[k] = run->rows[i].epoch, y[k++] = v;
            }
            if (k == 0) {
                free(x);
                continue;
            }
            if (n_runs == 1) snprintf(labels[n], sizeof labels[n], "%s", names[w]);
            else snprintf(labels[n], sizeof labels[n], "%.60s%s%s", run->dir, *names[w] ? " " : "",
                          names[w]);
            /* one run: a colour per curve; several: a colour per run (markers for sparse
             * validation curves) */
            const char *color = n_runs == 1 ? run_colors[w] : run_colors[r];
            bool sparse = which[w] == CURVE_VAL || which[w] == CURVE_ACC;
            series[n] = (dc_plot_series){labels[n], x, y, k, color, sparse};
            buffers[n++] = x;
        }
    if (n > 0) {
        fprintf(f, "<figure>");
        dc_plot_svg_write(f, title, "epoch", ylabel, series, n, true);
        fprintf(f, "</figure>\n");
    }
    for (int i = 0; i < n; i++) free(buffers[i]);
    return n > 0;
}

static void write_curves(FILE *f, const report_run *runs, int n_runs)
{
    fprintf(f, "<section id=\"curves\"><h2>Curves</h2>\n<div class=\"plots\">\n");
    static const int loss[] = {CURVE_TRAIN, CURVE_VAL}, acc[] = {CURVE_ACC}, lr[] = {CURVE_LR},
                     speed[] = {CURVE_SPEED};
    static const char *const loss_names[] = {"train", "validation"}, *const none[] = {""};
    bool text = true;
    for (int r = 0; r < n_runs; r++) text = text && is_text_run(&runs[r]);
    write_plot(f, runs, n_runs, loss, loss_names, 2, "Loss", "cross-entropy loss");
    write_plot(f, runs, n_runs, acc, none, 1, "Validation accuracy", "accuracy (%)");
    write_plot(f, runs, n_runs, lr, none, 1, "Learning rate", "learning rate");
    write_plot(f, runs, n_runs, speed, none, 1, "Throughput",
               text ? "tokens per second" : n_runs > 1 ? "items per second" : "images per second");
    fprintf(f, "</div></section>\n");
}

/* Confusion matrix as a table: counts, cells shaded by the share of their row (the true
 * class): green on the diagonal, red off it. */
static void write_confusion(FILE *f, const report_run *run, int index)
{
    int k = run->n_classes;
    fprintf(f, "<h3>Confusion matrix (test set; rows: true class, columns: predicted)</h3>\n"
               "<table class=\"confusion\" id=\"confusion-%d\"><tr><th></th>", index);
    for (int j = 0; j < k; j++) {
        fprintf(f, "<th class=\"pred\">");
        report_escape_html(f, run->class_names[j]);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    for (int i = 0; i < k; i++) {
        long long row = 0;
        for (int j = 0; j < k; j++) row += run->confusion[i * k + j];
        fprintf(f, "<tr><th>");
        report_escape_html(f, run->class_names[i]);
        fprintf(f, "</th>");
        for (int j = 0; j < k; j++) {
            long long c = run->confusion[i * k + j];
            double share = row ? (double)c / (double)row : 0;
            double t = i == j ? share : fmin(1, 4 * share); /* errors are rarer: stretched */
            int r = i == j ? (int)lround(255 - t * 229) : 255 - (int)lround(t * 41);
            int g = i == j ? (int)lround(255 - t * 129) : (int)lround(255 - t * 216);
            int b = i == j ? (int)lround(255 - t * 200) : (int)lround(255 - t * 216);
            fprintf(f, "<td style=\"background:rgb(%d,%d,%d)%s\" title=\"%.1f%% of the row\">%lld"
                       "</td>",
                    r, g, b, t > 0.55 ? ";color:white" : "", 100 * share, c);
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static void write_misclassified(FILE *f, const report_run *run)
{
    fprintf(f, "<h3>Misclassified test images</h3>\n<div class=\"gallery\">\n");
    for (int i = 0; i < run->n_images; i++) {
        const report_image *im = &run->images[i];
        char *uri = png_data_uri(im->pixels, im->width, im->height);
        if (!uri) { /* say why once (a build without libpng), then leave the images out */
            fprintf(f, "<p class=\"note\">Images left out: %s</p>\n", dc_last_error());
            dc_clear_error();
            break;
        }
        const char *true_name = im->label < run->n_classes ? run->class_names[im->label] : NULL;
        const char *pred_name =
            im->predicted < run->n_classes ? run->class_names[im->predicted] : NULL;
        char label[64], predicted[64];
        snprintf(label, sizeof label, "%d", im->label);
        snprintf(predicted, sizeof predicted, "%d", im->predicted);
        fprintf(f, "<figure class=\"sample\"><img src=\"%s\" width=\"%d\" height=\"%d\" alt=\"test "
                   "image %lld\"><figcaption>#%lld<br>true: ",
                uri, 3 * im->width, 3 * im->height, im->index, im->index);
        report_escape_html(f, true_name ? true_name : label);
        fprintf(f, "<br>predicted: <b>");
        report_escape_html(f, pred_name ? pred_name : predicted);
        fprintf(f, "</b> (%.0f%%)</figcaption></figure>\n", 100 * im->probability);
        free(uri);
    }
    fprintf(f, "</div>\n");
}

/* A task run: its test metrics and its pictures. */
static void write_task_results(FILE *f, const report_run *run, int index)
{
    if (run->metrics.n) {
        fprintf(f, "<table class=\"grid\" id=\"metrics-%d\"><tr><th>test metric</th>"
                   "<th>value</th></tr>\n", index);
        for (int i = 0; i < run->metrics.n; i++) {
            fprintf(f, "<tr><td>");
            report_escape_html(f, run->metrics.keys[i]);
            fprintf(f, "</td><td>");
            report_escape_html(f, run->metrics.values[i]);
            fprintf(f, "</td></tr>\n");
        }
        fprintf(f, "</table>\n");
    } else {
        fprintf(f, "<p class=\"note\">The test metrics are written at the end of training "
                   "(metrics.txt).</p>\n");
    }
    for (int i = 0; i < run->n_pictures; i++) {
        fprintf(f, "<figure class=\"picture\">");
        if (run->picture_uris[i]) {
            fprintf(f, "<img alt=\"");
            report_escape_html(f, run->picture_names[i]);
            fprintf(f, "\" src=\"%s\">", run->picture_uris[i]);
        } else {
            fprintf(f, "<p class=\"note\">(larger than %d MB: not embedded)</p>",
                    REPORT_MAX_PICTURE_BYTES >> 20);
        }
        fprintf(f, "<figcaption>");
        report_escape_html(f, run->picture_names[i]);
        fprintf(f, "</figcaption></figure>\n");
    }
}

static void write_results(FILE *f, const report_run *runs, int n_runs)
{
    for (int r = 0; r < n_runs; r++) {
        const report_run *run = &runs[r];
        fprintf(f, "<section class=\"results\" id=\"results-%d\"><h2>", r);
        if (n_runs > 1)
            fprintf(f, "<span class=\"swatch\" style=\"background:%s\"></span>", run_colors[r]);
        report_escape_html(f, run->dir);
        fprintf(f, ": %s</h2>\n", is_text_run(run) ? "generated text" : "test results");
        if (config_value(run, "task")) {
            write_task_results(f, run, r);
        } else if (is_text_run(run)) {
            if (run->sample) {
                fprintf(f, "<pre class=\"text-sample\" id=\"sample-%d\">", r);
                report_escape_html(f, run->sample);
                fprintf(f, "</pre>\n");
            } else {
                fprintf(f, "<p class=\"note\">The sample is written at the end of training "
                           "(sample.txt).</p>\n");
            }
        } else if (run->confusion) {
            write_confusion(f, run, r);
            if (run->n_images) write_misclassified(f, run);
        } else {
            fprintf(f, "<p class=\"note\">The confusion matrix and misclassified examples are "
                       "written at the end of training (confusion.csv, misclassified.csv).</p>\n");
        }
        fprintf(f, "</section>\n");
    }
}

/* The configurations in columns; with several runs the rows that differ are marked and a
 * checkbox hides the others. */
static void write_config(FILE *f, const report_run *runs, int n_runs)
{
    fprintf(f, "<section id=\"config\"><h2>Configuration</h2>\n");
    if (n_runs > 1)
        fprintf(f, "<p><label><input type=\"checkbox\" id=\"only-diff\"> only the options that "
                   "differ</label></p>\n");
    fprintf(f, "<table class=\"grid\" id=\"config-table\"><tr><th>option</th>");
    for (int r = 0; r < n_runs; r++) {
        fprintf(f, "<th>");
        report_escape_html(f, runs[r].dir);
        fprintf(f, "<br><small>");
        report_escape_html(f, runs[r].config.n ? runs[r].config_note
                              : runs[r].config_note[0] ? runs[r].config_note
                                                       : "not recorded (no checkpoint yet)");
        fprintf(f, "</small></th>");
    }
    fprintf(f, "</tr>\n");
    /* every key of any run, in the order of the first run that has it */
    for (int r = 0; r < n_runs; r++)
        for (int i = 0; i < runs[r].config.n; i++) {
            const char *key = runs[r].config.keys[i];
            bool seen = false;
            for (int q = 0; q < r && !seen; q++) seen = config_value(&runs[q], key) != NULL;
            if (seen) continue;
            bool same = true;
            const char *first = config_value(&runs[0], key);
            for (int q = 1; q < n_runs; q++) {
                const char *v = config_value(&runs[q], key);
                same = same && v && first && !strcmp(v, first);
            }
            fprintf(f, "<tr class=\"%s\"><th>", n_runs > 1 && !same ? "diff" : "same");
            report_escape_html(f, key);
            fprintf(f, "</th>");
            for (int q = 0; q < n_runs; q++) {
                const char *v = config_value(&runs[q], key);
                fprintf(f, "<td>");
                report_escape_html(f, v ? v : "-");
                fprintf(f, "</td>");
            }
            fprintf(f, "</tr>\n");
        }
    fprintf(f, "</table></section>\n");
}

static const char page_style[] =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fafafa}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px}"
    "h3{font-size:15px;margin:16px 0 8px}.meta{color:#555;margin:0}"
    "table.grid{border-collapse:collapse;background:white}"
    ".grid th,.grid td{border:1px solid #ddd;padding:4px 10px;text-align:left;"
    "vertical-align:top;font-size:13px}"
    ".grid tr.diff td{background:#fff3cd}.status{font-weight:bold}"
    ".swatch{display:inline-block;width:12px;height:12px;margin-right:6px;border-radius:2px}"
    ".plots{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}"
    ".plots figure{flex:1 1 560px;max-width:640px;background:white;border:1px solid #ddd}"
    "table.confusion{border-collapse:collapse;font-size:12px}"
    ".confusion td{width:44px;height:26px;text-align:center;border:1px solid #eee}"
    ".confusion th{font-weight:normal;padding:2px 6px;text-align:right}"
    ".confusion th.pred{writing-mode:vertical-rl;transform:rotate(180deg);text-align:left}"
    ".gallery{display:flex;flex-wrap:wrap;gap:10px}"
    ".sample{width:100px;font-size:11px;text-align:center}"
    ".sample img{image-rendering:pixelated;display:block;margin:0 auto 2px;border:1px solid #ccc}"
    "pre.text-sample{background:white;border:1px solid #ddd;padding:10px;white-space:pre-wrap;"
    "max-width:900px}.note{color:#666;font-style:italic}";

int report_write_html(FILE *f, const report_run *runs, int n_runs, bool live, time_t written)
{
    if (n_runs < 1 || n_runs > REPORT_MAX_RUNS)
        return dc_error("report: %d runs (1 to %d)", n_runs, REPORT_MAX_RUNS), -1;
    char when[64];
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime_r(&written, &tm));
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if (live) /* without scripts, the plain way */
        fprintf(f, "<noscript><meta http-equiv=\"refresh\" content=\"%d\"></noscript>\n",
                REPORT_RELOAD_SECONDS);
    fprintf(f, "<title>deepc report: ");
    for (int r = 0; r < n_runs; r++) {
        if (r) fprintf(f, " vs ");
        report_escape_html(f, runs[r].dir);
    }
    fprintf(f, "</title>\n<style>%s</style></head>\n<body>\n<header><h1>deepc training report"
               "</h1>\n<p class=\"meta\">",
            page_style);
    for (int r = 0; r < n_runs; r++) {
        if (r) fprintf(f, ", ");
        report_escape_html(f, runs[r].dir);
    }
    fprintf(f, " &middot; written %s by deepc %s", when, DC_VERSION);
    if (live)
        fprintf(f, " &middot; <span id=\"live-status\">live: this page reloads every %d s</span>",
                REPORT_RELOAD_SECONDS);
    fprintf(f, "</p></header>\n");
    write_summary(f, runs, n_runs, live);
    write_curves(f, runs, n_runs);
    write_results(f, runs, n_runs);
    write_config(f, runs, n_runs);
    if (live) /* reload while the run writes; a page not rewritten for 30 min stops */
        fprintf(f, "<script>\n(function () {\n  var age = (Date.now() - %lld) / 1000;\n"
                   "  var status = document.getElementById('live-status');\n"
                   "  if (age < 1800) {\n"
                   "    status.textContent = 'live: updated ' + Math.max(0, Math.round(age)) +\n"
                   "      ' s ago, this page reloads every %d s';\n"
                   "    setTimeout(function () { location.reload(); }, %d);\n"
                   "  } else {\n"
                   "    status.textContent = 'not updated for ' + Math.round(age / 60) +\n"
                   "      ' min: the run has stopped? (reloading stopped)';\n  }\n})();\n"
                   "</script>\n",
                (long long)written * 1000, REPORT_RELOAD_SECONDS, REPORT_RELOAD_SECONDS * 1000);
    if (n_runs > 1)
        fprintf(f, "<script>\ndocument.getElementById('only-diff').addEventListener('change',\n"
                   "  function (e) {\n"
                   "    var rows = document.querySelectorAll('#config-table tr.same');\n"
                   "    for (var i = 0; i < rows.length; i++) rows[i].hidden = e.target.checked;\n"
                   "  });\n</script>\n");
    fprintf(f, "</body></html>\n");
    return ferror(f) ? dc_error("report: write error"), -1 : 0;
}

int report_write_file(const char *path, const report_run *runs, int n_runs, bool live)
{
    char tmp[4300];
    FILE *f = atomic_open(path, tmp, sizeof tmp);
    if (!f) return -1;
    if (report_write_html(f, runs, n_runs, live, time(NULL)) != 0) {
        fclose(f);
        remove(tmp);
        return -1;
    }
    return atomic_close(f, tmp, path);
}

int report_update(const run_config *cfg, bool live)
{
    report_run run;
    char why[4400], path[4200];
    if (report_run_load(&run, cfg->out, cfg, why, sizeof why) != 0)
        return dc_error("report: %s", why), -1;
    snprintf(path, sizeof path, "%s/report.html", cfg->out);
    int rc = report_write_file(path, &run, 1, live);
    report_run_free(&run);
    return rc;
}

/* ---- What training writes for the report ---------------------------------------------------- */

int report_save_sample(const char *dir, const char *text, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/sample.txt", dir);
    return write_file_atomic(path, text, len);
}

/* A class name for the CSV header: no commas or line breaks. */
static void put_csv_name(FILE *f, const char *name, int index)
{
    if (!name) {
        fprintf(f, "%d", index);
        return;
    }
    for (; *name; name++) fputc(strchr(",\r\n", *name) ? ' ' : *name, f);
}

int report_evaluate_images(run *r, const dc_dataset *test, const char *dir, double *loss,
                           double *accuracy)
{
    enum { EVAL_BATCH = 500 }; /* as run_evaluate, so the loss and accuracy are the same */
    int k = test->n_classes;
    if (k < 1 || k > REPORT_MAX_CLASSES)
        return dc_error("report: the test set has %d classes (1 to %d)", k, REPORT_MAX_CLASSES),
               -1;
    int64_t n_pixels = dc_numel(test->inputs) / (dc_dataset_size(test) ? dc_dataset_size(test) : 1);
    int64_t h = test->inputs->ndim >= 2 ? test->inputs->shape[test->inputs->ndim - 2] : 1;
    int64_t w = test->inputs->ndim >= 1 ? test->inputs->shape[test->inputs->ndim - 1] : 1;
    bool gray = h * w == n_pixels && h <= 256 && w <= 256; /* images saved: one channel */
    long long *confusion = calloc((size_t)k * (size_t)k, sizeof *confusion);
    report_image wrong[REPORT_MAX_IMAGES];
    int n_wrong = 0;
    dc_loader *loader = dc_loader_new(test, EVAL_BATCH, false, false, 0);
    if (!confusion || !loader) {
        free(confusion);
        dc_loader_free(loader);
        return dc_error("report: out of memory"), -1;
    }
    bool was_training = r->model->training, grad = dc_no_grad_begin();
    dc_module_train(r->model, false);
    double loss_sum = 0, correct = 0;
    int64_t seen = 0;
    int got;
    for (;;) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        got = dc_loader_next(loader, &x, &y);
        int64_t b = got == 1 ? x->shape[0] : 0;
        double batch_loss = NAN, batch_acc = -1;
        dc_tensor *probs = NULL, *labels = NULL, *pixels = NULL;
        if (got == 1) {
            dc_tensor *logits = dc_forward(r->model, x);
            batch_loss = dc_item(run_loss(r, logits, y));
            batch_acc = dc_accuracy(logits, y);
            probs = dc_contiguous(dc_to_dtype(dc_softmax(logits, 1), DC_F64));
            labels = dc_contiguous(dc_to_dtype(y, DC_I64));
            pixels = dc_contiguous(dc_to_dtype(x, DC_F64));
            if (isnan(batch_loss) || batch_acc < 0 || !probs || !labels || !pixels ||
                probs->ndim != 2 || probs->shape[1] != k)
                got = -1;
        }
        for (int64_t i = 0; got == 1 && i < b; i++) {
            const double *p = (const double *)dc_data(probs) + i * k;
            int64_t label = ((const int64_t *)dc_data(labels))[i], pred = 0;
            for (int j = 1; j < k; j++)
                if (p[j] > p[pred]) pred = j;
            if (label < 0 || label >= k) {
                dc_error("report: test label %lld out of range [0, %d)", (long long)label, k);
                got = -1;
                break;
            }
            confusion[label * k + pred]++;
            if (label == pred || n_wrong == REPORT_MAX_IMAGES || !gray) continue;
            report_image *im = &wrong[n_wrong];
            if (!(im->pixels = malloc((size_t)(h * w)))) continue;
            const double *v = (const double *)dc_data(pixels) + i * n_pixels;
            for (int64_t j = 0; j < h * w; j++) { /* back from the normalisation */
                double raw = (v[j] * r->std + r->mean) * 255;
                im->pixels[j] = (unsigned char)(raw > 255 ? 255 : raw > 0 ? lround(raw) : 0);
            }
            im->index = (long long)(seen + i), im->label = (int)label, im->predicted = (int)pred;
            im->probability = p[pred], im->height = (int)h, im->width = (int)w;
            n_wrong++;
        }
        dc_scope_end(scope);
        if (got != 1) break;
        loss_sum += batch_loss * (double)b, correct += batch_acc * (double)b, seen += b;
    }
    dc_module_train(r->model, was_training);
    dc_grad_mode_restore(grad);
    dc_loader_free(loader);
    *loss = seen ? loss_sum / (double)seen : NAN;
    *accuracy = seen ? correct / (double)seen : NAN;
    int rc = got < 0 ? -1 : 0;
    char path[4200], tmp[4300];
    FILE *f = NULL;
    snprintf(path, sizeof path, "%s/confusion.csv", dir);
    if (rc == 0 && (f = atomic_open(path, tmp, sizeof tmp))) {
        fprintf(f, "true\\predicted");
        for (int j = 0; j < k; j++)
            fputc(',', f), put_csv_name(f, test->class_names ? test->class_names[j] : NULL, j);
        for (int i = 0; i < k; i++) {
            fputc('\n', f);
            put_csv_name(f, test->class_names ? test->class_names[i] : NULL, i);
            for (int j = 0; j < k; j++) fprintf(f, ",%lld", confusion[i * k + j]);
        }
        fputc('\n', f);
        rc = atomic_close(f, tmp, path);
    } else if (rc == 0) {
        rc = -1;
    }
    snprintf(path, sizeof path, "%s/misclassified.csv", dir);
    if (rc == 0 && (f = atomic_open(path, tmp, sizeof tmp))) {
        fprintf(f, "index,label,predicted,probability,height,width,pixels\n");
        for (int i = 0; i < n_wrong; i++) {
            const report_image *im = &wrong[i];
            fprintf(f, "%lld,%d,%d,%.4f,%d,%d,", im->index, im->label, im->predicted,
                    im->probability, im->height, im->width);
            for (int j = 0; j < im->height * im->width; j++) fprintf(f, "%02x", im->pixels[j]);
            fputc('\n', f);
        }
        rc = atomic_close(f, tmp, path);
    } else if (rc == 0) {
        rc = -1;
    }
    for (int i = 0; i < n_wrong; i++) free(wrong[i].pixels);
    free(confusion);
    return rc;
}

/* ---- deepc report ---------------------------------------------------------------------------- */

int cmd_report(int argc, char **argv)
{
    const char *dirs[REPORT_MAX_RUNS], *out = NULL;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--out") || !strncmp(arg, "--out=", 6)) {
            out = arg[5] == '=' ? arg + 6 : i + 1 < argc ? argv[++i] : NULL;
            if (!out || !*out) {
                fprintf(stderr, "deepc report: --out needs a file name\n");
                return EXIT_USAGE;
            }
        } else if (!strncmp(arg, "--", 2) || !*arg) {
            fprintf(stderr, "deepc report: unknown argument '%s' (try 'deepc report --help')\n",
                    arg);
            return EXIT_USAGE;
        } else if (n == REPORT_MAX_RUNS) {
            fprintf(stderr, "deepc report: at most %d run directories on one page\n",
                    REPORT_MAX_RUNS);
            return EXIT_USAGE;
        } else {
            dirs[n++] = arg;
        }
    }
    if (n == 0) {
        fprintf(stderr, "deepc report: which run? usage: deepc report RUN_DIR [RUN_DIR ...] "
                        "[--out FILE]\n");
        return EXIT_USAGE;
    }
    report_run *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) {
        fprintf(stderr, "deepc report: out of memory\n");
        return EXIT_RUNTIME;
    }
    int loaded = 0, rc = 0;
    char why[4400];
    for (; loaded < n; loaded++)
        if (report_run_load(&runs[loaded], dirs[loaded], NULL, why, sizeof why) != 0) {
            fprintf(stderr, "deepc report: %s\n", why);
            rc = EXIT_RUNTIME;
            break;
        }
    char path[4200];
    if (out) snprintf(path, sizeof path, "%s", out);
    else if (n == 1) snprintf(path, sizeof path, "%s/report.html", runs[0].dir);
    else snprintf(path, sizeof path, "report.html");
    if (!rc && report_write_file(path, runs, n, false) != 0) {
        fprintf(stderr, "deepc report: %s\n", dc_last_error());
        rc = EXIT_RUNTIME;
    }
    if (!rc) printf("wrote %s\n", path);
    for (int i = 0; i < loaded; i++) report_run_free(&runs[i]);
    free(runs);
    return rc;
}
