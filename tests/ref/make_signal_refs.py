"""Reference values for tests/test_signal.c: FFT, STFT, spectrograms, mel filterbanks, CTC.

Regenerate (from the repository root, with Debian's python3-torch, not a pyenv python):

    /usr/bin/python3 tests/ref/make_signal_refs.py

Everything is computed in float64 and printed with 17 significant digits, so the C tests can
compare in float64 with tight tolerances. Sources of the values:
  - fft / rfft / stft / spectrogram: torch.fft.fft, torch.fft.ifft, torch.fft.rfft and
    torch.stft(return_complex=True) viewed as real (torch.view_as_real);
  - mel filterbanks: torchaudio is not installed here, so melscale_fbanks is written below in
    numpy from torchaudio's documented formulas (HTK and Slaney mel scales, optional Slaney
    area normalisation), independently of the C code;
  - log-mel: torch.stft power spectrogram @ that filterbank, log(+1e-6), with autograd;
  - ctc: torch.nn.functional.ctc_loss on log_softmax(logits); the gradients are w.r.t. the
    logits (torch's gradient w.r.t. log_probs is not the true one, see src/ops/ctc.c).
Each differentiable output gets a random seed R and the gradient of L = sum(out * R).
Format: that of make_refs.py ('#' comments; `<role> <name> <dtype> <ndim> <dims...>` then the
values, 8 per line), roles param / const / out / seed / grad, names "<case>.<tensor>".
"""
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "signal_refs.txt")
D = torch.float64
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def fmt_tensor(role, name, t):
    t = torch.as_tensor(t).detach().contiguous()
    dtype = "i64" if t.dtype == torch.int64 else "f32"
    lines = ["%s %s %s %d%s" % (role, name, dtype, t.dim(), "".join(" %d" % s for s in t.shape))]
    values = t.flatten().tolist()
    fmt = (lambda v: "%d" % v) if dtype == "i64" else (lambda v: "%.17g" % v)
    for i in range(0, len(values), 8):
        lines.append(" ".join(fmt(v) for v in values[i:i + 8]))
    return "\n".join(lines) + "\n"


class Recorder:
    def __init__(self, prefix):
        self.prefix, self.items, self.loss = prefix, [], 0

    def add(self, role, name, t):
        self.items.append(fmt_tensor(role, "%s.%s" % (self.prefix, name), t))

    def param(self, name, t):
        self.add("param", name, t)
        return t.detach().clone().requires_grad_(True)

    def const(self, name, t):
        self.add("const", name, t)
        return t

    def out(self, name, y, seed=True):
        self.add("out", name, y)
        if seed:
            r = torch.randn(y.shape, dtype=D)
            self.add("seed", name, r)
            self.loss = self.loss + (y * r).sum()

    def grads(self, **params):
        self.loss.backward()
        for name, t in params.items():
            self.add("grad", name, t.grad)


# ---- FFT and STFT ------------------------------------------------------------------------

@case
def fft(r):
    """complex fft and ifft along dim -2 of [3, 12, 2] and [2, 7, 2] (Bluestein), rfft of [4, 30]."""
    xs = {}
    for n in (12, 7):
        x = xs["x%d" % n] = r.param("x%d" % n, torch.randn(3, n, 2, dtype=D))
        r.out("fft%d" % n, torch.view_as_real(torch.fft.fft(torch.view_as_complex(x), dim=-1)))
        r.out("ifft%d" % n, torch.view_as_real(torch.fft.ifft(torch.view_as_complex(x), dim=-1)))
    xs["y"] = y = r.param("y", torch.randn(4, 30, dtype=D))
    r.out("rfft", torch.view_as_real(torch.fft.rfft(y, dim=-1)))
    r.grads(**xs)


def stft_case(r, x_shape, n_fft, hop, win_length, window, center, pad_mode, onesided):
    x = r.param("x", torch.randn(*x_shape, dtype=D))
    w = None
    if window == "hann":
        w = r.const("window", torch.hann_window(win_length, periodic=True, dtype=D))
    s = torch.stft(x, n_fft, hop_length=hop, win_length=win_length, window=w, center=center,
                   pad_mode=pad_mode, normalized=False, onesided=onesided, return_complex=True)
    r.out("stft", torch.view_as_real(s))
    r.grads(x=x)


@case
def stft_hann(r):
    """[2, 200] signals, n_fft 64, hop 16, periodic hann, center with reflect padding, onesided."""
    stft_case(r, (2, 200), 64, 16, 64, "hann", True, "reflect", True)


@case
def stft_odd(r):
    """1-D signal of 150, n_fft 50 (not a power of two), hop 10, hann of 40 (zero-padded to 50),
    no centring, two-sided."""
    stft_case(r, (150,), 50, 10, 40, "hann", False, "reflect", False)


@case
def stft_constant(r):
    """[1, 97] signal, n_fft 20, hop 7, no window (ones), center with constant (zero) padding."""
    stft_case(r, (1, 97), 20, 7, 20, None, True, "constant", True)


@case
def spectrogram(r):
    """power (|stft|^2) and magnitude spectrograms of a [300] signal, n_fft 48, hop 12, hann."""
    x = r.param("x", torch.randn(300, dtype=D))
    w = torch.hann_window(48, periodic=True, dtype=D)
    s = torch.stft(x, 48, hop_length=12, window=w, center=True, pad_mode="reflect",
                   return_complex=True)
    r.out("power", s.abs() ** 2)
    r.out("magnitude", s.abs())
    r.grads(x=x)


