/* Broadcasting (NumPy rules) and strided iteration shared by every elementwise kernel. */
#include "../kernels/kernels.h"
#include "internal.h"

int dc__broadcast_shape(int andim, const int64_t *ashape, int bndim, const int64_t *bshape,
                        int64_t *out, const char *op)
{
    int ndim = andim > bndim ? andim : bndim;
    for (int d = 0; d < ndim; d++) {
        int da = d - (ndim - andim), db = d - (ndim - bndim);
        int64_t sa = da >= 0 ? ashape[da] : 1, sb = db >= 0 ? bshape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ba[96], bb[96];
            dc_error("%s: shapes %s and %s cannot be broadcast (dim %d: %lld vs %lld)", op,
                     dc__shape_fmt(andim, ashape, ba, sizeof ba),
                     dc__shape_fmt(bndim, bshape, bb, sizeof bb), d, (long long)sa,
                     (long long)sb);
            return -1;
        }
        out[d] = sa == 1 ? sb : sa;
    }
    return ndim;
}

void dc__broadcast_strides(const dc_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int dt = d - lead;
        stride[d] = (dt < 0 || (t->shape[dt] == 1 && shape[d] != 1)) ? 0 : t->stride[dt];
    }
}

void dc__iter_init(dc_iter *it, int ndim, const int64_t *shape, int nops,
                   int64_t (*strides)[DC_MAX_DIMS])
{
    it->nops = nops;
    /* Drop size-1 dims, then merge dim d into d+1 when every operand is contiguous across
     * them (stride[d] == stride[d+1] * shape[d+1]). */
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (n > 0) {
            bool merge = true;
            for (int k = 0; k < nops; k++)
                if (it->stride[k][n - 1] != strides[k][d] * shape[d]) merge = false;
            if (merge) {
                it->shape[n - 1] *= shape[d];
                for (int k = 0; k < nops; k++) it->stride[k][n - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[n] = shape[d];
        for (int k = 0; k < nops; k++) it->stride[k][n] = strides[k][d];
        n++;
    }
    if (n == 0) { /* scalar or all ones: one element */
        it->shape[0] = dc__shape_numel(ndim, shape);
        for (int k = 0; k < nops; k++) it->stride[k][0] = 0;
        n = 1;
    }
    it->ndim = n;
    it->inner = it->shape[n - 1];
    it->rows = 1;
    for (int d = 0; d < n - 1; d++) it->rows *= it->shape[d];
    for (int k = 0; k < nops; k++) it->inner_stride[k] = it->stride[k][n - 1];
}

void dc__iter_row_offsets(const dc_iter *it, int64_t row, int64_t *offsets)
{
    for (int k = 0; k < it->nops; k++) offsets[k] = 0;
    for (int d = it->ndim - 2; d >= 0; d--) {
        int64_t i = row % it->shape[d];
        row /= it->shape[d];
        for (int k = 0; k < it->nops; k++) offsets[k] += i * it->stride[k][d];
    }
}

typedef struct {
    const dc_iter *it;
    dc_segment_fn fn;
    void *ctx;
} run_job;

static void run_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const run_job *j = ctx;
    const dc_iter *it = j->it;
    int64_t row = begin / it->inner, col = begin % it->inner;
    while (begin < end) {
        int64_t offsets[DC_ITER_MAX_OPS];
        dc__iter_row_offsets(it, row, offsets);
        int64_t count = it->inner - col;
        if (count > end - begin) count = end - begin;
        for (int k = 0; k < it->nops; k++) offsets[k] += col * it->inner_stride[k];
        j->fn(j->ctx, it, offsets, count);
        begin += count;
        row++;
        col = 0;
    }
}

void dc__iter_run(const dc_iter *it, int64_t grain, dc_segment_fn fn, void *ctx)
{
    int64_t total = it->rows * it->inner;
    if (total == 0) return;
    run_job j = {it, fn, ctx};
    dc_parallel_for(total, grain < 1 ? 1 : grain, run_range, &j);
}
