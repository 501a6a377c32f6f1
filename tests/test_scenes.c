/* The scene generator (apps/scenes): determinism, boxes and masks that agree with each
 * other, disjoint train/validation/test sets, Fashion-MNIST items when the data is installed,
 * and bad arguments. */
#include "test.h"

#include "scenes/scenes.h"

/* Every object's box is the tight box of the pixels it still shows when it is not
 * occluded; masks hold the class of the visible object; background pixels are 0 in both
 * maps. Returns the number of non-occluded objects checked. */
static int check_consistent(const scene_set *s)
{
    int checked = 0;
    int64_t S = s->size, P = S * S;
    const int64_t *mask = dc_data(s->masks), *inst = dc_data(s->instances);
    for (int64_t i = 0; i < s->n; i++) {
        const int64_t *m = mask + i * P, *in = inst + i * P;
        EXPECT(s->count[i] >= 1 && s->count[i] <= SCENES_MAX_OBJECTS, "image %lld: %d objects",
               (long long)i, s->count[i]);
        for (int64_t p = 0; p < P; p++) {
            if (in[p] == 0) {
                EXPECT(m[p] == 0, "image %lld pixel %lld: no object but class %lld", (long long)i,
                       (long long)p, (long long)m[p]);
                continue;
            }
            EXPECT(in[p] <= s->count[i], "image %lld: instance %lld", (long long)i, (long long)in[p]);
            const scene_object *o = &s->objects[i * SCENES_MAX_OBJECTS + in[p] - 1];
            EXPECT(m[p] == o->cls, "image %lld pixel %lld: class %lld, object says %lld",
                   (long long)i, (long long)p, (long long)m[p], (long long)o->cls);
            /* every visible pixel lies inside its object's box, occluded or not */
            int64_t x = p % S, y = p / S;
            EXPECT(x >= o->x0 && x < o->x1 && y >= o->y0 && y < o->y1,
                   "image %lld: pixel (%lld, %lld) outside its box", (long long)i, (long long)x,
                   (long long)y);
        }
        for (int k = 0; k < s->count[i]; k++) {
            const scene_object *o = &s->objects[i * SCENES_MAX_OBJECTS + k];
            EXPECT(o->cls >= 1 && o->cls < SCENES_CLASSES, "class %lld", (long long)o->cls);
            EXPECT(o->x0 >= 0 && o->y0 >= 0 && o->x1 <= S && o->y1 <= S && o->x0 < o->x1 &&
                       o->y0 < o->y1, "image %lld object %d: box outside the image", (long long)i, k);
            if (o->occluded) continue;
            int64_t x0 = S, y0 = S, x1 = -1, y1 = -1;
            for (int64_t p = 0; p < P; p++)
                if (in[p] == k + 1) {
                    int64_t x = p % S, y = p / S;
                    x0 = x < x0 ? x : x0;
                    y0 = y < y0 ? y : y0;
                    x1 = x > x1 ? x : x1;
                    y1 = y > y1 ? y : y1;
                }
            EXPECT(x0 == o->x0 && y0 == o->y0 && x1 + 1 == o->x1 && y1 + 1 == o->y1,
                   "image %lld object %d: box (%g, %g, %g, %g), pixels span (%lld, %lld, %lld, %lld)",
                   (long long)i, k, o->x0, o->y0, o->x1, o->y1, (long long)x0, (long long)y0,
                   (long long)x1 + 1, (long long)y1 + 1);
            checked++;
        }
    }
    return checked;
}

TEST(test_scenes_are_deterministic_and_do_not_depend_on_n)
{
    scene_set *a = scenes_generate(6, 64, 42, NULL), *b = scenes_generate(6, 64, 42, NULL);
    scene_set *c = scenes_generate(2, 64, 42, NULL);
    REQUIRE(a && b && c);
    CHECK(a->images->shape[0] == 6 && a->images->shape[1] == 3 && a->images->shape[2] == 64 &&
          a->images->shape[3] == 64 && a->images->dtype == DC_F32);
    CHECK(a->masks->dtype == DC_I64 && a->masks->ndim == 3 && a->masks->shape[1] == 64);
    size_t img_bytes = 6 * 3 * 64 * 64 * sizeof(float);
    CHECK(memcmp(dc_data(a->images), dc_data(b->images), img_bytes) == 0);
    CHECK(memcmp(dc_data(a->masks), dc_data(b->masks), 6 * 64 * 64 * sizeof(int64_t)) == 0);
    CHECK(memcmp(a->objects, b->objects, 6 * SCENES_MAX_OBJECTS * sizeof(scene_object)) == 0);
    /* image i depends on (seed, i) only */
    CHECK(memcmp(dc_data(a->images), dc_data(c->images), 2 * 3 * 64 * 64 * sizeof(float)) == 0);
    /* values in [0, 1] */
    CHECK(dc_item(dc_min(dc_flatten(a->images, 0, -1), 0, false)) >= 0);
    CHECK(dc_item(dc_max(dc_flatten(a->images, 0, -1), 0, false)) <= 1);
    scenes_free(a);
    scenes_free(b);
    scenes_free(c);
}

