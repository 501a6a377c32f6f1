/* Quantization (include/deepc/quant.h): fp16 conversion, the Q8_0 / Q4_1 block formats
 * (exact bytes of hand-made blocks, round-trip error bounds), each ISA's kernels against the
 * portable ones and against dequantize-then-float, dc_qlinear / dc_qembedding, quantized
 * modules, quantized files (good and bad), and `deepc quantize` -> sample / eval. */
#include "test.h"
#include "quant/qkernels.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

static float bits_f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

TEST(test_quant_fp16_every_half_round_trips_and_hand_values_round_to_nearest_even)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = dc_fp16_to_fp32((uint16_t)h);
        uint16_t back = dc_fp32_to_fp16(f);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        if (nan ? !(isnan(f) && (back & 0x7c00) == 0x7c00 && (back & 0x3ff) && (back & 0x200) &&
                    (back & 0x8000) == (h & 0x8000))
                : back != h)
            bad++;
    }
    CHECK(bad == 0);
    struct { float x; uint16_t h; } cases[] = {
        {0.0f, 0x0000}, {-0.0f, 0x8000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {0.5f, 0x3800},
        {65504.0f, 0x7bff}, {65519.99f, 0x7bff}, {65520.0f, 0x7c00}, {1e9f, 0x7c00},
        {-INFINITY, 0xfc00}, {INFINITY, 0x7c00},
        {0x1p-14f, 0x0400}, {0x1p-24f, 0x0001}, {0x1p-25f, 0x0000}, {0x1.8p-25f, 0x0001},
        {0x1.8p-24f, 0x0002} /* tie 1.5 ulp -> even 2 */, {0x1.4p-24f, 0x0001},
        {0x1.ffcp-15f, 0x0400} /* subnormal rounding up into the smallest normal */,
        {1.0f + 0x1p-11f, 0x3c00} /* tie -> even */, {1.0f + 0x3p-11f, 0x3c02},
        {1.0f + 0x1.2p-11f, 0x3c01}, {3.14159265f, 0x4248}, {-1e-8f, 0x8000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        EXPECT(dc_fp32_to_fp16(cases[i].x) == cases[i].h, "fp16(%a) = 0x%04x, want 0x%04x",
               (double)cases[i].x, dc_fp32_to_fp16(cases[i].x), cases[i].h);
    CHECK(isnan(dc_fp16_to_fp32(0x7e00)) && isnan(dc_fp16_to_fp32(0xfd01)));
    CHECK((dc_fp32_to_fp16(NAN) & 0x7e00) == 0x7e00);
    CHECK(dc_fp16_to_fp32(0x0001) == 0x1p-24f && dc_fp16_to_fp32(0x83ff) == -0x3ffp-24f);
#ifdef __FLT16_MAX__
    /* random float32 bit patterns against the compiler's own conversion */
    uint64_t s = 12345;
    int mismatches = 0;
    for (int i = 0; i < 200000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        float x = bits_f32((uint32_t)(s >> 32));
        if (i % 2) x = ldexpf(x, -(int)(s % 23)); /* many near the fp16 range */
        if (isnan(x)) continue;
        _Float16 ref = (_Float16)x;
        uint16_t rb;
        memcpy(&rb, &ref, sizeof rb);
        if (rb != dc_fp32_to_fp16(x)) mismatches++;
    }
    CHECK(mismatches == 0);
#else
    printf("note: no _Float16 in this compiler; fp16 checked on hand values only\n");
#endif
}

/* The block at index b of a quantized tensor. */
static const uint8_t *block(const dc_qtensor *q, int64_t b)
{
    return q->data + (size_t)b * dc_qtype_block_bytes(q->type);
}

TEST(test_quant_q8_0_hand_made_block_has_exact_bytes_and_values)
{
    float x[64];
    for (int i = 0; i < 31; i++) x[i] = 0.5f * (float)(i - 16); /* -8 .. 7 */
    x[31] = 63.5f; /* max |x| = 127 * 0.5: d = 0.5 exactly */
    for (int i = 32; i < 64; i++) x[i] = 0; /* a zero block: d = 0 */
    dc_tensor *t = dc_from_buffer(DC_F32, 2, (int64_t[]){2, 32}, x);
    dc_qtensor *q = dc_quantize(t, DC_Q8_0);
    REQUIRE(q);
    CHECK(q->nbytes == 68);
    const uint8_t *b0 = block(q, 0), *b1 = block(q, 1);
    CHECK(b0[0] == 0x00 && b0[1] == 0x38); /* fp16 0.5, little-endian */
    for (int i = 0; i < 31; i++) CHECK((int8_t)b0[2 + i] == i - 16);
    CHECK((int8_t)b0[33] == 127);
    for (int i = 0; i < 34; i++) CHECK(b1[i] == 0);
    const float *y = dc_data(dc_dequantize(q));
    for (int i = 0; i < 64; i++) CHECK(y[i] == x[i]);
    /* a hand-written block decodes as d * q */
    uint8_t raw[34] = {0x00, 0x3c}; /* d = 1 */
    for (int i = 0; i < 32; i++) raw[2 + i] = (uint8_t)(int8_t)(i % 2 ? -i : i);
    dc_qtensor *h = dc_qtensor_from_bytes(DC_Q8_0, 1, (int64_t[]){32}, raw, sizeof raw);
    REQUIRE(h);
    const float *hy = dc_data(dc_dequantize(h));
    for (int i = 0; i < 32; i++) CHECK(hy[i] == (float)(i % 2 ? -i : i));
    dc_qtensor_free(h);
    dc_qtensor_free(q);
}

TEST(test_quant_q4_1_hand_made_block_packs_nibbles_low_first_half_high_second)
{
    float x[32];
    for (int i = 0; i < 32; i++) x[i] = 1.0f + 0.25f * (float)(i % 16); /* d 0.25, m 1 */
    dc_qtensor *q = dc_quantize(dc_from_buffer(DC_F32, 1, (int64_t[]){32}, x), DC_Q4_1);
    REQUIRE(q);
    CHECK(q->nbytes == 20);
    const uint8_t *b = q->data;
    CHECK(b[0] == 0x00 && b[1] == 0x34); /* d = 0.25 */
    CHECK(b[2] == 0x00 && b[3] == 0x3c); /* m = 1 */
    for (int j = 0; j < 16; j++) CHECK(b[4 + j] == (uint8_t)(j | j << 4));
    const float *y = dc_data(dc_dequantize(q));
    for (int i = 0; i < 32; i++) CHECK(y[i] == x[i]);
    dc_qtensor_free(q);
    /* raw: d = 2, m = -1, element j = low nibble, element j + 16 = high nibble */
    uint8_t raw[20] = {0x00, 0x40, 0x00, 0xbc};
    for (int j = 0; j < 16; j++) raw[4 + j] = (uint8_t)((15 - j) << 4 | j);
    dc_qtensor *h = dc_qtensor_from_bytes(DC_Q4_1, 1, (int64_t[]){32}, raw, sizeof raw);
    REQUIRE(h);
    const float *hy = dc_data(dc_dequantize(h));
    for (int j = 0; j < 16; j++) {
        CHECK(hy[j] == 2.0f * (float)j - 1.0f);
        CHECK(hy[j + 16] == 2.0f * (float)(15 - j) - 1.0f);
    }
    dc_qtensor_free(h);
}

/* |x - x^| <= d / 2 (plus float rounding of the decode) for every element. */
static int check_bound(const float *x, const dc_qtensor *q, int64_t n, double *worst_ratio)
{
    const float *y = dc_data(dc_dequantize(q));
    int bad = 0;
    *worst_ratio = 0;
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *b = block(q, i / DC_QBLOCK);
        double d = dc_fp16_to_fp32((uint16_t)(b[0] | b[1] << 8));
        double err = fabs((double)x[i] - (double)y[i]);
        double tol = d / 2 * (1 + 1e-6) + 4e-7 * fabs((double)x[i]) + 1e-30;
        if (err > tol) bad++;
        if (d > 0 && err / (d / 2) > *worst_ratio) *worst_ratio = err / (d / 2);
    }
    return bad;
}

TEST(test_quant_round_trip_error_is_at_most_half_a_step_at_every_scale)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    const double scales[] = {1e-6, 1e-3, 1.0, 37.0, 1e3, 1.2e4};
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        dc_tensor *t = dc_mul_scalar(dc_randn(&rng, DC_F32, 2, (int64_t[]){16, 128}), scales[s]);
        if (s == 2) t = dc_add_scalar(t, 20.0); /* off-centre blocks for Q4_1's minimum */
        for (int type = 0; type < DC_QTYPE_COUNT; type++) {
            dc_qtensor *q = dc_quantize(t, (dc_qtype)type);
            REQUIRE(q);
            double worst;
            int bad = check_bound(dc_data(t), q, dc_numel(t), &worst);
            EXPECT(bad == 0, "%s at scale %g: %d elements beyond d/2 (worst %.3f d/2)",
                   dc_qtype_name((dc_qtype)type), scales[s], bad, worst);
            CHECK(worst > 0.5); /* the bound is nearly reached: not vacuous */
            dc_qtensor_free(q);
        }
    }
    /* float64 and a transposed (strided) view quantize their logical values */
    dc_tensor *base = dc_randn(&rng, DC_F64, 2, (int64_t[]){64, 32});
    dc_qtensor *a = dc_quantize(dc_transpose(base, 0, 1), DC_Q8_0);
    dc_qtensor *b = dc_quantize(dc_contiguous(dc_to_dtype(dc_transpose(base, 0, 1), DC_F32)), DC_Q8_0);
    REQUIRE(a && b);
    CHECK(a->shape[0] == 32 && a->shape[1] == 64 && !memcmp(a->data, b->data, a->nbytes));
    dc_qtensor_free(a);
    dc_qtensor_free(b);
}

