/* Safetensors checkpoints: see include/deepc/io.h for the format and the API.
 *
 * Reading treats the file as untrusted input: every number in the header is range-checked
 * before it is used (header length, shape products with overflow checks, offsets against the
 * data buffer, overlaps), JSON is parsed by jansson with duplicate keys rejected, and the
 * file is mapped read-only so nothing is copied until a tensor is asked for.
 * Writing mirrors the Python library's layout and is atomic (temp file, fsync, rename). */
#include "../core/internal.h"
#include "deepc/io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef DC_HAVE_JANSSON
#include <jansson.h>
#endif

/* Tensor bytes are copied as they are in memory, and the format is little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

#define NO_JANSSON_MSG "deepc was built without jansson (install libjansson-dev)"
/* The Python library's limit: a larger header is a corrupt (or hostile) file. */
#define MAX_HEADER_BYTES 100000000ull

/* ---- Dtypes on disk ------------------------------------------------------------------- */

/* Every dtype we read, with its size and the deepc dtype it becomes in memory. Those that
 * keep their dtype (F32, F64, I64, I32, U8, BOOL) are also the ones we write. */
typedef enum {
    FT_F32, FT_F64, FT_I64, FT_F16, FT_BF16, FT_I32, FT_U8, FT_I8, FT_BOOL, FT_COUNT
} file_dtype;

static const struct {
    const char *name;
    size_t itemsize;
    dc_dtype to;
} file_dtypes[FT_COUNT] = {
    [FT_F32] = {"F32", 4, DC_F32}, [FT_F64] = {"F64", 8, DC_F64},   [FT_I64] = {"I64", 8, DC_I64},
    [FT_F16] = {"F16", 2, DC_F32}, [FT_BF16] = {"BF16", 2, DC_F32}, [FT_I32] = {"I32", 4, DC_I32},
    [FT_U8] = {"U8", 1, DC_U8},    [FT_I8] = {"I8", 1, DC_I64},
    [FT_BOOL] = {"BOOL", 1, DC_BOOL},
};

/* IEEE half -> float: value = (-1)^s * 2^(e-15) * (1 + m/1024), subnormals (e = 0)
 * m * 2^-24, e = 31 is inf/nan. */
static float half_to_float(uint16_t h)
{
    unsigned exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    float v;
    if (exponent == 0) v = ldexpf((float)mantissa, -24);
    else if (exponent == 31) v = mantissa ? NAN : INFINITY;
    else v = ldexpf((float)(mantissa | 0x400), (int)exponent - 25);
    return (h & 0x8000) ? -v : v;
}

/* bfloat16 is the top half of a float32. */
static float bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Decode n elements of file dtype ft from src (unaligned, little-endian) into dst, a
 * contiguous array of file_dtypes[ft].to. */
static void decode(file_dtype ft, const unsigned char *src, int64_t n, void *dst)
{
    switch (ft) {
    case FT_F32:
    case FT_F64:
    case FT_I64:
    case FT_I32:
    case FT_U8: memcpy(dst, src, (size_t)n * file_dtypes[ft].itemsize); return;
    case FT_BOOL: /* a byte per element; anything nonzero is true (masks hold 0/1) */
        for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = src[i] != 0;
        return;
    case FT_F16:
    case FT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            ((float *)dst)[i] = ft == FT_F16 ? half_to_float(h) : bf16_to_float(h);
        }
        return;
    case FT_I8:
        for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i] = (int8_t)src[i];
        return;
    case FT_COUNT: return;
    }
}

/* ---- The open file ---------------------------------------------------------------------- */

typedef struct {
    char *name;
    file_dtype dtype;
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    uint64_t begin, end; /* byte offsets into the data buffer */
} st_entry;

struct dc_safetensors {
    char *path;
    void *map; /* the whole file, read-only */
    size_t map_len;
    const unsigned char *data; /* the data buffer: map + 8 + header length */
    uint64_t data_len;
    int n;
    st_entry *entries; /* sorted by data offset */
    int n_meta;
    char **meta; /* key0, value0, key1, value1, ... */
};

void dc_safetensors_close(dc_safetensors *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++) free(f->entries[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) free(f->meta[i]);
    free(f->entries);
    free(f->meta);
    if (f->map) munmap(f->map, f->map_len);
    free(f->path);
    free(f);
}

