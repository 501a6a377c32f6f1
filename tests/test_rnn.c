/* Recurrent layers (src/nn/rnn.c, src/ops/rnn.c) against PyTorch, plus the behaviour torch
 * cannot be compared on (dropout, truncated BPTT, bad inputs).
 *
 * The reference values come from tests/ref/make_rnn_refs.py (Debian's python3-torch 1.13,
 * float32; `/usr/bin/python3 tests/ref/make_rnn_refs.py` regenerates tests/ref/rnn_refs.txt
 * and tests/ref/rnn_lstm_state.safetensors, which are committed so the tests need no torch).
 * Each sequence case builds torch.nn.RNN/LSTM/GRU with torch's initialisation, runs it on
 * random inputs (packed with enforce_sorted=False for variable lengths) and backpropagates a
 * random seed from out, h_n and c_n; the tests below copy the parameters into the deepc module
 * by name and compare the outputs, the final states and the gradients of the input, the
 * initial states and every parameter. The float64 gradient checks of the functional cells are
 * rows of tests/gradcheck_rows/rnn.h. */
#include "ref_loader.h"

#define RNN_REFS "ref/rnn_refs.txt"

/* The case's float input `name` as a leaf that requires grad (NULL if absent). */
static dc_tensor *input(ref_chain *c, const char *case_name, const char *name)
{
    char full[128];
    ref_case_name(full, sizeof full, case_name, name);
    if (!ref_find(c, "param", full, NULL)) return NULL;
    return dc_requires_grad(ref_get(c, "param", full), true);
}

static dc_tensor *constant(ref_chain *c, const char *case_name, const char *name)
{
    char full[128];
    ref_case_name(full, sizeof full, case_name, name);
    return ref_find(c, "const", full, NULL) ? ref_get(c, "const", full) : NULL;
}

static void expect(ref_chain *c, const char *role, const char *case_name, const char *name,
                   const dc_tensor *got)
{
    char full[128], what[192];
    ref_case_name(full, sizeof full, case_name, name);
    snprintf(what, sizeof what, "%s: %s %s", c->path, role, full);
    ref_tensor *want = ref_find(c, role, full, NULL);
    if (!want) {
        dc_test_fail(__FILE__, __LINE__, "%s: no entry %s %s", c->path, role, full);
        return;
    }
    ref_compare_tol(what, got, want, 1e-4, 1e-5);
}

/* sum(y * R) for the seed R recorded for output `name`, added to *loss. */
static void add_seeded(ref_chain *c, const char *case_name, const char *name, dc_tensor *y,
                       dc_tensor **loss)
{
    char full[128];
    dc_tensor *seed = ref_get(c, "seed", ref_case_name(full, sizeof full, case_name, name));
    dc_tensor *term = dc_sum_all(dc_mul(y, seed));
    *loss = *loss ? dc_add(*loss, term) : term;
}

/* Copy every parameter of m from the case's entry of the same name. */
static void set_params(ref_chain *c, const char *case_name, dc_module *m)
{
    dc_tensor_list list;
    if (dc_module_parameters(m, &list) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: no parameter list: %s", case_name, dc_last_error());
        return;
    }
    for (int i = 0; i < list.n; i++) {
        char full[128];
        dc_tensor *src = ref_get(c, "param", ref_case_name(full, sizeof full, case_name, list.names[i]));
        if (!src || dc_copy_(list.tensors[i], src) != 0)
            dc_test_fail(__FILE__, __LINE__, "%s: cannot set %s: %s", c->path, full, dc_last_error());
    }
    dc_tensor_list_free(&list);
}

static void expect_param_grads(ref_chain *c, const char *case_name, dc_module *m)
{
    dc_tensor_list list;
    if (dc_module_parameters(m, &list) != 0) return;
    for (int i = 0; i < list.n; i++) {
        /* torch's zero gradient where no gradient reached (W_hh of a cell from a zero state) */
        dc_tensor *g = list.tensors[i]->grad;
        expect(c, "grad", case_name, list.names[i], g ? g : dc_zeros_like(list.tensors[i]));
    }
    dc_tensor_list_free(&list);
}

