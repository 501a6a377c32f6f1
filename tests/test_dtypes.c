/* Integer and bool tensors (DC_BOOL, DC_U8, DC_I32 next to DC_I64): creation, conversion
 * between every pair of dtypes (checked where a value does not fit), printing, safetensors,
 * integer arithmetic, comparisons, logical ops, masks, the one table of dtype names, error
 * prefixes, and the leak report.
 *
 * Expected values are hand-computed (written next to each check) or, for the op table over
 * random inputs, PyTorch 1.13's: tests/ref/dtypes_refs.txt from tests/ref/make_dtypes_refs.py. */
#include "ref_loader.h"
#include "test.h"

#include <stdint.h>
#include <unistd.h>

static const dc_dtype all_dtypes[] = {DC_F32, DC_F64, DC_I64, DC_BOOL, DC_U8, DC_I32};
#define N_DTYPES ((int)(sizeof all_dtypes / sizeof *all_dtypes))

/* Element i (row-major) of t as int64 / double. */
static int64_t ival(const dc_tensor *t, int64_t i)
{
    double *v = dc_test_values(t);
    int64_t r = v ? (int64_t)v[i] : INT64_MIN;
    free(v);
    return r;
}

/* t has dtype `dtype` and exactly the values want[0..n). */
static void check_values(const char *what, const dc_tensor *t, dc_dtype dtype, const double *want,
                         int64_t n)
{
    if (!t) {
        dc_test_fail(__FILE__, __LINE__, "%s: NULL (%s)", what, dc_last_error());
        return;
    }
    EXPECT(t->dtype == dtype, "%s: dtype %s, want %s", what, dc_dtype_name(t->dtype),
           dc_dtype_name(dtype));
    EXPECT(dc_numel(t) == n, "%s: %lld elements, want %lld", what, (long long)dc_numel(t),
           (long long)n);
    double *got = dc_test_values(t);
    if (got && dc_numel(t) == n) CHECK_ALLCLOSE(what, got, want, n, 0, 0);
    free(got);
}
#define VALUES(...) (const double[]){__VA_ARGS__}, (int64_t)(sizeof((double[]){__VA_ARGS__}) / sizeof(double))

/* ---- Names, sizes, creation ------------------------------------------------------------ */

TEST(test_dtype_names_come_from_one_table_used_by_messages_and_printing)
{
    const char *names[] = {"float32", "float64", "int64", "bool", "uint8", "int32"};
    const size_t sizes[] = {4, 8, 8, 1, 1, 4};
    for (int i = 0; i < N_DTYPES; i++) {
        CHECK(strcmp(dc_dtype_name(all_dtypes[i]), names[i]) == 0);
        CHECK(dc_dtype_size(all_dtypes[i]) == sizes[i]);
        CHECK(dc_dtype_is_float(all_dtypes[i]) == (i < 2));
    }
    CHECK(strcmp(dc_dtype_name(DC_DTYPE_COUNT), "unknown") == 0 && dc_dtype_size(DC_DTYPE_COUNT) == 0);
    /* the enum keeps its old numbers */
    CHECK(DC_F32 == 0 && DC_F64 == 1 && DC_I64 == 2 && DC_DTYPE_COUNT == 6);
    char buf[64];
    dc_tensor *m = dc_zeros(DC_BOOL, DC_SHAPE(2, 3));
    CHECK(strcmp(dc_shape_str(m, buf, sizeof buf), "shape [2, 3] bool") == 0);
    dc_tensor *f = dc_zeros(DC_F64, DC_SHAPE(2));
    CHECK(strcmp(dc_shape_str(f, buf, sizeof buf), "shape [2] float64") == 0);
    CHECK_ERROR(!dc_add(f, dc_zeros(DC_F32, DC_SHAPE(2))), "dtype mismatch (float64 vs float32");
}

TEST(test_bool_uint8_int32_creation)
{
    check_values("zeros u8", dc_zeros(DC_U8, DC_SHAPE(3)), DC_U8, VALUES(0, 0, 0));
    check_values("ones i32", dc_ones(DC_I32, DC_SHAPE(2, 2)), DC_I32, VALUES(1, 1, 1, 1));
    check_values("full bool 5 -> true", dc_full(DC_BOOL, DC_SHAPE(2), 5), DC_BOOL, VALUES(1, 1));
    check_values("full bool nan -> true", dc_full(DC_BOOL, DC_SHAPE(1), NAN), DC_BOOL, VALUES(1));
    check_values("full u8 255.9 truncates", dc_full(DC_U8, DC_SHAPE(1), 255.9), DC_U8, VALUES(255));
    check_values("full i32 -7.5 truncates", dc_full(DC_I32, DC_SHAPE(1), -7.5), DC_I32, VALUES(-7));
    check_values("scalar i32", dc_scalar(DC_I32, -2147483648.0), DC_I32, VALUES(-2147483648.0));
    check_values("arange i32", dc_arange(DC_I32, 0, 5, 1), DC_I32, VALUES(0, 1, 2, 3, 4));
    check_values("arange u8 step 2.5", dc_arange(DC_U8, 0, 10, 2.5), DC_U8, VALUES(0, 2, 5, 7));
    check_values("arange i64 negative", dc_arange(DC_I64, 3, -1, -1.5), DC_I64, VALUES(3, 1, 0));
    check_values("from_buffer bool normalises", dc_from_buffer(DC_BOOL, DC_SHAPE(4), (uint8_t[]){0, 1, 2, 255}),
                 DC_BOOL, VALUES(0, 1, 1, 1));
    check_values("from_buffer u8", dc_from_buffer(DC_U8, DC_SHAPE(2), (uint8_t[]){200, 7}), DC_U8, VALUES(200, 7));
    check_values("from_buffer i32", dc_from_buffer(DC_I32, DC_SHAPE(2), (int32_t[]){-5, INT32_MAX}), DC_I32,
                 VALUES(-5, 2147483647.0));
    dc_tensor *like = dc_ones_like(dc_zeros(DC_U8, DC_SHAPE(2, 1)));
    CHECK(like && like->dtype == DC_U8 && like->ndim == 2);
    CHECK_NEAR(dc_item(dc_scalar(DC_U8, 17)), 17, 0);
    CHECK_NEAR(dc_item_at(dc_from_buffer(DC_I32, DC_SHAPE(2), (int32_t[]){4, -9}), (int64_t[]){1}), -9, 0);

    CHECK_ERROR(!dc_full(DC_U8, DC_SHAPE(2), 256), "dc_full: value 256 cannot be stored in a uint8 tensor");
    CHECK_ERROR(!dc_full(DC_U8, DC_SHAPE(2), -1), "out of range");
    CHECK_ERROR(!dc_full(DC_I32, DC_SHAPE(2), 2147483648.0), "int32");
    CHECK_ERROR(!dc_full(DC_I64, DC_SHAPE(2), NAN), "dc_full: value nan cannot be stored in a int64");
    CHECK_ERROR(!dc_scalar(DC_I64, INFINITY), "dc_scalar: value inf");
    CHECK_ERROR(!dc_arange(DC_U8, -1, 3, 1), "dc_arange: value -1 at index [0]");
    CHECK_ERROR(!dc_arange(DC_BOOL, 0, 2, 1), "dc_arange: not defined for bool");
    CHECK_ERROR(!dc_zeros((dc_dtype)42, DC_SHAPE(2)), "dc_zeros: unknown dtype 42");
    CHECK_ERROR(dc_fill_(dc_zeros(DC_U8, DC_SHAPE(1)), 300) != 0, "dc_fill_: value 300");
    CHECK_ERROR(!dc_requires_grad(dc_zeros(DC_I32, DC_SHAPE(2)), true), "got int32");
}

