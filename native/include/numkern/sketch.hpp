// The sketch family's element logic (docs/sketch.md §2) as NK_HD inlines, shared by the CPU kernels
// (native/src/sketch) and any device code, plus the CPU kernels' declarations. Each value is a function
// of (key, stream, word index) only, exactly as src/backends/js/sketch/operator.ts defines it, so one
// seed gives the same S on every backend, thread count and row sharding.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/philox.hpp"

namespace numkern {

// SKETCH_STREAMS of src/sketch/ops.ts (checked at load by src/backends/native/sketch.ts).
constexpr uint32_t kSketchStreamGaussian = 0x534b0001u;
constexpr uint32_t kSketchStreamRademacher = 0x534b0002u;
constexpr uint32_t kSketchStreamSparse = 0x534b0003u;
constexpr uint32_t kSketchStreamSrhtSign = 0x534b0004u;
constexpr uint32_t kSketchStreamSrhtPermutation = 0x534b0005u;
constexpr uint32_t kSketchStreamKaczmarz = 0x534b0007u;
constexpr uint32_t kSketchStreamProject = 0x534b0008u;
constexpr int kSrhtFeistelRounds = 4;
constexpr size_t kSketchSumBlock = 4096;  // SUM_BLOCK of src/core/operator.ts

enum SketchKindCode : int { kSkGaussian = 0, kSkRademacher = 1, kSkSrht = 2, kSkCountSketch = 3, kSkSparseSign = 4 };

/// ⌊a·b / 2³²⌋.
NK_HD inline uint32_t sketch_mulhi32(uint32_t a, uint32_t b) {
  return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
}

/// Unscaled Rademacher S₀[k, i] from word ⌊j/32⌋, j = i·m + k: −1 iff bit j mod 32 is set.
NK_HD inline double sketch_rademacher_entry(const uint32_t key[2], uint64_t j) {
  const uint32_t w = philox_word(key, kSketchStreamRademacher, j >> 5);
  return ((w >> (j & 31u)) & 1u) ? -1.0 : 1.0;
}

/// Gaussian number j (Box–Muller on the block's word pair, docs/sketch.md §2.1), from the block's words.
NK_HD inline double sketch_gaussian_from_block(const uint32_t w[4], unsigned lane) {
  const unsigned pair = lane >> 1;
  const double u1 = (static_cast<double>(w[2 * pair]) + 0.5) * 2.3283064365386963e-10;
  const double u2 = (static_cast<double>(w[2 * pair + 1]) + 0.5) * 2.3283064365386963e-10;
  const double rad = std::sqrt(-2.0 * std::log(u1));
  const double th = 6.283185307179586 * u2;
  return (lane & 1u) == 0 ? rad * std::cos(th) : rad * std::sin(th);
}

/// Column i of a sparse sketch with s nonzeros (Floyd's algorithm, docs/sketch.md §2.2): rows[t], signs[t].
NK_HD inline void sketch_sparse_column(const uint32_t key[2], uint64_t i, uint32_t m, uint32_t s, int32_t* rows,
                                       double* signs) {
  const uint64_t base = 2ull * s * i;
  uint32_t blk[4];
  uint64_t have = ~0ull;
  for (uint32_t t = 0; t < s; ++t) {
    const uint64_t q0 = base + 2ull * t;
    if ((q0 >> 2) != have) { have = q0 >> 2; philox_block(key, kSketchStreamSparse, have, blk); }
    const uint32_t w0 = blk[q0 & 3u];
    const uint64_t q1 = q0 + 1;
    if ((q1 >> 2) != have) { have = q1 >> 2; philox_block(key, kSketchStreamSparse, have, blk); }
    const uint32_t w1 = blk[q1 & 3u];
    const uint32_t J = m - s + t;
    int32_t r = static_cast<int32_t>(sketch_mulhi32(w0, J + 1));
    for (uint32_t u = 0; u < t; ++u)
      if (rows[u] == r) { r = static_cast<int32_t>(J); break; }
    rows[t] = r;
    signs[t] = w1 >= 0x80000000u ? -1.0 : 1.0;
  }
}

/// SRHT sign σ_i.
NK_HD inline double sketch_srht_sign(const uint32_t key[2], uint64_t i) {
  const uint32_t w = philox_word(key, kSketchStreamSrhtSign, i >> 5);
  return ((w >> (i & 31u)) & 1u) ? -1.0 : 1.0;
}

/// The Feistel permutation f_h on `bits`-bit integers; tables = 4 rounds × 2^⌈bits/2⌉ words.
NK_HD inline uint32_t sketch_feistel(const uint32_t* tables, unsigned bits, uint32_t x) {
  const unsigned half = (bits + 1) / 2;
  const uint32_t size = 1u << half;
  for (int r = 0; r < kSrhtFeistelRounds; ++r) {
    const unsigned s = (r % 2 == 0) ? half : bits - half;
    const unsigned t = bits - s;
    const uint32_t R = x & ((1u << s) - 1u);
    const uint32_t L = x >> s;
    const uint32_t mask = (1u << t) - 1u;
    x = (R << t) | ((L ^ tables[static_cast<uint32_t>(r) * size + R]) & mask);
  }
  return x;
}

/// Word x of round r's table of Hadamard block h's Feistel permutation: word (h·4 + r)·tsize + x of the
/// permutation stream, tsize = 2^⌈bits/2⌉ (docs/sketch.md §2.3).
NK_HD inline uint32_t sketch_feistel_word(const uint32_t key[2], uint64_t h, int r, uint64_t tsize, uint64_t x) {
  const uint64_t base = (h * kSrhtFeistelRounds + static_cast<uint64_t>(r)) * tsize;
  return philox_word(key, kSketchStreamSrhtPermutation, base + x);
}

NK_HD inline int sketch_parity(uint32_t x) {
  x ^= x >> 16; x ^= x >> 8; x ^= x >> 4; x ^= x >> 2; x ^= x >> 1;
  return static_cast<int>(x & 1u);
}

// ---------------------------------------------------------------------------------------------------
// CPU kernels (native/src/sketch). `threads`: 0 = all hardware threads.

/// A dense row-major block (csr = false: data, rows × cols) or a CSR block (rowPtr absolute, any first offset).
template <class T>
struct SketchOperandView {
  bool csr;
  size_t rows;
  size_t cols;
  const T* data;
  const int32_t* rowPtr;
  const int32_t* colIdx;
  const T* values;
};

struct SketchSpec {
  int kind;
  uint32_t m;
  uint32_t s;  // nnzPerCol
  uint32_t key[2];
  double scale;
  uint64_t srhtN, srhtB;
  const uint32_t* sample;  // m entries (srht)
};

/// SA (m × cols) := [accumulate ? SA : 0] + S₀·A_blk, Sb likewise; then ×scale when apply_scale.
/// Per entry, rows are summed in increasing global order (the oracle's order; the dense SRHT sums its
/// upper Hadamard levels sequentially, docs/sketch.md §2.3). With limit > 0 a dense A is screened on the
/// way: returns the first flat index of A with !(|a| ≤ limit) (NaN, ±Inf, or too large), else −1 (also
/// for CSR, which is not screened). SA is then unspecified.
template <class T>
int64_t sketch_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t rowOffset, const T* b, double* SA,
                     double* Sb, bool accumulate, bool apply_scale, double limit, int threads);

