/* The environments of rl.h: CartPole (classic control equations) and a mini-Breakout, behind
 * one reset / step / render API. */
#include "rl/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ENV_CARTPOLE, ENV_BREAKOUT } env_kind;

enum { BRICK_ROWS = 4, BRICK_COLS = 8, BRICK_W = 4, BRICK_H = 2, BRICK_TOP = 4 };
enum { SCREEN = RL_BREAKOUT_SIZE, PADDLE_Y = RL_BREAKOUT_PADDLE_Y, PADDLE_W = RL_BREAKOUT_PADDLE_W };
enum { PADDLE_SPEED = 2, MAX_FRAMES = 16 };

struct rl_env {
    env_kind kind;
    int max_steps, steps;
    bool started, done, truncated;
    double ret;
    double s[4];          /* cartpole: x, x_dot, theta, theta_dot */
    rl_breakout_state b;  /* breakout */
    int frames;           /* breakout: screens stacked */
    float *stack;         /* breakout: [frames, 32, 32], oldest first */
};

/* ---- CartPole ------------------------------------------------------------------------------ */

/* gym's CartPole constants (Barto, Sutton & Anderson 1983). */
#define CP_GRAVITY 9.8
#define CP_MASS_CART 1.0
#define CP_MASS_POLE 0.1
#define CP_TOTAL_MASS (CP_MASS_CART + CP_MASS_POLE)
#define CP_HALF_LENGTH 0.5
#define CP_POLE_MASS_LENGTH (CP_MASS_POLE * CP_HALF_LENGTH)
#define CP_FORCE 10.0
#define CP_TAU 0.02
#define CP_THETA_LIMIT (12.0 * 2.0 * M_PI / 360.0)
#define CP_X_LIMIT 2.4

/* One explicit Euler step of the cart-pole equations of motion with force F = +-10 N:
 *   temp   = (F + m_p l theta_dot^2 sin theta) / (m_c + m_p)
 *   theta'' = (g sin theta - cos theta temp) / (l (4/3 - m_p cos^2 theta / (m_c + m_p)))
 *   x''     = temp - m_p l theta'' cos theta / (m_c + m_p)
 * then x += tau x_dot, x_dot += tau x'', theta += tau theta_dot, theta_dot += tau theta''. */
static void cartpole_physics(double s[4], int action)
{
    double force = action == 1 ? CP_FORCE : -CP_FORCE;
    double c = cos(s[2]), sn = sin(s[2]);
    double temp = (force + CP_POLE_MASS_LENGTH * s[3] * s[3] * sn) / CP_TOTAL_MASS;
    double theta_acc = (CP_GRAVITY * sn - c * temp) /
                       (CP_HALF_LENGTH * (4.0 / 3.0 - CP_MASS_POLE * c * c / CP_TOTAL_MASS));
    double x_acc = temp - CP_POLE_MASS_LENGTH * theta_acc * c / CP_TOTAL_MASS;
    s[0] += CP_TAU * s[1];
    s[1] += CP_TAU * x_acc;
    s[2] += CP_TAU * s[3];
    s[3] += CP_TAU * theta_acc;
}

static bool cartpole_failed(const double s[4])
{
    return s[0] < -CP_X_LIMIT || s[0] > CP_X_LIMIT || s[2] < -CP_THETA_LIMIT ||
           s[2] > CP_THETA_LIMIT;
}

rl_env *rl_cartpole_new(int max_steps)
{
    if (max_steps < 1) return dc_error("rl_cartpole_new: max_steps %d must be >= 1", max_steps);
    rl_env *env = calloc(1, sizeof *env);
    if (!env) return dc_error("rl_cartpole_new: out of memory");
    env->kind = ENV_CARTPOLE;
    env->max_steps = max_steps;
    return env;
}

int rl_cartpole_get_state(const rl_env *env, double state[4])
{
    if (!env || env->kind != ENV_CARTPOLE)
        return dc_error("rl_cartpole_get_state: not a cartpole environment"), -1;
    memcpy(state, env->s, sizeof env->s);
    return 0;
}

int rl_cartpole_set_state(rl_env *env, const double state[4])
{
    if (!env || env->kind != ENV_CARTPOLE)
        return dc_error("rl_cartpole_set_state: not a cartpole environment"), -1;
    for (int i = 0; i < 4; i++)
        if (!isfinite(state[i]))
            return dc_error("rl_cartpole_set_state: state[%d] = %g is not finite", i, state[i]), -1;
    memcpy(env->s, state, sizeof env->s);
    env->started = true, env->done = env->truncated = false, env->steps = 0, env->ret = 0;
    return 0;
}

/* ---- Breakout ------------------------------------------------------------------------------ */

