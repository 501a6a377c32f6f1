"""PyTorch reference values for tests/test_math_ops.c: clamp (scalar and tensor bounds),
sign/floor/ceil/round/erf/erfc, logsumexp, cumsum/cumprod, prod, std, vector norms,
cosine_similarity, normalize and einsum, with their edge cases (round's half cases, zeros
in prod/cumprod, -inf rows in logsumexp, ties of the inf-norms, norms at 0, tiny norms in
cosine_similarity).

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_math_refs.py

Each case runs in float32 with a fixed seed (4000 + its position below), draws a random R
of the output's shape and backpropagates L = sum(out * R). Everything goes to
tests/ref/math_refs.txt in the format of make_refs.py, names prefixed by the case:
    param  <case>.x0, <case>.x1, ...   the inputs (all float, all differentiable)
    out    <case>.y                    the output
    seed   <case>.y                    R
    grad   <case>.x0, ...              dL/d<input>
Values may be inf, -inf or nan (torch's own results: the C test matches them exactly).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_nn_refs import Recorder, generated_by, randn, write_cases  # noqa: E402  (same format and helpers)

CASES = []
INF, NAN = float("inf"), float("nan")


def case(fn):
    CASES.append(fn)
    return fn


def t(values):
    return torch.tensor(values, dtype=torch.float32)


def run(r, fn, *inputs):
    """y = fn(x0, x1, ...); every input is a param with its gradient recorded."""
    xs = [r.input("x%d" % i, x) for i, x in enumerate(inputs)]
    r.output("y", fn(*xs)).backward()
    for i, x in enumerate(xs):
        r.grad("x%d" % i, x)


EDGES = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.0, -0.0, 1.2, -1.7, 0.49999997, NAN, INF, -INF]

# ---- clamp, sign, rounding, erf ---------------------------------------------------------


@case
def clamp_both(r):
    """clamp(x, -0.5, 0.75) on random x with the bounds themselves and a NaN."""
    x = torch.cat([randn(10) * 2, t([-0.5, 0.75, NAN])])
    run(r, lambda x: torch.clamp(x, -0.5, 0.75), x)


@case
def clamp_min_only(r):
    """clamp(x, min=0.25) on [3, 4]."""
    run(r, lambda x: torch.clamp(x, min=0.25), randn(3, 4))


@case
def clamp_max_only(r):
    """clamp(x, max=-0.3) on [3, 4]."""
    run(r, lambda x: torch.clamp(x, max=-0.3), randn(3, 4))


@case
def clamp_min_above_max(r):
    """clamp(x, 1, -1): every element becomes max, no gradient to x."""
    run(r, lambda x: torch.clamp(x, 1.0, -1.0), randn(2, 3))


@case
def clamp_tensor_broadcast(r):
    """clamp(x [3, 4], min [4], max [3, 1]) (gradients to all three, summed to shape)."""
    run(r, lambda x, lo, hi: torch.clamp(x, lo, hi), randn(3, 4), randn(4) - 0.5, randn(3, 1) + 0.5)


@case
def clamp_tensor_edges(r):
    """Tensor bounds with min > max, min == max, x on a bound and a NaN."""
    run(r, lambda x, lo, hi: torch.clamp(x, lo, hi), t([-2, -1, 0, 1, 2, NAN, -1, 0.5, 2]),
        t([0, 0, 0, 1.5, 2, 0, 0, 0.5, 1]), t([-1, 1, 0, 1, 3, 1, 0, 0.5, 1]))


@case
def clamp_tensor_min_only(r):
    """clamp(x [2, 3], min [3])."""
    run(r, lambda x, lo: torch.clamp(x, min=lo), randn(2, 3), randn(3))


@case
def clamp_tensor_max_only(r):
    """clamp(x [2, 3], max [2, 1])."""
    run(r, lambda x, hi: torch.clamp(x, max=hi), randn(2, 3), randn(2, 1))


@case
def sign_edges(r):
    """sign on halves, zeros of both signs, NaN (0 in torch) and infinities."""
    run(r, torch.sign, t(EDGES))


@case
def floor_edges(r):
    """floor on the same edge values."""
    run(r, torch.floor, t(EDGES))


@case
def ceil_edges(r):
    """ceil on the same edge values."""
    run(r, torch.ceil, t(EDGES))


@case
def round_half_to_even(r):
    """round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -0.5 -> -0, ... (half to even)."""
    run(r, torch.round, t(EDGES + [3.5, 4.5, -3.5, 1e7 + 0.5, 8388609.0]))


@case
def round_random(r):
    """round on random [3, 4] * 3."""
    run(r, torch.round, randn(3, 4) * 3)


@case
def erf_values(r):
    """erf on random values and edges (infinities, NaN)."""
    run(r, torch.erf, torch.cat([randn(8) * 2, t([0, 3, -3, 6, INF, -INF, NAN])]))


@case
def erfc_values(r):
    """erfc, including large arguments where 1 - erf loses everything."""
    run(r, torch.erfc, torch.cat([randn(8) * 2, t([0, 3, -3, 6, 9, INF, -INF, NAN])]))


# ---- logsumexp, scans, prod, std --------------------------------------------------------


@case
def logsumexp_d1(r):
    """logsumexp over dim 1 of [3, 5] * 3."""
    run(r, lambda x: torch.logsumexp(x, 1), randn(3, 5) * 3)


@case
def logsumexp_d02_keepdim(r):
    """logsumexp over dims (0, 2) of [2, 3, 4], keepdim."""
    run(r, lambda x: torch.logsumexp(x, (0, 2), keepdim=True), randn(2, 3, 4))


@case
def logsumexp_all(r):
    """logsumexp over all dims of [2, 3]."""
    run(r, lambda x: torch.logsumexp(x, (0, 1)), randn(2, 3))


@case
def logsumexp_large(r):
    """logsumexp of values near 1e4 (stable: the max is subtracted), computed in float64
    from the float32 inputs (float32's result near 1e4 is too coarse for a reference
    gradient exp(x - result))."""
    run(r, lambda x: torch.logsumexp(x.double(), 1).float(), randn(2, 6) * 30 + 1e4)


@case
def logsumexp_infinite_rows(r):
    """Rows all -inf (-inf, NaN gradient), with +inf (inf), with some -inf, finite."""
    run(r, lambda x: torch.logsumexp(x, 1), t([[-INF, -INF, -INF], [INF, 1, 2], [1, 2, 3],
                                                [-INF, 0, 1]]))


@case
def cumsum_d1(r):
    """cumsum along dim 1 of [3, 5]."""
    run(r, lambda x: torch.cumsum(x, 1), randn(3, 5))


@case
def cumsum_d0_3d(r):
    """cumsum along dim 0 of [4, 3, 2]."""
    run(r, lambda x: torch.cumsum(x, 0), randn(4, 3, 2))


@case
def cumprod_d1(r):
    """cumprod along dim 1 of [3, 5]."""
    run(r, lambda x: torch.cumprod(x, 1), randn(3, 5))


@case
def cumprod_zeros(r):
    """cumprod along dim 1 with zeros: first, middle, two, none, last."""
    run(r, lambda x: torch.cumprod(x, 1), t([[0, 2, 0, 3], [1, 0, 3, 4], [1.5, 2, 3, -4],
                                             [2, 0, 0, 5], [1, 2, -3, 0]]))


@case
def cumprod_zeros_d0(r):
    """cumprod along dim 0 of the transposed rows with zeros."""
    run(r, lambda x: torch.cumprod(x, 0), t([[0, 2, 0, 3], [1, 0, 3, 4], [1.5, 2, 3, -4],
                                             [2, 0, 0, 5]]).t().contiguous())


@case
def prod_d1(r):
    """prod over dim 1 of [3, 4]."""
    run(r, lambda x: torch.prod(x, 1), randn(3, 4))


@case
def prod_d0_keepdim(r):
    """prod over dim 0 of [3, 2, 2], keepdim."""
    run(r, lambda x: torch.prod(x, 0, keepdim=True), randn(3, 2, 2))


@case
def prod_zeros(r):
    """prod over dim 1 of rows with no, one and two zeros."""
    run(r, lambda x: torch.prod(x, 1), t([[1.5, 2, -3], [1, 0, 3], [0, 2, 0], [4, 5, 0]]))


@case
def prod_all(r):
    """prod of all elements of [2, 3]."""
    run(r, torch.prod, randn(2, 3))


@case
def prod_all_one_zero(r):
    """prod of all elements with one zero (the gradient is the product of the others)."""
    run(r, torch.prod, t([[1.5, 2, -3], [1, 0, 3]]))


@case
def std_d1(r):
    """std over dim 1 (correction 1) of [3, 5]."""
    run(r, lambda x: torch.std(x, 1), randn(3, 5))


@case
def std_d02_biased_keepdim(r):
    """std over dims (0, 2), correction 0, keepdim, of [2, 3, 4]."""
    run(r, lambda x: torch.std(x, (0, 2), unbiased=False, keepdim=True), randn(2, 3, 4))


@case
def std_all(r):
    """std over all elements of [3, 4]."""
    run(r, torch.std, randn(3, 4))


@case
def std_constant_row(r):
    """std of a constant row is 0 with gradient 0 (not NaN)."""
    run(r, lambda x: torch.std(x, 1), t([[1, 1, 1], [1, 2, 4]]))


# ---- norms --------------------------------------------------------------------------------


def vnorm(p, dim=None, keepdim=False):
    return lambda x: torch.linalg.vector_norm(x, p, dim=dim, keepdim=keepdim)


@case
def norm2_d1(r):
    """2-norm over dim 1 of [3, 4], with a zero row (gradient 0 there)."""
    run(r, vnorm(2, 1), torch.cat([randn(3, 4), torch.zeros(1, 4)]))


@case
def norm_frobenius(r):
    """torch.norm(x, 'fro') over all of [3, 4]."""
    run(r, lambda x: torch.norm(x, p="fro"), randn(3, 4))


@case
def norm_frobenius_dims(r):
    """torch.norm(x, 'fro', dim=(1, 2), keepdim=True) of [2, 3, 4]."""
    run(r, lambda x: torch.norm(x, p="fro", dim=(1, 2), keepdim=True), randn(2, 3, 4))


@case
def norm1_with_zeros(r):
    """1-norm over the last dim with zero entries (subgradient 0)."""
    run(r, vnorm(1, -1), t([[1, -2, 0], [0, 0, 0], [-1.5, 0, 2]]))


@case
def norm_inf_ties(r):
    """inf-norm over dim 1 with ties (shared evenly) and a zero row."""
    run(r, vnorm(INF, 1), t([[3, -3, 1], [0, 0, 0], [1, 2, -2], [0.5, -4, 1]]))


@case
def norm_neginf_ties(r):
    """-inf-norm over dim 1 with ties and zeros."""
    run(r, vnorm(-INF, 1), t([[3, -3, 1], [0, 0, 0], [1, -1, 2], [0.5, -4, 1]]))


@case
def norm_inf_all(r):
    """inf-norm over all of [3, 4]."""
    run(r, vnorm(INF), randn(3, 4))


@case
def norm3_d0(r):
    """3-norm over dim 0 of [3, 4] with a zero column."""
    x = randn(3, 4)
    x[:, 1] = 0
    run(r, vnorm(3, 0), x)


@case
def norm1_5_d02_keepdim(r):
    """1.5-norm over dims (0, 2), keepdim, of [2, 3, 4]."""
    run(r, vnorm(1.5, (0, 2), True), randn(2, 3, 4))


@case
def norm0_5_with_zeros(r):
    """0.5-norm over dim 1 with zero entries and a zero row."""
    run(r, vnorm(0.5, 1), t([[3, -3, 0], [0, 0, 0], [1, 2, 0.25]]))


@case
def norm0_count(r):
    """0-norm (count of nonzeros) over dim 1; no gradient."""
    x = r.input("x0", t([[3, -3, 0], [0, 0, 0], [1, 2, 0.25]]))
    r.output("y", vnorm(0, 1)(x))
    r.add("grad", "x0", torch.zeros(3, 3))


# ---- cosine similarity, normalize -------------------------------------------------------------


@case
def cosine_d1(r):
    """F.cosine_similarity(x1, x2, dim=1) of [3, 4] pairs."""
    run(r, lambda a, b: F.cosine_similarity(a, b, dim=1), randn(3, 4), randn(3, 4))


@case
def cosine_broadcast(r):
    """F.cosine_similarity of [2, 3, 4] and [3, 1] over dim -2 (broadcast)."""
    run(r, lambda a, b: F.cosine_similarity(a, b, dim=-2), randn(2, 3, 4), randn(3, 1))


@case
def cosine_tiny_and_zero_norms(r):
    """Norms below eps (clamped in place: the gradient still flows through them) and 0."""
    run(r, lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-8),
        t([[1e-9, 0], [0, 0], [3, 4], [1e-5, 2e-5]]), t([[3, 4], [1, 2], [0, 0], [2e-5, 1e-5]]))


@case
def cosine_eps_large(r):
    """eps = 0.5 clamps small vectors' norms."""
    run(r, lambda a, b: F.cosine_similarity(a, b, dim=0, eps=0.5), randn(3, 2) * 0.2, randn(3, 2))


