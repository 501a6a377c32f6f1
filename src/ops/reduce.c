/* Reductions (book §2.3): sum, mean, var, max/min and argmax/argmin over any set of dims of a
 * strided tensor, with their backwards.
 *
 * One engine serves them all. A reduction is planned as two lists of dims: the kept dims
 * (one output element per index) and the reduced dims (folded into that element). Both
 * lists are sorted by input stride and merged where contiguous, so a transposed input reads
 * memory in order. Then one of two strategies:
 *   - rows:    the innermost dim in memory is reduced (sum over the last dim): each output
 *              folds contiguous rows, with LANES independent accumulators so gcc vectorises
 *              the loop without reassociating (no -ffast-math needed);
 *   - columns: the innermost dim in memory is kept (sum over the batch dim): a tile of TILE
 *              neighbouring outputs is updated row by row, a vector add per input row.
 * Work is split over the thread pool by output elements, and when there are fewer outputs
 * than threads (dc_sum_all) the reduction itself is split in parts whose partial results
 * are combined in order.
 *
 * Accuracy: float32 sums are accumulated in float lanes for BLOCK elements (4 adds per lane)
 * and then in double lanes (rows), or in double directly (columns), so a sum of 10^6 floats
 * is exact to float precision. var is two-pass: mean first, then the sum of squared deviations. */
/* Float selects (a > b ? a : b) are if-converted into vector code only when compares may not
 * trap; deepc never reads FP exception flags, so this changes no result. */
#pragma GCC optimize("no-trapping-math")

#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <string.h>

#define REDUCE_GRAIN 32768 /* input elements per thread chunk, at least */
#define LANES 16           /* independent accumulators in the contiguous inner loops */
#define BLOCK 64           /* T lanes are flushed into double lanes every BLOCK elements */
#define TILE 256           /* outputs per task in the column strategy */
#define MAX_PARTS 64

typedef enum { RED_SUM, RED_SQDEV, RED_MAX, RED_MIN } reduce_kind;
#define IS_EXTREME(kind) ((kind) == RED_MAX || (kind) == RED_MIN)

/* A reduction of one input as kept dims x reduced dims (each list outermost first). */
typedef struct {
    int nkept, nred;
    int64_t kept_size[DC_MAX_DIMS], kept_in[DC_MAX_DIMS], kept_out[DC_MAX_DIMS];
    int64_t red_size[DC_MAX_DIMS], red_in[DC_MAX_DIMS];
    int64_t n_out, n_red;
    bool columns; /* strategy: the innermost kept dim is the vector dim */
} reduce_plan;

typedef struct {
    double val;
    int64_t idx; /* argmax: position along the reduced dim */
} partial;

typedef struct {
    const reduce_plan *plan;
    reduce_kind kind;
    dc_dtype dtype;
    const char *in;   /* element [0, ..., 0] of the input */
    char *out;        /* values (and, for RED_SQDEV, the centers to subtract); may be NULL */
    int64_t *out_idx; /* argmax positions, or NULL */
    double scale;     /* sum kinds: stored value = total * scale */
    int64_t parts;    /* each output's reduction is split in `parts` spans */
    int64_t tiles;    /* column strategy: tiles per row of the innermost kept dim */
    double *part_val; /* [n_out * parts] partial results when parts > 1 */
    int64_t *part_idx;
} reduce_job;

/* ---- Planning ------------------------------------------------------------------------------ */

/* Sort dims by input stride, largest first (stable), then merge neighbours that are
 * contiguous for every stride array. Order within a list never matters for the result of a
 * sum; max reduces one dim only. */
