/* Kernel machines and Gaussian processes (apps/kernel_methods): Gram matrices by hand; kernel
 * ridge regression against torch and, with a linear kernel, against primal ridge regression;
 * the SVM's SMO on cases with a known answer (two points: alpha = 1/2, f(x) = x_1 - 1; XOR
 * with (1 + x.z)^2: alpha = 1/8 each, b = 0, dual 1/4) and on moons with its optimality
 * conditions; the GP's negative log marginal likelihood and its gradient against torch, the
 * posterior against torch and against the direct formula with an explicit inverse, the fit
 * reaching a stationary point; the decision picture; bad inputs. References:
 * tests/ref/make_linear_refs.py -> tests/ref/linear_refs.txt. */
#include "ref_loader.h"

#include "kernel_methods/kernel_methods.h"

#define LINEAR_REFS "ref/linear_refs.txt"

static double max_abs_diff(dc_tensor *a, dc_tensor *b)
{
    if (!a || !b || dc_numel(a) != dc_numel(b)) return INFINITY;
    return dc_item(dc_max(dc_flatten(dc_abs(dc_sub(dc_to_dtype(a, DC_F64), dc_to_dtype(b, DC_F64))), 0, -1), 0, false));
}

TEST(test_km_gram_matrices_hand_computed)
{
    dc_tensor *a = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){0, 0, 1, 2});
    dc_tensor *b = dc_from_buffer(DC_F64, 2, (int64_t[]){1, 2}, (double[]){1, 0});
    km_kernel rbf = {KM_RBF, 0.5, 0, 0}, poly = {KM_POLY, 2, 1, 3}, lin = {KM_LINEAR, 0, 0, 0};
    double *r = dc_test_values(km_gram(&rbf, a, b)), *p = dc_test_values(km_gram(&poly, a, b));
    double *l = dc_test_values(km_gram(&lin, a, b));
    REQUIRE(r && p && l);
    CHECK_NEAR(r[0], exp(-0.5 * 1), 1e-15); /* |(0,0) - (1,0)|^2 = 1 */
    CHECK_NEAR(r[1], exp(-0.5 * 4), 1e-15); /* |(1,2) - (1,0)|^2 = 4 */
    CHECK_NEAR(p[0], 1, 1e-15);             /* (2 * 0 + 1)^3 */
    CHECK_NEAR(p[1], 27, 1e-12);            /* (2 * 1 + 1)^3 */
    CHECK(l[0] == 0 && l[1] == 1);
    free(r), free(p), free(l);
    dc_tensor *g = km_gram(&rbf, a, a);
    REQUIRE(g);
    CHECK(dc_item_at(g, (int64_t[]){0, 0}) == 1 && dc_item_at(g, (int64_t[]){1, 1}) == 1);
}

TEST(test_km_ridge_matches_torch_and_primal_ridge)
{
    ref_chain c;
    if (!ref_open(&c, LINEAR_REFS)) return;
    km_kernel rbf = {KM_RBF, 0.7, 0, 0};
    dc_tensor *x = ref_get(&c, "const", "krr.X"), *y = ref_get(&c, "const", "krr.y");
    dc_tensor *z = ref_get(&c, "const", "krr.Z");
    dc_tensor *alpha = km_ridge_fit(&rbf, x, y, 0.1);
    REQUIRE(alpha);
    ref_compare_tol("krr.pred", km_ridge_predict(&rbf, x, alpha, z), ref_find(&c, "out", "krr.pred", NULL),
                    1e-6, 1e-6);
    /* linear kernel: K (K + l I)^-1 y = X (X^T X + l I)^-1 X^T y */
    km_kernel lin = {KM_LINEAR, 0, 0, 0};
    dc_tensor *xd = dc_to_dtype(x, DC_F64), *xt = dc_transpose(xd, 0, 1);
    dc_tensor *eye2 = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){0.1, 0, 0, 0.1});
    dc_tensor *w = dc_linalg_solve(dc_add(dc_matmul(xt, xd), eye2), dc_matmul(xt, dc_to_dtype(y, DC_F64)));
    dc_tensor *dual = km_ridge_predict(&lin, x, km_ridge_fit(&lin, x, y, 0.1), z);
    CHECK(max_abs_diff(dual, dc_matmul(dc_to_dtype(z, DC_F64), w)) < 1e-10);
    ref_free(&c);
}

