/* deepc core: errors, tensors and views, memory scopes, random numbers, threads.
 *
 * A tensor (book §2.2) is a view: dtype, shape, strides and an offset into a reference-counted
 * storage. Views (reshape, permute, slice, expand, ...) share storage and copy nothing.
 * Dims are in PyTorch order (row-major, the last dim varies fastest).
 *
 * Ownership: every function that returns a `dc_tensor *` returns a new reference. If a scope
 * is open (dc_scope_begin), the scope owns that reference and releases it at dc_scope_end;
 * otherwise the caller owns it and releases it with dc_tensor_free. dc_tensor_retain adds a
 * reference the caller owns, so a result can outlive its scope.
 *
 * Errors are values: a failing function returns NULL (or -1) and records a message for
 * dc_last_error(). Passing NULL as a tensor input yields NULL and keeps the first message,
 * so a chain of calls can be checked once at its end. Nothing here exits or aborts. */
#ifndef DEEPC_CORE_H
#define DEEPC_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DC_VERSION "0.1.0"
#define DC_MAX_DIMS 8

/* ---- Errors ------------------------------------------------------------------------- */

/* Message of the first error since the last dc_clear_error(), or "" if none (thread-local). */
const char *dc_last_error(void);
/* True if an error is recorded. */
bool dc_has_error(void);
void dc_clear_error(void);
/* Record an error (printf-style); kept only if no error is pending. Always returns NULL so
 * library code can `return dc_error(...)`. */
void *dc_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Types -------------------------------------------------------------------------- */

typedef enum {
    DC_F32 = 0, /* the default dtype of parameters and activations */
    DC_F64 = 1, /* float64: gradient checking and accurate references */
    DC_I64 = 2, /* indices (class labels, token ids, argmax results) */
    DC_BOOL = 3, /* masks: one byte holding 0 or 1 (nonzero = true where a mask is read) */
    DC_U8 = 4,   /* compact data: images stay uint8 until converted */
    DC_I32 = 5,  /* compact integer data */
    /* reserved for later: DC_F16, DC_BF16, DC_I8 */
    DC_DTYPE_COUNT
} dc_dtype;
/* Integer and bool tensors never require grad; float ops (most of ops.h) reject them. */

typedef enum { DC_CPU = 0 /* a CUDA device can slot in later */ } dc_device;

/* torch's names: "float32", "float64", "int64", "bool", "uint8", "int32" ("unknown" for
 * anything else). dc_shape_str, dc_print and every error message use these. */
const char *dc_dtype_name(dc_dtype dtype);
/* Bytes per element (0 for an unknown dtype). */
size_t dc_dtype_size(dc_dtype dtype);
/* True for DC_F32 / DC_F64. */
bool dc_dtype_is_float(dc_dtype dtype);

typedef struct dc_storage dc_storage;
typedef struct dc_node dc_node;

typedef struct dc_tensor {
    dc_storage *storage;
    dc_dtype dtype;
    int ndim;                       /* 0 for a scalar */
    int64_t shape[DC_MAX_DIMS];
    int64_t stride[DC_MAX_DIMS];    /* in elements; may be 0 (broadcast) */
    int64_t offset;                 /* in elements, into storage */
    /* autograd (book §3.4) */
    bool requires_grad;
    struct dc_tensor *grad;         /* accumulated gradient of a leaf; owned by this tensor */
    dc_node *grad_fn;               /* the op that produced this tensor, NULL for leaves */
    struct dc_hook_list *hooks;     /* gradient hooks (dc_register_hook), NULL if none */
    /* bookkeeping */
    int refcount;
    uint64_t visit_mark;            /* used by backward's topological sort */
} dc_tensor;

/* ---- Memory scopes ------------------------------------------------------------------ */

/* Open a scope: tensors returned from now on are owned by it. Scopes nest. Returns a
 * marker to pass to dc_scope_end, which releases every tensor created since (those you
 * dc_tensor_retain'ed survive). A training loop opens one scope per step, so no
 * intermediate tensor outlives its step. */
size_t dc_scope_begin(void);
void dc_scope_end(size_t marker);
/* End the scope but keep `result`: it is handed to the enclosing scope, or to the caller if
 * none is open. For functions that build a result from temporaries. */
dc_tensor *dc_scope_return(size_t marker, dc_tensor *result);

/* Add a reference owned by the caller (returns t). */
dc_tensor *dc_tensor_retain(dc_tensor *t);
/* Release a reference the caller owns; NULL is ignored. */
void dc_tensor_free(dc_tensor *t);

/* Counters of live objects, to test that loops do not leak. */
int64_t dc_live_tensors(void);
int64_t dc_live_bytes(void);

