/* Zero-copy views (book §2.2): new shape/strides/offset over the same storage.
 * Each view records a backward that maps the gradient back to the input's layout. */
#include "internal.h"

#include <string.h>

/* ---- Backward functions shared by the views --------------------------------------------- */

/* Reshape-like views: the gradient is reshaped back to the input's shape. */
static int reshape_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *in = node->inputs[0];
    grads[0] = dc_reshape(g, in->ndim, in->shape);
    return grads[0] ? 0 : -1;
}

static int permute_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    int inverse[DC_MAX_DIMS];
    for (int d = 0; d < node->out_ndim; d++) inverse[node->i[d]] = d;
    grads[0] = dc_permute(g, inverse);
    return grads[0] ? 0 : -1;
}

/* Slice-like views (slice, narrow, select): scatter the gradient into zeros.
 * node->i = {dim, start, end, step, removed_dim (select)}. */
static int slice_backward(dc_node *node, dc_tensor *g, dc_tensor **grads);

/* Under create_graph the scattered gradient is itself recorded: its gradient is the same
 * slice of the incoming one (node->i as for the slice). */
static int slice_scatter_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    int dim = (int)node->i[0];
    dc_tensor *window = dc_slice(g, dim, node->i[1], node->i[2], node->i[3]);
    grads[0] = node->i[4] ? dc_squeeze(window, dim) : window;
    return grads[0] ? 0 : -1;
}

static int slice_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *in = node->inputs[0];
    dc_tensor *zeros = dc_zeros(in->dtype, in->ndim, in->shape);
    int dim = (int)node->i[0];
    dc_tensor *g_in = node->i[4] ? dc_unsqueeze(g, dim) : g;
    dc_tensor *window = dc_slice(zeros, dim, node->i[1], node->i[2], node->i[3]);
    if (!window || !g_in) return -1;
    bool prev = dc_no_grad_begin(); /* a plain copy; recorded below if needed */
    int rc = dc_copy_(window, g_in);
    dc_grad_mode_restore(prev);
    if (rc != 0) return -1;
    dc_node *scatter;
    if (dc__record(zeros, "slice_backward", slice_scatter_backward, 1, &g, &scatter) != 0) return -1;
    if (scatter) memcpy(scatter->i, node->i, sizeof scatter->i);
    grads[0] = zeros;
    return 0;
}

static int expand_backward(dc_node *node, dc_tensor *g, dc_tensor **grads)
{
    const dc_tensor *in = node->inputs[0];
    grads[0] = dc_sum_to_shape(g, in->ndim, in->shape);
    return grads[0] ? 0 : -1;
}

/* Make a view of t and record its backward. */
static dc_tensor *finish_view(dc_tensor *t, int ndim, const int64_t *shape, const int64_t *stride,
                              int64_t offset, const char *op, dc_backward_fn bw,
                              const int64_t *params, int nparams)
{
    dc_tensor *v = dc__make_view(t, ndim, shape, stride, offset);
    if (!v) return NULL;
    dc_node *node;
    if (dc__record(v, op, bw, 1, &t, &node) != 0) {
        dc_tensor_free(v);
        return NULL;
    }
    if (node)
        for (int k = 0; k < nparams; k++) node->i[k] = params[k];
    return dc__publish(v);
}

/* ---- Reshape ------------------------------------------------------------------------------ */

/* Resolve a -1 entry and check the element count. */
static int infer_shape(const dc_tensor *t, int ndim, const int64_t *shape, int64_t *out,
                       const char *op)
{
    if (ndim < 0 || ndim > DC_MAX_DIMS || (ndim > 0 && !shape))
        return dc_error("%s: bad shape (ndim %d)", op, ndim), -1;
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == -1) {
            if (infer >= 0) return dc_error("%s: only one dim can be -1", op), -1;
            infer = d;
        } else if (shape[d] < 0) {
            return dc_error("%s: invalid size %lld in dim %d", op, (long long)shape[d], d), -1;
        } else {
            known *= shape[d];
        }
        out[d] = shape[d];
    }
    int64_t n = dc_numel(t);
    if (infer >= 0) {
        if (known == 0 || n % known != 0) goto mismatch;
        out[infer] = n / known;
    } else if (known != n) {
        goto mismatch;
    }
    return 0;
