/* deepc report (tools/cli_report.c): the HTML writer's escaping, the strict reading of
 * log.csv and the other run files (truncated and bad files are one-line errors naming the
 * line), the command's exit codes, and the page end to end: a tiny training run with
 * --report, compared with a second one, loaded in headless Chromium (Debian's chromium) with
 * no console message and no network request, its DOM holding the expected elements and its
 * screenshot the expected colours. The browser test prints a note and passes where chromium
 * is not installed or cannot run (.ci/run installs it); the training tests where
 * Fashion-MNIST or jansson is missing. */
#include "test.h"

#include "../tools/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef DC_HAVE_ZLIB
#include <zlib.h>
#endif

enum { OUT_SIZE = 1 << 16 };
static char out[OUT_SIZE];

static bool write_text(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dc_test_write_file(path, text, strlen(text));
}

static char *read_text(const char *dir, const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char *text = (char *)dc_test_read_file(path, &len);
    if (text) { /* NUL-terminate: read_file's buffer has no spare byte */
        char *grown = realloc(text, len + 1);
        if (!grown) free(text);
        text = grown;
        if (text) text[len] = '\0';
    }
    return text;
}

/* What report_escape_html writes for s. */
static char *escaped(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    report_escape_html(f, s);
    fclose(f);
    return buf;
}

/* The page report_write_html writes for the runs. */
static char *page(const report_run *runs, int n, bool live)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = report_write_html(f, runs, n, live, time(NULL));
    fclose(f);
    if (rc) free(buf), buf = NULL;
    return buf;
}

#define LOG_HEADER "epoch,step,train_loss,val_loss,val_acc,lr,seconds\n"
static const char good_log[] = LOG_HEADER "0.5000,2,2.1,,,0.001,0.50\n"
                                          "1.0000,4,1.9,1.8,0.55,0.0005,1.20\n";

TEST(test_report_escape_html_escapes_markup_quotes_and_control_characters)
{
    char *e = escaped("<b>\"fish\" & 'chips'</b>\x01\tx\n");
    CHECK(e && !strcmp(e, "&lt;b&gt;&quot;fish&quot; &amp; &#39;chips&#39;&lt;/b&gt;&#xfffd;\tx\n"));
    free(e);
    e = escaped("caf\xc3\xa9"); /* UTF-8 goes through */
    CHECK(e && !strcmp(e, "caf\xc3\xa9"));
    free(e);
}

TEST(test_report_parse_log_reads_rows_and_empty_fields_as_nan)
{
    char *text = strdup(good_log), why[512] = "";
    report_row *rows;
    int n;
    REQUIRE(text);
    CHECK(report_parse_log(text, strlen(text), "log.csv", &rows, &n, why, sizeof why) == 0);
    CHECK(n == 2);
    if (n == 2) {
        CHECK(rows[0].step == 2 && rows[0].epoch == 0.5 && isnan(rows[0].val_loss) &&
              isnan(rows[0].val_acc));
        CHECK(rows[1].val_acc == 0.55 && rows[1].lr == 0.0005 && rows[1].seconds == 1.2);
    }
    free(rows), free(text);
}

/* text must be refused with a message holding `fragment`, and no rows handed out. */
static void check_bad_log(const char *text, const char *fragment, int line)
{
    char *copy = strdup(text), why[512] = "";
    report_row *rows = (report_row *)1;
    int n = -1;
    int rc = copy ? report_parse_log(copy, strlen(copy), "run/log.csv", &rows, &n, why, sizeof why)
                  : 0;
    if (rc != -1 || rows || n != 0 || !strstr(why, fragment))
        dc_test_fail(__FILE__, line, "log %.40s...: rc %d, rows %p, n %d, message '%s' (want '%s')",
                     text, rc, (void *)rows, n, why, fragment);
    free(copy);
}

