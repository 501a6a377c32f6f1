/* Semantic segmentation of synthetic scenes (book §6.4; apps/segment): the segment task's
 * U-Net or PSP network trained for a fixed time with Adam (learning rate decayed by a cosine
 * over the time budget), then the test mean IoU and IoU per class, and a PNG of
 * image | truth | prediction rows.
 *   build/examples/segment [--arch unet|psp] [--seconds S] [--width W] [--train-scenes N]
 *                          [--test-scenes N] [--items N] [--batch B] [--lr LR] [--threads T]
 *                          [--out PNG]
 * Defaults: the task's (unet, width 8, 6000 training, 300 validation and 1000 test scenes of
 * 64x64 with up to 2000 Fashion-MNIST items), 600 s, batch 16, lr 2e-3,
 * docs/images/segment_ARCH.png. */
#include "deepc.h"
#include "scenes/scenes.h"
#include "segment/segment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Set the task option `name` (an INT or TEXT one) in settings; false if there is none. */
static bool set_option(void *settings, const char *name, const char *value)
{
    for (const dc_option *o = segment_task.options; o->name; o++) {
        if (strcmp(o->name, name)) continue;
        char *field = (char *)settings + o->offset;
        if (o->type == DC_OPTION_INT) *(long *)field = atol(value);
        else if (o->type == DC_OPTION_TEXT) snprintf(field, o->size, "%s", value);
        else return false;
        return true;
    }
    return false;
}

static int fail(const char *what)
{
    fprintf(stderr, "segment: %s: %s\n", what, dc_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    void *settings = calloc(1, segment_task.settings_size);
    if (!settings) return 1;
    segment_task.defaults(settings);
    double seconds = 600, lr = 2e-3;
    int64_t batch = 16;
    char arch[8] = "unet", out_buf[256] = "";
    const char *out = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *name = argv[i] + 2, *value = argv[i + 1];
        if (strncmp(argv[i], "--", 2)) name = "";
        if (!strcmp(name, "seconds")) seconds = atof(value);
        else if (!strcmp(name, "batch")) batch = atoll(value);
        else if (!strcmp(name, "lr")) lr = atof(value);
        else if (!strcmp(name, "out")) out = value;
        else if (!strcmp(name, "threads")) dc_set_num_threads(atoi(value));
        else if (!set_option(settings, name, value)) {
            fprintf(stderr, "segment: unknown option %s\n", argv[i]);
            return 2;
        }
        if (!strcmp(name, "arch")) snprintf(arch, sizeof arch, "%s", value);
    }
    if (!out) snprintf(out_buf, sizeof out_buf, "docs/images/segment_%s.png", arch), out = out_buf;

    double t_setup = now();
    dc_rng model_rng, batch_rng;
    dc_rng_seed(&model_rng, 1);
    dc_rng_seed(&batch_rng, 2);
    dc_task_setup ctx = {settings, "", NULL, 0, batch, true, &model_rng, NULL, NULL, 0, 0};
    if (segment_task.setup(&ctx) != 0) return fail("setup");
    dc_tensor_list params;
    if (dc_module_parameters(ctx.model, &params) != 0) return fail("parameters");
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, lr);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    if (!opt) return fail("optimizer");
    printf("%s: %lld parameters; scenes generated in %.1f s; training %.0f s, batch %lld, "
           "%d thread(s)\n",
           ctx.model->type, (long long)dc_module_num_params(ctx.model, false), now() - t_setup,
           seconds,
           (long long)batch, dc_get_num_threads());
    fflush(stdout);

    double t0 = now(), loss_avg = 0, elapsed = 0;
    int64_t steps = 0;
    dc_module_train(ctx.model, true);
    while ((elapsed = now() - t0) < seconds) {
        dc_optimizer_set_lr(opt, lr * 0.5 * (1 + cos(M_PI * elapsed / seconds)));
        size_t scope = dc_scope_begin();
        dc_tensor *loss = segment_task.step(ctx.state, ctx.model, &batch_rng, steps);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) return fail("step");
        double l = dc_item(loss);
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
        loss_avg = steps ? 0.98 * loss_avg + 0.02 * l : l;
        if (++steps % 50 == 0) {
            printf("step %lld (%.0f s): loss %.4f\n", (long long)steps, now() - t0, loss_avg);
            fflush(stdout);
        }
    }
    double train_s = now() - t0;
    dc_module_train(ctx.model, false);
    dc_metrics m[2] = {{0}};
    for (int split = 0; split < 2; split++) {
        size_t scope = dc_scope_begin();
        if (segment_task.evaluate(ctx.state, ctx.model, split ? DC_TASK_TEST : DC_TASK_VAL,
                                  &m[split]) != 0)
            return fail("evaluate");
        dc_scope_end(scope);
    }
    printf("trained %lld steps (%lld scenes seen) in %.0f s\n", (long long)steps,
           (long long)(steps * batch), train_s);
    printf("val mIoU %.4f; test loss %.4f, test mIoU %.4f, pixel accuracy %.4f\n",
           m[0].metrics[0].value, m[1].loss, m[1].metrics[0].value,
           dc_metrics_get(&m[1], "pixel_accuracy"));
    for (int c = 0; c < SCENES_CLASSES; c++) {
        char name[40];
        snprintf(name, sizeof name, "iou_%s", scene_class_names[c]);
        printf("  test IoU %-10s %.4f\n", scene_class_names[c], dc_metrics_get(&m[1], name));
    }

    /* render next to the output, then move the picture into place */
    char dir[300], picture[340];
    const char *slash = strrchr(out, '/');
    snprintf(dir, sizeof dir, "%.*s.segment_XXXXXX", slash ? (int)(slash - out + 1) : 0, out);
    int rc = mkdtemp(dir) ? 0 : -1;
    if (rc == 0) {
        size_t scope = dc_scope_begin();
        rc = segment_task.render(ctx.state, ctx.model, dir);
        dc_scope_end(scope);
        snprintf(picture, sizeof picture, "%s/segment.png", dir);
        if (rc == 0 && rename(picture, out) != 0) rc = -1, dc_error("cannot move %s", picture);
        remove(picture);
        rmdir(dir);
    } else {
        dc_error("cannot make a directory beside %s", out);
    }
    if (rc != 0) fprintf(stderr, "segment: %s\n", dc_last_error());
    else printf("wrote %s (rows: image, truth, prediction)\n", out);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    segment_task.close(ctx.state);
    dc_module_free(ctx.model);
    free(settings);
    return rc != 0;
}
