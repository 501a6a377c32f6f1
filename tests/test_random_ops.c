/* Random draws of src/core/rng.c: randint, randperm, multinomial, bernoulli of a tensor.
 *
 * Statistical checks use fixed seeds, so each is deterministic; tolerances are about five
 * standard deviations of the checked frequency, so a correct sampler passes for any seed and
 * a biased one (wrong category, off-by-one range, repeated index) fails by far. Every draw
 * depends only on (seed, position), so the same seed gives the same values on 1 and 2
 * threads (the large draws below are split over the pool). */
#include "test.h"

#include <stdlib.h>

/* Values of an int64 tensor (malloc'ed). */
static int64_t *ints(const dc_tensor *t)
{
    int64_t n = dc_numel(t);
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (v) memcpy(v, dc_data(t), (size_t)n * sizeof *v);
    return v;
}

/* The draw `make` on a fresh generator seeded with `seed`, run on 1 and on 2 threads: the
 * results are byte-identical. */
typedef dc_tensor *(*draw_fn)(dc_rng *rng);
static void check_thread_invariant(const char *what, draw_fn make)
{
    int prev = dc_get_num_threads();
    dc_tensor *out[2];
    for (int k = 0; k < 2; k++) {
        dc_set_num_threads(k + 1);
        dc_rng rng;
        dc_rng_seed(&rng, 77);
        out[k] = make(&rng);
    }
    dc_set_num_threads(prev);
    if (!out[0] || !out[1]) {
        dc_test_fail(__FILE__, __LINE__, "%s: draw failed: %s", what, dc_last_error());
        return;
    }
    size_t bytes = (size_t)dc_numel(out[0]) * dc_dtype_size(out[0]->dtype);
    EXPECT(dc_numel(out[0]) == dc_numel(out[1]) && memcmp(dc_data(out[0]), dc_data(out[1]), bytes) == 0,
           "%s differs between 1 and 2 threads", what);
}

static dc_tensor *big_randint(dc_rng *rng) { return dc_randint(rng, -5, 1000003, DC_SHAPE(300, 1000)); }
static dc_tensor *big_randperm(dc_rng *rng) { return dc_randperm(rng, 100000); }
static dc_tensor *big_bernoulli(dc_rng *rng)
{
    dc_rng probs_rng; /* the same probabilities for both runs */
    dc_rng_seed(&probs_rng, 99);
    dc_tensor *p = dc_rand(&probs_rng, DC_F32, DC_SHAPE(200, 1000));
    return dc_bernoulli_tensor(rng, p);
}
static dc_tensor *weights_rows(int64_t rows, int64_t n_cat)
{
    dc_tensor *w = dc_empty(DC_F64, DC_SHAPE(rows, n_cat));
    double *v = dc_data(w);
    for (int64_t i = 0; i < rows * n_cat; i++) v[i] = (double)(i % n_cat + 1);
    return w;
}
static dc_tensor *big_multinomial(dc_rng *rng)
{
    return dc_multinomial(rng, weights_rows(5000, 10), 6, true);
}
static dc_tensor *big_multinomial_no_replacement(dc_rng *rng)
{
    return dc_multinomial(rng, weights_rows(5000, 10), 6, false);
}

TEST(test_random_draws_are_identical_on_one_and_two_threads)
{
    check_thread_invariant("randint", big_randint);
    check_thread_invariant("randperm", big_randperm);
    check_thread_invariant("bernoulli_tensor", big_bernoulli);
    check_thread_invariant("multinomial with replacement", big_multinomial);
    check_thread_invariant("multinomial without replacement", big_multinomial_no_replacement);
}

