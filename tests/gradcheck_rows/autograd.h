/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family). */
#if defined(GRADCHECK_FUNCTIONS)
/* A custom function (dc_function_apply): softsign x / (1 + |x|), backward 1 / (1 + |x|)^2. */
static dc_tensor *softsign_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)user;
    if (dc_ctx_save(ctx, in[0]) != 0) return NULL;
    return dc_div(in[0], dc_add_scalar(dc_abs(in[0]), 1.0));
}
static int softsign_backward(dc_node *ctx, dc_tensor *g, dc_tensor **grads, void *user)
{
    (void)user;
    dc_tensor *d = dc_add_scalar(dc_abs(dc_ctx_saved(ctx, 0)), 1.0);
    grads[0] = dc_div(g, dc_mul(d, d));
    return grads[0] ? 0 : -1;
}
static const dc_function softsign_fn = {"softsign", softsign_forward, softsign_backward, false};
FN(f_custom_softsign, dc_function_apply(&softsign_fn, 1, x, NULL))
#elif defined(GRADCHECK_ROWS)
    {"autograd", "custom_function_softsign", "dc_function_apply", f_custom_softsign, 1,
     {IN(AWAY_FROM_ZERO, 3, 4)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* a custom function's accessor of its saved tensors, not an op */
    "dc_ctx_saved",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_custom_functions) { check_family("autograd"); }
#endif
