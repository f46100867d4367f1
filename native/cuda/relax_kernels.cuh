// The relax family's device kernels (included once, by native/cuda/relax.cu): the operators as the
// kernels see them (per-row calls into numkern/relax_rows.hpp), the sweeps, residuals, SSOR-CG's
// Eisenstat passes and CG's steps. relax.cu's header says how their bits relate to the CPU's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common.cuh"
#include "numkern/relax_cuda.hpp"
#include "numkern/relax_levels.hpp"
#include "numkern/relax_rows.hpp"

namespace {

/// Scalars that live on the device between launches; the host reads them at a test.
struct Scalars {
  double nrm;       // sqrt of the last residual reduction (a test's ‖r‖, or CG's recurrence ‖r‖)
  double rz;        // CG: rᵀz carried between updates
  double alpha;     // CG: this update's α
  double beta;      // CG: this update's β
  int64_t broke_at; // CG: updates completed when the curvature test failed
  int broke;        // CG: 1 once the curvature test failed; later CG launches do nothing
  int bad;          // a re-checked index was out of range
};

// ---- the operators as the kernels see them: per-row calls into relax_rows.hpp ----

struct DevCsr {
  int32_t n, nnz;
  const int32_t* row_ptr;
  const int32_t* col_idx;
  const int32_t* diag_pos;
  const double* values;
  const double* dg;
  __device__ double row_sum(int64_t i, const double* x, bool& bad) const {
    return rx::csr_row_sum(row_ptr, col_idx, values, nnz, static_cast<uint32_t>(n), static_cast<int32_t>(i), x, bad);
  }
  __device__ double diag(int64_t i) const { return dg[i]; }
  __device__ void relax_row(int64_t i, const double* b, double* x, double w, bool& bad) const {
    const int32_t r = static_cast<int32_t>(i);
    rx::csr_relax_row<true>(row_ptr, col_idx, values, nnz, static_cast<uint32_t>(n), r, diag_pos[r], dg[r], b, x, w,
                            1 - w, bad);
  }
  /// Row i of a level-scheduled forward (FWD) or backward sweep; xo: the iterate before the sweep.
  template <bool FWD>
  __device__ void sweep_row(int64_t i, const double* b, double* x, const double* xo, double w, bool& bad) const {
    const int32_t r = static_cast<int32_t>(i);
    rx::csr_relax_row_split<FWD>(row_ptr, col_idx, values, nnz, static_cast<uint32_t>(n), r, diag_pos[r], dg[r], b, x,
                                 xo, w, 1 - w, bad);
  }
  // SSOR-CG's view (relax_rows.hpp CsrInPlaceSplit; nk_cuda_relax_create checked that the columns
  // increase in every row).
  using At = rx::CsrSplit::At;
  __device__ At at(int64_t) const { return At{}; }
  template <class F>
  __device__ void lower_ascending(int64_t i, At a, F&& f) const {
    split().lower_ascending(i, a, f);
  }
  template <class F>
  __device__ void upper_descending(int64_t i, At a, F&& f) const {
    split().upper_descending(i, a, f);
  }
  __device__ rx::CsrInPlaceSplit split() const { return rx::CsrInPlaceSplit{row_ptr, col_idx, values, diag_pos}; }
};

template <bool VAR, bool D3>
struct DevSten {
  rx::StencilRows<VAR, D3> rows;
  __device__ double row_sum(int64_t i, const double* x, bool&) const { return rows.full(i, x, rows.at(i)); }
  __device__ double diag(int64_t i) const { return rows.diag(i); }
  __device__ void relax_row(int64_t i, const double* b, double* x, double w, bool&) const {
    rows.template relax_at<true>(i, rows.at(i), b, x, w);
  }
  template <bool FWD>
  __device__ void sweep_row(int64_t i, const double* b, double* x, const double* xo, double w, bool&) const {
    rows.template relax_split<FWD>(i, rows.at(i), b, x, xo, w);
  }
  using At = rx::StencilAt;
  __device__ At at(int64_t i) const { return rows.at(i); }
  template <class F>
  __device__ void lower_ascending(int64_t i, const At& a, F&& f) const {
    rows.lower_ascending(i, a, f);
  }
  template <class F>
  __device__ void upper_descending(int64_t i, const At& a, F&& f) const {
    rows.upper_descending(i, a, f);
  }
};

// ---- kernels ----

/// r = b − A x (r may be null) and one partial of ‖r‖² per block.
template <class Op>
__global__ void residual_kernel(Op A, int64_t n, const double* b, const double* x, double* r, double* partial,
                                Scalars* sc) {
  bool bad = false;
  double ss = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    const double ri = b[i] - A.row_sum(static_cast<int64_t>(i), x, bad);
    if (r) r[i] = ri;
    ss += ri * ri;
  }
  if (bad) sc->bad = 1;
  ss = nkcu::block_sum(ss);
  if (threadIdx.x == 0) partial[blockIdx.x] = ss;
}

