/* Internal helpers shared by the files of src/data (not installed). */
#ifndef DC_DATA_INTERNAL_H
#define DC_DATA_INTERNAL_H

#include "deepc/data.h"

/* A dataset that takes over the caller's references to inputs and targets (contiguous,
 * unpublished tensors, e.g. from dc__alloc_result). On failure both are released. */
dc_dataset *dc__dataset_adopt(dc_tensor *inputs, dc_tensor *targets);

/* Gather rows: dst row i = src row index[i], for n rows of row_bytes each (threaded). */
void dc__gather_rows(void *dst, const void *src, const int64_t *index, int64_t n, size_t row_bytes);

/* A uniform integer in [0, bound) from rng (bound >= 1). */
int64_t dc__rng_below(dc_rng *rng, int64_t bound);

#endif
