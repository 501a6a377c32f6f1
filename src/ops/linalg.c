/* Linear algebra with torch.linalg semantics: solve, inv, det / slogdet / logdet, cholesky,
 * qr, lstsq, eigh, svd / svdvals, batched over leading dims, float32 and float64.
 *
 * Forward: each matrix of the batch is copied into a float64 scratch and factored there
 * (LU with partial pivoting, Cholesky, Householder QR, cyclic Jacobi for eigh, one-sided
 * Jacobi for the SVD), matrices split over the thread pool; float32 results are rounded
 * from float64. Backward: composed of differentiable dc_ ops (matmul, solve, inv, tril, ...)
 * with the formulas of torch 1.13's FunctionsManual.cpp, derived in the comments. An op with
 * several outputs gives each requested output its own node; its backward is the op's
 * gradient with the other outputs' cotangents taken as zero, and the engine adds them up
 * (the gradient is linear in the cotangents). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Matrices of a batch in float64 scratch ----------------------------------------------- */

/* A [..., rows, cols] tensor read as a batch of matrices (any strides). */
typedef struct {
    const char *data;
    dc_dtype dtype;
    int nb; /* batch dims */
    const int64_t *shape, *stride;
    int64_t rows, cols, rs, cs;
} mat_src;

static void mat_src_init(mat_src *s, const dc_tensor *t)
{
    s->data = dc_data(t);
    s->dtype = t->dtype;
    s->nb = t->ndim - 2;
    s->shape = t->shape;
    s->stride = t->stride;
    s->rows = t->shape[t->ndim - 2];
    s->cols = t->shape[t->ndim - 1];
    s->rs = t->stride[t->ndim - 2];
    s->cs = t->stride[t->ndim - 1];
}

/* Matrix b of the batch into dst (row-major rows x cols); transposed: dst is cols x rows. */
static void mat_load(const mat_src *s, int64_t b, double *dst, bool transposed)
{
    int64_t off = 0;
    for (int d = s->nb - 1; d >= 0; d--) {
        off += (b % s->shape[d]) * s->stride[d];
        b /= s->shape[d];
    }
    for (int64_t i = 0; i < s->rows; i++)
        for (int64_t j = 0; j < s->cols; j++) {
            double v = dc__load_double(s->data, s->dtype, off + i * s->rs + j * s->cs);
            if (transposed) dst[j * s->rows + i] = v;
            else dst[i * s->cols + j] = v;
        }
}

/* count values of src into elements [b * count, (b + 1) * count) of the contiguous out. */
static void mat_store(dc_tensor *out, int64_t b, int64_t count, const double *src)
{
    if (!out) return;
    if (out->dtype == DC_F32) {
        float *o = (float *)dc_data(out) + b * count;
        for (int64_t k = 0; k < count; k++) o[k] = (float)src[k];
    } else {
        memcpy((double *)dc_data(out) + b * count, src, sizeof(double) * (size_t)count);
    }
}

/* One matrix's work: returns 0 or a status the op turns into an error (e.g. a pivot). */
typedef int64_t (*mat_fn)(void *ctx, int64_t b, double *work);

typedef struct {
    mat_fn fn;
    void *ctx;
    size_t nwork;
    int64_t *status;
} batch_job;

#define STATUS_NO_MEMORY INT64_MIN

static void batch_range(void *vctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    batch_job *j = vctx;
    double *w = malloc(j->nwork * sizeof *w);
    for (int64_t b = begin; b < end; b++) j->status[b] = w ? j->fn(j->ctx, b, w) : STATUS_NO_MEMORY;
    free(w);
}

/* Run fn on the batch matrices of size n (threaded); -1 with an error if out of memory,
 * else 0 with the first nonzero status in *code and its matrix in *where (0 if none). */
static int run_batches(const char *op, mat_fn fn, void *ctx, int64_t batch, int64_t n,
                       size_t nwork, int64_t *code, int64_t *where)
{
    *code = 0;
    *where = 0;
    int64_t *status = calloc((size_t)(batch > 0 ? batch : 1), sizeof *status);
    if (!status) return dc_error("%s: out of memory", op), -1;
    batch_job j = {fn, ctx, nwork ? nwork : 1, status};
    const int64_t grain = n >= 24 ? 1 : 1 + 8192 / (n * n * n + 1);
    dc_parallel_for(batch, grain, batch_range, &j);
    int rc = 0;
    for (int64_t b = 0; b < batch; b++) {
        if (status[b] == STATUS_NO_MEMORY) {
            rc = -1;
            break;
        }
        if (status[b] && !*code) {
            *code = status[b];
            *where = b;
        }
    }
    free(status);
    return rc ? (dc_error("%s: out of memory", op), -1) : 0;
}

/* " (matrix 3 of the batch)" for batched inputs, "" otherwise. */
static const char *batch_note(char *buf, size_t size, int64_t batch, int64_t where)
{
    if (batch <= 1) return "";
    snprintf(buf, size, " (matrix %lld of the batch)", (long long)where);
    return buf;
}

/* ---- Validation and shapes --------------------------------------------------------------- */

static bool check_matrix(const dc_tensor *a, const char *op, const char *name, bool square)
{
    if (!a) return dc_error("%s: input '%s' is NULL", op, name), false;
    if (a->dtype != DC_F32 && a->dtype != DC_F64)
        return dc_error("%s: %s must be float32 or float64, got %s", op, name,
                        dc_dtype_name(a->dtype)),
               false;
    char buf[96];
    if (a->ndim < 2)
        return dc_error("%s: %s must have at least 2 dims [..., m, n], got shape %s", op, name,
                        dc__shape_fmt(a->ndim, a->shape, buf, sizeof buf)),
               false;
    if (square && a->shape[a->ndim - 1] != a->shape[a->ndim - 2])
        return dc_error("%s: %s must be a batch of square matrices, got shape %s", op, name,
                        dc__shape_fmt(a->ndim, a->shape, buf, sizeof buf)),
               false;
    return true;
}

static int64_t batch_count(const dc_tensor *a) { return dc__shape_numel(a->ndim - 2, a->shape); }

