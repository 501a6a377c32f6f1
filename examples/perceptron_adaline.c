/* The course's first classifiers (slides "Perceptrons and Adalines"; apps/linear): Rosenblatt's
 * perceptron on separable 2-D blobs (two classes, and four classes one versus the rest) and on
 * two Fashion-MNIST classes (T-shirt/top vs Trouser), then Adaline (the LMS rule) on the same
 * data. Convergence is plotted: the samples that caused an update per epoch (the perceptron
 * stops at the first epoch without one) and Adaline's mean squared error.
 *   build/examples/perceptron_adaline [--out-dir docs/images] [--threads 1]
 * Writes OUT/linear_perceptron.svg and OUT/linear_adaline.svg. */
#include "deepc.h"
#include "linear/linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPOCHS 40

int main(int argc, char **argv)
{
    const char *out_dir = "docs/images";
    dc_set_num_threads(1);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out-dir")) out_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else return fprintf(stderr, "perceptron_adaline: unknown option %s\n", argv[i]), 2;
    }
    size_t scope = dc_scope_begin(); /* every tensor of the run, released at the end */
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_tensor *x2, *y2, *x4, *y4, *xf, *yf, *xft, *yft;
    if (linear_blobs(100, 2, 0.45, &rng, &x2, &y2) || linear_blobs(100, 4, 0.45, &rng, &x4, &y4) ||
        linear_fashion_pair(NULL, true, 0, 1, 4000, &xf, &yf) ||
        linear_fashion_pair(NULL, false, 0, 1, 0, &xft, &yft)) {
        fprintf(stderr, "perceptron_adaline: %s\n", dc_last_error());
        return 1;
    }
    struct {
        const char *name;
        dc_tensor *x, *y, *xt, *yt;
        int classes;
        double adaline_lr;
    } sets[3] = {{"2 blobs", x2, y2, NULL, NULL, 2, 0.001},
                 {"4 blobs (one vs rest)", x4, y4, NULL, NULL, 4, 0.001},
                 {"Fashion T-shirt vs Trouser", xf, yf, xft, yft, 2, 1e-4}};
    double mistakes[3][EPOCHS], mse[3][EPOCHS], epochs_x[EPOCHS];
    int runs[3];
    for (int e = 0; e < EPOCHS; e++) epochs_x[e] = e + 1;
    dc_plot_series ps[3], as[3];
    for (int s = 0; s < 3; s++) {
        dc_tensor *w, *wa;
        const int64_t n = sets[s].x->shape[0];
        runs[s] = linear_perceptron_fit(sets[s].x, sets[s].y, sets[s].classes, 1.0, EPOCHS, &rng, &w, mistakes[s]);
        if (runs[s] < 0 || linear_adaline_fit(sets[s].x, sets[s].y, sets[s].classes, sets[s].adaline_lr, EPOCHS,
                                              &rng, &wa, mse[s]) < 0) {
            fprintf(stderr, "perceptron_adaline: %s\n", dc_last_error());
            return 1;
        }
        for (int e = 0; e < runs[s]; e++) mistakes[s][e] /= (double)n;
        printf("%-28s n=%5lld  perceptron: %s after %2d epochs, train acc %.4f", sets[s].name, (long long)n,
               mistakes[s][runs[s] - 1] == 0 ? "converged" : "not converged", runs[s],
               linear_accuracy(w, sets[s].x, sets[s].y));
        if (sets[s].xt) printf(", test acc %.4f (%lld images)", linear_accuracy(w, sets[s].xt, sets[s].yt),
                               (long long)sets[s].xt->shape[0]);
        printf("\n%-28s          Adaline: MSE %.4f -> %.4f, train acc %.4f", "", mse[s][0], mse[s][EPOCHS - 1],
               linear_accuracy(wa, sets[s].x, sets[s].y));
        if (sets[s].xt) printf(", test acc %.4f", linear_accuracy(wa, sets[s].xt, sets[s].yt));
        printf("\n");
        ps[s] = (dc_plot_series){sets[s].name, epochs_x, mistakes[s], runs[s], NULL, true};
        as[s] = (dc_plot_series){sets[s].name, epochs_x, mse[s], EPOCHS, NULL, false};
    }
    char path[512];
    snprintf(path, sizeof path, "%s/linear_perceptron.svg", out_dir);
    int rc = dc_plot_svg(path, "Perceptron: fraction of samples causing an update", "epoch",
                         "updates / samples", ps, 3);
    snprintf(path, sizeof path, "%s/linear_adaline.svg", out_dir);
    rc = rc || dc_plot_svg(path, "Adaline (LMS): mean squared error of the +-1 targets", "epoch", "MSE", as, 3);
    if (rc) return fprintf(stderr, "perceptron_adaline: %s\n", dc_last_error()), 1;
    printf("wrote %s/linear_perceptron.svg and %s/linear_adaline.svg\n", out_dir, out_dir);
    dc_scope_end(scope);
    return 0;
}
