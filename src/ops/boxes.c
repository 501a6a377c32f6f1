/* Boxes (book §6.3, object detection): IoU, the (dx, dy, dw, dh) box coding against anchors,
 * non-maximum suppression, anchor generation, matching anchors to ground truth, hard-negative
 * mining, the smooth-L1 loss and mean average precision.
 *
 * Boxes are [N, 4] float tensors of corners (x0, y0, x1, y1) with x0 <= x1 and y0 <= y1, as in
 * torchvision.ops; area = (x1 - x0) * (y1 - y0). These are geometry on data (targets and
 * post-processing), computed without autograd, except dc_smooth_l1_loss, which is composed of
 * differentiable ops. Empty inputs (N = 0) are valid and give empty results. */
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a [N, 4] float box tensor into a malloc'ed double array (n * 4; at least one slot);
 * checks the shape, dtype, finiteness and x0 <= x1, y0 <= y1 (unless allow_any: deltas). */
static double *read_boxes(const dc_tensor *t, const char *op, const char *what, int64_t *n,
                          bool allow_any)
{
    char buf[96];
    if (!t) return dc_error("%s: input '%s' is NULL", op, what);
    if (t->dtype != DC_F32 && t->dtype != DC_F64)
        return dc_error("%s: %s must be float32 or float64, got %s", op, what,
                        dc_dtype_name(t->dtype));
    if (t->ndim != 2 || t->shape[1] != 4)
        return dc_error("%s: %s must be [N, 4] (x0, y0, x1, y1), got %s", op, what,
                        dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf));
    *n = t->shape[0];
    double *v = malloc((size_t)(*n * 4 + 1) * sizeof *v);
    if (!v) return dc_error("%s: out of memory", op);
    if (dc_to_double_buffer(t, v, *n * 4) != 0) {
        free(v);
        return NULL;
    }
    for (int64_t i = 0; i < *n; i++) {
        const double *b = v + 4 * i;
        bool finite = isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3]);
        if (!finite || (!allow_any && (b[2] < b[0] || b[3] < b[1]))) {
            dc_error("%s: %s[%lld] = (%g, %g, %g, %g) is not a box (needs finite values, "
                     "x0 <= x1 and y0 <= y1)", op, what, (long long)i, b[0], b[1], b[2], b[3]);
            free(v);
            return NULL;
        }
    }
    return v;
}

/* A [n] float vector (scores, losses) into doubles, all finite. */
static double *read_vector(const dc_tensor *t, int64_t n, const char *op, const char *what)
{
    char buf[96];
    if (!t) return dc_error("%s: input '%s' is NULL", op, what);
    if (t->dtype != DC_F32 && t->dtype != DC_F64)
        return dc_error("%s: %s must be float32 or float64, got %s", op, what,
                        dc_dtype_name(t->dtype));
    if (t->ndim != 1 || t->shape[0] != n)
        return dc_error("%s: %s must be [%lld] (one per box), got %s", op, what, (long long)n,
                        dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf));
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    if (!v) return dc_error("%s: out of memory", op);
    if (dc_to_double_buffer(t, v, n) != 0) {
        free(v);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (isnan(v[i])) {
            free(v);
            return dc_error("%s: %s[%lld] is NaN", op, what, (long long)i);
        }
    return v;
}

/* Class ids [n] (int64) into a malloc'ed array. */
static int64_t *read_ids(const dc_tensor *t, int64_t n, const char *op, const char *what)
{
    char buf[96];
    if (!t) return dc_error("%s: input '%s' is NULL", op, what);
    if (t->dtype != DC_I64 && t->dtype != DC_I32 && t->dtype != DC_U8)
        return dc_error("%s: %s must be an integer tensor, got %s", op, what,
                        dc_dtype_name(t->dtype));
    if (t->ndim != 1 || t->shape[0] != n)
        return dc_error("%s: %s must be [%lld] (one per box), got %s", op, what, (long long)n,
                        dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf));
    double *v = malloc((size_t)(n + 1) * sizeof *v);
    int64_t *ids = malloc((size_t)(n + 1) * sizeof *ids);
    if (!v || !ids || dc_to_double_buffer(t, v, n) != 0) {
        free(v);
        free(ids);
        return dc_error("%s: cannot read %s", op, what);
    }
    for (int64_t i = 0; i < n; i++) ids[i] = (int64_t)v[i];
    free(v);
    return ids;
}

