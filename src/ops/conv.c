/* Convolutions (book §4.2) with torch.nn.functional semantics.
 *
 * conv2d:  y[n, o, i, j] = b[o] + sum_{c in group(o), kh, kw}
 *                 w[o, c, kh, kw] * x[n, c, i*sh - ph + kh*dh, j*sw - pw + kw*dw]
 *          (x read as 0 outside the image). In matrix form per image and group,
 *          y_g = W_g @ im2col(x)_g, so
 *            dX = col2im(W_g^T @ g_g)           (a transposed convolution of g)
 *            dW = sum_n g_n,g @ im2col(x_n)_g^T
 *            db = sum of g over n, i, j.
 * conv_transpose2d is the first of these, dX, used as a forward op: its weight
 * [Cin, Cout/groups, KH, KW] is the weight of the convolution it is the adjoint of, and
 * its backward is that convolution (dX) and the same weight gradient with roles swapped.
 * Both run on the three passes of src/kernels/conv_kernels.h; the 1-D versions are the 2-D
 * ones on a height-1 view (no copy). */
#include "../core/internal.h"
#include "../kernels/conv_kernels.h"
#include "../kernels/kernels.h"

#include <string.h>

_Static_assert(sizeof(dc_conv_shape) <= sizeof(((dc_node *)0)->i),
               "the conv geometry is stored in node->i");

/* ---- Validation (before anything is allocated) ------------------------------------------ */

/* Name of spatial dim d (0 = height, 1 = width) for messages; a 1-D op only has "length". */
static const char *dim_name(bool is_1d, int d)
{
    return is_1d ? "length" : (d ? "width" : "height");
}

/* A weight's shape for messages, as the user passed it (1-D ops see no height dim). */
static const char *weight_str(const dc_tensor *w, bool is_1d, char *buf, size_t size)
{
    if (!is_1d) return dc__shape_fmt(w->ndim, w->shape, buf, size);
    const int64_t shape[3] = {w->shape[0], w->shape[1], w->shape[3]};
    return dc__shape_fmt(3, shape, buf, size);
}

static bool check_dtypes(const char *op, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b)
{
    if (!dc__check_float(x, op) || !dc__check_same_dtype(x, w, op)) return false;
    return !b || dc__check_same_dtype(x, b, op);
}

/* stride >= 1, dilation >= 1, padding >= 0 (output_padding >= 0 if given), groups >= 1.
 * A 1-D op only checks its width entries (the height ones are fixed internally). */
static bool check_options(const char *op, bool is_1d, const int *stride, const int *padding,
                          const int *dilation, const int *output_padding, int groups)
{
    for (int d = is_1d ? 1 : 0; d < 2; d++) {
        const char *name = dim_name(is_1d, d);
        if (stride[d] < 1)
            return dc_error("%s: stride must be >= 1, got %d (%s)", op, stride[d], name), false;
        if (dilation[d] < 1)
            return dc_error("%s: dilation must be >= 1, got %d (%s)", op, dilation[d], name), false;
        if (padding[d] < 0)
            return dc_error("%s: padding must be >= 0, got %d (%s)", op, padding[d], name), false;
        if (output_padding && (output_padding[d] < 0 || (output_padding[d] >= stride[d] &&
                                                         output_padding[d] >= dilation[d])))
            return dc_error("%s: output_padding (%d) must be >= 0 and smaller than either stride "
                            "(%d) or dilation (%d) (%s)",
                            op, output_padding[d], stride[d], dilation[d], name),
                   false;
    }
    if (groups < 1) return dc_error("%s: groups must be >= 1, got %d", op, groups), false;
    return true;
}

static bool check_ndims(const char *op, bool is_1d, const dc_tensor *x, const dc_tensor *w,
                        const char *weight_layout)
{
    char buf[96];
    const int want = is_1d ? 3 : 4;
    if (x->ndim != want)
        return dc_error("%s: input must be %d-D %s, got shape %s", op, want,
                        is_1d ? "[N, C, L]" : "[N, C, H, W]",
                        dc__shape_fmt(x->ndim, x->shape, buf, sizeof buf)),
               false;
    if (w->ndim != want)
        return dc_error("%s: weight must be %d-D %s, got shape %s", op, want, weight_layout,
                        dc__shape_fmt(w->ndim, w->shape, buf, sizeof buf)),
               false;
    return true;
}

