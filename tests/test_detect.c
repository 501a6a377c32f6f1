/* The object detector (apps/detect): anchors, targets, loss and decoding on hand-computed
 * cases, perfect predictions scoring mAP 1, drawing, bad inputs (an empty scene, a box outside
 * the image), and a few training steps of the task that lower the loss. */
#include "test.h"

#include "detect/detect.h"

static dc_tensor *boxes_of(int64_t n, const float *v)
{
    return dc_from_buffer(DC_F32, 2, (int64_t[]){n, 4}, v);
}

static dc_tensor *ids_of(int64_t n, const int64_t *v)
{
    return dc_from_buffer(DC_I64, 1, (int64_t[]){n}, v);
}

static double at(const dc_tensor *t, int64_t i, int64_t j)
{
    return t->ndim == 1 ? dc_item_at(t, (int64_t[]){i}) : dc_item_at(t, (int64_t[]){i, j});
}

TEST(test_detect_anchors_are_three_maps_in_the_model_output_order)
{
    dc_tensor *a = detect_anchors(64);
    REQUIRE(a && a->ndim == 2 && a->shape[1] == 4);
    /* 16x16, 8x8 and 4x4 cells, 2 sizes x 3 ratios each */
    CHECK(a->shape[0] == (256 + 64 + 16) * 6);
    /* cell (0, 0) of the stride-4 map: centre (2, 2), size 8, ratio 1 then 1/2 (taller) */
    const float want0[8] = {-2, -2, 6, 6, (float)(2 - 4 * sqrt(0.5)), (float)(2 - 4 * sqrt(2.0)),
                            (float)(2 + 4 * sqrt(0.5)), (float)(2 + 4 * sqrt(2.0))};
    for (int k = 0; k < 8; k++) CHECK_NEAR(at(a, k / 4, k % 4), want0[k], 1e-5);
    /* the first stride-8 anchor: centre (4, 4), size 16 */
    const float want1[4] = {-4, -4, 12, 12};
    for (int k = 0; k < 4; k++) CHECK_NEAR(at(a, 256 * 6, k), want1[k], 1e-5);
    /* the last anchor: stride-16 cell (3, 3), centre (56, 56), size 36, ratio 2 (wider) */
    int64_t last = a->shape[0] - 1;
    CHECK_NEAR(at(a, last, 0), 56 - 18 * sqrt(2.0), 1e-4);
    CHECK_NEAR(at(a, last, 3), 56 + 18 / sqrt(2.0), 1e-4);
    CHECK_ERROR(!detect_anchors(40), "multiple of 16");
}

TEST(test_detect_model_outputs_one_row_per_anchor_and_rejects_bad_inputs)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_module *m = detect_model_new(4, 64, &rng);
    REQUIRE(m);
    dc_tensor *y = dc_forward(m, dc_rand(&rng, DC_F32, DC_SHAPE(2, 3, 64, 64)));
    REQUIRE(y);
    CHECK(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == detect_anchors(64)->shape[0] &&
          y->shape[2] == DETECT_OUTPUTS);
    CHECK_ERROR(!dc_forward(m, dc_rand(&rng, DC_F32, DC_SHAPE(2, 3, 32, 32))),
                "input must be [N, 3, 64, 64] images, got shape [2, 3, 32, 32]");
    CHECK_ERROR(!dc_forward(m, dc_rand(&rng, DC_F32, DC_SHAPE(2, 1, 64, 64))), "[2, 1, 64, 64]");
    dc_module_free(m);
    CHECK_ERROR(!detect_model_new(0, 64, &rng), "width 0 must be in [1, 256]");
    CHECK_ERROR(!detect_model_new(4, 72, &rng), "image size 72 must be a multiple of 16");
}

/* Three anchors on a 32 x 32 image. */
static dc_tensor *three_anchors(void)
{
    return boxes_of(3, (float[]){0, 0, 10, 10, 10, 10, 20, 20, 0, 0, 20, 20});
}