static dc_tensor *result_from_doubles(dc_dtype dtype, int ndim, const int64_t *shape,
                                      const double *v)
{
    dc_tensor *out = dc__alloc_result(dtype, ndim, shape);
    if (!out) return NULL;
    int64_t n = dc_numel(out);
    for (int64_t i = 0; i < n; i++) {
        if (dtype == DC_F32) ((float *)dc_data(out))[i] = (float)v[i];
        else ((double *)dc_data(out))[i] = v[i];
    }
    return dc__publish(out);
}

static int check_unit(double x, const char *op, const char *what)
{
    if (!(x >= 0 && x <= 1))
        return dc_error("%s: %s must be in [0, 1], got %g", op, what, x), -1;
    return 0;
}

/* IoU of two boxes: |a n b| / |a u b|, 0 when both have zero area (torchvision: NaN). */
static double iou1(const double *a, const double *b)
{
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
    double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter = iw > 0 && ih > 0 ? iw * ih : 0;
    double uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return uni > 0 ? inter / uni : 0;
}

/* ---- IoU ----------------------------------------------------------------------------------- */

dc_tensor *dc_box_iou(dc_tensor *a, dc_tensor *b)
{
    int64_t n, m;
    double *va = read_boxes(a, "dc_box_iou", "a", &n, false);
    if (!va) return NULL;
    double *vb = read_boxes(b, "dc_box_iou", "b", &m, false);
    if (!vb) {
        free(va);
        return NULL;
    }
    if (a->dtype != b->dtype) {
        free(va);
        free(vb);
        return dc_error("dc_box_iou: a is %s but b is %s", dc_dtype_name(a->dtype),
                        dc_dtype_name(b->dtype));
    }
    double *out = malloc((size_t)(n * m + 1) * sizeof *out);
    dc_tensor *r = NULL;
    if (!out) dc_error("dc_box_iou: out of memory for [%lld, %lld]", (long long)n, (long long)m);
    else {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < m; j++) out[i * m + j] = iou1(va + 4 * i, vb + 4 * j);
        r = result_from_doubles(a->dtype, 2, (int64_t[]){n, m}, out);
    }
    free(out);
    free(va);
    free(vb);
    return r;
}

/* ---- Box coding against anchors (SSD / Faster R-CNN) ---------------------------------------- */

static const double unit_variances[4] = {1, 1, 1, 1};
/* torchvision's BoxCoder clamps dw, dh at log(1000 / 16) before exp, so a wild prediction
 * cannot overflow */
#define DC_BOX_DWH_CLIP 4.135166556742356

static int check_variances(const double *var, const char *op)
{
    for (int k = 0; k < 4; k++)
        if (!(var[k] > 0) || !isfinite(var[k]))
            return dc_error("%s: variances[%d] = %g must be positive", op, k, var[k]), -1;
    return 0;
}

