// Standalone checks of the sketch family's passes over A (native/src/sketch/loops.cc), included by
// native_test.cc: the fast fused pass (n·d ≥ 2²², rows four at a time, vectorized) and the residual
// (rows four at a time) must give the bits of a plain transcription of their documented order
// (docs/sketch.md §6: row dots in 8 partial sums, g summed over rows in order per SUM_BLOCK chunk, the
// chunks combined in order; the residual in the oracle's order), on one thread and on two, in f64 and
// f32, with rows whose t is 0 and tails of rows and columns that are not multiples of the blocking.
#pragma once

#undef NDEBUG  // plain asserts, never compiled out
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"
#include "numkern/sketch_loops.hpp"

namespace sketch_test {

using namespace numkern;

/// The fast pass's order, one row at a time.
template <class T>
void reference_pass(const std::vector<T>& A, size_t n, size_t d, const double* z, const double* w, double c, double s,
                    double* t, double* g, const double* prev, double* sumSq, double* diffSq) {
  const size_t SB = kSketchSumBlock, d8 = d & ~size_t{7};
  std::vector<double> gc(d);
  std::fill(g, g + d, 0.0);
  double sq = 0, df = 0;
  for (size_t i0 = 0; i0 < n; i0 += SB) {
    std::fill(gc.begin(), gc.end(), 0.0);
    double csq = 0, cdf = 0;
    for (size_t i = i0; i < std::min(n, i0 + SB); ++i) {
      const T* a = A.data() + i * d;
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (size_t j = 0; j < d8; j += 8)
        for (size_t u = 0; u < 8; ++u) acc[u] += static_cast<double>(a[j + u]) * z[j + u];
      double dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      for (size_t j = d8; j < d; ++j) dot += static_cast<double>(a[j]) * z[j];
      const double ti = c * w[i] + s * dot;
      if (prev) { const double e = ti - prev[i]; cdf += e * e; }
      t[i] = ti;
      csq += ti * ti;
      if (ti != 0)
        for (size_t j = 0; j < d; ++j) gc[j] += static_cast<double>(a[j]) * ti;
    }
    sq += csq;
    df += cdf;
    for (size_t j = 0; j < d; ++j) g[j] += gc[j];
  }
  *sumSq = sq;
  *diffSq = df;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <class T>
void test_fused_pass_bits() {
  const size_t n = 20483, d = 205;  // n·d ≥ 2²²: the fast form; n, d not multiples of 4, 8, SUM_BLOCK
  static_assert(20483ull * 205 >= (1ull << 22), "the fast form");
  std::vector<T> A(n * d);
  std::vector<double> w(n), z(d), prev(n);
  uint32_t x = 12345;
  auto next = [&]() { x = x * 1664525u + 1013904223u; return static_cast<double>(x >> 8) / 8388608.0 - 1.0; };
  for (auto& a : A) a = static_cast<T>(next());
  for (auto& v : w) v = next();
  for (auto& v : z) v = next();
  for (auto& v : prev) v = next();
  // Rows whose t is exactly 0 (a zero row with w = 0), next to each other and at chunk edges, so the
  // blocked update's fallback (which skips them, as the single-row form does) runs.
  for (size_t i : {size_t{5}, size_t{6}, size_t{4097}, size_t{20480}}) {
    std::fill(A.begin() + static_cast<std::ptrdiff_t>(i * d), A.begin() + static_cast<std::ptrdiff_t>((i + 1) * d), T(0));
    w[i] = 0;
  }
  SketchOperandView<T> V{false, n, d, A.data(), nullptr, nullptr, nullptr};
  std::vector<double> tr(n), gr(d), t(n), g(d);
  for (const bool withPrev : {false, true}) {
    double sqr = 0, dfr = 0;
    reference_pass(A, n, d, z.data(), w.data(), 0.75, -1.25, tr.data(), gr.data(), withPrev ? prev.data() : nullptr,
                   &sqr, &dfr);
    for (const int threads : {1, 2}) {
      double sq = 0, df = 0;
      sketch_fused_pass<T, double>(V, z.data(), w.data(), 0.75, -1.25, t.data(), g.data(),
                                   withPrev ? prev.data() : nullptr, &sq, &df, threads);
      assert(same_bits(sq, sqr));
      if (withPrev) assert(same_bits(df, dfr));
      for (size_t i = 0; i < n; ++i) assert(same_bits(t[i], tr[i]));
      for (size_t j = 0; j < d; ++j) assert(same_bits(g[j], gr[j]));
    }
  }
  // The residual: each row in the oracle's order (one accumulator, ascending columns), squares summed
  // per SUM_BLOCK block, blocks in order.
  std::vector<T> b(n);
  for (auto& v : b) v = static_cast<T>(next());
  double ref = 0;
  std::vector<double> rr(n);
  for (size_t i0 = 0; i0 < n; i0 += kSketchSumBlock) {
    double s = 0;
    for (size_t i = i0; i < std::min(n, i0 + kSketchSumBlock); ++i) {
      double dot = 0;
      for (size_t j = 0; j < d; ++j) dot += static_cast<double>(A[i * d + j]) * z[j];
      rr[i] = static_cast<double>(b[i]) - dot;
      s += rr[i] * rr[i];
    }
    ref += s;
  }
  for (const int threads : {1, 2}) {
    std::vector<double> r(n);
    const double got = sketch_residual_sq<T>(V, b.data(), z.data(), 0.0, threads, r.data());
    assert(same_bits(got, ref));
    for (size_t i = 0; i < n; ++i) assert(same_bits(r[i], rr[i]));
  }
}

/// The Gram pass of 'sketch-cholesky' (native/src/sketch/gram.cc): G = BᵀB, c = Bᵀb, B = A_P or A_P·R₁₁⁻¹,
/// against a plain row-by-row transcription (to rounding: the pass sums chunks per slab, then slabs), and
/// bit for bit across thread counts, OpenBLAS or not, slicing (one step per call), dense or CSR.
template <class T>
void test_gram(bool withR) {
  const size_t n = 40000 + 77, d = 37, r = withR ? 35 : d;
  std::vector<T> A(n * d), b(n);
  uint64_t h = 0x9e3779b97f4a7c15ull;
  auto next = [&]() {
    h ^= h >> 33; h *= 0xff51afd7ed558ccdull; h ^= h >> 33;
    return static_cast<double>(h >> 11) * 0x1.0p-53 * 2 - 1;
  };
  for (auto& a : A) a = static_cast<T>(next());
  for (auto& v : b) v = static_cast<T>(next());
  std::vector<int32_t> perm(d);
  for (size_t j = 0; j < d; ++j) perm[j] = static_cast<int32_t>(withR ? (j * 5 + 3) % d : j);  // 5 is prime to 37
  std::vector<double> R(d * d, 0.0);
  for (size_t i = 0; i < d; ++i) {
    R[i * d + i] = 2 + next();
    for (size_t j = i + 1; j < d; ++j) R[i * d + j] = 0.3 * next();
  }
  // Reference: rows in order.
  std::vector<double> Gref(r * r, 0.0), cref(r, 0.0), row(r);
  for (size_t i = 0; i < n; ++i) {
    for (size_t q = 0; q < r; ++q) row[q] = static_cast<double>(A[i * d + static_cast<size_t>(perm[q])]);
    if (withR) sketch_solve_upper_t(R.data(), d, r, row.data());
    for (size_t j = 0; j < r; ++j) {
      cref[j] += row[j] * static_cast<double>(b[i]);
      for (size_t l = 0; l < r; ++l) Gref[j * r + l] += row[j] * row[l];
    }
  }
  double gmax = 0;
  for (const double v : Gref) gmax = std::max(gmax, std::fabs(v));
  std::vector<int32_t> rowPtr(n + 1), colIdx(n * d);
  for (size_t i = 0; i <= n; ++i) rowPtr[i] = static_cast<int32_t>(i * d);
  for (size_t k = 0; k < n * d; ++k) colIdx[k] = static_cast<int32_t>(k % d);
  const SketchOperandView<T> dense{false, n, d, A.data(), nullptr, nullptr, nullptr};
  const SketchOperandView<T> csr{true, n, d, nullptr, rowPtr.data(), colIdx.data(), A.data()};
  const double* Rp = withR ? R.data() : nullptr;
  std::vector<double> G0, c0;
  for (const bool blas : {true, false}) {
    for (const auto* V : {&dense, &csr}) {
      for (const int threads : {1, 2}) {
        for (const double budget : {1e9, 0.0}) {
          std::vector<double> G(r * r), c(r), st(kGramScalars, 0.0), work(sketch_gram_work(n, d, r));
          while (!sketch_gram_run<T>(*V, b.data(), Rp, perm.data(), r, G.data(), c.data(), st.data(), work.data(), blas, false,
                                     budget, threads)) {
          }
          for (size_t k = 0; k < r * r; ++k) assert(std::fabs(G[k] - Gref[k]) <= 1e-12 * gmax);
          if (!withR && blas) {
            // The f32 Gram (ssyrk per chunk, chunks added in f64): within u₃₂·chunk·max|G| of the f64 one,
            // and thread-count independent too.
            std::vector<double> F(r * r), fc(r), fs(kGramScalars, 0.0), fw(sketch_gram_work(n, d, r));
            while (!sketch_gram_run<T>(*V, b.data(), nullptr, perm.data(), r, F.data(), fc.data(), fs.data(), fw.data(), true,
                                       true, budget, threads)) {
            }
            for (size_t k = 0; k < r * r; ++k) assert(std::fabs(F[k] - Gref[k]) <= 1024 * 6e-8 * gmax);
            std::vector<double> F1(r * r), f1c(r), f1s(kGramScalars, 0.0), f1w(fw.size());
            while (!sketch_gram_run<T>(*V, b.data(), nullptr, perm.data(), r, F1.data(), f1c.data(), f1s.data(), f1w.data(), true,
                                       true, 1e9, 1)) {
            }
            for (size_t k = 0; k < r * r; ++k) assert(same_bits(F[k], F1[k]));
          }
          for (size_t j = 0; j < r; ++j) assert(std::fabs(c[j] - cref[j]) <= 1e-11 * (std::fabs(cref[j]) + 1));
          for (size_t j = 0; j < r; ++j)
            for (size_t l = 0; l < r; ++l) assert(same_bits(G[j * r + l], G[l * r + j]));
          // The same bits on every thread count and slicing (and for the CSR twin of a dense A: the same
          // rows into the same buffer), per BLAS choice.
          if (V == &dense && threads == 1 && budget > 1) {
            G0 = G;
            c0 = c;
          } else {
            for (size_t k = 0; k < r * r; ++k) assert(same_bits(G[k], G0[k]) || (V == &csr && !withR && blas));
            for (size_t j = 0; j < r; ++j) assert(same_bits(c[j], c0[j]) || (V == &csr && !withR && blas));
          }
        }
      }
    }
  }
}

inline void run_all() {
  test_fused_pass_bits<double>();
  test_fused_pass_bits<float>();
  test_gram<double>(false);
  test_gram<double>(true);
  test_gram<float>(false);
  test_gram<float>(true);
}

}  // namespace sketch_test
