// CSR element logic shared by the CPU kernel (native/src/spmv.cc) and the CUDA launcher.
//
// The row loop re-checks every index it follows even though the binding validated them beforehand:
// an async caller can still write to rowPtr or colIdx while the kernel runs (docs/platform.md 1.7), and on
// a GPU an out-of-range read poisons the whole context. Each check is a branch predicted never taken
// (csr_col below), so validation needs no separate sweep over colIdx.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"

namespace numkern {

/// Row r's slice [begin, end) of colIdx/values, or false when rowPtr is not a valid CSR row
/// (decreasing, negative or past nnz); the row is then treated as empty.
NK_HD inline bool csr_row_range(const int32_t* rowPtr, int32_t r, int32_t nnz, int32_t& begin, int32_t& end) {
  const int32_t b = rowPtr[r];
  const int32_t e = rowPtr[r + 1];
  const bool ok = b >= 0 && b <= e && e <= nnz;
  begin = ok ? b : 0;
  end = ok ? e : 0;
  return ok;
}

/// colIdx[k] when it lies in [0, ncols); otherwise 0, and `oob` is set. A branch rather than a select
/// (in ? c : 0): predicted never taken, it keeps the x load off the compare's dependency chain (measured
/// on the CPU's two-row loop: the select cost 12–25% of a product of a 2-D or 3-D FEM matrix, as it did
/// on the relax residual, relax_rows.hpp csr_term).
NK_HD inline uint32_t csr_col(const int32_t* colIdx, int32_t k, uint32_t ncols, bool& oob) {
  uint32_t c = static_cast<uint32_t>(colIdx[k]);  // a negative index becomes >= 2^31 >= ncols
  if (__builtin_expect(c >= ncols, 0)) {
    oob = true;
    c = 0;
  }
  return c;
}

/// Σ_k values[k] · x[colIdx[k]] over k in [begin, end), accumulated in Acc.
/// A column outside [0, ncols) reads x[0] instead and sets `bad`, so the result is reported as an error.
template <class T, class Acc = T>
NK_HD inline Acc csr_row_dot(const int32_t* colIdx, const T* values, const T* x, uint32_t ncols, int32_t begin,
                             int32_t end, bool& bad) {
  Acc s = Acc(0);
  bool oob = false;
  for (int32_t k = begin; k < end; ++k)
    s += static_cast<Acc>(values[k]) * static_cast<Acc>(x[csr_col(colIdx, k, ncols, oob)]);
  bad |= oob;
  return s;
}

/// csr_row_dot of two rows at once, each summed in its own order as above (the same bits): two independent
/// add chains in flight, where one row's chain is what limits a short row.
template <class T, class Acc = T>
NK_HD inline void csr_row_dot2(const int32_t* colIdx, const T* values, const T* x, uint32_t ncols, int32_t b0,
                               int32_t e0, int32_t b1, int32_t e1, Acc& s0, Acc& s1, bool& bad) {
  Acc u = Acc(0), v = Acc(0);
  bool oob = false;
  const int32_t m = e0 - b0 < e1 - b1 ? e0 - b0 : e1 - b1;
  for (int32_t k = 0; k < m; ++k) {
    u += static_cast<Acc>(values[b0 + k]) * static_cast<Acc>(x[csr_col(colIdx, b0 + k, ncols, oob)]);
    v += static_cast<Acc>(values[b1 + k]) * static_cast<Acc>(x[csr_col(colIdx, b1 + k, ncols, oob)]);
  }
  // The longer row's rest, continuing its own chain.
  for (int32_t k = b0 + m; k < e0; ++k) u += static_cast<Acc>(values[k]) * static_cast<Acc>(x[csr_col(colIdx, k, ncols, oob)]);
  for (int32_t k = b1 + m; k < e1; ++k) v += static_cast<Acc>(values[k]) * static_cast<Acc>(x[csr_col(colIdx, k, ncols, oob)]);
  s0 = u;
  s1 = v;
  bad |= oob;
}

}  // namespace numkern
