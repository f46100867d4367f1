// Level-1 element logic shared by the CPU kernels (native/src/blas1.cc) and the CUDA launchers.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "numkern/common.hpp"

namespace numkern {

/// Finite means the exponent field is not all ones (IEEE 754 §3.4); read as integers so that no
/// floating-point flag or fast-math assumption can change the verdict, and so the test vectorizes.
NK_HD NK_FORCEINLINE bool finite_bits(double v) {
  uint64_t u;
  std::memcpy(&u, &v, 8);
  return (u & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}
NK_HD NK_FORCEINLINE bool finite_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return (u & 0x7f800000u) != 0x7f800000u;
}

/// y := α x + y, one element (BLAS axpy). α is rounded to T first, as in saxpy/daxpy.
template <class T>
NK_HD inline T axpy_element(T alpha, T x, T y) {
  return alpha * x + y;
}

/// One term of Σ x_i y_i. Always in double: an f32 product is exact in double (24 + 24 < 53 bits), so
/// f32 dot products lose accuracy only to the summation.
template <class T>
NK_HD inline double dot_term(T x, T y) {
  return static_cast<double>(x) * static_cast<double>(y);
}

/// One term of a scaled sum of squares: (x · s1 · s2)², s1 and s2 powers of two (exact scaling). The
/// scale 2^-e of nrm2 is applied as two factors because e spans [-1073, 1024] and 2^1073 overflows.
template <class T>
NK_HD inline double sq_term(T x, double s1, double s2) {
  const double v = (static_cast<double>(x) * s1) * s2;
  return v * v;
}

// ‖x‖₂ without overflow or harmful underflow. The fast path sums x_i² in double in one pass; it is
// exact enough when
//   (a) the sum is finite (no overflow: any f32 input is safe, since (3.4e38)² = 1.2e77 < 1.8e308), and
//   (b) the sum is >= n · 2^-1021: each term loses at most 2^-1074 to underflow, so n terms lose at most
//       n · 2^-1074, a relative error below 2^-53 of a sum that large.
// Otherwise a second pass rescales by a power of two near max|x_i| (exact scaling, no divisions), the
// idea of Blue's algorithm (ACM TOMS 4(1), 1978) and LAPACK's dnrm2 (Anderson, ACM TOMS 44(1), 2017),
// with max|x_i| found in its own pass instead of Blue's three accumulators.

/// Whether the one-pass sum of squares `ssq` of n terms can be used as is (NaN passes: NaN in, NaN out).
NK_HD inline bool nrm2_fast_path_ok(double ssq, size_t n) {
  if (ssq != ssq) return true;
  if (ssq > 1.79769313486231570815e308) return false;  // overflowed to +inf
  return ssq >= static_cast<double>(n) * 4.4501477170144027662e-308;  // n · 2^-1021
}

/// Exponent e with max|x_i| = m·2^e, m in [0.5, 1): scaling by 2^-e keeps every scaled square <= 1
/// and the largest >= 1/4, so the scaled sum neither overflows nor loses the terms that matter.
NK_HD inline int nrm2_scale_exponent(double amax) {
  int e = 0;
  (void)std::frexp(amax, &e);
  return e;
}

/// The two factors (s1, s2) with s1 · s2 = 2^-e, each within the double range.
NK_HD inline void nrm2_scale_factors(int e, double& s1, double& s2) {
  const int h = -e / 2;
  s1 = std::ldexp(1.0, h);
  s2 = std::ldexp(1.0, -e - h);
}

/// Combines max|x_i| and the scaled sum Σ(x_i · 2^-e)² into ‖x‖₂ = 2^e · sqrt(Σ).
NK_HD inline double nrm2_finish(double amax, double scaled_ssq, int e) {
  if (!(amax > 0)) return amax == 0 ? 0.0 : amax;  // all zeros, or NaN propagated
  if (amax > 1.79769313486231570815e308) return amax;  // an infinite element
  return std::ldexp(std::sqrt(scaled_ssq), e);
}

/// Pairwise sum of the block partials p[0 .. n) on the host, shared by the CPU and CUDA reductions so
/// both combine partials in the same order: error O(log n · eps) instead of O(n · eps).
inline double pairwise_sum(const double* p, size_t n) {
  if (n <= 8) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += p[i];
    return s;
  }
  const size_t h = n / 2;
  return pairwise_sum(p, h) + pairwise_sum(p + h, n - h);
}

}  // namespace numkern