/* Load the boxes (or deltas) and anchors of the coders; both [N, 4], one dtype. */
static int coder_inputs(dc_tensor *x, dc_tensor *anchors, const double *var, const char *op,
                        const char *what, bool x_is_deltas, double **vx, double **va,
                        int64_t *n)
{
    int64_t na;
    if (check_variances(var, op) != 0) return -1;
    *vx = read_boxes(x, op, what, n, x_is_deltas);
    if (!*vx) return -1;
    *va = read_boxes(anchors, op, "anchors", &na, false);
    const char *err = NULL;
    char buf[96];
    if (!*va) err = "";
    else if (na != *n) err = "count";
    else if (x->dtype != anchors->dtype) err = "dtype";
    for (int64_t i = 0; !err && i < na; i++)
        if (!((*va)[4 * i + 2] > (*va)[4 * i]) || !((*va)[4 * i + 3] > (*va)[4 * i + 1])) {
            dc_error("%s: anchors[%lld] has zero width or height", op, (long long)i);
            err = "";
        }
    for (int64_t i = 0; !err && !x_is_deltas && i < *n; i++)
        if (!((*vx)[4 * i + 2] > (*vx)[4 * i]) || !((*vx)[4 * i + 3] > (*vx)[4 * i + 1])) {
            dc_error("%s: %s[%lld] has zero width or height (log(0) in dw, dh)", op, what,
                     (long long)i);
            err = "";
        }
    if (err && !strcmp(err, "count"))
        dc_error("%s: %s has %lld rows but anchors %s (one anchor per box)", op, what,
                 (long long)*n, dc__shape_fmt(anchors->ndim, anchors->shape, buf, sizeof buf));
    else if (err && !strcmp(err, "dtype"))
        dc_error("%s: %s is %s but anchors are %s", op, what, dc_dtype_name(x->dtype),
                 dc_dtype_name(anchors->dtype));
    if (err) {
        free(*vx);
        free(*va);
        return -1;
    }
    return 0;
}

/* dx = (cx - acx) / aw / v0, dy = (cy - acy) / ah / v1, dw = log(w / aw) / v2,
 * dh = log(h / ah) / v3 with centres c and sizes w, h of the box and its anchor. */
dc_tensor *dc_box_encode(dc_tensor *boxes, dc_tensor *anchors, const double *variances)
{
    const double *var = variances ? variances : unit_variances;
    double *vb, *va;
    int64_t n;
    if (coder_inputs(boxes, anchors, var, "dc_box_encode", "boxes", false, &vb, &va, &n) != 0)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        double *b = vb + 4 * i, *a = va + 4 * i;
        double aw = a[2] - a[0], ah = a[3] - a[1], acx = a[0] + 0.5 * aw, acy = a[1] + 0.5 * ah;
        double w = b[2] - b[0], h = b[3] - b[1], cx = b[0] + 0.5 * w, cy = b[1] + 0.5 * h;
        b[0] = (cx - acx) / aw / var[0];
        b[1] = (cy - acy) / ah / var[1];
        b[2] = log(w / aw) / var[2];
        b[3] = log(h / ah) / var[3];
    }
    dc_tensor *r = result_from_doubles(boxes->dtype, 2, (int64_t[]){n, 4}, vb);
    free(vb);
    free(va);
    return r;
}

/* The inverse: cx = dx v0 aw + acx, w = exp(min(dw v2, log(1000/16))) aw, corners cx -+ w/2. */
dc_tensor *dc_box_decode(dc_tensor *deltas, dc_tensor *anchors, const double *variances)
{
    const double *var = variances ? variances : unit_variances;
    double *vd, *va;
    int64_t n;
    if (coder_inputs(deltas, anchors, var, "dc_box_decode", "deltas", true, &vd, &va, &n) != 0)
        return NULL;
    for (int64_t i = 0; i < n; i++) {
        double *d = vd + 4 * i, *a = va + 4 * i;
        double aw = a[2] - a[0], ah = a[3] - a[1], acx = a[0] + 0.5 * aw, acy = a[1] + 0.5 * ah;
        double cx = d[0] * var[0] * aw + acx, cy = d[1] * var[1] * ah + acy;
        double w = exp(fmin(d[2] * var[2], DC_BOX_DWH_CLIP)) * aw;
        double h = exp(fmin(d[3] * var[3], DC_BOX_DWH_CLIP)) * ah;
        d[0] = cx - 0.5 * w;
        d[1] = cy - 0.5 * h;
        d[2] = cx + 0.5 * w;
        d[3] = cy + 0.5 * h;
    }
    dc_tensor *r = result_from_doubles(deltas->dtype, 2, (int64_t[]){n, 4}, vd);
    free(vd);
    free(va);
    return r;
}

/* ---- Non-maximum suppression ----------------------------------------------------------------- */

/* Order of indices 0..n-1 by decreasing key, ties by increasing index (a stable merge sort);
 * malloc'ed, NULL when out of memory. */
