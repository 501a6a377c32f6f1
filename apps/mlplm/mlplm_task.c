/* `deepc train --task mlplm`: the MLP language model on the English first names. */
#include "mlplm/mlplm.h"
#include "ngram/ngram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    long block, emb, width, depth;
    bool batchnorm;
} mlplm_settings;

#define OPT(name, type, field, min, max, help)                                                  \
    DC_OPTION(mlplm_settings, name, type, field, min, max, NULL, help)
static const dc_option mlplm_options[] = {
    OPT("block", DC_OPTION_INT, block, 1, 64, "characters of context"),
    OPT("emb-dim", DC_OPTION_INT, emb, 1, 1024, "embedding width per character"),
    OPT("width", DC_OPTION_INT, width, 1, 4096, "hidden layer width"),
    OPT("depth", DC_OPTION_INT, depth, 1, 16, "hidden layers (Linear -> BatchNorm -> tanh)"),
    OPT("batchnorm", DC_OPTION_FLAG, batchnorm, 0, 1, "BatchNorm1d after each hidden Linear"),
    DC_OPTION_END,
};

static void mlplm_defaults(void *settings)
{
    *(mlplm_settings *)settings = (mlplm_settings){3, 10, 100, 4, true};
}

typedef struct {
    int64_t batch, boundary;
    dc_tokenizer *tok;
    dc_dataset *train, *val, *test;
} mlplm_state;

static void mlplm_close(void *state)
{
    mlplm_state *st = state;
    if (!st) return;
    dc_tokenizer_free(st->tok);
    dc_dataset_free(st->train);
    dc_dataset_free(st->val);
    dc_dataset_free(st->test);
    free(st);
}

static dc_dataset *windows_of(mlplm_state *st, const char *text, int64_t block)
{
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(st->tok, text, strlen(text), &n);
    dc_dataset *ds = ids ? mlplm_windows(ids, n, st->boundary, dc_tokenizer_vocab_size(st->tok), block)
                         : NULL;
    free(ids);
    return ds;
}

static int mlplm_setup(dc_task_setup *ctx)
{
    const mlplm_settings *s = ctx->settings;
    mlplm_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("mlplm: out of memory"), -1;
    ctx->state = st;
    st->batch = ctx->batch;
    static const char *const defaults[] = {"data/names.txt", "assets/names_sample.txt",
                                           "../assets/names_sample.txt"};
    const char *one[1] = {ctx->data};
    const char *used = NULL;
    char *text = ctx->data && ctx->data[0] ? lm_read_first(one, 1, &used, NULL)
                                           : lm_read_first(defaults, 3, &used, NULL);
    if (!text) return -1;
    char *train = NULL, *val = NULL, *test = NULL;
    int64_t lines = lm_split_lines(text, true, ctx->seed, 0.1, 0.1, &train, &val, &test);
    free(text);
    if (lines < 0) return -1;
    size_t all_len = strlen(train) + strlen(val) + strlen(test);
    char *all = malloc(all_len + 1);
    if (all) snprintf(all, all_len + 1, "%s%s%s", train, val, test);
    st->tok = all ? dc_tokenizer_char_build(all, all_len) : NULL;
    free(all);
    int rc = -1;
    if (st->tok) {
        st->boundary = 0; /* '\n' has the smallest code point */
        mlplm_config c = {dc_tokenizer_vocab_size(st->tok), s->block, s->emb, s->width,
                          (int)s->depth, s->batchnorm};
        ctx->model = mlplm_new(&c, ctx->model_rng);
        if (ctx->model && ctx->with_data) {
            st->train = windows_of(st, train, s->block);
            st->val = windows_of(st, val, s->block);
            st->test = windows_of(st, test, s->block);
            if (st->train && st->val && st->test) {
                ctx->steps_per_epoch = dc_dataset_size(st->train) / ctx->batch;
                if (ctx->steps_per_epoch < 1) ctx->steps_per_epoch = 1;
                rc = 0;
            }
        } else if (ctx->model) {
            rc = 0;
        }
    }
    free(train), free(val), free(test);
    return rc;
}

static dc_tensor *mlplm_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    mlplm_state *st = state;
    dc_tensor *x, *y;
    if (dc_dataset_random_batch(st->train, st->batch, rng, &x, &y) != 0) return NULL;
    return dc_cross_entropy(dc_forward(model, x), y, NULL);
}

enum { EVAL_BATCH = 4096 };

static int mlplm_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    mlplm_state *st = state;
    const dc_dataset *ds = split == DC_TASK_TEST ? st->test : st->val;
    int64_t n = dc_dataset_size(ds);
    double sum = 0;
    bool grad = dc_no_grad_begin();
    int rc = n > 0 ? 0 : -1;
    for (int64_t start = 0; start < n && rc == 0; start += EVAL_BATCH) {
        size_t scope = dc_scope_begin();
        int64_t m = n - start < EVAL_BATCH ? n - start : EVAL_BATCH;
        dc_tensor *l = dc_cross_entropy(dc_forward(model, dc_narrow(ds->inputs, 0, start, m)),
                                        dc_narrow(ds->targets, 0, start, m), NULL);
        double v = dc_item(l);
        if (!isfinite(v)) rc = -1;
        sum += v * (double)m;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    if (rc != 0) return dc_error("mlplm: evaluation failed: %s", dc_last_error()), -1;
    out->loss = sum / (double)n;
    dc_metrics_set(out, "nll", out->loss, false);
    dc_metrics_set(out, "perplexity", exp(out->loss), false);
    return 0;
}

/* samples.txt: 20 names drawn from the model with a fixed generator. */
static int mlplm_render(void *state, dc_module *model, const char *dir)
{
    mlplm_state *st = state;
    char path[4200];
    snprintf(path, sizeof path, "%s/samples.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) return dc_error("mlplm: cannot write %s", path), -1;
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    int64_t ids[64];
    int rc = 0;
    for (int i = 0; i < 20 && rc == 0; i++) {
        int64_t n = mlplm_sample(model, &rng, st->boundary, 64, ids);
        char *s = n >= 0 ? dc_tokenizer_decode(st->tok, ids, n, NULL) : NULL;
        if (!s) rc = -1;
        else fprintf(f, "%s\n", s);
        free(s);
    }
    if (fclose(f) != 0) rc = -1;
    return rc;
}

const dc_task mlplm_task = {
    .name = "mlplm",
    .summary = "Bengio-style MLP character model on English first names (makemore): test nll",
    .options = mlplm_options,
    .settings_size = sizeof(mlplm_settings),
    .defaults = mlplm_defaults,
    .run_defaults = "epochs = 10\nbatch = 32\nlr = 1e-3\noptim = adam\n",
    .setup = mlplm_setup,
    .step = mlplm_step,
    .evaluate = mlplm_evaluate,
    .render = mlplm_render,
    .close = mlplm_close,
};
