/* Recurrent language models: a character (or token) LSTM / GRU / RNN language model,
 *   logits = head(drop(rnn(emb(ids))))
 * with the recurrent stack of src/nn/rnn.c (batch_first, PyTorch's parameter names), and
 * sampling that carries the recurrent state from token to token, so each new token costs one
 * step of the recurrence whatever the length of the text. */
#include "deepc/models.h"
#include "../core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const rnn_lm_mode_names[] = {[DC_RNN_TANH] = "rnn_tanh",
                                                [DC_RNN_RELU] = "rnn_relu",
                                                [DC_RNN_LSTM] = "lstm", [DC_RNN_GRU] = "gru"};

/* ids [B, T] int64 with T >= 1? Sets op's error otherwise. */
static bool check_ids(const char *op, const dc_tensor *ids)
{
    if (!ids) return dc_error("%s: ids are NULL", op), false;
    if (ids->dtype == DC_I64 && ids->ndim == 2 && ids->shape[0] >= 1 && ids->shape[1] >= 1)
        return true;
    char buf[96];
    dc_error("%s: expected int64 ids [B, T] with B, T >= 1, got %s %s", op,
             dc_dtype_name(ids->dtype), dc__shape_fmt(ids->ndim, ids->shape, buf, sizeof buf));
    return false;
}

dc_tensor *dc_rnn_lm_forward(dc_module *lm, dc_tensor *ids, dc_tensor *h0, dc_tensor *c0,
                             dc_tensor **h_n, dc_tensor **c_n)
{
    static const char op[] = "dc_rnn_lm_forward";
    if (!dc_rnn_lm_get_config(lm)) return dc_error("%s: not a recurrent LM (dc_rnn_lm_new)", op);
    if (!check_ids(op, ids)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *hn = NULL, *cn = NULL;
    dc_tensor *x = dc_forward(dc_module_child(lm, "emb"), ids); /* [B, T, embedding] */
    dc_module *rnn = dc_module_child(lm, "rnn");
    if (x && !h0 && !c0 && !h_n && !c_n) x = dc_forward(rnn, x); /* (seen by the summary) */
    else if (x) x = dc_rnn_forward(rnn, x, h0, c0, NULL, h_n ? &hn : NULL, c_n ? &cn : NULL);
    if (x) x = dc_forward(dc_module_child(lm, "head"), dc_forward(dc_module_child(lm, "drop"), x));
    if (!x) { /* the layer's own error names the bad input */
        dc_scope_end(scope);
        return NULL;
    }
    /* the states outlive the scope with the logits */
    if (hn) dc_tensor_retain(hn);
    if (cn) dc_tensor_retain(cn);
    x = dc_scope_return(scope, x);
    if (h_n) *h_n = hn ? dc__publish(hn) : NULL;
    if (c_n) *c_n = cn ? dc__publish(cn) : NULL;
    return x;
}

static dc_tensor *rnn_lm_module_forward(dc_module *m, dc_tensor *ids)
{
    return dc_rnn_lm_forward(m, ids, NULL, NULL, NULL, NULL);
}

static void rnn_lm_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_rnn_lm_config *c = m->impl;
    snprintf(buf, size, "mode=%s, vocab=%lld, embedding=%lld, hidden=%lld, layers=%d, dropout=%g",
             rnn_lm_mode_names[c->mode], (long long)c->vocab, (long long)c->embedding,
             (long long)c->hidden, c->layers, c->dropout);
}

dc_module *dc_rnn_lm_new(const dc_rnn_lm_config *config, dc_rng *rng)
{
    static const char op[] = "dc_rnn_lm_new";
    if (!config) return dc_error("%s: config is NULL", op);
    const dc_rnn_lm_config c = *config;
    if ((int)c.mode < DC_RNN_TANH || (int)c.mode > DC_RNN_GRU)
        return dc_error("%s: unknown mode %d", op, (int)c.mode);
    if (c.vocab <= 0 || c.embedding <= 0 || c.hidden <= 0 || c.layers < 1)
        return dc_error("%s: vocab (%lld), embedding (%lld), hidden (%lld) and layers (%d) must "
                        "be positive", op, (long long)c.vocab, (long long)c.embedding,
                        (long long)c.hidden, c.layers);
    if (!(c.dropout >= 0 && c.dropout < 1))
        return dc_error("%s: dropout %g must be in [0, 1)", op, c.dropout);
    dc_module *m = dc_module_new_impl("RNNLM", &c, sizeof c);
    if (!m) return NULL;
    m->forward = rnn_lm_module_forward;
    m->describe = rnn_lm_describe;
    dc_rnn_opts opts = DC_RNN_DEFAULTS;
    opts.num_layers = c.layers, opts.batch_first = true, opts.dropout = c.dropout;
    opts.dropout_rng = rng;
    const char *const names[] = {"emb", "rnn", "drop", "head"};
    dc_module *children[] = {dc_embedding_new(c.vocab, c.embedding, rng),
                             dc_rnn_new(c.mode, c.embedding, c.hidden, opts, rng),
                             dc_dropout_new(c.dropout, rng),
                             dc_linear_new(c.hidden, c.vocab, true, rng)};
    bool ok = true;
    for (int i = 0; i < 4; i++) {
        if (ok && children[i]) ok = dc_module_add_child(m, names[i], children[i]) != NULL;
        else ok = (dc_module_free(children[i]), false);
    }
    if (!ok) {
        dc_module_free(m);
        return dc_error("%s: %s", op, dc_last_error());
    }
    return m;
}

