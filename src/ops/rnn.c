/* Recurrent cells (torch.nn.RNNCell / LSTMCell / GRUCell as functions), forward and backward
 * side by side. The pointwise part of an LSTM or GRU step is one fused op each (torch's
 * _thnn_fused_lstm_cell / _thnn_fused_gru_cell): given the gate pre-activations from the
 * input, gx = x W_ih^T + b_ih, and from the state, gh = h W_hh^T + b_hh, it computes the new
 * state in one pass and keeps the gate activations for backward, so a sequence step records
 * one matmul and one node instead of a dozen elementwise ops. The sequence modules of
 * src/nn/rnn.c compute gx for all time steps in one matmul and call these per step.
 *
 * LSTM (gate order i, f, g, o as torch), with a = gx + gh split into four [B, H] blocks:
 *   i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o)    (s = sigmoid)
 *   c' = f c + i g,  h' = o tanh(c')
 * backward, with dh, dc' the incoming gradients and t = tanh(c'):
 *   dC = dc' + dh o (1 - t^2)
 *   da_i = dC g i (1 - i), da_f = dC c f (1 - f), da_g = dC i (1 - g^2), da_o = dh t o (1 - o)
 *   dgx = dgh = da,  dc = dC f
 * GRU (gate order r, z, n as torch; the reset gate multiplies W_hn h + b_hn):
 *   r = s(gx_r + gh_r), z = s(gx_z + gh_z), n = tanh(gx_n + r gh_n),  h' = (1 - z) n + z h
 * backward, with g = dh':
 *   dn = g (1 - z) (1 - n^2), dz = g (h - n) z (1 - z), dr = dn gh_n r (1 - r)
 *   dgx = [dr, dz, dn], dgh = [dr, dz, dn r], dh = g z */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>

/* A [rows, n] operand with unit inner stride (made so by the caller): data and row stride. */
typedef struct {
    const char *p;
    int64_t rs;
} rows_in;

static rows_in rows_of(const dc_tensor *t)
{
    return (rows_in){t ? (const char *)dc_data(t) : NULL, t ? t->stride[0] : 0};
}

/* A 2-D input with unit inner stride (any row stride): itself or a contiguous copy. */
static dc_tensor *unit_inner(dc_tensor *t)
{
    if (!t || t->stride[1] == 1 || t->shape[1] <= 1) return dc__publish(dc_tensor_retain(t));
    return dc_contiguous(t);
}

#define SIGMOID(T, M, x) ((x) >= 0 ? (T)1 / (1 + M(exp)(-(x))) : M(exp)(x) / (1 + M(exp)(x)))
#define FLOAT_MATH(name) name##f
#define DOUBLE_MATH(name) name

/* ---- LSTM --------------------------------------------------------------------------------- */

typedef struct {
    dc_dtype dtype;
    int64_t B, H;
    rows_in gx, gh, c;      /* gh, c: p NULL = zeros */
    char *act;              /* [B, 4H]: i, f, g, o after their activations */
    char *out;              /* [2, B, H]: h' then c' */
    const char *g;          /* backward: incoming gradient [2, B, H] (contiguous) */
    char *dgates, *dc;      /* backward outputs [B, 4H], [B, H] (dc may be NULL) */
} lstm_job;

#define LSTM_FORWARD(T, M)                                                                     \
    for (int64_t b = begin; b < end; b++) {                                                    \
        const T *gx = (const T *)j->gx.p + b * j->gx.rs;                                       \
        const T *gh = j->gh.p ? (const T *)j->gh.p + b * j->gh.rs : NULL;                      \
        const T *c = j->c.p ? (const T *)j->c.p + b * j->c.rs : NULL;                          \
        T *act = (T *)j->act + b * 4 * H, *h1 = (T *)j->out + b * H;                           \
        T *c1 = (T *)j->out + (j->B + b) * H;                                                  \
        for (int64_t k = 0; k < H; k++) {                                                      \
            T ai = gx[k], af = gx[H + k], ag = gx[2 * H + k], ao = gx[3 * H + k];              \
            if (gh) ai += gh[k], af += gh[H + k], ag += gh[2 * H + k], ao += gh[3 * H + k];    \
            T i = SIGMOID(T, M, ai), f = SIGMOID(T, M, af), g = M(tanh)(ag);                   \
            T o = SIGMOID(T, M, ao);                                                           \
            T cn = i * g + (c ? f * c[k] : 0);                                                 \
            act[k] = i, act[H + k] = f, act[2 * H + k] = g, act[3 * H + k] = o;                \
            c1[k] = cn;                                                                        \
            h1[k] = o * M(tanh)(cn);                                                           \
        }                                                                                      \
    }