TEST(test_km_svm_two_points_known_answer)
{
    /* (0, 0) class -1, (2, 0) class +1: w = (1, 0), b = -1, alpha = 1/2 each, margin 1 */
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){0, 0, 2, 0});
    dc_tensor *y = dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){0, 1});
    km_kernel lin = {KM_LINEAR, 0, 0, 0};
    km_svm svm;
    REQUIRE(km_svm_fit(&svm, &lin, x, y, 100, 1e-9, 1000) == 0);
    CHECK(svm.n_support == 2);
    CHECK_NEAR(svm.b, -1, 1e-12);
    double *al = dc_test_values(svm.alpha);
    CHECK(al && fabs(al[0] - 0.5) < 1e-12 && fabs(al[1] - 0.5) < 1e-12);
    free(al);
    CHECK_NEAR(svm.dual, 0.5, 1e-12); /* = |w|^2 / 2 */
    dc_tensor *z = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){3, 5, -1, 2});
    double *f = dc_test_values(km_svm_decision(&svm, z));
    CHECK(f && fabs(f[0] - 2) < 1e-12 && fabs(f[1] + 2) < 1e-12); /* f(x) = x_1 - 1 */
    free(f);
    CHECK(km_svm_accuracy(&svm, x, y) == 1.0);
    km_svm_free(&svm);
}

TEST(test_km_svm_xor_with_a_quadratic_kernel_known_answer)
{
    /* (+-1, +-1), class sign(x1 x2); k = (1 + x.z)^2 is 9 on the diagonal, 1 elsewhere:
     * every point a support vector with alpha = 1/8, b = 0, f(x) = x1 x2, dual 1/4 */
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){4, 2}, (double[]){1, 1, 1, -1, -1, 1, -1, -1});
    dc_tensor *y = dc_from_buffer(DC_I64, 1, (int64_t[]){4}, (int64_t[]){1, 0, 0, 1});
    km_kernel poly = {KM_POLY, 1, 1, 2};
    km_svm svm;
    REQUIRE(km_svm_fit(&svm, &poly, x, y, 10, 1e-10, 1000) == 0);
    CHECK(svm.n_support == 4);
    double *al = dc_test_values(svm.alpha);
    for (int i = 0; al && i < 4; i++) CHECK_NEAR(al[i], 0.125, 1e-10);
    free(al);
    CHECK_NEAR(svm.b, 0, 1e-10);
    CHECK_NEAR(svm.dual, 0.25, 1e-10);
    dc_tensor *z = dc_from_buffer(DC_F64, 2, (int64_t[]){1, 2}, (double[]){0.5, -2});
    CHECK_NEAR(dc_item(km_svm_decision(&svm, z)), -1.0, 1e-10);
    km_svm_free(&svm);
}

TEST(test_km_svm_rbf_separates_moons_and_meets_the_kkt_conditions)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_tensor *x, *y, *xt, *yt;
    REQUIRE(km_moons(200, 0.15, &rng, &x, &y) == 0 && km_moons(400, 0.15, &rng, &xt, &yt) == 0);
    const double C = 10;
    km_kernel rbf = {KM_RBF, 2.0, 0, 0};
    km_svm svm;
    REQUIRE(km_svm_fit(&svm, &rbf, x, y, C, 1e-6, 100000) == 0);
    CHECK(svm.kkt_gap <= 1e-6);
    double acc = km_svm_accuracy(&svm, x, y), test = km_svm_accuracy(&svm, xt, yt);
    EXPECT(acc > 0.97 && test > 0.95, "train %.3f test %.3f", acc, test);
    /* 0 <= alpha <= C, sum alpha_i y_i = 0, and y f(x) >= 1 - tol where alpha = 0, <= 1 + tol
     * where alpha = C */
    double *al = dc_test_values(svm.alpha), *f = dc_test_values(km_svm_decision(&svm, x)), sum = 0;
    REQUIRE(al && f);
    int64_t sv = 0;
    for (int64_t i = 0; i < 200; i++) {
        double yi = dc_item_at(y, &i) == 1 ? 1 : -1;
        CHECK(al[i] >= 0 && al[i] <= C);
        sum += al[i] * yi, sv += al[i] > 0;
        if (al[i] == 0) EXPECT(yi * f[i] >= 1 - 1e-5, "sample %lld: alpha 0, y f = %g", (long long)i, yi * f[i]);
        if (al[i] == C) EXPECT(yi * f[i] <= 1 + 1e-5, "sample %lld: alpha C, y f = %g", (long long)i, yi * f[i]);
    }
    CHECK_NEAR(sum, 0, 1e-9);
    CHECK(sv == svm.n_support && sv < 200);
    free(al), free(f);
    km_svm_free(&svm);
}

