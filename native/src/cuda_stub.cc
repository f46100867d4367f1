// native/cuda/core.cu for a build without CUDA: the same three calls, answering "built without CUDA
// (<why>)", so info() and every binding report the reason. Families' device entry points need no stub
// here: the bindings never reference them in such a build (numkern/cuda_api.hpp).
#include "numkern/cuda_api.hpp"

#ifndef NUMKERN_NO_CUDA_REASON
#define NUMKERN_NO_CUDA_REASON "NUMKERN_WITH_CUDA=OFF"
#endif

namespace {
constexpr const char* kWhy = "built without CUDA (" NUMKERN_NO_CUDA_REASON ")";

int unavailable(const char** err) {
  if (err) *err = kWhy;
  return kNkBuiltWithoutCuda;
}
}  // namespace

extern "C" {

int nk_cuda_compiled(void) { return 0; }

int nk_cuda_device_count(int* count, const char** err) {
  *count = 0;
  return unavailable(err);
}

int nk_cuda_context_ok(void) { return 0; }

}  // extern "C"
