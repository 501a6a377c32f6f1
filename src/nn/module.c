/* The module system: named parameters, buffers and children, PyTorch-style dotted names,
 * train/eval, freezing, and the model summary (a hook in dc_forward). */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <stdlib.h>
#include <string.h>

dc_module *dc_module_new(const char *type)
{
    dc_module *m = calloc(1, sizeof *m);
    if (!m) return dc_error("dc_module_new: out of memory");
    m->type = type ? type : "Module";
    m->training = true;
    return m;
}

static void free_impl(dc_module *m) { free(m->impl); }

dc_module *dc_module_new_impl(const char *type, const void *impl, size_t size)
{
    void *copy = malloc(size ? size : 1);
    dc_module *m = copy ? dc_module_new(type) : NULL;
    if (!m) {
        free(copy);
        return dc_error("dc_module_new_impl: out of memory for %s", type ? type : "Module");
    }
    if (impl) memcpy(copy, impl, size);
    m->impl = copy;
    m->destroy = free_impl;
    return m;
}

/* ---- Hooks ---------------------------------------------------------------------------------- */

struct dc_module_hooks {
    int n, cap, next_handle;
    struct {
        dc_forward_hook_fn forward; /* one of the two is set */
        dc_grad_hook_fn backward;
        void *user;
        int handle;
    } *items;
};

static void module_hooks_free(struct dc_module_hooks *h)
{
    if (!h) return;
    free(h->items);
    free(h);
}

static int add_hook(dc_module *m, dc_forward_hook_fn forward, dc_grad_hook_fn backward,
                    void *user, const char *op)
{
    if (!m) return dc_error("%s: module is NULL", op), -1;
    if (!forward && !backward) return dc_error("%s: hook function is NULL", op), -1;
    struct dc_module_hooks *h = m->hooks;
    if (!h && !(h = m->hooks = calloc(1, sizeof *h))) return dc_error("%s: out of memory", op), -1;
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 4;
        void *grown = realloc(h->items, (size_t)cap * sizeof *h->items);
        if (!grown) return dc_error("%s: out of memory", op), -1;
        h->items = grown;
        h->cap = cap;
    }
    h->items[h->n].forward = forward;
    h->items[h->n].backward = backward;
    h->items[h->n].user = user;
    h->items[h->n].handle = h->next_handle;
    h->n++;
    return h->next_handle++;
}

int dc_module_register_forward_hook(dc_module *m, dc_forward_hook_fn fn, void *user)
{
    return add_hook(m, fn, NULL, user, "dc_module_register_forward_hook");
}

int dc_module_register_backward_hook(dc_module *m, dc_grad_hook_fn fn, void *user)
{
    return add_hook(m, NULL, fn, user, "dc_module_register_backward_hook");
}

int dc_module_remove_hook(dc_module *m, int handle)
{
    struct dc_module_hooks *h = m ? m->hooks : NULL;
    for (int k = 0; h && k < h->n; k++) {
        if (h->items[k].handle != handle) continue;
        memmove(&h->items[k], &h->items[k + 1], (size_t)(h->n - k - 1) * sizeof *h->items);
        h->n--;
        return 0;
    }
    return dc_error("dc_module_remove_hook: no hook %d on this module", handle), -1;
}

/* After m's forward: forward hooks, and backward hooks attached to the output's gradient
 * (an output that needs no gradient gets none: no backward will reach it). */
static dc_tensor *run_module_hooks(dc_module *m, dc_tensor *x, dc_tensor *y)
{
    struct dc_module_hooks *h = m->hooks;
    for (int k = 0; y && h && k < h->n; k++) {
        if (h->items[k].forward) h->items[k].forward(m, x, y, h->items[k].user);
        else if (y->requires_grad && dc_register_hook(y, h->items[k].backward, h->items[k].user) < 0)
            return NULL;
    }
    return y;
}

