/* Reductions and softmax (src/ops/reduce.c, src/ops/softmax.c): hand-computed values,
 * strided inputs checked against a naive loop, errors, and a float64 finite-difference check
 * of every backward. Expected softmax values are from numpy (float64). */
#include "test.h"

#include <stdlib.h>

/* ---- Helpers ----------------------------------------------------------------------------------- */

static bool values_are(const dc_tensor *t, const double *expect, int64_t n, double tol)
{
    if (!t || dc_numel(t) != n) return false;
    double *v = dc_test_values(t);
    if (!v) return false;
    int ok = CHECK_ALLCLOSE("values", v, expect, n, 0, tol);
    free(v);
    return ok;
}

static bool shape_is(const dc_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return false;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return false;
    return true;
}

/* Naive reference: sum of t (logical row-major values v) over the dims in mask, into out
 * (indexed by the kept dims, row-major). */
static void naive_sum(const dc_tensor *t, const double *v, const bool *mask, double *out,
                      int64_t nout)
{
    for (int64_t o = 0; o < nout; o++) out[o] = 0;
    int64_t n = dc_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t rest = i, o = 0, scale = 1;
        for (int d = t->ndim - 1; d >= 0; d--) {
            int64_t id = rest % t->shape[d];
            rest /= t->shape[d];
            if (!mask[d]) {
                o += id * scale;
                scale *= t->shape[d];
            }
        }
        out[o] += v[i];
    }
}

/* Central differences of loss(x) = sum(f(x) * w) for a fixed random w, against backward.
 * x is a float64 leaf; its elements are perturbed in place. */
typedef dc_tensor *(*op_fn)(dc_tensor *x);

static void gradcheck(const char *what, op_fn f, int ndim, const int64_t *shape, uint64_t seed)
{
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_tensor *x = dc_requires_grad(dc_randn(&rng, DC_F64, ndim, shape), true);
    dc_tensor *y = f(x);
    REQUIRE(x && y);
    dc_tensor *w = dc_randn(&rng, DC_F64, y->ndim, y->shape);
    REQUIRE(w && dc_backward(dc_sum_all(dc_mul(y, w))) == 0 && x->grad);
    int64_t n = dc_numel(x);
    double *analytic = dc_test_values(x->grad), *numeric = malloc((size_t)n * sizeof(double));
    double *xd = dc_data(x);
    const double h = 1e-6;
    bool prev = dc_no_grad_begin();
    for (int64_t i = 0; numeric && i < n; i++) {
        double keep = xd[i], loss[2];
        for (int s = 0; s < 2; s++) {
            size_t scope = dc_scope_begin();
            xd[i] = keep + (s ? -h : h);
            loss[s] = dc_item(dc_sum_all(dc_mul(f(x), w)));
            dc_scope_end(scope);
        }
        xd[i] = keep;
        numeric[i] = (loss[0] - loss[1]) / (2 * h);
    }
    dc_grad_mode_restore(prev);
    if (analytic && numeric) CHECK_ALLCLOSE(what, analytic, numeric, n, 1e-6, 1e-7);
    else CHECK(!"gradcheck: out of memory");
    free(analytic);
    free(numeric);
    dc_zero_grad(x);
}

/* ---- Sum and mean ------------------------------------------------------------------------------ */

TEST(test_sum_over_dims_keepdim)
{
    /* x[i][j][k] = 12i + 4j + k; sum over i, k = 4*12 + 8*4j + 2*(0+1+2+3) = 60 + 32j */
    dc_tensor *x = dc_reshape(dc_arange(DC_F32, 0, 24, 1), DC_SHAPE(2, 3, 4));
    dc_tensor *keep = dc_sum(x, 2, (int[]){0, 2}, true);
    CHECK(shape_is(keep, 3, (int64_t[]){1, 3, 1}));
    CHECK(values_are(keep, (double[]){60, 92, 124}, 3, 1e-5));
    dc_tensor *flat = dc_sum(x, 2, (int[]){-1, 0}, false); /* negative dims, any order */
    CHECK(shape_is(flat, 1, (int64_t[]){3}));
    CHECK(values_are(flat, (double[]){60, 92, 124}, 3, 1e-5));
    dc_tensor *all = dc_sum(x, 0, NULL, false); /* ndims 0: every dim -> a scalar */
    CHECK(shape_is(all, 0, NULL) && values_are(all, (double[]){276}, 1, 1e-4));
    dc_tensor *all_keep = dc_sum(x, 0, NULL, true);
    CHECK(shape_is(all_keep, 3, (int64_t[]){1, 1, 1}));
    CHECK(values_are(dc_sum_all(x), (double[]){276}, 1, 1e-4));
    CHECK(values_are(dc_mean_all(x), (double[]){11.5}, 1, 1e-6));
    /* mean over the last dim: row means 1.5, 5.5, ... */
    dc_tensor *m = dc_mean(x, 1, (int[]){2}, false);
    CHECK(shape_is(m, 2, (int64_t[]){2, 3}));
    CHECK(values_are(m, (double[]){1.5, 5.5, 9.5, 13.5, 17.5, 21.5}, 6, 1e-6));
}

