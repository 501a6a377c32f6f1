/* Noise schedules, the forward process and the samplers (see diffusion.h). */
#include "diffusion/diffusion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;

int diffusion_schedule_init(diffusion_schedule *s, diffusion_schedule_kind kind, int64_t T)
{
    if (!s) return dc_error("diffusion_schedule_init: schedule is NULL"), -1;
    memset(s, 0, sizeof *s);
    if (T < 1 || T > 100000)
        return dc_error("diffusion_schedule_init: T = %lld must be in [1, 100000]", (long long)T), -1;
    if (kind != DIFFUSION_LINEAR && kind != DIFFUSION_COSINE)
        return dc_error("diffusion_schedule_init: unknown schedule %d", (int)kind), -1;
    double *b = malloc((size_t)T * sizeof *b), *a = malloc((size_t)T * sizeof *a),
           *ab = malloc((size_t)T * sizeof *ab);
    if (!b || !a || !ab) {
        free(b), free(a), free(ab);
        return dc_error("diffusion_schedule_init: out of memory"), -1;
    }
    if (kind == DIFFUSION_LINEAR) {
        /* Ho et al.: beta_1 = 1e-4 .. beta_T = 0.02 for T = 1000, scaled by 1000 / T so that
         * other lengths destroy the signal as much (capped below 1) */
        double scale = 1000.0 / (double)T, lo = 1e-4 * scale, hi = 0.02 * scale;
        if (hi > 0.999) hi = 0.999;
        if (lo > hi) lo = hi;
        for (int64_t t = 0; t < T; t++) b[t] = T == 1 ? hi : lo + (hi - lo) * (double)t / (double)(T - 1);
    } else {
        /* alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2);
         * beta_t = 1 - alpha_bar(t + 1) / alpha_bar(t), clipped to 0.999 */
        const double off = 0.008;
        double f0 = cos(off / (1 + off) * PI / 2);
        f0 *= f0;
        double prev = 1;
        for (int64_t t = 0; t < T; t++) {
            double f = cos(((double)(t + 1) / (double)T + off) / (1 + off) * PI / 2);
            double cur = f * f / f0;
            b[t] = 1 - cur / prev;
            if (b[t] > 0.999) b[t] = 0.999;
            prev = cur;
        }
    }
    double prod = 1;
    for (int64_t t = 0; t < T; t++) {
        a[t] = 1 - b[t];
        prod *= a[t];
        ab[t] = prod;
    }
    *s = (diffusion_schedule){T, kind, b, a, ab};
    return 0;
}

void diffusion_schedule_free(diffusion_schedule *s)
{
    if (!s) return;
    free(s->beta), free(s->alpha), free(s->alpha_bar);
    memset(s, 0, sizeof *s);
}

double diffusion_alpha_bar(const diffusion_schedule *s, int64_t t)
{
    if (!s || !s->alpha_bar || t < -1 || t >= s->T) return NAN;
    return t < 0 ? 1.0 : s->alpha_bar[t];
}

static bool check_t(const diffusion_schedule *s, int64_t t, bool allow_x0, const char *who)
{
    if (!s || !s->alpha_bar) return dc_error("%s: schedule is NULL or not initialised", who), false;
    if (t < (allow_x0 ? -1 : 0) || t >= s->T)
        return dc_error("%s: timestep %lld outside [%d, %lld)", who, (long long)t, allow_x0 ? -1 : 0,
                        (long long)s->T),
               false;
    return true;
}

