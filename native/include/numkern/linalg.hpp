// The linalg family's CPU kernels (native/src/linalg): the shared primitives spmv, dot, axpy, nrm2 and
// segmented moments. No Node headers: the bindings and the standalone test call these directly.
//
// Contracts shared by every kernel here:
//  - `threads` is a request: 0 means all hardware threads; the actual count comes from plan_threads()
//    (parallel.hpp), the one place that decides it.
//  - Results do not depend on the thread count: rows and segments are independent, and reductions sum
//    fixed-size blocks whose partials are combined in block order.
//  - Index arrays are re-checked while they are read (csr.hpp); a kernel that meets a bad index returns
//    false, and its outputs are then unspecified.
#pragma once

#include <cstddef>
#include <cstdint>

namespace numkern {

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

/// The index of the first NaN or ±Inf among a[0 .. n), or -1: checkFinite's scan (src/core/validate.ts).
template <class T>
int64_t first_nonfinite(size_t n, const T* a);

/// The index of a's first entry with !(|a_i| <= bound) — NaN, ±Inf or a magnitude past bound — or −1:
/// relax's checks of b, x0 and the returned x (src/relax/validate.ts), through bindings/relax.cc.
template <class T>
int64_t first_beyond(size_t n, const T* a, double bound);

/// Checks csr_canonical adds on request (bit flags).
enum CsrCheck : int {
  kCsrFinite = 1,            // every value finite
  kCsrBounded = 2,           // every |value| <= bound
  kCsrPositiveDiagonal = 4,  // every row stores its diagonal, and it is > 0
};

/// Whether rowPtr (nrows + 1 entries), colIdx and values (nnz each) form a canonical CSR matrix with
/// ncols columns, as checkCsr (src/core/validate.ts) defines it: rowPtr[0] = 0, non-decreasing,
/// rowPtr[nrows] = nnz, columns in [0, ncols) strictly increasing per row; plus the CsrCheck `flags`.
/// A verdict only: the caller names the violation. The structure passes use up to `threads` threads
/// (0 = all) on large matrices; the verdict never depends on how many.
template <class T>
bool csr_canonical(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, const T* values,
                   int64_t ncols, int flags, double bound, int threads = 1);

}  // namespace numkern
