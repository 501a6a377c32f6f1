/* More math (src/ops/math.c, scan.c, einsum.c) against PyTorch, their edge cases and their
 * errors.
 *
 * The reference values come from tests/ref/make_math_refs.py (Debian's python3-torch 1.13,
 * float32; `/usr/bin/python3 tests/ref/make_math_refs.py` regenerates tests/ref/math_refs.txt,
 * which is committed so the tests need no torch). Each case there runs one torch function on
 * inputs x0, x1, ... and backpropagates a random seed R; the table below runs the deepc op on
 * the same inputs and compares the output and every input's gradient. Infinities and NaNs
 * (logsumexp of -inf rows, round of inf, clamp of NaN) must match exactly; finite values
 * within ref_compare's tolerance (rtol 1e-5). */
#include "gradcheck.h"
#include "ref_loader.h"

#define MATH_REFS "ref/math_refs.txt"
#define MAX_IN 3

typedef dc_tensor *(*math_fn)(dc_tensor *const *x);

typedef struct {
    const char *name; /* the case in make_math_refs.py */
    int n_inputs;
    math_fn fn;
} math_case;

#define FN(name, expr)                                                                         \
    static dc_tensor *name(dc_tensor *const *x) { return (expr); }

FN(m_clamp_both, dc_clamp(x[0], -0.5, 0.75))
FN(m_clamp_min, dc_clamp(x[0], 0.25, NAN))
FN(m_clamp_max, dc_clamp(x[0], NAN, -0.3))
FN(m_clamp_min_above_max, dc_clamp(x[0], 1.0, -1.0))
FN(m_clamp_tensor, dc_clamp_tensor(x[0], x[1], x[2]))
FN(m_clamp_tensor_min, dc_clamp_tensor(x[0], x[1], NULL))
FN(m_clamp_tensor_max, dc_clamp_tensor(x[0], NULL, x[1]))
FN(m_sign, dc_sign(x[0]))
FN(m_floor, dc_floor(x[0]))
FN(m_ceil, dc_ceil(x[0]))
FN(m_round, dc_round(x[0]))
FN(m_erf, dc_erf(x[0]))
FN(m_erfc, dc_erfc(x[0]))
FN(m_logsumexp_d1, dc_logsumexp(x[0], 1, (int[]){1}, false))
FN(m_logsumexp_d02_keep, dc_logsumexp(x[0], 2, (int[]){0, 2}, true))
FN(m_logsumexp_all, dc_logsumexp(x[0], 0, NULL, false))
FN(m_cumsum_d1, dc_cumsum(x[0], 1))
FN(m_cumsum_d0, dc_cumsum(x[0], 0))
FN(m_cumprod_d1, dc_cumprod(x[0], 1))
FN(m_cumprod_d0, dc_cumprod(x[0], 0))
FN(m_prod_d1, dc_prod(x[0], 1, false))
FN(m_prod_d0_keep, dc_prod(x[0], 0, true))
FN(m_prod_all, dc_prod_all(x[0]))
FN(m_std_d1, dc_std(x[0], 1, (int[]){1}, 1, false))
FN(m_std_d02_biased_keep, dc_std(x[0], 2, (int[]){0, 2}, 0, true))
FN(m_std_all, dc_std(x[0], 0, NULL, 1, false))
FN(m_norm2_d1, dc_norm(x[0], 2, 1, (int[]){1}, false))
FN(m_norm_fro, dc_norm(x[0], 2, 0, NULL, false))
FN(m_norm_fro_dims_keep, dc_norm(x[0], 2, 2, (int[]){1, 2}, true))
FN(m_norm1_dlast, dc_norm(x[0], 1, 1, (int[]){-1}, false))
FN(m_norm_inf_d1, dc_norm(x[0], INFINITY, 1, (int[]){1}, false))
FN(m_norm_neginf_d1, dc_norm(x[0], -INFINITY, 1, (int[]){1}, false))
FN(m_norm_inf_all, dc_norm(x[0], INFINITY, 0, NULL, false))
FN(m_norm3_d0, dc_norm(x[0], 3, 1, (int[]){0}, false))
FN(m_norm1_5_d02_keep, dc_norm(x[0], 1.5, 2, (int[]){0, 2}, true))
FN(m_norm0_5_d1, dc_norm(x[0], 0.5, 1, (int[]){1}, false))
FN(m_norm0_d1, dc_norm(x[0], 0, 1, (int[]){1}, false))
FN(m_cosine_d1, dc_cosine_similarity(x[0], x[1], 1, 1e-8))
FN(m_cosine_broadcast, dc_cosine_similarity(x[0], x[1], -2, 1e-8))
FN(m_cosine_d0_eps_half, dc_cosine_similarity(x[0], x[1], 0, 0.5))
FN(m_normalize_p2, dc_normalize(x[0], 2, 1, 1e-12))
FN(m_normalize_p1_dlast, dc_normalize(x[0], 1, -1, 1e-12))
FN(m_normalize_d0_eps1, dc_normalize(x[0], 2, 0, 1.0))