/* sqrt(ab_t) x0 + sqrt(1 - ab_t) noise with per-sample coefficients [N, 1, ...]. */
dc_tensor *diffusion_q_sample(const diffusion_schedule *s, dc_tensor *x0, dc_tensor *t,
                              dc_tensor *noise)
{
    char a[96], b[96];
    if (!x0 || !t || !noise) return dc_error("diffusion_q_sample: NULL input");
    if (!check_t(s, 0, false, "diffusion_q_sample")) return NULL;
    if (!dc_same_shape(x0, noise) || x0->ndim < 1)
        return dc_error("diffusion_q_sample: x0 %s and noise %s must have one shape [N, ...]",
                        dc_shape_str(x0, a, sizeof a), dc_shape_str(noise, b, sizeof b));
    int64_t n = x0->shape[0];
    if (t->dtype != DC_I64 || t->ndim != 1 || t->shape[0] != n)
        return dc_error("diffusion_q_sample: t must be int64 [%lld], got %s %s", (long long)n,
                        dc_dtype_name(t->dtype), dc_shape_str(t, a, sizeof a));
    double *tv = malloc((size_t)(n + 1) * sizeof *tv);
    double *ca = malloc((size_t)(n + 1) * sizeof *ca), *cb = malloc((size_t)(n + 1) * sizeof *cb);
    dc_tensor *out = NULL;
    if (!tv || !ca || !cb) {
        dc_error("diffusion_q_sample: out of memory");
        goto done;
    }
    if (dc_to_double_buffer(t, tv, n) != 0) goto done;
    for (int64_t i = 0; i < n; i++) {
        if (!(tv[i] >= 0 && tv[i] < (double)s->T)) {
            dc_error("diffusion_q_sample: t[%lld] = %g outside [0, %lld)", (long long)i, tv[i],
                     (long long)s->T);
            goto done;
        }
        double ab = s->alpha_bar[(int64_t)tv[i]];
        ca[i] = sqrt(ab), cb[i] = sqrt(1 - ab);
    }
    size_t scope = dc_scope_begin();
    int64_t shape[8] = {n, 1, 1, 1, 1, 1, 1, 1};
    int nd = x0->ndim > 8 ? 8 : x0->ndim;
    dc_tensor *A = dc_to_dtype(dc_from_buffer(DC_F64, nd, shape, ca), x0->dtype);
    dc_tensor *B = dc_to_dtype(dc_from_buffer(DC_F64, nd, shape, cb), x0->dtype);
    out = dc_scope_return(scope, dc_add(dc_mul(x0, A), dc_mul(noise, B)));
done:
    free(tv), free(ca), free(cb);
    return out;
}

dc_tensor *diffusion_q_step(const diffusion_schedule *s, dc_tensor *x_prev, int64_t t,
                            dc_tensor *noise)
{
    char a[96], b[96];
    if (!x_prev || !noise) return dc_error("diffusion_q_step: NULL input");
    if (!check_t(s, t, false, "diffusion_q_step")) return NULL;
    if (!dc_same_shape(x_prev, noise))
        return dc_error("diffusion_q_step: x_prev %s and noise %s differ in shape",
                        dc_shape_str(x_prev, a, sizeof a), dc_shape_str(noise, b, sizeof b));
    size_t scope = dc_scope_begin();
    dc_tensor *y = dc_add(dc_mul_scalar(x_prev, sqrt(s->alpha[t])), dc_mul_scalar(noise, sqrt(s->beta[t])));
    return dc_scope_return(scope, y);
}

dc_tensor *diffusion_ddim_step(const diffusion_schedule *s, dc_tensor *x_t, dc_tensor *eps,
                               int64_t t, int64_t t_next, double eta, bool clip, dc_rng *rng)
{
    char a[96], b[96];
    if (!x_t || !eps) return dc_error("diffusion_ddim_step: NULL input");
    if (!check_t(s, t, false, "diffusion_ddim_step") || !check_t(s, t_next, true, "diffusion_ddim_step"))
        return NULL;
    if (!dc_same_shape(x_t, eps))
        return dc_error("diffusion_ddim_step: x_t %s and eps %s differ in shape",
                        dc_shape_str(x_t, a, sizeof a), dc_shape_str(eps, b, sizeof b));
    if (!(eta >= 0)) return dc_error("diffusion_ddim_step: eta must be >= 0, got %g", eta);
    double ab = diffusion_alpha_bar(s, t), abn = diffusion_alpha_bar(s, t_next);
    double sigma = 0;
    if (eta > 0 && t_next < t) sigma = eta * sqrt((1 - abn) / (1 - ab) * (1 - ab / abn));
    double dir = 1 - abn - sigma * sigma;
    dir = dir > 0 ? sqrt(dir) : 0;
    size_t scope = dc_scope_begin();
    dc_tensor *x0 = dc_mul_scalar(dc_sub(x_t, dc_mul_scalar(eps, sqrt(1 - ab))), 1 / sqrt(ab));
    if (clip) x0 = dc_clamp(x0, -1, 1);
    dc_tensor *y = dc_add(dc_mul_scalar(x0, sqrt(abn)), dc_mul_scalar(eps, dir));
    if (sigma > 0) y = dc_add(y, dc_mul_scalar(dc_randn(rng, x_t->dtype, x_t->ndim, x_t->shape), sigma));
    return dc_scope_return(scope, y);
}