/* ---- Conversions --------------------------------------------------------------------------- */

/* Values every dtype holds (0 and 1 for bool) round-trip between every pair, including
 * strided and broadcast sources. */
TEST(test_conversions_round_trip_between_every_pair_of_dtypes)
{
    const double small[] = {0, 1, 7, 100, 0, 1};
    const double bits[] = {0, 1, 1, 0, 0, 1};
    for (int s = 0; s < N_DTYPES; s++)
        for (int d = 0; d < N_DTYPES; d++) {
            dc_dtype st = all_dtypes[s], dt = all_dtypes[d];
            const double *v = st == DC_BOOL || dt == DC_BOOL ? bits : small;
            dc_tensor *f = dc_from_buffer(DC_F64, DC_SHAPE(2, 3), v);
            dc_tensor *src = dc_to_dtype(f, st);
            dc_tensor *there = dc_to_dtype(src, dt);
            dc_tensor *back = dc_to_dtype(there, st);
            char what[64];
            snprintf(what, sizeof what, "%s -> %s -> back", dc_dtype_name(st), dc_dtype_name(dt));
            check_values(what, there, dt, v, 6);
            check_values(what, back, st, v, 6);
            /* strided (transposed) source and broadcast source through dc_copy_ */
            dc_tensor *dst = dc_zeros(dt, DC_SHAPE(3, 2));
            CHECK(dc_copy_(dst, dc_transpose(src, 0, 1)) == 0);
            double t[6] = {v[0], v[3], v[1], v[4], v[2], v[5]};
            check_values(what, dst, dt, t, 6);
            dc_tensor *row = dc_zeros(dt, DC_SHAPE(2, 3));
            CHECK(dc_copy_(row, dc_select(src, 0, 1)) == 0);
            double r[6] = {v[3], v[4], v[5], v[3], v[4], v[5]};
            check_values(what, row, dt, r, 6);
        }
}

TEST(test_float_to_integer_truncates_toward_zero_and_bool_is_nonzero)
{
    dc_tensor *f = dc_from_buffer(DC_F64, DC_SHAPE(6), (double[]){-2.7, -0.5, 0.5, 2.9, 255.99, -0.0});
    check_values("f64 -> i64", dc_to_dtype(f, DC_I64), DC_I64, VALUES(-2, 0, 0, 2, 255, 0));
    check_values("f64 -> i32", dc_to_dtype(f, DC_I32), DC_I32, VALUES(-2, 0, 0, 2, 255, 0));
    dc_tensor *pos = dc_from_buffer(DC_F32, DC_SHAPE(4), (float[]){-0.99f, 0.5f, 2.9f, 255.99f});
    check_values("f32 -> u8", dc_to_dtype(pos, DC_U8), DC_U8, VALUES(0, 0, 2, 255));
    dc_tensor *b = dc_from_buffer(DC_F64, DC_SHAPE(5), (double[]){0, -0.0, 0.25, NAN, -INFINITY});
    check_values("f64 -> bool", dc_to_dtype(b, DC_BOOL), DC_BOOL, VALUES(0, 0, 1, 1, 1));
    /* the int64 edges: -2^63 fits, so does the largest double below 2^63 */
    dc_tensor *edge = dc_from_buffer(DC_F64, DC_SHAPE(2), (double[]){-0x1p63, 0x1p63 - 1024});
    dc_tensor *e = dc_to_dtype(edge, DC_I64);
    REQUIRE(e);
    CHECK(((int64_t *)dc_data(e))[0] == INT64_MIN && ((int64_t *)dc_data(e))[1] == INT64_MAX - 1023);
    /* int64 beyond 2^53 copies exactly between integer dtypes */
    dc_tensor *big = dc_from_buffer(DC_I64, DC_SHAPE(1), (int64_t[]){INT64_MAX});
    dc_tensor *big2 = dc_clone(big);
    CHECK(big2 && *(int64_t *)dc_data(big2) == INT64_MAX);
    CHECK_NEAR(dc_item(dc_to_dtype(dc_from_buffer(DC_I32, DC_SHAPE(1), (int32_t[]){-300}), DC_F32)), -300, 0);
}

