"""PyTorch side of bench/bench_gpt2.c, line by line.

  gpt2_step     one training step of a GPT-2-124M-shaped model: 12 layers, 12 heads,
                width 768, vocab 50257 padded to 50304, context 64, no dropout, batch 4 x 64
                tokens; forward, per-token cross-entropy, backward, AdamW(lr 6e-4, torch
                defaults otherwise), zero_grad(set_to_none=True).
  gpt_generate  a small GPT (6 layers, 6 heads, width 384, vocab 512, context 256) in eval
                mode under no_grad: from a 56-token prompt, 200 new tokens sampled at
                temperature 1 (softmax + multinomial). Like dc_gpt_generate, keys and values
                are cached: the prompt runs once, then each step runs only the newest token
                (prompt + new tokens fill the context exactly, so the window never slides)
                and the head only sees the last position.

The model is deepc's dc_gpt_new built by hand, so the parameter count is identical
(printed as "info <workload>_params N"; 162,385,536 for gpt2_step: the head is a Linear with
bias, not tied to the token embedding, as in deepc): token embedding + learned positions,
pre-norm blocks x + attn(ln(x)), x + fc2(gelu(fc1(ln(x)))) (exact-erf GELU, 4x width),
final LayerNorm, head. deepc's attention has bias-free per-head projections W_q, W_k, W_v
[H, D, D/H] and W_o [D, D]; here they are one bias-free Linear(D, 3D) and Linear(D, D),
the idiomatic (and fastest) torch form of the same parameters and FLOPs. torch 1.13 has
no fused scaled_dot_product_attention, so attention is q k^T / sqrt(d), a causal
masked_fill, softmax, @ v (as nanoGPT's non-flash path). GPT-2 initialisation as in deepc.

usage: /usr/bin/python3 bench/torch_gpt2.py [--threads T] [--reps R] WORKLOAD...
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

import torch_common as common

WARMUP_STEPS = 1  # as bench_gpt2.c: the first step allocates AdamW's state
GPT2 = dict(vocab=50304, context=64, layers=12, heads=12, dim=768)
GPT2_BATCH, GPT2_TOKENS, GPT2_REAL_VOCAB = 4, 64, 50257
SMALL = dict(vocab=512, context=256, layers=6, heads=6, dim=384)
PROMPT_TOKENS, NEW_TOKENS = 56, 200


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, heads, context):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.register_buffer("mask", torch.tril(torch.ones(context, context, dtype=torch.bool)),
                             persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.mask[:T, :T], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y)

    def decode(self, x, past):
        """x: the T positions after the cached ones; past: (keys, values) [B, H, n, d] or
        None. Returns the output and the cache with the new positions appended."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        if past is not None:
            k, v = torch.cat((past[0], k), dim=2), torch.cat((past[1], v), dim=2)
        n = k.size(2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if T > 1:  # rows of positions n-T..n-1 of the causal mask
            att = att.masked_fill(~self.mask[n - T:n, :n], float("-inf"))
        y = (att.softmax(dim=-1) @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, dim, heads, context):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads, context)
        self.ln2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    def decode(self, x, past):
        h, past = self.attn.decode(self.ln1(x), past)
        x = x + h
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x)))), past


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, heads, dim):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.pos_emb = nn.Parameter(torch.zeros(context, dim))
        self.blocks = nn.Sequential(*[Block(dim, heads, context) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)
        # GPT-2's initialisation, as deepc's gpt2_init: weights N(0, 0.02), the projections
        # into the residual stream N(0, 0.02 / sqrt(2 layers)), biases 0, LayerNorms 1 / 0.
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() >= 2:
                residual = name.endswith("attn.proj.weight") or name.endswith("fc2.weight")
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * layers) if residual else 0.02)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb[:T]
        return self.head(self.ln_f(self.blocks(x)))

    def decode(self, ids, pos0, pasts):
        """Logits of the last position for ids at positions pos0.., with every layer's
        keys and values of the earlier positions in pasts (updated in place)."""
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb[pos0:pos0 + T]
        for i, block in enumerate(self.blocks):
            x, pasts[i] = block.decode(x, pasts[i])
        return self.head(self.ln_f(x[:, -1:, :]))


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def gpt2_train_step(model, optimizer, x, y):
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_gpt2_step(args):
    torch.manual_seed(0)
    start = common.now()
    model = GPT(**GPT2)
    print(f"info gpt2_step_build_seconds {common.now() - start:.3f}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4)
    x = torch.randint(0, GPT2_REAL_VOCAB, (GPT2_BATCH, GPT2_TOKENS))
    y = torch.randint(0, GPT2_REAL_VOCAB, (GPT2_BATCH, GPT2_TOKENS))
    print(f"info gpt2_step_params {num_params(model)}")
    for s in range(WARMUP_STEPS):
        start = common.now()
        gpt2_train_step(model, optimizer, x, y)
        print(f"info gpt2_step_warmup{s}_seconds {common.now() - start:.3f}")
    loss = None
    for _ in range(args.reps):
        start = common.now()
        loss = gpt2_train_step(model, optimizer, x, y)
        common.report("gpt2_step", common.now() - start)
    print(f"info gpt2_step_final_loss {loss.item():.4f}")


@torch.no_grad()
def generate(model, prompt, n_new, context):
    ids, pasts, cached = prompt, [None] * len(model.blocks), 0
    for _ in range(n_new):
        length = ids.shape[1]
        if length <= context:  # the new positions only, keys and values cached
            logits = model.decode(ids[:, cached:], cached, pasts)
            cached = length
        else:  # past the context every position shifts: the whole window again
            logits = model(ids[:, -context:])
        probs = F.softmax(logits[:, -1, :] / 1.0, dim=-1)
        ids = torch.cat((ids, torch.multinomial(probs, 1)), dim=1)
    return ids


def bench_generate(args):
    torch.manual_seed(0)
    model = GPT(**SMALL).eval()
    prompt = torch.randint(0, SMALL["vocab"], (1, PROMPT_TOKENS))
    print(f"info gpt_generate_params {num_params(model)}")
    generate(model, prompt, 8, SMALL["context"])  # warm-up
    for _ in range(args.reps):
        start = common.now()
        generate(model, prompt, NEW_TOKENS, SMALL["context"])
        common.report("gpt_generate", (common.now() - start) / NEW_TOKENS)


WORKLOADS = {"gpt2_step": bench_gpt2_step, "gpt_generate": bench_generate}


if __name__ == "__main__":
    common.main(__doc__, WORKLOADS, "torch_gpt2")
