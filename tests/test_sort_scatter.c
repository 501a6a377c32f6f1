/* Sorting, searching and scatter ops (src/ops/sort.c, src/ops/scatter.c, dc_min in reduce.c)
 * against PyTorch, on big inputs against naive loops, and on bad arguments.
 *
 * The reference values come from tests/ref/make_sorting_refs.py (Debian's python3-torch 1.13,
 * float32; `/usr/bin/python3 tests/ref/make_sorting_refs.py` regenerates
 * tests/ref/sorting_refs.txt, which is committed so the tests need no torch). Each case there
 * runs the torch op on inputs chosen to expose differences (ties, NaN, repeated and negative
 * indices) and backpropagates a random seed R from each differentiable output; the tests
 * below run the deepc op on the same inputs and compare values, indices (exactly) and the
 * gradients of L = sum(out * R). */
#include "ref_loader.h"

#define SORTING_REFS "ref/sorting_refs.txt"

/* ---- Reference file helpers ------------------------------------------------------------ */

/* The case's input (role param: a leaf that requires grad; const: a plain tensor). */
static dc_tensor *param(ref_chain *c, const char *case_name, const char *name)
{
    char full[96];
    return dc_requires_grad(ref_get(c, "param", ref_case_name(full, sizeof full, case_name, name)),
                            true);
}

static dc_tensor *cnst(ref_chain *c, const char *case_name, const char *name)
{
    char full[96];
    return ref_get(c, "const", ref_case_name(full, sizeof full, case_name, name));
}

/* Compare got with (role, <case>.name): float values within ref_compare's tolerance. */
static void expect(ref_chain *c, const char *role, const char *case_name, const char *name,
                   const dc_tensor *got)
{
    char full[96], what[160];
    ref_case_name(full, sizeof full, case_name, name);
    snprintf(what, sizeof what, "%s: %s %s", c->path, role, full);
    ref_compare(what, got, ref_find(c, role, full, NULL));
}

/* Exactly equal (same shape, every value equal, NaN where torch has NaN): indices, counts,
 * and values that are copies of inputs (sorted values). */
static void expect_exact(ref_chain *c, const char *case_name, const char *name,
                         const dc_tensor *got)
{
    char full[96], sa[96], sb[96];
    ref_case_name(full, sizeof full, case_name, name);
    const ref_tensor *want = ref_find(c, "out", full, NULL);
    if (!want || !got) {
        dc_test_fail(__FILE__, __LINE__, "%s: out %s: %s", c->path, full,
                     want ? dc_last_error() : "no reference value");
        return;
    }
    if (got->ndim != want->ndim ||
        memcmp(got->shape, want->shape, (size_t)want->ndim * sizeof *want->shape) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: out %s: deepc gives %s, torch %s", c->path, full,
                     dc_shape_str(got, sa, sizeof sa), ref_shape_str(want, sb, sizeof sb));
        return;
    }
    double *v = dc_test_values(got);
    for (int64_t i = 0; v && i < want->numel; i++) {
        /* the file's 9 digits round-trip float32: compare after rounding to the dtype */
        const double w = got->dtype == DC_F32 ? (double)(float)want->values[i] : want->values[i];
        if (v[i] == w || (isnan(v[i]) && isnan(w))) continue;
        dc_test_fail(__FILE__, __LINE__, "%s: out %s: element %lld is %.9g, torch %.9g", c->path,
                     full, (long long)i, v[i], w);
        break;
    }
    free(v);
}

/* L = sum_k sum(out_k * R_k) over the outputs named in names (NULL-terminated), then one
 * backward. */
static void backprop(ref_chain *c, const char *case_name, const char *const *names,
                     dc_tensor *const *outs)
{
    dc_tensor *loss = NULL;
    for (int k = 0; names[k]; k++) {
        char full[96];
        dc_tensor *seed = ref_get(c, "seed", ref_case_name(full, sizeof full, case_name, names[k]));
        dc_tensor *term = dc_sum_all(dc_mul(outs[k], seed));
        loss = loss ? dc_add(loss, term) : term;
    }
    if (!loss || dc_backward(loss) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: backward of %s failed: %s", c->path, case_name,
                     dc_last_error());
}