/* One sequence case of make_rnn_refs.py (sequence_case()). */
static void check_sequence(const char *case_name, dc_rnn_mode mode, dc_rnn_opts opts)
{
    ref_chain c = {0};
    if (!ref_open(&c, RNN_REFS)) return;
    dc_module *m = dc_rnn_new(mode, 3, 4, opts, NULL);
    if (!m) {
        dc_test_fail(__FILE__, __LINE__, "%s: no module: %s", case_name, dc_last_error());
        ref_free(&c);
        return;
    }
    set_params(&c, case_name, m);
    dc_tensor *x = input(&c, case_name, "x"), *h0 = input(&c, case_name, "h0");
    dc_tensor *c0 = input(&c, case_name, "c0"), *lengths = constant(&c, case_name, "lengths");
    dc_tensor *h_n = NULL, *c_n = NULL;
    const bool lstm = mode == DC_RNN_LSTM;
    dc_tensor *out = dc_rnn_forward(m, x, h0, c0, lengths, &h_n, lstm ? &c_n : NULL);
    EXPECT(out && h_n && (!lstm || c_n), "%s: forward failed: %s", case_name, dc_last_error());
    if (out) {
        expect(&c, "out", case_name, "out", out);
        expect(&c, "out", case_name, "h_n", h_n);
        if (lstm) expect(&c, "out", case_name, "c_n", c_n);
        dc_tensor *loss = NULL;
        add_seeded(&c, case_name, "out", out, &loss);
        add_seeded(&c, case_name, "h_n", h_n, &loss);
        if (lstm) add_seeded(&c, case_name, "c_n", c_n, &loss);
        EXPECT(dc_backward(loss) == 0, "%s: backward failed: %s", case_name, dc_last_error());
        expect(&c, "grad", case_name, "x", x->grad);
        if (h0) expect(&c, "grad", case_name, "h0", h0->grad);
        if (c0) expect(&c, "grad", case_name, "c0", c0->grad);
        expect_param_grads(&c, case_name, m);
    }
    dc_module_free(m);
    ref_free(&c);
}

static dc_rnn_opts opts_of(int layers, bool bidirectional, bool batch_first, bool bias)
{
    dc_rnn_opts o = DC_RNN_DEFAULTS;
    o.num_layers = layers;
    o.bidirectional = bidirectional;
    o.batch_first = batch_first;
    o.bias = bias;
    return o;
}

TEST(test_lstm_two_layers_bidirectional_with_states_matches_torch)
{
    check_sequence("lstm_bi2", DC_RNN_LSTM, opts_of(2, true, false, true));
}

TEST(test_lstm_batch_first_variable_lengths_matches_packed_torch)
{
    check_sequence("lstm_bi2_bf_len", DC_RNN_LSTM, opts_of(2, true, true, true));
    check_sequence("lstm_len_zero_state", DC_RNN_LSTM, opts_of(1, false, false, true));
}

TEST(test_gru_two_layers_bidirectional_matches_torch)
{
    check_sequence("gru_bi2", DC_RNN_GRU, opts_of(2, true, false, true));
    check_sequence("gru_bi2_bf_len", DC_RNN_GRU, opts_of(2, true, true, true));
}

TEST(test_rnn_tanh_and_relu_match_torch)
{
    check_sequence("rnn_tanh_bi2", DC_RNN_TANH, opts_of(2, true, false, true));
    check_sequence("rnn_relu_bi2_bf_len", DC_RNN_RELU, opts_of(2, true, true, true));
    check_sequence("rnn_tanh_no_bias", DC_RNN_TANH, opts_of(1, false, false, false));
}

