/* The Bengio-style MLP language model on the English first names (the course's makemore
 * practicals 2-4; apps/mlplm) with the practicals' diagnostics:
 *   docs/images/mlplm_activations.svg  histograms of each hidden layer's tanh output at init
 *   docs/images/mlplm_gradients.svg    histograms of the gradient at each tanh output at init
 *   docs/images/mlplm_update_ratio.svg log10(std(lr * grad) / std(weight)) per weight matrix
 *                                      over training (the practical's ~ -3 guide line)
 *   docs/images/mlplm_loss.svg         training loss (mean of 200 steps) and validation NLL
 * Plain SGD as in the practicals (lr 0.1, then 0.01 for the last quarter), batch 32.
 * --ninja trains with the hand-written backward (mlplm_manual_backward) instead of autograd.
 *   build/examples/mlplm [--steps N] [--depth D] [--width W] [--no-batchnorm] [--ninja]
 *                        [--threads T] [--out-dir DIR] [--names PATH] */
#include "deepc.h"
#include "mlplm/mlplm.h"
#include "ngram/ngram.h"

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

enum { BINS = 60, MAX_DEPTH = 16 };

static dc_tensor *keep_grad(dc_tensor *t, dc_tensor *grad, void *user)
{
    (void)t;
    dc_tensor **slot = user;
    dc_tensor_free(*slot);
    *slot = dc_tensor_retain(grad);
    return grad;
}

static dc_dataset *windows(const dc_tokenizer *tok, const char *text, int64_t block)
{
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, text, strlen(text), &n);
    dc_dataset *ds = ids ? mlplm_windows(ids, n, 0, dc_tokenizer_vocab_size(tok), block) : NULL;
    free(ids);
    return ds;
}

static double nll(dc_module *m, const dc_dataset *ds)
{
    bool g = dc_no_grad_begin();
    dc_module_train(m, false);
    size_t scope = dc_scope_begin();
    double v = dc_item(dc_cross_entropy(dc_forward(m, ds->inputs), ds->targets, NULL));
    dc_scope_end(scope);
    dc_module_train(m, true);
    dc_grad_mode_restore(g);
    return v;
}

/* Histograms of one tensor per layer as an SVG line plot. */
static int histograms(const char *path, const char *title, const char *xlabel, dc_tensor **ts,
                      int depth, double lo, double hi, double saturation)
{
    static double centers[MAX_DEPTH][BINS], dens[MAX_DEPTH][BINS];
    static char labels[MAX_DEPTH][96];
    dc_plot_series series[MAX_DEPTH];
    printf("%s\n", title);
    for (int l = 0; l < depth; l++) {
        double mean, std, sat;
        if (mlplm_stats(ts[l], saturation, lo, hi, BINS, &mean, &std, &sat, centers[l], dens[l]) != 0)
            return -1;
        if (saturation > 0)
            snprintf(labels[l], sizeof labels[l], "layer %d: mean %+.2f, std %.2f, saturated %.1f%%",
                     l, mean, std, 100 * sat);
        else
            snprintf(labels[l], sizeof labels[l], "layer %d: mean %+.1e, std %.2e", l, mean, std);
        printf("  %s\n", labels[l]);
        series[l] = (dc_plot_series){labels[l], centers[l], dens[l], BINS, NULL, false};
    }
    return dc_plot_svg(path, title, xlabel, "density", series, depth);
}

