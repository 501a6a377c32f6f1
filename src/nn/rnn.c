/* Recurrent layers: torch.nn.RNN (tanh, relu), LSTM and GRU as multi-layer, optionally
 * bidirectional sequence modules, their single-step cells, and the attention of
 * encoder-decoder models (Bahdanau's additive, Luong's dot and general).
 *
 * A layer runs over time as the autograd over the unrolled steps (back-propagation through
 * time): the input projections of all steps are one matmul, gx = x W_ih^T + b for the whole
 * sequence [T*B, I], and each step adds only its recurrent matmul h W_hh^T and one fused
 * pointwise op (dc_lstm_fused_cell / dc_gru_fused_cell of src/ops/rnn.c; tanh/relu of a sum
 * for the plain RNN), so a step records three or four small nodes. For the LSTM and the plain
 * RNN both biases enter gx (b_ih + b_hh once for all steps; their gradients are the same sum);
 * the GRU keeps b_hh in the step, where its n part is multiplied by the reset gate.
 *
 * Variable lengths (pack_padded_sequence semantics) use a per-step mask m[b] = t < len[b]:
 * h = m ? h_new : h_old (the same for c), outputs m ? h_new : 0. So padded steps change no
 * state and pass no gradient, h_n is each sequence's state at its last valid step, and the
 * reverse direction, which runs t = T-1 .. 0, keeps its initial state until it reaches each
 * sequence's own last valid step. */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    dc_rnn_mode mode;
    int64_t input_size, hidden_size;
    dc_rnn_opts opts;
} rnn_impl;

static const char *const rnn_types[] = {[DC_RNN_TANH] = "RNN", [DC_RNN_RELU] = "RNN",
                                        [DC_RNN_LSTM] = "LSTM", [DC_RNN_GRU] = "GRU"};
static const char *const cell_types[] = {[DC_RNN_TANH] = "RNNCell", [DC_RNN_RELU] = "RNNCell",
                                         [DC_RNN_LSTM] = "LSTMCell", [DC_RNN_GRU] = "GRUCell"};

/* Gates per hidden unit: 1, 4 (i, f, g, o) or 3 (r, z, n). */
static int gate_count(dc_rnn_mode mode)
{
    return mode == DC_RNN_LSTM ? 4 : mode == DC_RNN_GRU ? 3 : 1;
}

/* Register weight_ih<suffix>, weight_hh<suffix> (and the biases) drawn from
 * U(-1/sqrt(hidden), 1/sqrt(hidden)), torch's initialisation of every RNN parameter. */
static bool add_weights(dc_module *m, const char *suffix, int64_t gates, int64_t in, int64_t hidden,
                        bool bias, dc_rng *rng)
{
    const double k = 1.0 / sqrt((double)hidden);
    const int64_t rows = gates * hidden;
    char name[64];
    size_t scope = dc_scope_begin();
    bool ok = true;
    snprintf(name, sizeof name, "weight_ih%s", suffix);
    ok = ok && dc_module_add_param(m, name, dc_uniform(rng, DC_F32, 2, (int64_t[]){rows, in}, -k, k));
    snprintf(name, sizeof name, "weight_hh%s", suffix);
    ok = ok && dc_module_add_param(m, name, dc_uniform(rng, DC_F32, 2, (int64_t[]){rows, hidden}, -k, k));
    if (bias) {
        snprintf(name, sizeof name, "bias_ih%s", suffix);
        ok = ok && dc_module_add_param(m, name, dc_uniform(rng, DC_F32, 1, &rows, -k, k));
        snprintf(name, sizeof name, "bias_hh%s", suffix);
        ok = ok && dc_module_add_param(m, name, dc_uniform(rng, DC_F32, 1, &rows, -k, k));
    }
    dc_scope_end(scope);
    return ok;
}

static bool check_mode(dc_rnn_mode mode, const char *op)
{
    if ((unsigned)mode > DC_RNN_GRU) return dc_error("%s: unknown mode %d", op, (int)mode), false;
    return true;
}

/* ---- Sequence modules ------------------------------------------------------------------------ */

static dc_tensor *rnn_module_forward(dc_module *m, dc_tensor *x)
{
    return dc_rnn_forward(m, x, NULL, NULL, NULL, NULL, NULL);
}