void dc_module_free(dc_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_children; i++) {
        dc_module_free(m->children[i]);
        free(m->child_names[i]);
    }
    for (int i = 0; i < m->n_params; i++) {
        dc_tensor_free(m->params[i]);
        free(m->param_names[i]);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        dc_tensor_free(m->buffers[i]);
        free(m->buffer_names[i]);
    }
    module_hooks_free(m->hooks);
    if (m->destroy) m->destroy(m);
    free(m->children);
    free(m->child_names);
    free(m->params);
    free(m->param_names);
    free(m->buffers);
    free(m->buffer_names);
    free(m);
}

/* ---- Registration -------------------------------------------------------------------------- */

static bool name_taken(const dc_module *m, const char *name)
{
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->param_names[i], name)) return true;
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffer_names[i], name)) return true;
    for (int i = 0; i < m->n_children; i++)
        if (!strcmp(m->child_names[i], name)) return true;
    return false;
}

/* Append (name, item) to parallel arrays; false on failure. */
static bool append(char ***names, void ***items, int *n, const char *name, void *item)
{
    char **nn = realloc(*names, (size_t)(*n + 1) * sizeof *nn);
    if (nn) *names = nn;
    void **ni = realloc(*items, (size_t)(*n + 1) * sizeof *ni);
    if (ni) *items = ni;
    char *copy = strdup(name);
    if (!nn || !ni || !copy) {
        free(copy);
        return false;
    }
    (*names)[*n] = copy;
    (*items)[*n] = item;
    (*n)++;
    return true;
}

static bool check_member(const dc_module *m, const char *name, const void *item, const char *op)
{
    if (!m) return dc_error("%s: module is NULL", op), false;
    if (!name || !*name || strchr(name, '.'))
        return dc_error("%s: invalid member name '%s'", op, name ? name : "(null)"), false;
    if (!item) return dc_error("%s: '%s' is NULL", op, name), false;
    if (name_taken(m, name))
        return dc_error("%s: %s already has a member named '%s'", op, m->type, name), false;
    return true;
}

dc_tensor *dc_module_add_param(dc_module *m, const char *name, dc_tensor *t)
{
    if (!check_member(m, name, t, "dc_module_add_param") || !dc_requires_grad(t, true) ||
        !append(&m->param_names, (void ***)&m->params, &m->n_params, name, t))
        return dc_error("dc_module_add_param: could not add '%s'", name ? name : "(null)");
    return dc_tensor_retain(t);
}

dc_tensor *dc_module_add_buffer(dc_module *m, const char *name, dc_tensor *t)
{
    if (!check_member(m, name, t, "dc_module_add_buffer") ||
        !append(&m->buffer_names, (void ***)&m->buffers, &m->n_buffers, name, t))
        return dc_error("dc_module_add_buffer: could not add '%s'", name ? name : "(null)");
    return dc_tensor_retain(t);
}

dc_module *dc_module_add_child(dc_module *m, const char *name, dc_module *child)
{
    if (!check_member(m, name, child, "dc_module_add_child") ||
        !append(&m->child_names, (void ***)&m->children, &m->n_children, name, child)) {
        dc_module_free(child);
        return dc_error("dc_module_add_child: could not add '%s'", name ? name : "(null)");
    }
    child->training = m->training;
    return child;
}

/* ---- Lookup by dotted name ------------------------------------------------------------------ */

/* Walk "a.b.c": returns the module owning the last component and sets *leaf to it. */
static const dc_module *walk(const dc_module *m, const char *dotted, const char **leaf)
{
    const char *dot;
    while (m && (dot = strchr(dotted, '.'))) {
        size_t len = (size_t)(dot - dotted);
        const dc_module *next = NULL;
        for (int i = 0; i < m->n_children && !next; i++)
            if (strlen(m->child_names[i]) == len && !strncmp(m->child_names[i], dotted, len))
                next = m->children[i];
        m = next;
        dotted = dot + 1;
    }
    *leaf = dotted;
    return m;
}

dc_tensor *dc_module_param(const dc_module *m, const char *name)
{
    const char *leaf;
    const dc_module *owner = m && name ? walk(m, name, &leaf) : NULL;
    for (int i = 0; owner && i < owner->n_params; i++)
        if (!strcmp(owner->param_names[i], leaf)) return owner->params[i];
    return NULL;
}

