"""PyTorch side of bench/bench_gemm.c: C[M,N] = A[M,K] @ B[K,N] in float32 with
torch.matmul (BLAS sgemm), output allocation included as in dc_matmul.

usage: /usr/bin/python3 bench/torch_gemm.py [--threads T] [--reps R] MxKxN...
Each repetition runs ceil(2e9 / flops) products (about 2 GFLOP) after two warm-up
products, the same rule as the C program.
"""
import math

import torch

import torch_common as common


def bench_shape(m, k, n, reps):
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    inner = max(1, math.ceil(2e9 / (2.0 * m * k * n)))
    for _ in range(2):
        torch.matmul(a, b)
    for _ in range(reps):
        start = common.now()
        for _ in range(inner):
            torch.matmul(a, b)
        common.report(f"sgemm_{m}x{k}x{n}", (common.now() - start) / inner)


def main():
    args = common.parse_args(__doc__, "shapes MxKxN")
    common.setup(args)
    with torch.no_grad():
        for shape in args.workloads:
            try:
                m, k, n = (int(v) for v in shape.split("x"))
            except ValueError:
                common.fail(f"torch_gemm: bad shape '{shape}' (expected MxKxN)")
            bench_shape(m, k, n, args.reps)


if __name__ == "__main__":
    main()
