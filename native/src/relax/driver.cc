// The driver: stationary(), cg() and ssorCg() of the oracle (src/backends/js/relax.ts), resumable
// between chunks (relax.hpp), over any operator of csr_operator.hpp / stencil_operator.hpp.
#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <vector>

#include "blocked_sums.hpp"
#include "csr_operator.hpp"
#include "eisenstat.hpp"
#include "eisenstat_pair.hpp"
#include "internal.hpp"
#include "numkern/parallel.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"
#include "redblack.hpp"
#include "stencil_operator.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// kStarted of an SSOR-CG solve whose r̂ and p̂ are in its pair layout's storage order (ssor_cg_pair).
constexpr double kStartedPair = 2;

namespace {

template <class Op>
struct Driver {
  const Op& A;
  const Settings& s;
  const Coloring* col;
  const double* b;
  double* x;
  Work& w;
  int nt;        // threads for the passes over A (its entries and rows: kWorkGrain)
  int nt_vec;    // threads for the passes over vectors alone (rows: kRowGrain)
  bool checker;  // sor-redblack on a stencil coloured as the checkerboard: no order array needed
  mutable BadIndexFlag bad{};  // set by any pass that met a bad index: the solve stops (BadIndex)

  int64_t n() const { return A.n(); }

  /// r := b − A x; ‖r‖ with the blocked sum of squares.
  double residual(double* r) const {
    const int64_t N = n();
    std::vector<double> part(static_cast<size_t>(nblocks(N)));
    over_blocks(N, nt, [&](int64_t i0, int64_t i1, int64_t k) {
      double ss = 0;
      bad.note(A.rows(i0, i1, x, r, [&](int64_t i, double rs) {
        const double ri = b[i] - rs;
        r[i] = ri;
        ss += ri * ri;
      }));
      part[static_cast<size_t>(k)] = ss;
    });
    return std::sqrt(sum_partials(part));
  }

  void multiply(const double* p, double* q) const {
    over_blocks(n(), nt, [&](int64_t i0, int64_t i1, int64_t) {
      bad.note(A.rows(i0, i1, p, q, [&](int64_t i, double rs) { q[i] = rs; }));
    });
  }

  /// q = A p and pᵀq, every block summed in row order from +0 and the blocks in order (blocked_dot's
  /// sum). When the blocks fall unevenly on the threads (a CSR matrix of few, long rows: bcsstk16's
  /// 4,884 rows of ~60 entries are two blocks, 4,096 rows and 788), q is computed over row ranges of
  /// equal work (cuts) and pᵀq by blocked_dot after the join; otherwise fused, a block at a time. Same bits.
  double multiply_dot(const double* p, double* q, std::vector<double>& part, const std::vector<int32_t>& cuts) const {
    if (!cuts.empty()) {
      parallel_run(nt, [&](int t, int) {
        const int64_t i0 = cuts[static_cast<size_t>(t)], i1 = cuts[static_cast<size_t>(t) + 1];
        bad.note(A.rows(i0, i1, p, q, [&](int64_t i, double rs) { q[i] = rs; }));
      });
      return blocked_dot(n(), p, q, nt_vec);
    }
    over_blocks(n(), nt, [&](int64_t i0, int64_t i1, int64_t kb) {
      double s = 0;
      bad.note(A.rows_dot(i0, i1, p, q, s));
      part[static_cast<size_t>(kb)] = s;
    });
    return sum_partials(part);
  }

