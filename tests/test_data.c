/* Data (include/deepc/data.h): IDX files, datasets, loaders, augmentation, tokenizers and
 * language-modelling windows.
 *
 * Fixtures (tests/data/, see tests/data/README.md): tiny-{images-idx3,labels-idx1}-ubyte and
 * their .gz twins hold 20 images of 5x4 pixels with pixel(i, y, x) = (37 i + 11 y + 3 x) mod
 * 256 and label(i) = i mod 10, so every value below is computed, not copied. Malformed files
 * are written by the tests into /tmp. Fashion-MNIST is checked when Debian's
 * dataset-fashion-mnist is installed (a printed note otherwise). */
#include "test.h"

#include <stdint.h>
#include <sys/time.h>
#include <unistd.h>

#define TINY_IMAGES "data/tiny-images-idx3-ubyte"
#define TINY_LABELS "data/tiny-labels-idx1-ubyte"
#define TINY_N 20
#define TINY_H 5
#define TINY_W 4

static int tiny_pixel(int i, int y, int x) { return (37 * i + 11 * y + 3 * x) % 256; }

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
}

/* ---- IDX ----------------------------------------------------------------------------- */

static void check_tiny(const dc_dataset *ds)
{
    char buf[64];
    CHECK(ds->inputs->dtype == DC_F32 && ds->inputs->ndim == 4);
    CHECK(strcmp(dc_shape_str(ds->inputs, buf, sizeof buf), "shape [20, 1, 5, 4] float32") == 0 ||
          (ds->inputs->shape[0] == TINY_N && ds->inputs->shape[1] == 1 &&
           ds->inputs->shape[2] == TINY_H && ds->inputs->shape[3] == TINY_W));
    CHECK(ds->targets->dtype == DC_I64 && ds->targets->ndim == 1 &&
          ds->targets->shape[0] == TINY_N);
    CHECK(ds->n_classes == 10 && ds->class_names == NULL);
    const float *x = dc_data(ds->inputs);
    const int64_t *y = dc_data(ds->targets);
    int bad = 0;
    for (int i = 0; i < TINY_N; i++) {
        if (y[i] != i % 10) bad++;
        for (int r = 0; r < TINY_H; r++)
            for (int c = 0; c < TINY_W; c++)
                if (x[(i * TINY_H + r) * TINY_W + c] != (float)tiny_pixel(i, r, c) / 255.0f) bad++;
    }
    CHECK(bad == 0);
}

TEST(test_data_idx_raw_exact_values)
{
    dc_dataset *ds = dc_idx_load(TINY_IMAGES, TINY_LABELS);
    REQUIRE(ds);
    CHECK(dc_dataset_size(ds) == TINY_N);
    check_tiny(ds);
    dc_dataset_free(ds);
}

TEST(test_data_idx_gzip_exact_values)
{
    dc_dataset *ds = dc_idx_load(TINY_IMAGES ".gz", TINY_LABELS ".gz");
    if (!ds && strstr(dc_last_error(), "without zlib")) {
        printf("  note: deepc built without zlib; gzip IDX test skipped (%s)\n", dc_last_error());
        dc_clear_error();
        return;
    }
    REQUIRE(ds);
    check_tiny(ds);
    dc_dataset_free(ds);
    /* raw images with gzip labels mix fine: gzip is detected per file */
    ds = dc_idx_load(TINY_IMAGES, TINY_LABELS ".gz");
    REQUIRE(ds);
    check_tiny(ds);
    dc_dataset_free(ds);
}

/* Write the first `keep` bytes of src (patched by `patch` at `at` when patch_len > 0, and
 * extended by `extra` zero bytes) to a temp file. */
static const char *variant(char *buf, size_t size, const char *tag, const char *src, size_t keep,
                           size_t at, const void *patch, size_t patch_len, size_t extra)
{
    size_t len;
    unsigned char *data = dc_test_read_file(src, &len);
    if (!data) return "missing-fixture";
    if (keep > len) keep = len;
    unsigned char *out = calloc(keep + extra + 1, 1);
    memcpy(out, data, keep);
    if (patch_len) memcpy(out + at, patch, patch_len);
    dc_test_tmp_path(buf, size, tag);
    dc_test_write_file(buf, out, keep + extra);
    free(out);
    free(data);
    return buf;
}

