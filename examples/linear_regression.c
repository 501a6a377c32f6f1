/* Linear regression, the course's basics (apps/linear; book §1.2, slides "Bias-variance" and
 * "Double descent"):
 *  1. closed form (QR least squares, normal equations through Cholesky) against gradient
 *     descent with autograd, on 200 samples of 8 features: the largest weight difference;
 *  2. Gaussian-basis regression like the book's Fig. 1.1: 10 Gaussian basis functions fitted to
 *     15 noisy points of exp(-x) sin(5 x) by least squares; the picture shows the weighted basis
 *     functions w_k f_k and their sum -> OUT/linear_basis.svg;
 *  3. a sweep over model width: minimum-norm regression on P random ReLU features of N = 40
 *     noisy samples of tanh(beta . x), x in R^5, P from 2 to 1600, each width refitted on 30
 *     fresh training sets (and features): train error, test error and its split into bias^2 and
 *     variance; the test error peaks at the interpolation threshold P = N and descends again
 *     -> OUT/linear_double_descent.svg.
 *   build/examples/linear_regression [--out-dir docs/images] [--threads 1] */
#include "deepc.h"
#include "linear/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL() return fprintf(stderr, "linear_regression: %s\n", dc_last_error()), 1

static double max_abs_diff(dc_tensor *a, dc_tensor *b)
{
    return dc_item(dc_max(dc_flatten(dc_abs(dc_sub(a, b)), 0, -1), 0, false));
}

