/* Train a 2-layer MLP with deepc's modules, loss and optimizer: the README's example. */
#include <deepc.h>
#include <stdio.h>

int main(void)
{
    size_t program = dc_scope_begin(); /* owns the data tensors below */
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    /* toy set: 512 points in 2-D, class = inside the unit circle */
    dc_tensor *x = dc_uniform(&rng, DC_F32, DC_SHAPE(512, 2), -1.5, 1.5);
    dc_tensor *r2 = dc_sum(dc_mul(x, x), 1, (int[]){1}, false);
    dc_tensor *y = dc_to_dtype(dc_lt(r2, dc_scalar(DC_F32, 1.0)), DC_I64);
    dc_module *model = dc_sequential_new(3, dc_linear_new(2, 32, true, &rng),
                                         dc_activation_new(DC_ACT_RELU, 0), dc_linear_new(32, 2, true, &rng));
    dc_tensor_list params;
    dc_module_parameters(model, &params);
    dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 0.01);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    double loss_value = 0, accuracy = 0;
    for (int step = 0; step < 300 && opt; step++) {
        size_t scope = dc_scope_begin(); /* everything made in a step dies with it */
        dc_tensor *logits = dc_forward(model, x);
        dc_tensor *loss = dc_cross_entropy(logits, y, NULL);
        bool ok = loss && dc_backward(loss) == 0 && dc_optimizer_step(opt) == 0;
        dc_optimizer_zero_grad(opt);
        loss_value = dc_item(loss);
        accuracy = dc_accuracy(logits, y);
        dc_scope_end(scope);
        if (!ok) break;
    }
    bool ok = !dc_has_error() && dc_checkpoint_save("/tmp/mlp_modules.safetensors", model, opt, NULL, 0) == 0;
    if (ok) printf("loss %.4f, train accuracy %.1f%%\n", loss_value, 100 * accuracy);
    else fprintf(stderr, "error: %s\n", dc_last_error());
    dc_optimizer_free(opt), dc_tensor_list_free(&params), dc_module_free(model);
    dc_scope_end(program);
    return ok && accuracy > 0.95 ? 0 : 1;
}
