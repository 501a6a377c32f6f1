/* deepc optim: optimizers (book ch. 3: gradient descent, momentum, Adam), learning-rate
 * schedules and gradient clipping, with PyTorch's update rules and defaults. */
#ifndef DEEPC_OPTIM_H
#define DEEPC_OPTIM_H

#include "core.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { DC_SGD, DC_ADAM, DC_ADAMW, DC_RMSPROP } dc_optim_kind;

/* Hyper-parameters; get PyTorch's defaults from dc_optim_defaults and change what you need. */
typedef struct {
    dc_optim_kind kind;
    double lr;
    double weight_decay; /* L2 added to the gradient; AdamW: decoupled (default 0.01) */
    double momentum;     /* SGD, RMSprop (default 0) */
    double dampening;    /* SGD (default 0) */
    bool nesterov;       /* SGD (needs momentum > 0, dampening 0) */
    double beta1, beta2; /* Adam/AdamW (0.9, 0.999) */
    double eps;          /* Adam/AdamW 1e-8, RMSprop 1e-8 */
    double alpha;        /* RMSprop smoothing constant (0.99) */
} dc_optim_config;

/* torch.optim defaults for `kind` with learning rate lr (torch's own default lr, for
 * reference: Adam/AdamW 1e-3, RMSprop 1e-2; SGD has none). No momentum, no weight decay
 * except AdamW's 0.01. */
dc_optim_config dc_optim_defaults(dc_optim_kind kind, double lr);

typedef struct dc_optimizer dc_optimizer;

/* An optimizer over the tensors of `params` (names copied, tensors retained; typically from
 * dc_module_parameters). Errors: bad hyper-parameters (named, with torch's checks), a
 * tensor without requires_grad, a non-leaf, non-float or repeated tensor, an empty list,
 * NULL. */
dc_optimizer *dc_optimizer_new(const dc_tensor_list *params, const dc_optim_config *config);
/* The same over n tensors given directly (named "0", "1", ... in its state), for optimising a
 * tensor that is not in a module: dc_optimizer_new_tensors(1, &x, &cfg). */
dc_optimizer *dc_optimizer_new_tensors(int n, dc_tensor *const *tensors,
                                       const dc_optim_config *config);
void dc_optimizer_free(dc_optimizer *opt);
/* One update of every parameter that has a gradient (others are skipped, like torch, and
 * their step counters do not move). Reads p->grad (same shape and dtype as p; any layout).
 * Runs without recording; one fused pass per parameter; allocates only on a parameter's
 * first step (its state buffers). Returns 0, or -1 with nothing updated. */
int dc_optimizer_step(dc_optimizer *opt);
/* Drop the gradients of all parameters. */
void dc_optimizer_zero_grad(dc_optimizer *opt);
void dc_optimizer_set_lr(dc_optimizer *opt, double lr);
double dc_optimizer_lr(const dc_optimizer *opt);
/* Number of dc_optimizer_step calls. (Adam's bias correction uses each parameter's own
 * counter, "<param>.step", which equals this unless the parameter missed a gradient.) */
int64_t dc_optimizer_steps(const dc_optimizer *opt);
/* The optimizer's state as named tensors (borrowed, owned by the optimizer and live: they
 * stay current as steps are taken; free only the list, with dc_tensor_list_free), for
 * checkpoints. Per parameter, in order: its buffers, shaped and typed like the parameter:
 * "<param>.momentum_buffer" (SGD with momentum), "<param>.exp_avg", "<param>.exp_avg_sq"
 * (Adam/AdamW), "<param>.square_avg", "<param>.momentum_buffer" (RMSprop, the latter with
 * momentum); then "<param>.step" (float64 scalar: steps this parameter took, as in torch's
 * per-parameter state). Last "step" (float64 scalar: dc_optimizer_steps). Buffers not
 * created yet are created (as zeros) so the list is complete. */
int dc_optimizer_state(dc_optimizer *opt, dc_tensor_list *out);
/* Call after copying saved values into the tensors of the list from dc_optimizer_state
 * (e.g. dc_copy_): checks the step counters are whole numbers >= 0. The next step then
 * continues exactly where the saved optimizer stopped. Returns 0 or -1. */
int dc_optimizer_state_loaded(dc_optimizer *opt);

/* Scale all gradients so their global L2 norm is at most max_norm (torch's
 * clip_grad_norm_: norm over every gradient as one vector, accumulated in double; each is
 * multiplied by max_norm / (norm + 1e-6) when that is < 1). Parameters without a gradient
 * are skipped. Returns the norm before clipping (inf/NaN: gradients left unscaled, so the
 * caller can skip the step), or -1 with an error. */
double dc_clip_grad_norm(const dc_tensor_list *params, double max_norm);

/* Learning-rate schedules as a pure function of the step (0-based), equal to torch's:
 *   step < W = warmup_steps:  base_lr * (step + 1) / W   (LinearLR(start_factor=1/W,
 *                             total_iters=W-1)); then, with t = step - W (SequentialLR):
 *   CONSTANT  base_lr
 *   STEP      base_lr * gamma^floor(t / step_size)                      (StepLR)
 *   COSINE    min_lr + (base_lr - min_lr) (1 + cos(pi t / T)) / 2, T = total_steps - W,
 *             min_lr from step total_steps on                  (CosineAnnealingLR(T_max=T)) */
typedef enum { DC_LR_CONSTANT, DC_LR_STEP, DC_LR_COSINE } dc_lr_kind;
typedef struct {
    dc_lr_kind kind;
    double base_lr;
    int64_t warmup_steps; /* linear warmup up to base_lr over these steps (any kind) */
    int64_t step_size;    /* STEP: multiply by gamma every step_size steps */
    double gamma;
    int64_t total_steps; /* COSINE: reaches min_lr at this step (counted from 0, warmup
                            included) */
    double min_lr;
} dc_lr_schedule;
/* NaN with an error for a NULL schedule, a negative step or warmup, STEP with
 * step_size <= 0, COSINE with total_steps <= warmup_steps. */
double dc_lr_at(const dc_lr_schedule *schedule, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
