"""PyTorch references for tests/test_model_refs.c: the architectures of include/deepc/models.h
(book chapter 5) built in plain torch with the same structure and the same parameter names.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_model_refs.py

Weights. Storing every weight of even tiny models would take megabytes (the book's LeNet
alone has 105,506), so both sides compute them from their state_dict name instead:
element i of the tensor named N is offset + scale * (2 u - 1) with u = (splitmix64(fnv1a64(N)
+ i) >> 40) / 2^24, an exact float32 in [0, 1) (see param_values below; the C test has the
same function). offset/scale by name and shape: running_var 1/0.5, running_mean 0/0.2,
1-dim ".weight" (norm gains) 1/0.2, other 1-dim tensors (biases) 0/0.2, matrices
0/sqrt(3/fan) with fan = numel/shape[0] (torch layouts [out, in, ...]) or shape[-2] for the
book's per-head attention matrices [H, D, d]. A C parameter with another name or layout
than torch's gets other values, so the comparison also checks the names.

Each case runs in float32 with a fixed seed (4000 + its position below), records the inputs,
the output y, a random R of y's shape, and after backpropagating L = sum(y * R):
    param  <case>.x                  a float input (images), recorded with its gradient
    const  <case>.<name>             token ids
    out    <case>.y, seed <case>.y   the output and R
    grad   <case>.<name>             dL/d(input or parameter) for a few chosen tensors
    out    <case>.gradabs.<param>    sum |dL/dparam| for EVERY parameter (one scalar each)
    out    <case>.state.<buffer>     BatchNorm running statistics after a training forward
    out    <case>.num_params         the parameter count
and a last case `counts` holds the parameter counts of full-size configurations
(torchvision's ResNet-18/34/50 structure, rebuilt here as torchvision is not installed).
The format is that of make_refs.py (header `<role> <name> <dtype> <ndim> <dims...>`, then
the values, 8 per line).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_nn_refs import Recorder, fmt_tensor, randn  # noqa: E402  (same format and helpers)

M64 = (1 << 64) - 1


# ---- Weights from names (mirrored by fill_from_names() in tests/test_model_refs.c) --------

def fnv1a64(name):
    h = 0xcbf29ce484222325
    for b in name.encode():
        h = ((h ^ b) * 0x100000001b3) & M64
    return h


def splitmix64(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def param_values(name, shape):
    numel = math.prod(shape)
    if name.endswith("running_var"):
        offset, scale = 1.0, 0.5
    elif name.endswith("running_mean"):
        offset, scale = 0.0, 0.2
    elif len(shape) == 1 and name.endswith("weight"):
        offset, scale = 1.0, 0.2
    elif len(shape) <= 1:
        offset, scale = 0.0, 0.2
    else:
        fan = shape[-2] if len(shape) == 3 else numel // shape[0]
        offset, scale = 0.0, math.sqrt(3.0 / fan)
    h = fnv1a64(name)
    vals = [offset + scale * (2.0 * ((splitmix64((h + i) & M64) >> 40) / 16777216.0) - 1.0)
            for i in range(numel)]
    return torch.tensor(vals, dtype=torch.float64).to(torch.float32).reshape(shape)


def fill_from_names(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                t.copy_(param_values(name, tuple(t.shape)))


# ---- Convolutional networks (book section 5.2; torchvision's ResNet structure) ------------

def lenet(classes=10):
    """Book fig. 5.2."""
    return nn.Sequential(nn.Conv2d(1, 32, 5), nn.MaxPool2d(3), nn.ReLU(), nn.Conv2d(32, 64, 5),
                         nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(256, 200), nn.ReLU(),
                         nn.Linear(200, classes))


def mlp(widths, act):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i < len(widths) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def conv_bn(cin, cout, k, stride):
    return nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, c, 3, stride)
        self.relu = nn.ReLU()
        self.conv2, self.bn2 = conv_bn(c, c, 3, 1)
        self.downsample = nn.Sequential(*conv_bn(cin, c, 1, stride)) \
            if stride != 1 or cin != c else None

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(cin, c, 1, 1)
        self.conv2, self.bn2 = conv_bn(c, c, 3, stride)  # torchvision: stride on the 3x3
        self.conv3, self.bn3 = conv_bn(c, 4 * c, 1, 1)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(*conv_bn(cin, 4 * c, 1, stride)) \
            if stride != 1 or cin != 4 * c else None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, block, blocks, widths, imagenet_stem, stem, cin, classes):
        super().__init__()
        if imagenet_stem:
            self.conv1, self.bn1 = conv_bn(cin, stem, 7, 2)
        else:
            self.conv1, self.bn1 = conv_bn(cin, stem, 3, 1)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1) if imagenet_stem else nn.Identity()
        channels = stem
        for s, (n, w) in enumerate(zip(blocks, widths)):
            layers = []
            for b in range(n):
                layers.append(block(channels, w, 2 if s > 0 and b == 0 else 1))
                channels = w * block.expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))
        self.n_stages = len(blocks)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for s in range(self.n_stages):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet_imagenet(block, blocks, classes=1000, cin=3):
    return ResNet(block, blocks, [64, 128, 256, 512], True, 64, cin, classes)


# ---- Attention models (book section 5.3, fig. 5.6-5.9) ------------------------------------

class BookMHA(nn.Module):
    """Book eq. 4.12-4.13 with weights w_q, w_k [H, D, D/H], w_v [H, D, D/H], w_o [D, D]."""

    def __init__(self, dim, heads, causal):
        super().__init__()
        d = dim // heads
        self.w_q = nn.Parameter(torch.empty(heads, dim, d))
        self.w_k = nn.Parameter(torch.empty(heads, dim, d))
        self.w_v = nn.Parameter(torch.empty(heads, dim, d))
        self.w_o = nn.Parameter(torch.empty(heads * d, dim))
        self.causal = causal

    def forward(self, xq, xkv):
        q = xq.unsqueeze(1) @ self.w_q  # [B, H, N, d]
        k = xkv.unsqueeze(1) @ self.w_k
        v = xkv.unsqueeze(1) @ self.w_v
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if self.causal:
            n, m = scores.shape[-2:]
            scores = scores.masked_fill(torch.ones(n, m).triu(1).bool(), float("-inf"))
        y = torch.softmax(scores, -1) @ v  # [B, H, N, d]
        return y.transpose(1, 2).reshape(xq.shape[0], xq.shape[1], -1) @ self.w_o


class SelfAtt(nn.Module):
    """x + mha(ln(x))"""

    def __init__(self, dim, heads, causal):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.mha = BookMHA(dim, heads, causal)

    def forward(self, x):
        h = self.ln(x)
        return x + self.mha(h, h)


class CrossAtt(nn.Module):
    """xq + mha(ln(xq), xkv)"""

    def __init__(self, dim, heads):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.mha = BookMHA(dim, heads, False)

    def forward(self, xq, xkv):
        return xq + self.mha(self.ln(xq), xkv)


class FFW(nn.Module):
    """x + fc2(gelu(fc1(ln(x)))) (dropout inactive)"""

    def __init__(self, dim, hidden):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class Layer(nn.Module):
    def __init__(self, dim, heads, hidden, causal):
        super().__init__()
        self.self_att = SelfAtt(dim, heads, causal)
        self.ffw = FFW(dim, hidden)

    def forward(self, x):
        return self.ffw(self.self_att(x))


class DecoderLayer(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.self_att = SelfAtt(dim, heads, True)
        self.cross_att = CrossAtt(dim, heads)
        self.ffw = FFW(dim, hidden)

    def forward(self, x, z):
        return self.ffw(self.cross_att(self.self_att(x), z))


class Positions(nn.Module):
    def __init__(self, n, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, dim))

    def forward(self, x):
        return x + self.weight[:x.shape[-2]]


def sinusoidal(t, dim):
    """Book eq. 4.15."""
    pe = torch.zeros(t, dim, dtype=torch.float64)
    pos = torch.arange(t, dtype=torch.float64)[:, None]
    for d in range(dim):
        angle = pos[:, 0] / 10000.0 ** ((d - d % 2) / dim)
        pe[:, d] = torch.sin(angle) if d % 2 == 0 else torch.cos(angle)
    return pe.float()


class GPT(nn.Module):
    def __init__(self, vocab, context, layers, heads, dim):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, dim)
        self.pos_emb = Positions(context, dim)
        self.blocks = nn.Sequential(*[Layer(dim, heads, 4 * dim, True) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        return self.head(self.ln_f(self.blocks(self.pos_emb(self.tok_emb(ids)))))


class ViT(nn.Module):
    def __init__(self, image, patch, cin, classes, layers, heads, dim, hidden, head_hidden):
        super().__init__()
        m = (image // patch) ** 2
        self.cls_token = nn.Parameter(torch.empty(1, 1, dim))
        self.patch_embed = nn.Conv2d(cin, dim, patch, stride=patch)
        self.pos_emb = Positions(m + 1, dim)
        self.blocks = nn.Sequential(*[Layer(dim, heads, hidden, False) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(dim)
        self.head = mlp([dim, head_hidden, head_hidden, classes], nn.GELU) if head_hidden \
            else nn.Linear(dim, classes)

    def forward(self, x):
        e = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, M, D]
        e = torch.cat([self.cls_token.expand(x.shape[0], 1, -1), e], 1)
        z = self.ln_f(self.blocks(self.pos_emb(e)))
        return self.head(z[:, 0])


class Stack(nn.Module):
    def __init__(self, layers, dim):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.ln_f = nn.LayerNorm(dim)


class Transformer(nn.Module):
    def __init__(self, src_vocab, tgt_vocab, context, enc_layers, dec_layers, heads, dim):
        super().__init__()
        self.src_emb = nn.Embedding(src_vocab, dim)
        self.tgt_emb = nn.Embedding(tgt_vocab, dim)
        self.register_buffer("pe", sinusoidal(context, dim), persistent=False)
        self.encoder = Stack([Layer(dim, heads, 4 * dim, False) for _ in range(enc_layers)], dim)
        self.decoder = Stack([DecoderLayer(dim, heads, 4 * dim) for _ in range(dec_layers)], dim)
        self.head = nn.Linear(dim, tgt_vocab)

    def forward(self, src, tgt):
        z = self.src_emb(src) + self.pe[:src.shape[1]]
        for layer in self.encoder.layers:
            z = layer(z)
        z = self.encoder.ln_f(z)
        y = self.tgt_emb(tgt) + self.pe[:tgt.shape[1]]
        for layer in self.decoder.layers:
            y = layer(y, z)
        return self.head(self.decoder.ln_f(y))


# ---- Cases -------------------------------------------------------------------------------

CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def num_params(model):
    return sum(p.numel() for p in model.parameters())


def model_case(r, model, inputs, full_grads, train=False, states=()):
    """Fill model from names, run model(*inputs) where inputs are (name, tensor, is_float),
    record as described at the top."""
    fill_from_names(model)
    model.train(train)
    args = []
    for name, t, is_float in inputs:
        if is_float:
            args.append(r.input(name, t))
        else:
            r.add("const", name, t)
            args.append(t)
    r.output("y", model(*args)).backward()
    for (name, _, is_float), a in zip(inputs, args):
        if is_float:
            r.grad(name, a)
    params = dict(model.named_parameters())
    for name in full_grads:
        r.grad(name, params[name])
    for name, p in params.items():
        r.add("out", "gradabs." + name, p.grad.abs().sum().double().float())
    buffers = dict(model.named_buffers())
    for name in states:
        r.add("out", "state." + name, buffers[name])
    r.add("out", "num_params", torch.tensor(num_params(model)))


@case
def lenet_book(r):
    """The book's LeNet-like network (fig. 5.2) on x [2, 1, 28, 28]."""
    model_case(r, lenet(), [("x", randn(2, 1, 28, 28), True)], ["0.bias", "9.weight", "9.bias"])


