// CSR sparse matrix-vector product y = A x.
#include <type_traits>
#include <vector>

#include "numkern/csr.hpp"
#include "numkern/linalg.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace {

// A thread costs a few microseconds to wake; below this many nnz + rows per thread it does not pay.
constexpr size_t kSpmvGrain = 1 << 15;

template <class T>
NK_FORCEINLINE bool spmv_rows(int32_t r0, int32_t r1, const int32_t* rowPtr, const int32_t* colIdx, const T* values,
                              int32_t nnz, uint32_t ncols, const T* x, T* y) {
  bool bad = false;
  int32_t r = r0;
  // Two rows at a time (csr_row_dot2: each row's own order, the same bits as one at a time).
  for (; r + 1 < r1; r += 2) {
    int32_t b0, e0, b1, e1;
    bad |= !csr_row_range(rowPtr, r, nnz, b0, e0);
    bad |= !csr_row_range(rowPtr, r + 1, nnz, b1, e1);
    csr_row_dot2<T, T>(colIdx, values, x, ncols, b0, e0, b1, e1, y[r], y[r + 1], bad);
  }
  for (; r < r1; ++r) {
    int32_t b, e;
    bad |= !csr_row_range(rowPtr, r, nnz, b, e);
    y[r] = csr_row_dot<T, T>(colIdx, values, x, ncols, b, e, bad);
  }
  return !bad;
}

NK_CLONES bool spmv_rows_f32(int32_t r0, int32_t r1, const int32_t* rowPtr, const int32_t* colIdx,
                             const float* values, int32_t nnz, uint32_t ncols, const float* x, float* y) {
  return spmv_rows<float>(r0, r1, rowPtr, colIdx, values, nnz, ncols, x, y);
}

NK_CLONES bool spmv_rows_f64(int32_t r0, int32_t r1, const int32_t* rowPtr, const int32_t* colIdx,
                             const double* values, int32_t nnz, uint32_t ncols, const double* x, double* y) {
  return spmv_rows<double>(r0, r1, rowPtr, colIdx, values, nnz, ncols, x, y);
}

}  // namespace

template <class T>
bool spmv(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int32_t nnz, uint32_t ncols,
          const T* x, T* y, int threads) {
  if (nrows <= 0) return true;
  const int nt = plan_threads(threads, static_cast<size_t>(nnz) + static_cast<size_t>(nrows), kSpmvGrain);
  std::vector<int32_t> cuts;
  balanced_cuts(rowPtr, nrows, nt, cuts);
  std::vector<char> ok(static_cast<size_t>(nt), 1);
  parallel_run(nt, [&](int t, int) {
    const int32_t r0 = cuts[static_cast<size_t>(t)], r1 = cuts[static_cast<size_t>(t) + 1];
    if constexpr (std::is_same_v<T, float>) {
      ok[static_cast<size_t>(t)] = spmv_rows_f32(r0, r1, rowPtr, colIdx, values, nnz, ncols, x, y);
    } else {
      ok[static_cast<size_t>(t)] = spmv_rows_f64(r0, r1, rowPtr, colIdx, values, nnz, ncols, x, y);
    }
  });
  for (char c : ok)
    if (!c) return false;
  return true;
}

template bool spmv<float>(int32_t, const int32_t*, const int32_t*, const float*, int32_t, uint32_t, const float*,
                          float*, int);
template bool spmv<double>(int32_t, const int32_t*, const int32_t*, const double*, int32_t, uint32_t, const double*,
                           double*, int);

}  // namespace numkern
