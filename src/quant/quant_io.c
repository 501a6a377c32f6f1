/* Quantized checkpoints (include/deepc/quant.h): a safetensors state_dict in which each
 * quantized weight NAME is a U8 tensor [rows, row_bytes] of its blocks, with metadata
 * "quant.NAME" = its format and "quantization" marking the file. */
#include "deepc/io.h"
#include "deepc/quant.h"
#include "../core/internal.h"
#include "quant_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The module whose weight is the state entry `name` ("PREFIX.weight" or "weight"), among
 * the n quantizable modules, or NULL. */
static dc_module *weight_owner(const char *name, int n, dc_module **mods, char **names)
{
    size_t len = strlen(name);
    if (len < 6 || strcmp(name + len - 6, "weight") != 0) return NULL;
    for (int i = 0; i < n; i++) {
        size_t ln = strlen(names[i]);
        if (ln == 0 ? len == 6 : (ln + 7 == len && !strncmp(name, names[i], ln) && name[ln] == '.'))
            return mods[i];
    }
    return NULL;
}

static void free_names(int n, dc_module **mods, char **names)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(mods);
}

int dc_quant_save(const char *path, const dc_module *model, const char *const *metadata_kv,
                  int n_kv)
{
    static const char op[] = "dc_quant_save";
    if (!path || !model || n_kv < 0 || (n_kv && !metadata_kv)) {
        dc_error("%s: path, model and metadata must be given", op);
        return -1;
    }
    dc_tensor_list state = {0};
    int n_mods = 0;
    dc_module **mods = NULL;
    char **names = NULL;
    if (dc_module_state(model, &state) != 0) return -1;
    if (dc__quant_modules((dc_module *)model, NULL, &n_mods, &mods, &names) != 0) {
        dc_tensor_list_free(&state);
        return -1;
    }
    dc_named_tensor *items = calloc((size_t)state.n + 1, sizeof *items);
    const char **kv = calloc(2 * ((size_t)n_kv + state.n + 1), sizeof *kv);
    char **keys = calloc((size_t)state.n + 1, sizeof *keys);
    int rc = items && kv && keys ? 0 : -1, nkv = 0;
    if (rc) dc_error("%s: out of memory", op);
    for (int i = 0; rc == 0 && i < 2 * n_kv; i++) kv[nkv++] = metadata_kv[i];
    const char *types_used[DC_QTYPE_COUNT] = {0};
    size_t scope = dc_scope_begin();
    for (int i = 0; rc == 0 && i < state.n; i++) {
        const dc_module *owner = weight_owner(state.names[i], n_mods, mods, names);
        const dc_qtensor *q = owner ? dc_module_qweight(owner) : NULL;
        items[i].name = state.names[i];
        items[i].tensor = state.tensors[i];
        if (!q) continue;
        const size_t bb = dc_qtype_block_bytes(q->type);
        const int64_t shape[2] = {q->shape[0], q->shape[1] / DC_QBLOCK * (int64_t)bb};
        items[i].tensor = dc_from_buffer(DC_U8, 2, shape, q->data);
        size_t len = strlen(state.names[i]) + 7;
        keys[i] = malloc(len);
        if (!items[i].tensor || !keys[i]) {
            if (!keys[i]) dc_error("%s: out of memory", op);
            rc = -1;
            break;
        }
        snprintf(keys[i], len, "quant.%s", state.names[i]);
        kv[nkv++] = keys[i];
        kv[nkv++] = dc_qtype_name(q->type);
        types_used[q->type] = dc_qtype_name(q->type);
    }
    char marker[32] = "";
    for (int t = 0; t < DC_QTYPE_COUNT; t++)
        if (types_used[t])
            snprintf(marker + strlen(marker), sizeof marker - strlen(marker), "%s%s",
                     marker[0] ? "," : "", types_used[t]);
    if (rc == 0) {
        kv[nkv++] = "quantization";
        kv[nkv++] = marker[0] ? marker : "none";
        rc = dc_safetensors_save(path, items, state.n, kv, nkv / 2);
    }
    dc_scope_end(scope);
    for (int i = 0; keys && i < state.n; i++) free(keys[i]);
    free(keys);
    free(kv);
    free(items);
    free_names(n_mods, mods, names);
    dc_tensor_list_free(&state);
    return rc;
}

bool dc_quant_file_is_quantized(const char *path)
{
    dc_safetensors *f = dc_safetensors_open(path);
    bool yes = f && dc_safetensors_metadata(f, "quantization") != NULL;
    dc_safetensors_close(f);
    dc_clear_error();
    return yes;
}

static bool in_state(const dc_tensor_list *state, const char *name)
{
    for (int i = 0; i < state->n; i++)
        if (!strcmp(state->names[i], name)) return true;
    return false;
}

