/* The denoise task (apps/denoise/denoise_task.c) through the task contract. */
#include "test.h"

#include "denoise/denoise.h"

TEST(test_denoise_task_trains_a_small_unet_and_the_loss_falls)
{
    if (!dc_test_have("zlib")) return; /* Fashion-MNIST is gzipped */
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&denoise_task, "width = 4\nval-images = 500\neval-images = 100\n",
                               16, 3e-3, 24, &first, &last, &m));
    EXPECT(last < 0.8 * first, "loss %.4f -> %.4f did not fall by 20%%", first, last);
    CHECK(m.n >= 2 && !strcmp(m.metrics[0].name, "psnr_db"));
    CHECK(dc_metrics_get(&m, "psnr_input_db") > 0);
}

TEST(test_denoise_add_mask_zeroes_about_the_fraction_and_rejects_a_bad_one)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(4, 1, 32, 32));
    dc_tensor *y = denoise_add_mask(x, 0.25, &rng);
    REQUIRE(y);
    CHECK_NEAR(dc_item(dc_mean_all(y)), 0.75, 0.03);
    CHECK_ERROR(denoise_add_mask(x, 1.0, &rng) == NULL, "fraction");
    CHECK_NEAR(dc_item(dc_mean_all(x)), 1.0, 0);
}
