/* Convolution, pooling and upsampling layers as modules (book §4.2, §4.4): Conv1d/2d,
 * ConvTranspose1d/2d, MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool2d, Upsample.
 *
 * Each is a thin wrapper over its functional op (src/ops/conv.c, pool.c) with torch.nn's
 * argument order, parameter names ("weight", "bias"), initialisation and repr. A 1-D layer
 * is stored like a 2-D one whose second spatial dim is unused (kernel 1, stride 1, ...), so
 * the constructors, checks and describe functions are shared. */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends printf-style text at the end of buf (truncating silently, as snprintf). */
static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= size) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, size - used, fmt, ap);
    va_end(ap);
}

/* torch's repr of a size argument stored as a tuple: "(3, 3)" (2-D) or "(3,)" (1-D). */
static void append_tuple(char *buf, size_t size, int spatial, const int *v)
{
    if (spatial == 1) append(buf, size, "(%d,)", v[0]);
    else append(buf, size, "(%d, %d)", v[0], v[1]);
}

/* torch's repr of a size argument stored as given: an int when square, else a tuple. */
static void append_size(char *buf, size_t size, int spatial, const int *v)
{
    if (spatial == 1 || v[0] == v[1]) append(buf, size, "%d", v[0]);
    else append(buf, size, "(%d, %d)", v[0], v[1]);
}

static bool all_equal(int spatial, const int *v, int value)
{
    for (int d = 0; d < spatial; d++)
        if (v[d] != value) return false;
    return true;
}

/* ---- Conv1d / Conv2d / ConvTranspose1d / ConvTranspose2d ---------------------------------- */

typedef struct {
    int spatial; /* 1 (NCL) or 2 (NCHW) */
    bool transposed;
    int64_t in_channels, out_channels;
    int kernel[2], stride[2], padding[2], output_padding[2], dilation[2], groups;
} conv_impl;

/* Forward: the functional op of the layer's kind with its weight [out, in/groups, k...]
 * (transposed: [in, out/groups, k...]) and optional bias [out]. The channel count is checked
 * here so the message names the layer as the user built it. */
static dc_tensor *conv_forward(dc_module *m, dc_tensor *x)
{
    const conv_impl *c = m->impl;
    if (!x) return dc_error("%s: input is NULL", m->type);
    if (x->ndim == c->spatial + 2 && x->shape[1] != c->in_channels) {
        char shape[96];
        return dc_error("%s(%lld, %lld): input %s has %lld channels, expected in_channels=%lld",
                        m->type, (long long)c->in_channels, (long long)c->out_channels,
                        dc__shape_fmt(x->ndim, x->shape, shape, sizeof shape),
                        (long long)x->shape[1], (long long)c->in_channels);
    }
    dc_tensor *w = dc_module_param(m, "weight"), *b = dc_module_param(m, "bias");
    if (c->spatial == 1 && !c->transposed)
        return dc_conv1d(x, w, b, c->stride[0], c->padding[0], c->dilation[0], c->groups);
    if (c->spatial == 1)
        return dc_conv_transpose1d(x, w, b, c->stride[0], c->padding[0], c->output_padding[0],
                                   c->groups, c->dilation[0]);
    if (!c->transposed) {
        dc_conv2d_opts o = {.groups = c->groups};
        for (int d = 0; d < 2; d++)
            o.stride[d] = c->stride[d], o.padding[d] = c->padding[d], o.dilation[d] = c->dilation[d];
        return dc_conv2d(x, w, b, o);
    }
    dc_conv_transpose2d_opts o = {.groups = c->groups};
    for (int d = 0; d < 2; d++)
        o.stride[d] = c->stride[d], o.padding[d] = c->padding[d],
        o.output_padding[d] = c->output_padding[d], o.dilation[d] = c->dilation[d];
    return dc_conv_transpose2d(x, w, b, o);
}

/* torch's _ConvNd.extra_repr: "3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3),
 * bias=False"; padding, dilation, output_padding and groups only when not the default. */
