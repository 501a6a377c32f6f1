/* The architectures of models.h (book chapter 5): structure and names, forward shapes, the
 * model summary, gradients reaching every parameter, causality, sampling and generation,
 * and the errors of the builders. Numerical agreement with PyTorch is in test_model_refs.c. */
#include "test.h"

/* Forward x, check the output shape, print the summary, backpropagate sum(y^2) in training
 * mode and check that every parameter got a gradient that is not all zero. Frees m. */
static void check_model(const char *what, dc_module *m, dc_tensor *x, int ndim,
                        const int64_t *want_shape)
{
    if (!m || !x) {
        dc_test_fail(__FILE__, __LINE__, "%s: no model or input: %s", what, dc_last_error());
        dc_module_free(m);
        return;
    }
    FILE *sink = tmpfile();
    if (!sink || dc_module_summary(m, x, sink) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: summary failed: %s", what, dc_last_error());
    if (sink) {
        long printed = ftell(sink);
        if (printed < 100) dc_test_fail(__FILE__, __LINE__, "%s: summary printed %ld bytes", what, printed);
        fclose(sink);
    }
    dc_module_train(m, true);
    dc_tensor *y = dc_forward(m, x);
    char got[96];
    bool shape_ok = y && y->ndim == ndim;
    for (int d = 0; shape_ok && d < ndim; d++) shape_ok = y->shape[d] == want_shape[d];
    if (!shape_ok)
        dc_test_fail(__FILE__, __LINE__, "%s: output %s: %s", what,
                     y ? dc_shape_str(y, got, sizeof got) : "NULL", dc_last_error());
    if (y && dc_backward(dc_sum_all(dc_mul(y, y))) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", what, dc_last_error());
    dc_tensor_list params = {0};
    CHECK(dc_module_parameters(m, &params) == 0 && params.n > 0);
    for (int i = 0; y && i < params.n; i++) {
        dc_tensor *g = params.tensors[i]->grad;
        if (!g || !(dc_item(dc_sum_all(dc_abs(g))) > 0))
            dc_test_fail(__FILE__, __LINE__, "%s: parameter %s got %s gradient", what,
                         params.names[i], g ? "an all-zero" : "no");
    }
    dc_tensor_list_free(&params);
    dc_module_free(m);
}

#define SHAPE(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static dc_rng seeded(uint64_t seed)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    return rng;
}

/* int64 ids [rows, cols] with ids[i] = (7 i + 3) % vocab. */
static dc_tensor *ids_tensor(int64_t rows, int64_t cols, int64_t vocab)
{
    int64_t v[256];
    for (int64_t i = 0; i < rows * cols; i++) v[i] = (7 * i + 3) % vocab;
    return dc_from_buffer(DC_I64, 2, (int64_t[]){rows, cols}, v);
}

/* ---- Every model: shape, summary, gradients ------------------------------------------------- */

TEST(test_models_forward_summary_and_gradients_reach_every_parameter)
{
    dc_rng rng = seeded(1);
    check_model("mlp", dc_mlp_new(3, (int64_t[]){12, 16, 8, 3}, DC_ACT_RELU, 0.0, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(5, 12)), SHAPE(5, 3));
    check_model("lenet", dc_lenet_new(10, &rng), dc_randn(&rng, DC_F32, DC_SHAPE(2, 1, 28, 28)),
                SHAPE(2, 10));
    check_model("resnet_small", dc_resnet_small_new(10, 1, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(2, 1, 28, 28)), SHAPE(2, 10));
    check_model("resnet18", dc_resnet18_new(7, 3, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(2, 3, 32, 32)), SHAPE(2, 7));
    dc_gpt_config gpt = {.vocab = 13, .context = 8, .layers = 2, .heads = 2, .dim = 16};
    check_model("gpt", dc_gpt_new(&gpt, &rng), ids_tensor(2, 8, 13), SHAPE(2, 8, 13));
    dc_vit_config vit = {.image_size = 28, .patch = 7, .in_channels = 1, .num_classes = 10,
                         .layers = 2, .heads = 4, .dim = 32, .head_hidden = 32};
    check_model("vit", dc_vit_new(&vit, &rng), dc_randn(&rng, DC_F32, DC_SHAPE(3, 1, 28, 28)),
                SHAPE(3, 10));
    vit.head_hidden = 0; /* one Linear readout */
    check_model("vit_linear_head", dc_vit_new(&vit, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(1, 1, 28, 28)), SHAPE(1, 10));
    check_model("self_attention_block", dc_self_attention_block_new(8, 2, true, 0.0, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(2, 5, 8)), SHAPE(2, 5, 8));
    check_model("feed_forward_block", dc_feed_forward_block_new(8, 32, 0.0, &rng),
                dc_randn(&rng, DC_F32, DC_SHAPE(2, 5, 8)), SHAPE(2, 5, 8));
}

TEST(test_resnet50_output_shape_and_torchvision_names)
{
    dc_rng rng = seeded(2);
    dc_module *m = dc_resnet50_new(10, 3, &rng);
    REQUIRE(m);
    CHECK(dc_module_num_params(m, false) == 25557032 - 2049 * 1000 + 2049 * 10);
    static const char *const present[] = {"conv1.weight", "bn1.weight", "layer1.0.conv3.weight",
                                          "layer1.0.downsample.0.weight", "layer3.5.bn3.bias",
                                          "layer4.0.downsample.1.weight", "fc.weight", "fc.bias"};
    for (size_t i = 0; i < sizeof present / sizeof *present; i++)
        if (!dc_module_param(m, present[i]))
            dc_test_fail(__FILE__, __LINE__, "resnet50 lacks %s", present[i]);
    CHECK(dc_module_buffer(m, "layer2.3.bn2.running_var") != NULL);
    CHECK(dc_module_param(m, "layer1.1.downsample.0.weight") == NULL);
    /* 3x32x32 -> 2048x1x1 after the stem (/4) and three stride-2 stages (/8) */
    dc_module_train(m, false);
    dc_tensor *y = dc_forward(m, dc_randn(&rng, DC_F32, DC_SHAPE(1, 3, 32, 32)));
    CHECK(y && y->ndim == 2 && y->shape[0] == 1 && y->shape[1] == 10);
    dc_module_free(m);
}

/* ---- Residual blocks ------------------------------------------------------------------------- */

TEST(test_resnet_blocks_shapes_and_shortcuts)
{
    dc_rng rng = seeded(3);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(2, 4, 8, 8));
    dc_module *down = dc_resnet_basic_block_new(4, 8, 2, &rng);
    dc_module *same = dc_resnet_basic_block_new(4, 4, 1, &rng);
    dc_module *bottleneck = dc_resnet_bottleneck_new(4, 2, 2, &rng);
    REQUIRE(down && same && bottleneck);
    dc_tensor *y = dc_forward(down, x);
    CHECK(y && y->shape[1] == 8 && y->shape[2] == 4 && y->shape[3] == 4);
    CHECK(dc_module_param(down, "downsample.0.weight") && dc_module_buffer(down, "downsample.1.running_mean"));
    CHECK(dc_module_param(down, "conv1.weight")->shape[2] == 3 && !dc_module_param(down, "conv1.bias"));
    y = dc_forward(same, x);
    CHECK(y && dc_same_shape(y, x) && !dc_module_child(same, "downsample"));
    /* relu(... + x) >= 0 */
    CHECK(y && dc_item(dc_sum_all(dc_lt(y, dc_scalar(DC_F32, 0)))) == 0);
    y = dc_forward(bottleneck, x);
    CHECK(y && y->shape[1] == 8 && y->shape[2] == 4 && dc_module_param(bottleneck, "conv3.weight"));
    /* the stride sits on the 3x3 conv (torchvision's v1.5) */
    CHECK(dc_module_param(bottleneck, "conv2.weight")->shape[2] == 3);
    CHECK_ERROR(!dc_resnet_basic_block_new(0, 4, 1, NULL), "channels must be positive");
    CHECK_ERROR(!dc_resnet_new(&(dc_resnet_config){.n_stages = 5}, NULL), "n_stages 5");
    dc_module_free(down);
    dc_module_free(same);
    dc_module_free(bottleneck);
}

