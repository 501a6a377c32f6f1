"""PyTorch reference values for tests/test_nn_refs.c: normalisation layers, embeddings and
positional encodings (book sections 4.6, 4.9, 4.10).

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_nn_refs.py

Every case below builds the torch.nn layer (or the formula, where torch 1.13 has no layer),
sets its parameters to random values (so gradients of weight and bias are not trivial),
runs it in float32, draws a random R of the output's shape and backpropagates
L = sum(out * R). BatchNorm cases run two training steps (each with its own input, R and
gradients; gradients zeroed in between), record the running statistics, then one eval step.
Everything goes to one file, tests/ref/nn_refs.txt, in the format of make_refs.py ('#' lines
are comments; each tensor is a header line `<role> <name> <dtype> <ndim> <dims...>` followed
by its values, 8 per line, float32 printed with 9 significant digits), names prefixed by the
case ("layer_norm.x"):
    param  <case>.<input>        an input or the initial value of a module parameter
    const  <case>.<input>        an input without gradient (token ids)
    out    <case>.<output>       an output (or a state after the steps: running_mean, ...)
    seed   <case>.<output>       R for that output
    grad   <case>.<input>        dL/dinput; "<param>@<step>" for a module parameter at a step
"""
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


class Recorder:
    """Collects (role, name, tensor) entries of one case, names prefixed by the case."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.items = []

    def add(self, role, name, t):
        self.items.append((role, "%s.%s" % (self.prefix, name), t.detach().clone()))

    def input(self, name, t):
        """A float input that requires grad (recorded as a param)."""
        self.add("param", name, t)
        return t.detach().clone().requires_grad_(True)

    def output(self, name, y):
        """Record y and its seed R; returns sum(y * R) to backpropagate."""
        r = torch.randn(y.shape, dtype=torch.float32)
        self.add("out", name, y)
        self.add("seed", name, r)
        return (y * r).sum()

    def grad(self, name, t):
        self.add("grad", name, t.grad if t.grad is not None else torch.zeros_like(t))


def randomise_affine(module):
    with torch.no_grad():
        module.weight.copy_(1 + 0.5 * randn(*module.weight.shape))
        if getattr(module, "bias", None) is not None:
            module.bias.copy_(0.5 * randn(*module.bias.shape))


def simple_case(r, module, x_shape, scale=1.0, offset=0.0):
    """One forward/backward of a module with affine parameters on a random input."""
    randomise_affine(module)
    r.add("param", "weight", module.weight)
    if getattr(module, "bias", None) is not None:
        r.add("param", "bias", module.bias)
    x = r.input("x", randn(*x_shape) * scale + offset)
    r.output("y", module(x)).backward()
    r.grad("x", x)
    r.grad("weight", module.weight)
    if getattr(module, "bias", None) is not None:
        r.grad("bias", module.bias)


@case
def layer_norm(r):
    """LayerNorm((4, 5)) on [2, 3, 4, 5] with an offset and scale (centring matters)."""
    simple_case(r, nn.LayerNorm((4, 5)), (2, 3, 4, 5), scale=2.0, offset=3.0)


@case
def layer_norm_no_affine(r):
    """F.layer_norm over the last dim of [3, 7] without weight and bias, eps 1e-3."""
    x = r.input("x", randn(3, 7))
    r.output("y", F.layer_norm(x, (7,), eps=1e-3)).backward()
    r.grad("x", x)


@case
def group_norm(r):
    """GroupNorm(3, 6) on [2, 6, 3, 4]: 2 channels of 12 positions per group."""
    simple_case(r, nn.GroupNorm(3, 6), (2, 6, 3, 4), scale=1.5, offset=-1.0)


@case
def group_norm_1d(r):
    """GroupNorm(2, 4, eps=1e-4) on [3, 4, 5]."""
    simple_case(r, nn.GroupNorm(2, 4, eps=1e-4), (3, 4, 5))


@case
def rms_norm(r):
    """RMSNorm(8, eps=1e-6) on [2, 5, 8] as torch 2.x defines it (torch 1.13 has no
    nn.RMSNorm): x * rsqrt(mean(x^2, -1) + eps) * weight."""
    w = r.input("weight", 1 + 0.5 * randn(8))
    x = r.input("x", randn(2, 5, 8))
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w
    r.output("y", y).backward()
    r.grad("x", x)
    r.grad("weight", w)


@case
def rms_norm_2d_default_eps(r):
    """RMSNorm((3, 4)) with eps=None (torch 2.x: float32's machine epsilon), no weight."""
    x = r.input("x", randn(2, 3, 4) * 0.1)
    eps = torch.finfo(torch.float32).eps
    r.output("y", x * torch.rsqrt(x.pow(2).mean((-2, -1), keepdim=True) + eps)).backward()
    r.grad("x", x)


def batch_norm_case(r, bn, x_shape):
    """Two training steps, the running statistics, then one eval step."""
    randomise_affine(bn)
    r.add("param", "weight", bn.weight)
    r.add("param", "bias", bn.bias)
    bn.train()
    for step in (1, 2, 3):
        if step == 3:
            r.add("out", "running_mean", bn.running_mean)
            r.add("out", "running_var", bn.running_var)
            r.add("out", "num_batches_tracked", bn.num_batches_tracked)
            bn.eval()
        x = r.input("x%d" % step, randn(*x_shape) * (1 + step) + step)
        r.output("y%d" % step, bn(x)).backward()
        r.grad("x%d" % step, x)
        r.grad("weight@%d" % step, bn.weight)
        r.grad("bias@%d" % step, bn.bias)
        bn.zero_grad()


@case
def batch_norm1d(r):
    """BatchNorm1d(4) on [6, 4]: 2 training steps, then eval."""
    batch_norm_case(r, nn.BatchNorm1d(4), (6, 4))


@case
def batch_norm1d_3d(r):
    """BatchNorm1d(3, momentum=0.3) on [4, 3, 5]."""
    batch_norm_case(r, nn.BatchNorm1d(3, momentum=0.3), (4, 3, 5))


@case
def batch_norm2d(r):
    """BatchNorm2d(3) on [4, 3, 5, 5]."""
    batch_norm_case(r, nn.BatchNorm2d(3), (4, 3, 5, 5))


@case
def embedding(r):
    """Embedding(10, 4) looked up with ids [2, 3] that repeat (gradients accumulate)."""
    emb = nn.Embedding(10, 4)
    r.add("param", "weight", emb.weight)
    ids = torch.tensor([[1, 7, 1], [3, 7, 1]])
    r.add("const", "ids", ids)
    r.output("y", emb(ids)).backward()
    r.grad("weight", emb.weight)


@case
def learned_positions(r):
    """x [2, 5, 6] + table[:5] of a learned [8, 6] table (GPT-2's wpe(arange(T)))."""
    table = r.input("weight", randn(8, 6))
    x = r.input("x", randn(2, 5, 6))
    r.output("y", x + table[:5]).backward()
    r.grad("x", x)
    r.grad("weight", table)


def sinusoidal_table(T, C):
    """The usual Transformer table (float64, rounded to float32 by the writer)."""
    pe = torch.zeros(T, C, dtype=torch.float64)
    position = torch.arange(T, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, C, 2, dtype=torch.float64) * (-math.log(10000.0) / C))
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term[: C // 2])
    return pe


@case
def sinusoidal_positions(r):
    """Sinusoidal tables [50, 16] and [7, 5] (odd width), and x [2, 7, 5] + table[:7]."""
    r.add("out", "table_50x16", sinusoidal_table(50, 16).float())
    r.add("out", "table_7x5", sinusoidal_table(7, 5).float())
    x = r.input("x", randn(2, 7, 5))
    r.output("y", x + sinusoidal_table(7, 5).float()).backward()
    r.grad("x", x)


# ---- Writing (the format of make_refs.py) ---------------------------------------------------


def fmt_tensor(role, name, t):
    t = t.detach().contiguous()
    dtype = "i64" if t.dtype == torch.int64 else "f32"
    lines = ["%s %s %s %d%s" % (role, name, dtype, t.dim(), "".join(" %d" % s for s in t.shape))]
    values = t.flatten().tolist()
    fmt = (lambda v: "%d" % v) if dtype == "i64" else (lambda v: "%.9g" % v)
    for i in range(0, len(values), 8):
        lines.append(" ".join(fmt(v) for v in values[i:i + 8]))
    return "\n".join(lines) + "\n"


def write_cases(filename, headers, cases, seed_base, recorder=None):
    """Run each case with torch.manual_seed(seed_base + its index) and write every entry it
    recorded into tests/ref/<filename> after the header comment lines (shared by the
    make_*_refs.py scripts that use Recorder)."""
    torch.set_num_threads(1)
    text = ["# %s\n" % h for h in headers]
    for index, fn in enumerate(cases):
        torch.manual_seed(seed_base + index)
        r = (recorder or Recorder)(fn.__name__)
        fn(r)
        text.append("# %s: %s\n" % (fn.__name__, " ".join(fn.__doc__.split())))
        text += [fmt_tensor(role, name, t) for role, name, t in r.items]
    path = os.path.join(HERE, filename)
    with open(path, "w") as f:
        f.write("".join(text))
    print("wrote", os.path.relpath(path), "with", len(cases), "cases")


def generated_by(script):
    return "generated by tests/ref/%s with torch %s; do not edit" % (script, torch.__version__)


def main():
    write_cases("nn_refs.txt", ["normalisation, embedding and positional-encoding references for "
                                "tests/test_nn_refs.c", generated_by("make_nn_refs.py")],
                CASES, 2000)


if __name__ == "__main__":
    main()