static int64_t *order_desc(const double *key, int64_t n)
{
    int64_t *idx = malloc((size_t)(n + 1) * sizeof *idx), *tmp = malloc((size_t)(n + 1) * sizeof *tmp);
    if (!idx || !tmp) {
        free(idx);
        free(tmp);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) idx[i] = i;
    /* bottom-up merge sort */
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = key[idx[j]] > key[idx[i]] ? idx[j++] : idx[i++];
            while (i < mid) tmp[k++] = idx[i++];
            while (j < hi) tmp[k++] = idx[j++];
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
    free(tmp);
    return idx;
}

/* Greedy NMS: take the best remaining box, drop every box of the same group (all one group
 * when group is NULL) whose IoU with it is > threshold; repeat. */
static dc_tensor *nms_impl(dc_tensor *boxes, dc_tensor *scores, dc_tensor *groups,
                           double iou_threshold, const char *op)
{
    if (check_unit(iou_threshold, op, "iou_threshold") != 0) return NULL;
    int64_t n;
    double *vb = read_boxes(boxes, op, "boxes", &n, false);
    if (!vb) return NULL;
    double *vs = read_vector(scores, n, op, "scores");
    int64_t *g = vs && groups ? read_ids(groups, n, op, "idxs") : NULL;
    int64_t *order = vs && (g || !groups) ? order_desc(vs, n) : NULL;
    bool *dead = order ? calloc((size_t)(n + 1), 1) : NULL;
    int64_t *keep = dead ? malloc((size_t)(n + 1) * sizeof *keep) : NULL;
    dc_tensor *r = NULL;
    if (keep) {
        int64_t k = 0;
        for (int64_t oi = 0; oi < n; oi++) {
            int64_t i = order[oi];
            if (dead[i]) continue;
            keep[k++] = i;
            for (int64_t oj = oi + 1; oj < n; oj++) {
                int64_t j = order[oj];
                if (!dead[j] && (!g || g[j] == g[i]) && iou1(vb + 4 * i, vb + 4 * j) > iou_threshold)
                    dead[j] = true;
            }
        }
        r = dc_from_buffer(DC_I64, 1, (int64_t[]){k}, keep);
    } else if (vs && (g || !groups)) {
        dc_error("%s: out of memory", op);
    }
    free(keep);
    free(dead);
    free(order);
    free(g);
    free(vs);
    free(vb);
    return r;
}

dc_tensor *dc_nms(dc_tensor *boxes, dc_tensor *scores, double iou_threshold)
{
    return nms_impl(boxes, scores, NULL, iou_threshold, "dc_nms");
}

dc_tensor *dc_batched_nms(dc_tensor *boxes, dc_tensor *scores, dc_tensor *idxs,
                          double iou_threshold)
{
    if (!idxs) return dc_error("dc_batched_nms: input 'idxs' is NULL");
    return nms_impl(boxes, scores, idxs, iou_threshold, "dc_batched_nms");
}

/* ---- Anchors ---------------------------------------------------------------------------------- */