TEST(test_report_parse_log_refuses_truncated_and_bad_logs_naming_the_line)
{
    check_bad_log("", "run/log.csv is empty", __LINE__);
    check_bad_log(LOG_HEADER, "header but no rows", __LINE__);
    check_bad_log("epoch,step,loss\n1,2,3\n", "run/log.csv:1: not a deepc log", __LINE__);
    check_bad_log(LOG_HEADER "1.0000,4,1.9,1.8,0.5\n", "run/log.csv:2: truncated row (5 of 7",
                  __LINE__);
    /* a last row cut short in the middle, and one cut just before its end of line */
    check_bad_log(LOG_HEADER "0.5,2,2.1,,,0.001,0.5\n1.0,4,1.9,1", "run/log.csv:3: truncated",
                  __LINE__);
    check_bad_log(LOG_HEADER "0.5,2,2.1,,,0.001,0.5", "no end of line", __LINE__);
    check_bad_log(LOG_HEADER "0.5,two,2.1,,,0.001,0.5\n", "run/log.csv:2: bad row", __LINE__);
    check_bad_log(LOG_HEADER "0.5,2,2.1,,,,0.5\n", "run/log.csv:2: bad row", __LINE__);
    check_bad_log(LOG_HEADER "0.5,2,2.1,,,0.001,0.5,9\n", "run/log.csv:2: bad row", __LINE__);
}

TEST(test_report_page_escapes_config_values_and_names_no_url)
{
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "report"));
    REQUIRE(write_text(dir, "log.csv", good_log));
    run_config cfg;
    run_config_init(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "/d/</td><script>alert(\"x\")</script>&'");
    REQUIRE(run_config_finish(&cfg, "test") == 0);
    report_run run;
    char why[4400] = "";
    REQUIRE(report_run_load(&run, dir, &cfg, why, sizeof why) == 0);
    char *html = page(&run, 1, false);
    REQUIRE(html);
    CHECK(strstr(html, "/d/&lt;/td&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"));
    CHECK(!strstr(html, "<script>alert"));
    CHECK(!strstr(html, "<script")); /* a finished single-run page needs no script */
    CHECK(!strstr(html, "http://") && !strstr(html, "https://"));
    CHECK(strstr(html, "id=\"summary\"") && strstr(html, "id=\"curves\"") &&
          strstr(html, "id=\"config-table\"") && strstr(html, "<svg "));
    CHECK(strstr(html, "stopped at epoch 1 of 10")); /* 10 epochs by default */
    free(html);
    html = page(&run, 1, true); /* live: reloads itself, with and without scripts */
    CHECK(html && strstr(html, "location.reload()") &&
          strstr(html, "<noscript><meta http-equiv=\"refresh\"") && strstr(html, "live-status"));
    free(html);
    report_run_free(&run);
    dc_test_remove_dir(dir);
}

TEST(test_report_run_status_says_stopped_before_the_last_epoch)
{
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "report"));
    REQUIRE(write_text(dir, "log.csv", good_log));
    run_config cfg;
    run_config_init(&cfg);
    cfg.epochs = 3;
    REQUIRE(run_config_finish(&cfg, "test") == 0);
    report_run run;
    char why[4400] = "";
    REQUIRE(report_run_load(&run, dir, &cfg, why, sizeof why) == 0);
    char *html = page(&run, 1, false);
    CHECK(html && strstr(html, "stopped at epoch 1 of 3"));
    free(html);
    cfg.epochs = 1;
    report_run_free(&run);
    REQUIRE(report_run_load(&run, dir, &cfg, why, sizeof why) == 0);
    html = page(&run, 1, false);
    CHECK(html && strstr(html, "<td class=\"status\">finished</td>"));
    free(html);
    report_run_free(&run);
    dc_test_remove_dir(dir);
}

/* Synthetic classifier files: a 2-class confusion matrix and one 2x2 image. */
static const char confusion_csv[] = "true\\predicted,cat,dog\ncat,5,1\ndog,2,7\n";
static const char misclassified_csv[] =
    "index,label,predicted,probability,height,width,pixels\n3,0,1,0.7500,2,2,00ff80c0\n";

