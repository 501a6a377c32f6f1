/* Losses (book §3.1: the loss is what training minimises) and metrics, composed from
 * differentiable ops so their backward comes from the tape. PyTorch's formulas and defaults. */
#include "../core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static dc_tensor *reduce(dc_tensor *per_element, dc_reduction reduction, const char *op)
{
    switch (reduction) {
    case DC_REDUCE_MEAN: return dc_mean_all(per_element);
    case DC_REDUCE_SUM: return dc_sum_all(per_element);
    case DC_REDUCE_NONE: return dc__publish(dc_tensor_retain(per_element));
    }
    return dc_error("%s: unknown reduction %d", op, (int)reduction);
}

dc_tensor *dc_mse_loss(dc_tensor *input, dc_tensor *target, dc_reduction reduction)
{
    DC_CHECK_TENSOR(input, "dc_mse_loss");
    DC_CHECK_TENSOR(target, "dc_mse_loss");
    size_t scope = dc_scope_begin();
    dc_tensor *diff = dc_sub(input, target);
    return dc_scope_return(scope, reduce(dc_mul(diff, diff), reduction, "dc_mse_loss"));
}

/* ---- Class-index losses --------------------------------------------------------------------- */

/* Validate target against scores [N, C, d...] and build the gather index [N, 1, d...] (ignored
 * targets replaced by class 0) and the float mask [N, d...] of counted positions. */
static int class_targets(const dc_tensor *scores, dc_tensor *target, int64_t ignore_index,
                         const char *op, dc_tensor **index, dc_tensor **mask)
{
    char a[96], b[96];
    if (scores->ndim < 2)
        return dc_error("%s: input must be [N, C, ...], got %s", op,
                        dc__shape_fmt(scores->ndim, scores->shape, a, sizeof a)), -1;
    if (target->dtype != DC_I64)
        return dc_error("%s: target must hold class indices (int64), got %s", op,
                        dc_dtype_name(target->dtype)), -1;
    bool shape_ok = target->ndim == scores->ndim - 1 && target->shape[0] == scores->shape[0];
    for (int d = 1; shape_ok && d < target->ndim; d++) shape_ok = target->shape[d] == scores->shape[d + 1];
    if (!shape_ok)
        return dc_error("%s: target %s does not match input %s (expected the input's shape "
                        "without dim 1)", op, dc__shape_fmt(target->ndim, target->shape, a, sizeof a),
                        dc__shape_fmt(scores->ndim, scores->shape, b, sizeof b)), -1;
    int64_t n = dc_numel(target), classes = scores->shape[1];
    int64_t *values = malloc((size_t)(n ? n : 1) * sizeof *values);
    double *flat = malloc((size_t)(n ? n : 1) * sizeof *flat);
    if (!values || !flat) {
        free(values);
        free(flat);
        return dc_error("%s: out of memory", op), -1;
    }
    dc_to_double_buffer(target, flat, n);
    float *m = malloc((size_t)(n ? n : 1) * sizeof *m);
    int rc = m ? 0 : -1;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        int64_t t = (int64_t)flat[i];
        if (t == ignore_index) {
            values[i] = 0;
            m[i] = 0;
        } else if (t < 0 || t >= classes) {
            dc_error("%s: target %lld at position %lld is out of range for %lld classes", op,
                     (long long)t, (long long)i, (long long)classes);
            rc = -1;
        } else {
            values[i] = t;
            m[i] = 1;
        }
    }
    if (rc == 0) {
        int64_t ishape[DC_MAX_DIMS];
        ishape[0] = scores->shape[0];
        ishape[1] = 1;
        for (int d = 1; d < target->ndim; d++) ishape[d + 1] = target->shape[d];
        *index = dc_from_buffer(DC_I64, scores->ndim, ishape, values);
        dc_tensor *mf = dc_from_buffer(DC_F32, target->ndim, target->shape, m);
        *mask = mf && scores->dtype != DC_F32 ? dc_to_dtype(mf, scores->dtype) : mf;
        rc = *index && *mask ? 0 : -1;
    } else if (!m) {
        dc_error("%s: out of memory", op);
    }
    free(values);
    free(flat);
    free(m);
    return rc;
}