static int sort_and_merge(int n, int64_t *size, int64_t *in, int64_t *out)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && in[k - 1] < in[k]; k--) {
            int64_t t;
            t = size[k], size[k] = size[k - 1], size[k - 1] = t;
            t = in[k], in[k] = in[k - 1], in[k - 1] = t;
            if (out) t = out[k], out[k] = out[k - 1], out[k - 1] = t;
        }
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && in[m - 1] == in[i] * size[i] && (!out || out[m - 1] == out[i] * size[i])) {
            size[m - 1] *= size[i];
            in[m - 1] = in[i];
            if (out) out[m - 1] = out[i];
            continue;
        }
        size[m] = size[i], in[m] = in[i];
        if (out) out[m] = out[i];
        m++;
    }
    return m;
}

/* out_stride: strides of the output in the keepdim shape (any layout of the kept dims). */
static void plan_reduction(reduce_plan *pl, const dc_tensor *a, const bool *reduced,
                           const int64_t *out_stride)
{
    memset(pl, 0, sizeof *pl);
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1) continue; /* contributes index 0 only */
        if (reduced[d]) {
            pl->red_size[pl->nred] = a->shape[d];
            pl->red_in[pl->nred++] = a->stride[d];
        } else {
            pl->kept_size[pl->nkept] = a->shape[d];
            pl->kept_in[pl->nkept] = a->stride[d];
            pl->kept_out[pl->nkept++] = out_stride[d];
        }
    }
    pl->nkept = sort_and_merge(pl->nkept, pl->kept_size, pl->kept_in, pl->kept_out);
    pl->nred = sort_and_merge(pl->nred, pl->red_size, pl->red_in, NULL);
    bool real_kept = pl->nkept > 0, real_red = pl->nred > 0;
    if (!real_kept) pl->kept_size[0] = 1, pl->kept_in[0] = 0, pl->kept_out[0] = 0, pl->nkept = 1;
    if (!real_red) pl->red_size[0] = 1, pl->red_in[0] = 0, pl->nred = 1;
    pl->n_out = dc__shape_numel(pl->nkept, pl->kept_size);
    pl->n_red = dc__shape_numel(pl->nred, pl->red_size);
    int lk = pl->nkept - 1, lr = pl->nred - 1;
    pl->columns = real_kept && real_red && pl->n_red > 0 && pl->kept_size[lk] >= LANES &&
                  pl->kept_in[lk] < pl->red_in[lr];
}

/* ---- Kernels, generated for float and double ------------------------------------------------ */

/* max keeps the first maximum; a NaN beats everything (torch propagates NaN) */
#define BEATS(x, best) ((x) > (best) || ((x) != (x) && (best) == (best)))
/* min likewise keeps the first minimum, and a NaN beats everything too */
#define BEATS_MIN(x, best) ((x) < (best) || ((x) != (x) && (best) == (best)))
#define WINS(kind, x, best) ((kind) == RED_MIN ? BEATS_MIN(x, best) : BEATS(x, best))

static void merge_max(partial *acc, reduce_kind kind, double v, int64_t idx, bool first)
{
    if (first || WINS(kind, v, acc->val)) acc->val = v, acc->idx = idx;
}