static bool brick_at(const rl_breakout_state *b, int x, int y, int *index)
{
    if (y < BRICK_TOP || y >= BRICK_TOP + BRICK_ROWS * BRICK_H || x < 0 || x >= SCREEN) return false;
    int i = (y - BRICK_TOP) / BRICK_H * BRICK_COLS + x / BRICK_W;
    *index = i;
    return b->bricks[i] != 0;
}

/* The screen: bricks 0.4 (drawn 3 x 1 so that neighbours stay apart), paddle 0.7, ball 1. */
static void breakout_draw(const rl_breakout_state *b, float *screen)
{
    memset(screen, 0, sizeof(float) * SCREEN * SCREEN);
    for (int r = 0; r < BRICK_ROWS; r++)
        for (int c = 0; c < BRICK_COLS; c++)
            if (b->bricks[r * BRICK_COLS + c])
                for (int x = 0; x < BRICK_W - 1; x++)
                    screen[(BRICK_TOP + r * BRICK_H) * SCREEN + c * BRICK_W + x] = 0.4f;
    for (int x = 0; x < PADDLE_W; x++) screen[PADDLE_Y * SCREEN + b->paddle + x] = 0.7f;
    screen[b->ball_y * SCREEN + b->ball_x] = 1.0f;
}

/* Push the current screen onto the stack (fill: all slots). */
static void breakout_push_frame(rl_env *env, bool fill)
{
    size_t plane = (size_t)SCREEN * SCREEN;
    float *last = env->stack + (size_t)(env->frames - 1) * plane;
    if (!fill) memmove(env->stack, env->stack + plane, sizeof(float) * plane * (env->frames - 1));
    breakout_draw(&env->b, last);
    if (fill)
        for (int f = 0; f < env->frames - 1; f++)
            memcpy(env->stack + (size_t)f * plane, last, sizeof(float) * plane);
}

/* One game step: move the paddle, then the ball one pixel diagonally. The ball bounces off
 * the side walls and the ceiling, off a brick (which disappears: reward 1; the ball turns
 * back vertically), and off the paddle, whose left / right third sends it left / right.
 * Returns the reward; *lost: the ball went below the paddle. */
static double breakout_physics(rl_breakout_state *b, int action, bool *lost)
{
    if (action == 1) b->paddle -= PADDLE_SPEED;
    if (action == 2) b->paddle += PADDLE_SPEED;
    if (b->paddle < 0) b->paddle = 0;
    if (b->paddle > SCREEN - PADDLE_W) b->paddle = SCREEN - PADDLE_W;
    double reward = 0;
    int nx = b->ball_x + b->dx;
    if (nx < 0 || nx >= SCREEN) b->dx = -b->dx, nx = b->ball_x + b->dx;
    int ny = b->ball_y + b->dy;
    if (ny < 0) b->dy = -b->dy, ny = b->ball_y + b->dy;
    int brick;
    if (brick_at(b, nx, ny, &brick)) {
        b->bricks[brick] = 0;
        reward = 1;
        b->dy = -b->dy;
        ny = b->ball_y;
    } else if (b->dy > 0 && ny == PADDLE_Y && nx >= b->paddle && nx < b->paddle + PADDLE_W) {
        int part = (nx - b->paddle) * 3 / PADDLE_W; /* 0, 1, 2: left, middle, right third */
        if (part == 0) b->dx = -1;
        if (part == 2) b->dx = 1;
        b->dy = -1;
        ny = b->ball_y;
    }
    b->ball_x = nx, b->ball_y = ny;
    *lost = ny > PADDLE_Y;
    return reward;
}

static bool breakout_cleared(const rl_breakout_state *b)
{
    for (int i = 0; i < BRICK_ROWS * BRICK_COLS; i++)
        if (b->bricks[i]) return false;
    return true;
}

rl_env *rl_breakout_new(int frames, int max_steps)
{
    if (frames < 1 || frames > MAX_FRAMES)
        return dc_error("rl_breakout_new: frames %d must be in 1 .. %d", frames, MAX_FRAMES);
    if (max_steps < 1) return dc_error("rl_breakout_new: max_steps %d must be >= 1", max_steps);
    rl_env *env = calloc(1, sizeof *env);
    float *stack = calloc((size_t)frames * SCREEN * SCREEN, sizeof *stack);
    if (!env || !stack) {
        free(env), free(stack);
        return dc_error("rl_breakout_new: out of memory");
    }
    env->kind = ENV_BREAKOUT;
    env->frames = frames;
    env->max_steps = max_steps;
    env->stack = stack;
    return env;
}

int rl_breakout_get_state(const rl_env *env, rl_breakout_state *state)
{
    if (!env || env->kind != ENV_BREAKOUT)
        return dc_error("rl_breakout_get_state: not a breakout environment"), -1;
    *state = env->b;
    return 0;
}

