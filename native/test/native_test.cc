// Standalone check of the CPU kernels and the shared element logic, without Node
// (cmake -DNUMKERN_BUILD_TESTS=ON, then run numkern_native_test or ctest). The relax family's checks
// are in relax_test.hpp (the two-thread pair layouts in relax_pair_test.hpp, the lane-layout SpMV its sessions use in csr_lanes_test.hpp), the frechet family's in frechet_test.hpp (and frechet_lanes_test.hpp for the CUDA
// top-k's lanes), the pg family's in pg_test.hpp (and pg_element_test.hpp for the CUDA forward's lanes), the
// sketch family's passes in sketch_test.hpp (and sketch_hd_test.hpp for the element logic CUDA shares).
#undef NDEBUG  // the checks below are plain asserts and must survive Release builds
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <vector>

#include <sys/resource.h>

#include "numkern/blas1.hpp"
#include "numkern/core.hpp"
#include "numkern/linalg.hpp"
#include "numkern/moments.hpp"
#include "numkern/parallel.hpp"
#include "numkern/philox.hpp"
#include "csr_check_test.hpp"
#include "csr_lanes_test.hpp"
#include "frechet_lanes_test.hpp"
#include "frechet_test.hpp"
#include "pg_element_test.hpp"
#include "pg_test.hpp"
#include "relax_test.hpp"
#include "relax_levels_test.hpp"
#include "relax_pair_test.hpp"
#include "sketch_hd_test.hpp"
#include "sketch_test.hpp"

using namespace numkern;

namespace {

/// Deterministic values in [-1, 1) from the Philox stream itself (no platform RNG differences).
std::vector<double> values(size_t n, uint32_t stream) {
  const uint32_t key[2] = {0x1234u, 0x5678u};
  std::vector<uint32_t> w(n);
  philox_fill(key, stream, 0, n, w.data());
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<double>(w[i]) / 2147483648.0 - 1.0;
  return v;
}

bool close(double a, double b, double rtol) { return std::fabs(a - b) <= rtol * std::max(1.0, std::fabs(b)); }

void test_philox() {
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  // Random123 kat_vectors (docs/philox.md, "Known-answer vectors").
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
       {0xffffffffu, 0xffffffffu},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
       {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    uint32_t out[4];
    philox4x32(k.ctr, k.key, out);
    for (int i = 0; i < 4; ++i) assert(out[i] == k.out[i]);
  }
  // philox_fill follows the stream definition, from any start, including across the 2^32 block boundary.
  const uint32_t key[2] = {7u, 9u};
  for (uint64_t start : {uint64_t{0}, uint64_t{1}, uint64_t{6}, (uint64_t{1} << 34) - 5}) {
    std::vector<uint32_t> w(23);
    philox_fill(key, 3u, start, w.size(), w.data());
    for (size_t i = 0; i < w.size(); ++i) {
      const uint64_t j = start + i;
      const uint32_t ctr[4] = {static_cast<uint32_t>(j / 4), static_cast<uint32_t>((j / 4) >> 32), 3u, 0u};
      uint32_t out[4];
      philox4x32(ctr, key, out);
      assert(w[i] == out[j % 4]);
      assert(w[i] == philox_word(key, 3u, j));
    }
  }
}

template <class T>
void test_spmv() {
  // 2-D 5-point Laplacian on an m×m grid, plus an empty row appended.
  const int m = 37, n = m * m;
  std::vector<int32_t> rowPtr{0}, colIdx;
  std::vector<T> vals;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < m; ++j) {
      const int r = i * m + j;
      const int nb[5] = {r - m, r - 1, r, r + 1, r + m};
      const bool ok[5] = {i > 0, j > 0, true, j < m - 1, i < m - 1};
      for (int k = 0; k < 5; ++k)
        if (ok[k]) {
          colIdx.push_back(nb[k]);
          vals.push_back(k == 2 ? T(4) : T(-1));
        }
      rowPtr.push_back(static_cast<int32_t>(colIdx.size()));
    }
  rowPtr.push_back(rowPtr.back());
  const int nrows = n + 1;
  const auto xv = values(n, 1);
  std::vector<T> x(xv.begin(), xv.end());
  std::vector<T> y1(nrows, T(-7)), y2(nrows, T(-7));
  const int32_t nnz = rowPtr.back();
  assert(spmv<T>(nrows, rowPtr.data(), colIdx.data(), vals.data(), nnz, n, x.data(), y1.data(), 1));
  assert(spmv<T>(nrows, rowPtr.data(), colIdx.data(), vals.data(), nnz, n, x.data(), y2.data(), 0));
  for (int r = 0; r < nrows; ++r) {
    double ref = 0;
    for (int32_t k = rowPtr[r]; k < rowPtr[r + 1]; ++k) ref += double(vals[k]) * double(x[colIdx[k]]);
    assert(close(y1[r], ref, sizeof(T) == 4 ? 1e-5 : 1e-13));
    // The bits of the oracle's order: each row summed alone, in T, term by term (rows go two at a time).
    T seq = T(0);
    for (int32_t k = rowPtr[r]; k < rowPtr[r + 1]; ++k) seq += vals[k] * x[colIdx[k]];
    assert(y1[r] == seq);
    assert(y1[r] == y2[r]);  // thread count never changes the bits
  }
  assert(y1[n] == T(0));
  // A column out of range is reported, never read: in a pair's common part (entry 5, row 1's third) and
  // in the longer row's rest (entry 6, row 1's fourth; row 0 has three).
  for (int at : {5, 6}) {
    const int32_t keep = colIdx[at];
    colIdx[at] = n;
    assert(!spmv<T>(nrows, rowPtr.data(), colIdx.data(), vals.data(), nnz, n, x.data(), y1.data(), 0));
    colIdx[at] = -1;
    assert(!spmv<T>(nrows, rowPtr.data(), colIdx.data(), vals.data(), nnz, n, x.data(), y1.data(), 0));
    colIdx[at] = keep;
  }
}

