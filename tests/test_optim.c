/* Optimizers, learning-rate schedules and gradient clipping against PyTorch.
 *
 * The reference values come from tests/ref/make_optim_refs.py, run with Debian's
 * python3-torch 1.13 (`/usr/bin/python3 tests/ref/make_optim_refs.py` regenerates the
 * committed tests/ref/optim_refs.txt, in the format of make_refs.py). Every optimizer case
 * runs 5 steps on two parameters, p0 [3, 4] and p1 [5], from the same start with the same
 * gradients; p1 has no gradient before step 2, so each case also checks that a parameter
 * without a gradient is skipped and keeps its own step count (Adam's bias correction).
 * Tolerance: rtol 1e-5, atol 1e-6 (float32). */
#include "test.h"

#include <stdlib.h>

/* ---- Reading the reference file ----------------------------------------------------------- */

#define OPTIM_REFS "ref/optim_refs.txt"
#define REF_CAP 256

typedef struct {
    char role[16], name[48];
    int ndim;
    int64_t shape[DC_MAX_DIMS], numel;
    double *values;
} ref_entry;

typedef struct {
    int n;
    ref_entry e[REF_CAP];
} ref_file;

static void refs_free(ref_file *r)
{
    for (int i = 0; i < r->n; i++) free(r->e[i].values);
    free(r);
}

/* Load OPTIM_REFS (from tests/, or from the repository root). NULL after a test failure
 * that says why. */
static ref_file *refs_load(void)
{
    FILE *f = fopen(OPTIM_REFS, "r");
    if (!f) f = fopen("tests/" OPTIM_REFS, "r");
    if (!f) {
        dc_test_fail(__FILE__, __LINE__,
                     "cannot open %s (run from tests/; regenerate with "
                     "/usr/bin/python3 tests/ref/make_optim_refs.py)",
                     OPTIM_REFS);
        return NULL;
    }
    ref_file *r = calloc(1, sizeof *r);
    char line[1024], dtype[8];
    bool ok = r != NULL;
    while (ok && fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[strspn(line, " \t\r\n")] == '\0') continue;
        ref_entry *e = &r->e[r->n];
        int used = 0;
        ok = r->n < REF_CAP &&
             sscanf(line, "%15s %47s %7s %d%n", e->role, e->name, dtype, &e->ndim, &used) == 4 &&
             e->ndim >= 0 && e->ndim <= DC_MAX_DIMS;
        e->numel = 1;
        for (int d = 0, n = 0; ok && d < e->ndim; d++, used += n) {
            long long size;
            ok = sscanf(line + used, "%lld%n", &size, &n) == 1 && size >= 0;
            e->shape[d] = size;
            e->numel *= size;
        }
        if (!ok) break;
        e->values = malloc((size_t)(e->numel ? e->numel : 1) * sizeof *e->values);
        r->n++;
        ok = e->values != NULL;
        for (int64_t i = 0; ok && i < e->numel; i++) ok = fscanf(f, "%lf", &e->values[i]) == 1;
    }
    fclose(f);
    if (!ok || !r || r->n == 0) {
        dc_test_fail(__FILE__, __LINE__, "%s: malformed near entry %d", OPTIM_REFS, r ? r->n : 0);
        if (r) refs_free(r);
        return NULL;
    }
    return r;
}

/* Entry role/name, or NULL (and a test failure naming it). */
static const ref_entry *ref_get(const ref_file *r, const char *role, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->e[i].role, role) && !strcmp(r->e[i].name, name)) return &r->e[i];
    dc_test_fail(__FILE__, __LINE__, "%s has no '%s %s'", OPTIM_REFS, role, name);
    return NULL;
}

static dc_tensor *ref_tensor(const ref_entry *e, dc_dtype dtype)
{
    if (!e) return NULL;
    dc_tensor *t = dc_from_buffer(DC_F64, e->ndim, e->shape, e->values);
    return dtype == DC_F64 ? t : dc_to_dtype(t, dtype);
}