/* One cell case of make_rnn_refs.py (cell_case()). */
static void check_cell(const char *case_name, dc_rnn_mode mode)
{
    ref_chain c = {0};
    if (!ref_open(&c, RNN_REFS)) return;
    dc_module *m = dc_rnn_cell_new(mode, 3, 4, true, NULL);
    REQUIRE(m);
    set_params(&c, case_name, m);
    dc_tensor *x = input(&c, case_name, "x"), *h = input(&c, case_name, "h");
    dc_tensor *cs = input(&c, case_name, "c"), *c1 = NULL;
    const bool lstm = mode == DC_RNN_LSTM;
    dc_tensor *h1 = dc_rnn_cell_forward(m, x, h, cs, lstm ? &c1 : NULL);
    EXPECT(h1 && (!lstm || c1), "%s: forward failed: %s", case_name, dc_last_error());
    if (h1) {
        expect(&c, "out", case_name, "h1", h1);
        dc_tensor *loss = NULL;
        add_seeded(&c, case_name, "h1", h1, &loss);
        if (lstm) {
            expect(&c, "out", case_name, "c1", c1);
            add_seeded(&c, case_name, "c1", c1, &loss);
        }
        EXPECT(dc_backward(loss) == 0, "%s: backward failed: %s", case_name, dc_last_error());
        expect(&c, "grad", case_name, "x", x->grad);
        if (h) expect(&c, "grad", case_name, "h", h->grad);
        if (cs) expect(&c, "grad", case_name, "c", cs->grad);
        expect_param_grads(&c, case_name, m);
    }
    dc_module_free(m);
    ref_free(&c);
}

TEST(test_rnn_cells_match_torch_cells)
{
    check_cell("rnn_cell_tanh", DC_RNN_TANH);
    check_cell("rnn_cell_relu", DC_RNN_RELU);
    check_cell("lstm_cell", DC_RNN_LSTM);
    check_cell("lstm_cell_zero_state", DC_RNN_LSTM);
    check_cell("gru_cell", DC_RNN_GRU);
}

/* One attention case of make_rnn_refs.py (attention_case()). */
static void check_attention(const char *case_name, dc_seq_attention_kind kind, int64_t dq,
                            int64_t dk)
{
    ref_chain c = {0};
    if (!ref_open(&c, RNN_REFS)) return;
    dc_module *m = dc_seq_attention_new(kind, dq, dk, 6, NULL);
    REQUIRE(m);
    set_params(&c, case_name, m);
    dc_tensor *q = input(&c, case_name, "query"), *k = input(&c, case_name, "keys");
    dc_tensor *v = input(&c, case_name, "values"), *mask = constant(&c, case_name, "mask");
    dc_tensor *w = NULL;
    dc_tensor *ctx = dc_seq_attention_forward(m, q, k, v, mask, &w);
    EXPECT(ctx && w, "%s: forward failed: %s", case_name, dc_last_error());
    if (ctx && w) {
        expect(&c, "out", case_name, "context", ctx);
        expect(&c, "out", case_name, "weights", w);
        dc_tensor *loss = NULL;
        add_seeded(&c, case_name, "context", ctx, &loss);
        add_seeded(&c, case_name, "weights", w, &loss);
        EXPECT(dc_backward(loss) == 0, "%s: backward failed: %s", case_name, dc_last_error());
        expect(&c, "grad", case_name, "query", q->grad);
        expect(&c, "grad", case_name, "keys", k->grad);
        if (v) expect(&c, "grad", case_name, "values", v->grad);
        expect_param_grads(&c, case_name, m);
    }
    dc_module_free(m);
    ref_free(&c);
}

TEST(test_sequence_attention_with_mask_matches_torch_formulas)
{
    check_attention("attn_additive", DC_ATTN_ADDITIVE, 5, 4);
    check_attention("attn_dot", DC_ATTN_DOT, 5, 5);
    check_attention("attn_general", DC_ATTN_GENERAL, 5, 4);
}