dc_tensor *dc_module_buffer(const dc_module *m, const char *name)
{
    const char *leaf;
    const dc_module *owner = m && name ? walk(m, name, &leaf) : NULL;
    for (int i = 0; owner && i < owner->n_buffers; i++)
        if (!strcmp(owner->buffer_names[i], leaf)) return owner->buffers[i];
    return NULL;
}

dc_module *dc_module_child(const dc_module *m, const char *name)
{
    const char *leaf;
    const dc_module *owner = m && name ? walk(m, name, &leaf) : NULL;
    for (int i = 0; owner && i < owner->n_children; i++)
        if (!strcmp(owner->child_names[i], leaf)) return owner->children[i];
    return NULL;
}

/* ---- Collections ---------------------------------------------------------------------------- */

void dc_tensor_list_free(dc_tensor_list *list)
{
    if (!list) return;
    for (int i = 0; i < list->n; i++) free(list->names[i]);
    free(list->names);
    free(list->tensors);
    memset(list, 0, sizeof *list);
}

static int list_add(dc_tensor_list *l, const char *prefix, const char *name, dc_tensor *t)
{
    size_t len = strlen(prefix) + strlen(name) + 1;
    char *full = malloc(len);
    if (!full) return -1;
    snprintf(full, len, "%s%s", prefix, name);
    if (!append(&l->names, (void ***)&l->tensors, &l->n, full, t)) {
        free(full);
        return -1;
    }
    free(full);
    return 0;
}

/* Depth-first, members of a module before its children: PyTorch's state_dict order. */
static int collect(const dc_module *m, const char *prefix, bool buffers, dc_tensor_list *out)
{
    for (int i = 0; i < m->n_params; i++)
        if (list_add(out, prefix, m->param_names[i], m->params[i])) return -1;
    for (int i = 0; buffers && i < m->n_buffers; i++)
        if (list_add(out, prefix, m->buffer_names[i], m->buffers[i])) return -1;
    for (int i = 0; i < m->n_children; i++) {
        size_t len = strlen(prefix) + strlen(m->child_names[i]) + 2;
        char *child_prefix = malloc(len);
        if (!child_prefix) return -1;
        snprintf(child_prefix, len, "%s%s.", prefix, m->child_names[i]);
        int rc = collect(m->children[i], child_prefix, buffers, out);
        free(child_prefix);
        if (rc) return -1;
    }
    return 0;
}

static int collect_list(const dc_module *m, bool buffers, dc_tensor_list *out, const char *op)
{
    if (!out) return dc_error("%s: output list is NULL", op), -1;
    memset(out, 0, sizeof *out);
    if (!m) return dc_error("%s: module is NULL", op), -1;
    if (collect(m, "", buffers, out) != 0) {
        dc_tensor_list_free(out);
        return dc_error("%s: out of memory", op), -1;
    }
    return 0;
}

int dc_module_parameters(const dc_module *m, dc_tensor_list *out)
{
    return collect_list(m, false, out, "dc_module_parameters");
}

int dc_module_state(const dc_module *m, dc_tensor_list *out)
{
    return collect_list(m, true, out, "dc_module_state");
}

void dc_module_train(dc_module *m, bool training)
{
    if (!m) return;
    m->training = training;
    for (int i = 0; i < m->n_children; i++) dc_module_train(m->children[i], training);
}

int64_t dc_module_num_params(const dc_module *m, bool trainable_only)
{
    if (!m) return 0;
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++)
        if (!trainable_only || m->params[i]->requires_grad) n += dc_numel(m->params[i]);
    for (int i = 0; i < m->n_children; i++) n += dc_module_num_params(m->children[i], trainable_only);
    return n;
}

int dc_module_freeze(dc_module *m, const char *prefix, bool frozen)
{
    dc_tensor_list list;
    if (dc_module_parameters(m, &list) != 0) return -1;
    size_t plen = prefix ? strlen(prefix) : 0;
    int matched = 0;
    for (int i = 0; i < list.n; i++)
        if (!plen || !strncmp(list.names[i], prefix, plen)) {
            list.tensors[i]->requires_grad = !frozen;
            if (frozen) dc_zero_grad(list.tensors[i]);
            matched++;
        }
    dc_tensor_list_free(&list);
    return matched;
}

