/* The main demo: a 2-64-64-3 ReLU MLP learns the classic three-arm spiral (CS231n's toy set)
 * with deepc's autograd, then draws its decision regions in the terminal.
 *
 *   build/examples/spiral_mlp [--steps N] [--seed S]        (`make demo` runs it)
 *
 * Everything is spelled out with the tensor API: the model is x@W^T + b (book §4.2) with
 * PyTorch's Linear initialisation, the loss is the mean of -log_softmax(logits)[target]
 * (cross-entropy, book §3.1), gradients come from dc_backward, and the Adam update (PyTorch's
 * formula and defaults, book §3.3) is a plain loop over the float data. Each step runs in
 * its own scope, so the step's tensors and graph are freed when it ends. */
#include "deepc.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { N_CLASSES = 3, HIDDEN = 64, TEST_PER_CLASS = 100 };
enum { GRID_W = 60, GRID_H = 25 };

static void die(const char *what)
{
    fprintf(stderr, "spiral_mlp: %s: %s\n", what, dc_last_error());
    exit(1);
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- Data: points on three interleaved spiral arms --------------------------------------- */

typedef struct {
    dc_tensor *x; /* [n, 2] float32 */
    dc_tensor *y; /* [n, 1] int64 class index, shaped for dc_gather */
    int64_t n;
} dataset;

/* Arm k, point i of m: radius r = i/m grows from the centre while the angle turns by 4 rad,
 * arms start 4 rad apart; Gaussian noise (std 0.15) on the angle blurs the arms. */
static dataset make_spiral(uint64_t seed, int per_class)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    int64_t n = (int64_t)N_CLASSES * per_class;
    float *x = malloc((size_t)n * 2 * sizeof *x);
    int64_t *y = malloc((size_t)n * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "spiral_mlp: out of memory\n");
        exit(1);
    }
    for (int k = 0; k < N_CLASSES; k++)
        for (int i = 0; i < per_class; i++) {
            double u1 = dc_rng_uniform(&rng), u2 = dc_rng_uniform(&rng);
            double noise = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2); /* Box-Muller */
            double r = (double)i / per_class, angle = 4.0 * k + 4.0 * r + 0.15 * noise;
            int64_t row = (int64_t)k * per_class + i;
            x[2 * row] = (float)(r * sin(angle));
            x[2 * row + 1] = (float)(r * cos(angle));
            y[row] = k;
        }
    dataset d = {dc_from_buffer(DC_F32, DC_SHAPE(n, 2), x),
                 dc_from_buffer(DC_I64, DC_SHAPE(n, 1), y), n};
    free(x);
    free(y);
    if (!d.x || !d.y) die("creating the data set");
    return d;
}

/* ---- Model: Linear(2,64) -> ReLU -> Linear(64,64) -> ReLU -> Linear(64,3) ------------------ */

typedef struct {
    dc_tensor *weight; /* [out, in], as torch.nn.Linear */
    dc_tensor *bias;   /* [out] */
} linear;

enum { N_LAYERS = 3, N_PARAMS = 2 * N_LAYERS };

typedef struct {
    linear layer[N_LAYERS];
    dc_tensor *param[N_PARAMS]; /* the same tensors, flat, for the optimizer */
} mlp;

/* PyTorch's default: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)). */
static linear linear_new(dc_rng *rng, int64_t in, int64_t out)
{
    double bound = 1.0 / sqrt((double)in);
    linear l = {dc_empty(DC_F32, DC_SHAPE(out, in)), dc_empty(DC_F32, DC_SHAPE(out))};
    if (dc_uniform_(rng, l.weight, -bound, bound) != 0 ||
        dc_uniform_(rng, l.bias, -bound, bound) != 0 || !dc_requires_grad(l.weight, true) ||
        !dc_requires_grad(l.bias, true))
        die("creating parameters");
    return l;
}

/* y = x @ W^T + b: the transpose is a view (no copy); b broadcasts over the rows. */
static dc_tensor *linear_forward(const linear *l, dc_tensor *x)
{
    return dc_add(dc_matmul(x, dc_transpose(l->weight, 0, 1)), l->bias);
}

static mlp mlp_new(uint64_t seed)
{
    static const int64_t widths[N_LAYERS + 1] = {2, HIDDEN, HIDDEN, N_CLASSES};
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    mlp m;
    for (int i = 0; i < N_LAYERS; i++) {
        m.layer[i] = linear_new(&rng, widths[i], widths[i + 1]);
        m.param[2 * i] = m.layer[i].weight;
        m.param[2 * i + 1] = m.layer[i].bias;
    }
    return m;
}

/* logits [n, 3] of points x [n, 2] */
static dc_tensor *mlp_forward(const mlp *m, dc_tensor *x)
{
    dc_tensor *h = x;
    for (int i = 0; i < N_LAYERS; i++) {
        h = linear_forward(&m->layer[i], h);
        if (i < N_LAYERS - 1) h = dc_relu(h);
    }
    return h;
}