/* Compare t with the entry (|t - want| <= rtol |want| + atol); false on mismatch. */
static bool check_values(const char *what, const dc_tensor *t, const ref_entry *want, double rtol,
                         double atol)
{
    if (!t || !want || dc_numel(t) != want->numel) {
        dc_test_fail(__FILE__, __LINE__, "%s: missing or wrong size", what);
        return false;
    }
    double *got = dc_test_values(t);
    int ok = got && CHECK_ALLCLOSE(what, got, want->values, want->numel, rtol, atol);
    free(got);
    return ok;
}

/* ---- Helpers ----------------------------------------------------------------------------- */

/* p->grad = g (p keeps its own reference; NULL drops the gradient). */
static void set_grad(dc_tensor *p, dc_tensor *g)
{
    dc_zero_grad(p);
    p->grad = g ? dc_tensor_retain(g) : NULL;
}

static dc_tensor_list make_list(int n, dc_tensor **tensors, char **names)
{
    return (dc_tensor_list){.n = n, .tensors = tensors, .names = names};
}

static bool same_values(const dc_tensor *a, const dc_tensor *b)
{
    int64_t n = dc_numel(a);
    if (n != dc_numel(b)) return false;
    double *x = dc_test_values(a), *y = dc_test_values(b);
    bool same = x && y && memcmp(x, y, (size_t)n * sizeof *x) == 0;
    free(x);
    free(y);
    return same;
}

/* ---- The optimizer cases (mirror CASES in make_optim_refs.py) ------------------------------ */

typedef struct {
    const char *name;
    dc_optim_config cfg;
} optim_case;

static int optim_cases(optim_case *out)
{
    int n = 0;
#define ADD(NAME, KIND, LR, ...)                                                                   \
    do {                                                                                           \
        out[n] = (optim_case){NAME, dc_optim_defaults(KIND, LR)};                                  \
        dc_optim_config *c = &out[n++].cfg;                                                        \
        (void)c;                                                                                   \
        __VA_ARGS__;                                                                               \
    } while (0)
    ADD("sgd", DC_SGD, 0.1, );
    ADD("sgd_wd", DC_SGD, 0.1, c->weight_decay = 0.05);
    ADD("sgd_momentum", DC_SGD, 0.1, c->momentum = 0.9);
    ADD("sgd_nesterov", DC_SGD, 0.1, c->momentum = 0.9, c->nesterov = true);
    ADD("sgd_damp_wd", DC_SGD, 0.1, c->momentum = 0.8, c->dampening = 0.3, c->weight_decay = 0.01);
    ADD("adam", DC_ADAM, 0.01, );
    ADD("adam_wd", DC_ADAM, 0.01, c->weight_decay = 0.1);
    ADD("adamw", DC_ADAMW, 0.01, );
    ADD("adamw_custom", DC_ADAMW, 0.02, c->beta1 = 0.8, c->beta2 = 0.99, c->eps = 1e-6,
        c->weight_decay = 0.1);
    ADD("rmsprop", DC_RMSPROP, 0.01, );
    ADD("rmsprop_momentum", DC_RMSPROP, 0.01, c->alpha = 0.9, c->momentum = 0.9,
        c->weight_decay = 0.01);
#undef ADD
    return n;
}

#define N_STEPS 5
#define SKIP_STEP 2 /* p1 gets gradients from this step on */