int main(int argc, char **argv)
{
    int64_t steps = 30000, batch = 32, width = 100, block = 3, emb = 10;
    int depth = 4;
    bool batchnorm = true, ninja = false;
    const char *dir = "docs/images", *names_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--steps")) steps = atoll(v), i++;
        else if (!strcmp(a, "--depth")) depth = atoi(v), i++;
        else if (!strcmp(a, "--width")) width = atoll(v), i++;
        else if (!strcmp(a, "--threads")) dc_set_num_threads(atoi(v)), i++;
        else if (!strcmp(a, "--out-dir")) dir = v, i++;
        else if (!strcmp(a, "--names")) names_path = v, i++;
        else if (!strcmp(a, "--no-batchnorm")) batchnorm = false;
        else if (!strcmp(a, "--ninja")) ninja = true;
        else return fprintf(stderr, "mlplm: unknown option %s\n", a), 2;
    }
    if (depth < 1 || depth > MAX_DEPTH) return fprintf(stderr, "mlplm: depth 1..16\n"), 2;
    const char *paths[] = {names_path ? names_path : "data/names.txt", "assets/names_sample.txt"};
    const char *used;
    char *text = lm_read_first(paths, names_path ? 1 : 2, &used, NULL), *train, *val, *test;
    if (!text || lm_split_lines(text, true, 0, 0.1, 0.1, &train, &val, &test) < 0)
        return fprintf(stderr, "mlplm: %s\n", dc_last_error()), 1;
    size_t n_all = strlen(train) + strlen(val) + strlen(test);
    char *all = malloc(n_all + 1);
    snprintf(all, n_all + 1, "%s%s%s", train, val, test);
    dc_tokenizer *tok = dc_tokenizer_char_build(all, n_all);
    dc_dataset *tr = windows(tok, train, block), *va = windows(tok, val, block),
               *te = windows(tok, test, block);
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    mlplm_config c = {dc_tokenizer_vocab_size(tok), block, emb, width, depth, batchnorm};
    dc_module *m = mlplm_new(&c, &rng);
    dc_tensor_list ps;
    if (!tr || !va || !te || !m || dc_module_parameters(m, &ps) != 0)
        return fprintf(stderr, "mlplm: %s\n", dc_last_error()), 1;
    printf("%s: %lld / %lld / %lld examples; MLPLM block %lld, emb %lld, %d x %lld tanh%s: "
           "%lld parameters; %lld SGD steps of %lld%s\n",
           used, (long long)dc_dataset_size(tr), (long long)dc_dataset_size(va),
           (long long)dc_dataset_size(te), (long long)block, (long long)emb, depth,
           (long long)width, batchnorm ? " + batch norm" : "", (long long)dc_module_num_params(m, false),
           (long long)steps, (long long)batch, ninja ? ", hand-written backward" : "");

    /* weights whose update ratio is tracked: the hidden Linears and the head */
    int n_w = 0, widx[MAX_DEPTH + 1];
    for (int i = 0; i < ps.n; i++)
        if (strstr(ps.names[i], "fc.weight") || !strcmp(ps.names[i], "head.weight")) widx[n_w++] = i;
    int64_t n_log = steps / 100 + 1; /* every 100 steps */
    double *ratio = calloc((size_t)(n_w * n_log), sizeof *ratio), *xs = calloc((size_t)n_log, sizeof *xs);
    int64_t n_curve = steps / 200 + 1;
    double *curve = calloc((size_t)n_curve, sizeof *curve), *cx = calloc((size_t)n_curve, sizeof *cx);
    double *vcurve = calloc((size_t)n_curve, sizeof *vcurve);
    for (int64_t i = 0; i < n_curve; i++) vcurve[i] = NAN;
    dc_rng batch_rng;
    dc_rng_seed(&batch_rng, 1);
    double t0 = now(), acc = 0, max_gap = 0;
    int64_t logged = 0, curves = 0;
    dc_module_train(m, true);
    for (int64_t s = 0; s < steps; s++) {
        size_t scope = dc_scope_begin();
        double lr = s < steps * 3 / 4 ? 0.1 : 0.01;
        dc_tensor *x, *y, *acts[MAX_DEPTH], *agrads[MAX_DEPTH] = {0}, *grads[64];
        dc_dataset_random_batch(tr, batch, &batch_rng, &x, &y);
        double loss;
        if (ninja) {
            dc_tensor *l = mlplm_manual_backward(m, x, y, grads);
            if (!l) return fprintf(stderr, "mlplm: %s\n", dc_last_error()), 1;
            loss = dc_item(l);
            dc_forward(m, x); /* the running batch-norm statistics, as the autograd path */
        } else {
            dc_tensor *logits = mlplm_forward(m, x, acts);
            if (s == 0)
                for (int l = 0; l < depth; l++) dc_register_hook(acts[l], keep_grad, &agrads[l]);
            dc_tensor *l = dc_cross_entropy(logits, y, NULL);
            if (!l || dc_backward(l) != 0) return fprintf(stderr, "mlplm: %s\n", dc_last_error()), 1;
            loss = dc_item(l);
            for (int i = 0; i < ps.n; i++) grads[i] = ps.tensors[i]->grad;
            if (s == 0) {
                char path[4200];
                snprintf(path, sizeof path, "%s/mlplm_activations.svg", dir);
                histograms(path, "tanh outputs per layer at initialisation", "activation", acts,
                           depth, -1, 1, 0.97);
                double ghi = 0;
                for (int l = 0; l < depth; l++) {
                    double sd;
                    mlplm_stats(agrads[l], 0, 0, 0, 0, NULL, &sd, NULL, NULL, NULL);
                    ghi = fmax(ghi, 4 * sd);
                }
                snprintf(path, sizeof path, "%s/mlplm_gradients.svg", dir);
                histograms(path, "gradients at the tanh outputs at initialisation", "gradient",
                           agrads, depth, -ghi, ghi, 0);
                for (int l = 0; l < depth; l++) dc_tensor_free(agrads[l]);
                /* the hand-written backward on this batch, against autograd */
                dc_tensor *mg[64];
                if (mlplm_manual_backward(m, x, y, mg)) {
                    for (int i = 0; i < ps.n; i++) {
                        double *a = malloc(sizeof(double) * (size_t)dc_numel(mg[i]));
                        double *b = malloc(sizeof(double) * (size_t)dc_numel(mg[i]));
                        dc_to_double_buffer(mg[i], a, dc_numel(mg[i]));
                        dc_to_double_buffer(grads[i], b, dc_numel(mg[i]));
                        for (int64_t j = 0; j < dc_numel(mg[i]); j++) max_gap = fmax(max_gap, fabs(a[j] - b[j]));
                        free(a), free(b);
                    }
                    printf("hand-written backward vs autograd (float32): max |difference| %.2e\n", max_gap);
                }
            }
        }
        if (s % 100 == 0 && logged < n_log) {
            for (int k = 0; k < n_w; k++) {
                double gs, ws;
                mlplm_stats(grads[widx[k]], 0, 0, 0, 0, NULL, &gs, NULL, NULL, NULL);
                mlplm_stats(ps.tensors[widx[k]], 0, 0, 0, 0, NULL, &ws, NULL, NULL, NULL);
                ratio[k * n_log + logged] = log10(lr * gs / ws);
            }
            xs[logged++] = (double)s;
        }
        for (int i = 0; i < ps.n; i++) dc_axpy_(ps.tensors[i], -lr, grads[i]);
        dc_module_zero_grad(m);
        dc_scope_end(scope);
        acc += loss;
        if ((s + 1) % 200 == 0 && curves < n_curve) {
            cx[curves] = (double)(s + 1), curve[curves] = acc / 200, acc = 0;
            if ((s + 1) % 2000 == 0 || s + 1 == steps) {
                vcurve[curves] = nll(m, va);
                printf("step %6lld  train %.4f  val %.4f  (%.0f s)\n", (long long)(s + 1),
                       curve[curves], vcurve[curves], now() - t0);
                fflush(stdout);
            }
            curves++;
        }
    }
    double secs = now() - t0;
    printf("trained %lld steps in %.0f s (%d thread%s): train %.4f  val %.4f  test %.4f nats/char\n",
           (long long)steps, secs, dc_get_num_threads(), dc_get_num_threads() > 1 ? "s" : "",
           nll(m, tr), nll(m, va), nll(m, te));
    char path[4200];
    static char labels[MAX_DEPTH + 1][64];
    dc_plot_series series[MAX_DEPTH + 2];
    for (int k = 0; k < n_w; k++) {
        snprintf(labels[k], sizeof labels[k], "%s", ps.names[widx[k]]);
        series[k] = (dc_plot_series){labels[k], xs, ratio + k * n_log, (int)logged, NULL, false};
    }
    double guide_x[2] = {0, (double)steps}, guide_y[2] = {-3, -3};
    series[n_w] = (dc_plot_series){"1e-3 guide", guide_x, guide_y, 2, "#999999", false};
    snprintf(path, sizeof path, "%s/mlplm_update_ratio.svg", dir);
    dc_plot_svg(path, "update-to-data ratio, log10(std(lr grad) / std(weight))", "step",
                "log10 ratio", series, n_w + 1);
    dc_plot_series ls[2] = {{"train (mean of 200 steps)", cx, curve, (int)curves, NULL, false},
                            {"validation", cx, vcurve, (int)curves, NULL, true}};
    snprintf(path, sizeof path, "%s/mlplm_loss.svg", dir);
    dc_plot_svg(path, "MLP language model on names", "step", "nats per character", ls, 2);
    printf("samples:");
    dc_rng srng;
    dc_rng_seed(&srng, 3);
    for (int i = 0; i < 12; i++) {
        int64_t ids[40];
        int64_t n = mlplm_sample(m, &srng, 0, 40, ids);
        char *str = dc_tokenizer_decode(tok, ids, n, NULL);
        printf(" %s", str);
        free(str);
    }
    printf("\n");
    free(ratio), free(xs), free(curve), free(cx), free(vcurve);
    dc_tensor_list_free(&ps);
    dc_module_free(m);
    dc_dataset_free(tr), dc_dataset_free(va), dc_dataset_free(te);
    dc_tokenizer_free(tok);
    free(text), free(all), free(train), free(val), free(test);
    return 0;
}