static void rnn_describe(const dc_module *m, char *buf, size_t size)
{
    const rnn_impl *r = m->impl;
    snprintf(buf, size, "%lld, %lld, num_layers=%d%s%s%s%s", (long long)r->input_size,
             (long long)r->hidden_size, r->opts.num_layers,
             r->mode == DC_RNN_RELU ? ", nonlinearity='relu'" : "", r->opts.bias ? "" : ", bias=False",
             r->opts.batch_first ? ", batch_first=True" : "",
             r->opts.bidirectional ? ", bidirectional=True" : "");
    if (r->opts.dropout > 0) {
        size_t used = strlen(buf);
        snprintf(buf + used, size - used, ", dropout=%g", r->opts.dropout);
    }
}

dc_module *dc_rnn_new(dc_rnn_mode mode, int64_t input_size, int64_t hidden_size, dc_rnn_opts opts,
                      dc_rng *rng)
{
    static const char op[] = "dc_rnn_new";
    if (!check_mode(mode, op)) return NULL;
    if (input_size < 1 || hidden_size < 1 || opts.num_layers < 1)
        return dc_error("%s: input_size, hidden_size and num_layers must be >= 1 (got %lld, %lld, "
                        "%d)", op, (long long)input_size, (long long)hidden_size, opts.num_layers);
    if (!(opts.dropout >= 0 && opts.dropout <= 1))
        return dc_error("%s: dropout must be in [0, 1], got %g", op, opts.dropout);
    rnn_impl impl = {mode, input_size, hidden_size, opts};
    dc_module *m = dc_module_new_impl(rnn_types[mode], &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = rnn_module_forward;
    m->describe = rnn_describe;
    const int D = opts.bidirectional ? 2 : 1;
    for (int l = 0; l < opts.num_layers; l++)
        for (int d = 0; d < D; d++) {
            char suffix[32];
            snprintf(suffix, sizeof suffix, "_l%d%s", l, d ? "_reverse" : "");
            int64_t in = l == 0 ? input_size : D * hidden_size;
            if (!add_weights(m, suffix, gate_count(mode), in, hidden_size, opts.bias, rng)) {
                dc_module_free(m);
                return dc_error("%s: could not create the parameters (%s)", op, dc_last_error());
            }
        }
    return m;
}

/* The parameters of layer l, direction d (biases NULL without bias). */
typedef struct {
    dc_tensor *w_ih, *w_hh, *b_ih, *b_hh;
} layer_params;

static layer_params params_of(const dc_module *m, int l, int d)
{
    char name[64];
    layer_params p;
    const char *rev = d ? "_reverse" : "";
    snprintf(name, sizeof name, "weight_ih_l%d%s", l, rev);
    p.w_ih = dc_module_param(m, name);
    snprintf(name, sizeof name, "weight_hh_l%d%s", l, rev);
    p.w_hh = dc_module_param(m, name);
    snprintf(name, sizeof name, "bias_ih_l%d%s", l, rev);
    p.b_ih = dc_module_param(m, name);
    snprintf(name, sizeof name, "bias_hh_l%d%s", l, rev);
    p.b_hh = dc_module_param(m, name);
    return p;
}

/* A state h0 / c0 of shape [L*D, B, H], NULL allowed. */
static bool check_state(const char *op, const char *what, const dc_tensor *s, int64_t LD, int64_t B,
                        int64_t H, dc_dtype dtype)
{
    if (!s) return true;
    char a[96];
    if (s->ndim != 3 || s->shape[0] != LD || s->shape[1] != B || s->shape[2] != H)
        return dc_error("%s: %s must be [num_layers*directions, batch, hidden] = [%lld, %lld, %lld], "
                        "got %s", op, what, (long long)LD, (long long)B, (long long)H,
                        dc__shape_fmt(s->ndim, s->shape, a, sizeof a)),
               false;
    if (s->dtype != dtype)
        return dc_error("%s: %s is %s, the module's parameters are %s", op, what,
                        dc_dtype_name(s->dtype), dc_dtype_name(dtype)),
               false;
    return true;
}

/* lengths: I64 [B] with 1 <= len <= T, into len[] (malloc'ed, caller frees). */
static int64_t *read_lengths(const char *op, const dc_tensor *lengths, int64_t B, int64_t T)
{
    char a[96];
    if (lengths->dtype != DC_I64 || lengths->ndim != 1 || lengths->shape[0] != B)
        return dc_error("%s: lengths must be int64 [%lld] (one per sequence), got %s %s", op,
                        (long long)B, dc_dtype_name(lengths->dtype),
                        dc__shape_fmt(lengths->ndim, lengths->shape, a, sizeof a));
    int64_t *len = malloc((size_t)B * sizeof *len);
    if (!len) return dc_error("%s: out of memory", op);
    const int64_t *p = dc_data(lengths);
    for (int64_t b = 0; b < B; b++) {
        len[b] = p[b * lengths->stride[0]];
        if (len[b] < 1 || len[b] > T) {
            long long bad = (long long)len[b];
            free(len);
            return dc_error("%s: lengths[%lld] = %lld is outside [1, %lld] (the sequence length)",
                            op, (long long)b, bad, (long long)T);
        }
    }
    return len;
}

/* [T, B, 1] float mask m[t, b] = t < len[b]. */
static dc_tensor *step_masks(const int64_t *len, int64_t T, int64_t B, dc_dtype dtype)
{
    double *v = malloc((size_t)(T * B) * sizeof *v);
    if (!v) return dc_error("dc_rnn_forward: out of memory");
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) v[t * B + b] = t < len[b] ? 1.0 : 0.0;
    dc_tensor *m = dc_from_buffer(DC_F64, 3, (int64_t[]){T, B, 1}, v);
    free(v);
    return dtype == DC_F64 ? m : dc_to_dtype(m, dtype);
}

