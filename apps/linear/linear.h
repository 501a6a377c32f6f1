/* Linear models of the course (issue 17, "Linear models and the basics"): the perceptron
 * (two-class and one-versus-rest multi-class) and Adaline (LMS), logistic and softmax
 * regression by SGD with L1 and L2 penalties, linear regression in closed form and by
 * gradient descent, Gaussian-basis features (the book's Fig. 1.1), random ReLU features and
 * the minimum-norm least-squares solution (double descent), and the bias-variance split.
 * Uses only the public headers. Everything computes in float64.
 *
 * Shapes: inputs x [N, D] (float), class labels y [N] (int64 in [0, n_classes)), regression
 * targets y [N] or [N, K] (float). Errors are values: NULL / -1 with dc_last_error() naming
 * the function and the bad argument; the inputs are never modified. Results are owned like
 * any op result (by the open scope, else by the caller). */
#ifndef DEEPC_APPS_LINEAR_H
#define DEEPC_APPS_LINEAR_H

#include "deepc.h"

/* ---- Data ----------------------------------------------------------------------------------- */

/* n_per_class points of each of n_classes (>= 2) round 2-D Gaussian blobs of standard deviation
 * `spread`, centred on the circle of radius 3 at angles 2 pi c / n_classes: *x float64
 * [n_per_class * n_classes, 2], *y int64 (class c's points in a run, in order of c). Points
 * farther than 1.2 from their centre are redrawn, so spread <= 0.5 keeps the classes
 * linearly separable (one versus the rest included, up to 8 classes). 0 or -1. */
int linear_blobs(int64_t n_per_class, int n_classes, double spread, dc_rng *rng, dc_tensor **x,
                 dc_tensor **y);

/* The Fashion-MNIST images of two classes (class_a -> label 0, class_b -> label 1) of the
 * training or test set in dir (NULL: the Debian package's), in file order, at most max_n of
 * them (0: all): *x float64 [n, 784] in [0, 1], *y int64 [n]. 0 or -1. */
int linear_fashion_pair(const char *dir, bool train, int class_a, int class_b, int64_t max_n,
                        dc_tensor **x, dc_tensor **y);

/* ---- Perceptron and Adaline (course slides "Perceptrons and Adalines") ------------------------ */

/* Rosenblatt's perceptron: weights W [K, D + 1] (the bias in the last column), K = 1 for two
 * classes (decision sign(w . x + b), label 1 is +1, label 0 is -1), else K = n_classes
 * perceptrons "one versus the rest" (decision argmax_k). Starts from W = 0 and visits the
 * samples once per epoch (in order, or shuffled with rng when it is not NULL); where
 * t_k (w_k . x + b_k) <= 0 it updates w_k += lr t_k x, b_k += lr t_k (t_k = +1 for the
 * sample's own class, else -1). mistakes[e] (nullable, max_epochs entries) gets the number
 * of samples of epoch e that caused an update; training stops after an epoch without one
 * (converged: the training set is separated). Returns the number of epochs run (== max_epochs
 * when it did not converge) and *weight, or -1 (*weight NULL). */
int linear_perceptron_fit(dc_tensor *x, dc_tensor *y, int64_t n_classes, double lr,
                          int max_epochs, dc_rng *rng, dc_tensor **weight, double *mistakes);

/* Widrow-Hoff's Adaline, the LMS rule: the same layout and targets t_k = +-1 as the
 * perceptron, but every sample updates w_k += lr (t_k - w_k . x - b_k) x (and b_k), i.e. SGD on
 * the squared error. mse[e] (nullable) gets the mean over samples and outputs of
 * (t_k - w_k . x - b_k)^2 after epoch e. Runs `epochs` epochs; returns them, or -1. */
int linear_adaline_fit(dc_tensor *x, dc_tensor *y, int64_t n_classes, double lr, int epochs,
                       dc_rng *rng, dc_tensor **weight, double *mse);

/* Labels int64 [N] of a perceptron / Adaline weight W [K, D + 1]: K = 1: w . x + b > 0 -> 1,
 * else 0; K > 1: argmax_k. */
dc_tensor *linear_predict(dc_tensor *weight, dc_tensor *x);
/* Fraction of the N samples that linear_predict labels correctly; -1 on error. */
double linear_accuracy(dc_tensor *weight, dc_tensor *x, dc_tensor *y);

/* ---- Logistic and softmax regression (SGD, L1 and L2) ------------------------------------- */

/* weight [K, D] and bias [K], float64 leaves that require grad, owned by the struct.
 * K = 1: logistic regression (p(y = 1 | x) = sigmoid(w . x + b)); K >= 2: softmax regression. */
typedef struct {
    dc_tensor *weight, *bias;
} linear_classifier;

