/* Denoising Fashion-MNIST (book §6.1; apps/denoise): a U-Net (or the plain autoencoder)
 * trained for a fixed time on images with Gaussian noise sigma = 0.5, then the test PSNR of
 * the noisy input and of the output, and a PNG grid: clean | noisy | denoised rows.
 *   build/examples/denoise [--arch unet|ae] [--seconds S] [--width W] [--out PNG]
 *                          [--test-images N] [--threads T]
 * Defaults: unet, 300 s, width 16, docs/images/denoise.png, 2000 test images. */
#include "deepc.h"
#include "denoise/denoise.h"

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

int main(int argc, char **argv)
{
    denoise_arch arch = DENOISE_UNET;
    double seconds = 300, sigma = 0.5;
    int64_t width = 16, n_test = 2000, batch = 64;
    const char *out = "docs/images/denoise.png";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--arch")) arch = !strcmp(argv[i + 1], "ae") ? DENOISE_AUTOENCODER : DENOISE_UNET;
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) width = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--test-images")) n_test = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else {
            fprintf(stderr, "denoise: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    dc_dataset *train = dc_fashion_mnist_load(NULL, true), *test = dc_fashion_mnist_load(NULL, false);
    if (!train || !test) {
        fprintf(stderr, "denoise: %s\n", dc_last_error());
        return 1;
    }
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_module *model = denoise_model_new(arch, width, &rng);
    dc_tensor_list params;
    if (!model || dc_module_parameters(model, &params) != 0) {
        fprintf(stderr, "denoise: %s\n", dc_last_error());
        return 1;
    }
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 2e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_loader *loader = dc_loader_new(train, batch, true, true, 2);
    printf("%s, width %lld: %lld parameters; training %.0f s on noise sigma %.2f\n", model->type,
           (long long)width, (long long)dc_module_num_params(model, false), seconds, sigma);
    double t0 = now(), loss_avg = 0;
    int64_t steps = 0, seen = 0;
    while (now() - t0 < seconds) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        int r = dc_loader_next(loader, &x, &y);
        if (r < 0) {
            fprintf(stderr, "denoise: %s\n", dc_last_error());
            return 1;
        }
        if (r == 0) {
            dc_scope_end(scope);
            continue;
        }
        dc_tensor *noisy = denoise_add_noise(x, sigma, &rng);
        dc_tensor *loss = dc_mse_loss(dc_forward(model, noisy), x, DC_REDUCE_MEAN);
        dc_module_zero_grad(model);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) {
            fprintf(stderr, "denoise: %s\n", dc_last_error());
            return 1;
        }
        double l = dc_item(loss);
        loss_avg = steps ? 0.98 * loss_avg + 0.02 * l : l;
        steps++;
        seen += x->shape[0];
        if (steps % 200 == 0)
            printf("step %lld (%lld images, %.0f s): loss %.5f\n", (long long)steps, (long long)seen,
                   now() - t0, loss_avg);
        dc_scope_end(scope);
    }
    double train_s = now() - t0;
    /* test PSNR of the noisy input and of the output */
    dc_module_train(model, false);
    bool prev_grad = dc_no_grad_begin();
    dc_rng test_rng;
    dc_rng_seed(&test_rng, 12345);
    if (n_test > dc_dataset_size(test)) n_test = dc_dataset_size(test);
    double psnr_in = 0, psnr_out = 0;
    int64_t done = 0;
    dc_tensor *show = NULL;
    size_t keep = dc_scope_begin();
    for (int64_t s = 0; s < n_test; s += 500) {
        size_t scope = dc_scope_begin();
        int64_t m = n_test - s < 500 ? n_test - s : 500;
        dc_tensor *clean = dc_narrow(test->inputs, 0, s, m);
        dc_tensor *noisy = denoise_add_noise(clean, sigma, &test_rng);
        dc_tensor *den = dc_forward(model, noisy);
        psnr_in += denoise_psnr(clean, noisy, 1.0) * (double)m;
        psnr_out += denoise_psnr(clean, den, 1.0) * (double)m;
        done += m;
        if (s == 0) {
            int64_t k = 8;
            dc_tensor *rows[3] = {dc_narrow(clean, 0, 0, k), dc_clamp(dc_narrow(noisy, 0, 0, k), 0, 1),
                                  dc_narrow(den, 0, 0, k)};
            show = dc_tensor_retain(dc_cat(rows, 3, 0));
        }
        dc_scope_end(scope);
    }
    dc_scope_end(keep);
    dc_grad_mode_restore(prev_grad);
    psnr_in /= (double)done;
    psnr_out /= (double)done;
    printf("trained %lld steps (%lld images) in %.0f s\n", (long long)steps, (long long)seen, train_s);
    printf("test PSNR over %lld images: noisy input %.2f dB, denoised %.2f dB (+%.2f dB)\n",
           (long long)done, psnr_in, psnr_out, psnr_out - psnr_in);
    int rc = show ? dc_png_write_grid(out, show, 8, 2, 1.0) : -1;
    if (rc != 0) fprintf(stderr, "denoise: %s\n", dc_last_error());
    else printf("wrote %s (rows: clean, noisy, denoised)\n", out);
    dc_tensor_free(show);
    dc_loader_free(loader);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    dc_dataset_free(train);
    dc_dataset_free(test);
    return rc != 0;
}