TEST(test_randint_covers_its_range_uniformly)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    const int64_t n = 60000, low = -3, high = 3;
    dc_tensor *t = dc_randint(&rng, low, high, DC_SHAPE(n));
    REQUIRE(t && t->dtype == DC_I64 && t->ndim == 1 && t->shape[0] == n);
    int64_t counts[6] = {0}, *v = ints(t);
    bool in_range = true;
    for (int64_t i = 0; i < n; i++) {
        in_range = in_range && v[i] >= low && v[i] < high;
        if (v[i] >= low && v[i] < high) counts[v[i] - low]++;
    }
    CHECK(in_range);
    for (int k = 0; k < 6; k++) /* 10000 expected, sd ~91 */
        EXPECT(llabs(counts[k] - 10000) < 500, "value %d drawn %lld times of %lld", (int)(k + low),
               (long long)counts[k], (long long)n);
    free(v);
    /* the generator advances: the next draw differs; the same seed repeats it */
    dc_tensor *u = dc_randint(&rng, low, high, DC_SHAPE(n));
    dc_rng again;
    dc_rng_seed(&again, 1);
    dc_tensor *w = dc_randint(&again, low, high, DC_SHAPE(n));
    REQUIRE(u && w);
    CHECK(memcmp(dc_data(t), dc_data(u), (size_t)n * 8) != 0);
    CHECK(memcmp(dc_data(t), dc_data(w), (size_t)n * 8) == 0);
    /* the full int64 span and a one-value range */
    dc_tensor *wide = dc_randint(&rng, INT64_MIN, INT64_MAX, DC_SHAPE(4));
    dc_tensor *one = dc_randint(&rng, 7, 8, DC_SHAPE(3));
    REQUIRE(wide && one);
    CHECK(dc_item_at(one, (int64_t[]){2}) == 7);
    CHECK_ERROR(!dc_randint(&rng, 3, 3, DC_SHAPE(2)), "must be greater than low");
    CHECK_ERROR(!dc_randint(&rng, 0, 2, DC_SHAPE(-1)), "");
}

TEST(test_randperm_is_a_uniform_permutation)
{
    dc_rng rng;
    dc_rng_seed(&rng, 2);
    const int64_t n = 1000;
    dc_tensor *p = dc_randperm(&rng, n);
    REQUIRE(p && p->dtype == DC_I64 && p->shape[0] == n);
    int64_t *v = ints(p);
    char *seen = calloc((size_t)n, 1);
    bool perm = true, moved = false;
    for (int64_t i = 0; i < n; i++) {
        perm = perm && v[i] >= 0 && v[i] < n && !seen[v[i]];
        if (v[i] >= 0 && v[i] < n) seen[v[i]] = 1;
        moved = moved || v[i] != i;
    }
    CHECK(perm && moved);
    free(seen);
    free(v);
    /* all 6 orders of 3 elements equally often: 6000 draws, 1000 each (sd ~29) */
    int64_t counts[6] = {0};
    for (int k = 0; k < 6000; k++) {
        size_t scope = dc_scope_begin();
        dc_tensor *q = dc_randperm(&rng, 3);
        const int64_t *a = dc_data(q);
        int code = (int)(a[0] * 2 + (a[1] > a[2])); /* first element and the order of the rest */
        counts[code]++;
        dc_scope_end(scope);
    }
    for (int k = 0; k < 6; k++)
        EXPECT(llabs(counts[k] - 1000) < 150, "order %d drawn %lld times of 6000", k,
               (long long)counts[k]);
    dc_tensor *empty = dc_randperm(&rng, 0);
    REQUIRE(empty && dc_numel(empty) == 0);
    CHECK_ERROR(!dc_randperm(&rng, -1), "n must be >= 0");
}

