// The builtin score blocks of the frechet kernel (frechet.hpp), for builds without BLAS and wherever
// the plan prefers them: C = W[rows] · M[:, cols] in the Goto/BLIS shape (Goto, van de Geijn, ACM TOMS
// 34(3), 2008), with one difference: W is read in place, row-major, never packed. Each tile of M is
// packed into NR-label panels, k-major (pack_tile); an MR×NR tile of C accumulates in registers over KC
// values of k at a time, broadcasting W[r, k] from MR rows of W as they lie, starting from the partial
// sums already in C, so every score is its K products added in ascending k, each product and each sum
// rounded (numkern_core is built with -ffp-contract=off): the same bits on every CPU and in every tile,
// task, thread and row chunk.
//
// Why W is not packed: a packed copy of W is as large as W itself (4 MiB for 1024 × 1000 f32), more
// than the 1/8 of a materialized B×N score matrix the family allows at N = 1e3 (docs/frechet.md §8),
// and its pass cost ~0.5 ms per call. Measured on the development machine (Zen 5, AVX-512, f32, B =
// 1024, K = 1000, N = 1000, one thread, CPU time, best of 15, interleaved under load): MR rows of W
// read in place ran as fast as the packed panel (≈ 190-210 GFLOP/s both; the MR row streams need no
// software prefetch, which gained nothing), while reading M in place (stride N) instead of packing its
// tile lost ≈ 20 % (≈ 155-170 GFLOP/s), so M's tile stays packed.
//
// The register tile depends on the vector width, so unlike NK_CLONES (one source, one shape) each width
// gets its own instantiation under a target attribute, chosen once at run time by the test GCC's clone
// resolver uses (sysinfo.cc): x86-64-v4 12 rows × 2 zmm (24 accumulators), AVX2 6 × 2 ymm, baseline
// 4 × 2 xmm, written with GCC vector types of exactly that width. The multiplies and the adds run on
// separate pipes, so the tile is as fast as the fused multiply-adds of an intrinsics tile.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "numkern/common.hpp"
#include "numkern/frechet.hpp"

namespace numkern {
namespace frechet {
namespace {

/// k values per pass over a tile (4 KiB of a row of W): the MR×KC panel of W (48 KiB for f32 on
/// AVX-512, Zen 5's L1) is reused across the tile while the KC×NR panels of M stream from L2. K = 1000
/// f32 runs in one pass; KC = 256 measured no faster there, its partial sums' round trips through C
/// costing what the smaller panels save.
template <class T>
constexpr int64_t KC = 4096 / sizeof(T);

enum class Width { V4, Avx2, Base };

Width detected_width() {
#if NK_HAVE_CLONES
  static const Width w = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4")) return Width::V4;
    if (__builtin_cpu_supports("avx2")) return Width::Avx2;
    return Width::Base;
  }();
  return w;
#else
  return Width::Base;
#endif
}

/// A narrower width forced by use_builtin_variant (the standalone test), or −1.
std::atomic<int> forced_width{-1};

Width width() {
  const int f = forced_width.load(std::memory_order_relaxed);
  return f >= 0 ? static_cast<Width>(f) : detected_width();
}

// A tile is MR rows × two vectors of labels; Bytes is the vector width the variant is compiled for.
template <class T, Width W>
struct Shape;
template <class T>
struct Shape<T, Width::V4> {
  static constexpr int64_t MR = 12, Bytes = 64, NR = 2 * Bytes / sizeof(T);
};
template <class T>
struct Shape<T, Width::Avx2> {
  static constexpr int64_t MR = 6, Bytes = 32, NR = 2 * Bytes / sizeof(T);
};
template <class T>
struct Shape<T, Width::Base> {
  static constexpr int64_t MR = 4, Bytes = 16, NR = 2 * Bytes / sizeof(T);
};

template <class T>
int64_t rows_per_panel() {
  switch (width()) {
    case Width::V4: return Shape<T, Width::V4>::MR;
    case Width::Avx2: return Shape<T, Width::Avx2>::MR;
    default: return Shape<T, Width::Base>::MR;
  }
}
template <class T>
int64_t labels_per_panel() {
  switch (width()) {
    case Width::V4: return Shape<T, Width::V4>::NR;
    case Width::Avx2: return Shape<T, Width::Avx2>::NR;
    default: return Shape<T, Width::Base>::NR;
  }
}

constexpr int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

#if defined(__GNUC__)
template <class T, int64_t Bytes>
struct VecOf {
  typedef T type __attribute__((vector_size(Bytes)));
};
#endif

/// c (MR×NR, row stride ldc) = (first ? 0 : c) + Σ_{k < kc} a[r·lda + k]·b[k·NR + j], k ascending, in
/// GCC vector types of the variant's width (a plain loop nest here is vectorized along the wrong axis for
/// f64, ~7 GFLOP/s). Always a full tile: the edges go through a scratch tile, so the accumulators never
/// depend on a run-time bound, which would keep them out of registers.
template <class T, int64_t MR, int64_t NR, int64_t Bytes>
NK_FORCEINLINE void micro(int64_t kc, const T* __restrict a, int64_t lda, const T* __restrict b, T* __restrict c,
                          int64_t ldc, bool first) {
#if defined(__GNUC__)
  typedef typename VecOf<T, Bytes>::type V;
  constexpr int64_t L = Bytes / sizeof(T), NV = NR / L;
  V acc[MR][NV];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) {
      if (first) acc[r][v] = V{};
      else std::memcpy(&acc[r][v], c + r * ldc + v * L, Bytes);
    }
  // One k step: the products of MR values of W and NR labels, added into the accumulators.
  auto step = [&](int64_t k) __attribute__((always_inline)) {
    V bv[NV];
    for (int64_t v = 0; v < NV; ++v) std::memcpy(&bv[v], b + k * NR + v * L, Bytes);
    for (int64_t r = 0; r < MR; ++r) {
      const T av = a[r * lda + k];
      for (int64_t v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  };
  for (int64_t k = 0; k < kc; ++k) step(k);
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) std::memcpy(c + r * ldc + v * L, &acc[r][v], Bytes);
#else
  T acc[MR][NR];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) acc[r][j] = first ? T(0) : c[r * ldc + j];
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < MR; ++r) {
      const T av = a[r * lda + k];
      for (int64_t j = 0; j < NR; ++j) acc[r][j] += av * b[k * NR + j];
    }
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
#endif
}

