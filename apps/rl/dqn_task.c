/* `deepc train --task dqn_cartpole` and `--task dqn_breakout` (book §6.7): DQN with experience
 * replay, a target network, epsilon-greedy exploration and the Huber loss.
 *
 * A step plays env_steps epsilon-greedy environment steps (epsilon from the global step
 * number, so a resumed run continues the schedule), stores them in the replay buffer and
 * returns the DQN loss of one minibatch drawn with the step's generator; the loop
 * back-propagates and updates the online network (ctx->model). The target network is a second
 * module in the task's state, outside ctx->model: the optimizer never sees it, and it is
 * copied from the online network at the first step and every target_every steps (after a
 * resume: from the restored weights). The environment and the replay buffer are not part of a
 * checkpoint: a resumed run refills the buffer with learn_start random transitions. */
#include "rl/rl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPT(name, type, field, min, max, help)                                                 \
    DC_OPTION(rl_dqn_settings, name, type, field, min, max, NULL, help)
static const dc_option dqn_options[] = {
    OPT("episode-steps", DC_OPTION_INT, episode_steps, 1, 1e7, "episode cap (truncation)"),
    OPT("frames", DC_OPTION_INT, frames, 1, 16, "breakout: screens stacked"),
    OPT("width", DC_OPTION_INT, width, 1, 4096, "hidden units of the Q-network"),
    OPT("gamma", DC_OPTION_REAL, gamma, 0, 1, "discount factor"),
    OPT("replay", DC_OPTION_INT, replay, 1, 1e7, "replay buffer capacity (transitions)"),
    OPT("learn-start", DC_OPTION_INT, learn_start, 1, 1e7, "random transitions stored first"),
    OPT("env-steps", DC_OPTION_INT, env_steps, 1, 1000, "environment steps per training step"),
    OPT("eps-start", DC_OPTION_REAL, eps_start, 0, 1, "initial exploration rate"),
    OPT("eps-end", DC_OPTION_REAL, eps_end, 0, 1, "final exploration rate"),
    OPT("eps-decay", DC_OPTION_INT, eps_decay, 0, 1e9, "environment steps of the linear decay"),
    OPT("target-every", DC_OPTION_INT, target_every, 1, 1e9, "steps between target copies"),
    OPT("huber-beta", DC_OPTION_REAL, huber_beta, 0, 1e6, "smooth L1 beta (1: Huber)"),
    OPT("val-episodes", DC_OPTION_INT, val_episodes, 1, 10000, "greedy episodes per validation"),
    OPT("eval-episodes", DC_OPTION_INT, eval_episodes, 1, 10000, "greedy episodes per test"),
    OPT("double-q", DC_OPTION_FLAG, double_q, 0, 0, "Double DQN's target"),
    DC_OPTION_END,
};

void rl_dqn_cartpole_defaults(void *settings)
{
    rl_dqn_settings *s = settings;
    *s = (rl_dqn_settings){.episode_steps = 500, .frames = 1, .width = 128, .gamma = 0.99,
                           .replay = 50000, .learn_start = 1000, .env_steps = 4,
                           .eps_start = 1.0, .eps_end = 0.05, .eps_decay = 50000,
                           .target_every = 500, .huber_beta = 1.0, .val_episodes = 10,
                           .eval_episodes = 100, .double_q = true};
}

void rl_dqn_breakout_defaults(void *settings)
{
    rl_dqn_settings *s = settings;
    *s = (rl_dqn_settings){.episode_steps = 2000, .frames = 4, .width = 128, .gamma = 0.99,
                           .replay = 20000, .learn_start = 2000, .env_steps = 4,
                           .eps_start = 1.0, .eps_end = 0.05, .eps_decay = 25000,
                           .target_every = 500, .huber_beta = 1.0, .val_episodes = 10,
                           .eval_episodes = 100, .double_q = true};
}

