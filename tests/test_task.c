/* Training tasks (deepc/task.h): the metrics list, the CLI's task table, and
 * dc_test_train_task, which every application's test uses to drive its task through the
 * whole contract the run loop relies on. */
#include "test.h"

#include "../tools/cli.h"


bool dc_test_train_task(const dc_task *task, const char *options, int64_t batch, double lr,
                        int steps, double *first, double *last, dc_metrics *metrics)
{
    void *settings = calloc(1, task->settings_size ? task->settings_size : 1);
    if (!settings) return false;
    if (task->defaults) task->defaults(settings);
    char why[512] = "";
    if (options && task->options &&
        options_parse_buffer(task->options, settings, options, strlen(options), why,
                             sizeof why) != 0) {
        dc_test_fail(__FILE__, __LINE__, "task %s: options: %s", task->name, why);
        free(settings);
        return false;
    }
    dc_rng model_rng;
    dc_rng_seed(&model_rng, 0);
    dc_task_setup ctx = {settings, "", DC_FASHION_MNIST_DIR, 0, batch, true, &model_rng,
                         NULL, NULL, 0, 0};
    bool ok = task->setup(&ctx) == 0 && ctx.model && ctx.steps_per_epoch > 0;
    EXPECT(ok, "task %s: setup failed: %s", task->name, dc_last_error());
    dc_tensor_list params = {0};
    dc_optimizer *opt = NULL;
    dc_optim_config oc = dc_optim_defaults(DC_ADAMW, lr);
    if (ok) ok = dc_module_parameters(ctx.model, &params) == 0 &&
                 (opt = dc_optimizer_new(&params, &oc)) != NULL;
    dc_rng batch_rng;
    dc_rng_seed(&batch_rng, 1);
    int quarter = steps / 4 > 0 ? steps / 4 : 1;
    double sum_first = 0, sum_last = 0;
    for (int s = 0; ok && s < steps; s++) {
        size_t scope = dc_scope_begin();
        dc_module_train(ctx.model, true);
        dc_tensor *loss = task->step(ctx.state, ctx.model, &batch_rng, s);
        ok = loss && dc_numel(loss) == 1 && (task->updates_itself || dc_backward(loss) == 0);
        double value = ok ? dc_item(loss) : NAN;
        ok = ok && isfinite(value) && (task->updates_itself || dc_optimizer_step(opt) == 0);
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
        EXPECT(ok, "task %s: step %d failed (loss %g): %s", task->name, s, value,
               dc_last_error());
        if (s < quarter) sum_first += value;
        if (s >= steps - quarter) sum_last += value;
    }
    *first = sum_first / quarter, *last = sum_last / quarter;
    dc_metrics m[2] = {{0}};
    for (int split = 0; ok && split < 2; split++) {
        size_t scope = dc_scope_begin();
        dc_module_train(ctx.model, false);
        ok = task->evaluate(ctx.state, ctx.model, split ? DC_TASK_TEST : DC_TASK_VAL,
                            &m[split]) == 0 &&
             (isfinite(m[split].loss) || (m[split].n > 0 && isfinite(m[split].metrics[0].value)));
        dc_scope_end(scope);
        EXPECT(ok, "task %s: evaluate(%s) failed or gave no finite figure: %s", task->name,
               split ? "test" : "val", dc_last_error());
    }
    if (ok && metrics) *metrics = m[1];
    char dir[256];
#ifndef DC_HAVE_PNG
    /* pictures are PNG files: a build without libpng draws none (the run loop skips them) */
    if (task->render || task->generate)
        printf("note: %s: render/generate not checked (built without libpng)\n", task->name);
    if (false)
#endif
    if (ok && task->render && dc_test_temp_dir(dir, sizeof dir, task->name)) {
        size_t scope = dc_scope_begin();
        ok = task->render(ctx.state, ctx.model, dir) == 0;
        dc_scope_end(scope);
        EXPECT(ok, "task %s: render failed: %s", task->name, dc_last_error());
        if (ok && task->generate) {
            char path[300];
            snprintf(path, sizeof path, "%s/generated.png", dir);
            scope = dc_scope_begin();
            dc_module_train(ctx.model, false);
            ok = task->generate(ctx.state, ctx.model, 4, 0, 7, path) == 0;
            dc_scope_end(scope);
            EXPECT(ok, "task %s: generate failed: %s", task->name, dc_last_error());
        }
        dc_test_remove_dir(dir);
    }
    if (task->close && ctx.state) task->close(ctx.state);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(ctx.model);
    free(settings);
    return ok;
}

TEST(test_metrics_set_replaces_by_name_and_reports_a_full_list)
{
    dc_metrics m = {0};
    CHECK(dc_metrics_set(&m, "psnr_db", 12.5, true) == 0);
    CHECK(dc_metrics_set(&m, "mse", 0.25, false) == 0);
    CHECK(dc_metrics_set(&m, "psnr_db", 18.0, true) == 0);
    CHECK(m.n == 2);
    CHECK_NEAR(dc_metrics_get(&m, "psnr_db"), 18.0, 0);
    CHECK(isnan(dc_metrics_get(&m, "map50")));
    for (int i = m.n; i < DC_TASK_MAX_METRICS; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        CHECK(dc_metrics_set(&m, name, i, true) == 0);
    }
    CHECK_ERROR(dc_metrics_set(&m, "one_more", 1, true) != 0, "one_more");
    CHECK(m.n == DC_TASK_MAX_METRICS);
}

/* Every task in the table: a name, a summary, the functions the loop calls, options whose
 * names do not shadow the shared ones (they share the flags and the checkpoint metadata),
 * fields inside its settings and defaults that its own parser accepts back. */
TEST(test_task_table_entries_are_complete_and_their_options_do_not_clash)
{
    int n = 0;
    for (const dc_task *const *t = cli_tasks; *t; t++, n++) {
        const dc_task *task = *t;
        EXPECT(task->name && task->summary && task->setup && task->step && task->evaluate,
               "task %d is missing its name, summary, setup, step or evaluate", n);
        CHECK(cli_task_find(task->name) == task);
        void *settings = calloc(1, task->settings_size ? task->settings_size : 1);
        REQUIRE(settings);
        if (task->defaults) task->defaults(settings);
        for (const dc_option *o = task->options; o && o->name; o++) {
            const dc_option *shared = run_options;
            while (shared->name && strcmp(shared->name, o->name)) shared++;
            EXPECT(!shared->name, "task %s: option --%s is also a shared option", task->name,
                   o->name);
            EXPECT(o->offset + o->size <= task->settings_size,
                   "task %s: option --%s lies outside its settings", task->name, o->name);
            char value[1100], why[256];
            option_format(o, settings, value, sizeof value);
            EXPECT(option_set(task->options, settings, o->name, value, why, sizeof why) == 1,
                   "task %s: the default of --%s ('%s') is not accepted back: %s", task->name,
                   o->name, value, why);
        }
        if (task->run_defaults) {
            run_config cfg;
            run_config_init(&cfg);
            char why[256];
            EXPECT(options_parse_buffer(run_options, &cfg, task->run_defaults,
                                        strlen(task->run_defaults), why, sizeof why) == 0,
                   "task %s: run_defaults: %s", task->name, why);
        }
        free(settings);
    }
    CHECK(cli_task_find("no-such-task") == NULL);
}
