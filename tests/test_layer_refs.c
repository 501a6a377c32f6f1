/* Layers as modules, every loss and the book's multi-head attention against PyTorch.
 *
 * The values come from tests/ref/make_layer_refs.py (Debian's python3-torch 1.13, float32;
 * `/usr/bin/python3 tests/ref/make_layer_refs.py` regenerates tests/ref/layer_refs.txt, which
 * is committed so the tests need no torch). Each case there runs a torch module or function
 * on random inputs and backpropagates a random seed R; the tests below build the deepc
 * module with the torch module's own parameters (copied by state_dict name), and compare the
 * output and the gradients of every input and parameter. Tolerances: ref_compare's default
 * (rtol 1e-5, see ref_loader.h). */
#include "ref_loader.h"

#define LAYER_REFS "ref/layer_refs.txt"

/* Compare got with the entry (role, "<case>.<name>"). */
static void expect(ref_chain *c, const char *role, const char *case_name, const char *name,
                   const dc_tensor *got)
{
    char full[128], what[192];
    snprintf(full, sizeof full, "%s.%s", case_name, name);
    snprintf(what, sizeof what, "%s: %s %s", c->path, role, full);
    ref_tensor *want = ref_find(c, role, full, NULL);
    if (!want) dc_test_fail(__FILE__, __LINE__, "%s: no entry %s %s", c->path, role, full);
    else ref_compare(what, got, want);
}

/* The case's input `name`: a leaf that requires grad if recorded as a param, else a const. */
static dc_tensor *input(ref_chain *c, const char *case_name, const char *name)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", case_name, name);
    if (ref_find(c, "param", full, NULL))
        return dc_requires_grad(ref_get(c, "param", full), true);
    return ref_get(c, "const", full);
}

/* y = forward(module, inputs, arg) for a case; NULL module for a plain function. */
typedef dc_tensor *(*forward_fn)(dc_module *m, dc_tensor *const *in, const void *arg);

static dc_tensor *module_forward(dc_module *m, dc_tensor *const *in, const void *arg)
{
    (void)arg;
    return dc_forward(m, in[0]);
}

/* The C side of module_case() / function_case() in make_layer_refs.py: copy each parameter
 * of m (if any) from "<case>.<name>", load the inputs, y = fn(m, inputs, arg) (NULL fn:
 * dc_forward on the one input "x"), compare y, backpropagate the seed R, and compare the
 * gradients of every param input and every module parameter. Takes ownership of m. */
static void check_case(const char *case_name, dc_module *m, int n_inputs,
                       const char *const *input_names, forward_fn fn, const void *arg)
{
    static const char *const just_x[] = {"x"};
    if (!fn) fn = module_forward, n_inputs = 1, input_names = just_x;
    ref_chain c = {0};
    dc_tensor_list params = {0};
    if (!ref_open(&c, LAYER_REFS)) {
        dc_module_free(m);
        return;
    }
    if (m && dc_module_parameters(m, &params) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: parameters: %s", case_name, dc_last_error());
    for (int i = 0; i < params.n; i++) {
        char full[128];
        snprintf(full, sizeof full, "%s.%s", case_name, params.names[i]);
        dc_tensor *src = ref_get(&c, "param", full);
        if (!src || dc_copy_(params.tensors[i], src) != 0)
            dc_test_fail(__FILE__, __LINE__, "%s: cannot set %s: %s", c.path, full, dc_last_error());
    }
    dc_tensor *in[8] = {0};
    for (int i = 0; i < n_inputs; i++) in[i] = input(&c, case_name, input_names[i]);
    dc_tensor *y = fn(m, in, arg);
    expect(&c, "out", case_name, "y", y);
    char seed_name[128];
    snprintf(seed_name, sizeof seed_name, "%s.y", case_name);
    dc_tensor *seed = ref_get(&c, "seed", seed_name);
    if (!y || !seed || dc_backward_with(y, seed) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: forward/backward of %s failed: %s", c.path,
                     case_name, dc_last_error());
    } else {
        for (int i = 0; i < n_inputs; i++)
            if (in[i] && in[i]->requires_grad)
                expect(&c, "grad", case_name, input_names[i], in[i]->grad);
        for (int i = 0; i < params.n; i++)
            expect(&c, "grad", case_name, params.names[i], params.tensors[i]->grad);
    }
    dc_tensor_list_free(&params);
    ref_free(&c);
    dc_module_free(m);
}

