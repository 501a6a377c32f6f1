/* Indexing and joining: gather, index_select (the embedding lookup), cat and stack.
 *
 * gather and index_select both read out[e] = a[base(e) + index(e) * a.stride[dim]]: the
 * position along `dim` comes from the index tensor, every other coordinate from the output
 * position. One strided "take" kernel serves both; their backward is the matching
 * scatter-add (repeated indices accumulate). The embedding case (contiguous a, whole rows)
 * has its own fast row kernels: memcpy per row forward, a threaded row scatter-add backward.
 *
 * Index values must lie in [0, size) (no negative wrap-around, as in torch); they are all
 * checked before anything is written. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAKE_GRAIN 32768
#define ROW_GRAIN_ELEMS 16384

/* ---- Index validation -------------------------------------------------------------------- */

/* Every value of the contiguous DC_I64 tensor idx lies in [0, size); else an error naming the
 * first bad value and the dim. */
static bool check_index_values(const dc_tensor *idx, int64_t size, int dim, const char *op)
{
    const int64_t *v = dc_data(idx);
    const int64_t n = dc_numel(idx);
    for (int64_t k = 0; k < n; k++)
        if (v[k] < 0 || v[k] >= size) {
            dc_error("%s: index %lld is out of range for dim %d of size %lld", op,
                     (long long)v[k], dim, (long long)size);
            return false;
        }
    return true;
}

static bool check_index_dtype(const dc_tensor *index, const char *op)
{
    if (index->dtype == DC_I64) return true;
    dc_error("%s: index must be int64, got %s", op, dc_dtype_name(index->dtype));
    return false;
}

/* ---- Strided take / scatter-add ---------------------------------------------------------------
 * Three operands iterated together over the output (index) shape:
 *   0: the dense side (out for take, g for scatter), 1: the index, 2: the indexed tensor with
 *   a zero stride along `dim`; the index value times dim_stride supplies that coordinate. */

typedef struct {
    char *dense;
    const int64_t *idx;
    char *indexed;
    int64_t dim_stride;
    dc_dtype dtype;
} take_job;

/* dense[e] = indexed[e + idx[e] * dim_stride]; T only needs the element size (8-byte types
 * are copied as int64 bits, so float64 and int64 share a loop). */
#define TAKE_LOOP(T)                                                                           \
    do {                                                                                       \
        T *o = (T *)j->dense + off[0];                                                         \
        const int64_t *ix = j->idx + off[1];                                                   \
        const T *s = (const T *)j->indexed + off[2];                                           \
        const int64_t so = it->inner_stride[0], si = it->inner_stride[1],                      \
                      ss = it->inner_stride[2], sd = j->dim_stride;                            \
        for (int64_t i = 0; i < n; i++) o[i * so] = s[i * ss + ix[i * si] * sd];               \
    } while (0)

static void take_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const take_job *j = ctx;
    if (j->dtype == DC_F32) TAKE_LOOP(float);
    else TAKE_LOOP(int64_t);
}

/* indexed[e + idx[e] * dim_stride] += dense[e] (float dtypes). */
#define SCATTER_ADD_LOOP(T)                                                                    \
    do {                                                                                       \
        const T *g = (const T *)j->dense + off[0];                                             \
        const int64_t *ix = j->idx + off[1];                                                   \
        T *d = (T *)j->indexed + off[2];                                                       \
        const int64_t sg = it->inner_stride[0], si = it->inner_stride[1],                      \
                      sdst = it->inner_stride[2], sd = j->dim_stride;                          \
        for (int64_t i = 0; i < n; i++) d[i * sdst + ix[i * si] * sd] += g[i * sg];            \
    } while (0)

static void scatter_add_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const take_job *j = ctx;
    if (j->dtype == DC_F32) SCATTER_ADD_LOOP(float);
    else SCATTER_ADD_LOOP(double);
}

/* Run take (scatter = false) or scatter-add (true) over `shape` with the three operands'
 * strides. A scatter runs on one thread: two positions may name the same destination. */
