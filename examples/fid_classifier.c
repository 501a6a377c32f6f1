/* Train the classifier whose penultimate features the sample-quality score uses (apps/fid):
 * the small conv net of fid_classifier_new on Fashion-MNIST's 60000 training images, Adam,
 * for a time budget; prints the test accuracy and saves the weights (with the accuracy in the
 * file's metadata) to assets/fid_classifier.safetensors, which is committed.
 *   build/examples/fid_classifier [--seconds S] [--out FILE] [--threads T] [--seed N]
 * Defaults: 240 s, FID_CLASSIFIER_PATH, seed 1. Regenerating the file changes every score.
 *   build/examples/fid_classifier --score-real 1
 * trains nothing: it scores real images with the committed file (the README table's first
 * rows): 2000 training images, and test images 5000..6999, against the reference (the first
 * FID_REFERENCE_IMAGES test images). */
#include "deepc.h"
#include "fid/fid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int score_real(void)
{
    fid_model *m = fid_model_load(NULL);
    dc_dataset *train = m ? dc_fashion_mnist_load(NULL, true) : NULL;
    dc_dataset *test = train ? dc_fashion_mnist_load(NULL, false) : NULL;
    fid_result r;
    int rc = test ? 0 : -1;
    if (rc == 0 && (rc = fid_evaluate(m, dc_narrow(train->inputs, 0, 0, 2000), NULL, &r)) == 0)
        fid_result_print(&r, "training images 0..1999", stdout);
    if (rc == 0 && (rc = fid_evaluate(m, dc_narrow(test->inputs, 0, 5000, 2000), NULL, &r)) == 0)
        fid_result_print(&r, "test images 5000..6999", stdout);
    if (rc != 0) fprintf(stderr, "fid_classifier: %s\n", dc_last_error());
    dc_dataset_free(train);
    dc_dataset_free(test);
    fid_model_free(m);
    return rc != 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    double seconds = 240;
    uint64_t seed = 1;
    const char *out = FID_CLASSIFIER_PATH;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--out")) out = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) dc_set_num_threads(atoi(argv[i + 1]));
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--score-real")) return score_real();
        else {
            fprintf(stderr, "fid_classifier: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    dc_dataset *train = dc_fashion_mnist_load(NULL, true), *test = dc_fashion_mnist_load(NULL, false);
    dc_rng rng;
    dc_rng_seed(&rng, seed);
    dc_module *model = train && test ? fid_classifier_new(&rng) : NULL;
    dc_tensor_list params = {0};
    if (!model || dc_module_parameters(model, &params) != 0) {
        fprintf(stderr, "fid_classifier: %s\n", dc_last_error());
        return 1;
    }
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 1e-3);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_loader *loader = dc_loader_new(train, 64, true, true, seed);
    printf("classifier: %lld parameters; training %.0f s\n",
           (long long)dc_module_num_params(model, false), seconds);
    double t0 = now(), loss_avg = 0;
    int64_t steps = 0;
    while (now() - t0 < seconds) {
        size_t scope = dc_scope_begin();
        dc_tensor *x, *y;
        int r = dc_loader_next(loader, &x, &y);
        if (r <= 0) {
            dc_scope_end(scope);
            if (r < 0) break;
            continue;
        }
        dc_tensor *loss = dc_cross_entropy(dc_forward(model, x), y, NULL);
        dc_module_zero_grad(model);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) break;
        double l = dc_item(loss);
        loss_avg = steps ? 0.98 * loss_avg + 0.02 * l : l;
        if (++steps % 500 == 0)
            printf("step %lld (epoch %lld, %.0f s): loss %.4f\n", (long long)steps,
                   (long long)dc_loader_epoch(loader), now() - t0, loss_avg);
        dc_scope_end(scope);
    }
    double train_s = now() - t0;
    dc_module_train(model, false);
    bool grad = dc_no_grad_begin();
    double correct = 0;
    for (int64_t s = 0; s < dc_dataset_size(test); s += 1000) {
        size_t scope = dc_scope_begin();
        dc_tensor *logits = dc_forward(model, dc_narrow(test->inputs, 0, s, 1000));
        correct += dc_accuracy(logits, dc_narrow(test->targets, 0, s, 1000)) * 1000;
        dc_scope_end(scope);
    }
    dc_grad_mode_restore(grad);
    double acc = correct / (double)dc_dataset_size(test);
    char acc_s[32], steps_s[32];
    snprintf(acc_s, sizeof acc_s, "%.4f", acc);
    snprintf(steps_s, sizeof steps_s, "%lld", (long long)steps);
    const char *meta[] = {"test_accuracy", acc_s, "steps", steps_s,
                          "regenerate", "build/examples/fid_classifier"};
    int rc = dc_checkpoint_save(out, model, NULL, meta, 3);
    printf("trained %lld steps in %.0f s; test accuracy %.2f%%\n", (long long)steps, train_s,
           100 * acc);
    if (rc != 0) fprintf(stderr, "fid_classifier: %s\n", dc_last_error());
    else printf("wrote %s\n", out);
    dc_loader_free(loader);
    dc_optimizer_free(opt);
    dc_tensor_list_free(&params);
    dc_module_free(model);
    dc_dataset_free(train);
    dc_dataset_free(test);
    return rc != 0;
}