TEST(test_quant_bad_inputs_are_errors)
{
    float x[64] = {0};
    dc_tensor *t = dc_from_buffer(DC_F32, 2, (int64_t[]){2, 32}, x);
    CHECK_ERROR(dc_quantize(dc_from_buffer(DC_F32, 2, (int64_t[]){4, 16}, x), DC_Q8_0) == NULL,
                "multiple of 32");
    CHECK_ERROR(dc_quantize(dc_zeros(DC_I64, 1, (int64_t[]){32}), DC_Q8_0) == NULL, "float32 or float64");
    CHECK_ERROR(dc_quantize(t, (dc_qtype)7) == NULL, "unknown quantization type");
    CHECK_ERROR(dc_quantize(dc_scalar(DC_F32, 1), DC_Q8_0) == NULL, "scalar");
    CHECK_ERROR(dc_quantize(NULL, DC_Q8_0) == NULL, "NULL");
    x[5] = NAN;
    CHECK_ERROR(dc_quantize(dc_from_buffer(DC_F32, 2, (int64_t[]){2, 32}, x), DC_Q4_1) == NULL,
                "flat index 5 is not finite");
    x[5] = 1e10f; /* d = 1e10 / 127 > 65504 */
    CHECK_ERROR(dc_quantize(dc_from_buffer(DC_F32, 2, (int64_t[]){2, 32}, x), DC_Q8_0) == NULL,
                "beyond fp16's range");
    x[5] = -7e4f; /* Q4_1's minimum below -65504 */
    CHECK_ERROR(dc_quantize(dc_from_buffer(DC_F32, 2, (int64_t[]){2, 32}, x), DC_Q4_1) == NULL,
                "beyond fp16's range");
    CHECK(dc_qtype_from_name("q4_1") == DC_Q4_1 && dc_qtype_from_name("q8_0") == DC_Q8_0);
    CHECK_ERROR(dc_qtype_from_name("q5_k") < 0, "unknown quantization type 'q5_k'");
    uint8_t raw[68] = {0};
    CHECK_ERROR(dc_qtensor_from_bytes(DC_Q8_0, 2, (int64_t[]){2, 32}, raw, 67) == NULL,
                "needs 68 bytes of blocks, got 67 (truncated)");
    raw[34] = 0x00, raw[35] = 0x7c; /* the second block's scale is +inf */
    CHECK_ERROR(dc_qtensor_from_bytes(DC_Q8_0, 2, (int64_t[]){2, 32}, raw, 68) == NULL,
                "block 1 of the q8_0 [2, 32] has a non-finite scale");
    CHECK_ERROR(dc_qtensor_from_bytes(DC_Q4_1, 1, (int64_t[]){33}, raw, 20) == NULL, "multiple of 32");
}

