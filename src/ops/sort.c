/* Sorting and searching: sort, argsort, topk, unique, searchsorted.
 *
 * Every sort is a stable merge sort of (key, position) pairs, one row (all coordinates but
 * `dim`) at a time: insertion sort on runs of RUN elements, then bottom-up merges between two
 * buffers, O(n log n) per row. Rows are split over the thread pool; each thread sorts in its
 * own slice of one scratch allocation. Ties keep their input order in both directions
 * (torch.sort(stable=True)); NaN compares as larger than every number (+inf included), so
 * ascending puts the NaNs last and descending puts them first, in input order, like torch.
 *
 * sort and topk values carry a gradient: out = a.gather(dim, indices), so
 * da = zeros.scatter(dim, indices, g) (the indices of one row are distinct). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <string.h>

#define RUN 32             /* insertion-sorted run length */
#define SORT_GRAIN 32768   /* elements per thread chunk, at least */
#define SEARCH_GRAIN 4096  /* values per thread chunk in searchsorted */

/* ---- Stable merge sort of (key, position) pairs, per dtype and direction ------------------- */

/* x goes before y: ascending x < y, NaN after every number; descending x > y, NaN first. For
 * int64 keys the NaN tests fold away. */
#define BEFORE_ASC(x, y) ((x) < (y) || ((y) != (y) && (x) == (x)))
#define BEFORE_DESC(x, y) ((x) > (y) || ((x) != (x) && (y) == (y)))

#define DEFINE_PAIR(T, SFX)                                                                    \
    typedef struct {                                                                           \
        T key;                                                                                 \
        int64_t pos;                                                                           \
    } pair_##SFX;

DEFINE_PAIR(float, f32)
DEFINE_PAIR(double, f64)
DEFINE_PAIR(int64_t, i64)

/* Sort p[0..n) stably with tmp[0..n) as the second buffer; returns the buffer holding the
 * result (p or tmp). A right element moves ahead of a left one only if strictly BEFORE it. */
#define DEFINE_MERGE_SORT(SFX, DIR, BEFORE)                                                    \
    static pair_##SFX *merge_sort_##SFX##_##DIR(pair_##SFX *p, pair_##SFX *tmp, int64_t n)     \
    {                                                                                          \
        for (int64_t lo = 0; lo < n; lo += RUN) {                                              \
            const int64_t hi = lo + RUN < n ? lo + RUN : n;                                    \
            for (int64_t i = lo + 1; i < hi; i++) {                                            \
                pair_##SFX x = p[i];                                                           \
                int64_t k = i;                                                                 \
                for (; k > lo && BEFORE(x.key, p[k - 1].key); k--) p[k] = p[k - 1];            \
                p[k] = x;                                                                      \
            }                                                                                  \
        }                                                                                      \
        pair_##SFX *src = p, *dst = tmp;                                                       \
        for (int64_t width = RUN; width < n; width *= 2) {                                     \
            for (int64_t lo = 0; lo < n; lo += 2 * width) {                                    \
                const int64_t mid = lo + width < n ? lo + width : n;                           \
                const int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;                    \
                int64_t i = lo, j = mid, o = lo;                                               \
                while (i < mid && j < hi)                                                      \
                    dst[o++] = BEFORE(src[j].key, src[i].key) ? src[j++] : src[i++];           \
                while (i < mid) dst[o++] = src[i++];                                           \
                while (j < hi) dst[o++] = src[j++];                                            \
            }                                                                                  \
            pair_##SFX *t = src;                                                               \
            src = dst, dst = t;                                                                \
        }                                                                                      \
        return src;                                                                            \
    }

DEFINE_MERGE_SORT(f32, asc, BEFORE_ASC)
DEFINE_MERGE_SORT(f32, desc, BEFORE_DESC)
DEFINE_MERGE_SORT(f64, asc, BEFORE_ASC)
DEFINE_MERGE_SORT(f64, desc, BEFORE_DESC)
DEFINE_MERGE_SORT(i64, asc, BEFORE_ASC)
DEFINE_MERGE_SORT(i64, desc, BEFORE_DESC)

/* ---- Rows ----------------------------------------------------------------------------------- */

/* Sort every row of a strided source along dim and keep the first k of each: values (same
 * dtype, may be NULL) and positions (I64, may be NULL), both contiguous [.., k, ..]. */
typedef struct {
    dc_dtype dtype;
    int ndim, dim;
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS]; /* the source */
    int64_t out_stride[DC_MAX_DIMS];                 /* the outputs (contiguous, dim -> k) */
    const char *src;
    char *values;
    int64_t *indices;
    int64_t n, k;
    bool descending;
    char *scratch; /* 2 * n pairs per thread */
} sort_job;

