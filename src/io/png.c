/* Images: PNG files through libpng's simplified API (png_image, libpng >= 1.6), torchvision's
 * make_grid, and drawing boxes and text into float images for the applications' pictures.
 *
 * Float pixels are converted like torchvision.utils.save_image: clamp(x * 255 + 0.5, 0, 255)
 * truncated to a byte (NaN -> 0). Files are written atomically (temp file + rename), like the
 * other writers. Without libpng (libpng-dev not installed) the PNG functions fail with
 * "deepc was built without libpng (install libpng-dev)"; the grid and drawing work anyway. */
#include "../core/internal.h"
#include "deepc/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef DC_HAVE_PNG
#include <png.h>
#endif

/* Shape of an image [H, W] or [C, H, W] with C = 1 or 3, as (c, h, w); -1 with an error. */
static int image_dims(const dc_tensor *t, const char *op, int64_t *c, int64_t *h, int64_t *w)
{
    char buf[96];
    if (t->dtype != DC_F32 && t->dtype != DC_F64 && t->dtype != DC_U8)
        return dc_error("%s: image must be float32, float64 or uint8, got %s", op,
                        dc_dtype_name(t->dtype)), -1;
    bool ok = t->ndim == 2 || (t->ndim == 3 && (t->shape[0] == 1 || t->shape[0] == 3));
    if (!ok)
        return dc_error("%s: image must be [H, W] or [C, H, W] with C = 1 or 3, got %s", op,
                        dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf)), -1;
    *c = t->ndim == 3 ? t->shape[0] : 1;
    *h = t->shape[t->ndim - 2];
    *w = t->shape[t->ndim - 1];
    if (*h < 1 || *w < 1 || *h > 1000000 || *w > 1000000 || *h * *w > ((int64_t)1 << 31))
        return dc_error("%s: image size %lld x %lld is empty or too large for a PNG", op,
                        (long long)*h, (long long)*w), -1;
    return 0;
}

#ifdef DC_HAVE_PNG
static uint8_t to_byte(double v, bool is_u8)
{
    if (is_u8) return (uint8_t)v;
    double s = v * 255.0 + 0.5;
    if (!(s > 0)) return 0; /* also NaN */
    if (s >= 255) return 255;
    return (uint8_t)s;
}

/* Write interleaved 8-bit pixels (c = 1: gray, 3: RGB) to path atomically. */
static int write_pixels(const char *path, const uint8_t *px, int64_t c, int64_t h, int64_t w,
                        const char *op)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return dc_error("%s: cannot create %s: %s", op, tmp, strerror(errno)), -1;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    int ok = png_image_write_to_stdio(&img, f, 0, px, (png_int_32)(c * w), NULL);
    char msg[sizeof img.message + 1];
    snprintf(msg, sizeof msg, "%s", img.message);
    png_image_free(&img);
    bool written = ok && !ferror(f) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    if (fclose(f) != 0 && written) {
        written = false;
        err = errno;
    }
    if (written && rename(tmp, path) != 0) {
        written = false;
        err = errno;
    }
    if (!written) {
        remove(tmp);
        if (!ok) return dc_error("%s: cannot write %s: libpng: %s", op, path, msg), -1;
        return dc_error("%s: cannot write %s: %s", op, path, strerror(err)), -1;
    }
    return 0;
}
#endif

#ifdef DC_HAVE_PNG
/* image [H, W] / [C, H, W] as interleaved 8-bit rows (malloc'ed into *px), or -1. */
static int to_pixels(const dc_tensor *image, int64_t c, int64_t h, int64_t w, uint8_t **px,
                     const char *op)
{
    int64_t n = c * h * w;
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    *px = malloc((size_t)(n ? n : 1));
    if (!v || !*px) {
        free(v);
        free(*px);
        *px = NULL;
        return dc_error("%s: out of memory for a %lld x %lld image", op, (long long)h,
                        (long long)w), -1;
    }
    int rc = dc_to_double_buffer(image, v, n);
    bool is_u8 = image->dtype == DC_U8;
    /* planar [C, H, W] -> interleaved rows */
    for (int64_t k = 0; rc == 0 && k < c; k++)
        for (int64_t i = 0; i < h * w; i++) (*px)[i * c + k] = to_byte(v[k * h * w + i], is_u8);
    free(v);
    if (rc != 0) {
        free(*px);
        *px = NULL;
    }
    return rc;
}
#endif

