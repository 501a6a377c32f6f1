/* Option tables: one description of each option serves the command line ("--epochs 3",
 * "--epochs=3"), config files ("epochs = 3") and checkpoint metadata, so the three can never
 * disagree on names, ranges or choices. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const dc_option *find_option(const dc_option *table, const char *name)
{
    for (const dc_option *o = table; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

/* Is `value` one of the '|'-separated words of choices? */
static bool is_choice(const char *choices, const char *value)
{
    size_t len = strlen(value);
    for (const char *c = choices; *c;) {
        size_t word = strcspn(c, "|");
        if (word == len && !strncmp(c, value, len)) return true;
        c += word + (c[word] == '|');
    }
    return false;
}

int option_set(const dc_option *table, void *settings, const char *name, const char *value,
               char *why, size_t why_size)
{
    const dc_option *o = find_option(table, name);
    if (!o) return 0;
    char *field = (char *)settings + o->offset;
    char *end;
    errno = 0;
    switch (o->type) {
    case DC_OPTION_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max) {
            snprintf(why, why_size, "--%s expects an integer in [%.0f, %.0f], got '%s'", name,
                     o->min, o->max, value);
            return -1;
        }
        *(long *)field = v;
        return 1;
    }
    case DC_OPTION_REAL: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !(v >= o->min && v <= o->max)) {
            snprintf(why, why_size, "--%s expects a number in [%g, %g], got '%s'", name, o->min,
                     o->max, value);
            return -1;
        }
        *(double *)field = v;
        return 1;
    }
    case DC_OPTION_TEXT:
        if (o->choices && !is_choice(o->choices, value)) {
            snprintf(why, why_size, "--%s expects one of %s, got '%s'", name, o->choices, value);
            return -1;
        }
        if (strlen(value) >= o->size || !*value) {
            snprintf(why, why_size, "--%s: value %s", name, *value ? "too long" : "is empty");
            return -1;
        }
        memcpy(field, value, strlen(value) + 1);
        return 1;
    case DC_OPTION_FLAG:
        if (!strcmp(value, "true") || !strcmp(value, "1")) *(bool *)field = true;
        else if (!strcmp(value, "false") || !strcmp(value, "0")) *(bool *)field = false;
        else {
            snprintf(why, why_size, "%s expects true or false, got '%s'", name, value);
            return -1;
        }
        return 1;
    }
    return 0;
}

int options_parse_argv(const dc_option *table, void *settings, int argc, char **argv,
                       char *why, size_t why_size)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(why, why_size, "unexpected argument '%s' (try 'deepc %s --help')", arg,
                     argv[0]);
            return EXIT_USAGE;
        }
        char name[64];
        const char *eq = strchr(arg, '='), *value = NULL;
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        const dc_option *o = NULL;
        if (len < sizeof name) {
            memcpy(name, arg + 2, len);
            name[len] = '\0';
            o = find_option(table, name);
        }
        if (!o) {
            snprintf(why, why_size, "unknown argument '%s' (try 'deepc %s --help')", arg,
                     argv[0]);
            return EXIT_USAGE;
        }
        if (eq) value = eq + 1;
        else if (o->type == DC_OPTION_FLAG) value = "true";
        else if (i + 1 < argc) value = argv[++i];
        else {
            snprintf(why, why_size, "--%s needs a value", name);
            return EXIT_USAGE;
        }
        if (option_set(table, settings, name, value, why, why_size) < 0) return EXIT_USAGE;
    }
    return 0;
}

int options_parse_args(const dc_option *table, void *settings, int argc, char **argv)
{
    char why[2048];
    int rc = options_parse_argv(table, settings, argc, argv, why, sizeof why);
    if (rc) fprintf(stderr, "deepc %s: %s\n", argv[0], why);
    return rc;
}

/* s without leading and trailing blanks (in place). */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n > 0 && strchr(" \t\r\n", s[n - 1])) s[--n] = '\0';
    return s;
}

