// Level-1 kernels: dot, axpy, nrm2.
//
// Reductions are cut into fixed blocks of kBlock elements; each block is summed on its own and the
// block partials are combined pairwise in block order. The bits of the result therefore depend on n
// only, never on the thread count or on which clone (AVX-512, AVX2, baseline) runs: the partial sums
// are spelled out in the source, and the build keeps the compiler from contracting them into FMAs.
#include <algorithm>
#include <cmath>
#include <vector>

#include "numkern/blas1.hpp"
#include "numkern/linalg.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace {

constexpr size_t kBlock = 8192;
// Below this many elements per thread, waking another thread costs more than it saves.
constexpr size_t kGrain = 1 << 15;


/// Fills one partial per block of n elements, the blocks split among the planned threads, and returns
/// combine(partials, count).
template <class Blocks, class Combine>
double reduce_blocks(size_t n, int threads, Blocks&& blocks, Combine&& combine) {
  if (n == 0) return 0.0;
  const size_t nb = (n + kBlock - 1) / kBlock;
  double one = 0;
  std::vector<double> many;
  double* partial = &one;
  if (nb > 1) {
    many.resize(nb);
    partial = many.data();
  }
  const int nt = plan_threads(threads, n, kGrain);
  parallel_run(nt, [&](int t, int k) {
    size_t b0, b1;
    even_split(nb, t, k, b0, b1);
    if (b1 > b0) blocks(b0, b1, partial);
  });
  return combine(partial, nb);
}

template <class Blocks>
double sum_blocks(size_t n, int threads, Blocks&& blocks) {
  return reduce_blocks(n, threads, blocks, pairwise_sum);
}

/// Σ x_i y_i over one block with eight independent partial sums (hides add latency, lets the compiler
/// keep them in one or two vector registers).
template <class T>
NK_FORCEINLINE double dot_block(const T* x, const T* y, size_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += dot_term(x[i + k], y[i + k]);
  double tail = 0;
  for (; i < n; ++i) tail += dot_term(x[i], y[i]);
  return (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
}

/// Σ (x_i · s1 · s2)², s1 and s2 powers of two.
template <class T>
NK_FORCEINLINE double ssq_block(const T* x, size_t n, double s1, double s2) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += sq_term(x[i + k], s1, s2);
  double tail = 0;
  for (; i < n; ++i) tail += sq_term(x[i], s1, s2);
  return (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
}

template <class T>
NK_FORCEINLINE double amax_block(const T* x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(x[i])));
  return m;
}

// Block ranges per clone. One wrapper per dtype: target_clones does not apply to templates.
#define NK_BLOCK_LOOP(call)                                                 \
  for (size_t b = b0; b < b1; ++b) {                                        \
    const size_t off = b * kBlock, len = std::min(kBlock, n - off);         \
    partial[b] = call;                                                      \
  }

NK_CLONES void dot_blocks_f32(const float* x, const float* y, size_t n, size_t b0, size_t b1, double* partial) {
  NK_BLOCK_LOOP(dot_block(x + off, y + off, len))
}
NK_CLONES void dot_blocks_f64(const double* x, const double* y, size_t n, size_t b0, size_t b1, double* partial) {
  NK_BLOCK_LOOP(dot_block(x + off, y + off, len))
}
NK_CLONES void ssq_blocks_f32(const float* x, size_t n, double s1, double s2, size_t b0, size_t b1,
                              double* partial) {
  NK_BLOCK_LOOP(ssq_block(x + off, len, s1, s2))
}
NK_CLONES void ssq_blocks_f64(const double* x, size_t n, double s1, double s2, size_t b0, size_t b1,
                              double* partial) {
  NK_BLOCK_LOOP(ssq_block(x + off, len, s1, s2))
}
NK_CLONES void amax_blocks_f32(const float* x, size_t n, size_t b0, size_t b1, double* partial) {
  NK_BLOCK_LOOP(amax_block(x + off, len))
}
NK_CLONES void amax_blocks_f64(const double* x, size_t n, size_t b0, size_t b1, double* partial) {
  NK_BLOCK_LOOP(amax_block(x + off, len))
}
#undef NK_BLOCK_LOOP