TEST(test_mlp_structure_and_errors)
{
    dc_module *m = dc_mlp_new(2, (int64_t[]){6, 5, 3}, DC_ACT_TANH, 0.25, NULL);
    REQUIRE(m);
    CHECK(m->n_children == 4 && strcmp(m->children[1]->type, "Tanh") == 0 &&
          strcmp(m->children[2]->type, "Dropout") == 0);
    CHECK(dc_module_num_params(m, false) == 6 * 5 + 5 + 5 * 3 + 3);
    CHECK(dc_module_param(m, "3.weight") != NULL);
    dc_module_free(m);
    CHECK_ERROR(!dc_mlp_new(0, (int64_t[]){3}, DC_ACT_RELU, 0, NULL), "at least one layer");
    CHECK_ERROR(!dc_mlp_new(1, (int64_t[]){3, 0}, DC_ACT_RELU, 0, NULL), "width 1 is 0");
    CHECK_ERROR(!dc_mlp_new(1, (int64_t[]){3, 2}, DC_ACT_RELU, 1.0, NULL), "dropout");
}

/* ---- Attention blocks ----------------------------------------------------------------------- */

/* Max |a - b| over position t of sequences [1, T, D]. */
static double position_diff(dc_tensor *a, dc_tensor *b, int64_t t)
{
    return dc_item(dc_max(dc_abs(dc_sub(dc_select(a, 1, t), dc_select(b, 1, t))), -1, false));
}

