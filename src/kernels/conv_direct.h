/* Direct float32 convolution for single-input-channel layers (LeNet's conv1: 1 -> 32, 5x5 on
 * 28x28), private to src/kernels/. dc_conv_forward and dc_conv_backward_weight (im2col.c)
 * hand such shapes here; everything else goes through im2col + GEMM.
 *
 * Why: with K = Cin*KH*KW = 25, im2col's columns (25 copies of every image) and the GEMM's
 * staging cost more than the multiply-adds, and 32 output channels pad the GEMM tile.
 *
 * How: per image, per strip of output rows, KW column-shifted copies of the zero-padded
 * input are built once (tiny: KW x the strip's rows x OW floats):
 *     xs_kw[i][ow] = x[r0 - pad_h + i][ow - pad_w + kw]        (0 outside the image)
 * so that the input tap (kh, kw) reads for flat output position p = r*OW + ow (r counted
 * from the strip's first row) is xs_kw[p + kh*OW]: for every tap the inputs of consecutive
 * outputs are consecutive, across row ends too. The kernels (conv_direct_kernel.h) then
 * run over the strip's flat positions in whole vectors, no lane lost at row ends:
 *     forward  y[c][p]     = bias[c] + sum_{kh,kw} w[c][kh][kw] * xs_kw[p + kh*OW]
 *     weight   dW[c][kh][kw] += sum_p g[c][p] * xs_kw[p + kh*OW],   db[c] += sum_p g[c][p]
 * forward register-blocks CB channels x NV vectors of positions (one load of inputs per tap
 * feeds every channel), the weight pass CB channels x TB taps (one load of g per position
 * feeds every tap), its sums kept as vectors per thread and reduced once at the end.
 * Threads go over images (dc_parallel_for), each with its own strip buffer and partials.
 *
 * One kernel source, compiled per ISA (portable C in conv_direct.c, conv_direct_avx2.c,
 * conv_direct_avx512.c), chosen at run time from dc_isa_active(). */
#ifndef DC_CONV_DIRECT_H
#define DC_CONV_DIRECT_H

#include "conv_kernels.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest kernel side the direct path takes. */
#define DC_CONV_DIRECT_MAX_K 7

/* Whether the direct path runs this shape: float32, in_channels 1, groups 1, stride 1,
 * dilation 1, kernel at most 7x7, and a strip of one output row fitting the scratch cap.
 * The weight-pass and forward conditions are the same; backward_data never goes here. */
bool dc_conv_direct_handles(const dc_conv_shape *s, bool f64);

/* Scratch bytes for DC_CONV_FORWARD or DC_CONV_BACKWARD_WEIGHT of a handled shape (for the
 * thread count and every ISA; 64-byte aligned like dc_conv_scratch_bytes' scratch). */
size_t dc_conv_direct_scratch_bytes(const dc_conv_shape *s, dc_conv_pass pass);

/* The passes of conv_kernels.h for a handled shape, float32 only:
 *   forward: y[N, Cout, OH, OW] = w ⋆ x (+ bias[Cout], may be NULL)
 *   weight:  dw[Cout, 1, KH, KW] = sum_n g_n ⋆ x_n (overwritten), and if db != NULL
 *            db[Cout] = sum of g[:, c] (overwritten) */
void dc_conv_direct_forward(const dc_conv_shape *s, const float *x, const float *w,
                            const float *bias, float *y, void *scratch);
void dc_conv_direct_backward_weight(const dc_conv_shape *s, const float *x, const float *g,
                                    float *dw, float *db, void *scratch);

/* For tests: the name of the kernels the active ISA uses ("avx512", "avx2", "portable"),
 * and how many passes ran through the direct path since the start (so a test sees a hook
 * that silently stopped taking it). */
const char *dc_conv_direct_kernel_name(void);
int64_t dc_conv_direct_calls(void);

/* ---- What an ISA file provides (conv_direct_kernel.h) --------------------------------- */

/* Forward of one block of cb = fwd_cb channels on one strip: for the first nc channels,
 *   y[c*y_cs + p] = bp[c] + sum_t wp[t*cb + c] * xs[tap_off[t] + p]   for p in [0, npos).
 * xs may be read up to DC_CONV_DIRECT_SLACK floats past tap_off[t] + npos. */
typedef void (*dc_conv_direct_fwd_fn)(const float *xs, const int64_t *tap_off, int64_t ntaps,
                                      int64_t npos, const float *wp, const float *bp, float *y,
                                      int64_t y_cs, int nc);
/* Weight pass of up to wgt_cb channels x nt (<= wgt_tb) taps on one strip: for c < nc,
 *   part[c*part_cs + t*vw + l] += lane l of sum_p g[c*g_cs + p] * xs[tap_off[t] + p]. */
typedef void (*dc_conv_direct_wgt_fn)(const float *xs, const int64_t *tap_off, int nt, int64_t npos,
                                      const float *g, int64_t g_cs, int nc, float *part,
                                      int64_t part_cs);
/* sum of p[0..n) */
typedef double (*dc_conv_direct_sum_fn)(const float *p, int64_t n);

typedef struct {
    const char *name;
    int vw;             /* floats per vector (lanes of the weight partials) */
    int fwd_cb, wgt_cb; /* channels per block of each pass */
    int wgt_tb;         /* most taps per block of the weight pass */
    dc_conv_direct_fwd_fn fwd;
    dc_conv_direct_wgt_fn wgt;
    dc_conv_direct_sum_fn sum;
} dc_conv_direct_kernels;

/* Bounds every ISA's parameters stay within (scratch is sized with them). */
#define DC_CONV_DIRECT_MAX_VW 16
#define DC_CONV_DIRECT_MAX_CB 16
#define DC_CONV_DIRECT_SLACK 64 /* >= NV * VW of every forward kernel */

/* NULL when the file was built without its ISA flags. */
const dc_conv_direct_kernels *dc_conv_direct_kernels_avx2(void);
const dc_conv_direct_kernels *dc_conv_direct_kernels_avx512(void);

#endif