/* A module case on input x: check_case with the module's own forward. */
static void check_module(const char *case_name, dc_module *m)
{
    if (!m) dc_test_fail(__FILE__, __LINE__, "%s: no module: %s", case_name, dc_last_error());
    else check_case(case_name, m, 0, NULL, NULL, NULL);
}

/* Number and names of the inputs of a function case: INPUTS("input", "target"). */
#define INPUTS(...)                                                                            \
    (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)),                  \
        (const char *const[]){__VA_ARGS__}

/* ---- Layers ------------------------------------------------------------------------------- */

TEST(test_linear_module_on_3d_input_matches_torch)
{
    check_module("linear_3d", dc_linear_new(5, 4, true, NULL));
}

TEST(test_conv1d_module_stride_padding_dilation_groups_matches_torch)
{
    check_module("conv1d_stride2_padding1_dilation2_groups2",
                 dc_conv1d_new(4, 6, 3, 2, 1, 2, 2, true, NULL));
}

TEST(test_conv2d_module_stride_padding_dilation_groups_matches_torch)
{
    check_module("conv2d_stride2_padding1_dilation2_groups2",
                 dc_conv2d_new(4, 6, 3, 2, DC_CONV2D_OPTS(2, 1, 2, 2), true, NULL));
}

TEST(test_conv2d_module_without_bias_matches_torch)
{
    check_module("conv2d_no_bias", dc_conv2d_new(3, 5, 3, 3, DC_CONV2D_OPTS(1, 1, 1, 1), false, NULL));
}

TEST(test_conv_transpose2d_module_stride2_output_padding1_matches_torch)
{
    check_module("conv_transpose2d_stride2_output_padding1",
                 dc_conv_transpose2d_new(4, 6, 3, 3, DC_CONV_TRANSPOSE2D_OPTS(2, 1, 1, 2, 1), true,
                                         NULL));
}

TEST(test_conv_transpose1d_module_stride2_dilation2_matches_torch)
{
    check_module("conv_transpose1d_stride2_dilation2",
                 dc_conv_transpose1d_new(3, 4, 3, 2, 1, 1, 1, true, 2, NULL));
}

TEST(test_pooling_modules_match_torch)
{
    check_module("max_pool2d_k3_stride2_padding1", dc_max_pool2d_new(DC_POOL2D_OPTS(3, 2, 1)));
    check_module("avg_pool2d_k2", dc_avg_pool2d_new(DC_POOL2D_OPTS(2, 0, 0)));
    check_module("max_pool1d_k3_stride2_padding1", dc_max_pool1d_new(3, 2, 1));
    check_module("avg_pool1d_k4_stride3_padding2", dc_avg_pool1d_new(4, 3, 2));
    check_module("adaptive_avg_pool2d_3x2", dc_adaptive_avg_pool2d_new(3, 2));
}

TEST(test_upsample_modules_match_torch)
{
    check_module("upsample_nearest_scale2", dc_upsample_nearest_new(2, 2));
    check_module("upsample_bilinear_size_7x9", dc_upsample_bilinear_new(7, 9, 0, false));
    check_module("upsample_bilinear_scale2_align_corners", dc_upsample_bilinear_new(0, 0, 2, true));
    check_module("upsample_bilinear_scale2", dc_upsample_bilinear_new(0, 0, 2, false));
}

static dc_module *small_lenet(void)
{
    return dc_sequential_new(8, dc_conv2d_new(1, 4, 5, 5, DC_CONV2D_DEFAULTS, true, NULL),
                             dc_max_pool2d_new(DC_POOL2D_OPTS(3, 0, 0)),
                             dc_activation_new(DC_ACT_RELU, 0),
                             dc_conv2d_new(4, 8, 5, 5, DC_CONV2D_DEFAULTS, true, NULL),
                             dc_max_pool2d_new(DC_POOL2D_OPTS(2, 0, 0)),
                             dc_activation_new(DC_ACT_RELU, 0), dc_flatten_new(1, -1),
                             dc_linear_new(32, 10, true, NULL));
}

