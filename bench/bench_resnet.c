/* ResNet-18 benchmark (issue 5, workload 5), mirrored line by line in bench/torch_resnet.py.
 *
 *   resnet18  one training step of torchvision's ResNet-18 (dc_resnet18_new: 7x7 stride-2
 *             stem + max-pool, 4 stages of 2 basic blocks, 10 classes, 3 input channels;
 *             11,181,642 parameters) on a batch of 32 images 3x32x32 (CIFAR-sized: the
 *             feature maps go 16 -> 8 -> 8 -> 4 -> 2 -> 1), BatchNorm in training mode:
 *             forward, cross-entropy, backward, SGD (lr 0.01, momentum 0.9, weight decay
 *             5e-4), gradients dropped. "time resnet18_step <seconds per step>".
 *
 * usage: bench_resnet [--threads T] [--reps R] WORKLOAD...
 * Inputs N(0, 1) and labels uniform in [0, 10) (seeded), one fixed batch. Two untimed
 * warm-up steps (momentum buffers, thread pool, allocator). "info resnet18_params N"
 * reports the parameter count, which bench/torch_resnet.py must match. */
#include "bench_common.h"

#include <math.h>

enum { WARMUP_STEPS = 2, BATCH = 32, CLASSES = 10, CHANNELS = 3, SIZE = 32 };

/* One step on the batch (x, y); returns the loss or NAN. */
static double train_step(dc_module *model, dc_optimizer *opt, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin(); /* everything the step makes dies with it */
    dc_tensor *loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
    return bench_finish_step(loss, opt, scope);
}

static int bench_resnet18(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_module *model = dc_resnet18_new(CLASSES, CHANNELS, &rng);
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_SGD, 0.01);
    config.momentum = 0.9, config.weight_decay = 5e-4;
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(BATCH, CHANNELS, SIZE, SIZE));
    int64_t labels[BATCH];
    for (int i = 0; i < BATCH; i++) labels[i] = (int64_t)(dc_rng_u64(&rng) % CLASSES);
    dc_tensor *y = dc_from_buffer(DC_I64, DC_SHAPE(BATCH), labels);
    bool ok = optimizer && x && y;
    if (ok) printf("info resnet18_params %lld\n", (long long)dc_module_num_params(model, false));
    ok = ok && bench_time_steps("resnet18_step", WARMUP_STEPS, opt->reps, train_step, model,
                                optimizer, x, y);
    dc_tensor_free(x), dc_tensor_free(y);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"resnet18", bench_resnet18}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
