/* Linear algebra (src/ops/linalg.c) against PyTorch, against identities on bigger and
 * batched inputs, on bad arguments, and a closed-form linear regression against gradient
 * descent.
 *
 * The reference values come from tests/ref/make_linalg_refs.py (Debian's python3-torch 1.13;
 * `/usr/bin/python3 tests/ref/make_linalg_refs.py` regenerates tests/ref/linalg_refs.txt, which
 * is committed so the tests need no torch). Each case there draws float32 inputs X, builds the
 * op's matrix from X (X + 4 I, X X^T + I, X + X^T), computes in float64 and backpropagates a
 * random seed R_k from each output; eigenvectors and singular vectors are compared through
 * sign-invariant quantities (V * V, U diag(S) Vh). The tests below rebuild each case with
 * deepc in float64 (tight tolerances) and in float32 (loose ones). */
#include "ref_loader.h"

#include <math.h>
#include <stdlib.h>

#define LINALG_REFS "ref/linalg_refs.txt"
#define MAX_OUTS 4

/* ---- The cases of make_linalg_refs.py, rebuilt with deepc ------------------------------- */

static dc_tensor *eye_like(dc_tensor *x, double scale)
{
    const int64_t n = x->shape[x->ndim - 1];
    dc_tensor *t = dc_zeros(DC_F64, 2, (int64_t[]){n, n});
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) ((double *)dc_data(t))[i * n + i] = scale;
    return dc_to_dtype(t, x->dtype);
}
static dc_tensor *shift(dc_tensor *x, double s) { return dc_add(x, eye_like(x, s)); }
static dc_tensor *sym(dc_tensor *x) { return dc_add(x, dc_transpose(x, -2, -1)); }
static dc_tensor *spd(dc_tensor *x) { return shift(dc_matmul(x, dc_transpose(x, -2, -1)), 1); }

typedef int (*case_fn)(dc_tensor *const *p, dc_tensor **out);

static int c_solve(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_solve(shift(p[0], 4), p[1]);
    return 1;
}
static int c_inv(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_inv(shift(p[0], 4));
    return 1;
}
static int c_det(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_det(p[0]);
    return 1;
}
static int c_slogdet(dc_tensor *const *p, dc_tensor **o)
{
    dc_linalg_slogdet(p[0], &o[1], &o[0]);
    return 2;
}
static int c_logdet(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_logdet(spd(p[0]));
    return 1;
}
static int c_cholesky(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_cholesky(spd(p[0]), false);
    return 1;
}
static int c_cholesky_upper(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_cholesky(spd(p[0]), true);
    return 1;
}
static int c_qr(dc_tensor *const *p, dc_tensor **o)
{
    dc_linalg_qr(p[0], DC_QR_REDUCED, &o[0], &o[1]);
    return 2;
}
static int c_qr_complete(dc_tensor *const *p, dc_tensor **o)
{
    dc_linalg_qr(p[0], DC_QR_COMPLETE, &o[0], &o[1]);
    return 2;
}
static int c_lstsq(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_lstsq(p[0], p[1]);
    return 1;
}
static int c_eigh(dc_tensor *const *p, dc_tensor **o)
{
    dc_tensor *v = NULL;
    dc_linalg_eigh(sym(p[0]), &o[0], &v);
    o[1] = dc_mul(v, v);
    return 2;
}
static int svd_outs(dc_tensor *const *p, dc_tensor **o, bool reconstruct)
{
    dc_tensor *u = NULL, *vh = NULL;
    dc_linalg_svd(p[0], false, &u, &o[0], &vh);
    o[1] = dc_mul(u, u);
    o[2] = dc_mul(vh, vh);
    if (!reconstruct) return 3;
    o[3] = dc_matmul(dc_mul(u, dc_unsqueeze(o[0], -2)), vh);
    return 4;
}
static int c_svd_tall(dc_tensor *const *p, dc_tensor **o) { return svd_outs(p, o, true); }
static int c_svd_wide(dc_tensor *const *p, dc_tensor **o) { return svd_outs(p, o, false); }
static int c_svdvals(dc_tensor *const *p, dc_tensor **o)
{
    o[0] = dc_linalg_svdvals(p[0]);
    return 1;
}

