/* Quantized tensors (book §8.2): fp16, the Q8_0 / Q4_1 block formats of
 * include/deepc/quant.h, dc_qlinear / dc_qembedding, quantized Linear and Embedding modules.
 * The kernels are in qdot*.c, the file format in quant_io.c. Nothing here records autograd:
 * quantized weights are for inference (training uses the module's float weight). */
#include "deepc/quant.h"
#include "../core/internal.h"
#include "qkernels.h"
#include "quant_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fp16 ------------------------------------------------------------------------------- */

static uint32_t f32_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

/* Round to nearest, ties to even, on the bit patterns: normal halves take the top 10 mantissa
 * bits (a carry out of the mantissa correctly bumps the exponent, up to infinity); below
 * 2^-14 the value is counted in units of 2^-24 (the subnormal step). */
uint16_t dc_fp32_to_fp16(float x)
{
    const uint32_t b = f32_bits(x), sign = (b >> 16) & 0x8000u, a = b & 0x7fffffffu;
    if (a > 0x7f800000u) /* NaN: keep the top payload bits, force quiet */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x47800000u) /* >= 65536 (and inf): infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* >= 2^-14: normal half (or rounds up to infinity) */
        uint32_t h = (a >> 13) - (112u << 10), rest = a & 0x1fffu;
        if (rest > 0x1000u || (rest == 0x1000u && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    if (a <= 0x33000000u) /* <= 2^-25: half of the smallest subnormal ties to even, 0 */
        return (uint16_t)sign;
    const uint32_t e = a >> 23, m = (a & 0x7fffffu) | 0x800000u, shift = 126 - e; /* 14..24 */
    uint32_t h = m >> shift, rest = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

float dc_fp16_to_fp32(uint16_t h)
{
    const uint8_t p[2] = {(uint8_t)(h & 0xff), (uint8_t)(h >> 8)};
    return dc__qhalf(p);
}

/* The next half towards +inf / -inf of a finite non-NaN half (the order of halves is the
 * order of sign-magnitude integers). */
static uint16_t half_next_up(uint16_t h)
{
    if (h == 0x8000u) return 0x0001u;          /* -0 -> smallest positive */
    return (h & 0x8000u) ? (uint16_t)(h - 1) : (uint16_t)(h + 1);
}

static uint16_t half_next_down(uint16_t h)
{
    if (h == 0x0000u) return 0x8001u;
    return (h & 0x8000u) ? (uint16_t)(h + 1) : (uint16_t)(h - 1);
}

/* fp16 rounded towards +inf (up) or -inf (down); infinity when out of range. */
static uint16_t fp16_up(float x)
{
    uint16_t h = dc_fp32_to_fp16(x);
    if ((h & 0x7fffu) < 0x7c00u && dc_fp16_to_fp32(h) < x) h = half_next_up(h);
    return h;
}

static uint16_t fp16_down(float x)
{
    uint16_t h = dc_fp32_to_fp16(x);
    if ((h & 0x7fffu) < 0x7c00u && dc_fp16_to_fp32(h) > x) h = half_next_down(h);
    return h;
}

static void put_half(uint8_t *p, uint16_t h)
{
    p[0] = (uint8_t)(h & 0xff);
    p[1] = (uint8_t)(h >> 8);
}

static bool half_finite(const uint8_t *p) { return ((p[0] | p[1] << 8) & 0x7c00) != 0x7c00; }

/* ---- Types and the container ----------------------------------------------------------- */

const char *dc_qtype_name(dc_qtype type)
{
    switch (type) {
    case DC_Q8_0: return "q8_0";
    case DC_Q4_1: return "q4_1";
    default: return "unknown";
    }
}

int dc_qtype_from_name(const char *name)
{
    if (name && !strcmp(name, "q8_0")) return DC_Q8_0;
    if (name && !strcmp(name, "q4_1")) return DC_Q4_1;
    dc_error("dc_qtype_from_name: unknown quantization type '%.40s' (q8_0, q4_1)",
             name ? name : "(null)");
    return -1;
}

size_t dc_qtype_block_bytes(dc_qtype type)
{
    switch (type) {
    case DC_Q8_0: return DC_Q8_0_BYTES;
    case DC_Q4_1: return DC_Q4_1_BYTES;
    default: return 0;
    }
}

/* A container for the shape (validated: 1..DC_MAX_DIMS dims, non-negative, last a multiple
 * of 32), data allocated but not filled. */
static dc_qtensor *qtensor_alloc(dc_qtype type, int ndim, const int64_t *shape, const char *op)
{
    if ((unsigned)type >= DC_QTYPE_COUNT)
        return dc_error("%s: unknown quantization type %d", op, (int)type);
    if (ndim < 1 || ndim > DC_MAX_DIMS || !shape)
        return dc_error("%s: need 1 to %d dims, got %d", op, DC_MAX_DIMS, ndim);
    int64_t numel = 1;
    char buf[128];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && numel > INT64_MAX / 64 / shape[i]))
            return dc_error("%s: bad shape %s", op, dc__shape_fmt(ndim, shape, buf, sizeof buf));
        numel *= shape[i];
    }
    if (shape[ndim - 1] % DC_QBLOCK != 0)
        return dc_error("%s: the last dim (%lld, of shape %s) must be a multiple of %d, the "
                        "block size",
                        op, (long long)shape[ndim - 1],
                        dc__shape_fmt(ndim, shape, buf, sizeof buf), DC_QBLOCK);
    dc_qtensor *q = calloc(1, sizeof *q);
    if (!q) return dc_error("%s: out of memory", op);
    q->type = type;
    q->ndim = ndim;
    memcpy(q->shape, shape, (size_t)ndim * sizeof *shape);
    q->nbytes = (size_t)(numel / DC_QBLOCK) * dc_qtype_block_bytes(type);
    q->data = aligned_alloc(64, (q->nbytes + 63) / 64 * 64 + 64);
    if (!q->data) {
        size_t nbytes = q->nbytes;
        free(q);
        return dc_error("%s: out of memory for %zu bytes", op, nbytes);
    }
    return q;
}

