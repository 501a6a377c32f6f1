/* Scalar autograd in the spirit of micrograd (github.com/karpathy/micrograd).
 *
 * Part 1 builds micrograd's README expression from 0-dim float64 tensors, backpropagates, and
 * checks g, dg/da and dg/db against the values PyTorch gives for the same expression (quoted
 * in micrograd's README: 24.7041, 138.8338, 645.5773) and against central finite differences.
 * Part 2 trains micrograd's demo network, a 3-4-4-1 tanh MLP made of scalar tensors, on four
 * points with plain SGD and shows the loss going down.
 *
 * Exit status: 0 when every check passes, 1 otherwise. */
#include "deepc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int failures;

static void check(const char *what, double got, double expected, double tol)
{
    bool ok = fabs(got - expected) <= tol;
    printf("  %-34s %12.4f  expected %12.4f  %s\n", what, got, expected, ok ? "ok" : "FAIL");
    if (!ok) failures++;
}

static dc_tensor *scalar(double v) { return dc_scalar(DC_F64, v); }

/* micrograd's README example, operation for operation (`c += x` there rebinds c to c + x). */
static dc_tensor *expression(dc_tensor *a, dc_tensor *b)
{
    dc_tensor *c = dc_add(a, b);
    dc_tensor *d = dc_add(dc_mul(a, b), dc_pow_scalar(b, 3));
    c = dc_add(c, dc_add_scalar(c, 1));                                /* c += c + 1 */
    c = dc_add(c, dc_add(dc_add_scalar(c, 1), dc_neg(a)));             /* c += 1 + c + (-a) */
    d = dc_add(d, dc_add(dc_mul_scalar(d, 2), dc_relu(dc_add(b, a)))); /* d += d*2 + relu(b+a) */
    d = dc_add(d, dc_add(dc_mul_scalar(d, 3), dc_relu(dc_sub(b, a)))); /* d += 3*d + relu(b-a) */
    dc_tensor *e = dc_sub(c, d);
    dc_tensor *f = dc_pow_scalar(e, 2);
    dc_tensor *g = dc_mul_scalar(f, 0.5);      /* g = f / 2 */
    return dc_add(g, dc_div(scalar(10.0), f)); /* g += 10 / f */
}

/* g(a, b) evaluated without recording a graph, for finite differences. */
static double expression_value(double a, double b)
{
    size_t scope = dc_scope_begin();
    bool grad_mode = dc_no_grad_begin();
    double g = dc_item(expression(scalar(a), scalar(b)));
    dc_grad_mode_restore(grad_mode);
    dc_scope_end(scope);
    return g;
}

static int check_expression(void)
{
    printf("micrograd's expression, built from 0-dim float64 tensors:\n");
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_requires_grad(scalar(-4.0), true);
    dc_tensor *b = dc_requires_grad(scalar(2.0), true);
    dc_tensor *g = expression(a, b);
    if (!g || dc_backward(g) != 0) {
        fprintf(stderr, "micrograd: expression failed: %s\n", dc_last_error());
        dc_scope_end(scope);
        return -1;
    }
    double g_value = dc_item(g), dg_da = dc_item(a->grad), dg_db = dc_item(b->grad);
    dc_scope_end(scope);

    /* PyTorch's values (float64) as printed in micrograd's README, rounded to 4 decimals. */
    check("g", g_value, 24.7041, 1e-4);
    check("dg/da vs PyTorch", dg_da, 138.8338, 1e-4);
    check("dg/db vs PyTorch", dg_db, 645.5773, 1e-4);

    /* Central differences: (g(x+h) - g(x-h)) / 2h has error O(h^2) in exact arithmetic and
     * O(eps/h) from rounding; h = 1e-5 balances the two well below the tolerance. */
    const double h = 1e-5;
    double fd_a = (expression_value(-4.0 + h, 2.0) - expression_value(-4.0 - h, 2.0)) / (2 * h);
    double fd_b = (expression_value(-4.0, 2.0 + h) - expression_value(-4.0, 2.0 - h)) / (2 * h);
    check("dg/da vs finite differences", dg_da, fd_a, 1e-4 * fabs(fd_a));
    check("dg/db vs finite differences", dg_db, fd_b, 1e-4 * fabs(fd_b));
    return 0;
}

/* ---- A tiny MLP made of scalars (micrograd's demo) ---------------------------------------- */

enum { N_LAYERS = 3, MAX_WIDTH = 4, N_POINTS = 4 };
static const int widths[N_LAYERS + 1] = {3, 4, 4, 1};

/* Each neuron computes tanh(sum_i w_i x_i + b); every weight is its own scalar tensor. */
typedef struct {
    dc_tensor *w[N_LAYERS][MAX_WIDTH][MAX_WIDTH]; /* [layer][neuron][input] */
    dc_tensor *b[N_LAYERS][MAX_WIDTH];
} mlp;

