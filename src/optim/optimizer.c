/* Optimizers (book ch. 3): SGD with momentum, Adam, AdamW and RMSprop, with torch.optim's
 * update rules (torch 1.13, single-tensor path) and defaults.
 *
 * Each parameter tensor is updated in one fused pass over param / grad / state: one loop
 * per tensor, vectorisable and split over the thread pool when large, instead of a chain of
 * tensor ops that would read and write every buffer several times. State buffers are
 * created (zeroed) the first time a parameter has a gradient and reused afterwards, so a
 * steady-state step allocates nothing.
 *
 * Like torch, every parameter has its own step counter ("<param>.step"): a parameter
 * without a gradient is skipped and its counter (Adam's bias correction) does not move. */
#include "../core/internal.h"
#include "../kernels/kernels.h"
#include "deepc/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gcc -O2 only vectorises loops whose trip count it knows; the update loops have run-time
 * lengths, so allow the vectoriser its usual cost model in this file. */
#pragma GCC optimize("vect-cost-model=dynamic")

#define MAX_SLOTS 2          /* state buffers per parameter */
#define PARALLEL_GRAIN 32768 /* elements per thread chunk: ~20 flops each, memory bound */

typedef struct {
    dc_tensor *param; /* retained */
    char *name;
    dc_tensor *slot[MAX_SLOTS]; /* state buffers (contiguous, like param), NULL until used */
    dc_tensor *step;            /* float64 scalar: steps this parameter took */
} param_state;

struct dc_optimizer {
    dc_optim_config cfg;
    int n;
    param_state *p;
    dc_tensor *step; /* float64 scalar: dc_optimizer_step calls */
};

/* ---- Configuration ------------------------------------------------------------------------- */

dc_optim_config dc_optim_defaults(dc_optim_kind kind, double lr)
{
    dc_optim_config c = {
        .kind = kind, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .alpha = 0.99};
    if (kind == DC_ADAMW) c.weight_decay = 0.01;
    return c;
}

static const char *kind_name(dc_optim_kind kind)
{
    switch (kind) {
    case DC_SGD: return "SGD";
    case DC_ADAM: return "Adam";
    case DC_ADAMW: return "AdamW";
    case DC_RMSPROP: return "RMSprop";
    }
    return "?";
}

/* torch's checks, with its wording where it has one. */
static bool config_ok(const dc_optim_config *c)
{
    const char *k = kind_name(c->kind);
    if (c->kind < DC_SGD || c->kind > DC_RMSPROP)
        return dc_error("dc_optimizer_new: unknown optimizer kind %d", (int)c->kind), false;
    if (!(c->lr >= 0))
        return dc_error("dc_optimizer_new: %s: invalid learning rate %g", k, c->lr), false;
    if (!(c->weight_decay >= 0))
        return dc_error("dc_optimizer_new: %s: invalid weight_decay %g", k, c->weight_decay), false;
    if (!(c->momentum >= 0))
        return dc_error("dc_optimizer_new: %s: invalid momentum %g", k, c->momentum), false;
    if (c->nesterov && (c->kind != DC_SGD || c->momentum <= 0 || c->dampening != 0))
        return dc_error("dc_optimizer_new: %s: nesterov momentum requires SGD with a momentum "
                        "and zero dampening",
                        k),
               false;
    if ((c->kind == DC_ADAM || c->kind == DC_ADAMW) && !(c->beta1 >= 0 && c->beta1 < 1))
        return dc_error("dc_optimizer_new: %s: invalid beta1 %g (must be in [0, 1))", k, c->beta1),
               false;
    if ((c->kind == DC_ADAM || c->kind == DC_ADAMW) && !(c->beta2 >= 0 && c->beta2 < 1))
        return dc_error("dc_optimizer_new: %s: invalid beta2 %g (must be in [0, 1))", k, c->beta2),
               false;
    if (c->kind != DC_SGD && !(c->eps >= 0))
        return dc_error("dc_optimizer_new: %s: invalid eps %g", k, c->eps), false;
    if (c->kind == DC_RMSPROP && !(c->alpha >= 0))
        return dc_error("dc_optimizer_new: %s: invalid alpha %g", k, c->alpha), false;
    return true;
}