static void expect_grad(ref_chain *c, const char *case_name, const char *name,
                        const dc_tensor *leaf)
{
    if (!leaf->grad) {
        dc_test_fail(__FILE__, __LINE__, "%s: %s.%s got no gradient", c->path, case_name, name);
        return;
    }
    expect(c, "grad", case_name, name, leaf->grad);
}

/* ---- Against torch ------------------------------------------------------------------------ */

TEST(test_sort_is_stable_with_ties_like_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "sort_ties";
    dc_tensor *x = param(&c, k, "x");
    dc_tensor *v1, *i1, *v2, *i2, *v3, *i3;
    REQUIRE(dc_sort(x, 1, false, &v1, &i1) == 0);
    REQUIRE(dc_sort(x, -1, true, &v2, &i2) == 0);
    REQUIRE(dc_sort(x, 0, true, &v3, &i3) == 0);
    expect_exact(&c, k, "asc_d1.values", v1);
    expect_exact(&c, k, "asc_d1.indices", i1);
    expect_exact(&c, k, "desc_d1.values", v2);
    expect_exact(&c, k, "desc_d1.indices", i2);
    expect_exact(&c, k, "desc_d0.values", v3);
    expect_exact(&c, k, "desc_d0.indices", i3);
    expect_exact(&c, k, "argsort_d0", dc_argsort(x, 0, false));
    backprop(&c, k, (const char *[]){"asc_d1.values", "desc_d1.values", "desc_d0.values", NULL},
             (dc_tensor *[]){v1, v2, v3});
    expect_grad(&c, k, "x", x);
    ref_free(&c);
}

TEST(test_sort_topk_min_put_nan_last_like_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "sort_nan";
    dc_tensor *x = param(&c, k, "x");
    dc_tensor *v, *i;
    REQUIRE(dc_sort(x, 1, false, &v, &i) == 0);
    expect_exact(&c, k, "asc.values", v);
    expect_exact(&c, k, "asc.indices", i);
    REQUIRE(dc_sort(x, 1, true, &v, &i) == 0);
    expect_exact(&c, k, "desc.values", v);
    expect_exact(&c, k, "desc.indices", i);
    REQUIRE(dc_topk(param(&c, k, "xt"), 3, 1, true, true, &v, &i) == 0);
    expect_exact(&c, k, "top3.values", v);
    expect_exact(&c, k, "top3.indices", i);
    expect_exact(&c, k, "min.values", dc_min(x, 1, false));
    expect_exact(&c, k, "min.indices", dc_argmin(x, 1, false));
    ref_free(&c);
}

TEST(test_topk_largest_and_smallest_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "topk";
    dc_tensor *x = param(&c, k, "x");
    dc_tensor *v1, *i1, *v2, *i2;
    REQUIRE(dc_topk(x, 3, 1, true, true, &v1, &i1) == 0);
    REQUIRE(dc_topk(x, 2, 0, false, false, &v2, &i2) == 0);
    expect_exact(&c, k, "largest3_d1.values", v1);
    expect_exact(&c, k, "largest3_d1.indices", i1);
    expect_exact(&c, k, "smallest2_d0.values", v2);
    expect_exact(&c, k, "smallest2_d0.indices", i2);
    backprop(&c, k, (const char *[]){"largest3_d1.values", "smallest2_d0.values", NULL},
             (dc_tensor *[]){v1, v2});
    expect_grad(&c, k, "x", x);
    ref_free(&c);
}

TEST(test_min_argmin_pick_the_first_tie_like_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "min_argmin";
    dc_tensor *x = param(&c, k, "x");
    dc_tensor *v = dc_min(x, 1, false);
    expect_exact(&c, k, "d1.values", v);
    expect_exact(&c, k, "d1.indices", dc_argmin(x, 1, false));
    expect_exact(&c, k, "argmin_dlast_keepdim", dc_argmin(x, -1, true));
    backprop(&c, k, (const char *[]){"d1.values", NULL}, &v);
    expect_grad(&c, k, "x", x);
    ref_free(&c);
}

