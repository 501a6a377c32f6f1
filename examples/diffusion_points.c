/* Toy diffusion on 2-D point clouds (the syllabus's practical; apps/diffusion): an MLP
 * predicts the noise of points diffused with a T = 200 linear schedule; it is trained on two
 * moons and on a mixture of 8 Gaussians, then 2000 points are drawn with the full DDPM chain
 * and plotted next to 2000 data points.
 *   build/examples/diffusion_points [--steps N] [--out-dir DIR] [--threads T]
 * Defaults: 3000 steps of 256 points (Adam 2e-3), docs/images (diffusion_moons.png,
 * diffusion_gmm.png). Prints, for the mixture, the share of samples within 3 std of a
 * centre (of the data: 99%). */
#include "deepc.h"
#include "diffusion/diffusion.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dc_tensor *mlp_eps(void *ctx, dc_tensor *x, int64_t t)
{
    int64_t n = x->shape[0];
    return diffusion_mlp_forward(ctx, x, dc_full(DC_I64, 1, &n, (double)t));
}

/* Share of the points within r of one of the k centres on the circle of radius 2. */
static double near_centres(dc_tensor *pts, int k, double r)
{
    int64_t n = pts->shape[0], hit = 0;
    double *p = malloc((size_t)(2 * n) * sizeof *p);
    if (!p || dc_to_double_buffer(pts, p, 2 * n) != 0) return free(p), NAN;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            double a = 2 * 3.14159265358979323846 * c / k;
            if (hypot(p[2 * i] - 2 * cos(a), p[2 * i + 1] - 2 * sin(a)) < r) {
                hit++;
                break;
            }
        }
    free(p);
    return (double)hit / (double)n;
}

static int run(const char *name, bool moons, int64_t steps, const char *dir)
{
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    diffusion_schedule s;
    if (diffusion_schedule_init(&s, DIFFUSION_LINEAR, 200) != 0) return -1;
    dc_module *mlp = diffusion_mlp_new(2, 128, &rng);
    dc_tensor_list params;
    if (!mlp || dc_module_parameters(mlp, &params) != 0) return -1;
    dc_optim_config oc = dc_optim_defaults(DC_ADAM, 2e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &oc);
    double avg = 0;
    for (int64_t i = 0; opt && i < steps; i++) {
        size_t scope = dc_scope_begin();
        dc_tensor *x = moons ? diffusion_two_moons(256, 0.05, &rng) : diffusion_gaussian_mixture(256, 8, 0.1, &rng);
        /* cosine decay of the learning rate to 0 */
        dc_optimizer_set_lr(opt, 2e-3 * 0.5 * (1 + cos(3.14159265358979323846 * (double)i / (double)steps)));
        dc_tensor *loss = diffusion_mlp_loss(mlp, &s, x, &rng);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) return -1;
        dc_optimizer_zero_grad(opt);
        avg = i ? 0.99 * avg + 0.01 * dc_item(loss) : dc_item(loss);
        if ((i + 1) % 1000 == 0) printf("%s: step %lld loss %.4f\n", name, (long long)(i + 1), avg);
        dc_scope_end(scope);
    }
    size_t scope = dc_scope_begin();
    dc_tensor *data = moons ? diffusion_two_moons(2000, 0.05, &rng) : diffusion_gaussian_mixture(2000, 8, 0.1, &rng);
    diffusion_sampler_opts o = {0, false, 0, false, 0, NULL};
    dc_tensor *samples = diffusion_sample(&s, 2, (int64_t[]){2000, 2}, mlp_eps, mlp, &o, &rng);
    char path[4200];
    snprintf(path, sizeof path, "%s/diffusion_%s.png", dir, name);
    int rc = samples ? diffusion_scatter_png(path, data, samples, 3.0, 320) : -1;
    if (rc == 0) printf("wrote %s (left: data, right: 2000 samples, 200 DDPM steps)\n", path);
    if (rc == 0 && !moons)
        printf("gmm: within 0.3 of a centre: data %.1f%%, samples %.1f%%\n", 100 * near_centres(data, 8, 0.3),
               100 * near_centres(samples, 8, 0.3));
    dc_scope_end(scope);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(mlp);
    diffusion_schedule_free(&s);
    return rc;
}

int main(int argc, char **argv)
{
    int64_t steps = 3000;
    const char *dir = "docs/images";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--steps")) steps = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--out-dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else {
            fprintf(stderr, "diffusion_points: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (run("moons", true, steps, dir) != 0 || run("gmm", false, steps, dir) != 0) {
        fprintf(stderr, "diffusion_points: %s\n", dc_last_error());
        return 1;
    }
    return 0;
}