/* The fuzzing finding: a float64 NaN or 1e30 (a checkpoint's num_batches_tracked) became
 * INT64_MIN silently (undefined behaviour in C). Every value that does not fit is now an
 * error naming the value and its index, and the destination is left untouched. */
TEST(test_regression_float_to_int_conversion_of_nan_inf_and_out_of_range_is_an_error)
{
    const struct {
        double value;
        dc_dtype to;
        const char *msg;
    } cases[] = {
        {NAN, DC_I64, "value nan at index [1, 0] of the float64 source cannot be converted to int64 (NaN"},
        {INFINITY, DC_I64, "value inf at index [1, 0]"},
        {-INFINITY, DC_I64, "value -inf at index [1, 0]"},
        {1e30, DC_I64, "value 1e+30 at index [1, 0] of the float64 source cannot be converted to "
                       "int64 (outside int64's range [-2^63, 2^63 - 1])"},
        {-1e30, DC_I64, "value -1e+30"},
        {0x1p63, DC_I64, "value 9.2233720368547758e+18 at index [1, 0]"},
        {-0x1p63 - 4096, DC_I64, "outside int64's range"},
        {2147483648.0, DC_I32, "value 2147483648 at index [1, 0] of the float64 source cannot be "
                               "converted to int32 (outside int32's range"},
        {-2147483649.0, DC_I32, "int32"},
        {NAN, DC_I32, "NaN has no integer value"},
        {256, DC_U8, "value 256 at index [1, 0] of the float64 source cannot be converted to uint8 "
                     "(outside uint8's range [0, 255])"},
        {-1, DC_U8, "value -1 at index [1, 0]"},
        {INFINITY, DC_U8, "an infinity has no integer value"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double v[4] = {1, 2, cases[c].value, cases[c].value}; /* the first bad one is [1, 0] */
        dc_tensor *src = dc_from_buffer(DC_F64, DC_SHAPE(2, 2), v);
        dc_tensor *dst = dc_full(cases[c].to, DC_SHAPE(2, 2), 9);
        CHECK_ERROR(dc_copy_(dst, src) != 0, cases[c].msg);
        check_values("dst untouched", dst, cases[c].to, VALUES(9, 9, 9, 9));
        CHECK_ERROR(!dc_to_dtype(src, cases[c].to), "dc_to_dtype: value");
        /* float32 sources too, where rounding to float32 does not bring the value in range
         * (-2^63 - 4096 and -2^31 - 1 round to -2^63 and -2^31, which fit) */
        if ((double)(float)cases[c].value == cases[c].value || isnan(cases[c].value)) {
            dc_tensor *f32 = dc_to_dtype(src, DC_F32);
            CHECK_ERROR(dc_copy_(dst, f32) != 0, "of the float32 source");
        }
    }
    /* a strided view reports the index in its own (logical) layout */
    dc_tensor *m = dc_from_buffer(DC_F64, DC_SHAPE(2, 3), (double[]){0, 1, 2, 3, NAN, 5});
    CHECK_ERROR(!dc_to_dtype(dc_transpose(m, 0, 1), DC_I32), "value nan at index [1, 1]");
    /* narrowing between integer dtypes is checked the same way */
    dc_tensor *i64 = dc_from_buffer(DC_I64, DC_SHAPE(3), (int64_t[]){1, INT64_C(1) << 40, -3});
    CHECK_ERROR(!dc_to_dtype(i64, DC_I32), "value 1099511627776 at index [1] of the int64 source "
                                            "cannot be converted to int32");
    CHECK_ERROR(!dc_to_dtype(i64, DC_U8), "value 1099511627776 at index [1]");
    dc_tensor *i32 = dc_from_buffer(DC_I32, DC_SHAPE(2), (int32_t[]){5, -1});
    CHECK_ERROR(!dc_to_dtype(i32, DC_U8), "value -1 at index [1] of the int32 source");
    dc_tensor *u8 = dc_zeros(DC_U8, DC_SHAPE(2));
    CHECK_ERROR(dc_copy_(u8, i32) != 0, "dc_copy_: value -1");
    check_values("u8 untouched", u8, DC_U8, VALUES(0, 0));
    /* a tensor that requires grad does not silently become an integer */
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F32, DC_SHAPE(2)), true);
    CHECK_ERROR(!dc_to_dtype(w, DC_I32), "cannot convert a tensor that requires grad to int32");
}

/* ---- Printing --------------------------------------------------------------------------- */

/* Run dc_print with stdout sent to a file; the text in buf. */
static void capture_print(const dc_tensor *t, const char *label, char *buf, size_t size)
{
    char path[128];
    dc_test_tmp_path(path, sizeof path, "print");
    fflush(stdout);
    int saved = dup(1);
    FILE *f = fopen(path, "w");
    if (!f || saved < 0) {
        buf[0] = '\0';
        if (f) fclose(f);
        return;
    }
    dup2(fileno(f), 1);
    dc_print(t, label);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    fclose(f);
    size_t len = 0;
    unsigned char *text = dc_test_read_file(path, &len);
    snprintf(buf, size, "%.*s", (int)len, text ? (const char *)text : "");
    free(text);
    unlink(path);
}