@case
def mlp_gelu(r):
    """MLP 20 -> 16 -> 12 -> 5 with GELU on x [4, 20]."""
    model_case(r, mlp([20, 16, 12, 5], nn.GELU), [("x", randn(4, 20), True)],
               ["0.weight", "4.bias"])


@case
def resnet_basic_train(r):
    """ResNet, basic blocks, 3x3 stem with 4 channels, stages [2, 1] of widths [4, 8], 1 input
    channel, 10 classes, training mode (batch statistics; running stats updated) on
    x [2, 1, 8, 8]."""
    model = ResNet(BasicBlock, [2, 1], [4, 8], False, 4, 1, 10)
    model_case(r, model, [("x", randn(2, 1, 8, 8), True)],
               ["conv1.weight", "layer2.0.downsample.0.weight", "fc.bias"], train=True,
               states=["bn1.running_mean", "layer2.0.bn2.running_var",
                       "layer2.0.downsample.1.running_mean"])


@case
def resnet_bottleneck_eval(r):
    """ResNet, bottleneck blocks, ImageNet stem (7x7 stride 2, maxpool) with 4 channels,
    stages [1, 2] of widths [2, 4], 3 input channels, 5 classes, eval mode (running stats)
    on x [2, 3, 16, 16]."""
    model = ResNet(Bottleneck, [1, 2], [2, 4], True, 4, 3, 5)
    model_case(r, model, [("x", randn(2, 3, 16, 16), True)],
               ["conv1.weight", "layer1.0.conv2.weight", "layer2.1.bn3.bias"])


