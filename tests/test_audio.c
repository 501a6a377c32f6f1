/* WAV reading and writing (src/io/wav.c).
 *
 * Files are built byte by byte here (every PCM and float format, EXTENSIBLE, odd-sized
 * chunks with their pad byte, and a catalogue of broken files), so each check knows the
 * exact samples; the committed espeak-ng clips in tests/data/audio/ (made by
 * scripts/make_audio_clips.sh) are real files from another writer, and where espeak-ng is
 * installed a fresh clip is synthesised and read too. */
#include "test.h"

#include <unistd.h>

/* ---- Building WAV bytes ------------------------------------------------------------------ */

typedef struct {
    unsigned char b[4096];
    size_t n;
} wbuf;

static void put(wbuf *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void put16(wbuf *w, unsigned v) { put(w, (unsigned char[]){v & 255, (v >> 8) & 255}, 2); }
static void put32(wbuf *w, uint32_t v)
{
    put(w, (unsigned char[]){v & 255, (v >> 8) & 255, (v >> 16) & 255, v >> 24}, 4);
}
static void chunk(wbuf *w, const char *id, const void *body, size_t n)
{
    put(w, id, 4);
    put32(w, (uint32_t)n);
    put(w, body, n);
    if (n & 1) put(w, "", 1); /* pad byte */
}
static void fmt16(wbuf *w, int format, int channels, uint32_t rate, int bits, int block_align)
{
    wbuf f = {.n = 0};
    put16(&f, (unsigned)format), put16(&f, (unsigned)channels), put32(&f, rate);
    put32(&f, rate * (uint32_t)block_align), put16(&f, (unsigned)block_align);
    put16(&f, (unsigned)bits);
    chunk(w, "fmt ", f.b, f.n);
}
static void fmt_ext(wbuf *w, int subformat, int channels, uint32_t rate, int bits, bool good_guid)
{
    static const unsigned char suffix[14] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
    wbuf f = {.n = 0};
    int ba = channels * bits / 8;
    put16(&f, 0xFFFE), put16(&f, (unsigned)channels), put32(&f, rate);
    put32(&f, rate * (uint32_t)ba), put16(&f, (unsigned)ba), put16(&f, (unsigned)bits);
    put16(&f, 22), put16(&f, (unsigned)bits), put32(&f, 0), put16(&f, (unsigned)subformat);
    put(&f, suffix, sizeof suffix);
    if (!good_guid) f.b[f.n - 1] ^= 1;
    chunk(w, "fmt ", f.b, f.n);
}
/* Start "RIFF" size "WAVE"; finish() fills in the size. */
static void riff(wbuf *w)
{
    w->n = 0;
    put(w, "RIFF\0\0\0\0WAVE", 12);
}
static void finish(wbuf *w)
{
    uint32_t v = (uint32_t)(w->n - 8);
    for (int k = 0; k < 4; k++) w->b[4 + k] = (unsigned char)(v >> (8 * k));
}

static dc_tensor *decode(const wbuf *w, bool mono, dc_wav_info *info)
{
    return dc_wav_decode(w->b, w->n, "test.wav", mono, info);
}

/* ---- Formats ----------------------------------------------------------------------------- */

TEST(test_wav_reads_every_pcm_and_float_format_exactly)
{
    /* two channels, three frames each, of known values */
    wbuf w;
    dc_wav_info info;
    /* 8-bit unsigned: (x - 128) / 128 */
    riff(&w), fmt16(&w, 1, 2, 8000, 8, 2);
    chunk(&w, "data", (unsigned char[]){0, 255, 128, 64, 192, 1}, 6), finish(&w);
    dc_tensor *t = decode(&w, false, &info);
    REQUIRE(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    double want8[6] = {-1, 0, 0.5, 127 / 128.0, -0.5, -127 / 128.0};
    double *v = dc_test_values(t);
    CHECK_ALLCLOSE("8-bit", v, want8, 6, 0, 0);
    free(v);
    CHECK(info.sample_rate == 8000 && info.channels == 2 && info.frames == 3 &&
          info.bits_per_sample == 8 && info.format == 1);

    /* 16-bit, with an odd-sized LIST chunk (and its pad byte) before data */
    riff(&w), fmt16(&w, 1, 2, 16000, 16, 4);
    chunk(&w, "LIST", "abc", 3);
    chunk(&w, "data", (unsigned char[]){0x00, 0x80, 0xff, 0x7f, 0x00, 0x40, 0x01, 0x00, 0, 0, 0xff, 0xff}, 12);
    finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t);
    double want16[6] = {-1, 0.5, 0, 32767 / 32768.0, 1 / 32768.0, -1 / 32768.0};
    v = dc_test_values(t);
    CHECK_ALLCLOSE("16-bit", v, want16, 6, 0, 0);
    free(v);
    /* mono: the mean of the channels, [frames] */
    t = decode(&w, true, NULL);
    REQUIRE(t && t->ndim == 1 && t->shape[0] == 3);
    CHECK_NEAR(dc_item_at(t, (int64_t[]){0}), (-1 + 32767 / 32768.0) / 2, 1e-7);

    /* 24-bit mono */
    riff(&w), fmt16(&w, 1, 1, 44100, 24, 3);
    chunk(&w, "data", (unsigned char[]){0, 0, 0x80, 0xff, 0xff, 0x7f, 0, 0, 0x40}, 9), finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t && t->shape[0] == 1 && t->shape[1] == 3);
    double want24[3] = {-1, 8388607 / 8388608.0, 0.5};
    v = dc_test_values(t);
    CHECK_ALLCLOSE("24-bit", v, want24, 3, 1e-7, 0);
    free(v);

    /* 32-bit integer */
    riff(&w), fmt16(&w, 1, 1, 48000, 32, 4);
    chunk(&w, "data", (unsigned char[]){0, 0, 0, 0x80, 0, 0, 0, 0xc0}, 8), finish(&w);
    t = decode(&w, false, NULL);
    REQUIRE(t);
    CHECK(dc_item_at(t, (int64_t[]){0, 0}) == -1 && dc_item_at(t, (int64_t[]){0, 1}) == -0.5);

    /* 32-bit float, values kept as stored (even outside [-1, 1]) */
    float fv[3] = {0.25f, -1.5f, 1.0f};
    unsigned char fb[12];
    memcpy(fb, fv, sizeof fb); /* the test machine is little-endian, like the format */
    riff(&w), fmt16(&w, 3, 1, 22050, 32, 4), chunk(&w, "data", fb, 12), finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t && info.format == 3);
    CHECK(dc_item_at(t, (int64_t[]){0, 1}) == -1.5);

    /* 64-bit float */
    double dv[2] = {0.125, -0.75};
    riff(&w), fmt16(&w, 3, 1, 22050, 64, 8), chunk(&w, "data", dv, 16), finish(&w);
    t = decode(&w, false, NULL);
    REQUIRE(t);
    CHECK(dc_item_at(t, (int64_t[]){0, 1}) == -0.75);

    /* WAVE_FORMAT_EXTENSIBLE: 16-bit PCM and 32-bit float subformats */
    riff(&w), fmt_ext(&w, 1, 1, 16000, 16, true);
    chunk(&w, "data", (unsigned char[]){0x00, 0x40, 0x00, 0xc0}, 4), finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t && info.format == 1 && info.bits_per_sample == 16);
    CHECK(dc_item_at(t, (int64_t[]){0, 0}) == 0.5 && dc_item_at(t, (int64_t[]){0, 1}) == -0.5);
    riff(&w), fmt_ext(&w, 3, 1, 16000, 32, true), chunk(&w, "data", fb, 12), finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t && info.format == 3);
    CHECK(dc_item_at(t, (int64_t[]){0, 0}) == 0.25);

    /* an empty data chunk: zero frames */
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), chunk(&w, "data", "", 0), finish(&w);
    t = decode(&w, false, &info);
    REQUIRE(t && t->shape[1] == 0 && info.frames == 0);
}

