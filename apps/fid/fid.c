/* The Fréchet distance of classifier features and the label distribution (see fid.h). */
#include "fid/fid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The classifier ------------------------------------------------------------------------- */

static dc_tensor *classifier_trunk(dc_module *m, dc_tensor *x)
{
    dc_pool2d_opts pool = DC_POOL2D_OPTS(2, 2, 0);
    dc_tensor *h = dc_max_pool2d(dc_relu(dc_forward(dc_module_child(m, "conv1"), x)), pool);
    h = dc_max_pool2d(dc_relu(dc_forward(dc_module_child(m, "conv2"), h)), pool);
    return dc_relu(dc_forward(dc_module_child(m, "fc1"), dc_flatten(h, 1, -1)));
}

dc_tensor *fid_classifier_features(dc_module *classifier, dc_tensor *images)
{
    if (!classifier || !images) return dc_error("fid_classifier_features: NULL input");
    if (images->ndim != 4 || images->shape[1] != 1 || images->shape[2] != 28 ||
        images->shape[3] != 28) {
        char buf[96];
        return dc_error("fid_classifier_features: images must be [N, 1, 28, 28], got %s",
                        dc_shape_str(images, buf, sizeof buf));
    }
    size_t scope = dc_scope_begin();
    return dc_scope_return(scope, classifier_trunk(classifier, images));
}

/* logits = fc2(features(x)) */
static dc_tensor *classifier_forward(dc_module *m, dc_tensor *x)
{
    size_t scope = dc_scope_begin();
    dc_tensor *f = fid_classifier_features(m, x);
    return dc_scope_return(scope, dc_forward(dc_module_child(m, "fc2"), f));
}

dc_module *fid_classifier_new(dc_rng *rng)
{
    dc_module *m = dc_module_new("FidClassifier");
    if (!m) return NULL;
    m->forward = classifier_forward;
    dc_conv2d_opts same = DC_CONV2D_OPTS(1, 1, 1, 1);
    bool ok = dc_module_add_child(m, "conv1", dc_conv2d_new(1, 16, 3, 3, same, true, rng)) &&
              dc_module_add_child(m, "conv2", dc_conv2d_new(16, 32, 3, 3, same, true, rng)) &&
              dc_module_add_child(m, "fc1", dc_linear_new(32 * 7 * 7, FID_FEATURES, true, rng)) &&
              dc_module_add_child(m, "fc2", dc_linear_new(FID_FEATURES, FID_CLASSES, true, rng));
    if (!ok) {
        dc_module_free(m);
        return NULL;
    }
    return m;
}

fid_model *fid_model_load(const char *path)
{
    if (!path) path = FID_CLASSIFIER_PATH;
    fid_model *model = calloc(1, sizeof *model);
    if (!model) return dc_error("fid_model_load: out of memory");
    dc_rng rng;
    dc_rng_seed(&rng, 0);
    model->classifier = fid_classifier_new(&rng);
    if (!model->classifier || dc_checkpoint_load(path, model->classifier, NULL) != 0) {
        const char *why = dc_last_error();
        char msg[600];
        snprintf(msg, sizeof msg, "%s", why ? why : "?");
        fid_model_free(model);
        return dc_error("fid_model_load: %s (train it with build/examples/fid_classifier)", msg);
    }
    dc_module_train(model->classifier, false);
    return model;
}

void fid_model_free(fid_model *model)
{
    if (!model) return;
    dc_module_free(model->classifier);
    free(model);
}

/* ---- Matrix square root and the Fréchet distance ---------------------------------------------- */

static bool is_square(const dc_tensor *a)
{
    return a && a->ndim == 2 && a->shape[0] == a->shape[1] && a->shape[0] >= 1;
}