/* Random weights [N, K] quantized, inputs [M, K]. */
static void isa_case(dc_qtype type, int64_t M, int64_t N, int64_t K, dc_rng *rng)
{
    dc_tensor *w = dc_randn(rng, DC_F32, 2, (int64_t[]){N, K});
    dc_tensor *x = dc_randn(rng, DC_F32, 2, (int64_t[]){M, K});
    dc_tensor *bias = dc_randn(rng, DC_F32, 1, &N);
    dc_qtensor *q = dc_quantize(w, type);
    if (!q) {
        CHECK(q);
        return;
    }
    /* reference: dequantize, then a float64 dot product */
    const float *wd = dc_data(dc_dequantize(q)), *xv = dc_data(x), *bv = dc_data(bias);
    double *ref = malloc((size_t)(M * N) * sizeof *ref), *abs_sum = malloc((size_t)(M * N) * sizeof *abs_sum);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = bv[n], a = fabs(bv[n]);
            for (int64_t k = 0; k < K; k++)
                s += (double)xv[m * K + k] * wd[n * K + k], a += fabs((double)xv[m * K + k] * wd[n * K + k]);
            ref[m * N + n] = s, abs_sum[m * N + n] = a;
        }
    float *portable = malloc((size_t)(M * N) * sizeof(float)), *y = malloc((size_t)(M * N) * sizeof(float));
    dc__qlinear_raw(dc__qdot_portable(), q, xv, bv, portable, M);
    const dc_qdot_kernels *isas[] = {dc__qdot_portable(), dc__qdot_avx2(), dc__qdot_avx512()};
    for (int isa = 0; isa < DC_ISA_COUNT; isa++) {
        if (isa > (int)dc_isa_detect() || !isas[isa]) {
            static bool said[DC_ISA_COUNT];
            if (!said[isa]) printf("note: skipping the %s quantized kernels (%s)\n", dc_isa_name((dc_isa)isa),
                                   isas[isa] ? "this CPU lacks them" : "not built");
            said[isa] = true;
            continue;
        }
        dc__qlinear_raw(isas[isa], q, xv, bv, y, M);
        int bad = 0;
        for (int64_t i = 0; i < M * N; i++) {
            double tol = 2e-6 * abs_sum[i] + 1e-6;
            if (!(fabs(y[i] - ref[i]) <= tol) || !(fabs(y[i] - portable[i]) <= 2 * tol)) bad++;
        }
        EXPECT(bad == 0, "%s %s M=%lld N=%lld K=%lld: %d outputs off", dc_isa_name((dc_isa)isa),
               dc_qtype_name(type), (long long)M, (long long)N, (long long)K, bad);
    }
    free(portable), free(y), free(ref), free(abs_sum);
    dc_qtensor_free(q);
}

