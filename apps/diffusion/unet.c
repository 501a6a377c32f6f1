/* The epsilon-predicting U-Net, its loss and image generation (see diffusion.h). */
#include "diffusion/diffusion.h"

#include <math.h>
#include <stdlib.h>

enum { GROUPS = 8 };

typedef struct {
    diffusion_unet_config cfg;
} unet_impl;

static dc_module *conv(int64_t in, int64_t out, int k, int stride, dc_rng *rng)
{
    return dc_conv2d_new(in, out, k, k, DC_CONV2D_OPTS(stride, k / 2, 1, 1), true, rng);
}

/* ---- Residual block: x + conv2(SiLU(GN2(conv1(SiLU(GN1(x))) + temb_proj(SiLU(temb))))) ---- */

static dc_module *res_block_new(int64_t in, int64_t out, int64_t temb_dim, dc_rng *rng)
{
    dc_module *m = dc_module_new("ResBlock");
    if (!m) return NULL;
    bool ok = dc_module_add_child(m, "norm1", dc_group_norm_new(GROUPS, in, 1e-5, true)) &&
              dc_module_add_child(m, "conv1", conv(in, out, 3, 1, rng)) &&
              dc_module_add_child(m, "temb_proj", dc_linear_new(temb_dim, out, true, rng)) &&
              dc_module_add_child(m, "norm2", dc_group_norm_new(GROUPS, out, 1e-5, true)) &&
              dc_module_add_child(m, "conv2", conv(out, out, 3, 1, rng)) &&
              (in == out || dc_module_add_child(m, "skip", conv(in, out, 1, 1, rng)));
    if (!ok) dc_module_free(m);
    return ok ? m : NULL;
}

static dc_tensor *fwd(dc_module *m, const char *child, dc_tensor *x)
{
    return dc_forward(dc_module_child(m, child), x);
}

static dc_tensor *res_block(dc_module *m, dc_tensor *x, dc_tensor *temb_act)
{
    dc_tensor *h = fwd(m, "conv1", dc_silu(fwd(m, "norm1", x)));
    dc_tensor *e = fwd(m, "temb_proj", temb_act); /* [N, out] */
    if (!h || !e) return NULL;
    h = dc_add(h, dc_reshape(e, 4, (int64_t[]){e->shape[0], e->shape[1], 1, 1}));
    h = fwd(m, "conv2", dc_silu(fwd(m, "norm2", h)));
    dc_module *skip = dc_module_child(m, "skip");
    return dc_add(skip ? dc_forward(skip, x) : x, h);
}

/* ---- Self-attention over the H x W positions: x + proj(attn(qkv(GN(x)))) (one head) -------- */

static dc_module *attn_block_new(int64_t c, dc_rng *rng)
{
    dc_module *m = dc_module_new("AttnBlock");
    if (!m) return NULL;
    bool ok = dc_module_add_child(m, "norm", dc_group_norm_new(GROUPS, c, 1e-5, true)) &&
              dc_module_add_child(m, "qkv", conv(c, 3 * c, 1, 1, rng)) &&
              dc_module_add_child(m, "proj", conv(c, c, 1, 1, rng));
    if (!ok) dc_module_free(m);
    return ok ? m : NULL;
}

static dc_tensor *attn_block(dc_module *m, dc_tensor *x)
{
    if (!x) return NULL;
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    dc_tensor *qkv = fwd(m, "qkv", fwd(m, "norm", x)); /* [N, 3C, H, W] */
    /* [N, 3, C, HW] -> [3, N, HW, C] */
    qkv = dc_permute(dc_reshape(qkv, 4, (int64_t[]){n, 3, c, h * w}), (int[]){1, 0, 3, 2});
    dc_tensor *q = dc_select(qkv, 0, 0), *k = dc_select(qkv, 0, 1), *v = dc_select(qkv, 0, 2);
    dc_tensor *a = dc_scaled_dot_product_attention(q, k, v, NULL, false, 0, false, NULL);
    a = dc_reshape(dc_transpose(a, 1, 2), 4, (int64_t[]){n, c, h, w}); /* [N, C, HW] -> image */
    return dc_add(x, fwd(m, "proj", a));
}

/* ---- The U-Net ------------------------------------------------------------------------------ */