/* One direction of one layer over the whole sequence: input [T, B, In] -> [T, B, H] (stacked
 * along out_dim: 0, or 1 for a batch-first result); *h / *c enter as the initial state (NULL:
 * zeros) and leave as the final one. masks: NULL or [T, B, 1]. */
static dc_tensor *run_direction(dc_rnn_mode mode, const layer_params *p, dc_tensor *input,
                                bool reverse, dc_tensor *masks, int out_dim, dc_tensor **h,
                                dc_tensor **c)
{
    const int64_t T = input->shape[0], B = input->shape[1], H = p->w_hh->shape[1];
    dc_tensor *in_bias = p->b_ih, *step_bias = NULL;
    if (mode == DC_RNN_GRU) step_bias = p->b_hh;
    else if (p->b_ih && p->b_hh) in_bias = dc_add(p->b_ih, p->b_hh);
    else if (p->b_hh) in_bias = p->b_hh;
    dc_tensor *gx = dc_linear(input, p->w_ih, in_bias); /* every step's input projection */
    if (!gx) return NULL;
    if (mode == DC_RNN_GRU && !*h) *h = dc_zeros(input->dtype, 2, (int64_t[]){B, H});
    dc_tensor **outs = malloc((size_t)T * sizeof *outs);
    if (!outs) return dc_error("dc_rnn_forward: out of memory");
    bool ok = true;
    for (int64_t s = 0; s < T && ok; s++) {
        const int64_t t = reverse ? T - 1 - s : s;
        dc_tensor *xt = dc_select(gx, 0, t), *hn = NULL, *cn = NULL;
        switch (mode) {
        case DC_RNN_TANH:
        case DC_RNN_RELU: {
            dc_tensor *a = *h ? dc_add(xt, dc_linear(*h, p->w_hh, NULL)) : xt;
            hn = mode == DC_RNN_RELU ? dc_relu(a) : dc_tanh(a);
            break;
        }
        case DC_RNN_LSTM: {
            dc_tensor *hc = dc_lstm_fused_cell(xt, *h ? dc_linear(*h, p->w_hh, NULL) : NULL, *c);
            hn = dc_select(hc, 0, 0);
            cn = dc_select(hc, 0, 1);
            break;
        }
        case DC_RNN_GRU: hn = dc_gru_fused_cell(xt, dc_linear(*h, p->w_hh, step_bias), *h); break;
        }
        dc_tensor *out = hn;
        if (masks && hn) {
            dc_tensor *m = dc_select(masks, 0, t);
            out = dc_mul(hn, m);
            hn = *h ? dc_where(m, hn, *h) : out;
            if (cn) cn = *c ? dc_where(m, cn, *c) : dc_mul(cn, m);
        }
        outs[t] = out;
        *h = hn;
        if (mode == DC_RNN_LSTM) *c = cn;
        ok = out && hn && (mode != DC_RNN_LSTM || cn);
    }
    dc_tensor *y = ok ? dc_stack(outs, (int)T, out_dim) : NULL;
    free(outs);
    return y;
}

