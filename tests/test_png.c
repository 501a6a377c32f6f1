/* Images (src/io/png.c): PNG round trips, torchvision's make_grid layout, drawing boxes and
 * text, and bad arguments. Without libpng the PNG tests check the "built without libpng"
 * error and say they are skipped. */
#include "test.h"

#include <unistd.h>

/* A float [3, 4, 5] image whose channel c, pixel (y, x) is (c * 20 + y * 5 + x) / 59. */
static dc_tensor *ramp_image(void)
{
    float v[60];
    for (int i = 0; i < 60; i++) v[i] = (float)i / 59.0f;
    return dc_from_buffer(DC_F32, 3, (int64_t[]){3, 4, 5}, v);
}

TEST(test_png_write_read_round_trip_rgb_gray_and_u8)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "img.png");
#ifndef DC_HAVE_PNG
    printf("skipped: libpng not installed (test_png_write_read_round_trip_rgb_gray_and_u8)\n");
    CHECK_ERROR(dc_png_write(path, ramp_image()) != 0, "deepc was built without libpng");
    CHECK_ERROR(!dc_png_read(path), "deepc was built without libpng");
#else
    dc_tensor *img = ramp_image();
    REQUIRE(dc_png_write(path, img) == 0);
    dc_tensor *back = dc_png_read(path);
    REQUIRE(back && back->dtype == DC_U8 && back->ndim == 3);
    CHECK(back->shape[0] == 3 && back->shape[1] == 4 && back->shape[2] == 5);
    for (int i = 0; i < 60; i++) {
        int want = (int)((float)i / 59.0f * 255 + 0.5); /* torchvision's save_image rounding */
        EXPECT(((uint8_t *)dc_data(back))[i] == want, "pixel %d: %d, want %d", i,
               ((uint8_t *)dc_data(back))[i], want);
    }
    /* a transposed view (any strides) writes its logical contents */
    dc_tensor *t = dc_transpose(img, 1, 2);
    REQUIRE(dc_png_write(path, t) == 0);
    back = dc_png_read(path);
    REQUIRE(back && back->shape[1] == 5 && back->shape[2] == 4);
    CHECK(((uint8_t *)dc_data(back))[1] == (int)(5.0f / 59.0f * 255 + 0.5)); /* (y 0, x 1) = img (1, 0) */
    /* gray [H, W] float, values clamped; NaN -> 0 */
    dc_tensor *g = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, (double[]){-1, 0.5, 2, NAN});
    REQUIRE(dc_png_write(path, g) == 0);
    back = dc_png_read(path);
    REQUIRE(back && back->shape[0] == 1 && back->shape[1] == 2 && back->shape[2] == 2);
    const uint8_t want_g[4] = {0, 128, 255, 0};
    CHECK(memcmp(dc_data(back), want_g, 4) == 0);
    /* uint8 pixels as they are */
    dc_tensor *u = dc_from_buffer(DC_U8, 3, (int64_t[]){1, 1, 3}, (uint8_t[]){7, 200, 255});
    REQUIRE(dc_png_write(path, u) == 0);
    back = dc_png_read(path);
    REQUIRE(back);
    CHECK(memcmp(dc_data(back), (uint8_t[]){7, 200, 255}, 3) == 0);
    /* no temp file left beside it */
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    remove(path);
#endif
}

TEST(test_png_encode_gives_the_bytes_of_the_written_file)
{
    dc_tensor *img = ramp_image();
    unsigned char *bytes = NULL;
    size_t n = 0;
#ifndef DC_HAVE_PNG
    printf("skipped: libpng not installed (test_png_encode_gives_the_bytes_of_the_written_file)\n");
    CHECK_ERROR(dc_png_encode(img, &bytes, &n) != 0, "deepc was built without libpng");
    CHECK(bytes == NULL && n == 0);
#else
    REQUIRE(dc_png_encode(img, &bytes, &n) == 0);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "encoded.png");
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    CHECK(fwrite(bytes, 1, n, f) == n);
    fclose(f);
    dc_tensor *back = dc_png_read(path); /* the bytes are a PNG of the same pixels */
    REQUIRE(back && back->shape[0] == 3 && back->shape[1] == 4 && back->shape[2] == 5);
    CHECK(((uint8_t *)dc_data(back))[59] == 255);
    remove(path);
    free(bytes);
    CHECK_ERROR(dc_png_encode(dc_zeros(DC_F32, DC_SHAPE(2, 3, 3)), &bytes, &n) != 0, "");
    CHECK(bytes == NULL);
