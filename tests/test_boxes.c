/* Box ops (src/ops/boxes.c): IoU, NMS and smooth-L1 against references from
 * tests/ref/make_boxes_refs.py (torch 1.13; torchvision is not installed, so IoU and NMS there
 * are hand-written formulas that follow torchvision.ops, and smooth-L1 is torch's own), and
 * every op on hand-computed cases and bad arguments. */
#include "ref_loader.h"

#define BOXES_REFS "ref/boxes_refs.txt"

static dc_tensor *boxes_of(int64_t n, const float *v)
{
    return dc_from_buffer(DC_F32, 2, (int64_t[]){n, 4}, v);
}

static dc_tensor *vec_of(int64_t n, const float *v)
{
    return dc_from_buffer(DC_F32, 1, (int64_t[]){n}, v);
}

static bool load(ref_chain *c)
{
    char err[512];
    c->path = BOXES_REFS;
    if (ref_load(c, err, sizeof err) == 0) return true;
    dc_test_fail(__FILE__, __LINE__, "%s", err);
    ref_free(c);
    return false;
}

/* An int64 tensor equals a list exactly. */
static void check_ids(const char *what, const dc_tensor *got, int64_t n, const int64_t *want)
{
    if (!got) {
        dc_test_fail(__FILE__, __LINE__, "%s: NULL (%s)", what, dc_last_error());
        return;
    }
    if (got->ndim != 1 || got->shape[0] != n || got->dtype != DC_I64) {
        char buf[96];
        dc_test_fail(__FILE__, __LINE__, "%s: got %s, want [%lld] int64", what,
                     dc_shape_str(got, buf, sizeof buf), (long long)n);
        return;
    }
    for (int64_t i = 0; i < n; i++)
        EXPECT(((const int64_t *)dc_data(got))[i] == want[i], "%s[%lld] = %lld, want %lld", what,
               (long long)i, (long long)((const int64_t *)dc_data(got))[i], (long long)want[i]);
}

/* ---- Against the references ----------------------------------------------------------------- */

TEST(test_box_iou_matches_torchvision_formula)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *iou = dc_box_iou(ref_get(&c, "const", "iou_random.a"), ref_get(&c, "const", "iou_random.b"));
    REQUIRE(iou);
    ref_compare("box_iou", iou, ref_find(&c, "out", "iou_random.iou", NULL));
    ref_free(&c);
}

TEST(test_nms_and_batched_nms_match_torchvision_algorithm)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *boxes = ref_get(&c, "const", "nms_clusters.boxes");
    dc_tensor *scores = ref_get(&c, "const", "nms_clusters.scores");
    dc_tensor *idxs = ref_get(&c, "const", "nms_clusters.idxs");
    const char *names[3] = {"nms_clusters.keep_0.5", "nms_clusters.keep_0.3", "nms_clusters.batched_0.5"};
    dc_tensor *got[3] = {dc_nms(boxes, scores, 0.5), dc_nms(boxes, scores, 0.3),
                         dc_batched_nms(boxes, scores, idxs, 0.5)};
    for (int k = 0; k < 3; k++) {
        ref_tensor *want = ref_find(&c, "out", names[k], NULL);
        REQUIRE(want);
        int64_t ids[64];
        for (int64_t i = 0; i < want->numel && i < 64; i++) ids[i] = (int64_t)want->values[i];
        check_ids(names[k], got[k], want->numel, ids);
    }
    ref_free(&c);
}

