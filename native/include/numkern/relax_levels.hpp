// Level schedules of the natural-ordering SOR sweeps (host only): the device runs 'gauss-seidel', 'sor',
// 'ssor' (native/cuda/relax.cu) as a sequence of levels whose rows are independent.
//
// Forward sweep: level(i) = 1 + max level(j) over the stored columns j < i of row i (0 if none);
// backward: the same over j > i, counted from the end. Every row a row reads updated lies in an earlier
// level, so running the levels in order, each row with the sequential sweep's row function
// (relax_rows.hpp) reading the columns not yet passed from a copy of the iterate taken before the sweep
// (csr_relax_row_split, StencilRows::relax_split), gives the sequential sweep's bits. Columns outside
// [0, n) add no dependency: the row function flags them (BadIndex) when it reads them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "numkern/common.hpp"

namespace numkern {
namespace relax {

/// Rows grouped by level: level L is order[offsets[L] .. offsets[L + 1]), ascending within a level.
struct LevelSchedule {
  std::vector<int32_t> order;
  std::vector<int64_t> offsets;  // levels + 1 entries
  int64_t levels() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

/// The schedule of a forward (fwd) or backward sweep over n rows; deps(i, emit) calls emit(j) for every
/// stored column j of row i (any j: those outside [0, n), i itself and the wrong side are ignored).
template <class Deps>
LevelSchedule level_schedule(int64_t n, bool fwd, Deps&& deps) {
  std::vector<int32_t> level(static_cast<size_t>(n), 0);
  int32_t top = -1;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = fwd ? k : n - 1 - k;
    int32_t l = 0;
    deps(i, [&](int64_t j) {
      if (j >= 0 && j < n && (fwd ? j < i : j > i)) l = std::max(l, level[static_cast<size_t>(j)] + 1);
    });
    level[static_cast<size_t>(i)] = l;
    top = std::max(top, l);
  }
  LevelSchedule s;
  s.offsets.assign(static_cast<size_t>(top) + 2, 0);
  for (int64_t i = 0; i < n; ++i) ++s.offsets[static_cast<size_t>(level[static_cast<size_t>(i)]) + 1];
  for (size_t l = 1; l < s.offsets.size(); ++l) s.offsets[l] += s.offsets[l - 1];
  std::vector<int64_t> at(s.offsets.begin(), s.offsets.end() - 1);
  s.order.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s.order[static_cast<size_t>(at[static_cast<size_t>(level[static_cast<size_t>(i)])]++)] = static_cast<int32_t>(i);
  return s;
}

/// level_schedule of a CSR matrix (n rows, nnz entries); a row range outside [0, nnz] stores nothing.
inline LevelSchedule csr_level_schedule(const int32_t* row_ptr, const int32_t* col_idx, int32_t n, int64_t nnz,
                                        bool fwd) {
  return level_schedule(n, fwd, [&](int64_t i, auto&& emit) {
    const int64_t p0 = row_ptr[i], p1 = row_ptr[i + 1];
    if (!(0 <= p0 && p0 <= p1 && p1 <= nnz)) return;
    for (int64_t p = p0; p < p1; ++p) emit(col_idx[p]);
  });
}

/// The neighbours a stencil row visits (at most 3 on a side), gathered by a functor that the NK_HD
/// visitors of StencilRows may call under nvcc too (a host lambda may not be).
struct StencilNeighbours {
  int64_t* j;
  int* count;
  NK_HD void operator()(double, int64_t col) const { j[(*count)++] = col; }
};

/// level_schedule of a stencil (StencilRows of relax_rows.hpp): its lower and upper neighbours.
template <class Rows>
LevelSchedule stencil_level_schedule(const Rows& rows, int64_t n, bool fwd) {
  return level_schedule(n, fwd, [&](int64_t i, auto&& emit) {
    int64_t j[6];
    int count = 0;
    const auto a = rows.at(i);
    rows.lower_ascending(i, a, StencilNeighbours{j, &count});
    rows.upper_descending(i, a, StencilNeighbours{j, &count});
    for (int k = 0; k < count; ++k) emit(j[k]);
  });
}

}  // namespace relax
}  // namespace numkern