static bool check_bias(const char *op, const dc_tensor *b, int64_t channels)
{
    char buf[96];
    if (b && (b->ndim != 1 || b->shape[0] != channels))
        return dc_error("%s: bias must have shape [%lld] (one per output channel), got %s", op,
                        (long long)channels, dc__shape_fmt(b->ndim, b->shape, buf, sizeof buf)),
               false;
    return true;
}

/* Convolution output size along one dim; -1 with an error when the (dilated) kernel does
 * not fit in the padded input. */
static int64_t conv_out_size(const char *op, bool is_1d, int d, int64_t in, int64_t kernel,
                             int stride, int padding, int dilation)
{
    const int64_t span = (int64_t)dilation * (kernel - 1) + 1, padded = in + 2 * (int64_t)padding;
    if (kernel < 1)
        return dc_error("%s: kernel %s must be >= 1, got %lld", op, dim_name(is_1d, d),
                        (long long)kernel),
               -1;
    if (padded < span)
        return dc_error("%s: kernel %s %lld (dilated: %lld) is larger than the padded input "
                        "%s %lld (output size would be < 1)",
                        op, dim_name(is_1d, d), (long long)kernel, (long long)span,
                        dim_name(is_1d, d), (long long)padded),
               -1;
    return (padded - span) / stride + 1;
}

/* ---- Running one pass into a new tensor ----------------------------------------------- */

/* New (unpublished) tensor of `shape` filled by one kernel pass:
 *   FORWARD:         image a, weight b (+ bias)  -> columns
 *   BACKWARD_DATA:   columns a, weight b (+ bias) -> image
 *   BACKWARD_WEIGHT: image a, columns b          -> weight gradient, and into `db` (if not
 *                    NULL) the bias gradient: the columns summed per channel
 * All inputs contiguous. NULL on allocation failure. */
static dc_tensor *conv_pass(dc_conv_pass pass, const dc_conv_shape *s, dc_dtype dtype,
                            const dc_tensor *a, const dc_tensor *b, const dc_tensor *bias, int ndim,
                            const int64_t *shape, dc_tensor *db)
{
    const bool f64 = dtype == DC_F64;
    dc_tensor *out = dc__alloc_result(dtype, ndim, shape);
    if (!out) return NULL;
    const size_t scratch_bytes = dc_conv_scratch_bytes(s, f64, pass);
    size_t scratch_capacity = 0;
    void *scratch = scratch_bytes ? dc__scratch_alloc(scratch_bytes, &scratch_capacity) : NULL;
    if (scratch_bytes && !scratch) {
        dc_tensor_free(out);
        return NULL;
    }
    const void *pa = dc_data(a), *pb = dc_data(b), *pbias = bias ? dc_data(bias) : NULL;
    switch (pass) {
    case DC_CONV_FORWARD: dc_conv_forward(s, f64, pa, pb, pbias, dc_data(out), scratch); break;
    case DC_CONV_BACKWARD_DATA:
        dc_conv_backward_data(s, f64, pa, pb, pbias, dc_data(out), scratch);
        break;
    case DC_CONV_BACKWARD_WEIGHT:
        dc_conv_backward_weight(s, f64, pa, pb, dc_data(out), db ? dc_data(db) : NULL, scratch);
        break;
    }
    dc__scratch_free(scratch, scratch_capacity);
    return out;
}

/* db[c] = sum of g[n, c, ...] over n and positions (g contiguous [N, C, ...]), threaded
 * over channels: the bias gradient when no weight gradient is computed (which sums it on
 * the way). Each plane is summed by dc_sum_f32/f64 (kernels.h), the totals in double. */
typedef struct {
    const dc_tensor *g;
    dc_tensor *db;
    int64_t N, C, L;
} channel_sums_job;