@case
def gpt_tiny(r):
    """GPT: vocab 11, context 8, 2 layers, 2 heads, dim 16 on ids [2, 8]."""
    model = GPT(11, 8, 2, 2, 16)
    ids = torch.randint(0, 11, (2, 8))
    model_case(r, model, [("ids", ids, False)],
               ["tok_emb.weight", "pos_emb.weight", "blocks.0.self_att.mha.w_q",
                "blocks.1.ffw.fc2.bias", "ln_f.weight"])


@case
def vit_tiny(r):
    """ViT: 1x8x8 images, patch 4 (4 patches), 10 classes, 2 layers, 2 heads, dim 16,
    feed-forward 64, readout MLP with two hidden layers of 16, on x [2, 1, 8, 8]."""
    model = ViT(8, 4, 1, 10, 2, 2, 16, 64, 16)
    model_case(r, model, [("x", randn(2, 1, 8, 8), True)],
               ["cls_token", "patch_embed.weight", "pos_emb.weight", "head.4.bias"])


@case
def transformer_tiny(r):
    """Encoder-decoder Transformer: source vocab 11, target vocab 13, context 8, 2 encoder
    and 2 decoder layers, 2 heads, dim 16, on src [2, 7] and tgt [2, 5]."""
    model = Transformer(11, 13, 8, 2, 2, 2, 16)
    src, tgt = torch.randint(0, 11, (2, 7)), torch.randint(0, 13, (2, 5))
    model_case(r, model, [("src", src, False), ("tgt", tgt, False)],
               ["src_emb.weight", "tgt_emb.weight", "encoder.layers.0.self_att.mha.w_k",
                "decoder.layers.1.cross_att.mha.w_v", "head.bias"])


