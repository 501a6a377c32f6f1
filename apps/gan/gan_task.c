/* `deepc train --task gan`: the DCGAN of gan.h on Fashion-MNIST. The step does its own two
 * Adam updates (updates_itself) and returns the discriminator's loss; the generator's loss is
 * kept with it for the picture. Metrics: the discriminator loss and its mean outputs on
 * real and generated images, and on the test split the Fréchet distance of 2000 samples to
 * the test images (apps/fid) when the classifier file can be read. Pictures: a sample grid and
 * the two losses over training (SVG). */
#include "fid/fid.h"
#include "gan/gan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long latent, width;
    double g_lr, d_lr, beta1;
    char classifier[1024]; /* apps/fid's classifier file, for the FD metric */
    long val_images;
} gan_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(gan_settings, name, type, field, min, max, choices, help)
static const dc_option gan_options[] = {
    OPT("latent", DC_OPTION_INT, latent, 1, 1024, NULL, "dimensions of the generator's noise z"),
    OPT("width", DC_OPTION_INT, width, 1, 512, NULL, "channels (w at 14x14, 2w at 7x7)"),
    OPT("g-lr", DC_OPTION_REAL, g_lr, 0, 1, NULL, "the generator's Adam learning rate"),
    OPT("d-lr", DC_OPTION_REAL, d_lr, 0, 1, NULL, "the discriminator's Adam learning rate"),
    OPT("beta1", DC_OPTION_REAL, beta1, 0, 0.999, NULL, "Adam's beta1 of both (DCGAN: 0.5)"),
    OPT("classifier", DC_OPTION_TEXT, classifier, 0, 0, NULL,
        "apps/fid classifier for the test FD (\"\": no FD)"),
    OPT("val-images", DC_OPTION_INT, val_images, 1, 59999, NULL, "training images held out"),
    DC_OPTION_END,
};

static void gan_defaults(void *settings)
{
    gan_settings *s = settings;
    *s = (gan_settings){64, 32, 6e-4, 6e-4, 0.5, FID_CLASSIFIER_PATH, 5000};
}

typedef struct {
    gan_settings s;
    int64_t batch;
    dc_dataset *train, *val, *test;
    gan_trainer trainer;
    double *d_hist, *g_hist; /* the losses of each step, for the picture */
    int64_t n_hist, cap_hist;
} gan_state;

static void gan_close(void *state)
{
    gan_state *st = state;
    if (!st) return;
    gan_trainer_free(&st->trainer);
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st->d_hist);
    free(st->g_hist);
    free(st);
}

static int gan_setup(dc_task_setup *ctx)
{
    gan_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("gan: out of memory"), -1;
    st->s = *(const gan_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    ctx->model = gan_model_new(st->s.latent, st->s.width, ctx->model_rng);
    if (!ctx->model) return -1;
    if (gan_trainer_init(&st->trainer, ctx->model, st->s.g_lr, st->s.d_lr, st->s.beta1) != 0)
        return -1;
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

static int remember(gan_state *st, double d, double g)
{
    if (st->n_hist == st->cap_hist) {
        int64_t cap = st->cap_hist ? 2 * st->cap_hist : 1024;
        double *dh = realloc(st->d_hist, (size_t)cap * sizeof *dh);
        if (dh) st->d_hist = dh;
        double *gh = dh ? realloc(st->g_hist, (size_t)cap * sizeof *gh) : NULL;
        if (!gh) return dc_error("gan: out of memory"), -1;
        st->g_hist = gh, st->cap_hist = cap;
    }
    st->d_hist[st->n_hist] = d, st->g_hist[st->n_hist++] = g;
    return 0;
}

/* One D and one G update; the D loss (before the update) as a scalar without a graph. */
static dc_tensor *gan_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)model, (void)step;
    gan_state *st = state;
    dc_tensor *x, *labels;
    double d, g;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &x, &labels) != 0) return NULL;
    if (gan_train_step(&st->trainer, x, rng, true, true, &d, &g) != 0) return NULL;
    if (remember(st, d, g) != 0) return NULL;
    return dc_scalar(DC_F32, d);
}

enum { EVAL_IMAGES = 1000, FD_SAMPLES = 2000 };

