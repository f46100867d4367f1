// SSOR-CG's triangular passes over a CSR split (eisenstat.hpp) taken eight rows at a time, one AVX-512
// lane per row, the rows ordered by level (numkern/relax_levels.hpp) so that the eight of a step never
// read one another.
//
// Why (docs/relax.md §7.1): in natural order a pass is one chain through the rows. Row i's last term
// reads the value row i − 1 has just produced, so each row waits a multiply, a subtraction and a
// multiply for the one before; where i − 1 is not row i's last neighbour (half the rows of the 3-D FEM
// matrices) the register hand-over of the chained pass mispredicts instead. Rows of one level are
// independent, so here a step is eight rows' worth of work and nothing waits on the step before it
// within a level.
//
// Each lane computes its row exactly as eisenstat_forward_row / eisenstat_backward_row do
// (numkern/relax_rows.hpp): the same operations in the same order, without fused multiply-adds
// (numkern_core is built with -ffp-contract=off), padded slots masked out. A row reads only rows of
// earlier levels, so it reads the values a natural-order pass would give it: the passes' bits are the
// natural order's, and so are SSOR-CG's iterates and counts.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// One pass's rows, level by level, in chunks of eight. Chunk c holds rows row[8c .. 8c + live[c]) of one
/// level; its other lanes duplicate its first lane (row, length and entries); its slot k holds entry k of each
/// lane's row, in the order the split stores them (ascending left of the diagonal, descending right of
/// it), lane l at col/val[8·(slot[c] + k) + l]. A lane's slots past its row length hold column 0 and value
/// 0 and are masked out (len). The rows of a level are sorted by length, longest first, so few slots pad.
struct PassLanes {
  std::vector<int32_t> row, len;  // 8 per chunk
  std::vector<int32_t> live;      // rows in each chunk, 1..8
  std::vector<int32_t> slot;      // chunks + 1 offsets, in slots
  std::vector<int32_t> col;
  std::vector<double> val;
  int32_t chunks() const { return static_cast<int32_t>(live.size()); }
};

/// The layout of the forward (fwd: part is the split's lower part) or backward (its upper part) pass of an
/// n-row split, or null when an entry lies on the wrong side of its row's diagonal (raw input: the
/// natural-order pass stays the definition, and runs), and, unless any_cpu, when the CPU lacks AVX-512 or
/// the levels hold too few rows on average or the chunks more padding than twice the entries, for eight
/// lanes to pay (the chained pass is then the faster), or the matrix has over 2¹⁵ rows.
std::unique_ptr<PassLanes> pass_lanes(int32_t n, const CsrSplit::Part& part, bool fwd, bool any_cpu = false);

/// The diagonal factors of the passes for one ω, in their layouts' lane order (8 lanes per chunk, factor
/// by factor): backward d̃_i and ω/a_ii; forward a_ii − 2d̃_i, a_ii − d̃_i and ω/a_ii, each rounded as the
/// row functions round it, so a chunk loads them as vectors instead of row by row.
struct LaneScale {
  std::vector<double> bwd, fwd;
  LaneScale() = default;
  LaneScale(const PassLanes* upper, const PassLanes* lower, const double* aii, const double* dt, const double* wd);
};

/// eisenstat_backward_row for every row of L (the upper part's layout), level by level. portable: the
/// scalar loop over the same layout (the same bits; for the standalone test on any CPU).
void lanes_backward(const PassLanes& L, const LaneScale& g, double beta, const double* rh, double* ph, double* t,
                    bool portable = false);

/// eisenstat_forward_row for every row of L (the lower part's layout), level by level.
void lanes_forward(const PassLanes& L, const LaneScale& g, const double* ph, const double* t, double* v, double* at,
                   bool portable = false);

}  // namespace detail
}  // namespace relax
}  // namespace numkern