/* Run one case in `dtype` and compare every step with torch's parameters. */
static void run_case(const ref_file *r, const optim_case *oc, dc_dtype dtype, double rtol,
                     double atol)
{
    char *names[2] = {"p0", "p1"};
    dc_tensor *p[2];
    for (int i = 0; i < 2; i++)
        p[i] = dc_requires_grad(ref_tensor(ref_get(r, "init", names[i]), dtype), true);
    if (!p[0] || !p[1]) return;
    dc_tensor_list list = make_list(2, p, names);
    dc_optimizer *opt = dc_optimizer_new(&list, &oc->cfg);
    if (!opt) {
        dc_test_fail(__FILE__, __LINE__, "%s: %s", oc->name, dc_last_error());
        return;
    }
    char key[64], what[96];
    for (int k = 0; k < N_STEPS; k++) {
        for (int i = 0; i < 2; i++) {
            snprintf(key, sizeof key, "%d.%s", k, names[i]);
            set_grad(p[i],
                     i == 1 && k < SKIP_STEP ? NULL : ref_tensor(ref_get(r, "grad", key), dtype));
        }
        CHECK(dc_optimizer_step(opt) == 0);
        for (int i = 0; i < 2; i++) {
            snprintf(key, sizeof key, "%s.%d.%s", oc->name, k, names[i]);
            snprintf(what, sizeof what, "%s %s: %s after step %d", oc->name,
                     dtype == DC_F32 ? "f32" : "f64", names[i], k);
            check_values(what, p[i], ref_get(r, "after", key), rtol, atol);
        }
    }
    CHECK(dc_optimizer_steps(opt) == N_STEPS);
    dc_optimizer_free(opt);
}

TEST(test_optim_matches_torch)
{
    ref_file *r = refs_load();
    if (!r) return;
    optim_case cases[16];
    int n = optim_cases(cases);
    for (int c = 0; c < n; c++) run_case(r, &cases[c], DC_F32, 1e-5, 1e-6);
    refs_free(r);
}

/* float64 parameters take the same path through the double kernels; they differ from
 * torch's float32 run only by float32 rounding. */
TEST(test_optim_float64_matches_torch)
{
    ref_file *r = refs_load();
    if (!r) return;
    optim_case cases[16];
    int n = optim_cases(cases);
    for (int c = 0; c < n; c++) run_case(r, &cases[c], DC_F64, 1e-4, 1e-5);
    refs_free(r);
}

/* ---- Schedules and clipping -------------------------------------------------------------- */

TEST(test_optim_lr_schedules_match_torch)
{
    ref_file *r = refs_load();
    if (!r) return;
    struct {
        const char *name;
        dc_lr_schedule s;
    } cases[] = {
        {"step", {.kind = DC_LR_STEP, .base_lr = 0.1, .step_size = 3, .gamma = 0.5}},
        {"cosine", {.kind = DC_LR_COSINE, .base_lr = 0.1, .total_steps = 10, .min_lr = 0.001}},
        {"warmup_constant", {.kind = DC_LR_CONSTANT, .base_lr = 0.1, .warmup_steps = 4}},
        {"warmup_step",
         {.kind = DC_LR_STEP, .base_lr = 0.1, .warmup_steps = 4, .step_size = 2, .gamma = 0.5}},
        {"warmup_cosine",
         {.kind = DC_LR_COSINE,
          .base_lr = 0.1,
          .warmup_steps = 3,
          .total_steps = 12,
          .min_lr = 0.001}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const ref_entry *want = ref_get(r, "lr", cases[c].name);
        if (!want) continue;
        double got[32];
        REQUIRE(want->numel <= 32);
        for (int64_t t = 0; t < want->numel; t++) got[t] = dc_lr_at(&cases[c].s, t);
        CHECK_ALLCLOSE(cases[c].name, got, want->values, want->numel, 1e-12, 1e-15);
    }
    /* After total_steps the cosine schedule stays at min_lr (torch's would rise again). */
    CHECK_NEAR(dc_lr_at(&cases[1].s, 25), 0.001, 1e-15);
    CHECK_NEAR(dc_lr_at(&(dc_lr_schedule){.kind = DC_LR_CONSTANT, .base_lr = 0.3}, 7), 0.3, 0);
    refs_free(r);
}

TEST(test_optim_clip_grad_norm_matches_torch)
{
    ref_file *r = refs_load();
    if (!r) return;
    char *names[2] = {"p0", "p1"};
    dc_tensor *p[2];
    for (int i = 0; i < 2; i++) {
        p[i] = dc_requires_grad(ref_tensor(ref_get(r, "init", names[i]), DC_F32), true);
        set_grad(p[i], ref_tensor(ref_get(r, "clip_in", names[i]), DC_F32));
    }
    dc_tensor *no_grad = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(3)), true); /* skipped */
    dc_tensor *all[3] = {p[0], p[1], no_grad};
    char *all_names[3] = {"p0", "p1", "no_grad"};
    dc_tensor_list list = make_list(3, all, all_names);
    const ref_entry *norm = ref_get(r, "norm", "total");
    double got = dc_clip_grad_norm(&list, 1.0);
    if (norm) CHECK_NEAR(got, norm->values[0], 1e-5 * norm->values[0]);
    for (int i = 0; i < 2; i++)
        check_values(names[i], p[i]->grad, ref_get(r, "clipped", names[i]), 1e-5, 1e-6);
    CHECK(no_grad->grad == NULL);
    /* The clipped norm is max_norm (up to the 1e-6); a larger max_norm changes nothing. */
    dc_tensor *before = dc_clone(dc_detach(p[0]->grad));
    CHECK_NEAR(dc_clip_grad_norm(&list, 5.0), 1.0, 1e-5);
    CHECK(same_values(before, p[0]->grad));
    /* A non-contiguous gradient counts the same. */
    dc_tensor *g = dc_clone(p[0]->grad);
    set_grad(p[0], dc_transpose(dc_contiguous(dc_transpose(g, 0, 1)), 0, 1));
    CHECK(!dc_is_contiguous(p[0]->grad));
    CHECK_NEAR(dc_clip_grad_norm(&list, 5.0), 1.0, 1e-5);
    CHECK_ERROR(dc_clip_grad_norm(NULL, 1.0) < 0, "NULL");
    CHECK_ERROR(dc_clip_grad_norm(&list, -1.0) < 0, "max_norm");
    refs_free(r);
}

