/* The single-shot detector, its targets, loss, decoding and drawing (see detect.h). */
#include "detect/detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_MAPS = 3, N_SIZES = 2, N_RATIOS = 3, PER_CELL = N_SIZES * N_RATIOS, MAX_CANDIDATES = 400 };
static const double map_strides[N_MAPS] = {4, 8, 16};
static const double map_sizes[N_MAPS][N_SIZES] = {{8, 11}, {16, 22}, {28, 36}}; /* at 64 px */
static const double ratios[N_RATIOS] = {1, 0.5, 2};
static const double variances[4] = {0.1, 0.1, 0.2, 0.2};

static bool check_size(int64_t image_size, const char *op)
{
    if (image_size < 32 || image_size > SCENES_MAX_SIZE || image_size % 16 != 0) {
        dc_error("%s: image size %lld must be a multiple of 16 in [32, %d]", op,
                 (long long)image_size, SCENES_MAX_SIZE);
        return false;
    }
    return true;
}

dc_tensor *detect_anchors(int64_t image_size)
{
    if (!check_size(image_size, "detect_anchors")) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *parts[N_MAPS];
    for (int m = 0; m < N_MAPS; m++) {
        double sizes[N_SIZES];
        for (int k = 0; k < N_SIZES; k++) sizes[k] = map_sizes[m][k] * (double)image_size / 64.0;
        int64_t feat = image_size / (int64_t)map_strides[m];
        parts[m] = dc_anchor_boxes(feat, feat, map_strides[m], sizes, N_SIZES, ratios, N_RATIOS);
    }
    return dc_scope_return(scope, dc_cat(parts, N_MAPS, 0));
}

/* ---- The model ------------------------------------------------------------------------------ */

typedef struct {
    int64_t image_size;
} detect_impl;

/* conv 3x3 (no bias) -> BatchNorm -> ReLU */
static dc_module *block(int64_t in, int64_t out, int stride, dc_rng *rng)
{
    return dc_sequential_new(3, dc_conv2d_new(in, out, 3, 3, DC_CONV2D_OPTS(stride, 1, 1, 1), false, rng),
                             dc_batch_norm2d_new(out, 1e-5, 0.1, true),
                             dc_activation_new(DC_ACT_RELU, 0));
}

/* A head's map [N, PER_CELL * DETECT_OUTPUTS, h, w] -> [N, h * w * PER_CELL, DETECT_OUTPUTS]
 * (cell row-major, then anchor: dc_anchor_boxes' order). */
static dc_tensor *head(dc_module *m, const char *name, dc_tensor *f)
{
    dc_tensor *y = dc_forward(dc_module_child(m, name), f);
    if (!y) return NULL;
    int64_t n = y->shape[0], cells = y->shape[2] * y->shape[3];
    y = dc_permute(y, (int[]){0, 2, 3, 1});
    return dc_reshape(y, 3, (int64_t[]){n, cells * PER_CELL, DETECT_OUTPUTS});
}

/* c1 (s2), c2 (s2), c3 -> f4 (stride 4); c4 (s2), c5 -> f8; c6 (s2), c7 -> f16; each map's
 * head is a 3x3 convolution; the outputs are concatenated over the maps. */
