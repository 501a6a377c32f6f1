/* Gradients as values (dc_grad), higher-order gradients (create_graph), gradient hooks and
 * custom differentiable functions.
 *
 * Second derivatives are checked two ways: against PyTorch (tests/ref/higher_order_*.txt from
 * tests/ref/make_autograd_refs.py: tanh's derivatives, softmax Hessian-vector products, an
 * MLP's HVP, a gradient penalty) and, for every op that supports create_graph, in float64
 * against central finite differences of the first gradient:
 *     H v ~ (grad(x + eps v) - grad(x - eps v)) / (2 eps). */
#include "gradcheck.h"
#include "ref_loader.h"

/* ---- Finite-difference check of Hessian-vector products ----------------------------------- */

typedef dc_tensor *(*hvp_fn)(dc_tensor *const *x);
#define HVP_MAX_INPUTS 3

/* The first gradient of L = sum(f(x) * R) w.r.t. every input, as float64 values (malloc'ed
 * per input). create_graph: the gradients stay graph-connected (returned in g). */
static int first_grads(hvp_fn f, int n, dc_tensor *const *x, dc_tensor *r, bool create_graph,
                       dc_tensor **g)
{
    dc_tensor *out = f(x);
    dc_tensor *loss = out ? dc_sum_all(dc_mul(out, r)) : NULL;
    if (!loss) return -1;
    return dc_grad(1, &loss, NULL, n, x, g, create_graph);
}

/* Check H v for f at inputs x (float64 leaves) along random directions v. */
static bool check_hvp(const char *name, hvp_fn f, int n, dc_tensor *const *x, char *msg,
                      size_t msg_size)
{
    size_t scope = dc_scope_begin();
    dc_rng rng;
    dc_rng_seed(&rng, 77);
    bool ok = false;
    dc_tensor *probe = f(x);
    if (!probe) {
        snprintf(msg, msg_size, "%s: forward failed: %s", name, dc_last_error());
        dc_clear_error();
        dc_scope_end(scope);
        return false;
    }
    dc_tensor *r = dc_randn(&rng, DC_F64, probe->ndim, probe->shape);
    dc_tensor *v[HVP_MAX_INPUTS], *g[HVP_MAX_INPUTS], *hv[HVP_MAX_INPUTS];
    for (int i = 0; i < n; i++) v[i] = dc_randn(&rng, DC_F64, x[i]->ndim, x[i]->shape);
    if (first_grads(f, n, x, r, true, g) != 0) goto fail;
    dc_tensor *dot = NULL;
    for (int i = 0; i < n; i++) {
        dc_tensor *term = dc_sum_all(dc_mul(g[i], v[i]));
        dot = dot ? dc_add(dot, term) : term;
    }
    if (!dot || dc_grad(1, &dot, NULL, n, x, hv, false) != 0) goto fail;
    /* numeric: perturb every input along its v at once */
    const double eps = 1e-5;
    dc_tensor *gp[HVP_MAX_INPUTS], *gm[HVP_MAX_INPUTS];
    for (int sign = 1; sign >= -1; sign -= 2) {
        for (int i = 0; i < n; i++) dc_axpy_(x[i], sign * eps, v[i]);
        int rc = first_grads(f, n, x, r, false, sign > 0 ? gp : gm);
        for (int i = 0; i < n; i++) dc_axpy_(x[i], -sign * eps, v[i]);
        if (rc != 0) goto fail;
    }
    ok = true;
    for (int i = 0; ok && i < n; i++) {
        int64_t k = dc_numel(x[i]);
        double *a = dc_test_values(hv[i]), *p = dc_test_values(gp[i]), *m = dc_test_values(gm[i]);
        for (int64_t e = 0; ok && e < k; e++) {
            double numeric = (p[e] - m[e]) / (2 * eps);
            if (!(fabs(a[e] - numeric) <= 1e-5 + 1e-4 * fabs(numeric))) {
                snprintf(msg, msg_size, "%s: input %d element %lld: H v = %.9g, numeric %.9g", name,
                         i, (long long)e, a[e], numeric);
                ok = false;
            }
        }
        free(a);
        free(p);
        free(m);
    }
    dc_scope_end(scope);
    return ok;
fail:
    snprintf(msg, msg_size, "%s: %s", name, dc_last_error());
    dc_clear_error();
    dc_scope_end(scope);
    return false;
}

typedef struct {
    const char *name;
    hvp_fn fn;
    int n_inputs;
    int64_t shape[HVP_MAX_INPUTS][2]; /* [rows, cols]; rows 0 = a 1-D [cols] input */
    bool positive;                    /* inputs in U(0.5, 2) instead of U(-2, 2) */
} hvp_case;

#define FN(name, expr)                                                                         \
    static dc_tensor *name(dc_tensor *const *x) { return (expr); }

static dc_tensor *index_2x3(void) { return dc_from_buffer(DC_I64, DC_SHAPE(2, 3), (int64_t[]){2, 0, 1, 1, 1, 3}); }
static dc_tensor *ids_4(void) { return dc_from_buffer(DC_I64, DC_SHAPE(4), (int64_t[]){2, 0, 2, 1}); }
static dc_tensor *targets_3(void) { return dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){1, 0, 3}); }