# ---- Mel filterbanks (torchaudio.functional.melscale_fbanks, in numpy) --------------------

def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep,
                    f / f_sp)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def melscale_fbanks(n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale):
    all_freqs = np.linspace(0, sample_rate // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale), n_mels + 2)
    f_pts = mel_to_hz(m_pts, mel_scale)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    fb = np.maximum(0.0, np.minimum(down, up))
    if norm == "slaney":
        fb *= (2.0 / (f_pts[2:n_mels + 2] - f_pts[:n_mels]))[None, :]
    return fb


MEL_CASES = [  # name, n_freqs, f_min, f_max, n_mels, sample_rate, norm, mel_scale
    ("htk", 101, 0.0, 8000.0, 20, 16000, None, "htk"),
    ("slaney_slaney", 129, 50.0, 7600.0, 32, 22050, "slaney", "slaney"),
    ("htk_slaney_norm", 65, 20.0, 11025.0, 12, 22050, "slaney", "htk"),
    ("slaney_scale", 33, 0.0, 4000.0, 10, 8001, None, "slaney"),
]


@case
def mel(r):
    """melscale_fbanks for the MEL_CASES above (numpy, torchaudio's formulas)."""
    for name, *args in MEL_CASES:
        r.out(name, torch.from_numpy(melscale_fbanks(*args)), seed=False)


@case
def log_mel(r):
    """log(fb^T |stft|^2 + 1e-6) of [1, 1200] at 16 kHz: n_fft 400, hop 160, 40 HTK mels, hann."""
    x = r.param("x", 0.3 * torch.randn(1, 1200, dtype=D))
    w = torch.hann_window(400, periodic=True, dtype=D)
    s = torch.stft(x, 400, hop_length=160, window=w, center=True, pad_mode="reflect",
                   return_complex=True)
    fb = torch.from_numpy(melscale_fbanks(201, 0.0, 8000.0, 40, 16000, None, "htk"))
    mel = torch.matmul(fb.T, s.abs() ** 2)
    r.out("log_mel", torch.log(mel + 1e-6))
    r.grads(x=x)


# ---- CTC -----------------------------------------------------------------------------------

def ctc_case(r, T, N, C, targets, input_lengths, target_lengths, blank, reduction,
             zero_infinity=False):
    logits = r.param("logits", torch.randn(T, N, C, dtype=D))
    tg = r.const("targets", torch.tensor(targets, dtype=torch.int64))
    il = r.const("input_lengths", torch.tensor(input_lengths, dtype=torch.int64))
    tl = r.const("target_lengths", torch.tensor(target_lengths, dtype=torch.int64))
    lp = logits.log_softmax(2)
    loss = F.ctc_loss(lp, tg, il, tl, blank=blank, reduction=reduction,
                      zero_infinity=zero_infinity)
    r.out("loss", loss)
    r.grads(logits=logits)


@case
def ctc_mean(r):
    """3 samples, T 12, C 5, blank 0, padded targets of lengths 4, 2, 3, reduction mean."""
    ctc_case(r, 12, 3, 5, [[1, 2, 3, 4], [2, 2, 0, 0], [4, 1, 3, 0]], [12, 9, 10], [4, 2, 3],
             0, "mean")


@case
def ctc_repeats(r):
    """repeated labels (1 1 2 2, 3 3 3) need a blank between repeats; T tight; reduction sum."""
    ctc_case(r, 7, 2, 4, [[1, 1, 2, 2], [3, 3, 3, 0]], [7, 5], [4, 3], 0, "sum")


@case
def ctc_blank_last(r):
    """blank = C - 1 = 5 (not 0), concatenated 1-D targets, reduction none, an empty target."""
    ctc_case(r, 10, 3, 6, [0, 1, 2, 3, 4, 4, 0], [10, 8, 6], [3, 0, 4], 5, "none")


@case
def ctc_zero_infinity(r):
    """sample 1 cannot be aligned (target 1 1 1 needs 5 frames, has 3): zero_infinity gives it
    loss 0 and gradient 0; reduction mean."""
    ctc_case(r, 6, 2, 3, [[1, 2, 1], [1, 1, 1]], [6, 3], [3, 3], 0, "mean", zero_infinity=True)


@case
def ctc_impossible(r):
    """the same impossible sample without zero_infinity: loss inf (none), NaN gradient."""
    logits = r.param("logits", torch.randn(3, 2, 3, dtype=D))
    tg = r.const("targets", torch.tensor([[1, 2], [1, 1]], dtype=torch.int64))
    il = r.const("input_lengths", torch.tensor([3, 2], dtype=torch.int64))
    tl = r.const("target_lengths", torch.tensor([2, 2], dtype=torch.int64))
    loss = F.ctc_loss(logits.log_softmax(2), tg, il, tl, reduction="none")
    r.out("loss", loss, seed=False)


def main():
    torch.set_num_threads(1)
    text = ["# generated by tests/ref/make_signal_refs.py with torch %s; do not edit\n"
            % torch.__version__]
    for i, fn in enumerate(CASES):
        torch.manual_seed(2000 + i)
        r = Recorder(fn.__name__)
        fn(r)
        text.append("# %s: %s\n" % (fn.__name__, " ".join(fn.__doc__.split())))
        text += r.items
    with open(OUT, "w") as f:
        f.write("".join(text))
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    main()
