/* Signal processing (src/ops/fft.c) and CTC (src/ops/ctc.c).
 *
 * - The FFT against a direct O(n^2) DFT in double for every length 1..64 and a set of larger
 *   powers of two, primes and composites (radix-2 and Bluestein paths), and ifft(fft(x)) = x.
 * - fft / rfft / stft / spectrogram / log-mel values and gradients against torch, and the mel
 *   filterbanks against a numpy implementation of torchaudio's formulas: the references come
 *   from tests/ref/make_signal_refs.py (Debian's python3-torch 1.13, float64; rerun with
 *   `/usr/bin/python3 tests/ref/make_signal_refs.py`); tests run in float64 here.
 * - CTC loss and its gradient against torch.nn.functional.ctc_loss (gradients w.r.t. the
 *   logits before log_softmax), and against a brute-force sum over every alignment; the
 *   decoders on hand-computed cases and against brute force.
 * - Bad arguments give errors naming the problem. */
#include "ref_loader.h"

#define SIGNAL_REFS "ref/signal_refs.txt"

/* ---- Reference helpers ------------------------------------------------------------------- */

static bool load(ref_chain *c)
{
    char err[512];
    c->path = SIGNAL_REFS;
    if (ref_load(c, err, sizeof err) == 0) return true;
    dc_test_fail(__FILE__, __LINE__, "%s", err);
    ref_free(c);
    return false;
}

/* The entry (role, case.name) as a float64 tensor (an I64 one for integer entries). */
static dc_tensor *get(ref_chain *c, const char *role, const char *case_name, const char *name)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", case_name, name);
    ref_tensor *t = ref_find(c, role, full, NULL);
    if (!t) {
        dc_test_fail(__FILE__, __LINE__, "%s: no %s %s", c->path, role, full);
        return NULL;
    }
    if (t->dtype == DC_I64) return ref_to_tensor(t);
    return dc_from_buffer(DC_F64, t->ndim, t->shape, t->values);
}

static dc_tensor *param(ref_chain *c, const char *case_name, const char *name)
{
    return dc_requires_grad(get(c, "param", case_name, name), true);
}

static void expect(ref_chain *c, const char *role, const char *case_name, const char *name,
                   const dc_tensor *got, double rtol)
{
    char full[128], what[192];
    snprintf(full, sizeof full, "%s.%s", case_name, name);
    snprintf(what, sizeof what, "%s: %s %s", c->path, role, full);
    ref_tensor *want = ref_find(c, role, full, NULL);
    if (!want) {
        dc_test_fail(__FILE__, __LINE__, "%s: missing", what);
        return;
    }
    ref_compare_tol(what, got, want, rtol, rtol);
}

/* Backward of L = sum(out * seed) with the case's seed for out. */
static void backward_seed(ref_chain *c, const char *case_name, const char *name, dc_tensor *out,
                          dc_tensor **loss)
{
    dc_tensor *seed = get(c, "seed", case_name, name);
    dc_tensor *l = dc_sum_all(dc_mul(out, seed));
    *loss = *loss ? dc_add(*loss, l) : l;
}

/* ---- FFT against a direct DFT ------------------------------------------------------------- */

static void check_fft_length(int64_t n, dc_rng *rng)
{
    dc_tensor *x = dc_randn(rng, DC_F64, 2, (int64_t[]){n, 2});
    dc_tensor *y = dc_fft(x, false), *back = dc_fft(y, true);
    REQUIRE(y && back);
    const double *xv = dc_data(x), *yv = dc_data(y), *bv = dc_data(back);
    double err = 0, scale = 0, rerr = 0;
    for (int64_t k = 0; k < n; k++) {
        double re = 0, im = 0;
        for (int64_t t = 0; t < n; t++) {
            double a = -2.0 * M_PI * (double)((k * t) % n) / (double)n;
            re += xv[2 * t] * cos(a) - xv[2 * t + 1] * sin(a);
            im += xv[2 * t] * sin(a) + xv[2 * t + 1] * cos(a);
        }
        err = fmax(err, fmax(fabs(yv[2 * k] - re), fabs(yv[2 * k + 1] - im)));
        scale = fmax(scale, hypot(re, im));
        rerr = fmax(rerr, fmax(fabs(bv[2 * k] - xv[2 * k]), fabs(bv[2 * k + 1] - xv[2 * k + 1])));
    }
    EXPECT(err <= 1e-12 * fmax(scale, 1.0) * (1 + log2((double)n)),
           "fft of length %lld: max error %.3g against the direct DFT (max |X| %.3g)",
           (long long)n, err, scale);
    EXPECT(rerr <= 1e-12 * (1 + log2((double)n)), "ifft(fft(x)) of length %lld: error %.3g",
           (long long)n, rerr);
}

