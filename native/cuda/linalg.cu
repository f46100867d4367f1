// CUDA launchers for spmv, dot, axpy, nrm2 and segmented moments. The per-element logic is the same
// NK_HD code the CPU kernels run (native/include/numkern), so the two backends compute the same formulas.
//
// Each entry point takes host arrays, copies them to the device, runs, and copies the results back.
// Reductions write one partial per block and the host combines the partials in block order, so a
// result depends on n alone, never on scheduling (no floating-point atomics).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "numkern/blas1.hpp"
#include "numkern/csr.hpp"
#include "numkern/linalg_cuda.hpp"
#include "numkern/moments.hpp"

namespace {

constexpr int kThreads = 256;
// Enough resident blocks to saturate any current GPU's memory system with a grid-stride loop, and a
// partials array small enough to combine on the host.
constexpr unsigned kMaxBlocks = 2048;

unsigned blocks_for(size_t n) {
  const size_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(b, kMaxBlocks)));
}

int fail(cudaError_t e, const char** err) {
  if (err) *err = cudaGetErrorString(e);
  cudaGetLastError();  // clears the error unless it is sticky (nk_cuda_context_ok tells which)
  return static_cast<int>(e);
}

#define NK_CUDA_TRY(expr)                      \
  do {                                         \
    const cudaError_t nk_e_ = (expr);          \
    if (nk_e_ != cudaSuccess) return fail(nk_e_, err); \
  } while (0)

/// Device memory owned for the length of one call.
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

