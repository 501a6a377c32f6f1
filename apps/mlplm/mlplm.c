/* The MLP language model, its diagnostics and its hand-written backward (apps/mlplm/mlplm.h). */
#include "mlplm/mlplm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MLPLM_MAX_DEPTH = 16 };
#define BN_EPS 1e-5

static dc_tensor *mlplm_module_forward(dc_module *m, dc_tensor *ids)
{
    return mlplm_forward(m, ids, NULL);
}

static void mlplm_describe(const dc_module *m, char *buf, size_t size)
{
    const mlplm_config *c = m->impl;
    snprintf(buf, size, "vocab=%lld, block=%lld, emb=%lld, width=%lld, depth=%d, batchnorm=%s",
             (long long)c->vocab, (long long)c->block, (long long)c->emb, (long long)c->width,
             c->depth, c->batchnorm ? "true" : "false");
}

/* Register child under name in parent; frees child and returns false on failure. */
static bool add(dc_module *parent, const char *name, dc_module *child)
{
    if (!child) return false;
    return dc_module_add_child(parent, name, child) != NULL;
}

dc_module *mlplm_new(const mlplm_config *config, dc_rng *rng)
{
    if (!config) return dc_error("mlplm_new: config is NULL");
    const mlplm_config c = *config;
    if (c.vocab < 2 || c.block < 1 || c.emb < 1 || c.width < 1 || c.depth < 1 ||
        c.depth > MLPLM_MAX_DEPTH)
        return dc_error("mlplm_new: vocab (%lld) must be >= 2, block (%lld), emb (%lld) and width "
                        "(%lld) >= 1, depth (%d) in [1, %d]",
                        (long long)c.vocab, (long long)c.block, (long long)c.emb,
                        (long long)c.width, c.depth, MLPLM_MAX_DEPTH);
    dc_module *m = dc_module_new_impl("MLPLM", &c, sizeof c);
    if (!m) return NULL;
    m->forward = mlplm_module_forward;
    m->describe = mlplm_describe;
    dc_module *layers = dc_module_new("ModuleList");
    bool ok = add(m, "emb", dc_embedding_new(c.vocab, c.emb, rng));
    if (ok) ok = add(m, "layers", layers);
    else dc_module_free(layers);
    for (int i = 0; ok && i < c.depth; i++) {
        int64_t fan_in = i == 0 ? c.block * c.emb : c.width;
        dc_module *layer = dc_module_new("Layer");
        char name[16];
        snprintf(name, sizeof name, "%d", i);
        ok = add(layers, name, layer);
        dc_module *fc = ok ? dc_linear_new(fan_in, c.width, !c.batchnorm, rng) : NULL;
        ok = ok && add(layer, "fc", fc);
        ok = ok && dc_normal_(rng, dc_module_param(fc, "weight"), 0, 5.0 / 3 / sqrt((double)fan_in)) == 0;
        if (ok && c.batchnorm) ok = add(layer, "bn", dc_batch_norm1d_new(c.width, BN_EPS, 0.1, true));
    }
    dc_module *head = ok ? dc_linear_new(c.width, c.vocab, true, rng) : NULL;
    ok = ok && add(m, "head", head) &&
         dc_normal_(rng, dc_module_param(head, "weight"), 0, 0.1 / sqrt((double)c.width)) == 0 &&
         dc_fill_(dc_module_param(head, "bias"), 0) == 0;
    if (!ok) {
        dc_module_free(m);
        return dc_error("mlplm_new: %s", dc_last_error());
    }
    return m;
}

const mlplm_config *mlplm_get_config(const dc_module *model)
{
    return model && model->type && !strcmp(model->type, "MLPLM") ? model->impl : NULL;
}

static dc_module *layer_part(dc_module *model, int i, const char *part)
{
    char name[40];
    snprintf(name, sizeof name, "layers.%d.%s", i, part);
    return dc_module_child(model, name);
}

static int check_ids(const char *fn, const mlplm_config *c, dc_tensor *ids)
{
    if (!c) return dc_error("%s: not an MLPLM model", fn), -1;
    if (!ids || ids->dtype != DC_I64 || ids->ndim != 2 || ids->shape[1] != c->block) {
        char buf[64];
        return dc_error("%s: ids must be int64 [B, %lld], got %s", fn, (long long)c->block,
                        ids ? dc_shape_str(ids, buf, sizeof buf) : "NULL"),
               -1;
    }
    return 0;
}

