// CUDA launchers of the relax family (numkern/relax_cuda.hpp): jacobi, sor-redblack, gauss-seidel, sor,
// ssor, cg, jacobi-cg and ssor-cg with the whole solve loop on the device.
//
// Row arithmetic is the CPU kernels' (numkern/relax_rows.hpp: csr_row_sum, csr_relax_row,
// StencilRows::full / relax_at, jacobi_update, the CG updates), compiled with --fmad=false, so every
// row update gives the CPU's bits. Jacobi and red-black iterates are therefore the CPU's exactly (red-
// black: rows of one colour are independent, so their order does not matter). The natural-ordering
// sweeps run level by level (numkern/relax_levels.hpp: the schedule is built on the host when the system
// is created): each sweep first copies x to xo, then every level's rows update x with the split-source
// row functions (csr_relax_row_split, StencilRows::relax_split), which read the rows not yet passed from
// xo, so a sweep gives the sequential sweep's bits too. SSOR-CG's passes (Eisenstat's form, as the
// oracle's ssorCg and the CPU's eisenstat.cc) read only the side they have passed, so they run level
// by level with the CPU's row functions (lower_solve_row, eisenstat_backward_row / _forward_row) as
// they are. What differs is the
// order of the reductions (nkcu::block_sum trees instead of the oracle's SUM_BLOCK row blocks), which
// moves only the residual norms and CG's scalars in their last bits. The trees depend on n alone, so a
// solve gives the same counts and bits run to run.
//
// The host loop is relax_step's (native/src/relax/driver.cc) with the vectors on the device: the
// updates between two residual tests are launched back to back and the host reads 48 bytes of scalars
// at a test or at the end of a chunk, never a vector. CG's α and β are computed on the device by
// one-block kernels, and a breakdown (pᵀAp ≤ 0 or NaN) raises a flag that turns the rest of the chunk's
// launches into no-ops and records the update it happened at.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.cuh"
#include "numkern/relax_cuda.hpp"
#include "numkern/relax_levels.hpp"
#include "numkern/relax_rows.hpp"

namespace rx = numkern::relax;
using nkcu::DeviceArray;
using nkcu::kThreads;

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

/// One system on the device.
struct NkCudaRelax {
  int64_t n = 0;
  rx::Settings s{};
  int kind = 0;  // 0: CSR; 1 + VAR + 2·D3: a stencil
  DevCsr csr{};
  rx::StencilOp sten{};
  std::vector<int32_t> offsets;  // colour classes (sor-redblack), on the host: launch bounds
  std::vector<int64_t> lev_f, lev_b;  // level offsets of the forward / backward sweep, on the host
  DeviceArray<int32_t> row_ptr, col_idx, diag_pos, order, offsets_d, ord_f, ord_b;
  DeviceArray<int64_t> lev_f_d, lev_b_d;
  DeviceArray<double> values, diag, vdiag, voff, b, x0, x1, xo, r, z, p, q, t, v, part_a, part_b;
  DeviceArray<Scalars> sc;
  int cur = 0;     // Jacobi ping-pongs between x0 and x1: the iterate is in x0 (0) or x1 (1)
  unsigned nb = 1; // blocks of every launch over the rows (reductions: partials per sum)

  double* x() { return cur ? x1.p : x0.p; }

  /// f(op) with the operator's device type.
  template <class F>
  void visit(F&& f) {
    switch (kind) {
      case 0: f(csr); break;
      case 1: f(DevSten<false, false>{rx::StencilRows<false, false>(sten)}); break;
      case 2: f(DevSten<true, false>{rx::StencilRows<true, false>(sten)}); break;
      case 3: f(DevSten<false, true>{rx::StencilRows<false, true>(sten)}); break;
      default: f(DevSten<true, true>{rx::StencilRows<true, true>(sten)}); break;
    }
  }
};

namespace {

/// The driver of driver.cc over the device copy: the same updates, tests and statuses.
struct DeviceDriver {
  NkCudaRelax& h;
  double* st;
  const char** err;

  bool is_check(int64_t k) const { return k % h.s.check_every == 0 || k == h.s.max_iter; }

  int read(Scalars& out) {
    NK_CUDA_TRY(cudaGetLastError());
    NK_CUDA_TRY(cudaMemcpy(&out, h.sc.p, sizeof(Scalars), cudaMemcpyDeviceToHost));
    return 0;
  }

