// Standalone checks of SSOR-CG's two-thread passes over a pair layout (native/src/relax/pair_layout.hpp):
// the chain halves of a grid and the cuts of a Z-ordered one give one thread's bits, whole, chunked and
// moving between thread counts. Included by native_test.cc after relax_test.hpp (make_problem, solve,
// ssor_cg_chunks).
#pragma once

#undef NDEBUG  // the checks are plain asserts, some with the call under test inside: never compiled out
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <utility>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"
#include "relax_test.hpp"

namespace relax_pair_test {

using namespace numkern::relax;
using relax_test::all_finite;
using relax_test::make_problem;
using relax_test::Outcome;
using relax_test::Problem;
using relax_test::same_bits;
using relax_test::solve;
using relax_test::ssor_cg_chunks;

/// SSOR-CG on two threads over a pair layout (n ≥ 2¹⁸ rows; native/src/relax/pair_layout.hpp) gives the
/// bits of one thread: whole, chunked (a split made per chunk), started on two threads and finished on
/// one, and on a "pair" of threads that OpenMP gives one thread (nested in a parallel region), which
/// runs both passes on the calling thread in natural order over the storage-order rows.
inline void test_ssor_cg_pair() {
  const Problem probs[] = {make_problem(2, 515, 511, 1, true), make_problem(3, 70, 64, 60, true)};
  for (const Problem& P : probs) {
    assert(P.n >= (1 << 18));
    const CsrOp A = P.csr();
    const Outcome one = solve(A, P.n, nullptr, SsorCg, 1, int64_t{1} << 40, 9, 0);
    assert(one.status == MaxIter && one.state[kIter] == 9 && one.state[kStarted] == 1 && all_finite(one.x));
    const Outcome two = solve(A, P.n, nullptr, SsorCg, 2, int64_t{1} << 40, 9, 0);
    assert(two.state[kStarted] == 2);  // it did run on the pair layout
    assert(same_bits(one, two));
    assert(same_bits(one, solve(A, P.n, nullptr, SsorCg, 2, 4, 9, 0)));
    // Four updates on two threads, the rest on one: the state keeps the layout's order.
    assert(same_bits(one, ssor_cg_chunks(A, P.n, 9, 4, [](int chunk) { return chunk == 0 ? 2 : 1; })));
#if defined(NUMKERN_HAVE_OPENMP)
    Outcome nested;
    const int levels = omp_get_max_active_levels();
    omp_set_max_active_levels(1);
#pragma omp parallel num_threads(2)
    {
      if (omp_get_thread_num() == 0) nested = solve(A, P.n, nullptr, SsorCg, 2, int64_t{1} << 40, 9, 0);
    }
    omp_set_max_active_levels(levels);
    assert(same_bits(one, nested));
#endif
  }
}

/// P's CSR renumbered along a Z-order (Morton) curve of its grid, as a mesh generator numbers nodes
/// (src/relax/fem.ts); with `copies` > 1, that many disjoint copies of it, one after another.
inline Problem zorder_copy(const Problem& P, int copies = 1) {
  const int nx = P.sten.nx, ny = P.sten.ny, dim = P.sten.dim, n1 = P.n;
  const auto key = [&](int32_t i) {
    const uint32_t c[3] = {static_cast<uint32_t>(i % nx), static_cast<uint32_t>((i / nx) % ny), static_cast<uint32_t>(i / nx / ny)};
    uint64_t o = 0;
    for (int b = 0; b < 16; ++b)
      for (int a = 0; a < dim; ++a) o |= static_cast<uint64_t>((c[a] >> b) & 1u) << (dim * b + a);
    return o;
  };
  std::vector<int32_t> old(static_cast<size_t>(n1)), pos(static_cast<size_t>(n1));
  for (int i = 0; i < n1; ++i) old[static_cast<size_t>(i)] = i;
  std::sort(old.begin(), old.end(), [&](int32_t a, int32_t b) { return key(a) < key(b); });
  for (int u = 0; u < n1; ++u) pos[static_cast<size_t>(old[static_cast<size_t>(u)])] = u;
  Problem Z;
  Z.n = n1 * copies;
  Z.row_ptr.push_back(0);
  for (int c = 0; c < copies; ++c)
    for (int u = 0; u < n1; ++u) {
      const int32_t i = old[static_cast<size_t>(u)];
      std::vector<std::pair<int32_t, double>> row;
      for (int32_t p = P.row_ptr[i]; p < P.row_ptr[i + 1]; ++p)
        row.emplace_back(c * n1 + pos[static_cast<size_t>(P.col_idx[p])], P.values[p]);
      std::sort(row.begin(), row.end());
      for (const auto& [j, v] : row) {
        Z.col_idx.push_back(j);
        Z.values.push_back(v);
      }
      Z.row_ptr.push_back(static_cast<int32_t>(Z.col_idx.size()));
    }
  return Z;
}

/// A Z-ordered grid has no grid lines to halve: its pair layout is a cut of the graph (pair_layout.hpp),
/// and SSOR-CG on it gives one thread's bits, whole and chunked, in 2-D and 3-D. Two disjoint copies of
/// a grid are not connected, so no cut is made, and two threads run the passes in natural order on one.
inline void test_ssor_cg_pair_cut() {
  for (const Problem& Z : {zorder_copy(make_problem(2, 515, 511, 1, true)), zorder_copy(make_problem(3, 66, 64, 63, true))}) {
    assert(Z.n >= (1 << 18));
    const CsrOp A = Z.csr();
    const Outcome one = solve(A, Z.n, nullptr, SsorCg, 1, int64_t{1} << 40, 9, 0);
    assert(one.status == MaxIter && one.state[kStarted] == 1 && all_finite(one.x));
    const Outcome two = solve(A, Z.n, nullptr, SsorCg, 2, int64_t{1} << 40, 9, 0);
    assert(two.state[kStarted] == 2);
    assert(same_bits(one, two));
    assert(same_bits(one, solve(A, Z.n, nullptr, SsorCg, 2, 4, 9, 0)));
    assert(same_bits(one, ssor_cg_chunks(A, Z.n, 9, 4, [](int chunk) { return chunk == 0 ? 2 : 1; })));
  }

  const Problem D = zorder_copy(make_problem(2, 363, 362, 1, true), 2);
  assert(D.n >= (1 << 18));
  const CsrOp B = D.csr();
  const Outcome lone = solve(B, D.n, nullptr, SsorCg, 1, int64_t{1} << 40, 5, 0);
  const Outcome pair = solve(B, D.n, nullptr, SsorCg, 2, int64_t{1} << 40, 5, 0);
  assert(pair.state[kStarted] == 1);
  assert(same_bits(lone, pair));
}

inline void run_all() {
  test_ssor_cg_pair();
  test_ssor_cg_pair_cut();
}

}  // namespace relax_pair_test