dc_tensor *dc_anchor_boxes(int64_t feat_h, int64_t feat_w, double stride, const double *sizes,
                           int n_sizes, const double *ratios, int n_ratios)
{
    const char *op = "dc_anchor_boxes";
    if (feat_h < 1 || feat_w < 1 || feat_h > 100000 || feat_w > 100000)
        return dc_error("%s: feature map %lld x %lld must have sides in [1, 100000]", op,
                        (long long)feat_h, (long long)feat_w);
    if (!(stride > 0) || !isfinite(stride)) return dc_error("%s: stride %g must be > 0", op, stride);
    if (!sizes || n_sizes < 1 || !ratios || n_ratios < 1 || n_sizes > 64 || n_ratios > 64)
        return dc_error("%s: need 1 to 64 sizes and 1 to 64 ratios (got %d and %d)", op,
                        n_sizes, n_ratios);
    for (int s = 0; s < n_sizes; s++)
        if (!(sizes[s] > 0) || !isfinite(sizes[s]))
            return dc_error("%s: sizes[%d] = %g must be > 0", op, s, sizes[s]);
    for (int q = 0; q < n_ratios; q++)
        if (!(ratios[q] > 0) || !isfinite(ratios[q]))
            return dc_error("%s: ratios[%d] = %g must be > 0", op, q, ratios[q]);
    int64_t per = (int64_t)n_sizes * n_ratios, n = feat_h * feat_w * per;
    if (n > ((int64_t)1 << 28)) return dc_error("%s: %lld anchors are too many", op, (long long)n);
    dc_tensor *out = dc__alloc_result(DC_F32, 2, (int64_t[]){n, 4});
    if (!out) return NULL;
    float *o = dc_data(out);
    for (int64_t y = 0; y < feat_h; y++)
        for (int64_t x = 0; x < feat_w; x++)
            for (int s = 0; s < n_sizes; s++)
                for (int q = 0; q < n_ratios; q++) {
                    double cx = (x + 0.5) * stride, cy = (y + 0.5) * stride;
                    double w = sizes[s] * sqrt(ratios[q]), h = sizes[s] / sqrt(ratios[q]);
                    float *b = o + 4 * (((y * feat_w + x) * n_sizes + s) * n_ratios + q);
                    b[0] = (float)(cx - 0.5 * w);
                    b[1] = (float)(cy - 0.5 * h);
                    b[2] = (float)(cx + 0.5 * w);
                    b[3] = (float)(cy + 0.5 * h);
                }
    return dc__publish(out);
}

/* ---- Matching anchors to ground truth ----------------------------------------------------------- */

dc_tensor *dc_match_anchors(dc_tensor *anchors, dc_tensor *truth, double iou_threshold)
{
    const char *op = "dc_match_anchors";
    if (check_unit(iou_threshold, op, "iou_threshold") != 0) return NULL;
    int64_t a, g;
    double *va = read_boxes(anchors, op, "anchors", &a, false);
    if (!va) return NULL;
    double *vg = read_boxes(truth, op, "truth", &g, false);
    int64_t *match = vg ? malloc((size_t)(a + 1) * sizeof *match) : NULL;
    double *best = match ? malloc((size_t)(a + 1) * sizeof *best) : NULL;
    dc_tensor *r = NULL;
    if (best) {
        /* each anchor: its best ground truth (the first on ties) if that IoU >= threshold */
        for (int64_t i = 0; i < a; i++) {
            match[i] = -1;
            best[i] = -1;
            for (int64_t j = 0; j < g; j++) {
                double v = iou1(va + 4 * i, vg + 4 * j);
                if (v > best[i]) {
                    best[i] = v;
                    match[i] = j;
                }
            }
            if (best[i] < iou_threshold) match[i] = -1;
        }
        /* each ground truth: its best anchor (the first on ties) is forced to it, in order,
         * so a later ground truth wins an anchor two of them prefer */
        for (int64_t j = 0; j < g; j++) {
            int64_t arg = -1;
            double bv = -1;
            for (int64_t i = 0; i < a; i++) {
                double v = iou1(va + 4 * i, vg + 4 * j);
                if (v > bv) {
                    bv = v;
                    arg = i;
                }
            }
            if (arg >= 0 && bv > 0) match[arg] = j;
        }
        r = dc_from_buffer(DC_I64, 1, (int64_t[]){a}, match);
    } else if (vg) {
        dc_error("%s: out of memory", op);
    }
    free(best);
    free(match);
    free(vg);
    free(va);
    return r;
}

/* ---- Hard-negative mining ---------------------------------------------------------------------- */

