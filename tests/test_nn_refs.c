/* Normalisation layers, embeddings and positional encodings against PyTorch.
 *
 * The values come from tests/ref/make_nn_refs.py (Debian's python3-torch 1.13, float32;
 * `/usr/bin/python3 tests/ref/make_nn_refs.py` regenerates tests/ref/nn_refs.txt, which is
 * committed so the tests need no torch). Each case there builds the torch.nn layer with
 * random parameters, runs it, and backpropagates a random seed R from each output; the tests
 * below build the deepc module with the same parameters, compare outputs and the gradients of
 * the input and of every parameter, and for BatchNorm the running statistics after two
 * training steps and then an eval step. Tolerances: see ref_compare in ref_loader.h. */
#include "ref_loader.h"

#include <unistd.h>

#define NN_REFS "ref/nn_refs.txt"

/* The case's input `name` as a leaf that requires grad. */
static dc_tensor *input(ref_chain *c, const char *case_name, const char *name)
{
    char full[96];
    return dc_requires_grad(ref_get(c, "param", ref_case_name(full, sizeof full, case_name, name)),
                            true);
}

/* Compare got with the entry (role, <case>.name). */
static void expect(ref_chain *c, const char *role, const char *case_name, const char *name,
                   const dc_tensor *got)
{
    char full[96], what[160];
    ref_case_name(full, sizeof full, case_name, name);
    snprintf(what, sizeof what, "%s: %s %s", c->path, role, full);
    ref_compare(what, got, ref_find(c, role, full, NULL));
}

/* Backpropagate the seed R recorded for output `name` from y. */
static void backprop(ref_chain *c, const char *case_name, const char *name, dc_tensor *y)
{
    char full[96];
    dc_tensor *seed = ref_get(c, "seed", ref_case_name(full, sizeof full, case_name, name));
    if (!y || !seed || dc_backward_with(y, seed) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: backward from %s failed: %s", c->path, full,
                     dc_last_error());
}

/* Set the module parameter `param` to the case's recorded initial value of the same name. */
static void set_param(ref_chain *c, const char *case_name, dc_module *m, const char *param)
{
    char full[96];
    dc_tensor *dst = dc_module_param(m, param);
    dc_tensor *src = ref_get(c, "param", ref_case_name(full, sizeof full, case_name, param));
    if (!dst || !src || dc_copy_(dst, src) != 0)
        dc_test_fail(__FILE__, __LINE__, "%s: cannot set %s: %s", c->path, full, dc_last_error());
}

/* One forward/backward of a module whose parameters are weight (and bias, if it has one):
 * simple_case() of make_nn_refs.py. Takes ownership of m. */
static void check_simple_module(const char *case_name, dc_module *m)
{
    ref_chain c = {0};
    if (!m) dc_test_fail(__FILE__, __LINE__, "%s: no module: %s", case_name, dc_last_error());
    if (!m || !ref_open(&c, NN_REFS)) {
        dc_module_free(m);
        return;
    }
    bool has_bias = dc_module_param(m, "bias") != NULL;
    set_param(&c, case_name, m, "weight");
    if (has_bias) set_param(&c, case_name, m, "bias");
    dc_tensor *x = input(&c, case_name, "x");
    dc_tensor *y = dc_forward(m, x);
    expect(&c, "out", case_name, "y", y);
    backprop(&c, case_name, "y", y);
    expect(&c, "grad", case_name, "x", x ? x->grad : NULL);
    expect(&c, "grad", case_name, "weight", dc_module_param(m, "weight")->grad);
    if (has_bias) expect(&c, "grad", case_name, "bias", dc_module_param(m, "bias")->grad);
    ref_free(&c);
    dc_module_free(m);
}

TEST(test_layer_norm_matches_torch)
{
    check_simple_module("layer_norm", dc_layer_norm_new(2, (int64_t[]){4, 5}, 1e-5, true));
}

