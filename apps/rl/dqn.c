/* DQN's pieces (Mnih et al. 2015): the experience-replay ring, the Q-networks, the Huber TD
 * loss against a target network, epsilon-greedy's schedule and greedy evaluation. */
#include "rl/rl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Experience replay --------------------------------------------------------------------- */

struct rl_replay {
    int64_t capacity, obs_size, size, next;
    bool bytes;
    void *obs, *next_obs; /* [capacity, obs_size] uint8 or float */
    int *actions;
    float *rewards;
    unsigned char *terminal;
};

rl_replay *rl_replay_new(int64_t capacity, int64_t obs_size, bool bytes)
{
    if (capacity < 1) return dc_error("rl_replay_new: capacity %lld must be >= 1", (long long)capacity);
    if (obs_size < 1) return dc_error("rl_replay_new: obs_size %lld must be >= 1", (long long)obs_size);
    size_t elem = bytes ? 1 : sizeof(float);
    if ((uint64_t)capacity > SIZE_MAX / elem / (uint64_t)obs_size / 2)
        return dc_error("rl_replay_new: %lld transitions of %lld values are too many",
                        (long long)capacity, (long long)obs_size);
    rl_replay *rb = calloc(1, sizeof *rb);
    if (!rb) return dc_error("rl_replay_new: out of memory");
    rb->capacity = capacity, rb->obs_size = obs_size, rb->bytes = bytes;
    rb->obs = malloc(elem * (size_t)capacity * (size_t)obs_size);
    rb->next_obs = malloc(elem * (size_t)capacity * (size_t)obs_size);
    rb->actions = malloc(sizeof(int) * (size_t)capacity);
    rb->rewards = malloc(sizeof(float) * (size_t)capacity);
    rb->terminal = malloc((size_t)capacity);
    if (!rb->obs || !rb->next_obs || !rb->actions || !rb->rewards || !rb->terminal) {
        rl_replay_free(rb);
        return dc_error("rl_replay_new: out of memory for %lld transitions", (long long)capacity);
    }
    return rb;
}

void rl_replay_free(rl_replay *rb)
{
    if (!rb) return;
    free(rb->obs), free(rb->next_obs), free(rb->actions), free(rb->rewards), free(rb->terminal);
    free(rb);
}

int64_t rl_replay_size(const rl_replay *rb) { return rb ? rb->size : 0; }

static void store(const rl_replay *rb, void *dst, int64_t slot, const float *src)
{
    size_t n = (size_t)rb->obs_size;
    if (!rb->bytes) {
        memcpy((float *)dst + (size_t)slot * n, src, sizeof(float) * n);
        return;
    }
    unsigned char *d = (unsigned char *)dst + (size_t)slot * n;
    for (size_t i = 0; i < n; i++) {
        float v = src[i] < 0 ? 0 : src[i] > 1 ? 1 : src[i];
        d[i] = (unsigned char)(v * 255.0f + 0.5f);
    }
}

static void load(const rl_replay *rb, const void *src, int64_t slot, float *dst)
{
    size_t n = (size_t)rb->obs_size;
    if (!rb->bytes) {
        memcpy(dst, (const float *)src + (size_t)slot * n, sizeof(float) * n);
        return;
    }
    const unsigned char *s = (const unsigned char *)src + (size_t)slot * n;
    for (size_t i = 0; i < n; i++) dst[i] = s[i] * (1.0f / 255.0f);
}

int rl_replay_push(rl_replay *rb, const float *obs, int action, double reward,
                   const float *next_obs, bool terminal)
{
    if (!rb || !obs || !next_obs) return dc_error("rl_replay_push: NULL argument"), -1;
    if (action < 0) return dc_error("rl_replay_push: action %d must be >= 0", action), -1;
    if (!isfinite(reward)) return dc_error("rl_replay_push: reward %g is not finite", reward), -1;
    int64_t slot = rb->next;
    store(rb, rb->obs, slot, obs);
    store(rb, rb->next_obs, slot, next_obs);
    rb->actions[slot] = action;
    rb->rewards[slot] = (float)reward;
    rb->terminal[slot] = terminal;
    rb->next = (slot + 1) % rb->capacity;
    if (rb->size < rb->capacity) rb->size++;
    return 0;
}

