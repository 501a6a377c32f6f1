/* Denoising diffusion (apps/diffusion): schedules against closed forms, the forward process
 * against iterating it, DDIM steps, the samplers with an exact noise predictor, the U-Net's
 * shapes and errors, the task through its contract and the toy diffusion on points. */
#include "test.h"

#include "diffusion/diffusion.h"

#include <math.h>

static const double PI = 3.14159265358979323846;

TEST(test_diffusion_linear_schedule_has_ho_et_al_endpoints_and_alpha_bar_is_the_product)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_LINEAR, 1000) == 0);
    CHECK_NEAR(s.beta[0], 1e-4, 1e-15);
    CHECK_NEAR(s.beta[999], 0.02, 1e-15);
    CHECK_NEAR(s.beta[500], 1e-4 + (0.02 - 1e-4) * 500 / 999, 1e-15);
    double log_prod = 0;
    for (int t = 0; t < 1000; t++) log_prod += log(1 - (1e-4 + (0.02 - 1e-4) * t / 999.0));
    CHECK_NEAR(s.alpha_bar[0], 1 - 1e-4, 1e-15);
    CHECK_NEAR(s.alpha_bar[999] / exp(log_prod), 1, 1e-9);
    CHECK_NEAR(s.alpha_bar[999], 4.0358e-5, 1e-8); /* the familiar ~4e-5 of DDPM */
    CHECK_NEAR(diffusion_alpha_bar(&s, -1), 1, 0);
    CHECK(isnan(diffusion_alpha_bar(&s, 1000)));
    for (int t = 0; t < 1000; t++) CHECK_NEAR(s.alpha[t], 1 - s.beta[t], 0);
    diffusion_schedule_free(&s);
}

TEST(test_diffusion_cosine_schedule_follows_the_squared_cosine_formula)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_COSINE, 1000) == 0);
    double f0 = pow(cos(0.008 / 1.008 * PI / 2), 2);
    for (int t = 0; t < 990; t += 7) {
        double f = pow(cos(((t + 1) / 1000.0 + 0.008) / 1.008 * PI / 2), 2);
        CHECK_NEAR(s.alpha_bar[t] / (f / f0), 1, 1e-9);
    }
    /* half way: cos^2((0.5 + 0.008) / 1.008 * pi / 2) / f0 by hand: 0.4918... */
    CHECK_NEAR(s.alpha_bar[499], pow(cos(0.508 / 1.008 * PI / 2), 2) / f0, 1e-12);
    CHECK(s.alpha_bar[499] > 0.49 && s.alpha_bar[499] < 0.50);
    CHECK_NEAR(s.beta[999], 0.999, 1e-12); /* f(T) = 0: clipped */
    CHECK(s.alpha_bar[999] < 1e-6);
    for (int t = 0; t < 1000; t++) CHECK(s.beta[t] > 0 && s.beta[t] <= 0.999);
    diffusion_schedule_free(&s);
}

TEST(test_diffusion_schedule_rejects_a_bad_length_or_kind)
{
    diffusion_schedule s;
    CHECK_ERROR(diffusion_schedule_init(&s, DIFFUSION_LINEAR, 0) != 0, "T = 0");
    CHECK(s.beta == NULL);
    CHECK_ERROR(diffusion_schedule_init(&s, (diffusion_schedule_kind)7, 10) != 0, "unknown schedule");
}

/* x_t from x_0 by t + 1 forward steps with noises e_0..e_t equals the closed form
 * sqrt(ab) x0 + sqrt(1 - ab) e with e = sum_s c_s e_s / sqrt(1 - ab), c_s = sqrt(beta_s)
 * prod_{s < r <= t} sqrt(alpha_r): checked exactly for the mean (zero noise) and the combined
 * noise, and in distribution by Monte Carlo. */
