// C entry points of the frechet family's CUDA kernel (native/cuda/frechet.cu), under the conventions of
// cuda_api.hpp. Defined only in a CUDA build.
#pragma once

#include <cstddef>
#include <cstdint>

#include "numkern/cuda_api.hpp"

extern "C" {

/// 1 when cuBLAS (libcublas.so.13, opened at run time on the first call, once per process) has every
/// symbol the kernel needs; else 0 with the reason in *why. No device is touched.
int nk_cuda_cublas_status(const char** why);

/// The fused "GEMM + running top-k" of numkern/frechet.hpp over all N labels (begin = 0, end = N, no
/// merge): score blocks by cuBLAS sgemm/dgemm, each block folded at once into per-row heaps
/// (numkern/frechet_topk.hpp) by a device kernel; the B×N scores are never stored whole. labels and
/// scores (B×topk) receive each row's ranked top-k. The caller has checked every size and range.
int nk_cuda_frechet_topk_f32(const float* W, int64_t B, int64_t K, const float* M, int64_t N, int32_t layout,
                             const float* bias, int32_t labelOffset, int32_t topk, int32_t* labels, float* scores,
                             const char** err);
int nk_cuda_frechet_topk_f64(const double* W, int64_t B, int64_t K, const double* M, int64_t N, int32_t layout,
                             const double* bias, int32_t labelOffset, int32_t topk, int32_t* labels, double* scores,
                             const char** err);

}  // extern "C"
