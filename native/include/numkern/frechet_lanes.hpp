// The device top-k of native/cuda/frechet.cu, per row of a score block, over frechet_topk.hpp's heaps:
// lane l of a row's `lanes` heaps takes the labels j ≡ l (mod lanes), and at the end the lanes are merged
// into lane 0's heap and sorted. NK_HD so that native/test checks the very code the device runs against a
// full sort. The top-k of a set under frechet_topk.hpp's total order is unique, so dealing labels to lanes
// changes nothing in the result.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/frechet_topk.hpp"

namespace numkern {
namespace frechet {

/// Offers scores c[j] (+ bias[j] when bias is not null, added once in T), labels label0 + j, for
/// j = l, l + lanes, ... < cols, to lane heap r. `nan` is T's quiet NaN.
template <class T>
NK_HD inline void offer_lane(const T* c, const T* bias, int64_t cols, int lanes, int l, int32_t label0, TopkRow<T>& r,
                             T nan) {
  T thr = screen(r, nan);
  for (int64_t j = l; j < cols; j += lanes) {
    const T v = bias ? c[j] + bias[j] : c[j];
    if (!(v > thr) && offer(r, v, label0 + static_cast<int32_t>(j))) thr = screen(r, nan);
  }
}

/// A row's `lanes` heaps, lane e at s + e·cap, id + e·cap with count[e] pairs, merged into lane 0's heap
/// and sorted best first; returns lane 0's row (its count pairs, ranked).
template <class T>
NK_HD inline TopkRow<T> merge_lanes(T* s, int32_t* id, const int32_t* count, int lanes, int32_t cap) {
  TopkRow<T> r{s, id, count[0], cap};
  for (int e = 1; e < lanes; ++e)
    for (int32_t q = 0; q < count[e]; ++q) offer(r, s[static_cast<int64_t>(e) * cap + q], id[static_cast<int64_t>(e) * cap + q]);
  sort_ranked(r);
  return r;
}

}  // namespace frechet
}  // namespace numkern