#define DEFINE_REDUCE_KERNELS(T, SFX)                                                          \
    /* sum of TERM over p[0], p[s], ..., p[(n-1)s]; TERM is x or (x - c)^2 */                  \
    static double row_sum_##SFX(const T *p, int64_t n, int64_t s, T c, bool sqdev)             \
    {                                                                                          \
        double total = 0, wide[LANES] = {0};                                                   \
        int64_t i = 0;                                                                         \
        if (s == 1) {                                                                          \
            while (n - i >= LANES) {                                                           \
                T lane[LANES] = {0};                                                           \
                int64_t stop = n - i > BLOCK ? i + BLOCK : n;                                  \
                if (sqdev) {                                                                   \
                    for (; i + LANES <= stop; i += LANES)                                      \
                        for (int k = 0; k < LANES; k++)                                        \
                            lane[k] += (p[i + k] - c) * (p[i + k] - c);                        \
                } else {                                                                       \
                    for (; i + LANES <= stop; i += LANES)                                      \
                        for (int k = 0; k < LANES; k++) lane[k] += p[i + k];                   \
                }                                                                              \
                for (int k = 0; k < LANES; k++) wide[k] += lane[k];                            \
            }                                                                                  \
            for (int k = 0; k < LANES; k++) total += wide[k];                                  \
        }                                                                                      \
        for (; i < n; i++) {                                                                   \
            double x = p[i * s];                                                               \
            total += sqdev ? ((T)x - c) * ((T)x - c) : x;                                      \
        }                                                                                      \
        return total;                                                                          \
    }                                                                                          \
                                                                                               \
    /* Rows strategy: fold reduced positions [r0, r1) of the output at in_off. */              \
    static partial span_##SFX(const reduce_job *j, int64_t in_off, int64_t out_off,            \
                              int64_t r0, int64_t r1)                                          \
    {                                                                                          \
        const reduce_plan *pl = j->plan;                                                       \
        const int last = pl->nred - 1;                                                         \
        const int64_t inner = pl->red_size[last], s = pl->red_in[last];                        \
        const T center = j->kind == RED_SQDEV ? ((const T *)j->out)[out_off] : 0;              \
        partial acc = {0, 0};                                                                  \
        for (int64_t r = r0; r < r1;) {                                                        \
            int64_t col = r % inner, count = inner - col;                                      \
            if (count > r1 - r) count = r1 - r;                                                \
            const T *p = (const T *)j->in + in_off + col * s +                                 \
                         dc__unravel(last, pl->red_size, pl->red_in, r / inner);                   \
            if (!IS_EXTREME(j->kind)) {                                                        \
                acc.val += row_sum_##SFX(p, count, s, center, j->kind == RED_SQDEV);           \
            } else {                                                                           \
                T best = p[0];                                                                 \
                int64_t at = 0;                                                                \
                if (j->kind == RED_MAX) {                                                      \
                    for (int64_t i = 1; i < count; i++)                                        \
                        if (BEATS(p[i * s], best)) best = p[i * s], at = i;                    \
                } else {                                                                       \
                    for (int64_t i = 1; i < count; i++)                                        \
                        if (BEATS_MIN(p[i * s], best)) best = p[i * s], at = i;                \
                }                                                                              \
                merge_max(&acc, j->kind, best, r + at, r == r0);                               \
            }                                                                                  \
            r += count;                                                                        \
        }                                                                                      \
        return acc;                                                                            \
    }                                                                                          \
                                                                                               \
    /* Columns strategy: up to TILE neighbouring outputs along the innermost kept dim, over    \
     * reduced positions [r0, r1); results into res[0..len). */                                \
    static void tile_##SFX(const reduce_job *j, int64_t in_off, int64_t out_off, int64_t len,  \
                           int64_t r0, int64_t r1, partial *res)                               \
    {                                                                                          \
        const reduce_plan *pl = j->plan;                                                       \
        const int lk = pl->nkept - 1, nred = pl->nred;                                         \
        const int64_t ks = pl->kept_in[lk], os = pl->kept_out[lk];                             \
        double acc[TILE];                                                                      \
        T center[TILE], best[TILE];                                                            \
        int64_t at[TILE];                                                                      \
        for (int64_t c = 0; c < len; c++) {                                                    \
            acc[c] = 0;                                                                        \
            center[c] = j->kind == RED_SQDEV ? ((const T *)j->out)[out_off + c * os] : 0;      \
        }                                                                                      \
        /* odometer over the reduced dims, started at r0 */                                    \
        int64_t pos[DC_MAX_DIMS], off = 0;                                                     \
        {                                                                                      \
            int64_t r = r0;                                                                    \
            for (int d = nred - 1; d >= 0; d--) {                                              \
                pos[d] = r % pl->red_size[d];                                                  \
                r /= pl->red_size[d];                                                          \
                off += pos[d] * pl->red_in[d];                                                 \
            }                                                                                  \
        }                                                                                      \
        for (int64_t r = r0; r < r1; r++) {                                                    \
            const T *p = (const T *)j->in + in_off + off;                                      \
            if (j->kind == RED_MAX) {                                                          \
                for (int64_t c = 0; c < len; c++) {                                            \
                    T x = p[c * ks];                                                           \
                    if (r == r0 || BEATS(x, best[c])) best[c] = x, at[c] = r;                  \
                }                                                                              \
            } else if (j->kind == RED_MIN) {                                                   \
                for (int64_t c = 0; c < len; c++) {                                            \
                    T x = p[c * ks];                                                           \
                    if (r == r0 || BEATS_MIN(x, best[c])) best[c] = x, at[c] = r;              \
                }                                                                              \
            } else if (ks == 1 && j->kind == RED_SUM) {                                        \
                int64_t c = 0;                                                                 \
                for (; c + LANES <= len; c += LANES)                                           \
                    for (int k = 0; k < LANES; k++) acc[c + k] += p[c + k];                    \
                for (; c < len; c++) acc[c] += p[c];                                           \
            } else if (j->kind == RED_SUM) {                                                   \
                for (int64_t c = 0; c < len; c++) acc[c] += p[c * ks];                         \
            } else {                                                                           \
                for (int64_t c = 0; c < len; c++) {                                            \
                    T dev = p[c * ks] - center[c];                                             \
                    acc[c] += dev * dev;                                                       \
                }                                                                              \
            }                                                                                  \
            for (int d = nred - 1; d >= 0; d--) { /* advance the odometer */                   \
                off += pl->red_in[d];                                                          \
                if (++pos[d] < pl->red_size[d]) break;                                         \
                off -= pos[d] * pl->red_in[d];                                                 \
                pos[d] = 0;                                                                    \
            }                                                                                  \
        }                                                                                      \
        for (int64_t c = 0; c < len; c++)                                                      \
            res[c] = IS_EXTREME(j->kind) ? (partial){best[c], at[c]} : (partial){acc[c], 0};   \
    }

