/* Kernel machines and Gaussian processes (see kernel_methods.h). */
#include "kernel_methods/kernel_methods.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Hand a reference the caller owns (retained inside a scope since ended) to the open scope, as
 * an op result is, or keep it with the caller when none is open. */
static dc_tensor *hand_out(dc_tensor *kept)
{
    dc_tensor *t = dc_scope_return(dc_scope_begin(), kept);
    dc_tensor_free(kept);
    return t;
}

static bool check_points(const char *fn, const char *name, const dc_tensor *x)
{
    char buf[96];
    if (!x) return dc_error("%s: %s is NULL", fn, name), false;
    if (x->ndim != 2 || !dc_dtype_is_float(x->dtype) || x->shape[0] < 1 || x->shape[1] < 1)
        return dc_error("%s: %s must be a non-empty float matrix [n, d], got %s", fn, name,
                        dc_shape_str(x, buf, sizeof buf)),
               false;
    return true;
}

static bool check_same_dim(const char *fn, const dc_tensor *a, const dc_tensor *b)
{
    char ba[96], bb[96];
    if (a->shape[1] == b->shape[1]) return true;
    dc_error("%s: points of different dimensions: %s and %s", fn, dc_shape_str(a, ba, sizeof ba),
             dc_shape_str(b, bb, sizeof bb));
    return false;
}

/* y float [n] for x [n, d] */
static bool check_targets(const char *fn, const dc_tensor *x, const dc_tensor *y, bool matrix_ok)
{
    char buf[96];
    if (!y) return dc_error("%s: targets y are NULL", fn), false;
    if (!dc_dtype_is_float(y->dtype) || !(y->ndim == 1 || (matrix_ok && y->ndim == 2)) ||
        y->shape[0] != x->shape[0])
        return dc_error("%s: targets y must be float [%lld]%s, got %s", fn, (long long)x->shape[0],
                        matrix_ok ? " or [n, t]" : "", dc_shape_str(y, buf, sizeof buf)),
               false;
    return true;
}

static dc_tensor *eye(int64_t n)
{
    dc_tensor *t = dc_zeros(DC_F64, 2, (int64_t[]){n, n});
    for (int64_t i = 0; t && i < n; i++) ((double *)dc_data(t))[i * n + i] = 1;
    return t;
}

/* |a_i - b_j|^2 = |a_i|^2 + |b_j|^2 - 2 a_i . b_j, clamped at 0 against rounding */
static dc_tensor *sqdist(dc_tensor *a, dc_tensor *b)
{
    dc_tensor *na = dc_sum(dc_mul(a, a), 1, (int[]){1}, true);
    dc_tensor *nb = dc_sum(dc_mul(b, b), 1, (int[]){1}, true);
    dc_tensor *dot = dc_matmul(a, dc_transpose(b, 0, 1));
    return dc_clamp(dc_sub(dc_add(na, dc_transpose(nb, 0, 1)), dc_mul_scalar(dot, 2)), 0, NAN);
}

/* ---- Kernels -------------------------------------------------------------------------------- */

dc_tensor *km_gram(const km_kernel *k, dc_tensor *x1, dc_tensor *x2)
{
    const char *fn = "km_gram";
    if (!k) return dc_error("%s: kernel is NULL", fn);
    if (!check_points(fn, "x1", x1) || !check_points(fn, "x2", x2) || !check_same_dim(fn, x1, x2))
        return NULL;
    if (k->kind != KM_LINEAR && k->kind != KM_RBF && k->kind != KM_POLY)
        return dc_error("%s: unknown kernel kind %d", fn, (int)k->kind);
    if (k->kind != KM_LINEAR && !(k->gamma > 0))
        return dc_error("%s: gamma %g must be > 0", fn, k->gamma);
    if (k->kind == KM_POLY && (k->degree < 1 || !isfinite(k->coef0)))
        return dc_error("%s: polynomial degree %d must be >= 1 and coef0 (%g) finite", fn, k->degree,
                        k->coef0);
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_to_dtype(x1, DC_F64), *b = dc_to_dtype(x2, DC_F64), *g;
    if (k->kind == KM_RBF) {
        g = dc_exp(dc_mul_scalar(sqdist(a, b), -k->gamma));
    } else {
        g = dc_matmul(a, dc_transpose(b, 0, 1));
        if (k->kind == KM_POLY)
            g = dc_pow_scalar(dc_add_scalar(dc_mul_scalar(g, k->gamma), k->coef0), k->degree);
    }
    return dc_scope_return(scope, g);
}

