/* word2vec on the Brown corpus (apps/word2vec): skip-gram (or CBOW) with negative sampling
 * trained with Adam for a time budget, then nearest neighbours, the built-in analogies and a
 * 2-D PCA picture of selected words. The same pipeline as `deepc train --task word2vec`.
 *   build/examples/word2vec [--mode sgns|cbow] [--seconds S] [--dim D] [--batch B]
 *                           [--lr LR] [--threads T] [--out SVG] [--text PATH]
 * Defaults: sgns, 600 s, dim 100, batch 1024, lr 2e-3, window 5, 5 negatives, min count 5,
 * subsampling 1e-4, docs/images/word2vec_pca.svg, data/brown.txt (else the sample). */
#include "deepc.h"
#include "ngram/ngram.h"
#include "word2vec/word2vec.h"

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

static double eval_loss(dc_module *m, const w2v_data *d, bool cbow, int64_t B)
{
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    bool g = dc_no_grad_begin();
    double sum = 0;
    for (int i = 0; i < 20; i++) {
        size_t scope = dc_scope_begin();
        dc_tensor *a, *b, *n;
        w2v_batch(d, cbow, B, 5, &rng, &a, &b, &n);
        sum += dc_item(cbow ? w2v_cbow_loss(m, a, b, n) : w2v_sgns_loss(m, a, b, n));
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(g);
    return sum / 20;
}

int main(int argc, char **argv)
{
    double seconds = 600, lr = 2e-3;
    int64_t dim = 100, batch = 1024;
    const char *mode = "sgns", *out = "docs/images/word2vec_pca.svg", *text_path = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--mode")) mode = v;
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--dim")) dim = atoll(v);
        else if (!strcmp(a, "--batch")) batch = atoll(v);
        else if (!strcmp(a, "--lr")) lr = atof(v);
        else if (!strcmp(a, "--threads")) dc_set_num_threads(atoi(v));
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--text")) text_path = v;
        else return fprintf(stderr, "word2vec: unknown option %s\n", a), 2;
    }
    bool cbow = !strcmp(mode, "cbow");
    const char *paths[] = {text_path ? text_path : "data/brown.txt", "assets/brown_sample.txt"};
    const char *used;
    char *text = lm_read_first(paths, text_path ? 1 : 2, &used, NULL);
    w2v_vocab *vocab = text ? w2v_vocab_build(text, 5, 0) : NULL;
    int64_t n = 0;
    int64_t *ids = vocab ? w2v_encode(vocab, text, &n) : NULL;
    if (!ids) return fprintf(stderr, "word2vec: %s\n", dc_last_error()), 1;
    int64_t n_train = n * 9 / 10;
    w2v_data *train = w2v_data_new(vocab, ids, n_train, 1e-4, 5, 0);
    w2v_data *val = w2v_data_new(vocab, ids + n_train, n - n_train, 1e-4, 5, 1);
    dc_rng model_rng, rng;
    dc_rng_seed(&model_rng, 0);
    dc_rng_seed(&rng, 1);
    dc_module *m = train && val ? w2v_new(w2v_vocab_size(vocab), dim, &model_rng) : NULL;
    dc_tensor_list params;
    if (!m || dc_module_parameters(m, &params) != 0)
        return fprintf(stderr, "word2vec: %s\n", dc_last_error()), 1;
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, lr);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    int64_t per_epoch = w2v_data_tokens(train) / batch;
    printf("%s: %lld words in the vocabulary (min count 5), %lld tokens (%lld / %lld train / "
           "held out after subsampling); %s, dim %lld: %lld parameters; val loss %.4f at init; "
           "training %.0f s\n",
           used, (long long)w2v_vocab_size(vocab), (long long)n, (long long)w2v_data_tokens(train),
           (long long)w2v_data_tokens(val), mode, (long long)dim,
           (long long)dc_module_num_params(m, false), eval_loss(m, val, cbow, batch), seconds);
    double t0 = now(), acc = 0;
    int64_t step = 0;
    dc_tensor *emb = dc_module_param(m, "in.weight");
    while (now() - t0 < seconds) {
        size_t scope = dc_scope_begin();
        dc_tensor *a, *b, *neg;
        w2v_batch(train, cbow, batch, 5, &rng, &a, &b, &neg);
        dc_tensor *loss = cbow ? w2v_cbow_loss(m, a, b, neg) : w2v_sgns_loss(m, a, b, neg);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0)
            return fprintf(stderr, "word2vec: %s\n", dc_last_error()), 1;
        acc += dc_item(loss);
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
        if (++step % 1000 == 0) {
            int asked;
            double an = w2v_analogy_accuracy(emb, vocab, &asked);
            printf("step %6lld (%.2f epochs, %4.0f s): train loss %.4f  val loss %.4f  analogies "
                   "%.0f/%d\n",
                   (long long)step, (double)step / (double)per_epoch, now() - t0, acc / 1000,
                   eval_loss(m, val, cbow, batch), an * asked, asked);
            fflush(stdout);
            acc = 0;
        }
    }
    int asked;
    double an = w2v_analogy_accuracy(emb, vocab, &asked);
    printf("trained %lld steps (%.2f epochs) in %.0f s, %d thread(s): val loss %.4f, analogies "
           "%.0f of %d\n",
           (long long)step, (double)step / (double)per_epoch, now() - t0, dc_get_num_threads(),
           eval_loss(m, val, cbow, batch), an * asked, asked);
    int rc = w2v_report(emb, vocab, stdout, out);
    if (rc != 0) fprintf(stderr, "word2vec: %s\n", dc_last_error());
    else printf("wrote %s\n", out);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(m);
    w2v_data_free(train), w2v_data_free(val);
    w2v_vocab_free(vocab);
    free(ids), free(text);
    return rc ? 1 : 0;
}
