/* Build and machine information for the public API (dc_kernel_isa) and `deepc info`. */
#include "deepc/core.h"
#include "../kernels/kernels.h"

/* The ISA the dispatching kernels use now: the best the CPU supports, unless lowered by
 * DEEPC_ISA or dc_isa_set (see src/kernels/cpu.c). */
const char *dc_kernel_isa(void) { return dc_isa_name(dc_isa_active()); }
