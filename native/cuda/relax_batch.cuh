// The relax family's batched solve on the device (included once, by native/cuda/relax.cu, after
// relax_kernels.cuh and the DeviceDriver it mirrors).
#pragma once

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
