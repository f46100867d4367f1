// Host checks of numkern/pg_element.hpp, the lanes of the CUDA forward (native/cuda/pg.cu), included by
// native_test.cc after pg_test.hpp. row_as_device() replays the device's schedule on the host: kThreads
// lanes, lane l reading elements l, l + kThreads, ... in groups of kGroup, then the lanes folded in the
// device's tree (shuffles down by 16, 8, 4, 2, 1 within each warp of 32, then the warps in order). It is
// compared with the f64 transcription (pg_test::row_reference) at the CPU kernel's tolerance and with the
// CPU kernel itself, on rows that raise the maximum late and often, peaked rows, rows shorter than a
// block, and rows holding NaN and ±∞ (which every lane that reads one must report).
#pragma once

#undef NDEBUG
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "numkern/pg_element.hpp"
#include "numkern/pg_logits.hpp"
#include "pg_test.hpp"

namespace pg_element_test {

using namespace numkern::pg;

constexpr int kThreads = 256;  // as native/cuda/pg.cu
constexpr int kGroup = 8;

template <class T>
struct DeviceRow {
  RowResult r;
  bool ok;  // every lane finite (else the device redoes the row exactly)
};

template <class T>
DeviceRow<T> row_as_device(const T* row, int64_t V, int32_t tgt, double tau) {
  const double cd = 1.4426950408889634 / tau;
  const T c = static_cast<T>(cd);
  std::vector<LseState> st(kThreads);
  bool ok = true;
  for (int l = 0; l < kThreads; ++l) {
    LaneLse<T> lane = lane_empty<T>();
    for (int64_t b = l; b < V; b += int64_t{kThreads} * kGroup) {
      T v[kGroup];
      int cnt = 0;
      for (int k = 0; k < kGroup; ++k) {
        const int64_t j = b + int64_t{k} * kThreads;
        v[k] = j < V ? row[j] : T(0);
        cnt += j < V;
      }
      lane_add<true>(lane, v, cnt, c, cd);
    }
    ok = ok && lane_ok(lane);
    st[static_cast<size_t>(l)] = lane_state(lane, tau);
  }
  // The device's tree: within each warp, lane i takes lane i + o for o = 16 .. 1 (a lane past the warp
  // keeps its own value, which lane 0's result never reads), then warp 0's lane 0 takes warps 1 .. 7.
  for (int w = 0; w < kThreads / 32; ++w) {
    LseState* s = st.data() + w * 32;
    for (int o = 16; o > 0; o >>= 1)
      for (int i = 0; i + o < 32; ++i) s[i] = lse_merge(s[i], s[i + o]);
  }
  LseState all = st[0];
  for (int w = 1; w < kThreads / 32; ++w) all = lse_merge(all, st[static_cast<size_t>(w) * 32]);
  return DeviceRow<T>{lse_finish(all, static_cast<double>(row[tgt]) / tau), ok};
}

template <class T>
void test_rows(double tol) {
  pg_test::Rng r{7};
  for (const int64_t V : {int64_t{1}, int64_t{5}, int64_t{255}, int64_t{2048}, int64_t{2049}, int64_t{40961}, int64_t{151936}}) {
    for (int shape = 0; shape < 4; ++shape) {
      std::vector<T> x(static_cast<size_t>(V));
      for (int64_t j = 0; j < V; ++j) {
        double v = 6.0 * (r() - 0.5);
        if (shape == 1) v += 12.0 * static_cast<double>(j) / static_cast<double>(V);  // the maximum rises late, often
        if (shape == 2) v = j == V / 2 ? 25.0 : 0.01 * r();                           // peaked: H tiny
        if (shape == 3) v = std::floor(4 * r());                                       // many ties at the maximum
        x[static_cast<size_t>(j)] = static_cast<T>(v);
      }
      const std::vector<double> xd(x.begin(), x.end());
      const int32_t tgt = static_cast<int32_t>((V * 7) / 11);
      for (const double tau : {1.0, 0.7}) {
        const DeviceRow<T> got = row_as_device(x.data(), V, tgt, tau);
        assert(got.ok);
        const pg_test::RowRef ref = pg_test::row_reference(xd.data(), V, tgt, tau);
        const double scale = 1.0 + std::fabs(ref.lse);
        assert(std::fabs(got.r.lse - ref.lse) <= tol * scale);
        assert(std::fabs(got.r.logp - ref.logp) <= tol * scale);
        const double h_floor = sizeof(T) == 8 ? 4e-15 : 1e-12;
        assert(std::fabs(got.r.entropy - ref.H) <= tol * std::fabs(ref.H) + h_floor);
        // The CPU kernel agrees to the same tolerance (its lanes round otherwise).
        T lp, ls, H;
        assert(token_logprobs<T>(x.data(), 1, V, &tgt, tau, &lp, &ls, &H, 1) == -1);
        assert(std::fabs(static_cast<double>(ls) - got.r.lse) <= 2 * tol * scale);
        assert(std::fabs(static_cast<double>(H) - got.r.entropy) <= 2 * tol * std::fabs(ref.H) + 2 * h_floor);
      }
    }
  }
}

/// A NaN, +∞ or −∞ anywhere makes its lane's sums non-finite (the device then scans the row for it).
template <class T>
void test_nonfinite() {
  const T bad[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                   -std::numeric_limits<T>::infinity()};
  for (const T b : bad) {
    for (const int64_t at : {int64_t{0}, int64_t{3}, int64_t{2047}, int64_t{2048 * 3 + 17}}) {
      std::vector<T> x(8192);
      for (size_t j = 0; j < x.size(); ++j) x[j] = static_cast<T>(std::sin(0.37 * static_cast<double>(j)));
      x[static_cast<size_t>(at)] = b;
      assert(!row_as_device(x.data(), static_cast<int64_t>(x.size()), 1, 1.0).ok);
    }
  }
  // Finite but far apart, so (x − m)·c overflows in f32: flagged too, for the exact redo.
  if constexpr (sizeof(T) == 4) {
    std::vector<float> x(600, 0.0f);
    x[5] = 3e38f;
    x[300] = -3e38f;
    assert(!row_as_device(x.data(), 600, 0, 1.0).ok);
  }
}

/// lane_raise: rescaling keeps S and T those of the elements seen, relative to the new maximum.
void test_raise() {
  LaneLse<double> a = lane_empty<double>();
  const double c = 1.4426950408889634;
  double v1[kGroup] = {0.0, -1.0, -2.0, 0.5, 0, 0, 0, 0};
  lane_add<true>(a, v1, 4, c, c);
  double v2[kGroup] = {3.0, 2.0, 0, 0, 0, 0, 0, 0};
  lane_add<true>(a, v2, 2, c, c);
  const LseState s = lane_state(a, 1.0);
  double S = 0, T = 0;
  for (const double x : {0.0, -1.0, -2.0, 0.5, 3.0, 2.0}) {
    S += std::exp(x - 3.0);
    T += std::exp(x - 3.0) * (x - 3.0);
  }
  assert(s.M == 3.0 && std::fabs(s.S - S) <= 1e-15 * S && std::fabs(s.T - T) <= 1e-14 * std::fabs(T));
  assert(lse_empty().S == 0 && lane_state(lane_empty<float>(), 1.0).S == 0);
}

inline void run_all() {
  test_raise();
  test_rows<double>(1e-12);
  test_rows<float>(1e-5);
  test_nonfinite<double>();
  test_nonfinite<float>();
  std::printf("pg_element: all checks passed\n");
}

}  // namespace pg_element_test
