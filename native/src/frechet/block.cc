// The builtin score blocks of the frechet kernel (frechet.hpp), for builds without BLAS and wherever
// the plan prefers them: C = W[rows] · M[:, cols] in the Goto/BLIS shape (Goto, van de Geijn, ACM TOMS
// 34(3), 2008). The rows of W are packed once per row block into MR-row panels, each tile of M into
// NR-label panels, both k-major; an MR×NR tile of C accumulates in registers over KC values of k at a
// time, starting from the partial sums already in C, so every score is its K products added in
// ascending k, each product and each sum rounded (numkern_core is built with -ffp-contract=off): the
// same bits on every CPU and in every tile, task and thread.
//
// The register tile depends on the vector width, so unlike NK_CLONES (one source, one shape) each width
// gets its own instantiation under a target attribute, chosen once at run time by the test GCC's clone
// resolver uses (sysinfo.cc): x86-64-v4 12 rows × 2 zmm (24 accumulators), AVX2 6 × 2 ymm, baseline
// 4 × 2 xmm, written with GCC vector types of exactly that width. Measured on the development machine
// (Zen 5, AVX-512): ~200 GFLOP/s per core for the f32 tile in L1, as fast as the fused multiply-adds of
// an intrinsics tile, because the CPU issues the multiplies and the adds on separate pipes.
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

/// How far ahead micro() prefetches the packed panel of W. That panel (MR rows × K, 48 KiB for f32 on
/// AVX-512) is the stream that comes from L3: the packed rows of a block (4 MiB for 1024 × 1000 f32)
/// outgrow L2, which holds the tile of M. Its 48 bytes per k step are too thin a stream for the
/// hardware prefetchers to run ahead of; measured on Zen 5 (B = 1024, K = 1000, f32, one thread, CPU
/// time, best of 30 interleaved runs under load): ~170 GFLOP/s without, ~180-190 with 3 KiB (64 k
/// steps) ahead, as fast as OpenBLAS's own AVX-512 sgemm in the same runs; 768 bytes ahead gained half
/// as much, 6 KiB the same. Prefetching the tile of M as well gained nothing (it is already in L2).
constexpr int64_t kAheadBytes = 3072;

/// c (MR×NR, row stride ldc) = (first ? 0 : c) + Σ_{k < kc} a[k·MR + r]·b[k·NR + j], k ascending, in
/// GCC vector types of the variant's width (a plain loop nest here is vectorized along the wrong axis for
/// f64, ~7 GFLOP/s). Always a full tile: the edges go through a scratch tile, so the accumulators never
/// depend on a run-time bound, which would keep them out of registers.
template <class T, int64_t MR, int64_t NR, int64_t Bytes>
NK_FORCEINLINE void micro(int64_t kc, const T* __restrict a, const T* __restrict b, T* __restrict c, int64_t ldc,
                          bool first) {
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
      const T av = a[k * MR + r];
      for (int64_t v = 0; v < NV; ++v) acc[r][v] += av * bv[v];
    }
  };
  // The panel of W is prefetched kAheadBytes ahead (see kAheadBytes); the last steps need none.
  constexpr int64_t ahead = kAheadBytes / static_cast<int64_t>(MR * sizeof(T));
  int64_t k = 0;
  for (; k + ahead < kc; ++k) {
    __builtin_prefetch(a + (k + ahead) * MR, 0, 3);
    step(k);
  }
  for (; k < kc; ++k) step(k);
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t v = 0; v < NV; ++v) std::memcpy(c + r * ldc + v * L, &acc[r][v], Bytes);
#else
  T acc[MR][NR];
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) acc[r][j] = first ? T(0) : c[r * ldc + j];
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < MR; ++r) {
      const T av = a[k * MR + r];
      for (int64_t j = 0; j < NR; ++j) acc[r][j] += av * b[k * NR + j];
    }
  for (int64_t r = 0; r < MR; ++r)
    for (int64_t j = 0; j < NR; ++j) c[r * ldc + j] = acc[r][j];
#endif
}

/// C (rows × cols, stride ldc) from the packed panels, KC values of k per pass.
template <class T, Width W>
NK_FORCEINLINE void multiply(int64_t K, int64_t rows, int64_t cols, const T* wpack, const T* mpack, T* C,
                             int64_t ldc) {
  constexpr int64_t MR = Shape<T, W>::MR, NR = Shape<T, W>::NR, Bytes = Shape<T, W>::Bytes;
  T edge[MR * NR];
  for (int64_t pc = 0; pc < K; pc += KC<T>) {
    const int64_t kc = std::min(KC<T>, K - pc);
    const bool first = pc == 0;
    for (int64_t i = 0; i < rows; i += MR) {
      const T* a = wpack + i * K + pc * MR;
      const int64_t mr = std::min(MR, rows - i);
      for (int64_t j = 0; j < cols; j += NR) {
        const T* b = mpack + j * K + pc * NR;
        T* c = C + i * ldc + j;
        const int64_t nr = std::min(NR, cols - j);
        if (mr == MR && nr == NR) {
          micro<T, MR, NR, Bytes>(kc, a, b, c, ldc, first);
          continue;
        }
        if (!first)
          for (int64_t r = 0; r < mr; ++r) std::memcpy(edge + r * NR, c + r * ldc, sizeof(T) * static_cast<size_t>(nr));
        micro<T, MR, NR, Bytes>(kc, a, b, edge, NR, first);
        for (int64_t r = 0; r < mr; ++r) std::memcpy(c + r * ldc, edge + r * NR, sizeof(T) * static_cast<size_t>(nr));
      }
    }
  }
}