/* sqrt(A) = V diag(sqrt(max(lambda, 0))) V^T */
dc_tensor *fid_sqrtm_psd(dc_tensor *a)
{
    char buf[96];
    if (!a) return dc_error("fid_sqrtm_psd: input 'a' is NULL");
    if (!is_square(a))
        return dc_error("fid_sqrtm_psd: a must be a square matrix [n, n], got %s",
                        dc_shape_str(a, buf, sizeof buf));
    size_t scope = dc_scope_begin();
    bool grad = dc_no_grad_begin();
    dc_tensor *values = NULL, *vectors = NULL, *result = NULL;
    dc_tensor *a64 = dc_to_dtype(a, DC_F64);
    if (a64 && dc_linalg_eigh(a64, &values, &vectors) == 0) {
        dc_tensor *root = dc_sqrt(dc_clamp(values, 0, INFINITY));
        /* (V * sqrt(lambda) per column) V^T */
        result = dc_matmul(dc_mul(vectors, dc_unsqueeze(root, 0)), dc_transpose(vectors, 0, 1));
    }
    dc_grad_mode_restore(grad);
    return dc_scope_return(scope, result);
}

int fid_gaussian_fit(const dc_tensor *features, fid_gaussian *out)
{
    char buf[96];
    if (!out) return dc_error("fid_gaussian_fit: output 'out' is NULL"), -1;
    *out = (fid_gaussian){0, NULL, NULL};
    if (!features) return dc_error("fid_gaussian_fit: input 'features' is NULL"), -1;
    if (features->ndim != 2 || features->shape[0] < 2 || features->shape[1] < 1)
        return dc_error("fid_gaussian_fit: features must be [n, d] with n >= 2, got %s",
                        dc_shape_str(features, buf, sizeof buf)),
               -1;
    int64_t n = features->shape[0], d = features->shape[1];
    double *x = malloc((size_t)(n * d) * sizeof *x), *mu = calloc((size_t)d, sizeof *mu);
    double *c = calloc((size_t)(d * d), sizeof *c);
    int rc = -1;
    if (!x || !mu || !c) {
        dc_error("fid_gaussian_fit: out of memory");
    } else if (dc_to_double_buffer(features, x, n * d) == 0) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < d; j++) mu[j] += x[i * d + j];
        for (int64_t j = 0; j < d; j++) mu[j] /= (double)n;
        for (int64_t i = 0; i < n; i++) {
            double *row = x + i * d;
            for (int64_t j = 0; j < d; j++) row[j] -= mu[j];
            for (int64_t j = 0; j < d; j++)
                for (int64_t k = j; k < d; k++) c[j * d + k] += row[j] * row[k];
        }
        for (int64_t j = 0; j < d; j++)
            for (int64_t k = j; k < d; k++) c[k * d + j] = c[j * d + k] /= (double)(n - 1);
        *out = (fid_gaussian){d, mu, c};
        mu = c = NULL;
        rc = 0;
    }
    free(x), free(mu), free(c);
    return rc;
}

void fid_gaussian_free(fid_gaussian *g)
{
    if (!g) return;
    free(g->mean), free(g->cov);
    *g = (fid_gaussian){0, NULL, NULL};
}

static double trace(const double *a, int64_t d)
{
    double t = 0;
    for (int64_t i = 0; i < d; i++) t += a[i * d + i];
    return t;
}

/* ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 sum_i sqrt(max(eig_i(S1^1/2 S2 S1^1/2), 0)), where
 * the eigenvalues of S1^1/2 S2 S1^1/2 are those of S1 S2 (scipy's sqrtm(S1 S2) route) but
 * of a symmetric matrix, so eigh applies. */