static void conv_describe(const dc_module *m, char *buf, size_t size)
{
    const conv_impl *c = m->impl;
    int n = c->spatial;
    buf[0] = '\0';
    append(buf, size, "%lld, %lld, kernel_size=", (long long)c->in_channels,
           (long long)c->out_channels);
    append_tuple(buf, size, n, c->kernel);
    append(buf, size, ", stride=");
    append_tuple(buf, size, n, c->stride);
    if (!all_equal(n, c->padding, 0)) append(buf, size, ", padding="), append_tuple(buf, size, n, c->padding);
    if (!all_equal(n, c->dilation, 1)) append(buf, size, ", dilation="), append_tuple(buf, size, n, c->dilation);
    if (!all_equal(n, c->output_padding, 0))
        append(buf, size, ", output_padding="), append_tuple(buf, size, n, c->output_padding);
    if (c->groups != 1) append(buf, size, ", groups=%d", c->groups);
    if (!dc_module_param(m, "bias")) append(buf, size, ", bias=False");
}

/* Checks the arguments (before anything is allocated), then registers weight and bias drawn
 * as torch's _ConvNd.reset_parameters: kaiming_uniform_(a=sqrt(5)) on the weight, which is
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = weight.size(1) * prod(kernel), and the
 * bias from the same bound. weight.size(1) is in/groups for a convolution but out/groups for
 * a transposed one (its weight is [in, out/groups, k...]), as in torch. */
