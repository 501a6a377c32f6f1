/* Shapes: padding, flips, rolls, repeats, splits, triangles, diagonals, meshgrid, and the
 * sliding-window ops unfold / fold (torch semantics throughout).
 *
 * Copies (pad, flip, roll, repeat) are one "index-map gather": every output dim d has a
 * table mapping its coordinate o to a source coordinate map_d(o) (or -1: the constant pad
 * value), and out[o_0, ..., o_k] = src[map_0(o_0), ..., map_k(o_k)]. The adjoint of such a
 * gather is the matching scatter-add, which serves as the backward of the non-constant pads.
 * Views (split, chunk, diagonal, unfold_dim, meshgrid) share the input's storage; the
 * backward of a view that can overlap or skip elements (diagonal, unfold_dim) is a private
 * "embed" op whose own backward is the view again, so both stay differentiable. */
#include "../core/internal.h"
#include "../kernels/conv_kernels.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROW_GRAIN_ELEMS 16384

/* ---- The index-map gather and its adjoint ------------------------------------------------ */

typedef struct {
    int nd;                       /* >= 1 */
    int64_t shape[DC_MAX_DIMS];   /* the dense (gathered) side's shape */
    int64_t dstride[DC_MAX_DIMS]; /* dense strides */
    const int64_t *tab[DC_MAX_DIMS]; /* per dim: element offset into the sparse side, -1 = fill */
    char *dense;                  /* gather: out; scatter: g */
    char *sparse;                 /* gather: src; scatter: dst (accumulated) */
    dc_dtype dtype;
    double fill;
    int64_t rows_per_task;        /* scatter: rows that one task owns */
} map_job;

/* Base offsets of row r (all dims but the last): dense offset, and sparse offset or -1. */
static void map_row(const map_job *j, int64_t r, int64_t *doff, int64_t *soff)
{
    int64_t d_off = 0, s_off = 0;
    bool fill = false;
    for (int d = j->nd - 2; d >= 0; d--) {
        int64_t c = r % j->shape[d];
        r /= j->shape[d];
        d_off += c * j->dstride[d];
        int64_t t = j->tab[d][c];
        if (t < 0) fill = true;
        s_off += t;
    }
    *doff = d_off;
    *soff = fill ? -1 : s_off;
}

#define GATHER_ROW(T, FILL)                                                                    \
    do {                                                                                       \
        T *o = (T *)j->dense + doff;                                                           \
        const T *s = (const T *)j->sparse + soff;                                              \
        if (soff < 0)                                                                          \
            for (int64_t i = 0; i < n; i++) o[i * ds] = (FILL);                                \
        else                                                                                   \
            for (int64_t i = 0; i < n; i++) o[i * ds] = tl[i] < 0 ? (FILL) : s[tl[i]];         \
    } while (0)

static void gather_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const map_job *j = ctx;
    const int64_t n = j->shape[j->nd - 1], ds = j->dstride[j->nd - 1];
    const int64_t *tl = j->tab[j->nd - 1];
    for (int64_t r = begin; r < end; r++) {
        int64_t doff, soff;
        map_row(j, r, &doff, &soff);
        if (j->dtype == DC_F32) GATHER_ROW(float, (float)j->fill);
        else if (j->dtype == DC_F64) GATHER_ROW(double, j->fill);
        else GATHER_ROW(int64_t, (int64_t)j->fill);
    }
}

#define SCATTER_ROW(T)                                                                         \
    do {                                                                                       \
        const T *g = (const T *)j->dense + doff;                                               \
        T *s = (T *)j->sparse + soff;                                                          \
        for (int64_t i = 0; i < n; i++)                                                        \
            if (tl[i] >= 0) s[tl[i]] += g[i * ds];                                             \
    } while (0)

/* Tasks own rows_per_task consecutive rows, whose destinations no other task touches. */
static void scatter_tasks(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const map_job *j = ctx;
    const int64_t n = j->shape[j->nd - 1], ds = j->dstride[j->nd - 1];
    const int64_t *tl = j->tab[j->nd - 1];
    for (int64_t r = begin * j->rows_per_task; r < end * j->rows_per_task; r++) {
        int64_t doff, soff;
        map_row(j, r, &doff, &soff);
        if (soff < 0) continue;
        if (j->dtype == DC_F32) SCATTER_ROW(float);
        else SCATTER_ROW(double);
    }
}

/* Coordinate tables of an index map: one block, map[d] has shape[d] entries. */
typedef struct {
    int nd;
    int64_t shape[DC_MAX_DIMS];
    int64_t *map[DC_MAX_DIMS];
    int64_t *block;
} index_map;

static int index_map_init(index_map *m, int nd, const int64_t *shape)
{
    m->nd = nd;
    int64_t total = 0;
    for (int d = 0; d < nd; d++) {
        m->shape[d] = shape[d];
        total += shape[d];
    }
    m->block = dc__malloc((size_t)(total > 0 ? total : 1) * sizeof(int64_t));
    if (!m->block) return -1;
    int64_t at = 0;
    for (int d = 0; d < nd; d++) {
        m->map[d] = m->block + at;
        at += shape[d];
    }
    return 0;
}

static void index_map_free(index_map *m) { dc__free(m->block); }

/* Prepare a job over the map's shape: tables of sparse offsets (coordinate * sparse_stride).
 * A 0-dim map is run as one element. tabs has room for the tables (sum of the map's dims,
 * at least 1). */
static void map_job_init(map_job *j, const index_map *m, const int64_t *sparse_stride,
                         const int64_t *dense_stride, int64_t *tabs)
{
    static const int64_t zero = 0;
    if (m->nd == 0) {
        j->nd = 1;
        j->shape[0] = 1;
        j->dstride[0] = 1;
        j->tab[0] = &zero;
        return;
    }
    j->nd = m->nd;
    int64_t at = 0;
    for (int d = 0; d < m->nd; d++) {
        j->shape[d] = m->shape[d];
        j->dstride[d] = dense_stride[d];
        for (int64_t o = 0; o < m->shape[d]; o++) {
            int64_t c = m->map[d][o];
            tabs[at + o] = c < 0 ? -1 : c * sparse_stride[d];
        }
        j->tab[d] = tabs + at;
        at += m->shape[d];
    }
}

/* out[o] = src[map(o)] (fill where a map entry is -1), a new contiguous tensor of the map's
 * shape, unpublished. src_stride gives src's stride for each map dim (0 for dims the source
 * does not have). */