/* A tensor of shape a's batch dims + the given trailing dims. */
static dc_tensor *alloc_batched(const dc_tensor *a, int ntrail, int64_t d0, int64_t d1)
{
    int64_t shape[DC_MAX_DIMS];
    int nb = a->ndim - 2;
    memcpy(shape, a->shape, sizeof(int64_t) * (size_t)nb);
    if (ntrail > 0) shape[nb] = d0;
    if (ntrail > 1) shape[nb + 1] = d1;
    return dc__alloc_result(a->dtype, nb + ntrail, shape);
}

/* The n x n identity in dtype (a constant). */
static dc_tensor *eye(dc_dtype dtype, int64_t n)
{
    dc_tensor *t = dc_zeros(dtype, 2, (int64_t[]){n, n});
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (dtype == DC_F32) ((float *)dc_data(t))[i * n + i] = 1;
        else ((double *)dc_data(t))[i * n + i] = 1;
    }
    return t;
}

static dc_tensor *mT(dc_tensor *t) { return dc_transpose(t, -2, -1); }

/* Record out's node with input a, output index `which`, and save the listed tensors. */
static int record_multi(dc_tensor *out, const char *name, dc_backward_fn bw, dc_tensor *a,
                        int which, int64_t param, int nsave, dc_tensor *const *save)
{
    if (!out) return 0;
    dc_node *node;
    if (dc__record(out, name, bw, 1, &a, &node) != 0) return -1;
    if (!node) return 0;
    node->i[0] = which;
    node->i[1] = param;
    for (int k = 0; k < nsave; k++)
        if (dc__save(node, save[k]) < 0) return -1;
    return 0;
}

/* The n results of a multi-output op: each one asked for (outs[k] != NULL) is recorded as
 * output k and handed out, the others are freed; on failure (rc != 0) all are freed. */
static int finish_outputs(int rc, int n, dc_tensor **res, dc_tensor **const *outs,
                          const char *name, dc_backward_fn bw, dc_tensor *a, int64_t param,
                          int nsave, dc_tensor *const *save)
{
    for (int k = 0; rc == 0 && k < n; k++)
        if (outs[k]) rc = record_multi(res[k], name, bw, a, k, param, nsave, save);
    for (int k = 0; k < n; k++) {
        if (rc == 0 && outs[k]) *outs[k] = dc__publish(res[k]);
        else dc_tensor_free(res[k]);
    }
    return rc == 0 ? 0 : -1;
}

/* ---- LU with partial pivoting: solve, inv, det ------------------------------------------- */

/* In place P a = L U for the n x n row-major a (unit L below the diagonal, U on and above);
 * perm[k] = the row swapped with row k at step k, *sign = det(P). With check, a pivot
 * |u_kk| <= tol stops it: returns k + 1 if the pivot is exactly 0, -(k + 1) if it is below
 * tol; without, zero pivots are skipped (det 0). */
static int64_t lu_factor(double *a, int64_t n, double *perm, bool check, double tol, int *sign)
{
    *sign = 1;
    for (int64_t k = 0; k < n; k++) {
        int64_t p = k;
        for (int64_t i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > fabs(a[p * n + k])) p = i;
        perm[k] = (double)p;
        if (p != k) {
            for (int64_t j = 0; j < n; j++) {
                double t = a[k * n + j];
                a[k * n + j] = a[p * n + j];
                a[p * n + j] = t;
            }
            *sign = -*sign;
        }
        const double piv = a[k * n + k];
        if (check && !(fabs(piv) > tol)) return piv == 0 || isnan(piv) ? k + 1 : -(k + 1);
        if (piv == 0) continue;
        for (int64_t i = k + 1; i < n; i++) {
            const double l = (a[i * n + k] /= piv);
            if (l == 0) continue;
            for (int64_t j = k + 1; j < n; j++) a[i * n + j] -= l * a[k * n + j];
        }
    }
    return 0;
}

/* b (n x k) = A^-1 b from the factors of lu_factor. */
static void lu_solve(const double *a, const double *perm, int64_t n, double *b, int64_t k)
{
    for (int64_t i = 0; i < n; i++) {
        int64_t p = (int64_t)perm[i];
        if (p != i)
            for (int64_t c = 0; c < k; c++) {
                double t = b[i * k + c];
                b[i * k + c] = b[p * k + c];
                b[p * k + c] = t;
            }
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++) {
            const double l = a[i * n + j];
            if (l != 0)
                for (int64_t c = 0; c < k; c++) b[i * k + c] -= l * b[j * k + c];
        }
    for (int64_t i = n - 1; i >= 0; i--) {
        for (int64_t j = i + 1; j < n; j++) {
            const double u = a[i * n + j];
            if (u != 0)
                for (int64_t c = 0; c < k; c++) b[i * k + c] -= u * b[j * k + c];
        }
        for (int64_t c = 0; c < k; c++) b[i * k + c] /= a[i * n + i];
    }
}

/* The relative pivot threshold of solve and inv: n * 2^-52 * max|A|. */
static double singular_tol(const double *a, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n * n; i++) m = fmax(m, fabs(a[i]));
    return (double)n * DBL_EPSILON * m;
}

typedef struct {
    mat_src a, b; /* b.data NULL: the identity (inv) */
    dc_tensor *out;
    int64_t n, k;
} solve_ctx;

static int64_t solve_one(void *vctx, int64_t bi, double *w)
{
    const solve_ctx *c = vctx;
    const int64_t n = c->n, k = c->k;
    double *a = w, *b = w + n * n, *perm = b + n * k;
    mat_load(&c->a, bi, a, false);
    if (c->b.data) {
        mat_load(&c->b, bi, b, false);
    } else {
        memset(b, 0, sizeof(double) * (size_t)(n * k));
        for (int64_t i = 0; i < n; i++) b[i * k + i] = 1;
    }
    int sign;
    int64_t code = lu_factor(a, n, perm, true, singular_tol(a, n), &sign);
    if (code) return code;
    lu_solve(a, perm, n, b, k);
    mat_store(c->out, bi, n * k, b);
    return 0;
}

static void singular_error(const char *op, int64_t code, int64_t batch, int64_t where)
{
    char nb[64];
    if (code > 0)
        dc_error("%s: the matrix is singular (pivot %lld is 0)%s", op, (long long)code,
                 batch_note(nb, sizeof nb, batch, where));
    else
        dc_error("%s: the matrix is singular (pivot %lld is 0 to working precision: |pivot| <= "
                 "n * 2^-52 * max|A|)%s",
                 op, (long long)-code, batch_note(nb, sizeof nb, batch, where));
}