TEST(test_scatter_src_and_value_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "scatter";
    dc_tensor *a = param(&c, k, "a"), *src = param(&c, k, "src");
    dc_tensor *y1 = dc_scatter(a, 1, cnst(&c, k, "index"), src);
    dc_tensor *y2 = dc_scatter_value(a, 0, cnst(&c, k, "index0"), 1.5);
    expect_exact(&c, k, "src_d1", y1);
    expect_exact(&c, k, "value_d0", y2);
    backprop(&c, k, (const char *[]){"src_d1", "value_d0", NULL}, (dc_tensor *[]){y1, y2});
    expect_grad(&c, k, "a", a);
    expect_grad(&c, k, "src", src);
    ref_free(&c);
}

TEST(test_scatter_add_accumulates_repeated_indices_like_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "scatter_add";
    dc_tensor *a = param(&c, k, "a"), *src = param(&c, k, "src");
    dc_tensor *b = param(&c, k, "b"), *srcb = param(&c, k, "srcb");
    dc_tensor *y1 = dc_scatter_add(a, 0, cnst(&c, k, "index"), src);
    dc_tensor *y2 = dc_scatter_add(b, -1, cnst(&c, k, "indexb"), srcb);
    expect(&c, "out", k, "d0", y1);
    expect(&c, "out", k, "dlast", y2);
    backprop(&c, k, (const char *[]){"d0", "dlast", NULL}, (dc_tensor *[]){y1, y2});
    expect_grad(&c, k, "a", a);
    expect_grad(&c, k, "src", src);
    expect_grad(&c, k, "b", b);
    expect_grad(&c, k, "srcb", srcb);
    ref_free(&c);
}

TEST(test_index_add_accumulates_repeated_indices_like_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "index_add";
    dc_tensor *a = param(&c, k, "a"), *source = param(&c, k, "source");
    dc_tensor *y = dc_index_add(a, 1, cnst(&c, k, "index"), source, -2.5);
    expect(&c, "out", k, "d1", y);
    backprop(&c, k, (const char *[]){"d1", NULL}, &y);
    expect_grad(&c, k, "a", a);
    expect_grad(&c, k, "source", source);
    ref_free(&c);
}

TEST(test_index_put_accumulate_overwrite_and_index_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "index_put";
    dc_tensor *a = param(&c, k, "a"), *v = param(&c, k, "v"), *w = param(&c, k, "w");
    dc_tensor *i01[2] = {cnst(&c, k, "i0"), cnst(&c, k, "i1")};
    dc_tensor *j01[2] = {cnst(&c, k, "j0"), cnst(&c, k, "j1")};
    dc_tensor *y1 = dc_index_put(a, i01, 2, v, true);
    dc_tensor *y2 = dc_index_put(a, j01, 2, w, false);
    dc_tensor *y3 = dc_index(a, i01, 2);
    expect(&c, "out", k, "accumulate", y1);
    expect_exact(&c, k, "overwrite", y2);
    expect_exact(&c, k, "index", y3);
    backprop(&c, k, (const char *[]){"accumulate", "overwrite", "index", NULL},
             (dc_tensor *[]){y1, y2, y3});
    expect_grad(&c, k, "a", a);
    expect_grad(&c, k, "v", v);
    expect_grad(&c, k, "w", w);
    ref_free(&c);
}

TEST(test_masked_select_and_nonzero_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "masked_select";
    dc_tensor *a = param(&c, k, "a");
    dc_tensor *y = dc_masked_select(a, cnst(&c, k, "mask"));
    expect_exact(&c, k, "selected", y);
    expect_exact(&c, k, "nonzero", dc_nonzero(cnst(&c, k, "x")));
    backprop(&c, k, (const char *[]){"selected", NULL}, &y);
    expect_grad(&c, k, "a", a);
    ref_free(&c);
}