TEST(test_report_reads_confusion_matrix_images_and_text_samples)
{
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "report"));
    REQUIRE(write_text(dir, "log.csv", good_log) && write_text(dir, "confusion.csv", confusion_csv) &&
            write_text(dir, "misclassified.csv", misclassified_csv));
    report_run run;
    char why[4400] = "";
    REQUIRE(report_run_load(&run, dir, NULL, why, sizeof why) == 0);
    CHECK(run.n_classes == 2 && run.confusion && run.confusion[1] == 1 && run.confusion[3] == 7);
    CHECK(run.n_images == 1 && run.images[0].index == 3 && run.images[0].pixels &&
          run.images[0].pixels[1] == 255 && run.images[0].pixels[3] == 0xc0);
    CHECK(run.config.n == 0); /* no checkpoint: not recorded */
    char *html = page(&run, 1, false);
    CHECK(html && strstr(html, "id=\"confusion-0\"") && strstr(html, ">dog</th>") &&
          strstr(html, "80.00% (15 images)") && strstr(html, "not recorded"));
    /* images inline as PNG through libpng; without it they are left out with a note */
    if (dc_test_have("libpng")) CHECK(html && strstr(html, "src=\"data:image/png;base64,iVBORw0KGgo"));
    else CHECK(html && strstr(html, "Images left out: dc_png_encode"));
    free(html);
    report_run_free(&run);
    /* a language model's sample, escaped */
    REQUIRE(write_text(dir, "sample.txt", "emma\n<olivia>\n"));
    remove(strcat(strcpy(why, dir), "/confusion.csv"));
    REQUIRE(report_run_load(&run, dir, NULL, why, sizeof why) == 0);
    html = page(&run, 1, false);
    CHECK(html && strstr(html, "id=\"sample-0\">emma\n&lt;olivia&gt;\n</pre>"));
    free(html);
    report_run_free(&run);
    dc_test_remove_dir(dir);
}

/* report_run_load(dir) must fail with `fragment` in the message. */
static void check_bad_run(const char *dir, const char *fragment, int line)
{
    report_run run;
    char why[4400] = "";
    int rc = report_run_load(&run, dir, NULL, why, sizeof why);
    if (rc != -1 || !strstr(why, fragment) || strchr(why, '\n'))
        dc_test_fail(__FILE__, line, "run %s: rc %d, message '%s' (want '%s')", dir, rc, why,
                     fragment);
    if (rc == 0) report_run_free(&run);
}

TEST(test_report_truncated_or_bad_run_files_are_errors_naming_file_and_line)
{
    char dir[64], path[200];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "report"));
    check_bad_run(dir, "no log.csv (not a deepc training run directory?)", __LINE__);
    check_bad_run("/nonexistent/deepc-run", "/nonexistent/deepc-run: no such run directory",
                  __LINE__);
    REQUIRE(write_text(dir, "log.csv", LOG_HEADER "0.5,2,2.1,,,0.001,0.5\n1.0,4,1.9,1.8"));
    check_bad_run(dir, "/log.csv:3: truncated row (4 of 7 fields, no end of line)", __LINE__);
    REQUIRE(write_text(dir, "log.csv", good_log));
    REQUIRE(write_text(dir, "confusion.csv", "true\\predicted,cat,dog\ncat,5,1\ndog,2"));
    check_bad_run(dir, "/confusion.csv:3: truncated row of class 1", __LINE__);
    REQUIRE(write_text(dir, "confusion.csv", "true\\predicted,cat,dog\ncat,5,-1\ndog,2,7\n"));
    check_bad_run(dir, "/confusion.csv:2: bad row of class 0", __LINE__);
    REQUIRE(write_text(dir, "confusion.csv", confusion_csv));
    REQUIRE(write_text(dir, "misclassified.csv", "index,label,predicted,probability,height,width,"
                                                 "pixels\n3,0,1,0.75,2,2,00ff8"));
    check_bad_run(dir, "/misclassified.csv:2: truncated row", __LINE__);
    REQUIRE(write_text(dir, "misclassified.csv", "index,label,predicted,probability,height,width,"
                                                 "pixels\n3,0,1,0.75,2,2,00ff8\n"));
    check_bad_run(dir, "/misclassified.csv:2: bad row", __LINE__);
    snprintf(path, sizeof path, "%s/log.csv", dir);
    remove(path);
    REQUIRE(mkdir(path, 0777) == 0); /* log.csv that is not a file */
    check_bad_run(dir, "log.csv", __LINE__);
    dc_test_remove_dir(dir);
}