int dc_safetensors_count(const dc_safetensors *f) { return f ? f->n : 0; }

const char *dc_safetensors_name(const dc_safetensors *f, int i)
{
    if (!f) return dc_error("dc_safetensors_name: file is NULL");
    if (i < 0 || i >= f->n)
        return dc_error("dc_safetensors_name: index %d out of range for %d tensors in '%s'", i,
                        f->n, f->path);
    return f->entries[i].name;
}

/* Linear search: checkpoints hold hundreds of tensors, and loading reads each once. */
static const st_entry *find_entry(const dc_safetensors *f, const char *name)
{
    for (int i = 0; f && name && i < f->n; i++)
        if (strcmp(f->entries[i].name, name) == 0) return &f->entries[i];
    return NULL;
}

bool dc_safetensors_has(const dc_safetensors *f, const char *name)
{
    return find_entry(f, name) != NULL;
}

const char *dc_safetensors_metadata(const dc_safetensors *f, const char *key)
{
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (strcmp(f->meta[2 * i], key) == 0) return f->meta[2 * i + 1];
    return NULL;
}

const char *dc_safetensors_metadata_key(const dc_safetensors *f, int i)
{
    return f && i >= 0 && i < f->n_meta ? f->meta[2 * i] : NULL;
}

static const st_entry *lookup(const dc_safetensors *f, const char *name, const char *op)
{
    if (!f) return dc_error("%s: file is NULL", op);
    if (!name) return dc_error("%s: tensor name is NULL", op);
    const st_entry *e = find_entry(f, name);
    if (!e) return dc_error("%s: tensor '%s' not found in %s", op, name, f->path);
    return e;
}

/* A new unpublished contiguous tensor holding entry e, in its in-memory dtype. */
static dc_tensor *load_entry(const dc_safetensors *f, const st_entry *e)
{
    dc_tensor *t = dc__alloc_result(file_dtypes[e->dtype].to, e->ndim, e->shape);
    if (!t) return NULL;
    decode(e->dtype, f->data + e->begin, dc_numel(t), dc_data(t));
    return t;
}

dc_tensor *dc_safetensors_get(dc_safetensors *f, const char *name)
{
    const st_entry *e = lookup(f, name, "dc_safetensors_get");
    return e ? dc__publish(load_entry(f, e)) : NULL;
}

int dc_safetensors_read_into(dc_safetensors *f, const char *name, dc_tensor *dst)
{
    const char *op = "dc_safetensors_read_into";
    if (!dst) return dc_error("%s: destination tensor for '%s' is NULL", op, name ? name : "?"), -1;
    const st_entry *e = lookup(f, name, op);
    if (!e) return -1;
    bool same = e->ndim == dst->ndim;
    for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == dst->shape[d];
    if (!same) {
        char want[128], got[128];
        dc_error("%s: tensor '%s' in %s has shape %s, but the destination has shape %s", op,
                 name, f->path, dc__shape_fmt(e->ndim, e->shape, got, sizeof got),
                 dc__shape_fmt(dst->ndim, dst->shape, want, sizeof want));
        return -1;
    }
    if (dst->dtype == file_dtypes[e->dtype].to && dc_is_contiguous(dst)) {
        if (dc_numel(dst) > 0) decode(e->dtype, f->data + e->begin, dc_numel(dst), dc_data(dst));
        return 0;
    }
    /* Other strides or dtype: decode to a temporary, then a strided, converting copy. */
    dc_tensor *tmp = load_entry(f, e);
    if (!tmp) return -1;
    int rc = dc_copy_(dst, tmp);
    dc_tensor_free(tmp);
    return rc;
}

#ifdef DC_HAVE_JANSSON

/* ---- Opening: header validation ----------------------------------------------------------- */

