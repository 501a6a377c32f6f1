/* LoRA adapters on Linear layers (book §8.3; Hu et al. 2021), with PEFT's conventions.
 *
 * An adapted Linear keeps its weight W [out, in] (and bias) frozen and gains three children:
 *   lora_A        Linear(in, r, bias=False), torch's kaiming-uniform(a=sqrt(5)) init,
 *                 i.e. U(-1/sqrt(in), 1/sqrt(in)) (PEFT's default);
 *   lora_B        Linear(r, out, bias=False), zeros, so the adapted layer starts equal to the
 *                 base;
 *   lora_dropout  dropout on the adapter's input (no parameters; it also holds r, alpha and
 *                 the layer's original forward);
 * and computes  y = x W^T + b + (alpha / r) * B(A(dropout(x))).
 * State names are therefore "<name>.lora_A.weight" / "<name>.lora_B.weight" next to the
 * base's "<name>.weight", and the adapter file uses PEFT's "base_model.model.<name>.lora_A.weight".
 *
 * QLoRA: when the Linear holds a quantized weight (dc_module_quantize, e.g. Q4_1) the base
 * product runs on the quantized blocks (dc_qlinear) also in training; its gradient with
 * respect to x is g W with the float weight, which holds exactly the dequantized values. */
#include "deepc/io.h"
#include "deepc/nn.h"
#include "deepc/quant.h"
#include "../core/internal.h"
#include "../quant/quant_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char lora_type[] = "LoRADropout";
static const char file_prefix[] = "base_model.model.";

typedef struct {
    int64_t rank;
    double alpha, dropout;
    dc_rng *rng;
    dc_tensor *(*base_forward)(dc_module *, dc_tensor *); /* the Linear's own forward */
} lora_info;

/* The adapter state of an adapted Linear, or NULL. */
static dc_module *lora_of(const dc_module *m)
{
    if (!m || strcmp(m->type, "Linear")) return NULL;
    dc_module *d = dc_module_child(m, "lora_dropout");
    return d && d->type == lora_type ? d : NULL;
}

static double lora_scale(const lora_info *L) { return L->alpha / (double)L->rank; }

static dc_tensor *lora_dropout_forward(dc_module *m, dc_tensor *x)
{
    const lora_info *L = m->impl;
    return dc_dropout(x, L->dropout, m->training, L->rng);
}

static void lora_describe(const dc_module *m, char *buf, size_t size)
{
    const lora_info *L = m->impl;
    snprintf(buf, size, "r=%lld, alpha=%g, p=%g", (long long)L->rank, L->alpha, L->dropout);
}

/* ---- The quantized base product with a gradient for x (QLoRA) --------------------------- */

/* forward: y = x Wq^T + b on the blocks (runs under no-grad). */
static dc_tensor *qbase_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)ctx;
    dc_module *m = user;
    return dc_qlinear(in[0], dc_module_qweight(m), dc_module_param(m, "bias"));
}

/* backward: dx = g W, W the float weight (= the dequantized blocks; frozen). */
static int qbase_backward(dc_node *ctx, dc_tensor *g, dc_tensor **grads, void *user)
{
    dc_module *m = user;
    if (!dc_ctx_needs_grad(ctx, 0)) return 0;
    grads[0] = dc_matmul(g, dc_module_param(m, "weight"));
    return grads[0] ? 0 : -1;
}

static const dc_function qbase_fn = {"qlora_base_linear", qbase_forward, qbase_backward, false};

static bool qbase_applies(const dc_module *m, const dc_tensor *x)
{
    const dc_tensor *b = dc_module_param(m, "bias");
    return dc_module_qweight(m) && x && x->dtype == DC_F32 &&
           !dc_module_param(m, "weight")->requires_grad && !(b && b->requires_grad);
}

/* ---- The adapted Linear's forward ---------------------------------------------------------- */