/* ---- State, skipping, layouts ------------------------------------------------------------ */

/* Gradient number k for a [rows, cols] parameter: fixed, non-trivial values. */
static dc_tensor *grad_k(int k, int64_t rows, int64_t cols, dc_dtype dtype)
{
    dc_tensor *g = dc_empty(DC_F64, DC_SHAPE(rows, cols));
    double *v = dc_data(g);
    for (int64_t i = 0; i < rows * cols; i++) v[i] = sin(0.7 * (double)i + 1.3 * k) * (1 + 0.1 * k);
    return dtype == DC_F64 ? g : dc_to_dtype(g, dtype);
}

/* Train A for 3 steps, copy its state into a fresh B (on a copy of A's parameters), then
 * both take 2 more steps: their parameters must stay identical. */
static void check_state_round_trip(dc_optim_config cfg)
{
    char *names[1] = {"layer.weight"};
    dc_tensor *a = dc_requires_grad(grad_k(9, 4, 6, DC_F32), true);
    dc_tensor_list la = make_list(1, &a, names);
    dc_optimizer *oa = dc_optimizer_new(&la, &cfg);
    REQUIRE(oa);
    for (int k = 0; k < 3; k++) {
        set_grad(a, grad_k(k, 4, 6, DC_F32));
        CHECK(dc_optimizer_step(oa) == 0);
    }
    dc_tensor *b = dc_requires_grad(dc_clone(dc_detach(a)), true);
    dc_tensor_list lb = make_list(1, &b, names);
    dc_optimizer *ob = dc_optimizer_new(&lb, &cfg);
    dc_tensor_list sa, sb;
    REQUIRE(ob && dc_optimizer_state(oa, &sa) == 0);
    REQUIRE(dc_optimizer_state(ob, &sb) == 0);
    CHECK(sa.n == sb.n);
    for (int i = 0; i < sa.n && i < sb.n; i++) {
        CHECK(strcmp(sa.names[i], sb.names[i]) == 0);
        CHECK(dc_copy_(sb.tensors[i], sa.tensors[i]) == 0);
    }
    CHECK(strcmp(sa.names[sa.n - 1], "step") == 0 && dc_item(sa.tensors[sa.n - 1]) == 3);
    CHECK(dc_optimizer_state_loaded(ob) == 0);
    CHECK(dc_optimizer_steps(ob) == 3);
    for (int k = 3; k < 5; k++) {
        set_grad(a, grad_k(k, 4, 6, DC_F32));
        set_grad(b, grad_k(k, 4, 6, DC_F32));
        CHECK(dc_optimizer_step(oa) == 0 && dc_optimizer_step(ob) == 0);
        CHECK(same_values(a, b));
    }
    dc_tensor_list_free(&sa);
    dc_tensor_list_free(&sb);
    dc_optimizer_free(oa);
    dc_optimizer_free(ob);
}

