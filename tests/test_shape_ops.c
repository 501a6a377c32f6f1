/* Shape ops (src/ops/shape.c) against PyTorch, plus what a reference file cannot show: which
 * results are views, the unfold/fold adjoint identity, integer inputs, and bad arguments.
 *
 * The values come from tests/ref/make_shapes_refs.py (Debian's python3-torch 1.13, float32;
 * `/usr/bin/python3 tests/ref/make_shapes_refs.py` regenerates tests/ref/shapes_refs.txt,
 * which is committed so the tests need no torch). Each case there runs one torch op, draws a
 * random seed R_k per output and backpropagates sum_k sum(y_k * R_k); each test below runs
 * the deepc op on the same input, compares every output and the input gradients
 * (tolerances: ref_compare in ref_loader.h). Float64 finite-difference checks of every op
 * are the "shapes" rows of tests/gradcheck_rows/shapes.h. */
#include "ref_loader.h"

#define SHAPES_REFS "ref/shapes_refs.txt"
#define MAX_PIECES 4

/* The deepc side of a case: inputs -> outputs (returns their count, -1 on error). */
typedef int (*case_fn)(dc_tensor *const *in, dc_tensor **outs);

/* Load the case's inputs (params named in `inputs`, space separated, at most 2), run fn,
 * compare outputs y0.. and backpropagate their seeds, compare the inputs' gradients. */
static void check_case(const char *case_name, const char *inputs, case_fn fn)
{
    ref_chain c = {.path = SHAPES_REFS};
    char err[512], full[96], what[160];
    if (ref_load(&c, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&c);
        return;
    }
    char names[2][32] = {"", ""};
    int n_in = sscanf(inputs, "%31s %31s", names[0], names[1]);
    dc_tensor *in[2] = {NULL, NULL};
    for (int k = 0; k < n_in; k++) {
        snprintf(full, sizeof full, "%s.%s", case_name, names[k]);
        in[k] = dc_requires_grad(ref_get(&c, "param", full), true);
    }
    dc_tensor *outs[MAX_PIECES] = {0};
    int n_out = in[0] && (n_in < 2 || in[1]) ? fn(in, outs) : -1;
    if (n_out < 0)
        dc_test_fail(__FILE__, __LINE__, "%s: the deepc op failed: %s", case_name,
                     dc_last_error());
    for (int k = 0; k < n_out; k++) {
        snprintf(full, sizeof full, "%s.y%d", case_name, k);
        snprintf(what, sizeof what, "%s: out %s", c.path, full);
        ref_tensor *want = ref_find(&c, "out", full, NULL);
        if (!want) {
            dc_test_fail(__FILE__, __LINE__, "%s is not in the file", what);
            continue;
        }
        ref_compare(what, outs[k], want);
        dc_tensor *seed = ref_get(&c, "seed", full);
        if (outs[k] && seed && dc_numel(outs[k]) > 0 && dc_backward_with(outs[k], seed) != 0)
            dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", what, dc_last_error());
    }
    snprintf(full, sizeof full, "%s.y%d", case_name, n_out < 0 ? 0 : n_out);
    if (n_out >= 0 && ref_find(&c, "out", full, NULL))
        dc_test_fail(__FILE__, __LINE__, "%s: torch has more outputs than deepc's %d", case_name,
                     n_out);
    for (int k = 0; k < n_in; k++) {
        snprintf(full, sizeof full, "%s.%s", case_name, names[k]);
        snprintf(what, sizeof what, "%s: grad %s", c.path, full);
        ref_tensor *want = ref_find(&c, "grad", full, NULL);
        if (!want) dc_test_fail(__FILE__, __LINE__, "%s is not in the file", what);
        else if (in[k]) ref_compare(what, in[k]->grad, want);
    }
    ref_free(&c);
}

/* One-output cases. */
#define ONE(name, expr)                                                                        \
    static int name(dc_tensor *const *x, dc_tensor **outs)                                     \
    {                                                                                          \
        outs[0] = (expr);                                                                      \
        return outs[0] ? 1 : -1;                                                               \
    }

