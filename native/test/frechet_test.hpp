// Standalone checks of the frechet kernel (numkern/frechet.hpp), included by native_test.cc: both
// engines against a plain sort of every score, both layouts and dtypes, tile edges, topk above a tile,
// the tie rule, merged slices, the thread count, and NaN ranked last.
#pragma once

#undef NDEBUG  // the checks are plain asserts: never compiled out
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "numkern/frechet.hpp"
#include "numkern/frechet_topk.hpp"

namespace frechet_test {

using namespace numkern::frechet;

template <class T>
struct Case {
  int64_t B, K, N;
  Layout layout;
  std::vector<T> W, M, bias;
  bool use_bias;
  int32_t offset;
};

/// Small integers for M and multiples of 1/8 for W: every partial sum is exact in f32 (|s| < 2^24), so
/// any summation order gives the same bits and the reference below is exact, ties included.
template <class T>
Case<T> exact_case(int64_t B, int64_t K, int64_t N, Layout layout, bool use_bias, uint32_t seed) {
  Case<T> c{B, K, N, layout, {}, {}, {}, use_bias, 7};
  uint32_t x = seed * 2654435761u + 1;
  const auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  c.W.resize(static_cast<size_t>(B * K));
  for (T& w : c.W) w = static_cast<T>(next() % 9) / 8;
  c.M.resize(static_cast<size_t>(K * N));
  for (T& m : c.M) m = static_cast<T>(next() % 6);  // few values: many exact ties
  c.bias.resize(static_cast<size_t>(N));
  for (T& b : c.bias) b = static_cast<T>(static_cast<int>(next() % 5) - 2);
  return c;
}

template <class T>
T m_at(const Case<T>& c, int64_t k, int64_t j) {
  return c.layout == Layout::KN ? c.M[static_cast<size_t>(k * c.N + j)] : c.M[static_cast<size_t>(j * c.K + k)];
}

/// Every score in double (exact for exact_case), rounded to T, sorted by (score, label).
template <class T>
void reference(const Case<T>& c, int32_t topk, std::vector<int32_t>& labels, std::vector<T>& scores) {
  labels.assign(static_cast<size_t>(c.B * topk), 0);
  scores.assign(labels.size(), 0);
  std::vector<std::pair<T, int32_t>> row(static_cast<size_t>(c.N));
  for (int64_t b = 0; b < c.B; ++b) {
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k) s += static_cast<double>(c.W[static_cast<size_t>(b * c.K + k)]) * m_at(c, k, j);
      T v = static_cast<T>(s);
      if (c.use_bias) v = static_cast<T>(v + c.bias[static_cast<size_t>(j)]);
      row[static_cast<size_t>(j)] = {v, c.offset + static_cast<int32_t>(j)};
    }
    std::sort(row.begin(), row.end(), [](const auto& a, const auto& d) {
      return ranks_before(a.first, a.second, d.first, d.second);
    });
    for (int32_t r = 0; r < topk; ++r) {
      labels[static_cast<size_t>(b * topk + r)] = row[static_cast<size_t>(r)].second;
      scores[static_cast<size_t>(b * topk + r)] = row[static_cast<size_t>(r)].first;
    }
  }
}

/// One call over [begin, end) of c; merge as given.
template <class T>
void call(const Case<T>& c, int32_t topk, int64_t begin, int64_t end, bool merge, Engine e, int threads,
          std::vector<int32_t>& labels, std::vector<T>& scores) {
  labels.resize(static_cast<size_t>(c.B * topk));
  scores.resize(labels.size());
  const Problem<T> p{c.W.data(), c.B, c.K, c.M.data(), c.N, c.layout, c.use_bias ? c.bias.data() : nullptr,
                     c.offset, topk, begin, end, merge, labels.data(), scores.data()};
  numkern::frechet::topk<T>(p, e, threads);
}

/// The engines this build has; Auto is one of them (checked in run_all).
inline std::vector<Engine> engines() {
  std::vector<Engine> e{Engine::Builtin};
  if (have_blas()) e.push_back(Engine::Blas);
  return e;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!(a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i])))) return false;
  return true;
}