/* y = base(x) + (alpha / r) * lora_B(lora_A(lora_dropout(x))) */
static dc_tensor *lora_linear_forward(dc_module *m, dc_tensor *x)
{
    dc_module *drop = lora_of(m);
    if (!drop) return dc_error("LoRA Linear: adapter state missing");
    const lora_info *L = drop->impl;
    if (!x) return dc_error("LoRA Linear: input is NULL");
    size_t scope = dc_scope_begin();
    dc_tensor *base = qbase_applies(m, x) ? dc_function_apply(&qbase_fn, 1, &x, m)
                                          : L->base_forward(m, x);
    dc_tensor *h = dc_forward(dc_module_child(m, "lora_B"),
                              dc_forward(dc_module_child(m, "lora_A"), dc_forward(drop, x)));
    dc_tensor *y = base && h ? dc_add(base, dc_mul_scalar(h, lora_scale(L))) : NULL;
    return dc_scope_return(scope, y);
}

/* ---- Building and attaching adapters ------------------------------------------------------- */

typedef struct {
    dc_module *A, *B, *drop;
} adapter;

static void adapter_free(adapter *a)
{
    dc_module_free(a->A);
    dc_module_free(a->B);
    dc_module_free(a->drop);
    memset(a, 0, sizeof *a);
}

/* A fresh adapter for a Linear [out, in]: A kaiming-uniform, B zeros. */
static int adapter_build(adapter *a, int64_t in, int64_t out, const lora_info *info)
{
    memset(a, 0, sizeof *a);
    a->A = dc_linear_new(in, info->rank, false, info->rng);
    a->B = dc_linear_new(info->rank, out, false, info->rng);
    a->drop = dc_module_new_impl(lora_type, info, sizeof *info);
    if (!a->A || !a->B || !a->drop || dc_fill_(dc_module_param(a->B, "weight"), 0.0) != 0) {
        adapter_free(a);
        return -1;
    }
    a->drop->type = lora_type;
    a->drop->forward = lora_dropout_forward;
    a->drop->describe = lora_describe;
    return 0;
}

/* Give m the adapter (ownership passes to m) and the LoRA forward. */
static int adapter_attach(dc_module *m, adapter *a)
{
    lora_info *L = a->drop->impl;
    L->base_forward = m->forward;
    dc_module *A = a->A, *B = a->B, *drop = a->drop;
    memset(a, 0, sizeof *a);
    if (!dc_module_add_child(m, "lora_A", A)) {
        dc_module_free(B);
        dc_module_free(drop);
        return -1;
    }
    if (!dc_module_add_child(m, "lora_B", B)) {
        dc_module_free(drop);
        return -1;
    }
    if (!dc_module_add_child(m, "lora_dropout", drop)) return -1;
    drop->training = m->training;
    m->forward = lora_linear_forward;
    return 0;
}

/* Remove the children called "lora_A", "lora_B", "lora_dropout" from m (freeing them). */
static void adapter_detach(dc_module *m)
{
    int k = 0;
    for (int i = 0; i < m->n_children; i++) {
        const char *n = m->child_names[i];
        if (!strcmp(n, "lora_A") || !strcmp(n, "lora_B") || !strcmp(n, "lora_dropout")) {
            dc_module_free(m->children[i]);
            free(m->child_names[i]);
            continue;
        }
        m->children[k] = m->children[i];
        m->child_names[k] = m->child_names[i];
        k++;
    }
    m->n_children = k;
}

/* requires_grad only on the adapters' weights. */
static void freeze_all_but_adapters(dc_module *model)
{
    dc_tensor_list list;
    if (dc_module_parameters(model, &list) != 0) return;
    for (int i = 0; i < list.n; i++) {
        size_t len = strlen(list.names[i]);
        bool adapter_weight =
            len >= 13 && (!strcmp(list.names[i] + len - 13, "lora_A.weight") ||
                          !strcmp(list.names[i] + len - 13, "lora_B.weight"));
        list.tensors[i]->requires_grad = adapter_weight;
        if (!adapter_weight) dc_zero_grad(list.tensors[i]);
    }
    dc_tensor_list_free(&list);
}

/* Every Linear of model whose name matches pattern (NULL: all), depth first; only adapted
 * ones when adapted_only. Frees *names itself on error. */
