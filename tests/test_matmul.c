/* Tests of dc_matmul: every torch.matmul shape case against a naive triple loop (computed
 * through dc_item_at, so strides and broadcasting are checked independently), gradients
 * against the float64 central-difference check of test_index.c, and the error messages. */
#include "test.h"

#include <stdlib.h>

typedef dc_tensor *(*test_op_fn)(dc_tensor *const *inputs, void *ctx);
/* Defined in test_index.c. */
int test_gradcheck_f64(const char *what, test_op_fn f, dc_tensor *const *inputs, int n,
                       void *ctx);

/* torch.matmul by definition: promote 1-D operands, broadcast the batch dims, and sum
 * a[..., i, p] * b[..., p, j] in double. Returns the values in row-major order of the
 * result (the dims added by promotion have size 1, so dropping them changes nothing) and
 * their count in *n. */
static double *naive_matmul(const dc_tensor *a, const dc_tensor *b, int64_t *n)
{
    const int an = a->ndim == 1 ? 2 : a->ndim, bn = b->ndim == 1 ? 2 : b->ndim;
    int64_t as[DC_MAX_DIMS], bs[DC_MAX_DIMS];
    for (int d = 0; d < an; d++) as[d] = a->ndim == 1 ? (d == 0 ? 1 : a->shape[0]) : a->shape[d];
    for (int d = 0; d < bn; d++) bs[d] = b->ndim == 1 ? (d == 0 ? b->shape[0] : 1) : b->shape[d];
    const int nb = (an > bn ? an : bn) - 2;
    int64_t batch[DC_MAX_DIMS], nbatch = 1;
    for (int d = 0; d < nb; d++) {
        int da = d - (nb - (an - 2)), db = d - (nb - (bn - 2));
        int64_t sa = da >= 0 ? as[da] : 1, sb = db >= 0 ? bs[db] : 1;
        batch[d] = sa == 1 ? sb : sa;
        nbatch *= batch[d];
    }
    const int64_t M = as[an - 2], K = as[an - 1], N = bs[bn - 1];
    *n = nbatch * M * N;
    double *out = malloc((size_t)(*n ? *n : 1) * sizeof *out);
    for (int64_t bi = 0; bi < nbatch; bi++) {
        int64_t bidx[DC_MAX_DIMS], rest = bi;
        for (int d = nb - 1; d >= 0; d--) {
            bidx[d] = rest % batch[d];
            rest /= batch[d];
        }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t p = 0; p < K; p++) {
                    int64_t ai[DC_MAX_DIMS], bj[DC_MAX_DIMS];
                    for (int d = 0; d < an - 2; d++) {
                        int64_t bd = bidx[d + nb - (an - 2)];
                        ai[d] = as[d] == 1 ? 0 : bd;
                    }
                    for (int d = 0; d < bn - 2; d++) {
                        int64_t bd = bidx[d + nb - (bn - 2)];
                        bj[d] = bs[d] == 1 ? 0 : bd;
                    }
                    if (a->ndim == 1) ai[0] = p;
                    else ai[an - 2] = i, ai[an - 1] = p;
                    if (b->ndim == 1) bj[0] = p;
                    else bj[bn - 2] = p, bj[bn - 1] = j;
                    s += dc_item_at(a, ai) * dc_item_at(b, bj);
                }
                out[(bi * M + i) * N + j] = s;
            }
    }
    return out;
}

/* dc_matmul(a, b) has the expected shape and matches the naive loop. */
static void check_matmul(const char *what, dc_tensor *a, dc_tensor *b, int ndim,
                         const int64_t *shape, double rtol)
{
    dc_tensor *out = dc_matmul(a, b);
    if (!out) {
        dc_test_fail(__FILE__, __LINE__, "%s: %s", what, dc_last_error());
        return;
    }
    bool shape_ok = out->ndim == ndim;
    for (int d = 0; shape_ok && d < ndim; d++) shape_ok = out->shape[d] == shape[d];
    if (!shape_ok) {
        char got[96];
        dc_test_fail(__FILE__, __LINE__, "%s: wrong result %s", what,
                     dc_shape_str(out, got, sizeof got));
        return;
    }
    int64_t n;
    double *want = naive_matmul(a, b, &n), *got = dc_test_values(out);
    CHECK_ALLCLOSE(what, got, want, n, rtol, rtol);
    free(want);
    free(got);
}

static dc_tensor *randn(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape)
{
    return dc_randn(rng, dtype, ndim, shape);
}

