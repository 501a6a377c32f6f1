/* Multi-head attention layer (book §4.12, fig. 4.12) with the book's weight shapes:
 *   W^q, W^k [H, D, D_qk], W^v [H, D, D_v], W^o [H D_v, D]
 *   Y_h = att(X^q W^q_h, X^k W^k_h, X^v W^v_h)       (eq. 4.12)
 *   Y   = (Y_1 | ... | Y_H) W^o                       (eq. 4.13) */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t dim, heads, dim_qk, dim_v;
    bool causal;
    double dropout;
    dc_rng *rng;
} mha_impl;

/* x [B, N, D] -> per-head projections [B, H, N, d] with w [H, D, d] (one broadcast matmul:
 * a product per batch element and head; for the few rows of decoding, see below). */
static dc_tensor *project(dc_tensor *x, dc_tensor *w) { return dc_matmul(dc_unsqueeze(x, 1), w); }

/* x [B, N, D] -> its projections by the n weights named in `names` (w_i [H, D, d_i]), each
 * [B, H, N, d_i] (a strided view of one result), through ONE matmul with the weights side by
 * side as [D, H * sum d_i]: x is read and packed once instead of once per batch element,
 * head and weight (GPT-2-sized layers: 2x faster, backward included), for the price of
 * copying the weights side by side. */
static bool project_heads(dc_module *m, dc_tensor *x, int n, const char *const *names,
                          dc_tensor **out)
{
    dc_tensor *side[3];
    for (int i = 0; i < n; i++) side[i] = dc_permute(dc_module_param(m, names[i]), (int[]){1, 0, 2});
    dc_tensor *w = n == 1 ? dc_contiguous(side[0]) : dc_cat(side, n, 2); /* [D, H, sum d_i] */
    if (!w) return false;
    const int64_t D = w->shape[0], H = w->shape[1], width = w->shape[2];
    const int64_t B = x->shape[0], N = x->shape[1];
    dc_tensor *y = dc_reshape(dc_matmul(x, dc_reshape(w, 2, (int64_t[]){D, H * width})), 4,
                              (int64_t[]){B, N, H, width});
    int64_t at = 0;
    for (int i = 0; i < n; i++) {
        const int64_t d = side[i] ? side[i]->shape[2] : 0;
        out[i] = dc_permute(dc_narrow(y, 3, at, d), (int[]){0, 2, 1, 3});
        at += d;
    }
    return y != NULL;
}

/* The heads' outputs y [B, H, N, Dv] concatenated along features ([B, N, H Dv]) and
 * projected by w_o (eq. 4.13). */
static dc_tensor *merge_heads(dc_module *m, dc_tensor *y)
{
    const mha_impl *a = m->impl;
    if (y) y = dc_reshape(dc_permute(y, (int[]){0, 2, 1, 3}), 3,
                          (int64_t[]){y->shape[0], y->shape[2], a->heads * a->dim_v});
    return dc_matmul(y, dc_module_param(m, "w_o"));
}

dc_tensor *dc_mha_forward(dc_module *m, dc_tensor *xq, dc_tensor *xkv, dc_tensor *mask)
{
    if (!m || strcmp(m->type, "MultiheadAttention") != 0)
        return dc_error("dc_mha_forward: not a MultiheadAttention module");
    DC_CHECK_TENSOR(xq, "dc_mha_forward");
    DC_CHECK_TENSOR(xkv, "dc_mha_forward");
    const mha_impl *a = m->impl;
    char buf[96];
    if (xq->ndim != 3 || xq->shape[2] != a->dim)
        return dc_error("dc_mha_forward: queries must be [B, N, %lld], got %s", (long long)a->dim,
                        dc__shape_fmt(xq->ndim, xq->shape, buf, sizeof buf));
    if (xkv->ndim != 3 || xkv->shape[2] != a->dim || xkv->shape[0] != xq->shape[0])
        return dc_error("dc_mha_forward: keys/values must be [%lld, M, %lld], got %s",
                        (long long)xq->shape[0], (long long)a->dim,
                        dc__shape_fmt(xkv->ndim, xkv->shape, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    dc_tensor *qkv[3] = {NULL, NULL, NULL};
    if (xq == xkv) project_heads(m, xq, 3, (const char *[]){"w_q", "w_k", "w_v"}, qkv);
    else if (project_heads(m, xq, 1, (const char *[]){"w_q"}, qkv))
        project_heads(m, xkv, 2, (const char *[]){"w_k", "w_v"}, qkv + 1);
    dc_tensor *y = dc_scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], mask, a->causal,
                                                   a->dropout, m->training, a->rng);
    return dc_scope_return(scope, merge_heads(m, y));
}

static dc_tensor *mha_self_forward(dc_module *m, dc_tensor *x) { return dc_mha_forward(m, x, x, NULL); }

/* Decoding with a KV cache: the new positions' keys and values are appended to the cached
 * ones, and only the new positions' queries are computed, so a token costs O(positions so
 * far) instead of re-running the whole window. Projections go head by head (`project`): for
 * a row or a few, copying the weights side by side would cost more than it saves. */