  /// The row cuts multiply_dot runs on, or none where whole blocks share the work within 10 %.
  std::vector<int32_t> work_cuts() const {
    std::vector<int32_t> cuts;
    if constexpr (std::is_same_v<Op, Csr>) {
      if (nt < 2) return cuts;
      const int32_t* ptr = A.A.row_ptr;
      const auto work = [&](int64_t r) { return static_cast<double>(ptr[r]) - static_cast<double>(ptr[0]) + static_cast<double>(r); };
      const auto nb = static_cast<size_t>(nblocks(n()));
      double worst = 0;
      for (int t = 0; t < nt; ++t) {
        size_t b0, b1;
        even_split(nb, t, nt, b0, b1);
        const int64_t r0 = std::min<int64_t>(n(), static_cast<int64_t>(b0) * kSumBlock);
        const int64_t r1 = std::min<int64_t>(n(), static_cast<int64_t>(b1) * kSumBlock);
        worst = std::max(worst, work(r1) - work(r0));
      }
      if (worst > 1.1 * work(n()) / nt) balanced_cuts(ptr, static_cast<int32_t>(n()), nt, cuts);
    }
    return cuts;
  }

  template <class F>
  void elementwise(F&& f) const {
    over_blocks(n(), nt_vec, [&](int64_t i0, int64_t i1, int64_t) {
      for (int64_t i = i0; i < i1; ++i) f(i);
    });
  }

  /// Whether redblack() can do two sweeps in one pass: a 2-D stencil coloured as the checkerboard.
  bool fuses_sweeps() const {
    if constexpr (IsStencil<Op>::value) return checker && A.A.dim == 2;
    return false;
  }

  /// `sweeps` multicolour sweeps (two only where fuses_sweeps()); false when an index was bad (a
  /// missing colouring counts as one).
  bool redblack(double omega, int sweeps) const {
    if constexpr (IsStencil<Op>::value) {
      if (checker) {
        checker_sweep(A, b, x, omega, nt, sweeps);
        return true;
      }
    }
    return col != nullptr && colour_sweep(A, *col, b, x, omega, nt);
  }

  /// Ends the solve with `status` and the true residual of x; a bad index met while computing that
  /// residual makes the status BadIndex, since the figure is then meaningless.
  int finish(double* st, int status, double* scratch) const {
    st[kFinal] = residual(scratch);
    if (bad.set()) status = BadIndex;
    st[kStatus] = status;
    return status;
  }

  /// Computes r_0 and the test's target on the first call; the status that ends the solve there, or
  /// Running.
  int start(double* st, double* r, double* scratch) const {
    if (st[kStarted] != 0) return Running;
    const double nrm0 = residual(r);
    if (bad.set()) return finish(st, BadIndex, scratch);
    st[kStarted] = 1;
    st[kIter] = 0;
    st[kNrm0] = nrm0;
    st[kTarget] = s.relative ? s.tol * nrm0 : s.tol;
    st[kNrm] = nrm0;
    if (nrm0 <= st[kTarget]) return finish(st, Converged, scratch);
    return Running;
  }

  /// Whether the residual is tested after update k.
  bool is_check(int64_t k) const { return k % s.check_every == 0 || k == s.max_iter; }

  /// The test after update k (when k is a check): converged, diverged, or keep going (Running).
  /// Divergence is the oracle's rule, ‖r‖ > DIVERGENCE_FACTOR·‖r_0‖ or not finite; CG's curvature
  /// test is not part of it (Breakdown).
  int test(double* st, int64_t k, double nrm, double* scratch) const {
    if (!is_check(k)) return Running;
    st[kNrm] = nrm;
    if (nrm <= st[kTarget]) return finish(st, Converged, scratch);
    if (!(nrm <= kDivergenceFactor * st[kNrm0])) return finish(st, Diverged, scratch);
    return Running;
  }

