/* The deepc command end to end: train (logs, plot, checkpoint, exact resume), eval, sample,
 * info, --help and errors, run as a user runs them. The deepc binary is taken from the
 * directory of this test binary (build/ or build-asan/), like tests/test_examples.c. Runs are
 * tiny (--steps-per-epoch, --max-steps, a 1-layer GPT) so the file takes a few seconds; the
 * Fashion-MNIST tests print a note and pass when dataset-fashion-mnist is not installed. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum { OUT_SIZE = 1 << 16 };
static char out[OUT_SIZE];

/* deepc ARGS must exit with `status` and print `fragment`. */
#define CHECK_DEEPC(status, fragment, ...) CHECK_DEEPC_INTO(out, status, fragment, __VA_ARGS__)

/* Whole file into a malloc'ed buffer (NULL if unreadable). */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return dc_read_text_file(path, len);
}

static bool same_file(const char *dir_a, const char *dir_b, const char *name)
{
    size_t la = 0, lb = 0;
    char *a = slurp(dir_a, name, &la), *b = slurp(dir_b, name, &lb);
    bool same = a && b && la == lb && memcmp(a, b, la) == 0;
    free(a), free(b);
    dc_clear_error();
    return same;
}

static bool have_fashion_mnist(void)
{
    struct stat st;
    if (!dc_test_have("jansson")) return false;
#ifndef DC_HAVE_ZLIB
    printf("note: deepc built without zlib (Fashion-MNIST is gzip); skipping\n");
    return false;
#endif
    if (stat(DC_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", &st) == 0) return true;
    printf("note: Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist); "
           "skipping\n");
    return false;
}

/* The committed names sample (the runner's working directory is tests/, as for the reference
 * files). */
static const char *names_sample(void) { return "../assets/names_sample.txt"; }

/* A GPT small enough for a test: 1 layer, 32 wide, context 16. */
#define TINY_GPT "--model gpt --layers 1 --heads 2 --dim 32 --context 16 --batch 8"

TEST(test_cli_train_mlp_writes_log_plot_checkpoint_and_eval_reports_test_accuracy)
{
    if (!have_fashion_mnist()) return;
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "cli"));
    CHECK_DEEPC(0, "test accuracy", "train --model mlp --hidden 32 --epochs 1 --steps-per-epoch 6 "
                                    "--val 500 --out %s", dir);
    CHECK(strstr(out, "val accuracy"));
    size_t len;
    char *log = slurp(dir, "log.csv", &len), *svg = slurp(dir, "loss.svg", &len);
    CHECK(log && !strncmp(log, "epoch,step,train_loss,val_loss,val_acc,lr,seconds\n", 49));
    CHECK(log && strstr(log, "\n1.0000,6,")); /* the epoch's row, with its validation loss */
    CHECK(svg && strstr(svg, "<svg") && strstr(svg, "validation loss") && strstr(svg, "</svg>"));
    free(log), free(svg);
    CHECK_DEEPC(0, "test accuracy", "eval --checkpoint %s/checkpoint.safetensors", dir);
    CHECK(strstr(out, "(10000 images)"));
    CHECK_DEEPC(0, "Linear", "info --checkpoint %s/checkpoint.safetensors", dir);
    CHECK(strstr(out, "kernels:"));
    dc_test_remove_dir(dir);
}

/* Two epochs straight, or 3 steps + a resume (stopping mid-epoch, with augmentation drawing
 * random crops): the final checkpoints are the same bytes. */
TEST(test_cli_resume_continues_exactly_on_images)
{
    if (!have_fashion_mnist()) return;
    char a[64], b[64];
    REQUIRE(dc_test_temp_dir(a, sizeof a, "cli") && dc_test_temp_dir(b, sizeof b, "cli"));
    const char *args = "--hidden 16 --epochs 2 --steps-per-epoch 2 --batch 32 --val 100 --augment";
    CHECK_DEEPC(0, "epoch 2/2", "train %s --out %s", args, a);
    CHECK_DEEPC(0, "stopped after 3 of 4 steps", "train %s --max-steps 3 --out %s", args, b);
    CHECK_DEEPC(0, "(resumed)", "train --resume --out %s", b);
    CHECK(same_file(a, b, "checkpoint.safetensors"));
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

/* The same on a GPT with dropout: the dropout generator and the random text windows resume
 * where they stopped. */
TEST(test_cli_resume_continues_exactly_on_gpt_with_dropout)
{
    if (!dc_test_have("jansson")) return;
    char a[64], b[64];
    REQUIRE(dc_test_temp_dir(a, sizeof a, "cli") && dc_test_temp_dir(b, sizeof b, "cli"));
    char args[4096];
    snprintf(args, sizeof args, TINY_GPT " --dropout 0.1 --epochs 2 --steps-per-epoch 3 --data %s",
             names_sample());
    CHECK_DEEPC(0, "epoch 2/2", "train %s --out %s", args, a);
    CHECK_DEEPC(0, "stopped after 4 of 6 steps", "train %s --max-steps 4 --out %s", args, b);
    CHECK_DEEPC(0, "(resumed)", "train --resume --out %s", b);
    CHECK(same_file(a, b, "checkpoint.safetensors"));
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

TEST(test_cli_gpt_on_names_trains_samples_reproducibly_and_evaluates)
{
    if (!dc_test_have("jansson")) return;
    char dir[64];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "cli"));
    CHECK_DEEPC(0, "perplexity", "train " TINY_GPT " --epochs 1 --steps-per-epoch 5 --data %s --out %s",
                names_sample(), dir);
    char tokenizer[128];
    snprintf(tokenizer, sizeof tokenizer, "%s/tokenizer.txt", dir);
    CHECK(access(tokenizer, R_OK) == 0);
    static char first[OUT_SIZE];
    CHECK_DEEPC(0, "", "sample --checkpoint %s/checkpoint.safetensors --n 60 --seed 7", dir);
    snprintf(first, sizeof first, "%s", out);
    CHECK(strlen(first) > 20);
    CHECK_DEEPC(0, "", "sample --checkpoint %s/checkpoint.safetensors --n 60 --seed 7", dir);
    CHECK(!strcmp(first, out));
    CHECK_DEEPC(0, "Ann", "sample --checkpoint %s/checkpoint.safetensors --prompt Ann --n 10 "
                          "--temperature 0.8 --top-k 5 --top-p 0.9", dir);
    CHECK_DEEPC(0, "perplexity", "eval --checkpoint %s/checkpoint.safetensors", dir);
    CHECK_DEEPC(0, "blocks.0", "info --checkpoint %s/checkpoint.safetensors", dir);
    /* a character the names never use */
    CHECK_DEEPC(2, "cannot encode the prompt", "sample --checkpoint %s/checkpoint.safetensors "
                                               "--prompt '@'", dir);
    dc_test_remove_dir(dir);
}

