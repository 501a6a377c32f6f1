/* Attention models (book §5.3): the pre-norm residual blocks of fig. 5.6, the
 * encoder-decoder Transformer (fig. 5.7), GPT (fig. 5.8) with sampling, and the Vision
 * Transformer (fig. 5.9).
 *
 * A "layer" of a model is the book's stack of residual blocks at one depth: self-attention
 * then feed-forward (encoder, GPT, ViT), or causal self-attention, cross-attention and
 * feed-forward (decoder). Blocks and layers are modules with readable dotted names
 * ("blocks.1.self_att.mha.w_q", "decoder.layers.0.cross_att.ln.weight"). */
#include "deepc/models.h"
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The children in registration order (single-input containers). */
static dc_tensor *chain_forward(dc_module *m, dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    for (int i = 0; i < m->n_children && x; i++) x = dc_forward(m->children[i], x);
    return dc_scope_return(scope, x);
}

static dc_module *layer_norm(int64_t dim) { return dc_layer_norm_new(1, &dim, 1e-5, true); }

/* heads must divide dim: each head works in dim / heads dimensions. */
static bool check_heads(const char *op, int64_t dim, int64_t heads)
{
    if (dim > 0 && heads > 0 && dim % heads == 0) return true;
    dc_error("%s: heads (%lld) must be positive and divide dim (%lld)", op, (long long)heads,
             (long long)dim);
    return false;
}

/* Add the children (name, module) pairs to m; frees m (and the remaining children) and
 * returns NULL with op's error if any is NULL. */
static dc_module *add_children(dc_module *m, const char *op, int n, const char *const *names,
                               dc_module *const *children)
{
    bool ok = m != NULL;
    for (int i = 0; i < n; i++) {
        if (ok) ok = dc_module_add_child(m, names[i], children[i]) != NULL;
        else dc_module_free(children[i]);
    }
    if (!ok) {
        dc_module_free(m);
        return dc_error("%s: %s", op, dc_last_error());
    }
    return m;
}
#define ADD_CHILDREN(m, op, names, ...)                                                        \
    add_children((m), (op), (int)(sizeof((dc_module *[]){__VA_ARGS__}) / sizeof(dc_module *)), \
                 (const char *const[])names, (dc_module *const[]){__VA_ARGS__})
#define NAMES(...) {__VA_ARGS__}

/* ---- Residual blocks (book fig. 5.6) ------------------------------------------------------ */

/* Self-attention block: y = x + mha(ln(x)). */
static dc_tensor *self_attention_forward(dc_module *m, dc_tensor *x)
{
    if (!x) return dc_error("%s: input is NULL", m->type);
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_forward(dc_module_child(m, "mha"), dc_forward(dc_module_child(m, "ln"), x));
    return dc_scope_return(scope, dc_add(x, h));
}

static dc_module *attention_block(const char *type, const char *op, int64_t dim, int64_t heads,
                                  bool causal, double dropout, dc_rng *rng)
{
    if (!check_heads(op, dim, heads)) return NULL;
    dc_module *m = dc_module_new(type);
    if (!m) return NULL;
    return ADD_CHILDREN(m, op, NAMES("ln", "mha"), layer_norm(dim),
                        dc_mha_new(dim, heads, dim / heads, dim / heads, causal, dropout, rng));
}

dc_module *dc_self_attention_block_new(int64_t dim, int64_t heads, bool causal, double dropout,
                                       dc_rng *rng)
{
    dc_module *m = attention_block("SelfAttentionBlock", "dc_self_attention_block_new", dim,
                                   heads, causal, dropout, rng);
    if (m) m->forward = self_attention_forward;
    return m;
}

dc_module *dc_cross_attention_block_new(int64_t dim, int64_t heads, double dropout, dc_rng *rng)
{
    return attention_block("CrossAttentionBlock", "dc_cross_attention_block_new", dim, heads,
                           false, dropout, rng);
}