typedef struct {
    rl_dqn_settings s;
    bool breakout;
    int64_t batch;
    uint64_t seed;
    rl_env *env;          /* the training environment */
    rl_env **eval_envs;   /* max(val, eval) episodes side by side */
    int n_eval_envs;
    rl_replay *replay;
    dc_module *target;    /* the target network (not trained) */
    float *obs, *next_obs;
    uint64_t episodes;    /* training episodes started (their seeds) */
    double *returns;      /* return of every finished training episode */
    int64_t n_returns, cap_returns;
    bool synced;
} dqn_state;

enum { SEED_TRAIN = 1, SEED_WARMUP = 2 };
static const uint64_t SEED_VAL = 1000000, SEED_TEST = 2000000, SEED_RENDER = 3000000;

static void dqn_close(void *state)
{
    dqn_state *st = state;
    if (!st) return;
    rl_env_free(st->env);
    for (int i = 0; i < st->n_eval_envs; i++) rl_env_free(st->eval_envs[i]);
    free(st->eval_envs);
    rl_replay_free(st->replay);
    dc_module_free(st->target);
    free(st->obs), free(st->next_obs), free(st->returns);
    free(st);
}

static rl_env *new_env(const dqn_state *st)
{
    return st->breakout ? rl_breakout_new((int)st->s.frames, (int)st->s.episode_steps)
                        : rl_cartpole_new((int)st->s.episode_steps);
}

static dc_module *new_qnet(const dqn_state *st, const rl_env *env, dc_rng *rng)
{
    int64_t shape[3];
    rl_env_obs_shape(env, shape);
    int actions = rl_env_num_actions(env);
    return st->breakout ? rl_conv_qnet_new(shape[0], shape[1], st->s.width, actions, rng)
                        : rl_mlp_qnet_new(shape[0], st->s.width, actions, rng);
}

/* Seeds of the training episodes: the run's seed and the episode's number. */
static uint64_t episode_seed(const dqn_state *st)
{
    return (st->seed + 1) * 0x9E3779B97F4A7C15ull + st->episodes;
}

static int record_return(dqn_state *st, double r)
{
    if (st->n_returns == st->cap_returns) {
        int64_t cap = st->cap_returns ? 2 * st->cap_returns : 256;
        double *p = realloc(st->returns, sizeof(double) * (size_t)cap);
        if (!p) return dc_error("dqn: out of memory"), -1;
        st->returns = p, st->cap_returns = cap;
    }
    st->returns[st->n_returns++] = r;
    return 0;
}

/* One environment step with `action`, stored in the replay buffer; a finished episode is
 * recorded and the next one started. */
static int play(dqn_state *st, int action)
{
    double reward;
    bool done;
    if (rl_env_step(st->env, action, st->next_obs, &reward, &done) != 0) return -1;
    bool terminal = done && !rl_env_truncated(st->env);
    if (rl_replay_push(st->replay, st->obs, action, reward, st->next_obs, terminal) != 0) return -1;
    memcpy(st->obs, st->next_obs, sizeof(float) * (size_t)rl_env_obs_size(st->env));
    if (!done) return 0;
    if (record_return(st, rl_env_return(st->env)) != 0) return -1;
    st->episodes++;
    return rl_env_reset(st->env, episode_seed(st), st->obs);
}

