// Device discovery for a build without CUDA: the same three calls as native/cuda/core.cu, reporting
// zero devices and the build-time reason (NUMKERN_NO_CUDA_REASON, e.g. "nvcc not found at build time"),
// so info() says why and the cuda backend does not register. No device kernel is declared here: the
// bindings never reference one in such a build (numkern/cuda_api.hpp).
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