TEST(test_sum_of_empty_is_zero_and_mean_is_nan)
{
    dc_tensor *e = dc_zeros(DC_F32, DC_SHAPE(3, 0));
    CHECK(values_are(dc_sum_all(e), (double[]){0}, 1, 0));
    CHECK(isnan(dc_item(dc_mean_all(e))));
    dc_tensor *rows = dc_sum(e, 1, (int[]){1}, false); /* 3 sums of nothing */
    CHECK(shape_is(rows, 1, (int64_t[]){3}) && values_are(rows, (double[]){0, 0, 0}, 3, 0));
    dc_tensor *cols = dc_sum(e, 1, (int[]){0}, false); /* no outputs */
    CHECK(shape_is(cols, 1, (int64_t[]){0}));
    dc_tensor *s = dc_scalar(DC_F64, 2.5); /* a scalar reduces over dim 0 / -1 to itself */
    CHECK(values_are(dc_sum(s, 1, (int[]){-1}, true), (double[]){2.5}, 1, 0));
    CHECK(values_are(dc_max(s, 0, false), (double[]){2.5}, 1, 0));
}

TEST(test_sum_float32_of_a_million_is_accurate)
{
    /* 10^6 copies of 0.1f: a plain float loop drifts by ~1%, the blocked sum must not */
    const double v = (double)0.1f;
    dc_tensor *x = dc_full(DC_F32, DC_SHAPE(1000000), 0.1);
    CHECK_NEAR(dc_item(dc_sum_all(x)), 1e6 * v, 1e-2);
    CHECK_NEAR(dc_item(dc_mean_all(x)), v, 1e-8);
    /* the same down the columns (the reduced dim is outer in memory) */
    dc_tensor *cols = dc_sum(dc_reshape(x, DC_SHAPE(50000, 20)), 1, (int[]){0}, false);
    REQUIRE(cols && dc_numel(cols) == 20);
    for (int64_t i = 0; i < 20; i++) CHECK_NEAR(dc_item_at(cols, &i), 50000 * v, 1e-3);
    /* and along rows of a strided view */
    dc_tensor *rows = dc_sum(dc_transpose(dc_reshape(x, DC_SHAPE(20, 50000)), 0, 1), 1, (int[]){0}, false);
    REQUIRE(rows && dc_numel(rows) == 20);
    for (int64_t i = 0; i < 20; i++) CHECK_NEAR(dc_item_at(rows, &i), 50000 * v, 1e-3);
}

TEST(test_sum_of_strided_input_matches_naive_loop_for_every_dim_set)
{
    /* a permuted, sliced [6, 5, 40] view: every subset of dims, both dtypes */
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    for (int dt = 0; dt < 2; dt++) {
        dc_tensor *base = dc_randn(&rng, dt ? DC_F64 : DC_F32, DC_SHAPE(40, 6, 10));
        dc_tensor *x = dc_slice(dc_permute(base, (int[]){1, 2, 0}), 1, 0, 10, 2); /* [6, 5, 40] */
        REQUIRE(x && !dc_is_contiguous(x));
        double *v = dc_test_values(x);
        REQUIRE(v);
        for (int set = 0; set < 8; set++) {
            bool mask[3];
            int dims[3], n = 0;
            for (int d = 0; d < 3; d++)
                if ((mask[d] = set >> d & 1)) dims[n++] = d;
            if (n == 0) continue;
            dc_tensor *s = dc_sum(x, n, dims, false);
            double expect[240];
            naive_sum(x, v, mask, expect, dc_numel(s));
            double *got = dc_test_values(s);
            if (!got) {
                CHECK(!"sum failed");
                continue;
            }
            CHECK_ALLCLOSE(dt ? "f64 strided sum" : "f32 strided sum", got, expect, dc_numel(s),
                           1e-5, 1e-5);
            free(got);
        }
        free(v);
    }
}

