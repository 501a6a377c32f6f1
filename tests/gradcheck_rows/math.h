/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "math" (src/ops/math.c, scan.c, einsum.c): clamp with scalar and tensor bounds,
 * the piecewise-constant sign/floor/ceil/round (zero gradient; random U(-2, 2) inputs stay
 * away from their jumps, sign's inputs away from 0), erf/erfc, logsumexp, cumsum/cumprod,
 * prod, std, the vector norms for each kind of p, cosine similarity, normalize and einsum
 * (contractions, one-operand forms, implicit output, "...", three operands). Inputs with
 * zeros (prod, cumprod) and norms at 0 are checked in tests/test_math_ops.c. */
#if defined(GRADCHECK_FUNCTIONS)
FN(f_clamp_both, dc_clamp(x[0], -0.5, 0.75))
FN(f_clamp_min_only, dc_clamp(x[0], 0.25, NAN))
FN(f_clamp_max_only, dc_clamp(x[0], NAN, -0.3))
FN(f_clamp_tensor_both, dc_clamp_tensor(x[0], x[1], x[2]))
FN(f_clamp_tensor_min, dc_clamp_tensor(x[0], x[1], NULL))
FN(f_clamp_tensor_max, dc_clamp_tensor(x[0], NULL, x[1]))
FN(f_sign, dc_sign(x[0]))
FN(f_floor, dc_floor(x[0]))
FN(f_ceil, dc_ceil(x[0]))
FN(f_round, dc_round(x[0]))
FN(f_erf, dc_erf(x[0]))
FN(f_erfc, dc_erfc(x[0]))
FN(f_logsumexp_d1, dc_logsumexp(x[0], 1, (int[]){1}, false))
FN(f_logsumexp_d02_keep, dc_logsumexp(x[0], 2, (int[]){0, 2}, true))
FN(f_logsumexp_all, dc_logsumexp(x[0], 0, NULL, false))
FN(f_cumsum_d0, dc_cumsum(x[0], 0))
FN(f_cumsum_dlast, dc_cumsum(x[0], -1))
FN(f_cumprod_d1, dc_cumprod(x[0], 1))
FN(f_cumprod_d0, dc_cumprod(x[0], 0))
FN(f_prod_d1, dc_prod(x[0], 1, false))
FN(f_prod_d0_keep, dc_prod(x[0], 0, true))
FN(f_prod_all, dc_prod_all(x[0]))
FN(f_std_d1, dc_std(x[0], 1, (int[]){1}, 1, false))
FN(f_std_d02_biased_keep, dc_std(x[0], 2, (int[]){0, 2}, 0, true))
FN(f_std_all, dc_std(x[0], 0, NULL, 1, false))
FN(f_norm2_d1, dc_norm(x[0], 2, 1, (int[]){1}, false))
FN(f_norm_fro_all, dc_norm(x[0], 2, 0, NULL, false))
FN(f_norm1_dlast_keep, dc_norm(x[0], 1, 1, (int[]){-1}, true))
FN(f_norm_inf_d1, dc_norm(x[0], INFINITY, 1, (int[]){1}, false))
FN(f_norm_neginf_d02, dc_norm(x[0], -INFINITY, 2, (int[]){0, 2}, false))
FN(f_norm3_d0, dc_norm(x[0], 3, 1, (int[]){0}, false))
FN(f_norm1_5_all, dc_norm(x[0], 1.5, 0, NULL, true))
FN(f_norm0_5_d1, dc_norm(x[0], 0.5, 1, (int[]){1}, false))
FN(f_norm0_d1, dc_norm(x[0], 0, 1, (int[]){1}, false))
FN(f_cosine_d1, dc_cosine_similarity(x[0], x[1], 1, 1e-8))
FN(f_cosine_broadcast, dc_cosine_similarity(x[0], x[1], -2, 1e-8))
FN(f_normalize_p2, dc_normalize(x[0], 2, 1, 1e-12))
FN(f_normalize_p1_dlast, dc_normalize(x[0], 1, -1, 1e-12))
FN(f_einsum_matmul, dc_einsum("ij,jk->ik", 2, x))
FN(f_einsum_bmm, dc_einsum("bij,bjk->bik", 2, x))
FN(f_einsum_transpose, dc_einsum("ij->ji", 1, x))
FN(f_einsum_trace, dc_einsum("ii->", 1, x))
FN(f_einsum_diagonal, dc_einsum("ii->i", 1, x))
FN(f_einsum_batch_diagonal, dc_einsum("bii->bi", 1, x))
FN(f_einsum_sum_all, dc_einsum("ij->", 1, x))
FN(f_einsum_sum_rows, dc_einsum("ij->j", 1, x))
FN(f_einsum_outer, dc_einsum("i,j->ij", 2, x))
FN(f_einsum_batch_outer, dc_einsum("bi,bj->bij", 2, x))
FN(f_einsum_dot, dc_einsum("i,i->", 2, x))
FN(f_einsum_implicit, dc_einsum("kj,ji", 2, x))
FN(f_einsum_ellipsis, dc_einsum("...ij,...jk->...ik", 2, x))
FN(f_einsum_three, dc_einsum("ij,jk,kl->li", 3, x))
FN(f_einsum_mixed, dc_einsum("bhqd,bkhd->bhqk", 2, x))
FN(f_einsum_broadcast_label, dc_einsum("ij,ij->ij", 2, x))
#elif defined(GRADCHECK_ROWS)
    /* ---- more math (src/ops/math.c, scan.c, einsum.c) ---- */
    {"math", "clamp_both", "dc_clamp", f_clamp_both, 1, {T(3, 4)}, NC},
    {"math", "clamp_min_only", "dc_clamp", f_clamp_min_only, 1, {T(3, 4)}, false},
    {"math", "clamp_max_only", "dc_clamp", f_clamp_max_only, 1, {S}, false},
    {"math", "clamp_tensor_broadcast", "dc_clamp_tensor", f_clamp_tensor_both, 3,
     {T(3, 4), T(4), T(3, 1)}, NC},
    {"math", "clamp_tensor_bounds_bigger_than_x", "dc_clamp_tensor", f_clamp_tensor_both, 3,
     {T(4), T(2, 4), T(3, 1, 1)}, false},
    {"math", "clamp_tensor_min_only", "dc_clamp_tensor", f_clamp_tensor_min, 2, {T(3, 4), T(3, 4)}, NC},
    {"math", "clamp_tensor_max_only", "dc_clamp_tensor", f_clamp_tensor_max, 2, {T(3, 4), S}, false},
    {"math", "sign_zero_gradient", "dc_sign", f_sign, 1, {IN(AWAY_FROM_ZERO, 3, 4)}, NC},
    {"math", "floor_zero_gradient", "dc_floor", f_floor, 1, {T(3, 4)}, NC},
    {"math", "ceil_zero_gradient", "dc_ceil", f_ceil, 1, {T(3, 4)}, false},
    {"math", "round_zero_gradient", "dc_round", f_round, 1, {T(3, 4)}, false},
    {"math", "erf_2d", "dc_erf", f_erf, 1, {T(3, 4)}, NC},
    {"math", "erf_scalar", "dc_erf", f_erf, 1, {S}, false},
    {"math", "erfc_2d", "dc_erfc", f_erfc, 1, {T(3, 4)}, NC},
    {"math", "logsumexp_d1", "dc_logsumexp", f_logsumexp_d1, 1, {T(3, 4)}, NC},
    {"math", "logsumexp_d02_keep", "dc_logsumexp", f_logsumexp_d02_keep, 1, {T(2, 3, 4)}, NC},
    {"math", "logsumexp_all", "dc_logsumexp", f_logsumexp_all, 1, {T(2, 3)}, false},
    {"math", "logsumexp_scalar", "dc_logsumexp", f_logsumexp_all, 1, {S}, false},
    {"math", "cumsum_d0", "dc_cumsum", f_cumsum_d0, 1, {T(4, 3)}, NC},
    {"math", "cumsum_dlast", "dc_cumsum", f_cumsum_dlast, 1, {T(2, 3, 4)}, NC},
    {"math", "cumsum_scalar", "dc_cumsum", f_cumsum_dlast, 1, {S}, false},
    {"math", "cumprod_d1", "dc_cumprod", f_cumprod_d1, 1, {T(3, 5)}, NC},
    {"math", "cumprod_d0", "dc_cumprod", f_cumprod_d0, 1, {T(4, 2, 3)}, NC},
    {"math", "prod_d1", "dc_prod", f_prod_d1, 1, {T(3, 4)}, NC},
    {"math", "prod_d0_keep", "dc_prod", f_prod_d0_keep, 1, {T(3, 2, 2)}, NC},
    {"math", "prod_all", "dc_prod_all", f_prod_all, 1, {T(2, 3)}, NC},
    {"math", "prod_all_scalar", "dc_prod_all", f_prod_all, 1, {S}, false},
    {"math", "std_d1", "dc_std", f_std_d1, 1, {T(3, 4)}, NC},
    {"math", "std_d02_biased_keep", "dc_std", f_std_d02_biased_keep, 1, {T(2, 3, 4)}, NC},
    {"math", "std_all", "dc_std", f_std_all, 1, {T(3, 4)}, false},
    {"math", "norm2_d1", "dc_norm", f_norm2_d1, 1, {T(3, 4)}, NC},
    {"math", "norm_frobenius_all", "dc_norm", f_norm_fro_all, 1, {T(3, 4)}, NC},
    {"math", "norm1_dlast_keep", "dc_norm", f_norm1_dlast_keep, 1, {IN(AWAY_FROM_ZERO, 3, 4)}, NC},
    {"math", "norm_inf_d1", "dc_norm", f_norm_inf_d1, 1, {T(3, 4)}, NC},
    {"math", "norm_neginf_d02", "dc_norm", f_norm_neginf_d02, 1, {T(2, 3, 4)}, NC},
    {"math", "norm3_d0", "dc_norm", f_norm3_d0, 1, {T(3, 4)}, NC},
    {"math", "norm1_5_all_keep", "dc_norm", f_norm1_5_all, 1, {T(3, 4)}, false},
    {"math", "norm0_5_d1", "dc_norm", f_norm0_5_d1, 1, {IN(AWAY_FROM_ZERO, 3, 4)}, NC},
    {"math", "norm0_count_zero_gradient", "dc_norm", f_norm0_d1, 1, {T(3, 4)}, false},
    {"math", "cosine_similarity_d1", "dc_cosine_similarity", f_cosine_d1, 2, {T(3, 4), T(3, 4)}, NC},
    {"math", "cosine_similarity_broadcast", "dc_cosine_similarity", f_cosine_broadcast, 2,
     {T(2, 3, 4), T(3, 1)}, NC},
    {"math", "normalize_p2", "dc_normalize", f_normalize_p2, 1, {T(3, 4)}, NC},
    {"math", "normalize_p1_dlast", "dc_normalize", f_normalize_p1_dlast, 1,
     {IN(AWAY_FROM_ZERO, 2, 3, 4)}, NC},
    {"math", "einsum_matmul", "dc_einsum", f_einsum_matmul, 2, {T(3, 4), T(4, 2)}, NC},
    {"math", "einsum_batched_matmul", "dc_einsum", f_einsum_bmm, 2, {T(2, 3, 4), T(2, 4, 2)}, NC},
    {"math", "einsum_transpose", "dc_einsum", f_einsum_transpose, 1, {T(3, 4)}, NC},
    {"math", "einsum_trace", "dc_einsum", f_einsum_trace, 1, {T(3, 3)}, NC},
    {"math", "einsum_diagonal", "dc_einsum", f_einsum_diagonal, 1, {T(4, 4)}, NC},
    {"math", "einsum_batch_diagonal", "dc_einsum", f_einsum_batch_diagonal, 1, {T(2, 3, 3)}, NC},
    {"math", "einsum_sum_all", "dc_einsum", f_einsum_sum_all, 1, {T(3, 4)}, false},
    {"math", "einsum_sum_rows", "dc_einsum", f_einsum_sum_rows, 1, {T(3, 4)}, NC},
    {"math", "einsum_outer", "dc_einsum", f_einsum_outer, 2, {T(3), T(4)}, false},
    {"math", "einsum_batch_outer", "dc_einsum", f_einsum_batch_outer, 2, {T(2, 3), T(2, 4)}, NC},
    {"math", "einsum_dot", "dc_einsum", f_einsum_dot, 2, {T(5), T(5)}, false},
    {"math", "einsum_implicit_output", "dc_einsum", f_einsum_implicit, 2, {T(3, 4), T(4, 2)}, NC},
    {"math", "einsum_ellipsis_broadcast", "dc_einsum", f_einsum_ellipsis, 2,
     {T(2, 1, 3, 4), T(3, 4, 2)}, NC},
    {"math", "einsum_three_operands", "dc_einsum", f_einsum_three, 3, {T(2, 3), T(3, 4), T(4, 2)},
     NC},
    {"math", "einsum_attention_scores", "dc_einsum", f_einsum_mixed, 2,
     {T(2, 2, 3, 4), T(2, 5, 2, 4)}, NC},
    {"math", "einsum_size1_label_broadcasts", "dc_einsum", f_einsum_broadcast_label, 2,
     {T(3, 1), T(1, 4)}, false},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_math) { check_family("math"); }
#endif
