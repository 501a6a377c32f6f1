/* Signal processing: FFT, STFT, spectrograms and mel filterbanks (torch.fft / torch.stft /
 * torchaudio semantics).
 *
 * Complex numbers are stored as a trailing dim of 2 (real, imaginary), like
 * torch.view_as_real: the library has no complex dtype.
 *
 * The FFT itself (one raw kernel, in double whatever the dtype):
 *   - n a power of two: iterative radix-2 Cooley-Tukey (bit reversal, then log2(n) passes of
 *     butterflies with precomputed twiddles e^{-2 pi i k / n});
 *   - any other n: Bluestein's chirp z-transform. With w_j = e^{-i pi j^2 / n},
 *     2kt = k^2 + t^2 - (k - t)^2 turns the DFT into a convolution,
 *         X_k = w_k sum_t (x_t w_t) conj(w_{k-t}),
 *     which runs as three radix-2 FFTs of a power of two m >= 2n - 1 (O(n log n) for every n,
 *     primes included). j^2 is reduced mod 2n before taking the angle, so large j lose no
 *     accuracy.
 *   The inverse transform is conj(FFT(conj(x))) / n.
 *
 * Everything above the FFT is a composition of differentiable ops (pad, unfold_dim, mul,
 * stack, narrow, permute, matmul), so the STFT, spectrograms and log-mel features get their
 * gradients from those; the only new backward is the FFT's, which is its adjoint: for
 * y = F x (F_kt = e^{-2 pi i kt/n}) the gradient is F^H g = n * ifft(g), and for the inverse
 * y = F^H x / n it is F g / n. Both are dc_fft again, so double backward works. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <math.h>
#include <string.h>

/* ---- The FFT kernel --------------------------------------------------------------------- */

typedef struct {
    int64_t n;       /* transform length */
    int64_t m;       /* radix-2 length: n itself, or the Bluestein convolution length */
    bool bluestein;
    double *tw;      /* m/2 complex twiddles e^{-2 pi i k / m} */
    double *chirp;   /* Bluestein: n complex w_j = e^{-i pi j^2 / n} */
    double *kernel;  /* Bluestein: FFT of the m-periodic sequence conj(w_|j|) */
} fft_plan;

