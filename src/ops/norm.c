/* Normalising layers (book §4.6): layer norm, group norm, RMS norm and batch norm.
 *
 * Layer, group and RMS norm share one kernel: the input is viewed as contiguous rows
 * [rows, D] and each row is normalised with its own statistics,
 *     mean = sum(x) / D,  rstd = 1 / sqrt(sum((x - mean)^2) / D + eps),  xhat = (x - mean) * rstd
 *     y = xhat * w[ch] + b[ch]
 * (RMS norm: mean = 0, so rstd = 1 / sqrt(mean(x^2) + eps), and no bias). Only the channel
 * ch of an element differs between them:
 *     layer norm  rows = leading dims, D = normalized numel, ch = i (position in the row)
 *     group norm  rows = (n, group),   D = (C/G) * L,         ch = group * C/G + i / L
 * with L the number of spatial positions. Batch norm normalises per channel across the batch
 * and spatial positions instead, so it has its own kernel with the same formulas.
 *
 * Forward keeps mean and rstd per row (per channel) for backward. Backward is one fused pass
 * (llm.c's layernorm_backward): with dn = g * w[ch], over the elements of one row,
 *     dx = rstd * (dn - mean(dn) - xhat * mean(dn * xhat))          (RMS norm: no mean(dn))
 *     dw[ch] = sum g * xhat,   db[ch] = sum g                         (over all rows)
 * and for batch norm in eval mode (fixed statistics) simply dx = rstd * w * g.
 *
 * Accuracy: row sums use 8 independent partial sums (vectorisable without reassociation)
 * added in double; backward sums are in double. Weight gradients are summed per block of
 * rows and the blocks added in order, so results do not depend on the thread count. */
/* At -O2 gcc's "very-cheap" vectoriser skips every loop whose trip count is not a known
 * multiple of the vector width, i.e. all of the normalise loops below; "cheap" vectorises them
 * (with a scalar epilogue). No result depends on it: the loops have no reductions. */
#pragma GCC optimize("vect-cost-model=cheap")

#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <float.h>
#include <math.h>
#include <string.h>

#define NORM_GRAIN 16384       /* elements per thread chunk, at least */
#define NORM_BLOCK_ELEMS 32768 /* elements per block of rows in backward (weight partials) */
#define NORM_MAX_BLOCKS 64

/* ---- Shared helpers ---------------------------------------------------------------------- */

/* sum(x) and sum((x - m)^2) over n contiguous values, with 8 partial sums. */
#define DEFINE_ROW_SUMS(T)                                                                         \
    static double sum_##T(const T *x, int64_t n)                                                   \
    {                                                                                              \
        T acc[8] = {0};                                                                            \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int k = 0; k < 8; k++) acc[k] += x[i + k];                                        \
        double s = 0;                                                                              \
        for (int k = 0; k < 8; k++) s += acc[k];                                                   \
        for (; i < n; i++) s += x[i];                                                              \
        return s;                                                                                  \
    }                                                                                              \
    static double sum_sq_dev_##T(const T *x, int64_t n, T m)                                       \
    {                                                                                              \
        T acc[8] = {0};                                                                            \
        int64_t i = 0;                                                                             \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int k = 0; k < 8; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);                 \
        double s = 0;                                                                              \
        for (int k = 0; k < 8; k++) s += acc[k];                                                   \
        for (; i < n; i++) s += (double)(x[i] - m) * (x[i] - m);                                   \
        return s;                                                                                  \
    }
DEFINE_ROW_SUMS(float)
DEFINE_ROW_SUMS(double)

/* A contiguous version of t without recording a graph (the op records its own node on t). */
static dc_tensor *contiguous_nograd(dc_tensor *t)
{
    bool prev = dc_no_grad_begin();
    dc_tensor *c = dc_contiguous(t);
    dc_grad_mode_restore(prev);
    return c;
}

/* The affine parameter as a contiguous tensor, or a [n] tensor filled with `fill` when it is
 * absent (so the kernels never branch on a missing weight or bias). */