static const struct {
    const char *name;
    const char *params[2];
    case_fn fn;
} ref_cases[] = {
    {"solve", {"A", "B"}, c_solve},
    {"solve_batched_vectors", {"A", "B"}, c_solve},
    {"inv", {"A", NULL}, c_inv},
    {"det", {"A", NULL}, c_det},
    {"slogdet", {"A", NULL}, c_slogdet},
    {"logdet", {"X", NULL}, c_logdet},
    {"cholesky", {"X", NULL}, c_cholesky},
    {"cholesky_upper", {"X", NULL}, c_cholesky_upper},
    {"qr_tall", {"A", NULL}, c_qr},
    {"qr_wide", {"A", NULL}, c_qr},
    {"qr_complete_square", {"A", NULL}, c_qr_complete},
    {"lstsq", {"A", "B"}, c_lstsq},
    {"eigh", {"X", NULL}, c_eigh},
    {"svd_tall", {"X", NULL}, c_svd_tall},
    {"svd_wide_batched", {"X", NULL}, c_svd_wide},
    {"svdvals", {"X", NULL}, c_svdvals},
};

/* Every case in dtype: outputs, and the gradients of sum_k sum(out_k * R_k). */
static void check_refs(dc_dtype dtype, double rtol, double atol_scale)
{
    ref_chain c;
    if (!ref_open(&c, LINALG_REFS)) return;
    for (size_t i = 0; i < sizeof ref_cases / sizeof *ref_cases; i++) {
        const char *cn = ref_cases[i].name;
        char full[96], what[160];
        dc_tensor *p[2] = {NULL, NULL}, *out[MAX_OUTS] = {NULL};
        int np = 0;
        for (; np < 2 && ref_cases[i].params[np]; np++) {
            dc_tensor *t = ref_get(&c, "param", ref_case_name(full, sizeof full, cn,
                                                              ref_cases[i].params[np]));
            p[np] = dc_requires_grad(dc_detach(dc_to_dtype(t, dtype)), true);
        }
        int nout = ref_cases[i].fn(p, out);
        dc_tensor *loss = dc_scalar(dtype, 0);
        for (int k = 0; k < nout; k++) {
            char key[16];
            snprintf(key, sizeof key, "%d", k);
            ref_tensor *want = ref_find(&c, "out", ref_case_name(full, sizeof full, cn, key), NULL);
            snprintf(what, sizeof what, "%s output %d (%s)", cn, k, dc_dtype_name(dtype));
            if (!out[k] || !want) {
                dc_test_fail(__FILE__, __LINE__, "%s: missing (%s)", what, dc_last_error());
                continue;
            }
            ref_compare_tol(what, out[k], want, rtol, atol_scale);
            ref_tensor *seed = ref_find(&c, "seed", full, NULL);
            if (seed) loss = dc_add(loss, dc_sum_all(dc_mul(out[k], dc_to_dtype(ref_to_tensor(seed), dtype))));
        }
        if (!loss || dc_backward(loss) != 0) {
            dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", cn, dc_last_error());
            dc_clear_error();
            continue;
        }
        for (int k = 0; k < np; k++) {
            ref_tensor *want =
                ref_find(&c, "grad", ref_case_name(full, sizeof full, cn, ref_cases[i].params[k]), NULL);
            snprintf(what, sizeof what, "%s gradient of %s (%s)", cn, ref_cases[i].params[k],
                     dc_dtype_name(dtype));
            if (!want || !p[k]->grad) dc_test_fail(__FILE__, __LINE__, "%s: missing", what);
            else ref_compare_tol(what, p[k]->grad, want, rtol, atol_scale);
        }
    }
    ref_free(&c);
}

TEST(test_linalg_ops_and_gradients_match_torch_float64) { check_refs(DC_F64, 1e-5, 1e-6); }
TEST(test_linalg_ops_and_gradients_match_torch_float32) { check_refs(DC_F32, 2e-3, 2e-4); }

/* ---- Identities on bigger, batched inputs ----------------------------------------------- */

/* max |a - b| over all elements */
static double max_diff(dc_tensor *a, dc_tensor *b)
{
    dc_tensor *d = dc_abs(dc_sub(a, b));
    if (!d) return INFINITY;
    double *v = dc_test_values(d), m = 0;
    if (!v) return INFINITY;
    for (int64_t i = 0; i < dc_numel(d); i++) m = fmax(m, v[i]);
    free(v);
    return m;
}