int dc_png_write(const char *path, const dc_tensor *image)
{
    if (!path) return dc_error("dc_png_write: path is NULL"), -1;
    if (!image) return dc_error("dc_png_write: input 'image' is NULL"), -1;
    int64_t c, h, w;
    if (image_dims(image, "dc_png_write", &c, &h, &w) != 0) return -1;
#ifndef DC_HAVE_PNG
    return dc_error("dc_png_write: deepc was built without libpng (install libpng-dev)"), -1;
#else
    uint8_t *px;
    if (to_pixels(image, c, h, w, &px, "dc_png_write") != 0) return -1;
    int rc = write_pixels(path, px, c, h, w, "dc_png_write");
    free(px);
    return rc;
#endif
}

int dc_png_encode(const dc_tensor *image, unsigned char **data, size_t *size)
{
    if (!data || !size) return dc_error("dc_png_encode: data or size is NULL"), -1;
    *data = NULL;
    *size = 0;
    if (!image) return dc_error("dc_png_encode: input 'image' is NULL"), -1;
    int64_t c, h, w;
    if (image_dims(image, "dc_png_encode", &c, &h, &w) != 0) return -1;
#ifndef DC_HAVE_PNG
    return dc_error("dc_png_encode: deepc was built without libpng (install libpng-dev)"), -1;
#else
    uint8_t *px;
    if (to_pixels(image, c, h, w, &px, "dc_png_encode") != 0) return -1;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t n = 0; /* first call: the size, second: the bytes */
    int ok = png_image_write_to_memory(&img, NULL, &n, 0, px, (png_int_32)(c * w), NULL);
    unsigned char *buf = ok ? malloc(n) : NULL;
    if (buf) ok = png_image_write_to_memory(&img, buf, &n, 0, px, (png_int_32)(c * w), NULL);
    char msg[sizeof img.message + 1];
    snprintf(msg, sizeof msg, "%s", img.message);
    png_image_free(&img);
    free(px);
    if (!buf || !ok) {
        free(buf);
        return dc_error(ok ? "dc_png_encode: out of memory" : "dc_png_encode: libpng: %s", msg), -1;
    }
    *data = buf;
    *size = (size_t)n;
    return 0;
#endif
}

dc_tensor *dc_png_read(const char *path)
{
    if (!path) return dc_error("dc_png_read: path is NULL");
#ifndef DC_HAVE_PNG
    return dc_error("dc_png_read: deepc was built without libpng (install libpng-dev)");
#else
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        dc_error("dc_png_read: cannot read %s: %s", path, img.message);
        png_image_free(&img);
        return NULL;
    }
    int64_t c = (img.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    int64_t h = img.height, w = img.width;
    img.format = c == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY; /* alpha is composed away */
    if (h * w > ((int64_t)1 << 31)) {
        png_image_free(&img);
        return dc_error("dc_png_read: %s: image %lld x %lld is too large", path, (long long)h,
                        (long long)w);
    }
    uint8_t *px = malloc((size_t)(c * h * w));
    uint8_t *planar = malloc((size_t)(c * h * w));
    if (!px || !planar) {
        free(px);
        free(planar);
        png_image_free(&img);
        return dc_error("dc_png_read: out of memory for %s", path);
    }
    /* background for composing alpha: black (NULL) */
    if (!png_image_finish_read(&img, NULL, px, (png_int_32)(c * w), NULL)) {
        dc_error("dc_png_read: cannot read %s: %s", path, img.message);
        free(px);
        free(planar);
        png_image_free(&img);
        return NULL;
    }
    png_image_free(&img);
    for (int64_t k = 0; k < c; k++)
        for (int64_t i = 0; i < h * w; i++) planar[k * h * w + i] = px[i * c + k];
    free(px);
    dc_tensor *t = dc_from_buffer(DC_U8, 3, (int64_t[]){c, h, w}, planar);
    free(planar);
    return t;
#endif
}

/* ---- Grids (torchvision.utils.make_grid) -------------------------------------------------- */