@case
def counts(r):
    """Parameter counts of full-size configurations: torchvision's resnet18/34/50 (1000
    classes, 3 channels), the small ResNet for 1x28x28 (10 classes), the book's LeNet, a
    GPT (vocab 65, context 64, 4 layers, 4 heads, dim 128), a ViT (28x28, patch 7, 10
    classes, 4 layers, 4 heads, dim 64, readout hidden 64) and a Transformer (vocab 100/120,
    context 32, 2 + 2 layers, 4 heads, dim 64)."""
    models = {
        "resnet18": resnet_imagenet(BasicBlock, [2, 2, 2, 2]),
        "resnet34": resnet_imagenet(BasicBlock, [3, 4, 6, 3]),
        "resnet50": resnet_imagenet(Bottleneck, [3, 4, 6, 3]),
        "resnet_small": ResNet(BasicBlock, [2, 2, 2], [16, 32, 64], False, 16, 1, 10),
        "lenet": lenet(),
        "gpt": GPT(65, 64, 4, 4, 128),
        "vit": ViT(28, 7, 1, 10, 4, 4, 64, 256, 64),
        "transformer": Transformer(100, 120, 32, 2, 2, 4, 64),
    }
    for name, model in models.items():
        r.add("out", name, torch.tensor(num_params(model)))


def main():
    torch.set_num_threads(1)
    text = ["# model references for tests/test_model_refs.c\n",
            "# generated by tests/ref/make_model_refs.py with torch %s; do not edit\n"
            % torch.__version__]
    for index, fn in enumerate(CASES):
        torch.manual_seed(4000 + index)
        r = Recorder(fn.__name__)
        fn(r)
        text.append("# %s: %s\n" % (fn.__name__, " ".join(fn.__doc__.split())))
        text += [fmt_tensor(role, name, t) for role, name, t in r.items]
    path = os.path.join(HERE, "model_refs.txt")
    with open(path, "w") as f:
        f.write("".join(text))
    print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
