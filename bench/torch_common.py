"""Shared set-up of the PyTorch side of the benchmarks (bench/torch_*.py).

Same protocol as the C programs (bench/bench_common.h): "info <key> <value>" and
"time <workload> <seconds>" lines on stdout. Run with Debian's python3-torch
(/usr/bin/python3), never a pip torch, so both sides are what a Debian user gets.
"""
import argparse
import os
import sys
import time

import torch


def parse_args(description, positional_help):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--batches", type=int, default=0)
    parser.add_argument("workloads", nargs="+", help=positional_help)
    return parser.parse_args()


def blas_library():
    """The BLAS shared library this process has mapped (torch's matmul goes through it)."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "blas" in os.path.basename(path):
                    return os.path.realpath(path)
    except OSError:
        pass
    return "unknown"


def setup(args):
    """Fix threads and denormals like deepc (2 threads, flush-to-zero) and report them."""
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    # One product so the BLAS library is loaded before we look for it.
    torch.matmul(torch.ones(8, 8), torch.ones(8, 8))
    print("info torch", torch.__version__)
    print("info threads", torch.get_num_threads())
    print("info blas", blas_library())
    print("info cpu_capability", torch.backends.cpu.get_cpu_capability()
          if hasattr(torch.backends, "cpu") and hasattr(torch.backends.cpu, "get_cpu_capability")
          else "unknown")


def report(workload, seconds):
    print(f"time {workload} {seconds:.9f}", flush=True)


now = time.perf_counter


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def main(description, workloads, program):
    """Parse the options, set up, and run the named workloads ({name: fn(args)}) in order."""
    args = parse_args(description, "workloads: " + ", ".join(workloads))
    setup(args)
    for name in args.workloads:
        if name not in workloads:
            fail(f"{program}: unknown workload '{name}' ({', '.join(workloads)})")
    for name in args.workloads:
        workloads[name](args)
