// frechetTopk on the device (src/frechet/ops.ts; the CPU kernel is native/src/frechet/topk.cc): score
// blocks of a row block of W against a tile of labels by cuBLAS gemm, each block folded at once into
// running per-row top-k heaps by a kernel of ours, so the B×N score matrix never exists.
//
// cuBLAS is opened at run time (dlopen of libcublas.so.13, the soname CUDA 13 ships; four symbols,
// resolved once per process), so the addon loads and every other CUDA kernel runs where libcublas is
// absent; the TS side then does not register the op and status() says why (nk_cuda_cublas_status).
//
// The top-k is frechet_topk.hpp's, the CPU kernel's own code: a bounded heap per (row, lane) under one
// total order (ascending score, exact ties to the smaller label, NaN last), where lane l of a row's warp
// takes the tile's labels j ≡ l (mod lanes); at the end each row's lanes are merged into one heap and
// sorted. The top-k of a set under a total order is unique, so the result does not depend on how labels
// were dealt to lanes or tiles. Scores: cuBLAS forms Σ_k W[b,k]·M(k,j) in the dtype in its own order
// (with FMA; f32 in plain FP32, cuBLAS's default math mode, no TF32), then bias[j] is added once in the
// dtype, as frechet.hpp allows: a near-tie within rounding may order differently from the CPU's engines,
// an exact tie never.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "common.cuh"
#include "numkern/frechet.hpp"
#include "numkern/frechet_cuda.hpp"
#include "numkern/frechet_lanes.hpp"