TEST(test_fft_matches_direct_dft_for_every_length)
{
    dc_rng rng;
    dc_rng_seed(&rng, 5);
    for (int64_t n = 1; n <= 64; n++) check_fft_length(n, &rng);
    static const int64_t more[] = {97, 100, 127, 128, 243, 255, 256, 257, 400, 512, 1000, 1024};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) check_fft_length(more[i], &rng);
}

TEST(test_fft_batched_strided_and_float32_agree_with_float64)
{
    dc_rng rng;
    dc_rng_seed(&rng, 6);
    /* [3, 2, n] permuted to [3, n, 2]: non-contiguous rows and (re, im) */
    dc_tensor *raw = dc_randn(&rng, DC_F64, 3, (int64_t[]){3, 2, 45});
    dc_tensor *x = dc_permute(raw, (int[]){0, 2, 1});
    REQUIRE(x && !dc_is_contiguous(x));
    dc_tensor *y = dc_fft(x, false), *yc = dc_fft(dc_contiguous(x), false);
    double *a = dc_test_values(y), *b = dc_test_values(yc);
    CHECK_ALLCLOSE("strided fft", a, b, dc_numel(y), 0, 1e-13);
    dc_tensor *y32 = dc_fft(dc_to_dtype(x, DC_F32), false);
    REQUIRE(y32 && y32->dtype == DC_F32);
    double *c = dc_test_values(y32);
    CHECK_ALLCLOSE("float32 fft", c, b, dc_numel(y), 1e-5, 1e-4);
    free(a), free(b), free(c);
}

/* ---- Against torch --------------------------------------------------------------------------- */

TEST(test_fft_ifft_rfft_match_torch)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *x12 = param(&c, "fft", "x12"), *x7 = param(&c, "fft", "x7");
    dc_tensor *y = param(&c, "fft", "y"), *loss = NULL;
    dc_tensor *outs[5] = {dc_fft(x12, false), dc_fft(x12, true), dc_fft(x7, false),
                          dc_fft(x7, true), dc_rfft(y)};
    const char *names[5] = {"fft12", "ifft12", "fft7", "ifft7", "rfft"};
    for (int k = 0; k < 5; k++) {
        expect(&c, "out", "fft", names[k], outs[k], 1e-10);
        backward_seed(&c, "fft", names[k], outs[k], &loss);
    }
    REQUIRE(dc_backward(loss) == 0);
    expect(&c, "grad", "fft", "x12", x12->grad, 1e-10);
    expect(&c, "grad", "fft", "x7", x7->grad, 1e-10);
    expect(&c, "grad", "fft", "y", y->grad, 1e-10);
    ref_free(&c);
}

static void stft_case(const char *name, int64_t n_fft, int64_t hop, int64_t win, bool center,
                      dc_pad_mode mode, bool onesided, bool hann)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *x = param(&c, name, "x"), *loss = NULL;
    dc_tensor *w = hann ? dc_hann_window(win, true, DC_F64) : NULL;
    if (hann) expect(&c, "const", name, "window", w, 1e-12);
    dc_tensor *s = dc_stft(x, n_fft, hop, win, w, center, mode, onesided);
    expect(&c, "out", name, "stft", s, 1e-10);
    backward_seed(&c, name, "stft", s, &loss);
    REQUIRE(dc_backward(loss) == 0);
    expect(&c, "grad", name, "x", x->grad, 1e-10);
    ref_free(&c);
}

TEST(test_stft_hann_reflect_matches_torch) { stft_case("stft_hann", 64, 16, 64, true, DC_PAD_REFLECT, true, true); }
TEST(test_stft_odd_n_fft_short_window_twosided_matches_torch) { stft_case("stft_odd", 50, 10, 40, false, DC_PAD_REFLECT, false, true); }
TEST(test_stft_rectangular_constant_pad_matches_torch) { stft_case("stft_constant", 20, 7, 0, true, DC_PAD_CONSTANT, true, false); }

