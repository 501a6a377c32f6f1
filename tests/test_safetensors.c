/* Safetensors checkpoints (include/deepc/io.h).
 *
 * Reference files come from tests/ref/make_safetensors_refs.py (PyTorch 1.13, Debian's
 * python3-torch): tiny_mlp.safetensors is the state_dict of a small MLP with BatchNorm, and
 * safetensors_expected.txt holds every value and the model's eval output. The reverse
 * direction (PyTorch loading a file deepc wrote) is the script's --verify step; here the same
 * property is checked byte for byte: deepc re-saving the torch-written file reproduces it
 * exactly. Corrupt-file tests build files by hand; a small fuzz loop mutates a valid file. */
#include "test.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define TINY_MLP "ref/tiny_mlp.safetensors"
#define DTYPES "ref/dtypes.safetensors"

static bool file_equals(const char *path, const unsigned char *data, size_t len)
{
    size_t n;
    unsigned char *got = dc_test_read_file(path, &n);
    bool same = got && n == len && memcmp(got, data, len) == 0;
    free(got);
    return same;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The temp file save would use for path: "<path>.tmp.<pid>". */
static bool temp_file_left(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    return exists(tmp);
}

/* ---- Expected values from the reference script ------------------------------------------ */

typedef struct {
    char name[64], dtype[8];
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    int64_t numel;
    double *values;
} expected_tensor;

/* Read safetensors_expected.txt: one tensor per line (see the script). Returns the count. */
static int load_expected(expected_tensor *out, int max)
{
    FILE *fp = fopen("ref/safetensors_expected.txt", "r");
    if (!fp) return 0;
    int n = 0, c;
    while ((c = fgetc(fp)) != EOF && c != '\n') {} /* comment line */
    while (n < max && fscanf(fp, "%63s %7s %d", out[n].name, out[n].dtype, &out[n].ndim) == 3) {
        expected_tensor *e = &out[n];
        bool ok = e->ndim >= 0 && e->ndim <= DC_MAX_DIMS;
        for (int d = 0; ok && d < e->ndim; d++) ok = fscanf(fp, "%ld", &e->shape[d]) == 1;
        ok = ok && fscanf(fp, "%ld", &e->numel) == 1 && e->numel >= 0 && e->numel < 100000;
        e->values = ok ? calloc((size_t)e->numel + 1, sizeof *e->values) : NULL;
        for (int64_t i = 0; e->values && i < e->numel; i++)
            if (fscanf(fp, "%lf", &e->values[i]) != 1) ok = false;
        if (!ok || !e->values) {
            free(e->values);
            break;
        }
        n++;
    }
    fclose(fp);
    return n;
}

static void free_expected(expected_tensor *e, int n)
{
    for (int i = 0; i < n; i++) free(e[i].values);
}

static const expected_tensor *find_expected(const expected_tensor *e, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0) return &e[i];
    return NULL;
}

/* In-memory dtype of a file dtype (F16/BF16 -> F32, I8 -> I64, others keep theirs). */
static dc_dtype read_dtype(const char *file_dtype)
{
    if (strcmp(file_dtype, "F64") == 0) return DC_F64;
    if (strcmp(file_dtype, "I32") == 0) return DC_I32;
    if (strcmp(file_dtype, "U8") == 0) return DC_U8;
    if (strcmp(file_dtype, "BOOL") == 0) return DC_BOOL;
    if (file_dtype[0] == 'F' || file_dtype[0] == 'B') return DC_F32;
    return DC_I64;
}

