// CUDA-only plumbing shared by the families' launchers (native/cuda/<family>.cu): launch geometry,
// device memory owned for a scope, error returns under cuda_api.hpp's conventions, and the block
// reductions. No arithmetic of a kernel lives here (that is native/include/numkern's NK_HD code).
//
// Reductions are deterministic: a grid of blocks_for(n) blocks (a function of n alone) grid-strides,
// each block adds its values in a fixed shuffle tree, and the partials are combined in block order,
// so a sum depends on n, never on scheduling (no floating-point atomics).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>

namespace nkcu {

constexpr int kThreads = 256;
// Enough resident blocks to saturate any current GPU's memory system with a grid-stride loop, and a
// partials array small enough for one block (or the host) to combine.
constexpr unsigned kMaxBlocks = 2048;

inline unsigned blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(b, kMaxBlocks)));
}

inline int fail(cudaError_t e, const char** err) {
  if (err) *err = cudaGetErrorString(e);
  cudaGetLastError();  // clears the error unless it is sticky (nk_cuda_context_ok tells which)
  return static_cast<int>(e);
}

#define NK_CUDA_TRY(expr)                                      \
  do {                                                         \
    const cudaError_t nk_e_ = (expr);                          \
    if (nk_e_ != cudaSuccess) return ::nkcu::fail(nk_e_, err); \
  } while (0)

/// Device memory owned for the length of a scope (or of the object holding it).
template <class T>
struct DeviceArray {
  T* p = nullptr;
  DeviceArray() = default;
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() {
    if (p) cudaFree(p);
  }
  cudaError_t alloc(size_t n) { return cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(n, 1) * sizeof(T)); }
  cudaError_t upload(const T* h, size_t n) {
    const cudaError_t e = alloc(n);
    if (e != cudaSuccess || n == 0) return e;
    return cudaMemcpy(p, h, n * sizeof(T), cudaMemcpyHostToDevice);
  }
  cudaError_t download(T* h, size_t n) const {
    return n == 0 ? cudaSuccess : cudaMemcpy(h, p, n * sizeof(T), cudaMemcpyDeviceToHost);
  }
};

__device__ inline size_t global_index() { return static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline size_t global_stride() { return static_cast<size_t>(gridDim.x) * blockDim.x; }

/// Sum of v over a block of kThreads (warp shuffles, then one value per warp through shared memory);
/// the result is in thread 0.
__device__ inline double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  __syncthreads();  // warp_sums may be reused by the next call
  return v;
}

__device__ inline double block_max(double v) {
  __shared__ double warp_max[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_max[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  __syncthreads();
  return v;
}

/// Sum of partial[0 .. count) by one block of kThreads, in a fixed order: thread t adds t, t + kThreads,
/// ... in turn, then the block tree. Valid in thread 0.
__device__ inline double block_sum_of(const double* partial, unsigned count) {
  double s = 0;
  for (unsigned k = threadIdx.x; k < count; k += kThreads) s += partial[k];
  return block_sum(s);
}

}  // namespace nkcu
