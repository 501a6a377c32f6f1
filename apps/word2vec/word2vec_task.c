/* `deepc train --task word2vec` and the report of trained vectors. */
#include "ngram/ngram.h"
#include "word2vec/word2vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const queries[] = {"man", "president", "money", "water", "war", "church",
                                      "good", "three", "monday", "city", "house", "said"};

static const char *const picture[][8] = {
    {"one", "two", "three", "four", "five", "six", "seven", "ten"},
    {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", NULL},
    {"father", "mother", "son", "daughter", "brother", "sister", "wife", "husband"},
    {"said", "told", "asked", "replied", "answered", "explained", NULL, NULL},
    {"red", "blue", "green", "white", "black", "yellow", "brown", NULL},
    {"city", "town", "village", "country", "state", "nation", NULL, NULL},
};

int w2v_report(const dc_tensor *emb, const w2v_vocab *v, FILE *out, const char *svg_path)
{
    if (!emb || !v || !out) return dc_error("w2v_report: NULL argument"), -1;
    fprintf(out, "nearest neighbours (cosine):\n");
    for (size_t q = 0; q < sizeof queries / sizeof queries[0]; q++) {
        int64_t id = w2v_vocab_id(v, queries[q]), ids[8];
        if (id < 0) continue;
        double sims[8];
        size_t scope = dc_scope_begin();
        int n = w2v_nearest(emb, dc_select((dc_tensor *)emb, 0, id), 8, &id, 1, ids, sims);
        dc_scope_end(scope);
        if (n < 0) return -1;
        fprintf(out, "  %-10s", queries[q]);
        for (int i = 0; i < n; i++) fprintf(out, " %s (%.2f)", w2v_vocab_word(v, ids[i]), sims[i]);
        fprintf(out, "\n");
    }
    int asked = 0, right = 0;
    fprintf(out, "analogies a : b :: c : ? (answer, expected):\n");
    for (int i = 0; i < w2v_n_analogies; i++) {
        int64_t id[4];
        bool all = true;
        for (int j = 0; j < 4; j++) all &= (id[j] = w2v_vocab_id(v, w2v_analogies[i][j])) >= 0;
        if (!all) continue;
        int64_t got = w2v_analogy(emb, id[0], id[1], id[2]);
        asked++, right += got == id[3];
        fprintf(out, "  %s : %s :: %s : %s%s\n", w2v_analogies[i][0], w2v_analogies[i][1],
                w2v_analogies[i][2], w2v_vocab_word(v, got), got == id[3] ? "  ok" : "");
        if (got != id[3]) fprintf(out, "      (expected %s)\n", w2v_analogies[i][3]);
    }
    fprintf(out, "analogies right: %d of %d\n", right, asked);
    if (!svg_path) return 0;
    const char *labels[64];
    int groups[64], n = 0;
    int64_t ids[64];
    for (int g = 0; g < (int)(sizeof picture / sizeof picture[0]); g++)
        for (int j = 0; j < 8 && picture[g][j]; j++) {
            int64_t id = w2v_vocab_id(v, picture[g][j]);
            if (id < 0) continue;
            labels[n] = picture[g][j], groups[n] = g, ids[n++] = id;
        }
    if (n < 2) return 0;
    size_t scope = dc_scope_begin();
    dc_tensor *rows = dc_index_select(dc_normalize((dc_tensor *)emb, 2, 1, 1e-12), 0,
                                      dc_from_buffer(DC_I64, DC_SHAPE(n), ids));
    dc_tensor *xy = w2v_pca2(rows);
    double pts[128];
    int rc = xy && dc_to_double_buffer(xy, pts, 2 * n) == 0
                 ? w2v_scatter_svg(svg_path, "word2vec: selected Brown words, first two principal components",
                                   pts, labels, groups, n)
                 : -1;
    dc_scope_end(scope);
    return rc;
}

typedef struct {
    char mode[8];
    long dim, window, negatives, min_count;
    double subsample;
} w2v_settings;

#define OPT(name, type, field, min, max, choices, help)                                        \
    DC_OPTION(w2v_settings, name, type, field, min, max, choices, help)
static const dc_option w2v_options[] = {
    OPT("mode", DC_OPTION_TEXT, mode, 0, 0, "sgns|cbow", "skip-gram or CBOW, negative sampling"),
    OPT("vec-dim", DC_OPTION_INT, dim, 1, 2048, NULL, "word vector width"),
    OPT("window", DC_OPTION_INT, window, 1, 32, NULL, "context words on each side"),
    OPT("negatives", DC_OPTION_INT, negatives, 1, 64, NULL, "negative samples per example"),
    OPT("min-count", DC_OPTION_INT, min_count, 1, 1e6, NULL, "rarer words are dropped"),
    OPT("subsample", DC_OPTION_REAL, subsample, 0, 1, NULL, "frequent-word subsampling t (0: off)"),
    DC_OPTION_END,
};

static void w2v_defaults(void *settings)
{
    *(w2v_settings *)settings = (w2v_settings){"sgns", 100, 5, 5, 5, 1e-4};
}

typedef struct {
    w2v_settings s;
    int64_t batch;
    w2v_vocab *vocab;
    w2v_data *train, *val;
} w2v_state;

static void w2v_close(void *state)
{
    w2v_state *st = state;
    if (!st) return;
    w2v_vocab_free(st->vocab);
    w2v_data_free(st->train);
    w2v_data_free(st->val);
    free(st);
}

static int w2v_setup(dc_task_setup *ctx)
{
    w2v_state *st = calloc(1, sizeof *st);
    if (!st) return dc_error("word2vec: out of memory"), -1;
    ctx->state = st;
    st->s = *(const w2v_settings *)ctx->settings;
    st->batch = ctx->batch;
    static const char *const defaults[] = {"data/brown.txt", "assets/brown_sample.txt",
                                           "../assets/brown_sample.txt"};
    const char *one[1] = {ctx->data}, *used;
    char *text = ctx->data && ctx->data[0] ? lm_read_first(one, 1, &used, NULL)
                                           : lm_read_first(defaults, 3, &used, NULL);
    if (!text) return -1;
    st->vocab = w2v_vocab_build(text, st->s.min_count, 0);
    int64_t n = 0;
    int64_t *ids = st->vocab ? w2v_encode(st->vocab, text, &n) : NULL;
    free(text);
    if (!ids) return -1;
    ctx->model = w2v_new(w2v_vocab_size(st->vocab), st->s.dim, ctx->model_rng);
    int64_t n_train = n * 9 / 10;
    int rc = ctx->model ? 0 : -1;
    if (rc == 0 && ctx->with_data) {
        st->train = w2v_data_new(st->vocab, ids, n_train, st->s.subsample, (int)st->s.window, ctx->seed);
        st->val = w2v_data_new(st->vocab, ids + n_train, n - n_train, st->s.subsample,
                               (int)st->s.window, ctx->seed + 1);
        rc = st->train && st->val ? 0 : -1;
        if (rc == 0) {
            ctx->steps_per_epoch = w2v_data_tokens(st->train) / ctx->batch;
            if (ctx->steps_per_epoch < 1) ctx->steps_per_epoch = 1;
        }
    }
    free(ids);
    return rc;
}

static dc_tensor *loss_of(const w2v_state *st, dc_module *model, const w2v_data *d, dc_rng *rng)
{
    bool cbow = !strcmp(st->s.mode, "cbow");
    dc_tensor *a, *b, *neg;
    if (w2v_batch(d, cbow, st->batch, st->s.negatives, rng, &a, &b, &neg) != 0) return NULL;
    return cbow ? w2v_cbow_loss(model, a, b, neg) : w2v_sgns_loss(model, a, b, neg);
}

static dc_tensor *w2v_step(void *state, dc_module *model, dc_rng *rng, int64_t step)
{
    (void)step;
    return loss_of(state, model, ((w2v_state *)state)->train, rng);
}

enum { EVAL_BATCHES = 20 };

/* The loss of 20 batches of held-out text drawn with a fixed generator, and the analogies. */
static int w2v_evaluate(void *state, dc_module *model, dc_task_split split, dc_metrics *out)
{
    w2v_state *st = state;
    dc_rng rng;
    dc_rng_seed(&rng, split == DC_TASK_TEST ? 2 : 1);
    bool g = dc_no_grad_begin();
    double sum = 0;
    int rc = 0;
    for (int i = 0; i < EVAL_BATCHES && rc == 0; i++) {
        size_t scope = dc_scope_begin();
        double v = dc_item(loss_of(st, model, st->val, &rng));
        if (!isfinite(v)) rc = -1;
        sum += v;
        dc_scope_end(scope);
    }
    int asked = 0;
    double acc = rc == 0 ? w2v_analogy_accuracy(dc_module_param(model, "in.weight"), st->vocab, &asked) : -1;
    dc_grad_mode_restore(g);
    if (rc != 0 || acc < 0) return -1;
    out->loss = sum / EVAL_BATCHES;
    dc_metrics_set(out, "loss", out->loss, false);
    dc_metrics_set(out, "analogy_accuracy", acc, true);
    dc_metrics_set(out, "analogies_asked", asked, true);
    return 0;
}

static int w2v_render(void *state, dc_module *model, const char *dir)
{
    w2v_state *st = state;
    char path[4200], svg[4200];
    snprintf(path, sizeof path, "%s/neighbours.txt", dir);
    snprintf(svg, sizeof svg, "%s/word2vec_pca.svg", dir);
    FILE *f = fopen(path, "w");
    if (!f) return dc_error("word2vec: cannot write %s", path), -1;
    int rc = w2v_report(dc_module_param(model, "in.weight"), st->vocab, f, svg);
    if (fclose(f) != 0) rc = -1;
    return rc;
}

const dc_task word2vec_task = {
    .name = "word2vec",
    .summary = "word2vec skip-gram / CBOW with negative sampling on Brown: neighbours, analogies",
    .options = w2v_options,
    .settings_size = sizeof(w2v_settings),
    .defaults = w2v_defaults,
    .run_defaults = "epochs = 1\nbatch = 1024\nlr = 2e-3\noptim = adam\n",
    .setup = w2v_setup,
    .step = w2v_step,
    .evaluate = w2v_evaluate,
    .render = w2v_render,
    .close = w2v_close,
};
