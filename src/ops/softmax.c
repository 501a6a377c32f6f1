/* Softmax and log-softmax along one dim (book §4.x), forward and backward as dedicated row
 * kernels: they are hot in training (every classifier loss, every attention layer).
 *
 * A "row" is the vector along `dim`; the other dims enumerate rows. Rows may be strided (any
 * dim, any layout); a contiguous row (the last dim of a contiguous tensor) takes the fast
 * path, whose float32 exponentials are computed LANES at a time by a polynomial that gcc
 * vectorises (glibc's expf is one call per element). Rows are split over the thread pool. */
/* Float selects (a > b ? a : b) are if-converted into vector code only when compares may not
 * trap; deepc never reads FP exception flags, so this changes no result. */
#pragma GCC optimize("no-trapping-math")

#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <string.h>

#define LANES 16
#define SOFTMAX_GRAIN 16384 /* elements per thread chunk, at least */
#define COLS 64             /* rows per column block (softmax over a dim that is not last) */

/* ---- Vectorisable float32 exponential --------------------------------------------------- */

/* v[k] = e^v[k] for LANES floats, for arguments <= 88 (softmax only sees x - max <= 0).
 * e^x = 2^n e^r with n = round(x / ln2) and |r| <= ln2/2; e^r by the Cephes expf polynomial
 * (relative error ~1e-7); 2^n built in the exponent bits. Results below e^-87 become 0,
 * NaN stays NaN. Fixed-size loops with no calls or branches, so gcc vectorises them. */
static inline void exp_lanes(float *v)
{
    float res[LANES];
    int32_t bits[LANES];
    for (int k = 0; k < LANES; k++) {
        float x = v[k] >= -87.0f ? v[k] : -87.0f; /* NaN becomes -87 here (no UB in the */
        x = x <= 88.0f ? x : 88.0f;               /* int conversion) and is restored below */
        /* round to nearest: adding 1.5 * 2^23 pushes the fraction bits out of the float */
        float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
        float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* x - n ln2, ln2 in two parts */
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        res[k] = p * r * r + r + 1.0f;
        bits[k] = ((int32_t)n + 127) << 23;
    }
    float two_n[LANES];
    memcpy(two_n, bits, sizeof two_n);
    for (int k = 0; k < LANES; k++) /* v - v: 0, or NaN for a NaN input */
        v[k] = v[k] < -87.0f ? 0.0f : res[k] * two_n[k] + (v[k] - v[k]);
}

/* y = e^(x - m) over a contiguous row; returns sum y. */
static double exp_shift_sum_f32(float *y, const float *x, int64_t n, float m)
{
    float lane_sum[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        float v[LANES];
        for (int k = 0; k < LANES; k++) v[k] = x[i + k] - m;
        exp_lanes(v);
        for (int k = 0; k < LANES; k++) {
            y[i + k] = v[k];
            lane_sum[k] += v[k];
        }
    }
    double sum = 0;
    for (int k = 0; k < LANES; k++) sum += lane_sum[k];
    for (; i < n; i++) {
        y[i] = expf(x[i] - m);
        sum += y[i];
    }
    return sum;
}

static double exp_shift_sum_f64(double *y, const double *x, int64_t n, double m)
{
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        y[i] = exp(x[i] - m);
        sum += y[i];
    }
    return sum;
}

/* ---- Row kernels, generated for float and double ------------------------------------------ */