/* einsum cases: the equation by case name (the same list as EINSUM in the script) */
static const struct {
    const char *name, *equation;
    int n;
} einsum_cases[] = {
    {"einsum_matmul", "ij,jk->ik", 2},
    {"einsum_bmm", "bij,bjk->bik", 2},
    {"einsum_transpose", "ij->ji", 1},
    {"einsum_trace", "ii->", 1},
    {"einsum_diagonal", "ii->i", 1},
    {"einsum_batch_diagonal", "bii->bi", 1},
    {"einsum_sum_all", "ij->", 1},
    {"einsum_sum_rows", "ij->j", 1},
    {"einsum_outer", "i,j->ij", 2},
    {"einsum_batch_outer", "bi,bj->bij", 2},
    {"einsum_dot", "i,i->", 2},
    {"einsum_implicit", "kj,ji", 2},
    {"einsum_implicit_upper_first", "bA,bC", 2},
    {"einsum_implicit_transpose", "ba", 1},
    {"einsum_ellipsis_broadcast", "...ij,...jk->...ik", 2},
    {"einsum_ellipsis_implicit", "...ij,...jk", 2},
    {"einsum_ellipsis_summed", "...ij->ij", 1},
    {"einsum_ellipsis_diagonal", "...ii->...i", 1},
    {"einsum_ellipsis_middle", "i...j->j...i", 1},
    {"einsum_three_operands", "ij,jk,kl->li", 3},
    {"einsum_attention_scores", "bhqd,bkhd->bhqk", 2},
    {"einsum_size1_broadcast", "ij,ij->ij", 2},
    {"einsum_outer_4d", "ij,kl->ijkl", 2},
    {"einsum_diag_and_contract", "iij,jk->ik", 2},
    {"einsum_spaces", " ij , jk -> ki ", 2},
    {"einsum_sum_only_in_one", "ij,k->i", 2},
};

/* ---- Comparing with non-finite values ----------------------------------------------------- */

/* ref_compare, except that an inf / -inf / NaN in torch's values must be the same in
 * deepc's (then both count as equal), and a finite one must not be non-finite. */
static void compare(const char *what, dc_tensor *got, const ref_tensor *want)
{
    if (!want) {
        dc_test_fail(__FILE__, __LINE__, "%s: no reference value", what);
        return;
    }
    double *v = dc_test_values(got);
    if (!v) {
        dc_test_fail(__FILE__, __LINE__, "%s: missing (%s)", what, dc_last_error());
        return;
    }
    ref_tensor finite = *want;
    finite.values = malloc((size_t)(want->numel ? want->numel : 1) * sizeof(double));
    int64_t n = dc_numel(got) < want->numel ? dc_numel(got) : want->numel;
    bool same_specials = true;
    for (int64_t i = 0; i < want->numel && finite.values; i++) {
        double w = want->values[i], g = i < n ? v[i] : 0;
        finite.values[i] = w;
        if (isfinite(w)) continue;
        bool match = isnan(w) ? isnan(g) : g == w;
        if (!match && same_specials) {
            dc_test_fail(__FILE__, __LINE__, "%s: element %lld: %.9g vs expected %.9g", what,
                         (long long)i, g, w);
            same_specials = false;
        }
        finite.values[i] = 0;
    }
    free(v);
    if (!finite.values || !same_specials) {
        free(finite.values);
        return;
    }
    /* compare through a copy of got with the matched specials zeroed */
    size_t scope = dc_scope_begin();
    dc_tensor *zeroed = dc_clone(got);
    double *gv = dc_test_values(zeroed);
    for (int64_t i = 0; gv && i < want->numel && i < n; i++)
        if (!isfinite(want->values[i])) gv[i] = 0;
    dc_tensor *cleaned = gv ? dc_from_buffer(DC_F64, got->ndim, got->shape, gv) : NULL;
    free(gv);
    ref_compare(what, cleaned, &finite);
    dc_scope_end(scope);
    free(finite.values);
}