/* t (any dtype) has exactly e's dtype mapping, shape and values. */
static void check_matches_expected(const dc_tensor *t, const expected_tensor *e)
{
    if (!t) {
        dc_test_fail(__FILE__, __LINE__, "tensor '%s' missing: %s", e->name, dc_last_error());
        return;
    }
    bool shape_ok = t->ndim == e->ndim && t->dtype == read_dtype(e->dtype);
    for (int d = 0; shape_ok && d < e->ndim; d++) shape_ok = t->shape[d] == e->shape[d];
    if (!shape_ok) {
        dc_test_fail(__FILE__, __LINE__, "tensor '%s': wrong shape or dtype", e->name);
        return;
    }
    double *got = dc_test_values(t);
    CHECK(got != NULL);
    for (int64_t i = 0; got && i < e->numel; i++) { /* bit-exact: inf, -0.0 included */
        double a = got[i], b = e->values[i];
        if (!(a == b && signbit(a) == signbit(b)) && !(isnan(a) && isnan(b))) {
            dc_test_fail(__FILE__, __LINE__, "tensor '%s' element %lld: %.17g, expected %.17g",
                         e->name, (long long)i, a, b);
            break;
        }
    }
    free(got);
}

#ifdef DC_HAVE_JANSSON

TEST(test_safetensors_reads_torch_state_dict_exactly)
{
    expected_tensor exp[32];
    int n_exp = load_expected(exp, 32);
    REQUIRE(n_exp >= 17);
    dc_safetensors *f = dc_safetensors_open(TINY_MLP);
    REQUIRE(f);
    CHECK(dc_safetensors_count(f) == 10);
    /* file order = data order: I64, then F64, then F32 by name (the Python library's layout) */
    CHECK(strcmp(dc_safetensors_name(f, 0), "3.num_batches_tracked") == 0);
    CHECK(strcmp(dc_safetensors_name(f, 1), "extra.f64") == 0);
    CHECK(strcmp(dc_safetensors_name(f, 2), "0.bias") == 0);
    CHECK_ERROR(dc_safetensors_name(f, 10) == NULL, "out of range");
    CHECK(dc_safetensors_has(f, "2.weight") && !dc_safetensors_has(f, "2.weights"));
    CHECK(strcmp(dc_safetensors_metadata(f, "format"), "pt") == 0);
    CHECK(dc_safetensors_metadata(f, "absent") == NULL);
    int checked = 0;
    for (int i = 0; i < dc_safetensors_count(f); i++) {
        const char *name = dc_safetensors_name(f, i);
        const expected_tensor *e = find_expected(exp, n_exp, name);
        CHECK(e != NULL);
        if (!e) continue;
        check_matches_expected(dc_safetensors_get(f, name), e);
        checked++;
    }
    CHECK(checked == 10);
    dc_tensor *nbt = dc_safetensors_get(f, "3.num_batches_tracked");
    CHECK(nbt && nbt->dtype == DC_I64 && nbt->ndim == 0 && *(int64_t *)dc_data(nbt) == 2);
    dc_safetensors_close(f);
    free_expected(exp, n_exp);
}

TEST(test_safetensors_converts_f16_bf16_and_small_ints)
{
    expected_tensor exp[32];
    int n_exp = load_expected(exp, 32);
    dc_safetensors *f = dc_safetensors_open(DTYPES);
    REQUIRE(f && n_exp > 0);
    const char *names[] = {"half", "bf16", "i32", "u8", "i8", "empty", "scalar"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const expected_tensor *e = find_expected(exp, n_exp, names[i]);
        CHECK(e != NULL);
        if (e) check_matches_expected(dc_safetensors_get(f, names[i]), e);
    }
    /* into a float64 destination: converted once more by read_into */
    dc_tensor *d = dc_zeros(DC_F64, DC_SHAPE(4));
    REQUIRE(dc_safetensors_read_into(f, "i8", d) == 0);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){0}), -128, 0);
    dc_safetensors_close(f);
    free_expected(exp, n_exp);
}

/* y = BN(W2 relu(W1 x + b1) + b2) in eval mode, computed in double from the loaded weights,
 * matches PyTorch's float32 output: the layouts ([out, in], row-major) are right. */