TEST(test_smooth_l1_loss_matches_torch_values_and_gradients)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *x = dc_requires_grad(ref_get(&c, "param", "smooth_l1.x"), true);
    dc_tensor *t = dc_requires_grad(ref_get(&c, "param", "smooth_l1.t"), true);
    const char *names[4] = {"smooth_l1.mean_b1", "smooth_l1.sum_b0.5", "smooth_l1.none_b2", "smooth_l1.mean_b0"};
    dc_tensor *outs[4] = {dc_smooth_l1_loss(x, t, 1.0, DC_REDUCE_MEAN),
                          dc_smooth_l1_loss(x, t, 0.5, DC_REDUCE_SUM),
                          dc_smooth_l1_loss(x, t, 2.0, DC_REDUCE_NONE),
                          dc_smooth_l1_loss(x, t, 0.0, DC_REDUCE_MEAN)};
    dc_tensor *loss = NULL;
    for (int k = 0; k < 4; k++) {
        REQUIRE(outs[k]);
        ref_compare(names[k], outs[k], ref_find(&c, "out", names[k], NULL));
        dc_tensor *term = dc_sum_all(dc_mul(outs[k], ref_get(&c, "seed", names[k])));
        loss = loss ? dc_add(loss, term) : term;
    }
    REQUIRE(dc_backward(loss) == 0);
    ref_compare("smooth_l1 dx", x->grad, ref_find(&c, "grad", "smooth_l1.x", NULL));
    ref_compare("smooth_l1 dt", t->grad, ref_find(&c, "grad", "smooth_l1.t", NULL));
    ref_free(&c);
}

/* ---- Hand-computed cases ------------------------------------------------------------------- */

TEST(test_box_iou_hand_computed_overlap_touching_identical_and_empty)
{
    dc_tensor *a = boxes_of(1, (float[]){0, 0, 2, 2});
    dc_tensor *b = boxes_of(3, (float[]){1, 1, 3, 3, 2, 0, 4, 2, 0, 0, 2, 2});
    dc_tensor *iou = dc_box_iou(a, b);
    REQUIRE(iou && iou->shape[0] == 1 && iou->shape[1] == 3);
    CHECK_NEAR(dc_item_at(iou, (int64_t[]){0, 0}), 1.0 / 7.0, 1e-7); /* inter 1, union 7 */
    CHECK_NEAR(dc_item_at(iou, (int64_t[]){0, 1}), 0.0, 0);           /* touching edge */
    CHECK_NEAR(dc_item_at(iou, (int64_t[]){0, 2}), 1.0, 0);
    /* zero-area boxes: 0, not torchvision's 0/0 */
    dc_tensor *pt = boxes_of(1, (float[]){5, 5, 5, 5});
    CHECK_NEAR(dc_item(dc_box_iou(pt, pt)), 0.0, 0);
    dc_tensor *empty = dc_zeros(DC_F32, 2, (int64_t[]){0, 4});
    dc_tensor *e = dc_box_iou(empty, b);
    REQUIRE(e && e->shape[0] == 0 && e->shape[1] == 3);
    e = dc_box_iou(b, empty);
    REQUIRE(e && e->shape[0] == 3 && e->shape[1] == 0);
}

TEST(test_box_encode_hand_computed_with_ssd_variances_and_decode_inverts_it)
{
    dc_tensor *anchor = boxes_of(1, (float[]){0, 0, 10, 10});
    dc_tensor *box = boxes_of(1, (float[]){2, 4, 8, 14}); /* centre (5, 9), size 6 x 10 */
    const double var[4] = {0.1, 0.1, 0.2, 0.2};
    dc_tensor *d = dc_box_encode(box, anchor, var);
    REQUIRE(d);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){0, 0}), 0.0, 1e-6);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){0, 1}), 0.4 / 0.1, 1e-5);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){0, 2}), log(0.6) / 0.2, 1e-5);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){0, 3}), 0.0, 1e-6);
    /* round trip on random boxes */
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    float bv[40], av[40];
    for (int i = 0; i < 10; i++) {
        float x = (float)(dc_rng_uniform(&rng) * 50), y = (float)(dc_rng_uniform(&rng) * 50);
        bv[4 * i] = x;
        bv[4 * i + 1] = y;
        bv[4 * i + 2] = x + 1 + (float)(dc_rng_uniform(&rng) * 20);
        bv[4 * i + 3] = y + 1 + (float)(dc_rng_uniform(&rng) * 20);
        av[4 * i] = x - 3;
        av[4 * i + 1] = y + 2;
        av[4 * i + 2] = x + 10;
        av[4 * i + 3] = y + 9;
    }
    dc_tensor *boxes = boxes_of(10, bv), *anchors = boxes_of(10, av);
    dc_tensor *back = dc_box_decode(dc_box_encode(boxes, anchors, var), anchors, var);
    REQUIRE(back);
    double got[40], want[40];
    dc_to_double_buffer(back, got, 40);
    dc_to_double_buffer(boxes, want, 40);
    CHECK_ALLCLOSE("decode(encode(b)) = b", got, want, 40, 1e-5, 1e-4);
    /* NULL variances are 1s; empty inputs give empty outputs */
    CHECK_NEAR(dc_item_at(dc_box_encode(box, anchor, NULL), (int64_t[]){0, 1}), 0.4, 1e-6);
    dc_tensor *empty = dc_zeros(DC_F32, 2, (int64_t[]){0, 4});
    dc_tensor *e = dc_box_decode(empty, empty, var);
    REQUIRE(e && e->shape[0] == 0);
}

