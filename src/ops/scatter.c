/* The writing side of indexing: scatter, scatter_add, index_add, index_put (and dc_index,
 * the advanced-indexing read that is index_put's gradient), masked_select, nonzero, one_hot
 * and bincount. src/ops/index.c has the reading side (gather, index_select).
 *
 * scatter, scatter_add and index_add share one "line" kernel: the iteration runs over the
 * index's shape, and element e writes dst[e with its `dim` coordinate replaced by idx[e]].
 * Two elements that differ outside `dim` never meet in dst, so the lines (all coordinates
 * but dim) are split over the thread pool while each line keeps its order: repeated indices
 * accumulate in index order (deterministic), and for scatter the last write wins.
 *
 * All index values are checked before anything is written; an error names the value, its
 * position in the index tensor and the dim. The backwards are written with dc_ ops (gather,
 * index_select, dc_index, index_put, scatter), so they can be differentiated again. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LINE_GRAIN 16384 /* elements per thread chunk, at least */

/* ---- Checks ------------------------------------------------------------------------------ */

static bool check_data_dtype(const dc_tensor *t, const char *op, const char *what)
{
    if (t->dtype == DC_F32 || t->dtype == DC_F64 || t->dtype == DC_I64) return true;
    dc_error("%s: %s must be float32, float64 or int64, got %s", op, what,
             dc_dtype_name(t->dtype));
    return false;
}

static bool check_index_dtype(const dc_tensor *t, const char *op, const char *what)
{
    if (t->dtype == DC_I64) return true;
    dc_error("%s: %s must be int64, got %s", op, what, dc_dtype_name(t->dtype));
    return false;
}

/* A value written into an int64 tensor must be an integer that fits. */
static bool check_int_value(dc_dtype dtype, double v, const char *op, const char *what)
{
    if (dtype != DC_I64 || (v == floor(v) && fabs(v) <= 9007199254740992.0)) return true;
    dc_error("%s: %s %g is not an integer (the input is int64)", op, what, v);
    return false;
}

/* The multi-index "[1, 0, 2]" of element k of a row-major shape. */
static const char *position_fmt(int ndim, const int64_t *shape, int64_t k, char *buf,
                                size_t size)
{
    int64_t pos[DC_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        pos[d] = shape[d] > 0 ? k % shape[d] : 0;
        k = shape[d] > 0 ? k / shape[d] : 0;
    }
    return dc__shape_fmt(ndim, pos, buf, size);
}

/* Every value of the contiguous I64 tensor idx lies in [0, size), or in [-size, size) when
 * negative_ok; else an error naming the first bad value, its position and the dim. */
static bool check_range(const dc_tensor *idx, int64_t size, bool negative_ok, int dim,
                        const char *op, const char *what)
{
    const int64_t *v = dc_data(idx);
    const int64_t n = dc_numel(idx), lo = negative_ok ? -size : 0;
    for (int64_t k = 0; k < n; k++)
        if (v[k] < lo || v[k] >= size) {
            char pos[128];
            dc_error("%s: %s %lld at position %s is out of range for dim %d of size %lld", op,
                     what, (long long)v[k], position_fmt(idx->ndim, idx->shape, k, pos, sizeof pos),
                     dim, (long long)size);
            return false;
        }
    return true;
}

/* Row-major walk over a shape with two operands' strides (s1 may be NULL): off[k] is operand
 * k's element offset at position pos. */
typedef struct {
    int ndim;
    int64_t shape[DC_MAX_DIMS], stride[2][DC_MAX_DIMS], pos[DC_MAX_DIMS];
    int64_t off[2];
} odometer;

static void odo_init(odometer *o, int ndim, const int64_t *shape, const int64_t *s0,
                     const int64_t *s1)
{
    o->ndim = ndim;
    o->off[0] = o->off[1] = 0;
    for (int d = 0; d < ndim; d++) {
        o->shape[d] = shape[d], o->pos[d] = 0;
        o->stride[0][d] = s0[d], o->stride[1][d] = s1 ? s1[d] : 0;
    }
}

/* Start at linear position k instead of 0. */
static void odo_seek(odometer *o, int64_t k)
{
    o->off[0] = o->off[1] = 0;
    for (int d = o->ndim - 1; d >= 0; d--) {
        o->pos[d] = k % o->shape[d];
        k /= o->shape[d];
        o->off[0] += o->pos[d] * o->stride[0][d], o->off[1] += o->pos[d] * o->stride[1][d];
    }
}

static void odo_next(odometer *o)
{
    for (int d = o->ndim - 1; d >= 0; d--) {
        o->off[0] += o->stride[0][d], o->off[1] += o->stride[1][d];
        if (++o->pos[d] < o->shape[d]) return;
        o->off[0] -= o->pos[d] * o->stride[0][d], o->off[1] -= o->pos[d] * o->stride[1][d];
        o->pos[d] = 0;
    }
}