static void channel_sums_range(void *ctx, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const channel_sums_job *j = ctx;
    const bool f64 = j->g->dtype == DC_F64;
    for (int64_t c = begin; c < end; c++) {
        double acc = 0;
        for (int64_t n = 0; n < j->N; n++) {
            const int64_t off = (n * j->C + c) * j->L;
            acc += f64 ? dc_sum_f64((const double *)dc_data(j->g) + off, j->L)
                       : dc_sum_f32((const float *)dc_data(j->g) + off, j->L);
        }
        if (f64) ((double *)dc_data(j->db))[c] = acc;
        else ((float *)dc_data(j->db))[c] = (float)acc;
    }
}

static void channel_sums(const dc_tensor *g, dc_tensor *db)
{
    const int64_t N = g->shape[0], C = g->shape[1];
    const int64_t L = N > 0 && C > 0 ? dc_numel(g) / (N * C) : 0;
    channel_sums_job j = {g, db, N, C, L};
    dc_parallel_for(C, N * L >= 65536 ? 1 : C, channel_sums_range, &j);
}

/* ---- Shared forward/backward plumbing ------------------------------------------------- */

/* Backward of both ops. saved[0] = the op's input x, saved[1] = its weight (contiguous).
 * conv2d:           dX = backward_data(g, W),  dW = backward_weight(image x, columns g)
 * conv_transpose2d: dX = forward(g, W),        dW = backward_weight(image g, columns x) */
static int conv_backward_common(dc_node *node, dc_tensor *g, dc_tensor **grads, bool transposed)
{
    dc_conv_shape s;
    memcpy(&s, node->i, sizeof s);
    dc_tensor *x = node->saved[0], *w = node->saved[1];
    dc_tensor *gc = dc_contiguous(g);
    if (!x || !w || !gc) return -1;
    if (dc__needs_grad(node, 0)) {
        grads[0] = dc__publish(conv_pass(transposed ? DC_CONV_FORWARD : DC_CONV_BACKWARD_DATA, &s,
                                         g->dtype, gc, w, NULL, x->ndim, x->shape, NULL));
        if (!grads[0]) return -1;
    }
    /* the bias gradient sums g per output channel: conv2d's weight pass does it while it
     * reads g (a transposed conv's weight pass reads g as its image: no) */
    dc_tensor *db = NULL;
    if (dc__needs_grad(node, 2)) {
        const int64_t channels = g->shape[1];
        if (!(db = dc__alloc_result(g->dtype, 1, &channels))) return -1;
        if (transposed || !dc__needs_grad(node, 1)) channel_sums(gc, db);
    }
    if (dc__needs_grad(node, 1)) {
        grads[1] = dc__publish(conv_pass(DC_CONV_BACKWARD_WEIGHT, &s, g->dtype, transposed ? gc : x,
                                         transposed ? x : gc, NULL, w->ndim, w->shape,
                                         transposed ? NULL : db));
        if (!grads[1]) {
            dc_tensor_free(db);
            return -1;
        }
    }
    if (db) grads[2] = dc__publish(db);
    return 0;
}

static int conv2d_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    return conv_backward_common(node, g, grads, false);
}

static int conv_transpose2d_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    return conv_backward_common(node, g, grads, true);
}

/* Compute `pass` on contiguous copies of x, w, b, record the op and publish the result. */
static dc_tensor *conv_run_and_record(const char *name, dc_backward_fn backward, dc_conv_pass pass,
                                      const dc_conv_shape *s, dc_tensor *x, dc_tensor *w,
                                      dc_tensor *b, const int64_t *out_shape)
{
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin(); /* contiguous copies are internal, not part of the graph */
    dc_tensor *xc = dc_contiguous(x), *wc = dc_contiguous(w), *bc = b ? dc_contiguous(b) : NULL;
    dc_grad_mode_restore(prev);
    dc_tensor *out = NULL;
    if (xc && wc && (!b || bc)) out = conv_pass(pass, s, x->dtype, xc, wc, bc, 4, out_shape, NULL);
    dc_node *node = NULL;
    int rc = out ? dc__record(out, name, backward, b ? 3 : 2, (dc_tensor *[]){x, w, b}, &node) : -1;
    if (rc == 0 && node) {
        memcpy(node->i, s, sizeof *s);
        if (dc__save(node, xc) < 0 || dc__save(node, wc) < 0) rc = -1;
    }
    dc_scope_end(scope);
    if (rc != 0) {
        dc_tensor_free(out);
        return NULL;
    }
    return dc__publish(out);
}

