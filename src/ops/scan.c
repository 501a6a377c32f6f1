/* Scans along one dim: cumsum and cumprod (torch.cumsum / torch.cumprod).
 *
 * One raw kernel runs every line along the dim (forward or reversed), accumulating in
 * double; the backwards are compositions of differentiable ops: cumsum's is the reversed
 * cumsum (recorded as its own op, whose backward is cumsum again), and cumprod's is torch's
 * formula that stays exact with zeros in the input. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <string.h>

typedef enum { SCAN_SUM, SCAN_PROD } scan_kind;

typedef struct {
    scan_kind kind;
    bool reverse; /* accumulate from the end of each line */
    dc_dtype dtype;
    int nlines_dims;                                     /* the dims other than dim */
    int64_t size[DC_MAX_DIMS], in_stride[DC_MAX_DIMS], out_stride[DC_MAX_DIMS];
    int64_t n, in_step, out_step;                        /* along dim */
    const char *in;
    char *out;
} scan_job;

#define SCAN_LINE(T)                                                                           \
    do {                                                                                       \
        const T *p = (const T *)j->in + ioff;                                                  \
        T *q = (T *)j->out + ooff;                                                             \
        double acc = j->kind == SCAN_SUM ? 0 : 1;                                              \
        for (int64_t k = 0; k < j->n; k++) {                                                   \
            int64_t i = j->reverse ? j->n - 1 - k : k;                                         \
            double x = p[i * j->in_step];                                                      \
            acc = j->kind == SCAN_SUM ? acc + x : acc * x;                                     \
            q[i * j->out_step] = (T)acc;                                                       \
        }                                                                                      \
    } while (0)

static void scan_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const scan_job *j = ctx;
    for (int64_t line = begin; line < end; line++) {
        int64_t ioff = dc__unravel(j->nlines_dims, j->size, j->in_stride, line);
        int64_t ooff = dc__unravel(j->nlines_dims, j->size, j->out_stride, line);
        if (j->dtype == DC_F32) SCAN_LINE(float);
        else SCAN_LINE(double);
    }
}

static int cumsum_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);
static int rev_cumsum_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);
static int cumprod_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);

/* The scan of a along dim d (validated) into a new contiguous tensor, recorded. */
static dc_tensor *scan(const char *op, scan_kind kind, bool reverse, dc_tensor *a, int dim)
{
    DC_CHECK_TENSOR(a, op);
    if (!dc__check_float(a, op)) return NULL;
    int d = dc__norm_dim(dim, a->ndim, op);
    if (d < 0) return NULL;
    dc_tensor *out = dc__alloc_result(a->dtype, a->ndim, a->shape);
    if (!out) return NULL;
    scan_job j = {.kind = kind, .reverse = reverse, .dtype = a->dtype, .n = 1,
                  .in = dc_data(a), .out = dc_data(out)};
    for (int k = 0; k < a->ndim; k++) {
        if (k == d) {
            j.n = a->shape[k], j.in_step = a->stride[k], j.out_step = out->stride[k];
            continue;
        }
        j.size[j.nlines_dims] = a->shape[k];
        j.in_stride[j.nlines_dims] = a->stride[k];
        j.out_stride[j.nlines_dims++] = out->stride[k];
    }
    int64_t lines = j.n > 0 ? dc_numel(a) / j.n : 0;
    dc_parallel_for(lines, 16384 / (j.n > 0 ? j.n : 1) + 1, scan_range, &j);
    dc_backward_fn backward = kind == SCAN_PROD ? cumprod_backward
                              : reverse         ? rev_cumsum_backward
                                                : cumsum_backward;
    const char *name = kind == SCAN_PROD ? "cumprod" : reverse ? "cumsum_reverse" : "cumsum";
    dc_node *node;
    if (dc__record(out, name, backward, 1, &a, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = d;
        if (kind == SCAN_PROD && (dc__save(node, a) < 0 || dc__save(node, out) < 0)) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}

/* y_i = sum_{k <= i} x_k: dx_k = sum_{i >= k} g_i, the reversed cumsum of g */
static int cumsum_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = scan("dc_cumsum", SCAN_SUM, true, g, (int)node->i[0]);
    return grads[0] ? 0 : -1;
}

/* y_i = sum_{k >= i} x_k: dx_k = sum_{i <= k} g_i */
static int rev_cumsum_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    grads[0] = scan("dc_cumsum", SCAN_SUM, false, g, (int)node->i[0]);
    return grads[0] ? 0 : -1;
}

/* y_i = prod_{k <= i} x_k: dx_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j. Along each
 * line with its first zero at z (none: z = n):
 *   k < z:  revcumsum(g * y)_k / x_k      (every y_i with i >= z is 0)
 *   k = z:  sum_{i >= z} g_i cumprod(x with x_z := 1)_i
 *   k > z:  0                             (every term holds x_z = 0)
 * As torch, without any zero in x this is just revcumsum(g * y) / x. */
static int cumprod_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *x = node->saved[0], *y = node->saved[1];
    int dim = (int)node->i[0];
    dc_tensor *zero = dc_scalar(x->dtype, 0), *one = dc_scalar(x->dtype, 1);
    dc_tensor *is0 = dc_eq(x, zero);
    double zeros = 0;
    if (!is0 || dc_to_double_buffer(dc_sum_all(is0), &zeros, 1) != 0) return -1;
    dc_tensor *tail = scan("dc_cumprod", SCAN_SUM, true, dc_mul(g, y), dim);
    if (zeros == 0) {
        grads[0] = dc_div(tail, x);
        return grads[0] ? 0 : -1;
    }
    dc_tensor *seen = dc_cumsum(is0, dim);          /* zeros at or before each position */
    dc_tensor *before = dc_eq(seen, zero);           /* k < z */
    dc_tensor *first = dc_mul(is0, dc_eq(seen, one)); /* k = z */
    dc_tensor *x_safe = dc_where(before, x, one);
    dc_tensor *part_before = dc_where(before, dc_div(tail, x_safe), zero);
    dc_tensor *skip_zero = dc_cumprod(dc_where(first, one, x), dim);
    int dims[1] = {dim};
    dc_tensor *at_first = dc_sum(dc_where(before, zero, dc_mul(g, skip_zero)),
                                 x->ndim ? 1 : 0, dims, true);
    grads[0] = dc_add(part_before, dc_mul(first, at_first));
    return grads[0] ? 0 : -1;
}

dc_tensor *dc_cumsum(dc_tensor *a, int dim) { return scan("dc_cumsum", SCAN_SUM, false, a, dim); }
dc_tensor *dc_cumprod(dc_tensor *a, int dim) { return scan("dc_cumprod", SCAN_PROD, false, a, dim); }
