/* Matrix product with torch.matmul semantics (book §2.4):
 *   [n, k] @ [k, m] -> [n, m]
 *   1-D a is promoted to [1, k] and 1-D b to [k, 1]; the added dim is removed from the
 *   result afterwards (so 1-D @ 1-D is a 0-dim dot product);
 *   leading (batch) dims broadcast: [2, 1, 3, 4] @ [5, 4, 2] -> [2, 5, 3, 2].
 * Every matrix of the batch goes to dc_sgemm / dc_dgemm through its strides, so transposed,
 * sliced and broadcast (stride 0) operands are never copied. */
#include "../core/internal.h"
#include "../kernels/kernels.h"

#include <string.h>

/* Below this many multiply-adds per matrix, run whole matrices per thread (each gemm on
 * one thread) instead of letting one gemm at a time use the pool; up to LARGE_GEMM_WORK, do
 * the same when the batch has enough matrices to keep every thread busy (attention heads:
 * one parallel region per batch instead of one per head). */
#define SMALL_GEMM_WORK (64 * 64 * 64)
#define LARGE_GEMM_WORK (256 * 256 * 256)

/* One operand as a batch of matrices, after 1-D promotion. */
typedef struct {
    int ndim; /* >= 2 */
    int64_t shape[DC_MAX_DIMS];
    int64_t stride[DC_MAX_DIMS];
} matrix_operand;

/* a 1-D left operand [k] becomes a row [1, k]; a 1-D right operand becomes a column [k, 1].
 * The stride of the added size-1 dim is never used to step, any value is correct. */
static matrix_operand promote(const dc_tensor *t, bool is_left)
{
    matrix_operand m;
    m.ndim = t->ndim;
    memcpy(m.shape, t->shape, sizeof m.shape);
    memcpy(m.stride, t->stride, sizeof m.stride);
    if (t->ndim == 1) {
        m.ndim = 2;
        int keep = is_left ? 1 : 0, added = 1 - keep;
        m.shape[keep] = t->shape[0];
        m.stride[keep] = t->stride[0];
        m.shape[added] = 1;
        m.stride[added] = 0;
    }
    return m;
}

/* Everything the batch loop needs: sizes, the broadcast batch shape, element strides of
 * each operand's batch dims (0 where broadcast), and its row/column strides. */
typedef struct {
    int64_t M, N, K;
    int nbatch_dims;
    int64_t batch_shape[DC_MAX_DIMS];
    int64_t batch_stride[3][DC_MAX_DIMS]; /* a, b, out */
    int64_t rs[3], cs[3];                 /* row/col strides of a, b, out */
    const char *a, *b;
    char *out;
    dc_dtype dtype;
} matmul_plan;

/* C = A @ B for the batch matrices [begin, end). */
static void matmul_batch_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const matmul_plan *p = ctx;
    const size_t es = dc__elsize(p->dtype);
    for (int64_t bi = begin; bi < end; bi++) {
        int64_t off[3] = {0, 0, 0}, rest = bi;
        for (int d = p->nbatch_dims - 1; d >= 0; d--) {
            int64_t i = rest % p->batch_shape[d];
            rest /= p->batch_shape[d];
            for (int k = 0; k < 3; k++) off[k] += i * p->batch_stride[k][d];
        }
        const void *A = p->a + (size_t)off[0] * es, *B = p->b + (size_t)off[1] * es;
        void *C = p->out + (size_t)off[2] * es;
        if (p->dtype == DC_F32)
            dc_sgemm(p->M, p->N, p->K, 1.0f, A, p->rs[0], p->cs[0], B, p->rs[1], p->cs[1], 0.0f,
                     C, p->rs[2], p->cs[2]);
        else
            dc_dgemm(p->M, p->N, p->K, 1.0, A, p->rs[0], p->cs[0], B, p->rs[1], p->cs[1], 0.0,
                     C, p->rs[2], p->cs[2]);
    }
}