TEST(test_data_idx_malformed_files_name_the_file)
{
    char p[256];
    const char *missing = "data/no-such-images-idx3-ubyte";
    CHECK_ERROR(!dc_idx_load(missing, TINY_LABELS), missing);
    CHECK_ERROR(!dc_idx_load(TINY_IMAGES, "data/no-such-labels"), "data/no-such-labels");
    CHECK_ERROR(!dc_idx_load(missing, TINY_LABELS), "No such file");

    /* bad magic: a label file given as images, and a corrupted type byte */
    CHECK_ERROR(!dc_idx_load(TINY_LABELS, TINY_LABELS), "bad magic number 0x00000801");
    CHECK_ERROR(!dc_idx_load(TINY_LABELS, TINY_LABELS), TINY_LABELS);
    const unsigned char bad_type[4] = {0, 0, 0x0d, 3};
    const char *f = variant(p, sizeof p, "badmagic", TINY_IMAGES, 1000, 0, bad_type, 4, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), "bad magic");
    remove(f);

    /* truncated: in the data, in the header, and an empty file */
    f = variant(p, sizeof p, "trunc", TINY_IMAGES, 16 + 79, 0, NULL, 0, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), "truncated (79 of 400 data bytes)");
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    f = variant(p, sizeof p, "trunchdr", TINY_IMAGES, 10, 0, NULL, 0, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), "truncated header");
    f = variant(p, sizeof p, "empty", TINY_IMAGES, 0, 0, NULL, 0, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), "truncated");
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    remove(f);

    /* trailing bytes after the declared data */
    f = variant(p, sizeof p, "trailing", TINY_LABELS, 1000, 0, NULL, 0, 3);
    CHECK_ERROR(!dc_idx_load(TINY_IMAGES, f), "malformed");
    CHECK_ERROR(!dc_idx_load(TINY_IMAGES, f), f);
    remove(f);

    /* count mismatch: the label header says 19 (and holds 19 labels) */
    const unsigned char n19[4] = {0, 0, 0, 19};
    f = variant(p, sizeof p, "count", TINY_LABELS, 8 + 19, 4, n19, 4, 0);
    CHECK_ERROR(!dc_idx_load(TINY_IMAGES, f), "has 20 images but");
    CHECK_ERROR(!dc_idx_load(TINY_IMAGES, f), f);
    remove(f);

    /* a header whose dims claim far more data than the file has */
    const unsigned char huge[4] = {0x7f, 0xff, 0xff, 0xff};
    f = variant(p, sizeof p, "huge", TINY_IMAGES, 1000, 4, huge, 4, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    remove(f);

    /* truncated or corrupt gzip */
    dc_dataset *probe = dc_idx_load(TINY_IMAGES ".gz", TINY_LABELS);
    if (!probe) {
        printf("  note: deepc built without zlib; checking its error instead\n");
        CHECK_ERROR(!dc_idx_load(TINY_IMAGES ".gz", TINY_LABELS),
                    "deepc was built without zlib (install zlib1g-dev)");
        return;
    }
    dc_dataset_free(probe);
    f = variant(p, sizeof p, "trunc.gz", TINY_IMAGES ".gz", 200, 0, NULL, 0, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    const unsigned char garbage[8] = {0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef};
    f = variant(p, sizeof p, "corrupt.gz", TINY_IMAGES ".gz", 1000, 40, garbage, 8, 0);
    CHECK_ERROR(!dc_idx_load(f, TINY_LABELS), f);
    remove(f);
    CHECK_ERROR(!dc_idx_load(NULL, TINY_LABELS), "NULL");
}

TEST(test_data_fashion_mnist_loads_when_installed)
{
    if (access(DC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) != 0 &&
        access(DC_FASHION_MNIST_DIR "/train-images-idx3-ubyte", R_OK) != 0) {
        printf("  note: %s not installed (apt-get install dataset-fashion-mnist): skipped\n",
               DC_FASHION_MNIST_DIR);
        return;
    }
    double t0 = now_seconds();
    dc_dataset *train = dc_fashion_mnist_load(NULL, true);
    double t1 = now_seconds();
    dc_dataset *test = dc_fashion_mnist_load(DC_FASHION_MNIST_DIR, false);
    if (!train && strstr(dc_last_error(), "without zlib")) {
        printf("  note: Fashion-MNIST skipped: %s\n", dc_last_error());
        dc_dataset_free(test);
        dc_clear_error();
        return;
    }
    REQUIRE(train && test);
    printf("  note: Fashion-MNIST training set loaded in %.2f s\n", t1 - t0);
    CHECK(dc_dataset_size(train) == 60000 && dc_dataset_size(test) == 10000);
    CHECK(train->inputs->ndim == 4 && train->inputs->shape[1] == 1 &&
          train->inputs->shape[2] == 28 && train->inputs->shape[3] == 28);
    CHECK(train->n_classes == 10 && strcmp(train->class_names[9], "Ankle boot") == 0);
    /* every class appears 6000 / 1000 times; pixels lie in [0, 1] */
    int64_t counts[10] = {0};
    const int64_t *y = dc_data(train->targets);
    for (int64_t i = 0; i < 60000; i++) counts[y[i]]++;
    for (int c = 0; c < 10; c++) CHECK(counts[c] == 6000);
    const float *x = dc_data(test->inputs);
    float lo = 1, hi = 0;
    for (int64_t i = 0; i < dc_numel(test->inputs); i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    CHECK(lo == 0.0f && hi == 1.0f);
    dc_dataset_free(train);
    dc_dataset_free(test);
    CHECK_ERROR(!dc_fashion_mnist_load("/nonexistent-dir", true),
                "/nonexistent-dir/train-images-idx3-ubyte.gz");
}

/* ---- Datasets and loaders -------------------------------------------------------------- */

/* n samples: inputs [n, 3] with row i = (i, 100 + i, 200 + i), targets [n] = i. */
static dc_dataset *counting_dataset(int64_t n)
{
    size_t m = dc_scope_begin();
    dc_tensor *idx = dc_arange(DC_F32, 0, (double)n, 1);
    dc_tensor *x =
        dc_cat((dc_tensor *[]){dc_unsqueeze(idx, 1), dc_unsqueeze(dc_add_scalar(idx, 100), 1),
                               dc_unsqueeze(dc_add_scalar(idx, 200), 1)},
               3, 1);
    dc_dataset *ds = dc_dataset_new(x, dc_arange(DC_I64, 0, (double)n, 1));
    dc_scope_end(m);
    return ds;
}

/* One epoch: every sample's index in visiting order into order[] (returns the count), the
 * batch sizes into sizes[]; checks that inputs and targets stay paired. */
static int64_t run_epoch(dc_loader *l, int64_t *order, int64_t *sizes, int64_t *n_batches)
{
    int64_t n = 0;
    *n_batches = 0;
    dc_tensor *x, *y;
    int rc;
    for (;;) {
        size_t m = dc_scope_begin(); /* the batch belongs to this step's scope */
        rc = dc_loader_next(l, &x, &y);
        if (rc == 1) {
            const float *xd = dc_data(x);
            const int64_t *yd = dc_data(y);
            for (int64_t i = 0; i < y->shape[0]; i++) {
                if (xd[3 * i] != (float)yd[i] || xd[3 * i + 2] != (float)(yd[i] + 200))
                    dc_test_fail(__FILE__, __LINE__, "input/target pairing broken");
                order[n++] = yd[i];
            }
            sizes[(*n_batches)++] = y->shape[0];
        }
        dc_scope_end(m);
        if (rc != 1) break;
    }
    CHECK(rc == 0 && x == NULL && y == NULL);
    return n;
}

TEST(test_data_loader_covers_each_sample_once_per_epoch)
{
    dc_dataset *ds = counting_dataset(10);
    REQUIRE(ds);
    int64_t order[3][16], sizes[16], nb;
    dc_loader *l = dc_loader_new(ds, 3, true, false, 42);
    REQUIRE(l);
    CHECK(dc_loader_num_batches(l) == 4);
    for (int e = 0; e < 3; e++) {
        CHECK(dc_loader_epoch(l) == e);
        int64_t n = run_epoch(l, order[e], sizes, &nb);
        CHECK(n == 10 && nb == 4 && sizes[0] == 3 && sizes[3] == 1);
        bool seen[10] = {false};
        for (int i = 0; i < 10; i++) {
            CHECK(order[e][i] >= 0 && order[e][i] < 10 && !seen[order[e][i]]);
            seen[order[e][i]] = true;
        }
    }
    CHECK(memcmp(order[0], order[1], sizeof order[0]) != 0); /* reshuffled each epoch */
    bool identity = true;
    for (int i = 0; i < 10; i++) identity &= order[0][i] == i;
    CHECK(!identity);

    /* same seed: same orders; resuming at epoch 2 gives epoch 2's order */
    dc_loader *again = dc_loader_new(ds, 3, true, false, 42);
    int64_t o[16];
    run_epoch(again, o, sizes, &nb);
    CHECK(memcmp(o, order[0], sizeof o[0] * 10) == 0);
    dc_loader_set_epoch(again, 2);
    run_epoch(again, o, sizes, &nb);
    CHECK(memcmp(o, order[2], sizeof o[0] * 10) == 0);
    dc_loader_free(again);

    /* another seed: another order; no shuffle: 0..9 */
    dc_loader *other = dc_loader_new(ds, 3, true, false, 43);
    run_epoch(other, o, sizes, &nb);
    CHECK(memcmp(o, order[0], sizeof o[0] * 10) != 0);
    dc_loader_free(other);
    dc_loader *plain = dc_loader_new(ds, 4, false, false, 0);
    run_epoch(plain, o, sizes, &nb);
    for (int i = 0; i < 10; i++) CHECK(o[i] == i);
    CHECK(nb == 3 && sizes[2] == 2);
    dc_loader_free(plain);

    dc_loader_free(l);
    dc_dataset_free(ds);
}

TEST(test_data_loader_drop_last)
{
    dc_dataset *ds = counting_dataset(10);
    dc_loader *l = dc_loader_new(ds, 4, true, true, 7);
    REQUIRE(l);
    CHECK(dc_loader_num_batches(l) == 2);
    int64_t order[16], sizes[16], nb;
    for (int e = 0; e < 2; e++) {
        int64_t n = run_epoch(l, order, sizes, &nb);
        CHECK(n == 8 && nb == 2 && sizes[0] == 4 && sizes[1] == 4);
    }
    dc_loader_free(l);
    CHECK_ERROR(!dc_loader_new(ds, 0, true, true, 7), "batch_size");
    dc_dataset_free(ds);
}

TEST(test_data_loader_batches_belong_to_the_open_scope)
{
    dc_dataset *ds = counting_dataset(10);
    dc_loader *l = dc_loader_new(ds, 5, true, false, 1);
    int64_t live = dc_live_tensors();
    for (int step = 0; step < 6; step++) { /* crosses an epoch boundary */
        size_t m = dc_scope_begin();
        dc_tensor *x, *y;
        int rc = dc_loader_next(l, &x, &y);
        CHECK(rc == (step % 3 == 2 ? 0 : 1)); /* 2 batches, then the end of the epoch */
        dc_scope_end(m);
        CHECK(dc_live_tensors() == live);
    }
    dc_loader_free(l);
    dc_dataset_free(ds);
}

TEST(test_data_split_is_a_seeded_partition)
{
    dc_dataset *ds = counting_dataset(50);
    dc_dataset *train, *val, *train2, *val2;
    REQUIRE(dc_dataset_split(ds, 12, 5, &train, &val) == 0);
    CHECK(dc_dataset_size(train) == 38 && dc_dataset_size(val) == 12);
    int seen[50] = {0};
    const int64_t *a = dc_data(train->targets), *b = dc_data(val->targets);
    for (int i = 0; i < 38; i++) seen[a[i]]++;
    for (int i = 0; i < 12; i++) seen[b[i]]++;
    for (int i = 0; i < 50; i++) CHECK(seen[i] == 1);
    const float *bx = dc_data(val->inputs);
    CHECK(bx[3 * 4 + 1] == (float)(b[4] + 100)); /* rows move with their targets */
    REQUIRE(dc_dataset_split(ds, 12, 5, &train2, &val2) == 0);
    CHECK(memcmp(dc_data(val2->targets), b, 12 * sizeof *b) == 0);
    dc_dataset_free(train2);
    dc_dataset_free(val2);
    REQUIRE(dc_dataset_split(ds, 12, 6, &train2, &val2) == 0);
    CHECK(memcmp(dc_data(val2->targets), b, 12 * sizeof *b) != 0);
    dc_dataset_free(train2);
    dc_dataset_free(val2);
    CHECK_ERROR(dc_dataset_split(ds, 51, 5, &train2, &val2) != 0, "n_val = 51");
    CHECK(train2 == NULL && val2 == NULL);
    dc_dataset_free(train);
    dc_dataset_free(val);
    dc_dataset_free(ds);
}

TEST(test_data_dataset_new_copies_views_and_checks_counts)
{
    dc_tensor *base = dc_arange(DC_F32, 0, 6, 1);
    dc_tensor *t = dc_transpose(dc_reshape(base, DC_SHAPE(2, 3)), 0, 1); /* [3, 2] view */
    dc_dataset *ds = dc_dataset_new(t, dc_arange(DC_I64, 0, 3, 1));
    REQUIRE(ds);
    const float *x = dc_data(ds->inputs);
    CHECK(dc_is_contiguous(ds->inputs) && x[0] == 0 && x[1] == 3 && x[2] == 1 && x[5] == 5);
    dc_dataset_free(ds);
    CHECK_ERROR(!dc_dataset_new(t, dc_arange(DC_I64, 0, 4, 1)), "3 inputs but 4 targets");
    CHECK_ERROR(!dc_dataset_new(NULL, t), "NULL");
}

TEST(test_data_normalize_per_channel)
{
    /* inputs [4, 2, 3]: channel 0 = 0..11 pattern, channel 1 = constant + ramp */
    double v[24];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            v[(i * 2 + 0) * 3 + k] = i * 3 + k;
            v[(i * 2 + 1) * 3 + k] = 10 + 2 * k;
        }
    dc_tensor *x = dc_to_dtype(dc_from_buffer(DC_F64, 3, (int64_t[]){4, 2, 3}, v), DC_F32);
    dc_dataset *ds = dc_dataset_new(x, dc_zeros(DC_I64, DC_SHAPE(4)));
    REQUIRE(ds);
    double mean[4], std[4];
    REQUIRE(dc_dataset_channel_stats(ds, mean, std, 4) == 2);
    CHECK_NEAR(mean[0], 5.5, 1e-9);
    CHECK_NEAR(std[0], sqrt(143.0 / 12.0), 1e-6);
    CHECK_NEAR(mean[1], 12, 1e-9);
    CHECK_NEAR(std[1], sqrt(8.0 / 3.0), 1e-6);
    REQUIRE(dc_dataset_normalize(ds, NULL, NULL) == 0);
    REQUIRE(dc_dataset_channel_stats(ds, mean, std, 4) == 2);
    for (int c = 0; c < 2; c++) {
        CHECK_NEAR(mean[c], 0, 1e-6);
        CHECK_NEAR(std[c], 1, 1e-6);
    }
    /* explicit statistics: (x - m) / s */
    REQUIRE(dc_dataset_normalize(ds, (double[]){1, -1}, (double[]){2, 4}) == 0);
    const float *d = dc_data(ds->inputs);
    CHECK_NEAR(d[0], ((0 - 5.5) / sqrt(143.0 / 12.0) - 1) / 2, 1e-5);
    CHECK_NEAR(d[3], ((10 - 12) / sqrt(8.0 / 3.0) + 1) / 4, 1e-5);
    CHECK_ERROR(dc_dataset_normalize(ds, (double[]){0, 0}, (double[]){1, 0}) != 0, "std");
    CHECK_ERROR(dc_dataset_channel_stats(ds, mean, std, 1) < 0, "2 channels");
    dc_dataset_free(ds);
}

/* ---- Augmentation -------------------------------------------------------------------- */

/* Sample s of inputs [n, 2, H, W]: value 1 + s*1000 + c*100 + y*10 + x (never 0). */
static dc_dataset *image_dataset(int n, int h, int w)
{
    float *v = malloc(sizeof *v * (size_t)(n * 2 * h * w));
    for (int s = 0; s < n; s++)
        for (int c = 0; c < 2; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    v[((s * 2 + c) * h + y) * w + x] = 1 + s * 1000 + c * 100 + y * 10 + x;
    size_t m = dc_scope_begin();
    dc_dataset *ds = dc_dataset_new(dc_from_buffer(DC_F32, 4, (int64_t[]){n, 2, h, w}, v),
                                    dc_arange(DC_I64, 0, n, 1));
    dc_scope_end(m);
    free(v);
    return ds;
}

/* Does out (one sample [2, H, W]) equal sample s cropped at offset (dy, dx) of its
 * pad-padded version, then flipped if flip? */
static bool is_augmented(const float *out, int s, int h, int w, int pad, int dy, int dx, bool flip)
{
    for (int c = 0; c < 2; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + dx - pad, sy = y + dy - pad;
                float want = sy < 0 || sy >= h || sx < 0 || sx >= w
                                 ? 0.0f
                                 : (float)(1 + s * 1000 + c * 100 + sy * 10 + sx);
                if (out[(c * h + y) * w + x] != want) return false;
            }
    return true;
}

/* Runs one epoch with augmentation; counts the samples matching each (dy, dx, flip). */
static void augmented_epoch(dc_loader *l, int h, int w, int pad, int64_t *matches,
                            int64_t *unexplained, float *first_batch)
{
    dc_tensor *x, *y;
    bool first = true;
    for (;;) {
        size_t m = dc_scope_begin();
        if (dc_loader_next(l, &x, &y) != 1) {
            dc_scope_end(m);
            break;
        }
        CHECK(x->ndim == 4 && x->shape[1] == 2 && x->shape[2] == h && x->shape[3] == w);
        const float *xd = dc_data(x);
        const int64_t *yd = dc_data(y);
        if (first && first_batch) memcpy(first_batch, xd, sizeof(float) * (size_t)dc_numel(x));
        first = false;
        for (int64_t i = 0; i < y->shape[0]; i++) {
            bool found = false;
            for (int dy = 0; dy <= 2 * pad && !found; dy++)
                for (int dx = 0; dx <= 2 * pad && !found; dx++)
                    for (int f = 0; f < 2 && !found; f++)
                        if (is_augmented(xd + i * 2 * h * w, (int)yd[i], h, w, pad, dy, dx, f)) {
                            matches[(dy * (2 * pad + 1) + dx) * 2 + f]++;
                            found = true;
                        }
            if (!found) (*unexplained)++;
        }
        dc_scope_end(m);
    }
}

TEST(test_data_augment_flip_keeps_shape_and_mirrors)
{
    dc_dataset *ds = image_dataset(64, 3, 5);
    dc_loader *l = dc_loader_new(ds, 16, true, false, 3);
    REQUIRE(dc_loader_set_augment(l, 0, true) == 0);
    int64_t matches[2] = {0}, unexplained = 0;
    augmented_epoch(l, 3, 5, 0, matches, &unexplained, NULL);
    CHECK(unexplained == 0);
    CHECK(matches[0] + matches[1] == 64);
    CHECK(matches[0] > 16 && matches[1] > 16); /* p = 0.5 of 64: both clearly happen */
    dc_loader_free(l);
    dc_dataset_free(ds);
}

TEST(test_data_augment_random_crop_is_padded_shift_and_reproducible)
{
    const int h = 4, w = 6, pad = 2;
    dc_dataset *ds = image_dataset(200, h, w);
    dc_loader *l = dc_loader_new(ds, 32, true, false, 9);
    REQUIRE(dc_loader_set_augment(l, pad, true) == 0);
    int64_t matches[2 * 25] = {0}, unexplained = 0;
    float *first = malloc(sizeof(float) * 32 * 2 * h * w);
    float *again = malloc(sizeof(float) * 32 * 2 * h * w);
    augmented_epoch(l, h, w, pad, matches, &unexplained, first);
    CHECK(unexplained == 0);
    int used = 0;
    for (int k = 0; k < 50; k++) used += matches[k] > 0;
    CHECK(used >= 30); /* 200 draws over 50 (offset, flip) outcomes */
    /* same seed, same epoch: identical augmented batches; next epoch: different */
    dc_loader *twin = dc_loader_new(ds, 32, true, false, 9);
    dc_loader_set_augment(twin, pad, true);
    int64_t m2[50] = {0}, u2 = 0;
    augmented_epoch(twin, h, w, pad, m2, &u2, again);
    CHECK(memcmp(first, again, sizeof(float) * 32 * 2 * h * w) == 0);
    augmented_epoch(twin, h, w, pad, m2, &u2, again);
    CHECK(memcmp(first, again, sizeof(float) * 32 * 2 * h * w) != 0);
    /* pad larger than the image: still well-formed (possibly all zeros) */
    dc_loader *wide = dc_loader_new(ds, 32, false, false, 1);
    REQUIRE(dc_loader_set_augment(wide, 9, false) == 0);
    dc_tensor *x, *y;
    CHECK(dc_loader_next(wide, &x, &y) == 1 && x->shape[2] == h && x->shape[3] == w);
    CHECK_ERROR(dc_loader_set_augment(wide, -1, false) != 0, "crop_pad");
    dc_loader_free(wide);
    free(first);
    free(again);
    dc_loader_free(twin);
    dc_loader_free(l);
    dc_dataset_free(ds);
}

TEST(test_data_augment_needs_images)
{
    dc_dataset *ds = counting_dataset(4);
    dc_loader *l = dc_loader_new(ds, 2, false, false, 0);
    CHECK_ERROR(dc_loader_set_augment(l, 1, true) != 0, "image inputs");
    dc_loader_free(l);
    dc_dataset_free(ds);
}

/* ---- Tokenizers ----------------------------------------------------------------------- */

static bool round_trips(const dc_tokenizer *tok, const char *text, size_t len)
{
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, text, len, &n);
    if (!ids) return false;
    size_t out_len;
    char *back = dc_tokenizer_decode(tok, ids, n, &out_len);
    bool ok = back && out_len == len && memcmp(back, text, len) == 0;
    free(ids);
    free(back);
    return ok;
}

TEST(test_data_char_tokenizer_round_trip_and_save_load)
{
    const char *text = "hello wörld\n→ naïve ✓ 日本";
    dc_tokenizer *tok = dc_tokenizer_char_build(text, strlen(text));
    REQUIRE(tok);
    /* 18 distinct: \n space a d e h l n o r v w ï ö → ✓ 日 本 (no plain 'i') */
    REQUIRE(dc_tokenizer_vocab_size(tok) == 18);
    size_t l;
    CHECK(dc_tokenizer_token(tok, 0, &l)[0] == '\n' && l == 1);
    CHECK(memcmp(dc_tokenizer_token(tok, 17, &l), "本", 3) == 0 && l == 3); /* sorted */
    CHECK(round_trips(tok, text, strlen(text)));
    CHECK(round_trips(tok, "", 0));
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, "hö", 3, &n);
    REQUIRE(ids);
    CHECK(n == 2 && ids[0] == 5); /* '\n' ' ' 'd' 'e' 'h' */
    free(ids);
    CHECK_ERROR(!dc_tokenizer_encode(tok, "hi", 2, &n), "U+0069 'i' at byte 1");
    CHECK_ERROR(!dc_tokenizer_encode(tok, "h\xff", 2, &n), "invalid UTF-8 at byte 1");
    CHECK_ERROR(!dc_tokenizer_char_build("\xc3\x28", 2), "invalid UTF-8 at byte 0");
    CHECK_ERROR(!dc_tokenizer_decode(tok, (int64_t[]){18}, 1, NULL), "id 18");

    char path[256];
    dc_test_tmp_path(path, sizeof path, "char.tok");
    REQUIRE(dc_tokenizer_save(tok, path) == 0);
    dc_tokenizer *back = dc_tokenizer_load(path);
    REQUIRE(back);
    CHECK(dc_tokenizer_vocab_size(back) == 18 && dc_tokenizer_num_merges(back) == 0);
    for (int64_t i = 0; i < 18; i++) {
        size_t a, b;
        const char *ta = dc_tokenizer_token(tok, i, &a), *tb = dc_tokenizer_token(back, i, &b);
        CHECK(a == b && memcmp(ta, tb, a) == 0);
    }
    remove(path);
    dc_tokenizer_free(back);
    dc_tokenizer_free(tok);
}

