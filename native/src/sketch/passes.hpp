// The sketch family's passes over A on the CPU (included once, by native/src/sketch/loops.cc): the row
// dot product in the oracle's order, the fused pass of the least-squares loops four rows at a time, the
// residual and the blocked norms the loops build on.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "numkern/sketch_dense.hpp"
#include "numkern/sketch_loops.hpp"

namespace numkern {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t SB = kSketchSumBlock;

/// The row dot product a_i·z in the oracle's order (ascending columns, one accumulator).
template <class T>
NK_FORCEINLINE double row_dot_exact(const SketchOperandView<T>& A, size_t i, const double* z) {
  double s = 0;
  if (A.csr) {
    for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) s += static_cast<double>(A.values[p]) * z[A.colIdx[p]];
  } else {
    const T* a = A.data + i * A.cols;
    for (size_t j = 0; j < A.cols; ++j) s += static_cast<double>(a[j]) * z[j];
  }
  return s;
}

template <class T>
NK_FORCEINLINE void g_update_body(const T* data, size_t d, size_t c0, size_t c1, size_t j0, size_t j1, const double* t,
                                  double* g) {
  for (size_t i = c0; i < c1; ++i) {
    const double ti = t[i];
    if (ti == 0) continue;
    const T* a = data + i * d;
    for (size_t j = j0; j < j1; ++j) g[j] += static_cast<double>(a[j]) * ti;
  }
}
NK_CLONES void g_update_f64(const double* data, size_t d, size_t c0, size_t c1, size_t j0, size_t j1, const double* t,
                            double* g) {
  g_update_body<double>(data, d, c0, c1, j0, j1, t, g);
}
NK_CLONES void g_update_f32(const float* data, size_t d, size_t c0, size_t c1, size_t j0, size_t j1, const double* t,
                            double* g) {
  g_update_body<float>(data, d, c0, c1, j0, j1, t, g);
}

/// From this many elements of a dense A, the fused pass takes its fast form: one pass, each thread summing
/// whole SUM_BLOCK chunks (row dots in 8 partial sums, a partial g per chunk), the chunks' partials then
/// combined in chunk order — still independent of the thread count, but not the oracle's rounding, so a
/// loop's step count may differ from js's by a rounding-level stop decision. Below it, the exact form.
constexpr size_t kFastPassMin = size_t{1} << 22;

/// Eight doubles as one vector (GCC/Clang vector extension: a 512-bit register where the clone has one,
/// narrower registers otherwise). Lane-wise + and * are the scalar operations (no contraction: the kernels
/// build with -ffp-contract=off).
typedef double v8d __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
// (Through a reference, not a return value: a vector returned by value would have a clone-dependent ABI.)
NK_FORCEINLINE void load8(v8d& v, const double* p) { __builtin_memcpy(&v, p, sizeof v); }
NK_FORCEINLINE void load8(v8d& v, const float* p) {
  v8f f;
  __builtin_memcpy(&f, p, sizeof f);
  v = __builtin_convertvector(f, v8d);
}

/// x[r] := columns [j, j + 8) of row as[r], r < 4.
template <class T>
NK_FORCEINLINE void load_rows(v8d x[4], const T* const as[4], size_t j) {
  for (size_t r = 0; r < 4; ++r) load8(x[r], as[r] + j);
}

/// Row i's dot a_i·z in the fast form's order: 8 partial sums over column groups of 8, combined in a fixed
/// tree, then the tail columns.
template <class T>
NK_FORCEINLINE double dot8(const T* a, const double* z, size_t d, size_t d8) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t j = 0; j < d8; j += 8)
    for (size_t u = 0; u < 8; ++u) acc[u] += static_cast<double>(a[j + u]) * z[j + u];
  double dot = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (size_t j = d8; j < d; ++j) dot += static_cast<double>(a[j]) * z[j];
  return dot;
}

