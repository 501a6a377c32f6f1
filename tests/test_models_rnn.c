/* The recurrent language model of src/nn/models_rnn.c: names and sizes, state carrying
 * (two halves with the carried states = the whole window), a few optimisation steps lowering
 * the loss, generation (deterministic, consistent with the full forward) and bad inputs. */
#include "test.h"

#include <math.h>

static const dc_rnn_lm_config small_lm = {DC_RNN_LSTM, 11, 6, 8, 2, 0.0};

/* ids [B, T] = (3 b + 5 t) % vocab. */
static dc_tensor *pattern_ids(int64_t B, int64_t T, int64_t vocab)
{
    dc_tensor *ids = dc_empty(DC_I64, DC_SHAPE(B, T));
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            ((int64_t *)dc_data(ids))[b * T + t] = (3 * b + 5 * t) % vocab;
    return ids;
}

TEST(test_rnn_lm_has_torch_names_and_counts_its_parameters)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_module *lm = dc_rnn_lm_new(&small_lm, &rng);
    REQUIRE(lm);
    CHECK(dc_rnn_lm_get_config(lm) && dc_rnn_lm_get_config(lm)->hidden == 8);
    CHECK(dc_module_param(lm, "emb.weight") && dc_module_param(lm, "rnn.weight_ih_l0"));
    CHECK(dc_module_param(lm, "rnn.weight_hh_l1") && dc_module_param(lm, "head.bias"));
    CHECK(dc_module_param(lm, "rnn.weight_ih_l1")->shape[1] == 8);
    /* emb 11*6, layer 0 4*8*(6+8)+2*32, layer 1 4*8*16+2*32, head 8*11+11 */
    CHECK(dc_module_num_params(lm, true) == 66 + 512 + 576 + 99);
    dc_tensor *logits = dc_forward(lm, pattern_ids(3, 5, 11));
    REQUIRE(logits);
    CHECK(logits->ndim == 3 && logits->shape[0] == 3 && logits->shape[1] == 5 &&
          logits->shape[2] == 11);
    CHECK(dc_gpt_get_config(lm) == NULL); /* not mistaken for a GPT */
    dc_module_free(lm);
}

TEST(test_rnn_lm_carried_states_continue_the_window_exactly)
{
    const dc_rnn_mode modes[] = {DC_RNN_LSTM, DC_RNN_GRU};
    for (int m = 0; m < 2; m++) {
        dc_rnn_lm_config c = small_lm;
        c.mode = modes[m];
        dc_rng rng;
        dc_rng_seed(&rng, 2);
        dc_module *lm = dc_rnn_lm_new(&c, &rng);
        REQUIRE(lm);
        dc_tensor *ids = pattern_ids(2, 7, 11), *h = NULL, *cs = NULL;
        dc_tensor *whole = dc_rnn_lm_forward(lm, ids, NULL, NULL, NULL, NULL);
        dc_tensor *first = dc_rnn_lm_forward(lm, dc_narrow(ids, 1, 0, 3), NULL, NULL, &h,
                                             c.mode == DC_RNN_LSTM ? &cs : NULL);
        REQUIRE(whole && first && h);
        CHECK(h->ndim == 3 && h->shape[0] == 2 && h->shape[1] == 2 && h->shape[2] == 8);
        CHECK((cs != NULL) == (c.mode == DC_RNN_LSTM));
        dc_tensor *second = dc_rnn_lm_forward(lm, dc_narrow(ids, 1, 3, 4), h, cs, NULL, NULL);
        REQUIRE(second);
        double *a = dc_test_values(dc_cat((dc_tensor *[]){first, second}, 2, 1));
        double *b = dc_test_values(whole);
        CHECK(a && b && CHECK_ALLCLOSE("halves vs whole", a, b, 2 * 7 * 11, 1e-5, 1e-6));
        free(a), free(b);
        dc_module_free(lm);
    }
}

TEST(test_rnn_lm_a_few_adam_steps_lower_the_loss)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_rnn_lm_config c = small_lm;
    c.dropout = 0.1;
    dc_module *lm = dc_rnn_lm_new(&c, &rng);
    REQUIRE(lm);
    dc_tensor_list params;
    REQUIRE(dc_module_parameters(lm, &params) == 0);
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, 0.02);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    REQUIRE(opt);
    dc_tensor *ids = pattern_ids(4, 9, 11);
    dc_tensor *x = dc_narrow(ids, 1, 0, 8), *y = dc_contiguous(dc_narrow(ids, 1, 1, 8));
    double first = NAN, last = NAN;
    for (int step = 0; step < 30; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *logits = dc_forward(lm, x);
        dc_tensor *loss = dc_cross_entropy(dc_reshape(logits, DC_SHAPE(-1, 11)),
                                           dc_reshape(y, DC_SHAPE(-1)), NULL);
        REQUIRE(loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0);
        dc_optimizer_zero_grad(opt);
        last = dc_item(loss);
        if (step == 0) first = last;
        dc_scope_end(scope);
    }
    EXPECT(last < 0.5 * first, "loss %g -> %g after 30 steps", first, last);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(lm);
}

