/* `deepc train --task vae`: the MLP VAE of vae.h on Fashion-MNIST; metrics: the negative ELBO
 * (nats per image) and its two terms on the validation / test images; pictures: samples from
 * the prior, test reconstructions and, for a 2-D latent, the latent map. */
#include "vae/vae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long hidden, latent;
    double beta;
    long val_images, eval_images;
} vae_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(vae_settings, name, type, field, min, max, choices, help)
static const dc_option vae_options[] = {
    OPT("width", DC_OPTION_INT, hidden, 1, 4096, NULL, "width of the encoder and decoder layer"),
    OPT("latent", DC_OPTION_INT, latent, 1, 512, NULL, "latent dimensions (2: latent map)"),
    OPT("beta", DC_OPTION_REAL, beta, 0, 100, NULL, "weight of the KL term (1: the ELBO)"),
    OPT("val-images", DC_OPTION_INT, val_images, 1, 59999, NULL, "training images held out"),
    OPT("eval-images", DC_OPTION_INT, eval_images, 1, 1e6, NULL, "images scored per evaluation"),
    DC_OPTION_END,
};

static void vae_defaults(void *settings)
{
    *(vae_settings *)settings = (vae_settings){512, 16, 1.0, 5000, 5000};
}

typedef struct {
    vae_settings s;
    int64_t batch;
    dc_dataset *train, *val, *test;
} vae_state;

static void vae_close(void *state)
{
    vae_state *st = state;
    if (!st) return;
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st);
}

static int vae_setup(dc_task_setup *ctx)
{
    vae_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("vae: out of memory"), -1;
    st->s = *(const vae_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    ctx->model = vae_model_new(st->s.hidden, st->s.latent, ctx->model_rng);
    if (!ctx->model) return -1;
    if (!ctx->with_data) return 0;
    dc_dataset *full = dc_fashion_mnist_load(ctx->data_dir, true);
    if (!full) return -1;
    int rc = dc_dataset_split(full, st->s.val_images, ctx->seed, &st->train, &st->val);
    dc_dataset_free(full);
    if (rc != 0 || !(st->test = dc_fashion_mnist_load(ctx->data_dir, false))) return -1;
    ctx->steps_per_epoch = dc_dataset_size(st->train) / ctx->batch;
    if (ctx->steps_per_epoch < 1) ctx->steps_per_epoch = 1;
    return 0;
}

static dc_tensor *vae_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    vae_state *st = state;
    dc_tensor *x, *labels;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &x, &labels) != 0) return NULL;
    return vae_loss(model, x, st->s.beta, rng, NULL, NULL);
}

enum { EVAL_BATCH = 500 };

/* The negative ELBO (one z per image, drawn with a generator fixed per split) of the first
 * eval-images images of the split. */
static int vae_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    vae_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds) < st->s.eval_images ? dc_dataset_size(ds) : st->s.eval_images;
    if (n < 1) return dc_error("vae: no images to evaluate"), -1;
    dc_rng rng;
    dc_rng_seed(&rng, split == DC_TASK_TEST ? 2 : 1);
    double recon = 0, kl = 0;
    bool grad = dc_no_grad_begin();
    int rc = 0;
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        size_t scope = dc_scope_begin();
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        double r = 0, k = 0;
        if (!vae_loss(model, dc_narrow(ds->inputs, 0, start, m), 1.0, &rng, &r, &k)) rc = -1;
        recon += r * (double)m, kl += k * (double)m;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc != 0) return -1;
    out->loss = (recon + kl) / (double)n;
    dc_metrics_set(out, "nelbo", (recon + kl) / (double)n, false);
    dc_metrics_set(out, "recon_nats", recon / (double)n, false);
    dc_metrics_set(out, "kl_nats", kl / (double)n, false);
    return 0;
}

static int write_grid(const char *dir, const char *name, dc_tensor *images, int nrow)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dc_png_write_grid(path, images, nrow, 2, 1.0);
}

/* vae_samples.png (64 samples), vae_recon.png (8 test images over their reconstructions),
 * vae_latent_map.png (latent 2: a 20 x 20 map over [-3, 3]^2). */
static int vae_render(void *state, dc_module *model, const char *dir)
{
    vae_state *st = state;
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    bool grad = dc_no_grad_begin();
    dc_tensor *x = dc_narrow(st->test->inputs, 0, 0, 8);
    int rc = write_grid(dir, "vae_samples.png", vae_sample(model, 64, &rng), 8);
    if (rc == 0)
        rc = write_grid(dir, "vae_recon.png", dc_cat((dc_tensor *[]){x, dc_forward(model, x)}, 2, 0),
                        8);
    if (rc == 0 && vae_latent_dim(model) == 2)
        rc = write_grid(dir, "vae_latent_map.png", vae_latent_map(model, 20, 3.0), 20);
    dc_grad_mode_restore(grad);
    return rc;
}

static int vae_generate(void *state, dc_module *model, int64_t n, int64_t steps, uint64_t seed,
                        const char *path)
{
    (void)state, (void)steps;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    bool grad = dc_no_grad_begin();
    int nrow = (int)ceil(sqrt((double)(n > 0 ? n : 1)));
    dc_tensor *x = vae_sample(model, n, &rng);
    int rc = x ? dc_png_write_grid(path, x, nrow, 2, 1.0) : -1;
    dc_grad_mode_restore(grad);
    return rc;
}

const dc_task vae_task = {
    .name = "vae",
    .summary = "variational autoencoder on Fashion-MNIST (ELBO = BCE + KL): test negative ELBO",
    .options = vae_options,
    .settings_size = sizeof(vae_settings),
    .defaults = vae_defaults,
    .run_defaults = "epochs = 10\nbatch = 128\nlr = 1e-3\noptim = adam\n",
    .setup = vae_setup,
    .step = vae_step,
    .evaluate = vae_evaluate,
    .render = vae_render,
    .generate = vae_generate,
    .close = vae_close,
};