TEST(test_quant_each_isa_kernel_matches_portable_and_dequantize_then_matmul)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    for (int type = 0; type < DC_QTYPE_COUNT; type++) {
        isa_case((dc_qtype)type, 1, 37, 96, &rng);   /* matrix-vector */
        isa_case((dc_qtype)type, 7, 45, 32, &rng);   /* tiles of 4 + a rest of 3 */
        isa_case((dc_qtype)type, 130, 300, 256, &rng); /* several chunks of the pool */
    }
}

TEST(test_quant_qlinear_matches_float_linear_within_the_quantization_error)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *w = dc_randn(&rng, DC_F32, 2, (int64_t[]){48, 64});
    dc_tensor *b = dc_randn(&rng, DC_F32, 1, (int64_t[]){48});
    dc_tensor *x = dc_randn(&rng, DC_F32, 3, (int64_t[]){2, 3, 64});
    for (int type = 0; type < DC_QTYPE_COUNT; type++) {
        dc_qtensor *q = dc_quantize(w, (dc_qtype)type);
        REQUIRE(q);
        dc_tensor *y = dc_qlinear(x, q, b);
        REQUIRE(y && y->ndim == 3 && y->shape[2] == 48 && !y->requires_grad);
        const float *yq = dc_data(y), *yd = dc_data(dc_linear(x, dc_dequantize(q), b));
        const float *yf = dc_data(dc_linear(x, w, b)), *xv = dc_data(x);
        for (int64_t m = 0; m < 6; m++)
            for (int64_t n = 0; n < 48; n++) {
                /* |sum x (w - w^)| <= sum |x| d / 2 */
                double bound = 0;
                for (int64_t k = 0; k < 64; k++) {
                    const uint8_t *blk = block(q, (n * 64 + k) / 32);
                    bound += fabs(xv[m * 64 + k]) * dc_fp16_to_fp32((uint16_t)(blk[0] | blk[1] << 8)) / 2;
                }
                CHECK_NEAR(yq[m * 48 + n], yd[m * 48 + n], 1e-4);
                CHECK_NEAR(yq[m * 48 + n], yf[m * 48 + n], bound + 1e-4);
            }
        /* the same on one thread and on several */
        int threads = dc_get_num_threads();
        dc_set_num_threads(1);
        dc_tensor *y1 = dc_qlinear(x, q, NULL);
        dc_set_num_threads(3);
        dc_tensor *y3 = dc_qlinear(x, q, NULL);
        dc_set_num_threads(threads);
        REQUIRE(y1 && y3);
        CHECK(!memcmp(dc_data(y1), dc_data(y3), 6 * 48 * sizeof(float)));
        /* errors; x unchanged */
        dc_tensor *xg = dc_requires_grad(dc_clone(x), true);
        CHECK_ERROR(dc_qlinear(xg, q, b) == NULL, "inference only: x requires grad");
        bool grad = dc_no_grad_begin();
        CHECK(dc_qlinear(xg, q, b) != NULL);
        dc_grad_mode_restore(grad);
        CHECK_ERROR(dc_qlinear(dc_randn(&rng, DC_F32, 2, (int64_t[]){2, 32}), q, b) == NULL,
                    "last dim must be in_features 64");
        CHECK_ERROR(dc_qlinear(x, q, dc_zeros(DC_F32, 1, (int64_t[]){47})) == NULL, "bias must be float32 [48]");
        CHECK_ERROR(dc_qlinear(dc_to_dtype(x, DC_F64), q, b) == NULL, "x must be float32");
        CHECK_ERROR(dc_qlinear(x, NULL, b) == NULL, "NULL");
        dc_qtensor_free(q);
    }
}

