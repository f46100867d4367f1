// The Gram pass of method 'sketch-cholesky' on the CPU (docs/sketch.md §4.5): G = BᵀB and c = Bᵀb with
// B = A·P[:, :r] or A·P[:, :r]·R₁₁⁻¹, one BLAS-3 pass over A in row chunks that stay in cache. With
// OpenBLAS linked: per chunk dtrsm (B := A_chunk·R₁₁⁻¹), dsyrk and dgemv, each on one thread inside our
// own threads (so no product's bits depend on how OpenBLAS would split it; the frechet family's
// convention, docs/platform.md 1.8); without it (or with use_blas false, which tests it here), the
// blocked kernels below.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"
#include "numkern/sketch_loops.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>

#include "numkern/blas_threads.hpp"
#endif

namespace numkern {
namespace {

/// Rows per chunk: about 2 MB of f64 B, a multiple of 64, in [64, 1024] (a chunk of B is trsm'd and
/// syrk'd while in cache; measured flat from 256 to 2048 rows at d = 50…200).
size_t gram_chunk(size_t d) {
  const size_t rows = (size_t{1} << 18) / std::max<size_t>(d, 1);
  return std::clamp<size_t>(rows & ~size_t{63}, 64, 1024);
}

/// Slabs: up to 16 (two threads keep busy; a thread count never changes them), at most 32 MB of
/// accumulators, at most one per chunk.
size_t gram_slabs(size_t nchunks, size_t r) {
  const size_t cap = std::max<size_t>(1, (size_t{1} << 22) / std::max<size_t>(r * r + r, 1));
  return std::max<size_t>(1, std::min({size_t{16}, nchunks, cap}));
}

#if defined(NUMKERN_HAVE_BLAS)
/// OpenBLAS on one thread while our threads each run their own calls (numkern/blas_threads.hpp).
struct OneBlasThread {
  BlasThreads t{1};
};
#endif

/// G (upper triangle, ld r) += BᵀB for B (k × r, ld ldb): 4 × 8 tiles of G, each summed over the k rows
/// in order in registers, then added to G. No BLAS needed.
template <bool Full>
NK_FORCEINLINE void gram_tile(const double* B, size_t k, size_t ldb, size_t j0, size_t jn, size_t l0, size_t ln,
                              double* G, size_t r) {
  double acc[4][8] = {};
  for (size_t i = 0; i < k; ++i) {
    const double* row = B + i * ldb;
    if constexpr (Full) {
      for (size_t jj = 0; jj < 4; ++jj) {
        const double v = row[j0 + jj];
        for (size_t ll = 0; ll < 8; ++ll) acc[jj][ll] += v * row[l0 + ll];
      }
    } else {
      for (size_t jj = 0; jj < jn; ++jj) {
        const double v = row[j0 + jj];
        for (size_t ll = 0; ll < ln; ++ll) acc[jj][ll] += v * row[l0 + ll];
      }
    }
  }
  for (size_t jj = 0; jj < jn; ++jj)
    for (size_t ll = 0; ll < ln; ++ll)
      if (l0 + ll >= j0 + jj) G[(j0 + jj) * r + l0 + ll] += acc[jj][ll];
}
NK_CLONES void gram_update(const double* B, size_t k, size_t ldb, size_t r, double* G) {
  for (size_t j0 = 0; j0 < r; j0 += 4) {
    const size_t jn = std::min<size_t>(4, r - j0);
    for (size_t l0 = j0 & ~size_t{7}; l0 < r; l0 += 8) {
      const size_t ln = std::min<size_t>(8, r - l0);
      if (jn == 4 && ln == 8) gram_tile<true>(B, k, ldb, j0, 4, l0, 8, G, r);
      else gram_tile<false>(B, k, ldb, j0, jn, l0, ln, G, r);
    }
  }
}

/// One chunk into one slab's accumulators (Gs upper, ld r; cs).
template <class T>
void gram_chunk_into(const SketchOperandView<T>& A, const T* b, const double* R, const int32_t* perm,
                     const int32_t* inv, size_t r, bool direct, size_t i0, size_t i1, double* Gs, double* cs,
                     bool use_blas, bool f32, std::vector<double>& buf, std::vector<double>& bb,
                     std::vector<float>& fb, std::vector<float>& fg) {
  const size_t k = i1 - i0, d = A.cols;
  const double* B;
  size_t ldb;
  if (direct) {
    B = reinterpret_cast<const double*>(A.data) + i0 * d;
    ldb = d;
  } else {
    buf.assign(k * r, 0.0);
    if (A.csr) {
      for (size_t i = i0; i < i1; ++i)
        for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) {
          const int32_t q = inv[A.colIdx[p]];
          if (q >= 0) buf[(i - i0) * r + static_cast<size_t>(q)] = static_cast<double>(A.values[p]);
        }
    } else {
      for (size_t i = i0; i < i1; ++i)
        for (size_t q = 0; q < r; ++q) buf[(i - i0) * r + q] = static_cast<double>(A.data[i * d + static_cast<size_t>(perm[q])]);
    }
    B = buf.data();
    ldb = r;
  }
  bb.resize(k);
  for (size_t i = 0; i < k; ++i) bb[i] = static_cast<double>(b[i0 + i]);
#if defined(NUMKERN_HAVE_BLAS)
  if (use_blas) {
    const auto bk = static_cast<blasint>(k), br = static_cast<blasint>(r), bl = static_cast<blasint>(ldb);
    if (R) cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, bk, br, 1.0, R,
                       static_cast<blasint>(d), buf.data(), br);
    if (f32) {
      // The chunk's Gram in f32 (ssyrk: twice dsyrk's rate), added to the slab's f64 sum: a preconditioner
      // with relative error ≈ u₃₂·√k per chunk, which the f64 refinement removes (docs/sketch.md §4.5).
      fb.resize(k * r);
      fg.resize(r * r);
      for (size_t i = 0; i < k; ++i)
        for (size_t q = 0; q < r; ++q) fb[i * r + q] = static_cast<float>(B[i * ldb + q]);
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, br, bk, 1.0f, fb.data(), br, 0.0f, fg.data(), br);
      for (size_t j = 0; j < r; ++j)
        for (size_t l = j; l < r; ++l) Gs[j * r + l] += static_cast<double>(fg[j * r + l]);
    } else {
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, br, bk, 1.0, B, bl, 1.0, Gs, br);
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, bk, br, 1.0, B, bl, bb.data(), 1, 1.0, cs, 1);
    return;
  }