static bool is_rnn(const dc_module *m) { return m && m->forward == rnn_module_forward; }

dc_tensor *dc_rnn_forward(dc_module *m, dc_tensor *x, dc_tensor *h0, dc_tensor *c0,
                          dc_tensor *lengths, dc_tensor **h_n, dc_tensor **c_n)
{
    static const char op[] = "dc_rnn_forward";
    if (h_n) *h_n = NULL;
    if (c_n) *c_n = NULL;
    if (!is_rnn(m)) return dc_error("%s: module is %s, not an RNN, LSTM or GRU", op, m ? m->type : "NULL");
    const rnn_impl *r = m->impl;
    DC_CHECK_TENSOR(x, op);
    char a[96];
    const dc_tensor *w0 = dc_module_param(m, "weight_ih_l0");
    const int L = r->opts.num_layers, D = r->opts.bidirectional ? 2 : 1;
    const int64_t H = r->hidden_size, I = r->input_size;
    if (x->ndim != 3 || x->shape[2] != I)
        return dc_error("%s: x must be [%s, %lld] (input_size %lld), got %s", op,
                        r->opts.batch_first ? "batch, seq" : "seq, batch", (long long)I,
                        (long long)I, dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    if (x->dtype != w0->dtype)
        return dc_error("%s: x is %s, the module's parameters are %s", op, dc_dtype_name(x->dtype),
                        dc_dtype_name(w0->dtype));
    const int64_t B = x->shape[r->opts.batch_first ? 0 : 1], T = x->shape[r->opts.batch_first ? 1 : 0];
    if (B < 1 || T < 1)
        return dc_error("%s: empty input %s (batch %lld, sequence length %lld)", op,
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a), (long long)B, (long long)T);
    if (c0 && r->mode != DC_RNN_LSTM)
        return dc_error("%s: c0 is given but %s has no cell state", op, m->type);
    if (!check_state(op, "h0", h0, (int64_t)L * D, B, H, x->dtype) ||
        !check_state(op, "c0", c0, (int64_t)L * D, B, H, x->dtype))
        return NULL;
    if (c_n && r->mode != DC_RNN_LSTM)
        return dc_error("%s: c_n is requested but %s has no cell state", op, m->type);
    int64_t *len = lengths ? read_lengths(op, lengths, B, T) : NULL;
    if (lengths && !len) return NULL;
    bool all_full = true;
    for (int64_t b = 0; len && b < B; b++) all_full = all_full && len[b] == T;

    size_t scope = dc_scope_begin();
    const bool masked = len && !all_full;
    dc_tensor *masks = masked ? step_masks(len, T, B, x->dtype) : NULL;
    free(len);
    if (masked && !masks) return dc_scope_return(scope, NULL);
    /* each direction's final state: fh[l*D + d], fc[l*D + d] */
    dc_tensor **fh = calloc((size_t)(2 * L * D), sizeof *fh), **fc = fh ? fh + L * D : NULL;
    if (!fh) return dc_scope_return(scope, dc_error("%s: out of memory", op));
    dc_tensor *input = r->opts.batch_first ? dc_transpose(x, 0, 1) : x, *y = input;
    for (int l = 0; l < L && y; l++) {
        const int out_dim = l == L - 1 && r->opts.batch_first ? 1 : 0;
        dc_tensor *dirs[2] = {NULL, NULL};
        for (int d = 0; d < D; d++) {
            const int k = l * D + d;
            layer_params p = params_of(m, l, d);
            fh[k] = h0 ? dc_select(h0, 0, k) : NULL;
            fc[k] = c0 ? dc_select(c0, 0, k) : NULL;
            dirs[d] = run_direction(r->mode, &p, input, d == 1, masks, out_dim, &fh[k], &fc[k]);
            if (!dirs[d]) break;
        }
        y = D == 2 ? (dirs[1] ? dc_cat(dirs, 2, 2) : NULL) : dirs[0];
        if (y && l < L - 1 && r->opts.dropout > 0 && m->training)
            y = dc_dropout(y, r->opts.dropout, true, r->opts.dropout_rng);
        input = y;
    }
    dc_tensor *hn = y && h_n ? dc_stack(fh, L * D, 0) : NULL;
    dc_tensor *cn = y && c_n ? dc_stack(fc, L * D, 0) : NULL;
    free(fh);
    bool ok = y && (!h_n || hn) && (!c_n || cn);
    if (ok) {
        dc_tensor_retain(y);
        if (hn) dc_tensor_retain(hn);
        if (cn) dc_tensor_retain(cn);
    }
    dc_scope_end(scope);
    if (!ok) return NULL;
    if (h_n) *h_n = dc__publish(hn);
    if (c_n) *c_n = dc__publish(cn);
    return dc__publish(y);
}

