/* The toy diffusion on 2-D point clouds (see diffusion.h): data, the MLP denoiser, the
 * scatter plot. */
#include "diffusion/diffusion.h"

#include <math.h>
#include <stdlib.h>

static const double PI = 3.14159265358979323846;
enum { TOY_TEMB = 32 };

/* [n, 2] from a malloc'ed buffer (freed). */
static dc_tensor *points(float *p, int64_t n)
{
    dc_tensor *t = p ? dc_from_buffer(DC_F32, 2, (int64_t[]){n, 2}, p) : dc_error("out of memory");
    free(p);
    return t;
}

static double gauss(dc_rng *rng)
{
    double u = dc_rng_uniform(rng), v = dc_rng_uniform(rng);
    return sqrt(-2 * log(1 - u)) * cos(2 * PI * v);
}

dc_tensor *diffusion_two_moons(int64_t n, double noise, dc_rng *rng)
{
    if (n < 1 || n > 10000000) return dc_error("diffusion_two_moons: n = %lld must be >= 1", (long long)n);
    if (!(noise >= 0)) return dc_error("diffusion_two_moons: noise must be >= 0, got %g", noise);
    float *p = malloc((size_t)(2 * n) * sizeof *p);
    for (int64_t i = 0; p && i < n; i++) {
        double th = PI * dc_rng_uniform(rng), x, y;
        if (i % 2 == 0) x = cos(th), y = sin(th);     /* upper moon */
        else x = 1 - cos(th), y = 0.5 - sin(th);      /* lower moon */
        /* centre (0.5, 0.25) and scale to about unit spread */
        p[2 * i] = (float)(1.2 * (x - 0.5 + noise * gauss(rng)));
        p[2 * i + 1] = (float)(1.2 * (y - 0.25 + noise * gauss(rng)) * 1.6);
    }
    return points(p, n);
}

dc_tensor *diffusion_gaussian_mixture(int64_t n, int64_t k, double std, dc_rng *rng)
{
    if (n < 1 || n > 10000000 || k < 1 || k > 1000)
        return dc_error("diffusion_gaussian_mixture: n = %lld and k = %lld must be >= 1", (long long)n,
                        (long long)k);
    if (!(std >= 0)) return dc_error("diffusion_gaussian_mixture: std must be >= 0, got %g", std);
    float *p = malloc((size_t)(2 * n) * sizeof *p);
    for (int64_t i = 0; p && i < n; i++) {
        int64_t c = (int64_t)(dc_rng_u64(rng) % (uint64_t)k);
        double a = 2 * PI * (double)c / (double)k;
        p[2 * i] = (float)(2 * cos(a) + std * gauss(rng));
        p[2 * i + 1] = (float)(2 * sin(a) + std * gauss(rng));
    }
    return points(p, n);
}

typedef struct {
    int64_t dim;
} mlp_impl;

dc_module *diffusion_mlp_new(int64_t dim, int64_t hidden, dc_rng *rng)
{
    if (dim < 1 || dim > 4096 || hidden < 1 || hidden > 65536)
        return dc_error("diffusion_mlp_new: dim %lld and hidden %lld must be positive", (long long)dim,
                        (long long)hidden);
    mlp_impl impl = {dim};
    dc_module *m = dc_module_new_impl("DiffusionMLP", &impl, sizeof impl);
    if (!m) return NULL;
    bool ok = dc_module_add_child(m, "fc1", dc_linear_new(dim + TOY_TEMB, hidden, true, rng)) &&
              dc_module_add_child(m, "fc2", dc_linear_new(hidden, hidden, true, rng)) &&
              dc_module_add_child(m, "fc3", dc_linear_new(hidden, hidden, true, rng)) &&
              dc_module_add_child(m, "out", dc_linear_new(hidden, dim, true, rng));
    if (!ok) dc_module_free(m);
    return ok ? m : NULL;
}

dc_tensor *diffusion_mlp_forward(dc_module *m, dc_tensor *x, dc_tensor *t)
{
    char a[96];
    if (!m || !x || !t) return dc_error("diffusion_mlp_forward: NULL input");
    if (!m->impl || !dc_module_child(m, "fc3")) return dc_error("diffusion_mlp_forward: not a diffusion MLP");
    int64_t dim = ((mlp_impl *)m->impl)->dim;
    if (x->ndim != 2 || x->shape[1] != dim)
        return dc_error("diffusion_mlp_forward: x must be [N, %lld], got %s", (long long)dim,
                        dc_shape_str(x, a, sizeof a));
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_cat((dc_tensor *[]){x, diffusion_time_embedding(t, TOY_TEMB)}, 2, 1);
    h = dc_silu(dc_forward(dc_module_child(m, "fc1"), h));
    h = dc_silu(dc_forward(dc_module_child(m, "fc2"), h));
    h = dc_silu(dc_forward(dc_module_child(m, "fc3"), h));
    h = dc_forward(dc_module_child(m, "out"), h);
    if (!h) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, h);
}