dc_tensor *dc_hard_negative_mining(dc_tensor *loss, dc_tensor *positive, double neg_pos_ratio,
                                   int64_t min_negatives)
{
    const char *op = "dc_hard_negative_mining";
    char a[96], b[96];
    DC_CHECK_TENSOR(loss, op);
    DC_CHECK_TENSOR(positive, op);
    if (!dc_dtype_is_float(loss->dtype))
        return dc_error("%s: loss must be float32 or float64, got %s", op,
                        dc_dtype_name(loss->dtype));
    if (loss->ndim != 1 && loss->ndim != 2)
        return dc_error("%s: loss must be [A] or [B, A], got %s", op,
                        dc__shape_fmt(loss->ndim, loss->shape, a, sizeof a));
    if (!dc_same_shape(loss, positive))
        return dc_error("%s: positive %s must have the shape of loss %s", op,
                        dc__shape_fmt(positive->ndim, positive->shape, a, sizeof a),
                        dc__shape_fmt(loss->ndim, loss->shape, b, sizeof b));
    if (!(neg_pos_ratio >= 0) || !isfinite(neg_pos_ratio))
        return dc_error("%s: neg_pos_ratio must be >= 0, got %g", op, neg_pos_ratio);
    if (min_negatives < 0)
        return dc_error("%s: min_negatives must be >= 0, got %lld", op, (long long)min_negatives);
    int64_t rows = loss->ndim == 2 ? loss->shape[0] : 1, cols = loss->shape[loss->ndim - 1];
    int64_t n = rows * cols;
    double *l = malloc((size_t)(n + 1) * sizeof *l), *p = malloc((size_t)(n + 1) * sizeof *p);
    uint8_t *sel = malloc((size_t)(n + 1));
    double *key = malloc((size_t)(cols + 1) * sizeof *key);
    dc_tensor *r = NULL;
    if (!l || !p || !sel || !key) dc_error("%s: out of memory", op);
    else if (dc_to_double_buffer(loss, l, n) == 0 && dc_to_double_buffer(positive, p, n) == 0) {
        bool ok = true;
        for (int64_t i = 0; ok && i < n; i++)
            if (isnan(l[i])) {
                dc_error("%s: loss at flat index %lld is NaN", op, (long long)i);
                ok = false;
            }
        for (int64_t row = 0; ok && row < rows; row++) {
            const double *lr = l + row * cols, *pr = p + row * cols;
            uint8_t *sr = sel + row * cols;
            int64_t npos = 0;
            for (int64_t j = 0; j < cols; j++) {
                sr[j] = pr[j] != 0;
                npos += sr[j];
                /* negatives ranked by loss; positives last */
                key[j] = pr[j] != 0 ? -INFINITY : lr[j];
            }
            double want = floor(neg_pos_ratio * (double)npos);
            int64_t k = want > (double)(cols - npos) ? cols - npos : (int64_t)want;
            if (k < min_negatives) k = min_negatives < cols - npos ? min_negatives : cols - npos;
            int64_t *order = order_desc(key, cols);
            if (!order) {
                dc_error("%s: out of memory", op);
                ok = false;
                break;
            }
            for (int64_t t = 0; t < k; t++) sr[order[t]] = 1;
            free(order);
        }
        if (ok) r = dc_from_buffer(DC_BOOL, loss->ndim, loss->shape, sel);
    }
    free(l);
    free(p);
    free(sel);
    free(key);
    return r;
}

/* ---- Smooth-L1 loss ------------------------------------------------------------------------------ */

/* torch.nn.functional.smooth_l1_loss: with d = input - target,
 * l = 0.5 d^2 / beta if |d| < beta, else |d| - 0.5 beta (beta = 0: |d|). Composed of
 * differentiable ops, so backward (and double backward) come from the tape:
 * dl/dd = d / beta inside, sign(d) outside. */
dc_tensor *dc_smooth_l1_loss(dc_tensor *input, dc_tensor *target, double beta,
                             dc_reduction reduction)
{
    DC_CHECK_TENSOR(input, "dc_smooth_l1_loss");
    DC_CHECK_TENSOR(target, "dc_smooth_l1_loss");
    if (!(beta >= 0) || !isfinite(beta))
        return dc_error("dc_smooth_l1_loss: beta must be >= 0, got %g", beta);
    if (reduction != DC_REDUCE_MEAN && reduction != DC_REDUCE_SUM && reduction != DC_REDUCE_NONE)
        return dc_error("dc_smooth_l1_loss: unknown reduction %d", (int)reduction);
    size_t scope = dc_scope_begin();
    dc_tensor *d = dc_sub(input, target);
    dc_tensor *ad = dc_abs(d);
    dc_tensor *per;
    if (beta == 0) {
        per = ad;
    } else {
        dc_tensor *inside = dc_mul_scalar(dc_mul(d, d), 0.5 / beta);
        dc_tensor *outside = dc_add_scalar(ad, -0.5 * beta);
        dc_tensor *lim = d ? dc_scalar(d->dtype, beta) : NULL;
        per = dc_where(dc_lt(ad, lim), inside, outside);
    }
    dc_tensor *out = NULL;
    switch (reduction) {
    case DC_REDUCE_MEAN: out = dc_mean_all(per); break;
    case DC_REDUCE_SUM: out = dc_sum_all(per); break;
    case DC_REDUCE_NONE: out = per ? dc__publish(dc_tensor_retain(per)) : NULL; break;
    }
    return dc_scope_return(scope, out);
}

