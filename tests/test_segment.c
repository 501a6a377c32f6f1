/* Semantic segmentation (apps/segment): the confusion matrix, IoU and mean IoU against
 * hand-computed cases, the networks' shapes, mask colours, bad inputs, and the segment task
 * through the task contract (a few steps lower the loss). */
#include "test.h"

#include "scenes/scenes.h"
#include "segment/segment.h"

static dc_tensor *mask(int ndim, const int64_t *shape, const int64_t *values)
{
    return dc_from_buffer(DC_I64, ndim, shape, values);
}

/* truth {0,0,0,1,1,2}, prediction {0,0,1,1,1,0} over 4 classes, by hand:
 *   confusion rows (truth) x columns (prediction): [2 1 0 0; 0 2 0 0; 1 0 0 0; 0 0 0 0]
 *   IoU 0 = 2 / (3 + 3 - 2) = 0.5, IoU 1 = 2 / (2 + 3 - 2) = 2/3, IoU 2 = 0 / (1 + 0 - 0) = 0,
 *   class 3 appears nowhere (NaN); mean IoU = (0.5 + 2/3 + 0) / 3 = 7/18. */
static const int64_t truth6[6] = {0, 0, 0, 1, 1, 2}, pred6[6] = {0, 0, 1, 1, 1, 0};

TEST(test_segment_confusion_counts_pixels_by_true_row_and_predicted_column)
{
    dc_tensor *t = mask(DC_SHAPE(1, 2, 3), truth6), *p = mask(DC_SHAPE(1, 2, 3), pred6);
    dc_tensor *c = segment_confusion(t, p, 4);
    REQUIRE(c && c->dtype == DC_I64 && c->ndim == 2 && c->shape[0] == 4 && c->shape[1] == 4);
    static const double want[16] = {2, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    double *got = dc_test_values(c);
    REQUIRE(got);
    CHECK_ALLCLOSE("confusion", got, want, 16, 0, 0);
    free(got);
    /* a non-contiguous view counts the same pixels: the transposed pair gives the same sums */
    dc_tensor *ct = segment_confusion(dc_transpose(t, 1, 2), dc_transpose(p, 1, 2), 4);
    REQUIRE(ct);
    CHECK_NEAR(dc_item_at(ct, (int64_t[]){2, 0}), 1, 0);
    CHECK_NEAR(dc_item_at(ct, (int64_t[]){0, 1}), 1, 0);
}

TEST(test_segment_iou_and_mean_iou_match_the_hand_computed_values)
{
    dc_tensor *c = segment_confusion(mask(DC_SHAPE(6), truth6), mask(DC_SHAPE(6), pred6), 4);
    REQUIRE(c);
    double iou[4];
    REQUIRE(segment_iou(c, iou, 4) == 4);
    CHECK_NEAR(iou[0], 0.5, 1e-12);
    CHECK_NEAR(iou[1], 2.0 / 3.0, 1e-12);
    CHECK_NEAR(iou[2], 0.0, 0);
    CHECK(isnan(iou[3]));
    CHECK_NEAR(segment_mean_iou(c), 7.0 / 18.0, 1e-12);
    /* a float confusion matrix gives the same; a perfect prediction gives 1 */
    CHECK_NEAR(segment_mean_iou(dc_to_dtype(c, DC_F64)), 7.0 / 18.0, 1e-12);
    dc_tensor *perfect = segment_confusion(mask(DC_SHAPE(6), truth6), mask(DC_SHAPE(6), truth6), 4);
    REQUIRE(perfect);
    CHECK_NEAR(segment_mean_iou(perfect), 1.0, 0);
    /* everything predicted as background: IoU 0 = 3/6, the others 0 -> mean 1/6 */
    static const int64_t zeros[6] = {0};
    dc_tensor *bg = segment_confusion(mask(DC_SHAPE(6), truth6), mask(DC_SHAPE(6), zeros), 3);
    REQUIRE(bg);
    CHECK_NEAR(segment_mean_iou(bg), 0.5 / 3.0, 1e-12);
}

TEST(test_segment_metrics_reject_wrong_mask_sizes_dtypes_and_classes)
{
    dc_tensor *t = mask(DC_SHAPE(1, 2, 3), truth6), *p = mask(DC_SHAPE(1, 2, 3), pred6);
    dc_tensor *wide = dc_zeros(DC_I64, DC_SHAPE(1, 2, 4));
    CHECK_ERROR(segment_confusion(t, wide, 4) == NULL, "is not the size of the truth");
    CHECK_ERROR(segment_confusion(t, dc_zeros(DC_I64, DC_SHAPE(2, 3)), 4) == NULL,
                "is not the size");
    CHECK_ERROR(segment_confusion(t, dc_to_dtype(p, DC_F32), 4) == NULL, "int64");
    CHECK_ERROR(segment_confusion(t, p, 2) == NULL, "truth value 2 at element 5");
    static const int64_t negative[6] = {0, 0, 0, 0, -1, 0};
    CHECK_ERROR(segment_confusion(t, mask(DC_SHAPE(1, 2, 3), negative), 4) == NULL,
                "prediction value -1 at element 4");
    CHECK_ERROR(segment_confusion(t, NULL, 4) == NULL, "NULL");
    CHECK_ERROR(segment_confusion(t, p, 0) == NULL, "classes 0");
    double iou[4];
    CHECK_ERROR(segment_iou(dc_zeros(DC_I64, DC_SHAPE(2, 3)), iou, 4) == -1, "square");
    CHECK_ERROR(segment_iou(dc_zeros(DC_I64, DC_SHAPE(5, 5)), iou, 4) == -1, "do not fit");
    CHECK_ERROR(segment_iou(dc_full(DC_F32, DC_SHAPE(2, 2), -1), iou, 4) == -1, "not >= 0");
    CHECK_ERROR(isnan(segment_mean_iou(dc_zeros(DC_I64, DC_SHAPE(3, 3)))), "counts no pixel");
    /* the masks are unchanged */
    double *tv = dc_test_values(t), *pv = dc_test_values(p), want_t[6], want_p[6];
    REQUIRE(tv && pv);
    for (int i = 0; i < 6; i++) want_t[i] = (double)truth6[i], want_p[i] = (double)pred6[i];
    CHECK_ALLCLOSE("truth", tv, want_t, 6, 0, 0);
    CHECK_ALLCLOSE("prediction", pv, want_p, 6, 0, 0);
    free(tv);
    free(pv);
}

TEST(test_segment_networks_give_per_pixel_logits_and_reject_bad_inputs)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *x = dc_rand(&rng, DC_F32, DC_SHAPE(2, 3, 16, 24));
    segment_arch archs[2] = {SEGMENT_UNET, SEGMENT_PSP};
    for (int a = 0; a < 2; a++) {
        dc_module *m = segment_model_new(archs[a], 2, 5, &rng);
        REQUIRE(m);
        dc_tensor *y = dc_forward(m, x);
        EXPECT(y && y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 5 && y->shape[2] == 16 &&
                   y->shape[3] == 24,
               "%s: logits are not [2, 5, 16, 24]: %s", m->type, dc_last_error());
        dc_tensor *pred = y ? segment_predict(y) : NULL;
        CHECK(pred && pred->dtype == DC_I64 && pred->ndim == 3 && pred->shape[2] == 24);
        CHECK_ERROR(dc_forward(m, dc_zeros(DC_F32, DC_SHAPE(2, 3, 12, 16))) == NULL,
                    "divisible by 8");
        CHECK_ERROR(dc_forward(m, dc_zeros(DC_F32, DC_SHAPE(2, 1, 16, 16))) == NULL,
                    "[N, 3, H, W]");
        dc_module_free(m);
    }
    CHECK_ERROR(segment_model_new(SEGMENT_UNET, 0, 5, &rng) == NULL, "width 0");
    CHECK_ERROR(segment_model_new(SEGMENT_PSP, 4, 1, &rng) == NULL, "classes 1");
    CHECK_ERROR(segment_predict(dc_zeros(DC_F32, DC_SHAPE(2, 5))) == NULL, "[N, C, H, W]");
}

