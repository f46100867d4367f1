// Per-row arithmetic of the relaxation solvers (relax.hpp), written once for the CPU kernels
// (native/src/relax/) and the CUDA launchers (native/cuda/relax.cu): no allocation, no threads,
// nothing host-only. The .cu is built with --fmad=false, so a row gives the device the CPU's bits.
//
// Every expression here is the oracle's (src/backends/js/relax.ts) with its rounding: the operands and
// the order of the additions decide iteration counts, so none may be reordered, and numkern_core is
// built with -ffp-contract=off so no target fuses a multiply-add that JS rounds twice.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/csr.hpp"
#include "numkern/relax.hpp"

namespace numkern {
namespace relax {

/// The SOR update of the oracle (relaxForward / relaxBackward): (1 − ω)·x_i + (b_i − σ_i)·(ω/a_ii), with
/// omw = 1 − ω and wd = ω/a_ii computed by the caller as those two expressions.
NK_HD NK_FORCEINLINE double sor_update(double xi, double bi, double sigma, double omw, double wd) {
  return omw * xi + (bi - sigma) * wd;
}

/// The damped Jacobi update of the oracle: x_i + ω·(r_i / a_ii), r_i = b_i − (A x)_i of the old x.
NK_HD NK_FORCEINLINE double jacobi_update(double xi, double omega, double ri, double aii) {
  return xi + omega * (ri / aii);
}

// CG's vector updates (cg of the oracle): x ← x + α p, r ← r − α q, p ← z + β p, and the diagonal
// preconditioner z = r / a_ii (jacobi-cg).
NK_HD NK_FORCEINLINE double cg_step_x(double xi, double alpha, double pi) { return xi + alpha * pi; }
NK_HD NK_FORCEINLINE double cg_step_r(double ri, double alpha, double qi) { return ri - alpha * qi; }
NK_HD NK_FORCEINLINE double cg_direction(double zi, double beta, double pi) { return zi + beta * pi; }
NK_HD NK_FORCEINLINE double jacobi_precondition(double ri, double aii) { return ri / aii; }

// ---- CSR rows read from the caller's live arrays: every index re-checked (numkern/csr.hpp says why) ----

/// a_ip · x_{col(p)}; a column outside [0, n) reads x[0] instead and sets `bad`. A branch rather than a
/// select: predicted never taken, it keeps the x load off the column compare's dependency chain
/// (measured: the select costs ~20% on the residual of a 5-point matrix).
NK_HD NK_FORCEINLINE double csr_term(const int32_t* col_idx, const double* values, const double* x, uint32_t n,
                                     int32_t p, bool& bad) {
  uint32_t c = static_cast<uint32_t>(col_idx[p]);  // a negative index becomes >= 2^31 > n
  if (__builtin_expect(c >= n, 0)) {
    bad = true;
    c = 0;
  }
  return values[p] * x[c];
}

/// (A x)_i of CSR row i in ascending stored order from 0, as the oracle's residual sums a row. A row
/// range outside [0, nnz] reads as empty and sets `bad`.
NK_HD NK_FORCEINLINE double csr_row_sum(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                        int32_t nnz, uint32_t n, int32_t i, const double* x, bool& bad) {
  int32_t p0, p1;
  bad |= !csr_row_range(row_ptr, i, nnz, p0, p1);
  double s = 0;
  for (int32_t p = p0; p < p1; ++p) s += csr_term(col_idx, values, x, n, p, bad);
  return s;
}

/// csr_row_sum of a trusted CSR copy (relax.hpp CsrOp::trusted): the same sum in the same order, without
/// the checks its indices passed when the copy was made.
NK_HD NK_FORCEINLINE double csr_row_sum_trusted(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                                int32_t i, const double* x) {
  double s = 0;
  for (int32_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p) s += values[p] * x[col_idx[p]];
  return s;
}

/// csr_row_sum_trusted of rows i and i + 1 at once, each summed in its own order as above (the same bits):
/// two independent add chains in flight, for rows long enough that one chain is the limit.
NK_HD NK_FORCEINLINE void csr_row_sums2_trusted(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                                int32_t i, const double* x, double& s0, double& s1) {
  const int32_t a = row_ptr[i], b = row_ptr[i + 1], e = row_ptr[i + 2];
  const int32_t m = b - a < e - b ? b - a : e - b;
  double u = 0, v = 0;
  for (int32_t k = 0; k < m; ++k) {
    u += values[a + k] * x[col_idx[a + k]];
    v += values[b + k] * x[col_idx[b + k]];
  }
  for (int32_t p = a + m; p < b; ++p) u += values[p] * x[col_idx[p]];
  for (int32_t p = b + m; p < e; ++p) v += values[p] * x[col_idx[p]];
  s0 = u;
  s1 = v;
}

// The row checks below run once per row of sweeps whose rows may be independent (red-black), where
// every instruction counts: unsigned compares, one per bound (a negative value becomes >= 2^31), and
// one branch predicted never taken (csr_row_range's selects measured ~10% slower there).

/// Whether [p0, p1) is a row range of a CSR matrix with nnz >= 0 entries: 0 <= p0 <= p1 <= nnz.
NK_HD NK_FORCEINLINE bool csr_range_ok(int32_t p0, int32_t p1, int32_t nnz) {
  const uint32_t u1 = static_cast<uint32_t>(p1);
  return static_cast<uint32_t>(p0) <= u1 && u1 <= static_cast<uint32_t>(nnz);
}

/// Whether a diagonal position d lies in the row range [p0, p1) (p0 <= p1) as read now: diag_pos is
/// derived from the index arrays, so a change to them can leave it outside its row. −1 (no stored
/// diagonal) does not: validated input stores one in every row (E_ZERO_DIAGONAL), and the update would
/// divide by the 0 that stands in for it.
NK_HD NK_FORCEINLINE bool csr_diag_in_row(int32_t d, int32_t p0, int32_t p1) {
  const uint32_t u0 = static_cast<uint32_t>(p0);
  return static_cast<uint32_t>(d) - u0 < static_cast<uint32_t>(p1) - u0;
}

/// a_ip · x_{col(p)} of a sweep over row i. SPLIT (a level-scheduled sweep, relax_levels.hpp) reads the
/// columns the sweep has passed (j < i forward, j > i backward) from x and the others from xo, the iterate
/// before the sweep: rows of earlier levels may lie past i and be updated already, and a sequential sweep
/// reads those old. Not SPLIT (the sequential sweep): x alone. The same product either way, so the bits match.
template <bool FWD, bool SPLIT>
NK_HD NK_FORCEINLINE double csr_sweep_term(const int32_t* col_idx, const double* values, const double* x,
                                           const double* xo, uint32_t n, int32_t i, int32_t p, bool& bad) {
  if constexpr (!SPLIT) {
    return csr_term(col_idx, values, x, n, p, bad);
  } else {
    uint32_t c = static_cast<uint32_t>(col_idx[p]);
    if (__builtin_expect(c >= n, 0)) {
      bad = true;
      c = 0;
    }
    const bool passed = FWD ? c < static_cast<uint32_t>(i) : c > static_cast<uint32_t>(i);
    return values[p] * (passed ? x : xo)[c];
  }
}

/// σ_i of the SOR update on CSR row i, whose diagonal sits at d. Forward (FWD, relaxForward):
/// the entries right of the diagonal, then those left of it, each ascending, so x_{i−1}, updated last,
/// enters last and the row-to-row chain crosses one add. Backward (relaxBackward): the mirror, left
/// part ascending then right part descending. A row range outside [0, nnz], or a d outside the range
/// as read now (−1 included), makes the row empty and sets `bad`. SPLIT and xo: csr_sweep_term.
template <bool FWD, bool SPLIT = false>
NK_HD NK_FORCEINLINE double csr_sor_sigma(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                          int32_t nnz, uint32_t n, int32_t i, int32_t d, const double* x,
                                          const double* xo, bool& bad) {
  int32_t p0 = row_ptr[i], p1 = row_ptr[i + 1];
  if (__builtin_expect(!(csr_range_ok(p0, p1, nnz) && csr_diag_in_row(d, p0, p1)), 0)) {
    bad = true;
    p0 = p1 = 0;
    d = -1;
  }
  const int32_t right = d + 1 > p0 ? d + 1 : p0;
  double sigma = 0;
  if constexpr (FWD) {
    for (int32_t p = right; p < p1; ++p) sigma += csr_sweep_term<FWD, SPLIT>(col_idx, values, x, xo, n, i, p, bad);
    for (int32_t p = p0; p < d; ++p) sigma += csr_sweep_term<FWD, SPLIT>(col_idx, values, x, xo, n, i, p, bad);
  } else {
    for (int32_t p = p0; p < d; ++p) sigma += csr_sweep_term<FWD, SPLIT>(col_idx, values, x, xo, n, i, p, bad);
    for (int32_t p = p1 - 1; p >= right; --p) sigma += csr_sweep_term<FWD, SPLIT>(col_idx, values, x, xo, n, i, p, bad);
  }
  return sigma;
}

/// relaxForward (FWD) / relaxBackward of the oracle on CSR row i with its diagonal a_ii at d:
/// x_i ← (1 − ω)·x_i + (b_i − σ_i)·(ω/a_ii), omw = 1 − ω as the caller computed it.
template <bool FWD>
NK_HD NK_FORCEINLINE void csr_relax_row(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                        int32_t nnz, uint32_t n, int32_t i, int32_t d, double aii, const double* b,
                                        double* x, double w, double omw, bool& bad) {
  const double sigma = csr_sor_sigma<FWD>(row_ptr, col_idx, values, nnz, n, i, d, x, x, bad);
  x[i] = sor_update(x[i], b[i], sigma, omw, w / aii);
}

/// csr_relax_row on a trusted CSR copy (relax.hpp CsrOp::trusted) in a natural-order (FWD) or
/// reverse-order sweep: σ_i in csr_sor_sigma's order without its checks, and x_{i∓1}, the row updated just
/// before and the last term of σ_i when it is stored, taken from `prev` (the same double; see CHAINED
/// below). Returns the new x_i.
template <bool FWD>
NK_HD NK_FORCEINLINE double csr_relax_row_chained(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                                  int32_t i, int32_t d, double aii, const double* b, double* x,
                                                  double w, double omw, double prev) {
  const int32_t p0 = row_ptr[i], p1 = row_ptr[i + 1];
  double sigma = 0;
  if constexpr (FWD) {
    for (int32_t p = d + 1; p < p1; ++p) sigma += values[p] * x[col_idx[p]];
    for (int32_t p = p0; p < d - 1; ++p) sigma += values[p] * x[col_idx[p]];
    if (d > p0) {
      const int32_t c = col_idx[d - 1];
      if (c == i - 1) sigma += values[d - 1] * prev;
      else sigma += values[d - 1] * x[c];
    }
  } else {
    for (int32_t p = p0; p < d; ++p) sigma += values[p] * x[col_idx[p]];
    for (int32_t p = p1 - 1; p > d + 1; --p) sigma += values[p] * x[col_idx[p]];
    if (p1 > d + 1) {
      const int32_t c = col_idx[d + 1];
      if (c == i + 1) sigma += values[d + 1] * prev;
      else sigma += values[d + 1] * x[c];
    }
  }
  const double xi = sor_update(x[i], b[i], sigma, omw, w / aii);
  x[i] = xi;
  return xi;
}

/// csr_relax_row of a level-scheduled sweep: the passed rows read from x, the others from xo (the
/// iterate before the sweep; x_i is still its old value there and in x, as no row of the level writes it).
template <bool FWD>
NK_HD NK_FORCEINLINE void csr_relax_row_split(const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                                              int32_t nnz, uint32_t n, int32_t i, int32_t d, double aii,
                                              const double* b, double* x, const double* xo, double w, double omw,
                                              bool& bad) {
  const double sigma = csr_sor_sigma<FWD, true>(row_ptr, col_idx, values, nnz, n, i, d, x, xo, bad);
  x[i] = sor_update(x[i], b[i], sigma, omw, w / aii);
}

/// SSOR-CG's copy of a CSR matrix split at the diagonal (src/relax/csr_triangles.hpp builds it, checking
/// every index as it copies, so what it holds is in range): row i's entries left of the diagonal,
/// ascending, at lower [ptr[i], ptr[i + 1]); its entries right of the diagonal, descending, at
/// backward-pass position k = n − 1 − i of upper, [ptr[k], ptr[k + 1]).
struct CsrSplit {
  struct At {};  // where a row sits: nothing a CSR row needs beyond i
  struct Part {
    const int32_t* ptr;
    const int32_t* col;
    const double* val;
  };
  int64_t n;
  Part lower, upper;

