// SSOR-CG's triangular passes over a CSR matrix: the matrix split at the diagonal into private copies
// (checked as they are copied), with the passes' two-thread layout and their lane layouts.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "eisenstat_lanes.hpp"
#include "pair_layout.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// What SSOR-CG's triangular passes read of a CSR matrix: the entries left of the diagonal and those
/// right of it, each part in its own arrays in the order its pass visits them (the right part from the
/// last row back, each row's entries descending), so each pass streams half the matrix, forward in
/// memory, instead of all of it. Also, for two threads, the passes' pair layout (pair_layout.hpp), and
/// their lane layouts (eisenstat_lanes.hpp).
///
/// The copies are private, so their indices are checked once, while copying: a row range outside
/// [0, nnz], a diag_pos outside its row or a column outside [0, n) leaves ok() false, and the solve
/// must then stop (BadIndex) without using the copies.
class CsrTriangles {
 public:
  std::vector<int32_t> lower_ptr, lower_col, upper_ptr, upper_col;
  std::vector<double> lower_val, upper_val;
  std::unique_ptr<PairLayout> pair;                     // two threads, where the rows allow it
  std::unique_ptr<PassLanes> lower_lanes, upper_lanes;  // the passes by level in lanes, where they pay

  /// A's diag_pos must be set; nnz bounds the row ranges (relax.hpp, CsrOp::nnz). two_threads: also
  /// the pair layout; lanes: also the passes' lane layouts where they pay.
  CsrTriangles(const CsrOp& A, int32_t nnz, bool two_threads, bool lanes);
  bool ok() const { return lower_ok_ && upper_ok_; }
  /// The view the row pieces read (relax_rows.hpp); only meaningful when ok().
  CsrSplit split() const {
    return CsrSplit{n_, {lower_ptr.data(), lower_col.data(), lower_val.data()},
                    {upper_ptr.data(), upper_col.data(), upper_val.data()}};
  }

 private:
  int64_t n_;
  bool lower_ok_ = true, upper_ok_ = true;  // each part is built (and flagged) by its own thread

  bool build_lower(const CsrOp& A, int32_t nnz, bool lanes);
  bool build_upper(const CsrOp& A, int32_t nnz, bool lanes);
};

}  // namespace detail

/// relax.hpp's opaque split: the triangles, and whether they were made for two threads.
struct CsrSsorSplit {
  detail::CsrTriangles tri;
  bool two_threads;
  CsrSsorSplit(const CsrOp& A, int32_t nnz, bool two, bool lanes) : tri(A, nnz, two, lanes), two_threads(two) {}
};

}  // namespace relax
}  // namespace numkern
