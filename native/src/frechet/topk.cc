// The fused "GEMM + running top-k" of the frechet family (frechet.hpp, src/frechet/ops.ts).
//
// Work is cut into tiles of labels on a grid fixed by plan() (a function of the shapes alone). The
// threads take tiles in order from a shared counter, so a busy core costs the others nothing. A thread
// scores a tile against one block of rows of W after another, each score block into its own buffer,
// folded at once into its own running top-k of every row; at the
// end the threads' top-k are merged row by row. A label's score is computed by one deterministic call
// whichever thread runs it, and the top-k of a set is unique under the total order of frechet_topk.hpp,
// so the result does not depend on the thread count nor on which thread took which tile.
//
// Memory: per thread one score block, one packed tile (builtin engine; plan() keeps the two within 1/32
// of the B×N score matrix, or one 32-label tile) and a top-k of B rows; W is read in place and the B×N
// score matrix never exists.
//
// Screening (Problem::screen_w / screen_m): the façade's value checks of P and of a D of squared
// distances ride on this pass (docs/frechet.md §9), as the sketch family screens A: the team screens the
// rows of W and each tile of M before scoring it, and a call that finds a bad value stops taking tiles
// and reports it instead of a result; the façade then runs its own scan, which names the argument.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstddef>
#include <cstring>
#include <limits>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/frechet.hpp"
#include "numkern/frechet_topk.hpp"
#include "numkern/parallel.hpp"

#if defined(NUMKERN_HAVE_BLAS)
#include <cblas.h>

#include "numkern/blas_threads.hpp"
#endif

