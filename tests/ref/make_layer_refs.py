"""PyTorch reference values for tests/test_layer_refs.c: layers as modules (Linear,
convolutions, pooling, upsampling, activations, a LeNet-like Sequential), every loss of
include/deepc/ops.h, and the book's multi-head attention (book chapters 3 and 4).

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_layer_refs.py

Each case runs in float32 with a fixed seed (3000 + its position below), draws a random R
of each output's shape and backpropagates L = sum(out * R). Module cases record the torch
module's own parameters (its initialisation, named as in its state_dict) so the C test
copies them into the deepc module. Everything goes to tests/ref/layer_refs.txt in the format
of make_refs.py ('#' lines are comments; each tensor is a header line
`<role> <name> <dtype> <ndim> <dims...>` followed by its values, 8 per line, float32 printed
with 9 significant digits), names prefixed by the case ("conv2d_no_bias.weight"):
    param  <case>.<input>   a float input, or a module parameter by its state_dict name
    const  <case>.<input>   an input without gradient (class indices, targets, masks)
    out    <case>.y         the output (and for the LeNet case its parameter count)
    seed   <case>.y         R
    grad   <case>.<input>   dL/d<input>
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_nn_refs import Recorder, generated_by, randn, write_cases  # noqa: E402  (same format and helpers)

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def module_case(r, module, x):
    """One forward/backward of a module on x; records its parameters (state_dict names),
    x, y, R and the gradients of x and of every parameter."""
    for name, p in module.named_parameters():
        r.add("param", name, p)
    x = r.input("x", x)
    r.output("y", module(x)).backward()
    r.grad("x", x)
    for name, p in module.named_parameters():
        r.grad(name, p)


def function_case(r, fn, params, consts=()):
    """y = fn(**inputs) for float inputs `params` (recorded as param, gradients recorded)
    and `consts` (no gradient), both lists of (name, tensor)."""
    inputs = {name: r.input(name, t) for name, t in params}
    for name, t in consts:
        r.add("const", name, t)
        inputs[name] = t
    r.output("y", fn(**inputs)).backward()
    for name, _ in params:
        r.grad(name, inputs[name])


# ---- Layers -----------------------------------------------------------------------------


@case
def linear_3d(r):
    """Linear(5, 4) on x [2, 3, 5] (leading dims flattened into one product)."""
    module_case(r, nn.Linear(5, 4), randn(2, 3, 5))


@case
def conv1d_stride2_padding1_dilation2_groups2(r):
    """Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2) on [2, 4, 11]."""
    module_case(r, nn.Conv1d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
                randn(2, 4, 11))


@case
def conv2d_stride2_padding1_dilation2_groups2(r):
    """Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2, groups=2) on [2, 4, 9, 8]."""
    module_case(r, nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2, groups=2),
                randn(2, 4, 9, 8))


@case
def conv2d_no_bias(r):
    """Conv2d(3, 5, 3, padding=1, bias=False) on [2, 3, 6, 5]."""
    module_case(r, nn.Conv2d(3, 5, 3, padding=1, bias=False), randn(2, 3, 6, 5))


@case
def conv_transpose2d_stride2_output_padding1(r):
    """ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2) on
    [2, 4, 4, 3] -> [2, 6, 8, 6]."""
    module_case(r, nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
                randn(2, 4, 4, 3))


@case
def conv_transpose1d_stride2_dilation2(r):
    """ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1, dilation=2) on
    [2, 3, 5]."""
    module_case(r, nn.ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1,
                                      dilation=2), randn(2, 3, 5))


@case
def max_pool2d_k3_stride2_padding1(r):
    """MaxPool2d(3, stride=2, padding=1) on [2, 3, 7, 6]."""
    module_case(r, nn.MaxPool2d(3, stride=2, padding=1), randn(2, 3, 7, 6))


@case
def avg_pool2d_k2(r):
    """AvgPool2d(2) (stride = kernel) on [2, 3, 6, 5] (the last column is dropped)."""
    module_case(r, nn.AvgPool2d(2), randn(2, 3, 6, 5))


@case
def max_pool1d_k3_stride2_padding1(r):
    """MaxPool1d(3, stride=2, padding=1) on [2, 3, 9]."""
    module_case(r, nn.MaxPool1d(3, stride=2, padding=1), randn(2, 3, 9))


@case
def avg_pool1d_k4_stride3_padding2(r):
    """AvgPool1d(4, stride=3, padding=2) on [2, 3, 10] (padding counted)."""
    module_case(r, nn.AvgPool1d(4, stride=3, padding=2), randn(2, 3, 10))


@case
def adaptive_avg_pool2d_3x2(r):
    """AdaptiveAvgPool2d((3, 2)) on [2, 3, 7, 5] (overlapping windows)."""
    module_case(r, nn.AdaptiveAvgPool2d((3, 2)), randn(2, 3, 7, 5))


@case
def upsample_nearest_scale2(r):
    """Upsample(scale_factor=2, mode='nearest') on [2, 3, 3, 4]."""
    module_case(r, nn.Upsample(scale_factor=2, mode="nearest"), randn(2, 3, 3, 4))


@case
def upsample_bilinear_size_7x9(r):
    """Upsample(size=(7, 9), mode='bilinear', align_corners=False) on [2, 3, 3, 4]."""
    module_case(r, nn.Upsample(size=(7, 9), mode="bilinear", align_corners=False),
                randn(2, 3, 3, 4))


@case
def upsample_bilinear_scale2_align_corners(r):
    """Upsample(scale_factor=2, mode='bilinear', align_corners=True) on [2, 3, 3, 4]."""
    module_case(r, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                randn(2, 3, 3, 4))


@case
def upsample_bilinear_scale2(r):
    """Upsample(scale_factor=2, mode='bilinear', align_corners=False) on [1, 2, 4, 3]."""
    module_case(r, nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                randn(1, 2, 4, 3))


@case
def lenet_sequential(r):
    """The book's LeNet-like stack, small: conv(1->4, k5) -> maxpool 3 -> ReLU ->
    conv(4->8, k5) -> maxpool 2 -> ReLU -> flatten -> Linear(32, 10) on [2, 1, 28, 28].
    Its parameters are recorded in state_dict order; out lenet_sequential.num_params holds
    the total parameter count."""
    net = nn.Sequential(nn.Conv2d(1, 4, 5), nn.MaxPool2d(3), nn.ReLU(), nn.Conv2d(4, 8, 5),
                        nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(32, 10))
    assert list(net.state_dict().keys()) == [n for n, _ in net.named_parameters()]
    module_case(r, net, randn(2, 1, 28, 28))
    r.add("out", "num_params", torch.tensor(sum(p.numel() for p in net.parameters())))


# ---- Activations as modules --------------------------------------------------------------

def activation_case(r, module):
    """An activation on x [3, 7] ~ 3 N(0, 1) (both tails and the middle)."""
    module_case(r, module, 3 * randn(3, 7))


@case
def gelu(r):
    """GELU() (exact erf form)."""
    activation_case(r, nn.GELU())


@case
def gelu_tanh(r):
    """GELU(approximate='tanh')."""
    activation_case(r, nn.GELU(approximate="tanh"))


@case
def silu(r):
    """SiLU()."""
    activation_case(r, nn.SiLU())


@case
def softplus(r):
    """Softplus() (beta 1, threshold 20)."""
    activation_case(r, nn.Softplus())


@case
def softplus_beta2_threshold(r):
    """Softplus(beta=2) on x [2, 6] in [-15, 15]: beta x > 20 passes x through."""
    module_case(r, nn.Softplus(beta=2), torch.linspace(-15, 15, 12).reshape(2, 6))


@case
def leaky_relu_0_2(r):
    """LeakyReLU(0.2)."""
    activation_case(r, nn.LeakyReLU(0.2))


@case
def tanh(r):
    """Tanh()."""
    activation_case(r, nn.Tanh())


@case
def sigmoid(r):
    """Sigmoid()."""
    activation_case(r, nn.Sigmoid())


# ---- Losses ------------------------------------------------------------------------------

def logits_and_targets(shape_logits, shape_targets, classes):
    return randn(*shape_logits) * 2, torch.randint(0, classes, shape_targets)


@case
def cross_entropy_class_indices(r):
    """F.cross_entropy(logits [5, 4], target [5]) (mean)."""
    x, t = logits_and_targets((5, 4), (5,), 4)
    function_case(r, lambda input, target: F.cross_entropy(input, target),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_per_pixel(r):
    """F.cross_entropy(logits [2, 3, 4, 5], target [2, 4, 5]) (mean over pixels)."""
    x, t = logits_and_targets((2, 3, 4, 5), (2, 4, 5), 3)
    function_case(r, lambda input, target: F.cross_entropy(input, target),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_ignore_index_default(r):
    """F.cross_entropy on [6, 4] with targets -100 (torch's default ignore_index) in rows 1
    and 4: the mean is over the other 4 rows."""
    x, t = logits_and_targets((6, 4), (6,), 4)
    t[1] = t[4] = -100
    function_case(r, lambda input, target: F.cross_entropy(input, target),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_ignore_index_2_per_token(r):
    """F.cross_entropy(logits [2, 5, 6], target [2, 6], ignore_index=2) (per token)."""
    x, t = logits_and_targets((2, 5, 6), (2, 6), 5)
    t[0, 0] = t[1, 3] = 2
    function_case(r, lambda input, target: F.cross_entropy(input, target, ignore_index=2),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_label_smoothing(r):
    """F.cross_entropy(logits [6, 5], target [6], label_smoothing=0.1)."""
    x, t = logits_and_targets((6, 5), (6,), 5)
    function_case(r, lambda input, target: F.cross_entropy(input, target, label_smoothing=0.1),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_label_smoothing_ignore_index_per_pixel(r):
    """F.cross_entropy(logits [2, 4, 3, 3], target [2, 3, 3], label_smoothing=0.1) with
    two pixels at ignore_index -100."""
    x, t = logits_and_targets((2, 4, 3, 3), (2, 3, 3), 4)
    t[0, 1, 2] = t[1, 0, 0] = -100
    function_case(r, lambda input, target: F.cross_entropy(input, target, label_smoothing=0.1),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_sum(r):
    """F.cross_entropy(logits [5, 4], target [5], reduction='sum')."""
    x, t = logits_and_targets((5, 4), (5,), 4)
    function_case(r, lambda input, target: F.cross_entropy(input, target, reduction="sum"),
                  [("input", x)], [("target", t)])


@case
def cross_entropy_none_per_pixel(r):
    """F.cross_entropy(logits [2, 3, 2, 4], target [2, 2, 4], reduction='none') -> [2, 2, 4],
    one pixel ignored (loss 0)."""
    x, t = logits_and_targets((2, 3, 2, 4), (2, 2, 4), 3)
    t[1, 1, 2] = -100
    function_case(r, lambda input, target: F.cross_entropy(input, target, reduction="none"),
                  [("input", x)], [("target", t)])


@case
def nll_loss(r):
    """F.nll_loss(log_softmax(z) [5, 4], target [5]) (mean); the log-probabilities are the
    input."""
    x, t = logits_and_targets((5, 4), (5,), 4)
    function_case(r, lambda input, target: F.nll_loss(input, target),
                  [("input", F.log_softmax(x, 1))], [("target", t)])


@case
def nll_loss_ignore_index_sum(r):
    """F.nll_loss(input [6, 3], target [6], ignore_index=0, reduction='sum')."""
    x, t = logits_and_targets((6, 3), (6,), 3)
    t[2] = 0
    function_case(r, lambda input, target: F.nll_loss(input, target, ignore_index=0,
                                                      reduction="sum"),
                  [("input", F.log_softmax(x, 1))], [("target", t)])


@case
def mse_loss(r):
    """F.mse_loss(input [3, 4], target [3, 4]) (mean)."""
    function_case(r, lambda input, target: F.mse_loss(input, target),
                  [("input", randn(3, 4)), ("target", randn(3, 4))])


@case
def mse_loss_sum_broadcast(r):
    """F.mse_loss(input [3, 4], target [4], reduction='sum') (target broadcast; torch warns)."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        function_case(r, lambda input, target: F.mse_loss(input, target, reduction="sum"),
                      [("input", randn(3, 4)), ("target", randn(4))])


