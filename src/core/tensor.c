/* Tensors, storage, reference counting and memory scopes (book §2.2).
 *
 * A tensor struct is a view (dtype, shape, strides, offset) of a reference-counted storage.
 * Release is iterative: freeing the loss of a 10,000-op graph walks a worklist instead of
 * recursing through grad_fn -> inputs, so long graphs cannot overflow the stack. */
#define _GNU_SOURCE /* dladdr, for the leak report */
#include "internal.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_llong live_tensors;
static atomic_llong live_bytes;
static _Thread_local int64_t fail_alloc_countdown;

int64_t dc_live_tensors(void) { return atomic_load(&live_tensors); }
int64_t dc_live_bytes(void) { return atomic_load(&live_bytes); }
void dc_debug_fail_alloc_after(int64_t n) { fail_alloc_countdown = n < 0 ? 0 : n; }

/* The one table of dtype names (torch's spelling), used by messages, dc_shape_str and
 * dc_print alike. */
static const char *const dtype_names[DC_DTYPE_COUNT] = {
    [DC_F32] = "float32", [DC_F64] = "float64", [DC_I64] = "int64",
    [DC_BOOL] = "bool",   [DC_U8] = "uint8",    [DC_I32] = "int32",
};

const char *dc_dtype_name(dc_dtype dtype)
{
    return (unsigned)dtype < DC_DTYPE_COUNT ? dtype_names[dtype] : "unknown";
}

size_t dc_dtype_size(dc_dtype dtype) { return dc__elsize(dtype); }

bool dc_dtype_is_float(dc_dtype dtype) { return dtype == DC_F32 || dtype == DC_F64; }

/* ---- Allocation ----------------------------------------------------------------------- */

void *dc__malloc(size_t nbytes)
{
    if (fail_alloc_countdown > 0 && --fail_alloc_countdown == 0)
        return dc_error("out of memory allocating %zu bytes (injected failure)", nbytes);
    size_t rounded = (nbytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) return dc_error("out of memory allocating %zu bytes", nbytes);
    return p;
}

void dc__free(void *p) { free(p); }

/* ---- Block cache ----------------------------------------------------------------------------
 * Large tensor buffers are recycled instead of returned to the OS: glibc gives multi-MB blocks
 * back with munmap, and every new op output then pays page faults on fresh memory (measured:
 * 1.2 s to zero a fresh 154 MB buffer vs 50 ms to add into a touched one). A training step
 * allocates the same sizes every step, so a small best-fit cache makes the steady state
 * allocation-free. Bounded by DEEPC_CACHE_MB (default 1024; 0 disables). */

#define CACHE_MIN_BYTES (64u << 10)
#define CACHE_SLOTS 256

typedef struct {
    void *block;
    size_t size;
} cached_block;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_block cache[CACHE_SLOTS];
static int cache_count = -1; /* -1: limit not read yet */
static size_t cache_bytes, cache_limit;

static size_t block_size(size_t nbytes)
{
    size_t page = nbytes >= CACHE_MIN_BYTES ? 4096 : 64;
    return (nbytes + page - 1) / page * page;
}

/* A cached block of at least `size` bytes and at most twice that, or NULL. */
static void *cache_take(size_t size, size_t *got)
{
    if (size < CACHE_MIN_BYTES) return NULL;
    pthread_mutex_lock(&cache_lock);
    if (cache_count < 0) {
        const char *env = getenv("DEEPC_CACHE_MB");
        cache_limit = (size_t)(env ? atol(env) : 1024) << 20;
#if defined(__SANITIZE_ADDRESS__)
        cache_limit = 0; /* recycling would hide use-after-free from AddressSanitizer */
#endif
        cache_count = 0;
    }
    int best = -1;
    for (int i = 0; i < cache_count; i++)
        if (cache[i].size >= size && cache[i].size <= 2 * size &&
            (best < 0 || cache[i].size < cache[best].size))
            best = i;
    void *block = NULL;
    if (best >= 0) {
        block = cache[best].block;
        *got = cache[best].size;
        cache_bytes -= cache[best].size;
        cache[best] = cache[--cache_count];
    }
    pthread_mutex_unlock(&cache_lock);
    return block;
}

