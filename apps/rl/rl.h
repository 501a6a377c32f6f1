/* Reinforcement learning (book §6.7; issue 14): two environments written in C with one small
 * API (reset from a seed, step an action, render to an image), an experience-replay buffer, the
 * DQN loss (Huber TD error against a target network) and the `deepc train --task dqn_cartpole`
 * and `--task dqn_breakout` entries. Uses only the public headers.
 *
 * Environments
 *   cartpole  the classic control task (Barto, Sutton & Anderson 1983, as in gym's
 *             CartPole-v1): state (x, x_dot, theta, theta_dot), actions 0 = push left,
 *             1 = push right (10 N), Euler steps of tau = 0.02 s, reward 1 per step, episode
 *             over when |theta| > 12 degrees or |x| > 2.4 (terminated) or after max_steps
 *             (truncated; gym's v1 cap is 500, v0's 200).
 *   breakout  a mini-Breakout on a 32 x 32 gray screen: 4 rows of 8 bricks, a 6-pixel paddle
 *             on row 30, a 1-pixel ball moving diagonally one pixel per step; actions 0 = stay,
 *             1 = left, 2 = right (2 pixels); reward 1 per brick; the episode ends when the
 *             ball passes the paddle or the last brick goes (terminated), or after max_steps
 *             (truncated). The observation is the last `frames` screens stacked,
 *             [frames, 32, 32] with values in [0, 1], oldest first. */
#ifndef DEEPC_APPS_RL_H
#define DEEPC_APPS_RL_H

#include "deepc.h"

#include <stdbool.h>
#include <stdint.h>

/* ---- Environments ----------------------------------------------------------------------- */

typedef struct rl_env rl_env;

/* CartPole with an episode cap of max_steps (>= 1). NULL with an error otherwise. */
rl_env *rl_cartpole_new(int max_steps);
/* Mini-Breakout with `frames` (1 .. 16) screens stacked and an episode cap of max_steps. */
rl_env *rl_breakout_new(int frames, int max_steps);
void rl_env_free(rl_env *env);

const char *rl_env_name(const rl_env *env);
int rl_env_num_actions(const rl_env *env);
/* The observation's shape ([4] or [frames, 32, 32]) into shape[0..ndim) -> ndim. */
int rl_env_obs_shape(const rl_env *env, int64_t shape[3]);
/* Floats per observation (the product of the shape). */
int64_t rl_env_obs_size(const rl_env *env);

/* Start an episode whose random start depends only on seed; the first observation goes to obs
 * (rl_env_obs_size floats; may be NULL). Returns 0 or -1. */
int rl_env_reset(rl_env *env, uint64_t seed, float *obs);
/* Apply action (0 .. num_actions - 1): the next observation to obs (nullable), the reward to
 * *reward and whether the episode is over to *done (both nullable). Stepping before a reset,
 * after the episode ended, or with an action out of range is an error naming it (-1; the
 * environment is unchanged). */
int rl_env_step(rl_env *env, int action, float *obs, double *reward, bool *done);
/* Whether the episode that just ended was cut by the step cap (truncated: a learner should
 * bootstrap from its last state) rather than terminated. */
bool rl_env_truncated(const rl_env *env);
/* Steps taken and reward collected in the current episode. */
int rl_env_steps(const rl_env *env);
double rl_env_return(const rl_env *env);

/* The current state as a picture: float [3, H, W] for cartpole (80 x 160 pixels times
 * scale), [1, 32 * scale, 32 * scale] for breakout (the newest screen, nearest-neighbour
 * enlarged); scale 1 .. 16. */
dc_tensor *rl_env_render(const rl_env *env, int scale);
/* rl_env_render written as a PNG (dc_png_write). 0 or -1. */
int rl_env_render_png(const rl_env *env, const char *path, int scale);

/* CartPole's state (x, x_dot, theta, theta_dot): read, or set (for tests and demos; starts a
 * running episode of 0 steps). -1 if env is not a cartpole. */
int rl_cartpole_get_state(const rl_env *env, double state[4]);
int rl_cartpole_set_state(rl_env *env, const double state[4]);

/* Breakout's moving parts: ball position (x, y), velocity (dx, dy) in {-1, 1}, paddle's left
 * column, and bricks[row * 8 + col] (1: present). */
typedef struct {
    int ball_x, ball_y, dx, dy, paddle;
    unsigned char bricks[32];
} rl_breakout_state;
enum { RL_BREAKOUT_SIZE = 32, RL_BREAKOUT_PADDLE_Y = 30, RL_BREAKOUT_PADDLE_W = 6 };
int rl_breakout_get_state(const rl_env *env, rl_breakout_state *state);
/* Set the state (checked: positions on the screen, velocities +-1, bricks 0/1) and start a
 * running episode of 0 steps whose frame stack is this screen repeated. */
int rl_breakout_set_state(rl_env *env, const rl_breakout_state *state);

/* ---- Experience replay ------------------------------------------------------------------ */

typedef struct rl_replay rl_replay;

/* A ring of `capacity` transitions (obs, action, reward, next_obs, terminal) of obs_size
 * floats each; bytes: observations kept as uint8 round(x * 255) (pixels in [0, 1], a quarter
 * of the memory), else as float. The oldest transition is overwritten when full. */
