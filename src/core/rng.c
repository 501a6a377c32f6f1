/* Counter-based random numbers: the i-th number of a stream is mix(seed, counter + i), so a
 * draw gives the same values whatever the thread count or chunking (SplitMix64 finaliser;
 * normals by Box-Muller from two consecutive uniforms). */
#include "../kernels/kernels.h"
#include "internal.h"

#include <math.h>
#include <stdlib.h>

static dc_rng global_rng = {0x853c49e6748fea9bULL, 0};

static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The position-th 64-bit value of the stream keyed by seed. */
static inline uint64_t stream_at(uint64_t seed, uint64_t position)
{
    return mix64(seed + (position + 1) * 0x9e3779b97f4a7c15ULL);
}

static inline double unit_double(uint64_t x) { return (double)(x >> 11) * 0x1.0p-53; }

void dc_rng_seed(dc_rng *rng, uint64_t seed)
{
    if (!rng) return;
    rng->seed = mix64(seed ^ 0x6a09e667f3bcc909ULL);
    rng->counter = 0;
}

void dc_manual_seed(uint64_t seed) { dc_rng_seed(&global_rng, seed); }

static dc_rng *pick(dc_rng *rng) { return rng ? rng : &global_rng; }

uint64_t dc_rng_u64(dc_rng *rng)
{
    rng = pick(rng);
    return stream_at(rng->seed, rng->counter++);
}

double dc_rng_uniform(dc_rng *rng) { return unit_double(dc_rng_u64(rng)); }

typedef enum { DIST_UNIFORM, DIST_NORMAL, DIST_BERNOULLI } dist_kind;

typedef struct {
    dist_kind kind;
    uint64_t seed, base;
    double a, b; /* uniform: lo, hi; normal: mean, std; bernoulli: p */
    dc_tensor *t;
    dc_iter it;
} fill_job;

static inline double draw(const fill_job *j, int64_t i)
{
    uint64_t pos = j->base + (uint64_t)i * (j->kind == DIST_NORMAL ? 2 : 1);
    double u = unit_double(stream_at(j->seed, pos));
    switch (j->kind) {
    case DIST_UNIFORM: return j->a + (j->b - j->a) * u;
    case DIST_BERNOULLI: return u < j->a ? 1.0 : 0.0;
    default: {
        double u2 = unit_double(stream_at(j->seed, pos + 1));
        double r = sqrt(-2.0 * log(1.0 - u)); /* 1-u in (0,1]: log is finite */
        return j->a + j->b * r * cos(2.0 * M_PI * u2);
    }
    }
}

/* Rows of the (possibly strided) target; element i is the i-th in row-major order. */
static void fill_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const fill_job *j = ctx;
    char *base = dc_data(j->t);
    int64_t s = j->it.inner_stride[0];
    for (int64_t r = begin; r < end; r++) {
        int64_t off;
        dc__iter_row_offsets(&j->it, r, &off);
        int64_t first = r * j->it.inner;
        if (j->t->dtype == DC_F32 && j->kind == DIST_NORMAL) {
            /* float math for float output: 4-5x faster than the double path */
            float *p = (float *)base + off;
            for (int64_t i = 0; i < j->it.inner; i++) {
                uint64_t pos = j->base + (uint64_t)(first + i) * 2;
                float u = (float)unit_double(stream_at(j->seed, pos));
                float u2 = (float)unit_double(stream_at(j->seed, pos + 1));
                float r = sqrtf(-2.0f * logf(1.0f - u + 0x1.0p-25f)); /* 1-u in (0, 1] */
                p[i * s] = (float)j->a + (float)j->b * r * cosf(2.0f * (float)M_PI * u2);
            }
        } else if (j->t->dtype == DC_F32) {
            float *p = (float *)base + off;
            for (int64_t i = 0; i < j->it.inner; i++) {
                float v = (float)draw(j, first + i);
                /* uniform: rounding to float must not reach hi */
                if (j->kind == DIST_UNIFORM && v >= (float)j->b && j->b > j->a)
                    v = nextafterf((float)j->b, (float)j->a);
                p[i * s] = v;
            }
        } else if (j->t->dtype == DC_F64) {
            double *p = (double *)base + off;
            for (int64_t i = 0; i < j->it.inner; i++) p[i * s] = draw(j, first + i);
        } else {
            int64_t *p = (int64_t *)base + off;
            for (int64_t i = 0; i < j->it.inner; i++) p[i * s] = (int64_t)draw(j, first + i);
        }
    }
}