/* ---- The line kernel (scatter, scatter_add, index_add) ------------------------------------ */

typedef enum { LINE_COPY, LINE_FILL, LINE_ADD } line_mode;

/* Iteration over shape (K = shape[dim] per line): dst[e | dim <- idx[e]] = src[e] (COPY),
 * = value (FILL) or += alpha * src[e] (ADD). */
typedef struct {
    int ndim, dim;
    int64_t shape[DC_MAX_DIMS];
    int64_t src_stride[DC_MAX_DIMS], idx_stride[DC_MAX_DIMS], dst_stride[DC_MAX_DIMS];
    const char *src;
    const int64_t *idx;
    char *dst;
    dc_dtype dtype;
    line_mode mode;
    double value, alpha;
} line_job;

#define LINE_LOOP(T)                                                                           \
    do {                                                                                       \
        T *restrict dst = (T *)j->dst + dof;                                                   \
        const int64_t *ix = j->idx + io;                                                       \
        if (j->mode == LINE_FILL) {                                                            \
            const T v = (T)j->value;                                                           \
            for (int64_t k = 0; k < K; k++) dst[ix[k * is] * ds] = v;                          \
            break;                                                                             \
        }                                                                                      \
        const T *src = (const T *)j->src + so;                                                 \
        if (j->mode == LINE_COPY) {                                                            \
            for (int64_t k = 0; k < K; k++) dst[ix[k * is] * ds] = src[k * ss];                \
        } else if (j->alpha == 1.0) {                                                          \
            for (int64_t k = 0; k < K; k++) dst[ix[k * is] * ds] += src[k * ss];               \
        } else {                                                                               \
            const T alpha = (T)j->alpha;                                                       \
            for (int64_t k = 0; k < K; k++) dst[ix[k * is] * ds] += alpha * src[k * ss];       \
        }                                                                                      \
    } while (0)

static void line_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const line_job *j = ctx;
    const int dim = j->dim;
    const int64_t K = j->shape[dim];
    const int64_t ss = j->src_stride[dim], is = j->idx_stride[dim], ds = j->dst_stride[dim];
    for (int64_t l = begin; l < end; l++) {
        int64_t rem = l, so = 0, io = 0, dof = 0;
        for (int d = j->ndim - 1; d >= 0; d--) {
            if (d == dim) continue;
            const int64_t c = rem % j->shape[d];
            rem /= j->shape[d];
            so += c * j->src_stride[d], io += c * j->idx_stride[d], dof += c * j->dst_stride[d];
        }
        if (j->dtype == DC_F32) LINE_LOOP(float);
        else if (j->dtype == DC_F64) LINE_LOOP(double);
        else LINE_LOOP(int64_t);
    }
}

static void run_lines(line_job *j)
{
    if (j->ndim == 0) { /* a scalar: one line of one element */
        j->ndim = 1;
        j->shape[0] = 1;
        j->src_stride[0] = j->idx_stride[0] = j->dst_stride[0] = 0;
    }
    const int64_t K = j->shape[j->dim];
    const int64_t n = dc__shape_numel(j->ndim, j->shape);
    if (n == 0) return;
    const int64_t lines = n / K, grain = LINE_GRAIN / K > 1 ? LINE_GRAIN / K : 1;
    dc_parallel_for(lines, grain, line_range, j);
}

/* ---- scatter, scatter (value), scatter_add -------------------------------------------------- */

typedef enum { SC_SRC, SC_VALUE, SC_ADD } scatter_kind;

/* g.gather(dim, index), grown with zeros to src's shape where index is smaller than src
 * (src elements that scatter never reads get no gradient). */
static dc_tensor *gather_to_shape(dc_tensor *g, int dim, dc_tensor *idx, const dc_tensor *src)
{
    dc_tensor *out = dc_gather(g, dim, idx);
    for (int d = 0; out && d < src->ndim; d++) {
        if (out->shape[d] == src->shape[d]) continue;
        int64_t shape[DC_MAX_DIMS];
        memcpy(shape, out->shape, sizeof shape);
        shape[d] = src->shape[d] - out->shape[d];
        dc_tensor *parts[2] = {out, dc_zeros(out->dtype, out->ndim, shape)};
        out = parts[1] ? dc_cat(parts, 2, d) : NULL;
    }
    return out;
}

/* scatter: out = a with out[idx] = src. da = g with the written places zeroed
 * (g.scatter(dim, idx, 0)), dsrc = g.gather(dim, idx). */
static int scatter_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const int dim = (int)node->i[0];
    dc_tensor *idx = node->saved[0];
    if (dc__needs_grad(node, 0)) grads[0] = dc_scatter_value(g, dim, idx, 0.0);
    if (node->n_inputs > 1 && dc__needs_grad(node, 1))
        grads[1] = gather_to_shape(g, dim, idx, node->inputs[1]);
    return 0;
}

