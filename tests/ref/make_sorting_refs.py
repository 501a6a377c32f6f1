"""PyTorch reference values for tests/test_sort_scatter.c: sorting, searching and scatter ops.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_sorting_refs.py

Each case below draws its inputs (float32, fixed seed), runs the torch op, and for the
differentiable outputs draws a random seed R of the output's shape and backpropagates
L = sum(out * R). The inputs are chosen to hit the cases where implementations differ: ties
(sort must be stable), NaN and infinities (NaN sorts as the largest value), repeated indices
(scatter_add, index_add and index_put(accumulate=True) must add every one), negative indices
(index_put counts them from the end). Everything goes to one file, tests/ref/sorting_refs.txt,
in the format of make_refs.py ('#' lines are comments; each tensor is a header line
`<role> <name> <dtype> <ndim> <dims...>` followed by its values, 8 per line, float32 printed
with 9 significant digits), names prefixed by the case ("sort_ties.x"):
    param  <case>.<input>   a float input that requires grad
    const  <case>.<input>   an input without gradient (indices, masks, boundaries)
    out    <case>.<output>  an output
    seed   <case>.<output>  R for that output (only for differentiable outputs)
    grad   <case>.<input>   dL/dinput
"""
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

from make_nn_refs import Recorder as BaseRecorder, generated_by, write_cases  # noqa: E402
CASES = []
NAN, INF = float("nan"), float("inf")


def case(fn):
    CASES.append(fn)
    return fn


class Recorder(BaseRecorder):
    """make_nn_refs' Recorder, with outputs whose seeded sums add up into one loss."""

    def __init__(self, prefix):
        super().__init__(prefix)
        self.loss = 0

    def add(self, role, name, t):
        """Everything but int64 (bool masks, float64) is written as float32."""
        super().add(role, name, t if t.dtype == torch.int64 else t.detach().to(torch.float32))

    def param(self, name, t):
        return self.input(name, t)

    def const(self, name, t):
        self.add("const", name, t)
        return t

    def out(self, name, y, seed=True):
        """Record y; with seed, draw R and add sum(y * R) to the loss."""
        if seed:
            self.loss = self.loss + self.output(name, y)
        else:
            self.add("out", name, y)

    def grads(self, **params):
        if torch.is_tensor(self.loss):
            self.loss.backward()
        for name, t in params.items():
            self.grad(name, t)


def ties(*shape):
    """Values from {-1, -0.5, 0, 0.5, 1}: many ties."""
    return torch.randint(-2, 3, shape).to(torch.float32) * 0.5


def distinct(*shape):
    """A random permutation of distinct values (no ties: topk's tie order is unspecified)."""
    n = 1
    for s in shape:
        n *= s
    return (torch.randperm(n).to(torch.float32) * 0.25 - n / 8).reshape(shape)


@case
def sort_ties(r):
    """sort with many ties along each dim, both directions: stable order of equal values."""
    x = r.param("x", ties(4, 7))
    v, i = torch.sort(x, dim=1, stable=True)
    r.out("asc_d1.values", v)
    r.out("asc_d1.indices", i, seed=False)
    v, i = torch.sort(x, dim=1, descending=True, stable=True)
    r.out("desc_d1.values", v)
    r.out("desc_d1.indices", i, seed=False)
    v, i = torch.sort(x, dim=0, descending=True, stable=True)
    r.out("desc_d0.values", v)
    r.out("desc_d0.indices", i, seed=False)
    r.out("argsort_d0", torch.argsort(x, dim=0, stable=True), seed=False)
    r.grads(x=x)


