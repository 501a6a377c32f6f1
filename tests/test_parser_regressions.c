/* Regression tests for the file parsers (issue 20: a fuzzing and fault review). Each test
 * writes the triggering input as a small file and checks that it is now a clear error (or,
 * where the input was valid, a correct result) instead of a crash, an overflow or a
 * pathological allocation. The inputs are what the review found:
 *   - tokenizer files whose merges keep joining a token with itself (2^k-byte tokens);
 *   - IDX headers whose dims multiply past int64, or past the file's size;
 *   - safetensors shapes with a 0 dim next to huge ones (0 bytes, overflowing strides);
 *   - checkpoints whose float tensors would be copied into integer buffers. */
#include "test.h"

#include <stdint.h>
#include <time.h>
#include <unistd.h>

#ifdef DC_HAVE_ZLIB
#include <zlib.h>
#endif

/* ---- Tokenizer files --------------------------------------------------------------------- */

/* A BPE tokenizer file of n merges where merge r joins id 256 + r - 1 with itself (merge 0
 * joins 'a' with 'a'): token 256 + r is 2^(r+1) bytes of 'a'. */
static bool write_doubling_merges(const char *path, int n)
{
    FILE *fp = fopen(path, "w");
    if (!fp) return false;
    fprintf(fp, "deepc-tokenizer bpe 1\n");
    for (int r = 0; r < n; r++) fprintf(fp, "%d %d\n", r ? 255 + r : 97, r ? 255 + r : 97);
    return fclose(fp) == 0;
}

/* 63 doubling merges described a 2^64-byte token: the byte total wrapped, a small pool was
 * allocated and written far past its end (heap overflow). 30 merges took 27 s and 2 GB. Now
 * the first merge past DC_TOKEN_MAX_BYTES (merge 12, 8192 bytes, on line 14) is an error that
 * names the file and the line, before anything large is allocated. */
TEST(test_regression_tokenizer_self_doubling_merges_are_refused)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "doubling.tok");
    int counts[] = {63, 30, 13};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        REQUIRE(write_doubling_merges(path, counts[k]));
        clock_t start = clock();
        CHECK_ERROR(dc_tokenizer_load(path) == NULL, ":14: merge \"267 267\" makes a token "
                                                     "longer than the limit of 4096 bytes");
        CHECK((double)(clock() - start) / CLOCKS_PER_SEC < 1.0);
        dc_tokenizer_load(path);
        CHECK(strstr(dc_last_error(), path) != NULL);
        dc_clear_error();
    }
    /* 12 merges reach exactly the limit: a 4096-byte token that decodes correctly */
    REQUIRE(write_doubling_merges(path, 12));
    dc_tokenizer *tok = dc_tokenizer_load(path);
    REQUIRE(tok);
    size_t len = 0;
    const char *bytes = dc_tokenizer_token(tok, 256 + 11, &len);
    CHECK(bytes && len == DC_TOKEN_MAX_BYTES && bytes[0] == 'a' && bytes[len - 1] == 'a');
    dc_tokenizer_free(tok);
    remove(path);
}

/* Training on long runs of one byte would make the same doubling tokens (and a file its own
 * loader refuses): such merges are skipped, every token stays within the limit, and the
 * tokenizer saves, loads and round-trips the text. */
TEST(test_regression_bpe_training_never_makes_tokens_over_the_limit)
{
    size_t run = 17000, len = 2 * run + 2; /* two identical words of 17000 'a's */
    char *text = malloc(len);
    REQUIRE(text);
    memset(text, 'a', len);
    text[run] = '\n';
    text[len - 1] = '\n';
    dc_tokenizer *tok = dc_tokenizer_bpe_train(text, len, 40);
    REQUIRE(tok);
    CHECK(dc_tokenizer_num_merges(tok) >= 12); /* 2, 4, ..., 4096 and some remainders */
    for (int64_t id = 0; id < dc_tokenizer_vocab_size(tok); id++) {
        size_t n = 0;
        CHECK(dc_tokenizer_token(tok, id, &n) && n <= DC_TOKEN_MAX_BYTES);
    }
    char path[256];
    dc_test_tmp_path(path, sizeof path, "long_runs.tok");
    REQUIRE(dc_tokenizer_save(tok, path) == 0);
    dc_tokenizer *back = dc_tokenizer_load(path);
    REQUIRE(back);
    CHECK(dc_tokenizer_num_merges(back) == dc_tokenizer_num_merges(tok));
    int64_t n_ids = 0;
    int64_t *ids = dc_tokenizer_encode(back, text, len, &n_ids);
    REQUIRE(ids);
    size_t out_len = 0;
    char *out = dc_tokenizer_decode(back, ids, n_ids, &out_len);
    CHECK(out && out_len == len && memcmp(out, text, len) == 0);
    free(out);
    free(ids);
    dc_tokenizer_free(back);
    dc_tokenizer_free(tok);
    free(text);
    remove(path);
}

