/* Tensor core: creation, views (book §2.2), scopes and ownership, errors, RNG. */
#include "test.h"

#include <stdlib.h>

static double at(const dc_tensor *t, int64_t i0, int64_t i1)
{
    int64_t idx[2] = {i0, i1};
    return dc_item_at(t, idx);
}

TEST(test_creation_fills_and_arange)
{
    dc_tensor *z = dc_zeros(DC_F32, DC_SHAPE(2, 3));
    dc_tensor *o = dc_ones(DC_F64, DC_SHAPE(4));
    dc_tensor *f = dc_full(DC_F32, DC_SHAPE(2, 2), 2.5);
    dc_tensor *r = dc_arange(DC_F32, 0, 5, 1);
    dc_tensor *r2 = dc_arange(DC_F64, 1, 2, 0.25);
    REQUIRE(z && o && f && r && r2);
    CHECK(dc_numel(z) == 6 && z->ndim == 2 && dc_is_contiguous(z));
    CHECK_NEAR(at(z, 1, 2), 0, 0);
    CHECK_NEAR(dc_item_at(o, (int64_t[]){3}), 1, 0);
    CHECK_NEAR(at(f, 1, 1), 2.5, 0);
    CHECK(dc_numel(r) == 5 && dc_numel(r2) == 4);
    CHECK_NEAR(dc_item_at(r2, (int64_t[]){3}), 1.75, 0);
    float buf[6] = {1, 2, 3, 4, 5, 6};
    dc_tensor *b = dc_from_buffer(DC_F32, DC_SHAPE(2, 3), buf);
    REQUIRE(b);
    buf[0] = 100; /* from_buffer copies */
    CHECK_NEAR(at(b, 0, 0), 1, 0);
    CHECK_NEAR(at(b, 1, 2), 6, 0);
    dc_tensor *s = dc_scalar(DC_F64, 3.0);
    CHECK(s && s->ndim == 0 && dc_numel(s) == 1);
    CHECK_NEAR(dc_item(s), 3.0, 0);
}

TEST(test_views_share_storage_and_copy_nothing)
{
    dc_tensor *t = dc_arange(DC_F32, 0, 24, 1);
    dc_tensor *m = dc_reshape(t, DC_SHAPE(2, 3, 4));
    REQUIRE(m);
    CHECK(m->storage == t->storage);
    dc_tensor *p = dc_permute(m, (int[]){2, 0, 1}); /* [4, 2, 3] */
    REQUIRE(p);
    CHECK(p->storage == t->storage && !dc_is_contiguous(p));
    CHECK(p->shape[0] == 4 && p->shape[1] == 2 && p->shape[2] == 3);
    /* p[k][i][j] = m[i][j][k] = 12 i + 4 j + k */
    CHECK_NEAR(dc_item_at(p, (int64_t[]){3, 1, 2}), 12 + 8 + 3, 0);
    dc_tensor *tr = dc_transpose(m, 0, 2);
    CHECK_NEAR(dc_item_at(tr, (int64_t[]){1, 2, 1}), 12 + 8 + 1, 0);
    dc_tensor *sl = dc_slice(m, 2, 1, 4, 2); /* k in {1, 3} */
    REQUIRE(sl);
    CHECK(sl->shape[2] == 2 && sl->storage == t->storage);
    CHECK_NEAR(dc_item_at(sl, (int64_t[]){1, 2, 1}), 12 + 8 + 3, 0);
    dc_tensor *sel = dc_select(m, 1, -1); /* j = 2 */
    REQUIRE(sel && sel->ndim == 2);
    CHECK_NEAR(at(sel, 1, 3), 12 + 8 + 3, 0);
    dc_tensor *nar = dc_narrow(m, 0, 1, 1);
    CHECK(nar && nar->shape[0] == 1 && nar->offset == 12);
    dc_tensor *col = dc_reshape(dc_arange(DC_F32, 0, 3, 1), DC_SHAPE(3, 1));
    dc_tensor *ex = dc_expand(col, DC_SHAPE(2, 3, 5));
    REQUIRE(ex);
    CHECK(ex->stride[0] == 0 && ex->stride[2] == 0);
    CHECK_NEAR(dc_item_at(ex, (int64_t[]){1, 2, 4}), 2, 0);
    dc_tensor *u = dc_unsqueeze(m, 1);
    CHECK(u && u->ndim == 4 && u->shape[1] == 1);
    dc_tensor *sq = dc_squeeze(u, 1);
    CHECK(sq && dc_same_shape(sq, m));
    dc_tensor *fl = dc_flatten(m, 1, 2);
    CHECK(fl && fl->ndim == 2 && fl->shape[1] == 12 && fl->storage == t->storage);
    dc_tensor *inferred = dc_view(m, DC_SHAPE(-1, 6));
    CHECK(inferred && inferred->shape[0] == 4);
}