/* Run one case of the file: inputs x0.. (leaves requiring grad), y = fn(x), compare y,
 * backpropagate the seed, compare each gradient. */
static void check_case(ref_chain *c, const char *name, int n_inputs, math_fn fn,
                       const char *equation)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x[MAX_IN] = {0};
    char full[160], what[224];
    for (int i = 0; i < n_inputs; i++) {
        snprintf(full, sizeof full, "%s.x%d", name, i);
        x[i] = dc_requires_grad(ref_get(c, "param", full), true);
    }
    dc_tensor *y = equation ? dc_einsum(equation, n_inputs, x) : fn(x);
    snprintf(full, sizeof full, "%s.y", name);
    snprintf(what, sizeof what, "%s: out %s", c->path, full);
    compare(what, y, ref_find(c, "out", full, NULL));
    dc_tensor *seed = ref_get(c, "seed", full);
    if (!y || !seed || !y->requires_grad || dc_backward_with(y, seed) != 0) {
        /* dc_norm with p = 0 records a node too: every case here has a gradient */
        dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", name, dc_last_error());
    } else {
        for (int i = 0; i < n_inputs; i++) {
            snprintf(full, sizeof full, "%s.x%d", name, i);
            snprintf(what, sizeof what, "%s: grad %s", c->path, full);
            compare(what, x[i]->grad, ref_find(c, "grad", full, NULL));
        }
    }
    dc_scope_end(scope);
}

static void check_cases(const math_case *cases, size_t n)
{
    ref_chain c = {0};
    if (!ref_open(&c, MATH_REFS)) return;
    for (size_t i = 0; i < n; i++) check_case(&c, cases[i].name, cases[i].n_inputs, cases[i].fn, NULL);
    ref_free(&c);
}

#define CHECK_CASES(...)                                                                       \
    do {                                                                                       \
        static const math_case cases_[] = {__VA_ARGS__};                                       \
        check_cases(cases_, sizeof cases_ / sizeof *cases_);                                   \
    } while (0)

/* ---- Against torch ---------------------------------------------------------------------------- */

TEST(test_clamp_scalar_and_tensor_bounds_match_torch)
{
    CHECK_CASES({"clamp_both", 1, m_clamp_both}, {"clamp_min_only", 1, m_clamp_min},
                {"clamp_max_only", 1, m_clamp_max}, {"clamp_min_above_max", 1, m_clamp_min_above_max},
                {"clamp_tensor_broadcast", 3, m_clamp_tensor}, {"clamp_tensor_edges", 3, m_clamp_tensor},
                {"clamp_tensor_min_only", 2, m_clamp_tensor_min},
                {"clamp_tensor_max_only", 2, m_clamp_tensor_max});
}

TEST(test_sign_rounding_and_erf_match_torch_on_edge_values)
{
    CHECK_CASES({"sign_edges", 1, m_sign}, {"floor_edges", 1, m_floor}, {"ceil_edges", 1, m_ceil},
                {"round_half_to_even", 1, m_round}, {"round_random", 1, m_round},
                {"erf_values", 1, m_erf}, {"erfc_values", 1, m_erfc});
}

TEST(test_logsumexp_matches_torch_including_infinite_rows)
{
    CHECK_CASES({"logsumexp_d1", 1, m_logsumexp_d1}, {"logsumexp_d02_keepdim", 1, m_logsumexp_d02_keep},
                {"logsumexp_all", 1, m_logsumexp_all}, {"logsumexp_large", 1, m_logsumexp_d1},
                {"logsumexp_infinite_rows", 1, m_logsumexp_d1});
}

TEST(test_cumsum_cumprod_prod_match_torch_including_zeros)
{
    CHECK_CASES({"cumsum_d1", 1, m_cumsum_d1}, {"cumsum_d0_3d", 1, m_cumsum_d0},
                {"cumprod_d1", 1, m_cumprod_d1}, {"cumprod_zeros", 1, m_cumprod_d1},
                {"cumprod_zeros_d0", 1, m_cumprod_d0}, {"prod_d1", 1, m_prod_d1},
                {"prod_d0_keepdim", 1, m_prod_d0_keep}, {"prod_zeros", 1, m_prod_d1},
                {"prod_all", 1, m_prod_all}, {"prod_all_one_zero", 1, m_prod_all});
}

