/* Dropout and Dropout2d (src/ops/dropout.c; book §4.5), embeddings and positional encodings
 * (src/nn/embedding.c; book §4.9, §4.10): statistics of the masks, scaling, eval identity,
 * reproducibility from a seed, gradients, module behaviour and errors. Values against
 * PyTorch are in test_nn_refs.c. */
#include "gradcheck.h"

/* Fraction of zeros among n values. */
static double zero_fraction(const double *v, int64_t n)
{
    int64_t zeros = 0;
    for (int64_t i = 0; i < n; i++) zeros += v[i] == 0;
    return (double)zeros / (double)n;
}

TEST(test_dropout_zeroes_fraction_p_and_scales_the_rest)
{
    const int64_t n = 200 * 500;
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(200, 500));
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    double *v = dc_test_values(dc_dropout(x, 0.3, true, &rng));
    REQUIRE(v);
    /* 100k Bernoulli draws: the standard deviation of the fraction is 0.0015 */
    CHECK_NEAR(zero_fraction(v, n), 0.3, 0.01);
    double sum = 0;
    int64_t bad_scale = 0;
    for (int64_t i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] != 0 && fabs(v[i] - 1 / 0.7) > 1e-6) bad_scale++;
    }
    CHECK(bad_scale == 0);
    CHECK_NEAR(sum / (double)n, 1.0, 0.01); /* the expectation is kept */
    free(v);
}

TEST(test_dropout_eval_and_p0_are_identity_and_p1_gives_zeros)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    dc_tensor *x = dc_requires_grad(dc_randn(&rng, DC_F32, DC_SHAPE(3, 4)), true);
    CHECK(dc_dropout(x, 0.5, false, &rng) == x); /* the same tensor, no copy (as torch) */
    CHECK(dc_dropout(x, 0.0, true, &rng) == x);
    CHECK(dc_dropout2d(dc_unsqueeze(x, 0), 0.5, false, &rng) != NULL);
    dc_tensor *y = dc_dropout(x, 1.0, true, &rng);
    REQUIRE(y);
    double *v = dc_test_values(y);
    REQUIRE(v);
    for (int i = 0; i < 12; i++) CHECK(v[i] == 0 && !isnan(v[i]));
    free(v);
    REQUIRE(dc_backward(dc_sum_all(y)) == 0);
    CHECK(x->grad && dc_item(dc_sum_all(dc_abs(x->grad))) == 0);
}

TEST(test_dropout_is_reproducible_from_a_seed)
{
    dc_tensor *x = dc_ones(DC_F64, DC_SHAPE(1000));
    dc_rng a, b, c;
    dc_rng_seed(&a, 42);
    dc_rng_seed(&b, 42);
    dc_rng_seed(&c, 43);
    double *va = dc_test_values(dc_dropout(x, 0.5, true, &a));
    double *vb = dc_test_values(dc_dropout(x, 0.5, true, &b));
    double *vc = dc_test_values(dc_dropout(x, 0.5, true, &c));
    double *va2 = dc_test_values(dc_dropout(x, 0.5, true, &a)); /* the stream moved on */
    REQUIRE(va && vb && vc && va2);
    CHECK(memcmp(va, vb, 1000 * sizeof *va) == 0);
    CHECK(memcmp(va, vc, 1000 * sizeof *va) != 0);
    CHECK(memcmp(va, va2, 1000 * sizeof *va) != 0);
    free(va);
    free(vb);
    free(vc);
    free(va2);
    /* the global generator (rng NULL) follows dc_manual_seed */
    dc_manual_seed(7);
    va = dc_test_values(dc_dropout(x, 0.5, true, NULL));
    dc_manual_seed(7);
    vb = dc_test_values(dc_dropout(x, 0.5, true, NULL));
    REQUIRE(va && vb);
    CHECK(memcmp(va, vb, 1000 * sizeof *va) == 0);
    free(va);
    free(vb);
}

/* The gradient is the mask: dx = g * keep / (1 - p). */
TEST(test_dropout_backward_uses_the_same_mask)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *x = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(8, 16)), true);
    dc_tensor *y = dc_dropout(x, 0.25, true, &rng);
    REQUIRE(y && dc_backward(dc_sum_all(y)) == 0 && x->grad);
    double *vy = dc_test_values(y), *vg = dc_test_values(x->grad);
    REQUIRE(vy && vg);
    CHECK_ALLCLOSE("dropout grad == mask", vg, vy, 128, 0, 0);
    free(vy);
    free(vg);
}

/* Finite differences through a fixed mask: the function reseeds its generator each call. */
static dc_tensor *f_dropout(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    return dc_dropout(x[0], 0.3, true, &rng);
}
static dc_tensor *f_dropout2d(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    dc_rng rng;
    dc_rng_seed(&rng, 12);
    return dc_dropout2d(x[0], 0.5, true, &rng);
}

