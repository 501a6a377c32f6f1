/* The VAE: model, reparameterisation, ELBO, samples and the latent map (see vae.h). */
#include "vae/vae.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int64_t hidden, latent;
} vae_impl;

enum { PIXELS = 28 * 28 };

static dc_tensor *layer(dc_module *m, const char *name, dc_tensor *x)
{
    return dc_forward(dc_module_child(m, name), x);
}

static bool is_vae(const dc_module *m)
{
    return m && m->impl && dc_module_child(m, "mu") && dc_module_child(m, "dec2");
}

int vae_encode(dc_module *vae, dc_tensor *x, dc_tensor **mu, dc_tensor **logvar)
{
    char buf[96];
    if (mu) *mu = NULL;
    if (logvar) *logvar = NULL;
    if (!is_vae(vae) || !x || !mu || !logvar) return dc_error("vae_encode: NULL argument"), -1;
    if (x->ndim != 4 || x->shape[1] != 1 || x->shape[2] != 28 || x->shape[3] != 28)
        return dc_error("vae_encode: x must be [N, 1, 28, 28], got %s",
                        dc_shape_str(x, buf, sizeof buf)),
               -1;
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_relu(layer(vae, "enc", dc_flatten(x, 1, -1)));
    dc_tensor *m = dc_tensor_retain(layer(vae, "mu", h));
    dc_tensor *v = dc_scope_return(scope, layer(vae, "logvar", h));
    /* m was retained: hand it to the enclosing scope through a view of itself */
    *mu = m && v ? dc_view(m, m->ndim, m->shape) : NULL;
    dc_tensor_free(m);
    if (!*mu) return -1;
    *logvar = v;
    return 0;
}

dc_tensor *vae_decode_logits(dc_module *vae, dc_tensor *z)
{
    char buf[96];
    if (!is_vae(vae) || !z) return dc_error("vae_decode_logits: NULL argument");
    const vae_impl *impl = vae->impl;
    if (z->ndim != 2 || z->shape[1] != impl->latent)
        return dc_error("vae_decode_logits: z must be [N, %lld], got %s", (long long)impl->latent,
                        dc_shape_str(z, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    dc_tensor *y = layer(vae, "dec2", dc_relu(layer(vae, "dec1", z)));
    return dc_scope_return(scope, dc_reshape(y, 4, (int64_t[]){z->shape[0], 1, 28, 28}));
}

dc_tensor *vae_decode(dc_module *vae, dc_tensor *z)
{
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_sigmoid(vae_decode_logits(vae, z)));
}

/* sigmoid(decoder(mu(x))) */
static dc_tensor *vae_forward(dc_module *m, dc_tensor *x)
{
    dc_tensor *mu, *logvar;
    size_t scope = dc_scope_begin();
    if (vae_encode(m, x, &mu, &logvar) != 0) return dc_scope_return(scope, NULL);
    return dc_scope_return(scope, vae_decode(m, mu));
}

dc_module *vae_model_new(int64_t hidden, int64_t latent, dc_rng *rng)
{
    if (hidden < 1 || hidden > 4096)
        return dc_error("vae_model_new: hidden %lld must be in [1, 4096]", (long long)hidden);
    if (latent < 1 || latent > 512)
        return dc_error("vae_model_new: latent %lld must be in [1, 512]", (long long)latent);
    vae_impl impl = {hidden, latent};
    dc_module *m = dc_module_new_impl("VAE", &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = vae_forward;
    bool ok = dc_module_add_child(m, "enc", dc_linear_new(PIXELS, hidden, true, rng)) &&
              dc_module_add_child(m, "mu", dc_linear_new(hidden, latent, true, rng)) &&
              dc_module_add_child(m, "logvar", dc_linear_new(hidden, latent, true, rng)) &&
              dc_module_add_child(m, "dec1", dc_linear_new(latent, hidden, true, rng)) &&
              dc_module_add_child(m, "dec2", dc_linear_new(hidden, PIXELS, true, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

int64_t vae_latent_dim(const dc_module *vae)
{
    if (!is_vae(vae)) return dc_error("vae_latent_dim: not a VAE"), -1;
    return ((const vae_impl *)vae->impl)->latent;
}

/* z = mu + exp(logvar / 2) * eps */
dc_tensor *vae_reparameterize(dc_tensor *mu, dc_tensor *logvar, dc_rng *rng)
{
    char a[96], b[96];
    if (!mu || !logvar) return dc_error("vae_reparameterize: NULL input");
    if (!dc_same_shape(mu, logvar))
        return dc_error("vae_reparameterize: mu %s and logvar %s differ in shape",
                        dc_shape_str(mu, a, sizeof a), dc_shape_str(logvar, b, sizeof b));
    size_t scope = dc_scope_begin();
    dc_tensor *eps = dc_randn(rng, mu->dtype, mu->ndim, mu->shape);
    return dc_scope_return(scope, dc_add(mu, dc_mul(dc_exp(dc_mul_scalar(logvar, 0.5)), eps)));
}

dc_tensor *vae_loss(dc_module *vae, dc_tensor *x, double beta, dc_rng *rng, double *recon,
                    double *kl)
{
    if (!(beta >= 0)) return dc_error("vae_loss: beta must be >= 0, got %g", beta);
    size_t scope = dc_scope_begin();
    dc_tensor *mu, *logvar;
    if (vae_encode(vae, x, &mu, &logvar) != 0) return dc_scope_return(scope, NULL);
    dc_tensor *logits = vae_decode_logits(vae, vae_reparameterize(mu, logvar, rng));
    double n = (double)x->shape[0];
    dc_tensor *rec = dc_mul_scalar(dc_bce_with_logits(logits, x, DC_REDUCE_SUM), 1.0 / n);
    dc_tensor *k = dc_kl_normal(mu, logvar);
    dc_tensor *loss = dc_add(rec, dc_mul_scalar(k, beta));
    if (loss && recon) *recon = dc_item(rec);
    if (loss && kl) *kl = dc_item(k);
    return dc_scope_return(scope, loss);
}

dc_tensor *vae_sample(dc_module *vae, int64_t n, dc_rng *rng)
{
    int64_t latent = vae_latent_dim(vae);
    if (latent < 0) return NULL;
    if (n < 1) return dc_error("vae_sample: n must be >= 1, got %lld", (long long)n);
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, vae_decode(vae, dc_randn(rng, DC_F32, 2, (int64_t[]){n, latent})));
}

dc_tensor *vae_latent_map(dc_module *vae, int side, double span)
{
    int64_t latent = vae_latent_dim(vae);
    if (latent < 0) return NULL;
    if (latent != 2) return dc_error("vae_latent_map: the latent is %lld-D, not 2-D", (long long)latent);
    if (side < 2 || side > 64) return dc_error("vae_latent_map: side %d must be in [2, 64]", side);
    if (!(span > 0)) return dc_error("vae_latent_map: span must be > 0, got %g", span);
    float *z = malloc((size_t)side * (size_t)side * 2 * sizeof *z);
    if (!z) return dc_error("vae_latent_map: out of memory");
    for (int i = 0; i < side; i++)
        for (int j = 0; j < side; j++) {
            z[2 * (i * side + j)] = (float)(-span + 2 * span * j / (side - 1));
            z[2 * (i * side + j) + 1] = (float)(span - 2 * span * i / (side - 1));
        }
    size_t scope = dc_scope_begin();
    dc_tensor *zt = dc_from_buffer(DC_F32, 2, (int64_t[]){(int64_t)side * side, 2}, z);
    free(z);
    return dc_scope_return(scope, vae_decode(vae, zt));
}