TEST(test_wav_write_read_roundtrip_is_exact)
{
    /* k / 32768 values (and a clamped 1.5 and -2) through a 16-bit file */
    double v[2][5] = {{0, 0.5, -1, 12345 / 32768.0, 1.5}, {-0.25, 32767 / 32768.0, -2, 3 / 32768.0, 0}};
    dc_tensor *x = dc_from_buffer(DC_F64, 2, (int64_t[]){2, 5}, v);
    char path[256];
    dc_test_tmp_path(path, sizeof path, "roundtrip.wav");
    REQUIRE(dc_wav_write(path, x, 16000) == 0);
    dc_wav_info info;
    dc_tensor *y = dc_wav_read(path, false, &info);
    REQUIRE(y && y->shape[0] == 2 && y->shape[1] == 5);
    CHECK(info.sample_rate == 16000 && info.channels == 2 && info.bits_per_sample == 16);
    double want[10] = {0, 0.5, -1, 12345 / 32768.0, 32767 / 32768.0,
                       -0.25, 32767 / 32768.0, -1, 3 / 32768.0, 0};
    double *got = dc_test_values(y);
    CHECK_ALLCLOSE("roundtrip", got, want, 10, 0, 0);
    free(got);
    /* a transposed (strided) mono view writes its logical order */
    dc_tensor *m = dc_select(dc_transpose(x, 0, 1), 1, 0);
    REQUIRE(dc_wav_write(path, m, 8000) == 0);
    y = dc_wav_read(path, true, &info);
    REQUIRE(y && y->ndim == 1 && y->shape[0] == 5 && info.channels == 1);
    CHECK(dc_item_at(y, (int64_t[]){1}) == 0.5);
    remove(path);
    CHECK_ERROR(dc_wav_write(path, dc_ones(DC_I64, 1, (int64_t[]){4}), 8000) != 0, "float");
    CHECK_ERROR(dc_wav_write(path, x, 0) != 0, "sample_rate");
    CHECK_ERROR(dc_wav_write(path, dc_ones(DC_F32, 3, (int64_t[]){1, 1, 4}), 8000) != 0,
                "[channels, frames]");
    CHECK_ERROR(dc_wav_write("/nonexistent-dir/x.wav", x, 8000) != 0, "cannot create");
    CHECK_ERROR(!dc_wav_read("/nonexistent-dir/x.wav", false, NULL), "cannot open");
}

