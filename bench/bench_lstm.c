/* LSTM language-model benchmark (issue 12), mirrored line by line in bench/torch_lstm.py.
 *
 *   lstm_lm  one training step of a word-level LSTM language model: Embedding(10000, 512) ->
 *            LSTM(512, 512, num_layers=2, batch_first=True) -> Linear(512, 10000), on a batch
 *            of 32 sequences of 64 tokens: forward, per-token cross-entropy, backward
 *            (back-propagation through the 64 unrolled steps), AdamW (lr 1e-3, torch
 *            defaults otherwise), gradients dropped. "time lstm_lm <seconds per step>".
 *
 * usage: bench_lstm [--threads T] [--reps R] WORKLOAD...
 * Token ids are uniform random (seeded); the step's time does not depend on them. One untimed
 * warm-up step first (AdamW's state, thread pool, allocator). "info lstm_lm_params N" reports
 * the parameter count, which bench/torch_lstm.py must match (14,452,496). */
#include "bench_common.h"

enum { VOCAB = 10000, EMBED = 512, HIDDEN = 512, LAYERS = 2, BATCH = 32, TOKENS = 64 };
enum { WARMUP_STEPS = 1 };

static dc_tensor *random_ids(dc_rng *rng, int64_t rows, int64_t cols)
{
    int64_t *ids = malloc((size_t)(rows * cols) * sizeof *ids);
    if (!ids) return NULL;
    for (int64_t i = 0; i < rows * cols; i++) ids[i] = (int64_t)(dc_rng_u64(rng) % VOCAB);
    dc_tensor *t = dc_from_buffer(DC_I64, DC_SHAPE(rows, cols), ids);
    free(ids);
    return t;
}

/* loss = CE(model(x) as [B*T, V], y as [B*T]); backward; AdamW. Returns the loss or NAN. */
static double lstm_lm_step(dc_module *model, dc_optimizer *opt, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin();
    const int64_t rows = x->shape[0] * x->shape[1];
    dc_tensor *logits = dc_reshape(dc_forward(model, x), DC_SHAPE(rows, VOCAB));
    dc_tensor *loss = dc_cross_entropy(logits, dc_reshape(y, DC_SHAPE(rows)), NULL);
    return bench_finish_step(loss, opt, scope);
}

static int bench_lstm_lm(const bench_options *opt)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    dc_rnn_opts lstm = DC_RNN_DEFAULTS;
    lstm.num_layers = LAYERS;
    lstm.batch_first = true;
    dc_module *model = dc_sequential_new(3, dc_embedding_new(VOCAB, EMBED, &rng),
                                         dc_rnn_new(DC_RNN_LSTM, EMBED, HIDDEN, lstm, &rng),
                                         dc_linear_new(HIDDEN, VOCAB, true, &rng));
    dc_tensor_list params = {0};
    dc_optim_config config = dc_optim_defaults(DC_ADAMW, 1e-3);
    dc_optimizer *optimizer = NULL;
    if (model && dc_module_parameters(model, &params) == 0)
        optimizer = dc_optimizer_new(&params, &config);
    dc_tensor *x = random_ids(&rng, BATCH, TOKENS), *y = random_ids(&rng, BATCH, TOKENS);
    bool ok = optimizer && x && y;
    if (ok) printf("info lstm_lm_params %lld\n", (long long)dc_module_num_params(model, false));
    ok = ok && bench_time_steps("lstm_lm", WARMUP_STEPS, opt->reps, lstm_lm_step, model, optimizer,
                                x, y);
    if (!optimizer) fprintf(stderr, "bench_lstm: cannot build the model: %s\n", dc_last_error());
    dc_tensor_free(x), dc_tensor_free(y);
    dc_optimizer_free(optimizer);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    static const bench_workload workloads[] = {{"lstm_lm", bench_lstm_lm}};
    return bench_main(argc, argv, workloads, sizeof workloads / sizeof *workloads);
}