/* ---- Kernel ridge regression ---------------------------------------------------------------- */

dc_tensor *km_ridge_fit(const km_kernel *k, dc_tensor *x, dc_tensor *y, double lambda)
{
    const char *fn = "km_ridge_fit";
    if (!check_points(fn, "x", x) || !check_targets(fn, x, y, true)) return NULL;
    if (!(lambda > 0)) return dc_error("%s: lambda %g must be > 0", fn, lambda);
    size_t scope = dc_scope_begin();
    dc_tensor *g = km_gram(k, x, x);
    dc_tensor *alpha = g ? dc_linalg_solve(dc_add(g, dc_mul_scalar(eye(x->shape[0]), lambda)),
                                           dc_to_dtype(y, DC_F64))
                         : NULL;
    return dc_scope_return(scope, alpha);
}

dc_tensor *km_ridge_predict(const km_kernel *k, dc_tensor *x, dc_tensor *alpha, dc_tensor *z)
{
    const char *fn = "km_ridge_predict";
    if (!check_points(fn, "x", x) || !check_points(fn, "z", z) || !check_same_dim(fn, x, z) ||
        !check_targets(fn, x, alpha, true))
        return NULL;
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, dc_matmul(km_gram(k, z, x), dc_to_dtype(alpha, DC_F64)));
}

/* ---- Support vector machine (SMO) ------------------------------------------------------------ */

void km_svm_free(km_svm *svm)
{
    if (!svm) return;
    dc_tensor_free(svm->support);
    dc_tensor_free(svm->coef);
    dc_tensor_free(svm->alpha);
    memset(svm, 0, sizeof *svm);
}

/* The maximal violating pair: i = argmax_{t in I_up} -y_t G_t, j = argmin_{t in I_low} -y_t G_t,
 * I_up = {y = +1, alpha < C} u {y = -1, alpha > 0}, I_low = {y = -1, alpha < C} u {y = +1,
 * alpha > 0} (the indices alpha may move up / down along y). Returns m - M. */
static double select_pair(const double *y, const double *alpha, const double *G, int64_t n, double C,
                          int64_t *pi, int64_t *pj, double *m_up, double *m_low)
{
    double gmax = -INFINITY, gmin = INFINITY;
    *pi = *pj = -1;
    for (int64_t t = 0; t < n; t++) {
        double v = -y[t] * G[t];
        bool up = y[t] > 0 ? alpha[t] < C : alpha[t] > 0;
        bool low = y[t] > 0 ? alpha[t] > 0 : alpha[t] < C;
        if (up && v > gmax) gmax = v, *pi = t;
        if (low && v < gmin) gmin = v, *pj = t;
    }
    *m_up = gmax, *m_low = gmin;
    return gmax - gmin;
}