TEST(test_reshape_copies_only_when_needed)
{
    dc_tensor *m = dc_reshape(dc_arange(DC_F32, 0, 6, 1), DC_SHAPE(2, 3));
    dc_tensor *tr = dc_transpose(m, 0, 1); /* [3, 2], not contiguous */
    REQUIRE(tr);
    CHECK_ERROR(dc_view(tr, DC_SHAPE(6)) == NULL, "without a copy");
    dc_tensor *flat = dc_reshape(tr, DC_SHAPE(6));
    REQUIRE(flat);
    CHECK(flat->storage != m->storage);
    const double expect[6] = {0, 3, 1, 4, 2, 5};
    double *got = dc_test_values(flat);
    REQUIRE(got);
    CHECK_ALLCLOSE("reshape of transpose", got, expect, 6, 0, 0);
    free(got);
    dc_tensor *c = dc_contiguous(m);
    CHECK(c && c->storage == m->storage); /* already contiguous: no copy */
    dc_tensor *c2 = dc_contiguous(tr);
    CHECK(c2 && c2->storage != m->storage && dc_is_contiguous(c2));
    /* a view of a sliced tensor whose strides still allow it: [2,3] -> rows -> [1, 3] */
    dc_tensor *row = dc_narrow(m, 0, 1, 1);
    dc_tensor *rv = dc_view(row, DC_SHAPE(3));
    CHECK(rv && rv->storage == m->storage && rv->offset == 3);
}

TEST(test_copy_and_fill_broadcast_and_convert)
{
    dc_tensor *dst = dc_zeros(DC_F64, DC_SHAPE(2, 3));
    dc_tensor *row = dc_arange(DC_F32, 1, 4, 1);
    REQUIRE(dst && row);
    CHECK(dc_copy_(dst, row) == 0);
    CHECK_NEAR(at(dst, 1, 2), 3, 0);
    dc_tensor *col = dc_select(dst, 1, 1);
    CHECK(dc_fill_(col, 7) == 0);
    CHECK_NEAR(at(dst, 0, 1), 7, 0);
    CHECK_NEAR(at(dst, 1, 1), 7, 0);
    CHECK_NEAR(at(dst, 1, 0), 1, 0);
    CHECK_ERROR(dc_copy_(row, dst) != 0, "does not broadcast");
    dc_tensor *i = dc_to_dtype(dst, DC_I64);
    REQUIRE(i && i->dtype == DC_I64);
    CHECK_NEAR(at(i, 0, 1), 7, 0);
}

TEST(test_scope_releases_temporaries_and_retain_keeps)
{
    int64_t before = dc_live_tensors();
    dc_tensor *kept;
    size_t scope = dc_scope_begin();
    {
        dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(3));
        dc_tensor *b = dc_exp(dc_add(a, a));
        kept = dc_tensor_retain(b);
    }
    dc_scope_end(scope);
    CHECK(dc_live_tensors() == before + 1);
    CHECK_NEAR(dc_item_at(kept, (int64_t[]){0}), exp(2.0), 1e-5);
    dc_tensor_free(kept);
    CHECK(dc_live_tensors() == before);

    /* dc_scope_return hands the result to the enclosing scope */
    size_t outer = dc_scope_begin();
    size_t inner = dc_scope_begin();
    dc_tensor *r = dc_scope_return(inner, dc_add_scalar(dc_ones(DC_F32, DC_SHAPE(2)), 1));
    CHECK(r && dc_live_tensors() == before + 1);
    dc_scope_end(outer);
    CHECK(dc_live_tensors() == before);
}

TEST(test_without_scope_caller_owns_results)
{
    /* The runner wraps tests in a scope; leave it by running in a fresh "no scope" state is
     * not possible from here, so check ownership through refcounts instead. */
    dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(2));
    CHECK(a && a->refcount == 1);
    dc_tensor_retain(a);
    CHECK(a->refcount == 2);
    dc_tensor_free(a);
    CHECK(a->refcount == 1);
    dc_tensor_free(NULL); /* ignored */
}