TEST(test_std_matches_torch_with_zero_gradient_on_constant_rows)
{
    CHECK_CASES({"std_d1", 1, m_std_d1}, {"std_d02_biased_keepdim", 1, m_std_d02_biased_keep},
                {"std_all", 1, m_std_all}, {"std_constant_row", 1, m_std_d1});
}

TEST(test_vector_norms_match_torch_at_zero_and_with_ties)
{
    CHECK_CASES({"norm2_d1", 1, m_norm2_d1}, {"norm_frobenius", 1, m_norm_fro},
                {"norm_frobenius_dims", 1, m_norm_fro_dims_keep},
                {"norm1_with_zeros", 1, m_norm1_dlast}, {"norm_inf_ties", 1, m_norm_inf_d1},
                {"norm_neginf_ties", 1, m_norm_neginf_d1}, {"norm_inf_all", 1, m_norm_inf_all},
                {"norm3_d0", 1, m_norm3_d0}, {"norm1_5_d02_keepdim", 1, m_norm1_5_d02_keep},
                {"norm0_5_with_zeros", 1, m_norm0_5_d1}, {"norm0_count", 1, m_norm0_d1});
}

TEST(test_cosine_similarity_and_normalize_match_torch_1_13)
{
    CHECK_CASES({"cosine_d1", 2, m_cosine_d1}, {"cosine_broadcast", 2, m_cosine_broadcast},
                {"cosine_tiny_and_zero_norms", 2, m_cosine_d1},
                {"cosine_eps_large", 2, m_cosine_d0_eps_half}, {"normalize_p2", 1, m_normalize_p2},
                {"normalize_p1_dlast", 1, m_normalize_p1_dlast},
                {"normalize_eps_large", 1, m_normalize_d0_eps1});
}

TEST(test_einsum_equations_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, MATH_REFS)) return;
    for (size_t i = 0; i < sizeof einsum_cases / sizeof *einsum_cases; i++)
        check_case(&c, einsum_cases[i].name, einsum_cases[i].n, NULL, einsum_cases[i].equation);
    ref_free(&c);
}

/* ---- Properties --------------------------------------------------------------------------- */

static dc_tensor *f64(int ndim, const int64_t *shape, const double *v)
{
    return dc_from_buffer(DC_F64, ndim, shape, v);
}

static dc_tensor *gc_prod_d1(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    return dc_prod(x[0], 1, false);
}
static dc_tensor *gc_cumprod_d1(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    return dc_cumprod(x[0], 1);
}
static dc_tensor *gc_prod_all(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    return dc_prod_all(x[0]);
}

/* prod and cumprod are multilinear, so central differences are exact even at zeros: the
 * gradients must match them for rows with one, two and no zeros. */
TEST(test_prod_and_cumprod_gradients_at_zeros_pass_the_gradient_check)
{
    size_t scope = dc_scope_begin();
    static const double v[] = {0, 2, 0, 3, 1, 0, 3, 4, 1.5, 2, -3, 0.5, 2, 0, -1, 0};
    dc_tensor *x = dc_requires_grad(f64(2, (int64_t[]){4, 4}, v), true);
    CHECK_GRADIENTS("prod_d1_zeros", gc_prod_d1, NULL, 1, &x, NULL);
    CHECK_GRADIENTS("cumprod_d1_zeros", gc_cumprod_d1, NULL, 1, &x, NULL);
    dc_tensor *one_zero = dc_requires_grad(f64(2, (int64_t[]){2, 3}, (double[]){1, 2, 0, -1, 3, 0.5}), true);
    CHECK_GRADIENTS("prod_all_one_zero", gc_prod_all, NULL, 1, &one_zero, NULL);
    dc_scope_end(scope);
}

TEST(test_round_is_half_to_even_in_float64_and_float32)
{
    static const double v[] = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 0.4999999999999999};
    static const double want[] = {0, 2, 2, -0.0, -2, -2, 4, 0};
    size_t scope = dc_scope_begin();
    dc_tensor *x = f64(1, (int64_t[]){8}, v);
    dc_tensor *ys[2] = {dc_round(x), dc_round(dc_to_dtype(x, DC_F32))};
    for (int k = 0; k < 2; k++) {
        double *got = dc_test_values(ys[k]);
        REQUIRE(got);
        CHECK_ALLCLOSE("round", got, want, 8, 0, 0);
        CHECK(signbit(got[3])); /* -0.5 rounds to -0, as torch */
        free(got);
    }
    dc_scope_end(scope);
}