/* Cross-attention block: y = xq + mha(queries ln(xq), keys and values xkv). */
dc_tensor *dc_cross_attention_block_forward(dc_module *block, dc_tensor *xq, dc_tensor *xkv)
{
    if (!block || strcmp(block->type, "CrossAttentionBlock") != 0)
        return dc_error("dc_cross_attention_block_forward: not a CrossAttentionBlock");
    if (!xq || !xkv) return dc_error("dc_cross_attention_block_forward: input is NULL");
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_mha_forward(dc_module_child(block, "mha"),
                                  dc_forward(dc_module_child(block, "ln"), xq), xkv, NULL);
    return dc_scope_return(scope, dc_add(xq, h));
}

/* Feed-forward block: y = x + dropout(fc2(gelu(fc1(ln(x))))) (children in that order). */
static dc_tensor *feed_forward_forward(dc_module *m, dc_tensor *x)
{
    if (!x) return dc_error("%s: input is NULL", m->type);
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_add(x, chain_forward(m, x)));
}

dc_module *dc_feed_forward_block_new(int64_t dim, int64_t hidden, double dropout, dc_rng *rng)
{
    static const char op[] = "dc_feed_forward_block_new";
    if (dim <= 0 || hidden <= 0)
        return dc_error("%s: dim %lld and hidden %lld must be positive", op, (long long)dim,
                        (long long)hidden);
    dc_module *m = dc_module_new("FeedForwardBlock");
    if (m) m->forward = feed_forward_forward;
    return ADD_CHILDREN(m, op, NAMES("ln", "fc1", "act", "fc2", "dropout"), layer_norm(dim),
                        dc_linear_new(dim, hidden, true, rng), dc_activation_new(DC_ACT_GELU, 0),
                        dc_linear_new(hidden, dim, true, rng), dc_dropout_new(dropout, rng));
}

/* ---- Layers: the blocks of one depth ----------------------------------------------------------- */

/* Encoder / GPT / ViT layer: children self_att, ffw (dc_forward runs them in order).
 * Decoder layer: children self_att (causal), cross_att, ffw (decoder_layer_forward). */
static dc_module *layer_new(bool decoder, bool causal, int64_t dim, int64_t heads, int64_t hidden,
                            double dropout, dc_rng *rng)
{
    static const char op[] = "transformer layer";
    dc_module *m = dc_module_new(decoder ? "DecoderLayer" : "TransformerLayer");
    if (!decoder) {
        if (m) m->forward = chain_forward;
        return ADD_CHILDREN(m, op, NAMES("self_att", "ffw"),
                            dc_self_attention_block_new(dim, heads, causal, dropout, rng),
                            dc_feed_forward_block_new(dim, hidden, dropout, rng));
    }
    return ADD_CHILDREN(m, op, NAMES("self_att", "cross_att", "ffw"),
                        dc_self_attention_block_new(dim, heads, true, dropout, rng),
                        dc_cross_attention_block_new(dim, heads, dropout, rng),
                        dc_feed_forward_block_new(dim, hidden, dropout, rng));
}

static dc_tensor *decoder_layer_forward(dc_module *layer, dc_tensor *x, dc_tensor *memory)
{
    size_t scope = dc_scope_begin();
    x = dc_forward(dc_module_child(layer, "self_att"), x);
    x = dc_cross_attention_block_forward(dc_module_child(layer, "cross_att"), x, memory);
    return dc_scope_return(scope, dc_forward(dc_module_child(layer, "ffw"), x));
}

/* A Sequential of n layers. */
static dc_module *layer_stack(int n, bool decoder, bool causal, int64_t dim, int64_t heads,
                              int64_t hidden, double dropout, dc_rng *rng)
{
    dc_module *stack = dc_sequential_new(0);
    for (int i = 0; i < n && stack; i++)
        if (!dc_sequential_append(stack, layer_new(decoder, causal, dim, heads, hidden, dropout, rng))) {
            dc_module_free(stack);
            stack = NULL;
        }
    return stack;
}

/* GPT-2's initialisation (also used by the ViT): every weight matrix N(0, 0.02), the
 * projections back into the residual stream (mha.w_o, ffw.fc2.weight) N(0, 0.02 /
 * sqrt(2 n_layers)), biases 0; LayerNorms keep weight 1, bias 0. */