#define SORT_ROW(T, SFX)                                                                       \
    do {                                                                                       \
        pair_##SFX *p = (pair_##SFX *)buf, *tmp = p + j->n;                                    \
        const T *s = (const T *)j->src + so;                                                   \
        for (int64_t i = 0; i < j->n; i++) p[i] = (pair_##SFX){s[i * ss], i};                  \
        p = j->descending ? merge_sort_##SFX##_desc(p, tmp, j->n)                              \
                          : merge_sort_##SFX##_asc(p, tmp, j->n);                              \
        if (j->values) {                                                                       \
            T *v = (T *)j->values + oo;                                                        \
            for (int64_t i = 0; i < j->k; i++) v[i * os] = p[i].key;                           \
        }                                                                                      \
        if (j->indices)                                                                        \
            for (int64_t i = 0; i < j->k; i++) j->indices[oo + i * os] = p[i].pos;             \
    } while (0)

static void sort_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const sort_job *j = ctx;
    char *buf = j->scratch + (size_t)tid * 2 * (size_t)j->n * sizeof(pair_f64);
    const int dim = j->dim;
    const int64_t ss = j->stride[dim], os = j->out_stride[dim];
    for (int64_t r = begin; r < end; r++) {
        int64_t rem = r, so = 0, oo = 0;
        for (int d = j->ndim - 1; d >= 0; d--) {
            if (d == dim) continue;
            const int64_t c = rem % j->shape[d];
            rem /= j->shape[d];
            so += c * j->stride[d], oo += c * j->out_stride[d];
        }
        if (j->dtype == DC_F32) SORT_ROW(float, f32);
        else if (j->dtype == DC_F64) SORT_ROW(double, f64);
        else SORT_ROW(int64_t, i64);
    }
}

/* Run a job whose source fields, n, k and outputs are set: the rows over the thread pool,
 * with scratch for every thread. 0, or -1 (out of memory). */
static int run_sort(sort_job *j)
{
    if (j->ndim == 0) { /* a scalar: one row of one element */
        j->ndim = 1;
        j->shape[0] = 1;
        j->stride[0] = j->out_stride[0] = 0;
    }
    const int64_t numel = dc__shape_numel(j->ndim, j->shape);
    if (numel == 0 || j->k == 0) return 0;
    const int64_t rows = numel / j->n;
    const int64_t grain = SORT_GRAIN / j->n > 1 ? SORT_GRAIN / j->n : 1;
    const int64_t threads = rows > grain ? dc_get_num_threads() : 1;
    size_t capacity;
    j->scratch = dc__scratch_alloc((size_t)threads * 2 * (size_t)j->n * sizeof(pair_f64),
                                   &capacity);
    if (!j->scratch) return -1;
    if (threads > 1) dc_parallel_for(rows, grain, sort_range, j);
    else sort_range(j, 0, rows, 0);
    dc__scratch_free(j->scratch, capacity);
    return 0;
}

static bool check_sort_dtype(const dc_tensor *a, const char *op)
{
    if (a->dtype == DC_F32 || a->dtype == DC_F64 || a->dtype == DC_I64) return true;
    dc_error("%s: expected a float32, float64 or int64 tensor, got %s", op,
             dc_dtype_name(a->dtype));
    return false;
}

/* ---- sort, argsort, topk --------------------------------------------------------------------- */

/* values = a.gather(dim, indices): da = zeros like a, scattered with g at the indices */
static int sort_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *a = node->inputs[0];
    grads[0] = dc_scatter(dc_zeros(a->dtype, a->ndim, a->shape), (int)node->i[0],
                          node->saved[0], g);
    return 0;
}

/* Shared by sort, argsort and topk: the first k of each sorted row (k < 0: all of it). */
static int sort_impl(const char *op, const char *name, dc_tensor *a, int dim, int64_t k,
                     bool descending, dc_tensor **values, dc_tensor **indices)
{
    if (values) *values = NULL;
    if (indices) *indices = NULL;
    if (!a) return dc_error("%s: input 'a' is NULL", op), -1;
    if (!check_sort_dtype(a, op)) return -1;
    const int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return -1;
    const int64_t n = a->ndim ? a->shape[d] : 1;
    if (k < 0) k = n;
    else if (k > n)
        return dc_error("%s: k = %lld is out of range for dim %d of size %lld", op,
                        (long long)k, d, (long long)n),
               -1;
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    if (a->ndim) shape[d] = k;
    const bool track = values && dc__grad_enabled && a->requires_grad;
    dc_tensor *vals = values ? dc__alloc_result(a->dtype, a->ndim, shape) : NULL;
    dc_tensor *idx = indices || track ? dc__alloc_result(DC_I64, a->ndim, shape) : NULL;
    sort_job j = {.dtype = a->dtype, .ndim = a->ndim, .dim = d, .src = dc_data(a),
                  .values = vals ? dc_data(vals) : NULL, .indices = idx ? dc_data(idx) : NULL,
                  .n = n, .k = k, .descending = descending};
    int rc = (values && !vals) || ((indices || track) && !idx) ? -1 : 0;
    if (rc == 0) {
        memcpy(j.shape, a->shape, sizeof j.shape);
        memcpy(j.stride, a->stride, sizeof j.stride);
        if (vals) memcpy(j.out_stride, vals->stride, sizeof j.out_stride);
        else if (idx) memcpy(j.out_stride, idx->stride, sizeof j.out_stride);
        rc = run_sort(&j);
    }
    dc_node *node = NULL;
    if (rc == 0 && vals) rc = dc__record(vals, name, sort_backward, 1, &a, &node);
    if (rc == 0 && node) {
        node->i[0] = d;
        if (dc__save(node, idx) < 0) rc = -1;
    }
    if (rc != 0) {
        dc_tensor_free(vals);
        dc_tensor_free(idx);
        return -1;
    }
    if (values) *values = dc__publish(vals);
    if (indices) *indices = dc__publish(idx);
    else dc_tensor_free(idx); /* kept only by the node */
    return 0;
}