/* Leak report (a debugging aid; off by default, no cost when off): when on, every tensor
 * created records what made it, and at exit the number of live tensors is printed to
 * stderr with the first few (shape, dtype, and the op that made each: its autograd node's
 * name, the creation function, or the address of the op for addr2line). Turned on by the
 * environment variable DEEPC_LEAK_REPORT=1 or by dc_set_leak_report(true). */
void dc_set_leak_report(bool on);
/* Write the report of live tensors (at most max_listed of them, oldest first) into buf
 * (always NUL-terminated); returns the number of live tensors. Works with the report off
 * too, but then lists only tensors created while it was on. */
int64_t dc_leak_report(char *buf, size_t size, int max_listed);

/* Testing aid: make the n-th next allocation fail (n >= 1), or never (n = 0). */
void dc_debug_fail_alloc_after(int64_t n);

/* ---- Creation ----------------------------------------------------------------------- */

/* shape has ndim entries (ndim 0 = scalar). Contents of dc_empty are unspecified. Every
 * dtype is accepted; a value that an integer dtype cannot hold (NaN, infinity, out of range,
 * e.g. 300 for uint8) is an error, and DC_BOOL stores value != 0. */
dc_tensor *dc_empty(dc_dtype dtype, int ndim, const int64_t *shape);
dc_tensor *dc_zeros(dc_dtype dtype, int ndim, const int64_t *shape);
dc_tensor *dc_ones(dc_dtype dtype, int ndim, const int64_t *shape);
dc_tensor *dc_full(dc_dtype dtype, int ndim, const int64_t *shape, double value);
dc_tensor *dc_scalar(dc_dtype dtype, double value);
/* [start, start+step, ...) up to (excluding) end, like torch.arange (integer dtypes:
 * values truncated toward zero, each checked to fit; not DC_BOOL). */