/// Exact data: both engines equal the reference bit for bit, on 1 to 3 threads and in merged slices.
template <class T>
void test_exact(int64_t B, int64_t K, int64_t N, Layout layout, bool use_bias, int32_t topk) {
  const Case<T> c = exact_case<T>(B, K, N, layout, use_bias, static_cast<uint32_t>(B * 131 + K * 17 + N + topk));
  std::vector<int32_t> want_l, got_l;
  std::vector<T> want_s, got_s;
  reference(c, topk, want_l, want_s);
  for (Engine e : engines())
    for (int threads : {1, 2, 3}) {
      call(c, topk, 0, N, false, e, threads, got_l, got_s);
      assert(got_l == want_l);
      assert(same_bits(got_s, want_s));
    }
  // Slices on the tile grid, merged: the same bits as one call.
  for (Engine e : engines()) {
    const int64_t tile = plan(B, K, N, sizeof(T) == 4, e).tile;
    const int64_t first = std::min(N, std::max<int64_t>(tile, (topk + tile - 1) / tile * tile));
    call(c, topk, 0, first, false, e, 2, got_l, got_s);
    for (int64_t lo = first; lo < N; lo += tile) call(c, topk, lo, std::min(N, lo + tile), true, e, 2, got_l, got_s);
    assert(got_l == want_l);
    assert(same_bits(got_s, want_s));
  }
}