namespace numkern {
namespace frechet {
namespace {

#if defined(NUMKERN_HAVE_BLAS)
constexpr bool kHaveBlas = true;
#else
constexpr bool kHaveBlas = false;
#endif

// ---- folding a score block into the rows' top-k ----

/// Whether any of the L scores c[q] (+ bias[q]) passes !(v > thr): one vectorized pass (an OR of
/// compares, reduced once per line), no branch per value.
template <class T, bool HasBias, int64_t L>
NK_FORCEINLINE bool any_passes(const T* __restrict c, const T* __restrict bias, T thr) {
  int any = 0;
  for (int64_t q = 0; q < L; ++q) any |= !((HasBias ? c[q] + bias[q] : c[q]) > thr);
  return any != 0;
}

/// Scores c[j] (+ bias[j]) of one block row, labels label0 + j, offered to row r. Each run of 256 bytes
/// is screened against the row's worst kept score in one vectorized pass before any single value is
/// looked at, so the common case, a run with nothing better than the row's worst, costs a few
/// instructions per 16 values. A value that passes is recomputed by the same expression (same bits).
template <class T, bool HasBias>
NK_FORCEINLINE void scan_row(const T* __restrict c, const T* __restrict bias, int64_t cols, int32_t label0,
                             TopkRow<T>& r) {
  constexpr int64_t L = 256 / sizeof(T);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  T thr = screen(r, nan);
  int64_t j = 0;
  const auto look = [&](int64_t q0, int64_t q1) __attribute__((always_inline)) {
    for (int64_t q = q0; q < q1; ++q) {
      const T v = HasBias ? c[q] + bias[q] : c[q];
      if (!(v > thr) && offer(r, v, label0 + static_cast<int32_t>(q))) thr = screen(r, nan);
    }
  };
  for (; j + L <= cols; j += L)
    if (__builtin_expect(any_passes<T, HasBias, L>(c + j, HasBias ? bias + j : bias, thr), 0)) look(j, j + L);
  // Narrow tiles (32 labels: plan()) have half a run left.
  if (j + L / 2 <= cols) {
    if (__builtin_expect(any_passes<T, HasBias, L / 2>(c + j, HasBias ? bias + j : bias, thr), 0)) look(j, j + L / 2);
    j += L / 2;
  }
  look(j, cols);
}

/// Block rows i < rows (row i at C + i·ldc) offered to the heaps s, id, count of those rows.
template <class T, bool HasBias>
NK_FORCEINLINE void scan_block(const T* C, int64_t ldc, int64_t rows, int64_t cols, const T* bias, int32_t label0,
                               T* s, int32_t* id, int32_t* count, int32_t cap) {
  for (int64_t i = 0; i < rows; ++i) {
    TopkRow<T> r{s + i * cap, id + i * cap, count[i], cap};
    scan_row<T, HasBias>(C + i * ldc, bias, cols, label0, r);
    count[i] = r.count;
  }
}

#define NK_FRECHET_SCAN(name, T, HasBias)                                                                      \
  NK_CLONES void name(const T* C, int64_t ldc, int64_t rows, int64_t cols, const T* bias, int32_t label0, T* s, \
                      int32_t* id, int32_t* count, int32_t cap) {                                              \
    scan_block<T, HasBias>(C, ldc, rows, cols, bias, label0, s, id, count, cap);                               \
  }
NK_FRECHET_SCAN(scan_f32, float, false)
NK_FRECHET_SCAN(scan_f32_bias, float, true)
NK_FRECHET_SCAN(scan_f64, double, false)
NK_FRECHET_SCAN(scan_f64_bias, double, true)
#undef NK_FRECHET_SCAN

void scan(const float* C, int64_t ldc, int64_t rows, int64_t cols, const float* bias, int32_t label0, float* s,
          int32_t* id, int32_t* count, int32_t cap) {
  if (bias) scan_f32_bias(C, ldc, rows, cols, bias, label0, s, id, count, cap);
  else scan_f32(C, ldc, rows, cols, bias, label0, s, id, count, cap);
}
void scan(const double* C, int64_t ldc, int64_t rows, int64_t cols, const double* bias, int32_t label0, double* s,
          int32_t* id, int32_t* count, int32_t cap) {
  if (bias) scan_f64_bias(C, ldc, rows, cols, bias, label0, s, id, count, cap);
  else scan_f64(C, ldc, rows, cols, bias, label0, s, id, count, cap);
}

// ---- score blocks through BLAS ----

#if defined(NUMKERN_HAVE_BLAS)
inline void gemm(CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, const float* A, blasint lda, const float* B,
                 blasint ldb, float* C, blasint ldc) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
}
inline void gemm(CBLAS_TRANSPOSE tb, blasint m, blasint n, blasint k, const double* A, blasint lda, const double* B,
                 blasint ldb, double* C, blasint ldc) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, tb, m, n, k, 1.0, A, lda, B, ldb, 0.0, C, ldc);
}

// C (rows × cols, ld cols) = W[row0 .. row0 + rows) · M(:, col0 .. col0 + cols). kn: the tile is columns
// of the K×N matrix (ld N); nk: rows of the N×K one, hence the transpose.
template <class T>
void blas_block(const T* W, int64_t K, int64_t row0, int64_t rows, const T* M, Layout layout, int64_t N, int64_t col0,
                int64_t cols, T* C) {
  const bool kn = layout == Layout::KN;
  gemm(kn ? CblasNoTrans : CblasTrans, static_cast<blasint>(rows), static_cast<blasint>(cols), static_cast<blasint>(K),
       W + row0 * K, static_cast<blasint>(K), kn ? M + col0 : M + col0 * K, static_cast<blasint>(kn ? N : K), C,
       static_cast<blasint>(cols));
}

/// OpenBLAS on one thread for the length of a call (numkern/blas_threads.hpp): each of our threads runs
/// its own single-threaded product, so a tile's bits never depend on how OpenBLAS would split it, and its
/// own threads do not fight ours for the cores (docs/platform.md 1.8).
struct BlasSingleThread {
  explicit BlasSingleThread(bool on) : t(1, on) {}
  BlasThreads t;
};
#else
template <class T>
void blas_block(const T*, int64_t, int64_t, int64_t, const T*, Layout, int64_t, int64_t, int64_t, T*) {}
struct BlasSingleThread {
  explicit BlasSingleThread(bool) {}
};
#endif

