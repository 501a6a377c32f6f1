/* Datasets and mini-batch loaders: subset/split, per-channel normalisation, shuffled
 * batches (reproducible per seed and epoch) and image augmentation (random crop with zero
 * padding, horizontal flip).
 *
 * A batch is built by gathering whole sample rows (one memcpy per sample, threaded) through
 * the epoch's permutation, so the cost of a batch is the copy of its bytes. */
#include "core/internal.h"
#include "data/data_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Helpers ------------------------------------------------------------------------- */

int64_t dc__rng_below(dc_rng *rng, int64_t bound)
{
    /* Lemire's multiply-shift: the high half of u64 * bound is uniform in [0, bound) up to
     * a bias of bound / 2^64, far below anything observable here. */
    return (int64_t)(((__uint128_t)dc_rng_u64(rng) * (uint64_t)bound) >> 64);
}

/* A generator for one (seed, epoch, stream) triple, so every epoch's shuffle and
 * augmentation can be recomputed without replaying earlier epochs. */
static void rng_for(dc_rng *rng, uint64_t seed, int64_t epoch, uint64_t stream)
{
    dc_rng_seed(rng, seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(epoch + 1)) ^
                         (stream * 0xbf58476d1ce4e5b9ULL));
}

/* perm = a uniformly random permutation of 0..n-1 (Fisher-Yates). */
static void random_permutation(int64_t *perm, int64_t n, dc_rng *rng)
{
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = dc__rng_below(rng, i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

typedef struct {
    char *dst;
    const char *src;
    const int64_t *index;
    size_t row_bytes;
} gather_job;

static void gather_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const gather_job *j = ctx;
    for (int64_t i = begin; i < end; i++)
        memcpy(j->dst + (size_t)i * j->row_bytes, j->src + (size_t)j->index[i] * j->row_bytes,
               j->row_bytes);
}

void dc__gather_rows(void *dst, const void *src, const int64_t *index, int64_t n, size_t row_bytes)
{
    gather_job job = {dst, src, index, row_bytes};
    /* threads only pay off for batches of some size: ~256 KiB per chunk */
    int64_t grain = (int64_t)((1 << 18) / (row_bytes ? row_bytes : 1)) + 1;
    dc_parallel_for(n, grain, gather_range, &job);
}

static size_t row_bytes_of(const dc_tensor *t)
{
    size_t bytes = dc__elsize(t->dtype);
    for (int d = 1; d < t->ndim; d++) bytes *= (size_t)t->shape[d];
    return bytes;
}

/* New unpublished tensor with t's shape but n rows, filled with t's rows index[0..n). */
static dc_tensor *gather_tensor(const dc_tensor *t, const int64_t *index, int64_t n)
{
    int64_t shape[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    shape[0] = n;
    dc_tensor *out = dc__alloc_result(t->dtype, t->ndim, shape);
    if (out) dc__gather_rows(dc_data(out), dc_data(t), index, n, row_bytes_of(t));
    return out;
}

/* ---- Datasets ------------------------------------------------------------------------ */

dc_dataset *dc__dataset_adopt(dc_tensor *inputs, dc_tensor *targets)
{
    dc_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        dc_tensor_free(inputs);
        dc_tensor_free(targets);
        return dc_error("dc_dataset: out of memory");
    }
    ds->inputs = inputs;
    ds->targets = targets;
    return ds;
}

/* A reference the caller owns to t, or to a contiguous copy of t. */
static dc_tensor *own_contiguous(dc_tensor *t)
{
    size_t marker = dc_scope_begin(); /* so dc_contiguous's result is never the caller's */
    dc_tensor *c = dc_contiguous(t);
    if (c) dc_tensor_retain(c);
    dc_scope_end(marker);
    return c;
}

dc_dataset *dc_dataset_new(dc_tensor *inputs, dc_tensor *targets)
{
    DC_CHECK_TENSOR(inputs, "dc_dataset_new");
    DC_CHECK_TENSOR(targets, "dc_dataset_new");
    if (inputs->ndim < 1 || targets->ndim < 1)
        return dc_error("dc_dataset_new: inputs and targets need a sample dim (got %d and %d "
                        "dims)",
                        inputs->ndim, targets->ndim);
    if (inputs->shape[0] != targets->shape[0])
        return dc_error("dc_dataset_new: %lld inputs but %lld targets", (long long)inputs->shape[0],
                        (long long)targets->shape[0]);
    dc_tensor *x = own_contiguous(inputs);
    dc_tensor *y = x ? own_contiguous(targets) : NULL;
    if (!y) {
        dc_tensor_free(x);
        return NULL;
    }
    return dc__dataset_adopt(x, y);
}

void dc_dataset_free(dc_dataset *ds)
{
    if (!ds) return;
    dc_tensor_free(ds->inputs);
    dc_tensor_free(ds->targets);
    free(ds);
}

int64_t dc_dataset_size(const dc_dataset *ds) { return ds ? ds->inputs->shape[0] : 0; }

dc_dataset *dc_dataset_subset(const dc_dataset *ds, const int64_t *indices, int64_t n)
{
    if (!ds) return dc_error("dc_dataset_subset: dataset is NULL");
    if (n < 0 || (n > 0 && !indices)) return dc_error("dc_dataset_subset: bad index list");
    int64_t size = dc_dataset_size(ds);
    for (int64_t i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= size)
            return dc_error("dc_dataset_subset: index %lld out of range for %lld samples",
                            (long long)indices[i], (long long)size);
    dc_tensor *x = gather_tensor(ds->inputs, indices, n);
    dc_tensor *y = x ? gather_tensor(ds->targets, indices, n) : NULL;
    if (!y) {
        dc_tensor_free(x);
        return NULL;
    }
    dc_dataset *sub = dc__dataset_adopt(x, y);
    if (sub) {
        sub->n_classes = ds->n_classes;
        sub->class_names = ds->class_names;
    }
    return sub;
}

int dc_dataset_random_batch(const dc_dataset *ds, int64_t B, dc_rng *rng, dc_tensor **x,
                            dc_tensor **y)
{
    *x = *y = NULL;
    int64_t n = dc_dataset_size(ds);
    if (n < 1 || B < 1 || !rng) {
        dc_error("dc_dataset_random_batch: cannot draw %lld samples from a dataset of %lld%s",
                 (long long)B, (long long)n, rng ? "" : " (no generator)");
        return -1;
    }
    int64_t *index = malloc((size_t)B * sizeof *index);
    if (!index) return dc_error("dc_dataset_random_batch: out of memory"), -1;
    for (int64_t i = 0; i < B; i++) index[i] = (int64_t)(dc_rng_u64(rng) % (uint64_t)n);
    dc_tensor *bx = gather_tensor(ds->inputs, index, B);
    dc_tensor *by = bx ? gather_tensor(ds->targets, index, B) : NULL;
    free(index);
    if (!by) {
        dc_tensor_free(bx);
        return -1;
    }
    *x = dc__publish(bx);
    *y = dc__publish(by);
    return 0;
}

int dc_dataset_split(const dc_dataset *ds, int64_t n_val, uint64_t seed, dc_dataset **train,
                     dc_dataset **val)
{
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!ds || !train || !val) {
        dc_error("dc_dataset_split: NULL argument");
        return -1;
    }
    int64_t n = dc_dataset_size(ds);
    if (n_val < 0 || n_val > n) {
        dc_error("dc_dataset_split: n_val = %lld is not in [0, %lld]", (long long)n_val,
                 (long long)n);
        return -1;
    }
    int64_t *perm = malloc((size_t)(n ? n : 1) * sizeof *perm);
    if (!perm) {
        dc_error("dc_dataset_split: out of memory");
        return -1;
    }
    dc_rng rng;
    rng_for(&rng, seed, -1, 0);
    random_permutation(perm, n, &rng);
    *train = dc_dataset_subset(ds, perm, n - n_val);
    *val = *train ? dc_dataset_subset(ds, perm + (n - n_val), n_val) : NULL;
    free(perm);
    if (!*val) {
        dc_dataset_free(*train);
        *train = NULL;
        return -1;
    }
    return 0;
}