/// Random floats: the result is a function of the data only, not of the thread count or of which
/// thread took which tile, and it is a valid top-k of the reference within the rounding of a K-term sum.
template <class T>
void test_random(int64_t B, int64_t K, int64_t N, Layout layout, int32_t topk) {
  Case<T> c = exact_case<T>(B, K, N, layout, true, 99);
  uint32_t x = 12345;
  for (T& v : c.W) v = static_cast<T>((x = x * 1664525u + 1013904223u) >> 8) / T(1 << 24);
  for (T& v : c.M) v = static_cast<T>((x = x * 1664525u + 1013904223u) >> 8) / T(1 << 24);
  std::vector<int32_t> ref_l, l1, l2;
  std::vector<T> ref_s, s1, s2;
  reference(c, static_cast<int32_t>(N), ref_l, ref_s);  // every label ranked, to look scores up
  std::vector<double> score_of(static_cast<size_t>(B * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t r = 0; r < N; ++r)
      score_of[static_cast<size_t>(b * N + ref_l[static_cast<size_t>(b * N + r)] - c.offset)] = ref_s[static_cast<size_t>(b * N + r)];
  const double eps = std::numeric_limits<T>::epsilon();
  for (Engine e : engines()) {
    call(c, topk, 0, N, false, e, 1, l1, s1);
    for (int threads : {2, 4}) {
      call(c, topk, 0, N, false, e, threads, l2, s2);
      assert(l1 == l2);
      assert(same_bits(s1, s2));
    }
    for (int64_t b = 0; b < B; ++b) {
      const double kth = ref_s[static_cast<size_t>(b * N + topk - 1)];
      for (int32_t r = 0; r < topk; ++r) {
        const size_t i = static_cast<size_t>(b * topk + r);
        const double want = score_of[static_cast<size_t>(b * N + l1[i] - c.offset)];
        // Terms in [0, 1), bias in [−2, 2]: a K-term sum in T is off by at most about (K + 2)² ulp of 1.
        const double tol = 4 * eps * (static_cast<double>(K) + 2) * (static_cast<double>(K) + 2);
        assert(std::fabs(s1[i] - want) <= tol);  // the score reported is the label's
        assert(want <= kth + 2 * tol);           // and the label belongs in the top-k
        if (r > 0) assert(ranks_before(s1[i - 1], l1[i - 1], s1[i], l1[i]));
      }
    }
  }
}

/// inf·0 gives NaN scores: ranked after every number, among themselves by label.
inline void test_nan() {
  Case<float> c = exact_case<float>(2, 2, 40, Layout::KN, false, 5);
  for (float& m : c.M) m = 1;
  c.W = {std::numeric_limits<float>::infinity(), 1, 1, 1};
  for (int64_t j = 0; j < 40; ++j) c.M[static_cast<size_t>(j)] = j % 3 == 0 ? 0.0f : 1.0f;  // row 0: inf·0 on j%3==0
  std::vector<int32_t> l;
  std::vector<float> s;
  for (Engine e : engines()) {
    call(c, 20, 0, 40, false, e, 2, l, s);
    // Row 0: 26 labels score +inf (j%3 != 0), 14 NaN; +inf ranks first, by label.
    for (int r = 0; r < 20; ++r) {
      assert(std::isinf(s[static_cast<size_t>(r)]));
      const int32_t j = l[static_cast<size_t>(r)] - c.offset;
      assert(j % 3 != 0);
    }
    call(c, 40, 0, 40, false, e, 2, l, s);
    for (int r = 26; r < 40; ++r) assert(std::isnan(s[static_cast<size_t>(r)]));
    for (int r = 27; r < 40; ++r) assert(l[static_cast<size_t>(r)] > l[static_cast<size_t>(r - 1)]);
  }
}

/// The heap alone: offers in any order give the same ranked list.
inline void test_heap() {
  std::vector<float> s(5);
  std::vector<int32_t> id(5);
  const float vals[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, std::nanf(""), 1};
  for (int rot = 0; rot < 13; ++rot) {
    TopkRow<float> r{s.data(), id.data(), 0, 5};
    for (int i = 0; i < 13; ++i) offer(r, vals[(i + rot) % 13], (i + rot) % 13);
    sort_ranked(r);
    const int32_t want[] = {1, 3, 12, 6, 0};  // the three 1s by label, then 2, then the first 3
    for (int i = 0; i < 5; ++i) assert(id[static_cast<size_t>(i)] == want[i]);
  }
}

/// Every vector variant of the builtin engine this CPU runs gives the same bits (random data, both
/// layouts and dtypes, tile and panel edges; topk = N, so every score is compared).
inline void test_variants() {
  for (Layout layout : {Layout::KN, Layout::NK}) {
    Case<float> c = exact_case<float>(29, 37, 700, layout, true, 3);
    Case<double> d = exact_case<double>(13, 21, 333, layout, false, 4);
    uint32_t x = 777;
    for (float& v : c.W) v = static_cast<float>((x = x * 1664525u + 1013904223u) >> 8) / float(1 << 24);
    for (float& v : c.M) v = static_cast<float>((x = x * 1664525u + 1013904223u) >> 8) / float(1 << 24);
    for (double& v : d.M) v = static_cast<double>((x = x * 1664525u + 1013904223u) >> 8) / double(1 << 24);
    std::vector<int32_t> l0, l1, m0, m1;
    std::vector<float> s0, s1;
    std::vector<double> t0, t1;
    const int32_t kc = static_cast<int32_t>(c.N), kd = static_cast<int32_t>(d.N);
    call(c, kc, 0, c.N, false, Engine::Builtin, 2, l0, s0);
    call(d, kd, 0, d.N, false, Engine::Builtin, 2, m0, t0);
    for (const char* v : {"x86-64-v4", "avx2", "default"}) {
      if (!use_builtin_variant(v)) continue;
      call(c, kc, 0, c.N, false, Engine::Builtin, 2, l1, s1);
      call(d, kd, 0, d.N, false, Engine::Builtin, 2, m1, t1);
      use_builtin_variant(nullptr);
      assert(l1 == l0 && same_bits(s1, s0));
      assert(m1 == m0 && same_bits(t1, t0));
    }
  }
  assert(use_builtin_variant("default"));
  assert(!use_builtin_variant("sse9"));
  use_builtin_variant(nullptr);
}

inline void run_all() {
  test_heap();
  test_nan();
  test_variants();
  // Auto is the builtin engine or BLAS, and takes its plan.
  const Plan a = plan(1024, 1000, 0, true, Engine::Auto);
  const Plan e = plan(1024, 1000, 0, true, a.blas ? Engine::Blas : Engine::Builtin);
  assert(a.tile == e.tile && a.rows == e.rows && a.blas == e.blas && (!a.blas || have_blas()));
  // Several tiles, the last one partial, and topk above a tile (the widest tile of the engines).
  int64_t tile32 = 0, tile64 = 0;
  for (Engine en : engines()) {
    tile32 = std::max(tile32, plan(3, 4, 0, true, en).tile);
    tile64 = std::max(tile64, plan(2, 3, 0, false, en).tile);
  }
  for (Layout layout : {Layout::KN, Layout::NK}) {
    for (bool bias : {false, true}) {
      test_exact<float>(5, 7, 1000, layout, bias, 3);
      test_exact<double>(3, 9, 777, layout, bias, 1);
    }
    test_exact<float>(3, 4, 2 * tile32 + 37, layout, true, static_cast<int32_t>(tile32 + 5));
    test_exact<double>(2, 3, 3 * tile64 + 1, layout, false, 2);
    test_exact<float>(300, 5, 300, layout, true, 300);   // topk = N; two row blocks under BLAS
    test_exact<double>(1100, 3, 70, layout, true, 2);    // two row blocks for every engine
    test_exact<double>(6, 0, 50, layout, true, 4);       // K = 0: the scores are the bias
    test_random<float>(9, 33, 1500, layout, 5);
    test_random<double>(4, 70, 900, layout, 3);
  }
}

}  // namespace frechet_test