/* ---- Variance ----------------------------------------------------------------------------------- */

TEST(test_var_unbiased_matches_formula)
{
    /* [1, 2, 3, 4]: mean 2.5, squared deviations sum to 5 -> 5/3 unbiased, 5/4 biased */
    dc_tensor *x = dc_from_buffer(DC_F64, DC_SHAPE(4), (double[]){1, 2, 3, 4});
    CHECK(values_are(dc_var(x, 0, NULL, 1, false), (double[]){5.0 / 3}, 1, 1e-12));
    CHECK(values_are(dc_var(x, 0, NULL, 0, false), (double[]){1.25}, 1, 1e-12));
    /* rows of [[1, 2, 3], [2, 4, 9]]: means 2 and 5, sums of squares 2 and 26 */
    dc_tensor *m = dc_from_buffer(DC_F32, DC_SHAPE(2, 3), (float[]){1, 2, 3, 2, 4, 9});
    dc_tensor *rows = dc_var(m, 1, (int[]){1}, 1, true);
    CHECK(shape_is(rows, 2, (int64_t[]){2, 1}) && values_are(rows, (double[]){1, 13}, 2, 1e-5));
    /* columns through a transposed view: [1,2] [2,4] [3,9] -> 0.5, 2, 18 */
    CHECK(values_are(dc_var(dc_transpose(m, 0, 1), 1, (int[]){1}, 1, false),
                     (double[]){0.5, 2, 18}, 3, 1e-5));
    /* a large offset does not destroy float32 precision (two-pass) */
    dc_tensor *big = dc_add_scalar(dc_arange(DC_F32, 0, 4, 1), 1e4);
    CHECK(values_are(dc_var(big, 0, NULL, 1, false), (double[]){5.0 / 3}, 1, 1e-3));
    /* one element with correction 1: 0/0 = NaN, like torch */
    CHECK(isnan(dc_item(dc_var(dc_scalar(DC_F64, 3), 0, NULL, 1, false))));
}

/* ---- Max and argmax ------------------------------------------------------------------------------ */

TEST(test_max_gradient_goes_to_first_max)
{
    dc_tensor *x = dc_requires_grad(
        dc_from_buffer(DC_F64, DC_SHAPE(2, 3), (double[]){1, 3, 3, 2, 0, 2}), true);
    dc_tensor *m = dc_max(x, 1, false);
    CHECK(shape_is(m, 1, (int64_t[]){2}) && values_are(m, (double[]){3, 2}, 2, 0));
    CHECK(strcmp(dc_grad_fn_name(m), "max") == 0);
    dc_tensor *idx = dc_argmax(x, -1, false);
    CHECK(idx && idx->dtype == DC_I64 && !idx->requires_grad);
    CHECK(values_are(idx, (double[]){1, 0}, 2, 0));
    /* loss = 10*max(row 0) + 20*max(row 1) */
    REQUIRE(dc_backward(dc_sum_all(dc_mul(m, dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){10, 20})))) == 0);
    CHECK(values_are(x->grad, (double[]){0, 10, 0, 20, 0, 0}, 6, 0));
    dc_zero_grad(x);
    /* over dim 0 with keepdim: [[1,3,3],[2,0,2]] -> [[2,3,3]] from rows 1, 0, 0 */
    dc_tensor *m0 = dc_max(x, 0, true);
    CHECK(shape_is(m0, 2, (int64_t[]){1, 3}) && values_are(m0, (double[]){2, 3, 3}, 3, 0));
    CHECK(values_are(dc_argmax(x, 0, true), (double[]){1, 0, 0}, 3, 0));
    REQUIRE(dc_backward(dc_sum_all(m0)) == 0);
    CHECK(values_are(x->grad, (double[]){0, 1, 1, 1, 0, 0}, 6, 0));
    dc_zero_grad(x);
}

