/* Reinforcement learning (apps/rl): the environments' dynamics against hand-computed steps,
 * determinism from a seed, the replay buffer, the DQN loss against a hand computation, and
 * both DQN tasks through the task contract. */
#include "test.h"

#include "rl/rl.h"

/* One step of CartPole from (x, x_dot, theta, theta_dot) = (0, 0, 0.1, 0) pushing right
 * (F = +10 N), by hand from the equations in env.c: sin 0.1 = 0.0998334, cos 0.1 = 0.9950042,
 * temp = 10 / 1.1 = 9.0909091, theta'' = (9.8 * 0.0998334 - 0.9950042 * 9.0909091) /
 * (0.5 * (4/3 - 0.1 * 0.9900333 / 1.1)) = -8.0671249 / 0.6216652 = -12.976640, x'' = 9.0909091
 * + 0.05 * 12.976640 * 0.9950042 / 1.1 = 9.677810; Euler: x = 0, x_dot = 0.02 x'' = 0.1935562,
 * theta = 0.1, theta_dot = 0.02 theta'' = -0.2595328. Second case (0.5, -0.2, -0.05, 0.3)
 * pushing left: theta'' = 13.825207, x'' = -9.718747. */
TEST(test_cartpole_step_matches_the_hand_computed_euler_step)
{
    rl_env *env = rl_cartpole_new(500);
    REQUIRE(env);
    double s[4] = {0, 0, 0.1, 0}, out[4], r;
    bool done = true;
    float obs[4];
    REQUIRE(rl_cartpole_set_state(env, s) == 0);
    REQUIRE(rl_env_step(env, 1, obs, &r, &done) == 0);
    REQUIRE(rl_cartpole_get_state(env, out) == 0);
    CHECK_NEAR(out[0], 0, 1e-12);
    CHECK_NEAR(out[1], 0.02 * 9.677810, 1e-7);
    CHECK_NEAR(out[2], 0.1, 1e-12);
    CHECK_NEAR(out[3], 0.02 * -12.976640, 1e-7);
    CHECK_NEAR(obs[3], out[3], 1e-7);
    CHECK(r == 1 && !done && rl_env_steps(env) == 1);
    double s2[4] = {0.5, -0.2, -0.05, 0.3};
    REQUIRE(rl_cartpole_set_state(env, s2) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    REQUIRE(rl_cartpole_get_state(env, out) == 0);
    CHECK_NEAR(out[0], 0.5 + 0.02 * -0.2, 1e-12);
    CHECK_NEAR(out[1], -0.2 + 0.02 * -9.718747, 1e-7);
    CHECK_NEAR(out[2], -0.05 + 0.02 * 0.3, 1e-12);
    CHECK_NEAR(out[3], 0.3 + 0.02 * 13.825207, 1e-7);
    rl_env_free(env);
}

TEST(test_cartpole_terminates_at_12_degrees_and_2_4_and_truncates_at_the_cap)
{
    rl_env *env = rl_cartpole_new(3);
    REQUIRE(env);
    double r;
    bool done;
    /* theta_dot 1 rad/s carries theta from 0.205 past 12 degrees (0.2094) in one step */
    double tilt[4] = {0, 0, 0.205, 1.0};
    REQUIRE(rl_cartpole_set_state(env, tilt) == 0);
    REQUIRE(rl_env_step(env, 1, NULL, &r, &done) == 0);
    CHECK(done && !rl_env_truncated(env) && r == 1);
    CHECK_ERROR(rl_env_step(env, 1, NULL, &r, &done) != 0, "episode is over");
    double off[4] = {2.39, 1.0, 0, 0}; /* x = 2.39 + 0.02 = 2.41 > 2.4 */
    REQUIRE(rl_cartpole_set_state(env, off) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    CHECK(done && !rl_env_truncated(env));
    REQUIRE(rl_env_reset(env, 5, NULL) == 0);
    for (int i = 0; i < 3; i++) REQUIRE(rl_env_step(env, i % 2, NULL, &r, &done) == 0);
    CHECK(done && rl_env_truncated(env) && rl_env_return(env) == 3);
    rl_env_free(env);
}

TEST(test_environments_are_deterministic_from_the_seed)
{
    rl_env *a = rl_breakout_new(2, 200), *b = rl_breakout_new(2, 200), *c = rl_cartpole_new(500);
    REQUIRE(a && b && c);
    int64_t n = rl_env_obs_size(a);
    float *oa = malloc(sizeof(float) * n), *ob = malloc(sizeof(float) * n);
    REQUIRE(oa && ob);
    REQUIRE(rl_env_reset(a, 42, oa) == 0 && rl_env_reset(b, 42, ob) == 0);
    bool same = true, da = false, db = false;
    for (int t = 0; t < 60 && !da; t++) {
        REQUIRE(rl_env_step(a, t % 3, oa, NULL, &da) == 0);
        REQUIRE(rl_env_step(b, t % 3, ob, NULL, &db) == 0);
        same = same && da == db && !memcmp(oa, ob, sizeof(float) * n);
    }
    CHECK(same);
    float c1[4], c2[4], c3[4];
    REQUIRE(rl_env_reset(c, 7, c1) == 0 && rl_env_reset(c, 7, c2) == 0 && rl_env_reset(c, 8, c3) == 0);
    CHECK(!memcmp(c1, c2, sizeof c1) && memcmp(c1, c3, sizeof c1));
    for (int i = 0; i < 4; i++) CHECK(c1[i] >= -0.05f && c1[i] < 0.05f);
    REQUIRE(rl_env_reset(b, 43, ob) == 0 && rl_env_reset(a, 42, oa) == 0);
    rl_breakout_state sa, sb;
    REQUIRE(rl_breakout_get_state(a, &sa) == 0 && rl_breakout_get_state(b, &sb) == 0);
    CHECK(sa.ball_x != sb.ball_x || sa.paddle != sb.paddle || sa.dx != sb.dx);
    free(oa), free(ob);
    rl_env_free(a), rl_env_free(b), rl_env_free(c);
}

static rl_breakout_state all_bricks(int x, int y, int dx, int dy, int paddle)
{
    rl_breakout_state s = {x, y, dx, dy, paddle, {0}};
    memset(s.bricks, 1, sizeof s.bricks);
    return s;
}

TEST(test_breakout_ball_breaks_bricks_bounces_off_walls_and_paddle_and_is_lost)
{
    rl_env *env = rl_breakout_new(2, 1000);
    REQUIRE(env);
    double r;
    bool done;
    rl_breakout_state s = all_bricks(10, 12, 1, -1, 0), g;
    /* (10, 12) moving up-right reaches (11, 11): brick row 3 (rows 4 + 2k .. 5 + 2k), column
     * 11 / 4 = 2 -> brick 26 goes, reward 1, the ball turns down and stays on row 12 */
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    REQUIRE(rl_breakout_get_state(env, &g) == 0);
    CHECK(r == 1 && !done && g.bricks[26] == 0 && g.bricks[25] == 1);
    CHECK(g.ball_x == 11 && g.ball_y == 12 && g.dx == 1 && g.dy == 1);
    /* the left wall: (0, 20) moving left comes back to column 1 */
    s = all_bricks(0, 20, -1, 1, 0);
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    REQUIRE(rl_breakout_get_state(env, &g) == 0);
    CHECK(g.ball_x == 1 && g.ball_y == 21 && g.dx == 1 && r == 0);
    /* the paddle (columns 8 .. 13) meets the ball at column 11, its middle third: up, same dx */
    s = all_bricks(10, 29, 1, 1, 8);
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    REQUIRE(rl_breakout_get_state(env, &g) == 0);
    CHECK(g.ball_x == 11 && g.ball_y == 29 && g.dx == 1 && g.dy == -1 && !done);
    /* ... its left third (paddle moved right to 10: column 11 is its second pixel): left */
    s = all_bricks(10, 29, 1, 1, 8);
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 2, NULL, &r, &done) == 0);
    REQUIRE(rl_breakout_get_state(env, &g) == 0);
    CHECK(g.paddle == 10 && g.dx == -1 && g.dy == -1);
    /* a miss: the ball crosses row 30 beside the paddle and is lost on the next step */
    s = all_bricks(3, 29, -1, 1, 20);
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    CHECK(!done);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    CHECK(done && !rl_env_truncated(env));
    /* the last brick ends the episode */
    s = all_bricks(10, 12, 1, -1, 0);
    memset(s.bricks, 0, sizeof s.bricks);
    s.bricks[26] = 1;
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, NULL, &r, &done) == 0);
    CHECK(done && r == 1 && rl_env_return(env) == 1 && !rl_env_truncated(env));
    rl_env_free(env);
}