/* Ancestral DDPM step t -> t - 1 through the posterior q(x_{t-1} | x_t, x0') with
 * x0' = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t) (clipped when asked):
 * mean = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x0' + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t,
 * variance beta~_t = (1 - ab_{t-1}) / (1 - ab_t) beta_t (none at t = 0). Without clipping the
 * mean is Ho et al.'s (x_t - beta_t / sqrt(1 - ab_t) eps) / sqrt(alpha_t). */
static dc_tensor *ddpm_step(const diffusion_schedule *s, dc_tensor *x_t, dc_tensor *eps, int64_t t,
                            bool clip, dc_rng *rng)
{
    double ab = s->alpha_bar[t], abp = diffusion_alpha_bar(s, t - 1), beta = s->beta[t];
    dc_tensor *x0 = dc_mul_scalar(dc_sub(x_t, dc_mul_scalar(eps, sqrt(1 - ab))), 1 / sqrt(ab));
    if (clip) x0 = dc_clamp(x0, -1, 1);
    dc_tensor *mean = dc_add(dc_mul_scalar(x0, sqrt(abp) * beta / (1 - ab)),
                             dc_mul_scalar(x_t, sqrt(s->alpha[t]) * (1 - abp) / (1 - ab)));
    if (t == 0) return mean;
    double var = (1 - abp) / (1 - ab) * beta;
    return dc_add(mean, dc_mul_scalar(dc_randn(rng, x_t->dtype, x_t->ndim, x_t->shape), sqrt(var)));
}

dc_tensor *diffusion_sample(const diffusion_schedule *s, int ndim, const int64_t *shape,
                            diffusion_eps_fn eps_fn, void *ctx, const diffusion_sampler_opts *o,
                            dc_rng *rng)
{
    if (!check_t(s, 0, false, "diffusion_sample")) return NULL;
    if (!eps_fn || !o || !shape || ndim < 1) return dc_error("diffusion_sample: NULL argument");
    bool ddim = o->ddim || (o->steps != 0 && o->steps != s->T);
    int64_t steps = o->steps == 0 ? s->T : o->steps;
    if (steps < 1 || steps > s->T)
        return dc_error("diffusion_sample: steps %lld must be in [1, T = %lld]", (long long)steps,
                        (long long)s->T);
    if (o->snapshots < 0 || (o->snapshots > 0 && !o->trajectory))
        return dc_error("diffusion_sample: snapshots %lld need a trajectory pointer",
                        (long long)o->snapshots);
    if (o->trajectory) *o->trajectory = NULL;
    bool grad = dc_no_grad_begin();
    size_t outer = dc_scope_begin();
    dc_tensor *x = dc_randn(rng, DC_F32, ndim, shape);
    int64_t K = o->snapshots, kept = 0;
    dc_tensor **snap = K > 0 ? calloc((size_t)K, sizeof *snap) : NULL;
    if (K > 0 && !snap) x = dc_error("diffusion_sample: out of memory");
    /* the states after step i (0 = x_T) that are kept: round(j * steps / (K - 1)) */
    for (int64_t i = 0; x && i <= steps; i++) {
        while (kept < K && (K == 1 ? i == steps : kept * steps <= i * (K - 1))) {
            snap[kept++] = dc_narrow(x, 0, 0, 1);
            if (K == 1) break;
        }
        if (i == steps) break;
        /* timesteps descending: tau_i = floor((steps - i) * T / steps) - 1 */
        int64_t t = (steps - i) * s->T / steps - 1;
        int64_t t_next = (steps - i - 1) * s->T / steps - 1;
        size_t scope = dc_scope_begin();
        dc_tensor *eps = eps_fn(ctx, x, t);
        dc_tensor *nx = !eps ? NULL
                        : ddim ? diffusion_ddim_step(s, x, eps, t, t_next, o->eta, o->clip, rng)
                               : ddpm_step(s, x, eps, t, o->clip, rng);
        x = nx ? dc_scope_return(scope, nx) : (dc_scope_end(scope), NULL);
    }
    dc_tensor *traj = x && K > 0 ? dc_cat(snap, (int)kept, 0) : NULL;
    if (K > 0 && !traj) x = NULL;
    free(snap);
    if (traj) traj = dc_tensor_retain(traj);
    x = x ? dc_scope_return(outer, x) : (dc_scope_end(outer), NULL);
    dc_grad_mode_restore(grad);
    if (traj) { /* owned like the result: by the caller's scope, if one is open */
        *o->trajectory = dc_scope_return(dc_scope_begin(), traj);
        dc_tensor_free(traj);
    }
    return x;
}