DEFINE_REDUCE_KERNELS(float, f32)
DEFINE_REDUCE_KERNELS(double, f64)

/* Write the final value of one output element. */
static void store_result(const reduce_job *j, int64_t out_off, partial r)
{
    if (j->out) {
        double v = IS_EXTREME(j->kind) ? r.val : r.val * j->scale;
        if (j->dtype == DC_F32) ((float *)j->out)[out_off] = (float)v;
        else ((double *)j->out)[out_off] = v;
    }
    if (j->out_idx) j->out_idx[out_off] = r.idx;
}

/* Hand a partial result of output o (plan order), part p, to its destination. */
static void emit(const reduce_job *j, int64_t o, int64_t p, int64_t out_off, partial r)
{
    if (j->parts == 1) {
        store_result(j, out_off, r);
        return;
    }
    j->part_val[o * j->parts + p] = r.val;
    if (j->part_idx) j->part_idx[o * j->parts + p] = r.idx;
}

static void rows_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const reduce_job *j = ctx;
    const reduce_plan *pl = j->plan;
    for (int64_t t = begin; t < end; t++) {
        int64_t o = t / j->parts, p = t % j->parts;
        int64_t r0 = pl->n_red * p / j->parts, r1 = pl->n_red * (p + 1) / j->parts;
        int64_t in_off = dc__unravel(pl->nkept, pl->kept_size, pl->kept_in, o);
        int64_t out_off = dc__unravel(pl->nkept, pl->kept_size, pl->kept_out, o);
        partial r = j->dtype == DC_F32 ? span_f32(j, in_off, out_off, r0, r1)
                                       : span_f64(j, in_off, out_off, r0, r1);
        emit(j, o, p, out_off, r);
    }
}