TEST(test_unique_values_inverse_counts_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "unique";
    dc_tensor *u, *inv, *cnt;
    REQUIRE(dc_unique(cnst(&c, k, "x"), &u, &inv, &cnt) == 0);
    expect_exact(&c, k, "int.values", u);
    expect_exact(&c, k, "int.inverse", inv);
    expect_exact(&c, k, "int.counts", cnt);
    REQUIRE(dc_unique(cnst(&c, k, "y"), &u, &inv, &cnt) == 0);
    expect_exact(&c, k, "float.values", u);
    expect_exact(&c, k, "float.inverse", inv);
    expect_exact(&c, k, "float.counts", cnt);
    /* any subset of the results */
    dc_tensor *only_counts;
    REQUIRE(dc_unique(cnst(&c, k, "y"), NULL, NULL, &only_counts) == 0);
    expect_exact(&c, k, "float.counts", only_counts);
    ref_free(&c);
}

TEST(test_one_hot_and_bincount_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "counting";
    dc_tensor *x = cnst(&c, k, "x"), *b = cnst(&c, k, "b");
    expect_exact(&c, k, "one_hot_7", dc_one_hot(x, 7));
    expect_exact(&c, k, "one_hot_auto", dc_one_hot(x, -1));
    expect_exact(&c, k, "bincount", dc_bincount(b, NULL, 0));
    expect(&c, "out", k, "bincount_weights", dc_bincount(b, cnst(&c, k, "w"), 0));
    expect_exact(&c, k, "bincount_minlength", dc_bincount(b, NULL, 11));
    ref_free(&c);
}

TEST(test_searchsorted_left_right_batched_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, SORTING_REFS)) return;
    const char *k = "searchsorted";
    dc_tensor *bounds = cnst(&c, k, "bounds"), *values = cnst(&c, k, "values");
    expect_exact(&c, k, "left", dc_searchsorted(bounds, values, false));
    expect_exact(&c, k, "right", dc_searchsorted(bounds, values, true));
    expect_exact(&c, k, "batched", dc_searchsorted(cnst(&c, k, "batched_bounds"),
                                                   cnst(&c, k, "batched_values"), false));
    ref_free(&c);
}

/* ---- Big inputs against naive checks --------------------------------------------------------- */

/* Every row of (values, indices) along dim is ordered (ties by increasing index: stable),
 * values[r, i] == a[r, indices[r, i]], and the indices of a row are a permutation. */
static void check_sorted_rows(const dc_tensor *a, int dim, bool descending, const dc_tensor *v,
                              const dc_tensor *idx)
{
    const int64_t n = a->shape[dim], rows = dc_numel(a) / n;
    dc_tensor *at = dc_contiguous(dc_transpose((dc_tensor *)a, dim, -1));
    dc_tensor *vt = dc_contiguous(dc_transpose((dc_tensor *)v, dim, -1));
    dc_tensor *it = dc_contiguous(dc_transpose((dc_tensor *)idx, dim, -1));
    double *av = dc_test_values(at), *vv = dc_test_values(vt), *iv = dc_test_values(it);
    char *seen = calloc((size_t)n, 1);
    int bad = 0;
    for (int64_t r = 0; av && vv && iv && seen && r < rows && !bad; r++) {
        memset(seen, 0, (size_t)n);
        const double *x = av + r * n, *s = vv + r * n, *p = iv + r * n;
        for (int64_t i = 0; i < n && !bad; i++) {
            const int64_t j = (int64_t)p[i];
            if (j < 0 || j >= n || seen[j] || x[j] != s[i]) bad = 1;
            else seen[j] = 1;
            if (i > 0 && !bad) {
                bool ordered = descending ? s[i - 1] >= s[i] : s[i - 1] <= s[i];
                bool stable = s[i - 1] != s[i] || p[i - 1] < p[i];
                if (!ordered || !stable) bad = 2;
            }
        }
        EXPECT(!bad, "row %lld along dim %d: %s", (long long)r, dim,
               bad == 1 ? "values are not a[indices] / indices not a permutation"
                        : "not sorted, or ties out of input order");
    }
    CHECK(av && vv && iv && seen);
    free(av);
    free(vv);
    free(iv);
    free(seen);
}