/* Names of the state buffers of cfg's optimizer, in slot order (NULL: unused slot). */
static void slot_names(const dc_optim_config *c, const char *names[MAX_SLOTS])
{
    names[0] = names[1] = NULL;
    switch (c->kind) {
    case DC_SGD: names[0] = c->momentum != 0 ? "momentum_buffer" : NULL; break;
    case DC_ADAM:
    case DC_ADAMW: names[0] = "exp_avg", names[1] = "exp_avg_sq"; break;
    case DC_RMSPROP:
        names[0] = "square_avg";
        names[1] = c->momentum > 0 ? "momentum_buffer" : NULL;
        break;
    }
}

/* A zeroed float64 scalar owned by the optimizer (never published to a scope). */
static dc_tensor *new_counter(void)
{
    dc_tensor *t = dc__alloc_result(DC_F64, 0, NULL);
    if (t) *(double *)dc_data(t) = 0;
    return t;
}

/* A zeroed contiguous tensor shaped like p, owned by the optimizer. */
static dc_tensor *new_buffer(const dc_tensor *p)
{
    dc_tensor *t = dc__alloc_result(p->dtype, p->ndim, p->shape);
    if (t) memset(dc_data(t), 0, (size_t)dc_numel(t) * dc__elsize(t->dtype));
    return t;
}

/* Create the state buffers of parameter i that do not exist yet. */
static int ensure_slots(dc_optimizer *opt, param_state *ps)
{
    const char *names[MAX_SLOTS];
    slot_names(&opt->cfg, names);
    for (int s = 0; s < MAX_SLOTS; s++)
        if (names[s] && !ps->slot[s] && !(ps->slot[s] = new_buffer(ps->param))) return -1;
    return 0;
}

dc_optimizer *dc_optimizer_new_tensors(int n, dc_tensor *const *tensors,
                                       const dc_optim_config *config)
{
    if (n <= 0 || !tensors) return dc_error("dc_optimizer_new_tensors: no tensors given (n = %d)", n);
    char(*names)[16] = malloc((size_t)n * sizeof *names);
    char **name_ptrs = malloc((size_t)n * sizeof *name_ptrs);
    dc_optimizer *opt = NULL;
    if (names && name_ptrs) {
        for (int i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%d", i);
            name_ptrs[i] = names[i];
        }
        dc_tensor_list list = {n, (dc_tensor **)tensors, name_ptrs};
        opt = dc_optimizer_new(&list, config);
    } else {
        dc_error("dc_optimizer_new_tensors: out of memory");
    }
    free(names);
    free(name_ptrs);
    return opt;
}

void dc_optimizer_free(dc_optimizer *opt)
{
    if (!opt) return;
    for (int i = 0; i < opt->n; i++) {
        param_state *ps = &opt->p[i];
        dc_tensor_free(ps->param);
        free(ps->name);
        for (int s = 0; s < MAX_SLOTS; s++) dc_tensor_free(ps->slot[s]);
        dc_tensor_free(ps->step);
    }
    free(opt->p);
    dc_tensor_free(opt->step);
    free(opt);
}