static void columns_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const reduce_job *j = ctx;
    const reduce_plan *pl = j->plan;
    const int lk = pl->nkept - 1;
    const int64_t K = pl->kept_size[lk];
    partial res[TILE];
    for (int64_t t = begin; t < end; t++) {
        int64_t unit = t / j->parts, p = t % j->parts;
        int64_t q = unit / j->tiles, c0 = unit % j->tiles * TILE;
        int64_t len = K - c0 < TILE ? K - c0 : TILE;
        int64_t r0 = pl->n_red * p / j->parts, r1 = pl->n_red * (p + 1) / j->parts;
        int64_t in_off = dc__unravel(lk, pl->kept_size, pl->kept_in, q) + c0 * pl->kept_in[lk];
        int64_t out_off = dc__unravel(lk, pl->kept_size, pl->kept_out, q) + c0 * pl->kept_out[lk];
        if (j->dtype == DC_F32) tile_f32(j, in_off, out_off, len, r0, r1, res);
        else tile_f64(j, in_off, out_off, len, r0, r1, res);
        for (int64_t c = 0; c < len; c++)
            emit(j, q * K + c0 + c, p, out_off + c * pl->kept_out[lk], res[c]);
    }
}

/* Run one pass of the engine over a planned reduction. Returns 0 or -1 (out of memory). */
static int run_reduction(const reduce_plan *pl, reduce_kind kind, const dc_tensor *a, char *out,
                         int64_t *out_idx, double scale)
{
    if (pl->n_out == 0) return 0;
    reduce_job j = {pl, kind, a->dtype, dc_data(a), out, out_idx, scale, 1, 1, NULL, NULL};
    int64_t units = pl->n_out, unit_cost = pl->n_red;
    if (pl->columns) {
        int64_t K = pl->kept_size[pl->nkept - 1];
        j.tiles = (K + TILE - 1) / TILE;
        units = pl->n_out / K * j.tiles;
        unit_cost = pl->n_red * (K < TILE ? K : TILE);
    }
    /* Fewer units than threads (a full reduction): split each reduction in parts. */
    int nthreads = dc_get_num_threads();
    if (nthreads > 1 && units < nthreads && units * unit_cost >= 2 * REDUCE_GRAIN) {
        int64_t parts = (nthreads + units - 1) / units;
        int64_t max_parts = pl->n_red / 1024 > 1 ? pl->n_red / 1024 : 1;
        j.parts = parts < max_parts ? parts : max_parts;
        if (j.parts > MAX_PARTS) j.parts = MAX_PARTS;
    }
    if (j.parts > 1) {
        j.part_val = dc__malloc((size_t)(pl->n_out * j.parts) * sizeof(double));
        if (IS_EXTREME(kind)) j.part_idx = dc__malloc((size_t)(pl->n_out * j.parts) * sizeof(int64_t));
        if (!j.part_val || (IS_EXTREME(kind) && !j.part_idx)) {
            dc__free(j.part_val);
            dc__free(j.part_idx);
            return -1;
        }
    }
    int64_t cost = unit_cost / j.parts > 0 ? unit_cost / j.parts : 1;
    int64_t grain = REDUCE_GRAIN / cost > 0 ? REDUCE_GRAIN / cost : 1;
    dc_parallel_for(units * j.parts, grain, pl->columns ? columns_range : rows_range, &j);
    if (j.parts > 1) { /* combine the parts in order (first maximum wins) */
        for (int64_t o = 0; o < pl->n_out; o++) {
            partial r = {0, 0};
            for (int64_t p = 0; p < j.parts; p++) {
                double v = j.part_val[o * j.parts + p];
                if (IS_EXTREME(kind)) merge_max(&r, kind, v, j.part_idx[o * j.parts + p], p == 0);
                else r.val += v;
            }
            store_result(&j, dc__unravel(pl->nkept, pl->kept_size, pl->kept_out, o), r);
        }
        dc__free(j.part_val);
        dc__free(j.part_idx);
    }
    return 0;
}

/* ---- Argument checks and shapes -------------------------------------------------------------- */