static dc_module *conv_new(const char *type, const char *op, conv_impl c, bool bias, dc_rng *rng)
{
    if (c.in_channels <= 0 || c.out_channels <= 0)
        return dc_error("%s: in_channels and out_channels must be positive, got %lld and %lld", op,
                        (long long)c.in_channels, (long long)c.out_channels);
    if (c.groups < 1) return dc_error("%s: groups must be >= 1, got %d", op, c.groups);
    if (c.in_channels % c.groups || c.out_channels % c.groups)
        return dc_error("%s: groups=%d must divide both in_channels=%lld and out_channels=%lld", op,
                        c.groups, (long long)c.in_channels, (long long)c.out_channels);
    for (int d = 0; d < c.spatial; d++) {
        if (c.kernel[d] < 1) return dc_error("%s: kernel_size must be >= 1, got %d", op, c.kernel[d]);
        if (c.stride[d] < 1) return dc_error("%s: stride must be >= 1, got %d", op, c.stride[d]);
        if (c.padding[d] < 0) return dc_error("%s: padding must be >= 0, got %d", op, c.padding[d]);
        if (c.dilation[d] < 1) return dc_error("%s: dilation must be >= 1, got %d", op, c.dilation[d]);
        if (c.output_padding[d] < 0 ||
            (c.output_padding[d] > 0 && c.output_padding[d] >= c.stride[d] &&
             c.output_padding[d] >= c.dilation[d]))
            return dc_error("%s: output_padding (%d) must be >= 0 and smaller than either stride "
                            "(%d) or dilation (%d)", op, c.output_padding[d], c.stride[d],
                            c.dilation[d]);
    }
    for (int d = c.spatial; d < 2; d++) /* the unused second dim of a 1-D layer */
        c.kernel[d] = c.stride[d] = c.dilation[d] = 1, c.padding[d] = c.output_padding[d] = 0;

    int64_t shape[4] = {c.out_channels, c.in_channels / c.groups, c.kernel[0], c.kernel[1]};
    if (c.transposed) shape[0] = c.in_channels, shape[1] = c.out_channels / c.groups;
    double bound = 1.0 / sqrt((double)(shape[1] * c.kernel[0] * c.kernel[1]));

    dc_module *m = dc_module_new_impl(type, &c, sizeof c);
    if (!m) return NULL;
    m->forward = conv_forward;
    m->describe = conv_describe;
    size_t scope = dc_scope_begin();
    bool ok = dc_module_add_param(m, "weight", dc_uniform(rng, DC_F32, 2 + c.spatial, shape,
                                                          -bound, bound)) != NULL;
    if (ok && bias)
        ok = dc_module_add_param(m, "bias", dc_uniform(rng, DC_F32, 1, &c.out_channels, -bound,
                                                       bound)) != NULL;
    dc_scope_end(scope);
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_module *dc_conv2d_new(int64_t in_channels, int64_t out_channels, int kernel_h, int kernel_w,
                         dc_conv2d_opts opts, bool bias, dc_rng *rng)
{
    conv_impl c = {.spatial = 2, .in_channels = in_channels, .out_channels = out_channels,
                   .kernel = {kernel_h, kernel_w}, .groups = opts.groups};
    memcpy(c.stride, opts.stride, sizeof c.stride);
    memcpy(c.padding, opts.padding, sizeof c.padding);
    memcpy(c.dilation, opts.dilation, sizeof c.dilation);
    return conv_new("Conv2d", "dc_conv2d_new", c, bias, rng);
}

dc_module *dc_conv1d_new(int64_t in_channels, int64_t out_channels, int kernel_size, int stride,
                         int padding, int dilation, int groups, bool bias, dc_rng *rng)
{
    conv_impl c = {.spatial = 1, .in_channels = in_channels, .out_channels = out_channels,
                   .kernel = {kernel_size}, .stride = {stride}, .padding = {padding},
                   .dilation = {dilation}, .groups = groups};
    return conv_new("Conv1d", "dc_conv1d_new", c, bias, rng);
}

dc_module *dc_conv_transpose2d_new(int64_t in_channels, int64_t out_channels, int kernel_h,
                                   int kernel_w, dc_conv_transpose2d_opts opts, bool bias,
                                   dc_rng *rng)
{
    conv_impl c = {.spatial = 2, .transposed = true, .in_channels = in_channels,
                   .out_channels = out_channels, .kernel = {kernel_h, kernel_w},
                   .groups = opts.groups};
    memcpy(c.stride, opts.stride, sizeof c.stride);
    memcpy(c.padding, opts.padding, sizeof c.padding);
    memcpy(c.output_padding, opts.output_padding, sizeof c.output_padding);
    memcpy(c.dilation, opts.dilation, sizeof c.dilation);
    return conv_new("ConvTranspose2d", "dc_conv_transpose2d_new", c, bias, rng);
}

dc_module *dc_conv_transpose1d_new(int64_t in_channels, int64_t out_channels, int kernel_size,
                                   int stride, int padding, int output_padding, int groups,
                                   bool bias, int dilation, dc_rng *rng)
{
    conv_impl c = {.spatial = 1, .transposed = true, .in_channels = in_channels,
                   .out_channels = out_channels, .kernel = {kernel_size}, .stride = {stride},
                   .padding = {padding}, .output_padding = {output_padding},
                   .dilation = {dilation}, .groups = groups};
    return conv_new("ConvTranspose1d", "dc_conv_transpose1d_new", c, bias, rng);
}

/* ---- MaxPool1d/2d, AvgPool1d/2d ------------------------------------------------------------- */

typedef struct {
    int spatial;
    bool is_max;
    int kernel[2], stride[2], padding[2]; /* stride already resolved (0 -> kernel) */
} pool_impl;

static dc_tensor *pool_forward(dc_module *m, dc_tensor *x)
{
    const pool_impl *p = m->impl;
    if (p->spatial == 1)
        return (p->is_max ? dc_max_pool1d : dc_avg_pool1d)(x, p->kernel[0], p->stride[0],
                                                          p->padding[0]);
    dc_pool2d_opts o;
    memcpy(o.kernel, p->kernel, sizeof o.kernel);
    memcpy(o.stride, p->stride, sizeof o.stride);
    memcpy(o.padding, p->padding, sizeof o.padding);
    return (p->is_max ? dc_max_pool2d : dc_avg_pool2d)(x, o);
}

/* torch: MaxPool "kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False",
 * AvgPool "kernel_size=2, stride=2, padding=0". */
static void pool_describe(const dc_module *m, char *buf, size_t size)
{
    const pool_impl *p = m->impl;
    buf[0] = '\0';
    append(buf, size, "kernel_size=");
    append_size(buf, size, p->spatial, p->kernel);
    append(buf, size, ", stride=");
    append_size(buf, size, p->spatial, p->stride);
    append(buf, size, ", padding=");
    append_size(buf, size, p->spatial, p->padding);
    if (p->is_max) append(buf, size, ", dilation=1, ceil_mode=False");
}

static dc_module *pool_new(const char *type, const char *op, pool_impl p)
{
    for (int d = 0; d < p.spatial; d++) {
        if (p.kernel[d] < 1) return dc_error("%s: kernel_size must be >= 1, got %d", op, p.kernel[d]);
        if (p.stride[d] < 0)
            return dc_error("%s: stride must be >= 1 (or 0 for the kernel size), got %d", op,
                            p.stride[d]);
        if (p.padding[d] < 0 || 2 * p.padding[d] > p.kernel[d])
            return dc_error("%s: padding must be between 0 and half the kernel size (%d), got %d",
                            op, p.kernel[d], p.padding[d]);
        if (p.stride[d] == 0) p.stride[d] = p.kernel[d]; /* torch's stride=None */
    }
    dc_module *m = dc_module_new_impl(type, &p, sizeof p);
    if (!m) return NULL;
    m->forward = pool_forward;
    m->describe = pool_describe;
    return m;
}

static pool_impl pool2d_impl(bool is_max, dc_pool2d_opts o)
{
    pool_impl p = {.spatial = 2, .is_max = is_max};
    memcpy(p.kernel, o.kernel, sizeof p.kernel);
    memcpy(p.stride, o.stride, sizeof p.stride);
    memcpy(p.padding, o.padding, sizeof p.padding);
    return p;
}

dc_module *dc_max_pool2d_new(dc_pool2d_opts opts)
{
    return pool_new("MaxPool2d", "dc_max_pool2d_new", pool2d_impl(true, opts));
}

dc_module *dc_avg_pool2d_new(dc_pool2d_opts opts)
{
    return pool_new("AvgPool2d", "dc_avg_pool2d_new", pool2d_impl(false, opts));
}

dc_module *dc_max_pool1d_new(int kernel_size, int stride, int padding)
{
    return pool_new("MaxPool1d", "dc_max_pool1d_new",
                    (pool_impl){1, true, {kernel_size, 1}, {stride, 1}, {padding, 0}});
}

dc_module *dc_avg_pool1d_new(int kernel_size, int stride, int padding)
{
    return pool_new("AvgPool1d", "dc_avg_pool1d_new",
                    (pool_impl){1, false, {kernel_size, 1}, {stride, 1}, {padding, 0}});
}

/* ---- AdaptiveAvgPool2d ------------------------------------------------------------------------ */

static dc_tensor *adaptive_avg_pool_forward(dc_module *m, dc_tensor *x)
{
    const int64_t *size = m->impl;
    return dc_adaptive_avg_pool2d(x, size[0], size[1]);
}

static void adaptive_avg_pool_describe(const dc_module *m, char *buf, size_t size)
{
    const int64_t *out = m->impl;
    snprintf(buf, size, "output_size=(%lld, %lld)", (long long)out[0], (long long)out[1]);
}

dc_module *dc_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w)
{
    if (out_h < 1 || out_w < 1)
        return dc_error("dc_adaptive_avg_pool2d_new: output size must be >= 1, got %lld x %lld",
                        (long long)out_h, (long long)out_w);
    int64_t size[2] = {out_h, out_w};
    dc_module *m = dc_module_new_impl("AdaptiveAvgPool2d", size, sizeof size);
    if (!m) return NULL;
    m->forward = adaptive_avg_pool_forward;
    m->describe = adaptive_avg_pool_describe;
    return m;
}