/* scatter_add: out = a + (src summed into idx). da = g, dsrc = g.gather(dim, idx). */
static int scatter_add_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    if (dc__needs_grad(node, 0)) grads[0] = g;
    if (dc__needs_grad(node, 1))
        grads[1] = gather_to_shape(g, (int)node->i[0], node->saved[0], node->inputs[1]);
    return 0;
}

/* Record the backward (dim in i[0], the checked contiguous index saved), close the op's
 * scope and publish out. */
static dc_tensor *finish(dc_tensor *out, const char *name, dc_backward_fn backward, int n_inputs,
                         dc_tensor *const *inputs, int dim, dc_tensor *saved, size_t scope)
{
    dc_node *node;
    int rc = dc__record(out, name, backward, n_inputs, inputs, &node);
    if (rc == 0 && node) {
        node->i[0] = dim;
        if (saved && dc__save(node, saved) < 0) rc = -1;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* A contiguous copy of a (not yet published) to write into, or NULL. */
static dc_tensor *copy_of(const dc_tensor *a)
{
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (out && dc_copy_(out, a) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return out;
}

static dc_tensor *scatter_impl(const char *op, scatter_kind kind, dc_tensor *a, int dim,
                               dc_tensor *index, dc_tensor *src, double value)
{
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(index, op);
    if (kind != SC_VALUE) DC_CHECK_TENSOR(src, op);
    if (!check_data_dtype(a, op, "the input") || !check_index_dtype(index, op, "index"))
        return NULL;
    if (src && src->dtype != a->dtype)
        return dc_error("%s: src is %s but the input is %s", op, dc_dtype_name(src->dtype),
                        dc_dtype_name(a->dtype));
    if (kind == SC_VALUE && !check_int_value(a->dtype, value, op, "value")) return NULL;
    if (index->ndim != a->ndim)
        return dc_error("%s: index has %d dims but the input has %d", op, index->ndim, a->ndim);
    if (src && src->ndim != a->ndim)
        return dc_error("%s: src has %d dims but the input has %d", op, src->ndim, a->ndim);
    const int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    for (int k = 0; k < a->ndim; k++) {
        char si[96], so[96];
        if (src && index->shape[k] > src->shape[k])
            return dc_error("%s: index shape %s is larger than src shape %s in dim %d", op,
                            dc__shape_fmt(index->ndim, index->shape, si, sizeof si),
                            dc__shape_fmt(src->ndim, src->shape, so, sizeof so), k);
        if (k != d && index->shape[k] > a->shape[k])
            return dc_error("%s: index shape %s is larger than input shape %s in dim %d", op,
                            dc__shape_fmt(index->ndim, index->shape, si, sizeof si),
                            dc__shape_fmt(a->ndim, a->shape, so, sizeof so), k);
    }
    const int64_t dim_size = a->ndim ? a->shape[d] : 1;

    size_t scope = dc_scope_begin();
    dc_tensor *idx = dc_contiguous(index);
    dc_tensor *out = idx && check_range(idx, dim_size, false, d, op, "index") ? copy_of(a) : NULL;
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    line_job j = {.ndim = a->ndim, .dim = d, .src = src ? dc_data(src) : NULL,
                  .idx = dc_data(idx), .dst = dc_data(out), .dtype = a->dtype,
                  .mode = kind == SC_SRC ? LINE_COPY : kind == SC_VALUE ? LINE_FILL : LINE_ADD,
                  .value = value, .alpha = 1.0};
    for (int k = 0; k < a->ndim; k++) {
        j.shape[k] = index->shape[k];
        j.src_stride[k] = src ? src->stride[k] : 0;
        j.idx_stride[k] = idx->stride[k];
        j.dst_stride[k] = out->stride[k];
    }
    run_lines(&j);
    dc_tensor *inputs[2] = {a, src};
    if (kind == SC_ADD)
        return finish(out, "scatter_add", scatter_add_backward, 2, inputs, d, idx, scope);
    return finish(out, kind == SC_SRC ? "scatter" : "scatter_value", scatter_backward,
                  kind == SC_SRC ? 2 : 1, inputs, d, idx, scope);
}

dc_tensor *dc_scatter(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *src)
{
    return scatter_impl("dc_scatter", SC_SRC, a, dim, index, src, 0.0);
}

dc_tensor *dc_scatter_value(dc_tensor *a, int dim, dc_tensor *index, double value)
{
    return scatter_impl("dc_scatter_value", SC_VALUE, a, dim, index, NULL, value);
}

dc_tensor *dc_scatter_add(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *src)
{
    return scatter_impl("dc_scatter_add", SC_ADD, a, dim, index, src, 0.0);
}

/* ---- index_add ------------------------------------------------------------------------------ */

/* out = a, out.select(dim, idx[k]) += alpha * source.select(dim, k).
 * da = g, dsource = alpha * g.index_select(dim, idx). */
static int index_add_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    if (dc__needs_grad(node, 0)) grads[0] = g;
    if (dc__needs_grad(node, 1)) {
        dc_tensor *picked = dc_index_select(g, (int)node->i[0], node->saved[0]);
        grads[1] = node->f[0] == 1.0 ? picked : dc_mul_scalar(picked, node->f[0]);
    }
    return 0;
}

dc_tensor *dc_index_add(dc_tensor *a, int dim, dc_tensor *index, dc_tensor *source,
                        double alpha)
{
    static const char op[] = "dc_index_add";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(index, op);
    DC_CHECK_TENSOR(source, op);
    if (!check_data_dtype(a, op, "the input") || !check_index_dtype(index, op, "index") ||
        !check_int_value(a->dtype, alpha, op, "alpha"))
        return NULL;
    if (source->dtype != a->dtype)
        return dc_error("%s: source is %s but the input is %s", op,
                        dc_dtype_name(source->dtype), dc_dtype_name(a->dtype));
    if (index->ndim > 1)
        return dc_error("%s: index must be 1-D (or 0-D), got %d dims", op, index->ndim);
    if (a->ndim == 0) return dc_error("%s: cannot add into a 0-dim tensor", op);
    const int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    const int64_t len = dc_numel(index);
    bool match = source->ndim == a->ndim;
    for (int k = 0; match && k < a->ndim; k++)
        match = source->shape[k] == (k == d ? len : a->shape[k]);
    if (!match) {
        char sa[96], ss[96];
        return dc_error("%s: source shape %s does not match the input shape %s with dim %d of "
                        "size %lld (the index length)",
                        op, dc__shape_fmt(source->ndim, source->shape, ss, sizeof ss),
                        dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa), d, (long long)len);
    }
    const int64_t dim_size = a->shape[d];

    size_t scope = dc_scope_begin();
    dc_tensor *idx = dc_contiguous(index->ndim == 1 ? index : dc_reshape(index, 1, &len));
    dc_tensor *out = idx && check_range(idx, dim_size, false, d, op, "index") ? copy_of(a) : NULL;
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    line_job j = {.ndim = a->ndim, .dim = d, .src = dc_data(source), .idx = dc_data(idx),
                  .dst = dc_data(out), .dtype = a->dtype, .mode = LINE_ADD, .alpha = alpha};
    for (int k = 0; k < a->ndim; k++) {
        j.shape[k] = source->shape[k];
        j.src_stride[k] = source->stride[k];
        j.idx_stride[k] = k == d ? 1 : 0;
        j.dst_stride[k] = out->stride[k];
    }
    run_lines(&j);
    dc_tensor *inputs[2] = {a, source};
    dc_node *node;
    int rc = dc__record(out, "index_add", index_add_backward, 2, inputs, &node);
    if (rc == 0 && node) {
        node->i[0] = d;
        node->f[0] = alpha;
        if (dc__save(node, idx) < 0) rc = -1;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* ---- dc_index and index_put (advanced indexing on the leading dims) ------------------------- */

/* The index tensors of dc_index / dc_index_put, checked (int64, values in [-size, size) of
 * their dim), broadcast together to B (bshape, *bndim), negatives wrapped, and stacked into
 * a new contiguous I64 [n, numel(B)] (owned by the open scope). */
static dc_tensor *stack_indices(const dc_tensor *a, dc_tensor *const *indices, int n,
                                const char *op, int *bndim, int64_t *bshape)
{
    if (!indices) return dc_error("%s: the index list is NULL", op);
    if (a->ndim == 0) return dc_error("%s: cannot index a 0-dim tensor", op);
    if (n < 1 || n > a->ndim)
        return dc_error("%s: expected 1 to %d index tensors (the input's dims), got %d", op,
                        a->ndim, n);
    int nb = 0;
    for (int k = 0; k < n; k++) {
        char what[32];
        snprintf(what, sizeof what, "indices[%d]", k);
        if (!indices[k]) return dc_error("%s: %s is NULL", op, what);
        if (!check_index_dtype(indices[k], op, what)) return NULL;
        int64_t shape[DC_MAX_DIMS];
        nb = dc__broadcast_shape(nb, bshape, indices[k]->ndim, indices[k]->shape, shape, op);
        if (nb < 0) return NULL;
        memcpy(bshape, shape, sizeof shape);
    }
    const int64_t count = dc__shape_numel(nb, bshape);
    dc_tensor *st = dc_empty(DC_I64, 2, (int64_t[]){n, count});
    if (!st) return NULL;
    int64_t *dst = dc_data(st);
    for (int k = 0; k < n; k++) {
        char what[32];
        snprintf(what, sizeof what, "indices[%d] value", k);
        dc_tensor *c = dc_contiguous(indices[k]);
        if (!c || !check_range(c, a->shape[k], true, k, op, what)) return NULL;
        int64_t stride[DC_MAX_DIMS];
        dc__broadcast_strides(c, nb, bshape, stride);
        const int64_t *v = dc_data(c);
        odometer o;
        odo_init(&o, nb, bshape, stride, NULL);
        for (int64_t b = 0; b < count; b++, odo_next(&o)) {
            const int64_t x = v[o.off[0]];
            dst[k * count + b] = x < 0 ? x + a->shape[k] : x;
        }
    }
    *bndim = nb;
    return st;
}

/* The stacked indices (saved by the forward) as n index tensors of B's shape, for the
 * backwards: node->i[0] = n, i[2] = ndim of B, i[3...] = B. */
static bool unstack_indices(dc_node *node, dc_tensor **idx)
{
    const int n = (int)node->i[0], bn = (int)node->i[2];
    for (int k = 0; k < n; k++)
        if (!(idx[k] = dc_reshape(dc_select(node->saved[0], 0, k), bn, &node->i[3])))
            return false;
    return true;
}

/* Element offset of the indexed position b, sum_k st[k][b] * stride[k]. */
static inline int64_t lead_offset(const int64_t *st, int n, int64_t count, int64_t b,
                                  const int64_t *stride)
{
    int64_t off = 0;
    for (int k = 0; k < n; k++) off += st[k * count + b] * stride[k];
    return off;
}

typedef struct {
    const int64_t *st; /* [n, count] */
    int n;
    int64_t count;
    const dc_tensor *a; /* dc_index: the indexed input; index_put: the values */
    char *out;          /* contiguous: dc_index [count, tail]; index_put a's copy */
    int bn, tail_ndim;
    int64_t full_shape[DC_MAX_DIMS]; /* B + tail */
    int64_t src_stride[DC_MAX_DIMS]; /* dc_index: a's strides; index_put: values' broadcast */
    int64_t out_stride[DC_MAX_DIMS]; /* index_put: out's strides of the first n dims */
    int64_t tail;
    bool accumulate;
} index_job;

#define INDEX_TAKE_LOOP(T)                                                                     \
    do {                                                                                       \
        const T *src = (const T *)dc_data(j->a) + base;                                        \
        T *dst = (T *)j->out + b * j->tail;                                                    \
        for (int64_t t = 0; t < j->tail; t++, odo_next(&o)) dst[t] = src[o.off[0]];            \
    } while (0)

/* out[b, t] = a[st[:, b], t] for b in [begin, end). */
static void index_take_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const index_job *j = ctx;
    const int n = j->n;
    for (int64_t b = begin; b < end; b++) {
        const int64_t base = lead_offset(j->st, n, j->count, b, j->src_stride);
        odometer o;
        odo_init(&o, j->a->ndim - n, j->a->shape + n, j->src_stride + n, NULL);
        if (j->a->dtype == DC_F32) INDEX_TAKE_LOOP(float);
        else INDEX_TAKE_LOOP(int64_t); /* 8-byte elements are copied as bits */
    }
}

#define INDEX_PUT_LOOP(T)                                                                      \
    do {                                                                                       \
        const T *v = (const T *)dc_data(j->a) + voff;                                          \
        T *dst = (T *)j->out + base;                                                           \
        if (j->accumulate)                                                                     \
            for (int64_t t = begin; t < end; t++, odo_next(&o)) dst[t] += v[o.off[0]];         \
        else                                                                                   \
            for (int64_t t = begin; t < end; t++, odo_next(&o)) dst[t] = v[o.off[0]];          \
    } while (0)

/* out[st[:, b], t] (+)= values[b, t] for every b in order, tail positions t in [begin, end):
 * threads own disjoint t, so repeated positions accumulate (or overwrite) in index order. */
static void index_put_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const index_job *j = ctx;
    odometer lead;
    odo_init(&lead, j->bn, j->full_shape, j->src_stride, NULL);
    for (int64_t b = 0; b < j->count; b++, odo_next(&lead)) {
        const int64_t base = lead_offset(j->st, j->n, j->count, b, j->out_stride);
        const int64_t voff = lead.off[0];
        odometer o;
        odo_init(&o, j->tail_ndim, j->full_shape + j->bn, j->src_stride + j->bn, NULL);
        odo_seek(&o, begin);
        if (j->a->dtype == DC_F32) INDEX_PUT_LOOP(float);
        else if (j->a->dtype == DC_F64) INDEX_PUT_LOOP(double);
        else INDEX_PUT_LOOP(int64_t);
    }
}

/* Shared front of dc_index and dc_index_put: checks, stacked indices and the shape B + tail
 * of the indexed part. Returns the stacked indices (in the scope the caller opened). */
static dc_tensor *index_front(const char *op, dc_tensor *a, dc_tensor *const *indices, int n,
                              index_job *j)
{
    memset(j, 0, sizeof *j);
    dc_tensor *st = stack_indices(a, indices, n, op, &j->bn, j->full_shape);
    if (!st) return NULL;
    j->tail_ndim = a->ndim - n;
    if (j->bn + j->tail_ndim > DC_MAX_DIMS)
        return dc_error("%s: the result would have %d dims (max %d)", op, j->bn + j->tail_ndim,
                        DC_MAX_DIMS);
    for (int d = 0; d < j->tail_ndim; d++) j->full_shape[j->bn + d] = a->shape[n + d];
    j->st = dc_data(st);
    j->n = n;
    j->count = st->shape[1];
    j->tail = dc__shape_numel(j->tail_ndim, a->shape + n);
    return st;
}

/* Record (a, values) -> out with the stacked indices and B saved for the backward. */
static dc_tensor *finish_index(dc_tensor *out, const char *name, dc_backward_fn backward,
                               int n_inputs, dc_tensor *const *inputs, const index_job *j,
                               dc_tensor *st, size_t scope)
{
    dc_node *node;
    int rc = dc__record(out, name, backward, n_inputs, inputs, &node);
    if (rc == 0 && node) {
        node->i[0] = j->n;
        node->i[1] = j->accumulate;
        node->i[2] = j->bn;
        for (int d = 0; d < j->bn; d++) node->i[3 + d] = j->full_shape[d];
        if (dc__save(node, st) < 0) rc = -1;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* out = a[idx]: da = zeros like a with da[idx] += g (index_put, accumulate) */
static int index_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *a = node->inputs[0];
    dc_tensor *idx[DC_MAX_DIMS];
    if (!unstack_indices(node, idx)) return -1;
    grads[0] = dc_index_put(dc_zeros(a->dtype, a->ndim, a->shape), idx, (int)node->i[0], g, true);
    return 0;
}

dc_tensor *dc_index(dc_tensor *a, dc_tensor *const *indices, int n)
{
    static const char op[] = "dc_index";
    DC_CHECK_TENSOR(a, op);
    if (!check_data_dtype(a, op, "the input")) return NULL;
    size_t scope = dc_scope_begin();
    index_job j;
    dc_tensor *st = index_front(op, a, indices, n, &j);
    dc_tensor *out = st ? dc__alloc_result(a->dtype, j.bn + j.tail_ndim, j.full_shape) : NULL;
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    j.a = a;
    j.out = dc_data(out);
    memcpy(j.src_stride, a->stride, sizeof j.src_stride);
    if (j.tail > 0) {
        int64_t grain = LINE_GRAIN / j.tail > 1 ? LINE_GRAIN / j.tail : 1;
        dc_parallel_for(j.count, grain, index_take_range, &j);
    }
    return finish_index(out, "index", index_backward, 1, &a, &j, st, scope);
}

/* out = a with out[idx] = values (or += values). da = g with the written places zeroed (or g
 * itself when accumulating); dvalues = g[idx] summed to values' shape (broadcast). */
static int index_put_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const int n = (int)node->i[0];
    const bool accumulate = node->i[1] != 0;
    dc_tensor *idx[DC_MAX_DIMS];
    if (!unstack_indices(node, idx)) return -1;
    if (dc__needs_grad(node, 0))
        grads[0] = accumulate ? g : dc_index_put(g, idx, n, dc_scalar(g->dtype, 0.0), false);
    if (dc__needs_grad(node, 1)) {
        const dc_tensor *v = node->inputs[1];
        grads[1] = dc_sum_to_shape(dc_index(g, idx, n), v->ndim, v->shape);
    }
    return 0;
}

dc_tensor *dc_index_put(dc_tensor *a, dc_tensor *const *indices, int n, dc_tensor *values,
                        bool accumulate)
{
    static const char op[] = "dc_index_put";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(values, op);
    if (!check_data_dtype(a, op, "the input")) return NULL;
    if (values->dtype != a->dtype)
        return dc_error("%s: values are %s but the input is %s", op,
                        dc_dtype_name(values->dtype), dc_dtype_name(a->dtype));
    size_t scope = dc_scope_begin();
    index_job j;
    dc_tensor *st = index_front(op, a, indices, n, &j);
    dc_tensor *out = NULL;
    if (st) {
        const int fn = j.bn + j.tail_ndim;
        bool fits = values->ndim <= fn;
        for (int d = 1; fits && d <= values->ndim; d++) {
            const int64_t v = values->shape[values->ndim - d], f = j.full_shape[fn - d];
            fits = v == f || v == 1;
        }
        if (!fits) {
            char sv[96], sf[96];
            dc_error("%s: values of shape %s do not broadcast to the indexed shape %s", op,
                     dc__shape_fmt(values->ndim, values->shape, sv, sizeof sv),
                     dc__shape_fmt(fn, j.full_shape, sf, sizeof sf));
        } else {
            out = copy_of(a);
        }
    }
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    j.a = values;
    j.out = dc_data(out);
    j.accumulate = accumulate;
    dc__broadcast_strides(values, j.bn + j.tail_ndim, j.full_shape, j.src_stride);
    memcpy(j.out_stride, out->stride, sizeof j.out_stride);
    if (j.count > 0) {
        int64_t grain = LINE_GRAIN / j.count > 1 ? LINE_GRAIN / j.count : 1;
        dc_parallel_for(j.tail, grain, index_put_range, &j);
    }
    dc_tensor *inputs[2] = {a, values};
    return finish_index(out, "index_put", index_put_backward, 2, inputs, &j, st, scope);
}

/* ---- masked_select, nonzero ------------------------------------------------------------------ */

/* out = a[mask] (a and mask broadcast to S): da = zeros(S) with da[nonzero(mask)] = g, summed
 * back to a's shape. node->i[0] = ndim of S, i[1...] = S; saved[0] = the mask. */
static int masked_select_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *a = node->inputs[0];
    const int sn = (int)node->i[0];
    const int64_t *S = &node->i[1];
    if (sn == 0) { /* scalars: g holds the element or nothing */
        grads[0] = g->shape[0] ? dc_reshape(g, 0, NULL) : dc_zeros(a->dtype, 0, NULL);
        return 0;
    }
    dc_tensor *nz = dc_nonzero(dc_expand(node->saved[0], sn, S));
    dc_tensor *idx[DC_MAX_DIMS];
    for (int k = 0; k < sn; k++)
        if (!(idx[k] = dc_select(nz, 1, k))) return -1;
    dc_tensor *full = dc_index_put(dc_zeros(a->dtype, sn, S), idx, sn, g, false);
    grads[0] = dc_sum_to_shape(full, a->ndim, a->shape);
    return 0;
}

