/* deepc io: checkpoints in the safetensors format (https://github.com/huggingface/safetensors).
 *
 * A safetensors file is: an 8-byte little-endian header length N, N bytes of a JSON object
 *   {"__metadata__": {"key": "value", ...},                         (optional, string -> string)
 *    "0.weight": {"dtype": "F32", "shape": [8, 4], "data_offsets": [begin, end]}, ...}
 * padded with spaces to a multiple of 8, then the data buffer; offsets are relative to the
 * start of the data buffer, and each tensor is stored row-major, little-endian. Files written
 * here are readable by the Python `safetensors` package as-is (and its files by us), and
 * names follow PyTorch's state_dict ("blocks.3.attn.qkv.weight"), so a checkpoint maps 1:1
 * onto a PyTorch model.
 *
 * The JSON header is parsed with jansson. When deepc is built without it (libjansson-dev not
 * installed), every function here fails with "deepc was built without jansson (install
 * libjansson-dev)". Errors are values, as everywhere in deepc: -1 / NULL and dc_last_error().
 */
#ifndef DEEPC_IO_H
#define DEEPC_IO_H

#include "core.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor to save under a name (both borrowed for the duration of the call). */
typedef struct {
    const char *name;
    const dc_tensor *tensor;
} dc_named_tensor;

/* Write n named tensors and n_kv metadata pairs to `path`, atomically.
 * - tensors: any dtype (F32, F64, I64, I32, U8, BOOL) and any strides (views, expanded,
 *   transposed): the logical row-major contents are written. Names must be unique, non-empty valid UTF-8
 *   and not "__metadata__".
 * - metadata_kv: 2*n_kv strings key0, value0, key1, value1, ... (may be NULL when n_kv is
 *   0); keys unique. Stored in "__metadata__".
 * - layout: like the Python library (so both write identical bytes): data sorted by dtype
 *   (I64, F64, F32, I32, U8, BOOL) then by name, header entries in that order after
 *   "__metadata__", compact JSON padded with spaces to a multiple of 8 bytes.
 * - atomic: writes "<path>.tmp.<pid>" in the same directory, fsyncs it and renames it over
 *   `path`; on any failure the temp file is removed and an existing `path` is left intact.
 * Returns 0, or -1 with an error naming the tensor at fault (NULL, duplicate, bad dtype) or
 * the path and the OS error (cannot create / write / rename). */
int dc_safetensors_save(const char *path, const dc_named_tensor *items, int n,
                        const char *const *metadata_kv, int n_kv);

/* An open safetensors file: its validated header and its data (opaque). */
typedef struct dc_safetensors dc_safetensors;

/* Open and validate the whole file: header length sane (< 100 MB and within the file), JSON
 * object without duplicate keys, every entry with a known dtype (F32, F64, I64, I32, U8,
 * BOOL and, for reading only, F16, BF16, I8), a shape of at most DC_MAX_DIMS non-negative ints
 * whose product (a 0 counted as 1, for the strides) times the itemsize fits in int64, and
 * data_offsets [begin, end] with end - begin = numel * itemsize, inside the data buffer
 * and not overlapping another tensor. The file is mapped read-only (no copy is made until a
 * tensor is read). Returns a handle the caller releases with dc_safetensors_close, or NULL
 * with an error naming the file (and the tensor, for a bad entry): a truncated or corrupt
 * file is an error, never a crash. */
dc_safetensors *dc_safetensors_open(const char *path);

/* Release the handle and its mapping; NULL is ignored. Tensors already read stay valid. */
void dc_safetensors_close(dc_safetensors *f);

/* Number of tensors in the file (0 for NULL). */
int dc_safetensors_count(const dc_safetensors *f);

/* Name of the i-th tensor, in the order of their data offsets; NULL (error set) if i is out
 * of range. The string is owned by f and lives until dc_safetensors_close. */
const char *dc_safetensors_name(const dc_safetensors *f, int i);

/* True if the file holds a tensor called `name`. */
bool dc_safetensors_has(const dc_safetensors *f, const char *name);

/* Value of a "__metadata__" key, or NULL if absent (no error). Owned by f. */
const char *dc_safetensors_metadata(const dc_safetensors *f, const char *key);
/* The i-th "__metadata__" key (file order), or NULL past the last (to copy them all). */
const char *dc_safetensors_metadata_key(const dc_safetensors *f, int i);

