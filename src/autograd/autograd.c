/* Reverse-mode automatic differentiation on a define-by-run tape (book §3.4).
 *
 * Ops attach a node (backward function + retained inputs) to their output. A backward pass
 * sorts the graph topologically (iteratively, so deep graphs cannot overflow the stack), then
 * runs the nodes from the outputs back. Each tensor's gradient of the pass is gathered in a
 * slot (a hash map keyed by the tensor) until all its users have contributed; then its hooks
 * run and its node turns it into its inputs' gradients. dc_backward finally adds the leaves'
 * slots into their `grad` (+=, until dc_zero_grad); dc_grad returns the slots of the tensors
 * asked for and writes no `grad`.
 *
 * Higher order (create_graph): the backward functions run with grad mode on and see the live
 * inputs and output of their node in place of the detached aliases they saved, so the ops
 * they call are recorded and the gradients are differentiable again. That is correct only
 * for backward functions written with differentiable ops on those tensors: the ops audited
 * for it are listed in higher_order_ops[] below, and any other op on the path is an error. */
#include "../core/internal.h"

#include <stdlib.h>
#include <string.h>

_Thread_local bool dc__grad_enabled = true;

bool dc_is_grad_enabled(void) { return dc__grad_enabled; }

bool dc_no_grad_begin(void)
{
    bool previous = dc__grad_enabled;
    dc__grad_enabled = false;
    return previous;
}

void dc_grad_mode_restore(bool previous) { dc__grad_enabled = previous; }

dc_tensor *dc_requires_grad(dc_tensor *t, bool requires_grad)
{
    DC_CHECK_TENSOR(t, "dc_requires_grad");
    if (t->grad_fn) return dc_error("dc_requires_grad: only leaf tensors can change requires_grad "
                                    "(this one was produced by '%s'); use dc_detach",
                                    t->grad_fn->op);
    if (requires_grad && !dc__check_float(t, "dc_requires_grad")) return NULL;
    t->requires_grad = requires_grad;
    return t;
}

void dc_zero_grad(dc_tensor *t)
{
    if (!t || !t->grad) return;
    dc_tensor_free(t->grad);
    t->grad = NULL;
}

dc_tensor *dc_detach(dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_detach");
    return dc__publish(dc__make_view(t, t->ndim, t->shape, t->stride, t->offset));
}

const char *dc_grad_fn_name(const dc_tensor *t) { return t && t->grad_fn ? t->grad_fn->op : NULL; }

/* ---- Recording ---------------------------------------------------------------------------- */

/* A node over inputs (retained), not attached to any output yet. */
static dc_node *node_new(const char *op, dc_backward_fn backward, int n_inputs,
                         dc_tensor *const *inputs)
{
    dc_node *node = dc__malloc(sizeof *node);
    if (!node) return NULL;
    memset(node, 0, sizeof *node);
    node->inputs = dc__malloc((size_t)(n_inputs ? n_inputs : 1) * sizeof *node->inputs);
    if (!node->inputs) {
        dc__free(node);
        return NULL;
    }
    node->op = op;
    node->backward = backward;
    node->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) node->inputs[i] = dc_tensor_retain(inputs[i]);
    return node;
}

static void node_attach(dc_node *node, dc_tensor *out)
{
    node->output = out;
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof node->out_shape);
    out->grad_fn = node;
    out->requires_grad = true;
}

static bool any_requires_grad(int n, dc_tensor *const *inputs)
{
    for (int i = 0; i < n; i++)
        if (inputs[i] && inputs[i]->requires_grad) return true;
    return false;
}

int dc__record(dc_tensor *out, const char *op, dc_backward_fn backward, int n_inputs,
               dc_tensor *const *inputs, dc_node **node_out)
{
    *node_out = NULL;
    if (!dc__grad_enabled || !any_requires_grad(n_inputs, inputs)) return 0;
    dc_node *node = node_new(op, backward, n_inputs, inputs);
    if (!node) return -1;
    node_attach(node, out);
    *node_out = node;
    return 0;
}

/* Where t comes from, for create_graph's substitution of live tensors. */
static int saved_source(const dc_node *node, const dc_tensor *t)
{
    for (int i = 0; i < node->n_inputs; i++)
        if (node->inputs[i] == t) return i;
    return node->output == t ? DC_SAVED_OUTPUT : DC_SAVED_OTHER;
}