/* Zero weight and bias for D inputs and K outputs (K = 1 logistic, >= 2 softmax). 0 or -1. */
int linear_classifier_init(linear_classifier *m, int64_t n_inputs, int64_t n_outputs);
/* Release the weight and bias (the struct is zeroed); a zeroed struct is ignored. */
void linear_classifier_free(linear_classifier *m);
/* Logits x W^T + b [N, K]. */
dc_tensor *linear_classifier_logits(const linear_classifier *m, dc_tensor *x);
/* The training objective, a float64 scalar with autograd: the mean loss (K = 1:
 * binary cross-entropy of the logit with y as 0/1; else cross-entropy) +
 * l2 / 2 ||W||^2 + l1 ||W||_1 (the bias is not penalised; |w| has gradient sign(w), 0 at 0). */
dc_tensor *linear_classifier_objective(const linear_classifier *m, dc_tensor *x, dc_tensor *y,
                                       double l1, double l2);
/* Labels int64 [N]: K = 1: logit > 0; else argmax. Accuracy: the fraction right (-1: error). */
dc_tensor *linear_classifier_predict(const linear_classifier *m, dc_tensor *x);
double linear_classifier_accuracy(const linear_classifier *m, dc_tensor *x, dc_tensor *y);

typedef struct {
    double lr;        /* SGD step (> 0) */
    int epochs;       /* passes over the data (>= 1) */
    int64_t batch;    /* samples per step; 0 or >= N: full-batch gradient descent, in order */
    double l1, l2;    /* penalties (>= 0) */
    bool proximal_l1; /* the L1 term by soft-thresholding after each step (proximal SGD:
                         W = sign(W) max(|W| - lr l1, 0), exact zeros) instead of its
                         subgradient */
} linear_sgd_opts;

/* Train m (from its current values) by plain SGD (torch.optim.SGD, no momentum) on
 * linear_classifier_objective: each epoch visits a random permutation (rng) in batches (or,
 * full-batch, takes one step on all samples). objective[e] (nullable) gets the full-data
 * objective (both penalties) after epoch e. 0 or -1 (m then holds the last good values). */
int linear_classifier_fit(linear_classifier *m, dc_tensor *x, dc_tensor *y,
                          const linear_sgd_opts *opts, dc_rng *rng, double *objective);

/* ---- Linear regression ---------------------------------------------------------------------- */

/* [x | 1]: x [N, D] with a column of ones appended -> [N, D + 1]. */
dc_tensor *linear_add_bias_column(dc_tensor *x);

typedef enum {
    LINEAR_LSTSQ,           /* dc_linalg_lstsq (QR); ridge must be 0 */
    LINEAR_NORMAL_EQUATIONS /* solve (A^T A + ridge I) w = A^T y through its Cholesky factor */
} linear_solver;
/* argmin_w ||A w - y||^2 + ridge ||w||^2 for A [N, P], y [N] (-> w [P]) or [N, K] (-> [P, K]).
 * A rank-deficient A (ridge 0) is an error, never NaNs. */
dc_tensor *linear_regression_fit(dc_tensor *a, dc_tensor *y, linear_solver solver, double ridge);
/* The same minimiser by full-batch gradient descent on (||A w - y||^2 + ridge ||w||^2) / N with
 * autograd, from w = 0: step lr (<= 0: 1 / L with L = 2 lambda_max(A^T A + ridge I) / N, from
 * dc_linalg_eigh) until the largest |gradient| is <= tol or max_steps steps; *steps (nullable)
 * gets the steps taken, loss[s] (nullable, max_steps entries) the objective before step s. */
dc_tensor *linear_regression_gd(dc_tensor *a, dc_tensor *y, double ridge, double lr,
                                int64_t max_steps, double tol, int64_t *steps, double *loss);
/* The minimum-norm least-squares solution A^+ y through the SVD (dc_linalg_svd): singular values
 * below rcond * s_max count as 0. Any shape: past interpolation (P > N) this is the
 * interpolating w of least norm. */
dc_tensor *linear_min_norm_lstsq(dc_tensor *a, dc_tensor *y, double rcond);
/* Gaussian basis functions phi[n, k] = exp(-(x_n - c_k)^2 / (2 sigma^2)) of x [N] at the
 * centres [K] (sigma > 0), differentiable: the book's Fig. 1.1 features. */
dc_tensor *linear_gaussian_basis(dc_tensor *x, dc_tensor *centers, double sigma);
/* Random ReLU features relu(x W^T + b) / sqrt(P) of x [N, D] with W [P, D], b [P]. */
dc_tensor *linear_random_relu_features(dc_tensor *x, dc_tensor *w, dc_tensor *b);

/* Bias-variance split of R models' predictions pred[r * M + m] at M points against the true
 * values truth[m]: *bias2 = mean_m (mean_r pred - truth)^2, *variance = mean_m var_r pred (the
 * population variance); their sum is the expected squared error mean_{r,m} (pred - truth)^2.
 * 0 or -1 (R, M < 1 or NULL). */
int linear_bias_variance(const double *pred, int64_t n_models, int64_t n_points,
                         const double *truth, double *bias2, double *variance);

#endif
