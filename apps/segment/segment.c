/* Segmentation networks, the confusion matrix, IoU and mask colours (see segment.h). */
#include "segment/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    segment_arch arch;
} segment_impl;

enum { PSP_LEVELS = 4 };
static const int64_t psp_bins[PSP_LEVELS] = {1, 2, 4, 8};

/* conv3x3 (no bias: BatchNorm follows) -> BatchNorm2d -> ReLU, appended to the sequential
 * seq; returns seq, or NULL after freeing it (so calls chain: cbr(cbr(seq, ...), ...)). */
static dc_module *cbr(dc_module *seq, int64_t in, int64_t out, int stride, int dilation,
                      dc_rng *rng)
{
    if (!seq) return NULL;
    dc_conv2d_opts o = DC_CONV2D_OPTS(stride, dilation, dilation, 1);
    if (!dc_sequential_append(seq, dc_conv2d_new(in, out, 3, 3, o, false, rng)) ||
        !dc_sequential_append(seq, dc_batch_norm2d_new(out, 1e-5, 0.1, true)) ||
        !dc_sequential_append(seq, dc_activation_new(DC_ACT_RELU, 0))) {
        dc_module_free(seq); /* a failed append has freed its child */
        return NULL;
    }
    return seq;
}

/* The U-Net's double conv: cbr(in, out) -> cbr(out, out) */
static dc_module *double_conv(int64_t in, int64_t out, dc_rng *rng)
{
    return cbr(cbr(dc_sequential_new(0), in, out, 1, 1, rng), out, out, 1, 1, rng);
}

static dc_tensor *run(dc_module *m, const char *name, dc_tensor *x)
{
    return dc_forward(dc_module_child(m, name), x);
}

static dc_tensor *pool2(dc_tensor *x) { return dc_max_pool2d(x, DC_POOL2D_OPTS(2, 2, 0)); }

static dc_tensor *cat2(dc_tensor *a, dc_tensor *b) { return dc_cat((dc_tensor *[]){a, b}, 2, 1); }

/* U-Net: e1 = dc(x), e2 = dc(pool(e1)), e3 = dc(pool(e2)), b = dc(pool(e3)),
 * d3 = dc(cat(up3(b), e3)), d2 = dc(cat(up2(d3), e2)), d1 = dc(cat(up1(d2), e1)),
 * logits = conv1x1(d1); dc = double conv, up = ConvTranspose2d(kernel 2, stride 2). */
static dc_tensor *unet_forward(dc_module *m, dc_tensor *x)
{
    dc_tensor *e1 = run(m, "enc1", x);
    dc_tensor *e2 = run(m, "enc2", pool2(e1));
    dc_tensor *e3 = run(m, "enc3", pool2(e2));
    dc_tensor *b = run(m, "bottleneck", pool2(e3));
    dc_tensor *d3 = run(m, "dec3", cat2(run(m, "up3", b), e3));
    dc_tensor *d2 = run(m, "dec2", cat2(run(m, "up2", d3), e2));
    dc_tensor *d1 = run(m, "dec1", cat2(run(m, "up1", d2), e1));
    return run(m, "head", d1);
}

/* PSP: f = backbone(x) at 1/4 resolution; for each bin count b in 1, 2, 4, 8:
 * p_b = upsample_bilinear(relu(conv1x1(adaptive_avg_pool(f, b))), size of f);
 * logits = upsample_bilinear(conv1x1(cbr(cat(f, p_1, p_2, p_4, p_8))), H x W). */
static dc_tensor *psp_forward(dc_module *m, dc_tensor *x)
{
    dc_tensor *f = run(m, "backbone", x);
    if (!f) return NULL;
    dc_tensor *parts[1 + PSP_LEVELS] = {f};
    for (int i = 0; i < PSP_LEVELS; i++) {
        char name[24];
        snprintf(name, sizeof name, "pyramid%d", i);
        dc_tensor *p = dc_adaptive_avg_pool2d(f, psp_bins[i], psp_bins[i]);
        p = dc_relu(run(m, name, p));
        parts[1 + i] = dc_upsample_bilinear2d(p, f->shape[2], f->shape[3], false);
    }
    dc_tensor *y = run(m, "head", run(m, "fuse", dc_cat(parts, 1 + PSP_LEVELS, 1)));
    return dc_upsample_bilinear2d(y, x->shape[2], x->shape[3], false);
}

