// SSOR-CG's triangular passes over a CSR matrix: the matrix split at the diagonal into private copies
// (checked as they are copied), and the two-thread pipeline that runs a sequential pass.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "eisenstat_lanes.hpp"
#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// A sequential triangular pass over CSR rows, run on two threads as a pipeline. The rows, in pass
/// order (row i of a backward pass is n − 1 − i), are cut into chains: runs of rows each coupled to the
/// one before it, the grid lines of a 2-D grid. Each chain is cut in half; thread 0 solves the first
/// halves in order, thread 1 the second halves, and a half waits only until the other thread has
/// finished the halves its rows read. On a grid, the first half of line c + 1 reads only first halves,
/// so thread 0 runs ahead while thread 1 follows one half-line behind. Every row still comes after each
/// row it reads, so a pass gives exactly the values of natural order.
struct PipePlan {
  std::vector<int32_t> start;   // chain c = pass-order rows [start[c], start[c + 1])
  std::vector<int32_t> need_a;  // the first half of chain c waits for thread 1 to finish chain need_a[c]
  std::vector<int32_t> need_b;  // the second half of chain c waits for thread 0 to finish chain need_b[c]
  bool usable = false;          // false: natural order on one thread

  int32_t mid(int32_t c) const { return start[c] + (start[c + 1] - start[c]) / 2; }
};

/// Calls f(pass-order index) for every row: the plan's two-thread pipeline, or natural order.
template <class F>
void pipelined(const PipePlan& P, int32_t n, F&& f) {
  const int32_t chains = static_cast<int32_t>(P.start.size()) - 1;
  std::atomic<int32_t> done[2] = {{-1}, {-1}};  // last chain whose half each thread has finished
  const auto lane = [&](int t) {
    const std::vector<int32_t>& need = t == 0 ? P.need_a : P.need_b;
    for (int32_t c = 0; c < chains; ++c) {
      for (unsigned spins = 0; done[1 - t].load(std::memory_order_acquire) < need[c]; ++spins) {
        if (spins > 4096) std::this_thread::yield();  // the other thread may have been descheduled
      }
      const int32_t k0 = t == 0 ? P.start[c] : P.mid(c), k1 = t == 0 ? P.mid(c) : P.start[c + 1];
      for (int32_t k = k0; k < k1; ++k) f(k);
      done[t].store(c, std::memory_order_release);
    }
  };
  if (P.usable && run_pair(lane)) return;
  for (int32_t k = 0; k < n; ++k) f(k);
}

/// What SSOR-CG's triangular passes read of a CSR matrix: the entries left of the diagonal and those
/// right of it, each part in its own arrays in the order its pass visits them (the right part from the
/// last row back, each row's entries descending), so each pass streams half the matrix, forward in
/// memory, instead of all of it. Also the passes' two-thread plans and their lane layouts
/// (eisenstat_lanes.hpp).
///
/// The copies are private, so their indices are checked once, while copying: a row range outside
/// [0, nnz], a diag_pos outside its row or a column outside [0, n) leaves ok() false, and the solve
/// must then stop (BadIndex) without using the copies.
class CsrTriangles {
 public:
  std::vector<int32_t> lower_ptr, lower_col, upper_ptr, upper_col;
  std::vector<double> lower_val, upper_val;
  PipePlan lower_plan, upper_plan;
  std::unique_ptr<PassLanes> lower_lanes, upper_lanes;  // the passes by level in lanes, where they pay

  /// A's diag_pos must be set; nnz bounds the row ranges (relax.hpp, CsrOp::nnz). lanes: also make the
  /// passes' lane layouts where they pay.
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

  bool build_lower(const CsrOp& A, int32_t nnz, bool plan, bool lanes);
  bool build_upper(const CsrOp& A, int32_t nnz, bool plan, bool lanes);
};

}  // namespace detail

/// relax.hpp's opaque split: the triangles and the thread count their plans were made for.
struct CsrSsorSplit {
  detail::CsrTriangles tri;
  bool two_threads;
  CsrSsorSplit(const CsrOp& A, int32_t nnz, bool two, bool lanes) : tri(A, nnz, two, lanes), two_threads(two) {}
};

}  // namespace relax
}  // namespace numkern