/* Mark the dims to reduce (ndims == 0: all). Repeated or out-of-range dims are errors. */
static bool parse_dims(const dc_tensor *a, int ndims, const int *dims, const char *op,
                       bool *reduced)
{
    for (int d = 0; d < DC_MAX_DIMS; d++) reduced[d] = ndims == 0;
    if (ndims < 0) return dc_error("%s: ndims must be >= 0, got %d", op, ndims), false;
    if (ndims > 0 && !dims) return dc_error("%s: dims is NULL but ndims is %d", op, ndims), false;
    bool seen[DC_MAX_DIMS] = {false};
    for (int k = 0; k < ndims; k++) {
        int d = dc__norm_dim(dims[k], a->ndim, op);
        if (d < 0) return false;
        if (seen[d])
            return dc_error("%s: dim %d appears more than once in the dims to reduce", op, dims[k]),
                   false;
        seen[d] = true;
        if (a->ndim > 0) reduced[d] = true; /* a scalar has no dim to remove */
    }
    return true;
}

/* Output shape (keepdim: reduced dims kept with size 1) and the output's strides in the
 * keepdim shape. Returns the output's ndim. */
static int reduced_shape(const dc_tensor *a, const bool *reduced, bool keepdim, int64_t *shape,
                         int64_t *keep_stride)
{
    int64_t keep_shape[DC_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < a->ndim; d++) {
        keep_shape[d] = reduced[d] ? 1 : a->shape[d];
        if (keepdim || !reduced[d]) shape[n++] = keep_shape[d];
    }
    dc__contiguous_strides(a->ndim, keep_shape, keep_stride);
    return n;
}

static int64_t reduced_count(const dc_tensor *a, const bool *reduced)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++)
        if (reduced[d]) n *= a->shape[d];
    return n;
}

/* ---- Backward -------------------------------------------------------------------------------- */

/* node->i[0] = keepdim, i[1 + d] = 1 if input dim d was reduced; f[0] = scale. */

/* g (output shape) viewed with the input's ndim: size 1 on the reduced dims. */
static dc_tensor *regrow_dims(dc_node *node, dc_tensor *g)
{
    const dc_tensor *in = node->inputs[0];
    if (node->i[0]) return g; /* keepdim */
    for (int d = 0; g && d < in->ndim; d++)
        if (node->i[1 + d]) g = dc_unsqueeze(g, d);
    return g;
}

/* sum: dx = g broadcast back; mean: the same times 1/N */
static int sum_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *in = node->inputs[0];
    if (node->f[0] != 1.0) g = dc_mul_scalar(g, node->f[0]);
    grads[0] = dc_expand(regrow_dims(node, g), in->ndim, in->shape);
    return grads[0] ? 0 : -1;
}

/* var = sum (x - mean)^2 / (N - correction): dx = 2 (x - mean) g / (N - correction) */
static int var_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0];
    int dims[DC_MAX_DIMS], n = 0;
    for (int d = 0; d < x->ndim; d++)
        if (node->i[1 + d]) dims[n++] = d;
    /* n == 0 only for a scalar input: its mean is itself */
    dc_tensor *mean = n > 0 ? dc_mean(x, n, dims, true) : x;
    dc_tensor *g_scaled = dc_mul_scalar(regrow_dims(node, g), 2.0 * node->f[0]);
    grads[0] = dc_mul(dc_sub(x, mean), g_scaled);
    return grads[0] ? 0 : -1;
}

typedef struct {
    int ndim, dim;
    int64_t shape[DC_MAX_DIMS]; /* the input shape with size 1 at dim */
    int64_t g_stride[DC_MAX_DIMS], idx_stride[DC_MAX_DIMS], dx_stride[DC_MAX_DIMS];
    const char *g;
    const int64_t *idx;
    char *dx;
    dc_dtype dtype;
} scatter_job;

