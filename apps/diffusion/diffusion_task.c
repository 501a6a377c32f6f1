/* `deepc train --task diffusion` (book §7.2): DDPM on Fashion-MNIST with an eps-predicting
 * U-Net, class-conditional with classifier-free guidance unless --unconditional; metric: the
 * denoising loss (eps MSE) at fixed timesteps and noise; pictures: a DDIM sample grid (one
 * column per class) and one sample's trajectory; `deepc generate` draws grids. The run loop's
 * optimizer trains the raw weights (no EMA here; examples/diffusion.c keeps one). */
#include "diffusion/diffusion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long width;          /* U-Net channels at full resolution */
    bool unconditional;  /* no class labels */
    char schedule[8];    /* cosine | linear */
    long timesteps;      /* T */
    double p_uncond;     /* label dropped (no-class id) with this probability in training */
    double guidance;     /* classifier-free guidance scale of the samples */
    double eta;          /* DDIM stochasticity of the samples (0: deterministic) */
    long sample_steps;   /* DDIM steps of the pictures and of generate (>= T: DDPM) */
    long render_samples; /* samples in diffusion.png */
    long val_images;     /* held out of the training images */
    long eval_images;    /* validation / test images scored (at most) */
} diffusion_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(diffusion_settings, name, type, field, min, max, choices, help)
static const dc_option diffusion_options[] = {
    OPT("width", DC_OPTION_INT, width, 8, 256, NULL, "U-Net channels at 28x28 (multiple of 8)"),
    OPT("unconditional", DC_OPTION_FLAG, unconditional, 0, 0, NULL, "no class conditioning"),
    OPT("noise-schedule", DC_OPTION_TEXT, schedule, 0, 0, "cosine|linear", "noise schedule"),
    OPT("timesteps", DC_OPTION_INT, timesteps, 2, 10000, NULL, "diffusion steps T"),
    OPT("p-uncond", DC_OPTION_REAL, p_uncond, 0, 1, NULL, "label dropout for guidance"),
    OPT("guidance", DC_OPTION_REAL, guidance, 0, 20, NULL, "classifier-free guidance scale"),
    OPT("eta", DC_OPTION_REAL, eta, 0, 10, NULL, "DDIM eta (0: deterministic, 1: DDPM-like)"),
    OPT("sample-steps", DC_OPTION_INT, sample_steps, 1, 10000, NULL, "DDIM steps of the samples"),
    OPT("render-samples", DC_OPTION_INT, render_samples, 1, 1000, NULL, "samples in the grid"),
    OPT("val-images", DC_OPTION_INT, val_images, 1, 59999, NULL, "training images held out"),
    OPT("eval-images", DC_OPTION_INT, eval_images, 1, 1e6, NULL, "images scored per evaluation"),
    DC_OPTION_END,
};

static void diffusion_defaults(void *settings)
{
    diffusion_settings *s = settings;
    *s = (diffusion_settings){16, false, "cosine", 1000, 0.1, 2.0, 1.0, 50, 80, 5000, 1000};
}

typedef struct {
    diffusion_settings s;
    diffusion_schedule sched;
    int64_t batch;
    dc_dataset *train, *val, *test;
} diffusion_state;

static void diffusion_close(void *state)
{
    diffusion_state *st = state;
    if (!st) return;
    diffusion_schedule_free(&st->sched);
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st);
}

static int diffusion_setup(dc_task_setup *ctx)
{
    diffusion_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("diffusion: out of memory"), -1;
    st->s = *(const diffusion_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    if (diffusion_schedule_init(&st->sched, !strcmp(st->s.schedule, "linear") ? DIFFUSION_LINEAR : DIFFUSION_COSINE,
                                st->s.timesteps) != 0)
        return -1;
    diffusion_unet_config cfg = {1, st->s.width, st->s.unconditional ? 0 : 10};
    ctx->model = diffusion_unet_new(&cfg, ctx->model_rng);
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

static dc_tensor *diffusion_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    diffusion_state *st = state;
    dc_tensor *x, *y;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &x, &y) != 0) return NULL;
    return diffusion_loss(model, &st->sched, diffusion_to_model(x), st->s.unconditional ? NULL : y,
                          st->s.p_uncond, rng);
}

enum { EVAL_BATCH = 250 };

/* The loss over the first n images of the split with timesteps and noise from a generator
 * fixed per split, so the figures compare across epochs and runs. */
static int diffusion_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    diffusion_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds) < st->s.eval_images ? dc_dataset_size(ds) : st->s.eval_images;
    if (n < 1) return dc_error("diffusion: no images to evaluate"), -1;
    dc_rng rng;
    dc_rng_seed(&rng, split == DC_TASK_TEST ? 2 : 1);
    double loss = 0;
    bool grad = dc_no_grad_begin();
    int rc = 0;
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        size_t scope = dc_scope_begin();
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        dc_tensor *x = diffusion_to_model(dc_narrow(ds->inputs, 0, start, m));
        dc_tensor *y = st->s.unconditional ? NULL : dc_narrow(ds->targets, 0, start, m);
        dc_tensor *l = diffusion_loss(model, &st->sched, x, y, 0, &rng);
        if (!l) rc = -1;
        else loss += dc_item(l) * (double)m;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc != 0) return -1;
    out->loss = loss / (double)n;
    dc_metrics_set(out, "eps_mse", out->loss, false);
    return 0;
}

static int write_samples(diffusion_state *st, dc_module *model, int64_t n, int64_t steps,
                         uint64_t seed, const char *path, const char *trajectory_path)
{
    dc_tensor *traj = NULL;
    dc_tensor *x = diffusion_generate(model, &st->sched, n, 28, 28, steps ? steps : st->s.sample_steps,
                                      st->s.eta, st->s.guidance, seed, trajectory_path ? 11 : 0,
                                      trajectory_path ? &traj : NULL);
    int rc = x ? dc_png_write_grid(path, x, st->s.unconditional ? 8 : 10, 2, 1.0) : -1;
    if (rc == 0 && trajectory_path) rc = dc_png_write_grid(trajectory_path, traj, 11, 2, 1.0);
    return rc;
}

/* diffusion.png (render-samples samples; column c = class c when conditional) and
 * diffusion_trajectory.png (sample 0 from x_T to x_0). */
static int diffusion_render(void *state, dc_module *model, const char *dir)
{
    char path[4200], traj[4200];
    snprintf(path, sizeof path, "%s/diffusion.png", dir);
    snprintf(traj, sizeof traj, "%s/diffusion_trajectory.png", dir);
    diffusion_state *st = state;
    return write_samples(st, model, st->s.render_samples, 0, 42, path, traj);
}

static int diffusion_task_generate(void *state, dc_module *model, int64_t n, int64_t steps,
                                   uint64_t seed, const char *path)
{
    return write_samples(state, model, n, steps, seed, path, NULL);
}

const dc_task diffusion_task = {
    .name = "diffusion",
    .summary = "DDPM on Fashion-MNIST (book 7.2): eps-prediction U-Net, DDIM/DDPM samples, eps MSE",
    .options = diffusion_options,
    .settings_size = sizeof(diffusion_settings),
    .defaults = diffusion_defaults,
    .run_defaults = "epochs = 1\nbatch = 64\nlr = 2e-3\noptim = adam\n",
    .setup = diffusion_setup,
    .step = diffusion_step,
    .evaluate = diffusion_evaluate,
    .render = diffusion_render,
    .generate = diffusion_task_generate,
    .close = diffusion_close,
};