/* Read a tensor as a new contiguous tensor (owned like any op result: by the open scope, else
 * by the caller). F32/F64/I64/I32/U8/BOOL keep their dtype (BOOL bytes: nonzero -> 1);
 * F16 and BF16 become F32; I8 becomes I64. NULL with "tensor 'x' not found in FILE" if
 * absent. */
dc_tensor *dc_safetensors_get(dc_safetensors *f, const char *name);

/* Copy a tensor of the file into an existing tensor `dst` (e.g. a parameter: any strides),
 * converting the dtype to dst's (no autograd is recorded). The shapes must be equal: a
 * mismatch is an error naming the tensor and both shapes, and leaves dst untouched, as does a
 * missing name. Returns 0 or -1. */
int dc_safetensors_read_into(dc_safetensors *f, const char *name, dc_tensor *dst);

/* ---- Training checkpoints (src/io/checkpoint.c) ------------------------------------------ */

/* Save the model's state_dict (parameters and buffers under their PyTorch names) and, when
 * opt is not NULL, the optimizer's state under "optimizer.<param>.<buffer>" and
 * "optimizer.step", plus metadata pairs (as dc_safetensors_save). Atomic. Load the model
 * part in PyTorch with {k: v for k, v in load_file(path).items()
 * if not k.startswith("optimizer.")}. */
int dc_checkpoint_save(const char *path, const dc_module *model, dc_optimizer *opt,
                       const char *const *metadata_kv, int n_kv);
/* Load a checkpoint into an existing model (and optimizer, when not NULL), like PyTorch's
 * strict load_state_dict: every state tensor must be in the file with the same shape, and the
 * file may hold no other model tensor. Dtypes: a floating-point tensor (F16, BF16, F32, F64)
 * loads only into a floating-point one and an integer tensor only into an integer one that
 * holds its values (a float num_batches_tracked, even 2.0, is an error: no NaN or 1e30 ever
 * reaches an int64 buffer); optimizer step counts must be whole numbers in [0, 2^53].
 * Everything is checked before anything is copied, so on error (naming the tensor and the
 * file) the model and optimizer are unchanged. */
int dc_checkpoint_load(const char *path, dc_module *model, dc_optimizer *opt);

/* ---- Plots (src/io/plot.c) ----------------------------------------------------------------- */

/* One curve of a line plot: n points (x[i], y[i]) (borrowed); non-finite y values are
 * skipped. `markers` draws a dot on every point (for sparse series such as per-epoch
 * validation losses). color: an SVG colour ("#1f77b4"), or NULL for the next default one.
 * A NULL or empty label: no legend entry. */
typedef struct {
    const char *label;
    const double *x, *y;
    int n;
    const char *color;
    bool markers;
} dc_plot_series;

/* Write a line plot of n_series curves as an SVG file, like the book's fig. 3.5 (training and
 * validation loss against the epoch): axes with "nice" ticks (1, 2, 5 x 10^k) covering every
 * finite point, a title, axis labels and a legend. Atomic (temp file + rename). Returns 0, or
 * -1 with an error naming the path (cannot write) or the bad argument. */
int dc_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                const dc_plot_series *series, int n_series);
/* The same plot written to an open stream: a standalone SVG document, or (inline_html) an
 * <svg> element for an HTML page, without the XML namespace and scaling to the page's width.
 * Returns 0, or -1 for a bad argument or a write error. */
int dc_plot_svg_write(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                      const dc_plot_series *series, int n_series, bool inline_html);

/* ---- Images (src/io/png.c) ----------------------------------------------------------------- */
/* PNG files through libpng (libpng-dev, optional: without it dc_png_write/_grid/_read fail
 * with "deepc was built without libpng (install libpng-dev)"; the grid and drawing work).
 * Float pixels are converted like torchvision's save_image: clamp(x * 255 + 0.5, 0, 255),
 * truncated (NaN -> 0); uint8 pixels are written as they are. */

/* Write image [H, W] or [C, H, W] (C = 1: gray, 3: RGB; float32/float64 in [0, 1], clamped,
 * or uint8; any strides) as an 8-bit PNG, atomically (temp file + rename). 0 or -1. */
int dc_png_write(const char *path, const dc_tensor *image);
/* The same image as PNG bytes in a malloc'ed buffer (*data, *size bytes; free() it): for
 * pictures inlined in pages (data URIs). 0 or -1 (*data NULL). */
