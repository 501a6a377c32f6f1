"""PyTorch reference values for tests/test_lora.c: a LoRA-adapted Linear (PEFT's formula)
    y = x W^T + b + (alpha / r) * (x A^T) B^T
with W, b frozen (consts) and x, A, B differentiated, through the loss L = sum(y * R).

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_lora_refs.py

Inputs are drawn in float32 with a fixed seed; one file, tests/ref/lora_refs.txt, in the
format of make_refs.py ('#' comments; a header line `<role> <name> <dtype> <ndim> <dims...>`,
then the values, 8 per line, 9 significant digits):
    const  W [5, 6], b [5], alpha (1 value), x3 [2, 3, 6] (a batch of sequences)
    param  x [4, 6], A [3, 6] (r = 3), B [5, 3]
    out    0 = y [4, 5]; y3 [2, 3, 5] = the layer on x3
    seed   0 = R [4, 5]
    grad   x, A, B = dL/dx, dL/dA, dL/dB
"""
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(role, name, t):
    t = t.detach()
    kind = "i64" if t.dtype == torch.int64 else "f32"
    lines = [("%s %s %s %d %s" % (role, name, kind, t.dim(), " ".join(str(s) for s in t.shape))).rstrip()]
    vals = [(("%d" % v) if kind == "i64" else ("%.9g" % v)) for v in t.reshape(-1).tolist()]
    for i in range(0, len(vals), 8):
        lines.append(" ".join(vals[i:i + 8]))
    return "\n".join(lines).rstrip() + "\n"


def main():
    torch.manual_seed(16)
    r, alpha = 3, 6.0
    base = torch.nn.Linear(6, 5)
    W, b = base.weight.detach().clone(), base.bias.detach().clone()
    x = torch.randn(4, 6, requires_grad=True)
    A = (torch.rand(r, 6) * 2 - 1).div(6 ** 0.5).requires_grad_()
    B = (torch.randn(5, r) * 0.5).requires_grad_()
    x3 = torch.randn(2, 3, 6)

    def layer(inp):
        return inp @ W.t() + b + (alpha / r) * ((inp @ A.t()) @ B.t())

    y = layer(x)
    R = torch.randn(4, 5)
    (y * R).sum().backward()
    with torch.no_grad():
        y3 = layer(x3)
    out = ["# LoRA Linear (r = 3, alpha = 6): written by tests/ref/make_lora_refs.py, torch %s\n"
           % torch.__version__]
    out += [fmt("const", "W", W), fmt("const", "b", b), fmt("const", "alpha", torch.tensor([alpha])),
            fmt("const", "x3", x3), fmt("param", "x", x), fmt("param", "A", A),
            fmt("param", "B", B), fmt("out", "0", y), fmt("out", "y3", y3), fmt("seed", "0", R),
            fmt("grad", "x", x.grad), fmt("grad", "A", A.grad), fmt("grad", "B", B.grad)]
    with open(os.path.join(HERE, "lora_refs.txt"), "w") as f:
        f.write("".join(out))


if __name__ == "__main__":
    main()