  /// ‖b − A x‖ into sc->nrm (r written when given), read back with the other scalars.
  int residual(double* r, Scalars& out) {
    h.visit([&](auto A) {
      residual_kernel<<<h.nb, kThreads>>>(A, h.n, h.b.p, h.x(), r, h.part_a.p, h.sc.p);
    });
    norm_kernel<<<1, kThreads>>>(h.part_a.p, h.nb, h.sc.p);
    return read(out);
  }

  /// Ends the solve with `status` and the true residual; a bad index makes it BadIndex.
  int finish(int status, int* rc) {
    Scalars sc{};
    if ((*rc = residual(nullptr, sc)) != 0) return status;
    st[rx::kFinal] = sc.nrm;
    if (sc.bad) status = rx::BadIndex;
    st[rx::kStatus] = status;
    return status;
  }

  /// r_0 and the target on the first call (r kept in h.r for CG); the status that ends the solve, or Running.
  int start(int* rc) {
    if (st[rx::kStarted] != 0) return rx::Running;
    Scalars sc{};
    if ((*rc = residual(h.r.p, sc)) != 0) return rx::Running;
    if (sc.bad) return finish(rx::BadIndex, rc);
    st[rx::kStarted] = 1;
    st[rx::kIter] = 0;
    st[rx::kNrm0] = sc.nrm;
    st[rx::kTarget] = h.s.relative ? h.s.tol * sc.nrm : h.s.tol;
    st[rx::kNrm] = sc.nrm;
    if (sc.nrm <= st[rx::kTarget]) return finish(rx::Converged, rc);
    return rx::Running;
  }

  int test(int64_t k, double nrm, int* rc) {
    if (!is_check(k)) return rx::Running;
    st[rx::kNrm] = nrm;
    if (nrm <= st[rx::kTarget]) return finish(rx::Converged, rc);
    if (!(nrm <= rx::kDivergenceFactor * st[rx::kNrm0])) return finish(rx::Diverged, rc);
    return rx::Running;
  }

  int64_t last_update(int64_t k, int64_t max_updates) const {
    return max_updates >= h.s.max_iter - k ? h.s.max_iter : k + max_updates;
  }

  /// The next update after k that is tested, or stop.
  int64_t next_stop(int64_t k, int64_t stop) const {
    const int64_t c = (k / h.s.check_every + 1) * h.s.check_every;
    return c < stop ? c : stop;
  }

  /// One forward (FWD) or backward sweep, level by level, from a copy xo of the iterate.
  template <bool FWD>
  void level_sweep(double omega) {
    const std::vector<int64_t>& lev = FWD ? h.lev_f : h.lev_b;
    const int32_t* order = FWD ? h.ord_f.p : h.ord_b.p;
    cudaMemcpyAsync(h.xo.p, h.x(), static_cast<size_t>(h.n) * sizeof(double), cudaMemcpyDeviceToDevice);
    for (size_t l = 0; l + 1 < lev.size(); ++l) {
      const int64_t q0 = lev[l], q1 = lev[l + 1];
      const unsigned blocks = nkcu::blocks_for(static_cast<size_t>(q1 - q0));
      h.visit([&](auto A) {
        level_kernel<FWD><<<blocks, kThreads>>>(A, order, q0, q1, h.b.p, h.x(), h.xo.p, omega, h.sc.p);
      });
    }
  }

  void sweep() {
    const double omega = h.s.method == rx::GaussSeidel ? 1 : h.s.omega;
    if (rx::cuda_level_method(h.s.method)) {
      level_sweep<true>(omega);
      if (h.s.method == rx::Ssor) level_sweep<false>(omega);
      return;
    }
    if (h.s.method == rx::Jacobi) {
      double* in = h.x();
      double* out = h.cur ? h.x0.p : h.x1.p;
      h.visit([&](auto A) { jacobi_kernel<<<h.nb, kThreads>>>(A, h.n, h.b.p, in, out, omega, h.sc.p); });
      h.cur ^= 1;
      return;
    }
    const int32_t colors = static_cast<int32_t>(h.offsets.size()) - 1;
    for (int32_t c = 0; c < colors; ++c) {
      const int64_t q0 = h.offsets[c], q1 = h.offsets[c + 1];
      if (q1 <= q0) continue;
      const unsigned blocks = nkcu::blocks_for(static_cast<size_t>(q1 - q0));
      h.visit([&](auto A) {
        colour_kernel<<<blocks, kThreads>>>(A, h.n, h.order.p, q0, q1, h.b.p, h.x(), omega, h.sc.p);
      });
    }
  }