/// Rows [i0, i1) of the fast fused pass. Rows go four at a time: their four dots are four independent
/// chains of vector adds (one row's 8-lane chain alone is latency-bound: 2.2× the time of reading A), and
/// g takes the four rows' terms in one load and store, added in row order, g[j] = (((g[j] + a₀t₀) + a₁t₁)
/// + a₂t₂) + a₃t₃ — the very operations of four single-row updates, so the bits do not change.
template <class T>
NK_FORCEINLINE void fast_chunk_body(const T* data, size_t d, size_t i0, size_t i1, const double* z, const void* wv,
                                    bool wf32, double c, double s, double* t, double* g, const double* prev,
                                    double* out2) {
  double sq = 0, df = 0;
  const size_t d8 = d & ~size_t{7};
  const auto wAt = [&](size_t i) {
    return wf32 ? static_cast<double>(static_cast<const float*>(wv)[i]) : static_cast<const double*>(wv)[i];
  };
  const auto finish = [&](size_t i, double dot) {
    const double ti = c * wAt(i) + s * dot;
    if (prev) { const double e = ti - prev[i]; df += e * e; }
    t[i] = ti;
    sq += ti * ti;
    return ti;
  };
  size_t i = i0;
  for (; i + 4 <= i1; i += 4) {
    const T* as[4] = {data + i * d, data + (i + 1) * d, data + (i + 2) * d, data + (i + 3) * d};
    // Prefetch the rows two blocks ahead, line by line: the four-row stream alone left the loop waiting
    // on A (cpu-clock samples in this loop: −25 % with it, measured under load).
    if (i + 12 <= i1) {
      const char* nx = reinterpret_cast<const char*>(data + (i + 8) * d);
      for (size_t o = 0; o < 4 * d * sizeof(T); o += 64) __builtin_prefetch(nx + o);
    }
    // Lane u of p_r is row r's partial sum u (dot8's acc[u]): the same multiplies and adds, lane-wise.
    v8d ps[4] = {{0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0}};
    for (size_t j = 0; j < d8; j += 8) {
      v8d zj, x[4];
      load8(zj, z + j);
      load_rows(x, as, j);
      for (size_t r = 0; r < 4; ++r) ps[r] += x[r] * zj;
    }
    double ts[4];
    for (size_t r = 0; r < 4; ++r) {
      const v8d& p = ps[r];
      double dot = ((p[0] + p[4]) + (p[1] + p[5])) + ((p[2] + p[6]) + (p[3] + p[7]));
      for (size_t j = d8; j < d; ++j) dot += static_cast<double>(as[r][j]) * z[j];
      ts[r] = finish(i + r, dot);
    }
    // The single-row form skips a row with t = 0 (adding +0·a could turn a −0 of g into +0), so the
    // blocked update runs only when no t is 0.
    if (ts[0] != 0 && ts[1] != 0 && ts[2] != 0 && ts[3] != 0) {
      size_t j = 0;
      for (; j < d8; j += 8) {
        v8d gj, x[4];
        load8(gj, g + j);
        load_rows(x, as, j);
        for (size_t r = 0; r < 4; ++r) gj += x[r] * ts[r];
        __builtin_memcpy(g + j, &gj, sizeof gj);
      }
      for (; j < d; ++j) {
        double gj = g[j];
        for (size_t r = 0; r < 4; ++r) gj += static_cast<double>(as[r][j]) * ts[r];
        g[j] = gj;
      }
    } else {
      for (size_t r = 0; r < 4; ++r)
        if (ts[r] != 0)
          for (size_t j = 0; j < d; ++j) g[j] += static_cast<double>(as[r][j]) * ts[r];
    }
  }
  for (; i < i1; ++i) {
    const T* a = data + i * d;
    const double ti = finish(i, dot8(a, z, d, d8));
    if (ti != 0)
      for (size_t j = 0; j < d; ++j) g[j] += static_cast<double>(a[j]) * ti;
  }
  out2[0] = sq;
  out2[1] = df;
}
NK_CLONES void fast_chunk_f64(const double* data, size_t d, size_t i0, size_t i1, const double* z, const void* wv,
                              bool wf32, double c, double s, double* t, double* g, const double* prev, double* out2) {
  fast_chunk_body<double>(data, d, i0, i1, z, wv, wf32, c, s, t, g, prev, out2);
}
NK_CLONES void fast_chunk_f32(const float* data, size_t d, size_t i0, size_t i1, const double* z, const void* wv,
                              bool wf32, double c, double s, double* t, double* g, const double* prev, double* out2) {
  fast_chunk_body<float>(data, d, i0, i1, z, wv, wf32, c, s, t, g, prev, out2);
}

template <class T>
void fused_pass_fast(const SketchOperandView<T>& A, const double* z, const void* wv, bool wf32, double c, double s,
                     double* t, double* g, const double* prev, double* sumSq, double* diffSq, int threads) {
  const size_t n = A.rows, d = A.cols;
  const size_t nchunks = (n + SB - 1) / SB;
  std::vector<double> part(nchunks * (d + 2), 0.0);
  const int nt = plan_threads(threads, n * std::max<size_t>(d, 1), 1 << 15);
  parallel_run(std::min<int>(nt, static_cast<int>(std::max<size_t>(nchunks, 1))), [&](int tid, int nth) {
    size_t q0, q1;
    even_split(nchunks, tid, nth, q0, q1);
    for (size_t q = q0; q < q1; ++q) {
      double* pg = part.data() + q * (d + 2);
      const size_t i0 = q * SB, i1 = std::min(n, (q + 1) * SB);
      if constexpr (sizeof(T) == 8) fast_chunk_f64(A.data, d, i0, i1, z, wv, wf32, c, s, t, pg + 2, prev, pg);
      else fast_chunk_f32(A.data, d, i0, i1, z, wv, wf32, c, s, t, pg + 2, prev, pg);
    }
  });
  std::fill(g, g + d, 0.0);
  double sq = 0, df = 0;
  for (size_t q = 0; q < nchunks; ++q) {
    const double* pg = part.data() + q * (d + 2);
    sq += pg[0];
    df += pg[1];
    for (size_t j = 0; j < d; ++j) g[j] += pg[2 + j];
  }
  *sumSq = sq;
  *diffSq = df;
}

