/* The direct-convolution kernels of conv_direct.h, written once for every ISA.
 *
 * Included by an ISA file (built with its own -m flags) after it defines:
 *   KSUFFIX      suffix of the functions defined here (portable, avx2, avx512)
 *   VW, VEC      floats per vector and its type
 *   V_ZERO(), V_SET1(x), V_LOADU(p), V_STOREU(p, v), V_ADD(a, b), V_FMA(a, b, c) = a*b + c,
 *   V_MASKZ_LOADU(p, n) (lanes >= n read as 0 and not touched), V_MASK_STOREU(p, v, n)
 *   (stores lanes < n only), 0 < n < VW; V_STORE_LANES(float out[VW], v)
 *   FWD_CB, FWD_NV  forward block: channels x vectors of positions. Registers:
 *                   FWD_CB*FWD_NV accumulators + FWD_NV inputs + 1 broadcast weight
 *   WGT_CB, WGT_TB  weight block: channels x most taps. Registers:
 *                   WGT_CB*WGT_TB accumulators + WGT_CB vectors of g + 1 input
 * (FWD_CB, WGT_CB <= DC_CONV_DIRECT_MAX_CB, FWD_NV <= 4, FWD_NV*VW <= DC_CONV_DIRECT_SLACK,
 * WGT_TB <= 8: the unroll counts below, and the scratch conv_direct.c sizes). Every loop
 * over a block's registers is fully unrolled, so the accumulators stay in registers.
 * Defines fwd_KSUFFIX, wgt_KSUFFIX and sum_KSUFFIX (the function types of conv_direct.h),
 * which the ISA file puts in its dc_conv_direct_kernels. */
#define CD_CAT2(a, b) a##_##b
#define CD_CAT(a, b) CD_CAT2(a, b)
#define CD_FN(name) CD_CAT(name, KSUFFIX)

#if defined(__GNUC__)
#define CD_INLINE static inline __attribute__((always_inline))
#define CD_PREFETCH_W(p) __builtin_prefetch((p), 1, 3)
#else
#define CD_INLINE static inline
#define CD_PREFETCH_W(p) ((void)(p))
#endif

/* y[c][p] = bias[c] + sum over taps, FWD_NV vectors of positions at a time: per tap the
 * FWD_NV input vectors are loaded once and multiply-added into every channel's
 * accumulators. The last group stores only the positions before npos. */
static void CD_FN(fwd)(const float *restrict xs, const int64_t *restrict tap_off, int64_t ntaps,
                       int64_t npos, const float *restrict wp, const float *restrict bp,
                       float *restrict y, int64_t y_cs, int nc)
{
    for (int64_t p = 0; p < npos; p += FWD_NV * VW) {
        /* The outputs are rarely in cache (LeNet's are 9.4 MB): fetching the next group's
         * lines now lets its stores retire at once instead of each waiting for its line
         * (6% of LeNet's conv1 forward). */
        if (p + 2 * FWD_NV * VW <= npos)
#pragma GCC unroll 16
            for (int c = 0; c < FWD_CB; c++) {
                if (c >= nc) break;
#pragma GCC unroll 4
                for (int v = 0; v < FWD_NV; v++)
                    CD_PREFETCH_W(y + c * y_cs + p + (FWD_NV + v) * VW);
            }
        VEC acc[FWD_CB][FWD_NV];
#pragma GCC unroll 16
        for (int c = 0; c < FWD_CB; c++) {
            const VEC b = V_SET1(bp[c]);
#pragma GCC unroll 4
            for (int v = 0; v < FWD_NV; v++) acc[c][v] = b;
        }
        const float *wt = wp;
        for (int64_t t = 0; t < ntaps; t++, wt += FWD_CB) {
            const float *src = xs + tap_off[t] + p;
            VEC in[FWD_NV];
#pragma GCC unroll 4
            for (int v = 0; v < FWD_NV; v++) in[v] = V_LOADU(src + v * VW);
#pragma GCC unroll 16
            for (int c = 0; c < FWD_CB; c++) {
                const VEC wc = V_SET1(wt[c]);
#pragma GCC unroll 4
                for (int v = 0; v < FWD_NV; v++) acc[c][v] = V_FMA(wc, in[v], acc[c][v]);
            }
        }
        /* every index constant after unrolling, so acc stays in registers */
        const int64_t left = npos - p;
#pragma GCC unroll 16
        for (int c = 0; c < FWD_CB; c++) {
            if (c >= nc) break;
#pragma GCC unroll 4
            for (int v = 0; v < FWD_NV; v++) {
                const int64_t n = left - v * VW;
                float *at = y + c * y_cs + p + v * VW;
                if (n >= VW) V_STOREU(at, acc[c][v]);
                else if (n > 0) V_MASK_STOREU(at, acc[c][v], (int)n);
            }
        }
    }
}

