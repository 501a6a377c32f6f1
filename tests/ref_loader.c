/* Reading the reference files tests/ref/<name>.txt (see ref_loader.h and make_refs.py). */
#include "ref_loader.h"

#include <stdlib.h>

void ref_free(ref_chain *c)
{
    for (int i = 0; i < c->n; i++) free(c->t[i].values);
    free(c->t);
    free(c->built);
    c->t = NULL;
    c->built = NULL;
    c->n = c->cap = 0;
}

/* Room for one more entry; false when out of memory. */
static bool grow(ref_chain *c)
{
    if (c->n < c->cap) return true;
    int cap = c->cap ? 2 * c->cap : 32;
    ref_tensor *t = realloc(c->t, (size_t)cap * sizeof *t);
    if (t) c->t = t;
    dc_tensor **built = realloc(c->built, (size_t)cap * sizeof *built);
    if (built) c->built = built;
    if (!t || !built) return false;
    c->cap = cap;
    return true;
}

/* Parse one header line "<role> <name> f32|i64 <ndim> <dims>" into t; false if malformed. */
static bool parse_header(const char *line, ref_tensor *t)
{
    char dtype[8];
    int used = 0;
    if (sscanf(line, "%7s %63s %7s %d%n", t->role, t->name, dtype, &t->ndim, &used) != 4 ||
        t->ndim < 0 || t->ndim > DC_MAX_DIMS ||
        (strcmp(dtype, "f32") != 0 && strcmp(dtype, "i64") != 0))
        return false;
    t->dtype = dtype[0] == 'f' ? DC_F32 : DC_I64;
    t->numel = 1;
    const char *p = line + used;
    for (int d = 0; d < t->ndim; d++) {
        long long size;
        int n = 0;
        if (sscanf(p, "%lld%n", &size, &n) != 1 || size < 0) return false;
        t->shape[d] = size;
        t->numel *= size;
        p += n;
    }
    return true;
}

int ref_load(ref_chain *c, char *err, size_t err_size)
{
    FILE *f = fopen(c->path, "r");
    if (!f) {
        snprintf(err, err_size,
                 "cannot open %s (run the tests from tests/; regenerate with "
                 "/usr/bin/python3 tests/ref/make_refs.py or the make_*_refs.py that wrote it)",
                 c->path);
        return -1;
    }
    char line[1024];
    int line_no = 0, rc = 0;
    /* Header lines are read whole; values with fscanf, so their lines may be of any length. */
    while (rc == 0 && fgets(line, sizeof line, f)) {
        line_no++;
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0') continue;
        if (!grow(c)) {
            snprintf(err, err_size, "%s: out of memory", c->path);
            rc = -1;
            break;
        }
        ref_tensor *t = &c->t[c->n];
        memset(t, 0, sizeof *t);
        if (!parse_header(line, t)) {
            snprintf(err, err_size, "%s:%d: expected '<role> <name> f32|i64 <ndim> <dims>'",
                     c->path, line_no);
            rc = -1;
            break;
        }
        t->values = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *t->values);
        c->built[c->n] = NULL;
        c->n++; /* counted now, so ref_free releases values on any later failure */
        if (!t->values) {
            snprintf(err, err_size, "out of memory");
            rc = -1;
            break;
        }
        for (int64_t i = 0; i < t->numel; i++)
            if (fscanf(f, "%lf", &t->values[i]) != 1) {
                snprintf(err, err_size, "%s: tensor %s %s: expected %lld values, got %lld", c->path,
                         t->role, t->name, (long long)t->numel, (long long)i);
                rc = -1;
                break;
            }
        /* the rest of the last line of values, so the next fgets starts a fresh line */
        int ch;
        while (rc == 0 && t->numel > 0 && (ch = fgetc(f)) != EOF && ch != '\n') {
        }
        line_no += (int)((t->numel + 7) / 8);
    }
    fclose(f);
    if (rc == 0 && c->n == 0) {
        snprintf(err, err_size, "%s: no tensors", c->path);
        rc = -1;
    }
    return rc;
}

ref_tensor *ref_find(ref_chain *c, const char *role, const char *name, int *index)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->t[i].role, role) == 0 && strcmp(c->t[i].name, name) == 0) {
            if (index) *index = i;
            return &c->t[i];
        }
    return NULL;
}

dc_tensor *ref_to_tensor(const ref_tensor *t)
{
    size_t n = (size_t)(t->numel ? t->numel : 1);
    if (t->dtype == DC_I64) {
        int64_t *ids = malloc(n * sizeof *ids);
        if (!ids) return NULL;
        for (int64_t i = 0; i < t->numel; i++) ids[i] = (int64_t)t->values[i];
        dc_tensor *out = dc_from_buffer(DC_I64, t->ndim, t->shape, ids);
        free(ids);
        return out;
    }
    float *v = malloc(n * sizeof *v);
    if (!v) return NULL;
    for (int64_t i = 0; i < t->numel; i++) v[i] = (float)t->values[i];
    dc_tensor *out = dc_from_buffer(DC_F32, t->ndim, t->shape, v);
    free(v);
    return out;
}

dc_tensor *ref_get(ref_chain *c, const char *role, const char *name)
{
    ref_tensor *t = ref_find(c, role, name, NULL);
    if (!t) return dc_error("%s has no '%s %s'", c->path, role, name);
    return ref_to_tensor(t);
}

const char *ref_shape_str(const ref_tensor *t, char *buf, size_t size)
{
    size_t used = (size_t)snprintf(buf, size, "shape [");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld",
                                 (long long)t->shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

void ref_compare_tol(const char *what, const dc_tensor *got, const ref_tensor *want, double rtol,
                     double atol_scale)
{
    char a[96], b[96];
    if (!want) {
        dc_test_fail(__FILE__, __LINE__, "%s: no reference value in the file", what);
        return;
    }
    if (!got) {
        dc_test_fail(__FILE__, __LINE__, "%s: missing (%s)", what, dc_last_error());
        return;
    }
    if (got->ndim != want->ndim ||
        memcmp(got->shape, want->shape, (size_t)want->ndim * sizeof *want->shape) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: deepc gives %s, torch %s", what,
                     dc_shape_str(got, a, sizeof a), ref_shape_str(want, b, sizeof b));
        return;
    }
    double *v = dc_test_values(got), scale = 1;
    for (int64_t i = 0; i < want->numel; i++)
        if (fabs(want->values[i]) > scale) scale = fabs(want->values[i]);
    if (v) CHECK_ALLCLOSE(what, v, want->values, want->numel, rtol, atol_scale * scale);
    else dc_test_fail(__FILE__, __LINE__, "%s: cannot read values", what);
    free(v);
}

void ref_compare(const char *what, const dc_tensor *got, const ref_tensor *want)
{
    ref_compare_tol(what, got, want, 1e-5, 1e-6);
}

bool ref_open(ref_chain *c, const char *path)
{
    *c = (ref_chain){.path = path};
    char err[512];
    if (ref_load(c, err, sizeof err) == 0) return true;
    dc_test_fail(__FILE__, __LINE__, "%s", err);
    ref_free(c);
    return false;
}

const char *ref_case_name(char *buf, size_t size, const char *case_name, const char *name)
{
    snprintf(buf, size, "%s.%s", case_name, name);
    return buf;
}