rl_replay *rl_replay_new(int64_t capacity, int64_t obs_size, bool bytes);
void rl_replay_free(rl_replay *rb);
/* Add a transition; terminal: the episode ended there (no bootstrap; a truncated end is not
 * terminal). action must be >= 0. Returns 0 or -1. */
int rl_replay_push(rl_replay *rb, const float *obs, int action, double reward,
                   const float *next_obs, bool terminal);
int64_t rl_replay_size(const rl_replay *rb);

/* A minibatch: obs and next_obs float [B, obs_shape...], actions int64 [B], rewards and
 * terminal (1.0 / 0.0) float [B]. */
typedef struct {
    dc_tensor *obs, *actions, *rewards, *next_obs, *terminal;
} rl_batch;
/* batch transitions drawn uniformly with replacement with rng, the observations shaped
 * [batch, obs_shape...] (ndim dims whose product is obs_size). Returns 0 or -1 (empty buffer,
 * batch < 1, a shape that does not match). */
int rl_replay_sample(const rl_replay *rb, int64_t batch, dc_rng *rng, int ndim,
                     const int64_t *obs_shape, rl_batch *out);

/* ---- Q-networks and the DQN loss -------------------------------------------------------- */

/* Q(s, .) for vector states: Linear(obs, hidden) ReLU Linear(hidden, hidden) ReLU
 * Linear(hidden, actions). */
dc_module *rl_mlp_qnet_new(int64_t obs_size, int64_t hidden, int64_t actions, dc_rng *rng);
/* Q(s, .) for stacked screens [frames, size, size]: Conv(frames, 16, 4, stride 2) ReLU
 * Conv(16, 32, 3, stride 2) ReLU Flatten Linear(., hidden) ReLU Linear(hidden, actions). */
dc_module *rl_conv_qnet_new(int64_t frames, int64_t size, int64_t hidden, int64_t actions,
                            dc_rng *rng);

/* The DQN loss of a minibatch: Huber (smooth L1 with beta) between Q(s, a) from online and the
 * target r + gamma (1 - terminal) max_a' Q_target(s', a') computed without gradient from
 * target (the target network gets no gradient). double_q: Double DQN's target (van Hasselt
 * et al. 2016), Q_target(s', argmax_a' Q_online(s', a')). Mean over the batch. */
dc_tensor *rl_dqn_loss(dc_module *online, dc_module *target, const rl_batch *b, double gamma,
                       double beta, bool double_q);
/* Copy every parameter and buffer of src into dst (same architecture): the target network's
 * periodic update. 0 or -1. */
int rl_copy_weights(dc_module *dst, const dc_module *src);
/* epsilon of a linear decay from start to end over decay_steps (then end). */
double rl_epsilon(double start, double end, int64_t decay_steps, int64_t t);
/* The greedy action of every row of q [N, actions] into actions[N] (ties: the lower index). */
int rl_greedy_actions(const dc_tensor *q, int *actions);

/* ---- Training tasks ---------------------------------------------------------------------- */

/* The DQN settings (both tasks' options; the defaults differ). */
typedef struct {
    long episode_steps; /* episode cap */
    long frames;        /* breakout: screens stacked */
    long width;         /* Q-network width (hidden units) */
    double gamma;       /* discount */
    long replay;        /* replay capacity (transitions) */
    long learn_start;   /* random-action transitions stored before the first update */
    long env_steps;     /* environment steps per training step */
    double eps_start;   /* epsilon-greedy: from eps_start ... */
    double eps_end;     /* ... to eps_end ... */
    long eps_decay;     /* ... linearly over this many environment steps */
    long target_every;  /* training steps between copies into the target network */
    double huber_beta;  /* smooth L1's beta (1: Huber with delta 1) */
    long val_episodes;  /* greedy episodes per validation */
    long eval_episodes; /* greedy episodes per test evaluation */
    bool double_q;      /* Double DQN's target */
} rl_dqn_settings;

void rl_dqn_cartpole_defaults(void *settings);
void rl_dqn_breakout_defaults(void *settings);

/* `deepc train --task dqn_cartpole` / `dqn_breakout` (dqn_task.c): a step takes env_steps
 * epsilon-greedy environment steps into the replay buffer and returns one minibatch's DQN
 * loss; evaluate: mean return of greedy episodes (metrics[0] "mean_return"); render: return
 * per training episode, the value estimate along one greedy episode (the longest of 8) (SVG)
 * and 8 frames of that episode (PNG).
 * The target network lives in the task's state, outside the trained module: it gets no
 * gradient and no optimizer slot, and a resumed run starts it from the restored weights. */
extern const dc_task dqn_cartpole_task;
extern const dc_task dqn_breakout_task;

/* Mean (and optionally min / max) return of n greedy (epsilon = 0) episodes of env-like
 * environments seeded seed, seed + 1, ... played side by side (one forward per step for all
 * running episodes). Returns 0 or -1. */
int rl_evaluate_greedy(dc_module *qnet, rl_env *const *envs, int n, uint64_t seed,
                       double *mean, double *min, double *max);

#endif