/* Keep the block for reuse if it is large and fits; otherwise free it. */
static void cache_give(void *block, size_t size)
{
    if (size >= CACHE_MIN_BYTES) {
        pthread_mutex_lock(&cache_lock);
        if (cache_count < 0) cache_count = 0; /* limit stays 0 until the first take */
        /* evict the oldest blocks until this one fits */
        while (cache_count > 0 && (cache_count == CACHE_SLOTS || cache_bytes + size > cache_limit)) {
            free(cache[0].block);
            cache_bytes -= cache[0].size;
            cache[0] = cache[--cache_count];
        }
        bool kept = size <= cache_limit && cache_count < CACHE_SLOTS;
        if (kept) {
            cache[cache_count++] = (cached_block){block, size};
            cache_bytes += size;
        }
        pthread_mutex_unlock(&cache_lock);
        if (kept) return;
    }
    free(block);
}

void dc__release_cached_memory(void)
{
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_count; i++) free(cache[i].block);
    cache_count = cache_count < 0 ? -1 : 0;
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_lock);
}

void *dc__scratch_alloc(size_t nbytes, size_t *capacity)
{
    size_t size = block_size(nbytes);
    void *p = fail_alloc_countdown > 0 ? NULL : cache_take(size, &size);
    if (!p) p = dc__malloc(size);
    *capacity = size;
    return p;
}

void dc__scratch_free(void *p, size_t capacity)
{
    if (p) cache_give(p, capacity);
}

static dc_storage *storage_new(size_t nbytes)
{
    dc_storage *s = dc__malloc(sizeof *s);
    if (!s) return NULL;
    size_t size;
    s->data = dc__scratch_alloc(nbytes, &size);
    if (!s->data) {
        dc__free(s);
        return NULL;
    }
    s->nbytes = nbytes;
    s->capacity = size;
    s->refcount = 1;
    s->device = DC_CPU;
    atomic_fetch_add(&live_bytes, (long long)nbytes);
    return s;
}

static void storage_release(dc_storage *s)
{
    if (!s || --s->refcount > 0) return;
    atomic_fetch_sub(&live_bytes, (long long)s->nbytes);
    cache_give(s->data, s->capacity);
    dc__free(s);
}

void dc__contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d] > 0 ? shape[d] : 1;
    }
}

int64_t dc__shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* ---- Leak report ------------------------------------------------------------------------
 * Every tensor struct lives in a box with room for what made it. With the report on, a new
 * tensor is linked into a list (oldest first) with its creator: a creation function's name,
 * else the address of the op that allocated it; the report prefers the autograd node's name
 * when the tensor has one. With the report off this costs one branch per tensor. */

typedef struct tensor_box {
    dc_tensor t; /* first: a dc_tensor * is a tensor_box * */
    struct tensor_box *prev, *next;
    const char *creator; /* static string, or NULL */
    void *caller;        /* return address inside the op that allocated the tensor */
    uint64_t seq;
    bool tracked;
} tensor_box;

static bool leak_report_on;
static bool leak_atexit_registered;
static pthread_mutex_t leak_lock = PTHREAD_MUTEX_INITIALIZER;
static tensor_box *leak_head, *leak_tail;
static uint64_t leak_seq;

static void leak_track(tensor_box *b, void *caller)
{
    b->caller = caller;
    b->tracked = true;
    pthread_mutex_lock(&leak_lock);
    b->seq = ++leak_seq;
    b->prev = leak_tail;
    if (leak_tail) leak_tail->next = b;
    else leak_head = b;
    leak_tail = b;
    pthread_mutex_unlock(&leak_lock);
}