dc_tensor *mlplm_forward(dc_module *model, dc_tensor *ids, dc_tensor **acts)
{
    const mlplm_config *c = mlplm_get_config(model);
    if (check_ids("mlplm_forward", c, ids) != 0) return NULL;
    dc_tensor *e = dc_forward(dc_module_child(model, "emb"), ids);
    dc_tensor *x = dc_reshape(e, DC_SHAPE(ids->shape[0], c->block * c->emb));
    for (int i = 0; i < c->depth; i++) {
        dc_tensor *z = dc_forward(layer_part(model, i, "fc"), x);
        if (c->batchnorm) z = dc_forward(layer_part(model, i, "bn"), z);
        x = dc_tanh(z);
        if (acts) acts[i] = x;
    }
    return dc_forward(dc_module_child(model, "head"), x);
}

int mlplm_to_dtype(dc_module *model, dc_dtype dtype)
{
    if (!model || !dc_dtype_is_float(dtype)) return dc_error("mlplm_to_dtype: bad arguments"), -1;
    for (int k = 0; k < 2; k++) {
        int n = k ? model->n_buffers : model->n_params;
        dc_tensor **list = k ? model->buffers : model->params;
        for (int i = 0; i < n; i++) {
            dc_tensor *old = list[i];
            if (!dc_dtype_is_float(old->dtype) || old->dtype == dtype) continue;
            size_t scope = dc_scope_begin();
            dc_tensor *t = dc_clone(dc_to_dtype(dc_detach(old), dtype));
            if (t) dc_tensor_retain(t);
            dc_scope_end(scope);
            if (!t) return -1;
            if (old->requires_grad) dc_requires_grad(t, true);
            list[i] = t;
            dc_tensor_free(old);
        }
    }
    for (int i = 0; i < model->n_children; i++)
        if (mlplm_to_dtype(model->children[i], dtype) != 0) return -1;
    return 0;
}

/* ---- Backprop ninja ----------------------------------------------------------------------- */

static const int dim0[1] = {0};

/* Sum over the batch dim (keepdim as asked). */
static dc_tensor *bsum(dc_tensor *t, bool keep) { return dc_sum(t, 1, dim0, keep); }

/* Forward, for x [B, fan_in] -> z = x W^T (+ b) -> batch norm: mu = mean_B z,
 * var = mean_B (z - mu)^2, istd = (var + eps)^-1/2, xhat = (z - mu) istd, y = gamma xhat + beta
 * -> h = tanh(y) -> logits = h W2^T + b2 -> loss = mean_i -log softmax(logits_i)[t_i].
 * Backward, by the chain rule layer by layer:
 *   dlogits = (softmax(logits) - onehot(t)) / B
 *   dW2 = dlogits^T h, db2 = sum_B dlogits, dh = dlogits W2
 *   dy = dh (1 - h^2)
 *   dgamma = sum_B dy xhat, dbeta = sum_B dy, dxhat = dy gamma
 *   dz = istd / B (B dxhat - sum_B dxhat - xhat sum_B (dxhat xhat))
 *   dW = dz^T x, db = sum_B dz, dx = dz W  (the layer below's dh)
 *   dC[id] += d(embedding row) for every position (repeats accumulate). */