static dc_tensor *map_gather(const dc_tensor *src, const index_map *m, const int64_t *src_stride,
                             double fill)
{
    dc_tensor *out = dc__alloc_result(src->dtype, m->nd, m->shape);
    if (!out) return NULL;
    int64_t n = dc_numel(out);
    if (n == 0) return out;
    int64_t total = 1;
    for (int d = 0; d < m->nd; d++) total += m->shape[d];
    int64_t *tabs = dc__malloc((size_t)total * sizeof *tabs);
    if (!tabs) {
        dc_tensor_free(out);
        return NULL;
    }
    map_job j = {.dense = dc_data(out), .sparse = dc_data(src), .dtype = src->dtype, .fill = fill};
    map_job_init(&j, m, src_stride, out->stride, tabs);
    int64_t inner = j.shape[j.nd - 1], rows = n / inner;
    dc_parallel_for(rows, inner >= ROW_GRAIN_ELEMS ? 1 : ROW_GRAIN_ELEMS / inner, gather_rows, &j);
    dc__free(tabs);
    return out;
}

/* The adjoint of map_gather: dst = zeros(dst_shape) (contiguous, float), dst[map(o)] += g[o]
 * for every o of g (g has the map's shape, any strides). The first `free_dims` dims of the
 * map must be the identity (so tasks over them never write the same element). Unpublished. */
static dc_tensor *map_scatter(const dc_tensor *g, const index_map *m, int dst_ndim,
                              const int64_t *dst_shape, int free_dims)
{
    dc_tensor *dst = dc__alloc_result(g->dtype, dst_ndim, dst_shape);
    if (!dst) return NULL;
    memset(dc_data(dst), 0, (size_t)dc_numel(dst) * dc__elsize(dst->dtype));
    int64_t n = dc_numel(g);
    if (n == 0) return dst;
    int64_t total = 1;
    for (int d = 0; d < m->nd; d++) total += m->shape[d];
    int64_t *tabs = dc__malloc((size_t)total * sizeof *tabs);
    if (!tabs) {
        dc_tensor_free(dst);
        return NULL;
    }
    map_job j = {.dense = dc_data(g), .sparse = dc_data(dst), .dtype = g->dtype};
    map_job_init(&j, m, dst->stride, g->stride, tabs);
    int64_t inner = j.shape[j.nd - 1], rows = n / inner, tasks = 1;
    for (int d = 0; d < free_dims && d < j.nd - 1; d++) tasks *= j.shape[d];
    j.rows_per_task = rows / tasks;
    int64_t per_task = j.rows_per_task * inner;
    dc_parallel_for(tasks, per_task >= ROW_GRAIN_ELEMS ? 1 : ROW_GRAIN_ELEMS / per_task,
                    scatter_tasks, &j);
    dc__free(tabs);
    return dst;
}

/* Record a one-input op on out with its parameters (ip -> node->i, fp -> node->f) and publish
 * it; out is freed on failure. NULL passes through. */
static dc_tensor *finish(dc_tensor *out, dc_tensor *in, const char *op, dc_backward_fn bw,
                         const int64_t *ip, int n_ip, const double *fp, int n_fp)
{
    if (!out) return NULL;
    dc_node *node;
    if (dc__record(out, op, bw, 1, &in, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        for (int k = 0; k < n_ip; k++) node->i[k] = ip[k];
        for (int k = 0; k < n_fp; k++) node->f[k] = fp[k];
    }
    return dc__publish(out);
}

/* ---- pad ----------------------------------------------------------------------------------- */

/* Source coordinate of output coordinate o of a dim of size n padded by `before`. */
static int64_t pad_coord(int64_t o, int64_t before, int64_t n, dc_pad_mode mode)
{
    int64_t i = o - before;
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case DC_PAD_REFLECT: return i < 0 ? -i : 2 * (n - 1) - i;
    case DC_PAD_REPLICATE: return i < 0 ? 0 : n - 1;
    case DC_PAD_CIRCULAR: return ((i % n) + n) % n;
    default: return -1;
    }
}

static const char *pad_mode_name(dc_pad_mode mode)
{
    switch (mode) {
    case DC_PAD_CONSTANT: return "constant";
    case DC_PAD_REFLECT: return "reflect";
    case DC_PAD_REPLICATE: return "replicate";
    default: return "circular";
    }
}

/* Padded shape and the index map of a pad; -1 with an error on bad pads. */
static int pad_plan(const dc_tensor *t, int npad, const int64_t *pad, dc_pad_mode mode,
                    index_map *m, const char *op)
{
    if (npad < 0 || npad % 2 != 0)
        return dc_error("%s: the pad list must have an even length, got %d", op, npad), -1;
    if (npad / 2 > t->ndim)
        return dc_error("%s: %d pad values pad %d dims but the input has %d", op, npad, npad / 2,
                        t->ndim),
               -1;
    if (npad > 0 && !pad) return dc_error("%s: pad is NULL", op), -1;
    if ((unsigned)mode > DC_PAD_CIRCULAR) return dc_error("%s: unknown pad mode %d", op, mode), -1;
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    for (int k = 0; k < npad / 2; k++) {
        int d = t->ndim - 1 - k;
        int64_t before = pad[2 * k], after = pad[2 * k + 1], n = t->shape[d];
        shape[d] = n + before + after;
        if (shape[d] < 0)
            return dc_error("%s: padding (%lld, %lld) of dim %d of size %lld gives a negative "
                            "size %lld",
                            op, (long long)before, (long long)after, d, (long long)n,
                            (long long)shape[d]),
                   -1;
        int64_t most = before > after ? before : after;
        bool bad = (mode == DC_PAD_REFLECT && most >= n && most > 0) ||
                   (mode == DC_PAD_CIRCULAR && most > n) ||
                   (mode == DC_PAD_REPLICATE && most > 0 && n == 0);
        if (bad)
            return dc_error("%s: %s padding (%lld, %lld) is too large for dim %d of size %lld "
                            "(reflect needs pad < size, circular pad <= size, replicate size >= 1)",
                            op, pad_mode_name(mode), (long long)before, (long long)after, d,
                            (long long)n),
                   -1;
    }
    if (index_map_init(m, t->ndim, shape) != 0) return -1;
    for (int d = 0; d < t->ndim; d++) {
        int k = t->ndim - 1 - d;
        int64_t before = k < npad / 2 ? pad[2 * k] : 0;
        for (int64_t o = 0; o < shape[d]; o++)
            m->map[d][o] = pad_coord(o, before, t->shape[d], mode);
    }
    return 0;
}

/* node->i[0..npad) = pad, f[0] = npad, f[1] = mode, f[2] = value. */
static int pad_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);

