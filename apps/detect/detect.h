/* Object detection (book §6.3; issue 13): a single-shot detector (SSD) for the synthetic
 * scenes of apps/scenes. A small convolutional backbone gives feature maps at strides 4, 8
 * and 16; at every cell of each, a 3x3 convolution predicts, for each of its anchor boxes,
 * four box offsets (dc_box_encode's deltas) and DETECT_CLASSES logits (class 0 = "no
 * object"). Training matches anchors to the ground truth by IoU (dc_match_anchors), keeps the
 * positives plus the hardest negatives (dc_hard_negative_mining) for the cross-entropy and
 * adds the smooth-L1 loss of the positives' offsets; prediction decodes the offsets and keeps
 * the best boxes per class by non-maximum suppression (dc_batched_nms). Uses only the public
 * headers (the box operations of deepc/ops.h) and apps/scenes. */
#ifndef DEEPC_APPS_DETECT_H
#define DEEPC_APPS_DETECT_H

#include "deepc.h"
#include "scenes/scenes.h"

/* Background + circle, square, triangle, item (the scene classes). */
#define DETECT_CLASSES SCENES_CLASSES
/* Values per anchor in the model's output: 4 box offsets, then DETECT_CLASSES logits. */
#define DETECT_OUTPUTS (4 + DETECT_CLASSES)

/* The anchors of an image_size x image_size input (a multiple of 16, >= 32): on the
 * stride-4, 8 and 16 feature maps, two sizes per map (8 and 11, 16 and 22, 28 and 36 pixels
 * for 64 x 64, scaled with the image), each with width / height ratios 1, 1/2 and 2 ->
 * float32 [A, 4] in the model's output order (map, cell row-major, size, ratio). NULL with an
 * error for a bad size. */
dc_tensor *detect_anchors(int64_t image_size);

/* The detector for [N, 3, image_size, image_size] images -> [N, A, DETECT_OUTPUTS] (A rows
 * of detect_anchors(image_size)); `width` channels at stride 2, 2 and 4 times that below
 * (each convolution followed by batch normalisation and ReLU). The caller owns the module.
 * NULL on a bad width (1 .. 256) or image size. */
dc_module *detect_model_new(int64_t width, int64_t image_size, dc_rng *rng);

/* Training targets of one image: ground-truth boxes [K, 4] (pixel edges, inside the image:
 * 0 <= x0 < x1 <= image_size, likewise y) with classes [K] (integer, 1 .. DETECT_CLASSES -
 * 1), K >= 1, matched to anchors [A, 4] at iou_threshold -> *labels int64 [A] (the matched
 * box's class, 0 = background) and *deltas float32 [A, 4] (the matched box encoded against
 * its anchor with variances 0.1, 0.1, 0.2, 0.2; zeros for background anchors). An empty
 * scene, a box outside the image or a bad class is an error naming it (-1, outputs NULL). */
int detect_targets(dc_tensor *anchors, dc_tensor *boxes, dc_tensor *classes, int64_t image_size,
                   double iou_threshold, dc_tensor **labels, dc_tensor **deltas);

/* The SSD loss of predictions pred [B, A, DETECT_OUTPUTS] against labels int64 [B, A] and
 * deltas [B, A, 4] (detect_targets per image, stacked): (the cross-entropy of the positive
 * anchors and of the neg_pos_ratio times as many hardest negatives per image (at least
 * min_negatives) + the smooth-L1 (beta 1) of the positives' offsets) / max(1, positives).
 * A differentiable scalar; NULL with an error on mismatched shapes. */
dc_tensor *detect_loss(dc_tensor *pred, dc_tensor *labels, dc_tensor *deltas,
                       double neg_pos_ratio, int64_t min_negatives);

/* Detections of one image from its predictions pred [A, DETECT_OUTPUTS] and the anchors
 * [A, 4]: the offsets decoded and clipped to the image, each (anchor, object class) with
 * softmax probability >= score_threshold a candidate (the 400 best), non-maximum suppression
 * per class at nms_iou, then at most max_detections by decreasing score -> *boxes float32
 * [K, 4], *scores float32 [K], *classes int64 [K] (1 .. DETECT_CLASSES - 1). 0 or -1. */
int detect_decode(dc_tensor *pred, dc_tensor *anchors, int64_t image_size,
                  double score_threshold, double nms_iou, int64_t max_detections,
                  dc_tensor **boxes, dc_tensor **scores, dc_tensor **classes);

/* Draw detections (boxes [K, 4] in the image's pixels times `scale`, scores [K], classes
 * [K]) into img [3, H, W] in place: each box outlined in its class's colour with
 * "NAME 0.97" above it (below when there is no room), with a dark shadow. Detections
 * under min_score are skipped. 0 or -1. */
int detect_draw(dc_tensor *img, dc_tensor *boxes, dc_tensor *scores, dc_tensor *classes,
                double scale, double min_score);

/* The `deepc train --task detect` entry (detect_task.c): scenes with Fashion-MNIST items
 * (or shapes only), the SSD above, metrics map50 (test mAP at IoU 0.5) and per-class AP,
 * pictures detect.png (predicted boxes on test scenes) and detect_pr.svg (precision-recall
 * curves per class). */
extern const dc_task detect_task;

#endif