FN(h_tanh, dc_tanh(x[0]))
FN(h_sigmoid, dc_sigmoid(x[0]))
FN(h_exp, dc_exp(x[0]))
FN(h_log, dc_log(x[0]))
FN(h_sqrt, dc_sqrt(x[0]))
FN(h_sin, dc_sin(x[0]))
FN(h_cos, dc_cos(x[0]))
FN(h_silu, dc_silu(x[0]))
FN(h_softplus, dc_softplus(x[0], 2.0, 1.0))
FN(h_gelu_tanh, dc_gelu(x[0], true))
FN(h_relu_times_x, dc_mul(dc_relu(x[0]), x[0]))
FN(h_leaky_relu_times_x, dc_mul(dc_leaky_relu(x[0], 0.2), x[0]))
FN(h_abs_times_x, dc_mul(dc_abs(x[0]), x[0]))
FN(h_neg_square, dc_neg(dc_mul(x[0], x[0])))
FN(h_mul, dc_mul(x[0], x[1]))
FN(h_div, dc_div(x[0], x[1]))
FN(h_sub_broadcast, dc_mul(dc_sub(x[0], x[1]), x[0]))
FN(h_pow, dc_pow(x[0], x[1]))
FN(h_pow_scalar, dc_pow_scalar(x[0], 2.5))
FN(h_maximum, dc_mul(dc_maximum(x[0], x[1]), x[1]))
FN(h_where, dc_where(dc_gt(x[0], x[1]), dc_mul(x[0], x[0]), dc_mul(x[0], x[1])))
FN(h_matmul, dc_matmul(x[0], dc_tanh(x[1])))
FN(h_linear, dc_tanh(dc_linear(x[0], x[1], x[2])))
FN(h_softmax, dc_softmax(x[0], 1))
FN(h_log_softmax, dc_log_softmax(x[0], 0))
FN(h_sum_square, dc_mul(dc_sum(x[0], 1, (int[]){1}, true), x[0]))
FN(h_mean_square, dc_mul(dc_mean(x[0], 1, (int[]){0}, false), dc_sum(x[0], 1, (int[]){0}, false)))
FN(h_var, dc_var(x[0], 1, (int[]){1}, 1, false))
FN(h_views, dc_mul(dc_reshape(dc_transpose(x[0], 0, 1), DC_SHAPE(3, 4)),
                   dc_expand(dc_unsqueeze(dc_select(x[0], 0, 1), 0), DC_SHAPE(3, 4))))
FN(h_slice_step, dc_mul(dc_slice(x[0], 1, 0, 4, 2), dc_narrow(x[0], 1, 1, 2)))
FN(h_cat, dc_mul(dc_cat((dc_tensor *[]){x[0], x[1]}, 2, 0), dc_cat((dc_tensor *[]){x[1], x[0]}, 2, 0)))
FN(h_gather, dc_mul(dc_gather(x[0], 1, index_2x3()), dc_gather(x[0], 1, index_2x3())))
FN(h_index_select, dc_tanh(dc_index_select(x[0], 0, ids_4())))
FN(h_cross_entropy, dc_cross_entropy(dc_mul(x[0], x[0]), targets_3(), NULL))
FN(h_mse, dc_mse_loss(dc_tanh(x[0]), x[1], DC_REDUCE_MEAN))
FN(h_clone_squeeze, dc_mul(dc_squeeze(dc_clone(dc_unsqueeze(x[0], 0)), 0), x[0]))

FN(h_clamp, dc_mul(dc_clamp(x[0], -1.0, 1.2), x[0]))
FN(h_clamp_tensor, dc_mul(dc_clamp_tensor(x[0], x[1], NULL), x[0]))
FN(h_erf, dc_erf(x[0]))
FN(h_erfc, dc_erfc(x[0]))
FN(h_rounding, dc_mul(dc_add(dc_add(dc_sign(x[0]), dc_floor(x[0])), dc_add(dc_ceil(x[0]), dc_round(x[0]))), dc_mul(x[0], x[0])))
FN(h_norm2, dc_norm(x[0], 2.0, 1, (int[]){1}, false))
FN(h_norm3, dc_norm(x[0], 3.0, 0, NULL, false))
FN(h_std, dc_std(x[0], 1, (int[]){1}, 1, true))
FN(h_prod, dc_prod(x[0], 1, false))
FN(h_cumsum, dc_mul(dc_cumsum(x[0], 1), x[0]))
FN(h_cumprod, dc_cumprod(x[0], 1))
FN(h_logsumexp, dc_logsumexp(x[0], 1, (int[]){1}, false))
FN(h_cosine, dc_cosine_similarity(x[0], x[1], 1, 1e-8))
FN(h_normalize, dc_normalize(x[0], 2.0, 1, 1e-12))
FN(h_einsum, dc_einsum("ij,kj->ik", 2, (dc_tensor *[]){dc_tanh(x[0]), x[1]}))
FN(h_pad_reflect, dc_mul(dc_pad(x[0], 2, (int64_t[]){2, 1}, DC_PAD_REFLECT, 0), dc_pad(x[0], 2, (int64_t[]){1, 2}, DC_PAD_CONSTANT, 0.5)))
FN(h_flip_roll, dc_mul(dc_flip(x[0], 1, (int[]){1}), dc_roll(x[0], 1, (int64_t[]){1}, (int[]){0})))
FN(h_repeat, dc_mul(dc_repeat(x[0], 2, (int64_t[]){2, 1}), dc_repeat(x[0], 2, (int64_t[]){2, 1})))
FN(h_tril_diag, dc_mul(dc_tril(dc_mul(x[0], x[0]), 0), dc_expand(dc_unsqueeze(dc_diagonal(x[0], 0, 0, 1), 0), DC_SHAPE(4, 4))))
FN(h_unfold_dim, dc_mul(dc_unfold_dim(x[0], 1, 2, 1), dc_unfold_dim(x[0], 1, 2, 1)))