/* ---- Upsample ---------------------------------------------------------------------------------- */

typedef struct {
    bool bilinear, align_corners;
    int scale[2];       /* nearest: integer scale factors */
    int64_t size[2];    /* bilinear to a fixed size (0: use scale_factor) */
    double scale_factor;
} upsample_impl;

/* Nearest: out[i][j] = x[i/sh][j/sw]. Bilinear: to `size`, or to floor(in * scale_factor). */
static dc_tensor *upsample_forward(dc_module *m, dc_tensor *x)
{
    const upsample_impl *u = m->impl;
    if (!u->bilinear) return dc_upsample_nearest2d(x, u->scale[0], u->scale[1]);
    if (u->size[0] > 0) return dc_upsample_bilinear2d(x, u->size[0], u->size[1], u->align_corners);
    if (!x) return dc_error("Upsample: input is NULL");
    if (x->ndim != 4) {
        char shape[96];
        return dc_error("Upsample: input must be 4-D [N, C, H, W], got shape %s",
                        dc__shape_fmt(x->ndim, x->shape, shape, sizeof shape));
    }
    return dc_upsample_bilinear2d(x, (int64_t)floor((double)x->shape[2] * u->scale_factor),
                                  (int64_t)floor((double)x->shape[3] * u->scale_factor),
                                  u->align_corners);
}