TEST(test_layer_norm_without_affine_matches_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, NN_REFS)) return;
    dc_tensor *x = input(&c, "layer_norm_no_affine", "x");
    dc_tensor *y = dc_layer_norm(x, 1, NULL, NULL, 1e-3);
    expect(&c, "out", "layer_norm_no_affine", "y", y);
    backprop(&c, "layer_norm_no_affine", "y", y);
    expect(&c, "grad", "layer_norm_no_affine", "x", x ? x->grad : NULL);
    ref_free(&c);
}

TEST(test_group_norm_matches_torch)
{
    check_simple_module("group_norm", dc_group_norm_new(3, 6, 1e-5, true));
    check_simple_module("group_norm_1d", dc_group_norm_new(2, 4, 1e-4, true));
}

TEST(test_rms_norm_matches_torch_formula)
{
    check_simple_module("rms_norm", dc_rms_norm_new(1, (int64_t[]){8}, 1e-6, true));
    /* eps = None (-1): float32's machine epsilon; no weight */
    ref_chain c = {0};
    if (!ref_open(&c, NN_REFS)) return;
    dc_module *m = dc_rms_norm_new(2, (int64_t[]){3, 4}, -1, false);
    dc_tensor *x = input(&c, "rms_norm_2d_default_eps", "x");
    dc_tensor *y = m ? dc_forward(m, x) : NULL;
    expect(&c, "out", "rms_norm_2d_default_eps", "y", y);
    backprop(&c, "rms_norm_2d_default_eps", "y", y);
    expect(&c, "grad", "rms_norm_2d_default_eps", "x", x ? x->grad : NULL);
    dc_module_free(m);
    ref_free(&c);
}

/* batch_norm_case() of make_nn_refs.py: two training steps, the running statistics, one
 * eval step; gradients zeroed between steps. Takes ownership of bn. */
static void check_batch_norm(const char *case_name, dc_module *bn)
{
    ref_chain c = {0};
    if (!bn) dc_test_fail(__FILE__, __LINE__, "%s: no module: %s", case_name, dc_last_error());
    if (!bn || !ref_open(&c, NN_REFS)) {
        dc_module_free(bn);
        return;
    }
    set_param(&c, case_name, bn, "weight");
    set_param(&c, case_name, bn, "bias");
    dc_module_train(bn, true);
    for (int step = 1; step <= 3; step++) {
        if (step == 3) {
            expect(&c, "out", case_name, "running_mean", dc_module_buffer(bn, "running_mean"));
            expect(&c, "out", case_name, "running_var", dc_module_buffer(bn, "running_var"));
            expect(&c, "out", case_name, "num_batches_tracked",
                   dc_module_buffer(bn, "num_batches_tracked"));
            dc_module_train(bn, false);
        }
        char x_name[32], y_name[32], w_name[32], b_name[32];
        snprintf(x_name, sizeof x_name, "x%d", step);
        snprintf(y_name, sizeof y_name, "y%d", step);
        snprintf(w_name, sizeof w_name, "weight@%d", step);
        snprintf(b_name, sizeof b_name, "bias@%d", step);
        dc_tensor *x = input(&c, case_name, x_name);
        dc_tensor *y = dc_forward(bn, x);
        expect(&c, "out", case_name, y_name, y);
        backprop(&c, case_name, y_name, y);
        expect(&c, "grad", case_name, x_name, x ? x->grad : NULL);
        expect(&c, "grad", case_name, w_name, dc_module_param(bn, "weight")->grad);
        expect(&c, "grad", case_name, b_name, dc_module_param(bn, "bias")->grad);
        dc_module_zero_grad(bn);
    }
    ref_free(&c);
    dc_module_free(bn);
}

TEST(test_batch_norm1d_two_steps_then_eval_match_torch)
{
    check_batch_norm("batch_norm1d", dc_batch_norm1d_new(4, 1e-5, 0.1, true));
    check_batch_norm("batch_norm1d_3d", dc_batch_norm1d_new(3, 1e-5, 0.3, true));
}

TEST(test_batch_norm2d_two_steps_then_eval_match_torch)
{
    check_batch_norm("batch_norm2d", dc_batch_norm2d_new(3, 1e-5, 0.1, true));
}