TEST(test_nms_hand_computed_thresholds_duplicates_classes_and_empty)
{
    /* A, B overlap with IoU 81/119 = 0.68; C is apart; D duplicates A with a better score */
    dc_tensor *boxes = boxes_of(4, (float[]){0, 0, 10, 10, 1, 1, 11, 11, 20, 20, 30, 30, 0, 0, 10, 10});
    dc_tensor *scores = vec_of(4, (float[]){0.9f, 0.8f, 0.7f, 0.95f});
    check_ids("nms 0.5", dc_nms(boxes, scores, 0.5), 2, (int64_t[]){3, 2});
    check_ids("nms 0.7", dc_nms(boxes, scores, 0.7), 3, (int64_t[]){3, 1, 2});
    check_ids("nms 1.0 keeps all", dc_nms(boxes, scores, 1.0), 4, (int64_t[]){3, 0, 1, 2});
    check_ids("nms 0 drops any overlap", dc_nms(boxes, scores, 0.0), 2, (int64_t[]){3, 2});
    dc_tensor *cls = dc_from_buffer(DC_I64, 1, (int64_t[]){4}, (int64_t[]){0, 1, 0, 0});
    check_ids("batched 0.5", dc_batched_nms(boxes, scores, cls, 0.5), 3, (int64_t[]){3, 1, 2});
    /* equal scores: the lower index first */
    dc_tensor *tie = vec_of(4, (float[]){0.5f, 0.5f, 0.5f, 0.5f});
    check_ids("nms ties", dc_nms(boxes, tie, 0.5), 2, (int64_t[]){0, 2});
    dc_tensor *empty = dc_zeros(DC_F32, 2, (int64_t[]){0, 4});
    check_ids("nms of nothing", dc_nms(empty, dc_zeros(DC_F32, 1, (int64_t[]){0}), 0.5), 0, NULL);
}

TEST(test_anchor_boxes_hand_computed_centres_sizes_and_order)
{
    dc_tensor *a = dc_anchor_boxes(2, 1, 8, (double[]){8}, 1, (double[]){1, 4}, 2);
    REQUIRE(a && a->shape[0] == 4 && a->shape[1] == 4);
    const double want[16] = {0, 0, 8, 8, -4, 2, 12, 6, /* cell (0, 0): ratio 1, ratio 4 */
                             0, 8, 8, 16, -4, 10, 12, 14};
    double got[16];
    dc_to_double_buffer(a, got, 16);
    CHECK_ALLCLOSE("anchors", got, want, 16, 0, 1e-6);
}