  int stationary(int64_t max_updates, int* rc) {
    if (const int status = start(rc); status != rx::Running || *rc) return status;
    int64_t k = static_cast<int64_t>(st[rx::kIter]);
    const int64_t stop = last_update(k, max_updates);
    while (k < stop) {
      const int64_t until = next_stop(k, stop);
      for (; k < until; ++k) sweep();
      st[rx::kIter] = static_cast<double>(k);
      Scalars sc{};
      if (is_check(k)) {
        if ((*rc = residual(nullptr, sc)) != 0) return rx::Running;
        if (sc.bad) return finish(rx::BadIndex, rc);
        const int status = test(k, sc.nrm, rc);
        if (status != rx::Running || *rc) return status;
      } else {
        if ((*rc = read(sc)) != 0) return rx::Running;
        if (sc.bad) return finish(rx::BadIndex, rc);
      }
    }
    return k >= h.s.max_iter ? finish(rx::MaxIter, rc) : rx::Running;
  }

  /// f(blocks, q0, q1) for every level of the forward (FWD) or backward schedule, in order.
  template <bool FWD, class F>
  void each_level(F&& f) {
    const std::vector<int64_t>& lev = FWD ? h.lev_f : h.lev_b;
    for (size_t l = 0; l + 1 < lev.size(); ++l)
      f(nkcu::blocks_for(static_cast<size_t>(lev[l + 1] - lev[l])), lev[l], lev[l + 1]);
  }

  /// SSOR-CG's start: r̂ and p̂ = 0 (p̂ as the CPU's; r̂ is written whole by the lower solve) and β = 0.
  int zero_start(double* rh, double* ph) {
    NK_CUDA_TRY(cudaMemset(rh, 0, static_cast<size_t>(h.n) * sizeof(double)));
    NK_CUDA_TRY(cudaMemset(ph, 0, static_cast<size_t>(h.n) * sizeof(double)));
    NK_CUDA_TRY(cudaMemset(&h.sc.p->beta, 0, sizeof(double)));
    return 0;
  }

  /// ssor_cg of driver.cc: r̂ in z, p̂ in p, A t in q; ρ in sc->rz, β in sc->beta (kRz, kBeta read back).
  int ssor_cg(int64_t max_updates, int* rc) {
    const double omega = h.s.omega;
    double *rh = h.z.p, *ph = h.p.p, *at = h.q.p, *t = h.t.p, *v = h.v.p;
    if (st[rx::kStarted] == 0) {
      if (const int status = start(rc); status != rx::Running || *rc) return status;
      if ((*rc = zero_start(rh, ph)) != 0) return rx::Running;
      each_level<true>([&](unsigned blocks, int64_t q0, int64_t q1) {
        h.visit([&](auto A) { eis_lower_kernel<<<blocks, kThreads>>>(A, h.ord_f.p, q0, q1, omega, h.r.p, rh); });
      });
      h.visit([&](auto A) { eis_rho_kernel<<<h.nb, kThreads>>>(A, h.n, omega, rh, h.part_a.p); });
      rz_kernel<<<1, kThreads>>>(h.part_a.p, h.nb, h.sc.p);
    }
    int64_t k = static_cast<int64_t>(st[rx::kIter]);
    const int64_t stop = last_update(k, max_updates);
    while (k < stop) {
      const int64_t until = next_stop(k, stop);
      for (; k < until; ++k) {
        each_level<false>([&](unsigned blocks, int64_t q0, int64_t q1) {
          h.visit([&](auto A) {
            eis_backward_kernel<<<blocks, kThreads>>>(A, h.ord_b.p, q0, q1, omega, rh, ph, t, h.sc.p);
          });
        });
        each_level<true>([&](unsigned blocks, int64_t q0, int64_t q1) {
          h.visit([&](auto A) {
            eis_forward_kernel<<<blocks, kThreads>>>(A, h.ord_f.p, q0, q1, omega, ph, t, v, at, h.sc.p);
          });
        });
        eis_pq_kernel<<<h.nb, kThreads>>>(h.n, ph, t, v, h.part_a.p, h.sc.p);
        cg_alpha_kernel<<<1, kThreads>>>(h.part_a.p, h.nb, k, h.sc.p);
        h.visit([&](auto A) {
          eis_update_kernel<<<h.nb, kThreads>>>(A, h.n, omega, h.x0.p, rh, h.r.p, t, v, at, h.part_a.p, h.part_b.p,
                                                h.sc.p);
        });
        cg_beta_kernel<<<1, kThreads>>>(h.part_a.p, h.part_b.p, h.nb, h.sc.p);
      }
      Scalars sc{};
      if ((*rc = read(sc)) != 0) return rx::Running;
      if (sc.broke) {
        st[rx::kIter] = static_cast<double>(sc.broke_at);
        return finish(sc.bad ? rx::BadIndex : rx::Breakdown, rc);
      }
      st[rx::kIter] = static_cast<double>(k);
      st[rx::kRz] = sc.rz;
      st[rx::kBeta] = sc.beta;
      if (sc.bad) return finish(rx::BadIndex, rc);
      const int status = test(k, sc.nrm, rc);
      if (status != rx::Running || *rc) return status;
    }
    return k >= h.s.max_iter ? finish(rx::MaxIter, rc) : rx::Running;
  }