dc_tensor *dc_make_grid(const dc_tensor *images, int nrow, int padding, double pad_value)
{
    char buf[96];
    if (!images) return dc_error("dc_make_grid: input 'images' is NULL");
    if (images->ndim != 4 || (images->shape[1] != 1 && images->shape[1] != 3))
        return dc_error("dc_make_grid: images must be [N, C, H, W] with C = 1 or 3, got %s",
                        dc__shape_fmt(images->ndim, images->shape, buf, sizeof buf));
    if (images->dtype != DC_F32 && images->dtype != DC_F64 && images->dtype != DC_U8)
        return dc_error("dc_make_grid: images must be float32, float64 or uint8, got %s",
                        dc_dtype_name(images->dtype));
    int64_t n = images->shape[0], c = images->shape[1], h = images->shape[2],
            w = images->shape[3];
    if (n < 1 || h < 1 || w < 1)
        return dc_error("dc_make_grid: no images to arrange (%s)",
                        dc__shape_fmt(images->ndim, images->shape, buf, sizeof buf));
    if (nrow < 1) return dc_error("dc_make_grid: nrow must be >= 1, got %d", nrow);
    if (padding < 0 || padding > 10000)
        return dc_error("dc_make_grid: padding must be in [0, 10000], got %d", padding);
    if (!isfinite(pad_value)) return dc_error("dc_make_grid: pad_value is not finite");
    /* torchvision: a single image comes back as it is, without padding */
    int64_t xmaps = n < nrow ? n : nrow, ymaps = (n + xmaps - 1) / xmaps;
    int64_t ch = h + padding, cw = w + padding;
    int64_t gh = n == 1 ? h : ymaps * ch + padding, gw = n == 1 ? w : xmaps * cw + padding;
    int64_t pad = n == 1 ? 0 : padding;
    if (gh > 1000000 || gw > 1000000 || gh * gw * c > ((int64_t)1 << 32))
        return dc_error("dc_make_grid: the grid (%lld x %lld) is too large", (long long)gh,
                        (long long)gw);
    double *src = malloc((size_t)(n * c * h * w) * sizeof *src);
    if (!src) return dc_error("dc_make_grid: out of memory");
    if (dc_to_double_buffer(images, src, n * c * h * w) != 0) {
        free(src);
        return NULL;
    }
    dc_dtype dt = images->dtype == DC_U8 ? DC_F32 : images->dtype;
    dc_tensor *grid = dc__alloc_result(dt, 3, (int64_t[]){c, gh, gw});
    if (!grid) {
        free(src);
        return NULL;
    }
    double scale = images->dtype == DC_U8 ? 1.0 / 255.0 : 1.0;
    for (int64_t i = 0; i < c * gh * gw; i++) {
        if (dt == DC_F32) ((float *)dc_data(grid))[i] = (float)pad_value;
        else ((double *)dc_data(grid))[i] = pad_value;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t y0 = (k / xmaps) * ch + pad, x0 = (k % xmaps) * cw + pad;
        for (int64_t ci = 0; ci < c; ci++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t x = 0; x < w; x++) {
                    double v = src[((k * c + ci) * h + y) * w + x] * scale;
                    int64_t o = (ci * gh + y0 + y) * gw + x0 + x;
                    if (dt == DC_F32) ((float *)dc_data(grid))[o] = (float)v;
                    else ((double *)dc_data(grid))[o] = v;
                }
    }
    free(src);
    return dc__publish(grid);
}

int dc_png_write_grid(const char *path, const dc_tensor *images, int nrow, int padding,
                      double pad_value)
{
    size_t scope = dc_scope_begin();
    dc_tensor *grid = dc_make_grid(images, nrow, padding, pad_value);
    int rc = grid ? dc_png_write(path, grid) : -1;
    dc_scope_end(scope);
    return rc;
}

/* ---- Drawing ---------------------------------------------------------------------------------- */

/* img must be a float [3, H, W] (any strides): the pixel pointer writer. */
static int check_canvas(const dc_tensor *img, const char *op)
{
    char buf[96];
    if (!img) return dc_error("%s: input 'img' is NULL", op), -1;
    if (img->ndim != 3 || img->shape[0] != 3 || (img->dtype != DC_F32 && img->dtype != DC_F64))
        return dc_error("%s: img must be a float [3, H, W] image, got %s %s", op,
                        dc__shape_fmt(img->ndim, img->shape, buf, sizeof buf),
                        dc_dtype_name(img->dtype)), -1;
    if (img->requires_grad)
        return dc_error("%s: img requires grad; draw on a detached copy", op), -1;
    return 0;
}

static void put_pixel(dc_tensor *img, int64_t x, int64_t y, const double rgb[3])
{
    if (x < 0 || y < 0 || y >= img->shape[1] || x >= img->shape[2]) return;
    for (int k = 0; k < 3; k++) {
        int64_t o = k * img->stride[0] + y * img->stride[1] + x * img->stride[2];
        if (img->dtype == DC_F32) ((float *)dc_data(img))[o] = (float)rgb[k];
        else ((double *)dc_data(img))[o] = rgb[k];
    }
}