TEST(test_self_attention_block_causality)
{
    dc_rng rng = seeded(4);
    dc_module *causal = dc_self_attention_block_new(8, 2, true, 0.0, &rng);
    dc_module *full = dc_self_attention_block_new(8, 2, false, 0.0, &rng);
    REQUIRE(causal && full);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(1, 5, 8));
    /* x2 = x with position 3 changed (not by a constant, which the LayerNorm would remove) */
    dc_tensor *bump = dc_zeros(DC_F32, DC_SHAPE(1, 5, 8));
    dc_copy_(dc_select(bump, 1, 3), dc_randn(&rng, DC_F32, DC_SHAPE(1, 8)));
    dc_tensor *x2 = dc_add(x, bump);
    dc_tensor *y = dc_forward(causal, x), *y2 = dc_forward(causal, x2);
    for (int64_t t = 0; t < 3; t++) CHECK(position_diff(y, y2, t) == 0);
    CHECK(position_diff(y, y2, 3) > 1e-3);
    CHECK(position_diff(dc_forward(full, x), dc_forward(full, x2), 0) > 1e-4);
    dc_module_free(causal);
    dc_module_free(full);
    CHECK_ERROR(!dc_self_attention_block_new(10, 3, false, 0, NULL), "must be positive and divide dim");
}

TEST(test_cross_attention_block_shapes_and_typed_forward)
{
    dc_rng rng = seeded(5);
    dc_module *block = dc_cross_attention_block_new(8, 4, 0.0, &rng);
    REQUIRE(block);
    dc_tensor *xq = dc_randn(&rng, DC_F32, DC_SHAPE(2, 3, 8));
    dc_tensor *xkv = dc_randn(&rng, DC_F32, DC_SHAPE(2, 6, 8));
    dc_tensor *y = dc_cross_attention_block_forward(block, xq, xkv);
    CHECK(y && dc_same_shape(y, xq));
    CHECK_ERROR(!dc_forward(block, xq), "no single-input forward");
    CHECK_ERROR(!dc_cross_attention_block_forward(NULL, xq, xkv), "not a CrossAttentionBlock");
    dc_module_free(block);
}

/* ---- Encoder-decoder Transformer ------------------------------------------------------------- */