TEST(test_safetensors_torch_mlp_weights_give_torch_output)
{
    expected_tensor exp[32];
    int n_exp = load_expected(exp, 32);
    const expected_tensor *x = find_expected(exp, n_exp, "input"),
                          *y = find_expected(exp, n_exp, "output");
    REQUIRE(x && y);
    dc_safetensors *f = dc_safetensors_open(TINY_MLP);
    REQUIRE(f);
    /* parameters as a model would hold them (float32 leaves that require grad), W1 read into
     * a transposed (strided) view to exercise read_into's general path */
    dc_tensor *w1 = dc_transpose(dc_zeros(DC_F32, DC_SHAPE(4, 6)), 0, 1);
    dc_tensor *b1 = dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(6)), true);
    dc_tensor *w2 = dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(3, 6)), true);
    dc_tensor *b2 = dc_zeros(DC_F32, DC_SHAPE(3)), *g = dc_zeros(DC_F32, DC_SHAPE(3));
    dc_tensor *beta = dc_zeros(DC_F32, DC_SHAPE(3)), *rm = dc_zeros(DC_F32, DC_SHAPE(3));
    dc_tensor *rv = dc_zeros(DC_F64, DC_SHAPE(3)); /* F32 in the file: converted */
    REQUIRE(w1 && b1 && w2 && b2 && g && beta && rm && rv);
    CHECK(dc_safetensors_read_into(f, "0.weight", w1) == 0);
    CHECK(dc_safetensors_read_into(f, "0.bias", b1) == 0);
    CHECK(dc_safetensors_read_into(f, "2.weight", w2) == 0);
    CHECK(dc_safetensors_read_into(f, "2.bias", b2) == 0);
    CHECK(dc_safetensors_read_into(f, "3.weight", g) == 0);
    CHECK(dc_safetensors_read_into(f, "3.bias", beta) == 0);
    CHECK(dc_safetensors_read_into(f, "3.running_mean", rm) == 0);
    CHECK(dc_safetensors_read_into(f, "3.running_var", rv) == 0);
    dc_safetensors_close(f);
    double *W1 = dc_test_values(w1), *B1 = dc_test_values(b1), *W2 = dc_test_values(w2),
           *B2 = dc_test_values(b2), *G = dc_test_values(g), *BETA = dc_test_values(beta),
           *RM = dc_test_values(rm), *RV = dc_test_values(rv);
    double out[15];
    for (int s = 0; s < 5 && W1 && B1 && W2 && B2 && G && BETA && RM && RV; s++) {
        double h[6];
        for (int j = 0; j < 6; j++) {
            h[j] = B1[j];
            for (int k = 0; k < 4; k++) h[j] += W1[j * 4 + k] * x->values[s * 4 + k];
            h[j] = h[j] > 0 ? h[j] : 0;
        }
        for (int o = 0; o < 3; o++) {
            double z = B2[o];
            for (int j = 0; j < 6; j++) z += W2[o * 6 + j] * h[j];
            out[s * 3 + o] = (z - RM[o]) / sqrt(RV[o] + 1e-5) * G[o] + BETA[o];
        }
    }
    CHECK_ALLCLOSE("mlp output", out, y->values, 15, 1e-5, 1e-6);
    free(W1), free(B1), free(W2), free(B2), free(G), free(BETA), free(RM), free(RV);
    free_expected(exp, n_exp);
}

/* deepc reads the torch-written file and writes it again: the bytes are identical, so the
 * header order, padding and data layout are those of the Python library. With
 * DEEPC_SAFETENSORS_OUT=FILE the copy is kept for `make_safetensors_refs.py --verify FILE`. */
