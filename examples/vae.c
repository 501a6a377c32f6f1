/* A variational autoencoder on Fashion-MNIST (apps/vae): trains the MLP VAE for a time budget
 * with Adam, prints the test negative ELBO (nats per image), scores 2000 samples with the
 * classifier-feature Fréchet distance of apps/fid (when the classifier file is there), and
 * writes PNGs: samples, reconstructions and, with --latent 2, the 2-D latent map.
 *   build/examples/vae [--latent L] [--hidden H] [--seconds S] [--prefix P] [--threads T]
 * Defaults: latent 16, hidden 512, 300 s, prefix docs/images/vae (P_samples.png,
 * P_recon.png, P_latent_map.png). */
#include "deepc.h"
#include "fid/fid.h"
#include "vae/vae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int grid(const char *prefix, const char *name, dc_tensor *images, int nrow)
{
    char path[1024];
    snprintf(path, sizeof path, "%s_%s.png", prefix, name);
    int rc = dc_png_write_grid(path, images, nrow, 2, 1.0);
    if (rc == 0) printf("wrote %s\n", path);
    return rc;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    int64_t latent = 16, hidden = 512, batch = 128;
    double seconds = 300;
    const char *prefix = "docs/images/vae";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--latent")) latent = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--hidden")) hidden = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--prefix")) prefix = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else {
            fprintf(stderr, "vae: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    dc_dataset *train = dc_fashion_mnist_load(NULL, true), *test = dc_fashion_mnist_load(NULL, false);
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_module *model = train && test ? vae_model_new(hidden, latent, &rng) : NULL;
    dc_tensor_list params = {0};
    if (!model || dc_module_parameters(model, &params) != 0) {
        fprintf(stderr, "vae: %s\n", dc_last_error());
        return 1;
    }
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 1e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_loader *loader = dc_loader_new(train, batch, true, true, 2);
    printf("VAE latent %lld, hidden %lld: %lld parameters; training %.0f s\n", (long long)latent,
           (long long)hidden, (long long)dc_module_num_params(model, false), seconds);
    double t0 = now(), avg = 0;
    int64_t steps = 0;
    int rc = 0;
    while (rc == 0 && now() - t0 < seconds) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        int r = dc_loader_next(loader, &x, &y);
        if (r > 0) {
            dc_tensor *loss = vae_loss(model, x, 1.0, &rng, NULL, NULL);
            dc_module_zero_grad(model);
            if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) rc = -1;
            else avg = steps ? 0.98 * avg + 0.02 * dc_item(loss) : dc_item(loss);
            if (rc == 0 && ++steps % 500 == 0)
                printf("step %lld (epoch %lld, %.0f s): -ELBO %.2f nats\n", (long long)steps,
                       (long long)dc_loader_epoch(loader), now() - t0, avg);
        } else if (r < 0) {
            rc = -1;
        }
        dc_scope_end(scope);
    }
    double train_s = now() - t0;
    dc_module_train(model, false);
    bool grad = dc_no_grad_begin();
    dc_rng eval_rng;
    dc_rng_seed(&eval_rng, 12345);
    double recon = 0, kl = 0;
    for (int64_t s = 0; rc == 0 && s < dc_dataset_size(test); s += 1000) {
        size_t scope = dc_scope_begin();
        double r = 0, k = 0;
        if (!vae_loss(model, dc_narrow(test->inputs, 0, s, 1000), 1.0, &eval_rng, &r, &k)) rc = -1;
        recon += r * 1000, kl += k * 1000;
        dc_scope_end(scope);
    }
    int64_t nt = dc_dataset_size(test);
    if (rc == 0)
        printf("trained %lld steps (%.1f epochs) in %.0f s; test -ELBO %.2f nats/image "
               "(reconstruction %.2f + KL %.2f)\n",
               (long long)steps, (double)steps * (double)batch / 60000.0, train_s,
               (recon + kl) / (double)nt, recon / (double)nt, kl / (double)nt);
    size_t scope = dc_scope_begin();
    if (rc == 0) {
        dc_rng srng;
        dc_rng_seed(&srng, 7);
        dc_tensor *samples = vae_sample(model, 2000, &srng);
        fid_model *fm = fid_model_load(NULL);
        fid_result fr;
        if (!fm) printf("no FD: %s\n", dc_last_error());
        else if (samples && fid_evaluate(fm, samples, NULL, &fr) == 0)
            fid_result_print(&fr, "VAE samples", stdout);
        else
            rc = -1;
        fid_model_free(fm);
        dc_tensor *x = dc_narrow(test->inputs, 0, 0, 16);
        if (rc == 0) rc = grid(prefix, "samples", dc_narrow(samples, 0, 0, 64), 8);
        if (rc == 0)
            rc = grid(prefix, "recon",
                      dc_cat((dc_tensor *[]){dc_narrow(x, 0, 0, 8), dc_forward(model, dc_narrow(x, 0, 0, 8)),
                                             dc_narrow(x, 0, 8, 8), dc_forward(model, dc_narrow(x, 0, 8, 8))},
                             4, 0),
                      8);
        if (rc == 0 && latent == 2) rc = grid(prefix, "latent_map", vae_latent_map(model, 20, 3.0), 20);
    }
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    if (rc != 0) fprintf(stderr, "vae: %s\n", dc_last_error());
    dc_loader_free(loader);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    dc_dataset_free(train);
    dc_dataset_free(test);
    return rc != 0;
}