TEST(test_print_shows_integers_exactly_and_bools_as_words)
{
    char buf[256];
    capture_print(dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){INT64_MAX, -3}), "ids", buf, sizeof buf);
    CHECK(strcmp(buf, "ids: shape [2] int64\n  [9223372036854775807, -3]\n") == 0);
    capture_print(dc_from_buffer(DC_BOOL, DC_SHAPE(3), (uint8_t[]){1, 0, 1}), "mask", buf, sizeof buf);
    CHECK(strcmp(buf, "mask: shape [3] bool\n  [true, false, true]\n") == 0);
    capture_print(dc_transpose(dc_from_buffer(DC_U8, DC_SHAPE(2, 2), (uint8_t[]){1, 2, 3, 255}), 0, 1), "img",
                  buf, sizeof buf);
    CHECK(strcmp(buf, "img: shape [2, 2] uint8\n  [1, 3, 2, 255]\n") == 0);
    capture_print(dc_from_buffer(DC_I32, DC_SHAPE(1), (int32_t[]){-7}), NULL, buf, sizeof buf);
    CHECK(strcmp(buf, "tensor: shape [1] int32\n  [-7]\n") == 0);
    capture_print(dc_from_buffer(DC_F32, DC_SHAPE(2), (float[]){0.5f, -2}), "x", buf, sizeof buf);
    CHECK(strcmp(buf, "x: shape [2] float32\n  [0.5, -2]\n") == 0);
}

/* ---- Safetensors -------------------------------------------------------------------------- */

#ifdef DC_HAVE_JANSSON
TEST(test_safetensors_round_trip_keeps_bool_uint8_int32)
{
    char path[128];
    dc_test_tmp_path(path, sizeof path, "dtypes.safetensors");
    dc_tensor *mask = dc_from_buffer(DC_BOOL, DC_SHAPE(2, 2), (uint8_t[]){1, 0, 0, 1});
    dc_tensor *img = dc_from_buffer(DC_U8, DC_SHAPE(3), (uint8_t[]){0, 128, 255});
    dc_tensor *ids = dc_from_buffer(DC_I32, DC_SHAPE(2), (int32_t[]){INT32_MIN, 7});
    dc_tensor *w = dc_from_buffer(DC_F32, DC_SHAPE(1), (float[]){1.5f});
    dc_tensor *strided = dc_transpose(dc_from_buffer(DC_U8, DC_SHAPE(2, 2), (uint8_t[]){1, 2, 3, 4}), 0, 1);
    dc_named_tensor items[] = {{"mask", mask}, {"img", img}, {"ids", ids}, {"w", w}, {"t", strided}};
    REQUIRE(dc_safetensors_save(path, items, 5, NULL, 0) == 0);
    size_t len = 0;
    unsigned char *bytes = dc_test_read_file(path, &len);
    REQUIRE(bytes && len > 8);
    /* the format's names, data ordered as the Python library does (F32, I32, U8, BOOL) */
    const char *hdr = (const char *)bytes + 8;
    const char *pw = strstr(hdr, "\"w\":{\"dtype\":\"F32\""), *pi = strstr(hdr, "\"ids\":{\"dtype\":\"I32\"");
    const char *pu = strstr(hdr, "\"img\":{\"dtype\":\"U8\""), *pb = strstr(hdr, "\"mask\":{\"dtype\":\"BOOL\"");
    CHECK(pw && pi && pu && pb && pw < pi && pi < pu && pu < pb);
    free(bytes);
    dc_safetensors *f = dc_safetensors_open(path);
    REQUIRE(f);
    check_values("mask", dc_safetensors_get(f, "mask"), DC_BOOL, VALUES(1, 0, 0, 1));
    check_values("img", dc_safetensors_get(f, "img"), DC_U8, VALUES(0, 128, 255));
    check_values("ids", dc_safetensors_get(f, "ids"), DC_I32, VALUES(-2147483648.0, 7));
    check_values("strided u8", dc_safetensors_get(f, "t"), DC_U8, VALUES(1, 3, 2, 4));
    /* read_into converts to the destination's dtype */
    dc_tensor *as_f = dc_zeros(DC_F32, DC_SHAPE(3));
    CHECK(dc_safetensors_read_into(f, "img", as_f) == 0);
    check_values("img into f32", as_f, DC_F32, VALUES(0, 128, 255));
    dc_tensor *as_u8 = dc_full(DC_U8, DC_SHAPE(2), 3);
    CHECK_ERROR(dc_safetensors_read_into(f, "ids", as_u8) != 0, "value -2147483648 at index [0]");
    check_values("u8 untouched", as_u8, DC_U8, VALUES(3, 3));
    dc_safetensors_close(f);
    unlink(path);
}
#endif

/* ---- Integer arithmetic -------------------------------------------------------------------- */