TEST(test_diffusion_q_sample_closed_form_equals_iterating_the_forward_steps)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_LINEAR, 1000) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    enum { N = 4, D = 6, STEPS = 40 };
    dc_tensor *x0 = dc_to_dtype(dc_uniform(&rng, DC_F32, DC_SHAPE(N, D), -1, 1), DC_F64);
    /* iterate with noises e_s, accumulating the combined noise alongside */
    dc_tensor *x = x0, *comb = dc_zeros(DC_F64, DC_SHAPE(N, D));
    for (int t = 0; t < STEPS; t++) {
        dc_tensor *e = dc_randn(&rng, DC_F64, DC_SHAPE(N, D));
        x = diffusion_q_step(&s, x, t, e);
        comb = dc_add(dc_mul_scalar(comb, sqrt(s.alpha[t])), dc_mul_scalar(e, sqrt(s.beta[t])));
    }
    REQUIRE(x && comb);
    double ab = s.alpha_bar[STEPS - 1];
    dc_tensor *eps = dc_mul_scalar(comb, 1 / sqrt(1 - ab));
    dc_tensor *t = dc_full(DC_I64, DC_SHAPE(N), STEPS - 1);
    dc_tensor *closed = diffusion_q_sample(&s, x0, t, eps);
    REQUIRE(closed);
    double *a = dc_test_values(x), *b = dc_test_values(closed);
    CHECK_ALLCLOSE("iterated vs closed form", a, b, N * D, 1e-9, 1e-9);
    free(a), free(b);
    /* the mean: zero noise gives sqrt(ab) x0 */
    dc_tensor *m = x0;
    for (int k = 0; k < STEPS; k++) m = diffusion_q_step(&s, m, k, dc_zeros_like(x0));
    a = dc_test_values(m), b = dc_test_values(dc_mul_scalar(x0, sqrt(ab)));
    CHECK_ALLCLOSE("mean", a, b, N * D, 1e-12, 1e-12);
    free(a), free(b);
    /* in distribution: 20000 chains of 300 steps from x0 = 0.7 */
    enum { M = 20000, T2 = 300 };
    dc_tensor *y = dc_full(DC_F32, DC_SHAPE(M), 0.7);
    for (int k = 0; k < T2; k++) y = diffusion_q_step(&s, y, k, dc_randn(&rng, DC_F32, DC_SHAPE(M)));
    double ab2 = s.alpha_bar[T2 - 1];
    CHECK_NEAR(dc_item(dc_mean_all(y)), 0.7 * sqrt(ab2), 0.03);
    CHECK_NEAR(dc_item(dc_var(y, 0, NULL, 0, false)), 1 - ab2, 0.03);
    diffusion_schedule_free(&s);
}

TEST(test_diffusion_q_sample_rejects_bad_timesteps_and_shapes)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_COSINE, 100) == 0);
    dc_tensor *x0 = dc_ones(DC_F32, DC_SHAPE(2, 3)), *e = dc_zeros(DC_F32, DC_SHAPE(2, 3));
    CHECK_ERROR(diffusion_q_sample(&s, x0, dc_full(DC_I64, DC_SHAPE(2), 100), e) == NULL, "outside [0, 100)");
    CHECK_ERROR(diffusion_q_sample(&s, x0, dc_full(DC_F32, DC_SHAPE(2), 1), e) == NULL, "int64");
    CHECK_ERROR(diffusion_q_sample(&s, x0, dc_full(DC_I64, DC_SHAPE(2), 1), dc_zeros(DC_F32, DC_SHAPE(3, 2))) == NULL,
                "one shape");
    CHECK_ERROR(diffusion_q_step(&s, x0, -1, e) == NULL, "timestep -1");
    CHECK_ERROR(diffusion_ddim_step(&s, x0, e, 5, 100, 0, false, NULL) == NULL, "timestep 100");
    CHECK_NEAR(dc_item(dc_mean_all(x0)), 1, 0);
    CHECK_NEAR(dc_item(dc_mean_all(e)), 0, 0);
    diffusion_schedule_free(&s);
}

/* With the true noise, an eta = 0 DDIM step from x_t lands on q(x_{t'} | x0) with the same
 * noise; stepping back up from there returns x_t (inversion); t' = -1 returns x0; the result
 * does not depend on the generator. */