static int dqn_setup(dc_task_setup *ctx, bool breakout)
{
    dqn_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("dqn: out of memory"), -1;
    st->s = *(const rl_dqn_settings *)ctx->settings;
    st->breakout = breakout;
    st->batch = ctx->batch;
    st->seed = ctx->seed;
    ctx->state = st;
    if (!(st->env = new_env(st))) return -1;
    ctx->model = new_qnet(st, st->env, ctx->model_rng);
    if (!ctx->model) return -1;
    dc_rng rng;
    dc_rng_seed(&rng, ctx->seed * 16 + SEED_WARMUP);
    if (!(st->target = new_qnet(st, st->env, &rng))) return -1;
    int n = (int)(st->s.val_episodes > st->s.eval_episodes ? st->s.val_episodes : st->s.eval_episodes);
    if (!(st->eval_envs = calloc((size_t)n, sizeof *st->eval_envs)))
        return dc_error("dqn: out of memory"), -1;
    for (; st->n_eval_envs < n; st->n_eval_envs++)
        if (!(st->eval_envs[st->n_eval_envs] = new_env(st))) return -1;
    if (!ctx->with_data) return 0;
    int64_t obs_size = rl_env_obs_size(st->env);
    st->obs = malloc(sizeof(float) * (size_t)obs_size);
    st->next_obs = malloc(sizeof(float) * (size_t)obs_size);
    if (!st->obs || !st->next_obs) return dc_error("dqn: out of memory"), -1;
    if (!(st->replay = rl_replay_new(st->s.replay, obs_size, breakout))) return -1;
    if (rl_env_reset(st->env, episode_seed(st), st->obs) != 0) return -1;
    /* the buffer starts with learn_start transitions of uniformly random actions */
    int actions = rl_env_num_actions(st->env);
    for (long i = 0; i < st->s.learn_start; i++) {
        int a = (int)(dc_rng_uniform(&rng) * actions);
        if (play(st, a < actions ? a : actions - 1) != 0) return -1;
    }
    ctx->steps_per_epoch = 2500;
    return 0;
}

static int dqn_cartpole_setup(dc_task_setup *ctx) { return dqn_setup(ctx, false); }
static int dqn_breakout_setup(dc_task_setup *ctx) { return dqn_setup(ctx, true); }

/* The greedy action for the current observation. */
static int greedy(dqn_state *st, dc_module *model, int *action)
{
    int64_t shape[4] = {1};
    int ndim = rl_env_obs_shape(st->env, shape + 1);
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    int rc = rl_greedy_actions(
        dc_forward(model, dc_from_buffer(DC_F32, ndim + 1, shape, st->obs)), action);
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    return rc;
}

static dc_tensor *dqn_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    dqn_state *st = state;
    if (!st->synced || step % st->s.target_every == 0) {
        if (rl_copy_weights(st->target, model) != 0) return NULL;
        st->synced = true;
    }
    double eps = rl_epsilon(st->s.eps_start, st->s.eps_end, st->s.eps_decay, step * st->s.env_steps);
    int actions = rl_env_num_actions(st->env);
    for (long k = 0; k < st->s.env_steps; k++) {
        double u = dc_rng_uniform(rng), v = dc_rng_uniform(rng);
        int a = (int)(v * actions);
        if (a >= actions) a = actions - 1;
        if (u >= eps && greedy(st, model, &a) != 0) return NULL;
        if (play(st, a) != 0) return NULL;
    }
    int64_t shape[3];
    int ndim = rl_env_obs_shape(st->env, shape);
    rl_batch b;
    if (rl_replay_sample(st->replay, st->batch, rng, ndim, shape, &b) != 0) return NULL;
    return rl_dqn_loss(model, st->target, &b, st->s.gamma, st->s.huber_beta, st->s.double_q);
}

static int dqn_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    dqn_state *st = state;
    int n = (int)(split == DC_TASK_TEST ? st->s.eval_episodes : st->s.val_episodes);
    double mean, lo, hi;
    if (rl_evaluate_greedy(model, st->eval_envs, n, split == DC_TASK_TEST ? SEED_TEST : SEED_VAL,
                           &mean, &lo, &hi) != 0)
        return -1;
    out->loss = NAN;
    dc_metrics_set(out, "mean_return", mean, true);
    dc_metrics_set(out, "min_return", lo, true);
    dc_metrics_set(out, "max_return", hi, true);
    dc_metrics_set(out, "episodes", n, true);
    dc_metrics_set(out, "train_episodes", (double)st->n_returns, true);
    if (st->n_returns > 0) {
        int64_t k = st->n_returns < 100 ? st->n_returns : 100;
        double sum = 0;
        for (int64_t i = st->n_returns - k; i < st->n_returns; i++) sum += st->returns[i];
        dc_metrics_set(out, "train_return_last100", sum / (double)k, true);
    }
    return 0;
}

