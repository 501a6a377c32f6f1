/* Linear models (apps/linear): the perceptron on a hand-traced case, separable blobs and two
 * Fashion-MNIST classes; Adaline against the least-squares solution; logistic and softmax
 * regression against torch 1.13 (the same full-batch gradient-descent steps, the L-BFGS
 * optimum, proximal L1 with its optimality conditions); linear regression in closed form
 * (QR and normal equations) against gradient descent to 1e-5; the minimum-norm solution
 * against torch.linalg.pinv; the Gaussian basis and the bias-variance split by hand; the
 * double-descent peak; bad inputs. References: tests/ref/make_linear_refs.py ->
 * tests/ref/linear_refs.txt (committed; /usr/bin/python3 regenerates it). */
#include "ref_loader.h"

#include "linear/linear.h"

#define LINEAR_REFS "ref/linear_refs.txt"

static double max_abs_diff(dc_tensor *a, dc_tensor *b)
{
    if (!a || !b || dc_numel(a) != dc_numel(b)) return INFINITY;
    return dc_item(dc_max(dc_flatten(dc_abs(dc_sub(dc_to_dtype(a, DC_F64), dc_to_dtype(b, DC_F64))), 0, -1), 0, false));
}

/* ---- Perceptron and Adaline ------------------------------------------------------------------ */

TEST(test_linear_perceptron_hand_traced_two_points)
{
    /* x = (1, 0) label 1, (-1, 0) label 0, lr 1, in order from W = 0:
     * epoch 1: f = 0 -> update w = (1, 0), b = 1; then f = -1 + 1 = 0 -> w = (2, 0), b = 0;
     * epoch 2: f = 2 and -2, both right -> stop after 2 epochs with W = [2, 0, 0]. */
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){1, 0, -1, 0});
    dc_tensor *y = dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){1, 0});
    dc_tensor *w = NULL;
    double mistakes[10];
    CHECK(linear_perceptron_fit(x, y, 2, 1.0, 10, NULL, &w, mistakes) == 2);
    REQUIRE(w && w->shape[0] == 1 && w->shape[1] == 3);
    double *v = dc_test_values(w);
    CHECK(v && v[0] == 2 && v[1] == 0 && v[2] == 0);
    free(v);
    CHECK(mistakes[0] == 2 && mistakes[1] == 0);
    CHECK(linear_accuracy(w, x, y) == 1.0);
}

TEST(test_linear_perceptron_separates_two_and_four_blobs_and_stops)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    for (int classes = 2; classes <= 4; classes += 2) {
        dc_tensor *x, *y, *w;
        REQUIRE(linear_blobs(50, classes, 0.4, &rng, &x, &y) == 0);
        double mistakes[100];
        int epochs = linear_perceptron_fit(x, y, classes, 0.5, 100, &rng, &w, mistakes);
        EXPECT(epochs > 0 && epochs < 100, "%d classes: %d epochs (not converged)", classes, epochs);
        REQUIRE(w);
        CHECK(w->shape[0] == (classes == 2 ? 1 : classes));
        CHECK(mistakes[epochs - 1] == 0 && mistakes[0] > 0);
        CHECK(linear_accuracy(w, x, y) == 1.0);
    }
}

TEST(test_linear_perceptron_separates_tshirts_from_trousers)
{
    dc_tensor *x, *y, *xt, *yt, *w;
    if (linear_fashion_pair(NULL, true, 0, 1, 2000, &x, &y) != 0) {
        printf("  skipped: Fashion-MNIST not found (%s)\n", dc_last_error());
        dc_clear_error();
        return;
    }
    REQUIRE(linear_fashion_pair(NULL, false, 0, 1, 1000, &xt, &yt) == 0);
    CHECK(x->shape[0] == 2000 && x->shape[1] == 784 && yt->shape[0] == 1000);
    int epochs = linear_perceptron_fit(x, y, 2, 1.0, 30, NULL, &w, NULL);
    REQUIRE(epochs > 0);
    double train = linear_accuracy(w, x, y), test = linear_accuracy(w, xt, yt);
    EXPECT(train > 0.99 && test > 0.95, "train %.4f test %.4f after %d epochs", train, test, epochs);
}