TEST(test_match_anchors_threshold_and_forced_best_anchor)
{
    dc_tensor *anchors = boxes_of(4, (float[]){0, 0, 10, 10, 10, 0, 20, 10, 0, 10, 10, 20, 30, 30, 40, 40});
    /* gt0: IoU 0.81 with anchor 0; gt1: IoU 80/116 with anchor 1; gt2: IoU 4/240 with anchor
     * 3 (below the threshold, but anchor 3 is its best) */
    dc_tensor *gt = boxes_of(3, (float[]){1, 1, 10, 10, 12, 0, 20, 12, 38, 38, 50, 50});
    check_ids("match 0.5", dc_match_anchors(anchors, gt, 0.5), 4, (int64_t[]){0, 1, -1, 2});
    check_ids("match 0.75", dc_match_anchors(anchors, gt, 0.75), 4, (int64_t[]){0, 1, -1, 2});
    dc_tensor *none = dc_zeros(DC_F32, 2, (int64_t[]){0, 4});
    check_ids("no ground truth", dc_match_anchors(anchors, none, 0.5), 4, (int64_t[]){-1, -1, -1, -1});
    /* two ground truths preferring one anchor: the later one wins it */
    dc_tensor *one = boxes_of(1, (float[]){0, 0, 10, 10});
    dc_tensor *two = boxes_of(2, (float[]){0, 0, 9, 9, 1, 1, 10, 10});
    check_ids("shared best anchor", dc_match_anchors(one, two, 0.5), 1, (int64_t[]){1});
}

TEST(test_hard_negative_mining_keeps_top_negatives_at_the_ratio)
{
    dc_tensor *loss = vec_of(6, (float[]){0.1f, 0.9f, 0.5f, 0.3f, 0.8f, 0.2f});
    dc_tensor *pos = dc_from_buffer(DC_BOOL, 1, (int64_t[]){6}, (uint8_t[]){0, 0, 1, 0, 0, 0});
    dc_tensor *m = dc_hard_negative_mining(loss, pos, 3.0, 0);
    REQUIRE(m && m->dtype == DC_BOOL);
    const uint8_t want[6] = {0, 1, 1, 1, 1, 0};
    for (int i = 0; i < 6; i++) EXPECT(((uint8_t *)dc_data(m))[i] == want[i], "mask[%d]", i);
    /* no positives: min_negatives hardest negatives; rows of a batch are independent */
    dc_tensor *loss2 = dc_from_buffer(DC_F32, 2, (int64_t[]){2, 3}, (float[]){0.1f, 0.9f, 0.5f, 0.7f, 0.2f, 0.4f});
    dc_tensor *pos2 = dc_from_buffer(DC_I64, 2, (int64_t[]){2, 3}, (int64_t[]){0, 0, 0, 1, 0, 0});
    m = dc_hard_negative_mining(loss2, pos2, 1.0, 1);
    REQUIRE(m);
    const uint8_t want2[6] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++) EXPECT(((uint8_t *)dc_data(m))[i] == want2[i], "mask2[%d]", i);
}

TEST(test_smooth_l1_hand_computed_both_sides_of_beta)
{
    dc_tensor *x = vec_of(2, (float[]){0.5f, -2.0f});
    dc_tensor *t = vec_of(2, (float[]){0.0f, 0.0f});
    /* 0.5 * 0.25 / 1 = 0.125 inside, 2 - 0.5 = 1.5 outside */
    CHECK_NEAR(dc_item(dc_smooth_l1_loss(x, t, 1.0, DC_REDUCE_MEAN)), 0.8125, 1e-7);
    CHECK_NEAR(dc_item(dc_smooth_l1_loss(x, t, 1.0, DC_REDUCE_SUM)), 1.625, 1e-7);
    CHECK_NEAR(dc_item(dc_smooth_l1_loss(x, t, 0.0, DC_REDUCE_SUM)), 2.5, 1e-7);
}