  int step(double* st, int64_t max_updates) const {
    if (st[kStatus] != Running) return static_cast<int>(st[kStatus]);
    double* r = w.r;
    if (bad.set()) return finish(st, BadIndex, r);  // found before the first pass (diagonal, split)
    if (s.method == Cg || s.method == JacobiCg) return cg(st, max_updates);
    if (s.method == SsorCg) return ssor_cg(st, max_updates);
    if (const int status = start(st, r, r); status != Running) return status;
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    const double omega = s.method == GaussSeidel ? 1 : s.omega;
    while (k < stop) {
      bool ok = true;
      switch (s.method) {
        case Jacobi:
          // x ← x + ω D⁻¹ (b − A x): after a check r already holds the residual of this x.
          if (k % s.check_every != 0) residual(r);
          elementwise([&](int64_t i) { x[i] = jacobi_update(x[i], omega, r[i], A.diag(i)); });
          break;
        case Ssor:
          ok = A.sweep_forward(b, x, omega) && A.sweep_backward(b, x, omega);
          break;
        case SorRedBlack:
          // Two sweeps in one pass over memory when no test falls between them.
          if (fuses_sweeps() && k + 2 <= stop && !is_check(k + 1)) {
            ok = redblack(omega, 2);
            ++k;
          } else {
            ok = redblack(omega, 1);
          }
          break;
        default:
          ok = A.sweep_forward(b, x, omega);
      }
      bad.note(ok);
      if (bad.set()) return finish(st, BadIndex, r);
      ++k;
      st[kIter] = static_cast<double>(k);
      if (is_check(k)) {
        const double nrm = residual(r);
        if (bad.set()) return finish(st, BadIndex, r);
        const int status = test(st, k, nrm, r);
        if (status != Running) return status;
      }
    }
    return k >= s.max_iter ? finish(st, MaxIter, r) : Running;
  }

  int64_t last_update(int64_t k, int64_t max_updates) const {
    return max_updates >= s.max_iter - k ? s.max_iter : k + max_updates;
  }

  /// cg of the oracle, plain or preconditioned by the diagonal (JacobiCg: z = D⁻¹r, with z = r and
  /// rᵀz = ‖r‖² when plain). Between calls the state carries rᵀz (kRz).
  int cg(double* st, int64_t max_updates) const {
    const bool jacobi = s.method == JacobiCg;
    double* r = w.r;
    double* z = jacobi ? w.z : w.r;
    double* p = w.p;
    double* q = w.q;
    const int64_t N = n();
    const auto precondition = [&] {
      if (jacobi) elementwise([&](int64_t i) { z[i] = jacobi_precondition(r[i], A.diag(i)); });
    };
    if (st[kStarted] == 0) {
      if (const int status = start(st, r, q); status != Running) return status;
      precondition();
      std::copy(z, z + N, p);
      st[kRz] = blocked_dot(N, r, z, nt_vec);
    }
    double rz = st[kRz];
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    // Two fused passes per update instead of five: q = A p with pᵀq, then the x, r (and z) updates with
    // rᵀr (and rᵀz). Each partial is summed over its block in row order, as blocked_dot sums it, so the
    // bits are the oracle's; the fusion only saves passes over the vectors and thread fork-joins.
    const int64_t nb = nblocks(N);
    std::vector<double> part_a(static_cast<size_t>(nb)), part_b(static_cast<size_t>(nb));
    const std::vector<int32_t> cuts = work_cuts();
    while (k < stop) {
      const double pq = multiply_dot(p, q, part_a, cuts);
      if (bad.set()) return finish(st, BadIndex, q);
      // pᵀAp ≤ 0 (or NaN): A is not SPD and CG has broken down.
      if (!(pq > 0)) return finish(st, Breakdown, q);
      const double alpha = rz / pq;
      over_blocks(N, nt_vec, [&](int64_t i0, int64_t i1, int64_t kb) {
        double srr = 0, srz = 0;
        for (int64_t i = i0; i < i1; ++i) {
          x[i] = cg_step_x(x[i], alpha, p[i]);
          r[i] = cg_step_r(r[i], alpha, q[i]);
          srr += r[i] * r[i];
          if (jacobi) {
            z[i] = jacobi_precondition(r[i], A.diag(i));
            srz += r[i] * z[i];
          }
        }
        part_a[static_cast<size_t>(kb)] = srr;
        part_b[static_cast<size_t>(kb)] = srz;
      });
      ++k;
      st[kIter] = static_cast<double>(k);
      const double rr = sum_partials(part_a);
      const double rz_new = jacobi ? sum_partials(part_b) : rr;
      // The recurrence residual decides convergence; the true one is reported (finish()).
      const int status = test(st, k, std::sqrt(rr), q);
      if (status != Running) return status;
      const double beta = rz_new / rz;
      rz = rz_new;
      st[kRz] = rz;
      elementwise([&](int64_t i) { p[i] = cg_direction(z[i], beta, p[i]); });
    }
    return k >= s.max_iter ? finish(st, MaxIter, q) : Running;
  }