TEST(test_segment_colorize_paints_each_class_its_colour)
{
    static const int64_t classes[4] = {0, 1, 2, 4};
    dc_tensor *rgb = segment_colorize(mask(DC_SHAPE(1, 2, 2), classes));
    REQUIRE(rgb && rgb->ndim == 4 && rgb->shape[1] == 3 && rgb->shape[2] == 2);
    for (int k = 0; k < 4; k++) {
        float want[3];
        segment_class_colour(classes[k], want);
        for (int ch = 0; ch < 3; ch++)
            CHECK_NEAR(dc_item_at(rgb, (int64_t[]){0, ch, k / 2, k % 2}), want[ch], 0);
    }
    float black[3];
    segment_class_colour(SCENE_BACKGROUND, black);
    CHECK(black[0] == 0 && black[1] == 0 && black[2] == 0);
    CHECK_ERROR(segment_colorize(dc_zeros(DC_F32, DC_SHAPE(1, 2, 2))) == NULL, "int64");
    CHECK_ERROR(segment_colorize(dc_full(DC_I64, DC_SHAPE(1, 2, 2), 300)) == NULL, "class 300");
}

static void task_trains(const char *options, double lr)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&segment_task, options, 8, lr, 24, &first, &last, &m));
    EXPECT(last < 0.8 * first, "loss %.4f -> %.4f did not fall by 20%%", first, last);
    CHECK(m.n >= 2 && !strcmp(m.metrics[0].name, "miou"));
    double miou = dc_metrics_get(&m, "miou");
    CHECK(miou >= 0 && miou <= 1);
    CHECK(dc_metrics_get(&m, "iou_background") >= 0);
    double acc = dc_metrics_get(&m, "pixel_accuracy"); /* eval-mode BatchNorm after 24 steps: any */
    CHECK(acc >= 0 && acc <= 1);
}

TEST(test_segment_task_unet_trains_a_few_steps_and_the_loss_falls)
{
    if (!dc_test_have("libpng")) return; /* the task renders a PNG */
    task_trains("width = 4\nsize = 32\ntrain-scenes = 64\nval-scenes = 8\ntest-scenes = 8\n"
                "items = 0\n",
                1e-2);
}

TEST(test_segment_task_psp_with_fashion_items_trains_a_few_steps_and_the_loss_falls)
{
    if (!dc_test_have("libpng") || !dc_test_have("zlib")) return; /* PNG; gzipped items */
    task_trains("arch = psp\nwidth = 4\nsize = 32\ntrain-scenes = 64\nval-scenes = 8\n"
                "test-scenes = 8\nitems = 50\n",
                3e-3);
}

TEST(test_segment_task_rejects_a_scene_size_that_is_not_a_multiple_of_8)
{
    void *settings = calloc(1, segment_task.settings_size);
    REQUIRE(settings);
    segment_task.defaults(settings);
    for (const dc_option *o = segment_task.options; o->name; o++)
        if (!strcmp(o->name, "size")) *(long *)((char *)settings + o->offset) = 36;
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_task_setup ctx = {settings, "", NULL, 0, 4, true, &rng, NULL, NULL, 0, 0};
    CHECK_ERROR(segment_task.setup(&ctx) != 0, "size 36 must be a multiple of 8");
    segment_task.close(ctx.state);
    dc_module_free(ctx.model);
    free(settings);
}
