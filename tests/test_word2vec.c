/* word2vec (apps/word2vec): vocabulary, the negative-sampling losses and their gradient
 * against closed forms, batches, nearest neighbours, analogies, PCA, the task contract. */
#include "test.h"

#include "mlplm/mlplm.h"
#include "word2vec/word2vec.h"

TEST(test_w2v_vocab_counts_orders_by_frequency_and_drops_rare_words)
{
    w2v_vocab *v = w2v_vocab_build("The cat saw the dog. THE dog's cat, a dog!", 2, 0);
    REQUIRE(v);
    /* the 3, dog 3 (dog's -> dog, s), cat 2; a, saw, s once */
    CHECK(w2v_vocab_size(v) == 3);
    CHECK(!strcmp(w2v_vocab_word(v, 0), "dog") && w2v_vocab_count(v, 0) == 3);
    CHECK(!strcmp(w2v_vocab_word(v, 1), "the") && w2v_vocab_count(v, 1) == 3);
    CHECK(!strcmp(w2v_vocab_word(v, 2), "cat") && w2v_vocab_count(v, 2) == 2);
    CHECK(w2v_vocab_id(v, "Cat") == 2 && w2v_vocab_id(v, "saw") == -1);
    int64_t n, *ids = w2v_encode(v, "the saw cat dog", &n);
    REQUIRE(ids);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 2 && ids[2] == 0);
    free(ids);
    w2v_vocab_free(v);
    CHECK_ERROR(w2v_vocab_build("a b c", 2, 0) == NULL, "no word occurs 2 times");
}

