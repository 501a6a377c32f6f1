"""PyTorch side of bench/bench_train.c, line by line: one epoch of forward +
cross-entropy + backward + AdamW(lr 1e-3, torch defaults) on Fashion-MNIST-shaped data.

  mlp    784-500-10 MLP with ReLU, batch 500
  lenet  conv 32 k5 -> maxpool 3 -> ReLU -> conv 64 k5 -> maxpool 2 -> ReLU -> flatten 256
         -> 200 -> ReLU -> 10, batch 128

usage: /usr/bin/python3 bench/torch_train.py [--threads T] [--reps R] [--batches N] WORKLOAD...
Batches are consecutive slices of the in-memory set (views, no DataLoader), three
untimed warm-up steps, --batches N times N batches and scales to the epoch, exactly as
the C program. Data: the Fashion-MNIST training set from Debian's dataset-fashion-mnist
(pixels / 255), else uniform random data of the same shape.
"""
import gzip
import os

import torch
from torch import nn

import torch_common as common

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
WARMUP_STEPS = 3


def read_idx(path):
    """An IDX file (gzip or raw) as a uint8 tensor of its dims."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load_data():
    def find(stem):
        for name in (stem + ".gz", stem):
            path = os.path.join(FASHION_MNIST_DIR, name)
            if os.path.exists(path):
                return path
        return None

    images, labels = find("train-images-idx3-ubyte"), find("train-labels-idx1-ubyte")
    if images and labels:
        print("info data fashion-mnist")
        x = read_idx(images).float().div_(255).unsqueeze(1)
        return x.contiguous(), read_idx(labels).long()
    print("info data random")
    generator = torch.Generator().manual_seed(1)
    return (torch.rand(60000, 1, 28, 28, generator=generator),
            torch.randint(0, 10, (60000,), generator=generator))


def build_mlp():
    return nn.Sequential(nn.Linear(784, 500), nn.ReLU(), nn.Linear(500, 10))


def build_lenet():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5), nn.MaxPool2d(3), nn.ReLU(),
        nn.Conv2d(32, 64, 5), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(256, 200), nn.ReLU(), nn.Linear(200, 10))


# name: (batch size, flat input, builder) -- as the table in bench_train.c
WORKLOADS = {
    "mlp": (500, True, build_mlp),
    "lenet": (128, False, build_lenet),
}


def train_step(model, optimizer, inputs, targets, start, count):
    x = inputs[start:start + count]
    y = targets[start:start + count]
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)  # deepc drops gradients too
    return loss


def bench_workload(name, data, args):
    batch_size, flat_input, build = WORKLOADS[name]
    torch.manual_seed(0)
    model = build()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    inputs, targets = data
    n = inputs.shape[0]
    if flat_input:
        inputs = inputs.reshape(n, 784)
    epoch_batches = (n + batch_size - 1) // batch_size
    batches = args.batches if 0 < args.batches < epoch_batches else epoch_batches
    for s in range(WARMUP_STEPS):
        train_step(model, optimizer, inputs, targets, s * batch_size, batch_size)
    loss = None
    for _ in range(args.reps):
        samples = 0
        start = common.now()
        for b in range(batches):
            first = b * batch_size
            count = min(batch_size, n - first)
            loss = train_step(model, optimizer, inputs, targets, first, count)
            samples += count
        common.report(f"{name}_epoch", (common.now() - start) * n / samples)
    print(f"info {name}_final_loss {loss.item():.4f}")


def main():
    args = common.parse_args(__doc__, "workloads: " + ", ".join(WORKLOADS))
    common.setup(args)
    for name in args.workloads:
        if name not in WORKLOADS:
            common.fail(f"torch_train: unknown workload '{name}' ({', '.join(WORKLOADS)})")
    data = load_data()
    for name in args.workloads:
        bench_workload(name, data, args)


if __name__ == "__main__":
    main()