#define LSTM_BACKWARD(T, M)                                                                    \
    for (int64_t b = begin; b < end; b++) {                                                    \
        const T *act = (const T *)j->act + b * 4 * H;                                          \
        const T *c = j->c.p ? (const T *)j->c.p + b * j->c.rs : NULL;                          \
        const T *c1 = (const T *)j->out + (j->B + b) * H;                                      \
        const T *dh = (const T *)j->g + b * H, *dc1 = (const T *)j->g + (j->B + b) * H;        \
        T *da = (T *)j->dgates + b * 4 * H, *dc = j->dc ? (T *)j->dc + b * H : NULL;           \
        for (int64_t k = 0; k < H; k++) {                                                      \
            T i = act[k], f = act[H + k], g = act[2 * H + k], o = act[3 * H + k];              \
            T t = M(tanh)(c1[k]), cp = c ? c[k] : 0;                                           \
            T dC = dc1[k] + dh[k] * o * (1 - t * t);                                           \
            da[k] = dC * g * i * (1 - i);                                                      \
            da[H + k] = dC * cp * f * (1 - f);                                                 \
            da[2 * H + k] = dC * i * (1 - g * g);                                              \
            da[3 * H + k] = dh[k] * t * o * (1 - o);                                           \
            if (dc) dc[k] = dC * f;                                                            \
        }                                                                                      \
    }

static void lstm_forward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const lstm_job *j = ctx;
    const int64_t H = j->H;
    if (j->dtype == DC_F32) {
        LSTM_FORWARD(float, FLOAT_MATH)
    } else {
        LSTM_FORWARD(double, DOUBLE_MATH)
    }
}

static void lstm_backward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const lstm_job *j = ctx;
    const int64_t H = j->H;
    if (j->dtype == DC_F32) {
        LSTM_BACKWARD(float, FLOAT_MATH)
    } else {
        LSTM_BACKWARD(double, DOUBLE_MATH)
    }
}

/* Rows per chunk so a chunk holds about 8k gate elements. */
static int64_t row_grain(int64_t H) { return H >= 8192 ? 1 : 8192 / (H ? H : 1); }

/* saved[0] = act, saved[1] = out, saved[2] = c (if given); i[0] = has gh, i[1] = has c. */
static int lstm_fused_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *act = node->saved[0], *out = node->saved[1];
    const bool has_gh = node->i[0], has_c = node->i[1];
    dc_tensor *c = has_c ? node->saved[2] : NULL;
    if (!act || !out || (has_c && !c))
        return dc_error("dc_backward: lstm_fused_cell lost its saved tensors"), -1;
    const int64_t B = act->shape[0], H = act->shape[1] / 4;
    dc_tensor *gc = dc_contiguous(g);
    dc_tensor *dgates = dc__alloc_result(g->dtype, 2, (int64_t[]){B, 4 * H});
    const int ic = has_gh ? 2 : 1;
    const bool want_c = has_c && dc__needs_grad(node, ic);
    dc_tensor *dc = want_c ? dc__alloc_result(g->dtype, 2, (int64_t[]){B, H}) : NULL;
    if (!gc || !dgates || (want_c && !dc)) {
        dc_tensor_free(dgates);
        dc_tensor_free(dc);
        return -1;
    }
    lstm_job j = {.dtype = g->dtype, .B = B, .H = H, .c = rows_of(c), .act = dc_data(act),
                  .out = dc_data(out), .g = dc_data(gc), .dgates = dc_data(dgates),
                  .dc = dc ? dc_data(dc) : NULL};
    dc_parallel_for(B, row_grain(4 * H), lstm_backward_rows, &j);
    dgates = dc__publish(dgates);
    grads[0] = dgates;
    if (has_gh) grads[1] = dgates; /* d(gx + gh) reaches both alike */
    if (want_c) grads[ic] = dc__publish(dc);
    return 0;
}