TEST(test_integer_arithmetic_matches_hand_computed_values)
{
    dc_dtype ints[] = {DC_I64, DC_I32};
    for (int k = 0; k < 2; k++) {
        dc_dtype dt = ints[k];
        dc_tensor *a = dc_to_dtype(dc_from_buffer(DC_I64, DC_SHAPE(2, 2), (int64_t[]){7, -7, 7, -7}), dt);
        dc_tensor *b = dc_to_dtype(dc_from_buffer(DC_I64, DC_SHAPE(2, 2), (int64_t[]){2, 2, -2, -2}), dt);
        dc_tensor *row = dc_to_dtype(dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){10, -1}), dt);
        check_values("add", dc_add(a, b), dt, VALUES(9, -5, 5, -9));
        check_values("sub", dc_sub(a, b), dt, VALUES(5, -9, 9, -5));
        check_values("mul", dc_mul(a, b), dt, VALUES(14, -14, -14, 14));
        check_values("add broadcast", dc_add(a, row), dt, VALUES(17, -8, 17, -8));
        check_values("maximum", dc_maximum(a, b), dt, VALUES(7, 2, 7, -2));
        check_values("minimum", dc_minimum(a, b), dt, VALUES(2, -7, -2, -7));
        /* floor division rounds down, the remainder takes the divisor's sign (torch) */
        check_values("floor_divide", dc_floor_divide(a, b), dt, VALUES(3, -4, -4, 3));
        check_values("remainder", dc_remainder(a, b), dt, VALUES(1, 1, -1, -1));
        check_values("floor_divide by -1", dc_floor_divide(a, row), dt, VALUES(0, 7, 0, 7));
        check_values("add_scalar", dc_add_scalar(a, 3), dt, VALUES(10, -4, 10, -4));
        check_values("mul_scalar", dc_mul_scalar(a, -2), dt, VALUES(-14, 14, -14, 14));
        check_values("rsub_scalar", dc_rsub_scalar(a, 1), dt, VALUES(-6, 8, -6, 8));
        dc_tensor *r = dc_add(a, b);
        CHECK(r && !r->requires_grad && !r->grad_fn);
    }
    /* overflow wraps (as torch); INT64_MIN // -1 wraps instead of trapping */
    dc_tensor *mx = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){INT64_MAX, INT64_MIN});
    dc_tensor *one = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){1, -1});
    dc_tensor *s = dc_add(mx, one);
    REQUIRE(s);
    CHECK(((int64_t *)dc_data(s))[0] == INT64_MIN && ((int64_t *)dc_data(s))[1] == INT64_MAX);
    dc_tensor *q = dc_floor_divide(mx, one), *rem = dc_remainder(mx, one);
    REQUIRE(q && rem);
    CHECK(((int64_t *)dc_data(q))[0] == INT64_MAX && ((int64_t *)dc_data(q))[1] == INT64_MIN);
    CHECK(((int64_t *)dc_data(rem))[0] == 0 && ((int64_t *)dc_data(rem))[1] == 0);
    dc_tensor *u = dc_from_buffer(DC_U8, DC_SHAPE(3), (uint8_t[]){250, 3, 17});
    dc_tensor *v = dc_from_buffer(DC_U8, DC_SHAPE(3), (uint8_t[]){10, 5, 5});
    check_values("u8 add wraps", dc_add(u, v), DC_U8, VALUES(4, 8, 22));
    check_values("u8 sub wraps", dc_sub(v, u), DC_U8, VALUES(16, 2, 244));
    check_values("u8 mul wraps", dc_mul(u, v), DC_U8, VALUES(196, 15, 85));
    check_values("u8 floor_divide", dc_floor_divide(u, v), DC_U8, VALUES(25, 0, 3));
    check_values("u8 remainder", dc_remainder(u, v), DC_U8, VALUES(0, 3, 2));
    /* floats: torch's floor division and remainder */
    dc_tensor *fa = dc_from_buffer(DC_F64, DC_SHAPE(4), (double[]){7.5, -7.5, 7.5, 1});
    dc_tensor *fb = dc_from_buffer(DC_F64, DC_SHAPE(4), (double[]){2, 2, -2, 0});
    dc_tensor *fq = dc_floor_divide(fa, fb);
    check_values("float remainder", dc_narrow(dc_remainder(fa, fb), 0, 0, 3), DC_F64, VALUES(1.5, 0.5, -0.5));
    REQUIRE(fq);
    double *fqv = dc_test_values(fq);
    CHECK(fqv && fqv[0] == 3 && fqv[1] == -4 && fqv[2] == -4 && isinf(fqv[3]));
    free(fqv);
}

TEST(test_integer_ops_reject_mixed_dtypes_division_and_bad_scalars)
{
    dc_tensor *a = dc_from_buffer(DC_I64, DC_SHAPE(2), (int64_t[]){4, 5});
    dc_tensor *z = dc_from_buffer(DC_I64, DC_SHAPE(2, 2), (int64_t[]){1, 2, 3, 0});
    dc_tensor *i32 = dc_ones(DC_I32, DC_SHAPE(2));
    dc_tensor *f = dc_ones(DC_F32, DC_SHAPE(2));
    dc_tensor *m = dc_ones(DC_BOOL, DC_SHAPE(2));
    CHECK_ERROR(!dc_add(a, i32), "dc_add: dtype mismatch (int64 vs int32; there is no implicit promotion");
    CHECK_ERROR(!dc_mul(a, f), "dc_mul: dtype mismatch (int64 vs float32");
    CHECK_ERROR(!dc_gt(f, a), "dc_gt: dtype mismatch");
    CHECK_ERROR(!dc_div(a, a), "dc_div: not defined for int64 tensors");
    CHECK_ERROR(!dc_pow(i32, i32), "dc_pow: not defined for int32 tensors");
    CHECK_ERROR(!dc_add(m, m), "dc_add: not defined for bool tensors (use dc_logical_and");
    CHECK_ERROR(!dc_floor_divide(a, z), "dc_floor_divide: integer division by zero (the divisor is 0 "
                                         "at index [1, 1])");
    CHECK_ERROR(!dc_remainder(a, dc_zeros(DC_U8, DC_SHAPE(1))), "dc_remainder: dtype mismatch");
    CHECK_ERROR(!dc_remainder(dc_ones(DC_U8, DC_SHAPE(1)), dc_zeros(DC_U8, DC_SHAPE(1))),
                "dc_remainder: integer division by zero");
    CHECK_ERROR(!dc_add_scalar(a, 0.5), "dc_add_scalar: the scalar 0.5 is not an integer, and the "
                                        "tensor is int64");
    CHECK_ERROR(!dc_mul_scalar(dc_ones(DC_U8, DC_SHAPE(1)), 256), "dc_mul_scalar: value 256 cannot be "
                                                                   "stored in a uint8 tensor");
    CHECK_ERROR(!dc_pow_scalar(a, 2), "dc_pow_scalar: expected a float32 or float64 tensor, got int64");
    CHECK_ERROR(!dc_add_scalar(m, 1), "dc_add_scalar: expected a float32 or float64 tensor (or an integer "
                                      "one), got bool");
    CHECK_ERROR(!dc_add_scalar(NULL, 1), "dc_add_scalar: input 'a' is NULL");
    /* inputs unchanged */
    check_values("a unchanged", a, DC_I64, VALUES(4, 5));
    check_values("z unchanged", z, DC_I64, VALUES(1, 2, 3, 0));
}