TEST(test_quant_qembedding_returns_dequantized_rows)
{
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_tensor *table = dc_randn(&rng, DC_F32, 2, (int64_t[]){10, 64});
    dc_qtensor *q = dc_quantize(table, DC_Q4_1);
    REQUIRE(q);
    int64_t ids_v[6] = {3, 0, 9, 3, 1, 2};
    dc_tensor *ids = dc_from_buffer(DC_I64, 2, (int64_t[]){2, 3}, ids_v);
    dc_tensor *e = dc_qembedding(ids, q);
    REQUIRE(e && e->ndim == 3 && e->shape[0] == 2 && e->shape[1] == 3 && e->shape[2] == 64);
    const float *ev = dc_data(e), *dq = dc_data(dc_dequantize(q));
    for (int i = 0; i < 6; i++) CHECK(!memcmp(ev + i * 64, dq + ids_v[i] * 64, 64 * sizeof(float)));
    ids_v[4] = 10;
    CHECK_ERROR(dc_qembedding(dc_from_buffer(DC_I64, 1, (int64_t[]){6}, ids_v), q) == NULL,
                "id 10 at flat index 4 is out of range [0, 10)");
    CHECK_ERROR(dc_qembedding(dc_zeros(DC_I32, 1, (int64_t[]){2}), q) == NULL, "ids must be int64");
    dc_qtensor_free(q);
}