TEST(test_diffusion_ddim_step_with_eta_zero_is_deterministic_and_inverts)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_COSINE, 1000) == 0);
    dc_rng rng, r1, r2;
    dc_rng_seed(&rng, 11), dc_rng_seed(&r1, 1), dc_rng_seed(&r2, 2);
    dc_tensor *x0 = dc_to_dtype(dc_uniform(&rng, DC_F32, DC_SHAPE(3, 8), -1, 1), DC_F64);
    dc_tensor *eps = dc_randn(&rng, DC_F64, DC_SHAPE(3, 8));
    dc_tensor *x_t = diffusion_q_sample(&s, x0, dc_full(DC_I64, DC_SHAPE(3), 700), eps);
    dc_tensor *want = diffusion_q_sample(&s, x0, dc_full(DC_I64, DC_SHAPE(3), 300), eps);
    dc_tensor *a1 = diffusion_ddim_step(&s, x_t, eps, 700, 300, 0, false, &r1);
    dc_tensor *a2 = diffusion_ddim_step(&s, x_t, eps, 700, 300, 0, false, &r2);
    dc_tensor *back = diffusion_ddim_step(&s, a1, eps, 300, 700, 0, false, &r1);
    dc_tensor *to0 = diffusion_ddim_step(&s, x_t, eps, 700, -1, 0, false, &r1);
    REQUIRE(a1 && a2 && back && to0 && want);
    double *v1 = dc_test_values(a1), *v2 = dc_test_values(a2), *w = dc_test_values(want);
    double *vb = dc_test_values(back), *vt = dc_test_values(x_t), *v0 = dc_test_values(to0),
           *vx = dc_test_values(x0);
    CHECK_ALLCLOSE("two generators", v1, v2, 24, 0, 0);
    CHECK_ALLCLOSE("lands on q(x_300 | x0)", v1, w, 24, 1e-10, 1e-10);
    CHECK_ALLCLOSE("inverted back to x_700", vb, vt, 24, 1e-10, 1e-10);
    CHECK_ALLCLOSE("t' = -1 gives x0", v0, vx, 24, 1e-10, 1e-10);
    free(v1), free(v2), free(w), free(vb), free(vt), free(v0), free(vx);
    /* eta = 1 adds noise of DDPM's posterior std: x_{t-1} - mean has variance beta~_t */
    dc_tensor *big = dc_zeros(DC_F32, DC_SHAPE(40000)), *e0 = dc_zeros(DC_F32, DC_SHAPE(40000));
    dc_tensor *z = dc_sub(diffusion_ddim_step(&s, big, e0, 500, 499, 1.0, false, &rng),
                          diffusion_ddim_step(&s, big, e0, 500, 499, 0.0, false, &rng));
    double var = (1 - s.alpha_bar[498]) / (1 - s.alpha_bar[499]) * s.beta[499];
    CHECK_NEAR(dc_item(dc_var(z, 0, NULL, 0, false)) / var, 1, 0.03);
    diffusion_schedule_free(&s);
}

/* The noise predictor of data that is one point c: eps = (x_t - sqrt(ab_t) c) / sqrt(1 - ab_t). */
typedef struct {
    const diffusion_schedule *s;
    double c;
} oracle;

static dc_tensor *oracle_eps(void *ctx, dc_tensor *x, int64_t t)
{
    oracle *o = ctx;
    double ab = o->s->alpha_bar[t];
    return dc_mul_scalar(dc_add_scalar(x, -sqrt(ab) * o->c), 1 / sqrt(1 - ab));
}

TEST(test_diffusion_samplers_reach_the_data_with_the_exact_noise_and_keep_a_trajectory)
{
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_LINEAR, 100) == 0);
    oracle o = {&s, 0.25};
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *traj = NULL;
    diffusion_sampler_opts ddpm = {0, false, 0, false, 5, &traj};
    dc_tensor *x = diffusion_sample(&s, DC_SHAPE(2, 1, 4, 4), oracle_eps, &o, &ddpm, &rng);
    REQUIRE(x && traj);
    CHECK(traj->ndim == 4 && traj->shape[0] == 5 && traj->shape[2] == 4);
    double *v = dc_test_values(x);
    for (int i = 0; i < 32; i++) CHECK_NEAR(v[i], 0.25, 1e-5);
    free(v);
    /* the last snapshot is the sample 0 result, the first looks like N(0, 1) noise */
    double *last = dc_test_values(dc_select(traj, 0, 4)), *x00 = dc_test_values(dc_select(x, 0, 0));
    CHECK_ALLCLOSE("last snapshot", last, x00, 16, 0, 0);
    free(last), free(x00);
    diffusion_sampler_opts ddim = {10, true, 0, false, 0, NULL};
    dc_tensor *y = diffusion_sample(&s, DC_SHAPE(3, 2), oracle_eps, &o, &ddim, &rng);
    REQUIRE(y);
    v = dc_test_values(y);
    for (int i = 0; i < 6; i++) CHECK_NEAR(v[i], 0.25, 1e-5);
    free(v);
    diffusion_sampler_opts bad = {101, true, 0, false, 0, NULL};
    CHECK_ERROR(diffusion_sample(&s, DC_SHAPE(3, 2), oracle_eps, &o, &bad, &rng) == NULL, "steps 101");
    diffusion_schedule_free(&s);
}

TEST(test_diffusion_time_embedding_is_sin_then_cos_of_geometric_frequencies)
{
    dc_tensor *e = diffusion_time_embedding(dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){0, 5}), 4);
    REQUIRE(e && e->shape[0] == 2 && e->shape[1] == 4);
    double *v = dc_test_values(e);
    double want[8] = {0, 0, 1, 1, sin(5), sin(0.05), cos(5), cos(0.05)};
    CHECK_ALLCLOSE("embedding", v, want, 8, 1e-6, 1e-6);
    free(v);
    CHECK_ERROR(diffusion_time_embedding(dc_zeros(DC_I64, DC_SHAPE(2)), 3) == NULL, "even");
}