@case
def sort_nan(r):
    """sort rows holding NaN, +-inf and ties: NaN is the largest value (last / first)."""
    x = torch.tensor([[1.0, NAN, -INF, 0.5, NAN, INF, 0.5],
                      [NAN, 2.0, -1.0, NAN, 2.0, -INF, 0.0],
                      [0.0, -0.0, INF, INF, NAN, -2.0, 1.0]])
    x = r.param("x", x)
    v, i = torch.sort(x, dim=1, stable=True)
    r.out("asc.values", v, seed=False)
    r.out("asc.indices", i, seed=False)
    v, i = torch.sort(x, dim=1, descending=True, stable=True)
    r.out("desc.values", v, seed=False)
    r.out("desc.indices", i, seed=False)
    # topk's order of tied values is unspecified in torch: no ties among these top 3
    xt = r.param("xt", torch.tensor([[1.0, NAN, -INF, 0.5, NAN, INF, 0.25],
                                     [NAN, 2.0, -1.0, 3.0, 1.5, -INF, 0.0],
                                     [0.0, -1.0, INF, 5.0, NAN, -2.0, 1.0]]))
    v, i = torch.topk(xt, 3, dim=1)
    r.out("top3.values", v, seed=False)
    r.out("top3.indices", i, seed=False)
    v, i = torch.min(x, dim=1)
    r.out("min.values", v, seed=False)
    r.out("min.indices", i, seed=False)


@case
def topk(r):
    """topk of distinct values: k largest along the last dim, k smallest along dim 0."""
    x = r.param("x", distinct(5, 8))
    v, i = torch.topk(x, 3, dim=1, largest=True)
    r.out("largest3_d1.values", v)
    r.out("largest3_d1.indices", i, seed=False)
    v, i = torch.topk(x, 2, dim=0, largest=False)
    r.out("smallest2_d0.values", v)
    r.out("smallest2_d0.indices", i, seed=False)
    r.grads(x=x)


@case
def min_argmin(r):
    """min / argmin along a dim with ties: the first minimal element (and its gradient)."""
    x = r.param("x", ties(3, 5, 4))
    v, i = torch.min(x, dim=1)
    r.out("d1.values", v)
    r.out("d1.indices", i, seed=False)
    r.out("argmin_dlast_keepdim", torch.argmin(x, dim=-1, keepdim=True), seed=False)
    r.grads(x=x)


@case
def scatter(r):
    """scatter of src along dim 1 (index smaller than src) and of a value along dim 0."""
    a = r.param("a", torch.randn(3, 5))
    src = r.param("src", torch.randn(3, 4))
    index = r.const("index", torch.tensor([[4, 0, 2], [1, 3, 0], [2, 1, 4]]))
    # torch's backward refuses a src larger than the index (deepc gives the unread part a zero
    # gradient), so the reference reads the same elements through a slice of src
    r.out("src_d1", a.scatter(1, index, src[:, :3]))
    index0 = r.const("index0", torch.tensor([[0, 2, 1, 0, 2], [2, 1, 0, 1, 2]]))
    r.out("value_d0", a.scatter(0, index0, 1.5))
    r.grads(a=a, src=src)


@case
def scatter_add(r):
    """scatter_add with many repeated indices along dim 0 and along the last dim of 3-D."""
    a = r.param("a", torch.randn(3, 4))
    src = r.param("src", torch.randn(6, 4))
    index = r.const("index", torch.randint(0, 3, (6, 4)))
    r.out("d0", a.scatter_add(0, index, src))
    b = r.param("b", torch.randn(2, 3, 4))
    srcb = r.param("srcb", torch.randn(2, 3, 6))
    indexb = r.const("indexb", torch.randint(0, 4, (2, 2, 6)))
    r.out("dlast", b.scatter_add(2, indexb, srcb[:, :2]))  # index smaller than src: a slice
    r.grads(a=a, src=src, b=b, srcb=srcb)


@case
def index_add(r):
    """index_add with repeated indices along dim 1, alpha = -2.5."""
    a = r.param("a", torch.randn(3, 4))
    source = r.param("source", torch.randn(3, 7))
    index = r.const("index", torch.tensor([1, 3, 1, 0, 1, 3, 2]))
    r.out("d1", a.index_add(1, index, source, alpha=-2.5))
    r.grads(a=a, source=source)


