/* `deepc train --task detect` (book §6.3): the single-shot detector of detect.h on synthetic
 * scenes (apps/scenes: shapes and, by default, Fashion-MNIST items), generated once in setup
 * from the train / validation / test seeds; training batches are drawn from the train scenes
 * (mirrored left-right at random), matched to the anchors on the fly. Metrics: map50 (mAP at
 * IoU 0.5, all-points PR area), map75 and the AP per class; pictures: detect.png (predicted
 * boxes with classes and scores on test scenes) and detect_pr.svg (precision-recall curves). */
#include "detect/detect.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long width;            /* backbone channels at stride 2 */
    long image_size;       /* scene side in pixels */
    long items;            /* Fashion-MNIST items pasted (0: shapes only) */
    long train_scenes;     /* generated once in setup */
    long val_scenes;       /* scored at each epoch's end */
    long test_scenes;      /* scored at the end */
    double match_iou;      /* anchor-to-truth IoU that makes a positive */
    double neg_ratio;      /* hard negatives per positive */
    double nms_iou;        /* non-maximum suppression threshold */
    double score_min;      /* candidates below this probability are dropped */
    bool no_flip;          /* no left-right mirroring of training scenes */
} detect_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(detect_settings, name, type, field, min, max, choices, help)
static const dc_option detect_options[] = {
    OPT("width", DC_OPTION_INT, width, 1, 256, NULL, "backbone channels at stride 2 (x2, x4 below)"),
    OPT("image-size", DC_OPTION_INT, image_size, 32, 256, NULL, "scene side (a multiple of 16)"),
    OPT("items", DC_OPTION_INT, items, 0, 10000, NULL, "Fashion-MNIST items to paste (0: shapes only)"),
    OPT("train-scenes", DC_OPTION_INT, train_scenes, 1, 100000, NULL, "training scenes generated"),
    OPT("val-scenes", DC_OPTION_INT, val_scenes, 1, 100000, NULL, "validation scenes scored"),
    OPT("test-scenes", DC_OPTION_INT, test_scenes, 1, 100000, NULL, "test scenes scored"),
    OPT("match-iou", DC_OPTION_REAL, match_iou, 0.05, 1, NULL, "IoU making an anchor positive"),
    OPT("neg-ratio", DC_OPTION_REAL, neg_ratio, 0, 100, NULL, "hard negatives per positive"),
    OPT("nms-iou", DC_OPTION_REAL, nms_iou, 0, 1, NULL, "non-maximum suppression IoU"),
    OPT("score-min", DC_OPTION_REAL, score_min, 0, 1, NULL, "lowest class probability kept"),
    OPT("no-flip", DC_OPTION_FLAG, no_flip, 0, 0, NULL, "do not mirror training scenes"),
    DC_OPTION_END,
};

static void detect_defaults(void *settings)
{
    detect_settings *s = settings;
    *s = (detect_settings){16, 64, 1000, 4000, 300, 1000, 0.5, 3.0, 0.45, 0.01, false};
}

enum { MAX_DETECTIONS = 100, EVAL_BATCH = 100, MIN_NEGATIVES = 8 };

/* One split's scenes: the images (in a dataset whose targets are the scene numbers, for
 * dc_dataset_random_batch) and every scene's objects. */
typedef struct {
    dc_dataset *ds;
    int64_t n;
    int *count;
    scene_object *objects;
} detect_split;

typedef struct {
    detect_settings s;
    int64_t batch;
    dc_tensor *anchors; /* retained */
    detect_split train, val, test;
    dc_pr_curve curves[DETECT_CLASSES]; /* of the last test evaluation */
    bool have_curves;
} detect_state;

static void split_free(detect_split *sp)
{
    dc_dataset_free(sp->ds);
    free(sp->count);
    free(sp->objects);
}

static void free_curves(detect_state *st)
{
    for (int c = 0; c < DETECT_CLASSES && st->have_curves; c++) dc_pr_curve_free(&st->curves[c]);
    st->have_curves = false;
}

static void detect_close(void *state)
{
    detect_state *st = state;
    if (!st) return;
    dc_tensor_free(st->anchors);
    split_free(&st->train);
    split_free(&st->val);
    split_free(&st->test);
    free_curves(st);
    free(st);
}

enum { CHUNK = 500 };

