// C entry points of the CUDA kernels (native/cuda/*.cu). A build without CUDA implements the same API
// in native/src with every call returning kNkBuiltWithoutCuda, so the bindings link either way.
//
// All pointers are host pointers: each call copies its inputs to the device, runs, and copies the
// outputs back. Calls return 0 on success, otherwise a cudaError_t value (or kNkBuiltWithoutCuda,
// kNkBadIndex) with a static message in *err.
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

int nk_cuda_spmv_f32(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const float* values, int32_t nnz,
                     uint32_t ncols, const float* x, float* y, const char** err);
int nk_cuda_spmv_f64(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const double* values, int32_t nnz,
                     uint32_t ncols, const double* x, double* y, const char** err);
int nk_cuda_dot_f32(size_t n, const float* x, const float* y, double* out, const char** err);
int nk_cuda_dot_f64(size_t n, const double* x, const double* y, double* out, const char** err);
int nk_cuda_axpy_f32(size_t n, float alpha, const float* x, float* y, const char** err);
int nk_cuda_axpy_f64(size_t n, double alpha, const double* x, double* y, const char** err);
int nk_cuda_nrm2_f32(size_t n, const float* x, double* out, const char** err);
int nk_cuda_nrm2_f64(size_t n, const double* x, double* out, const char** err);
int nk_cuda_segmented_moments_f32(int32_t nseg, const int32_t* offsets, size_t nvalues, const float* values,
                                  double ddof, float* sum, float* mean, float* variance, const char** err);
int nk_cuda_segmented_moments_f64(int32_t nseg, const int32_t* offsets, size_t nvalues, const double* values,
                                  double ddof, double* sum, double* mean, double* variance, const char** err);

}  // extern "C"