TEST(test_safetensors_resave_of_torch_file_is_byte_identical)
{
    char buf[256];
    const char *keep = getenv("DEEPC_SAFETENSORS_OUT");
    const char *path = keep ? keep : dc_test_tmp_path(buf, sizeof buf, "resave");
    dc_safetensors *f = dc_safetensors_open(TINY_MLP);
    REQUIRE(f);
    int n = dc_safetensors_count(f);
    dc_named_tensor items[16];
    REQUIRE(n <= 16);
    for (int i = 0; i < n; i++) {
        /* reversed, so the writer's sort is exercised */
        items[n - 1 - i].name = dc_safetensors_name(f, i);
        items[n - 1 - i].tensor = dc_safetensors_get(f, dc_safetensors_name(f, i));
    }
    const char *meta[] = {"source", dc_safetensors_metadata(f, "source"), "format", "pt"};
    CHECK(dc_safetensors_save(path, items, n, meta, 2) == 0);
    dc_safetensors_close(f);
    size_t len;
    unsigned char *ref = dc_test_read_file(TINY_MLP, &len);
    REQUIRE(ref);
    CHECK(file_equals(path, ref, len));
    free(ref);
    if (!keep) remove(path);
}

TEST(test_safetensors_roundtrip_strided_views_and_all_dtypes)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "roundtrip");
    dc_tensor *base = dc_reshape(dc_arange(DC_F32, 0, 24, 1), DC_SHAPE(2, 3, 4));
    dc_tensor *permuted = dc_permute(base, (int[]){2, 0, 1});             /* [4, 2, 3] */
    dc_tensor *stepped = dc_slice(base, 2, 1, 4, 2);                      /* [2, 3, 2] */
    dc_tensor *expanded = dc_expand(dc_arange(DC_F64, 0, 3, 1), DC_SHAPE(2, 3)); /* stride 0 */
    dc_tensor *f64 = dc_randn(NULL, DC_F64, DC_SHAPE(3, 5));
    dc_tensor *i64 = dc_zeros(DC_I64, DC_SHAPE(3));
    dc_tensor *scalar = dc_scalar(DC_F32, -1.5);
    dc_tensor *empty = dc_zeros(DC_F32, DC_SHAPE(0, 7));
    REQUIRE(permuted && stepped && expanded && f64 && i64 && scalar && empty);
    int64_t big[3] = {(INT64_C(1) << 62) + 1, -7, INT64_MIN}; /* not representable as double */
    memcpy(dc_data(i64), big, sizeof big);
    dc_named_tensor items[] = {{"permuted", permuted}, {"stepped", stepped},
                               {"expanded", expanded}, {"f64", f64},
                               {"ids", i64}, {"scalar", scalar}, {"empty", empty}};
    const int n = (int)(sizeof items / sizeof *items);
    const char *meta[] = {"epoch", "3", "note", "ünïcode ✓"};
    REQUIRE(dc_safetensors_save(path, items, n, meta, 2) == 0);
    CHECK(!temp_file_left(path));

    size_t len;
    unsigned char *raw = dc_test_read_file(path, &len);
    REQUIRE(raw && len > 8);
    uint64_t header_len;
    memcpy(&header_len, raw, 8);
    CHECK(header_len % 8 == 0 && 8 + header_len <= len);
    CHECK(memcmp(raw + 8, "{\"__metadata__\":{\"epoch\":\"3\",\"note\":", 36) == 0);
    free(raw);

    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f);
    CHECK(dc_safetensors_count(f) == n);
    CHECK(strcmp(dc_safetensors_name(f, 0), "ids") == 0); /* I64 first, then F64 */
    CHECK(strcmp(dc_safetensors_metadata(f, "note"), "ünïcode ✓") == 0);
    for (int i = 0; i < n; i++) {
        const dc_tensor *want = items[i].tensor;
        dc_tensor *got = dc_safetensors_get(f, items[i].name);
        REQUIRE(got);
        CHECK(dc_is_contiguous(got) && dc_same_shape(got, want) && got->dtype == want->dtype);
        if (want->dtype == DC_I64) {
            CHECK(memcmp(dc_data(got), big, sizeof big) == 0);
            continue;
        }
        double *a = dc_test_values(got), *b = dc_test_values(want);
        if (a && b) CHECK_ALLCLOSE(items[i].name, a, b, dc_numel(want), 0, 0);
        free(a), free(b);
    }
    /* read_into a strided float64 destination converts and honours its strides */
    dc_tensor *dst = dc_zeros(DC_F64, DC_SHAPE(2, 3, 4));
    dc_tensor *dst_view = dc_permute(dst, (int[]){2, 0, 1});
    REQUIRE(dc_safetensors_read_into(f, "permuted", dst_view) == 0);
    double *d = dc_test_values(dst), *b = dc_test_values(base);
    if (d && b) CHECK_ALLCLOSE("read_into view", d, b, 24, 0, 0);
    free(d), free(b);
    dc_safetensors_close(f);
    remove(path);
}