/* n scenes from seed, generated CHUNK at a time (only the images and objects are kept). */
static int make_split(detect_split *sp, int64_t n, int64_t size, uint64_t seed, const dc_tensor *items)
{
    sp->n = n;
    sp->count = malloc((size_t)n * sizeof *sp->count);
    sp->objects = malloc((size_t)n * SCENES_MAX_OBJECTS * sizeof *sp->objects);
    if (!sp->count || !sp->objects) return dc_error("detect: out of memory"), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *images = dc_empty(DC_F32, 4, (int64_t[]){n, 3, size, size});
    dc_tensor *index = dc_arange(DC_I64, 0, (double)n, 1);
    int rc = images && index ? 0 : -1;
    for (int64_t start = 0; rc == 0 && start < n; start += CHUNK) {
        /* each chunk of CHUNK scenes has its own seed, derived from the split's */
        int64_t m = n - start < CHUNK ? n - start : CHUNK;
        scene_set *set = scenes_generate(m, size, seed + 0x9E3779B97F4A7C15ull * (uint64_t)(start / CHUNK), items);
        rc = set ? dc_copy_(dc_narrow(images, 0, start, m), set->images) : -1;
        if (rc == 0) {
            memcpy(sp->count + start, set->count, (size_t)m * sizeof *sp->count);
            memcpy(sp->objects + start * SCENES_MAX_OBJECTS, set->objects,
                   (size_t)m * SCENES_MAX_OBJECTS * sizeof *sp->objects);
        }
        scenes_free(set);
    }
    if (rc == 0 && !(sp->ds = dc_dataset_new(images, index))) rc = -1;
    dc_scope_end(scope);
    return rc;
}

/* Scene i's boxes [K, 4] and classes [K], mirrored left-right when flip. */
static int scene_truth(const detect_split *sp, int64_t i, int64_t size, bool flip, dc_tensor **boxes,
                       dc_tensor **classes)
{
    int k = sp->count[i];
    float b[SCENES_MAX_OBJECTS * 4];
    int64_t c[SCENES_MAX_OBJECTS];
    for (int j = 0; j < k; j++) {
        const scene_object *o = &sp->objects[i * SCENES_MAX_OBJECTS + j];
        float x0 = flip ? (float)size - o->x1 : o->x0, x1 = flip ? (float)size - o->x0 : o->x1;
        b[4 * j] = x0, b[4 * j + 1] = o->y0, b[4 * j + 2] = x1, b[4 * j + 3] = o->y1;
        c[j] = o->cls;
    }
    *boxes = dc_from_buffer(DC_F32, 2, (int64_t[]){k, 4}, b);
    *classes = dc_from_buffer(DC_I64, 1, (int64_t[]){k}, c);
    return *boxes && *classes ? 0 : -1;
}

/* Targets of scenes idx[0 .. b-1] of a split: labels [b, A] and deltas [b, A, 4]. */
static int batch_targets(const detect_state *st, const detect_split *sp, const int64_t *idx,
                         const bool *flip, int64_t b, dc_tensor **labels, dc_tensor **deltas)
{
    dc_tensor **lab = calloc((size_t)b, sizeof *lab), **del = calloc((size_t)b, sizeof *del);
    int rc = lab && del ? 0 : (dc_error("detect: out of memory"), -1);
    for (int64_t j = 0; rc == 0 && j < b; j++) {
        dc_tensor *boxes, *classes;
        rc = scene_truth(sp, idx[j], st->s.image_size, flip && flip[j], &boxes, &classes);
        if (rc == 0)
            rc = detect_targets(st->anchors, boxes, classes, st->s.image_size, st->s.match_iou,
                                &lab[j], &del[j]);
    }
    *labels = rc == 0 ? dc_stack(lab, (int)b, 0) : NULL;
    *deltas = rc == 0 ? dc_stack(del, (int)b, 0) : NULL;
    free(lab);
    free(del);
    return *labels && *deltas ? 0 : -1;
}