int km_svm_fit(km_svm *svm, const km_kernel *k, dc_tensor *x, dc_tensor *y, double C, double tol,
               int64_t max_iter)
{
    const char *fn = "km_svm_fit";
    char buf[96];
    if (!svm) return dc_error("%s: svm is NULL", fn), -1;
    memset(svm, 0, sizeof *svm);
    if (!k) return dc_error("%s: kernel is NULL", fn), -1;
    if (!check_points(fn, "x", x)) return -1;
    if (!y || y->dtype != DC_I64 || y->ndim != 1 || y->shape[0] != x->shape[0])
        return dc_error("%s: labels y must be int64 [%lld], got %s", fn, (long long)x->shape[0],
                        y ? dc_shape_str(y, buf, sizeof buf) : "NULL"),
               -1;
    if (!(C > 0) || !(tol > 0) || max_iter < 1)
        return dc_error("%s: need C > 0 (got %g), tol > 0 (got %g), max_iter >= 1 (got %lld)", fn, C,
                        tol, (long long)max_iter),
               -1;
    const int64_t n = x->shape[0];
    double *yv = malloc(sizeof *yv * (size_t)n), *alpha = calloc((size_t)n, sizeof *alpha);
    double *G = malloc(sizeof *G * (size_t)n);
    int rc = -1;
    size_t scope = dc_scope_begin();
    dc_tensor *gram = dc_contiguous(km_gram(k, x, x));
    if (!yv || !alpha || !G || !gram) goto done;
    int64_t n_pos = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = dc_item_at(y, &i);
        if (v != 0 && v != 1) {
            dc_error("%s: label %g of sample %lld is not 0 or 1", fn, v, (long long)i);
            goto done;
        }
        yv[i] = v == 1 ? 1 : -1, n_pos += v == 1, G[i] = -1; /* G = Q alpha - 1 at alpha = 0 */
    }
    if (n_pos == 0 || n_pos == n) {
        dc_error("%s: the labels hold one class only (%lld of %lld are 1)", fn, (long long)n_pos,
                 (long long)n);
        goto done;
    }
    const double *K = dc_data(gram);
    double m_up, m_low, gap = 0;
    int64_t it = 0;
    for (; it < max_iter; it++) {
        int64_t i, j;
        gap = select_pair(yv, alpha, G, n, C, &i, &j, &m_up, &m_low);
        if (i < 0 || j < 0 || gap <= tol) break;
        /* move alpha_i by y_i t and alpha_j by -y_j t (y^T alpha stays): the dual objective
         * changes by b t - a t^2 / 2, b = m_up - m_low, a = K_ii + K_jj - 2 K_ij */
        double a = K[i * n + i] + K[j * n + j] - 2 * K[i * n + j];
        double t = gap / (a > 1e-12 ? a : 1e-12);
        double room_i = yv[i] > 0 ? C - alpha[i] : alpha[i];
        double room_j = yv[j] > 0 ? alpha[j] : C - alpha[j];
        double old_i = alpha[i], old_j = alpha[j];
        if (t > room_i) t = room_i;
        if (t > room_j) t = room_j;
        /* a bound reached is set exactly, so the sets I_up / I_low stay exact */
        alpha[i] = t == room_i ? (yv[i] > 0 ? C : 0) : old_i + yv[i] * t;
        alpha[j] = t == room_j ? (yv[j] > 0 ? 0 : C) : old_j - yv[j] * t;
        const double di = alpha[i] - old_i, dj = alpha[j] - old_j;
        for (int64_t s = 0; s < n; s++)
            G[s] += yv[s] * (yv[i] * K[s * n + i] * di + yv[j] * K[s * n + j] * dj);
    }
    int64_t i_unused, j_unused;
    gap = select_pair(yv, alpha, G, n, C, &i_unused, &j_unused, &m_up, &m_low);
    /* b: at a free support vector y_t f(x_t) = 1, i.e. b = -y_t G_t */
    double bsum = 0, dual = 0;
    int64_t n_free = 0, n_sv = 0;
    for (int64_t t = 0; t < n; t++) {
        if (alpha[t] > 0 && alpha[t] < C) bsum += -yv[t] * G[t], n_free++;
        n_sv += alpha[t] > 0;
        dual += alpha[t] - 0.5 * alpha[t] * (G[t] + 1); /* alpha^T Q alpha = alpha^T (G + 1) */
    }
    svm->b = n_free ? bsum / (double)n_free : 0.5 * (m_up + m_low);
    svm->kernel = *k;
    svm->n_support = n_sv;
    svm->iterations = it;
    svm->dual = dual;
    svm->kkt_gap = gap;
    int64_t *idx = malloc(sizeof *idx * (size_t)(n_sv ? n_sv : 1));
    double *coef = malloc(sizeof *coef * (size_t)(n_sv ? n_sv : 1));
    if (!idx || !coef) {
        free(idx), free(coef);
        dc_error("%s: out of memory", fn);
        goto done;
    }
    for (int64_t t = 0, s = 0; t < n; t++)
        if (alpha[t] > 0) idx[s] = t, coef[s] = alpha[t] * yv[t], s++;
    dc_tensor *sv = dc_index_select(dc_to_dtype(x, DC_F64), 0, dc_from_buffer(DC_I64, 1, &n_sv, idx));
    dc_tensor *cf = dc_from_buffer(DC_F64, 1, &n_sv, coef);
    dc_tensor *al = dc_from_buffer(DC_F64, 1, &n, alpha);
    free(idx), free(coef);
    if (sv && cf && al) {
        svm->support = dc_tensor_retain(dc_contiguous(sv));
        svm->coef = dc_tensor_retain(cf), svm->alpha = dc_tensor_retain(al);
        rc = 0;
    }
