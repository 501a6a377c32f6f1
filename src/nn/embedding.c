/* Token embeddings and positional encodings (book §4.9, §4.10).
 *
 * Embedding is a lookup table: Y[d1, ..., dK] = M[X[d1, ..., dK]] (book eq. 4.14), i.e.
 * dc_index_select(weight, 0, ids), whose backward scatter-adds into the rows. Positions are
 * added to a sequence x [..., T, dim]: either a learned table (a parameter) or the fixed
 * sinusoidal one of Vaswani et al. (book eq. 4.15). */
#include "deepc/nn.h"
#include "../core/internal.h"
#include "../quant/quant_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- Sinusoidal table ------------------------------------------------------------------------ */

/* Book eq. 4.15 with T = 10^4: pe[t, d] = sin(t / 10^(4 d / C)) for even d and
 * cos(t / 10^(4 (d - 1) / C)) for odd d; this is the Transformer's usual
 * PE(t, 2i) = sin(t / 10000^(2i/C)), PE(t, 2i+1) = cos(t / 10000^(2i/C)). Computed in double. */
dc_tensor *dc_sinusoidal_positions(int64_t T, int64_t C, dc_dtype dtype)
{
    static const char op[] = "dc_sinusoidal_positions";
    if (T < 0 || C < 1)
        return dc_error("%s: need T >= 0 and C >= 1, got T %lld, C %lld", op, (long long)T,
                        (long long)C);
    if (dtype != DC_F32 && dtype != DC_F64)
        return dc_error("%s: dtype must be float32 or float64, got %s", op, dc_dtype_name(dtype));
    dc_tensor *pe = dc__alloc_result(dtype, 2, (int64_t[]){T, C});
    if (!pe) return NULL;
    for (int64_t d = 0; d < C; d++) {
        const double inv_freq = pow(10000.0, -(double)(d - d % 2) / (double)C);
        for (int64_t t = 0; t < T; t++) {
            double angle = (double)t * inv_freq, v = d % 2 ? cos(angle) : sin(angle);
            if (dtype == DC_F32) ((float *)dc_data(pe))[t * C + d] = (float)v;
            else ((double *)dc_data(pe))[t * C + d] = v;
        }
    }
    return dc__publish(pe);
}

/* ---- Embedding ---------------------------------------------------------------------------------
 */

static dc_tensor *embedding_forward(dc_module *m, dc_tensor *ids)
{
    if (!ids) return dc_error("Embedding: ids are NULL");
    if (ids->dtype != DC_I64)
        return dc_error("Embedding: ids must be int64, got %s", dc_dtype_name(ids->dtype));
    if (dc__qweight_applies(m, ids)) return dc_qembedding(ids, m->impl); /* dc_module_quantize */
    return dc_index_select(dc_module_param(m, "weight"), 0, ids);
}

static void embedding_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_tensor *w = dc_module_param(m, "weight");
    snprintf(buf, size, "%lld, %lld", (long long)w->shape[0], (long long)w->shape[1]);
}

/* A module whose only parameter is "weight" [rows, dim] ~ N(0, 1). */
static dc_module *table_module(const char *type, int64_t rows, int64_t dim, dc_rng *rng,
                               const char *op)
{
    if (rows <= 0 || dim <= 0)
        return dc_error("%s: sizes must be positive, got %lld x %lld", op, (long long)rows,
                        (long long)dim);
    dc_module *m = dc_module_new(type);
    if (!m) return NULL;
    size_t scope = dc_scope_begin();
    bool ok = dc_module_add_param(m, "weight", dc_randn(rng, DC_F32, 2, (int64_t[]){rows, dim}));
    dc_scope_end(scope);
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_module *dc_embedding_new(int64_t num_embeddings, int64_t embedding_dim, dc_rng *rng)
{
    dc_module *m =
        table_module("Embedding", num_embeddings, embedding_dim, rng, "dc_embedding_new");
    if (m) {
        m->forward = embedding_forward;
        m->describe = embedding_describe;
    }
    return m;
}

/* ---- Positional encodings ------------------------------------------------------------------- */

/* x [..., T, dim] + table[:T] for a table [max_len, dim]; errors name the shapes. */
static dc_tensor *add_positions(const char *type, dc_tensor *x, dc_tensor *table)
{
    if (!x) return dc_error("%s: input is NULL", type);
    const int64_t max_len = table->shape[0], dim = table->shape[1];
    char a[96];
    if (x->ndim < 2 || x->shape[x->ndim - 1] != dim || x->shape[x->ndim - 2] > max_len)
        return dc_error("%s: expected input [..., T, %lld] with T <= max_len %lld, got %s", type,
                        (long long)dim, (long long)max_len,
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    size_t scope = dc_scope_begin();
    dc_tensor *rows = dc_narrow(table, 0, 0, x->shape[x->ndim - 2]);
    if (rows && rows->dtype != x->dtype) rows = dc_to_dtype(rows, x->dtype);
    return dc_scope_return(scope, dc_add(x, rows));
}

static dc_tensor *learned_positions_forward(dc_module *m, dc_tensor *x)
{
    return add_positions(m->type, x, dc_module_param(m, "weight"));
}

static void positions_describe(const dc_module *m, char *buf, size_t size)
{
    const dc_tensor *table = m->n_params ? dc_module_param(m, "weight") : m->impl;
    snprintf(buf, size, "max_len=%lld, dim=%lld", (long long)table->shape[0],
             (long long)table->shape[1]);
}

dc_module *dc_learned_positional_encoding_new(int64_t max_len, int64_t dim, dc_rng *rng)
{
    dc_module *m = table_module("LearnedPositionalEncoding", max_len, dim, rng,
                                "dc_learned_positional_encoding_new");
    if (m) {
        m->forward = learned_positions_forward;
        m->describe = positions_describe;
    }
    return m;
}

/* The sinusoidal table lives in impl (a tensor the module holds a reference to): it is
 * neither a parameter nor a buffer, so it stays out of the state_dict, like torch's
 * register_buffer(..., persistent=False). */
static dc_tensor *sinusoidal_forward(dc_module *m, dc_tensor *x)
{
    return add_positions(m->type, x, m->impl);
}

static void release_table(dc_module *m) { dc_tensor_free(m->impl); }

dc_module *dc_sinusoidal_positional_encoding_new(int64_t max_len, int64_t dim)
{
    static const char op[] = "dc_sinusoidal_positional_encoding_new";
    if (max_len <= 0 || dim <= 0)
        return dc_error("%s: sizes must be positive, got max_len %lld, dim %lld", op,
                        (long long)max_len, (long long)dim);
    size_t scope = dc_scope_begin();
    dc_tensor *table = dc_tensor_retain(dc_sinusoidal_positions(max_len, dim, DC_F32));
    dc_scope_end(scope);
    dc_module *m = table ? dc_module_new("SinusoidalPositionalEncoding") : NULL;
    if (!m) {
        dc_tensor_free(table);
        return NULL;
    }
    m->impl = table;
    m->destroy = release_table;
    m->forward = sinusoidal_forward;
    m->describe = positions_describe;
    return m;
}