/* The adjoint of a non-constant pad: dx[map(o)] += g[o] (out has x's shape). Its backward is
 * the pad itself. node->i = pad, f = {npad, mode}. */
static int pad_adjoint_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_pad(g, (int)node->f[0], node->i, (dc_pad_mode)node->f[1], 0.0);
    return grads[0] ? 0 : -1;
}

static dc_tensor *pad_adjoint(dc_tensor *g, int ndim, const int64_t *in_shape, int npad,
                              const int64_t *pad, dc_pad_mode mode)
{
    /* the map of the forward pad, built from a tensor of the input's shape */
    dc_tensor shape_only = {.dtype = g->dtype, .ndim = ndim};
    memcpy(shape_only.shape, in_shape, (size_t)ndim * sizeof *in_shape);
    index_map m;
    if (pad_plan(&shape_only, npad, pad, mode, &m, "dc_pad (backward)") != 0) return NULL;
    dc_tensor *dx = map_scatter(g, &m, ndim, in_shape, ndim - npad / 2);
    index_map_free(&m);
    double fp[2] = {npad, mode};
    return finish(dx, g, "pad_backward", pad_adjoint_backward, pad, npad, fp, 2);
}

/* Constant: dx = pad(g, -pad) (crops what was added, zero-fills what was cropped).
 * Others: the scatter-add adjoint (edge values gather the gradient of their copies). */
static int pad_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *x = node->inputs[0];
    int npad = (int)node->f[0];
    dc_pad_mode mode = (dc_pad_mode)node->f[1];
    if (mode == DC_PAD_CONSTANT) {
        int64_t neg[2 * DC_MAX_DIMS];
        for (int k = 0; k < npad; k++) neg[k] = -node->i[k];
        grads[0] = dc_pad(g, npad, neg, DC_PAD_CONSTANT, 0.0);
    } else {
        grads[0] = pad_adjoint(g, x->ndim, x->shape, npad, node->i, mode);
    }
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_pad(dc_tensor *t, int npad, const int64_t *pad, dc_pad_mode mode, double value)
{
    static const char op[] = "dc_pad";
    DC_CHECK_TENSOR(t, op);
    if (t->dtype == DC_I64 && !(fabs(value) < 9.2e18))
        return dc_error("dc_pad: fill value %g does not fit an int64 tensor", value);
    index_map m;
    if (pad_plan(t, npad, pad, mode, &m, op) != 0) return NULL;
    dc_tensor *out = map_gather(t, &m, t->stride, value);
    index_map_free(&m);
    double fp[3] = {npad, mode, value};
    return finish(out, t, "pad", pad_backward, pad, npad, fp, 3);
}

/* ---- flip ---------------------------------------------------------------------------------- */

/* Normalised, distinct dims into out (flags[d] set); false with an error otherwise. */
static bool dim_list(const dc_tensor *t, int ndims, const int *dims, bool *flags, const char *op)
{
    for (int d = 0; d < DC_MAX_DIMS; d++) flags[d] = false;
    if (ndims < 0 || ndims > DC_MAX_DIMS || (ndims > 0 && !dims))
        return dc_error("%s: bad dim list (%d dims)", op, ndims), false;
    for (int k = 0; k < ndims; k++) {
        int d = dc__norm_dim(dims[k], t->ndim, op);
        if (d < 0) return false;
        if (flags[d]) return dc_error("%s: dim %d appears more than once", op, dims[k]), false;
        flags[d] = true;
    }
    return true;
}

/* y[..., i, ...] = x[..., n-1-i, ...] along each listed dim. Backward: flip(g, dims). */
static int flip_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    int dims[DC_MAX_DIMS];
    for (int k = 0; k < node->i[0]; k++) dims[k] = (int)node->i[1 + k];
    grads[0] = dc_flip(g, (int)node->i[0], dims);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_flip(dc_tensor *t, int ndims, const int *dims)
{
    static const char op[] = "dc_flip";
    DC_CHECK_TENSOR(t, op);
    bool flip[DC_MAX_DIMS];
    if (!dim_list(t, ndims, dims, flip, op)) return NULL;
    index_map m;
    if (index_map_init(&m, t->ndim, t->shape) != 0) return NULL;
    int64_t params[1 + DC_MAX_DIMS] = {0};
    for (int d = 0; d < t->ndim; d++) {
        for (int64_t o = 0; o < t->shape[d]; o++) m.map[d][o] = flip[d] ? t->shape[d] - 1 - o : o;
        if (flip[d]) params[1 + params[0]++] = d;
    }
    dc_tensor *out = map_gather(t, &m, t->stride, 0.0);
    index_map_free(&m);
    return finish(out, t, "flip", flip_backward, params, 1 + (int)params[0], NULL, 0);
}

/* ---- roll ---------------------------------------------------------------------------------- */

/* y[..., i, ...] = x[..., (i - shift) mod n, ...]. Backward: roll by -shift.
 * node->i[d] = the total shift of dim d (ndim entries). */
static int roll_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    int64_t shifts[DC_MAX_DIMS];
    int dims[DC_MAX_DIMS];
    for (int d = 0; d < g->ndim; d++) {
        shifts[d] = -node->i[d];
        dims[d] = d;
    }
    grads[0] = dc_roll(g, g->ndim, shifts, dims);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_roll(dc_tensor *t, int nshifts, const int64_t *shifts, const int *dims)
{
    static const char op[] = "dc_roll";
    DC_CHECK_TENSOR(t, op);
    if (nshifts < 1 || !shifts) return dc_error("dc_roll: expected at least one shift");
    if (!dims) {
        /* torch: no dims rolls the flattened tensor, then restores the shape */
        if (nshifts != 1)
            return dc_error("dc_roll: without dims exactly one shift is expected, got %d",
                            nshifts);
        size_t scope = dc_scope_begin();
        dc_tensor *flat = dc_reshape(t, 1, (int64_t[]){-1});
        dc_tensor *rolled = flat ? dc_roll(flat, 1, shifts, (int[]){0}) : NULL;
        dc_tensor *out = rolled ? dc_reshape(rolled, t->ndim, t->shape) : NULL;
        return dc_scope_return(scope, out);
    }
    if (nshifts > DC_MAX_DIMS) return dc_error("dc_roll: %d shifts (max %d)", nshifts, DC_MAX_DIMS);
    int64_t total[DC_MAX_DIMS] = {0};
    for (int k = 0; k < nshifts; k++) {
        int d = dc__norm_dim(dims[k], t->ndim, op);
        if (d < 0) return NULL;
        total[d] += shifts[k]; /* a repeated dim rolls by the sum, as torch */
    }
    index_map m;
    if (index_map_init(&m, t->ndim, t->shape) != 0) return NULL;
    for (int d = 0; d < t->ndim; d++) {
        int64_t n = t->shape[d];
        int64_t s = n ? total[d] % n : 0;
        for (int64_t o = 0; o < n; o++) m.map[d][o] = ((o - s) % n + n) % n;
    }
    dc_tensor *out = map_gather(t, &m, t->stride, 0.0);
    index_map_free(&m);
    return finish(out, t, "roll", roll_backward, total, t->ndim, NULL, 0);
}