/// The fused pass with w of either float type, in the oracle's exact order (src/backends/js/sketch/lsqr.ts
/// fusedPass): row dots in ascending columns, g summed over rows in increasing order, Σt² and Σ(t − prev)²
/// in SUM_BLOCK blocks. Threads split the rows of a cache-sized chunk for the dots, then the COLUMNS of g
/// for its update, so no sum is re-associated: the result is the oracle's bits on any thread count.
/// (Iterative sketching's stopping rule compares residual changes at the rounding level, so its step
/// count follows the oracle's only with the oracle's rounding.)
template <class T>
void fused_pass(const SketchOperandView<T>& A, const double* z, const void* wv, bool wf32, double c, double s, double* t,
                double* g, const double* prev, double* sumSq, double* diffSq, int threads) {
  const size_t n = A.rows, d = A.cols;
  if (!A.csr && n * d >= kFastPassMin) {
    fused_pass_fast(A, z, wv, wf32, c, s, t, g, prev, sumSq, diffSq, threads);
    return;
  }
  std::fill(g, g + d, 0.0);
  std::vector<double> dsq(prev ? n : 0);
  const size_t chunk = std::max<size_t>(16, (size_t{1} << 16) / std::max<size_t>(d, 1));
  const int nt = plan_threads(threads, n * std::max<size_t>(d, 1), 1 << 15);
  for (size_t c0 = 0; c0 < n; c0 += chunk) {
    const size_t c1 = std::min(n, c0 + chunk);
    parallel_run(nt, [&](int tid, int nth) {
      size_t i0, i1;
      even_split(c1 - c0, tid, nth, i0, i1);
      for (size_t i = c0 + i0; i < c0 + i1; ++i) {
        const double dot = row_dot_exact(A, i, z);
        const double wi = wf32 ? static_cast<double>(static_cast<const float*>(wv)[i]) : static_cast<const double*>(wv)[i];
        const double ti = c * wi + s * dot;
        if (prev) { const double e = ti - prev[i]; dsq[i] = e * e; }
        t[i] = ti;
      }
    });
    parallel_run(std::min<int>(nt, static_cast<int>(std::max<size_t>(d / 8, 1))), [&](int tid, int nth) {
      size_t j0, j1;
      even_split(d, tid, nth, j0, j1);
      if (j0 >= j1) return;
      if (A.csr) {
        for (size_t i = c0; i < c1; ++i) {
          const double ti = t[i];
          if (ti == 0) continue;
          for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) {
            const size_t j = static_cast<size_t>(A.colIdx[p]);
            if (j >= j0 && j < j1) g[j] += static_cast<double>(A.values[p]) * ti;
          }
        }
      } else if constexpr (sizeof(T) == 8) {
        g_update_f64(A.data, d, c0, c1, j0, j1, t, g);
      } else {
        g_update_f32(A.data, d, c0, c1, j0, j1, t, g);
      }
    });
  }
  double sq = 0, df = 0;
  for (size_t b0 = 0; b0 < n; b0 += SB) {
    double bs = 0, bd = 0;
    for (size_t i = b0; i < std::min(n, b0 + SB); ++i) {
      bs += t[i] * t[i];
      if (prev) bd += dsq[i];
    }
    sq += bs;
    df += bd;
  }
  *sumSq = sq;
  *diffSq = df;
}

double blocked_norm(const double* v, size_t n) {
  double total = 0;
  for (size_t s0 = 0; s0 < n; s0 += SB) {
    double s = 0;
    for (size_t i = s0; i < std::min(n, s0 + SB); ++i) s += v[i] * v[i];
    total += s;
  }
  return std::sqrt(total);
}

template <class T>
double residual_into(const SketchOperandView<T>& A, const T* b, const double* x, double* r, int threads) {
  return std::sqrt(sketch_residual_sq(A, b, x, 0.0, threads, r));
}

void scale(double* v, size_t n, double c) {
  for (size_t i = 0; i < n; ++i) v[i] *= c;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace
}  // namespace numkern
