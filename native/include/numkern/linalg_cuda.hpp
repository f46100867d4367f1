// C entry points of the linalg family's CUDA kernels (native/cuda/linalg.cu), under the conventions of
// cuda_api.hpp. Defined only in a CUDA build.
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/cuda_api.hpp"

extern "C" {

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
/// Device-to-device cudaMemcpy of `bytes`, `reps` times, timed by events: GB/s counting each byte read
/// and written (2·bytes per copy). The ceiling bench/gpu rates kernels against.
int nk_cuda_copy_gbps(size_t bytes, int reps, double* gbps, const char** err);

}  // extern "C"