static void take_or_scatter(bool scatter, int ndim, const int64_t *shape,
                            int64_t (*strides)[DC_MAX_DIMS], take_job *job)
{
    dc_iter it;
    dc__iter_init(&it, ndim, shape, 3, strides);
    if (scatter) dc__iter_run(&it, INT64_MAX, scatter_add_segment, job);
    else dc__iter_run(&it, TAKE_GRAIN, take_segment, job);
}

/* ---- Row kernels for contiguous [outer, n_rows, inner] layouts (the embedding case) ------ */

typedef struct {
    char *table;          /* [outer, n_table_rows, inner] */
    char *rows;           /* [outer, n_idx, inner] */
    const int64_t *idx;   /* [n_idx] */
    int64_t n_table_rows, n_idx, inner;
    dc_dtype dtype;
} rows_job;

/* rows[o, k, :] = table[o, idx[k], :] for the flattened (o, k) in [begin, end). */
static void gather_rows_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const rows_job *j = ctx;
    const size_t row_bytes = (size_t)j->inner * dc__elsize(j->dtype);
    for (int64_t r = begin; r < end; r++) {
        int64_t o = r / j->n_idx, k = r % j->n_idx;
        memcpy(j->rows + (size_t)r * row_bytes,
               j->table + (size_t)(o * j->n_table_rows + j->idx[k]) * row_bytes, row_bytes);
    }
}

/* table[o, idx[k], c] += rows[o, k, c] for every k, over the flattened columns (o, c) in
 * [begin, end). Threads own disjoint columns, so no two write the same element, and
 * repeated ids accumulate in order. */
#define SCATTER_ROWS_LOOP(T)                                                                   \
    do {                                                                                       \
        while (begin < end) {                                                                  \
            const int64_t o = begin / j->inner, c0 = begin % j->inner;                         \
            const int64_t width = j->inner - c0 < end - begin ? j->inner - c0 : end - begin;   \
            T *table = (T *)j->table + o * j->n_table_rows * j->inner + c0;                    \
            const T *rows = (const T *)j->rows + o * j->n_idx * j->inner + c0;                 \
            for (int64_t k = 0; k < j->n_idx; k++) {                                           \
                T *restrict dst = table + j->idx[k] * j->inner;                                \
                const T *restrict src = rows + k * j->inner;                                   \
                for (int64_t c = 0; c < width; c++) dst[c] += src[c];                          \
            }                                                                                  \
            begin += width;                                                                    \
        }                                                                                      \
    } while (0)

static void scatter_rows_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const rows_job *j = ctx;
    if (j->dtype == DC_F32) SCATTER_ROWS_LOOP(float);
    else SCATTER_ROWS_LOOP(double);
}

/* ---- gather ------------------------------------------------------------------------------ */

/* out[i][j] = a[index[i][j]][j] (dim 0), a[i][index[i][j]] (dim 1), and so on.
 * Backward: da = zeros like a, then da[index[i][j]][j] += g[i][j] (duplicates accumulate). */
/* Under create_graph a scatter-add of g is recorded too: its gradient gathers the incoming
 * one back with the same index (saved[0]) along dim i[0] (i[1]: 0 gather, 1 index_select). */
static int scattered_grad_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = node->i[1] ? dc_index_select(g, (int)node->i[0], node->saved[0])
                          : dc_gather(g, (int)node->i[0], node->saved[0]);
    return grads[0] ? 0 : -1;
}

/* Record da (the scatter-add of g along dim by idx) when a backward pass builds a graph. */
static int record_scattered_grad(dc_tensor *da, dc_tensor *g, dc_tensor *idx, int dim,
                                 bool index_select)
{
    dc_node *node;
    if (dc__record(da, index_select ? "index_select_backward" : "gather_backward",
                   scattered_grad_backward, 1, &g, &node) != 0)
        return -1;
    if (!node) return 0;
    node->i[0] = dim;
    node->i[1] = index_select;
    return dc__save(node, idx) < 0 ? -1 : 0;
}