/* ---- The command ---------------------------------------------------------------------------- */

/* deepc ARGS exits with `status` printing one line holding `fragment`. */
#define CHECK_REPORT(status, fragment, ...)                                                      \
    do {                                                                                         \
        int got_ = dc_test_deepc(out, sizeof out, __VA_ARGS__);                                                           \
        char *nl_ = strchr(out, '\n');                                                           \
        if (got_ != (status) || !strstr(out, (fragment)) || !nl_ || nl_[1])                      \
            dc_test_fail(__FILE__, __LINE__, "deepc exited %d (want %d), output (want one line " \
                         "with '%s'):\n%s", got_, (status), (fragment), out);                    \
    } while (0)

TEST(test_report_command_exit_codes_and_one_line_errors)
{
    char dir[64], empty[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "report") && dc_test_temp_dir(empty, sizeof empty, "report"));
    REQUIRE(write_text(dir, "log.csv", good_log));
    CHECK_REPORT(0, "report.html", "report %s", dir);
    char *html = read_text(dir, "report.html");
    CHECK(html && strstr(html, "<!DOCTYPE html>") && strstr(html, "</html>"));
    free(html);
    CHECK_REPORT(0, "/both.html", "report %s %s/ --out %s/both.html", dir, dir, empty);
    html = read_text(empty, "both.html");
    CHECK(html && strstr(html, "id=\"only-diff\"") && strstr(html, " vs "));
    free(html);
    remove(strcat(strcpy(out, empty), "/both.html"));
    CHECK_REPORT(1, "no log.csv", "report %s", empty);
    CHECK_REPORT(1, "/nonexistent/run: no such run directory", "report /nonexistent/run");
    CHECK_REPORT(1, "no such run directory", "report %s /nonexistent/run --out %s/x.html", dir,
                 empty);
    REQUIRE(write_text(dir, "log.csv", LOG_HEADER "0.5,2,2.1,,,0.0"));
    CHECK_REPORT(1, "log.csv:2: truncated row", "report %s", dir);
    CHECK_REPORT(2, "which run?", "report");
    CHECK_REPORT(2, "unknown argument '--bogus'", "report %s --bogus", dir);
    CHECK_REPORT(2, "--out needs a file name", "report %s --out", dir);
    CHECK_REPORT(2, "at most 10 run directories", "report a b c d e f g h i j k");
    CHECK(dc_test_deepc(out, sizeof out, "report --help") == 0 && strstr(out, "usage: deepc report RUN_DIR"));
    dc_test_remove_dir(dir), dc_test_remove_dir(empty);
}

/* ---- End to end: training, the page, the browser ------------------------------------------- */

static bool have_training_data(void)
{
#ifndef DC_HAVE_JANSSON
    printf("note: deepc built without jansson (checkpoints); skipping\n");
    return false;
#endif
#ifndef DC_HAVE_ZLIB
    printf("note: deepc built without zlib (Fashion-MNIST is gzip); skipping\n");
    return false;
#endif
    struct stat st;
    if (stat(DC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &st) == 0) return true;
    printf("note: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); "
           "skipping\n");
    return false;
}

/* A tiny MLP run: two epochs of 3 steps. */
#define TINY_RUN "train --model mlp --hidden 16 --epochs 2 --steps-per-epoch 3 --batch 32 --val 200"

