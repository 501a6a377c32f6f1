/* Attention operator (book §4.10) and multi-head attention layer (§4.12). */
#include "gradcheck.h"

/* Naive att(Q, K, V) for one [N, D] matrix triple, optionally causal, in double. */
static void naive_attention(const double *q, const double *k, const double *v, int nq, int nkv,
                            int dqk, int dv, bool causal, double *out)
{
    for (int i = 0; i < nq; i++) {
        double scores[16], mx = -INFINITY, total = 0;
        for (int j = 0; j < nkv; j++) {
            double s = 0;
            for (int d = 0; d < dqk; d++) s += q[i * dqk + d] * k[j * dqk + d];
            scores[j] = causal && j > i ? -INFINITY : s / sqrt((double)dqk);
            mx = scores[j] > mx ? scores[j] : mx;
        }
        for (int j = 0; j < nkv; j++) total += (scores[j] = exp(scores[j] - mx));
        for (int d = 0; d < dv; d++) {
            out[i * dv + d] = 0;
            for (int j = 0; j < nkv; j++) out[i * dv + d] += scores[j] / total * v[j * dv + d];
        }
    }
}

TEST(test_attention_matches_naive_formula_and_causal_mask)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    dc_tensor *q = dc_randn(&rng, DC_F64, DC_SHAPE(2, 5, 3));
    dc_tensor *k = dc_randn(&rng, DC_F64, DC_SHAPE(2, 6, 3));
    dc_tensor *v = dc_randn(&rng, DC_F64, DC_SHAPE(2, 6, 4));
    for (int causal = 0; causal < 2; causal++) {
        dc_tensor *y = dc_scaled_dot_product_attention(q, k, v, NULL, causal, 0, false, NULL);
        REQUIRE(y && y->shape[0] == 2 && y->shape[1] == 5 && y->shape[2] == 4);
        double *vq = dc_test_values(q), *vk = dc_test_values(k), *vv = dc_test_values(v);
        double *got = dc_test_values(y), expect[2 * 5 * 4];
        for (int b = 0; b < 2; b++)
            naive_attention(vq + b * 15, vk + b * 18, vv + b * 24, 5, 6, 3, 4, causal, expect + b * 20);
        CHECK_ALLCLOSE(causal ? "causal attention" : "attention", got, expect, 40, 1e-12, 1e-12);
        free(vq), free(vk), free(vv), free(got);
    }
    /* a boolean mask equal to the causal pattern gives the same result */
    dc_tensor *allowed = dc_zeros(DC_F64, DC_SHAPE(5, 6));
    for (int i = 0; i < 5; i++)
        for (int j = 0; j <= i; j++) ((double *)dc_data(allowed))[i * 6 + j] = 1;
    dc_tensor *a = dc_scaled_dot_product_attention(q, k, v, allowed, false, 0, false, NULL);
    dc_tensor *b = dc_scaled_dot_product_attention(q, k, v, NULL, true, 0, false, NULL);
    double *va = dc_test_values(a), *vb = dc_test_values(b);
    REQUIRE(va && vb);
    CHECK_ALLCLOSE("mask == causal", va, vb, 40, 0, 1e-14);
    free(va), free(vb);
    CHECK_ERROR(dc_scaled_dot_product_attention(q, v, v, NULL, false, 0, false, NULL) == NULL,
                "same last dim");
}

static dc_tensor *attention_fn(dc_tensor *const *in, void *ctx)
{
    bool causal = ctx != NULL;
    return dc_scaled_dot_product_attention(in[0], in[1], in[2], NULL, causal, 0, false, NULL);
}

TEST(test_attention_gradcheck_f64)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *in[3] = {
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 2, 4, 3)), true),
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 2, 5, 3)), true),
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 2, 5, 2)), true),
    };
    CHECK_GRADIENTS("attention", attention_fn, NULL, 3, in, NULL);
    CHECK_GRADIENTS("causal attention", attention_fn, (void *)1, 3, in, NULL);
}

