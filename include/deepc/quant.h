/* Post-training weight quantization (book §8.2): block formats, quantized Linear and
 * Embedding for inference, and quantized checkpoints.
 *
 * Two block formats, byte for byte the layouts of ggml's formats of the same names (so the
 * bytes mean the same thing to any reader of those formats). A row is cut into blocks of
 * DC_QBLOCK = 32 consecutive values; the row length must be a multiple of 32 (anything
 * else is an error, never padding).
 *
 *   Q8_0 (34 bytes a block): an fp16 scale d (2 bytes, little-endian IEEE binary16) then 32
 *        signed bytes q[0..31]. Value i is x = d * q[i]. Quantizing: d is max|x| / 127,
 *        rounded *up* to fp16, and q[i] = x[i] / d rounded to nearest (halves away from
 *        zero), so |q| <= 127 and |x - d q| <= d / 2 for every element.
 *   Q4_1 (20 bytes a block): fp16 scale d, fp16 minimum m, then 16 bytes holding 32 4-bit
 *        codes: byte j has element j in its low nibble and element j + 16 in its high one.
 *        Value i is x = d * q[i] + m with q in 0..15. Quantizing: m is the block's minimum
 *        rounded *down* to fp16, d = (max - m) / 15 rounded *up* to fp16, q = (x - m) / d
 *        rounded to nearest (halves up), so again |x - (d q + m)| <= d / 2.
 * ggml rounds d and m to the nearest fp16 and computes q with the unrounded d; rounding them
 * outward instead is what makes the d / 2 bound hold exactly (the layout is unchanged).
 * An all-equal Q8_0 block of zeros has d = 0; an all-equal Q4_1 block has d = 0 unless m had
 * to round. Values whose scale overflows fp16 (|x| > 65504 * 127 for Q8_0, a block minimum
 * below -65504 or a range over 65504 * 15 for Q4_1), NaN and infinities are errors.
 *
 * Quantized tensors are not dc_tensors (no autograd, no scopes): the caller owns a
 * dc_qtensor and frees it with dc_qtensor_free. */
#ifndef DEEPC_QUANT_H
#define DEEPC_QUANT_H

#include "deepc/core.h"
#include "deepc/nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { DC_QBLOCK = 32 /* values per block */ };

typedef enum {
    DC_Q8_0 = 0, /* 32 x int8 + fp16 scale: 8.5 bits a weight */
    DC_Q4_1 = 1, /* 32 x 4 bits + fp16 scale and fp16 min: 5 bits a weight */
    DC_QTYPE_COUNT
} dc_qtype;

/* A tensor of quantized blocks: logical float shape (ndim >= 1, the last dim a multiple of
 * 32), quantized along the last dim in row-major order; data holds nbytes =
 * numel / 32 * dc_qtype_block_bytes(type) bytes, 64-byte aligned, owned by the struct. */
typedef struct {
    dc_qtype type;
    int ndim;
    int64_t shape[DC_MAX_DIMS];
    size_t nbytes;
    uint8_t *data;
} dc_qtensor;

/* "q8_0" / "q4_1" ("unknown" otherwise). */
const char *dc_qtype_name(dc_qtype type);
/* The type called `name` ("q8_0", "q4_1"), or -1 with an error naming it. */
int dc_qtype_from_name(const char *name);
/* Bytes of one block of 32 values: 34 (Q8_0), 20 (Q4_1); 0 for an unknown type. */
size_t dc_qtype_block_bytes(dc_qtype type);

/* IEEE binary16 <-> float32 in portable C: round to nearest even, subnormals kept, overflow to
 * infinity, NaN stays NaN (sign and top payload bits kept, always quiet). */
uint16_t dc_fp32_to_fp16(float x);
float dc_fp16_to_fp32(uint16_t h);

/* Quantize a float32/float64 tensor (any strides) along its last dim, which must be a multiple
 * of 32. NULL with an error for a bad type, shape or value (see above). */
