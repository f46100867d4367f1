// Whether CSR arrays are canonical: the checks of checkCsr (src/core/validate.ts) and, on request, the
// relax family's (|values| bounded, every row's stored diagonal positive: src/relax/validate.ts), at
// native speed. A façade call thus validates the matrix every time (no cache to go stale after an
// in-place edit) for a fraction of the cost of the product or solve it guards. Only the verdict is
// computed here; on `false` the façade reruns its own scan, which names the first violation.
//
// The structure is checked without a loop per row: a row loop of a sparse FEM matrix (~7 entries a row)
// pays a mispredicted loop exit per row, which made the old row-by-row check cost more than the SpMV it
// guarded (~40 µs for 55k entries). Instead (structure_ok):
//   D = #{k in [1, nnz): colIdx[k] <= colIdx[k-1]}          one flat pass over colIdx (vectorized)
//   E = #{non-empty rows r with rowPtr[r] >= 1 whose first column <= the entry before it}
//                                                            one flat pass over rowPtr
// With rowPtr non-decreasing, the row starts counted by E are distinct positions of [1, nnz), and a
// position k is a row start exactly when entry k is the first of its row; so every descent D counts
// lies at a row start (columns strictly increasing within every row) exactly when D == E.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "numkern/blas1.hpp"
#include "numkern/common.hpp"
#include "numkern/linalg.hpp"

namespace numkern {
namespace {

// rowPtr non-decreasing (with rowPtr[0] = 0 and rowPtr[nrows] = nnz, checked by the caller, every
// pointer then lies in [0, nnz]), and E above. Reads stay in bounds whatever rowPtr holds: the start
// position is clamped into [1, nnz - 1] and the term masked (needs nnz >= 2).
NK_CLONES bool row_starts(int32_t nrows, const int32_t* __restrict rowPtr, int32_t nnz, const int32_t* __restrict colIdx,
                          uint32_t& excused) {
  uint32_t bad = 0, e = 0;
  for (int32_t r = 0; r < nrows; ++r) {
    const int32_t s = rowPtr[r], t = rowPtr[r + 1];
    bad += t < s;
    const int32_t q = std::min(std::max(s, 1), nnz - 1);
    e += (t > s) & (s >= 1) & (colIdx[q] <= colIdx[q - 1]);
  }
  excused = e;
  return bad == 0;
}

// D above, and every column in [0, ncols) (a negative one read as unsigned is >= 2^31 > ncols).
NK_CLONES uint32_t descents(int32_t nnz, const int32_t* __restrict colIdx, uint32_t ncols, uint32_t& outside) {
  uint32_t d = 0, o = static_cast<uint32_t>(colIdx[0]) >= ncols;
  for (int32_t k = 1; k < nnz; ++k) {
    d += colIdx[k] <= colIdx[k - 1];
    o += static_cast<uint32_t>(colIdx[k]) >= ncols;
  }
  outside = o;
  return d;
}

bool structure_ok(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, int64_t ncols) {
  const uint32_t nc = static_cast<uint32_t>(std::min<int64_t>(std::max<int64_t>(ncols, 0), int64_t{1} << 31));
  uint32_t excused = 0, outside = 0;
  if (nnz < 2) {  // no row start to excuse (row_starts needs two entries to clamp into)
    bool bad = false;
    for (int32_t r = 0; r < nrows; ++r) bad |= rowPtr[r + 1] < rowPtr[r];
    return !bad && (nnz == 0 || static_cast<uint32_t>(colIdx[0]) < nc);
  }
  if (!row_starts(nrows, rowPtr, nnz, colIdx, excused)) return false;
  const uint32_t d = descents(nnz, colIdx, nc, outside);
  return outside == 0 && d == excused;
}

// Every row stores its diagonal entry, and it is > 0 (a loop per row: only relax asks for it, once per
// solve).
template <class T>
bool diagonal_ok(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values) {
  bool bad = false;
  for (int32_t r = 0; r < nrows; ++r) {
    bool diag = false;
    for (int32_t k = rowPtr[r]; k < rowPtr[r + 1]; ++k) diag |= (colIdx[k] == r) & (values[k] > T(0));
    bad |= !diag;
  }
  return !bad;
}

}  // namespace

template <class T>
bool csr_canonical(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, const T* values,
                   int64_t ncols, int flags, double bound) {
  if (nrows < 0 || nnz < 0 || rowPtr[0] != 0 || rowPtr[nrows] != nnz) return false;
  if (!structure_ok(nrows, rowPtr, nnz, colIdx, ncols)) return false;
  if ((flags & kCsrPositiveDiagonal) && !diagonal_ok(nrows, rowPtr, colIdx, values)) return false;
  const size_t n = static_cast<size_t>(nnz);
  // With kCsrBounded the scan refuses non-finite values too: stricter than asked, which can only send a
  // call to the JS scan (a verdict here may be false where JS passes, never the other way round).
  if (flags & kCsrBounded) return first_beyond(n, values, bound) < 0;
  return !(flags & kCsrFinite) || first_nonfinite(n, values) < 0;
}

template bool csr_canonical<float>(int32_t, const int32_t*, int32_t, const int32_t*, const float*, int64_t, int, double);
template bool csr_canonical<double>(int32_t, const int32_t*, int32_t, const int32_t*, const double*, int64_t, int,
                                    double);

}  // namespace numkern