/* Shared checks of a fused cell: gates [B, G*H] (gh the same shape when given), state [B, H]. */
static bool check_gates(const char *op, const dc_tensor *gx, const dc_tensor *gh,
                        const dc_tensor *state, const char *state_name, int G)
{
    char a[96], b[96];
    if (!dc__check_float(gx, op)) return false;
    if (gx->ndim != 2 || gx->shape[1] % G != 0)
        return dc_error("%s: gx must be [B, %d*hidden], got %s", op, G,
                        dc__shape_fmt(gx->ndim, gx->shape, a, sizeof a)),
               false;
    if (gh && (!dc_same_shape(gx, gh) || !dc__check_same_dtype(gx, gh, op)))
        return dc_error("%s: gh %s must have gx's shape %s and dtype", op,
                        dc__shape_fmt(gh->ndim, gh->shape, a, sizeof a),
                        dc__shape_fmt(gx->ndim, gx->shape, b, sizeof b)),
               false;
    const int64_t H = gx->shape[1] / G;
    if (state && (state->ndim != 2 || state->shape[0] != gx->shape[0] || state->shape[1] != H ||
                  state->dtype != gx->dtype))
        return dc_error("%s: %s must be [%lld, %lld] of gx's dtype, got %s", op, state_name,
                        (long long)gx->shape[0], (long long)H,
                        dc__shape_fmt(state->ndim, state->shape, a, sizeof a)),
               false;
    return true;
}

dc_tensor *dc_lstm_fused_cell(dc_tensor *gx, dc_tensor *gh, dc_tensor *c)
{
    static const char op[] = "dc_lstm_fused_cell";
    DC_CHECK_TENSOR(gx, op);
    if (!check_gates(op, gx, gh, c, "c", 4)) return NULL;
    const int64_t B = gx->shape[0], H = gx->shape[1] / 4;
    size_t scope = dc_scope_begin();
    dc_tensor *ugx = unit_inner(gx), *ugh = gh ? unit_inner(gh) : NULL;
    dc_tensor *uc = c ? unit_inner(c) : NULL;
    dc_tensor *out = dc__alloc_result(gx->dtype, 3, (int64_t[]){2, B, H});
    dc_tensor *act = dc__alloc_result(gx->dtype, 2, (int64_t[]){B, 4 * H});
    if (!ugx || (gh && !ugh) || (c && !uc) || !out || !act) {
        dc_tensor_free(out);
        dc_tensor_free(act);
        return dc_scope_return(scope, NULL);
    }
    lstm_job j = {.dtype = gx->dtype, .B = B, .H = H, .gx = rows_of(ugx), .gh = rows_of(ugh),
                  .c = rows_of(uc), .act = dc_data(act), .out = dc_data(out)};
    dc_parallel_for(B, row_grain(4 * H), lstm_forward_rows, &j);
    dc_tensor *inputs[3];
    int n = 0;
    inputs[n++] = ugx;
    if (ugh) inputs[n++] = ugh;
    if (uc) inputs[n++] = uc;
    dc_node *node;
    if (dc__record(out, "lstm_fused_cell", lstm_fused_backward, n, inputs, &node) != 0) {
        dc_tensor_free(out);
        dc_tensor_free(act);
        return dc_scope_return(scope, NULL);
    }
    if (node) {
        node->i[0] = gh != NULL;
        node->i[1] = c != NULL;
        dc__save(node, act);
        dc__save(node, out);
        if (uc) dc__save(node, uc);
    }
    dc_tensor_free(act);
    return dc_scope_return(scope, dc__publish(out));
}