TEST(test_transformer_shapes_causality_and_gradients)
{
    dc_rng rng = seeded(6);
    dc_transformer_config cfg = {.src_vocab = 9, .tgt_vocab = 7, .context = 10, .enc_layers = 2,
                                 .dec_layers = 2, .heads = 2, .dim = 16};
    dc_module *m = dc_transformer_new(&cfg, &rng);
    REQUIRE(m);
    CHECK(dc_module_param(m, "decoder.layers.1.cross_att.mha.w_q") &&
          dc_module_param(m, "encoder.ln_f.weight") && !dc_module_child(m, "encoder.layers.0.cross_att"));
    dc_tensor *src = ids_tensor(2, 6, 9), *tgt = ids_tensor(2, 4, 7);
    dc_tensor *z = dc_transformer_encode(m, src);
    CHECK(z && z->ndim == 3 && z->shape[1] == 6 && z->shape[2] == 16);
    dc_tensor *logits = dc_transformer_forward(m, src, tgt);
    REQUIRE(logits && logits->ndim == 3 && logits->shape[0] == 2 && logits->shape[1] == 4 &&
            logits->shape[2] == 7);
    /* a later target token does not change earlier logits; any source token changes all */
    dc_tensor *tgt2 = ids_tensor(2, 4, 7);
    ((int64_t *)dc_data(tgt2))[2] = (((int64_t *)dc_data(tgt2))[2] + 1) % 7;
    dc_tensor *l2 = dc_transformer_forward(m, src, tgt2);
    dc_tensor *src2 = ids_tensor(2, 6, 9);
    ((int64_t *)dc_data(src2))[5] = (((int64_t *)dc_data(src2))[5] + 1) % 9;
    dc_tensor *l3 = dc_transformer_forward(m, src2, tgt);
    REQUIRE(l2 && l3);
    CHECK(position_diff(dc_narrow(logits, 0, 0, 1), dc_narrow(l2, 0, 0, 1), 1) == 0);
    CHECK(position_diff(dc_narrow(logits, 0, 0, 1), dc_narrow(l2, 0, 0, 1), 2) > 1e-4);
    CHECK(position_diff(dc_narrow(logits, 0, 0, 1), dc_narrow(l3, 0, 0, 1), 0) > 1e-4);
    /* every parameter is reached, the encoder's through cross-attention */
    dc_ce_opts ce = DC_CE_DEFAULTS;
    CHECK(dc_backward(dc_cross_entropy(dc_reshape(logits, 2, (int64_t[]){8, 7}),
                                       dc_reshape(tgt, 1, (int64_t[]){8}), &ce)) == 0);
    dc_tensor_list params = {0};
    CHECK(dc_module_parameters(m, &params) == 0);
    for (int i = 0; i < params.n; i++)
        if (!params.tensors[i]->grad)
            dc_test_fail(__FILE__, __LINE__, "transformer: %s got no gradient", params.names[i]);
    dc_tensor_list_free(&params);
    CHECK_ERROR(!dc_forward(m, src), "no single-input forward");
    CHECK_ERROR(!dc_transformer_forward(m, src, ids_tensor(1, 11, 7)), "max_len 10");
    dc_module_free(m);
}

/* ---- GPT: structure, errors, sampling, generation ------------------------------------------- */

TEST(test_gpt_structure_init_and_errors)
{
    dc_rng rng = seeded(7);
    dc_gpt_config cfg = {.vocab = 50, .context = 16, .layers = 3, .heads = 4, .dim = 32, .dropout = 0.1};
    dc_module *m = dc_gpt_new(&cfg, &rng);
    REQUIRE(m);
    CHECK(dc_gpt_get_config(m) && dc_gpt_get_config(m)->layers == 3 && !dc_gpt_get_config(NULL));
    CHECK(dc_module_param(m, "blocks.2.self_att.mha.w_o") && dc_module_param(m, "blocks.0.ffw.fc1.bias") &&
          dc_module_param(m, "pos_emb.weight") && dc_module_param(m, "head.weight"));
    /* GPT-2 initialisation: N(0, 0.02) weights, zero biases, LayerNorm gain 1 */
    dc_tensor *emb = dc_module_param(m, "tok_emb.weight");
    double std = sqrt(dc_item(dc_mean_all(dc_mul(emb, emb))));
    CHECK(std > 0.018 && std < 0.022);
    CHECK(dc_item(dc_sum_all(dc_abs(dc_module_param(m, "head.bias")))) == 0);
    CHECK(dc_item(dc_mean_all(dc_module_param(m, "ln_f.weight"))) == 1);
    /* dropout: training forwards differ, eval forwards agree */
    dc_tensor *ids = ids_tensor(1, 10, 50);
    dc_module_train(m, true);
    dc_tensor *a = dc_forward(m, ids), *b = dc_forward(m, ids);
    CHECK(a && b && dc_item(dc_max(dc_flatten(dc_abs(dc_sub(a, b)), 0, -1), 0, false)) > 0);
    dc_module_train(m, false);
    a = dc_forward(m, ids), b = dc_forward(m, ids);
    CHECK(a && b && dc_item(dc_max(dc_flatten(dc_abs(dc_sub(a, b)), 0, -1), 0, false)) == 0);
    CHECK_ERROR(!dc_forward(m, ids_tensor(1, 17, 50)), "context 16");
    CHECK_ERROR(!dc_forward(m, dc_zeros(DC_F32, DC_SHAPE(1, 4))), "expected int64 ids");
    CHECK_ERROR(!dc_forward(m, dc_full(DC_I64, DC_SHAPE(1, 4), 50)), "50");
    dc_module_free(m);
    CHECK_ERROR(!dc_gpt_new(&(dc_gpt_config){.vocab = 5, .context = 4, .layers = 1, .heads = 3,
                                             .dim = 8}, NULL), "divide dim");
    CHECK_ERROR(!dc_gpt_new(&(dc_gpt_config){.vocab = 0, .context = 4, .heads = 1, .dim = 8}, NULL),
                "vocab (0)");
    CHECK_ERROR(!dc_gpt_new(NULL, NULL), "config is NULL");
}