void dc_module_zero_grad(dc_module *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_params; i++) dc_zero_grad(m->params[i]);
    for (int i = 0; i < m->n_children; i++) dc_module_zero_grad(m->children[i]);
}

/* ---- Forward and summary -------------------------------------------------------------------- */

/* While a summary runs, dc_forward records every module call here, in call order (a parent
 * before its children), and the table is printed once the forward is done. */
typedef struct {
    const dc_module *module;
    int depth;
    char shape[96];
} summary_row;

typedef struct {
    const dc_module *root;
    int depth, n_rows, cap_rows;
    summary_row *rows;
} summary_state;

static _Thread_local summary_state *active_summary;

/* Dotted name of `target` inside `m` (depth-first search), into buf. */
static bool find_path(const dc_module *m, const dc_module *target, char *buf, size_t size)
{
    if (m == target) return true;
    size_t used = strlen(buf);
    for (int i = 0; i < m->n_children; i++) {
        snprintf(buf + used, size - used, used ? ".%s" : "%s", m->child_names[i]);
        if (find_path(m->children[i], target, buf, size)) return true;
        buf[used] = '\0';
    }
    return false;
}

static int64_t own_params(const dc_module *m)
{
    int64_t n = 0;
    for (int i = 0; i < m->n_params; i++) n += dc_numel(m->params[i]);
    return n;
}

static int summary_begin_row(summary_state *s, const dc_module *m)
{
    if (s->n_rows == s->cap_rows) {
        int cap = s->cap_rows ? 2 * s->cap_rows : 64;
        summary_row *grown = realloc(s->rows, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        s->rows = grown;
        s->cap_rows = cap;
    }
    s->rows[s->n_rows] = (summary_row){m, s->depth, "?"};
    return s->n_rows++;
}

dc_tensor *dc_forward(dc_module *m, dc_tensor *x)
{
    if (!m) return dc_error("dc_forward: module is NULL");
    if (!m->forward)
        return dc_error("dc_forward: %s has no single-input forward; call its own function",
                        m->type);
    summary_state *s = active_summary;
    if (!s) return run_module_hooks(m, x, m->forward(m, x));
    int row = summary_begin_row(s, m);
    s->depth++;
    dc_tensor *y = m->forward(m, x);
    s->depth--;
    if (row >= 0 && y) dc__shape_fmt(y->ndim, y->shape, s->rows[row].shape, sizeof s->rows[row].shape);
    return run_module_hooks(m, x, y);
}

static void summary_print(const summary_state *s, FILE *out)
{
    fprintf(out, "%-32s %-26s %-20s %12s\n", "layer", "type", "output shape", "params");
    for (int r = 0; r < s->n_rows; r++) {
        const summary_row *row = &s->rows[r];
        char path[256] = "", args[160] = "";
        find_path(s->root, row->module, path, sizeof path);
        if (row->module->describe) row->module->describe(row->module, args, sizeof args);
        char label[300];
        snprintf(label, sizeof label, "%*s%s", 2 * row->depth, "", path[0] ? path : "(model)");
        fprintf(out, "%-32s %-26s %-20s %12lld%s%s%s\n", label, row->module->type, row->shape,
                (long long)own_params(row->module), args[0] ? "  (" : "", args,
                args[0] ? ")" : "");
    }
}

int dc_module_summary(dc_module *m, dc_tensor *x, FILE *out)
{
    if (!m || !x || !out) return dc_error("dc_module_summary: NULL argument"), -1;
    summary_state s = {.root = m};
    bool was_training = m->training;
    dc_module_train(m, false);
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    active_summary = &s;
    dc_tensor *y = dc_forward(m, x);
    active_summary = NULL;
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    dc_module_train(m, was_training);
    if (y) summary_print(&s, out);
    free(s.rows);
    if (!y) return -1;
    int64_t total = dc_module_num_params(m, false), trainable = dc_module_num_params(m, true);
    fprintf(out, "total params: %lld (trainable %lld, frozen %lld)\n", (long long)total,
            (long long)trainable, (long long)(total - trainable));
    return 0;
}