TEST(test_lenet_sequential_matches_torch_and_its_state_dict)
{
    dc_module *net = small_lenet();
    REQUIRE(net);
    /* the parameter names, order and sizes are torch's state_dict's: each name is in the
     * file (recorded in state_dict order, before the input x) at an increasing position */
    ref_chain c = {0};
    dc_tensor_list params = {0};
    if (ref_open(&c, LAYER_REFS)) {
        CHECK(dc_module_parameters(net, &params) == 0);
        int previous = -1, in_file = 0;
        for (int i = 0; i < c.n; i++)
            in_file += !strcmp(c.t[i].role, "param") &&
                       !strncmp(c.t[i].name, "lenet_sequential.", 17) &&
                       strcmp(c.t[i].name, "lenet_sequential.x") != 0;
        CHECK(params.n == in_file && params.n == 6);
        for (int i = 0; i < params.n; i++) {
            char full[128];
            int index = -1;
            snprintf(full, sizeof full, "lenet_sequential.%s", params.names[i]);
            ref_tensor *want = ref_find(&c, "param", full, &index);
            if (!want) {
                dc_test_fail(__FILE__, __LINE__, "deepc parameter %s is not in torch's state_dict",
                             params.names[i]);
                continue;
            }
            CHECK(index > previous);
            CHECK(dc_numel(params.tensors[i]) == want->numel);
            previous = index;
        }
        ref_tensor *total = ref_find(&c, "out", "lenet_sequential.num_params", NULL);
        CHECK(total && dc_module_num_params(net, false) == (int64_t)total->values[0]);
        dc_tensor_list_free(&params);
        ref_free(&c);
    }
    check_module("lenet_sequential", net);
}

/* ---- Activations as modules ------------------------------------------------------------------ */

TEST(test_activation_modules_match_torch)
{
    check_module("gelu", dc_activation_new(DC_ACT_GELU, 0));
    check_module("gelu_tanh", dc_activation_new(DC_ACT_GELU_TANH, 0));
    check_module("silu", dc_activation_new(DC_ACT_SILU, 0));
    check_module("softplus", dc_activation_new(DC_ACT_SOFTPLUS, 1));
    check_module("softplus_beta2_threshold", dc_activation_new(DC_ACT_SOFTPLUS, 2));
    check_module("leaky_relu_0_2", dc_activation_new(DC_ACT_LEAKY_RELU, 0.2));
    check_module("tanh", dc_activation_new(DC_ACT_TANH, 0));
    check_module("sigmoid", dc_activation_new(DC_ACT_SIGMOID, 0));
}

/* ---- Losses ------------------------------------------------------------------------------------- */

static dc_tensor *cross_entropy(dc_module *m, dc_tensor *const *in, const void *opts)
{
    (void)m;
    return dc_cross_entropy(in[0], in[1], opts);
}

static dc_tensor *nll_loss(dc_module *m, dc_tensor *const *in, const void *opts)
{
    (void)m;
    return dc_nll_loss(in[0], in[1], opts);
}

/* The reduction-only losses, arg = &reduction. */
static dc_tensor *mse_loss(dc_module *m, dc_tensor *const *in, const void *reduction)
{
    (void)m;
    return dc_mse_loss(in[0], in[1], *(const dc_reduction *)reduction);
}

static dc_tensor *bce_loss(dc_module *m, dc_tensor *const *in, const void *reduction)
{
    (void)m;
    return dc_bce_loss(in[0], in[1], *(const dc_reduction *)reduction);
}

static dc_tensor *bce_with_logits(dc_module *m, dc_tensor *const *in, const void *reduction)
{
    (void)m;
    return dc_bce_with_logits(in[0], in[1], *(const dc_reduction *)reduction);
}

static void check_cross_entropy(const char *case_name, dc_ce_opts opts)
{
    check_case(case_name, NULL, INPUTS("input", "target"), cross_entropy, &opts);
}

TEST(test_cross_entropy_class_indices_matches_torch)
{
    check_cross_entropy("cross_entropy_class_indices", DC_CE_DEFAULTS);
}

TEST(test_cross_entropy_per_pixel_matches_torch)
{
    check_cross_entropy("cross_entropy_per_pixel", DC_CE_DEFAULTS);
}

TEST(test_cross_entropy_ignore_index_matches_torch)
{
    check_cross_entropy("cross_entropy_ignore_index_default", DC_CE_DEFAULTS);
    check_cross_entropy("cross_entropy_ignore_index_2_per_token",
                        (dc_ce_opts){DC_REDUCE_MEAN, 2, 0.0});
}