TEST(test_rnn_lm_generate_is_deterministic_and_greedy_matches_the_full_forward)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_module *lm = dc_rnn_lm_new(&small_lm, &rng);
    REQUIRE(lm);
    dc_tensor *prompt = pattern_ids(2, 3, 11);
    dc_rng a, b;
    dc_rng_seed(&a, 9), dc_rng_seed(&b, 9);
    dc_tensor *x = dc_rnn_lm_generate(lm, prompt, 12, 1.0, 0, 1.0, &a);
    dc_tensor *y = dc_rnn_lm_generate(lm, prompt, 12, 1.0, 0, 1.0, &b);
    REQUIRE(x && y);
    CHECK(x->ndim == 2 && x->shape[0] == 2 && x->shape[1] == 15);
    CHECK(dc_item(dc_any(dc_ne(x, y))) == 0);
    CHECK(dc_item(dc_any(dc_ne(dc_narrow(x, 1, 0, 3), prompt))) == 0);
    CHECK(lm->training); /* restored */
    /* greedy with carried states = argmax of the full forward at each position */
    dc_tensor *g = dc_rnn_lm_generate(lm, dc_reshape(dc_narrow(prompt, 0, 0, 1), DC_SHAPE(3)), 6,
                                      0.0, 0, 1.0, &a);
    REQUIRE(g && g->ndim == 1 && g->shape[0] == 9);
    bool grad = dc_no_grad_begin();
    dc_module_train(lm, false);
    dc_tensor *full = dc_forward(lm, dc_reshape(dc_narrow(g, 0, 0, 8), DC_SHAPE(1, 8)));
    dc_module_train(lm, true);
    dc_grad_mode_restore(grad);
    dc_tensor *best = dc_argmax(full, -1, false);
    REQUIRE(best);
    for (int64_t t = 2; t < 8; t++)
        CHECK(dc_item_at(best, (int64_t[]){0, t}) == dc_item_at(g, (int64_t[]){t + 1}));
    dc_module_free(lm);
}

TEST(test_rnn_lm_bad_configs_ids_and_states_are_errors)
{
    dc_rnn_lm_config c = small_lm;
    CHECK_ERROR(dc_rnn_lm_new(NULL, NULL) == NULL, "config is NULL");
    c.vocab = 0;
    CHECK_ERROR(dc_rnn_lm_new(&c, NULL) == NULL, "must be positive");
    c = small_lm, c.layers = 0;
    CHECK_ERROR(dc_rnn_lm_new(&c, NULL) == NULL, "must be positive");
    c = small_lm, c.dropout = 1.0;
    CHECK_ERROR(dc_rnn_lm_new(&c, NULL) == NULL, "dropout 1");
    c = small_lm, c.mode = (dc_rnn_mode)17;
    CHECK_ERROR(dc_rnn_lm_new(&c, NULL) == NULL, "unknown mode 17");
    dc_module *lm = dc_rnn_lm_new(&small_lm, NULL);
    REQUIRE(lm);
    CHECK_ERROR(dc_forward(lm, dc_zeros(DC_F32, DC_SHAPE(2, 3))) == NULL, "expected int64 ids");
    CHECK_ERROR(dc_forward(lm, dc_zeros(DC_I64, DC_SHAPE(6))) == NULL, "[B, T]");
    CHECK_ERROR(dc_forward(lm, dc_full(DC_I64, DC_SHAPE(1, 2), 11.0)) == NULL, "11");
    dc_tensor *ids = pattern_ids(2, 4, 11), *h0 = dc_zeros(DC_F32, DC_SHAPE(2, 3, 8));
    CHECK_ERROR(dc_rnn_lm_forward(lm, ids, h0, NULL, NULL, NULL) == NULL, "h0 must be");
    CHECK(dc_item(dc_sum_all(h0)) == 0 && dc_item_at(ids, (int64_t[]){1, 1}) == 8); /* untouched */
    dc_module *gpt = dc_linear_new(2, 2, true, NULL);
    CHECK_ERROR(dc_rnn_lm_forward(gpt, ids, NULL, NULL, NULL, NULL) == NULL, "not a recurrent LM");
    CHECK_ERROR(dc_rnn_lm_generate(gpt, ids, 3, 1, 0, 1, NULL) == NULL, "not a recurrent LM");
    CHECK_ERROR(dc_rnn_lm_generate(lm, dc_zeros(DC_I64, DC_SHAPE(2, 0)), 3, 1, 0, 1, NULL) == NULL,
                "T0 >= 1");
    CHECK_ERROR(dc_rnn_lm_generate(lm, ids, -1, 1, 0, 1, NULL) == NULL, "n_new -1");
    CHECK_ERROR(dc_rnn_lm_generate(lm, ids, 2, 1, 0, 0.0, NULL) == NULL, "top_p 0");
    dc_module_free(gpt);
    dc_module_free(lm);
}