static dc_tensor *mt(dc_tensor *t) { return dc_transpose(t, -2, -1); }

TEST(test_linalg_solve_inv_det_identities_batched)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *a = shift(dc_randn(&rng, DC_F64, DC_SHAPE(3, 2, 20, 20)), 8);
    dc_tensor *b = dc_randn(&rng, DC_F64, DC_SHAPE(2, 20, 5)); /* batch dims broadcast */
    dc_tensor *x = dc_linalg_solve(a, b);
    REQUIRE(x);
    CHECK(x->ndim == 4 && x->shape[0] == 3 && x->shape[1] == 2 && x->shape[3] == 5);
    CHECK(max_diff(dc_matmul(a, x), dc_expand(b, 4, (int64_t[]){3, 2, 20, 5})) < 1e-12);
    dc_tensor *inv = dc_linalg_inv(a);
    CHECK(max_diff(dc_matmul(inv, a), eye_like(a, 1)) < 1e-12);
    /* det = product of the eigenvalues of a symmetric matrix; slogdet agrees */
    dc_tensor *s = sym(dc_randn(&rng, DC_F64, DC_SHAPE(4, 6, 6))), *l = NULL, *sign = NULL, *la = NULL;
    REQUIRE(dc_linalg_eigh(s, &l, NULL) == 0);
    dc_tensor *det = dc_linalg_det(s);
    CHECK(max_diff(det, dc_prod(l, -1, false)) < 1e-9 * (1 + max_diff(det, dc_zeros_like(det))));
    REQUIRE(dc_linalg_slogdet(s, &sign, &la) == 0);
    CHECK(max_diff(dc_mul(sign, dc_exp(la)), det) < 1e-9 * (1 + max_diff(det, dc_zeros_like(det))));
    /* float32 in, float32 out */
    dc_tensor *x32 = dc_linalg_solve(dc_to_dtype(a, DC_F32), dc_to_dtype(b, DC_F32));
    REQUIRE(x32);
    CHECK(x32->dtype == DC_F32 && max_diff(dc_to_dtype(x32, DC_F64), x) < 1e-5);
}

TEST(test_linalg_singular_det_slogdet_logdet_values)
{
    double sing[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1}; /* row 2 = 2 * row 1 */
    dc_tensor *a = dc_from_buffer(DC_F64, 2, (int64_t[]){3, 3}, sing), *sign = NULL, *la = NULL;
    CHECK(dc_item(dc_linalg_det(a)) == 0);
    REQUIRE(dc_linalg_slogdet(a, &sign, &la) == 0);
    CHECK(dc_item(sign) == 0 && isinf(dc_item(la)) && dc_item(la) < 0);
    double neg[4] = {0, 1, 1, 0}; /* det -1 */
    dc_tensor *n = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, neg);
    CHECK(dc_item(dc_linalg_det(n)) == -1);
    CHECK(isnan(dc_item(dc_logdet(n))));
    REQUIRE(dc_linalg_slogdet(n, &sign, NULL) == 0);
    CHECK(dc_item(sign) == -1);
    /* a 0 x 0 matrix has det 1 (torch) */
    CHECK(dc_item(dc_linalg_det(dc_zeros(DC_F64, 2, (int64_t[]){0, 0}))) == 1);
}

TEST(test_linalg_cholesky_qr_factor_batched)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    dc_tensor *xx = dc_randn(&rng, DC_F64, DC_SHAPE(3, 12, 12));
    dc_tensor *a = spd(xx);
    dc_tensor *l = dc_linalg_cholesky(a, false), *u = dc_linalg_cholesky(a, true);
    REQUIRE(l && u);
    CHECK(max_diff(dc_matmul(l, mt(l)), a) < 1e-11);
    CHECK(max_diff(u, mt(l)) == 0);
    CHECK(max_diff(dc_tril(l, 0), l) == 0);
    /* only the lower triangle is read (as torch): garbage above it changes nothing */
    CHECK(max_diff(dc_linalg_cholesky(dc_add(a, dc_triu(xx, 1)), false), l) == 0);
    const int64_t shapes[3][2] = {{9, 4}, {4, 9}, {6, 6}};
    for (int s = 0; s < 3; s++) {
        const int64_t m = shapes[s][0], n = shapes[s][1], k = m < n ? m : n;
        dc_tensor *x = dc_randn(&rng, DC_F64, DC_SHAPE(2, m, n)), *q = NULL, *r = NULL;
        REQUIRE(dc_linalg_qr(x, DC_QR_REDUCED, &q, &r) == 0);
        CHECK(q->shape[2] == k && r->shape[1] == k);
        CHECK(max_diff(dc_matmul(q, r), x) < 1e-12);
        CHECK(max_diff(dc_matmul(mt(q), q), eye_like(q, 1)) < 1e-12);
        CHECK(max_diff(dc_triu(r, 0), r) == 0);
        REQUIRE(dc_linalg_qr(x, DC_QR_COMPLETE, &q, &r) == 0);
        CHECK(q->shape[2] == m && r->shape[1] == m);
        CHECK(max_diff(dc_matmul(q, r), x) < 1e-12);
        CHECK(max_diff(dc_matmul(q, mt(q)), eye_like(q, 1)) < 1e-12);
    }
}