TEST(test_cross_entropy_label_smoothing_matches_torch)
{
    check_cross_entropy("cross_entropy_label_smoothing", (dc_ce_opts){DC_REDUCE_MEAN, -100, 0.1});
    check_cross_entropy("cross_entropy_label_smoothing_ignore_index_per_pixel",
                        (dc_ce_opts){DC_REDUCE_MEAN, -100, 0.1});
}

TEST(test_cross_entropy_reduction_sum_and_none_match_torch)
{
    check_cross_entropy("cross_entropy_sum", (dc_ce_opts){DC_REDUCE_SUM, -100, 0.0});
    check_cross_entropy("cross_entropy_none_per_pixel", (dc_ce_opts){DC_REDUCE_NONE, -100, 0.0});
}

TEST(test_nll_loss_matches_torch)
{
    dc_ce_opts mean = DC_CE_DEFAULTS, sum_ignore_0 = {DC_REDUCE_SUM, 0, 0.0};
    check_case("nll_loss", NULL, INPUTS("input", "target"), nll_loss, &mean);
    check_case("nll_loss_ignore_index_sum", NULL, INPUTS("input", "target"), nll_loss,
               &sum_ignore_0);
}

TEST(test_mse_loss_matches_torch)
{
    dc_reduction mean = DC_REDUCE_MEAN, sum = DC_REDUCE_SUM;
    check_case("mse_loss", NULL, INPUTS("input", "target"), mse_loss, &mean);
    check_case("mse_loss_sum_broadcast", NULL, INPUTS("input", "target"), mse_loss, &sum);
}

TEST(test_bce_losses_match_torch)
{
    dc_reduction mean = DC_REDUCE_MEAN, none = DC_REDUCE_NONE;
    check_case("bce_loss", NULL, INPUTS("input", "target"), bce_loss, &mean);
    check_case("bce_with_logits", NULL, INPUTS("input", "target"), bce_with_logits, &mean);
    check_case("bce_with_logits_none", NULL, INPUTS("input", "target"), bce_with_logits, &none);
}

static dc_tensor *triplet_margin_loss(dc_module *m, dc_tensor *const *in, const void *arg)
{
    (void)m, (void)arg;
    return dc_triplet_margin_loss(in[0], in[1], in[2], 1.0);
}

TEST(test_triplet_margin_loss_matches_torch)
{
    check_case("triplet_margin_loss", NULL, INPUTS("anchor", "positive", "negative"),
               triplet_margin_loss, NULL);
}

static dc_tensor *kl_normal(dc_module *m, dc_tensor *const *in, const void *arg)
{
    (void)m, (void)arg;
    return dc_kl_normal(in[0], in[1]);
}

TEST(test_kl_normal_matches_torch_distributions_closed_form)
{
    check_case("kl_normal", NULL, INPUTS("mu", "logvar"), kl_normal, NULL);
}

/* ---- Multi-head attention ---------------------------------------------------------------------- */

/* Self-attention through the module's forward (in: x, w_q, w_k, w_v, w_o; the weights are
 * the module's parameters and only listed to load the names). */
static dc_tensor *mha_self(dc_module *m, dc_tensor *const *in, const void *arg)
{
    (void)arg;
    return dc_forward(m, in[0]);
}

/* Cross-attention with a mask (in: xq, xkv, mask). */
static dc_tensor *mha_cross(dc_module *m, dc_tensor *const *in, const void *arg)
{
    (void)arg;
    return dc_mha_forward(m, in[0], in[1], in[2]);
}

TEST(test_mha_self_attention_matches_torch_book_formula)
{
    check_case("mha_self_attention", dc_mha_new(8, 2, 3, 4, false, 0, NULL), INPUTS("x"),
               mha_self, NULL);
}

TEST(test_mha_causal_self_attention_matches_torch_book_formula)
{
    check_case("mha_causal_self_attention", dc_mha_new(6, 3, 2, 2, true, 0, NULL), INPUTS("x"),
               mha_self, NULL);
}

TEST(test_mha_cross_attention_with_mask_matches_torch_book_formula)
{
    check_case("mha_cross_attention_mask", dc_mha_new(8, 2, 4, 3, false, 0, NULL),
               INPUTS("xq", "xkv", "mask"), mha_cross, NULL);
}