TEST(test_linear_adaline_approaches_the_least_squares_solution)
{
    /* LMS with a small step fluctuates within O(lr) of argmin ||[X 1] w - t||^2 */
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_tensor *x, *y, *w;
    REQUIRE(linear_blobs(30, 2, 0.6, &rng, &x, &y) == 0);
    double mse[400];
    REQUIRE(linear_adaline_fit(x, y, 2, 2e-3, 400, &rng, &w, mse) == 400);
    dc_tensor *t = dc_sub(dc_mul_scalar(dc_to_dtype(y, DC_F64), 2), dc_scalar(DC_F64, 1));
    dc_tensor *ls = linear_regression_fit(linear_add_bias_column(x), t, LINEAR_LSTSQ, 0);
    REQUIRE(ls);
    double d = max_abs_diff(dc_select(w, 0, 0), ls);
    EXPECT(d < 1e-2, "Adaline vs least squares: max |diff| %g", d);
    CHECK(mse[399] < mse[0]);
    CHECK(linear_accuracy(w, x, y) == 1.0);
}

/* ---- Logistic and softmax regression vs torch ------------------------------------------------ */

static void check_gd_case(ref_chain *c, const char *data, const char *run, int64_t K, int steps,
                          double l1, double l2, bool proximal, double tol)
{
    char nx[64], ny[64], nw[64], nb[64];
    dc_tensor *x = ref_get(c, "const", ref_case_name(nx, sizeof nx, data, "X"));
    dc_tensor *y = ref_get(c, "const", ref_case_name(ny, sizeof ny, data, "y"));
    linear_classifier m;
    REQUIRE(x && y && linear_classifier_init(&m, x->shape[1], K) == 0);
    linear_sgd_opts o = {.lr = 0.5, .epochs = steps, .batch = 0, .l1 = l1, .l2 = l2, .proximal_l1 = proximal};
    CHECK(linear_classifier_fit(&m, x, y, &o, NULL, NULL) == 0);
    ref_tensor *w = ref_find(c, "out", ref_case_name(nw, sizeof nw, run, "W"), NULL);
    ref_tensor *b = ref_find(c, "out", ref_case_name(nb, sizeof nb, run, "b"), NULL);
    REQUIRE(w && b);
    ref_compare_tol(nw, m.weight, w, tol, tol);
    ref_compare_tol(nb, m.bias, b, tol, tol);
    char no[64];
    ref_tensor *obj = ref_find(c, "out", ref_case_name(no, sizeof no, run, "objective"), NULL);
    if (obj) CHECK_NEAR(dc_item(linear_classifier_objective(&m, x, y, l1, l2)), obj->values[0], 1e-7);
    linear_classifier_free(&m);
}

TEST(test_linear_logistic_and_softmax_gd_match_torch_steps)
{
    ref_chain c;
    if (!ref_open(&c, LINEAR_REFS)) return;
    check_gd_case(&c, "logistic", "logistic_gd", 1, 100, 0.01, 0.1, false, 1e-6);
    check_gd_case(&c, "softmax", "softmax_gd", 3, 100, 0.0, 0.05, false, 1e-6);
    check_gd_case(&c, "logistic", "logistic_prox", 1, 300, 0.05, 0.0, true, 1e-6);
    /* many more steps reach torch's L-BFGS optimum of the L2 softmax objective */
    check_gd_case(&c, "softmax", "softmax_opt", 3, 3000, 0.0, 0.05, false, 1e-6);
    ref_free(&c);
}

TEST(test_linear_proximal_l1_meets_its_optimality_conditions)
{
    /* at the optimum of smooth(W) + l1 |W|_1: grad_j = -l1 sign(w_j) where w_j != 0 and
     * |grad_j| <= l1 where w_j = 0 (which the soft-thresholding makes exact zeros) */
    ref_chain c;
    if (!ref_open(&c, LINEAR_REFS)) return;
    dc_tensor *x = ref_get(&c, "const", "logistic.X"), *y = ref_get(&c, "const", "logistic.y");
    linear_classifier m;
    REQUIRE(x && y && linear_classifier_init(&m, 3, 1) == 0);
    const double l1 = 0.05;
    linear_sgd_opts o = {.lr = 0.5, .epochs = 3000, .l1 = l1, .proximal_l1 = true};
    REQUIRE(linear_classifier_fit(&m, x, y, &o, NULL, NULL) == 0);
    REQUIRE(dc_backward(linear_classifier_objective(&m, x, y, 0, 0)) == 0);
    double *w = dc_test_values(m.weight), *g = dc_test_values(m.weight->grad);
    int zeros = 0;
    for (int j = 0; w && g && j < 3; j++) {
        if (w[j] == 0) {
            zeros++;
            EXPECT(fabs(g[j]) <= l1 + 1e-9, "w_%d = 0 but |grad| %g > l1", j, g[j]);
        } else {
            EXPECT(fabs(g[j] + l1 * (w[j] > 0 ? 1 : -1)) < 1e-8, "w_%d = %g: grad %g", j, w[j], g[j]);
        }
    }
    CHECK(zeros == 1); /* the weak third feature is dropped, as torch's run shows */
    free(w), free(g);
    CHECK_NEAR(dc_item(m.bias->grad), 0, 1e-8);
    linear_classifier_free(&m);
    ref_free(&c);
}

