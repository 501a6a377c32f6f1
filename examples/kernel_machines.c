/* Kernel machines and Gaussian processes (course outline "Kernel machines, Gaussian processes";
 * apps/kernel_methods):
 *  1. two moons (200 training points, noise 0.15; 1000 test points): kernel ridge regression on
 *     the +-1 labels (RBF), and C-SVMs by SMO with an RBF and a cubic polynomial kernel; test
 *     accuracy, support vectors, and the three decision boundaries side by side in
 *     OUT/kernels_svm.png (background: the sign of f, dark: f = 0, grey: f = +-1; framed
 *     points: support vectors);
 *  2. Gaussian-process regression of 25 noisy samples of sin(x) + x / 3 on [-4, 4] with an RBF
 *     kernel: the length scale, signal and noise variances fitted by Adam on the negative log
 *     marginal likelihood (autograd through Cholesky and triangular solves), the posterior mean
 *     and +-2 sigma band in OUT/kernels_gp.svg.
 *   build/examples/kernel_machines [--out-dir docs/images] [--threads 1] */
#include "deepc.h"
#include "kernel_methods/kernel_methods.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FAIL() return fprintf(stderr, "kernel_machines: %s\n", dc_last_error()), 1

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const km_kernel *k;
    dc_tensor *x, *alpha;
} ridge_model;

static dc_tensor *ridge_decision(void *user, dc_tensor *z)
{
    ridge_model *m = user;
    return km_ridge_predict(m->k, m->x, m->alpha, z);
}

static dc_tensor *svm_decision(void *user, dc_tensor *z) { return km_svm_decision(user, z); }

