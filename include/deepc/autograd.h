/* deepc autograd (book §3.4): a define-by-run tape of reverse-mode automatic differentiation.
 *
 * Every op whose input requires a gradient records a node (its backward) on its output.
 * dc_backward(loss) visits the graph in reverse topological order and *adds* each input's
 * gradient into `grad` of the leaves that require it: gradients accumulate across multiple
 * uses of a tensor and across calls until dc_zero_grad. Calling dc_backward twice on the
 * same graph therefore doubles the leaves' gradients, as in micrograd and PyTorch with
 * retain_graph=True. The graph lives as long as its tensors (end the step's scope). */
#ifndef DEEPC_AUTOGRAD_H
#define DEEPC_AUTOGRAD_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Mark a leaf tensor as a parameter (float dtypes only). Returns t, or NULL on error. */
dc_tensor *dc_requires_grad(dc_tensor *t, bool requires_grad);
/* Backpropagate from a one-element tensor (seed gradient 1). Returns 0 or -1. */
int dc_backward(dc_tensor *loss);
/* Backpropagate from any tensor with an explicit seed gradient of its shape. */
int dc_backward_with(dc_tensor *out, const dc_tensor *grad_out);
/* Drop the accumulated gradient of t (sets it to NULL; a later backward starts from 0). */
void dc_zero_grad(dc_tensor *t);
/* Same data, no history, requires_grad false (shares storage, copies nothing). */
dc_tensor *dc_detach(dc_tensor *t);

/* While grad mode is off, ops record nothing (inference, optimizer updates).
 * dc_no_grad_begin returns the previous mode for dc_grad_mode_restore. */
bool dc_no_grad_begin(void);
void dc_grad_mode_restore(bool previous);
bool dc_is_grad_enabled(void);

/* Name of the op that produced t ("mul", "matmul", ...) or NULL for a leaf. */
const char *dc_grad_fn_name(const dc_tensor *t);

/* ---- Gradients as values, and higher-order gradients (torch.autograd.grad) ----------------- */

/* The gradients of sum_k <outputs[k], grad_outputs[k]> with respect to inputs[0..n_inputs)
 * into grads[i] (new references, owned like any result). grad_outputs NULL: each output must
 * have one element and is seeded with 1. Nothing is written into any tensor's `grad`. The
 * inputs may be leaves or intermediate tensors; one the outputs do not depend on is an
 * error. create_graph records the backward pass itself, so grads[i] can be differentiated
 * again: Hessian-vector products, gradient penalties, MAML, Newton steps. Every op on the
 * path must support it; those that do: the elementwise arithmetic (add, sub, mul, div, pow,
 * maximum, minimum, where, clamp), the unary math and activations except exact gelu (and
 * sign/floor/ceil/round, erf/erfc), matmul, linear, einsum, softmax, log_softmax, sum, mean,
 * var, std, prod, norm, logsumexp, cumsum, cumprod, cosine_similarity, normalize,
 * gather, index_select (so cross-entropy), scatter, scatter_add, index_add, index,
 * index_put, masked_select, sort/topk values, linalg solve/inv/det/slogdet/logdet/cholesky,
 * cat, pad, flip, roll, repeat, tril/triu, every
 * view (also diagonal, unfold_dim), and custom functions not marked once_differentiable; any
 * other op (convolutions, pooling, norms layers, attention, fused RNN cells, ...) is an
 * error naming it. Returns 0, or -1 with grads[i] = NULL. */
int dc_grad(int n_outputs, dc_tensor *const *outputs, dc_tensor *const *grad_outputs,
            int n_inputs, dc_tensor *const *inputs, dc_tensor **grads, bool create_graph);

/* ---- Gradient hooks ------------------------------------------------------------------------ */

/* Called by a backward pass with the gradient of t (complete for this pass; for a leaf, before
 * it is added into t->grad). Return grad to only look at it, or a new tensor of the same shape
 * and dtype to replace it (clipping, noise, statistics with a change); NULL stops the pass
 * with an error. `user` is passed through. */
typedef dc_tensor *(*dc_grad_hook_fn)(dc_tensor *t, dc_tensor *grad, void *user);
/* Register a hook on t (which must require grad); hooks run in the order registered. Returns
 * a handle >= 0 for dc_remove_hook, or -1. The hook lives as long as t. */
int dc_register_hook(dc_tensor *t, dc_grad_hook_fn fn, void *user);
int dc_remove_hook(dc_tensor *t, int handle);

/* ---- Custom differentiable functions (torch.autograd.Function) ----------------------------- */

/* A new op written outside the library: forward computes the output from the inputs (it runs
 * under no-grad) and saves what backward needs with dc_ctx_save; backward receives the
 * gradient of the output and fills grad_inputs[i] (same shape and dtype as input i) for each
 * input with dc_ctx_needs_grad(ctx, i), leaving the others NULL; it may call any op, and its
 * results may be scope-owned. Both return NULL / -1 with dc_error on failure. If backward is
 * written with differentiable ops, dc_grad(create_graph) goes through it: saved inputs and
 * the saved output are then the live tensors, with their history; any other saved tensor is
 * a constant there (as in torch), so recompute such intermediates in backward from the
 * inputs. Set once_differentiable when backward uses raw loops. See
 * examples/custom_function.c. */
typedef struct dc_function {
    const char *name; /* shown by dc_grad_fn_name and in errors */
    dc_tensor *(*forward)(dc_node *ctx, dc_tensor *const *inputs, void *user);
    int (*backward)(dc_node *ctx, dc_tensor *grad_out, dc_tensor **grad_inputs, void *user);
    bool once_differentiable;
} dc_function;

/* Run fn on inputs and, if grad mode is on and an input requires grad, record its backward.
 * `user` is borrowed: it must outlive the graph. Returns the output (a new reference). */
dc_tensor *dc_function_apply(const dc_function *fn, int n_inputs, dc_tensor *const *inputs,
                             void *user);
/* In forward: keep t (an input, the output, or any tensor) for backward; returns its slot
 * (0, 1, ... in order; at most 8) or -1. */
int dc_ctx_save(dc_node *ctx, dc_tensor *t);
/* In backward: the tensor saved in `slot` (borrowed). */
dc_tensor *dc_ctx_saved(dc_node *ctx, int slot);
/* In backward: whether input i needs a gradient. */
bool dc_ctx_needs_grad(const dc_node *ctx, int input);
/* nbytes of zeroed memory kept with the node for non-tensor values (sizes, flags), allocated
 * at the first call and freed with the graph; later calls return the same block. */
void *dc_ctx_state(dc_node *ctx, size_t nbytes);

#ifdef __cplusplus
}
#endif
#endif