dc_module *diffusion_unet_new(const diffusion_unet_config *cfg, dc_rng *rng)
{
    if (!cfg) return dc_error("diffusion_unet_new: config is NULL");
    if (cfg->width < 8 || cfg->width > 512 || cfg->width % GROUPS != 0)
        return dc_error("diffusion_unet_new: width %lld must be a multiple of 8 in [8, 512]",
                        (long long)cfg->width);
    if (cfg->channels < 1 || cfg->channels > 4)
        return dc_error("diffusion_unet_new: channels %lld must be in [1, 4]", (long long)cfg->channels);
    if (cfg->n_classes < 0 || cfg->n_classes > 100000)
        return dc_error("diffusion_unet_new: n_classes %lld must be in [0, 100000]",
                        (long long)cfg->n_classes);
    unet_impl impl = {*cfg};
    dc_module *m = dc_module_new_impl("DiffusionUNet", &impl, sizeof impl);
    if (!m) return NULL;
    int64_t w = cfg->width, w2 = 2 * w, te = 4 * w;
    bool ok = dc_module_add_child(m, "time1", dc_linear_new(w, te, true, rng)) &&
              dc_module_add_child(m, "time2", dc_linear_new(te, te, true, rng)) &&
              (cfg->n_classes == 0 ||
               dc_module_add_child(m, "class_emb", dc_embedding_new(cfg->n_classes + 1, te, rng))) &&
              dc_module_add_child(m, "conv_in", conv(cfg->channels, w, 3, 1, rng)) &&
              dc_module_add_child(m, "down0", res_block_new(w, w, te, rng)) &&
              dc_module_add_child(m, "pool0", conv(w, w, 3, 2, rng)) &&
              dc_module_add_child(m, "down1", res_block_new(w, w2, te, rng)) &&
              dc_module_add_child(m, "pool1", conv(w2, w2, 3, 2, rng)) &&
              dc_module_add_child(m, "mid1", res_block_new(w2, w2, te, rng)) &&
              dc_module_add_child(m, "mid_attn", attn_block_new(w2, rng)) &&
              dc_module_add_child(m, "mid2", res_block_new(w2, w2, te, rng)) &&
              dc_module_add_child(m, "up1", res_block_new(2 * w2, w2, te, rng)) &&
              dc_module_add_child(m, "up0", res_block_new(w2 + w, w, te, rng)) &&
              dc_module_add_child(m, "out_norm", dc_group_norm_new(GROUPS, w, 1e-5, true)) &&
              dc_module_add_child(m, "out_conv", conv(w, cfg->channels, 3, 1, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_tensor *diffusion_time_embedding(dc_tensor *t, int64_t dim)
{
    char a[96];
    if (!t) return dc_error("diffusion_time_embedding: t is NULL");
    if (t->dtype != DC_I64 || t->ndim != 1)
        return dc_error("diffusion_time_embedding: t must be int64 [N], got %s %s",
                        dc_dtype_name(t->dtype), dc_shape_str(t, a, sizeof a));
    if (dim < 2 || dim % 2 != 0)
        return dc_error("diffusion_time_embedding: dim %lld must be even and >= 2", (long long)dim);
    int64_t n = t->shape[0], half = dim / 2;
    double *tv = malloc((size_t)(n + 1) * sizeof *tv);
    float *e = malloc((size_t)(n * dim + 1) * sizeof *e);
    dc_tensor *out = NULL;
    if (!tv || !e) dc_error("diffusion_time_embedding: out of memory");
    else if (dc_to_double_buffer(t, tv, n) == 0) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t k = 0; k < half; k++) {
                double f = pow(10000.0, -(double)k / (double)half);
                e[i * dim + k] = (float)sin(tv[i] * f);
                e[i * dim + half + k] = (float)cos(tv[i] * f);
            }
        out = dc_from_buffer(DC_F32, 2, (int64_t[]){n, dim}, e);
    }
    free(tv), free(e);
    return out;
}

dc_tensor *diffusion_unet_forward(dc_module *m, dc_tensor *x, dc_tensor *t, dc_tensor *labels)
{
    char a[96], b[96];
    if (!m || !x || !t) return dc_error("diffusion_unet_forward: NULL input");
    if (!m->impl || !m->type || m->forward || !dc_module_child(m, "mid_attn"))
        return dc_error("diffusion_unet_forward: module is not a diffusion U-Net");
    const diffusion_unet_config *cfg = &((unet_impl *)m->impl)->cfg;
    if (x->ndim != 4 || x->shape[1] != cfg->channels || x->shape[2] % 4 || x->shape[3] % 4 ||
        x->shape[0] < 1)
        return dc_error("diffusion_unet_forward: x must be [N, %lld, H, W] with H, W divisible "
                        "by 4, got %s", (long long)cfg->channels, dc_shape_str(x, a, sizeof a));
    int64_t n = x->shape[0];
    if (t->dtype != DC_I64 || t->ndim != 1 || t->shape[0] != n)
        return dc_error("diffusion_unet_forward: t must be int64 [%lld], got %s %s", (long long)n,
                        dc_dtype_name(t->dtype), dc_shape_str(t, a, sizeof a));
    if (labels && cfg->n_classes == 0)
        return dc_error("diffusion_unet_forward: labels given to an unconditional U-Net");
    if (labels && (labels->dtype != DC_I64 || labels->ndim != 1 || labels->shape[0] != n))
        return dc_error("diffusion_unet_forward: labels must be int64 [%lld], got %s %s",
                        (long long)n, dc_dtype_name(labels->dtype), dc_shape_str(labels, b, sizeof b));
    size_t scope = dc_scope_begin();
    dc_tensor *temb = fwd(m, "time2", dc_silu(fwd(m, "time1", diffusion_time_embedding(t, cfg->width))));
    if (cfg->n_classes > 0) {
        dc_tensor *y = labels ? labels : dc_full(DC_I64, 1, (int64_t[]){n}, (double)cfg->n_classes);
        temb = dc_add(temb, fwd(m, "class_emb", y));
    }
    dc_tensor *act = dc_silu(temb); /* every block projects SiLU(temb) */
    dc_tensor *h0 = res_block(dc_module_child(m, "down0"), fwd(m, "conv_in", x), act);
    dc_tensor *h1 = res_block(dc_module_child(m, "down1"), fwd(m, "pool0", h0), act);
    dc_tensor *h = res_block(dc_module_child(m, "mid1"), fwd(m, "pool1", h1), act);
    h = attn_block(dc_module_child(m, "mid_attn"), h);
    h = res_block(dc_module_child(m, "mid2"), h, act);
    h = dc_upsample_nearest2d(h, 2, 2);
    h = res_block(dc_module_child(m, "up1"), dc_cat((dc_tensor *[]){h, h1}, 2, 1), act);
    h = dc_upsample_nearest2d(h, 2, 2);
    h = res_block(dc_module_child(m, "up0"), dc_cat((dc_tensor *[]){h, h0}, 2, 1), act);
    dc_tensor *y = fwd(m, "out_conv", dc_silu(fwd(m, "out_norm", h)));
    if (!y) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, y);
}