TEST(test_breakout_stacks_frames_oldest_first_with_the_ball_and_paddle_drawn)
{
    rl_env *env = rl_breakout_new(3, 100);
    REQUIRE(env);
    int64_t shape[3];
    CHECK(rl_env_obs_shape(env, shape) == 3 && shape[0] == 3 && shape[1] == 32 && shape[2] == 32);
    float *obs = malloc(sizeof(float) * rl_env_obs_size(env));
    REQUIRE(obs);
    rl_breakout_state s = all_bricks(16, 20, 1, 1, 0);
    REQUIRE(rl_breakout_set_state(env, &s) == 0);
    REQUIRE(rl_env_step(env, 0, obs, NULL, NULL) == 0);
    const int plane = 32 * 32;
    CHECK(obs[0 * plane + 20 * 32 + 16] == 1.0f);           /* the repeated first screen */
    CHECK(obs[1 * plane + 20 * 32 + 16] == 1.0f);
    CHECK(obs[2 * plane + 21 * 32 + 17] == 1.0f);           /* the newest: one step later */
    CHECK(obs[2 * plane + 20 * 32 + 16] == 0.0f);
    CHECK(obs[2 * plane + 30 * 32 + 0] > 0 && obs[2 * plane + 30 * 32 + 6] == 0); /* paddle */
    CHECK(obs[2 * plane + 4 * 32 + 0] > 0 && obs[2 * plane + 4 * 32 + 3] == 0);   /* bricks */
    free(obs);
    rl_env_free(env);
}