/* ---- conv2d ------------------------------------------------------------------------- */

static dc_tensor *conv2d_impl(const char *op, bool is_1d, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                              dc_conv2d_opts o)
{
    if (!check_dtypes(op, x, w, b) ||
        !check_options(op, is_1d, o.stride, o.padding, o.dilation, NULL, o.groups))
        return NULL;
    const int64_t cin = x->shape[1], cout = w->shape[0];
    char wb[96];
    if (cin % o.groups || cout % o.groups)
        return dc_error("%s: groups=%d must divide both in_channels=%lld and out_channels=%lld", op,
                        o.groups, (long long)cin, (long long)cout);
    if (w->shape[1] * o.groups != cin)
        return dc_error("%s: weight %s with groups=%d expects in_channels=%lld, but the input "
                        "has in_channels=%lld",
                        op, weight_str(w, is_1d, wb, sizeof wb), o.groups,
                        (long long)(w->shape[1] * o.groups), (long long)cin);
    if (!check_bias(op, b, cout)) return NULL;
    int64_t out_hw[2];
    for (int d = 0; d < 2; d++)
        if ((out_hw[d] = conv_out_size(op, is_1d, d, x->shape[2 + d], w->shape[2 + d], o.stride[d],
                                       o.padding[d], o.dilation[d])) < 0)
            return NULL;
    const dc_conv_shape s = {
        .batch = x->shape[0],
        .groups = o.groups,
        .in_channels = cin,
        .in_h = x->shape[2],
        .in_w = x->shape[3],
        .out_channels = cout,
        .out_h = out_hw[0],
        .out_w = out_hw[1],
        .kernel_h = w->shape[2],
        .kernel_w = w->shape[3],
        .stride_h = o.stride[0],
        .stride_w = o.stride[1],
        .pad_h = o.padding[0],
        .pad_w = o.padding[1],
        .dil_h = o.dilation[0],
        .dil_w = o.dilation[1],
    };
    const int64_t out_shape[4] = {s.batch, cout, s.out_h, s.out_w};
    return conv_run_and_record("conv2d", conv2d_backward, DC_CONV_FORWARD, &s, x, w, b, out_shape);
}

dc_tensor *dc_conv2d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, dc_conv2d_opts opts)
{
    static const char op[] = "dc_conv2d";
    DC_CHECK_TENSOR(x, op);
    DC_CHECK_TENSOR(weight, op);
    if (!check_ndims(op, false, x, weight, "[Cout, Cin/groups, KH, KW]")) return NULL;
    return conv2d_impl(op, false, x, weight, bias, opts);
}

/* ---- conv_transpose2d ------------------------------------------------------------------ */

