/* Diffusion U-Net benchmark (issue 15), mirrored line by line in bench/torch_diffusion.py.
 *
 *   diffusion  one training step of apps/diffusion's eps-prediction U-Net (width 32,
 *              class-conditional: sinusoidal time embedding -> MLP, class embedding, residual
 *              blocks with GroupNorm(8) and SiLU at 28x28 (32 ch), 14x14 (64) and 7x7 (64),
 *              single-head self-attention at 7x7, nearest upsampling, concatenated skips) on a
 *              batch of 64 noised 1x28x28 images: forward, MSE to the noise, backward, Adam
 *              (lr 2e-4), gradients dropped. "time diffusion_step <seconds per step>".
 *
 * usage: bench_diffusion [--threads T] [--reps R] diffusion
 * x_t and the noise N(0, 1), timesteps uniform in [0, 1000), labels in [0, 10] (seeded), one
 * fixed batch. Two untimed warm-up steps. "info diffusion_params N" must match torch's. */
#include "bench_common.h"

#include "diffusion/diffusion.h"

enum { WARMUP_STEPS = 2, BATCH = 64, SIZE = 28, WIDTH = 32, CLASSES = 10, T = 1000 };

static dc_tensor *g_t, *g_labels; /* the batch's timesteps and labels */

/* One step: MSE(unet(x_t, t, labels), noise); returns the loss or NAN. */
static double train_step(dc_module *model, dc_optimizer *opt, dc_tensor *x_t, dc_tensor *noise)
{
    size_t scope = dc_scope_begin();
    dc_tensor *pred = diffusion_unet_forward(model, x_t, g_t, g_labels);
    return bench_finish_step(dc_mse_loss(pred, noise, DC_REDUCE_MEAN), opt, scope);
}

static int bench_diffusion(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    diffusion_unet_config cfg = {1, WIDTH, CLASSES};
    dc_module *model = diffusion_unet_new(&cfg, &rng);
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_ADAM, 2e-4);
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(BATCH, 1, SIZE, SIZE));
    dc_tensor *noise = dc_randn(&rng, DC_F32, DC_SHAPE(BATCH, 1, SIZE, SIZE));
    int64_t t[BATCH], labels[BATCH];
    for (int i = 0; i < BATCH; i++) {
        t[i] = (int64_t)(dc_rng_u64(&rng) % T);
        labels[i] = (int64_t)(dc_rng_u64(&rng) % (CLASSES + 1));
    }
    g_t = dc_from_buffer(DC_I64, DC_SHAPE(BATCH), t);
    g_labels = dc_from_buffer(DC_I64, DC_SHAPE(BATCH), labels);
    bool ok = optimizer && x && noise && g_t && g_labels;
    if (ok) printf("info diffusion_params %lld\n", (long long)dc_module_num_params(model, false));
    ok = ok && bench_time_steps("diffusion_step", WARMUP_STEPS, opt->reps, train_step, model,
                                optimizer, x, noise);
    dc_tensor_free(x), dc_tensor_free(noise), dc_tensor_free(g_t), dc_tensor_free(g_labels);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"diffusion", bench_diffusion}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