static bool is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* In place, unnormalised forward DFT of m (a power of two) complex values z[2k], z[2k+1]. */
static void fft_pow2(double *z, int64_t m, const double *tw)
{
    for (int64_t i = 1, j = 0; i < m; i++) { /* bit-reversal permutation */
        int64_t bit = m >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j |= bit;
        if (i < j) {
            double tr = z[2 * i], ti = z[2 * i + 1];
            z[2 * i] = z[2 * j], z[2 * i + 1] = z[2 * j + 1];
            z[2 * j] = tr, z[2 * j + 1] = ti;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len >> 1, step = m / len;
        for (int64_t s = 0; s < m; s += len) {
            for (int64_t k = 0; k < half; k++) {
                double wr = tw[2 * k * step], wi = tw[2 * k * step + 1];
                double *a = z + 2 * (s + k), *b = z + 2 * (s + k + half);
                double br = b[0] * wr - b[1] * wi, bi = b[0] * wi + b[1] * wr;
                b[0] = a[0] - br, b[1] = a[1] - bi;
                a[0] += br, a[1] += bi;
            }
        }
    }
}

static void plan_free(fft_plan *p)
{
    dc__free(p->tw);
    dc__free(p->chirp);
    dc__free(p->kernel);
    memset(p, 0, sizeof *p);
}

static int plan_init(fft_plan *p, int64_t n)
{
    memset(p, 0, sizeof *p);
    p->n = n;
    p->bluestein = !is_pow2(n);
    p->m = n;
    if (p->bluestein) {
        p->m = 1;
        while (p->m < 2 * n - 1) p->m <<= 1;
    }
    int64_t m = p->m;
    p->tw = dc__malloc((size_t)(m / 2 + 1) * 2 * sizeof(double));
    if (!p->tw) return -1;
    for (int64_t k = 0; k < m / 2; k++) {
        double a = -2.0 * M_PI * (double)k / (double)m;
        p->tw[2 * k] = cos(a), p->tw[2 * k + 1] = sin(a);
    }
    if (!p->bluestein) return 0;
    p->chirp = dc__malloc((size_t)n * 2 * sizeof(double));
    p->kernel = dc__malloc((size_t)m * 2 * sizeof(double));
    if (!p->chirp || !p->kernel) {
        plan_free(p);
        return -1;
    }
    /* j^2 mod 2n, updated as (j-1)^2 + 2j - 1 so that nothing overflows */
    for (int64_t j = 0, sq = 0; j < n; j++) {
        if (j > 0) sq = (sq + 2 * j - 1) % (2 * n);
        double a = -M_PI * (double)sq / (double)n;
        p->chirp[2 * j] = cos(a), p->chirp[2 * j + 1] = sin(a);
    }
    memset(p->kernel, 0, (size_t)m * 2 * sizeof(double));
    for (int64_t j = 0; j < n; j++) {
        p->kernel[2 * j] = p->chirp[2 * j], p->kernel[2 * j + 1] = -p->chirp[2 * j + 1];
        if (j > 0) {
            p->kernel[2 * (m - j)] = p->chirp[2 * j];
            p->kernel[2 * (m - j) + 1] = -p->chirp[2 * j + 1];
        }
    }
    fft_pow2(p->kernel, m, p->tw);
    return 0;
}

/* Scratch (in doubles) that fft_exec needs for a plan. */
static int64_t plan_scratch(const fft_plan *p) { return p->bluestein ? 2 * p->m : 0; }

/* In place forward DFT of n complex values (unnormalised); scratch of plan_scratch doubles. */
static void fft_exec(const fft_plan *p, double *z, double *scratch)
{
    if (!p->bluestein) {
        fft_pow2(z, p->n, p->tw);
        return;
    }
    int64_t n = p->n, m = p->m;
    memset(scratch, 0, (size_t)m * 2 * sizeof(double));
    for (int64_t t = 0; t < n; t++) { /* a_t = x_t w_t */
        double xr = z[2 * t], xi = z[2 * t + 1], wr = p->chirp[2 * t], wi = p->chirp[2 * t + 1];
        scratch[2 * t] = xr * wr - xi * wi, scratch[2 * t + 1] = xr * wi + xi * wr;
    }
    fft_pow2(scratch, m, p->tw);
    for (int64_t k = 0; k < m; k++) { /* A * B, conjugated so that a forward FFT inverts it */
        double ar = scratch[2 * k], ai = scratch[2 * k + 1];
        double br = p->kernel[2 * k], bi = p->kernel[2 * k + 1];
        scratch[2 * k] = ar * br - ai * bi, scratch[2 * k + 1] = -(ar * bi + ai * br);
    }
    fft_pow2(scratch, m, p->tw); /* conj(FFT(conj(C))) = m * IFFT(C) */
    for (int64_t k = 0; k < n; k++) {
        double cr = scratch[2 * k] / (double)m, ci = -scratch[2 * k + 1] / (double)m;
        double wr = p->chirp[2 * k], wi = p->chirp[2 * k + 1];
        z[2 * k] = cr * wr - ci * wi, z[2 * k + 1] = cr * wi + ci * wr;
    }
}

/* ---- dc_fft ---------------------------------------------------------------------------- */

typedef struct {
    const fft_plan *plan;
    bool inverse;
    dc_dtype dtype;
    const char *in;
    char *out;
    int nlead;                       /* dims before the last two */
    int64_t size[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    int64_t step, re_im;             /* strides of the transform dim and of the (re, im) dim */
    double *scratch;                 /* per thread: 2n + plan_scratch doubles */
    int64_t scratch_per_thread;
} fft_job;

static void fft_rows(void *ctx, int64_t begin, int64_t end, int tid)
{
    const fft_job *j = ctx;
    int64_t n = j->plan->n;
    double *z = j->scratch + (int64_t)tid * j->scratch_per_thread, *work = z + 2 * n;
    size_t es = dc__elsize(j->dtype);
    for (int64_t row = begin; row < end; row++) {
        int64_t off = 0, idx = row;
        for (int d = j->nlead - 1; d >= 0; d--) {
            off += (idx % j->size[d]) * j->stride[d];
            idx /= j->size[d];
        }
        const char *src = j->in + off * (int64_t)es;
        for (int64_t k = 0; k < n; k++) {
            z[2 * k] = dc__load_double(src, j->dtype, k * j->step);
            double im = dc__load_double(src, j->dtype, k * j->step + j->re_im);
            z[2 * k + 1] = j->inverse ? -im : im;
        }
        fft_exec(j->plan, z, work);
        double scale = j->inverse ? 1.0 / (double)n : 1.0, sign = j->inverse ? -1.0 : 1.0;
        if (j->dtype == DC_F32) {
            float *o = (float *)j->out + row * 2 * n;
            for (int64_t k = 0; k < 2 * n; k++)
                o[k] = (float)(z[k] * scale * (k & 1 ? sign : 1.0));
        } else {
            double *o = (double *)j->out + row * 2 * n;
            for (int64_t k = 0; k < 2 * n; k++) o[k] = z[k] * scale * (k & 1 ? sign : 1.0);
        }
    }
}

static dc_tensor *fft_impl(dc_tensor *x, bool inverse);

/* y = F x: dx = F^H g = n ifft(g); y = F^H x / n: dx = F g / n */
static int fft_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    bool inverse = node->i[0] != 0;
    double n = (double)node->i[1];
    grads[0] = dc_mul_scalar(fft_impl(g, !inverse), inverse ? 1.0 / n : n);
    return grads[0] ? 0 : -1;
}

static dc_tensor *fft_impl(dc_tensor *x, bool inverse)
{
    const char *op = inverse ? "dc_fft (inverse)" : "dc_fft";
    DC_CHECK_TENSOR(x, op);
    if (!dc__check_float(x, op)) return NULL;
    char buf[96];
    if (x->ndim < 2 || x->shape[x->ndim - 1] != 2)
        return dc_error("%s: input must be complex as [..., n, 2] (real, imaginary), got shape %s",
                        op, dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    int64_t n = x->shape[x->ndim - 2];
    if (n < 1) return dc_error("%s: the transform length (dim -2) must be >= 1, got %lld", op,
                               (long long)n);
    fft_plan plan;
    if (plan_init(&plan, n) != 0) return NULL;
    dc_tensor *out = dc__alloc_result(x->dtype, x->ndim, x->shape);
    int threads = dc_get_num_threads();
    fft_job j = {.plan = &plan, .inverse = inverse, .dtype = x->dtype, .in = dc_data(x),
                 .nlead = x->ndim - 2, .step = x->stride[x->ndim - 2],
                 .re_im = x->stride[x->ndim - 1],
                 .scratch_per_thread = 2 * n + plan_scratch(&plan)};
    j.scratch = out ? dc__malloc((size_t)(j.scratch_per_thread * threads) * sizeof(double))
                    : NULL;
    if (!out || !j.scratch) {
        dc_tensor_free(out);
        plan_free(&plan);
        return NULL;
    }
    j.out = dc_data(out);
    for (int d = 0; d < j.nlead; d++) j.size[d] = x->shape[d], j.stride[d] = x->stride[d];
    int64_t rows = dc_numel(x) / (2 * n);
    dc_parallel_for(rows, 4096 / (n + 1) + 1, fft_rows, &j);
    dc__free(j.scratch);
    plan_free(&plan);
    dc_node *node;
    if (dc__record(out, inverse ? "ifft" : "fft", fft_backward, 1, &x, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) node->i[0] = inverse, node->i[1] = n;
    return dc__publish(out);
}

dc_tensor *dc_fft(dc_tensor *x, bool inverse) { return fft_impl(x, inverse); }

/* Real x [..., n] as complex [..., n, 2] with a zero imaginary part (differentiable). */
static dc_tensor *real_to_complex(dc_tensor *x)
{
    dc_tensor *zero = dc_zeros_like(x);
    dc_tensor *parts[2] = {x, zero};
    return dc_stack(parts, 2, -1);
}

dc_tensor *dc_rfft(dc_tensor *x)
{
    DC_CHECK_TENSOR(x, "dc_rfft");
    if (!dc__check_float(x, "dc_rfft")) return NULL;
    if (x->ndim < 1 || x->shape[x->ndim - 1] < 1)
        return dc_error("dc_rfft: input needs a last dim of length >= 1 (got %d dims)", x->ndim);
    int64_t n = x->shape[x->ndim - 1];
    size_t scope = dc_scope_begin();
    dc_tensor *y = dc_narrow(dc_fft(real_to_complex(x), false), -2, 0, n / 2 + 1);
    return dc_scope_return(scope, y);
}

/* ---- |z| ------------------------------------------------------------------------------- */

/* y = sqrt(re^2 + im^2): d re = g re / y, d im = g im / y, and 0 where y = 0 (as torch's
 * abs of a complex 0). */
static int complex_abs_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *y = node->saved[1];
    dc_tensor *zero = dc_scalar(y->dtype, 0), *one = dc_scalar(y->dtype, 1);
    dc_tensor *pos = dc_gt(y, zero);
    dc_tensor *scale = dc_where(pos, dc_div(g, dc_where(pos, y, one)), zero);
    grads[0] = dc_mul(x, dc_unsqueeze(scale, -1));
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_complex_abs(dc_tensor *x)
{
    DC_CHECK_TENSOR(x, "dc_complex_abs");
    if (!dc__check_float(x, "dc_complex_abs")) return NULL;
    char buf[96];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != 2)
        return dc_error("dc_complex_abs: input must be complex as [..., 2], got shape %s",
                        dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    dc_tensor *out = dc__alloc_result(x->dtype, x->ndim - 1, x->shape);
    if (!out) return NULL;
    int64_t count = dc_numel(out), lead = x->ndim - 1;
    const char *src = dc_data(x);
    size_t es = dc__elsize(x->dtype);
    for (int64_t i = 0; i < count; i++) {
        int64_t off = 0, idx = i;
        for (int64_t d = lead - 1; d >= 0; d--) {
            off += (idx % x->shape[d]) * x->stride[d];
            idx /= x->shape[d];
        }
        double re = dc__load_double(src + off * (int64_t)es, x->dtype, 0);
        double im = dc__load_double(src + off * (int64_t)es, x->dtype, x->stride[lead]);
        double v = hypot(re, im);
        if (x->dtype == DC_F32) ((float *)dc_data(out))[i] = (float)v;
        else ((double *)dc_data(out))[i] = v;
    }
    dc_node *node;
    if (dc__record(out, "complex_abs", complex_abs_backward, 1, &x, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node && (dc__save(node, x) < 0 || dc__save(node, out) < 0)) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* ---- Windows and the STFT ----------------------------------------------------------------- */

dc_tensor *dc_hann_window(int64_t n, bool periodic, dc_dtype dtype)
{
    if (n < 0) return dc_error("dc_hann_window: length must be >= 0, got %lld", (long long)n);
    if (dtype != DC_F32 && dtype != DC_F64)
        return dc_error("dc_hann_window: dtype must be float32 or float64, got %s",
                        dc_dtype_name(dtype));
    dc_tensor *w = dc__alloc_result(dtype, 1, &n);
    if (!w) return NULL;
    double denom = (double)(periodic ? n : n - 1);
    for (int64_t k = 0; k < n; k++) {
        double v = n == 1 ? 1.0 : 0.5 - 0.5 * cos(2.0 * M_PI * (double)k / denom);
        if (dtype == DC_F32) ((float *)dc_data(w))[k] = (float)v;
        else ((double *)dc_data(w))[k] = v;
    }
    return dc__publish(w);
}

dc_tensor *dc_stft(dc_tensor *x, int64_t n_fft, int64_t hop_length, int64_t win_length,
                   dc_tensor *window, bool center, dc_pad_mode pad_mode, bool onesided)
{
    DC_CHECK_TENSOR(x, "dc_stft");
    if (!dc__check_float(x, "dc_stft")) return NULL;
    char buf[96];
    if (x->ndim != 1 && x->ndim != 2)
        return dc_error("dc_stft: input must be [length] or [batch, length], got shape %s",
                        dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf));
    if (n_fft < 1) return dc_error("dc_stft: n_fft must be >= 1, got %lld", (long long)n_fft);
    if (hop_length <= 0) hop_length = n_fft / 4 > 0 ? n_fft / 4 : 1;
    if (win_length <= 0) win_length = n_fft;
    if (win_length > n_fft)
        return dc_error("dc_stft: win_length %lld must be <= n_fft %lld", (long long)win_length,
                        (long long)n_fft);
    if (window) {
        if (window->ndim != 1 || window->shape[0] != win_length)
            return dc_error("dc_stft: window must be 1-D of win_length %lld, got shape %s",
                            (long long)win_length,
                            dc__shape_fmt(window->ndim, window->shape, buf, sizeof buf));
        if (!dc__check_same_dtype(x, window, "dc_stft")) return NULL;
    }
    int64_t len = x->shape[x->ndim - 1], padded = len + (center ? 2 * (n_fft / 2) : 0);
    if (padded < n_fft)
        return dc_error("dc_stft: input of length %lld%s is shorter than n_fft %lld",
                        (long long)len, center ? " (padded)" : "", (long long)n_fft);
    if (center && pad_mode == DC_PAD_REFLECT && n_fft / 2 >= len)
        return dc_error("dc_stft: reflect padding of %lld needs an input longer than that, got "
                        "length %lld (use a shorter n_fft or DC_PAD_CONSTANT)",
                        (long long)(n_fft / 2), (long long)len);
    size_t scope = dc_scope_begin();
    dc_tensor *xb = x->ndim == 1 ? dc_unsqueeze(x, 0) : x;
    if (center) xb = dc_pad(xb, 2, (int64_t[]){n_fft / 2, n_fft / 2}, pad_mode, 0.0);
    dc_tensor *frames = dc_unfold_dim(xb, -1, n_fft, hop_length); /* [B, frames, n_fft] */
    dc_tensor *w = window ? window : dc_ones(x->dtype, 1, &win_length);
    if (win_length < n_fft) {
        int64_t left = (n_fft - win_length) / 2;
        w = dc_pad(w, 2, (int64_t[]){left, n_fft - win_length - left}, DC_PAD_CONSTANT, 0.0);
    }
    dc_tensor *spec = dc_fft(real_to_complex(dc_mul(frames, w)), false); /* [B, T, n_fft, 2] */
    if (onesided) spec = dc_narrow(spec, 2, 0, n_fft / 2 + 1);
    spec = dc_permute(spec, (int[]){0, 2, 1, 3});
    if (x->ndim == 1) spec = dc_squeeze(spec, 0);
    return dc_scope_return(scope, spec ? dc_contiguous(spec) : NULL);
}

dc_tensor *dc_spectrogram(dc_tensor *x, int64_t n_fft, int64_t hop_length, dc_tensor *window,
                          double power)
{
    if (!(power > 0) || !isfinite(power))
        return dc_error("dc_spectrogram: power must be > 0 (1: magnitude, 2: power), got %g",
                        power);
    size_t scope = dc_scope_begin();
    int64_t win_length = window && window->ndim == 1 ? window->shape[0] : 0;
    dc_tensor *s = dc_stft(x, n_fft, hop_length, win_length, window, true, DC_PAD_REFLECT, true);
    dc_tensor *out;
    if (power == 2.0) out = dc_sum(dc_mul(s, s), 1, (int[]){-1}, false);
    else if (power == 1.0) out = dc_complex_abs(s);
    else out = dc_pow_scalar(dc_complex_abs(s), power);
    return dc_scope_return(scope, out);
}

/* ---- Mel filterbanks -------------------------------------------------------------------- */

/* HTK: m = 2595 log10(1 + f / 700). Slaney (librosa's default): linear below 1 kHz
 * (f / (200/3)), logarithmic above (15 + log(f / 1000) / (log(6.4) / 27)). */
static double hz_to_mel(double f, dc_mel_scale scale)
{
    if (scale == DC_MEL_HTK) return 2595.0 * log10(1.0 + f / 700.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f >= min_log_hz ? min_log_mel + log(f / min_log_hz) / logstep : f / f_sp;
}

static double mel_to_hz(double m, dc_mel_scale scale)
{
    if (scale == DC_MEL_HTK) return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return m >= min_log_mel ? min_log_hz * exp(logstep * (m - min_log_mel)) : f_sp * m;
}

dc_tensor *dc_mel_filterbank(int64_t n_freqs, double f_min, double f_max, int64_t n_mels,
                             int sample_rate, dc_mel_norm norm, dc_mel_scale mel_scale,
                             dc_dtype dtype)
{
    const char *op = "dc_mel_filterbank";
    if (n_freqs < 1 || n_mels < 1)
        return dc_error("%s: n_freqs (%lld) and n_mels (%lld) must be >= 1", op,
                        (long long)n_freqs, (long long)n_mels);
    if (sample_rate < 1) return dc_error("%s: sample_rate must be >= 1, got %d", op, sample_rate);
    if (!(f_min >= 0) || !(f_max > f_min) || !isfinite(f_max))
        return dc_error("%s: need 0 <= f_min < f_max, got f_min %g, f_max %g", op, f_min, f_max);
    if (norm != DC_MEL_NORM_NONE && norm != DC_MEL_NORM_SLANEY)
        return dc_error("%s: unknown norm %d", op, (int)norm);
    if (mel_scale != DC_MEL_HTK && mel_scale != DC_MEL_SLANEY)
        return dc_error("%s: unknown mel_scale %d", op, (int)mel_scale);
    if (dtype != DC_F32 && dtype != DC_F64)
        return dc_error("%s: dtype must be float32 or float64, got %s", op, dc_dtype_name(dtype));
    double *f_pts = dc__malloc((size_t)(n_mels + 2) * sizeof(double));
    dc_tensor *fb = f_pts ? dc__alloc_result(dtype, 2, (int64_t[]){n_freqs, n_mels}) : NULL;
    if (!fb) {
        dc__free(f_pts);
        return NULL;
    }
    /* n_mels + 2 points equally spaced in mel between f_min and f_max, back in Hz */
    double m_min = hz_to_mel(f_min, mel_scale), m_max = hz_to_mel(f_max, mel_scale);
    for (int64_t i = 0; i < n_mels + 2; i++)
        f_pts[i] = mel_to_hz(m_min + (m_max - m_min) * (double)i / (double)(n_mels + 1), mel_scale);
    /* the STFT bins: linspace(0, sample_rate // 2, n_freqs), as torchaudio */
    double nyquist = (double)(sample_rate / 2);
    for (int64_t f = 0; f < n_freqs; f++) {
        double hz = n_freqs == 1 ? 0.0 : nyquist * (double)f / (double)(n_freqs - 1);
        for (int64_t m = 0; m < n_mels; m++) {
            /* triangle m rises from f_pts[m] to f_pts[m+1] and falls to f_pts[m+2] */
            double down = (hz - f_pts[m]) / (f_pts[m + 1] - f_pts[m]);
            double up = (f_pts[m + 2] - hz) / (f_pts[m + 2] - f_pts[m + 1]);
            double v = fmax(0.0, fmin(down, up));
            if (norm == DC_MEL_NORM_SLANEY) v *= 2.0 / (f_pts[m + 2] - f_pts[m]);
            if (dtype == DC_F32) ((float *)dc_data(fb))[f * n_mels + m] = (float)v;
            else ((double *)dc_data(fb))[f * n_mels + m] = v;
        }
    }
    dc__free(f_pts);
    return dc__publish(fb);
}

static bool mel_opts_ok(const dc_mel_opts *o, const char *op)
{
    if (!o) return dc_error("%s: opts is NULL", op), false;
    if (o->sample_rate < 1) return dc_error("%s: sample_rate must be >= 1, got %d", op,
                                            o->sample_rate), false;
    if (o->n_fft < 1 || o->n_mels < 1)
        return dc_error("%s: n_fft (%lld) and n_mels (%lld) must be >= 1", op,
                        (long long)o->n_fft, (long long)o->n_mels), false;
    return true;
}

dc_tensor *dc_mel_spectrogram(dc_tensor *x, const dc_mel_opts *opts)
{
    DC_CHECK_TENSOR(x, "dc_mel_spectrogram");
    if (!mel_opts_ok(opts, "dc_mel_spectrogram") || !dc__check_float(x, "dc_mel_spectrogram"))
        return NULL;
    int64_t win = opts->win_length > 0 ? opts->win_length : opts->n_fft;
    int64_t hop = opts->hop_length > 0 ? opts->hop_length : (win / 2 > 0 ? win / 2 : 1);
    double f_max = opts->f_max > 0 ? opts->f_max : (double)(opts->sample_rate / 2);
    size_t scope = dc_scope_begin();
    dc_tensor *w = dc_hann_window(win, true, x->dtype);
    dc_tensor *fb = dc_mel_filterbank(opts->n_fft / 2 + 1, opts->f_min, f_max, opts->n_mels,
                                      opts->sample_rate, opts->norm, opts->mel_scale, x->dtype);
    dc_tensor *spec = dc_spectrogram(x, opts->n_fft, hop, w, opts->power > 0 ? opts->power : 2);
    /* [.., F, frames] -> fb^T @ spec = [.., n_mels, frames] */
    dc_tensor *mel = dc_matmul(dc_transpose(fb, 0, 1), spec);
    return dc_scope_return(scope, mel);
}

dc_tensor *dc_log_mel_spectrogram(dc_tensor *x, const dc_mel_opts *opts)
{
    if (opts && !(opts->log_offset > 0))
        return dc_error("dc_log_mel_spectrogram: log_offset must be > 0, got %g",
                        opts->log_offset);
    size_t scope = dc_scope_begin();
    dc_tensor *mel = dc_mel_spectrogram(x, opts);
    return dc_scope_return(scope, mel ? dc_log(dc_add_scalar(mel, opts->log_offset)) : NULL);
}