/* the GP case of make_linear_refs.py */
typedef struct {
    dc_tensor *x, *y, *z, *p[3];
} gp_case;

static bool gp_load(ref_chain *c, gp_case *g)
{
    static const char *names[3] = {"gp.log_lengthscale", "gp.log_signal_var", "gp.log_noise_var"};
    g->x = ref_get(c, "const", "gp.X"), g->y = ref_get(c, "const", "gp.y"), g->z = ref_get(c, "const", "gp.Z");
    for (int i = 0; i < 3; i++) g->p[i] = dc_requires_grad(dc_to_dtype(ref_get(c, "param", names[i]), DC_F64), true);
    return g->x && g->y && g->z && g->p[0] && g->p[1] && g->p[2];
}

static km_gp_hyper gp_hyper(const gp_case *g)
{
    return (km_gp_hyper){exp(dc_item(g->p[0])), exp(dc_item(g->p[1])), exp(dc_item(g->p[2]))};
}

TEST(test_km_gp_nll_and_its_gradient_match_torch)
{
    ref_chain c;
    gp_case g;
    if (!ref_open(&c, LINEAR_REFS)) return;
    REQUIRE(gp_load(&c, &g));
    dc_tensor *nll = km_gp_nll(g.x, g.y, g.p[0], g.p[1], g.p[2]);
    REQUIRE(nll && dc_backward(nll) == 0);
    ref_compare_tol("gp.nll", nll, ref_find(&c, "out", "gp.nll", NULL), 1e-7, 1e-7);
    ref_compare_tol("gp.dlog_l", g.p[0]->grad, ref_find(&c, "grad", "gp.log_lengthscale", NULL), 1e-6, 1e-7);
    ref_compare_tol("gp.dlog_sf", g.p[1]->grad, ref_find(&c, "grad", "gp.log_signal_var", NULL), 1e-6, 1e-7);
    ref_compare_tol("gp.dlog_sn", g.p[2]->grad, ref_find(&c, "grad", "gp.log_noise_var", NULL), 1e-6, 1e-7);
    km_gp_hyper h = gp_hyper(&g);
    CHECK_NEAR(km_gp_nll_value(g.x, g.y, &h), dc_item(nll), 1e-12);
    /* the direct formula: 1/2 y^T K^-1 y + 1/2 logdet K + n/2 log 2 pi with inv and logdet */
    km_kernel rbf = {KM_RBF, 1 / (2 * h.lengthscale * h.lengthscale), 0, 0};
    dc_tensor *k = dc_add(dc_mul_scalar(km_gram(&rbf, g.x, g.x), h.signal_var),
                          dc_diag(dc_full(DC_F64, 1, (int64_t[]){15}, h.noise_var), 0));
    dc_tensor *yd = dc_to_dtype(g.y, DC_F64);
    double direct = 0.5 * dc_item(dc_sum_all(dc_mul(yd, dc_matmul(dc_linalg_inv(k), yd)))) +
                    0.5 * dc_item(dc_logdet(k)) + 7.5 * log(2 * M_PI);
    CHECK_NEAR(dc_item(nll), direct, 1e-10);
    ref_free(&c);
}