const dc_rnn_lm_config *dc_rnn_lm_get_config(const dc_module *lm)
{
    return lm && strcmp(lm->type, "RNNLM") == 0 ? lm->impl : NULL;
}

dc_tensor *dc_rnn_lm_generate(dc_module *lm, dc_tensor *prompt, int64_t n_new,
                              double temperature, int64_t top_k, double top_p, dc_rng *rng)
{
    static const char op[] = "dc_rnn_lm_generate";
    const dc_rnn_lm_config *c = dc_rnn_lm_get_config(lm);
    if (!c) return dc_error("%s: not a recurrent LM (dc_rnn_lm_new)", op);
    DC_CHECK_TENSOR(prompt, op);
    char buf[96];
    if (prompt->dtype != DC_I64 || prompt->ndim < 1 || prompt->ndim > 2 ||
        prompt->shape[prompt->ndim - 1] < 1 || (prompt->ndim == 2 && prompt->shape[0] < 1) ||
        n_new < 0)
        return dc_error("%s: expected int64 prompt ids [T0] or [B, T0] with B, T0 >= 1 and "
                        "n_new >= 0, got %s %s, n_new %lld", op, dc_dtype_name(prompt->dtype),
                        dc__shape_fmt(prompt->ndim, prompt->shape, buf, sizeof buf),
                        (long long)n_new);
    if (!(top_p > 0)) return dc_error("%s: top_p %g must be > 0", op, top_p);
    const int64_t B = prompt->ndim == 2 ? prompt->shape[0] : 1;
    const int64_t T0 = prompt->shape[prompt->ndim - 1], total = T0 + n_new, V = c->vocab;
    int64_t *ids = malloc((size_t)(B * total) * sizeof *ids);
    if (!ids) return dc_error("%s: out of memory", op);
    size_t outer = dc_scope_begin();
    dc_tensor *p2 = dc_contiguous(dc_reshape(prompt, DC_SHAPE(B, T0)));
    bool ok = p2 != NULL;
    for (int64_t b = 0; ok && b < B; b++)
        memcpy(ids + b * total, (const int64_t *)dc_data(p2) + b * T0, (size_t)T0 * sizeof *ids);
    dc_scope_end(outer);

    const bool was_training = lm->training, grad_mode = dc_no_grad_begin();
    dc_module_train(lm, false);
    dc_tensor *h = NULL, *cs = NULL; /* the carried states, owned here */
    const bool lstm = c->mode == DC_RNN_LSTM;
    /* the prompt runs once; then each step feeds only the newest token */
    for (int64_t len = T0, start = 0; ok && len < total; start = len, len++) {
        size_t scope = dc_scope_begin();
        const int64_t w = len - start;
        dc_tensor *window = dc_empty(DC_I64, DC_SHAPE(B, w));
        ok = window != NULL;
        for (int64_t b = 0; ok && b < B; b++)
            memcpy((int64_t *)dc_data(window) + b * w, ids + b * total + start,
                   (size_t)w * sizeof *ids);
        dc_tensor *hn = NULL, *cn = NULL;
        dc_tensor *logits =
            ok ? dc_rnn_lm_forward(lm, window, h, cs, &hn, lstm ? &cn : NULL) : NULL;
        if (logits) logits = dc_contiguous(dc_to_dtype(dc_narrow(logits, 1, w - 1, 1), DC_F32));
        ok = logits != NULL;
        for (int64_t b = 0; b < B && ok; b++) {
            int64_t next = dc_sample_logits((const float *)dc_data(logits) + b * V, V,
                                            temperature, top_k, top_p, rng);
            ok = next >= 0;
            ids[b * total + len] = next;
        }
        if (ok) { /* keep the new states past the scope, drop the old ones */
            dc_tensor_free(h);
            dc_tensor_free(cs);
            h = dc_tensor_retain(hn);
            cs = cn ? dc_tensor_retain(cn) : NULL;
        }
        dc_scope_end(scope);
    }
    dc_tensor_free(h);
    dc_tensor_free(cs);
    dc_module_train(lm, was_training);
    dc_grad_mode_restore(grad_mode);
    dc_tensor *out = NULL;
    if (ok)
        out = dc_from_buffer(DC_I64, prompt->ndim,
                             prompt->ndim == 2 ? (int64_t[]){B, total} : (int64_t[]){total}, ids);
    else if (!dc_has_error())
        dc_error("%s: generation failed", op);
    free(ids);
    return out;
}
