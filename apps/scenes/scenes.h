/* Synthetic scenes for object detection and segmentation (book §6.3, §6.4; issue 13).
 *
 * Each image is size x size RGB (float in [0, 1]) on a textured, noisy background with 1 to
 * SCENES_MAX_OBJECTS objects: filled circles, squares and triangles in random colours and,
 * when Fashion-MNIST items are given, clothing items pasted at random scales. Objects are
 * painted in order, so a later one may hide part of an earlier one (then `occluded` is set).
 * Everything depends only on (seed, image index): the same call gives the same scenes, on any
 * machine and thread count. Uses only the public deepc headers. */
#ifndef DEEPC_APPS_SCENES_H
#define DEEPC_APPS_SCENES_H

#include "deepc.h"

#define SCENES_MAX_OBJECTS 6
#define SCENES_MIN_SIZE 32
#define SCENES_MAX_SIZE 1024

/* Pixel classes of the masks; object classes are 1 .. SCENES_CLASSES - 1. */
enum {
    SCENE_BACKGROUND = 0,
    SCENE_CIRCLE = 1,
    SCENE_SQUARE = 2,
    SCENE_TRIANGLE = 3,
    SCENE_ITEM = 4, /* a Fashion-MNIST item (any of its 10 kinds) */
    SCENES_CLASSES = 5
};
/* "background", "circle", "square", "triangle", "item". */
extern const char *const scene_class_names[SCENES_CLASSES];

/* One object: its box in pixel edges (x0 = first column, x1 = last column + 1, likewise y;
 * the tight box of the pixels it painted, before any later object covered some of them),
 * its class, and whether a later object covers any of its pixels. */
typedef struct {
    float x0, y0, x1, y1;
    int64_t cls;
    bool occluded;
} scene_object;

/* n scenes (the set owns its tensors; release with scenes_free). */
typedef struct {
    int64_t n, size;
    dc_tensor *images;    /* float32 [n, 3, size, size] in [0, 1] */
    dc_tensor *masks;     /* int64 [n, size, size]: class of the visible object, 0 = background */
    dc_tensor *instances; /* int64 [n, size, size]: 1 + index of the visible object, 0 = none */
    int *count;           /* [n] objects per image, 1 .. SCENES_MAX_OBJECTS */
    scene_object *objects; /* [n * SCENES_MAX_OBJECTS]: image i's are objects[i * MAX + k] */
} scene_set;

/* Generate n >= 1 scenes of size x size pixels (SCENES_MIN_SIZE .. SCENES_MAX_SIZE) from seed.
 * items: Fashion-MNIST images [M, 1, H, W] or [M, H, W] (float in [0, 1], M >= 1, H, W >= 8)
 * to paste, or NULL for shapes only. NULL with an error naming the bad argument. */
scene_set *scenes_generate(int64_t n, int64_t size, uint64_t seed, const dc_tensor *items);
void scenes_free(scene_set *set);

/* The seeds of the train, validation and test sets: distinct, so the sets are disjoint. */
typedef enum { SCENES_TRAIN = 0, SCENES_VAL = 1, SCENES_TEST = 2 } scenes_split;
uint64_t scenes_split_seed(scenes_split split);

/* Image i's boxes float32 [K, 4] (x0, y0, x1, y1) and classes int64 [K] (K = count[i]),
 * for dc_box_iou, dc_match_anchors and dc_mean_average_precision. NULL if i is out of range. */
dc_tensor *scenes_boxes(const scene_set *set, int64_t i);
dc_tensor *scenes_classes(const scene_set *set, int64_t i);

/* Up to max_items Fashion-MNIST test images [M, 1, 28, 28] from dir (NULL: the Debian
 * package's directory) to pass as items; NULL (error set) when the data is not installed. */
dc_tensor *scenes_load_items(const char *dir, int64_t max_items);

#endif