/* Cross-entropy: mean over rows of -log softmax(logits)[row, target[row]]. */
static dc_tensor *cross_entropy(dc_tensor *logits, dc_tensor *target)
{
    return dc_neg(dc_mean_all(dc_gather(dc_log_softmax(logits, 1), 1, target)));
}

/* Class of each row: argmax of the logits (float data read directly). */
static void predict(const mlp *m, dc_tensor *x, int64_t *classes)
{
    size_t scope = dc_scope_begin();
    bool grad_mode = dc_no_grad_begin(); /* inference: record no graph */
    dc_tensor *logits = dc_contiguous(mlp_forward(m, x));
    if (!logits) die("forward pass");
    const float *z = dc_data(logits);
    for (int64_t i = 0; i < logits->shape[0]; i++) {
        int best = 0;
        for (int k = 1; k < N_CLASSES; k++)
            if (z[i * N_CLASSES + k] > z[i * N_CLASSES + best]) best = k;
        classes[i] = best;
    }
    dc_grad_mode_restore(grad_mode);
    dc_scope_end(scope);
}

static double accuracy(const mlp *m, const dataset *d)
{
    int64_t *pred = malloc((size_t)d->n * sizeof *pred);
    if (!pred) die("out of memory");
    predict(m, d->x, pred);
    const int64_t *target = dc_data(d->y);
    int64_t correct = 0;
    for (int64_t i = 0; i < d->n; i++) correct += pred[i] == target[i];
    free(pred);
    return (double)correct / (double)d->n;
}

/* ---- Adam (PyTorch's torch.optim.Adam, defaults betas=(0.9, 0.999), eps=1e-8) ------------- */

typedef struct {
    double lr, beta1, beta2, eps;
    int64_t t;              /* steps taken */
    dc_tensor *m[N_PARAMS]; /* first moment, like the parameter */
    dc_tensor *v[N_PARAMS]; /* second moment */
} adam;

/* m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 * p -= lr / (1-b1^t) * m / (sqrt(v / (1-b2^t)) + eps). Then the gradient is cleared.
 * Parameters, gradients and moments are contiguous float32, so this is one flat loop each. */
static void adam_step(adam *opt, dc_tensor *const *param)
{
    opt->t++;
    double bias1 = 1.0 - pow(opt->beta1, (double)opt->t);
    double bias2 = 1.0 - pow(opt->beta2, (double)opt->t);
    for (int k = 0; k < N_PARAMS; k++) {
        dc_tensor *p = param[k];
        if (!p->grad) continue;                  /* (no gradient reached it this step) */
        dc_tensor *g_c = dc_contiguous(p->grad); /* (copies only if strided) */
        if (!g_c) die("adam");
        float *w = dc_data(p), *m = dc_data(opt->m[k]), *v = dc_data(opt->v[k]);
        const float *g = dc_data(g_c);
        for (int64_t i = 0; i < dc_numel(p); i++) {
            m[i] = (float)(opt->beta1 * m[i] + (1.0 - opt->beta1) * g[i]);
            v[i] = (float)(opt->beta2 * v[i] + (1.0 - opt->beta2) * g[i] * g[i]);
            w[i] -= (float)(opt->lr / bias1 * m[i] / (sqrt(v[i] / bias2) + opt->eps));
        }
        dc_zero_grad(p);
    }
}

/* ---- Decision regions in the terminal ------------------------------------------------------ */

/* Each cell shows the predicted class of its centre over [-1, 1]^2 ('.', '-', ':'); cells
 * holding a training point show its true class instead ('0', '1', '2'). Colours on a tty. */
static void draw_regions(const mlp *m, const dataset *train)
{
    enum { CELLS = GRID_W * GRID_H };
    float *centres = malloc(sizeof(float) * 2 * CELLS);
    int64_t *cls = malloc(sizeof(int64_t) * CELLS);
    int *point = malloc(sizeof(int) * CELLS);
    if (!centres || !cls || !point) die("out of memory");
    for (int r = 0; r < GRID_H; r++)
        for (int c = 0; c < GRID_W; c++) {
            centres[2 * (r * GRID_W + c)] = (float)(-1.0 + (c + 0.5) * 2.0 / GRID_W);
            centres[2 * (r * GRID_W + c) + 1] = (float)(1.0 - (r + 0.5) * 2.0 / GRID_H);
            point[r * GRID_W + c] = -1;
        }
    const float *x = dc_data(train->x);
    const int64_t *y = dc_data(train->y);
    for (int64_t i = 0; i < train->n; i++) {
        int c = (int)floor((x[2 * i] + 1.0) / 2.0 * GRID_W);
        int r = (int)floor((1.0 - x[2 * i + 1]) / 2.0 * GRID_H);
        if (c >= 0 && c < GRID_W && r >= 0 && r < GRID_H) point[r * GRID_W + c] = (int)y[i];
    }

    size_t scope = dc_scope_begin();
    predict(m, dc_from_buffer(DC_F32, DC_SHAPE(CELLS, 2), centres), cls);
    dc_scope_end(scope);

    static const char region[N_CLASSES] = {'.', '-', ':'};
    static const char *colour[N_CLASSES] = {"\033[31m", "\033[32m", "\033[34m"};
    bool tty = isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    printf("\ndecision regions ('.' '-' ':' = predicted class 0 1 2; digits = training points)\n");
    for (int r = 0; r < GRID_H; r++) {
        printf("  ");
        for (int c = 0; c < GRID_W; c++) {
            int cell = r * GRID_W + c, k = (int)cls[cell];
            char ch = point[cell] >= 0 ? (char)('0' + point[cell]) : region[k];
            if (tty) printf("%s%s%c\033[0m", colour[k], point[cell] >= 0 ? "\033[1m" : "", ch);
            else putchar(ch);
        }
        putchar('\n');
    }
    free(centres);
    free(cls);
    free(point);
}