mismatch:;
    char a[96], b[96];
    dc_error("%s: shape %s is invalid for input of shape %s (%lld elements)", op,
             dc__shape_fmt(ndim, shape, a, sizeof a), dc__shape_fmt(t->ndim, t->shape, b, sizeof b),
             (long long)n);
    return -1;
}

/* Strides that express `shape` over t's memory without a copy, if any exist (the
 * algorithm of torch's computeStride: split t into chunks of dims that are contiguous
 * with each other, and lay the new dims over each chunk). */
static bool view_strides(const dc_tensor *t, int ndim, const int64_t *shape, int64_t *stride)
{
    if (dc_numel(t) == 0 || t->ndim == 0) {
        dc__contiguous_strides(ndim, shape, stride);
        return true;
    }
    int view_d = ndim - 1;
    int64_t chunk_base_stride = t->stride[t->ndim - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int td = t->ndim - 1; td >= 0; td--) {
        tensor_numel *= t->shape[td];
        bool chunk_end = td == 0 || (t->shape[td - 1] != 1 &&
                                     t->stride[td - 1] != tensor_numel * chunk_base_stride);
        if (chunk_end) {
            while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
                stride[view_d] = view_numel * chunk_base_stride;
                view_numel *= shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel) return false;
            if (td > 0) {
                chunk_base_stride = t->stride[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

dc_tensor *dc_view(dc_tensor *t, int ndim, const int64_t *shape)
{
    DC_CHECK_TENSOR(t, "dc_view");
    int64_t s[DC_MAX_DIMS], st[DC_MAX_DIMS];
    if (infer_shape(t, ndim, shape, s, "dc_view") != 0) return NULL;
    if (!view_strides(t, ndim, s, st))
        return dc_error("dc_view: the input's strides cannot express this shape without a copy; "
                        "use dc_reshape");
    return finish_view(t, ndim, s, st, t->offset, "view", reshape_backward, NULL, 0);
}

dc_tensor *dc_reshape(dc_tensor *t, int ndim, const int64_t *shape)
{
    DC_CHECK_TENSOR(t, "dc_reshape");
    int64_t s[DC_MAX_DIMS], st[DC_MAX_DIMS];
    if (infer_shape(t, ndim, shape, s, "dc_reshape") != 0) return NULL;
    if (view_strides(t, ndim, s, st))
        return finish_view(t, ndim, s, st, t->offset, "reshape", reshape_backward, NULL, 0);
    size_t scope = dc_scope_begin();
    dc_tensor *copy = dc_contiguous(t);
    dc_tensor *out = copy ? dc_view(copy, ndim, s) : NULL;
    return dc_scope_return(scope, out);
}

dc_tensor *dc_flatten(dc_tensor *t, int start_dim, int end_dim)
{
    DC_CHECK_TENSOR(t, "dc_flatten");
    if (t->ndim == 0) return dc_reshape(t, 1, (int64_t[]){1});
    int s = dc__norm_dim(start_dim, t->ndim, "dc_flatten");
    int e = dc__norm_dim(end_dim, t->ndim, "dc_flatten");
    if (s < 0 || e < 0) return NULL;
    if (s > e) return dc_error("dc_flatten: start_dim %d is after end_dim %d", start_dim, end_dim);
    int64_t shape[DC_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < s; d++) shape[n++] = t->shape[d];
    int64_t merged = 1;
    for (int d = s; d <= e; d++) merged *= t->shape[d];
    shape[n++] = merged;
    for (int d = e + 1; d < t->ndim; d++) shape[n++] = t->shape[d];
    return dc_reshape(t, n, shape);
}

dc_tensor *dc_unsqueeze(dc_tensor *t, int dim)
{
    DC_CHECK_TENSOR(t, "dc_unsqueeze");
    if (t->ndim == DC_MAX_DIMS) return dc_error("dc_unsqueeze: already %d dims", DC_MAX_DIMS);
    if (dim < -(t->ndim + 1) || dim > t->ndim)
        return dc_error("dc_unsqueeze: dim %d out of range for %d dims", dim, t->ndim);
    if (dim < 0) dim += t->ndim + 1;
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    for (int d = 0, k = 0; d <= t->ndim; d++) {
        if (d == dim) {
            shape[d] = 1;
            stride[d] = dim < t->ndim ? t->stride[dim] * t->shape[dim] : 1;
        } else {
            shape[d] = t->shape[k];
            stride[d] = t->stride[k];
            k++;
        }
    }
    return finish_view(t, t->ndim + 1, shape, stride, t->offset, "unsqueeze", reshape_backward,
                       NULL, 0);
}

dc_tensor *dc_squeeze(dc_tensor *t, int dim)
{
    DC_CHECK_TENSOR(t, "dc_squeeze");
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    int n = 0;
    int target = -1;
    if (dim != -100) {
        target = dc__norm_dim(dim, t->ndim, "dc_squeeze");
        if (target < 0) return NULL;
        if (t->ndim > 0 && t->shape[target] != 1)
            return dc_error("dc_squeeze: dim %d has size %lld, not 1", dim,
                            (long long)t->shape[target]);
    }
    for (int d = 0; d < t->ndim; d++) {
        bool drop = t->shape[d] == 1 && (target < 0 || d == target);
        if (drop) continue;
        shape[n] = t->shape[d];
        stride[n] = t->stride[d];
        n++;
    }
    return finish_view(t, n, shape, stride, t->offset, "squeeze", reshape_backward, NULL, 0);
}

/* ---- Permute -------------------------------------------------------------------------------- */

dc_tensor *dc_permute(dc_tensor *t, const int *dims)
{
    DC_CHECK_TENSOR(t, "dc_permute");
    if (!dims && t->ndim > 0) return dc_error("dc_permute: dims is NULL");
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS], params[DC_MAX_DIMS];
    bool seen[DC_MAX_DIMS] = {false};
    for (int d = 0; d < t->ndim; d++) {
        int src = dc__norm_dim(dims[d], t->ndim, "dc_permute");
        if (src < 0) return NULL;
        if (seen[src]) return dc_error("dc_permute: dim %d repeated", dims[d]);
        seen[src] = true;
        shape[d] = t->shape[src];
        stride[d] = t->stride[src];
        params[d] = src;
    }
    return finish_view(t, t->ndim, shape, stride, t->offset, "permute", permute_backward, params,
                       t->ndim);
}

dc_tensor *dc_transpose(dc_tensor *t, int dim0, int dim1)
{
    DC_CHECK_TENSOR(t, "dc_transpose");
    int a = dc__norm_dim(dim0, t->ndim, "dc_transpose");
    int b = dc__norm_dim(dim1, t->ndim, "dc_transpose");
    if (a < 0 || b < 0) return NULL;
    int dims[DC_MAX_DIMS];
    for (int d = 0; d < t->ndim; d++) dims[d] = d;
    if (t->ndim > 0) {
        dims[a] = b;
        dims[b] = a;
    }
    return dc_permute(t, dims);
}

/* ---- Slicing -------------------------------------------------------------------------------- */

dc_tensor *dc_slice(dc_tensor *t, int dim, int64_t start, int64_t end, int64_t step)
{
    DC_CHECK_TENSOR(t, "dc_slice");
    if (t->ndim == 0) return dc_error("dc_slice: cannot slice a scalar");
    int d = dc__norm_dim(dim, t->ndim, "dc_slice");
    if (d < 0) return NULL;
    if (step <= 0) return dc_error("dc_slice: step must be positive, got %lld", (long long)step);
    int64_t n = t->shape[d];
    if (start < 0) start += n;
    if (end < 0) end += n;
    start = start < 0 ? 0 : start > n ? n : start; /* clamp like Python slicing */
    end = end < start ? start : end > n ? n : end;
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(stride, t->stride, sizeof stride);
    shape[d] = (end - start + step - 1) / step;
    stride[d] = t->stride[d] * step;
    int64_t params[5] = {d, start, end, step, 0};
    return finish_view(t, t->ndim, shape, stride, t->offset + start * t->stride[d], "slice",
                       slice_backward, params, 5);
}

dc_tensor *dc_narrow(dc_tensor *t, int dim, int64_t start, int64_t length)
{
    DC_CHECK_TENSOR(t, "dc_narrow");
    int d = dc__norm_dim(dim, t->ndim, "dc_narrow");
    if (d < 0) return NULL;
    if (t->ndim == 0) return dc_error("dc_narrow: cannot narrow a scalar");
    if (start < 0) start += t->shape[d];
    if (start < 0 || length < 0 || start + length > t->shape[d])
        return dc_error("dc_narrow: [%lld, %lld) out of range for dim %d of size %lld",
                        (long long)start, (long long)(start + length), d,
                        (long long)t->shape[d]);
    return dc_slice(t, d, start, start + length, 1);
}

dc_tensor *dc_select(dc_tensor *t, int dim, int64_t index)
{
    DC_CHECK_TENSOR(t, "dc_select");
    if (t->ndim == 0) return dc_error("dc_select: cannot index a scalar");
    int d = dc__norm_dim(dim, t->ndim, "dc_select");
    if (d < 0) return NULL;
    int64_t n = t->shape[d];
    if (index < -n || index >= n)
        return dc_error("dc_select: index %lld out of range for dim %d of size %lld",
                        (long long)index, d, (long long)n);
    if (index < 0) index += n;
    int64_t shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    for (int s = 0, k = 0; s < t->ndim; s++)
        if (s != d) {
            shape[k] = t->shape[s];
            stride[k] = t->stride[s];
            k++;
        }
    int64_t params[5] = {d, index, index + 1, 1, 1};
    return finish_view(t, t->ndim - 1, shape, stride, t->offset + index * t->stride[d], "select",
                       slice_backward, params, 5);
}

/* ---- Broadcasting view ---------------------------------------------------------------------- */

dc_tensor *dc_expand(dc_tensor *t, int ndim, const int64_t *shape)
{
    DC_CHECK_TENSOR(t, "dc_expand");
    if (ndim < t->ndim || ndim > DC_MAX_DIMS || (ndim > 0 && !shape))
        return dc_error("dc_expand: cannot expand %d dims to %d", t->ndim, ndim);
    int64_t out_shape[DC_MAX_DIMS], stride[DC_MAX_DIMS];
    int lead = ndim - t->ndim;
    for (int d = 0; d < ndim; d++) {
        int td = d - lead;
        int64_t want = shape[d];
        if (td < 0) {
            if (want < 0) return dc_error("dc_expand: size -1 not allowed for a new dim %d", d);
            out_shape[d] = want;
            stride[d] = 0;
        } else if (want == -1 || want == t->shape[td]) {
            out_shape[d] = t->shape[td];
            stride[d] = t->stride[td];
        } else if (t->shape[td] == 1) {
            out_shape[d] = want;
            stride[d] = 0;
        } else {
            char a[96], b[96];
            return dc_error("dc_expand: cannot expand shape %s to %s (dim %d)",
                            dc__shape_fmt(t->ndim, t->shape, a, sizeof a),
                            dc__shape_fmt(ndim, shape, b, sizeof b), d);
        }
    }
    return finish_view(t, ndim, out_shape, stride, t->offset, "expand", expand_backward, NULL, 0);
}
