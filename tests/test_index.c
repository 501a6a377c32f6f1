/* Tests of gather, index_select (embedding lookup), cat and stack: values by hand or from
 * naive loops, gradients from naive scatter loops and a float64 central-difference check
 * (test_gradcheck_f64 below, shared with test_matmul.c). */
#include "test.h"

#include <stdlib.h>

/* ---- A small float64 central-difference gradient check ------------------------------------
 * loss(x) = sum(f(x) * w) for a fixed pseudo-random w, so no reduction op is needed:
 * the analytic gradient comes from dc_backward_with(out, w), the numeric one from
 * (loss(x + h e_i) - loss(x - h e_i)) / 2h for every element of every input that requires
 * grad. Inputs must be contiguous float64 leaves. Returns 1 when all agree. */
typedef dc_tensor *(*test_op_fn)(dc_tensor *const *inputs, void *ctx);

static double weighted_sum(const dc_tensor *out, const double *w)
{
    int64_t n = dc_numel(out);
    double *v = dc_test_values(out), s = 0;
    if (!v) return NAN;
    for (int64_t i = 0; i < n; i++) s += v[i] * w[i];
    free(v);
    return s;
}

int test_gradcheck_f64(const char *what, test_op_fn f, dc_tensor *const *inputs, int n,
                       void *ctx)
{
    int ok = 1;
    size_t scope = dc_scope_begin();
    dc_tensor *out = f(inputs, ctx);
    if (!out) {
        dc_test_fail(__FILE__, __LINE__, "%s: forward failed: %s", what, dc_last_error());
        dc_scope_end(scope);
        return 0;
    }
    int64_t n_out = dc_numel(out);
    double *w = malloc((size_t)(n_out ? n_out : 1) * sizeof *w);
    for (int64_t i = 0; i < n_out; i++) w[i] = sin(0.7 * (double)i + 0.3) + 0.1;
    dc_tensor *seed = dc_from_buffer(DC_F64, out->ndim, out->shape, w);
    if (dc_backward_with(out, seed) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", what, dc_last_error());
        ok = 0;
    }
    bool prev = dc_no_grad_begin();
    const double h = 1e-6;
    for (int k = 0; ok && k < n; k++) {
        dc_tensor *x = inputs[k];
        if (!x->requires_grad) continue;
        int64_t nx = dc_numel(x);
        double *analytic = x->grad ? dc_test_values(x->grad)
                                   : calloc((size_t)nx + 1, sizeof(double));
        double *numeric = malloc((size_t)(nx ? nx : 1) * sizeof *numeric);
        double *data = dc_data(x);
        for (int64_t e = 0; e < nx; e++) {
            double saved = data[e];
            size_t s2 = dc_scope_begin();
            data[e] = saved + h;
            double plus = weighted_sum(f(inputs, ctx), w);
            data[e] = saved - h;
            double minus = weighted_sum(f(inputs, ctx), w);
            data[e] = saved;
            dc_scope_end(s2);
            numeric[e] = (plus - minus) / (2 * h);
        }
        char label[160];
        snprintf(label, sizeof label, "%s: gradient of input %d", what, k);
        ok &= CHECK_ALLCLOSE(label, analytic, numeric, nx, 1e-5, 1e-6);
        free(analytic);
        free(numeric);
    }
    dc_grad_mode_restore(prev);
    for (int k = 0; k < n; k++) dc_zero_grad(inputs[k]); /* leave the inputs as they came */
    free(w);
    dc_scope_end(scope);
    return ok;
}

/* Tensor of `dtype` from explicit double values. */
static dc_tensor *make(dc_dtype dtype, int ndim, const int64_t *shape, const double *values)
{
    dc_tensor *t = dc_zeros(dtype, ndim, shape);
    int64_t n = dc_numel(t);
    if (dtype == DC_F32)
        for (int64_t i = 0; i < n; i++) ((float *)dc_data(t))[i] = (float)values[i];
    else if (dtype == DC_F64)
        for (int64_t i = 0; i < n; i++) ((double *)dc_data(t))[i] = values[i];
    else
        for (int64_t i = 0; i < n; i++) ((int64_t *)dc_data(t))[i] = (int64_t)values[i];
    return t;
}