/* torch: "scale_factor=2.0, mode=nearest" or "size=(7, 9), mode=bilinear" (align_corners is
 * not part of torch's repr; shown here because it changes the result). */
static void upsample_describe(const dc_module *m, char *buf, size_t size)
{
    const upsample_impl *u = m->impl;
    buf[0] = '\0';
    if (!u->bilinear && u->scale[0] == u->scale[1])
        append(buf, size, "scale_factor=%d.0", u->scale[0]);
    else if (!u->bilinear) append(buf, size, "scale_factor=(%d.0, %d.0)", u->scale[0], u->scale[1]);
    else if (u->size[0] > 0)
        append(buf, size, "size=(%lld, %lld)", (long long)u->size[0], (long long)u->size[1]);
    else append(buf, size, "scale_factor=%g%s", u->scale_factor,
                u->scale_factor == floor(u->scale_factor) ? ".0" : "");
    append(buf, size, ", mode=%s", u->bilinear ? "bilinear" : "nearest");
    if (u->bilinear) append(buf, size, ", align_corners=%s", u->align_corners ? "True" : "False");
}

static dc_module *upsample_new(upsample_impl u)
{
    dc_module *m = dc_module_new_impl("Upsample", &u, sizeof u);
    if (!m) return NULL;
    m->forward = upsample_forward;
    m->describe = upsample_describe;
    return m;
}

dc_module *dc_upsample_nearest_new(int scale_h, int scale_w)
{
    if (scale_h < 1 || scale_w < 1)
        return dc_error("dc_upsample_nearest_new: scale factors must be integers >= 1, got %d x %d",
                        scale_h, scale_w);
    return upsample_new((upsample_impl){.scale = {scale_h, scale_w}});
}

dc_module *dc_upsample_bilinear_new(int64_t out_h, int64_t out_w, double scale_factor,
                                    bool align_corners)
{
    const char *op = "dc_upsample_bilinear_new";
    bool by_size = out_h > 0 || out_w > 0;
    if (by_size && (out_h < 1 || out_w < 1))
        return dc_error("%s: output size must be >= 1, got %lld x %lld", op, (long long)out_h,
                        (long long)out_w);
    if (by_size && scale_factor != 0)
        return dc_error("%s: give either a size or a scale_factor, not both", op);
    if (!by_size && !(scale_factor > 0))
        return dc_error("%s: scale_factor must be > 0 (or give a size), got %g", op, scale_factor);
    return upsample_new((upsample_impl){.bilinear = true, .align_corners = align_corners,
                                        .size = {out_h, out_w}, .scale_factor = scale_factor});
}
