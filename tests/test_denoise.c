/* The denoising application (apps/denoise): PSNR on hand-computed cases and bad inputs, the
 * models' shapes, and a few training steps that lower the loss. */
#include "test.h"

#include "denoise/denoise.h"

TEST(test_denoise_psnr_hand_computed)
{
    /* image 0: every pixel off by 0.1 -> MSE 0.01 -> 20 dB; image 1: exact -> 100 dB */
    dc_tensor *ref = dc_zeros(DC_F32, 3, (int64_t[]){2, 2, 2});
    dc_tensor *est = dc_from_buffer(DC_F32, 3, (int64_t[]){2, 2, 2},
                                    (float[]){0.1f, -0.1f, 0.1f, 0.1f, 0, 0, 0, 0});
    CHECK_NEAR(denoise_psnr(ref, est, 1.0), (20.0 + 100.0) / 2, 1e-5);
    /* max 255: +20 log10(255) */
    CHECK_NEAR(denoise_psnr(dc_narrow(ref, 0, 0, 1), dc_narrow(est, 0, 0, 1), 255.0),
               20.0 + 20 * log10(255.0), 1e-5);
    CHECK_ERROR(isnan(denoise_psnr(ref, dc_zeros(DC_F32, 2, (int64_t[]){2, 4}), 1.0)),
                "denoise_psnr: shapes");
    CHECK_ERROR(isnan(denoise_psnr(ref, est, 0)), "max_value must be > 0");
}

TEST(test_denoise_models_keep_the_shape_and_reject_bad_widths)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *x = dc_rand(&rng, DC_F32, 4, (int64_t[]){2, 1, 28, 28});
    for (int a = 0; a < 2; a++) {
        dc_module *m = denoise_model_new(a ? DENOISE_UNET : DENOISE_AUTOENCODER, 4, &rng);
        REQUIRE(m);
        dc_tensor *y = dc_forward(m, x);
        REQUIRE(y && dc_same_shape(x, y));
        CHECK(dc_item(dc_min(dc_flatten(y, 0, -1), 0, false)) > 0);
        CHECK(dc_item(dc_max(dc_flatten(y, 0, -1), 0, false)) < 1);
        dc_module_free(m);
    }
    CHECK_ERROR(!denoise_model_new(DENOISE_UNET, 0, &rng), "width 0 must be in [1, 512]");
    CHECK_ERROR(!denoise_add_noise(x, -1, &rng), "sigma must be >= 0");
}

TEST(test_denoise_unet_training_steps_lower_the_loss)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    /* a fixed batch of smooth images (blobs) and its noisy version */
    dc_tensor *clean = dc_zeros(DC_F32, 4, (int64_t[]){8, 1, 16, 16});
    float *p = dc_data(clean);
    for (int n = 0; n < 8; n++)
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++)
                p[(n * 16 + y) * 16 + x] = (x - 4 - n) * (x - 4 - n) + (y - 8) * (y - 8) < 20 ? 0.9f : 0.1f;
    dc_tensor *noisy = denoise_add_noise(clean, 0.5, &rng);
    dc_module *m = denoise_model_new(DENOISE_UNET, 4, &rng);
    REQUIRE(m);
    dc_tensor_list params;
    REQUIRE(dc_module_parameters(m, &params) == 0);
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 1e-2);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    REQUIRE(opt);
    double first = 0, last = 0;
    for (int step = 0; step < 30; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = dc_mse_loss(dc_forward(m, noisy), clean, DC_REDUCE_MEAN);
        dc_module_zero_grad(m);
        REQUIRE(loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0);
        if (step == 0) first = dc_item(loss);
        last = dc_item(loss);
        dc_scope_end(scope);
    }
    EXPECT(last < 0.5 * first, "loss %g -> %g", first, last);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(m);
}