static dc_module *tiny_gpt(uint64_t seed, int64_t vocab)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_gpt_config c = {.vocab = vocab, .context = 16, .layers = 1, .heads = 2, .dim = 32};
    return dc_gpt_new(&c, &rng);
}

static dc_tensor *gpt_logits(dc_module *gpt)
{
    int64_t ids[2 * 8];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7) % 40;
    bool grad = dc_no_grad_begin();
    dc_module_train(gpt, false);
    dc_tensor *y = dc_forward(gpt, dc_from_buffer(DC_I64, 2, (int64_t[]){2, 8}, ids));
    dc_grad_mode_restore(grad);
    return y;
}

TEST(test_quant_module_quantize_replaces_linear_and_embedding_weights_and_uses_blocks)
{
    dc_module *gpt = tiny_gpt(1, 40);
    REQUIRE(gpt);
    dc_tensor *before = gpt_logits(gpt);
    CHECK(dc_module_quantize(gpt, DC_Q8_0, "head") == 1);
    CHECK(dc_module_qweight(dc_module_child(gpt, "head")) != NULL);
    CHECK(dc_module_qweight(dc_module_child(gpt, "tok_emb")) == NULL);
    /* tok_emb, the two feed-forward Linears and head (attention has its own parameters) */
    CHECK(dc_module_quantize(gpt, DC_Q4_1, NULL) == 4);
    CHECK(dc_module_qweight(dc_module_child(gpt, "blocks.0.ffw.fc1")) != NULL);
    dc_tensor *after = gpt_logits(gpt);
    REQUIRE(before && after);
    /* the float weights now hold the dequantized values: grad-mode forward (float kernels)
     * agrees with the block kernels */
    dc_module_train(gpt, false);
    int64_t ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7) % 40;
    dc_tensor *float_path = dc_forward(gpt, dc_from_buffer(DC_I64, 2, (int64_t[]){2, 8}, ids));
    REQUIRE(float_path && float_path->requires_grad);
    const float *a = dc_data(after), *f = dc_data(float_path), *b = dc_data(before);
    double max_change = 0;
    for (int64_t i = 0; i < dc_numel(after); i++) {
        CHECK_NEAR(a[i], f[i], 1e-4);
        max_change = fmax(max_change, fabs(a[i] - b[i]));
    }
    CHECK(max_change > 0 && max_change < 0.5);
    /* a Linear whose rows are not whole blocks: an error naming it, the model untouched */
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    dc_module *seq = dc_sequential_new(2, dc_linear_new(64, 20, true, &rng), dc_linear_new(20, 5, true, &rng));
    REQUIRE(seq);
    dc_tensor *w0 = dc_clone(dc_module_param(seq, "0.weight"));
    CHECK_ERROR(dc_module_quantize(seq, DC_Q8_0, "*") < 0, "module '1' (Linear)");
    CHECK(dc_module_qweight(dc_module_child(seq, "0")) == NULL);
    CHECK(!memcmp(dc_data(w0), dc_data(dc_module_param(seq, "0.weight")), 64 * 20 * sizeof(float)));
    CHECK(dc_module_quantize(seq, DC_Q8_0, "0") == 1);
    CHECK(dc_module_quantize(seq, DC_Q8_0, "nothing*") == 0);
    dc_module_free(seq);
    dc_module_free(gpt);
}

