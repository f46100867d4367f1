// Whether CSR arrays are canonical: the checks of checkCsr (src/core/validate.ts), in one pass over
// memory at native speed, so that a façade call validates the whole matrix every time (no cache to
// go stale after an in-place edit) for a fraction of the product's own cost. Only the verdict is
// computed here; on `false` the façade reruns its own scan, which names the first violation.
#include <cstdint>
#include <cstring>

#include "numkern/common.hpp"
#include "numkern/linalg.hpp"

namespace numkern {
namespace {

// Rows: columns in [0, ncols) and strictly increasing. Branch-free per entry (the verdict is folded
// into one flag), so the loop runs at the speed of reading colIdx.
NK_CLONES bool columns_ok(int32_t nrows, const int32_t* rowPtr, const int32_t* colIdx, int64_t ncols) {
  bool bad = false;
  for (int32_t r = 0; r < nrows; ++r) {
    const int32_t b = rowPtr[r], e = rowPtr[r + 1];
    if (b == e) continue;
    bad |= colIdx[b] < 0;
    for (int32_t k = b + 1; k < e; ++k) bad |= colIdx[k] <= colIdx[k - 1];
    bad |= static_cast<int64_t>(colIdx[e - 1]) >= ncols;
  }
  return !bad;
}

// Finite means the exponent field is not all ones (IEEE 754 §3.4); read as integers so that no
// floating-point flag or fast-math assumption can change the verdict.
NK_CLONES bool finite_f64(size_t n, const double* v) {
  uint64_t hit = 0;
  for (size_t i = 0; i < n; ++i) {
    uint64_t u;
    std::memcpy(&u, v + i, 8);
    hit |= static_cast<uint64_t>((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull);
  }
  return hit == 0;
}

NK_CLONES bool finite_f32(size_t n, const float* v) {
  uint32_t hit = 0;
  for (size_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, v + i, 4);
    hit |= static_cast<uint32_t>((u & 0x7f800000u) == 0x7f800000u);
  }
  return hit == 0;
}

}  // namespace

template <class T>
bool csr_canonical(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, const T* values,
                   int64_t ncols, bool finite) {
  if (nrows < 0 || nnz < 0 || rowPtr[0] != 0 || rowPtr[nrows] != nnz) return false;
  // Row pointers first, so the column pass below stays inside [0, nnz).
  bool bad = false;
  for (int32_t r = 0; r < nrows; ++r) bad |= rowPtr[r + 1] < rowPtr[r];
  if (bad || !columns_ok(nrows, rowPtr, colIdx, ncols)) return false;
  if (!finite) return true;
  if constexpr (sizeof(T) == 8) return finite_f64(static_cast<size_t>(nnz), reinterpret_cast<const double*>(values));
  else return finite_f32(static_cast<size_t>(nnz), reinterpret_cast<const float*>(values));
}

template bool csr_canonical<float>(int32_t, const int32_t*, int32_t, const int32_t*, const float*, int64_t, bool);
template bool csr_canonical<double>(int32_t, const int32_t*, int32_t, const int32_t*, const double*, int64_t, bool);

}  // namespace numkern