/* ---- Mean average precision ------------------------------------------------------------------------ */

void dc_pr_curve_free(dc_pr_curve *c)
{
    if (!c) return;
    free(c->recall);
    free(c->precision);
    c->recall = c->precision = NULL;
    c->n = 0;
}

typedef struct {
    double *box; /* k * 4 */
    double *score;
    int64_t *cls;
    int64_t k;
} image_boxes;

static void image_boxes_free(image_boxes *b)
{
    free(b->box);
    free(b->score);
    free(b->cls);
}

static int load_set(const dc_box_set *s, bool with_scores, int64_t n_classes, const char *what,
                    int64_t img, image_boxes *out)
{
    const char *op = "dc_mean_average_precision";
    char name[64];
    memset(out, 0, sizeof *out);
    snprintf(name, sizeof name, "%s[%lld].boxes", what, (long long)img);
    out->box = read_boxes(s->boxes, op, name, &out->k, false);
    if (!out->box) return -1;
    snprintf(name, sizeof name, "%s[%lld].classes", what, (long long)img);
    out->cls = read_ids(s->classes, out->k, op, name);
    if (!out->cls) return image_boxes_free(out), -1;
    for (int64_t i = 0; i < out->k; i++)
        if (out->cls[i] < 0 || out->cls[i] >= n_classes) {
            dc_error("%s: %s[%lld] = %lld is not a class in [0, %lld)", op, name, (long long)i,
                     (long long)out->cls[i], (long long)n_classes);
            image_boxes_free(out);
            return -1;
        }
    if (with_scores) {
        snprintf(name, sizeof name, "%s[%lld].scores", what, (long long)img);
        out->score = read_vector(s->scores, out->k, op, name);
        if (!out->score) return image_boxes_free(out), -1;
    }
    return 0;
}