static dc_tensor *idx_rows(void) { return dc_from_buffer(DC_I64, DC_SHAPE(2, 4), (int64_t[]){0, 2, 1, 0, 2, 2, 0, 1}); }
static dc_tensor *idx_1d(void) { return dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){2, 0, 2}); }
static dc_tensor *sorted_values(dc_tensor *a, bool top)
{
    dc_tensor *v = NULL;
    if (top) dc_topk(a, 2, 1, true, true, &v, NULL);
    else dc_sort(a, 1, false, &v, NULL);
    return v;
}
FN(h_scatter_add, dc_mul(dc_scatter_add(x[0], 0, idx_rows(), x[1]), x[0]))
FN(h_scatter, dc_tanh(dc_scatter(x[0], 0, dc_from_buffer(DC_I64, DC_SHAPE(1, 4), (int64_t[]){2, 0, 1, 2}), x[1])))
FN(h_index_add, dc_mul(dc_index_add(x[0], 0, idx_1d(), x[1], 0.5), x[0]))
FN(h_index_put, dc_tanh(dc_index_put(x[0], (dc_tensor *[]){idx_1d()}, 1, dc_mul(x[1], x[1]), true)))
FN(h_index, dc_mul(dc_index(x[0], (dc_tensor *[]){idx_1d()}, 1), dc_index(x[0], (dc_tensor *[]){idx_1d()}, 1)))
FN(h_masked_select, dc_tanh(dc_masked_select(dc_mul(x[0], x[0]), dc_gt(x[0], dc_zeros_like(x[0])))))
FN(h_sort, dc_mul(sorted_values(x[0], false), sorted_values(x[0], false)))
FN(h_topk, dc_exp(sorted_values(dc_mul(x[0], x[0]), true)))

static dc_tensor *well_conditioned(dc_tensor *x) /* x + 6 I for a 3x3 x */
{
    return dc_add(x, dc_mul_scalar(dc_diag(dc_ones(x->dtype, DC_SHAPE(3)), 0), 6.0));
}
static dc_tensor *spd(dc_tensor *x) /* x x^T + 3 I */
{
    return dc_add(dc_matmul(x, dc_transpose(x, 0, 1)), dc_mul_scalar(dc_diag(dc_ones(x->dtype, DC_SHAPE(3)), 0), 3.0));
}
FN(h_solve, dc_linalg_solve(well_conditioned(x[0]), dc_tanh(x[1])))
FN(h_inv, dc_linalg_inv(well_conditioned(x[0])))
FN(h_det, dc_linalg_det(well_conditioned(x[0])))
FN(h_logdet, dc_logdet(spd(x[0])))
FN(h_cholesky, dc_linalg_cholesky(spd(x[0]), false))

