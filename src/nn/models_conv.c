/* Fully connected and convolutional architectures (book §5.1, §5.2): the MLP, the book's
 * LeNet-like network, residual blocks and ResNets with torchvision's structure and names.
 * Everything is composed from the modules of nn.h; the only new forwards are the residual
 * blocks' (a sum with a shortcut) and the ResNet's (its children in order). */
#include "deepc/models.h"
#include "../core/internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- MLP (book §5.1) ------------------------------------------------------------------------ */

dc_module *dc_mlp_new(int n_layers, const int64_t *widths, dc_activation activation,
                      double dropout, dc_rng *rng)
{
    if (n_layers < 1 || !widths)
        return dc_error("dc_mlp_new: need at least one layer and n_layers + 1 widths (got %d)",
                        n_layers);
    for (int i = 0; i <= n_layers; i++)
        if (widths[i] <= 0)
            return dc_error("dc_mlp_new: width %d is %lld, must be positive", i,
                            (long long)widths[i]);
    if (!(dropout >= 0 && dropout < 1))
        return dc_error("dc_mlp_new: dropout %g outside [0, 1)", dropout);
    /* torch's defaults: LeakyReLU negative_slope 0.01, Softplus beta 1 (others ignore it) */
    const double act_param = activation == DC_ACT_LEAKY_RELU ? 0.01 : 1.0;
    dc_module *mlp = dc_sequential_new(0);
    bool ok = mlp != NULL;
    for (int i = 0; i < n_layers && ok; i++) {
        ok = dc_sequential_append(mlp, dc_linear_new(widths[i], widths[i + 1], true, rng)) != NULL;
        if (i == n_layers - 1) break;
        ok = ok && dc_sequential_append(mlp, dc_activation_new(activation, act_param)) != NULL;
        if (dropout > 0) ok = ok && dc_sequential_append(mlp, dc_dropout_new(dropout, rng)) != NULL;
    }
    if (!ok) {
        dc_module_free(mlp);
        return dc_error("dc_mlp_new: %s", dc_last_error());
    }
    return mlp;
}

/* ---- LeNet-like (book §5.2, fig. 5.2) -------------------------------------------------------- */

dc_module *dc_lenet_new(int64_t num_classes, dc_rng *rng)
{
    if (num_classes <= 0)
        return dc_error("dc_lenet_new: num_classes %lld must be positive", (long long)num_classes);
    return dc_sequential_new(
        10, dc_conv2d_new(1, 32, 5, 5, DC_CONV2D_DEFAULTS, true, rng),  /* 32x24x24 */
        dc_max_pool2d_new(DC_POOL2D_OPTS(3, 0, 0)),                     /* 32x8x8 */
        dc_activation_new(DC_ACT_RELU, 0),
        dc_conv2d_new(32, 64, 5, 5, DC_CONV2D_DEFAULTS, true, rng),     /* 64x4x4 */
        dc_max_pool2d_new(DC_POOL2D_OPTS(2, 0, 0)),                     /* 64x2x2 */
        dc_activation_new(DC_ACT_RELU, 0),
        dc_flatten_new(1, -1),                                          /* 256 */
        dc_linear_new(256, 200, true, rng), dc_activation_new(DC_ACT_RELU, 0),
        dc_linear_new(200, num_classes, true, rng));
}

/* ---- Residual blocks (book §5.2, fig. 5.3, 5.4) ---------------------------------------------- */

/* conv k x k without bias, torchvision's init: kaiming_normal_(mode='fan_out', relu). */
static dc_module *resnet_conv(int64_t in, int64_t out, int k, int stride, dc_rng *rng)
{
    dc_module *conv = dc_conv2d_new(in, out, k, k, DC_CONV2D_OPTS(stride, k / 2, 1, 1), false, rng);
    if (conv && dc_init_kaiming_normal_(dc_module_param(conv, "weight"), 0.0, false, rng) != 0) {
        dc_module_free(conv);
        return NULL;
    }
    return conv;
}

static dc_module *resnet_bn(int64_t channels) { return dc_batch_norm2d_new(channels, 1e-5, 0.1, true); }

/* The children of a block, borrowed from the block (which owns them). conv3/bn3 only in a
 * bottleneck; downsample only when the shortcut changes the shape. */
typedef struct {
    dc_module *conv[3], *bn[3], *downsample;
    int n_convs;
} block_impl;