NK_CLONES void axpy_range_f32(size_t n, float a, const float* x, float* y) {
  for (size_t i = 0; i < n; ++i) y[i] = axpy_element(a, x[i], y[i]);
}
NK_CLONES void axpy_range_f64(size_t n, double a, const double* x, double* y) {
  for (size_t i = 0; i < n; ++i) y[i] = axpy_element(a, x[i], y[i]);
}

// Overloads so the templates below can reach the per-dtype clones.
inline void dot_blocks(const float* x, const float* y, size_t n, size_t b0, size_t b1, double* p) {
  dot_blocks_f32(x, y, n, b0, b1, p);
}
inline void dot_blocks(const double* x, const double* y, size_t n, size_t b0, size_t b1, double* p) {
  dot_blocks_f64(x, y, n, b0, b1, p);
}
inline void ssq_blocks(const float* x, size_t n, double s1, double s2, size_t b0, size_t b1, double* p) {
  ssq_blocks_f32(x, n, s1, s2, b0, b1, p);
}
inline void ssq_blocks(const double* x, size_t n, double s1, double s2, size_t b0, size_t b1, double* p) {
  ssq_blocks_f64(x, n, s1, s2, b0, b1, p);
}
inline void amax_blocks(const float* x, size_t n, size_t b0, size_t b1, double* p) { amax_blocks_f32(x, n, b0, b1, p); }
inline void amax_blocks(const double* x, size_t n, size_t b0, size_t b1, double* p) { amax_blocks_f64(x, n, b0, b1, p); }
inline void axpy_range(size_t n, float a, const float* x, float* y) { axpy_range_f32(n, a, x, y); }
inline void axpy_range(size_t n, double a, const double* x, double* y) { axpy_range_f64(n, a, x, y); }

}  // namespace

template <class T>
double dot(size_t n, const T* x, const T* y, int threads) {
  return sum_blocks(n, threads, [&](size_t b0, size_t b1, double* p) { dot_blocks(x, y, n, b0, b1, p); });
}

template <class T>
void axpy(size_t n, T alpha, const T* x, T* y, int threads) {
  if (n == 0) return;
  const int nt = plan_threads(threads, n, kGrain);
  parallel_run(nt, [&](int t, int k) {
    size_t i0, i1;
    even_split(n, t, k, i0, i1);
    axpy_range(i1 - i0, alpha, x + i0, y + i0);
  });
}

template <class T>
double nrm2(size_t n, const T* x, int threads) {
  if (n == 0) return 0.0;
  // Fast path: Σ x_i² is the dot product of x with itself.
  const double ssq = sum_blocks(n, threads, [&](size_t b0, size_t b1, double* p) { dot_blocks(x, x, n, b0, b1, p); });
  if (nrm2_fast_path_ok(ssq, n)) return std::sqrt(ssq);
  // Rare: overflow or underflow threatened. max|x_i| and a power-of-two rescale (blas1.hpp).
  const double amax = reduce_blocks(
      n, threads, [&](size_t b0, size_t b1, double* p) { amax_blocks(x, n, b0, b1, p); },
      [](const double* p, size_t k) { return *std::max_element(p, p + k); });
  if (!(amax > 0) || std::isinf(amax)) return nrm2_finish(amax, 0.0, 0);
  const int e = nrm2_scale_exponent(amax);
  double s1, s2;
  nrm2_scale_factors(e, s1, s2);
  const double scaled =
      sum_blocks(n, threads, [&](size_t b0, size_t b1, double* p) { ssq_blocks(x, n, s1, s2, b0, b1, p); });
  return nrm2_finish(amax, scaled, e);
}

template double dot<float>(size_t, const float*, const float*, int);
template double dot<double>(size_t, const double*, const double*, int);
template void axpy<float>(size_t, float, const float*, float*, int);
template void axpy<double>(size_t, double, const double*, double*, int);
template double nrm2<float>(size_t, const float*, int);
template double nrm2<double>(size_t, const double*, int);

}  // namespace numkern