/* Q-values along one greedy episode (seed `seed`); with frames, a second pass over the same
 * (deterministic) episode renders n_frames screens spread over its tr->n steps. */
typedef struct {
    int n;
    double *step, *value, *discounted; /* max_a Q(s_t, a); sum_k gamma^k r_{t+k} */
} value_trace;

/* The screen at step t as an RGB picture labelled "T=t". */
static dc_tensor *labelled_frame(const rl_env *env, int scale, int t)
{
    dc_tensor *img = rl_env_render(env, scale);
    if (img && img->shape[0] == 1) img = dc_cat((dc_tensor *[]){img, img, img}, 3, 0);
    char text[32];
    snprintf(text, sizeof text, "T=%d", t);
    bool dark = img && dc_item_at(img, (int64_t[]){0, 0, 0}) < 0.5;
    if (!img || dc_image_draw_text(img, 2, 2, text, dark ? 1.0 : 0.0, dark ? 0.8 : 0.0, 0) != 0)
        return NULL;
    return img;
}

static int trace_episode(dqn_state *st, dc_module *model, rl_env *env, uint64_t seed,
                         value_trace *tr, dc_tensor **frames, int n_frames, int scale)
{
    int cap = (int)st->s.episode_steps + 1, n_before = tr->n, next_frame = 0;
    if (!frames) {
        tr->step = malloc(sizeof(double) * (size_t)cap);
        tr->value = malloc(sizeof(double) * (size_t)cap);
        tr->discounted = malloc(sizeof(double) * (size_t)cap);
    }
    double *rewards = malloc(sizeof(double) * (size_t)cap);
    float *obs = malloc(sizeof(float) * (size_t)rl_env_obs_size(env));
    int rc = tr->step && tr->value && tr->discounted && rewards && obs ? 0 : -1;
    if (rc != 0) dc_error("dqn: out of memory");
    if (rc == 0) rc = rl_env_reset(env, seed, obs);
    int64_t shape[4] = {1};
    int ndim = rl_env_obs_shape(env, shape + 1);
    bool done = false, grad = dc_no_grad_begin();
    int t = 0;
    for (; rc == 0 && !done; t++) {
        while (rc == 0 && frames && next_frame < n_frames &&
               t == (n_frames > 1 ? (int)((int64_t)next_frame * (n_before - 1) / (n_frames - 1)) : 0)) {
            rc = (frames[next_frame++] = labelled_frame(env, scale, t)) ? 0 : -1;
        }
        size_t scope = dc_scope_begin();
        dc_tensor *q = dc_forward(model, dc_from_buffer(DC_F32, ndim + 1, shape, obs));
        int a = 0;
        if (rc == 0) rc = rl_greedy_actions(q, &a);
        if (rc == 0 && !frames) tr->value[t] = dc_item(dc_max(q, 1, false)), tr->step[t] = t;
        dc_scope_end(scope);
        if (rc == 0) rc = rl_env_step(env, a, obs, &rewards[t], &done);
    }
    dc_grad_mode_restore(grad);
    if (rc == 0 && frames && next_frame < n_frames)
        rc = (dc_error("dqn: the rendered episode changed between two plays"), -1);
    if (rc == 0 && !frames) {
        tr->n = t;
        double g = 0;
        for (int k = t - 1; k >= 0; k--) tr->discounted[k] = g = rewards[k] + st->s.gamma * g;
    }
    free(rewards), free(obs);
    return rc;
}