static dc_tensor *ids(int ndim, const int64_t *shape, const int64_t *values)
{
    return dc_from_buffer(DC_I64, ndim, shape, values);
}

/* ---- gather ------------------------------------------------------------------------------ */

TEST(test_index_gather_dim0_and_dim1_by_hand)
{
    dc_tensor *a = dc_reshape(dc_arange(DC_F32, 0, 12, 1), DC_SHAPE(3, 4)); /* a[i][j] = 4i+j */

    /* dim 0: out[i][j] = a[index[i][j]][j] */
    dc_tensor *i0 = ids(DC_SHAPE(2, 4), (int64_t[]){2, 0, 1, 2, 0, 0, 2, 1});
    dc_tensor *g0 = dc_gather(a, 0, i0);
    REQUIRE(g0 && g0->ndim == 2 && g0->shape[0] == 2 && g0->shape[1] == 4);
    double want0[] = {8, 1, 6, 11, 0, 1, 10, 7};
    double *v0 = dc_test_values(g0);
    CHECK_ALLCLOSE("gather dim 0", v0, want0, 8, 0, 0);
    free(v0);

    /* dim 1 (negative), index narrower than a in dim 0 and 1: out[i][j] = a[i][index[i][j]] */
    dc_tensor *i1 = ids(DC_SHAPE(2, 2), (int64_t[]){3, 0, 1, 1});
    dc_tensor *g1 = dc_gather(a, -1, i1);
    REQUIRE(g1 && g1->shape[0] == 2 && g1->shape[1] == 2);
    double want1[] = {3, 0, 5, 5};
    double *v1 = dc_test_values(g1);
    CHECK_ALLCLOSE("gather dim 1", v1, want1, 4, 0, 0);
    free(v1);

    /* non-contiguous input: a^T[i][j] = a[j][i] = 4j+i, gathered along dim 1 */
    dc_tensor *at = dc_transpose(a, 0, 1); /* [4, 3] */
    dc_tensor *g2 = dc_gather(at, 1, ids(DC_SHAPE(2, 1), (int64_t[]){2, 0}));
    REQUIRE(g2);
    CHECK_NEAR(dc_item_at(g2, (int64_t[]){0, 0}), 8, 0);
    CHECK_NEAR(dc_item_at(g2, (int64_t[]){1, 0}), 1, 0);
}

TEST(test_index_gather_backward_scatter_adds_duplicates)
{
    dc_tensor *a = dc_requires_grad(dc_zeros(DC_F64, DC_SHAPE(3, 2)), true);
    int64_t iv[] = {1, 1, 1, 0, 2, 1}; /* [3, 2], row 1 picked three times in column 0 */
    dc_tensor *out = dc_gather(a, 0, ids(DC_SHAPE(3, 2), iv));
    double gv[] = {1, 2, 3, 4, 5, 6};
    REQUIRE(dc_backward_with(out, make(DC_F64, DC_SHAPE(3, 2), gv)) == 0);
    double want[6] = {0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++) want[iv[i * 2 + j] * 2 + j] += gv[i * 2 + j];
    double *got = dc_test_values(a->grad);
    CHECK_ALLCLOSE("gather grad", got, want, 6, 0, 0);
    free(got);
}

TEST(test_index_gather_errors)
{
    dc_tensor *a = dc_zeros(DC_F32, DC_SHAPE(3, 4));
    CHECK_ERROR(!dc_gather(a, 0, ids(DC_SHAPE(1, 2), (int64_t[]){1, 5})), "index 5");
    CHECK_ERROR(!dc_gather(a, 0, ids(DC_SHAPE(1, 2), (int64_t[]){1, 3})), "dim 0");
    CHECK_ERROR(!dc_gather(a, 1, ids(DC_SHAPE(1, 2), (int64_t[]){-1, 0})), "index -1");
    CHECK_ERROR(!dc_gather(a, 0, dc_zeros(DC_F32, DC_SHAPE(1, 2))), "int64");
    CHECK_ERROR(!dc_gather(a, 0, ids(DC_SHAPE(2), (int64_t[]){0, 0})), "dims");
    CHECK_ERROR(!dc_gather(a, 0, dc_zeros(DC_I64, DC_SHAPE(2, 5))), "larger");
    CHECK_ERROR(!dc_gather(a, 2, dc_zeros(DC_I64, DC_SHAPE(2, 2))), "dim 2");
    CHECK_ERROR(!dc_gather(NULL, 0, dc_zeros(DC_I64, DC_SHAPE(2, 2))), "NULL");
    CHECK_ERROR(!dc_gather(a, 0, NULL), "NULL");
}