TEST(test_detect_targets_hand_computed)
{
    dc_tensor *labels, *deltas;
    /* (1, 1, 11, 11) overlaps anchor 0 with IoU 81 / 119 = 0.68 (positive), anchor 2 with
     * 100 / 400 = 0.25, anchor 1 with 1 / 199: only anchor 0 is positive.
     * Its deltas: dx = (6 - 5) / (10 * 0.1) = 1, dy = 1, dw = dh = log(10 / 10) / 0.2 = 0. */
    REQUIRE(detect_targets(three_anchors(), boxes_of(1, (float[]){1, 1, 11, 11}),
                           ids_of(1, (int64_t[]){3}), 32, 0.5, &labels, &deltas) == 0);
    REQUIRE(labels->dtype == DC_I64 && labels->shape[0] == 3);
    REQUIRE(deltas->ndim == 2 && deltas->shape[0] == 3 && deltas->shape[1] == 4);
    const double want_l[3] = {3, 0, 0}, want_d[12] = {1, 1, 0, 0};
    for (int i = 0; i < 3; i++) CHECK_NEAR(at(labels, i, 0), want_l[i], 0);
    for (int k = 0; k < 12; k++) CHECK_NEAR(at(deltas, k / 4, k % 4), want_d[k], 1e-5);
    /* a box larger than anchor 2 (IoU 400 / 576): anchor 2 positive,
     * dx = (12 - 10) / (20 * 0.1) = 1, dw = log(24 / 20) / 0.2 */
    REQUIRE(detect_targets(three_anchors(), boxes_of(1, (float[]){0, 0, 24, 24}),
                           ids_of(1, (int64_t[]){1}), 32, 0.5, &labels, &deltas) == 0);
    CHECK_NEAR(at(labels, 2, 0), 1, 0);
    CHECK_NEAR(at(labels, 0, 0), 0, 0);
    CHECK_NEAR(at(deltas, 2, 0), 1, 1e-5);
    CHECK_NEAR(at(deltas, 2, 2), log(1.2) / 0.2, 1e-5);
    /* a box overlapping no anchor enough still gets its best one (SSD's forced match) */
    REQUIRE(detect_targets(three_anchors(), boxes_of(1, (float[]){9, 9, 13, 13}),
                           ids_of(1, (int64_t[]){2}), 32, 0.5, &labels, &deltas) == 0);
    CHECK(at(labels, 0, 0) + at(labels, 1, 0) + at(labels, 2, 0) == 2);
}

TEST(test_detect_targets_reject_an_empty_scene_a_box_outside_the_image_and_bad_classes)
{
    dc_tensor *labels = NULL, *deltas = NULL, *anchors = three_anchors();
    float v[4] = {30, 2, 40, 12};
    dc_tensor *outside = boxes_of(1, v), *one = ids_of(1, (int64_t[]){1});
    CHECK_ERROR(detect_targets(anchors, dc_zeros(DC_F32, DC_SHAPE(0, 4)),
                               dc_zeros(DC_I64, DC_SHAPE(0)), 32, 0.5, &labels, &deltas) == -1,
                "empty scene (no ground-truth boxes)");
    CHECK(!labels && !deltas);
    CHECK_ERROR(detect_targets(anchors, outside, one, 32, 0.5, &labels, &deltas) == -1,
                "box 0 = (30, 2, 40, 12) is outside the 32 x 32 image");
    CHECK(dc_item_at(outside, (int64_t[]){0, 2}) == 40); /* the input is unchanged */
    CHECK_ERROR(detect_targets(anchors, boxes_of(1, (float[]){-1, 0, 5, 5}), one, 32, 0.5, &labels,
                               &deltas) == -1,
                "outside the 32 x 32 image or empty");
    CHECK_ERROR(detect_targets(anchors, boxes_of(1, (float[]){4, 4, 4, 9}), one, 32, 0.5, &labels,
                               &deltas) == -1,
                "box 0 = (4, 4, 4, 9)");
    CHECK_ERROR(detect_targets(anchors, boxes_of(1, (float[]){1, 1, 9, 9}), ids_of(1, (int64_t[]){0}),
                               32, 0.5, &labels, &deltas) == -1,
                "class 0 of box 0 is not an object class (1 .. 4)");
    CHECK_ERROR(detect_targets(anchors, boxes_of(1, (float[]){1, 1, 9, 9}), ids_of(2, (int64_t[]){1, 2}),
                               32, 0.5, &labels, &deltas) == -1,
                "2 classes for 1 boxes");
    CHECK_ERROR(detect_targets(anchors, boxes_of(1, (float[]){1, 1, 9, 9}), one, 32, 1.5, &labels,
                               &deltas) == -1,
                "iou_threshold");
}

