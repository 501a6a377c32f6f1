/* Linear models (see linear.h). */
#include "linear/linear.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Argument checks ------------------------------------------------------------------------ */

static bool check_x(const char *fn, const dc_tensor *x)
{
    char buf[96];
    if (!x) return dc_error("%s: input x is NULL", fn), false;
    if (x->ndim != 2 || !dc_dtype_is_float(x->dtype) || x->shape[0] < 1 || x->shape[1] < 1)
        return dc_error("%s: x must be a non-empty float matrix [N, D], got %s", fn,
                        dc_shape_str(x, buf, sizeof buf)),
               false;
    return true;
}

/* y int64 [N] with labels in [0, n_classes) */
static bool check_labels(const char *fn, const dc_tensor *x, const dc_tensor *y, int64_t n_classes)
{
    char buf[96];
    if (!check_x(fn, x)) return false;
    if (!y) return dc_error("%s: labels y are NULL", fn), false;
    if (y->dtype != DC_I64 || y->ndim != 1 || y->shape[0] != x->shape[0])
        return dc_error("%s: labels y must be int64 [%lld] (one per row of x), got %s", fn,
                        (long long)x->shape[0], dc_shape_str(y, buf, sizeof buf)),
               false;
    if (n_classes < 2) return dc_error("%s: n_classes %lld must be >= 2", fn, (long long)n_classes), false;
    for (int64_t i = 0; i < y->shape[0]; i++) {
        double v = dc_item_at(y, &i);
        if (!(v >= 0 && v < (double)n_classes))
            return dc_error("%s: label %g of sample %lld is outside [0, %lld)", fn, v, (long long)i,
                            (long long)n_classes),
                   false;
    }
    return true;
}

/* Hand a reference the caller owns (retained inside a scope since ended) to the open scope, as
 * an op result is, or keep it with the caller when none is open. */
static dc_tensor *hand_out(dc_tensor *kept)
{
    dc_tensor *t = dc_scope_return(dc_scope_begin(), kept);
    dc_tensor_free(kept);
    return t;
}

/* A contiguous float64 copy's data (the tensor is owned by the open scope). */
static const double *f64_data(dc_tensor *t)
{
    dc_tensor *c = dc_contiguous(dc_to_dtype(t, DC_F64));
    return c ? dc_data(c) : NULL;
}

/* ---- Data ----------------------------------------------------------------------------------- */

int linear_blobs(int64_t n_per_class, int n_classes, double spread, dc_rng *rng, dc_tensor **x,
                 dc_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!x || !y) return dc_error("linear_blobs: output pointers are NULL"), -1;
    if (n_per_class < 1 || n_classes < 2 || !(spread > 0))
        return dc_error("linear_blobs: need n_per_class >= 1 (got %lld), n_classes >= 2 (got %d) "
                        "and spread > 0 (got %g)",
                        (long long)n_per_class, n_classes, spread),
               -1;
    const int64_t n = n_per_class * n_classes;
    size_t scope = dc_scope_begin();
    dc_tensor *xs = dc_empty(DC_F64, 2, (int64_t[]){n, 2}), *ys = dc_empty(DC_I64, 1, &n);
    if (!xs || !ys) {
        dc_scope_end(scope);
        return -1;
    }
    double *xp = dc_data(xs);
    int64_t *yp = dc_data(ys);
    for (int64_t i = 0; i < n; i++) {
        int c = (int)(i / n_per_class);
        double cx = 3 * cos(2 * M_PI * c / n_classes), cy = 3 * sin(2 * M_PI * c / n_classes);
        double dx, dy;
        do { /* Box-Muller, redrawn beyond 1.2 from the centre */
            double u1 = dc_rng_uniform(rng), u2 = dc_rng_uniform(rng);
            double r = sqrt(-2 * log(1 - u1)) * spread;
            dx = r * cos(2 * M_PI * u2), dy = r * sin(2 * M_PI * u2);
        } while (dx * dx + dy * dy > 1.44);
        xp[2 * i] = cx + dx, xp[2 * i + 1] = cy + dy, yp[i] = c;
    }
    dc_tensor_retain(xs), dc_tensor_retain(ys);
    dc_scope_end(scope);
    *x = hand_out(xs), *y = hand_out(ys);
    return 0;
}