TEST(test_max_of_strided_input_and_nan)
{
    /* a long column of a transposed [40, 100] float tensor, maximum planted at row 77 */
    dc_tensor *base = dc_zeros(DC_F32, DC_SHAPE(100, 40));
    dc_fill_(dc_select(dc_select(base, 0, 77), 0, 5), 9.0);
    dc_fill_(dc_select(dc_select(base, 0, 90), 0, 5), 9.0); /* a later tie loses */
    dc_tensor *t = dc_transpose(base, 0, 1); /* [40, 100] */
    dc_tensor *idx = dc_argmax(t, 1, false);
    REQUIRE(idx && dc_numel(idx) == 40);
    CHECK_NEAR(dc_item_at(idx, (int64_t[]){5}), 77, 0);
    CHECK_NEAR(dc_item_at(idx, (int64_t[]){6}), 0, 0); /* all zeros: the first */
    CHECK_NEAR(dc_item_at(dc_max(t, 1, false), (int64_t[]){5}), 9, 0);
    /* the column strategy (dim 0 of a contiguous [100, 40]) agrees */
    dc_tensor *idx0 = dc_argmax(base, 0, false);
    CHECK_NEAR(dc_item_at(idx0, (int64_t[]){5}), 77, 0);
    /* NaN wins, like torch */
    dc_tensor *n = dc_from_buffer(DC_F32, DC_SHAPE(4), (float[]){1, NAN, 5, NAN});
    CHECK(isnan(dc_item(dc_max(n, 0, false))));
    CHECK_NEAR(dc_item(dc_argmax(n, 0, false)), 1, 0);
}

/* ---- Softmax ------------------------------------------------------------------------------------- */

TEST(test_softmax_rows_sum_to_one)
{
    dc_tensor *x = dc_from_buffer(DC_F32, DC_SHAPE(2, 3), (float[]){1, 2, 3, 0, 0, 0});
    dc_tensor *y = dc_softmax(x, -1);
    CHECK(values_are(y, (double[]){0.09003057, 0.24472847, 0.66524096, 1. / 3, 1. / 3, 1. / 3}, 6,
                     1e-7));
    dc_tensor *ly = dc_log_softmax(x, 1);
    CHECK(values_are(ly, (double[]){-2.40760596, -1.40760596, -0.40760596, -1.09861229, -1.09861229,
                                    -1.09861229},
                     6, 1e-6));
    /* long float32 rows (the polynomial exp path): each sums to 1 and matches float64 */
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    dc_tensor *big = dc_mul_scalar(dc_randn(&rng, DC_F32, DC_SHAPE(7, 1003)), 8.0);
    dc_tensor *ref = dc_softmax(dc_to_dtype(big, DC_F64), 1);
    dc_tensor *got = dc_softmax(big, 1);
    double *g = dc_test_values(got), *r = dc_test_values(ref);
    REQUIRE(g && r);
    CHECK_ALLCLOSE("f32 softmax vs f64", g, r, 7 * 1003, 2e-6, 1e-12);
    double *sums = dc_test_values(dc_sum(got, 1, (int[]){1}, false));
    REQUIRE(sums);
    CHECK_ALLCLOSE("row sums", sums, ((double[]){1, 1, 1, 1, 1, 1, 1}), 7, 0, 1e-5);
    free(g), free(r), free(sums);
    double *lg = dc_test_values(dc_log_softmax(big, 1));
    double *lr = dc_test_values(dc_log_softmax(dc_to_dtype(big, DC_F64), 1));
    REQUIRE(lg && lr);
    CHECK_ALLCLOSE("f32 log_softmax vs f64", lg, lr, 7 * 1003, 1e-5, 1e-5);
    free(lg), free(lr);
}

TEST(test_log_softmax_stable_for_large_inputs)
{
    dc_tensor *x = dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1000, 1001, 1002});
    CHECK(values_are(dc_log_softmax(x, 0), (double[]){-2.40760596, -1.40760596, -0.40760596}, 3,
                     1e-4));
    CHECK(values_are(dc_softmax(x, 0), (double[]){0.09003057, 0.24472847, 0.66524096}, 3, 1e-6));
    dc_tensor *neg = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){-1000, 0});
    CHECK(values_are(dc_softmax(neg, 0), (double[]){0, 1}, 2, 0));
    CHECK(values_are(dc_log_softmax(neg, 0), (double[]){-1000, 0}, 2, 1e-12));
    /* a NaN poisons its row only */
    dc_tensor *n = dc_from_buffer(DC_F32, DC_SHAPE(2, 2), (float[]){NAN, 1, 0, 0});
    double *v = dc_test_values(dc_softmax(n, 1));
    REQUIRE(v);
    CHECK(isnan(v[0]) && isnan(v[1]) && fabs(v[2] - 0.5) < 1e-7);
    free(v);
}

