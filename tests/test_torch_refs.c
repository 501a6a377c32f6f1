/* deepc against PyTorch: op chains that mirror real use, compared value by value.
 *
 * The reference values come from tests/ref/make_refs.py, run with Debian's python3-torch
 * 1.13 in float32 (`/usr/bin/python3 tests/ref/make_refs.py` regenerates them; the committed
 * tests/ref/<chain>.txt files mean the tests need no torch). Each file holds a chain's
 * inputs, its outputs out_k, a random seed R_k per output and the gradient of every input of
 * L = sum_k sum(out_k * R_k). Each test below rebuilds the same chain with deepc in float32
 * (the functions mirror the Python ones line by line), checks every output, backpropagates
 * R_k from each output (gradients accumulate across the calls, which is the gradient of L)
 * and checks every input's gradient.
 *
 * Tolerance (ref_compare, tests/ref_loader.c): |deepc - torch| <= rtol * |torch| + atol with
 * rtol = 1e-5 and atol = 1e-6 times the largest |value| of that tensor (at least 1e-6):
 * float32 sums in a different order differ by a few ulps of the largest term, which the
 * relative part alone cannot absorb where terms cancel to near zero. Every chain passes at
 * that tolerance; none needs a looser one. The file reader's failure modes are tested in
 * test_nn_refs.c (test_ref_loader_rejects_bad_files_and_has_no_size_limit). */
#include "ref_loader.h"
#include "test.h"

/* The chain's input `name` (a param, which requires grad, or a const). NULL with an error
 * if the file has no such input, so a mismatch between the C and Python chains shows. */
static dc_tensor *in(ref_chain *c, const char *name)
{
    int i;
    if (!ref_find(c, "param", name, &i) && !ref_find(c, "const", name, &i))
        return dc_error("%s has no input named '%s'", c->path, name);
    return c->built[i];
}

/* ---- Running a chain ------------------------------------------------------------------------ */

typedef int (*chain_fn)(ref_chain *c, dc_tensor **outs);
#define MAX_OUTPUTS 8

/* Load tests/ref/<name>.txt, run the deepc chain, compare outputs and gradients. */
static void check_chain(const char *path, chain_fn fn)
{
    ref_chain c = {.path = path};
    char err[512];
    if (ref_load(&c, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&c);
        return;
    }
    for (int i = 0; i < c.n; i++) {
        bool param = strcmp(c.t[i].role, "param") == 0;
        if (!param && strcmp(c.t[i].role, "const") != 0) continue;
        c.built[i] = ref_to_tensor(&c.t[i]);
        if (param) dc_requires_grad(c.built[i], true);
    }
    dc_tensor *outs[MAX_OUTPUTS] = {0};
    int n_out = fn(&c, outs);
    char what[128];
    for (int k = 0; k < n_out; k++) {
        char name[12];
        snprintf(name, sizeof name, "%d", k);
        ref_tensor *want = ref_find(&c, "out", name, NULL);
        ref_tensor *seed = ref_find(&c, "seed", name, NULL);
        snprintf(what, sizeof what, "%s: output %d", path, k);
        if (!want || !seed) {
            dc_test_fail(__FILE__, __LINE__, "%s is not in the file", what);
            continue;
        }
        ref_compare(what, outs[k], want);
        if (!outs[k]) continue;
        if (dc_backward_with(outs[k], ref_to_tensor(seed)) != 0)
            dc_test_fail(__FILE__, __LINE__, "%s: backward failed: %s", what, dc_last_error());
    }
    snprintf(what, sizeof what, "%d", n_out);
    if (ref_find(&c, "out", what, NULL))
        dc_test_fail(__FILE__, __LINE__, "%s has more outputs than the deepc chain's %d", path,
                     n_out);
    for (int i = 0; i < c.n; i++) {
        if (strcmp(c.t[i].role, "param") != 0) continue;
        ref_tensor *want = ref_find(&c, "grad", c.t[i].name, NULL);
        snprintf(what, sizeof what, "%s: gradient of %s", path, c.t[i].name);
        if (!want) dc_test_fail(__FILE__, __LINE__, "%s is not in the file", what);
        else if (c.built[i] && !c.built[i]->grad)
            dc_test_fail(__FILE__, __LINE__, "%s: deepc computed none", what);
        else if (c.built[i]) ref_compare(what, c.built[i]->grad, want);
    }
    ref_free(&c);
}