static int gpt2_init(dc_module *m, int n_layers, dc_rng *rng)
{
    dc_tensor_list params = {0};
    if (dc_module_parameters(m, &params) != 0) return -1;
    int rc = 0;
    const double residual_std = 0.02 / sqrt(2.0 * (n_layers > 0 ? n_layers : 1));
    for (int i = 0; i < params.n && rc == 0; i++) {
        const char *name = params.names[i];
        const size_t len = strlen(name);
        dc_tensor *t = params.tensors[i];
        bool ends_bias = len >= 4 && strcmp(name + len - 4, "bias") == 0;
        bool residual = strstr(name, "mha.w_o") || strstr(name, "fc2.weight");
        if (ends_bias) rc = dc_fill_(t, 0.0);
        else if (t->ndim >= 2) rc = dc_normal_(rng, t, 0.0, residual ? residual_std : 0.02);
    }
    dc_tensor_list_free(&params);
    return rc;
}

static int64_t ffw_hidden(int64_t hidden, int64_t dim) { return hidden > 0 ? hidden : 4 * dim; }

/* ---- Encoder-decoder Transformer (book fig. 5.7) ------------------------------------------ */

static dc_module *final_norm_stack(const char *type, dc_module *layers, int64_t dim)
{
    dc_module *m = dc_module_new(type);
    if (m) m->forward = chain_forward; /* layers then ln_f (used by the encoder) */
    return ADD_CHILDREN(m, "transformer", NAMES("layers", "ln_f"), layers, layer_norm(dim));
}

dc_module *dc_transformer_new(const dc_transformer_config *config, dc_rng *rng)
{
    static const char op[] = "dc_transformer_new";
    if (!config) return dc_error("%s: config is NULL", op);
    const dc_transformer_config c = *config;
    if (c.src_vocab <= 0 || c.tgt_vocab <= 0 || c.context <= 0 || c.enc_layers < 0 ||
        c.dec_layers < 0)
        return dc_error("%s: vocabularies and context must be positive, layers >= 0", op);
    if (!check_heads(op, c.dim, c.heads)) return NULL;
    dc_module *m = dc_module_new_impl("Transformer", &c, sizeof c);
    if (!m) return NULL;
    const int64_t hidden = ffw_hidden(c.hidden, c.dim);
    return ADD_CHILDREN(
        m, op, NAMES("src_emb", "tgt_emb", "pos", "encoder", "decoder", "head"),
        dc_embedding_new(c.src_vocab, c.dim, rng), dc_embedding_new(c.tgt_vocab, c.dim, rng),
        dc_sinusoidal_positional_encoding_new(c.context, c.dim),
        final_norm_stack("TransformerEncoder",
                         layer_stack(c.enc_layers, false, false, c.dim, c.heads, hidden, c.dropout, rng),
                         c.dim),
        final_norm_stack("TransformerDecoder",
                         layer_stack(c.dec_layers, true, true, c.dim, c.heads, hidden, c.dropout, rng),
                         c.dim),
        dc_linear_new(c.dim, c.tgt_vocab, true, rng));
}

static bool is_transformer(const dc_module *m, const char *op)
{
    if (m && strcmp(m->type, "Transformer") == 0) return true;
    dc_error("%s: not a Transformer (dc_transformer_new)", op);
    return false;
}

/* ids [B, T] -> embed(ids) + pos-enc [B, T, dim] */
static dc_tensor *embed_with_positions(dc_module *m, const char *emb, dc_tensor *ids)
{
    size_t scope = dc_scope_begin();
    dc_tensor *x = dc_forward(dc_module_child(m, emb), ids);
    return dc_scope_return(scope, dc_forward(dc_module_child(m, "pos"), x));
}

/* Z = ln_f(layers(embed(src) + pos-enc)) */
dc_tensor *dc_transformer_encode(dc_module *model, dc_tensor *src_ids)
{
    if (!is_transformer(model, "dc_transformer_encode")) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *x = embed_with_positions(model, "src_emb", src_ids);
    return dc_scope_return(scope, dc_forward(dc_module_child(model, "encoder"), x));
}