int dc_sort(dc_tensor *a, int dim, bool descending, dc_tensor **values, dc_tensor **indices)
{
    return sort_impl("dc_sort", "sort", a, dim, -1, descending, values, indices);
}

dc_tensor *dc_argsort(dc_tensor *a, int dim, bool descending)
{
    dc_tensor *indices = NULL;
    sort_impl("dc_argsort", "argsort", a, dim, -1, descending, NULL, &indices);
    return indices;
}

int dc_topk(dc_tensor *a, int64_t k, int dim, bool largest, bool sorted, dc_tensor **values,
            dc_tensor **indices)
{
    (void)sorted; /* the result is always sorted, which torch allows for sorted = false */
    if (k < 0) {
        if (values) *values = NULL;
        if (indices) *indices = NULL;
        return dc_error("dc_topk: k must be >= 0, got %lld", (long long)k), -1;
    }
    return sort_impl("dc_topk", "topk", a, dim, k, largest, values, indices);
}

/* ---- unique ---------------------------------------------------------------------------------- */

#define GROUP_SORTED(T, SFX)                                                                   \
    do {                                                                                       \
        const T *key = (const T *)sorted_vals;                                                 \
        T *uv = u ? (T *)dc_data(u) : NULL;                                                    \
        for (int64_t i = 0; i < n; i++) {                                                      \
            if (i > 0 && key[i] == key[i - 1]) { /* NaN never equals: each is its own group */ \
                if (cnt) cnt[groups - 1]++;                                                    \
            } else {                                                                           \
                if (uv) uv[groups] = key[i];                                                   \
                if (cnt) cnt[groups] = 1;                                                      \
                groups++;                                                                      \
            }                                                                                  \
            if (inv) inv[pos[i]] = groups - 1;                                                 \
        }                                                                                      \
    } while (0)

/* Number of distinct runs of the sorted keys. */
#define COUNT_GROUPS(T)                                                                        \
    do {                                                                                       \
        const T *key = (const T *)sorted_vals;                                                 \
        for (int64_t i = 0; i < n; i++) groups += i == 0 || !(key[i] == key[i - 1]);           \
    } while (0)

int dc_unique(dc_tensor *a, dc_tensor **values, dc_tensor **inverse, dc_tensor **counts)
{
    static const char op[] = "dc_unique";
    if (values) *values = NULL;
    if (inverse) *inverse = NULL;
    if (counts) *counts = NULL;
    if (!a) return dc_error("%s: input 'a' is NULL", op), -1;
    if (!check_sort_dtype(a, op)) return -1;
    const int64_t n = dc_numel(a);
    size_t scope = dc_scope_begin();
    /* the flattened input, sorted ascending with its positions */
    dc_tensor *flat = dc_empty(a->dtype, 1, &n), *perm = dc_empty(DC_I64, 1, &n);
    int rc = flat && perm && dc_copy_(dc_view(flat, a->ndim, a->shape), a) == 0 ? 0 : -1;
    sort_job j = {.dtype = a->dtype, .ndim = 1, .dim = 0, .shape = {n}, .stride = {1},
                  .out_stride = {1}, .n = n, .k = n};
    if (rc == 0) {
        j.src = dc_data(flat);
        j.values = dc_data(flat); /* each row is read into scratch before it is written */
        j.indices = dc_data(perm);
        rc = run_sort(&j);
    }
    if (rc != 0) {
        dc_scope_end(scope);
        return -1;
    }
    const char *sorted_vals = dc_data(flat);
    const int64_t *pos = dc_data(perm);
    int64_t groups = 0;
    if (a->dtype == DC_F32) COUNT_GROUPS(float);
    else if (a->dtype == DC_F64) COUNT_GROUPS(double);
    else COUNT_GROUPS(int64_t);
    dc_tensor *u = values ? dc__alloc_result(a->dtype, 1, &groups) : NULL;
    dc_tensor *iv = inverse ? dc__alloc_result(DC_I64, a->ndim, a->shape) : NULL;
    dc_tensor *c = counts ? dc__alloc_result(DC_I64, 1, &groups) : NULL;
    if ((values && !u) || (inverse && !iv) || (counts && !c)) {
        dc_tensor_free(u);
        dc_tensor_free(iv);
        dc_tensor_free(c);
        dc_scope_end(scope);
        return -1;
    }
    int64_t *inv = iv ? dc_data(iv) : NULL, *cnt = c ? dc_data(c) : NULL;
    groups = 0;
    if (a->dtype == DC_F32) GROUP_SORTED(float, f32);
    else if (a->dtype == DC_F64) GROUP_SORTED(double, f64);
    else GROUP_SORTED(int64_t, i64);
    dc_scope_end(scope);
    if (values) *values = dc__publish(u);
    if (inverse) *inverse = dc__publish(iv);
    if (counts) *counts = dc__publish(c);
    return 0;
}

