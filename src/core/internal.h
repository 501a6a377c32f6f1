/* Internal API shared by the library's source files (not installed).
 *
 * How to write an op (see src/ops/unary.c for the pattern):
 *   1. validate inputs (DC_CHECK_TENSOR, dtype checks, dc__norm_dim) and return
 *      dc_error("dc_xxx: ...") on bad input, before allocating anything;
 *   2. out = dc__alloc_result(dtype, ndim, shape) and compute into it (kernels in src/kernels);
 *   3. dc__record(out, "xxx", xxx_backward, n, inputs, &node) and, if node != NULL, save
 *      what backward needs (dc__save / node->f / node->i);
 *   4. return dc__publish(out) (on any failure after step 2: dc_tensor_free(out), NULL);
 *   5. the backward fn receives grad_out (shape of out) and fills grads[i] for each input
 *      whose dc__needs_grad(node, i) is true, with a tensor of exactly that input's shape.
 *      It runs with grad mode off inside a scope that the engine closes; it may use any op.
 */
#ifndef DC_INTERNAL_H
#define DC_INTERNAL_H

#include "deepc/autograd.h"
#include "deepc/core.h"
#include "deepc/ops.h"

#include <stdint.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

struct dc_storage {
    void *data;      /* 64-byte aligned */
    size_t nbytes;   /* bytes in use */
    size_t capacity; /* bytes allocated (recycled through the block cache) */
    int refcount;
    dc_device device;
};

#define DC_NODE_SAVED 8
#define DC_NODE_PARAMS 16
/* Where a saved tensor came from (dc_node.saved_src): an input's index, the node's output, or
 * something else (a copy or a statistic made inside the op). */
#define DC_SAVED_OTHER -1
#define DC_SAVED_OUTPUT -2

typedef int (*dc_backward_fn)(dc_node *node, dc_tensor *grad_out, dc_tensor **grads);

struct dc_node {
    const char *op;           /* static string, e.g. "mul" */
    dc_backward_fn backward;
    int n_inputs;
    dc_tensor **inputs;       /* retained; gradients flow to these */
    int n_saved;
    dc_tensor *saved[DC_NODE_SAVED]; /* retained, detached (no cycle through grad_fn) */
    int saved_src[DC_NODE_SAVED];    /* input index or DC_SAVED_OUTPUT / DC_SAVED_OTHER */
    dc_tensor *output;               /* the tensor this node produced (not retained: the
                                      * node lives exactly as long as its output) */
    double f[DC_NODE_PARAMS];        /* op parameters for backward */
    int64_t i[DC_NODE_PARAMS];
    void *ctx;                       /* extra state, freed with ctx_free if set */
    void (*ctx_free)(void *);
    int64_t out_shape[DC_MAX_DIMS];  /* shape of the output (for view backwards) */
    int out_ndim;
};

/* ---- Errors and checks ---------------------------------------------------------------- */

#define DC_CHECK_TENSOR(t, op)                                                                 \
    do {                                                                                       \
        if (!(t)) return dc_error("%s: input '%s' is NULL", (op), #t);                         \
    } while (0)

/* Normalise a possibly negative dim against ndim; -1 (with an error naming op) if out of
 * range. */
int dc__norm_dim(int dim, int ndim, const char *op);
/* True for DC_F32/DC_F64; sets an error naming op otherwise. */
bool dc__check_float(const dc_tensor *t, const char *op);
/* Both tensors of one dtype, else error. */
bool dc__check_same_dtype(const dc_tensor *a, const dc_tensor *b, const char *op);
/* Shape as "[2, 3, 4]" into buf. */
const char *dc__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t size);

/* ---- Allocation ----------------------------------------------------------------------- */

/* 64-byte aligned allocation that honours dc_debug_fail_alloc_after; NULL + error on
 * failure. */
void *dc__malloc(size_t nbytes);
void dc__free(void *p);
/* Free the recycled tensor buffers kept by the block cache (see tensor.c). */
void dc__release_cached_memory(void);
/* Kernel scratch of at least nbytes (64-byte aligned) that recycles large blocks through
 * the block cache like tensor buffers, so a per-call scratch costs no page faults in the
 * steady state. *capacity receives the size to give back to dc__scratch_free. NULL + error
 * on failure. */
void *dc__scratch_alloc(size_t nbytes, size_t *capacity);
void dc__scratch_free(void *p, size_t capacity);
/* New contiguous tensor, owned by the calling op until dc__publish (refcount 1). */
dc_tensor *dc__alloc_result(dc_dtype dtype, int ndim, const int64_t *shape);
/* Hand an op's result to the current scope if one is open (else to the caller); returns t.
 * NULL passes through. */
dc_tensor *dc__publish(dc_tensor *t);
/* A new tensor struct viewing base's storage (storage retained), unpublished likewise. */
dc_tensor *dc__make_view(const dc_tensor *base, int ndim, const int64_t *shape,
                         const int64_t *stride, int64_t offset);
/* Contiguous strides for shape. */
void dc__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride);
int64_t dc__shape_numel(int ndim, const int64_t *shape);

/* ---- Broadcasting and strided iteration ------------------------------------------------ */

/* Broadcast shapes a and b (NumPy rules) into out (ndim returned), or -1 with an error. */
int dc__broadcast_shape(int andim, const int64_t *ashape, int bndim, const int64_t *bshape,
                        int64_t *out, const char *op);
/* Strides of t viewed as broadcast to (ndim, shape): 0 on broadcast dims. t must be
 * broadcastable (checked by dc__broadcast_shape). */