@case
def bce_loss(r):
    """F.binary_cross_entropy(sigmoid(z) [4, 3], soft targets in [0, 1]) (mean)."""
    function_case(r, lambda input, target: F.binary_cross_entropy(input, target),
                  [("input", torch.sigmoid(2 * randn(4, 3)))],
                  [("target", torch.rand(4, 3))])


@case
def bce_with_logits(r):
    """F.binary_cross_entropy_with_logits(z [4, 3] with large |z|, 0/1 targets) (mean)."""
    function_case(r, lambda input, target: F.binary_cross_entropy_with_logits(input, target),
                  [("input", 8 * randn(4, 3))],
                  [("target", torch.randint(0, 2, (4, 3)).float())])


@case
def bce_with_logits_none(r):
    """F.binary_cross_entropy_with_logits(z [2, 5], soft targets, reduction='none')."""
    function_case(r, lambda input, target: F.binary_cross_entropy_with_logits(
        input, target, reduction="none"),
        [("input", 3 * randn(2, 5))], [("target", torch.rand(2, 5))])


@case
def triplet_margin_loss(r):
    """F.triplet_margin_loss(anchor, positive, negative [6, 4], margin=1.0): some triplets
    inside the margin, some not."""
    anchor = randn(6, 4)
    function_case(r, lambda anchor, positive, negative: F.triplet_margin_loss(
        anchor, positive, negative, margin=1.0),
        [("anchor", anchor), ("positive", anchor + 0.5 * randn(6, 4)),
         ("negative", anchor + randn(6, 4))])


