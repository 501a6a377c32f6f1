/* More math at PyTorch's semantics: clamping, sign and rounding, erf, vector norms,
 * cosine similarity and normalisation.
 *
 * The elementwise ops run one raw kernel forward (a strided iteration like unary.c); their
 * backwards are compositions of differentiable dc_ ops (masks are constants), so a
 * create_graph backward can differentiate them again. Norms compute their value under
 * no-grad and record one node whose backward is torch 1.13's formula (subgradient 0 at 0,
 * ties of the inf-norms share the gradient evenly). */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define TWO_OVER_SQRT_PI 1.12837916709551257390

/* ---- Elementwise kernel ---------------------------------------------------------------- */

typedef enum {
    M_SIGN, M_FLOOR, M_CEIL, M_ROUND, M_ERF, M_ERFC,
    M_CLAMP,      /* scalar bounds lo, hi (absent = -inf / +inf) */
    M_CLAMP_MASK, /* 1 where lo <= x <= hi, else 0 (NaN: 0) */
    M_CLAMP_T,    /* tensor bounds: operands x, min, max (either bound may be absent) */
} map_op;

typedef struct {
    map_op op;
    dc_dtype dtype;
    double lo, hi;
    bool has_min, has_max; /* M_CLAMP_T */
    char *out;
    const char *x, *mn, *mx;
} map_job;

/* torch: sign(NaN) = 0; round half to even (the default rounding mode of rint) */
#define MAP_EXPR(T, M)                                                                         \
    switch (j->op) {                                                                           \
    case M_SIGN: MAP_LOOP(T, x > 0 ? 1 : x < 0 ? -1 : 0); break;                               \
    case M_FLOOR: MAP_LOOP(T, M(floor)(x)); break;                                             \
    case M_CEIL: MAP_LOOP(T, M(ceil)(x)); break;                                               \
    case M_ROUND: MAP_LOOP(T, M(rint)(x)); break;                                              \
    case M_ERF: MAP_LOOP(T, M(erf)(x)); break;                                                 \
    case M_ERFC: MAP_LOOP(T, M(erfc)(x)); break;                                               \
    case M_CLAMP: MAP_LOOP(T, CLAMP1(x, lo, hi)); break;                                       \
    case M_CLAMP_MASK: MAP_LOOP(T, x >= lo && x <= hi ? 1 : 0); break;                         \
    case M_CLAMP_T: CLAMP_T_LOOP(T); break;                                                    \
    }

/* min(max(x, lo), hi) with NaN propagated: lo > hi gives hi everywhere, as torch */
#define CLAMP1(x, lo, hi) ((x) != (x) ? (x) : (x) < (lo) ? ((lo) > (hi) ? (hi) : (lo)) : (x) > (hi) ? (hi) : (x))

#define MAP_LOOP(T, EXPR)                                                                      \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *px = (const T *)j->x + off[1];                                                \
        const T lo = (T)j->lo, hi = (T)j->hi;                                                  \
        const int64_t so = it->inner_stride[0], sx = it->inner_stride[1];                      \
        (void)lo, (void)hi;                                                                    \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T x = px[i * sx];                                                                  \
            o[i * so] = (T)(EXPR);                                                             \
        }                                                                                      \
    } while (0)

/* min(max(x, lo), hi) per element with broadcast bounds; NaN in x propagates. */
#define CLAMP_T_LOOP(T)                                                                        \
    do {                                                                                       \
        T *o = (T *)j->out + off[0];                                                           \
        const T *px = (const T *)j->x + off[1], *pl = (const T *)j->mn + off[2];               \
        const T *ph = (const T *)j->mx + off[3];                                               \
        const int64_t *s = it->inner_stride;                                                   \
        for (int64_t i = 0; i < n; i++) {                                                      \
            T x = px[i * s[1]];                                                                \
            if (x == x) {                                                                      \
                if (j->has_min && x < pl[i * s[2]]) x = pl[i * s[2]];                          \
                if (j->has_max && x > ph[i * s[3]]) x = ph[i * s[3]];                          \
            }                                                                                  \
            o[i * s[0]] = x;                                                                   \
        }                                                                                      \
    } while (0)