static int detect_setup(dc_task_setup *ctx)
{
    detect_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("detect: out of memory"), -1;
    st->s = *(const detect_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    int64_t size = st->s.image_size;
    ctx->model = detect_model_new(st->s.width, size, ctx->model_rng);
    if (!ctx->model || !(st->anchors = dc_tensor_retain(detect_anchors(size)))) return -1;
    if (!ctx->with_data) return 0;
    dc_tensor *items = NULL;
    if (st->s.items > 0) {
        const char *dir = ctx->data_dir && ctx->data_dir[0] ? ctx->data_dir : NULL;
        if (!(items = scenes_load_items(dir, st->s.items))) return -1;
    }
    /* the run's seed moves all three splits, which stay disjoint */
    uint64_t shift = ctx->seed * 0xD6E8FEB86659FD93ull;
    if (make_split(&st->train, st->s.train_scenes, size, scenes_split_seed(SCENES_TRAIN) ^ shift, items) ||
        make_split(&st->val, st->s.val_scenes, size, scenes_split_seed(SCENES_VAL) ^ shift, items) ||
        make_split(&st->test, st->s.test_scenes, size, scenes_split_seed(SCENES_TEST) ^ shift, items))
        return -1;
    ctx->steps_per_epoch = st->s.train_scenes / ctx->batch;
    if (ctx->steps_per_epoch < 1) ctx->steps_per_epoch = 1;
    return 0;
}

static dc_tensor *detect_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    detect_state *st = state;
    dc_tensor *x, *y;
    if (dc_dataset_random_batch(st->train.ds, st->batch, rng, &x, &y) != 0) return NULL;
    int64_t b = x->shape[0], s = st->s.image_size;
    const int64_t *idx = dc_data(y);
    bool *flip = calloc((size_t)b, sizeof *flip);
    if (!flip) return dc_error("detect: out of memory");
    /* mirror the chosen images in place (x is this batch's own copy) */
    float *px = dc_data(x);
    for (int64_t j = 0; j < b; j++) {
        flip[j] = !st->s.no_flip && dc_rng_uniform(rng) < 0.5;
        for (int64_t r = 0; flip[j] && r < 3 * s; r++) {
            float *row = px + (j * 3 * s + r) * s;
            for (int64_t u = 0, v = s - 1; u < v; u++, v--) {
                float t = row[u];
                row[u] = row[v], row[v] = t;
            }
        }
    }
    dc_tensor *labels, *deltas;
    int rc = batch_targets(st, &st->train, idx, flip, b, &labels, &deltas);
    free(flip);
    if (rc != 0) return NULL;
    return detect_loss(dc_forward(model, x), labels, deltas, st->s.neg_ratio, MIN_NEGATIVES);
}

/* Detections and truths of every scene of a split, the mean loss, and mAP at 0.5 / 0.75. */
static int detect_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    detect_state *st = state;
    const detect_split *sp = split == DC_TASK_TEST ? &st->test : &st->val;
    int64_t n = sp->n, s = st->s.image_size;
    dc_box_set *det = calloc((size_t)n, sizeof *det), *truth = calloc((size_t)n, sizeof *truth);
    int64_t *idx = malloc((size_t)EVAL_BATCH * sizeof *idx);
    int rc = det && truth && idx ? 0 : (dc_error("detect: out of memory"), -1);
    double loss = 0;
    bool grad = dc_no_grad_begin();
    for (int64_t start = 0; rc == 0 && start < n; start += EVAL_BATCH) {
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        size_t scope = dc_scope_begin();
        dc_tensor *pred = dc_forward(model, dc_narrow(sp->ds->inputs, 0, start, m));
        dc_tensor *labels, *deltas;
        for (int64_t j = 0; j < m; j++) idx[j] = start + j;
        rc = pred ? batch_targets(st, sp, idx, NULL, m, &labels, &deltas) : -1;
        dc_tensor *l = rc == 0 ? detect_loss(pred, labels, deltas, st->s.neg_ratio, MIN_NEGATIVES) : NULL;
        if (!l) rc = -1;
        else loss += dc_item(l) * (double)m;
        for (int64_t j = 0; rc == 0 && j < m; j++) {
            dc_box_set *d = &det[start + j];
            rc = detect_decode(dc_select(pred, 0, j), st->anchors, s, st->s.score_min,
                               st->s.nms_iou, MAX_DETECTIONS, &d->boxes, &d->scores, &d->classes);
            if (rc == 0) {
                dc_tensor_retain(d->boxes), dc_tensor_retain(d->scores), dc_tensor_retain(d->classes);
            } else {
                d->boxes = d->scores = d->classes = NULL;
            }
        }
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    /* the truths live in evaluate's own scope (the caller's) */
    for (int64_t i = 0; rc == 0 && i < n; i++)
        rc = scene_truth(sp, i, s, false, &truth[i].boxes, &truth[i].classes);
    double ap[DETECT_CLASSES], map50 = NAN, map75 = NAN;
    dc_pr_curve curves[DETECT_CLASSES];
    if (rc == 0)
        rc = dc_mean_average_precision(det, truth, n, DETECT_CLASSES, 0.5, ap, &map50, curves);
    if (rc == 0 && (rc = dc_mean_average_precision(det, truth, n, DETECT_CLASSES, 0.75, NULL, &map75, NULL)) != 0)
        for (int c = 0; c < DETECT_CLASSES; c++) dc_pr_curve_free(&curves[c]);
    if (rc == 0) {
        out->loss = loss / (double)n;
        dc_metrics_set(out, "map50", map50, true);
        dc_metrics_set(out, "map75", map75, true);
        for (int c = 1; c < DETECT_CLASSES; c++) {
            char name[32];
            snprintf(name, sizeof name, "ap50_%s", scene_class_names[c]);
            if (!isnan(ap[c])) dc_metrics_set(out, name, ap[c], true);
        }
        if (split == DC_TASK_TEST) {
            free_curves(st);
            memcpy(st->curves, curves, sizeof curves);
            st->have_curves = true;
        } else {
            for (int c = 0; c < DETECT_CLASSES; c++) dc_pr_curve_free(&curves[c]);
        }
    }
    for (int64_t i = 0; det && i < n; i++) {
        if (!det[i].boxes) continue;
        dc_tensor_free(det[i].boxes);
        dc_tensor_free(det[i].scores);
        dc_tensor_free(det[i].classes);
    }
    free(det);
    free(truth);
    free(idx);
    return rc;
}