ONE(c_pad_constant, dc_pad(x[0], 4, (int64_t[]){1, 2, 0, 1}, DC_PAD_CONSTANT, 0.5))
ONE(c_pad_constant_crop, dc_pad(x[0], 4, (int64_t[]){-1, 2, 1, -2}, DC_PAD_CONSTANT, 0.0))
ONE(c_pad_reflect, dc_pad(x[0], 4, (int64_t[]){2, 1, 1, 2}, DC_PAD_REFLECT, 0.0))
ONE(c_pad_reflect_1d, dc_pad(x[0], 2, (int64_t[]){2, 3}, DC_PAD_REFLECT, 0.0))
ONE(c_pad_replicate, dc_pad(x[0], 4, (int64_t[]){2, 1, 3, 0}, DC_PAD_REPLICATE, 0.0))
ONE(c_pad_circular, dc_pad(x[0], 4, (int64_t[]){3, 1, 2, 2}, DC_PAD_CIRCULAR, 0.0))
ONE(c_flip, dc_flip(x[0], 2, (int[]){0, -1}))
ONE(c_roll, dc_roll(x[0], 2, (int64_t[]){1, -3}, (int[]){0, 2}))
ONE(c_roll_flat, dc_roll(x[0], 1, (int64_t[]){5}, NULL))
ONE(c_repeat, dc_repeat(x[0], 3, (int64_t[]){2, 1, 3}))
ONE(c_tile, dc_tile(x[0], 1, (int64_t[]){2}))
ONE(c_unfold, dc_unfold(x[0], ((dc_unfold_opts){{3, 2}, {1, 2}, {1, 0}, {2, 1}})))
ONE(c_fold, dc_fold(x[0], 5, 4, ((dc_unfold_opts){{3, 2}, {1, 1}, {1, 0}, {2, 2}})))
ONE(c_unfold_dim, dc_unfold_dim(x[0], 1, 3, 2))
ONE(c_tril, dc_tril(x[0], -1))
ONE(c_triu, dc_triu(x[0], 1))
ONE(c_diag_1d, dc_diag(x[0], 1))
ONE(c_diag_2d, dc_diag(x[0], -1))
ONE(c_diagonal, dc_diagonal(x[0], 1, 0, 2))

static int c_split(dc_tensor *const *x, dc_tensor **outs)
{
    return dc_split(x[0], 2, 1, outs, MAX_PIECES);
}
static int c_split_sizes(dc_tensor *const *x, dc_tensor **outs)
{
    return dc_split_sizes(x[0], 3, (int64_t[]){1, 0, 3}, 0, outs);
}
static int c_chunk(dc_tensor *const *x, dc_tensor **outs)
{
    return dc_chunk(x[0], 4, -1, outs, MAX_PIECES);
}
static int c_meshgrid_xy(dc_tensor *const *x, dc_tensor **outs)
{
    return dc_meshgrid(x, 2, DC_MESHGRID_XY, outs);
}

TEST(test_pad_every_mode_matches_torch)
{
    check_case("pad_constant", "x", c_pad_constant);
    check_case("pad_constant_crop", "x", c_pad_constant_crop);
    check_case("pad_reflect", "x", c_pad_reflect);
    check_case("pad_reflect_1d", "x", c_pad_reflect_1d);
    check_case("pad_replicate", "x", c_pad_replicate);
    check_case("pad_circular", "x", c_pad_circular);
}

TEST(test_flip_roll_repeat_tile_match_torch)
{
    check_case("flip", "x", c_flip);
    check_case("roll", "x", c_roll);
    check_case("roll_flat", "x", c_roll_flat);
    check_case("repeat", "x", c_repeat);
    check_case("tile", "x", c_tile);
}

TEST(test_split_chunk_meshgrid_match_torch)
{
    check_case("split", "x", c_split);
    check_case("split_sizes", "x", c_split_sizes);
    check_case("chunk", "x", c_chunk);
    check_case("meshgrid_xy", "a b", c_meshgrid_xy);
}

TEST(test_unfold_fold_and_tensor_unfold_match_torch)
{
    check_case("unfold", "x", c_unfold);
    check_case("fold", "x", c_fold);
    check_case("unfold_dim", "x", c_unfold_dim);
}

TEST(test_triangles_and_diagonals_match_torch)
{
    check_case("tril", "x", c_tril);
    check_case("triu", "x", c_triu);
    check_case("diag_1d", "x", c_diag_1d);
    check_case("diag_2d", "x", c_diag_2d);
    check_case("diagonal", "x", c_diagonal);
}