#define FLOAT_MATH(name) name##f
#define DOUBLE_MATH(name) name

static void map_segment(void *ctx, const dc_iter *it, const int64_t *off, int64_t n)
{
    const map_job *j = ctx;
    if (j->dtype == DC_F32) {
        MAP_EXPR(float, FLOAT_MATH)
    } else {
        MAP_EXPR(double, DOUBLE_MATH)
    }
}

/* Run the job over out's shape; x (and mn, mx for M_CLAMP_T, NULL = x) broadcast to it. */
static void map_run(map_job *j, dc_tensor *out, const dc_tensor *x, const dc_tensor *mn,
                    const dc_tensor *mx)
{
    const dc_tensor *ops[4] = {out, x, mn ? mn : x, mx ? mx : x};
    int64_t strides[4][DC_MAX_DIMS];
    for (int k = 0; k < 4; k++) dc__broadcast_strides(ops[k], out->ndim, out->shape, strides[k]);
    dc_iter it;
    dc__iter_init(&it, out->ndim, out->shape, j->op == M_CLAMP_T ? 4 : 2, strides);
    j->out = dc_data(out);
    j->x = dc_data(x);
    j->mn = dc_data(ops[2]);
    j->mx = dc_data(ops[3]);
    dc__iter_run(&it, 16384, map_segment, j);
}

/* A new tensor of x's shape with the job applied (no autograd). */
static dc_tensor *map_new(map_job *j, dc_tensor *x)
{
    dc_tensor *out = dc__alloc_result(x->dtype, x->ndim, x->shape);
    if (!out) return NULL;
    j->dtype = x->dtype;
    map_run(j, out, x, NULL, NULL);
    return out;
}

/* ---- sign, floor, ceil, round, erf, erfc ----------------------------------------------- */

/* piecewise constant: d/dx = 0 (torch returns zeros too) */
static int zero_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    (void)node;
    grads[0] = dc_zeros(g->dtype, g->ndim, g->shape);
    return grads[0] ? 0 : -1;
}

/* erf'(x) = 2/sqrt(pi) exp(-x^2), erfc' = -erf' */
static int erf_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0];
    double k = node->i[0] == M_ERF ? TWO_OVER_SQRT_PI : -TWO_OVER_SQRT_PI;
    grads[0] = dc_mul(g, dc_mul_scalar(dc_exp(dc_neg(dc_mul(x, x))), k));
    return grads[0] ? 0 : -1;
}

static const char *const map_names[] = {
    [M_SIGN] = "sign", [M_FLOOR] = "floor", [M_CEIL] = "ceil", [M_ROUND] = "round",
    [M_ERF] = "erf", [M_ERFC] = "erfc",
};