TEST(test_sort_many_rows_on_threads_is_ordered_and_stable)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    /* 300 rows of 2000 values from 50 levels (many ties), sorted along both dims */
    dc_tensor *u = dc_uniform(&rng, DC_F32, DC_SHAPE(300, 2000), 0, 50);
    dc_tensor *x = dc_add_scalar(u, 0); /* plain copy */
    REQUIRE(x);
    float *p = dc_data(x);
    for (int64_t i = 0; i < dc_numel(x); i++) p[i] = floorf(p[i]);
    int threads = dc_get_num_threads();
    for (int t = 1; t <= 3; t += 2) {
        dc_set_num_threads(t);
        dc_tensor *v, *i;
        REQUIRE(dc_sort(x, 1, false, &v, &i) == 0);
        check_sorted_rows(x, 1, false, v, i);
        REQUIRE(dc_sort(x, 0, true, &v, &i) == 0); /* strided rows */
        check_sorted_rows(x, 0, true, v, i);
    }
    dc_set_num_threads(threads);
}

TEST(test_sort_one_long_row_and_other_dtypes)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    /* one row of 100003 values: many merge passes and a ragged last run */
    dc_tensor *x = dc_randn(&rng, DC_F64, DC_SHAPE(100003));
    dc_tensor *v, *i;
    REQUIRE(dc_sort(x, 0, false, &v, &i) == 0);
    check_sorted_rows(x, 0, false, v, i);
    /* int64 with ties, descending, via a transposed view */
    int64_t vals[12] = {3, -1, 3, 7, 0, -1, 7, 7, 2, 3, 0, 1};
    dc_tensor *t = dc_transpose(dc_from_buffer(DC_I64, DC_SHAPE(3, 4), vals), 0, 1);
    REQUIRE(dc_sort(t, 1, true, &v, &i) == 0);
    check_sorted_rows(t, 1, true, v, i);
    CHECK(v->dtype == DC_I64 && !v->requires_grad);
    /* topk of int64, and unique of an empty tensor */
    REQUIRE(dc_topk(t, 2, 0, false, true, &v, &i) == 0);
    CHECK(dc_item_at(v, (int64_t[]){0, 0}) == -1 && dc_item_at(i, (int64_t[]){0, 0}) == 1);
    dc_tensor *u, *inv, *cnt;
    REQUIRE(dc_unique(dc_zeros(DC_F32, DC_SHAPE(0, 3)), &u, &inv, &cnt) == 0);
    CHECK(dc_numel(u) == 0 && dc_numel(cnt) == 0 && inv->ndim == 2 && inv->shape[0] == 0);
}

TEST(test_scatter_add_and_index_put_on_threads_match_serial_sums)
{
    /* 4096 columns x 64 rows scattered into 8 rows: the threaded line kernel must add every
     * repeat; compare with a naive loop in double. */
    const int64_t R = 64, C = 4096, D = 8;
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *src = dc_randn(&rng, DC_F64, DC_SHAPE(R, C));
    int64_t *ids = malloc((size_t)(R * C) * sizeof *ids);
    REQUIRE(ids);
    for (int64_t k = 0; k < R * C; k++) ids[k] = (int64_t)(dc_rng_u64(&rng) % (uint64_t)D);
    dc_tensor *index = dc_from_buffer(DC_I64, DC_SHAPE(R, C), ids);
    dc_tensor *y = dc_scatter_add(dc_zeros(DC_F64, DC_SHAPE(D, C)), 0, index, src);
    double *want = calloc((size_t)(D * C), sizeof *want);
    const double *s = dc_data(src);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) want[ids[r * C + c] * C + c] += s[r * C + c];
    double *got = dc_test_values(y);
    CHECK(got && CHECK_ALLCLOSE("scatter_add", got, want, D * C, 0, 1e-12));
    free(got);
    /* index_put(accumulate) of the rows src[r] into row ids[r] (repeats): the same sums */
    dc_tensor *rows = dc_from_buffer(DC_I64, DC_SHAPE(R), ids);
    y = dc_index_put(dc_zeros(DC_F64, DC_SHAPE(D, C)), &rows, 1, src, true);
    memset(want, 0, (size_t)(D * C) * sizeof *want);
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c++) want[ids[r] * C + c] += s[r * C + c];
    got = dc_test_values(y);
    CHECK(got && CHECK_ALLCLOSE("index_put accumulate", got, want, D * C, 0, 1e-12));
    free(got);
    free(want);
    free(ids);
}

