/* Peak-FMA loop with 256-bit AVX2 FMA (compiled with -mavx2 -mfma; see peak_fma_kernel.h). */
#if defined(__x86_64__) && !defined(DC_NO_X86)
#include <immintrin.h>

double peak_fma_avx2(long iters);

#define VEC __m256
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#define LANES 8
#define KERNEL_NAME peak_fma_avx2
#include "peak_fma_kernel.h"
#else
double peak_fma_avx2(long iters);
double peak_fma_avx2(long iters) { (void)iters; return 0; }
#endif