TEST(test_cli_config_file_sets_options_and_flags_override_it)
{
    if (!dc_test_have("jansson")) return;
    char dir[64], config[128];
    REQUIRE(dc_test_temp_dir(dir, sizeof dir, "cli"));
    snprintf(config, sizeof config, "%s/run.conf", dir);
    FILE *f = fopen(config, "w");
    REQUIRE(f);
    fprintf(f, "# a tiny run\nmodel = gpt\nlayers = 1\nheads = 2\ndim = 32\ncontext = 16\n"
               "batch = 8\nepochs = 3   # overridden below\nsteps-per-epoch = 2\ndata = %s\n",
            names_sample());
    fclose(f);
    CHECK_DEEPC(0, "2 steps of 8 per epoch, 1 epochs", "train --config %s --epochs 1 --out %s",
                config, dir);
    f = fopen(config, "a");
    REQUIRE(f);
    fprintf(f, "colour = blue\n");
    fclose(f);
    CHECK_DEEPC(2, "run.conf:11: unknown key 'colour'", "train --config %s --out %s", config, dir);
    dc_test_remove_dir(dir);
}

TEST(test_cli_every_command_has_help)
{
    const char *commands[] = {"train", "eval", "sample", "info", "bench", "help"};
    for (int i = 0; i < 6; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: deepc %s", commands[i]);
        CHECK_DEEPC(0, usage, "%s --help", commands[i]);
    }
    CHECK_DEEPC(0, "--max-steps", "train --help");
    CHECK_DEEPC(0, "--top-p", "sample --help");
    CHECK_DEEPC(0, "  train", "--help");
}

TEST(test_cli_bad_arguments_and_missing_files_give_one_line_errors)
{
    CHECK_DEEPC(2, "unknown argument '--bogus'", "train --bogus");
    CHECK_DEEPC(2, "--epochs expects an integer", "train --epochs 0");
    CHECK_DEEPC(2, "--model expects one of", "train --model transformer-xl");
    CHECK_DEEPC(2, "--lr needs a value", "train --lr");
    CHECK_DEEPC(2, "not --data names", "train --model lenet --data names");
    CHECK_DEEPC(2, "must divide", "train --model gpt --heads 3 --dim 32");
    CHECK_DEEPC(2, "--hidden expects", "train --hidden 10,,2");
    CHECK_DEEPC(1, "/nonexistent/train-images-idx3-ubyte", "train --data-dir /nonexistent");
    CHECK_DEEPC(1, "cannot read the text file /nonexistent.txt",
                "train --model gpt --data /nonexistent.txt");
    CHECK_DEEPC(1, "cannot read config file", "train --config /nonexistent.conf");
    CHECK_DEEPC(1, "/nonexistent/checkpoint.safetensors", "train --resume --out /nonexistent");
    CHECK_DEEPC(2, "--checkpoint FILE is required", "eval");
    CHECK_DEEPC(1, "/nonexistent.safetensors", "eval --checkpoint /nonexistent.safetensors");
    CHECK_DEEPC(2, "--top-p expects a number", "sample --checkpoint x --top-p 2");
    CHECK_DEEPC(2, "unexpected argument 'foo'", "sample foo");
    CHECK_DEEPC(2, "unknown argument '--colour'", "info --colour");
    /* each error is a single line */
    CHECK_DEEPC(1, "cannot read the text file", "train --model gpt --data /nonexistent.txt");
    CHECK(strchr(out, '\n') == out + strlen(out) - 1);
}