TEST(test_quant_file_save_load_gives_the_same_logits_and_bad_files_leave_the_model_untouched)
{
    if (!dc_test_have("jansson")) return;
    char path[128], bad[128];
    dc_test_tmp_path(path, sizeof path, "quant.safetensors");
    dc_test_tmp_path(bad, sizeof bad, "quant_bad.safetensors");
    dc_module *gpt = tiny_gpt(1, 40);
    REQUIRE(gpt);
    REQUIRE(dc_module_quantize(gpt, DC_Q4_1, "blocks.*") == 2);
    REQUIRE(dc_module_quantize(gpt, DC_Q8_0, "head") == 1);
    const char *kv[] = {"note", "test"};
    REQUIRE(dc_quant_save(path, gpt, kv, 1) == 0);
    CHECK(dc_quant_file_is_quantized(path));
    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f);
    CHECK(!strcmp(dc_safetensors_metadata(f, "quant.head.weight"), "q8_0"));
    CHECK(!strcmp(dc_safetensors_metadata(f, "quantization"), "q8_0,q4_1"));
    dc_tensor *hw = dc_safetensors_get(f, "head.weight");
    CHECK(hw && hw->dtype == DC_U8 && hw->shape[0] == 40 && hw->shape[1] == 34);
    dc_safetensors_close(f);
    dc_tensor *want = gpt_logits(gpt);

    dc_module *fresh = tiny_gpt(99, 40);
    REQUIRE(fresh);
    CHECK(dc_quant_load(path, fresh) == 3);
    CHECK(dc_module_qweight(dc_module_child(fresh, "head"))->type == DC_Q8_0);
    dc_tensor *got = gpt_logits(fresh);
    REQUIRE(want && got);
    CHECK(!memcmp(dc_data(want), dc_data(got), (size_t)dc_numel(want) * sizeof(float)));

    /* bad files: each an error, the model's state unchanged */
    dc_module *victim = tiny_gpt(5, 40);
    dc_tensor *ref = dc_clone(dc_module_param(victim, "head.weight"));
    size_t len = 0;
    unsigned char *bytes = dc_test_read_file(path, &len);
    REQUIRE(bytes);
    REQUIRE(dc_test_write_file(bad, bytes, len - 100)); /* truncated */
    CHECK_ERROR(dc_quant_load(bad, victim) < 0, "");
    free(bytes);
    dc_module *other = tiny_gpt(1, 41); /* another vocabulary: mismatched shapes */
    CHECK_ERROR(dc_quant_load(path, other) < 0, "in the model");
    /* a quantized tensor one row short of bytes */
    const dc_tensor *u8 = dc_zeros(DC_U8, 2, (int64_t[]){40, 33});
    dc_tensor_list state;
    REQUIRE(dc_module_state(victim, &state) == 0);
    dc_named_tensor *items = calloc((size_t)state.n, sizeof *items);
    for (int i = 0; i < state.n; i++) {
        items[i].name = state.names[i];
        items[i].tensor = strcmp(state.names[i], "head.weight") ? state.tensors[i] : u8;
    }
    const char *meta[] = {"quantization", "q8_0", "quant.head.weight", "q8_0"};
    REQUIRE(dc_safetensors_save(bad, items, state.n, meta, 2) == 0);
    CHECK_ERROR(dc_quant_load(bad, victim) < 0, "a truncated or mismatched tensor");
    const char *meta2[] = {"quantization", "q8_0", "quant.head.weight", "q9_9"};
    REQUIRE(dc_safetensors_save(bad, items, state.n, meta2, 2) == 0);
    CHECK_ERROR(dc_quant_load(bad, victim) < 0, "that format is unknown");
    const char *meta3[] = {"quantization", "q8_0", "quant.ln_f.weight", "q8_0"};
    items[0].tensor = state.tensors[0];
    for (int i = 0; i < state.n; i++) items[i].tensor = state.tensors[i];
    REQUIRE(dc_safetensors_save(bad, items, state.n, meta3, 2) == 0);
    CHECK_ERROR(dc_quant_load(bad, victim) < 0, "not a Linear or Embedding weight");
    REQUIRE(dc_safetensors_save(bad, items, state.n, NULL, 0) == 0);
    CHECK_ERROR(dc_quant_load(bad, victim) < 0, "not a quantized checkpoint");
    CHECK(!memcmp(dc_data(ref), dc_data(dc_module_param(victim, "head.weight")), 40 * 32 * sizeof(float)));
    CHECK(dc_module_qweight(dc_module_child(victim, "head")) == NULL);
    free(items);
    dc_tensor_list_free(&state);
    unlink(path);
    unlink(bad);
    dc_module_free(other);
    dc_module_free(victim);
    dc_module_free(fresh);
    dc_module_free(gpt);
}