void dc_qtensor_free(dc_qtensor *q)
{
    if (!q) return;
    free(q->data);
    free(q);
}

static int64_t qtensor_numel(const dc_qtensor *q) { return dc__shape_numel(q->ndim, q->shape); }

/* ---- Quantize / dequantize one block ----------------------------------------------------- */

/* Q8_0: d = max|x| / 127 rounded up to fp16, q = round(x / d). -1 if d overflows fp16. */
static int quantize_q8_0(const float *x, uint8_t *out)
{
    float amax = 0;
    for (int i = 0; i < DC_QBLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
    const uint16_t dh = fp16_up(amax / 127.0f);
    if ((dh & 0x7c00u) == 0x7c00u) return -1;
    const float d = dc_fp16_to_fp32(dh);
    put_half(out, dh);
    for (int i = 0; i < DC_QBLOCK; i++) {
        float q = d > 0 ? roundf(x[i] / d) : 0;
        q = fminf(127.0f, fmaxf(-127.0f, q));
        out[2 + i] = (uint8_t)(int8_t)q;
    }
    return 0;
}

/* Q4_1: m = min rounded down to fp16, d = (max - m) / 15 rounded up, q = round((x - m) / d). */
static int quantize_q4_1(const float *x, uint8_t *out)
{
    float lo = x[0], hi = x[0];
    for (int i = 1; i < DC_QBLOCK; i++) lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
    const uint16_t mh = fp16_down(lo);
    if ((mh & 0x7c00u) == 0x7c00u) return -1;
    const float m = dc_fp16_to_fp32(mh);
    /* hi - m rounds up, so the scale covers the range even after float rounding */
    float range = hi - m;
    if ((double)range < (double)hi - (double)m) range = nextafterf(range, INFINITY);
    const uint16_t dh = fp16_up(range / 15.0f);
    if ((dh & 0x7c00u) == 0x7c00u) return -1;
    const float d = dc_fp16_to_fp32(dh);
    put_half(out, dh);
    put_half(out + 2, mh);
    uint8_t q[DC_QBLOCK];
    for (int i = 0; i < DC_QBLOCK; i++) {
        float v = d > 0 ? roundf((x[i] - m) / d) : 0;
        q[i] = (uint8_t)fminf(15.0f, fmaxf(0.0f, v));
    }
    for (int j = 0; j < DC_QBLOCK / 2; j++) out[4 + j] = (uint8_t)(q[j] | q[j + 16] << 4);
    return 0;
}

void dc__dequantize_row(dc_qtype type, const uint8_t *blocks, int64_t n, float *out)
{
    const size_t bb = dc_qtype_block_bytes(type);
    for (int64_t b = 0; b < n / DC_QBLOCK; b++) {
        const uint8_t *p = blocks + (size_t)b * bb;
        float *o = out + b * DC_QBLOCK;
        const float d = dc__qhalf(p);
        if (type == DC_Q8_0) {
            for (int i = 0; i < DC_QBLOCK; i++) o[i] = d * (float)(int8_t)p[2 + i];
        } else {
            const float m = dc__qhalf(p + 2);
            for (int j = 0; j < DC_QBLOCK / 2; j++) {
                o[j] = d * (float)(p[4 + j] & 15) + m;
                o[j + 16] = d * (float)(p[4 + j] >> 4) + m;
            }
        }
    }
}

/* ---- Public conversions -------------------------------------------------------------------- */

dc_qtensor *dc_quantize(const dc_tensor *t, dc_qtype type)
{
    static const char op[] = "dc_quantize";
    DC_CHECK_TENSOR(t, op);
    if (t->dtype != DC_F32 && t->dtype != DC_F64)
        return dc_error("%s: expected a float32 or float64 tensor, got %s", op,
                        dc_dtype_name(t->dtype));
    if (t->ndim == 0) return dc_error("%s: cannot quantize a scalar (need a last dim of 32k)", op);
    dc_qtensor *q = qtensor_alloc(type, t->ndim, t->shape, op);
    if (!q) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *src = (dc_tensor *)t;
    if (src->dtype != DC_F32) src = dc_to_dtype(src, DC_F32);
    if (src) src = dc_contiguous(src);
    if (!src) {
        dc_scope_end(scope);
        dc_qtensor_free(q);
        return NULL;
    }
    const float *x = dc_data(src);
    const int64_t nblocks = qtensor_numel(q) / DC_QBLOCK;
    const size_t bb = dc_qtype_block_bytes(type);
    for (int64_t b = 0; b < nblocks; b++) {
        const float *xb = x + b * DC_QBLOCK;
        for (int i = 0; i < DC_QBLOCK; i++)
            if (!isfinite(xb[i])) {
                dc_error("%s: value %g at flat index %lld is not finite", op, (double)xb[i],
                         (long long)(b * DC_QBLOCK + i));
                goto fail;
            }
        int rc = type == DC_Q8_0 ? quantize_q8_0(xb, q->data + (size_t)b * bb)
                                 : quantize_q4_1(xb, q->data + (size_t)b * bb);
        if (rc != 0) {
            float amax = 0;
            for (int i = 0; i < DC_QBLOCK; i++) amax = fmaxf(amax, fabsf(xb[i]));
            dc_error("%s: the block at flat index %lld (values up to %g in magnitude) needs a "
                     "scale or minimum beyond fp16's range for %s",
                     op, (long long)(b * DC_QBLOCK), (double)amax, dc_qtype_name(type));
            goto fail;
        }
    }
    dc_scope_end(scope);
    return q;
fail:
    dc_scope_end(scope);
    dc_qtensor_free(q);
    return NULL;
}

dc_tensor *dc_dequantize(const dc_qtensor *q)
{
    if (!q) return dc_error("dc_dequantize: input 'q' is NULL");
    dc_tensor *out = dc__alloc_result(DC_F32, q->ndim, q->shape);
    if (!out) return NULL;
    dc__dequantize_row(q->type, q->data, qtensor_numel(q), dc_data(out));
    return dc__publish(out);
}

dc_qtensor *dc_qtensor_from_bytes(dc_qtype type, int ndim, const int64_t *shape,
                                  const void *data, size_t nbytes)
{
    static const char op[] = "dc_qtensor_from_bytes";
    if (!data && nbytes) return dc_error("%s: data is NULL", op);
    dc_qtensor *q = qtensor_alloc(type, ndim, shape, op);
    if (!q) return NULL;
    char buf[128];
    if (nbytes != q->nbytes) {
        dc_error("%s: %s %s needs %zu bytes of blocks, got %zu (%s)", op, dc_qtype_name(type),
                 dc__shape_fmt(ndim, shape, buf, sizeof buf), q->nbytes, nbytes,
                 nbytes < q->nbytes ? "truncated" : "too long");
        dc_qtensor_free(q);
        return NULL;
    }
    if (nbytes) memcpy(q->data, data, nbytes);
    const size_t bb = dc_qtype_block_bytes(type);
    for (size_t b = 0; b < nbytes / bb; b++) {
        const uint8_t *p = q->data + b * bb;
        if (!half_finite(p) || (type == DC_Q4_1 && !half_finite(p + 2))) {
            dc_error("%s: block %zu of the %s %s has a non-finite scale or minimum (corrupt)",
                     op, b, dc_qtype_name(type), dc__shape_fmt(ndim, shape, buf, sizeof buf));
            dc_qtensor_free(q);
            return NULL;
        }
    }
    return q;
}

/* ---- qlinear ------------------------------------------------------------------------------- */

typedef struct {
    const dc_qdot_kernels *k;
    const dc_qtensor *w;
    const float *x, *bias;
    float *y;
    int64_t M, N, K;
} qlinear_ctx;

/* Output columns [n0, n1) for every input row: input rows in tiles of DC_QDOT_MAXX (each
 * weight block decoded once per tile), the weight rows of the chunk inner (they stay in
 * cache across tiles). */
static void qlinear_range(void *vctx, int64_t n0, int64_t n1, int tid)
{
    (void)tid;
    const qlinear_ctx *c = vctx;
    const dc_qdot_fn dot = c->w->type == DC_Q8_0 ? c->k->q8_0 : c->k->q4_1;
    const int64_t nb = c->K / DC_QBLOCK;
    const size_t row_bytes = (size_t)nb * dc_qtype_block_bytes(c->w->type);
    for (int64_t m = 0; m < c->M; m += DC_QDOT_MAXX) {
        const int nx = (int)(c->M - m < DC_QDOT_MAXX ? c->M - m : DC_QDOT_MAXX);
        for (int64_t n = n0; n < n1; n++)
            dot(c->w->data + (size_t)n * row_bytes, nb, c->x + m * c->K, c->K, nx,
                c->y + m * c->N + n, c->N);
    }
    if (c->bias)
        for (int64_t m = 0; m < c->M; m++)
            for (int64_t n = n0; n < n1; n++) c->y[m * c->N + n] += c->bias[n];
}

int dc__qlinear_raw(const dc_qdot_kernels *k, const dc_qtensor *w, const float *x,
                    const float *bias, float *y, int64_t M)
{
    qlinear_ctx c = {k, w, x, bias, y, M, w->shape[0], w->shape[1]};
    if (c.N == 0 || M == 0) return 0;
    /* about 64k multiply-adds a chunk */
    int64_t per_row = (M < DC_QDOT_MAXX ? M : DC_QDOT_MAXX) * (c.K ? c.K : 1);
    int64_t grain = (65536 + per_row - 1) / per_row;
    dc_parallel_for(c.N, grain, qlinear_range, &c);
    return 0;
}

static bool needs_grad(const dc_tensor *t) { return t && t->requires_grad && dc_is_grad_enabled(); }

dc_tensor *dc_qlinear(dc_tensor *x, const dc_qtensor *weight, dc_tensor *bias)
{
    static const char op[] = "dc_qlinear";
    DC_CHECK_TENSOR(x, op);
    if (!weight) return dc_error("%s: input 'weight' is NULL", op);
    char a[96], b[96];
    if (weight->ndim != 2)
        return dc_error("%s: weight must be 2-D [out, in], got %s", op,
                        dc__shape_fmt(weight->ndim, weight->shape, a, sizeof a));
    const int64_t N = weight->shape[0], K = weight->shape[1];
    if (x->dtype != DC_F32) return dc_error("%s: x must be float32, got %s", op, dc_dtype_name(x->dtype));
    if (x->ndim < 1 || x->shape[x->ndim - 1] != K)
        return dc_error("%s: x %s does not match weight %s (last dim must be in_features %lld)",
                        op, dc__shape_fmt(x->ndim, x->shape, a, sizeof a),
                        dc__shape_fmt(2, weight->shape, b, sizeof b), (long long)K);
    if (bias && (bias->dtype != DC_F32 || bias->ndim != 1 || bias->shape[0] != N))
        return dc_error("%s: bias must be float32 [%lld], got %s %s", op, (long long)N,
                        dc_dtype_name(bias->dtype), dc__shape_fmt(bias->ndim, bias->shape, a, sizeof a));
    if (needs_grad(x) || needs_grad(bias))
        return dc_error("%s: inference only: %s requires grad (quantized weights pass no "
                        "gradient; run under dc_no_grad_begin or use the float weight)",
                        op, needs_grad(x) ? "x" : "bias");
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = N;
    size_t scope = dc_scope_begin();
    dc_tensor *xc = dc_contiguous(x), *bc = bias ? dc_contiguous(bias) : NULL;
    dc_tensor *out = xc && (bc || !bias) ? dc__alloc_result(DC_F32, x->ndim, shape) : NULL;
    if (!out) {
        dc_scope_end(scope);
        return NULL;
    }
    const int64_t M = dc_numel(x) / (K ? K : 1);
    if (K == 0) memset(dc_data(out), 0, (size_t)dc_numel(out) * sizeof(float));
    if (K == 0 && bc)
        for (int64_t m = 0; m < M; m++) memcpy((float *)dc_data(out) + m * N, dc_data(bc), (size_t)N * sizeof(float));
    if (K > 0)
        dc__qlinear_raw(dc__qdot_active(), weight, dc_data(xc), bc ? dc_data(bc) : NULL, dc_data(out), M);
    dc_scope_end(scope);
    return dc__publish(out);
}

dc_tensor *dc_qembedding(dc_tensor *ids, const dc_qtensor *weight)
{
    static const char op[] = "dc_qembedding";
    DC_CHECK_TENSOR(ids, op);
    if (!weight) return dc_error("%s: input 'weight' is NULL", op);
    char a[96];
    if (weight->ndim != 2)
        return dc_error("%s: weight must be 2-D [num, dim], got %s", op,
                        dc__shape_fmt(weight->ndim, weight->shape, a, sizeof a));
    if (ids->dtype != DC_I64) return dc_error("%s: ids must be int64, got %s", op, dc_dtype_name(ids->dtype));
    if (ids->ndim + 1 > DC_MAX_DIMS) return dc_error("%s: ids have too many dims (%d)", op, ids->ndim);
    const int64_t num = weight->shape[0], dim = weight->shape[1];
    size_t scope = dc_scope_begin();
    dc_tensor *ic = dc_contiguous(ids);
    if (!ic) {
        dc_scope_end(scope);
        return NULL;
    }
    const int64_t *id = dc_data(ic), n = dc_numel(ic);
    for (int64_t i = 0; i < n; i++)
        if (id[i] < 0 || id[i] >= num) {
            dc_scope_end(scope);
            return dc_error("%s: id %lld at flat index %lld is out of range [0, %lld)", op,
                            (long long)id[i], (long long)i, (long long)num);
        }
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, ids->shape, (size_t)ids->ndim * sizeof *shape);
    shape[ids->ndim] = dim;
    dc_tensor *out = dc__alloc_result(DC_F32, ids->ndim + 1, shape);
    if (out) {
        const size_t row_bytes = (size_t)(dim / DC_QBLOCK) * dc_qtype_block_bytes(weight->type);
        float *o = dc_data(out);
        for (int64_t i = 0; i < n; i++)
            dc__dequantize_row(weight->type, weight->data + (size_t)id[i] * row_bytes, dim, o + i * dim);
    }
    dc_scope_end(scope);
    return out ? dc__publish(out) : NULL;
}

