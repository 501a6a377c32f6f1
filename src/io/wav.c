/* WAV files (RIFF/WAVE): a checked reader of PCM integer and IEEE float audio, a 16-bit PCM
 * writer, and spectrogram pictures.
 *
 * A WAV file is "RIFF" <u32 size> "WAVE" followed by chunks <4-byte id> <u32 size> <data>,
 * each padded to an even length. The "fmt " chunk (16 bytes or more) holds
 *   u16 format (1 PCM, 3 IEEE float, 0xFFFE WAVE_FORMAT_EXTENSIBLE), u16 channels,
 *   u32 sample_rate, u32 byte_rate, u16 block_align, u16 bits_per_sample,
 * and for EXTENSIBLE (40 bytes) u16 cb_size (>= 22), u16 valid_bits, u32 channel_mask and a
 * 16-byte subformat GUID whose first two bytes are the real format (1 or 3) and whose other
 * 14 are the fixed suffix 00 00 00 00 10 00 80 00 00 AA 00 38 9B 71. The "data" chunk holds
 * the interleaved frames, block_align = channels * bits / 8 bytes each; other chunks (LIST,
 * fact, cue, ...) are skipped. Every size read from the file is checked against the bytes
 * that are really there before it is used. */
#include "deepc/io.h"

#include "../core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t rd_u16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static const unsigned char guid_suffix[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                              0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

#define WAV_MAX_CHANNELS 1024

/* One sample at p (bits/8 bytes, little-endian) as a float in [-1, 1]: unsigned 8-bit
 * (x - 128) / 128, signed n-bit x / 2^(n-1), float as stored. */
static double sample_at(const unsigned char *p, int bits, int format)
{
    if (format == 3) {
        if (bits == 32) {
            uint32_t u = rd_u32(p);
            float f;
            memcpy(&f, &u, sizeof f);
            return f;
        }
        uint64_t u = (uint64_t)rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
        double d;
        memcpy(&d, &u, sizeof d);
        return d;
    }
    switch (bits) {
    case 8: return ((double)p[0] - 128.0) / 128.0;
    case 16: return (double)(int16_t)rd_u16(p) / 32768.0;
    case 24: {
        int32_t v = (int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24);
        return (double)(v >> 8) / 8388608.0;
    }
    default: return (double)(int32_t)rd_u32(p) / 2147483648.0;
    }
}