int options_parse_buffer(const dc_option *table, void *settings, const char *text,
                         size_t len, char *why, size_t why_size)
{
    char line[OPTION_LINE_MAX + 1], what[1024];
    size_t at = 0;
    for (long number = 1; at < len; number++) {
        size_t line_len = 0;
        while (at + line_len < len && text[at + line_len] != '\n') line_len++;
        const char *start = text + at;
        at += line_len + 1; /* past the '\n' (or the end) */
        if (memchr(start, '\0', line_len)) {
            snprintf(why, why_size, "%ld: the line holds a NUL byte (not a text file?)", number);
            return EXIT_USAGE;
        }
        if (line_len > OPTION_LINE_MAX) {
            snprintf(why, why_size, "%ld: the line is %zu bytes long (at most %d)", number,
                     line_len, OPTION_LINE_MAX);
            return EXIT_USAGE;
        }
        memcpy(line, start, line_len);
        line[line_len] = '\0';
        line[strcspn(line, "#")] = '\0';
        char *content = trim(line);
        if (!*content) continue;
        char *eq = strchr(content, '=');
        if (eq) *eq = '\0';
        char *key = trim(content), *value = eq ? trim(eq + 1) : NULL;
        int got = value ? option_set(table, settings, key, value, what, sizeof what) : 0;
        if (got <= 0) {
            if (!value) snprintf(what, sizeof what, "expected 'key = value', got '%s'", key);
            else if (got == 0) snprintf(what, sizeof what, "unknown key '%s'", key);
            snprintf(why, why_size, "%ld: %s", number, what);
            return EXIT_USAGE;
        }
    }
    return 0;
}

int options_parse_file(const dc_option *table, void *settings, const char *path,
                       const char *command)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool failed = !f;
    while (!failed) { /* the whole file: lines of any length, NUL bytes seen */
        if (len == cap) {
            char *grown = cap < (64u << 20) ? realloc(text, cap ? 2 * cap : 4096) : NULL;
            if (!grown) {
                errno = cap ? EFBIG : ENOMEM;
                failed = true;
                break;
            }
            text = grown, cap = cap ? 2 * cap : 4096;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            failed = ferror(f) != 0;
            break;
        }
    }
    if (failed) {
        fprintf(stderr, "deepc %s: cannot read config file %s: %s\n", command, path,
                strerror(errno ? errno : EIO));
        if (f) fclose(f);
        free(text);
        return EXIT_RUNTIME;
    }
    fclose(f);
    char why[2048];
    int rc = options_parse_buffer(table, settings, text, len, why, sizeof why);
    if (rc) fprintf(stderr, "deepc %s: %s:%s\n", command, path, why);
    free(text);
    return rc;
}

void option_format(const dc_option *o, const void *settings, char *buf, size_t size)
{
    const char *field = (const char *)settings + o->offset;
    switch (o->type) {
    case DC_OPTION_INT: snprintf(buf, size, "%ld", *(const long *)field); break;
    case DC_OPTION_REAL: snprintf(buf, size, "%.17g", *(const double *)field); break;
    case DC_OPTION_TEXT: snprintf(buf, size, "%s", field); break;
    case DC_OPTION_FLAG: snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false"); break;
    }
}

bool option_is_unset(const dc_option *o, const char *formatted)
{
    return !*formatted || (o->type == DC_OPTION_INT && !strcmp(formatted, "-1")) ||
           (o->type == DC_OPTION_REAL && !strcmp(formatted, "nan"));
}

const char *option_in_args(int argc, char **argv, const char *name)
{
    size_t len = strlen(name);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) || strncmp(argv[i] + 2, name, len)) continue;
        if (argv[i][2 + len] == '=') return argv[i] + 3 + len;
        if (!argv[i][2 + len] && i + 1 < argc) return argv[i + 1];
    }
    return NULL;
}