int rl_breakout_set_state(rl_env *env, const rl_breakout_state *s)
{
    if (!env || env->kind != ENV_BREAKOUT)
        return dc_error("rl_breakout_set_state: not a breakout environment"), -1;
    if (s->ball_x < 0 || s->ball_x >= SCREEN || s->ball_y < 0 || s->ball_y > PADDLE_Y)
        return dc_error("rl_breakout_set_state: ball (%d, %d) is off the playing field", s->ball_x,
                        s->ball_y), -1;
    if ((s->dx != 1 && s->dx != -1) || (s->dy != 1 && s->dy != -1))
        return dc_error("rl_breakout_set_state: velocity (%d, %d) must be +-1", s->dx, s->dy), -1;
    if (s->paddle < 0 || s->paddle > SCREEN - PADDLE_W)
        return dc_error("rl_breakout_set_state: paddle %d out of 0 .. %d", s->paddle,
                        SCREEN - PADDLE_W), -1;
    for (int i = 0; i < BRICK_ROWS * BRICK_COLS; i++)
        if (s->bricks[i] > 1)
            return dc_error("rl_breakout_set_state: bricks[%d] = %d is not 0 or 1", i,
                            s->bricks[i]), -1;
    env->b = *s;
    env->started = true, env->done = env->truncated = false, env->steps = 0, env->ret = 0;
    breakout_push_frame(env, true);
    return 0;
}

/* ---- The common API ------------------------------------------------------------------------ */

void rl_env_free(rl_env *env)
{
    if (!env) return;
    free(env->stack);
    free(env);
}

const char *rl_env_name(const rl_env *env)
{
    return !env ? "(null)" : env->kind == ENV_CARTPOLE ? "cartpole" : "breakout";
}

int rl_env_num_actions(const rl_env *env)
{
    return !env ? 0 : env->kind == ENV_CARTPOLE ? 2 : 3;
}

int rl_env_obs_shape(const rl_env *env, int64_t shape[3])
{
    if (!env) return dc_error("rl_env_obs_shape: NULL environment"), -1;
    if (env->kind == ENV_CARTPOLE) return shape[0] = 4, 1;
    shape[0] = env->frames, shape[1] = SCREEN, shape[2] = SCREEN;
    return 3;
}

int64_t rl_env_obs_size(const rl_env *env)
{
    return !env ? 0 : env->kind == ENV_CARTPOLE ? 4 : (int64_t)env->frames * SCREEN * SCREEN;
}

static void observe(const rl_env *env, float *obs)
{
    if (!obs) return;
    if (env->kind == ENV_CARTPOLE)
        for (int i = 0; i < 4; i++) obs[i] = (float)env->s[i];
    else
        memcpy(obs, env->stack, sizeof(float) * (size_t)rl_env_obs_size(env));
}

int rl_env_reset(rl_env *env, uint64_t seed, float *obs)
{
    if (!env) return dc_error("rl_env_reset: NULL environment"), -1;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    if (env->kind == ENV_CARTPOLE) {
        /* gym: every state variable uniform in [-0.05, 0.05) */
        for (int i = 0; i < 4; i++) env->s[i] = -0.05 + 0.1 * dc_rng_uniform(&rng);
    } else {
        rl_breakout_state *b = &env->b;
        memset(b->bricks, 1, sizeof b->bricks);
        b->ball_x = 4 + (int)(dc_rng_uniform(&rng) * (SCREEN - 8));
        b->ball_y = BRICK_TOP + BRICK_ROWS * BRICK_H + 4;
        b->dx = dc_rng_uniform(&rng) < 0.5 ? -1 : 1;
        b->dy = 1;
        b->paddle = (int)(dc_rng_uniform(&rng) * (SCREEN - PADDLE_W + 1));
        breakout_push_frame(env, true);
    }
    env->started = true, env->done = env->truncated = false, env->steps = 0, env->ret = 0;
    observe(env, obs);
    return 0;
}

int rl_env_step(rl_env *env, int action, float *obs, double *reward, bool *done)
{
    if (!env) return dc_error("rl_env_step: NULL environment"), -1;
    if (action < 0 || action >= rl_env_num_actions(env))
        return dc_error("rl_env_step: action %d out of range for %s (0 .. %d)", action,
                        rl_env_name(env), rl_env_num_actions(env) - 1), -1;
    if (!env->started) return dc_error("rl_env_step: %s: call rl_env_reset first", rl_env_name(env)), -1;
    if (env->done)
        return dc_error("rl_env_step: %s: the episode is over (after %d steps); call rl_env_reset",
                        rl_env_name(env), env->steps), -1;
    double r;
    bool terminated;
    if (env->kind == ENV_CARTPOLE) {
        cartpole_physics(env->s, action);
        terminated = cartpole_failed(env->s);
        r = 1.0; /* gym: also on the step that ends the episode */
    } else {
        bool lost;
        r = breakout_physics(&env->b, action, &lost);
        terminated = lost || breakout_cleared(&env->b);
        breakout_push_frame(env, false);
    }
    env->steps++;
    env->ret += r;
    env->truncated = !terminated && env->steps >= env->max_steps;
    env->done = terminated || env->truncated;
    observe(env, obs);
    if (reward) *reward = r;
    if (done) *done = env->done;
    return 0;
}

