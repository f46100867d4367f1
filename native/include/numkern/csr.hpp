// CSR element logic shared by the CPU kernel (native/src/spmv.cc) and the CUDA launcher.
//
// The row loop re-checks every index it follows even though the binding validated them beforehand:
// an async caller can still write to rowPtr or colIdx while the kernel runs (docs/platform.md 1.7), and on
// a GPU an out-of-range read poisons the whole context. The checks are branch-free (clamp + flag), so
// a bandwidth-bound loop pays nothing measurable for them, and validation needs no separate sweep
// over colIdx.
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

/// Σ_k values[k] · x[colIdx[k]] over k in [begin, end), accumulated in Acc.
/// A column outside [0, ncols) reads x[0] instead and sets `bad`, so the result is reported as an error.
template <class T, class Acc = T>
NK_HD inline Acc csr_row_dot(const int32_t* colIdx, const T* values, const T* x, uint32_t ncols, int32_t begin,
                             int32_t end, bool& bad) {
  Acc s = Acc(0);
  bool oob = false;
  for (int32_t k = begin; k < end; ++k) {
    const uint32_t c = static_cast<uint32_t>(colIdx[k]);  // a negative index becomes >= 2^31 >= ncols
    const bool in = c < ncols;
    oob |= !in;
    s += static_cast<Acc>(values[k]) * static_cast<Acc>(x[in ? c : 0u]);
  }
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
    const uint32_t c0 = static_cast<uint32_t>(colIdx[b0 + k]), c1 = static_cast<uint32_t>(colIdx[b1 + k]);
    const bool in0 = c0 < ncols, in1 = c1 < ncols;
    oob |= !(in0 && in1);
    u += static_cast<Acc>(values[b0 + k]) * static_cast<Acc>(x[in0 ? c0 : 0u]);
    v += static_cast<Acc>(values[b1 + k]) * static_cast<Acc>(x[in1 ? c1 : 0u]);
  }
  // The longer row's rest, continuing its own chain.
  for (int32_t k = b0 + m; k < e0; ++k) {
    const uint32_t c = static_cast<uint32_t>(colIdx[k]);
    const bool in = c < ncols;
    oob |= !in;
    u += static_cast<Acc>(values[k]) * static_cast<Acc>(x[in ? c : 0u]);
  }
  for (int32_t k = b1 + m; k < e1; ++k) {
    const uint32_t c = static_cast<uint32_t>(colIdx[k]);
    const bool in = c < ncols;
    oob |= !in;
    v += static_cast<Acc>(values[k]) * static_cast<Acc>(x[in ? c : 0u]);
  }
  s0 = u;
  s1 = v;
  bad |= oob;
}

}  // namespace numkern
