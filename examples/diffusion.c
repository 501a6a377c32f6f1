/* Denoising diffusion on Fashion-MNIST (book §7.2; apps/diffusion): a class-conditional
 * DDPM (T = 1000, eps-prediction, U-Net with time embedding, group norm and attention at 7x7)
 * trained for a fixed time, with an exponential moving average of the weights; then the
 * test denoising loss, a DDIM grid (one column per class, classifier-free guidance), a grid
 * drawn with the full 1000-step DDPM chain and the denoising trajectory of one sample.
 *   build/examples/diffusion [--seconds S] [--width W] [--schedule linear|cosine] [--uncond]
 *       [--batch B] [--lr LR] [--guidance G] [--eta E] [--steps DDIM_STEPS] [--ddpm-samples N]
 *       [--out PREFIX] [--save CKPT] [--load CKPT] [--threads T]
 * Defaults: 840 s, width 16, cosine, conditional, batch 64, lr 2e-3, guidance 2, 50 DDIM
 * steps with eta 1, 20 DDPM samples, PREFIX docs/images/diffusion (PREFIX.png, PREFIX_ddpm.png,
 * PREFIX_trajectory.png). --load skips training (the EMA weights of a --save'd run). */
#include "deepc.h"
#include "diffusion/diffusion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
    fprintf(stderr, "diffusion: %s: %s\n", what, dc_last_error());
    return 1;
}

/* Test loss over the first n test images, with fixed t and noise (seed 7). */
static double test_loss(dc_module *m, const diffusion_schedule *s, const dc_dataset *test,
                        int64_t n, bool cond)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    bool grad = dc_no_grad_begin();
    double total = 0;
    for (int64_t start = 0; start < n; start += 250) {
        size_t scope = dc_scope_begin();
        int64_t k = n - start < 250 ? n - start : 250;
        dc_tensor *x = diffusion_to_model(dc_narrow(test->inputs, 0, start, k));
        dc_tensor *y = cond ? dc_narrow(test->targets, 0, start, k) : NULL;
        total += dc_item(diffusion_loss(m, s, x, y, 0, &rng)) * (double)k;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    return total / (double)n;
}