TEST(test_linalg_eigh_svd_decompose_batched_and_rank_deficient)
{
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *a = sym(dc_randn(&rng, DC_F64, DC_SHAPE(2, 16, 16))), *l = NULL, *v = NULL;
    REQUIRE(dc_linalg_eigh(a, &l, &v) == 0);
    CHECK(max_diff(dc_matmul(a, v), dc_mul(v, dc_unsqueeze(l, -2))) < 1e-11);
    CHECK(max_diff(dc_matmul(mt(v), v), eye_like(v, 1)) < 1e-12);
    double *lv = dc_test_values(l);
    REQUIRE(lv);
    for (int i = 1; i < 16; i++) CHECK(lv[i - 1] <= lv[i]); /* ascending */
    free(lv);
    /* rank 2 of shape [7, 5]: three zero singular values, U still orthonormal */
    dc_tensor *x = dc_matmul(dc_randn(&rng, DC_F64, DC_SHAPE(7, 2)), dc_randn(&rng, DC_F64, DC_SHAPE(2, 5)));
    for (int full = 0; full < 2; full++) {
        for (int t = 0; t < 2; t++) {
            dc_tensor *m = t ? mt(x) : x, *u = NULL, *s = NULL, *vh = NULL;
            REQUIRE(dc_linalg_svd(m, full, &u, &s, &vh) == 0);
            const int64_t k = s->shape[0];
            CHECK(k == 5);
            CHECK(u->shape[1] == (full ? m->shape[0] : k) && vh->shape[0] == (full ? m->shape[1] : k));
            dc_tensor *us = dc_mul(dc_narrow(u, -1, 0, k), dc_unsqueeze(s, -2));
            CHECK(max_diff(dc_matmul(us, dc_narrow(vh, -2, 0, k)), m) < 1e-12);
            CHECK(max_diff(dc_matmul(mt(u), u), eye_like(u, 1)) < 1e-12);
            CHECK(max_diff(dc_matmul(vh, mt(vh)), eye_like(mt(vh), 1)) < 1e-12);
            double *sv = dc_test_values(s);
            REQUIRE(sv);
            CHECK(sv[0] >= sv[1] && sv[1] > 1e-6 && sv[2] < 1e-12 && sv[4] >= 0);
            free(sv);
        }
    }
    dc_tensor *sv = dc_linalg_svdvals(dc_to_dtype(x, DC_F32));
    REQUIRE(sv);
    CHECK(sv->dtype == DC_F32 && sv->ndim == 1 && sv->shape[0] == 5);
}

/* ---- Bad arguments ------------------------------------------------------------------------- */