/* ---- GRU ---------------------------------------------------------------------------------- */

typedef struct {
    dc_dtype dtype;
    int64_t H;
    rows_in gx, gh, h;
    char *act;           /* [B, 3H]: r, z, n after their activations */
    char *out;           /* [B, H] */
    const char *g;       /* backward: dh' [B, H] (contiguous) */
    char *dgx, *dgh, *dh; /* backward outputs (each may be NULL) */
} gru_job;

#define GRU_FORWARD(T, M)                                                                      \
    for (int64_t b = begin; b < end; b++) {                                                    \
        const T *gx = (const T *)j->gx.p + b * j->gx.rs, *gh = (const T *)j->gh.p + b * j->gh.rs; \
        const T *h = (const T *)j->h.p + b * j->h.rs;                                          \
        T *act = (T *)j->act + b * 3 * H, *h1 = (T *)j->out + b * H;                           \
        for (int64_t k = 0; k < H; k++) {                                                      \
            T ar = gx[k] + gh[k], az = gx[H + k] + gh[H + k];                                  \
            T r = SIGMOID(T, M, ar), z = SIGMOID(T, M, az);                                    \
            T n = M(tanh)(gx[2 * H + k] + r * gh[2 * H + k]);                                  \
            act[k] = r, act[H + k] = z, act[2 * H + k] = n;                                    \
            h1[k] = (1 - z) * n + z * h[k];                                                    \
        }                                                                                      \
    }

#define GRU_BACKWARD(T, M)                                                                     \
    for (int64_t b = begin; b < end; b++) {                                                    \
        const T *gh = (const T *)j->gh.p + b * j->gh.rs, *h = (const T *)j->h.p + b * j->h.rs; \
        const T *act = (const T *)j->act + b * 3 * H, *g = (const T *)j->g + b * H;            \
        T *dgx = j->dgx ? (T *)j->dgx + b * 3 * H : NULL;                                      \
        T *dgh = j->dgh ? (T *)j->dgh + b * 3 * H : NULL, *dh = j->dh ? (T *)j->dh + b * H : NULL; \
        for (int64_t k = 0; k < H; k++) {                                                      \
            T r = act[k], z = act[H + k], n = act[2 * H + k];                                  \
            T dn = g[k] * (1 - z) * (1 - n * n);                                               \
            T dz = g[k] * (h[k] - n) * z * (1 - z);                                            \
            T dr = dn * gh[2 * H + k] * r * (1 - r);                                           \
            if (dgx) dgx[k] = dr, dgx[H + k] = dz, dgx[2 * H + k] = dn;                        \
            if (dgh) dgh[k] = dr, dgh[H + k] = dz, dgh[2 * H + k] = dn * r;                    \
            if (dh) dh[k] = g[k] * z;                                                          \
        }                                                                                      \
    }

static void gru_forward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gru_job *j = ctx;
    const int64_t H = j->H;
    if (j->dtype == DC_F32) {
        GRU_FORWARD(float, FLOAT_MATH)
    } else {
        GRU_FORWARD(double, DOUBLE_MATH)
    }
}

static void gru_backward_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gru_job *j = ctx;
    const int64_t H = j->H;
    if (j->dtype == DC_F32) {
        GRU_BACKWARD(float, FLOAT_MATH)
    } else {
        GRU_BACKWARD(double, DOUBLE_MATH)
    }
}