static void leak_untrack(tensor_box *b)
{
    pthread_mutex_lock(&leak_lock);
    if (b->prev) b->prev->next = b->next;
    else leak_head = b->next;
    if (b->next) b->next->prev = b->prev;
    else leak_tail = b->prev;
    pthread_mutex_unlock(&leak_lock);
}

/* Name the creation function of t (for the report); a no-op when the report is off. */
static dc_tensor *note_creator(dc_tensor *t, const char *name)
{
    if (t && leak_report_on) ((tensor_box *)t)->creator = name;
    return t;
}

/* "made by ..." for one tracked tensor. */
static void describe_creator(const tensor_box *b, char *buf, size_t size)
{
    const dc_tensor *t = &b->t;
    const char *leaf = t->requires_grad && !t->grad_fn ? ", a leaf that requires grad" : "";
    if (t->grad_fn) {
        snprintf(buf, size, "op '%s' (its autograd node)", t->grad_fn->op);
        return;
    }
    if (b->creator) {
        snprintf(buf, size, "%s%s", b->creator, leaf);
        return;
    }
    Dl_info info;
    if (b->caller && dladdr(b->caller, &info) && info.dli_fname) {
        uintptr_t at = (uintptr_t)b->caller - 1; /* inside the call instruction */
        unsigned long rel = (unsigned long)(at - (uintptr_t)info.dli_fbase);
        if (info.dli_sname)
            snprintf(buf, size, "%s+0x%lx%s", info.dli_sname,
                     (unsigned long)(at - (uintptr_t)info.dli_saddr), leaf);
        else
            snprintf(buf, size, "the op at %s+0x%lx (addr2line -f -e %s 0x%lx)%s",
                     info.dli_fname, rel, info.dli_fname, rel, leaf);
        return;
    }
    snprintf(buf, size, "the op at %p%s", b->caller, leaf);
}

int64_t dc_leak_report(char *buf, size_t size, int max_listed)
{
    int64_t live = dc_live_tensors();
    if (!buf || size == 0) return live;
    size_t used = (size_t)snprintf(buf, size, "deepc leak report: %lld tensor%s live (%lld bytes "
                                   "of storage)\n", (long long)live, live == 1 ? "" : "s",
                                   (long long)dc_live_bytes());
    pthread_mutex_lock(&leak_lock);
    int listed = 0;
    const tensor_box *b = leak_head;
    for (; b && listed < max_listed && used < size; b = b->next, listed++) {
        char shape[200], made[400];
        describe_creator(b, made, sizeof made);
        used += (size_t)snprintf(buf + used, size - used, "  #%llu %s, made by %s\n",
                                 (unsigned long long)b->seq,
                                 dc_shape_str(&b->t, shape, sizeof shape), made);
    }
    if (b && used < size) used += (size_t)snprintf(buf + used, size - used, "  ...\n");
    pthread_mutex_unlock(&leak_lock);
    if (live > 0 && used < size)
        snprintf(buf + used, size - used,
                 "  (results belong to the caller unless a scope is open: wrap chained calls "
                 "in dc_scope_begin / dc_scope_end, or dc_tensor_free each result)\n");
    return live;
}

static void leak_report_at_exit(void)
{
    if (!leak_report_on) return;
    char buf[8192];
    dc_leak_report(buf, sizeof buf, 10);
    fputs(buf, stderr);
}

void dc_set_leak_report(bool on)
{
    if (on && !leak_atexit_registered) {
        leak_atexit_registered = true;
        atexit(leak_report_at_exit);
    }
    leak_report_on = on;
}

__attribute__((constructor)) static void leak_report_from_env(void)
{
    const char *env = getenv("DEEPC_LEAK_REPORT");
    if (env && *env && strcmp(env, "0") != 0) dc_set_leak_report(true);
}

static dc_tensor *tensor_struct_new(dc_dtype dtype, int ndim, const int64_t *shape, void *caller)
{
    tensor_box *b = dc__malloc(sizeof *b);
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    dc_tensor *t = &b->t;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d];
    t->refcount = 1;
    atomic_fetch_add(&live_tensors, 1);
    if (leak_report_on) leak_track(b, caller);
    return t;
}

