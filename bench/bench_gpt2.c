/* GPT benchmarks (issue 5, workload 4), mirrored line by line in bench/torch_gpt2.py.
 *
 *   gpt2_step     one training step of a GPT-2-124M-shaped model (dc_gpt_new: 12 layers,
 *                 12 heads, width 768, vocab 50257 padded to 50304, context 64, no dropout)
 *                 on a batch of 4 sequences of 64 tokens: forward, per-token cross-entropy,
 *                 backward, AdamW (lr 6e-4, torch defaults otherwise), gradients dropped.
 *                 "time gpt2_step <seconds per step>".
 *   gpt_generate  a small GPT (6 layers, 6 heads, width 384, vocab 512, context 256) in
 *                 eval mode: dc_gpt_generate from a 56-token prompt to 200 new tokens (the
 *                 window fills the context exactly), temperature 1, no top-k/top-p. Both
 *                 sides cache keys and values: the prompt runs once, then each token runs
 *                 one position through the model. "time gpt_generate <seconds per token>".
 *
 * usage: bench_gpt2 [--threads T] [--reps R] WORKLOAD...
 * The token ids are uniform random (seeded); a training step's timing does not depend on
 * them. One untimed warm-up step first (AdamW's state, thread pool, allocator), one
 * untimed warm-up generation of 8 tokens. "info <workload>_params N" reports the parameter
 * count, which bench/torch_gpt2.py must match. */
#include "bench_common.h"

#include <math.h>

enum { WARMUP_STEPS = 1 }; /* the first step allocates AdamW's state; later ones reuse it */

/* GPT-2 124M shapes, batch 4 x 64 tokens. */
static const dc_gpt_config GPT2_CONFIG = {.vocab = 50304, .context = 64, .layers = 12,
                                          .heads = 12, .dim = 768, .dropout = 0.0};
enum { GPT2_BATCH = 4, GPT2_TOKENS = 64, GPT2_REAL_VOCAB = 50257 };

/* The small generating GPT. */
static const dc_gpt_config SMALL_CONFIG = {.vocab = 512, .context = 256, .layers = 6,
                                           .heads = 6, .dim = 384, .dropout = 0.0};
enum { PROMPT_TOKENS = 56, NEW_TOKENS = 200 };

/* Uniform ids in [0, vocab) as an int64 tensor of the given shape. */
static dc_tensor *random_ids(dc_rng *rng, int64_t vocab, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    int64_t *ids = malloc((size_t)n * sizeof *ids);
    if (!ids) return NULL;
    for (int64_t i = 0; i < n; i++) ids[i] = (int64_t)(dc_rng_u64(rng) % (uint64_t)vocab);
    dc_tensor *t = dc_from_buffer(DC_I64, ndim, shape, ids);
    free(ids);
    return t;
}

/* One step: loss = CE(model(x) as [B*T, V], y as [B*T]); backward; AdamW. Returns the
 * loss or NAN. */
static double gpt2_train_step(dc_module *model, dc_optimizer *opt, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin(); /* everything the step makes dies with it */
    const int64_t V = GPT2_CONFIG.vocab, rows = x->shape[0] * x->shape[1];
    dc_tensor *logits = dc_reshape(dc_forward(model, x), DC_SHAPE(rows, V));
    dc_tensor *loss = dc_cross_entropy(logits, dc_reshape(y, DC_SHAPE(rows)), NULL);
    return bench_finish_step(loss, opt, scope);
}

static int bench_gpt2_step(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    double build_start = bench_now();
    dc_module *model = dc_gpt_new(&GPT2_CONFIG, &rng);
    printf("info gpt2_step_build_seconds %.3f\n", bench_now() - build_start);
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_ADAMW, 6e-4);
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    /* one fixed batch of input ids and target ids [B, T] */
    dc_tensor *x = random_ids(&rng, GPT2_REAL_VOCAB, DC_SHAPE(GPT2_BATCH, GPT2_TOKENS));
    dc_tensor *y = random_ids(&rng, GPT2_REAL_VOCAB, DC_SHAPE(GPT2_BATCH, GPT2_TOKENS));
    bool ok = optimizer && x && y;
    if (ok) printf("info gpt2_step_params %lld\n", (long long)dc_module_num_params(model, false));
    ok = ok && bench_time_steps("gpt2_step", WARMUP_STEPS, opt->reps, gpt2_train_step, model,
                                optimizer, x, y);
    dc_tensor_free(x), dc_tensor_free(y);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

static int bench_generate(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_module *model = dc_gpt_new(&SMALL_CONFIG, &rng);
    dc_tensor *prompt = random_ids(&rng, SMALL_CONFIG.vocab, DC_SHAPE(1, PROMPT_TOKENS));
    bool ok = model && prompt;
    if (ok) printf("info gpt_generate_params %lld\n", (long long)dc_module_num_params(model, false));
    if (ok) { /* warm-up: thread pool, allocator */
        dc_tensor *out = dc_gpt_generate(model, prompt, 8, 1.0, 0, 1.0, &rng);
        ok = out != NULL;
        dc_tensor_free(out);
    }
    for (int r = 0; r < opt->reps && ok; r++) {
        double start = bench_now();
        dc_tensor *out = dc_gpt_generate(model, prompt, NEW_TOKENS, 1.0, 0, 1.0, &rng);
        double seconds = bench_now() - start;
        ok = out != NULL;
        if (ok) printf("time gpt_generate %.6f\n", seconds / NEW_TOKENS);
        fflush(stdout);
        dc_tensor_free(out);
    }
    if (!ok) fprintf(stderr, "bench_gpt2: gpt_generate failed: %s\n", dc_last_error());
    dc_tensor_free(prompt);
    dc_module_free(model);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"gpt2_step", bench_gpt2_step},
                                               {"gpt_generate", bench_generate}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
