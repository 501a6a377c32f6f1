/* The task table of `deepc train --task NAME` (deepc/task.h): one entry per application of
 * apps/. Adding an application adds one line here and nothing to the run loop. */
#include "cli.h"

#include "denoise/denoise.h"
#include "detect/detect.h"
#include "gan/gan.h"
#include "rl/rl.h"
#include "vae/vae.h"

#include <string.h>

const dc_task *const cli_tasks[] = {
    &denoise_task,
    &detect_task,
    &dqn_cartpole_task,
    &dqn_breakout_task,
    &vae_task,
    &gan_task,
    NULL,
};

const dc_task *cli_task_find(const char *name)
{
    for (const dc_task *const *t = cli_tasks; *t; t++)
        if (!strcmp((*t)->name, name)) return *t;
    return NULL;
}