/* logits = head(ln_f(decoder layers(embed(tgt) + pos-enc, Z))) */
dc_tensor *dc_transformer_decode(dc_module *model, dc_tensor *memory, dc_tensor *tgt_ids)
{
    if (!is_transformer(model, "dc_transformer_decode")) return NULL;
    if (!memory) return dc_error("dc_transformer_decode: memory is NULL");
    size_t scope = dc_scope_begin();
    dc_tensor *x = embed_with_positions(model, "tgt_emb", tgt_ids);
    dc_module *decoder = dc_module_child(model, "decoder");
    dc_module *layers = dc_module_child(decoder, "layers");
    for (int i = 0; i < layers->n_children && x; i++)
        x = decoder_layer_forward(layers->children[i], x, memory);
    x = dc_forward(dc_module_child(decoder, "ln_f"), x);
    return dc_scope_return(scope, dc_forward(dc_module_child(model, "head"), x));
}

dc_tensor *dc_transformer_forward(dc_module *model, dc_tensor *src_ids, dc_tensor *tgt_ids)
{
    if (!is_transformer(model, "dc_transformer_forward")) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *memory = dc_transformer_encode(model, src_ids);
    return dc_scope_return(scope, memory ? dc_transformer_decode(model, memory, tgt_ids) : NULL);
}

/* ---- GPT (book fig. 5.8) ------------------------------------------------------------------------ */

/* logits = head(ln_f(blocks(tok_emb(ids) + pos_emb))) */
static dc_tensor *gpt_forward(dc_module *m, dc_tensor *ids)
{
    const dc_gpt_config *c = m->impl;
    if (!ids) return dc_error("GPT: ids are NULL");
    char buf[96];
    if (ids->dtype != DC_I64 || ids->ndim != 2 || ids->shape[1] < 1 || ids->shape[1] > c->context)
        return dc_error("GPT: expected int64 ids [B, T] with 1 <= T <= context %lld, got %s %s",
                        (long long)c->context, dc_dtype_name(ids->dtype),
                        dc__shape_fmt(ids->ndim, ids->shape, buf, sizeof buf));
    return chain_forward(m, ids); /* tok_emb, pos_emb, blocks, ln_f, head */
}

static void gpt_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_gpt_config *c = m->impl;
    snprintf(buf, size, "vocab=%lld, context=%lld, layers=%d, heads=%lld, dim=%lld, dropout=%g",
             (long long)c->vocab, (long long)c->context, c->layers, (long long)c->heads,
             (long long)c->dim, c->dropout);
}

