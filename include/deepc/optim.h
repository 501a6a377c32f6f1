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

/* torch.optim defaults for `kind` with learning rate lr (torch's own default lr where it has
 * one: Adam/AdamW 1e-3, RMSprop 1e-2; SGD requires lr). */
dc_optim_config dc_optim_defaults(dc_optim_kind kind, double lr);

typedef struct dc_optimizer dc_optimizer;

/* An optimizer over the tensors of `params` (names copied, tensors retained; typically from
 * dc_module_parameters). Errors: bad hyper-parameters (named), a tensor without
 * requires_grad, NULL. */
dc_optimizer *dc_optimizer_new(const dc_tensor_list *params, const dc_optim_config *config);
void dc_optimizer_free(dc_optimizer *opt);
/* One update of every parameter that has a gradient (others are skipped, like torch).
 * Runs without recording. Returns 0 or -1. */
int dc_optimizer_step(dc_optimizer *opt);
/* Drop the gradients of all parameters. */
void dc_optimizer_zero_grad(dc_optimizer *opt);
void dc_optimizer_set_lr(dc_optimizer *opt, double lr);
double dc_optimizer_lr(const dc_optimizer *opt);
/* Number of steps taken (Adam's bias-correction counter). */
int64_t dc_optimizer_steps(const dc_optimizer *opt);
/* The optimizer's state as named tensors (borrowed), for checkpoints:
 * "<param>.momentum_buffer" (SGD), "<param>.exp_avg", "<param>.exp_avg_sq" (Adam/AdamW),
 * "<param>.square_avg", "<param>.momentum_buffer" (RMSprop), and "step" (float64 scalar).
 * Buffers not created yet are created (as zeros) so the list is complete. */
int dc_optimizer_state(dc_optimizer *opt, dc_tensor_list *out);
/* Restore state after its tensors were loaded into the list returned by dc_optimizer_state
 * (reads back "step"). */
int dc_optimizer_state_loaded(dc_optimizer *opt);

/* Scale all gradients so their global L2 norm is at most max_norm (torch's
 * clip_grad_norm_). Returns the norm before clipping, or -1 with an error. */
double dc_clip_grad_norm(const dc_tensor_list *params, double max_norm);

/* Learning-rate schedules as a pure function of the step (0-based). */
typedef enum { DC_LR_CONSTANT, DC_LR_STEP, DC_LR_COSINE } dc_lr_kind;
typedef struct {
    dc_lr_kind kind;
    double base_lr;
    int64_t warmup_steps; /* linear warmup from 0 to base_lr over these steps (any kind) */
    int64_t step_size;    /* STEP: multiply by gamma every step_size steps */
    double gamma;
    int64_t total_steps; /* COSINE: decay to min_lr at total_steps (after warmup) */
    double min_lr;
} dc_lr_schedule;
double dc_lr_at(const dc_lr_schedule *schedule, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
