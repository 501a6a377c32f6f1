/* Float64 gradient checker: analytic gradients (dc_backward) against central finite
 * differences. See gradcheck.h for the method. */
#include "gradcheck.h"

#include <stdarg.h>
#include <stdlib.h>

const char *dc_gradcheck_index_str(int ndim, const int64_t *index, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used +=
            (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld", (long long)index[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}

/* FNV-1a: a stable seed per case name, so each case gets its own R. */
static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static bool is_checked(const dc_tensor *t) { return t && t->requires_grad && !t->grad_fn; }

/* L = sum(out * R) of one forward run under no-grad; NAN (error pending) if it fails. */
static double loss_no_grad(dc_gradcheck_fn fn, void *ctx, dc_tensor *const *inputs, const double *r,
                           int64_t n_out, double *out_buf)
{
    bool prev = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor *out = fn(inputs, ctx);
    double loss = NAN;
    if (out && dc_numel(out) == n_out && dc_to_double_buffer(out, out_buf, n_out) == 0) {
        loss = 0;
        for (int64_t i = 0; i < n_out; i++) loss += out_buf[i] * r[i];
    } else if (out && !dc_has_error()) {
        dc_error("gradcheck: the no-grad forward gave %lld elements instead of %lld",
                 (long long)dc_numel(out), (long long)n_out);
    }
    dc_scope_end(scope);
    dc_grad_mode_restore(prev);
    return loss;
}

/* Next multi-index in row-major order; false after the last one. */
static bool next_index(int ndim, const int64_t *shape, int64_t *index)
{
    for (int d = ndim - 1; d >= 0; d--) {
        if (++index[d] < shape[d]) return true;
        index[d] = 0;
    }
    return false;
}

typedef struct {
    bool found;
    int input;
    int64_t index[DC_MAX_DIMS];
    double analytic, numeric, excess;
    int64_t n_bad, n_checked;
} worst_element;

bool dc_gradcheck(const char *name, dc_gradcheck_fn fn, void *ctx, int n_inputs,
                  dc_tensor *const *inputs, const dc_gradcheck_options *opts, char *msg,
                  size_t msg_size)
{
    dc_gradcheck_options o = {1e-6, 1e-6, 1e-5, 0};
    if (opts) o = *opts;
    if (!o.seed) o.seed = name_hash(name);
    msg[0] = '\0';
#define FAIL(...)                                                                                  \
    do {                                                                                           \
        int k_ = snprintf(msg, msg_size, "gradcheck %s: ", name);                                  \
        if (k_ >= 0 && (size_t)k_ < msg_size)                                                      \
            snprintf(msg + k_, msg_size - (size_t)k_, __VA_ARGS__);                                \
        goto done;                                                                                 \
    } while (0)

    bool ok = false;
    double *r = NULL, *out_buf = NULL, *analytic[DC_MAX_DIMS * 2] = {0};
    size_t scope = dc_scope_begin();
    if (n_inputs < 0 || n_inputs > DC_MAX_DIMS * 2) FAIL("too many inputs (%d)", n_inputs);
    for (int k = 0; k < n_inputs; k++) {
        const dc_tensor *t = inputs[k];
        if (!t) FAIL("input %d is NULL (%s)", k, dc_last_error());
        if (!is_checked(t)) continue;
        if (t->dtype != DC_F64) FAIL("input %d requires grad but is not float64", k);
        for (int d = 0; d < t->ndim; d++)
            if (t->stride[d] == 0 && t->shape[d] > 1)
                FAIL("input %d has a stride-0 dim %d: perturbing it would move several "
                     "elements",
                     k, d);
        dc_zero_grad(inputs[k]);
    }

    dc_clear_error(); /* so an error seen below is this check's own */

    /* Analytic: backward of L = sum(out * R) is a backward seeded with R. */
    dc_tensor *out = fn(inputs, ctx);
    if (!out) FAIL("forward failed: %s", dc_last_error());
    if (out->dtype != DC_F64) FAIL("the output is %s, not float64", dc_dtype_name(out->dtype));
    int64_t n_out = dc_numel(out);
    dc_rng rng;
    dc_rng_seed(&rng, o.seed);
    dc_tensor *seed = dc_uniform(&rng, DC_F64, out->ndim, out->shape, -1.0, 1.0);
    r = malloc((size_t)(n_out ? n_out : 1) * sizeof *r);
    out_buf = malloc((size_t)(n_out ? n_out : 1) * sizeof *out_buf);
    if (!seed || !r || !out_buf || dc_to_double_buffer(seed, r, n_out) != 0) FAIL("out of memory");
    /* An output that does not require grad depends on no checked input: all gradients 0. */
    if (out->requires_grad && dc_backward_with(out, seed) != 0)
        FAIL("backward failed: %s", dc_last_error());
    for (int k = 0; k < n_inputs; k++) {
        if (!is_checked(inputs[k])) continue;
        int64_t n = dc_numel(inputs[k]);
        analytic[k] = calloc((size_t)(n ? n : 1), sizeof(double));
        if (!analytic[k]) FAIL("out of memory");
        dc_tensor *g = inputs[k]->grad;
        if (g && !dc_same_shape(g, inputs[k])) {
            char a[96], b[96];
            FAIL("input %d: gradient has %s, the input has %s", k, dc_shape_str(g, a, sizeof a),
                 dc_shape_str(inputs[k], b, sizeof b));
        }
        if (g && dc_to_double_buffer(g, analytic[k], n) != 0) FAIL("%s", dc_last_error());
    }

    /* Numeric: perturb each element through the view's strides, in place. */
    worst_element worst = {0};
    for (int k = 0; k < n_inputs; k++) {
        dc_tensor *t = inputs[k];
        if (!is_checked(t) || dc_numel(t) == 0) continue;
        double *base = dc_data(t);
        int64_t index[DC_MAX_DIMS] = {0}, flat = 0;
        do {
            int64_t offset = 0;
            for (int d = 0; d < t->ndim; d++) offset += index[d] * t->stride[d];
            double saved = base[offset];
            base[offset] = saved + o.eps;
            double plus = loss_no_grad(fn, ctx, inputs, r, n_out, out_buf);
            base[offset] = saved - o.eps;
            double minus = loss_no_grad(fn, ctx, inputs, r, n_out, out_buf);
            base[offset] = saved;
            if (dc_has_error()) FAIL("perturbed forward failed: %s", dc_last_error());
            double numeric = (plus - minus) / (2 * o.eps), a = analytic[k][flat];
            double excess = fabs(a - numeric) - (o.atol + o.rtol * fabs(numeric));
            worst.n_checked++;
            if (!(excess <= 0)) { /* NaN counts as bad */
                worst.n_bad++;
                if (!worst.found || !(excess <= worst.excess)) {
                    worst = (worst_element){true,    k,      {0},         a,
                                            numeric, excess, worst.n_bad, worst.n_checked};
                    memcpy(worst.index, index, sizeof index);
                }
            }
            flat++;
        } while (next_index(t->ndim, t->shape, index));
    }
    if (worst.found) {
        char idx[128];
        FAIL("input %d%s: analytic %.10g vs numeric %.10g (atol %g, rtol %g); %lld of %lld "
             "gradient elements off",
             worst.input,
             dc_gradcheck_index_str(inputs[worst.input]->ndim, worst.index, idx, sizeof idx),
             worst.analytic, worst.numeric, o.atol, o.rtol, (long long)worst.n_bad,
             (long long)worst.n_checked);
    }
    ok = true;
done:
#undef FAIL
    for (int k = 0; k < n_inputs && k < DC_MAX_DIMS * 2; k++) {
        free(analytic[k]);
        if (inputs[k]) dc_zero_grad(inputs[k]);
    }
    free(r);
    free(out_buf);
    dc_scope_end(scope);
    dc_clear_error(); /* the message is in msg; don't let it leak into the next case */
    return ok;
}
