/* Fuzz target: training checkpoints (dc_checkpoint_load into a model and its optimizer).
 *
 * The input is a whole safetensors file, loaded into the small model of fuzz_common.h
 * (Linear, BatchNorm1d with its int64 counter, ReLU, Linear) with and without its AdamW
 * optimizer. A failed load must leave the model and optimizer exactly as they were (the
 * API's promise: everything is checked before anything is copied); a successful one must
 * leave them usable: the state saves and loads back into a second model unchanged, and a
 * training step runs (its loss may be NaN: loaded values are anything).
 * The model, the optimizer and a copy of their initial state live for the whole run (making
 * them per input would cost more than most inputs, which fail in the header): after an
 * input that changed them, the initial state is copied back. */
#include "fuzz_common.h"

static dc_module *model, *model2;
static dc_optimizer *opt, *opt2;
static dc_tensor_list state, opt_state; /* the live state tensors of model and opt */
static double *initial;                 /* their values at the start */
static int64_t n_values;

/* All the state of model + opt as doubles, into values[0..n_values). */
static void snapshot(double *values)
{
    double *p = values;
    for (int i = 0; i < state.n; i++) {
        FUZZ_CHECK(dc_to_double_buffer(state.tensors[i], p, dc_numel(state.tensors[i])) == 0);
        p += dc_numel(state.tensors[i]);
    }
    for (int i = 0; i < opt_state.n; i++) {
        FUZZ_CHECK(dc_to_double_buffer(opt_state.tensors[i], p, dc_numel(opt_state.tensors[i])) == 0);
        p += dc_numel(opt_state.tensors[i]);
    }
    FUZZ_CHECK(p == values + n_values);
}

/* Put the initial values back (after a load that succeeded and a training step). */
static void restore(void)
{
    size_t scope = dc_scope_begin();
    const double *p = initial;
    dc_tensor_list *lists[2] = {&state, &opt_state};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l]->n; i++) {
            dc_tensor *t = lists[l]->tensors[i];
            dc_tensor *src = dc_empty(DC_F64, t->ndim, t->shape);
            FUZZ_CHECK(src != NULL);
            memcpy(dc_data(src), p, (size_t)dc_numel(t) * sizeof *p);
            FUZZ_CHECK(dc_copy_(t, src) == 0);
            p += dc_numel(t);
        }
    FUZZ_CHECK(dc_optimizer_state_loaded(opt) == 0);
    dc_scope_end(scope);
}

static void setup(void)
{
    FUZZ_CHECK(fuzz_checkpoint_model(&model, &opt) == 0);
    FUZZ_CHECK(fuzz_checkpoint_model(&model2, &opt2) == 0);
    FUZZ_CHECK(dc_module_state(model, &state) == 0 && dc_optimizer_state(opt, &opt_state) == 0);
    dc_tensor_list opt_state2 = {0}; /* creates opt2's buffers now, not in the first input */
    FUZZ_CHECK(dc_optimizer_state(opt2, &opt_state2) == 0);
    dc_tensor_list_free(&opt_state2);
    for (int i = 0; i < state.n; i++) n_values += dc_numel(state.tensors[i]);
    for (int i = 0; i < opt_state.n; i++) n_values += dc_numel(opt_state.tensors[i]);
    initial = malloc((size_t)(n_values + 1) * sizeof *initial);
    FUZZ_CHECK(initial != NULL);
    snapshot(initial);
    fuzz_live_baseline = dc_live_tensors();
}

/* Same values, NaN equal to NaN. */
static bool same_values(const double *a, const double *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (a[i] != a[i] && b[i] != b[i]))) return false;
    return true;
}

/* Load `path` (the model in its initial state) and check the promises. Returns whether the
 * model or optimizer may have changed. */
static bool load_once(const char *path, bool with_optimizer, double *before, double *after)
{
    snapshot(before);
    int rc = dc_checkpoint_load(path, model, with_optimizer ? opt : NULL);
    snapshot(after);
    if (rc != 0) {
        FUZZ_CHECK(rc == -1 && dc_last_error()[0] != '\0');
        FUZZ_CHECK(same_values(before, after, n_values)); /* untouched on error */
        dc_clear_error();
        return false;
    }
    /* the loaded state saves and loads back into the second model unchanged */
    char saved[512];
    fuzz_path(saved, sizeof saved, "checkpoint.safetensors");
    FUZZ_CHECK(dc_checkpoint_save(saved, model, opt, NULL, 0) == 0);
    FUZZ_CHECK(dc_checkpoint_load(saved, model2, opt2) == 0);
    dc_tensor_list state2 = {0}, opt_state2 = {0};
    FUZZ_CHECK(dc_module_state(model2, &state2) == 0 && dc_optimizer_state(opt2, &opt_state2) == 0);
    double *p = before; /* reused for model2's values */
    for (int i = 0; i < state2.n; i++, p += dc_numel(state2.tensors[i - 1]))
        FUZZ_CHECK(dc_to_double_buffer(state2.tensors[i], p, dc_numel(state2.tensors[i])) == 0);
    for (int i = 0; i < opt_state2.n; i++, p += dc_numel(opt_state2.tensors[i - 1]))
        FUZZ_CHECK(dc_to_double_buffer(opt_state2.tensors[i], p, dc_numel(opt_state2.tensors[i])) == 0);
    FUZZ_CHECK(p == before + n_values && same_values(after, before, n_values));
    dc_tensor_list_free(&state2);
    dc_tensor_list_free(&opt_state2);
    /* and training goes on from it */
    (void)fuzz_checkpoint_step(model, opt);
    dc_clear_error();
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    if (!model) setup();
    const char *path = fuzz_file(0, data, size);
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) { /* most inputs: the load fails in the same place, and touches nothing */
        dc_clear_error();
        FUZZ_CHECK(dc_checkpoint_load(path, model, opt) == -1 && dc_last_error()[0] != '\0');
    } else {
        dc_safetensors_close(f);
        double *before = malloc((size_t)(n_values + 1) * sizeof *before);
        double *after = malloc((size_t)(n_values + 1) * sizeof *after);
        FUZZ_CHECK(before && after);
        for (int with_optimizer = 1; with_optimizer >= 0; with_optimizer--)
            if (load_once(path, with_optimizer, before, after)) restore();
        free(before);
        free(after);
    }
    fuzz_end();
    return 0;
}
