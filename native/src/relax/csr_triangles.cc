// CsrTriangles: SSOR-CG's private split of a CSR matrix (csr_triangles.hpp says what it holds).
#include "csr_triangles.hpp"

#include <algorithm>

#include "numkern/csr.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

/// Row i's range [p0, p1) and diagonal position d, each read once, or false when they are not a row of
/// a CSR matrix with nnz entries. Every later step uses these values, never a second read.
bool checked_row(const CsrOp& A, int32_t nnz, int32_t i, int32_t& p0, int32_t& p1, int32_t& d) {
  d = A.diag_pos[i];
  return csr_row_range(A.row_ptr, i, nnz, p0, p1) && csr_diag_in_row(d, p0, p1);
}

/// Copies entry p of A to slot q of a part, or returns false when its column is outside [0, n).
bool copy_entry(const CsrOp& A, int32_t p, int32_t q, std::vector<int32_t>& col, std::vector<double>& val) {
  const int32_t c = A.col_idx[p];
  if (static_cast<uint32_t>(c) >= static_cast<uint32_t>(A.n)) return false;
  col[static_cast<size_t>(q)] = c;
  val[static_cast<size_t>(q)] = A.values[p];
  return true;
}

}  // namespace

CsrTriangles::CsrTriangles(const CsrOp& A, int32_t nnz, bool two_threads, bool lanes) : n_(A.n) {
  // The two parts are independent: on two threads each builds one.
  parallel_run(two_threads ? 2 : 1, [&](int t, int T) {
    for (int part = t; part < 2; part += T) {
      if (part == 0) lower_ok_ = build_lower(A, nnz, lanes);
      else upper_ok_ = build_upper(A, nnz, lanes);
    }
  });
  if (two_threads && ok()) pair = pair_layout(split(), A.diag);
}

/// Row i's left part: [row_ptr[i], diag_pos[i]), ascending.
bool CsrTriangles::build_lower(const CsrOp& A, int32_t nnz, bool lanes) {
  const int32_t n = A.n;
  std::vector<int32_t> first(static_cast<size_t>(n));  // where row i's part starts in A
  lower_ptr.assign(static_cast<size_t>(n) + 1, 0);
  for (int32_t i = 0; i < n; ++i) {
    int32_t p0, p1, d;
    if (!checked_row(A, nnz, i, p0, p1, d)) return false;
    first[static_cast<size_t>(i)] = p0;
    const int64_t end = static_cast<int64_t>(lower_ptr[i]) + std::max(0, d - p0);
    if (end > nnz) return false;  // rows overlap: row_ptr changed between two reads of one entry
    lower_ptr[i + 1] = static_cast<int32_t>(end);
  }
  lower_col.resize(static_cast<size_t>(lower_ptr[n]));
  lower_val.resize(lower_col.size());
  for (int32_t i = 0; i < n; ++i)
    for (int32_t q = lower_ptr[i], p = first[static_cast<size_t>(i)]; q < lower_ptr[i + 1]; ++q, ++p)
      if (!copy_entry(A, p, q, lower_col, lower_val)) return false;
  if (lanes) lower_lanes = pass_lanes(n, {lower_ptr.data(), lower_col.data(), lower_val.data()}, true);
  return true;
}

/// Row i's right part: [max(diag_pos[i] + 1, row_ptr[i]), row_ptr[i + 1]), descending, stored at
/// backward-pass position n − 1 − i.
bool CsrTriangles::build_upper(const CsrOp& A, int32_t nnz, bool lanes) {
  const int32_t n = A.n;
  std::vector<int32_t> last(static_cast<size_t>(n));  // one past the end of pass row k's part in A
  upper_ptr.assign(static_cast<size_t>(n) + 1, 0);
  for (int32_t k = 0; k < n; ++k) {
    int32_t p0, p1, d;
    if (!checked_row(A, nnz, n - 1 - k, p0, p1, d)) return false;
    last[static_cast<size_t>(k)] = p1;
    const int64_t end = static_cast<int64_t>(upper_ptr[k]) + (p1 - std::max(d + 1, p0));
    if (end > nnz) return false;
    upper_ptr[k + 1] = static_cast<int32_t>(end);
  }
  upper_col.resize(static_cast<size_t>(upper_ptr[n]));
  upper_val.resize(upper_col.size());
  for (int32_t k = 0; k < n; ++k)
    for (int32_t q = upper_ptr[k], p = last[static_cast<size_t>(k)] - 1; q < upper_ptr[k + 1]; ++q, --p)
      if (!copy_entry(A, p, q, upper_col, upper_val)) return false;
  if (lanes) upper_lanes = pass_lanes(n, {upper_ptr.data(), upper_col.data(), upper_val.data()}, false);
  return true;
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