dc_tensor *dc_mha_forward_cached(dc_module *m, dc_tensor *x, dc_tensor **keys, dc_tensor **values)
{
    static const char op[] = "dc_mha_forward_cached";
    if (!m || strcmp(m->type, "MultiheadAttention") != 0)
        return dc_error("%s: not a MultiheadAttention module", op);
    DC_CHECK_TENSOR(x, op);
    if (!keys || !values) return dc_error("%s: keys and values must point to the caches", op);
    const mha_impl *a = m->impl;
    char buf[96], kbuf[96];
    if (x->ndim != 3 || x->shape[2] != a->dim)
        return dc_error("%s: input must be [B, T, %lld], got %s", op, (long long)a->dim,
                        dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    dc_tensor *k_old = *keys, *v_old = *values;
    if ((k_old == NULL) != (v_old == NULL))
        return dc_error("%s: the key and value caches must both be empty or both be set", op);
    if (k_old) {
        const int64_t B = x->shape[0], H = a->heads;
        const bool k_ok = k_old->ndim == 4 && k_old->shape[0] == B && k_old->shape[1] == H &&
                          k_old->shape[3] == a->dim_qk && k_old->dtype == x->dtype;
        const bool v_ok = v_old->ndim == 4 && v_old->shape[0] == B && v_old->shape[1] == H &&
                          v_old->shape[2] == k_old->shape[2] && v_old->shape[3] == a->dim_v &&
                          v_old->dtype == x->dtype;
        if (!k_ok || !v_ok)
            return dc_error("%s: caches must be [%lld, %lld, n, %lld] and [%lld, %lld, n, %lld] "
                            "of the input's dtype, got %s and %s",
                            op, (long long)B, (long long)H, (long long)a->dim_qk, (long long)B,
                            (long long)H, (long long)a->dim_v,
                            dc__shape_fmt(k_old->ndim, k_old->shape, kbuf, sizeof kbuf),
                            dc__shape_fmt(v_old->ndim, v_old->shape, buf, sizeof buf));
    }
    const int64_t cached = k_old ? k_old->shape[2] : 0;
    size_t scope = dc_scope_begin();
    dc_tensor *q = project(x, dc_module_param(m, "w_q"));
    dc_tensor *k = project(x, dc_module_param(m, "w_k"));
    dc_tensor *v = project(x, dc_module_param(m, "w_v"));
    if (k_old && k && v) {
        k = dc_cat((dc_tensor *[]){k_old, k}, 2, 2);
        v = dc_cat((dc_tensor *[]){v_old, v}, 2, 2);
    }
    dc_tensor *y = k && v ? merge_heads(m, dc__attention(q, k, v, NULL, a->causal ? cached : -1,
                                                         a->dropout, m->training, a->rng))
                          : NULL;
    if (!y) {
        dc_scope_end(scope);
        return NULL; /* the caches are left as they were */
    }
    dc_tensor *k_new = dc_tensor_retain(k), *v_new = dc_tensor_retain(v);
    y = dc_scope_return(scope, y);
    dc_tensor_free(*keys), dc_tensor_free(*values);
    *keys = k_new, *values = v_new;
    return y;
}

static void mha_describe(const dc_module *m, char *buf, size_t size)
{
    const mha_impl *a = m->impl;
    snprintf(buf, size, "dim=%lld, heads=%lld, dim_qk=%lld, dim_v=%lld, causal=%s, dropout=%g",
             (long long)a->dim, (long long)a->heads, (long long)a->dim_qk, (long long)a->dim_v,
             a->causal ? "true" : "false", a->dropout);
}

dc_module *dc_mha_new(int64_t dim, int64_t heads, int64_t dim_qk, int64_t dim_v, bool causal,
                      double dropout, dc_rng *rng)
{
    if (dim <= 0 || heads <= 0 || dim_qk <= 0 || dim_v <= 0)
        return dc_error("dc_mha_new: dims and heads must be positive (dim %lld, heads %lld, "
                        "dim_qk %lld, dim_v %lld)", (long long)dim, (long long)heads,
                        (long long)dim_qk, (long long)dim_v);
    if (!(dropout >= 0 && dropout < 1)) return dc_error("dc_mha_new: dropout %g outside [0, 1)", dropout);
    dc_module *m = dc_module_new_impl("MultiheadAttention",
                                      &(mha_impl){dim, heads, dim_qk, dim_v, causal, dropout, rng},
                                      sizeof(mha_impl));
    if (!m) return NULL;
    m->forward = mha_self_forward;
    m->describe = mha_describe;
    /* Like a Linear layer from its fan-in: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    double in_bound = 1.0 / sqrt((double)dim), out_bound = 1.0 / sqrt((double)(heads * dim_v));
    size_t scope = dc_scope_begin();
    bool ok = dc_module_add_param(m, "w_q", dc_uniform(rng, DC_F32, DC_SHAPE(heads, dim, dim_qk), -in_bound, in_bound)) &&
              dc_module_add_param(m, "w_k", dc_uniform(rng, DC_F32, DC_SHAPE(heads, dim, dim_qk), -in_bound, in_bound)) &&
              dc_module_add_param(m, "w_v", dc_uniform(rng, DC_F32, DC_SHAPE(heads, dim, dim_v), -in_bound, in_bound)) &&
              dc_module_add_param(m, "w_o", dc_uniform(rng, DC_F32, DC_SHAPE(heads * dim_v, dim), -out_bound, out_bound));
    dc_scope_end(scope);
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}