int dc__save(dc_node *node, dc_tensor *t)
{
    if (!node || !t) return -1;
    if (node->n_saved == DC_NODE_SAVED) return dc_error("internal: too many saved tensors"), -1;
    /* On failure the slot stays NULL (so later slots keep their index) and the backward
     * fails with an error instead of crashing. */
    dc_tensor *alias = dc__make_view(t, t->ndim, t->shape, t->stride, t->offset);
    node->saved_src[node->n_saved] = saved_source(node, t);
    node->saved[node->n_saved++] = alias;
    return alias ? node->n_saved - 1 : -1;
}

bool dc__needs_grad(const dc_node *node, int input)
{
    return input < node->n_inputs && node->inputs[input] && node->inputs[input]->requires_grad;
}

/* ---- Custom functions (public: dc_function_apply) ------------------------------------------ */

typedef struct {
    const dc_function *fn;
    void *user;
    void *state;
} custom_ctx;

static void custom_ctx_free(void *p)
{
    custom_ctx *c = p;
    free(c->state);
    free(c);
}

static int custom_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    custom_ctx *c = node->ctx;
    return c->fn->backward(node, g, grads, c->user);
}

int dc_ctx_save(dc_node *ctx, dc_tensor *t)
{
    if (!ctx) return dc_error("dc_ctx_save: ctx is NULL"), -1;
    if (!t) return dc_error("dc_ctx_save: tensor is NULL"), -1;
    if (ctx->n_saved == DC_NODE_SAVED)
        return dc_error("dc_ctx_save: at most %d tensors can be saved", DC_NODE_SAVED), -1;
    return dc__save(ctx, t);
}

dc_tensor *dc_ctx_saved(dc_node *ctx, int slot)
{
    if (!ctx) return dc_error("dc_ctx_saved: ctx is NULL");
    if (slot < 0 || slot >= ctx->n_saved)
        return dc_error("dc_ctx_saved: slot %d does not exist (%d saved)", slot, ctx->n_saved);
    return ctx->saved[slot];
}

bool dc_ctx_needs_grad(const dc_node *ctx, int input) { return ctx && dc__needs_grad(ctx, input); }

void *dc_ctx_state(dc_node *ctx, size_t nbytes)
{
    custom_ctx *c = ctx ? ctx->ctx : NULL;
    if (!c || ctx->backward != custom_backward)
        return dc_error("dc_ctx_state: not the ctx of a custom function");
    if (!c->state && nbytes > 0) {
        c->state = calloc(1, nbytes);
        if (!c->state) return dc_error("dc_ctx_state: out of memory (%zu bytes)", nbytes);
    }
    return c->state;
}

dc_tensor *dc_function_apply(const dc_function *fn, int n_inputs, dc_tensor *const *inputs,
                             void *user)
{
    if (!fn || !fn->forward || !fn->backward || !fn->name)
        return dc_error("dc_function_apply: the function needs a name, a forward and a backward");
    if (n_inputs < 0 || (n_inputs > 0 && !inputs))
        return dc_error("dc_function_apply(%s): bad input list (%d inputs)", fn->name, n_inputs);
    for (int i = 0; i < n_inputs; i++)
        if (!inputs[i]) return dc_error("dc_function_apply(%s): input %d is NULL", fn->name, i);
    dc_node *node = node_new(fn->name, custom_backward, n_inputs, inputs);
    custom_ctx *c = node ? calloc(1, sizeof *c) : NULL;
    if (!c) {
        if (node) dc__node_free(node);
        return dc_error("dc_function_apply(%s): out of memory", fn->name);
    }
    *c = (custom_ctx){fn, user, NULL};
    node->ctx = c;
    node->ctx_free = custom_ctx_free;
    node->i[0] = fn->once_differentiable;
    bool record = dc__grad_enabled && any_requires_grad(n_inputs, inputs);
    bool prev = dc_no_grad_begin();
    dc_tensor *out = fn->forward(node, inputs, user);
    dc_grad_mode_restore(prev);
    if (!out) {
        dc__node_free(node);
        if (!dc_has_error()) dc_error("dc_function_apply(%s): forward returned NULL", fn->name);
        return NULL;
    }
    if (!record) {
        dc__node_free(node);
        return out;
    }
    if (out->grad_fn || out->requires_grad) {
        /* forward returned an input or a tensor with a history: record on an alias of it */
        out = dc__publish(dc__make_view(out, out->ndim, out->shape, out->stride, out->offset));
        if (!out) {
            dc__node_free(node);
            return NULL;
        }
    }
    node_attach(node, out);
    for (int k = 0; k < node->n_saved; k++) { /* an alias of the output saved during forward */
        const dc_tensor *s = node->saved[k];
        if (s && node->saved_src[k] == DC_SAVED_OTHER && s->storage == out->storage &&
            s->offset == out->offset && dc_same_shape(s, out) &&
            !memcmp(s->stride, out->stride, sizeof(int64_t) * (size_t)out->ndim))
            node->saved_src[k] = DC_SAVED_OUTPUT;
    }
    return out;
}

