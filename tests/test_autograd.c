/* Autograd engine (book §3.4): accumulation, no-grad, detach, graph shapes and memory. */
#include "test.h"

TEST(test_gradient_accumulates_across_uses_and_calls)
{
    dc_tensor *x = dc_requires_grad(dc_full(DC_F64, DC_SHAPE(3), 2.0), true);
    REQUIRE(x);
    /* y = sum(x*x + x): dy/dx = 2x + 1 = 5, x used three times */
    dc_tensor *y = dc_sum_all(dc_add(dc_mul(x, x), x));
    REQUIRE(y);
    REQUIRE(dc_backward(y) == 0);
    REQUIRE(x->grad);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){1}), 5.0, 1e-12);
    /* a second backward on the same graph adds again (documented) */
    REQUIRE(dc_backward(y) == 0);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){1}), 10.0, 1e-12);
    dc_zero_grad(x);
    CHECK(x->grad == NULL);
    REQUIRE(dc_backward(y) == 0);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){2}), 5.0, 1e-12);
    dc_zero_grad(x);
}

TEST(test_diamond_graph_sums_both_paths)
{
    /* z = a*b where a = exp(x), b = sin(x): dz/dx = e^x sin x + e^x cos x */
    dc_tensor *x = dc_requires_grad(dc_scalar(DC_F64, 0.7), true);
    dc_tensor *z = dc_mul(dc_exp(x), dc_sin(x));
    REQUIRE(z && dc_backward(z) == 0);
    CHECK_NEAR(dc_item(x->grad), exp(0.7) * (sin(0.7) + cos(0.7)), 1e-12);
    CHECK(z->grad == NULL); /* non-leaf gradients are not kept */
    dc_zero_grad(x);
}

TEST(test_no_grad_records_nothing_and_detach_cuts_history)
{
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(2)), true);
    bool prev = dc_no_grad_begin();
    dc_tensor *y = dc_mul(w, w);
    dc_grad_mode_restore(prev);
    REQUIRE(y);
    CHECK(!y->requires_grad && y->grad_fn == NULL);
    CHECK(dc_is_grad_enabled());
    CHECK_ERROR(dc_backward(dc_sum_all(y)) != 0, "does not require grad");
    dc_tensor *z = dc_mul(w, w);
    CHECK(z && z->requires_grad && strcmp(dc_grad_fn_name(z), "mul") == 0);
    dc_tensor *d = dc_detach(z);
    CHECK(d && !d->requires_grad && d->grad_fn == NULL && d->storage == z->storage);
    CHECK_ERROR(dc_requires_grad(z, false) == NULL, "only leaf tensors");
    CHECK_ERROR(dc_requires_grad(dc_arange(DC_I64, 0, 2, 1), true) == NULL, "float");
}

TEST(test_gradients_flow_through_views)
{
    /* loss = sum(w^T[1:, :] * 3) over a permuted, sliced view */
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F64, DC_SHAPE(2, 3)), true);
    dc_tensor *v = dc_slice(dc_transpose(w, 0, 1), 0, 1, 3, 1);
    dc_tensor *loss = dc_sum_all(dc_mul_scalar(v, 3.0));
    REQUIRE(loss && dc_backward(loss) == 0);
    const double expect[6] = {0, 3, 3, 0, 3, 3};
    double *g = dc_test_values(w->grad);
    REQUIRE(g);
    CHECK_ALLCLOSE("grad through transpose+slice", g, expect, 6, 0, 1e-12);
    free(g);
    dc_zero_grad(w);
}

TEST(test_backward_errors)
{
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(2)), true);
    dc_tensor *y = dc_mul(w, w);
    CHECK_ERROR(dc_backward(y) != 0, "one element");
    CHECK_ERROR(dc_backward(NULL) != 0, "NULL");
    dc_tensor *seed = dc_ones(DC_F32, DC_SHAPE(2));
    CHECK(dc_backward_with(y, seed) == 0);
    CHECK_NEAR(dc_item_at(w->grad, (int64_t[]){0}), 2.0, 1e-6);
    CHECK_NEAR(dc_item_at(seed, (int64_t[]){0}), 1.0, 0); /* the seed is not modified */
    CHECK(dc_backward_with(y, seed) == 0);
    CHECK_NEAR(dc_item_at(seed, (int64_t[]){0}), 1.0, 0);
    dc_zero_grad(w);
}

TEST(test_long_chain_graph_no_stack_overflow)
{
    /* 20,000 ops in a chain: topological sort and release must be iterative */
    dc_tensor *x = dc_requires_grad(dc_scalar(DC_F64, 1.0), true);
    dc_tensor *y = x;
    for (int i = 0; i < 20000; i++) y = dc_mul_scalar(y, 1.0001);
    REQUIRE(y && dc_backward(y) == 0);
    CHECK_NEAR(dc_item(x->grad), pow(1.0001, 20000), 1e-6);
    dc_zero_grad(x);
}

TEST(test_training_loop_does_not_leak)
{
    /* 10,000 steps of a tiny regression: live tensors and bytes return to the baseline */
    dc_rng rng;
    dc_rng_seed(&rng, 7);
    dc_tensor *w = dc_tensor_retain(dc_requires_grad(dc_randn(&rng, DC_F32, DC_SHAPE(4, 1)), true));
    dc_tensor *x = dc_tensor_retain(dc_randn(&rng, DC_F32, DC_SHAPE(8, 4)));
    dc_tensor *target = dc_tensor_retain(dc_randn(&rng, DC_F32, DC_SHAPE(8, 1)));
    int64_t tensors = dc_live_tensors(), bytes = dc_live_bytes();
    double first = 0, last = 0;
    for (int step = 0; step < 10000; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *err = dc_sub(dc_matmul(x, w), target);
        dc_tensor *loss = dc_mean_all(dc_mul(err, err));
        if (!loss || dc_backward(loss) != 0) {
            dc_scope_end(scope);
            CHECK(!"step failed");
            break;
        }
        if (step == 0) first = dc_item(loss);
        last = dc_item(loss);
        dc_axpy_(w, -0.05, w->grad);
        dc_zero_grad(w);
        dc_scope_end(scope);
        if (dc_live_tensors() != tensors || dc_live_bytes() != bytes) {
            CHECK(!"live tensors or bytes grew during the loop");
            break;
        }
    }
    CHECK(last < first);
    dc_tensor_free(w);
    dc_tensor_free(x);
    dc_tensor_free(target);
}
