/* `deepc train --task denoise` (book §6.1): Fashion-MNIST images corrupted by Gaussian noise
 * (sigma on [0, 1] pixels) and/or random masking, an autoencoder or a U-Net trained with the
 * MSE to the clean image; metrics: PSNR of the corrupted input and of the output; picture:
 * a grid of clean | corrupted | denoised rows. */
#include "denoise/denoise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char arch[8];     /* unet | ae */
    char noise[12];   /* gaussian | mask | both */
    long width;       /* channels at full resolution */
    double sigma;     /* Gaussian noise standard deviation */
    double mask;      /* fraction of pixels masked */
    long val_images;  /* held out of the training images */
    long eval_images; /* validation / test images scored (at most) */
} denoise_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(denoise_settings, name, type, field, min, max, choices, help)
static const dc_option denoise_options[] = {
    OPT("arch", DC_OPTION_TEXT, arch, 0, 0, "unet|ae", "U-Net (skip connections) or autoencoder"),
    OPT("noise", DC_OPTION_TEXT, noise, 0, 0, "gaussian|mask|both", "the corruption to remove"),
    OPT("width", DC_OPTION_INT, width, 1, 512, NULL, "channels at full resolution"),
    OPT("sigma", DC_OPTION_REAL, sigma, 0, 10, NULL, "Gaussian noise sigma on [0, 1] pixels"),
    OPT("mask", DC_OPTION_REAL, mask, 0, 0.99, NULL, "fraction of pixels set to 0"),
    OPT("val-images", DC_OPTION_INT, val_images, 1, 59999, NULL, "training images held out"),
    OPT("eval-images", DC_OPTION_INT, eval_images, 1, 1e6, NULL, "images scored per evaluation"),
    DC_OPTION_END,
};

static void denoise_defaults(void *settings)
{
    denoise_settings *s = settings;
    *s = (denoise_settings){"unet", "gaussian", 16, 0.5, 0.25, 5000, 2000};
}

typedef struct {
    denoise_settings s;
    int64_t batch;
    dc_dataset *train, *val, *test;
} denoise_state;

/* The corrupted version of clean [N, 1, H, W]. */
static dc_tensor *corrupt(const denoise_settings *s, dc_tensor *clean, dc_rng *rng)
{
    bool gaussian = strcmp(s->noise, "mask") != 0, mask = strcmp(s->noise, "gaussian") != 0;
    dc_tensor *x = clean;
    if (mask) x = denoise_add_mask(x, s->mask, rng);
    if (gaussian) x = denoise_add_noise(x, s->sigma, rng);
    return x;
}

static void denoise_close(void *state)
{
    denoise_state *st = state;
    if (!st) return;
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st);
}

static int denoise_setup(dc_task_setup *ctx)
{
    denoise_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("denoise: out of memory"), -1;
    st->s = *(const denoise_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    ctx->model = denoise_model_new(!strcmp(st->s.arch, "ae") ? DENOISE_AUTOENCODER : DENOISE_UNET,
                                   st->s.width, ctx->model_rng);
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

static dc_tensor *denoise_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    denoise_state *st = state;
    dc_tensor *clean, *labels;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &clean, &labels) != 0) return NULL;
    return dc_mse_loss(dc_forward(model, corrupt(&st->s, clean, rng)), clean, DC_REDUCE_MEAN);
}

enum { EVAL_BATCH = 500 };

/* The first n images of the split, corrupted with a generator fixed per split (the same
 * corruption at every evaluation, so the figures compare across epochs and runs). */
static int denoise_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    denoise_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds) < st->s.eval_images ? dc_dataset_size(ds) : st->s.eval_images;
    dc_rng rng;
    dc_rng_seed(&rng, split == DC_TASK_TEST ? 2 : 1);
    double psnr_in = 0, psnr_out = 0, loss = 0;
    bool grad = dc_no_grad_begin();
    int rc = 0;
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        size_t scope = dc_scope_begin();
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        dc_tensor *clean = dc_narrow(ds->inputs, 0, start, m);
        dc_tensor *noisy = corrupt(&st->s, clean, &rng);
        dc_tensor *den = dc_forward(model, noisy);
        double l = dc_item(dc_mse_loss(den, clean, DC_REDUCE_MEAN));
        double in = denoise_psnr(clean, noisy, 1.0), o = denoise_psnr(clean, den, 1.0);
        if (isnan(l) || isnan(in) || isnan(o)) rc = -1;
        loss += l * (double)m, psnr_in += in * (double)m, psnr_out += o * (double)m;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc != 0 || n < 1) return n < 1 ? dc_error("denoise: no images to evaluate"), -1 : -1;
    out->loss = loss / (double)n;
    dc_metrics_set(out, "psnr_db", psnr_out / (double)n, true);
    dc_metrics_set(out, "psnr_input_db", psnr_in / (double)n, true);
    dc_metrics_set(out, "psnr_gain_db", (psnr_out - psnr_in) / (double)n, true);
    return 0;
}

/* denoise.png: 8 test images, their corrupted versions (clamped to [0, 1]) and the output. */
static int denoise_render(void *state, dc_module *model, const char *dir)
{
    denoise_state *st = state;
    enum { K = 8 };
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    bool grad = dc_no_grad_begin();
    dc_tensor *clean = dc_narrow(st->test->inputs, 0, 0, K);
    dc_tensor *noisy = corrupt(&st->s, clean, &rng);
    dc_tensor *rows[3] = {clean, dc_clamp(noisy, 0, 1), dc_forward(model, noisy)};
    dc_grad_mode_restore(grad);
    char path[4200];
    snprintf(path, sizeof path, "%s/denoise.png", dir);
    return dc_png_write_grid(path, dc_cat(rows, 3, 0), K, 2, 1.0);
}

const dc_task denoise_task = {
    .name = "denoise",
    .summary = "remove Gaussian noise / random masking from Fashion-MNIST (book 6.1): test PSNR",
    .options = denoise_options,
    .settings_size = sizeof(denoise_settings),
    .defaults = denoise_defaults,
    .run_defaults = "epochs = 1\nbatch = 64\nlr = 2e-3\noptim = adam\n",
    .setup = denoise_setup,
    .step = denoise_step,
    .evaluate = denoise_evaluate,
    .render = denoise_render,
    .close = denoise_close,
};
