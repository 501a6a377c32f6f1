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

#ifdef __cplusplus
}
#endif
#endif
