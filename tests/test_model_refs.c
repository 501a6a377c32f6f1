/* The architectures of models.h (book chapter 5) against the same models built in PyTorch.
 *
 * tests/ref/make_model_refs.py (Debian's python3-torch 1.13, float32) builds each model in
 * plain torch with deepc's structure and state_dict names, sets every parameter and buffer
 * from its name (fill_from_names below computes the same values, so a parameter that is
 * named or laid out differently gets different weights), runs a forward and the backward of
 * sum(y * R), and writes tests/ref/model_refs.txt (committed; `/usr/bin/python3
 * tests/ref/make_model_refs.py` regenerates it). The tests compare the output, the full
 * gradients of the inputs and of a few parameters, sum |grad| of EVERY parameter, updated
 * BatchNorm statistics, and the parameter counts, including torchvision's ResNet-18/34/50.
 * Tolerances: ref_compare's default (rtol 1e-5, see ref_loader.h). */
#include "ref_loader.h"

#define MODEL_REFS "ref/model_refs.txt"

/* ---- Weights from names (mirror of param_values() in make_model_refs.py) -------------------- */

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static uint64_t splitmix64(uint64_t x)
{
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Element i of tensor `name`: offset + scale * (2u - 1), u = (splitmix64(fnv1a64(name) + i)
 * >> 40) / 2^24; offset and scale by name and shape as documented in the script. */
static int fill_tensor(const char *name, dc_tensor *t)
{
    const int64_t n = dc_numel(t);
    double offset = 0, scale;
    if (ends_with(name, "running_var")) offset = 1, scale = 0.5;
    else if (ends_with(name, "running_mean")) scale = 0.2;
    else if (t->ndim == 1 && ends_with(name, "weight")) offset = 1, scale = 0.2;
    else if (t->ndim <= 1) scale = 0.2;
    else {
        int64_t fan = t->ndim == 3 ? t->shape[1] : n / t->shape[0];
        scale = sqrt(3.0 / (double)fan);
    }
    float *values = malloc((size_t)n * sizeof *values);
    if (!values) return -1;
    const uint64_t h = fnv1a64(name);
    for (int64_t i = 0; i < n; i++) {
        double u = (double)(splitmix64(h + (uint64_t)i) >> 40) / 16777216.0;
        values[i] = (float)(offset + scale * (2.0 * u - 1.0));
    }
    size_t scope = dc_scope_begin();
    int rc = dc_copy_(t, dc_from_buffer(DC_F32, t->ndim, t->shape, values));
    dc_scope_end(scope);
    free(values);
    return rc;
}

/* Every float parameter and buffer of m (the int64 num_batches_tracked stays). */
static bool fill_from_names(dc_module *m)
{
    dc_tensor_list state = {0};
    bool ok = dc_module_state(m, &state) == 0;
    for (int i = 0; ok && i < state.n; i++)
        if (state.tensors[i]->dtype != DC_I64) ok = fill_tensor(state.names[i], state.tensors[i]) == 0;
    dc_tensor_list_free(&state);
    return ok;
}

/* ---- One case ------------------------------------------------------------------------------- */

typedef dc_tensor *(*model_forward)(dc_module *m, dc_tensor *const *inputs);

static dc_tensor *single_input(dc_module *m, dc_tensor *const *in) { return dc_forward(m, in[0]); }
static dc_tensor *two_sequences(dc_module *m, dc_tensor *const *in)
{
    return dc_transformer_forward(m, in[0], in[1]);
}

/* "<case>.<rest>" -> rest if entry name has that prefix, else NULL. */
static const char *after_prefix(const char *name, const char *case_name, const char *sub)
{
    size_t n = strlen(case_name), k = strlen(sub);
    if (strncmp(name, case_name, n) != 0 || name[n] != '.') return NULL;
    name += n + 1;
    return strncmp(name, sub, k) == 0 ? name + k : NULL;
}

/* Fill m from names, y = fn(m, inputs) in train or eval mode, backpropagate the seed, and
 * compare everything the script recorded for case_name. Takes ownership of m. */
static void check_model(const char *case_name, dc_module *m, bool training, int n_inputs,
                        const char *const *input_names, model_forward fn)
{
    ref_chain c = {.path = MODEL_REFS};
    char err[512], full[128], what[192];
    dc_tensor_list params = {0};
    if (!m) {
        dc_test_fail(__FILE__, __LINE__, "%s: no model: %s", case_name, dc_last_error());
        return;
    }
    if (ref_load(&c, err, sizeof err) != 0 || !fill_from_names(m) ||
        dc_module_parameters(m, &params) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: setup failed: %s %s", case_name, err, dc_last_error());
        goto done;
    }
    dc_module_train(m, training);
    dc_tensor *in[4] = {0};
    for (int i = 0; i < n_inputs; i++) {
        snprintf(full, sizeof full, "%s.%s", case_name, input_names[i]);
        in[i] = ref_find(&c, "param", full, NULL) ? dc_requires_grad(ref_get(&c, "param", full), true)
                                                  : ref_get(&c, "const", full);
    }
    dc_tensor *y = fn(m, in);
    snprintf(full, sizeof full, "%s.y", case_name);
    dc_tensor *seed = ref_get(&c, "seed", full);
    if (!y || !seed || dc_backward_with(y, seed) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: forward/backward failed: %s", case_name, dc_last_error());
        goto done;
    }
    ref_compare(full, y, ref_find(&c, "out", full, NULL));

    int n_gradabs = 0;
    for (int e = 0; e < c.n; e++) {
        const ref_tensor *want = &c.t[e];
        const char *rest;
        snprintf(what, sizeof what, "%s: %s %s", c.path, want->role, want->name);
        if (strcmp(want->role, "grad") == 0 && (rest = after_prefix(want->name, case_name, ""))) {
            dc_tensor *t = dc_module_param(m, rest);
            for (int i = 0; i < n_inputs && !t; i++)
                if (strcmp(rest, input_names[i]) == 0) t = in[i];
            if (!t || !t->grad) dc_test_fail(__FILE__, __LINE__, "%s: no such gradient in deepc", what);
            else ref_compare(what, t->grad, want);
        } else if (strcmp(want->role, "out") != 0) {
            continue;
        } else if ((rest = after_prefix(want->name, case_name, "gradabs."))) {
            n_gradabs++;
            dc_tensor *p = dc_module_param(m, rest);
            if (!p || !p->grad) dc_test_fail(__FILE__, __LINE__, "%s: deepc has no such parameter or no gradient", what);
            else ref_compare(what, dc_sum_all(dc_abs(p->grad)), want);
        } else if ((rest = after_prefix(want->name, case_name, "state."))) {
            dc_tensor *b = dc_module_buffer(m, rest);
            if (!b) dc_test_fail(__FILE__, __LINE__, "%s: deepc has no such buffer", what);
            else ref_compare(what, b, want);
        } else if ((rest = after_prefix(want->name, case_name, "num_params")) && !*rest) {
            CHECK(dc_module_num_params(m, false) == (int64_t)want->values[0]);
        }
    }
    /* one gradabs entry per torch parameter: equal counts + every lookup found = same names */
    if (n_gradabs != params.n)
        dc_test_fail(__FILE__, __LINE__, "%s: torch has %d parameters, deepc %d", case_name,
                     n_gradabs, params.n);
done:
    dc_tensor_list_free(&params);
    ref_free(&c);
    dc_module_free(m);
}

#define INPUTS(...)                                                                            \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)),                  \
        (const char *const[]){__VA_ARGS__}

/* ---- Cases (same names and configurations as make_model_refs.py) ------------------------ */

TEST(test_lenet_book_matches_torch)
{
    check_model("lenet_book", dc_lenet_new(10, NULL), false, INPUTS("x"), single_input);
}

TEST(test_mlp_gelu_matches_torch)
{
    check_model("mlp_gelu", dc_mlp_new(3, (int64_t[]){20, 16, 12, 5}, DC_ACT_GELU, 0.0, NULL),
                false, INPUTS("x"), single_input);
}

TEST(test_resnet_basic_blocks_training_mode_matches_torch)
{
    dc_resnet_config cfg = {DC_RESNET_BASIC, 2, {2, 1}, {4, 8}, false, 4, 1, 10};
    check_model("resnet_basic_train", dc_resnet_new(&cfg, NULL), true, INPUTS("x"), single_input);
}

TEST(test_resnet_bottleneck_imagenet_stem_eval_mode_matches_torch)
{
    dc_resnet_config cfg = {DC_RESNET_BOTTLENECK, 2, {1, 2}, {2, 4}, true, 4, 3, 5};
    check_model("resnet_bottleneck_eval", dc_resnet_new(&cfg, NULL), false, INPUTS("x"),
                single_input);
}

TEST(test_gpt_tiny_matches_torch)
{
    dc_gpt_config cfg = {.vocab = 11, .context = 8, .layers = 2, .heads = 2, .dim = 16};
    check_model("gpt_tiny", dc_gpt_new(&cfg, NULL), false, INPUTS("ids"), single_input);
}

TEST(test_vit_tiny_matches_torch)
{
    dc_vit_config cfg = {.image_size = 8, .patch = 4, .in_channels = 1, .num_classes = 10,
                         .layers = 2, .heads = 2, .dim = 16, .hidden = 64, .head_hidden = 16};
    check_model("vit_tiny", dc_vit_new(&cfg, NULL), false, INPUTS("x"), single_input);
}

TEST(test_transformer_tiny_matches_torch)
{
    dc_transformer_config cfg = {.src_vocab = 11, .tgt_vocab = 13, .context = 8,
                                 .enc_layers = 2, .dec_layers = 2, .heads = 2, .dim = 16};
    check_model("transformer_tiny", dc_transformer_new(&cfg, NULL), false, INPUTS("src", "tgt"),
                two_sequences);
}

/* ---- Parameter counts of full-size models ----------------------------------------------- */

static void check_count(ref_chain *c, const char *name, dc_module *m)
{
    char full[96];
    snprintf(full, sizeof full, "counts.%s", name);
    ref_tensor *want = ref_find(c, "out", full, NULL);
    if (!m || !want)
        dc_test_fail(__FILE__, __LINE__, "%s: model or reference missing: %s", full, dc_last_error());
    else if (dc_module_num_params(m, false) != (int64_t)want->values[0])
        dc_test_fail(__FILE__, __LINE__, "%s: deepc %lld parameters, torch %lld", full,
                     (long long)dc_module_num_params(m, false), (long long)want->values[0]);
    dc_module_free(m);
}

TEST(test_model_parameter_counts_match_torch_and_torchvision)
{
    ref_chain c = {.path = MODEL_REFS};
    char err[512];
    if (ref_load(&c, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&c);
        return;
    }
    check_count(&c, "resnet18", dc_resnet18_new(1000, 3, NULL));
    check_count(&c, "resnet34", dc_resnet34_new(1000, 3, NULL));
    check_count(&c, "resnet50", dc_resnet50_new(1000, 3, NULL));
    check_count(&c, "resnet_small", dc_resnet_small_new(10, 1, NULL));
    check_count(&c, "lenet", dc_lenet_new(10, NULL));
    check_count(&c, "gpt", dc_gpt_new(&(dc_gpt_config){65, 64, 4, 4, 128, 0.0}, NULL));
    check_count(&c, "vit", dc_vit_new(&(dc_vit_config){.image_size = 28, .patch = 7,
                                                       .in_channels = 1, .num_classes = 10,
                                                       .layers = 4, .heads = 4, .dim = 64,
                                                       .head_hidden = 64}, NULL));
    check_count(&c, "transformer",
                dc_transformer_new(&(dc_transformer_config){100, 120, 32, 2, 2, 4, 64, 0, 0.0}, NULL));
    /* the published torchvision numbers, independent of the script */
    const ref_tensor *r18 = ref_find(&c, "out", "counts.resnet18", NULL),
                     *r34 = ref_find(&c, "out", "counts.resnet34", NULL),
                     *r50 = ref_find(&c, "out", "counts.resnet50", NULL);
    CHECK(r18 && r34 && r50 && r18->values[0] == 11689512 && r34->values[0] == 21797672 &&
          r50->values[0] == 25557032);
    ref_free(&c);
}
