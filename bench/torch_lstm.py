"""PyTorch side of bench/bench_lstm.c, line by line.

  lstm_lm  one training step of a word-level LSTM language model: Embedding(10000, 512) ->
           LSTM(512, 512, num_layers=2, batch_first=True) -> Linear(512, 10000), on a batch of
           32 sequences of 64 tokens: forward, per-token cross-entropy, backward, AdamW(lr 1e-3,
           torch defaults otherwise), zero_grad(set_to_none=True). "time lstm_lm <seconds>".

Parameter count 14,452,496 (printed as "info lstm_lm_params N", equal to deepc's). torch's CPU
LSTM runs the same algorithm as deepc's (input projections of all steps in one matmul, one
recurrent matmul per step, autograd through the unrolled steps).

usage: /usr/bin/python3 bench/torch_lstm.py [--threads T] [--reps R] WORKLOAD...
"""
import torch
from torch import nn
from torch.nn import functional as F

import torch_common as common

VOCAB, EMBED, HIDDEN, LAYERS, BATCH, TOKENS = 10000, 512, 512, 2, 32, 64
WARMUP_STEPS = 1  # as bench_lstm.c: the first step allocates AdamW's state


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, EMBED)
        self.lstm = nn.LSTM(EMBED, HIDDEN, num_layers=LAYERS, batch_first=True)
        self.head = nn.Linear(HIDDEN, VOCAB)

    def forward(self, ids):
        out, _ = self.lstm(self.embedding(ids))
        return self.head(out)


def lstm_lm_step(model, optimizer, x, y):
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, VOCAB), y.view(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_lstm_lm(args):
    torch.manual_seed(0)
    model = LanguageModel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, VOCAB, (BATCH, TOKENS))
    y = torch.randint(0, VOCAB, (BATCH, TOKENS))
    print(f"info lstm_lm_params {sum(p.numel() for p in model.parameters())}")
    for s in range(WARMUP_STEPS):
        start = common.now()
        lstm_lm_step(model, optimizer, x, y)
        print(f"info lstm_lm_warmup{s}_seconds {common.now() - start:.3f}")
    loss = None
    for _ in range(args.reps):
        start = common.now()
        loss = lstm_lm_step(model, optimizer, x, y)
        common.report("lstm_lm", common.now() - start)
    print(f"info lstm_lm_final_loss {loss.item():.4f}")


WORKLOADS = {"lstm_lm": bench_lstm_lm}


if __name__ == "__main__":
    common.main(__doc__, WORKLOADS, "torch_lstm")