  /// ssorCg of the oracle. Between calls the state carries ρ = r̂ᵀD̃r̂ (kRz) and the β not yet applied to
  /// p̂ (kBeta): the direction update is the first thing the next backward pass does.
  int ssor_cg(double* st, int64_t max_updates) const {
    if constexpr (std::is_same_v<Op, Csr>)
      if (const PairLayout* P = A.pair()) return ssor_cg_pair(*P, st, max_updates);
    // r̂ and p̂ in a pair layout's order, and no layout: A is not the matrix the solve started on.
    if (st[kStarted] == kStartedPair) return finish(st, BadIndex, w.q);
    const DiagScale<Op> g(A, s.omega, nt);
    if (const int status = ssor_cg_start(st, g); status != Running) return status;
    double* r = w.r;
    double* rh = w.z;
    double* ph = w.p;
    double* at = w.q;
    double* t = w.t;
    double* v = w.v;
    const int64_t N = n();
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    const int64_t nb = nblocks(N);
    std::vector<double> part_rho(static_cast<size_t>(nb)), part_rr(static_cast<size_t>(nb)), part_pq(static_cast<size_t>(nb));
    while (k < stop) {
      eisenstat_backward(A, g, rh, ph, t, st[kBeta]);
      const double pq = eisenstat_forward(A, g, ph, t, v, at, part_pq.data())
                            ? sum_partials(part_pq)
                            : blocked_sum(N, nt, [&](int64_t i) { return eisenstat_pq_term(ph[i], t[i], v[i]); });
      const int status = ssor_cg_update(st, k, pq, [&](double alpha) {
        over_blocks(N, nt, [&](int64_t i0, int64_t i1, int64_t kb) {
          eisenstat_step(g, i0, i1, alpha, t, v, at, x, rh, r, part_rho[static_cast<size_t>(kb)], part_rr[static_cast<size_t>(kb)]);
        });
        return std::make_pair(sum_partials(part_rho), sum_partials(part_rr));
      });
      if (status != Running) return status;
    }
    return k >= s.max_iter ? finish(st, MaxIter, at) : Running;
  }

  /// r_0, r̂_0 = (D̃ + L)⁻¹ r_0, p̂ = 0 and ρ on the first call (natural order); the status that ends the
  /// solve there, or Running.
  int ssor_cg_start(double* st, const DiagScale<Op>& g) const {
    if (st[kStarted] != 0) return Running;
    double* rh = w.z;
    if (const int status = start(st, w.r, w.q); status != Running) return status;
    lower_solve(A, g, w.r, rh);
    std::fill(w.p, w.p + n(), 0.0);
    st[kRz] = blocked_sum(n(), nt, [&](int64_t i) { return eisenstat_rho_term(rh[i], g.dtil(i)); });
    st[kBeta] = 0;
    return Running;
  }

  /// The rest of SSOR-CG's update k once p̂ᵀÂp̂ is known: α, the step (step(α) returns the new ρ and rᵀr),
  /// the test and β. Running, or the status that ended the solve.
  template <class Step>
  int ssor_cg_update(double* st, int64_t& k, double pq, Step&& step) const {
    // p̂ᵀÂp̂ ≤ 0 (or NaN): A is not SPD and CG has broken down.
    if (!(pq > 0)) return finish(st, Breakdown, w.q);
    const auto [rho_new, rr] = step(st[kRz] / pq);
    ++k;
    st[kIter] = static_cast<double>(k);
    const int status = test(st, k, std::sqrt(rr), w.q);
    if (status != Running) return status;
    st[kBeta] = rho_new / st[kRz];
    st[kRz] = rho_new;
    return Running;
  }