TEST(test_spectrogram_power_and_magnitude_match_torch)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *x = param(&c, "spectrogram", "x"), *loss = NULL;
    dc_tensor *w = dc_hann_window(48, true, DC_F64);
    dc_tensor *p = dc_spectrogram(x, 48, 12, w, 2.0), *m = dc_spectrogram(x, 48, 12, w, 1.0);
    expect(&c, "out", "spectrogram", "power", p, 1e-10);
    expect(&c, "out", "spectrogram", "magnitude", m, 1e-10);
    backward_seed(&c, "spectrogram", "power", p, &loss);
    backward_seed(&c, "spectrogram", "magnitude", m, &loss);
    REQUIRE(dc_backward(loss) == 0);
    expect(&c, "grad", "spectrogram", "x", x->grad, 1e-9);
    ref_free(&c);
}

TEST(test_mel_filterbanks_match_torchaudio_formulas)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    struct {
        const char *name;
        int64_t n_freqs;
        double f_min, f_max;
        int64_t n_mels;
        int sr;
        dc_mel_norm norm;
        dc_mel_scale scale;
    } cases[] = {
        {"htk", 101, 0, 8000, 20, 16000, DC_MEL_NORM_NONE, DC_MEL_HTK},
        {"slaney_slaney", 129, 50, 7600, 32, 22050, DC_MEL_NORM_SLANEY, DC_MEL_SLANEY},
        {"htk_slaney_norm", 65, 20, 11025, 12, 22050, DC_MEL_NORM_SLANEY, DC_MEL_HTK},
        {"slaney_scale", 33, 0, 4000, 10, 8001, DC_MEL_NORM_NONE, DC_MEL_SLANEY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        dc_tensor *fb = dc_mel_filterbank(cases[i].n_freqs, cases[i].f_min, cases[i].f_max,
                                          cases[i].n_mels, cases[i].sr, cases[i].norm,
                                          cases[i].scale, DC_F64);
        expect(&c, "out", "mel", cases[i].name, fb, 1e-10);
    }
    ref_free(&c);
}

TEST(test_log_mel_spectrogram_matches_torch)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *x = param(&c, "log_mel", "x"), *loss = NULL;
    dc_mel_opts o = DC_MEL_DEFAULTS(16000);
    o.n_fft = 400, o.hop_length = 160, o.n_mels = 40;
    dc_tensor *lm = dc_log_mel_spectrogram(x, &o);
    expect(&c, "out", "log_mel", "log_mel", lm, 1e-9);
    backward_seed(&c, "log_mel", "log_mel", lm, &loss);
    REQUIRE(dc_backward(loss) == 0);
    expect(&c, "grad", "log_mel", "x", x->grad, 1e-8);
    /* float32 features agree with float64 to float32 precision */
    dc_tensor *lm32 = dc_log_mel_spectrogram(dc_to_dtype(dc_detach(x), DC_F32), &o);
    double *a = dc_test_values(lm32), *b = dc_test_values(lm);
    CHECK_ALLCLOSE("float32 log-mel", a, b, dc_numel(lm), 1e-4, 1e-3);
    free(a), free(b);
    ref_free(&c);
}

TEST(test_hann_window_and_spectrogram_picture)
{
    dc_tensor *w = dc_hann_window(4, true, DC_F64), *ws = dc_hann_window(5, false, DC_F32);
    double *v = dc_test_values(w), *u = dc_test_values(ws);
    double want[4] = {0, 0.5, 1, 0.5}, want_s[5] = {0, 0.5, 1, 0.5, 0};
    CHECK_ALLCLOSE("periodic hann(4)", v, want, 4, 0, 1e-15);
    CHECK_ALLCLOSE("symmetric hann(5)", u, want_s, 5, 0, 1e-7);
    free(v), free(u);
    /* a [2, 3] spectrogram: the picture puts frequency 0 at the bottom, min 0 and max 1 */
    dc_tensor *spec = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 3}, (double[]){0, 1, 2, 3, 4, 8});
    dc_tensor *img = dc_spectrogram_image(spec);
    REQUIRE(img && img->ndim == 3 && img->shape[0] == 1 && img->shape[1] == 2);
    double *p = dc_test_values(img);
    double want_img[6] = {3 / 8.0, 4 / 8.0, 1, 0, 1 / 8.0, 2 / 8.0};
    CHECK_ALLCLOSE("spectrogram image", p, want_img, 6, 0, 1e-7);
    free(p);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "spec.pgm");
    REQUIRE(dc_spectrogram_write_pgm(path, spec) == 0);
    size_t len = 0;
    unsigned char *bytes = dc_test_read_file(path, &len);
    const char *hdr = "P5\n3 2\n255\n";
    CHECK(bytes && len == strlen(hdr) + 6 && memcmp(bytes, hdr, strlen(hdr)) == 0);
    if (bytes && len == strlen(hdr) + 6) CHECK(bytes[strlen(hdr) + 2] == 255 && bytes[len - 3] == 0);
    free(bytes);
    remove(path);
}