static int gather_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *a = node->inputs[0];
    dc_tensor *idx = node->saved[0];
    const int dim = (int)node->i[0];
    dc_tensor *da = dc_zeros(a->dtype, a->ndim, a->shape);
    if (!da) return -1;
    int64_t strides[3][DC_MAX_DIMS];
    for (int d = 0; d < idx->ndim; d++) {
        strides[0][d] = g->stride[d];
        strides[1][d] = idx->stride[d];
        strides[2][d] = d == dim ? 0 : da->stride[d];
    }
    take_job job = {dc_data(g), dc_data(idx), dc_data(da), a->ndim ? da->stride[dim] : 0,
                    a->dtype};
    take_or_scatter(true, idx->ndim, idx->shape, strides, &job);
    grads[0] = da;
    return record_scattered_grad(da, g, idx, dim, false);
}

/* Shared end of gather and index_select: record the backward (which needs the dim and the
 * index), close the op's scope, publish. */
static dc_tensor *finish_indexed(dc_tensor *out, const char *op, dc_backward_fn backward,
                                 dc_tensor *a, int d, dc_tensor *idx, size_t scope)
{
    dc_node *node;
    int rc = dc__record(out, op, backward, 1, &a, &node);
    if (rc == 0 && node) {
        node->i[0] = d;
        rc = dc__save(node, idx) < 0 ? -1 : 0;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

dc_tensor *dc_gather(dc_tensor *a, int dim, dc_tensor *index)
{
    static const char op[] = "dc_gather";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(index, op);
    if (!check_index_dtype(index, op)) return NULL;
    if (index->ndim != a->ndim)
        return dc_error("dc_gather: index has %d dims but the input has %d", index->ndim,
                        a->ndim);
    int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    for (int k = 0; k < a->ndim; k++)
        if (k != d && index->shape[k] > a->shape[k]) {
            char ia[96], ib[96];
            return dc_error("dc_gather: index shape %s is larger than input shape %s in dim %d",
                            dc__shape_fmt(index->ndim, index->shape, ia, sizeof ia),
                            dc__shape_fmt(a->ndim, a->shape, ib, sizeof ib), k);
        }
    const int64_t dim_size = a->ndim ? a->shape[d] : 1;

    size_t scope = dc_scope_begin();
    dc_tensor *idx = dc_contiguous(index);
    if (!idx || !check_index_values(idx, dim_size, d, op)) {
        dc_scope_end(scope);
        return NULL;
    }
    dc_tensor *out = dc__alloc_result(a->dtype, index->ndim, index->shape);
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    int64_t strides[3][DC_MAX_DIMS];
    for (int k = 0; k < a->ndim; k++) {
        strides[0][k] = out->stride[k];
        strides[1][k] = idx->stride[k];
        strides[2][k] = k == d ? 0 : a->stride[k];
    }
    take_job job = {dc_data(out), dc_data(idx), dc_data(a), a->ndim ? a->stride[d] : 0,
                    a->dtype};
    take_or_scatter(false, out->ndim, out->shape, strides, &job);

    return finish_indexed(out, "gather", gather_backward, a, d, idx, scope);
}

/* ---- index_select ------------------------------------------------------------------------ */

/* a viewed as [outer, size, inner] around `dim`. */
static void split_around(const dc_tensor *a, int dim, int64_t *outer, int64_t *inner)
{
    *outer = dc__shape_numel(dim, a->shape);
    *inner = dc__shape_numel(a->ndim - dim - 1, a->shape + dim + 1);
}

/* out[o, i..., c] = a[o, index[i...], c]: dim of a is replaced by index's dims.
 * Backward: da = zeros like a, then da[o, index[k], c] += g[o, k, c] (repeated ids
 * accumulate: an embedding row used twice gets both gradients). */
static int index_select_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *a = node->inputs[0];
    dc_tensor *idx = node->saved[0];
    dc_tensor *da = dc_zeros(a->dtype, a->ndim, a->shape);
    dc_tensor *gc = dc_contiguous(g);
    if (!da || !gc) return -1;
    int64_t outer, inner;
    split_around(a, (int)node->i[0], &outer, &inner);
    rows_job job = {dc_data(da), dc_data(gc), dc_data(idx), a->shape[node->i[0]],
                    dc_numel(idx), inner, a->dtype};
    /* Parallel over columns; each column walks all n_idx rows. */
    int64_t n_idx = job.n_idx > 0 ? job.n_idx : 1;
    int64_t grain = ROW_GRAIN_ELEMS / n_idx > 64 ? ROW_GRAIN_ELEMS / n_idx : 64;
    if (job.n_idx > 0) dc_parallel_for(outer * inner, grain, scatter_rows_range, &job);
    grads[0] = da;
    return record_scattered_grad(da, g, idx, (int)node->i[0], true);
}

dc_tensor *dc_index_select(dc_tensor *a, int dim, dc_tensor *index)
{
    static const char op[] = "dc_index_select";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(index, op);
    if (!check_index_dtype(index, op)) return NULL;
    if (a->ndim == 0) return dc_error("dc_index_select: cannot index a 0-dim tensor");
    int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    const int out_ndim = a->ndim - 1 + index->ndim;
    if (out_ndim > DC_MAX_DIMS)
        return dc_error("dc_index_select: result would have %d dims (max %d)", out_ndim,
                        DC_MAX_DIMS);
    int64_t shape[DC_MAX_DIMS];
    for (int k = 0; k < d; k++) shape[k] = a->shape[k];
    for (int k = 0; k < index->ndim; k++) shape[d + k] = index->shape[k];
    for (int k = d + 1; k < a->ndim; k++) shape[k - 1 + index->ndim] = a->shape[k];

    size_t scope = dc_scope_begin();
    dc_tensor *idx = dc_contiguous(index);
    if (!idx || !check_index_values(idx, a->shape[d], d, op)) {
        dc_scope_end(scope);
        return NULL;
    }
    dc_tensor *out = dc__alloc_result(a->dtype, out_ndim, shape);
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    if (dc_is_contiguous(a)) {
        /* whole rows: one memcpy each */
        int64_t outer, inner;
        split_around(a, d, &outer, &inner);
        rows_job job = {dc_data(a), dc_data(out), dc_data(idx), a->shape[d], dc_numel(idx),
                        inner, a->dtype};
        int64_t grain = inner > 0 && ROW_GRAIN_ELEMS / inner > 1 ? ROW_GRAIN_ELEMS / inner : 1;
        if (inner > 0) dc_parallel_for(outer * job.n_idx, grain, gather_rows_range, &job);
    } else {
        /* strided: a keeps its strides outside dim, the index varies over its own dims */
        int64_t strides[3][DC_MAX_DIMS];
        for (int k = 0; k < out_ndim; k++) {
            bool in_index = k >= d && k < d + index->ndim;
            int a_dim = k < d ? k : k - index->ndim + 1;
            strides[0][k] = out->stride[k];
            strides[1][k] = in_index ? idx->stride[k - d] : 0;
            strides[2][k] = in_index ? 0 : a->stride[a_dim];
        }
        take_job job = {dc_data(out), dc_data(idx), dc_data(a), a->stride[d], a->dtype};
        take_or_scatter(false, out_ndim, shape, strides, &job);
    }

    return finish_indexed(out, "index_select", index_select_backward, a, d, idx, scope);
}

/* ---- cat / stack ------------------------------------------------------------------------- */

/* out = [t0; t1; ...] along dim. Backward: input i gets the slice of g at its offset,
 * g.narrow(dim, offset_i, size_i). */
static int cat_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const int dim = (int)node->i[0];
    int64_t start = 0;
    for (int k = 0; k < node->n_inputs; k++) {
        const int64_t len = node->inputs[k]->shape[dim];
        if (dc__needs_grad(node, k) && !(grads[k] = dc_narrow(g, dim, start, len))) return -1;
        start += len;
    }
    return 0;
}