/* X = A^-1 B. Gradients (torch): gB = solve(A^T, g), gA = -gB X^T. */
static int solve_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *x = node->saved[1];
    dc_tensor *gb = dc_linalg_solve(mT(a), g);
    if (!gb) return -1;
    if (dc__needs_grad(node, 1)) grads[1] = gb;
    if (dc__needs_grad(node, 0) && !(grads[0] = dc_neg(dc_matmul(gb, mT(x))))) return -1;
    return 0;
}

/* A [..., n, n], B [..., n, k] with equal batch dims. */
static dc_tensor *solve_core(dc_tensor *a, dc_tensor *b)
{
    const char *op = "dc_linalg_solve";
    const int64_t n = a->shape[a->ndim - 1], k = b->shape[b->ndim - 1], batch = batch_count(a);
    dc_tensor *out = dc__alloc_result(a->dtype, b->ndim, b->shape);
    if (!out) return NULL;
    solve_ctx c = {.out = out, .n = n, .k = k};
    mat_src_init(&c.a, a);
    mat_src_init(&c.b, b);
    int64_t code, where;
    if (run_batches(op, solve_one, &c, batch, n, (size_t)(n * n + n * k + n), &code, &where)) {
        dc_tensor_free(out);
        return NULL;
    }
    if (code) {
        singular_error(op, code, batch, where);
        dc_tensor_free(out);
        return NULL;
    }
    dc_node *node;
    if (dc__record(out, "linalg_solve", solve_backward, 2, (dc_tensor *[]){a, b}, &node) != 0 ||
        (node && (dc__save(node, a) < 0 || dc__save(node, out) < 0))) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

dc_tensor *dc_linalg_solve(dc_tensor *a, dc_tensor *b)
{
    const char *op = "dc_linalg_solve";
    if (!check_matrix(a, op, "A", true)) return NULL;
    if (!b) return dc_error("%s: input 'B' is NULL", op);
    if (!dc__check_same_dtype(a, b, op)) return NULL;
    const int64_t n = a->shape[a->ndim - 1];
    /* torch's rule: B is a (batch of) vector(s) if it is 1-D or has A's shape less the last dim */
    bool vector = b->ndim == 1;
    if (b->ndim == a->ndim - 1) {
        vector = true;
        for (int d = 0; d < b->ndim; d++) vector = vector && b->shape[d] == a->shape[d];
    }
    char sa[96], sb[96];
    if (b->ndim < (vector ? 1 : 2) || b->shape[vector ? b->ndim - 1 : b->ndim - 2] != n)
        return dc_error("%s: B of shape %s does not match A of shape %s (B must be [..., %lld, k] "
                        "or [..., %lld])",
                        op, dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb),
                        dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa), (long long)n,
                        (long long)n);
    /* batch dims broadcast (as torch) */
    const int bnb = vector ? b->ndim - 1 : b->ndim - 2;
    int64_t bshape[DC_MAX_DIMS];
    int nb = dc__broadcast_shape(a->ndim - 2, a->shape, bnb, b->shape, bshape, op);
    if (nb < 0) return NULL;
    if (nb + 2 > DC_MAX_DIMS) return dc_error("%s: too many dims", op);
    size_t scope = dc_scope_begin();
    dc_tensor *bm = vector ? dc_unsqueeze(b, -1) : b;
    int64_t ashape[DC_MAX_DIMS], xshape[DC_MAX_DIMS];
    memcpy(ashape, bshape, sizeof(int64_t) * (size_t)nb);
    memcpy(xshape, bshape, sizeof(int64_t) * (size_t)nb);
    ashape[nb] = ashape[nb + 1] = n;
    xshape[nb] = n;
    xshape[nb + 1] = bm ? bm->shape[bm->ndim - 1] : 0;
    dc_tensor *ae = a->ndim == nb + 2 && !memcmp(a->shape, ashape, sizeof(int64_t) * (size_t)nb)
                        ? a
                        : dc_expand(a, nb + 2, ashape);
    dc_tensor *be = bm && bm->ndim == nb + 2 && !memcmp(bm->shape, xshape, sizeof(int64_t) * (size_t)nb)
                        ? bm
                        : dc_expand(bm, nb + 2, xshape);
    dc_tensor *x = ae && be ? solve_core(ae, be) : NULL;
    if (x && vector) x = dc_squeeze(x, -1);
    if (!x) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, x);
}

/* Y = A^-1. Gradient: gA = -Y^T g Y^T. */
static int inv_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *yt = mT(node->saved[0]);
    grads[0] = dc_neg(dc_matmul(dc_matmul(yt, g), yt));
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_linalg_inv(dc_tensor *a)
{
    const char *op = "dc_linalg_inv";
    if (!check_matrix(a, op, "A", true)) return NULL;
    const int64_t n = a->shape[a->ndim - 1], batch = batch_count(a);
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    solve_ctx c = {.out = out, .n = n, .k = n};
    mat_src_init(&c.a, a);
    int64_t code, where;
    if (run_batches(op, solve_one, &c, batch, n, (size_t)(2 * n * n + n), &code, &where)) {
        dc_tensor_free(out);
        return NULL;
    }
    if (code) {
        singular_error(op, code, batch, where);
        dc_tensor_free(out);
        return NULL;
    }
    if (record_multi(out, "linalg_inv", inv_backward, a, 0, 0, 1, &out) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

typedef struct {
    mat_src a;
    dc_tensor *det, *sign, *logabs;
    int64_t n;
} det_ctx;

static int64_t det_one(void *vctx, int64_t bi, double *w)
{
    const det_ctx *c = vctx;
    const int64_t n = c->n;
    double *a = w, *perm = w + n * n;
    mat_load(&c->a, bi, a, false);
    int sign;
    lu_factor(a, n, perm, false, 0, &sign);
    double s = sign, logabs = 0, det = sign;
    for (int64_t i = 0; i < n; i++) {
        double u = a[i * n + i];
        det *= u;
        s *= u > 0 ? 1 : u < 0 ? -1 : 0;
        logabs += log(fabs(u));
    }
    if (s == 0) logabs = -INFINITY;
    if (c->det) {
        /* the product can overflow where the logarithm does not: exp(logabs) when finite */
        if (!isfinite(det) && s != 0) det = s * exp(logabs);
        mat_store(c->det, bi, 1, &det);
    }
    mat_store(c->sign, bi, 1, &s);
    mat_store(c->logabs, bi, 1, &logabs);
    return 0;
}

/* det: gA = g det(A) A^-T; logdet and slogdet's logabsdet: gA = g A^-T (torch, invertible A;
 * a singular A makes the backward fail with the error of dc_linalg_inv). */
static int det_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0];
    dc_tensor *scale = node->i[0] == 0 ? dc_mul(g, node->saved[1]) : g;
    dc_tensor *s = dc_unsqueeze(dc_unsqueeze(scale, -1), -1);
    grads[0] = dc_mul(s, mT(dc_linalg_inv(a)));
    return grads[0] ? 0 : -1;
}