done:
    dc_scope_end(scope);
    free(yv), free(alpha), free(G);
    if (rc != 0) km_svm_free(svm);
    return rc;
}

dc_tensor *km_svm_decision(const km_svm *svm, dc_tensor *z)
{
    const char *fn = "km_svm_decision";
    if (!svm || !svm->support) return dc_error("%s: the SVM is not trained", fn);
    if (!check_points(fn, "z", z) || !check_same_dim(fn, svm->support, z)) return NULL;
    size_t scope = dc_scope_begin();
    dc_tensor *f = dc_add_scalar(dc_matmul(km_gram(&svm->kernel, z, svm->support), svm->coef), svm->b);
    return dc_scope_return(scope, f);
}

double km_svm_accuracy(const km_svm *svm, dc_tensor *z, dc_tensor *y)
{
    char buf[96];
    size_t scope = dc_scope_begin();
    dc_tensor *f = km_svm_decision(svm, z);
    double acc = -1;
    if (f && (!y || y->ndim != 1 || y->shape[0] != f->shape[0]))
        dc_error("km_svm_accuracy: labels y must be [%lld], got %s", (long long)f->shape[0],
                 y ? dc_shape_str(y, buf, sizeof buf) : "NULL");
    else if (f)
        acc = dc_item(dc_mean_all(dc_to_dtype(
            dc_eq(dc_to_dtype(dc_gt(f, dc_scalar(DC_F64, 0)), DC_I64), y), DC_F64)));
    dc_scope_end(scope);
    return acc;
}

/* ---- Gaussian processes ----------------------------------------------------------------------- */

/* sf2 exp(-|a - b|^2 / (2 l^2)) = exp(log sf2 - |a - b|^2 exp(-2 log l) / 2) */
static dc_tensor *gp_kernel(dc_tensor *a, dc_tensor *b, dc_tensor *log_l, dc_tensor *log_sf2)
{
    dc_tensor *scaled = dc_mul(dc_mul_scalar(sqdist(a, b), 0.5), dc_exp(dc_mul_scalar(log_l, -2)));
    return dc_exp(dc_sub(log_sf2, scaled));
}

static bool check_hyper_tensor(const char *fn, const char *name, const dc_tensor *t)
{
    if (!t || t->ndim != 0 || !dc_dtype_is_float(t->dtype))
        return dc_error("%s: %s must be a float scalar tensor", fn, name), false;
    double v = dc_item(t);
    if (!isfinite(v)) return dc_error("%s: %s is %g, not finite", fn, name, v), false;
    return true;
}

/* The lower Cholesky factor of K(x, x) + s_n I */
static dc_tensor *gp_factor(dc_tensor *xd, dc_tensor *log_l, dc_tensor *log_sf2, dc_tensor *log_sn2)
{
    dc_tensor *k = dc_add(gp_kernel(xd, xd, log_l, log_sf2), dc_mul(eye(xd->shape[0]), dc_exp(log_sn2)));
    return dc_linalg_cholesky(k, false);
}

