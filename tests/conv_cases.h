/* Table-driven checks shared by tests/test_conv.c and tests/test_pool.c.
 *
 * One row per op configuration. The same row is
 *   - compared with PyTorch: tests/ref/conv_refs.txt (written by tests/ref/make_conv_refs.py,
 *     whose CASES table has the same names and arguments) holds float32 inputs, torch's output,
 *     a random R and torch's gradients of L = sum(out * R); deepc must match them within
 *     |deepc - torch| <= 1e-5 + 1e-5 * |torch|;
 *   - run through the float64 gradient checker (tests/gradcheck.h) on the same inputs
 *     converted to float64.
 * Argument fields left 0 mean torch's default (stride 1 or = kernel for pools, dilation 1,
 * groups 1); 1-D ops use index [0]. */
#ifndef DC_CONV_CASES_H
#define DC_CONV_CASES_H

#include "test.h"

typedef enum {
    CASE_CONV1D,
    CASE_CONV2D,
    CASE_CONV_TRANSPOSE1D,
    CASE_CONV_TRANSPOSE2D,
    CASE_MAX_POOL1D,
    CASE_MAX_POOL2D,
    CASE_AVG_POOL1D,
    CASE_AVG_POOL2D,
    CASE_ADAPTIVE_AVG_POOL2D,
    CASE_UPSAMPLE_NEAREST2D,
    CASE_UPSAMPLE_BILINEAR2D,
} conv_case_op;

typedef struct {
    const char *name; /* as in make_conv_refs.py */
    conv_case_op op;
    int stride[2], padding[2], dilation[2], output_padding[2], groups;
    int kernel[2];   /* pools */
    int64_t size[2]; /* adaptive / bilinear: output size; nearest: scale factors */
    bool align_corners;
} conv_case;

/* The row called `name` in a table of n rows (NULL if none). */
const conv_case *conv_case_find(const conv_case *table, int n, const char *name);
/* Run the row's op on x (and weight w, bias b: NULL for ops without them). */
dc_tensor *conv_case_run(const conv_case *c, dc_tensor *x, dc_tensor *w, dc_tensor *b);
/* Record test failures if deepc differs from the torch values of the row. */
void conv_case_check_torch(const conv_case *c);
/* Record test failures if the row's float64 gradients differ from finite differences. */
void conv_case_check_gradients(const conv_case *c);

/* TEST(test_<name>_matches_torch) for the row <name> of `table`. */
#define CONV_TORCH_TEST(table, name)                                                               \
    TEST(test_##name##_matches_torch)                                                              \
    {                                                                                              \
        const conv_case *c_ = conv_case_find(table, (int)(sizeof table / sizeof *table), #name);   \
        REQUIRE(c_ != NULL);                                                                       \
        conv_case_check_torch(c_);                                                                 \
    }

#endif
