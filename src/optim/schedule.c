/* Learning-rate schedules as a pure function of the (0-based) step, so resuming from a
 * checkpoint needs only the step count. The closed forms equal torch's schedulers:
 *   warmup   lr = base (step + 1) / W for step < W  (LinearLR(start_factor=1/W,
 *            total_iters=W-1)); the schedule below then runs on t = step - W
 *            (SequentialLR with milestone W);
 *   CONSTANT lr = base;
 *   STEP     lr = base gamma^floor(t / step_size)                   (StepLR);
 *   COSINE   lr = min + (base - min) (1 + cos(pi t / T)) / 2, T = total_steps - W, and min
 *            from t >= T on                                          (CosineAnnealingLR). */
#include "../core/internal.h"
#include "deepc/optim.h"

#include <math.h>

double dc_lr_at(const dc_lr_schedule *s, int64_t step)
{
    if (!s) return dc_error("dc_lr_at: schedule is NULL"), NAN;
    if (step < 0) return dc_error("dc_lr_at: step %lld is negative", (long long)step), NAN;
    if (s->warmup_steps < 0)
        return dc_error("dc_lr_at: warmup_steps %lld is negative", (long long)s->warmup_steps), NAN;
    if (s->kind == DC_LR_STEP && s->step_size <= 0)
        return dc_error("dc_lr_at: step schedule needs step_size > 0 (got %lld)",
                        (long long)s->step_size),
               NAN;
    const int64_t T = s->total_steps - s->warmup_steps; /* COSINE's length */
    if (s->kind == DC_LR_COSINE && T <= 0)
        return dc_error("dc_lr_at: cosine schedule needs total_steps (%lld) > warmup_steps "
                        "(%lld)",
                        (long long)s->total_steps, (long long)s->warmup_steps),
               NAN;
    if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    const int64_t t = step - s->warmup_steps;
    switch (s->kind) {
    case DC_LR_CONSTANT: return s->base_lr;
    case DC_LR_STEP: return s->base_lr * pow(s->gamma, (double)(t / s->step_size));
    case DC_LR_COSINE: {
        if (t >= T) return s->min_lr;
        return s->min_lr + (s->base_lr - s->min_lr) * (1 + cos(M_PI * (double)t / (double)T)) / 2;
    }
    }
    return dc_error("dc_lr_at: unknown schedule kind %d", (int)s->kind), NAN;
}
