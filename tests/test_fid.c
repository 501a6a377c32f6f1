/* apps/fid: the PSD square root, Gaussian fits and the Fréchet distance against closed forms
 * and numpy values (tests/ref/make_fid_refs.py), the label distribution of a hand-set
 * classifier, the committed classifier on real images, and bad inputs. */
#include "test.h"

#include "fid/fid.h"
#include "ref_loader.h"

static dc_tensor *matrix(int64_t n, const double *v)
{
    return dc_from_buffer(DC_F64, 2, (int64_t[]){n, n}, v);
}

TEST(test_fid_sqrtm_psd_of_a_known_2x2_and_of_a_diagonal_matrix)
{
    /* [[2, 1], [1, 2]] has eigenvalues 3, 1 on (1, 1)/sqrt 2, (1, -1)/sqrt 2 */
    double a[4] = {2, 1, 1, 2}, r3 = sqrt(3.0);
    double want[4] = {(r3 + 1) / 2, (r3 - 1) / 2, (r3 - 1) / 2, (r3 + 1) / 2};
    double *got = dc_test_values(fid_sqrtm_psd(matrix(2, a)));
    REQUIRE(got);
    CHECK_ALLCLOSE("sqrtm [[2,1],[1,2]]", got, want, 4, 1e-12, 1e-12);
    free(got);
    double d[9] = {4, 0, 0, 0, 9, 0, 0, 0, 0}, dw[9] = {2, 0, 0, 0, 3, 0, 0, 0, 0};
    got = dc_test_values(fid_sqrtm_psd(matrix(3, d)));
    REQUIRE(got);
    CHECK_ALLCLOSE("sqrtm diag(4, 9, 0)", got, dw, 9, 1e-12, 1e-12);
    free(got);
    /* a float32 input: the root squared gives it back */
    dc_tensor *s = dc_to_dtype(matrix(2, a), DC_F32), *root = fid_sqrtm_psd(s);
    double *sq = dc_test_values(dc_matmul(root, root));
    REQUIRE(sq);
    CHECK(root->dtype == DC_F64);
    CHECK_ALLCLOSE("sqrtm(a)^2 (f32 input)", sq, a, 4, 1e-6, 1e-6);
    free(sq);
}

static double fd_of(int64_t d, double *m1, double *s1, double *m2, double *s2)
{
    fid_gaussian a = {d, m1, s1}, b = {d, m2, s2};
    return fid_frechet_distance(&a, &b);
}

TEST(test_fid_frechet_distance_matches_closed_forms_diagonal_commuting_and_2x2)
{
    /* diagonal: ||mu1 - mu2||^2 + sum (sqrt a_i - sqrt b_i)^2 */
    double m1[3] = {0, 1, 2}, m2[3] = {1, 1, 0};
    double s1[9] = {1, 0, 0, 0, 4, 0, 0, 0, 9}, s2[9] = {4, 0, 0, 0, 1, 0, 0, 0, 0.25};
    double want = 1 + 0 + 4 + (1 - 2) * (1 - 2) + (2 - 1) * (2 - 1) + (3 - 0.5) * (3 - 0.5);
    CHECK_NEAR(fd_of(3, m1, s1, m2, s2), want, 1e-9);
    /* commuting: both diagonal in the rotated basis Q = rotation by 30 degrees */
    double c = cos(M_PI / 6), s = sin(M_PI / 6), a1 = 2, a2 = 5, b1 = 3, b2 = 0.5;
    double q[4] = {c, -s, s, c}, c1[4], c2[4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            c1[i * 2 + j] = q[i * 2] * a1 * q[j * 2] + q[i * 2 + 1] * a2 * q[j * 2 + 1];
            c2[i * 2 + j] = q[i * 2] * b1 * q[j * 2] + q[i * 2 + 1] * b2 * q[j * 2 + 1];
        }
    double z[2] = {0, 0};
    want = pow(sqrt(a1) - sqrt(b1), 2) + pow(sqrt(a2) - sqrt(b2), 2);
    CHECK_NEAR(fd_of(2, z, c1, z, c2), want, 1e-9);
    /* non-commuting 2x2: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for a 2x2 PSD M, with
     * M = S1^1/2 S2 S1^1/2: tr M = tr(S1 S2), det M = det S1 det S2 */
    double d1[4] = {1, 0, 0, 4}, d2[4] = {2, 1, 1, 2};
    want = 5 + 4 - 2 * sqrt(10 + 2 * sqrt(4.0 * 3.0));
    CHECK_NEAR(fd_of(2, z, d1, z, d2), want, 1e-9);
    CHECK_NEAR(fd_of(2, z, d2, z, d1), want, 1e-9); /* symmetric */
    double id[4] = {1, 0, 0, 1};
    CHECK_NEAR(fd_of(2, z, id, z, d2), 4 - 2 * sqrt(3.0), 1e-9);
    CHECK_NEAR(fd_of(2, z, d2, z, d2), 0, 1e-9);
}