/* Per-position losses masked by `mask`; mean divides by the number of counted positions. */
static dc_tensor *reduce_masked(dc_tensor *per, dc_tensor *mask, dc_reduction reduction,
                                const char *op)
{
    if (reduction != DC_REDUCE_MEAN) return reduce(per, reduction, op);
    return dc_div(dc_sum_all(per), dc_sum_all(mask));
}

static dc_tensor *class_loss(dc_tensor *scores, dc_tensor *target, const dc_ce_opts *opts,
                             bool from_logits, const char *op)
{
    DC_CHECK_TENSOR(scores, op);
    DC_CHECK_TENSOR(target, op);
    dc_ce_opts o = opts ? *opts : DC_CE_DEFAULTS;
    if (!dc__check_float(scores, op)) return NULL;
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1))
        return dc_error("%s: label_smoothing %g outside [0, 1]", op, o.label_smoothing);
    size_t scope = dc_scope_begin();
    dc_tensor *index = NULL, *mask = NULL;
    if (class_targets(scores, target, o.ignore_index, op, &index, &mask) != 0)
        return dc_scope_return(scope, NULL);
    dc_tensor *logp = from_logits ? dc_log_softmax(scores, 1) : scores;
    /* -log p[target], zero where ignored */
    dc_tensor *per = dc_mul(dc_neg(dc_squeeze(dc_gather(logp, 1, index), 1)), mask);
    if (o.label_smoothing > 0 && per) {
        /* (1-e) * nll + e * mean over classes of -log p (torch's label smoothing) */
        double classes = (double)scores->shape[1];
        dc_tensor *uniform = dc_mul(dc_mul_scalar(dc_sum(logp, 1, (int[]){1}, false), -1.0 / classes), mask);
        per = dc_add(dc_mul_scalar(per, 1 - o.label_smoothing), dc_mul_scalar(uniform, o.label_smoothing));
    }
    return dc_scope_return(scope, per ? reduce_masked(per, mask, o.reduction, op) : NULL);
}

dc_tensor *dc_cross_entropy(dc_tensor *logits, dc_tensor *target, const dc_ce_opts *opts)
{
    return class_loss(logits, target, opts, true, "dc_cross_entropy");
}

dc_tensor *dc_nll_loss(dc_tensor *log_probs, dc_tensor *target, const dc_ce_opts *opts)
{
    if (opts && opts->label_smoothing != 0)
        return dc_error("dc_nll_loss: label smoothing applies to dc_cross_entropy only");
    return class_loss(log_probs, target, opts, false, "dc_nll_loss");
}

/* ---- Binary losses ----------------------------------------------------------------------------- */

static bool same_shapes(const dc_tensor *a, const dc_tensor *b, const char *op)
{
    if (dc_same_shape(a, b)) return true;
    char x[96], y[96];
    dc_error("%s: input %s and target %s must have the same shape", op,
             dc__shape_fmt(a->ndim, a->shape, x, sizeof x), dc__shape_fmt(b->ndim, b->shape, y, sizeof y));
    return false;
}

/* -(t log p + (1 - t) log(1 - p)), each log clamped at -100 as torch does. */
dc_tensor *dc_bce_loss(dc_tensor *probs, dc_tensor *target, dc_reduction reduction)
{
    DC_CHECK_TENSOR(probs, "dc_bce_loss");
    DC_CHECK_TENSOR(target, "dc_bce_loss");
    if (!same_shapes(probs, target, "dc_bce_loss")) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *floor = dc_scalar(probs->dtype, -100.0);
    dc_tensor *log_p = dc_maximum(dc_log(probs), floor);
    dc_tensor *log_1mp = dc_maximum(dc_log(dc_rsub_scalar(probs, 1.0)), floor);
    dc_tensor *per = dc_neg(dc_add(dc_mul(target, log_p), dc_mul(dc_rsub_scalar(target, 1.0), log_1mp)));
    return dc_scope_return(scope, reduce(per, reduction, "dc_bce_loss"));
}