static const hvp_case hvp_cases[] = {
    {"tanh", h_tanh, 1, {{3, 4}}, false},
    {"sigmoid", h_sigmoid, 1, {{3, 4}}, false},
    {"exp", h_exp, 1, {{3, 4}}, false},
    {"log", h_log, 1, {{3, 4}}, true},
    {"sqrt", h_sqrt, 1, {{3, 4}}, true},
    {"sin", h_sin, 1, {{3, 4}}, false},
    {"cos", h_cos, 1, {{3, 4}}, false},
    {"silu", h_silu, 1, {{3, 4}}, false},
    {"softplus", h_softplus, 1, {{3, 4}}, false},
    {"gelu_tanh", h_gelu_tanh, 1, {{3, 4}}, false},
    {"relu", h_relu_times_x, 1, {{3, 4}}, false},
    {"leaky_relu", h_leaky_relu_times_x, 1, {{3, 4}}, false},
    {"abs", h_abs_times_x, 1, {{3, 4}}, false},
    {"neg", h_neg_square, 1, {{3, 4}}, false},
    {"mul", h_mul, 2, {{3, 4}, {3, 4}}, false},
    {"div", h_div, 2, {{3, 4}, {3, 4}}, true},
    {"sub_broadcast", h_sub_broadcast, 2, {{3, 4}, {0, 4}}, false},
    {"pow", h_pow, 2, {{3, 4}, {3, 4}}, true},
    {"pow_scalar", h_pow_scalar, 1, {{3, 4}}, true},
    {"maximum", h_maximum, 2, {{3, 4}, {3, 4}}, false},
    {"where", h_where, 2, {{3, 4}, {3, 4}}, false},
    {"matmul", h_matmul, 2, {{3, 4}, {4, 2}}, false},
    {"linear", h_linear, 3, {{3, 4}, {5, 4}, {0, 5}}, false},
    {"softmax", h_softmax, 1, {{3, 4}}, false},
    {"log_softmax", h_log_softmax, 1, {{3, 4}}, false},
    {"sum", h_sum_square, 1, {{3, 4}}, false},
    {"mean", h_mean_square, 1, {{3, 4}}, false},
    {"var", h_var, 1, {{3, 4}}, false},
    {"views", h_views, 1, {{3, 4}}, false},
    {"slice_step_narrow", h_slice_step, 1, {{3, 4}}, false},
    {"cat", h_cat, 2, {{2, 3}, {2, 3}}, false},
    {"gather", h_gather, 1, {{2, 4}}, false},
    {"index_select", h_index_select, 1, {{3, 2}}, false},
    {"cross_entropy", h_cross_entropy, 1, {{3, 4}}, false},
    {"mse_loss", h_mse, 2, {{3, 4}, {3, 4}}, false},
    {"clone_squeeze", h_clone_squeeze, 1, {{3, 4}}, false},
    {"clamp", h_clamp, 1, {{3, 4}}, false},
    {"clamp_tensor", h_clamp_tensor, 2, {{3, 4}, {0, 4}}, false},
    {"erf", h_erf, 1, {{3, 4}}, false},
    {"erfc", h_erfc, 1, {{3, 4}}, false},
    {"sign_floor_ceil_round", h_rounding, 1, {{3, 4}}, false},
    {"norm_p2", h_norm2, 1, {{3, 4}}, false},
    {"norm_p3", h_norm3, 1, {{3, 4}}, false},
    {"std", h_std, 1, {{3, 4}}, false},
    {"prod", h_prod, 1, {{3, 4}}, false},
    {"cumsum", h_cumsum, 1, {{3, 4}}, false},
    {"cumprod", h_cumprod, 1, {{3, 4}}, false},
    {"logsumexp", h_logsumexp, 1, {{3, 4}}, false},
    {"cosine_similarity", h_cosine, 2, {{3, 4}, {3, 4}}, false},
    {"normalize", h_normalize, 1, {{3, 4}}, false},
    {"einsum", h_einsum, 2, {{3, 4}, {2, 4}}, false},
    {"pad", h_pad_reflect, 1, {{3, 4}}, false},
    {"flip_roll", h_flip_roll, 1, {{3, 4}}, false},
    {"repeat", h_repeat, 1, {{3, 4}}, false},
    {"tril_diagonal", h_tril_diag, 1, {{4, 4}}, false},
    {"unfold_dim", h_unfold_dim, 1, {{3, 4}}, false},
    {"scatter_add", h_scatter_add, 2, {{3, 4}, {2, 4}}, false},
    {"scatter", h_scatter, 2, {{3, 4}, {2, 4}}, false},
    {"index_add", h_index_add, 2, {{3, 4}, {3, 4}}, false},
    {"index_put", h_index_put, 2, {{3, 4}, {3, 4}}, false},
    {"index", h_index, 1, {{3, 4}}, false},
    {"masked_select", h_masked_select, 1, {{3, 4}}, false},
    {"sort", h_sort, 1, {{3, 4}}, false},
    {"topk", h_topk, 1, {{3, 4}}, false},
    {"linalg_solve", h_solve, 2, {{3, 3}, {3, 2}}, false},
    {"linalg_inv", h_inv, 1, {{3, 3}}, false},
    {"linalg_det", h_det, 1, {{3, 3}}, false},
    {"logdet", h_logdet, 1, {{3, 3}}, false},
    {"linalg_cholesky", h_cholesky, 1, {{3, 3}}, false},
};

TEST(test_hessian_vector_products_match_finite_differences)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    int failed = 0;
    for (size_t c = 0; c < sizeof hvp_cases / sizeof *hvp_cases; c++) {
        const hvp_case *hc = &hvp_cases[c];
        size_t scope = dc_scope_begin();
        dc_tensor *x[HVP_MAX_INPUTS];
        for (int i = 0; i < hc->n_inputs; i++) {
            const int64_t *s = hc->shape[i];
            dc_tensor *t = s[0] ? dc_uniform(&rng, DC_F64, DC_SHAPE(s[0], s[1]), -2, 2)
                                : dc_uniform(&rng, DC_F64, DC_SHAPE(s[1]), -2, 2);
            if (hc->positive) t = dc_add_scalar(dc_mul_scalar(dc_add_scalar(t, 2.0), 0.375), 0.5);
            x[i] = dc_requires_grad(dc_contiguous(t), true);
        }
        char msg[512];
        if (!check_hvp(hc->name, hc->fn, hc->n_inputs, x, msg, sizeof msg)) {
            if (failed++ < 8) dc_test_fail(__FILE__, __LINE__, "%s", msg);
        }
        dc_scope_end(scope);
    }
    CHECK(failed == 0);
}

/* ---- Against PyTorch ------------------------------------------------------------------------ */

static dc_tensor *ref_param(ref_chain *c, const char *name)
{
    return dc_requires_grad(ref_get(c, "param", name), true);
}

static void check_out(ref_chain *c, const char *name, dc_tensor *got)
{
    char what[128];
    snprintf(what, sizeof what, "%s: %s", c->path, name);
    ref_tensor *want = ref_find(c, "out", name, NULL);
    if (!want) {
        dc_test_fail(__FILE__, __LINE__, "%s has no output '%s'", c->path, name);
        return;
    }
    if (!got) {
        dc_test_fail(__FILE__, __LINE__, "%s: not computed: %s", what, dc_last_error());
        dc_clear_error();
        return;
    }
    ref_compare_tol(what, got, want, 1e-4, 1e-5);
}