/* If a's batch dims and row dim can be walked with one stride (e.g. a contiguous
 * [B, T, k] @ [k, m]), fold them into the rows: one [B*T, k] @ [k, m] gemm instead of B
 * small ones. Only when b has no batch dims, so every batch matrix shares b. */
static void fold_batch_into_rows(matmul_plan *p, const matrix_operand *a)
{
    if (p->nbatch_dims == 0 || a->ndim - 2 != p->nbatch_dims) return;
    for (int d = 0; d < p->nbatch_dims; d++)
        if (p->batch_stride[1][d] != 0 || p->batch_shape[d] != a->shape[d]) return;
    for (int d = 0; d < a->ndim - 2; d++)
        if (a->shape[d] != 1 && a->stride[d] != a->stride[d + 1] * a->shape[d + 1]) return;
    /* out is contiguous, so its batch and row dims always fold */
    p->M *= dc__shape_numel(p->nbatch_dims, p->batch_shape);
    p->nbatch_dims = 0;
}

/* out = a @ b in the promoted shapes.
 * Backward: dA = g @ B^T, dB = A^T @ g (in the promoted, broadcast shapes), then summed over
 * the broadcast batch dims (dc_sum_to_shape) and reshaped back to the 1-D shapes. */
static int matmul_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    dc_tensor *a = node->saved[0], *b = node->saved[1];
    dc_tensor *a2 = a->ndim == 1 ? dc_unsqueeze(a, 0) : a;
    dc_tensor *b2 = b->ndim == 1 ? dc_unsqueeze(b, 1) : b;
    dc_tensor *g2 = dc_reshape(g, (int)node->i[0], &node->i[1]); /* promoted out shape */
    if (!a2 || !b2 || !g2) return -1;
    if (dc__needs_grad(node, 0)) {
        dc_tensor *da = dc_matmul(g2, dc_transpose(b2, -1, -2));
        da = dc_sum_to_shape(da, a2->ndim, a2->shape);
        if (!(grads[0] = dc_reshape(da, a->ndim, a->shape))) return -1;
    }
    if (dc__needs_grad(node, 1)) {
        dc_tensor *db;
        if (b2->ndim == 2 && a2->ndim > 2) {
            /* b is shared by the whole batch: fold the batch into the rows so the sum over
             * the batch happens inside one gemm (no [batch, k, m] temporary) */
            const int64_t k = a2->shape[a2->ndim - 1], m = g2->shape[g2->ndim - 1];
            dc_tensor *a_rows = dc_reshape(a2, 2, (int64_t[]){-1, k});
            dc_tensor *g_rows = dc_reshape(g2, 2, (int64_t[]){-1, m});
            db = dc_matmul(dc_transpose(a_rows, 0, 1), g_rows);
        } else {
            db = dc_matmul(dc_transpose(a2, -1, -2), g2);
            db = dc_sum_to_shape(db, b2->ndim, b2->shape);
        }
        if (!(grads[1] = dc_reshape(db, b->ndim, b->shape))) return -1;
    }
    return 0;
}

