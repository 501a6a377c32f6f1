/* The README's example (kept here so the tests compile and run it: it cannot rot). */
#include <deepc.h>
#include <stdio.h>

int main(void)
{
    size_t scope = dc_scope_begin(); /* tensors created from here on are freed at scope end */
    dc_manual_seed(0);
    dc_tensor *w = dc_requires_grad(dc_randn(NULL, DC_F32, DC_SHAPE(2, 3)), true);
    dc_tensor *x = dc_reshape(dc_arange(DC_F32, 0, 6, 1), DC_SHAPE(3, 2)); /* a view */
    dc_tensor *y = dc_tanh(dc_matmul(w, dc_mul_scalar(x, 0.1)));           /* [2, 2] */
    dc_tensor *loss = dc_mean_all(dc_mul(y, y));
    if (!loss || dc_backward(loss) != 0) { /* errors are values: check once, at the end */
        fprintf(stderr, "error: %s\n", dc_last_error());
        dc_scope_end(scope);
        return 1;
    }
    printf("loss = %.6f\n", dc_item(loss));
    dc_print(w->grad, "dloss/dw");

    if (!dc_matmul(w, w)) /* [2, 3] @ [2, 3]: a shape error, reported, not fatal */
        printf("expected error: %s\n", dc_last_error());
    dc_clear_error();
    dc_scope_end(scope);
    return 0;
}