/* The weight block with TB taps (a constant once inlined into wgt's switch). Channels past
 * nc repeat channel nc - 1 (results dropped) so the loop has no channel tail. */
CD_INLINE void CD_FN(wgt_block)(const int TB, const float *restrict xs,
                                const int64_t *restrict tap_off, int64_t npos,
                                const float *restrict g, int64_t g_cs, int nc, float *restrict part,
                                int64_t part_cs)
{
    VEC acc[WGT_CB][WGT_TB];
    const float *gc[WGT_CB], *src[WGT_TB];
#pragma GCC unroll 16
    for (int c = 0; c < WGT_CB; c++) {
        gc[c] = g + (c < nc ? c : nc - 1) * g_cs;
#pragma GCC unroll 8
        for (int t = 0; t < TB; t++) acc[c][t] = V_ZERO();
    }
#pragma GCC unroll 8
    for (int t = 0; t < TB; t++) src[t] = xs + tap_off[t];
    int64_t p = 0;
    for (; p + VW <= npos; p += VW) {
        VEC gv[WGT_CB];
#pragma GCC unroll 16
        for (int c = 0; c < WGT_CB; c++) gv[c] = V_LOADU(gc[c] + p);
#pragma GCC unroll 8
        for (int t = 0; t < TB; t++) {
            const VEC x = V_LOADU(src[t] + p);
#pragma GCC unroll 16
            for (int c = 0; c < WGT_CB; c++) acc[c][t] = V_FMA(gv[c], x, acc[c][t]);
        }
    }
    if (p < npos) { /* g's tail lanes read as 0 (xs past npos is zeroed slack) */
        VEC gv[WGT_CB];
#pragma GCC unroll 16
        for (int c = 0; c < WGT_CB; c++) gv[c] = V_MASKZ_LOADU(gc[c] + p, (int)(npos - p));
#pragma GCC unroll 8
        for (int t = 0; t < TB; t++) {
            const VEC x = V_LOADU(src[t] + p);
#pragma GCC unroll 16
            for (int c = 0; c < WGT_CB; c++) acc[c][t] = V_FMA(gv[c], x, acc[c][t]);
        }
    }
#pragma GCC unroll 16
    for (int c = 0; c < WGT_CB; c++) {
        if (c >= nc) break;
#pragma GCC unroll 8
        for (int t = 0; t < TB; t++) {
            float *d = part + c * part_cs + t * VW;
            V_STOREU(d, V_ADD(V_LOADU(d), acc[c][t]));
        }
    }
}

static void CD_FN(wgt)(const float *restrict xs, const int64_t *restrict tap_off, int nt,
                       int64_t npos, const float *restrict g, int64_t g_cs, int nc,
                       float *restrict part, int64_t part_cs)
{
    switch (nt) {
#define CD_WGT_CASE(TB)                                                                            \
    case TB:                                                                                       \
        CD_FN(wgt_block)(TB, xs, tap_off, npos, g, g_cs, nc, part, part_cs);                       \
        break;
#if WGT_TB >= 8
        CD_WGT_CASE(8)
#endif
#if WGT_TB >= 7
        CD_WGT_CASE(7)
#endif
#if WGT_TB >= 6
        CD_WGT_CASE(6)
#endif
#if WGT_TB >= 5
        CD_WGT_CASE(5)
#endif
#if WGT_TB >= 4
        CD_WGT_CASE(4)
#endif
#if WGT_TB >= 3
        CD_WGT_CASE(3)
#endif
        CD_WGT_CASE(2)
        CD_WGT_CASE(1)
#undef CD_WGT_CASE
    default: break;
    }
}

/* sum of p[0..n) in two vector accumulators, lanes added in double */
static double CD_FN(sum)(const float *restrict p, int64_t n)
{
    VEC a0 = V_ZERO(), a1 = V_ZERO();
    int64_t i = 0;
    for (; i + 2 * VW <= n; i += 2 * VW) {
        a0 = V_ADD(a0, V_LOADU(p + i));
        a1 = V_ADD(a1, V_LOADU(p + i + VW));
    }
    for (; i + VW <= n; i += VW) a0 = V_ADD(a0, V_LOADU(p + i));
    if (i < n) a1 = V_ADD(a1, V_MASKZ_LOADU(p + i, (int)(n - i)));
    float lanes[VW];
    V_STORE_LANES(lanes, V_ADD(a0, a1));
    double total = 0;
    for (int l = 0; l < VW; l++) total += (double)lanes[l];
    return total;
}

#undef CD_CAT2
#undef CD_CAT
#undef CD_FN
#undef CD_INLINE
#undef CD_PREFETCH_W
