/* deepc train --model lstm end to end on the committed names sample: a few steps lower the
 * loss, the checkpoint samples (reproducibly) and evaluates, resuming is exact, and bad
 * options exit with status 2. Tiny runs (a 1-layer LSTM of 32 units, a few steps). */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

enum { LSTM_OUT_SIZE = 1 << 16 };
static char lstm_out[LSTM_OUT_SIZE];

#define CHECK_LSTM_DEEPC(status, fragment, ...) CHECK_DEEPC_INTO(lstm_out, status, fragment, __VA_ARGS__)

#define TINY_LSTM "--model lstm --layers 1 --hidden 32 --embedding 16 --context 16 --batch 8 " \
                  "--data ../assets/names_sample.txt --threads 1"

/* The train_loss column of log.csv's rows: first and last. */
static bool first_last_loss(const char *dir, double *first, double *last)
{
    char path[256];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[512];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        double epoch, loss;
        long long step;
        if (sscanf(line, "%lf,%lld,%lf", &epoch, &step, &loss) != 3) continue;
        if (rows++ == 0) *first = loss;
        *last = loss;
    }
    fclose(f);
    return rows >= 2;
}

TEST(test_cli_lstm_training_lowers_the_loss_and_the_checkpoint_samples_and_evaluates)
{
    if (!dc_test_have("jansson")) return;
    char dir[64] = "/tmp/deepc_lstm_XXXXXX";
    REQUIRE(mkdtemp(dir));
    CHECK_LSTM_DEEPC(0, "perplexity", "train " TINY_LSTM " --lr 0.01 --epochs 1 "
                                     "--steps-per-epoch 40 --log-every 5 --out %s", dir);
    CHECK(strstr(lstm_out, "training lstm"));
    double first = 0, last = 0;
    CHECK(first_last_loss(dir, &first, &last));
    EXPECT(last < first - 0.3, "train loss %g -> %g", first, last);
    static char sample[LSTM_OUT_SIZE];
    CHECK_LSTM_DEEPC(0, "", "sample --checkpoint %s/checkpoint.safetensors --n 80 --seed 5", dir);
    snprintf(sample, sizeof sample, "%s", lstm_out);
    CHECK(strlen(sample) > 40);
    CHECK_LSTM_DEEPC(0, "", "sample --checkpoint %s/checkpoint.safetensors --n 80 --seed 5", dir);
    CHECK(!strcmp(sample, lstm_out));
    CHECK_LSTM_DEEPC(0, "Mar", "sample --checkpoint %s/checkpoint.safetensors --prompt Mar --n 10 "
                               "--temperature 0.8 --top-k 5", dir);
    CHECK_LSTM_DEEPC(0, "perplexity", "eval --checkpoint %s/checkpoint.safetensors", dir);
    CHECK_LSTM_DEEPC(0, "RNNLM", "info --checkpoint %s/checkpoint.safetensors", dir);
    CHECK(strstr(lstm_out, "LSTM") && strstr(lstm_out, "hidden=32"));
    dc_test_remove_dir(dir);
}

/* Straight through, or stopped after 3 steps and resumed: the same checkpoint bytes (dropout
 * between two layers draws from the saved generator). */
TEST(test_cli_lstm_resume_continues_exactly)
{
    if (!dc_test_have("jansson")) return;
    char a[64] = "/tmp/deepc_lstm_XXXXXX", b[64] = "/tmp/deepc_lstm_XXXXXX";
    REQUIRE(mkdtemp(a) && mkdtemp(b));
    const char *args = "--model lstm --layers 2 --hidden 16 --embedding 8 --context 8 --batch 4 "
                       "--dropout 0.2 --epochs 2 --steps-per-epoch 3 --threads 1 "
                       "--data ../assets/names_sample.txt";
    CHECK_LSTM_DEEPC(0, "epoch 2/2", "train %s --out %s", args, a);
    CHECK_LSTM_DEEPC(0, "stopped after 4 of 6 steps", "train %s --max-steps 4 --out %s", args, b);
    CHECK_LSTM_DEEPC(0, "(resumed)", "train --resume --out %s", b);
    char pa[128], pb[128];
    snprintf(pa, sizeof pa, "%s/checkpoint.safetensors", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.safetensors", b);
    size_t la = 0, lb = 0;
    unsigned char *x = dc_test_read_file(pa, &la), *y = dc_test_read_file(pb, &lb);
    CHECK(x && y && la == lb && !memcmp(x, y, la));
    free(x), free(y);
    dc_test_remove_dir(a), dc_test_remove_dir(b);
}

TEST(test_cli_lstm_bad_options_exit_with_status_2)
{
    CHECK_LSTM_DEEPC(2, "one --hidden width", "train --model lstm --hidden 64,32");
    CHECK_LSTM_DEEPC(2, "--hidden expects widths", "train --model lstm --hidden abc");
    CHECK_LSTM_DEEPC(2, "--embedding expects an integer", "train --model lstm --embedding 0");
    CHECK_LSTM_DEEPC(2, "--dropout expects a number", "train --model lstm --dropout 1.5");
    CHECK_LSTM_DEEPC(2, "trains on text", "train --model lstm --data fashion-mnist");
    CHECK_LSTM_DEEPC(2, "--layers expects an integer", "train --model lstm --layers 0");
    CHECK_LSTM_DEEPC(2, "expects one of", "train --model lstmx");
}