dc_tensor *dc_masked_select(dc_tensor *a, dc_tensor *mask)
{
    static const char op[] = "dc_masked_select";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(mask, op);
    if (!check_data_dtype(a, op, "the input")) return NULL;
    int64_t S[DC_MAX_DIMS];
    const int sn = dc__broadcast_shape(a->ndim, a->shape, mask->ndim, mask->shape, S, op);
    if (sn < 0) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *m = mask; /* any dtype: dc__load_truth reads each as nonzero or not */
    int64_t as[DC_MAX_DIMS], ms[DC_MAX_DIMS];
    dc__broadcast_strides(a, sn, S, as);
    dc__broadcast_strides(m, sn, S, ms);
    const int64_t total = dc__shape_numel(sn, S);
    const char *mb = dc_data(m);
    odometer o;
    odo_init(&o, sn, S, ms, as);
    int64_t count = 0;
    for (int64_t e = 0; e < total; e++, odo_next(&o)) count += dc__load_truth(mb, m->dtype, o.off[0]);
    dc_tensor *out = dc__alloc_result(a->dtype, 1, &count);
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    const size_t esz = dc__elsize(a->dtype);
    char *dst = dc_data(out);
    const char *src = dc_data(a);
    odo_init(&o, sn, S, ms, as);
    for (int64_t e = 0, k = 0; e < total; e++, odo_next(&o))
        if (dc__load_truth(mb, m->dtype, o.off[0]))
            memcpy(dst + (size_t)k++ * esz, src + (size_t)o.off[1] * esz, esz);
    dc_node *node;
    int rc = dc__record(out, "masked_select", masked_select_backward, 1, &a, &node);
    if (rc == 0 && node) {
        node->i[0] = sn;
        for (int d = 0; d < sn; d++) node->i[1 + d] = S[d];
        if (dc__save(node, m) < 0) rc = -1;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

dc_tensor *dc_nonzero(dc_tensor *a)
{
    DC_CHECK_TENSOR(a, "dc_nonzero");
    const dc_tensor *m = a;
    const int64_t total = dc_numel(m);
    const char *mb = dc_data(m);
    odometer o;
    odo_init(&o, m->ndim, m->shape, m->stride, NULL);
    int64_t count = 0;
    for (int64_t e = 0; e < total; e++, odo_next(&o)) count += dc__load_truth(mb, m->dtype, o.off[0]);
    dc_tensor *out = dc__alloc_result(DC_I64, 2, (int64_t[]){count, m->ndim});
    if (out) {
        int64_t *pos = dc_data(out);
        odo_init(&o, m->ndim, m->shape, m->stride, NULL);
        for (int64_t e = 0; e < total; e++, odo_next(&o))
            if (dc__load_truth(mb, m->dtype, o.off[0]))
                for (int d = 0; d < m->ndim; d++) *pos++ = o.pos[d];
    }
    return dc__publish(out);
}

/* ---- one_hot, bincount ----------------------------------------------------------------------- */

/* The largest value of the contiguous I64 tensor c, after checking every value is >= 0 (an
 * error names the first negative one and its position); -1 for an empty tensor. */
static bool max_non_negative(const dc_tensor *c, const char *op, const char *what, int64_t *max)
{
    const int64_t *v = dc_data(c);
    const int64_t n = dc_numel(c);
    *max = -1;
    for (int64_t k = 0; k < n; k++) {
        if (v[k] < 0) {
            char pos[128];
            dc_error("%s: %s %lld at position %s is negative", op, what, (long long)v[k],
                     position_fmt(c->ndim, c->shape, k, pos, sizeof pos));
            return false;
        }
        if (v[k] > *max) *max = v[k];
    }
    return true;
}

dc_tensor *dc_one_hot(dc_tensor *a, int64_t num_classes)
{
    static const char op[] = "dc_one_hot";
    DC_CHECK_TENSOR(a, op);
    if (!check_index_dtype(a, op, "the input")) return NULL;
    if (num_classes < -1)
        return dc_error("%s: num_classes must be -1 (max + 1) or >= 0, got %lld", op,
                        (long long)num_classes);
    if (a->ndim + 1 > DC_MAX_DIMS)
        return dc_error("%s: the result would have %d dims (max %d)", op, a->ndim + 1,
                        DC_MAX_DIMS);
    size_t scope = dc_scope_begin();
    dc_tensor *c = dc_contiguous(a);
    int64_t max = -1;
    if (!c || !max_non_negative(c, op, "class value", &max)) {
        dc_scope_end(scope);
        return NULL;
    }
    const int64_t n = dc_numel(c);
    if (num_classes == -1 && n == 0) {
        dc_scope_end(scope);
        return dc_error("%s: cannot infer num_classes (-1) from an empty tensor", op);
    }
    const int64_t C = num_classes == -1 ? max + 1 : num_classes;
    const int64_t *v = dc_data(c);
    for (int64_t k = 0; k < n; k++)
        if (v[k] >= C) {
            char pos[128];
            dc_scope_end(scope);
            return dc_error("%s: class value %lld at position %s is not below num_classes %lld",
                            op, (long long)v[k],
                            position_fmt(a->ndim, a->shape, k, pos, sizeof pos), (long long)C);
        }
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
    shape[a->ndim] = C;
    dc_tensor *out = dc__alloc_result(DC_I64, a->ndim + 1, shape);
    if (out) {
        int64_t *o = dc_data(out);
        memset(o, 0, (size_t)(n * C) * sizeof *o);
        for (int64_t k = 0; k < n; k++) o[k * C + v[k]] = 1;
    }
    dc_scope_end(scope);
    return dc__publish(out);
}

dc_tensor *dc_bincount(dc_tensor *a, dc_tensor *weights, int64_t minlength)
{
    static const char op[] = "dc_bincount";
    DC_CHECK_TENSOR(a, op);
    if (!check_index_dtype(a, op, "the input")) return NULL;
    if (a->ndim != 1) return dc_error("%s: the input must be 1-D, got %d dims", op, a->ndim);
    if (minlength < 0)
        return dc_error("%s: minlength must be >= 0, got %lld", op, (long long)minlength);
    if (weights) {
        if (!dc__check_float(weights, op)) return NULL;
        if (weights->ndim != 1 || weights->shape[0] != a->shape[0])
            return dc_error("%s: weights must be 1-D of the input's length %lld", op,
                            (long long)a->shape[0]);
    }
    size_t scope = dc_scope_begin();
    dc_tensor *c = dc_contiguous(a);
    dc_tensor *w = weights ? dc_contiguous(weights) : NULL;
    int64_t max = -1;
    if (!c || (weights && !w) || !max_non_negative(c, op, "value", &max)) {
        dc_scope_end(scope);
        return NULL;
    }
    int64_t len = max + 1 > minlength ? max + 1 : minlength;
    dc_tensor *out = dc__alloc_result(w ? w->dtype : DC_I64, 1, &len);
    if (out) {
        const int64_t *v = dc_data(c), n = dc_numel(c);
        memset(dc_data(out), 0, (size_t)len * dc__elsize(out->dtype));
        if (!w) {
            int64_t *o = dc_data(out);
            for (int64_t k = 0; k < n; k++) o[v[k]]++;
        } else if (w->dtype == DC_F32) {
            float *o = dc_data(out);
            const float *wv = dc_data(w);
            for (int64_t k = 0; k < n; k++) o[v[k]] += wv[k];
        } else {
            double *o = dc_data(out);
            const double *wv = dc_data(w);
            for (int64_t k = 0; k < n; k++) o[v[k]] += wv[k];
        }
    }
    dc_scope_end(scope);
    return dc__publish(out);
}
