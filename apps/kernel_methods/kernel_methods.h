/* Kernel machines and Gaussian processes of the course (issue 17, "Kernels and Gaussian
 * processes"): Gram matrices (RBF, polynomial, linear), kernel ridge regression, a C-SVM
 * trained by SMO on its dual, and Gaussian-process regression with an RBF kernel whose
 * hyper-parameters maximise the marginal likelihood by autograd through dc_linalg_cholesky
 * and dc_linalg_solve. Plus 2-D toy data and a decision-boundary picture. Uses only the public
 * headers; everything computes in float64.
 *
 * (The folder is not "kernels": "kernels/kernels.h" is the library's compute kernels.)
 * Errors are values: NULL / -1 with dc_last_error() naming the function and the bad argument
 * (a non-positive-definite Gram matrix, mismatched shapes), never NaNs; inputs are never
 * modified; results are owned like any op result. */
#ifndef DEEPC_APPS_KERNEL_METHODS_H
#define DEEPC_APPS_KERNEL_METHODS_H

#include "deepc.h"

/* ---- Kernels -------------------------------------------------------------------------------- */

typedef enum {
    KM_LINEAR, /* k(x, z) = x . z */
    KM_RBF,    /* k(x, z) = exp(-gamma |x - z|^2) */
    KM_POLY    /* k(x, z) = (gamma x . z + coef0)^degree */
} km_kind;

typedef struct {
    km_kind kind;
    double gamma; /* RBF, POLY: > 0 */
    double coef0; /* POLY */
    int degree;   /* POLY: >= 1 */
} km_kernel;

/* The Gram matrix K[i, j] = k(x1_i, x2_j) of x1 [n, d] and x2 [m, d] -> float64 [n, m]
 * (differentiable in x1 and x2). */
dc_tensor *km_gram(const km_kernel *k, dc_tensor *x1, dc_tensor *x2);

/* ---- Kernel ridge regression ---------------------------------------------------------------- */

/* alpha = (K + lambda I)^-1 y (lambda > 0) for training inputs x [n, d], targets y [n] or
 * [n, t]: the dual weights; the predictor is f(z) = sum_i alpha_i k(x_i, z). */
dc_tensor *km_ridge_fit(const km_kernel *k, dc_tensor *x, dc_tensor *y, double lambda);
/* f(z) = K(z, x) alpha for z [m, d] -> [m] (or [m, t]). */
dc_tensor *km_ridge_predict(const km_kernel *k, dc_tensor *x, dc_tensor *alpha, dc_tensor *z);

/* ---- Support vector machine ----------------------------------------------------------------- */

/* A trained C-SVM: f(z) = sum_s coef_s k(sv_s, z) + b, coef_s = alpha_s y_s (y = +-1). */
typedef struct {
    km_kernel kernel;
    dc_tensor *support;  /* [n_sv, d] the support vectors (owned by the struct) */
    dc_tensor *coef;     /* [n_sv] alpha_s y_s (owned) */
    dc_tensor *alpha;    /* [n] every training sample's alpha, 0 for non-support ones (owned) */
    double b;
    int64_t n_support;
    int64_t iterations;  /* SMO pair updates */
    double dual;         /* the dual objective sum alpha - 1/2 sum alpha_i alpha_j y_i y_j K_ij */
    double kkt_gap;      /* max violation m(alpha) - M(alpha) when it stopped (<= tol: optimal) */
} km_svm;

/* Train on x [n, d] with labels y int64 [n] in {0, 1} (0 -> -1, 1 -> +1) by SMO (Platt's
 * sequential minimal optimisation with the maximal-violating-pair working set of Keerthi et al.
 * / LIBSVM on the precomputed Gram matrix): maximise the dual sum alpha -
 * 1/2 alpha^T Q alpha, Q_ij = y_i y_j K_ij, subject to 0 <= alpha <= C and y^T alpha = 0, until
 * the violation is <= tol or max_iter updates. b from the free support vectors (0 < alpha < C),
 * else the middle of the feasible interval. Needs both classes. 0 or -1 (*svm zeroed). */