TEST(test_sample_logits_greedy_topk_topp_and_temperature)
{
    dc_rng rng = seeded(8);
    const float logits[4] = {1.0f, 3.0f, 2.0f, 0.5f};
    CHECK(dc_sample_logits(logits, 4, 0.0, 0, 1.0, &rng) == 1);
    CHECK(dc_sample_logits(logits, 4, 1.0, 1, 1.0, &rng) == 1);
    CHECK(dc_sample_logits(logits, 4, 1.0, 0, 1e-6, &rng) == 1);
    int counts[4] = {0};
    for (int i = 0; i < 2000; i++) {
        int64_t k = dc_sample_logits(logits, 4, 1.0, 2, 1.0, &rng); /* only {1, 2} */
        if (k >= 0) counts[k]++;
    }
    CHECK(counts[0] == 0 && counts[3] == 0);
    /* p(1) = e^3 / (e^3 + e^2) = 0.731 among the top 2 */
    CHECK_NEAR(counts[1] / 2000.0, 0.731, 0.035);
    /* top_p 0.7: the top token alone has 0.645 of the mass, so {1, 2} remain */
    int seen2 = 0, seen_other = 0;
    for (int i = 0; i < 500; i++) {
        int64_t k = dc_sample_logits(logits, 4, 1.0, 0, 0.7, &rng);
        seen2 += k == 2;
        seen_other += k == 0 || k == 3;
    }
    CHECK(seen2 > 0 && seen_other == 0);
    /* a high temperature flattens the distribution */
    const float two[2] = {0.0f, (float)log(3.0)};
    int ones = 0;
    for (int i = 0; i < 4000; i++) ones += dc_sample_logits(two, 2, 1.0, 0, 1.0, &rng) == 1;
    CHECK_NEAR(ones / 4000.0, 0.75, 0.03);
    ones = 0;
    for (int i = 0; i < 4000; i++) ones += dc_sample_logits(two, 2, 100.0, 0, 1.0, &rng) == 1;
    CHECK_NEAR(ones / 4000.0, 0.5, 0.03);
    CHECK_ERROR(dc_sample_logits(logits, 0, 1.0, 0, 1.0, &rng) < 0, "need n >= 1");
    CHECK_ERROR(dc_sample_logits(logits, 4, 1.0, 0, 0.0, &rng) < 0, "top_p");
}