TEST(test_optim_state_round_trip_resumes_exactly)
{
    dc_optim_config sgd = dc_optim_defaults(DC_SGD, 0.1);
    sgd.momentum = 0.9, sgd.dampening = 0.2;
    check_state_round_trip(sgd);
    check_state_round_trip(dc_optim_defaults(DC_ADAM, 0.01));
    check_state_round_trip(dc_optim_defaults(DC_ADAMW, 0.01));
    dc_optim_config rms = dc_optim_defaults(DC_RMSPROP, 0.01);
    rms.momentum = 0.5;
    check_state_round_trip(rms);
}

TEST(test_optim_state_names)
{
    char *names[2] = {"fc.weight", "fc.bias"};
    dc_tensor *p[2] = {dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(2, 3)), true),
                       dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(2)), true)};
    dc_tensor_list list = make_list(2, p, names);
    struct {
        dc_optim_kind kind;
        double momentum;
        int n;
        const char *expected[8];
    } cases[] = {
        {DC_SGD, 0, 3, {"fc.weight.step", "fc.bias.step", "step"}},
        {DC_SGD,
         0.9,
         5,
         {"fc.weight.momentum_buffer", "fc.weight.step", "fc.bias.momentum_buffer", "fc.bias.step",
          "step"}},
        {DC_ADAMW,
         0,
         7,
         {"fc.weight.exp_avg", "fc.weight.exp_avg_sq", "fc.weight.step", "fc.bias.exp_avg",
          "fc.bias.exp_avg_sq", "fc.bias.step", "step"}},
        {DC_RMSPROP,
         0.5,
         7,
         {"fc.weight.square_avg", "fc.weight.momentum_buffer", "fc.weight.step",
          "fc.bias.square_avg", "fc.bias.momentum_buffer", "fc.bias.step", "step"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        dc_optim_config cfg = dc_optim_defaults(cases[c].kind, 0.1);
        cfg.momentum = cases[c].momentum;
        dc_optimizer *opt = dc_optimizer_new(&list, &cfg);
        dc_tensor_list state;
        REQUIRE(opt && dc_optimizer_state(opt, &state) == 0);
        CHECK(state.n == cases[c].n);
        for (int i = 0; i < state.n && i < cases[c].n; i++) {
            CHECK(strcmp(state.names[i], cases[c].expected[i]) == 0);
            bool is_step = strstr(state.names[i], "step") != NULL;
            CHECK(state.tensors[i]->dtype == (is_step ? DC_F64 : DC_F32));
            const dc_tensor *owner = strncmp(state.names[i], "fc.weight", 9) ? p[1] : p[0];
            CHECK(is_step ? state.tensors[i]->ndim == 0 : dc_same_shape(state.tensors[i], owner));
        }
        dc_tensor_list_free(&state);
        dc_optimizer_free(opt);
    }
}

TEST(test_optim_skips_params_without_grad)
{
    char *names[2] = {"used", "unused"};
    dc_tensor *p[2] = {dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(4)), true),
                       dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(4)), true)};
    dc_tensor_list list = make_list(2, p, names);
    dc_optimizer *opt = dc_optimizer_new(
        &list,
        &(dc_optim_config){.kind = DC_ADAM, .lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8});
    REQUIRE(opt);
    for (int k = 0; k < 3; k++) {
        set_grad(p[0], dc_full(DC_F32, DC_SHAPE(4), 0.5));
        CHECK(dc_optimizer_step(opt) == 0);
    }
    CHECK(dc_item_at(p[0], (int64_t[]){0}) < 1);
    CHECK(dc_item_at(p[1], (int64_t[]){0}) == 1);
    dc_tensor_list state;
    REQUIRE(dc_optimizer_state(opt, &state) == 0);
    for (int i = 0; i < state.n; i++) {
        if (!strcmp(state.names[i], "used.step")) CHECK(dc_item(state.tensors[i]) == 3);
        if (!strcmp(state.names[i], "unused.step")) CHECK(dc_item(state.tensors[i]) == 0);
        if (!strcmp(state.names[i], "step")) CHECK(dc_item(state.tensors[i]) == 3);
    }
    dc_tensor_list_free(&state);
    dc_optimizer_zero_grad(opt);
    CHECK(p[0]->grad == NULL);
    dc_optimizer_free(opt);
}