TEST(test_diffusion_unet_maps_images_to_noise_of_their_shape_and_rejects_bad_inputs)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    diffusion_unet_config cfg = {1, 8, 10};
    dc_module *m = diffusion_unet_new(&cfg, &rng);
    REQUIRE(m);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(2, 1, 28, 28));
    dc_tensor *t = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){0, 999});
    dc_tensor *y = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){3, 10});
    dc_tensor *e = diffusion_unet_forward(m, x, t, y);
    REQUIRE(e);
    CHECK(dc_same_shape(e, x));
    CHECK(diffusion_unet_forward(m, x, t, NULL) != NULL); /* no labels: the no-class id */
    CHECK_ERROR(diffusion_unet_forward(m, dc_zeros(DC_F32, DC_SHAPE(2, 1, 30, 28)), t, y) == NULL, "divisible by 4");
    CHECK_ERROR(diffusion_unet_forward(m, x, dc_zeros(DC_F32, DC_SHAPE(2)), y) == NULL, "t must be int64");
    CHECK_ERROR(diffusion_unet_forward(m, x, t, dc_zeros(DC_I64, DC_SHAPE(3))) == NULL, "labels must be");
    CHECK_ERROR(diffusion_unet_forward(m, x, t, dc_full(DC_I64, DC_SHAPE(2), 11)) == NULL, "11");
    CHECK_ERROR(diffusion_unet_new(&(diffusion_unet_config){1, 12, 0}, &rng) == NULL, "multiple of 8");
    diffusion_unet_config uc = {1, 8, 0};
    dc_module *u = diffusion_unet_new(&uc, &rng);
    REQUIRE(u);
    CHECK_ERROR(diffusion_unet_forward(u, x, t, y) == NULL, "unconditional");
    CHECK_ERROR(diffusion_generate(u, NULL, 4, 28, 28, 2, 0, 1, 0, 0, NULL) == NULL, "schedule");
    dc_module_free(u);
    dc_module_free(m);
}

TEST(test_diffusion_task_trains_a_small_unet_and_the_loss_falls)
{
    if (!dc_test_have("zlib")) return; /* Fashion-MNIST is gzipped */
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&diffusion_task,
                               "width = 8\nval-images = 500\neval-images = 100\nsample-steps = 2\n"
                               "render-samples = 4\n",
                               16, 3e-3, 30, &first, &last, &m));
    EXPECT(last < 0.8 * first, "loss %.4f -> %.4f did not fall by 20%%", first, last);
    CHECK(m.n >= 1 && !strcmp(m.metrics[0].name, "eps_mse"));
}

TEST(test_diffusion_toy_mlp_learns_the_noise_of_two_moons)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    diffusion_schedule s;
    REQUIRE(diffusion_schedule_init(&s, DIFFUSION_LINEAR, 100) == 0);
    dc_module *mlp = diffusion_mlp_new(2, 64, &rng);
    dc_tensor_list params;
    REQUIRE(mlp && dc_module_parameters(mlp, &params) == 0);
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, 3e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    REQUIRE(opt);
    double first = 0, last = 0;
    for (int i = 0; i < 150; i++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = diffusion_mlp_loss(mlp, &s, diffusion_two_moons(128, 0.05, &rng), &rng);
        REQUIRE(loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0);
        dc_optimizer_zero_grad(opt);
        if (i < 10) first += dc_item(loss) / 10;
        if (i >= 140) last += dc_item(loss) / 10;
        dc_scope_end(scope);
    }
    EXPECT(last < 0.7 * first, "loss %.4f -> %.4f", first, last);
    dc_tensor *pts = diffusion_gaussian_mixture(500, 8, 0.1, &rng);
    REQUIRE(pts && pts->shape[0] == 500 && pts->shape[1] == 2);
    double *pv = dc_test_values(pts);
    for (int i = 0; i < 1000; i++) CHECK(fabs(pv[i]) < 3); /* radius 2 + 10 sigma */
    free(pv);
    if (dc_test_have("libpng")) {
        char path[256];
        dc_test_tmp_path(path, sizeof path, "diffusion_scatter.png");
        CHECK(diffusion_scatter_png(path, pts, diffusion_two_moons(100, 0.05, &rng), 3, 64) == 0);
        dc_tensor *img = dc_png_read(path);
        CHECK(img && img->shape[0] == 3 && img->shape[1] == 64 && img->shape[2] == 136);
        remove(path);
    }
    CHECK_ERROR(diffusion_scatter_png("/tmp/x.png", dc_zeros(DC_F32, DC_SHAPE(3, 3)), pts, 3, 64) != 0, "[n, 2]");
    CHECK_ERROR(diffusion_mlp_forward(mlp, dc_zeros(DC_F32, DC_SHAPE(3, 3)), dc_zeros(DC_I64, DC_SHAPE(3))) == NULL,
                "[N, 2]");
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(mlp);
    diffusion_schedule_free(&s);
}