enum { DET_DET, DET_SLOGDET, DET_LOGDET };

static int det_impl(const char *op, int kind, dc_tensor *a, dc_tensor **det, dc_tensor **sign,
                    dc_tensor **logabs)
{
    if (det) *det = NULL;
    if (sign) *sign = NULL;
    if (logabs) *logabs = NULL;
    if (!check_matrix(a, op, "A", true)) return -1;
    const int64_t n = a->shape[a->ndim - 1], batch = batch_count(a);
    det_ctx c = {.n = n};
    mat_src_init(&c.a, a);
    c.det = kind == DET_DET ? alloc_batched(a, 0, 0, 0) : NULL;
    c.sign = kind != DET_DET ? alloc_batched(a, 0, 0, 0) : NULL;
    c.logabs = kind != DET_DET ? alloc_batched(a, 0, 0, 0) : NULL;
    int64_t code, where;
    int rc = (kind == DET_DET ? !c.det : !c.sign || !c.logabs) ? -1 : 0;
    if (rc == 0) rc = run_batches(op, det_one, &c, batch, n, (size_t)(n * n + n), &code, &where);
    if (rc == 0 && kind == DET_LOGDET) {
        /* torch.logdet: nan for a negative determinant, -inf for a singular matrix */
        const int64_t nel = dc_numel(c.logabs);
        for (int64_t i = 0; i < nel; i++) {
            double s = dc__load_double(dc_data(c.sign), a->dtype, i);
            if (s < 0) {
                double v = NAN;
                mat_store(c.logabs, i, 1, &v);
            }
        }
    }
    if (rc == 0 && kind == DET_DET)
        rc = record_multi(c.det, "linalg_det", det_backward, a, 0, 0, 2, (dc_tensor *[]){a, c.det});
    if (rc == 0 && kind != DET_DET && (logabs || kind == DET_LOGDET))
        rc = record_multi(c.logabs, kind == DET_LOGDET ? "logdet" : "linalg_slogdet",
                          det_backward, a, 1, 0, 1, &a);
    if (rc != 0) {
        dc_tensor_free(c.det);
        dc_tensor_free(c.sign);
        dc_tensor_free(c.logabs);
        return -1;
    }
    if (det) *det = dc__publish(c.det);
    if (sign) *sign = dc__publish(c.sign);
    else dc_tensor_free(c.sign);
    if (logabs) *logabs = dc__publish(c.logabs);
    else dc_tensor_free(c.logabs);
    return 0;
}

dc_tensor *dc_linalg_det(dc_tensor *a)
{
    dc_tensor *d = NULL;
    det_impl("dc_linalg_det", DET_DET, a, &d, NULL, NULL);
    return d;
}

int dc_linalg_slogdet(dc_tensor *a, dc_tensor **sign, dc_tensor **logabsdet)
{
    return det_impl("dc_linalg_slogdet", DET_SLOGDET, a, NULL, sign, logabsdet);
}

dc_tensor *dc_logdet(dc_tensor *a)
{
    dc_tensor *l = NULL;
    det_impl("dc_logdet", DET_LOGDET, a, NULL, NULL, &l);
    return l;
}

/* ---- Cholesky ------------------------------------------------------------------------------ */

typedef struct {
    mat_src a;
    dc_tensor *out;
    int64_t n;
    bool upper;
} chol_ctx;

/* L L^T = A from A's lower triangle; returns j + 1 if the leading minor j + 1 is not
 * positive. */
static int64_t chol_one(void *vctx, int64_t bi, double *w)
{
    const chol_ctx *c = vctx;
    const int64_t n = c->n;
    double *a = w, *l = w + n * n;
    mat_load(&c->a, bi, a, false);
    memset(l, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (int64_t k = 0; k < j; k++) d -= l[j * n + k] * l[j * n + k];
        if (!(d > 0) || !isfinite(d)) return j + 1;
        const double ljj = sqrt(d);
        l[j * n + j] = ljj;
        for (int64_t i = j + 1; i < n; i++) {
            double s = a[i * n + j];
            for (int64_t k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
            l[i * n + j] = s / ljj;
        }
    }
    if (c->upper)
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < i; j++) {
                l[j * n + i] = l[i * n + j];
                l[i * n + j] = 0;
            }
    mat_store(c->out, bi, n * n, l);
    return 0;
}

/* A = L L^T: dL = L Phi(L^-1 dA L^-T) with Phi = the lower triangle, diagonal halved, so
 * (torch) gA = L^-T sym(Phi(L^T gL)) L^-1, sym(M) = (M + M^T) / 2 (the upper factor U = L^T:
 * L = U^T, gL = gU^T). */
