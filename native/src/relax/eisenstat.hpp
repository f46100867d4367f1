// SSOR-CG in Eisenstat's form (ssorCg of the oracle; S. C. Eisenstat, SIAM J. Sci. Stat. Comput. 2
// (1981); docs/relax.md §1.4): per iteration one backward solve with D̃ + U and one forward solve
// with D̃ + L, D̃ = D/ω, and no product with A. Both passes are sequential; the row pieces are in
// numkern/relax_rows.hpp. On CSR the passes read only the private split (csr_triangles.hpp), so they
// need no index checks of their own.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "blocked_sums.hpp"
#include "eisenstat_lanes.hpp"
#include "numkern/common.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// Whether Op's passes may have lane layouts (eisenstat_lanes.hpp): it has pass_lanes(fwd).
template <class Op, class = void>
struct HasPassLanes : std::false_type {};
template <class Op>
struct HasPassLanes<Op, std::void_t<decltype(std::declval<const Op&>().pass_lanes(true))>> : std::true_type {};

/// d̃_i = a_ii/ω and ω/a_ii, divided once per chunk instead of per row and pass (the same roundings as
/// the oracle's per-row divisions); one scalar of each for a constant diagonal. Where the passes have
/// lane layouts, also their factors in lane order.
template <class Op>
struct DiagScale {
  static constexpr bool kConstant = Op::constant_diagonal();
  std::vector<double> dt, wd;
  double cdt = 0, cwd = 0;
  LaneScale lanes;

  DiagScale(const Op& A, double w, int nt) {
    if constexpr (kConstant) {
      cdt = A.diag(0) / w;
      cwd = w / A.diag(0);
    } else {
      dt.resize(static_cast<size_t>(A.n()));
      wd.resize(static_cast<size_t>(A.n()));
      over_blocks(A.n(), nt, [&](int64_t i0, int64_t i1, int64_t) {
        for (int64_t i = i0; i < i1; ++i) {
          dt[static_cast<size_t>(i)] = A.diag(i) / w;
          wd[static_cast<size_t>(i)] = w / A.diag(i);
        }
      });
      if constexpr (HasPassLanes<Op>::value)
        if (A.pass_lanes(true) != nullptr || A.pass_lanes(false) != nullptr)
          lanes = LaneScale(A.pass_lanes(false), A.pass_lanes(true), A.A.diag, dt.data(), wd.data());
    }
  }
  NK_FORCEINLINE double dtil(int64_t i) const {
    if constexpr (kConstant) return cdt;
    else return dt[static_cast<size_t>(i)];
  }
  NK_FORCEINLINE double wdiv(int64_t i) const {
    if constexpr (kConstant) return cwd;
    else return wd[static_cast<size_t>(i)];
  }
};

/// (D̃ + L) y = u.
template <class Op>
void lower_solve(const Op& A, const DiagScale<Op>& g, const double* u, double* y);

/// p̂ ← D̃ r̂ + β p̂ (the previous iteration's direction update), then (D̃ + U) t = p̂.
template <class Op>
void eisenstat_backward(const Op& A, const DiagScale<Op>& g, const double* rh, double* ph, double* t, double beta);

/// r̂ᵀD̃r̂'s term of row i as the oracle's ssorCg sums it.
NK_FORCEINLINE double eisenstat_rho_term(double rh, double dt) { return rh * (dt * rh); }

/// p̂ᵀÂp̂'s term of row i as the oracle's ssorCg sums it: p̂ᵀ(t + v) row by row.
NK_FORCEINLINE double eisenstat_pq_term(double ph, double t, double v) { return ph * (t + v); }

/// (D̃ + L) v = p̂ + (D − 2D̃) t, and from the same entries A t = p̂ + (D − D̃) t + L t. Returns true when
/// the pass also summed p̂ᵀ(t + v) into pq_blocks (nblocks(n) entries, each block's sum in row order from
/// +0, as blocked_sum has them); false when the caller must sum it.
template <class Op>
bool eisenstat_forward(const Op& A, const DiagScale<Op>& g, const double* ph, const double* t, double* v, double* at,
                       double* pq_blocks);

/// Rows [i0, i1) of SSOR-CG's step (ssor_cg in driver.cc): x += α t, r̂ ← r̂ − α (t + v), r −= α A t, and
/// the rows' sums of r̂ᵀD̃r̂ (sr) and rᵀr (srr), each in row order from +0 (one block of blocked_sum).
template <class Op>
void eisenstat_step(const DiagScale<Op>& g, int64_t i0, int64_t i1, double alpha, const double* t, const double* v,
                    const double* at, double* x, double* rh, double* r, double& sr, double& srr);

}  // namespace detail
}  // namespace relax
}  // namespace numkern