TEST(test_embedding_matches_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, NN_REFS)) return;
    dc_module *emb = dc_embedding_new(10, 4, NULL);
    REQUIRE(emb);
    set_param(&c, "embedding", emb, "weight");
    dc_tensor *y = dc_forward(emb, ref_get(&c, "const", "embedding.ids"));
    expect(&c, "out", "embedding", "y", y);
    backprop(&c, "embedding", "y", y);
    expect(&c, "grad", "embedding", "weight", dc_module_param(emb, "weight")->grad);
    dc_module_free(emb);
    ref_free(&c);
}

TEST(test_positional_encodings_match_torch)
{
    ref_chain c = {0};
    if (!ref_open(&c, NN_REFS)) return;
    dc_module *learned = dc_learned_positional_encoding_new(8, 6, NULL);
    REQUIRE(learned);
    set_param(&c, "learned_positions", learned, "weight");
    dc_tensor *x = input(&c, "learned_positions", "x");
    dc_tensor *y = dc_forward(learned, x);
    expect(&c, "out", "learned_positions", "y", y);
    backprop(&c, "learned_positions", "y", y);
    expect(&c, "grad", "learned_positions", "x", x ? x->grad : NULL);
    expect(&c, "grad", "learned_positions", "weight", dc_module_param(learned, "weight")->grad);
    dc_module_free(learned);

    expect(&c, "out", "sinusoidal_positions", "table_50x16",
           dc_sinusoidal_positions(50, 16, DC_F32));
    expect(&c, "out", "sinusoidal_positions", "table_7x5", dc_sinusoidal_positions(7, 5, DC_F32));
    dc_module *fixed = dc_sinusoidal_positional_encoding_new(10, 5);
    REQUIRE(fixed);
    x = input(&c, "sinusoidal_positions", "x");
    y = dc_forward(fixed, x);
    expect(&c, "out", "sinusoidal_positions", "y", y);
    backprop(&c, "sinusoidal_positions", "y", y);
    expect(&c, "grad", "sinusoidal_positions", "x", x ? x->grad : NULL);
    dc_module_free(fixed);
    ref_free(&c);
}

/* The shared loader fails clearly on a missing or malformed file instead of comparing
 * garbage, and reads files with more tensors than fit in a fixed table. */
TEST(test_ref_loader_rejects_bad_files_and_has_no_size_limit)
{
    char err[512];
    ref_chain missing = {.path = "ref/no_such_file.txt"};
    CHECK(ref_load(&missing, err, sizeof err) != 0 && strstr(err, "make_"));
    ref_free(&missing);
    char path[64];
    snprintf(path, sizeof path, "/tmp/deepc_ref_loader_%d.txt", (int)getpid());
    const char *bad_files[] = {
        "param x f32 2 2 2\n1 2 3\n",        /* too few values */
        "param x f99 1 2\n1 2\n",            /* unknown dtype */
        "# only a comment\n",                /* no tensors */
        "param x f32 9 1 1 1 1 1 1 1 1 1\n", /* too many dims */
    };
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        FILE *f = fopen(path, "w");
        REQUIRE(f);
        fputs(bad_files[i], f);
        fclose(f);
        ref_chain c = {.path = path};
        err[0] = '\0';
        CHECK(ref_load(&c, err, sizeof err) != 0 && strstr(err, path));
        ref_free(&c);
    }
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    for (int i = 0; i < 100; i++) fprintf(f, "out t%d f32 1 2\n%d 0.5\n", i, i);
    fputs("const empty i64 1 0\nconst s i64 0\n7\n", f);
    fclose(f);
    ref_chain c = {.path = path};
    REQUIRE(ref_load(&c, err, sizeof err) == 0);
    CHECK(c.n == 102);
    ref_tensor *t = ref_find(&c, "out", "t99", NULL);
    CHECK(t && t->numel == 2 && t->values[0] == 99 && t->values[1] == 0.5);
    t = ref_find(&c, "const", "s", NULL);
    CHECK(t && t->ndim == 0 && t->numel == 1 && t->values[0] == 7);
    ref_free(&c);
    remove(path);
}