dc_tensor *mlplm_manual_backward(dc_module *model, dc_tensor *ids, dc_tensor *targets,
                                 dc_tensor **grads)
{
    static const char fn[] = "mlplm_manual_backward";
    const mlplm_config *c = mlplm_get_config(model);
    if (check_ids(fn, c, ids) != 0) return NULL;
    int64_t B = ids->shape[0];
    if (!grads) return dc_error("%s: grads is NULL", fn);
    if (!targets || targets->dtype != DC_I64 || targets->ndim != 1 || targets->shape[0] != B)
        return dc_error("%s: targets must be int64 [%lld]", fn, (long long)B);
    if (c->batchnorm && B < 2) return dc_error("%s: batch norm needs a batch of 2 or more", fn);
    bool grad_mode = dc_no_grad_begin();
    int L = c->depth;
    dc_tensor *xs[MLPLM_MAX_DEPTH], *xhat[MLPLM_MAX_DEPTH], *istd[MLPLM_MAX_DEPTH],
        *hs[MLPLM_MAX_DEPTH], *W[MLPLM_MAX_DEPTH], *b[MLPLM_MAX_DEPTH], *gamma[MLPLM_MAX_DEPTH],
        *beta[MLPLM_MAX_DEPTH];
    dc_tensor *C = dc_module_param(model, "emb.weight");
    dc_tensor *x = dc_reshape(dc_index_select(C, 0, ids), DC_SHAPE(B, c->block * c->emb));
    for (int l = 0; l < L; l++) {
        dc_module *fc = layer_part(model, l, "fc"), *bn = layer_part(model, l, "bn");
        W[l] = dc_module_param(fc, "weight"), b[l] = dc_module_param(fc, "bias");
        xs[l] = x;
        dc_tensor *y = dc_linear(x, W[l], b[l]);
        if (c->batchnorm) {
            gamma[l] = dc_module_param(bn, "weight"), beta[l] = dc_module_param(bn, "bias");
            dc_tensor *d = dc_sub(y, dc_mean(y, 1, dim0, true));
            istd[l] = dc_pow_scalar(dc_add_scalar(dc_mean(dc_mul(d, d), 1, dim0, true), BN_EPS), -0.5);
            xhat[l] = dc_mul(d, istd[l]);
            y = dc_add(dc_mul(xhat[l], gamma[l]), beta[l]);
        }
        x = hs[l] = dc_tanh(y);
    }
    dc_tensor *W2 = dc_module_param(model, "head.weight");
    dc_tensor *logits = dc_linear(x, W2, dc_module_param(model, "head.bias"));
    dc_tensor *loss = dc_cross_entropy(logits, targets, NULL);
    dc_tensor *onehot = dc_to_dtype(dc_one_hot(targets, c->vocab), logits ? logits->dtype : DC_F32);
    dc_tensor *dlogits = dc_mul_scalar(dc_sub(dc_softmax(logits, 1), onehot), 1.0 / (double)B);
    dc_tensor *dW2 = dc_matmul(dc_transpose(dlogits, 0, 1), x), *db2 = bsum(dlogits, false);
    dc_tensor *dh = dc_matmul(dlogits, W2);
    dc_tensor *dW[MLPLM_MAX_DEPTH], *db[MLPLM_MAX_DEPTH], *dgamma[MLPLM_MAX_DEPTH],
        *dbeta[MLPLM_MAX_DEPTH];
    for (int l = L - 1; l >= 0; l--) {
        dc_tensor *dy = dc_mul(dh, dc_rsub_scalar(dc_mul(hs[l], hs[l]), 1.0));
        dc_tensor *dz = dy;
        if (c->batchnorm) {
            dgamma[l] = bsum(dc_mul(dy, xhat[l]), false), dbeta[l] = bsum(dy, false);
            dc_tensor *dxhat = dc_mul(dy, gamma[l]);
            dc_tensor *inner = dc_sub(dc_sub(dc_mul_scalar(dxhat, (double)B), bsum(dxhat, true)),
                                      dc_mul(xhat[l], bsum(dc_mul(dxhat, xhat[l]), true)));
            dz = dc_mul(dc_mul_scalar(istd[l], 1.0 / (double)B), inner);
        }
        dW[l] = dc_matmul(dc_transpose(dz, 0, 1), xs[l]);
        db[l] = b[l] ? bsum(dz, false) : NULL;
        dh = dc_matmul(dz, W[l]);
    }
    dc_tensor *dC = dc_index_add(dc_zeros_like(C), 0, dc_reshape(ids, DC_SHAPE(-1)),
                                 dc_reshape(dh, DC_SHAPE(B * c->block, c->emb)), 1.0);
    dc_grad_mode_restore(grad_mode);
    if (!loss || !dC || !dW2 || !db2) return NULL;
    dc_tensor_list params;
    if (dc_module_parameters(model, &params) != 0) return NULL;
    bool ok = true;
    for (int i = 0; i < params.n; i++) {
        const char *name = params.names[i];
        int l = -1;
        char part[32] = "";
        dc_tensor *g = NULL;
        if (!strcmp(name, "emb.weight")) g = dC;
        else if (!strcmp(name, "head.weight")) g = dW2;
        else if (!strcmp(name, "head.bias")) g = db2;
        else if (sscanf(name, "layers.%d.%31s", &l, part) == 2 && l >= 0 && l < L) {
            if (!strcmp(part, "fc.weight")) g = dW[l];
            else if (!strcmp(part, "fc.bias")) g = db[l];
            else if (c->batchnorm && !strcmp(part, "bn.weight")) g = dgamma[l];
            else if (c->batchnorm && !strcmp(part, "bn.bias")) g = dbeta[l];
        }
        if (!g) ok = (dc_error("%s: no gradient for %s", fn, name), false);
        grads[i] = g;
    }
    dc_tensor_list_free(&params);
    return ok ? loss : NULL;
}