TEST(test_softmax_over_a_strided_dim_matches_contiguous)
{
    /* softmax over dim 0 of a transposed view == transpose of softmax over the last dim */
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(6, 37));
    for (int log = 0; log < 2; log++) {
        dc_tensor *(*f)(dc_tensor *, int) = log ? dc_log_softmax : dc_softmax;
        dc_tensor *strided = f(dc_transpose(x, 0, 1), 0);        /* [37, 6] */
        dc_tensor *rows = dc_contiguous(dc_transpose(f(x, 1), 0, 1));
        double *a = dc_test_values(strided), *b = dc_test_values(rows);
        REQUIRE(a && b);
        CHECK_ALLCLOSE("strided softmax", a, b, 6 * 37, 1e-6, 1e-6);
        free(a), free(b);
    }
    /* a middle dim (column blocks of 64 + 6 rows) == the last dim of a permuted copy */
    dc_tensor *x3 = dc_randn(&rng, DC_F32, DC_SHAPE(3, 37, 70));
    for (int log = 0; log < 2; log++) {
        dc_tensor *(*f)(dc_tensor *, int) = log ? dc_log_softmax : dc_softmax;
        dc_tensor *middle = f(x3, 1);
        dc_tensor *moved = dc_contiguous(dc_transpose(f(dc_contiguous(dc_transpose(x3, 1, 2)), 2), 1, 2));
        double *a = dc_test_values(middle), *b = dc_test_values(moved);
        REQUIRE(a && b);
        CHECK_ALLCLOSE("middle-dim softmax", a, b, 3 * 37 * 70, 1e-6, 1e-6);
        free(a), free(b);
    }
    /* a middle dim of a 3-D tensor: every [i, :, k] sums to 1 */
    dc_tensor *y = dc_softmax(dc_randn(&rng, DC_F64, DC_SHAPE(3, 4, 5)), 1);
    double *s = dc_test_values(dc_sum(y, 1, (int[]){1}, false));
    REQUIRE(s);
    for (int i = 0; i < 15; i++) CHECK_NEAR(s[i], 1.0, 1e-12);
    free(s);
}

/* ---- Errors --------------------------------------------------------------------------------------- */

TEST(test_reduce_and_softmax_errors)
{
    dc_tensor *x = dc_zeros(DC_F32, DC_SHAPE(2, 3));
    dc_tensor *ids = dc_arange(DC_I64, 0, 4, 1);
    CHECK_ERROR(dc_sum(x, 1, (int[]){2}, false) == NULL, "out of range");
    CHECK_ERROR(dc_sum(x, 1, (int[]){-3}, false) == NULL, "out of range");
    CHECK_ERROR(dc_sum(x, 2, (int[]){1, -1}, false) == NULL, "more than once");
    CHECK_ERROR(dc_mean(x, -1, NULL, false) == NULL, "ndims");
    CHECK_ERROR(dc_sum(x, 1, NULL, false) == NULL, "dims is NULL");
    CHECK_ERROR(dc_sum(NULL, 0, NULL, false) == NULL, "dc_sum");
    CHECK_ERROR(dc_sum_all(NULL) == NULL, "NULL");
    CHECK_ERROR(dc_mean_all(ids) == NULL, "float32 or float64");
    CHECK_ERROR(dc_var(x, 0, NULL, -1, false) == NULL, "correction");
    CHECK_ERROR(dc_var(ids, 0, NULL, 1, false) == NULL, "dc_var");
    CHECK_ERROR(dc_max(x, 2, false) == NULL, "dc_max: dim 2 out of range");
    CHECK_ERROR(dc_argmax(ids, 0, false) == NULL, "float32 or float64");
    CHECK_ERROR(dc_max(dc_zeros(DC_F32, DC_SHAPE(0, 3)), 0, false) == NULL, "size 0");
    CHECK_ERROR(dc_argmax(NULL, 0, false) == NULL, "NULL");
    CHECK_ERROR(dc_softmax(x, 2) == NULL, "dc_softmax: dim 2 out of range");
    CHECK_ERROR(dc_log_softmax(ids, 0) == NULL, "float32 or float64");
    CHECK_ERROR(dc_softmax(NULL, 0) == NULL, "NULL");
}

/* ---- Gradient checks (float64, central differences) ------------------------------------------------- */