namespace {

using nkcu::blocks_for;
using nkcu::DeviceArray;
using nkcu::global_index;
using nkcu::global_stride;
using nkcu::kThreads;
namespace fr = numkern::frechet;

// ---- cuBLAS at run time: the v2 API's C signatures (cublas_api.h), enums as their int values ----

using CublasHandle = void*;  // cublasHandle_t
constexpr int kCublasOpN = 0, kCublasOpT = 1;
using CublasCreate = int (*)(CublasHandle*);
using CublasDestroy = int (*)(CublasHandle);
using CublasSgemm = int (*)(CublasHandle, int, int, int, int, int, const float*, const float*, int, const float*, int,
                            const float*, float*, int);
using CublasDgemm = int (*)(CublasHandle, int, int, int, int, int, const double*, const double*, int, const double*,
                            int, const double*, double*, int);

struct Cublas {
  CublasCreate create = nullptr;
  CublasDestroy destroy = nullptr;
  CublasSgemm sgemm = nullptr;
  CublasDgemm dgemm = nullptr;
  std::string why;  // empty when every symbol resolved
};

/// Opened and resolved once (a function-local static: thread-safe initialization); never closed.
const Cublas& cublas() {
  static const Cublas c = [] {
    Cublas r;
    void* lib = dlopen("libcublas.so.13", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      r.why = std::string("cannot open libcublas.so.13 (CUDA 13 cuBLAS): ") + (e ? e : "not found");
      return r;
    }
    r.create = reinterpret_cast<CublasCreate>(dlsym(lib, "cublasCreate_v2"));
    r.destroy = reinterpret_cast<CublasDestroy>(dlsym(lib, "cublasDestroy_v2"));
    r.sgemm = reinterpret_cast<CublasSgemm>(dlsym(lib, "cublasSgemm_v2"));
    r.dgemm = reinterpret_cast<CublasDgemm>(dlsym(lib, "cublasDgemm_v2"));
    if (!r.create || !r.destroy || !r.sgemm || !r.dgemm) r.why = "libcublas.so.13 lacks cublasCreate_v2, cublasDestroy_v2, cublasSgemm_v2 or cublasDgemm_v2";
    return r;
  }();
  return c;
}

/// A cuBLAS handle for the length of one call (a handle must not be shared by concurrent host threads).
struct Handle {
  CublasHandle h = nullptr;
  ~Handle() {
    if (h) cublas().destroy(h);
  }
};

int gemm(CublasHandle h, int ta, int m, int n, int k, const float* A, int lda, const float* B, int ldb, float* C,
         int ldc) {
  const float one = 1.0f, zero = 0.0f;
  return cublas().sgemm(h, ta, kCublasOpN, m, n, k, &one, A, lda, B, ldb, &zero, C, ldc);
}
int gemm(CublasHandle h, int ta, int m, int n, int k, const double* A, int lda, const double* B, int ldb, double* C,
         int ldc) {
  const double one = 1.0, zero = 0.0;
  return cublas().dgemm(h, ta, kCublasOpN, m, n, k, &one, A, lda, B, ldb, &zero, C, ldc);
}

/// Device memory for one score block (rows × tile labels).
constexpr size_t kBlockBytes = size_t{64} << 20;
/// Device memory for the heaps of one row block (rows × lanes × topk pairs).
constexpr size_t kHeapBytes = size_t{256} << 20;
constexpr int64_t kMaxRows = 1024;
constexpr int kMaxLanes = 32;

template <class T>
__device__ T quiet_nan();
template <>
__device__ float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <>
__device__ double quiet_nan<double>() { return __longlong_as_double(0x7ff8000000000000ll); }

/// Heap (b, l) of the row block takes the block's labels j ≡ l (mod lanes): C[b·cols + j] (+ bias[j]).
template <class T>
__global__ void scan_block(int64_t rows, int64_t cols, int lanes, const T* C, const T* bias, int32_t label0, T* hs,
                           int32_t* hid, int32_t* hcount, int32_t cap) {
  const T nan = quiet_nan<T>();
  const size_t n = static_cast<size_t>(rows) * lanes;
  for (size_t e = global_index(); e < n; e += global_stride()) {
    const int64_t b = static_cast<int64_t>(e / lanes);
    const int l = static_cast<int>(e % lanes);
    fr::TopkRow<T> r{hs + e * cap, hid + e * cap, hcount[e], cap};
    fr::offer_lane(C + b * cols, bias, cols, lanes, l, label0, r, nan);
    hcount[e] = r.count;
  }
}

/// Row b's lanes merged into lane 0's heap, sorted best first, written to row b0 + b of the output.
template <class T>
__global__ void merge_rows(int64_t rows, int lanes, T* hs, int32_t* hid, const int32_t* hcount, int32_t cap, T* out_s,
                           int32_t* out_id) {
  for (size_t b = global_index(); b < static_cast<size_t>(rows); b += global_stride()) {
    const size_t e0 = b * lanes;
    const fr::TopkRow<T> r = fr::merge_lanes(hs + e0 * cap, hid + e0 * cap, hcount + e0, lanes, cap);
    for (int32_t q = 0; q < cap; ++q) {
      // count < cap is unreachable for a checked problem (N ≥ topk); never garbage all the same.
      out_s[b * cap + q] = q < r.count ? r.s[q] : quiet_nan<T>();
      out_id[b * cap + q] = q < r.count ? r.id[q] : -1;
    }
  }
}

template <class T>
int topk(const T* W, int64_t B, int64_t K, const T* M, int64_t N, int32_t layout, const T* bias, int32_t offset,
         int32_t cap, int32_t* labels, T* scores, const char** err) {
  if (B <= 0) return 0;
  const Cublas& cb = cublas();
  if (!cb.why.empty()) {
    if (err) *err = "cuBLAS is unavailable (libcublas.so.13)";
    return static_cast<int>(cudaErrorSharedObjectInitFailed);
  }
  const bool kn = static_cast<fr::Layout>(layout) == fr::Layout::KN;
  const int64_t rowsPer = std::min<int64_t>(B, kMaxRows);
  const size_t pair = sizeof(T) + sizeof(int32_t);
  const int lanes = static_cast<int>(std::max<size_t>(
      1, std::min<size_t>(kMaxLanes, kHeapBytes / (static_cast<size_t>(rowsPer) * static_cast<size_t>(cap) * pair))));
  const int64_t tile = std::max<int64_t>(1, std::min<int64_t>(N, static_cast<int64_t>(kBlockBytes / sizeof(T)) / rowsPer));
  const size_t heapPairs = static_cast<size_t>(rowsPer) * lanes * cap;

  DeviceArray<T> dW, dM, dBias, C, hs, outS;
  DeviceArray<int32_t> hid, hcount, outId;
  NK_CUDA_TRY(dW.upload(W, static_cast<size_t>(B * K)));
  NK_CUDA_TRY(dM.upload(M, static_cast<size_t>(K) * static_cast<size_t>(N)));
  if (bias) NK_CUDA_TRY(dBias.upload(bias, static_cast<size_t>(N)));
  NK_CUDA_TRY(C.alloc(static_cast<size_t>(rowsPer * tile)));
  NK_CUDA_TRY(hs.alloc(heapPairs));
  NK_CUDA_TRY(hid.alloc(heapPairs));
  NK_CUDA_TRY(hcount.alloc(static_cast<size_t>(rowsPer) * lanes));
  NK_CUDA_TRY(outS.alloc(static_cast<size_t>(B) * cap));
  NK_CUDA_TRY(outId.alloc(static_cast<size_t>(B) * cap));
  Handle handle;
  if (K > 0 && cb.create(&handle.h) != 0) {
    if (err) *err = "cublasCreate failed";
    return static_cast<int>(cudaErrorUnknown);
  }
  for (int64_t b0 = 0; b0 < B; b0 += rowsPer) {
    const int64_t rows = std::min(rowsPer, B - b0);
    NK_CUDA_TRY(cudaMemset(hcount.p, 0, static_cast<size_t>(rows) * lanes * sizeof(int32_t)));
    for (int64_t j0 = 0; j0 < N; j0 += tile) {
      const int64_t cols = std::min(tile, N - j0);
      // Row-major C (rows × cols) is column-major Cᵀ (cols × rows, ld cols) = M_tileᵀ·W_blockᵀ, where
      // W_blockᵀ is row-major W read column-major (K × rows, ld K) and M_tileᵀ is column-major M (kn:
      // cols × K at M + j0, ld N) or the transpose of column-major M (nk: K × cols at M + j0·K, ld K).
      if (K > 0) {
        const int rc = gemm(handle.h, kn ? kCublasOpN : kCublasOpT, static_cast<int>(cols), static_cast<int>(rows),
                            static_cast<int>(K), kn ? dM.p + j0 : dM.p + j0 * K, static_cast<int>(kn ? N : K),
                            dW.p + b0 * K, static_cast<int>(K), C.p, static_cast<int>(cols));
        if (rc != 0) {
          if (err) *err = "cuBLAS gemm failed";
          return static_cast<int>(cudaErrorUnknown);
        }
      } else {
        NK_CUDA_TRY(cudaMemset(C.p, 0, static_cast<size_t>(rows * cols) * sizeof(T)));
      }
      scan_block<T><<<blocks_for(static_cast<size_t>(rows) * lanes), kThreads>>>(
          rows, cols, lanes, C.p, bias ? dBias.p + j0 : nullptr, offset + static_cast<int32_t>(j0), hs.p, hid.p,
          hcount.p, cap);
      NK_CUDA_TRY(cudaGetLastError());
    }
    merge_rows<T><<<blocks_for(static_cast<size_t>(rows)), kThreads>>>(rows, lanes, hs.p, hid.p, hcount.p, cap,
                                                                       outS.p + b0 * cap, outId.p + b0 * cap);
    NK_CUDA_TRY(cudaGetLastError());
  }
  NK_CUDA_TRY(outS.download(scores, static_cast<size_t>(B) * cap));
  NK_CUDA_TRY(outId.download(labels, static_cast<size_t>(B) * cap));
  return 0;
}

}  // namespace

extern "C" {

int nk_cuda_cublas_status(const char** why) {
  const Cublas& c = cublas();
  if (c.why.empty()) return 1;
  if (why) *why = c.why.c_str();
  return 0;
}

int nk_cuda_frechet_topk_f32(const float* W, int64_t B, int64_t K, const float* M, int64_t N, int32_t layout,
                             const float* bias, int32_t labelOffset, int32_t topk_, int32_t* labels, float* scores,
                             const char** err) {
  return topk(W, B, K, M, N, layout, bias, labelOffset, topk_, labels, scores, err);
}
int nk_cuda_frechet_topk_f64(const double* W, int64_t B, int64_t K, const double* M, int64_t N, int32_t layout,
                             const double* bias, int32_t labelOffset, int32_t topk_, int32_t* labels, double* scores,
                             const char** err) {
  return topk(W, B, K, M, N, layout, bias, labelOffset, topk_, labels, scores, err);
}

}  // extern "C"