static void scatter_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const scatter_job *j = ctx;
    for (int64_t o = begin; o < end; o++) {
        int64_t go = dc__unravel(j->ndim, j->shape, j->g_stride, o);
        int64_t io = dc__unravel(j->ndim, j->shape, j->idx_stride, o);
        int64_t xo = dc__unravel(j->ndim, j->shape, j->dx_stride, o) +
                     (j->ndim ? j->idx[io] * j->dx_stride[j->dim] : 0);
        if (j->dtype == DC_F32) ((float *)j->dx)[xo] = ((const float *)j->g)[go];
        else ((double *)j->dx)[xo] = ((const double *)j->g)[go];
    }
}

/* Strides of t (the output of max) in the keepdim shape: 0 on the reduced dim. */
static void keepdim_strides(const dc_tensor *t, int ndim, int dim, bool keepdim, int64_t *stride)
{
    for (int d = 0, k = 0; d < ndim; d++) {
        if (d == dim && !keepdim) stride[d] = 0;
        else stride[d] = t->stride[k++];
    }
}

/* max (min): dx = g at the (first) maximal (minimal) element of each reduced row, 0 elsewhere */
static int max_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *in = node->inputs[0];
    const dc_tensor *idx = node->saved[0];
    dc_tensor *dx = dc_zeros(in->dtype, in->ndim, in->shape);
    if (!dx) return -1;
    scatter_job j = {.ndim = in->ndim, .dim = (int)node->i[1], .g = dc_data(g),
                     .idx = dc_data(idx), .dx = dc_data(dx), .dtype = in->dtype};
    memcpy(j.shape, in->shape, sizeof j.shape);
    memcpy(j.dx_stride, dx->stride, sizeof j.dx_stride);
    if (in->ndim > 0) j.shape[j.dim] = 1;
    keepdim_strides(g, in->ndim, j.dim, node->i[0], j.g_stride);
    keepdim_strides(idx, in->ndim, j.dim, node->i[0], j.idx_stride);
    dc_parallel_for(dc__shape_numel(in->ndim, j.shape), 4096, scatter_range, &j);
    grads[0] = dx;
    return 0;
}

/* ---- Forward --------------------------------------------------------------------------------- */