TEST(test_linear_softmax_minibatch_sgd_lowers_the_objective)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    dc_tensor *x, *y;
    REQUIRE(linear_blobs(40, 3, 0.5, &rng, &x, &y) == 0);
    linear_classifier m;
    REQUIRE(linear_classifier_init(&m, 2, 3) == 0);
    double obj[5];
    linear_sgd_opts o = {.lr = 0.2, .epochs = 5, .batch = 16, .l2 = 1e-3};
    REQUIRE(linear_classifier_fit(&m, x, y, &o, &rng, obj) == 0);
    CHECK(obj[4] < obj[0] && obj[0] < log(3.0));
    CHECK(linear_classifier_accuracy(&m, x, y) > 0.97);
    linear_classifier_free(&m);
}

/* ---- Linear regression ---------------------------------------------------------------------- */

TEST(test_linear_regression_closed_form_and_gradient_descent_agree_to_1e_5)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    dc_tensor *x = dc_randn(&rng, DC_F64, 2, (int64_t[]){60, 4});
    dc_tensor *wtrue = dc_from_buffer(DC_F64, 1, (int64_t[]){5}, (double[]){1.5, -2, 0.3, 0.7, 0.25});
    dc_tensor *a = linear_add_bias_column(x);
    dc_tensor *y = dc_add(dc_matmul(a, wtrue), dc_mul_scalar(dc_randn(&rng, DC_F64, 1, (int64_t[]){60}), 0.1));
    dc_tensor *w_qr = linear_regression_fit(a, y, LINEAR_LSTSQ, 0);
    dc_tensor *w_ne = linear_regression_fit(a, y, LINEAR_NORMAL_EQUATIONS, 0);
    int64_t steps = 0;
    dc_tensor *w_gd = linear_regression_gd(a, y, 0, 0, 20000, 1e-12, &steps, NULL);
    REQUIRE(w_qr && w_ne && w_gd);
    CHECK(w_gd->ndim == 1 && w_gd->shape[0] == 5);
    EXPECT(max_abs_diff(w_qr, w_ne) < 1e-10, "QR vs normal equations %g", max_abs_diff(w_qr, w_ne));
    EXPECT(max_abs_diff(w_qr, w_gd) < 1e-5, "QR vs GD %g after %lld steps", max_abs_diff(w_qr, w_gd),
           (long long)steps);
    CHECK(steps > 10 && steps < 20000);
    CHECK(max_abs_diff(w_qr, wtrue) < 0.1);
    /* ridge: normal equations with ridge vs GD on the same objective; several targets */
    dc_tensor *y2 = dc_stack((dc_tensor *[]){y, dc_neg(y)}, 2, 1);
    dc_tensor *r_ne = linear_regression_fit(a, y2, LINEAR_NORMAL_EQUATIONS, 3.0);
    dc_tensor *r_gd = linear_regression_gd(a, y2, 3.0, 0, 20000, 1e-12, NULL, NULL);
    REQUIRE(r_ne && r_gd && r_ne->ndim == 2 && r_ne->shape[1] == 2);
    EXPECT(max_abs_diff(r_ne, r_gd) < 1e-5, "ridge: NE vs GD %g", max_abs_diff(r_ne, r_gd));
    CHECK(max_abs_diff(dc_select(r_ne, 1, 1), dc_neg(dc_select(r_ne, 1, 0))) < 1e-12);
}

TEST(test_linear_min_norm_solution_matches_torch_pinv)
{
    ref_chain c;
    if (!ref_open(&c, LINEAR_REFS)) return;
    dc_tensor *a = ref_get(&c, "const", "min_norm.A"), *y = ref_get(&c, "const", "min_norm.y");
    dc_tensor *w = linear_min_norm_lstsq(a, y, 1e-12);
    REQUIRE(w);
    ref_compare_tol("min_norm.w", w, ref_find(&c, "out", "min_norm.w", NULL), 1e-6, 1e-6);
    /* it interpolates: A w = y */
    CHECK(max_abs_diff(dc_matmul(dc_to_dtype(a, DC_F64), w), y) < 1e-6);
    /* tall and full rank: the least-squares solution */
    dc_tensor *at = dc_contiguous(dc_transpose(a, 0, 1)), *yt = dc_narrow(dc_select(at, 1, 0), 0, 0, 10);
    dc_tensor *w1 = linear_min_norm_lstsq(at, yt, 1e-12), *w2 = linear_regression_fit(at, yt, LINEAR_LSTSQ, 0);
    CHECK(max_abs_diff(w1, w2) < 1e-9);
    ref_free(&c);
}