/* ---- repeat / tile ------------------------------------------------------------------------- */

/* Tensor.repeat: the input (with leading size-1 dims added up to nreps dims) tiled
 * repeats[d] times along each dim: y[o] = x[o mod size]. Backward: the sum of the copies, one
 * dim at a time as g[outer, r, size*inner] summed over r. node->i = repeats. */
static int repeat_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *x = node->inputs[0];
    int nd = g->ndim, lead = nd - x->ndim;
    for (int d = 0; d < nd; d++)
        if (node->i[d] == 0) { /* an empty result: nothing flowed back */
            grads[0] = dc_zeros(x->dtype, x->ndim, x->shape);
            return grads[0] ? 0 : -1;
        }
    int64_t cur[DC_MAX_DIMS];
    memcpy(cur, g->shape, sizeof cur);
    dc_tensor *acc = g;
    for (int d = 0; d < nd && acc; d++) {
        int64_t r = node->i[d];
        if (r <= 1) continue;
        int64_t size = d < lead ? 1 : x->shape[d - lead];
        int64_t outer = dc__shape_numel(d, cur), inner = dc__shape_numel(nd - d - 1, cur + d + 1);
        acc = dc_reshape(acc, 3, (int64_t[]){outer, r, size * inner});
        acc = dc_sum(acc, 1, (int[]){1}, false);
        cur[d] = size;
        acc = acc ? dc_reshape(acc, nd, cur) : NULL;
    }
    grads[0] = acc ? dc_reshape(acc, x->ndim, x->shape) : NULL;
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_repeat(dc_tensor *t, int nreps, const int64_t *repeats)
{
    static const char op[] = "dc_repeat";
    DC_CHECK_TENSOR(t, op);
    if (nreps < t->ndim || nreps > DC_MAX_DIMS || (nreps > 0 && !repeats))
        return dc_error("dc_repeat: %d repeat counts for a %d-dim tensor (need %d to %d)", nreps,
                        t->ndim, t->ndim, DC_MAX_DIMS);
    int lead = nreps - t->ndim;
    int64_t shape[DC_MAX_DIMS] = {0}, stride[DC_MAX_DIMS] = {0}, size[DC_MAX_DIMS] = {0};
    for (int d = 0; d < nreps; d++) {
        if (repeats[d] < 0)
            return dc_error("dc_repeat: repeat count %lld of dim %d is negative",
                            (long long)repeats[d], d);
        size[d] = d < lead ? 1 : t->shape[d - lead];
        stride[d] = d < lead ? 0 : t->stride[d - lead];
        shape[d] = size[d] * repeats[d];
    }
    index_map m;
    if (index_map_init(&m, nreps, shape) != 0) return NULL;
    for (int d = 0; d < nreps; d++)
        for (int64_t o = 0; o < shape[d]; o++) m.map[d][o] = o % size[d];
    dc_tensor *out = map_gather(t, &m, stride, 0.0);
    index_map_free(&m);
    return finish(out, t, "repeat", repeat_backward, repeats, nreps, NULL, 0);
}

dc_tensor *dc_tile(dc_tensor *t, int nreps, const int64_t *reps)
{
    DC_CHECK_TENSOR(t, "dc_tile");
    if (nreps < 0 || nreps > DC_MAX_DIMS || (nreps > 0 && !reps))
        return dc_error("dc_tile: bad repeat list (%d entries)", nreps);
    if (nreps >= t->ndim) return dc_repeat(t, nreps, reps);
    /* fewer reps than dims: torch prepends ones */
    int64_t full[DC_MAX_DIMS];
    int lead = t->ndim - nreps;
    for (int d = 0; d < t->ndim; d++) full[d] = d < lead ? 1 : reps[d - lead];
    return dc_repeat(t, t->ndim, full);
}

/* ---- split / chunk (views) ----------------------------------------------------------------- */

/* Hand the n tensors made inside `scope` to the enclosing scope (or the caller). */
static int publish_all(size_t scope, dc_tensor **outs, int n)
{
    for (int k = 0; k < n; k++) dc_tensor_retain(outs[k]);
    dc_scope_end(scope);
    int rc = n;
    for (int k = 0; k < n; k++) {
        if (rc >= 0 && dc__publish(outs[k])) continue;
        if (rc >= 0) rc = -1; /* publish freed outs[k]; release the rest */
        else dc_tensor_free(outs[k]);
        outs[k] = NULL;
    }
    return rc;
}

/* Views of consecutive pieces of `sizes` along dim d (already validated). */
static int narrow_pieces(dc_tensor *t, int d, int n, const int64_t *sizes, dc_tensor **outs)
{
    size_t scope = dc_scope_begin();
    int64_t start = 0;
    for (int k = 0; k < n; k++) {
        outs[k] = dc_narrow(t, d, start, sizes[k]);
        if (!outs[k]) {
            for (int i = 0; i <= k; i++) outs[i] = NULL;
            dc_scope_end(scope);
            return -1;
        }
        start += sizes[k];
    }
    return publish_all(scope, outs, n);
}

int dc_split_sizes(dc_tensor *t, int nsizes, const int64_t *sizes, int dim, dc_tensor **outs)
{
    static const char op[] = "dc_split_sizes";
    if (!t) return dc_error("dc_split_sizes: input 't' is NULL"), -1;
    if (t->ndim == 0) return dc_error("dc_split_sizes: cannot split a 0-dim tensor"), -1;
    int d = dc__norm_dim(dim, t->ndim, op);
    if (d < 0) return -1;
    if (nsizes < 1 || !sizes || !outs)
        return dc_error("dc_split_sizes: expected at least one size and an output array"), -1;
    int64_t sum = 0;
    for (int k = 0; k < nsizes; k++) {
        if (sizes[k] < 0)
            return dc_error("dc_split_sizes: size %d is negative (%lld)", k, (long long)sizes[k]),
                   -1;
        sum += sizes[k];
    }
    if (sum != t->shape[d])
        return dc_error("dc_split_sizes: sizes sum to %lld but dim %d has size %lld",
                        (long long)sum, d, (long long)t->shape[d]),
               -1;
    return narrow_pieces(t, d, nsizes, sizes, outs);
}