/* ---- Quantized modules ----------------------------------------------------------------------- */

static bool quantizable_type(const dc_module *m)
{
    return !strcmp(m->type, "Linear") || !strcmp(m->type, "Embedding");
}

const dc_qtensor *dc_module_qweight(const dc_module *m)
{
    return m && quantizable_type(m) ? m->impl : NULL;
}

static void free_qweight(dc_module *m)
{
    dc_qtensor_free(m->impl);
    m->impl = NULL;
}

bool dc__qweight_applies(const dc_module *m, const dc_tensor *x)
{
    if (!m->impl || !x || (!strcmp(m->type, "Linear") && x->dtype != DC_F32)) return false;
    if (!dc_is_grad_enabled()) return true;
    const dc_tensor *b = dc_module_param(m, "bias");
    return !x->requires_grad && !dc_module_param(m, "weight")->requires_grad &&
           !(b && b->requires_grad);
}

int dc_module_set_qweight(dc_module *m, dc_qtensor *q)
{
    static const char op[] = "dc_module_set_qweight";
    if (!m || !q) {
        dc_qtensor_free(q);
        dc_error("%s: %s is NULL", op, m ? "q" : "m");
        return -1;
    }
    dc_tensor *w = quantizable_type(m) ? dc_module_param(m, "weight") : NULL;
    char a[96], b[96];
    if (!w || (m->impl && m->destroy != free_qweight)) {
        dc_error("%s: a %s module cannot hold a quantized weight (Linear and Embedding do)", op,
                 m->type);
        dc_qtensor_free(q);
        return -1;
    }
    if (q->ndim != w->ndim || memcmp(q->shape, w->shape, (size_t)w->ndim * sizeof *q->shape)) {
        dc_error("%s: quantized weight %s does not match the %s weight %s", op,
                 dc__shape_fmt(q->ndim, q->shape, a, sizeof a), m->type,
                 dc__shape_fmt(w->ndim, w->shape, b, sizeof b));
        dc_qtensor_free(q);
        return -1;
    }
    size_t scope = dc_scope_begin();
    dc_tensor *dq = dc_dequantize(q);
    int rc = dq ? dc_copy_(w, dq) : -1;
    dc_scope_end(scope);
    if (rc != 0) {
        dc_qtensor_free(q);
        return -1;
    }
    dc_qtensor_free(m->impl);
    m->impl = q;
    m->destroy = free_qweight;
    return 0;
}

