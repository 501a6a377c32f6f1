/* A new differentiable op from outside the library, higher-order gradients and optimising a
 * single tensor (run by the tests).
 *
 * 1. The pseudo-Huber loss h(r) = sqrt(r^2 + 1) - 1 as a custom function (dc_function_apply):
 *    forward computes it, backward returns g r / sqrt(r^2 + 1) written with ops, so it can
 *    be differentiated again.
 * 2. Newton's method on the convex f(x) = sum(h(A x - b)) + 0.1 |x|^2 with Hessian-vector
 *    products from dc_grad(create_graph): the Newton system H d = -g is solved by conjugate
 *    gradients, which only needs H v, never H itself.
 * 3. The same f minimised by Adam over the one tensor x (dc_optimizer_new_tensors).
 * Both reach the same minimum; (damped) Newton in a handful of steps. */
#include <deepc.h>
#include <math.h>
#include <stdio.h>

static dc_tensor *huber_forward(dc_node *ctx, dc_tensor *const *in, void *user)
{
    (void)user;
    if (dc_ctx_save(ctx, in[0]) < 0) return NULL;
    return dc_add_scalar(dc_sqrt(dc_add_scalar(dc_mul(in[0], in[0]), 1.0)), -1.0);
}

/* Under create_graph only saved inputs and outputs carry their history: sqrt(r^2 + 1) is
 * recomputed here from r rather than saved by forward, so the second derivative sees it. */
static int huber_backward(dc_node *ctx, dc_tensor *g, dc_tensor **grads, void *user)
{
    (void)user;
    dc_tensor *r = dc_ctx_saved(ctx, 0);
    grads[0] = dc_mul(g, dc_div(r, dc_sqrt(dc_add_scalar(dc_mul(r, r), 1.0))));
    return grads[0] ? 0 : -1;
}

static const dc_function pseudo_huber = {"pseudo_huber", huber_forward, huber_backward, false};

static dc_tensor *A, *b;

static dc_tensor *objective(dc_tensor *x)
{
    dc_tensor *r = dc_sub(dc_matmul(A, x), b);
    dc_tensor *h = dc_function_apply(&pseudo_huber, 1, &r, NULL);
    return dc_add(dc_sum_all(h), dc_mul_scalar(dc_sum_all(dc_mul(x, x)), 0.1));
}

static double dot(dc_tensor *u, dc_tensor *v) { return dc_item(dc_sum_all(dc_mul(u, v))); }

/* One Newton step x <- x + d with H d = -g solved by 10 conjugate-gradient iterations. */
static int newton_step(dc_tensor *x, double *f_out)
{
    size_t scope = dc_scope_begin();
    dc_tensor *f = objective(x), *g = NULL;
    if (!f || dc_grad(1, &f, NULL, 1, &x, &g, true) != 0) return dc_scope_end(scope), -1;
    *f_out = dc_item(f);
    dc_tensor *d = dc_zeros_like(x), *r = dc_neg(dc_detach(g)), *p = dc_clone(r);
    double rr = dot(r, r);
    for (int k = 0; k < 10 && rr > 1e-20; k++) {
        dc_tensor *gp = dc_sum_all(dc_mul(g, p)), *hp = NULL; /* H p = d(g . p)/dx */
        if (dc_grad(1, &gp, NULL, 1, &x, &hp, false) != 0) return dc_scope_end(scope), -1;
        double alpha = rr / dot(p, hp);
        d = dc_add(d, dc_mul_scalar(p, alpha));
        r = dc_sub(r, dc_mul_scalar(hp, alpha));
        double rr_next = dot(r, r);
        p = dc_add(r, dc_mul_scalar(p, rr_next / rr));
        rr = rr_next;
    }
    /* damped Newton: halve the step until f decreases (pure Newton can overshoot) */
    bool prev = dc_no_grad_begin();
    int rc = dc_add_(x, d); /* updates are not recorded */
    for (int halvings = 0; rc == 0 && halvings < 30 && !(dc_item(objective(x)) <= *f_out); halvings++) {
        d = dc_mul_scalar(d, 0.5);
        rc = dc_axpy_(x, -1.0, d);
    }
    dc_grad_mode_restore(prev);
    dc_scope_end(scope);
    return rc;
}

int main(void)
{
    dc_manual_seed(1);
    A = dc_randn(NULL, DC_F64, DC_SHAPE(8, 4));
    b = dc_randn(NULL, DC_F64, DC_SHAPE(8));
    dc_tensor *x = dc_requires_grad(dc_zeros(DC_F64, DC_SHAPE(4)), true);
    double f = 0;
    for (int step = 0; step < 6; step++) {
        if (newton_step(x, &f) != 0) {
            fprintf(stderr, "error: %s\n", dc_last_error());
            return 1;
        }
        printf("newton step %d: f = %.10f\n", step, f);
    }
    double newton_f = f;

    dc_tensor *y = dc_requires_grad(dc_zeros(DC_F64, DC_SHAPE(4)), true);
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 0.05);
    dc_optimizer *opt = dc_optimizer_new_tensors(1, &y, &cfg);
    for (int step = 0; opt && step < 2000; step++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = objective(y);
        bool ok = loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0;
        f = ok ? dc_item(loss) : NAN;
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
        if (!ok) break;
    }
    printf("adam, 2000 steps: f = %.10f\n", f);
    bool agree = opt && fabs(f - newton_f) < 1e-6;
    printf(agree ? "newton and adam agree\n" : "newton and adam disagree\n");
    dc_optimizer_free(opt);
    dc_tensor_free(x);
    dc_tensor_free(y);
    dc_tensor_free(A);
    dc_tensor_free(b);
    return agree ? 0 : 1;
}
