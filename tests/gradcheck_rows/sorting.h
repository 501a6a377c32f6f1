/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "sorting": src/ops/sort.c, src/ops/scatter.c and dc_min in src/ops/reduce.c.
 * scatter and index_put without accumulation are only differentiable where no two elements
 * write one place, so their indices are fixed tables without repeats (built in the case
 * function); scatter_add, index_add and index_put with accumulation take random indices,
 * whose repeats are certain at these sizes, so accumulation is checked too. */
#if defined(GRADCHECK_FUNCTIONS)
static dc_tensor *sorting_ids(int ndim, const int64_t *shape, const int64_t *values)
{
    return dc_from_buffer(DC_I64, ndim, shape, values);
}
/* column j of the index names distinct rows: every destination written once */
FN(f_scatter_d0, dc_scatter(x[0], 0, sorting_ids(2, (int64_t[]){2, 4}, (int64_t[]){0, 2, 1, 0, 2, 1, 0, 1}), x[1]))
/* index [3, 2] inside src [3, 4]: src's last two columns are never read */
FN(f_scatter_d1_small_index, dc_scatter(x[0], 1, sorting_ids(2, (int64_t[]){3, 2}, (int64_t[]){4, 0, 1, 3, 0, 2}), x[1]))
FN(f_scatter_value_d1, dc_scatter_value(x[0], 1, sorting_ids(2, (int64_t[]){3, 2}, (int64_t[]){0, 3, 1, 1, 2, 0}), 0.5))
FN(f_scatter_add_d0, dc_scatter_add(x[0], 0, x[1], x[2]))
FN(f_scatter_add_dlast, dc_scatter_add(x[0], -1, x[1], x[2]))
FN(f_index_add_d1, dc_index_add(x[0], 1, x[1], x[2], 1.0))
FN(f_index_add_d0_alpha, dc_index_add(x[0], 0, x[1], x[2], -2.5))
FN(f_index_two, dc_index(x[0], x + 1, 2))
FN(f_index_one, dc_index(x[0], x + 1, 1))
FN(f_index_put_acc_one, dc_index_put(x[0], x + 1, 1, x[2], true))
static dc_tensor *f_index_put_acc_two(dc_tensor *const *x)
{
    dc_tensor *idx[2] = {x[1], x[2]};
    return dc_index_put(x[0], idx, 2, x[3], true);
}
FN(f_index_put_rows, dc_index_put(x[0], (dc_tensor *[]){sorting_ids(1, (int64_t[]){3}, (int64_t[]){3, 0, 2})}, 1, x[1], false))
/* (0, 2) and (-1, 0) = (3, 0): negative indices count from the end */
static dc_tensor *f_index_put_negative(dc_tensor *const *x)
{
    dc_tensor *idx[2] = {sorting_ids(1, (int64_t[]){2}, (int64_t[]){0, -1}),
                         sorting_ids(1, (int64_t[]){2}, (int64_t[]){2, 0})};
    return dc_index_put(x[0], idx, 2, x[1], false);
}
FN(f_masked_select, dc_masked_select(x[0], x[1]))
static dc_tensor *f_sort_d1(dc_tensor *const *x)
{
    dc_tensor *v = NULL;
    return dc_sort(x[0], 1, false, &v, NULL) == 0 ? v : NULL;
}
static dc_tensor *f_sort_d0_desc(dc_tensor *const *x)
{
    dc_tensor *v = NULL, *i = NULL;
    return dc_sort(x[0], 0, true, &v, &i) == 0 ? v : NULL;
}
static dc_tensor *f_topk2_largest(dc_tensor *const *x)
{
    dc_tensor *v = NULL, *i = NULL;
    return dc_topk(x[0], 2, -1, true, true, &v, &i) == 0 ? v : NULL;
}
static dc_tensor *f_topk3_smallest_d0(dc_tensor *const *x)
{
    dc_tensor *v = NULL;
    return dc_topk(x[0], 3, 0, false, false, &v, NULL) == 0 ? v : NULL;
}
FN(f_min_d1, dc_min(x[0], 1, false))
FN(f_min_dlast_keep, dc_min(x[0], -1, true))
FN(f_min_d0, dc_min(x[0], 0, false))
#elif defined(GRADCHECK_ROWS)
    /* ---- sorting, searching, scatter (src/ops/sort.c, scatter.c; dc_min in reduce.c) ---- */
    {"sorting", "scatter_dim0", "dc_scatter", f_scatter_d0, 2, {T(3, 4), T(2, 4)}, NC},
    {"sorting", "scatter_dim1_index_smaller_than_src", "dc_scatter", f_scatter_d1_small_index, 2, {T(3, 5), T(3, 4)}, NC},
    {"sorting", "scatter_value_dim1", "dc_scatter_value", f_scatter_value_d1, 1, {T(3, 4)}, NC},
    {"sorting", "scatter_add_dim0_repeated_ids", "dc_scatter_add", f_scatter_add_d0, 3, {T(3, 4), IDX(3, 5, 4), T(5, 4)}, NC},
    {"sorting", "scatter_add_last_dim_3d_small_index", "dc_scatter_add", f_scatter_add_dlast, 3, {T(2, 3, 4), IDX(4, 2, 2, 3), T(2, 3, 5)}, NC},
    {"sorting", "index_add_dim1_repeated_ids", "dc_index_add", f_index_add_d1, 3, {T(3, 4), IDX(4, 6), T(3, 6)}, NC},
    {"sorting", "index_add_dim0_alpha", "dc_index_add", f_index_add_d0_alpha, 3, {T(3, 2), IDX(3, 5), T(5, 2)}, NC},
    {"sorting", "index_two_broadcast_index_tensors", "dc_index", f_index_two, 3, {T(4, 3, 2), IDX(4, 2, 3), IDX(3, 3)}, NC},
    {"sorting", "index_rows_repeated_ids", "dc_index", f_index_one, 2, {T(4, 3), IDX(4, 2, 5)}, NC},
    {"sorting", "index_put_accumulate_rows", "dc_index_put", f_index_put_acc_one, 3, {T(4, 3), IDX(4, 6), T(6, 3)}, NC},
    {"sorting", "index_put_accumulate_broadcast_values", "dc_index_put", f_index_put_acc_two, 4, {T(4, 3), IDX(4, 5), IDX(3, 5), T(1)}, NC},
    {"sorting", "index_put_rows", "dc_index_put", f_index_put_rows, 2, {T(4, 3), T(3, 3)}, NC},
    {"sorting", "index_put_negative_ids_broadcast_value", "dc_index_put", f_index_put_negative, 2, {T(4, 3), S}, NC},
    {"sorting", "masked_select", "dc_masked_select", f_masked_select, 2, {T(3, 4), IN(MASK, 3, 4)}, NC},
    {"sorting", "masked_select_broadcast_mask", "dc_masked_select", f_masked_select, 2, {T(3, 4), IN(MASK, 4)}, NC},
    {"sorting", "masked_select_broadcast_input", "dc_masked_select", f_masked_select, 2, {T(4), IN(MASK, 3, 4)}, NC},
    {"sorting", "masked_select_scalar", "dc_masked_select", f_masked_select, 2, {S, SCALAR_IN(MASK)}, false},
    {"sorting", "sort_dim1", "dc_sort", f_sort_d1, 1, {T(3, 5)}, NC},
    {"sorting", "sort_dim0_descending_3d", "dc_sort", f_sort_d0_desc, 1, {T(4, 2, 3)}, NC},
    {"sorting", "sort_dim_of_size1", "dc_sort", f_sort_d1, 1, {T(2, 1)}, NC},
    {"sorting", "sort_scalar", "dc_sort", f_sort_d0_desc, 1, {S}, false},
    {"sorting", "topk2_largest_last_dim", "dc_topk", f_topk2_largest, 1, {T(3, 5)}, NC},
    {"sorting", "topk3_smallest_dim0", "dc_topk", f_topk3_smallest_d0, 1, {T(4, 3)}, NC},
    {"sorting", "min_dim1", "dc_min", f_min_d1, 1, {T(3, 4, 5)}, NC},
    {"sorting", "min_last_dim_keepdim", "dc_min", f_min_dlast_keep, 1, {T(4, 6)}, NC},
    {"sorting", "min_1d", "dc_min", f_min_d0, 1, {T(5)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* integer results (positions, counts, classes): piecewise constant, no gradient in torch */
    "dc_argsort", "dc_argmin", "dc_nonzero", "dc_one_hot", "dc_searchsorted",
    /* torch.bincount has no derivative either (weights included) */
    "dc_bincount",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_sorting_scatter_ops) { check_family("sorting"); }
#endif
