/* Training checkpoints: a model's state_dict plus optimizer state in one safetensors file,
 * so `--resume` continues exactly where training stopped. */
#include "deepc/io.h"
#include "../core/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIMIZER_PREFIX "optimizer."

int dc_checkpoint_save(const char *path, const dc_module *model, dc_optimizer *opt,
                       const char *const *metadata_kv, int n_kv)
{
    if (!path || !model) return dc_error("dc_checkpoint_save: NULL path or model"), -1;
    dc_tensor_list state = {0}, opt_state = {0};
    if (dc_module_state(model, &state) != 0) return -1;
    if (opt && dc_optimizer_state(opt, &opt_state) != 0) {
        dc_tensor_list_free(&state);
        return -1;
    }
    int n = state.n + opt_state.n, rc = -1;
    dc_named_tensor *items = calloc((size_t)(n ? n : 1), sizeof *items);
    char **prefixed = calloc((size_t)(opt_state.n ? opt_state.n : 1), sizeof *prefixed);
    if (!items || !prefixed) {
        dc_error("dc_checkpoint_save: out of memory");
        goto done;
    }
    for (int i = 0; i < state.n; i++) items[i] = (dc_named_tensor){state.names[i], state.tensors[i]};
    for (int i = 0; i < opt_state.n; i++) {
        size_t len = strlen(OPTIMIZER_PREFIX) + strlen(opt_state.names[i]) + 1;
        if (!(prefixed[i] = malloc(len))) {
            dc_error("dc_checkpoint_save: out of memory");
            goto done;
        }
        snprintf(prefixed[i], len, OPTIMIZER_PREFIX "%s", opt_state.names[i]);
        items[state.n + i] = (dc_named_tensor){prefixed[i], opt_state.tensors[i]};
    }
    rc = dc_safetensors_save(path, items, n, metadata_kv, n_kv);
done:
    for (int i = 0; prefixed && i < opt_state.n; i++) free(prefixed[i]);
    free(prefixed);
    free(items);
    dc_tensor_list_free(&state);
    dc_tensor_list_free(&opt_state);
    return rc;
}

static bool is_float(dc_dtype d) { return d == DC_F32 || d == DC_F64; }

/* An optimizer step count ("step", "<param>.step"): the rule dc_optimizer_state_loaded
 * applies after the copy, checked here first so a bad count leaves the optimizer unchanged. */
static bool is_step_name(const char *name)
{
    size_t n = strlen(name);
    return !strcmp(name, "step") || (n > 5 && !strcmp(name + n - 5, ".step"));
}

static bool valid_step(const dc_tensor *t)
{
    double v = dc_numel(t) == 1 ? dc_item(t) : -1;
    return v >= 0 && v <= 9007199254740992.0 && v == floor(v);
}

/* Read every (prefix + name) of `list` from f into a new tensor, checking shapes and dtypes;
 * the copies go to `loaded` (same order). Nothing in `list` is modified. The dtype rule: a
 * floating-point tensor only loads into a floating-point one (F16/BF16/F32/F64 convert among
 * themselves) and an integer one only into an integer one whose dtype holds every value
 * (a float64 NaN or 1e30 has no int64 value; a float 2.0 is refused too, as a sign the file
 * is not this model's). */
