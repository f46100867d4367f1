// Host checks of the device top-k's per-row logic (numkern/frechet_lanes.hpp, run by native/cuda/frechet.cu):
// labels dealt to 1, 3 or 32 lane heaps over several score blocks, then merged, against a full sort under
// the op's order (ascending score, exact ties to the smaller label, NaN last), with and without bias.
#pragma once

#undef NDEBUG  // the checks are plain asserts: never compiled out
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "numkern/frechet_lanes.hpp"

namespace frechet_lanes_test {

using namespace numkern::frechet;

template <class T>
void check(int lanes, int32_t cap, bool use_bias, uint32_t seed) {
  const int64_t cols = 300, blocks = 3, N = cols * blocks;
  const int32_t offset = 11;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  uint32_t x = seed * 2654435761u + 7;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  // Few distinct values (many exact ties), a few NaN.
  std::vector<T> C(static_cast<size_t>(N)), bias(static_cast<size_t>(N));
  for (auto& v : C) v = next() % 53 == 0 ? nan : static_cast<T>(next() % 40) / 4;
  for (auto& v : bias) v = static_cast<T>(next() % 3);
  std::vector<T> s(static_cast<size_t>(lanes) * cap);
  std::vector<int32_t> id(s.size()), count(static_cast<size_t>(lanes), 0);
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int l = 0; l < lanes; ++l) {
      TopkRow<T> r{s.data() + static_cast<size_t>(l) * cap, id.data() + static_cast<size_t>(l) * cap, count[l], cap};
      offer_lane(C.data() + blk * cols, use_bias ? bias.data() + blk * cols : static_cast<const T*>(nullptr), cols, lanes,
                 l, offset + static_cast<int32_t>(blk * cols), r, nan);
      count[l] = r.count;
    }
  const TopkRow<T> r = merge_lanes(s.data(), id.data(), count.data(), lanes, cap);
  // The reference: every (score, label), fully sorted.
  std::vector<std::pair<T, int32_t>> all;
  for (int64_t j = 0; j < N; ++j) all.emplace_back(use_bias ? C[j] + bias[j] : C[j], offset + static_cast<int32_t>(j));
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return ranks_before(a.first, a.second, b.first, b.second); });
  assert(r.count == cap);
  for (int32_t q = 0; q < cap; ++q) {
    assert(r.id[q] == all[static_cast<size_t>(q)].second);
    const T want = all[static_cast<size_t>(q)].first;
    assert(r.s[q] == want || (std::isnan(r.s[q]) && std::isnan(want)));
  }
}

inline void run_all() {
  for (int lanes : {1, 3, 32})
    for (int32_t cap : {1, 5, 64, 900})
      for (bool bias : {false, true}) {
        check<float>(lanes, cap, bias, static_cast<uint32_t>(lanes * 1000 + cap));
        check<double>(lanes, cap, bias, static_cast<uint32_t>(lanes * 1000 + cap + 1));
      }
}

}  // namespace frechet_lanes_test
