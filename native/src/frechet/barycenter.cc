// The barycenters of the embedding reduction (docs/frechet.md §3.2), frechet.hpp's barycenters(): for
// each row b of P, W[b] = −2·Σ_k P[b,k]·E[k] / S_b and shift[b] = Σ_k P[b,k]·‖E[k]‖² / S_b, every sum
// in f64 in ascending k, each product and sum rounded (numkern_core is built with -ffp-contract=off),
// then W rounded once to T: the js oracle's arithmetic (src/backends/js/frechet.ts), so the two give
// the same bits. Sums of different (b, i) are independent, so the vectors run along i.
//
// A small GEMM (B·K·dim, against the B·N·dim of the kernel that follows) that the façade ran on the host
// in JS: 75 ms for 1024 × 1000 × 64 on the development machine.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/frechet.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace frechet {
namespace {

/// Rows of P per pass over E: each E[k] loaded from L1 serves R rows.
constexpr int64_t R = 8;

/// acc[q·dim + i] += p[q]·e[i] for q < R, i < dim; c[q] += p[q]·norm.
template <class T>
NK_FORCEINLINE void accumulate_body(const T* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                                    const double* norms, double* __restrict acc, double* __restrict c) {
  std::fill(acc, acc + R * dim, 0.0);
  std::fill(c, c + R, 0.0);
  double p[R];
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t q = 0; q < R; ++q) p[q] = q < rows ? static_cast<double>(P[(b0 + q) * K + k]) : 0.0;
    const double* __restrict e = E + k * dim;
    for (int64_t q = 0; q < R; ++q) {
      const double pq = p[q];
      double* __restrict a = acc + q * dim;
      for (int64_t i = 0; i < dim; ++i) a[i] += pq * e[i];
      c[q] += pq * norms[k];
    }
  }
}
NK_CLONES void accumulate_f32(const float* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                              const double* norms, double* acc, double* c) {
  accumulate_body<float>(P, K, b0, rows, E, dim, norms, acc, c);
}
NK_CLONES void accumulate_f64(const double* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                              const double* norms, double* acc, double* c) {
  accumulate_body<double>(P, K, b0, rows, E, dim, norms, acc, c);
}
inline void accumulate(const float* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                       const double* norms, double* acc, double* c) {
  accumulate_f32(P, K, b0, rows, E, dim, norms, acc, c);
}
inline void accumulate(const double* P, int64_t K, int64_t b0, int64_t rows, const double* E, int64_t dim,
                       const double* norms, double* acc, double* c) {
  accumulate_f64(P, K, b0, rows, E, dim, norms, acc, c);
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
      accumulate(P, K, b0, rows, E, dim, norms, acc, c);
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