int rl_replay_sample(const rl_replay *rb, int64_t batch, dc_rng *rng, int ndim,
                     const int64_t *obs_shape, rl_batch *out)
{
    if (!rb || !out) return dc_error("rl_replay_sample: NULL argument"), -1;
    if (rb->size < 1) return dc_error("rl_replay_sample: the replay buffer is empty"), -1;
    if (batch < 1) return dc_error("rl_replay_sample: batch %lld must be >= 1", (long long)batch), -1;
    if (ndim < 1 || ndim > 7) return dc_error("rl_replay_sample: ndim %d out of 1 .. 7", ndim), -1;
    int64_t n = 1, shape[8] = {batch};
    for (int d = 0; d < ndim; d++) n *= obs_shape[d], shape[d + 1] = obs_shape[d];
    if (n != rb->obs_size)
        return dc_error("rl_replay_sample: observation shape of %lld values, the buffer holds %lld",
                        (long long)n, (long long)rb->obs_size), -1;
    float *o = malloc(sizeof(float) * (size_t)(batch * n)), *no = malloc(sizeof(float) * (size_t)(batch * n));
    float *r = malloc(sizeof(float) * (size_t)batch), *t = malloc(sizeof(float) * (size_t)batch);
    int64_t *a = malloc(sizeof(int64_t) * (size_t)batch);
    int rc = -1;
    if (!o || !no || !r || !t || !a) {
        dc_error("rl_replay_sample: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < batch; i++) {
        int64_t k = (int64_t)(dc_rng_uniform(rng) * (double)rb->size);
        if (k >= rb->size) k = rb->size - 1;
        load(rb, rb->obs, k, o + i * n);
        load(rb, rb->next_obs, k, no + i * n);
        a[i] = rb->actions[k], r[i] = rb->rewards[k], t[i] = rb->terminal[k] ? 1.0f : 0.0f;
    }
    out->obs = dc_from_buffer(DC_F32, ndim + 1, shape, o);
    out->next_obs = dc_from_buffer(DC_F32, ndim + 1, shape, no);
    out->actions = dc_from_buffer(DC_I64, 1, &batch, a);
    out->rewards = dc_from_buffer(DC_F32, 1, &batch, r);
    out->terminal = dc_from_buffer(DC_F32, 1, &batch, t);
    rc = out->obs && out->next_obs && out->actions && out->rewards && out->terminal ? 0 : -1;
done:
    free(o), free(no), free(r), free(t), free(a);
    return rc;
}

/* ---- Q-networks ---------------------------------------------------------------------------- */

dc_module *rl_mlp_qnet_new(int64_t obs_size, int64_t hidden, int64_t actions, dc_rng *rng)
{
    if (obs_size < 1 || hidden < 1 || actions < 1)
        return dc_error("rl_mlp_qnet_new: sizes %lld, %lld, %lld must be >= 1", (long long)obs_size,
                        (long long)hidden, (long long)actions);
    return dc_sequential_new(5, dc_linear_new(obs_size, hidden, true, rng),
                             dc_activation_new(DC_ACT_RELU, 0),
                             dc_linear_new(hidden, hidden, true, rng),
                             dc_activation_new(DC_ACT_RELU, 0),
                             dc_linear_new(hidden, actions, true, rng));
}

dc_module *rl_conv_qnet_new(int64_t frames, int64_t size, int64_t hidden, int64_t actions,
                            dc_rng *rng)
{
    if (frames < 1 || hidden < 1 || actions < 1 || size < 12)
        return dc_error("rl_conv_qnet_new: frames %lld, hidden %lld, actions %lld must be >= 1 and "
                        "size %lld >= 12", (long long)frames, (long long)hidden, (long long)actions,
                        (long long)size);
    int64_t s1 = (size - 4) / 2 + 1, s2 = (s1 - 3) / 2 + 1;
    return dc_sequential_new(
        8, dc_conv2d_new(frames, 16, 4, 4, DC_CONV2D_OPTS(2, 0, 1, 1), true, rng),
        dc_activation_new(DC_ACT_RELU, 0),
        dc_conv2d_new(16, 32, 3, 3, DC_CONV2D_OPTS(2, 0, 1, 1), true, rng),
        dc_activation_new(DC_ACT_RELU, 0), dc_flatten_new(1, -1),
        dc_linear_new(32 * s2 * s2, hidden, true, rng), dc_activation_new(DC_ACT_RELU, 0),
        dc_linear_new(hidden, actions, true, rng));
}

/* ---- Loss and updates ---------------------------------------------------------------------- */

/* L = mean_i huber_beta(Q(s_i, a_i) - y_i), y_i = r_i + gamma (1 - terminal_i) max_a'
 * Q_target(s'_i, a') (Double DQN: Q_target(s'_i, argmax_a' Q(s'_i, a'))), y computed under
 * no-grad (a constant for the backward pass). */
dc_tensor *rl_dqn_loss(dc_module *online, dc_module *target, const rl_batch *b, double gamma,
                       double beta, bool double_q)
{
    if (!online || !target || !b) return dc_error("rl_dqn_loss: NULL argument");
    if (!(gamma >= 0 && gamma <= 1)) return dc_error("rl_dqn_loss: gamma %g must be in [0, 1]", gamma);
    if (!(beta >= 0)) return dc_error("rl_dqn_loss: huber beta %g must be >= 0", beta);
    dc_tensor *q = dc_forward(online, b->obs);
    if (q && (q->ndim != 2 || !b->actions || b->actions->ndim != 1 || q->shape[0] != b->actions->shape[0]))
        return dc_error("rl_dqn_loss: Q-values of shape %s do not match %lld actions",
                        dc_shape_str(q, (char[64]){0}, 64),
                        b->actions ? (long long)dc_numel(b->actions) : 0LL);
    if (q && b->actions->dtype != DC_I64) return dc_error("rl_dqn_loss: actions must be int64");
    if (q && dc_is_contiguous(b->actions)) {
        int64_t n = dc_numel(b->actions);
        const int64_t *a = dc_data(b->actions);
        for (int64_t i = 0; i < n; i++)
            if (a[i] < 0 || a[i] >= q->shape[1])
                return dc_error("rl_dqn_loss: action %lld of row %lld out of range (0 .. %lld)",
                                (long long)a[i], (long long)i, (long long)q->shape[1] - 1);
    }
    dc_tensor *q_sa = dc_squeeze(dc_gather(q, 1, dc_unsqueeze(b->actions, 1)), 1);
    bool grad = dc_no_grad_begin();
    dc_tensor *q_next = dc_forward(target, b->next_obs), *next_max;
    if (double_q)
        next_max = dc_squeeze(
            dc_gather(q_next, 1, dc_argmax(dc_forward(online, b->next_obs), 1, true)), 1);
    else
        next_max = dc_max(q_next, 1, false);
    dc_tensor *y = dc_add(b->rewards,
                          dc_mul(dc_mul_scalar(dc_rsub_scalar(b->terminal, 1.0), gamma), next_max));
    dc_grad_mode_restore(grad);
    return dc_smooth_l1_loss(q_sa, y, beta, DC_REDUCE_MEAN);
}

int rl_copy_weights(dc_module *dst, const dc_module *src)
{
    dc_tensor_list d = {0}, s = {0};
    int rc = -1;
    if (!dst || !src) {
        dc_error("rl_copy_weights: NULL module");
        goto done;
    }
    if (dc_module_state(dst, &d) != 0 || dc_module_state(src, &s) != 0) goto done;
    if (d.n != s.n) {
        dc_error("rl_copy_weights: %d tensors into %d", s.n, d.n);
        goto done;
    }
    for (int i = 0; i < d.n; i++)
        if (strcmp(d.names[i], s.names[i]) || !dc_same_shape(d.tensors[i], s.tensors[i])) {
            dc_error("rl_copy_weights: %s does not match %s", s.names[i], d.names[i]);
            goto done;
        }
    rc = 0;
    for (int i = 0; i < d.n && rc == 0; i++) rc = dc_copy_(d.tensors[i], s.tensors[i]);
done:
    dc_tensor_list_free(&d);
    dc_tensor_list_free(&s);
    return rc;
}

double rl_epsilon(double start, double end, int64_t decay_steps, int64_t t)
{
    if (decay_steps <= 0 || t >= decay_steps) return end;
    if (t <= 0) return start;
    return start + (end - start) * (double)t / (double)decay_steps;
}

int rl_greedy_actions(const dc_tensor *q, int *actions)
{
    if (!q || q->ndim != 2 || q->shape[1] < 1)
        return dc_error("rl_greedy_actions: Q-values must be [N, actions]"), -1;
    int64_t n = q->shape[0], k = q->shape[1];
    double *v = malloc(sizeof(double) * (size_t)(n * k > 0 ? n * k : 1));
    if (!v) return dc_error("rl_greedy_actions: out of memory"), -1;
    int rc = dc_to_double_buffer(q, v, n * k);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        int best = 0;
        for (int64_t j = 1; j < k; j++)
            if (v[i * k + j] > v[i * k + best]) best = (int)j;
        actions[i] = best;
    }
    free(v);
    return rc;
}