void dc__broadcast_strides(const dc_tensor *t, int ndim, const int64_t *shape,
                           int64_t *stride);

#define DC_ITER_MAX_OPS 4
/* Iterates a shape as rows: the last (coalesced) dim is the inner loop of length `inner`,
 * the other dims are flattened into `rows`. Adjacent dims that are contiguous for every
 * operand are merged, so a contiguous tensor is one long row. */
typedef struct {
    int nops;
    int ndim;                                 /* after coalescing, >= 1 */
    int64_t shape[DC_MAX_DIMS];
    int64_t stride[DC_ITER_MAX_OPS][DC_MAX_DIMS];
    int64_t rows, inner;
    int64_t inner_stride[DC_ITER_MAX_OPS];
} dc_iter;

void dc__iter_init(dc_iter *it, int ndim, const int64_t *shape, int nops,
                   int64_t (*strides)[DC_MAX_DIMS]);
/* Element offsets (relative to each operand's base pointer) of the first element of row. */
void dc__iter_row_offsets(const dc_iter *it, int64_t row, int64_t *offsets);

/* A contiguous run of `count` elements along the inner dim: operand k starts at element
 * offset offsets[k] and advances by it->inner_stride[k]. */
typedef void (*dc_segment_fn)(void *ctx, const dc_iter *it, const int64_t *offsets,
                              int64_t count);
/* Visit every element of the iteration in segments, split over the thread pool in chunks of
 * at least `grain` elements (so one long contiguous row is split too). */
void dc__iter_run(const dc_iter *it, int64_t grain, dc_segment_fn fn, void *ctx);

/* ---- Autograd recording --------------------------------------------------------------- */

/* If grad mode is on and some input requires a gradient: attach a node to out (which then
 * requires grad) and store it in *node; otherwise *node = NULL (nothing to save). Returns 0,
 * or -1 with an error on allocation failure. */
int dc__record(dc_tensor *out, const char *op, dc_backward_fn backward, int n_inputs,
               dc_tensor *const *inputs, dc_node **node);
/* Keep t (detached alias) for backward; returns its slot index or -1. */
int dc__save(dc_node *node, dc_tensor *t);
bool dc__needs_grad(const dc_node *node, int input);
/* Release a node and what it holds (its inputs, saved tensors and ctx). */
void dc__node_free(dc_node *node);
/* Free a tensor's gradient hooks (tensor.c, when the tensor dies). */
void dc__hooks_free(struct dc_hook_list *hooks);
/* The grad-mode flag for the current thread. */
extern _Thread_local bool dc__grad_enabled;

/* Element offset of linear index idx over (n, size, stride), the last dim fastest. */
static inline int64_t dc__unravel(int n, const int64_t *size, const int64_t *stride, int64_t idx)
{
    int64_t off = 0;
    for (int d = n - 1; d >= 0; d--) {
        off += (idx % size[d]) * stride[d];
        idx /= size[d];
    }
    return off;
}

/* Element size helpers. */
/* dc_scaled_dot_product_attention with the causal mask shifted: query i attends to keys
 * j <= i + causal_offset (0: torch's causal mask; < 0: no causal mask). */
dc_tensor *dc__attention(dc_tensor *q, dc_tensor *k, dc_tensor *v, dc_tensor *mask,
                         int64_t causal_offset, double dropout_p, bool training, dc_rng *rng);

static inline size_t dc__elsize(dc_dtype d)
{
    switch (d) {
    case DC_BOOL:
    case DC_U8: return 1;
    case DC_F32:
    case DC_I32: return 4;
    case DC_F64:
    case DC_I64: return 8;
    default: return 0; /* not an in-memory dtype (yet) */
    }
}

/* True for the integer dtypes I64, I32, U8 (not DC_BOOL). */
static inline bool dc__is_int(dc_dtype d) { return d == DC_I64 || d == DC_I32 || d == DC_U8; }

/* Element i of a strided array p of dtype t, as double (int64 beyond 2^53 rounds) and as
 * int64 (floats truncated; callers check the range first); a mask's truth (nonzero). */
static inline double dc__load_double(const void *p, dc_dtype t, int64_t i)
{
    switch (t) {
    case DC_F32: return ((const float *)p)[i];
    case DC_F64: return ((const double *)p)[i];
    case DC_I64: return (double)((const int64_t *)p)[i];
    case DC_I32: return ((const int32_t *)p)[i];
    case DC_BOOL:
    case DC_U8: return ((const uint8_t *)p)[i];
    default: return 0;
    }
}

static inline bool dc__load_truth(const void *p, dc_dtype t, int64_t i)
{
    switch (t) {
    case DC_F32: return ((const float *)p)[i] != 0;
    case DC_F64: return ((const double *)p)[i] != 0;
    case DC_I64: return ((const int64_t *)p)[i] != 0;
    case DC_I32: return ((const int32_t *)p)[i] != 0;
    case DC_BOOL:
    case DC_U8: return ((const uint8_t *)p)[i] != 0;
    default: return false;
    }
}

/* Check that every element of src can be converted to dtype `to` (see dc_copy_); false
 * with an error "op: value V at index [i, j] ... cannot be converted to DTYPE". */
bool dc__check_convertible(const dc_tensor *src, dc_dtype to, const char *op);
/* dc_copy_ / dc_fill_ with errors named after op (the public function calling them). */
int dc__copy(dc_tensor *dst, const dc_tensor *src, const char *op);
int dc__fill(dc_tensor *dst, double value, const char *op);

#endif