dc_tensor *dc_wav_decode(const void *data, size_t size, const char *name, bool mono,
                         dc_wav_info *info)
{
    const unsigned char *b = data;
    if (!name) name = "<memory>";
    if (!data && size > 0) return dc_error("dc_wav_decode: data is NULL");
    if (size < 12 || memcmp(b, "RIFF", 4) != 0 || memcmp(b + 8, "WAVE", 4) != 0)
        return dc_error("%s: not a WAV file (no RIFF/WAVE header)", name);
    uint64_t riff_end = 8 + (uint64_t)rd_u32(b + 4);
    if (riff_end > size)
        return dc_error("%s: truncated: the RIFF header says %llu bytes, the file has %zu", name,
                        (unsigned long long)riff_end, size);
    bool have_fmt = false;
    int format = 0, channels = 0, bits = 0, block_align = 0;
    uint32_t rate = 0;
    const unsigned char *pcm = NULL;
    uint64_t pcm_size = 0;
    for (uint64_t pos = 12; pos < riff_end;) {
        if (riff_end - pos < 8)
            return dc_error("%s: truncated chunk header at byte %llu", name,
                            (unsigned long long)pos);
        const unsigned char *ck = b + pos;
        uint64_t ck_size = rd_u32(ck + 4), body = pos + 8;
        char id[5];
        for (int k = 0; k < 4; k++) id[k] = ck[k] >= 32 && ck[k] < 127 ? (char)ck[k] : '?';
        id[4] = 0;
        if (ck_size > riff_end - body)
            return dc_error("%s: truncated: chunk '%s' at byte %llu says %llu bytes, only %llu "
                            "remain", name, id, (unsigned long long)pos,
                            (unsigned long long)ck_size, (unsigned long long)(riff_end - body));
        if (memcmp(ck, "fmt ", 4) == 0) {
            if (have_fmt) return dc_error("%s: more than one 'fmt ' chunk", name);
            if (ck_size < 16)
                return dc_error("%s: 'fmt ' chunk of %llu bytes (at least 16 needed)", name,
                                (unsigned long long)ck_size);
            const unsigned char *f = b + body;
            format = rd_u16(f), channels = rd_u16(f + 2), rate = rd_u32(f + 4);
            block_align = rd_u16(f + 12), bits = rd_u16(f + 14);
            if (format == 0xFFFE) {
                if (ck_size < 40 || rd_u16(f + 16) < 22)
                    return dc_error("%s: WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk of %llu bytes is "
                                    "too short (40 needed)", name, (unsigned long long)ck_size);
                if (memcmp(f + 26, guid_suffix, sizeof guid_suffix) != 0)
                    return dc_error("%s: WAVE_FORMAT_EXTENSIBLE with an unknown subformat GUID",
                                    name);
                int valid = rd_u16(f + 18);
                if (valid > bits)
                    return dc_error("%s: %d valid bits in a %d-bit container", name, valid, bits);
                format = rd_u16(f + 24);
            }
            if (format != 1 && format != 3)
                return dc_error("%s: not PCM: format tag %d (%s); only integer PCM (1) and "
                                "IEEE float (3) are read", name, format,
                                format == 2 ? "MS ADPCM" : format == 6 ? "A-law"
                                : format == 7 ? "mu-law" : format == 0x11 ? "IMA ADPCM"
                                                                          : "compressed");
            if (channels == 0) return dc_error("%s: zero channels", name);
            if (channels > WAV_MAX_CHANNELS)
                return dc_error("%s: %d channels (at most %d)", name, channels,
                                WAV_MAX_CHANNELS);
            if (rate == 0) return dc_error("%s: sample rate 0", name);
            if (rate > 0x7fffffffu) return dc_error("%s: sample rate %lu too large", name,
                                                    (unsigned long)rate);
            if (format == 1 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
                return dc_error("%s: %d-bit PCM (8, 16, 24 or 32 are read)", name, bits);
            if (format == 3 && bits != 32 && bits != 64)
                return dc_error("%s: %d-bit float (32 or 64 are read)", name, bits);
            if (block_align != channels * bits / 8)
                return dc_error("%s: block_align %d does not match %d channels of %d bits "
                                "(expected %d)", name, block_align, channels, bits,
                                channels * bits / 8);
            have_fmt = true;
        } else if (memcmp(ck, "data", 4) == 0) {
            if (!have_fmt) return dc_error("%s: 'data' chunk before the 'fmt ' chunk", name);
            if (pcm) return dc_error("%s: more than one 'data' chunk", name);
            pcm = b + body, pcm_size = ck_size;
        }
        /* odd sizes are padded with one byte; a missing pad at the very end is tolerated */
        pos = body + ck_size + (ck_size & 1);
        if (pos > riff_end) pos = riff_end;
    }
    if (!have_fmt) return dc_error("%s: no 'fmt ' chunk", name);
    if (!pcm) return dc_error("%s: no 'data' chunk", name);
    if (pcm_size % (uint64_t)block_align != 0)
        return dc_error("%s: truncated: data chunk of %llu bytes is not a whole number of "
                        "%d-byte frames", name, (unsigned long long)pcm_size, block_align);
    int64_t frames = (int64_t)(pcm_size / (uint64_t)block_align);
    dc_tensor *out = mono ? dc__alloc_result(DC_F32, 1, &frames)
                          : dc__alloc_result(DC_F32, 2, (int64_t[]){channels, frames});
    if (!out) return NULL;
    float *o = dc_data(out);
    int bytes = bits / 8;
    for (int64_t t = 0; t < frames; t++) {
        const unsigned char *fr = pcm + (uint64_t)t * (uint64_t)block_align;
        double sum = 0;
        for (int c = 0; c < channels; c++) {
            double v = sample_at(fr + c * bytes, bits, format);
            if (mono) sum += v;
            else o[(int64_t)c * frames + t] = (float)v;
        }
        if (mono) o[t] = (float)(sum / channels);
    }
    if (info) {
        info->sample_rate = (int)rate, info->channels = channels, info->frames = frames;
        info->bits_per_sample = bits, info->format = format;
    }
    return dc__publish(out);
}

dc_tensor *dc_wav_read(const char *path, bool mono, dc_wav_info *info)
{
    if (!path) return dc_error("dc_wav_read: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return dc_error("dc_wav_read: cannot open %s: %s", path, strerror(errno));
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? 2 * cap : 1 << 16;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return dc_error("dc_wav_read: out of memory reading %s", path);
            }
            buf = nb, cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return dc_error("dc_wav_read: error reading %s", path);
    }
    dc_tensor *t = dc_wav_decode(buf, len, path, mono, info);
    free(buf);
    return t;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (8 * k));
}
static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v, p[1] = v >> 8; }