dc_optimizer *dc_optimizer_new(const dc_tensor_list *params, const dc_optim_config *config)
{
    if (!params) return dc_error("dc_optimizer_new: parameter list is NULL");
    if (!config) return dc_error("dc_optimizer_new: config is NULL");
    if (!config_ok(config)) return NULL;
    if (params->n <= 0) return dc_error("dc_optimizer_new: empty parameter list");
    for (int i = 0; i < params->n; i++) {
        const dc_tensor *t = params->tensors[i];
        const char *name = params->names && params->names[i] ? params->names[i] : "?";
        if (!t) return dc_error("dc_optimizer_new: parameter %d ('%s') is NULL", i, name);
        if (t->dtype != DC_F32 && t->dtype != DC_F64)
            return dc_error("dc_optimizer_new: parameter '%s' is %s; only float32/float64 "
                            "can be optimized",
                            name, dc_dtype_name(t->dtype));
        if (!t->requires_grad)
            return dc_error("dc_optimizer_new: parameter '%s' does not require grad", name);
        if (t->grad_fn)
            return dc_error("dc_optimizer_new: parameter '%s' is not a leaf tensor", name);
        for (int j = 0; j < i; j++)
            if (params->tensors[j] == t)
                return dc_error("dc_optimizer_new: parameter '%s' appears twice", name);
    }
    dc_optimizer *opt = calloc(1, sizeof *opt);
    if (!opt || !(opt->p = calloc((size_t)params->n, sizeof *opt->p))) {
        free(opt);
        return dc_error("dc_optimizer_new: out of memory");
    }
    opt->cfg = *config;
    opt->n = params->n;
    for (int i = 0; i < params->n; i++) {
        param_state *ps = &opt->p[i];
        char fallback[24];
        snprintf(fallback, sizeof fallback, "%d", i);
        const char *name = params->names && params->names[i] ? params->names[i] : fallback;
        ps->param = dc_tensor_retain(params->tensors[i]);
        ps->name = strdup(name);
        ps->step = new_counter();
        if (!ps->name || !ps->step) {
            dc_optimizer_free(opt);
            return dc_error("dc_optimizer_new: out of memory");
        }
    }
    if (!(opt->step = new_counter())) {
        dc_optimizer_free(opt);
        return dc_error("dc_optimizer_new: out of memory");
    }
    return opt;
}

/* ---- The fused update kernels ------------------------------------------------------------ */

/* Everything one parameter's update needs; constants are precomputed in double and converted
 * to the parameter's type in the kernel (torch converts scalars the same way). */
typedef struct {
    dc_dtype dtype;
    void *param;
    const void *grad;
    void *s0, *s1;     /* state slots */
    bool weight_decay; /* L2 term wd * p added to the gradient */
    bool momentum, nesterov;
    double lr, wd, mu, keep, beta1, beta2, step_size, bc2_sqrt, eps, alpha, decay;
} update_job;

/* The kernels for element type T. Each takes its mode flags as arguments and is always
 * inlined into a dispatcher that passes literal constants, so every flag combination gets
 * its own branch-free (vectorisable) loop. */