static int fill(dc_rng *rng, dc_tensor *t, dist_kind kind, double a, double b, const char *op)
{
    if (!t) return dc_error("%s: tensor is NULL", op), -1;
    rng = pick(rng);
    int64_t n = dc_numel(t);
    fill_job j = {.kind = kind, .seed = rng->seed, .base = rng->counter, .a = a, .b = b, .t = t};
    rng->counter += (uint64_t)n * (kind == DIST_NORMAL ? 2 : 1);
    if (n == 0) return 0;
    /* Index rows in row-major order of the logical shape (no coalescing reorder). */
    int64_t strides[1][DC_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) strides[0][d] = t->stride[d];
    dc__iter_init(&j.it, t->ndim, t->shape, 1, strides);
    dc_parallel_for(j.it.rows, j.it.rows * j.it.inner < 16384 ? j.it.rows : 1, fill_rows, &j);
    return 0;
}

int dc_uniform_(dc_rng *rng, dc_tensor *t, double lo, double hi)
{
    if (!(lo <= hi)) return dc_error("dc_uniform_: lo %g > hi %g", lo, hi), -1;
    return fill(rng, t, DIST_UNIFORM, lo, hi, "dc_uniform_");
}

int dc_normal_(dc_rng *rng, dc_tensor *t, double mean, double std)
{
    if (!(std >= 0)) return dc_error("dc_normal_: std %g < 0", std), -1;
    return fill(rng, t, DIST_NORMAL, mean, std, "dc_normal_");
}

static dc_tensor *fresh(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape,
                        dist_kind kind, double a, double b, const char *op)
{
    dc_tensor *t = dc__alloc_result(dtype, ndim, shape);
    if (!t) return NULL;
    if (fill(rng, t, kind, a, b, op) != 0) {
        dc_tensor_free(t);
        return NULL;
    }
    return dc__publish(t);
}

dc_tensor *dc_rand(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape)
{
    return fresh(rng, dtype, ndim, shape, DIST_UNIFORM, 0.0, 1.0, "dc_rand");
}

dc_tensor *dc_uniform(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double lo,
                      double hi)
{
    if (!(lo <= hi)) return dc_error("dc_uniform: lo %g > hi %g", lo, hi);
    return fresh(rng, dtype, ndim, shape, DIST_UNIFORM, lo, hi, "dc_uniform");
}

dc_tensor *dc_randn(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape)
{
    return fresh(rng, dtype, ndim, shape, DIST_NORMAL, 0.0, 1.0, "dc_randn");
}

dc_tensor *dc_normal(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double mean,
                     double std)
{
    if (!(std >= 0)) return dc_error("dc_normal: std %g < 0", std);
    return fresh(rng, dtype, ndim, shape, DIST_NORMAL, mean, std, "dc_normal");
}

dc_tensor *dc_bernoulli(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double p)
{
    if (!(p >= 0 && p <= 1)) return dc_error("dc_bernoulli: p %g outside [0, 1]", p);
    return fresh(rng, dtype, ndim, shape, DIST_BERNOULLI, p, 0.0, "dc_bernoulli");
}

/* ---- Integers, permutations, categorical draws, Bernoulli of a tensor -------------------- */
/* Element i of each draw below uses stream position counter + i only (rows of multinomial:
 * counter + row * per_row + k), so the results are identical on any thread count. */

typedef struct {
    uint64_t seed, base;
    int64_t low;
    uint64_t range;
    int64_t *out;
} randint_job;

static void randint_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const randint_job *j = ctx;
    /* modulo of a 64-bit draw: the bias is at most range / 2^64 */
    for (int64_t i = begin; i < end; i++)
        j->out[i] = (int64_t)((uint64_t)j->low +
                              stream_at(j->seed, j->base + (uint64_t)i) % j->range);
}

