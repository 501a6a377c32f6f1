/* Object detection on synthetic scenes (book §6.3; apps/detect): the single-shot detector
 * trained through its task (detect_task: setup, step, evaluate, render) for a time budget
 * with AdamW and a cosine learning rate, then the test mAP at IoU 0.5 and the pictures
 * OUT_DIR/detect.png (predicted boxes, classes and scores on test scenes) and
 * OUT_DIR/detect_pr.svg (precision-recall curves).
 *   build/examples/detect [--seconds S] [--lr LR] [--batch B] [--threads T] [--out-dir DIR]
 *                         [--TASK-OPTION VALUE ...]   (width, train-scenes, items, ...)
 * Defaults: 840 s, lr 4e-3, batch 32, docs/images. */
#include "deepc.h"
#include "detect/detect.h"

#include <math.h>
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

/* Set the task option `name` of settings from text (the option table's types). */
static int set_option(void *settings, const char *name, const char *value)
{
    for (const dc_option *o = detect_task.options; o->name; o++) {
        if (strcmp(o->name, name)) continue;
        char *p = (char *)settings + o->offset;
        if (o->type == DC_OPTION_INT) *(long *)p = atol(value);
        else if (o->type == DC_OPTION_REAL) *(double *)p = atof(value);
        else if (o->type == DC_OPTION_FLAG) *(bool *)p = atoi(value) != 0;
        else snprintf(p, o->size, "%s", value);
        return 0;
    }
    return -1;
}

static void print_metrics(const char *what, const dc_metrics *m)
{
    printf("%s: loss %.4f", what, m->loss);
    for (int i = 0; i < m->n; i++) printf(", %s %.4f", m->metrics[i].name, m->metrics[i].value);
    printf("\n");
}

int main(int argc, char **argv)
{
    double seconds = 840, lr = 4e-3;
    int64_t batch = 32;
    const char *out_dir = "docs/images";
    void *settings = calloc(1, detect_task.settings_size);
    if (!settings) return 1;
    detect_task.defaults(settings);
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--seconds")) seconds = atof(v);
        else if (!strcmp(k, "--lr")) lr = atof(v);
        else if (!strcmp(k, "--batch")) batch = atoll(v);
        else if (!strcmp(k, "--threads")) dc_set_num_threads(atoi(v));
        else if (!strcmp(k, "--out-dir")) out_dir = v;
        else if (strncmp(k, "--", 2) || set_option(settings, k + 2, v) != 0) {
            fprintf(stderr, "detect: unknown option %s\n", k);
            return 2;
        }
    }
    dc_rng model_rng, rng;
    dc_rng_seed(&model_rng, 1);
    dc_rng_seed(&rng, 2);
    dc_task_setup ctx = {.settings = settings, .data = "", .data_dir = NULL, .seed = 0,
                         .batch = batch, .with_data = true, .model_rng = &model_rng};
    double t0 = now();
    size_t scope = dc_scope_begin();
    int rc = detect_task.setup(&ctx);
    dc_tensor_list params = {0};
    dc_optimizer *opt = NULL;
    if (rc == 0 && dc_module_parameters(ctx.model, &params) == 0) {
        dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, lr);
        opt = dc_optimizer_new(&params, &cfg);
    }
    if (!opt) {
        fprintf(stderr, "detect: %s\n", dc_last_error());
        return 1;
    }
    printf("%s: %lld parameters; scenes generated in %.1f s; training %.0f s, batch %lld\n",
           ctx.model->type, (long long)dc_module_num_params(ctx.model, false), now() - t0,
           seconds, (long long)batch);
    double t1 = now(), loss_avg = 0, elapsed = 0;
    int64_t steps = 0;
    dc_module_train(ctx.model, true);
    while ((elapsed = now() - t1) < seconds) {
        size_t s = dc_scope_begin();
        /* cosine decay over the time budget, to lr / 20 */
        dc_optimizer_set_lr(opt, lr * (0.05 + 0.95 * 0.5 * (1 + cos(M_PI * elapsed / seconds))));
        dc_tensor *loss = detect_task.step(ctx.state, ctx.model, &rng, steps);
        dc_module_zero_grad(ctx.model);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) {
            fprintf(stderr, "detect: %s\n", dc_last_error());
            return 1;
        }
        double l = dc_item(loss);
        loss_avg = steps ? 0.98 * loss_avg + 0.02 * l : l;
        steps++;
        if (steps % 100 == 0) {
            printf("step %lld (%.0f s): loss %.4f\n", (long long)steps, now() - t1, loss_avg);
            fflush(stdout);
        }
        dc_scope_end(s);
    }
    double train_s = now() - t1;
    dc_module_train(ctx.model, false);
    dc_metrics val = {0}, test = {0};
    double t2 = now();
    rc = detect_task.evaluate(ctx.state, ctx.model, DC_TASK_VAL, &val);
    if (rc == 0) rc = detect_task.evaluate(ctx.state, ctx.model, DC_TASK_TEST, &test);
    if (rc == 0) rc = detect_task.render(ctx.state, ctx.model, out_dir);
    if (rc != 0) {
        fprintf(stderr, "detect: %s\n", dc_last_error());
        return 1;
    }
    printf("trained %lld steps of %lld scenes in %.0f s (evaluation %.0f s)\n", (long long)steps,
           (long long)batch, train_s, now() - t2);
    print_metrics("validation", &val);
    print_metrics("test", &test);
    printf("test mAP@0.5 %.4f; wrote %s/detect.png and %s/detect_pr.svg\n",
           dc_metrics_get(&test, "map50"), out_dir, out_dir);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    detect_task.close(ctx.state);
    dc_module_free(ctx.model);
    dc_scope_end(scope);
    free(settings);
    return 0;
}