#define DEFINE_UPDATE_KERNELS(T, SQRT)                                                             \
    /* SGD: d = g (+ wd p); buf = mu buf + keep d, keep = 1 - dampening (buf = d on a              \
     * parameter's first step: keep = 1 on a zeroed buffer); d = d + mu buf (nesterov)             \
     * or buf; p -= lr d. */                                                                       \
    static inline __attribute__((always_inline)) void sgd_##T(                                     \
        const update_job *j, int64_t b, int64_t e, bool wd, bool momentum, bool nesterov)          \
    {                                                                                              \
        T *restrict p = j->param, *restrict buf = j->s0;                                           \
        const T *restrict g = j->grad;                                                             \
        const T lr = (T)j->lr, wdc = (T)j->wd, mu = (T)j->mu, keep = (T)j->keep;                   \
        for (int64_t i = b; i < e; i++) {                                                          \
            T d = g[i];                                                                            \
            if (wd) d += wdc * p[i];                                                               \
            if (momentum) {                                                                        \
                T bi = mu * buf[i] + keep * d;                                                     \
                buf[i] = bi;                                                                       \
                d = nesterov ? d + mu * bi : bi;                                                   \
            }                                                                                      \
            p[i] -= lr * d;                                                                        \
        }                                                                                          \
    }                                                                                              \
    /* Adam / AdamW: g (+ wd p for Adam's L2); p *= decay (AdamW: 1 - lr wd, else 1);              \
     * m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;                                                 \
     * p -= step_size m / (sqrt(v) / sqrt(1 - b2^t) + eps), step_size = lr / (1 - b1^t). */        \
    static inline __attribute__((always_inline)) void adam_##T(const update_job *j, int64_t b,     \
                                                               int64_t e, bool wd)                 \
    {                                                                                              \
        T *restrict p = j->param, *restrict m = j->s0, *restrict v = j->s1;                        \
        const T *restrict g = j->grad;                                                             \
        const T wdc = (T)j->wd, decay = (T)j->decay, b1 = (T)j->beta1, b2 = (T)j->beta2;           \
        const T one_b1 = (T)(1 - j->beta1), one_b2 = (T)(1 - j->beta2);                            \
        const T step_size = (T)j->step_size, bc2_sqrt = (T)j->bc2_sqrt, eps = (T)j->eps;           \
        for (int64_t i = b; i < e; i++) {                                                          \
            T pi = p[i], gi = g[i];                                                                \
            if (wd) gi += wdc * pi;                                                                \
            T mi = b1 * m[i] + one_b1 * gi;                                                        \
            T vi = b2 * v[i] + one_b2 * gi * gi;                                                   \
            m[i] = mi;                                                                             \
            v[i] = vi;                                                                             \
            p[i] = pi * decay - step_size * mi / (SQRT(vi) / bc2_sqrt + eps);                      \
        }                                                                                          \
    }                                                                                              \
    /* RMSprop (non-centered): g (+ wd p); v = alpha v + (1-alpha) g^2;                            \
     * buf = mu buf + g / (sqrt(v) + eps), p -= lr buf (momentum) or                               \
     * p -= lr g / (sqrt(v) + eps). */                                                             \
    static inline __attribute__((always_inline)) void rmsprop_##T(                                 \
        const update_job *j, int64_t b, int64_t e, bool wd, bool momentum)                         \
    {                                                                                              \
        T *restrict p = j->param, *restrict v = j->s0, *restrict buf = j->s1;                      \
        const T *restrict g = j->grad;                                                             \
        const T lr = (T)j->lr, wdc = (T)j->wd, mu = (T)j->mu, eps = (T)j->eps;                     \
        const T alpha = (T)j->alpha, one_alpha = (T)(1 - j->alpha);                                \
        for (int64_t i = b; i < e; i++) {                                                          \
            T gi = g[i];                                                                           \
            if (wd) gi += wdc * p[i];                                                              \
            T vi = alpha * v[i] + one_alpha * gi * gi;                                             \
            v[i] = vi;                                                                             \
            T step = gi / (SQRT(vi) + eps);                                                        \
            if (momentum) {                                                                        \
                step += mu * buf[i];                                                               \
                buf[i] = step;                                                                     \
            }                                                                                      \
            p[i] -= lr * step;                                                                     \
        }                                                                                          \
    }                                                                                              \
    static void update_##T(const update_job *j, dc_optim_kind kind, int64_t b, int64_t e)          \
    {                                                                                              \
        const bool wd = j->weight_decay;                                                           \
        switch (kind) {                                                                            \
        case DC_SGD:                                                                               \
            if (!j->momentum) wd ? sgd_##T(j, b, e, 1, 0, 0) : sgd_##T(j, b, e, 0, 0, 0);          \
            else if (!j->nesterov) wd ? sgd_##T(j, b, e, 1, 1, 0) : sgd_##T(j, b, e, 0, 1, 0);     \
            else wd ? sgd_##T(j, b, e, 1, 1, 1) : sgd_##T(j, b, e, 0, 1, 1);                       \
            break;                                                                                 \
        case DC_ADAM:                                                                              \
        case DC_ADAMW: wd ? adam_##T(j, b, e, 1) : adam_##T(j, b, e, 0); break;                    \
        case DC_RMSPROP:                                                                           \
            if (j->momentum) wd ? rmsprop_##T(j, b, e, 1, 1) : rmsprop_##T(j, b, e, 0, 1);         \
            else wd ? rmsprop_##T(j, b, e, 1, 0) : rmsprop_##T(j, b, e, 0, 0);                     \
            break;                                                                                 \
        }                                                                                          \
    }

DEFINE_UPDATE_KERNELS(float, sqrtf)
DEFINE_UPDATE_KERNELS(double, sqrt)

typedef struct {
    update_job job;
    dc_optim_kind kind;
} update_task;

static void update_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const update_task *t = ctx;
    if (t->job.dtype == DC_F32) update_float(&t->job, t->kind, begin, end);
    else update_double(&t->job, t->kind, begin, end);
}

/* ---- Step ----------------------------------------------------------------------------------- */

