/* Losses and metrics against closed-form values (PyTorch references: test_torch_refs.c). */
#include "test.h"

TEST(test_cross_entropy_matches_log_sum_exp)
{
    double logits_v[6] = {1, 2, 3, 0.5, -1, 2};
    dc_tensor *logits = dc_from_buffer(DC_F64, DC_SHAPE(2, 3), logits_v);
    dc_tensor *target = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){2, 0});
    dc_tensor *loss = dc_cross_entropy(logits, target, NULL);
    REQUIRE(loss);
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(exp(0.5) + exp(-1) + exp(2)) - 0.5;
    CHECK_NEAR(dc_item(loss), (l0 + l1) / 2, 1e-12);
    /* ignore_index removes the second row from the mean */
    dc_tensor *t2 = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){2, -100});
    CHECK_NEAR(dc_item(dc_cross_entropy(logits, t2, NULL)), l0, 1e-12);
    /* label smoothing: (1-e) nll + e * mean_c(-log p_c) */
    dc_ce_opts smooth = DC_CE_DEFAULTS;
    smooth.label_smoothing = 0.1;
    smooth.reduction = DC_REDUCE_SUM;
    double lse0 = log(exp(1) + exp(2) + exp(3)), lse1 = log(exp(0.5) + exp(-1) + exp(2));
    double u0 = (3 * lse0 - 6) / 3, u1 = (3 * lse1 - 1.5) / 3;
    CHECK_NEAR(dc_item(dc_cross_entropy(logits, target, &smooth)), 0.9 * (l0 + l1) + 0.1 * (u0 + u1), 1e-12);
    dc_tensor *bad = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){3, 0});
    CHECK_ERROR(dc_cross_entropy(logits, bad, NULL) == NULL, "target 3 at position 0 is out of range");
    CHECK_ERROR(dc_cross_entropy(logits, dc_zeros(DC_F32, DC_SHAPE(2)), NULL) == NULL, "int64");
    CHECK_ERROR(dc_cross_entropy(logits, dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){0, 0, 0}), NULL) == NULL,
                "does not match input");
}

TEST(test_cross_entropy_per_pixel_and_gradient)
{
    /* [N=1, C=2, H=1, W=2]: per-pixel targets; gradient = (softmax - onehot) / count */
    double v[4] = {0.0, 1.0, 2.0, -1.0}; /* class 0 at pixels (0, 1); class 1 at (2, -1) */
    dc_tensor *logits = dc_requires_grad(dc_from_buffer(DC_F64, DC_SHAPE(1, 2, 1, 2), v), true);
    dc_tensor *target = dc_from_buffer(DC_I64, DC_SHAPE(1, 1, 2), (int64_t[]){1, 0});
    dc_tensor *loss = dc_cross_entropy(logits, target, NULL);
    REQUIRE(loss && dc_backward(loss) == 0);
    double p1_pix0 = exp(2.0) / (exp(0.0) + exp(2.0)), p0_pix1 = exp(1.0) / (exp(1.0) + exp(-1.0));
    CHECK_NEAR(dc_item(loss), (-log(p1_pix0) - log(p0_pix1)) / 2, 1e-12);
    /* d/dlogit[class 1, pixel 0] = (p1 - 1)/2 */
    CHECK_NEAR(dc_item_at(logits->grad, (int64_t[]){0, 1, 0, 0}), (p1_pix0 - 1) / 2, 1e-12);
    dc_zero_grad(logits);
}

TEST(test_mse_bce_triplet_kl_values)
{
    dc_tensor *a = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){1, 3});
    dc_tensor *b = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){2, 1});
    CHECK_NEAR(dc_item(dc_mse_loss(a, b, DC_REDUCE_MEAN)), 2.5, 1e-12);
    CHECK_NEAR(dc_item(dc_mse_loss(a, b, DC_REDUCE_SUM)), 5, 1e-12);
    CHECK(dc_numel(dc_mse_loss(a, b, DC_REDUCE_NONE)) == 2);
    dc_tensor *p = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){0.8, 0.0});
    dc_tensor *t = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){1, 1});
    /* -log 0.8 and the clamp at 100 for log 0 */
    CHECK_NEAR(dc_item(dc_bce_loss(p, t, DC_REDUCE_SUM)), -log(0.8) + 100, 1e-9);
    dc_tensor *x = dc_from_buffer(DC_F64, DC_SHAPE(3), (double[]){-800, 0.3, 800});
    dc_tensor *y = dc_from_buffer(DC_F64, DC_SHAPE(3), (double[]){0, 1, 1});
    double expect = 0 + log1p(exp(-0.3)) + 0; /* extremes are exact and finite */
    CHECK_NEAR(dc_item(dc_bce_with_logits(x, y, DC_REDUCE_SUM)), expect, 1e-12);
    dc_tensor *an = dc_from_buffer(DC_F64, DC_SHAPE(1, 2), (double[]){0, 0});
    dc_tensor *po = dc_from_buffer(DC_F64, DC_SHAPE(1, 2), (double[]){3, 4});
    dc_tensor *ne = dc_from_buffer(DC_F64, DC_SHAPE(1, 2), (double[]){1, 0});
    CHECK_NEAR(dc_item(dc_triplet_margin_loss(an, po, ne, 1.0)), 5 - 1 + 1, 1e-5);
    dc_tensor *mu = dc_from_buffer(DC_F64, DC_SHAPE(2, 1), (double[]){1, 0});
    dc_tensor *lv = dc_from_buffer(DC_F64, DC_SHAPE(2, 1), (double[]){0, log(2.0)});
    /* row 0: -0.5(1 + 0 - 1 - 1) = 0.5; row 1: -0.5(1 + log 2 - 0 - 2) */
    CHECK_NEAR(dc_item(dc_kl_normal(mu, lv)), (0.5 - 0.5 * (log(2.0) - 1)) / 2, 1e-12);
    CHECK_ERROR(dc_bce_loss(a, dc_zeros(DC_F64, DC_SHAPE(3)), DC_REDUCE_MEAN) == NULL, "same shape");
}

TEST(test_accuracy_and_perplexity)
{
    dc_tensor *logits = dc_from_buffer(DC_F32, DC_SHAPE(4, 2), (float[]){1, 0, 0, 1, 1, 0, 0, 1});
    dc_tensor *target = dc_from_buffer(DC_I64, DC_SHAPE(4), (int64_t[]){0, 1, 1, 1});
    CHECK_NEAR(dc_accuracy(logits, target), 0.75, 1e-12);
    CHECK_NEAR(dc_perplexity(log(50.0)), 50.0, 1e-9);
    CHECK_ERROR(dc_accuracy(logits, NULL) < 0, "NULL");
}