static dc_tensor *segment_forward(dc_module *m, dc_tensor *x)
{
    const segment_impl *impl = m->impl;
    char s[96];
    if (!x) return dc_error("segment: input is NULL");
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] % 8 || x->shape[3] % 8 ||
        x->shape[2] < 8 || x->shape[3] < 8)
        return dc_error("segment: input %s must be [N, 3, H, W] with H, W divisible by 8",
                        dc_shape_str(x, s, sizeof s));
    size_t scope = dc_scope_begin();
    dc_tensor *y = impl->arch == SEGMENT_UNET ? unet_forward(m, x) : psp_forward(m, x);
    return dc_scope_return(scope, y);
}

static dc_module *up2x(int64_t in, int64_t out, dc_rng *rng)
{
    return dc_conv_transpose2d_new(in, out, 2, 2, DC_CONV_TRANSPOSE2D_OPTS(2, 0, 0, 1, 1), true,
                                   rng);
}

static dc_module *conv1x1(int64_t in, int64_t out, dc_rng *rng)
{
    return dc_conv2d_new(in, out, 1, 1, DC_CONV2D_DEFAULTS, true, rng);
}

static bool unet_build(dc_module *m, int64_t w, int64_t classes, dc_rng *rng)
{
    return dc_module_add_child(m, "enc1", double_conv(3, w, rng)) &&
           dc_module_add_child(m, "enc2", double_conv(w, 2 * w, rng)) &&
           dc_module_add_child(m, "enc3", double_conv(2 * w, 4 * w, rng)) &&
           dc_module_add_child(m, "bottleneck", double_conv(4 * w, 8 * w, rng)) &&
           dc_module_add_child(m, "up3", up2x(8 * w, 4 * w, rng)) &&
           dc_module_add_child(m, "dec3", double_conv(8 * w, 4 * w, rng)) &&
           dc_module_add_child(m, "up2", up2x(4 * w, 2 * w, rng)) &&
           dc_module_add_child(m, "dec2", double_conv(4 * w, 2 * w, rng)) &&
           dc_module_add_child(m, "up1", up2x(2 * w, w, rng)) &&
           dc_module_add_child(m, "dec1", double_conv(2 * w, w, rng)) &&
           dc_module_add_child(m, "head", conv1x1(w, classes, rng));
}

/* backbone: cbr(3, w) | cbr(w, 2w, stride 2), cbr(2w, 2w) | cbr(2w, 4w, stride 2),
 * cbr(4w, 4w, dilation 2) x 2; pyramid branches conv1x1(4w, w); fuse cbr(8w, 4w). */
static bool psp_build(dc_module *m, int64_t w, int64_t classes, dc_rng *rng)
{
    dc_module *bb = dc_sequential_new(0);
    bb = cbr(cbr(cbr(bb, 3, w, 1, 1, rng), w, 2 * w, 2, 1, rng), 2 * w, 2 * w, 1, 1, rng);
    bb = cbr(cbr(cbr(bb, 2 * w, 4 * w, 2, 1, rng), 4 * w, 4 * w, 1, 2, rng), 4 * w, 4 * w, 1, 2,
             rng);
    if (!dc_module_add_child(m, "backbone", bb)) return false;
    for (int i = 0; i < PSP_LEVELS; i++) {
        char name[24];
        snprintf(name, sizeof name, "pyramid%d", i);
        if (!dc_module_add_child(m, name, conv1x1(4 * w, w, rng))) return false;
    }
    dc_module *fuse = dc_sequential_new(0);
    return dc_module_add_child(m, "fuse", cbr(fuse, 4 * w + PSP_LEVELS * w, 4 * w, 1, 1, rng)) &&
           dc_module_add_child(m, "head", conv1x1(4 * w, classes, rng));
}