/* ---- Gradient hooks (public: dc_register_hook) ---------------------------------------------- */

struct dc_hook_list {
    int n, cap, next_handle;
    struct {
        dc_grad_hook_fn fn;
        void *user;
        int handle;
    } *items;
};

int dc_register_hook(dc_tensor *t, dc_grad_hook_fn fn, void *user)
{
    if (!t) return dc_error("dc_register_hook: tensor is NULL"), -1;
    if (!fn) return dc_error("dc_register_hook: hook function is NULL"), -1;
    if (!t->requires_grad)
        return dc_error("dc_register_hook: the tensor does not require grad (no gradient will "
                        "reach it)"),
               -1;
    struct dc_hook_list *h = t->hooks;
    if (!h && !(h = t->hooks = calloc(1, sizeof *h)))
        return dc_error("dc_register_hook: out of memory"), -1;
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 4;
        void *grown = realloc(h->items, (size_t)cap * sizeof *h->items);
        if (!grown) return dc_error("dc_register_hook: out of memory"), -1;
        h->items = grown;
        h->cap = cap;
    }
    h->items[h->n].fn = fn;
    h->items[h->n].user = user;
    h->items[h->n].handle = h->next_handle;
    h->n++;
    return h->next_handle++;
}

int dc_remove_hook(dc_tensor *t, int handle)
{
    struct dc_hook_list *h = t ? t->hooks : NULL;
    for (int k = 0; h && k < h->n; k++) {
        if (h->items[k].handle != handle) continue;
        memmove(&h->items[k], &h->items[k + 1], (size_t)(h->n - k - 1) * sizeof *h->items);
        h->n--;
        return 0;
    }
    return dc_error("dc_remove_hook: no hook %d on this tensor", handle), -1;
}

void dc__hooks_free(struct dc_hook_list *h)
{
    if (!h) return;
    free(h->items);
    free(h);
}

/* Run t's hooks on *g (a reference the caller owns), replacing it by what they return. */
static int run_hooks(dc_tensor *t, dc_tensor **g)
{
    struct dc_hook_list *h = t->hooks;
    for (int k = 0; h && k < h->n; k++) {
        dc_tensor *r = h->items[k].fn(t, *g, h->items[k].user);
        if (!r) {
            if (!dc_has_error()) dc_error("dc_backward: a gradient hook returned NULL");
            return -1;
        }
        if (r == *g) continue;
        if (!dc_same_shape(r, *g) || r->dtype != (*g)->dtype) {
            char a[96], b[96];
            return dc_error("dc_backward: a gradient hook returned %s for a gradient %s",
                            dc_shape_str(r, a, sizeof a), dc_shape_str(*g, b, sizeof b)),
                   -1;
        }
        dc_tensor_retain(r);
        dc_tensor_free(*g);
        *g = r;
    }
    return 0;
}

/* ---- Gradient slots: tensor -> its gradient in this pass ---------------------------------- */

typedef struct {
    dc_tensor *key;
    dc_tensor *grad;  /* owned reference, or NULL */
    bool needed;      /* dc_grad: a requested input is reachable from here */
    bool requested;   /* dc_grad: one of the inputs asked for */
} slot;

typedef struct {
    slot *items;
    size_t cap, len; /* cap is a power of two */
} slot_map;