int dc_wav_write(const char *path, const dc_tensor *samples, int sample_rate)
{
    const char *op = "dc_wav_write";
    char buf[96];
    if (!path) return dc_error("%s: path is NULL", op), -1;
    if (!samples) return dc_error("%s: input 'samples' is NULL", op), -1;
    if (!dc_dtype_is_float(samples->dtype))
        return dc_error("%s: samples must be float32/float64, got %s", op,
                        dc_dtype_name(samples->dtype)), -1;
    if (samples->ndim != 1 && samples->ndim != 2)
        return dc_error("%s: samples must be [frames] or [channels, frames], got shape %s", op,
                        dc__shape_fmt(samples->ndim, samples->shape, buf, sizeof buf)), -1;
    if (sample_rate < 1) return dc_error("%s: sample_rate must be >= 1, got %d", op,
                                         sample_rate), -1;
    int64_t channels = samples->ndim == 2 ? samples->shape[0] : 1;
    int64_t frames = samples->shape[samples->ndim - 1];
    if (channels < 1 || channels > WAV_MAX_CHANNELS)
        return dc_error("%s: %lld channels (1 to %d)", op, (long long)channels,
                        WAV_MAX_CHANNELS), -1;
    uint64_t data_bytes = (uint64_t)frames * (uint64_t)channels * 2;
    if (data_bytes > 0xFFFFFFFFull - 36)
        return dc_error("%s: %llu bytes of samples do not fit a WAV file (4 GB)", op,
                        (unsigned long long)data_bytes), -1;
    unsigned char *out = malloc(44 + data_bytes);
    if (!out) return dc_error("%s: out of memory", op), -1;
    memcpy(out, "RIFF", 4), put_u32(out + 4, (uint32_t)(36 + data_bytes));
    memcpy(out + 8, "WAVEfmt ", 8), put_u32(out + 16, 16);
    put_u16(out + 20, 1), put_u16(out + 22, (uint16_t)channels);
    put_u32(out + 24, (uint32_t)sample_rate);
    put_u32(out + 28, (uint32_t)sample_rate * (uint32_t)channels * 2);
    put_u16(out + 32, (uint16_t)(channels * 2)), put_u16(out + 34, 16);
    memcpy(out + 36, "data", 4), put_u32(out + 40, (uint32_t)data_bytes);
    const char *src = dc_data(samples);
    int64_t cs = samples->ndim == 2 ? samples->stride[0] : 0;
    int64_t ts = samples->stride[samples->ndim - 1];
    for (int64_t t = 0; t < frames; t++)
        for (int64_t c = 0; c < channels; c++) {
            /* x * 32768 rounded, clamped to int16 (NaN -> 0): k / 32768 reads back exactly */
            double x = dc__load_double(src, samples->dtype, c * cs + t * ts) * 32768.0;
            long v = isnan(x) ? 0 : x >= 32767 ? 32767 : x <= -32768 ? -32768 : lrint(x);
            put_u16(out + 44 + (t * channels + c) * 2, (uint16_t)(int16_t)v);
        }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(out);
        return dc_error("%s: cannot create %s: %s", op, tmp, strerror(errno)), -1;
    }
    bool ok = fwrite(out, 1, 44 + data_bytes, f) == 44 + data_bytes;
    ok = fclose(f) == 0 && ok;
    free(out);
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        return dc_error("%s: cannot write %s: %s", op, path, strerror(e)), -1;
    }
    return 0;
}

/* ---- Spectrogram pictures ---------------------------------------------------------------- */

dc_tensor *dc_spectrogram_image(const dc_tensor *spec)
{
    const char *op = "dc_spectrogram_image";
    char buf[96];
    if (!spec) return dc_error("%s: input 'spec' is NULL", op);
    if (!dc_dtype_is_float(spec->dtype) || spec->ndim != 2 || dc_numel(spec) == 0)
        return dc_error("%s: spec must be a non-empty float [freq, frames], got %s", op,
                        dc_shape_str(spec, buf, sizeof buf));
    int64_t F = spec->shape[0], T = spec->shape[1];
    double lo = INFINITY, hi = -INFINITY;
    const char *src = dc_data(spec);
    for (int64_t f = 0; f < F; f++)
        for (int64_t t = 0; t < T; t++) {
            double v = dc__load_double(src, spec->dtype, f * spec->stride[0] + t * spec->stride[1]);
            if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    dc_tensor *img = dc__alloc_result(DC_F32, 3, (int64_t[]){1, F, T});
    if (!img) return NULL;
    float *o = dc_data(img);
    double range = hi > lo ? hi - lo : 1.0;
    for (int64_t f = 0; f < F; f++)
        for (int64_t t = 0; t < T; t++) {
            double v = dc__load_double(src, spec->dtype, f * spec->stride[0] + t * spec->stride[1]);
            double u = isfinite(v) ? (v - lo) / range : v > 0 ? 1.0 : 0.0;
            o[(F - 1 - f) * T + t] = (float)(hi > lo ? u : 0.0);
        }
    return dc__publish(img);
}

int dc_spectrogram_write_pgm(const char *path, const dc_tensor *spec)
{
    if (!path) return dc_error("dc_spectrogram_write_pgm: path is NULL"), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *img = dc_spectrogram_image(spec);
    if (!img) {
        dc_scope_end(scope);
        return -1;
    }
    int64_t H = img->shape[1], W = img->shape[2];
    const float *v = dc_data(img);
    FILE *f = fopen(path, "wb");
    bool ok = f && fprintf(f, "P5\n%lld %lld\n255\n", (long long)W, (long long)H) > 0;
    for (int64_t i = 0; ok && i < H * W; i++) ok = fputc((int)lrintf(v[i] * 255.0f), f) != EOF;
    if (f) ok = fclose(f) == 0 && ok;
    dc_scope_end(scope);
    if (!ok) return dc_error("dc_spectrogram_write_pgm: cannot write %s", path), -1;
    return 0;
}
