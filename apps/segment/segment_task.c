/* `deepc train --task segment` (book §6.4): synthetic scenes (apps/scenes: circles, squares,
 * triangles and Fashion-MNIST items on textured backgrounds), a U-Net or a PSP network trained
 * with per-pixel cross-entropy over SCENES_CLASSES classes (background included); metrics:
 * mean IoU (metrics[0], "miou"), IoU per class and pixel accuracy; picture: image | truth |
 * prediction rows with a colour legend. The scenes are generated once in setup (train, val and
 * test from their own seeds), so a step only draws a batch. */
#include "scenes/scenes.h"
#include "segment/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char arch[8];      /* unet | psp */
    long width;        /* channels at full resolution */
    long size;         /* scene side in pixels */
    long train_scenes; /* generated once in setup */
    long val_scenes;
    long test_scenes;
    long items;        /* Fashion-MNIST items to paste (0: shapes only) */
} segment_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(segment_settings, name, type, field, min, max, choices, help)
static const dc_option segment_options[] = {
    OPT("arch", DC_OPTION_TEXT, arch, 0, 0, "unet|psp", "U-Net or pyramid-pooling network"),
    OPT("width", DC_OPTION_INT, width, 1, 256, NULL, "channels at full resolution"),
    OPT("size", DC_OPTION_INT, size, 32, 256, NULL, "scene side in pixels (a multiple of 8)"),
    OPT("train-scenes", DC_OPTION_INT, train_scenes, 1, 1e6, NULL, "training scenes"),
    OPT("val-scenes", DC_OPTION_INT, val_scenes, 1, 1e6, NULL, "validation scenes"),
    OPT("test-scenes", DC_OPTION_INT, test_scenes, 1, 1e6, NULL, "test scenes"),
    OPT("items", DC_OPTION_INT, items, 0, 10000, NULL,
        "Fashion-MNIST items pasted into scenes (0: shapes only)"),
    DC_OPTION_END,
};

static void segment_defaults(void *settings)
{
    segment_settings *s = settings;
    *s = (segment_settings){"unet", 8, 64, 6000, 300, 1000, 2000};
}

typedef struct {
    segment_settings s;
    int64_t batch;
    dc_dataset *train, *val, *test; /* images [n, 3, size, size], masks int64 [n, size, size] */
} segment_state;

static void segment_close(void *state)
{
    segment_state *st = state;
    if (!st) return;
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st);
}

/* n scenes of the split as a dataset (images -> masks). */
static dc_dataset *make_scenes(const segment_settings *s, scenes_split split, uint64_t seed,
                               const dc_tensor *items)
{
    uint64_t mixed = scenes_split_seed(split) ^ (seed * 0x9E3779B97F4A7C15ull);
    long n = split == SCENES_TRAIN ? s->train_scenes : split == SCENES_VAL ? s->val_scenes
                                                                           : s->test_scenes;
    scene_set *set = scenes_generate(n, s->size, mixed, items);
    if (!set) return NULL;
    dc_dataset *ds = dc_dataset_new(set->images, set->masks);
    scenes_free(set);
    if (ds) ds->n_classes = SCENES_CLASSES, ds->class_names = scene_class_names;
    return ds;
}

static int segment_setup(dc_task_setup *ctx)
{
    segment_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("segment: out of memory"), -1;
    st->s = *(const segment_settings *)ctx->settings;
    st->batch = ctx->batch;
    ctx->state = st;
    if (st->s.size % 8)
        return dc_error("segment: size %ld must be a multiple of 8 (three 2x2 poolings)",
                        st->s.size),
               -1;
    ctx->model = segment_model_new(!strcmp(st->s.arch, "psp") ? SEGMENT_PSP : SEGMENT_UNET,
                                   st->s.width, SCENES_CLASSES, ctx->model_rng);
    if (!ctx->model) return -1;
    if (!ctx->with_data) return 0;
    size_t scope = dc_scope_begin();
    dc_tensor *items = NULL;
    if (st->s.items > 0) {
        const char *dir = ctx->data_dir && ctx->data_dir[0] ? ctx->data_dir : NULL;
        if (!(items = scenes_load_items(dir, st->s.items))) {
            dc_scope_end(scope);
            return -1;
        }
    }
    bool ok = (st->train = make_scenes(&st->s, SCENES_TRAIN, ctx->seed, items)) &&
              (st->val = make_scenes(&st->s, SCENES_VAL, ctx->seed, items)) &&
              (st->test = make_scenes(&st->s, SCENES_TEST, ctx->seed, items));
    dc_scope_end(scope);
    if (!ok) return -1;
    ctx->steps_per_epoch = st->s.train_scenes / ctx->batch;
    if (ctx->steps_per_epoch < 1) ctx->steps_per_epoch = 1;
    return 0;
}

static dc_tensor *segment_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    segment_state *st = state;
    dc_tensor *x, *y;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &x, &y) != 0) return NULL;
    return dc_cross_entropy(dc_forward(model, x), y, NULL);
}

