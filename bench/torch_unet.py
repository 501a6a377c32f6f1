"""PyTorch side of bench/bench_unet.c, line by line.

  unet  one training step of apps/segment's U-Net (width 16, 5 classes, 3 input channels:
        482,805 parameters, as deepc's segment_model_new) on a batch of 16 images 3x64x64,
        BatchNorm in training mode: forward, per-pixel cross-entropy, backward, Adam(lr 2e-3),
        zero_grad(set_to_none=True).

The network, with deepc's module names: double conv blocks (conv3x3 without bias,
BatchNorm2d, ReLU, twice) enc1 (16), enc2 (32), enc3 (64) and bottleneck (128) under 2x2
max-pools; up3/up2/up1 = ConvTranspose2d(kernel 2, stride 2) whose output is concatenated
with the encoder's (upsampled first) and fed to dec3/dec2/dec1; head = Conv2d 1x1.

usage: /usr/bin/python3 bench/torch_unet.py [--threads T] [--reps R] WORKLOAD...
Inputs U[0, 1) and labels uniform in [0, 5), one fixed batch; two untimed warm-up steps.
"""
import torch
from torch import nn
from torch.nn import functional as F

import torch_common as common

WARMUP_STEPS = 2
BATCH, CLASSES, SIZE, WIDTH = 16, 5, 64, 16


def double_conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, width, classes):
        super().__init__()
        w = width
        self.enc1, self.enc2 = double_conv(3, w), double_conv(w, 2 * w)
        self.enc3, self.bottleneck = double_conv(2 * w, 4 * w), double_conv(4 * w, 8 * w)
        self.up3, self.dec3 = nn.ConvTranspose2d(8 * w, 4 * w, 2, stride=2), double_conv(8 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), double_conv(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), double_conv(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        e3 = self.enc3(F.max_pool2d(e2, 2))
        b = self.bottleneck(F.max_pool2d(e3, 2))
        d3 = self.dec3(torch.cat([self.up3(b), e3], 1))
        d2 = self.dec2(torch.cat([self.up2(d3), e2], 1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], 1))
        return self.head(d1)


def train_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_unet(args):
    torch.manual_seed(0)
    model = UNet(WIDTH, CLASSES).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    x = torch.rand(BATCH, 3, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH, SIZE, SIZE))
    print(f"info unet_params {sum(p.numel() for p in model.parameters())}")
    for _ in range(WARMUP_STEPS):
        train_step(model, optimizer, x, y)
    loss = None
    for _ in range(args.reps):
        start = common.now()
        loss = train_step(model, optimizer, x, y)
        common.report("unet_step", common.now() - start)
    print(f"info unet_step_final_loss {loss.item():.4f}")


WORKLOADS = {"unet": bench_unet}


if __name__ == "__main__":
    common.main(__doc__, WORKLOADS, "torch_unet")