dc_tensor *km_gp_nll(dc_tensor *x, dc_tensor *y, dc_tensor *log_lengthscale,
                     dc_tensor *log_signal_var, dc_tensor *log_noise_var)
{
    const char *fn = "km_gp_nll";
    if (!check_points(fn, "x", x) || !check_targets(fn, x, y, false) ||
        !check_hyper_tensor(fn, "log_lengthscale", log_lengthscale) ||
        !check_hyper_tensor(fn, "log_signal_var", log_signal_var) ||
        !check_hyper_tensor(fn, "log_noise_var", log_noise_var))
        return NULL;
    const int64_t n = x->shape[0];
    size_t scope = dc_scope_begin();
    dc_tensor *l = gp_factor(dc_to_dtype(x, DC_F64), dc_to_dtype(log_lengthscale, DC_F64),
                             dc_to_dtype(log_signal_var, DC_F64), dc_to_dtype(log_noise_var, DC_F64));
    if (!l) { /* not positive definite: cholesky's error stands */
        dc_scope_end(scope);
        return NULL;
    }
    dc_tensor *v = dc_linalg_solve(l, dc_to_dtype(y, DC_F64)); /* L^-1 y */
    dc_tensor *quad = dc_sum_all(dc_mul(v, v));
    dc_tensor *half_logdet = dc_sum_all(dc_log(dc_diagonal(l, 0, 0, 1)));
    dc_tensor *nll = dc_add_scalar(dc_add(dc_mul_scalar(quad, 0.5), half_logdet),
                                   0.5 * (double)n * log(2 * M_PI));
    return dc_scope_return(scope, nll);
}

static bool check_hyper(const char *fn, const km_gp_hyper *h)
{
    if (!h) return dc_error("%s: hyper-parameters are NULL", fn), false;
    if (!(h->lengthscale > 0 && h->signal_var > 0 && h->noise_var >= 0) || !isfinite(h->lengthscale) ||
        !isfinite(h->signal_var) || !isfinite(h->noise_var))
        return dc_error("%s: need lengthscale > 0, signal_var > 0, noise_var >= 0 (finite), got %g, "
                        "%g, %g",
                        fn, h->lengthscale, h->signal_var, h->noise_var),
               false;
    return true;
}

/* log-parameter scalars of h (log 0 = -inf is kept out: a zero noise adds exactly 0) */
static void hyper_logs(const km_gp_hyper *h, dc_tensor **ll, dc_tensor **lsf, dc_tensor **lsn)
{
    *ll = dc_scalar(DC_F64, log(h->lengthscale));
    *lsf = dc_scalar(DC_F64, log(h->signal_var));
    *lsn = dc_scalar(DC_F64, h->noise_var > 0 ? log(h->noise_var) : -800.0); /* exp -> 0 */
}

double km_gp_nll_value(dc_tensor *x, dc_tensor *y, const km_gp_hyper *h)
{
    if (!check_hyper("km_gp_nll_value", h)) return NAN;
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *ll, *lsf, *lsn;
    hyper_logs(h, &ll, &lsf, &lsn);
    dc_tensor *nll = km_gp_nll(x, y, ll, lsf, lsn);
    double v = nll ? dc_item(nll) : NAN;
    dc_grad_mode_restore(prev);
    dc_scope_end(scope);
    return v;
}

int km_gp_fit(dc_tensor *x, dc_tensor *y, km_gp_hyper *h, int steps, double lr, double *nll)
{
    const char *fn = "km_gp_fit";
    if (!check_hyper(fn, h)) return -1;
    if (!(h->noise_var > 0)) return dc_error("%s: the starting noise_var must be > 0", fn), -1;
    if (steps < 1 || !(lr > 0))
        return dc_error("%s: need steps >= 1 (got %d) and lr > 0 (got %g)", fn, steps, lr), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *p[3];
    hyper_logs(h, &p[0], &p[1], &p[2]);
    int rc = 0;
    for (int i = 0; i < 3 && rc == 0; i++) rc = dc_requires_grad(p[i], true) ? 0 : -1;
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, lr);
    dc_optimizer *opt = rc == 0 ? dc_optimizer_new_tensors(3, p, &cfg) : NULL;
    for (int s = 0; opt && s < steps && rc == 0; s++) {
        size_t step = dc_scope_begin();
        dc_optimizer_zero_grad(opt);
        dc_tensor *loss = km_gp_nll(x, y, p[0], p[1], p[2]);
        rc = loss && dc_backward(loss) == 0 ? 0 : -1;
        if (rc == 0 && nll) nll[s] = dc_item(loss);
        if (rc == 0) rc = dc_optimizer_step(opt);
        dc_scope_end(step);
    }
    if (!opt) rc = -1;
    if (rc == 0)
        *h = (km_gp_hyper){exp(dc_item(p[0])), exp(dc_item(p[1])), exp(dc_item(p[2]))};
    if (opt) dc_optimizer_zero_grad(opt);
    dc_optimizer_free(opt);
    dc_scope_end(scope);
    return rc;
}