static int stage(dc_safetensors *f, const char *path, const dc_tensor_list *list,
                 const char *prefix, dc_tensor **loaded)
{
    for (int i = 0; i < list->n; i++) {
        size_t len = strlen(prefix) + strlen(list->names[i]) + 1;
        char *name = malloc(len);
        if (!name) return dc_error("dc_checkpoint_load: out of memory"), -1;
        snprintf(name, len, "%s%s", prefix, list->names[i]);
        int rc = -1;
        const dc_tensor *want = list->tensors[i];
        if (!dc_safetensors_has(f, name)) {
            dc_error("dc_checkpoint_load: tensor '%s' is missing from %s", name, path);
            goto next;
        }
        loaded[i] = dc_safetensors_get(f, name);
        if (!loaded[i]) goto next;
        if (!dc_same_shape(loaded[i], want)) {
            char a[96], b[96];
            dc_error("dc_checkpoint_load: tensor '%s' in %s has %s, the model expects %s", name,
                     path, dc_shape_str(loaded[i], a, sizeof a), dc_shape_str(want, b, sizeof b));
            goto next;
        }
        if (is_float(loaded[i]->dtype) != is_float(want->dtype)) {
            dc_error("dc_checkpoint_load: tensor '%s' in %s holds %s values, the model's tensor "
                     "is %s (floating point and integer tensors do not load into each other)",
                     name, path, is_float(loaded[i]->dtype) ? "floating-point" : "integer",
                     dc_dtype_name(want->dtype));
            goto next;
        }
        if (!is_float(want->dtype) && want->dtype != loaded[i]->dtype) {
            /* a narrower integer dtype: every value must survive the round trip */
            dc_tensor *narrow = dc__alloc_result(want->dtype, want->ndim, want->shape);
            dc_tensor *back = narrow ? dc__alloc_result(loaded[i]->dtype, want->ndim, want->shape)
                                     : NULL;
            bool same = back && dc_copy_(narrow, loaded[i]) == 0 && dc_copy_(back, narrow) == 0 &&
                        memcmp(dc_data(back), dc_data(loaded[i]),
                               (size_t)dc_numel(back) * dc_dtype_size(back->dtype)) == 0;
            dc_tensor_free(narrow);
            dc_tensor_free(back);
            if (!same) {
                if (back) dc_clear_error(); /* a refused conversion: say which tensor */
                if (back)
                    dc_error("dc_checkpoint_load: tensor '%s' in %s has values that %s cannot "
                             "hold", name, path, dc_dtype_name(want->dtype));
                goto next;
            }
        }
        if (*prefix && is_step_name(list->names[i]) && !valid_step(loaded[i])) {
            dc_error("dc_checkpoint_load: tensor '%s' in %s is %g, not a step count (a whole "
                     "number in [0, 2^53])",
                     name, path, dc_numel(loaded[i]) == 1 ? dc_item(loaded[i]) : NAN);
            goto next;
        }
        rc = 0;
    next:
        free(name);
        if (rc != 0) return -1;
    }
    return 0;
}

/* A model tensor in the file that the model does not have (strict loading). */
static const char *unexpected_name(const dc_safetensors *f, const dc_tensor_list *state)
{
    for (int i = 0; i < dc_safetensors_count(f); i++) {
        const char *name = dc_safetensors_name(f, i);
        if (!strncmp(name, OPTIMIZER_PREFIX, strlen(OPTIMIZER_PREFIX))) continue;
        bool known = false;
        for (int k = 0; k < state->n && !known; k++) known = !strcmp(state->names[k], name);
        if (!known) return name;
    }
    return NULL;
}

int dc_checkpoint_load(const char *path, dc_module *model, dc_optimizer *opt)
{
    if (!path || !model) return dc_error("dc_checkpoint_load: NULL path or model"), -1;
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) return -1;
    dc_tensor_list state = {0}, opt_state = {0};
    int rc = -1;
    size_t scope = dc_scope_begin();
    dc_tensor **loaded = NULL, **opt_loaded = NULL;
    if (dc_module_state(model, &state) != 0 || (opt && dc_optimizer_state(opt, &opt_state) != 0))
        goto done;
    const char *extra = unexpected_name(f, &state);
    if (extra) {
        dc_error("dc_checkpoint_load: %s holds '%s', which the model does not have", path, extra);
        goto done;
    }
    loaded = calloc((size_t)state.n + 1, sizeof *loaded);
    opt_loaded = calloc((size_t)opt_state.n + 1, sizeof *opt_loaded);
    if (!loaded || !opt_loaded) {
        dc_error("dc_checkpoint_load: out of memory");
        goto done;
    }
    if (stage(f, path, &state, "", loaded) != 0 ||
        stage(f, path, &opt_state, OPTIMIZER_PREFIX, opt_loaded) != 0)
        goto done;
    /* everything is present, well-shaped and of a dtype that holds it: now copy */
    rc = 0;
    for (int i = 0; rc == 0 && i < state.n; i++) rc = dc_copy_(state.tensors[i], loaded[i]);
    for (int i = 0; rc == 0 && i < opt_state.n; i++) rc = dc_copy_(opt_state.tensors[i], opt_loaded[i]);
    if (rc == 0 && opt) rc = dc_optimizer_state_loaded(opt);
done:
    free(loaded);
    free(opt_loaded);
    dc_scope_end(scope);
    dc_tensor_list_free(&state);
    dc_tensor_list_free(&opt_state);
    dc_safetensors_close(f);
    return rc;
}