/* Undo tensor_struct_new (for a struct whose contents are released already). */
static void tensor_struct_free(dc_tensor *t)
{
    if (((tensor_box *)t)->tracked) leak_untrack((tensor_box *)t);
    atomic_fetch_sub(&live_tensors, 1);
    dc__free(t);
}

static bool check_shape(int ndim, const int64_t *shape, const char *op)
{
    if (ndim < 0 || ndim > DC_MAX_DIMS) {
        dc_error("%s: ndim %d out of range [0, %d]", op, ndim, DC_MAX_DIMS);
        return false;
    }
    if (ndim > 0 && !shape) {
        dc_error("%s: shape is NULL", op);
        return false;
    }
    int64_t span = 1; /* the product of the dims, a 0 as 1: the strides must fit in int64 */
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            dc_error("%s: negative size %lld in dim %d", op, (long long)shape[d], d);
            return false;
        }
        if (__builtin_mul_overflow(span, shape[d] ? shape[d] : 1, &span)) {
            char buf[160];
            dc_error("%s: shape %s is too large (its strides overflow int64)", op,
                     dc__shape_fmt(ndim, shape, buf, sizeof buf));
            return false;
        }
    }
    return true;
}

dc_tensor *dc__alloc_result(dc_dtype dtype, int ndim, const int64_t *shape)
{
    /* ops validate first; these name the internal function if one does not */
    if (!check_shape(ndim, shape, "dc__alloc_result")) return NULL;
    if ((unsigned)dtype >= DC_DTYPE_COUNT)
        return dc_error("dc__alloc_result: unknown dtype %d", (int)dtype);
    size_t nbytes = dc__elsize(dtype);
    for (int d = 0; d < ndim; d++)
        if (__builtin_mul_overflow(nbytes, (size_t)shape[d], &nbytes) || nbytes > (SIZE_MAX >> 2)) {
            char buf[160];
            return dc_error("out of memory: a %s tensor of shape %s is too large",
                            dc_dtype_name(dtype), dc__shape_fmt(ndim, shape, buf, sizeof buf));
        }
    dc_tensor *t = tensor_struct_new(dtype, ndim, shape, __builtin_return_address(0));
    if (!t) return NULL;
    t->storage = storage_new(nbytes);
    if (!t->storage) {
        tensor_struct_free(t);
        return NULL;
    }
    dc__contiguous_strides(ndim, shape, t->stride);
    return t;
}

dc_tensor *dc__make_view(const dc_tensor *base, int ndim, const int64_t *shape,
                         const int64_t *stride, int64_t offset)
{
    dc_tensor *t = tensor_struct_new(base->dtype, ndim, shape, __builtin_return_address(0));
    if (!t) return NULL;
    for (int d = 0; d < ndim; d++) t->stride[d] = stride[d];
    t->offset = offset;
    t->storage = base->storage;
    t->storage->refcount++;
    return t;
}

/* ---- Reference counting --------------------------------------------------------------- */

dc_tensor *dc_tensor_retain(dc_tensor *t)
{
    if (t) t->refcount++;
    return t;
}

/* Worklist of tensors whose last reference is being dropped. */
static _Thread_local dc_tensor **release_stack;
static _Thread_local size_t release_len, release_cap;
static _Thread_local bool releasing;

static void release_push(dc_tensor *t)
{
    if (!t || --t->refcount > 0) return;
    if (release_len == release_cap) {
        size_t cap = release_cap ? release_cap * 2 : 64;
        dc_tensor **grown = realloc(release_stack, cap * sizeof *grown);
        if (!grown) { /* cannot grow: fall back to leaking rather than crashing */
            dc_error("out of memory while freeing tensors");
            return;
        }
        release_stack = grown;
        release_cap = cap;
    }
    release_stack[release_len++] = t;
}