dc_tensor *diffusion_loss(dc_module *unet, const diffusion_schedule *s, dc_tensor *x0,
                          dc_tensor *labels, double p_uncond, dc_rng *rng)
{
    if (!unet || !x0) return dc_error("diffusion_loss: NULL input");
    if (!s || !s->alpha_bar) return dc_error("diffusion_loss: schedule is NULL");
    if (!(p_uncond >= 0 && p_uncond <= 1))
        return dc_error("diffusion_loss: p_uncond %g outside [0, 1]", p_uncond);
    if (x0->ndim < 1 || x0->shape[0] < 1) return dc_error("diffusion_loss: x0 must be [N, ...]");
    int64_t n = x0->shape[0];
    int64_t *tv = malloc((size_t)n * sizeof *tv), *yv = malloc((size_t)n * sizeof *yv);
    dc_tensor *loss = NULL;
    if (!tv || !yv) {
        free(tv), free(yv);
        return dc_error("diffusion_loss: out of memory");
    }
    for (int64_t i = 0; i < n; i++) tv[i] = (int64_t)(dc_rng_u64(rng) % (uint64_t)s->T);
    size_t scope = dc_scope_begin();
    dc_tensor *t = dc_from_buffer(DC_I64, 1, &n, tv), *y = NULL;
    if (labels && unet->impl) {
        int64_t null_id = ((unet_impl *)unet->impl)->cfg.n_classes;
        double *lv = malloc((size_t)(n + 1) * sizeof *lv);
        if (lv && labels->ndim == 1 && labels->shape[0] == n && dc_to_double_buffer(labels, lv, n) == 0) {
            for (int64_t i = 0; i < n; i++)
                yv[i] = p_uncond > 0 && dc_rng_uniform(rng) < p_uncond ? null_id : (int64_t)lv[i];
            y = dc_from_buffer(DC_I64, 1, &n, yv);
        } else {
            dc_error("diffusion_loss: labels must be [%lld] class ids", (long long)n);
        }
        free(lv);
    }
    if (!labels || y) {
        dc_tensor *noise = dc_randn(rng, x0->dtype, x0->ndim, x0->shape);
        dc_tensor *pred = diffusion_unet_forward(unet, diffusion_q_sample(s, x0, t, noise), t, y);
        loss = dc_mse_loss(pred, noise, DC_REDUCE_MEAN);
    }
    free(tv), free(yv);
    if (!loss) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, loss);
}