/// C (rows × cols, stride ldc) = rows row0 .. row0 + rows of W (B×K, read in place) times the packed
/// tile, KC values of k per pass. A full panel reads its MR rows of W. A short one (rows past the last
/// multiple of MR, only at the end of W) reads the MR rows that end at row B and keeps its last mr
/// results: the rows before are computed again and dropped, so no row past W is read; with fewer than MR
/// rows in all, it reads apad, those rows zero-padded to MR.
template <class T, Width W>
NK_FORCEINLINE void multiply(const T* Wm, int64_t B, int64_t K, int64_t row0, int64_t rows, const T* mpack,
                             int64_t cols, T* C, int64_t ldc, const T* apad) {
  constexpr int64_t MR = Shape<T, W>::MR, NR = Shape<T, W>::NR, Bytes = Shape<T, W>::Bytes;
  T edge[MR * NR] = {};
  for (int64_t pc = 0; pc < K; pc += KC<T>) {
    const int64_t kc = std::min(KC<T>, K - pc);
    const bool first = pc == 0;
    for (int64_t i = 0; i < rows; i += MR) {
      const int64_t mr = std::min(MR, rows - i);
      const int64_t skip = mr == MR || B < MR ? 0 : MR - mr;  // leading rows of the edge tile to drop
      const T* a = (B < MR ? apad : Wm + (row0 + i - skip) * K) + pc;
      for (int64_t j = 0; j < cols; j += NR) {
        const T* b = mpack + j * K + pc * NR;
        T* c = C + i * ldc + j;
        const int64_t nr = std::min(NR, cols - j);
        if (mr == MR && nr == NR) {
          micro<T, MR, NR, Bytes>(kc, a, K, b, c, ldc, first);
          continue;
        }
        T* e = edge + skip * NR;
        if (!first)
          for (int64_t r = 0; r < mr; ++r) std::memcpy(e + r * NR, c + r * ldc, sizeof(T) * static_cast<size_t>(nr));
        micro<T, MR, NR, Bytes>(kc, a, K, b, edge, NR, first);
        for (int64_t r = 0; r < mr; ++r) std::memcpy(c + r * ldc, e + r * NR, sizeof(T) * static_cast<size_t>(nr));
      }
    }
  }
}

#if NK_HAVE_CLONES
#define NK_FRECHET_MULTIPLY(name, T, W, isa)                                                                  \
  __attribute__((target(isa))) void name(const T* Wm, int64_t B, int64_t K, int64_t row0, int64_t rows,        \
                                         const T* mpack, int64_t cols, T* C, int64_t ldc, const T* apad) {     \
    multiply<T, W>(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);                                            \
  }