TEST(test_masks_of_every_dtype_select_the_same)
{
    double m[6] = {0, 1, NAN, 0, -2, 0}; /* NaN and negatives are "true" */
    int64_t mi[6] = {0, 1, 1, 0, -2, 0};
    float mf[6] = {0, 1, NAN, 0, -2, 0};
    dc_tensor *a = dc_arange(DC_F32, 0, 6, 1);
    dc_tensor *masks[3] = {dc_from_buffer(DC_F64, DC_SHAPE(6), m),
                           dc_from_buffer(DC_I64, DC_SHAPE(6), mi),
                           dc_from_buffer(DC_F32, DC_SHAPE(6), mf)};
    for (int k = 0; k < 3; k++) {
        dc_tensor *s = dc_masked_select(a, masks[k]);
        REQUIRE(s && dc_numel(s) == 3);
        CHECK(dc_item_at(s, (int64_t[]){0}) == 1 && dc_item_at(s, (int64_t[]){2}) == 4);
        dc_tensor *nz = dc_nonzero(masks[k]);
        REQUIRE(nz && nz->shape[0] == 3 && nz->shape[1] == 1);
        CHECK(dc_item_at(nz, (int64_t[]){1, 0}) == 2);
    }
}

TEST(test_integer_results_record_no_graph)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(3, 4)), true);
    dc_tensor *v, *i, *u, *inv, *cnt;
    REQUIRE(dc_sort(x, 1, false, &v, &i) == 0);
    REQUIRE(dc_unique(x, &u, &inv, &cnt) == 0);
    dc_tensor *results[] = {i, dc_argsort(x, 0, true), dc_argmin(x, 1, false), dc_nonzero(x),
                            u, inv, cnt};
    for (size_t k = 0; k < sizeof results / sizeof *results; k++) {
        REQUIRE(results[k]);
        CHECK(!results[k]->requires_grad && !results[k]->grad_fn);
    }
    CHECK(v->requires_grad && v->grad_fn); /* the values do carry a gradient */
}

/* ---- Bad arguments: an error naming the problem, inputs unchanged --------------------------- */

/* Snapshot of a tensor's values, to check an op left it untouched. */
typedef struct {
    const dc_tensor *t;
    double *v;
} snapshot;

static snapshot snap(const dc_tensor *t) { return (snapshot){t, dc_test_values(t)}; }

static void check_unchanged(snapshot s, const char *what)
{
    double *now = dc_test_values(s.t);
    bool same = now && s.v;
    for (int64_t i = 0; same && i < dc_numel(s.t); i++)
        same = now[i] == s.v[i] || (isnan(now[i]) && isnan(s.v[i]));
    EXPECT(same, "%s was modified by a failing call", what);
    free(now);
    free(s.v);
}

