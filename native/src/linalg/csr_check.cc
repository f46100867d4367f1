// Whether CSR arrays are canonical: the checks of checkCsr (src/core/validate.ts) and, on request, the
// relax family's (|values| bounded, every row's stored diagonal positive: src/relax/validate.ts), in one
// pass over memory at native speed. A façade call thus validates the whole matrix every time (no cache
// to go stale after an in-place edit) for a fraction of the cost of the product or solve it guards.
// Only the verdict is computed here; on `false` the façade reruns its own scan, which names the first
// violation.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "numkern/blas1.hpp"
#include "numkern/common.hpp"
#include "numkern/linalg.hpp"

namespace numkern {
namespace {

// Every row: columns strictly increasing from >= 0 to < ncols and, with kDiag, a stored diagonal entry
// that is > 0. Branch-free within a row (the verdict is folded into one flag).
template <class T, bool kDiag>
bool rows_ok(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int64_t ncols) {
  bool bad = false;
  for (int32_t r = 0; r < nrows; ++r) {
    const int32_t b = rowPtr[r], e = rowPtr[r + 1];
    int64_t prev = -1;
    bool diag = false;
    for (int32_t k = b; k < e; ++k) {
      const int64_t c = colIdx[k];
      bad |= c <= prev;
      prev = c;
      if constexpr (kDiag) diag |= (c == r) & (values[k] > T(0));
    }
    bad |= prev >= ncols;
    if constexpr (kDiag) bad |= !diag;
  }
  return !bad;
}

// The values on their own, in one flat pass the compiler vectorizes: finite (and, with kBound, |v| <=
// bound; NaN is left to the finite check, as in the JS check).
template <class T, bool kBound>
bool values_ok(size_t n, const T* v, double bound) {
  bool bad = false;
  for (size_t i = 0; i < n; ++i) {
    bad |= !finite_bits(v[i]);
    if constexpr (kBound) bad |= std::fabs(static_cast<double>(v[i])) > bound;
  }
  return !bad;
}

template <class T>
bool rows_ok(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, const T* values, int64_t ncols, int flags,
             double bound) {
  const bool rows = (flags & kCsrPositiveDiagonal) ? rows_ok<T, true>(nrows, rowPtr, colIdx, values, ncols)
                                                   : rows_ok<T, false>(nrows, rowPtr, colIdx, values, ncols);
  if (!rows) return false;
  const size_t nnz = static_cast<size_t>(rowPtr[nrows]);
  // With kCsrBounded the pass checks finiteness too: stricter than asked, which can only send a call to
  // the JS scan (a verdict here may be false where JS passes, never the other way round).
  if (flags & kCsrBounded) return values_ok<T, true>(nnz, values, bound);
  return !(flags & kCsrFinite) || values_ok<T, false>(nnz, values, bound);
}

}  // namespace

template <class T>
bool csr_canonical(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, const T* values,
                   int64_t ncols, int flags, double bound) {
  if (nrows < 0 || nnz < 0 || rowPtr[0] != 0 || rowPtr[nrows] != nnz) return false;
  // Row pointers first, so the pass over the entries stays inside [0, nnz).
  bool bad = false;
  for (int32_t r = 0; r < nrows; ++r) bad |= rowPtr[r + 1] < rowPtr[r];
  return !bad && rows_ok<T>(nrows, rowPtr, colIdx, values, ncols, flags, bound);
}

template bool csr_canonical<float>(int32_t, const int32_t*, int32_t, const int32_t*, const float*, int64_t, int, double);
template bool csr_canonical<double>(int32_t, const int32_t*, int32_t, const int32_t*, const double*, int64_t, int,
                                    double);

}  // namespace numkern
