/* Convolution, pooling and upsampling modules (src/nn/conv_layers.c): parameter counts and
 * reprs against the numbers torch 1.13 prints for the same constructors, output shapes,
 * initialisation bounds, the summary, and errors. Values against torch's outputs and
 * gradients are in test_layer_refs.c. */
#include "test.h"

/* One layer: what torch says about it (repr(module), sum of numel of its parameters) and
 * the output shape for one input shape. */
typedef struct {
    const char *repr_args; /* torch's extra_repr */
    int64_t num_params;
    int64_t in_shape[4], out_shape[4];
    int ndim;
} layer_expectation;

/* The layers of the table below, in order (the modules are built at run time). */
static dc_module *build_layer(int i)
{
    switch (i) {
    case 0: return dc_conv2d_new(3, 64, 7, 7, DC_CONV2D_OPTS(2, 3, 1, 1), false, NULL);
    case 1: return dc_conv1d_new(16, 33, 3, 2, 0, 1, 1, true, NULL);
    case 2: return dc_conv_transpose2d_new(16, 33, 3, 5, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 0, 1, 1), true, NULL);
    case 3: return dc_conv2d_new(4, 8, 3, 3, DC_CONV2D_OPTS(1, 0, 1, 2), true, NULL);
    case 4: return dc_conv_transpose2d_new(4, 6, 3, 3, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 1, 2, 1), true, NULL);
    case 5: return dc_conv_transpose1d_new(6, 4, 3, 1, 0, 0, 2, true, 1, NULL);
    case 6: return dc_max_pool2d_new(DC_POOL2D_OPTS(2, 0, 0));
    case 7: return dc_avg_pool2d_new((dc_pool2d_opts){{2, 3}, {0, 0}, {1, 1}});
    case 8: return dc_max_pool1d_new(3, 2, 1);
    case 9: return dc_adaptive_avg_pool2d_new(1, 1);
    case 10: return dc_upsample_nearest_new(2, 2);
    case 11: return dc_upsample_bilinear_new(7, 9, 0, false);
    case 12: return dc_conv2d_new(2, 4, 3, 3, DC_CONV2D_OPTS(1, 2, 2, 1), true, NULL);
    }
    return NULL;
}

/* torch 1.13: repr() and sum(p.numel() for p in m.parameters()) of the same constructors
 * (the Upsample bilinear repr adds align_corners, which torch's leaves out). */
static const layer_expectation layers[] = {
    {"3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False", 9408,
     {1, 3, 224, 224}, {1, 64, 112, 112}, 4},
    {"16, 33, kernel_size=(3,), stride=(2,)", 1617, {2, 16, 50}, {2, 33, 24}, 3},
    {"16, 33, kernel_size=(3, 5), stride=(2, 2)", 7953, {1, 16, 4, 4}, {1, 33, 9, 11}, 4},
    {"4, 8, kernel_size=(3, 3), stride=(1, 1), groups=2", 152, {2, 4, 5, 6}, {2, 8, 3, 4}, 4},
    {"4, 6, kernel_size=(3, 3), stride=(2, 2), output_padding=(1, 1), groups=2", 114,
     {1, 4, 3, 3}, {1, 6, 8, 8}, 4},
    {"6, 4, kernel_size=(3,), stride=(1,), groups=2", 40, {1, 6, 5}, {1, 4, 7}, 3},
    {"kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False", 0, {1, 2, 7, 6},
     {1, 2, 3, 3}, 4},
    {"kernel_size=(2, 3), stride=(2, 3), padding=1", 0, {1, 2, 6, 7}, {1, 2, 4, 3}, 4},
    {"kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False", 0, {2, 3, 10},
     {2, 3, 5}, 3},
    {"output_size=(1, 1)", 0, {2, 5, 7, 3}, {2, 5, 1, 1}, 4},
    {"scale_factor=2.0, mode=nearest", 0, {1, 2, 3, 4}, {1, 2, 6, 8}, 4},
    {"size=(7, 9), mode=bilinear, align_corners=False", 0, {1, 2, 3, 4}, {1, 2, 7, 9}, 4},
    {"2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(2, 2), dilation=(2, 2)", 76,
     {1, 2, 5, 5}, {1, 4, 5, 5}, 4},
};
#define N_LAYERS ((int)(sizeof layers / sizeof layers[0]))

TEST(test_conv_layers_param_counts_reprs_and_shapes_match_torch)
{
    for (int i = 0; i < N_LAYERS; i++) {
        const layer_expectation *e = &layers[i];
        dc_module *m = build_layer(i);
        if (!m) {
            dc_test_fail(__FILE__, __LINE__, "layer %d (%s): %s", i, e->repr_args, dc_last_error());
            continue;
        }
        char args[256];
        m->describe(m, args, sizeof args);
        if (strcmp(args, e->repr_args) != 0)
            dc_test_fail(__FILE__, __LINE__, "%s: repr '%s', torch's '%s'", m->type, args,
                         e->repr_args);
        if (dc_module_num_params(m, false) != e->num_params)
            dc_test_fail(__FILE__, __LINE__, "%s(%s): %lld parameters, torch has %lld", m->type,
                         args, (long long)dc_module_num_params(m, false), (long long)e->num_params);
        dc_tensor *y = dc_forward(m, dc_randn(NULL, DC_F32, e->ndim, e->in_shape));
        char shape[96] = "NULL";
        if (y) dc_shape_str(y, shape, sizeof shape);
        if (!y || y->ndim != e->ndim || memcmp(y->shape, e->out_shape, (size_t)e->ndim * sizeof(int64_t)))
            dc_test_fail(__FILE__, __LINE__, "%s(%s): wrong output shape %s (%s)", m->type, args,
                         shape, dc_last_error());
        dc_module_free(m);
    }
}