/* Fill the job for parameter ps taking its step number `t` (1-based), data pointers aside. */
static update_job make_job(const dc_optim_config *c, const param_state *ps, double t)
{
    update_job j = {
        .dtype = ps->param->dtype, .lr = c->lr, .wd = c->weight_decay, .eps = c->eps, .decay = 1};
    switch (c->kind) {
    case DC_SGD:
        j.weight_decay = c->weight_decay != 0;
        j.momentum = c->momentum != 0;
        j.nesterov = c->nesterov;
        j.mu = c->momentum;
        /* torch starts the buffer as a clone of the first d: mu buf + 1 d on a zeroed buf. */
        j.keep = t == 1 ? 1 : 1 - c->dampening;
        break;
    case DC_ADAM:
    case DC_ADAMW:
        j.weight_decay = c->kind == DC_ADAM && c->weight_decay != 0;
        if (c->kind == DC_ADAMW) j.decay = 1 - c->lr * c->weight_decay;
        j.beta1 = c->beta1;
        j.beta2 = c->beta2;
        j.step_size = c->lr / (1 - pow(c->beta1, t));
        j.bc2_sqrt = sqrt(1 - pow(c->beta2, t));
        break;
    case DC_RMSPROP:
        j.weight_decay = c->weight_decay != 0;
        j.momentum = c->momentum > 0;
        j.mu = c->momentum;
        j.alpha = c->alpha;
        break;
    }
    return j;
}

/* An unpublished contiguous copy of t (for the rare non-contiguous param or grad). */
static dc_tensor *contiguous_copy(const dc_tensor *t)
{
    dc_tensor *c = dc__alloc_result(t->dtype, t->ndim, t->shape);
    if (c && dc_copy_(c, t) != 0) {
        dc_tensor_free(c);
        return NULL;
    }
    return c;
}

static int update_param(dc_optimizer *opt, param_state *ps)
{
    dc_tensor *p = ps->param, *g = p->grad;
    double *count = dc_data(ps->step);
    const bool first = *count == 0;
    if (ensure_slots(opt, ps) != 0) return -1;
    /* torch creates the SGD buffer at the first step; a zeroed one gives the same clone. */
    if (first && opt->cfg.kind == DC_SGD && ps->slot[0])
        memset(dc_data(ps->slot[0]), 0, (size_t)dc_numel(p) * dc__elsize(p->dtype));
    /* Fast path: contiguous param and grad. Otherwise work on contiguous copies. */
    dc_tensor *pc = dc_is_contiguous(p) ? NULL : contiguous_copy(p);
    dc_tensor *gc = dc_is_contiguous(g) ? NULL : contiguous_copy(g);
    if ((!dc_is_contiguous(p) && !pc) || (!dc_is_contiguous(g) && !gc)) {
        dc_tensor_free(pc);
        dc_tensor_free(gc);
        return -1;
    }
    update_task task = {make_job(&opt->cfg, ps, *count + 1), opt->cfg.kind};
    task.job.param = dc_data(pc ? pc : p);
    task.job.grad = dc_data(gc ? gc : g);
    task.job.s0 = ps->slot[0] ? dc_data(ps->slot[0]) : NULL;
    task.job.s1 = ps->slot[1] ? dc_data(ps->slot[1]) : NULL;
    dc_parallel_for(dc_numel(p), PARALLEL_GRAIN, update_range, &task);
    int rc = pc ? dc_copy_(p, pc) : 0;
    dc_tensor_free(pc);
    dc_tensor_free(gc);
    if (rc == 0) *count += 1;
    return rc;
}

int dc_optimizer_step(dc_optimizer *opt)
{
    if (!opt) return dc_error("dc_optimizer_step: optimizer is NULL"), -1;
    /* Check every gradient first, so an error leaves all parameters untouched. */
    for (int i = 0; i < opt->n; i++) {
        const dc_tensor *p = opt->p[i].param, *g = p->grad;
        if (g && (g->dtype != p->dtype || !dc_same_shape(g, p))) {
            char a[96], b[96];
            return dc_error("dc_optimizer_step: gradient of '%s' is %s but the parameter is %s",
                            opt->p[i].name, dc_shape_str(g, a, sizeof a),
                            dc_shape_str(p, b, sizeof b)),
                   -1;
        }
    }
    bool previous = dc_no_grad_begin();
    int rc = 0;
    for (int i = 0; i < opt->n && rc == 0; i++)
        if (opt->p[i].param->grad) rc = update_param(opt, &opt->p[i]);
    dc_grad_mode_restore(previous);
    if (rc == 0) *(double *)dc_data(opt->step) += 1;
    return rc;
}

