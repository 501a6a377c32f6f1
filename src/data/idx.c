/* IDX files (the MNIST format, http://yann.lecun.com/exdb/mnist/) and Fashion-MNIST.
 *
 * An IDX file is: a 4-byte magic 0x00 0x00 <element type> <ndim>, then ndim big-endian
 * uint32 dims, then the elements row-major. MNIST-style sets use element type 0x08
 * (unsigned byte): images 0x00000803 with dims [N, H, W], labels 0x00000801 with [N].
 * Files may be gzip-compressed; gzip is detected from the first two bytes (1f 8b), not
 * from the file name, and inflated with zlib when deepc was built with it. */
#include "core/internal.h"
#include "data/data_internal.h"
#include "kernels/kernels.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef DC_HAVE_ZLIB
#include <zlib.h>
#endif

#define IDX_UBYTE 0x08
#define IDX_MAX_BYTES ((int64_t)1 << 40) /* refuse absurd headers before reading anything */

const char *const dc_fashion_mnist_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot",
};

/* ---- A byte stream over a raw or gzip file ------------------------------------------- */

typedef struct {
    const char *path;
    FILE *raw;
    int64_t raw_size; /* bytes in a raw file (-1 if unknown), to check the header against */
#ifdef DC_HAVE_ZLIB
    gzFile gz;
#endif
} idx_stream;

static void stream_close(idx_stream *s)
{
    if (s->raw) fclose(s->raw);
#ifdef DC_HAVE_ZLIB
    if (s->gz) gzclose(s->gz);
#endif
}