static void check_merges(const dc_tokenizer *tok, const int64_t (*want)[2], int n)
{
    CHECK(dc_tokenizer_num_merges(tok) == n);
    CHECK(dc_tokenizer_vocab_size(tok) == 256 + n);
    for (int r = 0; r < n && r < dc_tokenizer_num_merges(tok); r++) {
        int64_t a, b;
        dc_tokenizer_merge(tok, r, &a, &b);
        if (a != want[r][0] || b != want[r][1])
            dc_test_fail(__FILE__, __LINE__, "merge %d is (%lld, %lld), expected (%lld, %lld)", r,
                         (long long)a, (long long)b, (long long)want[r][0], (long long)want[r][1]);
    }
}

TEST(test_data_bpe_learns_the_expected_merges)
{
    /* The textbook example: "aaabdaaabac". aa occurs 4 times -> Z=256 (left to right, so
     * "aaab" -> Z a b); then Za and ab both occur twice: the tie goes to the smaller pair
     * (a, b) -> Y=257; then ZY twice -> 258; then no pair occurs twice: training stops. */
    const char *t1 = "aaabdaaabac";
    dc_tokenizer *tok = dc_tokenizer_bpe_train(t1, strlen(t1), 10);
    REQUIRE(tok);
    check_merges(tok, (const int64_t[][2]){{'a', 'a'}, {'a', 'b'}, {256, 257}}, 3);
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, t1, strlen(t1), &n);
    REQUIRE(ids);
    CHECK(n == 5 && ids[0] == 258 && ids[1] == 'd' && ids[2] == 258 && ids[3] == 'a' &&
          ids[4] == 'c');
    free(ids);
    size_t l;
    CHECK(memcmp(dc_tokenizer_token(tok, 258, &l), "aaab", 4) == 0 && l == 4);
    dc_tokenizer_free(tok);

    /* Words keep their leading space: "the the the" is "the", " the", " the". Counts: th 3,
     * he 3, " t" 2 -> he (the smaller of the tie) = 256, then t+he = 257, then " "+the = 258.
     * No merge crosses a word: "e " never forms. */
    const char *t2 = "the the the";
    tok = dc_tokenizer_bpe_train(t2, strlen(t2), 10);
    REQUIRE(tok);
    check_merges(tok, (const int64_t[][2]){{'h', 'e'}, {'t', 256}, {' ', 257}}, 3);
    ids = dc_tokenizer_encode(tok, "the the", 7, &n);
    CHECK(ids && n == 2 && ids[0] == 257 && ids[1] == 258);
    free(ids);
    /* whitespace runs leave their last space to the next word; newlines stand alone */
    ids = dc_tokenizer_encode(tok, "the  the\n\nthe", 13, &n);
    CHECK(ids && n == 6 && ids[0] == 257 && ids[1] == ' ' && ids[2] == 258 && ids[3] == '\n' &&
          ids[4] == '\n' && ids[5] == 257);
    free(ids);
    dc_tokenizer_free(tok);

    /* n_merges limits training */
    tok = dc_tokenizer_bpe_train(t1, strlen(t1), 1);
    check_merges(tok, (const int64_t[][2]){{'a', 'a'}}, 1);
    dc_tokenizer_free(tok);
    CHECK_ERROR(!dc_tokenizer_bpe_train(t1, strlen(t1), -1), "n_merges");
}

