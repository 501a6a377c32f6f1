/* Fuzz target: text corpora and tokenizers (dc_read_text_file, dc_tokenizer_char_build,
 * dc_tokenizer_bpe_train, encode / decode, dc_tokenizer_save / dc_tokenizer_load).
 *
 * Input: byte 0 = parameters (low 6 bits: BPE merges to learn, top 2 bits: the language-
 * model window length - 1), the rest = the text. The same bytes are used three ways:
 *   - as a corpus file: read back byte for byte; a char tokenizer built on it (fails only
 *     on invalid UTF-8) and a BPE tokenizer learned on it must both encode it and decode
 *     to the same bytes, and both must save and load back to tokenizers that encode alike;
 *   - as a tokenizer file for dc_tokenizer_load: a tokenizer that loads must be usable
 *     (every token readable, BPE encodes any bytes and decodes them back) and save + load
 *     back the same;
 *   - the BPE ids as language-model windows (dc_lm_windows). */
#include "fuzz_common.h"

/* Two tokenizers with the same vocabulary (same bytes for every id, same merges). */
static void check_same_tokenizer(const dc_tokenizer *a, const dc_tokenizer *b)
{
    FUZZ_CHECK(dc_tokenizer_vocab_size(a) == dc_tokenizer_vocab_size(b));
    FUZZ_CHECK(dc_tokenizer_num_merges(a) == dc_tokenizer_num_merges(b));
    for (int64_t id = 0; id < dc_tokenizer_vocab_size(a); id++) {
        size_t la, lb;
        const char *ta = dc_tokenizer_token(a, id, &la), *tb = dc_tokenizer_token(b, id, &lb);
        FUZZ_CHECK(ta && tb && la == lb && memcmp(ta, tb, la) == 0);
    }
    for (int64_t r = 0; r < dc_tokenizer_num_merges(a); r++) {
        int64_t l1, r1, l2, r2;
        FUZZ_CHECK(dc_tokenizer_merge(a, r, &l1, &r1) == 0 && dc_tokenizer_merge(b, r, &l2, &r2) == 0);
        FUZZ_CHECK(l1 == l2 && r1 == r2 && l1 < 256 + r && r1 < 256 + r);
    }
}

/* Save tok, load it back and compare. */
static void check_save_load(const dc_tokenizer *tok)
{
    char path[512];
    fuzz_path(path, sizeof path, "tokenizer.txt");
    FUZZ_CHECK(dc_tokenizer_save(tok, path) == 0);
    dc_tokenizer *back = dc_tokenizer_load(path);
    FUZZ_CHECK(back != NULL);
    check_same_tokenizer(tok, back);
    dc_tokenizer_free(back);
}

/* encode then decode gives the text back; returns the ids (malloc'ed) or NULL when the
 * tokenizer cannot encode the text (allowed only if `may_fail`). */
static int64_t *check_encode_decode(const dc_tokenizer *tok, const char *text, size_t len,
                                    bool may_fail, int64_t *n_ids)
{
    int64_t *ids = dc_tokenizer_encode(tok, text, len, n_ids);
    if (!ids) {
        FUZZ_CHECK(may_fail && dc_last_error()[0] != '\0');
        dc_clear_error();
        return NULL;
    }
    FUZZ_CHECK(*n_ids >= 0 && (size_t)*n_ids <= len);
    size_t out_len;
    char *out = dc_tokenizer_decode(tok, ids, *n_ids, &out_len);
    FUZZ_CHECK(out != NULL && out_len == len && memcmp(out, text, len) == 0 && out[len] == '\0');
    free(out);
    return ids;
}

static void check_windows(const int64_t *ids, int64_t n, int64_t T)
{
    dc_dataset *train, *val;
    if (dc_lm_windows(ids, n, T, 1, 0.25, &train, &val) != 0) {
        FUZZ_CHECK(dc_last_error()[0] != '\0' && !train && !val);
        dc_clear_error();
        return;
    }
    FUZZ_CHECK(train->inputs->ndim == 2 && train->inputs->shape[1] == T);
    FUZZ_CHECK(val->targets->ndim == 2 && val->targets->shape[1] == T);
    /* targets are the inputs shifted by one token */
    const int64_t *x = dc_data(train->inputs), *y = dc_data(train->targets);
    for (int64_t i = 0; i + 1 < T; i++) FUZZ_CHECK(y[i] == x[i + 1]);
    dc_dataset_free(train);
    dc_dataset_free(val);
}

static void as_corpus(const char *text, size_t len, int merges, int64_t T)
{
    /* the file reads back exactly, NUL-terminated */
    size_t read_len;
    char *read = dc_read_text_file(fuzz_file(0, (const uint8_t *)text, len), &read_len);
    FUZZ_CHECK(read != NULL && read_len == len && memcmp(read, text, len) == 0 && read[len] == '\0');
    free(read);

    dc_tokenizer *chars = dc_tokenizer_char_build(text, len);
    if (!chars) {
        FUZZ_CHECK(strstr(dc_last_error(), "invalid UTF-8") != NULL);
        dc_clear_error();
    } else {
        FUZZ_CHECK(dc_tokenizer_vocab_size(chars) <= (int64_t)len);
        int64_t n;
        free(check_encode_decode(chars, text, len, false, &n));
        check_save_load(chars);
        dc_tokenizer_free(chars);
    }

    dc_tokenizer *bpe = dc_tokenizer_bpe_train(text, len, merges);
    FUZZ_CHECK(bpe != NULL && dc_tokenizer_num_merges(bpe) <= merges);
    FUZZ_CHECK(dc_tokenizer_vocab_size(bpe) == 256 + dc_tokenizer_num_merges(bpe));
    int64_t n;
    int64_t *ids = check_encode_decode(bpe, text, len, false, &n);
    check_save_load(bpe);
    check_windows(ids, n, T);
    free(ids);
    dc_tokenizer_free(bpe);
}

static void as_tokenizer_file(const char *text, size_t len)
{
    dc_tokenizer *tok = dc_tokenizer_load(fuzz_file(1, (const uint8_t *)text, len));
    if (!tok) {
        FUZZ_CHECK(dc_last_error()[0] != '\0');
        dc_clear_error();
        return;
    }
    bool bpe = dc_tokenizer_vocab_size(tok) == 256 + dc_tokenizer_num_merges(tok) &&
               dc_tokenizer_num_merges(tok) > 0;
    for (int64_t id = 0; id < dc_tokenizer_vocab_size(tok); id++)
        FUZZ_CHECK(dc_tokenizer_token(tok, id, NULL) != NULL);
    dc_clear_error();
    FUZZ_CHECK(dc_tokenizer_token(tok, dc_tokenizer_vocab_size(tok), NULL) == NULL);
    dc_clear_error();
    const char sample[] = "the cat sat on the mat\n\n  caf\xc3\xa9";
    int64_t n;
    free(check_encode_decode(tok, sample, sizeof sample - 1, !bpe, &n));
    free(check_encode_decode(tok, text, len, !bpe, &n));
    check_save_load(tok);
    dc_tokenizer_free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    int params = size > 0 ? data[0] : 0;
    const char *text = size > 0 ? (const char *)data + 1 : "";
    size_t len = size > 0 ? size - 1 : 0;
    as_corpus(text, len, params & 63, 1 + (params >> 6));
    as_tokenizer_file(text, len);
    fuzz_end();
    return 0;
}
