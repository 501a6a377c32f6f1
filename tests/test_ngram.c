/* Count n-gram models (apps/ngram): counts, smoothed probabilities and held-out NLL on a tiny
 * corpus computed by hand, sampling, the line splitter, bad arguments. */
#include "test.h"

#include "ngram/ngram.h"

/* "ab\nabb\nb\n" with the vocabulary '\n' = 0, a = 1, b = 2: ids 1 2 0 1 2 2 0 2 0. */
static int64_t *tiny_ids(dc_tokenizer **tok, int64_t *n)
{
    const char *text = "ab\nabb\nb\n";
    *tok = dc_tokenizer_char_build(text, strlen(text));
    return *tok ? dc_tokenizer_encode(*tok, text, strlen(text), n) : NULL;
}

TEST(test_ngram_bigram_counts_probabilities_and_nll_match_hand_computed_values)
{
    dc_tokenizer *tok;
    int64_t n;
    int64_t *ids = tiny_ids(&tok, &n);
    REQUIRE(ids && n == 9 && dc_tokenizer_vocab_size(tok) == 3);
    ngram_model *m = ngram_new(2, 3, 0, 1.0);
    REQUIRE(m && ngram_add(m, ids, n) == 0);
    /* bigrams (context reset after each '\n'): 0a 0a 0b | ab ab | b0 b0 b0 bb */
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 1}), 2, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 2}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){1, 2}), 2, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){2, 0}), 3, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){2, 2}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){1, 0}), 0, 0);
    /* add-1: (c + 1) / (c(ctx) + 3) */
    CHECK_NEAR(ngram_prob(m, (int64_t[]){0}, 1), 3.0 / 6, 1e-15);
    CHECK_NEAR(ngram_prob(m, (int64_t[]){1}, 2), 3.0 / 5, 1e-15);
    CHECK_NEAR(ngram_prob(m, (int64_t[]){2}, 0), 4.0 / 7, 1e-15);
    CHECK_NEAR(ngram_prob(m, (int64_t[]){1}, 1), 1.0 / 5, 1e-15);
    /* held out "ba\n" = 2 1 0: p(b|\n) = 2/6, p(a|b) = 1/7, p(\n|a) = 1/5 */
    CHECK_NEAR(ngram_nll(m, (int64_t[]){2, 1, 0}, 3), (log(3.0) + log(7.0) + log(5.0)) / 3, 1e-12);
    /* training NLL: the mean of -log p over the nine tokens */
    double want = -(2 * log(3.0 / 6) + log(2.0 / 6) + 2 * log(3.0 / 5) + 3 * log(4.0 / 7) +
                    log(2.0 / 7)) / 9;
    CHECK_NEAR(ngram_nll(m, ids, n), want, 1e-12);
    ngram_free(m);
    free(ids);
    dc_tokenizer_free(tok);
}

TEST(test_ngram_trigram_contexts_restart_after_a_boundary_and_k0_gives_inf_for_unseen)
{
    dc_tokenizer *tok;
    int64_t n;
    int64_t *ids = tiny_ids(&tok, &n);
    REQUIRE(ids);
    ngram_model *m = ngram_new(3, 3, 0, 0.0);
    REQUIRE(m && ngram_add(m, ids, n) == 0);
    /* 00a 0ab ab0 | 00a 0ab abb bb0 | 00b 0b0 */
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 0, 1}), 2, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 0, 2}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 1, 2}), 2, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){1, 2, 0}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){1, 2, 2}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){2, 2, 0}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 2, 0}), 1, 0);
    CHECK_NEAR(ngram_count(m, (int64_t[]){2, 0, 1}), 0, 0); /* never across a boundary */
    CHECK_NEAR(ngram_prob(m, (int64_t[]){0, 1}, 2), 1.0, 0);
    CHECK_NEAR(ngram_prob(m, (int64_t[]){1, 2}, 0), 0.5, 0);
    CHECK(isinf(ngram_nll(m, (int64_t[]){2, 1, 0}, 3))); /* "b" then 'a': never seen */
    ngram_free(m);
    free(ids);
    dc_tokenizer_free(tok);
}

TEST(test_ngram_samples_follow_the_counts)
{
    /* Only "ab" was seen: a maximum-likelihood bigram model always draws "ab". */
    ngram_model *m = ngram_new(2, 3, 0, 0.0);
    REQUIRE(m && ngram_add(m, (int64_t[]){1, 2, 0}, 3) == 0);
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    int64_t out[8];
    for (int i = 0; i < 5; i++) {
        CHECK(ngram_sample(m, &rng, 8, out) == 2);
        CHECK(out[0] == 1 && out[1] == 2);
    }
    ngram_free(m);
}

TEST(test_ngram_rejects_bad_orders_vocabularies_ids_and_smoothing)
{
    CHECK_ERROR(ngram_new(0, 3, 0, 1) == NULL, "order 0");
    CHECK_ERROR(ngram_new(2, 0, 0, 1) == NULL, "vocab 0");
    CHECK_ERROR(ngram_new(2, 3, 3, 1) == NULL, "boundary 3");
    CHECK_ERROR(ngram_new(2, 3, 0, -1) == NULL, "k = -1");
    CHECK_ERROR(ngram_new(4, 100000, 0, 1) == NULL, "2^27");
    ngram_model *m = ngram_new(2, 3, 0, 1.0);
    REQUIRE(m);
    CHECK_ERROR(ngram_add(m, (int64_t[]){1, 5, 0}, 3) != 0, "id 5 at position 1");
    CHECK_NEAR(ngram_count(m, (int64_t[]){0, 1}), 0, 0); /* nothing was counted */
    CHECK_ERROR(isnan(ngram_nll(m, (int64_t[]){1}, 0)), "no tokens");
    CHECK_ERROR(isnan(ngram_prob(m, (int64_t[]){-1}, 0)), "id -1");
    ngram_free(m);
}

TEST(test_lm_split_lines_keeps_every_line_once_and_rejects_bad_fractions)
{
    const char *text = "Anna\nbob\r\n\ncarl\ndora\neve\nfred\ngina\nhal\nida\njon\n";
    char *train, *val, *test;
    REQUIRE(lm_split_lines(text, true, 3, 0.2, 0.1, &train, &val, &test) == 10);
    int lines[3] = {0};
    char *parts[3] = {train, val, test};
    size_t total = 0;
    for (int p = 0; p < 3; p++) {
        for (char *c = parts[p]; *c; c++) lines[p] += *c == '\n';
        total += strlen(parts[p]);
    }
    CHECK(lines[0] == 7 && lines[1] == 2 && lines[2] == 1);
    CHECK(total == strlen("anna\nbob\ncarl\ndora\neve\nfred\ngina\nhal\nida\njon\n"));
    CHECK(strstr(train, "anna") || strstr(val, "anna") || strstr(test, "anna")); /* lower */
    free(train), free(val), free(test);
    CHECK_ERROR(lm_split_lines(text, true, 3, 0.6, 0.5, &train, NULL, NULL) == -1, "fractions");
    CHECK(train == NULL);
    CHECK_ERROR(lm_split_lines("a\nb\n", true, 3, 0.1, 0.1, &train, NULL, NULL) == -1, "at least 3");
}