static int cholesky_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *l = node->saved[0], *gl = g;
    if (node->i[1]) {
        l = mT(l);
        gl = mT(g);
    }
    dc_tensor *p = dc_tril(dc_matmul(mT(l), gl), 0);
    dc_tensor *s = dc_mul_scalar(dc_add(p, mT(dc_tril(p, -1))), 0.5);
    dc_tensor *linv = dc_linalg_inv(l);
    grads[0] = dc_matmul(dc_matmul(mT(linv), s), linv);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_linalg_cholesky(dc_tensor *a, bool upper)
{
    const char *op = "dc_linalg_cholesky";
    if (!check_matrix(a, op, "A", true)) return NULL;
    const int64_t n = a->shape[a->ndim - 1], batch = batch_count(a);
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    chol_ctx c = {.out = out, .n = n, .upper = upper};
    mat_src_init(&c.a, a);
    int64_t code, where;
    if (run_batches(op, chol_one, &c, batch, n, (size_t)(2 * n * n), &code, &where)) {
        dc_tensor_free(out);
        return NULL;
    }
    if (code) {
        char nb[64];
        dc_error("%s: the matrix is not positive definite (leading minor %lld)%s", op,
                 (long long)code, batch_note(nb, sizeof nb, batch, where));
        dc_tensor_free(out);
        return NULL;
    }
    if (record_multi(out, "linalg_cholesky", cholesky_backward, a, 0, upper, 1, &out) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* ---- Householder QR ---------------------------------------------------------------------- */

typedef struct {
    mat_src a;
    dc_tensor *q, *r;
    int64_t m, n, qc, rr; /* Q [m, qc], R [rr, n] */
} qr_ctx;

/* LAPACK's geqrf convention: H_k = I - tau v v^T with v_k = 1, beta = -sign(alpha) ||x||, so
 * R matches torch's up to rounding (tau = 0 when the column below the diagonal is 0). */
static int64_t qr_one(void *vctx, int64_t bi, double *w)
{
    const qr_ctx *c = vctx;
    const int64_t m = c->m, n = c->n, k = m < n ? m : n, qc = c->qc;
    double *a = w, *tau = a + m * n, *q = tau + k;
    mat_load(&c->a, bi, a, false);
    for (int64_t j = 0; j < k; j++) {
        const double alpha = a[j * n + j];
        double xn = 0;
        for (int64_t i = j + 1; i < m; i++) xn = hypot(xn, a[i * n + j]);
        if (xn == 0) {
            tau[j] = 0;
            continue;
        }
        const double beta = -copysign(hypot(alpha, xn), alpha);
        tau[j] = (beta - alpha) / beta;
        const double scale = 1 / (alpha - beta);
        for (int64_t i = j + 1; i < m; i++) a[i * n + j] *= scale;
        a[j * n + j] = beta;
        for (int64_t col = j + 1; col < n; col++) {
            double s = a[j * n + col];
            for (int64_t i = j + 1; i < m; i++) s += a[i * n + j] * a[i * n + col];
            s *= tau[j];
            a[j * n + col] -= s;
            for (int64_t i = j + 1; i < m; i++) a[i * n + col] -= s * a[i * n + j];
        }
    }
    if (c->q) {
        /* Q = H_0 ... H_{k-1} I[:, :qc], applied from the last reflector */
        memset(q, 0, sizeof(double) * (size_t)(m * qc));
        for (int64_t i = 0; i < qc; i++) q[i * qc + i] = 1;
        for (int64_t j = k - 1; j >= 0; j--) {
            if (tau[j] == 0) continue;
            for (int64_t col = 0; col < qc; col++) {
                double s = q[j * qc + col];
                for (int64_t i = j + 1; i < m; i++) s += a[i * n + j] * q[i * qc + col];
                s *= tau[j];
                q[j * qc + col] -= s;
                for (int64_t i = j + 1; i < m; i++) q[i * qc + col] -= s * a[i * n + j];
            }
        }
        mat_store(c->q, bi, m * qc, q);
    }
    /* R: the upper triangle of the first rr rows (zeros below), reusing q's space */
    double *r = q;
    for (int64_t i = 0; i < c->rr; i++)
        for (int64_t j = 0; j < n; j++) r[i * n + j] = j >= i && i < m ? a[i * n + j] : 0;
    mat_store(c->r, bi, c->rr * n, r);
    return 0;
}

/* QR backward for A [.., m, n] with m >= n (Q [m, n], R [n, n] upper): with
 * M = R gR^T - gQ^T Q and copyltu(M) = tril(M) + tril(M, -1)^T,
 * gA = (gQ + Q copyltu(M)) R^-T. For m < n, A = [X | Y], R = [U | V] with U square:
 * gX = that formula for (Q, U) with gQ + Y gV^T, and gY = Q gV. A NULL gradient is 0. */
static dc_tensor *qr_grad(dc_tensor *a, dc_tensor *q, dc_tensor *r, dc_tensor *gq, dc_tensor *gr)
{
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
    if (m < n) {
        dc_tensor *y = dc_narrow(a, -1, m, n - m), *u = dc_narrow(r, -1, 0, m);
        dc_tensor *gu = gr ? dc_narrow(gr, -1, 0, m) : NULL, *gv = gr ? dc_narrow(gr, -1, m, n - m) : NULL;
        dc_tensor *gq2 = gv ? dc_matmul(y, mT(gv)) : NULL;
        if (gq) gq2 = gq2 ? dc_add(gq2, gq) : gq;
        dc_tensor *gx = qr_grad(dc_narrow(a, -1, 0, m), q, u, gq2, gu);
        dc_tensor *gy = gv ? dc_matmul(q, gv) : dc_zeros_like(y);
        return dc_cat((dc_tensor *[]){gx, gy}, 2, -1);
    }
    dc_tensor *mm = NULL;
    if (gr) mm = dc_matmul(r, mT(gr));
    if (gq) {
        dc_tensor *t = dc_matmul(mT(gq), q);
        mm = mm ? dc_sub(mm, t) : dc_neg(t);
    }
    if (!mm) return dc_zeros_like(a);
    dc_tensor *cp = dc_add(dc_tril(mm, 0), mT(dc_tril(mm, -1)));
    dc_tensor *x = dc_matmul(q, cp);
    if (gq) x = dc_add(x, gq);
    return mT(dc_linalg_solve(r, mT(x))); /* x R^-T = (R^-1 x^T)^T */
}

static int qr_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *q = node->saved[1], *r = node->saved[2];
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
    if (node->i[1] && m > n)
        return dc_error("dc_linalg_qr: the QR decomposition is not differentiable when mode is "
                        "complete and m > n (as torch; use DC_QR_REDUCED)"),
               -1;
    grads[0] = node->i[0] == 0 ? qr_grad(a, q, r, g, NULL) : qr_grad(a, q, r, NULL, g);
    return grads[0] ? 0 : -1;
}

int dc_linalg_qr(dc_tensor *a, dc_qr_mode mode, dc_tensor **q, dc_tensor **r)
{
    const char *op = "dc_linalg_qr";
    if (q) *q = NULL;
    if (r) *r = NULL;
    if (!check_matrix(a, op, "A", false)) return -1;
    if (mode != DC_QR_REDUCED && mode != DC_QR_COMPLETE)
        return dc_error("%s: unknown mode %d (DC_QR_REDUCED or DC_QR_COMPLETE)", op, (int)mode), -1;
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1], k = m < n ? m : n;
    const int64_t qc = mode == DC_QR_COMPLETE ? m : k, batch = batch_count(a);
    qr_ctx c = {.m = m, .n = n, .qc = qc, .rr = qc};
    mat_src_init(&c.a, a);
    c.q = alloc_batched(a, 2, m, qc);
    c.r = alloc_batched(a, 2, qc, n);
    int64_t code, where;
    size_t nwork = (size_t)(m * n + k + (m * qc > qc * n ? m * qc : qc * n));
    int rc = c.q && c.r ? run_batches(op, qr_one, &c, batch, m > n ? m : n, nwork, &code, &where) : -1;
    dc_tensor *save[3] = {a, c.q, c.r};
    return finish_outputs(rc, 2, (dc_tensor *[]){c.q, c.r}, (dc_tensor **const[]){q, r}, "linalg_qr",
                          qr_backward, a, mode, 3, save);
}

