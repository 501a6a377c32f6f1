/* deepc data: datasets, IDX images (Fashion-MNIST), batching, augmentation, tokenizers.
 *
 * Data flows: a file (IDX images, text) -> a dc_dataset (inputs [N, ...] and targets [N] or
 * [N, ...] held in memory) -> dc_dataset_split / dc_dataset_normalize -> a dc_loader that
 * hands out shuffled (and optionally augmented) mini-batches as ordinary tensors.
 *
 * Ownership: a dc_dataset owns one reference to each of its tensors (dc_dataset_free
 * releases them); the tensors are never in a scope. A batch from dc_loader_next is a pair
 * of new tensors published like any op result (owned by the open scope, else the caller),
 * so a training step's scope releases them; the loader keeps no pointer to them.
 *
 * Errors are values, as everywhere in deepc: NULL / -1 and dc_last_error(). A missing,
 * truncated or malformed file gives a one-line message that names the file. */
#ifndef DEEPC_DATA_H
#define DEEPC_DATA_H

#include "core.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Datasets ----------------------------------------------------------------------- */

typedef struct dc_dataset {
    dc_tensor *inputs;              /* [N, ...], contiguous, owned by the dataset */
    dc_tensor *targets;             /* [N] or [N, ...], contiguous, owned by the dataset */
    int n_classes;                  /* number of classes, 0 when not a classification set */
    const char *const *class_names; /* n_classes static names, or NULL */
} dc_dataset;

/* A dataset over inputs [N, ...] and targets [N, ...] (same N >= 0). Takes a reference to
 * each (a contiguous copy if one is not contiguous); the caller keeps its own. */
dc_dataset *dc_dataset_new(dc_tensor *inputs, dc_tensor *targets);
void dc_dataset_free(dc_dataset *ds);
/* N, the number of samples (0 for NULL). */
int64_t dc_dataset_size(const dc_dataset *ds);
/* A new dataset of the samples indices[0..n) (copied, in that order; repeats allowed). */
dc_dataset *dc_dataset_subset(const dc_dataset *ds, const int64_t *indices, int64_t n);
/* A batch of B samples drawn uniformly with replacement with rng: *x = inputs [B, ...],
 * *y = targets [B, ...] (new tensors, published to the open scope). For training loops that
 * resume exactly from the generator's position. Returns 0, or -1 for an empty dataset or
 * B < 1 (nothing drawn). */
int dc_dataset_random_batch(const dc_dataset *ds, int64_t B, dc_rng *rng, dc_tensor **x,
                            dc_tensor **y);
/* Shuffle the sample order with `seed`, then the last n_val samples of that order form *val
 * and the rest *train (like torch.utils.data.random_split). Both are new datasets; ds is
 * unchanged. Returns 0, or -1 (nothing allocated) if n_val is not in [0, N]. */
int dc_dataset_split(const dc_dataset *ds, int64_t n_val, uint64_t seed, dc_dataset **train,
                     dc_dataset **val);
/* Per-channel mean and (population) standard deviation of float inputs, the channel being
 * dim 1 of inputs [N, C, ...] (C = 1 for inputs [N]); mean and std receive C values.
 * Returns C, or -1. */
int dc_dataset_channel_stats(const dc_dataset *ds, double *mean, double *std, int max_channels);
/* In place: inputs[:, c, ...] = (inputs[:, c, ...] - mean[c]) / std[c] for each of the C
 * channels (see above). mean and std both NULL: use the dataset's own statistics (apply
 * the training set's to the validation and test sets instead, to avoid a leak). Modifies
 * ds->inputs, which the dataset may share with the tensor given to dc_dataset_new. */
int dc_dataset_normalize(dc_dataset *ds, const double *mean, const double *std);

/* ---- IDX files (MNIST format) and Fashion-MNIST --------------------------------------- */

