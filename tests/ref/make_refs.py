"""PyTorch reference values for tests/test_torch_refs.c.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_refs.py

Each chain below mirrors a real use of the ops (an MLP step, causal attention, ...). It is
run in float32 with fixed seeds, and one file tests/ref/<chain>.txt is written with the
inputs, every output, a random seed gradient R_k per output, and the gradient of every
differentiable input of L = sum_k sum(out_k * R_k). The C test rebuilds the same chain
with deepc and compares. CI does not need torch: the .txt files are committed.

File format (text, diffable): '#' lines are comments; each tensor is a header line
    <role> <name> <dtype> <ndim> <dim0> ... <dim{ndim-1}>
followed by its numel values in row-major order (8 per line). Roles:
    param  a float32 input that requires grad     const  an input without gradient
    out    output k (name "0", "1", ...)          seed   R_k for output k
    grad   the gradient of the param of that name
dtype is f32 (printed with 9 significant digits, which round-trips float32) or i64.
"""
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CHAINS = []


def chain(fn):
    CHAINS.append(fn)
    return fn


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def uniform(lo, hi, *shape):
    return torch.rand(*shape, dtype=torch.float32) * (hi - lo) + lo


# Each chain returns (params, consts, outputs): params and consts are lists of
# (name, tensor); params are created with requires_grad by the driver before the forward,
# so each chain is a function of (params, consts) -> outputs.


@chain
def mlp_chain():
    """x@W^T + b -> tanh -> relu layer -> sigmoid -> logits -> log_softmax -> gather -> mean."""
    params = [("x", randn(4, 6)), ("W1", randn(8, 6) * 0.5), ("b1", randn(8) * 0.1),
              ("W2", randn(8, 8) * 0.5), ("b2", randn(8) * 0.1), ("W3", randn(5, 8) * 0.5)]
    consts = [("targets", torch.randint(0, 5, (4,)))]

    def forward(p, c):
        h1 = torch.tanh(p["x"] @ p["W1"].t() + p["b1"])
        h2 = torch.relu(h1 @ p["W2"].t() + p["b2"])
        logits = torch.sigmoid(h2) @ p["W3"].t()
        logp = torch.log_softmax(logits, 1)
        picked = torch.gather(logp, 1, c["targets"].unsqueeze(1))
        return [-picked.mean()]
    return params, consts, forward


@chain
def attention_chain():
    """Causal scaled dot-product attention over [B=2, H=2, T=4, D=4], heads merged."""
    params = [("q", randn(2, 2, 4, 4)), ("k", randn(2, 2, 4, 4)), ("v", randn(2, 2, 4, 4))]
    consts = [("causal_mask", torch.triu(torch.ones(4, 4), diagonal=1))]

    def forward(p, c):
        scores = p["q"] @ p["k"].transpose(-2, -1) * (1.0 / math.sqrt(4))
        scores = scores.masked_fill(c["causal_mask"] != 0, float("-inf"))
        att = torch.softmax(scores, -1) @ p["v"]
        return [att.transpose(1, 2).reshape(2, 4, 8)]
    return params, consts, forward


@chain
def broadcast_arith_chain():
    """[3,1,4] with [2,4] and [4]: div, pow, exp, log, sqrt and scalar ops, broadcast."""
    params = [("a", uniform(0.5, 2.0, 3, 1, 4)), ("b", uniform(0.5, 2.0, 2, 4)),
              ("c", uniform(-1.0, 1.0, 4))]

    def forward(p, c):
        a, b, cc = p["a"], p["b"], p["c"]
        out0 = torch.sqrt(a / b + 1.0) * torch.log(b) - torch.exp(cc * 0.5)
        out1 = torch.pow(a, cc)
        out2 = 1.0 - b ** 1.5
        out3 = (a - b) * (cc + 2.0)
        return [out0, out1, out2, out3]
    return params, [], forward


@chain
def reductions_chain():
    """Layer norm (biased var), sum over dims keepdim, unbiased var, max along a dim, means."""
    params = [("x", randn(3, 4, 5))]

    def forward(p, c):
        x = p["x"]
        mu = x.mean(-1, keepdim=True)
        var = x.var(-1, unbiased=False, keepdim=True)
        return [(x - mu) / torch.sqrt(var + 1e-5),
                x.sum(dim=(0, 2), keepdim=True),
                x.var(dim=1, unbiased=True),
                x.max(dim=1).values,
                x.mean(),
                x.sum(),
                x.mean(dim=(0, 2))]
    return params, [], forward


@chain
def views_chain():
    """permute -> reshape (copies) -> slice with steps -> unsqueeze/expand/contiguous ->
    transpose -> select -> narrow -> flatten; view + slice + t; slice + squeeze + clone."""
    params = [("x", randn(2, 3, 4, 5))]

    def forward(p, c):
        x = p["x"]
        b = x.permute(2, 0, 3, 1).reshape(8, 15)
        sliced = b[1::2, ::3]
        d = sliced.unsqueeze(0).expand(3, 4, 5).contiguous()
        f = d.transpose(0, 2).select(1, 2)
        out0 = f.narrow(0, 1, 3).flatten() * 2.0
        out1 = x.view(6, 20)[:, 2:18:4].t()
        out2 = x[:, 1:2].squeeze(1).clone()
        return [out0, out1, out2]
    return params, [], forward