int main(int argc, char **argv)
{
    const char *out_dir = "docs/images";
    dc_set_num_threads(1);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out-dir")) out_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else return fprintf(stderr, "linear_regression: unknown option %s\n", argv[i]), 2;
    }
    size_t scope = dc_scope_begin(); /* every tensor of the run, released at the end */
    char path[512];
    dc_rng rng;
    dc_rng_seed(&rng, 7);

    /* 1. closed form vs gradient descent */
    dc_tensor *a = linear_add_bias_column(dc_randn(&rng, DC_F64, 2, (int64_t[]){200, 8}));
    dc_tensor *wt = dc_randn(&rng, DC_F64, 1, (int64_t[]){9});
    dc_tensor *y = dc_add(dc_matmul(a, wt), dc_mul_scalar(dc_randn(&rng, DC_F64, 1, (int64_t[]){200}), 0.3));
    int64_t steps = 0;
    dc_tensor *w_qr = linear_regression_fit(a, y, LINEAR_LSTSQ, 0);
    dc_tensor *w_ne = linear_regression_fit(a, y, LINEAR_NORMAL_EQUATIONS, 0);
    dc_tensor *w_gd = linear_regression_gd(a, y, 0, 0, 100000, 1e-12, &steps, NULL);
    if (!w_qr || !w_ne || !w_gd) FAIL();
    printf("closed form vs gradient descent (200 x 9): max |w_qr - w_ne| = %.2e, max |w_qr - w_gd| = %.2e "
           "after %lld GD steps (lr 1/L)\n",
           max_abs_diff(w_qr, w_ne), max_abs_diff(w_qr, w_gd), (long long)steps);

    /* 2. Fig. 1.1: Gaussian basis regression */
    const int64_t n = 15, k = 10;
    /* x: one point in each of 15 equal bins of [0, 1], at a random place */
    dc_tensor *xs = dc_mul_scalar(dc_add(dc_arange(DC_F64, 0, (double)n, 1), dc_rand(&rng, DC_F64, 1, &n)), 1.0 / (double)n);
    dc_tensor *ys = dc_add(dc_mul(dc_sin(dc_mul_scalar(xs, 5)), dc_exp(dc_neg(xs))),
                           dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &n), 0.05));
    dc_tensor *centers = dc_arange(DC_F64, 0.05, 1.0, 0.1), *grid = dc_arange(DC_F64, -0.05, 1.0501, 0.0055);
    dc_tensor *wb = linear_regression_fit(linear_gaussian_basis(xs, centers, 0.08), ys, LINEAR_LSTSQ, 0);
    dc_tensor *phi_g = linear_gaussian_basis(grid, centers, 0.08);
    if (!wb || !phi_g) FAIL();
    dc_tensor *fit = dc_matmul(phi_g, wb);
    double gx[256], gy[256], basis[10][256], px[15], py[15];
    const int64_t m = grid->shape[0] < 256 ? grid->shape[0] : 256;
    dc_to_double_buffer(dc_narrow(grid, 0, 0, m), gx, m);
    dc_to_double_buffer(dc_narrow(fit, 0, 0, m), gy, m);
    dc_to_double_buffer(xs, px, n), dc_to_double_buffer(ys, py, n);
    dc_plot_series fs[2 + 10 + 15];
    int ns = 0;
    /* labelled series first: the legend has a row per series index */
    fs[ns++] = (dc_plot_series){"fitted combination", gx, gy, (int)m, "#d62728", false};
    for (int64_t i = 0; i < n; i++) /* one-point series: dots without a line */
        fs[ns++] = (dc_plot_series){i == 0 ? "training points" : NULL, &px[i], &py[i], 1, "#000000", true};
    for (int64_t j = 0; j < k; j++) {
        dc_tensor *col = dc_mul(dc_select(phi_g, 1, j), dc_select(wb, 0, j)); /* w_k f_k */
        dc_to_double_buffer(dc_narrow(col, 0, 0, m), basis[j], m);
        fs[ns++] = (dc_plot_series){j == 0 ? "weighted basis functions" : NULL, gx, basis[j], (int)m, "#9ecae1", false};
    }
    /* move the first basis function next to the two labelled series */
    dc_plot_series first = fs[1 + n];
    memmove(&fs[3], &fs[2], sizeof fs[0] * (size_t)(n - 1));
    fs[2] = first;
    snprintf(path, sizeof path, "%s/linear_basis.svg", out_dir);
    if (dc_plot_svg(path, "Gaussian-basis regression (book Fig. 1.1)", "x", "y", fs, ns)) FAIL();
    printf("Gaussian basis (Fig. 1.1): %lld points, %lld basis functions, train RMSE %.4f -> %s\n", (long long)n,
           (long long)k, sqrt(dc_item(dc_mse_loss(dc_matmul(linear_gaussian_basis(xs, centers, 0.08), wb), ys,
                                                  DC_REDUCE_MEAN))),
           path);

    /* 3. width sweep: double descent and the bias-variance split */
    const int64_t N = 40, D = 5, NT = 500, R = 30;
    static const int64_t widths[] = {2, 5, 10, 15, 20, 25, 30, 35, 38, 40, 42, 45, 50, 60, 80, 100, 150, 200, 400, 800, 1600};
    enum { NW = sizeof widths / sizeof widths[0] };
    double lx[NW], te[NW], b2[NW], var[NW];
    dc_rng_seed(&rng, 11);
    dc_tensor *beta = dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &D), 1 / sqrt((double)D));
    dc_tensor *x_test = dc_randn(&rng, DC_F64, 2, (int64_t[]){NT, D});
    dc_tensor *y_test = dc_contiguous(dc_tanh(dc_matmul(x_test, beta)));
    double *pred = malloc(sizeof *pred * (size_t)(R * NT));
    if (!pred || !y_test) FAIL();
    printf("width sweep, N = %lld, %lld repetitions:\n%6s %12s %12s %12s %12s\n", (long long)N, (long long)R, "P",
           "train MSE", "test MSE", "bias^2", "variance");
    for (int w = 0; w < NW; w++) {
        double train = 0;
        for (int64_t r = 0; r < R; r++) {
            size_t scope = dc_scope_begin();
            dc_tensor *x = dc_randn(&rng, DC_F64, 2, (int64_t[]){N, D});
            dc_tensor *yy = dc_add(dc_tanh(dc_matmul(x, beta)), dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &N), 0.2));
            dc_tensor *fw = dc_mul_scalar(dc_randn(&rng, DC_F64, 2, (int64_t[]){widths[w], D}), 1 / sqrt((double)D));
            dc_tensor *fb = dc_zeros(DC_F64, 1, &widths[w]);
            dc_tensor *phi = linear_random_relu_features(x, fw, fb);
            dc_tensor *coef = linear_min_norm_lstsq(phi, yy, 1e-10);
            if (!coef) FAIL();
            train += dc_item(dc_mse_loss(dc_matmul(phi, coef), yy, DC_REDUCE_MEAN)) / (double)R;
            dc_to_double_buffer(dc_matmul(linear_random_relu_features(x_test, fw, fb), coef), pred + r * NT, NT);
            dc_scope_end(scope);
        }
        if (linear_bias_variance(pred, R, NT, dc_data(y_test), &b2[w], &var[w])) FAIL();
        lx[w] = log2((double)widths[w] / (double)N);
        te[w] = b2[w] + var[w];
        printf("%6lld %12.4g %12.4g %12.4g %12.4g\n", (long long)widths[w], train, te[w], b2[w], var[w]);
        te[w] = log10(te[w]), b2[w] = log10(b2[w]), var[w] = log10(var[w]);
    }
    free(pred);
    dc_plot_series dd[3] = {{"test MSE", lx, te, NW, "#d62728", true},
                            {"bias^2", lx, b2, NW, "#1f77b4", false},
                            {"variance", lx, var, NW, "#2ca02c", false}};
    snprintf(path, sizeof path, "%s/linear_double_descent.svg", out_dir);
    if (dc_plot_svg(path, "Double descent: min-norm random ReLU features, N = 40", "log2(P / N)",
                    "log10 mean squared error", dd, 3))
        FAIL();
    printf("wrote %s\n", path);
    dc_scope_end(scope);
    return 0;
}
