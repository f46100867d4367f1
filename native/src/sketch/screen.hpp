// The screen a dense sketch pass rides on (docs/sketch.md §1): the first element of A with !(|a| ≤ limit).
// Included by native/src/sketch/apply.cc and srht_parts.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "numkern/common.hpp"

namespace numkern {
namespace {

/// Whether any of a[0, n) is NaN or has |a| > limit: bitwise ORs of compares, so the loop vectorizes
/// (a per-element branch or a short-circuit && made the screen cost more than the sketch it rides on).
template <class T>
NK_FORCEINLINE bool any_bad_body(const T* a, size_t n, double limit) {
  unsigned acc = 0;
  for (size_t c = 0; c < n; ++c) {
    const double v = static_cast<double>(a[c]);
    acc |= static_cast<unsigned>(v > limit) | static_cast<unsigned>(v < -limit) | static_cast<unsigned>(v != v);
  }
  return acc != 0;
}
NK_CLONES bool any_bad_f64(const double* a, size_t n, double limit) { return any_bad_body<double>(a, n, limit); }
NK_CLONES bool any_bad_f32(const float* a, size_t n, double limit) { return any_bad_body<float>(a, n, limit); }
inline bool any_bad(const double* a, size_t n, double limit) { return any_bad_f64(a, n, limit); }
inline bool any_bad(const float* a, size_t n, double limit) { return any_bad_f32(a, n, limit); }

/// Index of the first element of a[c0, c1) with !(|a_c| ≤ limit) (NaN, ±Inf, or past the limit), else −1.
template <class T>
NK_FORCEINLINE int64_t first_bad(const T* a, size_t c0, size_t c1, double limit) {
  if (c1 <= c0 || !any_bad(a + c0, c1 - c0, limit)) return -1;
  for (size_t c = c0; c < c1; ++c)
    if (!(std::fabs(static_cast<double>(a[c])) <= limit)) return static_cast<int64_t>(c);
  return -1;
}

/// The smallest non-negative entry, else −1.
int64_t min_found(const std::vector<int64_t>& found) {
  int64_t best = -1;
  for (const int64_t f : found)
    if (f >= 0 && (best < 0 || f < best)) best = f;
  return best;
}

}  // namespace
}  // namespace numkern