int main(int argc, char **argv)
{
    const char *out_dir = "docs/images";
    dc_set_num_threads(1);
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out-dir")) out_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else return fprintf(stderr, "kernel_machines: unknown option %s\n", argv[i]), 2;
    }
    size_t scope = dc_scope_begin(); /* every tensor of the run, released at the end */
    char path[512];
    dc_rng rng;
    dc_rng_seed(&rng, 21);
    dc_tensor *x, *y, *xt, *yt;
    if (km_moons(200, 0.15, &rng, &x, &y) || km_moons(1000, 0.15, &rng, &xt, &yt)) FAIL();
    const int64_t n = 200, size = 220;
    dc_tensor *panels[3];

    /* kernel ridge on the +-1 labels */
    km_kernel rbf = {KM_RBF, 2.0, 0, 0}, cubic = {KM_POLY, 1.0, 1.0, 3};
    dc_tensor *pm = dc_sub(dc_mul_scalar(dc_to_dtype(y, DC_F64), 2), dc_scalar(DC_F64, 1));
    double t0 = now();
    ridge_model rm = {&rbf, x, km_ridge_fit(&rbf, x, pm, 0.1)};
    if (!rm.alpha) FAIL();
    dc_tensor *fr = km_ridge_predict(&rbf, x, rm.alpha, xt);
    double acc_r = dc_item(dc_mean_all(dc_to_dtype(dc_eq(dc_to_dtype(dc_gt(fr, dc_scalar(DC_F64, 0)), DC_I64), yt), DC_F64)));
    printf("kernel ridge (RBF gamma 2, lambda 0.1): test accuracy %.4f (%.2f s)\n", acc_r, now() - t0);
    panels[0] = km_decision_image(ridge_decision, &rm, x, y, NULL, size, -1.5, 2.5, -1.25, 1.75);

    /* SVMs */
    const km_kernel *ks[2] = {&rbf, &cubic};
    const char *names[2] = {"RBF gamma 2", "polynomial (x.z + 1)^3"};
    for (int s = 0; s < 2; s++) {
        km_svm svm;
        t0 = now();
        if (km_svm_fit(&svm, ks[s], x, y, 10, 1e-4, 200000)) FAIL();
        double t = now() - t0;
        printf("SVM %-24s C 10: test accuracy %.4f, %lld support vectors of %lld, %lld SMO steps, "
               "KKT gap %.1e, dual %.4f (%.2f s)\n",
               names[s], km_svm_accuracy(&svm, xt, yt), (long long)svm.n_support, (long long)n,
               (long long)svm.iterations, svm.kkt_gap, svm.dual, t);
        bool sv[200];
        double al[200];
        dc_to_double_buffer(svm.alpha, al, n);
        for (int64_t i = 0; i < n; i++) sv[i] = al[i] > 0;
        panels[1 + s] = km_decision_image(svm_decision, &svm, x, y, sv, size, -1.5, 2.5, -1.25, 1.75);
        km_svm_free(&svm);
    }
    if (!panels[0] || !panels[1] || !panels[2]) FAIL();
    snprintf(path, sizeof path, "%s/kernels_svm.png", out_dir);
    if (dc_png_write_grid(path, dc_stack(panels, 3, 0), 3, 4, 1.0)) FAIL();
    printf("wrote %s (kernel ridge RBF | SVM RBF | SVM cubic)\n", path);

    /* Gaussian process */
    const int64_t ng = 25, nz = 200;
    dc_tensor *gx = dc_uniform(&rng, DC_F64, 2, (int64_t[]){ng, 1}, -4, 4);
    dc_tensor *g1 = dc_select(gx, 1, 0);
    dc_tensor *gy = dc_add(dc_add(dc_sin(g1), dc_mul_scalar(g1, 1.0 / 3)), dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &ng), 0.15));
    dc_tensor *z = dc_unsqueeze(dc_arange(DC_F64, -6, 6, 12.0 / (double)nz), 1);
    km_gp_hyper h = {1.0, 1.0, 0.5};
    double nll[300];
    double nll0 = km_gp_nll_value(gx, gy, &h);
    t0 = now();
    if (km_gp_fit(gx, gy, &h, 300, 0.05, nll)) FAIL();
    printf("GP: -log p(y|x) %.3f -> %.3f after 300 Adam steps (%.2f s): lengthscale %.3f, signal var %.3f, "
           "noise var %.4f (true noise 0.0225)\n",
           nll0, km_gp_nll_value(gx, gy, &h), now() - t0, h.lengthscale, h.signal_var, h.noise_var);
    dc_tensor *mean, *var;
    if (km_gp_predict(gx, gy, &h, z, &mean, &var)) FAIL();
    double zx[200], mu[200], lo[200], hi[200], truth[200], px[25], py[25];
    dc_to_double_buffer(z, zx, nz), dc_to_double_buffer(mean, mu, nz), dc_to_double_buffer(var, lo, nz);
    dc_to_double_buffer(g1, px, ng), dc_to_double_buffer(gy, py, ng);
    for (int64_t i = 0; i < nz; i++) {
        double sd = sqrt(lo[i]);
        lo[i] = mu[i] - 2 * sd, hi[i] = mu[i] + 2 * sd, truth[i] = sin(zx[i]) + zx[i] / 3;
    }
    dc_plot_series ps[4 + 25] = {{"posterior mean", zx, mu, (int)nz, "#d62728", false},
                                 {"mean +- 2 sigma", zx, lo, (int)nz, "#9ecae1", false},
                                 {"true function", zx, truth, (int)nz, "#2ca02c", false},
                                 {"observations", &px[0], &py[0], 1, "#000000", true},
                                 {NULL, zx, hi, (int)nz, "#9ecae1", false}};
    for (int64_t i = 1; i < ng; i++) ps[4 + i] = (dc_plot_series){NULL, &px[i], &py[i], 1, "#000000", true};
    snprintf(path, sizeof path, "%s/kernels_gp.svg", out_dir);
    if (dc_plot_svg(path, "Gaussian-process regression, RBF kernel fitted by marginal likelihood", "x", "f(x)",
                    ps, 4 + (int)ng))
        FAIL();
    printf("wrote %s\n", path);
    dc_scope_end(scope);
    return 0;
}
