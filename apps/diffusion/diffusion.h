/* Denoising diffusion (book §7.2; issue 15): DDPM noise schedules (linear, cosine), the
 * forward process q(x_t | x_0), an epsilon-predicting U-Net (sinusoidal time embedding,
 * residual blocks with group norm, self-attention at the lowest resolution, optional class
 * conditioning with classifier-free guidance), ancestral DDPM and DDIM samplers, and the
 * syllabus's toy diffusion on 2-D point clouds (an MLP denoiser). Public headers only.
 *
 * Conventions (Ho et al. 2020): timesteps t = 0 .. T-1 index beta[t]; x_t is the image after
 * t + 1 noising steps, alpha_bar[t] = prod_{s <= t} (1 - beta[s]), and "t = -1" means x_0
 * (alpha_bar = 1). Images live in [-1, 1] inside the model (diffusion_to_model maps the
 * [0, 1] pixels of the datasets). */
#ifndef DEEPC_APPS_DIFFUSION_H
#define DEEPC_APPS_DIFFUSION_H

#include "deepc.h"

/* ---- Noise schedules (schedule.c) ----------------------------------------------------------- */

typedef enum {
    DIFFUSION_LINEAR, /* beta linear from 1e-4 to 0.02 (x 1000 / T) */
    DIFFUSION_COSINE  /* Nichol & Dhariwal: alpha_bar(t) = f(t) / f(0), f = cos^2(((t/T + s) /
                         (1 + s)) pi / 2), s = 0.008, beta clipped to 0.999 */
} diffusion_schedule_kind;

typedef struct {
    int64_t T;
    diffusion_schedule_kind kind;
    double *beta, *alpha, *alpha_bar; /* [T] each (malloc'ed; diffusion_schedule_free) */
} diffusion_schedule;

/* Fill s for T steps (1 .. 100000). Returns 0, or -1 with an error (s zeroed). */
int diffusion_schedule_init(diffusion_schedule *s, diffusion_schedule_kind kind, int64_t T);
void diffusion_schedule_free(diffusion_schedule *s);
/* alpha_bar[t] for t in [0, T), 1 for t = -1 (x_0), NaN otherwise. */
double diffusion_alpha_bar(const diffusion_schedule *s, int64_t t);

/* q(x_t | x_0) in closed form: sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) noise, with one
 * t per sample: t is I64 [N] (values in [0, T)), x0 and noise [N, ...] of one shape. */
dc_tensor *diffusion_q_sample(const diffusion_schedule *s, dc_tensor *x0, dc_tensor *t,
                              dc_tensor *noise);
/* One forward step q(x_t | x_{t-1}): sqrt(1 - beta[t]) x_prev + sqrt(beta[t]) noise (same t
 * for the whole batch). */
dc_tensor *diffusion_q_step(const diffusion_schedule *s, dc_tensor *x_prev, int64_t t,
                            dc_tensor *noise);

/* One DDIM update (Song et al. 2021) from x_t to x_{t_next} given the predicted noise eps:
 * x0' = (x_t - sqrt(1 - ab_t) eps) / sqrt(ab_t) (clamped to [-1, 1] when clip), then
 * x_next = sqrt(ab_next) x0' + sqrt(1 - ab_next - sigma^2) eps + sigma z, with
 * sigma = eta sqrt((1 - ab_next) / (1 - ab_t) (1 - ab_t / ab_next)), z ~ N(0, 1) from rng.
 * t in [0, T), t_next in [-1, T) (t_next > t with eta = 0 runs the deterministic ODE
 * backwards: DDIM inversion). eta = 1 with t_next = t - 1 is DDPM's posterior. */
dc_tensor *diffusion_ddim_step(const diffusion_schedule *s, dc_tensor *x_t, dc_tensor *eps,
                               int64_t t, int64_t t_next, double eta, bool clip, dc_rng *rng);

/* The noise predictor a sampler calls: eps(x_t, t) for the whole batch at timestep t. */
typedef dc_tensor *(*diffusion_eps_fn)(void *ctx, dc_tensor *x_t, int64_t t);

typedef struct {
    int64_t steps;   /* 0 or T with ddim false: the full ancestral DDPM chain; else DDIM on
                        `steps` evenly spaced timesteps (1 .. T) */
    bool ddim;       /* DDIM (eta below) instead of ancestral DDPM */
    double eta;      /* DDIM's stochasticity (0: deterministic) */
    bool clip;       /* clamp the predicted x0 to [-1, 1] at every step */
    int64_t snapshots;       /* > 0: keep this many states of sample 0 along the way ... */
    dc_tensor **trajectory;  /* ... returned here as [snapshots, C, H...] (x_T first, the
                                final sample last), owned like the result */
} diffusion_sampler_opts;

/* Run a sampler from x_T = N(0, 1) of `shape` (ndim dims) drawn from rng. Returns x_0 (under
 * no-grad), or NULL with an error. */
dc_tensor *diffusion_sample(const diffusion_schedule *s, int ndim, const int64_t *shape,
                            diffusion_eps_fn eps, void *ctx, const diffusion_sampler_opts *o,
                            dc_rng *rng);

/* ---- The U-Net (unet.c) --------------------------------------------------------------------- */

