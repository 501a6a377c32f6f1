#!/usr/bin/env python3
"""deepc vs PyTorch benchmark driver (`make bench`).

Runs every workload in deepc (the C programs in $BUILD/bench/) and, when Debian's
python3-torch is installed, the same workload in PyTorch (bench/torch_*.py), alternating
the two sides round by round (the side that goes first alternates too), so slow drifts of
the machine (other jobs, thermals) hit both alike. Prints a Markdown table of medians, the
ratio PyTorch-time / deepc-time (> 1: deepc is faster), GFLOP/s and their fraction of the
machine's FMA peak measured by $BUILD/bench/peak_fma.

Both sides: float32, the same shapes, batch sizes and optimizer, 2 threads
(DEEPC_NUM_THREADS / dc_set_num_threads; OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
torch.set_num_threads: torch and its OpenBLAS share one OpenMP pool), flush-to-zero
(deepc's workers always; torch.set_flush_denormal(True)).

usage: bench/run.py [--build DIR] [--quick] [--rounds N] [--threads T] [--markdown FILE]
                    [--no-torch] [FILTER...]
FILTER keeps the workloads whose name contains one of the strings.
Environment: BENCH_QUICK=1 (= --quick), BENCH_ROUNDS, BENCH_TORCH_PYTHON (default
/usr/bin/python3: Debian's python3-torch lives there, not in a pyenv/venv python).
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)

# ---- Workloads -------------------------------------------------------------------------
# Each group is one deepc program and one torch script run with a list of workloads; each
# workload is (name printed by the programs, label in the table, FLOPs per timed unit or
# None, the argument that asks a program for it). Model FLOPs of a training epoch are 3x the forward's multiply-adds x 2 (forward,
# gradient of the input, gradient of the weights), counted for matmul/conv layers only.

GEMM_SQUARE = [256, 512, 1024, 2048]
GEMM_GPT2 = [(256, 768, 768), (256, 768, 3072), (256, 3072, 768)]  # M x K x N
EPOCH = 60000  # Fashion-MNIST training samples
MLP_FLOPS = 3 * EPOCH * 2 * (784 * 500 + 500 * 10)
LENET_FLOPS = 3 * EPOCH * 2 * (32 * 24 * 24 * 25 + 64 * 4 * 4 * 32 * 25 + 256 * 200 + 200 * 10)


def gpt_forward_flops(tokens, layers, dim, vocab):
    """Matmul FLOPs of a GPT forward on one sequence of `tokens`: per layer the q, k, v, o
    projections (4 D^2 per token), the 4x MLP (8 D^2), the attention products q k^T and
    att v over the full T x T square (both sides compute it, the causal mask is applied
    after), and the head (D V per token)."""
    per_token = layers * 12 * dim * dim + dim * vocab
    return 2 * tokens * per_token + layers * 2 * 2 * tokens * tokens * dim


# GPT-2-124M-shaped step: batch 4 x 64 tokens, 12 layers, width 768, vocab 50304.
GPT2_STEP_FLOPS = 3 * 4 * gpt_forward_flops(64, 12, 768, 50304)


def gpt_cached_generate_flops(prompt, new, layers, dim, vocab):
    """Matmul FLOPs of generating `new` tokens after `prompt` with a KV cache, per token: the
    prompt once (its T x T attention square, the head on the last position only), then one
    position per token, whose query meets every cached key (q k^T and att v over n keys)."""
    prefill = 2 * prompt * layers * 12 * dim * dim + layers * 2 * 2 * prompt * prompt * dim
    steps = sum(2 * layers * 12 * dim * dim + layers * 2 * 2 * n * dim
                for n in range(prompt + 1, prompt + new))
    return (prefill + steps + new * 2 * dim * vocab) / new


# Small GPT generation: a 56-token prompt, 200 new tokens (the 256-token context exactly),
# 6 layers, width 384, vocab 512; FLOPs per token.
GPT_GENERATE_FLOPS = gpt_cached_generate_flops(56, 200, 6, 384, 512)


def resnet18_flops(batch, size, classes):
    """3x the forward FLOPs (convs + fc) of torchvision's ResNet-18 on size x size inputs."""
    macs, hw = 64 * 3 * 49 * (size // 2) ** 2, size // 4  # stem conv (stride 2), max-pool
    cin = 64
    for stage, width in enumerate([64, 128, 256, 512]):
        if stage > 0:
            hw //= 2
        for block in range(2):
            c_in = cin if block == 0 else width
            macs += (width * c_in * 9 + width * width * 9) * hw * hw
            if block == 0 and c_in != width:
                macs += width * c_in * hw * hw  # 1x1 downsample
        cin = width
    return 3 * batch * 2 * (macs + 512 * classes)


RESNET18_FLOPS = resnet18_flops(32, 32, 10)


def unet_flops(batch, size, width, classes):
    """3x the forward FLOPs (convs, transposed convs, head) of apps/segment's U-Net: double
    3x3 convs at 1, 1/2, 1/4, 1/8 resolution with width x 1, 2, 4, 8 channels, 2x2 stride-2
    transposed convs up, double convs over the concatenated skips, a 1x1 head."""
    w, macs = width, 0
    chans = [(3, w), (w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)]  # enc1..3, bottleneck
    for level, (cin, cout) in enumerate(chans):
        hw = (size >> level) ** 2
        macs += (cin * cout + cout * cout) * 9 * hw
    for level in range(3):  # up3 + dec3 at 1/4, up2 + dec2 at 1/2, up1 + dec1 at 1
        cout, hw = w << level, (size >> level) ** 2
        macs += 2 * cout * cout * 4 * (hw // 4)  # transposed conv 2x2 from 2 cout channels
        macs += (2 * cout * cout + cout * cout) * 9 * hw
    macs += w * classes * size * size
    return 3 * batch * 2 * macs


# U-Net segmentation step (bench/bench_unet.c): batch 16 of 3x64x64, width 16, 5 classes.
UNET_FLOPS = unet_flops(16, 64, 16, 5)


def diffusion_unet_flops(batch, size, width):
    """3x the forward FLOPs (convs, attention products, linears) of apps/diffusion's U-Net:
    residual blocks (two 3x3 convs, a 1x1 shortcut when the channels change) at 1 (width),
    1/2 and 1/4 (2 width) resolution, stride-2 3x3 convs down, attention at 1/4."""
    w, w2, te = width, 2 * width, 4 * width
    hw0, hw1, hw2 = size * size, (size // 2) ** 2, (size // 4) ** 2

    def res(cin, cout, hw):
        return (cin * cout + cout * cout) * 9 * hw + (cin * cout * hw if cin != cout else 0) + te * cout

    macs = w * te + te * te + w * 9 * hw0  # time MLP, conv_in
    macs += res(w, w, hw0) + w * w * 9 * hw1 + res(w, w2, hw1) + w2 * w2 * 9 * hw2
    macs += 2 * res(w2, w2, hw2) + 4 * w2 * w2 * hw2 + 2 * hw2 * hw2 * w2  # mid, attention
    macs += res(2 * w2, w2, hw1) + res(w2 + w, w, hw0) + w * 9 * hw0  # up path, out_conv
    return 3 * batch * 2 * macs


# Diffusion U-Net step (bench/bench_diffusion.c): batch 64 of 1x28x28, width 32.
DIFFUSION_FLOPS = diffusion_unet_flops(64, 28, 32)

# LSTM language model step (bench/bench_lstm.c): batch 32 x 64 tokens, 2 layers of 4 gates x
# 512 over [input 512 + hidden 512], head 512 -> 10000; 3x the forward's matmul FLOPs.
LSTM_LM_FLOPS = 3 * 2 * 32 * 64 * (2 * 4 * 512 * (512 + 512) + 512 * 10000)


def gemm_workloads(quick):
    shapes = [(n, n, n) for n in GEMM_SQUARE if not (quick and n > 1024)] + GEMM_GPT2
    return [(f"sgemm_{m}x{k}x{n}", f"sgemm {m}x{k}x{n}", 2.0 * m * k * n, f"{m}x{k}x{n}")
            for m, k, n in shapes]


def groups(quick):
    """(group name, deepc program, torch script, extra args, reps per process, rounds (None:
    every round; big models run in fewer rounds, their processes spend most of their time
    building the model and warming up), workloads)."""
    lenet_batches = 30 if quick else 100
    return [
        ("gemm", "bench_gemm", "torch_gemm.py", [], 2 if quick else 3, None, gemm_workloads(quick)),
        ("mlp", "bench_train", "torch_train.py", [], 1 if quick else 2, None,
         [("mlp_epoch", "MLP 784-500-10 epoch (b500, AdamW)", MLP_FLOPS, "mlp")]),
        ("lenet", "bench_train", "torch_train.py", ["--batches", str(lenet_batches)], 1, None,
         [("lenet_epoch", f"LeNet epoch (b128, AdamW; {lenet_batches} batches x{EPOCH / (lenet_batches * 128):.2f})",
           LENET_FLOPS, "lenet")]),
        # Issue 5, workloads 4 and 5 (bench/bench_gpt2.c + torch_gpt2.py, bench/bench_resnet.c
        # + torch_resnet.py).
        ("gpt2", "bench_gpt2", "torch_gpt2.py", [], 2, 1 if quick else 2,
         [("gpt2_step", "GPT-2 124M-shaped step (b4, T64, AdamW)", GPT2_STEP_FLOPS, "gpt2_step")]),
        ("gptgen", "bench_gpt2", "torch_gpt2.py", [], 1, 1 if quick else 2,
         [("gpt_generate", "small GPT generate, per token (6L, d384, T<=256)", GPT_GENERATE_FLOPS,
           "gpt_generate")]),
        ("resnet18", "bench_resnet", "torch_resnet.py", [], 2 if quick else 3, None,
         [("resnet18_step", "ResNet-18 step (3x32x32, b32, SGD momentum)", RESNET18_FLOPS,
           "resnet18")]),
        # Issue 12: recurrent layers (bench/bench_lstm.c + torch_lstm.py).
        ("lstm", "bench_lstm", "torch_lstm.py", [], 2, 1 if quick else 2,
         [("lstm_lm", "LSTM LM step (2x512, b32, T64, vocab 10k, AdamW)", LSTM_LM_FLOPS,
           "lstm_lm")]),
        # Issue 13: the segmentation U-Net (bench/bench_unet.c + torch_unet.py).
        ("unet", "bench_unet", "torch_unet.py", [], 2 if quick else 3, None,
         [("unet_step", "U-Net step (3x64x64, b16, w16, Adam)", UNET_FLOPS, "unet")]),
        # Issue 15: the diffusion U-Net (bench/bench_diffusion.c + torch_diffusion.py).
        ("diffusion", "bench_diffusion", "torch_diffusion.py", [], 2 if quick else 3, None,
         [("diffusion_step", "diffusion U-Net step (1x28x28, b64, w32, Adam)", DIFFUSION_FLOPS,
           "diffusion")]),
    ]


# ---- Running the programs ----------------------------------------------------------------

def run_program(cmd, env_extra):
    """Run one benchmark process; returns (times {workload: [s]}, info {key: value}, error)."""
    env = dict(os.environ, **env_extra)
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {}, {}, str(exc)
    times, info = {}, {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "time":
            times.setdefault(parts[1], []).append(float(parts[2]))
        elif len(parts) >= 2 and parts[0] in ("info", "peak_gflops"):
            key = parts[1] if parts[0] == "info" else "peak_gflops_" + parts[1]
            info[key] = " ".join(parts[2:])
    error = None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
        error = f"{' '.join(cmd)}: {tail}"
    return times, info, error


def torch_python(args):
    """The python3 that can import torch, or None (with the reason printed)."""
    if args.no_torch:
        return None
    python = os.environ.get("BENCH_TORCH_PYTHON", "/usr/bin/python3")
    try:
        ok = subprocess.run([python, "-c", "import torch"], capture_output=True,
                            timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        print(f"note: {python} cannot import torch (apt-get install python3-torch "
              "libopenblas0-openmp): deepc only", file=sys.stderr)
        return None
    return python


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def git_revision():
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return rev + ("+uncommitted" if dirty else "") if rev else "unknown"
    except OSError:
        return "unknown"


# ---- Table ---------------------------------------------------------------------------------

def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt_cell(workload, seconds):
    """A median time; generation workloads time one token and also show tokens/s."""
    if workload.endswith("_generate"):
        return f"{fmt_time(seconds)} ({1 / seconds:.1f} tok/s)"
    return fmt_time(seconds)


def fmt_rate(flops, seconds, peak):
    if flops is None or seconds is None:
        return "-"
    gflops = flops / seconds * 1e-9
    return f"{gflops:.1f} ({100 * gflops / peak:.0f}%)" if peak else f"{gflops:.1f}"


def spread(samples):
    """(max - min) / median in percent: how noisy the repetitions were."""
    if len(samples) < 2:
        return "-"
    return f"{100 * (max(samples) - min(samples)) / statistics.median(samples):.0f}%"


def markdown_table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in rows])


# ---- Main ----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", default=os.environ.get("BUILD", "build"))
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 0)))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--markdown", help="also write the report to this file")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("filters", nargs="*")
    args = parser.parse_args()
    rounds = args.rounds or (3 if args.quick else 5)
    build = os.path.join(ROOT, args.build)
    threads = str(args.threads)
    python = torch_python(args)

    deepc_env = {"DEEPC_NUM_THREADS": threads}
    torch_env = {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
                 "MKL_NUM_THREADS": threads, "PYTHONDONTWRITEBYTECODE": "1"}
    started = datetime.datetime.now()
    revision = git_revision()  # now: the tree may change while the benchmark runs
    load_before = load_average()

    peak_cmd = [os.path.join(build, "bench", "peak_fma"), "--threads", threads, "--reps", "5"]
    _, peak_info, peak_error = run_program(peak_cmd, {})

    plan = []
    for name, program, script, extra, reps, group_rounds, workloads in groups(args.quick):
        workloads = [w for w in workloads
                     if not args.filters or any(f in w[0] or f in name for f in args.filters)]
        if workloads:
            plan.append((name, program, script, extra, reps, group_rounds, workloads))

    samples = {}  # (side, workload) -> [seconds]
    info = {"deepc": {}, "torch": {}}
    status = {}  # (side, group) -> note instead of numbers
    failed = False
    for r in range(rounds):
        print(f"round {r + 1}/{rounds} ...", file=sys.stderr, flush=True)
        for name, program, script, extra, reps, group_rounds, workloads in plan:
            if group_rounds is not None and r >= group_rounds:
                continue
            common = ["--threads", threads, "--reps", str(reps)] + extra + [w[3] for w in workloads]
            sides = []
            exe = os.path.join(build, "bench", program)
            if os.path.exists(exe):
                sides.append(("deepc", [exe] + common, deepc_env))
            else:
                status[("deepc", name)] = "not built"
            torch_script = os.path.join(BENCH_DIR, script)
            if python is None:
                status[("torch", name)] = "no torch"
            elif os.path.exists(torch_script):
                sides.append(("torch", [python, torch_script] + common, torch_env))
            else:
                status[("torch", name)] = "no script"
            if r % 2 == 1:
                sides.reverse()
            for side, cmd, env in sides:
                if status.get((side, name), "").startswith("error"):
                    continue
                times, side_info, error = run_program(cmd, env)
                info[side].update(side_info)
                for workload, values in times.items():
                    samples.setdefault((side, workload), []).extend(values)
                if error:
                    status[(side, name)] = "error"
                    print(f"{side} {name}: {error}", file=sys.stderr)
                    failed = True

    # The peak again at the end, keeping the better one per thread count: a peak is a bound,
    # and another job on the machine at either moment only lowers it.
    _, peak_again, _ = run_program(peak_cmd, {})
    for key, value in peak_again.items():
        if key.startswith("peak_gflops_"):
            peak_info[key] = f"{max(float(value), float(peak_info.get(key, 0) or 0)):.1f}"
    peak = float(peak_info.get("peak_gflops_" + threads, 0) or 0)

    rows = []
    for name, program, script, extra, reps, group_rounds, workloads in plan:
        for workload, label, flops, _ in workloads:
            d = samples.get(("deepc", workload))
            t = samples.get(("torch", workload))
            dm = statistics.median(d) if d else None
            tm = statistics.median(t) if t else None
            rows.append([
                label,
                fmt_cell(workload, dm) if d else status.get(("deepc", name), "-"),
                fmt_cell(workload, tm) if t else status.get(("torch", name), "-"),
                f"{tm / dm:.2f}x" if dm and tm else "-",
                f"{min(t) / min(d):.2f}x" if d and t else "-",
                fmt_rate(flops, dm, peak),
                fmt_rate(flops, tm, peak),
                f"{spread(d or [])} / {spread(t or [])}",
                f"{len(d or [])}/{len(t or [])}",
            ])

    di, ti = info["deepc"], info["torch"]
    lines = [
        f"deepc benchmark, {started:%Y-%m-%d %H:%M}, deepc {revision}",
        "",
        f"- CPU: {cpu_model()} ({os.cpu_count()} logical CPUs), load average before/after: "
        f"{load_before} / {load_average()}",
        f"- deepc: ISA {di.get('isa', '?')}, {di.get('threads', '?')} threads, data: "
        f"{di.get('data', '?')}",
        (f"- PyTorch {ti.get('torch', '?')} ({python}), {ti.get('threads', '?')} threads, "
         f"flush-denormal on, BLAS {ti.get('blas', '?')}" if python else
         "- PyTorch: not installed (apt-get install python3-torch libopenblas0-openmp)"),
        (f"- FMA peak ({peak_info.get('fma_isa', '?')} loop, bench/peak_fma.c): "
         f"{peak_info.get('peak_gflops_1', '?')} GFLOP/s on 1 thread, "
         f"{peak_info.get('peak_gflops_' + threads, '?')} on {threads}" if not peak_error else
         f"- FMA peak: not measured ({peak_error})"),
        f"- {rounds} rounds alternating deepc and PyTorch; medians of all repetitions"
        + (" (BENCH_QUICK)" if args.quick else ""),
        "",
        markdown_table(["workload", "deepc", "PyTorch", "PyTorch/deepc", "(best/best)",
                        f"deepc GFLOP/s (% peak)", "PyTorch GFLOP/s (% peak)",
                        "spread d/t", "n d/t"], rows),
        "",
        "PyTorch/deepc > 1 means deepc is faster (medians; best/best: the ratio of the fastest "
        "repetitions, steadier on a busy machine). deepc and PyTorch columns are medians; "
        "GFLOP/s of training rows count matmul/conv FLOPs (3x forward). "
        "spread = (max-min)/median of the repetitions, n = repetitions per side.",
    ]
    # Other jobs: the load before the run, or after it beyond the benchmark's own threads
    # (the 1-min average at the end still counts them).
    def first(load):
        value = load.split()[:1]
        return float(value[0]) if value and value[0].replace(".", "", 1).isdigit() else None
    before, after = first(load_before), first(load_average())
    others = max([v for v in (before, after - args.threads if after is not None else None)
                  if v is not None], default=None)
    if others is not None and others > 0.5:
        lines.append(f"\nwarning: the machine was busy (other jobs' 1-min load average up to "
                     f"{others:.2f} on {os.cpu_count()} CPUs): times are noisy and ratios less "
                     "certain; rerun on an idle machine for quotable numbers.")
    report = "\n".join(lines)
    print(report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