TEST(test_safetensors_failed_save_leaves_old_file_intact)
{
    char path[256], dir[256];
    dc_test_tmp_path(path, sizeof path, "atomic");
    dc_tensor *w = dc_ones(DC_F32, DC_SHAPE(2, 3));
    dc_tensor *wt = dc_transpose(dc_ones(DC_F32, DC_SHAPE(4, 5)), 0, 1); /* needs a copy */
    REQUIRE(w && wt);
    dc_named_tensor good[] = {{"w", w}};
    REQUIRE(dc_safetensors_save(path, good, 1, NULL, 0) == 0);
    size_t len;
    unsigned char *before = dc_test_read_file(path, &len);
    REQUIRE(before);

    dc_named_tensor null_tensor[] = {{"w", w}, {"layer.bias", NULL}};
    CHECK_ERROR(dc_safetensors_save(path, null_tensor, 2, NULL, 0) != 0, "'layer.bias' is NULL");
    dc_named_tensor dup[] = {{"w", w}, {"v", wt}, {"w", wt}};
    CHECK_ERROR(dc_safetensors_save(path, dup, 3, NULL, 0) != 0, "duplicate tensor name 'w'");
    dc_named_tensor reserved[] = {{"__metadata__", w}};
    CHECK_ERROR(dc_safetensors_save(path, reserved, 1, NULL, 0) != 0, "reserved");
    const char *dup_meta[] = {"k", "1", "k", "2"};
    CHECK_ERROR(dc_safetensors_save(path, good, 1, dup_meta, 2) != 0, "duplicate metadata key");
    CHECK_ERROR(dc_safetensors_save(path, good, 1, NULL, 1) != 0, "metadata_kv is NULL");
    /* a failure after the temp file was created: the copy of the strided tensor fails */
    dc_named_tensor strided[] = {{"w", w}, {"wt", wt}};
    dc_debug_fail_alloc_after(1);
    CHECK_ERROR(dc_safetensors_save(path, strided, 2, NULL, 0) != 0, "out of memory");
    dc_debug_fail_alloc_after(0);
    CHECK(file_equals(path, before, len) && !temp_file_left(path));

    /* the rename fails: the target is a directory */
    dc_test_tmp_path(dir, sizeof dir, "atomic_dir");
    REQUIRE(mkdir(dir, 0700) == 0);
    CHECK_ERROR(dc_safetensors_save(dir, good, 1, NULL, 0) != 0, "cannot rename");
    CHECK(!temp_file_left(dir));
    rmdir(dir);
    /* the directory does not exist: the OS error is in the message */
    CHECK_ERROR(dc_safetensors_save("/nonexistent_deepc_dir/x.safetensors", good, 1, NULL, 0) != 0,
                strerror(ENOENT));

    CHECK(file_equals(path, before, len) && !temp_file_left(path));
    free(before);
    remove(path);
}

TEST(test_safetensors_missing_name_and_wrong_shape_are_errors)
{
    dc_safetensors *f = dc_safetensors_open(TINY_MLP);
    REQUIRE(f);
    CHECK_ERROR(dc_safetensors_get(f, "4.weight") == NULL,
                "tensor '4.weight' not found in " TINY_MLP);
    dc_tensor *dst = dc_full(DC_F32, DC_SHAPE(4, 6), 7.0);
    CHECK_ERROR(dc_safetensors_read_into(f, "0.weight", dst) != 0,
                "'0.weight' in " TINY_MLP " has shape [6, 4], but the destination has shape [4, 6]");
    CHECK_ERROR(dc_safetensors_read_into(f, "nope", dst) != 0, "'nope' not found");
    double *v = dc_test_values(dst);
    for (int i = 0; v && i < 24; i++) CHECK(v[i] == 7.0); /* untouched */
    free(v);
    dc_safetensors_close(f);
    CHECK_ERROR(dc_safetensors_open("ref/no_such_file.safetensors") == NULL, strerror(ENOENT));
    CHECK_ERROR(dc_safetensors_open("ref") == NULL, "not a regular file");
    CHECK_ERROR(dc_safetensors_open(NULL) == NULL, "path is NULL");
}