/// sc->nrm = sqrt(Σ partial).
__global__ void norm_kernel(const double* partial, unsigned count, Scalars* sc) {
  const double s = nkcu::block_sum_of(partial, count);
  if (threadIdx.x == 0) sc->nrm = sqrt(s);
}

/// sc->rz = Σ partial.
__global__ void rz_kernel(const double* partial, unsigned count, Scalars* sc) {
  const double s = nkcu::block_sum_of(partial, count);
  if (threadIdx.x == 0) sc->rz = s;
}

/// One damped Jacobi update from xin into xout (two buffers: every row reads the old iterate).
template <class Op>
__global__ void jacobi_kernel(Op A, int64_t n, const double* b, const double* xin, double* xout, double omega,
                              Scalars* sc) {
  bool bad = false;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    const int64_t k = static_cast<int64_t>(i);
    const double ri = b[i] - A.row_sum(k, xin, bad);
    xout[i] = rx::jacobi_update(xin[i], omega, ri, A.diag(k));
  }
  if (bad) sc->bad = 1;
}

/// The SOR update of the rows order[q0 .. q1) (one colour: none reads another).
template <class Op>
__global__ void colour_kernel(Op A, int64_t n, const int32_t* order, int64_t q0, int64_t q1, const double* b,
                              double* x, double omega, Scalars* sc) {
  bool bad = false;
  for (size_t q = q0 + nkcu::global_index(); q < static_cast<size_t>(q1); q += nkcu::global_stride()) {
    const int32_t i = order[q];
    if (static_cast<uint32_t>(i) < static_cast<uint64_t>(n)) A.relax_row(i, b, x, omega, bad);
    else bad = true;
  }
  if (bad) sc->bad = 1;
}

/// One level of a forward (FWD) or backward sweep: rows order[q0 .. q1), none reading another.
template <bool FWD, class Op>
__global__ void level_kernel(Op A, const int32_t* order, int64_t q0, int64_t q1, const double* b, double* x,
                             const double* xo, double omega, Scalars* sc) {
  bool bad = false;
  for (size_t q = q0 + nkcu::global_index(); q < static_cast<size_t>(q1); q += nkcu::global_stride())
    A.template sweep_row<FWD>(order[q], b, x, xo, omega, bad);
  if (bad) sc->bad = 1;
}

// ---- SSOR-CG (Eisenstat's form; ssorCg of the oracle, ssor_cg of driver.cc) ----
// d̃_i = a_ii/ω and ω/a_ii are divided per row, the same roundings as the CPU's DiagScale.

/// One level of (D̃ + L) y = u.
template <class Op>
__global__ void eis_lower_kernel(Op A, const int32_t* order, int64_t q0, int64_t q1, double omega, const double* u,
                                 double* y) {
  for (size_t q = q0 + nkcu::global_index(); q < static_cast<size_t>(q1); q += nkcu::global_stride()) {
    const int64_t i = order[q];
    rx::lower_solve_row(A, i, A.at(i), omega / A.diag(i), u, y);
  }
}

/// One level of the backward pass: p̂_i ← d̃_i r̂_i + β p̂_i, then (D̃ + U) t = p̂.
template <class Op>
__global__ void eis_backward_kernel(Op A, const int32_t* order, int64_t q0, int64_t q1, double omega,
                                    const double* rh, double* ph, double* t, const Scalars* sc) {
  if (sc->broke) return;
  const double beta = sc->beta;
  for (size_t q = q0 + nkcu::global_index(); q < static_cast<size_t>(q1); q += nkcu::global_stride()) {
    const int64_t i = order[q];
    const double aii = A.diag(i);
    rx::eisenstat_backward_row(A, i, A.at(i), aii / omega, omega / aii, beta, rh, ph, t);
  }
}

/// One level of the forward pass: (D̃ + L) v = p̂ + (D − 2D̃) t and A t.
template <class Op>
__global__ void eis_forward_kernel(Op A, const int32_t* order, int64_t q0, int64_t q1, double omega,
                                   const double* ph, const double* t, double* v, double* at, const Scalars* sc) {
  if (sc->broke) return;
  for (size_t q = q0 + nkcu::global_index(); q < static_cast<size_t>(q1); q += nkcu::global_stride()) {
    const int64_t i = order[q];
    const double aii = A.diag(i);
    rx::eisenstat_forward_row(A, i, A.at(i), aii, aii / omega, omega / aii, ph, t, v, at);
  }
}

/// Partials of ρ = Σ r̂_i d̃_i r̂_i (the start's; later ones come with the update).
template <class Op>
__global__ void eis_rho_kernel(Op A, int64_t n, double omega, const double* rh, double* partial) {
  double s = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride())
    s += rh[i] * ((A.diag(static_cast<int64_t>(i)) / omega) * rh[i]);
  s = nkcu::block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/// Partials of p̂ᵀÂp̂ = Σ p̂_i (t_i + v_i).
