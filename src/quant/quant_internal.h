/* Internal: what the Linear / Embedding layers and the quantized file format share with
 * src/quant/quant.c (not installed). */
#ifndef DC_QUANT_INTERNAL_H
#define DC_QUANT_INTERNAL_H

#include "deepc/quant.h"

/* True when a quantized Linear/Embedding module m should run its blocks on input x: it has
 * them (m->impl), x suits the kernel (float32 for Linear), and no gradient is needed (grad
 * mode off, or neither x nor the module's parameters require grad). */
bool dc__qweight_applies(const dc_module *m, const dc_tensor *x);
/* n values (a multiple of 32) of blocks of `type` at `blocks`, dequantized into out. */
void dc__dequantize_row(dc_qtype type, const uint8_t *blocks, int64_t n, float *out);
/* Every Linear / Embedding submodule of model whose dotted name matches pattern (NULL: all),
 * depth first: *n entries of *mods and *names (malloc'ed, each name too; the caller frees).
 * Returns 0 or -1 (out of memory). */
int dc__quant_modules(dc_module *model, const char *pattern, int *n, dc_module ***mods,
                      char ***names);

#endif