/* Record "dc_safetensors_open: FILE: message"; returns NULL (false where a bool is due). */
static void *open_error(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void *open_error(const char *path, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return dc_error("dc_safetensors_open: %s: %s", path, msg);
}

/* A JSON integer in [0, INT64_MAX], else false. */
static bool get_nonneg_int(const json_t *v, int64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

/* Fill e from the header entry `name: {"dtype", "shape", "data_offsets"}`; false with an
 * error naming the file and the tensor. */
static bool parse_entry(const dc_safetensors *f, const char *name, const json_t *v, st_entry *e)
{
    const char *p = f->path;
    if (!json_is_object(v)) return open_error(p, "tensor '%s': header entry is not an object", name);

    const char *dtype = json_string_value(json_object_get(v, "dtype"));
    if (!dtype) return open_error(p, "tensor '%s': missing or non-string \"dtype\"", name);
    e->dtype = FT_COUNT;
    for (int k = 0; k < FT_COUNT; k++)
        if (strcmp(dtype, file_dtypes[k].name) == 0) e->dtype = (file_dtype)k;
    if (e->dtype == FT_COUNT)
        return open_error(p, "tensor '%s': unknown or unsupported dtype '%.20s'", name, dtype);

    const json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape)) return open_error(p, "tensor '%s': missing \"shape\" array", name);
    if (json_array_size(shape) > DC_MAX_DIMS)
        return open_error(p, "tensor '%s': %zu dims, deepc supports at most %d", name,
                          json_array_size(shape), DC_MAX_DIMS);
    e->ndim = (int)json_array_size(shape);
    /* The product of every dim (a 0 counted as 1, as the strides see it) times itemsize must
     * fit in int64, checked dim by dim so nothing overflows: a 0 dim makes 0 bytes, but
     * [0, 2^62, 4] would still overflow the strides of the tensor built from it. */
    int64_t span = (int64_t)file_dtypes[e->dtype].itemsize;
    bool empty = false;
    for (int d = 0; d < e->ndim; d++) {
        if (!get_nonneg_int(json_array_get(shape, (size_t)d), &e->shape[d]))
            return open_error(p, "tensor '%s': shape entry %d is not a non-negative integer",
                              name, d);
        empty |= e->shape[d] == 0;
        if (__builtin_mul_overflow(span, e->shape[d] > 0 ? e->shape[d] : 1, &span))
            return open_error(p, "tensor '%s': shape is too large", name);
    }
    int64_t nbytes = empty ? 0 : span;

    const json_t *offs = json_object_get(v, "data_offsets");
    int64_t begin, end;
    if (!json_is_array(offs) || json_array_size(offs) != 2 ||
        !get_nonneg_int(json_array_get(offs, 0), &begin) ||
        !get_nonneg_int(json_array_get(offs, 1), &end) || end < begin)
        return open_error(p, "tensor '%s': \"data_offsets\" is not [begin, end] with "
                             "0 <= begin <= end", name);
    if (end - begin != nbytes)
        return open_error(p, "tensor '%s': data_offsets [%lld, %lld] hold %lld bytes, but a %s "
                             "tensor of this shape needs %lld", name, (long long)begin,
                          (long long)end, (long long)(end - begin), dtype, (long long)nbytes);
    if ((uint64_t)end > f->data_len)
        return open_error(p, "tensor '%s': data_offsets [%lld, %lld] go past the end of the "
                             "%llu-byte data buffer (truncated file?)", name, (long long)begin,
                          (long long)end, (unsigned long long)f->data_len);
    e->begin = (uint64_t)begin;
    e->end = (uint64_t)end;
    return true;
}

/* "__metadata__": an object of strings, copied into f->meta. */
static bool parse_metadata(dc_safetensors *f, const json_t *v)
{
    if (!json_is_object(v)) return open_error(f->path, "\"__metadata__\" is not an object");
    f->meta = calloc(2 * json_object_size(v) + 1, sizeof *f->meta);
    if (!f->meta) return dc_error("dc_safetensors_open: out of memory");
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)v, key, value) {
        if (!json_is_string(value))
            return open_error(f->path, "metadata '%s' is not a string", key);
        f->meta[2 * f->n_meta] = strdup(key);
        f->meta[2 * f->n_meta + 1] = strdup(json_string_value(value));
        f->n_meta++;
        if (!f->meta[2 * f->n_meta - 2] || !f->meta[2 * f->n_meta - 1])
            return dc_error("dc_safetensors_open: out of memory");
    }
    return true;
}