TEST(test_data_bpe_round_trips_any_bytes_and_saves)
{
    const char *text = "Grüße aus Köln! naïve café — the cat sat on the mat, the end.\n"
                       "日本語のテキスト、日本語。 the the the  tabs\tand\r\nCRLF";
    dc_tokenizer *tok = dc_tokenizer_bpe_train(text, strlen(text), 40);
    REQUIRE(tok);
    CHECK(dc_tokenizer_num_merges(tok) > 10);
    CHECK(round_trips(tok, text, strlen(text)));
    /* arbitrary bytes, including NUL and invalid UTF-8, and text unseen in training */
    unsigned char bytes[512];
    for (int i = 0; i < 512; i++) bytes[i] = (unsigned char)((i * 167 + 13) % 256);
    CHECK(round_trips(tok, (const char *)bytes, sizeof bytes));
    CHECK(round_trips(tok, "", 0));
    const char *unseen = "Über den Wolken 🎈 the mat";
    CHECK(round_trips(tok, unseen, strlen(unseen)));

    char path[256];
    dc_test_tmp_path(path, sizeof path, "bpe.tok");
    REQUIRE(dc_tokenizer_save(tok, path) == 0);
    dc_tokenizer *back = dc_tokenizer_load(path);
    REQUIRE(back);
    CHECK(dc_tokenizer_num_merges(back) == dc_tokenizer_num_merges(tok));
    int64_t n1, n2;
    int64_t *a = dc_tokenizer_encode(tok, text, strlen(text), &n1);
    int64_t *b = dc_tokenizer_encode(back, text, strlen(text), &n2);
    CHECK(a && b && n1 == n2 && memcmp(a, b, (size_t)n1 * sizeof *a) == 0);
    CHECK(n1 < (int64_t)strlen(text)); /* merges compress */
    free(a);
    free(b);
    dc_tokenizer_free(back);

    /* malformed files name the file and line */
    const char *bad = "deepc-tokenizer bpe 1\n97 97\n97 300\n";
    dc_test_write_file(path, bad, strlen(bad));
    CHECK_ERROR(!dc_tokenizer_load(path), ":3: expected a merge");
    CHECK_ERROR(!dc_tokenizer_load(path), path);
    dc_test_write_file(path, "hello\n", 6);
    CHECK_ERROR(!dc_tokenizer_load(path), "not a deepc tokenizer file");
    dc_test_write_file(path, "deepc-tokenizer char 1\n61\n41\n", 29);
    CHECK_ERROR(!dc_tokenizer_load(path), ":3:");
    remove(path);
    CHECK_ERROR(!dc_tokenizer_load(path), "cannot open");
    dc_tokenizer_free(tok);
}

