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

/* x [B, N, D] -> per-head projections [B, H, N, d] with w [H, D, d] (one broadcast matmul). */
static dc_tensor *project(dc_tensor *x, dc_tensor *w) { return dc_matmul(dc_unsqueeze(x, 1), w); }

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
    dc_tensor *q = project(xq, dc_module_param(m, "w_q"));
    dc_tensor *k = project(xkv, dc_module_param(m, "w_k"));
    dc_tensor *v = project(xkv, dc_module_param(m, "w_v"));
    dc_tensor *y = dc_scaled_dot_product_attention(q, k, v, mask, a->causal, a->dropout,
                                                   m->training, a->rng);
    /* [B, H, N, Dv] -> [B, N, H Dv]: heads concatenated along features */
    if (y) y = dc_reshape(dc_permute(y, (int[]){0, 2, 1, 3}), 3,
                          (int64_t[]){xq->shape[0], xq->shape[1], a->heads * a->dim_v});
    return dc_scope_return(scope, dc_matmul(y, dc_module_param(m, "w_o")));
}

static dc_tensor *mha_self_forward(dc_module *m, dc_tensor *x) { return dc_mha_forward(m, x, x, NULL); }

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