/* ---- the command ---------------------------------------------------------------------- */

enum { OUT_SIZE = 1 << 16 };
static char out[OUT_SIZE];

#define CHECK_DEEPC(status, fragment, ...) CHECK_DEEPC_INTO(out, status, fragment, __VA_ARGS__)

TEST(test_quant_cli_quantize_then_sample_and_eval_load_the_file)
{
#ifndef DC_HAVE_JANSSON
    printf("note: deepc built without jansson (checkpoints); skipping\n");
    return;
#endif
    char dir[64] = "/tmp/deepc_quant_XXXXXX";
    REQUIRE(mkdtemp(dir));
    CHECK_DEEPC(0, "perplexity", "train --model gpt --layers 1 --heads 2 --dim 32 --context 16 "
                "--batch 8 --epochs 1 --steps-per-epoch 3 --data ../assets/names_sample.txt --out %s", dir);
    CHECK_DEEPC(0, "quantized 4 Linear/Embedding weights of gpt to q8_0",
                "quantize %s/checkpoint.safetensors %s/q8.safetensors --type q8_0", dir, dir);
    char sub[128];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    REQUIRE(mkdir(sub, 0700) == 0);
    CHECK_DEEPC(0, "to q4_1", "quantize %s/checkpoint.safetensors %s/sub/q4.safetensors --type=q4_1", dir, dir);
    CHECK_DEEPC(0, "perplexity", "eval --checkpoint %s/q8.safetensors", dir);
    CHECK_DEEPC(0, "", "sample --checkpoint %s/q8.safetensors --n 30 --seed 3", dir);
    CHECK(strlen(out) > 10);
    /* --type=q4_1 into another directory: it gets the tokenizer and loads */
    CHECK_DEEPC(0, "", "sample --checkpoint %s/sub/q4.safetensors --n 20", dir);
    CHECK_DEEPC(0, "perplexity", "eval --checkpoint %s/sub/q4.safetensors", dir);
    /* errors */
    CHECK_DEEPC(2, "--type must be q8_0 or q4_1", "quantize %s/checkpoint.safetensors %s/x --type q3", dir, dir);
    CHECK_DEEPC(2, "already quantized", "quantize %s/q8.safetensors %s/x", dir, dir);
    CHECK_DEEPC(2, "need IN and OUT", "quantize %s/checkpoint.safetensors", dir);
    CHECK_DEEPC(2, "no Linear or Embedding layer", "quantize %s/checkpoint.safetensors %s/x --pattern zz", dir, dir);
    CHECK_DEEPC(1, "", "quantize %s/missing.safetensors %s/x", dir, dir);
    CHECK_DEEPC(0, "usage: deepc quantize", "quantize --help");
    /* a truncated quantized file: eval fails with one line */
    size_t len = 0;
    char path[160];
    snprintf(path, sizeof path, "%s/q8.safetensors", dir);
    unsigned char *bytes = dc_test_read_file(path, &len);
    REQUIRE(bytes);
    REQUIRE(dc_test_write_file(path, bytes, len / 2));
    free(bytes);
    CHECK_DEEPC(1, "", "eval --checkpoint %s/q8.safetensors", dir);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}
