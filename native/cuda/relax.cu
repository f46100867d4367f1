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

#include "relax_kernels.cuh"

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

#include "relax_batch.cuh"

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