TEST(test_conv_weight_shapes_and_names_follow_torch)
{
    dc_module *conv = dc_conv2d_new(4, 8, 3, 2, DC_CONV2D_OPTS(1, 0, 1, 2), true, NULL);
    dc_module *deconv = dc_conv_transpose2d_new(4, 6, 3, 2, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 0, 2, 1),
                                                false, NULL);
    dc_module *conv1 = dc_conv1d_new(3, 5, 4, 1, 0, 1, 1, true, NULL);
    REQUIRE(conv && deconv && conv1);
    const dc_tensor *w = dc_module_param(conv, "weight");
    CHECK(w->ndim == 4 && w->shape[0] == 8 && w->shape[1] == 2 && w->shape[2] == 3 && w->shape[3] == 2);
    CHECK(dc_module_param(conv, "bias")->shape[0] == 8);
    w = dc_module_param(deconv, "weight"); /* [in, out/groups, kh, kw] */
    CHECK(w->ndim == 4 && w->shape[0] == 4 && w->shape[1] == 3 && w->shape[2] == 3 && w->shape[3] == 2);
    CHECK(dc_module_param(deconv, "bias") == NULL);
    w = dc_module_param(conv1, "weight");
    CHECK(w->ndim == 3 && w->shape[0] == 5 && w->shape[1] == 3 && w->shape[2] == 4);
    CHECK(dc_module_param(conv, "weight")->requires_grad);
    dc_module_free(conv);
    dc_module_free(deconv);
    dc_module_free(conv1);
}

/* max |t| over the tensor */
static double max_abs(const dc_tensor *t)
{
    double *v = dc_test_values(t), m = 0;
    for (int64_t i = 0; v && i < dc_numel(t); i++) m = fmax(m, fabs(v[i]));
    free(v);
    return m;
}

/* The uniform bound 1/sqrt(fan_in) is reached (within 5%) and never exceeded. */
static void check_bound(const char *what, const dc_tensor *t, double bound)
{
    double m = max_abs(t);
    if (!(m <= bound && m > 0.95 * bound))
        dc_test_fail(__FILE__, __LINE__, "%s: max |value| %g, expected just below %g", what, m, bound);
}

TEST(test_conv_init_bounds_use_torchs_fan_in)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    /* Conv2d: fan_in = in/groups * kh * kw = 2 * 3 * 3 = 18 */
    dc_module *conv = dc_conv2d_new(4, 64, 3, 3, DC_CONV2D_OPTS(1, 0, 1, 2), true, &rng);
    /* ConvTranspose2d(8, 32, 3, groups 2): weight [8, 16, 3, 3], fan_in = 16 * 9 = 144 (torch
     * uses weight.size(1), i.e. out/groups, not in) */
    dc_module *deconv = dc_conv_transpose2d_new(8, 32, 3, 3, DC_CONV_TRANSPOSE2D_OPTS(1, 0, 0, 2, 1),
                                                true, &rng);
    REQUIRE(conv && deconv);
    check_bound("Conv2d weight", dc_module_param(conv, "weight"), 1 / sqrt(18.0));
    check_bound("Conv2d bias", dc_module_param(conv, "bias"), 1 / sqrt(18.0));
    check_bound("ConvTranspose2d weight", dc_module_param(deconv, "weight"), 1 / sqrt(144.0));
    /* 32 bias values: the largest of 32 uniforms is above 0.95 of the bound only 80% of the
     * time, so check the bound alone */
    CHECK(max_abs(dc_module_param(deconv, "bias")) <= 1 / sqrt(144.0));
    dc_module_free(conv);
    dc_module_free(deconv);
}

TEST(test_summary_shows_conv_layers_with_shapes_and_counts)
{
    dc_module *net = dc_sequential_new(
        4, dc_conv2d_new(3, 64, 7, 7, DC_CONV2D_OPTS(2, 3, 1, 1), false, NULL),
        dc_max_pool2d_new(DC_POOL2D_OPTS(3, 2, 1)), dc_adaptive_avg_pool2d_new(1, 1),
        dc_flatten_new(1, -1));
    REQUIRE(net);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    REQUIRE(out);
    CHECK(dc_module_summary(net, dc_zeros(DC_F32, DC_SHAPE(2, 3, 64, 64)), out) == 0);
    fclose(out);
    REQUIRE(text);
    CHECK(strstr(text, "Conv2d") && strstr(text, "[2, 64, 32, 32]") && strstr(text, "9408"));
    CHECK(strstr(text, "3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False"));
    CHECK(strstr(text, "MaxPool2d") && strstr(text, "[2, 64, 16, 16]"));
    CHECK(strstr(text, "kernel_size=3, stride=2, padding=1"));
    CHECK(strstr(text, "AdaptiveAvgPool2d") && strstr(text, "[2, 64, 1, 1]"));
    CHECK(strstr(text, "total params: 9408"));
    free(text);
    dc_module_free(net);
}