/* Piece sizes of splitting n into pieces of split_size (the last may be smaller; one empty
 * piece if n is 0). Returns the count. */
static int64_t split_count(int64_t n, int64_t split_size)
{
    return n == 0 ? 1 : (n + split_size - 1) / split_size;
}

int dc_split(dc_tensor *t, int64_t split_size, int dim, dc_tensor **outs, int max_outs)
{
    static const char op[] = "dc_split";
    if (!t) return dc_error("dc_split: input 't' is NULL"), -1;
    if (t->ndim == 0) return dc_error("dc_split: cannot split a 0-dim tensor"), -1;
    int d = dc__norm_dim(dim, t->ndim, op);
    if (d < 0) return -1;
    if (split_size < 1)
        return dc_error("dc_split: split_size must be positive, got %lld", (long long)split_size),
               -1;
    int64_t n = t->shape[d], count = split_count(n, split_size);
    if (!outs) return count > 0x7fffffff ? (dc_error("dc_split: too many pieces"), -1) : (int)count;
    if (count > max_outs)
        return dc_error("dc_split: %lld pieces do not fit in the %d output slots",
                        (long long)count, max_outs),
               -1;
    int64_t *sizes = dc__malloc((size_t)count * sizeof *sizes);
    if (!sizes) return -1;
    for (int64_t k = 0; k < count; k++)
        sizes[k] = n - k * split_size < split_size ? n - k * split_size : split_size;
    int rc = narrow_pieces(t, d, (int)count, sizes, outs);
    dc__free(sizes);
    return rc;
}

int dc_chunk(dc_tensor *t, int chunks, int dim, dc_tensor **outs, int max_outs)
{
    static const char op[] = "dc_chunk";
    if (!t) return dc_error("dc_chunk: input 't' is NULL"), -1;
    if (t->ndim == 0) return dc_error("dc_chunk: cannot chunk a 0-dim tensor"), -1;
    int d = dc__norm_dim(dim, t->ndim, op);
    if (d < 0) return -1;
    if (chunks < 1) return dc_error("dc_chunk: chunks must be positive, got %d", chunks), -1;
    int64_t n = t->shape[d];
    if (n == 0) {
        /* torch: `chunks` empty pieces */
        if (!outs) return chunks;
        if (chunks > max_outs)
            return dc_error("dc_chunk: %d pieces do not fit in the %d output slots", chunks,
                            max_outs),
                   -1;
        int64_t *sizes = dc__malloc((size_t)chunks * sizeof *sizes);
        if (!sizes) return -1;
        memset(sizes, 0, (size_t)chunks * sizeof *sizes);
        int rc = narrow_pieces(t, d, chunks, sizes, outs);
        dc__free(sizes);
        return rc;
    }
    return dc_split(t, (n + chunks - 1) / chunks, d, outs, max_outs);
}

/* ---- Diagonal views ------------------------------------------------------------------------ */

/* The diagonal `offset` of dims d1, d2 of a tensor laid out as (shape, stride, offset):
 * both dims removed and one of the diagonal's length appended. */
static void diagonal_geometry(int ndim, const int64_t *shape, const int64_t *stride,
                              int64_t base, int64_t k, int d1, int d2, int64_t *vshape,
                              int64_t *vstride, int64_t *voffset)
{
    int64_t n1 = shape[d1], n2 = shape[d2], len;
    if (k >= 0) len = n1 < n2 - k ? n1 : n2 - k;
    else len = n1 + k < n2 ? n1 + k : n2;
    if (len < 0) len = 0;
    int at = 0;
    for (int d = 0; d < ndim; d++)
        if (d != d1 && d != d2) {
            vshape[at] = shape[d];
            vstride[at] = stride[d];
            at++;
        }
    vshape[at] = len;
    vstride[at] = stride[d1] + stride[d2];
    *voffset = base + (len == 0 ? 0 : k >= 0 ? k * stride[d2] : -k * stride[d1]);
}

static bool diagonal_dims(const dc_tensor *t, int dim1, int dim2, int *d1, int *d2,
                          const char *op)
{
    if (t->ndim < 2)
        return dc_error("%s: expected at least 2 dims, got %d", op, t->ndim), false;
    *d1 = dc__norm_dim(dim1, t->ndim, op);
    *d2 = dc__norm_dim(dim2, t->ndim, op);
    if (*d1 < 0 || *d2 < 0) return false;
    if (*d1 == *d2)
        return dc_error("%s: dim1 and dim2 are the same dim %d", op, *d1), false;
    return true;
}

static int diagonal_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);

/* The adjoint of diagonal: zeros of the input's shape with g written on the diagonal. Its
 * backward is the diagonal again. node->i = {k, d1, d2}. */
static int diagonal_embed_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_diagonal(g, node->i[0], (int)node->i[1], (int)node->i[2]);
    return grads[0] ? 0 : -1;
}

static dc_tensor *diagonal_embed(dc_tensor *g, int ndim, const int64_t *shape, int64_t k, int d1,
                                 int d2)
{
    dc_tensor *out = dc__alloc_result(g->dtype, ndim, shape);
    if (!out) return NULL;
    memset(dc_data(out), 0, (size_t)dc_numel(out) * dc__elsize(out->dtype));
    int64_t vs[DC_MAX_DIMS], vst[DC_MAX_DIMS], voff;
    diagonal_geometry(ndim, out->shape, out->stride, out->offset, k, d1, d2, vs, vst, &voff);
    dc_tensor *view = dc__make_view(out, ndim - 1, vs, vst, voff);
    int rc = view ? dc_copy_(view, g) : -1;
    dc_tensor_free(view);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    int64_t params[3] = {k, d1, d2};
    return finish(out, g, "diagonal_backward", diagonal_embed_backward, params, 3, NULL, 0);
}

/* y = x.diagonal(k, d1, d2). Backward: g embedded on the same diagonal of zeros. */
static int diagonal_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *x = node->inputs[0];
    grads[0] = diagonal_embed(g, x->ndim, x->shape, node->i[0], (int)node->i[1], (int)node->i[2]);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_diagonal(dc_tensor *t, int64_t offset, int dim1, int dim2)
{
    static const char op[] = "dc_diagonal";
    DC_CHECK_TENSOR(t, op);
    int d1, d2;
    if (!diagonal_dims(t, dim1, dim2, &d1, &d2, op)) return NULL;
    int64_t vs[DC_MAX_DIMS], vst[DC_MAX_DIMS], voff;
    diagonal_geometry(t->ndim, t->shape, t->stride, t->offset, offset, d1, d2, vs, vst, &voff);
    dc_tensor *v = dc__make_view(t, t->ndim - 1, vs, vst, voff);
    int64_t params[3] = {offset, d1, d2};
    return finish(v, t, "diagonal", diagonal_backward, params, 3, NULL, 0);
}