TEST(test_km_gp_posterior_matches_torch_and_the_direct_formula)
{
    ref_chain c;
    gp_case g;
    if (!ref_open(&c, LINEAR_REFS)) return;
    REQUIRE(gp_load(&c, &g));
    km_gp_hyper h = gp_hyper(&g);
    dc_tensor *mean, *var;
    REQUIRE(km_gp_predict(g.x, g.y, &h, g.z, &mean, &var) == 0);
    ref_compare_tol("gp.mean", mean, ref_find(&c, "out", "gp.mean", NULL), 1e-6, 1e-7);
    ref_compare_tol("gp.var", var, ref_find(&c, "out", "gp.var", NULL), 1e-6, 1e-7);
    /* mean = K_zx K^-1 y, var = k(z, z) - diag(K_zx K^-1 K_xz) with an explicit inverse */
    km_kernel rbf = {KM_RBF, 1 / (2 * h.lengthscale * h.lengthscale), 0, 0};
    dc_tensor *k = dc_add(dc_mul_scalar(km_gram(&rbf, g.x, g.x), h.signal_var),
                          dc_diag(dc_full(DC_F64, 1, (int64_t[]){15}, h.noise_var), 0));
    dc_tensor *kzx = dc_mul_scalar(km_gram(&rbf, g.z, g.x), h.signal_var), *kinv = dc_linalg_inv(k);
    dc_tensor *m2 = dc_matmul(kzx, dc_matmul(kinv, dc_to_dtype(g.y, DC_F64)));
    dc_tensor *v2 = dc_rsub_scalar(dc_sum(dc_mul(dc_matmul(kzx, kinv), kzx), 1, (int[]){1}, false), h.signal_var);
    CHECK(max_abs_diff(mean, m2) < 1e-10);
    CHECK(max_abs_diff(var, v2) < 1e-10);
    /* at a training point the latent variance is below the noise's (that observation alone
     * gives sf2 sn2 / (sf2 + sn2)); far from the data it returns to the prior's sf2 */
    dc_tensor *vx = NULL, *vfar = NULL;
    REQUIRE(km_gp_predict(g.x, g.y, &h, g.x, NULL, &vx) == 0);
    CHECK(dc_item(dc_max(vx, 0, false)) < h.noise_var);
    REQUIRE(km_gp_predict(g.x, g.y, &h, dc_full(DC_F64, 2, (int64_t[]){1, 1}, 30), NULL, &vfar) == 0);
    CHECK_NEAR(dc_item(vfar), h.signal_var, 1e-12);
    ref_free(&c);
}

TEST(test_km_gp_fit_lowers_the_nll_to_a_stationary_point)
{
    ref_chain c;
    gp_case g;
    if (!ref_open(&c, LINEAR_REFS)) return;
    REQUIRE(gp_load(&c, &g));
    km_gp_hyper h = {1.0, 1.0, 0.1};
    double nll[400];
    REQUIRE(km_gp_fit(g.x, g.y, &h, 400, 0.05, nll) == 0);
    double final = km_gp_nll_value(g.x, g.y, &h);
    CHECK(final < nll[0] - 1);
    /* the gradient at the fitted hyper-parameters is ~0 */
    dc_tensor *p[3] = {dc_scalar(DC_F64, log(h.lengthscale)), dc_scalar(DC_F64, log(h.signal_var)),
                       dc_scalar(DC_F64, log(h.noise_var))};
    for (int i = 0; i < 3; i++) dc_requires_grad(p[i], true);
    REQUIRE(dc_backward(km_gp_nll(g.x, g.y, p[0], p[1], p[2])) == 0);
    for (int i = 0; i < 3; i++) EXPECT(fabs(dc_item(p[i]->grad)) < 1e-3, "d nll / d log h%d = %g", i, dc_item(p[i]->grad));
    /* the data are sin(x) + 0.1 noise: a noise variance near 0.01 */
    EXPECT(h.noise_var > 0.002 && h.noise_var < 0.05, "noise_var %g", h.noise_var);
    ref_free(&c);
}

static dc_tensor *sign_of_x(void *user, dc_tensor *z)
{
    (void)user;
    return dc_contiguous(dc_select(z, 1, 0)); /* f(z) = z_1 */
}