/* A non-contiguous parameter or gradient gives the same update as contiguous ones. */
TEST(test_optim_non_contiguous_param_and_grad)
{
    dc_optim_config cfg = dc_optim_defaults(DC_ADAMW, 0.05);
    char *names[1] = {"w"};
    dc_tensor *a = dc_requires_grad(grad_k(7, 3, 4, DC_F32), true);
    dc_tensor *base = grad_k(7, 4, 3, DC_F32); /* b = base^T: a view with strides (1, 3) */
    dc_copy_(dc_transpose(base, 0, 1), a);
    dc_tensor *b = dc_requires_grad(dc_transpose(base, 0, 1), true);
    REQUIRE(b && !dc_is_contiguous(b) && same_values(a, b));
    dc_tensor_list la = make_list(1, &a, names), lb = make_list(1, &b, names);
    dc_optimizer *oa = dc_optimizer_new(&la, &cfg), *ob = dc_optimizer_new(&lb, &cfg);
    REQUIRE(oa && ob);
    for (int k = 0; k < 3; k++) {
        dc_tensor *g = grad_k(k, 3, 4, DC_F32);
        set_grad(a, g);
        set_grad(b, dc_transpose(dc_contiguous(dc_transpose(g, 0, 1)), 0, 1));
        CHECK(!dc_is_contiguous(b->grad));
        CHECK(dc_optimizer_step(oa) == 0 && dc_optimizer_step(ob) == 0);
        CHECK(same_values(a, b));
    }
    dc_optimizer_free(oa);
    dc_optimizer_free(ob);
}

/* A parameter large enough to be split over the pool updates exactly as on one thread, and
 * steady-state steps allocate nothing. */
TEST(test_optim_threaded_update_matches_single_thread)
{
    const int64_t rows = 300, cols = 1000;
    dc_optim_config cfg = dc_optim_defaults(DC_ADAM, 0.01);
    cfg.weight_decay = 0.01;
    char *names[1] = {"w"};
    dc_tensor *p[2];
    dc_optimizer *opt[2];
    int threads = dc_get_num_threads();
    for (int r = 0; r < 2; r++) {
        dc_set_num_threads(r == 0 ? 1 : 2);
        p[r] = dc_requires_grad(grad_k(5, rows, cols, DC_F32), true);
        dc_tensor_list list = make_list(1, &p[r], names);
        opt[r] = dc_optimizer_new(&list, &cfg);
        REQUIRE(opt[r]);
        int64_t live = 0;
        for (int k = 0; k < 3; k++) {
            set_grad(p[r], grad_k(k, rows, cols, DC_F32));
            if (k == 2) live = dc_live_bytes();
            CHECK(dc_optimizer_step(opt[r]) == 0);
            if (k == 2) CHECK(dc_live_bytes() == live);
        }
    }
    dc_set_num_threads(threads);
    CHECK(same_values(p[0], p[1]));
    dc_optimizer_free(opt[0]);
    dc_optimizer_free(opt[1]);
}