TEST(test_dropout_gradcheck)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_tensor *x = dc_requires_grad(dc_uniform(&rng, DC_F64, DC_SHAPE(4, 5), -2, 2), true);
    CHECK_GRADIENTS("dropout_p03", f_dropout, NULL, 1, &x, NULL);
    dc_tensor *x2 = dc_requires_grad(dc_uniform(&rng, DC_F64, DC_SHAPE(2, 3, 2, 2), -2, 2), true);
    CHECK_GRADIENTS("dropout2d_p05", f_dropout2d, NULL, 1, &x2, NULL);
}

TEST(test_dropout2d_zeroes_whole_channels)
{
    const int64_t N = 8, C = 64, HW = 9;
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(8, 64, 3, 3));
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    double *v = dc_test_values(dc_dropout2d(x, 0.5, true, &rng));
    REQUIRE(v);
    int64_t dropped = 0, mixed = 0;
    for (int64_t ch = 0; ch < N * C; ch++) {
        const double *plane = v + ch * HW;
        for (int64_t i = 1; i < HW; i++) mixed += plane[i] != plane[0];
        dropped += plane[0] == 0;
        if (plane[0] != 0) CHECK_NEAR(plane[0], 2.0, 1e-6);
    }
    CHECK(mixed == 0);
    /* 512 channels: the standard deviation of the fraction is 0.022 */
    CHECK_NEAR((double)dropped / (double)(N * C), 0.5, 0.1);
    free(v);
    /* [N, C] works too (one draw per element) */
    CHECK(dc_dropout2d(dc_ones(DC_F32, DC_SHAPE(4, 3)), 0.5, true, &rng) != NULL);
}

TEST(test_dropout_modules_respect_training_mode)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    dc_module *d = dc_dropout_new(0.5, &rng), *d2 = dc_dropout2d_new(0.5, &rng);
    REQUIRE(d && d2);
    CHECK(strcmp(d->type, "Dropout") == 0 && strcmp(d2->type, "Dropout2d") == 0);
    CHECK(dc_module_num_params(d, false) == 0);
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(4, 8, 2, 2));
    double *v = dc_test_values(dc_forward(d, x));
    REQUIRE(v);
    CHECK(zero_fraction(v, 128) > 0.2 && zero_fraction(v, 128) < 0.8);
    free(v);
    dc_module_train(d, false);
    dc_module_train(d2, false);
    CHECK(dc_forward(d, x) == x);
    CHECK(dc_forward(d2, x) == x);
    char desc[64];
    d->describe(d, desc, sizeof desc);
    CHECK(strcmp(desc, "p=0.5") == 0);
    dc_module_free(d);
    dc_module_free(d2);
}

TEST(test_dropout_errors)
{
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(3));
    CHECK_ERROR(dc_dropout(x, 1.5, true, NULL) == NULL, "p must be in [0, 1], got 1.5");
    CHECK_ERROR(dc_dropout(x, -0.1, false, NULL) == NULL, "p must be in [0, 1], got -0.1");
    CHECK_ERROR(dc_dropout(x, NAN, true, NULL) == NULL, "p must be in [0, 1]");
    CHECK_ERROR(dc_dropout2d(x, 0.5, true, NULL) == NULL, "input must be [N, C, ...], got [3]");
    CHECK_ERROR(dc_dropout(dc_zeros(DC_I64, DC_SHAPE(2)), 0.5, true, NULL) == NULL, "float");
    CHECK_ERROR(dc_dropout(NULL, 0.5, true, NULL) == NULL, "NULL");
    CHECK_ERROR(dc_dropout_new(2.0, NULL) == NULL, "p must be in [0, 1], got 2");
    CHECK_ERROR(dc_dropout2d_new(-1, NULL) == NULL, "p must be in [0, 1]");
}

/* ---- Embedding and positions --------------------------------------------------------------- */