#define DEFINE_SOFTMAX_KERNELS(T, SFX, EXP, LOG)                                               \
    /* max of a row, NaNs skipped (they reach the output through x - max) */                   \
    static T row_max_##SFX(const T *x, int64_t n, int64_t sx)                                  \
    {                                                                                          \
        T m = -INFINITY;                                                                       \
        int64_t i = 0;                                                                         \
        if (sx == 1 && n >= LANES) {                                                           \
            T lane[LANES];                                                                     \
            for (int k = 0; k < LANES; k++) lane[k] = -INFINITY;                               \
            for (; i + LANES <= n; i += LANES)                                                 \
                for (int k = 0; k < LANES; k++) lane[k] = x[i + k] > lane[k] ? x[i + k] : lane[k]; \
            for (int k = 0; k < LANES; k++) m = lane[k] > m ? lane[k] : m;                     \
        }                                                                                      \
        for (; i < n; i++) m = x[i * sx] > m ? x[i * sx] : m;                                  \
        return m;                                                                              \
    }                                                                                          \
                                                                                               \
    /* softmax:     y = e^(x - m) / sum_j e^(x_j - m)                                           \
     * log_softmax: y = x - m - log(sum_j e^(x_j - m))      with m = max_j x_j */              \
    static void forward_row_##SFX(T *y, int64_t sy, const T *x, int64_t sx, int64_t n,         \
                                  bool log_softmax)                                            \
    {                                                                                          \
        if (n == 0) return;                                                                    \
        const T m = row_max_##SFX(x, n, sx);                                                   \
        double sum = 0;                                                                        \
        if (sx == 1 && sy == 1) {                                                              \
            sum = exp_shift_sum_##SFX(y, x, n, m);                                             \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                y[i * sy] = EXP(x[i * sx] - m);                                                \
                sum += y[i * sy];                                                              \
            }                                                                                  \
        }                                                                                      \
        if (log_softmax) {                                                                     \
            const T shift = m + (T)LOG(sum);                                                   \
            for (int64_t i = 0; i < n; i++) y[i * sy] = x[i * sx] - shift;                     \
        } else {                                                                               \
            const T inv = (T)(1.0 / sum);                                                      \
            for (int64_t i = 0; i < n; i++) y[i * sy] *= inv;                                  \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* softmax:     dx = y * (g - sum_j g_j y_j)                                                \
     * log_softmax: dx = g - e^y * sum_j g_j */                                                \
    static void backward_row_##SFX(T *dx, int64_t sd, const T *g, int64_t sg, const T *y,     \
                                   int64_t sy, int64_t n, bool log_softmax)                    \
    {                                                                                          \
        double acc = 0;                                                                        \
        for (int64_t i = 0; i < n; i++) acc += log_softmax ? g[i * sg] : g[i * sg] * y[i * sy]; \
        const T s = (T)acc;                                                                    \
        if (log_softmax) {                                                                     \
            for (int64_t i = 0; i < n; i++) dx[i * sd] = g[i * sg] - EXP(y[i * sy]) * s;       \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) dx[i * sd] = y[i * sy] * (g[i * sg] - s);          \
        }                                                                                      \
    }                                                                                          \
                                                                                               \
    /* Column blocks: w <= COLS neighbouring rows at once, element i of row c at p[i*r + c].   \
     * The inner loops run along c, contiguous in memory, so a softmax over a dim that is not  \
     * the last reads memory in order instead of one cache line per element. */                \
    static void forward_cols_##SFX(T *y, int64_t ry, const T *x, int64_t rx, int64_t n, int w, \
                                   bool log_softmax)                                           \
    {                                                                                          \
        T m[COLS], shift[COLS];                                                                \
        double sum[COLS];                                                                      \
        for (int c = 0; c < w; c++) m[c] = -INFINITY, sum[c] = 0;                              \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int c = 0; c < w; c++) m[c] = x[i * rx + c] > m[c] ? x[i * rx + c] : m[c];    \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int c = 0; c < w; c++) {                                                      \
                y[i * ry + c] = EXP(x[i * rx + c] - m[c]);                                     \
                sum[c] += y[i * ry + c];                                                       \
            }                                                                                  \
        for (int c = 0; c < w; c++)                                                            \
            shift[c] = log_softmax ? m[c] + (T)LOG(sum[c]) : (T)(1.0 / sum[c]);                \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int c = 0; c < w; c++)                                                        \
                y[i * ry + c] = log_softmax ? x[i * rx + c] - shift[c] : y[i * ry + c] * shift[c]; \
    }                                                                                          \
                                                                                               \
    static void backward_cols_##SFX(T *dx, int64_t rd, const T *g, int64_t rg, const T *y,     \
                                    int64_t ry, int64_t n, int w, bool log_softmax)            \
    {                                                                                          \
        double acc[COLS];                                                                      \
        T s[COLS];                                                                             \
        for (int c = 0; c < w; c++) acc[c] = 0;                                                \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int c = 0; c < w; c++)                                                        \
                acc[c] += log_softmax ? g[i * rg + c] : g[i * rg + c] * y[i * ry + c];         \
        for (int c = 0; c < w; c++) s[c] = (T)acc[c];                                          \
        for (int64_t i = 0; i < n; i++)                                                        \
            for (int c = 0; c < w; c++) {                                                      \
                T gi = g[i * rg + c], yi = y[i * ry + c];                                      \
                dx[i * rd + c] = log_softmax ? gi - EXP(yi) * s[c] : yi * (gi - s[c]);         \
            }                                                                                  \
    }

