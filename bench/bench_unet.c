/* U-Net benchmark (issue 13, "Speed"), mirrored line by line in bench/torch_unet.py.
 *
 *   unet  one training step of the segmentation U-Net of apps/segment (segment_model_new:
 *         width 16, 5 classes; encoder of double conv3x3-BatchNorm-ReLU blocks 16, 32, 64 and
 *         a 128-channel bottleneck under three 2x2 max-pools, decoder of ConvTranspose2d(2,
 *         stride 2) + concatenated skip + double conv, a 1x1 head; 482,805 parameters) on a
 *         batch of 16 RGB images 3x64x64, BatchNorm in training mode: forward, per-pixel
 *         cross-entropy, backward, Adam (lr 2e-3), gradients dropped.
 *         "time unet_step <seconds per step>".
 *
 * usage: bench_unet [--threads T] [--reps R] WORKLOAD...
 * Inputs U[0, 1) and per-pixel labels uniform in [0, 5) (seeded), one fixed batch. Two
 * untimed warm-up steps. "info unet_params N" reports the parameter count, which
 * bench/torch_unet.py must match. */
#include "bench_common.h"
#include "segment/segment.h"

enum { WARMUP_STEPS = 2, BATCH = 16, CLASSES = 5, SIZE = 64, WIDTH = 16 };

static double train_step(dc_module *model, dc_optimizer *opt, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin();
    dc_tensor *loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
    return bench_finish_step(loss, opt, scope);
}

static int bench_unet(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_module *model = segment_model_new(SEGMENT_UNET, WIDTH, CLASSES, &rng);
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_ADAM, 2e-3);
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    dc_tensor *x = dc_rand(&rng, DC_F32, DC_SHAPE(BATCH, 3, SIZE, SIZE));
    int64_t *labels = malloc(sizeof(int64_t) * BATCH * SIZE * SIZE);
    for (int i = 0; labels && i < BATCH * SIZE * SIZE; i++)
        labels[i] = (int64_t)(dc_rng_u64(&rng) % CLASSES);
    dc_tensor *y = labels ? dc_from_buffer(DC_I64, DC_SHAPE(BATCH, SIZE, SIZE), labels) : NULL;
    free(labels);
    bool ok = optimizer && x && y;
    if (ok) printf("info unet_params %lld\n", (long long)dc_module_num_params(model, false));
    ok = ok && bench_time_steps("unet_step", WARMUP_STEPS, opt->reps, train_step, model,
                                optimizer, x, y);
    dc_tensor_free(x), dc_tensor_free(y);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"unet", bench_unet}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