TEST(test_lstm_state_dict_written_by_torch_loads_by_name)
{
    ref_chain c = {0};
    if (!ref_open(&c, RNN_REFS)) return;
    dc_rnn_opts o = opts_of(2, true, true, true);
    dc_module *m = dc_rnn_new(DC_RNN_LSTM, 3, 4, o, NULL);
    REQUIRE(m);
    int rc = dc_checkpoint_load("ref/rnn_lstm_state.safetensors", m, NULL);
#ifdef DC_HAVE_JANSSON
    CHECK(rc == 0);
#else
    if (rc != 0) printf("  skipped: jansson not installed (%s)\n", dc_last_error());
#endif
    if (rc == 0) {
        dc_module_train(m, false);
        dc_tensor *h_n = NULL, *c_n = NULL;
        dc_tensor *out = dc_rnn_forward(m, constant(&c, "state_dict", "x"), NULL, NULL, NULL, &h_n, &c_n);
        expect(&c, "out", "state_dict", "out", out);
        expect(&c, "out", "state_dict", "h_n", h_n);
        expect(&c, "out", "state_dict", "c_n", c_n);
    }
    dc_clear_error();
    dc_module_free(m);
    ref_free(&c);
}

/* ---- Behaviour without a torch reference -------------------------------------------------- */

TEST(test_rnn_parameter_names_shapes_and_init_follow_torch)
{
    dc_rnn_opts o = opts_of(2, true, false, true);
    dc_module *m = dc_rnn_new(DC_RNN_GRU, 7, 5, o, NULL);
    REQUIRE(m);
    static const char *const names[] = {
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
        "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"};
    dc_tensor_list list;
    REQUIRE(dc_module_parameters(m, &list) == 0);
    CHECK(list.n == 16);
    for (int i = 0; i < list.n && i < 16; i++) {
        EXPECT(!strcmp(list.names[i], names[i]), "parameter %d is %s, torch's is %s", i,
               list.names[i], names[i]);
        const dc_tensor *t = list.tensors[i];
        const bool ih = strstr(names[i], "weight_ih") != NULL;
        const int64_t cols = ih ? (strstr(names[i], "_l1") ? 10 : 7) : 5;
        CHECK(t->shape[0] == 15);
        if (t->ndim == 2) CHECK(t->shape[1] == cols);
        double *v = dc_test_values(t);
        for (int64_t j = 0; v && j < dc_numel(t); j++)
            EXPECT(fabs(v[j]) <= 1 / sqrt(5.0), "%s[%lld] = %g outside U(-1/sqrt(5), 1/sqrt(5))",
                   names[i], (long long)j, v[j]);
        free(v);
    }
    dc_tensor_list_free(&list);
    CHECK(dc_module_num_params(m, false) == 2 * (15 * 7 + 15 * 5 + 30) + 2 * (15 * 10 + 15 * 5 + 30));
    dc_module_free(m);
}

TEST(test_rnn_dc_forward_is_the_output_from_zero_states)
{
    dc_rng rng;
    dc_rng_seed(&rng, 4);
    dc_rnn_opts o = opts_of(2, true, true, true);
    dc_module *m = dc_rnn_new(DC_RNN_LSTM, 3, 6, o, &rng);
    REQUIRE(m);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(2, 4, 3));
    dc_tensor *a = dc_forward(m, x), *b = dc_rnn_forward(m, x, NULL, NULL, NULL, NULL, NULL);
    REQUIRE(a && b);
    CHECK(a->shape[0] == 2 && a->shape[1] == 4 && a->shape[2] == 12);
    double *va = dc_test_values(a), *vb = dc_test_values(b);
    CHECK_ALLCLOSE("dc_forward vs dc_rnn_forward", va, vb, dc_numel(a), 0, 0);
    free(va), free(vb);
    /* lengths all equal to T are the same as no lengths */
    dc_tensor *full = dc_full(DC_I64, DC_SHAPE(2), 4);
    dc_tensor *c = dc_rnn_forward(m, x, NULL, NULL, full, NULL, NULL);
    REQUIRE(c);
    double *vc = dc_test_values(c);
    va = dc_test_values(a);
    CHECK_ALLCLOSE("lengths = T vs no lengths", vc, va, dc_numel(a), 0, 0);
    free(va), free(vc);
    dc_module_free(m);
}

