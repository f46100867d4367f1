// SSOR-CG's iteration over a PairLayout (pair_layout.hpp): both triangular passes and the step on two
// threads, and the sums, whose terms are added in natural order so that every sum rounds as the oracle's.
// x and r stay in natural order; SSOR-CG's other vectors (r̂, p̂, t, v, A t) and the diagonal factors are
// in storage order.
#pragma once

#include <cstdint>

#include "pair_layout.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// SSOR-CG's vectors while an iteration runs (x and r natural, the rest in storage order), and term, n
/// doubles for the terms of a sum (storage order).
struct PairVectors {
  const double* dt;
  const double* wd;
  double *rh, *ph, *t, *v, *at, *r, *x, *term;
};

/// p̂ ← D̃ r̂ + β p̂ and (D̃ + U) t = p̂, then (D̃ + L) v = p̂ + (D − 2D̃) t with A t, as eisenstat_backward and
/// eisenstat_forward compute them; pq_blocks[k] gets block k's sum of p̂ᵀ(t + v), in natural order. On
/// two threads when `two` and two can be had, else on this one.
void pair_passes(const PairLayout& P, const PairVectors& V, double beta, double* pq_blocks, bool two);

/// SSOR-CG's step (eisenstat_step's updates), and each block's sums of r̂ᵀD̃r̂ and rᵀr into sr and srr; on
/// two threads when `two` and two can be had.
void pair_step(const PairLayout& P, const PairVectors& V, double alpha, double* sr, double* srr, bool two);

/// y ← y in storage order (y[sto[i]] = y_i), with scratch (n doubles) as the copy.
void pair_to_storage(const PairLayout& P, double* y, double* scratch);

}  // namespace detail
}  // namespace relax
}  // namespace numkern