dc_module *dc_gpt_new(const dc_gpt_config *config, dc_rng *rng)
{
    static const char op[] = "dc_gpt_new";
    if (!config) return dc_error("%s: config is NULL", op);
    const dc_gpt_config c = *config;
    if (c.vocab <= 0 || c.context <= 0 || c.layers < 0)
        return dc_error("%s: vocab (%lld) and context (%lld) must be positive, layers (%d) >= 0",
                        op, (long long)c.vocab, (long long)c.context, c.layers);
    if (!check_heads(op, c.dim, c.heads)) return NULL;
    dc_module *m = dc_module_new_impl("GPT", &c, sizeof c);
    if (!m) return NULL;
    m->forward = gpt_forward;
    m->describe = gpt_describe;
    m = ADD_CHILDREN(m, op, NAMES("tok_emb", "pos_emb", "blocks", "ln_f", "head"),
                     dc_embedding_new(c.vocab, c.dim, rng),
                     dc_learned_positional_encoding_new(c.context, c.dim, rng),
                     layer_stack(c.layers, false, true, c.dim, c.heads, 4 * c.dim, c.dropout, rng),
                     layer_norm(c.dim), dc_linear_new(c.dim, c.vocab, true, rng));
    if (m && gpt2_init(m, c.layers, rng) != 0) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

const dc_gpt_config *dc_gpt_get_config(const dc_module *gpt)
{
    return gpt && strcmp(gpt->type, "GPT") == 0 ? gpt->impl : NULL;
}

/* ---- Sampling (book §7.1) -------------------------------------------------------------------- */

typedef struct {
    float logit;
    int64_t index;
} scored;

/* Descending logits; ties by index so the order is deterministic. */
static int by_logit_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

/* p_i ∝ exp((l_i - max) / temperature) over the top_k largest logits, then cut to the
 * shortest prefix (in decreasing probability) whose mass reaches top_p; u ~ U[0, mass). */
int64_t dc_sample_logits(const float *logits, int64_t n, double temperature, int64_t top_k,
                         double top_p, dc_rng *rng)
{
    if (!logits || n < 1) return dc_error("dc_sample_logits: need n >= 1 logits"), -1;
    if (!(top_p > 0)) return dc_error("dc_sample_logits: top_p %g must be > 0", top_p), -1;
    if (!(temperature > 0)) { /* greedy: the first maximum */
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
    scored *s = malloc((size_t)n * sizeof *s);
    if (!s) return dc_error("dc_sample_logits: out of memory"), -1;
    for (int64_t i = 0; i < n; i++) s[i] = (scored){logits[i], i};
    qsort(s, (size_t)n, sizeof *s, by_logit_desc);
    int64_t keep = top_k > 0 && top_k < n ? top_k : n;
    double total = 0;
    double *p = malloc((size_t)keep * sizeof *p);
    if (!p) {
        free(s);
        return dc_error("dc_sample_logits: out of memory"), -1;
    }
    for (int64_t i = 0; i < keep; i++) total += p[i] = exp(((double)s[i].logit - s[0].logit) / temperature);
    if (top_p < 1) { /* nucleus: the smallest prefix with mass >= top_p (at least one token) */
        double mass = 0;
        int64_t cut = 0;
        while (cut < keep && mass < top_p * total) mass += p[cut++];
        keep = cut > 0 ? cut : 1;
        total = mass > 0 ? mass : p[0];
    }
    double u = dc_rng_uniform(rng) * total, acc = 0;
    int64_t chosen = s[keep - 1].index;
    for (int64_t i = 0; i < keep; i++)
        if ((acc += p[i]) > u) {
            chosen = s[i].index;
            break;
        }
    free(p);
    free(s);
    return chosen;
}

/* The next-token logits [B, 1, vocab] after ids [B, T] at positions [pos0, pos0 + T), all
 * earlier positions being in the KV cache kv[2 l], kv[2 l + 1] of each layer l (see
 * dc_mha_forward_cached; the new positions are appended). pos0 + T <= context. */
static dc_tensor *gpt_decode(dc_module *gpt, dc_tensor *ids, int64_t pos0, dc_tensor **kv)
{
    size_t scope = dc_scope_begin();
    const int64_t T = ids->shape[1];
    dc_tensor *positions = dc_module_param(dc_module_child(gpt, "pos_emb"), "weight");
    dc_tensor *x = dc_add(dc_forward(dc_module_child(gpt, "tok_emb"), ids),
                          dc_narrow(positions, 0, pos0, T));
    const dc_module *blocks = dc_module_child(gpt, "blocks");
    for (int l = 0; l < blocks->n_children && x; l++) {
        dc_module *layer = blocks->children[l];
        dc_module *att = dc_module_child(layer, "self_att");
        dc_tensor *h = dc_mha_forward_cached(dc_module_child(att, "mha"),
                                             dc_forward(dc_module_child(att, "ln"), x), &kv[2 * l],
                                             &kv[2 * l + 1]);
        x = dc_forward(dc_module_child(layer, "ffw"), dc_add(x, h));
    }
    x = dc_narrow(x, 1, T - 1, 1); /* only the last position is sampled */
    x = dc_forward(dc_module_child(gpt, "head"), dc_forward(dc_module_child(gpt, "ln_f"), x));
    return dc_scope_return(scope, x);
}

dc_tensor *dc_gpt_generate(dc_module *gpt, dc_tensor *prompt, int64_t n_new, double temperature,
                           int64_t top_k, double top_p, dc_rng *rng)
{
    static const char op[] = "dc_gpt_generate";
    const dc_gpt_config *c = dc_gpt_get_config(gpt);
    if (!c) return dc_error("%s: not a GPT model (dc_gpt_new)", op);
    DC_CHECK_TENSOR(prompt, op);
    char buf[96];
    if (prompt->dtype != DC_I64 || prompt->ndim < 1 || prompt->ndim > 2 ||
        prompt->shape[prompt->ndim - 1] < 1 || n_new < 0)
        return dc_error("%s: expected int64 prompt ids [T0] or [B, T0] with T0 >= 1 and n_new >= "
                        "0, got %s %s, n_new %lld", op, dc_dtype_name(prompt->dtype),
                        dc__shape_fmt(prompt->ndim, prompt->shape, buf, sizeof buf),
                        (long long)n_new);
    const int64_t B = prompt->ndim == 2 ? prompt->shape[0] : 1, T0 = prompt->shape[prompt->ndim - 1];
    const int64_t total = T0 + n_new, V = c->vocab;
    int64_t *ids = malloc((size_t)(B * total) * sizeof *ids);
    int64_t *window = malloc((size_t)(B * (c->context < total ? c->context : total)) * sizeof *window);
    if (!ids || !window) {
        free(ids);
        free(window);
        return dc_error("%s: out of memory", op);
    }
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T0; t++)
            ids[b * total + t] = (int64_t)dc_item_at(prompt, prompt->ndim == 2 ? (int64_t[]){b, t} : (int64_t[]){t});

    const bool was_training = gpt->training, grad_mode = dc_no_grad_begin();
    dc_module_train(gpt, false);
    dc_tensor **kv = calloc(2 * (size_t)(c->layers > 0 ? c->layers : 1), sizeof *kv);
    bool ok = kv != NULL;
    if (!ok) dc_error("%s: out of memory", op);
    for (int64_t len = T0, cached = 0; len < total && ok; len++) {
        /* positions [cached, len) are new: the prompt, then one token a step, until the
         * window would slide past the context (then the positions of every token shift, so
         * the whole window is recomputed each step) */
        const bool use_cache = len <= c->context;
        const int64_t start = use_cache ? cached : (len > c->context ? len - c->context : 0);
        const int64_t w = len - start;
        for (int64_t b = 0; b < B; b++)
            memcpy(window + b * w, ids + b * total + start, (size_t)w * sizeof *ids);
        size_t scope = dc_scope_begin();
        dc_tensor *batch = dc_from_buffer(DC_I64, 2, (int64_t[]){B, w}, window);
        dc_tensor *logits = use_cache ? gpt_decode(gpt, batch, start, kv)
                                      : dc_narrow(dc_forward(gpt, batch), 1, w - 1, 1);
        if (logits) logits = dc_contiguous(dc_to_dtype(logits, DC_F32)); /* [B, 1, V] */
        ok = logits != NULL;
        cached = len;
        for (int64_t b = 0; b < B && ok; b++) {
            int64_t next = dc_sample_logits((const float *)dc_data(logits) + b * V, V,
                                            temperature, top_k, top_p, rng);
            ok = next >= 0;
            ids[b * total + len] = next;
        }
        dc_scope_end(scope);
    }
    for (int i = 0; kv && i < 2 * c->layers; i++) dc_tensor_free(kv[i]);
    free(kv);
    dc_module_train(gpt, was_training);
    dc_grad_mode_restore(grad_mode);
    dc_tensor *out = ok ? dc_from_buffer(DC_I64, prompt->ndim,
                                         prompt->ndim == 2 ? (int64_t[]){B, total} : (int64_t[]){total}, ids)
                        : NULL;
    free(ids);
    free(window);
    return out;
}

/* ---- Vision Transformer (book fig. 5.9) ---------------------------------------------------- */

/* E_1..E_M = patches W^E (a conv with kernel = stride = P), E_0 = cls_token;
 * Z = ln_f(blocks([E_0, E_1, ..., E_M] + pos)); logits = head(Z_0). */
static dc_tensor *vit_forward(dc_module *m, dc_tensor *x)
{
    const dc_vit_config *c = m->impl;
    if (!x) return dc_error("ViT: input is NULL");
    char buf[96];
    if (x->ndim != 4 || x->shape[1] != c->in_channels || x->shape[2] != c->image_size ||
        x->shape[3] != c->image_size)
        return dc_error("ViT: expected images [B, %lld, %lld, %lld], got %s", (long long)c->in_channels,
                        (long long)c->image_size, (long long)c->image_size,
                        dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    const int64_t B = x->shape[0];
    /* [B, D, S/P, S/P] -> [B, M, D] */
    dc_tensor *patches = dc_transpose(dc_flatten(dc_forward(dc_module_child(m, "patch_embed"), x), 2, 3), 1, 2);
    dc_tensor *cls = dc_expand(dc_module_param(m, "cls_token"), 3, (int64_t[]){B, 1, c->dim});
    dc_tensor *seq = patches && cls ? dc_cat((dc_tensor *[]){cls, patches}, 2, 1) : NULL;
    seq = dc_forward(dc_module_child(m, "pos_emb"), seq);
    seq = dc_forward(dc_module_child(m, "ln_f"), dc_forward(dc_module_child(m, "blocks"), seq));
    dc_tensor *z0 = seq ? dc_select(seq, 1, 0) : NULL;
    return dc_scope_return(scope, dc_forward(dc_module_child(m, "head"), z0));
}

static void vit_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_vit_config *c = m->impl;
    snprintf(buf, size, "image=%lld, patch=%lld, layers=%d, heads=%lld, dim=%lld, classes=%lld",
             (long long)c->image_size, (long long)c->patch, c->layers, (long long)c->heads,
             (long long)c->dim, (long long)c->num_classes);
}

/* The book's readout: fc -> GELU -> fc -> GELU -> fc (two hidden layers of width h), or one
 * Linear when h is 0. */
static dc_module *vit_head(int64_t dim, int64_t h, int64_t classes, dc_rng *rng)
{
    if (h <= 0) return dc_linear_new(dim, classes, true, rng);
    return dc_mlp_new(3, (int64_t[]){dim, h, h, classes}, DC_ACT_GELU, 0.0, rng);
}

dc_module *dc_vit_new(const dc_vit_config *config, dc_rng *rng)
{
    static const char op[] = "dc_vit_new";
    if (!config) return dc_error("%s: config is NULL", op);
    const dc_vit_config c = *config;
    if (c.patch <= 0 || c.image_size <= 0 || c.image_size % c.patch != 0 || c.in_channels <= 0 ||
        c.num_classes <= 0 || c.layers < 0 || c.head_hidden < 0)
        return dc_error("%s: need a positive patch size dividing image_size (%lld, %lld), "
                        "positive channels and classes, layers >= 0", op,
                        (long long)c.patch, (long long)c.image_size);
    if (!check_heads(op, c.dim, c.heads)) return NULL;
    const int64_t grid = c.image_size / c.patch, M = grid * grid;
    dc_module *m = dc_module_new_impl("ViT", &c, sizeof c);
    if (!m) return NULL;
    m->forward = vit_forward;
    m->describe = vit_describe;
    size_t scope = dc_scope_begin();
    bool ok = dc_module_add_param(m, "cls_token", dc_zeros(DC_F32, 3, (int64_t[]){1, 1, c.dim})) != NULL;
    dc_scope_end(scope);
    const int p = (int)c.patch;
    m = ADD_CHILDREN(m, op, NAMES("patch_embed", "pos_emb", "blocks", "ln_f", "head"),
                     dc_conv2d_new(c.in_channels, c.dim, p, p, DC_CONV2D_OPTS(p, 0, 1, 1), true, rng),
                     dc_learned_positional_encoding_new(M + 1, c.dim, rng),
                     layer_stack(c.layers, false, false, c.dim, c.heads, ffw_hidden(c.hidden, c.dim),
                                 c.dropout, rng),
                     layer_norm(c.dim), vit_head(c.dim, c.head_hidden, c.num_classes, rng));
    if (m && (!ok || gpt2_init(m, c.layers, rng) != 0)) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}