TEST(test_scatter_family_rejects_bad_indices_and_shapes)
{
    dc_tensor *a = dc_arange(DC_F32, 0, 12, 1), *src = dc_ones(DC_F32, DC_SHAPE(2, 4));
    a = dc_reshape(a, 2, (int64_t[]){3, 4});
    int64_t bad[8] = {0, 1, 2, 0, 1, 5, 0, 1}, neg[8] = {0, 1, 2, 0, 1, 2, -1, 0};
    dc_tensor *ib = dc_from_buffer(DC_I64, DC_SHAPE(2, 4), bad);
    dc_tensor *in = dc_from_buffer(DC_I64, DC_SHAPE(2, 4), neg);
    snapshot sa = snap(a), ss = snap(src);
    CHECK_ERROR(!dc_scatter(a, 0, ib, src),
                "index 5 at position [1, 1] is out of range for dim 0 of size 3");
    CHECK_ERROR(!dc_scatter_add(a, 0, in, src), "index -1 at position [1, 2] is out of range");
    CHECK_ERROR(!dc_scatter_value(a, 0, in, 2.0), "index -1");
    CHECK_ERROR(!dc_scatter(a, 2, ib, src), "dim 2 out of range");
    CHECK_ERROR(!dc_scatter(a, 0, dc_to_dtype(ib, DC_F32), src), "index must be int64");
    CHECK_ERROR(!dc_scatter(a, 0, ib, dc_ones(DC_F64, DC_SHAPE(2, 4))), "src is float64");
    CHECK_ERROR(!dc_scatter_add(a, 0, ib, dc_ones(DC_F32, DC_SHAPE(1, 4))),
                "larger than src shape [1, 4]");
    CHECK_ERROR(!dc_scatter(a, 1, dc_zeros(DC_I64, DC_SHAPE(4, 2)),
                            dc_ones(DC_F32, DC_SHAPE(4, 2))),
                "larger than input shape [3, 4] in dim 0");
    CHECK_ERROR(!dc_scatter(a, 0, dc_zeros(DC_I64, DC_SHAPE(2)), src), "index has 1 dims");
    CHECK_ERROR(!dc_scatter_value(dc_zeros(DC_I64, DC_SHAPE(3)), 0,
                                  dc_zeros(DC_I64, DC_SHAPE(1)), 0.5),
                "0.5 is not an integer");
    dc_tensor *i1 = dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){0, 4, 1});
    CHECK_ERROR(!dc_index_add(a, 1, i1, dc_ones(DC_F32, DC_SHAPE(3, 3)), 1.0),
                "index 4 at position [1] is out of range for dim 1 of size 4");
    CHECK_ERROR(!dc_index_add(a, 1, i1, dc_ones(DC_F32, DC_SHAPE(3, 2)), 1.0),
                "source shape [3, 2] does not match");
    CHECK_ERROR(!dc_index_add(a, 0, ib, src, 1.0), "index must be 1-D");
    CHECK_ERROR(!dc_scatter(NULL, 0, ib, src), "is NULL");
    check_unchanged(sa, "a");
    check_unchanged(ss, "src");
}

TEST(test_index_put_rejects_bad_indices_and_values)
{
    dc_tensor *a = dc_zeros(DC_F64, DC_SHAPE(4, 3));
    dc_tensor *v = dc_ones(DC_F64, DC_SHAPE(2, 3));
    dc_tensor *i_bad = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){1, -5});
    dc_tensor *i_ok = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){1, -4});
    snapshot sa = snap(a), sv = snap(v);
    CHECK_ERROR(!dc_index_put(a, &i_bad, 1, v, true),
                "indices[0] value -5 at position [1] is out of range for dim 0 of size 4");
    dc_tensor *two[2] = {i_ok, dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){0, 3})};
    CHECK_ERROR(!dc_index_put(a, two, 2, dc_ones(DC_F64, DC_SHAPE(2)), false),
                "indices[1] value 3 at position [1] is out of range for dim 1 of size 3");
    CHECK_ERROR(!dc_index(a, two, 2), "indices[1] value 3");
    CHECK_ERROR(!dc_index_put(a, &i_ok, 1, dc_ones(DC_F64, DC_SHAPE(2, 2)), false),
                "values of shape [2, 2] do not broadcast to the indexed shape [2, 3]");
    CHECK_ERROR(!dc_index_put(a, &i_ok, 1, dc_ones(DC_F32, DC_SHAPE(2, 3)), false),
                "values are float32");
    dc_tensor *three[3] = {i_ok, i_ok, i_ok};
    CHECK_ERROR(!dc_index(a, three, 3), "expected 1 to 2 index tensors");
    dc_tensor *mismatch[2] = {i_ok, dc_zeros(DC_I64, DC_SHAPE(3))};
    CHECK_ERROR(!dc_index(a, mismatch, 2), "dc_index");
    dc_tensor *as_float = dc_to_dtype(i_ok, DC_F64);
    CHECK_ERROR(!dc_index(a, &as_float, 1), "indices[0] must be int64");
    CHECK_ERROR(!dc_index(a, NULL, 1), "index list is NULL");
    check_unchanged(sa, "a");
    check_unchanged(sv, "values");
    /* the index tensors themselves: a negative index was wrapped in a copy, not in place */
    CHECK(dc_item_at(i_ok, (int64_t[]){1}) == -4);
}