dc_module *segment_model_new(segment_arch arch, int64_t width, int64_t classes, dc_rng *rng)
{
    if (width < 1 || width > 256)
        return dc_error("segment_model_new: width %lld must be in [1, 256]", (long long)width);
    if (classes < 2 || classes > 256)
        return dc_error("segment_model_new: classes %lld must be in [2, 256]", (long long)classes);
    if (arch != SEGMENT_UNET && arch != SEGMENT_PSP)
        return dc_error("segment_model_new: unknown architecture %d", (int)arch);
    segment_impl impl = {arch};
    dc_module *m = dc_module_new_impl(arch == SEGMENT_UNET ? "SegmentUNet" : "SegmentPSP", &impl,
                                      sizeof impl);
    if (!m) return NULL;
    m->forward = segment_forward;
    bool ok = arch == SEGMENT_UNET ? unet_build(m, width, classes, rng)
                                   : psp_build(m, width, classes, rng);
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_tensor *segment_predict(dc_tensor *logits)
{
    char s[96];
    if (!logits) return dc_error("segment_predict: logits are NULL");
    if (logits->ndim != 4)
        return dc_error("segment_predict: logits %s must be [N, C, H, W]",
                        dc_shape_str(logits, s, sizeof s));
    return dc_argmax(logits, 1, false);
}

/* ---- Metrics ------------------------------------------------------------------------------- */

/* All n values of an int64 tensor as doubles (malloc'ed), or NULL with an error. */
static double *values_of(const dc_tensor *t, int64_t n, const char *fn)
{
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    if (!v) return dc_error("%s: out of memory", fn);
    if (dc_to_double_buffer(t, v, n) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

dc_tensor *segment_confusion(const dc_tensor *truth, const dc_tensor *pred, int64_t classes)
{
    char a[96], b[96];
    if (!truth || !pred) return dc_error("segment_confusion: NULL mask");
    if (classes < 1 || classes > 4096)
        return dc_error("segment_confusion: classes %lld must be in [1, 4096]", (long long)classes);
    if (truth->dtype != DC_I64 || pred->dtype != DC_I64)
        return dc_error("segment_confusion: masks must be int64, got %s and %s",
                        dc_dtype_name(truth->dtype), dc_dtype_name(pred->dtype));
    if (!dc_same_shape(truth, pred))
        return dc_error("segment_confusion: the prediction %s is not the size of the truth %s",
                        dc_shape_str(pred, b, sizeof b), dc_shape_str(truth, a, sizeof a));
    int64_t n = dc_numel(truth);
    double *t = values_of(truth, n, "segment_confusion"), *p = t ? values_of(pred, n, "segment_confusion") : NULL;
    int64_t *counts = p ? calloc((size_t)(classes * classes), sizeof *counts) : NULL;
    dc_tensor *result = NULL;
    if (p && !counts) dc_error("segment_confusion: out of memory");
    for (int64_t i = 0; counts && i <= n; i++) {
        if (i == n) {
            result = dc_from_buffer(DC_I64, DC_SHAPE(classes, classes), counts);
            break;
        }
        const double *bad = t[i] < 0 || t[i] >= (double)classes   ? &t[i]
                            : p[i] < 0 || p[i] >= (double)classes ? &p[i]
                                                                  : NULL;
        if (bad) {
            dc_error("segment_confusion: %s value %lld at element %lld is not a class in [0, %lld)",
                     bad == &t[i] ? "truth" : "prediction", (long long)*bad, (long long)i,
                     (long long)classes);
            break;
        }
        counts[(int64_t)t[i] * classes + (int64_t)p[i]]++;
    }
    free(t);
    free(p);
    free(counts);
    return result;
}

int segment_iou(const dc_tensor *confusion, double *iou, int max_classes)
{
    char s[96];
    if (!confusion || !iou) return dc_error("segment_iou: NULL argument"), -1;
    if (confusion->ndim != 2 || confusion->shape[0] != confusion->shape[1] ||
        confusion->shape[0] < 1)
        return dc_error("segment_iou: confusion %s must be a square [C, C] matrix",
                        dc_shape_str(confusion, s, sizeof s)),
               -1;
    int64_t c = confusion->shape[0];
    if (c > max_classes)
        return dc_error("segment_iou: %lld classes do not fit in %d values", (long long)c,
                        max_classes),
               -1;
    double *m = values_of(confusion, c * c, "segment_iou");
    if (!m) return -1;
    int rc = (int)c;
    for (int64_t k = 0; k < c * c; k++)
        if (!(m[k] >= 0)) {
            dc_error("segment_iou: count %g at [%lld, %lld] is not >= 0", m[k], (long long)(k / c),
                     (long long)(k % c));
            rc = -1;
            break;
        }
    for (int64_t k = 0; rc > 0 && k < c; k++) {
        double row = 0, col = 0;
        for (int64_t j = 0; j < c; j++) row += m[k * c + j], col += m[j * c + k];
        double uni = row + col - m[k * c + k];
        iou[k] = uni > 0 ? m[k * c + k] / uni : NAN;
    }
    free(m);
    return rc;
}

double segment_mean_iou(const dc_tensor *confusion)
{
    enum { MAX = 4096 };
    double *iou = malloc(MAX * sizeof *iou);
    if (!iou) return dc_error("segment_mean_iou: out of memory"), NAN;
    int c = segment_iou(confusion, iou, MAX);
    double sum = 0;
    int present = 0;
    for (int k = 0; k < c; k++)
        if (!isnan(iou[k])) sum += iou[k], present++;
    free(iou);
    if (c < 0) return NAN;
    if (present == 0) return dc_error("segment_mean_iou: the confusion matrix counts no pixel"), NAN;
    return sum / present;
}

/* ---- Pictures ------------------------------------------------------------------------------ */

void segment_class_colour(int64_t cls, float rgb[3])
{
    static const float palette[8][3] = {{0, 0, 0},       {0.9f, 0.2f, 0.2f},  {0.2f, 0.8f, 0.2f},
                                        {0.25f, 0.4f, 1}, {1, 0.85f, 0.1f},   {0.8f, 0.3f, 0.9f},
                                        {0.1f, 0.85f, 0.9f}, {1, 1, 1}};
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = cls >= 0 && cls < 8 ? palette[cls][ch]
                                      : (float)(((cls < 0 ? -cls : cls) * (37 + 91 * ch)) % 200 + 55) / 255.0f;
}

dc_tensor *segment_colorize(const dc_tensor *masks)
{
    char s[96];
    if (!masks) return dc_error("segment_colorize: masks are NULL");
    if (masks->dtype != DC_I64 || masks->ndim != 3)
        return dc_error("segment_colorize: masks %s must be int64 [N, H, W]",
                        dc_shape_str(masks, s, sizeof s));
    int64_t n = masks->shape[0], hw = masks->shape[1] * masks->shape[2], total = n * hw;
    double *v = values_of(masks, total, "segment_colorize");
    float *rgb = v ? malloc((size_t)(3 * total + 1) * sizeof *rgb) : NULL;
    dc_tensor *out = NULL;
    if (v && !rgb) dc_error("segment_colorize: out of memory");
    for (int64_t i = 0; rgb && i <= total; i++) {
        if (i == total) {
            out = dc_from_buffer(DC_F32, DC_SHAPE(n, 3, masks->shape[1], masks->shape[2]), rgb);
            break;
        }
        if (v[i] < 0 || v[i] > 255) {
            dc_error("segment_colorize: class %lld at element %lld is not in [0, 255]",
                     (long long)v[i], (long long)i);
            break;
        }
        int64_t img = i / hw, px = i % hw;
        float c[3];
        segment_class_colour((int64_t)v[i], c);
        for (int ch = 0; ch < 3; ch++) rgb[(img * 3 + ch) * hw + px] = c[ch];
    }
    free(v);
    free(rgb);
    return out;
}