/* Write a file whose 8-byte length is header_len_field, then `header`, then data_len zero
 * bytes; open it and expect an error containing each fragment (NULL-terminated). */
static void expect_open_error(const char *header, uint64_t header_len_field, size_t data_len,
                              const char *const *fragments, int line)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "corrupt");
    size_t hl = strlen(header);
    unsigned char *buf = calloc(8 + hl + data_len, 1);
    if (!buf) return;
    memcpy(buf, &header_len_field, 8);
    memcpy(buf + 8, header, hl);
    bool written = dc_test_write_file(path, buf, 8 + hl + data_len);
    free(buf);
    if (!written) {
        dc_test_fail(__FILE__, line, "cannot write %s", path);
        return;
    }
    dc_clear_error();
    dc_safetensors *f = dc_safetensors_open(path);
    if (f) {
        dc_test_fail(__FILE__, line, "corrupt header opened: %s", header);
        dc_safetensors_close(f);
    }
    for (int i = 0; fragments[i]; i++)
        if (!strstr(dc_last_error(), fragments[i]))
            dc_test_fail(__FILE__, line, "error '%s' lacks '%s'", dc_last_error(), fragments[i]);
    if (!strstr(dc_last_error(), path))
        dc_test_fail(__FILE__, line, "error '%s' does not name the file", dc_last_error());
    dc_clear_error();
    remove(path);
}

#define EXPECT_OPEN_ERROR(header, data_len, ...)                                               \
    expect_open_error((header), strlen(header), (data_len),                                    \
                      (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

TEST(test_safetensors_rejects_corrupt_headers)
{
    EXPECT_OPEN_ERROR("{\"a\": {\"dtype\": \"F32\", ", 0, "corrupt JSON");
    EXPECT_OPEN_ERROR("[1, 2]", 0, "not an object");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                      "tensor 'a'", "past the end", "truncated");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                      "'a' and 'b' overlap");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2,
                      "tensor 'a'", "unknown or unsupported dtype 'F8_E4M3'");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12,
                      "tensor 'a'", "needs 12");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                      "tensor 'a'", "shape entry 0");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4,
                      "shape entry 0");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                      "\"data_offsets\":[0,4]}}", 4, "9 dims");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                      "\"data_offsets\":[0,4]}}", 4, "shape is too large");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                      "\"data_offsets\" is not [begin, end]");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    EXPECT_OPEN_ERROR("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\"");
    EXPECT_OPEN_ERROR("{\"a\":7}", 0, "tensor 'a'", "not an object");
    EXPECT_OPEN_ERROR("{\"__metadata__\":{\"k\":1}}", 0, "metadata 'k' is not a string");
    EXPECT_OPEN_ERROR("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                      "duplicate");
    /* header lengths that do not fit */
    const char *const huge[] = {"over the 100 MB limit", NULL};
    expect_open_error("{}", UINT64_C(1) << 40, 0, huge, __LINE__);
    const char *const past[] = {"past the end of the", NULL};
    expect_open_error("{}", 1000, 10, past, __LINE__);
    const char *const tiny[] = {"too short", NULL};
    expect_open_error("", 0, 0, (const char *const[]){NULL}, __LINE__); /* empty JSON */
    char path[256];
    dc_test_tmp_path(path, sizeof path, "short");
    REQUIRE(dc_test_write_file(path, "\x02\0\0", 3));
    dc_clear_error();
    CHECK(dc_safetensors_open(path) == NULL && strstr(dc_last_error(), tiny[0]));
    dc_clear_error();
    remove(path);
}