/* ---- index_select ------------------------------------------------------------------------ */

TEST(test_index_select_embedding_repeated_ids_accumulate)
{
    enum { V = 5, C = 3, B = 2, T = 3 };
    double wv[V * C];
    for (int i = 0; i < V * C; i++) wv[i] = 0.5 * i - 2;
    dc_tensor *weight = dc_requires_grad(make(DC_F32, DC_SHAPE(V, C), wv), true);
    int64_t idv[B * T] = {1, 4, 1, 0, 1, 3}; /* id 1 three times */
    dc_tensor *emb = dc_index_select(weight, 0, ids(DC_SHAPE(B, T), idv));
    REQUIRE(emb && emb->ndim == 3 && emb->shape[0] == B && emb->shape[1] == T &&
            emb->shape[2] == C);
    double want[B * T * C], *got = dc_test_values(emb);
    for (int r = 0; r < B * T; r++)
        for (int c = 0; c < C; c++) want[r * C + c] = wv[idv[r] * C + c];
    CHECK_ALLCLOSE("embedding rows", got, want, B * T * C, 0, 0);
    free(got);
    CHECK(strcmp(dc_grad_fn_name(emb), "index_select") == 0);

    double gv[B * T * C], want_grad[V * C] = {0};
    for (int i = 0; i < B * T * C; i++) gv[i] = i + 1;
    for (int r = 0; r < B * T; r++)
        for (int c = 0; c < C; c++) want_grad[idv[r] * C + c] += gv[r * C + c];
    REQUIRE(dc_backward_with(emb, make(DC_F32, DC_SHAPE(B, T, C), gv)) == 0);
    double *grad = dc_test_values(weight->grad);
    CHECK_ALLCLOSE("embedding grad", grad, want_grad, V * C, 0, 0);
    CHECK_NEAR(grad[2 * C], 0, 0); /* an unused row gets zero */
    free(grad);
}

TEST(test_index_select_middle_dim_noncontiguous_and_scalar_index)
{
    /* a[i][j][k] = 100i + 10j + k as a permuted (non-contiguous) [2, 4, 3] view */
    double v[3 * 2 * 4];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 4; j++) v[(k * 2 + i) * 4 + j] = 100 * i + 10 * j + k;
    dc_tensor *base = make(DC_F64, DC_SHAPE(3, 2, 4), v);
    dc_tensor *a = dc_permute(base, (int[]){1, 2, 0}); /* [2, 4, 3] */
    REQUIRE(a && !dc_is_contiguous(a));
    int64_t idv[] = {3, 0, 3};
    dc_tensor *out = dc_index_select(a, 1, ids(DC_SHAPE(3), idv));
    REQUIRE(out && out->ndim == 3 && out->shape[0] == 2 && out->shape[1] == 3 &&
            out->shape[2] == 3);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 3; k++)
                CHECK_NEAR(dc_item_at(out, (int64_t[]){i, j, k}), 100 * i + 10 * idv[j] + k, 0);

    /* a 0-dim index removes the dim, like dc_select */
    dc_tensor *row = dc_index_select(a, -1, dc_scalar(DC_I64, 2));
    REQUIRE(row && row->ndim == 2 && row->shape[0] == 2 && row->shape[1] == 4);
    CHECK_NEAR(dc_item_at(row, (int64_t[]){1, 3}), 132, 0);
}