NK_FRECHET_MULTIPLY(multiply_f32_v4, float, Width::V4, "arch=x86-64-v4")
NK_FRECHET_MULTIPLY(multiply_f32_avx2, float, Width::Avx2, "avx2")
NK_FRECHET_MULTIPLY(multiply_f64_v4, double, Width::V4, "arch=x86-64-v4")
NK_FRECHET_MULTIPLY(multiply_f64_avx2, double, Width::Avx2, "avx2")
#undef NK_FRECHET_MULTIPLY
#endif

template <class T>
void multiply_any(const T* Wm, int64_t B, int64_t K, int64_t row0, int64_t rows, const T* mpack, int64_t cols, T* C,
                  int64_t ldc, const T* apad) {
#if NK_HAVE_CLONES
  if (width() == Width::V4) {
    if constexpr (sizeof(T) == 4) multiply_f32_v4(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);
    else multiply_f64_v4(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);
    return;
  }
  if (width() == Width::Avx2) {
    if constexpr (sizeof(T) == 4) multiply_f32_avx2(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);
    else multiply_f64_avx2(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);
    return;
  }
#endif
  multiply<T, Width::Base>(Wm, B, K, row0, rows, mpack, cols, C, ldc, apad);
}

}  // namespace

bool use_builtin_variant(const char* name) {
  if (name == nullptr) {
    forced_width.store(-1);
    return true;
  }
  const std::string n(name);
  const Width w = n == "x86-64-v4" ? Width::V4 : n == "avx2" ? Width::Avx2 : Width::Base;
  if ((n != "x86-64-v4" && n != "avx2" && n != "default") || static_cast<int>(w) < static_cast<int>(detected_width()))
    return false;
  forced_width.store(static_cast<int>(w));
  return true;
}

const char* builtin_variant() {
  switch (width()) {
    case Width::V4: return "x86-64-v4";
    case Width::Avx2: return "avx2";
    default: return "default";
  }
}

template <class T>
size_t pad_size(int64_t B, int64_t K) {
  const int64_t MR = rows_per_panel<T>();
  return B < MR ? static_cast<size_t>(MR * K) : 0;
}

template <class T>
size_t tile_pack_size(int64_t cols, int64_t K) {
  return static_cast<size_t>(round_up(cols, labels_per_panel<T>()) * K);
}

template <class T>
void pack_tile(const T* M, Layout layout, int64_t K, int64_t N, int64_t col0, int64_t cols, T* mpack) {
  const int64_t NR = labels_per_panel<T>();
  // The labels in NR-label panels, k-major, zero-padded past the last label.
  for (int64_t j = 0; j < cols; j += NR) {
    T* dst = mpack + j * K;
    const int64_t nr = std::min(NR, cols - j);
    if (layout == Layout::KN) {
      for (int64_t k = 0; k < K; ++k) {
        const T* src = M + k * N + col0 + j;
        for (int64_t q = 0; q < nr; ++q) dst[k * NR + q] = src[q];
        for (int64_t q = nr; q < NR; ++q) dst[k * NR + q] = T(0);
      }
    } else {
      for (int64_t q = 0; q < nr; ++q) {
        const T* src = M + (col0 + j + q) * K;
        for (int64_t k = 0; k < K; ++k) dst[k * NR + q] = src[k];
      }
      for (int64_t q = nr; q < NR; ++q)
        for (int64_t k = 0; k < K; ++k) dst[k * NR + q] = T(0);
    }
  }
}

template <class T>
void block_builtin(const T* W, int64_t B, int64_t K, int64_t row0, int64_t rows, const T* mpack, int64_t cols, T* C,
                   int64_t ldc, T* apad) {
  if (rows <= 0 || cols <= 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < rows; ++i) std::fill(C + i * ldc, C + i * ldc + cols, T(0));
    return;
  }
  if (B < rows_per_panel<T>()) {
    std::fill(apad, apad + pad_size<T>(B, K), T(0));
    std::copy(W, W + B * K, apad);
  }
  multiply_any<T>(W, B, K, row0, rows, mpack, cols, C, ldc, apad);
}

template size_t pad_size<float>(int64_t, int64_t);
template size_t pad_size<double>(int64_t, int64_t);
template size_t tile_pack_size<float>(int64_t, int64_t);
template size_t tile_pack_size<double>(int64_t, int64_t);
template void pack_tile<float>(const float*, Layout, int64_t, int64_t, int64_t, int64_t, float*);
template void pack_tile<double>(const double*, Layout, int64_t, int64_t, int64_t, int64_t, double*);
template void block_builtin<float>(const float*, int64_t, int64_t, int64_t, int64_t, const float*, int64_t, float*,
                                   int64_t, float*);
template void block_builtin<double>(const double*, int64_t, int64_t, int64_t, int64_t, const double*, int64_t, double*,
                                    int64_t, double*);

}  // namespace frechet
}  // namespace numkern