TEST(test_linear_gaussian_basis_values_and_fit)
{
    dc_tensor *x = dc_from_buffer(DC_F64, 1, (int64_t[]){2}, (double[]){0.5, 1.0});
    dc_tensor *cs = dc_from_buffer(DC_F64, 1, (int64_t[]){2}, (double[]){0.5, 0.0});
    double *phi = dc_test_values(linear_gaussian_basis(x, cs, 0.5));
    REQUIRE(phi);
    /* exp(-(x - c)^2 / (2 * 0.25)): (0.5,0.5) 1, (0.5,0) e^-0.5, (1,0.5) e^-0.5, (1,0) e^-2 */
    CHECK_NEAR(phi[0], 1, 1e-15);
    CHECK_NEAR(phi[1], exp(-0.5), 1e-15);
    CHECK_NEAR(phi[2], exp(-0.5), 1e-15);
    CHECK_NEAR(phi[3], exp(-2), 1e-15);
    free(phi);
    /* Fig. 1.1: 10 basis functions fit sin(2 pi x) sampled at 20 points nearly exactly */
    dc_tensor *xs = dc_arange(DC_F64, 0, 1, 0.05), *c10 = dc_arange(DC_F64, 0, 1, 0.1);
    dc_tensor *ys = dc_sin(dc_mul_scalar(xs, 2 * M_PI));
    dc_tensor *f = linear_gaussian_basis(xs, c10, 0.1);
    dc_tensor *w = linear_regression_fit(f, ys, LINEAR_LSTSQ, 0);
    REQUIRE(w);
    CHECK(max_abs_diff(dc_matmul(f, w), ys) < 0.05);
}

TEST(test_linear_bias_variance_hand_computed)
{
    /* predictions of 2 models at 2 points, truth (2, 2): means (2, 3) -> bias^2 (0 + 1) / 2;
     * variances (1, 1) -> 1; their sum = the mean squared error (1 + 0 + 1 + 4) / 4 */
    double pred[] = {1, 2, 3, 4}, truth[] = {2, 2}, b2 = 0, var = 0;
    CHECK(linear_bias_variance(pred, 2, 2, truth, &b2, &var) == 0);
    CHECK_NEAR(b2, 0.5, 1e-15);
    CHECK_NEAR(var, 1.0, 1e-15);
    CHECK_ERROR(linear_bias_variance(pred, 0, 2, truth, &b2, &var) == -1, "R, M >= 1");
}

TEST(test_linear_random_features_test_error_peaks_at_interpolation)
{
    /* double descent: min-norm regression on P random ReLU features of N = 40 noisy samples of
     * tanh(beta . x), x in R^5; the test error at P = N (interpolation threshold) is far above
     * both P = N / 4 (classical regime) and P = 20 N (over-parameterised) */
    const int64_t n = 40, d = 5, widths[3] = {10, 40, 800};
    double err[3] = {0};
    for (uint64_t seed = 0; seed < 3; seed++)
        for (int k = 0; k < 3; k++) {
            size_t scope = dc_scope_begin();
            dc_rng rng;
            dc_rng_seed(&rng, 100 + seed);
            dc_tensor *beta = dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &d), 1 / sqrt((double)d));
            dc_tensor *x = dc_randn(&rng, DC_F64, 2, (int64_t[]){n, d});
            dc_tensor *xt = dc_randn(&rng, DC_F64, 2, (int64_t[]){300, d});
            dc_tensor *y = dc_add(dc_tanh(dc_matmul(x, beta)), dc_mul_scalar(dc_randn(&rng, DC_F64, 1, &n), 0.2));
            dc_tensor *yt = dc_tanh(dc_matmul(xt, beta));
            dc_tensor *fw = dc_mul_scalar(dc_randn(&rng, DC_F64, 2, (int64_t[]){widths[k], d}), 1 / sqrt((double)d));
            dc_tensor *fb = dc_zeros(DC_F64, 1, &widths[k]);
            dc_tensor *w = linear_min_norm_lstsq(linear_random_relu_features(x, fw, fb), y, 1e-10);
            dc_tensor *pred = dc_matmul(linear_random_relu_features(xt, fw, fb), w);
            err[k] += dc_item(dc_mse_loss(pred, yt, DC_REDUCE_MEAN)) / 3;
            dc_scope_end(scope);
        }
    EXPECT(err[1] > 10 * err[0] && err[1] > 10 * err[2], "test MSE at P = 10, 40, 800: %g %g %g",
           err[0], err[1], err[2]);
}

