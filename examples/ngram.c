/* Count language models (the course's makemore practical 1; apps/ngram): bigram and trigram
 * character models with add-k smoothing on the English first names and on the Brown corpus.
 * k is chosen on the validation split; the test NLL (nats per character) and samples follow.
 *   build/examples/ngram [--names PATH] [--brown PATH]
 * Defaults: data/names.txt and data/brown.txt (`make data`), else the committed samples.
 * Names: lower-cased lines shuffled (seed 0) 80/10/10 (the mlplm task's split); Brown: the
 * first 80% of its lines for training, the next 10% validation, the last 10% test. */
#include "deepc.h"
#include "ngram/ngram.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double ks[] = {0.001, 0.01, 0.1, 0.5, 1.0};
enum { N_K = sizeof ks / sizeof ks[0] };

typedef struct {
    int64_t *ids;
    int64_t n;
} ids_t;

static ids_t encode(const dc_tokenizer *tok, const char *text)
{
    ids_t r = {NULL, 0};
    r.ids = dc_tokenizer_encode(tok, text, strlen(text), &r.n);
    return r;
}

static int run(const char *title, const dc_tokenizer *tok, const char *train, const char *val,
               const char *test, int64_t sample_len, int n_samples)
{
    int64_t nl = -1, one;
    int64_t *nlid = dc_tokenizer_encode(tok, "\n", 1, &one);
    if (nlid) nl = nlid[0];
    free(nlid);
    ids_t tr = encode(tok, train), va = encode(tok, val), te = encode(tok, test);
    if (!tr.ids || !va.ids || !te.ids || nl < 0) return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
    int64_t V = dc_tokenizer_vocab_size(tok);
    printf("\n%s: vocabulary %lld characters, %lld / %lld / %lld train / val / test characters\n",
           title, (long long)V, (long long)tr.n, (long long)va.n, (long long)te.n);
    printf("  order  k       val nll  test nll  (nats per character)\n");
    for (int order = 1; order <= 3; order++) {
        double best = INFINITY;
        int best_k = 0;
        for (int i = 0; i < N_K; i++) {
            ngram_model *m = ngram_new(order, V, nl, ks[i]);
            if (!m || ngram_add(m, tr.ids, tr.n) != 0) return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
            double v = ngram_nll(m, va.ids, va.n);
            if (v < best) best = v, best_k = i;
            ngram_free(m);
        }
        ngram_model *m = ngram_new(order, V, nl, ks[best_k]);
        ngram_add(m, tr.ids, tr.n);
        printf("  %d      %-6g  %.4f   %.4f   train %.4f\n", order, ks[best_k], best,
               ngram_nll(m, te.ids, te.n), ngram_nll(m, tr.ids, tr.n));
        if (order >= 2) {
            dc_rng rng;
            dc_rng_seed(&rng, 42);
            printf("    samples:");
            int64_t *out = malloc((size_t)sample_len * sizeof *out);
            for (int s = 0; s < n_samples; s++) {
                int64_t n = ngram_sample(m, &rng, sample_len, out);
                char *str = dc_tokenizer_decode(tok, out, n, NULL);
                printf("%s%s", n_samples > 1 ? " " : "\n    ", str);
                free(str);
            }
            printf("\n");
            free(out);
        }
        ngram_free(m);
    }
    free(tr.ids), free(va.ids), free(te.ids);
    return 0;
}

int main(int argc, char **argv)
{
    const char *names_paths[] = {"data/names.txt", "assets/names_sample.txt"};
    const char *brown_paths[] = {"data/brown.txt", "assets/brown_sample.txt"};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--names")) names_paths[0] = names_paths[1] = argv[i + 1];
        else if (!strcmp(argv[i], "--brown")) brown_paths[0] = brown_paths[1] = argv[i + 1];
        else return fprintf(stderr, "ngram: unknown option %s\n", argv[i]), 2;
    }
    const char *used;
    char *names = lm_read_first(names_paths, 2, &used, NULL);
    if (!names) return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
    char *train, *val, *test;
    if (lm_split_lines(names, true, 0, 0.1, 0.1, &train, &val, &test) < 0)
        return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
    free(names);
    size_t n_all = strlen(train) + strlen(val) + strlen(test);
    char *all = malloc(n_all + 1);
    snprintf(all, n_all + 1, "%s%s%s", train, val, test);
    dc_tokenizer *tok = dc_tokenizer_char_build(all, n_all);
    char title[256];
    snprintf(title, sizeof title, "names (%s)", used);
    int rc = tok ? run(title, tok, train, val, test, 30, 10) : 1;
    dc_tokenizer_free(tok);
    free(all), free(train), free(val), free(test);
    if (rc) return rc;

    char *brown = lm_read_first(brown_paths, 2, &used, NULL);
    if (!brown) return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
    tok = dc_tokenizer_char_build(brown, strlen(brown));
    char *btrain, *bval, *btest;
    /* the three parts as separate strings */
    size_t len = strlen(brown);
    char *a = strchr(brown + len * 8 / 10, '\n'), *b = strchr(brown + len * 9 / 10, '\n');
    if (!tok || !a || !b) return fprintf(stderr, "ngram: %s\n", dc_last_error()), 1;
    bval = strndup(a + 1, (size_t)(b - a));
    btest = strdup(b + 1);
    a[1] = 0;
    btrain = brown;
    snprintf(title, sizeof title, "Brown (%s)", used);
    rc = run(title, tok, btrain, bval, btest, 300, 1);
    dc_tokenizer_free(tok);
    free(brown), free(bval), free(btest);
    return rc;
}