TEST(test_mean_average_precision_hand_computed_all_points)
{
    /* class 0: image 0 has one truth, found (TP, 0.9) and found again (FP, 0.8: already
     * claimed); image 1 has two truths, one found (TP, 0.7), plus a stray box (FP, 0.6).
     * Recall/precision: (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2): AP = 1/3 + 1/3 * 2/3.
     * class 1: a truth, no detection: AP 0. class 2: no truth: NaN, not in the mean. */
    dc_box_set det[2] = {
        {boxes_of(2, (float[]){0, 0, 10, 10, 1, 1, 10, 10}), vec_of(2, (float[]){0.9f, 0.8f}),
         dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){0, 0})},
        {boxes_of(3, (float[]){20, 20, 30, 30, 50, 50, 60, 60, 0, 0, 5, 5}),
         vec_of(3, (float[]){0.7f, 0.6f, 0.3f}), dc_from_buffer(DC_I64, 1, (int64_t[]){3}, (int64_t[]){0, 0, 2})},
    };
    dc_box_set gt[2] = {
        {boxes_of(1, (float[]){0, 0, 10, 10}), NULL, dc_from_buffer(DC_I64, 1, (int64_t[]){1}, (int64_t[]){0})},
        {boxes_of(3, (float[]){0, 0, 10, 10, 20, 20, 30, 30, 40, 0, 44, 4}), NULL,
         dc_from_buffer(DC_I64, 1, (int64_t[]){3}, (int64_t[]){0, 0, 1})},
    };
    double ap[3], map = 0;
    dc_pr_curve curves[3];
    REQUIRE(dc_mean_average_precision(det, gt, 2, 3, 0.5, ap, &map, curves) == 0);
    CHECK_NEAR(ap[0], 5.0 / 9.0, 1e-12);
    CHECK_NEAR(ap[1], 0.0, 0);
    CHECK(isnan(ap[2]));
    CHECK_NEAR(map, 5.0 / 18.0, 1e-12);
    REQUIRE(curves[0].n == 4);
    const double rec[4] = {1.0 / 3, 1.0 / 3, 2.0 / 3, 2.0 / 3}, prec[4] = {1, 0.5, 2.0 / 3, 0.5};
    CHECK_ALLCLOSE("recall", curves[0].recall, rec, 4, 0, 1e-12);
    CHECK_ALLCLOSE("precision", curves[0].precision, prec, 4, 0, 1e-12);
    CHECK(curves[1].n == 0 && curves[2].n == 1);
    for (int c = 0; c < 3; c++) dc_pr_curve_free(&curves[c]);
    /* truths have no scores: not detections */
    CHECK_ERROR(dc_mean_average_precision(gt, gt, 2, 2, 0.5, NULL, &map, NULL) == -1,
                "input 'detections[0].scores' is NULL");
    /* a perfect detector: mAP 1 */
    dc_box_set perfect[2] = {{gt[0].boxes, vec_of(1, (float[]){1}), gt[0].classes},
                             {gt[1].boxes, vec_of(3, (float[]){1, 0.5f, 0.2f}), gt[1].classes}};
    REQUIRE(dc_mean_average_precision(perfect, gt, 2, 2, 0.5, ap, &map, NULL) == 0);
    CHECK_NEAR(map, 1.0, 1e-12);
    /* no images: no ground truth anywhere */
    REQUIRE(dc_mean_average_precision(NULL, NULL, 0, 2, 0.5, ap, &map, NULL) == 0);
    CHECK(isnan(map) && isnan(ap[0]));
}

/* ---- Bad arguments ----------------------------------------------------------------------------- */