/* Other malformed tokenizer files: a NUL byte used to end the scan silently (the merges after
 * it were dropped); strtol skipped leading spaces and newlines and took signs. */
TEST(test_regression_tokenizer_files_with_nul_or_odd_numbers_are_refused)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "odd.tok");
    static const char nul_file[] = "deepc-tokenizer bpe 1\n97 98\n\0" "99 100\n";
    REQUIRE(dc_test_write_file(path, nul_file, sizeof nul_file - 1));
    CHECK_ERROR(dc_tokenizer_load(path) == NULL, ":3: NUL byte at byte 28");
    const char *bad[] = {
        "deepc-tokenizer bpe 1\n 97 98\n",         "deepc-tokenizer bpe 1\n+97 98\n",
        "deepc-tokenizer bpe 1\n97 -0\n",          "deepc-tokenizer bpe 1\n97  98\n",
        "deepc-tokenizer char 1\n 41\n",           "deepc-tokenizer char 1\n-41\n",
        "deepc-tokenizer bpe 1\n97 99999999999999999999\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        REQUIRE(dc_test_write_file(path, bad[i], strlen(bad[i])));
        dc_clear_error();
        dc_tokenizer *tok = dc_tokenizer_load(path);
        EXPECT(!tok && strstr(dc_last_error(), ":2: expected"), "file %zu: loaded or '%s'", i,
               dc_last_error());
        dc_tokenizer_free(tok);
        dc_clear_error();
    }
    /* the well-formed versions load */
    const char *good[] = {"deepc-tokenizer bpe 1\n97 98\n", "deepc-tokenizer char 1\n41\n"};
    for (size_t i = 0; i < 2; i++) {
        REQUIRE(dc_test_write_file(path, good[i], strlen(good[i])));
        dc_tokenizer *tok = dc_tokenizer_load(path);
        CHECK(tok != NULL);
        dc_tokenizer_free(tok);
    }
    remove(path);
}

/* ---- IDX headers --------------------------------------------------------------------------- */

/* An IDX ubyte file: magic 0x0000080<ndim>, big-endian dims, then n_data bytes of 7. */
static bool write_idx(const char *path, int ndim, const uint32_t *dims, size_t n_data)
{
    size_t len = 4 + 4 * (size_t)ndim + n_data;
    unsigned char *buf = malloc(len);
    if (!buf) return false;
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)ndim;
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++) buf[4 + 4 * d + k] = (unsigned char)(dims[d] >> (24 - 8 * k));
    memset(buf + 4 + 4 * ndim, 7, n_data);
    bool ok = dc_test_write_file(path, buf, len);
    free(buf);
    return ok;
}

/* dims 2^32-1 x 2^32-1 x 2^32-1: the product overflowed int64 before the size check (signed
 * overflow; the CLI then reported "out of memory"). 0 x 2^32-1 x 2^32-1 passed (0 bytes) and
 * overflowed the dataset tensor's strides. Both are malformed headers now; a header that fits
 * in int64 but not in the file is "truncated" before anything is allocated. */