int dc_quant_load(const char *path, dc_module *model)
{
    static const char op[] = "dc_quant_load";
    if (!path || !model) {
        dc_error("%s: path and model must be given", op);
        return -1;
    }
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) return -1;
    if (!dc_safetensors_metadata(f, "quantization")) {
        dc_safetensors_close(f);
        dc_error("%s: %s is not a quantized checkpoint (no 'quantization' metadata)", op, path);
        return -1;
    }
    dc_tensor_list state = {0};
    int n_mods = 0, n_quant = 0, rc = 0;
    dc_module **mods = NULL;
    char **names = NULL;
    if (dc_module_state(model, &state) != 0) {
        dc_safetensors_close(f);
        return -1;
    }
    if (dc__quant_modules(model, NULL, &n_mods, &mods, &names) != 0) rc = -1;
    dc_tensor **loaded = calloc((size_t)state.n + 1, sizeof *loaded);
    dc_qtensor **qs = calloc((size_t)state.n + 1, sizeof *qs);
    dc_module **owners = calloc((size_t)state.n + 1, sizeof *owners);
    if (rc == 0 && (!loaded || !qs || !owners)) rc = -1, dc_error("%s: out of memory", op);
    size_t scope = dc_scope_begin();
    char a[96], b[96], key[600];
    /* 1. read and check everything */
    for (int i = 0; rc == 0 && i < dc_safetensors_count(f); i++) {
        const char *name = dc_safetensors_name(f, i);
        if (!in_state(&state, name) && strncmp(name, "optimizer.", 10) != 0) {
            dc_error("%s: %s holds '%s', which the model does not have", op, path, name);
            rc = -1;
        }
    }
    for (int i = 0; rc == 0 && i < state.n; i++) {
        const char *name = state.names[i];
        const dc_tensor *dst = state.tensors[i];
        snprintf(key, sizeof key, "quant.%s", name);
        const char *format = dc_safetensors_metadata(f, key);
        dc_tensor *t = dc_safetensors_get(f, name);
        if (!t) {
            rc = -1;
            break;
        }
        if (!format) {
            bool same = t->ndim == dst->ndim &&
                        !memcmp(t->shape, dst->shape, (size_t)dst->ndim * sizeof *dst->shape);
            if (!same || dc_dtype_is_float(t->dtype) != dc_dtype_is_float(dst->dtype)) {
                dc_error("%s: %s: '%s' is %s %s in the file but %s %s in the model", op, path,
                         name, dc_dtype_name(t->dtype), dc__shape_fmt(t->ndim, t->shape, a, sizeof a),
                         dc_dtype_name(dst->dtype), dc__shape_fmt(dst->ndim, dst->shape, b, sizeof b));
                rc = -1;
            }
            loaded[i] = t;
            continue;
        }
        int type = dc_qtype_from_name(format);
        dc_module *owner = weight_owner(name, n_mods, mods, names);
        if (type < 0 || !owner || dst->ndim != 2) {
            dc_clear_error();
            dc_error("%s: %s: '%s' is stored as '%.20s' blocks, but %s", op, path, name, format,
                     type < 0 ? "that format is unknown (q8_0, q4_1)"
                              : "the model's tensor of that name is not a Linear or Embedding weight");
            rc = -1;
            break;
        }
        const int64_t bb = (int64_t)dc_qtype_block_bytes((dc_qtype)type);
        if (t->dtype != DC_U8 || t->ndim != 2 || t->shape[0] != dst->shape[0] ||
            t->shape[1] % bb != 0 || t->shape[1] / bb * DC_QBLOCK != dst->shape[1]) {
            dc_error("%s: %s: '%s' holds %s %s of %s blocks, but the model's weight %s needs "
                     "uint8 [%lld, %lld] (a truncated or mismatched tensor)",
                     op, path, name, dc_dtype_name(t->dtype), dc__shape_fmt(t->ndim, t->shape, a, sizeof a),
                     format, dc__shape_fmt(dst->ndim, dst->shape, b, sizeof b),
                     (long long)dst->shape[0], (long long)(dst->shape[1] / DC_QBLOCK * bb));
            rc = -1;
            break;
        }
        qs[i] = dc_qtensor_from_bytes((dc_qtype)type, 2, dst->shape, dc_data(t),
                                      (size_t)dc_numel(t));
        owners[i] = owner;
        if (!qs[i]) {
            snprintf(key, sizeof key, "%s", dc_last_error());
            dc_clear_error();
            dc_error("%s: %s: '%s': %s", op, path, name, key);
            rc = -1;
        }
    }
    /* 2. everything is valid: copy */
    if (rc == 0) {
        bool grad = dc_no_grad_begin();
        for (int i = 0; rc == 0 && i < state.n; i++) {
            if (qs[i]) {
                rc = dc_module_set_qweight(owners[i], qs[i]);
                qs[i] = NULL;
                n_quant++;
            } else {
                rc = dc_copy_(state.tensors[i], loaded[i]);
            }
        }
        dc_grad_mode_restore(grad);
    }
    dc_scope_end(scope);
    for (int i = 0; qs && i < state.n; i++) dc_qtensor_free(qs[i]);
    free(qs);
    free(loaded);
    free(owners);
    free_names(n_mods, mods, names);
    dc_tensor_list_free(&state);
    dc_safetensors_close(f);
    return rc == 0 ? n_quant : -1;
}
