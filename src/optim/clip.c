/* Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2):
 *   norm = sqrt(sum over all gradients of g^2)   (accumulated in double)
 *   g *= max_norm / (norm + 1e-6)                 when that factor is < 1. */
#include "../core/internal.h"
#include "../kernels/kernels.h"
#include "deepc/optim.h"

#include <math.h>

#define NORM_BLOCKS 64 /* fixed partition: the sum does not depend on the thread count */
#define NORM_GRAIN 65536

typedef struct {
    const void *data;
    dc_dtype dtype;
    int64_t n, block;
    double partial[NORM_BLOCKS];
} norm_job;

/* Sum of squares of x[begin, end) with 8 independent accumulators (vectorisable without
 * reassociating a single sum). */
#define SUM_SQUARES(T)                                                                             \
    static double sum_squares_##T(const T *x, int64_t begin, int64_t end)                          \
    {                                                                                              \
        double acc[8] = {0};                                                                       \
        int64_t i = begin;                                                                         \
        for (; i + 8 <= end; i += 8) {                                                             \
            _Pragma("GCC unroll 8") for (int k = 0; k < 8; k++) acc[k] +=                          \
                (double)x[i + k] * (double)x[i + k];                                               \
        }                                                                                          \
        for (; i < end; i++) acc[0] += (double)x[i] * (double)x[i];                                \
        return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));  \
    }
SUM_SQUARES(float)
SUM_SQUARES(double)

static void norm_blocks(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    norm_job *j = ctx;
    for (int64_t b = begin; b < end; b++) {
        int64_t lo = b * j->block, hi = lo + j->block < j->n ? lo + j->block : j->n;
        j->partial[b] = j->dtype == DC_F32 ? sum_squares_float(j->data, lo, hi)
                                           : sum_squares_double(j->data, lo, hi);
    }
}

/* Sum of squares of a contiguous float tensor, split in blocks over the pool. */
static double tensor_sum_squares(const dc_tensor *g)
{
    norm_job j = {.data = dc_data(g), .dtype = g->dtype, .n = dc_numel(g)};
    int64_t blocks = (j.n + NORM_GRAIN - 1) / NORM_GRAIN;
    if (blocks > NORM_BLOCKS) blocks = NORM_BLOCKS;
    if (blocks < 1) blocks = 1;
    j.block = (j.n + blocks - 1) / blocks;
    if (j.block < 1) j.block = 1;
    blocks = (j.n + j.block - 1) / j.block;
    dc_parallel_for(blocks, 1, norm_blocks, &j);
    double sum = 0;
    for (int64_t b = 0; b < blocks; b++) sum += j.partial[b];
    return sum;
}

double dc_clip_grad_norm(const dc_tensor_list *params, double max_norm)
{
    if (!params) return dc_error("dc_clip_grad_norm: parameter list is NULL"), -1;
    if (!(max_norm >= 0)) return dc_error("dc_clip_grad_norm: invalid max_norm %g", max_norm), -1;
    for (int i = 0; i < params->n; i++) {
        const dc_tensor *p = params->tensors[i];
        if (!p) return dc_error("dc_clip_grad_norm: parameter %d is NULL", i), -1;
        if (p->grad && !dc__check_float(p->grad, "dc_clip_grad_norm")) return -1;
    }
    double sum = 0;
    for (int i = 0; i < params->n; i++) {
        dc_tensor *g = params->tensors[i]->grad;
        if (!g) continue;
        if (dc_is_contiguous(g)) {
            sum += tensor_sum_squares(g);
            continue;
        }
        /* Rare (a gradient set by hand as a view): measure a contiguous copy. */
        dc_tensor *c = dc__alloc_result(g->dtype, g->ndim, g->shape);
        if (!c || dc_copy_(c, g) != 0) {
            dc_tensor_free(c);
            return -1;
        }
        sum += tensor_sum_squares(c);
        dc_tensor_free(c);
    }
    const double norm = sqrt(sum);
    const double scale = max_norm / (norm + 1e-6);
    if (scale < 1) /* false for a NaN norm: the gradients are left as they are */
        for (int i = 0; i < params->n; i++) {
            dc_tensor *g = params->tensors[i]->grad;
            if (g && dc_mul_scalar_(g, scale) != 0) return -1;
        }
    return norm;
}
