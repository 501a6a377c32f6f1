/* How good are generated samples (issue 15): an FID-like Fréchet distance between Gaussian
 * fits of the penultimate-layer features of the project's own Fashion-MNIST classifier, and
 * that classifier's label distribution over a set of samples. Uses only the public headers.
 *
 *   FD = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
 *
 * with the symmetric PSD square roots taken through dc_linalg_eigh (negative eigenvalues of
 * round-off clamped to 0). The classifier (fid_classifier_new) is trained by
 * examples/fid_classifier.c and committed as FID_CLASSIFIER_PATH; scores are comparable only
 * between runs that use the same classifier file and the same numbers of images. */
#ifndef DEEPC_APPS_FID_H
#define DEEPC_APPS_FID_H

#include "deepc.h"

#include <stdio.h>

/* The committed classifier, relative to the repository root. */
#define FID_CLASSIFIER_PATH "assets/fid_classifier.safetensors"
/* Width of the penultimate layer (the features). */
#define FID_FEATURES 64
#define FID_CLASSES 10

/* The classifier: conv1 (1->16, 3x3, pad 1) relu maxpool2, conv2 (16->32, 3x3, pad 1) relu
 * maxpool2, fc1 (1568->64) relu = the features, fc2 (64->10) = the logits. dc_forward maps
 * images [N, 1, 28, 28] in [0, 1] to logits [N, 10]. The caller frees it. */
dc_module *fid_classifier_new(dc_rng *rng);
/* Its penultimate features [N, FID_FEATURES] of images [N, 1, 28, 28]. */
dc_tensor *fid_classifier_features(dc_module *classifier, dc_tensor *images);

/* A loaded scorer (the classifier in eval mode). */
typedef struct {
    dc_module *classifier;
} fid_model;

/* Load the classifier from a safetensors file (NULL: FID_CLASSIFIER_PATH). NULL with an
 * error naming the file when it is missing or does not match the architecture. */
fid_model *fid_model_load(const char *path);
void fid_model_free(fid_model *model);

/* The symmetric positive semi-definite square root of a symmetric a [n, n] (float32/64):
 * V diag(sqrt(max(lambda, 0))) V^T from dc_linalg_eigh, in float64 (no gradient). */
dc_tensor *fid_sqrtm_psd(dc_tensor *a);
/* A Gaussian fit: mean[d] and covariance cov[d * d] (row-major), malloc'ed. */
typedef struct {
    int64_t d;
    double *mean, *cov;
} fid_gaussian;
/* Mean and covariance (unbiased, 1/(n-1), like numpy.cov(rowvar=False)) of features [n, d]
 * (n >= 2) into *out (free with fid_gaussian_free). Returns 0 or -1 (*out zeroed). */
int fid_gaussian_fit(const dc_tensor *features, fid_gaussian *out);
void fid_gaussian_free(fid_gaussian *g);
/* The Fréchet distance between N(a.mean, a.cov) and N(b.mean, b.cov) of one d, or NaN with
 * an error for a mismatch. */
double fid_frechet_distance(const fid_gaussian *a, const fid_gaussian *b);
/* The Gaussian fit of the classifier features of images [n, 1, 28, 28] in [0, 1] (n >= 2),
 * e.g. a reference set fitted once and compared with many sample sets. 0 or -1. */
int fid_fit_images(const fid_model *model, const dc_tensor *images, fid_gaussian *out);
/* The Fréchet distance between the Gaussian fits of the classifier features of samples and
 * reference (each [n, 1, 28, 28] in [0, 1], n >= 2; the numbers may differ) into *fd.
 * Returns 0 or -1. */
int fid_score(const fid_model *model, const dc_tensor *samples, const dc_tensor *reference,
              double *fd);
/* The classifier's label distribution over samples [n, 1, 28, 28]: probs[c] = the fraction
 * of samples whose argmax class is c (FID_CLASSES values, nullable), *entropy (nullable) its
 * entropy in nats (ln 10 = 2.303 when all classes are equally frequent), *confidence
 * (nullable) the mean top softmax probability. Returns 0 or -1. */
int fid_label_distribution(const fid_model *model, const dc_tensor *samples, double *probs,
                           double *entropy, double *confidence);

/* The protocol of the README's table: samples (e.g. 2000) against the first
 * FID_REFERENCE_IMAGES Fashion-MNIST test images of data_dir (NULL: DC_FASHION_MNIST_DIR). */
#define FID_REFERENCE_IMAGES 2000
typedef struct {
    double fd;                  /* fid_score against the reference */
    double probs[FID_CLASSES];  /* fid_label_distribution of the samples */
    double entropy, confidence;
    int64_t n;                  /* samples scored */
} fid_result;
/* fid_score and fid_label_distribution of samples [n, 1, 28, 28] in [0, 1] (n >= 2) against
 * the reference test images into *out. Returns 0 or -1. */
int fid_evaluate(const fid_model *model, const dc_tensor *samples, const char *data_dir,
                 fid_result *out);
/* One line "LABEL: FD x.xx, label entropy x.xxx nats, confidence x.xxx, classes ..." */
void fid_result_print(const fid_result *r, const char *label, FILE *out);

#endif