TEST(test_embedding_lookup_shapes_init_and_errors)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_module *emb = dc_embedding_new(1000, 16, &rng);
    REQUIRE(emb);
    dc_tensor *w = dc_module_param(emb, "weight");
    REQUIRE(w && w->shape[0] == 1000 && w->shape[1] == 16 && w->requires_grad);
    /* torch's init: N(0, 1) */
    CHECK_NEAR(dc_item(dc_mean_all(w)), 0, 0.03);
    CHECK_NEAR(dc_item(dc_var(w, 0, NULL, 1, false)), 1, 0.05);
    dc_tensor *ids = dc_from_buffer(DC_I64, DC_SHAPE(2, 3), (int64_t[]){5, 0, 999, 5, 5, 1});
    dc_tensor *y = dc_forward(emb, ids);
    REQUIRE(y && y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 16);
    /* Y[d1, d2] = M[X[d1, d2]] (book eq. 4.14) */
    CHECK(dc_item_at(y, (int64_t[]){1, 2, 7}) == dc_item_at(w, (int64_t[]){1, 7}));
    CHECK(dc_item_at(y, (int64_t[]){0, 2, 15}) == dc_item_at(w, (int64_t[]){999, 15}));
    dc_tensor *scalar_id = dc_from_buffer(DC_I64, 0, NULL, (int64_t[]){3});
    dc_tensor *row = dc_forward(emb, scalar_id);
    CHECK(row && row->ndim == 1 && row->shape[0] == 16);
    /* repeated ids accumulate in the gradient: row 5 is used 3 times */
    REQUIRE(dc_backward(dc_sum_all(y)) == 0 && w->grad);
    CHECK(dc_item_at(w->grad, (int64_t[]){5, 0}) == 3);
    CHECK(dc_item_at(w->grad, (int64_t[]){2, 0}) == 0);
    CHECK_ERROR(dc_forward(emb, dc_zeros(DC_F32, DC_SHAPE(2))) == NULL, "ids must be int64");
    CHECK_ERROR(dc_forward(emb, dc_from_buffer(DC_I64, DC_SHAPE(1), (int64_t[]){1000})) == NULL,
                "1000");
    CHECK_ERROR(dc_embedding_new(0, 4, NULL) == NULL, "sizes must be positive");
    char desc[64];
    emb->describe(emb, desc, sizeof desc);
    CHECK(strcmp(desc, "1000, 16") == 0);
    dc_module_free(emb);
}

TEST(test_sinusoidal_positions_follow_the_book)
{
    dc_tensor *pe = dc_sinusoidal_positions(20, 6, DC_F64);
    REQUIRE(pe && pe->shape[0] == 20 && pe->shape[1] == 6 && pe->dtype == DC_F64);
    for (int64_t t = 0; t < 20; t++)
        for (int64_t d = 0; d < 6; d++) {
            /* book eq. 4.15: sin(t / T^(d/D)) for even d, cos(t / T^((d-1)/D)) for odd d */
            double want =
                d % 2 ? cos(t / pow(1e4, (double)(d - 1) / 6)) : sin(t / pow(1e4, (double)d / 6));
            CHECK_NEAR(dc_item_at(pe, (int64_t[]){t, d}), want, 1e-15);
        }
    CHECK(dc_sinusoidal_positions(0, 4, DC_F32) != NULL);
    CHECK_ERROR(dc_sinusoidal_positions(4, 0, DC_F32) == NULL, "C >= 1");
    CHECK_ERROR(dc_sinusoidal_positions(4, 4, DC_I64) == NULL, "float32 or float64");
}

TEST(test_positional_encoding_modules)
{
    dc_rng rng;
    dc_rng_seed(&rng, 8);
    dc_module *learned = dc_learned_positional_encoding_new(10, 4, &rng);
    dc_module *fixed = dc_sinusoidal_positional_encoding_new(10, 4);
    REQUIRE(learned && fixed);
    CHECK(dc_module_param(learned, "weight") && dc_module_num_params(learned, false) == 40);
    dc_tensor_list state;
    REQUIRE(dc_module_state(fixed, &state) == 0);
    CHECK(state.n == 0); /* the fixed table is not part of the state_dict */
    dc_tensor_list_free(&state);

    dc_tensor *x = dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(2, 7, 4)), true);
    dc_tensor *y = dc_forward(fixed, x);
    REQUIRE(y && dc_same_shape(y, x));
    CHECK_NEAR(dc_item_at(y, (int64_t[]){1, 6, 0}), sin(6.0), 1e-6);
    CHECK_NEAR(dc_item_at(y, (int64_t[]){0, 6, 3}), cos(6.0 / 100.0), 1e-6);
    dc_tensor *z = dc_forward(learned, x);
    REQUIRE(z);
    CHECK(dc_item_at(z, (int64_t[]){1, 3, 2}) ==
          dc_item_at(dc_module_param(learned, "weight"), (int64_t[]){3, 2}));
    REQUIRE(dc_backward(dc_sum_all(z)) == 0);
    dc_tensor *g = dc_module_param(learned, "weight")->grad;
    REQUIRE(g);
    CHECK(dc_item_at(g, (int64_t[]){6, 0}) == 2 && dc_item_at(g, (int64_t[]){7, 0}) == 0);
    /* float64 input: the table follows the input's dtype */
    CHECK(dc_forward(fixed, dc_zeros(DC_F64, DC_SHAPE(3, 4))) != NULL);

    CHECK_ERROR(dc_forward(fixed, dc_zeros(DC_F32, DC_SHAPE(1, 11, 4))) == NULL,
                "expected input [..., T, 4] with T <= max_len 10, got [1, 11, 4]");
    CHECK_ERROR(dc_forward(learned, dc_zeros(DC_F32, DC_SHAPE(1, 3, 5))) == NULL, "got [1, 3, 5]");
    CHECK_ERROR(dc_sinusoidal_positional_encoding_new(0, 4) == NULL, "must be positive");
    dc_module_free(learned);
    dc_module_free(fixed);
}