TEST(test_environments_reject_bad_actions_and_states_and_stay_unchanged)
{
    rl_env *cp = rl_cartpole_new(500), *bo = rl_breakout_new(4, 100);
    REQUIRE(cp && bo);
    double r;
    bool done;
    CHECK_ERROR(rl_env_step(cp, 0, NULL, &r, &done) != 0, "call rl_env_reset first");
    REQUIRE(rl_env_reset(cp, 1, NULL) == 0 && rl_env_reset(bo, 1, NULL) == 0);
    double before[4], after[4];
    REQUIRE(rl_cartpole_get_state(cp, before) == 0);
    CHECK_ERROR(rl_env_step(cp, 2, NULL, &r, &done) != 0, "action 2 out of range for cartpole (0 .. 1)");
    CHECK_ERROR(rl_env_step(bo, -1, NULL, &r, &done) != 0, "action -1 out of range for breakout");
    REQUIRE(rl_cartpole_get_state(cp, after) == 0);
    CHECK(!memcmp(before, after, sizeof before) && rl_env_steps(cp) == 0);
    rl_breakout_state s = all_bricks(40, 10, 1, 1, 0), g0, g1;
    REQUIRE(rl_breakout_get_state(bo, &g0) == 0);
    CHECK_ERROR(rl_breakout_set_state(bo, &s) != 0, "ball (40, 10) is off the playing field");
    s = all_bricks(4, 10, 2, 1, 0);
    CHECK_ERROR(rl_breakout_set_state(bo, &s) != 0, "velocity (2, 1)");
    s = all_bricks(4, 10, 1, 1, 27);
    CHECK_ERROR(rl_breakout_set_state(bo, &s) != 0, "paddle 27");
    REQUIRE(rl_breakout_get_state(bo, &g1) == 0);
    CHECK(!memcmp(&g0, &g1, sizeof g0));
    CHECK_ERROR(rl_breakout_get_state(cp, &g1) != 0, "not a breakout");
    CHECK_ERROR(rl_cartpole_new(0) == NULL, "max_steps 0");
    CHECK_ERROR(rl_breakout_new(17, 10) == NULL, "frames 17");
    CHECK_ERROR(rl_env_render(cp, 0) == NULL, "scale 0");
    rl_env_free(cp), rl_env_free(bo);
}

