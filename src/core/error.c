/* Errors as values: the first failure since dc_clear_error() is kept, per thread, so a chain
 * of calls can be checked once at its end and still report the cause. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];
static _Thread_local bool error_pending;

const char *dc_last_error(void) { return last_error; }

bool dc_has_error(void) { return error_pending; }

void dc_clear_error(void)
{
    error_pending = false;
    last_error[0] = '\0';
}

void *dc_error(const char *fmt, ...)
{
    if (error_pending) return NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    error_pending = true;
    return NULL;
}

int dc__norm_dim(int dim, int ndim, const char *op)
{
    int n = ndim == 0 ? 1 : ndim; /* a scalar accepts dim 0 / -1, like torch */
    if (dim < -n || dim >= n) {
        dc_error("%s: dim %d out of range for a tensor with %d dims", op, dim, ndim);
        return -1;
    }
    return dim < 0 ? dim + n : dim;
}

bool dc__check_float(const dc_tensor *t, const char *op)
{
    if (t->dtype == DC_F32 || t->dtype == DC_F64) return true;
    dc_error("%s: expected a float32 or float64 tensor, got %s", op, dc_dtype_name(t->dtype));
    return false;
}

bool dc__check_same_dtype(const dc_tensor *a, const dc_tensor *b, const char *op)
{
    if (a->dtype == b->dtype) return true;
    dc_error("%s: dtype mismatch (%s vs %s; there is no implicit promotion: convert one with "
             "dc_to_dtype)", op, dc_dtype_name(a->dtype), dc_dtype_name(b->dtype));
    return false;
}

const char *dc__shape_fmt(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, d ? ", %lld" : "%lld",
                                 (long long)shape[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
    return buf;
}