TEST(test_fid_gaussian_fit_and_distance_match_numpy_including_a_singular_covariance)
{
    ref_chain c = {0};
    if (!ref_open(&c, "ref/fid_refs.txt")) return;
    dc_tensor *a = ref_get(&c, "param", "a"), *b = ref_get(&c, "param", "b");
    dc_tensor *cc = ref_get(&c, "param", "c");
    ref_tensor *mean_a = ref_find(&c, "out", "mean_a", NULL), *cov_a = ref_find(&c, "out", "cov_a", NULL);
    ref_tensor *fd = ref_find(&c, "out", "fd", NULL), *fd_ac = ref_find(&c, "out", "fd_ac", NULL);
    fid_gaussian ga, gb, gc;
    if (a && b && cc && mean_a && cov_a && fd && fd_ac && fid_gaussian_fit(a, &ga) == 0) {
        CHECK(ga.d == 6);
        CHECK_ALLCLOSE("mean", ga.mean, mean_a->values, 6, 1e-7, 1e-7);
        CHECK_ALLCLOSE("cov", ga.cov, cov_a->values, 36, 1e-7, 1e-7);
        if (fid_gaussian_fit(b, &gb) == 0) {
            CHECK_NEAR(fid_frechet_distance(&ga, &gb), fd->values[0], 1e-6 * fd->values[0]);
            CHECK_NEAR(fid_frechet_distance(&gb, &ga), fd->values[0], 1e-6 * fd->values[0]);
            fid_gaussian_free(&gb);
        }
        if (fid_gaussian_fit(cc, &gc) == 0) { /* 4 samples in 6-D: rank 3 */
            CHECK_NEAR(fid_frechet_distance(&ga, &gc), fd_ac->values[0], 1e-5 * fd_ac->values[0]);
            fid_gaussian_free(&gc);
        }
        CHECK_NEAR(fid_frechet_distance(&ga, &ga), 0, 1e-6);
        fid_gaussian_free(&ga);
    } else {
        CHECK(!"fid refs or the fit failed");
    }
    ref_free(&c);
}

/* A classifier whose logits are its fc2 bias alone (every weight 0). */
static fid_model constant_classifier(const double *bias)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    fid_model m = {fid_classifier_new(&rng)};
    dc_tensor_list params;
    if (m.classifier && dc_module_parameters(m.classifier, &params) == 0) {
        for (int i = 0; i < params.n; i++) dc_fill_(params.tensors[i], 0);
        dc_tensor_list_free(&params);
        dc_tensor *b = dc_module_param(m.classifier, "fc2.bias");
        for (int k = 0; k < FID_CLASSES; k++) {
            size_t scope = dc_scope_begin();
            dc_copy_(dc_narrow(b, 0, k, 1), dc_scalar(DC_F32, bias[k]));
            dc_scope_end(scope);
        }
    }
    return m;
}

TEST(test_fid_label_distribution_of_a_constant_classifier_is_one_class_with_zero_entropy)
{
    double bias[FID_CLASSES] = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0};
    fid_model m = constant_classifier(bias);
    REQUIRE(m.classifier);
    dc_rng rng;
    dc_rng_seed(&rng, 1);
    dc_tensor *x = dc_rand(&rng, DC_F32, DC_SHAPE(5, 1, 28, 28));
    double probs[FID_CLASSES], h = -1, conf = -1;
    CHECK(fid_label_distribution(&m, x, probs, &h, &conf) == 0);
    for (int k = 0; k < FID_CLASSES; k++) CHECK_NEAR(probs[k], k == 3 ? 1 : 0, 0);
    CHECK_NEAR(h, 0, 0);
    CHECK_NEAR(conf, exp(2.0) / (exp(2.0) + 9), 1e-6);
    /* features of a zero network are 0: two image sets have distance 0 */
    double fd = -1;
    CHECK(fid_score(&m, x, dc_rand(&rng, DC_F32, DC_SHAPE(3, 1, 28, 28)), &fd) == 0);
    CHECK_NEAR(fd, 0, 1e-12);
    dc_module_free(m.classifier);
}