int linear_fashion_pair(const char *dir, bool train, int class_a, int class_b, int64_t max_n,
                        dc_tensor **x, dc_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!x || !y) return dc_error("linear_fashion_pair: output pointers are NULL"), -1;
    if (class_a < 0 || class_a > 9 || class_b < 0 || class_b > 9 || class_a == class_b || max_n < 0)
        return dc_error("linear_fashion_pair: classes %d and %d must be distinct in [0, 9] and "
                        "max_n %lld >= 0",
                        class_a, class_b, (long long)max_n),
               -1;
    dc_dataset *ds = dc_fashion_mnist_load(dir, train);
    if (!ds) return -1;
    const int64_t n_all = dc_dataset_size(ds);
    int64_t *idx = malloc(sizeof *idx * (size_t)n_all), n = 0;
    const int64_t *labels = dc_data(ds->targets);
    for (int64_t i = 0; idx && i < n_all && (max_n == 0 || n < max_n); i++)
        if (labels[i] == class_a || labels[i] == class_b) idx[n++] = i;
    dc_dataset *pair = idx ? dc_dataset_subset(ds, idx, n) : NULL;
    free(idx);
    dc_dataset_free(ds);
    if (!pair) return -1;
    size_t scope = dc_scope_begin();
    dc_tensor *xs = dc_to_dtype(dc_reshape(pair->inputs, 2, (int64_t[]){n, -1}), DC_F64);
    dc_tensor *ys = dc_to_dtype(dc_eq(pair->targets, dc_scalar(DC_I64, class_b)), DC_I64);
    dc_dataset_free(pair);
    if (!xs || !ys) {
        dc_scope_end(scope);
        return -1;
    }
    dc_tensor_retain(xs), dc_tensor_retain(ys);
    dc_scope_end(scope);
    *x = hand_out(xs), *y = hand_out(ys);
    return 0;
}

/* ---- Perceptron and Adaline ---------------------------------------------------------------- */

