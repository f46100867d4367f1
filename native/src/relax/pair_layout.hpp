// SSOR-CG's triangular passes on two threads over a CSR matrix (docs/relax.md §7.2): the rows shared
// between two threads, each thread's rows and their entries stored contiguously, every row computed
// exactly as in natural order.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// Every row belongs to one of two threads: on a grid-like numbering (rows coupled to the row before them
/// in long runs, "chains": the grid lines) thread 0 owns the first half of every chain and thread 1 the
/// second; on any other connected numbering (a mesh generator's Z-order) the graph is cut in two and
/// thread 0's side closed under the forward pass's reads (pair_layout.cc, cut_owners). In storage,
/// thread 0's rows come first (positions [0, n0)), then thread 1's ([n0, n)), each thread's in natural
/// order, with every column index renumbered to storage; a row keeps its entries in the order the natural
/// passes take them, so it rounds as it does there. A pass runs each thread over its own rows in order
/// (backward: in reverse), a run of consecutive natural rows at a time, waiting before a run until the
/// other thread has finished the rows that run reads. On a grid's chains, and in any cut, thread 0's
/// forward pass never waits and thread 1 follows it; the backward pass is the mirror image. On two
/// cores each thread then streams its own memory, where the natural order's two threads shared every
/// cache line and ran no faster than one (docs/relax.md §7.2).
struct PairLayout {
  /// Natural rows [i0, i0 + len), stored at [k0, k0 + len), all of one thread's. A forward pass starts the
  /// run once the other thread has finished its rows below storage position need_fwd; a backward pass
  /// once it has finished those at need_bwd and above.
  struct Run {
    int32_t i0, k0, len, need_fwd, need_bwd;
  };
  int32_t n = 0, n0 = 0;
  std::vector<int32_t> sto;  // natural row → storage position
  std::vector<int32_t> nat;  // storage position → natural row
  std::vector<int32_t> lower_ptr, lower_col, upper_ptr, upper_col;
  std::vector<double> lower_val, upper_val, diag;  // CsrSplit's parts, and the diagonal, in storage order
  std::vector<Run> runs;                           // in natural order
  std::vector<int32_t> mine[2];                    // each thread's runs, indices into runs, in order

  int32_t begin(int t) const { return t == 0 ? 0 : n0; }
  int32_t end(int t) const { return t == 0 ? n0 : n; }
  CsrSplit split() const {
    return CsrSplit{n, {lower_ptr.data(), lower_col.data(), lower_val.data()},
                    {upper_ptr.data(), upper_col.data(), upper_val.data()}};
  }
};

/// The layout of a matrix whose natural split (strict triangles in pass order, columns checked) is S and
/// whose diagonal is diag, or null where it would not pay: where neither split's passes, simulated with
/// a cost per entry and per hand-over, run 1.25× faster on two threads than on one (a graph that is not
/// connected gets no cut).
std::unique_ptr<PairLayout> pair_layout(const CsrSplit& S, const double* diag);

}  // namespace detail
}  // namespace relax
}  // namespace numkern