/* ---- searchsorted ---------------------------------------------------------------------------- */

typedef struct {
    const char *bounds; /* contiguous [rows, m] */
    const char *vals;   /* contiguous [rows, q] (rows = 1 for 1-D boundaries: q = all) */
    int64_t *out;
    int64_t m, q;
    bool batched, right;
    dc_dtype dtype;
} search_job;

/* The first i in [0, m) with !(b[i] < v) (left) or !(b[i] <= v) (right), else m; written as
 * torch does (!(b >= v), !(b > v)), so a NaN value lands at m. */
#define SEARCH_LOOP(T)                                                                         \
    do {                                                                                       \
        const T *vals = (const T *)j->vals;                                                    \
        for (int64_t e = begin; e < end; e++) {                                                \
            const T *b = (const T *)j->bounds + (j->batched ? e / j->q * j->m : 0);            \
            const T v = vals[e];                                                               \
            int64_t lo = 0, hi = j->m;                                                         \
            while (lo < hi) {                                                                  \
                const int64_t mid = lo + (hi - lo) / 2;                                        \
                if (j->right ? !(b[mid] > v) : !(b[mid] >= v)) lo = mid + 1;                   \
                else hi = mid;                                                                 \
            }                                                                                  \
            j->out[e] = lo;                                                                    \
        }                                                                                      \
    } while (0)

static void search_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const search_job *j = ctx;
    if (j->dtype == DC_F32) SEARCH_LOOP(float);
    else if (j->dtype == DC_F64) SEARCH_LOOP(double);
    else SEARCH_LOOP(int64_t);
}

dc_tensor *dc_searchsorted(dc_tensor *boundaries, dc_tensor *values, bool right)
{
    static const char op[] = "dc_searchsorted";
    DC_CHECK_TENSOR(boundaries, op);
    DC_CHECK_TENSOR(values, op);
    if (!check_sort_dtype(boundaries, op)) return NULL;
    if (values->dtype != boundaries->dtype)
        return dc_error("%s: values are %s but the boundaries are %s", op,
                        dc_dtype_name(values->dtype), dc_dtype_name(boundaries->dtype));
    if (boundaries->ndim == 0) return dc_error("%s: boundaries must have at least 1 dim", op);
    const bool batched = boundaries->ndim > 1;
    if (batched) {
        bool match = values->ndim == boundaries->ndim;
        for (int d = 0; match && d < values->ndim - 1; d++)
            match = values->shape[d] == boundaries->shape[d];
        if (!match) {
            char sb[96], sv[96];
            return dc_error("%s: boundaries %s and values %s must have the same leading dims "
                            "(or 1-D boundaries)",
                            op, dc__shape_fmt(boundaries->ndim, boundaries->shape, sb, sizeof sb),
                            dc__shape_fmt(values->ndim, values->shape, sv, sizeof sv));
        }
    }
    size_t scope = dc_scope_begin();
    dc_tensor *b = dc_contiguous(boundaries), *v = dc_contiguous(values);
    dc_tensor *out = b && v ? dc__alloc_result(DC_I64, values->ndim, values->shape) : NULL;
    if (out) {
        search_job j = {dc_data(b), dc_data(v), dc_data(out),
                        boundaries->shape[boundaries->ndim - 1],
                        batched ? values->shape[values->ndim - 1] : 1, batched, right,
                        values->dtype};
        dc_parallel_for(dc_numel(v), SEARCH_GRAIN, search_range, &j);
    }
    dc_scope_end(scope);
    return dc__publish(out);
}