TEST(test_regression_idx_dims_overflowing_int64_are_malformed_headers)
{
    char images[256], labels[256];
    dc_test_tmp_path(images, sizeof images, "ovf-images-idx3-ubyte");
    dc_test_tmp_path(labels, sizeof labels, "ovf-labels-idx1-ubyte");
    REQUIRE(write_idx(labels, 1, (uint32_t[]){0}, 0));
    uint32_t huge = UINT32_MAX;
    REQUIRE(write_idx(images, 3, (uint32_t[]){huge, huge, huge}, 16));
    CHECK_ERROR(!dc_idx_load(images, labels), "malformed header (dims 4294967295 x 4294967295");
    REQUIRE(write_idx(images, 3, (uint32_t[]){0, huge, huge}, 0));
    CHECK_ERROR(!dc_idx_load(images, labels), "malformed header");
    CHECK_ERROR(!dc_idx_load(images, labels), images);
    REQUIRE(write_idx(images, 3, (uint32_t[]){1u << 20, 1u << 20, 2}, 0));
    CHECK_ERROR(!dc_idx_load(images, labels), "more than 2^40 bytes");
    /* 2^40 bytes declared, 16 present: raw files are checked against their size */
    REQUIRE(write_idx(images, 3, (uint32_t[]){1u << 20, 1u << 10, 1u << 10}, 16));
    CHECK_ERROR(!dc_idx_load(images, labels), "truncated (16 of 1099511627776 data bytes)");
    REQUIRE(write_idx(labels, 1, (uint32_t[]){huge}, 3));
    REQUIRE(write_idx(images, 3, (uint32_t[]){1, 2, 2}, 4));
    CHECK_ERROR(!dc_idx_load(images, labels), "truncated (3 of 4294967295 data bytes)");
    /* an empty set with a sane image size still loads */
    REQUIRE(write_idx(labels, 1, (uint32_t[]){0}, 0));
    REQUIRE(write_idx(images, 3, (uint32_t[]){0, 28, 28}, 0));
    dc_dataset *ds = dc_idx_load(images, labels);
    CHECK(ds && dc_dataset_size(ds) == 0);
    dc_dataset_free(ds);
    remove(images);
    remove(labels);
}

#ifdef DC_HAVE_ZLIB
/* The same headers through gzip, where the size is not known until the data ends. */
static bool write_idx_gz(const char *path, int ndim, const uint32_t *dims, size_t n_data)
{
    char raw[300];
    snprintf(raw, sizeof raw, "%s.raw", path);
    size_t len;
    if (!write_idx(raw, ndim, dims, n_data)) return false;
    unsigned char *data = dc_test_read_file(raw, &len);
    remove(raw);
    gzFile gz = data ? gzopen(path, "wb") : NULL;
    bool ok = gz && gzwrite(gz, data, (unsigned)len) == (int)len;
    if (gz) ok = gzclose(gz) == Z_OK && ok;
    free(data);
    return ok;
}
#endif

TEST(test_regression_idx_gzip_headers_are_checked_like_raw_ones)
{
#ifdef DC_HAVE_ZLIB
    char images[256], labels[256];
    dc_test_tmp_path(images, sizeof images, "ovf-images-idx3-ubyte.gz");
    dc_test_tmp_path(labels, sizeof labels, "ovf-labels-idx1-ubyte.gz");
    REQUIRE(write_idx_gz(labels, 1, (uint32_t[]){0}, 0));
    uint32_t huge = UINT32_MAX;
    REQUIRE(write_idx_gz(images, 3, (uint32_t[]){huge, huge, huge}, 16));
    CHECK_ERROR(!dc_idx_load(images, labels), "malformed header");
    REQUIRE(write_idx_gz(images, 3, (uint32_t[]){0, huge, huge}, 0));
    CHECK_ERROR(!dc_idx_load(images, labels), "malformed header");
    /* 2^40 declared, 16 present: the buffer grows with the data, so this is cheap */
    REQUIRE(write_idx_gz(images, 3, (uint32_t[]){1u << 20, 1u << 10, 1u << 10}, 16));
    CHECK_ERROR(!dc_idx_load(images, labels), "truncated (16 of 1099511627776 data bytes)");
    remove(images);
    remove(labels);
#else
    printf("  note: deepc built without zlib; gzip IDX header test skipped\n");
#endif
}

/* ---- Tensor shapes -------------------------------------------------------------------------- */

/* A 0 dim made the byte count 0, so [0, 2^62, 4] passed every size check and the contiguous
 * strides (2^62 * 4) overflowed int64. Creation now refuses a shape whose strides overflow;
 * empty shapes whose strides fit still work. */