static size_t ptr_hash(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static slot *slot_get(slot_map *m, dc_tensor *key, bool insert)
{
    if (insert && 2 * (m->len + 1) > m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        slot *items = calloc(cap, sizeof *items);
        if (!items) return dc_error("dc_backward: out of memory"), NULL;
        for (size_t k = 0; k < m->cap; k++) {
            if (!m->items[k].key) continue;
            size_t j = ptr_hash(m->items[k].key) & (cap - 1);
            while (items[j].key) j = (j + 1) & (cap - 1);
            items[j] = m->items[k];
        }
        free(m->items);
        m->items = items;
        m->cap = cap;
    }
    if (!m->cap) return NULL;
    for (size_t j = ptr_hash(key) & (m->cap - 1);; j = (j + 1) & (m->cap - 1)) {
        if (m->items[j].key == key) return &m->items[j];
        if (!m->items[j].key) {
            if (!insert) return NULL;
            m->items[j] = (slot){.key = key};
            m->len++;
            return &m->items[j];
        }
    }
}

static void slot_map_free(slot_map *m)
{
    for (size_t k = 0; k < m->cap; k++) dc_tensor_free(m->items[k].grad);
    free(m->items);
}

/* ---- Backward ----------------------------------------------------------------------------- */

static uint64_t visit_epoch;

typedef struct {
    dc_tensor **items;
    size_t len, cap;
} tensor_list;

static int list_push(tensor_list *l, dc_tensor *t)
{
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        dc_tensor **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown) return dc_error("dc_backward: out of memory sorting the graph"), -1;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->len++] = t;
    return 0;
}

/* Post-order DFS from the roots over tensors with a grad_fn: inputs come before their users. */
static int topo_sort(int n_roots, dc_tensor *const *roots, tensor_list *order)
{
    uint64_t epoch = ++visit_epoch;
    tensor_list stack = {0};
    /* Each tensor is pushed to be expanded, then emitted once its inputs are done; the
     * visit_mark says which: epoch*2 = expanded, epoch*2+1 = emitted. */
    int rc = 0;
    for (int r = 0; rc == 0 && r < n_roots; r++) {
        if (roots[r]->grad_fn && roots[r]->visit_mark < epoch * 2) rc = list_push(&stack, roots[r]);
        while (rc == 0 && stack.len > 0) {
            dc_tensor *t = stack.items[stack.len - 1];
            if (t->visit_mark == epoch * 2 + 1) { /* already emitted via another path */
                stack.len--;
                continue;
            }
            if (t->visit_mark == epoch * 2) { /* children done: emit */
                stack.len--;
                t->visit_mark = epoch * 2 + 1;
                rc = list_push(order, t);
                continue;
            }
            t->visit_mark = epoch * 2;
            for (int i = 0; rc == 0 && i < t->grad_fn->n_inputs; i++) {
                dc_tensor *in = t->grad_fn->inputs[i];
                if (in && in->requires_grad && in->grad_fn && in->visit_mark < epoch * 2)
                    rc = list_push(&stack, in);
            }
        }
    }
    free(stack.items);
    return rc;
}

/* A reference to a gradient the pass may later add into in place: g itself when nothing
 * else can see its storage, else a copy. */
static dc_tensor *exclusive_grad(dc_tensor *g)
{
    bool exclusive = g->refcount == 1 && g->storage->refcount == 1 && !g->requires_grad &&
                     dc_is_contiguous(g) && g->offset == 0;
    if (exclusive) return dc_tensor_retain(g);
    dc_tensor *copy = dc__alloc_result(g->dtype, g->ndim, g->shape);
    if (copy && dc_copy_(copy, g) != 0) {
        dc_tensor_free(copy);
        return NULL;
    }
    return copy;
}

/* slot += g (g borrowed). create_graph: out of place and recorded, since g and the slot may
 * be part of the graph; otherwise in place into a reference the pass owns alone. */