@case
def kl_normal(r):
    """KL(N(mu, exp(logvar)) || N(0, I)) for mu, logvar [4, 3], summed over dim 1 and
    averaged over the batch, from torch.distributions' closed form."""
    def kl(mu, logvar):
        q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
        p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
        return torch.distributions.kl_divergence(q, p).sum(1).mean()
    function_case(r, kl, [("mu", randn(4, 3)), ("logvar", 0.5 * randn(4, 3))])


# ---- Multi-head attention (book section 4.8, eq. 4.12-4.13) -----------------------------

def book_mha(xq, xkv, w_q, w_k, w_v, w_o, mask=None, causal=False):
    """Y_h = softmax(Xq Wq_h (Xkv Wk_h)^T / sqrt(Dqk)) Xkv Wv_h, Y = (Y_1 | ... | Y_H) Wo,
    one head at a time; mask: True = may attend; causal: key j > query i is masked."""
    heads, dim_qk = w_q.shape[0], w_q.shape[2]
    n, m = xq.shape[1], xkv.shape[1]
    outs = []
    for h in range(heads):
        scores = (xq @ w_q[h]) @ (xkv @ w_k[h]).transpose(-2, -1) / math.sqrt(dim_qk)
        if causal:
            scores = scores.masked_fill(torch.ones(n, m).triu(1).bool(), float("-inf"))
        if mask is not None:
            scores = scores.masked_fill(~mask[:, 0], float("-inf"))
        outs.append(torch.softmax(scores, -1) @ (xkv @ w_v[h]))
    return torch.cat(outs, -1) @ w_o


