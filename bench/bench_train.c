/* Training benchmarks on Fashion-MNIST-shaped data (60000 images 1x28x28, 10 classes):
 * time of one epoch of forward + cross-entropy + backward + AdamW steps, mirrored line by
 * line in bench/torch_train.py.
 *
 *   mlp    784-500-10 MLP with ReLU, batch 500 (120 steps per epoch)
 *   lenet  the book's LeNet-like net (Fig. 5.2): conv 32 k5 -> maxpool 3 -> ReLU ->
 *          conv 64 k5 -> maxpool 2 -> ReLU -> flatten 256 -> 200 -> ReLU -> 10, batch 128
 *
 * usage: bench_train [--threads T] [--reps R] [--batches N] WORKLOAD...
 * Prints "time <workload>_epoch <seconds>" R times. With --batches N only the first N
 * batches are timed and the time is scaled to the 60000 samples of an epoch (the batches
 * take the same time each, so this is the epoch time up to noise). Batches are consecutive
 * slices of the in-memory set (zero-copy views, like slicing a tensor in torch: no loader
 * cost on either side). Three untimed warm-up steps first (optimizer state, thread pool).
 * The data is the real Fashion-MNIST training set when Debian's dataset-fashion-mnist is
 * installed, else uniform random pixels and labels of the same shape ("info data" says
 * which). */
#include "bench_common.h"

#include <math.h>

enum { WARMUP_STEPS = 3 };

typedef struct {
    const char *name;
    int64_t batch_size;
    bool flat_input; /* the model takes [B, 784] instead of [B, 1, 28, 28] */
    dc_module *(*build)(dc_rng *rng);
} workload;

static dc_module *build_mlp(dc_rng *rng)
{
    return dc_sequential_new(3, dc_linear_new(784, 500, true, rng),
                             dc_activation_new(DC_ACT_RELU, 0), dc_linear_new(500, 10, true, rng));
}

static dc_module *build_lenet(dc_rng *rng)
{
    return dc_sequential_new(
        10, dc_conv2d_new(1, 32, 5, 5, DC_CONV2D_DEFAULTS, true, rng),
        dc_max_pool2d_new(DC_POOL2D_OPTS(3, 0, 0)), dc_activation_new(DC_ACT_RELU, 0),
        dc_conv2d_new(32, 64, 5, 5, DC_CONV2D_DEFAULTS, true, rng),
        dc_max_pool2d_new(DC_POOL2D_OPTS(2, 0, 0)), dc_activation_new(DC_ACT_RELU, 0),
        dc_flatten_new(1, -1), dc_linear_new(256, 200, true, rng),
        dc_activation_new(DC_ACT_RELU, 0), dc_linear_new(200, 10, true, rng));
}

static const workload mlp_workload = {"mlp", 500, true, build_mlp};
static const workload lenet_workload = {"lenet", 128, false, build_lenet};

/* Fashion-MNIST's training set, or random data of its shape when it is not installed.
 * Loaded once by the first workload that runs; freed at exit. */
static dc_dataset *training_set;

static void free_training_set(void) { dc_dataset_free(training_set); }

static dc_dataset *load_data(void)
{
    dc_dataset *ds = dc_fashion_mnist_load(NULL, true);
    if (ds) {
        printf("info data fashion-mnist\n");
        return ds;
    }
    dc_clear_error();
    enum { N = 60000, CLASSES = 10 };
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    int64_t *labels = malloc(N * sizeof *labels);
    if (!labels) return NULL;
    for (int i = 0; i < N; i++) labels[i] = (int64_t)(dc_rng_u64(&rng) % CLASSES);
    dc_tensor *x = dc_rand(&rng, DC_F32, DC_SHAPE(N, 1, 28, 28));
    dc_tensor *y = dc_from_buffer(DC_I64, DC_SHAPE(N), labels);
    free(labels);
    ds = dc_dataset_new(x, y);
    dc_tensor_free(x), dc_tensor_free(y);
    if (ds) printf("info data random\n");
    return ds;
}

/* One training step on samples [start, start + count); returns the loss or NAN. */
static double train_step(dc_module *model, dc_optimizer *opt, dc_tensor *inputs,
                         dc_tensor *targets, int64_t start, int64_t count)
{
    size_t scope = dc_scope_begin(); /* everything the step makes dies with it */
    dc_tensor *x = dc_narrow(inputs, 0, start, count);
    dc_tensor *y = dc_narrow(targets, 0, start, count);
    dc_tensor *loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
    double value = NAN;
    if (loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0) value = dc_item(loss);
    dc_optimizer_zero_grad(opt);
    dc_scope_end(scope);
    return value;
}

static int run_epochs(const workload *w, const bench_options *opt)
{
    if (!training_set && (training_set = load_data()) != NULL) atexit(free_training_set);
    const dc_dataset *ds = training_set;
    if (!ds) {
        fprintf(stderr, "bench_train: no data: %s\n", dc_last_error());
        return -1;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_module *model = w->build(&rng);
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_ADAMW, 1e-3);
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    int64_t n = dc_dataset_size(ds);
    dc_tensor *inputs = w->flat_input ? dc_reshape(ds->inputs, DC_SHAPE(n, 784))
                                      : dc_tensor_retain(ds->inputs);
    int64_t epoch_batches = (n + w->batch_size - 1) / w->batch_size;
    int64_t batches = opt->batches > 0 && opt->batches < epoch_batches ? opt->batches : epoch_batches;
    double loss = 0;
    bool ok = optimizer && inputs;
    for (int s = 0; s < WARMUP_STEPS && ok; s++)
        ok = !isnan(train_step(model, optimizer, inputs, ds->targets, s * w->batch_size, w->batch_size));
    for (int r = 0; r < opt->reps && ok; r++) {
        int64_t samples = 0;
        double start = bench_now();
        for (int64_t b = 0; b < batches && ok; b++) {
            int64_t first = b * w->batch_size;
            int64_t count = first + w->batch_size <= n ? w->batch_size : n - first;
            loss = train_step(model, optimizer, inputs, ds->targets, first, count);
            ok = !isnan(loss);
            samples += count;
        }
        double seconds = (bench_now() - start) * (double)n / (double)samples;
        if (ok) printf("time %s_epoch %.6f\n", w->name, seconds);
        fflush(stdout);
    }
    if (ok) printf("info %s_final_loss %.4f\n", w->name, loss);
    else fprintf(stderr, "bench_train: %s failed: %s\n", w->name, dc_last_error());
    dc_tensor_free(inputs);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

static int bench_mlp(const bench_options *opt) { return run_epochs(&mlp_workload, opt); }
static int bench_lenet(const bench_options *opt) { return run_epochs(&lenet_workload, opt); }

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"mlp", bench_mlp}, {"lenet", bench_lenet}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