static int accumulate(slot *s, dc_tensor *g, const char *op, bool create_graph)
{
    if (!dc_same_shape(s->key, g) || s->key->dtype != g->dtype) {
        char a[96], b[96];
        return dc_error("dc_backward: '%s' produced a gradient %s for an input %s", op,
                        dc_shape_str(g, a, sizeof a), dc_shape_str(s->key, b, sizeof b)),
               -1;
    }
    if (create_graph) {
        bool prev = dc__grad_enabled; /* the sum is part of the recorded gradient */
        dc__grad_enabled = true;
        dc_tensor *sum = s->grad ? dc_add(s->grad, g) : g;
        dc__grad_enabled = prev;
        if (!sum) return -1;
        dc_tensor_retain(sum);
        dc_tensor_free(s->grad);
        s->grad = sum;
        return 0;
    }
    if (s->grad) return dc_add_(s->grad, g);
    s->grad = exclusive_grad(g);
    return s->grad ? 0 : -1;
}

/* Ops whose backward function, run with grad mode on over its node's live inputs and output,
 * records a correct graph of its gradient (audited: it uses only differentiable ops on
 * node->inputs / the saved inputs and output, or has a create_graph branch). Sorted. */
static const char *const higher_order_ops[] = {
    "abs", "add", "cat", "ceil", "clamp", "clamp_tensor", "clone", "contiguous", "cos", "cumprod",
    "cumsum", "cumsum_reverse", "diagonal", "diagonal_backward", "div", "erf", "erfc", "exp",
    "expand", "flatten", "flip", "floor", "gather", "gather_backward", "gelu_tanh", "index",
    "index_add", "index_put", "index_select", "index_select_backward", "leaky_relu",
    "linalg_cholesky", "linalg_det", "linalg_inv", "linalg_slogdet", "linalg_solve", "linear",
    "log", "log_softmax", "logdet", "masked_select", "matmul", "maximum", "mean", "minimum", "mul",
    "narrow", "neg", "norm", "pad", "pad_backward", "permute", "pow", "prod", "relu", "repeat",
    "reshape", "roll", "round", "scatter", "scatter_add", "scatter_value", "select", "sigmoid",
    "sign", "silu", "sin", "slice", "slice_backward", "softmax", "softplus", "sort", "sqrt",
    "squeeze", "std", "sub", "sum", "tanh", "to_dtype", "topk", "transpose", "tril", "triu",
    "unfold_dim", "unfold_dim_backward", "unsqueeze", "var", "view", "where",
};

static bool supports_higher_order(const dc_node *node)
{
    if (node->backward == custom_backward) return !node->i[0]; /* once_differentiable */
    for (size_t k = 0; k < sizeof higher_order_ops / sizeof *higher_order_ops; k++)
        if (!strcmp(node->op, higher_order_ops[k])) return true;
    return false;
}

/* Run one node's backward. create_graph: grad mode on, and the saved aliases of inputs and
 * output replaced by the live tensors for the call, so the gradient's graph reaches them. */
static int run_node(dc_tensor *t, dc_tensor *g, dc_tensor **grads, bool create_graph)
{
    dc_node *node = t->grad_fn;
    if (!create_graph) return node->backward(node, g, grads);
    if (!supports_higher_order(node))
        return dc_error("dc_grad: create_graph: the backward of '%s' is not differentiable yet "
                        "(higher-order gradients support: see dc_grad in autograd.h)",
                        node->op),
               -1;
    dc_tensor *aliases[DC_NODE_SAVED];
    for (int k = 0; k < node->n_saved; k++) {
        aliases[k] = node->saved[k];
        int src = node->saved_src[k];
        if (src >= 0) node->saved[k] = node->inputs[src];
        else if (src == DC_SAVED_OUTPUT) node->saved[k] = t;
    }
    bool prev = dc__grad_enabled;
    dc__grad_enabled = true;
    int rc = node->backward(node, g, grads);
    dc__grad_enabled = prev;
    for (int k = 0; k < node->n_saved; k++) node->saved[k] = aliases[k];
    return rc;
}

typedef struct {
    int n_outputs;
    dc_tensor *const *outputs;
    dc_tensor *const *seeds;
    int n_inputs;              /* dc_grad: the inputs asked for; 0 = dc_backward */
    dc_tensor *const *inputs;
    dc_tensor **results;       /* dc_grad: their gradients (owned references) */
    bool create_graph;
} pass;

/* dc_grad only: mark the slots from which a requested input is reachable. order lists
 * inputs before their users, so one forward sweep settles every tensor. */
