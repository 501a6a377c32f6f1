/* Copies: dc_copy_, dc_fill_, contiguous, clone and dtype conversion.
 *
 * Conversions between every pair of dtypes: float -> integer truncates toward zero (C's cast
 * and torch's rule), anything -> bool is value != 0. A value that the destination dtype
 * cannot hold (NaN, infinity, out of range; also from a wider integer dtype) would be
 * undefined behaviour in C (and silently INT64_MIN or wrapped in torch), so every such
 * conversion is checked first, over the whole source, and reported by value and index
 * before anything is written. */
#include "../kernels/kernels.h"
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* ---- Range checks ---------------------------------------------------------------------- */

/* Does the float v, truncated toward zero, fit integer dtype `to`? (False for NaN.) The
 * bounds are exact doubles: trunc(v) in [-2^63, 2^63) for int64, and so on. */
static bool float_fits(double v, dc_dtype to)
{
    switch (to) {
    case DC_I64: return v >= -0x1p63 && v < 0x1p63;
    case DC_I32: return v > -2147483649.0 && v < 2147483648.0;
    case DC_U8: return v > -1.0 && v < 256.0;
    default: return true; /* float and bool destinations hold any value */
    }
}

static bool int_fits(int64_t v, dc_dtype to)
{
    switch (to) {
    case DC_I32: return v >= INT32_MIN && v <= INT32_MAX;
    case DC_U8: return v >= 0 && v <= 255;
    default: return true;
    }
}

/* Can some value of `from` fail to fit `to`? */
static bool needs_check(dc_dtype from, dc_dtype to)
{
    if (!dc__is_int(to) || from == to) return false;
    switch (from) {
    case DC_F32:
    case DC_F64: return true;
    case DC_I64: return true;           /* to I32 or U8 */
    case DC_I32: return to == DC_U8;
    default: return false;              /* U8 and BOOL fit every integer dtype */
    }
}

static bool element_fits(const char *p, dc_dtype from, int64_t i, dc_dtype to)
{
    switch (from) {
    case DC_F32: return float_fits(((const float *)p)[i], to);
    case DC_F64: return float_fits(((const double *)p)[i], to);
    case DC_I64: return int_fits(((const int64_t *)p)[i], to);
    case DC_I32: return int_fits(((const int32_t *)p)[i], to);
    default: return true;
    }
}

typedef struct {
    const char *src;
    dc_dtype st, dt;
    atomic_bool bad;
} check_job;

static void check_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    check_job *j = ctx;
    const char *s = j->src + (size_t)off[0] * dc__elsize(j->st);
    const int64_t ss = it->inner_stride[0];
    bool ok = true;
    for (int64_t i = 0; i < n; i++) ok &= element_fits(s, j->st, i * ss, j->dt);
    if (!ok) atomic_store(&j->bad, true);
}

/* The first bad element in row-major order (slow: only on the error path) -> message. */
static void report_first_bad(const dc_tensor *src, dc_dtype to, const char *op)
{
    const char *p = dc_data(src);
    int64_t idx[DC_MAX_DIMS] = {0}, total = dc_numel(src);
    for (int64_t k = 0; k < total; k++) {
        int64_t off = 0;
        for (int d = 0; d < src->ndim; d++) off += idx[d] * src->stride[d];
        if (!element_fits(p, src->dtype, off, to)) {
            char value[48], where[160];
            if (dc_dtype_is_float(src->dtype))
                snprintf(value, sizeof value, "%.17g", dc__load_double(p, src->dtype, off));
            else
                snprintf(value, sizeof value, "%lld",
                         (long long)(src->dtype == DC_I64 ? ((const int64_t *)p)[off]
                                                          : ((const int32_t *)p)[off]));
            double v = dc__load_double(p, src->dtype, off);
            const char *why = isnan(v) ? "NaN has no integer value"
                              : isinf(v) ? "an infinity has no integer value"
                              : to == DC_I64 ? "outside int64's range [-2^63, 2^63 - 1]"
                              : to == DC_I32 ? "outside int32's range [-2^31, 2^31 - 1]"
                                             : "outside uint8's range [0, 255]";
            dc_error("%s: value %s at index %s of the %s source cannot be converted to %s (%s)",
                     op, value, dc__shape_fmt(src->ndim, idx, where, sizeof where),
                     dc_dtype_name(src->dtype), dc_dtype_name(to), why);
            return;
        }
        for (int d = src->ndim - 1; d >= 0; d--) {
            if (++idx[d] < src->shape[d]) break;
            idx[d] = 0;
        }
    }
}

