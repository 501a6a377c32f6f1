/* The attention operator (book §4.10, eq. 4.11):
 *   att(Q, K, V) = softargmax(Q K^T / sqrt(D_qk)) V
 * over the last two dims, with leading (batch, head) dims broadcast like matmul. */
#include "../core/internal.h"

#include <math.h>

/* Declared with the dropout ops in ops.h. */
dc_tensor *dc_dropout(dc_tensor *x, double p, bool training, dc_rng *rng);

/* Additive mask [Nq, Nkv]: 0 where query i may attend to key j (j <= i + offset), -inf
 * elsewhere. offset 0 is torch's causal mask (top-left aligned); queries that follow
 * `offset` cached keys (decoding with a KV cache) see those and the new keys up to theirs. */
static dc_tensor *causal_bias(dc_dtype dtype, int64_t nq, int64_t nkv, int64_t offset)
{
    dc_tensor *bias = dc_zeros(dtype, 2, (int64_t[]){nq, nkv});
    if (!bias) return NULL;
    for (int64_t i = 0; i < nq; i++)
        for (int64_t j = i + offset + 1; j < nkv; j++) {
            if (dtype == DC_F32) ((float *)dc_data(bias))[i * nkv + j] = -INFINITY;
            else ((double *)dc_data(bias))[i * nkv + j] = -INFINITY;
        }
    return bias;
}

dc_tensor *dc_scaled_dot_product_attention(dc_tensor *q, dc_tensor *k, dc_tensor *v,
                                           dc_tensor *mask, bool causal, double dropout_p,
                                           bool training, dc_rng *rng)
{
    return dc__attention(q, k, v, mask, causal ? 0 : -1, dropout_p, training, rng);
}

dc_tensor *dc__attention(dc_tensor *q, dc_tensor *k, dc_tensor *v, dc_tensor *mask,
                         int64_t causal_offset, double dropout_p, bool training, dc_rng *rng)
{
    const char *op = "dc_scaled_dot_product_attention";
    DC_CHECK_TENSOR(q, op);
    DC_CHECK_TENSOR(k, op);
    DC_CHECK_TENSOR(v, op);
    if (q->ndim < 2 || k->ndim < 2 || v->ndim < 2)
        return dc_error("%s: q, k, v need at least 2 dims [..., N, D]", op);
    int64_t dqk = q->shape[q->ndim - 1];
    char a[96], b[96];
    if (k->shape[k->ndim - 1] != dqk)
        return dc_error("%s: q %s and k %s must have the same last dim", op,
                        dc__shape_fmt(q->ndim, q->shape, a, sizeof a),
                        dc__shape_fmt(k->ndim, k->shape, b, sizeof b));
    if (k->shape[k->ndim - 2] != v->shape[v->ndim - 2])
        return dc_error("%s: k %s and v %s must have the same number of keys", op,
                        dc__shape_fmt(k->ndim, k->shape, a, sizeof a),
                        dc__shape_fmt(v->ndim, v->shape, b, sizeof b));
    if (!(dropout_p >= 0 && dropout_p <= 1)) return dc_error("%s: dropout_p %g outside [0, 1]", op, dropout_p);
    int64_t nq = q->shape[q->ndim - 2], nkv = k->shape[k->ndim - 2];
    size_t scope = dc_scope_begin();
    dc_tensor *scores = dc_mul_scalar(dc_matmul(q, dc_transpose(k, -2, -1)), 1.0 / sqrt((double)dqk));
    /* a query with every key at or before it (one new token after a cache) needs no mask */
    if (causal_offset >= 0 && nkv > causal_offset + 1 && scores)
        scores = dc_add(scores, causal_bias(q->dtype, nq, nkv, causal_offset));
    if (mask && scores) { /* boolean mask as torch: nonzero = may attend */
        dc_tensor *zero = dc_scalar(mask->dtype == DC_I64 ? DC_F64 : mask->dtype, 0.0);
        dc_tensor *m = mask->dtype == DC_I64 ? dc_to_dtype(mask, DC_F64) : mask;
        scores = dc_masked_fill(scores, dc_eq(m, zero), -INFINITY);
    }
    dc_tensor *attn = dc_softmax(scores, -1);
    if (dropout_p > 0 && training) attn = dc_dropout(attn, dropout_p, true, rng);
    return dc_scope_return(scope, dc_matmul(attn, v));
}
