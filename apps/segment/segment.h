/* Semantic segmentation (book §6.4; issue 13): a U-Net and a pyramid-pooling network
 * (PSP-style) that label every pixel of the synthetic scenes (apps/scenes) with its class,
 * trained with per-pixel cross-entropy; the confusion matrix, IoU per class and mean IoU; a
 * colour coding of masks for pictures. Uses only the public headers. */
#ifndef DEEPC_APPS_SEGMENT_H
#define DEEPC_APPS_SEGMENT_H

#include "deepc.h"

typedef enum {
    SEGMENT_UNET, /* encoder (3 max-pools) -> decoder (transposed convs) with concatenated skips */
    SEGMENT_PSP   /* stride-4 backbone, dilated convs, pyramid pooling (1, 2, 4, 8 bins) */
} segment_arch;

/* A segmenter for RGB images [N, 3, H, W] (H, W divisible by 8) -> logits [N, classes, H, W].
 * Convolutions are conv3x3 -> BatchNorm -> ReLU; `width` channels at full resolution (the
 * U-Net doubles them at each of its 3 levels down; PSP uses width, 2 width, 4 width). The
 * caller owns the module (dc_module_free). NULL on a bad width (1 .. 256) or class count
 * (2 .. 256). */
dc_module *segment_model_new(segment_arch arch, int64_t width, int64_t classes, dc_rng *rng);

/* The predicted class of every pixel: argmax over dim 1 of logits [N, C, H, W] -> int64
 * [N, H, W]. */
dc_tensor *segment_predict(dc_tensor *logits);

/* Per-pixel confusion matrix: int64 [classes, classes], entry [t][p] = number of pixels of
 * true class t predicted as p. truth and pred are int64 masks of the same shape ([N, H, W] or
 * any other), values in [0, classes). A shape mismatch, another dtype or a value out of range
 * is an error naming it (NULL). */
dc_tensor *segment_confusion(const dc_tensor *truth, const dc_tensor *pred, int64_t classes);

/* IoU of each class from a confusion matrix [C, C] (int64 or float): iou[c] = TP / (TP + FP +
 * FN) = conf[c][c] / (row c + column c - conf[c][c]); NaN for a class that is neither in the
 * truth nor predicted. Returns C (iou holds max_classes >= C values), or -1 with an error. */
int segment_iou(const dc_tensor *confusion, double *iou, int max_classes);

/* Mean IoU over the classes present in the truth or the prediction (NaN entries of
 * segment_iou skipped), or NaN with an error for a bad matrix or one that counts nothing. */
double segment_mean_iou(const dc_tensor *confusion);

/* The colour of class cls in pictures (RGB in [0, 1]): black background, then red, green,
 * blue, yellow, purple, cyan, white, and hashed colours for classes >= 8. */
void segment_class_colour(int64_t cls, float rgb[3]);

/* Colour coding of int64 masks [N, H, W] (classes 0 .. 255, coloured by segment_class_colour) -> float32 RGB
 * images [N, 3, H, W] in [0, 1], for pictures. NULL on another shape or dtype. */
dc_tensor *segment_colorize(const dc_tensor *masks);

/* The `deepc train --task segment` entry (segment_task.c): scenes of circles, squares,
 * triangles and Fashion-MNIST items, a U-Net or a PSP network (--arch unet|psp), the test
 * mean IoU (metrics[0] "miou") and IoU per class, and a PNG of image | truth | prediction. */
extern const dc_task segment_task;

#endif
