/* A float64 gradient checker (PyTorch's gradcheck method) that any test can call.
 *
 * For a function f of n tensors, the checker runs out = f(inputs) with grad mode on, seeds the
 * backward with a fixed random R of out's shape (so the loss is L = sum(out * R) without
 * needing any reduction op), and compares every float input's .grad with the central finite
 * difference
 *     dL/dx[i] ~ (L(x[i] + eps) - L(x[i] - eps)) / (2 eps)
 * where the forward runs again under no-grad. Elements are perturbed in place in the input's
 * storage through its strides, so non-contiguous views (transposed, sliced with a step) are
 * checked as they are. A gradient element passes when
 *     |analytic - numeric| <= atol + rtol * |numeric|.
 *
 * Inputs are prepared by the caller: float64 tensors with requires_grad set are checked;
 * other inputs (int64 indices, 0/1 masks, tensors without requires_grad) are passed through.
 * A checked input must not alias itself (no stride-0 dims): perturbing one storage element
 * would move several logical elements at once. */
#ifndef DC_GRADCHECK_H
#define DC_GRADCHECK_H

#include "test.h"

/* The function under test: inputs[0..n) -> a new float64 tensor (NULL with an error set on
 * failure). ctx is passed through unchanged. */
typedef dc_tensor *(*dc_gradcheck_fn)(dc_tensor *const *inputs, void *ctx);

typedef struct {
    double eps;    /* finite-difference step (default 1e-6) */
    double atol;   /* default 1e-6 */
    double rtol;   /* default 1e-5 */
    uint64_t seed; /* seed of R (default 0: derived from the case name) */
} dc_gradcheck_options;

/* Run the check. Returns true if every gradient matches. On failure, writes a one-line
 * description of the worst element (case name, input index, multi-index, analytic and
 * numeric values) or of the error into msg. opts may be NULL for the defaults. The inputs'
 * values are restored and their .grad cleared before returning. */
bool dc_gradcheck(const char *name, dc_gradcheck_fn fn, void *ctx, int n_inputs,
                  dc_tensor *const *inputs, const dc_gradcheck_options *opts, char *msg,
                  size_t msg_size);

/* In a TEST: run the check and record a test failure with its message if it fails. */
#define CHECK_GRADIENTS(name, fn, ctx, n_inputs, inputs, opts)                                     \
    do {                                                                                           \
        char gc_msg_[768];                                                                         \
        if (!dc_gradcheck((name), (fn), (ctx), (n_inputs), (inputs), (opts), gc_msg_,              \
                          sizeof gc_msg_))                                                         \
            dc_test_fail(__FILE__, __LINE__, "%s", gc_msg_);                                       \
    } while (0)

/* Format a multi-index as "[1, 0, 2]" into buf. */
const char *dc_gradcheck_index_str(int ndim, const int64_t *index, char *buf, size_t size);

#endif