/* Dropout acts between layers, in training mode only, never after the last layer. */
TEST(test_rnn_dropout_between_layers_in_training_only)
{
    dc_rng rng, drop;
    dc_rng_seed(&rng, 5);
    dc_rng_seed(&drop, 6);
    dc_rnn_opts o = opts_of(2, false, false, true);
    o.dropout = 0.5;
    o.dropout_rng = &drop;
    dc_module *m = dc_rnn_new(DC_RNN_GRU, 3, 8, o, &rng);
    dc_rng_seed(&rng, 5);
    o.dropout = 0;
    dc_module *plain = dc_rnn_new(DC_RNN_GRU, 3, 8, o, &rng);
    o.num_layers = 1;
    o.dropout = 0.5;
    dc_module *single = dc_rnn_new(DC_RNN_GRU, 3, 8, o, &rng);
    REQUIRE(m && plain && single);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(5, 2, 3));
    dc_tensor *y_train = dc_forward(m, x), *y_plain = dc_forward(plain, x);
    dc_module_train(m, false);
    dc_tensor *y_eval = dc_forward(m, x);
    REQUIRE(y_train && y_plain && y_eval);
    int64_t n = dc_numel(y_plain);
    double *a = dc_test_values(y_train), *b = dc_test_values(y_plain), *e = dc_test_values(y_eval);
    CHECK_ALLCLOSE("eval output vs the same module without dropout", e, b, n, 0, 0);
    double diff = 0;
    for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    EXPECT(diff > 1e-3, "training output equals the eval output (max diff %g)", diff);
    free(a), free(b), free(e);
    /* one layer: nothing to drop */
    dc_tensor *s_train = dc_forward(single, x);
    dc_module_train(single, false);
    dc_tensor *s_eval = dc_forward(single, x);
    REQUIRE(s_train && s_eval);
    a = dc_test_values(s_train), e = dc_test_values(s_eval);
    CHECK_ALLCLOSE("single layer: training vs eval", a, e, dc_numel(s_eval), 0, 0);
    free(a), free(e);
    dc_module_free(m), dc_module_free(plain), dc_module_free(single);
}

/* Truncated BPTT: states carried into the next window as dc_detach(h_n) give the second
 * window's loss gradients only within that window: the first window's input gets none, and
 * the parameters' gradients equal those of the second window run alone from the same
 * (constant) initial states. */
TEST(test_truncated_bptt_with_detached_states_stops_gradients_at_the_window)
{
    dc_rng rng;
    dc_rng_seed(&rng, 8);
    dc_module *m = dc_rnn_new(DC_RNN_LSTM, 3, 4, opts_of(1, false, false, true), &rng);
    REQUIRE(m);
    dc_tensor *x1 = dc_requires_grad(dc_randn(&rng, DC_F32, DC_SHAPE(4, 2, 3)), true);
    dc_tensor *x2 = dc_randn(&rng, DC_F32, DC_SHAPE(4, 2, 3));
    dc_tensor *h = NULL, *c = NULL;
    REQUIRE(dc_rnn_forward(m, x1, NULL, NULL, NULL, &h, &c));
    dc_tensor *hd = dc_detach(h), *cd = dc_detach(c);
    dc_tensor *y = dc_rnn_forward(m, x2, hd, cd, NULL, NULL, NULL);
    REQUIRE(y && dc_backward(dc_sum_all(y)) == 0);
    CHECK(x1->grad == NULL);
    dc_tensor *w = dc_module_param(m, "weight_hh_l0");
    double *carried = dc_test_values(w->grad);
    dc_module_zero_grad(m);
    /* the second window alone, from constant copies of the carried states */
    dc_tensor *h0 = dc_clone(hd), *c0 = dc_clone(cd);
    dc_tensor *y2 = dc_rnn_forward(m, x2, h0, c0, NULL, NULL, NULL);
    REQUIRE(y2 && dc_backward(dc_sum_all(y2)) == 0);
    double *alone = dc_test_values(w->grad);
    CHECK_ALLCLOSE("weight_hh_l0 grad: carried + detached vs the window alone", carried, alone,
                   dc_numel(w), 0, 0);
    free(carried), free(alone);
    /* without the detach the first window is part of the graph */
    dc_module_zero_grad(m);
    REQUIRE(dc_backward(dc_sum_all(dc_rnn_forward(m, x2, h, c, NULL, NULL, NULL))) == 0);
    CHECK(x1->grad != NULL);
    dc_module_free(m);
}