#if NK_HAVE_CLONES
#define NK_FRECHET_MULTIPLY(name, T, W, isa)                                                                \
  __attribute__((target(isa))) void name(int64_t K, int64_t rows, int64_t cols, const T* wpack,              \
                                         const T* mpack, T* C, int64_t ldc) {                                \
    multiply<T, W>(K, rows, cols, wpack, mpack, C, ldc);                                                      \
  }
NK_FRECHET_MULTIPLY(multiply_f32_v4, float, Width::V4, "arch=x86-64-v4")
NK_FRECHET_MULTIPLY(multiply_f32_avx2, float, Width::Avx2, "avx2")
NK_FRECHET_MULTIPLY(multiply_f64_v4, double, Width::V4, "arch=x86-64-v4")
NK_FRECHET_MULTIPLY(multiply_f64_avx2, double, Width::Avx2, "avx2")
#undef NK_FRECHET_MULTIPLY
#endif

template <class T>
void multiply_any(int64_t K, int64_t rows, int64_t cols, const T* wpack, const T* mpack, T* C, int64_t ldc) {
#if NK_HAVE_CLONES
  if (width() == Width::V4) {
    if constexpr (sizeof(T) == 4) multiply_f32_v4(K, rows, cols, wpack, mpack, C, ldc);
    else multiply_f64_v4(K, rows, cols, wpack, mpack, C, ldc);
    return;
  }
  if (width() == Width::Avx2) {
    if constexpr (sizeof(T) == 4) multiply_f32_avx2(K, rows, cols, wpack, mpack, C, ldc);
    else multiply_f64_avx2(K, rows, cols, wpack, mpack, C, ldc);
    return;
  }
#endif
  multiply<T, Width::Base>(K, rows, cols, wpack, mpack, C, ldc);
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
size_t rows_pack_size(int64_t rows, int64_t K) {
  return static_cast<size_t>(round_up(rows, rows_per_panel<T>()) * K);
}

template <class T>
int64_t rows_panels(int64_t rows) {
  return (rows + rows_per_panel<T>() - 1) / rows_per_panel<T>();
}

template <class T>
void pack_rows(const T* W, int64_t K, int64_t row0, int64_t rows, int64_t panel0, int64_t panel1, T* wpack) {
  const int64_t MR = rows_per_panel<T>();
  for (int64_t i = panel0 * MR; i < std::min(rows, panel1 * MR); i += MR)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t r = 0; r < MR; ++r)
        wpack[i * K + k * MR + r] = i + r < rows ? W[(row0 + i + r) * K + k] : T(0);
}

template <class T>
size_t tile_pack_size(int64_t cols, int64_t K) {
  return static_cast<size_t>(round_up(cols, labels_per_panel<T>()) * K);
}

template <class T>
void block_builtin(const T* wpack, int64_t K, int64_t rows, const T* M, Layout layout, int64_t N, int64_t col0,
                   int64_t cols, T* C, int64_t ldc, T* mpack) {
  if (rows <= 0 || cols <= 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < rows; ++i) std::fill(C + i * ldc, C + i * ldc + cols, T(0));
    return;
  }
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
  multiply_any<T>(K, rows, cols, wpack, mpack, C, ldc);
}

template size_t rows_pack_size<float>(int64_t, int64_t);
template size_t rows_pack_size<double>(int64_t, int64_t);
template int64_t rows_panels<float>(int64_t);
template int64_t rows_panels<double>(int64_t);
template void pack_rows<float>(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, float*);
template void pack_rows<double>(const double*, int64_t, int64_t, int64_t, int64_t, int64_t, double*);
template size_t tile_pack_size<float>(int64_t, int64_t);
template size_t tile_pack_size<double>(int64_t, int64_t);
template void block_builtin<float>(const float*, int64_t, int64_t, const float*, Layout, int64_t, int64_t, int64_t,
                                   float*, int64_t, float*);
template void block_builtin<double>(const double*, int64_t, int64_t, const double*, Layout, int64_t, int64_t, int64_t,
                                    double*, int64_t, double*);

}  // namespace frechet
}  // namespace numkern
