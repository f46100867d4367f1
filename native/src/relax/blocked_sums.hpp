// The oracle's blocked reductions (blockedSum / blockedDot of src/core/operator.ts): every norm and dot
// is summed in blocks of kSumBlock rows, each block in order from 0, then the block sums in block
// order, so a threaded pass reproduces the single-threaded bits exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"

namespace numkern {
namespace relax {
namespace detail {

inline int64_t nblocks(int64_t n) { return (n + kSumBlock - 1) / kSumBlock; }

/// Runs body(block_begin, block_end, block_index) over the SUM_BLOCK blocks of [0, n), each block on
/// one thread, blocks split contiguously between threads.
template <class F>
void over_blocks(int64_t n, int nt, F&& body) {
  const int64_t nb = nblocks(n);
  parallel_run(nt, [&](int t, int T) {
    size_t b0, b1;
    even_split(static_cast<size_t>(nb), t, T, b0, b1);
    for (size_t k = b0; k < b1; ++k) {
      const int64_t i0 = static_cast<int64_t>(k) * kSumBlock;
      body(i0, std::min(n, i0 + kSumBlock), static_cast<int64_t>(k));
    }
  });
}

/// Block partials added in block order from 0: blockedDot's outer sum.
inline double sum_partials(const std::vector<double>& part) {
  double total = 0;
  for (double v : part) total += v;
  return total;
}

/// blockedSum of the oracle: Σ term(i), each block in order from 0, then the block sums in order.
template <class F>
double blocked_sum(int64_t n, int nt, F&& term) {
  std::vector<double> part(static_cast<size_t>(nblocks(n)));
  over_blocks(n, nt, [&](int64_t i0, int64_t i1, int64_t k) {
    double s = 0;
    for (int64_t i = i0; i < i1; ++i) s += term(i);
    part[static_cast<size_t>(k)] = s;
  });
  return sum_partials(part);
}

inline double blocked_dot(int64_t n, const double* x, const double* y, int nt) {
  return blocked_sum(n, nt, [&](int64_t i) { return x[i] * y[i]; });
}

}  // namespace detail
}  // namespace relax
}  // namespace numkern