dc_tensor *dc_randint(dc_rng *rng, int64_t low, int64_t high, int ndim, const int64_t *shape)
{
    if (high <= low)
        return dc_error("dc_randint: high %lld must be greater than low %lld", (long long)high,
                        (long long)low);
    dc_tensor *t = dc__alloc_result(DC_I64, ndim, shape);
    if (!t) return NULL;
    rng = pick(rng);
    int64_t n = dc_numel(t);
    randint_job j = {rng->seed, rng->counter, low, (uint64_t)high - (uint64_t)low, dc_data(t)};
    rng->counter += (uint64_t)n;
    dc_parallel_for(n, 16384, randint_range, &j);
    return dc__publish(t);
}

dc_tensor *dc_randperm(dc_rng *rng, int64_t n)
{
    if (n < 0) return dc_error("dc_randperm: n must be >= 0, got %lld", (long long)n);
    dc_tensor *t = dc__alloc_result(DC_I64, 1, &n);
    if (!t) return NULL;
    rng = pick(rng);
    int64_t *p = dc_data(t);
    for (int64_t i = 0; i < n; i++) p[i] = i;
    /* Fisher-Yates: step i swaps p[i] with a uniform p[0..i], from position counter + i */
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t k = (int64_t)(stream_at(rng->seed, rng->counter + (uint64_t)i) % (uint64_t)(i + 1));
        int64_t tmp = p[i];
        p[i] = p[k];
        p[k] = tmp;
    }
    rng->counter += (uint64_t)n;
    return dc__publish(t);
}

typedef struct {
    double key;
    int64_t index;
} keyed;

static int keyed_cmp(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

typedef struct {
    uint64_t seed, base;
    const double *w; /* [rows, n_cat] weights, validated */
    int64_t n_cat, num_samples;
    bool replacement;
    int64_t *out;    /* [rows, num_samples] */
    char *scratch;   /* per thread: n_cat keyed (or n_cat doubles) */
    size_t scratch_stride;
} multinomial_job;

static void multinomial_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    const multinomial_job *j = ctx;
    char *scratch = j->scratch + (size_t)tid * j->scratch_stride;
    for (int64_t r = begin; r < end; r++) {
        const double *w = j->w + r * j->n_cat;
        int64_t *out = j->out + r * j->num_samples;
        if (j->replacement) {
            /* inverse CDF: the first category whose running sum exceeds u * total */
            double *cdf = (double *)scratch, total = 0;
            int64_t last = 0;
            for (int64_t c = 0; c < j->n_cat; c++) {
                total += w[c];
                cdf[c] = total;
                if (w[c] > 0) last = c;
            }
            uint64_t pos = j->base + (uint64_t)(r * j->num_samples);
            for (int64_t s = 0; s < j->num_samples; s++) {
                double u = unit_double(stream_at(j->seed, pos + (uint64_t)s)) * total;
                int64_t lo = 0, hi = j->n_cat;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (cdf[mid] > u) hi = mid;
                    else lo = mid + 1;
                }
                out[s] = lo < j->n_cat ? lo : last; /* u rounded up to total */
            }
        } else {
            /* exponential races: category c finishes at E_c / w_c (E_c ~ Exp(1)); the
             * order of finishing is sequential sampling without replacement */
            keyed *k = (keyed *)scratch;
            uint64_t pos = j->base + (uint64_t)(r * j->n_cat);
            for (int64_t c = 0; c < j->n_cat; c++) {
                double e = -log(1.0 - unit_double(stream_at(j->seed, pos + (uint64_t)c)));
                k[c].key = w[c] > 0 ? e / w[c] : INFINITY;
                k[c].index = c;
            }
            qsort(k, (size_t)j->n_cat, sizeof *k, keyed_cmp);
            for (int64_t s = 0; s < j->num_samples; s++) out[s] = k[s].index;
        }
    }
}

