// The sketch family's loops on the CPU, on the passes over A of passes.hpp (the residual in the oracle's
// exact order, the fused pass of the least-squares loops): LSQR and iterative sketching as resumable state machines,
// randomized Kaczmarz and sketch-and-project (src/backends/js/sketch/lsqr.ts, kaczmarz.ts).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"
#include "numkern/sketch_loops.hpp"

#include "passes.hpp"

namespace numkern {

template <class T>
double sketch_residual_sq(const SketchOperandView<T>& A, const T* b, const double* x, double acc, int threads,
                          double* r) {
  const size_t n = A.rows;
  const size_t nblocks = (n + SB - 1) / SB;
  std::vector<double> part(nblocks, 0.0);
  const int nt = plan_threads(threads, n * std::max<size_t>(A.cols, 1), 1 << 15);
  parallel_run(std::min<int>(nt, static_cast<int>(std::max<size_t>(nblocks, 1))), [&](int tid, int nth) {
    size_t q0, q1;
    even_split(nblocks, tid, nth, q0, q1);
    for (size_t q = q0; q < q1; ++q) {
      double s = 0;
      const size_t e = std::min(n, (q + 1) * SB);
      size_t i = q * SB;
      if (!A.csr) {
        // Four rows at once: four independent single-accumulator chains (one alone is latency-bound),
        // each row's sum in the oracle's order, so the bits are those of row_dot_exact.
        const size_t d = A.cols;
        for (; i + 4 <= e; i += 4) {
          const T* a = A.data + i * d;
          double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          for (size_t j = 0; j < d; ++j) {
            const double xj = x[j];
            s0 += static_cast<double>(a[j]) * xj;
            s1 += static_cast<double>(a[d + j]) * xj;
            s2 += static_cast<double>(a[2 * d + j]) * xj;
            s3 += static_cast<double>(a[3 * d + j]) * xj;
          }
          const double rs[4] = {static_cast<double>(b[i]) - s0, static_cast<double>(b[i + 1]) - s1,
                                static_cast<double>(b[i + 2]) - s2, static_cast<double>(b[i + 3]) - s3};
          for (size_t u = 0; u < 4; ++u) {
            if (r) r[i + u] = rs[u];
            s += rs[u] * rs[u];
          }
        }
      }
      for (; i < e; ++i) {
        const double ri = static_cast<double>(b[i]) - row_dot_exact(A, i, x);
        if (r) r[i] = ri;
        s += ri * ri;
      }
      part[q] = s;
    }
  });
  for (size_t q = 0; q < nblocks; ++q) acc += part[q];
  return acc;
}

template <class T, class W>
void sketch_fused_pass(const SketchOperandView<T>& A, const double* z, const W* w, double c, double s, double* t,
                       double* g, const double* prev, double* sumSq, double* diffSq, int threads) {
  fused_pass(A, z, w, sizeof(W) == 4, c, s, t, g, prev, sumSq, diffSq, threads);
}

// ---------------------------------------------------------------------------------------------------
// LSQR

template <class T>
bool sketch_lsqr_run(const SketchOperandView<T>& A, const T* b, const SketchLoopInput& L, double* x, double* st,
                     double* work, double atol, double btol, int maxIter, double budget_s, int threads) {
  const auto t0 = Clock::now();
  const size_t n = A.rows, d = A.cols, r = L.rank;
  const double* R = L.R;
  const int32_t* perm = L.perm;
  double* u = work;
  double* v = u + n;
  double* w = v + r;
  double* dy = w + r;
  double* y0 = dy + r;
  double* tmp = y0 + r;
  double* g = tmp + r;
  double* z = g + d;
  const bool bf32 = sizeof(T) == 4;
  double& itn = st[0];
  double& stop = st[1];
  double& alpha = st[2];
  double& beta = st[3];
  double& phibar = st[4];
  double& rhobar = st[5];
  double& anorm = st[6];
  double& arnorm = st[7];
  double& bnorm = st[8];
  double& warm = st[9];
  double& phase = st[10];
  double sq = 0, df = 0;
  if (phase == 0) {
    for (size_t i = 0; i < n; ++i) u[i] = static_cast<double>(b[i]);
    bnorm = blocked_norm(u, n);
    fused_pass(A, x, b, bf32, 1, -1, u, g, nullptr, &sq, &df, threads);
    beta = std::sqrt(sq);
    warm = 1;
    if (!(beta < bnorm)) {
      warm = 0;
      std::fill(x, x + d, 0.0);
      fused_pass(A, x, b, bf32, 1, -1, u, g, nullptr, &sq, &df, threads);
      beta = std::sqrt(sq);
    }
    for (size_t k = 0; k < r; ++k) {
      double s = 0;
      for (size_t j = k; j < r; ++j) s += R[k * d + j] * x[perm[j]];
      y0[k] = s;
    }
    std::fill(v, v + r, 0.0);
    if (beta > 0) {
      scale(u, n, 1 / beta);
      for (size_t k = 0; k < r; ++k) v[k] = g[perm[k]] * (1 / beta);
      sketch_solve_upper_t(R, d, r, v);
    }
    alpha = blocked_norm(v, r);
    if (alpha > 0) scale(v, r, 1 / alpha);
    std::copy(v, v + r, w);
    std::fill(dy, dy + r, 0.0);
    phibar = beta;
    rhobar = alpha;
    anorm = 0;
    arnorm = alpha * beta;
    itn = 0;
    stop = kStopRunning;
    if (beta == 0) stop = kStopCompatible;
    else if (arnorm == 0) stop = kStopLeastSquares;
    phase = 1;
  }
  while (stop == kStopRunning) {
    if (itn >= maxIter) { stop = kStopMaxIter; break; }
    if (itn > 0 && seconds_since(t0) > budget_s) return false;
    itn += 1;
    // z = P[R⁻¹ v; 0]
    std::copy(v, v + r, tmp);
    sketch_solve_upper(R, d, r, tmp);
    std::fill(z, z + d, 0.0);
    for (size_t k = 0; k < r; ++k) z[perm[k]] = tmp[k];
    fused_pass(A, z, u, false, -alpha, 1, u, g, nullptr, &sq, &df, threads);
    beta = std::sqrt(sq);
    if (beta > 0) {
      scale(u, n, 1 / beta);
      anorm = std::sqrt(anorm * anorm + alpha * alpha + beta * beta);
      for (size_t k = 0; k < r; ++k) tmp[k] = g[perm[k]] * (1 / beta);
      sketch_solve_upper_t(R, d, r, tmp);
      for (size_t k = 0; k < r; ++k) v[k] = tmp[k] - beta * v[k];
      alpha = blocked_norm(v, r);
      if (alpha > 0) scale(v, r, 1 / alpha);
    }
    const double rho = sketch_js_hypot(rhobar, beta);
    const double cs = rhobar / rho;
    const double sn = beta / rho;
    const double theta = sn * alpha;
    rhobar = -cs * alpha;
    const double phi = cs * phibar;
    phibar = sn * phibar;
    const double tau = sn * phi;
    const double t1 = phi / rho;
    const double t2 = -theta / rho;
    for (size_t k = 0; k < r; ++k) {
      dy[k] += t1 * w[k];
      w[k] = v[k] + t2 * w[k];
    }
    const double rnorm = phibar;
    arnorm = alpha * std::fabs(tau);
    double ynorm = 0;
    for (size_t k = 0; k < r; ++k) { const double e = y0[k] + dy[k]; ynorm += e * e; }
    ynorm = std::sqrt(ynorm);
    if (rnorm == 0) { stop = kStopCompatible; break; }
    const double test1 = rnorm / bnorm;
    const double test2 = arnorm / (anorm * rnorm);
    const double rtol = btol + (atol * anorm * ynorm) / bnorm;
    const double t1n = test1 / (1 + (anorm * ynorm) / bnorm);
    if (test1 <= rtol || 1 + t1n <= 1) { stop = kStopCompatible; break; }
    if (test2 <= atol || 1 + test2 <= 1) { stop = kStopLeastSquares; break; }
    if (!std::isfinite(test2) || !std::isfinite(test1)) { stop = kStopBreakdown; break; }
  }
  sketch_solve_upper(R, d, r, dy);
  for (size_t k = 0; k < r; ++k) x[perm[k]] += dy[k];
  phase = 2;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Iterative sketching with momentum

template <class T>
bool sketch_iterate_run(const SketchOperandView<T>& A, const T* b, const SketchLoopInput& L, double* x, double* st,
                        double* work, double alpha, double beta, double tol, double normEst, double condEst,
                        int maxIter, double budget_s, int threads) {
  const auto t0 = Clock::now();
  const size_t n = A.rows, d = A.cols, r = L.rank;
  const double* R = L.R;
  const int32_t* perm = L.perm;
  double* res = work;
  double* g = res + n;
  double* prev = g + d;
  double* best = prev + d;
  double* t = best + d;
  const bool bf32 = sizeof(T) == 4;
  double& itn = st[0];
  double& stop = st[1];
  double& rnorm = st[2];
  double& bestNorm = st[3];
  double& phase = st[4];
  double sq = 0, df = 0;
  if (phase == 0) {
    fused_pass(A, x, b, bf32, 1, -1, res, g, nullptr, &sq, &df, threads);
    rnorm = std::sqrt(sq);
    std::copy(x, x + d, prev);
    std::copy(x, x + d, best);
    bestNorm = rnorm;
    itn = 0;
    stop = rnorm == 0 ? kStopConverged : kStopRunning;
    phase = 1;
  }
  while (stop == kStopRunning) {
    if (itn >= maxIter) { stop = kStopMaxIter; break; }
    if (itn > 0 && seconds_since(t0) > budget_s) return false;
    itn += 1;
    for (size_t k = 0; k < r; ++k) t[k] = g[perm[k]];
    sketch_solve_upper_t(R, d, r, t);
    sketch_solve_upper(R, d, r, t);
    for (size_t k = 0; k < r; ++k) {
      const size_t j = static_cast<size_t>(perm[k]);
      const double xj = x[j];
      x[j] = xj + alpha * t[k] + beta * (xj - prev[j]);
      prev[j] = xj;
    }
    fused_pass(A, x, b, bf32, 1, -1, res, g, res, &sq, &df, threads);
    rnorm = std::sqrt(sq);
    const double dr = std::sqrt(df);
    if (!std::isfinite(rnorm) || rnorm > 10 * bestNorm) { stop = kStopBreakdown; break; }
    if (rnorm < bestNorm) {
      bestNorm = rnorm;
      std::copy(x, x + d, best);
    }
    if (dr <= tol * (normEst * blocked_norm(x, d) + (1 + 0.01 * condEst) * rnorm)) stop = kStopConverged;
  }
  if (stop != kStopConverged && !(rnorm <= bestNorm)) {
    std::copy(best, best + d, x);
    rnorm = bestNorm;  // the caller recomputes the residual afresh
  }
  phase = 2;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Refinement on a Cholesky factor (method 'sketch-cholesky'; src/backends/js/sketch/cholesky.ts refine)

template <class T>
bool sketch_refine_run(const SketchOperandView<T>& A, const T* b, const double* R, const double* U,
                       const int32_t* perm, size_t rank, double* x, double* st, double* work, double tol,
                       double normEst, double condEst, int maxIter, double budget_s, int threads) {
  const auto t0 = Clock::now();
  const size_t n = A.rows, d = A.cols, r = rank;
  double* res = work;
  double* g = res + n;
  double* y = g + d;
  const bool bf32 = sizeof(T) == 4;
  double& itn = st[0];
  double& stop = st[1];
  double& rnorm = st[2];
  double& prevY = st[3];
  double& phase = st[4];
  if (phase == 0) {
    itn = 0;
    stop = kStopRunning;
    prevY = std::numeric_limits<double>::infinity();
    phase = 1;
  }
  const double sqrtEps = std::sqrt(2.220446049250313e-16);
  for (int passes = 0; stop == kStopRunning; ++passes) {
    if (passes > 0 && seconds_since(t0) > budget_s) return false;
    double sq = 0, df = 0;
    fused_pass(A, x, b, bf32, 1, -1, res, g, nullptr, &sq, &df, threads);
    rnorm = std::sqrt(sq);
    for (size_t k = 0; k < r; ++k) y[k] = g[perm[k]];
    if (R) sketch_solve_upper_t(R, d, r, y);
    sketch_solve_upper_t(U, r, r, y);
    const double ynorm = blocked_norm(y, r);
    const double xnorm = blocked_norm(x, d);
    if (!std::isfinite(ynorm) || !std::isfinite(rnorm)) { stop = kStopBreakdown; break; }
    if (ynorm <= tol * (normEst * xnorm + (1 + 0.01 * condEst) * rnorm)) { stop = kStopConverged; break; }
    if (ynorm > 0.5 * prevY) {
      stop = ynorm <= sqrtEps * (normEst * xnorm + rnorm) ? kStopConverged : kStopBreakdown;
      break;
    }
    if (itn >= maxIter) { stop = kStopMaxIter; break; }
    prevY = ynorm;
    itn += 1;
    sketch_solve_upper(U, r, r, y);
    if (R) sketch_solve_upper(R, d, r, y);
    for (size_t k = 0; k < r; ++k) x[perm[k]] += y[k];
  }
  phase = 2;
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Kaczmarz and sketch-and-project (the oracle's arithmetic, resumable: iteration t's rows or sketch come
// from Philox at counter t, so a slice boundary changes nothing)

namespace {
/// Ends a row-action loop's state: `done` steps, converged or not, the residual norm rn. Returns true (done).
bool row_action_done(double* st, int done, bool converged, double rn) {
  st[kRowDone] = done;
  st[kRowPhase] = 2;
  st[kRowConverged] = converged ? 1 : 0;
  st[kRowResidual] = rn;
  return true;
}
}  // namespace

namespace {
/// ‖a_i‖² of every row into out[i], each summed in stored order from +0 (the oracle's rowCdf terms). Dense
/// rows go eight at a time: one row's sum is a chain of dependent adds, eight are not.
template <class T>
void row_sq_norms(const SketchOperandView<T>& A, double* out, int threads) {
  const size_t n = A.rows, d = A.cols;
  const int nt = plan_threads(threads, n * std::max<size_t>(d, 1), 1 << 15);
  parallel_run(nt, [&](int tid, int nth) {
    size_t i, e;
    even_split(n, tid, nth, i, e);
    if (A.csr) {
      for (; i < e; ++i) {
        double s = 0;
        for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) s += static_cast<double>(A.values[p]) * static_cast<double>(A.values[p]);
        out[i] = s;
      }
      return;
    }
    constexpr size_t kRows = 8;
    for (; i + kRows <= e; i += kRows) {
      double s[kRows] = {};
      const T* a = A.data + i * d;
      for (size_t j = 0; j < d; ++j)
        for (size_t u = 0; u < kRows; ++u) {
          const double v = static_cast<double>(a[u * d + j]);
          s[u] += v * v;
        }
      std::copy(s, s + kRows, out + i);
    }
    for (; i < e; ++i) {
      double s = 0;
      for (size_t j = 0; j < d; ++j) {
        const double v = static_cast<double>(A.data[i * d + j]);
        s += v * v;
      }
      out[i] = s;
    }
  });
}
}  // namespace

template <class T>
double sketch_row_cdf(const SketchOperandView<T>& A, double acc, double* cdf, int threads) {
  row_sq_norms(A, cdf, threads);
  for (size_t i = 0; i < A.rows; ++i) cdf[i] = acc += cdf[i];
  return acc;
}

template <class T>
bool sketch_kaczmarz_run(const SketchOperandView<T>& A, const T* b, double* x, size_t block, const double* rowCdf,
                         const uint32_t key[2], double target, int maxIter, int checkEvery, double* st, double* work,
                         double budget_s, int threads) {
  const auto t0 = Clock::now();
  const size_t n = A.rows, d = A.cols;
  double* r = work;
  double* norms = block == 1 ? work + n : nullptr;
  if (st[kRowPhase] == 0) {
    const double rn = residual_into(A, b, x, r, threads);
    if (rn <= target) return row_action_done(st, 0, true, rn);
    if (norms) row_sq_norms(A, norms, threads);
    st[kRowDone] = 0;
    st[kRowResidual] = rn;
    st[kRowPhase] = 1;
  }
  if (st[kRowPhase] == 2) return true;
  const double total = rowCdf[n - 1];
  std::vector<double> M(block > 1 ? block * d : 0), c(block), delta(d);
  std::vector<size_t> rows(block);
  uint32_t blk[4];
  uint64_t have = ~0ull;
  for (int t = static_cast<int>(st[kRowDone]); t < maxIter; ++t) {
    for (size_t l = 0; l < block; ++l) {
      const uint64_t q = static_cast<uint64_t>(t) * block + l;
      if ((q >> 2) != have) { have = q >> 2; philox_block(key, kSketchStreamKaczmarz, have, blk); }
      const double u = (static_cast<double>(blk[q & 3u]) + 0.5) * 2.3283064365386963e-10;
      const double v = u * total;
      size_t lo = 0, hi = n - 1;
      while (lo < hi) {
        const size_t mid = (lo + hi) >> 1;
        if (rowCdf[mid] > v) hi = mid; else lo = mid + 1;
      }
      rows[l] = lo;
    }
    if (block == 1) {
      const size_t i = rows[0];
      if (norms[i] > 0) {
        const double coef = (static_cast<double>(b[i]) - row_dot_exact(A, i, x)) / norms[i];
        if (A.csr) {
          for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) x[A.colIdx[p]] += coef * static_cast<double>(A.values[p]);
        } else {
          for (size_t j = 0; j < d; ++j) x[j] += coef * static_cast<double>(A.data[i * d + j]);
        }
      }
    } else {
      for (size_t l = 0; l < block; ++l) {
        double* row = M.data() + l * d;
        std::fill(row, row + d, 0.0);
        const size_t i = rows[l];
        if (A.csr) {
          for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) row[A.colIdx[p]] = static_cast<double>(A.values[p]);
        } else {
          for (size_t j = 0; j < d; ++j) row[j] = static_cast<double>(A.data[i * d + j]);
        }
        c[l] = static_cast<double>(b[i]) - row_dot_exact(A, i, x);
      }
      sketch_min_norm_solve(M.data(), block, d, c.data(), 2.220446049250313e-16 * static_cast<double>(std::max(block, d)),
                            delta.data());
      for (size_t j = 0; j < d; ++j) x[j] += delta[j];
    }
    const int done = t + 1;
    if (done % checkEvery == 0 || done == maxIter) {
      const double rn = residual_into(A, b, x, r, threads);
      if (rn <= target) return row_action_done(st, done, true, rn);
      if (!std::isfinite(rn)) return row_action_done(st, done, false, rn);
      st[kRowResidual] = rn;
    }
    // The clock is read every 64 projections: one costs about a microsecond at a few hundred columns.
    if (done % 64 == 0 && seconds_since(t0) > budget_s) {
      st[kRowDone] = done;
      return false;
    }
  }
  return row_action_done(st, maxIter, false, st[kRowResidual]);
}

template <class T>
bool sketch_project_run(const SketchOperandView<T>& A, const T* b, double* x, const SketchSpec& S, double target,
                        int maxIter, double* st, double* work, double budget_s, int threads) {
  const auto t0 = Clock::now();
  const size_t n = A.rows, d = A.cols, q = S.m;
  double* r = work;
  if (st[kRowPhase] == 0) {
    const double rn = residual_into(A, b, x, r, threads);
    if (rn <= target) return row_action_done(st, 0, true, rn);
    st[kRowDone] = 0;
    st[kRowResidual] = rn;
    st[kRowPhase] = 1;
  }
  if (st[kRowPhase] == 2) return true;
  std::vector<double> SA(q * d), Sr(q), delta(d);
  for (int t = static_cast<int>(st[kRowDone]); t < maxIter; ++t) {
    uint32_t kw[4];
    philox_block(S.key, kSketchStreamProject, static_cast<uint64_t>(t) / 2, kw);
    const unsigned lane = 2u * (static_cast<unsigned>(t) & 1u);
    SketchSpec St = S;
    St.key[0] = kw[lane];
    St.key[1] = kw[lane + 1];
    // The oracle sketches the f64 residual r as its b.
    if constexpr (sizeof(T) == 8) {
      sketch_apply<double>(St, A, 0, r, SA.data(), Sr.data(), false, true, 0.0, threads);
    } else {
      // f32 A with an f64 residual: sketch A and r separately (r through a one-column f64 view).
      sketch_apply<float>(St, A, 0, nullptr, SA.data(), nullptr, false, true, 0.0, threads);
      SketchOperandView<double> rv{false, n, 1, r, nullptr, nullptr, nullptr};
      sketch_apply<double>(St, rv, 0, nullptr, Sr.data(), nullptr, false, true, 0.0, threads);
    }
    sketch_min_norm_solve(SA.data(), q, d, Sr.data(), 2.220446049250313e-16 * static_cast<double>(std::max(q, d)),
                          delta.data());
    for (size_t j = 0; j < d; ++j) x[j] += delta[j];
    const double rn = residual_into(A, b, x, r, threads);
    if (rn <= target) return row_action_done(st, t + 1, true, rn);
    if (!std::isfinite(rn)) return row_action_done(st, t + 1, false, rn);
    st[kRowResidual] = rn;
    if (seconds_since(t0) > budget_s) {
      st[kRowDone] = t + 1;
      return false;
    }
  }
  return row_action_done(st, maxIter, false, st[kRowResidual]);
}

#define NK_SKETCH_INST(T)                                                                                            \
  template double sketch_residual_sq<T>(const SketchOperandView<T>&, const T*, const double*, double, int, double*);       \
  template double sketch_row_cdf<T>(const SketchOperandView<T>&, double, double*, int);                              \
  template void sketch_fused_pass<T, double>(const SketchOperandView<T>&, const double*, const double*, double,       \
                                             double, double*, double*, const double*, double*, double*, int);        \
  template bool sketch_lsqr_run<T>(const SketchOperandView<T>&, const T*, const SketchLoopInput&, double*, double*,  \
                                   double*, double, double, int, double, int);                                       \
  template bool sketch_iterate_run<T>(const SketchOperandView<T>&, const T*, const SketchLoopInput&, double*,        \
                                      double*, double*, double, double, double, double, double, int, double, int);   \
  template bool sketch_refine_run<T>(const SketchOperandView<T>&, const T*, const double*, const double*,           \
                                     const int32_t*, size_t, double*, double*, double*, double, double, double, int, \
                                     double, int);                                                                  \
  template bool sketch_kaczmarz_run<T>(const SketchOperandView<T>&, const T*, double*, size_t, const double*,       \
                                       const uint32_t*, double, int, int, double*, double*, double, int);            \
  template bool sketch_project_run<T>(const SketchOperandView<T>&, const T*, double*, const SketchSpec&, double, int, \
                                      double*, double*, double, int);
NK_SKETCH_INST(float)
NK_SKETCH_INST(double)

}  // namespace numkern
