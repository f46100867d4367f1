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
#include <vector>

#include "numkern/blas1.hpp"
#include "numkern/common.hpp"
#include "numkern/linalg.hpp"
#include "numkern/parallel.hpp"

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

// Below this many entries + rows per thread a second thread costs more to wake than its share of the
// two flat passes saves (they run at ~0.1 ns an entry).
constexpr size_t kCheckGrain = size_t{1} << 18;

bool structure_ok(int32_t nrows, const int32_t* rowPtr, int32_t nnz, const int32_t* colIdx, int64_t ncols,
                  int threads) {
  const uint32_t nc = static_cast<uint32_t>(std::min<int64_t>(std::max<int64_t>(ncols, 0), int64_t{1} << 31));
  if (nnz < 2) {  // no row start to excuse (row_starts needs two entries to clamp into)
    bool bad = false;
    for (int32_t r = 0; r < nrows; ++r) bad |= rowPtr[r + 1] < rowPtr[r];
    return !bad && (nnz == 0 || static_cast<uint32_t>(colIdx[0]) < nc);
  }
  // Both counts are sums over disjoint ranges (rows for E, entries for D), so each thread takes a part
  // of each and the parts add up: the verdict never depends on the thread count.
  const int nt = plan_threads(threads, static_cast<size_t>(nnz) + static_cast<size_t>(nrows), kCheckGrain);
  std::vector<uint32_t> excused(static_cast<size_t>(nt)), desc(static_cast<size_t>(nt)), outside(static_cast<size_t>(nt));
  std::vector<char> rows_ok(static_cast<size_t>(nt), 0);
  parallel_run(nt, [&](int t, int) {
    size_t r0, r1, k0, k1;
    even_split(static_cast<size_t>(nrows), t, nt, r0, r1);
    even_split(static_cast<size_t>(nnz), t, nt, k0, k1);
    const auto ut = static_cast<size_t>(t);
    rows_ok[ut] = row_starts(static_cast<int32_t>(r1 - r0), rowPtr + r0, nnz, colIdx, excused[ut]);
    // Part t's entries [k0, k1) compared with the entry before each (part 0 from entry 0 on its own).
    desc[ut] = k1 > k0 ? descents(static_cast<int32_t>(k1 - k0 + (k0 > 0)), colIdx + k0 - (k0 > 0), nc, outside[ut]) : 0;
    if (k0 > 0 && k1 > k0) outside[ut] -= static_cast<uint32_t>(colIdx[k0 - 1]) >= nc;  // counted by part t - 1
  });
  uint32_t e = 0, d = 0, o = 0;
  for (size_t t = 0; t < static_cast<size_t>(nt); ++t) {
    if (!rows_ok[t]) return false;
    e += excused[t];
    d += desc[t];
    o += outside[t];
  }
  return o == 0 && d == e;
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
                   int64_t ncols, int flags, double bound, int threads) {
  if (nrows < 0 || nnz < 0 || rowPtr[0] != 0 || rowPtr[nrows] != nnz) return false;
  if (!structure_ok(nrows, rowPtr, nnz, colIdx, ncols, threads)) return false;
  if ((flags & kCsrPositiveDiagonal) && !diagonal_ok(nrows, rowPtr, colIdx, values)) return false;
  const size_t n = static_cast<size_t>(nnz);
  // With kCsrBounded the scan refuses non-finite values too: stricter than asked, which can only send a
  // call to the JS scan (a verdict here may be false where JS passes, never the other way round).
  if (flags & kCsrBounded) return first_beyond(n, values, bound) < 0;
  return !(flags & kCsrFinite) || first_nonfinite(n, values) < 0;
}

template bool csr_canonical<float>(int32_t, const int32_t*, int32_t, const int32_t*, const float*, int64_t, int, double,
                                   int);
template bool csr_canonical<double>(int32_t, const int32_t*, int32_t, const int32_t*, const double*, int64_t, int,
                                    double, int);

}  // namespace numkern
