/* Dropout (book §4.5): in training, y = x * mask with mask = keep / (1 - p) and
 * keep ~ Bernoulli(1 - p), so E[y] = x; in eval y = x. The mask is an ordinary constant
 * tensor multiplied in with dc_mul, whose node keeps it for backward: dx = g * mask.
 * Dropout2d draws one keep per channel (mask [N, C, 1, ...]) and broadcasts it, so whole
 * feature maps are zeroed together (neighbouring pixels would otherwise leak what was
 * dropped). Masks come from the counter-based RNG, so a seed reproduces them exactly. */
#include "../core/internal.h"

static bool check_p(double p, const char *op)
{
    if (p >= 0 && p <= 1) return true;
    dc_error("%s: dropout probability p must be in [0, 1], got %g", op, p);
    return false;
}

/* x * (Bernoulli(1 - p) / (1 - p)) with the mask of shape mask_shape (broadcast to x). */
static dc_tensor *apply_mask(dc_tensor *x, double p, dc_rng *rng, int ndim,
                             const int64_t *mask_shape)
{
    size_t scope = dc_scope_begin();
    dc_tensor *mask = dc_bernoulli(rng, x->dtype, ndim, mask_shape, 1 - p);
    /* p = 1 drops everything: the mask is all zeros, and 0 * 1/(1-p) must not be NaN */
    if (mask && p > 0 && p < 1 && dc_mul_scalar_(mask, 1 / (1 - p)) != 0) mask = NULL;
    dc_tensor *y = mask ? dc_mul(x, mask) : NULL;
    return dc_scope_return(scope, y);
}

dc_tensor *dc_dropout(dc_tensor *x, double p, bool training, dc_rng *rng)
{
    static const char op[] = "dc_dropout";
    DC_CHECK_TENSOR(x, op);
    if (!dc__check_float(x, op) || !check_p(p, op)) return NULL;
    if (!training || p == 0) return dc__publish(dc_tensor_retain(x)); /* identity, like torch */
    return apply_mask(x, p, rng, x->ndim, x->shape);
}

dc_tensor *dc_dropout2d(dc_tensor *x, double p, bool training, dc_rng *rng)
{
    static const char op[] = "dc_dropout2d";
    DC_CHECK_TENSOR(x, op);
    if (!dc__check_float(x, op) || !check_p(p, op)) return NULL;
    if (x->ndim < 2) {
        char a[96];
        return dc_error("%s: input must be [N, C, ...], got %s", op,
                        dc__shape_fmt(x->ndim, x->shape, a, sizeof a));
    }
    if (!training || p == 0) return dc__publish(dc_tensor_retain(x));
    int64_t mask_shape[DC_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) mask_shape[d] = d < 2 ? x->shape[d] : 1;
    return apply_mask(x, p, rng, x->ndim, mask_shape);
}
