// The CUDA runtime as the bindings see it (native/cuda/core.cu): whether the addon was built with CUDA,
// the devices, and the health of the context after a failure. A build without CUDA implements the same
// three calls in native/src/cuda_absent.cc, reporting zero devices and the build-time reason.
//
// Each family with device kernels declares its own C entry points in numkern/<family>_cuda.hpp and
// implements them in native/cuda/<family>.cu. Those exist only in a CUDA build: the bindings call them
// under `if constexpr (kCudaBuilt)` (bindings/cuda.hpp), so a build without CUDA has no device
// entry points at all, and the cuda backend reports itself unavailable with the reason.
//
// Conventions for every entry point: all pointers are host pointers (each call copies its inputs to the
// device, runs, and copies the outputs back); 0 means success, otherwise a cudaError_t value (or one of
// the numkern codes below) with a static message in *err.
#pragma once

#include <cstddef>
#include <cstdint>

extern "C" {

enum { kNkBuiltWithoutCuda = -1, kNkBadIndex = -2 };

/// 1 when the addon was built with CUDA.
int nk_cuda_compiled(void);
/// Devices visible to the runtime. Never aborts: without a driver it returns cudaErrorInsufficientDriver
/// (35) or cudaErrorNoDevice (100) with *count = 0; libcuda.so.1 is opened lazily by cudart_static.
int nk_cuda_device_count(int* count, const char** err);
/// After a failed call: 1 when the device context still works, 0 when the error was sticky (the
/// context is lost for the rest of the process).
int nk_cuda_context_ok(void);

}  // extern "C"