/* ---- Training a quadratic ---------------------------------------------------------------- */

/* Minimise f(x) = sum(c * (x - t)^2) with badly scaled c: every optimizer reaches t. */
TEST(test_optim_minimises_quadratic)
{
    const double targets[6] = {1, -2, 0.5, 3, -0.25, 2}, scales[6] = {1, 10, 0.5, 2, 5, 0.2};
    struct {
        dc_optim_kind kind;
        double lr, momentum;
        bool nesterov;
    } cases[] = {{DC_SGD, 0.02, 0, false},       {DC_SGD, 0.01, 0.9, false},
                 {DC_SGD, 0.01, 0.9, true},      {DC_ADAM, 0.05, 0, false},
                 {DC_ADAMW, 0.05, 0, false},     {DC_RMSPROP, 0.01, 0, false},
                 {DC_RMSPROP, 0.003, 0.9, false}};
    dc_tensor *t = dc_from_buffer(DC_F64, DC_SHAPE(6), targets);
    dc_tensor *c = dc_from_buffer(DC_F64, DC_SHAPE(6), scales);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        dc_tensor *x = dc_requires_grad(dc_zeros(DC_F64, DC_SHAPE(6)), true);
        char *names[1] = {"x"};
        dc_tensor_list list = make_list(1, &x, names);
        dc_optim_config cfg = dc_optim_defaults(cases[k].kind, cases[k].lr);
        cfg.momentum = cases[k].momentum;
        cfg.nesterov = cases[k].nesterov;
        cfg.weight_decay = 0; /* AdamW's decay would pull x away from t */
        dc_optimizer *opt = dc_optimizer_new(&list, &cfg);
        REQUIRE(opt);
        double loss = 0;
        for (int step = 0; step < 1500; step++) {
            size_t marker = dc_scope_begin();
            dc_tensor *l = dc_sum_all(dc_mul(c, dc_pow_scalar(dc_sub(x, t), 2)));
            loss = dc_item(l);
            dc_optimizer_zero_grad(opt);
            CHECK(dc_backward(l) == 0);
            CHECK(dc_optimizer_step(opt) == 0);
            dc_scope_end(marker);
        }
        if (!(loss < 1e-4)) dc_test_fail(__FILE__, __LINE__, "case %zu: loss %g", k, loss);
        for (int i = 0; i < 6; i++) CHECK_NEAR(dc_item_at(x, (int64_t[]){i}), targets[i], 0.02);
        dc_optimizer_zero_grad(opt);
        dc_optimizer_free(opt);
    }
}

/* ---- Errors ------------------------------------------------------------------------------- */