static int by_offset(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parse and check the JSON header (f->map, f->data, f->data_len already set). */
static bool parse_header(dc_safetensors *f, const char *header, size_t header_len)
{
    json_error_t jerr;
    json_t *root = json_loadb(header, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return open_error(f->path, "corrupt JSON header: %s (at byte %d)", jerr.text,
                          jerr.position);
    bool ok = true;
    if (!json_is_object(root)) {
        ok = open_error(f->path, "the JSON header is not an object");
        goto done;
    }
    f->entries = calloc(json_object_size(root) + 1, sizeof *f->entries);
    if (!f->entries) {
        ok = dc_error("dc_safetensors_open: out of memory");
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0) {
            ok = parse_metadata(f, value);
        } else {
            st_entry *e = &f->entries[f->n];
            ok = parse_entry(f, key, value, e);
            if (ok && !(e->name = strdup(key))) ok = dc_error("dc_safetensors_open: out of memory");
            if (ok) f->n++;
        }
        if (!ok) goto done;
    }
    /* Tensors in file order; each must start at or after the end of the one before. */
    qsort(f->entries, (size_t)f->n, sizeof *f->entries, by_offset);
    for (int i = 1; i < f->n; i++) {
        const st_entry *prev = &f->entries[i - 1], *e = &f->entries[i];
        if (e->begin < prev->end) {
            ok = open_error(f->path, "tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] "
                                     "and [%llu, %llu])", prev->name, e->name,
                            (unsigned long long)prev->begin, (unsigned long long)prev->end,
                            (unsigned long long)e->begin, (unsigned long long)e->end);
            goto done;
        }
    }
done:
    json_decref(root);
    return ok;
}

dc_safetensors *dc_safetensors_open(const char *path)
{
    if (!path) return dc_error("dc_safetensors_open: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return dc_error("dc_safetensors_open: cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return open_error(path, "not a regular file");
    }
    if (st.st_size < 8) {
        close(fd);
        return open_error(path, "only %lld byte(s): too short for a safetensors file (truncated?)",
                          (long long)st.st_size);
    }
    dc_safetensors *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        close(fd);
        free(f);
        return dc_error("dc_safetensors_open: out of memory");
    }
    f->map_len = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd); /* the mapping keeps the file */
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        dc_safetensors_close(f);
        return open_error(path, "cannot map the file: %s", strerror(map_errno));
    }

    const unsigned char *bytes = f->map;
    uint64_t header_len = 0;
    memcpy(&header_len, bytes, 8);
    if (header_len > MAX_HEADER_BYTES) {
        open_error(path, "header length %llu is over the 100 MB limit (corrupt file?)",
                   (unsigned long long)header_len);
    } else if (header_len > f->map_len - 8) {
        open_error(path, "header length %llu is past the end of the %zu-byte file (truncated?)",
                   (unsigned long long)header_len, f->map_len);
    } else {
        f->data = bytes + 8 + header_len;
        f->data_len = f->map_len - 8 - header_len;
        if (parse_header(f, (const char *)bytes + 8, (size_t)header_len)) return f;
    }
    dc_safetensors_close(f);
    return NULL;
}

/* ---- Saving --------------------------------------------------------------------------------- */

/* The Python library lays data out by descending dtype (its enum order: BOOL, U8, ..., I32,
 * ..., F32, F64, I64) then by name, so 8-byte tensors come first and every tensor stays
 * aligned. */
static int dtype_rank(dc_dtype d)
{
    switch (d) {
    case DC_I64: return 0;
    case DC_F64: return 1;
    case DC_F32: return 2;
    case DC_I32: return 3;
    case DC_U8: return 4;
    default: return 5; /* DC_BOOL */
    }
}

static int by_dtype_then_name(const void *a, const void *b)
{
    const dc_named_tensor *x = a, *y = b;
    int rx = dtype_rank(x->tensor->dtype), ry = dtype_rank(y->tensor->dtype);
    return rx != ry ? rx - ry : strcmp(x->name, y->name);
}

/* Metadata pairs are sorted by key so the same metadata always gives the same bytes. */
static int by_key(const void *a, const void *b)
{
    const char *const *x = *(const char *const *const *)a, *const *y = *(const char *const *const *)b;
    return strcmp(x[0], y[0]);
}

static file_dtype file_dtype_of(dc_dtype d)
{
    switch (d) {
    case DC_F32: return FT_F32;
    case DC_F64: return FT_F64;
    case DC_I32: return FT_I32;
    case DC_U8: return FT_U8;
    case DC_BOOL: return FT_BOOL;
    default: return FT_I64;
    }
}