DEFINE_SOFTMAX_KERNELS(float, f32, expf, log)
DEFINE_SOFTMAX_KERNELS(double, f64, exp, log)

/* ---- Row iteration -------------------------------------------------------------------------- */

/* Operands of one pass: forward {y, x}, backward {dx, g, y}, all of one shape. */
typedef struct {
    int nops, nother;
    int64_t size[DC_MAX_DIMS];        /* the dims other than `dim` */
    int64_t stride[3][DC_MAX_DIMS];   /* per operand, for those dims */
    int64_t row_stride[3];            /* per operand, along `dim` */
    int64_t n;                        /* row length */
    int cols;                         /* > 0: column blocks of this many rows */
    char *ptr[3];
    dc_dtype dtype;
    bool log_softmax, backward;
} rows_job;

/* Rows along `dim` of ops (all of one shape). Other dims that are contiguous for every operand
 * are merged. If the innermost other dim is contiguous for every operand and the rows are not
 * (a dim that is not last), rows are processed as column blocks of up to COLS. */
static void rows_job_init(rows_job *j, const dc_tensor *const *ops, int nops, int dim,
                          bool backward, bool log_softmax)
{
    const dc_tensor *t0 = ops[0];
    memset(j, 0, sizeof *j);
    j->nops = nops;
    j->dtype = t0->dtype;
    j->backward = backward;
    j->log_softmax = log_softmax;
    j->n = t0->ndim ? t0->shape[dim] : 1; /* a scalar is one row of one element */
    for (int d = 0; d < t0->ndim; d++) {
        if (d == dim || t0->shape[d] == 1) continue;
        int m = j->nother;
        bool merge = m > 0;
        for (int k = 0; merge && k < nops; k++)
            merge = j->stride[k][m - 1] == ops[k]->stride[d] * t0->shape[d];
        if (merge) {
            j->size[m - 1] *= t0->shape[d];
            for (int k = 0; k < nops; k++) j->stride[k][m - 1] = ops[k]->stride[d];
            continue;
        }
        j->size[m] = t0->shape[d];
        for (int k = 0; k < nops; k++) j->stride[k][m] = ops[k]->stride[d];
        j->nother++;
    }
    bool inner_contiguous = j->nother > 0, rows_contiguous = true;
    for (int k = 0; k < nops; k++) {
        j->row_stride[k] = t0->ndim ? ops[k]->stride[dim] : 0;
        j->ptr[k] = dc_data(ops[k]);
        inner_contiguous &= j->nother > 0 && j->stride[k][j->nother - 1] == 1;
        rows_contiguous &= j->row_stride[k] == 1;
    }
    if (inner_contiguous && !rows_contiguous && j->n > 1) {
        int64_t inner = j->size[j->nother - 1];
        j->cols = inner < COLS ? (int)inner : COLS;
    }
}

/* Pointers of the first element of each operand at (outer index over the first `nd` other
 * dims, plus column col of the innermost). */
static void row_pointers(const rows_job *j, int nd, int64_t outer, int64_t col, char **p)
{
    const size_t es = dc__elsize(j->dtype);
    int64_t off[3] = {0, 0, 0};
    for (int d = nd - 1; d >= 0; d--) {
        int64_t i = outer % j->size[d];
        outer /= j->size[d];
        for (int k = 0; k < j->nops; k++) off[k] += i * j->stride[k][d];
    }
    for (int k = 0; k < j->nops; k++) p[k] = j->ptr[k] + (size_t)(off[k] + col) * es;
}

