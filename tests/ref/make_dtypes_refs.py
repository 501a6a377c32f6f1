"""PyTorch reference values for tests/test_dtypes.c (integer and bool ops).

Regenerate (from the repository root, with Debian's python3-torch):

    /usr/bin/python3 tests/ref/make_dtypes_refs.py

Writes tests/ref/dtypes_refs.txt in the format of tests/ref/make_refs.py (role name dtype
ndim dims, then the values): const inputs a, b (int64, b without zeros; fa, fb float32),
and out entries named after the op. Integer results of comparisons are written as int64 0/1
(torch gives bool); float32 results print with 9 significant digits (exact for float32).
"""
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(role, name, t):
    t = t.detach().contiguous()
    if t.dtype == torch.bool:
        t = t.to(torch.int64)
    dtype = "i64" if t.dtype == torch.int64 else "f32"
    lines = ["%s %s %s %d%s" % (role, name, dtype, t.dim(), "".join(" %d" % s for s in t.shape))]
    values = t.flatten().tolist()
    f = (lambda v: "%d" % v) if dtype == "i64" else (lambda v: "%.9g" % v)
    for i in range(0, len(values), 8):
        lines.append(" ".join(f(v) for v in values[i:i + 8]))
    return "\n".join(lines) + "\n"


def main():
    g = torch.Generator().manual_seed(11)
    a = torch.randint(-50, 50, (4, 6), generator=g)
    b = torch.randint(1, 9, (4, 6), generator=g) * (torch.randint(0, 2, (4, 6), generator=g) * 2 - 1)
    row = torch.randint(-5, 5, (6,), generator=g)
    fa = (torch.rand(4, 6, generator=g) * 8 - 4).to(torch.float32)
    fb = ((torch.rand(4, 6, generator=g) * 1.5 + 0.5) * (torch.randint(0, 2, (4, 6), generator=g) * 2 - 1)).to(torch.float32)
    out = [
        ("add", a + b), ("sub", a - b), ("mul", a * b), ("add_row", a + row),
        ("floor_divide", torch.div(a, b, rounding_mode="floor")), ("remainder", torch.remainder(a, b)),
        ("maximum", torch.maximum(a, b)), ("minimum", torch.minimum(a, b)),
        ("eq", a == row), ("ne", a != row), ("gt", a > b), ("lt", a < b), ("ge", a >= row), ("le", a <= row),
        ("logical_and", torch.logical_and(a > 0, b > 0)), ("logical_or", torch.logical_or(a > 0, b > 0)),
        ("logical_xor", torch.logical_xor(a > 0, b > 0)), ("logical_not", torch.logical_not(a > 0)),
        ("f_floor_divide", torch.div(fa, fb, rounding_mode="floor")), ("f_remainder", torch.remainder(fa, fb)),
    ]
    with open(os.path.join(HERE, "dtypes_refs.txt"), "w") as f:
        f.write("# written by tests/ref/make_dtypes_refs.py (torch %s)\n" % torch.__version__)
        for name, t in [("a", a), ("b", b), ("row", row), ("fa", fa), ("fb", fb)]:
            f.write(fmt("const", name, t))
        for name, t in out:
            f.write(fmt("out", name, t))


if __name__ == "__main__":
    main()