int dc_mean_average_precision(const dc_box_set *detections, const dc_box_set *truths,
                              int64_t n_images, int64_t n_classes, double iou_threshold,
                              double *ap, double *map, dc_pr_curve *curves)
{
    const char *op = "dc_mean_average_precision";
    if (n_images < 0 || (n_images > 0 && (!detections || !truths)))
        return dc_error("%s: need n_images >= 0 and the detection and truth arrays", op), -1;
    if (n_classes < 1 || n_classes > 100000)
        return dc_error("%s: n_classes must be in [1, 100000], got %lld", op,
                        (long long)n_classes), -1;
    if (check_unit(iou_threshold, op, "iou_threshold") != 0) return -1;
    image_boxes *det = calloc((size_t)(n_images + 1), sizeof *det);
    image_boxes *gt = calloc((size_t)(n_images + 1), sizeof *gt);
    int rc = det && gt ? 0 : -1;
    if (rc) dc_error("%s: out of memory", op);
    int64_t loaded = 0;
    for (; rc == 0 && loaded < n_images; loaded++) {
        if (load_set(&detections[loaded], true, n_classes, "detections", loaded, &det[loaded]))
            rc = -1;
        else if (load_set(&truths[loaded], false, n_classes, "truths", loaded, &gt[loaded])) {
            image_boxes_free(&det[loaded]);
            rc = -1;
        }
        if (rc) break;
    }
    double sum = 0;
    int64_t counted = 0;
    if (curves)
        for (int64_t c = 0; c < n_classes; c++) memset(&curves[c], 0, sizeof curves[c]);
    for (int64_t c = 0; rc == 0 && c < n_classes; c++) {
        /* the class's detections over all images, by decreasing score (stable) */
        int64_t nd = 0, ngt = 0;
        for (int64_t i = 0; i < n_images; i++) {
            for (int64_t k = 0; k < det[i].k; k++) nd += det[i].cls[k] == c;
            for (int64_t k = 0; k < gt[i].k; k++) ngt += gt[i].cls[k] == c;
        }
        double *score = malloc((size_t)(nd + 1) * sizeof *score);
        int64_t *who = malloc((size_t)(2 * nd + 1) * sizeof *who); /* (image, index) pairs */
        double *prec = malloc((size_t)(nd + 1) * sizeof *prec);
        double *rec = malloc((size_t)(nd + 1) * sizeof *rec);
        uint8_t **used = calloc((size_t)(n_images + 1), sizeof *used);
        int64_t *order = NULL;
        bool ok = score && who && prec && rec && used;
        for (int64_t i = 0; ok && i < n_images; i++)
            if (!(used[i] = calloc((size_t)(gt[i].k + 1), 1))) ok = false;
        if (ok) {
            int64_t t = 0;
            for (int64_t i = 0; i < n_images; i++)
                for (int64_t k = 0; k < det[i].k; k++)
                    if (det[i].cls[k] == c) {
                        score[t] = det[i].score[k];
                        who[2 * t] = i;
                        who[2 * t + 1] = k;
                        t++;
                    }
            order = order_desc(score, nd);
            ok = order != NULL;
        }
        if (!ok) {
            dc_error("%s: out of memory", op);
            rc = -1;
        }
        int64_t tp = 0, fp = 0;
        for (int64_t t = 0; rc == 0 && t < nd; t++) {
            /* the detection is a true positive if its best-overlapping ground truth of its
             * class in its image has IoU >= threshold and was not claimed by a better one */
            int64_t i = who[2 * order[t]], k = who[2 * order[t] + 1];
            double bv = -1;
            int64_t bj = -1;
            for (int64_t j = 0; j < gt[i].k; j++) {
                if (gt[i].cls[j] != c) continue;
                double v = iou1(det[i].box + 4 * k, gt[i].box + 4 * j);
                if (v > bv) {
                    bv = v;
                    bj = j;
                }
            }
            if (bj >= 0 && bv >= iou_threshold && !used[i][bj]) {
                used[i][bj] = 1;
                tp++;
            } else {
                fp++;
            }
            prec[t] = (double)tp / (double)(tp + fp);
            rec[t] = ngt > 0 ? (double)tp / (double)ngt : 0;
        }
        if (rc == 0) {
            double a = NAN;
            if (ngt > 0) {
                /* all-points interpolation (VOC 2010+): sum over recall steps of the step
                 * times the best precision at that recall or beyond */
                a = 0;
                double prev_r = 0;
                /* score[] is free now: the envelope max(prec[t..nd)) */
                for (int64_t t = nd - 1; t >= 0; t--)
                    score[t] = t == nd - 1 ? prec[t] : fmax(prec[t], score[t + 1]);
                for (int64_t t = 0; t < nd; t++)
                    if (rec[t] > prev_r) {
                        a += (rec[t] - prev_r) * score[t];
                        prev_r = rec[t];
                    }
                sum += a;
                counted++;
            }
            if (ap) ap[c] = a;
            if (curves) {
                curves[c].n = (int)nd;
                curves[c].recall = rec;
                curves[c].precision = prec;
                rec = prec = NULL;
            }
        }
        for (int64_t i = 0; used && i < n_images; i++) free(used[i]);
        free(used);
        free(order);
        free(score);
        free(who);
        free(prec);
        free(rec);
    }
    for (int64_t i = 0; i < loaded && i < n_images; i++) {
        image_boxes_free(&det[i]);
        image_boxes_free(&gt[i]);
    }
    free(det);
    free(gt);
    if (rc != 0) {
        if (curves)
            for (int64_t c = 0; c < n_classes; c++) dc_pr_curve_free(&curves[c]);
        return -1;
    }
    if (map) *map = counted ? sum / (double)counted : NAN;
    return 0;
}