/// Memory for score blocks and packed operands, kept between calls. A large call runs as many short
/// calls (src/backends/native/frechet.ts slices it), and fresh blocks of a few MiB each time would come
/// back from the OS zero-filled, page by page (measured: a fifth of a sliced BLAS run). A buffer is
/// handed to one call at a time; at most kKeep bytes stay cached once no call holds them, freed at exit.
class Pool {
 public:
  static constexpr size_t kKeep = size_t{64} << 20;

  /// At least `bytes` bytes, 64-byte aligned, uninitialized.
  static void* take(size_t bytes) {
    Pool& pool = instance();
    {
      std::lock_guard<std::mutex> lock(pool.mutex_);
      // The smallest that fits, so a small request never takes the buffer a large one will need.
      size_t best = pool.free_.size();
      for (size_t i = 0; i < pool.free_.size(); ++i)
        if (pool.free_[i].bytes >= bytes && (best == pool.free_.size() || pool.free_[i].bytes < pool.free_[best].bytes))
          best = i;
      if (best < pool.free_.size()) {
        void* p = pool.free_[best].p;
        pool.cached_ -= pool.free_[best].bytes;
        pool.free_.erase(pool.free_.begin() + static_cast<std::ptrdiff_t>(best));
        return p;
      }
    }
    return ::operator new(bytes, std::align_val_t(64));
  }
  static void give(void* p, size_t bytes) {
    if (!p) return;
    Pool& pool = instance();
    {
      std::lock_guard<std::mutex> lock(pool.mutex_);
      if (pool.cached_ + bytes <= kKeep) {
        pool.free_.push_back(Entry{p, bytes});
        pool.cached_ += bytes;
        return;
      }
    }
    ::operator delete(p, std::align_val_t(64));
  }

  ~Pool() {
    for (const Entry& e : free_) ::operator delete(e.p, std::align_val_t(64));
  }

 private:
  struct Entry {
    void* p;
    size_t bytes;
  };
  static Pool& instance() {
    static Pool pool;
    return pool;
  }
  std::mutex mutex_;
  std::vector<Entry> free_;
  size_t cached_ = 0;
};

/// n values of T from the pool, returned to it when the buffer goes out of scope.
template <class T>
class Buffer {
 public:
  explicit Buffer(size_t n = 0)
      : bytes_(std::max<size_t>(n, 1) * sizeof(T)), p_(static_cast<T*>(Pool::take(bytes_))) {}
  ~Buffer() { Pool::give(p_, bytes_); }
  Buffer(Buffer&& o) noexcept : bytes_(o.bytes_), p_(o.p_) { o.p_ = nullptr; }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer& operator=(Buffer&&) = delete;
  T* data() const { return p_; }

 private:
  size_t bytes_;
  T* p_;
};

/// One thread's running top-k of every row: B heaps of cap pairs.
template <class T>
struct RowHeaps {
  std::vector<T> s;
  std::vector<int32_t> id;
  std::vector<int32_t> count;
  RowHeaps(int64_t B, int32_t cap)
      : s(static_cast<size_t>(B) * cap), id(static_cast<size_t>(B) * cap), count(static_cast<size_t>(B), 0) {}
  TopkRow<T> row(int64_t b, int32_t cap) {
    return TopkRow<T>{s.data() + b * cap, id.data() + b * cap, count[static_cast<size_t>(b)], cap};
  }
};

// ---- screening the operands (the façade's value checks, src/frechet/validate.ts) ----

/// Rows of W per builtin score block (a multiple of every variant's MR, so only the last chunk of W has
/// a short panel; block.cc).
constexpr int64_t kChunkRows = 192;
/// Rows of W per screening part taken from the team's counter.
constexpr int64_t kScreenRows = 64;