/// Sum of v over the block (warp shuffles, then one value per warp through shared memory).
__device__ double block_sum(double v) {
  __shared__ double warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_sums[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  return v;
}

__device__ double block_max(double v) {
  __shared__ double warp_max[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_max[warp] = v;
  __syncthreads();
  v = threadIdx.x < kThreads / 32 ? warp_max[threadIdx.x] : 0.0;
  if (warp == 0)
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_down_sync(0xffffffffu, v, o));
  return v;
}

__device__ size_t global_index() { return static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ size_t global_stride() { return static_cast<size_t>(gridDim.x) * blockDim.x; }

template <class T>
__global__ void spmv_kernel(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int32_t nnz,
                            uint32_t ncols, const T* x, T* y, int* bad) {
  for (size_t r = global_index(); r < static_cast<size_t>(nrows); r += global_stride()) {
    int32_t b, e;
    bool oob = !numkern::csr_row_range(rowPtr, static_cast<int32_t>(r), nnz, b, e);
    y[r] = numkern::csr_row_dot<T, T>(colIdx, values, x, ncols, b, e, oob);
    if (oob) *bad = 1;
  }
}

template <class T>
__global__ void dot_kernel(size_t n, const T* x, const T* y, double* partial) {
  double s = 0;
  for (size_t i = global_index(); i < n; i += global_stride()) s += numkern::dot_term(x[i], y[i]);
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <class T>
__global__ void ssq_kernel(size_t n, const T* x, double s1, double s2, double* partial) {
  double s = 0;
  for (size_t i = global_index(); i < n; i += global_stride()) s += numkern::sq_term(x[i], s1, s2);
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

template <class T>
__global__ void amax_kernel(size_t n, const T* x, double* partial) {
  double m = 0;
  for (size_t i = global_index(); i < n; i += global_stride()) m = fmax(m, fabs(static_cast<double>(x[i])));
  m = block_max(m);
  if (threadIdx.x == 0) partial[blockIdx.x] = m;
}

template <class T>
__global__ void axpy_kernel(size_t n, T alpha, const T* x, T* y) {
  for (size_t i = global_index(); i < n; i += global_stride()) y[i] = numkern::axpy_element(alpha, x[i], y[i]);
}

template <class T>
__global__ void moments_kernel(int32_t nseg, const int32_t* offsets, size_t nvalues, const T* values, double ddof,
                               T* sum, T* mean, T* variance, int* bad) {
  for (size_t s = global_index(); s < static_cast<size_t>(nseg); s += global_stride()) {
    const int64_t b = offsets[s], e = offsets[s + 1];
    const bool valid = b >= 0 && b <= e && static_cast<uint64_t>(e) <= nvalues;
    if (!valid) *bad = 1;
    const numkern::Moments m =
        valid ? numkern::segment_moments(values + b, static_cast<int32_t>(e - b), ddof) : numkern::Moments{0, 0, 0};
    sum[s] = static_cast<T>(m.sum);
    mean[s] = static_cast<T>(m.mean);
    variance[s] = static_cast<T>(m.variance);
  }
}


/// Runs a partial-per-block kernel over n elements and returns the host copy of the partials.
template <class Launch>
int block_partials(size_t n, Launch&& launch, std::vector<double>& host, const char** err) {
  const unsigned nb = blocks_for(n);
  DeviceArray<double> partial;
  NK_CUDA_TRY(partial.alloc(nb));
  launch(nb, partial.p);
  NK_CUDA_TRY(cudaGetLastError());
  host.resize(nb);
  NK_CUDA_TRY(partial.download(host.data(), nb));
  return 0;
}

template <class T>
int spmv(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int32_t nnz, uint32_t ncols,
         const T* x, T* y, const char** err) {
  if (nrows <= 0) return 0;
  DeviceArray<int32_t> d_rowPtr, d_colIdx;
  DeviceArray<T> d_values, d_x, d_y;
  DeviceArray<int> d_bad;
  NK_CUDA_TRY(d_rowPtr.upload(rowPtr, static_cast<size_t>(nrows) + 1));
  NK_CUDA_TRY(d_colIdx.upload(colIdx, static_cast<size_t>(nnz)));
  NK_CUDA_TRY(d_values.upload(values, static_cast<size_t>(nnz)));
  NK_CUDA_TRY(d_x.upload(x, ncols));
  NK_CUDA_TRY(d_y.alloc(static_cast<size_t>(nrows)));
  NK_CUDA_TRY(d_bad.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bad.p, 0, sizeof(int)));
  spmv_kernel<T><<<blocks_for(static_cast<size_t>(nrows)), kThreads>>>(nrows, d_rowPtr.p, d_colIdx.p, d_values.p, nnz,
                                                                       ncols, d_x.p, d_y.p, d_bad.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_y.download(y, static_cast<size_t>(nrows)));
  int bad = 0;
  NK_CUDA_TRY(d_bad.download(&bad, 1));
  if (bad) {
    if (err) *err = "rowPtr or colIdx index out of range";
    return kNkBadIndex;
  }
  return 0;
}

template <class T>
int dot(size_t n, const T* x, const T* y, double* out, const char** err) {
  *out = 0;
  if (n == 0) return 0;
  DeviceArray<T> d_x, d_y;
  NK_CUDA_TRY(d_x.upload(x, n));
  NK_CUDA_TRY(d_y.upload(y, n));
  std::vector<double> host;
  const int rc = block_partials(
      n, [&](unsigned nb, double* p) { dot_kernel<T><<<nb, kThreads>>>(n, d_x.p, d_y.p, p); }, host, err);
  if (rc) return rc;
  *out = numkern::pairwise_sum(host.data(), host.size());
  return 0;
}

template <class T>
int axpy(size_t n, T alpha, const T* x, T* y, const char** err) {
  if (n == 0) return 0;
  DeviceArray<T> d_x, d_y;
  NK_CUDA_TRY(d_x.upload(x, n));
  NK_CUDA_TRY(d_y.upload(y, n));
  axpy_kernel<T><<<blocks_for(n), kThreads>>>(n, alpha, d_x.p, d_y.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_y.download(y, n));
  return 0;
}

template <class T>
int nrm2(size_t n, const T* x, double* out, const char** err) {
  *out = 0;
  if (n == 0) return 0;
  DeviceArray<T> d_x;
  NK_CUDA_TRY(d_x.upload(x, n));
  std::vector<double> host;
  int rc = block_partials(
      n, [&](unsigned nb, double* p) { ssq_kernel<T><<<nb, kThreads>>>(n, d_x.p, 1.0, 1.0, p); }, host, err);
  if (rc) return rc;
  const double ssq = numkern::pairwise_sum(host.data(), host.size());
  if (numkern::nrm2_fast_path_ok(ssq, n)) {
    *out = std::sqrt(ssq);
    return 0;
  }
  rc = block_partials(
      n, [&](unsigned nb, double* p) { amax_kernel<T><<<nb, kThreads>>>(n, d_x.p, p); }, host, err);
  if (rc) return rc;
  const double amax = *std::max_element(host.begin(), host.end());
  if (!(amax > 0) || std::isinf(amax)) {
    *out = numkern::nrm2_finish(amax, 0.0, 0);
    return 0;
  }
  const int e = numkern::nrm2_scale_exponent(amax);
  double s1, s2;
  numkern::nrm2_scale_factors(e, s1, s2);
  rc = block_partials(
      n, [&](unsigned nb, double* p) { ssq_kernel<T><<<nb, kThreads>>>(n, d_x.p, s1, s2, p); }, host, err);
  if (rc) return rc;
  *out = numkern::nrm2_finish(amax, numkern::pairwise_sum(host.data(), host.size()), e);
  return 0;
}

template <class T>
int segmented_moments(int32_t nseg, const int32_t* offsets, size_t nvalues, const T* values, double ddof, T* sum,
                      T* mean, T* variance, const char** err) {
  if (nseg <= 0) return 0;
  const size_t ns = static_cast<size_t>(nseg);
  DeviceArray<int32_t> d_offsets;
  DeviceArray<T> d_values, d_sum, d_mean, d_var;
  DeviceArray<int> d_bad;
  NK_CUDA_TRY(d_offsets.upload(offsets, ns + 1));
  NK_CUDA_TRY(d_values.upload(values, nvalues));
  NK_CUDA_TRY(d_sum.alloc(ns));
  NK_CUDA_TRY(d_mean.alloc(ns));
  NK_CUDA_TRY(d_var.alloc(ns));
  NK_CUDA_TRY(d_bad.alloc(1));
  NK_CUDA_TRY(cudaMemset(d_bad.p, 0, sizeof(int)));
  moments_kernel<T><<<blocks_for(ns), kThreads>>>(nseg, d_offsets.p, nvalues, d_values.p, ddof, d_sum.p, d_mean.p,
                                                  d_var.p, d_bad.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_sum.download(sum, ns));
  NK_CUDA_TRY(d_mean.download(mean, ns));
  NK_CUDA_TRY(d_var.download(variance, ns));
  int bad = 0;
  NK_CUDA_TRY(d_bad.download(&bad, 1));
  if (bad) {
    if (err) *err = "offsets index out of range";
    return kNkBadIndex;
  }
  return 0;
}

}  // namespace

extern "C" {

int nk_cuda_spmv_f32(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const float* values, int32_t nnz,
                     uint32_t ncols, const float* x, float* y, const char** err) {
  return spmv(nrows, rowPtr, colIdx, values, nnz, ncols, x, y, err);
}
int nk_cuda_spmv_f64(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const double* values, int32_t nnz,
                     uint32_t ncols, const double* x, double* y, const char** err) {
  return spmv(nrows, rowPtr, colIdx, values, nnz, ncols, x, y, err);
}
int nk_cuda_dot_f32(size_t n, const float* x, const float* y, double* out, const char** err) {
  return dot(n, x, y, out, err);
}
int nk_cuda_dot_f64(size_t n, const double* x, const double* y, double* out, const char** err) {
  return dot(n, x, y, out, err);
}
int nk_cuda_axpy_f32(size_t n, float alpha, const float* x, float* y, const char** err) {
  return axpy(n, alpha, x, y, err);
}
int nk_cuda_axpy_f64(size_t n, double alpha, const double* x, double* y, const char** err) {
  return axpy(n, alpha, x, y, err);
}
int nk_cuda_nrm2_f32(size_t n, const float* x, double* out, const char** err) { return nrm2(n, x, out, err); }
int nk_cuda_nrm2_f64(size_t n, const double* x, double* out, const char** err) { return nrm2(n, x, out, err); }
int nk_cuda_segmented_moments_f32(int32_t nseg, const int32_t* offsets, size_t nvalues, const float* values,
                                  double ddof, float* sum, float* mean, float* variance, const char** err) {
  return segmented_moments(nseg, offsets, nvalues, values, ddof, sum, mean, variance, err);
}
int nk_cuda_segmented_moments_f64(int32_t nseg, const int32_t* offsets, size_t nvalues, const double* values,
                                  double ddof, double* sum, double* mean, double* variance, const char** err) {
  return segmented_moments(nseg, offsets, nvalues, values, ddof, sum, mean, variance, err);
}

}  // extern "C"