TEST(test_fid_committed_classifier_classifies_test_images_and_scores_real_below_noise)
{
    if (!dc_test_have("zlib") || !dc_test_have("jansson")) return;
    fid_model *m = fid_model_load("../" FID_CLASSIFIER_PATH);
    REQUIRE(m);
    dc_dataset *test = dc_fashion_mnist_load(NULL, false);
    if (test) {
        dc_tensor *a = dc_narrow(test->inputs, 0, 0, 500), *b = dc_narrow(test->inputs, 0, 500, 500);
        bool grad = dc_no_grad_begin();
        double acc = dc_accuracy(dc_forward(m->classifier, a), dc_narrow(test->targets, 0, 0, 500));
        dc_grad_mode_restore(grad);
        EXPECT(acc > 0.85, "the committed classifier's accuracy %.3f is not > 0.85", acc);
        double fd_real = -1, fd_noise = -1, probs[FID_CLASSES], h = -1;
        dc_rng rng;
        dc_rng_seed(&rng, 2);
        CHECK(fid_score(m, a, b, &fd_real) == 0);
        CHECK(fid_score(m, dc_rand(&rng, DC_F32, DC_SHAPE(500, 1, 28, 28)), b, &fd_noise) == 0);
        EXPECT(fd_real >= 0 && fd_real * 10 < fd_noise, "FD real %.3f vs noise %.3f", fd_real,
               fd_noise);
        CHECK(fid_label_distribution(m, a, probs, &h, NULL) == 0);
        EXPECT(h > 2.1 && h <= log(10.0) + 1e-12, "label entropy of test images %.3f", h);
        dc_dataset_free(test);
    }
    fid_model_free(m);
}

TEST(test_fid_rejects_bad_shapes_missing_files_and_mismatched_gaussians)
{
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    fid_model m = {fid_classifier_new(&rng)};
    REQUIRE(m.classifier);
    dc_tensor *good = dc_zeros(DC_F32, DC_SHAPE(4, 1, 28, 28));
    dc_tensor *bad = dc_zeros(DC_F32, DC_SHAPE(4, 3, 28, 28));
    double fd = 123;
    CHECK_ERROR(fid_score(&m, bad, good, &fd) != 0, "samples must be float [n, 1, 28, 28]");
    CHECK_ERROR(fid_score(&m, good, dc_narrow(good, 0, 0, 1), &fd) != 0, "n >= 2");
    CHECK(fd == 123);
    CHECK_ERROR(fid_label_distribution(&m, NULL, NULL, NULL, NULL) != 0, "samples is NULL");
    CHECK_ERROR(fid_sqrtm_psd(dc_zeros(DC_F64, DC_SHAPE(2, 3))) == NULL, "square matrix");
    fid_gaussian g;
    CHECK_ERROR(fid_gaussian_fit(dc_zeros(DC_F64, DC_SHAPE(1, 3)), &g) != 0, "n >= 2");
    CHECK(g.mean == NULL && g.cov == NULL);
    double m1[2] = {0, 0}, s1[4] = {1, 0, 0, 1}, m3[3] = {0}, s3[9] = {0};
    fid_gaussian a = {2, m1, s1}, b = {3, m3, s3};
    CHECK_ERROR(isnan(fid_frechet_distance(&a, &b)), "dimensions 2 and 3 differ");
    CHECK_ERROR(fid_model_load("/nonexistent/fid.safetensors") == NULL, "/nonexistent/fid.safetensors");
    double *v = dc_test_values(good);
    REQUIRE(v);
    CHECK(v[0] == 0);
    free(v);
    dc_module_free(m.classifier);
}