static dc_tensor *affine_or_fill(dc_tensor *p, dc_dtype dtype, int64_t n, double fill)
{
    return p ? contiguous_nograd(p) : dc_full(dtype, 1, &n, fill);
}

/* p is NULL or has x's dtype and the given shape; else an error naming both shapes. */
static bool check_affine(const dc_tensor *p, const char *what, const dc_tensor *x, int ndim,
                         const int64_t *shape, const char *op)
{
    if (!p) return true;
    if (p->dtype != x->dtype) {
        dc_error("%s: %s is %s but the input is %s", op, what, dc_dtype_name(p->dtype),
                 dc_dtype_name(x->dtype));
        return false;
    }
    if (p->ndim == ndim && memcmp(p->shape, shape, (size_t)ndim * sizeof *shape) == 0) return true;
    char a[96], b[96], c[96];
    dc_error("%s: %s has shape %s, expected %s for input %s", op, what,
             dc__shape_fmt(p->ndim, p->shape, a, sizeof a), dc__shape_fmt(ndim, shape, b, sizeof b),
             dc__shape_fmt(x->ndim, x->shape, c, sizeof c));
    return false;
}

/* Blocks of rows for the backward's weight partial sums: fixed by the problem size (never by
 * the thread count), so the summation order and the result are reproducible. */
static int64_t backward_blocks(int64_t rows, int64_t row_elems)
{
    int64_t blocks = rows * row_elems / NORM_BLOCK_ELEMS;
    if (blocks > NORM_MAX_BLOCKS) blocks = NORM_MAX_BLOCKS;
    if (blocks > rows) blocks = rows;
    return blocks < 1 ? 1 : blocks;
}

/* Copy n doubles into a new tensor of `like`'s dtype and shape (a weight gradient). */
static dc_tensor *tensor_from_doubles(const dc_tensor *like, const double *v)
{
    dc_tensor *t = dc__alloc_result(like->dtype, like->ndim, like->shape);
    if (!t) return NULL;
    int64_t n = dc_numel(t);
    if (t->dtype == DC_F32)
        for (int64_t i = 0; i < n; i++) ((float *)dc_data(t))[i] = (float)v[i];
    else memcpy(dc_data(t), v, (size_t)n * sizeof *v);
    return dc__publish(t);
}

/* ---- Row kernel: layer norm, group norm, RMS norm ----------------------------------------- */

typedef struct {
    dc_dtype dtype;
    int64_t rows, D;   /* x, y, g, dx: contiguous [rows, D] */
    int64_t groups, L; /* element i of row r has channel (r % groups) * (D / L) + i / L */
    int64_t C;         /* channels: groups * D / L */
    bool rms;
    double eps;
    const void *x, *w, *b; /* w, b: [C], never NULL */
    void *y, *mean, *rstd; /* mean, rstd: [rows] */
    const void *g;
    void *dx;
    double *dw, *db; /* backward: partial sums [nblocks][C], NULL if not needed */
    int64_t nblocks;
} rownorm_job;