  /// f(a_ij, j) for the entries stored left of the diagonal, ascending.
  template <class F>
  NK_HD NK_FORCEINLINE void lower_ascending(int64_t i, At, F&& f) const {
    for (int32_t q = lower.ptr[i]; q < lower.ptr[i + 1]; ++q) f(lower.val[q], lower.col[q]);
  }
  /// f(a_ij, j) for the entries stored right of the diagonal, descending.
  template <class F>
  NK_HD NK_FORCEINLINE void upper_descending(int64_t i, At, F&& f) const {
    const int64_t k = n - 1 - i;
    for (int32_t q = upper.ptr[k]; q < upper.ptr[k + 1]; ++q) f(upper.val[q], upper.col[q]);
  }
  /// lower_ascending / upper_descending with the last entry handed to `last` instead of f (the one a
  /// sequential pass reached most recently: column i − 1 or i + 1 when that entry is stored).
  template <class F, class G>
  NK_HD NK_FORCEINLINE void lower_ascending_last(int64_t i, F&& f, G&& last) const {
    const int32_t q0 = lower.ptr[i], q1 = lower.ptr[i + 1];
    if (q1 == q0) return;
    for (int32_t q = q0; q < q1 - 1; ++q) f(lower.val[q], lower.col[q]);
    last(lower.val[q1 - 1], lower.col[q1 - 1]);
  }
  template <class F, class G>
  NK_HD NK_FORCEINLINE void upper_descending_last(int64_t i, F&& f, G&& last) const {
    const int64_t k = n - 1 - i;
    const int32_t q0 = upper.ptr[k], q1 = upper.ptr[k + 1];
    if (q1 == q0) return;
    for (int32_t q = q0; q < q1 - 1; ++q) f(upper.val[q], upper.col[q]);
    last(upper.val[q1 - 1], upper.col[q1 - 1]);
  }
};

/// CsrSplit's view read in place from a CSR matrix whose columns increase in every row (the device's
/// SSOR-CG, native/cuda/relax.cu: its private copy was checked when it was made): the entries left of
/// the diagonal position ascending, those right of it descending, as the oracle's passes take them.
struct CsrInPlaceSplit {
  using At = CsrSplit::At;
  const int32_t* row_ptr;
  const int32_t* col_idx;
  const double* values;
  const int32_t* diag_pos;
  NK_HD NK_FORCEINLINE At at(int64_t) const { return At{}; }
  template <class F>
  NK_HD NK_FORCEINLINE void lower_ascending(int64_t i, At, F&& f) const {
    for (int32_t p = row_ptr[i]; p < diag_pos[i]; ++p) f(values[p], col_idx[p]);
  }
  template <class F>
  NK_HD NK_FORCEINLINE void upper_descending(int64_t i, At, F&& f) const {
    for (int32_t p = row_ptr[i + 1] - 1; p > diag_pos[i]; --p) f(values[p], col_idx[p]);
  }
};

// ---- stencil points (natural ordering, x fastest; Dirichlet) ----

/// Which neighbours of a point exist: −x, +x, −y, +y, −z, +z.
struct StencilAt {
  bool mx, px, my, py, mz, pz;
};

/// A stencil point's row as its CSR twin stores it (src/core/stencil.ts), columns −z, −y, −x, (diag),
/// +x, +y, +z, so that a stencil and its twin give bit-identical iterates. VAR: coefficients per point;
/// D3: a 3-D grid.
template <bool VAR, bool D3>
struct StencilRows {
  using At = StencilAt;
  StencilOp A;
  int64_t sy, sz;  // strides of y and z