/* "__metadata__": {key: value, ...} from 2*n_kv strings; false with an error. */
static bool add_metadata(json_t *root, const char *path, const char *const *metadata_kv, int n_kv)
{
    const char *op = "dc_safetensors_save";
    if (n_kv == 0) return true;
    if (!metadata_kv) return dc_error("%s: %s: metadata_kv is NULL but n_kv is %d", op, path, n_kv);
    const char *const **pairs = malloc((size_t)n_kv * sizeof *pairs); /* pairs[k] -> {key, value} */
    json_t *meta = json_object();
    bool ok = pairs && meta && json_object_set(root, "__metadata__", meta) == 0;
    if (!ok) dc_error("%s: %s: out of memory", op, path);
    for (int k = 0; ok && k < n_kv; k++) {
        pairs[k] = &metadata_kv[2 * k];
        if (!pairs[k][0] || !pairs[k][1])
            ok = dc_error("%s: %s: metadata pair %d has a NULL key or value", op, path, k);
    }
    if (ok) qsort(pairs, (size_t)n_kv, sizeof *pairs, by_key);
    for (int k = 0; ok && k < n_kv; k++) {
        if (k > 0 && strcmp(pairs[k][0], pairs[k - 1][0]) == 0)
            ok = dc_error("%s: %s: duplicate metadata key '%s'", op, path, pairs[k][0]);
        else if (json_object_set_new(meta, pairs[k][0], json_string(pairs[k][1])) != 0)
            ok = dc_error("%s: %s: metadata '%s' is not valid UTF-8", op, path, pairs[k][0]);
    }
    json_decref(meta);
    free(pairs);
    return ok;
}

/* Validate the items and build the header text: compact JSON padded with spaces to a multiple
 * of 8. `sorted` receives the items in data order. Returns a malloc'ed string of *header_len
 * bytes, or NULL with an error. */
static char *build_header(const char *path, const dc_named_tensor *items, int n,
                          const char *const *metadata_kv, int n_kv, dc_named_tensor *sorted,
                          size_t *header_len)
{
    const char *op = "dc_safetensors_save";
    for (int i = 0; i < n; i++) {
        const char *name = items[i].name;
        if (!name || !*name) return dc_error("%s: %s: item %d has no name", op, path, i);
        if (strcmp(name, "__metadata__") == 0)
            return dc_error("%s: %s: '__metadata__' is reserved, not a tensor name", op, path);
        if (!items[i].tensor) return dc_error("%s: %s: tensor '%s' is NULL", op, path, name);
        dc_dtype dt = items[i].tensor->dtype;
        if ((unsigned)dt >= DC_DTYPE_COUNT)
            return dc_error("%s: %s: tensor '%s' has dtype %s, which cannot be saved", op, path,
                            name, dc_dtype_name(dt));
        sorted[i] = items[i];
    }
    if (n > 0) qsort(sorted, (size_t)n, sizeof *sorted, by_dtype_then_name);

    json_t *root = json_object();
    if (!root) return dc_error("%s: %s: out of memory", op, path);
    bool ok = add_metadata(root, path, metadata_kv, n_kv);
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const dc_tensor *t = sorted[i].tensor;
        const char *name = sorted[i].name;
        if (json_object_get(root, name)) {
            ok = dc_error("%s: %s: duplicate tensor name '%s'", op, path, name);
            break;
        }
        uint64_t nbytes = (uint64_t)dc_numel(t) * dc_dtype_size(t->dtype);
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++)
            if (json_array_append_new(shape, json_integer(t->shape[d])) != 0) ok = false;
        /* "o" hands shape's reference to the entry */
        json_t *entry = shape && ok ? json_pack("{s:s, s:o, s:[I, I]}", "dtype",
                                                file_dtypes[file_dtype_of(t->dtype)].name,
                                                "shape", shape, "data_offsets", (json_int_t)offset,
                                                (json_int_t)(offset + nbytes))
                                    : NULL;
        if (!entry) {
            if (!shape || !ok) json_decref(shape);
            ok = dc_error("%s: %s: out of memory building the header", op, path);
        } else if (json_object_set_new(root, name, entry) != 0) {
            ok = dc_error("%s: %s: tensor name '%s' is not valid UTF-8", op, path, name);
        }
        offset += nbytes;
    }
    char *json = ok ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    if (!ok) return NULL;
    char *text = NULL;
    if (json) {
        size_t len = strlen(json), padded = (len + 7) / 8 * 8;
        if ((text = malloc(padded + 1))) {
            memcpy(text, json, len);
            memset(text + len, ' ', padded - len);
            text[padded] = '\0';
            *header_len = padded;
        }
        free(json);
    }
    if (!text) dc_error("%s: %s: out of memory building the header", op, path);
    return text;
}

