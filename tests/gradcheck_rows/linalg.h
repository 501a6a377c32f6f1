/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "linalg": src/ops/linalg.c. The gradients need well-conditioned inputs, so the case
 * functions build them from the random X: X + 6 I for solve / inv / det (diagonally
 * dominant), X X^T + 3 I for cholesky and logdet (positive definite), X + X^T for eigh
 * (symmetric; its eigenvalues are distinct with probability 1). Eigenvectors and singular
 * vectors have arbitrary signs, so those rows check sign-invariant quantities: V * V
 * elementwise, U diag(S) Vh. */
#if defined(GRADCHECK_FUNCTIONS)
static dc_tensor *linalg_eye(int64_t n, double scale)
{
    dc_tensor *t = dc_zeros(DC_F64, 2, (int64_t[]){n, n});
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) ((double *)dc_data(t))[i * n + i] = scale;
    return t;
}
/* X + s I on the last two dims */
static dc_tensor *linalg_shift(dc_tensor *x, double s)
{
    return dc_add(x, linalg_eye(x->shape[x->ndim - 1], s));
}
/* X X^T + 3 I: symmetric positive definite */
static dc_tensor *linalg_spd(dc_tensor *x)
{
    return linalg_shift(dc_matmul(x, dc_transpose(x, -2, -1)), 3);
}
static dc_tensor *linalg_sym(dc_tensor *x) { return dc_add(x, dc_transpose(x, -2, -1)); }
FN(f_linalg_solve, dc_linalg_solve(linalg_shift(x[0], 6), x[1]))
FN(f_linalg_inv, dc_linalg_inv(linalg_shift(x[0], 6)))
FN(f_linalg_det, dc_linalg_det(linalg_shift(x[0], 6)))
/* a negative determinant: the gradient of det has no sign restriction */
FN(f_linalg_det_negative, dc_linalg_det(linalg_shift(x[0], -6)))
FN(f_logdet, dc_logdet(linalg_spd(x[0])))
static dc_tensor *f_linalg_slogdet(dc_tensor *const *x)
{
    dc_tensor *sign = NULL, *logabs = NULL;
    return dc_linalg_slogdet(linalg_shift(x[0], -6), &sign, &logabs) == 0 ? logabs : NULL;
}
FN(f_linalg_cholesky, dc_linalg_cholesky(linalg_spd(x[0]), false))
FN(f_linalg_cholesky_upper, dc_linalg_cholesky(linalg_spd(x[0]), true))
static dc_tensor *linalg_qr_part(dc_tensor *a, dc_qr_mode mode, int which)
{
    dc_tensor *q = NULL, *r = NULL;
    if (dc_linalg_qr(a, mode, which == 0 ? &q : NULL, which == 1 ? &r : NULL) != 0) return NULL;
    return which == 0 ? q : r;
}
FN(f_linalg_qr_q, linalg_qr_part(x[0], DC_QR_REDUCED, 0))
FN(f_linalg_qr_r, linalg_qr_part(x[0], DC_QR_REDUCED, 1))
FN(f_linalg_qr_complete_q, linalg_qr_part(x[0], DC_QR_COMPLETE, 0))
FN(f_linalg_qr_complete_r, linalg_qr_part(x[0], DC_QR_COMPLETE, 1))
FN(f_linalg_lstsq, dc_linalg_lstsq(x[0], x[1]))
static dc_tensor *f_linalg_eigh_values(dc_tensor *const *x)
{
    dc_tensor *l = NULL;
    return dc_linalg_eigh(linalg_sym(x[0]), &l, NULL) == 0 ? l : NULL;
}
/* V * V: the eigenvectors up to their signs */
static dc_tensor *f_linalg_eigh_vectors(dc_tensor *const *x)
{
    dc_tensor *v = NULL;
    return dc_linalg_eigh(linalg_sym(x[0]), NULL, &v) == 0 ? dc_mul(v, v) : NULL;
}
/* both outputs in one loss: L + sum of V * V weighted by the row index */
static dc_tensor *f_linalg_eigh_both(dc_tensor *const *x)
{
    dc_tensor *l = NULL, *v = NULL;
    if (dc_linalg_eigh(linalg_sym(x[0]), &l, &v) != 0) return NULL;
    return dc_add(dc_unsqueeze(l, -2), dc_mul(v, v));
}
static dc_tensor *linalg_svd_part(dc_tensor *a, bool full, int which)
{
    dc_tensor *u = NULL, *s = NULL, *vh = NULL;
    if (dc_linalg_svd(a, full, &u, &s, &vh) != 0) return NULL;
    switch (which) {
    case 0: return dc_mul(u, u);
    case 1: return s;
    case 2: return dc_mul(vh, vh);
    default: {
        /* U diag(S) Vh on the first k columns / rows: A itself */
        int64_t k = s->shape[s->ndim - 1];
        dc_tensor *uk = dc_narrow(u, -1, 0, k), *vk = dc_narrow(vh, -2, 0, k);
        return dc_matmul(dc_mul(uk, dc_unsqueeze(s, -2)), vk);
    }
    }
}
FN(f_linalg_svd_u, linalg_svd_part(x[0], false, 0))
FN(f_linalg_svd_s, linalg_svd_part(x[0], false, 1))
FN(f_linalg_svd_vh, linalg_svd_part(x[0], false, 2))
FN(f_linalg_svd_usvh, linalg_svd_part(x[0], false, 3))
FN(f_linalg_svd_full_s, linalg_svd_part(x[0], true, 1))
FN(f_linalg_svd_full_usvh, linalg_svd_part(x[0], true, 3))
FN(f_linalg_svdvals, dc_linalg_svdvals(x[0]))
#elif defined(GRADCHECK_ROWS)
    /* ---- linear algebra (src/ops/linalg.c) ---- */
    {"linalg", "solve_matrix_rhs", "dc_linalg_solve", f_linalg_solve, 2, {T(3, 3), T(3, 2)}, NC},
    {"linalg", "solve_vector_rhs", "dc_linalg_solve", f_linalg_solve, 2, {T(4, 4), T(4)}, NC},
    {"linalg", "solve_batch_of_vectors", "dc_linalg_solve", f_linalg_solve, 2, {T(2, 3, 3), T(2, 3)}, NC},
    {"linalg", "solve_broadcast_batch_dims", "dc_linalg_solve", f_linalg_solve, 2, {T(2, 1, 3, 3), T(3, 3, 2)}, NC},
    {"linalg", "inv", "dc_linalg_inv", f_linalg_inv, 1, {T(4, 4)}, NC},
    {"linalg", "inv_batched", "dc_linalg_inv", f_linalg_inv, 1, {T(2, 3, 3)}, NC},
    {"linalg", "det", "dc_linalg_det", f_linalg_det, 1, {T(3, 3)}, NC},
    {"linalg", "det_negative_batched", "dc_linalg_det", f_linalg_det_negative, 1, {T(2, 3, 3)}, NC},
    {"linalg", "slogdet_logabsdet_negative_det", "dc_linalg_slogdet", f_linalg_slogdet, 1, {T(2, 3, 3)}, NC},
    {"linalg", "logdet_spd", "dc_logdet", f_logdet, 1, {T(3, 3)}, NC},
    {"linalg", "cholesky_lower", "dc_linalg_cholesky", f_linalg_cholesky, 1, {T(4, 4)}, NC},
    {"linalg", "cholesky_upper_batched", "dc_linalg_cholesky", f_linalg_cholesky_upper, 1, {T(2, 3, 3)}, NC},
    {"linalg", "qr_tall_q", "dc_linalg_qr", f_linalg_qr_q, 1, {T(5, 3)}, NC},
    {"linalg", "qr_tall_r", "dc_linalg_qr", f_linalg_qr_r, 1, {T(5, 3)}, NC},
    {"linalg", "qr_wide_q", "dc_linalg_qr", f_linalg_qr_q, 1, {T(3, 5)}, NC},
    {"linalg", "qr_wide_r_batched", "dc_linalg_qr", f_linalg_qr_r, 1, {T(2, 3, 5)}, NC},
    {"linalg", "qr_complete_square_q", "dc_linalg_qr", f_linalg_qr_complete_q, 1, {T(4, 4)}, NC},
    {"linalg", "qr_complete_wide_r", "dc_linalg_qr", f_linalg_qr_complete_r, 1, {T(3, 4)}, NC},
    {"linalg", "lstsq_tall", "dc_linalg_lstsq", f_linalg_lstsq, 2, {T(6, 3), T(6, 2)}, NC},
    {"linalg", "lstsq_batched_broadcast_rhs", "dc_linalg_lstsq", f_linalg_lstsq, 2, {T(2, 5, 2), T(5, 3)}, NC},
    {"linalg", "eigh_eigenvalues", "dc_linalg_eigh", f_linalg_eigh_values, 1, {T(4, 4)}, NC},
    {"linalg", "eigh_eigenvectors_squared", "dc_linalg_eigh", f_linalg_eigh_vectors, 1, {T(4, 4)}, NC},
    {"linalg", "eigh_both_outputs_batched", "dc_linalg_eigh", f_linalg_eigh_both, 1, {T(2, 3, 3)}, NC},
    {"linalg", "svd_tall_s", "dc_linalg_svd", f_linalg_svd_s, 1, {T(5, 3)}, NC},
    {"linalg", "svd_tall_u_squared", "dc_linalg_svd", f_linalg_svd_u, 1, {T(5, 3)}, NC},
    {"linalg", "svd_tall_vh_squared", "dc_linalg_svd", f_linalg_svd_vh, 1, {T(5, 3)}, NC},
    {"linalg", "svd_wide_u_squared", "dc_linalg_svd", f_linalg_svd_u, 1, {T(3, 5)}, NC},
    {"linalg", "svd_wide_vh_squared", "dc_linalg_svd", f_linalg_svd_vh, 1, {T(3, 5)}, NC},
    {"linalg", "svd_reconstruction_batched", "dc_linalg_svd", f_linalg_svd_usvh, 1, {T(2, 4, 3)}, NC},
    {"linalg", "svd_full_matrices_s", "dc_linalg_svd", f_linalg_svd_full_s, 1, {T(3, 5)}, NC},
    {"linalg", "svd_full_matrices_reconstruction", "dc_linalg_svd", f_linalg_svd_full_usvh, 1, {T(5, 3)}, NC},
    {"linalg", "svdvals_wide_batched", "dc_linalg_svdvals", f_linalg_svdvals, 1, {T(2, 3, 4)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* every linear-algebra op is differentiable (slogdet's sign output has no gradient, as
     * torch; it is not a separate function) */
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_linalg_ops) { check_family("linalg"); }
#endif