  /// ssor_cg on a pair layout (eisenstat_pair.hpp): r̂ and p̂ are put in its storage order once per solve
  /// (kStarted becomes kStartedPair), t, v and A t are written in it by every pass; x and r stay natural.
  int ssor_cg_pair(const PairLayout& P, double* st, int64_t max_updates) const {
    const int64_t N = n();
    if (st[kStarted] == 0) {
      if (const int status = ssor_cg_start(st, DiagScale<Op>(A, s.omega, nt)); status != Running) return status;
    }
    if (st[kStarted] != kStartedPair) {
      for (double* y : {w.z, w.p}) pair_to_storage(P, y, w.t);
      st[kStarted] = kStartedPair;
    }
    // d̃ and ω/a_ii in storage order, with DiagScale's roundings, and the sums' terms.
    const std::unique_ptr<double[]> scratch(new double[3 * static_cast<size_t>(N)]);
    double* dt = scratch.get();
    double* wd = dt + N;
    for (int64_t k = 0; k < N; ++k) {
      dt[k] = P.diag[static_cast<size_t>(k)] / s.omega;
      wd[k] = s.omega / P.diag[static_cast<size_t>(k)];
    }
    const PairVectors V{dt, wd, w.z, w.p, w.t, w.v, w.q, w.r, x, wd + N};
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    const int64_t nb = nblocks(N);
    std::vector<double> part_rho(static_cast<size_t>(nb)), part_rr(static_cast<size_t>(nb)), part_pq(static_cast<size_t>(nb));
    while (k < stop) {
      pair_passes(P, V, st[kBeta], part_pq.data(), nt >= 2);
      const int status = ssor_cg_update(st, k, sum_partials(part_pq), [&](double alpha) {
        pair_step(P, V, alpha, part_rho.data(), part_rr.data(), nt >= 2);
        return std::make_pair(sum_partials(part_rho), sum_partials(part_rr));
      });
      if (status != Running) return status;
    }
    return k >= s.max_iter ? finish(st, MaxIter, w.q) : Running;
  }
};

/// A pass's work in kWorkGrain's units: a CSR matrix's entries and rows; a stencil row counts as a 5-point one.
size_t pass_work(const Csr& A) { return static_cast<size_t>(A.nnz) + static_cast<size_t>(A.n()); }
template <class Op>
size_t pass_work(const Op& A) {
  return kRowUnits * static_cast<size_t>(A.n());
}

/// indices_ok false: something derived from the index arrays before the driver (the diagonal, the
/// split) met a bad index, and the solve stops before its first pass.
template <class Op>
int run_step(const Op& A, const Settings& s, const Coloring* col, const double* b, double* x, Work& w, double* st,
             int64_t max_updates, int threads, bool indices_ok = true) {
  int nt = plan_threads(threads, pass_work(A), kWorkGrain);
  int nt_vec = plan_threads(threads, static_cast<size_t>(A.n()), kRowGrain);
  // SSOR-CG whose triangular passes both run on the calling thread keeps its step there too. Split over
  // two threads, the step (a fifth of an iteration) hands half of every vector to the other core and the
  // next pass fetches it back: CSR Poisson 512², 2 threads, 158-168 ms with the step on one thread against
  // 168-215 ms on two (same bits: the sums' blocks do not depend on the thread count); equal at 1024².
  if constexpr (std::is_same_v<Op, Csr>)
    if (s.method == SsorCg && A.tri != nullptr && A.pair() == nullptr) nt = 1;
  bool checker = false;
  if constexpr (IsStencil<Op>::value) checker = s.method == SorRedBlack && col != nullptr && checkerboard(A, *col);
  const Driver<Op> d{A, s, col, b, x, w, nt, std::min(nt, nt_vec), checker};
  d.bad.note(indices_ok);
  return d.step(st, max_updates);
}

}  // namespace
}  // namespace detail