static int linear_modules(dc_module *model, const char *pattern, bool adapted_only, int *n,
                          dc_module ***mods, char ***names)
{
    if (dc__quant_modules(model, pattern, n, mods, names) != 0) return -1;
    int k = 0;
    for (int i = 0; i < *n; i++) {
        dc_module *m = (*mods)[i];
        if (strcmp(m->type, "Linear") || (adapted_only && !lora_of(m))) {
            free((*names)[i]);
            continue;
        }
        (*mods)[k] = m;
        (*names)[k] = (*names)[i];
        k++;
    }
    *n = k;
    return 0;
}

static void names_free(int n, dc_module **mods, char **names)
{
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(mods);
}

int dc_lora_apply(dc_module *model, const dc_lora_config *config)
{
    static const char op[] = "dc_lora_apply";
    if (!model || !config) return dc_error("%s: %s is NULL", op, model ? "config" : "model"), -1;
    if (config->rank < 1)
        return dc_error("%s: rank must be >= 1, got %lld", op, (long long)config->rank), -1;
    if (!(config->alpha > 0) || !isfinite(config->alpha))
        return dc_error("%s: alpha must be a positive number, got %g", op, config->alpha), -1;
    if (!(config->dropout >= 0 && config->dropout < 1))
        return dc_error("%s: dropout must be in [0, 1), got %g", op, config->dropout), -1;
    int n;
    dc_module **mods;
    char **names;
    if (linear_modules(model, config->target, false, &n, &mods, &names) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        if (lora_of(mods[i]) || dc_module_child(mods[i], "lora_A")) {
            dc_error("%s: Linear '%s' already has an adapter", op, names[i]);
            rc = -1;
        }
    adapter *ad = calloc((size_t)n + 1, sizeof *ad);
    if (!ad && rc == 0) rc = -1, dc_error("%s: out of memory", op);
    lora_info info = {config->rank, config->alpha, config->dropout, config->rng, NULL};
    /* build every adapter before changing any module */
    for (int i = 0; i < n && rc == 0; i++) {
        const dc_tensor *w = dc_module_param(mods[i], "weight");
        rc = adapter_build(&ad[i], w->shape[1], w->shape[0], &info);
    }
    for (int i = 0; i < n && rc == 0; i++) rc = adapter_attach(mods[i], &ad[i]);
    for (int i = 0; ad && i < n; i++) adapter_free(&ad[i]);
    free(ad);
    names_free(n, mods, names);
    if (rc != 0) return -1;
    freeze_all_but_adapters(model);
    return n;
}

int dc_lora_parameters(const dc_module *model, dc_tensor_list *out)
{
    if (dc_module_parameters(model, out) != 0) return -1;
    int k = 0;
    for (int i = 0; i < out->n; i++) {
        size_t len = strlen(out->names[i]);
        bool keep = len >= 13 && (!strcmp(out->names[i] + len - 13, "lora_A.weight") ||
                                  !strcmp(out->names[i] + len - 13, "lora_B.weight"));
        if (!keep) {
            free(out->names[i]);
            continue;
        }
        out->names[k] = out->names[i];
        out->tensors[k] = out->tensors[i];
        k++;
    }
    out->n = k;
    return 0;
}

/* ---- The adapter file ---------------------------------------------------------------------- */

int dc_lora_save(const char *path, const dc_module *model, const char *const *metadata_kv,
                 int n_kv)
{
    static const char op[] = "dc_lora_save";
    if (!path || !model) return dc_error("%s: %s is NULL", op, path ? "model" : "path"), -1;
    if (n_kv < 0 || n_kv > 64) return dc_error("%s: n_kv must be in [0, 64], got %d", op, n_kv), -1;
    int n;
    dc_module **mods;
    char **names;
    if (linear_modules((dc_module *)model, NULL, true, &n, &mods, &names) != 0) return -1;
    int rc = 0;
    if (n == 0) rc = -1, dc_error("%s: the model has no LoRA adapters (dc_lora_apply)", op);
    const lora_info *first = n ? lora_of(mods[0])->impl : NULL;
    for (int i = 1; i < n && rc == 0; i++) {
        const lora_info *L = lora_of(mods[i])->impl;
        if (L->rank != first->rank || L->alpha != first->alpha || L->dropout != first->dropout) {
            dc_error("%s: adapters differ in r/alpha/dropout ('%s' and '%s'); save them apart", op,
                     names[0], names[i]);
            rc = -1;
        }
    }
    dc_named_tensor *items = calloc(2 * (size_t)n + 1, sizeof *items);
    char **full = calloc(2 * (size_t)n + 1, sizeof *full);
    size_t targets_len = 1;
    for (int i = 0; i < n; i++) targets_len += strlen(names[i]) + 1;
    char *targets = malloc(targets_len);
    if (rc == 0 && (!items || !full || !targets)) rc = -1, dc_error("%s: out of memory", op);
    if (targets) targets[0] = '\0';
    for (int i = 0; i < n && rc == 0; i++) {
        for (int j = 0; j < 2 && rc == 0; j++) {
            size_t len = sizeof file_prefix + strlen(names[i]) + 16;
            char *s = malloc(len);
            if (!s) {
                rc = -1, dc_error("%s: out of memory", op);
                break;
            }
            snprintf(s, len, "%s%s.lora_%c.weight", file_prefix, names[i], j ? 'B' : 'A');
            full[2 * i + j] = s;
            items[2 * i + j].name = s;
            items[2 * i + j].tensor = dc_module_param(mods[i], j ? "lora_B.weight" : "lora_A.weight");
        }
        if (i) strcat(targets, ",");
        strcat(targets, names[i]);
    }
    if (rc == 0) {
        char r[32], alpha[32], drop[32];
        snprintf(r, sizeof r, "%lld", (long long)first->rank);
        snprintf(alpha, sizeof alpha, "%.17g", first->alpha);
        snprintf(drop, sizeof drop, "%.17g", first->dropout);
        const char *kv[2 * (5 + 64)] = {"format", "pt", "peft_type", "LORA", "r", r,
                                        "lora_alpha", alpha, "lora_dropout", drop};
        kv[10] = "target_modules", kv[11] = targets;
        int m = 6;
        for (int i = 0; i < n_kv; i++) kv[2 * m] = metadata_kv[2 * i], kv[2 * m + 1] = metadata_kv[2 * i + 1], m++;
        rc = dc_safetensors_save(path, items, 2 * n, kv, m);
    }
    for (int i = 0; full && i < 2 * n; i++) free(full[i]);
    free(full);
    free(items);
    free(targets);
    names_free(n, mods, names);
    return rc;
}

/* A number from the file's metadata; false with an error if absent or not a number. */
static bool metadata_number(dc_safetensors *f, const char *key, const char *path, double *out,
                            const char *op)
{
    const char *v = dc_safetensors_metadata(f, key);
    char *end;
    errno = 0;
    double d = v ? strtod(v, &end) : 0;
    if (!v || end == v || *end || errno || !isfinite(d)) {
        dc_error("%s: %s: metadata '%s' %s%s%s", op, path, key, v ? "is not a number: '" : "is missing",
                 v ? v : "", v ? "'" : " (not a LoRA adapter file?)");
        return false;
    }
    *out = d;
    return true;
}

/* An adapter file read and checked on its own: per module its name and (A, B), one rank,
 * alpha and dropout from the metadata. */
typedef struct {
    char name[512];
    dc_tensor *A, *B;  /* the file's tensors (scope-owned) */
    dc_module *module; /* dc_lora_load: the model's Linear */
    adapter fresh;     /* dc_lora_load: for a module that has no adapter yet */
} adapter_entry;

typedef struct {
    int n;
    adapter_entry *e;
    int64_t rank;
    double alpha, dropout;
} adapter_file;

static int adapter_file_read(dc_safetensors *f, const char *path, adapter_file *out,
                             const char *op)
{
    memset(out, 0, sizeof *out);
    int count = dc_safetensors_count(f);
    double r_meta = 0;
    out->e = calloc((size_t)count + 1, sizeof *out->e);
    if (!out->e) return dc_error("%s: out of memory", op), -1;
    if (!metadata_number(f, "lora_alpha", path, &out->alpha, op)) return -1;
    if (dc_safetensors_metadata(f, "lora_dropout") &&
        !metadata_number(f, "lora_dropout", path, &out->dropout, op))
        return -1;
    if (dc_safetensors_metadata(f, "r") && !metadata_number(f, "r", path, &r_meta, op)) return -1;
    if (!(out->alpha > 0) || !(out->dropout >= 0 && out->dropout < 1))
        return dc_error("%s: %s: lora_alpha %g must be > 0 and lora_dropout %g in [0, 1)", op,
                        path, out->alpha, out->dropout), -1;
    if (count == 0) return dc_error("%s: %s holds no tensors", op, path), -1;
    for (int i = 0; i < count; i++) {
        const char *t = dc_safetensors_name(f, i);
        size_t len = strlen(t), plen = sizeof file_prefix - 1;
        bool is_a = len > plen + 14 && !strcmp(t + len - 14, ".lora_A.weight");
        bool is_b = len > plen + 14 && !strcmp(t + len - 14, ".lora_B.weight");
        if (strncmp(t, file_prefix, plen) || (!is_a && !is_b) || len - plen - 14 >= 512)
            return dc_error("%s: %s: tensor '%s' is not a LoRA weight "
                            "(base_model.model.<module>.lora_A.weight / lora_B.weight)", op, path,
                            t), -1;
        char name[512];
        memcpy(name, t + plen, len - plen - 14);
        name[len - plen - 14] = '\0';
        int k = 0;
        while (k < out->n && strcmp(out->e[k].name, name)) k++;
        if (k == out->n) snprintf(out->e[out->n++].name, sizeof out->e[k].name, "%s", name);
        dc_tensor *v = dc_safetensors_get(f, t);
        if (!v) return -1;
        if (v->ndim != 2 || (v->dtype != DC_F32 && v->dtype != DC_F64))
            return dc_error("%s: %s: tensor '%s' must be a float matrix", op, path, t), -1;
        if (is_a) out->e[k].A = v;
        else out->e[k].B = v;
    }
    for (int k = 0; k < out->n; k++) {
        adapter_entry *it = &out->e[k];
        char a[64], b[64];
        if (!it->A || !it->B)
            return dc_error("%s: %s: '%s' has lora_%c but no lora_%c", op, path, it->name,
                            it->A ? 'A' : 'B', it->A ? 'B' : 'A'), -1;
        int64_t r = it->A->shape[0];
        if (it->B->shape[1] != r)
            return dc_error("%s: %s: '%s' has lora_A %s and lora_B %s (want [r, in] and [out, r])",
                            op, path, it->name, dc__shape_fmt(it->A->ndim, it->A->shape, a, sizeof a),
                            dc__shape_fmt(it->B->ndim, it->B->shape, b, sizeof b)), -1;
        if (k && r != out->rank)
            return dc_error("%s: %s: adapters of rank %lld and %lld ('%s'); one rank per file", op,
                            path, (long long)out->rank, (long long)r, it->name), -1;
        if (r_meta > 0 && (double)r != r_meta)
            return dc_error("%s: %s: metadata r = %g but '%s' has rank %lld", op, path, r_meta,
                            it->name, (long long)r), -1;
        out->rank = r;
    }
    return 0;
}

static void adapter_file_free(adapter_file *a)
{
    for (int k = 0; a->e && k < a->n; k++) adapter_free(&a->e[k].fresh);
    free(a->e);
    memset(a, 0, sizeof *a);
}

/* Does the pair fit a weight [out, in]? Else an error naming the module. */
static bool adapter_fits(const adapter_entry *it, const dc_tensor *w, const char *path,
                         const char *op)
{
    char a[64], b[64], c[64];
    if (w->ndim == 2 && it->A->shape[1] == w->shape[1] && it->B->shape[0] == w->shape[0])
        return true;
    dc_error("%s: %s: adapter of '%s' has lora_A %s and lora_B %s, which do not fit its "
             "weight %s", op, path, it->name, dc__shape_fmt(it->A->ndim, it->A->shape, a, sizeof a),
             dc__shape_fmt(it->B->ndim, it->B->shape, b, sizeof b), dc__shape_fmt(w->ndim, w->shape, c, sizeof c));
    return false;
}

int dc_lora_load(const char *path, dc_module *model, dc_rng *rng)
{
    static const char op[] = "dc_lora_load";
    if (!path || !model) return dc_error("%s: %s is NULL", op, path ? "model" : "path"), -1;
    dc_safetensors *f = dc_safetensors_open(path);
    if (!f) return -1;
    size_t scope = dc_scope_begin();
    adapter_file af;
    int rc = adapter_file_read(f, path, &af, op);
    /* check every module against the model */
    for (int k = 0; k < af.n && rc == 0; k++) {
        adapter_entry *it = &af.e[k];
        dc_module *m = it->module = dc_module_child(model, it->name);
        if (!m || strcmp(m->type, "Linear")) {
            dc_error("%s: %s: the model has no Linear layer '%s' (it has %s)", op, path, it->name,
                     m ? m->type : "no such module");
            rc = -1;
            break;
        }
        const dc_tensor *w = dc_module_param(m, "weight");
        if (!adapter_fits(it, w, path, op)) {
            rc = -1;
            break;
        }
        dc_module *have = lora_of(m);
        if (have && ((lora_info *)have->impl)->rank != af.rank) {
            dc_error("%s: %s: '%s' already has an adapter of rank %lld (the file's: %lld)", op,
                     path, it->name, (long long)((lora_info *)have->impl)->rank,
                     (long long)af.rank);
            rc = -1;
            break;
        }
        if (!have && dc_module_child(m, "lora_A")) {
            dc_error("%s: '%s' has a child named lora_A that is not an adapter", op, it->name);
            rc = -1;
            break;
        }
        lora_info info = {af.rank, af.alpha, af.dropout, rng, NULL};
        if (!have) rc = adapter_build(&it->fresh, w->shape[1], w->shape[0], &info);
    }
    /* everything checked: attach and copy */
    for (int k = 0; k < af.n && rc == 0; k++) {
        adapter_entry *it = &af.e[k];
        if (it->fresh.A) rc = adapter_attach(it->module, &it->fresh);
        else {
            lora_info *L = lora_of(it->module)->impl;
            L->alpha = af.alpha, L->dropout = af.dropout;
        }
        if (rc == 0) rc = dc_copy_(dc_module_param(it->module, "lora_A.weight"), it->A);
        if (rc == 0) rc = dc_copy_(dc_module_param(it->module, "lora_B.weight"), it->B);
    }
    int n = af.n;
    adapter_file_free(&af);
    dc_scope_end(scope);
    dc_safetensors_close(f);
    if (rc != 0) return -1;
    freeze_all_but_adapters(model);
    return n;
}

int dc_lora_merge_file(const char *base_path, const char *adapter_path, const char *out_path)
{
    static const char op[] = "dc_lora_merge_file";
    if (!base_path || !adapter_path || !out_path) return dc_error("%s: a path is NULL", op), -1;
    dc_safetensors *base = dc_safetensors_open(base_path);
    dc_safetensors *fa = base ? dc_safetensors_open(adapter_path) : NULL;
    if (!fa) {
        dc_safetensors_close(base);
        return -1;
    }
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    adapter_file af;
    int rc = adapter_file_read(fa, adapter_path, &af, op);
    if (rc == 0 && dc_safetensors_metadata(base, "quantization"))
        rc = -1, dc_error("%s: %s is quantized: merge into the float checkpoint, then quantize",
                          op, base_path);
    int n = dc_safetensors_count(base), n_meta = 0;
    while (dc_safetensors_metadata_key(base, n_meta)) n_meta++;
    dc_named_tensor *items = calloc((size_t)n + 1, sizeof *items);
    const char **kv = calloc(2 * (size_t)n_meta + 1, sizeof *kv);
    char **wname = calloc((size_t)af.n + 1, sizeof *wname);
    if (rc == 0 && (!items || !kv || !wname)) rc = -1, dc_error("%s: out of memory", op);
    for (int k = 0; k < af.n && rc == 0; k++) {
        size_t len = strlen(af.e[k].name) + 8;
        if (!(wname[k] = malloc(len))) {
            rc = -1, dc_error("%s: out of memory", op);
            break;
        }
        snprintf(wname[k], len, "%s.weight", af.e[k].name);
        if (!dc_safetensors_has(base, wname[k])) {
            dc_error("%s: %s has no tensor '%s' for the adapter's '%s'", op, base_path, wname[k],
                     af.e[k].name);
            rc = -1;
        }
    }
    /* every tensor of the base except the optimizer's state; adapted weights merged */
    int m = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const char *name = dc_safetensors_name(base, i);
        if (!strncmp(name, "optimizer.", 10)) continue;
        dc_tensor *t = dc_safetensors_get(base, name);
        if (!t) {
            rc = -1;
            break;
        }
        for (int k = 0; k < af.n; k++) {
            if (strcmp(name, wname[k])) continue;
            if ((t->dtype != DC_F32 && t->dtype != DC_F64) || !adapter_fits(&af.e[k], t, base_path, op)) {
                if (t->dtype != DC_F32 && t->dtype != DC_F64)
                    dc_error("%s: %s: '%s' is not a float tensor", op, base_path, name);
                rc = -1;
                break;
            }
            double scale = af.alpha / (double)af.rank;
            dc_tensor *ba = dc_matmul(dc_to_dtype(af.e[k].B, DC_F64), dc_to_dtype(af.e[k].A, DC_F64));
            t = dc_to_dtype(dc_add(dc_to_dtype(t, DC_F64), dc_mul_scalar(ba, scale)), t->dtype);
            if (!t) rc = -1;
        }
        items[m].name = name;
        items[m].tensor = t;
        m++;
    }
    for (int i = 0; i < n_meta; i++) {
        kv[2 * i] = dc_safetensors_metadata_key(base, i);
        kv[2 * i + 1] = dc_safetensors_metadata(base, kv[2 * i]);
    }
    if (rc == 0) rc = dc_safetensors_save(out_path, items, m, kv, n_meta);
    int merged = af.n;
    for (int k = 0; wname && k < af.n; k++) free(wname[k]);
    free(wname);
    free(kv);
    free(items);
    adapter_file_free(&af);
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    dc_safetensors_close(fa);
    dc_safetensors_close(base);
    return rc == 0 ? merged : -1;
}