TEST(test_data_bpe_trains_100kb_quickly)
{
    size_t len;
    char *text = dc_read_text_file("../assets/brown_sample.txt", &len);
    if (!text) {
        printf("  note: ../assets/brown_sample.txt missing (%s): skipped\n", dc_last_error());
        dc_clear_error();
        return;
    }
    double t0 = now_seconds();
    dc_tokenizer *tok = dc_tokenizer_bpe_train(text, len, 500);
    double t1 = now_seconds();
    REQUIRE(tok);
    CHECK(dc_tokenizer_num_merges(tok) == 500);
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, text, len, &n);
    double t2 = now_seconds();
    REQUIRE(ids);
    printf("  note: BPE on %zu bytes: 500 merges in %.3f s, encoded to %lld tokens in %.3f s\n",
           len, t1 - t0, (long long)n, t2 - t1);
    CHECK(t1 - t0 < 5.0); /* ~0.1 s at -O2; generous for sanitizer builds */
    CHECK(n < (int64_t)len / 2);
    CHECK(round_trips(tok, text, len));
    /* the most frequent English word with its space is learned early */
    int64_t the = -1;
    for (int64_t id = 256; id < 256 + 100; id++) {
        size_t l;
        const char *s = dc_tokenizer_token(tok, id, &l);
        if (l == 4 && memcmp(s, " the", 4) == 0) the = id;
    }
    CHECK(the >= 0);
    free(ids);
    free(text);
    dc_tokenizer_free(tok);
}