/* Shared checks of cat and stack: a non-empty list of non-NULL tensors of one dtype. */
static bool check_tensor_list(dc_tensor *const *tensors, int n, const char *op)
{
    if (!tensors) return dc_error("%s: the tensor list is NULL", op), false;
    if (n < 1) return dc_error("%s: expected at least one tensor, got %d", op, n), false;
    for (int k = 0; k < n; k++) {
        if (!tensors[k]) return dc_error("%s: tensor %d is NULL", op, k), false;
        if (tensors[k]->dtype != tensors[0]->dtype)
            return dc_error("%s: tensor %d is %s but tensor 0 is %s", op, k,
                            dc_dtype_name(tensors[k]->dtype), dc_dtype_name(tensors[0]->dtype)),
                   false;
    }
    return true;
}

/* Tensor k's shape equals tensor 0's, except along skip_dim (-1: no exception). */
static bool check_shapes_match(dc_tensor *const *tensors, int n, int skip_dim, const char *op)
{
    const dc_tensor *first = tensors[0];
    for (int k = 1; k < n; k++) {
        const dc_tensor *t = tensors[k];
        bool same = t->ndim == first->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = d == skip_dim || t->shape[d] == first->shape[d];
        if (!same) {
            char sa[96], sb[96], except[48] = "";
            if (skip_dim >= 0) snprintf(except, sizeof except, " except in dim %d", skip_dim);
            dc_error("%s: tensor %d has shape %s but tensor 0 has %s (shapes must match%s)", op,
                     k, dc__shape_fmt(t->ndim, t->shape, sa, sizeof sa),
                     dc__shape_fmt(first->ndim, first->shape, sb, sizeof sb), except);
            return false;
        }
    }
    return true;
}

