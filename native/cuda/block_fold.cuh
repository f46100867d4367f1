// Block reductions in a fixed order for any value type (native/cuda/pg.cu): a warp shuffle tree, then
// the warps in order, so a result depends on the values and the block size only, never on scheduling,
// and repeats bit for bit (no atomics). For a type of its own a launcher declares
// `__device__ V shfl_down(V, int)` in the type's namespace (found by argument-dependent lookup).
#pragma once

#include <cuda_runtime.h>

#include "common.cuh"

namespace nkcu {

__device__ inline double shfl_down(double v, int o) { return __shfl_down_sync(0xffffffffu, v, o); }
__device__ inline int shfl_down(int v, int o) { return __shfl_down_sync(0xffffffffu, v, o); }
__device__ inline unsigned long long shfl_down(unsigned long long v, int o) { return __shfl_down_sync(0xffffffffu, v, o); }

/// op over a block of kThreads values, in a fixed tree (lane i takes lane i + o for o = 16 .. 1, then
/// warp 0 takes warps 1 .. in order); the result is thread 0's. Every thread of the block must call it.
template <class V, class Op>
__device__ V block_fold(V v, Op op) {
  constexpr int kWarps = kThreads / 32;
  __shared__ V part[kWarps];
  for (int o = 16; o > 0; o >>= 1) v = op(v, shfl_down(v, o));
  __syncthreads();  // a previous call's part[] has been read
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < kWarps; ++w) v = op(v, part[w]);
  return v;
}

struct Add {
  template <class V>
  __device__ V operator()(V a, V b) const { return a + b; }
};
struct Min {
  __device__ unsigned long long operator()(unsigned long long a, unsigned long long b) const { return a < b ? a : b; }
};
struct Max {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};

/// Thread 0's value, to every thread of the block.
template <class V>
__device__ V broadcast(V v) {
  __shared__ V slot;
  if (threadIdx.x == 0) slot = v;
  __syncthreads();
  const V out = slot;
  __syncthreads();
  return out;
}

}  // namespace nkcu
