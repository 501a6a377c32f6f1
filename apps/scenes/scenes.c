/* Synthetic scenes (see scenes.h). Each image has its own random stream, seeded by
 * splitmix64(seed, index), so image i is the same whatever n is and sets of different seeds
 * share no image. */
#include "scenes/scenes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const scene_class_names[SCENES_CLASSES] = {"background", "circle", "square",
                                                       "triangle", "item"};

/* ---- Random numbers (own, so scenes never change with the library's generator) ---------- */

typedef struct {
    uint64_t state;
} scene_rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(scene_rng *r) { return (double)(splitmix64(&r->state) >> 11) * 0x1.0p-53; }

/* integer in [lo, hi] */
static int64_t randint(scene_rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(splitmix64(&r->state) % (uint64_t)(hi - lo + 1));
}

static double gaussian(scene_rng *r)
{
    double u = uniform(r), v = uniform(r);
    return sqrt(-2.0 * log(u > 1e-300 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static float clamp01(double v) { return (float)(v < 0 ? 0 : v > 1 ? 1 : v); }

uint64_t scenes_split_seed(scenes_split split)
{
    static const uint64_t seeds[3] = {0x5CE7E5000001ull, 0x5CE7E5000002ull, 0x5CE7E5000003ull};
    return seeds[(unsigned)split % 3];
}

/* ---- One scene ---------------------------------------------------------------------------- */

typedef struct {
    const float *items; /* m x ih x iw, or NULL */
    int64_t m, ih, iw;
} item_source;

/* Rasterise object `kind` of side s into shape[s * s] (1 = covered); for items, shade[]
 * receives the item's intensity. Returns the number of covered pixels. */
static int64_t rasterise(int kind, int64_t s, scene_rng *r, const item_source *src,
                         uint8_t *shape, float *shade)
{
    int64_t covered = 0;
    int64_t item = kind == SCENE_ITEM ? randint(r, 0, src->m - 1) : 0;
    for (int64_t y = 0; y < s; y++)
        for (int64_t x = 0; x < s; x++) {
            double px = x + 0.5, py = y + 0.5, h = s / 2.0;
            bool on = false;
            shade[y * s + x] = 1;
            switch (kind) {
            case SCENE_CIRCLE: on = (px - h) * (px - h) + (py - h) * (py - h) <= h * h; break;
            case SCENE_SQUARE: on = true; break;
            case SCENE_TRIANGLE: /* apex at the top centre, base along the bottom */
                on = fabs(px - h) <= 0.5 * py;
                break;
            case SCENE_ITEM: {
                int64_t sy = y * src->ih / s, sx = x * src->iw / s;
                float v = src->items[(item * src->ih + sy) * src->iw + sx];
                on = v > 0.3f;
                shade[y * s + x] = 0.45f + 0.55f * v;
                break;
            }
            default: break;
            }
            shape[y * s + x] = on;
            covered += on;
        }
    return covered;
}

static double box_overlap(const scene_object *a, double x0, double y0, double x1, double y1)
{
    double iw = fmin(a->x1, x1) - fmax(a->x0, x0), ih = fmin(a->y1, y1) - fmax(a->y0, y0);
    if (iw <= 0 || ih <= 0) return 0;
    double inter = iw * ih;
    return inter / ((a->x1 - a->x0) * (a->y1 - a->y0) + (x1 - x0) * (y1 - y0) - inter);
}

static void make_scene(int64_t size, uint64_t seed, int64_t index, const item_source *src,
                       float *img, int64_t *mask, int64_t *inst, scene_object *objs, int *count,
                       uint8_t *shape, float *shade)
{
    uint64_t mix = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(index + 1));
    scene_rng r = {splitmix64(&mix)};
    int64_t S = size, P = S * S;
    /* background: a base colour, two sinusoidal gratings (texture) and pixel noise */
    double base[3], amp[2], fx[2], fy[2], ph[2];
    for (int c = 0; c < 3; c++) base[c] = 0.2 + 0.6 * uniform(&r);
    for (int k = 0; k < 2; k++) {
        double freq = (0.1 + 0.5 * uniform(&r)) * 64.0 / (double)S, ang = M_PI * uniform(&r);
        fx[k] = freq * cos(ang);
        fy[k] = freq * sin(ang);
        ph[k] = 2 * M_PI * uniform(&r);
        amp[k] = 0.04 + 0.08 * uniform(&r);
    }
    double tint[3];
    for (int c = 0; c < 3; c++) tint[c] = uniform(&r) * 2 - 1;
    for (int64_t y = 0; y < S; y++)
        for (int64_t x = 0; x < S; x++) {
            double t = amp[0] * sin(fx[0] * x + fy[0] * y + ph[0]);
            double u = amp[1] * sin(fx[1] * x + fy[1] * y + ph[1]);
            for (int c = 0; c < 3; c++)
                img[c * P + y * S + x] = clamp01(base[c] + t + u * tint[c] + 0.04 * gaussian(&r));
        }
    memset(mask, 0, (size_t)P * sizeof *mask);
    memset(inst, 0, (size_t)P * sizeof *inst);
    /* objects */
    int k_objects = (int)randint(&r, 1, SCENES_MAX_OBJECTS);
    int kinds = src->items ? 4 : 3;
    int64_t smin = S / 8 > 6 ? S / 8 : 6, smax = S * 7 / 16;
    int64_t painted[SCENES_MAX_OBJECTS] = {0};
    for (int k = 0; k < k_objects; k++) {
        int kind = (int)randint(&r, 1, kinds);
        int64_t s = 0, ox = 0, oy = 0;
        /* a few tries for a place that overlaps the others' boxes little */
        for (int attempt = 0; attempt < 20; attempt++) {
            s = randint(&r, smin, smax);
            ox = randint(&r, 0, S - s);
            oy = randint(&r, 0, S - s);
            double worst = 0;
            for (int j = 0; j < k; j++)
                worst = fmax(worst, box_overlap(&objs[j], (double)ox, (double)oy,
                                                (double)(ox + s), (double)(oy + s)));
            if (worst <= 0.2) break;
        }
        /* a colour that stands out from the background */
        double col[3];
        for (int attempt = 0; attempt < 20; attempt++) {
            double d = 0;
            for (int c = 0; c < 3; c++) {
                col[c] = uniform(&r);
                d += (col[c] - base[c]) * (col[c] - base[c]);
            }
            if (d > 0.35 * 0.35 * 3) break;
        }
        int64_t covered = rasterise(kind, s, &r, src, shape, shade);
        if (covered == 0) { /* an item too faint to see: a square instead */
            kind = SCENE_SQUARE;
            covered = rasterise(kind, s, &r, src, shape, shade);
        }
        int64_t bx0 = S, by0 = S, bx1 = -1, by1 = -1;
        for (int64_t y = 0; y < s; y++)
            for (int64_t x = 0; x < s; x++) {
                if (!shape[y * s + x]) continue;
                int64_t gx = ox + x, gy = oy + y, p = gy * S + gx;
                if (gx < bx0) bx0 = gx;
                if (gx > bx1) bx1 = gx;
                if (gy < by0) by0 = gy;
                if (gy > by1) by1 = gy;
                for (int c = 0; c < 3; c++)
                    img[c * P + p] = clamp01(col[c] * shade[y * s + x] + 0.03 * gaussian(&r));
                mask[p] = kind;
                inst[p] = k + 1;
            }
        painted[k] = covered;
        objs[k] = (scene_object){(float)bx0, (float)by0, (float)(bx1 + 1), (float)(by1 + 1),
                                 kind, false};
    }
    *count = k_objects;
    /* an object is occluded when later ones took some of the pixels it painted: fewer
     * pixels than it painted still carry its instance number */
    int64_t visible[SCENES_MAX_OBJECTS] = {0};
    for (int64_t p = 0; p < P; p++)
        if (inst[p] > 0) visible[inst[p] - 1]++;
    for (int k = 0; k < k_objects; k++) objs[k].occluded = visible[k] < painted[k];
}

/* ---- The set -------------------------------------------------------------------------------- */

void scenes_free(scene_set *set)
{
    if (!set) return;
    dc_tensor_free(set->images);
    dc_tensor_free(set->masks);
    dc_tensor_free(set->instances);
    free(set->count);
    free(set->objects);
    free(set);
}

scene_set *scenes_generate(int64_t n, int64_t size, uint64_t seed, const dc_tensor *items)
{
    char buf[96];
    if (n <= 0 || n > 10000000)
        return dc_error("scenes_generate: n = %lld scenes must be in [1, 10000000]", (long long)n);
    if (size < SCENES_MIN_SIZE || size > SCENES_MAX_SIZE)
        return dc_error("scenes_generate: size %lld is too %s (%d to %d pixels)", (long long)size,
                        size < SCENES_MIN_SIZE ? "small" : "large", SCENES_MIN_SIZE,
                        SCENES_MAX_SIZE);
    if (n * 3 * size * size > ((int64_t)1 << 31))
        return dc_error("scenes_generate: %lld scenes of %lld x %lld are too many for one set",
                        (long long)n, (long long)size, (long long)size);
    item_source src = {0};
    float *item_buf = NULL;
    if (items) {
        bool ok = (items->dtype == DC_F32 || items->dtype == DC_F64) &&
                  (items->ndim == 3 || (items->ndim == 4 && items->shape[1] == 1));
        int64_t m = items->shape[0], ih = items->shape[items->ndim - 2],
                iw = items->shape[items->ndim - 1];
        if (!ok || m < 1 || ih < 8 || iw < 8)
            return dc_error("scenes_generate: items must be float [M, 1, H, W] or [M, H, W] with "
                            "M >= 1, H, W >= 8, got %s", dc_shape_str(items, buf, sizeof buf));
        item_buf = malloc((size_t)(m * ih * iw) * sizeof *item_buf);
        if (!item_buf) return dc_error("scenes_generate: out of memory for the items");
        if (dc_to_float_buffer(items, item_buf, m * ih * iw) != 0) {
            free(item_buf);
            return NULL;
        }
        src = (item_source){item_buf, m, ih, iw};
    }
    scene_set *set = calloc(1, sizeof *set);
    uint8_t *shape = malloc((size_t)(size * size));
    float *shade = malloc((size_t)(size * size) * sizeof *shade);
    if (set) {
        set->count = calloc((size_t)n, sizeof *set->count);
        set->objects = calloc((size_t)(n * SCENES_MAX_OBJECTS), sizeof *set->objects);
    }
    /* the set keeps its own references: made in a scope, retained, the scope closed */
    size_t scope = dc_scope_begin();
    dc_tensor *images = dc_empty(DC_F32, 4, (int64_t[]){n, 3, size, size});
    dc_tensor *masks = dc_empty(DC_I64, 3, (int64_t[]){n, size, size});
    dc_tensor *inst = dc_empty(DC_I64, 3, (int64_t[]){n, size, size});
    bool ok = set && shape && shade && set->count && set->objects && images && masks && inst;
    if (ok) {
        set->images = dc_tensor_retain(images);
        set->masks = dc_tensor_retain(masks);
        set->instances = dc_tensor_retain(inst);
    }
    dc_scope_end(scope);
    if (!ok) {
        dc_error("scenes_generate: out of memory for %lld scenes", (long long)n);
        scenes_free(set);
        free(shape);
        free(shade);
        free(item_buf);
        return NULL;
    }
    set->n = n;
    set->size = size;
    float *img = dc_data(set->images);
    int64_t *msk = dc_data(set->masks), *ins = dc_data(set->instances), P = size * size;
    for (int64_t i = 0; i < n; i++)
        make_scene(size, seed, i, &src, img + i * 3 * P, msk + i * P, ins + i * P,
                   set->objects + i * SCENES_MAX_OBJECTS, &set->count[i], shape, shade);
    free(shape);
    free(shade);
    free(item_buf);
    return set;
}

dc_tensor *scenes_boxes(const scene_set *set, int64_t i)
{
    if (!set || i < 0 || i >= set->n)
        return dc_error("scenes_boxes: image %lld is not in the set", (long long)i);
    float b[SCENES_MAX_OBJECTS * 4];
    const scene_object *o = set->objects + i * SCENES_MAX_OBJECTS;
    for (int k = 0; k < set->count[i]; k++) {
        b[4 * k] = o[k].x0;
        b[4 * k + 1] = o[k].y0;
        b[4 * k + 2] = o[k].x1;
        b[4 * k + 3] = o[k].y1;
    }
    return dc_from_buffer(DC_F32, 2, (int64_t[]){set->count[i], 4}, b);
}

dc_tensor *scenes_classes(const scene_set *set, int64_t i)
{
    if (!set || i < 0 || i >= set->n)
        return dc_error("scenes_classes: image %lld is not in the set", (long long)i);
    int64_t c[SCENES_MAX_OBJECTS];
    for (int k = 0; k < set->count[i]; k++) c[k] = set->objects[i * SCENES_MAX_OBJECTS + k].cls;
    return dc_from_buffer(DC_I64, 1, (int64_t[]){set->count[i]}, c);
}

dc_tensor *scenes_load_items(const char *dir, int64_t max_items)
{
    if (max_items < 1) return dc_error("scenes_load_items: max_items must be >= 1");
    dc_dataset *ds = dc_fashion_mnist_load(dir, false);
    if (!ds) return NULL;
    int64_t m = dc_dataset_size(ds) < max_items ? dc_dataset_size(ds) : max_items;
    size_t scope = dc_scope_begin();
    dc_tensor *out = dc_scope_return(scope, dc_clone(dc_narrow(ds->inputs, 0, 0, m)));
    dc_dataset_free(ds);
    return out;
}