TEST(test_environments_render_pictures)
{
    rl_env *cp = rl_cartpole_new(500), *bo = rl_breakout_new(4, 100);
    REQUIRE(cp && bo);
    REQUIRE(rl_env_reset(cp, 1, NULL) == 0 && rl_env_reset(bo, 1, NULL) == 0);
    dc_tensor *a = rl_env_render(cp, 1), *b = rl_env_render(bo, 3);
    REQUIRE(a && b);
    CHECK(a->ndim == 3 && a->shape[0] == 3 && a->shape[1] == 80 && a->shape[2] == 160);
    CHECK(b->ndim == 3 && b->shape[0] == 1 && b->shape[1] == 96 && b->shape[2] == 96);
    CHECK(dc_item(dc_max(dc_flatten(b, 0, -1), 0, false)) == 1.0); /* the ball */
    CHECK(dc_item(dc_min(dc_flatten(a, 0, -1), 0, false)) < 0.2);   /* the cart */
    if (dc_test_have("libpng")) {
        char path[256];
        dc_test_tmp_path(path, sizeof path, "rl_frame.png");
        CHECK(rl_env_render_png(bo, path, 2) == 0);
        dc_tensor *back = dc_png_read(path);
        CHECK(back && back->shape[1] == 64 && back->shape[2] == 64);
        remove(path);
    }
    rl_env_free(cp), rl_env_free(bo);
}

TEST(test_replay_buffer_keeps_the_newest_transitions_and_samples_them_whole)
{
    rl_replay *rb = rl_replay_new(5, 2, false);
    REQUIRE(rb);
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    rl_batch b;
    CHECK_ERROR(rl_replay_sample(rb, 4, &rng, 1, (int64_t[]){2}, &b) != 0, "empty");
    for (int i = 0; i < 8; i++) {
        float o[2] = {(float)i, -(float)i}, n[2] = {(float)i + 1, -(float)i - 1};
        REQUIRE(rl_replay_push(rb, o, i % 3, 10.0 * i, n, i == 7) == 0);
    }
    CHECK(rl_replay_size(rb) == 5);
    REQUIRE(rl_replay_sample(rb, 64, &rng, 1, (int64_t[]){2}, &b) == 0);
    CHECK(b.obs->shape[0] == 64 && b.obs->shape[1] == 2 && b.actions->dtype == DC_I64);
    bool whole = true, seen[8] = {false};
    for (int64_t k = 0; k < 64; k++) {
        int i = (int)dc_item_at(b.obs, (int64_t[]){k, 0});
        seen[i] = true;
        whole = whole && i >= 3 && dc_item_at(b.obs, (int64_t[]){k, 1}) == -i &&
                dc_item_at(b.next_obs, (int64_t[]){k, 0}) == i + 1 &&
                dc_item_at(b.actions, &k) == i % 3 && dc_item_at(b.rewards, &k) == 10.0 * i &&
                dc_item_at(b.terminal, &k) == (i == 7);
    }
    CHECK(whole);
    CHECK(!seen[0] && !seen[2] && seen[3] && seen[5] && seen[7]); /* 0..2 were overwritten */
    float o[2] = {0, 0};
    CHECK_ERROR(rl_replay_push(rb, o, -1, 0, o, false) != 0, "action -1");
    CHECK_ERROR(rl_replay_sample(rb, 4, &rng, 1, (int64_t[]){3}, &b) != 0, "shape of 3 values");
    CHECK_ERROR(rl_replay_sample(rb, 0, &rng, 1, (int64_t[]){2}, &b) != 0, "batch 0");
    CHECK(rl_replay_size(rb) == 5);
    rl_replay_free(rb);
    /* bytes: pixels in [0, 1] stored as round(x * 255) */
    rl_replay *px = rl_replay_new(2, 3, true);
    REQUIRE(px);
    float p[3] = {0, 0.5f, 1}, q[3] = {0.4f, 1.5f, -1};
    REQUIRE(rl_replay_push(px, p, 1, 1, q, false) == 0);
    REQUIRE(rl_replay_sample(px, 1, &rng, 1, (int64_t[]){3}, &b) == 0);
    CHECK_NEAR(dc_item_at(b.obs, (int64_t[]){0, 1}), 128.0 / 255, 1e-6);
    CHECK_NEAR(dc_item_at(b.next_obs, (int64_t[]){0, 0}), 102.0 / 255, 1e-6);
    CHECK(dc_item_at(b.next_obs, (int64_t[]){0, 1}) == 1 && dc_item_at(b.next_obs, (int64_t[]){0, 2}) == 0);
    rl_replay_free(px);
    CHECK_ERROR(rl_replay_new(0, 3, false) == NULL, "capacity 0");
}