static int dqn_render(void *state, dc_module *model, const char *dir)
{
    dqn_state *st = state;
    const char *name = st->breakout ? "dqn_breakout" : "dqn_cartpole";
    char path[4200];
    int rc = 0;
    /* return per training episode and its moving average over 20 episodes */
    int64_t n = st->n_returns;
    double *x = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double *avg = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (!x || !avg) rc = (dc_error("dqn: out of memory"), -1);
    double sum = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        sum += st->returns[i] - (i >= 20 ? st->returns[i - 20] : 0);
        x[i] = (double)i + 1, avg[i] = sum / (double)(i < 20 ? i + 1 : 20);
    }
    if (rc == 0 && n > 0) {
        dc_plot_series series[2] = {{"return", x, st->returns, (int)n, "#9ecae1", false},
                                    {"mean of 20", x, avg, (int)n, "#08519c", false}};
        snprintf(path, sizeof path, "%s/%s_returns.svg", dir, name);
        rc = dc_plot_svg(path, st->breakout ? "DQN on mini-Breakout" : "DQN on CartPole",
                         "training episode", "return", series, 2);
    }
    free(x), free(avg);
    /* the value estimate along one greedy episode, and frames of it */
    enum { K = 8 };
    value_trace tr = {0};
    dc_tensor *frames[K] = {0};
    rl_env *env = rc == 0 ? new_env(st) : NULL;
    /* the longest of 8 greedy episodes (seeds SEED_RENDER + k; ties: the first) */
    uint64_t seed = SEED_RENDER;
    int longest = -1;
    for (uint64_t k = 0; rc == 0 && k < 8; k++) {
        rc = env ? rl_evaluate_greedy(model, &env, 1, SEED_RENDER + k, NULL, NULL, NULL) : -1;
        if (rc == 0 && rl_env_steps(env) > longest) longest = rl_env_steps(env), seed = SEED_RENDER + k;
    }
    if (rc == 0) rc = trace_episode(st, model, env, seed, &tr, NULL, K, 1);
    if (rc == 0) rc = trace_episode(st, model, env, seed, &tr, frames, K, st->breakout ? 4 : 1);
    if (rc == 0) {
        dc_plot_series series[2] = {{"max_a Q(s_t, a)", tr.step, tr.value, tr.n, "#d62728", false},
                                    {"discounted return received", tr.step, tr.discounted, tr.n,
                                     "#7f7f7f", false}};
        snprintf(path, sizeof path, "%s/%s_value.svg", dir, name);
        rc = dc_plot_svg(path, "value estimate along one greedy episode", "step", "value", series, 2);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/%s.png", dir, name);
        rc = dc_png_write_grid(path, dc_stack(frames, K, 0), st->breakout ? 4 : 2, 2, 0.5);
    }
    rl_env_free(env);
    free(tr.step), free(tr.value), free(tr.discounted);
    return rc;
}

#define DQN_RUN_DEFAULTS "optim = adam\nschedule = constant\nclip = 10\n"

const dc_task dqn_cartpole_task = {
    .name = "dqn_cartpole",
    .summary = "DQN on CartPole (book 6.7): mean return of 100 greedy test episodes",
    .options = dqn_options,
    .settings_size = sizeof(rl_dqn_settings),
    .defaults = rl_dqn_cartpole_defaults,
    .run_defaults = "epochs = 20\nbatch = 64\nlr = 2.5e-4\n" DQN_RUN_DEFAULTS,
    .setup = dqn_cartpole_setup,
    .step = dqn_step,
    .evaluate = dqn_evaluate,
    .render = dqn_render,
    .close = dqn_close,
};

const dc_task dqn_breakout_task = {
    .name = "dqn_breakout",
    .summary = "DQN with a conv Q-network on a 32x32 mini-Breakout (book 6.7): mean return",
    .options = dqn_options,
    .settings_size = sizeof(rl_dqn_settings),
    .defaults = rl_dqn_breakout_defaults,
    .run_defaults = "epochs = 10\nbatch = 32\nlr = 2.5e-4\n" DQN_RUN_DEFAULTS,
    .setup = dqn_breakout_setup,
    .step = dqn_step,
    .evaluate = dqn_evaluate,
    .render = dqn_render,
    .close = dqn_close,
};