void dc__node_free(dc_node *n)
{
    for (int i = 0; i < n->n_inputs; i++) release_push(n->inputs[i]);
    for (int i = 0; i < n->n_saved; i++) release_push(n->saved[i]);
    if (n->ctx && n->ctx_free) n->ctx_free(n->ctx);
    dc__free(n->inputs);
    dc__free(n);
}

static void tensor_destroy(dc_tensor *t)
{
    storage_release(t->storage);
    release_push(t->grad);
    if (t->grad_fn) dc__node_free(t->grad_fn);
    dc__hooks_free(t->hooks);
    tensor_struct_free(t);
}

void dc_tensor_free(dc_tensor *t)
{
    release_push(t);
    if (releasing) return; /* an outer call is draining the worklist */
    releasing = true;
    while (release_len > 0) tensor_destroy(release_stack[--release_len]);
    releasing = false;
    if (release_cap > 4096) { /* don't keep a huge worklist around */
        free(release_stack);
        release_stack = NULL;
        release_cap = 0;
    }
}

/* ---- Scopes ---------------------------------------------------------------------------- */

static _Thread_local dc_tensor **scope_items;
static _Thread_local size_t scope_len, scope_cap;
static _Thread_local int scope_depth;

size_t dc_scope_begin(void)
{
    scope_depth++;
    return scope_len;
}

void dc_scope_end(size_t marker)
{
    if (scope_depth > 0) scope_depth--;
    while (scope_len > marker) dc_tensor_free(scope_items[--scope_len]);
    if (scope_depth == 0 && scope_cap > 65536) {
        free(scope_items);
        scope_items = NULL;
        scope_cap = 0;
    }
}

dc_tensor *dc__publish(dc_tensor *t)
{
    if (!t || scope_depth == 0) return t;
    if (scope_len == scope_cap) {
        size_t cap = scope_cap ? scope_cap * 2 : 256;
        dc_tensor **grown = realloc(scope_items, cap * sizeof *grown);
        if (!grown) {
            dc_tensor_free(t);
            return dc_error("out of memory growing the tensor scope");
        }
        scope_items = grown;
        scope_cap = cap;
    }
    scope_items[scope_len++] = t;
    return t;
}

dc_tensor *dc_scope_return(size_t marker, dc_tensor *result)
{
    dc_tensor_retain(result);
    dc_scope_end(marker);
    return dc__publish(result);
}

/* ---- Creation --------------------------------------------------------------------------- */

static bool check_dtype(dc_dtype dtype, const char *op)
{
    if ((unsigned)dtype < DC_DTYPE_COUNT) return true;
    dc_error("%s: unknown dtype %d", op, (int)dtype);
    return false;
}

dc_tensor *dc_empty(dc_dtype dtype, int ndim, const int64_t *shape)
{
    if (!check_shape(ndim, shape, "dc_empty") || !check_dtype(dtype, "dc_empty")) return NULL;
    return dc__publish(note_creator(dc__alloc_result(dtype, ndim, shape), "dc_empty"));
}

/* dc_full and the functions built on it, with errors and the leak report naming `op`. */
static dc_tensor *full_named(dc_dtype dtype, int ndim, const int64_t *shape, double value,
                             const char *op)
{
    if (!check_shape(ndim, shape, op) || !check_dtype(dtype, op)) return NULL;
    dc_tensor *t = dc__alloc_result(dtype, ndim, shape);
    if (!t) return NULL;
    if (dc__fill(t, value, op) != 0) {
        dc_tensor_free(t);
        return NULL;
    }
    return dc__publish(note_creator(t, op));
}

dc_tensor *dc_full(dc_dtype dtype, int ndim, const int64_t *shape, double value)
{
    return full_named(dtype, ndim, shape, value, "dc_full");
}

dc_tensor *dc_zeros(dc_dtype dtype, int ndim, const int64_t *shape)
{
    return full_named(dtype, ndim, shape, 0.0, "dc_zeros");
}