/* ---- Cells ----------------------------------------------------------------------------------- */

typedef struct {
    dc_rnn_mode mode;
} cell_impl;

static dc_tensor *cell_module_forward(dc_module *m, dc_tensor *x)
{
    return dc_rnn_cell_forward(m, x, NULL, NULL, NULL);
}

static void cell_describe(const dc_module *m, char *buf, size_t size)
{
    const cell_impl *ci = m->impl;
    const dc_tensor *w = dc_module_param(m, "weight_ih");
    snprintf(buf, size, "%lld, %lld%s%s", (long long)w->shape[1],
             (long long)(w->shape[0] / gate_count(ci->mode)),
             dc_module_param(m, "bias_ih") ? "" : ", bias=False",
             ci->mode == DC_RNN_RELU ? ", nonlinearity='relu'" : "");
}

dc_module *dc_rnn_cell_new(dc_rnn_mode mode, int64_t input_size, int64_t hidden_size, bool bias,
                           dc_rng *rng)
{
    static const char op[] = "dc_rnn_cell_new";
    if (!check_mode(mode, op)) return NULL;
    if (input_size < 1 || hidden_size < 1)
        return dc_error("%s: input_size and hidden_size must be >= 1 (got %lld, %lld)", op,
                        (long long)input_size, (long long)hidden_size);
    dc_module *m = dc_module_new_impl(cell_types[mode], &(cell_impl){mode}, sizeof(cell_impl));
    if (!m) return NULL;
    m->forward = cell_module_forward;
    m->describe = cell_describe;
    if (!add_weights(m, "", gate_count(mode), input_size, hidden_size, bias, rng)) {
        dc_module_free(m);
        return dc_error("%s: could not create the parameters (%s)", op, dc_last_error());
    }
    return m;
}

dc_tensor *dc_rnn_cell_forward(dc_module *m, dc_tensor *x, dc_tensor *h, dc_tensor *c,
                               dc_tensor **c_out)
{
    static const char op[] = "dc_rnn_cell_forward";
    if (c_out) *c_out = NULL;
    if (!m || m->forward != cell_module_forward)
        return dc_error("%s: module is %s, not an RNNCell, LSTMCell or GRUCell", op,
                        m ? m->type : "NULL");
    const dc_rnn_mode mode = ((const cell_impl *)m->impl)->mode;
    if (mode != DC_RNN_LSTM && (c || c_out))
        return dc_error("%s: %s has no cell state (c and c_out must be NULL)", op, m->type);
    dc_tensor *w_ih = dc_module_param(m, "weight_ih"), *w_hh = dc_module_param(m, "weight_hh");
    dc_tensor *b_ih = dc_module_param(m, "bias_ih"), *b_hh = dc_module_param(m, "bias_hh");
    switch (mode) {
    case DC_RNN_TANH: return dc_rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh);
    case DC_RNN_RELU: return dc_rnn_relu_cell(x, h, w_ih, w_hh, b_ih, b_hh);
    case DC_RNN_GRU: return dc_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh);
    case DC_RNN_LSTM: break;
    }
    size_t scope = dc_scope_begin();
    dc_tensor *hc = dc_lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh);
    dc_tensor *h1 = dc_select(hc, 0, 0), *c1 = dc_select(hc, 0, 1);
    if (!h1 || !c1) return dc_scope_return(scope, NULL);
    dc_tensor_retain(h1);
    dc_tensor_retain(c1);
    dc_scope_end(scope);
    if (c_out) *c_out = dc__publish(c1);
    else dc_tensor_free(c1);
    return dc__publish(h1);
}