dc_tensor *dc_arange(dc_dtype dtype, double start, double end, double step);
/* Copy n = numel(shape) elements of `dtype` from data (DC_BOOL: bytes, nonzero -> 1). */
dc_tensor *dc_from_buffer(dc_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* Tensors like t (same dtype and shape, contiguous). */
dc_tensor *dc_zeros_like(const dc_tensor *t);
dc_tensor *dc_ones_like(const dc_tensor *t);
/* Convenience: shapes as a list, e.g. dc_zeros_f32(2, (int64_t[]){3, 4}). */
#define DC_SHAPE(...) (sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), ((int64_t[]){__VA_ARGS__})

/* ---- Inspection --------------------------------------------------------------------- */

int64_t dc_numel(const dc_tensor *t);
bool dc_is_contiguous(const dc_tensor *t);
/* Pointer to element [0,...,0] (storage data + offset). Strides are in elements. */
void *dc_data(const dc_tensor *t);
/* Element at a multi-index (ndim entries) as double; NAN on a bad index (error set). */
double dc_item_at(const dc_tensor *t, const int64_t *index);
/* Value of a one-element tensor as double; NAN with an error otherwise. */
double dc_item(const dc_tensor *t);
/* Copy all elements in logical (row-major) order into out, converted to float / double. */
int dc_to_float_buffer(const dc_tensor *t, float *out, int64_t n);
int dc_to_double_buffer(const dc_tensor *t, double *out, int64_t n);
/* Write "shape [2, 3] float32" style text into buf (always NUL-terminated). */
const char *dc_shape_str(const dc_tensor *t, char *buf, size_t size);
/* Print the tensor (up to `max` elements) to stdout, for debugging. */
void dc_print(const dc_tensor *t, const char *label);
bool dc_same_shape(const dc_tensor *a, const dc_tensor *b);

/* ---- Views (zero-copy; backward supported) ------------------------------------------ */

/* New shape with the same number of elements; one entry may be -1. A non-contiguous
 * input whose strides cannot express the shape is copied first (like torch.reshape). */
dc_tensor *dc_reshape(dc_tensor *t, int ndim, const int64_t *shape);
/* Like dc_reshape but fails instead of copying (torch.view). */
dc_tensor *dc_view(dc_tensor *t, int ndim, const int64_t *shape);
dc_tensor *dc_flatten(dc_tensor *t, int start_dim, int end_dim);
dc_tensor *dc_permute(dc_tensor *t, const int *dims);
dc_tensor *dc_transpose(dc_tensor *t, int dim0, int dim1);
/* Elements start, start+step, ... < end along dim (negative start/end count from the end). */
dc_tensor *dc_slice(dc_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
dc_tensor *dc_narrow(dc_tensor *t, int dim, int64_t start, int64_t length);
/* Index `index` along dim; removes the dim. */
dc_tensor *dc_select(dc_tensor *t, int dim, int64_t index);
dc_tensor *dc_unsqueeze(dc_tensor *t, int dim);
/* Remove dim (must have size 1); dim = -100 removes every size-1 dim. */
dc_tensor *dc_squeeze(dc_tensor *t, int dim);
/* Broadcast to shape (size-1 dims get stride 0; new leading dims may be added). */
dc_tensor *dc_expand(dc_tensor *t, int ndim, const int64_t *shape);
/* The same data, copied only if t is not already contiguous. */
dc_tensor *dc_contiguous(dc_tensor *t);
/* A contiguous copy (always copies); differentiable. */
dc_tensor *dc_clone(dc_tensor *t);
/* Converted copy; differentiable between float dtypes. Conversions between every pair of
 * dtypes follow dc_copy_'s rules. */
dc_tensor *dc_to_dtype(dc_tensor *t, dc_dtype dtype);
/* Copy src into dst element-wise (src broadcast to dst's shape, dtype converted). No
 * autograd: for parameter updates and data loading. Returns 0 or -1.
 * Conversions: float -> integer truncates toward zero (as torch); to DC_BOOL gives
 * value != 0 (NaN is true). A value the destination cannot hold (NaN, infinity, outside
 * its range, e.g. 1e30 or 2^63 into int64, -1 or 256 into uint8, 2^31 into int32, also
 * from a wider integer dtype) is an error naming the value and its index, and nothing is
 * written (torch would wrap or leave it undefined). */
int dc_copy_(dc_tensor *dst, const dc_tensor *src);
/* Fill dst with a value (no autograd; a value its dtype cannot hold is an error, as
 * dc_copy_). Returns 0 or -1. */
int dc_fill_(dc_tensor *dst, double value);

/* ---- Random numbers ----------------------------------------------------------------- */

/* A counter-based generator: element i of a draw depends only on (seed, position), so
 * results are identical across runs and thread counts. */
typedef struct dc_rng {
    uint64_t seed;
    uint64_t counter;
} dc_rng;

void dc_rng_seed(dc_rng *rng, uint64_t seed);
/* The global generator used when rng is NULL (seeded with 0 until dc_manual_seed). */
void dc_manual_seed(uint64_t seed);
dc_tensor *dc_rand(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape); /* U[0,1) */
dc_tensor *dc_uniform(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double lo,
                      double hi);
dc_tensor *dc_randn(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape); /* N(0,1) */
dc_tensor *dc_normal(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double mean,
                     double std);
/* 1 with probability p, else 0. */
dc_tensor *dc_bernoulli(dc_rng *rng, dc_dtype dtype, int ndim, const int64_t *shape, double p);
/* torch.bernoulli(probs): 1 where a U[0,1) draw is below probs[i], else 0, in probs' float
 * dtype and shape (element i uses stream position i); every probability must be in [0, 1]. */
dc_tensor *dc_bernoulli_tensor(dc_rng *rng, dc_tensor *probs);
/* torch.randint: DC_I64 integers uniform in [low, high) (high > low). */
dc_tensor *dc_randint(dc_rng *rng, int64_t low, int64_t high, int ndim, const int64_t *shape);
/* torch.randperm: a uniformly random permutation of 0..n-1 (DC_I64 [n], Fisher-Yates). */
dc_tensor *dc_randperm(dc_rng *rng, int64_t n);
/* torch.multinomial: num_samples category indices (DC_I64 [num_samples] or [batch,
 * num_samples]) per row of non-negative finite weights probs [n_cat] / [batch, n_cat] (they
 * need not sum to 1). Without replacement every index of a row is distinct and zero weights
 * are never drawn; errors for negative/inf/NaN weights, a row without a positive weight,
 * num_samples < 1, or (without replacement) more samples than positive weights. */
dc_tensor *dc_multinomial(dc_rng *rng, dc_tensor *probs, int64_t num_samples, bool replacement);
/* In-place fills (no autograd), for initialisers. */
int dc_uniform_(dc_rng *rng, dc_tensor *t, double lo, double hi);
int dc_normal_(dc_rng *rng, dc_tensor *t, double mean, double std);
/* Scalar draws. */
double dc_rng_uniform(dc_rng *rng);
uint64_t dc_rng_u64(dc_rng *rng);

/* ---- Threads ------------------------------------------------------------------------ */

/* Every op uses one pool. Default: $DEEPC_NUM_THREADS, else the number of CPUs. */
int dc_set_num_threads(int n);
int dc_get_num_threads(void);
/* Name of the kernel ISA in use ("avx512", "avx2", "portable"). */
const char *dc_kernel_isa(void);

#ifdef __cplusplus
}
#endif
#endif