/* ---- Greedy evaluation --------------------------------------------------------------------- */

int rl_evaluate_greedy(dc_module *qnet, rl_env *const *envs, int n, uint64_t seed, double *mean,
                       double *min, double *max)
{
    if (!qnet || !envs || n < 1) return dc_error("rl_evaluate_greedy: no environments"), -1;
    int64_t obs_size = rl_env_obs_size(envs[0]), shape[4];
    int ndim = rl_env_obs_shape(envs[0], shape + 1);
    float *obs = malloc(sizeof(float) * (size_t)(n * obs_size));
    int *running = malloc(sizeof(int) * (size_t)n), *act = malloc(sizeof(int) * (size_t)n);
    int rc = obs && running && act ? 0 : (dc_error("rl_evaluate_greedy: out of memory"), -1);
    int live = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        if (rl_env_obs_size(envs[i]) != obs_size)
            rc = (dc_error("rl_evaluate_greedy: environment %d differs from the first", i), -1);
        else rc = rl_env_reset(envs[i], seed + (uint64_t)i, obs + (size_t)i * obs_size);
        running[live++] = i;
    }
    bool grad = dc_no_grad_begin();
    while (rc == 0 && live > 0) {
        size_t scope = dc_scope_begin();
        shape[0] = live;
        float *batch = malloc(sizeof(float) * (size_t)(live * obs_size));
        if (!batch) rc = (dc_error("rl_evaluate_greedy: out of memory"), -1);
        for (int j = 0; rc == 0 && j < live; j++)
            memcpy(batch + (size_t)j * obs_size, obs + (size_t)running[j] * obs_size,
                   sizeof(float) * (size_t)obs_size);
        dc_tensor *x = rc == 0 ? dc_from_buffer(DC_F32, ndim + 1, shape, batch) : NULL;
        free(batch);
        if (rc == 0) rc = rl_greedy_actions(dc_forward(qnet, x), act);
        int still = 0;
        for (int j = 0; rc == 0 && j < live; j++) {
            int i = running[j];
            bool done;
            rc = rl_env_step(envs[i], act[j], obs + (size_t)i * obs_size, NULL, &done);
            if (!done) running[still++] = i;
        }
        live = still;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc == 0) {
        double sum = 0, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < n; i++) {
            double r = rl_env_return(envs[i]);
            sum += r, lo = r < lo ? r : lo, hi = r > hi ? r : hi;
        }
        if (mean) *mean = sum / n;
        if (min) *min = lo;
        if (max) *max = hi;
    }
    free(obs), free(running), free(act);
    return rc;
}