TEST(test_multinomial_with_replacement_follows_the_weights)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    /* unnormalised weights 1:0:3:4 (p = 0.125, 0, 0.375, 0.5) */
    dc_tensor *w = dc_from_buffer(DC_F32, DC_SHAPE(4), (float[]){1, 0, 3, 4});
    const int64_t n = 80000;
    dc_tensor *s = dc_multinomial(&rng, w, n, true);
    REQUIRE(s && s->dtype == DC_I64 && s->ndim == 1 && s->shape[0] == n);
    int64_t counts[4] = {0}, *v = ints(s);
    for (int64_t i = 0; i < n; i++)
        if (v[i] >= 0 && v[i] < 4) counts[v[i]]++;
    free(v);
    const double p[4] = {0.125, 0, 0.375, 0.5};
    for (int k = 0; k < 4; k++) /* sd of a frequency <= 0.5 / sqrt(n) = 0.0018 */
        EXPECT(fabs((double)counts[k] / (double)n - p[k]) < 0.009,
               "category %d: frequency %g, expected %g", k, (double)counts[k] / (double)n, p[k]);
    CHECK(counts[1] == 0); /* a zero weight is never drawn */
    CHECK(counts[0] + counts[1] + counts[2] + counts[3] == n);
    /* rows of a batch draw from their own weights */
    dc_tensor *rows = dc_from_buffer(DC_F64, DC_SHAPE(2, 3), (double[]){0, 0, 5, 2, 2, 0});
    dc_tensor *b = dc_multinomial(&rng, rows, 1000, true);
    REQUIRE(b && b->ndim == 2 && b->shape[0] == 2 && b->shape[1] == 1000);
    const int64_t *bv = dc_data(b);
    int64_t row1_zero = 0;
    bool ok = true;
    for (int i = 0; i < 1000; i++) {
        ok = ok && bv[i] == 2 && (bv[1000 + i] == 0 || bv[1000 + i] == 1);
        row1_zero += bv[1000 + i] == 0;
    }
    CHECK(ok);
    EXPECT(llabs(row1_zero - 500) < 90, "row 1 drew category 0 %lld times of 1000",
           (long long)row1_zero);
}

TEST(test_multinomial_without_replacement_never_repeats)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    const int64_t rows = 20000, n_cat = 4, k = 3;
    dc_tensor *w = dc_empty(DC_F64, DC_SHAPE(rows, n_cat));
    double *wv = dc_data(w);
    for (int64_t i = 0; i < rows * n_cat; i++) wv[i] = (double)(i % n_cat + 1); /* 1:2:3:4 */
    dc_tensor *s = dc_multinomial(&rng, w, k, false);
    REQUIRE(s && s->shape[0] == rows && s->shape[1] == k);
    const int64_t *v = dc_data(s);
    int64_t first[4] = {0}, repeats = 0;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t *row = v + r * k;
        repeats += row[0] == row[1] || row[0] == row[2] || row[1] == row[2];
        if (row[0] >= 0 && row[0] < n_cat) first[row[0]]++;
    }
    CHECK(repeats == 0);
    /* the first draw of sequential sampling has probability w / sum(w) */
    for (int c = 0; c < 4; c++) {
        double f = (double)first[c] / (double)rows, want = (c + 1) / 10.0;
        EXPECT(fabs(f - want) < 0.0155, "first sample %d: frequency %g, expected %g", c, f, want);
    }
    /* all categories: a permutation; zero weights are never drawn */
    dc_tensor *all = dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(5), (float[]){1, 1, 1, 1, 1}), 5, false);
    REQUIRE(all);
    const int64_t *a = dc_data(all);
    int mask = 0;
    for (int i = 0; i < 5; i++) mask |= 1 << a[i];
    CHECK(mask == 31);
    dc_tensor *sparse = dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(4), (float[]){0, 2, 0, 1}), 2, false);
    REQUIRE(sparse);
    const int64_t *sv = dc_data(sparse);
    CHECK((sv[0] == 1 && sv[1] == 3) || (sv[0] == 3 && sv[1] == 1));
}