/* ---- The chains (mirrors of make_refs.py) ---------------------------------------------------- */

static dc_tensor *linear_no_bias(dc_tensor *x, dc_tensor *w) /* x @ W^T */
{
    return dc_matmul(x, dc_transpose(w, 0, 1));
}

static int mlp_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *h1 = dc_tanh(dc_add(linear_no_bias(in(c, "x"), in(c, "W1")), in(c, "b1")));
    dc_tensor *h2 = dc_relu(dc_add(linear_no_bias(h1, in(c, "W2")), in(c, "b2")));
    dc_tensor *logits = linear_no_bias(dc_sigmoid(h2), in(c, "W3"));
    dc_tensor *picked = dc_gather(dc_log_softmax(logits, 1), 1, dc_unsqueeze(in(c, "targets"), 1));
    out[0] = dc_neg(dc_mean_all(picked));
    return 1;
}

static int attention_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *scores =
        dc_mul_scalar(dc_matmul(in(c, "q"), dc_transpose(in(c, "k"), -2, -1)), 1.0 / sqrt(4.0));
    scores = dc_masked_fill(scores, in(c, "causal_mask"), -INFINITY);
    dc_tensor *att = dc_matmul(dc_softmax(scores, -1), in(c, "v"));
    out[0] = dc_reshape(dc_transpose(att, 1, 2), 3, (int64_t[]){2, 4, 8});
    return 1;
}

static int broadcast_arith_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *a = in(c, "a"), *b = in(c, "b"), *cc = in(c, "c");
    out[0] = dc_sub(dc_mul(dc_sqrt(dc_add_scalar(dc_div(a, b), 1.0)), dc_log(b)),
                    dc_exp(dc_mul_scalar(cc, 0.5)));
    out[1] = dc_pow(a, cc);
    out[2] = dc_rsub_scalar(dc_pow_scalar(b, 1.5), 1.0);
    out[3] = dc_mul(dc_sub(a, b), dc_add_scalar(cc, 2.0));
    return 4;
}

static int reductions_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *x = in(c, "x");
    dc_tensor *mu = dc_mean(x, 1, (int[]){-1}, true);
    dc_tensor *var = dc_var(x, 1, (int[]){-1}, 0, true);
    out[0] = dc_div(dc_sub(x, mu), dc_sqrt(dc_add_scalar(var, 1e-5)));
    out[1] = dc_sum(x, 2, (int[]){0, 2}, true);
    out[2] = dc_var(x, 1, (int[]){1}, 1, false);
    out[3] = dc_max(x, 1, false);
    out[4] = dc_mean_all(x);
    out[5] = dc_sum_all(x);
    out[6] = dc_mean(x, 2, (int[]){0, 2}, false);
    return 7;
}

static int views_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *x = in(c, "x");
    dc_tensor *b = dc_reshape(dc_permute(x, (int[]){2, 0, 3, 1}), 2, (int64_t[]){8, 15});
    dc_tensor *sliced = dc_slice(dc_slice(b, 0, 1, 8, 2), 1, 0, 15, 3);
    dc_tensor *d = dc_contiguous(dc_expand(dc_unsqueeze(sliced, 0), 3, (int64_t[]){3, 4, 5}));
    dc_tensor *f = dc_select(dc_transpose(d, 0, 2), 1, 2);
    out[0] = dc_mul_scalar(dc_flatten(dc_narrow(f, 0, 1, 3), 0, -1), 2.0);
    out[1] = dc_transpose(dc_slice(dc_view(x, 2, (int64_t[]){6, 20}), 1, 2, 18, 4), 0, 1);
    out[2] = dc_clone(dc_squeeze(dc_slice(x, 1, 1, 2, 1), 1));
    return 3;
}