/* One-element tensor L -> grads of L w.r.t. xs, recorded. */
static int grads_of(dc_tensor *loss, int n, dc_tensor *const *xs, dc_tensor **g, bool create)
{
    return loss ? dc_grad(1, &loss, NULL, n, xs, g, create) : -1;
}

TEST(test_tanh_higher_derivatives_match_torch)
{
    ref_chain c;
    if (!ref_open(&c, "ref/higher_order_tanh_derivatives.txt")) return;
    dc_tensor *x = ref_param(&c, "x"), *d1 = NULL, *d2 = NULL, *d3 = NULL;
    if (grads_of(dc_sum_all(dc_tanh(x)), 1, &x, &d1, true) == 0 &&
        grads_of(dc_sum_all(d1), 1, &x, &d2, true) == 0)
        grads_of(dc_sum_all(d2), 1, &x, &d3, false);
    check_out(&c, "d1", d1);
    check_out(&c, "d2", d2);
    check_out(&c, "d3", d3);
    CHECK(d3 && !d3->requires_grad); /* create_graph = false: a plain tensor */
    ref_free(&c);
}

TEST(test_softmax_hessian_vector_products_match_torch)
{
    ref_chain c;
    if (!ref_open(&c, "ref/higher_order_softmax_hvp.txt")) return;
    dc_tensor *x = ref_param(&c, "x"), *w = ref_get(&c, "const", "w"), *v = ref_get(&c, "const", "v");
    dc_tensor *g = NULL, *hv = NULL, *lg = NULL, *lhv = NULL;
    if (grads_of(dc_sum_all(dc_mul(dc_softmax(x, 1), w)), 1, &x, &g, true) == 0)
        grads_of(dc_sum_all(dc_mul(g, v)), 1, &x, &hv, false);
    if (grads_of(dc_sum_all(dc_mul(dc_log_softmax(x, 1), w)), 1, &x, &lg, true) == 0)
        grads_of(dc_sum_all(dc_mul(lg, v)), 1, &x, &lhv, false);
    check_out(&c, "g", g);
    check_out(&c, "hv", hv);
    check_out(&c, "lg", lg);
    check_out(&c, "lhv", lhv);
    ref_free(&c);
}

TEST(test_mlp_hessian_vector_product_matches_torch)
{
    ref_chain c;
    if (!ref_open(&c, "ref/higher_order_mlp_hvp.txt")) return;
    static const char *const names[] = {"w1", "b1", "w2", "b2", "w3", "b3"};
    dc_tensor *p[6], *v[6], *g[6] = {0}, *hv[6] = {0};
    for (int i = 0; i < 6; i++) {
        p[i] = ref_param(&c, names[i]);
        char vn[16];
        snprintf(vn, sizeof vn, "v_%s", names[i]);
        v[i] = ref_get(&c, "const", vn);
    }
    dc_tensor *x = ref_get(&c, "const", "x"), *y = ref_get(&c, "const", "y");
    dc_tensor *h = dc_tanh(dc_linear(x, p[0], p[1]));
    h = dc_gelu(dc_linear(h, p[2], p[3]), true);
    dc_tensor *loss = dc_cross_entropy(dc_linear(h, p[4], p[5]), y, NULL);
    if (grads_of(loss, 6, p, g, true) == 0) {
        dc_tensor *dot = NULL;
        for (int i = 0; i < 6; i++) {
            dc_tensor *term = dc_sum_all(dc_mul(g[i], v[i]));
            dot = dot ? dc_add(dot, term) : term;
        }
        grads_of(dot, 6, p, hv, false);
    }
    check_out(&c, "loss", loss ? dc_reshape(loss, DC_SHAPE(1)) : NULL);
    for (int i = 0; i < 6; i++) {
        char n[16];
        snprintf(n, sizeof n, "g_%s", names[i]);
        check_out(&c, n, g[i]);
        snprintf(n, sizeof n, "hv_%s", names[i]);
        check_out(&c, n, hv[i]);
        CHECK(p[i]->grad == NULL); /* dc_grad writes no .grad */
    }
    ref_free(&c);
}

TEST(test_gradient_penalty_backward_matches_torch)
{
    ref_chain c;
    if (!ref_open(&c, "ref/higher_order_gradient_penalty.txt")) return;
    dc_tensor *x = ref_param(&c, "x"), *w1 = ref_param(&c, "w1"), *b1 = ref_param(&c, "b1"),
              *w2 = ref_param(&c, "w2"), *gx = NULL;
    dc_tensor *critic = dc_linear(dc_softplus(dc_linear(x, w1, b1), 1.0, 20.0), w2, NULL);
    dc_tensor *penalty = NULL;
    if (grads_of(dc_sum_all(critic), 1, &x, &gx, true) == 0) {
        dc_tensor *norm = dc_sqrt(dc_sum(dc_pow_scalar(gx, 2.0), 1, (int[]){1}, false));
        dc_tensor *dev = dc_add_scalar(norm, -1.0);
        penalty = dc_mean_all(dc_mul(dev, dev));
        /* dc_backward through a recorded gradient: the parameters' .grad get the penalty's */
        CHECK(penalty && dc_backward(penalty) == 0);
    }
    check_out(&c, "gx", gx);
    check_out(&c, "penalty", penalty ? dc_reshape(penalty, DC_SHAPE(1)) : NULL);
    check_out(&c, "g_w1", w1->grad);
    check_out(&c, "g_b1", b1->grad);
    check_out(&c, "g_w2", w2->grad);
    ref_free(&c);
}

