/* Reading the PyTorch reference files of tests/ref/ (format documented at the top of
 * tests/ref/make_refs.py) and comparing deepc tensors with them. Shared by the tests that
 * check against torch (test_nn_refs.c, ...).
 *
 * A file is a list of tensors, each with a role (param, const, out, seed, grad), a name, a
 * dtype (f32 or i64) and a shape; values are read as doubles. There is no limit on the
 * number of tensors or the length of a line of values. */
#ifndef DC_REF_LOADER_H
#define DC_REF_LOADER_H

#include "test.h"

typedef struct {
    char role[8]; /* param, const, out, seed, grad */
    char name[64];
    dc_dtype dtype; /* DC_F32 or DC_I64 */
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    int64_t numel;
    double *values;
} ref_tensor;

typedef struct {
    const char *path; /* set by the caller (relative to tests/, where the runner runs) */
    int n;
    ref_tensor *t;     /* n entries, in file order */
    dc_tensor **built; /* n NULL slots for the caller (deepc tensors of the entries) */
    int cap;
} ref_chain;

/* Parse c->path; on failure write why (naming the file, and the generating script when it
 * is missing) into err and return -1. Call ref_free in both cases. */
int ref_load(ref_chain *c, char *err, size_t err_size);
void ref_free(ref_chain *c);
/* In a test: load `path` into *c (reset first); on failure record a test failure with the
 * reason, free c and return false. */
bool ref_open(ref_chain *c, const char *path);
/* "<case>.<name>": the entry names of files that hold several cases. */
const char *ref_case_name(char *buf, size_t size, const char *case_name, const char *name);
/* The entry with this role and name (and its position in *index if not NULL), or NULL. */
ref_tensor *ref_find(ref_chain *c, const char *role, const char *name, int *index);
/* A new deepc tensor (f32 or i64) with the entry's shape and values. */
dc_tensor *ref_to_tensor(const ref_tensor *t);
/* ref_to_tensor of the entry (role, name), or NULL with an error naming the file and entry
 * (so a mismatch between a C test and its Python script shows). */
dc_tensor *ref_get(ref_chain *c, const char *role, const char *name);
/* "shape [2, 3]" of an entry. */
const char *ref_shape_str(const ref_tensor *t, char *buf, size_t size);

/* Record a test failure unless got has want's shape and |got - want| <= rtol * |want| + atol
 * element-wise, with rtol = 1e-5 and atol = 1e-6 times the largest |want| (at least 1e-6):
 * float32 sums in a different order differ by a few ulps of the largest term. */
void ref_compare(const char *what, const dc_tensor *got, const ref_tensor *want);
/* The same with explicit rtol and atol_scale (atol = atol_scale * max(1, max |want|)). */
void ref_compare_tol(const char *what, const dc_tensor *got, const ref_tensor *want, double rtol,
                     double atol_scale);

#endif