double fid_frechet_distance(const fid_gaussian *a, const fid_gaussian *b)
{
    if (!a || !b || !a->mean || !a->cov || !b->mean || !b->cov)
        return dc_error("fid_frechet_distance: NULL or empty Gaussian"), NAN;
    if (a->d != b->d || a->d < 1)
        return dc_error("fid_frechet_distance: dimensions %lld and %lld differ", (long long)a->d,
                        (long long)b->d),
               NAN;
    int64_t d = a->d;
    size_t scope = dc_scope_begin();
    bool grad = dc_no_grad_begin();
    dc_tensor *s1 = dc_from_buffer(DC_F64, 2, (int64_t[]){d, d}, a->cov);
    dc_tensor *s2 = dc_from_buffer(DC_F64, 2, (int64_t[]){d, d}, b->cov);
    dc_tensor *root1 = fid_sqrtm_psd(s1);
    dc_tensor *m = dc_matmul(dc_matmul(root1, s2), root1);
    m = dc_mul_scalar(dc_add(m, dc_transpose(m, 0, 1)), 0.5); /* symmetric up to round-off */
    dc_tensor *values = NULL;
    double *ev = malloc((size_t)d * sizeof *ev), result = NAN;
    if (!ev) {
        dc_error("fid_frechet_distance: out of memory");
    } else if (m && dc_linalg_eigh(m, &values, NULL) == 0 &&
               dc_to_double_buffer(values, ev, d) == 0) {
        double dist = 0, tr_root = 0;
        for (int64_t i = 0; i < d; i++) {
            double diff = a->mean[i] - b->mean[i];
            dist += diff * diff;
            tr_root += sqrt(ev[i] > 0 ? ev[i] : 0);
        }
        result = dist + trace(a->cov, d) + trace(b->cov, d) - 2 * tr_root;
    }
    free(ev);
    dc_grad_mode_restore(grad);
    dc_scope_end(scope);
    return result;
}

/* ---- Scores of image sets --------------------------------------------------------------------- */

enum { FEATURE_BATCH = 500 };

static bool check_images(const char *fn, const char *what, const dc_tensor *x, int64_t min_n)
{
    char buf[96];
    if (!x) return dc_error("%s: %s is NULL", fn, what), false;
    if (x->ndim != 4 || x->shape[0] < min_n || x->shape[1] != 1 || x->shape[2] != 28 ||
        x->shape[3] != 28 || (x->dtype != DC_F32 && x->dtype != DC_F64))
        return dc_error("%s: %s must be float [n, 1, 28, 28] with n >= %lld, got %s", fn, what,
                        (long long)min_n, dc_shape_str(x, buf, sizeof buf)),
               false;
    return true;
}

/* Features or logits (logits = true) of images in batches, without gradients. */
static dc_tensor *classify(const fid_model *model, const dc_tensor *images, bool logits)
{
    int64_t n = images->shape[0];
    dc_tensor **parts = calloc((size_t)(n / FEATURE_BATCH + 1), sizeof *parts);
    if (!parts) return dc_error("fid: out of memory");
    size_t scope = dc_scope_begin();
    bool grad = dc_no_grad_begin();
    int k = 0;
    bool ok = true;
    dc_tensor *x = dc_to_dtype((dc_tensor *)images, DC_F32);
    for (int64_t s = 0; ok && s < n; s += FEATURE_BATCH) {
        dc_tensor *batch = dc_narrow(x, 0, s, n - s < FEATURE_BATCH ? n - s : FEATURE_BATCH);
        parts[k] = logits ? dc_forward(model->classifier, batch)
                          : fid_classifier_features(model->classifier, batch);
        ok = parts[k++] != NULL;
    }
    dc_tensor *all = ok ? dc_cat(parts, k, 0) : NULL;
    dc_grad_mode_restore(grad);
    free(parts);
    return dc_scope_return(scope, all);
}

int fid_fit_images(const fid_model *model, const dc_tensor *images, fid_gaussian *out)
{
    if (out) *out = (fid_gaussian){0, NULL, NULL};
    if (!model || !model->classifier || !out)
        return dc_error("fid_fit_images: NULL argument"), -1;
    if (!check_images("fid_fit_images", "images", images, 2)) return -1;
    size_t scope = dc_scope_begin();
    dc_tensor *f = classify(model, images, false);
    int rc = f ? fid_gaussian_fit(f, out) : -1;
    dc_scope_end(scope);
    return rc;
}

