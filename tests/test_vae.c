/* apps/vae: the reparameterisation, the ELBO's terms, the latent map, the task through the
 * task contract (a few steps lower the negative ELBO) and bad inputs. */
#include "test.h"

#include "vae/vae.h"

TEST(test_vae_task_trains_a_small_vae_and_the_negative_elbo_falls)
{
    if (!dc_test_have("zlib")) return; /* Fashion-MNIST is gzipped */
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&vae_task, "width = 64\nlatent = 2\nval-images = 500\neval-images = 200\n",
                               32, 3e-3, 40, &first, &last, &m));
    EXPECT(last < 0.8 * first, "-ELBO %.2f -> %.2f did not fall by 20%%", first, last);
    CHECK(!strcmp(m.metrics[0].name, "nelbo"));
    CHECK_NEAR(dc_metrics_get(&m, "nelbo"),
               dc_metrics_get(&m, "recon_nats") + dc_metrics_get(&m, "kl_nats"), 1e-6 * first);
    CHECK(dc_metrics_get(&m, "kl_nats") >= 0);
}

TEST(test_vae_reparameterize_has_mean_mu_std_sigma_and_gradient_one_to_mu)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_tensor *mu = dc_full(DC_F64, DC_SHAPE(20000), 1.5);
    dc_tensor *logvar = dc_full(DC_F64, DC_SHAPE(20000), log(4.0));
    dc_requires_grad(mu, true);
    dc_tensor *z = vae_reparameterize(mu, logvar, &rng);
    REQUIRE(z);
    CHECK_NEAR(dc_item(dc_mean_all(z)), 1.5, 0.05);
    CHECK_NEAR(sqrt(dc_item(dc_var(z, 0, NULL, 1, false))), 2.0, 0.05);
    REQUIRE(dc_backward(dc_sum_all(z)) == 0);
    CHECK_NEAR(dc_item(dc_mean_all(mu->grad)), 1.0, 0);
    CHECK_ERROR(vae_reparameterize(mu, dc_zeros(DC_F64, DC_SHAPE(3)), &rng) == NULL, "differ in shape");
}

TEST(test_vae_loss_is_summed_bce_plus_kl_and_beta_zero_leaves_the_reconstruction)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_module *vae = vae_model_new(16, 3, &rng);
    REQUIRE(vae);
    dc_tensor *x = dc_rand(&rng, DC_F32, DC_SHAPE(4, 1, 28, 28));
    double recon = -1, kl = -1;
    dc_rng r1, r2;
    dc_rng_seed(&r1, 9), dc_rng_seed(&r2, 9);
    double full = dc_item(vae_loss(vae, x, 1.0, &r1, &recon, &kl));
    double no_kl = dc_item(vae_loss(vae, x, 0.0, &r2, NULL, NULL));
    CHECK_NEAR(full, recon + kl, 1e-3);
    CHECK_NEAR(no_kl, recon, 1e-3);
    /* the KL term is dc_kl_normal of the encoder's outputs */
    dc_tensor *mu, *logvar;
    REQUIRE(vae_encode(vae, x, &mu, &logvar) == 0);
    CHECK_NEAR(kl, dc_item(dc_kl_normal(mu, logvar)), 1e-4);
    /* the reconstruction: a per-image sum of 784 BCE terms, > 0 and about 784 ln 2 at start */
    CHECK(recon > 0.5 * 784 * log(2.0) && recon < 2 * 784 * log(2.0));
    CHECK_ERROR(vae_loss(vae, x, -1, &r1, NULL, NULL) == NULL, "beta");
    dc_module_free(vae);
}

TEST(test_vae_latent_map_decodes_a_grid_and_samples_are_images_in_0_1)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    dc_module *vae2 = vae_model_new(8, 2, &rng), *vae3 = vae_model_new(8, 3, &rng);
    REQUIRE(vae2 && vae3);
    dc_tensor *map = vae_latent_map(vae2, 5, 2.0);
    REQUIRE(map);
    CHECK(map->ndim == 4 && map->shape[0] == 25 && map->shape[1] == 1 && map->shape[2] == 28);
    /* the map's centre cell is the decoding of z = 0 */
    dc_tensor *centre = vae_decode(vae2, dc_zeros(DC_F32, DC_SHAPE(1, 2)));
    double *a = dc_test_values(dc_narrow(map, 0, 12, 1)), *b = dc_test_values(centre);
    REQUIRE(a && b);
    CHECK_ALLCLOSE("map centre = decode(0)", a, b, 784, 1e-6, 1e-6);
    free(a), free(b);
    dc_tensor *s = vae_sample(vae3, 6, &rng);
    REQUIRE(s);
    CHECK(dc_item(dc_min(dc_flatten(s, 0, -1), 0, false)) > 0);
    CHECK(dc_item(dc_max(dc_flatten(s, 0, -1), 0, false)) < 1);
    CHECK_ERROR(vae_latent_map(vae3, 5, 2.0) == NULL, "not 2-D");
    CHECK_ERROR(vae_latent_map(vae2, 1, 2.0) == NULL, "side 1");
    dc_module_free(vae2);
    dc_module_free(vae3);
}

TEST(test_vae_rejects_bad_sizes_and_shapes_and_leaves_inputs_unchanged)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    CHECK_ERROR(vae_model_new(0, 2, &rng) == NULL, "hidden 0");
    CHECK_ERROR(vae_model_new(8, 600, &rng) == NULL, "latent 600");
    dc_module *vae = vae_model_new(8, 2, &rng);
    REQUIRE(vae);
    dc_tensor *x = dc_ones(DC_F32, DC_SHAPE(2, 1, 14, 14)), *mu = NULL, *lv = NULL;
    CHECK_ERROR(vae_encode(vae, x, &mu, &lv) != 0, "x must be [N, 1, 28, 28]");
    CHECK(mu == NULL && lv == NULL);
    CHECK_ERROR(vae_decode(vae, dc_zeros(DC_F32, DC_SHAPE(2, 3))) == NULL, "z must be [N, 2]");
    CHECK_ERROR(vae_sample(vae, 0, &rng) == NULL, "n must be >= 1");
    CHECK_NEAR(dc_item(dc_mean_all(x)), 1.0, 0);
    dc_module_free(vae);
}