bool dc__check_convertible(const dc_tensor *src, dc_dtype to, const char *op)
{
    if (!needs_check(src->dtype, to)) return true;
    check_job j = {.src = dc_data(src), .st = src->dtype, .dt = to};
    atomic_init(&j.bad, false);
    int64_t strides[1][DC_MAX_DIMS];
    for (int d = 0; d < src->ndim; d++) strides[0][d] = src->stride[d];
    dc_iter it;
    dc__iter_init(&it, src->ndim, src->shape, 1, strides);
    dc__iter_run(&it, 32768, check_segment, &j);
    if (!atomic_load(&j.bad)) return true;
    report_first_bad(src, to, op);
    return false;
}

/* ---- Copy with conversion -------------------------------------------------------------- */

typedef struct {
    char *dst;
    const char *src;
    dc_dtype dt, st;
} copy_job;

/* One loop per (destination, source) dtype pair; x is the source element. */
#define CVT(DT, ST, EXPR)                                                                      \
    do {                                                                                       \
        DT *d_ = (DT *)d;                                                                      \
        const ST *s_ = (const ST *)s;                                                          \
        if (ds == 1 && ss == 1) {                                                              \
            for (int64_t i = 0; i < n; i++) {                                                  \
                ST x = s_[i];                                                                  \
                d_[i] = (DT)(EXPR);                                                            \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                ST x = s_[i * ss];                                                             \
                d_[i * ds] = (DT)(EXPR);                                                       \
            }                                                                                  \
        }                                                                                      \
    } while (0)

#define CVT_TO(ST)                                                                             \
    switch (j->dt) {                                                                           \
    case DC_F32: CVT(float, ST, x); break;                                                     \
    case DC_F64: CVT(double, ST, x); break;                                                    \
    case DC_I64: CVT(int64_t, ST, x); break;                                                   \
    case DC_I32: CVT(int32_t, ST, x); break;                                                   \
    case DC_U8: CVT(uint8_t, ST, x); break;                                                    \
    case DC_BOOL: CVT(uint8_t, ST, x != 0); break;                                             \
    default: break;                                                                            \
    }

static void copy_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const copy_job *j = ctx;
    const int64_t ds = it->inner_stride[0], ss = it->inner_stride[1];
    const size_t esz = dc__elsize(j->dt);
    char *d = j->dst + (size_t)off[0] * esz;
    const char *s = j->src + (size_t)off[1] * dc__elsize(j->st);
    if (j->dt == j->st && ds == 1 && ss == 1) {
        memcpy(d, s, (size_t)n * esz);
        return;
    }
    switch (j->st) {
    case DC_F32: CVT_TO(float) break;
    case DC_F64: CVT_TO(double) break;
    case DC_I64: CVT_TO(int64_t) break;
    case DC_I32: CVT_TO(int32_t) break;
    case DC_BOOL:
    case DC_U8: CVT_TO(uint8_t) break;
    default: break;
    }
}

int dc__copy(dc_tensor *dst, const dc_tensor *src, const char *op)
{
    if (!dst || !src) return dc_error("%s: NULL tensor", op), -1;
    int64_t shape[DC_MAX_DIMS];
    int nd = dc__broadcast_shape(dst->ndim, dst->shape, src->ndim, src->shape, shape, op);
    if (nd < 0) return -1;
    bool fits = nd == dst->ndim;
    for (int d = 0; fits && d < nd; d++) fits = shape[d] == dst->shape[d];
    if (!fits) {
        char a[96], b[96];
        dc_error("%s: source shape %s does not broadcast to %s", op,
                 dc__shape_fmt(src->ndim, src->shape, a, sizeof a),
                 dc__shape_fmt(dst->ndim, dst->shape, b, sizeof b));
        return -1;
    }
    if (!dc__check_convertible(src, dst->dtype, op)) return -1; /* before writing anything */
    copy_job j = {.dst = dc_data(dst), .src = dc_data(src), .dt = dst->dtype, .st = src->dtype};
    int64_t strides[2][DC_MAX_DIMS];
    for (int d = 0; d < nd; d++) strides[0][d] = dst->stride[d];
    dc__broadcast_strides(src, nd, dst->shape, strides[1]);
    dc_iter it;
    dc__iter_init(&it, nd, dst->shape, 2, strides);
    dc__iter_run(&it, 32768, copy_segment, &j);
    return 0;
}

int dc_copy_(dc_tensor *dst, const dc_tensor *src) { return dc__copy(dst, src, "dc_copy_"); }

/* ---- Fill ------------------------------------------------------------------------------ */