bool rl_env_truncated(const rl_env *env) { return env && env->truncated; }
int rl_env_steps(const rl_env *env) { return env ? env->steps : 0; }
double rl_env_return(const rl_env *env) { return env ? env->ret : 0; }

/* ---- Rendering ----------------------------------------------------------------------------- */

static void fill_rect(float *img, int h, int w, double x0, double y0, double x1, double y1,
                      const float rgb[3])
{
    int c0 = (int)floor(x0), c1 = (int)ceil(x1), r0 = (int)floor(y0), r1 = (int)ceil(y1);
    for (int y = r0 < 0 ? 0 : r0; y < (r1 > h ? h : r1); y++)
        for (int x = c0 < 0 ? 0 : c0; x < (c1 > w ? w : c1); x++)
            for (int c = 0; c < 3; c++) img[((size_t)c * h + y) * w + x] = rgb[c];
}

/* CartPole as gym draws it: the track, the cart (0.5 x 0.3 units) and the pole (1 unit long,
 * drawn as a thick segment) at the scene's 160 / 4.8 pixels per unit. */
static dc_tensor *cartpole_render(const rl_env *env, int scale)
{
    int h = 80 * scale, w = 160 * scale;
    float *img = malloc(sizeof(float) * 3 * (size_t)h * w);
    if (!img) return dc_error("rl_env_render: out of memory");
    for (size_t i = 0; i < 3 * (size_t)h * w; i++) img[i] = 1.0f;
    double unit = w / (2 * CP_X_LIMIT), track = 60.0 * scale;
    double cx = w / 2.0 + env->s[0] * unit;
    const float gray[3] = {0.5f, 0.5f, 0.5f}, cart[3] = {0.1f, 0.1f, 0.1f},
                pole[3] = {0.8f, 0.6f, 0.4f}, axle[3] = {0.5f, 0.5f, 0.8f};
    fill_rect(img, h, w, 0, track, w, track + scale, gray);
    double cw = 0.5 * unit, ch = 0.3 * unit;
    fill_rect(img, h, w, cx - cw / 2, track - ch, cx + cw / 2, track, cart);
    double top = track - ch, len = 2 * CP_HALF_LENGTH * unit, half = 0.05 * unit;
    for (int i = 0; i <= 4 * (int)len; i++) {
        double t = i / (4.0 * (int)len) * len;
        double px = cx + t * sin(env->s[2]), py = top - t * cos(env->s[2]);
        fill_rect(img, h, w, px - half, py - half, px + half, py + half, pole);
    }
    fill_rect(img, h, w, cx - half, top - half, cx + half, top + half, axle);
    dc_tensor *t = dc_from_buffer(DC_F32, DC_SHAPE(3, h, w), img);
    free(img);
    return t;
}

static dc_tensor *breakout_render(const rl_env *env, int scale)
{
    int n = SCREEN * scale;
    float *img = malloc(sizeof(float) * (size_t)n * n);
    if (!img) return dc_error("rl_env_render: out of memory");
    const float *last = env->stack + (size_t)(env->frames - 1) * SCREEN * SCREEN;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) img[(size_t)y * n + x] = last[(y / scale) * SCREEN + x / scale];
    dc_tensor *t = dc_from_buffer(DC_F32, DC_SHAPE(1, n, n), img);
    free(img);
    return t;
}

dc_tensor *rl_env_render(const rl_env *env, int scale)
{
    if (!env) return dc_error("rl_env_render: NULL environment");
    if (scale < 1 || scale > 16) return dc_error("rl_env_render: scale %d out of 1 .. 16", scale);
    if (!env->started) return dc_error("rl_env_render: %s: call rl_env_reset first", rl_env_name(env));
    return env->kind == ENV_CARTPOLE ? cartpole_render(env, scale) : breakout_render(env, scale);
}

int rl_env_render_png(const rl_env *env, const char *path, int scale)
{
    size_t scope = dc_scope_begin();
    dc_tensor *img = rl_env_render(env, scale);
    int rc = img ? dc_png_write(path, img) : -1;
    dc_scope_end(scope);
    return rc;
}