/* detect.png: the first 8 test scenes, 4x, with the detections of score >= 0.5;
 * detect_pr.svg: the test precision-recall curve of each class. */
static int detect_render(void *state, dc_module *model, const char *dir)
{
    detect_state *st = state;
    enum { K = 8, SCALE = 4 };
    char path[4200];
    int64_t k = st->test.n < K ? st->test.n : K, s = st->s.image_size;
    if (!st->have_curves) {
        dc_metrics m = {0};
        if (detect_evaluate(state, model, DC_TASK_TEST, &m) != 0) return -1;
    }
    bool grad = dc_no_grad_begin();
    dc_tensor *images = dc_narrow(st->test.ds->inputs, 0, 0, k);
    dc_tensor *pred = dc_forward(model, images);
    dc_tensor *big = pred ? dc_contiguous(dc_upsample_nearest2d(images, SCALE, SCALE)) : NULL;
    int rc = big ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < k; i++) {
        dc_tensor *boxes, *scores, *classes;
        rc = detect_decode(dc_select(pred, 0, i), st->anchors, s, st->s.score_min, st->s.nms_iou,
                           MAX_DETECTIONS, &boxes, &scores, &classes);
        if (rc == 0) rc = detect_draw(dc_select(big, 0, i), boxes, scores, classes, SCALE, 0.5);
    }
    dc_grad_mode_restore(grad);
    snprintf(path, sizeof path, "%s/detect.png", dir);
    if (rc == 0) rc = dc_png_write_grid(path, big, 4, 4, 1.0);
    /* precision against recall, one curve per class with ground truth (a point per detection:
     * thinned to those 0.002 away from the last one kept, in recall or precision, and the
     * last, which changes nothing visible and keeps the file small) */
    dc_plot_series series[DETECT_CLASSES];
    double *thin[DETECT_CLASSES] = {NULL};
    int ns = 0;
    for (int c = 1; rc == 0 && c < DETECT_CLASSES; c++) {
        const dc_pr_curve *cv = &st->curves[c];
        if (cv->n < 1) continue;
        double *r = thin[c] = malloc((size_t)cv->n * 2 * sizeof *r), *p = r + cv->n;
        if (!r) {
            rc = -1;
            dc_error("detect: out of memory");
            break;
        }
        int m = 0;
        for (int i = 0; i < cv->n; i++)
            if (m == 0 || i == cv->n - 1 || fabs(cv->recall[i] - r[m - 1]) >= 0.002 ||
                fabs(cv->precision[i] - p[m - 1]) >= 0.002)
                r[m] = cv->recall[i], p[m++] = cv->precision[i];
        series[ns++] = (dc_plot_series){scene_class_names[c], r, p, m, NULL, false};
    }
    snprintf(path, sizeof path, "%s/detect_pr.svg", dir);
    if (rc == 0 && ns > 0)
        rc = dc_plot_svg(path, "Precision-recall at IoU 0.5 (test scenes)", "recall", "precision",
                         series, ns);
    for (int c = 0; c < DETECT_CLASSES; c++) free(thin[c]);
    return rc;
}

const dc_task detect_task = {
    .name = "detect",
    .summary = "single-shot object detector on synthetic scenes (book 6.3): test mAP at IoU 0.5",
    .options = detect_options,
    .settings_size = sizeof(detect_settings),
    .defaults = detect_defaults,
    .run_defaults = "epochs = 8\nbatch = 32\nlr = 4e-3\noptim = adamw\n",
    .setup = detect_setup,
    .step = detect_step,
    .evaluate = detect_evaluate,
    .render = detect_render,
    .close = detect_close,
};