/* The sample order of one epoch: 0..N-1, or a Fisher-Yates shuffle with rng. */
static void epoch_order(int64_t *order, int64_t n, dc_rng *rng)
{
    for (int64_t i = 0; i < n; i++) order[i] = i;
    for (int64_t i = n - 1; rng && i > 0; i--) {
        int64_t j = (int64_t)(dc_rng_u64(rng) % (uint64_t)(i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
}

/* w_k . x + b_k for row k of W [K, D + 1] */
static double score(const double *w, const double *x, int64_t d)
{
    double s = w[d];
    for (int64_t j = 0; j < d; j++) s += w[j] * x[j];
    return s;
}

/* The target +-1 of output k for label c: K = 1 -> c == 1, else c == k. */
static double target_of(int64_t c, int64_t k, int64_t K)
{
    return (K == 1 ? c == 1 : c == k) ? 1.0 : -1.0;
}

typedef enum { RULE_PERCEPTRON, RULE_ADALINE } update_rule;

/* The perceptron and the LMS rule share the loop: per epoch, per sample, per output. */
static int fit_rule(const char *fn, update_rule rule, dc_tensor *x, dc_tensor *y, int64_t n_classes,
                    double lr, int epochs, dc_rng *rng, dc_tensor **weight, double *curve)
{
    if (weight) *weight = NULL;
    if (!weight) return dc_error("%s: weight pointer is NULL", fn), -1;
    if (!check_labels(fn, x, y, n_classes)) return -1;
    if (!(lr > 0) || epochs < 1)
        return dc_error("%s: need lr > 0 (got %g) and at least one epoch (got %d)", fn, lr, epochs), -1;
    const int64_t n = x->shape[0], d = x->shape[1], K = n_classes == 2 ? 1 : n_classes;
    size_t scope = dc_scope_begin();
    const double *xp = f64_data(x);
    dc_tensor *yc = dc_contiguous(y), *wt = dc_zeros(DC_F64, 2, (int64_t[]){K, d + 1});
    int64_t *order = malloc(sizeof *order * (size_t)n);
    if (!xp || !yc || !wt || !order) {
        free(order);
        dc_scope_end(scope);
        return dc_error("%s: out of memory", fn), -1;
    }
    const int64_t *yp = dc_data(yc);
    double *w = dc_data(wt);
    int run = 0;
    for (int e = 0; e < epochs; e++) {
        epoch_order(order, n, rng);
        int64_t mistakes = 0;
        for (int64_t s = 0; s < n; s++) {
            const int64_t i = order[s];
            const double *xi = xp + i * d;
            bool wrong = false;
            for (int64_t k = 0; k < K; k++) {
                double *wk = w + k * (d + 1), t = target_of(yp[i], k, K), f = score(wk, xi, d);
                /* perceptron: on a mistake w += lr t x; LMS: w += lr (t - f) x */
                double step = rule == RULE_ADALINE ? lr * (t - f) : t * f <= 0 ? lr * t : 0;
                if (step == 0) continue;
                wrong = wrong || t * f <= 0;
                for (int64_t j = 0; j < d; j++) wk[j] += step * xi[j];
                wk[d] += step;
            }
            mistakes += wrong;
        }
        run = e + 1;
        if (rule == RULE_PERCEPTRON) {
            if (curve) curve[e] = (double)mistakes;
            if (mistakes == 0) break;
        } else if (curve) {
            double se = 0;
            for (int64_t i = 0; i < n; i++)
                for (int64_t k = 0; k < K; k++) {
                    double r = target_of(yp[i], k, K) - score(w + k * (d + 1), xp + i * d, d);
                    se += r * r;
                }
            curve[e] = se / (double)(n * K);
        }
    }
    free(order);
    *weight = dc_scope_return(scope, wt);
    return run;
}

int linear_perceptron_fit(dc_tensor *x, dc_tensor *y, int64_t n_classes, double lr,
                          int max_epochs, dc_rng *rng, dc_tensor **weight, double *mistakes)
{
    return fit_rule("linear_perceptron_fit", RULE_PERCEPTRON, x, y, n_classes, lr, max_epochs, rng,
                    weight, mistakes);
}

int linear_adaline_fit(dc_tensor *x, dc_tensor *y, int64_t n_classes, double lr, int epochs,
                       dc_rng *rng, dc_tensor **weight, double *mse)
{
    return fit_rule("linear_adaline_fit", RULE_ADALINE, x, y, n_classes, lr, epochs, rng, weight, mse);
}

/* labels from scores [N, K]: K = 1 -> score > 0, else argmax */
static dc_tensor *labels_of(dc_tensor *scores)
{
    if (!scores) return NULL;
    if (scores->shape[1] == 1)
        return dc_to_dtype(dc_gt(dc_select(scores, 1, 0), dc_scalar(scores->dtype, 0)), DC_I64);
    return dc_argmax(scores, 1, false);
}

dc_tensor *linear_predict(dc_tensor *weight, dc_tensor *x)
{
    char bw[96];
    if (!check_x("linear_predict", x)) return NULL;
    if (!weight || weight->ndim != 2 || weight->shape[1] != x->shape[1] + 1)
        return dc_error("linear_predict: weight must be [K, %lld] for x with %lld columns, got %s",
                        (long long)x->shape[1] + 1, (long long)x->shape[1],
                        weight ? dc_shape_str(weight, bw, sizeof bw) : "NULL");
    size_t scope = dc_scope_begin();
    const int64_t d = x->shape[1];
    dc_tensor *w = dc_to_dtype(weight, DC_F64);
    dc_tensor *scores = dc_linear(dc_to_dtype(x, DC_F64), dc_narrow(w, 1, 0, d), dc_select(w, 1, d));
    return dc_scope_return(scope, labels_of(scores));
}

static double accuracy_of(dc_tensor *pred, dc_tensor *y)
{
    if (!pred) return -1;
    if (!y || y->ndim != 1 || y->shape[0] != pred->shape[0])
        return dc_error("accuracy: labels y must be [%lld]", (long long)pred->shape[0]), -1;
    return dc_item(dc_mean_all(dc_to_dtype(dc_eq(pred, dc_to_dtype(y, DC_I64)), DC_F64)));
}

double linear_accuracy(dc_tensor *weight, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin();
    double acc = accuracy_of(linear_predict(weight, x), y);
    dc_scope_end(scope);
    return acc;
}

/* ---- Logistic and softmax regression ------------------------------------------------------ */

int linear_classifier_init(linear_classifier *m, int64_t n_inputs, int64_t n_outputs)
{
    if (!m) return dc_error("linear_classifier_init: model is NULL"), -1;
    memset(m, 0, sizeof *m);
    if (n_inputs < 1 || n_outputs < 1)
        return dc_error("linear_classifier_init: need >= 1 inputs and outputs, got %lld and %lld",
                        (long long)n_inputs, (long long)n_outputs),
               -1;
    size_t scope = dc_scope_begin();
    dc_tensor *w = dc_zeros(DC_F64, 2, (int64_t[]){n_outputs, n_inputs});
    dc_tensor *b = dc_zeros(DC_F64, 1, &n_outputs);
    if (w && b && dc_requires_grad(w, true) && dc_requires_grad(b, true))
        m->weight = dc_tensor_retain(w), m->bias = dc_tensor_retain(b);
    dc_scope_end(scope);
    return m->weight ? 0 : -1;
}

void linear_classifier_free(linear_classifier *m)
{
    if (!m) return;
    dc_tensor_free(m->weight);
    dc_tensor_free(m->bias);
    memset(m, 0, sizeof *m);
}

dc_tensor *linear_classifier_logits(const linear_classifier *m, dc_tensor *x)
{
    char buf[96];
    if (!m || !m->weight || !m->bias) return dc_error("linear_classifier_logits: model is not initialised");
    if (!check_x("linear_classifier_logits", x)) return NULL;
    if (x->shape[1] != m->weight->shape[1])
        return dc_error("linear_classifier_logits: x %s has %lld columns, the model %lld inputs",
                        dc_shape_str(x, buf, sizeof buf), (long long)x->shape[1],
                        (long long)m->weight->shape[1]);
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_linear(dc_to_dtype(x, DC_F64), m->weight, m->bias));
}

dc_tensor *linear_classifier_objective(const linear_classifier *m, dc_tensor *x, dc_tensor *y,
                                       double l1, double l2)
{
    const char *fn = "linear_classifier_objective";
    if (!m || !m->weight) return dc_error("%s: model is not initialised", fn);
    const int64_t K = m->weight->shape[0];
    if (!check_labels(fn, x, y, K == 1 ? 2 : K)) return NULL;
    if (!(l1 >= 0) || !(l2 >= 0)) return dc_error("%s: penalties l1 %g and l2 %g must be >= 0", fn, l1, l2);
    size_t scope = dc_scope_begin();
    dc_tensor *logits = linear_classifier_logits(m, x), *loss;
    if (K == 1) /* logistic: BCE(sigmoid(logit), y) = softplus(logit) - y logit */
        loss = dc_bce_with_logits(dc_select(logits, 1, 0), dc_to_dtype(y, DC_F64), DC_REDUCE_MEAN);
    else
        loss = dc_cross_entropy(logits, y, NULL);
    if (l2 > 0) loss = dc_add(loss, dc_mul_scalar(dc_sum_all(dc_mul(m->weight, m->weight)), l2 / 2));
    if (l1 > 0) loss = dc_add(loss, dc_mul_scalar(dc_sum_all(dc_abs(m->weight)), l1));
    return dc_scope_return(scope, loss);
}

dc_tensor *linear_classifier_predict(const linear_classifier *m, dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *labels = labels_of(linear_classifier_logits(m, x));
    dc_grad_mode_restore(prev);
    return dc_scope_return(scope, labels);
}

double linear_classifier_accuracy(const linear_classifier *m, dc_tensor *x, dc_tensor *y)
{
    size_t scope = dc_scope_begin();
    double acc = accuracy_of(linear_classifier_predict(m, x), y);
    dc_scope_end(scope);
    return acc;
}

/* W = sign(W) max(|W| - t, 0), in place (no autograd) */
static int soft_threshold_(dc_tensor *w, double t)
{
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *shrunk = dc_mul(dc_sign(w), dc_clamp(dc_add_scalar(dc_abs(w), -t), 0, NAN));
    int rc = shrunk ? dc_copy_(w, shrunk) : -1;
    dc_grad_mode_restore(prev);
    dc_scope_end(scope);
    return rc;
}

int linear_classifier_fit(linear_classifier *m, dc_tensor *x, dc_tensor *y,
                          const linear_sgd_opts *o, dc_rng *rng, double *objective)
{
    const char *fn = "linear_classifier_fit";
    if (!m || !m->weight || !o) return dc_error("%s: model or options are NULL", fn), -1;
    const int64_t K = m->weight->shape[0];
    if (!check_labels(fn, x, y, K == 1 ? 2 : K)) return -1;
    if (!(o->lr > 0) || o->epochs < 1 || o->batch < 0 || !(o->l1 >= 0) || !(o->l2 >= 0))
        return dc_error("%s: need lr > 0 (got %g), epochs >= 1 (got %d), batch >= 0 (got %lld), "
                        "l1, l2 >= 0 (got %g, %g)",
                        fn, o->lr, o->epochs, (long long)o->batch, o->l1, o->l2),
               -1;
    const int64_t n = x->shape[0], batch = o->batch == 0 || o->batch >= n ? n : o->batch;
    dc_optim_config cfg = dc_optim_defaults(DC_SGD, o->lr);
    dc_optimizer *opt = dc_optimizer_new_tensors(2, (dc_tensor *[]){m->weight, m->bias}, &cfg);
    if (!opt) return -1;
    const double l1_step = o->proximal_l1 ? 0 : o->l1;
    int rc = 0;
    for (int e = 0; e < o->epochs && rc == 0; e++) {
        size_t scope = dc_scope_begin();
        dc_tensor *perm = batch < n ? dc_randperm(rng, n) : NULL;
        for (int64_t s = 0; s < n && rc == 0; s += batch) {
            size_t step = dc_scope_begin();
            dc_tensor *xb = x, *yb = y;
            if (perm) {
                dc_tensor *idx = dc_narrow(perm, 0, s, s + batch <= n ? batch : n - s);
                xb = dc_index_select(x, 0, idx), yb = dc_index_select(y, 0, idx);
            }
            dc_optimizer_zero_grad(opt);
            dc_tensor *loss = linear_classifier_objective(m, xb, yb, l1_step, o->l2);
            rc = loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0 ? 0 : -1;
            if (rc == 0 && o->proximal_l1 && o->l1 > 0) rc = soft_threshold_(m->weight, o->lr * o->l1);
            dc_scope_end(step);
        }
        if (rc == 0 && objective) {
            bool prev = dc_no_grad_begin();
            objective[e] = dc_item(linear_classifier_objective(m, x, y, o->l1, o->l2));
            dc_grad_mode_restore(prev);
        }
        dc_scope_end(scope);
    }
    dc_optimizer_zero_grad(opt);
    dc_optimizer_free(opt);
    return rc;
}

/* ---- Linear regression -------------------------------------------------------------------- */

dc_tensor *linear_add_bias_column(dc_tensor *x)
{
    if (!check_x("linear_add_bias_column", x)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *xd = dc_to_dtype(x, DC_F64);
    dc_tensor *ones = dc_ones(DC_F64, 2, (int64_t[]){x->shape[0], 1});
    return dc_scope_return(scope, dc_cat((dc_tensor *[]){xd, ones}, 2, 1));
}

static bool check_regression(const char *fn, const dc_tensor *a, const dc_tensor *y)
{
    char ba[96], by[96];
    if (!check_x(fn, a)) return false;
    if (!y) return dc_error("%s: targets y are NULL", fn), false;
    if (!dc_dtype_is_float(y->dtype) || (y->ndim != 1 && y->ndim != 2) || y->shape[0] != a->shape[0])
        return dc_error("%s: targets y must be float [%lld] or [%lld, K] for A %s, got %s", fn,
                        (long long)a->shape[0], (long long)a->shape[0],
                        dc_shape_str(a, ba, sizeof ba), dc_shape_str(y, by, sizeof by)),
               false;
    return true;
}

/* y as a matrix [N, K] (a vector becomes [N, 1]) */
static dc_tensor *as_matrix(dc_tensor *y)
{
    return y->ndim == 1 ? dc_unsqueeze(y, 1) : y;
}

static dc_tensor *eye(int64_t n, double value)
{
    dc_tensor *t = dc_zeros(DC_F64, 2, (int64_t[]){n, n});
    for (int64_t i = 0; t && i < n; i++) ((double *)dc_data(t))[i * n + i] = value;
    return t;
}

dc_tensor *linear_regression_fit(dc_tensor *a, dc_tensor *y, linear_solver solver, double ridge)
{
    const char *fn = "linear_regression_fit";
    if (!check_regression(fn, a, y)) return NULL;
    if (!(ridge >= 0)) return dc_error("%s: ridge %g must be >= 0", fn, ridge);
    if (solver == LINEAR_LSTSQ && ridge != 0)
        return dc_error("%s: LINEAR_LSTSQ takes no ridge (got %g); use LINEAR_NORMAL_EQUATIONS", fn, ridge);
    if (solver != LINEAR_LSTSQ && solver != LINEAR_NORMAL_EQUATIONS)
        return dc_error("%s: unknown solver %d", fn, (int)solver);
    size_t scope = dc_scope_begin();
    dc_tensor *ad = dc_to_dtype(a, DC_F64), *yd = as_matrix(dc_to_dtype(y, DC_F64)), *w;
    if (solver == LINEAR_LSTSQ) {
        w = dc_linalg_lstsq(ad, yd);
    } else { /* (A^T A + ridge I) w = A^T y with A^T A + ridge I = L L^T */
        dc_tensor *at = dc_transpose(ad, 0, 1);
        dc_tensor *gram = dc_add(dc_matmul(at, ad), eye(a->shape[1], ridge));
        dc_tensor *l = dc_linalg_cholesky(gram, false);
        w = dc_linalg_solve(dc_transpose(l, 0, 1), dc_linalg_solve(l, dc_matmul(at, yd)));
    }
    if (w && y->ndim == 1) w = dc_select(w, 1, 0);
    if (!w) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, dc_contiguous(w));
}

dc_tensor *linear_regression_gd(dc_tensor *a, dc_tensor *y, double ridge, double lr,
                                int64_t max_steps, double tol, int64_t *steps, double *loss)
{
    const char *fn = "linear_regression_gd";
    if (steps) *steps = 0;
    if (!check_regression(fn, a, y)) return NULL;
    if (!(ridge >= 0) || max_steps < 1 || !(tol >= 0))
        return dc_error("%s: need ridge >= 0 (got %g), max_steps >= 1 (got %lld), tol >= 0 (got %g)",
                        fn, ridge, (long long)max_steps, tol);
    const int64_t n = a->shape[0], p = a->shape[1];
    size_t scope = dc_scope_begin();
    dc_tensor *ad = dc_to_dtype(a, DC_F64), *yd = as_matrix(dc_to_dtype(y, DC_F64));
    if (!(lr > 0)) { /* 1 / L, L = 2 lambda_max(A^T A + ridge I) / N */
        dc_tensor *ev = NULL;
        dc_tensor *gram = dc_add(dc_matmul(dc_transpose(ad, 0, 1), ad), eye(p, ridge));
        if (dc_linalg_eigh(gram, &ev, NULL) != 0) {
            dc_scope_end(scope);
            return NULL;
        }
        lr = (double)n / (2 * dc_item(dc_select(ev, 0, p - 1)));
    }
    dc_tensor *w = dc_zeros(DC_F64, 2, (int64_t[]){p, yd ? yd->shape[1] : 1});
    dc_optim_config cfg = dc_optim_defaults(DC_SGD, lr);
    dc_optimizer *opt = w && dc_requires_grad(w, true) ? dc_optimizer_new_tensors(1, &w, &cfg) : NULL;
    if (!opt) {
        dc_scope_end(scope);
        return NULL;
    }
    int64_t s = 0;
    int rc = 0;
    for (; s < max_steps; s++) {
        size_t step = dc_scope_begin();
        dc_optimizer_zero_grad(opt);
        dc_tensor *r = dc_sub(dc_matmul(ad, w), yd);
        dc_tensor *obj = dc_mul_scalar(dc_add(dc_sum_all(dc_mul(r, r)),
                                              dc_mul_scalar(dc_sum_all(dc_mul(w, w)), ridge)),
                                       1.0 / (double)n);
        rc = obj && dc_backward(obj) == 0 ? 0 : -1;
        double gmax = rc == 0 ? dc_item(dc_max(dc_flatten(dc_abs(w->grad), 0, -1), 0, false)) : 0;
        if (rc == 0 && loss) loss[s] = dc_item(obj);
        bool done = rc != 0 || gmax <= tol || dc_optimizer_step(opt) != 0;
        dc_scope_end(step);
        if (done) break;
    }
    dc_optimizer_zero_grad(opt);
    dc_optimizer_free(opt);
    if (steps) *steps = s;
    if (rc != 0) {
        dc_scope_end(scope);
        return NULL;
    }
    dc_tensor *out = dc_detach(w);
    if (out && y->ndim == 1) out = dc_select(out, 1, 0);
    return dc_scope_return(scope, dc_contiguous(out));
}

dc_tensor *linear_min_norm_lstsq(dc_tensor *a, dc_tensor *y, double rcond)
{
    const char *fn = "linear_min_norm_lstsq";
    if (!check_regression(fn, a, y)) return NULL;
    if (!(rcond >= 0 && rcond < 1)) return dc_error("%s: rcond %g must be in [0, 1)", fn, rcond);
    size_t scope = dc_scope_begin();
    dc_tensor *u = NULL, *s = NULL, *vh = NULL;
    dc_tensor *ad = dc_to_dtype(a, DC_F64), *yd = as_matrix(dc_to_dtype(y, DC_F64));
    if (dc_linalg_svd(ad, false, &u, &s, &vh) != 0) {
        dc_scope_end(scope);
        return NULL;
    }
    /* w = V diag(1 / s_i where s_i > rcond s_max, else 0) U^T y */
    const int64_t k = s->shape[0];
    dc_tensor *inv = dc_contiguous(dc_clone(s));
    double *iv = inv ? dc_data(inv) : NULL;
    const double cut = iv && k > 0 ? rcond * iv[0] : 0; /* s is descending */
    for (int64_t i = 0; iv && i < k; i++) iv[i] = iv[i] > cut && iv[i] > 0 ? 1 / iv[i] : 0;
    dc_tensor *uty = dc_mul(dc_matmul(dc_transpose(u, 0, 1), yd), dc_unsqueeze(inv, 1));
    dc_tensor *w = dc_matmul(dc_transpose(vh, 0, 1), uty);
    if (w && y->ndim == 1) w = dc_select(w, 1, 0);
    if (!w) {
        dc_scope_end(scope);
        return NULL;
    }
    return dc_scope_return(scope, dc_contiguous(w));
}

dc_tensor *linear_gaussian_basis(dc_tensor *x, dc_tensor *centers, double sigma)
{
    char bx[96], bc[96];
    if (!x || !centers || x->ndim != 1 || centers->ndim != 1 || !dc_dtype_is_float(x->dtype) ||
        !dc_dtype_is_float(centers->dtype))
        return dc_error("linear_gaussian_basis: x and centers must be float vectors, got %s and %s",
                        x ? dc_shape_str(x, bx, sizeof bx) : "NULL",
                        centers ? dc_shape_str(centers, bc, sizeof bc) : "NULL");
    if (!(sigma > 0)) return dc_error("linear_gaussian_basis: sigma %g must be > 0", sigma);
    size_t scope = dc_scope_begin();
    dc_tensor *diff = dc_sub(dc_unsqueeze(dc_to_dtype(x, DC_F64), 1),
                             dc_unsqueeze(dc_to_dtype(centers, DC_F64), 0));
    return dc_scope_return(scope, dc_exp(dc_mul_scalar(dc_mul(diff, diff), -0.5 / (sigma * sigma))));
}

dc_tensor *linear_random_relu_features(dc_tensor *x, dc_tensor *w, dc_tensor *b)
{
    char bw[96], bb[96];
    if (!check_x("linear_random_relu_features", x)) return NULL;
    if (!w || !b || w->ndim != 2 || w->shape[1] != x->shape[1] || b->ndim != 1 || b->shape[0] != w->shape[0])
        return dc_error("linear_random_relu_features: need W [P, %lld] and b [P], got %s and %s",
                        (long long)x->shape[1], w ? dc_shape_str(w, bw, sizeof bw) : "NULL",
                        b ? dc_shape_str(b, bb, sizeof bb) : "NULL");
    size_t scope = dc_scope_begin();
    dc_tensor *h = dc_relu(dc_linear(dc_to_dtype(x, DC_F64), dc_to_dtype(w, DC_F64), dc_to_dtype(b, DC_F64)));
    return dc_scope_return(scope, dc_mul_scalar(h, 1 / sqrt((double)w->shape[0])));
}

int linear_bias_variance(const double *pred, int64_t n_models, int64_t n_points,
                         const double *truth, double *bias2, double *variance)
{
    if (!pred || !truth || !bias2 || !variance || n_models < 1 || n_points < 1)
        return dc_error("linear_bias_variance: need predictions, truth, outputs and R, M >= 1 "
                        "(got R %lld, M %lld)",
                        (long long)n_models, (long long)n_points),
               -1;
    double b2 = 0, var = 0;
    for (int64_t m = 0; m < n_points; m++) {
        double mean = 0, sq = 0;
        for (int64_t r = 0; r < n_models; r++) mean += pred[r * n_points + m];
        mean /= (double)n_models;
        for (int64_t r = 0; r < n_models; r++) {
            double dv = pred[r * n_points + m] - mean;
            sq += dv * dv;
        }
        b2 += (mean - truth[m]) * (mean - truth[m]);
        var += sq / (double)n_models;
    }
    *bias2 = b2 / (double)n_points, *variance = var / (double)n_points;
    return 0;
}