TEST(test_linalg_bad_inputs_are_errors_and_leave_inputs_unchanged)
{
    double sing[9] = {1, 2, 3, 2, 4, 6, 1, 0, 1};
    dc_tensor *s = dc_from_buffer(DC_F64, 2, (int64_t[]){3, 3}, sing);
    dc_tensor *b = dc_ones(DC_F64, 2, (int64_t[]){3, 2});
    /* partial pivoting takes row 2, then row 3: the third pivot is the exact 0 */
    CHECK_ERROR(!dc_linalg_solve(s, b), "dc_linalg_solve: the matrix is singular (pivot 3 is 0)");
    CHECK_ERROR(!dc_linalg_inv(s), "dc_linalg_inv: the matrix is singular (pivot 3 is 0)");
    /* exactly singular in exact arithmetic, a rounding error away from 0 in float64 */
    double near[4] = {1, 1.0 / 3, 3, 1};
    dc_tensor *nr = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, near);
    CHECK_ERROR(!dc_linalg_inv(nr), "is singular (pivot 2 is 0");
    /* the batch element is named */
    dc_tensor *batch = dc_stack((dc_tensor *[]){eye_like(s, 1), s}, 2, 0);
    CHECK_ERROR(!dc_linalg_solve(batch, b), "(matrix 1 of the batch)");
    double notpd[9] = {4, 2, 0, 2, 1, 0, 0, 0, 1}; /* leading minor 2 is 0 */
    dc_tensor *np = dc_from_buffer(DC_F64, 2, (int64_t[]){3, 3}, notpd);
    CHECK_ERROR(!dc_linalg_cholesky(np, false),
                "dc_linalg_cholesky: the matrix is not positive definite (leading minor 2)");
    double negdef[4] = {-1, 0, 0, 1};
    CHECK_ERROR(!dc_linalg_cholesky(dc_from_buffer(DC_F64, 2, (int64_t[]){2, 2}, negdef), true),
                "(leading minor 1)");
    dc_tensor *rect = dc_ones(DC_F64, 2, (int64_t[]){3, 4});
    CHECK_ERROR(!dc_linalg_inv(rect), "dc_linalg_inv: A must be a batch of square matrices");
    CHECK_ERROR(!dc_linalg_det(rect), "dc_linalg_det: A must be a batch of square matrices");
    CHECK_ERROR(!dc_linalg_cholesky(rect, false), "square");
    CHECK_ERROR(dc_linalg_eigh(rect, NULL, NULL) != 0, "dc_linalg_eigh: A must be a batch of square");
    CHECK_ERROR(!dc_linalg_solve(rect, b), "square");
    CHECK_ERROR(!dc_linalg_inv(dc_ones(DC_F64, 1, (int64_t[]){3})), "at least 2 dims");
    CHECK_ERROR(!dc_linalg_det(dc_ones(DC_I64, 2, (int64_t[]){2, 2})), "float32 or float64, got int64");
    CHECK_ERROR(!dc_linalg_solve(s, dc_ones(DC_F32, 2, (int64_t[]){3, 2})), "dc_linalg_solve");
    CHECK_ERROR(!dc_linalg_solve(eye_like(s, 1), dc_ones(DC_F64, 2, (int64_t[]){4, 2})),
                "does not match A of shape [3, 3]");
    dc_tensor *a23 = dc_zeros(DC_F64, 3, (int64_t[]){2, 3, 3}), *b33 = dc_ones(DC_F64, 3, (int64_t[]){3, 3, 1});
    CHECK_ERROR(!dc_linalg_solve(a23, b33), "dc_linalg_solve");
    CHECK_ERROR(!dc_linalg_lstsq(rect, dc_ones(DC_F64, 2, (int64_t[]){3, 1})),
                "dc_linalg_lstsq: A of shape [3, 4] has fewer rows than columns");
    CHECK_ERROR(!dc_linalg_lstsq(dc_ones(DC_F64, 2, (int64_t[]){5, 2}), dc_ones(DC_F64, 2, (int64_t[]){5, 1})),
                "dc_linalg_lstsq: A does not have full column rank (column 2");
    CHECK_ERROR(!dc_linalg_lstsq(dc_ones(DC_F64, 2, (int64_t[]){5, 2}), dc_ones(DC_F64, 2, (int64_t[]){4, 1})),
                "does not match");
    dc_tensor *q = eye_like(s, 1), *r = eye_like(s, 1), *l = q, *v = q, *u = q, *sv = q, *vh = q;
    CHECK_ERROR(dc_linalg_qr(rect, (dc_qr_mode)7, &q, &r) != 0, "dc_linalg_qr: unknown mode 7");
    CHECK(q == NULL && r == NULL);
    CHECK_ERROR(dc_linalg_eigh(NULL, &l, &v) != 0, "dc_linalg_eigh: input 'A' is NULL");
    CHECK(l == NULL && v == NULL);
    CHECK_ERROR(dc_linalg_svd(dc_ones(DC_I64, 2, (int64_t[]){2, 2}), false, &u, &sv, &vh) != 0,
                "dc_linalg_svd: A must be float32 or float64");
    CHECK(u == NULL && sv == NULL && vh == NULL);
    CHECK_ERROR(!dc_linalg_solve(NULL, b), "dc_linalg_solve: input 'A' is NULL");
    /* inputs untouched (by the failures above and by successful calls) */
    double *sv2 = dc_test_values(s);
    REQUIRE(sv2);
    for (int i = 0; i < 9; i++) CHECK(sv2[i] == sing[i]);
    free(sv2);
    double *npv = dc_test_values(np);
    REQUIRE(npv);
    for (int i = 0; i < 9; i++) CHECK(npv[i] == notpd[i]);
    free(npv);
    dc_tensor *x = dc_randn(NULL, DC_F64, DC_SHAPE(4, 3)), *x0 = dc_clone(x);
    REQUIRE(dc_linalg_svd(x, true, NULL, NULL, NULL) == 0 && dc_linalg_qr(x, DC_QR_REDUCED, NULL, NULL) == 0);
    CHECK(max_diff(x, x0) == 0);
}

