/* Module system: names like PyTorch's state_dict, counting, summary, freezing, modes. */
#include "test.h"

#include <stdlib.h>

static dc_module *small_mlp(void)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    return dc_sequential_new(5, dc_linear_new(784, 500, true, &rng),
                             dc_activation_new(DC_ACT_RELU, 0), dc_linear_new(500, 10, true, &rng),
                             dc_activation_new(DC_ACT_IDENTITY, 0), dc_flatten_new(1, -1));
}

TEST(test_module_names_match_torch_state_dict)
{
    dc_module *m = small_mlp();
    REQUIRE(m);
    dc_tensor_list params;
    REQUIRE(dc_module_parameters(m, &params) == 0);
    const char *expect[] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    CHECK(params.n == 4);
    for (int i = 0; i < params.n && i < 4; i++) CHECK(strcmp(params.names[i], expect[i]) == 0);
    CHECK(dc_module_param(m, "2.weight") == params.tensors[2]);
    CHECK(dc_module_param(m, "2.nothing") == NULL && dc_module_param(m, "9.weight") == NULL);
    CHECK(params.tensors[0]->shape[0] == 500 && params.tensors[0]->shape[1] == 784);
    CHECK(params.tensors[0]->requires_grad);
    dc_tensor_list_free(&params);
    /* 784*500 + 500 + 500*10 + 10, the number torch prints for this MLP */
    CHECK(dc_module_num_params(m, false) == 397510);
    dc_module_free(m);
}

TEST(test_linear_init_bounds_and_forward)
{
    dc_module *lin = dc_linear_new(16, 4, true, NULL);
    REQUIRE(lin);
    dc_tensor *w = dc_module_param(lin, "weight"), *b = dc_module_param(lin, "bias");
    double *vw = dc_test_values(w);
    REQUIRE(vw);
    double bound = 0.25, lo = 1, hi = -1;
    for (int i = 0; i < 64; i++) {
        lo = vw[i] < lo ? vw[i] : lo;
        hi = vw[i] > hi ? vw[i] : hi;
    }
    CHECK(lo >= -bound && hi <= bound && hi - lo > bound); /* spread over the interval */
    free(vw);
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 16));
    dc_tensor *y = dc_forward(lin, x);
    REQUIRE(y && y->ndim == 3 && y->shape[2] == 4);
    /* y[1][2][3] = sum_k x[1][2][k] w[3][k] + b[3] */
    double expect = dc_item_at(b, (int64_t[]){3});
    for (int k = 0; k < 16; k++)
        expect += dc_item_at(x, (int64_t[]){1, 2, k}) * dc_item_at(w, (int64_t[]){3, k});
    CHECK_NEAR(dc_item_at(y, (int64_t[]){1, 2, 3}), expect, 1e-5);
    CHECK_ERROR(dc_forward(lin, dc_randn(NULL, DC_F32, DC_SHAPE(2, 15))) == NULL,
                "does not end with in_features 16");
    CHECK_ERROR(dc_linear_new(0, 3, true, NULL) == NULL, "positive");
    dc_module_free(lin);
}

TEST(test_module_summary_prints_shapes_and_counts)
{
    dc_module *m = small_mlp();
    REQUIRE(m);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    REQUIRE(out);
    dc_tensor *x = dc_zeros(DC_F32, DC_SHAPE(8, 784));
    CHECK(dc_module_summary(m, x, out) == 0);
    fclose(out);
    REQUIRE(text);
    CHECK(strstr(text, "[8, 500]") && strstr(text, "[8, 10]"));
    CHECK(strstr(text, "392500") && strstr(text, "5010"));
    CHECK(strstr(text, "total params: 397510"));
    CHECK(strstr(text, "in_features=784, out_features=500"));
    free(text);
    dc_module_free(m);
}

TEST(test_freeze_train_eval_and_zero_grad)
{
    dc_module *m = small_mlp();
    REQUIRE(m);
    CHECK(dc_module_freeze(m, "0.", true) == 2);
    CHECK(!dc_module_param(m, "0.weight")->requires_grad);
    CHECK(dc_module_num_params(m, true) == 5010);
    dc_module_train(m, false);
    CHECK(!m->training && !dc_module_child(m, "2")->training);
    dc_module_train(m, true);
    CHECK(dc_module_child(m, "1")->training);
    /* a backward through the frozen layer leaves it without gradient */
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(4, 784));
    dc_tensor *loss = dc_mean_all(dc_forward(m, x));
    REQUIRE(loss && dc_backward(loss) == 0);
    CHECK(dc_module_param(m, "0.weight")->grad == NULL);
    CHECK(dc_module_param(m, "2.weight")->grad != NULL);
    dc_module_zero_grad(m);
    CHECK(dc_module_param(m, "2.weight")->grad == NULL);
    CHECK(dc_module_freeze(m, "", false) == 4);
    dc_module_free(m);
}

TEST(test_module_errors)
{
    dc_module *m = dc_module_new("Custom");
    REQUIRE(m);
    CHECK(dc_module_add_param(m, "w", dc_zeros(DC_F32, DC_SHAPE(2))) != NULL);
    CHECK_ERROR(dc_module_add_param(m, "w", dc_zeros(DC_F32, DC_SHAPE(2))) == NULL,
                "already has a member named 'w'");
    CHECK_ERROR(dc_module_add_buffer(m, "a.b", dc_zeros(DC_F32, DC_SHAPE(2))) == NULL,
                "invalid member name");
    CHECK_ERROR(dc_module_add_child(m, "c", NULL) == NULL, "is NULL");
    CHECK_ERROR(dc_forward(m, NULL) == NULL, "no single-input forward");
    CHECK_ERROR(dc_forward(NULL, NULL) == NULL, "module is NULL");
    /* a NULL child makes Sequential fail and free the others */
    CHECK_ERROR(dc_sequential_new(2, dc_linear_new(2, 2, true, NULL), (dc_module *)NULL) == NULL,
                "NULL");
    dc_module_free(m);
}

TEST(test_initialisers_follow_torch_formulas)
{
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_tensor *w = dc_empty(DC_F64, DC_SHAPE(64, 32, 3, 3)); /* fan_in 288, fan_out 576 */
    REQUIRE(w);
    double std_expect[4] = {sqrt(2.0 / (288 + 576)), sqrt(2.0 / 288), sqrt(2.0 / 576),
                            sqrt(2.0 / (1 + 0.01)) / sqrt(288)};
    for (int which = 0; which < 4; which++) {
        int rc = which == 0 ? dc_init_xavier_normal_(w, 1.0, &rng)
               : which == 1 ? dc_init_kaiming_uniform_(w, 0.0, true, &rng)
               : which == 2 ? dc_init_kaiming_normal_(w, 0.0, false, &rng)
                            : dc_init_kaiming_normal_(w, 0.1, true, &rng);
        REQUIRE(rc == 0);
        double *v = dc_test_values(w), sq = 0;
        REQUIRE(v);
        for (int64_t i = 0; i < dc_numel(w); i++) sq += v[i] * v[i];
        free(v);
        CHECK_NEAR(sqrt(sq / (double)dc_numel(w)), std_expect[which], 0.03 * std_expect[which]);
    }
    CHECK_NEAR(dc_init_gain(DC_ACT_TANH, 0), 5.0 / 3.0, 1e-15);
    CHECK_NEAR(dc_init_gain(DC_ACT_LEAKY_RELU, 0.2), sqrt(2.0 / 1.04), 1e-15);
    CHECK_ERROR(dc_init_xavier_uniform_(dc_empty(DC_F32, DC_SHAPE(5)), 1.0, NULL) != 0, "at least 2 dims");
}