def mha_weights(dim, heads, dim_qk, dim_v):
    s = 1 / math.sqrt(dim)
    return [("w_q", s * randn(heads, dim, dim_qk)), ("w_k", s * randn(heads, dim, dim_qk)),
            ("w_v", s * randn(heads, dim, dim_v)),
            ("w_o", randn(heads * dim_v, dim) / math.sqrt(heads * dim_v))]


@case
def mha_self_attention(r):
    """Self-attention, dim 8, 2 heads, Dqk 3, Dv 4, on x [2, 5, 8]."""
    function_case(r, lambda x, **w: book_mha(x, x, **w),
                  [("x", randn(2, 5, 8))] + mha_weights(8, 2, 3, 4))


@case
def mha_causal_self_attention(r):
    """Causal self-attention, dim 6, 3 heads, Dqk 2, Dv 2, on x [2, 4, 6]."""
    function_case(r, lambda x, **w: book_mha(x, x, causal=True, **w),
                  [("x", randn(2, 4, 6))] + mha_weights(6, 3, 2, 2))


@case
def mha_cross_attention_mask(r):
    """Cross-attention, dim 8, 2 heads, Dqk 4, Dv 3: queries xq [2, 3, 8], keys/values
    xkv [2, 5, 8], boolean mask [2, 1, 3, 5] (int64 0/1; every query keeps a key)."""
    mask = torch.rand(2, 1, 3, 5) < 0.6
    mask[..., 0] = True
    function_case(r, lambda xq, xkv, mask, **w: book_mha(xq, xkv, mask=mask.bool(), **w),
                  [("xq", randn(2, 3, 8)), ("xkv", randn(2, 5, 8))] + mha_weights(8, 2, 4, 3),
                  [("mask", mask.long())])


def main():
    write_cases("layer_refs.txt", ["layer, loss and attention references for tests/test_layer_refs.c",
                                   generated_by("make_layer_refs.py")], CASES, 3000)


if __name__ == "__main__":
    main()