dc_tensor *dc_cat(dc_tensor *const *tensors, int n, int dim)
{
    static const char op[] = "dc_cat";
    if (!check_tensor_list(tensors, n, op)) return NULL;
    const dc_tensor *first = tensors[0];
    if (first->ndim == 0) return dc_error("dc_cat: 0-dim tensors cannot be concatenated");
    int d = dc__norm_dim(dim, first->ndim, op);
    if (d < 0 || !check_shapes_match(tensors, n, d, op)) return NULL;
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, first->shape, sizeof shape);
    shape[d] = 0;
    for (int k = 0; k < n; k++) shape[d] += tensors[k]->shape[d];

    dc_tensor *out = dc__alloc_result(first->dtype, first->ndim, shape);
    if (!out) return NULL;
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        const dc_tensor *t = tensors[k];
        /* copy into the window out.narrow(d, start, size_k) */
        dc_tensor *window = dc__make_view(out, out->ndim, t->shape, out->stride,
                                          out->offset + start * out->stride[d]);
        int rc = window ? dc_copy_(window, t) : -1;
        dc_tensor_free(window);
        if (rc != 0) {
            dc_tensor_free(out);
            return NULL;
        }
        start += t->shape[d];
    }
    dc_node *node;
    if (dc__record(out, "cat", cat_backward, n, tensors, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) node->i[0] = d;
    return dc__publish(out);
}

/* stack = cat of the inputs unsqueezed at dim (a new dim, so dim is in [-(ndim+1), ndim]).
 * The unsqueeze views carry the gradient back, so cat's backward serves stack too. */
dc_tensor *dc_stack(dc_tensor *const *tensors, int n, int dim)
{
    static const char op[] = "dc_stack";
    if (!check_tensor_list(tensors, n, op) || !check_shapes_match(tensors, n, -1, op))
        return NULL;
    const int ndim = tensors[0]->ndim;
    if (dim < -(ndim + 1) || dim > ndim)
        return dc_error("dc_stack: dim %d out of range for stacking %d-dim tensors", dim, ndim);
    if (ndim + 1 > DC_MAX_DIMS) return dc_error("dc_stack: inputs already have %d dims", ndim);
    dc_tensor **unsqueezed = malloc((size_t)n * sizeof *unsqueezed);
    if (!unsqueezed) return dc_error("dc_stack: out of memory");
    size_t scope = dc_scope_begin();
    bool ok = true;
    for (int k = 0; ok && k < n; k++) ok = (unsqueezed[k] = dc_unsqueeze(tensors[k], dim)) != NULL;
    dc_tensor *out = ok ? dc_cat(unsqueezed, n, dim < 0 ? dim + ndim + 1 : dim) : NULL;
    free(unsqueezed);
    return dc_scope_return(scope, out);
}
