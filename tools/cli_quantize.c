/* deepc quantize IN OUT --type q8_0|q4_1 [--pattern GLOB]: post-training quantization of a
 * checkpoint written by deepc train (book §8.2).
 *
 * Rebuilds the run's model from IN (as eval does), quantizes the weights of its Linear and
 * Embedding layers whose names match the pattern (dc_module_quantize) and writes OUT with
 * dc_quant_save: the quantized weights as blocks, every other tensor as float32, the run's
 * metadata (so `deepc sample` / `deepc eval` / `deepc info` rebuild and load it), and no
 * optimizer state. A text run's tokenizer is written next to OUT when OUT is in another
 * directory (refusing to replace a different tokenizer.txt already there). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int cmd_quantize(int argc, char **argv);

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* OUT's directory gets the tokenizer as tokenizer.txt unless it is IN's directory. */
static int write_tokenizer(const run *r, const char *in, const char *out, const char *command)
{
    char in_dir[4096], out_dir[4096], path[8200];
    path_dirname(in, in_dir, sizeof in_dir);
    path_dirname(out, out_dir, sizeof out_dir);
    char *a = realpath(in_dir, NULL), *b = realpath(out_dir, NULL);
    bool same = a && b && !strcmp(a, b);
    free(a), free(b);
    if (same || !r->tok) return 0;
    snprintf(path, sizeof path, "%s/tokenizer.txt", out_dir);
    char tmp[8300];
    snprintf(tmp, sizeof tmp, "%s.quantize.tmp", path);
    if (dc_tokenizer_save(r->tok, tmp) != 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        return EXIT_RUNTIME;
    }
    size_t la = 0, lb = 0;
    char *old = dc_read_text_file(path, &la), *now = dc_read_text_file(tmp, &lb);
    dc_clear_error();
    bool differs = old && (!now || la != lb || memcmp(old, now, la) != 0);
    free(old), free(now);
    if (differs) {
        remove(tmp);
        fprintf(stderr, "deepc %s: %s already holds a different tokenizer; write OUT to another "
                        "directory\n", command, path);
        return EXIT_RUNTIME;
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        fprintf(stderr, "deepc %s: cannot write %s\n", command, path);
        return EXIT_RUNTIME;
    }
    return 0;
}

int cmd_quantize(int argc, char **argv)
{
    const char *command = argv[0], *in = NULL, *out = NULL, *type_name = "q8_0", *pattern = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char **value = !strcmp(arg, "--type") ? &type_name : !strcmp(arg, "--pattern") ? &pattern : NULL;
        if (value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "deepc %s: %s needs a value\n", command, arg);
                return EXIT_USAGE;
            }
            *value = argv[++i];
        } else if (!strncmp(arg, "--type=", 7)) {
            type_name = arg + 7;
        } else if (!strncmp(arg, "--pattern=", 10)) {
            pattern = arg + 10;
        } else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "deepc %s: unknown option '%s' (try 'deepc %s --help')\n", command, arg, command);
            return EXIT_USAGE;
        } else if (!in) {
            in = arg;
        } else if (!out) {
            out = arg;
        } else {
            fprintf(stderr, "deepc %s: unexpected argument '%s' (usage: deepc %s IN OUT --type T)\n",
                    command, arg, command);
            return EXIT_USAGE;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "deepc %s: need IN and OUT files (usage: deepc %s IN OUT --type q8_0|q4_1)\n",
                command, command);
        return EXIT_USAGE;
    }
    int type = dc_qtype_from_name(type_name);
    if (type < 0) {
        fprintf(stderr, "deepc %s: --type must be q8_0 or q4_1, got '%s'\n", command, type_name);
        return EXIT_USAGE;
    }
    if (dc_quant_file_is_quantized(in)) {
        fprintf(stderr, "deepc %s: %s is already quantized (quantize the float checkpoint)\n",
                command, in);
        return EXIT_USAGE;
    }
    run r;
    int rc = run_open_checkpoint(&r, in, false, command, NULL);
    int n = rc ? -1 : dc_module_quantize(r.model, (dc_qtype)type, pattern);
    if (!rc && n < 0) {
        fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
        rc = EXIT_RUNTIME;
    }
    if (!rc && n == 0) {
        fprintf(stderr, "deepc %s: no Linear or Embedding layer of %s matches '%s'\n", command,
                in, pattern ? pattern : "*");
        rc = EXIT_USAGE;
    }
    if (!rc) rc = write_tokenizer(&r, in, out, command);
    if (!rc) {
        metadata m = {0};
        run_metadata(&r, &m);
        const char *kv[2 * METADATA_MAX];
        for (int i = 0; i < m.n; i++) kv[2 * i] = m.keys[i], kv[2 * i + 1] = m.values[i];
        if (dc_quant_save(out, r.model, kv, m.n) != 0) {
            fprintf(stderr, "deepc %s: %s\n", command, dc_last_error());
            rc = EXIT_RUNTIME;
        }
    }
    if (!rc)
        printf("quantized %d Linear/Embedding weight%s of %s to %s: %s (%lld bytes) -> %s (%lld "
               "bytes)\n",
               n, n == 1 ? "" : "s", r.cfg.model, type_name, in, file_size(in), out, file_size(out));
    run_close(&r);
    return rc;
}