/// Bit 0: some entry of a[0, n) is NaN, negative or above the dtype's largest finite value (±∞); bit 1:
/// some entry is > 0; bit 2: some entry is > big. Bitwise ORs of compares, no branch, so it vectorizes
/// (docs: the sketch family's screen, native/src/sketch/apply.cc).
template <class T>
NK_FORCEINLINE unsigned flags_body(const T* __restrict a, int64_t n, T big) {
  const T top = std::numeric_limits<T>::max();
  unsigned bad = 0, pos = 0, over = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T v = a[i];
    bad |= static_cast<unsigned>(!(v >= T(0))) | static_cast<unsigned>(v > top);
    pos |= static_cast<unsigned>(v > T(0));
    over |= static_cast<unsigned>(v > big);
  }
  return (bad != 0 ? 1u : 0u) | (pos != 0 ? 2u : 0u) | (over != 0 ? 4u : 0u);
}
NK_CLONES unsigned flags_f32(const float* a, int64_t n, float big) { return flags_body<float>(a, n, big); }
NK_CLONES unsigned flags_f64(const double* a, int64_t n, double big) { return flags_body<double>(a, n, big); }
inline unsigned flags(const float* a, int64_t n, float big) { return flags_f32(a, n, big); }
inline unsigned flags(const double* a, int64_t n, double big) { return flags_f64(a, n, big); }

/// Whether some row of W in [b0, b1) fails checkWeights: an entry NaN, negative or infinite, no
/// positive entry (a zero row), or, for f64, a row whose f64 sum might overflow. That last test is
/// conservative (an entry above DBL_MAX / 2K; a sum of K entries below it is below DBL_MAX / 2 in any
/// order): the façade's scan decides, and a row it passes is scored after all. An f32 row's sum never
/// overflows f64 (K < 2^31 entries below 2^128).
template <class T>
bool weights_bad(const T* W, int64_t b0, int64_t b1, int64_t K) {
  const T big = std::is_same<T, float>::value ? std::numeric_limits<T>::max()
                                              : static_cast<T>(std::numeric_limits<double>::max() / (2.0 * std::max<int64_t>(K, 1)));
  for (int64_t b = b0; b < b1; ++b)
    if (flags(W + b * K, K, big) != 2u) return true;
  return false;
}

/// Whether some entry of labels [j0, j1) of M is NaN, negative or infinite (checkDistances of a D that
/// holds squared distances).
template <class T>
bool labels_bad(const T* M, Layout layout, int64_t K, int64_t N, int64_t j0, int64_t j1) {
  const T top = std::numeric_limits<T>::max();
  if (layout == Layout::NK) return (flags(M + j0 * K, (j1 - j0) * K, top) & 1u) != 0;
  for (int64_t k = 0; k < K; ++k)
    if ((flags(M + k * N + j0, j1 - j0, top) & 1u) != 0) return true;
  return false;
}

}  // namespace

bool have_blas() { return kHaveBlas; }

bool blas_narrower() {
#if defined(NUMKERN_HAVE_BLAS)
  static const bool narrower = [] {
    if (std::strcmp(builtin_variant(), "x86-64-v4") != 0) return false;
    std::string core = openblas_get_corename();
    for (char& ch : core) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (const char* wide : {"skylakex", "cooperlake", "sapphirerapids"})
      if (core.find(wide) != std::string::npos) return false;
    return true;
  }();
  return narrower;
#else
  return false;
#endif
}