/* ---- CTC ------------------------------------------------------------------------------------ */

static void ctc_case(const char *name, int64_t blank, dc_reduction red, bool zero_inf)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    dc_tensor *logits = param(&c, name, "logits"), *loss = NULL;
    dc_tensor *tg = get(&c, "const", name, "targets"), *il = get(&c, "const", name, "input_lengths");
    dc_tensor *tl = get(&c, "const", name, "target_lengths");
    dc_tensor *l = dc_ctc_loss(dc_log_softmax(logits, 2), tg, il, tl, blank, red, zero_inf);
    expect(&c, "out", name, "loss", l, 1e-10);
    backward_seed(&c, name, "loss", l, &loss);
    REQUIRE(dc_backward(loss) == 0);
    expect(&c, "grad", name, "logits", logits->grad, 1e-9);
    ref_free(&c);
}

TEST(test_ctc_loss_mean_matches_torch) { ctc_case("ctc_mean", 0, DC_REDUCE_MEAN, false); }
TEST(test_ctc_loss_repeated_labels_sum_matches_torch) { ctc_case("ctc_repeats", 0, DC_REDUCE_SUM, false); }
TEST(test_ctc_loss_blank_last_concatenated_targets_none_matches_torch) { ctc_case("ctc_blank_last", 5, DC_REDUCE_NONE, false); }
TEST(test_ctc_loss_zero_infinity_matches_torch) { ctc_case("ctc_zero_infinity", 0, DC_REDUCE_MEAN, true); }

TEST(test_ctc_loss_impossible_alignment_is_inf_with_nan_gradient)
{
    ref_chain c = {0};
    if (!load(&c)) return;
    const char *name = "ctc_impossible";
    dc_tensor *logits = param(&c, name, "logits");
    dc_tensor *tg = get(&c, "const", name, "targets"), *il = get(&c, "const", name, "input_lengths");
    dc_tensor *tl = get(&c, "const", name, "target_lengths");
    dc_tensor *l = dc_ctc_loss(dc_log_softmax(logits, 2), tg, il, tl, 0, DC_REDUCE_NONE, false);
    REQUIRE(l);
    ref_tensor *want = ref_find(&c, "out", "ctc_impossible.loss", NULL);
    REQUIRE(want && isinf(want->values[1]));
    CHECK_NEAR(dc_item_at(l, (int64_t[]){0}), want->values[0], 1e-10);
    CHECK(isinf(dc_item_at(l, (int64_t[]){1})));
    REQUIRE(dc_backward(dc_sum_all(l)) == 0);
    CHECK(isfinite(dc_item_at(logits->grad, (int64_t[]){0, 0, 0})));
    CHECK(isnan(dc_item_at(logits->grad, (int64_t[]){0, 1, 0}))); /* torch gives NaN too */
    ref_free(&c);
}

/* Collapse a path (merge repeats, drop blanks) into out; returns its length. */
static int collapse(const int *path, int T, int blank, int *out)
{
    int n = 0, prev = -1;
    for (int t = 0; t < T; t++) {
        if (path[t] != blank && path[t] != prev) out[n++] = path[t];
        prev = path[t];
    }
    return n;
}

/* P(labeling | lp) by summing every path of length T over C classes (C^T paths). */
static double brute_prob(const double *lp, int T, int C, int blank, const int *lab, int L)
{
    int path[8], col[8];
    double total = 0;
    long n_paths = 1;
    for (int t = 0; t < T; t++) n_paths *= C;
    for (long p = 0; p < n_paths; p++) {
        long q = p;
        double lpp = 0;
        for (int t = 0; t < T; t++) {
            path[t] = (int)(q % C), q /= C;
            lpp += lp[t * C + path[t]];
        }
        int n = collapse(path, T, blank, col);
        if (n == L && memcmp(col, lab, (size_t)L * sizeof *lab) == 0) total += exp(lpp);
    }
    return total;
}