TEST(test_safetensors_truncated_file_names_the_tensor)
{
    size_t len;
    unsigned char *ref = dc_test_read_file(TINY_MLP, &len);
    REQUIRE(ref);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "truncated");
    /* cut 10 bytes: the last tensor in the file (3.weight, F32 [3]) no longer fits */
    REQUIRE(dc_test_write_file(path, ref, len - 10));
    CHECK_ERROR(dc_safetensors_open(path) == NULL, "tensor '3.weight'");
    REQUIRE(dc_test_write_file(path, ref, 200)); /* inside the header */
    CHECK_ERROR(dc_safetensors_open(path) == NULL, "truncated");
    free(ref);
    remove(path);
}

/* Random truncations, byte flips and overwritten length fields of a valid file: open either
 * fails with a message or yields a file whose tensors all read; never a crash or a leak. */
TEST(test_safetensors_fuzzed_files_never_crash)
{
    size_t len;
    unsigned char *ref = dc_test_read_file(TINY_MLP, &len);
    REQUIRE(ref);
    unsigned char *buf = malloc(len);
    REQUIRE(buf);
    uint64_t header_len;
    memcpy(&header_len, ref, 8);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "fuzz");
    dc_rng rng;
    dc_rng_seed(&rng, 1234);
    int opened = 0, rejected = 0;
    for (int iter = 0; iter < 400; iter++) {
        memcpy(buf, ref, len);
        size_t n = len;
        switch (dc_rng_u64(&rng) % 4) {
        case 0: n = dc_rng_u64(&rng) % len; break;       /* truncate anywhere */
        case 1:                                          /* flip bytes in the header */
            for (int k = 0, flips = 1 + (int)(dc_rng_u64(&rng) % 4); k < flips; k++)
                buf[8 + dc_rng_u64(&rng) % header_len] ^= (unsigned char)(1u << (dc_rng_u64(&rng) % 8));
            break;
        case 2:                                          /* replace header bytes by JSON-ish ones */
            for (int k = 0, edits = 1 + (int)(dc_rng_u64(&rng) % 3); k < edits; k++)
                buf[8 + dc_rng_u64(&rng) % header_len] = (unsigned char)"{}[],:\"0129-eE. \\"[dc_rng_u64(&rng) % 17];
            break;
        default:                                         /* corrupt the length field */
            buf[dc_rng_u64(&rng) % 8] = (unsigned char)dc_rng_u64(&rng);
            break;
        }
        REQUIRE(dc_test_write_file(path, buf, n));
        size_t marker = dc_scope_begin();
        dc_clear_error();
        dc_safetensors *f = dc_safetensors_open(path);
        if (f) {
            opened++;
            for (int i = 0; i < dc_safetensors_count(f); i++)
                CHECK(dc_safetensors_get(f, dc_safetensors_name(f, i)) != NULL);
            dc_safetensors_close(f);
        } else {
            rejected++;
            CHECK(dc_has_error() && strstr(dc_last_error(), path));
        }
        dc_scope_end(marker);
    }
    dc_clear_error();
    CHECK(opened > 0 && rejected > 0);
    free(buf);
    free(ref);
    remove(path);
}

#else /* built without jansson: the functions say so */

TEST(test_safetensors_without_jansson_reports_it)
{
    CHECK_ERROR(dc_safetensors_open(TINY_MLP) == NULL, "without jansson");
    CHECK_ERROR(dc_safetensors_save("/tmp/x.safetensors", NULL, 0, NULL, 0) != 0,
                "without jansson");
    printf("  note: deepc built without jansson; the safetensors reading and writing tests are "
           "skipped\n");
    (void)load_expected, (void)free_expected, (void)find_expected, (void)check_matches_expected;
    (void)file_equals, (void)exists, (void)temp_file_left;
}

#endif
