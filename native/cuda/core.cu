// Device discovery and context health (numkern/cuda_api.hpp): the CUDA part of the core family.
#include <cuda_runtime.h>

#include "numkern/cuda_api.hpp"

extern "C" {

int nk_cuda_compiled(void) { return 1; }

// Never throws or aborts: with no driver cudart_static fails to open libcuda.so.1 and this returns
// cudaErrorInsufficientDriver (35); on a machine with a driver but no GPU, cudaErrorNoDevice (100)
// (docs/platform.md 1.10).
int nk_cuda_device_count(int* count, const char** err) {
  *count = 0;
  const cudaError_t e = cudaGetDeviceCount(count);
  if (e != cudaSuccess) {
    *count = 0;
    if (err) *err = cudaGetErrorString(e);
    cudaGetLastError();
  }
  return static_cast<int>(e);
}

// A sticky error (illegal address, launch failure, ECC) stays in the context after cudaGetLastError()
// and fails every later call; an ordinary one (out of memory, bad argument) is cleared by it.
int nk_cuda_context_ok(void) {
  cudaGetLastError();
  return cudaDeviceSynchronize() == cudaSuccess ? 1 : 0;
}

}  // extern "C"