TEST(test_index_select_large_embedding_matches_naive_loops)
{
    /* big enough to split over threads: forward memcpy rows, backward column partition */
    enum { V = 300, C = 200, N = 2048 };
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *weight = dc_requires_grad(dc_randn(&rng, DC_F32, DC_SHAPE(V, C)), true);
    int64_t *idv = malloc(N * sizeof *idv);
    for (int i = 0; i < N; i++) idv[i] = (int64_t)(dc_rng_u64(&rng) % (V / 3)); /* many repeats */
    dc_tensor *out = dc_index_select(weight, 0, ids(DC_SHAPE(4, N / 4), idv));
    REQUIRE(out);
    dc_tensor *g = dc_randn(&rng, DC_F32, DC_SHAPE(4, N / 4, C));
    REQUIRE(dc_backward_with(out, g) == 0);
    double *w = dc_test_values(weight), *o = dc_test_values(out), *gv = dc_test_values(g);
    double *grad = dc_test_values(weight->grad);
    double *want_out = malloc((size_t)N * C * sizeof(double));
    double *want_grad = calloc((size_t)V * C, sizeof(double));
    for (int r = 0; r < N; r++)
        for (int c = 0; c < C; c++) {
            want_out[r * C + c] = w[idv[r] * C + c];
            want_grad[idv[r] * C + c] += gv[r * C + c];
        }
    CHECK_ALLCLOSE("large embedding forward", o, want_out, (int64_t)N * C, 0, 0);
    CHECK_ALLCLOSE("large embedding grad", grad, want_grad, (int64_t)V * C, 1e-5, 1e-4);
    free(w), free(o), free(gv), free(grad), free(want_out), free(want_grad), free(idv);
}

TEST(test_index_select_errors)
{
    dc_tensor *w = dc_zeros(DC_F32, DC_SHAPE(4, 2));
    CHECK_ERROR(!dc_index_select(w, 0, ids(DC_SHAPE(2, 2), (int64_t[]){0, 1, 4, 0})), "index 4");
    CHECK_ERROR(!dc_index_select(w, 1, ids(DC_SHAPE(1), (int64_t[]){2})), "dim 1");
    CHECK_ERROR(!dc_index_select(w, 0, dc_zeros(DC_F64, DC_SHAPE(2))), "int64");
    CHECK_ERROR(!dc_index_select(w, 3, dc_zeros(DC_I64, DC_SHAPE(2))), "out of range");
    CHECK_ERROR(!dc_index_select(NULL, 0, dc_zeros(DC_I64, DC_SHAPE(2))), "NULL");
    CHECK_ERROR(!dc_index_select(w, 0, NULL), "NULL");
}

/* ---- cat / stack ------------------------------------------------------------------------- */

TEST(test_index_cat_three_tensors_with_noncontiguous_inputs)
{
    /* a [2, 3] contiguous, b [2, 1] a strided column slice, c [2, 2] a transposed view */
    double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {7, 8, 9, 10, 11, 12}, cv[] = {13, 14, 15, 16};
    dc_tensor *a = dc_requires_grad(make(DC_F64, DC_SHAPE(2, 3), av), true);
    dc_tensor *b_src = dc_requires_grad(make(DC_F64, DC_SHAPE(2, 3), bv), true);
    dc_tensor *b = dc_narrow(b_src, 1, 2, 1); /* [[9], [12]] */
    dc_tensor *c_src = dc_requires_grad(make(DC_F64, DC_SHAPE(2, 2), cv), true);
    dc_tensor *c = dc_transpose(c_src, 0, 1); /* [[13, 15], [14, 16]] */
    dc_tensor *out = dc_cat((dc_tensor *[]){a, b, c}, 3, -1);
    REQUIRE(out && out->ndim == 2 && out->shape[0] == 2 && out->shape[1] == 6);
    double want[] = {1, 2, 3, 9, 13, 15, 4, 5, 6, 12, 14, 16};
    double *got = dc_test_values(out);
    CHECK_ALLCLOSE("cat dim 1", got, want, 12, 0, 0);
    free(got);

    /* backward: each input gets its slice of g (g[i][j] = 10i + j) */
    double gv[12];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 6; j++) gv[i * 6 + j] = 10 * i + j;
    REQUIRE(dc_backward_with(out, make(DC_F64, DC_SHAPE(2, 6), gv)) == 0);
    double want_a[] = {0, 1, 2, 10, 11, 12}, want_b[] = {0, 0, 3, 0, 0, 13},
           want_c[] = {4, 14, 5, 15}; /* c_src = c^T */
    double *ga = dc_test_values(a->grad), *gb = dc_test_values(b_src->grad),
           *gc = dc_test_values(c_src->grad);
    CHECK_ALLCLOSE("cat grad a", ga, want_a, 6, 0, 0);
    CHECK_ALLCLOSE("cat grad b", gb, want_b, 6, 0, 0);
    CHECK_ALLCLOSE("cat grad c", gc, want_c, 4, 0, 0);
    free(ga), free(gb), free(gc);

    /* dim 0 with different lengths, float32 */
    dc_tensor *r1 = dc_ones(DC_F32, DC_SHAPE(1, 3)), *r2 = dc_zeros(DC_F32, DC_SHAPE(2, 3)),
              *r3 = dc_full(DC_F32, DC_SHAPE(1, 3), 7);
    dc_tensor *rows = dc_cat((dc_tensor *[]){r1, r2, r3}, 3, 0);
    REQUIRE(rows && rows->shape[0] == 4 && rows->shape[1] == 3);
    CHECK_NEAR(dc_item_at(rows, (int64_t[]){0, 2}), 1, 0);
    CHECK_NEAR(dc_item_at(rows, (int64_t[]){2, 1}), 0, 0);
    CHECK_NEAR(dc_item_at(rows, (int64_t[]){3, 0}), 7, 0);
    /* a single tensor is a copy */
    dc_tensor *one = dc_cat(&r3, 1, 0);
    REQUIRE(one && dc_same_shape(one, r3) && dc_data(one) != dc_data(r3));
}