/* ---- Data, sampling, statistics ------------------------------------------------------------ */

dc_dataset *mlplm_windows(const int64_t *ids, int64_t n, int64_t boundary, int64_t vocab,
                          int64_t block)
{
    if (!ids || n < 1 || block < 1 || boundary < 0 || boundary >= vocab)
        return dc_error("mlplm_windows: no ids, block < 1 or boundary outside the vocabulary");
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= vocab)
            return dc_error("mlplm_windows: id %lld at %lld is not in [0, %lld)",
                            (long long)ids[i], (long long)i, (long long)vocab);
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_empty(DC_I64, DC_SHAPE(n, block)), *y = dc_from_buffer(DC_I64, DC_SHAPE(n), ids);
    dc_dataset *ds = NULL;
    if (x && y) {
        int64_t *px = dc_data(x);
        int64_t since = 0; /* tokens of the current line before position i */
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < block; j++) {
                int64_t back = block - j; /* position i - back */
                px[i * block + j] = back <= since ? ids[i - back] : boundary;
            }
            since = ids[i] == boundary ? 0 : since + 1;
        }
        ds = dc_dataset_new(x, y);
    }
    dc_scope_end(scope);
    return ds;
}

int64_t mlplm_sample(dc_module *model, dc_rng *rng, int64_t boundary, int64_t max_len,
                     int64_t *out)
{
    const mlplm_config *c = mlplm_get_config(model);
    if (!c || !rng || !out || max_len < 1 || boundary < 0 || boundary >= c->vocab)
        return dc_error("mlplm_sample: bad model, generator, output, length or boundary"), -1;
    float *logits = malloc((size_t)c->vocab * sizeof *logits);
    int64_t *ctx = malloc((size_t)c->block * sizeof *ctx);
    if (!logits || !ctx) return free(logits), free(ctx), dc_error("mlplm_sample: out of memory"), -1;
    for (int64_t j = 0; j < c->block; j++) ctx[j] = boundary;
    bool training = model->training, grad = dc_no_grad_begin();
    dc_module_train(model, false);
    int64_t len = 0;
    while (len < max_len) {
        size_t scope = dc_scope_begin();
        dc_tensor *l = dc_forward(model, dc_from_buffer(DC_I64, DC_SHAPE(1, c->block), ctx));
        int rc = l ? dc_to_float_buffer(l, logits, c->vocab) : -1;
        dc_scope_end(scope);
        int64_t next = rc == 0 ? dc_sample_logits(logits, c->vocab, 1.0, 0, 1.0, rng) : -1;
        if (next < 0) {
            len = -1;
            break;
        }
        if (next == boundary) break;
        out[len++] = next;
        memmove(ctx, ctx + 1, (size_t)(c->block - 1) * sizeof *ctx);
        ctx[c->block - 1] = next;
    }
    dc_module_train(model, training);
    dc_grad_mode_restore(grad);
    free(logits), free(ctx);
    return len;
}

int mlplm_stats(const dc_tensor *t, double saturation, double lo, double hi, int bins,
                double *mean, double *std, double *saturated, double *centers, double *density)
{
    int64_t n = dc_numel(t);
    if (!t || n < 1 || ((centers || density) && (bins < 1 || !(hi > lo))))
        return dc_error("mlplm_stats: empty tensor or bad bins"), -1;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v || dc_to_double_buffer(t, v, n) != 0) return free(v), -1;
    double s = 0, s2 = 0;
    int64_t sat = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    double mu = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += (v[i] - mu) * (v[i] - mu), sat += fabs(v[i]) > saturation;
    if (mean) *mean = mu;
    if (std) *std = sqrt(s2 / (double)n);
    if (saturated) *saturated = (double)sat / (double)n;
    double w = (hi - lo) / bins;
    if (density) {
        for (int b = 0; b < bins; b++) density[b] = 0;
        for (int64_t i = 0; i < n; i++) {
            if (!(v[i] >= lo && v[i] <= hi)) continue;
            int b = (int)((v[i] - lo) / w);
            density[b < bins ? b : bins - 1] += 1.0 / ((double)n * w);
        }
    }
    if (centers)
        for (int b = 0; b < bins; b++) centers[b] = lo + (b + 0.5) * w;
    free(v);
    return 0;
}