/* ---- dc_grad's contract ---------------------------------------------------------------------- */

TEST(test_grad_equals_backward_and_writes_no_grad)
{
    dc_manual_seed(3);
    dc_tensor *w = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(4, 3)), true);
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(5, 3));
    dc_tensor *loss = dc_mean_all(dc_tanh(dc_linear(x, w, NULL)));
    dc_tensor *g = NULL;
    REQUIRE(dc_grad(1, &loss, NULL, 1, &w, &g, false) == 0);
    CHECK(w->grad == NULL && g && !g->requires_grad);
    REQUIRE(dc_backward(loss) == 0);
    double *a = dc_test_values(g), *b = dc_test_values(w->grad);
    CHECK_ALLCLOSE("dc_grad vs dc_backward", a, b, 12, 0, 0);
    free(a);
    free(b);
}

TEST(test_grad_of_an_intermediate_tensor_and_explicit_seed)
{
    dc_tensor *x = dc_requires_grad(dc_from_buffer(DC_F64, DC_SHAPE(3), (double[]){1, 2, 3}), true);
    dc_tensor *h = dc_mul(x, x);      /* h = x^2 */
    dc_tensor *y = dc_mul_scalar(h, 3.0); /* y = 3 h */
    dc_tensor *seed = dc_from_buffer(DC_F64, DC_SHAPE(3), (double[]){1, 10, 100});
    dc_tensor *g[2] = {0};
    REQUIRE(dc_grad(1, &y, &seed, 2, (dc_tensor *[]){h, x}, g, false) == 0);
    CHECK_NEAR(dc_item_at(g[0], (int64_t[]){2}), 300, 1e-12); /* dy/dh = 3 */
    CHECK_NEAR(dc_item_at(g[1], (int64_t[]){1}), 10 * 3 * 2 * 2, 1e-12); /* 6 x */
}

TEST(test_grad_reports_bad_arguments_and_unsupported_ops)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(2, 3)), true);
    dc_tensor *unused = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(2)), true);
    dc_tensor *plain = dc_randn(NULL, DC_F32, DC_SHAPE(2));
    dc_tensor *loss = dc_sum_all(dc_tanh(x));
    dc_tensor *g[2] = {plain, plain};
    CHECK_ERROR(dc_grad(1, &loss, NULL, 2, (dc_tensor *[]){x, unused}, g, false) != 0,
                "input 1 is not used");
    CHECK(g[0] == NULL && g[1] == NULL);
    CHECK_ERROR(dc_grad(1, &loss, NULL, 1, &plain, g, false) != 0, "does not require grad");
    CHECK_ERROR(dc_grad(1, (dc_tensor *[]){x}, NULL, 1, &x, g, false) != 0, "one element");
    CHECK_ERROR(dc_grad(0, &loss, NULL, 1, &x, g, false) != 0, "no outputs");
    /* layer norm's backward is one fused kernel: create_graph through it is refused */
    dc_tensor *ln = dc_sum_all(dc_mul(dc_layer_norm(x, 1, NULL, NULL, 1e-5), x));
    CHECK_ERROR(dc_grad(1, &ln, NULL, 1, &x, g, true) != 0, "'layer_norm'");
    CHECK(x->grad == NULL);
    REQUIRE(dc_grad(1, &ln, NULL, 1, &x, g, false) == 0); /* first order is fine */
}

/* ---- Hooks -------------------------------------------------------------------------------------- */

typedef struct {
    int calls;
    double last_sum;
    double scale;
} hook_state;

static dc_tensor *scale_hook(dc_tensor *t, dc_tensor *grad, void *user)
{
    (void)t;
    hook_state *s = user;
    s->calls++;
    s->last_sum = dc_item(dc_sum_all(grad));
    return s->scale == 1.0 ? grad : dc_mul_scalar(grad, s->scale);
}

static dc_tensor *wrong_shape_hook(dc_tensor *t, dc_tensor *grad, void *user)
{
    (void)t, (void)grad, (void)user;
    return dc_zeros(DC_F32, DC_SHAPE(7));
}

static dc_tensor *null_hook(dc_tensor *t, dc_tensor *grad, void *user)
{
    (void)t, (void)grad, (void)user;
    return dc_error("my hook refused");
}

TEST(test_hooks_inspect_and_replace_gradients)
{
    dc_tensor *x = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(2, 2)), true);
    dc_tensor *h = dc_mul_scalar(x, 3.0);
    hook_state on_leaf = {0, 0, 2.0}, on_h = {0, 0, 1.0};
    int leaf_handle = dc_register_hook(x, scale_hook, &on_leaf);
    CHECK(leaf_handle >= 0 && dc_register_hook(h, scale_hook, &on_h) >= 0);
    dc_tensor *loss = dc_sum_all(dc_add(h, h)); /* dL/dh = 2 (both uses summed before the hook) */
    REQUIRE(dc_backward(loss) == 0);
    CHECK(on_h.calls == 1 && on_h.last_sum == 8.0);
    CHECK(on_leaf.calls == 1 && on_leaf.last_sum == 24.0);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){0, 0}), 12.0, 0); /* 6, doubled by the hook */
    /* removed: the next backward accumulates the plain gradient */
    CHECK(dc_remove_hook(x, leaf_handle) == 0);
    CHECK_ERROR(dc_remove_hook(x, leaf_handle) != 0, "no hook");
    REQUIRE(dc_backward(loss) == 0);
    CHECK_NEAR(dc_item_at(x->grad, (int64_t[]){1, 1}), 18.0, 0);
    CHECK(on_leaf.calls == 1 && on_h.calls == 2);
}

