/* The task table of `deepc train --task NAME` (deepc/task.h): one entry per application of
 * apps/. Adding an application adds one line here and nothing to the run loop. */
#include "cli.h"

#include "denoise/denoise.h"
#include "detect/detect.h"
#include "diffusion/diffusion.h"
#include "gan/gan.h"
#include "mlplm/mlplm.h"
#include "rl/rl.h"
#include "segment/segment.h"
#include "vae/vae.h"
#include "word2vec/word2vec.h"

#include <stdlib.h>
#include <string.h>

const dc_task *const cli_tasks[] = {
    &denoise_task,
    &detect_task,
    &segment_task,
    &dqn_cartpole_task,
    &dqn_breakout_task,
    &vae_task,
    &gan_task,
    &mlplm_task,
    &word2vec_task,
    &diffusion_task,
    NULL,
};

const dc_task *cli_task_find(const char *name)
{
    for (const dc_task *const *t = cli_tasks; *t; t++)
        if (!strcmp((*t)->name, name)) return *t;
    return NULL;
}

void cli_tasks_help(FILE *out, const char *task_name)
{
    const dc_task *task = task_name ? cli_task_find(task_name) : NULL;
    if (!task) {
        if (task_name) fprintf(out, "\nno task is called '%s'.\n", task_name);
        fprintf(out, "\ntasks (--task NAME; 'deepc train --task NAME --help' lists its options):\n");
        for (const dc_task *const *t = cli_tasks; *t; t++)
            fprintf(out, "  %-16s %s%s\n", (*t)->name, (*t)->summary,
                    (*t)->generate ? " [generate]" : "");
        return;
    }
    fprintf(out, "\ntask %s: %s\n  its options (default):\n", task->name, task->summary);
    void *settings = calloc(1, task->settings_size ? task->settings_size : 1);
    if (settings && task->defaults) task->defaults(settings);
    for (const dc_option *o = task->options; settings && o && o->name; o++) {
        char value[1100], flag[64];
        option_format(o, settings, value, sizeof value);
        snprintf(flag, sizeof flag, "--%s %s", o->name,
                 o->choices ? o->choices : o->type == DC_OPTION_FLAG ? "" : "V");
        fprintf(out, "    %-28s %s (%s)\n", flag, o->help ? o->help : "", value);
    }
    free(settings);
    if (task->run_defaults) {
        fprintf(out, "  its defaults for the shared options:");
        for (const char *line = task->run_defaults; *line;) {
            size_t len = strcspn(line, "\n");
            if (len) fprintf(out, " %.*s;", (int)len, line);
            line += len + (line[len] == '\n');
        }
        fprintf(out, "\n");
    }
}