int fid_score(const fid_model *model, const dc_tensor *samples, const dc_tensor *reference,
              double *fd)
{
    if (!model || !model->classifier || !fd) return dc_error("fid_score: NULL argument"), -1;
    if (!check_images("fid_score", "samples", samples, 2) ||
        !check_images("fid_score", "reference", reference, 2))
        return -1;
    fid_gaussian g1 = {0, NULL, NULL}, g2 = {0, NULL, NULL};
    int rc = -1;
    if (fid_fit_images(model, samples, &g1) == 0 && fid_fit_images(model, reference, &g2) == 0) {
        double v = fid_frechet_distance(&g1, &g2);
        if (!isnan(v)) *fd = v, rc = 0;
    }
    fid_gaussian_free(&g1), fid_gaussian_free(&g2);
    return rc;
}

int fid_label_distribution(const fid_model *model, const dc_tensor *samples, double *probs,
                           double *entropy, double *confidence)
{
    if (!model || !model->classifier)
        return dc_error("fid_label_distribution: NULL model"), -1;
    if (!check_images("fid_label_distribution", "samples", samples, 1)) return -1;
    size_t scope = dc_scope_begin();
    int64_t n = samples->shape[0];
    dc_tensor *logits = classify(model, samples, true);
    dc_tensor *p = logits ? dc_softmax(logits, 1) : NULL;
    double *v = p ? malloc((size_t)(n * FID_CLASSES) * sizeof *v) : NULL;
    int rc = -1;
    if (v && dc_to_double_buffer(p, v, n * FID_CLASSES) == 0) {
        double count[FID_CLASSES] = {0}, conf = 0;
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int c = 1; c < FID_CLASSES; c++)
                if (v[i * FID_CLASSES + c] > v[i * FID_CLASSES + best]) best = c;
            count[best] += 1;
            conf += v[i * FID_CLASSES + best];
        }
        double h = 0;
        for (int c = 0; c < FID_CLASSES; c++) {
            double q = count[c] / (double)n;
            if (probs) probs[c] = q;
            if (q > 0) h -= q * log(q);
        }
        if (entropy) *entropy = h;
        if (confidence) *confidence = conf / (double)n;
        rc = 0;
    } else if (p && !v) {
        dc_error("fid_label_distribution: out of memory");
    }
    free(v);
    dc_scope_end(scope);
    return rc;
}

int fid_evaluate(const fid_model *model, const dc_tensor *samples, const char *data_dir,
                 fid_result *out)
{
    if (!out) return dc_error("fid_evaluate: output 'out' is NULL"), -1;
    if (!check_images("fid_evaluate", "samples", samples, 2)) return -1;
    dc_dataset *test = dc_fashion_mnist_load(data_dir, false);
    if (!test) return -1;
    size_t scope = dc_scope_begin();
    int64_t n_ref = dc_dataset_size(test) < FID_REFERENCE_IMAGES ? dc_dataset_size(test)
                                                                   : FID_REFERENCE_IMAGES;
    fid_result r = {0};
    r.n = samples->shape[0];
    int rc = fid_score(model, samples, dc_narrow(test->inputs, 0, 0, n_ref), &r.fd);
    if (rc == 0) rc = fid_label_distribution(model, samples, r.probs, &r.entropy, &r.confidence);
    if (rc == 0) *out = r;
    dc_scope_end(scope);
    dc_dataset_free(test);
    return rc;
}

void fid_result_print(const fid_result *r, const char *label, FILE *out)
{
    if (!r || !out) return;
    fprintf(out, "%s: FD %.2f over %lld samples, label entropy %.3f nats (max %.3f), "
                 "confidence %.3f, classes", label ? label : "samples", r->fd, (long long)r->n,
            r->entropy, log((double)FID_CLASSES), r->confidence);
    for (int c = 0; c < FID_CLASSES; c++) fprintf(out, " %.3f", r->probs[c]);
    fputc('\n', out);
}
