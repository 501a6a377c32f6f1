/* The MLP language model (apps/mlplm): the hand-written backward against autograd in float64,
 * the windows, the diagnostics statistics, the task contract, bad inputs. */
#include "test.h"

#include "mlplm/mlplm.h"

/* Autograd's gradients and the hand-derived ones of one batch, max |difference| over all. */
static double ninja_gap(bool batchnorm, int depth)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    mlplm_config c = {7, 3, 4, 6, depth, batchnorm};
    dc_module *m = mlplm_new(&c, &rng);
    if (!m || mlplm_to_dtype(m, DC_F64) != 0) return dc_module_free(m), INFINITY;
    /* break the symmetry of the zero head bias and unit BatchNorm affine */
    dc_tensor_list ps;
    dc_module_parameters(m, &ps);
    for (int i = 0; i < ps.n; i++) {
        dc_tensor *noise = dc_normal(&rng, DC_F64, ps.tensors[i]->ndim, ps.tensors[i]->shape, 0, 0.3);
        dc_add_(ps.tensors[i], noise);
    }
    dc_tensor *ids = dc_randint(&rng, 0, 7, DC_SHAPE(16, 3));
    dc_tensor *targets = dc_randint(&rng, 0, 7, DC_SHAPE(16));
    dc_module_train(m, true);
    dc_tensor *loss = dc_cross_entropy(dc_forward(m, ids), targets, NULL);
    double gap = INFINITY;
    dc_tensor *grads[64];
    if (loss && dc_backward(loss) == 0) {
        dc_tensor *mloss = mlplm_manual_backward(m, ids, targets, grads);
        if (mloss) {
            gap = fabs(dc_item(mloss) - dc_item(loss));
            for (int i = 0; i < ps.n; i++) {
                double *a = dc_test_values(ps.tensors[i]->grad), *b = dc_test_values(grads[i]);
                for (int64_t j = 0; a && b && j < dc_numel(grads[i]); j++)
                    gap = fmax(gap, fabs(a[j] - b[j]));
                if (!a || !b || !dc_same_shape(ps.tensors[i], grads[i])) gap = INFINITY;
                free(a), free(b);
            }
        }
    }
    dc_tensor_list_free(&ps);
    dc_module_free(m);
    return gap;
}

TEST(test_mlplm_hand_written_backward_matches_autograd_in_float64)
{
    double gap = ninja_gap(true, 2);
    EXPECT(gap < 1e-10, "batch norm, 2 layers: max |manual - autograd| = %g", gap);
    gap = ninja_gap(false, 1);
    EXPECT(gap < 1e-10, "no batch norm, 1 layer: max |manual - autograd| = %g", gap);
}

TEST(test_mlplm_windows_pad_each_line_with_the_boundary)
{
    /* "ab\nc\n" as 1 2 0 3 0 with block 2 */
    int64_t ids[] = {1, 2, 0, 3, 0};
    dc_dataset *ds = mlplm_windows(ids, 5, 0, 4, 2);
    REQUIRE(ds);
    int64_t want[5][2] = {{0, 0}, {0, 1}, {1, 2}, {0, 0}, {0, 3}};
    const int64_t *x = dc_data(ds->inputs), *y = dc_data(ds->targets);
    for (int i = 0; i < 5; i++) {
        CHECK(x[2 * i] == want[i][0] && x[2 * i + 1] == want[i][1]);
        CHECK(y[i] == ids[i]);
    }
    dc_dataset_free(ds);
    CHECK_ERROR(mlplm_windows(ids, 5, 0, 3, 2) == NULL, "id 3 at 3");
    CHECK_ERROR(mlplm_windows(ids, 5, 0, 4, 0) == NULL, "block < 1");
}

TEST(test_mlplm_stats_of_a_known_tensor)
{
    dc_tensor *t = dc_from_buffer(DC_F64, DC_SHAPE(4), (double[]){-1, -0.5, 0.5, 0.99});
    double mean, std, sat, centers[2], density[2];
    REQUIRE(mlplm_stats(t, 0.97, -1, 1, 2, &mean, &std, &sat, centers, density) == 0);
    CHECK_NEAR(mean, -0.0025, 1e-12);
    CHECK_NEAR(sat, 0.5, 0);
    CHECK_NEAR(centers[0], -0.5, 1e-12);
    CHECK_NEAR(density[0], 0.5, 1e-12); /* 2 of 4 values in a bin of width 1 */
    CHECK_NEAR(density[1], 0.5, 1e-12);
    double m2 = 0;
    double v[4] = {-1, -0.5, 0.5, 0.99};
    for (int i = 0; i < 4; i++) m2 += (v[i] - mean) * (v[i] - mean);
    CHECK_NEAR(std, sqrt(m2 / 4), 1e-12);
}

TEST(test_mlplm_rejects_bad_configs_and_ids)
{
    mlplm_config c = {27, 3, 10, 32, 0, true};
    CHECK_ERROR(mlplm_new(&c, NULL) == NULL, "depth (0)");
    c.depth = 2;
    dc_module *m = mlplm_new(&c, NULL);
    REQUIRE(m);
    CHECK(dc_module_param(m, "layers.1.bn.weight") && !dc_module_param(m, "layers.0.fc.bias"));
    dc_tensor *ids = dc_zeros(DC_I64, DC_SHAPE(4, 2));
    CHECK_ERROR(mlplm_forward(m, ids, NULL) == NULL, "[B, 3]");
    dc_tensor *grads[16];
    dc_tensor *ok_ids = dc_zeros(DC_I64, DC_SHAPE(4, 3));
    CHECK_ERROR(mlplm_manual_backward(m, ok_ids, dc_zeros(DC_I64, DC_SHAPE(5)), grads) == NULL,
                "targets must be int64 [4]");
    CHECK_ERROR(mlplm_forward(m, dc_full(DC_I64, DC_SHAPE(4, 3), 27), NULL) == NULL, "27");
    dc_module_free(m);
}

TEST(test_mlplm_task_trains_on_the_names_sample_and_the_loss_falls)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&mlplm_task, "width = 32\ndepth = 2\n", 32, 3e-3, 200, &first,
                               &last, &m));
    EXPECT(last < 0.85 * first, "loss %.4f -> %.4f did not fall by 15%%", first, last);
    CHECK(!strcmp(m.metrics[0].name, "nll") && m.metrics[0].value < 3.2);
}