TEST(test_ctc_loss_equals_brute_force_sum_over_alignments)
{
    dc_rng rng;
    dc_rng_seed(&rng, 9);
    const int T = 5, C = 4;
    dc_tensor *lp = dc_log_softmax(dc_randn(&rng, DC_F64, 3, (int64_t[]){T, 1, C}), 2);
    const double *v = dc_data(lp);
    static const int labs[][3] = {{1, 2, 3}, {2, 2, 0}, {3, 0, 0}, {1, 1, 1}, {0, 0, 0}};
    static const int lens[] = {3, 2, 1, 3, 0};
    for (int blank = 0; blank < 2; blank++)
        for (int k = 0; k < 5; k++) {
            int lab[3];
            for (int i = 0; i < lens[k]; i++) lab[i] = labs[k][i] == blank ? C - 1 : labs[k][i];
            int64_t tv[3] = {0};
            for (int i = 0; i < lens[k]; i++) tv[i] = lab[i];
            dc_tensor *tg = dc_from_buffer(DC_I64, 2, (int64_t[]){1, 3}, tv);
            dc_tensor *il = dc_full(DC_I64, 1, (int64_t[]){1}, T);
            dc_tensor *tl = dc_full(DC_I64, 1, (int64_t[]){1}, lens[k]);
            dc_tensor *l = dc_ctc_loss(lp, tg, il, tl, blank, DC_REDUCE_SUM, false);
            double want = -log(brute_prob(v, T, C, blank, lab, lens[k]));
            EXPECT(l && fabs(dc_item(l) - want) <= 1e-12 * fmax(1, fabs(want)),
                   "target %d (blank %d): ctc %.15g, brute force %.15g", k, blank,
                   l ? dc_item(l) : NAN, want);
        }
}

TEST(test_ctc_greedy_decode_hand_computed)
{
    /* T 6, N 2, C 3 (blank 0). Sample 0 argmaxes: 1 1 0 1 2 2 -> "1 1 2";
     * sample 1: 2 0 0 2 2 1 with input length 4 -> "2 2" */
    double p[6][2][3] = {
        {{.1, .8, .1}, {.1, .1, .8}}, {{.2, .7, .1}, {.8, .1, .1}}, {{.9, .05, .05}, {.7, .2, .1}},
        {{.1, .6, .3}, {.1, .1, .8}}, {{.1, .2, .7}, {.1, .1, .8}}, {{.1, .1, .8}, {.1, .8, .1}},
    };
    dc_tensor *lp = dc_log(dc_from_buffer(DC_F64, 3, (int64_t[]){6, 2, 3}, p));
    dc_tensor *il = dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){6, 4});
    dc_tensor *lengths = NULL;
    dc_tensor *d = dc_ctc_greedy_decode(lp, il, 0, &lengths);
    REQUIRE(d && lengths && d->dtype == DC_I64 && d->shape[0] == 2 && d->shape[1] == 3);
    int64_t want[6] = {1, 1, 2, 2, 2, -1};
    CHECK(memcmp(dc_data(d), want, sizeof want) == 0);
    CHECK(dc_item_at(lengths, (int64_t[]){0}) == 3 && dc_item_at(lengths, (int64_t[]){1}) == 2);
    /* blank = 2 instead: sample 0 -> 1 0 1 (blank 2 dropped), sample 1 (all T) -> 0 1 */
    d = dc_ctc_greedy_decode(lp, NULL, 2, &lengths);
    REQUIRE(d && d->shape[1] == 3);
    int64_t want2[6] = {1, 0, 1, 0, 1, -1};
    CHECK(memcmp(dc_data(d), want2, sizeof want2) == 0);
}