dc_tensor *dc_matmul(dc_tensor *a, dc_tensor *b)
{
    static const char op[] = "dc_matmul";
    DC_CHECK_TENSOR(a, op);
    DC_CHECK_TENSOR(b, op);
    if (!dc__check_float(a, op) || !dc__check_float(b, op) || !dc__check_same_dtype(a, b, op))
        return NULL;
    char sa[96], sb[96];
    if (a->ndim == 0 || b->ndim == 0)
        return dc_error("dc_matmul: both operands need at least 1 dim, got %s and %s",
                        dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa),
                        dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb));
    const matrix_operand pa = promote(a, true), pb = promote(b, false);
    const int64_t K = pa.shape[pa.ndim - 1];
    if (pb.shape[pb.ndim - 2] != K)
        return dc_error("dc_matmul: shapes %s and %s cannot be multiplied (%lld != %lld)",
                        dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa),
                        dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb), (long long)K,
                        (long long)pb.shape[pb.ndim - 2]);

    matmul_plan p = {.M = pa.shape[pa.ndim - 2], .N = pb.shape[pb.ndim - 1], .K = K,
                     .dtype = a->dtype};
    const int na = pa.ndim - 2, nb = pb.ndim - 2;
    p.nbatch_dims = na > nb ? na : nb;
    for (int d = 0; d < p.nbatch_dims; d++) {
        int da = d - (p.nbatch_dims - na), db = d - (p.nbatch_dims - nb);
        int64_t size_a = da >= 0 ? pa.shape[da] : 1, size_b = db >= 0 ? pb.shape[db] : 1;
        if (size_a != size_b && size_a != 1 && size_b != 1)
            return dc_error("dc_matmul: batch dims of %s and %s cannot be broadcast",
                            dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa),
                            dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb));
        p.batch_shape[d] = size_a == 1 ? size_b : size_a;
        p.batch_stride[0][d] = size_a == 1 ? 0 : pa.stride[da];
        p.batch_stride[1][d] = size_b == 1 ? 0 : pb.stride[db];
    }

    /* promoted result [batch..., M, N]; the real one drops the dims added by promotion
     * (size 1, so both share the contiguous layout) */
    int64_t full_shape[DC_MAX_DIMS], full_stride[DC_MAX_DIMS], shape[DC_MAX_DIMS];
    const int full_ndim = p.nbatch_dims + 2;
    memcpy(full_shape, p.batch_shape, sizeof(int64_t) * (size_t)p.nbatch_dims);
    full_shape[full_ndim - 2] = p.M;
    full_shape[full_ndim - 1] = p.N;
    dc__contiguous_strides(full_ndim, full_shape, full_stride);
    int ndim = 0;
    for (int d = 0; d < full_ndim; d++) {
        bool added = (d == full_ndim - 2 && a->ndim == 1) || (d == full_ndim - 1 && b->ndim == 1);
        if (!added) shape[ndim++] = full_shape[d];
    }
    dc_tensor *out = dc__alloc_result(a->dtype, ndim, shape);
    if (!out) return NULL;

    for (int d = 0; d < p.nbatch_dims; d++) p.batch_stride[2][d] = full_stride[d];
    p.rs[0] = pa.stride[pa.ndim - 2], p.cs[0] = pa.stride[pa.ndim - 1];
    p.rs[1] = pb.stride[pb.ndim - 2], p.cs[1] = pb.stride[pb.ndim - 1];
    p.rs[2] = full_stride[full_ndim - 2], p.cs[2] = full_stride[full_ndim - 1];
    p.a = dc_data(a), p.b = dc_data(b), p.out = dc_data(out);
    fold_batch_into_rows(&p, &pa);
    const int64_t n_matrices = dc__shape_numel(p.nbatch_dims, p.batch_shape);
    const double work = (double)p.M * (double)p.N * (double)p.K;
    /* big matrices: one gemm at a time, each threaded; small or many: whole ones per thread */
    const bool many = n_matrices >= 2 * (int64_t)dc_get_num_threads() && work < LARGE_GEMM_WORK;
    const int64_t grain = work < SMALL_GEMM_WORK ? (int64_t)(SMALL_GEMM_WORK / (work + 1)) + 1
                          : many                  ? 1
                                                  : n_matrices;
    dc_parallel_for(n_matrices, grain, matmul_batch_range, &p);

    dc_node *node;
    if (dc__record(out, "matmul", matmul_backward, 2, (dc_tensor *[]){a, b}, &node) != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    if (node) {
        node->i[0] = full_ndim;
        memcpy(&node->i[1], full_shape, sizeof(int64_t) * (size_t)full_ndim);
        if (dc__save(node, a) < 0 || dc__save(node, b) < 0) {
            dc_tensor_free(out);
            return NULL;
        }
    }
    return dc__publish(out);
}
