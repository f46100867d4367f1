// sketchQr on the CPU: LAPACK (dgeqrf when the factor is certainly of full rank, else dgeqp3) + dormqr
// through the linked OpenBLAS when it exports them (weak symbols, so an OpenBLAS built without LAPACK
// falls back), else the oracle's unblocked Householder QR
// with column pivoting (src/backends/js/sketch/dense.ts, ported line by line).
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"
#include "numkern/sketch_loops.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>

#include "numkern/blas_threads.hpp"
extern "C" {
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info) __attribute__((weak));
void dgeqp3_(const int* m, const int* n, double* a, const int* lda, int* jpvt, double* tau, double* work,
             const int* lwork, int* info) __attribute__((weak));
void dormqr_(const char* side, const char* trans, const int* m, const int* n, const int* k, const double* a,
             const int* lda, const double* tau, double* c, const int* ldc, double* work, const int* lwork, int* info,
             size_t, size_t) __attribute__((weak));
}
#endif

namespace numkern {

#if defined(NUMKERN_HAVE_BLAS)
namespace {

/// An upper bound on κ₂(R) for an upper-triangular R (leading k × k of a cols-strided array):
/// ‖R‖₂‖R⁻¹‖₂ ≤ ‖R‖_F·‖R⁻¹‖_F, with R⁻¹ formed column by column (k³/6 flops: nothing next to the QR).
double triangular_cond_bound(const double* R, size_t ld, size_t k) {
  double fr = 0;
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i; j < k; ++j) fr += R[i * ld + j] * R[i * ld + j];
  double fi = 0;
  std::vector<double> x(k);
  for (size_t c = 0; c < k; ++c) {
    std::fill(x.begin(), x.end(), 0.0);
    x[c] = 1;
    sketch_solve_upper(R, ld, c + 1, x.data());
    for (size_t i = 0; i <= c; ++i) fi += x[i] * x[i];
  }
  return std::sqrt(fr) * std::sqrt(fi);
}

bool sketch_have_unpivoted() { return dgeqrf_ != nullptr; }

}  // namespace
#endif

bool sketch_have_lapack() {
#if defined(NUMKERN_HAVE_BLAS)
  return dgeqp3_ != nullptr && dormqr_ != nullptr;
#else
  return false;
#endif
}


int sketch_qr(double* M, size_t rows, size_t cols, double* rhs, double* R, int32_t* perm, double rcond,
              bool use_lapack, int threads) {
  const size_t steps = std::min(rows, cols);
#if defined(NUMKERN_HAVE_BLAS)
  if (use_lapack && sketch_have_lapack() && rows > 0 && cols > 0 && rows < (1u << 31) && cols < (1u << 31) &&
      rows * cols < (size_t{1} << 31)) {
    // OpenBLAS's thread count is process-wide state, set under the one lock of numkern/blas_threads.hpp.
    const BlasThreads blas(plan_threads(threads, rows * cols * cols, 1 << 18));
    const int m = static_cast<int>(rows), n = static_cast<int>(cols), k = static_cast<int>(steps);
    // LAPACK's column-major copy of M, made again from M if the unpivoted attempt is dropped (M is only
    // read here): a second copy to keep was a second m·d of fresh pages each call (~8 ms at 2000 × 200 on
    // the development VM, where a first-touched page costs ~10 µs).
    std::vector<double> a(rows * cols);
    const auto copy_in = [&] {
      for (size_t i = 0; i < rows; ++i)
        for (size_t j = 0; j < cols; ++j) a[j * rows + i] = M[i * cols + j];
    };
    copy_in();
    std::vector<int> jpvt(cols, 0);
    std::vector<double> tau(steps);
    int info = 0, lwork = -1;
    double q = 0;
    std::vector<double> work;
    // First the unpivoted blocked QR (dgeqrf: BLAS-3, several times dgeqp3's speed, whose column-norm
    // updates are BLAS-2). Pivoting only matters for the rank: the pivoted R would have
    // |R_jj|/|R_00| ≥ σ_min/σ_max = 1/κ₂(M) for every j, so when the bound κ₂ ≤ ‖R‖_F‖R⁻¹‖_F of the
    // unpivoted R is below 1/(2·rcond) the pivoted rank is certainly full and this R (perm = identity)
    // is as good a factor. Otherwise (rank deficient or nearly so) the pivoted QR decides, from M.
    bool pivoted = true;
    if (rows >= cols && sketch_have_unpivoted()) {
      dgeqrf_(&m, &n, a.data(), &m, tau.data(), &q, &lwork, &info);
      lwork = std::max(static_cast<int>(q), n);
      work.resize(static_cast<size_t>(lwork));
      dgeqrf_(&m, &n, a.data(), &m, tau.data(), work.data(), &lwork, &info);
      if (info == 0) {
        std::vector<double> Rt(cols * cols, 0.0);
        for (size_t i = 0; i < steps; ++i)
          for (size_t j = i; j < cols; ++j) Rt[i * cols + j] = a[j * rows + i];
        const double bound = triangular_cond_bound(Rt.data(), cols, steps);
        if (std::isfinite(bound) && bound * 2 * rcond < 1) {
          for (size_t j = 0; j < cols; ++j) jpvt[j] = static_cast<int>(j) + 1;
          pivoted = false;
        }
      }
      info = 0;
      lwork = -1;
      if (pivoted) copy_in();
    }
    if (pivoted) {
      dgeqp3_(&m, &n, a.data(), &m, jpvt.data(), tau.data(), &q, &lwork, &info);
      lwork = std::max(static_cast<int>(q), 3 * n + 1);
      work.resize(static_cast<size_t>(lwork));
      dgeqp3_(&m, &n, a.data(), &m, jpvt.data(), tau.data(), work.data(), &lwork, &info);
    }
    if (info == 0 && rhs && k > 0) {
      const int one = 1;
      lwork = -1;
      dormqr_("L", "T", &m, &one, &k, a.data(), &m, tau.data(), rhs, &m, &q, &lwork, &info, 1, 1);
      lwork = std::max(static_cast<int>(q), 1);
      work.resize(static_cast<size_t>(lwork));
      dormqr_("L", "T", &m, &one, &k, a.data(), &m, tau.data(), rhs, &m, work.data(), &lwork, &info, 1, 1);
    }
    if (info == 0) {
      std::fill(R, R + cols * cols, 0.0);
      for (size_t i = 0; i < steps; ++i)
        for (size_t j = i; j < cols; ++j) R[i * cols + j] = a[j * rows + i];
      for (size_t j = 0; j < cols; ++j) perm[j] = jpvt[j] - 1;
      return sketch_rank(R, cols, steps, rcond);
    }
  }
#endif
  (void)use_lapack;
  (void)threads;
  std::vector<double> tau(steps);
  sketch_qr_factor(M, rows, cols, perm, tau.data());
  if (rhs) sketch_apply_qt(M, rows, cols, tau.data(), rhs);
  std::fill(R, R + cols * cols, 0.0);
  for (size_t i = 0; i < steps; ++i)
    for (size_t j = i; j < cols; ++j) R[i * cols + j] = M[i * cols + j];
  return sketch_rank(R, cols, steps, rcond);
}

}  // namespace numkern