/* Inputs viewed as [N, C, inner]: the channel is dim 1 (C = 1 for 1-D inputs). */
static int channel_layout(const dc_dataset *ds, const char *op, int64_t *n, int64_t *c,
                          int64_t *inner)
{
    if (!ds) {
        dc_error("%s: dataset is NULL", op);
        return -1;
    }
    if (!dc__check_float(ds->inputs, op)) return -1;
    const dc_tensor *x = ds->inputs;
    *n = x->shape[0];
    *c = x->ndim > 1 ? x->shape[1] : 1;
    *inner = 1;
    for (int d = 2; d < x->ndim; d++) *inner *= x->shape[d];
    return 0;
}

/* mean_c = sum x / M and std_c = sqrt(sum (x - mean_c)^2 / M) over the M = N * inner
 * values of channel c, accumulated in double (two passes, so no cancellation). */
int dc_dataset_channel_stats(const dc_dataset *ds, double *mean, double *std, int max_channels)
{
    int64_t n, c, inner;
    if (channel_layout(ds, "dc_dataset_channel_stats", &n, &c, &inner) != 0) return -1;
    if (c > max_channels || !mean || !std) {
        dc_error("dc_dataset_channel_stats: inputs have %lld channels, room for %d", (long long)c,
                 mean && std ? max_channels : 0);
        return -1;
    }
    bool f32 = ds->inputs->dtype == DC_F32;
    const void *data = dc_data(ds->inputs);
    for (int64_t ch = 0; ch < c; ch++) {
        double pass[2] = {0, 0};
        for (int p = 0; p < 2; p++) {
            double m = p ? pass[0] : 0, acc = 0;
            for (int64_t i = 0; i < n; i++) {
                int64_t base = (i * c + ch) * inner;
                for (int64_t k = 0; k < inner; k++) {
                    double v =
                        f32 ? ((const float *)data)[base + k] : ((const double *)data)[base + k];
                    acc += p ? (v - m) * (v - m) : v;
                }
            }
            pass[p] = n * inner > 0 ? acc / (double)(n * inner) : 0;
        }
        mean[ch] = pass[0];
        std[ch] = sqrt(pass[1]);
    }
    return (int)c;
}

