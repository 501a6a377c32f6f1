/* Gradient-check rows of the family "boxes" (src/ops/boxes.c), included by
 * tests/test_gradcheck.c like the other families (see tests/gradcheck_rows/sorting.h).
 * Only the smooth-L1 loss is differentiable; the box geometry works on data (targets, NMS,
 * metrics) without autograd. Inputs are U(-2, 2), so d = input - target crosses both sides
 * of beta; the random draws stay away from the kink |d| = beta at these sizes. */
#if defined(GRADCHECK_FUNCTIONS)
FN(f_smooth_l1_mean, dc_smooth_l1_loss(x[0], x[1], 1.0, DC_REDUCE_MEAN))
FN(f_smooth_l1_sum_beta_half, dc_smooth_l1_loss(x[0], x[1], 0.5, DC_REDUCE_SUM))
FN(f_smooth_l1_none_beta_2, dc_smooth_l1_loss(x[0], x[1], 2.0, DC_REDUCE_NONE))
FN(f_smooth_l1_beta0_is_l1, dc_smooth_l1_loss(x[0], x[1], 0.0, DC_REDUCE_MEAN))
#elif defined(GRADCHECK_ROWS)
    /* ---- boxes (src/ops/boxes.c) ---- */
    {"boxes", "smooth_l1_mean", "dc_smooth_l1_loss", f_smooth_l1_mean, 2, {T(3, 4), T(3, 4)}, NC},
    {"boxes", "smooth_l1_sum_beta_half", "dc_smooth_l1_loss", f_smooth_l1_sum_beta_half, 2, {T(5, 4), T(5, 4)}, NC},
    {"boxes", "smooth_l1_none_beta2_broadcast_target", "dc_smooth_l1_loss", f_smooth_l1_none_beta_2, 2, {T(3, 4), T(4)}, NC},
    {"boxes", "smooth_l1_beta0_is_l1", "dc_smooth_l1_loss", f_smooth_l1_beta0_is_l1, 2, {IN(AWAY_FROM_ZERO, 6), IN(TARGET, 6)}, false},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* box geometry on data (targets, post-processing and metrics), computed without autograd:
     * IoU, the box coder, NMS (integer indices), anchors (no tensor input), matching (indices)
     * and hard-negative mining (a bool mask) */
    "dc_box_iou", "dc_box_encode", "dc_box_decode", "dc_nms", "dc_batched_nms",
    "dc_anchor_boxes", "dc_match_anchors", "dc_hard_negative_mining",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_boxes_smooth_l1) { check_family("boxes"); }
#endif
