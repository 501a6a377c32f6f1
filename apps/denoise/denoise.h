/* Denoising (book §6.1; issue 13): a convolutional autoencoder and a U-Net that remove
 * Gaussian noise from [0, 1] images, and the PSNR metric. Uses only the public headers. */
#ifndef DEEPC_APPS_DENOISE_H
#define DEEPC_APPS_DENOISE_H

#include "deepc.h"

typedef enum {
    DENOISE_AUTOENCODER, /* conv encoder (two stride-2 convs) -> transposed-conv decoder */
    DENOISE_UNET         /* the same plus skip connections (concatenation) at 1/1 and 1/2 */
} denoise_arch;

/* A denoiser for [N, 1, H, W] images (H, W divisible by 4) -> [N, 1, H, W] in (0, 1)
 * (sigmoid output); `width` channels at full resolution, 2 * width below. The caller owns
 * the module (dc_module_free). NULL on a bad width (1 .. 512). */
dc_module *denoise_model_new(denoise_arch arch, int64_t width, dc_rng *rng);

/* clean + sigma * N(0, 1) (not clipped), a new tensor of clean's shape. */
dc_tensor *denoise_add_noise(dc_tensor *clean, double sigma, dc_rng *rng);

/* Random masking: each pixel of clean set to 0 with probability `fraction` in [0, 1), a new
 * tensor of clean's shape. */
dc_tensor *denoise_add_mask(dc_tensor *clean, double fraction, dc_rng *rng);

/* The `deepc train --task denoise` entry (denoise_task.c): Fashion-MNIST with Gaussian noise
 * and/or random masking, an autoencoder or a U-Net, test PSNR and a PNG grid. */
extern const dc_task denoise_task;

/* Peak signal-to-noise ratio in dB, 10 log10(max_value^2 / MSE), computed per image of
 * [N, ...] and averaged over the N images (an image reproduced exactly counts as 100 dB).
 * Shapes must match; NAN with an error otherwise. */
double denoise_psnr(const dc_tensor *reference, const dc_tensor *estimate, double max_value);

#endif