  int cg(int64_t max_updates, int* rc) {
    const bool jacobi = h.s.method == rx::JacobiCg;
    double* z = jacobi ? h.z.p : h.r.p;
    if (st[rx::kStarted] == 0) {
      if (const int status = start(rc); status != rx::Running || *rc) return status;
      h.visit([&](auto A) { cg_start_kernel<<<h.nb, kThreads>>>(A, h.n, jacobi, h.r.p, h.z.p, h.p.p, h.part_a.p); });
      rz_kernel<<<1, kThreads>>>(h.part_a.p, h.nb, h.sc.p);
    }
    int64_t k = static_cast<int64_t>(st[rx::kIter]);
    const int64_t stop = last_update(k, max_updates);
    while (k < stop) {
      const int64_t until = next_stop(k, stop);
      for (; k < until; ++k) {
        h.visit([&](auto A) { cg_spmv_kernel<<<h.nb, kThreads>>>(A, h.n, h.p.p, h.q.p, h.part_a.p, h.sc.p); });
        cg_alpha_kernel<<<1, kThreads>>>(h.part_a.p, h.nb, k, h.sc.p);
        h.visit([&](auto A) {
          cg_update_kernel<<<h.nb, kThreads>>>(A, h.n, jacobi, h.x0.p, h.r.p, h.z.p, h.p.p, h.q.p, h.part_a.p,
                                               h.part_b.p, h.sc.p);
        });
        cg_beta_kernel<<<1, kThreads>>>(h.part_a.p, jacobi ? h.part_b.p : nullptr, h.nb, h.sc.p);
        cg_direction_kernel<<<h.nb, kThreads>>>(h.n, z, h.p.p, h.sc.p);
      }
      Scalars sc{};
      if ((*rc = read(sc)) != 0) return rx::Running;
      if (sc.broke) {
        st[rx::kIter] = static_cast<double>(sc.broke_at);
        return finish(sc.bad ? rx::BadIndex : rx::Breakdown, rc);
      }
      st[rx::kIter] = static_cast<double>(k);
      st[rx::kRz] = sc.rz;
      if (sc.bad) return finish(rx::BadIndex, rc);
      const int status = test(k, sc.nrm, rc);
      if (status != rx::Running || *rc) return status;
    }
    return k >= h.s.max_iter ? finish(rx::MaxIter, rc) : rx::Running;
  }
};

}  // namespace


// ---- batches of small systems: one launch, one block per system ----
//
// Block k runs system k's whole chunk: the same updates, tests and statuses as DeviceDriver (and
// relax_step), with block-wide sums in place of the grid's. Every thread takes the same decisions, from
// values every thread reads after a block sum, so the control flow stays uniform across __syncthreads.