TEST(test_multihead_attention_book_shapes_and_heads)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    /* D = 8, H = 2, D_qk = 3, D_v = 4 */
    dc_module *mha = dc_mha_new(8, 2, 3, 4, false, 0.0, &rng);
    REQUIRE(mha);
    CHECK(dc_module_num_params(mha, false) == 2 * 8 * 3 * 2 + 2 * 8 * 4 + 8 * 8);
    dc_tensor *wq = dc_module_param(mha, "w_q"), *wo = dc_module_param(mha, "w_o");
    CHECK(wq && wq->ndim == 3 && wq->shape[0] == 2 && wq->shape[2] == 3);
    CHECK(wo && wo->shape[0] == 8 && wo->shape[1] == 8);
    dc_tensor *xq = dc_randn(&rng, DC_F32, DC_SHAPE(1, 3, 8));
    dc_tensor *xkv = dc_randn(&rng, DC_F32, DC_SHAPE(1, 5, 8));
    dc_tensor *y = dc_mha_forward(mha, xq, xkv, NULL);
    REQUIRE(y && y->shape[1] == 3 && y->shape[2] == 8);
    /* eq. 4.12-4.13 by hand: Y = (Y_1 | Y_2) W^o with Y_h = att(Xq Wq_h, Xkv Wk_h, Xkv Wv_h) */
    dc_tensor *heads[2];
    for (int h = 0; h < 2; h++) {
        dc_tensor *qh = dc_matmul(xq, dc_select(wq, 0, h));
        dc_tensor *kh = dc_matmul(xkv, dc_select(dc_module_param(mha, "w_k"), 0, h));
        dc_tensor *vh = dc_matmul(xkv, dc_select(dc_module_param(mha, "w_v"), 0, h));
        heads[h] = dc_scaled_dot_product_attention(qh, kh, vh, NULL, false, 0, false, NULL);
    }
    dc_tensor *expect = dc_matmul(dc_cat(heads, 2, -1), wo);
    double *g = dc_test_values(y), *e = dc_test_values(expect);
    REQUIRE(g && e);
    CHECK_ALLCLOSE("multi-head attention", g, e, 24, 1e-5, 1e-6);
    free(g), free(e);
    /* the same for every weight's gradient (the projections run as one matmul with the
     * weights side by side: queries alone, keys and values together) */
    static const char *names[4] = {"w_q", "w_k", "w_v", "w_o"};
    dc_tensor *grads[4];
    REQUIRE(dc_backward(dc_sum_all(dc_mul(y, y))) == 0);
    for (int i = 0; i < 4; i++) {
        dc_tensor *w = dc_module_param(mha, names[i]);
        grads[i] = dc_clone(w->grad);
        dc_zero_grad(w);
    }
    REQUIRE(dc_backward(dc_sum_all(dc_mul(expect, expect))) == 0);
    for (int i = 0; i < 4; i++) {
        dc_tensor *w = dc_module_param(mha, names[i]);
        g = dc_test_values(grads[i]), e = dc_test_values(w->grad);
        REQUIRE(g && e);
        CHECK_ALLCLOSE(names[i], g, e, dc_numel(w), 1e-5, 1e-6);
        free(g), free(e);
        dc_zero_grad(w);
    }
    /* self-attention through dc_forward, and a backward reaching every weight */
    dc_tensor *loss = dc_mean_all(dc_forward(mha, xq));
    REQUIRE(loss && dc_backward(loss) == 0);
    CHECK(wq->grad && wo->grad && dc_module_param(mha, "w_v")->grad);
    CHECK_ERROR(dc_mha_forward(mha, xkv, dc_randn(&rng, DC_F32, DC_SHAPE(1, 5, 7)), NULL) == NULL,
                "keys/values must be");
    dc_module_free(mha);
}

/* Decoding with a KV cache (dc_mha_forward_cached): feeding the positions in chunks, each
 * chunk's output equals the same rows of the full forward, for a causal module (new queries
 * see cached keys and new keys up to their own) and a non-causal one (the last rows see every
 * key); bad caches are errors that leave the caches untouched. */
TEST(test_mha_forward_cached_matches_the_full_forward_chunk_by_chunk)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    for (int causal = 1; causal >= 0; causal--) {
        dc_module *mha = dc_mha_new(8, 2, 3, 4, causal, 0.0, &rng);
        REQUIRE(mha);
        dc_module_train(mha, false);
        dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(2, 7, 8));
        dc_tensor *full = dc_forward(mha, x);
        static const int64_t chunks[] = {3, 1, 2, 1};
        dc_tensor *keys = NULL, *values = NULL;
        int64_t at = 0;
        for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
            dc_tensor *y = dc_mha_forward_cached(mha, dc_narrow(x, 1, at, chunks[c]), &keys, &values);
            REQUIRE(y && keys && values && keys->shape[2] == at + chunks[c]);
            CHECK(keys->shape[0] == 2 && keys->shape[1] == 2 && keys->shape[3] == 3 && values->shape[3] == 4);
            /* causal: every chunk is rows of the full forward; non-causal: only the last one */
            dc_tensor *want = causal ? dc_narrow(full, 1, at, chunks[c])
                                     : dc_narrow(dc_forward(mha, dc_narrow(x, 1, 0, at + chunks[c])), 1,
                                                 at, chunks[c]);
            double *g = dc_test_values(y), *e = dc_test_values(want);
            REQUIRE(g && e);
            char label[64];
            snprintf(label, sizeof label, "%s chunk %zu", causal ? "causal" : "non-causal", c);
            CHECK_ALLCLOSE(label, g, e, dc_numel(y), 1e-5, 1e-6);
            free(g), free(e);
            at += chunks[c];
        }
        /* errors: the caches stay as they were */
        dc_tensor *k_before = keys, *v_before = values, *none = NULL;
        CHECK_ERROR(!dc_mha_forward_cached(mha, dc_randn(&rng, DC_F32, DC_SHAPE(3, 1, 8)), &keys, &values),
                    "caches must be [3, 2, n, 3]");
        CHECK_ERROR(!dc_mha_forward_cached(mha, dc_randn(&rng, DC_F32, DC_SHAPE(2, 1, 8)), &keys, &none),
                    "both be empty or both be set");
        CHECK_ERROR(!dc_mha_forward_cached(mha, dc_randn(&rng, DC_F32, DC_SHAPE(2, 1, 5)), &keys, &values),
                    "input must be [B, T, 8]");
        CHECK_ERROR(!dc_mha_forward_cached(NULL, x, &keys, &values), "not a MultiheadAttention");
        CHECK(keys == k_before && values == v_before && keys->shape[2] == 7);
        dc_tensor_free(keys), dc_tensor_free(values);
        dc_module_free(mha);
    }
}
