/* A DCGAN on Fashion-MNIST (apps/gan), driven through its task entry (gan_task) the way
 * `deepc train --task gan` drives it: setup, its own two-optimizer steps for a time budget,
 * the test evaluation (discriminator outputs and the Fréchet distance of 2000 samples to the
 * test images, apps/fid), and its pictures: gan_samples.png and gan_losses.svg in --out-dir.
 * It also scores and draws (gan_samples_batch_stats.png) the generator with BatchNorm on batch
 * statistics (train mode), as the DCGAN reference code samples.
 *   build/examples/gan [--seconds S] [--width W] [--batch B] [--lr LR] [--out-dir DIR]
 *                      [--threads T] [--checkpoint FILE]
 * Defaults: 600 s, width 32, batch 64, lr 6e-4 (both Adams), docs/images, no checkpoint. */
#include "deepc.h"
#include "fid/fid.h"
#include "gan/gan.h"

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
    setvbuf(stdout, NULL, _IOLBF, 0);
    double seconds = 600;
    int64_t batch = 64;
    double lr = 6e-4;
    const char *width = "32", *out_dir = "docs/images", *checkpoint = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) width = argv[i + 1];
        else if (!strcmp(argv[i], "--batch")) batch = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--lr")) lr = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--out-dir")) out_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--checkpoint")) checkpoint = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else {
            fprintf(stderr, "gan: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    const dc_task *task = &gan_task;
    void *settings = calloc(1, task->settings_size);
    if (!settings) return 1;
    task->defaults(settings);
    /* --width sets the task's option through its table (an INT option is a long at offset) */
    for (const dc_option *o = task->options; o->name; o++)
        if (!strcmp(o->name, "width")) {
            long w = atol(width);
            if (w < o->min || w > o->max) {
                fprintf(stderr, "gan: --width %s is not in [%g, %g]\n", width, o->min, o->max);
                return 2;
            }
            *(long *)((char *)settings + o->offset) = w;
        } else if (!strcmp(o->name, "g-lr") || !strcmp(o->name, "d-lr")) {
            *(double *)((char *)settings + o->offset) = lr; /* a REAL option is a double */
        }
    dc_rng model_rng, rng;
    dc_rng_seed(&model_rng, 1);
    dc_rng_seed(&rng, 2);
    dc_task_setup ctx = {settings, "", DC_FASHION_MNIST_DIR, 0, batch, true, &model_rng,
                         NULL, NULL, 0, 0};
    int rc = task->setup(&ctx);
    if (rc == 0)
        printf("DCGAN width %s: %lld parameters; training %.0f s, batch %lld, lr %g\n", width,
               (long long)dc_module_num_params(ctx.model, false), seconds, (long long)batch, lr);
    double t0 = now(), d_avg = 0;
    int64_t steps = 0;
    while (rc == 0 && now() - t0 < seconds) {
        size_t scope = dc_scope_begin();
        dc_module_train(ctx.model, true);
        dc_tensor *loss = task->step(ctx.state, ctx.model, &rng, steps);
        if (!loss) rc = -1;
        else d_avg = steps ? 0.98 * d_avg + 0.02 * dc_item(loss) : dc_item(loss);
        if (rc == 0 && ++steps % 200 == 0)
            printf("step %lld (%.0f s): D loss %.3f\n", (long long)steps, now() - t0, d_avg);
        dc_scope_end(scope);
    }
    double train_s = now() - t0;
    dc_metrics m = {0};
    if (rc == 0) {
        size_t scope = dc_scope_begin();
        dc_module_train(ctx.model, false);
        rc = task->evaluate(ctx.state, ctx.model, DC_TASK_TEST, &m);
        dc_scope_end(scope);
    }
    if (rc == 0) {
        printf("trained %lld steps (%.1f epochs) in %.0f s; test:", (long long)steps,
               (double)steps * (double)batch / 55000.0, train_s);
        for (int i = 0; i < m.n; i++) printf(" %s %.4g", m.metrics[i].name, m.metrics[i].value);
        printf("\n");
        size_t scope = dc_scope_begin();
        rc = task->render(ctx.state, ctx.model, out_dir);
        dc_scope_end(scope);
        if (rc == 0) printf("wrote %s/gan_samples.png and %s/gan_losses.svg\n", out_dir, out_dir);
        /* the same generator with BatchNorm on batch statistics (train mode, as the DCGAN
         * reference code samples), 2000 samples in batches of 500, under no-grad */
        fid_model *fm = rc == 0 ? fid_model_load(NULL) : NULL;
        if (fm) {
            scope = dc_scope_begin();
            bool grad = dc_no_grad_begin();
            dc_module_train(ctx.model, true);
            dc_rng srng;
            dc_rng_seed(&srng, 3);
            dc_tensor *parts[4];
            for (int k = 0; k < 4; k++) parts[k] = gan_sample(ctx.model, 500, &srng);
            dc_tensor *all = dc_cat(parts, 4, 0);
            fid_result r;
            if (all && fid_evaluate(fm, all, NULL, &r) == 0)
                fid_result_print(&r, "GAN samples, BatchNorm on batch statistics", stdout);
            char path[1100];
            snprintf(path, sizeof path, "%s/gan_samples_batch_stats.png", out_dir);
            if (all) dc_png_write_grid(path, dc_narrow(all, 0, 0, 64), 8, 2, 1.0);
            dc_module_train(ctx.model, false);
            dc_grad_mode_restore(grad);
            dc_scope_end(scope);
            fid_model_free(fm);
        }
        if (rc == 0 && checkpoint && (rc = dc_checkpoint_save(checkpoint, ctx.model, NULL, NULL, 0)) == 0)
            printf("saved %s\n", checkpoint);
    }
    if (rc != 0) fprintf(stderr, "gan: %s\n", dc_last_error());
    if (ctx.state) task->close(ctx.state);
    dc_module_free(ctx.model);
    free(settings);
    return rc != 0;
}
