/* Variational autoencoder (issue 15; Kingma & Welling 2014) on Fashion-MNIST: an MLP encoder
 * to (mu, log sigma^2) of a diagonal Gaussian q(z | x), the reparameterisation
 * z = mu + sigma * eps, an MLP decoder to Bernoulli pixel logits, and the negative ELBO
 *   -ELBO(x) = sum_pixels BCE(decoder(z), x) + KL(q(z | x) || N(0, I))
 * in nats per image. Uses only the public headers. */
#ifndef DEEPC_APPS_VAE_H
#define DEEPC_APPS_VAE_H

#include "deepc.h"

/* A VAE for images [N, 1, 28, 28] in [0, 1]: enc (784 -> hidden, relu), mu and logvar
 * (hidden -> latent), dec1 (latent -> hidden, relu), dec2 (hidden -> 784, pixel logits).
 * dc_forward(m, x) is the reconstruction sigmoid(decoder(mu(x))) [N, 1, 28, 28] (no noise).
 * NULL on hidden outside [1, 4096] or latent outside [1, 512]. The caller frees it. */
dc_module *vae_model_new(int64_t hidden, int64_t latent, dc_rng *rng);
/* The latent size of a model from vae_model_new. */
int64_t vae_latent_dim(const dc_module *vae);
/* q(z | x): *mu and *logvar [N, latent] of images x [N, 1, 28, 28]. Returns 0 or -1. */
int vae_encode(dc_module *vae, dc_tensor *x, dc_tensor **mu, dc_tensor **logvar);
/* Pixel logits [N, 1, 28, 28] of latents z [N, latent]; sigmoid of them = the images. */
dc_tensor *vae_decode_logits(dc_module *vae, dc_tensor *z);
/* Images sigmoid(vae_decode_logits(z)) in (0, 1). */
dc_tensor *vae_decode(dc_module *vae, dc_tensor *z);
/* z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) drawn from rng (differentiable in mu and
 * logvar). */
dc_tensor *vae_reparameterize(dc_tensor *mu, dc_tensor *logvar, dc_rng *rng);
/* The batch mean of beta * KL + reconstruction BCE summed over pixels (beta = 1: the negative
 * ELBO, nats per image), with one z drawn per image from rng; *recon and *kl (nullable) get
 * the two terms' batch means. */
dc_tensor *vae_loss(dc_module *vae, dc_tensor *x, double beta, dc_rng *rng, double *recon,
                    double *kl);
/* n images decoded from z ~ N(0, I) drawn from rng: [n, 1, 28, 28]. */
dc_tensor *vae_sample(dc_module *vae, int64_t n, dc_rng *rng);
/* The 2-D latent map of a VAE with latent 2: the decoded images of a side x side grid of
 * z = (z0, z1) evenly spaced over [-span, span]^2 (row i: z1 from +span down to -span;
 * column j: z0 from -span to +span), as [side * side, 1, 28, 28] in row order. */
dc_tensor *vae_latent_map(dc_module *vae, int side, double span);

/* The `deepc train --task vae` entry (vae_task.c): Fashion-MNIST, negative ELBO (val/test),
 * pictures of samples, reconstructions and (latent 2) the latent map. */
extern const dc_task vae_task;

#endif