__global__ void eis_pq_kernel(int64_t n, const double* ph, const double* t, const double* v, double* partial,
                              const Scalars* sc) {
  if (sc->broke) return;
  double s = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) s += ph[i] * (t[i] + v[i]);
  s = nkcu::block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/// x += α t, r̂ −= α (t + v), r −= α A t, and partials of rᵀr and of the new ρ.
template <class Op>
__global__ void eis_update_kernel(Op A, int64_t n, double omega, double* x, double* rh, double* r, const double* t,
                                  const double* v, const double* at, double* part_rr, double* part_rho,
                                  const Scalars* sc) {
  if (sc->broke) return;
  const double alpha = sc->alpha;
  double srr = 0, srho = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    x[i] = rx::cg_step_x(x[i], alpha, t[i]);
    const double rhi = rx::eisenstat_step_rh(rh[i], alpha, t[i], v[i]);
    rh[i] = rhi;
    const double ri = rx::cg_step_r(r[i], alpha, at[i]);
    r[i] = ri;
    srho += rhi * ((A.diag(static_cast<int64_t>(i)) / omega) * rhi);
    srr += ri * ri;
  }
  srr = nkcu::block_sum(srr);
  srho = nkcu::block_sum(srho);
  if (threadIdx.x == 0) {
    part_rr[blockIdx.x] = srr;
    part_rho[blockIdx.x] = srho;
  }
}

/// CG start: z = D⁻¹ r (jacobi) or r, p = z, and partials of rᵀz.
template <class Op>
__global__ void cg_start_kernel(Op A, int64_t n, bool jacobi, const double* r, double* z, double* p, double* partial) {
  double s = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    const double zi = jacobi ? rx::jacobi_precondition(r[i], A.diag(static_cast<int64_t>(i))) : r[i];
    if (jacobi) z[i] = zi;
    p[i] = zi;
    s += r[i] * zi;
  }
  s = nkcu::block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/// q = A p and partials of pᵀq.
template <class Op>
__global__ void cg_spmv_kernel(Op A, int64_t n, const double* p, double* q, double* partial, Scalars* sc) {
  if (sc->broke) return;
  bool bad = false;
  double s = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    const double qi = A.row_sum(static_cast<int64_t>(i), p, bad);
    q[i] = qi;
    s += p[i] * qi;
  }
  if (bad) sc->bad = 1;
  s = nkcu::block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

/// α = rᵀz / pᵀq, or the breakdown flag (pᵀAp ≤ 0 or NaN: A is not SPD) at update k.
__global__ void cg_alpha_kernel(const double* partial, unsigned count, int64_t k, Scalars* sc) {
  if (sc->broke) return;
  const double pq = nkcu::block_sum_of(partial, count);
  if (threadIdx.x == 0) {
    if (!(pq > 0)) {
      sc->broke = 1;
      sc->broke_at = k;
    } else {
      sc->alpha = sc->rz / pq;
    }
  }
}

/// x += α p, r −= α q (z = D⁻¹ r), and partials of rᵀr (and rᵀz).
template <class Op>
__global__ void cg_update_kernel(Op A, int64_t n, bool jacobi, double* x, double* r, double* z, const double* p,
                                 const double* q, double* part_rr, double* part_rz, const Scalars* sc) {
  if (sc->broke) return;
  const double alpha = sc->alpha;
  double srr = 0, srz = 0;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride()) {
    x[i] = rx::cg_step_x(x[i], alpha, p[i]);
    const double ri = rx::cg_step_r(r[i], alpha, q[i]);
    r[i] = ri;
    srr += ri * ri;
    if (jacobi) {
      const double zi = rx::jacobi_precondition(ri, A.diag(static_cast<int64_t>(i)));
      z[i] = zi;
      srz += ri * zi;
    }
  }
  srr = nkcu::block_sum(srr);
  if (jacobi) srz = nkcu::block_sum(srz);
  if (threadIdx.x == 0) {
    part_rr[blockIdx.x] = srr;
    if (jacobi) part_rz[blockIdx.x] = srz;
  }
}

/// ‖r‖ (the recurrence residual a test reads), β = rᵀz_new / rᵀz, rᵀz ← rᵀz_new.
__global__ void cg_beta_kernel(const double* part_rr, const double* part_rz, unsigned count, Scalars* sc) {
  if (sc->broke) return;
  const double rr = nkcu::block_sum_of(part_rr, count);
  const double rz = part_rz ? nkcu::block_sum_of(part_rz, count) : rr;
  if (threadIdx.x == 0) {
    sc->nrm = sqrt(rr);
    sc->beta = rz / sc->rz;
    sc->rz = rz;
  }
}

/// p = z + β p.
__global__ void cg_direction_kernel(int64_t n, const double* z, double* p, const Scalars* sc) {
  if (sc->broke) return;
  const double beta = sc->beta;
  for (size_t i = nkcu::global_index(); i < static_cast<size_t>(n); i += nkcu::global_stride())
    p[i] = rx::cg_direction(z[i], beta, p[i]);
}

}  // namespace