/* ---- Least squares via QR ---------------------------------------------------------------- */

/* X = R^-1 Q^T B from the reduced QR of A (full column rank, m >= n); composed of qr, matmul
 * and solve, so its gradient is theirs. */
dc_tensor *dc_linalg_lstsq(dc_tensor *a, dc_tensor *b)
{
    const char *op = "dc_linalg_lstsq";
    if (!check_matrix(a, op, "A", false) || !check_matrix(b, op, "B", false)) return NULL;
    if (!dc__check_same_dtype(a, b, op)) return NULL;
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1];
    char sa[96], sb[96];
    if (m < n)
        return dc_error("%s: A of shape %s has fewer rows than columns; only full-rank tall or "
                        "square A (m >= n) is supported",
                        op, dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa));
    if (b->shape[b->ndim - 2] != m)
        return dc_error("%s: B of shape %s does not match A of shape %s (B must be [..., %lld, k])",
                        op, dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb),
                        dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa), (long long)m);
    int64_t bshape[DC_MAX_DIMS];
    int nb = dc__broadcast_shape(a->ndim - 2, a->shape, b->ndim - 2, b->shape, bshape, op);
    if (nb < 0) return NULL;
    size_t scope = dc_scope_begin();
    int64_t ashape[DC_MAX_DIMS], b2shape[DC_MAX_DIMS];
    memcpy(ashape, bshape, sizeof(int64_t) * (size_t)nb);
    memcpy(b2shape, bshape, sizeof(int64_t) * (size_t)nb);
    ashape[nb] = m, ashape[nb + 1] = n;
    b2shape[nb] = m, b2shape[nb + 1] = b->shape[b->ndim - 1];
    dc_tensor *ae = dc_expand(a, nb + 2, ashape), *be = dc_expand(b, nb + 2, b2shape);
    dc_tensor *q = NULL, *r = NULL, *x = NULL;
    if (ae && be && dc_linalg_qr(ae, DC_QR_REDUCED, &q, &r) == 0) {
        /* full rank: |r_jj| > m * 2^-52 * max_j |r_jj| */
        dc_tensor *rcont = dc_contiguous(r);
        bool full_rank = rcont != NULL;
        double rmax = 0;
        const int64_t nmat = rcont ? batch_count(rcont) : 0;
        for (int pass = 0; full_rank && pass < 2; pass++)
            for (int64_t bi = 0; full_rank && bi < nmat; bi++)
                for (int64_t j = 0; full_rank && j < n; j++) {
                    const double v = fabs(
                        dc__load_double(dc_data(rcont), rcont->dtype, (bi * n + j) * n + j));
                    if (pass == 0) {
                        rmax = fmax(rmax, v);
                    } else if (!(v > (double)m * DBL_EPSILON * rmax)) {
                        char bn[64];
                        dc_error("%s: A does not have full column rank (column %lld is a linear "
                                 "combination of the others)%s",
                                 op, (long long)j + 1, batch_note(bn, sizeof bn, nmat, bi));
                        full_rank = false;
                    }
                }
        if (full_rank) x = dc_linalg_solve(r, dc_matmul(mT(q), be));
    }
    if (!x) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, x);
}

/* ---- Symmetric eigendecomposition (cyclic Jacobi) ----------------------------------------- */

typedef struct {
    mat_src a;
    dc_tensor *vals, *vecs;
    int64_t n;
} eigh_ctx;

static int64_t eigh_one(void *vctx, int64_t bi, double *w)
{
    const eigh_ctx *c = vctx;
    const int64_t n = c->n;
    double *a = w, *v = a + n * n, *vals = v + n * n, *order = vals + n, *out = order + n;
    mat_load(&c->a, bi, a, false);
    /* the lower triangle, as torch (UPLO = 'L') */
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i];
    memset(v, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) v[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, total = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                total += a[i * n + j] * a[i * n + j];
                if (i != j) off += a[i * n + j] * a[i * n + j];
            }
        if (off == 0 || off <= 1e-34 * total) break;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                const double apq = a[p * n + q];
                if (fabs(apq) < 1e-300) continue;
                /* the rotation P (P_pp = P_qq = c, P_pq = s, P_qp = -s) with (P^T A P)_pq = 0 */
                const double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                const double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                const double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (int64_t k = 0; k < n; k++) {
                    const double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (int64_t k = 0; k < n; k++) {
                    const double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
                a[p * n + q] = a[q * n + p] = 0;
                for (int64_t k = 0; k < n; k++) {
                    const double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = cs * vkp - sn * vkq;
                    v[k * n + q] = sn * vkp + cs * vkq;
                }
            }
    }
    /* ascending (insertion sort of the indices; n is small next to the n^3 above) */
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i;
        const double d = a[i * n + i];
        while (j > 0 && a[(int64_t)order[j - 1] * (n + 1)] > d) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (double)i;
    }
    for (int64_t j = 0; j < n; j++) {
        const int64_t src = (int64_t)order[j];
        vals[j] = a[src * n + src];
        /* a deterministic sign: the largest component of each eigenvector is positive */
        int64_t big = 0;
        for (int64_t i = 1; i < n; i++)
            if (fabs(v[i * n + src]) > fabs(v[big * n + src])) big = i;
        const double sgn = v[big * n + src] < 0 ? -1 : 1;
        for (int64_t i = 0; i < n; i++) out[i * n + j] = sgn * v[i * n + src];
    }
    mat_store(c->vals, bi, n, vals);
    mat_store(c->vecs, bi, n * n, out);
    return 0;
}