dc_qtensor *dc_quantize(const dc_tensor *t, dc_qtype type);
/* The float32 tensor the blocks stand for (owned like an op result; no autograd). */
dc_tensor *dc_dequantize(const dc_qtensor *q);
/* A quantized tensor from raw block bytes (copied), e.g. read from a file: nbytes must be
 * exactly what the shape needs and every scale/min finite, else NULL with an error saying
 * which (a truncated or corrupt tensor). */
dc_qtensor *dc_qtensor_from_bytes(dc_qtype type, int ndim, const int64_t *shape,
                                  const void *data, size_t nbytes);
/* Release q; NULL is ignored. */
void dc_qtensor_free(dc_qtensor *q);

/* y = x W^T + b for a quantized weight W [out, in] (in a multiple of 32): x float32
 * [..., in], bias float32 [out] or NULL; result float32 [..., out]. Inference only: no
 * gradient flows, so with grad mode on an x or bias that requires grad is an error (use the
 * float weight to train). Kernels: portable, AVX2 and AVX-512 (dc_isa_active()), threaded
 * over the output rows; each output is the dot product of x with the dequantized row. */
dc_tensor *dc_qlinear(dc_tensor *x, const dc_qtensor *weight, dc_tensor *bias);
/* Rows of a quantized table [num, dim] picked by int64 ids (any shape, each in [0, num)):
 * float32 [ids..., dim], each row dequantized. No autograd. */
dc_tensor *dc_qembedding(dc_tensor *ids, const dc_qtensor *weight);

/* ---- Quantized modules ------------------------------------------------------------------ */

/* Quantize the weight of every Linear and Embedding submodule of model whose dotted name
 * matches `name_pattern` (a glob: '*' any run of characters, dots included, '?' one; NULL or
 * "" = all; the model itself is named ""). Each matched module keeps its float "weight"
 * parameter, overwritten with the dequantized values (so state_dict, training and weight
 * sharing see the quantized model), and gets the blocks, which its forward uses whenever
 * grad mode is off or nothing needs a gradient. Every matched weight is quantized before any
 * module changes: on error (a row length that is not a multiple of 32, naming the module;
 * a bad value) the model is untouched. Returns the number of modules quantized, or -1. */
int dc_module_quantize(dc_module *model, dc_qtype type, const char *name_pattern);
/* The quantized weight of a Linear or Embedding module, NULL if it has none. */
const dc_qtensor *dc_module_qweight(const dc_module *m);
/* Give a Linear or Embedding module the quantized weight q (ownership passes to the module,
 * also on error, when q is freed): q's shape must equal the "weight" parameter's, which is
 * then overwritten with dc_dequantize(q). Replaces any earlier blocks. Returns 0 or -1 (the
 * module untouched). */
int dc_module_set_qweight(dc_module *m, dc_qtensor *q);

/* ---- Quantized checkpoints ----------------------------------------------------------------
 * A safetensors file holding the model's state_dict in which each quantized weight NAME is
 * a U8 tensor [rows, row_bytes] of its blocks (row_bytes = in / 32 * block bytes) and the
 * metadata key "quant.NAME" names its format ("q8_0"/"q4_1"); every other tensor is stored as
 * usual. The metadata key "quantization" marks the file (its value: the type used). */

/* Save model's state as such a file (quantized modules as blocks, the rest as floats), with
 * n_kv extra metadata pairs (as dc_safetensors_save). Atomic. Returns 0 or -1. */
int dc_quant_save(const char *path, const dc_module *model, const char *const *metadata_kv,
                  int n_kv);
/* True if the file at path is a quantized checkpoint (has "quantization" metadata). */
bool dc_quant_file_is_quantized(const char *path);
/* Load a quantized checkpoint into a freshly built float model of the same architecture:
 * the named modules get their blocks (dc_module_set_qweight), the rest load like
 * dc_checkpoint_load (strict: same names and shapes, nothing missing or extra). Everything is
 * read and checked first (a truncated tensor, a row length that is not whole blocks, a shape
 * that differs from the model's, a module that is not Linear/Embedding): on error the model
 * is untouched. Returns the number of quantized modules, or -1. */
int dc_quant_load(const char *path, dc_module *model);

#ifdef __cplusplus
}
#endif
#endif