TEST(test_matmul_shape_cases_match_naive_loops)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    for (int t = 0; t < 2; t++) {
        dc_dtype dt = t == 0 ? DC_F64 : DC_F32;
        double tol = dt == DC_F64 ? 1e-12 : 1e-5;
        check_matmul("1-D . 1-D", randn(&rng, dt, DC_SHAPE(5)), randn(&rng, dt, DC_SHAPE(5)), 0,
                     NULL, tol);
        check_matmul("1-D @ 2-D", randn(&rng, dt, DC_SHAPE(3)), randn(&rng, dt, DC_SHAPE(3, 4)),
                     DC_SHAPE(4), tol);
        check_matmul("2-D @ 1-D", randn(&rng, dt, DC_SHAPE(3, 4)), randn(&rng, dt, DC_SHAPE(4)),
                     DC_SHAPE(3), tol);
        check_matmul("2-D @ 2-D", randn(&rng, dt, DC_SHAPE(3, 4)),
                     randn(&rng, dt, DC_SHAPE(4, 2)), DC_SHAPE(3, 2), tol);
        check_matmul("batched broadcast", randn(&rng, dt, DC_SHAPE(2, 1, 3, 4)),
                     randn(&rng, dt, DC_SHAPE(5, 4, 2)), DC_SHAPE(2, 5, 3, 2), tol);
        check_matmul("1-D @ 3-D", randn(&rng, dt, DC_SHAPE(4)),
                     randn(&rng, dt, DC_SHAPE(2, 4, 3)), DC_SHAPE(2, 3), tol);
        check_matmul("3-D @ 1-D", randn(&rng, dt, DC_SHAPE(2, 3, 4)),
                     randn(&rng, dt, DC_SHAPE(4)), DC_SHAPE(2, 3), tol);
        check_matmul("2-D @ 3-D", randn(&rng, dt, DC_SHAPE(3, 4)),
                     randn(&rng, dt, DC_SHAPE(2, 4, 5)), DC_SHAPE(2, 3, 5), tol);
        /* transposed operands: a^T @ b^T, no copies */
        dc_tensor *at = dc_transpose(randn(&rng, dt, DC_SHAPE(4, 3)), 0, 1);
        dc_tensor *bt = dc_transpose(randn(&rng, dt, DC_SHAPE(2, 4)), 0, 1);
        check_matmul("transposed", at, bt, DC_SHAPE(3, 2), tol);
        /* batched transposed and sliced (row step 2) */
        dc_tensor *ab = dc_transpose(randn(&rng, dt, DC_SHAPE(2, 4, 3)), 1, 2);
        dc_tensor *bs = dc_slice(randn(&rng, dt, DC_SHAPE(2, 8, 5)), 1, 0, 8, 2);
        check_matmul("batched strided", ab, bs, DC_SHAPE(2, 3, 5), tol);
        /* [B, T, k] @ [k, m] (batch folded into rows) and a permuted [B, T, k] (not folded) */
        check_matmul("linear 3-D", randn(&rng, dt, DC_SHAPE(3, 17, 33)),
                     randn(&rng, dt, DC_SHAPE(33, 20)), DC_SHAPE(3, 17, 20), tol);
        dc_tensor *perm = dc_permute(randn(&rng, dt, DC_SHAPE(17, 3, 33)), (int[]){1, 0, 2});
        check_matmul("linear 3-D permuted", perm, randn(&rng, dt, DC_SHAPE(33, 20)),
                     DC_SHAPE(3, 17, 20), tol);
        /* broadcast by expand (stride 0 batch) */
        dc_tensor *ex = dc_expand(randn(&rng, dt, DC_SHAPE(1, 3, 4)), DC_SHAPE(6, 3, 4));
        check_matmul("expanded batch", ex, randn(&rng, dt, DC_SHAPE(6, 4, 2)), DC_SHAPE(6, 3, 2),
                     tol);
    }
}

TEST(test_matmul_float32_large_and_many_small)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    /* large enough for the threaded, blocked gemm path */
    check_matmul("f32 96x130 @ 130x70", randn(&rng, DC_F32, DC_SHAPE(96, 130)),
                 randn(&rng, DC_F32, DC_SHAPE(130, 70)), DC_SHAPE(96, 70), 1e-4);
    /* many tiny matrices: several per thread */
    check_matmul("f32 300 x (2x3 @ 3x2)", randn(&rng, DC_F32, DC_SHAPE(300, 2, 3)),
                 randn(&rng, DC_F32, DC_SHAPE(300, 3, 2)), DC_SHAPE(300, 2, 2), 1e-5);
}

TEST(test_matmul_empty_dims)
{
    /* K = 0: a sum over nothing is 0; M = 0: an empty result */
    dc_tensor *z = dc_matmul(dc_ones(DC_F32, DC_SHAPE(2, 0)), dc_ones(DC_F32, DC_SHAPE(0, 3)));
    REQUIRE(z && z->shape[0] == 2 && z->shape[1] == 3);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) CHECK_NEAR(dc_item_at(z, (int64_t[]){i, j}), 0, 0);
    dc_tensor *e = dc_matmul(dc_ones(DC_F64, DC_SHAPE(0, 4)), dc_ones(DC_F64, DC_SHAPE(4, 3)));
    REQUIRE(e && e->shape[0] == 0 && e->shape[1] == 3);
}