/* ---- Broken files -------------------------------------------------------------------------- */

TEST(test_wav_bad_files_give_errors_naming_the_problem)
{
    wbuf w;
    unsigned char pcm[8] = {0};
    CHECK_ERROR(!dc_wav_decode("RIFX....WAVE", 12, "x.wav", false, NULL), "not a WAV file");
    CHECK_ERROR(!dc_wav_decode("RIFF", 4, "x.wav", false, NULL), "not a WAV file");
    /* RIFF size beyond the file */
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), chunk(&w, "data", pcm, 8), finish(&w);
    w.b[4] += 10;
    CHECK_ERROR(!decode(&w, false, NULL), "truncated: the RIFF header says");
    /* data chunk size beyond the file */
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), chunk(&w, "data", pcm, 8), finish(&w);
    w.b[w.n - 12] = 200;
    CHECK_ERROR(!decode(&w, false, NULL), "chunk 'data' at byte 36 says 200 bytes");
    /* a chunk header cut short */
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), put(&w, "dat", 3), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "truncated chunk header");
    riff(&w), chunk(&w, "data", pcm, 8), fmt16(&w, 1, 1, 8000, 16, 2), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "'data' chunk before the 'fmt ' chunk");
    riff(&w), chunk(&w, "LIST", pcm, 4), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "no 'fmt ' chunk");
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "no 'data' chunk");
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), fmt16(&w, 1, 1, 8000, 16, 2), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "more than one 'fmt ' chunk");
    riff(&w), fmt16(&w, 1, 1, 8000, 16, 2), chunk(&w, "data", pcm, 2), chunk(&w, "data", pcm, 2);
    finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "more than one 'data' chunk");
    riff(&w), fmt16(&w, 2, 1, 8000, 4, 256), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "not PCM: format tag 2 (MS ADPCM)");
    riff(&w), fmt16(&w, 1, 0, 8000, 16, 0), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "zero channels");
    riff(&w), fmt16(&w, 1, 1, 0, 16, 2), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "sample rate 0");
    riff(&w), fmt16(&w, 1, 2, 8000, 16, 2), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "block_align 2 does not match 2 channels of 16 bits");
    riff(&w), fmt16(&w, 1, 1, 8000, 12, 2), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "12-bit PCM");
    riff(&w), fmt16(&w, 3, 1, 8000, 16, 2), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "16-bit float");
    riff(&w), fmt16(&w, 1, 2, 8000, 16, 4), chunk(&w, "data", pcm, 6), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "not a whole number of 4-byte frames");
    riff(&w), chunk(&w, "fmt ", pcm, 8), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "'fmt ' chunk of 8 bytes");
    riff(&w), fmt_ext(&w, 1, 1, 8000, 16, false), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "unknown subformat GUID");
    riff(&w), fmt_ext(&w, 2, 1, 8000, 16, true), chunk(&w, "data", pcm, 8), finish(&w);
    CHECK_ERROR(!decode(&w, false, NULL), "not PCM");
    /* every truncation of a good file is an error or (cut inside trailing chunks) a valid
     * read, never a crash; run under ASan this also checks no byte past the end is read */
    riff(&w), fmt16(&w, 1, 2, 8000, 16, 4), chunk(&w, "LIST", "xyz", 3);
    chunk(&w, "data", (unsigned char[16]){1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 16);
    finish(&w);
    for (size_t n = 0; n < w.n; n++) {
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, w.b, n);
        dc_clear_error();
        dc_tensor *t = dc_wav_decode(cut, n, "cut.wav", false, NULL);
        EXPECT(!t && strstr(dc_last_error(), "cut.wav"),
               "a file cut to %zu of %zu bytes: %s", n, w.n, t ? "read" : dc_last_error());
        dc_clear_error();
        free(cut);
    }
}