TEST(test_scene_boxes_enclose_exactly_their_object_pixels_and_masks_match_classes)
{
    scene_set *s = scenes_generate(40, 64, 7, NULL);
    REQUIRE(s);
    int checked = check_consistent(s);
    CHECK(checked > 40); /* most objects are not occluded */
    int kinds[SCENES_CLASSES] = {0};
    int64_t total = 0;
    for (int64_t i = 0; i < s->n; i++) {
        total += s->count[i];
        for (int k = 0; k < s->count[i]; k++) kinds[s->objects[i * SCENES_MAX_OBJECTS + k].cls]++;
    }
    CHECK(kinds[SCENE_CIRCLE] > 0 && kinds[SCENE_SQUARE] > 0 && kinds[SCENE_TRIANGLE] > 0);
    CHECK(kinds[SCENE_ITEM] == 0); /* no items given */
    CHECK(total > 40 * 2 && total < 40 * 5);
    /* the box and class accessors */
    dc_tensor *b = scenes_boxes(s, 3), *c = scenes_classes(s, 3);
    REQUIRE(b && c && b->shape[0] == s->count[3] && c->shape[0] == s->count[3]);
    CHECK(dc_item_at(b, (int64_t[]){0, 2}) == s->objects[3 * SCENES_MAX_OBJECTS].x1);
    CHECK(dc_item_at(c, (int64_t[]){0}) == (double)s->objects[3 * SCENES_MAX_OBJECTS].cls);
    CHECK_ERROR(!scenes_boxes(s, 40), "scenes_boxes: image 40 is not in the set");
    /* larger scenes work too */
    scene_set *big = scenes_generate(3, 96, 7, NULL);
    REQUIRE(big);
    check_consistent(big);
    scenes_free(big);
    scenes_free(s);
}

TEST(test_scene_splits_have_distinct_seeds_and_share_no_image)
{
    uint64_t tr = scenes_split_seed(SCENES_TRAIN), va = scenes_split_seed(SCENES_VAL),
             te = scenes_split_seed(SCENES_TEST);
    CHECK(tr != va && va != te && tr != te);
    scene_set *a = scenes_generate(20, 32, tr, NULL), *b = scenes_generate(20, 32, va, NULL),
              *c = scenes_generate(20, 32, te, NULL);
    REQUIRE(a && b && c);
    size_t one = 3 * 32 * 32 * sizeof(float);
    const char *pa = dc_data(a->images), *pb = dc_data(b->images), *pc = dc_data(c->images);
    int same = 0;
    for (int i = 0; i < 20; i++)
        for (int j = 0; j < 20; j++)
            same += !memcmp(pa + i * one, pb + j * one, one) + !memcmp(pa + i * one, pc + j * one, one) +
                    !memcmp(pb + i * one, pc + j * one, one);
    CHECK(same == 0);
    scenes_free(a);
    scenes_free(b);
    scenes_free(c);
}

TEST(test_scenes_with_fashion_mnist_items)
{
    dc_tensor *items = scenes_load_items(NULL, 200);
    if (!items) {
        printf("skipped: Fashion-MNIST not installed (%s)\n", dc_last_error());
        dc_clear_error();
        return;
    }
    scene_set *s = scenes_generate(30, 64, 11, items);
    REQUIRE(s);
    check_consistent(s);
    int n_items = 0;
    for (int64_t i = 0; i < s->n; i++)
        for (int k = 0; k < s->count[i]; k++) n_items += s->objects[i * SCENES_MAX_OBJECTS + k].cls == SCENE_ITEM;
    CHECK(n_items > 5);
    scenes_free(s);
}

TEST(test_scenes_reject_bad_arguments)
{
    CHECK_ERROR(!scenes_generate(0, 64, 1, NULL), "scenes_generate: n = 0 scenes must be in [1, 10000000]");
    CHECK_ERROR(!scenes_generate(-3, 64, 1, NULL), "n = -3");
    CHECK_ERROR(!scenes_generate(4, 16, 1, NULL), "scenes_generate: size 16 is too small (32 to 1024 pixels)");
    CHECK_ERROR(!scenes_generate(4, 4096, 1, NULL), "size 4096 is too large");
    dc_tensor *bad = dc_zeros(DC_F32, 2, (int64_t[]){4, 28});
    CHECK_ERROR(!scenes_generate(4, 64, 1, bad), "items must be float [M, 1, H, W] or [M, H, W]");
    dc_tensor *ints = dc_zeros(DC_I64, 3, (int64_t[]){4, 28, 28});
    CHECK_ERROR(!scenes_generate(4, 64, 1, ints), "items must be float");
    CHECK_ERROR(!scenes_load_items(NULL, 0), "max_items must be >= 1");
}