@chain
def embedding_chain():
    """Token + position embedding: index_select of rows with repeated ids, then tanh."""
    params = [("W", randn(10, 6)), ("P", randn(5, 6))]
    consts = [("ids", torch.randint(0, 4, (3, 5)))]  # 15 ids from 4 rows: many repeats

    def forward(p, c):
        emb = p["W"].index_select(0, c["ids"].flatten()).view(3, 5, 6)
        return [torch.tanh(emb + p["P"])]
    return params, consts, forward


@chain
def cat_stack_chain():
    """cat along dims 0 and -1, stack along a middle and a leading dim (of transposes)."""
    params = [("a", randn(2, 3)), ("b", randn(4, 3)), ("c", randn(2, 3))]

    def forward(p, c):
        a, b, cc = p["a"], p["b"], p["c"]
        return [torch.cat([a, b, cc], 0) * 1.5,
                torch.stack([a, cc, a * cc], 1),
                torch.cat([a, cc], -1),
                torch.stack([a.t(), cc.t()], 0)]
    return params, [], forward


@chain
def where_max_min_chain():
    """where with a 0/1 condition, maximum/minimum with deliberate ties (gradient split)."""
    grid = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0])
    params = [("a", grid[torch.randint(0, 5, (3, 4))]), ("b", grid[torch.randint(0, 5, (3, 4))]),
              ("c", grid[torch.randint(0, 5, (4,))])]
    consts = [("cond", torch.randint(0, 2, (3, 4)).float())]

    def forward(p, c):
        a, b, cc = p["a"], p["b"], p["c"]
        return [torch.where(c["cond"] != 0, a, b * 2.0),
                torch.maximum(a, b),
                torch.minimum(a, cc),
                torch.maximum(a, torch.tensor(0.5))]
    return params, consts, forward


@chain
def batched_matmul_chain():
    """Broadcast batch dims [2,1,3,4] @ [3,4,5], vector @ batch, batch @ vector, @ W^T."""
    params = [("A", randn(2, 1, 3, 4)), ("B", randn(3, 4, 5)), ("v", randn(4)),
              ("M", randn(4, 5))]

    def forward(p, c):
        A, B, v, M = p["A"], p["B"], p["v"], p["M"]
        ab = A @ B
        return [ab, torch.matmul(v, B), torch.matmul(B.transpose(-1, -2), v), ab @ M.t()]
    return params, [], forward


@chain
def softmax_chain():
    """softmax along a middle dim, log_softmax of a permuted (non-contiguous) tensor and
    along dim 0."""
    params = [("x", randn(2, 5, 3) * 2.0)]

    def forward(p, c):
        x = p["x"]
        return [torch.softmax(x, 1), torch.log_softmax(x.permute(0, 2, 1), -1),
                torch.log_softmax(x, 0)]
    return params, [], forward


@chain
def unary_chain():
    """sin, cos, abs, neg, exp, sigmoid, relu composed."""
    params = [("x", randn(3, 4)), ("y", randn(3, 4))]

    def forward(p, c):
        x, y = p["x"], p["y"]
        return [torch.sigmoid(torch.sin(x) * torch.cos(y)) + torch.exp(-torch.abs(x - y)),
                torch.relu(x) * torch.neg(y)]
    return params, [], forward


# ---- Writing -----------------------------------------------------------------------------


def fmt_tensor(role, name, t):
    t = t.detach().contiguous()
    dtype = "i64" if t.dtype == torch.int64 else "f32"
    lines = ["%s %s %s %d%s" % (role, name, dtype, t.dim(),
                                "".join(" %d" % s for s in t.shape))]
    values = t.flatten().tolist()
    fmt = (lambda v: "%d" % v) if dtype == "i64" else (lambda v: "%.9g" % v)
    for i in range(0, len(values), 8):
        lines.append(" ".join(fmt(v) for v in values[i:i + 8]))
    return "\n".join(lines) + "\n"


def run_chain(index, fn):
    torch.manual_seed(1000 + index)
    params, consts, forward = fn()
    p = {name: t.detach().clone().requires_grad_(True) for name, t in params}
    c = dict(consts)
    outs = forward(p, c)
    seeds = [torch.randn(o.shape, dtype=torch.float32) for o in outs]
    loss = sum((o * r).sum() for o, r in zip(outs, seeds))
    loss.backward()
    text = ["# %s: %s\n" % (fn.__name__, " ".join(fn.__doc__.split())),
            "# generated by tests/ref/make_refs.py with torch %s; do not edit\n" % torch.__version__]
    text += [fmt_tensor("param", n, p[n]) for n, _ in params]
    text += [fmt_tensor("const", n, t) for n, t in consts]
    for k, (o, r) in enumerate(zip(outs, seeds)):
        text.append(fmt_tensor("out", str(k), o))
        text.append(fmt_tensor("seed", str(k), r))
    for n, _ in params:
        g = p[n].grad if p[n].grad is not None else torch.zeros_like(p[n])
        text.append(fmt_tensor("grad", n, g))
    path = os.path.join(HERE, fn.__name__ + ".txt")
    with open(path, "w") as f:
        f.write("".join(text))
    return path


def main():
    torch.set_num_threads(1)
    for i, fn in enumerate(CHAINS):
        print("wrote", os.path.relpath(run_chain(i, fn)))


if __name__ == "__main__":
    main()