TEST(test_piecewise_constant_ops_have_zero_gradient)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_requires_grad(f64(1, (int64_t[]){4}, (double[]){-1.2, 0.3, 2.5, 0}), true);
    dc_tensor *y = dc_add(dc_add(dc_sign(x), dc_floor(x)), dc_add(dc_ceil(x), dc_round(x)));
    REQUIRE(y && dc_backward(dc_sum_all(y)) == 0 && x->grad);
    double *g = dc_test_values(x->grad);
    REQUIRE(g);
    CHECK_ALLCLOSE("zero gradient", g, ((double[]){0, 0, 0, 0}), 4, 0, 0);
    free(g);
    dc_scope_end(scope);
}

TEST(test_einsum_agrees_with_matmul_and_transpose_in_float64)
{
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *a = dc_randn(&rng, DC_F64, 3, (int64_t[]){2, 3, 4});
    dc_tensor *b = dc_randn(&rng, DC_F64, 3, (int64_t[]){2, 4, 5});
    double *want = dc_test_values(dc_transpose(dc_matmul(a, b), 1, 2));
    double *got = dc_test_values(dc_einsum("bij,bjk->bki", 2, (dc_tensor *[]){a, b}));
    REQUIRE(want && got);
    CHECK_ALLCLOSE("einsum bij,bjk->bki", got, want, 30, 1e-12, 1e-12);
    free(want);
    free(got);
    dc_scope_end(scope);
}

TEST(test_cumsum_and_prod_on_scalars_and_empty_dims)
{
    size_t scope = dc_scope_begin();
    dc_tensor *s = dc_scalar(DC_F64, 2.5);
    double v = 0;
    CHECK(dc_to_double_buffer(dc_cumsum(s, 0), &v, 1) == 0 && v == 2.5);
    CHECK(dc_to_double_buffer(dc_cumprod(s, -1), &v, 1) == 0 && v == 2.5);
    CHECK(dc_to_double_buffer(dc_prod(s, 0, false), &v, 1) == 0 && v == 2.5);
    dc_tensor *empty = dc_zeros(DC_F32, 2, (int64_t[]){0, 3});
    dc_tensor *p = dc_prod(empty, 0, false);
    REQUIRE(p && p->ndim == 1 && p->shape[0] == 3);
    double *pv = dc_test_values(p);
    REQUIRE(pv);
    CHECK_ALLCLOSE("prod of an empty dim", pv, ((double[]){1, 1, 1}), 3, 0, 0);
    free(pv);
    dc_tensor *l = dc_logsumexp(empty, 1, (int[]){0}, false); /* torch: -inf */
    double lv[3];
    CHECK(l && dc_to_double_buffer(l, lv, 3) == 0 && lv[0] == -INFINITY && lv[2] == -INFINITY);
    CHECK(dc_numel(dc_cumsum(empty, 0)) == 0);
    dc_scope_end(scope);
}

/* ---- Errors --------------------------------------------------------------------------------- */

/* Values of t, to check that a failing call left its inputs untouched. */
static bool unchanged(dc_tensor *t, const double *before)
{
    double *now = dc_test_values(t);
    bool same = now && memcmp(now, before, (size_t)dc_numel(t) * sizeof *now) == 0;
    free(now);
    return same;
}