/* 1-D x[n] -> [n+|k|, n+|k|] with x on diagonal k; backward: the diagonal of g. */
static int diag_1d_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_diagonal(g, node->i[0], 0, 1);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_diag(dc_tensor *t, int64_t offset)
{
    static const char op[] = "dc_diag";
    DC_CHECK_TENSOR(t, op);
    if (t->ndim == 2) {
        /* a copy of the diagonal (torch.diag copies; dc_diagonal is the view) */
        size_t scope = dc_scope_begin();
        dc_tensor *v = dc_diagonal(t, offset, 0, 1);
        return dc_scope_return(scope, v ? dc_clone(v) : NULL);
    }
    if (t->ndim != 1) return dc_error("dc_diag: expected a 1-D or 2-D tensor, got %d dims", t->ndim);
    int64_t abs_k = offset < 0 ? -offset : offset, m = t->shape[0] + abs_k;
    int64_t shape[2] = {m, m};
    dc_tensor *out = dc__alloc_result(t->dtype, 2, shape);
    if (!out) return NULL;
    memset(dc_data(out), 0, (size_t)dc_numel(out) * dc__elsize(out->dtype));
    int64_t vs[DC_MAX_DIMS], vst[DC_MAX_DIMS], voff;
    diagonal_geometry(2, out->shape, out->stride, out->offset, offset, 0, 1, vs, vst, &voff);
    dc_tensor *view = dc__make_view(out, 1, vs, vst, voff);
    int rc = view ? dc_copy_(view, t) : -1;
    dc_tensor_free(view);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return finish(out, t, "diag", diag_1d_backward, &offset, 1, NULL, 0);
}

/* ---- tril / triu --------------------------------------------------------------------------- */

typedef struct {
    char *data;
    int64_t rows, cols, k;
    size_t es;
    bool lower;
} tri_job;

/* Zero the part of each row (i of a [.., rows, cols] matrix) outside the triangle:
 * tril keeps j <= i + k, triu keeps j >= i + k. */
static void tri_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const tri_job *j = ctx;
    for (int64_t r = begin; r < end; r++) {
        int64_t i = r % j->rows, lo, hi;
        if (j->lower) {
            lo = i + j->k + 1;
            hi = j->cols;
        } else {
            lo = 0;
            hi = i + j->k;
        }
        lo = lo < 0 ? 0 : lo > j->cols ? j->cols : lo;
        hi = hi < 0 ? 0 : hi > j->cols ? j->cols : hi;
        if (hi > lo) memset(j->data + (size_t)(r * j->cols + lo) * j->es, 0, (size_t)(hi - lo) * j->es);
    }
}

static int tril_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_tril(g, node->i[0]);
    return grads[0] ? 0 : -1;
}

static int triu_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_triu(g, node->i[0]);
    return grads[0] ? 0 : -1;
}

static dc_tensor *triangle(dc_tensor *t, int64_t k, bool lower, const char *op)
{
    DC_CHECK_TENSOR(t, op);
    if (t->ndim < 2) return dc_error("%s: expected at least 2 dims, got %d", op, t->ndim);
    dc_tensor *out = dc__alloc_result(t->dtype, t->ndim, t->shape);
    if (!out) return NULL;
    if (dc_copy_(out, t) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    tri_job j = {dc_data(out), t->shape[t->ndim - 2], t->shape[t->ndim - 1], k,
                 dc__elsize(t->dtype), lower};
    int64_t rows = j.cols ? dc_numel(out) / j.cols : 0;
    if (rows > 0)
        dc_parallel_for(rows, j.cols >= ROW_GRAIN_ELEMS ? 1 : ROW_GRAIN_ELEMS / j.cols, tri_rows, &j);
    return finish(out, t, lower ? "tril" : "triu", lower ? tril_backward : triu_backward, &k, 1,
                  NULL, 0);
}

dc_tensor *dc_tril(dc_tensor *t, int64_t diagonal) { return triangle(t, diagonal, true, "dc_tril"); }
dc_tensor *dc_triu(dc_tensor *t, int64_t diagonal) { return triangle(t, diagonal, false, "dc_triu"); }

/* ---- unfold_dim (Tensor.unfold, a view) ---------------------------------------------------- */

static int unfold_dim_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);

/* The adjoint of unfold_dim: dx[.., w*step + k, ..] += g[.., w, .., k] (windows overlap when
 * step < size). Its backward is unfold_dim again. node->i = {dim, size, step}. */
static int unfold_dim_embed_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_unfold_dim(g, (int)node->i[0], node->i[1], node->i[2]);
    return grads[0] ? 0 : -1;
}

static dc_tensor *unfold_dim_embed(dc_tensor *g, int ndim, const int64_t *shape, int d,
                                   int64_t size, int64_t step)
{
    dc_tensor *out = dc__alloc_result(g->dtype, ndim, shape);
    if (!out) return NULL;
    memset(dc_data(out), 0, (size_t)dc_numel(out) * dc__elsize(out->dtype));
    int64_t dshape[DC_MAX_DIMS], dstride[DC_MAX_DIMS];
    memcpy(dshape, out->shape, sizeof dshape);
    memcpy(dstride, out->stride, sizeof dstride);
    dshape[d] = g->shape[d];
    dstride[d] = out->stride[d] * step;
    int rc = 0;
    for (int64_t k = 0; k < size && rc == 0; k++) {
        /* window element k of every window: positions w*step + k of dim d */
        dc_tensor *dst = dc__make_view(out, ndim, dshape, dstride, out->offset + k * out->stride[d]);
        dc_tensor *src = dc__make_view(g, ndim, g->shape, g->stride, g->offset + k * g->stride[ndim]);
        rc = dst && src ? dc_add_(dst, src) : -1;
        dc_tensor_free(dst);
        dc_tensor_free(src);
    }
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    int64_t params[3] = {d, size, step};
    return finish(out, g, "unfold_dim_backward", unfold_dim_embed_backward, params, 3, NULL, 0);
}