int km_gp_predict(dc_tensor *x, dc_tensor *y, const km_gp_hyper *h, dc_tensor *z, dc_tensor **mean,
                  dc_tensor **var)
{
    const char *fn = "km_gp_predict";
    if (mean) *mean = NULL;
    if (var) *var = NULL;
    if (!check_hyper(fn, h) || !check_points(fn, "x", x) || !check_targets(fn, x, y, false) ||
        !check_points(fn, "z", z) || !check_same_dim(fn, x, z))
        return -1;
    size_t scope = dc_scope_begin();
    bool prev = dc_no_grad_begin();
    dc_tensor *ll, *lsf, *lsn;
    hyper_logs(h, &ll, &lsf, &lsn);
    dc_tensor *xd = dc_to_dtype(x, DC_F64), *zd = dc_to_dtype(z, DC_F64);
    dc_tensor *l = gp_factor(xd, ll, lsf, lsn);
    dc_tensor *kxz = l ? gp_kernel(xd, zd, ll, lsf) : NULL;
    dc_tensor *mu = NULL, *v = NULL;
    if (kxz) { /* alpha = L^-T L^-1 y, mean = K_zx alpha; var = s_f - colsum((L^-1 K_xz)^2) */
        dc_tensor *alpha = dc_linalg_solve(dc_transpose(l, 0, 1), dc_linalg_solve(l, dc_to_dtype(y, DC_F64)));
        mu = dc_matmul(dc_transpose(kxz, 0, 1), alpha);
        dc_tensor *w = dc_linalg_solve(l, kxz);
        v = dc_clamp(dc_rsub_scalar(dc_sum(dc_mul(w, w), 1, (int[]){0}, false), h->signal_var), 0, NAN);
    }
    dc_grad_mode_restore(prev);
    int rc = mu && v ? 0 : -1;
    if (rc == 0) dc_tensor_retain(mu), dc_tensor_retain(v);
    dc_scope_end(scope);
    if (rc != 0) return -1;
    if (mean) *mean = hand_out(mu);
    else dc_tensor_free(mu);
    if (var) *var = hand_out(v);
    else dc_tensor_free(v);
    return 0;
}

/* ---- 2-D toy data and pictures -------------------------------------------------------------- */

static double gauss(dc_rng *rng)
{
    double u1 = dc_rng_uniform(rng), u2 = dc_rng_uniform(rng);
    return sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
}

int km_moons(int64_t n, double noise, dc_rng *rng, dc_tensor **x, dc_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!x || !y) return dc_error("km_moons: output pointers are NULL"), -1;
    if (n < 2 || !(noise >= 0))
        return dc_error("km_moons: need n >= 2 (got %lld) and noise >= 0 (got %g)", (long long)n, noise), -1;
    size_t scope = dc_scope_begin();
    dc_tensor *xs = dc_empty(DC_F64, 2, (int64_t[]){n, 2}), *ys = dc_empty(DC_I64, 1, &n);
    if (!xs || !ys) {
        dc_scope_end(scope);
        return -1;
    }
    double *xp = dc_data(xs);
    int64_t *yp = dc_data(ys);
    const int64_t n0 = n / 2, n1 = n - n0;
    for (int64_t i = 0; i < n; i++) {
        bool upper = i < n0;
        int64_t j = upper ? i : i - n0, m = upper ? n0 : n1;
        double th = m > 1 ? M_PI * (double)j / (double)(m - 1) : 0;
        xp[2 * i] = upper ? cos(th) : 1 - cos(th);
        xp[2 * i + 1] = upper ? sin(th) : 0.5 - sin(th);
        xp[2 * i] += noise * gauss(rng), xp[2 * i + 1] += noise * gauss(rng);
        yp[i] = upper ? 0 : 1;
    }
    dc_tensor_retain(xs), dc_tensor_retain(ys);
    dc_scope_end(scope);
    *x = hand_out(xs), *y = hand_out(ys);
    return 0;
}

static void put_pixel(float *img, int64_t size, int64_t r, int64_t c, double red, double green,
                      double blue)
{
    if (r < 0 || c < 0 || r >= size || c >= size) return;
    img[r * size + c] = (float)red;
    img[size * size + r * size + c] = (float)green;
    img[2 * size * size + r * size + c] = (float)blue;
}