int main(int argc, char **argv)
{
    double seconds = 840, lr = 2e-3, guidance = 2, eta = 1, ema_decay = 0.995;
    int64_t width = 16, batch = 64, ddim_steps = 50, ddpm_n = 20;
    bool cond = true;
    diffusion_schedule_kind kind = DIFFUSION_COSINE;
    const char *prefix = "docs/images/diffusion", *save = NULL, *load = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--uncond")) { cond = false; continue; }
        if (!v) { fprintf(stderr, "diffusion: %s needs a value\n", a); return 2; }
        i++;
        if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--width")) width = atoll(v);
        else if (!strcmp(a, "--schedule")) kind = !strcmp(v, "linear") ? DIFFUSION_LINEAR : DIFFUSION_COSINE;
        else if (!strcmp(a, "--batch")) batch = atoll(v);
        else if (!strcmp(a, "--lr")) lr = atof(v);
        else if (!strcmp(a, "--guidance")) guidance = atof(v);
        else if (!strcmp(a, "--eta")) eta = atof(v);
        else if (!strcmp(a, "--steps")) ddim_steps = atoll(v);
        else if (!strcmp(a, "--ddpm-samples")) ddpm_n = atoll(v);
        else if (!strcmp(a, "--out")) prefix = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--load")) load = v;
        else if (!strcmp(a, "--threads")) dc_set_num_threads(atoi(v));
        else { fprintf(stderr, "diffusion: unknown option %s\n", a); return 2; }
    }
    diffusion_schedule sched;
    if (diffusion_schedule_init(&sched, kind, 1000) != 0) return fail("schedule");
    dc_dataset *train = load ? NULL : dc_fashion_mnist_load(NULL, true);
    dc_dataset *test = dc_fashion_mnist_load(NULL, false);
    if ((!load && !train) || !test) return fail("Fashion-MNIST");
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    diffusion_unet_config cfg = {1, width, cond ? 10 : 0};
    dc_module *model = diffusion_unet_new(&cfg, &rng), *ema = diffusion_unet_new(&cfg, &rng);
    dc_tensor_list params, ema_params;
    if (!model || !ema || dc_module_parameters(model, &params) != 0 ||
        dc_module_parameters(ema, &ema_params) != 0)
        return fail("model");
    for (int i = 0; i < params.n; i++) dc_copy_(ema_params.tensors[i], params.tensors[i]);
    printf("DDPM (%s schedule, T = 1000, %s) U-Net width %lld: %lld parameters\n",
           kind == DIFFUSION_LINEAR ? "linear" : "cosine", cond ? "class-conditional" : "unconditional",
           (long long)width, (long long)dc_module_num_params(model, false));
    double train_s = 0;
    int64_t steps = 0;
    if (load) {
        if (dc_checkpoint_load(load, ema, NULL) != 0) return fail(load);
        printf("loaded %s\n", load);
    } else {
        dc_optim_config oc = dc_optim_defaults(DC_ADAM, lr);
        dc_optimizer *opt = dc_optimizer_new(&params, &oc);
        if (!opt) return fail("optimizer");
        printf("training %.0f s, batch %lld, Adam lr %g (warm-up 200 steps), EMA %.3f\n", seconds,
               (long long)batch, lr, ema_decay);
        double t0 = now(), avg = 0;
        while (now() - t0 < seconds) {
            size_t scope = dc_scope_begin();
            dc_tensor *x, *y;
            if (dc_dataset_random_batch(train, batch, &rng, &x, &y) != 0) return fail("batch");
            dc_optimizer_set_lr(opt, steps < 200 ? lr * (double)(steps + 1) / 200 : lr);
            dc_tensor *loss = diffusion_loss(model, &sched, diffusion_to_model(x), cond ? y : NULL, 0.1, &rng);
            dc_module_zero_grad(model);
            if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) return fail("step");
            /* ema = d ema + (1 - d) w (no autograd), a faster start: d ramps up with the steps */
            double d = (1.0 + (double)steps) / (10.0 + (double)steps);
            if (d > ema_decay) d = ema_decay;
            for (int i = 0; i < params.n; i++) {
                dc_mul_scalar_(ema_params.tensors[i], d);
                dc_axpy_(ema_params.tensors[i], 1 - d, params.tensors[i]);
            }
            double l = dc_item(loss);
            avg = steps ? 0.99 * avg + 0.01 * l : l;
            steps++;
            if (steps % 100 == 0) {
                printf("step %lld (%.0f s): loss %.4f\n", (long long)steps, now() - t0, avg);
                fflush(stdout);
            }
            dc_scope_end(scope);
        }
        train_s = now() - t0;
        dc_optimizer_free(opt);
        printf("trained %lld steps (%lld images) in %.0f s\n", (long long)steps,
               (long long)(steps * batch), train_s);
        if (save && dc_checkpoint_save(save, ema, NULL, NULL, 0) != 0) return fail(save);
    }
    printf("test loss (1000 images, eps MSE) of the EMA weights: %.4f\n",
           test_loss(ema, &sched, test, 1000, cond));
    if (!load) printf("  (raw weights: %.4f)\n", test_loss(model, &sched, test, 1000, cond));
    char path[4200];
    int rc = 0;
    /* DDIM grid: 8 rows x 10 columns, column c = class c */
    double t1 = now();
    dc_tensor *grid = diffusion_generate(ema, &sched, 80, 28, 28, ddim_steps, eta, guidance, 42, 0, NULL);
    snprintf(path, sizeof path, "%s.png", prefix);
    if (!grid || dc_png_write_grid(path, grid, 10, 2, 1.0) != 0) return fail(path);
    printf("wrote %s: 80 samples, DDIM %lld steps, eta %.1f, guidance %.1f (%.0f s)\n", path,
           (long long)ddim_steps, eta, guidance, now() - t1);
    dc_tensor_free(grid);
    /* full DDPM chain and one sample's trajectory (11 states, x_T to x_0) */
    if (ddpm_n > 0) {
        t1 = now();
        dc_tensor *traj = NULL;
        dc_tensor *g2 = diffusion_generate(ema, &sched, ddpm_n, 28, 28, 1000, 1, guidance, 43, 11, &traj);
        snprintf(path, sizeof path, "%s_ddpm.png", prefix);
        if (!g2 || dc_png_write_grid(path, g2, 10, 2, 1.0) != 0) return fail(path);
        printf("wrote %s: %lld samples, DDPM 1000 steps (%.0f s)\n", path, (long long)ddpm_n, now() - t1);
        snprintf(path, sizeof path, "%s_trajectory.png", prefix);
        if (!traj || dc_png_write_grid(path, traj, 11, 2, 1.0) != 0) return fail(path);
        printf("wrote %s (x_T ... x_0 every 100 steps)\n", path);
        dc_tensor_free(g2), dc_tensor_free(traj);
    }
    dc_tensor_list_free(&params), dc_tensor_list_free(&ema_params);
    dc_module_free(model), dc_module_free(ema);
    dc_dataset_free(train), dc_dataset_free(test);
    diffusion_schedule_free(&sched);
    return rc;
}