/* ---- Real files ---------------------------------------------------------------------------- */

static void check_speech(const char *path, dc_tensor *x, const dc_wav_info *info)
{
    EXPECT(x && info->sample_rate == 22050 && info->channels == 1 && info->bits_per_sample == 16,
           "%s: %s (rate %d, %d channels)", path, x ? "read" : dc_last_error(),
           info->sample_rate, info->channels);
    if (!x) return;
    CHECK(x->ndim == 1 && x->shape[0] > 4000); /* espeak's words last > 0.2 s */
    double peak = 0;
    for (int64_t i = 0; i < x->shape[0]; i++) peak = fmax(peak, fabs(((float *)dc_data(x))[i]));
    EXPECT(peak > 0.05 && peak <= 1.0, "%s: peak %g", path, peak);
    /* its log-mel features are finite */
    dc_mel_opts o = DC_MEL_DEFAULTS(info->sample_rate);
    o.n_fft = 512, o.hop_length = 256, o.n_mels = 40;
    dc_tensor *lm = dc_log_mel_spectrogram(x, &o);
    REQUIRE(lm && lm->shape[0] == 40);
    double *v = dc_test_values(lm);
    bool finite = true;
    for (int64_t i = 0; v && i < dc_numel(lm); i++) finite = finite && isfinite(v[i]);
    CHECK(v && finite);
    free(v);
}

TEST(test_wav_reads_committed_espeak_clips)
{
    static const char *const clips[] = {"data/audio/one.wav", "data/audio/two.wav",
                                        "data/audio/three.wav"};
    for (size_t i = 0; i < 3; i++) {
        dc_wav_info info = {0};
        dc_tensor *x = dc_wav_read(clips[i], true, &info);
        check_speech(clips[i], x, &info);
        if (i == 0 && x) { /* the same samples as [1, frames] without mono */
            dc_tensor *y = dc_wav_read(clips[i], false, NULL);
            CHECK(y && y->ndim == 2 && y->shape[0] == 1 && y->shape[1] == x->shape[0]);
            /* its log-mel picture as a PNG (through src/io/png.c when libpng is built in) */
            dc_mel_opts o = DC_MEL_DEFAULTS(info.sample_rate);
            o.n_fft = 512, o.hop_length = 256, o.n_mels = 40;
            dc_tensor *img = dc_spectrogram_image(dc_log_mel_spectrogram(x, &o));
            REQUIRE(img && img->shape[0] == 1 && img->shape[1] == 40);
            char path[256];
            dc_test_tmp_path(path, sizeof path, "one_logmel.png");
            if (dc_png_write(path, img) != 0) {
                EXPECT(strstr(dc_last_error(), "without libpng"), "png: %s", dc_last_error());
                printf("  skipped the PNG: %s\n", dc_last_error());
                dc_clear_error();
            } else {
                dc_tensor *back = dc_png_read(path);
                CHECK(back && back->shape[1] == 40 && back->shape[2] == img->shape[2]);
                remove(path);
            }
        }
    }
}

TEST(test_wav_reads_fresh_espeak_output)
{
    if (system("command -v espeak-ng >/dev/null 2>&1") != 0) {
        printf("  skipped: espeak-ng not installed\n");
        return;
    }
    char path[256], cmd[512];
    dc_test_tmp_path(path, sizeof path, "seven.wav");
    snprintf(cmd, sizeof cmd, "espeak-ng -w '%s' seven >/dev/null 2>&1", path);
    REQUIRE(system(cmd) == 0);
    dc_wav_info info = {0};
    dc_tensor *x = dc_wav_read(path, true, &info);
    check_speech(path, x, &info);
    remove(path);
}