TEST(test_rnn_bad_inputs_are_clear_errors_and_leave_inputs_untouched)
{
    dc_module *m = dc_rnn_new(DC_RNN_LSTM, 3, 4, opts_of(2, true, false, true), NULL);
    dc_module *gru = dc_rnn_new(DC_RNN_GRU, 3, 4, DC_RNN_DEFAULTS, NULL);
    REQUIRE(m && gru);
    dc_tensor *x = dc_randn(NULL, DC_F32, DC_SHAPE(5, 2, 3));
    dc_tensor *h_bad = dc_zeros(DC_F32, DC_SHAPE(4, 2, 5)), *h_ok = dc_zeros(DC_F32, DC_SHAPE(4, 2, 4));
    double *before = dc_test_values(x);
    dc_tensor *h_n = x, *c_n = x;
    CHECK_ERROR(!dc_rnn_forward(m, x, h_bad, NULL, NULL, &h_n, &c_n), "h0 must be");
    CHECK(h_n == NULL && c_n == NULL);
    CHECK_ERROR(!dc_rnn_forward(m, x, NULL, dc_zeros(DC_F32, DC_SHAPE(2, 2, 4)), NULL, NULL, NULL),
                "c0 must be");
    CHECK_ERROR(!dc_rnn_forward(gru, x, NULL, h_ok, NULL, NULL, NULL), "no cell state");
    CHECK_ERROR(!dc_rnn_forward(m, dc_randn(NULL, DC_F32, DC_SHAPE(5, 2, 4)), NULL, NULL, NULL,
                                NULL, NULL), "input_size 3");
    CHECK_ERROR(!dc_rnn_forward(m, dc_randn(NULL, DC_F32, DC_SHAPE(5, 3)), NULL, NULL, NULL, NULL,
                                NULL), "x must be");
    CHECK_ERROR(!dc_rnn_forward(m, dc_zeros(DC_F32, DC_SHAPE(5, 0, 3)), NULL, NULL, NULL, NULL,
                                NULL), "empty input");
    CHECK_ERROR(!dc_rnn_forward(m, dc_zeros(DC_F32, DC_SHAPE(0, 2, 3)), NULL, NULL, NULL, NULL,
                                NULL), "empty input");
    CHECK_ERROR(!dc_rnn_forward(m, dc_randn(NULL, DC_F64, DC_SHAPE(5, 2, 3)), NULL, NULL, NULL,
                                NULL, NULL), "parameters are float32");
    int64_t too_long[] = {5, 6}, zero[] = {0, 3};
    CHECK_ERROR(!dc_rnn_forward(m, x, NULL, NULL, dc_from_buffer(DC_I64, DC_SHAPE(2), too_long),
                                NULL, NULL), "lengths[1] = 6 is outside [1, 5]");
    CHECK_ERROR(!dc_rnn_forward(m, x, NULL, NULL, dc_from_buffer(DC_I64, DC_SHAPE(2), zero), NULL,
                                NULL), "lengths[0] = 0");
    CHECK_ERROR(!dc_rnn_forward(m, x, NULL, NULL, dc_full(DC_I64, DC_SHAPE(3), 2), NULL, NULL),
                "lengths must be int64 [2]");
    CHECK_ERROR(!dc_rnn_forward(m, x, NULL, NULL, dc_full(DC_F32, DC_SHAPE(2), 2), NULL, NULL),
                "lengths must be int64");
    CHECK_ERROR(!dc_rnn_forward(gru, NULL, NULL, NULL, NULL, NULL, NULL), "is NULL");
    CHECK_ERROR(!dc_rnn_forward(NULL, x, NULL, NULL, NULL, NULL, NULL), "not an RNN");
    double *after = dc_test_values(x);
    CHECK_ALLCLOSE("x after the failed calls", after, before, dc_numel(x), 0, 0);
    free(before), free(after);
    CHECK(x->grad == NULL && !x->requires_grad);
    /* constructors and cells */
    CHECK_ERROR(!dc_rnn_new(DC_RNN_LSTM, 0, 4, DC_RNN_DEFAULTS, NULL), "must be >= 1");
    dc_rnn_opts bad = DC_RNN_DEFAULTS;
    bad.dropout = 1.5;
    CHECK_ERROR(!dc_rnn_new(DC_RNN_GRU, 3, 4, bad, NULL), "dropout must be in [0, 1]");
    CHECK_ERROR(!dc_rnn_new((dc_rnn_mode)9, 3, 4, DC_RNN_DEFAULTS, NULL), "unknown mode");
    dc_module *cell = dc_rnn_cell_new(DC_RNN_GRU, 3, 4, true, NULL);
    REQUIRE(cell);
    dc_tensor *c_out = NULL;
    CHECK_ERROR(!dc_rnn_cell_forward(cell, dc_randn(NULL, DC_F32, DC_SHAPE(2, 3)), NULL, NULL,
                                     &c_out), "no cell state");
    CHECK_ERROR(!dc_rnn_cell_forward(cell, dc_randn(NULL, DC_F32, DC_SHAPE(2, 3)),
                                     dc_zeros(DC_F32, DC_SHAPE(2, 5)), NULL, NULL), "h must be [2, 4]");
    CHECK_ERROR(!dc_rnn_cell_forward(cell, dc_randn(NULL, DC_F32, DC_SHAPE(2, 2)), NULL, NULL,
                                     NULL), "x must be [batch, 3]");
    CHECK_ERROR(!dc_rnn_cell_forward(m, x, NULL, NULL, NULL), "not an RNNCell");
    CHECK_ERROR(!dc_rnn_forward(cell, x, NULL, NULL, NULL, NULL, NULL), "not an RNN");
    CHECK_ERROR(!dc_lstm_fused_cell(dc_zeros(DC_F32, DC_SHAPE(2, 6)), NULL, NULL), "gx must be [B, 4*hidden]");
    CHECK_ERROR(!dc_gru_fused_cell(dc_zeros(DC_F32, DC_SHAPE(2, 6)), dc_zeros(DC_F32, DC_SHAPE(2, 6)),
                                   dc_zeros(DC_F32, DC_SHAPE(2, 3))), "h must be [2, 2]");
    dc_module_free(cell);
    dc_module_free(m);
    dc_module_free(gru);
}

