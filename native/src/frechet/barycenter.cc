// The barycenters of the embedding reduction (docs/frechet.md §3.2), frechet.hpp's barycenters(): for
// each row b of P, W[b] = −2·Σ_k P[b,k]·E[k] / S_b and shift[b] = Σ_k P[b,k]·‖E[k]‖² / S_b, every sum
// in f64 in ascending k, each product and sum rounded (numkern_core is built with -ffp-contract=off),
// then W rounded once to T: the js oracle's arithmetic (src/backends/js/frechet.ts), so the two give
// the same bits. Sums of different (b, i) are independent, so the vectors run along i: a register tile
// of R rows × DW dimensions, the k loop innermost.
//
// A small GEMM (B·K·dim, against the B·N·dim of the kernel that follows) that the façade ran on the host
// in JS: 75 ms for 1024 × 1000 × 64 on the development machine.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/frechet.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace frechet {
namespace {

// A register tile: R rows of P × DW dimensions of E, NV vectors of 8 doubles per row (24 accumulators
// on AVX-512; the narrower clones split each vector, correct but slower). Measured (f32 P, 1024 × 1000
// × 64, one thread, CPU time, best of 30 under load): 6.2 ms (21 GFLOP/s) for a loop that kept the
// accumulators in memory, 2.2 ms (60 GFLOP/s) with this tile; the JS loop it replaces took ~75 ms.
typedef double V __attribute__((vector_size(64)));
constexpr int64_t R = 6, NV = 4, L = 8, DW = NV * L;

/// out[q·dim + i] = Σ_k P[b0 + q, k]·E[k·dim + i] for q < rows, i in [i0, i0 + DW), k ascending; and, with
/// WithC, c[q] = Σ_k P[b0 + q, k]·norms[k]. Rows past `rows` repeat the last one; their sums are dropped.
template <class T, bool WithC>
NK_FORCEINLINE void tile(const T* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim, int64_t i0,
                         const double* norms, double* out, double* c) {
  V acc[R][NV];
  double cs[R];
  const T* pr[R];
  for (int64_t q = 0; q < R; ++q) {
    for (int64_t v = 0; v < NV; ++v) acc[q][v] = V{};
    cs[q] = 0;
    pr[q] = P + (b0 + std::min(q, rows - 1)) * K;
  }
  for (int64_t k = 0; k < K; ++k) {
    V e[NV];
    for (int64_t v = 0; v < NV; ++v) std::memcpy(&e[v], E + k * dim + i0 + v * L, sizeof(V));
    for (int64_t q = 0; q < R; ++q) {
      const double p = static_cast<double>(pr[q][k]);
      for (int64_t v = 0; v < NV; ++v) acc[q][v] += p * e[v];
      if (WithC) cs[q] += p * norms[k];
    }
  }
  for (int64_t q = 0; q < rows; ++q) {
    for (int64_t v = 0; v < NV; ++v) std::memcpy(out + q * dim + i0 + v * L, &acc[q][v], sizeof(V));
    if (WithC) c[q] = cs[q];
  }
}

/// The sums of rows b0 .. b0 + rows of P (rows <= R) into out (rows × dim) and c (rows).
template <class T>
NK_FORCEINLINE void sums_body(const T* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                              const double* norms, double* out, double* c) {
  int64_t i0 = 0;
  for (; i0 + DW <= dim; i0 += DW) {
    if (i0 == 0) tile<T, true>(P, K, b0, rows, E, dim, i0, norms, out, c);
    else tile<T, false>(P, K, b0, rows, E, dim, i0, norms, out, c);
  }
  // The dimensions past the last whole tile, and c when there was none: one sum at a time, same order.
  for (int64_t q = 0; q < rows; ++q) {
    const T* pq = P + (b0 + q) * K;
    for (int64_t i = i0; i < dim; ++i) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(pq[k]) * E[k * dim + i];
      out[q * dim + i] = s;
    }
    if (i0 == 0) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += static_cast<double>(pq[k]) * norms[k];
      c[q] = s;
    }
  }
}
NK_CLONES void sums_f32(const float* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                        const double* norms, double* out, double* c) {
  sums_body<float>(P, K, b0, rows, E, dim, norms, out, c);
}
NK_CLONES void sums_f64(const double* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                        const double* norms, double* out, double* c) {
  sums_body<double>(P, K, b0, rows, E, dim, norms, out, c);
}
inline void sums(const float* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                 const double* norms, double* out, double* c) {
  sums_f32(P, K, b0, rows, E, dim, norms, out, c);
}
inline void sums(const double* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                 const double* norms, double* out, double* c) {
  sums_f64(P, K, b0, rows, E, dim, norms, out, c);
}

}  // namespace

template <class T>
void barycenters(const T* P, int64_t B, int64_t K, const double* E, int64_t dim, const double* norms,
                 const double* row_sums, T* W, double* shift, int threads) {
  const int64_t blocks = (B + R - 1) / R;
  const int nt = plan_threads(threads, static_cast<size_t>(B * K * std::max<int64_t>(dim, 1)), size_t{1} << 18);
  // Allocated before the team starts: an exception must not leave a parallel region.
  std::vector<std::vector<double>> scratch(static_cast<size_t>(std::max(nt, 1)),
                                           std::vector<double>(static_cast<size_t>(R * dim + R)));
  parallel_run(nt, [&](int t, int n) {
    size_t q0, q1;
    even_split(static_cast<size_t>(blocks), t, n, q0, q1);
    double* acc = scratch[static_cast<size_t>(t)].data();
    double* c = acc + R * dim;
    for (int64_t blk = static_cast<int64_t>(q0); blk < static_cast<int64_t>(q1); ++blk) {
      const int64_t b0 = blk * R, rows = std::min(R, B - b0);
      sums(P, K, b0, rows, E, dim, norms, acc, c);
      for (int64_t q = 0; q < rows; ++q) {
        const double S = row_sums[b0 + q];
        for (int64_t i = 0; i < dim; ++i) W[(b0 + q) * dim + i] = static_cast<T>((-2.0 * acc[q * dim + i]) / S);
        shift[b0 + q] = c[q] / S;
      }
    }
  });
}

template void barycenters<float>(const float*, int64_t, int64_t, const double*, int64_t, const double*, const double*,
                                 float*, double*, int);
template void barycenters<double>(const double*, int64_t, int64_t, const double*, int64_t, const double*,
                                  const double*, double*, double*, int);

}  // namespace frechet
}  // namespace numkern