namespace {

/// What block k needs of system k (device pointers), and where its state vector is.
struct BatchSys {
  int kind;
  int method;
  DevCsr csr;
  rx::StencilOp sten;
  int64_t n;
  const double* b;
  double* x;
  double* r;
  double* z;
  double* p;
  double* q;
  const int32_t* order;
  const int32_t* offsets;
  int32_t colors;
  const int32_t* ord_f;  // level schedules (gauss-seidel, sor, ssor)
  const int32_t* ord_b;
  const int64_t* lev_f;
  const int64_t* lev_b;
  int64_t levels_f, levels_b;
  double* xo;
  double omega, tol;
  int relative;
  int64_t max_iter, check_every, max_updates;
  double* state;
};

/// Sum over the block, returned to every thread.
__device__ double block_allsum(double v) {
  __shared__ double total;
  const double s = nkcu::block_sum(v);
  if (threadIdx.x == 0) total = s;
  __syncthreads();
  const double t = total;
  __syncthreads();
  return t;
}

/// One forward (FWD) or backward sweep of system S by the block, level by level (DeviceDriver::level_sweep).
template <bool FWD, class Op>
__device__ void block_level_sweep(const Op& A, const BatchSys& S, double w, bool& bad) {
  const int32_t* order = FWD ? S.ord_f : S.ord_b;
  const int64_t* lev = FWD ? S.lev_f : S.lev_b;
  const int64_t levels = FWD ? S.levels_f : S.levels_b;
  for (int64_t i = threadIdx.x; i < S.n; i += blockDim.x) S.xo[i] = S.x[i];
  __syncthreads();
  for (int64_t l = 0; l < levels; ++l) {
    for (int64_t q = lev[l] + threadIdx.x; q < lev[l + 1]; q += blockDim.x)
      A.template sweep_row<FWD>(order[q], S.b, S.x, S.xo, w, bad);
    __syncthreads();
  }
}

template <class Op>
__device__ void block_solve(const Op& A, const BatchSys& S) {
  __shared__ int bad;
  if (threadIdx.x == 0) bad = 0;
  __syncthreads();
  const int64_t n = S.n;
  const int64_t t0 = threadIdx.x, dt = blockDim.x;
  const bool cg = S.method == rx::Cg || S.method == rx::JacobiCg;
  const bool jacobi_pc = S.method == rx::JacobiCg;
  double* st = S.state;
  double* z = jacobi_pc ? S.z : S.r;
  int64_t k = static_cast<int64_t>(st[rx::kIter]);
  double nrm0 = st[rx::kNrm0], target = st[rx::kTarget], rz = st[rx::kRz];
  const bool started = st[rx::kStarted] != 0;
  __syncthreads();  // every thread has read the state before thread 0 writes it

  // ‖b − A x‖ (r = b − A x when r is given).
  const auto residual = [&](double* r) {
    bool b = false;
    double ss = 0;
    for (int64_t i = t0; i < n; i += dt) {
      const double ri = S.b[i] - A.row_sum(i, S.x, b);
      if (r) r[i] = ri;
      ss += ri * ri;
    }
    if (b) bad = 1;
    return sqrt(block_allsum(ss));
  };
  const auto save = [&] {
    if (threadIdx.x == 0) {
      st[rx::kIter] = static_cast<double>(k);
      st[rx::kRz] = rz;
    }
  };
  const auto finish = [&](int status) {
    const double f = residual(nullptr);
    if (bad) status = rx::BadIndex;
    save();
    if (threadIdx.x == 0) {
      st[rx::kFinal] = f;
      st[rx::kStatus] = status;
    }
  };
  const auto is_check = [&](int64_t j) { return j % S.check_every == 0 || j == S.max_iter; };
  // The test after update j: true when it ended the solve.
  const auto test = [&](int64_t j, double nrm) {
    if (!is_check(j)) return false;
    if (threadIdx.x == 0) st[rx::kNrm] = nrm;
    if (nrm <= target) return finish(rx::Converged), true;
    if (!(nrm <= rx::kDivergenceFactor * nrm0)) return finish(rx::Diverged), true;
    return false;
  };

  if (!started) {
    nrm0 = residual(S.r);
    if (bad) return finish(rx::BadIndex);
    target = S.relative ? S.tol * nrm0 : S.tol;
    k = 0;
    if (threadIdx.x == 0) {
      st[rx::kStarted] = 1;
      st[rx::kNrm0] = nrm0;
      st[rx::kTarget] = target;
      st[rx::kNrm] = nrm0;
    }
    if (nrm0 <= target) return finish(rx::Converged);
    if (cg) {
      double s = 0;
      for (int64_t i = t0; i < n; i += dt) {
        const double zi = jacobi_pc ? rx::jacobi_precondition(S.r[i], A.diag(i)) : S.r[i];
        if (jacobi_pc) S.z[i] = zi;
        S.p[i] = zi;
        s += S.r[i] * zi;
      }
      rz = block_allsum(s);
    }
  }
  const int64_t stop = S.max_updates >= S.max_iter - k ? S.max_iter : k + S.max_updates;
  while (k < stop) {
    if (!cg) {
      bool b = false;
      if (S.method == rx::Jacobi) {
        residual(S.r);  // r of the old x, every row, before any row changes
        for (int64_t i = t0; i < n; i += dt) S.x[i] = rx::jacobi_update(S.x[i], S.omega, S.r[i], A.diag(i));
        __syncthreads();
      } else if (rx::cuda_level_method(S.method)) {
        const double w = S.method == rx::GaussSeidel ? 1 : S.omega;
        block_level_sweep<true>(A, S, w, b);
        if (S.method == rx::Ssor) block_level_sweep<false>(A, S, w, b);
      } else {
        for (int32_t c = 0; c < S.colors; ++c) {
          for (int64_t q = S.offsets[c] + t0; q < S.offsets[c + 1]; q += dt) {
            const int32_t i = S.order[q];
            if (static_cast<uint32_t>(i) < static_cast<uint64_t>(n)) A.relax_row(i, S.b, S.x, S.omega, b);
            else b = true;
          }
          __syncthreads();
        }
      }
      if (b) bad = 1;
      __syncthreads();
      if (bad) return finish(rx::BadIndex);
      ++k;
      if (is_check(k)) {
        const double nrm = residual(nullptr);
        if (bad) return finish(rx::BadIndex);
        if (test(k, nrm)) return;
      }
      continue;
    }
    bool b = false;
    double s = 0;
    for (int64_t i = t0; i < n; i += dt) {
      const double qi = A.row_sum(i, S.p, b);
      S.q[i] = qi;
      s += S.p[i] * qi;
    }
    if (b) bad = 1;
    const double pq = block_allsum(s);
    if (bad) return finish(rx::BadIndex);
    if (!(pq > 0)) return finish(rx::Breakdown);
    const double alpha = rz / pq;
    double srr = 0, srz = 0;
    for (int64_t i = t0; i < n; i += dt) {
      S.x[i] = rx::cg_step_x(S.x[i], alpha, S.p[i]);
      const double ri = rx::cg_step_r(S.r[i], alpha, S.q[i]);
      S.r[i] = ri;
      srr += ri * ri;
      if (jacobi_pc) {
        const double zi = rx::jacobi_precondition(ri, A.diag(i));
        S.z[i] = zi;
        srz += ri * zi;
      }
    }
    const double rr = block_allsum(srr);
    const double rz_new = jacobi_pc ? block_allsum(srz) : rr;
    ++k;
    if (test(k, sqrt(rr))) return;
    const double beta = rz_new / rz;
    rz = rz_new;
    for (int64_t i = t0; i < n; i += dt) S.p[i] = rx::cg_direction(z[i], beta, S.p[i]);
    __syncthreads();
  }
  if (k >= S.max_iter) return finish(rx::MaxIter);
  save();
}

__global__ void batch_kernel(const BatchSys* systems) {
  const BatchSys& S = systems[blockIdx.x];
  if (S.state[rx::kStatus] != rx::Running) return;
  switch (S.kind) {
    case 0: block_solve(S.csr, S); break;
    case 1: block_solve(DevSten<false, false>{rx::StencilRows<false, false>(S.sten)}, S); break;
    case 2: block_solve(DevSten<true, false>{rx::StencilRows<true, false>(S.sten)}, S); break;
    case 3: block_solve(DevSten<false, true>{rx::StencilRows<false, true>(S.sten)}, S); break;
    default: block_solve(DevSten<true, true>{rx::StencilRows<true, true>(S.sten)}, S); break;
  }
}

}  // namespace