/// Pivoted Householder QR of M (rows × cols row-major, destroyed), Qᵀ rhs, R (cols × cols), perm, rank.
/// LAPACK dgeqp3 where linked (use_lapack), else the oracle's unblocked algorithm.
int sketch_qr(double* M, size_t rows, size_t cols, double* rhs, double* R, int32_t* perm, double rcond,
              bool use_lapack, int threads);
bool sketch_have_lapack();

/// Σ over SUM_BLOCK blocks of (b − A x)² added to acc block by block, in order (the oracle's blockedDot).
/// r (rows) receives b − A x when not null. The block must start on a SUM_BLOCK boundary of the whole.
template <class T>
double sketch_residual_sq(const SketchOperandView<T>& A, const T* b, const double* x, double acc, int threads,
                          double* r = nullptr);

/// Randomized Kaczmarz's row table: cdf[i] = acc + Σ_{k ≤ i} ‖a_k‖², each ‖a_k‖² summed in stored order
/// from +0 and the running sum in row order (src/backends/js/sketch/kaczmarz.ts, rowCdf). Returns the
/// last entry, so a row block continues where the one before it ended.
template <class T>
double sketch_row_cdf(const SketchOperandView<T>& A, double acc, double* cdf, int threads);

/// One fused pass (docs/sketch.md §6): t_i = c·w_i + s·(a_i·z); g = Σ t_i a_i; returns Σt², Σ(t−prev)².
template <class T, class W>
void sketch_fused_pass(const SketchOperandView<T>& A, const double* z, const W* w, double c, double s, double* t,
                       double* g, const double* prev, double* sumSq, double* diffSq, int threads);

}  // namespace numkern