Work work_layout(int method, double* work, int64_t n) {
  const auto at = [&](int k) { return work + k * n; };
  if (method == SsorCg) return Work{at(0), at(1), at(2), at(3), at(4), at(5)};
  if (method == Cg) return Work{at(0), nullptr, at(1), at(2), nullptr, nullptr};
  if (method == JacobiCg) return Work{at(0), at(1), at(2), at(3), nullptr, nullptr};
  return Work{at(0), nullptr, nullptr, nullptr, nullptr, nullptr};
}

namespace {
/// Rows from which SSOR-CG's passes take two threads, over a pair layout (pair_layout.hpp), where the
/// matrix has one. Below it a pass is too short for the hand-overs between the threads to pay.
constexpr int64_t kPairRows = 1 << 18;
bool two_thread_passes(int64_t n, int threads) {
  return n >= kPairRows && plan_threads(threads, static_cast<size_t>(n), detail::kRowGrain) >= 2;
}
}  // namespace

std::shared_ptr<const CsrSsorSplit> csr_ssor_split(const CsrOp& A, int threads, bool lanes) {
  return std::make_shared<const CsrSsorSplit>(A, detail::csr_entries(A.row_ptr, A.n, A.nnz), two_thread_passes(A.n, threads), lanes);
}

bool csr_ssor_split_fits(const CsrSsorSplit& split, int64_t n, int threads) { return split.two_threads == two_thread_passes(n, threads); }

int relax_step(const CsrOp& op, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads, const CsrSsorSplit* split) {
  using detail::Csr;
  CsrOp A = op;
  const int32_t nnz = detail::csr_entries(A.row_ptr, A.n, A.nnz);
  bool ok = true;
  std::vector<int32_t> diag_pos;
  std::vector<double> diag;
  if (A.diag_pos == nullptr || A.diag == nullptr) {
    diag_pos.resize(static_cast<size_t>(A.n));
    diag.resize(static_cast<size_t>(A.n));
    ok = csr_find_diagonal(A.n, A.row_ptr, A.col_idx, A.values, diag_pos.data(), diag.data(), nnz);
    A.diag_pos = diag_pos.data();
    A.diag = diag.data();
  } else {
    // The caller's diagonal is checked as csr_find_diagonal checks its own: a row without one would
    // have Jacobi divide by 0 (the sweeps and the split check diag_pos themselves).
    for (int32_t i = 0; i < A.n; ++i) ok = ok && A.diag_pos[i] >= 0;
  }
  if (s.method != SsorCg || !ok)
    return detail::run_step(Csr(A, nnz), s, coloring, b, x, w, state, max_updates, threads, ok);
  // A caller's split was made from this same immutable A; without one (or with the layout of another
  // thread count) this call splits A itself. A solve whose vectors are in a pair layout's order keeps it.
  const bool two = state[kStarted] == detail::kStartedPair || two_thread_passes(A.n, threads);
  std::optional<CsrSsorSplit> own;
  if (split == nullptr || split->two_threads != two) split = &own.emplace(A, nnz, two, false);
  const detail::CsrTriangles& tri = split->tri;
  return detail::run_step(Csr(A, nnz, &tri), s, coloring, b, x, w, state, max_updates, threads, tri.ok());
}

int relax_step(const StencilOp& A, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads) {
  using namespace detail;
  if (A.dim == 3) {
    if (A.variable) return run_step(Sten3v(A), s, coloring, b, x, w, state, max_updates, threads);
    return run_step(Sten3c(A), s, coloring, b, x, w, state, max_updates, threads);
  }
  if (A.variable) return run_step(Sten2v(A), s, coloring, b, x, w, state, max_updates, threads);
  return run_step(Sten2c(A), s, coloring, b, x, w, state, max_updates, threads);
}

}  // namespace relax
}  // namespace numkern