/* ---- Views share storage, copies do not -------------------------------------------------- */
/* (the runner's scope owns every result of a test) */

static dc_tensor *arange_f32(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_arange(DC_F32, 0, (double)n, 1);
    return dc_scope_return(scope, dc_contiguous(dc_reshape(a, ndim, shape)));
}

TEST(test_view_ops_share_storage_and_copies_do_not)
{
    dc_tensor *x = arange_f32(2, (int64_t[]){4, 6});
    REQUIRE(x);
    dc_tensor *d = dc_diagonal(x, 1, 0, 1), *w = dc_unfold_dim(x, 1, 3, 2);
    REQUIRE(d && w);
    CHECK(d->storage == x->storage && w->storage == x->storage);
    /* diagonal 1 of a 4x6 matrix: 1, 8, 15, 22 */
    CHECK(d->ndim == 1 && d->shape[0] == 4);
    CHECK_NEAR(dc_item_at(d, (int64_t[]){3}), 22.0, 0);
    /* windows of 3 with step 2 along 6: 2 windows, [w, k] = x[.., 2w + k] */
    CHECK(w->ndim == 3 && w->shape[1] == 2 && w->shape[2] == 3);
    CHECK_NEAR(dc_item_at(w, (int64_t[]){2, 1, 2}), 2 * 6 + 4, 0);
    dc_tensor *p[MAX_PIECES] = {0};
    CHECK(dc_split(x, 4, 1, NULL, 0) == 2); /* the count alone */
    REQUIRE(dc_chunk(x, 3, 0, p, MAX_PIECES) == 2); /* 4 rows in pieces of 2 */
    CHECK(p[0]->storage == x->storage && p[1]->storage == x->storage);
    CHECK_NEAR(dc_item_at(p[1], (int64_t[]){0, 0}), 12.0, 0);
    dc_tensor *g[2] = {0};
    dc_tensor *axes[2] = {dc_arange(DC_F32, 0, 3, 1), dc_arange(DC_F32, 10, 12, 1)};
    REQUIRE(dc_meshgrid(axes, 2, DC_MESHGRID_IJ, g) == 2);
    CHECK(g[0]->storage == axes[0]->storage && g[1]->storage == axes[1]->storage);
    CHECK(g[0]->shape[0] == 3 && g[0]->shape[1] == 2);
    CHECK_NEAR(dc_item_at(g[0], (int64_t[]){2, 1}), 2.0, 0);
    CHECK_NEAR(dc_item_at(g[1], (int64_t[]){2, 1}), 11.0, 0);
    dc_tensor *f = dc_flip(x, 1, (int[]){0});
    REQUIRE(f);
    CHECK(f->storage != x->storage); /* torch.flip copies too */
    CHECK_NEAR(dc_item_at(f, (int64_t[]){0, 5}), 23.0, 0);
}

TEST(test_meshgrid_of_scalars_and_three_axes)
{
    dc_tensor *a = dc_scalar(DC_F64, 7), *b = dc_arange(DC_F64, 0, 2, 1), *c = dc_arange(DC_F64, 0, 3, 1);
    dc_tensor *in[3] = {a, b, c}, *g[3] = {0};
    REQUIRE(dc_meshgrid(in, 3, DC_MESHGRID_XY, g) == 3);
    /* xy: the first two output dims swap: [len(b), len(a), len(c)] = [2, 1, 3] */
    for (int k = 0; k < 3; k++)
        CHECK(g[k]->ndim == 3 && g[k]->shape[0] == 2 && g[k]->shape[1] == 1 && g[k]->shape[2] == 3);
    CHECK_NEAR(dc_item_at(g[0], (int64_t[]){1, 0, 2}), 7.0, 0);
    CHECK_NEAR(dc_item_at(g[1], (int64_t[]){1, 0, 2}), 1.0, 0);
    CHECK_NEAR(dc_item_at(g[2], (int64_t[]){1, 0, 2}), 2.0, 0);
}

/* ---- unfold and fold are adjoint -------------------------------------------------------- */

static double dot(const dc_tensor *a, const dc_tensor *b)
{
    double *x = dc_test_values(a), *y = dc_test_values(b), s = 0;
    for (int64_t i = 0; x && y && i < dc_numel(a); i++) s += x[i] * y[i];
    free(x);
    free(y);
    return s;
}