TEST(test_errors_name_what_was_wrong)
{
    dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(2, 3));
    dc_tensor *b = dc_ones(DC_F32, DC_SHAPE(4));
    dc_tensor *d = dc_ones(DC_F64, DC_SHAPE(2, 3));
    CHECK_ERROR(dc_add(a, b) == NULL, "cannot be broadcast");
    CHECK_ERROR(dc_add(a, NULL) == NULL, "NULL");
    CHECK_ERROR(dc_mul(a, d) == NULL, "dtype mismatch");
    CHECK_ERROR(dc_transpose(a, 0, 5) == NULL, "dim 5 out of range");
    CHECK_ERROR(dc_reshape(a, DC_SHAPE(4, 2)) == NULL, "invalid for input of shape [2, 3]");
    CHECK_ERROR(dc_reshape(a, DC_SHAPE(-1, -1)) == NULL, "only one dim can be -1");
    CHECK_ERROR(dc_slice(a, 0, 0, 1, 0) == NULL, "step must be positive");
    CHECK_ERROR(dc_select(a, 1, 3) == NULL, "index 3 out of range");
    CHECK_ERROR(dc_expand(a, DC_SHAPE(2, 4)) == NULL, "cannot expand");
    CHECK_ERROR(dc_squeeze(a, 0) == NULL, "not 1");
    CHECK_ERROR(dc_empty(DC_F32, 9, (int64_t[9]){1}) == NULL, "ndim 9");
    CHECK_ERROR(dc_zeros(DC_F32, DC_SHAPE(-2)) == NULL, "negative size");
    CHECK_ERROR(dc_permute(a, (int[]){0, 0}) == NULL, "repeated");
    CHECK_ERROR(dc_item(a) != dc_item(a), "one element");
    CHECK_ERROR(dc_log(dc_arange(DC_I64, 0, 3, 1)) == NULL, "expected a float32 or float64");
}

TEST(test_null_input_chains_keep_first_error)
{
    dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(2, 3));
    dc_tensor *b = dc_ones(DC_F32, DC_SHAPE(5));
    dc_clear_error();
    /* the failure in the innermost call propagates as NULL through the chain */
    dc_tensor *r = dc_exp(dc_relu(dc_mul(dc_add(a, b), a)));
    CHECK(r == NULL);
    CHECK(strstr(dc_last_error(), "dc_add") || strstr(dc_last_error(), "add"));
    CHECK(strstr(dc_last_error(), "broadcast") != NULL);
    dc_clear_error();
    CHECK(!dc_has_error() && dc_last_error()[0] == '\0');
}

TEST(test_out_of_memory_is_an_error_not_a_crash)
{
    int64_t before = dc_live_tensors();
    dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(4, 4));
    REQUIRE(a);
    for (int n = 1; n <= 4; n++) { /* fail each of the first allocations of an op in turn */
        dc_clear_error();
        size_t scope = dc_scope_begin();
        dc_debug_fail_alloc_after(n);
        dc_tensor *r = dc_exp(a);
        dc_debug_fail_alloc_after(0);
        if (!r) CHECK(strstr(dc_last_error(), "out of memory") != NULL);
        dc_scope_end(scope);
    }
    dc_clear_error();
    /* an absurd size fails cleanly */
    CHECK_ERROR(dc_empty(DC_F64, DC_SHAPE(1LL << 40, 1LL << 22)) == NULL, "out of memory");
    CHECK(dc_live_tensors() == before + 1);
}

TEST(test_rng_reproducible_and_independent_of_threads)
{
    dc_rng r1, r2;
    dc_rng_seed(&r1, 42);
    dc_rng_seed(&r2, 42);
    int64_t n = 100000;
    dc_tensor *a = dc_randn(&r1, DC_F32, 1, &n);
    int saved = dc_get_num_threads();
    dc_set_num_threads(1);
    dc_tensor *b = dc_randn(&r2, DC_F32, 1, &n);
    dc_set_num_threads(saved);
    REQUIRE(a && b);
    double *va = dc_test_values(a), *vb = dc_test_values(b);
    REQUIRE(va && vb);
    CHECK_ALLCLOSE("same seed, different thread counts", va, vb, n, 0, 0);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++) mean += va[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) var += (va[i] - mean) * (va[i] - mean);
    var /= (double)(n - 1);
    CHECK_NEAR(mean, 0, 0.02);
    CHECK_NEAR(var, 1, 0.02);
    free(va);
    free(vb);
    /* consecutive draws differ; uniform stays in [lo, hi); bernoulli has the right rate */
    dc_tensor *c = dc_randn(&r1, DC_F32, 1, &n);
    CHECK(dc_item_at(c, (int64_t[]){0}) != dc_item_at(a, (int64_t[]){0}));
    dc_tensor *u = dc_uniform(&r1, DC_F32, 1, &n, -2, 3);
    double *vu = dc_test_values(u);
    REQUIRE(vu);
    double lo = 1e9, hi = -1e9;
    for (int64_t i = 0; i < n; i++) {
        lo = vu[i] < lo ? vu[i] : lo;
        hi = vu[i] > hi ? vu[i] : hi;
    }
    CHECK(lo >= -2 && hi < 3 && lo < -1.99 && hi > 2.99);
    free(vu);
    dc_tensor *bern = dc_bernoulli(&r1, DC_F64, 1, &n, 0.3);
    double ones = 0;
    double *vbern = dc_test_values(bern);
    REQUIRE(vbern);
    for (int64_t i = 0; i < n; i++) ones += vbern[i];
    free(vbern);
    CHECK_NEAR(ones / (double)n, 0.3, 0.01);
    CHECK_ERROR(dc_bernoulli(NULL, DC_F32, 1, &n, 1.5) == NULL, "outside [0, 1]");
}