/* ---- Bad inputs ------------------------------------------------------------------------------ */

TEST(test_linear_bad_inputs_are_clear_errors)
{
    /* a repeated column: rank-deficient, singular normal equations */
    dc_tensor *a = dc_from_buffer(DC_F64, 2, (int64_t[]){4, 2}, (double[]){1, 1, 2, 2, 3, 3, 4, 4});
    dc_tensor *y = dc_from_buffer(DC_F64, 1, (int64_t[]){4}, (double[]){1, 2, 3, 4});
    CHECK_ERROR(!linear_regression_fit(a, y, LINEAR_LSTSQ, 0), "does not have full column rank");
    CHECK_ERROR(!linear_regression_fit(a, y, LINEAR_NORMAL_EQUATIONS, 0), "not positive definite");
    CHECK(linear_regression_fit(a, y, LINEAR_NORMAL_EQUATIONS, 1e-3) != NULL); /* ridge fixes it */
    CHECK_ERROR(!linear_regression_fit(a, y, LINEAR_LSTSQ, 1.0), "takes no ridge");
    CHECK_ERROR(!linear_regression_fit(a, dc_zeros(DC_F64, 1, (int64_t[]){3}), LINEAR_LSTSQ, 0),
                "targets y must be float [4]");
    CHECK_ERROR(!linear_regression_gd(a, y, -1, 0, 10, 0, NULL, NULL), "ridge >= 0");
    CHECK_ERROR(!linear_min_norm_lstsq(a, y, 1.5), "rcond 1.5 must be in [0, 1)");
    CHECK_ERROR(!linear_gaussian_basis(y, y, 0), "sigma 0 must be > 0");
    CHECK_ERROR(!linear_random_relu_features(a, dc_zeros(DC_F64, 2, (int64_t[]){3, 5}), y), "need W [P, 2]");
    double *av = dc_test_values(a);
    CHECK(av && av[0] == 1 && av[7] == 4); /* inputs untouched */
    free(av);

    dc_tensor *w = NULL;
    dc_tensor *labels = dc_from_buffer(DC_I64, 1, (int64_t[]){4}, (int64_t[]){0, 1, 2, 1});
    CHECK_ERROR(linear_perceptron_fit(a, labels, 2, 1, 5, NULL, &w, NULL) == -1 && !w,
                "label 2 of sample 2 is outside [0, 2)");
    CHECK_ERROR(linear_perceptron_fit(a, labels, 1, 1, 5, NULL, &w, NULL) == -1, "n_classes 1 must be >= 2");
    CHECK_ERROR(linear_adaline_fit(a, labels, 3, 0, 5, NULL, &w, NULL) == -1, "need lr > 0");
    CHECK_ERROR(linear_perceptron_fit(a, dc_narrow(labels, 0, 0, 3), 3, 1, 5, NULL, &w, NULL) == -1,
                "labels y must be int64 [4]");
    CHECK_ERROR(!linear_predict(dc_zeros(DC_F64, 2, (int64_t[]){1, 2}), a), "weight must be [K, 3]");
    linear_classifier m;
    REQUIRE(linear_classifier_init(&m, 3, 2) == 0);
    CHECK_ERROR(!linear_classifier_logits(&m, a), "has 2 columns, the model 3 inputs");
    linear_sgd_opts o = {.lr = 0.1, .epochs = 0};
    CHECK_ERROR(linear_classifier_fit(&m, linear_add_bias_column(a), dc_remainder(labels, dc_scalar(DC_I64, 2)), &o,
                                      NULL, NULL) == -1,
                "epochs >= 1");
    CHECK_ERROR(!linear_classifier_objective(&m, linear_add_bias_column(a), labels, 0, 0),
                "label 2 of sample 2 is outside [0, 2)");
    linear_classifier_free(&m);
    CHECK_ERROR(linear_blobs(0, 2, 0.5, NULL, &a, &y) == -1, "n_per_class >= 1");
    CHECK_ERROR(linear_fashion_pair(NULL, true, 3, 3, 0, &a, &y) == -1, "must be distinct");
}