/* saved[0] = act, saved[1] = gh, saved[2] = h (the inputs, unit inner stride). */
static int gru_fused_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *act = node->saved[0], *gh = node->saved[1], *h = node->saved[2];
    if (!act || !gh || !h) return dc_error("dc_backward: gru_fused_cell lost its saved tensors"), -1;
    const int64_t B = act->shape[0], H = act->shape[1] / 3;
    dc_tensor *gc = dc_contiguous(g), *out[3] = {NULL, NULL, NULL};
    const int64_t widths[3] = {3 * H, 3 * H, H};
    bool ok = gc != NULL;
    for (int k = 0; k < 3 && ok; k++)
        if (dc__needs_grad(node, k))
            ok = (out[k] = dc__alloc_result(g->dtype, 2, (int64_t[]){B, widths[k]})) != NULL;
    if (!ok) {
        for (int k = 0; k < 3; k++) dc_tensor_free(out[k]);
        return -1;
    }
    gru_job j = {.dtype = g->dtype, .H = H, .gh = rows_of(gh), .h = rows_of(h),
                 .act = dc_data(act), .g = dc_data(gc),
                 .dgx = out[0] ? dc_data(out[0]) : NULL, .dgh = out[1] ? dc_data(out[1]) : NULL,
                 .dh = out[2] ? dc_data(out[2]) : NULL};
    dc_parallel_for(B, row_grain(3 * H), gru_backward_rows, &j);
    for (int k = 0; k < 3; k++)
        if (out[k]) grads[k] = dc__publish(out[k]);
    return 0;
}

dc_tensor *dc_gru_fused_cell(dc_tensor *gx, dc_tensor *gh, dc_tensor *h)
{
    static const char op[] = "dc_gru_fused_cell";
    DC_CHECK_TENSOR(gx, op);
    DC_CHECK_TENSOR(gh, op);
    DC_CHECK_TENSOR(h, op);
    if (!check_gates(op, gx, gh, h, "h", 3)) return NULL;
    const int64_t B = gx->shape[0], H = gx->shape[1] / 3;
    size_t scope = dc_scope_begin();
    dc_tensor *inputs[3] = {unit_inner(gx), unit_inner(gh), unit_inner(h)};
    dc_tensor *out = dc__alloc_result(gx->dtype, 2, (int64_t[]){B, H});
    dc_tensor *act = dc__alloc_result(gx->dtype, 2, (int64_t[]){B, 3 * H});
    dc_node *node = NULL;
    bool ok = inputs[0] && inputs[1] && inputs[2] && out && act;
    if (ok) {
        gru_job j = {.dtype = gx->dtype, .H = H, .gx = rows_of(inputs[0]),
                     .gh = rows_of(inputs[1]), .h = rows_of(inputs[2]), .act = dc_data(act),
                     .out = dc_data(out)};
        dc_parallel_for(B, row_grain(3 * H), gru_forward_rows, &j);
        ok = dc__record(out, "gru_fused_cell", gru_fused_backward, 3, inputs, &node) == 0;
    }
    if (!ok) {
        dc_tensor_free(out);
        dc_tensor_free(act);
        return dc_scope_return(scope, NULL);
    }
    if (node) {
        dc__save(node, act);
        dc__save(node, inputs[1]);
        dc__save(node, inputs[2]);
    }
    dc_tensor_free(act);
    return dc_scope_return(scope, dc__publish(out));
}

/* ---- Cells with their weights ------------------------------------------------------------- */