int km_svm_fit(km_svm *svm, const km_kernel *k, dc_tensor *x, dc_tensor *y, double C, double tol,
               int64_t max_iter);
/* f(z) for z [m, d] -> float64 [m] (class 1 where f > 0). */
dc_tensor *km_svm_decision(const km_svm *svm, dc_tensor *z);
/* Fraction of (z, y) classified right (y int64 {0, 1}); -1 on error. */
double km_svm_accuracy(const km_svm *svm, dc_tensor *z, dc_tensor *y);
void km_svm_free(km_svm *svm);

/* ---- Gaussian-process regression ------------------------------------------------------------ */

/* Hyper-parameters of k(x, z) = signal_var exp(-|x - z|^2 / (2 lengthscale^2)) with Gaussian
 * observation noise of variance noise_var (all > 0). */
typedef struct {
    double lengthscale, signal_var, noise_var;
} km_gp_hyper;

/* The negative log marginal likelihood -log p(y | x) =
 *   1/2 y^T (K + s_n I)^-1 y + 1/2 log det(K + s_n I) + n/2 log(2 pi)
 * of x [n, d], y [n], as a float64 scalar differentiable in the three scalar tensors
 * log_lengthscale, log_signal_var, log_noise_var (float64, 0-d): K + s_n I = L L^T
 * (dc_linalg_cholesky), y^T (..)^-1 y = |L^-1 y|^2 (dc_linalg_solve), log det = 2 sum log L_ii. A
 * Gram matrix that is not positive definite (e.g. duplicate points with no noise) is an error
 * naming the leading minor. */
dc_tensor *km_gp_nll(dc_tensor *x, dc_tensor *y, dc_tensor *log_lengthscale,
                     dc_tensor *log_signal_var, dc_tensor *log_noise_var);
/* The same for fixed hyper-parameters (no autograd); NAN with an error on failure. */
double km_gp_nll_value(dc_tensor *x, dc_tensor *y, const km_gp_hyper *h);
/* Fit *h (in: the start, out: the result) by `steps` Adam steps of rate lr on km_gp_nll in the
 * logs of the hyper-parameters. nll[s] (nullable) gets the value before step s. 0 or -1 (*h
 * unchanged). */
int km_gp_fit(dc_tensor *x, dc_tensor *y, km_gp_hyper *h, int steps, double lr, double *nll);
/* The posterior of the latent function at z [m, d]: *mean = K_zx (K + s_n I)^-1 y [m] and
 * *var = diag(K_zz - K_zx (K + s_n I)^-1 K_xz) [m] (clamped at 0; add noise_var for the
 * variance of a new observation). Either output may be NULL. 0 or -1. */
int km_gp_predict(dc_tensor *x, dc_tensor *y, const km_gp_hyper *h, dc_tensor *z, dc_tensor **mean,
                  dc_tensor **var);

/* ---- 2-D toy data and pictures -------------------------------------------------------------- */

/* Two interleaved half moons (scikit-learn's make_moons): n points, the first n/2 of class 0 on
 * the upper arc, the rest of class 1, plus N(0, noise^2) on each coordinate: *x float64 [n, 2],
 * *y int64 [n]. 0 or -1. */
int km_moons(int64_t n, double noise, dc_rng *rng, dc_tensor **x, dc_tensor **y);
/* An RGB image [3, size, size] of the plane [x0, x1] x [y0, y1] (y up): background coloured by
 * the sign of decision(z) (pale blue > 0, pale red < 0; the zero level set drawn dark), the
 * points x [n, 2] as 3x3 squares by label (blue 1, red 0), and where highlight[i] is true a
 * black frame (support vectors; highlight nullable). The decision is evaluated on the pixel
 * grid by `decision(user, z [size*size, 2]) -> [size*size]`. NULL on error. */
dc_tensor *km_decision_image(dc_tensor *(*decision)(void *user, dc_tensor *z), void *user,
                             dc_tensor *x, dc_tensor *y, const bool *highlight, int64_t size,
                             double x0, double x1, double y0, double y1);

#endif
