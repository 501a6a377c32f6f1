/* Normalisation and dropout layers as modules (book §4.5, §4.6): BatchNorm1d/2d, LayerNorm,
 * GroupNorm, RMSNorm, Dropout, Dropout2d. Each is a thin wrapper over its functional op
 * (src/ops/norm.c, dropout.c) with torch.nn's parameter and buffer names, defaults and
 * initialisation (weight ones, bias zeros; running_mean zeros, running_var ones). */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Register weight (ones) and bias (zeros, unless with_bias is false) of the given shape. */
static bool add_affine(dc_module *m, int ndim, const int64_t *shape, bool with_bias)
{
    size_t scope = dc_scope_begin();
    bool ok = dc_module_add_param(m, "weight", dc_ones(DC_F32, ndim, shape)) != NULL;
    if (ok && with_bias) ok = dc_module_add_param(m, "bias", dc_zeros(DC_F32, ndim, shape)) != NULL;
    dc_scope_end(scope);
    return ok;
}

/* Build-or-free: returns m if ok, else frees it and returns NULL. */
static dc_module *finish(dc_module *m, bool ok)
{
    if (ok) return m;
    dc_module_free(m);
    return NULL;
}

static const char *bool_str(bool b) { return b ? "true" : "false"; }

/* ---- BatchNorm1d / BatchNorm2d ----------------------------------------------------------- */

typedef struct {
    int64_t num_features;
    double eps, momentum;
    bool affine;
    int min_ndim, max_ndim; /* accepted input ranks: 1d [N, C] / [N, C, L], 2d [N, C, H, W] */
} batch_norm_impl;