dc_tensor *km_decision_image(dc_tensor *(*decision)(void *user, dc_tensor *z), void *user,
                             dc_tensor *x, dc_tensor *y, const bool *highlight, int64_t size,
                             double x0, double x1, double y0, double y1)
{
    const char *fn = "km_decision_image";
    if (!decision) return dc_error("%s: decision function is NULL", fn);
    if (!check_points(fn, "x", x)) return NULL;
    if (x->shape[1] != 2 || !y || y->ndim != 1 || y->shape[0] != x->shape[0])
        return dc_error("%s: need points x [n, 2] and labels y [n]", fn);
    if (size < 8 || size > 4096 || !(x1 > x0) || !(y1 > y0))
        return dc_error("%s: size %lld must be in [8, 4096] and the window non-empty", fn, (long long)size);
    size_t scope = dc_scope_begin();
    const int64_t np = size * size;
    dc_tensor *grid = dc_empty(DC_F64, 2, (int64_t[]){np, 2});
    if (!grid) {
        dc_scope_end(scope);
        return NULL;
    }
    double *g = dc_data(grid);
    for (int64_t r = 0; r < size; r++)
        for (int64_t c = 0; c < size; c++) {
            g[2 * (r * size + c)] = x0 + (c + 0.5) / (double)size * (x1 - x0);
            g[2 * (r * size + c) + 1] = y1 - (r + 0.5) / (double)size * (y1 - y0);
        }
    dc_tensor *f = dc_contiguous(dc_to_dtype(decision(user, grid), DC_F64));
    dc_tensor *img = dc_empty(DC_F32, 3, (int64_t[]){3, size, size});
    if (!f || !img || dc_numel(f) != np) {
        if (f && img) dc_error("%s: the decision function gave %lld values for %lld points", fn,
                               (long long)dc_numel(f), (long long)np);
        dc_scope_end(scope);
        return NULL;
    }
    const double *fv = dc_data(f);
    float *im = dc_data(img);
    for (int64_t r = 0; r < size; r++)
        for (int64_t c = 0; c < size; c++) {
            double v = fv[r * size + c];
            /* level sets crossed between this pixel and its right / lower neighbour */
            double vr = c + 1 < size ? fv[r * size + c + 1] : v, vd = r + 1 < size ? fv[(r + 1) * size + c] : v;
            bool zero = (v > 0) != (vr > 0) || (v > 0) != (vd > 0);
            bool margin = (v > 1) != (vr > 1) || (v > 1) != (vd > 1) || (v > -1) != (vr > -1) ||
                          (v > -1) != (vd > -1);
            if (zero) put_pixel(im, size, r, c, 0.1, 0.1, 0.1);
            else if (margin) put_pixel(im, size, r, c, 0.6, 0.6, 0.6);
            else if (v > 0) put_pixel(im, size, r, c, 0.80, 0.87, 1.0);
            else put_pixel(im, size, r, c, 1.0, 0.84, 0.80);
        }
    dc_tensor *xd = dc_contiguous(dc_to_dtype(x, DC_F64));
    const double *xp = xd ? dc_data(xd) : NULL;
    for (int64_t i = 0; xp && i < x->shape[0]; i++) {
        int64_t c = (int64_t)floor((xp[2 * i] - x0) / (x1 - x0) * (double)size);
        int64_t r = (int64_t)floor((y1 - xp[2 * i + 1]) / (y1 - y0) * (double)size);
        bool one = dc_item_at(y, &i) == 1;
        for (int64_t dr = -2; dr <= 2; dr++)
            for (int64_t dc = -2; dc <= 2; dc++) {
                bool edge = dr == -2 || dr == 2 || dc == -2 || dc == 2;
                if (edge && !(highlight && highlight[i])) continue;
                if (edge) put_pixel(im, size, r + dr, c + dc, 0, 0, 0);
                else if (one) put_pixel(im, size, r + dr, c + dc, 0.12, 0.35, 0.85);
                else put_pixel(im, size, r + dr, c + dc, 0.85, 0.2, 0.15);
            }
    }
    return dc_scope_return(scope, img);
}