/* Glob: '*' any run (dots included), '?' one character. */
static bool glob_match(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            while (p[1] == '*') p++;
            if (!p[1]) return true;
            for (; *s; s++)
                if (glob_match(p + 1, s)) return true;
            return glob_match(p + 1, s);
        }
        if (!*s || (*p != '?' && *p != *s)) return false;
    }
    return !*s;
}

/* Collect the matching quantizable modules (depth first, registration order). */
typedef struct {
    int n, cap;
    dc_module **mods;
    char **names;
} module_list;

static int collect(dc_module *m, const char *name, const char *pattern, module_list *out)
{
    if (quantizable_type(m) && (!pattern || !*pattern || glob_match(pattern, name))) {
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 16;
            dc_module **mods = realloc(out->mods, (size_t)cap * sizeof *mods);
            if (mods) out->mods = mods;
            char **names = mods ? realloc(out->names, (size_t)cap * sizeof *names) : NULL;
            if (names) out->names = names;
            if (!mods || !names) {
                dc_error("dc_module_quantize: out of memory");
                return -1;
            }
            out->cap = cap;
        }
        out->mods[out->n] = m;
        out->names[out->n] = strdup(name);
        if (!out->names[out->n]) {
            dc_error("dc_module_quantize: out of memory");
            return -1;
        }
        out->n++;
    }
    for (int i = 0; i < m->n_children; i++) {
        size_t len = strlen(name) + strlen(m->child_names[i]) + 2;
        char *child = malloc(len);
        if (!child) {
            dc_error("dc_module_quantize: out of memory");
            return -1;
        }
        snprintf(child, len, "%s%s%s", name, *name ? "." : "", m->child_names[i]);
        int rc = collect(m->children[i], child, pattern, out);
        free(child);
        if (rc) return rc;
    }
    return 0;
}