typedef struct {
    int64_t channels;  /* image channels (1) */
    int64_t width;     /* channels at full resolution; 2 * width at 1/2 and 1/4 (divisible
                          by 8: group norm with 8 groups) */
    int64_t n_classes; /* > 0: class-conditional, with one extra "no class" id n_classes for
                          classifier-free guidance; 0: unconditional */
} diffusion_unet_config;

/* eps-prediction U-Net for [N, channels, H, W] (H, W divisible by 4):
 *   time: sinusoidal(t, width) -> Linear(4w) -> SiLU -> Linear(4w) (+ class embedding)
 *   conv_in 3x3 -> res(w) [skip0] -> conv s2 -> res(2w) [skip1] -> conv s2 ->
 *   res(2w) -> self-attention -> res(2w) -> up x2 -> res(cat skip1) -> up x2 ->
 *   res(cat skip0) -> GroupNorm -> SiLU -> conv 3x3 -> eps
 * A residual block: x + conv(SiLU(GN(conv(SiLU(GN(x))) + Linear(SiLU(temb))))) (1x1 conv on
 * the shortcut when the channels change). The caller frees it (dc_module_free). */
dc_module *diffusion_unet_new(const diffusion_unet_config *cfg, dc_rng *rng);
/* eps for x_t [N, C, H, W] at timesteps t (I64 [N]) with class ids labels (I64 [N], values in
 * [0, n_classes], n_classes = no class; NULL: no class; must be NULL for an unconditional
 * net). */
dc_tensor *diffusion_unet_forward(dc_module *unet, dc_tensor *x_t, dc_tensor *t,
                                  dc_tensor *labels);
/* The sinusoidal embedding of timesteps t (I64 [N]): [N, dim] (dim even) with
 * emb[:, k] = sin(t f_k), emb[:, dim/2 + k] = cos(t f_k), f_k = 10000^(-k / (dim/2)). */
dc_tensor *diffusion_time_embedding(dc_tensor *t, int64_t dim);

/* The training loss of a batch x0 [N, C, H, W] in [-1, 1]: t uniform in [0, T), noise
 * N(0, 1), mean squared error between the noise and diffusion_unet_forward(x_t, t, labels)
 * (labels replaced by the no-class id with probability p_uncond; labels NULL: unconditional).
 * Everything is drawn from rng. */
dc_tensor *diffusion_loss(dc_module *unet, const diffusion_schedule *s, dc_tensor *x0,
                          dc_tensor *labels, double p_uncond, dc_rng *rng);

/* [0, 1] pixels -> [-1, 1] and back (clamped). */
dc_tensor *diffusion_to_model(dc_tensor *pixels);
dc_tensor *diffusion_to_pixels(dc_tensor *x);

/* n samples of a trained U-Net as [n, C, H, W] pixels in [0, 1], for pictures and scores:
 * DDIM with stochasticity eta (0: deterministic; 1: DDPM-like noise) on `steps` steps (0: 50;
 * steps >= T: the full ancestral DDPM chain), x0 clipped; a
 * class-conditional net draws class i % n_classes for sample i with guidance scale w
 * (eps = eps_uncond + w (eps_cond - eps_uncond); w = 1: plain conditional). trajectory
 * (nullable) gets `snapshots` states of sample 0 as pixels. */
dc_tensor *diffusion_generate(dc_module *unet, const diffusion_schedule *s, int64_t n,
                              int64_t H, int64_t W, int64_t steps, double eta, double guidance,
                              uint64_t seed,
                              int64_t snapshots, dc_tensor **trajectory);

/* ---- Toy diffusion on points (toy.c; the syllabus's 2-D practical) ----------------------- */

/* n points [n, 2] of two interleaved half circles (scikit-learn's make_moons, standardised
 * roughly to unit scale) with Gaussian noise of std `noise`. */
dc_tensor *diffusion_two_moons(int64_t n, double noise, dc_rng *rng);
/* n points [n, 2] of a mixture of k Gaussians (std `std`) centred on a circle of radius 2. */
dc_tensor *diffusion_gaussian_mixture(int64_t n, int64_t k, double std, dc_rng *rng);
/* eps-predicting MLP for points [N, dim]: cat(x, sinusoidal(t, 32)) -> hidden -> SiLU ->
 * hidden -> SiLU -> hidden -> SiLU -> dim. */
dc_module *diffusion_mlp_new(int64_t dim, int64_t hidden, dc_rng *rng);
dc_tensor *diffusion_mlp_forward(dc_module *mlp, dc_tensor *x_t, dc_tensor *t);
/* The same loss as diffusion_loss for the MLP on points x0 [N, dim]. */
dc_tensor *diffusion_mlp_loss(dc_module *mlp, const diffusion_schedule *s, dc_tensor *x0,
                              dc_rng *rng);
/* A scatter plot PNG of two point sets [n, 2] side by side (left: data, blue; right:
 * samples, red) over the square [-lim, lim]^2, size pixels per panel. */
int diffusion_scatter_png(const char *path, dc_tensor *data, dc_tensor *samples, double lim,
                          int64_t size);

/* ---- The task (diffusion_task.c) ------------------------------------------------------------ */

/* `deepc train --task diffusion`: DDPM on Fashion-MNIST (class-conditional by default),
 * validation denoising loss, sample grids and a trajectory; `deepc generate` draws grids. */
extern const dc_task diffusion_task;

#endif