TEST(test_conv_layer_errors_name_the_problem)
{
    dc_module *conv = dc_conv2d_new(3, 8, 3, 3, DC_CONV2D_DEFAULTS, true, NULL);
    dc_module *conv1 = dc_conv1d_new(4, 4, 3, 1, 0, 1, 1, true, NULL);
    REQUIRE(conv && conv1);
    CHECK_ERROR(dc_forward(conv, dc_zeros(DC_F32, DC_SHAPE(1, 4, 8, 8))) == NULL,
                "Conv2d(3, 8): input [1, 4, 8, 8] has 4 channels, expected in_channels=3");
    CHECK_ERROR(dc_forward(conv1, dc_zeros(DC_F32, DC_SHAPE(2, 3, 8))) == NULL,
                "has 3 channels, expected in_channels=4");
    CHECK_ERROR(dc_forward(conv, dc_zeros(DC_F32, DC_SHAPE(3, 8, 8))) == NULL, "4-D");
    CHECK_ERROR(dc_forward(conv, NULL) == NULL, "input is NULL");
    CHECK_ERROR(dc_conv2d_new(6, 8, 3, 3, DC_CONV2D_OPTS(1, 0, 1, 4), true, NULL) == NULL,
                "groups=4 must divide both in_channels=6 and out_channels=8");
    CHECK_ERROR(dc_conv2d_new(0, 8, 3, 3, DC_CONV2D_DEFAULTS, true, NULL) == NULL,
                "in_channels and out_channels must be positive");
    CHECK_ERROR(dc_conv1d_new(2, 2, 0, 1, 0, 1, 1, true, NULL) == NULL, "kernel_size must be >= 1");
    CHECK_ERROR(dc_conv2d_new(2, 2, 3, 3, DC_CONV2D_OPTS(0, 0, 1, 1), true, NULL) == NULL,
                "stride must be >= 1");
    CHECK_ERROR(dc_conv2d_new(2, 2, 3, 3, DC_CONV2D_OPTS(1, -1, 1, 1), true, NULL) == NULL,
                "padding must be >= 0");
    CHECK_ERROR(dc_conv_transpose2d_new(2, 2, 3, 3, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 2, 1, 1), true,
                                        NULL) == NULL,
                "output_padding (2) must be >= 0 and smaller than either stride");
    CHECK_ERROR(dc_max_pool2d_new(DC_POOL2D_OPTS(2, 0, 2)) == NULL, "padding must be between 0");
    CHECK_ERROR(dc_avg_pool1d_new(0, 0, 0) == NULL, "kernel_size must be >= 1");
    CHECK_ERROR(dc_adaptive_avg_pool2d_new(0, 2) == NULL, "output size must be >= 1");
    CHECK_ERROR(dc_upsample_nearest_new(0, 2) == NULL, "scale factors must be integers >= 1");
    CHECK_ERROR(dc_upsample_bilinear_new(4, 4, 2.0, false) == NULL, "not both");
    CHECK_ERROR(dc_upsample_bilinear_new(0, 0, 0, false) == NULL, "scale_factor must be > 0");
    dc_module *up = dc_upsample_bilinear_new(0, 0, 2.0, false);
    REQUIRE(up);
    CHECK_ERROR(dc_forward(up, dc_zeros(DC_F32, DC_SHAPE(2, 3))) == NULL, "4-D [N, C, H, W]");
    dc_module_free(up);
    dc_module_free(conv);
    dc_module_free(conv1);
}

TEST(test_conv_module_trains_through_autograd)
{
    /* a gradient reaches weight and bias of each layer of a conv stack */
    dc_module *net = dc_sequential_new(
        3, dc_conv2d_new(2, 3, 3, 3, DC_CONV2D_OPTS(1, 1, 1, 1), true, NULL),
        dc_conv_transpose2d_new(3, 2, 2, 2, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 0, 1, 1), true, NULL),
        dc_avg_pool2d_new(DC_POOL2D_OPTS(2, 0, 0)));
    REQUIRE(net);
    dc_tensor *loss = dc_mean_all(dc_forward(net, dc_randn(NULL, DC_F32, DC_SHAPE(2, 2, 4, 4))));
    REQUIRE(loss && dc_backward(loss) == 0);
    CHECK(dc_module_param(net, "0.weight")->grad && dc_module_param(net, "0.bias")->grad);
    CHECK(dc_module_param(net, "1.weight")->grad && dc_module_param(net, "1.bias")->grad);
    dc_module_free(net);
}
