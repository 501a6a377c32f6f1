/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "shapes" (src/ops/shape.c): pads of every mode (negative pads crop), flip, roll,
 * repeat/tile, the views split/chunk/meshgrid (their pieces joined by cat/stack so every
 * piece's backward is checked), unfold/fold, unfold_dim with overlapping windows,
 * tril/triu, diag both ways, diagonal. The random draws of src/core/rng.c are listed as not
 * differentiable. */
#if defined(GRADCHECK_FUNCTIONS)
FN(f_pad_constant_2d, dc_pad(x[0], 4, (int64_t[]){1, 2, 0, 1}, DC_PAD_CONSTANT, 0.5))
FN(f_pad_constant_crop, dc_pad(x[0], 4, (int64_t[]){-1, 2, 1, -2}, DC_PAD_CONSTANT, 0.0))
FN(f_pad_reflect_1d, dc_pad(x[0], 2, (int64_t[]){2, 3}, DC_PAD_REFLECT, 0.0))
FN(f_pad_reflect_2d, dc_pad(x[0], 4, (int64_t[]){2, 1, 1, 2}, DC_PAD_REFLECT, 0.0))
FN(f_pad_replicate_2d, dc_pad(x[0], 4, (int64_t[]){2, 1, 3, 0}, DC_PAD_REPLICATE, 0.0))
FN(f_pad_circular_2d, dc_pad(x[0], 4, (int64_t[]){3, 1, 2, 2}, DC_PAD_CIRCULAR, 0.0))
FN(f_pad_reflect_crop, dc_pad(x[0], 2, (int64_t[]){-1, 3}, DC_PAD_REFLECT, 0.0))
FN(f_flip_01, dc_flip(x[0], 2, (int[]){0, -1}))
FN(f_flip_1, dc_flip(x[0], 1, (int[]){1}))
FN(f_roll_dims, dc_roll(x[0], 2, (int64_t[]){1, -3}, (int[]){0, 2}))
FN(f_roll_flat, dc_roll(x[0], 1, (int64_t[]){5}, NULL))
FN(f_repeat_new_dims, dc_repeat(x[0], 3, (int64_t[]){2, 1, 3}))
FN(f_repeat_both, dc_repeat(x[0], 2, (int64_t[]){3, 2}))
FN(f_tile_short, dc_tile(x[0], 1, (int64_t[]){2}))
static dc_tensor *f_split_uneven(dc_tensor *const *x)
{
    dc_tensor *p[3];
    int n = dc_split(x[0], 2, 1, p, 3);
    if (n != 3) return NULL;
    /* pieces scaled differently so a gradient routed to the wrong piece shows */
    dc_tensor *q[3] = {p[0], dc_mul_scalar(p[1], 2.0), dc_mul_scalar(p[2], -3.0)};
    return dc_cat(q, 3, 1);
}
static dc_tensor *f_split_sizes(dc_tensor *const *x)
{
    dc_tensor *p[3];
    if (dc_split_sizes(x[0], 3, (int64_t[]){1, 0, 3}, 0, p) != 3) return NULL;
    dc_tensor *q[2] = {dc_mul_scalar(p[0], 2.0), dc_sum(p[2], 1, (int[]){0}, true)};
    return dc_cat(q, 2, 0);
}
static dc_tensor *f_chunk(dc_tensor *const *x)
{
    dc_tensor *p[4];
    int n = dc_chunk(x[0], 4, -1, p, 4); /* size 6 in 4 chunks: three of 2 */
    if (n != 3) return NULL;
    dc_tensor *q[3] = {dc_mul_scalar(p[0], 3.0), p[1], dc_mul(p[2], p[2])};
    return dc_cat(q, 3, -1);
}
static dc_tensor *f_meshgrid(dc_tensor *const *x, dc_meshgrid_indexing ix)
{
    dc_tensor *g[2];
    if (dc_meshgrid(x, 2, ix, g) != 2) return NULL;
    return dc_add(dc_mul(g[0], g[1]), g[0]);
}
FN(f_meshgrid_ij, f_meshgrid(x, DC_MESHGRID_IJ))
FN(f_meshgrid_xy, f_meshgrid(x, DC_MESHGRID_XY))
FN(f_unfold_k2, dc_unfold(x[0], DC_UNFOLD_OPTS(2, 1, 0, 1)))
FN(f_unfold_pad_stride_dil,
   dc_unfold(x[0], ((dc_unfold_opts){{3, 2}, {1, 2}, {1, 0}, {2, 1}})))
FN(f_fold_k2, dc_fold(x[0], 4, 5, DC_UNFOLD_OPTS(2, 1, 0, 1)))
FN(f_fold_pad_stride, dc_fold(x[0], 5, 4, ((dc_unfold_opts){{3, 2}, {1, 1}, {1, 0}, {2, 2}})))
FN(f_unfold_dim_overlap, dc_unfold_dim(x[0], 1, 3, 2))
FN(f_unfold_dim_gap, dc_unfold_dim(x[0], -1, 2, 3))
FN(f_tril_0, dc_tril(x[0], 0))
FN(f_tril_neg1, dc_tril(x[0], -1))
FN(f_triu_1, dc_triu(x[0], 1))
FN(f_triu_neg2, dc_triu(x[0], -2))
FN(f_diag_1d_up, dc_diag(x[0], 1))
FN(f_diag_1d_down, dc_diag(x[0], -2))
FN(f_diag_2d, dc_diag(x[0], -1))
FN(f_diagonal_01, dc_diagonal(x[0], 0, 0, 1))
FN(f_diagonal_off_02, dc_diagonal(x[0], 1, 0, 2))
FN(f_diagonal_neg_last, dc_diagonal(x[0], -1, -1, -2))
/* Each embed is the adjoint of its view: twice through the view and its backward */
FN(f_diagonal_then_diag, dc_diag(dc_mul(dc_diagonal(x[0], 1, 0, 1), x[1]), 1))
#elif defined(GRADCHECK_ROWS)
    {"shapes", "pad_constant_2d", "dc_pad", f_pad_constant_2d, 1, {T(2, 3, 4)}, NC},
    {"shapes", "pad_constant_negative_crops", "dc_pad", f_pad_constant_crop, 1, {T(2, 4, 5)}, NC},
    {"shapes", "pad_reflect_1d", "dc_pad", f_pad_reflect_1d, 1, {T(2, 2, 5)}, NC},
    {"shapes", "pad_reflect_2d", "dc_pad", f_pad_reflect_2d, 1, {T(1, 2, 3, 4)}, NC},
    {"shapes", "pad_replicate_2d", "dc_pad", f_pad_replicate_2d, 1, {T(2, 3, 4)}, NC},
    {"shapes", "pad_circular_2d", "dc_pad", f_pad_circular_2d, 1, {T(1, 2, 3, 4)}, NC},
    {"shapes", "pad_reflect_negative_side", "dc_pad", f_pad_reflect_crop, 1, {T(3, 5)}, NC},
    {"shapes", "flip_two_dims", "dc_flip", f_flip_01, 1, {T(3, 2, 4)}, NC},
    {"shapes", "flip_middle_dim", "dc_flip", f_flip_1, 1, {T(2, 3, 4)}, NC},
    {"shapes", "roll_two_dims", "dc_roll", f_roll_dims, 1, {T(3, 2, 4)}, NC},
    {"shapes", "roll_flattened", "dc_roll", f_roll_flat, 1, {T(3, 4)}, NC},
    {"shapes", "repeat_adds_leading_dim", "dc_repeat", f_repeat_new_dims, 1, {T(3, 2)}, NC},
    {"shapes", "repeat_both_dims", "dc_repeat", f_repeat_both, 1, {T(2, 3)}, NC},
    {"shapes", "tile_fewer_reps_than_dims", "dc_tile", f_tile_short, 1, {T(2, 3)}, NC},
    {"shapes", "split_uneven_pieces", "dc_split", f_split_uneven, 1, {T(3, 5)}, NC},
    {"shapes", "split_sizes_with_empty_piece", "dc_split_sizes", f_split_sizes, 1, {T(4, 3)}, NC},
    {"shapes", "chunk_fewer_than_asked", "dc_chunk", f_chunk, 1, {T(2, 6)}, NC},
    {"shapes", "meshgrid_ij", "dc_meshgrid", f_meshgrid_ij, 2, {T(3), T(4)}, NC},
    {"shapes", "meshgrid_xy", "dc_meshgrid", f_meshgrid_xy, 2, {T(3), T(4)}, NC},
    {"shapes", "unfold_kernel2", "dc_unfold", f_unfold_k2, 1, {T(2, 2, 3, 4)}, NC},
    {"shapes", "unfold_padding_stride_dilation", "dc_unfold", f_unfold_pad_stride_dil, 1,
     {T(1, 2, 5, 6)}, NC},
    {"shapes", "unfold_unbatched", "dc_unfold", f_unfold_k2, 1, {T(2, 3, 3)}, NC},
    {"shapes", "fold_kernel2_overlaps_sum", "dc_fold", f_fold_k2, 1, {T(2, 8, 12)}, NC},
    {"shapes", "fold_padding_stride", "dc_fold", f_fold_pad_stride, 1, {T(1, 12, 6)}, NC},
    {"shapes", "fold_unbatched", "dc_fold", f_fold_k2, 1, {T(4, 12)}, NC},
    {"shapes", "unfold_dim_overlapping_windows", "dc_unfold_dim", f_unfold_dim_overlap, 1,
     {T(2, 7, 3)}, NC},
    {"shapes", "unfold_dim_windows_with_gaps", "dc_unfold_dim", f_unfold_dim_gap, 1, {T(2, 8)}, NC},
    {"shapes", "tril_main", "dc_tril", f_tril_0, 1, {T(4, 4)}, NC},
    {"shapes", "tril_below_batched", "dc_tril", f_tril_neg1, 1, {T(2, 3, 5)}, NC},
    {"shapes", "triu_above", "dc_triu", f_triu_1, 1, {T(3, 5)}, NC},
    {"shapes", "triu_below_tall", "dc_triu", f_triu_neg2, 1, {T(5, 3)}, NC},
    {"shapes", "diag_vector_above", "dc_diag", f_diag_1d_up, 1, {T(3)}, NC},
    {"shapes", "diag_vector_below", "dc_diag", f_diag_1d_down, 1, {T(3)}, NC},
    {"shapes", "diag_of_matrix", "dc_diag", f_diag_2d, 1, {T(4, 3)}, NC},
    {"shapes", "diagonal_main", "dc_diagonal", f_diagonal_01, 1, {T(3, 4)}, NC},
    {"shapes", "diagonal_offset_outer_dims", "dc_diagonal", f_diagonal_off_02, 1, {T(3, 2, 4)}, NC},
    {"shapes", "diagonal_negative_offset_last_dims", "dc_diagonal", f_diagonal_neg_last, 1,
     {T(2, 4, 3)}, NC},
    {"shapes", "diagonal_into_diag", "dc_diagonal dc_diag", f_diagonal_then_diag, 2,
     {T(3, 4), T(3)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* random draws (src/core/rng.c): integer results, or a 0/1 sample whose dependence on
     * the probabilities is discrete (torch gives bernoulli no gradient either) */
    "dc_randint", "dc_randperm", "dc_multinomial", "dc_bernoulli_tensor",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_shapes) { check_family("shapes"); }
#endif