/* Basic:      y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
 * Bottleneck: y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))
 * shortcut(x) = x, or bn(conv1x1_stride(x)) (the "downsample" Sequential). */
static dc_tensor *residual_block_forward(dc_module *m, dc_tensor *x)
{
    const block_impl *b = m->impl;
    if (!x) return dc_error("%s: input is NULL", m->type);
    size_t scope = dc_scope_begin();
    dc_tensor *y = x;
    for (int i = 0; i < b->n_convs; i++) {
        y = dc_forward(b->bn[i], dc_forward(b->conv[i], y));
        if (i < b->n_convs - 1) y = dc_relu(y);
    }
    dc_tensor *shortcut = b->downsample ? dc_forward(b->downsample, x) : x;
    return dc_scope_return(scope, dc_relu(dc_add(y, shortcut)));
}

/* A block with convs of kernel sizes kernels[i] and output channels outs[i] (the stride on
 * conv number stride_conv), each followed by a BatchNorm, and torchvision's names. */
static dc_module *residual_block_new(const char *type, const char *op, int64_t in_channels,
                                     int n_convs, const int *kernels, const int64_t *outs,
                                     int stride_conv, int stride, dc_rng *rng)
{
    if (in_channels <= 0 || outs[0] <= 0 || stride < 1)
        return dc_error("%s: channels must be positive and stride >= 1 (in %lld, channels "
                        "%lld, stride %d)", op, (long long)in_channels, (long long)outs[0], stride);
    dc_module *m = dc_module_new_impl(type, &(block_impl){0}, sizeof(block_impl));
    if (!m) return NULL;
    block_impl *b = m->impl;
    m->forward = residual_block_forward;
    b->n_convs = n_convs;
    bool ok = true;
    int64_t channels = in_channels;
    for (int i = 0; i < n_convs && ok; i++) {
        char name[24];
        snprintf(name, sizeof name, "conv%d", i + 1);
        ok = (b->conv[i] = dc_module_add_child(
                  m, name, resnet_conv(channels, outs[i], kernels[i], i == stride_conv ? stride : 1, rng)));
        snprintf(name, sizeof name, "bn%d", i + 1);
        ok = ok && (b->bn[i] = dc_module_add_child(m, name, resnet_bn(outs[i])));
        channels = outs[i];
    }
    if (ok && (stride != 1 || in_channels != channels))
        ok = (b->downsample = dc_module_add_child(
                  m, "downsample",
                  dc_sequential_new(2, resnet_conv(in_channels, channels, 1, stride, rng),
                                    resnet_bn(channels)))) != NULL;
    if (!ok) {
        dc_module_free(m);
        return dc_error("%s: %s", op, dc_last_error());
    }
    return m;
}

dc_module *dc_resnet_basic_block_new(int64_t in_channels, int64_t channels, int stride, dc_rng *rng)
{
    return residual_block_new("BasicBlock", "dc_resnet_basic_block_new", in_channels, 2,
                              (int[]){3, 3}, (int64_t[]){channels, channels}, 0, stride, rng);
}

dc_module *dc_resnet_bottleneck_new(int64_t in_channels, int64_t channels, int stride, dc_rng *rng)
{
    return residual_block_new("Bottleneck", "dc_resnet_bottleneck_new", in_channels, 3,
                              (int[]){1, 3, 1}, (int64_t[]){channels, channels, 4 * channels},
                              1, stride, rng);
}

/* ---- ResNets (book fig. 5.5) ------------------------------------------------------------------ */

/* The children in registration order: stem, stages, pooling, fc. */
static dc_tensor *chain_forward(dc_module *m, dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    for (int i = 0; i < m->n_children && x; i++) x = dc_forward(m->children[i], x);
    return dc_scope_return(scope, x);
}

static void resnet_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_resnet_config *c = m->impl;
    int n = snprintf(buf, size, "%s blocks [", c->block == DC_RESNET_BASIC ? "basic" : "bottleneck");
    for (int i = 0; i < c->n_stages && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%d", i ? ", " : "", c->blocks[i]);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, "], classes=%lld", (long long)c->num_classes);
}