dc_tensor *diffusion_to_model(dc_tensor *pixels)
{
    return dc_add_scalar(dc_mul_scalar(pixels, 2), -1);
}

dc_tensor *diffusion_to_pixels(dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    dc_tensor *y = dc_clamp(dc_mul_scalar(dc_add_scalar(x, 1), 0.5), 0, 1);
    if (!y) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, y);
}

/* ---- Generation with classifier-free guidance --------------------------------------------- */

typedef struct {
    dc_module *unet;
    dc_tensor *labels;   /* [n] class ids, or NULL (unconditional net) */
    dc_tensor *labels2;  /* [2n]: labels then the no-class id, for guidance */
    double guidance;
} guided;

/* eps = eps(x, null) + w (eps(x, y) - eps(x, null)), both halves in one batch of 2n. */
static dc_tensor *guided_eps(void *ctx, dc_tensor *x, int64_t t)
{
    guided *g = ctx;
    int64_t n = x->shape[0];
    if (!g->labels || g->guidance == 1) {
        dc_tensor *tt = dc_full(DC_I64, 1, &n, (double)t);
        return diffusion_unet_forward(g->unet, x, tt, g->labels);
    }
    int64_t n2 = 2 * n;
    dc_tensor *tt = dc_full(DC_I64, 1, &n2, (double)t);
    dc_tensor *e = diffusion_unet_forward(g->unet, dc_cat((dc_tensor *[]){x, x}, 2, 0), tt, g->labels2);
    if (!e) return NULL;
    dc_tensor *ec = dc_narrow(e, 0, 0, n), *eu = dc_narrow(e, 0, n, n);
    return dc_add(eu, dc_mul_scalar(dc_sub(ec, eu), g->guidance));
}

dc_tensor *diffusion_generate(dc_module *unet, const diffusion_schedule *s, int64_t n,
                              int64_t H, int64_t W, int64_t steps, double eta, double guidance,
                              uint64_t seed,
                              int64_t snapshots, dc_tensor **trajectory)
{
    if (!unet || !unet->impl || !dc_module_child(unet, "mid_attn"))
        return dc_error("diffusion_generate: not a diffusion U-Net");
    if (!s || !s->alpha_bar) return dc_error("diffusion_generate: schedule is NULL");
    if (n < 1 || n > 100000) return dc_error("diffusion_generate: n = %lld must be in [1, 100000]", (long long)n);
    if (!(eta >= 0 && eta <= 10)) return dc_error("diffusion_generate: eta %g outside [0, 10]", eta);
    if (steps < 0) return dc_error("diffusion_generate: steps %lld must be >= 0", (long long)steps);
    if (!(guidance >= 0 && guidance <= 100))
        return dc_error("diffusion_generate: guidance %g outside [0, 100]", guidance);
    const diffusion_unet_config *cfg = &((unet_impl *)unet->impl)->cfg;
    if (steps == 0) steps = 50;
    if (steps > s->T) steps = s->T;
    size_t scope = dc_scope_begin();
    guided g = {unet, NULL, NULL, guidance};
    if (cfg->n_classes > 0) {
        int64_t *ids = malloc((size_t)(2 * n) * sizeof *ids);
        if (!ids) {
            dc_scope_end(scope);
            return dc_error("diffusion_generate: out of memory");
        }
        for (int64_t i = 0; i < n; i++) ids[i] = i % cfg->n_classes, ids[n + i] = cfg->n_classes;
        int64_t n2 = 2 * n;
        g.labels = dc_from_buffer(DC_I64, 1, &n, ids);
        g.labels2 = dc_from_buffer(DC_I64, 1, &n2, ids);
        free(ids);
    }
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_tensor *traj = NULL;
    diffusion_sampler_opts o = {steps, steps < s->T, eta, true, snapshots, snapshots > 0 ? &traj : NULL};
    bool train = unet->training;
    dc_module_train(unet, false);
    dc_tensor *x = diffusion_sample(s, 4, (int64_t[]){n, cfg->channels, H, W}, guided_eps, &g, &o, &rng);
    dc_module_train(unet, train);
    dc_tensor *px = diffusion_to_pixels(x);
    dc_tensor *pt = traj ? diffusion_to_pixels(traj) : NULL;
    if (!px || (snapshots > 0 && !pt)) {
        dc_scope_end(scope);
        return NULL;
    }
    if (trajectory) *trajectory = pt ? dc_tensor_retain(pt) : NULL;
    px = dc_scope_return(scope, px);
    if (trajectory && *trajectory) {
        dc_tensor *keep = *trajectory;
        *trajectory = dc_scope_return(dc_scope_begin(), keep);
        dc_tensor_free(keep);
    }
    return px;
}