/* ---- Attention for encoder-decoder models ---------------------------------------------------- */

typedef struct {
    dc_seq_attention_kind kind;
    int64_t query_dim, key_dim;
} attn_impl;

static dc_tensor *attn_module_forward(dc_module *m, dc_tensor *x)
{
    (void)x;
    return dc_error("%s: needs a query and keys; call dc_seq_attention_forward", m->type);
}

static const char *const attn_types[] = {[DC_ATTN_ADDITIVE] = "AdditiveAttention",
                                         [DC_ATTN_DOT] = "DotAttention",
                                         [DC_ATTN_GENERAL] = "GeneralAttention"};

dc_module *dc_seq_attention_new(dc_seq_attention_kind kind, int64_t query_dim, int64_t key_dim,
                                int64_t attn_dim, dc_rng *rng)
{
    static const char op[] = "dc_seq_attention_new";
    if ((unsigned)kind > DC_ATTN_GENERAL) return dc_error("%s: unknown kind %d", op, (int)kind);
    if (query_dim < 1 || key_dim < 1 || (kind == DC_ATTN_ADDITIVE && attn_dim < 1))
        return dc_error("%s: dims must be >= 1 (query %lld, key %lld, attention %lld)", op,
                        (long long)query_dim, (long long)key_dim, (long long)attn_dim);
    if (kind == DC_ATTN_DOT && query_dim != key_dim)
        return dc_error("%s: dot attention needs query_dim == key_dim (got %lld, %lld)", op,
                        (long long)query_dim, (long long)key_dim);
    attn_impl impl = {kind, query_dim, key_dim};
    dc_module *m = dc_module_new_impl(attn_types[kind], &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = attn_module_forward;
    bool ok = true;
    if (kind == DC_ATTN_ADDITIVE) {
        ok = dc_module_add_child(m, "query", dc_linear_new(query_dim, attn_dim, false, rng)) &&
             dc_module_add_child(m, "key", dc_linear_new(key_dim, attn_dim, true, rng)) &&
             dc_module_add_child(m, "v", dc_linear_new(attn_dim, 1, false, rng));
    } else if (kind == DC_ATTN_GENERAL) {
        ok = dc_module_add_child(m, "w", dc_linear_new(key_dim, query_dim, false, rng)) != NULL;
    }
    if (!ok) {
        dc_module_free(m);
        return dc_error("%s: could not create the parameters (%s)", op, dc_last_error());
    }
    return m;
}

/* mask [B, S] (any dtype, nonzero = may attend) -> [B, 1, S] 0/1 of dtype "invalid"; checks
 * that every row keeps a position. */
static dc_tensor *invalid_positions(const char *op, dc_tensor *mask, int64_t B, int64_t S,
                                    dc_dtype dtype)
{
    char a[96];
    if (mask->ndim != 2 || mask->shape[0] != B || mask->shape[1] != S)
        return dc_error("%s: mask must be [batch, source] = [%lld, %lld], got %s", op, (long long)B,
                        (long long)S, dc__shape_fmt(mask->ndim, mask->shape, a, sizeof a));
    double *v = malloc((size_t)(B * S) * sizeof *v);
    if (!v || dc_to_double_buffer(mask, v, B * S) != 0) {
        free(v);
        return dc_error("%s: cannot read the mask", op);
    }
    for (int64_t b = 0; b < B; b++) {
        bool any = false;
        for (int64_t s = 0; s < S; s++) {
            any = any || v[b * S + s] != 0;
            v[b * S + s] = v[b * S + s] != 0 ? 0.0 : 1.0;
        }
        if (!any) {
            free(v);
            return dc_error("%s: mask row %lld allows no source position", op, (long long)b);
        }
    }
    dc_tensor *t = dc_from_buffer(DC_F64, 3, (int64_t[]){B, 1, S}, v);
    free(v);
    return dtype == DC_F64 ? t : dc_to_dtype(t, dtype);
}

dc_tensor *dc_seq_attention_forward(dc_module *m, dc_tensor *query, dc_tensor *keys,
                                    dc_tensor *values, dc_tensor *mask, dc_tensor **weights)
{
    static const char op[] = "dc_seq_attention_forward";
    if (weights) *weights = NULL;
    if (!m || m->forward != attn_module_forward)
        return dc_error("%s: module is %s, not a sequence attention", op, m ? m->type : "NULL");
    DC_CHECK_TENSOR(query, op);
    DC_CHECK_TENSOR(keys, op);
    const attn_impl *at = m->impl;
    if (!values) values = keys;
    char a[96], b[96];
    if (keys->ndim != 3 || keys->shape[2] != at->key_dim || keys->shape[1] < 1)
        return dc_error("%s: keys must be [batch, source >= 1, %lld], got %s", op,
                        (long long)at->key_dim, dc__shape_fmt(keys->ndim, keys->shape, a, sizeof a));
    const int64_t B = keys->shape[0], S = keys->shape[1];
    if ((query->ndim != 2 && query->ndim != 3) || query->shape[0] != B ||
        query->shape[query->ndim - 1] != at->query_dim)
        return dc_error("%s: query must be [%lld, %lld] or [%lld, queries, %lld], got %s", op,
                        (long long)B, (long long)at->query_dim, (long long)B,
                        (long long)at->query_dim, dc__shape_fmt(query->ndim, query->shape, a, sizeof a));
    if (values->ndim != 3 || values->shape[0] != B || values->shape[1] != S)
        return dc_error("%s: values %s must be [%lld, %lld, dim] like keys %s", op,
                        dc__shape_fmt(values->ndim, values->shape, a, sizeof a), (long long)B,
                        (long long)S, dc__shape_fmt(keys->ndim, keys->shape, b, sizeof b));
    if (!dc__check_same_dtype(query, keys, op) || !dc__check_same_dtype(keys, values, op)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *invalid = mask ? invalid_positions(op, mask, B, S, keys->dtype) : NULL;
    if (mask && !invalid) return dc_scope_return(scope, NULL);
    const bool single = query->ndim == 2;
    dc_tensor *q = single ? dc_unsqueeze(query, 1) : query, *scores = NULL; /* [B, N, Dq] */
    switch (at->kind) {
    case DC_ATTN_ADDITIVE: { /* v^T tanh(W_q q + W_k k) over [B, N, S, A] */
        dc_tensor *qp = dc_forward(dc_module_child(m, "query"), q);
        dc_tensor *kp = dc_forward(dc_module_child(m, "key"), keys);
        dc_tensor *e = dc_tanh(dc_add(dc_unsqueeze(qp, 2), dc_unsqueeze(kp, 1)));
        scores = dc_squeeze(dc_forward(dc_module_child(m, "v"), e), -1);
        break;
    }
    case DC_ATTN_DOT: scores = dc_matmul(q, dc_transpose(keys, 1, 2)); break;
    case DC_ATTN_GENERAL: /* q^T W k = q . (k W^T) */
        scores = dc_matmul(q, dc_transpose(dc_forward(dc_module_child(m, "w"), keys), 1, 2));
        break;
    }
    if (invalid) scores = dc_masked_fill(scores, invalid, -INFINITY);
    dc_tensor *w = dc_softmax(scores, -1);                 /* [B, N, S] */
    dc_tensor *context = dc_matmul(w, values);             /* [B, N, Dv] */
    if (single) {
        context = dc_squeeze(context, 1);
        w = dc_squeeze(w, 1);
    }
    if (!context || !w) return dc_scope_return(scope, NULL);
    dc_tensor_retain(context);
    if (weights) dc_tensor_retain(w);
    dc_scope_end(scope);
    if (weights) *weights = dc__publish(w);
    return dc__publish(context);
}