/* ---- Main ---------------------------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: spiral_mlp [--steps N] [--seed S] [--points P]\n"
                 "  Trains a 2-64-64-3 MLP on a 3-class spiral and draws its decision regions.\n"
                 "  --steps N   full-batch Adam steps (default 500)\n"
                 "  --seed S    seed of the data and the initial weights (default 0)\n"
                 "  --points P  training points per class (default 300)\n");
}

/* The value of option argv[*i] (the next argument), an integer in [min, max]; exits with
 * status 2 and a one-line message otherwise. */
static long long option_value(int argc, char **argv, int *i, long long min, long long max)
{
    const char *flag = argv[*i], *text = *i + 1 < argc ? argv[++*i] : "";
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf(stderr, "spiral_mlp: bad %s '%s' (an integer in [%lld, %lld])\n", flag, text, min,
                max);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    long steps = 500, points = 300;
    long long seed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--steps")) {
            steps = (long)option_value(argc, argv, &i, 1, 100000000);
        } else if (!strcmp(argv[i], "--points")) {
            points = (long)option_value(argc, argv, &i, 1, 1000000);
        } else if (!strcmp(argv[i], "--seed")) {
            seed = option_value(argc, argv, &i, 0, INT64_MAX);
        } else {
            fprintf(stderr, "spiral_mlp: unknown argument '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }

    dataset train = make_spiral((uint64_t)seed, (int)points);
    /* The held-out set: the same distribution, other points (another seed). */
    dataset test = make_spiral((uint64_t)seed + 1000003, TEST_PER_CLASS);
    mlp model = mlp_new((uint64_t)seed + 1); /* weights: a stream of their own */
    adam opt = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    for (int k = 0; k < N_PARAMS; k++) {
        opt.m[k] = dc_zeros_like(model.param[k]);
        opt.v[k] = dc_zeros_like(model.param[k]);
        if (!opt.m[k] || !opt.v[k]) die("creating optimizer state");
    }
    printf("spiral_mlp: %lld training points, %lld held out, 2-%d-%d-%d MLP, Adam lr %g, "
           "%d threads, %s kernels\n",
           (long long)train.n, (long long)test.n, HIDDEN, HIDDEN, N_CLASSES, opt.lr,
           dc_get_num_threads(), dc_kernel_isa());

    double start = seconds_now();
    long report_every = steps >= 10 ? steps / 10 : 1;
    int64_t live_tensors = dc_live_tensors(); /* parameters, moments and data: constant */
    for (long step = 1; step <= steps; step++) {
        size_t scope = dc_scope_begin(); /* the step's activations and graph die at its end */
        dc_tensor *loss = cross_entropy(mlp_forward(&model, train.x), train.y);
        if (!loss || dc_backward(loss) != 0) die("training step");
        double loss_value = dc_item(loss);
        adam_step(&opt, model.param);
        dc_scope_end(scope);
        if (dc_has_error()) die("training step");
        if (dc_live_tensors() != live_tensors) {
            fprintf(stderr, "spiral_mlp: step %ld left %lld tensors alive\n", step,
                    (long long)(dc_live_tensors() - live_tensors));
            return 1;
        }
        if (step % report_every == 0 || step == 1)
            printf("step %5ld  loss %.4f  train acc %5.1f%%  %6.2f s\n", step, loss_value,
                   100.0 * accuracy(&model, &train), seconds_now() - start);
    }

    draw_regions(&model, &train);
    double test_acc = accuracy(&model, &test);
    if (dc_has_error()) die("evaluation");
    printf("\nheld-out accuracy %.1f%% (%lld points) after %ld steps in %.2f s\n", 100.0 * test_acc,
           (long long)test.n, steps, seconds_now() - start);

    for (int k = 0; k < N_PARAMS; k++) {
        dc_tensor_free(model.param[k]);
        dc_tensor_free(opt.m[k]);
        dc_tensor_free(opt.v[k]);
    }
    dc_tensor_free(train.x);
    dc_tensor_free(train.y);
    dc_tensor_free(test.x);
    dc_tensor_free(test.y);
    if (dc_live_tensors() != 0) { /* every step's scope must have released its tensors */
        fprintf(stderr, "spiral_mlp: %lld tensors still alive at exit\n",
                (long long)dc_live_tensors());
        return 1;
    }
    return 0;
}