TEST(test_index_stack_three_tensors_new_dim_positions)
{
    dc_tensor *x = dc_requires_grad(dc_reshape(dc_arange(DC_F64, 0, 6, 1), DC_SHAPE(2, 3)), true);
    dc_tensor *y_src =
        dc_requires_grad(dc_reshape(dc_arange(DC_F64, 10, 16, 1), DC_SHAPE(3, 2)), true);
    dc_tensor *y = dc_transpose(y_src, 0, 1); /* [2, 3], y[i][j] = 10 + 2j + i */
    dc_tensor *z = dc_full(DC_F64, DC_SHAPE(2, 3), -1);
    dc_tensor *list[] = {x, y, z};
    for (int dim = -3; dim <= 2; dim++) {
        dc_tensor *s = dc_stack(list, 3, dim);
        REQUIRE(s && s->ndim == 3);
        int pos = dim < 0 ? dim + 3 : dim;
        CHECK(s->shape[pos] == 3);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++) {
                    int64_t idx[3], rest[2] = {i, j};
                    for (int d = 0, r = 0; d < 3; d++) idx[d] = d == pos ? k : rest[r++];
                    double want = k == 0 ? 3 * i + j : k == 1 ? 10 + 2 * j + i : -1;
                    CHECK_NEAR(dc_item_at(s, idx), want, 0);
                }
    }
    /* gradient through stack at dim 1: x gets s-grad[:, 0, :], y_src the transpose of [:, 1, :] */
    dc_tensor *s = dc_stack(list, 3, 1); /* [2, 3, 3] */
    double gv[18];
    for (int i = 0; i < 18; i++) gv[i] = i;
    REQUIRE(dc_backward_with(s, make(DC_F64, DC_SHAPE(2, 3, 3), gv)) == 0);
    double *gx = dc_test_values(x->grad), *gy = dc_test_values(y_src->grad);
    double want_x[6], want_y[6];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) {
            want_x[i * 3 + j] = gv[(i * 3 + 0) * 3 + j];
            want_y[j * 2 + i] = gv[(i * 3 + 1) * 3 + j];
        }
    CHECK_ALLCLOSE("stack grad x", gx, want_x, 6, 0, 0);
    CHECK_ALLCLOSE("stack grad y", gy, want_y, 6, 0, 0);
    free(gx), free(gy);
}