dc_tensor *dc_ones(dc_dtype dtype, int ndim, const int64_t *shape)
{
    return full_named(dtype, ndim, shape, 1.0, "dc_ones");
}

dc_tensor *dc_scalar(dc_dtype dtype, double value)
{
    return full_named(dtype, 0, NULL, value, "dc_scalar");
}

dc_tensor *dc_zeros_like(const dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_zeros_like");
    return full_named(t->dtype, t->ndim, t->shape, 0.0, "dc_zeros_like");
}

dc_tensor *dc_ones_like(const dc_tensor *t)
{
    DC_CHECK_TENSOR(t, "dc_ones_like");
    return full_named(t->dtype, t->ndim, t->shape, 1.0, "dc_ones_like");
}

dc_tensor *dc_arange(dc_dtype dtype, double start, double end, double step)
{
    if (!check_dtype(dtype, "dc_arange")) return NULL;
    if (dtype == DC_BOOL) return dc_error("dc_arange: not defined for bool (as torch)");
    if (step == 0 || !isfinite(start) || !isfinite(end) || !isfinite(step))
        return dc_error("dc_arange: invalid range (start %g, end %g, step %g)", start, end, step);
    double count = ceil((end - start) / step);
    if (count > 0x1p53)
        return dc_error("dc_arange: %g elements (start %g, end %g, step %g) are too many",
                        count, start, end, step);
    int64_t n = count > 0 ? (int64_t)count : 0;
    dc_tensor *t = dc__alloc_result(dtype, 1, &n);
    if (!t) return NULL;
    if (dtype == DC_F32 || dtype == DC_F64) {
        for (int64_t i = 0; i < n; i++) {
            double v = start + (double)i * step;
            if (dtype == DC_F32) ((float *)dc_data(t))[i] = (float)v;
            else ((double *)dc_data(t))[i] = v;
        }
    } else { /* integers: computed in float64, then a checked conversion */
        dc_tensor *values = dc__alloc_result(DC_F64, 1, &n);
        for (int64_t i = 0; values && i < n; i++)
            ((double *)dc_data(values))[i] = start + (double)i * step;
        int rc = values ? dc__copy(t, values, "dc_arange") : -1;
        dc_tensor_free(values);
        if (rc != 0) {
            dc_tensor_free(t);
            return NULL;
        }
    }
    return dc__publish(note_creator(t, "dc_arange"));
}

dc_tensor *dc_from_buffer(dc_dtype dtype, int ndim, const int64_t *shape, const void *data)
{
    if (!data) return dc_error("dc_from_buffer: data is NULL");
    if (!check_shape(ndim, shape, "dc_from_buffer") || !check_dtype(dtype, "dc_from_buffer"))
        return NULL;
    dc_tensor *t = dc__alloc_result(dtype, ndim, shape);
    if (!t) return NULL;
    size_t n = (size_t)dc_numel(t);
    if (dtype == DC_BOOL) { /* masks hold 0/1 */
        const uint8_t *src = data;
        uint8_t *dst = dc_data(t);
        for (size_t i = 0; i < n; i++) dst[i] = src[i] != 0;
    } else {
        memcpy(dc_data(t), data, n * dc__elsize(dtype));
    }
    return dc__publish(note_creator(t, "dc_from_buffer"));
}

/* ---- Inspection ------------------------------------------------------------------------- */

int64_t dc_numel(const dc_tensor *t) { return t ? dc__shape_numel(t->ndim, t->shape) : 0; }

bool dc_is_contiguous(const dc_tensor *t)
{
    /* no elements: contiguous whatever the strides (as torch), which is what a new tensor of
     * shape [3, 0, 5] gets from dc__contiguous_strides (a 0 dim counts as 1 there) */
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] == 0) return true;
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] == 1) continue;
        if (t->stride[d] != expect) return false;
        expect *= t->shape[d];
    }
    return true;
}