TEST(test_hook_errors_stop_the_backward)
{
    dc_tensor *x = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(3)), true);
    dc_tensor *plain = dc_ones(DC_F32, DC_SHAPE(3));
    CHECK_ERROR(dc_register_hook(plain, scale_hook, NULL) < 0, "does not require grad");
    CHECK_ERROR(dc_register_hook(x, NULL, NULL) < 0, "NULL");
    dc_tensor *y = dc_tanh(x);
    REQUIRE(dc_register_hook(y, wrong_shape_hook, NULL) >= 0);
    CHECK_ERROR(dc_backward(dc_sum_all(y)) != 0, "a gradient hook returned shape [7]");
    CHECK(x->grad == NULL);
    dc_tensor *z = dc_exp(x);
    REQUIRE(dc_register_hook(z, null_hook, NULL) >= 0);
    CHECK_ERROR(dc_backward(dc_sum_all(z)) != 0, "my hook refused");
    CHECK(x->grad == NULL);
}

/* ---- Custom functions --------------------------------------------------------------------------- */

/* cube(x) = x^3, backward 3 x^2 g from differentiable ops (so it has a second derivative) */
static dc_tensor *cube_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)user;
    int *calls = dc_ctx_state(ctx, sizeof(int));
    if (!calls) return NULL;
    (*calls)++;
    if (dc_ctx_save(ctx, in[0]) != 0) return NULL;
    return dc_mul(dc_mul(in[0], in[0]), in[0]);
}

static int cube_backward(dc_node *ctx, dc_tensor *g, dc_tensor **grads, void *user)
{
    int *backward_calls = user;
    if (backward_calls) (*backward_calls)++;
    dc_tensor *x = dc_ctx_saved(ctx, 0);
    int *forward_calls = dc_ctx_state(ctx, sizeof(int));
    if (!x || !forward_calls || *forward_calls != 1) return dc_error("cube: lost its state"), -1;
    if (dc_ctx_needs_grad(ctx, 0)) grads[0] = dc_mul(g, dc_mul_scalar(dc_mul(x, x), 3.0));
    return 0;
}

static const dc_function cube_fn = {"cube", cube_forward, cube_backward, false};
static const dc_function cube_once_fn = {"cube_once", cube_forward, cube_backward, true};

/* scaled_exp(x, s) = exp(x) * s: saves its output; gradient for both inputs */
static dc_tensor *scaled_exp_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)user;
    dc_tensor *e = dc_exp(in[0]);
    if (dc_ctx_save(ctx, e) != 0) return NULL;
    dc_tensor *out = dc_mul(e, in[1]);
    return dc_ctx_save(ctx, out) == 1 ? out : NULL;
}

static int scaled_exp_backward(dc_node *ctx, dc_tensor *g, dc_tensor **grads, void *user)
{
    (void)user;
    dc_tensor *e = dc_ctx_saved(ctx, 0), *out = dc_ctx_saved(ctx, 1);
    if (dc_ctx_needs_grad(ctx, 0)) grads[0] = dc_mul(g, out);
    if (dc_ctx_needs_grad(ctx, 1)) grads[1] = dc_sum_to_shape(dc_mul(g, e), 0, NULL);
    CHECK_ERROR(dc_ctx_saved(ctx, 2) == NULL, "slot 2 does not exist");
    return 0;
}

static const dc_function scaled_exp_fn = {"scaled_exp", scaled_exp_forward, scaled_exp_backward, false};

static dc_tensor *apply_cube(dc_tensor *const *x, void *ctx)
{
    return dc_function_apply(&cube_fn, 1, x, ctx);
}

static dc_tensor *apply_scaled_exp(dc_tensor *const *x, void *ctx)
{
    (void)ctx;
    return dc_function_apply(&scaled_exp_fn, 2, x, NULL);
}

TEST(test_custom_function_gradients_pass_the_gradient_check)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F64, DC_SHAPE(3, 2)), true);
    int backward_calls = 0;
    CHECK_GRADIENTS("cube", apply_cube, &backward_calls, 1, &x, NULL);
    CHECK(backward_calls > 0);
    dc_tensor *s = dc_requires_grad(dc_scalar(DC_F64, 0.7), true);
    dc_tensor *inputs[] = {x, s};
    CHECK_GRADIENTS("scaled_exp", apply_scaled_exp, NULL, 2, inputs, NULL);
    dc_tensor *y = dc_function_apply(&cube_fn, 1, &x, NULL);
    CHECK(y && strcmp(dc_grad_fn_name(y), "cube") == 0);
    bool prev = dc_no_grad_begin(); /* no-grad: nothing recorded */
    dc_tensor *z = dc_function_apply(&cube_fn, 1, &x, NULL);
    dc_grad_mode_restore(prev);
    CHECK(z && z->grad_fn == NULL && !z->requires_grad);
}