TEST(test_fold_is_the_adjoint_of_unfold)
{
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_unfold_opts o = {{3, 2}, {2, 1}, {2, 1}, {1, 2}};
    dc_tensor *x = dc_randn(&rng, DC_F64, DC_SHAPE(3, 2, 7, 6));
    dc_tensor *ux = dc_unfold(x, o);
    REQUIRE(ux);
    dc_tensor *y = dc_randn(&rng, DC_F64, ux->ndim, ux->shape);
    dc_tensor *fy = dc_fold(y, 7, 6, o);
    REQUIRE(fy);
    /* <unfold(x), y> = <x, fold(y)> */
    double lhs = dot(ux, y), rhs = dot(x, fy);
    CHECK_NEAR(lhs, rhs, 1e-9 * (1 + fabs(lhs)));
    /* fold(unfold(ones)) counts the windows covering each pixel: kernel 2, stride 1 on 3x3
     * -> corners 1, edges 2, centre 4 */
    dc_tensor *ones = dc_ones(DC_F32, DC_SHAPE(1, 1, 3, 3));
    dc_tensor *count = dc_fold(dc_unfold(ones, DC_UNFOLD_OPTS(2, 1, 0, 1)), 3, 3,
                               DC_UNFOLD_OPTS(2, 1, 0, 1));
    REQUIRE(count);
    const double want[9] = {1, 2, 1, 2, 4, 2, 1, 2, 1};
    double *got = dc_test_values(count);
    CHECK_ALLCLOSE("fold(unfold(ones))", got, want, 9, 0, 0);
    free(got);
    dc_scope_end(scope);
}

/* ---- Integer inputs and edge cases ------------------------------------------------------ */

TEST(test_shape_ops_accept_int64_and_empty_inputs)
{
    size_t scope = dc_scope_begin();
    dc_tensor *ids = dc_to_dtype(dc_arange(DC_F32, 0, 5, 1), DC_I64);
    dc_tensor *p = dc_pad(dc_unsqueeze(ids, 0), 2, (int64_t[]){2, 1}, DC_PAD_REFLECT, 0);
    REQUIRE(p && p->dtype == DC_I64 && p->shape[1] == 8);
    const double want[8] = {2, 1, 0, 1, 2, 3, 4, 3};
    double *got = dc_test_values(p);
    CHECK_ALLCLOSE("reflect pad of int64", got, want, 8, 0, 0);
    free(got);
    dc_tensor *r = dc_roll(ids, 1, (int64_t[]){-7}, (int[]){0}); /* -7 mod 5 = 3 */
    REQUIRE(r);
    CHECK_NEAR(dc_item_at(r, (int64_t[]){0}), 2.0, 0);
    dc_tensor *t = dc_triu(dc_ones(DC_I64, DC_SHAPE(3, 3)), 0);
    REQUIRE(t);
    CHECK_NEAR(dc_item_at(t, (int64_t[]){1, 0}), 0.0, 0);
    CHECK_NEAR(dc_item_at(t, (int64_t[]){1, 2}), 1.0, 0);
    /* a fill value for an int64 pad is converted */
    dc_tensor *c = dc_pad(ids, 2, (int64_t[]){1, 0}, DC_PAD_CONSTANT, -3);
    REQUIRE(c);
    CHECK_NEAR(dc_item_at(c, (int64_t[]){0}), -3.0, 0);
    /* empty pieces and repeat counts of zero */
    dc_tensor *e = dc_zeros(DC_F32, DC_SHAPE(0, 3)), *pieces[3];
    CHECK(dc_chunk(e, 3, 0, pieces, 3) == 3 && pieces[2]->shape[0] == 0);
    CHECK(dc_split(e, 2, 0, pieces, 3) == 1);
    dc_tensor *x = dc_requires_grad(dc_ones(DC_F64, DC_SHAPE(2, 2)), true);
    dc_tensor *z = dc_repeat(x, 2, (int64_t[]){0, 3});
    REQUIRE(z && dc_numel(z) == 0 && z->shape[1] == 6);
    dc_tensor *s = dc_sum_all(z);
    REQUIRE(s && dc_backward(s) == 0 && x->grad);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){1, 1}), 0.0, 0);
    /* a diagonal past the edge is empty; diag of it is the zero matrix of size |k| */
    dc_tensor *d = dc_diagonal(dc_ones(DC_F32, DC_SHAPE(2, 3)), 4, 0, 1);
    REQUIRE(d && d->shape[0] == 0);
    dc_tensor *dd = dc_diag(d, 2);
    REQUIRE(dd && dd->shape[0] == 2 && dd->shape[1] == 2);
    dc_scope_end(scope);
}

