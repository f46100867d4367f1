// The CUDA entry points for a build without CUDA: the same C API as native/cuda, every call answering
// "built without CUDA (<why>)", so the bindings link and report the reason in either build.
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

int nk_cuda_spmv_f32(int32_t, const int32_t*, const int32_t*, const float*, int32_t, uint32_t, const float*, float*,
                     const char** err) {
  return unavailable(err);
}
int nk_cuda_spmv_f64(int32_t, const int32_t*, const int32_t*, const double*, int32_t, uint32_t, const double*,
                     double*, const char** err) {
  return unavailable(err);
}
int nk_cuda_dot_f32(size_t, const float*, const float*, double*, const char** err) { return unavailable(err); }
int nk_cuda_dot_f64(size_t, const double*, const double*, double*, const char** err) { return unavailable(err); }
int nk_cuda_axpy_f32(size_t, float, const float*, float*, const char** err) { return unavailable(err); }
int nk_cuda_axpy_f64(size_t, double, const double*, double*, const char** err) { return unavailable(err); }
int nk_cuda_nrm2_f32(size_t, const float*, double*, const char** err) { return unavailable(err); }
int nk_cuda_nrm2_f64(size_t, const double*, double*, const char** err) { return unavailable(err); }
int nk_cuda_segmented_moments_f32(int32_t, const int32_t*, size_t, const float*, double, float*, float*, float*,
                                  const char** err) {
  return unavailable(err);
}
int nk_cuda_segmented_moments_f64(int32_t, const int32_t*, size_t, const double*, double, double*, double*, double*,
                                  const char** err) {
  return unavailable(err);
}

}  // extern "C"