static int mark_needed(slot_map *m, const pass *p, tensor_list *order)
{
    for (int i = 0; i < p->n_inputs; i++) {
        slot *s = slot_get(m, p->inputs[i], true);
        if (!s) return -1;
        s->needed = s->requested = true;
    }
    for (size_t k = 0; k < order->len; k++) {
        dc_tensor *t = order->items[k];
        slot *s = slot_get(m, t, true);
        if (!s) return -1;
        for (int i = 0; !s->needed && i < t->grad_fn->n_inputs; i++) {
            slot *in = t->grad_fn->inputs[i] ? slot_get(m, t->grad_fn->inputs[i], false) : NULL;
            s->needed = in && in->needed;
        }
    }
    return 0;
}

/* The gradients of leaves (and, for dc_grad, of the requested tensors) once the pass is
 * done: hooks, then dc_backward adds them into `grad` and dc_grad hands them out. */
static int finish_pass(slot_map *m, const pass *p)
{
    for (size_t k = 0; k < m->cap; k++) {
        slot *s = &m->items[k];
        if (!s->key || !s->grad || s->key->grad_fn) continue; /* non-leaves are done */
        if (!p->n_inputs || s->requested)
            if (run_hooks(s->key, &s->grad) != 0) return -1;
        if (p->n_inputs) continue;
        if (!s->key->grad) {
            s->key->grad = s->grad; /* the pass's own reference moves into grad */
            s->grad = NULL;
        } else if (dc_add_(s->key->grad, s->grad) != 0) {
            return -1;
        }
    }
    for (int i = 0; i < p->n_inputs; i++) {
        slot *s = slot_get(m, p->inputs[i], false);
        if (!s || !s->grad)
            return dc_error("dc_grad: input %d is not used by the outputs (or no gradient "
                            "reaches it)",
                            i),
                   -1;
    }
    for (int i = 0; i < p->n_inputs; i++) {
        slot *s = slot_get(m, p->inputs[i], false);
        p->results[i] = dc_tensor_retain(s->grad); /* the same tensor twice: two references */
    }
    return 0;
}

static int run_pass(const pass *p)
{
    bool prev_mode = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    tensor_list order = {0};
    slot_map slots = {0};
    int rc = topo_sort(p->n_outputs, p->outputs, &order);
    if (rc == 0 && p->n_inputs) rc = mark_needed(&slots, p, &order);
    for (int k = 0; rc == 0 && k < p->n_outputs; k++) {
        slot *s = slot_get(&slots, p->outputs[k], true);
        rc = s ? accumulate(s, p->seeds[k], "seed", p->create_graph) : -1;
    }
    for (size_t k = order.len; rc == 0 && k-- > 0;) {
        dc_tensor *t = order.items[k];
        dc_node *node = t->grad_fn;
        slot *s = slot_get(&slots, t, false);
        if (!s || !s->grad || (p->n_inputs && !s->needed)) continue;
        /* every user of t has run: its gradient is complete. Take it out of the map (which
         * may move its entries as inputs are added). */
        dc_tensor *g = s->grad;
        bool requested = s->requested;
        s->grad = NULL;
        if ((rc = run_hooks(t, &g)) != 0) {
            dc_tensor_free(g);
            break;
        }
        dc_tensor *stack_grads[8] = {0};
        dc_tensor **grads = node->n_inputs <= 8 ? stack_grads
                                                : calloc((size_t)node->n_inputs, sizeof *grads);
        if (!grads) {
            dc_tensor_free(g);
            dc_error("dc_backward: out of memory");
            rc = -1;
            break;
        }
        size_t step_scope = dc_scope_begin();
        /* grads[i] are borrowed: owned by the step scope (or alive through the step). */
        rc = run_node(t, g, grads, p->create_graph);
        if (rc != 0 && !dc_has_error()) dc_error("dc_backward: backward of '%s' failed", node->op);
        for (int i = 0; rc == 0 && i < node->n_inputs; i++) {
            if (!dc__needs_grad(node, i)) continue;
            if (!grads[i]) {
                if (dc_has_error()) rc = -1;
                continue; /* no gradient flows to this input */
            }
            slot *in = slot_get(&slots, node->inputs[i], !p->n_inputs);
            if (in && (!p->n_inputs || in->needed))
                rc = accumulate(in, grads[i], node->op, p->create_graph);
            else if (!p->n_inputs)
                rc = -1; /* out of memory growing the map */
        }
        dc_scope_end(step_scope);
        if (grads != stack_grads) free(grads);
        if (requested) slot_get(&slots, t, false)->grad = g; /* dc_grad asked for it */
        else dc_tensor_free(g); /* a non-leaf's gradient is not kept */
    }
    if (rc == 0) rc = finish_pass(&slots, p);
    free(order.items);
    slot_map_free(&slots);
    dc_scope_end(scope);
    dc_grad_mode_restore(prev_mode);
    return rc;
}

