/* deepc train --task NAME end to end, with the denoise task (the first entry of the table):
 * a short run writes its log, checkpoint, test metrics and picture; resuming is exact; eval,
 * info and --help know tasks; bad task arguments exit with status 2. Tiny runs (a U-Net of
 * width 4, a few steps, a few hundred images). */
#include "test.h"

#include "../tools/cli.h"

#include <stdlib.h>

static char task_out[1 << 16];
#define CHECK_TASK_DEEPC(status, fragment, ...)                                                \
    CHECK_DEEPC_INTO(task_out, status, fragment, __VA_ARGS__)

#define TINY_DENOISE "--task denoise --width 4 --val-images 500 --eval-images 100 --batch 8 " \
                     "--threads 1"

static bool file_exists_in(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

TEST(test_cli_task_run_writes_metrics_and_pictures_and_its_checkpoint_evaluates)
{
    if (!dc_test_have("zlib") || !dc_test_have("jansson")) return;
    char dir[256];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "task"));
    CHECK_TASK_DEEPC(0, "psnr_db", "train " TINY_DENOISE " --epochs 1 --steps-per-epoch 6 "
                                   "--sigma 0.3 --out %s", dir);
    CHECK(strstr(task_out, "training denoise (") && strstr(task_out, "test: loss"));
    CHECK(file_exists_in(dir, "log.csv") && file_exists_in(dir, "checkpoint.safetensors") &&
          file_exists_in(dir, "metrics.txt"));
    if (dc_test_have("libpng")) CHECK(file_exists_in(dir, "denoise.png"));
    /* the task's options are saved: eval rebuilds the same U-Net with sigma 0.3 */
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", dir);
    dc_safetensors *f = dc_safetensors_open(ckpt);
    REQUIRE(f);
    CHECK(!strcmp(dc_safetensors_metadata(f, "task"), "denoise"));
    CHECK(!strcmp(dc_safetensors_metadata(f, "width"), "4"));
    CHECK(!strcmp(dc_safetensors_metadata(f, "sigma"), "0.29999999999999999"));
    CHECK(dc_safetensors_metadata(f, "model") == NULL); /* unset options are not written */
    dc_safetensors_close(f);
    CHECK_TASK_DEEPC(0, "psnr_input_db", "eval --checkpoint %s", ckpt);
    CHECK_TASK_DEEPC(0, "enc1.weight", "info --checkpoint %s", ckpt);
    CHECK(strstr(task_out, "task denoise"));
    /* the report shows the test metrics and the task's picture */
    CHECK_TASK_DEEPC(0, "", "report %s", dir);
    char page[600];
    snprintf(page, sizeof page, "%s/report.html", dir);
    size_t len = 0;
    char *html = (char *)dc_test_read_file(page, &len);
    REQUIRE(html);
    CHECK(strstr(html, "<th>test metric</th>") && strstr(html, "<td>psnr_db</td>"));
    if (dc_test_have("libpng"))
        CHECK(strstr(html, "<img alt=\"denoise.png\" src=\"data:image/png;base64,iVBOR"));
    CHECK(strstr(html, "<th>sigma</th><td>0.3</td>")); /* the task's options in the configuration */
    free(html);
    CHECK_TASK_DEEPC(2, "generates no samples", "generate --checkpoint %s", ckpt);
    CHECK_TASK_DEEPC(2, "deepc generate draws", "sample --checkpoint %s", ckpt);
    dc_test_remove_dir(dir);
}

/* Straight through, or stopped after 3 steps and resumed: the same checkpoint bytes (the
 * batches and the noise come from the saved generator). */
TEST(test_cli_task_resume_continues_exactly)
{
    if (!dc_test_have("zlib") || !dc_test_have("jansson")) return;
    char a[256], b[256];
    REQUIRE(dc_test_temp_dir(a, sizeof a, "task_a") && dc_test_temp_dir(b, sizeof b, "task_b"));
    const char *args = TINY_DENOISE " --epochs 2 --steps-per-epoch 3 --noise both";
    CHECK_TASK_DEEPC(0, "epoch 2/2", "train %s --out %s", args, a);
    CHECK_TASK_DEEPC(0, "stopped after 4 of 6 steps", "train %s --max-steps 4 --out %s", args, b);
    CHECK_TASK_DEEPC(0, "(resumed)", "train --resume --out %s --threads 1", b);
    char pa[600], pb[600];
    snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
    size_t la = 0, lb = 0;
    unsigned char *x = dc_test_read_file(pa, &la), *y = dc_test_read_file(pb, &lb);
    CHECK(x && y && la == lb && !memcmp(x, y, la));
    free(x), free(y);
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

TEST(test_cli_task_help_lists_the_tasks_and_their_options)
{
    CHECK_TASK_DEEPC(0, "tasks (--task NAME", "train --help");
    CHECK(strstr(task_out, "denoise "));
    CHECK_TASK_DEEPC(0, "--noise gaussian|mask|both", "train --task denoise --help");
    CHECK(strstr(task_out, "(0.5)") && strstr(task_out, "optim = adam"));
    bool any_generative = false;
    for (const dc_task *const *t = cli_tasks; *t; t++) any_generative |= (*t)->generate != NULL;
    CHECK_TASK_DEEPC(0, any_generative ? "[generate]" : "tasks (--task NAME", "generate --help");
}

TEST(test_cli_task_bad_arguments_exit_with_status_2)
{
    CHECK_TASK_DEEPC(2, "unknown --task 'nope'; the tasks are: denoise", "train --task nope");
    CHECK_TASK_DEEPC(2, "--model mlp does not apply", "train --task denoise --model mlp");
    CHECK_TASK_DEEPC(2, "--width expects an integer in [1, 512]", "train --task denoise --width 0");
    CHECK_TASK_DEEPC(2, "--noise expects one of", "train --task denoise --noise pink");
    /* a task's option means nothing without the task */
    CHECK_TASK_DEEPC(2, "unknown argument '--sigma'", "train --sigma 0.2");
    CHECK_TASK_DEEPC(2, "--checkpoint FILE is required", "generate --n 4");
}