template <class T>
void test_blas1() {
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8193}, size_t{1000003}}) {
    const auto a = values(n, 2), b = values(n, 3);
    std::vector<T> x(a.begin(), a.end()), y(b.begin(), b.end());
    double ref_dot = 0, ref_ss = 0;
    for (size_t i = 0; i < n; ++i) {
      ref_dot += double(x[i]) * double(y[i]);
      ref_ss += double(x[i]) * double(x[i]);
    }
    const double d1 = dot<T>(n, x.data(), y.data(), 1), d0 = dot<T>(n, x.data(), y.data(), 0);
    assert(d1 == d0);
    assert(close(d1, ref_dot, 1e-10));
    const double r1 = nrm2<T>(n, x.data(), 1), r0 = nrm2<T>(n, x.data(), 0);
    assert(r1 == r0);
    assert(close(r1, std::sqrt(ref_ss), 1e-12));
    std::vector<T> z = y;
    axpy<T>(n, T(0.5), x.data(), z.data(), 0);
    for (size_t i = 0; i < n; ++i) assert(z[i] == axpy_element(T(0.5), x[i], y[i]));
  }
  // nrm2 scaling: no overflow (the squares overflow, the norm does not), no underflow, inf and NaN propagate.
  const T big = std::numeric_limits<T>::max() / T(64), tiny = std::numeric_limits<T>::denorm_min();
  std::vector<T> v(1000, big);
  assert(close(nrm2<T>(v.size(), v.data(), 0), double(big) * std::sqrt(1000.0), 1e-12));
  std::fill(v.begin(), v.end(), tiny);
  assert(close(nrm2<T>(v.size(), v.data(), 0), double(tiny) * std::sqrt(1000.0), 1e-12));
  v[3] = std::numeric_limits<T>::infinity();
  assert(std::isinf(nrm2<T>(v.size(), v.data(), 0)));
  v[4] = std::numeric_limits<T>::quiet_NaN();
  assert(std::isnan(nrm2<T>(v.size(), v.data(), 0)));
  std::fill(v.begin(), v.end(), T(0));
  assert(nrm2<T>(v.size(), v.data(), 0) == 0.0);
}

template <class T>
void test_moments() {
  const auto a = values(100000, 4);
  std::vector<T> v(a.size());
  for (size_t i = 0; i < v.size(); ++i) v[i] = T(1000 + a[i]);  // a large mean stresses the variance
  // Segments: empty, one element, two, then ragged lengths, then one long segment.
  std::vector<int32_t> off{0, 0, 1, 3};
  for (int len = 0; off.back() + len < 60000; len = (len * 7 + 3) % 97) off.push_back(off.back() + len);
  off.push_back(static_cast<int32_t>(v.size()));
  const int32_t ns = static_cast<int32_t>(off.size()) - 1;
  for (double ddof : {0.0, 1.0}) {
    std::vector<T> s(ns), m(ns), var(ns), s1(ns), m1(ns), var1(ns);
    assert(segmented_moments<T>(ns, off.data(), v.size(), v.data(), ddof, s.data(), m.data(), var.data(), 0));
    assert(segmented_moments<T>(ns, off.data(), v.size(), v.data(), ddof, s1.data(), m1.data(), var1.data(), 1));
    for (int32_t k = 0; k < ns; ++k) {
      const int32_t b = off[k], e = off[k + 1], c = e - b;
      assert(s[k] == s1[k] && m[k] == m1[k] && var[k] == var1[k]);
      if (c == 0) {
        assert(s[k] == 0 && m[k] == 0 && var[k] == 0);
        continue;
      }
      long double ls = 0;
      for (int32_t i = b; i < e; ++i) ls += v[i];
      const long double lm = ls / c;
      long double lq = 0;
      for (int32_t i = b; i < e; ++i) lq += (v[i] - lm) * (v[i] - lm);
      const double ref_var = c <= ddof ? 0.0 : double(lq / (c - ddof));
      const double tol = sizeof(T) == 4 ? 1e-6 : 1e-12;
      assert(close(s[k], double(ls), tol));
      assert(close(m[k], double(lm), tol));
      assert(std::fabs(var[k] - ref_var) <= (sizeof(T) == 4 ? 1e-6 : 1e-9) * std::max(1.0, ref_var));
    }
  }
  // count <= ddof gives variance 0.
  const Moments one = segment_moments(v.data(), 1, 1.0);
  assert(one.variance == 0 && one.sum == double(v[0]));
  // An offset past the values is reported.
  off[2] = static_cast<int32_t>(v.size()) + 1;
  std::vector<T> s(ns), m(ns), var(ns);
  assert(!segmented_moments<T>(ns, off.data(), v.size(), v.data(), 0.0, s.data(), m.data(), var.data(), 0));
}