/* F[i][j] = 1 / (x_j - x_i) off the diagonal, 0 on it (x [..., k]; differentiable in x). */
static dc_tensor *inverse_gaps(dc_tensor *x)
{
    const int64_t k = x->shape[x->ndim - 1];
    dc_tensor *i = eye(x->dtype, k);
    dc_tensor *e = dc_sub(dc_unsqueeze(x, -2), dc_unsqueeze(x, -1));
    return dc_sub(dc_pow_scalar(dc_add(e, i), -1), i);
}

/* A = V diag(L) V^T: dL = diag(V^T dA V), dV = V (F o (V^T dA V)), F_ij = 1 / (L_j - L_i), so
 * gA = V (diag(gL) + F o (V^T gV)) V^T (torch; distinct eigenvalues). */
static int eigh_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *l = node->saved[0], *v = node->saved[1], *inner;
    if (node->i[0] == 0) {
        grads[0] = dc_matmul(dc_mul(v, dc_unsqueeze(g, -2)), mT(v));
        return grads[0] ? 0 : -1;
    }
    inner = dc_mul(inverse_gaps(l), dc_matmul(mT(v), g));
    grads[0] = dc_matmul(dc_matmul(v, inner), mT(v));
    return grads[0] ? 0 : -1;
}

int dc_linalg_eigh(dc_tensor *a, dc_tensor **eigenvalues, dc_tensor **eigenvectors)
{
    const char *op = "dc_linalg_eigh";
    if (eigenvalues) *eigenvalues = NULL;
    if (eigenvectors) *eigenvectors = NULL;
    if (!check_matrix(a, op, "A", true)) return -1;
    const int64_t n = a->shape[a->ndim - 1], batch = batch_count(a);
    eigh_ctx c = {.n = n};
    mat_src_init(&c.a, a);
    c.vals = alloc_batched(a, 1, n, 0);
    c.vecs = alloc_batched(a, 2, n, n);
    int64_t code, where;
    int rc = c.vals && c.vecs
                 ? run_batches(op, eigh_one, &c, batch, n, (size_t)(3 * n * n + 2 * n), &code, &where)
                 : -1;
    dc_tensor *save[2] = {c.vals, c.vecs};
    return finish_outputs(rc, 2, save, (dc_tensor **const[]){eigenvalues, eigenvectors},
                          "linalg_eigh", eigh_backward, a, 0, 2, save);
}

/* ---- SVD (one-sided Jacobi) -------------------------------------------------------------- */

/* Make the columns of q (m x nc, row-major) with !ok[c] orthonormal to the others (each
 * other column: a unit vector), from the standard basis by twice-repeated Gram-Schmidt. */
static void fill_orthonormal(double *q, int64_t m, int64_t nc, bool *ok, double *tmp)
{
    int64_t next = 0;
    for (int64_t c = 0; c < nc; c++) {
        if (ok[c]) continue;
        for (; next < m; next++) {
            for (int64_t i = 0; i < m; i++) tmp[i] = i == next ? 1 : 0;
            for (int rep = 0; rep < 2; rep++)
                for (int64_t o = 0; o < nc; o++) {
                    if (!ok[o]) continue;
                    double d = 0;
                    for (int64_t i = 0; i < m; i++) d += q[i * nc + o] * tmp[i];
                    for (int64_t i = 0; i < m; i++) tmp[i] -= d * q[i * nc + o];
                }
            double norm = 0;
            for (int64_t i = 0; i < m; i++) norm = hypot(norm, tmp[i]);
            if (norm > 0.5) {
                for (int64_t i = 0; i < m; i++) q[i * nc + c] = tmp[i] / norm;
                ok[c] = true;
                next++;
                break;
            }
        }
    }
}

/* SVD of the m x n row-major w (m >= n; destroyed): u (m x uc, uc = n or m), s (n,
 * descending), v (n x n, columns = right singular vectors). scratch: n*n + 2n + m doubles. */
static void svd_tall(double *w, int64_t m, int64_t n, int64_t uc, double *u, double *s,
                     double *v, double *scratch)
{
    double *vacc = scratch, *norms = vacc + n * n, *order = norms + n, *tmp = order + n;
    memset(vacc, 0, sizeof(double) * (size_t)(n * n));
    for (int64_t i = 0; i < n; i++) vacc[i * n + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        bool rotated = false;
        for (int64_t p = 0; p < n; p++)
            for (int64_t q = p + 1; q < n; q++) {
                double alpha = 0, beta = 0, gamma = 0;
                for (int64_t i = 0; i < m; i++) {
                    const double wp = w[i * n + p], wq = w[i * n + q];
                    alpha += wp * wp;
                    beta += wq * wq;
                    gamma += wp * wq;
                }
                if (!(fabs(gamma) > 1e-15 * sqrt(alpha * beta)) || gamma == 0) continue;
                rotated = true;
                /* columns p' = c p - s q, q' = s p + c q with p'.q' = 0 */
                const double zeta = (beta - alpha) / (2 * gamma);
                const double t = (zeta >= 0 ? 1 : -1) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                const double cs = 1 / sqrt(1 + t * t), sn = cs * t;
                for (int64_t i = 0; i < m; i++) {
                    const double wp = w[i * n + p], wq = w[i * n + q];
                    w[i * n + p] = cs * wp - sn * wq;
                    w[i * n + q] = sn * wp + cs * wq;
                }
                for (int64_t i = 0; i < n; i++) {
                    const double vp = vacc[i * n + p], vq = vacc[i * n + q];
                    vacc[i * n + p] = cs * vp - sn * vq;
                    vacc[i * n + q] = sn * vp + cs * vq;
                }
            }
        if (!rotated) break;
    }
    for (int64_t j = 0; j < n; j++) {
        double nr = 0;
        for (int64_t i = 0; i < m; i++) nr = hypot(nr, w[i * n + j]);
        norms[j] = nr;
        int64_t k = j;
        while (k > 0 && norms[(int64_t)order[k - 1]] < nr) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = (double)j;
    }
    bool okbuf[64], *ok = uc <= 64 ? okbuf : malloc(sizeof(bool) * (size_t)uc);
    for (int64_t j = 0; j < uc; j++) {
        if (j >= n) {
            if (ok) ok[j] = false;
            continue;
        }
        const int64_t src = (int64_t)order[j];
        s[j] = norms[src];
        for (int64_t i = 0; i < n; i++) v[i * n + j] = vacc[i * n + src];
        const bool good = s[j] > 0 && isfinite(s[j]);
        for (int64_t i = 0; i < m; i++) u[i * uc + j] = good ? w[i * n + src] / s[j] : 0;
        if (ok) ok[j] = good;
    }
    if (ok) fill_orthonormal(u, m, uc, ok, tmp);
    if (ok != okbuf) free(ok);
}

