"""PyTorch side of bench/bench_diffusion.c, line by line.

  diffusion  one training step of apps/diffusion's eps-prediction U-Net (width 32,
             class-conditional; the same modules, names and parameter count as
             diffusion_unet_new) on a batch of 64 noised 1x28x28 images: forward, MSE to the
             noise, backward, Adam(lr 2e-4), zero_grad(set_to_none=True).

Time embedding: emb[:, k] = sin(t f_k), emb[:, w/2 + k] = cos(t f_k), f_k = 10000^(-k/(w/2)),
then Linear(w, 4w) -> SiLU -> Linear(4w, 4w) (+ Embedding(11, 4w) of the label); every
residual block adds Linear(SiLU(temb)) after its first conv. torch 1.13 has no
F.scaled_dot_product_attention: the attention is softmax(q k^T / sqrt(C)) v written out.

usage: /usr/bin/python3 bench/torch_diffusion.py [--threads T] [--reps R] diffusion
x_t and the noise N(0, 1), timesteps uniform in [0, 1000), labels in [0, 10], one fixed
batch; two untimed warm-up steps.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

import torch_common as common

WARMUP_STEPS = 2
BATCH, SIZE, WIDTH, CLASSES, T = 64, 28, 32, 10, 1000


def time_embedding(t, dim):
    half = dim // 2
    freqs = torch.pow(10000.0, -torch.arange(half, dtype=torch.float64) / half)
    args = t.to(torch.float64)[:, None] * freqs[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1).float()


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, act):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.skip is None else self.skip(x)) + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).permute(1, 0, 3, 2)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        a = (att @ v).transpose(1, 2).reshape(n, c, h, w)
        return x + self.proj(a)


class DiffusionUNet(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        w, w2, te = width, 2 * width, 4 * width
        self.width = w
        self.time1 = nn.Linear(w, te)
        self.time2 = nn.Linear(te, te)
        self.class_emb = nn.Embedding(classes + 1, te)
        self.conv_in = nn.Conv2d(1, w, 3, padding=1)
        self.down0 = ResBlock(w, w, te)
        self.pool0 = nn.Conv2d(w, w, 3, stride=2, padding=1)
        self.down1 = ResBlock(w, w2, te)
        self.pool1 = nn.Conv2d(w2, w2, 3, stride=2, padding=1)
        self.mid1 = ResBlock(w2, w2, te)
        self.mid_attn = AttnBlock(w2)
        self.mid2 = ResBlock(w2, w2, te)
        self.up1 = ResBlock(2 * w2, w2, te)
        self.up0 = ResBlock(w2 + w, w, te)
        self.out_norm = nn.GroupNorm(8, w)
        self.out_conv = nn.Conv2d(w, 1, 3, padding=1)

    def forward(self, x, t, labels):
        temb = self.time2(F.silu(self.time1(time_embedding(t, self.width))))
        act = F.silu(temb + self.class_emb(labels))
        h0 = self.down0(self.conv_in(x), act)
        h1 = self.down1(self.pool0(h0), act)
        h = self.mid2(self.mid_attn(self.mid1(self.pool1(h1), act)), act)
        h = self.up1(torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), h1], 1), act)
        h = self.up0(torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), h0], 1), act)
        return self.out_conv(F.silu(self.out_norm(h)))


def train_step(model, optimizer, x_t, t, labels, noise):
    loss = F.mse_loss(model(x_t, t, labels), noise)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_diffusion(args):
    torch.manual_seed(0)
    model = DiffusionUNet(WIDTH, CLASSES).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
    x_t = torch.randn(BATCH, 1, SIZE, SIZE)
    noise = torch.randn(BATCH, 1, SIZE, SIZE)
    t = torch.randint(0, T, (BATCH,))
    labels = torch.randint(0, CLASSES + 1, (BATCH,))
    print(f"info diffusion_params {sum(p.numel() for p in model.parameters())}")
    for _ in range(WARMUP_STEPS):
        train_step(model, optimizer, x_t, t, labels, noise)
    loss = None
    for _ in range(args.reps):
        start = common.now()
        loss = train_step(model, optimizer, x_t, t, labels, noise)
        common.report("diffusion_step", common.now() - start)
    print(f"info diffusion_final_loss {loss.item():.4f}")


WORKLOADS = {"diffusion": bench_diffusion}


if __name__ == "__main__":
    common.main(__doc__, WORKLOADS, "torch_diffusion")