/* Run a shell command; its exit status (-1: it did not run). */
static int run_shell(const char *command)
{
    int status = system(command);
    return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

#define CHROMIUM_FLAGS                                                                            \
    "--headless --disable-gpu --no-sandbox --hide-scrollbars --no-first-run "                    \
    "--disable-background-networking --disable-component-update --disable-sync "                 \
    "--disable-default-apps --disable-extensions --enable-logging=stderr --v=0"

/* Load url in headless chromium: DOM into dir/dom.html, console and log on dir/stderr.txt,
 * the network log into dir/net.json, and (shot) a WxH screenshot into dir/shot.png. */
static int chromium(const char *dir, const char *url, bool shot, int w, int h)
{
    char command[8192], extra[600] = "";
    if (shot) snprintf(extra, sizeof extra, "--screenshot=%s/shot.png --window-size=%d,%d", dir, w, h);
    snprintf(command, sizeof command,
             "timeout 120 chromium " CHROMIUM_FLAGS " --user-data-dir=%s/profile "
             "--log-net-log=%s/net.json %s --dump-dom '%s' >%s/dom.html 2>%s/stderr.txt",
             dir, dir, extra, url, dir, dir);
    return run_shell(command);
}

/* The console lines chromium logged (messages of the page: logs, errors, uncaught
 * exceptions), or NULL when there are none. */
static const char *console_line(const char *log)
{
    return log ? strstr(log, ":CONSOLE") : NULL;
}

#ifdef DC_HAVE_ZLIB
/* The RGB pixels of an 8-bit RGB or RGBA, non-interlaced PNG (malloc'ed, w * h * 3), or
 * NULL. Enough of PNG for Chromium's screenshots. */
static unsigned char *png_rgb(const unsigned char *png, size_t n, int *w, int *h)
{
    if (n < 33 || memcmp(png, "\x89PNG\r\n\x1a\n", 8)) return NULL;
    unsigned char *idat = NULL, *raw = NULL, *rgb = NULL;
    size_t idat_n = 0;
    int channels = 0;
    for (size_t at = 8; at + 12 <= n;) {
        size_t len = (size_t)png[at] << 24 | (size_t)png[at + 1] << 16 | (size_t)png[at + 2] << 8 |
                     png[at + 3];
        const unsigned char *type = png + at + 4, *data = png + at + 8;
        if (at + 12 + len > n) break;
        if (!memcmp(type, "IHDR", 4) && len == 13) {
            *w = data[0] << 24 | data[1] << 16 | data[2] << 8 | data[3];
            *h = data[4] << 24 | data[5] << 16 | data[6] << 8 | data[7];
            channels = data[8] == 8 && data[12] == 0 ? data[9] == 2 ? 3 : data[9] == 6 ? 4 : 0 : 0;
        } else if (!memcmp(type, "IDAT", 4)) {
            unsigned char *grown = realloc(idat, idat_n + len);
            if (!grown) break;
            idat = grown;
            memcpy(idat + idat_n, data, len);
            idat_n += len;
        }
        at += 12 + len;
    }
    uLongf raw_n = channels && *w > 0 && *h > 0 && *w < 20000 && *h < 20000
                       ? (uLongf)*h * (1 + (uLongf)*w * (uLongf)channels)
                       : 0;
    if (raw_n && (raw = malloc(raw_n)) && (rgb = malloc((size_t)*w * (size_t)*h * 3)) &&
        uncompress(raw, &raw_n, idat, idat_n) == Z_OK &&
        raw_n == (uLongf)*h * (1 + (uLongf)*w * (uLongf)channels)) {
        size_t stride = (size_t)*w * (size_t)channels;
        for (int y = 0; y < *h; y++) { /* undo the row filters in place */
            unsigned char *row = raw + (size_t)y * (stride + 1) + 1, filter = row[-1];
            const unsigned char *up = y ? row - stride - 1 : NULL;
            for (size_t i = 0; i < stride; i++) {
                int a = i >= (size_t)channels ? row[i - channels] : 0, b = up ? up[i] : 0;
                int c = up && i >= (size_t)channels ? up[i - channels] : 0, p = a + b - c;
                int pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
                int pred = filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2
                           : filter == 4 ? (pa <= pb && pa <= pc ? a : pb <= pc ? b : c) : 0;
                row[i] = (unsigned char)(row[i] + pred);
            }
            for (int x = 0; x < *w; x++)
                memcpy(rgb + ((size_t)y * (size_t)*w + (size_t)x) * 3, row + (size_t)x * channels, 3);
        }
    } else {
        free(rgb), rgb = NULL;
    }
    free(idat), free(raw);
    return rgb;
}
#endif

/* The screenshot: a PNG of the window's size showing the page, not a blank one: most of it
 * the page's background, some pixels of the first run's colour (its loss curve, #1f77b4)
 * and green ones (the confusion matrix's diagonal). */
static void check_screenshot(const char *dir, int want_w, int want_h)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/shot.png", dir);
    size_t n = 0;
    unsigned char *png = dc_test_read_file(path, &n);
    REQUIRE(png && n > 33 && !memcmp(png, "\x89PNG\r\n\x1a\n", 8) && !memcmp(png + 12, "IHDR", 4));
    int w = png[16] << 24 | png[17] << 16 | png[18] << 8 | png[19];
    int h = png[20] << 24 | png[21] << 16 | png[22] << 8 | png[23];
    EXPECT(w == want_w && h == want_h, "screenshot %dx%d, want %dx%d", w, h, want_w, want_h);
    EXPECT(n > 20000, "screenshot of %zu bytes: blank?", n);
#ifdef DC_HAVE_ZLIB
    unsigned char *rgb = png_rgb(png, n, &w, &h);
    EXPECT(rgb, "cannot decode the screenshot %s", path);
    long background = 0, blue = 0, green = 0, total = (long)w * h;
    for (long i = 0; rgb && i < total; i++) {
        int r = rgb[3 * i], g = rgb[3 * i + 1], b = rgb[3 * i + 2];
        background += r >= 245 && g >= 245 && b >= 245;
        blue += abs(r - 0x1f) < 12 && abs(g - 0x77) < 12 && abs(b - 0xb4) < 12;
        green += g > r + 50 && g > b + 30;
    }
    EXPECT(rgb && background > total / 2 && background < total - total / 50,
           "screenshot: %ld of %ld pixels are background (blank page or no page?)", background,
           total);
    EXPECT(blue > 300, "screenshot: %ld pixels of the loss curve's colour #1f77b4", blue);
    EXPECT(green > 300, "screenshot: %ld green pixels (the confusion matrix)", green);
    free(rgb);
#else
    printf("note: built without zlib: the screenshot's pixels are not checked\n");
#endif
    free(png);
}