enum { EVAL_BATCH = 50 };

/* All scenes of the split: the mean cross-entropy, the confusion matrix summed over them,
 * IoU per class, mean IoU and pixel accuracy. */
static int segment_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    segment_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds);
    if (n < 1) return dc_error("segment: no scenes to evaluate"), -1;
    enum { C = SCENES_CLASSES };
    int64_t conf[C * C] = {0};
    double loss = 0;
    bool grad = dc_no_grad_begin();
    int rc = 0;
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        size_t scope = dc_scope_begin();
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        dc_tensor *x = dc_narrow(ds->inputs, 0, start, m), *y = dc_narrow(ds->targets, 0, start, m);
        dc_tensor *logits = dc_forward(model, x);
        double l = dc_item(dc_cross_entropy(logits, y, NULL));
        dc_tensor *c = segment_confusion(y, segment_predict(logits), C);
        double counts[C * C];
        if (isnan(l) || !c || dc_to_double_buffer(c, counts, C * C) != 0) rc = -1;
        for (int k = 0; rc == 0 && k < C * C; k++) conf[k] += (int64_t)counts[k];
        loss += l * (double)m;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc != 0) return -1;
    size_t scope = dc_scope_begin();
    dc_tensor *total = dc_from_buffer(DC_I64, DC_SHAPE(C, C), conf);
    double iou[C], miou = total ? segment_mean_iou(total) : NAN;
    if (isnan(miou) || segment_iou(total, iou, C) != C) rc = -1;
    dc_scope_end(scope);
    if (rc != 0) return -1;
    int64_t right = 0, all = 0;
    for (int k = 0; k < C * C; k++) all += conf[k], right += k / C == k % C ? conf[k] : 0;
    out->loss = loss / (double)n;
    dc_metrics_set(out, "miou", miou, true);
    for (int k = 0; k < C; k++) {
        char name[32];
        snprintf(name, sizeof name, "iou_%s", scene_class_names[k]);
        dc_metrics_set(out, name, iou[k], true);
    }
    dc_metrics_set(out, "pixel_accuracy", (double)right / (double)all, true);
    return 0;
}

/* segment.png: 8 test scenes (2x nearest) in three rows, image | truth | prediction, and a
 * legend of the class colours. */
static int segment_render(void *state, dc_module *model, const char *dir)
{
    segment_state *st = state;
    int64_t k = dc_dataset_size(st->test) < 8 ? dc_dataset_size(st->test) : 8;
    bool grad = dc_no_grad_begin();
    dc_tensor *x = dc_narrow(st->test->inputs, 0, 0, k);
    dc_tensor *pred = segment_predict(dc_forward(model, x));
    dc_grad_mode_restore(grad);
    dc_tensor *rows[3] = {x, segment_colorize(dc_narrow(st->test->targets, 0, 0, k)),
                          segment_colorize(pred)};
    if (!rows[1] || !rows[2]) return -1;
    dc_tensor *grid = dc_make_grid(dc_upsample_nearest2d(dc_cat(rows, 3, 0), 2, 2), (int)k, 2, 1.0);
    if (!grid) return -1;
    /* the legend drawn at half scale, then doubled like the scenes */
    dc_tensor *legend = dc_full(DC_F32, DC_SHAPE(3, DC_FONT_HEIGHT + 4, grid->shape[2] / 2), 1.0);
    if (!legend) return -1;
    int64_t x0 = 4;
    for (int c = 0; c < SCENES_CLASSES; c++) {
        float rgb[3];
        segment_class_colour(c, rgb);
        if (dc_image_draw_text(legend, x0, 2, scene_class_names[c], rgb[0], rgb[1], rgb[2]) != 0)
            return -1;
        x0 += (int64_t)(strlen(scene_class_names[c]) + 2) * DC_FONT_ADVANCE;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/segment.png", dir);
    legend = dc_squeeze(dc_upsample_nearest2d(dc_unsqueeze(legend, 0), 2, 2), 0);
    if (!legend || legend->shape[2] != grid->shape[2])
        legend = dc_narrow(dc_cat((dc_tensor *[]){legend, legend}, 2, 2), 2, 0, grid->shape[2]);
    return dc_png_write(path, dc_cat((dc_tensor *[]){grid, legend}, 2, 1));
}

const dc_task segment_task = {
    .name = "segment",
    .summary = "label every pixel of synthetic scenes with a U-Net or PSP net (book 6.4): test mIoU",
    .options = segment_options,
    .settings_size = sizeof(segment_settings),
    .defaults = segment_defaults,
    .run_defaults = "epochs = 6\nbatch = 16\nlr = 2e-3\noptim = adam\n",
    .setup = segment_setup,
    .step = segment_step,
    .evaluate = segment_evaluate,
    .render = segment_render,
    .close = segment_close,
};