/* Load an IDX image file (magic 0x00000803: ubyte, dims [N, H, W]) and its IDX label file
 * (magic 0x00000801: ubyte, dims [N]). Either file may be gzip-compressed (.gz, detected
 * from its content); that needs zlib, and without it the error is "deepc was built without
 * zlib (install zlib1g-dev)" (raw files still load). Result: inputs float32 [N, 1, H, W]
 * scaled to [0, 1] (pixel / 255), targets int64 [N]; n_classes = max label + 1 (at least
 * 1), no class names. Checked: magic numbers, dims, exact data size (truncated files and
 * trailing bytes are errors), the same N in both files; errors name the file. */
dc_dataset *dc_idx_load(const char *images_path, const char *labels_path);

/* Where Debian's dataset-fashion-mnist package installs the files. */
#define DC_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"
/* The 10 Fashion-MNIST class names, by label. */
extern const char *const dc_fashion_mnist_classes[10];
/* Load {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from dir (DC_FASHION_MNIST_DIR
 * when NULL): 60000 training or 10000 test images 1x28x28, with class names. The .gz files
 * are used when present, else the uncompressed ones. */
dc_dataset *dc_fashion_mnist_load(const char *dir, bool train);

/* ---- Mini-batches --------------------------------------------------------------------- */

typedef struct dc_loader dc_loader;

/* Iterate over ds (borrowed: it must outlive the loader) in batches of batch_size samples.
 * shuffle: each epoch visits the samples in a new random order that depends only on
 * (seed, epoch), so a resumed run sees the same batches. drop_last: skip a final batch
 * smaller than batch_size. */
dc_loader *dc_loader_new(const dc_dataset *ds, int64_t batch_size, bool shuffle, bool drop_last,
                         uint64_t seed);
void dc_loader_free(dc_loader *loader);
/* Data augmentation for image inputs [N, ..., H, W], applied per sample to each batch:
 * random crop with zero padding (pad the image by crop_pad pixels on each side, then crop
 * an H x W window at a random offset; 0 disables) and, if hflip, a horizontal flip with
 * probability 0.5. The random draws depend only on (seed, epoch, batch), so they are
 * reproducible. Returns 0, or -1 if crop_pad < 0 or inputs have fewer than 3 dims. */
int dc_loader_set_augment(dc_loader *loader, int crop_pad, bool hflip);
/* The next batch: *x = inputs [B, ...] and *y = targets [B, ...] (new tensors, published to
 * the open scope), with B = batch_size except maybe the last batch. Returns 1 with a batch,
 * 0 at the end of the epoch (*x = *y = NULL; the next call starts the next epoch), -1 on
 * error. */
int dc_loader_next(dc_loader *loader, dc_tensor **x, dc_tensor **y);
/* Start epoch `epoch` from its first batch (for resuming; epochs count from 0). */
void dc_loader_set_epoch(dc_loader *loader, int64_t epoch);
/* The epoch being iterated (0 before the first). */
int64_t dc_loader_epoch(const dc_loader *loader);
/* Batches per epoch. */
int64_t dc_loader_num_batches(const dc_loader *loader);

/* ---- Tokenizers ----------------------------------------------------------------------- */

/* A character-level tokenizer (one id per Unicode code point of UTF-8 text, vocabulary
 * sorted by code point) or a byte-level BPE tokenizer (ids 0..255 are bytes, id 256 + r
 * is the r-th learned merge). Token ids are int64. */
typedef struct dc_tokenizer dc_tokenizer;
/* The longest token (bytes) a BPE tokenizer may have: training skips longer merges, loading
 * rejects them (a file of merges that each double a token would otherwise ask for 2^63). */
#define DC_TOKEN_MAX_BYTES 4096

/* The characters of `text` (len bytes of valid UTF-8) as the vocabulary. */
dc_tokenizer *dc_tokenizer_char_build(const char *text, size_t len);
/* Learn up to n_merges byte-pair merges on `text` (any bytes). Pretokenisation, a
 * simplified GPT-2 one: the text is cut into words at whitespace boundaries, a single
 * space staying with the word that follows it (" the", " cat", "\n\n"), and no merge
 * crosses a word. Each step merges the most frequent adjacent pair (ties: the smallest
 * (left id, right id)); a pair whose token would be longer than DC_TOKEN_MAX_BYTES is
 * skipped. Training stops early when no pair occurs twice. */