typedef struct {
    char *dst;
    size_t esz;
    unsigned char value[8]; /* the element's bytes */
} fill_job;

static void fill_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const fill_job *j = ctx;
    char *d = j->dst + (size_t)off[0] * j->esz;
    int64_t s = it->inner_stride[0];
    switch (j->esz) {
    case 1: {
        uint8_t v = j->value[0];
        if (s == 1) memset(d, v, (size_t)n);
        else for (int64_t i = 0; i < n; i++) ((uint8_t *)d)[i * s] = v;
        break;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, j->value, 4);
        for (int64_t i = 0; i < n; i++) ((uint32_t *)d)[i * s] = v;
        break;
    }
    default: {
        uint64_t v;
        memcpy(&v, j->value, 8);
        for (int64_t i = 0; i < n; i++) ((uint64_t *)d)[i * s] = v;
        break;
    }
    }
}

int dc__fill(dc_tensor *dst, double value, const char *op)
{
    if (!dst) return dc_error("%s: NULL tensor", op), -1;
    if (dc__is_int(dst->dtype) && !float_fits(value, dst->dtype))
        return dc_error("%s: value %.17g cannot be stored in a %s tensor (%s)", op, value,
                        dc_dtype_name(dst->dtype),
                        isnan(value) || isinf(value) ? "not a finite number" : "out of range"),
               -1;
    fill_job j = {.dst = dc_data(dst), .esz = dc__elsize(dst->dtype)};
    switch (dst->dtype) {
    case DC_F32: { float v = (float)value; memcpy(j.value, &v, 4); break; }
    case DC_F64: memcpy(j.value, &value, 8); break;
    case DC_I64: { int64_t v = (int64_t)value; memcpy(j.value, &v, 8); break; }
    case DC_I32: { int32_t v = (int32_t)value; memcpy(j.value, &v, 4); break; }
    case DC_U8: j.value[0] = (uint8_t)value; break;
    case DC_BOOL: j.value[0] = value != 0; break;
    default: return dc_error("%s: unknown dtype %d", op, (int)dst->dtype), -1;
    }
    int64_t strides[1][DC_MAX_DIMS];
    for (int d = 0; d < dst->ndim; d++) strides[0][d] = dst->stride[d];
    dc_iter it;
    dc__iter_init(&it, dst->ndim, dst->shape, 1, strides);
    dc__iter_run(&it, 32768, fill_segment, &j);
    return 0;
}

int dc_fill_(dc_tensor *dst, double value) { return dc__fill(dst, value, "dc_fill_"); }

/* ---- Differentiable copies ------------------------------------------------------------- */

static int clone_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    (void)node;
    grads[0] = dc_clone(grad_out);
    return grads[0] ? 0 : -1;
}

/* Copy into a fresh contiguous tensor of `dtype`, recording `op` for backward; errors are
 * named after the public function `api`. */
static dc_tensor *copy_as(dc_tensor *t, dc_dtype dtype, const char *op, dc_backward_fn bw,
                          const char *api)
{
    dc_tensor *out = dc__alloc_result(dtype, t->ndim, t->shape);
    if (!out) return NULL;
    dc_node *node;
    if (dc__copy(out, t, api) != 0 || dc__record(out, op, bw, 1, &t, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) node->i[0] = t->dtype;
    return dc__publish(out);
}

dc_tensor *dc_clone(dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_clone");
    return copy_as(t, t->dtype, "clone", clone_backward, "dc_clone");
}

dc_tensor *dc_contiguous(dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_contiguous");
    if (dc_is_contiguous(t)) return dc__publish(dc_tensor_retain(t));
    return copy_as(t, t->dtype, "contiguous", clone_backward, "dc_contiguous");
}

static int to_dtype_backward(dc_node *node, dc_tensor *grad_out, dc_tensor **grads)
{
    grads[0] = dc_to_dtype(grad_out, (dc_dtype)node->i[0]);
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_to_dtype(dc_tensor *t, dc_dtype dtype)
{
    DC_CHECK_TENSOR(t, "dc_to_dtype");
    if ((unsigned)dtype >= DC_DTYPE_COUNT)
        return dc_error("dc_to_dtype: unknown dtype %d", (int)dtype);
    if (t->requires_grad && !dc_dtype_is_float(dtype))
        return dc_error("dc_to_dtype: cannot convert a tensor that requires grad to %s (integer "
                        "and bool tensors never require grad; dc_detach it first)",
                        dc_dtype_name(dtype));
    return copy_as(t, dtype, "to_dtype", to_dtype_backward, "dc_to_dtype");
}