TEST(test_km_decision_image_colours_the_half_planes)
{
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){1, 2}, (double[]){0.5, 0.5});
    dc_tensor *y = dc_from_buffer(DC_I64, 1, (int64_t[]){1}, (int64_t[]){1});
    dc_tensor *img = km_decision_image(sign_of_x, NULL, x, y, (bool[]){true}, 40, -1, 1, -1, 1);
    REQUIRE(img && img->shape[0] == 3 && img->shape[1] == 40 && img->shape[2] == 40);
    /* left (f < 0) pale red, right pale blue, the boundary dark, the point framed in black */
    CHECK(dc_item_at(img, (int64_t[]){0, 5, 2}) > 0.9 && dc_item_at(img, (int64_t[]){2, 5, 2}) < 0.9);
    CHECK(dc_item_at(img, (int64_t[]){2, 5, 37}) > 0.9 && dc_item_at(img, (int64_t[]){0, 5, 37}) < 0.9);
    CHECK(dc_item_at(img, (int64_t[]){0, 5, 19}) < 0.2);
    CHECK(dc_item_at(img, (int64_t[]){0, 8, 28}) == 0 && dc_item_at(img, (int64_t[]){2, 10, 30}) > 0.8);
    CHECK_ERROR(!km_decision_image(sign_of_x, NULL, x, y, NULL, 4, -1, 1, -1, 1), "size 4 must be in [8, 4096]");
}

TEST(test_km_bad_inputs_are_clear_errors)
{
    /* a repeated point without noise: K is singular, not positive definite */
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){3, 1}, (double[]){0, 0, 1});
    dc_tensor *y = dc_from_buffer(DC_F64, 1, (int64_t[]){3}, (double[]){1, 1, 0});
    km_gp_hyper h = {1, 1, 0};
    CHECK_ERROR(isnan(km_gp_nll_value(x, y, &h)), "not positive definite");
    dc_tensor *m = NULL, *v = NULL;
    CHECK_ERROR(km_gp_predict(x, y, &h, x, &m, &v) == -1 && !m && !v, "not positive definite");
    h.noise_var = 0.1;
    CHECK(isfinite(km_gp_nll_value(x, y, &h)));
    h.lengthscale = -1;
    CHECK_ERROR(isnan(km_gp_nll_value(x, y, &h)), "need lengthscale > 0");
    h.lengthscale = 1;
    CHECK_ERROR(km_gp_predict(x, y, &h, dc_zeros(DC_F64, 2, (int64_t[]){2, 3}), &m, &v) == -1,
                "points of different dimensions");
    CHECK_ERROR(isnan(km_gp_nll_value(x, dc_zeros(DC_F64, 1, (int64_t[]){2}), &h)), "targets y must be float [3]");
    h.noise_var = 0;
    CHECK_ERROR(km_gp_fit(x, y, &h, 10, 0.1, NULL) == -1, "starting noise_var must be > 0");
    double *xv = dc_test_values(x);
    CHECK(xv && xv[0] == 0 && xv[2] == 1); /* inputs untouched */
    free(xv);

    km_kernel bad = {KM_RBF, 0, 0, 0}, lin = {KM_LINEAR, 0, 0, 0};
    CHECK_ERROR(!km_gram(&bad, x, x), "gamma 0 must be > 0");
    CHECK_ERROR(!km_gram(&lin, x, dc_zeros(DC_F64, 2, (int64_t[]){2, 2})), "points of different dimensions");
    CHECK_ERROR(!km_ridge_fit(&lin, x, y, 0), "lambda 0 must be > 0");
    km_svm svm;
    dc_tensor *one_class = dc_zeros(DC_I64, 1, (int64_t[]){3});
    CHECK_ERROR(km_svm_fit(&svm, &lin, x, one_class, 1, 1e-3, 100) == -1, "one class only");
    CHECK_ERROR(km_svm_fit(&svm, &lin, x, dc_full(DC_I64, 1, (int64_t[]){3}, 2), 1, 1e-3, 100) == -1,
                "label 2 of sample 0 is not 0 or 1");
    CHECK_ERROR(km_svm_fit(&svm, &lin, x, y, 1, 1e-3, 100) == -1, "labels y must be int64 [3]");
    CHECK_ERROR(km_svm_fit(&svm, &lin, x, one_class, -1, 1e-3, 100) == -1, "need C > 0");
    CHECK(svm.support == NULL);
    CHECK_ERROR(!km_svm_decision(&svm, x), "not trained");
    CHECK_ERROR(km_moons(1, 0.1, NULL, &x, &m) == -1, "need n >= 2");
}