static int embedding_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *emb = dc_index_select(in(c, "W"), 0, in(c, "ids")); /* [3, 5, 6] */
    out[0] = dc_tanh(dc_add(emb, in(c, "P")));
    return 1;
}

static int cat_stack_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *a = in(c, "a"), *b = in(c, "b"), *cc = in(c, "c");
    out[0] = dc_mul_scalar(dc_cat((dc_tensor *[]){a, b, cc}, 3, 0), 1.5);
    out[1] = dc_stack((dc_tensor *[]){a, cc, dc_mul(a, cc)}, 3, 1);
    out[2] = dc_cat((dc_tensor *[]){a, cc}, 2, -1);
    out[3] = dc_stack((dc_tensor *[]){dc_transpose(a, 0, 1), dc_transpose(cc, 0, 1)}, 2, 0);
    return 4;
}

static int where_max_min_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *a = in(c, "a"), *b = in(c, "b"), *cc = in(c, "c");
    out[0] = dc_where(in(c, "cond"), a, dc_mul_scalar(b, 2.0));
    out[1] = dc_maximum(a, b);
    out[2] = dc_minimum(a, cc);
    out[3] = dc_maximum(a, dc_scalar(DC_F32, 0.5));
    return 4;
}

static int batched_matmul_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *B = in(c, "B"), *v = in(c, "v");
    dc_tensor *ab = dc_matmul(in(c, "A"), B);
    out[0] = ab;
    out[1] = dc_matmul(v, B);
    out[2] = dc_matmul(dc_transpose(B, -1, -2), v);
    out[3] = linear_no_bias(ab, in(c, "M"));
    return 4;
}

static int softmax_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *x = in(c, "x");
    out[0] = dc_softmax(x, 1);
    out[1] = dc_log_softmax(dc_permute(x, (int[]){0, 2, 1}), -1);
    out[2] = dc_log_softmax(x, 0);
    return 3;
}

static int unary_chain(ref_chain *c, dc_tensor **out)
{
    dc_tensor *x = in(c, "x"), *y = in(c, "y");
    out[0] = dc_add(dc_sigmoid(dc_mul(dc_sin(x), dc_cos(y))), dc_exp(dc_neg(dc_abs(dc_sub(x, y)))));
    out[1] = dc_mul(dc_relu(x), dc_neg(y));
    return 2;
}

/* ---- Tests ------------------------------------------------------------------------------------
 */

TEST(test_mlp_chain_matches_torch) { check_chain("ref/mlp_chain.txt", mlp_chain); }
TEST(test_attention_chain_matches_torch)
{
    check_chain("ref/attention_chain.txt", attention_chain);
}
TEST(test_broadcast_arith_chain_matches_torch)
{
    check_chain("ref/broadcast_arith_chain.txt", broadcast_arith_chain);
}
TEST(test_reductions_chain_matches_torch)
{
    check_chain("ref/reductions_chain.txt", reductions_chain);
}
TEST(test_views_chain_matches_torch) { check_chain("ref/views_chain.txt", views_chain); }
TEST(test_embedding_chain_matches_torch)
{
    check_chain("ref/embedding_chain.txt", embedding_chain);
}
TEST(test_cat_stack_chain_matches_torch)
{
    check_chain("ref/cat_stack_chain.txt", cat_stack_chain);
}
TEST(test_where_max_min_ties_match_torch)
{
    check_chain("ref/where_max_min_chain.txt", where_max_min_chain);
}
TEST(test_batched_matmul_chain_matches_torch)
{
    check_chain("ref/batched_matmul_chain.txt", batched_matmul_chain);
}
TEST(test_softmax_chain_matches_torch) { check_chain("ref/softmax_chain.txt", softmax_chain); }
TEST(test_unary_chain_matches_torch) { check_chain("ref/unary_chain.txt", unary_chain); }
