/* DQN (book §6.7; apps/rl): trains the dqn_cartpole or dqn_breakout task for a number of
 * steps or seconds, evaluating the greedy policy every --eval-every steps on the validation
 * episodes and keeping the best weights; then the mean return of the test episodes (seeds
 * never used in training or validation) with those weights, and the task's pictures.
 *   build/examples/dqn [--env cartpole|breakout] [--steps N] [--seconds S] [--lr LR]
 *                      [--batch B] [--eval-every N] [--seed S] [--threads T] [--out DIR]
 *                      [--target-every N] [--eps-decay N] [--width W] [--double-q 0|1]
 *                      [--env-steps N] [--save CHECKPOINT (the best weights)]
 * Defaults: cartpole, 50000 steps, 900 s, the task's lr and batch, eval every 2500 steps,
 * pictures into docs/images/ (dqn_<env>_returns.svg, _value.svg, _eval.svg, .png). */
#include "deepc.h"
#include "rl/rl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
    fprintf(stderr, "dqn: %s: %s\n", what, dc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    bool breakout = false;
    long steps = 50000, eval_every = 2500, batch = 0, target_every = 0, eps_decay = -1, width = 0,
         env_steps = 0;
    int double_q = -1;
    double seconds = 900, lr = 0;
    uint64_t seed = 0;
    const char *out = "docs/images", *save = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--env")) breakout = !strcmp(argv[i + 1], "breakout");
        else if (!strcmp(argv[i], "--steps")) steps = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--lr")) lr = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) batch = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--eval-every")) eval_every = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--save")) save = argv[i + 1];
        else if (!strcmp(argv[i], "--target-every")) target_every = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--eps-decay")) eps_decay = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) width = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--env-steps")) env_steps = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--double-q")) double_q = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "dqn: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const dc_task *task = breakout ? &dqn_breakout_task : &dqn_cartpole_task;
    if (lr <= 0) lr = 2.5e-4; /* the tasks' run defaults */
    if (batch <= 0) batch = breakout ? 32 : 64;
    rl_dqn_settings s;
    task->defaults(&s);
    if (target_every > 0) s.target_every = target_every;
    if (eps_decay >= 0) s.eps_decay = eps_decay;
    if (width > 0) s.width = width;
    if (env_steps > 0) s.env_steps = env_steps;
    if (double_q >= 0) s.double_q = double_q != 0;
    dc_rng model_rng;
    dc_rng_seed(&model_rng, seed);
    dc_task_setup ctx = {&s, "", "", seed, batch, true, &model_rng, NULL, NULL, 0, 0};
    if (task->setup(&ctx) != 0) return fail("setup");
    dc_module *model = ctx.model;
    dc_module *best = breakout ? rl_conv_qnet_new(s.frames, RL_BREAKOUT_SIZE, s.width, 3, NULL)
                               : rl_mlp_qnet_new(4, s.width, 2, NULL);
    dc_tensor_list params;
    if (!best || dc_module_parameters(model, &params) != 0) return fail("model");
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, lr);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    if (!opt) return fail("optimizer");
    printf("%s: %lld parameters, batch %ld, lr %g, target every %ld, eps decay %ld, %ld env "
           "steps per step, %s, up to %ld steps / %.0f s, %d thread(s)\n",
           task->name, (long long)dc_module_num_params(model, false), batch, lr, s.target_every,
           s.eps_decay, s.env_steps, s.double_q ? "double DQN" : "DQN", steps, seconds, dc_get_num_threads());
    dc_rng rng;
    dc_rng_seed(&rng, seed + 1);
    double t0 = now(), best_val = -INFINITY, loss_avg = 0;
    long best_step = 0, n_evals = 0, step = 0;
    double *eval_x = malloc(sizeof(double) * (size_t)(steps / eval_every + 2));
    double *eval_y = malloc(sizeof(double) * (size_t)(steps / eval_every + 2));
    if (!eval_x || !eval_y) return fail("memory");
    for (; step < steps && now() - t0 < seconds; step++) {
        size_t scope = dc_scope_begin();
        dc_module_train(model, true);
        dc_tensor *loss = task->step(ctx.state, model, &rng, step);
        if (!loss || dc_backward(loss) != 0 || dc_clip_grad_norm(&params, 10.0) < 0 ||
            dc_optimizer_step(opt) != 0)
            return fail("step");
        double l = dc_item(loss);
        loss_avg = step ? 0.99 * loss_avg + 0.01 * l : l;
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
        if ((step + 1) % eval_every == 0) {
            scope = dc_scope_begin();
            dc_metrics m = {0};
            dc_module_train(model, false);
            if (task->evaluate(ctx.state, model, DC_TASK_VAL, &m) != 0) return fail("evaluate");
            double val = dc_metrics_get(&m, "mean_return");
            eval_x[n_evals] = (double)(step + 1), eval_y[n_evals++] = val;
            if (val >= best_val) {
                best_val = val, best_step = step + 1;
                if (rl_copy_weights(best, model) != 0) return fail("copy");
            }
            printf("step %6ld  %5.0f s  loss %.4f  train return (last 100) %6.1f  val return "
                   "%6.1f  (%d episodes so far)\n",
                   step + 1, now() - t0, loss_avg, dc_metrics_get(&m, "train_return_last100"), val,
                   (int)dc_metrics_get(&m, "train_episodes"));
            fflush(stdout);
            dc_scope_end(scope);
        }
    }
    double train_s = now() - t0;
    if (n_evals > 0 && rl_copy_weights(model, best) != 0) return fail("copy");
    dc_module_train(model, false);
    dc_metrics test = {0};
    size_t scope = dc_scope_begin();
    if (task->evaluate(ctx.state, model, DC_TASK_TEST, &test) != 0) return fail("test");
    printf("trained %ld steps in %.0f s; best validation %.1f at step %ld; test: mean return "
           "%.1f over %d episodes (min %.0f, max %.0f)\n",
           step, train_s, best_val, best_step, dc_metrics_get(&test, "mean_return"),
           (int)dc_metrics_get(&test, "episodes"), dc_metrics_get(&test, "min_return"),
           dc_metrics_get(&test, "max_return"));
    if (save && dc_checkpoint_save(save, model, NULL, NULL, 0) != 0) return fail("save");
    if (task->render(ctx.state, model, out) != 0) return fail("render");
    char path[4200];
    snprintf(path, sizeof path, "%s/%s_eval.svg", out, task->name);
    dc_plot_series curve = {"greedy, validation episodes", eval_x, eval_y, (int)n_evals, NULL, true};
    if (n_evals > 0 && dc_plot_svg(path, "mean return of greedy episodes", "training step",
                                   "mean return", &curve, 1) != 0)
        return fail("plot");
    dc_scope_end(scope);
    printf("pictures in %s/%s_{returns,value,eval}.svg and %s.png\n", out, task->name, task->name);
    free(eval_x), free(eval_y);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    task->close(ctx.state);
    dc_module_free(model);
    dc_module_free(best);
    return 0;
}
