"""PyTorch reference values for tests/test_conv.c and tests/test_pool.c.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_conv_refs.py

For every case below (the C tests mirror this table: same names, shapes and arguments) it
runs the torch.nn.functional op in float32 on random inputs, draws a random R of the
output's shape and backpropagates L = sum(out * R). Everything goes to one file,
tests/ref/conv_refs.txt, in the format of make_refs.py ('#' lines are comments; each tensor
is a header line `<role> <name> <dtype> <ndim> <dims...>` followed by its values, 8 per
line, float32 printed with 9 significant digits), with names prefixed by the case:
    param <case>.x / <case>.w / <case>.b   inputs (w, b only for convolutions that have them)
    out   <case>.y                         the output
    seed  <case>.R                         R
    grad  <case>.x / <case>.w / <case>.b   dL/dinput
"""
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))

# name, op, x shape, w shape (None: no weight), bias?, keyword arguments of the torch op.
# 1-D ops take plain ints; pool stride None = the kernel size (torch's default).
CASES = [
    # conv2d: weight [Cout, Cin/groups, KH, KW]
    ("conv2d_basic_bias", "conv2d", (2, 3, 6, 5), (4, 3, 3, 3), True, {}),
    ("conv2d_stride2_padding1", "conv2d", (2, 3, 7, 6), (4, 3, 3, 3), True,
     dict(stride=2, padding=1)),
    ("conv2d_dilation2_padding1_batch1", "conv2d", (1, 2, 7, 7), (3, 2, 3, 3), False,
     dict(padding=1, dilation=2)),
    ("conv2d_groups2", "conv2d", (2, 4, 5, 5), (6, 2, 3, 3), True, dict(groups=2)),
    ("conv2d_depthwise_groups4_batch4", "conv2d", (4, 4, 5, 6), (4, 1, 3, 3), True,
     dict(padding=1, groups=4)),
    ("conv2d_nonsquare_kernel_stride_padding_dilation", "conv2d", (2, 3, 7, 9), (4, 3, 2, 4),
     False, dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
    ("conv2d_1x1_fast_path", "conv2d", (3, 5, 4, 3), (3, 5, 1, 1), True, {}),
    ("conv2d_1x1_stride2", "conv2d", (2, 3, 5, 5), (2, 3, 1, 1), False, dict(stride=2)),
    # conv1d: weight [Cout, Cin/groups, K]
    ("conv1d_basic_bias", "conv1d", (2, 3, 10), (4, 3, 3), True, {}),
    ("conv1d_stride2_padding2_dilation2_groups2", "conv1d", (2, 4, 11), (6, 2, 3), True,
     dict(stride=2, padding=2, dilation=2, groups=2)),
    # conv_transpose2d: weight [Cin, Cout/groups, KH, KW]
    ("conv_transpose2d_basic_bias", "conv_transpose2d", (2, 3, 4, 5), (3, 4, 3, 3), True, {}),
    ("conv_transpose2d_stride2_padding1_output_padding1", "conv_transpose2d", (2, 3, 4, 4),
     (3, 2, 3, 3), True, dict(stride=2, padding=1, output_padding=1)),
    ("conv_transpose2d_groups2_dilation2_nonsquare", "conv_transpose2d", (1, 4, 4, 3),
     (4, 3, 2, 3), False, dict(stride=(1, 2), padding=(0, 1), groups=2, dilation=2)),
    ("conv_transpose2d_1x1_fast_path", "conv_transpose2d", (2, 3, 4, 4), (3, 5, 1, 1), True, {}),
    # conv_transpose1d: weight [Cin, Cout/groups, K]
    ("conv_transpose1d_stride3_padding1_output_padding2", "conv_transpose1d", (2, 3, 5),
     (3, 2, 4), True, dict(stride=3, padding=1, output_padding=2)),
    ("conv_transpose1d_output_padding_below_dilation", "conv_transpose1d", (1, 2, 4), (2, 2, 2),
     False, dict(output_padding=2, dilation=3)),
    # pooling
    ("max_pool2d_k2", "max_pool2d", (2, 3, 6, 6), None, False, dict(kernel_size=2)),
    ("max_pool2d_k3_stride2_padding1", "max_pool2d", (2, 2, 7, 8), None, False,
     dict(kernel_size=3, stride=2, padding=1)),
    ("max_pool2d_nonsquare_k2x3_stride1x2_padding1", "max_pool2d", (1, 2, 5, 7), None, False,
     dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1))),
    ("max_pool1d_k3_stride2_padding1", "max_pool1d", (2, 3, 9), None, False,
     dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool2d_k2", "avg_pool2d", (2, 3, 6, 5), None, False, dict(kernel_size=2)),
    ("avg_pool2d_k3_stride2_padding1_counts_padding", "avg_pool2d", (2, 2, 7, 8), None, False,
     dict(kernel_size=3, stride=2, padding=1)),
    ("avg_pool1d_k4_stride3_padding2", "avg_pool1d", (2, 2, 10), None, False,
     dict(kernel_size=4, stride=3, padding=2)),
    ("adaptive_avg_pool2d_7x5_to_3x2", "adaptive_avg_pool2d", (2, 3, 7, 5), None, False,
     dict(output_size=(3, 2))),
    ("adaptive_avg_pool2d_global_1x1", "adaptive_avg_pool2d", (2, 3, 4, 4), None, False,
     dict(output_size=(1, 1))),
    ("adaptive_avg_pool2d_3x3_up_to_5x4", "adaptive_avg_pool2d", (1, 2, 3, 3), None, False,
     dict(output_size=(5, 4))),
    ("upsample_nearest2d_scale2", "upsample_nearest2d", (1, 2, 3, 4), None, False,
     dict(scale_factor=(2, 2))),
    ("upsample_nearest2d_scale3x1", "upsample_nearest2d", (2, 2, 3, 2), None, False,
     dict(scale_factor=(3, 1))),
    ("upsample_bilinear2d_3x4_to_7x9", "upsample_bilinear2d", (1, 2, 3, 4), None, False,
     dict(size=(7, 9), align_corners=False)),
    ("upsample_bilinear2d_align_corners_3x4_to_5x6", "upsample_bilinear2d", (2, 2, 3, 4), None,
     False, dict(size=(5, 6), align_corners=True)),
    ("upsample_bilinear2d_down_5x7_to_2x3", "upsample_bilinear2d", (1, 2, 5, 7), None, False,
     dict(size=(2, 3), align_corners=False)),
]