/* ---- Comparisons, logical ops, masks --------------------------------------------------------- */

TEST(test_comparisons_give_bool_on_integers_and_keep_the_float_dtype)
{
    dc_tensor *a = dc_from_buffer(DC_I32, DC_SHAPE(3), (int32_t[]){1, 5, -2});
    dc_tensor *b = dc_from_buffer(DC_I32, DC_SHAPE(3), (int32_t[]){1, 3, 0});
    check_values("eq", dc_eq(a, b), DC_BOOL, VALUES(1, 0, 0));
    check_values("ne", dc_ne(a, b), DC_BOOL, VALUES(0, 1, 1));
    check_values("gt", dc_gt(a, b), DC_BOOL, VALUES(0, 1, 0));
    check_values("lt", dc_lt(a, b), DC_BOOL, VALUES(0, 0, 1));
    check_values("ge", dc_ge(a, b), DC_BOOL, VALUES(1, 1, 0));
    check_values("le", dc_le(a, b), DC_BOOL, VALUES(1, 0, 1));
    dc_tensor *u = dc_from_buffer(DC_U8, DC_SHAPE(2), (uint8_t[]){200, 3});
    check_values("u8 gt", dc_gt(u, dc_scalar(DC_U8, 100)), DC_BOOL, VALUES(1, 0));
    dc_tensor *t = dc_from_buffer(DC_BOOL, DC_SHAPE(2), (uint8_t[]){1, 0});
    check_values("bool gt (true > false)", dc_gt(t, dc_scalar(DC_BOOL, 0)), DC_BOOL, VALUES(1, 0));
    check_values("bool eq", dc_eq(t, dc_scalar(DC_BOOL, 1)), DC_BOOL, VALUES(1, 0));
    /* floats: 0/1 in the input's dtype, as before */
    dc_tensor *x = dc_from_buffer(DC_F32, DC_SHAPE(3), (float[]){1, NAN, 3});
    check_values("f32 eq", dc_eq(x, x), DC_F32, VALUES(1, 0, 1));
    check_values("f32 ne (nan != nan)", dc_ne(x, x), DC_F32, VALUES(0, 1, 0));
    dc_tensor *g = dc_requires_grad(dc_ones(DC_F64, DC_SHAPE(2)), true);
    dc_tensor *c = dc_ne(g, g);
    CHECK(c && c->dtype == DC_F64 && !c->requires_grad && !c->grad_fn);
}

TEST(test_logical_ops_and_any_all_read_truth_of_any_dtype)
{
    dc_tensor *p = dc_from_buffer(DC_BOOL, DC_SHAPE(4), (uint8_t[]){1, 1, 0, 0});
    dc_tensor *q = dc_from_buffer(DC_I64, DC_SHAPE(4), (int64_t[]){5, 0, -3, 0});
    dc_tensor *fq = dc_from_buffer(DC_F32, DC_SHAPE(4), (float[]){0.5f, 0, NAN, 0});
    check_values("and", dc_logical_and(p, q), DC_BOOL, VALUES(1, 0, 0, 0));
    check_values("or", dc_logical_or(p, q), DC_BOOL, VALUES(1, 1, 1, 0));
    check_values("xor", dc_logical_xor(p, q), DC_BOOL, VALUES(0, 1, 1, 0));
    check_values("or with float (nan is true)", dc_logical_or(p, fq), DC_BOOL, VALUES(1, 1, 1, 0));
    check_values("not", dc_logical_not(q), DC_BOOL, VALUES(0, 1, 0, 1));
    check_values("and broadcast", dc_logical_and(dc_reshape(p, DC_SHAPE(4, 1)), dc_scalar(DC_U8, 2)), DC_BOOL,
                 VALUES(1, 1, 0, 0));
    check_values("not of a view", dc_logical_not(dc_slice(q, 0, 0, 4, 2)), DC_BOOL, VALUES(0, 0));
    check_values("any", dc_any(q), DC_BOOL, VALUES(1));
    check_values("all", dc_all(q), DC_BOOL, VALUES(0));
    check_values("all of ones", dc_all(dc_ones(DC_U8, DC_SHAPE(3, 50000))), DC_BOOL, VALUES(1));
    check_values("any of zeros (threaded)", dc_any(dc_zeros(DC_F32, DC_SHAPE(300000))), DC_BOOL, VALUES(0));
    check_values("all of nothing", dc_all(dc_zeros(DC_I32, DC_SHAPE(0))), DC_BOOL, VALUES(1));
    check_values("any of nothing", dc_any(dc_zeros(DC_I32, DC_SHAPE(0))), DC_BOOL, VALUES(0));
    CHECK_ERROR(!dc_logical_and(p, dc_ones(DC_BOOL, DC_SHAPE(3))), "dc_logical_and: shapes [4] and [3]");
    CHECK_ERROR(!dc_any(NULL), "dc_any: input 'a' is NULL");
}