typedef struct {
    mat_src a;
    dc_tensor *u, *s, *vh;
    int64_t m, n;
    bool full;
} svd_ctx;

static int64_t svd_one(void *vctx, int64_t bi, double *w)
{
    const svd_ctx *c = vctx;
    const bool tall = c->m >= c->n;
    const int64_t mm = tall ? c->m : c->n, nn = tall ? c->n : c->m, uc = c->full ? mm : nn;
    double *a = w, *u = a + mm * nn, *s = u + mm * uc, *v = s + nn, *scratch = v + nn * nn;
    double *out = scratch + nn * nn + 2 * nn + mm;
    mat_load(&c->a, bi, a, !tall);
    svd_tall(a, mm, nn, uc, u, s, v, scratch);
    mat_store(c->s, bi, nn, s);
    if (tall) {
        /* U = u [m, uc], Vh = v^T [n, n] */
        mat_store(c->u, bi, mm * uc, u);
        for (int64_t i = 0; i < nn; i++)
            for (int64_t j = 0; j < nn; j++) out[i * nn + j] = v[j * nn + i];
        mat_store(c->vh, bi, nn * nn, out);
    } else {
        /* A^T = u s v^T: U = v [m, m], Vh = u^T [uc, n] */
        mat_store(c->u, bi, nn * nn, v);
        for (int64_t i = 0; i < uc; i++)
            for (int64_t j = 0; j < mm; j++) out[i * mm + j] = u[j * uc + i];
        mat_store(c->vh, bi, uc * mm, out);
    }
    return 0;
}

/* Reduced SVD A = U S V^T (k = min(m, n) columns), E_jk = S_k^2 - S_j^2, F = 1/E off the
 * diagonal (torch, distinct singular values):
 *   gA = U [(F o (U^T gU - gU^T U)) S + S (F o (V^T gV - gV^T V)) + diag(gS)] V^T
 *        + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T).
 * full_matrices: the extra columns of U and rows of Vh are not unique and get no gradient. */
static int svd_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *u = node->saved[0], *s = node->saved[1], *vh = node->saved[2];
    const int which = (int)node->i[0];
    const int64_t m = u->shape[u->ndim - 2], n = vh->shape[vh->ndim - 1];
    const int64_t k = s->shape[s->ndim - 1];
    if (node->i[1]) {
        u = dc_narrow(u, -1, 0, k);
        vh = dc_narrow(vh, -2, 0, k);
        if (which == 0) g = dc_narrow(g, -1, 0, k);
        if (which == 2) g = dc_narrow(g, -2, 0, k);
    }
    dc_tensor *ga;
    if (which == 1) {
        ga = dc_matmul(dc_mul(u, dc_unsqueeze(g, -2)), vh);
    } else if (which == 0) {
        dc_tensor *j = dc_matmul(mT(u), g);
        dc_tensor *f = inverse_gaps(dc_mul(s, s));
        dc_tensor *inner = dc_mul(dc_mul(f, dc_sub(j, mT(j))), dc_unsqueeze(s, -2));
        ga = dc_matmul(dc_matmul(u, inner), vh);
        if (m > k) {
            dc_tensor *proj = dc_sub(g, dc_matmul(u, j));
            ga = dc_add(ga, dc_matmul(dc_div(proj, dc_unsqueeze(s, -2)), vh));
        }
    } else {
        dc_tensor *v = mT(vh), *gv = mT(g);
        dc_tensor *kk = dc_matmul(vh, gv);
        dc_tensor *f = inverse_gaps(dc_mul(s, s));
        dc_tensor *inner = dc_mul(dc_unsqueeze(s, -1), dc_mul(f, dc_sub(kk, mT(kk))));
        ga = dc_matmul(dc_matmul(u, inner), vh);
        if (n > k) {
            dc_tensor *proj = dc_sub(g, dc_matmul(dc_matmul(g, v), vh)); /* gV^T (I - V V^T) */
            ga = dc_add(ga, dc_matmul(u, dc_div(proj, dc_unsqueeze(s, -1))));
        }
    }
    grads[0] = ga;
    return ga ? 0 : -1;
}

static int svd_impl(const char *op, dc_tensor *a, bool full, dc_tensor **u, dc_tensor **s,
                    dc_tensor **vh)
{
    if (u) *u = NULL;
    if (s) *s = NULL;
    if (vh) *vh = NULL;
    if (!check_matrix(a, op, "A", false)) return -1;
    const int64_t m = a->shape[a->ndim - 2], n = a->shape[a->ndim - 1], k = m < n ? m : n;
    const int64_t batch = batch_count(a), mm = m > n ? m : n;
    svd_ctx c = {.m = m, .n = n, .full = full};
    mat_src_init(&c.a, a);
    c.u = alloc_batched(a, 2, m, full ? m : k);
    c.s = alloc_batched(a, 1, k, 0);
    c.vh = alloc_batched(a, 2, full ? n : k, n);
    const int64_t uc = full ? mm : k;
    size_t nwork = (size_t)(mm * k + mm * uc + k + k * k + k * k + 2 * k + mm + mm * mm);
    int64_t code, where;
    int rc = c.u && c.s && c.vh ? run_batches(op, svd_one, &c, batch, mm, nwork, &code, &where) : -1;
    dc_tensor *save[3] = {c.u, c.s, c.vh};
    return finish_outputs(rc, 3, save, (dc_tensor **const[]){u, s, vh}, "linalg_svd",
                          svd_backward, a, full, 3, save);
}

int dc_linalg_svd(dc_tensor *a, bool full_matrices, dc_tensor **u, dc_tensor **s, dc_tensor **vh)
{
    return svd_impl("dc_linalg_svd", a, full_matrices, u, s, vh);
}

dc_tensor *dc_linalg_svdvals(dc_tensor *a)
{
    dc_tensor *s = NULL;
    svd_impl("dc_linalg_svdvals", a, false, NULL, &s, NULL);
    return s;
}