Plan plan(int64_t B, int64_t K, int64_t N, bool f32, Engine engine) {
  // OpenBLAS is preferred, except where it runs narrower vectors than the builtin kernel: OpenBLAS 0.3.21
  // does not know Zen 5 and runs its Haswell (AVX2) kernels there, and the builtin kernel's AVX-512 tile
  // outran it by about 1.5× (f32, K = 1000 and K = 64: ~145 against ~95 GFLOP/s per core), while
  // adding each product on its own (no fused multiply-add, so the same bits on every CPU).
  const bool blas = kHaveBlas && (engine == Engine::Blas || (engine == Engine::Auto && !blas_narrower()));
  const int64_t esize = f32 ? 4 : 8;
  if (blas) {
    // OpenBLAS packs the rows of W again for every tile, so its tiles are wide (4 MiB score blocks for a
    // deep K) and take all of a typical batch; fewer rows for a shallow K, whose product is cheap next to
    // a block's traffic.
    const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(B, K < 256 ? 256 : 1024));
    const int64_t tile = (K >= 256 ? int64_t{4} << 20 : int64_t{1} << 20) / esize / rows;
    return Plan{std::max<int64_t>(256, std::min<int64_t>(tile / 64 * 64, 16384)), rows, true};
  }
  // The builtin engine: a thread packs a tile of M (K × tile values) and scores it against W in chunks
  // of kChunkRows rows (a chunk × tile score block, read back by the scan from L1/L2). A thread's
  // scratch is (K + kChunkRows)·tile values; the tile is the widest multiple of 32 labels (every
  // variant's NR divides 32) up to 128 that keeps it within 1/32 of the B×N score matrix, so that four
  // threads stay within the 1/8 of it the family allows (docs/frechet.md §8), and never narrower than
  // 32. Measured (f32, B = 1024, K = 1000, one thread): tiles of 32, 64 and 128 labels all run at
  // ≈ 190-210 GFLOP/s, 256 at ≈ 160 (its packed tile outgrows L2).
  const int64_t rows = std::max<int64_t>(1, std::min<int64_t>(B, kChunkRows));
  const int64_t budget = B * std::max<int64_t>(N, 0) / 32;  // values
  const int64_t fit = budget / std::max<int64_t>(1, K + rows);
  return Plan{std::max<int64_t>(32, std::min<int64_t>(128, fit / 32 * 32)), rows, false};
}

int planned_threads(const Plan& p, int64_t B, int64_t begin, int64_t end, int threads) {
  if (end <= begin || B <= 0) return 1;
  const int64_t tiles = (end - 1) / p.tile - begin / p.tile + 1;
  return plan_threads(threads, static_cast<size_t>(tiles), 1);
}

