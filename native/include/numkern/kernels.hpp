// CPU kernels (native/src). No Node headers: the bindings and the standalone test call these directly.
//
// Contracts shared by every kernel here:
//  - `threads` is a request: 0 means all hardware threads; the actual count comes from plan_threads()
//    (native/src/parallel.cc), the one place that decides it.
//  - Results do not depend on the thread count: rows and segments are independent, and reductions sum
//    fixed-size blocks whose partials are combined in block order.
//  - Index arrays are re-checked while they are read (csr.hpp); a kernel that meets a bad index returns
//    false, and its outputs are then unspecified.
#pragma once

#include <cstddef>
#include <cstdint>

namespace numkern {

// ---- threads (parallel.cc) ----

/// Hardware threads this process may run on (its CPU affinity mask), at least 1.
int hardware_threads();
/// Threads to use for `work` items when the caller asked for `requested` (0 = all): never more than the
/// hardware threads, and at most one per `grain` items so small calls stay on the calling thread.
int plan_threads(int requested, size_t work, size_t grain);
/// Whether the kernels were built with OpenMP (else std::thread).
bool openmp_enabled();

// ---- build facts (sysinfo.cc) ----

/// "OpenBLAS 0.3.21 ..." from openblas_get_config(), or nullptr when built without BLAS.
const char* blas_config();
/// The target_clones variant the dynamic loader picked for this CPU: "x86-64-v4", "avx2" or "default".
const char* simd_variant();

// ---- kernels ----

/// y = A x for CSR A with nrows rows and nnz = rowPtr[nrows] nonzeros; x has ncols entries. Accumulates
/// in T (f32 rows in float, f64 rows in double). Rows are split over threads in contiguous ranges of
/// equal nnz + rows (static schedule balanced by nnz).
template <class T>
bool spmv(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int32_t nnz, uint32_t ncols,
          const T* x, T* y, int threads);

/// Σ x_i y_i accumulated in double with 8 independent partial sums per block.
template <class T>
double dot(size_t n, const T* x, const T* y, int threads);

/// y := α x + y.
template <class T>
void axpy(size_t n, T alpha, const T* x, T* y, int threads);

/// ‖x‖₂ in double, safe against overflow and underflow (blas1.hpp).
template <class T>
double nrm2(size_t n, const T* x, int threads);

/// For each segment s < nseg, the moments of values[offsets[s] .. offsets[s+1]) (moments.hpp), written
/// to sum[s], mean[s], variance[s]. nvalues bounds every offset.
template <class T>
bool segmented_moments(int32_t nseg, const int32_t* offsets, size_t nvalues, const T* values, double ddof, T* sum,
                       T* mean, T* variance, int threads);

/// out[i] = word(start + i) of the Philox stream (key, stream) defined in philox.hpp.
void philox_fill(const uint32_t key[2], uint32_t stream, uint64_t start, size_t n, uint32_t* out);

// ---- machine-ceiling probes for the bench ----

/// STREAM triad a = b + s·c over n doubles, `reps` times; returns the best time of one pass in seconds.
/// STREAM counts 24 bytes per element (two reads, one write, no write-allocate).
double triad(size_t n, double* a, const double* b, const double* c, double s, int reps, int threads);

/// C = A·B for row-major n×n matrices with the builtin blocked kernel (used by gemm_gflops when the
/// build has no BLAS, and checked by the standalone test in every build).
void gemm_builtin(int n, const double* A, const double* B, double* C, int threads);

/// GFLOP/s (2n³ flops per product) of the best of `reps` n×n products C = A·B: dgemm from OpenBLAS when
/// built with it, else the builtin blocked kernel. The BLAS thread count is set to the planned count.
double gemm_gflops(int n, int threads, int reps);

}  // namespace numkern