void *dc_data(const dc_tensor *t)
{
    if (!t) return NULL;
    return (char *)t->storage->data + (size_t)t->offset * dc__elsize(t->dtype);
}

static double load_as_double(const dc_tensor *t, int64_t element_offset)
{
    return dc__load_double(dc_data(t), t->dtype, element_offset);
}

double dc_item_at(const dc_tensor *t, const int64_t *index)
{
    if (!t) return dc_error("dc_item_at: tensor is NULL"), NAN;
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (index[d] < 0 || index[d] >= t->shape[d]) {
            dc_error("dc_item_at: index %lld out of range for dim %d of size %lld",
                     (long long)index[d], d, (long long)t->shape[d]);
            return NAN;
        }
        off += index[d] * t->stride[d];
    }
    return load_as_double(t, off);
}

double dc_item(const dc_tensor *t)
{
    if (!t) return dc_error("dc_item: tensor is NULL"), NAN;
    if (dc_numel(t) != 1) {
        char buf[96];
        dc_error("dc_item: expected one element, got shape %s",
                 dc__shape_fmt(t->ndim, t->shape, buf, sizeof buf));
        return NAN;
    }
    return load_as_double(t, 0);
}

/* Visit elements in row-major order, calling the loader for each offset. */
static int copy_out(const dc_tensor *t, void *out, int64_t n, bool as_double)
{
    const char *op = as_double ? "dc_to_double_buffer" : "dc_to_float_buffer";
    if (!t || !out) return dc_error("%s: NULL argument", op), -1;
    if (n < dc_numel(t))
        return dc_error("%s: buffer holds %lld elements, tensor has %lld", op,
                        (long long)n, (long long)dc_numel(t)),
               -1;
    int64_t idx[DC_MAX_DIMS] = {0};
    int64_t total = dc_numel(t);
    for (int64_t i = 0; i < total; i++) {
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        double v = load_as_double(t, off);
        if (as_double) ((double *)out)[i] = v;
        else ((float *)out)[i] = (float)v;
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    return 0;
}

int dc_to_float_buffer(const dc_tensor *t, float *out, int64_t n) { return copy_out(t, out, n, false); }
int dc_to_double_buffer(const dc_tensor *t, double *out, int64_t n) { return copy_out(t, out, n, true); }

const char *dc_shape_str(const dc_tensor *t, char *buf, size_t size)
{
    if (!buf || size == 0) return "";
    if (!t) {
        snprintf(buf, size, "(null)");
        return buf;
    }
    char shape[160];
    snprintf(buf, size, "shape %s %s", dc__shape_fmt(t->ndim, t->shape, shape, sizeof shape),
             dc_dtype_name(t->dtype));
    return buf;
}

bool dc_same_shape(const dc_tensor *a, const dc_tensor *b)
{
    if (!a || !b || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

void dc_print(const dc_tensor *t, const char *label)
{
    char buf[200];
    printf("%s: %s\n", label ? label : "tensor", dc_shape_str(t, buf, sizeof buf));
    if (!t) return;
    int64_t n = dc_numel(t), shown = n < 64 ? n : 64;
    const char *p = dc_data(t);
    int64_t idx[DC_MAX_DIMS] = {0};
    printf("  [");
    for (int64_t i = 0; i < shown; i++) { /* row-major order, each dtype printed exactly */
        int64_t off = 0;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        if (i) printf(", ");
        switch (t->dtype) {
        case DC_F32:
        case DC_F64: printf("%.6g", dc__load_double(p, t->dtype, off)); break;
        case DC_I64: printf("%lld", (long long)((const int64_t *)p)[off]); break;
        case DC_I32: printf("%d", (int)((const int32_t *)p)[off]); break;
        case DC_U8: printf("%u", (unsigned)((const uint8_t *)p)[off]); break;
        case DC_BOOL: printf(((const uint8_t *)p)[off] ? "true" : "false"); break;
        default: printf("?"); break;
        }
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
    printf(n > shown ? ", ...]\n" : "]\n");
}