/* Calls fn on every parameter, so creation, update and release share one traversal. */
static void for_each_parameter(mlp *net, void (*fn)(dc_tensor **p, void *ctx), void *ctx)
{
    for (int l = 0; l < N_LAYERS; l++)
        for (int j = 0; j < widths[l + 1]; j++) {
            for (int i = 0; i < widths[l]; i++) fn(&net->w[l][j][i], ctx);
            fn(&net->b[l][j], ctx);
        }
}

/* micrograd initialises every parameter from U(-1, 1). */
static void init_parameter(dc_tensor **p, void *rng)
{
    *p = dc_requires_grad(scalar(2.0 * dc_rng_uniform(rng) - 1.0), true);
}

/* p -= lr * dp/dloss, then clear the gradient for the next step (no graph is recorded:
 * in-place ops never record). */
static void sgd_step(dc_tensor **p, void *lr)
{
    dc_axpy_(*p, -*(double *)lr, (*p)->grad);
    dc_zero_grad(*p);
}

static void free_parameter(dc_tensor **p, void *ctx)
{
    (void)ctx;
    dc_tensor_free(*p);
    *p = NULL;
}

static dc_tensor *mlp_forward(mlp *net, const double *x)
{
    dc_tensor *act[MAX_WIDTH], *next[MAX_WIDTH];
    for (int i = 0; i < widths[0]; i++) act[i] = scalar(x[i]);
    for (int l = 0; l < N_LAYERS; l++) {
        for (int j = 0; j < widths[l + 1]; j++) {
            dc_tensor *sum = net->b[l][j];
            for (int i = 0; i < widths[l]; i++) sum = dc_add(sum, dc_mul(net->w[l][j][i], act[i]));
            next[j] = dc_tanh(sum);
        }
        for (int j = 0; j < widths[l + 1]; j++) act[j] = next[j];
    }
    return act[0];
}

static int train_mlp(void)
{
    static const double xs[N_POINTS][3] = {{2, 3, -1}, {3, -1, 0.5}, {0.5, 1, 1}, {1, 1, -1}};
    static const double ys[N_POINTS] = {1, -1, -1, 1};
    const int steps = 40;
    double lr = 0.05, first_loss = NAN, loss_value = NAN;

    printf("\ntraining micrograd's 3-4-4-1 tanh MLP (41 scalar parameters) on 4 points:\n");
    mlp net;
    dc_rng rng;
    dc_rng_seed(&rng, 1337);
    for_each_parameter(&net, init_parameter, &rng);

    for (int step = 0; step < steps; step++) {
        size_t scope = dc_scope_begin(); /* every tensor of this step dies at its end */
        dc_tensor *loss = scalar(0.0);   /* loss = sum_k (mlp(x_k) - y_k)^2 */
        for (int k = 0; k < N_POINTS; k++)
            loss = dc_add(loss, dc_pow_scalar(dc_add_scalar(mlp_forward(&net, xs[k]), -ys[k]), 2));
        int rc = loss ? dc_backward(loss) : -1;
        loss_value = dc_item(loss);
        if (rc == 0) for_each_parameter(&net, sgd_step, &lr);
        dc_scope_end(scope);
        if (rc != 0 || dc_has_error()) {
            fprintf(stderr, "micrograd: training step %d failed: %s\n", step, dc_last_error());
            for_each_parameter(&net, free_parameter, NULL);
            return -1;
        }
        if (step == 0) first_loss = loss_value;
        if (step % 5 == 0 || step == steps - 1) printf("  step %2d  loss %.6f\n", step, loss_value);
    }

    size_t scope = dc_scope_begin();
    printf("  predictions:");
    for (int k = 0; k < N_POINTS; k++)
        printf(" %+.3f (target %+.0f)", dc_item(mlp_forward(&net, xs[k])), ys[k]);
    printf("\n");
    dc_scope_end(scope);
    for_each_parameter(&net, free_parameter, NULL);

    bool ok = loss_value < 0.1 * first_loss;
    printf("  loss went from %.4f to %.4f: %s\n", first_loss, loss_value, ok ? "ok" : "FAIL");
    if (!ok) failures++;
    return 0;
}

int main(void)
{
    if (check_expression() != 0 || train_mlp() != 0) return 1;
    if (dc_live_tensors() != 0) {
        fprintf(stderr, "micrograd: %lld tensors leaked\n", (long long)dc_live_tensors());
        return 1;
    }
    printf("\n%s\n", failures ? "some checks FAILED" : "all checks passed");
    return failures ? 1 : 0;
}