TEST(test_box_ops_reject_bad_boxes_shapes_thresholds_and_leave_inputs_unchanged)
{
    const float good_v[8] = {0, 0, 2, 2, 1, 1, 3, 3};
    dc_tensor *good = boxes_of(2, good_v);
    dc_tensor *flipped = boxes_of(1, (float[]){3, 0, 1, 2}); /* x1 < x0 */
    dc_tensor *three = dc_zeros(DC_F32, 2, (int64_t[]){2, 3});
    dc_tensor *ints = dc_zeros(DC_I64, 2, (int64_t[]){2, 4});
    dc_tensor *scores = vec_of(2, (float[]){0.5f, 0.4f});
    CHECK_ERROR(!dc_box_iou(flipped, good), "dc_box_iou: a[0] = (3, 0, 1, 2) is not a box");
    CHECK_ERROR(!dc_box_iou(good, three), "dc_box_iou: b must be [N, 4]");
    CHECK_ERROR(!dc_box_iou(ints, good), "must be float32 or float64, got int64");
    CHECK_ERROR(!dc_box_iou(good, dc_to_dtype(good, DC_F64)), "a is float32 but b is float64");
    CHECK_ERROR(!dc_nms(good, scores, 1.5), "dc_nms: iou_threshold must be in [0, 1], got 1.5");
    CHECK_ERROR(!dc_nms(good, scores, -0.1), "iou_threshold must be in [0, 1]");
    CHECK_ERROR(!dc_nms(good, scores, NAN), "iou_threshold must be in [0, 1]");
    CHECK_ERROR(!dc_nms(good, vec_of(3, (float[]){1, 2, 3}), 0.5), "scores must be [2]");
    CHECK_ERROR(!dc_nms(good, vec_of(2, (float[]){1, NAN}), 0.5), "scores[1] is NaN");
    CHECK_ERROR(!dc_nms(flipped, vec_of(1, (float[]){1}), 0.5), "is not a box");
    CHECK_ERROR(!dc_batched_nms(good, scores, vec_of(2, (float[]){0, 1}), 0.5), "idxs must be an integer tensor");
    CHECK_ERROR(!dc_match_anchors(good, good, 2.0), "dc_match_anchors: iou_threshold");
    CHECK_ERROR(!dc_box_encode(good, boxes_of(1, (float[]){0, 0, 1, 1}), NULL), "one anchor per box");
    CHECK_ERROR(!dc_box_encode(good, boxes_of(2, (float[]){0, 0, 1, 1, 0, 0, 0, 1}), NULL),
                "anchors[1] has zero width or height");
    CHECK_ERROR(!dc_box_encode(good, good, (double[]){0.1, 0, 0.2, 0.2}), "variances[1] = 0 must be positive");
    CHECK_ERROR(!dc_anchor_boxes(0, 4, 8, (double[]){8}, 1, (double[]){1}, 1), "feature map 0 x 4");
    CHECK_ERROR(!dc_anchor_boxes(4, 4, 8, (double[]){-8}, 1, (double[]){1}, 1), "sizes[0] = -8");
    CHECK_ERROR(!dc_anchor_boxes(4, 4, 8, (double[]){8}, 1, (double[]){0}, 1), "ratios[0] = 0");
    CHECK_ERROR(!dc_smooth_l1_loss(scores, scores, -1, DC_REDUCE_MEAN), "beta must be >= 0, got -1");
    CHECK_ERROR(!dc_smooth_l1_loss(scores, scores, 1, (dc_reduction)7), "unknown reduction 7");
    CHECK_ERROR(!dc_hard_negative_mining(scores, vec_of(3, (float[]){0, 0, 0}), 3, 0), "must have the shape of loss");
    CHECK_ERROR(!dc_hard_negative_mining(scores, scores, -1, 0), "neg_pos_ratio must be >= 0");
    dc_box_set bad_cls = {good, scores, dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){0, 5})};
    dc_box_set truth = {good, NULL, dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){0, 1})};
    double map;
    CHECK_ERROR(dc_mean_average_precision(&bad_cls, &truth, 1, 2, 0.5, NULL, &map, NULL) != 0,
                "detections[0].classes[1] = 5 is not a class in [0, 2)");
    CHECK_ERROR(dc_mean_average_precision(&truth, &truth, 1, 2, 1.5, NULL, &map, NULL) != 0, "iou_threshold");
    /* inputs untouched */
    float after[8];
    dc_to_float_buffer(good, after, 8);
    CHECK(memcmp(after, good_v, sizeof after) == 0);
}