template <class T>
int topk(const Problem<T>& p, Engine engine, int threads) {
  if (p.B <= 0 && !p.screen_m) return -1;
  const Plan pl = plan(p.B, p.K, p.N, std::is_same<T, float>::value, engine);
  const int32_t cap = p.topk;
  const int64_t first_tile = p.begin / pl.tile;
  const int64_t ntiles = p.end > p.begin ? (p.end - 1) / pl.tile - first_tile + 1 : 0;
  const int nt = planned_threads(pl, p.B, p.begin, p.end, threads);

  // Everything is allocated before the team starts: an exception must not leave a parallel region.
  std::vector<RowHeaps<T>> heaps;
  heaps.reserve(static_cast<size_t>(nt));
  for (int t = 0; t < nt; ++t) heaps.emplace_back(p.B, cap);
  const int64_t widest = std::min(pl.tile, p.end - p.begin);
  const size_t block = static_cast<size_t>(pl.rows * widest);
  const size_t pack = pl.blas ? 0 : tile_pack_size<T>(widest, p.K);
  const size_t pad = pl.blas ? 0 : pad_size<T>(p.B, p.K);
  std::vector<Buffer<T>> scratch;
  scratch.reserve(static_cast<size_t>(nt));
  for (int t = 0; t < nt; ++t) scratch.emplace_back(ntiles > 0 ? block + pack + pad : 0);

  if (p.merge)
    for (int64_t b = 0; b < p.B; ++b) {
      TopkRow<T> r = heaps[0].row(b, cap);
      for (int32_t k = 0; k < cap; ++k) offer(r, p.scores[b * cap + k], p.labels[b * cap + k]);
      heaps[0].count[static_cast<size_t>(b)] = r.count;
    }

  // One team for the whole call. The threads first take chunks of rows of W to screen (when asked),
  // then tiles from a counter. A tile is screened (when asked), packed once (builtin) and scored against
  // every chunk of rows of W, each score block folded into the thread's top-k at once. Screening needs
  // no barrier: a flagged call's results are never used (the binding reports it, the façade throws), so
  // the threads only stop taking tiles once one is flagged.
  const int64_t screen_parts = p.screen_w ? (p.B + kScreenRows - 1) / kScreenRows : 0;
  std::atomic<int64_t> next_part{0}, next{0};
  std::atomic<int> flagged{-1};
  BlasSingleThread single(pl.blas);
  parallel_run(nt, [&](int tid, int) {
    for (int64_t q; (q = next_part.fetch_add(1, std::memory_order_relaxed)) < screen_parts;) {
      const int64_t b1 = std::min(p.B, (q + 1) * kScreenRows);
      if (weights_bad(p.W, q * kScreenRows, b1, p.K)) flagged.store(0, std::memory_order_relaxed);
    }
    T* C = scratch[static_cast<size_t>(tid)].data();
    RowHeaps<T>& h = heaps[static_cast<size_t>(tid)];
    while (flagged.load(std::memory_order_relaxed) < 0) {
      const int64_t tile = first_tile + next.fetch_add(1, std::memory_order_relaxed);
      if (tile >= first_tile + ntiles) break;
      const int64_t j0 = std::max(tile * pl.tile, p.begin), j1 = std::min((tile + 1) * pl.tile, p.end);
      const int64_t cols = j1 - j0;
      if (p.screen_m && labels_bad(p.M, p.layout, p.K, p.N, j0, j1)) {
        flagged.store(1, std::memory_order_relaxed);
        break;
      }
      if (p.B <= 0) continue;  // called to screen M only
      if (!pl.blas) pack_tile(p.M, p.layout, p.K, p.N, j0, cols, C + block);
      for (int64_t b0 = 0; b0 < p.B; b0 += pl.rows) {
        const int64_t nb = std::min(pl.rows, p.B - b0);
        if (pl.blas && p.K > 0) blas_block(p.W, p.K, b0, nb, p.M, p.layout, p.N, j0, cols, C);
        else block_builtin(p.W, p.B, p.K, b0, nb, C + block, cols, C, cols, C + block + pack);
        scan(C, cols, nb, cols, p.bias ? p.bias + j0 : nullptr, p.label_offset + static_cast<int32_t>(j0),
             h.s.data() + b0 * cap, h.id.data() + b0 * cap, h.count.data() + b0, cap);
      }
    }
  });
  const int verdict = flagged.load();
  if (verdict >= 0) return verdict;

  // Merge the threads' top-k row by row (rows are independent) and write them in rank order.
  const int mt = plan_threads(threads, static_cast<size_t>(p.B) * static_cast<size_t>(nt) * cap, 1 << 14);
  parallel_run(mt, [&](int t, int k) {
    size_t r0, r1;
    even_split(static_cast<size_t>(p.B), t, k, r0, r1);
    for (size_t b = r0; b < r1; ++b) {
      TopkRow<T> r = heaps[0].row(static_cast<int64_t>(b), cap);
      for (int u = 1; u < nt; ++u) {
        const TopkRow<T> o = heaps[static_cast<size_t>(u)].row(static_cast<int64_t>(b), cap);
        for (int32_t q = 0; q < o.count; ++q) offer(r, o.s[q], o.id[q]);
      }
      sort_ranked(r);
      T* out_s = p.scores + b * cap;
      int32_t* out_id = p.labels + b * cap;
      for (int32_t q = 0; q < r.count; ++q) {
        out_s[q] = r.s[q];
        out_id[q] = r.id[q];
      }
      // Unreachable for a checked problem (it has topk labels or merges a full top-k); never garbage.
      for (int32_t q = r.count; q < cap; ++q) {
        out_s[q] = std::numeric_limits<T>::quiet_NaN();
        out_id[q] = -1;
      }
    }
  });
  return -1;
}

template int topk<float>(const Problem<float>&, Engine, int);
template int topk<double>(const Problem<double>&, Engine, int);

}  // namespace frechet
}  // namespace numkern
