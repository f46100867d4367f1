// Facts about the build and the CPU that info() reports.
#include <string>

#include "numkern/common.hpp"
#include "numkern/core.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>
#endif

namespace numkern {

const char* blas_config() {
#if defined(NUMKERN_HAVE_BLAS)
  // The config names the build target (a DYNAMIC_ARCH build says "Prescott"); the core name says which
  // kernels were picked for this CPU at load time.
  static const std::string text = std::string(openblas_get_config()) + " (kernels: " + openblas_get_corename() + ")";
  return text.c_str();
#else
  return nullptr;
#endif
}

const char* simd_variant() {
#if NK_HAVE_CLONES
  // The same test, in the same order, as the ifunc resolver GCC emits for
  // target_clones("arch=x86-64-v4", "avx2", "default"): the highest-priority supported clone wins.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("x86-64-v4")) return "x86-64-v4";
  if (__builtin_cpu_supports("avx2")) return "avx2";
  return "default";
#else
  return "default";
#endif
}

}  // namespace numkern
