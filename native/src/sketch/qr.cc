// sketchQr on the CPU: LAPACK dgeqp3 + dormqr through the linked OpenBLAS when it exports them (weak
// symbols, so an OpenBLAS built without LAPACK falls back), else the oracle's unblocked Householder QR
// with column pivoting (src/backends/js/sketch/dense.ts, ported line by line).
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>
extern "C" {
void dgeqp3_(const int* m, const int* n, double* a, const int* lda, int* jpvt, double* tau, double* work,
             const int* lwork, int* info) __attribute__((weak));
void dormqr_(const char* side, const char* trans, const int* m, const int* n, const int* k, const double* a,
             const int* lda, const double* tau, double* c, const int* ldc, double* work, const int* lwork, int* info,
             size_t, size_t) __attribute__((weak));
}
#endif

namespace numkern {

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
    static std::mutex lapack_mutex;  // OpenBLAS's thread count is process-wide state
    std::lock_guard<std::mutex> lock(lapack_mutex);
    const int m = static_cast<int>(rows), n = static_cast<int>(cols), k = static_cast<int>(steps);
    std::vector<double> a(rows * cols);
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) a[j * rows + i] = M[i * cols + j];
    std::vector<int> jpvt(cols, 0);
    std::vector<double> tau(steps);
    int info = 0, lwork = -1;
    double q = 0;
    const int previous = openblas_get_num_threads();
    openblas_set_num_threads(plan_threads(threads, rows * cols * cols, 1 << 18));
    dgeqp3_(&m, &n, a.data(), &m, jpvt.data(), tau.data(), &q, &lwork, &info);
    lwork = std::max(static_cast<int>(q), 3 * n + 1);
    std::vector<double> work(static_cast<size_t>(lwork));
    dgeqp3_(&m, &n, a.data(), &m, jpvt.data(), tau.data(), work.data(), &lwork, &info);
    if (info == 0 && rhs && k > 0) {
      const int one = 1;
      lwork = -1;
      dormqr_("L", "T", &m, &one, &k, a.data(), &m, tau.data(), rhs, &m, &q, &lwork, &info, 1, 1);
      lwork = std::max(static_cast<int>(q), 1);
      work.resize(static_cast<size_t>(lwork));
      dormqr_("L", "T", &m, &one, &k, a.data(), &m, tau.data(), rhs, &m, work.data(), &lwork, &info, 1, 1);
    }
    openblas_set_num_threads(previous);
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