#endif
}

TEST(test_make_grid_matches_torchvision_layout)
{
    /* 3 images 1 x 2 x 2 with values k + 1, nrow 2, padding 1, pad 0.5 -> [1, 7, 7]:
     * torchvision: xmaps = 2, ymaps = 2, cells 3 x 3, image k at (1 + 3 (k / 2), 1 + 3 (k % 2)) */
    float v[12];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++) v[k * 4 + i] = (float)(k + 1);
    dc_tensor *imgs = dc_from_buffer(DC_F32, 4, (int64_t[]){3, 1, 2, 2}, v);
    dc_tensor *g = dc_make_grid(imgs, 2, 1, 0.5);
    REQUIRE(g && g->ndim == 3 && g->shape[0] == 1 && g->shape[1] == 7 && g->shape[2] == 7);
    const float *p = dc_data(g);
    CHECK(p[0] == 0.5f);                   /* the frame */
    CHECK(p[1 * 7 + 1] == 1 && p[2 * 7 + 2] == 1);
    CHECK(p[1 * 7 + 3] == 0.5f);           /* between the cells */
    CHECK(p[1 * 7 + 4] == 2 && p[2 * 7 + 5] == 2);
    CHECK(p[4 * 7 + 1] == 3 && p[5 * 7 + 2] == 3);
    CHECK(p[4 * 7 + 4] == 0.5f);           /* the empty fourth cell */
    CHECK(p[6 * 7 + 6] == 0.5f);
    /* nrow larger than N: one row; a single image comes back unpadded */
    g = dc_make_grid(imgs, 8, 2, 0);
    REQUIRE(g && g->shape[1] == 2 + 2 * 2 && g->shape[2] == 3 * 4 + 2);
    g = dc_make_grid(dc_narrow(imgs, 0, 0, 1), 8, 2, 0);
    REQUIRE(g && g->shape[1] == 2 && g->shape[2] == 2);
    /* uint8 images are scaled to [0, 1] */
    dc_tensor *u8 = dc_full(DC_U8, 4, (int64_t[]){2, 3, 1, 1}, 255);
    g = dc_make_grid(u8, 2, 0, 0);
    REQUIRE(g && g->dtype == DC_F32 && g->shape[0] == 3 && g->shape[2] == 2);
    CHECK_NEAR(dc_item_at(g, (int64_t[]){2, 0, 1}), 1.0, 1e-7);
#ifdef DC_HAVE_PNG
    char path[256];
    dc_test_tmp_path(path, sizeof path, "grid.png");
    REQUIRE(dc_png_write_grid(path, dc_rand(NULL, DC_F32, 4, (int64_t[]){5, 3, 8, 8}), 3, 2, 1.0) == 0);
    dc_tensor *back = dc_png_read(path);
    REQUIRE(back && back->shape[0] == 3 && back->shape[1] == 2 * 10 + 2 && back->shape[2] == 3 * 10 + 2);
    CHECK(((uint8_t *)dc_data(back))[0] == 255);
    remove(path);
#else
    printf("skipped: libpng not installed (dc_png_write_grid part)\n");
#endif
}

