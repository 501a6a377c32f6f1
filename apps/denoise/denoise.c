/* Denoisers and PSNR (see denoise.h). */
#include "denoise/denoise.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    denoise_arch arch;
} denoise_impl;

static dc_module *conv3(int64_t in, int64_t out, int stride, dc_rng *rng)
{
    return dc_conv2d_new(in, out, 3, 3, DC_CONV2D_OPTS(stride, 1, 1, 1), true, rng);
}

/* [N, C, H, W] -> [N, C', 2H, 2W]: ConvTranspose2d(kernel 4, stride 2, padding 1) */
static dc_module *up(int64_t in, int64_t out, dc_rng *rng)
{
    return dc_conv_transpose2d_new(in, out, 4, 4, DC_CONV_TRANSPOSE2D_OPTS(2, 1, 0, 1, 1), true,
                                   rng);
}

static dc_tensor *child(dc_module *m, const char *name, dc_tensor *x)
{
    return dc_relu(dc_forward(dc_module_child(m, name), x));
}

/* Autoencoder: e1 = relu(conv(x)), e2 = relu(conv_s2(e1)), b = relu(conv_s2(e2)),
 * d2 = relu(up(b)), d1 = relu(up(d2)), y = sigmoid(conv1x1(d1)).
 * U-Net: d2 = relu(conv(cat(relu(up(b)), e2))), d1 = relu(conv(cat(relu(up(d2)), e1))). */
static dc_tensor *denoise_forward(dc_module *m, dc_tensor *x)
{
    const denoise_impl *impl = m->impl;
    size_t scope = dc_scope_begin();
    dc_tensor *e1 = child(m, "enc1", x);
    dc_tensor *e2 = child(m, "enc2", e1);
    dc_tensor *b = child(m, "bottleneck", e2);
    dc_tensor *d2 = child(m, "up2", b);
    if (impl->arch == DENOISE_UNET) d2 = child(m, "dec2", dc_cat((dc_tensor *[]){d2, e2}, 2, 1));
    dc_tensor *d1 = child(m, "up1", d2);
    if (impl->arch == DENOISE_UNET) d1 = child(m, "dec1", dc_cat((dc_tensor *[]){d1, e1}, 2, 1));
    dc_tensor *y = dc_sigmoid(dc_forward(dc_module_child(m, "out"), d1));
    return dc_scope_return(scope, y);
}

dc_module *denoise_model_new(denoise_arch arch, int64_t width, dc_rng *rng)
{
    if (width < 1 || width > 512)
        return dc_error("denoise_model_new: width %lld must be in [1, 512]", (long long)width);
    if (arch != DENOISE_AUTOENCODER && arch != DENOISE_UNET)
        return dc_error("denoise_model_new: unknown architecture %d", (int)arch);
    denoise_impl impl = {arch};
    dc_module *m = dc_module_new_impl(arch == DENOISE_UNET ? "DenoiseUNet" : "DenoiseAutoencoder",
                                      &impl, sizeof impl);
    if (!m) return NULL;
    m->forward = denoise_forward;
    int64_t w = width, w2 = 2 * width;
    bool ok = dc_module_add_child(m, "enc1", conv3(1, w, 1, rng)) &&
              dc_module_add_child(m, "enc2", conv3(w, w2, 2, rng)) &&
              dc_module_add_child(m, "bottleneck", conv3(w2, w2, 2, rng)) &&
              dc_module_add_child(m, "up2", up(w2, w2, rng)) &&
              (arch != DENOISE_UNET || dc_module_add_child(m, "dec2", conv3(2 * w2, w2, 1, rng))) &&
              dc_module_add_child(m, "up1", up(w2, w, rng)) &&
              (arch != DENOISE_UNET || dc_module_add_child(m, "dec1", conv3(2 * w, w, 1, rng))) &&
              dc_module_add_child(m, "out", dc_conv2d_new(w, 1, 1, 1, DC_CONV2D_DEFAULTS, true, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

dc_tensor *denoise_add_noise(dc_tensor *clean, double sigma, dc_rng *rng)
{
    if (!clean) return dc_error("denoise_add_noise: input 'clean' is NULL");
    if (!(sigma >= 0)) return dc_error("denoise_add_noise: sigma must be >= 0, got %g", sigma);
    size_t scope = dc_scope_begin();
    dc_tensor *noise = dc_randn(rng, clean->dtype, clean->ndim, clean->shape);
    return dc_scope_return(scope, dc_add(clean, dc_mul_scalar(noise, sigma)));
}

dc_tensor *denoise_add_mask(dc_tensor *clean, double fraction, dc_rng *rng)
{
    if (!clean) return dc_error("denoise_add_mask: input 'clean' is NULL");
    if (!(fraction >= 0 && fraction < 1))
        return dc_error("denoise_add_mask: fraction must be in [0, 1), got %g", fraction);
    size_t scope = dc_scope_begin();
    dc_tensor *keep = dc_bernoulli(rng, clean->dtype, clean->ndim, clean->shape, 1 - fraction);
    return dc_scope_return(scope, dc_mul(clean, keep));
}

double denoise_psnr(const dc_tensor *reference, const dc_tensor *estimate, double max_value)
{
    char a[96], b[96];
    if (!reference || !estimate) return dc_error("denoise_psnr: NULL input"), NAN;
    if (!dc_same_shape(reference, estimate) || reference->ndim < 1 || reference->shape[0] < 1)
        return dc_error("denoise_psnr: shapes %s and %s must be equal [N, ...] with N >= 1",
                        dc_shape_str(reference, a, sizeof a), dc_shape_str(estimate, b, sizeof b)),
               NAN;
    if (!(max_value > 0)) return dc_error("denoise_psnr: max_value must be > 0"), NAN;
    int64_t n = dc_numel(reference), per = n / reference->shape[0];
    double *r = malloc((size_t)(n + 1) * sizeof *r), *e = malloc((size_t)(n + 1) * sizeof *e);
    double total = NAN;
    if (r && e && dc_to_double_buffer(reference, r, n) == 0 && dc_to_double_buffer(estimate, e, n) == 0) {
        total = 0;
        for (int64_t i = 0; i < reference->shape[0]; i++) {
            double se = 0;
            for (int64_t k = i * per; k < (i + 1) * per; k++) se += (r[k] - e[k]) * (r[k] - e[k]);
            double mse = per ? se / (double)per : 0;
            total += mse > 0 ? 10 * log10(max_value * max_value / mse) : 100.0;
        }
        total /= (double)reference->shape[0];
    } else if (!r || !e) {
        dc_error("denoise_psnr: out of memory");
    }
    free(r);
    free(e);
    return total;
}
