/* Fuzz target: IDX image + label files, raw and gzip-compressed (dc_idx_load).
 *
 * Input layout: byte 0 holds flags, bytes 1-2 the length L of the image file (little-endian,
 * clipped to what is there), then L bytes of the image file and the rest is the label file.
 * Flags: bit 0 / bit 1 gzip the image / label file here before the load (so the fuzzer
 * mutates the IDX inside a valid gzip stream; a file that starts with 1f 8b by itself
 * reaches the gzip reader as it is, corrupt streams included); bit 2 cuts the last byte
 * off each stream compressed here, bit 3 flips a bit of its CRC (a truncated or corrupt
 * stream around valid IDX data). A loaded dataset must be what the files say: inputs
 * [N, 1, H, W] in [0, 1], targets [N] below n_classes. */
#include "fuzz_common.h"

#ifdef DC_HAVE_ZLIB
#include <zlib.h>

/* gzip data[0..size) into *out (malloc'ed); returns its length. A 512-byte window and the
 * smallest memory level keep deflate's state a few KB (the default, ~260 KB per input, made
 * this target spend its time in mmap). */
static size_t gzip(const uint8_t *data, size_t size, int flags, uint8_t **out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    FUZZ_CHECK(deflateInit2(&z, 1, Z_DEFLATED, 9 + 16, 1, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t cap = deflateBound(&z, (uLong)size) + 16;
    *out = malloc(cap);
    FUZZ_CHECK(*out != NULL);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = *out;
    z.avail_out = (uInt)cap;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    size_t len = z.total_out;
    deflateEnd(&z);
    if ((flags & 8) && len >= 8) (*out)[len - 8] ^= 0x10; /* the CRC-32 of the trailer */
    if ((flags & 4) && len > 0) len--;
    return len;
}
#endif

/* The file for one part: as it is, or gzipped here when the flag asks. */
static const char *part_file(int slot, const uint8_t *data, size_t size, bool compress, int flags)
{
#ifdef DC_HAVE_ZLIB
    if (compress) {
        uint8_t *gz;
        size_t len = gzip(data, size, flags, &gz);
        const char *path = fuzz_file(slot, gz, len);
        free(gz);
        return path;
    }
#else
    (void)compress, (void)flags;
#endif
    return fuzz_file(slot, data, size);
}

static void check_dataset(const dc_dataset *ds)
{
    const dc_tensor *x = ds->inputs, *y = ds->targets;
    FUZZ_CHECK(x && y && x->dtype == DC_F32 && y->dtype == DC_I64);
    FUZZ_CHECK(x->ndim == 4 && x->shape[1] == 1 && y->ndim == 1 && y->shape[0] == x->shape[0]);
    FUZZ_CHECK(dc_dataset_size(ds) == x->shape[0] && ds->n_classes >= 1 && ds->n_classes <= 256);
    const float *pixels = dc_data(x);
    for (int64_t i = 0; i < dc_numel(x); i++) FUZZ_CHECK(pixels[i] >= 0.0f && pixels[i] <= 1.0f);
    const int64_t *labels = dc_data(y);
    for (int64_t i = 0; i < y->shape[0]; i++) FUZZ_CHECK(labels[i] >= 0 && labels[i] < ds->n_classes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    int flags = size > 0 ? data[0] : 0;
    size_t images_len = fuzz_u16(data + (size > 0), size > 0 ? size - 1 : 0);
    const uint8_t *rest = data + (size < 3 ? size : 3);
    size_t rest_len = size < 3 ? 0 : size - 3;
    if (images_len > rest_len) images_len = rest_len;
    const char *images = part_file(0, rest, images_len, flags & 1, flags);
    const char *labels = part_file(1, rest + images_len, rest_len - images_len, flags & 2, flags);
    dc_dataset *ds = dc_idx_load(images, labels);
    if (ds) {
        check_dataset(ds);
        dc_dataset_free(ds);
    } else {
        FUZZ_CHECK(dc_last_error()[0] != '\0');
    }
    fuzz_end();
    return 0;
}
