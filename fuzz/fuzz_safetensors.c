/* Fuzz target: safetensors files (dc_safetensors_open and everything that reads an open file).
 *
 * The input is a whole file. When it opens, every tensor must read (the header was
 * validated, so only memory can run out, and a fuzz input is small), read_into must accept
 * a float64 destination of the same shape, strided or not, and refuse another shape
 * leaving it untouched; and what was read must save and read back byte for byte (the
 * round trip through dc_safetensors_save, names and shapes included; the writer may refuse
 * only a dtype it does not write). */
#include "fuzz_common.h"

/* Read one tensor every way the API allows; returns it (scope-owned) or NULL. */
static dc_tensor *read_tensor(dc_safetensors *f, const char *name)
{
    FUZZ_CHECK(dc_safetensors_has(f, name));
    dc_tensor *t = dc_safetensors_get(f, name);
    FUZZ_CHECK(t != NULL && dc_is_contiguous(t));
    FUZZ_CHECK((unsigned)t->dtype < DC_DTYPE_COUNT);

    /* a float64 copy (converting), then a transposed float64 view of a bigger buffer */
    dc_tensor *dst = dc_zeros(DC_F64, t->ndim, t->shape);
    FUZZ_CHECK(dst != NULL);
    FUZZ_CHECK(dc_safetensors_read_into(f, name, dst) == 0);
    if (t->ndim >= 2 && dc_numel(t) <= 4096) {
        int64_t shape[DC_MAX_DIMS];
        memcpy(shape, t->shape, sizeof shape);
        shape[0] = t->shape[1], shape[1] = t->shape[0];
        dc_tensor *base = dc_zeros(DC_F64, t->ndim, shape);
        FUZZ_CHECK(base != NULL);
        dc_tensor *view = dc_transpose(base, 0, 1);
        FUZZ_CHECK(view != NULL && dc_same_shape(view, t));
        FUZZ_CHECK(dc_safetensors_read_into(f, name, view) == 0);
    }
    /* a wrong shape is refused and leaves the destination as it was */
    dc_tensor *wrong = dc_full(DC_F64, DC_SHAPE(dc_numel(t) + 1), 42.0);
    FUZZ_CHECK(wrong != NULL);
    dc_clear_error();
    FUZZ_CHECK(dc_safetensors_read_into(f, name, wrong) == -1 && dc_last_error()[0]);
    dc_clear_error();
    for (int64_t i = 0; i < dc_numel(wrong); i++) FUZZ_CHECK(((double *)dc_data(wrong))[i] == 42.0);
    return t;
}

/* Save the tensors read from f, open the result and compare everything. */
static void round_trip(dc_safetensors *f, dc_tensor **tensors, int n)
{
    dc_named_tensor *items = calloc((size_t)n + 1, sizeof *items);
    FUZZ_CHECK(items != NULL);
    for (int i = 0; i < n; i++) {
        items[i].name = dc_safetensors_name(f, i);
        items[i].tensor = tensors[i];
        if (!items[i].name[0]) { /* the reader takes "" as a name, the writer refuses it */
            free(items);
            return;
        }
    }
    const char *meta[] = {"format", "pt"};
    char path[512];
    fuzz_path(path, sizeof path, "round_trip.safetensors");
    if (dc_safetensors_save(path, items, n, meta, 1) != 0) {
        /* only a dtype the writer does not take may stop it (the reader takes more) */
        bool all_writable = true;
        for (int i = 0; i < n; i++)
            all_writable &= tensors[i]->dtype == DC_F32 || tensors[i]->dtype == DC_F64 ||
                            tensors[i]->dtype == DC_I64;
        FUZZ_CHECK(!all_writable);
        dc_clear_error();
        free(items);
        return;
    }
    dc_safetensors *g = dc_safetensors_open(path);
    FUZZ_CHECK(g != NULL && dc_safetensors_count(g) == n);
    FUZZ_CHECK(dc_safetensors_metadata(g, "format") && !strcmp(dc_safetensors_metadata(g, "format"), "pt"));
    for (int i = 0; i < n; i++) {
        dc_tensor *back = dc_safetensors_get(g, items[i].name);
        FUZZ_CHECK(back != NULL && back->dtype == tensors[i]->dtype);
        FUZZ_CHECK(dc_same_shape(back, tensors[i]));
        size_t bytes = (size_t)dc_numel(back) * dc_dtype_size(back->dtype);
        FUZZ_CHECK(bytes == 0 || memcmp(dc_data(back), dc_data(tensors[i]), bytes) == 0);
    }
    dc_safetensors_close(g);
    free(items);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_init();
    const char *path = fuzz_file(0, data, size);
    size_t scope = dc_scope_begin();
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) {
        FUZZ_CHECK(dc_last_error()[0] != '\0'); /* a failure always says why */
    } else {
        int n = dc_safetensors_count(f);
        FUZZ_CHECK(n >= 0);
        dc_clear_error();
        FUZZ_CHECK(dc_safetensors_name(f, n) == NULL && dc_safetensors_name(f, -1) == NULL);
        dc_clear_error();
        const char *keys[] = {"format", "deepc", "model", "", "__metadata__"};
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) (void)dc_safetensors_metadata(f, keys[k]);
        FUZZ_CHECK(dc_safetensors_get(f, "\x01 not a tensor name") == NULL);
        dc_clear_error();
        dc_tensor **tensors = calloc((size_t)n + 1, sizeof *tensors);
        FUZZ_CHECK(tensors != NULL);
        for (int i = 0; i < n; i++) {
            const char *name = dc_safetensors_name(f, i);
            FUZZ_CHECK(name != NULL);
            tensors[i] = read_tensor(f, name);
        }
        round_trip(f, tensors, n);
        free(tensors);
        dc_safetensors_close(f);
    }
    dc_scope_end(scope);
    fuzz_end();
    return 0;
}