static dc_tensor *elementwise(map_op op, dc_tensor *a)
{
    const char *name = map_names[op];
    char fn[16];
    snprintf(fn, sizeof fn, "dc_%s", name);
    if (!a) return dc_error("%s: input is NULL", fn);
    if (!dc__check_float(a, fn)) return NULL;
    map_job j = {.op = op};
    dc_tensor *out = map_new(&j, a);
    if (!out) return NULL;
    bool smooth = op == M_ERF || op == M_ERFC;
    dc_node *node;
    if (dc__record(out, name, smooth ? erf_backward : zero_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = op;
        if (smooth && dc__save(node, a) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

dc_tensor *dc_sign(dc_tensor *a) { return elementwise(M_SIGN, a); }
dc_tensor *dc_floor(dc_tensor *a) { return elementwise(M_FLOOR, a); }
dc_tensor *dc_ceil(dc_tensor *a) { return elementwise(M_CEIL, a); }
dc_tensor *dc_round(dc_tensor *a) { return elementwise(M_ROUND, a); }
dc_tensor *dc_erf(dc_tensor *a) { return elementwise(M_ERF, a); }
dc_tensor *dc_erfc(dc_tensor *a) { return elementwise(M_ERFC, a); }

/* ---- clamp ----------------------------------------------------------------------------- */

/* where(mask, g, 0): g passes where mask is nonzero */
static dc_tensor *pass_where(dc_tensor *mask, dc_tensor *g)
{
    return dc_where(mask, g, dc_scalar(g->dtype, 0));
}

/* clamp(x, lo, hi) = min(max(x, lo), hi): dx = g where lo <= x <= hi (torch), else 0 */
static int clamp_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    map_job j = {.op = M_CLAMP_MASK, .lo = node->f[0], .hi = node->f[1]};
    dc_tensor *mask = dc__publish(map_new(&j, node->saved[0]));
    grads[0] = mask ? pass_where(mask, g) : NULL;
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_clamp(dc_tensor *a, double min, double max)
{
    DC_CHECK_TENSOR(a, "dc_clamp");
    if (!dc__check_float(a, "dc_clamp")) return NULL;
    if (isnan(min) && isnan(max))
        return dc_error("dc_clamp: at least one of min and max must be given (both are NaN)");
    map_job j = {.op = M_CLAMP, .lo = isnan(min) ? -INFINITY : min,
                 .hi = isnan(max) ? INFINITY : max};
    dc_tensor *out = map_new(&j, a);
    if (!out) return NULL;
    dc_node *node;
    if (dc__record(out, "clamp", clamp_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->f[0] = j.lo;
        node->f[1] = j.hi;
        if (dc__save(node, a) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* Tensor bounds (torch's clamp.Tensor backward), then each gradient summed to its input's
 * shape:  dx   = g where min <= x <= max
 *         dmin = g where x < min and min < max
 *         dmax = g where x > max or max < min
 * (an absent bound drops its conditions). saved: x, min, max (NULL slots absent). */
static int clamp_tensor_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0];
    dc_tensor *mn = node->i[0] ? node->saved[1] : NULL;
    dc_tensor *mx = node->i[1] ? node->saved[node->i[0] ? 2 : 1] : NULL;
    dc_tensor *in_range = NULL;
    if (mn) in_range = dc_ge(x, mn);
    if (mx) in_range = in_range ? dc_mul(in_range, dc_le(x, mx)) : dc_le(x, mx);
    dc_tensor *const inputs[3] = {node->inputs[0], node->inputs[1], node->inputs[2]};
    if (dc__needs_grad(node, 0))
        grads[0] = dc_sum_to_shape(pass_where(in_range, g), inputs[0]->ndim, inputs[0]->shape);
    if (mn && dc__needs_grad(node, 1)) {
        dc_tensor *m = dc_lt(x, mn);
        if (mx) m = dc_mul(m, dc_lt(mn, mx));
        grads[1] = dc_sum_to_shape(pass_where(m, g), inputs[1]->ndim, inputs[1]->shape);
        if (!grads[1]) return -1;
    }
    if (mx && dc__needs_grad(node, 2)) {
        dc_tensor *m = dc_gt(x, mx);
        if (mn) m = dc_maximum(m, dc_lt(mx, mn));
        grads[2] = dc_sum_to_shape(pass_where(m, g), inputs[2]->ndim, inputs[2]->shape);
        if (!grads[2]) return -1;
    }
    return dc__needs_grad(node, 0) && !grads[0] ? -1 : 0;
}

dc_tensor *dc_clamp_tensor(dc_tensor *a, dc_tensor *min, dc_tensor *max)
{
    DC_CHECK_TENSOR(a, "dc_clamp_tensor");
    if (!dc__check_float(a, "dc_clamp_tensor")) return NULL;
    if (!min && !max) return dc_error("dc_clamp_tensor: at least one of min and max must be given");
    if ((min && !dc__check_same_dtype(a, min, "dc_clamp_tensor")) ||
        (max && !dc__check_same_dtype(a, max, "dc_clamp_tensor")))
        return NULL;
    int64_t shape[DC_MAX_DIMS];
    int ndim = a->ndim;
    memcpy(shape, a->shape, sizeof shape);
    const dc_tensor *bounds[2] = {min, max};
    for (int k = 0; k < 2; k++)
        if (bounds[k]) {
            int64_t next[DC_MAX_DIMS];
            ndim = dc__broadcast_shape(ndim, shape, bounds[k]->ndim, bounds[k]->shape, next,
                                       "dc_clamp_tensor");
            if (ndim < 0) return NULL;
            memcpy(shape, next, sizeof shape);
        }
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;
    map_job j = {.op = M_CLAMP_T, .dtype = a->dtype, .has_min = min != NULL, .has_max = max != NULL};
    map_run(&j, out, a, min, max);
    dc_node *node;
    if (dc__record(out, "clamp_tensor", clamp_tensor_backward, 3, (dc_tensor *[]){a, min, max},
                   &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = min != NULL;
        node->i[1] = max != NULL;
        if (dc__save(node, a) < 0 || (min && dc__save(node, min) < 0) ||
            (max && dc__save(node, max) < 0)) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* ---- Vector norms (torch.linalg.vector_norm) ------------------------------------------- */

/* Mark the dims to reduce (ndims == 0: all); repeated or out-of-range dims are errors. */
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
        if (seen[d]) return dc_error("%s: dim %d appears more than once", op, dims[k]), false;
        seen[d] = true;
    }
    for (int d = 0; d < a->ndim; d++) reduced[d] = ndims == 0 || seen[d];
    for (int d = a->ndim; d < DC_MAX_DIMS; d++) reduced[d] = false;
    return true;
}

/* The reduced dims as a list for dc_sum & co.; returns their count. */
static int dims_list(int ndim, const bool *reduced, int *dims)
{
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (reduced[d]) dims[n++] = d;
    return n;
}

/* max over the reduced dims, keepdim (one dc_max per dim). */
static dc_tensor *amax_keepdim(dc_tensor *t, const bool *reduced)
{
    for (int d = 0; t && d < t->ndim; d++)
        if (reduced[d]) t = dc_max(t, d, true);
    return t;
}

/* t (keepdim shape) viewed without the reduced dims. */
static dc_tensor *drop_dims(dc_tensor *t, int ndim, const bool *reduced)
{
    int64_t shape[DC_MAX_DIMS];
    int n = 0;
    for (int d = 0; t && d < ndim; d++)
        if (!reduced[d]) shape[n++] = t->shape[d];
    return t ? dc_reshape(t, n, shape) : NULL;
}

/* Take over a tensor computed inside the scope opened at `scope` (under no-grad) as a
 * result of the caller's own, to record a node on: the scope is closed, t survives with
 * one reference. A result that is shared (an input passed through) is copied. */
static dc_tensor *adopt(size_t scope, dc_tensor *t)
{
    dc_tensor_retain(t);
    dc_scope_end(scope);
    if (t && t->refcount > 1) {
        size_t inner = dc_scope_begin();
        dc_tensor *copy = dc_tensor_retain(dc_clone(t));
        dc_scope_end(inner);
        dc_tensor_free(t);
        t = copy;
    }
    return t;
}

/* node: f[0] = p; i[0] = keepdim, i[1 + d] = dim d reduced. saved: x, the norm (clamped at
 * eps for cosine_similarity's norms, as torch 1.13 clamps its norm in place). */
static int norm_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *n = node->saved[1];
    const double p = node->f[0];
    bool reduced[DC_MAX_DIMS];
    for (int d = 0; d < DC_MAX_DIMS; d++) reduced[d] = d < x->ndim && node->i[1 + d];
    if (!node->i[0]) /* back to the keepdim shape */
        for (int d = 0; d < x->ndim; d++)
            if (reduced[d]) g = dc_unsqueeze(g, d), n = dc_unsqueeze(n, d);
    dc_tensor *zero = dc_scalar(x->dtype, 0), *n_is_0 = dc_eq(n, zero), *dx;
    if (p == 0) { /* a count: zero gradient */
        dx = dc_zeros(x->dtype, x->ndim, x->shape);
    } else if (p == 1) { /* sgn(x) g */
        dx = dc_mul(dc_sign(x), g);
    } else if (p == 2) { /* x g / n, 0 where n = 0 */
        dx = dc_mul(x, dc_where(n_is_0, zero, dc_div(g, n)));
    } else if (isinf(p)) { /* sgn(x) g / #ties at the ties (|x| = n or NaN), else 0 */
        dc_tensor *ax = dc_abs(x);
        dc_tensor *tie = dc_maximum(dc_eq(ax, n), dc_rsub_scalar(dc_eq(ax, ax), 1));
        int dims[DC_MAX_DIMS], nd = dims_list(x->ndim, reduced, dims);
        dc_tensor *count = nd ? dc_sum(tie, nd, dims, true) : tie;
        dx = dc_mul(dc_sign(x), dc_mul(dc_div(g, count), tie));
    } else {
        dc_tensor *ax = dc_abs(x);
        if (p < 1) { /* sgn(x) |x|^(p-1) (0 at x = 0) g n^(1-p) */
            dc_tensor *scaled = dc_where(dc_eq(x, zero), zero, dc_pow_scalar(ax, p - 1));
            dx = dc_mul(dc_mul(dc_sign(x), scaled), dc_mul(g, dc_pow_scalar(n, 1 - p)));
        } else { /* sgn(x) |x|^(p-1) g / n^(p-1), 0 where n = 0 */
            dc_tensor *scaled = p < 2 ? dc_mul(dc_sign(x), dc_pow_scalar(ax, p - 1))
                                      : dc_mul(x, dc_pow_scalar(ax, p - 2));
            dx = dc_mul(scaled, dc_where(n_is_0, zero, dc_div(g, dc_pow_scalar(n, p - 1))));
        }
    }
    grads[0] = dx;
    return dx ? 0 : -1;
}

/* The norm of a over the reduced dims; clamp_eps >= 0 clamps the value below at it (the
 * backward then uses the clamped value, like torch's cosine_similarity). */
static dc_tensor *norm_impl(const char *op, dc_tensor *a, double p, int ndims, const int *dims,
                            bool keepdim, double clamp_eps)
{
    DC_CHECK_TENSOR(a, op);
    if (!dc__check_float(a, op)) return NULL;
    if (isnan(p)) return dc_error("%s: the order p is NaN", op);
    bool reduced[DC_MAX_DIMS];
    if (!parse_dims(a, ndims, dims, op, reduced)) return NULL;
    int list[DC_MAX_DIMS], nd = dims_list(a->ndim, reduced, list);
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *ax = dc_abs(a), *v;
    /* a scalar (no dim to reduce) is its own reduction */
#define REDUCE_SUM(t) (nd ? dc_sum((t), nd, list, true) : (t))
    if (p == 2) v = dc_sqrt(REDUCE_SUM(dc_mul(a, a)));
    else if (p == 1) v = REDUCE_SUM(ax);
    else if (p == 0) v = REDUCE_SUM(dc_rsub_scalar(dc_eq(a, dc_scalar(a->dtype, 0)), 1));
    else if (p == INFINITY) v = amax_keepdim(ax, reduced);
    else if (p == -INFINITY) v = dc_neg(amax_keepdim(dc_neg(ax), reduced));
    else v = dc_pow_scalar(REDUCE_SUM(dc_pow_scalar(ax, p)), 1 / p);
#undef REDUCE_SUM
    if (!keepdim) v = drop_dims(v, a->ndim, reduced);
    if (v && clamp_eps >= 0) v = dc_clamp(v, clamp_eps, NAN);
    if (v) v = dc_contiguous(v);
    dc_grad_mode_restore(prev);
    dc_tensor *out = adopt(scope, v);
    if (!out) return NULL;
    dc_node *node;
    if (dc__record(out, "norm", norm_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->f[0] = p;
        node->i[0] = keepdim;
        for (int d = 0; d < a->ndim; d++) node->i[1 + d] = reduced[d];
        if (dc__save(node, a) < 0 || dc__save(node, out) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* ||a||_p = (sum |a|^p)^(1/p) over dims; p = inf / -inf: max / min |a|; p = 0: count of
 * nonzeros; p = 2 over all dims is the Frobenius norm */
dc_tensor *dc_norm(dc_tensor *a, double p, int ndims, const int *dims, bool keepdim)
{
    return norm_impl("dc_norm", a, p, ndims, dims, keepdim, -1);
}

/* ---- Cosine similarity and normalisation ------------------------------------------------ */

/* torch 1.13: sum((x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps)), dim) with x1, x2
 * broadcast together and the norms (over dim, keepdim) clamped in place: below eps the
 * gradient still flows through the norm, as x / max(||x||, eps). */
dc_tensor *dc_cosine_similarity(dc_tensor *x1, dc_tensor *x2, int dim, double eps)
{
    DC_CHECK_TENSOR(x1, "dc_cosine_similarity");
    DC_CHECK_TENSOR(x2, "dc_cosine_similarity");
    if (!dc__check_float(x1, "dc_cosine_similarity") ||
        !dc__check_same_dtype(x1, x2, "dc_cosine_similarity"))
        return NULL;
    if (!(eps >= 0)) return dc_error("dc_cosine_similarity: eps must be >= 0, got %g", eps);
    int64_t shape[DC_MAX_DIMS];
    int ndim = dc__broadcast_shape(x1->ndim, x1->shape, x2->ndim, x2->shape, shape,
                                   "dc_cosine_similarity");
    if (ndim < 0) return NULL;
    int d = dc__norm_dim(dim, ndim, "dc_cosine_similarity");
    if (d < 0) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_expand(x1, ndim, shape), *b = dc_expand(x2, ndim, shape);
    int dims[1] = {d};
    dc_tensor *na = norm_impl("dc_cosine_similarity", a, 2, ndim ? 1 : 0, dims, true, eps);
    dc_tensor *nb = norm_impl("dc_cosine_similarity", b, 2, ndim ? 1 : 0, dims, true, eps);
    dc_tensor *prod = dc_mul(dc_div(a, na), dc_div(b, nb));
    return dc_scope_return(scope, ndim ? dc_sum(prod, 1, dims, false) : prod);
}

/* F.normalize: x / max(||x||_p over dim (keepdim), eps) */
dc_tensor *dc_normalize(dc_tensor *x, double p, int dim, double eps)
{
    DC_CHECK_TENSOR(x, "dc_normalize");
    if (!(eps >= 0)) return dc_error("dc_normalize: eps must be >= 0, got %g", eps);
    int d = dc__norm_dim(dim, x->ndim, "dc_normalize");
    if (d < 0) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *n = norm_impl("dc_normalize", x, p, x->ndim ? 1 : 0, (int[]){d}, true, -1);
    return dc_scope_return(scope, n ? dc_div(x, dc_clamp(n, eps, NAN)) : NULL);
}

/* ---- logsumexp, prod, std --------------------------------------------------------------- */
/* (here rather than in reduce.c: they are compositions of the public reductions plus one
 * raw product kernel, and share this file's dim parsing and adopt) */

/* log(sum(exp(a - m))) + m with m = max over the dims (treated as a constant), and m := 0
 * where it is infinite, as torch: a row of -inf gives -inf, a +inf gives +inf. The
 * gradient is that of the composition, softmax(a) * g (NaN in all -inf rows, as torch). */
dc_tensor *dc_logsumexp(dc_tensor *a, int ndims, const int *dims, bool keepdim)
{
    DC_CHECK_TENSOR(a, "dc_logsumexp");
    if (!dc__check_float(a, "dc_logsumexp")) return NULL;
    bool reduced[DC_MAX_DIMS];
    if (!parse_dims(a, ndims, dims, "dc_logsumexp", reduced)) return NULL;
    int list[DC_MAX_DIMS], nd = dims_list(a->ndim, reduced, list);
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    bool empty = false;
    int64_t keep_shape[DC_MAX_DIMS];
    for (int d = 0; d < a->ndim; d++) {
        keep_shape[d] = reduced[d] ? 1 : a->shape[d];
        empty |= reduced[d] && a->shape[d] == 0;
    }
    dc_tensor *m = empty ? dc_zeros(a->dtype, a->ndim, keep_shape) : amax_keepdim(a, reduced);
    if (m) m = dc_masked_fill(m, dc_eq(dc_abs(m), dc_scalar(a->dtype, INFINITY)), 0);
    dc_grad_mode_restore(prev);
    dc_tensor *s = nd ? dc_sum(dc_exp(dc_sub(a, m)), nd, list, keepdim) : dc_exp(dc_sub(a, m));
    dc_tensor *out = dc_add(dc_log(s), keepdim ? m : drop_dims(m, a->ndim, reduced));
    return dc_scope_return(scope, out);
}

typedef struct {
    int nkept;
    int64_t kept_size[DC_MAX_DIMS], kept_stride[DC_MAX_DIMS];
    int64_t n, stride; /* the reduced dim */
    const char *in;
    char *out; /* contiguous, kept dims in order */
    dc_dtype dtype;
} prod_job;

static void prod_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const prod_job *j = ctx;
    for (int64_t o = begin; o < end; o++) {
        int64_t off = dc__unravel(j->nkept, j->kept_size, j->kept_stride, o);
        double acc = 1; /* float32 products accumulate in double */
        if (j->dtype == DC_F32) {
            const float *p = (const float *)j->in + off;
            for (int64_t i = 0; i < j->n; i++) acc *= p[i * j->stride];
            ((float *)j->out)[o] = (float)acc;
        } else {
            const double *p = (const double *)j->in + off;
            for (int64_t i = 0; i < j->n; i++) acc *= p[i * j->stride];
            ((double *)j->out)[o] = acc;
        }
    }
}

/* prod: dx_k = g * prod_{j != k} x_j along the dim. Without zeros in x that is g * y / x
 * (torch's fast path); otherwise per row (torch's prod_backward): with no zero y / x, with
 * one zero the product of the others at the zero and 0 elsewhere, with more zeros 0.
 * node: i[0] = keepdim, i[1] = dim; saved: x, y. */
static int prod_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *y = node->saved[1];
    int dim = (int)node->i[1];
    if (!node->i[0] && x->ndim > 0) g = dc_unsqueeze(g, dim), y = dc_unsqueeze(y, dim);
    dc_tensor *zero = dc_scalar(x->dtype, 0), *one = dc_scalar(x->dtype, 1);
    dc_tensor *is0 = dc_eq(x, zero);
    double zeros = 0;
    if (!is0 || dc_to_double_buffer(dc_sum_all(is0), &zeros, 1) != 0) return -1;
    if (zeros == 0) {
        grads[0] = dc_mul(g, dc_div(y, x));
        return grads[0] ? 0 : -1;
    }
    dc_tensor *count = dc_sum(is0, 1, &dim, true);
    dc_tensor *safe = dc_where(is0, one, x);
    dc_tensor *others = dc_prod(safe, dim, true); /* the product of the nonzeros */
    dc_tensor *at_zero = dc_mul(others, dc_eq(count, one));
    dc_tensor *elsewhere = dc_mul(dc_div(others, safe), dc_eq(count, zero));
    grads[0] = dc_mul(g, dc_where(is0, at_zero, elsewhere));
    return grads[0] ? 0 : -1;
}

/* prod over one dim: out[kept] = prod_i a[.., i, ..] (1 for an empty dim) */
dc_tensor *dc_prod(dc_tensor *a, int dim, bool keepdim)
{
    DC_CHECK_TENSOR(a, "dc_prod");
    if (!dc__check_float(a, "dc_prod")) return NULL;
    int d = dc__norm_dim(dim, a->ndim, "dc_prod");
    if (d < 0) return NULL;
    prod_job j = {.in = dc_data(a), .dtype = a->dtype, .n = 1, .stride = 0};
    int64_t shape[DC_MAX_DIMS];
    int ndim = 0;
    for (int k = 0; k < a->ndim; k++) {
        if (k == d) {
            j.n = a->shape[k], j.stride = a->stride[k];
            if (keepdim) shape[ndim++] = 1;
            continue;
        }
        j.kept_size[j.nkept] = a->shape[k];
        j.kept_stride[j.nkept++] = a->stride[k];
        shape[ndim++] = a->shape[k];
    }
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;
    j.out = dc_data(out);
    int64_t n_out = dc_numel(out), cost = j.n > 0 ? j.n : 1;
    dc_parallel_for(n_out, 32768 / cost > 0 ? 32768 / cost : 1, prod_range, &j);
    dc_node *node;
    if (dc__record(out, "prod", prod_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = keepdim;
        node->i[1] = d;
        if (dc__save(node, a) < 0 || dc__save(node, out) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* product of all elements (a scalar): prod over the flattened tensor */
dc_tensor *dc_prod_all(dc_tensor *a)
{
    DC_CHECK_TENSOR(a, "dc_prod_all");
    if (!dc__check_float(a, "dc_prod_all")) return NULL;
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_prod(dc_reshape(a, 1, (int64_t[]){-1}), 0, false));
}

/* std = sqrt(var): dx = var's gradient of g / (2 std), with g / (2 std) := 0 where std = 0
 * (torch: a constant row has gradient 0, not NaN), i.e.
 * dx = (x - mean) * where(std = 0, 0, g / std) / (N - correction).
 * node: i[0] = keepdim, i[1 + d] = dim d reduced, f[0] = 1 / (N - correction); saved: x, std. */
static int std_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *s = node->saved[1];
    bool reduced[DC_MAX_DIMS];
    for (int d = 0; d < DC_MAX_DIMS; d++) reduced[d] = d < x->ndim && node->i[1 + d];
    int dims[DC_MAX_DIMS], nd = dims_list(x->ndim, reduced, dims);
    if (!node->i[0])
        for (int d = 0; d < x->ndim; d++)
            if (reduced[d]) g = dc_unsqueeze(g, d), s = dc_unsqueeze(s, d);
    dc_tensor *zero = dc_scalar(x->dtype, 0);
    dc_tensor *scale = dc_where(dc_eq(s, zero), zero, dc_mul_scalar(dc_div(g, s), node->f[0]));
    dc_tensor *centred = nd ? dc_sub(x, dc_mean(x, nd, dims, true)) : dc_sub(x, x);
    grads[0] = dc_mul(centred, scale);
    return grads[0] ? 0 : -1;
}

/* std = sqrt(sum (a - mean)^2 / max(0, N - correction)) over dims (ndims == 0: all) */
dc_tensor *dc_std(dc_tensor *a, int ndims, const int *dims, int correction, bool keepdim)
{
    DC_CHECK_TENSOR(a, "dc_std");
    if (!dc__check_float(a, "dc_std")) return NULL;
    if (correction < 0) return dc_error("dc_std: correction must be >= 0, got %d", correction);
    bool reduced[DC_MAX_DIMS];
    if (!parse_dims(a, ndims, dims, "dc_std", reduced)) return NULL;
    int64_t count = 1;
    for (int d = 0; d < a->ndim; d++)
        if (reduced[d]) count *= a->shape[d];
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *v = dc_var(a, ndims, dims, correction, keepdim);
    if (v) v = dc_sqrt(v);
    dc_grad_mode_restore(prev);
    dc_tensor *out = adopt(scope, v);
    if (!out) return NULL;
    dc_node *node;
    if (dc__record(out, "std", std_backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = keepdim;
        for (int d = 0; d < a->ndim; d++) node->i[1 + d] = reduced[d];
        node->f[0] = 1.0 / (double)(count - correction > 0 ? count - correction : 0);
        if (dc__save(node, a) < 0 || dc__save(node, out) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}
