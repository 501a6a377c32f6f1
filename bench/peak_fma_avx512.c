/* Peak-FMA loop with 512-bit AVX-512F FMA (compiled with -mavx512f ...; see
 * peak_fma_kernel.h). */
#if defined(__x86_64__) && !defined(DC_NO_X86)
#include <immintrin.h>

double peak_fma_avx512(long iters);

#define VEC __m512
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#define LANES 16
#define KERNEL_NAME peak_fma_avx512
#include "peak_fma_kernel.h"
#else
double peak_fma_avx512(long iters);
double peak_fma_avx512(long iters) { (void)iters; return 0; }
#endif