static int unfold_dim_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *x = node->inputs[0];
    grads[0] = unfold_dim_embed(g, x->ndim, x->shape, (int)node->i[0], node->i[1], node->i[2]);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_unfold_dim(dc_tensor *t, int dim, int64_t size, int64_t step)
{
    static const char op[] = "dc_unfold_dim";
    DC_CHECK_TENSOR(t, op);
    if (t->ndim == 0) return dc_error("dc_unfold_dim: cannot unfold a 0-dim tensor");
    if (t->ndim == DC_MAX_DIMS)
        return dc_error("dc_unfold_dim: the result would have %d dims (max %d)", t->ndim + 1,
                        DC_MAX_DIMS);
    int d = dc__norm_dim(dim, t->ndim, op);
    if (d < 0) return NULL;
    if (size < 1 || size > t->shape[d])
        return dc_error("dc_unfold_dim: window size %lld must be in [1, %lld] (size of dim %d)",
                        (long long)size, (long long)t->shape[d], d);
    if (step < 1) return dc_error("dc_unfold_dim: step must be positive, got %lld", (long long)step);
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(stride, t->stride, sizeof stride);
    shape[d] = (t->shape[d] - size) / step + 1;
    stride[d] = t->stride[d] * step;
    shape[t->ndim] = size;
    stride[t->ndim] = t->stride[d];
    dc_tensor *v = dc__make_view(t, t->ndim + 1, shape, stride, t->offset);
    int64_t params[3] = {d, size, step};
    return finish(v, t, "unfold_dim", unfold_dim_backward, params, 3, NULL, 0);
}

/* ---- unfold / fold (im2col / col2im) ------------------------------------------------------- */

typedef struct {
    dc_conv_shape s;
    bool f64;
    const char *src;
    char *dst;
    int64_t src_image, dst_image; /* elements per image */
    bool to_cols;
} im2col_job;

static void im2col_images(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const im2col_job *j = ctx;
    size_t es = j->f64 ? 8 : 4;
    for (int64_t b = begin; b < end; b++) {
        const char *src = j->src + (size_t)(b * j->src_image) * es;
        char *dst = j->dst + (size_t)(b * j->dst_image) * es;
        if (j->to_cols && j->f64) dc_im2col_f64(&j->s, (const double *)src, 1, (double *)dst);
        else if (j->to_cols) dc_im2col_f32(&j->s, (const float *)src, 1, (float *)dst);
        else if (j->f64) dc_col2im_f64(&j->s, (const double *)src, 1, (double *)dst);
        else dc_col2im_f32(&j->s, (const float *)src, 1, (float *)dst);
    }
}

/* Output positions of a sliding window along one dim; < 1 means none. */
static int64_t blocks_along(int64_t in, int k, int d, int p, int s)
{
    return (in + 2 * (int64_t)p - (int64_t)d * (k - 1) - 1) / s + 1;
}

static bool check_unfold_opts(const dc_unfold_opts *o, const char *op)
{
    for (int a = 0; a < 2; a++)
        if (o->kernel[a] < 1 || o->dilation[a] < 1 || o->stride[a] < 1 || o->padding[a] < 0) {
            dc_error("%s: kernel_size, dilation and stride must be >= 1 and padding >= 0, got "
                     "kernel (%d, %d), dilation (%d, %d), padding (%d, %d), stride (%d, %d)",
                     op, o->kernel[0], o->kernel[1], o->dilation[0], o->dilation[1],
                     o->padding[0], o->padding[1], o->stride[0], o->stride[1]);
            return false;
        }
    return true;
}

static dc_conv_shape conv_shape_of(int64_t c, int64_t h, int64_t w, int64_t oh, int64_t ow,
                                   const dc_unfold_opts *o)
{
    dc_conv_shape s = {.batch = 1, .groups = 1, .in_channels = c, .in_h = h, .in_w = w,
                       .out_channels = c, .out_h = oh, .out_w = ow,
                       .kernel_h = o->kernel[0], .kernel_w = o->kernel[1],
                       .stride_h = o->stride[0], .stride_w = o->stride[1],
                       .pad_h = o->padding[0], .pad_w = o->padding[1],
                       .dil_h = o->dilation[0], .dil_w = o->dilation[1]};
    return s;
}

/* Run im2col (to_cols) or col2im per image of the contiguous src into dst (zeroed first for
 * col2im, which accumulates). */
static void run_im2col(const dc_conv_shape *s, bool to_cols, int64_t images, const dc_tensor *src,
                       dc_tensor *dst)
{
    int64_t taps = s->in_channels * s->kernel_h * s->kernel_w, L = s->out_h * s->out_w;
    int64_t image = s->in_channels * s->in_h * s->in_w;
    im2col_job j = {*s, src->dtype == DC_F64, dc_data(src), dc_data(dst),
                    to_cols ? image : taps * L, to_cols ? taps * L : image, to_cols};
    if (!to_cols) memset(dc_data(dst), 0, (size_t)dc_numel(dst) * dc__elsize(dst->dtype));
    if (images * image == 0) return;
    int64_t per = image + taps * L;
    dc_parallel_for(images, per >= ROW_GRAIN_ELEMS ? 1 : ROW_GRAIN_ELEMS / per, im2col_images, &j);
}

/* opts packed into node->i: kernel, dilation, padding, stride (8 values), then out_h, out_w. */
static void pack_opts(const dc_unfold_opts *o, int64_t *p)
{
    for (int a = 0; a < 2; a++) {
        p[a] = o->kernel[a];
        p[2 + a] = o->dilation[a];
        p[4 + a] = o->padding[a];
        p[6 + a] = o->stride[a];
    }
}

static dc_unfold_opts unpack_opts(const int64_t *p)
{
    dc_unfold_opts o;
    for (int a = 0; a < 2; a++) {
        o.kernel[a] = (int)p[a];
        o.dilation[a] = (int)p[2 + a];
        o.padding[a] = (int)p[4 + a];
        o.stride[a] = (int)p[6 + a];
    }
    return o;
}

/* unfold and fold are each other's adjoint. */
static int unfold_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *x = node->inputs[0];
    grads[0] = dc_fold(g, x->shape[x->ndim - 2], x->shape[x->ndim - 1], unpack_opts(node->i));
    return grads[0] ? 0 : -1;
}

static int fold_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = dc_unfold(g, unpack_opts(node->i));
    return grads[0] ? 0 : -1;
}

/* Contiguous x, or a contiguous copy made without recording (unpublished, caller frees), so
 * the kernels can read whole images. */
static dc_tensor *raw_contiguous(dc_tensor *x)
{
    if (dc_is_contiguous(x)) return dc_tensor_retain(x);
    dc_tensor *c = dc__alloc_result(x->dtype, x->ndim, x->shape);
    if (c && dc_copy_(c, x) != 0) {
        dc_tensor_free(c);
        return NULL;
    }
    return c;
}