/* sum, mean and var share one driver; correction < 0 means "not var". */
static dc_tensor *sum_like(const char *op, const char *name, dc_tensor *a, int ndims,
                           const int *dims, bool keepdim, bool mean, int correction)
{
    DC_CHECK_TENSOR(a, op);
    if (!dc__check_float(a, op)) return NULL;
    bool reduced[DC_MAX_DIMS];
    if (!parse_dims(a, ndims, dims, op, reduced)) return NULL;
    int64_t shape[DC_MAX_DIMS], keep_stride[DC_MAX_DIMS];
    int ndim = reduced_shape(a, reduced, keepdim, shape, keep_stride);
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;
    reduce_plan pl;
    plan_reduction(&pl, a, reduced, keep_stride);
    const int64_t count = reduced_count(a, reduced);
    const bool is_var = correction >= 0;
    double scale = mean || is_var ? 1.0 / (double)count : 1.0;
    int rc = run_reduction(&pl, RED_SUM, a, dc_data(out), NULL, scale);
    double var_scale = 1.0 / (double)(count - correction > 0 ? count - correction : 0);
    if (rc == 0 && is_var) rc = run_reduction(&pl, RED_SQDEV, a, dc_data(out), NULL, var_scale);
    dc_node *node = NULL;
    if (rc == 0)
        rc = dc__record(out, name, is_var ? var_backward : sum_backward, 1, &a, &node);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = keepdim;
        for (int d = 0; d < a->ndim; d++) node->i[1 + d] = reduced[d];
        node->f[0] = is_var ? var_scale : scale;
        if (is_var && dc__save(node, a) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* sum over dims: out[kept] = sum_{reduced} a */
dc_tensor *dc_sum(dc_tensor *a, int ndims, const int *dims, bool keepdim)
{
    return sum_like("dc_sum", "sum", a, ndims, dims, keepdim, false, -1);
}

/* mean = sum / N (N = number of reduced elements; NaN for N = 0, like torch) */
dc_tensor *dc_mean(dc_tensor *a, int ndims, const int *dims, bool keepdim)
{
    return sum_like("dc_mean", "mean", a, ndims, dims, keepdim, true, -1);
}

/* var = sum (a - mean)^2 / max(0, N - correction) */
dc_tensor *dc_var(dc_tensor *a, int ndims, const int *dims, int correction, bool keepdim)
{
    if (a && correction < 0) return dc_error("dc_var: correction must be >= 0, got %d", correction);
    return sum_like("dc_var", "var", a, ndims, dims, keepdim, false, correction);
}

dc_tensor *dc_sum_all(dc_tensor *a) { return sum_like("dc_sum_all", "sum", a, 0, NULL, false, false, -1); }
dc_tensor *dc_mean_all(dc_tensor *a) { return sum_like("dc_mean_all", "mean", a, 0, NULL, false, true, -1); }

/* max / argmax (kind RED_MAX) or min / argmin (RED_MIN) along one dim. want_values: dc_max /
 * dc_min (with gradient), else dc_argmax / dc_argmin. */
static dc_tensor *max_like(const char *op, dc_tensor *a, int dim, bool keepdim, bool want_values,
                           reduce_kind kind)
{
    DC_CHECK_TENSOR(a, op);
    if (!dc__check_float(a, op)) return NULL;
    int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    if (a->ndim > 0 && a->shape[d] == 0)
        return dc_error("%s: cannot reduce dim %d of size 0 (no %s)", op, dim,
                        kind == RED_MIN ? "minimum" : "maximum");
    bool reduced[DC_MAX_DIMS] = {false};
    if (a->ndim > 0) reduced[d] = true;
    int64_t shape[DC_MAX_DIMS], keep_stride[DC_MAX_DIMS];
    int ndim = reduced_shape(a, reduced, keepdim, shape, keep_stride);
    bool track_grad = want_values && dc__grad_enabled && a->requires_grad;
    dc_tensor *values = want_values ? dc__alloc_result(a->dtype, ndim, shape) : NULL;
    dc_tensor *idx = !want_values || track_grad ? dc__alloc_result(DC_I64, ndim, shape) : NULL;
    if ((want_values && !values) || ((!want_values || track_grad) && !idx)) {
        dc_tensor_free(values);
        dc_tensor_free(idx);
        return NULL;
    }
    reduce_plan pl;
    plan_reduction(&pl, a, reduced, keep_stride);
    int rc = run_reduction(&pl, kind, a, values ? dc_data(values) : NULL,
                           idx ? dc_data(idx) : NULL, 1.0);
    if (!want_values) {
        if (rc != 0) dc_tensor_free(idx), idx = NULL;
        return dc__publish(idx);
    }
    dc_node *node = NULL;
    if (rc == 0)
        rc = dc__record(values, kind == RED_MIN ? "min" : "max", max_backward, 1, &a, &node);
    if (rc == 0 && node) {
        node->i[0] = keepdim;
        node->i[1] = d;
        rc = dc__save(node, idx) < 0 ? -1 : 0;
    }
    dc_tensor_free(idx); /* the node keeps its own alias */
    if (rc != 0) {
        dc_tensor_free(values);
        return NULL;
    }
    return dc__publish(values);
}

dc_tensor *dc_max(dc_tensor *a, int dim, bool keepdim) { return max_like("dc_max", a, dim, keepdim, true, RED_MAX); }

dc_tensor *dc_argmax(dc_tensor *a, int dim, bool keepdim)
{
    return max_like("dc_argmax", a, dim, keepdim, false, RED_MAX);
}

/* min: the same engine with the comparison reversed; dx = g at the first minimal element */
dc_tensor *dc_min(dc_tensor *a, int dim, bool keepdim) { return max_like("dc_min", a, dim, keepdim, true, RED_MIN); }

dc_tensor *dc_argmin(dc_tensor *a, int dim, bool keepdim)
{
    return max_like("dc_argmin", a, dim, keepdim, false, RED_MIN);
}