extern "C" {

int nk_cuda_relax_create(const rx::CsrOp* csr, const rx::StencilOp* sten, const rx::Coloring* coloring,
                         const rx::Settings* s, const double* b, const double* x, NkCudaRelax** out,
                         const char** err) {
  *out = nullptr;
  if ((csr == nullptr) == (sten == nullptr) || !rx::cuda_method(s->method) ||
      (s->method == rx::SorRedBlack && coloring == nullptr)) {
    if (err) *err = "nk_cuda_relax_create: bad arguments";
    return cudaErrorInvalidValue;
  }
  auto h = std::make_unique<NkCudaRelax>();
  h->s = *s;
  const size_t n = static_cast<size_t>(csr ? csr->n : sten->n);
  h->n = static_cast<int64_t>(n);
  h->nb = nkcu::blocks_for(n);
  if (csr) {
    const size_t nnz = static_cast<size_t>(csr->nnz);
    NK_CUDA_TRY(h->row_ptr.upload(csr->row_ptr, n + 1));
    NK_CUDA_TRY(h->col_idx.upload(csr->col_idx, nnz));
    NK_CUDA_TRY(h->values.upload(csr->values, nnz));
    NK_CUDA_TRY(h->diag_pos.upload(csr->diag_pos, n));
    NK_CUDA_TRY(h->diag.upload(csr->diag, n));
    h->csr = DevCsr{csr->n, static_cast<int32_t>(nnz), h->row_ptr.p, h->col_idx.p, h->diag_pos.p, h->values.p, h->diag.p};
  } else {
    h->sten = *sten;
    if (sten->variable) {
      NK_CUDA_TRY(h->vdiag.upload(sten->vdiag, n));
      NK_CUDA_TRY(h->voff.upload(sten->voff, 2 * static_cast<size_t>(sten->dim) * n));
      h->sten.vdiag = h->vdiag.p;
      h->sten.voff = h->voff.p;
    }
    h->kind = 1 + (sten->variable ? 1 : 0) + (sten->dim == 3 ? 2 : 0);
  }
  if (csr && s->method == rx::SsorCg) {
    // SSOR-CG's passes take the entries left (right) of the diagonal as the lower (upper) part, as the
    // oracle does; its schedules are by column, so the two agree only when columns increase in a row
    // (what the façade's validation requires).
    for (int32_t i = 0; i < csr->n; ++i)
      for (int32_t p = csr->row_ptr[i]; p < csr->row_ptr[i + 1]; ++p)
        if ((p < csr->diag_pos[i]) != (csr->col_idx[p] < i) || (p > csr->diag_pos[i]) != (csr->col_idx[p] > i)) {
          if (err) *err = "nk_cuda_relax_create: ssor-cg needs the columns of every row increasing";
          return cudaErrorInvalidValue;
        }
  }
  if (rx::cuda_level_method(s->method) || s->method == rx::SsorCg) {
    // The schedules, from the host's copy of the operator (csr: checked by the caller).
    for (const bool fwd : {true, false}) {
      if (!fwd && s->method != rx::Ssor && s->method != rx::SsorCg) break;
      rx::LevelSchedule L;
      if (csr) L = rx::csr_level_schedule(csr->row_ptr, csr->col_idx, csr->n, csr->nnz, fwd);
      else if (sten->dim == 3) L = rx::stencil_level_schedule(rx::StencilRows<false, true>(*sten), sten->n, fwd);
      else L = rx::stencil_level_schedule(rx::StencilRows<false, false>(*sten), sten->n, fwd);
      NK_CUDA_TRY((fwd ? h->ord_f : h->ord_b).upload(L.order.data(), n));
      NK_CUDA_TRY((fwd ? h->lev_f_d : h->lev_b_d).upload(L.offsets.data(), L.offsets.size()));
      (fwd ? h->lev_f : h->lev_b) = std::move(L.offsets);
    }
    if (s->method != rx::SsorCg) NK_CUDA_TRY(h->xo.alloc(n));
  }
  if (s->method == rx::SorRedBlack) {
    NK_CUDA_TRY(h->order.upload(coloring->order, n));
    h->offsets.assign(coloring->offsets, coloring->offsets + coloring->colors + 1);
    NK_CUDA_TRY(h->offsets_d.upload(coloring->offsets, static_cast<size_t>(coloring->colors) + 1));
  }
  NK_CUDA_TRY(h->b.upload(b, n));
  NK_CUDA_TRY(h->x0.upload(x, n));
  if (s->method == rx::Jacobi) NK_CUDA_TRY(h->x1.alloc(n));
  NK_CUDA_TRY(h->r.alloc(n));
  if (s->method == rx::JacobiCg || s->method == rx::SsorCg) NK_CUDA_TRY(h->z.alloc(n));
  if (s->method == rx::SsorCg) {
    NK_CUDA_TRY(h->t.alloc(n));
    NK_CUDA_TRY(h->v.alloc(n));
  }
  if (s->method == rx::Cg || s->method == rx::JacobiCg || s->method == rx::SsorCg) {
    NK_CUDA_TRY(h->p.alloc(n));
    NK_CUDA_TRY(h->q.alloc(n));
  }
  NK_CUDA_TRY(h->part_a.alloc(h->nb));
  NK_CUDA_TRY(h->part_b.alloc(h->nb));
  NK_CUDA_TRY(h->sc.alloc(1));
  NK_CUDA_TRY(cudaMemset(h->sc.p, 0, sizeof(Scalars)));
  *out = h.release();
  return 0;
}

int nk_cuda_relax_step(NkCudaRelax* h, double* state, int64_t max_updates, const char** err) {
  if (state[rx::kStatus] != rx::Running) return 0;
  DeviceDriver d{*h, state, err};
  int rc = 0;
  if (h->s.method == rx::SsorCg) d.ssor_cg(max_updates, &rc);
  else if (h->s.method == rx::Cg || h->s.method == rx::JacobiCg) d.cg(max_updates, &rc);
  else d.stationary(max_updates, &rc);
  return rc;
}

int nk_cuda_relax_step_batch(NkCudaRelax* const* hs, int32_t m, double* const* states, const int64_t* max_updates,
                             const char** err) {
  if (m <= 0) return 0;
  std::vector<BatchSys> host(static_cast<size_t>(m));
  std::vector<double> st(static_cast<size_t>(m) * rx::kStateLen);
  DeviceArray<double> d_st;
  NK_CUDA_TRY(d_st.alloc(st.size()));
  for (int32_t k = 0; k < m; ++k) {
    NkCudaRelax& h = *hs[k];
    if (h.cur != 0 || h.n > rx::kCudaBatchRows || !rx::cuda_batch_method(h.s.method)) {
      if (err) *err = "nk_cuda_relax_step_batch: a system too large for a batch, advanced alone before, or ssor-cg";
      return cudaErrorInvalidValue;
    }
    std::copy_n(states[k], rx::kStateLen, st.data() + static_cast<size_t>(k) * rx::kStateLen);
    BatchSys& S = host[static_cast<size_t>(k)];
    S = BatchSys{};
    S.kind = h.kind;
    S.method = h.s.method;
    S.csr = h.csr;
    S.sten = h.sten;
    S.n = h.n;
    S.b = h.b.p;
    S.x = h.x0.p;
    S.r = h.r.p;
    S.z = h.z.p;
    S.p = h.p.p;
    S.q = h.q.p;
    S.order = h.order.p;
    S.offsets = h.offsets_d.p;
    S.colors = h.offsets.empty() ? 0 : static_cast<int32_t>(h.offsets.size()) - 1;
    S.ord_f = h.ord_f.p;
    S.ord_b = h.ord_b.p;
    S.lev_f = h.lev_f_d.p;
    S.lev_b = h.lev_b_d.p;
    S.levels_f = h.lev_f.empty() ? 0 : static_cast<int64_t>(h.lev_f.size()) - 1;
    S.levels_b = h.lev_b.empty() ? 0 : static_cast<int64_t>(h.lev_b.size()) - 1;
    S.xo = h.xo.p;
    S.omega = h.s.omega;
    S.tol = h.s.tol;
    S.relative = h.s.relative ? 1 : 0;
    S.max_iter = h.s.max_iter;
    S.check_every = h.s.check_every;
    S.max_updates = max_updates[k];
    S.state = d_st.p + static_cast<size_t>(k) * rx::kStateLen;
  }
  DeviceArray<BatchSys> d_sys;
  NK_CUDA_TRY(d_sys.upload(host.data(), host.size()));
  NK_CUDA_TRY(cudaMemcpy(d_st.p, st.data(), st.size() * sizeof(double), cudaMemcpyHostToDevice));
  batch_kernel<<<static_cast<unsigned>(m), kThreads>>>(d_sys.p);
  NK_CUDA_TRY(cudaGetLastError());
  NK_CUDA_TRY(d_st.download(st.data(), st.size()));
  for (int32_t k = 0; k < m; ++k) std::copy_n(st.data() + static_cast<size_t>(k) * rx::kStateLen, rx::kStateLen, states[k]);
  return 0;
}

int nk_cuda_relax_read(NkCudaRelax* h, double* x, const char** err) {
  NK_CUDA_TRY(cudaMemcpy(x, h->x(), static_cast<size_t>(h->n) * sizeof(double), cudaMemcpyDeviceToHost));
  return 0;
}

void nk_cuda_relax_free(NkCudaRelax* h) { delete h; }

}  // extern "C"