TEST(test_sorting_and_counting_ops_reject_bad_arguments)
{
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(3, 4)), *v = NULL, *i = NULL;
    snapshot sx = snap(x);
    CHECK_ERROR(dc_sort(x, 2, false, &v, &i) != 0, "dim 2 out of range");
    CHECK(v == NULL && i == NULL); /* out-pointers cleared on error */
    CHECK_ERROR(dc_topk(x, 5, 1, true, true, &v, &i) != 0,
                "k = 5 is out of range for dim 1 of size 4");
    CHECK_ERROR(dc_topk(x, -1, 1, true, true, &v, &i) != 0, "k must be >= 0");
    CHECK_ERROR(dc_sort(NULL, 0, false, &v, &i) != 0, "is NULL");
    CHECK_ERROR(!dc_argmin(x, -3, false), "dim -3 out of range");
    CHECK_ERROR(!dc_min(dc_zeros(DC_I64, DC_SHAPE(3)), 0, false), "expected a float32 or float64");
    CHECK_ERROR(!dc_min(dc_zeros(DC_F32, DC_SHAPE(3, 0)), 1, false), "no minimum");
    CHECK_ERROR(dc_unique(NULL, &v, NULL, NULL) != 0, "is NULL");
    CHECK_ERROR(!dc_masked_select(x, dc_ones(DC_F32, DC_SHAPE(3))), "dc_masked_select");
    dc_tensor *labels = dc_from_buffer(DC_I64, DC_SHAPE(2, 2), (int64_t[]){0, 3, -1, 1});
    CHECK_ERROR(!dc_one_hot(labels, 5), "class value -1 at position [1, 0] is negative");
    dc_tensor *big = dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){0, 3, 1});
    CHECK_ERROR(!dc_one_hot(big, 3), "class value 3 at position [1] is not below num_classes 3");
    CHECK_ERROR(!dc_one_hot(dc_zeros(DC_I64, DC_SHAPE(0)), -1), "cannot infer num_classes");
    CHECK_ERROR(!dc_one_hot(x, 3), "must be int64");
    CHECK_ERROR(!dc_bincount(dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){2, -3}), NULL, 0),
                "value -3 at position [1] is negative");
    CHECK_ERROR(!dc_bincount(labels, NULL, 0), "must be 1-D");
    CHECK_ERROR(!dc_bincount(big, dc_ones(DC_F32, DC_SHAPE(2)), 0),
                "weights must be 1-D of the input's length 3");
    CHECK_ERROR(!dc_bincount(big, NULL, -1), "minlength must be >= 0");
    CHECK_ERROR(!dc_searchsorted(x, dc_zeros(DC_F64, DC_SHAPE(3, 2)), false), "values are float64");
    CHECK_ERROR(!dc_searchsorted(x, dc_zeros(DC_F32, DC_SHAPE(2, 2)), false), "same leading dims");
    CHECK_ERROR(!dc_searchsorted(dc_scalar(DC_F32, 1), x, false), "at least 1 dim");
    check_unchanged(sx, "x");
    CHECK(dc_item_at(labels, (int64_t[]){1, 0}) == -1);
}

TEST(test_bool_u8_i32_masks_select_like_float_masks)
{
    const uint8_t mb[6] = {0, 1, 1, 0, 1, 0};
    const int32_t mi[6] = {0, 7, -1, 0, 2, 0};
    dc_tensor *a = dc_arange(DC_F64, 0, 6, 1);
    dc_tensor *masks[3] = {dc_from_buffer(DC_BOOL, DC_SHAPE(6), mb),
                           dc_from_buffer(DC_U8, DC_SHAPE(6), mb),
                           dc_from_buffer(DC_I32, DC_SHAPE(6), mi)};
    for (int k = 0; k < 3; k++) {
        dc_tensor *s = dc_masked_select(a, masks[k]);
        REQUIRE(s && dc_numel(s) == 3);
        CHECK(dc_item_at(s, (int64_t[]){1}) == 2 && dc_item_at(s, (int64_t[]){2}) == 4);
        dc_tensor *nz = dc_nonzero(masks[k]);
        REQUIRE(nz && nz->shape[0] == 3);
        CHECK(dc_item_at(nz, (int64_t[]){2, 0}) == 4);
    }
}