static int gan_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    gan_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds) < EVAL_IMAGES ? dc_dataset_size(ds) : EVAL_IMAGES;
    if (n < 2) return dc_error("gan: not enough images to evaluate"), -1;
    dc_rng rng;
    dc_rng_seed(&rng, split == DC_TASK_TEST ? 2 : 1);
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor *real = dc_narrow(ds->inputs, 0, 0, n), *fake = gan_sample(model, n, &rng);
    dc_tensor *loss = gan_discriminator_loss(model, real, fake);
    double d_real = dc_item(dc_mean_all(dc_sigmoid(gan_discriminate(model, real))));
    double d_fake = dc_item(dc_mean_all(dc_sigmoid(gan_discriminate(model, fake))));
    double g_loss = dc_item(gan_generator_loss(model, fake));
    int rc = loss ? 0 : -1;
    if (rc == 0) {
        out->loss = dc_item(loss);
        fid_model *fm = split == DC_TASK_TEST && st->s.classifier[0]
                            ? fid_model_load(st->s.classifier) : NULL;
        fid_result r;
        if (fm && fid_evaluate(fm, gan_sample(model, FD_SAMPLES, &rng), NULL, &r) == 0) {
            dc_metrics_set(out, "fd", r.fd, false);
            dc_metrics_set(out, "label_entropy", r.entropy, true);
        }
        fid_model_free(fm);
        dc_clear_error();
        dc_metrics_set(out, "d_loss", out->loss, false);
        dc_metrics_set(out, "g_loss", g_loss, false);
        dc_metrics_set(out, "d_real", d_real, true);
        dc_metrics_set(out, "d_fake", d_fake, false);
    }
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    return rc;
}

/* Means over windows of w steps (x = the window's last step). */
static int64_t smooth(const double *v, int64_t n, int64_t w, double *x, double *y)
{
    int64_t k = 0;
    for (int64_t s = 0; s + w <= n; s += w, k++) {
        double sum = 0;
        for (int64_t i = s; i < s + w; i++) sum += v[i];
        x[k] = (double)(s + w), y[k] = sum / (double)w;
    }
    return k;
}

/* gan_samples.png (64 samples) and gan_losses.svg (both losses, means over windows). */
static int gan_render(void *state, dc_module *model, const char *dir)
{
    gan_state *st = state;
    char path[4200];
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    bool grad = dc_no_grad_begin();
    snprintf(path, sizeof path, "%s/gan_samples.png", dir);
    int rc = dc_png_write_grid(path, gan_sample(model, 64, &rng), 8, 2, 1.0);
    dc_grad_mode_restore(grad);
    if (rc != 0 || st->n_hist < 1) return rc;
    int64_t w = st->n_hist / 200 > 1 ? st->n_hist / 200 : 1, m = st->n_hist / w;
    double *buf = malloc((size_t)(4 * m) * sizeof *buf);
    if (!buf) return dc_error("gan: out of memory"), -1;
    int64_t k = smooth(st->d_hist, st->n_hist, w, buf, buf + m);
    smooth(st->g_hist, st->n_hist, w, buf + 2 * m, buf + 3 * m);
    dc_plot_series series[2] = {
        {"discriminator: BCE(D(x),1) + BCE(D(G(z)),0)", buf, buf + m, (int)k, NULL, false},
        {"generator: BCE(D(G(z)),1)", buf + 2 * m, buf + 3 * m, (int)k, NULL, false},
    };
    snprintf(path, sizeof path, "%s/gan_losses.svg", dir);
    rc = dc_plot_svg(path, "DCGAN on Fashion-MNIST: losses", "step", "loss (nats)", series, 2);
    free(buf);
    return rc;
}

static int gan_generate(void *state, dc_module *model, int64_t n, int64_t steps, uint64_t seed,
                        const char *path)
{
    (void)state, (void)steps;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    bool grad = dc_no_grad_begin();
    int nrow = (int)ceil(sqrt((double)(n > 0 ? n : 1)));
    dc_tensor *x = gan_sample(model, n, &rng);
    int rc = x ? dc_png_write_grid(path, x, nrow, 2, 1.0) : -1;
    dc_grad_mode_restore(grad);
    return rc;
}

const dc_task gan_task = {
    .name = "gan",
    .summary = "DCGAN on Fashion-MNIST (non-saturating loss, two Adams): FD of samples, D/G losses",
    .options = gan_options,
    .settings_size = sizeof(gan_settings),
    .defaults = gan_defaults,
    .run_defaults = "epochs = 5\nbatch = 64\n",
    .setup = gan_setup,
    .step = gan_step,
    .updates_itself = true,
    .evaluate = gan_evaluate,
    .render = gan_render,
    .generate = gan_generate,
    .close = gan_close,
};
