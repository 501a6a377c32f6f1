"""PyTorch reference values for tests/test_shape_ops.c: pad (every mode), flip, roll, repeat,
tile, split, chunk, meshgrid, F.unfold / F.fold, Tensor.unfold, tril/triu, diag, diagonal.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_shapes_refs.py

Each case runs the torch op in float32 on a random input, draws a random R per output and
backpropagates L = sum_k sum(y_k * R_k). Everything goes to tests/ref/shapes_refs.txt in the
format of make_refs.py / make_nn_refs.py (names prefixed by the case, "pad_reflect.x"):
    param  <case>.<input>   an input (requires grad)
    out    <case>.y<k>      output k        seed <case>.y<k>   R_k
    grad   <case>.<input>   dL/dinput
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_refs import Recorder, generated_by, randn, write_cases  # noqa: E402  (same format and helpers)

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def one_input(r, shape, op):
    """y0.. = op(x) for x of `shape`: outputs and the gradient of x."""
    x = r.input("x", randn(*shape))
    ys = op(x)
    if isinstance(ys, torch.Tensor):
        ys = [ys]
    loss = sum(r.output("y%d" % k, y) for k, y in enumerate(ys))
    loss.backward()
    r.grad("x", x)


@case
def pad_constant(r):
    """F.pad(x[2,3,4], (1, 2, 0, 1), value=0.5)."""
    one_input(r, (2, 3, 4), lambda x: F.pad(x, (1, 2, 0, 1), value=0.5))


@case
def pad_constant_crop(r):
    """F.pad(x[2,4,5], (-1, 2, 1, -2)): negative pads crop."""
    one_input(r, (2, 4, 5), lambda x: F.pad(x, (-1, 2, 1, -2)))


@case
def pad_reflect(r):
    """F.pad(x[1,2,3,4], (2, 1, 1, 2), mode='reflect')."""
    one_input(r, (1, 2, 3, 4), lambda x: F.pad(x, (2, 1, 1, 2), mode="reflect"))


@case
def pad_reflect_1d(r):
    """F.pad(x[2,2,5], (2, 3), mode='reflect')."""
    one_input(r, (2, 2, 5), lambda x: F.pad(x, (2, 3), mode="reflect"))


@case
def pad_replicate(r):
    """F.pad(x[2,3,4], (2, 1, 3, 0), mode='replicate')."""
    one_input(r, (2, 3, 4), lambda x: F.pad(x, (2, 1, 3, 0), mode="replicate"))


@case
def pad_circular(r):
    """F.pad(x[1,2,3,4], (3, 1, 2, 2), mode='circular')."""
    one_input(r, (1, 2, 3, 4), lambda x: F.pad(x, (3, 1, 2, 2), mode="circular"))


@case
def flip(r):
    """torch.flip(x[3,2,4], (0, -1))."""
    one_input(r, (3, 2, 4), lambda x: torch.flip(x, (0, -1)))


@case
def roll(r):
    """torch.roll(x[3,2,4], (1, -3), (0, 2))."""
    one_input(r, (3, 2, 4), lambda x: torch.roll(x, (1, -3), (0, 2)))


@case
def roll_flat(r):
    """torch.roll(x[3,4], 5): no dims, the flattened tensor is rolled."""
    one_input(r, (3, 4), lambda x: torch.roll(x, 5))


@case
def repeat(r):
    """x[3,2].repeat(2, 1, 3)."""
    one_input(r, (3, 2), lambda x: x.repeat(2, 1, 3))


@case
def tile(r):
    """torch.tile(x[2,3], (2,)): reps padded with leading ones."""
    one_input(r, (2, 3), lambda x: torch.tile(x, (2,)))


@case
def split(r):
    """x[3,5].split(2, dim=1): pieces of 2, 2, 1."""
    one_input(r, (3, 5), lambda x: list(x.split(2, dim=1)))


@case
def split_sizes(r):
    """x[4,3].split([1, 0, 3], dim=0)."""
    one_input(r, (4, 3), lambda x: list(x.split([1, 0, 3], dim=0)))


@case
def chunk(r):
    """x[2,6].chunk(4, -1): three chunks of 2."""
    one_input(r, (2, 6), lambda x: list(x.chunk(4, -1)))


@case
def meshgrid_xy(r):
    """torch.meshgrid(a[3], b[4], indexing='xy'), both outputs."""
    a = r.input("a", randn(3))
    b = r.input("b", randn(4))
    ga, gb = torch.meshgrid(a, b, indexing="xy")
    (r.output("y0", ga) + r.output("y1", gb)).backward()
    r.grad("a", a)
    r.grad("b", b)


@case
def unfold(r):
    """F.unfold(x[1,2,5,6], (3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1))."""
    one_input(r, (1, 2, 5, 6),
              lambda x: F.unfold(x, (3, 2), dilation=(1, 2), padding=(1, 0), stride=(2, 1)))


@case
def fold(r):
    """F.fold(x[1,12,6], (5, 4), (3, 2), padding=(1, 0), stride=(2, 2))."""
    one_input(r, (1, 12, 6), lambda x: F.fold(x, (5, 4), (3, 2), padding=(1, 0), stride=(2, 2)))


@case
def unfold_dim(r):
    """x[2,7,3].unfold(1, 3, 2): overlapping windows."""
    one_input(r, (2, 7, 3), lambda x: x.unfold(1, 3, 2))


@case
def tril(r):
    """torch.tril(x[2,3,5], -1)."""
    one_input(r, (2, 3, 5), lambda x: torch.tril(x, -1))


@case
def triu(r):
    """torch.triu(x[3,5], 1)."""
    one_input(r, (3, 5), lambda x: torch.triu(x, 1))


@case
def diag_1d(r):
    """torch.diag(x[3], 1)."""
    one_input(r, (3,), lambda x: torch.diag(x, 1))


@case
def diag_2d(r):
    """torch.diag(x[4,3], -1)."""
    one_input(r, (4, 3), lambda x: torch.diag(x, -1))


@case
def diagonal(r):
    """x[3,2,4].diagonal(1, 0, 2)."""
    one_input(r, (3, 2, 4), lambda x: x.diagonal(1, 0, 2))


def main():
    write_cases("shapes_refs.txt", ["shape-op references for tests/test_shape_ops.c",
                                    generated_by("make_shapes_refs.py")], CASES, 3000)


if __name__ == "__main__":
    main()