/* x [B, I], state [B, H] (nullable), w_ih [G*H, I], w_hh [G*H, H], biases [G*H] (nullable). */
static bool check_cell(const char *op, const dc_tensor *x, const dc_tensor *h, const dc_tensor *c,
                       const dc_tensor *w_ih, const dc_tensor *w_hh, const dc_tensor *b_ih,
                       const dc_tensor *b_hh, int G)
{
    char a[96], b[96];
    if (!x || !w_ih || !w_hh)
        return dc_error("%s: %s is NULL", op, !x ? "x" : !w_ih ? "w_ih" : "w_hh"), false;
    if (!dc__check_float(x, op)) return false;
    if (w_ih->ndim != 2 || w_ih->shape[0] % G != 0 || w_ih->shape[0] == 0)
        return dc_error("%s: w_ih must be [%d*hidden, input], got %s", op, G,
                        dc__shape_fmt(w_ih->ndim, w_ih->shape, a, sizeof a)),
               false;
    const int64_t GH = w_ih->shape[0], H = GH / G, I = w_ih->shape[1];
    if (x->ndim != 2 || x->shape[1] != I)
        return dc_error("%s: x must be [batch, %lld] (w_ih is %s), got %s", op, (long long)I,
                        dc__shape_fmt(w_ih->ndim, w_ih->shape, b, sizeof b),
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a)),
               false;
    if (w_hh->ndim != 2 || w_hh->shape[0] != GH || w_hh->shape[1] != H)
        return dc_error("%s: w_hh must be [%lld, %lld], got %s", op, (long long)GH, (long long)H,
                        dc__shape_fmt(w_hh->ndim, w_hh->shape, a, sizeof a)),
               false;
    const dc_tensor *biases[2] = {b_ih, b_hh}, *states[2] = {h, c};
    for (int k = 0; k < 2; k++) {
        if (biases[k] && (biases[k]->ndim != 1 || biases[k]->shape[0] != GH))
            return dc_error("%s: %s must be [%lld], got %s", op, k ? "b_hh" : "b_ih", (long long)GH,
                            dc__shape_fmt(biases[k]->ndim, biases[k]->shape, a, sizeof a)),
                   false;
        if (states[k] && (states[k]->ndim != 2 || states[k]->shape[0] != x->shape[0] ||
                          states[k]->shape[1] != H))
            return dc_error("%s: %s must be [%lld, %lld], got %s", op, k ? "c" : "h",
                            (long long)x->shape[0], (long long)H,
                            dc__shape_fmt(states[k]->ndim, states[k]->shape, a, sizeof a)),
                   false;
    }
    return true;
}

/* h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); h NULL = zeros. */
static dc_tensor *simple_cell(const char *op, bool relu, dc_tensor *x, dc_tensor *h,
                              dc_tensor *w_ih, dc_tensor *w_hh, dc_tensor *b_ih, dc_tensor *b_hh)
{
    if (!check_cell(op, x, h, NULL, w_ih, w_hh, b_ih, b_hh, 1)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_linear(x, w_ih, b_ih);
    if (h) a = dc_add(a, dc_linear(h, w_hh, b_hh));
    else if (b_hh) a = dc_add(a, b_hh);
    return dc_scope_return(scope, relu ? dc_relu(a) : dc_tanh(a));
}

dc_tensor *dc_rnn_tanh_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                            dc_tensor *b_ih, dc_tensor *b_hh)
{
    return simple_cell("dc_rnn_tanh_cell", false, x, h, w_ih, w_hh, b_ih, b_hh);
}

dc_tensor *dc_rnn_relu_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                            dc_tensor *b_ih, dc_tensor *b_hh)
{
    return simple_cell("dc_rnn_relu_cell", true, x, h, w_ih, w_hh, b_ih, b_hh);
}

dc_tensor *dc_lstm_cell(dc_tensor *x, dc_tensor *h, dc_tensor *c, dc_tensor *w_ih,
                        dc_tensor *w_hh, dc_tensor *b_ih, dc_tensor *b_hh)
{
    if (!check_cell("dc_lstm_cell", x, h, c, w_ih, w_hh, b_ih, b_hh, 4)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *gx = dc_linear(x, w_ih, b_ih), *gh = NULL;
    if (h) gh = dc_linear(h, w_hh, b_hh);
    else if (b_hh) gx = dc_add(gx, b_hh);
    return dc_scope_return(scope, gx ? dc_lstm_fused_cell(gx, gh, c) : NULL);
}

dc_tensor *dc_gru_cell(dc_tensor *x, dc_tensor *h, dc_tensor *w_ih, dc_tensor *w_hh,
                       dc_tensor *b_ih, dc_tensor *b_hh)
{
    if (!check_cell("dc_gru_cell", x, h, NULL, w_ih, w_hh, b_ih, b_hh, 3)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *h0 = h ? h : dc_zeros(x->dtype, 2, (int64_t[]){x->shape[0], w_hh->shape[1]});
    dc_tensor *gx = dc_linear(x, w_ih, b_ih), *gh = dc_linear(h0, w_hh, b_hh);
    return dc_scope_return(scope, dc_gru_fused_cell(gx, gh, h0));
}