@case
def index_put(r):
    """index_put: accumulate with repeats (two broadcast index tensors), overwrite without
    repeats with negative indices, and advanced indexing a[i0, i1] itself."""
    a = r.param("a", torch.randn(4, 3, 2))
    i0 = r.const("i0", torch.tensor([[0, 3, 0], [1, 0, 0]]))
    i1 = r.const("i1", torch.tensor([2, 1, 2]))
    v = r.param("v", torch.randn(2, 3, 2))
    r.out("accumulate", a.index_put((i0, i1), v, accumulate=True))
    j0 = r.const("j0", torch.tensor([-1, 1, 0]))
    w = r.param("w", torch.randn(3, 2))
    r.out("overwrite", a.index_put((j0, torch.tensor([0, -2, 2])), w, accumulate=False))
    r.const("j1", torch.tensor([0, -2, 2]))
    r.out("index", a[i0, i1])
    r.grads(a=a, v=v, w=w)


@case
def masked_select(r):
    """masked_select with a mask broadcast over the rows, and nonzero of a 3-D tensor."""
    a = r.param("a", torch.randn(3, 4))
    mask = r.const("mask", (torch.rand(4) < 0.5).to(torch.float32))
    r.out("selected", torch.masked_select(a, mask.bool()))
    x = r.const("x", ties(2, 3, 4))
    r.out("nonzero", torch.nonzero(x), seed=False)
    r.grads(a=a)


@case
def unique(r):
    """unique (sorted) with inverse and counts, of int64 and of float with ties."""
    x = r.const("x", torch.randint(-3, 4, (3, 5)))
    u, inv, cnt = torch.unique(x, sorted=True, return_inverse=True, return_counts=True)
    r.out("int.values", u, seed=False)
    r.out("int.inverse", inv, seed=False)
    r.out("int.counts", cnt, seed=False)
    y = r.const("y", ties(4, 3))
    u, inv, cnt = torch.unique(y, sorted=True, return_inverse=True, return_counts=True)
    r.out("float.values", u, seed=False)
    r.out("float.inverse", inv, seed=False)
    r.out("float.counts", cnt, seed=False)


@case
def counting(r):
    """one_hot (given and inferred num_classes) and bincount (plain, weighted, minlength)."""
    x = r.const("x", torch.tensor([[2, 0, 5], [1, 2, 2]]))
    r.out("one_hot_7", F.one_hot(x, 7), seed=False)
    r.out("one_hot_auto", F.one_hot(x, -1), seed=False)
    b = r.const("b", torch.tensor([3, 0, 3, 1, 3, 7, 1]))
    w = r.const("w", torch.randn(7))
    r.out("bincount", torch.bincount(b), seed=False)
    r.out("bincount_weights", torch.bincount(b, weights=w), seed=False)
    r.out("bincount_minlength", torch.bincount(b, minlength=11), seed=False)


@case
def searchsorted(r):
    """searchsorted left/right with values equal to boundaries, NaN and infinities; batched."""
    bounds = r.const("bounds", torch.tensor([-1.0, 0.0, 0.0, 0.5, 2.0, 2.0, 3.0]))
    values = r.const("values", torch.tensor([[0.0, 2.0, -5.0, 3.0], [NAN, INF, -INF, 0.25]]))
    r.out("left", torch.searchsorted(bounds, values), seed=False)
    r.out("right", torch.searchsorted(bounds, values, right=True), seed=False)
    bb = r.const("batched_bounds", torch.sort(torch.randn(3, 5), dim=1).values)
    bv = r.const("batched_values", torch.randn(3, 4))
    r.out("batched", torch.searchsorted(bb, bv), seed=False)


def main():
    write_cases("sorting_refs.txt", [generated_by("make_sorting_refs.py")], CASES, 2000, Recorder)


if __name__ == "__main__":
    main()