dc_tokenizer *dc_tokenizer_bpe_train(const char *text, size_t len, int n_merges);
void dc_tokenizer_free(dc_tokenizer *tok);
/* Vocabulary size: distinct characters, or 256 + merges. */
int64_t dc_tokenizer_vocab_size(const dc_tokenizer *tok);
/* Merges of a BPE tokenizer (0 for a char tokenizer); merge r joins ids left[r] right[r]
 * into id 256 + r (either pointer may be NULL). Returns -1 for r out of range. */
int64_t dc_tokenizer_num_merges(const dc_tokenizer *tok);
int dc_tokenizer_merge(const dc_tokenizer *tok, int64_t r, int64_t *left, int64_t *right);
/* Encode len bytes into *n_ids ids (malloc'ed array, the caller frees it). BPE encodes any
 * bytes; the char tokenizer fails on invalid UTF-8 or a character not in its vocabulary,
 * naming the character and its byte offset. Returns the array or NULL. */
int64_t *dc_tokenizer_encode(const dc_tokenizer *tok, const char *text, size_t len, int64_t *n_ids);
/* The same as an int64 tensor [n] (published like an op result). */
dc_tensor *dc_tokenizer_encode_tensor(const dc_tokenizer *tok, const char *text, size_t len);
/* Decode n ids into a malloc'ed NUL-terminated string of *len bytes (len may be NULL; the
 * bytes may contain NULs). Fails on an id outside the vocabulary. */
char *dc_tokenizer_decode(const dc_tokenizer *tok, const int64_t *ids, int64_t n, size_t *len);
/* The bytes of one token (for printing a vocabulary); NULL on a bad id. Owned by tok. */
const char *dc_tokenizer_token(const dc_tokenizer *tok, int64_t id, size_t *len);
/* Save / load as a small text file: a "deepc-tokenizer char 1" or "deepc-tokenizer bpe 1"
 * line, then the vocabulary's code points (hex, one a line) or the merges ("left right"
 * ids, one a line, in rank order). Saving writes a temp file and renames it. Load fails
 * with a message naming the file (and line) on a malformed file, including a NUL byte and a
 * merge making a token longer than DC_TOKEN_MAX_BYTES. */
int dc_tokenizer_save(const dc_tokenizer *tok, const char *path);
dc_tokenizer *dc_tokenizer_load(const char *path);

/* Read a whole file into a malloc'ed NUL-terminated buffer (*len bytes; len may be NULL).
 * Errors name the file. */
char *dc_read_text_file(const char *path, size_t *len);

/* ---- Language-modelling windows -------------------------------------------------------- */

/* Next-token prediction data from a token array tokens[0..n): the first n - n_val tokens
 * (n_val = round(val_fraction * n)) make *train and the last n_val make *val (a contiguous
 * split, so overlapping windows never leak validation text into training). Each part holds
 * the windows starting at 0, stride, 2 stride, ... with inputs[i] = tokens[s .. s+T) and
 * targets[i] = tokens[s+1 .. s+T+1), both int64 [M, T]. val may be NULL to get only *train
 * (val_fraction is still held out). Returns 0, or -1 if a part is too short for one
 * window (T + 1 tokens) or T, stride < 1, val_fraction outside [0, 1). */
int dc_lm_windows(const int64_t *tokens, int64_t n, int64_t T, int64_t stride, double val_fraction,
                  dc_dataset **train, dc_dataset **val);
/* A random batch of B windows of length T drawn uniformly from tokens[0..n) (nanoGPT's
 * get_batch): *x, *y int64 [B, T] with y = x shifted by one token. For corpora too large
 * to hold every window. Returns 0 or -1. */
int dc_lm_random_batch(const int64_t *tokens, int64_t n, int64_t B, int64_t T, dc_rng *rng,
                       dc_tensor **x, dc_tensor **y);

#ifdef __cplusplus
}
#endif
#endif
