/* Reverse-mode automatic differentiation on a define-by-run tape (book §3.4).
 *
 * Ops attach a node (backward function + retained inputs) to their output. dc_backward sorts
 * the graph topologically (iteratively, so deep graphs cannot overflow the stack), then runs
 * the nodes from the output back, adding each input's gradient into its `grad`. Non-leaf
 * tensors hold their gradient only while backward runs; leaves keep it (accumulating with +=)
 * until dc_zero_grad. */
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

int dc__record(dc_tensor *out, const char *op, dc_backward_fn backward, int n_inputs,
               dc_tensor *const *inputs, dc_node **node_out)
{
    *node_out = NULL;
    if (!dc__grad_enabled) return 0;
    bool any = false;
    for (int i = 0; i < n_inputs; i++) any |= inputs[i] && inputs[i]->requires_grad;
    if (!any) return 0;
    dc_node *node = dc__malloc(sizeof *node);
    if (!node) return -1;
    memset(node, 0, sizeof *node);
    node->inputs = dc__malloc((size_t)n_inputs * sizeof *node->inputs);
    if (!node->inputs) {
        dc__free(node);
        return -1;
    }
    node->op = op;
    node->backward = backward;
    node->n_inputs = n_inputs;
    for (int i = 0; i < n_inputs; i++) node->inputs[i] = dc_tensor_retain(inputs[i]);
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof node->out_shape);
    out->grad_fn = node;
    out->requires_grad = true;
    *node_out = node;
    return 0;
}

int dc__save(dc_node *node, dc_tensor *t)
{
    if (!node || !t) return -1;
    if (node->n_saved == DC_NODE_SAVED) return dc_error("internal: too many saved tensors"), -1;
    /* On failure the slot stays NULL (so later slots keep their index) and the backward
     * fails with an error instead of crashing. */
    dc_tensor *alias = dc__make_view(t, t->ndim, t->shape, t->stride, t->offset);
    node->saved[node->n_saved++] = alias;
    return alias ? node->n_saved - 1 : -1;
}

bool dc__needs_grad(const dc_node *node, int input)
{
    return input < node->n_inputs && node->inputs[input] && node->inputs[input]->requires_grad;
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

/* Post-order DFS from root over tensors with a grad_fn: inputs come before their users. */
static int topo_sort(dc_tensor *root, tensor_list *order)
{
    uint64_t epoch = ++visit_epoch;
    tensor_list stack = {0};
    /* Each stack entry is a tensor; we push it twice: first to expand, then to emit. The
     * low bit of the pointer cannot be used portably, so a parallel "expanded" mark is
     * the visit_mark: epoch*2 = expanded, epoch*2+1 = emitted. */
    int rc = list_push(&stack, root);
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
        for (int i = 0; rc == 0 && t->grad_fn && i < t->grad_fn->n_inputs; i++) {
            dc_tensor *in = t->grad_fn->inputs[i];
            if (in && in->requires_grad && in->grad_fn && in->visit_mark < epoch * 2)
                rc = list_push(&stack, in);
        }
    }
    free(stack.items);
    return rc;
}

/* grad_slot += g. The first gradient is adopted without a copy when nothing else can see
 * its storage; later ones are added in place. */
static int accumulate(dc_tensor *target, dc_tensor *g, const char *op, bool may_adopt)
{
    if (!dc_same_shape(target, g) || target->dtype != g->dtype) {
        char a[96], b[96];
        return dc_error("dc_backward: '%s' produced a gradient %s for an input %s", op,
                        dc_shape_str(g, a, sizeof a), dc_shape_str(target, b, sizeof b)),
               -1;
    }
    if (target->grad) return dc_add_(target->grad, g);
    bool exclusive = may_adopt && g->refcount == 1 && g->storage->refcount == 1 && !g->requires_grad &&
                     dc_is_contiguous(g) && g->offset == 0;
    if (exclusive) {
        target->grad = dc_tensor_retain(g);
        return 0;
    }
    dc_tensor *copy = dc__alloc_result(g->dtype, g->ndim, g->shape);
    if (!copy) return -1;
    if (dc_copy_(copy, g) != 0) {
        dc_tensor_free(copy);
        return -1;
    }
    target->grad = copy;
    return 0;
}

static void clear_nonleaf_grads(tensor_list *order)
{
    for (size_t k = 0; k < order->len; k++) {
        dc_tensor *t = order->items[k];
        if (t->grad_fn && t->grad) {
            dc_tensor_free(t->grad);
            t->grad = NULL;
        }
    }
}

int dc_backward_with(dc_tensor *out, const dc_tensor *grad_out)
{
    if (!out) return dc_error("dc_backward: output is NULL"), -1;
    if (!grad_out) return dc_error("dc_backward: seed gradient is NULL"), -1;
    if (!out->requires_grad)
        return dc_error("dc_backward: the output does not require grad (no parameter with "
                        "requires_grad was used, or it was computed under no-grad)"),
               -1;
    bool prev_mode = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    tensor_list order = {0};
    int rc = topo_sort(out, &order);
    if (rc == 0) rc = accumulate(out, (dc_tensor *)grad_out, "seed", false);
    for (size_t k = order.len; rc == 0 && k-- > 0;) {
        dc_tensor *t = order.items[k];
        dc_node *node = t->grad_fn;
        if (!node || !t->grad) continue;
        dc_tensor *stack_grads[8] = {0};
        dc_tensor **grads = node->n_inputs <= 8 ? stack_grads
                                                : calloc((size_t)node->n_inputs, sizeof *grads);
        if (!grads) {
            dc_error("dc_backward: out of memory");
            rc = -1;
            break;
        }
        size_t step_scope = dc_scope_begin();
        /* grads[i] are borrowed: owned by the step scope (or alive through the step). */
        rc = node->backward(node, t->grad, grads);
        if (rc != 0 && !dc_has_error()) dc_error("dc_backward: backward of '%s' failed", node->op);
        for (int i = 0; rc == 0 && i < node->n_inputs; i++) {
            if (!dc__needs_grad(node, i)) continue;
            if (!grads[i]) {
                if (dc_has_error()) rc = -1;
                continue; /* no gradient flows to this input */
            }
            rc = accumulate(node->inputs[i], grads[i], node->op, true);
        }
        dc_scope_end(step_scope);
        if (grads != stack_grads) free(grads);
        dc_tensor_free(t->grad); /* a non-leaf's gradient is not kept */
        t->grad = NULL;
    }
    clear_nonleaf_grads(&order);
    free(order.items);
    dc_scope_end(scope);
    dc_grad_mode_restore(prev_mode);
    return rc;
}

int dc_backward(dc_tensor *loss)
{
    if (!loss) return dc_error("dc_backward: loss is NULL"), -1;
    if (dc_numel(loss) != 1) {
        char buf[96];
        return dc_error("dc_backward: loss must have one element, got %s (use "
                        "dc_backward_with for a non-scalar output)",
                        dc_shape_str(loss, buf, sizeof buf)),
               -1;
    }
    bool prev = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor *seed = dc_full(loss->dtype, loss->ndim, loss->shape, 1.0);
    dc_grad_mode_restore(prev);
    int rc = seed ? dc_backward_with(loss, seed) : -1;
    dc_scope_end(scope);
    return rc;
}