/* train --report writes the page and the classifier files; a second run compared with it
 * gives a page that loads in headless chromium without console messages or requests. */
TEST(test_report_train_writes_a_page_that_loads_in_headless_chromium_without_errors_or_network)
{
    if (!have_training_data()) return;
    char a[64], b[64], web[64], url[4300];
    REQUIRE(dc_test_temp_dir(a, sizeof a, "report") && dc_test_temp_dir(b, sizeof b, "report") && dc_test_temp_dir(web, sizeof web, "report"));
    CHECK(dc_test_deepc(out, sizeof out, TINY_RUN " --report --out %s", a) == 0);
    char *html = read_text(a, "report.html"), *confusion = read_text(a, "confusion.csv");
    char *wrong = read_text(a, "misclassified.csv");
    CHECK(confusion && !strncmp(confusion, "true\\predicted,T-shirt/top,Trouser,", 35));
    CHECK(wrong && !strncmp(wrong, "index,label,predicted,probability,height,width,pixels\n", 54));
    /* the last page: the finished run with its test results, reloading no more */
    CHECK(html && strstr(html, "<td class=\"status\">finished</td>") &&
          strstr(html, "id=\"confusion-0\"") && strstr(html, "(10000 images)") &&
          strstr(html, "data:image/png;base64,") && !strstr(html, "location.reload"));
    CHECK(html && strstr(html, "<th>lr</th><td>0.001</td>")); /* the configuration */
    free(html), free(confusion), free(wrong);
    if (run_shell("command -v chromium >/dev/null 2>&1") != 0) {
        printf("note: chromium is not installed (apt-get install chromium); skipping the "
               "browser test of deepc report\n");
        dc_test_remove_dir(a), dc_test_remove_dir(b), dc_test_remove_dir(web);
        return;
    }
    CHECK(dc_test_deepc(out, sizeof out, TINY_RUN " --lr 0.003 --out %s", b) == 0);
    CHECK(dc_test_deepc(out, sizeof out, "report %s %s --out %s/compare.html", a, b, web) == 0);
    html = read_text(web, "compare.html");
    REQUIRE(html);
    CHECK(!strstr(html, "http://") && !strstr(html, "https://")); /* nothing to fetch */
    for (const char *p = html; (p = strstr(p, " src=\"")); p++) /* images inline only */
        EXPECT(!strncmp(p, " src=\"data:image/png;base64,", 28), "image %.60s", p);
    free(html);

    snprintf(url, sizeof url, "file://%s/compare.html", web);
    int rc = chromium(web, url, true, 1280, 2000);
    char *dom = read_text(web, "dom.html"), *log = read_text(web, "stderr.txt");
    if (rc != 0 || !dom || !strstr(dom, "</html>")) { /* the page, or chromium here? */
        char probe[4300];
        snprintf(probe, sizeof probe, "data:text/html,<p>probe</p>");
        int probe_rc = chromium(web, probe, false, 0, 0);
        char *probe_dom = read_text(web, "dom.html");
        bool runs = probe_rc == 0 && probe_dom && strstr(probe_dom, "probe");
        free(probe_dom);
        if (!runs) {
            printf("note: chromium cannot run here (exit %d); skipping the browser test of "
                   "deepc report\n", probe_rc);
            free(dom), free(log);
            dc_test_remove_dir(a), dc_test_remove_dir(b), dc_test_remove_dir(web);
            return;
        }
        EXPECT(false, "chromium exited %d on the report: %s", rc, log ? log : "(no log)");
    }
    /* no console message (no error, no uncaught exception: the page logs nothing) */
    EXPECT(!console_line(log), "console output of the page: %.300s", console_line(log));
    /* no request on behalf of the page (chromium's own background requests carry no
     * file:// isolation key) */
    char *net = read_text(web, "net.json");
    EXPECT(net && strlen(net) > 100, "no network log from chromium");
    EXPECT(!net || !strstr(net, "\"network_isolation_key\":\"file://"),
           "the page made a network request (see %s/net.json)", web);
    free(net);
    /* the DOM after the scripts ran: every section, two runs' results, SVG plots, images */
    CHECK(dom && strstr(dom, "id=\"summary\"") && strstr(dom, "id=\"curves\"") &&
          strstr(dom, "id=\"confusion-0\"") && strstr(dom, "id=\"confusion-1\"") &&
          strstr(dom, "id=\"config-table\"") && strstr(dom, "id=\"only-diff\""));
    int svgs = 0, images = 0;
    for (const char *p = dom; p && (p = strstr(p, "<svg")); p++) svgs++;
    for (const char *p = dom; p && (p = strstr(p, "src=\"data:image/png;base64,")); p++) images++;
    EXPECT(svgs == 4, "%d plots in the DOM (want 4: loss, accuracy, lr, throughput)", svgs);
    EXPECT(images >= 4, "%d misclassified images in the DOM", images);
    CHECK(dom && strstr(dom, "<tr class=\"diff\"><th>lr</th><td>0.001</td><td>0.003</td></tr>"));
    check_screenshot(web, 1280, 2000);
    free(dom), free(log);

    /* a live page: its script runs (it rewrites the status) without a console message */
    run_config cfg;
    run_config_init(&cfg);
    snprintf(cfg.out, sizeof cfg.out, "%s", a);
    REQUIRE(run_config_finish(&cfg, "test") == 0);
    CHECK(report_update(&cfg, true) == 0);
    snprintf(url, sizeof url, "file://%s/report.html", a);
    CHECK(chromium(web, url, false, 0, 0) == 0);
    dom = read_text(web, "dom.html"), log = read_text(web, "stderr.txt");
    CHECK(dom && strstr(dom, "id=\"live-status\">live: updated ") &&
          strstr(dom, "s ago, this page reloads every 5 s"));
    EXPECT(!console_line(log), "console output of the live page: %.300s", console_line(log));
    free(dom), free(log);
    dc_test_remove_dir(a), dc_test_remove_dir(b), dc_test_remove_dir(web);
}
