/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family). */
#if defined(GRADCHECK_FUNCTIONS)
#elif defined(GRADCHECK_ROWS)
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
#elif defined(GRADCHECK_TESTS)
#endif