TEST(test_linalg_qr_complete_tall_backward_is_an_error)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(4, 2)), true), *q = NULL;
    REQUIRE(dc_linalg_qr(x, DC_QR_COMPLETE, &q, NULL) == 0);
    CHECK_ERROR(dc_backward(dc_sum_all(q)) != 0, "not differentiable when mode is complete and m > n");
}

/* ---- Linear regression: closed form = gradient descent ---------------------------------- */

/* y = X w + b + noise on 64 points with 3 features: the normal equations (solve of
 * X1^T X1 w = X1^T y, X1 = [X, 1]) and lstsq give the minimiser of the mean squared error,
 * and full-batch gradient descent on that loss with step 1 / (largest eigenvalue of its
 * Hessian 2 X1^T X1 / N) reaches it to 1e-5 (float64). */
TEST(test_linear_regression_closed_form_matches_gradient_descent)
{
    dc_rng rng;
    dc_rng_seed(&rng, 17);
    const int64_t n = 64;
    dc_tensor *x = dc_randn(&rng, DC_F64, DC_SHAPE(n, 3));
    dc_tensor *x1 = dc_cat((dc_tensor *[]){x, dc_ones(DC_F64, 2, (int64_t[]){n, 1})}, 2, 1);
    double wtrue[4] = {1.5, -2, 0.5, 0.25};
    dc_tensor *y = dc_add(dc_matmul(x1, dc_from_buffer(DC_F64, 2, (int64_t[]){4, 1}, wtrue)),
                          dc_mul_scalar(dc_randn(&rng, DC_F64, DC_SHAPE(n, 1)), 0.1));
    dc_tensor *xt = mt(x1);
    dc_tensor *w_normal = dc_linalg_solve(dc_matmul(xt, x1), dc_matmul(xt, y));
    dc_tensor *w_lstsq = dc_linalg_lstsq(x1, y);
    REQUIRE(w_normal && w_lstsq);
    CHECK(max_diff(w_normal, w_lstsq) < 1e-12);

    dc_tensor *hess = dc_mul_scalar(dc_matmul(xt, x1), 2.0 / (double)n), *ev = NULL;
    REQUIRE(dc_linalg_eigh(hess, &ev, NULL) == 0);
    double *evs = dc_test_values(ev);
    REQUIRE(evs);
    const double lr = 1 / evs[3];
    CHECK(evs[0] > 0);
    free(evs);
    dc_tensor *w = dc_requires_grad(dc_zeros(DC_F64, 2, (int64_t[]){4, 1}), true);
    for (int step = 0; step < 2000; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = dc_mse_loss(dc_matmul(x1, w), y, DC_REDUCE_MEAN);
        if (!loss || dc_backward(loss) != 0) {
            dc_scope_end(scope);
            REQUIRE(false);
        }
        dc_axpy_(w, -lr, w->grad);
        dc_zero_grad(w);
        dc_scope_end(scope);
    }
    const double diff = max_diff(dc_detach(w), w_normal);
    EXPECT(diff < 1e-5, "gradient descent %.3g away from the closed form", diff);
    CHECK(max_diff(w_normal, dc_from_buffer(DC_F64, 2, (int64_t[]){4, 1}, wtrue)) < 0.1);
}
