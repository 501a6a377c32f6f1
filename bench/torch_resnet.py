"""PyTorch side of bench/bench_resnet.c, line by line.

  resnet18  one training step of torchvision's ResNet-18 (10 classes, 3 input channels:
            11,181,642 parameters, as deepc's dc_resnet18_new) on a batch of 32 images
            3x32x32, BatchNorm in training mode: forward, cross-entropy, backward,
            SGD(lr 0.01, momentum 0.9, weight_decay 5e-4), zero_grad(set_to_none=True).

torchvision is not a dependency (Debian's python3-torch does not ship it), so the network is
torchvision.models.resnet18 rebuilt by hand with the same modules, names, in-place ReLUs
and initialisation (kaiming normal, fan_out, for convs; BatchNorm 1 / 0).

usage: /usr/bin/python3 bench/torch_resnet.py [--threads T] [--reps R] WORKLOAD...
Inputs N(0, 1) and labels uniform in [0, 10), one fixed batch; two untimed warm-up steps.
"""
import torch
from torch import nn
from torch.nn import functional as F

import torch_common as common

WARMUP_STEPS = 2
BATCH, CLASSES, CHANNELS, SIZE = 32, 10, 3, 32


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), torchvision's names."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        widths, cin = [64, 128, 256, 512], 64
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}",
                    nn.Sequential(BasicBlock(cin, width, stride), BasicBlock(width, width, 1)))
            cin = width
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def train_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_resnet18(args):
    torch.manual_seed(0)
    model = ResNet18(CLASSES, CHANNELS).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH,))
    print(f"info resnet18_params {sum(p.numel() for p in model.parameters())}")
    for _ in range(WARMUP_STEPS):
        train_step(model, optimizer, x, y)
    loss = None
    for _ in range(args.reps):
        start = common.now()
        loss = train_step(model, optimizer, x, y)
        common.report("resnet18_step", common.now() - start)
    print(f"info resnet18_final_loss {loss.item():.4f}")


WORKLOADS = {"resnet18": bench_resnet18}


if __name__ == "__main__":
    common.main(__doc__, WORKLOADS, "torch_resnet")
