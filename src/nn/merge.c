/* Model merging (book §8.4): weighted averages ("model soups") and task arithmetic
 * (Ilharco et al. 2023) of models that share one architecture, e.g. fine-tunes of one base.
 * Both are one linear combination of state tensors:
 *   out = c0 * base + sum_i c_i * models[i]
 * average: base absent, c_i = weights[i]; task arithmetic: c_i = lambda_i and
 * c0 = 1 - sum_i lambda_i, i.e. out = base + sum_i lambda_i (models[i] - base). */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* out's state = c0 * base + sum_i c[i] * models[i] (base may be NULL), computed in float64
 * for every floating-point tensor, then copied (so out may be one of the inputs). Integer
 * tensors (step counters) are copied from base, else models[0]. */
static int combine(const char *op, dc_module *out, const dc_module *base, double c0, int n,
                   dc_module *const *models, const double *c)
{
    if (!out) return dc_error("%s: out is NULL", op), -1;
    if (n < 1 || !models || !c) return dc_error("%s: need n >= 1 models and their coefficients (n = %d)", op, n), -1;
    for (int i = 0; i < n; i++) {
        if (!models[i]) return dc_error("%s: models[%d] is NULL", op, i), -1;
        if (!isfinite(c[i])) return dc_error("%s: coefficient %d is %g", op, i, c[i]), -1;
    }
    int total = n + (base ? 1 : 0);
    dc_tensor_list *lists = calloc((size_t)total + 1, sizeof *lists);
    dc_tensor_list target = {0};
    if (!lists) return dc_error("%s: out of memory", op), -1;
    int rc = dc_module_state(out, &target);
    for (int k = 0; k < total && rc == 0; k++)
        rc = dc_module_state(k < n ? models[k] : base, &lists[k]);
    /* same names, shapes and dtypes everywhere */
    for (int k = 0; k < total && rc == 0; k++) {
        const dc_tensor_list *l = &lists[k];
        char who[32];
        if (k < n) snprintf(who, sizeof who, "models[%d]", k);
        else snprintf(who, sizeof who, "base");
        if (l->n != target.n) {
            dc_error("%s: %s has %d state tensors, out has %d", op, who, l->n, target.n);
            rc = -1;
            break;
        }
        for (int j = 0; j < l->n; j++) {
            const dc_tensor *a = l->tensors[j], *b = target.tensors[j];
            char sa[64], sb[64];
            if (strcmp(l->names[j], target.names[j])) {
                dc_error("%s: %s's tensor %d is '%s', out's is '%s'", op, who, j, l->names[j],
                         target.names[j]);
                rc = -1;
                break;
            }
            if (a->dtype != b->dtype || a->ndim != b->ndim ||
                memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof *a->shape)) {
                dc_error("%s: '%s' is %s %s in %s but %s %s in out", op, l->names[j],
                         dc_dtype_name(a->dtype), dc__shape_fmt(a->ndim, a->shape, sa, sizeof sa), who,
                         dc_dtype_name(b->dtype), dc__shape_fmt(b->ndim, b->shape, sb, sizeof sb));
                rc = -1;
                break;
            }
        }
    }
    bool grad = dc_no_grad_begin();
    size_t scope = dc_scope_begin();
    dc_tensor **res = rc == 0 ? calloc((size_t)target.n + 1, sizeof *res) : NULL;
    if (rc == 0 && !res) rc = -1, dc_error("%s: out of memory", op);
    for (int j = 0; j < target.n && rc == 0; j++) {
        dc_tensor *t = target.tensors[j];
        if (t->dtype != DC_F32 && t->dtype != DC_F64) {
            res[j] = base ? lists[n].tensors[j] : lists[0].tensors[j];
            continue;
        }
        dc_tensor *acc = base ? dc_mul_scalar(dc_to_dtype(lists[n].tensors[j], DC_F64), c0) : NULL;
        for (int i = 0; i < n; i++) {
            dc_tensor *term = dc_mul_scalar(dc_to_dtype(lists[i].tensors[j], DC_F64), c[i]);
            acc = acc ? dc_add(acc, term) : term;
        }
        res[j] = acc;
        if (!acc) rc = -1;
    }
    for (int j = 0; j < target.n && rc == 0; j++) rc = dc_copy_(target.tensors[j], res[j]);
    free(res);
    dc_scope_end(scope);
    dc_grad_mode_restore(grad);
    for (int k = 0; k < total; k++) dc_tensor_list_free(&lists[k]);
    free(lists);
    dc_tensor_list_free(&target);
    return rc;
}

int dc_module_average(dc_module *out, int n, dc_module *const *models, const double *weights)
{
    return combine("dc_module_average", out, NULL, 0.0, n, models, weights);
}

int dc_module_task_arithmetic(dc_module *out, const dc_module *base, int n,
                              dc_module *const *models, const double *lambdas)
{
    static const char op[] = "dc_module_task_arithmetic";
    if (!base) return dc_error("%s: base is NULL", op), -1;
    double c0 = 1.0;
    for (int i = 0; lambdas && i < n; i++) c0 -= lambdas[i];
    return combine(op, out, base, c0, n, models, lambdas);
}
