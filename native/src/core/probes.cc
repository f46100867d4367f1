// Machine-ceiling probes for bench/: STREAM triad (bandwidth) and an n×n product (FLOP/s).
// This file is built with FMA contraction allowed: it measures the machine, it defines no results.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/core.hpp"
#include "numkern/parallel.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>

#include "numkern/blas_threads.hpp"
#endif

namespace numkern {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

NK_CLONES void triad_range(double* a, const double* b, const double* c, double s, size_t n) {
  for (size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
}

// Builtin C = A·B (row-major, n×n), after the Goto/BLIS structure (Goto, van de Geijn, ACM TOMS 34(3),
// 2008): a KC-deep slab of B is packed into NR-column panels shared by all threads, each thread packs
// MC×KC blocks of A into MR-row panels, and an MR×NR tile of C accumulates in registers over the slab.
// The tile is plain scalar code on purpose: GCC's vectorizer turns a 4×8 tile into 4 zmm (x86-64-v4),
// 8 ymm (AVX2) or 16 xmm (baseline) accumulators, one source for every clone. Explicit vector types
// would fix one width, and a width the clone lacks is lowered through memory (measured: 1 GFLOP/s).
constexpr int MR = 4, NR = 8, KC = 256, MC = 128;

NK_CLONES void micro_tile(int kc, const double* __restrict ap, const double* __restrict bp, double* __restrict c,
                          int ldc, int mr, int nr) {
  double acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k)
    for (int r = 0; r < MR; ++r) {
      const double a = ap[k * MR + r];
      for (int j = 0; j < NR; ++j) acc[r][j] += a * bp[k * NR + j];
    }
  for (int r = 0; r < mr; ++r)
    for (int j = 0; j < nr; ++j) c[r * ldc + j] += acc[r][j];
}

}  // namespace

void gemm_builtin(int n, const double* A, const double* B, double* C, int threads) {
  if (n <= 0) return;
  const int nt = plan_threads(threads, static_cast<size_t>(n) * n, 0);
  std::memset(C, 0, sizeof(double) * static_cast<size_t>(n) * n);
  const int npan = (n + NR - 1) / NR;
  std::vector<double> bpack(static_cast<size_t>(npan) * KC * NR);
  for (int pc = 0; pc < n; pc += KC) {
    const int kc = std::min(KC, n - pc);
    // Pack B[pc:pc+kc, :] as panels of NR columns, k-major, zero-padded on the right edge.
    for (int p = 0; p < npan; ++p)
      for (int k = 0; k < kc; ++k)
        for (int j = 0; j < NR; ++j) {
          const int col = p * NR + j;
          bpack[(static_cast<size_t>(p) * KC + k) * NR + j] =
              col < n ? B[static_cast<size_t>(pc + k) * n + col] : 0.0;
        }
    const int nblocks = (n + MC - 1) / MC;
    parallel_run(nt, [&](int t, int k_) {
      std::vector<double> apack(static_cast<size_t>(MC) * KC);
      size_t blo, bhi;
      even_split(static_cast<size_t>(nblocks), t, k_, blo, bhi);
      for (size_t blk = blo; blk < bhi; ++blk) {
        const int ic = static_cast<int>(blk) * MC, mc = std::min(MC, n - ic);
        for (int i = 0; i < mc; i += MR)
          for (int k = 0; k < kc; ++k)
            for (int r = 0; r < MR; ++r)
              apack[static_cast<size_t>(i) * KC + k * MR + r] =
                  i + r < mc ? A[static_cast<size_t>(ic + i + r) * n + pc + k] : 0.0;
        for (int p = 0; p < npan; ++p) {
          const int jc = p * NR, nr = std::min(NR, n - jc);
          for (int i = 0; i < mc; i += MR)
            micro_tile(kc, &apack[static_cast<size_t>(i) * KC], &bpack[static_cast<size_t>(p) * KC * NR],
                       C + static_cast<size_t>(ic + i) * n + jc, n, std::min(MR, mc - i), nr);
        }
      }
    });
  }
}

double triad(size_t n, double* a, const double* b, const double* c, double s, int reps, int threads) {
  if (n == 0) return 0.0;
  const int nt = plan_threads(threads, n, 1 << 15);
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const auto t0 = Clock::now();
    parallel_run(nt, [&](int t, int k) {
      size_t i0, i1;
      even_split(n, t, k, i0, i1);
      triad_range(a + i0, b + i0, c + i0, s, i1 - i0);
    });
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

double gemm_gflops(int n, int threads, int reps) {
  if (n <= 0) return 0.0;
  // OpenBLAS keeps its thread count in process-wide state; one probe at a time keeps it consistent.
  static std::mutex probe_mutex;
  std::lock_guard<std::mutex> lock(probe_mutex);
  const size_t nn = static_cast<size_t>(n) * n;
  std::vector<double> A(nn), B(nn), C(nn);
  // Values whose products stay O(1), so no denormals or overflow slow either kernel down.
  for (size_t i = 0; i < nn; ++i) {
    A[i] = 1.0 + static_cast<double>((i * 7) % 13) / 16.0;
    B[i] = 1.0 - static_cast<double>((i * 5) % 11) / 16.0;
  }
  const int nt = plan_threads(threads, nn, 0);
  double best = std::numeric_limits<double>::infinity();
#if defined(NUMKERN_HAVE_BLAS)
  const BlasThreads blas(nt);
#endif
  for (int r = 0; r < std::max(reps, 1); ++r) {
    const auto t0 = Clock::now();
#if defined(NUMKERN_HAVE_BLAS)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, A.data(), n, B.data(), n, 0.0, C.data(), n);
#else
    gemm_builtin(n, A.data(), B.data(), C.data(), nt);
#endif
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * static_cast<double>(n) * n * n / best / 1e9;
}

}  // namespace numkern