TEST(test_regression_empty_shapes_with_overflowing_strides_are_refused)
{
    int64_t big = INT64_C(1) << 62;
    CHECK_ERROR(dc_empty(DC_F32, 3, (int64_t[]){0, big, 4}) == NULL, "strides overflow int64");
    CHECK_ERROR(dc_zeros(DC_F64, 3, (int64_t[]){big, 0, 4}) == NULL, "too large");
    CHECK_ERROR(dc_full(DC_I64, 2, (int64_t[]){INT64_MAX, 0}, 1.0) == NULL, "too large");
    CHECK_ERROR(dc_empty(DC_F32, 4, (int64_t[]){0, 1 << 30, 1 << 30, 1 << 30}) == NULL,
                "too large");
    dc_tensor *e = dc_empty(DC_F32, 3, (int64_t[]){0, big, 1});
    CHECK(e && dc_numel(e) == 0 && e->stride[0] == big);
}

#ifdef DC_HAVE_JANSSON

/* A safetensors file with the given JSON header and n_data zero bytes of data. */
static bool write_safetensors(const char *path, const char *header, size_t n_data)
{
    size_t hl = strlen(header);
    unsigned char *buf = calloc(8 + hl + n_data, 1);
    if (!buf) return false;
    uint64_t len_field = hl;
    memcpy(buf, &len_field, 8);
    memcpy(buf + 8, header, hl);
    bool ok = dc_test_write_file(path, buf, 8 + hl + n_data);
    free(buf);
    return ok;
}

/* [0, 2^62, 4] F32: 0 bytes, so the old check (which skipped products after a 0) passed it
 * and dc_safetensors_get overflowed the strides. Now open refuses it, naming the tensor. */
TEST(test_regression_safetensors_zero_dim_with_huge_dims_is_refused)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "zero_huge.safetensors");
    const char *headers[] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,4611686018427387904,4],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4,0],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"I8\",\"shape\":[9223372036854775807,0,2],\"data_offsets\":[0,0]}}",
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[0,2305843009213693952],\"data_offsets\":[0,0]}}",
    };
    for (size_t i = 0; i < sizeof headers / sizeof *headers; i++) {
        REQUIRE(write_safetensors(path, headers[i], 0));
        dc_clear_error();
        dc_safetensors *f = dc_safetensors_open(path);
        EXPECT(!f && strstr(dc_last_error(), "tensor 'a': shape is too large") &&
                   strstr(dc_last_error(), path),
               "header %zu: opened or '%s'", i, dc_last_error());
        dc_safetensors_close(f);
        dc_clear_error();
    }
    /* an empty tensor whose strides fit still opens and reads */
    REQUIRE(write_safetensors(
        path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,1048576,4],\"data_offsets\":[0,0]}}", 0));
    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f);
    dc_tensor *a = dc_safetensors_get(f, "a");
    CHECK(a && dc_numel(a) == 0 && a->shape[1] == 1048576);
    dc_safetensors_close(f);
    remove(path);
}

/* ---- Checkpoint dtypes ------------------------------------------------------------------------- */

static dc_module *small_bn_model(void)
{
    return dc_sequential_new(2, dc_linear_new(3, 2, true, NULL),
                             dc_batch_norm1d_new(2, 1e-5, 0.1, true));
}

/* Save m's state with the tensor called `name` replaced by `repl` (and nothing else). */
static int save_with(const char *path, dc_module *m, const char *name, dc_tensor *repl)
{
    dc_tensor_list state;
    if (dc_module_state(m, &state) != 0) return -1;
    dc_named_tensor items[16];
    int n = state.n < 16 ? state.n : 16;
    for (int i = 0; i < n; i++)
        items[i] = (dc_named_tensor){state.names[i],
                                     !strcmp(state.names[i], name) ? repl : state.tensors[i]};
    int rc = dc_safetensors_save(path, items, n, NULL, 0);
    dc_tensor_list_free(&state);
    return rc;
}

/* num_batches_tracked stored as F64 NaN / 1e30 / 2.5 was copied into the int64 buffer (a
 * float -> int conversion of a value int64 cannot hold is undefined behaviour). A float
 * tensor for an integer buffer is now refused, naming the tensor, with the model unchanged;
 * so is an integer tensor for a float parameter. */
