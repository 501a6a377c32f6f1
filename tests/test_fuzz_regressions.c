/* Regressions found by the fuzz targets of fuzz/ (`make fuzz`, README "Reliability:
 * fuzzing"). Each test replays the finding in its smallest form; the comment above it names
 * the target that found it and what was wrong. (The parser bugs of the first fuzzing and
 * fault review are in test_parser_regressions.c.) */
#include "test.h"

#include <stdint.h>

/* fuzz_safetensors: a tensor with a 0 dim and others that are not 1 (shape [3, 0, 5]) read
 * from a file was not contiguous by dc_is_contiguous, although io.h promises a contiguous
 * tensor: new tensors get the strides of the shape with 0 counted as 1 ([5, 5, 1]), which
 * dc_is_contiguous compared against the running product (0 after the empty dim). A tensor
 * with no elements is contiguous whatever its strides, as in torch. */
TEST(test_fuzz_empty_tensor_with_other_dims_is_contiguous)
{
    if (!dc_test_have("jansson")) return;
    size_t scope = dc_scope_begin();
    const int64_t shapes[][3] = {{3, 0, 5}, {0, 4, 2}, {2, 3, 0}, {1, 0, 1}};
    for (int i = 0; i < 4; i++) {
        dc_tensor *t = dc_zeros(DC_F32, 3, shapes[i]);
        REQUIRE(t != NULL);
        EXPECT(dc_is_contiguous(t), "dc_zeros [%lld, %lld, %lld] is not contiguous",
               (long long)shapes[i][0], (long long)shapes[i][1], (long long)shapes[i][2]);
        dc_tensor *c = dc_contiguous(t);
        CHECK(c != NULL && dc_numel(c) == 0 && dc_is_contiguous(c));
    }
    /* a non-empty transposed view stays non-contiguous */
    dc_tensor *m = dc_zeros(DC_F32, DC_SHAPE(2, 3));
    CHECK(!dc_is_contiguous(dc_transpose(m, 0, 1)));
    dc_scope_end(scope);

    /* the file the fuzzer started from: I8 [3, 0, 5] next to F32 [0, 3] */
    const char header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                          "\"b\":{\"dtype\":\"I8\",\"shape\":[3,0,5],\"data_offsets\":[0,0]}}";
    unsigned char file[8 + sizeof header];
    uint64_t n = sizeof header - 1;
    memcpy(file, &n, 8);
    memcpy(file + 8, header, n);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "fuzz_empty_dims.safetensors");
    REQUIRE(dc_test_write_file(path, file, 8 + n));
    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f != NULL);
    scope = dc_scope_begin();
    dc_tensor *b = dc_safetensors_get(f, "b");
    CHECK(b != NULL && b->ndim == 3 && b->shape[1] == 0 && dc_is_contiguous(b));
    dc_tensor *a = dc_safetensors_get(f, "a");
    CHECK(a != NULL && dc_is_contiguous(a));
    dc_scope_end(scope);
    dc_safetensors_close(f);
    remove(path);
}

/* fuzz_text: a BPE tokenizer with no merges (learned on text where no pair occurs twice, or
 * a file holding only the "deepc-tokenizer bpe 1" line) loaded through
 * memcpy(tok->merges, NULL, 0): undefined behaviour (UBSan: null pointer passed as argument
 * 2), as the loader's merge array is never allocated when there is nothing to push. */
TEST(test_fuzz_bpe_tokenizer_without_merges_saves_and_loads)
{
    char path[256];
    dc_test_tmp_path(path, sizeof path, "fuzz_no_merges.tok");
    dc_tokenizer *tok = dc_tokenizer_bpe_train("abc", 3, 10); /* no pair occurs twice */
    REQUIRE(tok != NULL);
    CHECK(dc_tokenizer_num_merges(tok) == 0 && dc_tokenizer_vocab_size(tok) == 256);
    REQUIRE(dc_tokenizer_save(tok, path) == 0);
    dc_tokenizer_free(tok);
    size_t len;
    unsigned char *text = dc_test_read_file(path, &len);
    CHECK(text && len == 22 && !memcmp(text, "deepc-tokenizer bpe 1\n", 22));
    free(text);
    dc_tokenizer *back = dc_tokenizer_load(path);
    REQUIRE(back != NULL);
    CHECK(dc_tokenizer_num_merges(back) == 0 && dc_tokenizer_vocab_size(back) == 256);
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(back, "hi there", 8, &n);
    CHECK(ids && n == 8 && ids[0] == 'h');
    free(ids);
    dc_tokenizer_free(back);
    remove(path);
}