#define DEFINE_ROWNORM_KERNELS(T)                                                                  \
    static void rownorm_forward_##T(void *ctx, int64_t r0, int64_t r1, int tid)                    \
    {                                                                                              \
        (void)tid;                                                                                 \
        const rownorm_job *j = ctx;                                                                \
        const int64_t D = j->D, L = j->L, Cg = D / L;                                              \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *restrict x = (const T *)j->x + r * D;                                         \
            T *restrict y = (T *)j->y + r * D;                                                     \
            const T *restrict w = (const T *)j->w + (r % j->groups) * Cg;                          \
            const T *restrict b = (const T *)j->b + (r % j->groups) * Cg;                          \
            T mean = j->rms ? 0 : (T)(sum_##T(x, D) / (double)D);                                  \
            T rstd = (T)(1.0 / sqrt(sum_sq_dev_##T(x, D, mean) / (double)D + j->eps));             \
            ((T *)j->mean)[r] = mean;                                                              \
            ((T *)j->rstd)[r] = rstd;                                                              \
            if (L == 1) {                                                                          \
                for (int64_t i = 0; i < D; i++) y[i] = (x[i] - mean) * rstd * w[i] + b[i];         \
            } else {                                                                               \
                for (int64_t c = 0; c < Cg; c++) {                                                 \
                    const T scale = rstd * w[c], shift = b[c];                                     \
                    const T *restrict xc = x + c * L;                                              \
                    T *restrict yc = y + c * L;                                                    \
                    for (int64_t l = 0; l < L; l++) yc[l] = (xc[l] - mean) * scale + shift;        \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void rownorm_backward_##T(const rownorm_job *j, int64_t block)                          \
    {                                                                                              \
        const int64_t D = j->D, L = j->L, Cg = D / L;                                              \
        const int64_t r0 = block * j->rows / j->nblocks, r1 = (block + 1) * j->rows / j->nblocks;  \
        double *dw = j->dw ? j->dw + block * j->C : NULL;                                          \
        double *db = j->db ? j->db + block * j->C : NULL;                                          \
        for (int64_t r = r0; r < r1; r++) {                                                        \
            const T *restrict x = (const T *)j->x + r * D;                                         \
            const T *restrict g = (const T *)j->g + r * D;                                         \
            T *restrict dx = (T *)j->dx + r * D;                                                   \
            const int64_t ch0 = (r % j->groups) * Cg;                                              \
            const T *restrict w = (const T *)j->w + ch0;                                           \
            const T mean = ((const T *)j->mean)[r], rstd = ((const T *)j->rstd)[r];                \
            /* pass 1: sum(dn), sum(dn * xhat) and this row's share of dw, db */                   \
            double sum_dn = 0, sum_dn_xhat = 0;                                                    \
            for (int64_t c = 0; c < Cg; c++) {                                                     \
                double sg = 0, sgx = 0;                                                            \
                for (int64_t l = 0; l < L; l++) {                                                  \
                    T xhat = (x[c * L + l] - mean) * rstd;                                         \
                    sg += g[c * L + l];                                                            \
                    sgx += (double)g[c * L + l] * xhat;                                            \
                }                                                                                  \
                sum_dn += w[c] * sg;                                                               \
                sum_dn_xhat += w[c] * sgx;                                                         \
                if (dw) dw[ch0 + c] += sgx;                                                        \
                if (db) db[ch0 + c] += sg;                                                         \
            }                                                                                      \
            const T mean_dn = j->rms ? 0 : (T)(sum_dn / (double)D);                                \
            const T mean_dn_xhat = (T)(sum_dn_xhat / (double)D);                                   \
            /* pass 2: dx = rstd * (dn - mean(dn) - xhat * mean(dn * xhat)) */                     \
            if (L == 1) {                                                                          \
                for (int64_t i = 0; i < D; i++) {                                                  \
                    T xhat = (x[i] - mean) * rstd;                                                 \
                    dx[i] = rstd * (g[i] * w[i] - mean_dn - xhat * mean_dn_xhat);                  \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t c = 0; c < Cg; c++)                                                   \
                    for (int64_t l = c * L; l < (c + 1) * L; l++) {                                \
                        T xhat = (x[l] - mean) * rstd;                                             \
                        dx[l] = rstd * (g[l] * w[c] - mean_dn - xhat * mean_dn_xhat);              \
                    }                                                                              \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void rownorm_backward_blocks_##T(void *ctx, int64_t b0, int64_t b1, int tid)            \
    {                                                                                              \
        (void)tid;                                                                                 \
        for (int64_t block = b0; block < b1; block++) rownorm_backward_##T(ctx, block);            \
    }
DEFINE_ROWNORM_KERNELS(float)
DEFINE_ROWNORM_KERNELS(double)


/* Reduce the per-block partials [nblocks][C] into the first block's row. */
static void sum_blocks(double *partials, int64_t nblocks, int64_t C)
{
    for (int64_t k = 1; k < nblocks; k++)
        for (int64_t c = 0; c < C; c++) partials[c] += partials[k * C + c];
}

/* node->i: [0] rows, [1] D, [2] groups, [3] L, [4] C, [5] rms.
 * saved: [0] x (contiguous), [1] w (contiguous, or the ones that stood in for NULL),
 *        [2] mean, [3] rstd. inputs: x, weight, bias (NULL when absent). */
static int rownorm_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *w = node->saved[1], *mean = node->saved[2],
              *rstd = node->saved[3];
    if (!x || !w || !mean || !rstd)
        return dc_error("dc_backward: %s lost its saved tensors", node->op), -1;
    dc_tensor *g = dc_contiguous(grad_out);
    dc_tensor *dx = g ? dc__alloc_result(x->dtype, x->ndim, x->shape) : NULL;
    if (!dx) return -1;
    rownorm_job j = {.dtype = x->dtype,
                     .rows = node->i[0],
                     .D = node->i[1],
                     .groups = node->i[2],
                     .L = node->i[3],
                     .C = node->i[4],
                     .rms = node->i[5] != 0,
                     .x = dc_data(x),
                     .w = dc_data(w),
                     .mean = dc_data(mean),
                     .rstd = dc_data(rstd),
                     .g = dc_data(g),
                     .dx = dc_data(dx)};
    j.nblocks = backward_blocks(j.rows, j.D);
    bool need_w = dc__needs_grad(node, 1), need_b = dc__needs_grad(node, 2);
    size_t partial_bytes = (size_t)(j.nblocks * j.C + 1) * sizeof(double);
    double *partials = NULL;
    if (need_w || need_b) {
        partials = dc__malloc(2 * partial_bytes);
        if (!partials) {
            dc_tensor_free(dx);
            return -1;
        }
        memset(partials, 0, 2 * partial_bytes);
        j.dw = need_w ? partials : NULL;
        j.db = need_b ? partials + j.nblocks * j.C : NULL;
    }
    if (j.rows * j.D > 0) dc_parallel_for(j.nblocks, 1,
                        j.dtype == DC_F32 ? rownorm_backward_blocks_float
                                          : rownorm_backward_blocks_double,
                        &j);
    grads[0] = dc__publish(dx);
    int rc = grads[0] ? 0 : -1;
    if (need_w) {
        sum_blocks(j.dw, j.nblocks, j.C);
        if (!(grads[1] = tensor_from_doubles(node->inputs[1], j.dw))) rc = -1;
    }
    if (need_b) {
        sum_blocks(j.db, j.nblocks, j.C);
        if (!(grads[2] = tensor_from_doubles(node->inputs[2], j.db))) rc = -1;
    }
    dc__free(partials);
    return rc;
}

/* Normalise x as rows of D elements (see the top comment for groups, L and C); weight and
 * bias are validated by the caller. */
static dc_tensor *rownorm(const char *name, dc_tensor *x, int64_t D, int64_t groups, int64_t L,
                          int64_t C, dc_tensor *weight, dc_tensor *bias, bool rms, double eps)
{
    size_t scope = dc_scope_begin();
    int64_t n = dc_numel(x), rows = D > 0 ? n / D : 0;
    dc_tensor *xc = contiguous_nograd(x);
    dc_tensor *w = affine_or_fill(weight, x->dtype, C, 1.0);
    dc_tensor *b = affine_or_fill(bias, x->dtype, C, 0.0);
    dc_tensor *mean = dc__publish(dc__alloc_result(x->dtype, 1, &rows));
    dc_tensor *rstd = dc__publish(dc__alloc_result(x->dtype, 1, &rows));
    dc_tensor *out =
        xc && w && b && mean && rstd ? dc__alloc_result(x->dtype, x->ndim, x->shape) : NULL;
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    rownorm_job j = {.dtype = x->dtype,
                     .rows = rows,
                     .D = D,
                     .groups = groups,
                     .L = L,
                     .C = C,
                     .rms = rms,
                     .eps = eps,
                     .x = dc_data(xc),
                     .w = dc_data(w),
                     .b = dc_data(b),
                     .y = dc_data(out),
                     .mean = dc_data(mean),
                     .rstd = dc_data(rstd)};
    if (n > 0) {
        int64_t grain = NORM_GRAIN / D > 0 ? NORM_GRAIN / D : 1;
        dc_parallel_for(rows, grain,
                        j.dtype == DC_F32 ? rownorm_forward_float : rownorm_forward_double, &j);
    }
    dc_node *node;
    dc_tensor *inputs[3] = {x, weight, bias};
    if (dc__record(out, name, rownorm_backward, 3, inputs, &node) != 0) {
        dc_tensor_free(out);
        dc_scope_end(scope);
        return NULL;
    }
    if (node) {
        int64_t params[6] = {rows, D, groups, L, C, rms};
        memcpy(node->i, params, sizeof params);
        dc__save(node, xc);
        dc__save(node, w);
        dc__save(node, mean);
        dc__save(node, rstd);
    }
    return dc_scope_return(scope, dc__publish(out));
}

/* Common checks of the layer-norm style ops: x float with at least normalized_ndim >= 1 dims. */
static bool check_normalized(const dc_tensor *x, int normalized_ndim, const char *op)
{
    if (!dc__check_float(x, op)) return false;
    if (normalized_ndim >= 1 && normalized_ndim <= x->ndim) return true;
    char a[96];
    dc_error("%s: normalized_ndim %d must be between 1 and the %d dims of input %s", op,
             normalized_ndim, x->ndim, dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    return false;
}

dc_tensor *dc_layer_norm(dc_tensor *x, int normalized_ndim, dc_tensor *weight, dc_tensor *bias,
                         double eps)
{
    static const char op[] = "dc_layer_norm";
    DC_CHECK_TENSOR(x, op);
    if (!check_normalized(x, normalized_ndim, op)) return NULL;
    const int64_t *nshape = x->shape + x->ndim - normalized_ndim;
    if (!check_affine(weight, "weight", x, normalized_ndim, nshape, op) ||
        !check_affine(bias, "bias", x, normalized_ndim, nshape, op))
        return NULL;
    if (!(eps >= 0)) return dc_error("%s: eps must be >= 0, got %g", op, eps);
    int64_t D = dc__shape_numel(normalized_ndim, nshape);
    return rownorm("layer_norm", x, D, 1, 1, D, weight, bias, false, eps);
}

dc_tensor *dc_rms_norm(dc_tensor *x, int normalized_ndim, dc_tensor *weight, double eps)
{
    static const char op[] = "dc_rms_norm";
    DC_CHECK_TENSOR(x, op);
    if (!check_normalized(x, normalized_ndim, op)) return NULL;
    const int64_t *nshape = x->shape + x->ndim - normalized_ndim;
    if (!check_affine(weight, "weight", x, normalized_ndim, nshape, op)) return NULL;
    if (eps < 0) eps = x->dtype == DC_F32 ? FLT_EPSILON : DBL_EPSILON; /* torch's eps=None */
    if (!(eps >= 0)) return dc_error("%s: eps is NaN", op);
    int64_t D = dc__shape_numel(normalized_ndim, nshape);
    return rownorm("rms_norm", x, D, 1, 1, D, weight, NULL, true, eps);
}

dc_tensor *dc_group_norm(dc_tensor *x, int num_groups, dc_tensor *weight, dc_tensor *bias,
                         double eps)
{
    static const char op[] = "dc_group_norm";
    DC_CHECK_TENSOR(x, op);
    if (!dc__check_float(x, op)) return NULL;
    char a[96];
    if (x->ndim < 2)
        return dc_error("%s: input must be [N, C, ...], got %s", op,
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    const int64_t C = x->shape[1];
    if (num_groups < 1 || C % num_groups != 0)
        return dc_error("%s: num_groups %d must divide the %lld channels of input %s", op,
                        num_groups, (long long)C, dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    if (!check_affine(weight, "weight", x, 1, &C, op) || !check_affine(bias, "bias", x, 1, &C, op))
        return NULL;
    if (!(eps >= 0)) return dc_error("%s: eps must be >= 0, got %g", op, eps);
    int64_t L = dc__shape_numel(x->ndim - 2, x->shape + 2);
    return rownorm("group_norm", x, C / num_groups * L, num_groups, L, C, weight, bias, false, eps);
}

/* ---- Batch norm --------------------------------------------------------------------------- */

typedef struct {
    dc_dtype dtype;
    int64_t N, C, L;  /* x, y, g, dx: contiguous [N, C, L] */
    bool batch_stats; /* training: statistics of this batch (computed here, backprop'd) */
    double eps;
    const void *x, *w, *b; /* [C] */
    void *y;
    void *mean, *rstd; /* [C]: written in training, given in eval */
    double *batch_var; /* [C]: biased batch variance (training), for the running update */
    const void *g;
    void *dx;
    double *dw, *db; /* [C] or NULL */
} bn_job;

/* Channel c of sample n is the L contiguous values at (n * C + c) * L. */
#define DEFINE_BN_KERNELS(T)                                                                       \
    static void bn_forward_##T(void *ctx, int64_t c0, int64_t c1, int tid)                         \
    {                                                                                              \
        (void)tid;                                                                                 \
        const bn_job *j = ctx;                                                                     \
        const int64_t N = j->N, C = j->C, L = j->L;                                                \
        T *mean = j->mean, *rstd = j->rstd;                                                        \
        for (int64_t c = c0; c < c1; c++) {                                                        \
            if (j->batch_stats) {                                                                  \
                double s = 0, ss = 0;                                                              \
                for (int64_t n = 0; n < N; n++)                                                    \
                    s += sum_##T((const T *)j->x + (n * C + c) * L, L);                            \
                mean[c] = (T)(s / (double)(N * L));                                                \
                for (int64_t n = 0; n < N; n++)                                                    \
                    ss += sum_sq_dev_##T((const T *)j->x + (n * C + c) * L, L, mean[c]);           \
                j->batch_var[c] = ss / (double)(N * L);                                            \
                rstd[c] = (T)(1.0 / sqrt(j->batch_var[c] + j->eps));                               \
            }                                                                                      \
            const T m = mean[c], scale = rstd[c] * ((const T *)j->w)[c];                           \
            const T shift = ((const T *)j->b)[c];                                                  \
            for (int64_t n = 0; n < N; n++) {                                                      \
                const T *restrict x = (const T *)j->x + (n * C + c) * L;                           \
                T *restrict y = (T *)j->y + (n * C + c) * L;                                       \
                for (int64_t l = 0; l < L; l++) y[l] = (x[l] - m) * scale + shift;                 \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void bn_backward_##T(void *ctx, int64_t c0, int64_t c1, int tid)                        \
    {                                                                                              \
        (void)tid;                                                                                 \
        const bn_job *j = ctx;                                                                     \
        const int64_t N = j->N, C = j->C, L = j->L, M = N * L;                                     \
        for (int64_t c = c0; c < c1; c++) {                                                        \
            const T m = ((const T *)j->mean)[c], rstd = ((const T *)j->rstd)[c];                   \
            double sg = 0, sgx = 0;                                                                \
            for (int64_t n = 0; n < N; n++) {                                                      \
                const T *x = (const T *)j->x + (n * C + c) * L,                                    \
                        *g = (const T *)j->g + (n * C + c) * L;                                    \
                for (int64_t l = 0; l < L; l++) {                                                  \
                    sg += g[l];                                                                    \
                    sgx += (double)g[l] * ((x[l] - m) * rstd);                                     \
                }                                                                                  \
            }                                                                                      \
            if (j->dw) j->dw[c] = sgx;                                                             \
            if (j->db) j->db[c] = sg;                                                              \
            /* training: rstd * w * (g - mean(g) - xhat * mean(g * xhat)); eval: rstd * w * g */   \
            const T scale = rstd * ((const T *)j->w)[c];                                           \
            const T mean_g = j->batch_stats ? (T)(sg / (double)M) : 0;                             \
            const T mean_gx = j->batch_stats ? (T)(sgx / (double)M) : 0;                           \
            for (int64_t n = 0; n < N; n++) {                                                      \
                const T *restrict x = (const T *)j->x + (n * C + c) * L;                           \
                const T *restrict g = (const T *)j->g + (n * C + c) * L;                           \
                T *restrict dx = (T *)j->dx + (n * C + c) * L;                                     \
                for (int64_t l = 0; l < L; l++)                                                    \
                    dx[l] = scale * (g[l] - mean_g - (x[l] - m) * rstd * mean_gx);                 \
            }                                                                                      \
        }                                                                                          \
    }
DEFINE_BN_KERNELS(float)
DEFINE_BN_KERNELS(double)


static int64_t bn_grain(const bn_job *j)
{
    int64_t per_channel = j->N * j->L;
    return per_channel > 0 && NORM_GRAIN / per_channel > 1 ? NORM_GRAIN / per_channel : 1;
}

/* node->i: [0] N, [1] C, [2] L, [3] batch_stats. saved: x (contiguous), w, mean, rstd. */
static int batch_norm_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *w = node->saved[1], *mean = node->saved[2],
              *rstd = node->saved[3];
    if (!x || !w || !mean || !rstd)
        return dc_error("dc_backward: %s lost its saved tensors", node->op), -1;
    dc_tensor *g = dc_contiguous(grad_out);
    dc_tensor *dx = g ? dc__alloc_result(x->dtype, x->ndim, x->shape) : NULL;
    double *sums = dx ? dc__malloc((2 * (size_t)node->i[1] + 1) * sizeof(double)) : NULL;
    if (!sums) {
        dc_tensor_free(dx);
        return -1;
    }
    bn_job j = {.dtype = x->dtype,
                .N = node->i[0],
                .C = node->i[1],
                .L = node->i[2],
                .batch_stats = node->i[3] != 0,
                .x = dc_data(x),
                .w = dc_data(w),
                .mean = dc_data(mean),
                .rstd = dc_data(rstd),
                .g = dc_data(g),
                .dx = dc_data(dx),
                .dw = sums,
                .db = sums + node->i[1]};
    if (dc_numel(x) > 0) dc_parallel_for(j.C, bn_grain(&j),
                        j.dtype == DC_F32 ? bn_backward_float : bn_backward_double, &j);
    grads[0] = dc__publish(dx);
    int rc = grads[0] ? 0 : -1;
    if (dc__needs_grad(node, 1) && !(grads[1] = tensor_from_doubles(node->inputs[1], j.dw)))
        rc = -1;
    if (dc__needs_grad(node, 2) && !(grads[2] = tensor_from_doubles(node->inputs[2], j.db)))
        rc = -1;
    dc__free(sums);
    return rc;
}

/* Element i of a 1-D float tensor (any stride) as double, and the reverse. */
static double elem_get(const dc_tensor *t, int64_t i)
{
    const char *p = (const char *)dc_data(t) + (size_t)(i * t->stride[0]) * dc__elsize(t->dtype);
    return t->dtype == DC_F32 ? *(const float *)p : *(const double *)p;
}

static void elem_set(dc_tensor *t, int64_t i, double v)
{
    char *p = (char *)dc_data(t) + (size_t)(i * t->stride[0]) * dc__elsize(t->dtype);
    if (t->dtype == DC_F32) *(float *)p = (float)v;
    else *(double *)p = v;
}

static void store(const dc_tensor *t, int64_t i, double v)
{
    if (t->dtype == DC_F32) ((float *)dc_data(t))[i] = (float)v;
    else ((double *)dc_data(t))[i] = v;
}

dc_tensor *dc_batch_norm(dc_tensor *x, dc_tensor *running_mean, dc_tensor *running_var,
                         dc_tensor *weight, dc_tensor *bias, bool training, double momentum,
                         double eps)
{
    static const char op[] = "dc_batch_norm";
    DC_CHECK_TENSOR(x, op);
    if (!dc__check_float(x, op)) return NULL;
    char a[96];
    if (x->ndim < 2)
        return dc_error("%s: input must be [N, C, ...], got %s", op,
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    const int64_t N = x->shape[0], C = x->shape[1];
    const int64_t L = dc__shape_numel(x->ndim - 2, x->shape + 2);
    if (!check_affine(weight, "weight", x, 1, &C, op) ||
        !check_affine(bias, "bias", x, 1, &C, op) ||
        !check_affine(running_mean, "running_mean", x, 1, &C, op) ||
        !check_affine(running_var, "running_var", x, 1, &C, op))
        return NULL;
    if (!running_mean != !running_var)
        return dc_error("%s: give both running_mean and running_var, or neither", op);
    if (!training && !running_mean)
        return dc_error("%s: eval mode (training false) needs running_mean and running_var", op);
    if (training && N * L <= 1)
        return dc_error("%s: expected more than 1 value per channel when training, got input %s",
                        op, dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    if (!(eps >= 0)) return dc_error("%s: eps must be >= 0, got %g", op, eps);
    if (training && running_mean && !(momentum >= 0 && momentum <= 1))
        return dc_error("%s: momentum must be in [0, 1], got %g", op, momentum);

    size_t scope = dc_scope_begin();
    dc_tensor *xc = contiguous_nograd(x);
    dc_tensor *w = affine_or_fill(weight, x->dtype, C, 1.0);
    dc_tensor *b = affine_or_fill(bias, x->dtype, C, 0.0);
    dc_tensor *mean = dc__publish(dc__alloc_result(x->dtype, 1, &C));
    dc_tensor *rstd = dc__publish(dc__alloc_result(x->dtype, 1, &C));
    double *batch_var = training ? dc__malloc((size_t)C * sizeof(double) + 1) : NULL;
    dc_tensor *out = xc && w && b && mean && rstd && (batch_var || !training)
                         ? dc__alloc_result(x->dtype, x->ndim, x->shape)
                         : NULL;
    if (!out) {
        dc__free(batch_var);
        dc_scope_end(scope);
        return NULL;
    }
    if (!training)
        for (int64_t c = 0; c < C; c++) {
            store(mean, c, elem_get(running_mean, c));
            store(rstd, c, 1.0 / sqrt(elem_get(running_var, c) + eps));
        }
    bn_job j = {.dtype = x->dtype,
                .N = N,
                .C = C,
                .L = L,
                .batch_stats = training,
                .eps = eps,
                .x = dc_data(xc),
                .w = dc_data(w),
                .b = dc_data(b),
                .y = dc_data(out),
                .mean = dc_data(mean),
                .rstd = dc_data(rstd),
                .batch_var = batch_var};
    if (dc_numel(x) > 0) dc_parallel_for(C, bn_grain(&j),
                        j.dtype == DC_F32 ? bn_forward_float : bn_forward_double, &j);
    /* running = (1 - momentum) * running + momentum * batch, with the unbiased variance */
    if (training && running_mean) {
        const double unbias = (double)(N * L) / (double)(N * L - 1);
        for (int64_t c = 0; c < C; c++) {
            double batch_mean =
                x->dtype == DC_F32 ? ((float *)dc_data(mean))[c] : ((double *)dc_data(mean))[c];
            elem_set(running_mean, c,
                     (1 - momentum) * elem_get(running_mean, c) + momentum * batch_mean);
            elem_set(running_var, c,
                     (1 - momentum) * elem_get(running_var, c) + momentum * batch_var[c] * unbias);
        }
    }
    dc__free(batch_var);

    dc_node *node;
    dc_tensor *inputs[3] = {x, weight, bias};
    if (dc__record(out, "batch_norm", batch_norm_backward, 3, inputs, &node) != 0) {
        dc_tensor_free(out);
        dc_scope_end(scope);
        return NULL;
    }
    if (node) {
        node->i[0] = N;
        node->i[1] = C;
        node->i[2] = L;
        node->i[3] = training;
        dc__save(node, xc);
        dc__save(node, w);
        dc__save(node, mean);
        dc__save(node, rstd);
    }
    return dc_scope_return(scope, dc__publish(out));
}