TEST(test_bool_masks_drive_where_masked_fill_and_attention)
{
    dc_tensor *mask = dc_from_buffer(DC_BOOL, DC_SHAPE(2, 1), (uint8_t[]){1, 0});
    dc_tensor *x = dc_from_buffer(DC_F64, DC_SHAPE(2, 2), (double[]){1, 2, 3, 4});
    check_values("masked_fill bool", dc_masked_fill(x, mask, -1), DC_F64, VALUES(-1, -1, 3, 4));
    dc_tensor *u8mask = dc_from_buffer(DC_U8, DC_SHAPE(2), (uint8_t[]){0, 9});
    check_values("where u8 cond", dc_where(u8mask, x, dc_scalar(DC_F64, 0)), DC_F64, VALUES(0, 2, 0, 4));
    /* integer values through where / masked_fill keep their dtype */
    dc_tensor *ids = dc_from_buffer(DC_I64, DC_SHAPE(2, 2), (int64_t[]){10, 20, 30, 40});
    check_values("where i64", dc_where(mask, ids, dc_scalar(DC_I64, -100)), DC_I64, VALUES(10, 20, -100, -100));
    check_values("masked_fill u8", dc_masked_fill(dc_ones(DC_U8, DC_SHAPE(2, 2)), mask, 255), DC_U8,
                 VALUES(255, 255, 1, 1));
    check_values("masked_fill bool", dc_masked_fill(dc_zeros(DC_BOOL, DC_SHAPE(2)), u8mask, 1), DC_BOOL,
                 VALUES(0, 1));
    CHECK_ERROR(!dc_masked_fill(ids, mask, 0.5), "dc_masked_fill: the scalar 0.5 is not an integer");
    CHECK_ERROR(!dc_where(mask, ids, x), "dc_where: dtype mismatch (int64 vs float64");
    /* the gradient still flows through where with a bool condition */
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F64, DC_SHAPE(2, 2)), true);
    dc_tensor *y = dc_where(mask, w, dc_scalar(DC_F64, 0));
    REQUIRE(y && y->requires_grad);
    REQUIRE(dc_backward(dc_sum_all(y)) == 0);
    check_values("where grad", w->grad, DC_F64, VALUES(1, 1, 0, 0));
    /* attention: a bool mask gives what the same 0/1 float mask gives */
    dc_rng rng;
    dc_rng_seed(&rng, 3);
    dc_tensor *q = dc_randn(&rng, DC_F64, DC_SHAPE(1, 3, 4)), *k = dc_randn(&rng, DC_F64, DC_SHAPE(1, 3, 4));
    dc_tensor *v = dc_randn(&rng, DC_F64, DC_SHAPE(1, 3, 2));
    uint8_t bits[9] = {1, 0, 0, 1, 1, 0, 0, 1, 1};
    double fbits[9];
    for (int i = 0; i < 9; i++) fbits[i] = bits[i];
    dc_tensor *ob = dc_scaled_dot_product_attention(q, k, v, dc_from_buffer(DC_BOOL, DC_SHAPE(3, 3), bits),
                                                    false, 0, false, NULL);
    dc_tensor *of = dc_scaled_dot_product_attention(q, k, v, dc_from_buffer(DC_F64, DC_SHAPE(3, 3), fbits),
                                                    false, 0, false, NULL);
    REQUIRE(ob && of);
    double *a = dc_test_values(ob), *b = dc_test_values(of);
    CHECK_ALLCLOSE("attention bool mask vs float mask", a, b, 6, 0, 0);
    free(a);
    free(b);
}

/* ---- Against PyTorch ------------------------------------------------------------------------ */

TEST(test_integer_and_bool_ops_match_torch)
{
    ref_chain c = {.path = "ref/dtypes_refs.txt"};
    char err[512];
    if (ref_load(&c, err, sizeof err) != 0) {
        dc_test_fail(__FILE__, __LINE__, "%s", err);
        ref_free(&c);
        return;
    }
    dc_tensor *a = ref_get(&c, "const", "a"), *b = ref_get(&c, "const", "b");
    dc_tensor *row = ref_get(&c, "const", "row");
    dc_tensor *fa = ref_get(&c, "const", "fa"), *fb = ref_get(&c, "const", "fb");
    REQUIRE(a && b && row && fa && fb);
    dc_tensor *pa = dc_gt(a, dc_scalar(DC_I64, 0)), *pb = dc_gt(b, dc_scalar(DC_I64, 0));
    for (int k = 0; k < 2; k++) { /* int64, then the same values as int32 */
        dc_dtype dt = k ? DC_I32 : DC_I64;
        dc_tensor *x = dc_to_dtype(a, dt), *y = dc_to_dtype(b, dt), *r = dc_to_dtype(row, dt);
        const struct {
            const char *name;
            dc_tensor *got;
        } outs[] = {
            {"add", dc_add(x, y)}, {"sub", dc_sub(x, y)}, {"mul", dc_mul(x, y)}, {"add_row", dc_add(x, r)},
            {"floor_divide", dc_floor_divide(x, y)}, {"remainder", dc_remainder(x, y)},
            {"maximum", dc_maximum(x, y)}, {"minimum", dc_minimum(x, y)}, {"eq", dc_eq(x, r)},
            {"ne", dc_ne(x, r)}, {"gt", dc_gt(x, y)}, {"lt", dc_lt(x, y)}, {"ge", dc_ge(x, r)},
            {"le", dc_le(x, r)}, {"logical_and", dc_logical_and(pa, pb)},
            {"logical_or", dc_logical_or(pa, pb)}, {"logical_xor", dc_logical_xor(pa, pb)},
            {"logical_not", dc_logical_not(pa)},
        };
        for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) {
            const ref_tensor *want = ref_find(&c, "out", outs[i].name, NULL);
            EXPECT(want && outs[i].got, "%s: %s", outs[i].name, want ? dc_last_error() : "not in the file");
            if (!want || !outs[i].got) continue;
            bool is_bool = outs[i].name[0] == 'e' || outs[i].name[0] == 'n' || outs[i].name[0] == 'g' ||
                           outs[i].name[0] == 'l';
            if (strcmp(outs[i].name, "le") && strncmp(outs[i].name, "logical", 7) && outs[i].name[0] == 'l')
                is_bool = true; /* lt */
            EXPECT(outs[i].got->dtype == (is_bool ? DC_BOOL : dt), "%s: dtype %s", outs[i].name,
                   dc_dtype_name(outs[i].got->dtype));
            ref_compare_tol(outs[i].name, outs[i].got, want, 0, 0);
        }
    }
    /* float32: torch's floor division and remainder formulas, bit for bit */
    ref_compare_tol("f_floor_divide", dc_floor_divide(fa, fb), ref_find(&c, "out", "f_floor_divide", NULL), 0, 0);
    ref_compare_tol("f_remainder", dc_remainder(fa, fb), ref_find(&c, "out", "f_remainder", NULL), 1e-6, 1e-7);
    CHECK(ival(a, 0) == -9); /* the file is the one this test was written against */
    ref_free(&c);
}