dc_tensor *dc_multinomial(dc_rng *rng, dc_tensor *probs, int64_t num_samples, bool replacement)
{
    static const char op[] = "dc_multinomial";
    DC_CHECK_TENSOR(probs, op);
    if (!dc__check_float(probs, op)) return NULL;
    if (probs->ndim != 1 && probs->ndim != 2)
        return dc_error("dc_multinomial: probs must be [n_cat] or [batch, n_cat], got %d dims",
                        probs->ndim);
    int64_t rows = probs->ndim == 2 ? probs->shape[0] : 1;
    int64_t n_cat = probs->shape[probs->ndim - 1];
    if (n_cat < 1) return dc_error("dc_multinomial: probs has no categories");
    if (num_samples < 1)
        return dc_error("dc_multinomial: num_samples must be positive, got %lld",
                        (long long)num_samples);
    if (!replacement && num_samples > n_cat)
        return dc_error("dc_multinomial: cannot draw %lld samples without replacement from %lld "
                        "categories",
                        (long long)num_samples, (long long)n_cat);
    int64_t n = rows * n_cat;
    double *w = dc__malloc((size_t)n * sizeof *w);
    if (!w) return NULL;
    if (dc_to_double_buffer(probs, w, n) != 0) {
        dc__free(w);
        return NULL;
    }
    for (int64_t r = 0; r < rows; r++) {
        int64_t positive = 0;
        for (int64_t c = 0; c < n_cat; c++) {
            double v = w[r * n_cat + c];
            if (!(v >= 0) || isinf(v)) {
                dc__free(w);
                return dc_error("dc_multinomial: weight %g at [%lld, %lld] is not a finite "
                                "non-negative number",
                                v, (long long)r, (long long)c);
            }
            positive += v > 0;
        }
        if (positive == 0) {
            dc__free(w);
            return dc_error("dc_multinomial: row %lld has no positive weight", (long long)r);
        }
        if (!replacement && positive < num_samples) {
            dc__free(w);
            return dc_error("dc_multinomial: row %lld has %lld positive weights, fewer than the "
                            "%lld samples drawn without replacement",
                            (long long)r, (long long)positive, (long long)num_samples);
        }
    }
    int64_t shape[2] = {rows, num_samples};
    dc_tensor *out = dc__alloc_result(DC_I64, probs->ndim, probs->ndim == 2 ? shape : shape + 1);
    int nthreads = dc_get_num_threads();
    size_t stride = ((size_t)n_cat * sizeof(keyed) + 63) & ~(size_t)63;
    char *scratch = out ? dc__malloc(stride * (size_t)nthreads) : NULL;
    if (!scratch) {
        dc__free(w);
        dc_tensor_free(out);
        return NULL;
    }
    rng = pick(rng);
    multinomial_job j = {rng->seed, rng->counter, w, n_cat, num_samples, replacement,
                         dc_data(out), scratch, stride};
    rng->counter += (uint64_t)(rows * (replacement ? num_samples : n_cat));
    int64_t per_row = n_cat + num_samples;
    dc_parallel_for(rows, per_row >= 4096 ? 1 : 4096 / per_row, multinomial_rows, &j);
    dc__free(scratch);
    dc__free(w);
    return dc__publish(out);
}

typedef struct {
    uint64_t seed, base;
    const double *p;
    dc_tensor *out;
} bernoulli_job;

static void bernoulli_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const bernoulli_job *j = ctx;
    for (int64_t i = begin; i < end; i++) {
        bool one = unit_double(stream_at(j->seed, j->base + (uint64_t)i)) < j->p[i];
        if (j->out->dtype == DC_F32) ((float *)dc_data(j->out))[i] = one;
        else ((double *)dc_data(j->out))[i] = one;
    }
}

dc_tensor *dc_bernoulli_tensor(dc_rng *rng, dc_tensor *probs)
{
    static const char op[] = "dc_bernoulli_tensor";
    DC_CHECK_TENSOR(probs, op);
    if (!dc__check_float(probs, op)) return NULL;
    int64_t n = dc_numel(probs);
    double *p = dc__malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) return NULL;
    if (dc_to_double_buffer(probs, p, n) != 0) {
        dc__free(p);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(p[i] >= 0 && p[i] <= 1)) {
            double v = p[i];
            dc__free(p);
            return dc_error("dc_bernoulli_tensor: probability %g at flat index %lld is outside "
                            "[0, 1]",
                            v, (long long)i);
        }
    dc_tensor *out = dc__alloc_result(probs->dtype, probs->ndim, probs->shape);
    if (!out) {
        dc__free(p);
        return NULL;
    }
    rng = pick(rng);
    bernoulli_job j = {rng->seed, rng->counter, p, out};
    rng->counter += (uint64_t)n;
    dc_parallel_for(n, 16384, bernoulli_range, &j);
    dc__free(p);
    return dc__publish(out);
}