TEST(test_ctc_beam_decode_finds_labeling_that_greedy_misses)
{
    /* two frames, p(blank) = 0.6, p(a) = 0.4 each: the best path is "--" (0.36) so greedy
     * says "", but P("a") = 0.4*0.6 + 0.6*0.4 + 0.4*0.4 = 0.64 > P("") = 0.36 */
    double p[2][1][2] = {{{.6, .4}}, {{.6, .4}}};
    dc_tensor *lp = dc_log(dc_from_buffer(DC_F64, 3, (int64_t[]){2, 1, 2}, p));
    dc_tensor *len = NULL, *scores = NULL;
    dc_tensor *g = dc_ctc_greedy_decode(lp, NULL, 0, &len);
    REQUIRE(g && g->shape[1] == 0 && dc_item(len) == 0);
    dc_tensor *b = dc_ctc_beam_decode(lp, NULL, 0, 4, &len, &scores);
    REQUIRE(b && b->shape[1] == 1 && scores);
    CHECK(((int64_t *)dc_data(b))[0] == 1 && dc_item(len) == 1);
    CHECK_NEAR(dc_item(scores), log(0.64), 1e-12);
    /* beam width 1 keeps only the most probable prefix at each step: "" then "" */
    b = dc_ctc_beam_decode(lp, NULL, 0, 1, &len, &scores);
    REQUIRE(b);
    CHECK(b->shape[1] == 0 && dc_item(len) == 0);
}

TEST(test_ctc_beam_decode_with_wide_beam_is_exact)
{
    dc_rng rng;
    dc_rng_seed(&rng, 10);
    const int T = 5, C = 3;
    for (int trial = 0; trial < 6; trial++) {
        dc_tensor *lp = dc_log_softmax(dc_mul_scalar(dc_randn(&rng, DC_F64, 3,
                                                              (int64_t[]){T, 1, C}), 1.5), 2);
        const double *v = dc_data(lp);
        /* every labeling reachable in T frames, scored by brute force */
        int path[5], col[5], best[5], best_len = -1;
        double best_p = -1;
        for (long p = 0; p < 243; p++) {
            long q = p;
            for (int t = 0; t < T; t++) path[t] = (int)(q % C), q /= C;
            int n = collapse(path, T, 0, col);
            double pr = brute_prob(v, T, C, 0, col, n);
            if (pr > best_p + 1e-15) best_p = pr, best_len = n, memcpy(best, col, sizeof col);
        }
        dc_tensor *len = NULL, *scores = NULL;
        dc_tensor *b = dc_ctc_beam_decode(lp, NULL, 0, 64, &len, &scores);
        REQUIRE(b);
        EXPECT(dc_item(len) == best_len, "trial %d: beam length %g, brute force %d", trial,
               dc_item(len), best_len);
        for (int i = 0; i < best_len && i < b->shape[1]; i++)
            CHECK(((int64_t *)dc_data(b))[i] == best[i]);
        CHECK_NEAR(dc_item(scores), log(best_p), 1e-10);
    }
}

/* ---- Bad arguments -------------------------------------------------------------------------- */

