// Per-element helpers of the streaming log-softmax that the device forward (native/cuda/pg.cu) is built
// from, next to the block helpers of pg_logits.hpp (exp2_any, pick, lse_fold, lse_finish) that it shares
// with the CPU kernel. Host-tested in native/test/pg_element_test.hpp.
//
// The CPU kernel (native/src/pg/logits.cc) reads a block of kLogitsBlock elements twice from L1 (max,
// then sums). A GPU thread has no L1 block of its own to re-read: each of a row's threads (a "lane")
// reads every blockDim-th element once, G at a time, and keeps a running maximum m of what it has seen
// (an online log-sum-exp, Milakov & Gimelshein 2018, "Online normalizer calculation for softmax"). A
// group of G elements is summed in the element type against the lane's current maximum, the maximal
// elements counted apart (as the CPU's block_sums does, so a peaked row keeps its relative entropy
// accuracy), and the group added to the lane's f64 sums. When a group raises the maximum, the lane's
// sums are rescaled once, in f64, as lse_fold rescales a block. The lanes of a row are then folded with
// lse_fold in a fixed tree order.
//
// Error bound (f32 elements; f64 the same with exp2_f64): each term 2^u is within 2.5 ulp at the u it is
// given and u = (x − m)·c carries 1.5 ulp; a group adds G terms in f32 (G = 8: ≤ 8·2^-24 relative), then
// f64. So S and T are within (4 + E_p|u| + G)·2^-24 relative, tighter than the CPU's 128-term lanes.
#pragma once

#include <cmath>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/pg_logits.hpp"

namespace numkern {
namespace pg {

/// A lane's share of a row: its maximum m (in x units, T), and relative to it, in log2 units
/// (u = (x − m)·c, c = log2(e)/τ): s = Σ 2^u over the elements below m, top = the elements at m,
/// t = Σ 2^u·u. Empty: m = −∞, s = t = 0, top = 0.
template <class T>
struct LaneLse {
  T m;
  double s, t;
  int32_t top;
};

template <class T>
NK_HD NK_FORCEINLINE LaneLse<T> lane_empty() {
  return LaneLse<T>{static_cast<T>(-INFINITY), 0.0, 0.0, 0};
}

/// Moves the lane to the maximum mb when mb > m: the terms so far (top included, as 2^0 each) scale by
/// 2^d, d = (m − mb)·c < 0, and t shifts by d·s (it is relative to the maximum), as lse_fold does.
/// A NaN mb leaves the lane (the NaN element itself makes s NaN when added).
template <class T>
NK_HD NK_FORCEINLINE void lane_raise(LaneLse<T>& a, T mb, double c) {
  if (!(mb > a.m)) return;
  if (a.top > 0 || a.s > 0) {
    const double d = (static_cast<double>(a.m) - static_cast<double>(mb)) * c;
    const double f = exp2_f64(d);
    const double s = a.s + static_cast<double>(a.top);
    a.t = (a.t + d * s) * f;
    a.s = s * f;
    a.top = 0;
  }
  a.m = mb;
}

/// A group's sums in the element type, against the lane's maximum.
template <class T>
struct GroupSums {
  T s, t;
  int32_t top;
};

/// Adds one element: u = (x − m)·c, 2^u to s unless u = 0 (then counted in top), 2^u·u to t (Ent).
/// A NaN or infinite x (or m) makes u NaN or ±∞ and 2^u NaN (exp2_f32 and exp2_f64 give NaN for both),
/// so s, or t, carries it to the row's check.
template <bool Ent, class T>
NK_HD NK_FORCEINLINE void group_add(GroupSums<T>& g, T x, T m, T c) {
  const T u = (x - m) * c;
  const T e = exp2_any(u);
  const bool at_max = u == T(0);
  g.s += pick(at_max, T(0), e);
  g.top += static_cast<int32_t>(at_max);
  if constexpr (Ent) g.t += e * u;
}

/// Adds a group of n elements (n ≤ G, the lane's next ones) to the lane: raise to the group's maximum,
/// then sum against it.
template <bool Ent, int G, class T>
NK_HD NK_FORCEINLINE void lane_add(LaneLse<T>& a, const T (&x)[G], int n, T c, double cd) {
  T mb = x[0];
  for (int k = 1; k < G; ++k)
    if (k < n) mb = x[k] > mb ? x[k] : mb;
  lane_raise(a, mb, cd);
  GroupSums<T> g{T(0), T(0), 0};
  for (int k = 0; k < G; ++k)
    if (k < n) group_add<Ent>(g, x[k], a.m, c);
  a.s += static_cast<double>(g.s);
  a.t += static_cast<double>(g.t);
  a.top += g.top;
}

/// Whether the lane's sums are finite (false: a non-finite element, or a difference that overflowed).
template <class T>
NK_HD NK_FORCEINLINE bool lane_ok(const LaneLse<T>& a) {
  return a.s - a.s == 0.0 && a.t - a.t == 0.0;
}

/// The lane as lse_fold's (M, S, T): z units for M, nats for T.
template <class T>
NK_HD NK_FORCEINLINE LseState lane_state(const LaneLse<T>& a, double tau) {
  if (!(a.s > 0) && a.top == 0) return lse_empty();
  return LseState{static_cast<double>(a.m) / tau, a.s + static_cast<double>(a.top), a.t * 0.69314718055994531};
}

/// Two lanes' states folded: lse_fold of b into a (either may be empty).
NK_HD NK_FORCEINLINE LseState lse_merge(LseState a, LseState b) { return lse_fold(a, b.M, b.S, b.T); }

}  // namespace pg
}  // namespace numkern