dc_module *dc_resnet_new(const dc_resnet_config *config, dc_rng *rng)
{
    static const char op[] = "dc_resnet_new";
    if (!config) return dc_error("%s: config is NULL", op);
    const dc_resnet_config c = *config;
    if (c.n_stages < 1 || c.n_stages > 4)
        return dc_error("%s: n_stages %d outside [1, 4]", op, c.n_stages);
    if (c.in_channels <= 0 || c.num_classes <= 0 || c.stem_channels <= 0)
        return dc_error("%s: in_channels, stem_channels and num_classes must be positive", op);
    for (int i = 0; i < c.n_stages; i++)
        if (c.blocks[i] < 1 || c.widths[i] < 1)
            return dc_error("%s: stage %d needs >= 1 block and a positive width", op, i + 1);
    dc_module *m = dc_module_new_impl("ResNet", &c, sizeof c);
    if (!m) return NULL;
    m->forward = chain_forward;
    m->describe = resnet_describe;

    bool ok = c.imagenet_stem
                  ? dc_module_add_child(m, "conv1", resnet_conv(c.in_channels, c.stem_channels, 7, 2, rng)) != NULL
                  : dc_module_add_child(m, "conv1", resnet_conv(c.in_channels, c.stem_channels, 3, 1, rng)) != NULL;
    ok = ok && dc_module_add_child(m, "bn1", resnet_bn(c.stem_channels));
    ok = ok && dc_module_add_child(m, "relu", dc_activation_new(DC_ACT_RELU, 0));
    if (c.imagenet_stem)
        ok = ok && dc_module_add_child(m, "maxpool", dc_max_pool2d_new(DC_POOL2D_OPTS(3, 2, 1)));
    int64_t channels = c.stem_channels;
    const int expansion = c.block == DC_RESNET_BASIC ? 1 : 4;
    for (int s = 0; s < c.n_stages && ok; s++) {
        dc_module *stage = dc_sequential_new(0);
        for (int b = 0; b < c.blocks[s] && stage; b++) {
            const int stride = s > 0 && b == 0 ? 2 : 1;
            dc_module *block = c.block == DC_RESNET_BASIC
                                   ? dc_resnet_basic_block_new(channels, c.widths[s], stride, rng)
                                   : dc_resnet_bottleneck_new(channels, c.widths[s], stride, rng);
            if (!dc_sequential_append(stage, block)) {
                dc_module_free(stage);
                stage = NULL;
            }
            channels = c.widths[s] * expansion;
        }
        char name[24];
        snprintf(name, sizeof name, "layer%d", s + 1);
        ok = stage && dc_module_add_child(m, name, stage);
    }
    ok = ok && dc_module_add_child(m, "avgpool", dc_adaptive_avg_pool2d_new(1, 1));
    ok = ok && dc_module_add_child(m, "flatten", dc_flatten_new(1, -1));
    ok = ok && dc_module_add_child(m, "fc", dc_linear_new(channels, c.num_classes, true, rng));
    if (!ok) {
        dc_module_free(m);
        return dc_error("%s: %s", op, dc_last_error());
    }
    return m;
}

/* torchvision's ImageNet ResNets: 64-channel 7x7 stem, stages of widths 64..512. */
static dc_module *imagenet_resnet(dc_resnet_block block, const int *blocks, int64_t num_classes,
                                  int64_t in_channels, dc_rng *rng)
{
    dc_resnet_config c = {block, 4, {blocks[0], blocks[1], blocks[2], blocks[3]},
                          {64, 128, 256, 512}, true, 64, in_channels, num_classes};
    return dc_resnet_new(&c, rng);
}

dc_module *dc_resnet18_new(int64_t num_classes, int64_t in_channels, dc_rng *rng)
{
    return imagenet_resnet(DC_RESNET_BASIC, (int[]){2, 2, 2, 2}, num_classes, in_channels, rng);
}

dc_module *dc_resnet34_new(int64_t num_classes, int64_t in_channels, dc_rng *rng)
{
    return imagenet_resnet(DC_RESNET_BASIC, (int[]){3, 4, 6, 3}, num_classes, in_channels, rng);
}

dc_module *dc_resnet50_new(int64_t num_classes, int64_t in_channels, dc_rng *rng)
{
    return imagenet_resnet(DC_RESNET_BOTTLENECK, (int[]){3, 4, 6, 3}, num_classes, in_channels, rng);
}

dc_module *dc_resnet_small_new(int64_t num_classes, int64_t in_channels, dc_rng *rng)
{
    dc_resnet_config c = {DC_RESNET_BASIC, 3, {2, 2, 2}, {16, 32, 64}, false, 16, in_channels,
                          num_classes};
    return dc_resnet_new(&c, rng);
}