TEST(test_signal_and_ctc_bad_arguments)
{
    dc_tensor *x = dc_ones(DC_F32, 1, (int64_t[]){100});
    dc_tensor *xi = dc_ones(DC_I64, 1, (int64_t[]){100});
    CHECK_ERROR(!dc_fft(x, false), "[..., n, 2]");
    CHECK_ERROR(!dc_fft(dc_zeros(DC_F32, 2, (int64_t[]){0, 2}), false), "length");
    CHECK_ERROR(!dc_rfft(xi), "float");
    CHECK_ERROR(!dc_stft(x, 0, 0, 0, NULL, true, DC_PAD_REFLECT, true), "n_fft must be >= 1");
    CHECK_ERROR(!dc_stft(x, 16, 4, 32, NULL, true, DC_PAD_REFLECT, true), "win_length 32");
    CHECK_ERROR(!dc_stft(x, 400, 4, 0, NULL, false, DC_PAD_REFLECT, true), "shorter than n_fft");
    CHECK_ERROR(!dc_stft(x, 256, 4, 0, NULL, true, DC_PAD_REFLECT, true), "reflect padding");
    CHECK_ERROR(!dc_stft(x, 16, 4, 0, dc_ones(DC_F32, 1, (int64_t[]){8}), true, DC_PAD_REFLECT,
                         true), "window must be 1-D of win_length 16");
    CHECK_ERROR(!dc_stft(x, 16, 4, 0, dc_ones(DC_F64, 1, (int64_t[]){16}), true, DC_PAD_REFLECT,
                         true), "dtype");
    CHECK_ERROR(!dc_stft(dc_ones(DC_F32, 3, (int64_t[]){1, 1, 50}), 16, 4, 0, NULL, true,
                         DC_PAD_REFLECT, true), "[batch, length]");
    CHECK_ERROR(!dc_spectrogram(x, 16, 4, NULL, 0.0), "power must be > 0");
    CHECK_ERROR(!dc_complex_abs(x), "[..., 2]");
    CHECK_ERROR(!dc_hann_window(-1, true, DC_F32), "length must be >= 0");
    CHECK_ERROR(!dc_mel_filterbank(201, 100, 50, 40, 16000, DC_MEL_NORM_NONE, DC_MEL_HTK, DC_F32),
                "f_min < f_max");
    CHECK_ERROR(!dc_mel_filterbank(0, 0, 50, 40, 16000, DC_MEL_NORM_NONE, DC_MEL_HTK, DC_F32),
                "n_freqs (0)");
    CHECK_ERROR(!dc_mel_filterbank(201, 0, 50, 40, 0, DC_MEL_NORM_NONE, DC_MEL_HTK, DC_F32),
                "sample_rate");
    CHECK_ERROR(!dc_mel_spectrogram(x, NULL), "opts is NULL");
    dc_mel_opts o = DC_MEL_DEFAULTS(16000);
    o.log_offset = 0;
    CHECK_ERROR(!dc_log_mel_spectrogram(x, &o), "log_offset");

    dc_tensor *lp = dc_zeros(DC_F32, 3, (int64_t[]){6, 2, 4});
    dc_tensor *tg = dc_ones(DC_I64, 2, (int64_t[]){2, 3}), *len2 = dc_full(DC_I64, 1, (int64_t[]){2}, 2);
    dc_tensor *il = dc_full(DC_I64, 1, (int64_t[]){2}, 6);
    CHECK_ERROR(!dc_ctc_loss(dc_zeros(DC_F32, 2, (int64_t[]){6, 4}), tg, il, len2, 0,
                             DC_REDUCE_MEAN, false), "[T, N, C]");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, il, len2, 4, DC_REDUCE_MEAN, false), "blank 4");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, il, len2, 1, DC_REDUCE_MEAN, false),
                "other than blank 1");
    CHECK_ERROR(!dc_ctc_loss(lp, dc_full(DC_I64, 2, (int64_t[]){2, 3}, 4), il, len2, 0,
                             DC_REDUCE_MEAN, false), "is 4");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, dc_full(DC_I64, 1, (int64_t[]){2}, 7), len2, 0,
                             DC_REDUCE_MEAN, false), "input_lengths[0] = 7");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, il, dc_full(DC_I64, 1, (int64_t[]){2}, 4), 0,
                             DC_REDUCE_MEAN, false), "target_lengths[0] = 4");
    CHECK_ERROR(!dc_ctc_loss(lp, dc_ones(DC_I64, 1, (int64_t[]){5}), il, len2, 0,
                             DC_REDUCE_MEAN, false), "sum to 4");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, dc_full(DC_F32, 1, (int64_t[]){2}, 6), len2, 0,
                             DC_REDUCE_MEAN, false), "integer");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, il, dc_full(DC_I64, 1, (int64_t[]){3}, 2), 0,
                             DC_REDUCE_MEAN, false), "shape [2]");
    CHECK_ERROR(!dc_ctc_loss(lp, dc_to_dtype(tg, DC_F32), il, len2, 0, DC_REDUCE_MEAN, false),
                "targets must be an integer");
    CHECK_ERROR(!dc_ctc_loss(lp, tg, il, len2, 0, (dc_reduction)9, false), "reduction");
    CHECK_ERROR(!dc_ctc_greedy_decode(lp, NULL, 5, NULL), "blank 5");
    CHECK_ERROR(!dc_ctc_greedy_decode(lp, dc_full(DC_I64, 1, (int64_t[]){2}, 9), 0, NULL),
                "input_lengths[0] = 9");
    CHECK_ERROR(!dc_ctc_beam_decode(lp, NULL, 0, 0, NULL, NULL), "beam_width");
    CHECK_ERROR(!dc_ctc_beam_decode(x, NULL, 0, 2, NULL, NULL), "[T, N, C]");
    /* inputs untouched */
    CHECK(dc_item_at(lp, (int64_t[]){0, 0, 0}) == 0 && dc_item_at(tg, (int64_t[]){1, 2}) == 1);
}