TEST(test_detect_loss_hand_computed_with_its_gradient)
{
    /* one image, two anchors: anchor 0 positive (class 1, target deltas 0, predicted dx 1),
     * anchor 1 background; all logits 0, so each cross-entropy is log 5 */
    float p[2 * DETECT_OUTPUTS] = {0};
    p[0] = 1;
    dc_tensor *pred = dc_requires_grad(dc_from_buffer(DC_F32, DC_SHAPE(1, 2, DETECT_OUTPUTS), p), true);
    dc_tensor *labels = dc_from_buffer(DC_I64, DC_SHAPE(1, 2), (int64_t[]){1, 0});
    dc_tensor *deltas = dc_zeros(DC_F32, DC_SHAPE(1, 2, 4));
    /* smooth-L1 of d = 1 with beta 1: |d| - 0.5 = 0.5 */
    dc_tensor *loss = detect_loss(pred, labels, deltas, 3.0, 0);
    REQUIRE(loss);
    CHECK_NEAR(dc_item(loss), 2 * log(5.0) + 0.5, 1e-5);
    REQUIRE(dc_backward(loss) == 0);
    /* d/d dx = 1 (linear part); d/d logit_0 of anchor 1 = softmax - onehot = 0.2 - 1 */
    CHECK_NEAR(dc_item_at(pred->grad, (int64_t[]){0, 0, 0}), 1, 1e-6);
    CHECK_NEAR(dc_item_at(pred->grad, (int64_t[]){0, 0, 1}), 0, 1e-6);
    CHECK_NEAR(dc_item_at(pred->grad, (int64_t[]){0, 1, 4}), 0.2 - 1, 1e-6);
    CHECK_NEAR(dc_item_at(pred->grad, (int64_t[]){0, 1, 5}), 0.2, 1e-6);
    /* no negatives mined: only the positive's cross-entropy and offsets */
    CHECK_NEAR(dc_item(detect_loss(dc_detach(pred), labels, deltas, 0.0, 0)), log(5.0) + 0.5, 1e-5);
    CHECK_ERROR(!detect_loss(pred, dc_zeros(DC_I64, DC_SHAPE(1, 3)), deltas, 3.0, 0),
                "do not fit");
    CHECK_ERROR(!detect_loss(pred, labels, deltas, -1.0, 0), "neg_pos_ratio must be >= 0");
}

TEST(test_detect_decode_hand_computed_suppresses_overlaps_and_clips)
{
    /* anchors: 0 and 2 overlap (IoU 0.68), 1 sticks out of the 32 x 32 image */
    dc_tensor *anchors = boxes_of(3, (float[]){0, 0, 10, 10, 28, 28, 38, 38, 1, 1, 11, 11});
    float p[3 * DETECT_OUTPUTS] = {0};
    p[0 * DETECT_OUTPUTS + 4 + 1] = 5; /* anchor 0: circle, e^5 / (e^5 + 4) */
    p[1 * DETECT_OUTPUTS + 4 + 2] = 6; /* anchor 1: square */
    p[2 * DETECT_OUTPUTS + 4 + 1] = 4; /* anchor 2: circle again, suppressed by anchor 0 */
    dc_tensor *pred = dc_from_buffer(DC_F32, DC_SHAPE(3, DETECT_OUTPUTS), p);
    dc_tensor *boxes, *scores, *classes;
    REQUIRE(detect_decode(pred, anchors, 32, 0.05, 0.45, 100, &boxes, &scores, &classes) == 0);
    REQUIRE(boxes->shape[0] == 2 && scores->shape[0] == 2 && classes->shape[0] == 2);
    /* by decreasing score: the square (clipped to the image), then the circle */
    double e5 = exp(5.0), e6 = exp(6.0);
    CHECK_NEAR(at(scores, 0, 0), e6 / (e6 + 4), 1e-6);
    CHECK_NEAR(at(scores, 1, 0), e5 / (e5 + 4), 1e-6);
    CHECK(at(classes, 0, 0) == 2 && at(classes, 1, 0) == 1);
    const double want[8] = {28, 28, 32, 32, 0, 0, 10, 10};
    for (int k = 0; k < 8; k++) CHECK_NEAR(at(boxes, k / 4, k % 4), want[k], 1e-5);
    /* a dx of 1 moves the box by 0.1 of the anchor's width */
    p[0] = 1;
    pred = dc_from_buffer(DC_F32, DC_SHAPE(3, DETECT_OUTPUTS), p);
    REQUIRE(detect_decode(pred, anchors, 32, 0.05, 0.45, 1, &boxes, &scores, &classes) == 0);
    REQUIRE(boxes->shape[0] == 1); /* max_detections */
    CHECK(at(classes, 0, 0) == 2);
    REQUIRE(detect_decode(pred, anchors, 32, 0.05, 0.45, 100, &boxes, &scores, &classes) == 0);
    CHECK_NEAR(at(boxes, 1, 0), 1, 1e-5);
    CHECK_NEAR(at(boxes, 1, 2), 11, 1e-5);
    /* a threshold above every score: nothing */
    REQUIRE(detect_decode(pred, anchors, 32, 0.999, 0.45, 100, &boxes, &scores, &classes) == 0);
    CHECK(boxes->shape[0] == 0 && boxes->ndim == 2);
    CHECK_ERROR(detect_decode(dc_narrow(pred, 0, 0, 2), anchors, 32, 0.05, 0.45, 100, &boxes,
                              &scores, &classes) == -1,
                "one row per anchor (3)");
    CHECK_ERROR(detect_decode(pred, anchors, 32, 1.5, 0.45, 100, &boxes, &scores, &classes) == -1,
                "score_threshold 1.5");
}