static dc_tensor *detect_forward(dc_module *m, dc_tensor *x)
{
    const detect_impl *impl = m->impl;
    char buf[96];
    if (!x) return dc_error("detect: input is NULL");
    if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] != impl->image_size ||
        x->shape[3] != impl->image_size)
        return dc_error("detect: input must be [N, 3, %lld, %lld] images, got %s",
                        (long long)impl->image_size, (long long)impl->image_size,
                        dc_shape_str(x, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    static const char *const stages[7] = {"c1", "c2", "c3", "c4", "c5", "c6", "c7"};
    dc_tensor *f[7], *h = x;
    for (int i = 0; i < 7; i++) f[i] = h = dc_forward(dc_module_child(m, stages[i]), h);
    dc_tensor *outs[N_MAPS] = {head(m, "head4", f[2]), head(m, "head8", f[4]),
                               head(m, "head16", f[6])};
    dc_tensor *y = outs[0] && outs[1] && outs[2] ? dc_cat(outs, N_MAPS, 1) : NULL;
    return dc_scope_return(scope, y);
}

dc_module *detect_model_new(int64_t width, int64_t image_size, dc_rng *rng)
{
    if (width < 1 || width > 256)
        return dc_error("detect_model_new: width %lld must be in [1, 256]", (long long)width);
    if (!check_size(image_size, "detect_model_new")) return NULL;
    detect_impl impl = {image_size};
    dc_module *m = dc_module_new_impl("SingleShotDetector", &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = detect_forward;
    int64_t w = width, w2 = 2 * width, w4 = 4 * width, out = PER_CELL * DETECT_OUTPUTS;
    bool ok = dc_module_add_child(m, "c1", block(3, w, 2, rng)) &&
              dc_module_add_child(m, "c2", block(w, w2, 2, rng)) &&
              dc_module_add_child(m, "c3", block(w2, w2, 1, rng)) &&
              dc_module_add_child(m, "c4", block(w2, w4, 2, rng)) &&
              dc_module_add_child(m, "c5", block(w4, w4, 1, rng)) &&
              dc_module_add_child(m, "c6", block(w4, w4, 2, rng)) &&
              dc_module_add_child(m, "c7", block(w4, w4, 1, rng)) &&
              dc_module_add_child(m, "head4", dc_conv2d_new(w2, out, 3, 3, DC_CONV2D_OPTS(1, 1, 1, 1), true, rng)) &&
              dc_module_add_child(m, "head8", dc_conv2d_new(w4, out, 3, 3, DC_CONV2D_OPTS(1, 1, 1, 1), true, rng)) &&
              dc_module_add_child(m, "head16", dc_conv2d_new(w4, out, 3, 3, DC_CONV2D_OPTS(1, 1, 1, 1), true, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

/* ---- Targets -------------------------------------------------------------------------------- */

/* A float tensor's values as a malloc'ed double array of n (+1) values, or NULL. */
static double *values(dc_tensor *t, int64_t n)
{
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    if (!v) return dc_error("detect: out of memory");
    if (dc_to_double_buffer(t, v, n) != 0) {
        free(v);
        return NULL;
    }
    return v;
}

/* t is [rows, cols] of a float dtype (cols 0: [rows] of an integer dtype). */
static bool check_2d(dc_tensor *t, const char *op, const char *what, int64_t cols)
{
    char buf[96];
    if (!t) return dc_error("%s: input '%s' is NULL", op, what), false;
    bool ok = cols ? t->ndim == 2 && t->shape[1] == cols && dc_dtype_is_float(t->dtype)
                   : t->ndim == 1 && !dc_dtype_is_float(t->dtype) && t->dtype != DC_BOOL;
    if (!ok) {
        if (cols)
            dc_error("%s: %s must be float [N, %lld], got %s %s", op, what, (long long)cols,
                     dc_dtype_name(t->dtype), dc_shape_str(t, buf, sizeof buf));
        else
            dc_error("%s: %s must be an integer [N] tensor, got %s %s", op, what,
                     dc_dtype_name(t->dtype), dc_shape_str(t, buf, sizeof buf));
    }
    return ok;
}

int detect_targets(dc_tensor *anchors, dc_tensor *boxes, dc_tensor *classes, int64_t image_size,
                   double iou_threshold, dc_tensor **labels, dc_tensor **deltas)
{
    const char *op = "detect_targets";
    if (!labels || !deltas) return dc_error("%s: NULL output", op), -1;
    *labels = *deltas = NULL;
    if (!check_2d(anchors, op, "anchors", 4) || !check_2d(boxes, op, "boxes", 4) ||
        !check_2d(classes, op, "classes", 0))
        return -1;
    int64_t a = anchors->shape[0], k = boxes->shape[0];
    if (k == 0) return dc_error("%s: empty scene (no ground-truth boxes)", op), -1;
    if (classes->shape[0] != k)
        return dc_error("%s: %lld classes for %lld boxes", op, (long long)classes->shape[0],
                        (long long)k), -1;
    if (!check_size(image_size, op)) return -1;
    double *b = values(boxes, 4 * k), *c = b ? values(classes, k) : NULL;
    int64_t *lab = c ? malloc((size_t)(a + 1) * sizeof *lab) : NULL;
    float *del = lab ? calloc((size_t)(4 * a + 1), sizeof *del) : NULL;
    int rc = -1;
    if (b && c && !(lab && del)) dc_error("%s: out of memory", op);
    if (!del) goto done;
    double s = (double)image_size;
    for (int64_t i = 0; i < k; i++) {
        const double *q = b + 4 * i;
        if (!(q[0] >= 0 && q[1] >= 0 && q[2] <= s && q[3] <= s && q[0] < q[2] && q[1] < q[3])) {
            dc_error("%s: box %lld = (%g, %g, %g, %g) is outside the %lld x %lld image or empty "
                     "(needs 0 <= x0 < x1 <= %lld, likewise y)", op, (long long)i, q[0], q[1],
                     q[2], q[3], (long long)image_size, (long long)image_size,
                     (long long)image_size);
            goto done;
        }
        if (!(c[i] >= 1 && c[i] < DETECT_CLASSES)) {
            dc_error("%s: class %g of box %lld is not an object class (1 .. %d)", op, c[i],
                     (long long)i, DETECT_CLASSES - 1);
            goto done;
        }
    }
    size_t scope = dc_scope_begin();
    dc_tensor *match = dc_match_anchors(anchors, boxes, iou_threshold);
    dc_tensor *enc = NULL;
    if (match) {
        /* encode every anchor against its match (background: box 0), then zero the rest */
        const int64_t *mi = dc_data(match);
        int64_t *idx = malloc((size_t)(a + 1) * sizeof *idx);
        if (idx) {
            for (int64_t i = 0; i < a; i++) idx[i] = mi[i] < 0 ? 0 : mi[i];
            dc_tensor *ti = dc_from_buffer(DC_I64, 1, (int64_t[]){a}, idx);
            enc = ti ? dc_box_encode(dc_index_select(boxes, 0, ti), anchors, variances) : NULL;
            free(idx);
        } else {
            dc_error("%s: out of memory", op);
        }
    }
    if (enc && dc_to_float_buffer(enc, del, 4 * a) == 0) {
        const int64_t *mi = dc_data(match);
        for (int64_t i = 0; i < a; i++) {
            lab[i] = mi[i] < 0 ? 0 : (int64_t)c[mi[i]];
            if (mi[i] < 0) memset(del + 4 * i, 0, 4 * sizeof *del);
        }
        rc = 0;
    }
    dc_scope_end(scope);
    if (rc == 0) {
        *labels = dc_from_buffer(DC_I64, 1, (int64_t[]){a}, lab);
        *deltas = *labels ? dc_from_buffer(DC_F32, 2, (int64_t[]){a, 4}, del) : NULL;
        if (!*deltas) { /* (a made *labels stays in the caller's scope) */
            *labels = NULL;
            rc = -1;
        }
    }
done:
    free(b);
    free(c);
    free(lab);
    free(del);
    return rc;
}

/* ---- Loss ----------------------------------------------------------------------------------- */

dc_tensor *detect_loss(dc_tensor *pred, dc_tensor *labels, dc_tensor *deltas,
                       double neg_pos_ratio, int64_t min_negatives)
{
    const char *op = "detect_loss";
    char p[96], l[96], d[96];
    if (!pred || !labels || !deltas) return dc_error("%s: NULL input", op);
    if (pred->ndim != 3 || pred->shape[2] != DETECT_OUTPUTS || !dc_dtype_is_float(pred->dtype) ||
        labels->ndim != 2 || labels->dtype != DC_I64 || labels->shape[0] != pred->shape[0] ||
        labels->shape[1] != pred->shape[1] || deltas->ndim != 3 || deltas->shape[2] != 4 ||
        deltas->shape[0] != pred->shape[0] || deltas->shape[1] != pred->shape[1])
        return dc_error("%s: pred %s (float [B, A, %d]), labels %s (int64 [B, A]) and deltas %s "
                        "([B, A, 4]) do not fit", op, dc_shape_str(pred, p, sizeof p),
                        DETECT_OUTPUTS, dc_shape_str(labels, l, sizeof l),
                        dc_shape_str(deltas, d, sizeof d));
    int64_t b = pred->shape[0], a = pred->shape[1], n = b * a;
    size_t scope = dc_scope_begin();
    dc_tensor *lab = dc_contiguous(labels);
    float *pos = lab ? malloc((size_t)(n + 1) * sizeof *pos) : NULL;
    if (!pos) {
        dc_scope_end(scope);
        return lab ? dc_error("%s: out of memory", op) : NULL;
    }
    const int64_t *lv = dc_data(lab);
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) npos += (pos[i] = lv[i] > 0 ? 1.0f : 0.0f) > 0;
    dc_tensor *positive = dc_to_dtype(dc_from_buffer(DC_F32, 2, (int64_t[]){b, a}, pos), pred->dtype);
    free(pos);
    /* cross-entropy per anchor, of the positives and the mined negatives */
    dc_tensor *logits = dc_reshape(dc_narrow(pred, 2, 4, DETECT_CLASSES), 2, (int64_t[]){n, DETECT_CLASSES});
    dc_ce_opts none = {DC_REDUCE_NONE, -100, 0.0};
    dc_tensor *ce = dc_reshape(dc_cross_entropy(logits, dc_reshape(lab, 1, (int64_t[]){n}), &none),
                               2, (int64_t[]){b, a});
    dc_tensor *keep = dc_hard_negative_mining(dc_detach(ce), positive, neg_pos_ratio, min_negatives);
    dc_tensor *cls = dc_sum_all(dc_mul(ce, dc_to_dtype(keep, pred->dtype)));
    /* smooth-L1 of the positives' offsets */
    dc_tensor *sl1 = dc_smooth_l1_loss(dc_narrow(pred, 2, 0, 4), deltas, 1.0, DC_REDUCE_NONE);
    dc_tensor *loc = dc_sum_all(dc_mul(sl1, dc_unsqueeze(positive, 2)));
    dc_tensor *loss = dc_mul_scalar(dc_add(cls, loc), 1.0 / (double)(npos > 0 ? npos : 1));
    return dc_scope_return(scope, loss);
}

/* ---- Decoding ------------------------------------------------------------------------------- */

typedef struct {
    float score;
    int64_t anchor, cls;
} candidate;

static int by_score(const void *pa, const void *pb)
{
    const candidate *x = pa, *y = pb;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->anchor != y->anchor) return x->anchor < y->anchor ? -1 : 1;
    return (x->cls > y->cls) - (x->cls < y->cls);
}

int detect_decode(dc_tensor *pred, dc_tensor *anchors, int64_t image_size,
                  double score_threshold, double nms_iou, int64_t max_detections,
                  dc_tensor **boxes, dc_tensor **scores, dc_tensor **classes)
{
    const char *op = "detect_decode";
    char buf[96];
    if (!boxes || !scores || !classes) return dc_error("%s: NULL output", op), -1;
    *boxes = *scores = *classes = NULL;
    if (!check_2d(anchors, op, "anchors", 4) || !check_2d(pred, op, "pred", DETECT_OUTPUTS))
        return -1;
    int64_t a = anchors->shape[0];
    if (pred->shape[0] != a)
        return dc_error("%s: pred %s must have one row per anchor (%lld)", op,
                        dc_shape_str(pred, buf, sizeof buf), (long long)a), -1;
    if (!check_size(image_size, op)) return -1;
    if (!(score_threshold >= 0 && score_threshold <= 1) || !(nms_iou >= 0 && nms_iou <= 1) ||
        max_detections < 0)
        return dc_error("%s: score_threshold %g and nms_iou %g must be in [0, 1], "
                        "max_detections %lld >= 0", op, score_threshold, nms_iou,
                        (long long)max_detections), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *probs = dc_softmax(dc_narrow(pred, 1, 4, DETECT_CLASSES), 1);
    dc_tensor *dec = dc_box_decode(dc_narrow(pred, 1, 0, 4), anchors, variances);
    dec = dec ? dc_clamp(dec, 0, (double)image_size) : NULL;
    float *pv = malloc((size_t)(a * DETECT_CLASSES + 1) * sizeof *pv);
    float *bv = malloc((size_t)(4 * a + 1) * sizeof *bv);
    candidate *cand = malloc((size_t)(a * (DETECT_CLASSES - 1) + 1) * sizeof *cand);
    int rc = -1;
    int64_t nc = 0;
    if (!pv || !bv || !cand) dc_error("%s: out of memory", op);
    else if (probs && dec && dc_to_float_buffer(probs, pv, a * DETECT_CLASSES) == 0 &&
             dc_to_float_buffer(dec, bv, 4 * a) == 0)
        rc = 0;
    for (int64_t i = 0; rc == 0 && i < a; i++)
        for (int64_t c = 1; c < DETECT_CLASSES; c++) {
            float s = pv[i * DETECT_CLASSES + c];
            const float *q = bv + 4 * i;
            if (s >= score_threshold && q[2] > q[0] && q[3] > q[1])
                cand[nc++] = (candidate){s, i, c};
        }
    dc_tensor *kb = NULL, *ks = NULL, *kc = NULL;
    if (rc == 0) {
        qsort(cand, (size_t)nc, sizeof *cand, by_score);
        if (nc > MAX_CANDIDATES) nc = MAX_CANDIDATES;
        float *cb = malloc((size_t)(4 * nc + 1) * sizeof *cb), *cs = malloc((size_t)(nc + 1) * sizeof *cs);
        int64_t *cc = malloc((size_t)(nc + 1) * sizeof *cc);
        rc = cb && cs && cc ? 0 : (dc_error("%s: out of memory", op), -1);
        for (int64_t j = 0; rc == 0 && j < nc; j++) {
            memcpy(cb + 4 * j, bv + 4 * cand[j].anchor, 4 * sizeof *cb);
            cs[j] = cand[j].score;
            cc[j] = cand[j].cls;
        }
        dc_tensor *tb = rc == 0 ? dc_from_buffer(DC_F32, 2, (int64_t[]){nc, 4}, cb) : NULL;
        dc_tensor *ts = tb ? dc_from_buffer(DC_F32, 1, (int64_t[]){nc}, cs) : NULL;
        dc_tensor *tc = ts ? dc_from_buffer(DC_I64, 1, (int64_t[]){nc}, cc) : NULL;
        free(cb);
        free(cs);
        free(cc);
        dc_tensor *keep = tc ? dc_batched_nms(tb, ts, tc, nms_iou) : NULL;
        if (keep && keep->shape[0] > max_detections) keep = dc_narrow(keep, 0, 0, max_detections);
        if (keep) {
            kb = dc_tensor_retain(dc_contiguous(dc_index_select(tb, 0, keep)));
            ks = kb ? dc_tensor_retain(dc_contiguous(dc_index_select(ts, 0, keep))) : NULL;
            kc = ks ? dc_tensor_retain(dc_contiguous(dc_index_select(tc, 0, keep))) : NULL;
        }
        rc = kc ? 0 : -1;
    }
    free(pv);
    free(bv);
    free(cand);
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(kb);
        dc_tensor_free(ks);
        return -1;
    }
    /* hand the three results to the caller's scope */
    *boxes = dc_clone(kb);
    *scores = dc_clone(ks);
    *classes = dc_clone(kc);
    dc_tensor_free(kb);
    dc_tensor_free(ks);
    dc_tensor_free(kc);
    return *boxes && *scores && *classes ? 0 : -1;
}

/* ---- Drawing -------------------------------------------------------------------------------- */

static const double class_colours[DETECT_CLASSES][3] = {
    {1, 1, 1}, {1, 0.15, 0.15}, {0.1, 1, 0.1}, {0.25, 0.5, 1}, {1, 1, 0}};

int detect_draw(dc_tensor *img, dc_tensor *boxes, dc_tensor *scores, dc_tensor *classes,
                double scale, double min_score)
{
    const char *op = "detect_draw";
    char buf[96];
    if (!img || img->ndim != 3 || img->shape[0] != 3)
        return dc_error("%s: img must be an RGB image [3, H, W], got %s", op,
                        img ? dc_shape_str(img, buf, sizeof buf) : "NULL"), -1;
    if (!check_2d(boxes, op, "boxes", 4) || !check_2d(classes, op, "classes", 0)) return -1;
    int64_t k = boxes->shape[0];
    if (!scores || scores->ndim != 1 || scores->shape[0] != k || classes->shape[0] != k)
        return dc_error("%s: scores and classes must be [%lld], one per box", op, (long long)k), -1;
    if (!(scale > 0)) return dc_error("%s: scale %g must be > 0", op, scale), -1;
    double *b = values(boxes, 4 * k), *s = b ? values(scores, k) : NULL, *c = s ? values(classes, k) : NULL;
    int rc = c ? 0 : -1;
    /* the lowest scores first, so the best boxes and labels end up on top */
    for (int64_t j = k - 1; rc == 0 && j >= 0; j--) {
        if (s[j] < min_score) continue;
        int64_t cls = (int64_t)c[j];
        if (cls < 0 || cls >= DETECT_CLASSES) {
            rc = -1;
            dc_error("%s: class %lld of detection %lld is out of range", op, (long long)cls, (long long)j);
            break;
        }
        const double *col = class_colours[cls], *q = b + 4 * j;
        rc = dc_image_draw_box(img, q[0] * scale, q[1] * scale, q[2] * scale, q[3] * scale,
                               col[0], col[1], col[2]);
        char text[48];
        snprintf(text, sizeof text, "%s %.2f", scene_class_names[cls], s[j]);
        int64_t x = (int64_t)(q[0] * scale) + 1, y = (int64_t)(q[1] * scale) - DC_FONT_HEIGHT - 1;
        if (y < 0) y = (int64_t)(q[1] * scale) + 2;
        /* a dark shadow one pixel down-right keeps the label readable on any background */
        if (rc == 0) rc = dc_image_draw_text(img, x + 1, y + 1, text, 0, 0, 0);
        if (rc == 0) rc = dc_image_draw_text(img, x, y, text, col[0], col[1], col[2]);
    }
    free(b);
    free(s);
    free(c);
    return rc;
}