TEST(test_matmul_backward_by_hand_2d)
{
    /* out = a @ b with g = ones: da[i][p] = sum_j b[p][j], db[p][j] = sum_i a[i][p] */
    dc_tensor *a = dc_requires_grad(dc_reshape(dc_arange(DC_F32, 1, 7, 1), DC_SHAPE(2, 3)), true);
    dc_tensor *b = dc_requires_grad(dc_reshape(dc_arange(DC_F32, 1, 7, 1), DC_SHAPE(3, 2)), true);
    dc_tensor *out = dc_matmul(a, b);
    REQUIRE(out && strcmp(dc_grad_fn_name(out), "matmul") == 0);
    REQUIRE(dc_backward_with(out, dc_ones(DC_F32, DC_SHAPE(2, 2))) == 0);
    double want_a[] = {3, 7, 11, 3, 7, 11}, want_b[] = {5, 5, 7, 7, 9, 9};
    double *ga = dc_test_values(a->grad), *gb = dc_test_values(b->grad);
    CHECK_ALLCLOSE("da", ga, want_a, 6, 0, 0);
    CHECK_ALLCLOSE("db", gb, want_b, 6, 0, 0);
    free(ga), free(gb);
}

TEST(test_matmul_errors)
{
    dc_tensor *a = dc_zeros(DC_F32, DC_SHAPE(2, 3)), *b = dc_zeros(DC_F32, DC_SHAPE(4, 5));
    CHECK_ERROR(!dc_matmul(a, b), "[2, 3] and [4, 5]");
    CHECK_ERROR(!dc_matmul(dc_zeros(DC_F32, DC_SHAPE(3)), dc_zeros(DC_F32, DC_SHAPE(4))),
                "[3] and [4]");
    CHECK_ERROR(!dc_matmul(a, dc_zeros(DC_F64, DC_SHAPE(3, 2))), "dtype mismatch");
    CHECK_ERROR(!dc_matmul(a, dc_zeros(DC_I64, DC_SHAPE(3, 2))), "float");
    CHECK_ERROR(!dc_matmul(NULL, a), "NULL");
    CHECK_ERROR(!dc_matmul(a, NULL), "NULL");
    CHECK_ERROR(!dc_matmul(dc_scalar(DC_F32, 2), a), "at least 1 dim");
    CHECK_ERROR(!dc_matmul(dc_zeros(DC_F32, DC_SHAPE(2, 2, 3)),
                           dc_zeros(DC_F32, DC_SHAPE(3, 3, 4))),
                "batch dims");
}

/* ---- float64 gradient checks ------------------------------------------------------------- */

static dc_tensor *op_matmul(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dc_matmul(in[0], in[1]);
}
static dc_tensor *op_matmul_transposed(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dc_matmul(dc_transpose(in[0], -1, -2), dc_transpose(in[1], -1, -2));
}

/* Gradcheck dc_matmul on fresh float64 operands of the given shapes. */
static void gradcheck_shapes(const char *what, test_op_fn f, int an, const int64_t *as, int bn,
                             const int64_t *bs)
{
    dc_rng rng;
    dc_rng_seed(&rng, 21);
    dc_tensor *in[2] = {dc_requires_grad(dc_randn(&rng, DC_F64, an, as), true),
                        dc_requires_grad(dc_randn(&rng, DC_F64, bn, bs), true)};
    CHECK(test_gradcheck_f64(what, f, in, 2, NULL));
}

TEST(test_matmul_gradcheck_f64)
{
    gradcheck_shapes("dot", op_matmul, DC_SHAPE(4), DC_SHAPE(4));
    gradcheck_shapes("vec @ mat", op_matmul, DC_SHAPE(3), DC_SHAPE(3, 2));
    gradcheck_shapes("mat @ vec", op_matmul, DC_SHAPE(2, 3), DC_SHAPE(3));
    gradcheck_shapes("mat @ mat", op_matmul, DC_SHAPE(2, 3), DC_SHAPE(3, 4));
    gradcheck_shapes("transposed", op_matmul_transposed, DC_SHAPE(3, 2), DC_SHAPE(4, 3));
    gradcheck_shapes("3-D @ mat", op_matmul, DC_SHAPE(2, 3, 4), DC_SHAPE(4, 2));
    gradcheck_shapes("vec @ 3-D", op_matmul, DC_SHAPE(3), DC_SHAPE(2, 3, 2));
    gradcheck_shapes("batched broadcast", op_matmul, DC_SHAPE(2, 1, 3, 4), DC_SHAPE(5, 4, 2));
    gradcheck_shapes("mat @ 3-D", op_matmul, DC_SHAPE(2, 3), DC_SHAPE(2, 3, 2));
}

TEST(test_matmul_survives_allocation_failures)
{
    dc_tensor *a = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(2, 1, 3, 4)), true);
    dc_tensor *b = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(5, 4, 2)), true);
    for (int n = 1; n <= 30; n++) {
        size_t scope = dc_scope_begin();
        dc_debug_fail_alloc_after(n);
        dc_tensor *out = dc_matmul(a, b);
        if (out) dc_backward_with(out, dc_ones(DC_F32, DC_SHAPE(2, 5, 3, 2)));
        dc_debug_fail_alloc_after(0);
        dc_clear_error();
        dc_zero_grad(a);
        dc_zero_grad(b);
        dc_scope_end(scope);
    }
}