/* Q(s) = W s with W set by hand (no bias). */
static dc_module *linear_q(double w00, double w01, double w10, double w11)
{
    dc_module *m = dc_linear_new(2, 2, false, NULL);
    if (!m) return NULL;
    double w[4] = {w00, w01, w10, w11};
    dc_copy_(dc_module_param(m, "weight"), dc_from_buffer(DC_F64, DC_SHAPE(2, 2), w));
    return m;
}

static rl_batch hand_batch(void)
{
    /* row 0: s = (1, 2), a = 1, r = 0.5, s' = (1, 1), not terminal; row 1: s = (3, 0), a = 0,
     * r = 1, terminal */
    return (rl_batch){dc_from_buffer(DC_F32, DC_SHAPE(2, 2), (float[]){1, 2, 3, 0}),
                      dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){1, 0}),
                      dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){0.5f, 1}),
                      dc_from_buffer(DC_F32, DC_SHAPE(2, 2), (float[]){1, 1, 5, 5}),
                      dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){0, 1})};
}

/* online W = I: Q(s0, 1) = 2, Q(s1, 0) = 3; target W = diag(2, 1): max Q_t(s0') = 2, so
 * y0 = 0.5 + 0.9 * 2 = 2.3 (d = -0.3: 0.5 d^2 = 0.045), y1 = 1 (terminal; d = 2: |d| - 0.5 =
 * 1.5); mean 0.7725. dL/dW: row 1 gets d0 * s0 / 2 = -0.15 * (1, 2), row 0 gets sign(d1) * s1
 * / 2 = (1.5, 0); the target gets none. */
TEST(test_dqn_loss_matches_the_hand_computed_huber_td_error)
{
    dc_module *online = linear_q(1, 0, 0, 1), *target = linear_q(2, 0, 0, 1);
    REQUIRE(online && target);
    rl_batch b = hand_batch();
    dc_tensor *loss = rl_dqn_loss(online, target, &b, 0.9, 1.0, false);
    REQUIRE(loss);
    CHECK_NEAR(dc_item(loss), 0.7725, 1e-6);
    REQUIRE(dc_backward(loss) == 0);
    dc_tensor *g = dc_module_param(online, "weight")->grad;
    REQUIRE(g);
    double want[4] = {1.5, 0, -0.15, -0.3}, got[4];
    REQUIRE(dc_to_double_buffer(g, got, 4) == 0);
    CHECK_ALLCLOSE("dL/dW", got, want, 4, 1e-6, 1e-6);
    CHECK(dc_module_param(target, "weight")->grad == NULL);
    CHECK_ERROR(rl_dqn_loss(online, target, &b, 1.5, 1.0, false) == NULL, "gamma 1.5");
    b.actions = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){1, 2});
    CHECK_ERROR(rl_dqn_loss(online, target, &b, 0.9, 1.0, false) == NULL, "action 2 of row 1 out of range");
    dc_module_free(online), dc_module_free(target);
}

