/* apps/gan: shapes of the two networks, each side's loss falls when it alone trains against
 * a fixed other, the task through the task contract (two optimizers of its own), bad inputs. */
#include "test.h"

#include "gan/gan.h"

TEST(test_gan_networks_map_noise_to_images_in_0_1_and_images_to_one_logit)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_module *gan = gan_model_new(8, 4, &rng);
    REQUIRE(gan);
    dc_tensor *x = gan_sample(gan, 3, &rng);
    REQUIRE(x);
    CHECK(x->ndim == 4 && x->shape[0] == 3 && x->shape[1] == 1 && x->shape[2] == 28 &&
          x->shape[3] == 28);
    CHECK(dc_item(dc_min(dc_flatten(x, 0, -1), 0, false)) > 0);
    CHECK(dc_item(dc_max(dc_flatten(x, 0, -1), 0, false)) < 1);
    dc_tensor *logits = gan_discriminate(gan, x);
    REQUIRE(logits);
    CHECK(logits->ndim == 1 && logits->shape[0] == 3);
    CHECK(gan_latent_dim(gan) == 8);
    /* names map onto a torch state_dict */
    CHECK(dc_module_param(gan, "generator.up1.weight") && dc_module_param(gan, "discriminator.fc.bias"));
    dc_module_free(gan);
}

/* The mean of the losses of steps [from, to) of one side's training. */
static double run(gan_trainer *t, const dc_dataset *ds, dc_rng *rng, int steps, bool d, bool g,
                  double *first, double *last)
{
    double sum_first = 0, sum_last = 0;
    int q = steps / 4;
    for (int s = 0; s < steps; s++) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        double ld = NAN, lg = NAN;
        if (dc_dataset_random_batch(ds, 16, rng, &x, &y) != 0 ||
            gan_train_step(t, x, rng, d, g, &ld, &lg) != 0) {
            dc_scope_end(scope);
            return -1;
        }
        double v = d ? ld : lg;
        if (s < q) sum_first += v;
        if (s >= steps - q) sum_last += v;
        dc_scope_end(scope);
    }
    *first = sum_first / q, *last = sum_last / q;
    return 0;
}

TEST(test_gan_discriminator_and_generator_losses_each_fall_against_a_fixed_opponent)
{
    if (!dc_test_have("zlib")) return;
    dc_dataset *full = dc_fashion_mnist_load(NULL, false);
    REQUIRE(full);
    int64_t idx[256];
    for (int i = 0; i < 256; i++) idx[i] = i;
    dc_dataset *ds = dc_dataset_subset(full, idx, 256);
    dc_dataset_free(full);
    REQUIRE(ds);
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    dc_module *gan = gan_model_new(8, 4, &rng);
    gan_trainer t;
    REQUIRE(gan && gan_trainer_init(&t, gan, 2e-3, 2e-3, 0.5) == 0);
    double first, last;
    /* D alone: it learns to tell real images from a fixed generator's */
    CHECK(run(&t, ds, &rng, 24, true, false, &first, &last) == 0);
    EXPECT(last < 0.7 * first, "D loss %.4f -> %.4f did not fall by 30%%", first, last);
    EXPECT(first > 1.0 && first < 1.8, "D's first loss %.4f is not about 2 ln 2", first);
    /* G alone: against that D, the non-saturating loss falls */
    CHECK(run(&t, ds, &rng, 24, false, true, &first, &last) == 0);
    EXPECT(last < 0.8 * first, "G loss %.4f -> %.4f did not fall by 20%%", first, last);
    gan_trainer_free(&t);
    dc_module_free(gan);
    dc_dataset_free(ds);
}

TEST(test_gan_task_runs_both_updates_itself_and_reports_its_losses)
{
    if (!dc_test_have("zlib")) return;
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&gan_task, "width = 4\nlatent = 8\nd-lr = 2e-3\ng-lr = 2e-3\nval-images = 500\n",
                               16, 0, 24, &first, &last, &m));
    /* the returned loss is D's: from about 2 ln 2 it falls as D starts to win */
    EXPECT(first > 1.0 && first < 1.8 && last < first, "D loss %.4f -> %.4f", first, last);
    CHECK(!strcmp(m.metrics[0].name, "d_loss") || !strcmp(m.metrics[0].name, "fd"));
    double d_real = dc_metrics_get(&m, "d_real"), d_fake = dc_metrics_get(&m, "d_fake");
    EXPECT(d_real > d_fake, "D(real) %.3f is not above D(fake) %.3f", d_real, d_fake);
    CHECK(isfinite(dc_metrics_get(&m, "g_loss")));
}

TEST(test_gan_rejects_bad_sizes_and_shapes_and_leaves_inputs_unchanged)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    CHECK_ERROR(gan_model_new(0, 4, &rng) == NULL, "latent 0");
    CHECK_ERROR(gan_model_new(8, 0, &rng) == NULL, "width 0");
    dc_module *gan = gan_model_new(8, 4, &rng);
    REQUIRE(gan);
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(2, 1, 32, 32));
    CHECK_ERROR(gan_discriminate(gan, x) == NULL, "x must be [N, 1, 28, 28]");
    CHECK_ERROR(dc_forward(gan, dc_zeros(DC_F32, DC_SHAPE(2, 5))) == NULL, "z must be [N, 8]");
    CHECK_ERROR(gan_sample(gan, 0, &rng) == NULL, "n must be >= 1");
    CHECK_ERROR(gan_train_step(NULL, x, &rng, true, true, NULL, NULL) != 0, "NULL");
    dc_module *lin = dc_linear_new(2, 2, true, &rng);
    CHECK_ERROR(gan_generator(lin) == NULL, "not a GAN");
    dc_module_free(lin);
    CHECK_NEAR(dc_item(dc_mean_all(x)), 1.0, 0);
    dc_module_free(gan);
}