/* ---- Language-modelling windows -------------------------------------------------------- */

TEST(test_data_lm_windows_shift_targets_and_split)
{
    int64_t tokens[20];
    for (int i = 0; i < 20; i++) tokens[i] = i;
    dc_dataset *train, *val;
    /* val = last round(0.25 * 20) = 5 tokens; train = 15 tokens -> windows at 0,2,..,10 */
    REQUIRE(dc_lm_windows(tokens, 20, 4, 2, 0.25, &train, &val) == 0);
    CHECK(dc_dataset_size(train) == 6 && dc_dataset_size(val) == 1);
    CHECK(train->inputs->dtype == DC_I64 && train->inputs->ndim == 2 &&
          train->inputs->shape[1] == 4 && train->targets->shape[1] == 4);
    const int64_t *x = dc_data(train->inputs), *y = dc_data(train->targets);
    int bad = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 4; j++)
            bad += x[i * 4 + j] != 2 * i + j || y[i * 4 + j] != 2 * i + j + 1;
    CHECK(bad == 0);
    const int64_t *vx = dc_data(val->inputs), *vy = dc_data(val->targets);
    CHECK(vx[0] == 15 && vx[3] == 18 && vy[3] == 19);
    dc_dataset_free(train);
    dc_dataset_free(val);
    /* no validation part */
    REQUIRE(dc_lm_windows(tokens, 20, 4, 1, 0.0, &train, NULL) == 0);
    CHECK(dc_dataset_size(train) == 16);
    dc_dataset_free(train);
    CHECK_ERROR(dc_lm_windows(tokens, 20, 4, 1, 0.9, &train, &val) != 0, "training part");
    CHECK_ERROR(dc_lm_windows(tokens, 20, 4, 1, 0.2, &train, &val) != 0, "validation part has 4");
    CHECK_ERROR(dc_lm_windows(tokens, 20, 0, 1, 0.2, &train, &val) != 0, "T = 0");
    CHECK_ERROR(dc_lm_windows(tokens, 4, 4, 1, 0.0, &train, NULL) != 0, "fewer than one window");
    CHECK(train == NULL);
}

TEST(test_data_lm_random_batch_is_seeded)
{
    int64_t tokens[100];
    for (int i = 0; i < 100; i++) tokens[i] = 1000 + i;
    dc_rng r1, r2;
    dc_rng_seed(&r1, 11);
    dc_rng_seed(&r2, 11);
    dc_tensor *x1, *y1, *x2, *y2;
    REQUIRE(dc_lm_random_batch(tokens, 100, 8, 16, &r1, &x1, &y1) == 0);
    REQUIRE(dc_lm_random_batch(tokens, 100, 8, 16, &r2, &x2, &y2) == 0);
    const int64_t *a = dc_data(x1), *b = dc_data(y1);
    int bad = 0;
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 16; j++) {
            bad += b[i * 16 + j] != a[i * 16 + j] + 1;
            bad += j > 0 && a[i * 16 + j] != a[i * 16 + j - 1] + 1;
            bad += a[i * 16 + j] < 1000 || b[i * 16 + j] > 1099;
        }
    CHECK(bad == 0);
    CHECK(memcmp(a, dc_data(x2), 8 * 16 * sizeof *a) == 0);
    CHECK_ERROR(dc_lm_random_batch(tokens, 10, 8, 16, &r1, &x1, &y1) != 0, "T + 1");
}
