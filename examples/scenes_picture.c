/* A picture of the synthetic detection/segmentation scenes (apps/scenes): 8 test-split scenes,
 * enlarged 3x, with each object's box and class drawn in, as a PNG grid.
 *   build/examples/scenes_picture [OUT.png]   (default docs/images/scenes.png)
 * Uses Fashion-MNIST items when the data is installed, else only shapes. */
#include "deepc.h"
#include "scenes/scenes.h"

#include <stdio.h>

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "docs/images/scenes.png";
    const int64_t n = 8, scale = 3;
    size_t scope = dc_scope_begin();
    dc_tensor *items = scenes_load_items(NULL, 1000);
    if (!items) {
        printf("Fashion-MNIST not found (%s): shapes only\n", dc_last_error());
        dc_clear_error();
    }
    scene_set *s = scenes_generate(n, 64, scenes_split_seed(SCENES_TEST), items);
    if (!s) {
        fprintf(stderr, "scenes_picture: %s\n", dc_last_error());
        return 1;
    }
    dc_tensor *big = dc_contiguous(dc_upsample_nearest2d(s->images, (int)scale, (int)scale));
    static const double colours[SCENES_CLASSES][3] = {
        {1, 1, 1}, {1, 0.1, 0.1}, {0.1, 1, 0.1}, {0.2, 0.4, 1}, {1, 1, 0}};
    static const char *const labels[SCENES_CLASSES] = {"", "circle", "square", "triangle", "item"};
    for (int64_t i = 0; big && i < n; i++) {
        dc_tensor *img = dc_select(big, 0, i);
        for (int k = 0; k < s->count[i]; k++) {
            const scene_object *o = &s->objects[i * SCENES_MAX_OBJECTS + k];
            const double *c = colours[o->cls];
            dc_image_draw_box(img, o->x0 * scale, o->y0 * scale, o->x1 * scale, o->y1 * scale,
                              c[0], c[1], c[2]);
            int64_t ty = (int64_t)(o->y0 * scale) - DC_FONT_HEIGHT - 1;
            if (ty < 0) ty = (int64_t)(o->y0 * scale) + 2;
            dc_image_draw_text(img, (int64_t)(o->x0 * scale) + 1, ty, labels[o->cls], c[0], c[1],
                               c[2]);
        }
    }
    int rc = big ? dc_png_write_grid(out, big, 4, 4, 1.0) : -1;
    if (rc != 0) fprintf(stderr, "scenes_picture: %s\n", dc_last_error());
    else printf("wrote %s (%lld scenes)\n", out, (long long)n);
    scenes_free(s);
    dc_scope_end(scope);
    return rc != 0;
}