@case
def normalize_p2(r):
    """F.normalize(x) (p 2, dim 1, eps 1e-12) of [3, 4] with a zero row."""
    run(r, F.normalize, torch.cat([randn(2, 4), torch.zeros(1, 4)]))


@case
def normalize_p1_dlast(r):
    """F.normalize(x, p=1, dim=-1) of [2, 3, 4]."""
    run(r, lambda x: F.normalize(x, p=1, dim=-1), randn(2, 3, 4))


@case
def normalize_eps_large(r):
    """F.normalize(x, dim=0, eps=1) of small [3, 2]: the clamp is active."""
    run(r, lambda x: F.normalize(x, dim=0, eps=1.0), randn(3, 2) * 0.3)


# ---- einsum ---------------------------------------------------------------------------------

EINSUM = [
    ("einsum_matmul", "ij,jk->ik", [(3, 4), (4, 2)]),
    ("einsum_bmm", "bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("einsum_transpose", "ij->ji", [(3, 4)]),
    ("einsum_trace", "ii->", [(4, 4)]),
    ("einsum_diagonal", "ii->i", [(4, 4)]),
    ("einsum_batch_diagonal", "bii->bi", [(2, 3, 3)]),
    ("einsum_sum_all", "ij->", [(3, 4)]),
    ("einsum_sum_rows", "ij->j", [(3, 4)]),
    ("einsum_outer", "i,j->ij", [(3,), (4,)]),
    ("einsum_batch_outer", "bi,bj->bij", [(2, 3), (2, 4)]),
    ("einsum_dot", "i,i->", [(5,), (5,)]),
    ("einsum_implicit", "kj,ji", [(3, 4), (4, 2)]),
    ("einsum_implicit_upper_first", "bA,bC", [(3, 2), (3, 4)]),
    ("einsum_implicit_transpose", "ba", [(2, 3)]),
    ("einsum_ellipsis_broadcast", "...ij,...jk->...ik", [(2, 1, 3, 4), (3, 4, 2)]),
    ("einsum_ellipsis_implicit", "...ij,...jk", [(2, 3, 4), (4, 5)]),
    ("einsum_ellipsis_summed", "...ij->ij", [(2, 3, 4)]),
    ("einsum_ellipsis_diagonal", "...ii->...i", [(2, 3, 3)]),
    ("einsum_ellipsis_middle", "i...j->j...i", [(2, 3, 4, 5)]),
    ("einsum_three_operands", "ij,jk,kl->li", [(2, 3), (3, 4), (4, 2)]),
    ("einsum_attention_scores", "bhqd,bkhd->bhqk", [(2, 2, 3, 4), (2, 5, 2, 4)]),
    ("einsum_size1_broadcast", "ij,ij->ij", [(3, 1), (1, 4)]),
    ("einsum_outer_4d", "ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("einsum_diag_and_contract", "iij,jk->ik", [(3, 3, 4), (4, 2)]),
    ("einsum_spaces", " ij , jk -> ki ", [(3, 4), (4, 2)]),
    ("einsum_sum_only_in_one", "ij,k->i", [(3, 4), (5,)]),
]


def einsum_case(eq, shapes):
    def fn(r):
        run(r, lambda *xs: torch.einsum(eq, *xs), *[randn(*s) for s in shapes])
    fn.__doc__ = "einsum('%s') on %s." % (eq, ", ".join(str(list(s)) for s in shapes))
    return fn


for name, eq, shapes in EINSUM:
    fn = einsum_case(eq, shapes)
    fn.__name__ = name
    CASES.append(fn)


def main():
    write_cases("math_refs.txt", ["math references (clamp, rounding, scans, norms, einsum) for "
                                  "tests/test_math_ops.c", generated_by("make_math_refs.py")],
                CASES, 4000)


if __name__ == "__main__":
    main()
