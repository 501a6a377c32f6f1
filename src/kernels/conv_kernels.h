/* Convolution kernels (im2col + GEMM), independent of tensors and autograd. float32
 * convolutions of one input channel with stride 1 and dilation 1 (first layers: LeNet's
 * conv1) run a direct kernel instead (conv_direct.h), for the forward and weight passes.
 *
 * Everything is phrased in terms of one convolution "image -> columns":
 *   image   x[N, C_in,  H,  W ]    (the conv's input; conv_transpose's *output*)
 *   columns y[N, C_out, OH, OW]    (the conv's output; conv_transpose's *input*)
 *   weight  w[C_out, C_in/groups, KH, KW]
 * with OH = out_h given by the caller (normally floor((H + 2p - d(K-1) - 1)/s) + 1).
 * The three kernels are the conv and its two adjoints, so conv2d and conv_transpose2d share
 * them (a transposed convolution is the gradient of a convolution w.r.t. its input):
 *   dc_conv_forward          y  = W ⋆ x (+ bias[c_out])          conv2d fwd, conv_transpose dX
 *   dc_conv_backward_data    x  = W^T ⋆ y (+ bias[c_in])          conv2d dX, conv_transpose fwd
 *   dc_conv_backward_weight  dW = sum_n y_n ⋆ x_n                  both dW (overwritten)
 *                            db[c_out] = sum of y[:, c_out]     conv2d's bias gradient
 *                                      (optional: summed while y is staged, no extra pass)
 * All buffers are contiguous, float32 (f64 = false) or float64. Each needs a caller-provided
 * scratch of dc_conv_scratch_bytes(...) bytes (64-byte aligned; bounded: a few MB per thread
 * at most, whatever the batch, so callers can keep and reuse it); nothing here allocates or
 * reports errors. Each pass threads either over blocks of images (small weights) or over
 * every step of one block after another (large weights, small images). */
#ifndef DC_CONV_KERNELS_H
#define DC_CONV_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t batch, groups;
    int64_t in_channels, in_h, in_w;    /* image side */
    int64_t out_channels, out_h, out_w; /* column side */
    int64_t kernel_h, kernel_w;
    int64_t stride_h, stride_w;
    int64_t pad_h, pad_w;
    int64_t dil_h, dil_w;
} dc_conv_shape;

typedef enum { DC_CONV_FORWARD, DC_CONV_BACKWARD_DATA, DC_CONV_BACKWARD_WEIGHT } dc_conv_pass;

/* Scratch bytes needed by one pass (may be 0). */
size_t dc_conv_scratch_bytes(const dc_conv_shape *s, bool f64, dc_conv_pass pass);

void dc_conv_forward(const dc_conv_shape *s, bool f64, const void *x, const void *w,
                     const void *bias, void *y, void *scratch);
void dc_conv_backward_data(const dc_conv_shape *s, bool f64, const void *y, const void *w,
                           const void *bias, void *x, void *scratch);
void dc_conv_backward_weight(const dc_conv_shape *s, bool f64, const void *x, const void *y,
                             void *dw, void *db, void *scratch);

/* A block of `nimages` consecutive images [nimages, C, H, W] to their columns
 * [C*KH*KW, nimages*OH*OW] (image b's output position l in column b*OH*OW + l; zeros where
 * the window reads padding), and the adjoint: columns accumulated (+=) back into the
 * images. Exposed for tests. */
void dc_im2col_f32(const dc_conv_shape *s, const float *im, int64_t nimages, float *cols);
void dc_im2col_f64(const dc_conv_shape *s, const double *im, int64_t nimages, double *cols);
void dc_col2im_f32(const dc_conv_shape *s, const float *cols, int64_t nimages, float *im);
void dc_col2im_f64(const dc_conv_shape *s, const double *cols, int64_t nimages, double *im);

#endif