/* Write t's logical row-major contents. 0; -1 on a write error (errno set); -2 if the
 * temporary for a strided tensor could not be made (error recorded). */
static int write_tensor(FILE *fp, const dc_tensor *t)
{
    int64_t n = dc_numel(t);
    if (n == 0) return 0;
    size_t esz = dc_dtype_size(t->dtype);
    if (dc_is_contiguous(t)) return fwrite(dc_data(t), esz, (size_t)n, fp) == (size_t)n ? 0 : -1;
    dc_tensor *tmp = dc__alloc_result(t->dtype, t->ndim, t->shape);
    if (!tmp || dc_copy_(tmp, t) != 0) {
        dc_tensor_free(tmp);
        return -2;
    }
    int rc = fwrite(dc_data(tmp), esz, (size_t)n, fp) == (size_t)n ? 0 : -1;
    dc_tensor_free(tmp);
    return rc;
}

/* fsync the directory holding path, so the rename itself is durable (best effort). */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int dc_safetensors_save(const char *path, const dc_named_tensor *items, int n,
                        const char *const *metadata_kv, int n_kv)
{
    const char *op = "dc_safetensors_save";
    if (!path) return dc_error("%s: path is NULL", op), -1;
    if (n < 0 || n_kv < 0 || (n > 0 && !items))
        return dc_error("%s: %s: bad arguments (n = %d, n_kv = %d, items %s)", op, path, n, n_kv,
                        items ? "set" : "NULL"), -1;
    dc_named_tensor *sorted = malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted) return dc_error("%s: %s: out of memory", op, path), -1;
    size_t header_len = 0;
    char *header = build_header(path, items, n, metadata_kv, n_kv, sorted, &header_len);
    if (!header) {
        free(sorted);
        return -1;
    }

    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    FILE *fp = NULL;
    int rc = -1;
    if (!tmp) {
        dc_error("%s: %s: out of memory", op, path);
        goto out;
    }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0 || !(fp = fdopen(fd, "wb"))) {
        dc_error("%s: cannot create %s: %s", op, tmp, strerror(errno));
        if (fd >= 0) close(fd);
        goto out_unlink;
    }
    uint64_t n_le = header_len; /* little-endian on every supported host */
    bool ok = fwrite(&n_le, 8, 1, fp) == 1 && fwrite(header, 1, header_len, fp) == header_len;
    for (int i = 0; ok && i < n; i++) {
        errno = 0;
        int wrc = write_tensor(fp, sorted[i].tensor);
        if (wrc == -2) goto out_unlink; /* out of memory, already reported */
        ok = wrc == 0;
    }
    if (!ok || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
        dc_error("%s: cannot write %s: %s", op, tmp, strerror(errno ? errno : EIO));
        goto out_unlink;
    }
    int close_rc = fclose(fp);
    fp = NULL;
    if (close_rc != 0) {
        dc_error("%s: cannot write %s: %s", op, tmp, strerror(errno));
        goto out_unlink;
    }
    if (rename(tmp, path) != 0) {
        dc_error("%s: cannot rename %s to %s: %s", op, tmp, path, strerror(errno));
        goto out_unlink;
    }
    sync_parent_dir(path);
    rc = 0;
    goto out;
out_unlink:
    if (fp) fclose(fp);
    unlink(tmp);
out:
    free(tmp);
    free(header);
    free(sorted);
    return rc;
}

#else /* !DC_HAVE_JANSSON */

dc_safetensors *dc_safetensors_open(const char *path)
{
    return dc_error("dc_safetensors_open: %s: " NO_JANSSON_MSG, path ? path : "(NULL)");
}

int dc_safetensors_save(const char *path, const dc_named_tensor *items, int n,
                        const char *const *metadata_kv, int n_kv)
{
    (void)items, (void)n, (void)metadata_kv, (void)n_kv;
    dc_error("dc_safetensors_save: %s: " NO_JANSSON_MSG, path ? path : "(NULL)");
    return -1;
}

#endif