static dc_tensor *sum_dims_0_2(dc_tensor *x) { return dc_sum(x, 2, (int[]){0, 2}, false); }
static dc_tensor *mean_dim_1_keep(dc_tensor *x) { return dc_mean(x, 1, (int[]){1}, true); }
static dc_tensor *var_dims_0_2(dc_tensor *x) { return dc_var(x, 2, (int[]){2, 0}, 1, false); }
static dc_tensor *var_all_biased_keep(dc_tensor *x) { return dc_var(x, 0, NULL, 0, true); }
static dc_tensor *max_dim_1(dc_tensor *x) { return dc_max(x, 1, false); }
static dc_tensor *max_dim_0_transposed(dc_tensor *x) { return dc_max(dc_transpose(x, 0, 2), 0, true); }
static dc_tensor *softmax_last(dc_tensor *x) { return dc_softmax(x, -1); }
static dc_tensor *softmax_dim_1(dc_tensor *x) { return dc_softmax(x, 1); }
static dc_tensor *log_softmax_last(dc_tensor *x) { return dc_log_softmax(x, 2); }
static dc_tensor *log_softmax_transposed(dc_tensor *x) { return dc_log_softmax(dc_transpose(x, 0, 2), 0); }

TEST(test_reduce_gradcheck_f64)
{
    const int64_t shape[3] = {3, 4, 5};
    gradcheck("sum dims 0,2", sum_dims_0_2, 3, shape, 1);
    gradcheck("mean dim 1 keepdim", mean_dim_1_keep, 3, shape, 2);
    gradcheck("var dims 2,0", var_dims_0_2, 3, shape, 3);
    gradcheck("var all biased keepdim", var_all_biased_keep, 3, shape, 4);
    gradcheck("max dim 1", max_dim_1, 3, shape, 5);
    gradcheck("max of a transposed view", max_dim_0_transposed, 3, shape, 6);
}

TEST(test_softmax_gradcheck_f64)
{
    const int64_t shape[3] = {3, 4, 5};
    gradcheck("softmax last dim", softmax_last, 3, shape, 7);
    gradcheck("softmax dim 1", softmax_dim_1, 3, shape, 8);
    gradcheck("log_softmax last dim", log_softmax_last, 3, shape, 9);
    gradcheck("log_softmax of a transposed view", log_softmax_transposed, 3, shape, 10);
}

TEST(test_softmax_backward_f32_matches_f64)
{
    /* the float32 kernels (contiguous rows) agree with float64 on a random upstream gradient */
    dc_rng rng;
    dc_rng_seed(&rng, 12);
    dc_tensor *x64 = dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(4, 50)), true);
    dc_tensor *x32 = dc_requires_grad(dc_to_dtype(dc_detach(x64), DC_F32), true);
    dc_tensor *w = dc_randn(&rng, DC_F64, DC_SHAPE(4, 50));
    for (int k = 0; k < 4; k++) { /* softmax / log_softmax, over rows (dim 1) / columns (dim 0) */
        int log = k & 1, dim = k >> 1 ? 0 : 1;
        dc_tensor *(*f)(dc_tensor *, int) = log ? dc_log_softmax : dc_softmax;
        REQUIRE(dc_backward(dc_sum_all(dc_mul(f(x64, dim), w))) == 0);
        REQUIRE(dc_backward(dc_sum_all(dc_mul(f(x32, dim), dc_to_dtype(w, DC_F32)))) == 0);
        double *a = dc_test_values(x32->grad), *b = dc_test_values(x64->grad);
        REQUIRE(a && b);
        CHECK_ALLCLOSE(log ? "log_softmax f32 grad" : "softmax f32 grad", a, b, 200, 1e-4, 1e-6);
        free(a), free(b);
        dc_zero_grad(x64);
        dc_zero_grad(x32);
    }
}

TEST(test_reduce_and_softmax_survive_allocation_failures)
{
    /* every allocation of forward and backward fails in turn: errors, no leaks, no crash */
    dc_rng rng;
    dc_rng_seed(&rng, 13);
    dc_tensor *x = dc_requires_grad(dc_randn(&rng, DC_F32, DC_SHAPE(8, 10000)), true);
    REQUIRE(x);
    for (int n = 1; n < 60; n++) {
        size_t scope = dc_scope_begin();
        dc_debug_fail_alloc_after(n);
        dc_tensor *terms[3] = {dc_var(x, 1, (int[]){1}, 1, false),
                               dc_max(dc_softmax(x, 0), 1, false),
                               dc_mean(dc_log_softmax(x, 1), 1, (int[]){1}, false)};
        dc_tensor *loss = dc_add(dc_sum_all(dc_add(dc_add(terms[0], terms[1]), terms[2])), dc_sum_all(x));
        if (loss) dc_backward(loss);
        dc_debug_fail_alloc_after(0);
        dc_clear_error();
        dc_zero_grad(x);
        dc_scope_end(scope);
    }
}