dc_tensor *dc_unfold(dc_tensor *x, dc_unfold_opts opts)
{
    static const char op[] = "dc_unfold";
    DC_CHECK_TENSOR(x, op);
    if (x->ndim != 3 && x->ndim != 4)
        return dc_error("dc_unfold: expected [N, C, H, W] or [C, H, W], got %d dims", x->ndim);
    if (!dc__check_float(x, op) || !check_unfold_opts(&opts, op)) return NULL;
    bool batched = x->ndim == 4;
    int64_t n = batched ? x->shape[0] : 1, c = x->shape[x->ndim - 3];
    int64_t h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    int64_t oh = blocks_along(h, opts.kernel[0], opts.dilation[0], opts.padding[0], opts.stride[0]);
    int64_t ow = blocks_along(w, opts.kernel[1], opts.dilation[1], opts.padding[1], opts.stride[1]);
    if (oh < 1 || ow < 1)
        return dc_error("dc_unfold: the %lldx%lld input (padding %d, %d) is smaller than the "
                        "dilated kernel: %lld x %lld blocks",
                        (long long)h, (long long)w, opts.padding[0], opts.padding[1],
                        (long long)oh, (long long)ow);
    int64_t shape[3] = {n, c * opts.kernel[0] * opts.kernel[1], oh * ow};
    dc_tensor *out = dc__alloc_result(x->dtype, batched ? 3 : 2, batched ? shape : shape + 1);
    dc_tensor *src = out ? raw_contiguous(x) : NULL;
    if (!src) {
        dc_tensor_free(out);
        return NULL;
    }
    dc_conv_shape s = conv_shape_of(c, h, w, oh, ow, &opts);
    run_im2col(&s, true, n, src, out);
    dc_tensor_free(src);
    int64_t params[8];
    pack_opts(&opts, params);
    return finish(out, x, "unfold", unfold_backward, params, 8, NULL, 0);
}

dc_tensor *dc_fold(dc_tensor *x, int64_t out_h, int64_t out_w, dc_unfold_opts opts)
{
    static const char op[] = "dc_fold";
    DC_CHECK_TENSOR(x, op);
    if (x->ndim != 2 && x->ndim != 3)
        return dc_error("dc_fold: expected [N, C*kh*kw, L] or [C*kh*kw, L], got %d dims",
                        x->ndim);
    if (!dc__check_float(x, op) || !check_unfold_opts(&opts, op)) return NULL;
    if (out_h < 1 || out_w < 1)
        return dc_error("dc_fold: output size (%lld, %lld) must be positive", (long long)out_h,
                        (long long)out_w);
    bool batched = x->ndim == 3;
    int64_t n = batched ? x->shape[0] : 1, rows = x->shape[x->ndim - 2], L = x->shape[x->ndim - 1];
    int64_t taps = (int64_t)opts.kernel[0] * opts.kernel[1];
    if (rows % taps != 0)
        return dc_error("dc_fold: dim %d has size %lld, not a multiple of the kernel's %lld taps",
                        x->ndim - 2, (long long)rows, (long long)taps);
    int64_t oh = blocks_along(out_h, opts.kernel[0], opts.dilation[0], opts.padding[0], opts.stride[0]);
    int64_t ow = blocks_along(out_w, opts.kernel[1], opts.dilation[1], opts.padding[1], opts.stride[1]);
    if (oh < 1 || ow < 1 || oh * ow != L)
        return dc_error("dc_fold: %lld blocks given, but output size (%lld, %lld) with these "
                        "options has %lld x %lld blocks",
                        (long long)L, (long long)out_h, (long long)out_w,
                        (long long)(oh < 0 ? 0 : oh), (long long)(ow < 0 ? 0 : ow));
    int64_t c = rows / taps;
    int64_t shape[4] = {n, c, out_h, out_w};
    dc_tensor *out = dc__alloc_result(x->dtype, batched ? 4 : 3, batched ? shape : shape + 1);
    dc_tensor *src = out ? raw_contiguous(x) : NULL;
    if (!src) {
        dc_tensor_free(out);
        return NULL;
    }
    dc_conv_shape s = conv_shape_of(c, out_h, out_w, oh, ow, &opts);
    run_im2col(&s, false, n, src, out);
    dc_tensor_free(src);
    int64_t params[8];
    pack_opts(&opts, params);
    return finish(out, x, "fold", fold_backward, params, 8, NULL, 0);
}

/* ---- meshgrid (views) ---------------------------------------------------------------------- */

int dc_meshgrid(dc_tensor *const *tensors, int n, dc_meshgrid_indexing indexing, dc_tensor **outs)
{
    if (!tensors || !outs) return dc_error("dc_meshgrid: the tensor list or output array is NULL"), -1;
    if (n < 1 || n > DC_MAX_DIMS)
        return dc_error("dc_meshgrid: expected 1 to %d tensors, got %d", DC_MAX_DIMS, n), -1;
    if (indexing != DC_MESHGRID_IJ && indexing != DC_MESHGRID_XY)
        return dc_error("dc_meshgrid: unknown indexing %d", (int)indexing), -1;
    int64_t shape[DC_MAX_DIMS];
    for (int k = 0; k < n; k++) {
        const dc_tensor *t = tensors[k];
        if (!t) return dc_error("dc_meshgrid: tensor %d is NULL", k), -1;
        if (t->ndim > 1)
            return dc_error("dc_meshgrid: tensor %d has %d dims (expected 0 or 1)", k, t->ndim), -1;
        if (t->dtype != tensors[0]->dtype)
            return dc_error("dc_meshgrid: tensor %d is %s but tensor 0 is %s", k,
                            dc_dtype_name(t->dtype), dc_dtype_name(tensors[0]->dtype)),
                   -1;
    }
    /* output dim of input k: xy swaps the first two */
    int pos[DC_MAX_DIMS];
    for (int k = 0; k < n; k++) pos[k] = k;
    if (indexing == DC_MESHGRID_XY && n >= 2) {
        pos[0] = 1;
        pos[1] = 0;
    }
    for (int k = 0; k < n; k++) shape[pos[k]] = dc_numel(tensors[k]);
    size_t scope = dc_scope_begin();
    for (int k = 0; k < n; k++) {
        int64_t one[DC_MAX_DIMS];
        for (int d = 0; d < n; d++) one[d] = d == pos[k] ? shape[d] : 1;
        dc_tensor *v = dc_reshape(tensors[k], n, one);
        outs[k] = v ? dc_expand(v, n, shape) : NULL;
        if (!outs[k]) {
            for (int i = 0; i <= k; i++) outs[i] = NULL;
            dc_scope_end(scope);
            return -1;
        }
    }
    return publish_all(scope, outs, n);
}
