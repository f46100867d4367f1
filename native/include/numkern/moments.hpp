// Per-segment moments of a ragged batch, shared by the CPU kernel (native/src/moments.cc) and the CUDA
// launcher. Accumulation is in double for both f32 and f64 inputs.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"

namespace numkern {

struct Moments {
  double sum;
  double mean;
  double variance;
};

/// Sum, mean and variance of v[0 .. count) with divisor count − ddof.
///
/// Two passes, the second with the correction term of the "corrected two-pass algorithm"
/// (Chan, Golub, LeVeque, "Algorithms for computing the sample variance", Am. Stat. 37(3), 1983):
///   mean = Σ v_i / n,  d_i = v_i − mean,
///   variance = (Σ d_i² − (Σ d_i)² / n) / (n − ddof)
/// The correction removes most of the rounding error left in the mean. Four independent partial sums
/// per pass break the add latency chain on long segments.
/// Conventions (ops.ts): an empty segment gives 0, 0, 0; count <= ddof gives variance 0.
template <class T>
NK_HD inline Moments segment_moments(const T* v, int32_t count, double ddof) {
  if (count <= 0) return Moments{0.0, 0.0, 0.0};
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int32_t i = 0;
  for (; i + 4 <= count; i += 4) {
    s0 += static_cast<double>(v[i]);
    s1 += static_cast<double>(v[i + 1]);
    s2 += static_cast<double>(v[i + 2]);
    s3 += static_cast<double>(v[i + 3]);
  }
  for (; i < count; ++i) s0 += static_cast<double>(v[i]);
  const double sum = (s0 + s1) + (s2 + s3);
  const double n = static_cast<double>(count);
  const double mean = sum / n;
  if (n <= ddof) return Moments{sum, mean, 0.0};

  double q0 = 0, q1 = 0, q2 = 0, q3 = 0, c = 0;
  i = 0;
  for (; i + 4 <= count; i += 4) {
    const double d0 = static_cast<double>(v[i]) - mean;
    const double d1 = static_cast<double>(v[i + 1]) - mean;
    const double d2 = static_cast<double>(v[i + 2]) - mean;
    const double d3 = static_cast<double>(v[i + 3]) - mean;
    q0 += d0 * d0;
    q1 += d1 * d1;
    q2 += d2 * d2;
    q3 += d3 * d3;
    c += (d0 + d1) + (d2 + d3);
  }
  for (; i < count; ++i) {
    const double d = static_cast<double>(v[i]) - mean;
    q0 += d * d;
    c += d;
  }
  const double var = (((q0 + q1) + (q2 + q3)) - c * c / n) / (n - ddof);
  // Rounding can leave a tiny negative value for constant data; NaN must still propagate.
  return Moments{sum, mean, var < 0 ? 0.0 : var};
}

}  // namespace numkern