def run_op(op, x, w, b, kw):
    if op in ("conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"):
        return getattr(F, op)(x, w, b, **kw)
    if op in ("max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d"):
        return getattr(F, op)(x, **kw)
    if op == "upsample_nearest2d":
        return F.interpolate(x, mode="nearest", **kw)
    if op == "upsample_bilinear2d":
        return F.interpolate(x, mode="bilinear", **kw)
    raise ValueError(op)


def fmt_tensor(role, name, t):
    t = t.detach().contiguous()
    lines = ["%s %s f32 %d%s" % (role, name, t.dim(), "".join(" %d" % s for s in t.shape))]
    values = t.flatten().tolist()
    for i in range(0, len(values), 8):
        lines.append(" ".join("%.9g" % v for v in values[i:i + 8]))
    return "\n".join(lines) + "\n"


def run_case(index, case):
    name, op, x_shape, w_shape, has_bias, kw = case
    torch.manual_seed(2000 + index)
    params = [("x", torch.randn(*x_shape))]
    if w_shape:
        params.append(("w", torch.randn(*w_shape) * 0.5))
    if has_bias:
        out_channels = w_shape[1] * kw.get("groups", 1) if "transpose" in op else w_shape[0]
        params.append(("b", torch.randn(out_channels) * 0.1))
    p = {n: t.clone().requires_grad_(True) for n, t in params}
    y = run_op(op, p["x"], p.get("w"), p.get("b"), kw)
    r = torch.randn(y.shape)
    (y * r).sum().backward()
    text = ["# %s: F.%s%s\n" % (name, op, "".join(", %s=%s" % kv for kv in kw.items()))]
    text += [fmt_tensor("param", "%s.%s" % (name, n), p[n]) for n, _ in params]
    text.append(fmt_tensor("out", name + ".y", y))
    text.append(fmt_tensor("seed", name + ".R", r))
    text += [fmt_tensor("grad", "%s.%s" % (name, n), p[n].grad) for n, _ in params]
    return "".join(text)


def main():
    torch.set_num_threads(1)
    path = os.path.join(HERE, "conv_refs.txt")
    with open(path, "w") as f:
        f.write("# generated by tests/ref/make_conv_refs.py with torch %s; do not edit\n"
                % torch.__version__)
        for i, case in enumerate(CASES):
            f.write(run_case(i, case))
    print("wrote", os.path.relpath(path), "(%d cases)" % len(CASES))


if __name__ == "__main__":
    main()