int dc_image_draw_box(dc_tensor *img, double x0, double y0, double x1, double y1, double r,
                      double g, double b)
{
    if (check_canvas(img, "dc_image_draw_box") != 0) return -1;
    if (!isfinite(x0) || !isfinite(y0) || !isfinite(x1) || !isfinite(y1) || x1 < x0 || y1 < y0)
        return dc_error("dc_image_draw_box: box (%g, %g, %g, %g) is not finite or has x1 < x0 "
                        "or y1 < y0", x0, y0, x1, y1), -1;
    double lim = 1e9;
    if (fabs(x0) > lim || fabs(x1) > lim || fabs(y0) > lim || fabs(y1) > lim)
        return dc_error("dc_image_draw_box: box coordinates beyond 1e9"), -1;
    const double rgb[3] = {r, g, b};
    /* the outline of the pixels the box covers: columns floor(x0) .. ceil(x1) - 1 */
    int64_t c0 = (int64_t)floor(x0), r0 = (int64_t)floor(y0);
    int64_t c1 = (int64_t)ceil(x1) - 1, r1 = (int64_t)ceil(y1) - 1;
    if (c1 < c0) c1 = c0;
    if (r1 < r0) r1 = r0;
    int64_t W = img->shape[2], H = img->shape[1];
    for (int64_t x = c0 < 0 ? 0 : c0; x <= c1 && x < W; x++) {
        put_pixel(img, x, r0, rgb);
        put_pixel(img, x, r1, rgb);
    }
    for (int64_t y = r0 < 0 ? 0 : r0; y <= r1 && y < H; y++) {
        put_pixel(img, c0, y, rgb);
        put_pixel(img, c1, y, rgb);
    }
    return 0;
}

/* A 3x5 pixel font: each glyph is 5 rows of 3 bits (bit 2 = left column), top row first. */
static const struct {
    char ch;
    uint8_t rows[5];
} font3x5[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}},
    {'3', {7, 1, 7, 1, 7}}, {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}},
    {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 2, 2}}, {'8', {7, 5, 7, 5, 7}},
    {'9', {7, 5, 7, 1, 7}}, {'A', {2, 5, 7, 5, 5}}, {'B', {6, 5, 6, 5, 6}},
    {'C', {3, 4, 4, 4, 3}}, {'D', {6, 5, 5, 5, 6}}, {'E', {7, 4, 6, 4, 7}},
    {'F', {7, 4, 6, 4, 4}}, {'G', {3, 4, 5, 5, 3}}, {'H', {5, 5, 7, 5, 5}},
    {'I', {7, 2, 2, 2, 7}}, {'J', {1, 1, 1, 5, 2}}, {'K', {5, 5, 6, 5, 5}},
    {'L', {4, 4, 4, 4, 7}}, {'M', {5, 7, 7, 5, 5}}, {'N', {6, 5, 5, 5, 5}},
    {'O', {2, 5, 5, 5, 2}}, {'P', {6, 5, 6, 4, 4}}, {'Q', {2, 5, 5, 6, 3}},
    {'R', {6, 5, 6, 5, 5}}, {'S', {3, 4, 2, 1, 6}}, {'T', {7, 2, 2, 2, 2}},
    {'U', {5, 5, 5, 5, 7}}, {'V', {5, 5, 5, 5, 2}}, {'W', {5, 5, 7, 7, 5}},
    {'X', {5, 5, 2, 5, 5}}, {'Y', {5, 5, 2, 2, 2}}, {'Z', {7, 1, 2, 4, 7}},
    {'.', {0, 0, 0, 0, 2}}, {':', {0, 2, 0, 2, 0}}, {'-', {0, 0, 7, 0, 0}},
    {'%', {5, 1, 2, 4, 5}}, {'/', {1, 1, 2, 4, 4}}, {'=', {0, 7, 0, 7, 0}},
    {'+', {0, 2, 7, 2, 0}}, {'_', {0, 0, 0, 0, 7}}, {'(', {1, 2, 2, 2, 1}},
    {')', {4, 2, 2, 2, 4}}, {' ', {0, 0, 0, 0, 0}},
};

int dc_image_draw_text(dc_tensor *img, int64_t x, int64_t y, const char *text, double r,
                       double g, double b)
{
    if (check_canvas(img, "dc_image_draw_text") != 0) return -1;
    if (!text) return dc_error("dc_image_draw_text: text is NULL"), -1;
    const double rgb[3] = {r, g, b};
    int64_t pen = x;
    for (const char *p = text; *p; p++) {
        char ch = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        int gi = -1;
        for (size_t k = 0; k < sizeof font3x5 / sizeof font3x5[0]; k++)
            if (font3x5[k].ch == ch) gi = (int)k;
        if (gi < 0) {
            /* unknown characters: a filled block, so a missing glyph shows */
            for (int yy = 0; yy < DC_FONT_HEIGHT; yy++)
                for (int xx = 0; xx < 3; xx++) put_pixel(img, pen + xx, y + yy, rgb);
        } else {
            for (int yy = 0; yy < DC_FONT_HEIGHT; yy++)
                for (int xx = 0; xx < 3; xx++)
                    if (font3x5[gi].rows[yy] & (4 >> xx)) put_pixel(img, pen + xx, y + yy, rgb);
        }
        pen += DC_FONT_ADVANCE;
        if (pen > img->shape[2] + 4) break; /* the rest is outside the image */
    }
    return 0;
}
