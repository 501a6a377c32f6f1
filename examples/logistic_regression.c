/* Logistic and softmax regression by SGD with L1 and L2 penalties (apps/linear): softmax
 * regression on all of Fashion-MNIST (10 classes, 784 pixels, L2 1e-4, batches of 100), and
 * logistic regression on T-shirt/top vs Trouser with an L1 penalty applied by proximal SGD
 * (soft-thresholding), which zeroes most pixel weights, against the same run with the plain
 * subgradient (no exact zeros).
 *   build/examples/logistic_regression [--epochs 3] [--out-dir docs/images] [--threads 1]
 * Writes OUT/linear_softmax.svg (the objective per epoch). */
#include "deepc.h"
#include "linear/linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int64_t count_zeros(dc_tensor *w)
{
    return (int64_t)dc_item(dc_sum_all(dc_to_dtype(dc_eq(w, dc_zeros_like(w)), DC_F64)));
}

int main(int argc, char **argv)
{
    const char *out_dir = "docs/images";
    int epochs = 3;
    dc_set_num_threads(1);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out-dir")) out_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else return fprintf(stderr, "logistic_regression: unknown option %s\n", argv[i]), 2;
    }
    size_t scope = dc_scope_begin(); /* every tensor of the run, released at the end */
    if (epochs < 1 || epochs > 100) return fprintf(stderr, "logistic_regression: --epochs in [1, 100]\n"), 2;
    dc_dataset *train = dc_fashion_mnist_load(NULL, true), *test = dc_fashion_mnist_load(NULL, false);
    if (!train || !test) return fprintf(stderr, "logistic_regression: %s\n", dc_last_error()), 1;
    dc_tensor *x = dc_to_dtype(dc_reshape(train->inputs, 2, (int64_t[]){60000, 784}), DC_F64);
    dc_tensor *xt = dc_to_dtype(dc_reshape(test->inputs, 2, (int64_t[]){10000, 784}), DC_F64);
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    linear_classifier m;
    double obj[100], ex[100];
    for (int e = 0; e < epochs; e++) ex[e] = e + 1;
    linear_sgd_opts o = {.lr = 0.1, .epochs = epochs, .batch = 100, .l2 = 1e-4};
    double t0 = now();
    if (!x || !xt || linear_classifier_init(&m, 784, 10) ||
        linear_classifier_fit(&m, x, train->targets, &o, &rng, obj))
        return fprintf(stderr, "logistic_regression: %s\n", dc_last_error()), 1;
    printf("softmax regression, Fashion-MNIST, %d epochs of SGD (batch 100, lr 0.1, L2 1e-4) in %.1f s: "
           "objective %.4f -> %.4f, train acc %.4f, test acc %.4f\n",
           epochs, now() - t0, obj[0], obj[epochs - 1], linear_classifier_accuracy(&m, x, train->targets),
           linear_classifier_accuracy(&m, xt, test->targets));
    linear_classifier_free(&m);
    char path[512];
    snprintf(path, sizeof path, "%s/linear_softmax.svg", out_dir);
    dc_plot_series s = {"train objective (CE + L2)", ex, obj, epochs, NULL, true};
    if (dc_plot_svg(path, "Softmax regression on Fashion-MNIST (SGD)", "epoch", "objective", &s, 1))
        return fprintf(stderr, "logistic_regression: %s\n", dc_last_error()), 1;

    dc_tensor *xp, *yp, *xpt, *ypt;
    if (linear_fashion_pair(NULL, true, 0, 1, 0, &xp, &yp) || linear_fashion_pair(NULL, false, 0, 1, 0, &xpt, &ypt))
        return fprintf(stderr, "logistic_regression: %s\n", dc_last_error()), 1;
    for (int prox = 1; prox >= 0; prox--) {
        linear_sgd_opts ol = {.lr = 0.05, .epochs = epochs, .batch = 100, .l1 = 2e-3, .proximal_l1 = prox};
        t0 = now();
        if (linear_classifier_init(&m, 784, 1) || linear_classifier_fit(&m, xp, yp, &ol, &rng, obj))
            return fprintf(stderr, "logistic_regression: %s\n", dc_last_error()), 1;
        printf("logistic regression, T-shirt vs Trouser (%lld images), L1 2e-3 by %s, %.1f s: objective %.4f, "
               "test acc %.4f, %lld of 784 weights exactly 0\n",
               (long long)xp->shape[0], prox ? "proximal SGD" : "subgradient SGD", now() - t0, obj[epochs - 1],
               linear_classifier_accuracy(&m, xpt, ypt), (long long)count_zeros(m.weight));
        linear_classifier_free(&m);
    }
    dc_dataset_free(train);
    dc_dataset_free(test);
    dc_scope_end(scope);
    return 0;
}
