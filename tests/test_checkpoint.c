/* Training checkpoints: PyTorch -> deepc, deepc -> safetensors, exact resume, strict errors. */
#include "test.h"

#include <unistd.h>

#ifdef DC_HAVE_JANSSON /* checkpoints are safetensors files */

static dc_module *tiny_mlp(dc_rng *rng)
{
    /* the model of tests/ref/make_safetensors_refs.py */
    return dc_sequential_new(4, dc_linear_new(4, 6, true, rng), dc_activation_new(DC_ACT_RELU, 0),
                             dc_linear_new(6, 3, true, rng), dc_batch_norm1d_new(3, 1e-5, 0.1, true));
}

static void temp_path(char *buf, size_t size, const char *tag)
{
    snprintf(buf, size, "/tmp/deepc_test_ckpt_%d_%s.safetensors", (int)getpid(), tag);
}

TEST(test_checkpoint_written_by_pytorch_gives_same_outputs)
{
    dc_module *m = tiny_mlp(NULL);
    REQUIRE(m);
    REQUIRE(dc_checkpoint_load("ref/tiny_mlp_state.safetensors", m, NULL) == 0);
    dc_safetensors *io = dc_safetensors_open("ref/tiny_mlp_io.safetensors");
    REQUIRE(io);
    dc_tensor *x = dc_safetensors_get(io, "input"), *want = dc_safetensors_get(io, "output");
    dc_safetensors_close(io);
    REQUIRE(x && want);
    dc_module_train(m, false);
    dc_tensor *y = dc_forward(m, x);
    REQUIRE(y && dc_same_shape(y, want));
    double *g = dc_test_values(y), *w = dc_test_values(want);
    CHECK_ALLCLOSE("eval output of the PyTorch checkpoint", g, w, dc_numel(y), 1e-5, 1e-6);
    free(g), free(w);
    CHECK_NEAR(dc_item(dc_module_buffer(m, "3.num_batches_tracked")), 2, 0);

    /* and back: our checkpoint of it holds the same tensors under the same names */
    char path[256];
    temp_path(path, sizeof path, "resave");
    REQUIRE(dc_checkpoint_save(path, m, NULL, NULL, 0) == 0);
    dc_safetensors *ours = dc_safetensors_open(path), *theirs = dc_safetensors_open("ref/tiny_mlp_state.safetensors");
    REQUIRE(ours && theirs);
    CHECK(dc_safetensors_count(ours) == dc_safetensors_count(theirs));
    for (int i = 0; i < dc_safetensors_count(theirs); i++) {
        const char *name = dc_safetensors_name(theirs, i);
        dc_tensor *a = dc_safetensors_get(ours, name), *b = dc_safetensors_get(theirs, name);
        REQUIRE(a && b && a->dtype == b->dtype && dc_same_shape(a, b));
        double *va = dc_test_values(a), *vb = dc_test_values(b);
        CHECK_ALLCLOSE(name, va, vb, dc_numel(a), 0, 0);
        free(va), free(vb);
    }
    dc_safetensors_close(ours);
    dc_safetensors_close(theirs);
    unlink(path);
    dc_module_free(m);
}

/* n AdamW steps of regression on fixed data. */
static void train(dc_module *m, dc_optimizer *opt, int steps)
{
    dc_rng rng;
    dc_rng_seed(&rng, 77);
    dc_tensor *x = dc_randn(&rng, DC_F32, DC_SHAPE(8, 4));
    dc_tensor *t = dc_randn(&rng, DC_F32, DC_SHAPE(8, 3));
    for (int s = 0; s < steps; s++) {
        size_t scope = dc_scope_begin();
        dc_tensor *loss = dc_mse_loss(dc_forward(m, x), t, DC_REDUCE_MEAN);
        if (!loss || dc_backward(loss) != 0 || dc_optimizer_step(opt) != 0) CHECK(!"training step failed");
        dc_optimizer_zero_grad(opt);
        dc_scope_end(scope);
    }
}

static dc_optimizer *adamw(dc_module *m)
{
    dc_tensor_list params;
    if (dc_module_parameters(m, &params) != 0) return NULL;
    dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 1e-2);
    dc_optimizer *opt = dc_optimizer_new(&params, &cfg);
    dc_tensor_list_free(&params);
    return opt;
}