/* ---- Merging ------------------------------------------------------------------------------- */

int dc_lora_merge(dc_module *model)
{
    static const char op[] = "dc_lora_merge";
    if (!model) return dc_error("%s: model is NULL", op), -1;
    int n;
    dc_module **mods;
    char **names;
    if (linear_modules(model, NULL, true, &n, &mods, &names) != 0) return -1;
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor **merged = calloc((size_t)n + 1, sizeof *merged);
    dc_qtensor **q = calloc((size_t)n + 1, sizeof *q);
    int rc = merged && q ? 0 : -1;
    if (rc) dc_error("%s: out of memory", op);
    /* W' = W + (alpha / r) B A for every module first (and its blocks for a quantized one) */
    for (int i = 0; i < n && rc == 0; i++) {
        dc_module *m = mods[i];
        const lora_info *L = lora_of(m)->impl;
        dc_tensor *w = dc_module_param(m, "weight");
        dc_tensor *ba = dc_matmul(dc_module_param(m, "lora_B.weight"),
                                  dc_module_param(m, "lora_A.weight"));
        merged[i] = ba ? dc_add(w, dc_to_dtype(dc_mul_scalar(ba, lora_scale(L)), w->dtype)) : NULL;
        const dc_qtensor *qw = dc_module_qweight(m);
        if (merged[i] && qw) q[i] = dc_quantize(merged[i], qw->type);
        if (!merged[i] || (qw && !q[i])) {
            char why[400];
            snprintf(why, sizeof why, "%s", dc_last_error());
            dc_error("%s: Linear '%s': %s", op, names[i], why);
            rc = -1;
        }
    }
    for (int i = 0; i < n && rc == 0; i++) {
        dc_module *m = mods[i];
        rc = dc_copy_(dc_module_param(m, "weight"), merged[i]);
        if (rc == 0 && q[i]) {
            rc = dc_module_set_qweight(m, q[i]);
            q[i] = NULL;
        }
        m->forward = ((lora_info *)lora_of(m)->impl)->base_forward;
        adapter_detach(m);
    }
    for (int i = 0; q && i < n; i++) dc_qtensor_free(q[i]);
    free(q);
    free(merged);
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    names_free(n, mods, names);
    return rc == 0 ? n : -1;
}

int dc_lora_count(const dc_module *model)
{
    if (!model) return 0;
    int n = lora_of(model) ? 1 : 0;
    for (int i = 0; i < model->n_children; i++) n += dc_lora_count(model->children[i]);
    return n;
}