int dc_dataset_normalize(dc_dataset *ds, const double *mean, const double *std)
{
    int64_t n, c, inner;
    if (channel_layout(ds, "dc_dataset_normalize", &n, &c, &inner) != 0) return -1;
    if (!mean != !std) {
        dc_error("dc_dataset_normalize: give both mean and std, or neither");
        return -1;
    }
    double *own = NULL;
    if (!mean) {
        own = malloc(2 * (size_t)c * sizeof *own);
        if (!own) {
            dc_error("dc_dataset_normalize: out of memory");
            return -1;
        }
        dc_dataset_channel_stats(ds, own, own + c, (int)c);
        mean = own;
        std = own + c;
    }
    for (int64_t ch = 0; ch < c; ch++)
        if (!(std[ch] > 0)) {
            dc_error("dc_dataset_normalize: std of channel %lld is %g (must be > 0)", (long long)ch,
                     std[ch]);
            free(own);
            return -1;
        }
    bool f32 = ds->inputs->dtype == DC_F32;
    void *data = dc_data(ds->inputs);
    for (int64_t i = 0; i < n; i++)
        for (int64_t ch = 0; ch < c; ch++) {
            int64_t base = (i * c + ch) * inner;
            double shift = mean[ch], scale = 1.0 / std[ch];
            if (f32) {
                float *x = (float *)data + base, fs = (float)shift, fk = (float)scale;
                for (int64_t k = 0; k < inner; k++) x[k] = (x[k] - fs) * fk;
            } else {
                double *x = (double *)data + base;
                for (int64_t k = 0; k < inner; k++) x[k] = (x[k] - shift) * scale;
            }
        }
    free(own);
    return 0;
}

/* ---- Loader -------------------------------------------------------------------------- */

enum { STREAM_SHUFFLE = 1, STREAM_AUGMENT = 2 };