  NK_HD explicit StencilRows(const StencilOp& a) : A(a), sy(a.nx), sz(static_cast<int64_t>(a.nx) * a.ny) {}

  NK_HD NK_FORCEINLINE double cf(int dir, int64_t i) const {
    if constexpr (VAR) return A.voff[static_cast<int64_t>(dir) * A.n + i];
    else return A.coff[dir];
  }
  NK_HD NK_FORCEINLINE double diag(int64_t i) const {
    if constexpr (VAR) return A.vdiag[i];
    else return A.cdiag;
  }
  NK_HD NK_FORCEINLINE At at(int64_t i) const {
    const int64_t ix = i % A.nx;
    const int64_t iy = (i / A.nx) % A.ny;
    const int64_t iz = i / sz;
    return At{ix > 0, ix < A.nx - 1, iy > 0, iy < A.ny - 1, D3 && iz > 0, D3 && iz < A.nz - 1};
  }
  /// f(a_ij, j) for the neighbours the CSR twin stores left of the diagonal, ascending: −z, −y, −x.
  template <class F>
  NK_HD NK_FORCEINLINE void lower_ascending(int64_t i, const At& a, F&& f) const {
    if (D3 && a.mz) f(cf(4, i), i - sz);
    if (a.my) f(cf(2, i), i - sy);
    if (a.mx) f(cf(0, i), i - 1);
  }
  /// f(a_ij, j) for the neighbours right of the diagonal, descending: +z, +y, +x.
  template <class F>
  NK_HD NK_FORCEINLINE void upper_descending(int64_t i, const At& a, F&& f) const {
    if (D3 && a.pz) f(cf(5, i), i + sz);
    if (a.py) f(cf(3, i), i + sy);
    if (a.px) f(cf(1, i), i + 1);
  }
  NK_HD NK_FORCEINLINE void lower(double& s, const double* x, int64_t i, const At& a) const {
    lower_ascending(i, a, [&](double c, int64_t j) { s += c * x[j]; });
  }
  NK_HD NK_FORCEINLINE void upper(double& s, const double* x, int64_t i, const At& a) const {
    if (a.px) s += cf(1, i) * x[i + 1];
    if (a.py) s += cf(3, i) * x[i + sy];
    if (D3 && a.pz) s += cf(5, i) * x[i + sz];
  }
  NK_HD NK_FORCEINLINE void upper_desc_sum(double& s, const double* x, int64_t i, const At& a) const {
    upper_descending(i, a, [&](double c, int64_t j) { s += c * x[j]; });
  }
  /// (A x)_i, ascending columns from 0 as the residual of the oracle sums a CSR row.
  NK_HD NK_FORCEINLINE double full(int64_t i, const double* x, const At& a) const {
    double s = 0;
    lower(s, x, i, a);
    s += diag(i) * x[i];
    upper(s, x, i, a);
    return s;
  }
  /// relaxForward / relaxBackward of the oracle on the CSR twin's entries (right part then left part
  /// forward; left part then right part descending backward).
  template <bool FWD = true>
  NK_HD NK_FORCEINLINE void relax_at(int64_t i, const At& a, const double* b, double* x, double w) const {
    relax_split<FWD>(i, a, b, x, x, w);
  }
  /// relax_at of a level-scheduled sweep (csr_relax_row_split): the neighbours the sweep has passed
  /// (lower forward, upper backward) read from x, the others from xo.
  template <bool FWD = true>
  NK_HD NK_FORCEINLINE void relax_split(int64_t i, const At& a, const double* b, double* x, const double* xo,
                                        double w) const {
    double sigma = 0;
    if constexpr (FWD) {
      upper(sigma, xo, i, a);
      lower(sigma, x, i, a);
    } else {
      lower(sigma, xo, i, a);
      upper_desc_sum(sigma, x, i, a);
    }
    x[i] = sor_update(x[i], b[i], sigma, 1 - w, w / diag(i));
  }
};

// ---- SSOR-CG in Eisenstat's form: the row pieces of its two triangular passes ----
// [S. C. Eisenstat, SIAM J. Sci. Stat. Comput. 2 (1981); docs/relax.md §1.4; ssorCg of the
// oracle.] A = L + D + U, D̃ = D/ω, dt = d̃_i = a_ii/ω and wd = ω/a_ii (as the oracle divides them).
// Rows is anything with lower_ascending / upper_descending (CsrSplit, StencilRows). A row subtracts
// its neighbours one at a time, the one solved last entering last, so the row-to-row chain is one
// multiply, one subtract and the scaling.

/// SSOR-CG's r̂ update after a step α along t: r̂_i − α (t_i + v_i) (Â p̂ = t + v).
NK_HD NK_FORCEINLINE double eisenstat_step_rh(double rhi, double alpha, double ti, double vi) {
  return rhi - alpha * (ti + vi);
}

/// Row i of (D̃ + L) y = u: y_i = (u_i − Σ_{j<i} a_ij y_j)·(ω/a_ii).
template <class Rows, class At>
NK_HD NK_FORCEINLINE void lower_solve_row(const Rows& A, int64_t i, const At& a, double wd, const double* u,
                                          double* y) {
  double s = u[i];
  A.lower_ascending(i, a, [&](double c, int64_t j) { s -= c * y[j]; });
  y[i] = s * wd;
}

/// A sequential triangular pass is a chain through its rows: row i often reads row i ∓ 1, written just
/// before, and reading it back from memory puts a store-to-load forward on the chain. A CHAINED row (a
/// CSR pass in natural order on one thread, CsrSplit) takes that value from `prev` — the previous row's
/// result, still in a register — when its last entry is that row: the same double, so the same bits
/// (a branch, not a select, keeps the load off the chain). Measured ~15% on the lower solve of a 2-D FEM matrix.

/// Row i of the backward pass: p̂_i ← d̃_i r̂_i + β p̂_i (the previous iteration's direction update),
/// then row i of (D̃ + U) t = p̂. Returns t_i. CHAINED: prev is t_{i+1} (see above).
template <bool CHAINED = false, class Rows, class At>
NK_HD NK_FORCEINLINE double eisenstat_backward_row(const Rows& A, int64_t i, const At& a, double dt, double wd,
                                                   double beta, const double* rh, double* ph, double* t,
                                                   double prev = 0) {
  const double p = dt * rh[i] + beta * ph[i];
  ph[i] = p;
  double s = p;
  const auto term = [&](double c, int64_t j) { s -= c * t[j]; };
  if constexpr (CHAINED) {
    A.upper_descending_last(i, term, [&](double c, int64_t j) {
      if (j == i + 1) s -= c * prev;
      else s -= c * t[j];
    });
  } else {
    A.upper_descending(i, a, term);
  }
  const double ti = s * wd;
  t[i] = ti;
  return ti;
}

/// Row i of the forward pass: (D̃ + L) v = p̂ + (D − 2D̃) t, and from the same entries
/// A t = p̂ + (D − D̃) t + L t (since A = (D̃ + L) + (D̃ + U) + (D − 2D̃)). Returns v_i. CHAINED: prev
/// is v_{i−1}.
template <bool CHAINED = false, class Rows, class At>
NK_HD NK_FORCEINLINE double eisenstat_forward_row(const Rows& A, int64_t i, const At& a, double aii, double dt,
                                                  double wd, const double* ph, const double* t, double* v,
                                                  double* at, double prev = 0) {
  double s = ph[i] + (aii - 2 * dt) * t[i];
  double lt = 0;
  const auto term = [&](double c, int64_t j) {
    s -= c * v[j];
    lt += c * t[j];
  };
  if constexpr (CHAINED) {
    A.lower_ascending_last(i, term, [&](double c, int64_t j) {
      if (j == i - 1) s -= c * prev;
      else s -= c * v[j];
      lt += c * t[j];
    });
  } else {
    A.lower_ascending(i, a, term);
  }
  const double vi = s * wd;
  v[i] = vi;
  at[i] = ph[i] + (aii - dt) * t[i] + lt;
  return vi;
}

}  // namespace relax
}  // namespace numkern