TEST(test_draw_box_outline_and_text_pixels)
{
    dc_tensor *img = dc_zeros(DC_F32, 3, (int64_t[]){3, 10, 12});
    REQUIRE(dc_image_draw_box(img, 2, 1, 6, 5, 1, 0.5, 0) == 0);
    /* the outline covers columns 2..5 and rows 1..4 */
    CHECK(dc_item_at(img, (int64_t[]){0, 1, 2}) == 1 && dc_item_at(img, (int64_t[]){1, 1, 2}) == 0.5);
    CHECK(dc_item_at(img, (int64_t[]){0, 4, 5}) == 1 && dc_item_at(img, (int64_t[]){0, 3, 2}) == 1);
    CHECK(dc_item_at(img, (int64_t[]){0, 2, 3}) == 0); /* inside */
    CHECK(dc_item_at(img, (int64_t[]){0, 1, 6}) == 0); /* outside */
    /* clipped at the edges: no write outside, no error */
    REQUIRE(dc_image_draw_box(img, -5, -5, 40, 40, 0, 0, 1) == 0);
    /* text: '1' of the 3x5 font is rows 010 110 010 010 111 */
    dc_tensor *t = dc_zeros(DC_F32, 3, (int64_t[]){3, 7, 9});
    REQUIRE(dc_image_draw_text(t, 1, 1, "1a", 1, 1, 1) == 0);
    CHECK(dc_item_at(t, (int64_t[]){0, 1, 2}) == 1 && dc_item_at(t, (int64_t[]){0, 1, 1}) == 0);
    CHECK(dc_item_at(t, (int64_t[]){0, 5, 1}) == 1 && dc_item_at(t, (int64_t[]){0, 5, 3}) == 1);
    CHECK(dc_item_at(t, (int64_t[]){2, 1, 6}) == 1); /* 'A' top row 010 at x = 5 */
    REQUIRE(dc_image_draw_text(t, -100, 3, "9.99 CAT", 1, 0, 0) == 0);
}

TEST(test_image_functions_reject_bad_shapes_dtypes_and_paths)
{
    dc_tensor *two = dc_zeros(DC_F32, 3, (int64_t[]){2, 4, 4});
    CHECK_ERROR(dc_png_write("/tmp/x.png", two) != 0, "image must be [H, W] or [C, H, W] with C = 1 or 3");
    CHECK_ERROR(dc_png_write("/tmp/x.png", dc_zeros(DC_I64, 2, (int64_t[]){2, 2})) != 0, "got int64");
    CHECK_ERROR(dc_png_write("/tmp/x.png", dc_zeros(DC_F32, 2, (int64_t[]){0, 2})) != 0, "is empty");
    CHECK_ERROR(dc_png_write(NULL, two) != 0, "path is NULL");
    CHECK_ERROR(!dc_make_grid(dc_zeros(DC_F32, 3, (int64_t[]){1, 4, 4}), 2, 1, 0), "[N, C, H, W]");
    CHECK_ERROR(!dc_make_grid(dc_zeros(DC_F32, 4, (int64_t[]){2, 1, 4, 4}), 0, 1, 0), "nrow must be >= 1");
    CHECK_ERROR(!dc_make_grid(dc_zeros(DC_F32, 4, (int64_t[]){2, 1, 4, 4}), 2, -1, 0), "padding");
    CHECK_ERROR(!dc_make_grid(dc_zeros(DC_F32, 4, (int64_t[]){0, 1, 4, 4}), 2, 1, 0), "no images");
    dc_tensor *img = dc_zeros(DC_F32, 3, (int64_t[]){3, 4, 4});
    CHECK_ERROR(dc_image_draw_box(img, 3, 0, 1, 2, 1, 1, 1) != 0, "x1 < x0");
    CHECK_ERROR(dc_image_draw_box(two, 0, 0, 1, 1, 1, 1, 1) != 0, "img must be a float [3, H, W]");
    CHECK_ERROR(dc_image_draw_text(img, 0, 0, NULL, 1, 1, 1) != 0, "text is NULL");
    CHECK(dc_item(dc_sum_all(img)) == 0); /* untouched */
#ifdef DC_HAVE_PNG
    dc_tensor *ok = dc_zeros(DC_F32, 2, (int64_t[]){2, 2});
    CHECK_ERROR(dc_png_write("/nonexistent-dir/x.png", ok) != 0, "cannot create /nonexistent-dir/x.png");
    CHECK_ERROR(!dc_png_read("/nonexistent-dir/x.png"), "dc_png_read: cannot read /nonexistent-dir/x.png");
    char path[256];
    dc_test_tmp_path(path, sizeof path, "notpng");
    REQUIRE(dc_test_write_file(path, "not a png file", 14));
    CHECK_ERROR(!dc_png_read(path), "dc_png_read: cannot read");
    remove(path);
#else
    printf("skipped: libpng not installed (PNG path errors)\n");
#endif
}
