/* A DCGAN-style generative adversarial network (issue 15; Goodfellow et al. 2014, Radford et
 * al. 2016) on Fashion-MNIST 28x28 with the non-saturating generator loss:
 *   D step: min  BCE(D(x), 1) + BCE(D(G(z)), 0)       (G(z) detached)
 *   G step: min  BCE(D(G(z)), 1) = -log sigmoid(D(G(z)))
 * D outputs logits; images are in [0, 1] (the generator ends in a sigmoid). Uses only the
 * public headers. */
#ifndef DEEPC_APPS_GAN_H
#define DEEPC_APPS_GAN_H

#include "deepc.h"

/* The GAN as one module with two children:
 *   generator:     z [N, latent] -> fc (latent -> 2w*7*7) -> BatchNorm2d relu ->
 *                  ConvTranspose2d(2w, w, 4, 2, 1) BatchNorm2d relu ->
 *                  ConvTranspose2d(w, 1, 4, 2, 1) sigmoid -> [N, 1, 28, 28]
 *   discriminator: x [N, 1, 28, 28] -> Conv2d(1, w, 4, 2, 1) leaky_relu(0.2) ->
 *                  Conv2d(w, 2w, 4, 2, 1) leaky_relu(0.2) -> fc (2w*7*7 -> 1) = a logit [N]
 * dc_forward(gan, z) = the generator's images. NULL on latent outside [1, 1024] or width
 * outside [1, 512]. The caller frees it. */
dc_module *gan_model_new(int64_t latent, int64_t width, dc_rng *rng);
dc_module *gan_generator(dc_module *gan);
dc_module *gan_discriminator(dc_module *gan);
int64_t gan_latent_dim(const dc_module *gan);
/* Discriminator logits [N] of images x [N, 1, 28, 28]. */
dc_tensor *gan_discriminate(dc_module *gan, dc_tensor *x);
/* n images G(z), z ~ N(0, I) from rng. */
dc_tensor *gan_sample(dc_module *gan, int64_t n, dc_rng *rng);
/* The discriminator loss BCE(D(real), 1) + BCE(D(fake), 0) (means over each batch), with a
 * graph to D only (fake is detached). */
dc_tensor *gan_discriminator_loss(dc_module *gan, dc_tensor *real, dc_tensor *fake);
/* The non-saturating generator loss BCE(D(fake), 1), a graph through D into G. */
dc_tensor *gan_generator_loss(dc_module *gan, dc_tensor *fake);

/* Two Adam optimizers (the generator's and the discriminator's parameters) and one training
 * step of each, as the gan task does. */
typedef struct {
    dc_module *gan; /* borrowed */
    dc_optimizer *g_opt, *d_opt;
} gan_trainer;
/* Adam(lr, betas (beta1, 0.999)) for each network. Returns 0 or -1. */
int gan_trainer_init(gan_trainer *t, dc_module *gan, double g_lr, double d_lr, double beta1);
void gan_trainer_free(gan_trainer *t);
/* One D update on real [N, 1, 28, 28] and G(z) (z drawn from rng), then one G update on new
 * G(z). update_g / update_d false skip that network's update (for tests that train one
 * side against a fixed other). The losses before the updates go to *d_loss, *g_loss. */
int gan_train_step(gan_trainer *t, dc_tensor *real, dc_rng *rng, bool update_d, bool update_g,
                   double *d_loss, double *g_loss);

/* The `deepc train --task gan` entry (gan_task.c; updates_itself): the losses, D's outputs and
 * (with the classifier file of apps/fid) the Fréchet distance of samples; a sample grid and
 * an SVG of the losses over training. */
extern const dc_task gan_task;

#endif