/* ---- Error prefixes ---------------------------------------------------------------------------- */

/* Every message starts with the public function's name (it said "add:" / "alloc:" before). */
TEST(test_error_messages_start_with_the_public_function_name)
{
    dc_tensor *a = dc_ones(DC_F32, DC_SHAPE(2)), *b = dc_ones(DC_F32, DC_SHAPE(3));
    dc_tensor *i = dc_ones(DC_I64, DC_SHAPE(2));
#define PREFIX(call, prefix)                                                                       \
    do {                                                                                           \
        dc_clear_error();                                                                          \
        bool f_ = (call);                                                                          \
        EXPECT(f_ && strncmp(dc_last_error(), prefix, strlen(prefix)) == 0,                        \
               "%s: got '%s'", prefix, dc_last_error());                                           \
        dc_clear_error();                                                                          \
    } while (0)
    PREFIX(!dc_add(a, b), "dc_add: ");
    PREFIX(!dc_maximum(a, i), "dc_maximum: ");
    PREFIX(!dc_eq(NULL, a), "dc_eq: ");
    PREFIX(!dc_mul_scalar(NULL, 2), "dc_mul_scalar: ");
    PREFIX(!dc_rsub_scalar(i, 0.5), "dc_rsub_scalar: ");
    PREFIX(!dc_where(a, a, i), "dc_where: ");
    PREFIX(dc_add_(a, b) != 0, "dc_add_: ");
    PREFIX(!dc_to_dtype(a, (dc_dtype)99), "dc_to_dtype: ");
    PREFIX(dc_copy_(a, b) != 0, "dc_copy_: ");
    PREFIX(!dc_empty(DC_F32, -1, NULL), "dc_empty: ");
    PREFIX(dc_to_double_buffer(a, (double[1]){0}, 1) != 0, "dc_to_double_buffer: ");
    PREFIX(!dc_clone(NULL), "dc_clone: ");
    PREFIX(!dc_ones((dc_dtype)7, DC_SHAPE(1)), "dc_ones: ");
    PREFIX(!dc_mse_loss(a, a, (dc_reduction)99), "dc_mse_loss: unknown reduction 99");
    PREFIX(!dc_bce_loss(a, a, (dc_reduction)99), "dc_bce_loss: ");
#undef PREFIX
    dc_clear_error();
}

/* ---- Leak report ------------------------------------------------------------------------------- */

TEST(test_leak_report_lists_live_tensors_with_what_made_them)
{
    dc_set_leak_report(true);
    int64_t before = dc_live_tensors();
    /* outside any scope, as a user's chained calls would be */
    size_t scope = dc_scope_begin();
    dc_scope_end(scope);
    dc_tensor *z = dc_zeros(DC_F32, DC_SHAPE(2, 3)); /* owned by the runner's scope */
    dc_tensor *w = dc_requires_grad(dc_ones(DC_F64, DC_SHAPE(4)), true);
    dc_tensor *y = dc_mul(w, w);
    dc_tensor *e = dc_exp(dc_to_dtype(z, DC_F64)); /* no grad: made by an op, named by address */
    char buf[4096];
    int64_t live = dc_leak_report(buf, sizeof buf, 10);
    CHECK(live >= before + 5);
    CHECK(strstr(buf, "deepc leak report: ") != NULL);
    CHECK(strstr(buf, "shape [2, 3] float32, made by dc_zeros") != NULL);
    CHECK(strstr(buf, "shape [4] float64, made by dc_ones, a leaf that requires grad") != NULL);
    CHECK(strstr(buf, "shape [4] float64, made by op 'mul' (its autograd node)") != NULL);
    CHECK(strstr(buf, "shape [2, 3] float64, made by ") != NULL);
    CHECK(strstr(buf, "dc_scope_begin / dc_scope_end") != NULL);
    /* max_listed limits the list */
    dc_leak_report(buf, sizeof buf, 1);
    CHECK(strstr(buf, "  ...\n") != NULL);
    (void)y;
    (void)e;
    dc_set_leak_report(false);
    /* tensors made with the report off are not tracked, and freeing tracked ones after it is
     * turned off unlinks them */
    dc_tensor *untracked = dc_zeros(DC_U8, DC_SHAPE(7));
    dc_leak_report(buf, sizeof buf, 100);
    CHECK(untracked && strstr(buf, "shape [7] uint8") == NULL);
}

/* The environment variable turns the report on for a whole program, printed at exit (stderr
 * only is kept: the runner appends 2>&1, which the "#" turns into a comment). */
TEST(test_leak_report_env_prints_at_exit)
{
    char out[4096];
    unsetenv("DEEPC_LEAK_REPORT");
    if (dc_test_run_built("examples/readme_example 2>&1 >/dev/null #", out, sizeof out) != 0) {
        printf("  note: examples/readme_example not built, leak report at exit not checked\n");
        return;
    }
    CHECK(strstr(out, "deepc leak report") == NULL); /* off by default */
    int rc;
    setenv("DEEPC_LEAK_REPORT", "1", 1);
    rc = dc_test_run_built("examples/readme_example 2>&1 >/dev/null #", out, sizeof out);
    unsetenv("DEEPC_LEAK_REPORT");
    CHECK(rc == 0);
    EXPECT(strstr(out, "deepc leak report: ") != NULL, "no report in: %s", out);
}
