/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "signal": the FFT, STFT and mel features of src/ops/fft.c and the CTC loss of
 * src/ops/ctc.c. The STFT is linear in x, so its gradient is the adjoint (checked through
 * reflect and constant padding, a window shorter than n_fft, odd n_fft on the Bluestein
 * path). The CTC rows feed log_softmax(x) (as a model would) with fixed targets. */
#if defined(GRADCHECK_FUNCTIONS)
static dc_tensor *sig_hann(int64_t n) { return dc_hann_window(n, true, DC_F64); }
FN(f_fft_pow2, dc_fft(x[0], false))
FN(f_fft_bluestein, dc_fft(x[0], false))
FN(f_ifft, dc_fft(x[0], true))
FN(f_rfft_odd, dc_rfft(x[0]))
FN(f_complex_abs, dc_complex_abs(x[0]))
FN(f_stft_hann_reflect, dc_stft(x[0], 16, 4, 0, sig_hann(16), true, DC_PAD_REFLECT, true))
FN(f_stft_odd_short_window, dc_stft(x[0], 9, 3, 6, sig_hann(6), false, DC_PAD_REFLECT, false))
FN(f_stft_rect_constant, dc_stft(x[0], 8, 5, 0, NULL, true, DC_PAD_CONSTANT, true))
/* the window itself gets a gradient too (it multiplies the frames) */
FN(f_stft_learned_window, dc_stft(x[0], 8, 4, 0, x[1], true, DC_PAD_REFLECT, true))
FN(f_spectrogram_power, dc_spectrogram(x[0], 12, 3, sig_hann(12), 2.0))
FN(f_spectrogram_magnitude, dc_spectrogram(x[0], 12, 3, sig_hann(12), 1.0))
static dc_tensor *f_log_mel(dc_tensor *const *x)
{
    dc_mel_opts o = DC_MEL_DEFAULTS(8000);
    o.n_fft = 32, o.hop_length = 8, o.n_mels = 6, o.log_offset = 0.1;
    return dc_log_mel_spectrogram(x[0], &o);
}
static dc_tensor *f_mel_magnitude_slaney(dc_tensor *const *x)
{
    dc_mel_opts o = DC_MEL_DEFAULTS(8000);
    o.n_fft = 24, o.hop_length = 6, o.n_mels = 5, o.power = 1, o.norm = DC_MEL_NORM_SLANEY;
    o.mel_scale = DC_MEL_SLANEY, o.f_min = 100;
    return dc_mel_spectrogram(x[0], &o);
}
/* T 6, N 3, C 4; targets [[1, 2, 2], [3, 1, 0], [2, 0, 0]] of lengths 3, 2, 1 */
static dc_tensor *sig_ctc(dc_tensor *lp, int64_t blank, dc_reduction red, bool flat)
{
    static const int64_t padded[9] = {1, 2, 2, 3, 1, 0, 2, 0, 0};
    static const int64_t padded_b3[9] = {1, 2, 2, 0, 1, 0, 2, 0, 0};
    static const int64_t concat[6] = {1, 2, 2, 3, 1, 2};
    dc_tensor *tg = flat ? dc_from_buffer(DC_I64, 1, (int64_t[]){6}, concat)
                         : dc_from_buffer(DC_I64, 2, (int64_t[]){3, 3},
                                          blank == 3 ? padded_b3 : padded);
    dc_tensor *il = dc_from_buffer(DC_I64, 1, (int64_t[]){3}, (int64_t[]){6, 5, 6});
    dc_tensor *tl = dc_from_buffer(DC_I64, 1, (int64_t[]){3}, (int64_t[]){3, 2, 1});
    return dc_ctc_loss(dc_log_softmax(lp, 2), tg, il, tl, blank, red, false);
}
FN(f_ctc_mean, sig_ctc(x[0], 0, DC_REDUCE_MEAN, false))
FN(f_ctc_sum_blank3, sig_ctc(x[0], 3, DC_REDUCE_SUM, false))
FN(f_ctc_none_concat, sig_ctc(x[0], 0, DC_REDUCE_NONE, true))
/* raw (unnormalised) log_probs: the true gradient, not torch's exp(lp) - ... */
static dc_tensor *f_ctc_raw(dc_tensor *const *x)
{
    dc_tensor *tg = dc_from_buffer(DC_I64, 2, (int64_t[]){2, 2}, (int64_t[]){1, 1, 2, 0});
    dc_tensor *il = dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){5, 4});
    dc_tensor *tl = dc_from_buffer(DC_I64, 1, (int64_t[]){2}, (int64_t[]){2, 1});
    return dc_ctc_loss(x[0], tg, il, tl, 0, DC_REDUCE_NONE, false);
}
#elif defined(GRADCHECK_ROWS)
    {"signal", "fft_pow2", "dc_fft", f_fft_pow2, 1, {T(2, 8, 2)}, NC},
    {"signal", "fft_bluestein_n7", "dc_fft", f_fft_bluestein, 1, {T(3, 7, 2)}, NC},
    {"signal", "ifft_n6", "dc_fft", f_ifft, 1, {T(2, 6, 2)}, NC},
    {"signal", "rfft_n9", "dc_rfft", f_rfft_odd, 1, {T(3, 9)}, NC},
    {"signal", "complex_abs", "dc_complex_abs", f_complex_abs, 1, {IN(AWAY_FROM_ZERO, 3, 4, 2)}, NC},
    {"signal", "stft_hann_reflect", "dc_stft", f_stft_hann_reflect, 1, {T(2, 40)}, NC},
    {"signal", "stft_odd_short_window_twosided", "dc_stft", f_stft_odd_short_window, 1, {T(30)}, NC},
    {"signal", "stft_rect_constant_pad", "dc_stft", f_stft_rect_constant, 1, {T(1, 23)}, NC},
    {"signal", "stft_learned_window", "dc_stft", f_stft_learned_window, 2, {T(2, 20), T(8)}, NC},
    {"signal", "spectrogram_power", "dc_spectrogram", f_spectrogram_power, 1, {T(40)}, NC},
    {"signal", "spectrogram_magnitude", "dc_spectrogram", f_spectrogram_magnitude, 1, {T(2, 40)}, false},
    {"signal", "log_mel_spectrogram", "dc_log_mel_spectrogram dc_mel_spectrogram", f_log_mel, 1, {T(2, 64)}, NC},
    {"signal", "mel_magnitude_slaney", "dc_mel_spectrogram", f_mel_magnitude_slaney, 1, {T(50)}, false},
    {"signal", "ctc_loss_mean", "dc_ctc_loss", f_ctc_mean, 1, {T(6, 3, 4)}, NC},
    {"signal", "ctc_loss_sum_blank_last", "dc_ctc_loss", f_ctc_sum_blank3, 1, {T(6, 3, 4)}, NC},
    {"signal", "ctc_loss_none_concatenated", "dc_ctc_loss", f_ctc_none_concat, 1, {T(6, 3, 4)}, false},
    {"signal", "ctc_loss_raw_log_probs", "dc_ctc_loss", f_ctc_raw, 1, {T(5, 2, 3)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
    /* no tensor input: fixed tables */
    "dc_mel_filterbank", "dc_hann_window",
    /* integer label sequences (argmax / beam search), nothing to differentiate */
    "dc_ctc_greedy_decode", "dc_ctc_beam_decode",
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_signal) { check_family("signal"); }
#endif
