/* The DCGAN: networks, losses and the two-optimizer step (see gan.h). */
#include "gan/gan.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int64_t latent, width;
} gan_impl;

static dc_tensor *child(dc_module *m, const char *name, dc_tensor *x)
{
    return dc_forward(dc_module_child(m, name), x);
}

/* z -> relu(bn0(fc(z) as [N, 2w, 7, 7])) -> relu(bn1(up1)) -> sigmoid(up2) */
static dc_tensor *generator_forward(dc_module *g, dc_tensor *z)
{
    const gan_impl *impl = g->impl;
    char buf[96];
    if (!z) return NULL;
    if (z->ndim != 2 || z->shape[1] != impl->latent)
        return dc_error("gan generator: z must be [N, %lld], got %s", (long long)impl->latent,
                        dc_shape_str(z, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_reshape(child(g, "fc", z), 4, (int64_t[]){z->shape[0], 2 * impl->width, 7, 7});
    h = dc_relu(child(g, "bn0", h));
    h = dc_relu(child(g, "bn1", child(g, "up1", h)));
    return dc_scope_return(scope, dc_sigmoid(child(g, "up2", h)));
}

/* x -> lrelu(conv1) -> lrelu(conv2) -> fc -> logits [N] */
static dc_tensor *discriminator_forward(dc_module *d, dc_tensor *x)
{
    char buf[96];
    if (!x) return NULL;
    if (x->ndim != 4 || x->shape[1] != 1 || x->shape[2] != 28 || x->shape[3] != 28)
        return dc_error("gan discriminator: x must be [N, 1, 28, 28], got %s",
                        dc_shape_str(x, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_leaky_relu(child(d, "conv1", x), 0.2);
    h = dc_leaky_relu(child(d, "conv2", h), 0.2);
    dc_tensor *logit = child(d, "fc", dc_flatten(h, 1, -1));
    return dc_scope_return(scope, dc_reshape(logit, 1, (int64_t[]){x->shape[0]}));
}

static dc_tensor *gan_forward(dc_module *m, dc_tensor *z)
{
    return dc_forward(gan_generator(m), z);
}

/* DCGAN's initialisation: conv weights N(0, 0.02). */
static dc_module *dcgan_init(dc_module *conv, dc_rng *rng)
{
    if (conv && dc_normal_(rng, dc_module_param(conv, "weight"), 0, 0.02) != 0) {
        dc_module_free(conv);
        return NULL;
    }
    return conv;
}

dc_module *gan_model_new(int64_t latent, int64_t width, dc_rng *rng)
{
    if (latent < 1 || latent > 1024)
        return dc_error("gan_model_new: latent %lld must be in [1, 1024]", (long long)latent);
    if (width < 1 || width > 512)
        return dc_error("gan_model_new: width %lld must be in [1, 512]", (long long)width);
    gan_impl impl = {latent, width};
    int64_t w = width, w2 = 2 * width;
    dc_module *m = dc_module_new_impl("GAN", &impl, sizeof impl);
    dc_module *g = dc_module_new_impl("Generator", &impl, sizeof impl);
    dc_module *d = dc_module_new_impl("Discriminator", &impl, sizeof impl);
    if (!m || !g || !d) {
        dc_module_free(m), dc_module_free(g), dc_module_free(d);
        return NULL;
    }
    m->forward = gan_forward;
    g->forward = generator_forward;
    d->forward = discriminator_forward;
    dc_conv_transpose2d_opts up = DC_CONV_TRANSPOSE2D_OPTS(2, 1, 0, 1, 1);
    dc_conv2d_opts down = DC_CONV2D_OPTS(2, 1, 1, 1);
    bool ok = dc_module_add_child(m, "generator", g) != NULL; /* owns g and d from here */
    ok = dc_module_add_child(m, "discriminator", d) && ok;
    ok = ok && dc_module_add_child(g, "fc", dc_linear_new(latent, w2 * 49, true, rng)) &&
         dc_module_add_child(g, "bn0", dc_batch_norm2d_new(w2, 1e-5, 0.1, true)) &&
         dc_module_add_child(g, "up1", dcgan_init(dc_conv_transpose2d_new(w2, w, 4, 4, up, true, rng), rng)) &&
         dc_module_add_child(g, "bn1", dc_batch_norm2d_new(w, 1e-5, 0.1, true)) &&
         dc_module_add_child(g, "up2", dcgan_init(dc_conv_transpose2d_new(w, 1, 4, 4, up, true, rng), rng));
    ok = ok && dc_module_add_child(d, "conv1", dcgan_init(dc_conv2d_new(1, w, 4, 4, down, true, rng), rng)) &&
         dc_module_add_child(d, "conv2", dcgan_init(dc_conv2d_new(w, w2, 4, 4, down, true, rng), rng)) &&
         dc_module_add_child(d, "fc", dc_linear_new(w2 * 49, 1, true, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_module *gan_generator(dc_module *gan)
{
    dc_module *g = gan ? dc_module_child(gan, "generator") : NULL;
    return g ? g : dc_error("gan: not a GAN module (no generator)");
}

dc_module *gan_discriminator(dc_module *gan)
{
    dc_module *d = gan ? dc_module_child(gan, "discriminator") : NULL;
    return d ? d : dc_error("gan: not a GAN module (no discriminator)");
}

int64_t gan_latent_dim(const dc_module *gan)
{
    dc_module *g = gan ? dc_module_child(gan, "generator") : NULL;
    if (!g) return dc_error("gan_latent_dim: not a GAN module"), -1;
    return ((const gan_impl *)g->impl)->latent;
}

dc_tensor *gan_discriminate(dc_module *gan, dc_tensor *x)
{
    return dc_forward(gan_discriminator(gan), x);
}

dc_tensor *gan_sample(dc_module *gan, int64_t n, dc_rng *rng)
{
    int64_t latent = gan_latent_dim(gan);
    if (latent < 0) return NULL;
    if (n < 1) return dc_error("gan_sample: n must be >= 1, got %lld", (long long)n);
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_forward(gan_generator(gan),
                                             dc_randn(rng, DC_F32, 2, (int64_t[]){n, latent})));
}

/* BCE(logits, constant label) averaged over the batch. */
static dc_tensor *bce_to(dc_tensor *logits, double label)
{
    if (!logits) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *target = dc_full(logits->dtype, logits->ndim, logits->shape, label);
    return dc_scope_return(scope, dc_bce_with_logits(logits, target, DC_REDUCE_MEAN));
}

dc_tensor *gan_discriminator_loss(dc_module *gan, dc_tensor *real, dc_tensor *fake)
{
    if (!real || !fake) return dc_error("gan_discriminator_loss: NULL input");
    size_t scope = dc_scope_begin();
    dc_tensor *l = dc_add(bce_to(gan_discriminate(gan, real), 1.0),
                          bce_to(gan_discriminate(gan, dc_detach(fake)), 0.0));
    return dc_scope_return(scope, l);
}

dc_tensor *gan_generator_loss(dc_module *gan, dc_tensor *fake)
{
    if (!fake) return dc_error("gan_generator_loss: NULL input");
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, bce_to(gan_discriminate(gan, fake), 1.0));
}

static dc_optimizer *adam_over(dc_module *m, double lr, double beta1)
{
    dc_tensor_list params = {0};
    if (!m || dc_module_parameters(m, &params) != 0) return NULL;
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, lr);
    cfg.beta1 = beta1;
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_tensor_list_free(&params);
    return opt;
}

int gan_trainer_init(gan_trainer *t, dc_module *gan, double g_lr, double d_lr, double beta1)
{
    if (!t) return dc_error("gan_trainer_init: NULL trainer"), -1;
    *t = (gan_trainer){gan, NULL, NULL};
    t->g_opt = adam_over(gan_generator(gan), g_lr, beta1);
    t->d_opt = t->g_opt ? adam_over(gan_discriminator(gan), d_lr, beta1) : NULL;
    if (!t->d_opt) {
        gan_trainer_free(t);
        return -1;
    }
    return 0;
}

void gan_trainer_free(gan_trainer *t)
{
    if (!t) return;
    dc_optimizer_free(t->g_opt);
    dc_optimizer_free(t->d_opt);
    t->g_opt = t->d_opt = NULL;
}

int gan_train_step(gan_trainer *t, dc_tensor *real, dc_rng *rng, bool update_d, bool update_g,
                   double *d_loss, double *g_loss)
{
    if (!t || !t->gan || !t->g_opt || !t->d_opt || !real)
        return dc_error("gan_train_step: NULL or uninitialised argument"), -1;
    size_t scope = dc_scope_begin();
    int64_t n = real->shape[0];
    int rc = -1;
    /* discriminator: real -> 1, G(z) -> 0 */
    dc_tensor *fake = gan_sample(t->gan, n, rng);
    dc_tensor *ld = gan_discriminator_loss(t->gan, real, fake);
    dc_optimizer_zero_grad(t->d_opt);
    if (ld && (!update_d || (dc_backward(ld) == 0 && dc_optimizer_step(t->d_opt) == 0))) {
        /* generator: D(G(z)) -> 1 through the updated D */
        dc_tensor *lg = gan_generator_loss(t->gan, gan_sample(t->gan, n, rng));
        dc_optimizer_zero_grad(t->g_opt);
        if (lg && (!update_g || (dc_backward(lg) == 0 && dc_optimizer_step(t->g_opt) == 0))) {
            if (d_loss) *d_loss = dc_item(ld);
            if (g_loss) *g_loss = dc_item(lg);
            rc = 0;
        }
    }
    /* the G step also left gradients in D: drop them, and G's */
    dc_optimizer_zero_grad(t->d_opt);
    dc_optimizer_zero_grad(t->g_opt);
    dc_scope_end(scope);
    return rc;
}