TEST(test_dqn_loss_falls_on_a_fixed_batch_and_copy_weights_syncs_the_target)
{
    dc_rng rng;
    dc_rng_seed(&rng, 11);
    dc_module *online = rl_conv_qnet_new(2, 32, 16, 3, &rng), *target = rl_conv_qnet_new(2, 32, 16, 3, &rng);
    REQUIRE(online && target);
    rl_replay *rb = rl_replay_new(64, 2 * 32 * 32, true);
    rl_env *env = rl_breakout_new(2, 1000);
    REQUIRE(rb && env);
    float *o = malloc(sizeof(float) * 2048), *n = malloc(sizeof(float) * 2048);
    REQUIRE(o && n && rl_env_reset(env, 1, o) == 0);
    for (int i = 0; i < 64; i++) {
        double r;
        bool done;
        REQUIRE(rl_env_step(env, i % 3, n, &r, &done) == 0);
        REQUIRE(rl_replay_push(rb, o, i % 3, i % 5 == 0 ? 1 : 0, n, done) == 0);
        memcpy(o, n, sizeof(float) * 2048);
        if (done) REQUIRE(rl_env_reset(env, (uint64_t)i + 2, o) == 0);
    }
    rl_batch b;
    REQUIRE(rl_replay_sample(rb, 32, &rng, 3, (int64_t[]){2, 32, 32}, &b) == 0);
    dc_tensor_list params;
    REQUIRE(dc_module_parameters(online, &params) == 0);
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, 1e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    REQUIRE(opt);
    double first = 0, last = 0;
    for (int s = 0; s < 40; s++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = rl_dqn_loss(online, target, &b, 0.99, 1.0, false);
        REQUIRE(loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0);
        if (s == 0) first = dc_item(loss);
        last = dc_item(loss);
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
    }
    EXPECT(isfinite(last) && last < 0.5 * first, "loss %.5f -> %.5f did not halve", first, last);
    REQUIRE(rl_copy_weights(target, online) == 0);
    dc_tensor *qa = dc_forward(online, b.obs), *qb = dc_forward(target, b.obs);
    CHECK_NEAR(dc_item(dc_max(dc_flatten(dc_abs(dc_sub(qa, qb)), 0, -1), 0, false)), 0, 0);
    dc_module *mlp = rl_mlp_qnet_new(4, 8, 2, &rng);
    CHECK_ERROR(rl_copy_weights(mlp, online) != 0, "tensors into");
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(online), dc_module_free(target), dc_module_free(mlp);
    rl_replay_free(rb), rl_env_free(env), free(o), free(n);
}

TEST(test_epsilon_schedule_and_greedy_actions)
{
    CHECK_NEAR(rl_epsilon(1, 0.05, 100, 0), 1, 0);
    CHECK_NEAR(rl_epsilon(1, 0.05, 100, 50), 0.525, 1e-12);
    CHECK_NEAR(rl_epsilon(1, 0.05, 100, 1000), 0.05, 0);
    dc_tensor *q = dc_from_buffer(DC_F32, DC_SHAPE(3, 3), (float[]){1, 3, 2, 5, 5, 0, -1, -2, -0.5f});
    int a[3];
    REQUIRE(rl_greedy_actions(q, a) == 0);
    CHECK(a[0] == 1 && a[1] == 0 && a[2] == 2);
    CHECK_ERROR(rl_greedy_actions(dc_ones(DC_F32, DC_SHAPE(3)), a) != 0, "[N, actions]");
}

TEST(test_greedy_evaluation_is_repeatable)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    dc_module *q = rl_mlp_qnet_new(4, 8, 2, &rng);
    rl_env *envs[4];
    for (int i = 0; i < 4; i++) envs[i] = rl_cartpole_new(200);
    REQUIRE(q && envs[3]);
    double m1, m2, lo, hi;
    REQUIRE(rl_evaluate_greedy(q, envs, 4, 100, &m1, &lo, &hi) == 0);
    REQUIRE(rl_evaluate_greedy(q, envs, 4, 100, &m2, NULL, NULL) == 0);
    CHECK(m1 == m2 && lo <= m1 && m1 <= hi && lo >= 1 && hi <= 200);
    for (int i = 0; i < 4; i++) rl_env_free(envs[i]);
    dc_module_free(q);
}

TEST(test_dqn_cartpole_task_trains_through_the_task_contract)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&dqn_cartpole_task,
                               "width = 16\nreplay = 500\nlearn-start = 100\nepisode-steps = 100\n"
                               "val-episodes = 2\neval-episodes = 3\ntarget-every = 10\n",
                               16, 1e-3, 40, &first, &last, &m));
    CHECK(isfinite(first) && isfinite(last));
    CHECK(!strcmp(m.metrics[0].name, "mean_return") && m.metrics[0].value >= 1);
    CHECK(dc_metrics_get(&m, "episodes") == 3 && dc_metrics_get(&m, "train_episodes") >= 1);
}

TEST(test_dqn_breakout_task_trains_through_the_task_contract)
{
    double first, last;
    dc_metrics m;
    REQUIRE(dc_test_train_task(&dqn_breakout_task,
                               "width = 16\nframes = 2\nreplay = 300\nlearn-start = 64\n"
                               "episode-steps = 60\nval-episodes = 2\neval-episodes = 2\n",
                               8, 1e-3, 8, &first, &last, &m));
    CHECK(isfinite(first) && isfinite(last));
    CHECK(!strcmp(m.metrics[0].name, "mean_return") && m.metrics[0].value >= 0);
}
