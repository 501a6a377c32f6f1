/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "dtypes" (src/ops/elementwise.c, src/core/copy.c): remainder on floats (the only
 * new op with a gradient: d/da = g, d/db = -g * floor(a / b); U(-2, 2) over |b| in
 * [0.5, 2) keeps a / b away from the integers where the floor jumps). The integer and bool
 * ops are tested against hand-computed values and PyTorch in tests/test_dtypes.c. */
#if defined(GRADCHECK_FUNCTIONS)
FN(f_remainder, dc_remainder(x[0], x[1]))
#elif defined(GRADCHECK_ROWS)
    /* ---- dtypes: integer and bool tensors (src/ops/elementwise.c) ---- */
    {"dtypes", "remainder_2d", "dc_remainder", f_remainder, 2,
     {T(3, 4), IN(AWAY_FROM_ZERO, 3, 4)}, NC},
    {"dtypes", "remainder_broadcast", "dc_remainder", f_remainder, 2,
     {T(2, 3), IN(AWAY_FROM_ZERO, 3)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* piecewise constant, recording no graph like the comparisons (torch's gradient is 0);
     * on integers no input can require grad */
    "dc_floor_divide",
    /* comparisons and logical ops: bool-valued (test_comparisons_record_no_graph) */
    "dc_ne", "dc_logical_and", "dc_logical_or", "dc_logical_xor", "dc_logical_not",
    /* reductions to one bool */
    "dc_any", "dc_all",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_dtypes) { check_family("dtypes"); }
#endif
