// A CSR matrix as the driver sees it: residual rows, SOR rows and sweeps, and (SSOR-CG) the triangular
// passes over its private split. Everything read from the caller's arrays is re-checked as it is read
// (relax_rows.hpp), and each of these reports whether every index it met was good.
#pragma once

#include <cstdint>

#include "csr_triangles.hpp"
#include "numkern/csr.hpp"
#include "numkern/csr_lanes.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"

namespace numkern {
namespace relax {
namespace detail {

/// How many entries col_idx and values hold: CsrOp::nnz, or row_ptr[n] read once when that is −1
/// (relax.hpp), clamped to what an int32 row pointer can address.
int32_t csr_entries(const int32_t* row_ptr, int32_t n, int64_t nnz);

struct Csr {
  using At = CsrSplit::At;
  CsrOp A;                            // diag_pos and diag set
  int32_t nnz;                        // csr_entries() of A
  uint32_t cols;                      // A.n, the bound of every column index
  const CsrTriangles* tri = nullptr;  // SSOR-CG only: what its triangular passes read (ok())
  CsrSplit split{};

  Csr(const CsrOp& a, int32_t entries, const CsrTriangles* t = nullptr)
      : A(a), nnz(entries), cols(static_cast<uint32_t>(a.n)), tri(t) {
    if (t != nullptr) split = t->split();
  }
  int64_t n() const { return A.n; }
  double diag(int64_t i) const { return A.diag[i]; }
  static constexpr bool constant_diagonal() { return false; }

  /// (A x)_i in ascending stored order from 0, as the oracle's residual sums a row.
  NK_FORCEINLINE double row_sum(int64_t i, const double* x, bool& bad) const {
    return csr_row_sum(A.row_ptr, A.col_idx, A.values, nnz, cols, static_cast<int32_t>(i), x, bad);
  }
  /// f(i, (A x)_i) for rows [i0, i1) in order; false when an index was bad. scratch (n doubles, not x) may
  /// first receive the row sums of [i0, i1): the lane layout computes a block of rows before f sees them
  /// (f may then overwrite scratch[i]).
  template <class F>
  NK_FORCEINLINE bool rows(int64_t i0, int64_t i1, const double* x, double* scratch, F&& f) const {
    if (A.lanes != nullptr) {
      csr_lanes_rows(*A.lanes, static_cast<int32_t>(i0), static_cast<int32_t>(i1), x, scratch);
      for (int64_t i = i0; i < i1; ++i) f(i, scratch[i]);
      return true;
    }
    if (A.trusted) {
      int64_t i = i0;
      for (; i + 1 < i1; i += 2) {
        double s0, s1;
        csr_row_sums2_trusted(A.row_ptr, A.col_idx, A.values, static_cast<int32_t>(i), x, s0, s1);
        f(i, s0);
        f(i + 1, s1);
      }
      if (i < i1) f(i, csr_row_sum_trusted(A.row_ptr, A.col_idx, A.values, static_cast<int32_t>(i), x));
      return true;
    }
    bool bad = false;
    for (int64_t i = i0; i < i1; ++i) f(i, row_sum(i, x, bad));
    return !bad;
  }

  /// y_i = (A x)_i for rows [i0, i1) and dot = Σ x_i y_i over them in row order from 0 (CG's pᵀA p of a
  /// block, one pass); false when an index was bad.
  NK_FORCEINLINE bool rows_dot(int64_t i0, int64_t i1, const double* x, double* y, double& dot) const {
    if (A.lanes != nullptr) {
      dot = csr_lanes_rows_dot(*A.lanes, static_cast<int32_t>(i0), static_cast<int32_t>(i1), x, y);
      return true;
    }
    double s = 0;
    const bool ok = rows(i0, i1, x, y, [&](int64_t i, double rs) {
      y[i] = rs;
      s += x[i] * rs;
    });
    dot = s;
    return ok;
  }

  /// relaxForward (FWD) / relaxBackward of the oracle on row i.
  template <bool FWD>
  NK_FORCEINLINE void relax(int32_t i, const double* b, double* x, double w, double omw, bool& bad) const {
    csr_relax_row<FWD>(A.row_ptr, A.col_idx, A.values, nnz, cols, i, A.diag_pos[i], A.diag[i], b, x, w, omw, bad);
  }
  NK_FORCEINLINE void relax_row(int64_t i, const double* b, double* x, double w, bool& bad) const {
    relax<true>(static_cast<int32_t>(i), b, x, w, 1 - w, bad);
  }
  /// Natural-order (reverse-order) SOR sweeps; false when an index was bad.
  bool sweep_forward(const double* b, double* x, double w) const;
  bool sweep_backward(const double* b, double* x, double w) const;

  template <class F>
  NK_FORCEINLINE void lower_ascending(int64_t i, At a, F&& f) const {
    split.lower_ascending(i, a, f);
  }
  template <class F>
  NK_FORCEINLINE void upper_descending(int64_t i, At a, F&& f) const {
    split.upper_descending(i, a, f);
  }
  /// f(i, At) for every row in natural (FWD) or reverse order, the order of a triangular pass.
  template <bool FWD, class F>
  NK_FORCEINLINE void visit(F&& f) const {
    for (int64_t k = 0; k < A.n; ++k) f(FWD ? k : A.n - 1 - k, At{});
  }
  /// The lane layout of the forward (fwd) or backward pass, or null (eisenstat_lanes.hpp).
  const PassLanes* pass_lanes(bool fwd) const {
    if (tri == nullptr) return nullptr;
    return (fwd ? tri->lower_lanes : tri->upper_lanes).get();
  }
  /// SSOR-CG's two-thread layout (pair_layout.hpp), or null.
  const PairLayout* pair() const { return tri == nullptr ? nullptr : tri->pair.get(); }
};

}  // namespace detail
}  // namespace relax
}  // namespace numkern