TEST(test_gpt_generate_crops_context_and_is_reproducible)
{
    dc_rng rng = seeded(9);
    dc_gpt_config cfg = {.vocab = 17, .context = 6, .layers = 2, .heads = 2, .dim = 16, .dropout = 0.2};
    dc_module *m = dc_gpt_new(&cfg, &rng);
    REQUIRE(m);
    dc_module_train(m, true);
    dc_tensor *prompt = dc_from_buffer(DC_I64, 1, (int64_t[]){3}, (int64_t[]){4, 1, 9});
    dc_rng r1 = seeded(42), r2 = seeded(42);
    /* 3 + 10 tokens: longer than the context of 6, so the window slides */
    dc_tensor *a = dc_gpt_generate(m, prompt, 10, 0.8, 5, 0.95, &r1);
    dc_tensor *b = dc_gpt_generate(m, prompt, 10, 0.8, 5, 0.95, &r2);
    REQUIRE(a && b && a->ndim == 1 && a->shape[0] == 13);
    CHECK(m->training); /* restored */
    int64_t va[13], vb[13];
    for (int64_t i = 0; i < 13; i++) {
        va[i] = (int64_t)dc_item_at(a, &i);
        vb[i] = (int64_t)dc_item_at(b, &i);
        CHECK(va[i] == vb[i] && va[i] >= 0 && va[i] < 17);
    }
    CHECK(va[0] == 4 && va[1] == 1 && va[2] == 9);
    /* greedy generation takes the argmax of the model's last logits, on the last 6 tokens */
    dc_tensor *g = dc_gpt_generate(m, prompt, 8, 0.0, 0, 1.0, NULL);
    REQUIRE(g && g->shape[0] == 11);
    dc_module_train(m, false);
    for (int64_t len = 3; len < 11; len++) {
        int64_t start = len > 6 ? len - 6 : 0;
        dc_tensor *window = dc_unsqueeze(dc_narrow(g, 0, start, len - start), 0);
        dc_tensor *logits = dc_forward(m, window);
        dc_tensor *next = dc_argmax(dc_select(dc_select(logits, 0, 0), 0, len - start - 1), 0, false);
        CHECK(next && dc_item(next) == dc_item_at(g, &len));
    }
    /* a batch of prompts */
    dc_tensor *batch = dc_gpt_generate(m, ids_tensor(2, 2, 17), 3, 1.0, 0, 1.0, &r1);
    CHECK(batch && batch->ndim == 2 && batch->shape[0] == 2 && batch->shape[1] == 5);
    CHECK_ERROR(!dc_gpt_generate(m, dc_zeros(DC_F32, DC_SHAPE(3)), 2, 1.0, 0, 1.0, NULL), "int64 prompt");
    CHECK_ERROR(!dc_gpt_generate(m, prompt, -1, 1.0, 0, 1.0, NULL), "n_new -1");
    CHECK_ERROR(!dc_gpt_generate(NULL, prompt, 1, 1.0, 0, 1.0, NULL), "not a GPT");
    dc_module_free(m);
}

/* Generation caches keys and values while the tokens fit the context: with a batch of two
 * prompts and greedy sampling, every generated token is the argmax of the full forward on
 * all tokens so far (a KV-cache bug shows up as a different token). */
TEST(test_gpt_generate_with_kv_cache_matches_the_full_forward)
{
    dc_rng rng = seeded(11);
    dc_gpt_config cfg = {.vocab = 23, .context = 16, .layers = 3, .heads = 2, .dim = 12};
    dc_module *m = dc_gpt_new(&cfg, &rng);
    REQUIRE(m);
    dc_tensor *prompt = ids_tensor(2, 5, 23);
    dc_tensor *g = dc_gpt_generate(m, prompt, 11, 0.0, 0, 1.0, NULL); /* 16 tokens: all cached */
    REQUIRE(g && g->ndim == 2 && g->shape[0] == 2 && g->shape[1] == 16);
    for (int64_t len = 5; len < 16; len++) {
        dc_tensor *logits = dc_forward(m, dc_narrow(g, 1, 0, len));
        for (int64_t b = 0; b < 2; b++) {
            dc_tensor *next = dc_argmax(dc_select(dc_select(logits, 0, b), 0, len - 1), 0, false);
            CHECK(next && dc_item(next) == dc_item_at(g, (int64_t[]){b, len}));
        }
    }
    dc_module_free(m);
}

/* ---- ViT ------------------------------------------------------------------------------------- */

TEST(test_vit_structure_and_errors)
{
    dc_vit_config cfg = {.image_size = 8, .patch = 4, .in_channels = 3, .num_classes = 5,
                         .layers = 1, .heads = 2, .dim = 8, .head_hidden = 12};
    dc_module *m = dc_vit_new(&cfg, NULL);
    REQUIRE(m);
    CHECK(dc_module_param(m, "cls_token") && dc_module_param(m, "pos_emb.weight")->shape[0] == 5);
    CHECK(dc_module_param(m, "patch_embed.weight")->shape[1] == 3 &&
          dc_module_param(m, "patch_embed.weight")->shape[2] == 4);
    CHECK(dc_module_param(m, "head.4.weight") && dc_module_param(m, "head.4.weight")->shape[0] == 5);
    CHECK_ERROR(!dc_forward(m, dc_zeros(DC_F32, DC_SHAPE(1, 3, 12, 12))), "expected images [B, 3, 8, 8]");
    dc_module_free(m);
    cfg.patch = 3;
    CHECK_ERROR(!dc_vit_new(&cfg, NULL), "patch size dividing image_size");
}