/* Task t: one row, or (column mode) one block of up to j->cols neighbouring rows. */
static void rows_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const rows_job *j = ctx;
    const int64_t *s = j->row_stride;
    const bool f32 = j->dtype == DC_F32, bw = j->backward, lg = j->log_softmax;
    for (int64_t t = begin; t < end; t++) {
        char *p[3];
        if (j->cols > 0) {
            const int64_t inner = j->size[j->nother - 1];
            const int64_t blocks = (inner + j->cols - 1) / j->cols, c0 = t % blocks * j->cols;
            const int w = (int)(inner - c0 < j->cols ? inner - c0 : j->cols);
            row_pointers(j, j->nother - 1, t / blocks, c0, p);
            if (bw && f32)
                backward_cols_f32((float *)p[0], s[0], (float *)p[1], s[1], (float *)p[2], s[2], j->n, w, lg);
            else if (bw)
                backward_cols_f64((double *)p[0], s[0], (double *)p[1], s[1], (double *)p[2], s[2], j->n, w, lg);
            else if (f32)
                forward_cols_f32((float *)p[0], s[0], (float *)p[1], s[1], j->n, w, lg);
            else
                forward_cols_f64((double *)p[0], s[0], (double *)p[1], s[1], j->n, w, lg);
            continue;
        }
        row_pointers(j, j->nother, t, 0, p);
        if (bw && f32)
            backward_row_f32((float *)p[0], s[0], (float *)p[1], s[1], (float *)p[2], s[2], j->n, lg);
        else if (bw)
            backward_row_f64((double *)p[0], s[0], (double *)p[1], s[1], (double *)p[2], s[2], j->n, lg);
        else if (f32)
            forward_row_f32((float *)p[0], s[0], (float *)p[1], s[1], j->n, lg);
        else
            forward_row_f64((double *)p[0], s[0], (double *)p[1], s[1], j->n, lg);
    }
}

/* One pass (forward: ops = {y, x}; backward: {dx, g, y}) over the rows along dim. */
static void run_pass(const dc_tensor *const *ops, int nops, int dim, bool backward,
                     bool log_softmax)
{
    rows_job j;
    rows_job_init(&j, ops, nops, dim, backward, log_softmax);
    int64_t rows = dc__shape_numel(j.nother, j.size);
    if (rows == 0 || j.n == 0) return;
    int64_t tasks = rows, task_size = j.n;
    if (j.cols > 0) {
        int64_t inner = j.size[j.nother - 1], blocks = (inner + j.cols - 1) / j.cols;
        tasks = rows / inner * blocks;
        task_size = j.n * j.cols;
    }
    int64_t grain = SOFTMAX_GRAIN / task_size > 0 ? SOFTMAX_GRAIN / task_size : 1;
    dc_parallel_for(tasks, grain, rows_range, &j);
}

/* ---- Backward and forward -------------------------------------------------------------------- */

/* node->i[0] = dim, i[1] = log_softmax; saved[0] = y (the output) */
static int softmax_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *y = node->saved[0];
    if (dc__grad_enabled) { /* create_graph: the same formulas from differentiable ops */
        int dim = (int)node->i[0];
        grads[0] = node->i[1] /* log_softmax: g - exp(y) sum(g); softmax: y (g - sum(g y)) */
                       ? dc_sub(g, dc_mul(dc_exp(y), dc_sum(g, 1, &dim, true)))
                       : dc_mul(y, dc_sub(g, dc_sum(dc_mul(g, y), 1, &dim, true)));
        return grads[0] ? 0 : -1;
    }
    dc_tensor *dx = dc__alloc_result(y->dtype, y->ndim, y->shape);
    if (!dx) return -1;
    run_pass((const dc_tensor *[]){dx, g, y}, 3, (int)node->i[0], true, node->i[1]);
    grads[0] = dc__publish(dx);
    return 0;
}

static dc_tensor *softmax_like(const char *op, const char *name, dc_tensor *a, int dim,
                               bool log_softmax)
{
    DC_CHECK_TENSOR(a, op);
    if (!dc__check_float(a, op)) return NULL;
    int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    dc_node *node;
    run_pass((const dc_tensor *[]){out, a}, 2, d, false, log_softmax);
    if (dc__record(out, name, softmax_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = d;
        node->i[1] = log_softmax;
        if (dc__save(node, out) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

dc_tensor *dc_softmax(dc_tensor *a, int dim) { return softmax_like("dc_softmax", "softmax", a, dim, false); }

dc_tensor *dc_log_softmax(dc_tensor *a, int dim)
{
    return softmax_like("dc_log_softmax", "log_softmax", a, dim, true);
}