/* Predictions that say exactly what the targets say decode to the ground truth: mAP 1. */
TEST(test_detect_perfect_predictions_decode_to_the_truth_with_map_1)
{
    enum { N = 6 };
    scene_set *set = scenes_generate(N, 64, scenes_split_seed(SCENES_TEST), NULL);
    REQUIRE(set);
    dc_tensor *anchors = detect_anchors(64);
    int64_t a = anchors->shape[0];
    dc_box_set det[N], truth[N];
    for (int i = 0; i < N; i++) {
        truth[i] = (dc_box_set){scenes_boxes(set, i), NULL, scenes_classes(set, i)};
        dc_tensor *labels, *deltas;
        REQUIRE(detect_targets(anchors, truth[i].boxes, truth[i].classes, 64, 0.5, &labels,
                               &deltas) == 0);
        /* logits: 10 for the target class, 0 elsewhere */
        dc_tensor *logits = dc_zeros(DC_F32, DC_SHAPE(a, DETECT_CLASSES));
        float *lg = dc_data(logits);
        const int64_t *lv = dc_data(labels);
        for (int64_t j = 0; j < a; j++) lg[j * DETECT_CLASSES + lv[j]] = 10;
        dc_tensor *pred = dc_cat((dc_tensor *[]){deltas, logits}, 2, 1);
        REQUIRE(detect_decode(pred, anchors, 64, 0.5, 0.45, 100, &det[i].boxes, &det[i].scores,
                              &det[i].classes) == 0);
        EXPECT(det[i].boxes->shape[0] == set->count[i], "scene %d: %lld detections, %d objects", i,
               (long long)det[i].boxes->shape[0], set->count[i]);
    }
    double map = 0;
    REQUIRE(dc_mean_average_precision(det, truth, N, DETECT_CLASSES, 0.5, NULL, &map, NULL) == 0);
    CHECK_NEAR(map, 1.0, 1e-9);
    REQUIRE(dc_mean_average_precision(det, truth, N, DETECT_CLASSES, 0.95, NULL, &map, NULL) == 0);
    CHECK_NEAR(map, 1.0, 1e-9);
    scenes_free(set);
}

TEST(test_detect_draw_outlines_a_box_in_its_class_colour_and_skips_low_scores)
{
    dc_tensor *img = dc_zeros(DC_F32, DC_SHAPE(3, 40, 40));
    dc_tensor *boxes = boxes_of(2, (float[]){5, 10, 15, 20, 20, 20, 30, 30});
    dc_tensor *scores = dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){0.9f, 0.2f});
    dc_tensor *classes = ids_of(2, (int64_t[]){2, 1});
    REQUIRE(detect_draw(img, boxes, scores, classes, 1.0, 0.5) == 0);
    /* square: green (0.1, 1, 0.1) on the left edge; the 0.2 circle not drawn */
    CHECK_NEAR(dc_item_at(img, (int64_t[]){1, 15, 5}), 1, 1e-6);
    CHECK_NEAR(dc_item_at(img, (int64_t[]){0, 15, 5}), 0.1, 1e-6);
    CHECK_NEAR(dc_item_at(img, (int64_t[]){0, 25, 20}), 0, 0);
    CHECK_NEAR(dc_item_at(img, (int64_t[]){1, 15, 10}), 0, 0); /* inside stays */
    /* scaled 2x: the left edge at column 10 */
    dc_tensor *big = dc_zeros(DC_F32, DC_SHAPE(3, 80, 80));
    REQUIRE(detect_draw(big, boxes, scores, classes, 2.0, 0.0) == 0);
    CHECK_NEAR(dc_item_at(big, (int64_t[]){1, 30, 10}), 1, 1e-6);
    CHECK_NEAR(dc_item_at(big, (int64_t[]){0, 50, 40}), 1, 1e-6); /* the circle: red */
    CHECK_ERROR(detect_draw(dc_zeros(DC_F32, DC_SHAPE(40, 40)), boxes, scores, classes, 1, 0) == -1,
                "RGB image [3, H, W]");
    CHECK_ERROR(detect_draw(img, boxes, dc_narrow(scores, 0, 0, 1), classes, 1, 0) == -1,
                "one per box");
}

TEST(test_detect_task_trains_a_small_detector_and_the_loss_falls)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&detect_task,
                               "width = 4\nitems = 0\ntrain-scenes = 64\nval-scenes = 16\n"
                               "test-scenes = 16\n",
                               8, 5e-3, 24, &first, &last, &m));
    EXPECT(last < 0.8 * first, "loss %.4f -> %.4f did not fall by 20%%", first, last);
    CHECK(m.n >= 2 && !strcmp(m.metrics[0].name, "map50"));
    double map = dc_metrics_get(&m, "map50");
    CHECK(map >= 0 && map <= 1);
}