int dc_backward_with(dc_tensor *out, const dc_tensor *grad_out)
{
    if (!out) return dc_error("dc_backward: output is NULL"), -1;
    if (!grad_out) return dc_error("dc_backward: seed gradient is NULL"), -1;
    if (!out->requires_grad)
        return dc_error("dc_backward: the output does not require grad (no parameter with "
                        "requires_grad was used, or it was computed under no-grad)"),
               -1;
    dc_tensor *seed = (dc_tensor *)grad_out;
    pass p = {.n_outputs = 1, .outputs = &out, .seeds = &seed};
    return run_pass(&p);
}

/* A seed of ones for a one-element output (NULL + error otherwise). */
static dc_tensor *unit_seed(dc_tensor *out, const char *op)
{
    if (dc_numel(out) != 1) {
        char buf[96];
        return dc_error("%s: output must have one element, got %s (give its gradient "
                        "explicitly)",
                        op, dc_shape_str(out, buf, sizeof buf));
    }
    bool prev = dc_no_grad_begin();
    dc_tensor *seed = dc_full(out->dtype, out->ndim, out->shape, 1.0);
    dc_grad_mode_restore(prev);
    return seed;
}

int dc_backward(dc_tensor *loss)
{
    if (!loss) return dc_error("dc_backward: loss is NULL"), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *seed = unit_seed(loss, "dc_backward");
    int rc = seed ? dc_backward_with(loss, seed) : -1;
    dc_scope_end(scope);
    return rc;
}

int dc_grad(int n_outputs, dc_tensor *const *outputs, dc_tensor *const *grad_outputs,
            int n_inputs, dc_tensor *const *inputs, dc_tensor **grads, bool create_graph)
{
    if (n_outputs < 1 || !outputs) return dc_error("dc_grad: no outputs given"), -1;
    if (n_inputs < 1 || !inputs || !grads) return dc_error("dc_grad: no inputs given"), -1;
    for (int i = 0; i < n_inputs; i++) grads[i] = NULL;
    for (int k = 0; k < n_outputs; k++) {
        if (!outputs[k]) return dc_error("dc_grad: output %d is NULL", k), -1;
        if (!outputs[k]->requires_grad)
            return dc_error("dc_grad: output %d does not require grad", k), -1;
        if (grad_outputs && !grad_outputs[k])
            return dc_error("dc_grad: grad_outputs[%d] is NULL", k), -1;
    }
    for (int i = 0; i < n_inputs; i++) {
        if (!inputs[i]) return dc_error("dc_grad: input %d is NULL", i), -1;
        if (!inputs[i]->requires_grad)
            return dc_error("dc_grad: input %d does not require grad", i), -1;
    }
    size_t scope = dc_scope_begin();
    dc_tensor **seeds = malloc((size_t)n_outputs * sizeof *seeds);
    dc_tensor **owned = calloc((size_t)n_inputs, sizeof *owned);
    int rc = seeds && owned ? 0 : (dc_error("dc_grad: out of memory"), -1);
    for (int k = 0; rc == 0 && k < n_outputs; k++) {
        seeds[k] = grad_outputs ? grad_outputs[k] : unit_seed(outputs[k], "dc_grad");
        if (!seeds[k]) rc = -1;
    }
    pass p = {n_outputs, outputs, seeds, n_inputs, inputs, owned, create_graph};
    if (rc == 0) rc = run_pass(&p);
    dc_scope_end(scope);
    for (int i = 0; i < n_inputs; i++) {
        if (rc == 0) grads[i] = dc__publish(owned[i]); /* the reference goes to the caller */
        else dc_tensor_free(owned ? owned[i] : NULL);
    }
    free(seeds);
    free(owned);
    return rc;
}