void test_gemm() {
  for (int n : {1, 5, 67, 300}) {
    const auto a = values(size_t(n) * n, 5), b = values(size_t(n) * n, 6);
    std::vector<double> c(size_t(n) * n);
    gemm_builtin(n, a.data(), b.data(), c.data(), 0);
    for (int i = 0; i < n; i += std::max(1, n / 7))
      for (int j = 0; j < n; ++j) {
        double ref = 0;
        for (int k = 0; k < n; ++k) ref += a[size_t(i) * n + k] * b[size_t(k) * n + j];
        assert(close(c[size_t(i) * n + j], ref, 1e-12));
      }
  }
}

void test_probes() {
  std::vector<double> a(1 << 16), b(a.size(), 1.0), c(a.size(), 2.0);
  const double t = triad(a.size(), a.data(), b.data(), c.data(), 3.0, 2, 0);
  assert(t > 0);
  for (double v : a) assert(v == 7.0);
  assert(gemm_gflops(64, 1, 1) > 0);
}

}  // namespace

/// warm_heap leaves faulted pages in the allocator: a block of half the warmed size, allocated and touched
/// next, faults (almost) no page. Checked where the mechanism is glibc's and no sanitizer replaces
/// malloc; runs first, before the other checks move the allocator's thresholds.
void test_warm_heap() {
  assert(warm_heap(0) == 0);
  const size_t bytes = size_t{8} << 20;
  assert(warm_heap(bytes) == bytes);
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__)
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto* p = static_cast<volatile char*>(std::malloc(bytes / 2));
  assert(p != nullptr);
  for (size_t i = 0; i < bytes / 2; i += 4096) p[i] = 1;
  getrusage(RUSAGE_SELF, &after);
  std::free(const_cast<char*>(p));
  const long faults = after.ru_minflt - before.ru_minflt;
  if (faults >= 32) std::printf("warm_heap: %ld faults touching %zu bytes after warming %zu\n", faults, bytes / 2, bytes);
  assert(faults < 32);  // 1024 pages without the warm-up
#endif
}

/// A part that throws inside a team (OpenMP or std::thread) reaches the caller after the join instead of
/// ending the process; the other parts still run, and a run without a throw returns normally.
void test_team_failure() {
  for (int nt : {2, 3}) {
    std::vector<int> ran(static_cast<size_t>(nt), 0);
    bool caught = false;
    try {
      parallel_run(nt, [&](int t, int) {
        ran[static_cast<size_t>(t)] = 1;
        if (t == nt - 1) throw std::bad_alloc();
      });
    } catch (const std::bad_alloc&) {
      caught = true;
    }
    assert(caught);
    for (int r : ran) assert(r == 1);
    int sum = 0;
    parallel_run(nt, [&](int t, int) { __atomic_add_fetch(&sum, t + 1, __ATOMIC_RELAXED); });
    assert(sum == nt * (nt + 1) / 2);
  }
  bool caught = false;
  try {
    run_pair([](int t) {
      if (t == 1) throw std::runtime_error("part 1");
    });
  } catch (const std::runtime_error&) {
    caught = true;
  }
  assert(caught || hardware_threads() < 2);
}

int main() {
  test_warm_heap();
  test_team_failure();
  test_philox();
  test_spmv<float>();
  test_spmv<double>();
  csr_check_test::test_csr_canonical();
  csr_lanes_test::run_all();
  test_blas1<float>();
  test_blas1<double>();
  test_moments<float>();
  test_moments<double>();
  test_gemm();
  test_probes();
  relax_test::run_all();
  relax_pair_test::run_all();
  relax_levels_test::run_all();
  frechet_test::run_all();
  frechet_lanes_test::run_all();
  pg_test::run_all();
  sketch_hd_test::run_all();
  pg_element_test::run_all();
  sketch_test::run_all();
  assert(hardware_threads() >= 1);
  assert(plan_threads(0, 10, 1 << 15) == 1);
  std::printf("numkern_native_test: all checks passed (%d hardware threads, %s, simd %s, blas %s)\n",
              hardware_threads(), openmp_enabled() ? "OpenMP" : "std::thread", simd_variant(),
              blas_config() ? blas_config() : "builtin");
  return 0;
}