static dc_tensor *batch_norm_forward(dc_module *m, dc_tensor *x)
{
    const batch_norm_impl *bn = m->impl;
    if (!x) return dc_error("%s: input is NULL", m->type);
    if (x->ndim < bn->min_ndim || x->ndim > bn->max_ndim) {
        char a[96];
        return dc_error("%s: expected a %s input, got %s", m->type,
                        bn->max_ndim == 4 ? "4-D [N, C, H, W]" : "2-D [N, C] or 3-D [N, C, L]",
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    }
    dc_tensor *y = dc_batch_norm(x, dc_module_buffer(m, "running_mean"),
                                 dc_module_buffer(m, "running_var"), dc_module_param(m, "weight"),
                                 dc_module_param(m, "bias"), m->training, bn->momentum, bn->eps);
    if (y && m->training) {
        dc_tensor *tracked = dc_module_buffer(m, "num_batches_tracked");
        (*(int64_t *)dc_data(tracked))++;
    }
    return y;
}

static void batch_norm_describe(const dc_module *m, char *buf, size_t size)
{
    const batch_norm_impl *bn = m->impl;
    snprintf(buf, size, "%lld, eps=%g, momentum=%g, affine=%s, track_running_stats=true",
             (long long)bn->num_features, bn->eps, bn->momentum, bool_str(bn->affine));
}

static dc_module *batch_norm_new(const char *type, int min_ndim, int max_ndim, int64_t C,
                                 double eps, double momentum, bool affine, const char *op)
{
    if (C <= 0) return dc_error("%s: num_features must be positive, got %lld", op, (long long)C);
    if (!(eps >= 0)) return dc_error("%s: eps must be >= 0, got %g", op, eps);
    if (!(momentum >= 0 && momentum <= 1))
        return dc_error("%s: momentum must be in [0, 1], got %g", op, momentum);
    batch_norm_impl impl = {C, eps, momentum, affine, min_ndim, max_ndim};
    dc_module *m = dc_module_new_impl(type, &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = batch_norm_forward;
    m->describe = batch_norm_describe;
    bool ok = !affine || add_affine(m, 1, &C, true);
    size_t scope = dc_scope_begin();
    ok = ok && dc_module_add_buffer(m, "running_mean", dc_zeros(DC_F32, 1, &C)) &&
         dc_module_add_buffer(m, "running_var", dc_ones(DC_F32, 1, &C)) &&
         dc_module_add_buffer(m, "num_batches_tracked", dc_zeros(DC_I64, 0, NULL));
    dc_scope_end(scope);
    return finish(m, ok);
}

dc_module *dc_batch_norm1d_new(int64_t num_features, double eps, double momentum, bool affine)
{
    return batch_norm_new("BatchNorm1d", 2, 3, num_features, eps, momentum, affine,
                          "dc_batch_norm1d_new");
}

dc_module *dc_batch_norm2d_new(int64_t num_features, double eps, double momentum, bool affine)
{
    return batch_norm_new("BatchNorm2d", 4, 4, num_features, eps, momentum, affine,
                          "dc_batch_norm2d_new");
}

/* ---- LayerNorm / RMSNorm ------------------------------------------------------------------ */

typedef struct {
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    double eps;
    bool affine;
} trailing_norm_impl;

/* x must end with the normalized shape (checked here too: without a weight the op could
 * not tell). */
static bool check_trailing(const dc_module *m, const dc_tensor *x)
{
    const trailing_norm_impl *ln = m->impl;
    if (!x) return dc_error("%s: input is NULL", m->type), false;
    if (x->ndim >= ln->ndim &&
        !memcmp(x->shape + x->ndim - ln->ndim, ln->shape, (size_t)ln->ndim * sizeof *ln->shape))
        return true;
    char a[96], b[96];
    dc_error("%s: input %s does not end with normalized_shape %s", m->type,
             dc__shape_fmt(x->ndim, x->shape, a, sizeof a),
             dc__shape_fmt(ln->ndim, ln->shape, b, sizeof b));
    return false;
}

static dc_tensor *layer_norm_forward(dc_module *m, dc_tensor *x)
{
    const trailing_norm_impl *ln = m->impl;
    if (!check_trailing(m, x)) return NULL;
    return dc_layer_norm(x, ln->ndim, dc_module_param(m, "weight"), dc_module_param(m, "bias"),
                         ln->eps);
}

static dc_tensor *rms_norm_forward(dc_module *m, dc_tensor *x)
{
    const trailing_norm_impl *ln = m->impl;
    if (!check_trailing(m, x)) return NULL;
    return dc_rms_norm(x, ln->ndim, dc_module_param(m, "weight"), ln->eps);
}

static void trailing_norm_describe(const dc_module *m, char *buf, size_t size)
{
    const trailing_norm_impl *ln = m->impl;
    char shape[96], eps[32] = "None";
    dc__shape_fmt(ln->ndim, ln->shape, shape, sizeof shape);
    shape[0] = '(', shape[strlen(shape) - 1] = ')';
    if (ln->eps >= 0) snprintf(eps, sizeof eps, "%g", ln->eps);
    snprintf(buf, size, "%s, eps=%s, elementwise_affine=%s", shape, eps, bool_str(ln->affine));
}

static dc_module *trailing_norm_new(const char *type, int ndim, const int64_t *shape, double eps,
                                    bool affine, bool with_bias, const char *op)
{
    if (ndim < 1 || ndim > DC_MAX_DIMS || !shape)
        return dc_error("%s: normalized_shape must have 1 to %d dims, got %d", op, DC_MAX_DIMS,
                        ndim);
    for (int d = 0; d < ndim; d++)
        if (shape[d] <= 0)
            return dc_error("%s: normalized_shape[%d] = %lld must be positive", op, d,
                            (long long)shape[d]);
    trailing_norm_impl impl = {.ndim = ndim, .eps = eps, .affine = affine};
    memcpy(impl.shape, shape, (size_t)ndim * sizeof *shape);
    dc_module *m = dc_module_new_impl(type, &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = with_bias ? layer_norm_forward : rms_norm_forward;
    m->describe = trailing_norm_describe;
    return finish(m, !affine || add_affine(m, ndim, shape, with_bias));
}

dc_module *dc_layer_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                             bool elementwise_affine)
{
    if (!(eps >= 0)) return dc_error("dc_layer_norm_new: eps must be >= 0, got %g", eps);
    return trailing_norm_new("LayerNorm", ndim, normalized_shape, eps, elementwise_affine, true,
                             "dc_layer_norm_new");
}

dc_module *dc_rms_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                           bool elementwise_affine)
{
    return trailing_norm_new("RMSNorm", ndim, normalized_shape, eps < 0 ? -1 : eps,
                             elementwise_affine, false, "dc_rms_norm_new");
}

/* ---- GroupNorm ------------------------------------------------------------------------------ */

typedef struct {
    int num_groups;
    int64_t num_channels;
    double eps;
    bool affine;
} group_norm_impl;

static dc_tensor *group_norm_forward(dc_module *m, dc_tensor *x)
{
    const group_norm_impl *gn = m->impl;
    if (!x) return dc_error("GroupNorm: input is NULL");
    if (x->ndim < 2 || x->shape[1] != gn->num_channels) {
        char a[96];
        return dc_error("GroupNorm: expected input [N, %lld, ...], got %s",
                        (long long)gn->num_channels, dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    }
    return dc_group_norm(x, gn->num_groups, dc_module_param(m, "weight"),
                         dc_module_param(m, "bias"), gn->eps);
}

static void group_norm_describe(const dc_module *m, char *buf, size_t size)
{
    const group_norm_impl *gn = m->impl;
    snprintf(buf, size, "%d, %lld, eps=%g, affine=%s", gn->num_groups, (long long)gn->num_channels,
             gn->eps, bool_str(gn->affine));
}

dc_module *dc_group_norm_new(int num_groups, int64_t num_channels, double eps, bool affine)
{
    static const char op[] = "dc_group_norm_new";
    if (num_groups < 1 || num_channels < 1 || num_channels % num_groups != 0)
        return dc_error("%s: num_groups %d must divide num_channels %lld", op, num_groups,
                        (long long)num_channels);
    if (!(eps >= 0)) return dc_error("%s: eps must be >= 0, got %g", op, eps);
    group_norm_impl impl = {num_groups, num_channels, eps, affine};
    dc_module *m = dc_module_new_impl("GroupNorm", &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = group_norm_forward;
    m->describe = group_norm_describe;
    return finish(m, !affine || add_affine(m, 1, &num_channels, true));
}

/* ---- Dropout / Dropout2d ------------------------------------------------------------------- */

typedef struct {
    double p;
    dc_rng *rng; /* borrowed; NULL = the global generator */
    bool channels;
} dropout_impl;

static dc_tensor *dropout_forward(dc_module *m, dc_tensor *x)
{
    const dropout_impl *d = m->impl;
    return d->channels ? dc_dropout2d(x, d->p, m->training, d->rng)
                       : dc_dropout(x, d->p, m->training, d->rng);
}

static void dropout_describe(const dc_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "p=%g", ((const dropout_impl *)m->impl)->p);
}

static dc_module *dropout_new(const char *type, double p, dc_rng *rng, bool channels,
                              const char *op)
{
    if (!(p >= 0 && p <= 1))
        return dc_error("%s: dropout probability p must be in [0, 1], got %g", op, p);
    dropout_impl impl = {p, rng, channels};
    dc_module *m = dc_module_new_impl(type, &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = dropout_forward;
    m->describe = dropout_describe;
    return m;
}

dc_module *dc_dropout_new(double p, dc_rng *rng)
{
    return dropout_new("Dropout", p, rng, false, "dc_dropout_new");
}

dc_module *dc_dropout2d_new(double p, dc_rng *rng)
{
    return dropout_new("Dropout2d", p, rng, true, "dc_dropout2d_new");
}