static double softplus(double x) { return log1p(exp(x)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

TEST(test_w2v_sgns_loss_and_gradient_match_the_closed_form)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_module *m = w2v_new(5, 3, &rng);
    REQUIRE(m && mlplm_to_dtype(m, DC_F64) == 0);
    dc_tensor *in = dc_module_param(m, "in.weight"), *out = dc_module_param(m, "out.weight");
    dc_normal_(&rng, in, 0, 1);
    dc_normal_(&rng, out, 0, 1);
    double *vi = dc_test_values(in), *vo = dc_test_values(out);
    /* one example: center 1, context 3, negatives 0 and 4 */
    dc_tensor *c = dc_from_buffer(DC_I64, DC_SHAPE(1), (int64_t[]){1});
    dc_tensor *o = dc_from_buffer(DC_I64, DC_SHAPE(1), (int64_t[]){3});
    dc_tensor *neg = dc_from_buffer(DC_I64, DC_SHAPE(1, 2), (int64_t[]){0, 4});
    dc_tensor *loss = w2v_sgns_loss(m, c, o, neg);
    REQUIRE(loss && dc_backward(loss) == 0);
    double dot[5] = {0};
    for (int w = 0; w < 5; w++)
        for (int j = 0; j < 3; j++) dot[w] += vi[1 * 3 + j] * vo[w * 3 + j];
    CHECK_NEAR(dc_item(loss), softplus(-dot[3]) + softplus(dot[0]) + softplus(dot[4]), 1e-12);
    /* d/dv_c = -s(-u_o.v) u_o + sum_k s(u_k.v) u_k */
    double *g = dc_test_values(in->grad);
    for (int j = 0; j < 3; j++) {
        double want = -sigmoid(-dot[3]) * vo[9 + j] + sigmoid(dot[0]) * vo[j] + sigmoid(dot[4]) * vo[12 + j];
        CHECK_NEAR(g[3 + j], want, 1e-12);
        CHECK_NEAR(g[j], 0, 0); /* only the center's row */
    }
    /* CBOW with the single context word 1 is the same loss */
    dc_tensor *cbow = w2v_cbow_loss(m, dc_from_buffer(DC_I64, DC_SHAPE(1, 2), (int64_t[]){1, 1}), o, neg);
    CHECK_NEAR(dc_item(cbow), dc_item(loss), 1e-12);
    free(vi), free(vo), free(g);
    CHECK_ERROR(w2v_sgns_loss(m, c, o, dc_zeros(DC_I64, DC_SHAPE(2, 2))) == NULL, "int64 ids");
    CHECK_ERROR(w2v_new(1, 3, NULL) == NULL, "vocab (1)");
    dc_module_free(m);
}

TEST(test_w2v_batches_take_contexts_inside_the_window_and_never_the_positive_as_negative)
{
    /* 40 distinct words: id = position in the text (ties broken alphabetically) */
    char text[400] = "";
    for (int i = 0; i < 40; i++) snprintf(text + strlen(text), sizeof text - strlen(text), "w%02d ", i);
    w2v_vocab *v = w2v_vocab_build(text, 1, 0);
    int64_t n, *ids = w2v_encode(v, text, &n);
    REQUIRE(v && ids && n == 40 && ids[7] == 7);
    w2v_data *d = w2v_data_new(v, ids, n, 0, 3, 0);
    REQUIRE(d);
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    dc_tensor *a, *b, *neg;
    REQUIRE(w2v_batch(d, false, 200, 4, &rng, &a, &b, &neg) == 0);
    const int64_t *pa = dc_data(a), *pb = dc_data(b), *pn = dc_data(neg);
    for (int i = 0; i < 200; i++) {
        int64_t dist = llabs(pa[i] - pb[i]);
        CHECK(dist >= 1 && dist <= 3);
        for (int k = 0; k < 4; k++) CHECK(pn[i * 4 + k] != pb[i]);
    }
    REQUIRE(w2v_batch(d, true, 10, 2, &rng, &a, &b, &neg) == 0);
    CHECK(a->ndim == 2 && a->shape[1] == 6);
    pa = dc_data(a), pb = dc_data(b);
    for (int i = 0; i < 10; i++) CHECK(pa[i * 6] == pb[i] - 3 && pa[i * 6 + 5] == pb[i] + 3);
    w2v_data_free(d);
    free(ids);
    w2v_vocab_free(v);
}

TEST(test_w2v_nearest_analogy_and_pca_on_hand_made_vectors)
{
    /* man, woman, king, queen, apple */
    dc_tensor *e = dc_from_buffer(DC_F32, DC_SHAPE(5, 3),
                                  (float[]){1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 3, -1, -1});
    CHECK(w2v_analogy(e, 0, 1, 2) == 3);
    int64_t ids[2];
    double sims[2];
    int64_t ex = 0;
    REQUIRE(w2v_nearest(e, dc_select(e, 0, 0), 2, &ex, 1, ids, sims) == 2);
    CHECK(ids[0] == 4 && ids[1] == 1); /* apple (0.90), then woman (0.71) */
    CHECK_NEAR(sims[0], 3 / sqrt(11.0), 1e-6);
    /* points (t, 2t, s), s uncorrelated with t and of smaller spread: the first axis is (1, 2, 0) / sqrt 5, the second (0, 0, 1) */
    double t[6] = {-2, -1, 0, 1, 2, 3}, s[6] = {0.3, -0.2, -0.1, -0.1, -0.2, 0.3}, x[18];
    for (int i = 0; i < 6; i++) x[3 * i] = t[i], x[3 * i + 1] = 2 * t[i], x[3 * i + 2] = s[i];
    dc_tensor *p = w2v_pca2(dc_from_buffer(DC_F64, DC_SHAPE(6, 3), x));
    REQUIRE(p);
    double *pv = dc_test_values(p);
    double sign0 = pv[0] < 0 ? 1 : -1, sign1 = pv[1] * (s[0] - 0) > 0 ? 1 : -1;
    for (int i = 0; i < 6; i++) {
        CHECK_NEAR(sign0 * pv[2 * i], (t[i] - 0.5) * sqrt(5.0), 1e-9);
        CHECK_NEAR(sign1 * pv[2 * i + 1], s[i], 1e-9);
    }
    free(pv);
    CHECK_ERROR(w2v_pca2(dc_zeros(DC_F64, DC_SHAPE(1, 3))) == NULL, "n >= 2");
}

TEST(test_word2vec_task_trains_on_the_brown_sample_and_the_loss_falls)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&word2vec_task, "vec-dim = 16\nmin-count = 3\n", 256, 1e-2, 80,
                               &first, &last, &m));
    EXPECT(last < 0.8 * first, "loss %.4f -> %.4f did not fall by 20%%", first, last);
    CHECK(!strcmp(m.metrics[0].name, "loss") && dc_metrics_get(&m, "analogies_asked") >= 1);
}