/* (1 - t) x + log(1 + e^-x): stable for any x, gradient sigmoid(x) - t everywhere. */
dc_tensor *dc_bce_with_logits(dc_tensor *logits, dc_tensor *target, dc_reduction reduction)
{
    DC_CHECK_TENSOR(logits, "dc_bce_with_logits");
    DC_CHECK_TENSOR(target, "dc_bce_with_logits");
    if (!same_shapes(logits, target, "dc_bce_with_logits")) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *per = dc_add(dc_mul(dc_rsub_scalar(target, 1.0), logits),
                            dc_softplus(dc_neg(logits), 1.0, 20.0));
    return dc_scope_return(scope, reduce(per, reduction, "dc_bce_with_logits"));
}

/* ---- Metric learning and VAE ------------------------------------------------------------------- */

static dc_tensor *pairwise_distance(dc_tensor *a, dc_tensor *b)
{
    dc_tensor *d = dc_add_scalar(dc_sub(a, b), 1e-6);
    return dc_sqrt(dc_sum(dc_mul(d, d), 1, (int[]){-1}, false));
}

dc_tensor *dc_triplet_margin_loss(dc_tensor *anchor, dc_tensor *positive, dc_tensor *negative,
                                  double margin)
{
    DC_CHECK_TENSOR(anchor, "dc_triplet_margin_loss");
    DC_CHECK_TENSOR(positive, "dc_triplet_margin_loss");
    DC_CHECK_TENSOR(negative, "dc_triplet_margin_loss");
    if (!same_shapes(anchor, positive, "dc_triplet_margin_loss") ||
        !same_shapes(anchor, negative, "dc_triplet_margin_loss"))
        return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *gap = dc_sub(pairwise_distance(anchor, positive), pairwise_distance(anchor, negative));
    return dc_scope_return(scope, dc_mean_all(dc_relu(dc_add_scalar(gap, margin))));
}

dc_tensor *dc_kl_normal(dc_tensor *mu, dc_tensor *logvar)
{
    DC_CHECK_TENSOR(mu, "dc_kl_normal");
    DC_CHECK_TENSOR(logvar, "dc_kl_normal");
    if (!same_shapes(mu, logvar, "dc_kl_normal")) return NULL;
    if (mu->ndim < 1) return dc_error("dc_kl_normal: mu needs a batch dim");
    size_t scope = dc_scope_begin();
    dc_tensor *terms = dc_sub(dc_sub(dc_add_scalar(logvar, 1.0), dc_mul(mu, mu)), dc_exp(logvar));
    dc_tensor *kl = dc_mul_scalar(dc_sum_all(terms), -0.5 / (double)mu->shape[0]);
    return dc_scope_return(scope, kl);
}

/* ---- Metrics ------------------------------------------------------------------------------------- */

double dc_accuracy(dc_tensor *logits, dc_tensor *target)
{
    if (!logits || !target) return dc_error("dc_accuracy: NULL input"), -1.0;
    if (logits->ndim < 2 || target->ndim != logits->ndim - 1 || target->shape[0] != logits->shape[0])
        return dc_error("dc_accuracy: expected logits [N, C, ...] and targets [N, ...]"), -1.0;
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor *pred = dc_argmax(logits, 1, false);
    int64_t n = dc_numel(target);
    double *p = malloc((size_t)(n ? n : 1) * sizeof *p), *t = malloc((size_t)(n ? n : 1) * sizeof *t);
    double acc = -1.0;
    if (pred && p && t && dc_numel(pred) == n && dc_to_double_buffer(pred, p, n) == 0 &&
        dc_to_double_buffer(target, t, n) == 0) {
        int64_t hits = 0;
        for (int64_t i = 0; i < n; i++) hits += p[i] == t[i];
        acc = n ? (double)hits / (double)n : 0.0;
    }
    free(p);
    free(t);
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    return acc;
}

double dc_perplexity(double mean_cross_entropy) { return exp(mean_cross_entropy); }