int dc_png_encode(const dc_tensor *image, unsigned char **data, size_t *size);
/* Read a PNG as a new uint8 tensor [C, H, W]: C = 3 for colour files, 1 for gray ones
 * (palettes expanded, 16-bit reduced to 8, alpha composed over black). NULL on error. */
dc_tensor *dc_png_read(const char *path);
/* torchvision.utils.make_grid: images [N, C, H, W] (C = 1 or 3; uint8 scaled to [0, 1])
 * laid out nrow per row, cells separated and framed by `padding` pixels of pad_value ->
 * float [C, rows * (H + padding) + padding, nrow' * (W + padding) + padding] (nrow' =
 * min(nrow, N)); a single image is returned unpadded, as torchvision does. A 1-channel grid
 * stays 1-channel (torchvision repeats it to 3 equal channels). */
dc_tensor *dc_make_grid(const dc_tensor *images, int nrow, int padding, double pad_value);
/* dc_make_grid then dc_png_write. */
int dc_png_write_grid(const char *path, const dc_tensor *images, int nrow, int padding,
                      double pad_value);
/* Draw, in place, the 1-pixel outline of box (x0, y0, x1, y1) (pixel edges: columns
 * floor(x0) .. ceil(x1) - 1) in colour (r, g, b) into a float image [3, H, W] (any strides;
 * not requiring grad); clipped at the edges. x1 < x0, y1 < y0 or non-finite: error. */
int dc_image_draw_box(dc_tensor *img, double x0, double y0, double x1, double y1, double r,
                      double g, double b);
/* Glyphs of the built-in 3x5 pixel font: digits, A-Z (lower case drawn as upper case),
 * space and . : - % / = + _ ( ); other characters are drawn as filled blocks. */
#define DC_FONT_HEIGHT 5
#define DC_FONT_ADVANCE 4 /* pixels from one character to the next */
/* Draw text with its top-left corner at pixel (x, y) in colour (r, g, b), clipped. */
int dc_image_draw_text(dc_tensor *img, int64_t x, int64_t y, const char *text, double r,
                       double g, double b);

/* ---- Audio (src/io/wav.c) ------------------------------------------------------------------ */

/* What a WAV file holds. */
typedef struct {
    int sample_rate;     /* frames per second */
    int channels;
    int64_t frames;      /* samples per channel */
    int bits_per_sample; /* 8, 16, 24, 32 (integer) or 32, 64 (float) */
    int format;          /* 1 integer PCM, 3 IEEE float (also when stored as EXTENSIBLE) */
} dc_wav_info;

/* Read a RIFF/WAVE file of integer PCM (8-bit unsigned, 16/24/32-bit signed) or IEEE float
 * (32/64-bit) samples, plain or WAVE_FORMAT_EXTENSIBLE, any number of channels: a new float32
 * tensor [channels, frames] (mono true: [frames], the mean of the channels) with integer
 * samples scaled to [-1, 1) (x / 2^(bits-1); 8-bit: (x - 128) / 128) and float samples as
 * stored; *info (nullable) gets the format and sample rate. Every size in the file is checked:
 * a compressed format ("not PCM"), a truncated file or chunk, a missing or repeated fmt/data
 * chunk, data before fmt, zero channels or sample rate, or a block_align that does not match
 * is an error naming the file and the problem (NULL), never a crash. */
dc_tensor *dc_wav_read(const char *path, bool mono, dc_wav_info *info);
/* The same from a buffer of size bytes (name, nullable, is used in error messages). */
dc_tensor *dc_wav_decode(const void *data, size_t size, const char *name, bool mono,
                         dc_wav_info *info);
/* Write samples [frames] (mono) or [channels, frames] (float, any strides, clamped to
 * [-1, 1]) as 16-bit PCM at sample_rate, atomically: round(x * 32768) clamped to int16, so
 * dc_wav_read gives back k / 32768 exactly. 0 or -1. */
int dc_wav_write(const char *path, const dc_tensor *samples, int sample_rate);
/* A spectrogram spec [freq, frames] (e.g. a log-mel) as a gray image [1, freq, frames] in
 * [0, 1] (min-max scaled over the finite values; frequency 0 at the bottom row), for
 * dc_png_write. */
dc_tensor *dc_spectrogram_image(const dc_tensor *spec);
/* dc_spectrogram_image written as an 8-bit binary PGM (P5) file. 0 or -1. */
int dc_spectrogram_write_pgm(const char *path, const dc_tensor *spec);

#ifdef __cplusplus
}
#endif
#endif