#else
  (void)use_blas;
  (void)f32;
  (void)fb;
  (void)fg;
#endif
  // Row i of B·R₁₁ = row i of A_P: a forward substitution with R₁₁ᵀ per row (the oracle's solveUpperT).
  if (R)
    for (size_t i = 0; i < k; ++i) sketch_solve_upper_t(R, d, r, buf.data() + i * r);
  gram_update(B, k, ldb, r, Gs);
  for (size_t i = 0; i < k; ++i) {
    const double bi = bb[i];
    const double* row = B + i * ldb;
    for (size_t q = 0; q < r; ++q) cs[q] += row[q] * bi;
  }
}

}  // namespace

bool sketch_gram_uses_f32(bool use_blas, bool f32) {
#if defined(NUMKERN_HAVE_BLAS)
  return use_blas && f32;
#else
  (void)use_blas;
  (void)f32;
  return false;
#endif
}

size_t sketch_gram_work(size_t n, size_t d, size_t rank) {
  const size_t nch = (n + gram_chunk(d) - 1) / gram_chunk(d);
  return gram_slabs(std::max<size_t>(nch, 1), rank) * (rank * rank + rank);
}

template <class T>
bool sketch_gram_run(const SketchOperandView<T>& A, const T* b, const double* R, const int32_t* perm, size_t rank,
                     double* G, double* c, double* st, double* work, bool use_blas, bool f32, double budget_s,
                     int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const size_t n = A.rows, d = A.cols, r = rank;
  const size_t CH = gram_chunk(d);
  const size_t nch = (n + CH - 1) / CH;
  const size_t NS = gram_slabs(std::max<size_t>(nch, 1), r);
  const size_t per = r * r + r;
  const size_t cps = (nch + NS - 1) / std::max<size_t>(NS, 1);
  double& step = st[0];
  double& phase = st[1];
  if (phase == 0) {
    std::fill(work, work + NS * per, 0.0);
    step = 0;
    phase = 1;
  }
  bool identity = r == d;
  for (size_t q = 0; q < r && identity; ++q) identity = perm[q] == static_cast<int32_t>(q);
  const bool direct = !A.csr && sizeof(T) == 8 && !R && identity;
  f32 = sketch_gram_uses_f32(use_blas, f32);
  std::vector<int32_t> inv(A.csr ? d : 0, -1);
  for (size_t q = 0; q < r && A.csr; ++q) inv[static_cast<size_t>(perm[q])] = static_cast<int32_t>(q);
  if (r > 0) {
    const size_t rowsPerStep = CH * NS;
    const int nt = std::min<int>(plan_threads(threads, rowsPerStep * std::max<size_t>(d, 1) * r, 1 << 18),
                                 static_cast<int>(NS));
#if defined(NUMKERN_HAVE_BLAS)
    std::optional<OneBlasThread> one;
    if (use_blas) one.emplace();
#endif
    size_t done = 0;
    // Each thread's chunk buffers live for the whole call, not one step: made afresh every step they were
    // fresh pages every step (a first-touched page costs ~10 µs on the development VM).
    struct Buffers {
      std::vector<double> buf, bb;
      std::vector<float> fb, fg;
    };
    std::vector<Buffers> buffers(static_cast<size_t>(nt));
    while (static_cast<size_t>(step) < cps) {
      if (done > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > budget_s) return false;
      const size_t kstep = static_cast<size_t>(step);
      parallel_run(nt, [&](int tid, int nth) {
        size_t s0, s1;
        even_split(NS, tid, nth, s0, s1);
        Buffers& w = buffers[static_cast<size_t>(tid)];
        for (size_t s = s0; s < s1; ++s) {
          const size_t q = s * cps + kstep;
          if (q >= std::min(nch, (s + 1) * cps)) continue;
          const size_t i0 = q * CH, i1 = std::min(n, i0 + CH);
          double* Gs = work + s * per;
          gram_chunk_into(A, b, R, perm, inv.data(), r, direct, i0, i1, Gs, Gs + r * r, use_blas, f32, w.buf, w.bb, w.fb, w.fg);
        }
      });
      step = static_cast<double>(kstep + 1);
      ++done;
    }
  }
  std::fill(G, G + r * r, 0.0);
  std::fill(c, c + r, 0.0);
  for (size_t s = 0; s < NS; ++s) {
    const double* Gs = work + s * per;
    for (size_t j = 0; j < r; ++j)
      for (size_t l = j; l < r; ++l) G[j * r + l] += Gs[j * r + l];
    for (size_t j = 0; j < r; ++j) c[j] += Gs[r * r + j];
  }
  for (size_t j = 0; j < r; ++j)
    for (size_t l = j + 1; l < r; ++l) G[l * r + j] = G[j * r + l];
  phase = 2;
  return true;
}

template bool sketch_gram_run<float>(const SketchOperandView<float>&, const float*, const double*, const int32_t*,
                                     size_t, double*, double*, double*, double*, bool, bool, double, int);
template bool sketch_gram_run<double>(const SketchOperandView<double>&, const double*, const double*, const int32_t*,
                                      size_t, double*, double*, double*, double*, bool, bool, double, int);

}  // namespace numkern