TEST(test_math_ops_reject_bad_arguments_and_leave_inputs_unchanged)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_from_buffer(DC_F32, 2, (int64_t[]){2, 3}, (float[]){1, -2, 3, 0, 5, -6});
    dc_tensor *y = dc_ones(DC_F32, 1, (int64_t[]){4});
    dc_tensor *d = dc_ones(DC_F64, 1, (int64_t[]){3});
    dc_tensor *ids = dc_zeros(DC_I64, 1, (int64_t[]){3});
    double *before = dc_test_values(x);
    REQUIRE(x && y && d && ids && before);
    CHECK_ERROR(!dc_clamp(x, NAN, NAN), "at least one of min and max");
    CHECK_ERROR(!dc_clamp(ids, 0, 1), "expected a float32 or float64 tensor, got int64");
    CHECK_ERROR(!dc_clamp(NULL, 0, 1), "NULL");
    CHECK_ERROR(!dc_clamp_tensor(x, NULL, NULL), "at least one of min and max");
    CHECK_ERROR(!dc_clamp_tensor(x, y, NULL), "broadcast");
    CHECK_ERROR(!dc_clamp_tensor(x, d, NULL), "dtype mismatch");
    CHECK_ERROR(!dc_sign(ids), "dc_sign: expected a float32 or float64");
    CHECK_ERROR(!dc_round(NULL), "NULL");
    CHECK_ERROR(!dc_logsumexp(x, 1, (int[]){2}, false), "out of range");
    CHECK_ERROR(!dc_logsumexp(x, 2, (int[]){1, -1}, false), "more than once");
    CHECK_ERROR(!dc_cumsum(x, 2), "out of range");
    CHECK_ERROR(!dc_cumprod(x, -3), "out of range");
    CHECK_ERROR(!dc_cumsum(ids, 0), "dc_cumsum: expected a float32");
    CHECK_ERROR(!dc_prod(x, 5, false), "out of range");
    CHECK_ERROR(!dc_prod_all(ids), "dc_prod_all: expected a float32");
    CHECK_ERROR(!dc_std(x, 1, (int[]){1}, -1, false), "correction must be >= 0");
    CHECK_ERROR(!dc_std(x, 1, (int[]){3}, 1, false), "out of range");
    CHECK_ERROR(!dc_norm(x, NAN, 0, NULL, false), "p is NaN");
    CHECK_ERROR(!dc_norm(x, 2, -1, NULL, false), "ndims must be >= 0");
    CHECK_ERROR(!dc_norm(x, 2, 1, (int[]){4}, false), "out of range");
    CHECK_ERROR(!dc_cosine_similarity(x, y, 1, 1e-8), "broadcast");
    CHECK_ERROR(!dc_cosine_similarity(x, x, 2, 1e-8), "out of range");
    CHECK_ERROR(!dc_cosine_similarity(x, x, 1, -1), "eps must be >= 0");
    CHECK_ERROR(!dc_normalize(x, 2, 3, 1e-12), "out of range");
    CHECK(unchanged(x, before));
    free(before);
    dc_scope_end(scope);
}

TEST(test_einsum_rejects_malformed_equations_naming_the_problem)
{
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_ones(DC_F32, 2, (int64_t[]){2, 3});
    dc_tensor *b = dc_ones(DC_F32, 2, (int64_t[]){3, 4});
    dc_tensor *sq = dc_ones(DC_F32, 2, (int64_t[]){2, 3});
    dc_tensor *ids = dc_zeros(DC_I64, 2, (int64_t[]){2, 3});
    dc_tensor *ab[2] = {a, b};
    double *before = dc_test_values(a);
    REQUIRE(a && b && before);
    CHECK_ERROR(!dc_einsum("ij,jk->ik", 1, ab), "more operand terms than the 1");
    CHECK_ERROR(!dc_einsum("ij->ij", 2, ab), "1 operand term(s) but 2");
    CHECK_ERROR(!dc_einsum("i$,jk", 2, ab), "invalid subscript '$' at index 1");
    CHECK_ERROR(!dc_einsum("i..j,jk", 2, ab), "not part of an ellipsis");
    CHECK_ERROR(!dc_einsum("...i...,jk", 2, ab), "more than one ellipsis");
    CHECK_ERROR(!dc_einsum("i,jk", 2, ab), "operand 0 has 2 dims but its term");
    CHECK_ERROR(!dc_einsum("ijk...,jk", 2, ab), "operand 0 has 2 dims");
    CHECK_ERROR(!dc_einsum("ij,jk->iz", 2, ab), "output subscript 'z' does not appear");
    CHECK_ERROR(!dc_einsum("ij,jk->ii", 2, ab), "output subscript 'i' appears more than once");
    CHECK_ERROR(!dc_einsum("ij,jk->i->k", 2, ab), "more than one '->'");
    CHECK_ERROR(!dc_einsum("ij,jk-ik", 2, ab), "invalid subscript '-'");
    CHECK_ERROR(!dc_einsum("ij,ik->jk", 2, ab), "subscript 'i' has size 3 in operand 1");
    CHECK_ERROR(!dc_einsum("ii->i", 1, &sq), "repeated in operand 0 but its sizes differ");
    CHECK_ERROR(!dc_einsum("ij", 1, &ids), "dc_einsum: expected a float32");
    CHECK_ERROR(!dc_einsum(NULL, 1, &a), "equation is NULL");
    CHECK_ERROR(!dc_einsum("ij", 0, &a), "at least one operand");
    CHECK_ERROR(!dc_einsum("ij,jk", 2, (dc_tensor *[]){a, NULL}), "operand 1 is NULL");
    CHECK(unchanged(a, before));
    free(before);
    dc_scope_end(scope);
}