struct dc_loader {
    const dc_dataset *ds;
    int64_t batch_size;
    bool shuffle, drop_last;
    uint64_t seed;
    int64_t epoch;    /* epoch being iterated */
    int64_t next;     /* position in order[] of the next batch's first sample */
    int64_t batch;    /* index of the next batch in the epoch */
    bool epoch_ready; /* order[] holds this epoch's permutation */
    int64_t *order;   /* sample order of the epoch */
    int crop_pad;
    bool hflip;
};

dc_loader *dc_loader_new(const dc_dataset *ds, int64_t batch_size, bool shuffle, bool drop_last,
                         uint64_t seed)
{
    if (!ds) return dc_error("dc_loader_new: dataset is NULL");
    if (batch_size < 1)
        return dc_error("dc_loader_new: batch_size must be >= 1 (got %lld)", (long long)batch_size);
    int64_t n = dc_dataset_size(ds);
    dc_loader *l = calloc(1, sizeof *l);
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!l || !order) {
        free(l);
        free(order);
        return dc_error("dc_loader_new: out of memory");
    }
    *l = (dc_loader){.ds = ds,
                     .batch_size = batch_size,
                     .shuffle = shuffle,
                     .drop_last = drop_last,
                     .seed = seed,
                     .order = order};
    return l;
}

void dc_loader_free(dc_loader *loader)
{
    if (!loader) return;
    free(loader->order);
    free(loader);
}

int dc_loader_set_augment(dc_loader *loader, int crop_pad, bool hflip)
{
    if (!loader) {
        dc_error("dc_loader_set_augment: loader is NULL");
        return -1;
    }
    if (crop_pad < 0 || loader->ds->inputs->ndim < 3) {
        dc_error("dc_loader_set_augment: needs crop_pad >= 0 (got %d) and image inputs [N, "
                 "..., H, W] (got %d dims)",
                 crop_pad, loader->ds->inputs->ndim);
        return -1;
    }
    loader->crop_pad = crop_pad;
    loader->hflip = hflip;
    return 0;
}

void dc_loader_set_epoch(dc_loader *loader, int64_t epoch)
{
    if (!loader) return;
    loader->epoch = epoch < 0 ? 0 : epoch;
    loader->next = 0;
    loader->batch = 0;
    loader->epoch_ready = false;
}

int64_t dc_loader_epoch(const dc_loader *loader) { return loader ? loader->epoch : 0; }

int64_t dc_loader_num_batches(const dc_loader *loader)
{
    if (!loader) return 0;
    int64_t n = dc_dataset_size(loader->ds), b = loader->batch_size;
    return loader->drop_last ? n / b : (n + b - 1) / b;
}

/* Per sample of a batch: the crop offset (dy, dx) in [0, 2 pad] into the zero-padded image
 * and whether to flip. */
typedef struct {
    int dy, dx;
    bool flip;
} augment_draw;

typedef struct {
    char *data; /* the batch inputs, [B, planes, H, W], augmented in place */
    const augment_draw *draw;
    int64_t planes, h, w;
    int pad;
    size_t elsize;
    char *scratch; /* one plane per thread */
} augment_job;

/* Random crop with zero padding, then flip, of one H x W plane (element size es):
 *   out[y][x] = in[y + dy - pad][x' + dx - pad] (0 outside the image),
 *   x' = W - 1 - x when flipped, else x. */
static void augment_plane(char *plane, char *tmp, int64_t h, int64_t w, size_t es, int pad,
                          augment_draw d)
{
    memcpy(tmp, plane, (size_t)(h * w) * es);
    int64_t sy = d.dy - pad, sx = d.dx - pad; /* source offset of the output window */
    int64_t x0 = sx < 0 ? -sx : 0, x1 = w - (sx > 0 ? sx : 0); /* output x with a source */
    for (int64_t y = 0; y < h; y++) {
        char *out = plane + (size_t)(y * w) * es;
        int64_t src_y = y + sy;
        if (src_y < 0 || src_y >= h || x1 <= x0) {
            memset(out, 0, (size_t)w * es);
            continue;
        }
        memset(out, 0, (size_t)x0 * es);
        memcpy(out + (size_t)x0 * es, tmp + (size_t)(src_y * w + x0 + sx) * es,
               (size_t)(x1 - x0) * es);
        memset(out + (size_t)x1 * es, 0, (size_t)(w - x1) * es);
        if (d.flip)
            for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
                char t[8];
                memcpy(t, out + a * es, es);
                memcpy(out + a * es, out + b * es, es);
                memcpy(out + b * es, t, es);
            }
    }
}