TEST(test_multinomial_rejects_bad_weights_and_counts)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    float good[3] = {1, 2, 3};
    dc_tensor *w = dc_from_buffer(DC_F32, DC_SHAPE(3), good);
    dc_rng before = rng;
    CHECK_ERROR(!dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1, -1, 2}), 1, true),
                "weight -1 at [0, 1]");
    CHECK_ERROR(!dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1, INFINITY, 2}), 1, true),
                "not a finite non-negative number");
    CHECK_ERROR(!dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1, NAN, 2}), 1, true),
                "not a finite non-negative number");
    CHECK_ERROR(!dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(2, 2), (float[]){1, 1, 0, 0}), 1, true),
                "row 1 has no positive weight");
    CHECK_ERROR(!dc_multinomial(&rng, w, 4, false), "cannot draw 4 samples without replacement");
    CHECK_ERROR(!dc_multinomial(&rng, dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1, 0, 2}), 3, false),
                "fewer than the 3 samples");
    CHECK_ERROR(!dc_multinomial(&rng, w, 0, true), "num_samples must be positive");
    CHECK_ERROR(!dc_multinomial(&rng, dc_zeros(DC_F32, DC_SHAPE(1, 1, 3)), 1, true), "[batch, n_cat]");
    CHECK_ERROR(!dc_multinomial(&rng, dc_zeros(DC_I64, DC_SHAPE(3)), 1, true), "int64");
    CHECK_ERROR(!dc_multinomial(&rng, NULL, 1, true), "NULL");
    /* nothing was drawn and the weights are unchanged */
    CHECK(rng.counter == before.counter);
    const float *wv = dc_data(w);
    CHECK(wv[0] == 1 && wv[1] == 2 && wv[2] == 3);
    /* more samples than categories is fine with replacement */
    CHECK(dc_multinomial(&rng, w, 7, true) != NULL);
}

TEST(test_bernoulli_tensor_uses_each_probability)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    const int64_t n = 40000;
    dc_tensor *p = dc_empty(DC_F64, DC_SHAPE(n, 3));
    double *pv = dc_data(p);
    for (int64_t i = 0; i < n; i++) {
        pv[3 * i] = 0;
        pv[3 * i + 1] = 1;
        pv[3 * i + 2] = 0.3;
    }
    dc_tensor *b = dc_bernoulli_tensor(&rng, p);
    REQUIRE(b && b->dtype == DC_F64 && b->shape[0] == n && b->shape[1] == 3);
    const double *bv = dc_data(b);
    int64_t zeros_ok = 0, ones_ok = 0, hits = 0;
    for (int64_t i = 0; i < n; i++) {
        zeros_ok += bv[3 * i] == 0;
        ones_ok += bv[3 * i + 1] == 1;
        hits += bv[3 * i + 2] == 1;
    }
    CHECK(zeros_ok == n && ones_ok == n);
    EXPECT(fabs((double)hits / (double)n - 0.3) < 0.012, "p = 0.3 gave frequency %g",
           (double)hits / (double)n);
    /* a constant probability gives the same draws as dc_bernoulli from the same state, and a
     * non-contiguous probability tensor is read in logical order */
    dc_rng a, c;
    dc_rng_seed(&a, 8);
    dc_rng_seed(&c, 8);
    dc_tensor *full = dc_full(DC_F32, DC_SHAPE(4, 50), 0.4);
    dc_tensor *x = dc_bernoulli_tensor(&a, dc_transpose(full, 0, 1));
    dc_tensor *y = dc_bernoulli(&c, DC_F32, DC_SHAPE(50, 4), 0.4);
    REQUIRE(x && y && x->dtype == DC_F32);
    CHECK(memcmp(dc_data(x), dc_data(y), 200 * sizeof(float)) == 0);
    CHECK(a.counter == c.counter);
    dc_rng before = rng;
    CHECK_ERROR(!dc_bernoulli_tensor(&rng, dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){0.5f, 1.5f})),
                "probability 1.5 at flat index 1");
    CHECK_ERROR(!dc_bernoulli_tensor(&rng, dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){NAN, 0})),
                "outside [0, 1]");
    CHECK_ERROR(!dc_bernoulli_tensor(&rng, dc_zeros(DC_I64, DC_SHAPE(2))), "int64");
    CHECK(rng.counter == before.counter);
}