TEST(test_index_cat_stack_errors)
{
    dc_tensor *a = dc_zeros(DC_F32, DC_SHAPE(2, 3)), *b = dc_zeros(DC_F32, DC_SHAPE(3, 3));
    dc_tensor *c = dc_zeros(DC_F64, DC_SHAPE(2, 3));
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a, b}, 2, 1), "tensor 1 has shape [3, 3]");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a, c}, 2, 0), "float64");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a, NULL}, 2, 0), "tensor 1 is NULL");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a}, 0, 0), "at least one");
    CHECK_ERROR(!dc_cat(NULL, 2, 0), "NULL");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a, a}, 2, 2), "out of range");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){a, dc_zeros(DC_F32, DC_SHAPE(2))}, 2, 0),
                "tensor 1 has shape [2]");
    CHECK_ERROR(!dc_cat((dc_tensor *[]){dc_scalar(DC_F32, 1)}, 1, 0), "0-dim");
    CHECK_ERROR(!dc_stack((dc_tensor *[]){a, b}, 2, 0), "shapes must match");
    CHECK_ERROR(!dc_stack((dc_tensor *[]){a, a}, 2, 3), "out of range");
    CHECK_ERROR(!dc_stack((dc_tensor *[]){a, a}, 2, -4), "out of range");
    CHECK(dc_cat((dc_tensor *[]){a, b}, 2, 0) != NULL); /* only dim 0 differs: fine */
}

/* ---- float64 gradient checks ------------------------------------------------------------- */

static dc_tensor *op_gather(dc_tensor *const *in, void *ctx) { return dc_gather(in[0], 1, ctx); }
static dc_tensor *op_index_select(dc_tensor *const *in, void *ctx)
{
    return dc_index_select(in[0], 0, ctx);
}
static dc_tensor *op_index_select_strided(dc_tensor *const *in, void *ctx)
{
    return dc_index_select(dc_transpose(in[0], 0, 1), 1, ctx); /* strided take path */
}
static dc_tensor *op_cat(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dc_cat((dc_tensor *[]){in[0], dc_transpose(in[1], 0, 1), in[2]}, 3, 1);
}
static dc_tensor *op_stack(dc_tensor *const *in, void *ctx)
{
    (void)ctx;
    return dc_stack(in, 3, -1);
}

TEST(test_index_gradcheck_f64)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *a = dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(3, 4)), true);
    dc_tensor *gi = ids(DC_SHAPE(3, 5), (int64_t[]){0, 3, 3, 1, 0, 2, 2, 2, 1, 0, 3, 1, 0, 0, 2});
    CHECK(test_gradcheck_f64("gather", op_gather, &a, 1, gi));
    dc_tensor *si = ids(DC_SHAPE(2, 2), (int64_t[]){2, 0, 2, 2});
    CHECK(test_gradcheck_f64("index_select", op_index_select, &a, 1, si));
    dc_tensor *ti = ids(DC_SHAPE(3), (int64_t[]){1, 1, 2});
    CHECK(test_gradcheck_f64("index_select strided", op_index_select_strided, &a, 1, ti));

    dc_tensor *cat_in[] = {
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 3)), true),
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 2)), true), /* transposed inside */
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 1)), true),
    };
    CHECK(test_gradcheck_f64("cat", op_cat, cat_in, 3, NULL));
    dc_tensor *stack_in[] = {
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 3)), true),
        dc_randn(&rng, DC_F64, DC_SHAPE(2, 3)), /* no grad: gets none */
        dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(2, 3)), true),
    };
    CHECK(test_gradcheck_f64("stack", op_stack, stack_in, 3, NULL));
    CHECK(stack_in[1]->grad == NULL);
}

/* Every allocation failing in turn: each op fails cleanly (NULL + message), leaks nothing
 * (the runner counts live tensors) and never crashes. */
TEST(test_index_ops_survive_allocation_failures)
{
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(4, 3)), true);
    dc_tensor *id2 = ids(DC_SHAPE(2, 2), (int64_t[]){0, 3, 3, 1});
    dc_tensor *c = dc_ones(DC_F32, DC_SHAPE(4, 3));
    for (int n = 1; n <= 12; n++) {
        size_t scope = dc_scope_begin();
        dc_debug_fail_alloc_after(n);
        dc_tensor *e = dc_index_select(w, 0, id2);
        dc_tensor *g = dc_gather(w, 0, id2);
        dc_tensor *s = dc_stack((dc_tensor *[]){w, c}, 2, 1);
        dc_tensor *k = dc_cat((dc_tensor *[]){w, c, w}, 3, 0);
        if (e) dc_backward_with(e, dc_ones(DC_F32, DC_SHAPE(2, 2, 3)));
        dc_debug_fail_alloc_after(0);
        (void)g, (void)s, (void)k;
        dc_clear_error();
        dc_zero_grad(w);
        dc_scope_end(scope);
    }
}