/* Reflect-pad backward of a large batch runs on the thread pool over (N, C); the gradient of
 * sum(pad(x) * R) must equal the naive scatter of R. */
TEST(test_reflect_pad_backward_of_a_large_batch_matches_a_naive_scatter)
{
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    const int64_t N = 4, C = 3, H = 20, W = 30, t = 3, b = 2, l = 4, rr = 5;
    dc_tensor *x = dc_requires_grad(dc_randn(&rng, DC_F64, DC_SHAPE(N, C, H, W)), true);
    dc_tensor *y = dc_pad(x, 4, (int64_t[]){l, rr, t, b}, DC_PAD_REFLECT, 0);
    REQUIRE(y);
    const int64_t OH = H + t + b, OW = W + l + rr;
    dc_tensor *R = dc_randn(&rng, DC_F64, DC_SHAPE(N, C, OH, OW));
    REQUIRE(dc_backward_with(y, R) == 0 && x->grad);
    double *want = calloc((size_t)(N * C * H * W), sizeof *want);
    const double *r = dc_data(R);
    for (int64_t p = 0; p < N * C; p++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                int64_t si = i - t, sj = j - l;
                si = si < 0 ? -si : si >= H ? 2 * (H - 1) - si : si;
                sj = sj < 0 ? -sj : sj >= W ? 2 * (W - 1) - sj : sj;
                want[(p * H + si) * W + sj] += r[(p * OH + i) * OW + j];
            }
    double *got = dc_test_values(x->grad);
    CHECK_ALLCLOSE("reflect pad gradient", got, want, N * C * H * W, 1e-12, 1e-12);
    free(got);
    free(want);
    dc_scope_end(scope);
}

/* ---- Bad arguments: an error naming the problem, inputs untouched ------------------------ */

/* x's values and shape are still those of the 3x4 arange. */
static void check_untouched(const dc_tensor *x)
{
    CHECK(x->ndim == 2 && x->shape[0] == 3 && x->shape[1] == 4 && !x->grad);
    double *v = dc_test_values(x);
    for (int i = 0; v && i < 12; i++) EXPECT(v[i] == i, "input element %d changed to %g", i, v[i]);
    free(v);
}