void dc_optimizer_zero_grad(dc_optimizer *opt)
{
    for (int i = 0; opt && i < opt->n; i++) dc_zero_grad(opt->p[i].param);
}

void dc_optimizer_set_lr(dc_optimizer *opt, double lr)
{
    if (!opt) {
        dc_error("dc_optimizer_set_lr: optimizer is NULL");
        return;
    }
    if (!(lr >= 0)) {
        dc_error("dc_optimizer_set_lr: invalid learning rate %g (kept %g)", lr, opt->cfg.lr);
        return;
    }
    opt->cfg.lr = lr;
}

double dc_optimizer_lr(const dc_optimizer *opt) { return opt ? opt->cfg.lr : NAN; }

int64_t dc_optimizer_steps(const dc_optimizer *opt)
{
    return opt ? (int64_t) * (const double *)dc_data(opt->step) : 0;
}

/* ---- State for checkpoints ------------------------------------------------------------------ */

static int list_push(dc_tensor_list *l, const char *prefix, const char *suffix, dc_tensor *t)
{
    size_t len = strlen(prefix) + strlen(suffix) + 2;
    char *name = malloc(len);
    if (!name) return -1;
    snprintf(name, len, "%s%s%s", prefix, *prefix ? "." : "", suffix);
    char **names = realloc(l->names, (size_t)(l->n + 1) * sizeof *names);
    if (names) l->names = names;
    dc_tensor **tensors = names ? realloc(l->tensors, (size_t)(l->n + 1) * sizeof *tensors) : NULL;
    if (tensors) l->tensors = tensors;
    if (!names || !tensors) {
        free(name);
        return -1;
    }
    l->names[l->n] = name;
    l->tensors[l->n] = t;
    l->n++;
    return 0;
}

int dc_optimizer_state(dc_optimizer *opt, dc_tensor_list *out)
{
    if (!out) return dc_error("dc_optimizer_state: output list is NULL"), -1;
    memset(out, 0, sizeof *out);
    if (!opt) return dc_error("dc_optimizer_state: optimizer is NULL"), -1;
    const char *names[MAX_SLOTS];
    slot_names(&opt->cfg, names);
    for (int i = 0; i < opt->n; i++) {
        param_state *ps = &opt->p[i];
        if (ensure_slots(opt, ps) != 0) goto oom;
        for (int s = 0; s < MAX_SLOTS; s++)
            if (names[s] && list_push(out, ps->name, names[s], ps->slot[s]) != 0) goto oom;
        if (list_push(out, ps->name, "step", ps->step) != 0) goto oom;
    }
    if (list_push(out, "", "step", opt->step) != 0) goto oom;
    return 0;
oom:
    dc_tensor_list_free(out);
    return dc_error("dc_optimizer_state: out of memory"), -1;
}

static bool valid_count(const dc_tensor *t) /* a whole number >= 0 */
{
    double v = *(const double *)dc_data(t);
    return v >= 0 && v <= 9007199254740992.0 && v == floor(v);
}

int dc_optimizer_state_loaded(dc_optimizer *opt)
{
    if (!opt) return dc_error("dc_optimizer_state_loaded: optimizer is NULL"), -1;
    if (!valid_count(opt->step))
        return dc_error("dc_optimizer_state_loaded: 'step' is %g, not a step count",
                        *(double *)dc_data(opt->step)),
               -1;
    for (int i = 0; i < opt->n; i++)
        if (!valid_count(opt->p[i].step))
            return dc_error("dc_optimizer_state_loaded: '%s.step' is %g, not a step count",
                            opt->p[i].name, *(double *)dc_data(opt->p[i].step)),
                   -1;
    return 0;
}
