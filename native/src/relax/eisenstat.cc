// SSOR-CG's triangular passes and its step (eisenstat.hpp), one target_clones variant per CPU level.
// The cloned functions stay local to this file, as every clone of the relax kernels is, so each ifunc is
// resolved where it is defined; the exported templates, instantiated below for every operator, only
// call them.
#include "eisenstat.hpp"

#include <algorithm>
#include <type_traits>

#include "csr_operator.hpp"
#include "internal.hpp"
#include "numkern/relax_rows.hpp"
#include "stencil_operator.hpp"

namespace numkern {
namespace relax {
namespace detail {
namespace {

template <class Op>
NK_CLONES void lower_pass(const Op& A, const DiagScale<Op>& g, const double* __restrict u, double* __restrict y) {
  A.template visit<true>([&](int64_t i, const typename Op::At& a) { lower_solve_row(A, i, a, g.wdiv(i), u, y); });
}

template <class Op>
NK_CLONES void backward_pass(const Op& A, const DiagScale<Op>& g, const double* __restrict rh,
                             double* __restrict ph, double* __restrict t, double beta) {
  if constexpr (std::is_same_v<Op, Csr>) {
    if (const PassLanes* L = A.pass_lanes(false)) return lanes_backward(*L, g.lanes, beta, rh, ph, t);
    // Natural order on this thread: each row takes t_{i+1} from the row before (relax_rows.hpp, CHAINED).
    double prev = 0;
    for (int64_t i = A.n() - 1; i >= 0; --i)
      prev = eisenstat_backward_row<true>(A.split, i, Csr::At{}, g.dtil(i), g.wdiv(i), beta, rh, ph, t, prev);
    return;
  } else {
    A.template visit<false>([&](int64_t i, const typename Op::At& a) {
      eisenstat_backward_row(A, i, a, g.dtil(i), g.wdiv(i), beta, rh, ph, t);
    });
  }
}

template <class Op>
NK_CLONES bool forward_pass(const Op& A, const DiagScale<Op>& g, const double* __restrict ph,
                            const double* __restrict t, double* __restrict v, double* __restrict at,
                            double* __restrict pq_blocks) {
  if constexpr (std::is_same_v<Op, Csr>) {
    if (const PassLanes* L = A.pass_lanes(true)) {
      lanes_forward(*L, g.lanes, ph, t, v, at);
      return false;
    }
    // In natural order p̂ᵀÂp̂'s terms come in its blocks' own order: each block's sum runs beside the
    // pass (its chain overlaps the pass's) instead of in a second pass over p̂, t and v.
    double prev = 0;
    for (int64_t i0 = 0, k = 0; i0 < A.n(); i0 += kSumBlock, ++k) {
      double s = 0;
      for (int64_t i = i0; i < std::min(A.n(), i0 + kSumBlock); ++i) {
        prev = eisenstat_forward_row<true>(A.split, i, Csr::At{}, A.diag(i), g.dtil(i), g.wdiv(i), ph, t, v, at, prev);
        s += eisenstat_pq_term(ph[i], t[i], prev);
      }
      pq_blocks[k] = s;
    }
    return true;
  } else {
    A.template visit<true>([&](int64_t i, const typename Op::At& a) {
      eisenstat_forward_row(A, i, a, A.diag(i), g.dtil(i), g.wdiv(i), ph, t, v, at);
    });
    return false;
  }
}

/// Rows per run of eisenstat_step: a run's vectors stay in L1 between its updates and its sums.
constexpr int64_t kStepRun = 256;

/// A block's sums must come in row order, one rounded add after another, so a loop that also updates
/// the vectors runs at one row per add's latency and cannot be vectorized. Here a run of rows is updated
/// first, in a loop with no sum in it (vectorized), and the run's sums follow in row order while it is
/// still in L1: the same roundings in the same order, 10–15 % less time per SSOR-CG iteration on the FEM
/// matrices (docs/relax.md §7.1). CG's step, with one sum and two updates, did not gain from the split.
template <class Op>
NK_CLONES void step_rows(const DiagScale<Op>& g, int64_t i0, int64_t i1, double alpha, const double* __restrict t,
                         const double* __restrict v, const double* __restrict at, double* __restrict x,
                         double* __restrict rh, double* __restrict r, double& sr, double& srr) {
  double s = 0, ss = 0;
  for (int64_t j0 = i0; j0 < i1; j0 += kStepRun) {
    const int64_t j1 = std::min(i1, j0 + kStepRun);
    for (int64_t i = j0; i < j1; ++i) {
      x[i] = cg_step_x(x[i], alpha, t[i]);
      rh[i] = eisenstat_step_rh(rh[i], alpha, t[i], v[i]);
      r[i] = cg_step_r(r[i], alpha, at[i]);
    }
    for (int64_t i = j0; i < j1; ++i) {
      s += eisenstat_rho_term(rh[i], g.dtil(i));
      ss += r[i] * r[i];
    }
  }
  sr = s;
  srr = ss;
}

}  // namespace

template <class Op>
void eisenstat_step(const DiagScale<Op>& g, int64_t i0, int64_t i1, double alpha, const double* t, const double* v,
                    const double* at, double* x, double* rh, double* r, double& sr, double& srr) {
  step_rows(g, i0, i1, alpha, t, v, at, x, rh, r, sr, srr);
}

template <class Op>
void lower_solve(const Op& A, const DiagScale<Op>& g, const double* u, double* y) {
  lower_pass(A, g, u, y);
}

template <class Op>
void eisenstat_backward(const Op& A, const DiagScale<Op>& g, const double* rh, double* ph, double* t, double beta) {
  backward_pass(A, g, rh, ph, t, beta);
}

template <class Op>
bool eisenstat_forward(const Op& A, const DiagScale<Op>& g, const double* ph, const double* t, double* v, double* at,
                       double* pq_blocks) {
  return forward_pass(A, g, ph, t, v, at, pq_blocks);
}

#define NK_INSTANTIATE(Op)                                                                                    \
  template void lower_solve(const Op&, const DiagScale<Op>&, const double*, double*);                         \
  template void eisenstat_backward(const Op&, const DiagScale<Op>&, const double*, double*, double*, double); \
  template bool eisenstat_forward(const Op&, const DiagScale<Op>&, const double*, const double*, double*, double*, \
                                  double*);                                                                     \
  template void eisenstat_step(const DiagScale<Op>&, int64_t, int64_t, double, const double*, const double*,     \
                               const double*, double*, double*, double*, double&, double&);
NK_RELAX_FOR_EACH_OP(NK_INSTANTIATE)
#undef NK_INSTANTIATE

}  // namespace detail
}  // namespace relax
}  // namespace numkern