TEST(test_regression_checkpoint_float_into_int64_buffer_is_refused)
{
    dc_module *m = small_bn_model();
    REQUIRE(m);
    dc_tensor *nbt = dc_module_buffer(m, "1.num_batches_tracked");
    dc_tensor *w = dc_module_param(m, "0.weight");
    REQUIRE(nbt && w && nbt->dtype == DC_I64);
    *(int64_t *)dc_data(nbt) = 5;
    double w0 = dc_item_at(w, (int64_t[]){0, 0});
    char path[256];
    dc_test_tmp_path(path, sizeof path, "float_nbt.safetensors");
    double values[] = {NAN, 1e30, 2.5, 3.0};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        dc_tensor *bad = dc_scalar(DC_F64, values[i]);
        REQUIRE(bad && save_with(path, m, "1.num_batches_tracked", bad) == 0);
        dc_fill_(w, w0 + 1); /* the file's weight differs from the model's: not copied */
        CHECK_ERROR(dc_checkpoint_load(path, m, NULL) != 0,
                    "tensor '1.num_batches_tracked' in");
        CHECK(*(int64_t *)dc_data(nbt) == 5 && dc_item_at(w, (int64_t[]){0, 0}) == w0 + 1);
        dc_fill_(w, w0);
    }
    /* an int64 tensor for the float weight */
    dc_tensor *ints = dc_zeros(DC_I64, DC_SHAPE(2, 3));
    REQUIRE(ints && save_with(path, m, "0.weight", ints) == 0);
    CHECK_ERROR(dc_checkpoint_load(path, m, NULL) != 0, "'0.weight'");
    CHECK(dc_item_at(w, (int64_t[]){0, 0}) == w0);
    /* the file as saved loads */
    REQUIRE(save_with(path, m, "", NULL) == 0);
    CHECK(dc_checkpoint_load(path, m, NULL) == 0);
    remove(path);
    dc_module_free(m);
}

/* An optimizer step count of -1 or NaN was caught only after the model and the optimizer had
 * been overwritten (dc_optimizer_state_loaded runs after the copy). It is now checked with
 * everything else, before anything is copied. */
TEST(test_regression_checkpoint_bad_step_count_leaves_model_and_optimizer_unchanged)
{
    dc_module *m = small_bn_model();
    REQUIRE(m);
    dc_tensor_list params;
    REQUIRE(dc_module_parameters(m, &params) == 0);
    dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 1e-2);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_tensor_list_free(&params);
    REQUIRE(opt);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "bad_step.safetensors");
    dc_tensor *w = dc_module_param(m, "0.weight");
    double w0 = dc_item_at(w, (int64_t[]){0, 0});
    const char *step_names[] = {"optimizer.step", "optimizer.0.weight.step"};
    double bad_steps[] = {-1, NAN, 0.5, 1e300};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < sizeof bad_steps / sizeof *bad_steps; i++) {
            REQUIRE(dc_checkpoint_save(path, m, opt, NULL, 0) == 0);
            /* rewrite the file with one step count replaced and a different weight */
            dc_safetensors *f = dc_safetensors_open(path);
            REQUIRE(f);
            int n = dc_safetensors_count(f);
            REQUIRE(n <= 32);
            dc_named_tensor items[32];
            for (int j = 0; j < n; j++) {
                const char *name = dc_safetensors_name(f, j);
                dc_tensor *t = dc_safetensors_get(f, name);
                REQUIRE(t);
                if (!strcmp(name, step_names[k])) dc_fill_(t, bad_steps[i]);
                if (!strcmp(name, "0.weight")) dc_fill_(t, w0 + 1);
                items[j] = (dc_named_tensor){name, t};
            }
            REQUIRE(dc_safetensors_save(path, items, n, NULL, 0) == 0);
            dc_safetensors_close(f);
            CHECK_ERROR(dc_checkpoint_load(path, m, opt) != 0, step_names[k]);
            CHECK(dc_item_at(w, (int64_t[]){0, 0}) == w0);
            CHECK(dc_optimizer_steps(opt) == 0);
        }
    REQUIRE(dc_checkpoint_save(path, m, opt, NULL, 0) == 0);
    CHECK(dc_checkpoint_load(path, m, opt) == 0);
    remove(path);
    dc_optimizer_free(opt);
    dc_module_free(m);
}

#else

TEST(test_regression_safetensors_and_checkpoint_tests_need_jansson)
{
    printf("  note: deepc built without jansson; safetensors/checkpoint regression tests "
           "skipped\n");
}

#endif