TEST(test_custom_function_second_derivative_and_once_differentiable)
{
    dc_tensor *x = dc_requires_grad(dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){1.5, -2}), true);
    dc_tensor *d1 = NULL, *d2 = NULL;
    REQUIRE(grads_of(dc_sum_all(dc_function_apply(&cube_fn, 1, &x, NULL)), 1, &x, &d1, true) == 0);
    REQUIRE(grads_of(dc_sum_all(d1), 1, &x, &d2, false) == 0);
    CHECK_NEAR(dc_item_at(d1, (int64_t[]){1}), 12.0, 1e-12); /* 3 x^2 */
    CHECK_NEAR(dc_item_at(d2, (int64_t[]){0}), 9.0, 1e-12);  /* 6 x */
    dc_tensor *once = dc_sum_all(dc_function_apply(&cube_once_fn, 1, &x, NULL));
    CHECK_ERROR(grads_of(once, 1, &x, &d1, true) != 0, "'cube_once'");
    CHECK(grads_of(once, 1, &x, &d1, false) == 0);
}

static dc_tensor *failing_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)ctx, (void)user;
    return dc_matmul(in[0], in[0]); /* [3] @ [3] is fine, [2, 3] @ [2, 3] fails */
}

TEST(test_custom_function_reports_bad_definitions_and_forward_errors)
{
    dc_tensor *x = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(2, 3)), true);
    const dc_function no_backward = {"half", cube_forward, NULL, false};
    CHECK_ERROR(dc_function_apply(&no_backward, 1, &x, NULL) == NULL, "needs a name");
    CHECK_ERROR(dc_function_apply(&cube_fn, 1, (dc_tensor *[]){NULL}, NULL) == NULL, "input 0 is NULL");
    const dc_function failing = {"failing", failing_forward, cube_backward, false};
    CHECK_ERROR(dc_function_apply(&failing, 1, &x, NULL) == NULL, "cannot be multiplied");
    dc_tensor *plain = dc_randn(NULL, DC_F32, DC_SHAPE(2));
    CHECK_ERROR(dc_ctx_save(NULL, plain) != 0, "ctx is NULL");
    CHECK_ERROR(dc_ctx_state(x->grad_fn, 4) == NULL, "not the ctx of a custom function");
}

/* ---- Module hooks and single-tensor optimizers ---------------------------------------------- */

typedef struct {
    int forward_calls, backward_calls;
    double activation_mean, grad_abs_sum;
} layer_stats;

static void record_activation(dc_module *m, dc_tensor *in, dc_tensor *out, void *user)
{
    (void)m, (void)in;
    layer_stats *s = user;
    s->forward_calls++;
    s->activation_mean = dc_item(dc_mean_all(out));
}

static dc_tensor *record_grad(dc_tensor *t, dc_tensor *grad, void *user)
{
    (void)t;
    layer_stats *s = user;
    s->backward_calls++;
    s->grad_abs_sum = dc_item(dc_sum_all(dc_abs(grad)));
    return grad;
}

TEST(test_module_hooks_see_activations_and_output_gradients)
{
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    dc_module *layer = dc_linear_new(3, 2, true, &rng);
    layer_stats s = {0};
    int fh = dc_module_register_forward_hook(layer, record_activation, &s);
    int bh = dc_module_register_backward_hook(layer, record_grad, &s);
    REQUIRE(fh >= 0 && bh >= 0 && fh != bh);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(4, 3));
    dc_tensor *y = dc_forward(layer, x);
    REQUIRE(y && s.forward_calls == 1);
    CHECK_NEAR(s.activation_mean, dc_item(dc_mean_all(y)), 1e-6);
    REQUIRE(dc_backward(dc_sum_all(dc_mul_scalar(y, -2.0))) == 0); /* dL/dy = -2 everywhere */
    CHECK(s.backward_calls == 1);
    CHECK_NEAR(s.grad_abs_sum, 16.0, 1e-6);
    CHECK(dc_module_remove_hook(layer, fh) == 0 && dc_module_remove_hook(layer, bh) == 0);
    CHECK_ERROR(dc_module_remove_hook(layer, bh) != 0, "no hook");
    CHECK(dc_forward(layer, x) && s.forward_calls == 1);
    CHECK_ERROR(dc_module_register_forward_hook(layer, NULL, NULL) < 0, "NULL");
    dc_module_free(layer);
}

TEST(test_optimizer_over_a_single_tensor)
{
    dc_tensor *x = dc_requires_grad(dc_full(DC_F64, DC_SHAPE(2), 3.0), true);
    dc_optim_config cfg = dc_optim_defaults(DC_SGD, 0.25);
    dc_optimizer *opt = dc_optimizer_new_tensors(1, &x, &cfg);
    REQUIRE(opt);
    for (int step = 0; step < 20; step++) { /* minimise |x|^2: x <- x - 0.25 * 2x */
        size_t scope = dc_scope_begin();
        CHECK(dc_backward(dc_sum_all(dc_mul(x, x))) == 0 && dc_optimizer_step(opt) == 0);
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
    }
    CHECK_NEAR(dc_item_at(x, (int64_t[]){1}), 3.0 * pow(0.5, 20), 1e-12);
    dc_optimizer_free(opt);
    CHECK_ERROR(dc_optimizer_new_tensors(0, &x, &cfg) == NULL, "no tensors");
    dc_tensor *plain = dc_zeros(DC_F64, DC_SHAPE(2));
    CHECK_ERROR(dc_optimizer_new_tensors(1, &plain, &cfg) == NULL, "does not require grad");
}