TEST(test_shape_ops_reject_bad_arguments)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_requires_grad(arange_f32(2, (int64_t[]){3, 4}), true);
    REQUIRE(x);
    CHECK_ERROR(!dc_pad(x, 3, (int64_t[]){1, 1, 1}, DC_PAD_CONSTANT, 0), "even length");
    CHECK_ERROR(!dc_pad(x, 6, (int64_t[]){1, 1, 1, 1, 1, 1}, DC_PAD_CONSTANT, 0), "pad 3 dims");
    CHECK_ERROR(!dc_pad(x, 2, (int64_t[]){4, 0}, DC_PAD_REFLECT, 0), "too large for dim 1");
    CHECK_ERROR(!dc_pad(x, 2, (int64_t[]){5, 0}, DC_PAD_CIRCULAR, 0), "circular padding");
    CHECK_ERROR(!dc_pad(x, 2, (int64_t[]){-3, -2}, DC_PAD_CONSTANT, 0), "negative size");
    CHECK_ERROR(!dc_pad(x, 2, (int64_t[]){1, 1}, (dc_pad_mode)7, 0), "unknown pad mode");
    CHECK_ERROR(!dc_pad(dc_zeros(DC_F32, DC_SHAPE(2, 0)), 2, (int64_t[]){1, 0}, DC_PAD_REPLICATE, 0),
                "replicate");
    CHECK_ERROR(!dc_flip(x, 2, (int[]){1, -1}), "more than once");
    CHECK_ERROR(!dc_flip(x, 1, (int[]){2}), "dim");
    CHECK_ERROR(!dc_roll(x, 2, (int64_t[]){1, 2}, NULL), "exactly one shift");
    CHECK_ERROR(!dc_roll(x, 1, (int64_t[]){1}, (int[]){-3}), "dim");
    CHECK_ERROR(!dc_repeat(x, 1, (int64_t[]){2}), "repeat counts");
    CHECK_ERROR(!dc_repeat(x, 2, (int64_t[]){2, -1}), "negative");
    CHECK_ERROR(!dc_tile(x, -1, NULL), "bad repeat list");
    dc_tensor *outs[2] = {NULL, NULL};
    CHECK_ERROR(dc_split(x, 0, 0, outs, 2) < 0, "split_size must be positive");
    CHECK_ERROR(dc_split(x, 1, 1, outs, 2) < 0, "4 pieces do not fit in the 2 output slots");
    CHECK_ERROR(dc_split(x, 1, 2, outs, 2) < 0, "dim");
    CHECK_ERROR(dc_split_sizes(x, 2, (int64_t[]){1, 1}, 0, outs) < 0, "sum to 2");
    CHECK_ERROR(dc_split_sizes(x, 2, (int64_t[]){4, -1}, 0, outs) < 0, "negative");
    CHECK_ERROR(dc_chunk(x, 0, 0, outs, 2) < 0, "chunks must be positive");
    CHECK_ERROR(dc_split(dc_scalar(DC_F32, 1), 1, 0, outs, 2) < 0, "0-dim");
    CHECK(!outs[0] && !outs[1]); /* nothing written on error */
    dc_tensor *img = dc_zeros(DC_F32, DC_SHAPE(1, 1, 3, 3));
    CHECK_ERROR(!dc_unfold(img, DC_UNFOLD_OPTS(4, 1, 0, 1)), "smaller than the dilated kernel");
    CHECK_ERROR(!dc_unfold(img, DC_UNFOLD_OPTS(2, 1, 0, 0)), "stride must be >= 1");
    CHECK_ERROR(!dc_unfold(x, DC_UNFOLD_OPTS(2, 1, 0, 1)), "expected [N, C, H, W]");
    CHECK_ERROR(!dc_unfold(dc_zeros(DC_I64, DC_SHAPE(1, 1, 3, 3)), DC_UNFOLD_OPTS(2, 1, 0, 1)),
                "int64");
    CHECK_ERROR(!dc_fold(dc_zeros(DC_F32, DC_SHAPE(1, 4, 5)), 3, 3, DC_UNFOLD_OPTS(2, 1, 0, 1)),
                "5 blocks given");
    CHECK_ERROR(!dc_fold(dc_zeros(DC_F32, DC_SHAPE(1, 6, 4)), 3, 3, DC_UNFOLD_OPTS(2, 1, 0, 1)),
                "not a multiple");
    CHECK_ERROR(!dc_unfold_dim(x, 1, 5, 1), "window size 5");
    CHECK_ERROR(!dc_unfold_dim(x, 1, 2, 0), "step must be positive");
    CHECK_ERROR(!dc_unfold_dim(x, 2, 2, 1), "dim");
    CHECK_ERROR(!dc_tril(dc_zeros(DC_F32, DC_SHAPE(4)), 0), "at least 2 dims");
    CHECK_ERROR(!dc_diag(dc_zeros(DC_F32, DC_SHAPE(2, 2, 2)), 0), "1-D or 2-D");
    CHECK_ERROR(!dc_diagonal(x, 0, 1, -1), "the same dim");
    CHECK_ERROR(!dc_diagonal(dc_zeros(DC_F32, DC_SHAPE(4)), 0, 0, 1), "at least 2 dims");
    dc_tensor *mesh[2] = {NULL, NULL};
    dc_tensor *axes[2] = {dc_zeros(DC_F32, DC_SHAPE(3)), x};
    CHECK_ERROR(dc_meshgrid(axes, 2, DC_MESHGRID_IJ, mesh) < 0, "expected 0 or 1");
    axes[1] = dc_zeros(DC_F64, DC_SHAPE(2));
    CHECK_ERROR(dc_meshgrid(axes, 2, DC_MESHGRID_IJ, mesh) < 0, "tensor 1 is float64");
    CHECK_ERROR(dc_meshgrid(axes, 2, (dc_meshgrid_indexing)5, mesh) < 0, "unknown indexing");
    CHECK(!mesh[0] && !mesh[1]);
    CHECK_ERROR(!dc_pad(NULL, 0, NULL, DC_PAD_CONSTANT, 0), "NULL");
    check_untouched(x);
    dc_scope_end(scope);
}