static dc_tensor *conv_transpose2d_impl(const char *op, bool is_1d, dc_tensor *x, dc_tensor *w,
                                        dc_tensor *b, dc_conv_transpose2d_opts o)
{
    if (!check_dtypes(op, x, w, b) ||
        !check_options(op, is_1d, o.stride, o.padding, o.dilation, o.output_padding, o.groups))
        return NULL;
    const int64_t cin = x->shape[1], cout = w->shape[1] * o.groups;
    char wb[96];
    if (cin % o.groups)
        return dc_error("%s: groups=%d must divide in_channels=%lld", op, o.groups, (long long)cin);
    if (w->shape[0] != cin)
        return dc_error("%s: weight %s expects in_channels=%lld (weight.shape[0]), but the "
                        "input has in_channels=%lld",
                        op, weight_str(w, is_1d, wb, sizeof wb), (long long)w->shape[0],
                        (long long)cin);
    if (!check_bias(op, b, cout)) return NULL;
    /* out = (in-1)*s - 2p + d(k-1) + output_padding + 1 */
    int64_t out_hw[2];
    for (int d = 0; d < 2; d++) {
        const int64_t k = w->shape[2 + d];
        if (k < 1)
            return dc_error("%s: kernel %s must be >= 1, got %lld", op, dim_name(is_1d, d),
                            (long long)k);
        out_hw[d] = (x->shape[2 + d] - 1) * o.stride[d] - 2 * (int64_t)o.padding[d] +
                    (int64_t)o.dilation[d] * (k - 1) + o.output_padding[d] + 1;
        if (out_hw[d] < 1)
            return dc_error("%s: output %s would be %lld (< 1): padding %d is too large for "
                            "input %s %lld",
                            op, dim_name(is_1d, d), (long long)out_hw[d], o.padding[d],
                            dim_name(is_1d, d), (long long)x->shape[2 + d]);
    }
    /* The convolution this op is the adjoint of: its image is our output, its columns are
     * our input, its weight is ours ([its out_channels = cin, its in_channels/G, KH, KW]). */
    const dc_conv_shape s = {
        .batch = x->shape[0],
        .groups = o.groups,
        .in_channels = cout,
        .in_h = out_hw[0],
        .in_w = out_hw[1],
        .out_channels = cin,
        .out_h = x->shape[2],
        .out_w = x->shape[3],
        .kernel_h = w->shape[2],
        .kernel_w = w->shape[3],
        .stride_h = o.stride[0],
        .stride_w = o.stride[1],
        .pad_h = o.padding[0],
        .pad_w = o.padding[1],
        .dil_h = o.dilation[0],
        .dil_w = o.dilation[1],
    };
    const int64_t out_shape[4] = {s.batch, cout, out_hw[0], out_hw[1]};
    return conv_run_and_record("conv_transpose2d", conv_transpose2d_backward, DC_CONV_BACKWARD_DATA,
                               &s, x, w, b, out_shape);
}

dc_tensor *dc_conv_transpose2d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                               dc_conv_transpose2d_opts opts)
{
    static const char op[] = "dc_conv_transpose2d";
    DC_CHECK_TENSOR(x, op);
    DC_CHECK_TENSOR(weight, op);
    if (!check_ndims(op, false, x, weight, "[Cin, Cout/groups, KH, KW]")) return NULL;
    return conv_transpose2d_impl(op, false, x, weight, bias, opts);
}

/* ---- 1-D versions: the 2-D op on [N, C, 1, L] views ------------------------------------ */

/* Runs the 2-D impl on height-1 views of x and w inside a scope, and removes the height
 * dim of the result (all views, so gradients flow back through them). */
#define RUN_AS_2D(impl_call)                                                                       \
    do {                                                                                           \
        size_t scope_ = dc_scope_begin();                                                          \
        dc_tensor *x2 = dc_unsqueeze(x, 2), *w2 = dc_unsqueeze(weight, 2);                         \
        dc_tensor *y2 = (x2 && w2) ? (impl_call) : NULL;                                           \
        dc_tensor *y = y2 ? dc_squeeze(y2, 2) : NULL;                                              \
        if (!y) {                                                                                  \
            dc_scope_end(scope_);                                                                  \
            return NULL;                                                                           \
        }                                                                                          \
        return dc_scope_return(scope_, y);                                                         \
    } while (0)

dc_tensor *dc_conv1d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, int stride, int padding,
                     int dilation, int groups)
{
    static const char op[] = "dc_conv1d";
    DC_CHECK_TENSOR(x, op);
    DC_CHECK_TENSOR(weight, op);
    if (!check_ndims(op, true, x, weight, "[Cout, Cin/groups, K]")) return NULL;
    const dc_conv2d_opts o = {{1, stride}, {0, padding}, {1, dilation}, groups};
    RUN_AS_2D(conv2d_impl(op, true, x2, w2, bias, o));
}

dc_tensor *dc_conv_transpose1d(dc_tensor *x, dc_tensor *weight, dc_tensor *bias, int stride,
                               int padding, int output_padding, int groups, int dilation)
{
    static const char op[] = "dc_conv_transpose1d";
    DC_CHECK_TENSOR(x, op);
    DC_CHECK_TENSOR(weight, op);
    if (!check_ndims(op, true, x, weight, "[Cin, Cout/groups, K]")) return NULL;
    const dc_conv_transpose2d_opts o = {
        {1, stride}, {0, padding}, {0, output_padding}, groups, {1, dilation}};
    RUN_AS_2D(conv_transpose2d_impl(op, true, x2, w2, bias, o));
}