TEST(test_checkpoint_resume_continues_exactly)
{
    dc_rng r1, r2;
    dc_rng_seed(&r1, 1);
    dc_rng_seed(&r2, 2);
    dc_module *a = tiny_mlp(&r1), *b = tiny_mlp(&r2);
    dc_optimizer *oa = adamw(a), *ob = adamw(b);
    REQUIRE(a && b && oa && ob);
    char path[256];
    temp_path(path, sizeof path, "resume");
    train(a, oa, 5);
    REQUIRE(dc_checkpoint_save(path, a, oa, (const char *[]){"epoch", "1"}, 1) == 0);
    train(a, oa, 5);
    /* a different model and optimizer resume from the checkpoint */
    REQUIRE(dc_checkpoint_load(path, b, ob) == 0);
    CHECK(dc_optimizer_steps(ob) == 5);
    train(b, ob, 5);
    dc_tensor_list pa, pb;
    REQUIRE(dc_module_state(a, &pa) == 0 && dc_module_state(b, &pb) == 0);
    for (int i = 0; i < pa.n; i++) {
        double *va = dc_test_values(pa.tensors[i]), *vb = dc_test_values(pb.tensors[i]);
        CHECK_ALLCLOSE(pa.names[i], vb, va, dc_numel(pa.tensors[i]), 0, 0); /* bit-identical */
        free(va), free(vb);
    }
    dc_tensor_list_free(&pa);
    dc_tensor_list_free(&pb);
    dc_safetensors *f = dc_safetensors_open(path);
    CHECK(f && dc_safetensors_has(f, "optimizer.0.weight.exp_avg"));
    CHECK(f && dc_safetensors_metadata(f, "epoch") && !strcmp(dc_safetensors_metadata(f, "epoch"), "1"));
    dc_safetensors_close(f);
    unlink(path);
    dc_optimizer_free(oa);
    dc_optimizer_free(ob);
    dc_module_free(a);
    dc_module_free(b);
}

TEST(test_checkpoint_errors_name_the_tensor_and_leave_the_model_intact)
{
    dc_module *m = tiny_mlp(NULL);
    REQUIRE(m);
    dc_tensor *w = dc_module_param(m, "0.weight");
    double before = dc_item_at(w, (int64_t[]){0, 0});
    /* the full reference file has an extra tensor the model does not have */
    CHECK_ERROR(dc_checkpoint_load("ref/tiny_mlp.safetensors", m, NULL) != 0, "'extra.f64'");
    /* a model with a different shape: error names the tensor; nothing was copied */
    dc_module *wide = dc_sequential_new(4, dc_linear_new(4, 7, true, NULL), dc_activation_new(DC_ACT_RELU, 0),
                                        dc_linear_new(7, 3, true, NULL), dc_batch_norm1d_new(3, 1e-5, 0.1, true));
    REQUIRE(wide);
    double wide_before = dc_item_at(dc_module_param(wide, "2.bias"), (int64_t[]){0});
    CHECK_ERROR(dc_checkpoint_load("ref/tiny_mlp_state.safetensors", wide, NULL) != 0, "'0.weight'");
    CHECK(dc_item_at(dc_module_param(wide, "2.bias"), (int64_t[]){0}) == wide_before);
    /* a model with a tensor the file lacks */
    dc_module *more = tiny_mlp(NULL);
    REQUIRE(more && dc_module_add_buffer(more, "scale", dc_ones(DC_F32, DC_SHAPE(1))));
    CHECK_ERROR(dc_checkpoint_load("ref/tiny_mlp_state.safetensors", more, NULL) != 0, "'scale' is missing");
    /* optimizer state missing from a model-only checkpoint */
    dc_optimizer *opt = adamw(m);
    REQUIRE(opt);
    CHECK_ERROR(dc_checkpoint_load("ref/tiny_mlp_state.safetensors", m, opt) != 0, "optimizer.");
    CHECK(dc_item_at(w, (int64_t[]){0, 0}) == before);
    CHECK_ERROR(dc_checkpoint_load("ref/no_such_file.safetensors", m, NULL) != 0, "no_such_file");
    dc_optimizer_free(opt);
    dc_module_free(more);
    dc_module_free(wide);
    dc_module_free(m);
}

#else

TEST(test_checkpoint_without_jansson_reports_it)
{
    printf("  note: deepc built without jansson; the checkpoint tests are skipped\n");
    dc_module *m = dc_sequential_new(1, dc_linear_new(2, 2, true, NULL));
    REQUIRE(m);
    CHECK_ERROR(dc_checkpoint_save("/tmp/deepc_no_jansson.safetensors", m, NULL, NULL, 0) != 0,
                "without jansson");
    CHECK_ERROR(dc_checkpoint_load("ref/tiny_mlp_state.safetensors", m, NULL) != 0,
                "without jansson");
    dc_module_free(m);
}

#endif