TEST(test_sequence_attention_bad_inputs_are_clear_errors)
{
    dc_module *a = dc_seq_attention_new(DC_ATTN_ADDITIVE, 5, 4, 6, NULL);
    REQUIRE(a);
    dc_tensor *q = dc_randn(NULL, DC_F32, DC_SHAPE(2, 5)), *k = dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 4));
    CHECK_ERROR(!dc_seq_attention_forward(a, q, dc_randn(NULL, DC_F32, DC_SHAPE(2, 3, 5)), NULL,
                                          NULL, NULL), "keys must be");
    CHECK_ERROR(!dc_seq_attention_forward(a, dc_randn(NULL, DC_F32, DC_SHAPE(3, 5)), k, NULL, NULL,
                                          NULL), "query must be");
    CHECK_ERROR(!dc_seq_attention_forward(a, q, k, dc_randn(NULL, DC_F32, DC_SHAPE(2, 4, 7)), NULL,
                                          NULL), "values");
    CHECK_ERROR(!dc_seq_attention_forward(a, q, k, NULL, dc_ones(DC_F32, DC_SHAPE(2, 4)), NULL),
                "mask must be [batch, source] = [2, 3]");
    int64_t none[] = {1, 1, 1, 0, 0, 0};
    CHECK_ERROR(!dc_seq_attention_forward(a, q, k, NULL, dc_from_buffer(DC_I64, DC_SHAPE(2, 3), none),
                                          NULL), "mask row 1 allows no source position");
    CHECK_ERROR(!dc_seq_attention_new(DC_ATTN_DOT, 5, 4, 0, NULL), "query_dim == key_dim");
    CHECK_ERROR(!dc_forward(a, q), "dc_seq_attention_forward");
    dc_module_free(a);
}