TEST(test_optim_errors)
{
    char *names[1] = {"w"};
    dc_tensor *w = dc_requires_grad(dc_zeros(DC_F32, DC_SHAPE(2, 2)), true);
    dc_tensor_list list = make_list(1, &w, names);
    dc_optim_config cfg = dc_optim_defaults(DC_SGD, -0.1);
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "learning rate");
    cfg = dc_optim_defaults(DC_SGD, 0.1);
    cfg.nesterov = true;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "nesterov");
    cfg.momentum = 0.9, cfg.dampening = 0.1;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "zero dampening");
    cfg = dc_optim_defaults(DC_SGD, 0.1);
    cfg.momentum = -1;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "momentum");
    cfg = dc_optim_defaults(DC_ADAM, 0.1);
    cfg.beta1 = 1.0;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "beta1");
    cfg = dc_optim_defaults(DC_ADAMW, 0.1);
    cfg.beta2 = -0.1;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "beta2");
    cfg = dc_optim_defaults(DC_ADAM, 0.1);
    cfg.weight_decay = -1;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "weight_decay");
    cfg = dc_optim_defaults(DC_RMSPROP, 0.1);
    cfg.alpha = -0.5;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "alpha");
    cfg.alpha = 0.99, cfg.eps = -1;
    CHECK_ERROR(!dc_optimizer_new(&list, &cfg), "eps");
    cfg = dc_optim_defaults(DC_SGD, 0.1);
    CHECK_ERROR(!dc_optimizer_new(NULL, &cfg), "NULL");
    CHECK_ERROR(!dc_optimizer_new(&list, NULL), "NULL");
    dc_tensor *frozen = dc_zeros(DC_F32, DC_SHAPE(2));
    dc_tensor_list frozen_list = make_list(1, &frozen, names);
    CHECK_ERROR(!dc_optimizer_new(&frozen_list, &cfg), "'w' does not require grad");
    dc_tensor *nonleaf = dc_mul_scalar(w, 2);
    dc_tensor_list nonleaf_list = make_list(1, &nonleaf, names);
    CHECK_ERROR(!dc_optimizer_new(&nonleaf_list, &cfg), "leaf");
    dc_tensor *twice[2] = {w, w};
    char *twice_names[2] = {"a", "b"};
    dc_tensor_list twice_list = make_list(2, twice, twice_names);
    CHECK_ERROR(!dc_optimizer_new(&twice_list, &cfg), "twice");
    dc_tensor *null_param = NULL;
    dc_tensor_list null_list = make_list(1, &null_param, names);
    CHECK_ERROR(!dc_optimizer_new(&null_list, &cfg), "NULL");
    dc_tensor_list empty = make_list(0, NULL, NULL);
    CHECK_ERROR(!dc_optimizer_new(&empty, &cfg), "empty");

    /* A gradient of the wrong shape: an error, and no parameter changes. */
    dc_optimizer *opt = dc_optimizer_new(&list, &cfg);
    REQUIRE(opt);
    set_grad(w, dc_ones(DC_F32, DC_SHAPE(3)));
    CHECK_ERROR(dc_optimizer_step(opt) != 0, "gradient of 'w'");
    CHECK(dc_item_at(w, (int64_t[]){0, 0}) == 0);
    CHECK(dc_optimizer_steps(opt) == 0);
    dc_optimizer_zero_grad(opt);
    dc_clear_error();
    dc_optimizer_set_lr(opt, -1);
    CHECK(dc_has_error() && dc_optimizer_lr(opt) == 0.1);
    dc_clear_error();
    dc_optimizer_set_lr(opt, 0.5);
    CHECK(dc_optimizer_lr(opt) == 0.5);
    CHECK_ERROR(dc_optimizer_step(NULL) != 0, "NULL");
    dc_tensor_list state;
    CHECK_ERROR(dc_optimizer_state(NULL, &state) != 0, "NULL");
    /* A loaded step counter that is not a count is rejected. */
    REQUIRE(dc_optimizer_state(opt, &state) == 0);
    dc_fill_(state.tensors[state.n - 1], -2.5);
    CHECK_ERROR(dc_optimizer_state_loaded(opt) != 0, "'step'");
    dc_tensor_list_free(&state);
    dc_optimizer_free(opt);

    CHECK_ERROR(isnan(dc_lr_at(NULL, 0)), "NULL");
    CHECK_ERROR(isnan(dc_lr_at(&(dc_lr_schedule){.kind = DC_LR_STEP, .base_lr = 1}, 0)),
                "step_size");
    CHECK_ERROR(isnan(dc_lr_at(
                    &(dc_lr_schedule){
                        .kind = DC_LR_COSINE, .base_lr = 1, .warmup_steps = 5, .total_steps = 5},
                    0)),
                "total_steps");
    CHECK_ERROR(isnan(dc_lr_at(&(dc_lr_schedule){.kind = DC_LR_CONSTANT, .base_lr = 1}, -1)),
                "negative");
}
