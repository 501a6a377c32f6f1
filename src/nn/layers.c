/* Basic layers as modules: Linear (book §4.1), activations (§4.3), Flatten, Sequential.
 * Each constructor follows torch.nn's argument order and default initialisation. */
#include "deepc/nn.h"
#include "../core/internal.h"
#include "../quant/quant_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Linear module ---------------------------------------------------------------------------- */

/* impl: NULL, or the quantized weight set by dc_module_quantize (src/quant/), used for
 * inference when no gradient is needed. */
static dc_tensor *linear_forward(dc_module *m, dc_tensor *x)
{
    if (dc__qweight_applies(m, x)) return dc_qlinear(x, m->impl, dc_module_param(m, "bias"));
    return dc_linear(x, dc_module_param(m, "weight"), dc_module_param(m, "bias"));
}

static void linear_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_tensor *w = dc_module_param(m, "weight");
    snprintf(buf, size, "in_features=%lld, out_features=%lld, bias=%s", (long long)w->shape[1],
             (long long)w->shape[0], dc_module_param(m, "bias") ? "true" : "false");
}

dc_module *dc_linear_new(int64_t in_features, int64_t out_features, bool bias, dc_rng *rng)
{
    if (in_features <= 0 || out_features <= 0)
        return dc_error("dc_linear_new: features must be positive (in %lld, out %lld)",
                        (long long)in_features, (long long)out_features);
    dc_module *m = dc_module_new("Linear");
    if (!m) return NULL;
    m->forward = linear_forward;
    m->describe = linear_describe;
    /* torch: kaiming_uniform_(a=sqrt(5)) == U(-1/sqrt(in), 1/sqrt(in)); same bound for bias */
    double bound = 1.0 / sqrt((double)in_features);
    size_t scope = dc_scope_begin();
    dc_tensor *w = dc_uniform(rng, DC_F32, 2, (int64_t[]){out_features, in_features}, -bound, bound);
    bool ok = dc_module_add_param(m, "weight", w) != NULL;
    if (ok && bias)
        ok = dc_module_add_param(m, "bias", dc_uniform(rng, DC_F32, 1, &out_features, -bound, bound));
    dc_scope_end(scope);
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

/* ---- Activations as modules ------------------------------------------------------------------- */

typedef struct {
    dc_activation kind;
    double param;
} activation_impl;

dc_tensor *dc_activation_apply(dc_activation kind, double param, dc_tensor *x)
{
    switch (kind) {
    case DC_ACT_IDENTITY: return dc__publish(dc_tensor_retain(x));
    case DC_ACT_RELU: return dc_relu(x);
    case DC_ACT_TANH: return dc_tanh(x);
    case DC_ACT_SIGMOID: return dc_sigmoid(x);
    case DC_ACT_GELU: return dc_gelu(x, false);
    case DC_ACT_GELU_TANH: return dc_gelu(x, true);
    case DC_ACT_SILU: return dc_silu(x);
    case DC_ACT_LEAKY_RELU: return dc_leaky_relu(x, param);
    case DC_ACT_SOFTPLUS: return dc_softplus(x, param > 0 ? param : 1.0, 20.0);
    }
    return dc_error("dc_activation_apply: unknown activation %d", (int)kind);
}

static const char *const activation_types[] = {
    [DC_ACT_IDENTITY] = "Identity", [DC_ACT_RELU] = "ReLU", [DC_ACT_TANH] = "Tanh",
    [DC_ACT_SIGMOID] = "Sigmoid", [DC_ACT_GELU] = "GELU", [DC_ACT_GELU_TANH] = "GELU",
    [DC_ACT_SILU] = "SiLU", [DC_ACT_LEAKY_RELU] = "LeakyReLU", [DC_ACT_SOFTPLUS] = "Softplus",
};

static dc_tensor *activation_forward(dc_module *m, dc_tensor *x)
{
    const activation_impl *a = m->impl;
    if (!x) return dc_error("%s: input is NULL", m->type);
    return dc_activation_apply(a->kind, a->param, x);
}

static void activation_describe(const dc_module *m, char *buf, size_t size)
{
    const activation_impl *a = m->impl;
    if (a->kind == DC_ACT_LEAKY_RELU) snprintf(buf, size, "negative_slope=%g", a->param);
    else if (a->kind == DC_ACT_GELU_TANH) snprintf(buf, size, "approximate='tanh'");
    else if (a->kind == DC_ACT_SOFTPLUS) snprintf(buf, size, "beta=%g", a->param);
    else buf[0] = '\0';
}

dc_module *dc_activation_new(dc_activation kind, double param)
{
    if ((unsigned)kind > DC_ACT_SOFTPLUS)
        return dc_error("dc_activation_new: unknown activation %d", (int)kind);
    dc_module *m = dc_module_new_impl(activation_types[kind], &(activation_impl){kind, param},
                                      sizeof(activation_impl));
    if (!m) return NULL;
    m->forward = activation_forward;
    m->describe = activation_describe;
    return m;
}

/* ---- Flatten ------------------------------------------------------------------------------------ */

static dc_tensor *flatten_forward(dc_module *m, dc_tensor *x)
{
    const int *dims = m->impl;
    return dc_flatten(x, dims[0], dims[1]);
}

dc_module *dc_flatten_new(int start_dim, int end_dim)
{
    dc_module *m = dc_module_new_impl("Flatten", (int[]){start_dim, end_dim}, 2 * sizeof(int));
    if (!m) return NULL;
    m->forward = flatten_forward;
    return m;
}

/* ---- Sequential --------------------------------------------------------------------------------- */

static dc_tensor *sequential_forward(dc_module *m, dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    for (int i = 0; i < m->n_children && x; i++) x = dc_forward(m->children[i], x);
    return dc_scope_return(scope, x);
}

dc_module *dc_sequential_new(int n, ...)
{
    dc_module *m = dc_module_new("Sequential");
    va_list ap;
    va_start(ap, n);
    bool ok = m != NULL;
    for (int i = 0; i < n; i++) {
        dc_module *child = va_arg(ap, dc_module *);
        if (ok) ok = dc_sequential_append(m, child) != NULL;
        else dc_module_free(child); /* the container owns its children, even on failure */
    }
    va_end(ap);
    if (!ok) {
        dc_module_free(m);
        return dc_error("dc_sequential_new: could not build the container (%s)", dc_last_error());
    }
    return m;
}

dc_module *dc_sequential_append(dc_module *seq, dc_module *child)
{
    if (!seq) {
        dc_module_free(child);
        return dc_error("dc_sequential_append: container is NULL");
    }
    char name[16];
    snprintf(name, sizeof name, "%d", seq->n_children);
    seq->forward = sequential_forward;
    return dc_module_add_child(seq, name, child);
}