static void augment_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    const augment_job *j = ctx;
    size_t plane_bytes = (size_t)(j->h * j->w) * j->elsize;
    char *tmp = j->scratch + (size_t)tid * plane_bytes;
    for (int64_t p = begin; p < end; p++)
        augment_plane(j->data + (size_t)p * plane_bytes, tmp, j->h, j->w, j->elsize, j->pad,
                      j->draw[p / j->planes]);
}

static int augment_batch(dc_loader *l, dc_tensor *x)
{
    int64_t b = x->shape[0], h = x->shape[x->ndim - 2], w = x->shape[x->ndim - 1];
    int64_t planes = dc_numel(x) / (b ? b * h * w : 1);
    size_t es = dc__elsize(x->dtype);
    int threads = dc_get_num_threads();
    augment_draw *draw = malloc((size_t)(b ? b : 1) * sizeof *draw);
    char *scratch = malloc((size_t)threads * (size_t)(h * w) * es + 1);
    if (!draw || !scratch) {
        free(draw);
        free(scratch);
        dc_error("dc_loader_next: out of memory");
        return -1;
    }
    /* one stream per (epoch, batch): independent of thread count and of earlier batches */
    dc_rng rng;
    rng_for(&rng, l->seed, l->epoch, STREAM_AUGMENT + 4 * (uint64_t)l->batch);
    for (int64_t i = 0; i < b; i++) {
        draw[i].dy = (int)dc__rng_below(&rng, 2 * l->crop_pad + 1);
        draw[i].dx = (int)dc__rng_below(&rng, 2 * l->crop_pad + 1);
        draw[i].flip = l->hflip && (dc_rng_u64(&rng) >> 63);
    }
    augment_job job = {dc_data(x), draw, planes, h, w, l->crop_pad, es, scratch};
    /* a thread hand-off costs more than cropping a few planes: ~64K pixels per chunk */
    dc_parallel_for(b * planes, (1 << 16) / (h * w) + 1, augment_range, &job);
    free(draw);
    free(scratch);
    return 0;
}

int dc_loader_next(dc_loader *l, dc_tensor **x, dc_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!l || !x || !y) {
        dc_error("dc_loader_next: NULL argument");
        return -1;
    }
    int64_t n = dc_dataset_size(l->ds);
    if (!l->epoch_ready) {
        if (l->shuffle) {
            dc_rng rng;
            rng_for(&rng, l->seed, l->epoch, STREAM_SHUFFLE);
            random_permutation(l->order, n, &rng);
        } else {
            for (int64_t i = 0; i < n; i++) l->order[i] = i;
        }
        l->epoch_ready = true;
    }
    int64_t count = n - l->next < l->batch_size ? n - l->next : l->batch_size;
    if (count <= 0 || (l->drop_last && count < l->batch_size)) {
        dc_loader_set_epoch(l, l->epoch + 1); /* the next call starts the next epoch */
        return 0;
    }
    const int64_t *index = l->order + l->next;
    dc_tensor *bx = gather_tensor(l->ds->inputs, index, count);
    dc_tensor *by = bx ? gather_tensor(l->ds->targets, index, count) : NULL;
    if (!by || ((l->crop_pad > 0 || l->hflip) && augment_batch(l, bx) != 0)) {
        dc_tensor_free(bx);
        dc_tensor_free(by);
        return -1;
    }
    l->next += count;
    l->batch++;
    *x = dc__publish(bx);
    *y = dc__publish(by);
    return *x && *y ? 1 : -1;
}