static void module_list_free(module_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->mods);
    free(l->names);
}

int dc__quant_modules(dc_module *model, const char *pattern, int *n, dc_module ***mods,
                      char ***names)
{
    module_list l = {0};
    if (collect(model, "", pattern, &l) != 0) {
        module_list_free(&l);
        return -1;
    }
    *n = l.n, *mods = l.mods, *names = l.names;
    return 0;
}

int dc_module_quantize(dc_module *model, dc_qtype type, const char *name_pattern)
{
    static const char op[] = "dc_module_quantize";
    if (!model) {
        dc_error("%s: model is NULL", op);
        return -1;
    }
    if ((unsigned)type >= DC_QTYPE_COUNT) {
        dc_error("%s: unknown quantization type %d", op, (int)type);
        return -1;
    }
    module_list l = {0};
    if (collect(model, "", name_pattern, &l) != 0) {
        module_list_free(&l);
        return -1;
    }
    dc_qtensor **qs = calloc((size_t)l.n + 1, sizeof *qs);
    int rc = qs ? 0 : -1;
    if (!qs) dc_error("%s: out of memory", op);
    for (int i = 0; i < l.n && rc == 0; i++) {
        dc_module *m = l.mods[i];
        if (m->impl && m->destroy != free_qweight) {
            dc_error("%s: module '%s' (%s) has state of its own; cannot quantize it", op,
                     l.names[i], m->type);
            rc = -1;
            break;
        }
        qs[i] = dc_quantize(dc_module_param(m, "weight"), type);
        if (!qs[i]) {
            char why[400];
            snprintf(why, sizeof why, "%s", dc_last_error());
            dc_clear_error();
            dc_error("%s: module '%s' (%s): %s", op, l.names[i], m->type, why);
            rc = -1;
        }
    }
    /* every weight quantized: only now change the modules (set_qweight cannot fail on a
     * shape of its own weight except for memory) */
    for (int i = 0; i < l.n && rc == 0; i++) {
        rc = dc_module_set_qweight(l.mods[i], qs[i]);
        qs[i] = NULL;
    }
    for (int i = 0; i < l.n; i++) dc_qtensor_free(qs ? qs[i] : NULL);
    free(qs);
    int n = l.n;
    module_list_free(&l);
    return rc == 0 ? n : -1;
}