dc_tensor *diffusion_mlp_loss(dc_module *mlp, const diffusion_schedule *s, dc_tensor *x0, dc_rng *rng)
{
    if (!mlp || !x0) return dc_error("diffusion_mlp_loss: NULL input");
    if (!s || !s->alpha_bar) return dc_error("diffusion_mlp_loss: schedule is NULL");
    if (x0->ndim != 2 || x0->shape[0] < 1) return dc_error("diffusion_mlp_loss: x0 must be [N, dim]");
    int64_t n = x0->shape[0];
    int64_t *tv = malloc((size_t)n * sizeof *tv);
    if (!tv) return dc_error("diffusion_mlp_loss: out of memory");
    for (int64_t i = 0; i < n; i++) tv[i] = (int64_t)(dc_rng_u64(rng) % (uint64_t)s->T);
    size_t scope = dc_scope_begin();
    dc_tensor *t = dc_from_buffer(DC_I64, 1, &n, tv);
    free(tv);
    dc_tensor *noise = dc_randn(rng, x0->dtype, 2, x0->shape);
    dc_tensor *loss = dc_mse_loss(diffusion_mlp_forward(mlp, diffusion_q_sample(s, x0, t, noise), t),
                                  noise, DC_REDUCE_MEAN);
    if (!loss) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, loss);
}

/* Dots of 3 x 3 pixels in colour (r, g, b) into the [3, H, W] buffer img, panel at x offset ox. */
static int draw(float *img, int64_t H, int64_t W, int64_t ox, int64_t size, dc_tensor *pts,
                double lim, const float rgb[3])
{
    int64_t n = pts->shape[0];
    double *p = malloc((size_t)(2 * n + 1) * sizeof *p);
    if (!p) return dc_error("diffusion_scatter_png: out of memory"), -1;
    if (dc_to_double_buffer(pts, p, 2 * n) != 0) return free(p), -1;
    for (int64_t i = 0; i < n; i++) {
        double u = (p[2 * i] + lim) / (2 * lim), v = (lim - p[2 * i + 1]) / (2 * lim);
        if (!(u >= 0 && u < 1 && v >= 0 && v < 1)) continue;
        int64_t cx = ox + (int64_t)(u * (double)size), cy = (int64_t)(v * (double)size);
        for (int64_t dy = -1; dy <= 1; dy++)
            for (int64_t dx = -1; dx <= 1; dx++) {
                int64_t y = cy + dy, x = cx + dx;
                if (y < 0 || y >= H || x < ox || x >= ox + size || x >= W) continue;
                for (int c = 0; c < 3; c++) img[(c * H + y) * W + x] = rgb[c];
            }
    }
    free(p);
    return 0;
}

int diffusion_scatter_png(const char *path, dc_tensor *data, dc_tensor *samples, double lim, int64_t size)
{
    char a[96], b[96];
    if (!path || !data || !samples) return dc_error("diffusion_scatter_png: NULL argument"), -1;
    if (data->ndim != 2 || data->shape[1] != 2 || samples->ndim != 2 || samples->shape[1] != 2)
        return dc_error("diffusion_scatter_png: points must be [n, 2], got %s and %s",
                        dc_shape_str(data, a, sizeof a), dc_shape_str(samples, b, sizeof b)),
               -1;
    if (!(lim > 0) || size < 16 || size > 4096)
        return dc_error("diffusion_scatter_png: lim %g must be > 0 and size %lld in [16, 4096]", lim,
                        (long long)size),
               -1;
    int64_t gap = 8, H = size, W = 2 * size + gap;
    float *img = malloc((size_t)(3 * H * W) * sizeof *img);
    if (!img) return dc_error("diffusion_scatter_png: out of memory"), -1;
    for (int64_t i = 0; i < 3 * H * W; i++) img[i] = 1.0f;
    /* a light grid line through the origin of each panel, a gray gap between them */
    for (int64_t p = 0; p < 2; p++)
        for (int64_t k = 0; k < size; k++)
            for (int c = 0; c < 3; c++) {
                img[(c * H + size / 2) * W + p * (size + gap) + k] = 0.85f;
                img[(c * H + k) * W + p * (size + gap) + size / 2] = 0.85f;
            }
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = size; x < size + gap; x++)
            for (int c = 0; c < 3; c++) img[(c * H + y) * W + x] = 0.6f;
    static const float blue[3] = {0.12f, 0.47f, 0.71f}, red[3] = {0.84f, 0.15f, 0.16f};
    int rc = draw(img, H, W, 0, size, data, lim, blue);
    if (rc == 0) rc = draw(img, H, W, size + gap, size, samples, lim, red);
    if (rc == 0) {
        size_t scope = dc_scope_begin();
        rc = dc_png_write(path, dc_from_buffer(DC_F32, 3, (int64_t[]){3, H, W}, img));
        dc_scope_end(scope);
    }
    free(img);
    return rc;
}