static int stream_open(idx_stream *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->raw_size = -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        dc_error("dc_idx_load: cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char sig[2] = {0, 0};
    size_t got = fread(sig, 1, 2, f);
    bool gzipped = got == 2 && sig[0] == 0x1f && sig[1] == 0x8b;
    if (!gzipped) {
        rewind(f);
        s->raw = f;
        struct stat st;
        s->raw_size = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
        return 0;
    }
#ifdef DC_HAVE_ZLIB
    rewind(f);
    int fd = dup(fileno(f));
    fclose(f);
    s->gz = fd >= 0 ? gzdopen(fd, "rb") : NULL;
    if (!s->gz) {
        if (fd >= 0) close(fd);
        dc_error("dc_idx_load: cannot open %s: %s", path, strerror(errno ? errno : ENOMEM));
        return -1;
    }
    gzbuffer(s->gz, 1 << 17);
    return 0;
#else
    fclose(f);
    dc_error("dc_idx_load: %s is gzip-compressed but deepc was built without zlib (install "
             "zlib1g-dev)",
             path);
    return -1;
#endif
}

/* Read up to n bytes; returns the count read (short only at end of file), or -1 on a read
 * or decompression error (error set). */
static int64_t stream_read(idx_stream *s, void *buf, int64_t n)
{
    int64_t done = 0;
    while (done < n) {
        size_t want = (size_t)(n - done < (1 << 30) ? n - done : (1 << 30));
#ifdef DC_HAVE_ZLIB
        if (s->gz) {
            int got = gzread(s->gz, (char *)buf + done, (unsigned)want);
            if (got < 0) {
                int code;
                const char *msg = gzerror(s->gz, &code);
                dc_error("dc_idx_load: %s: corrupt gzip data (%s)", s->path, msg);
                return -1;
            }
            if (got == 0) {
                /* zlib reports a cut-off stream as an error only on the next read */
                int code;
                const char *msg = gzerror(s->gz, &code);
                if (code != Z_OK && code != Z_STREAM_END) {
                    dc_error("dc_idx_load: %s: truncated or corrupt gzip data (%s)", s->path, msg);
                    return -1;
                }
                break;
            }
            done += got;
            continue;
        }
#endif
        size_t got = fread((char *)buf + done, 1, want, s->raw);
        if (got == 0) {
            if (ferror(s->raw)) {
                dc_error("dc_idx_load: cannot read %s: %s", s->path, strerror(errno));
                return -1;
            }
            break;
        }
        done += (int64_t)got;
    }
    return done;
}

/* ---- One IDX ubyte file -------------------------------------------------------------- */

typedef struct {
    int ndim;
    int64_t dims[3];
    uint8_t *data; /* prod(dims) bytes, malloc'ed */
} idx_array;

/* Read an IDX ubyte file that must have `ndim` dims; `what` ("image", "label") is used in
 * messages. Returns 0 or -1 with an error naming the file. */
static int idx_read(const char *path, int ndim, const char *what, idx_array *out)
{
    memset(out, 0, sizeof *out);
    idx_stream s;
    if (stream_open(&s, path) != 0) return -1;
    int rc = -1;
    uint8_t header[4 + 4 * 3];
    int64_t header_len = 4 + 4 * (int64_t)ndim;
    int64_t got = stream_read(&s, header, header_len);
    if (got < 0) goto done;
    uint32_t expected_magic = (IDX_UBYTE << 8) | (uint32_t)ndim;
    if (got < 4) {
        dc_error("dc_idx_load: %s: truncated (%lld bytes, shorter than an IDX header)", path,
                 (long long)got);
        goto done;
    }
    uint32_t magic = (uint32_t)header[0] << 24 | (uint32_t)header[1] << 16 |
                     (uint32_t)header[2] << 8 | header[3];
    if (magic != expected_magic) {
        dc_error("dc_idx_load: %s: bad magic number 0x%08x (expected 0x%08x, an IDX %s file "
                 "of unsigned bytes with %d dims)",
                 path, magic, expected_magic, what, ndim);
        goto done;
    }
    if (got < header_len) {
        dc_error("dc_idx_load: %s: truncated header (%lld of %lld bytes)", path, (long long)got,
                 (long long)header_len);
        goto done;
    }
    /* Each product is checked against IDX_MAX_BYTES before it is formed, so nothing
     * overflows. `per_item` leaves out dims[0]: it bounds the item size even when there are
     * 0 items (the dataset tensor's strides are built from it). */
    int64_t total = 1, per_item = 1;
    char dims_text[64] = "";
    for (int d = 0; d < ndim; d++) {
        const uint8_t *p = header + 4 + 4 * d;
        out->dims[d] = (int64_t)p[0] << 24 | (int64_t)p[1] << 16 | (int64_t)p[2] << 8 | p[3];
        size_t at = strlen(dims_text);
        snprintf(dims_text + at, sizeof dims_text - at, "%s%lld", d ? " x " : "",
                 (long long)out->dims[d]);
    }
    for (int d = 0; d < ndim; d++) {
        if (d > 0 && out->dims[d] == 0) {
            dc_error("dc_idx_load: %s: malformed header (dim %d is 0)", path, d);
            goto done;
        }
        int64_t dim = out->dims[d];
        if ((dim > 0 && total > IDX_MAX_BYTES / dim) ||
            (d > 0 && per_item > IDX_MAX_BYTES / dim)) {
            dc_error("dc_idx_load: %s: malformed header (dims %s: more than 2^40 bytes)", path,
                     dims_text);
            goto done;
        }
        total *= dim;
        if (d > 0) per_item *= dim;
    }
    /* a raw file's size is known: it must be the header plus the declared data exactly */
    if (s.raw_size >= 0 && s.raw_size != header_len + total) {
        if (s.raw_size < header_len + total)
            dc_error("dc_idx_load: %s: truncated (%lld of %lld data bytes)", path,
                     (long long)(s.raw_size - header_len), (long long)total);
        else
            dc_error("dc_idx_load: %s: malformed (bytes after the %lld declared in the header)",
                     path, (long long)total);
        goto done;
    }
    out->ndim = ndim;
    /* A raw file was just checked to hold exactly the declared bytes: one allocation. A
     * gzip stream's size is unknown until read: grow the buffer as data arrives (from
     * 64 KB, doubling), so a lying header cannot make us allocate much more than the file
     * holds (nor a small fuzzed input cost a 16 MB allocation). */
    int64_t cap = s.raw_size >= 0 || total < (1 << 16) ? total : (1 << 16), have = 0;
    out->data = malloc((size_t)(cap ? cap : 1));
    if (!out->data) {
        dc_error("dc_idx_load: %s: out of memory", path);
        goto done;
    }
    for (;;) {
        int64_t n = stream_read(&s, out->data + have, cap - have);
        if (n < 0) goto done;
        have += n;
        if (have < cap || cap == total) break;
        int64_t grown_cap = cap * 2 < total ? cap * 2 : total;
        uint8_t *grown = realloc(out->data, (size_t)grown_cap);
        if (!grown) {
            dc_error("dc_idx_load: %s: out of memory", path);
            goto done;
        }
        out->data = grown;
        cap = grown_cap;
    }
    if (have < total) {
        dc_error("dc_idx_load: %s: truncated (%lld of %lld data bytes)", path, (long long)have,
                 (long long)total);
        goto done;
    }
    uint8_t extra;
    int64_t more = stream_read(&s, &extra, 1);
    if (more < 0) goto done;
    if (more > 0) {
        dc_error("dc_idx_load: %s: malformed (bytes after the %lld declared in the header)", path,
                 (long long)total);
        goto done;
    }
    rc = 0;
done:
    stream_close(&s);
    if (rc != 0) {
        free(out->data);
        out->data = NULL;
    }
    return rc;
}

/* ---- Images + labels -> dataset -------------------------------------------------------- */

typedef struct {
    const uint8_t *src;
    float *dst;
} scale_job;

/* x = pixel / 255 (a true division, the exact float torchvision's ToTensor gives) */
static void scale_pixels(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const scale_job *j = ctx;
    for (int64_t i = begin; i < end; i++) j->dst[i] = (float)j->src[i] / 255.0f;
}

dc_dataset *dc_idx_load(const char *images_path, const char *labels_path)
{
    if (!images_path || !labels_path) return dc_error("dc_idx_load: a path is NULL");
    idx_array images, labels;
    if (idx_read(images_path, 3, "image", &images) != 0) return NULL;
    if (idx_read(labels_path, 1, "label", &labels) != 0) {
        free(images.data);
        return NULL;
    }
    dc_dataset *ds = NULL;
    int64_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
    if (labels.dims[0] != n) {
        dc_error("dc_idx_load: %s has %lld images but %s has %lld labels", images_path,
                 (long long)n, labels_path, (long long)labels.dims[0]);
        goto done;
    }
    dc_tensor *x = dc__alloc_result(DC_F32, 4, (int64_t[]){n, 1, h, w});
    dc_tensor *y = x ? dc__alloc_result(DC_I64, 1, &n) : NULL;
    if (!y) {
        dc_tensor_free(x);
        goto done;
    }
    scale_job job = {images.data, dc_data(x)};
    dc_parallel_for(n * h * w, 1 << 16, scale_pixels, &job);
    int64_t *label = dc_data(y), max_label = 0;
    for (int64_t i = 0; i < n; i++) {
        label[i] = labels.data[i];
        if (label[i] > max_label) max_label = label[i];
    }
    ds = dc__dataset_adopt(x, y);
    if (ds) ds->n_classes = (int)max_label + 1;
done:
    free(images.data);
    free(labels.data);
    return ds;
}

/* dir/name.gz if it exists, else dir/name if that exists, else dir/name.gz (so the error
 * names the file we looked for first). */
static void fashion_path(char *buf, size_t size, const char *dir, const char *name)
{
    snprintf(buf, size, "%s/%s", dir, name);
    char gz[4096];
    snprintf(gz, sizeof gz, "%s.gz", buf);
    if (access(gz, R_OK) == 0 || access(buf, R_OK) != 0) snprintf(buf, size, "%s", gz);
}

dc_dataset *dc_fashion_mnist_load(const char *dir, bool train)
{
    if (!dir) dir = DC_FASHION_MNIST_DIR;
    const char *split = train ? "train" : "t10k";
    char images[4096], labels[4096], name[64];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    fashion_path(images, sizeof images, dir, name);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    fashion_path(labels, sizeof labels, dir, name);
    dc_dataset *ds = dc_idx_load(images, labels);
    if (!ds) return NULL;
    if (ds->n_classes > 10) {
        int max_label = ds->n_classes - 1;
        dc_dataset_free(ds);
        return dc_error("dc_fashion_mnist_load: %s: label %d is not a Fashion-MNIST class "
                        "(0..9)",
                        labels, max_label);
    }
    ds->n_classes = 10;
    ds->class_names = dc_fashion_mnist_classes;
    return ds;
}
