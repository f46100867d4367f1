// sketchApply on the CPU (docs/sketch.md §2–§3): S generated from Philox on the fly, every SA entry a sum
// over the block's rows in increasing global order — the oracle's order (src/backends/js/sketch/apply.ts),
// so the threads split the OUTPUT (rows of SA for the dense and sparse kinds, column ranges for the
// SRHT on dense data) and never re-associate a sum across threads: the result is bit
// for bit the same on any thread count. Dense inputs are screened in the same pass (docs/sketch.md §1):
// the kernel reports the first element with !(|a| ≤ limit), so the façade needs no scan of its own.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "fwht.hpp"

namespace numkern {
namespace {

constexpr size_t kDenseChunk = 32;  // rows of A whose S columns are generated at once
constexpr size_t kPanel = 8;        // SRHT columns per FWHT panel: one cache line per row

/// SA[k, :] += w·(row i of A) over dense or CSR storage.
template <class T>
NK_FORCEINLINE void add_row(const SketchOperandView<T>& A, size_t i, double w, double* dst) {
  if (A.csr) {
    for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) dst[A.colIdx[p]] += w * static_cast<double>(A.values[p]);
  } else {
    const T* a = A.data + i * A.cols;
    for (size_t j = 0; j < A.cols; ++j) dst[j] += w * static_cast<double>(a[j]);
  }
}

template <class T>
void dense_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA, double* Sb,
                 int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows;
  const int nt = plan_threads(threads, m * n * std::max<size_t>(d, 1), 1 << 16);
  parallel_run(std::min<int>(nt, static_cast<int>(std::max<size_t>(m, 1))), [&](int tid, int nth) {
    size_t k0, k1;
    even_split(m, tid, nth, k0, k1);
    if (k0 >= k1) return;
    const size_t mk = k1 - k0;
    std::vector<double> col(kDenseChunk * mk);
    for (size_t i0 = 0; i0 < n; i0 += kDenseChunk) {
      const size_t i1 = std::min(n, i0 + kDenseChunk);
      for (size_t i = i0; i < i1; ++i) {
        double* c = col.data() + (i - i0) * mk;
        const uint64_t j0 = (off + i) * m;
        if (S.kind == kSkGaussian) {
          uint32_t w[4];
          uint64_t have = ~0ull;
          for (size_t k = k0; k < k1; ++k) {
            const uint64_t j = j0 + k;
            if ((j >> 2) != have) { have = j >> 2; philox_block(S.key, kSketchStreamGaussian, have, w); }
            c[k - k0] = sketch_gaussian_from_block(w, static_cast<unsigned>(j & 3u));
          }
        } else {
          uint32_t w = 0;
          uint64_t have = ~0ull;
          for (size_t k = k0; k < k1; ++k) {
            const uint64_t j = j0 + k;
            if ((j >> 5) != have) { have = j >> 5; w = philox_word(S.key, kSketchStreamRademacher, have); }
            c[k - k0] = ((w >> (j & 31u)) & 1u) ? -1.0 : 1.0;
          }
        }
      }
      for (size_t k = k0; k < k1; ++k) {
        double* dst = SA + k * d;
        for (size_t i = i0; i < i1; ++i) add_row(A, i, col[(i - i0) * mk + (k - k0)], dst);
        if (b && Sb) {
          double acc = Sb[k];
          for (size_t i = i0; i < i1; ++i) acc += col[(i - i0) * mk + (k - k0)] * static_cast<double>(b[i]);
          Sb[k] = acc;
        }
      }
    }
  });
}

/// Whether any of a[0, n) is NaN or has |a| > limit: bitwise ORs of compares, so the loop vectorizes
/// (a per-element branch or a short-circuit && made the screen cost more than the sketch it rides on).
template <class T>
NK_FORCEINLINE bool any_bad_body(const T* a, size_t n, double limit) {
  unsigned acc = 0;
  for (size_t c = 0; c < n; ++c) {
    const double v = static_cast<double>(a[c]);
    acc |= static_cast<unsigned>(v > limit) | static_cast<unsigned>(v < -limit) | static_cast<unsigned>(v != v);
  }
  return acc != 0;
}
NK_CLONES bool any_bad_f64(const double* a, size_t n, double limit) { return any_bad_body<double>(a, n, limit); }
NK_CLONES bool any_bad_f32(const float* a, size_t n, double limit) { return any_bad_body<float>(a, n, limit); }
inline bool any_bad(const double* a, size_t n, double limit) { return any_bad_f64(a, n, limit); }
inline bool any_bad(const float* a, size_t n, double limit) { return any_bad_f32(a, n, limit); }

/// Index of the first element of a[c0, c1) with !(|a_c| ≤ limit) (NaN, ±Inf, or past the limit), else −1.
template <class T>
NK_FORCEINLINE int64_t first_bad(const T* a, size_t c0, size_t c1, double limit) {
  if (c1 <= c0 || !any_bad(a + c0, c1 - c0, limit)) return -1;
  for (size_t c = c0; c < c1; ++c)
    if (!(std::fabs(static_cast<double>(a[c])) <= limit)) return static_cast<int64_t>(c);
  return -1;
}

/// Screens a dense block in parallel (the kinds whose pass is compute-bound: one more read is noise).
template <class T>
int64_t screen_dense(const SketchOperandView<T>& A, double limit, int threads) {
  const size_t n = A.rows, d = A.cols;
  const int nt = plan_threads(threads, n * std::max<size_t>(d, 1), 1 << 16);
  std::vector<int64_t> found(static_cast<size_t>(std::max(nt, 1)), -1);
  parallel_run(nt, [&](int tid, int nth) {
    size_t i0, i1;
    even_split(n, tid, nth, i0, i1);
    for (size_t i = i0; i < i1; ++i) {
      const int64_t c = first_bad(A.data + i * d, 0, d, limit);
      if (c >= 0) { found[static_cast<size_t>(tid)] = static_cast<int64_t>(i * d) + c; return; }
    }
  });
  for (const int64_t f : found)
    if (f >= 0) return f;  // threads own increasing row ranges
  return -1;
}

/// The smallest non-negative entry, else −1.
int64_t min_found(const std::vector<int64_t>& found) {
  int64_t best = -1;
  for (const int64_t f : found)
    if (f >= 0 && (best < 0 || f < best)) best = f;
  return best;
}

/// dst[0, d) ± a[0, d) for a sign w = ±1: the bits of dst + w·a (w·a is exact), in the widest vector unit
/// the machine has (this is the sparse sketches' inner loop; a baseline x86-64 build runs it 2 lanes wide).
template <class T>
NK_FORCEINLINE void add_signed_body(double* __restrict dst, const T* __restrict a, size_t d, double w) {
  if (w > 0) {
    for (size_t j = 0; j < d; ++j) dst[j] += static_cast<double>(a[j]);
  } else {
    for (size_t j = 0; j < d; ++j) dst[j] -= static_cast<double>(a[j]);
  }
}
NK_CLONES void add_signed_f64(double* dst, const double* a, size_t d, double w) { add_signed_body<double>(dst, a, d, w); }
NK_CLONES void add_signed_f32(double* dst, const float* a, size_t d, double w) { add_signed_body<float>(dst, a, d, w); }
inline void add_signed(double* dst, const double* a, size_t d, double w) { add_signed_f64(dst, a, d, w); }
inline void add_signed(double* dst, const float* a, size_t d, double w) { add_signed_f32(dst, a, d, w); }

template <class T>
int64_t sparse_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                     double* Sb, double limit, int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows, s = S.s;
  // Row i's s nonzeros as codes: the row of S₀ in the low 31 bits, bit 31 set for −1 (a third of the bytes
  // of separate rows and signs, read by every thread).
  std::vector<uint32_t> code(n * s);
  const int nt = plan_threads(threads, n * s * std::max<size_t>(d, 1), 1 << 16);
  parallel_run(nt, [&](int tid, int nth) {
    size_t i0, i1;
    even_split(n, tid, nth, i0, i1);
    std::vector<int32_t> rows(s);
    std::vector<double> signs(s);
    for (size_t i = i0; i < i1; ++i) {
      sketch_sparse_column(S.key, off + i, S.m, S.s, rows.data(), signs.data());
      for (size_t t = 0; t < s; ++t)
        code[i * s + t] = static_cast<uint32_t>(rows[t]) | (signs[t] < 0 ? 0x80000000u : 0u);
    }
  });
  std::vector<int64_t> found(static_cast<size_t>(std::max(nt, 1)), -1);
  // Each thread owns a range of SA rows and walks every row of A in order, adding only into its own
  // (countsketch: each thread reads just the rows that land in its range, so A is read once in all).
  // A dense row is screened by the thread that owns its first nonzero's row: every row exactly once.
  // (Measured on the 2-core machine under load: splitting SA by columns, or scattering 8-column panels
  // of a cache-resident SA, was not faster, and 2-3× slower for countsketch; a panel-major SA per thread
  // with A copied panel-major per 4096-row chunk was 1.3-3× slower again, its SA panel loads missing; a
  // software prefetch of the SA rows two rows ahead cost more than it saved.)
  parallel_run(nt, [&](int tid, int nth) {
    size_t k0, k1;
    even_split(m, tid, nth, k0, k1);
    if (k0 >= k1) return;
    int64_t bad = -1;
    for (size_t i = 0; i < n; ++i) {
      for (size_t t = 0; t < s; ++t) {
        const uint32_t q = code[i * s + t];
        const size_t k = q & 0x7fffffffu;
        if (k < k0 || k >= k1) continue;
        if (t == 0 && limit > 0 && bad < 0 && !A.csr) {
          const int64_t c = first_bad(A.data + i * d, 0, d, limit);
          if (c >= 0) bad = static_cast<int64_t>(i * d) + c;
        }
        const double w = (q >> 31) ? -1.0 : 1.0;
        if (A.csr) add_row(A, i, w, SA + k * d);
        else add_signed(SA + k * d, A.data + i * d, d, w);
        if (b && Sb) Sb[k] += w * static_cast<double>(b[i]);
      }
    }
    found[static_cast<size_t>(tid)] = bad;
  });
  return min_found(found);
}

/// σ_g for rows g0 … g0 + count − 1 (sketch_srht_sign's bits): one Philox word serves 32 rows, where
/// sketch_srht_sign evaluates the generator once per row.
void srht_signs(const SketchSpec& S, uint64_t g0, size_t count, double* sgn) {
  uint64_t have = ~0ull;
  uint32_t w = 0;
  for (size_t t = 0; t < count; ++t) {
    const uint64_t g = g0 + t;
    if ((g >> 5) != have) {
      have = g >> 5;
      w = philox_word(S.key, kSketchStreamSrhtSign, have);
    }
    sgn[t] = ((w >> (g & 31u)) & 1u) ? -1.0 : 1.0;
  }
}

/// The Feistel round tables of Hadamard block h's row permutation (docs/sketch.md §2.3), from Philox.
void feistel_tables(const SketchSpec& S, uint64_t h, size_t tsize, std::vector<uint32_t>& tables) {
  for (int r = 0; r < kSrhtFeistelRounds; ++r)
    for (size_t x = 0; x < tsize; ++x) tables[r * tsize + x] = sketch_feistel_word(S.key, h, r, tsize, x);
}

template <class T>
void srht_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA, double* Sb,
                int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows;
  const uint64_t B = S.srhtB;
  if (n == 0) return;
  unsigned bits = 0;
  while ((1ull << bits) < B) ++bits;
  const unsigned half = (bits + 1) / 2;
  const size_t tsize = size_t{1} << half;
  const size_t total = d + (b ? 1 : 0);
  const size_t npanels = (total + kPanel - 1) / kPanel;
  std::vector<uint64_t> pHi(m);
  std::vector<uint32_t> pLo(m);
  for (size_t k = 0; k < m; ++k) {
    pHi[k] = S.sample[k] / B;
    pLo[k] = static_cast<uint32_t>(S.sample[k] % B);
  }
  const uint64_t first = off / B, last = (off + n - 1) / B;
  const int nt = plan_threads(threads, n * std::max<size_t>(total, 1) * bits, 1 << 16);
  std::vector<uint32_t> tables(kSrhtFeistelRounds * tsize);
  std::vector<uint32_t> pos;
  std::vector<double> sgn, blockSign(m);
  std::vector<PanelRows> Ys(static_cast<size_t>(nt));
  for (uint64_t h = first; h <= last; ++h) {
    const uint64_t g0 = std::max<uint64_t>(off, h * B), g1 = std::min<uint64_t>(off + n, (h + 1) * B);
    const size_t count = static_cast<size_t>(g1 - g0);
    feistel_tables(S, h, tsize, tables);
    pos.resize(count);
    sgn.resize(count);
    parallel_run(nt, [&](int tid, int nth) {
      size_t t0, t1;
      even_split(count, tid, nth, t0, t1);
      for (size_t t = t0; t < t1; ++t) {
        const uint64_t g = g0 + t;
        pos[t] = sketch_feistel(tables.data(), bits, static_cast<uint32_t>(g - h * B));
      }
      srht_signs(S, g0 + t0, t1 - t0, sgn.data() + t0);
    });
    for (size_t k = 0; k < m; ++k) blockSign[k] = sketch_parity(static_cast<uint32_t>(pHi[k] & h)) ? -1.0 : 1.0;
    const size_t i0 = static_cast<size_t>(g0 - off);
    parallel_run(std::min<int>(nt, static_cast<int>(npanels)), [&](int tid, int nth) {
      size_t q0, q1;
      even_split(npanels, tid, nth, q0, q1);
      PanelRow* Y = Ys[static_cast<size_t>(tid)].get(B);
      for (size_t q = q0; q < q1; ++q) {
        const size_t c0 = q * kPanel, c1 = std::min(total, c0 + kPanel);
        std::fill(Y, Y + B, PanelRow{});
        const bool hasB = b && c1 > d;
        const size_t cEnd = std::min(c1, d);
        for (size_t t = 0; t < count; ++t) {
          const size_t i = i0 + t;
          double* dst = reinterpret_cast<double*>(Y + pos[t]) - c0;
          const double sg = sgn[t];
          if (A.csr) {
            for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) {
              const size_t c = static_cast<size_t>(A.colIdx[p]);
              if (c >= c0 && c < c1) dst[c] = sg * static_cast<double>(A.values[p]);
            }
          } else {
            const T* a = A.data + i * d;
            for (size_t c = c0; c < cEnd; ++c) dst[c] = sg * static_cast<double>(a[c]);
          }
          if (hasB) dst[d] = sg * static_cast<double>(b[i]);
        }
        fwht_panel(Y, B);
        const size_t wc = c1 - c0;
        for (size_t k = 0; k < m; ++k) {
          const double s = blockSign[k];
          const double* src = reinterpret_cast<const double*>(Y + pLo[k]);
          for (size_t t = 0; t < wc; ++t) {
            const size_t c = c0 + t;
            if (c < d) SA[k * d + c] += s * src[t];
            else Sb[k] += s * src[t];
          }
        }
      }
    });
  }
}

/// Rows of a local Hadamard group of the one-pass SRHT: 2¹² rows, so every permutation block of up to
/// 4096 rows (every A of up to 4096 rows) is transformed whole, in the oracle's order: its bits.
constexpr unsigned kSrhtLocalBits = 12;
/// Panels a thread transforms per sweep over the groups.
constexpr size_t kSrhtChunk = 32;
/// Source rows a group's gather prefetches ahead: they come in permuted order, so the hardware prefetcher
/// sees no stream.
constexpr size_t kSrhtPrefetchRows = 16;

/// A group's source: the block's row t is A's row i0 + t; the chunk's columns [c0, c1) of the augmented
/// [A | b] (b is column d), width = 8·(panels) doubles per gathered row.
template <class T>
struct GroupSource {
  const T* data;
  const T* b;
  size_t d, i0, c0, c1, width;
  const double* sgn;
  double limit;
};

/// Row t's chunk, signed, into row[0, width) (zeros for a padded position, t < 0, and past c1); the first
/// element failing the screen lowers `bad` (a flat index of A.data).
template <class T>
NK_FORCEINLINE void signed_row(const GroupSource<T>& G, int32_t t, double* row, int64_t& bad) {
  if (t < 0) {
    std::fill_n(row, G.width, 0.0);
    return;
  }
  const size_t i = G.i0 + static_cast<size_t>(t), cEnd = std::min(G.c1, G.d);
  const T* a = G.data + i * G.d;
  const double sg = G.sgn[static_cast<size_t>(t)];
  if (G.limit > 0) {
    // The screen rides on the copy (one read of the row); the first failing column is looked up only
    // when some element failed.
    int failed = 0;
    for (size_t c = G.c0; c < cEnd; ++c) {
      const double v = static_cast<double>(a[c]);
      row[c - G.c0] = sg * v;
      failed |= !(std::fabs(v) <= G.limit);
    }
    if (failed) {
      const int64_t c = first_bad(a, G.c0, cEnd, G.limit);
      if (c >= 0 && (bad < 0 || static_cast<int64_t>(i * G.d) + c < bad)) bad = static_cast<int64_t>(i * G.d) + c;
    }
  } else {
    for (size_t c = G.c0; c < cEnd; ++c) row[c - G.c0] = sg * static_cast<double>(a[c]);
  }
  if (G.b && G.c1 > G.d) row[G.d - G.c0] = sg * static_cast<double>(G.b[i]);
  for (size_t c = G.c1; c < G.c0 + G.width; ++c) row[c - G.c0] = 0.0;
}

/// Panels Y[q·L, (q+1)·L), q < np := H_L·(the group's signed rows at their permuted places), in the
/// oracle's butterflies (fwht.hpp). Eight positions are gathered at a time and their three lowest levels
/// done in registers before they are first stored; levels 8–32 follow per 64-row tile and 64–256 per
/// 512-row tile while the tile is still in cache, the rest over the group. Returns the lowered `bad`.
template <class T>
NK_FORCEINLINE int64_t gather_group_body(const GroupSource<T>& G, const int32_t* ig, size_t L, size_t np,
                                         PanelRow* Y, int64_t bad) {
  const size_t R = std::min<size_t>(L, 8);
  alignas(64) double rows[8][kPanel * kSrhtChunk];
  const size_t pfBytes = (std::min(G.c1, G.d) - std::min(G.c0, G.d)) * sizeof(T);
  for (size_t x0 = 0; x0 < L; x0 += R) {
    for (size_t r = 0; r < R; ++r) {
      const size_t x = x0 + r;
      if (x + kSrhtPrefetchRows < L && ig[x + kSrhtPrefetchRows] >= 0) {
        const char* p = reinterpret_cast<const char*>(G.data + (G.i0 + static_cast<size_t>(ig[x + kSrhtPrefetchRows])) * G.d + G.c0);
        for (size_t o = 0; o < pfBytes; o += 64) __builtin_prefetch(p + o);
      }
      signed_row(G, ig[x], rows[r], bad);
    }
    for (size_t q = 0; q < np; ++q) {
      PanelRow v[8];
      for (size_t r = 0; r < R; ++r) std::memcpy(&v[r], rows[r] + q * kPanel, sizeof(PanelRow));
      if (R == 8) butterflies<3>(v);
      for (size_t r = 0; r < R; ++r) Y[q * L + x0 + r] = v[r];
    }
    const size_t x1 = x0 + R;
    if (L >= 64 && x1 % 64 == 0)
      for (size_t q = 0; q < np; ++q) fwht_levels(Y + q * L, x1 - 64, x1, 8, 64);
    if (L >= kFwhtL1Rows && x1 % kFwhtL1Rows == 0)
      for (size_t q = 0; q < np; ++q) fwht_levels(Y + q * L, x1 - kFwhtL1Rows, x1, 64, kFwhtL1Rows);
  }
  const size_t done = L >= kFwhtL1Rows ? kFwhtL1Rows : L >= 64 ? 64 : R == 8 ? 8 : 1;
  for (size_t q = 0; q < np; ++q) fwht_levels(Y + q * L, 0, L, done, L);
  return bad;
}
NK_CLONES int64_t gather_group(const GroupSource<double>& G, const int32_t* ig, size_t L, size_t np, PanelRow* Y,
                               int64_t bad) {
  return gather_group_body(G, ig, L, np, Y, bad);
}
NK_CLONES int64_t gather_group(const GroupSource<float>& G, const int32_t* ig, size_t L, size_t np, PanelRow* Y,
                               int64_t bad) {
  return gather_group_body(G, ig, L, np, Y, bad);
}

/// SA[k, c0 + 8q + t] += sk[k]·Y[q·L + pC[k]][t] for the chunk's full panels (q < full); the caller adds
/// the partial last panel (columns past d, b's column) itself.
NK_CLONES void add_sampled_rows(double* SA, size_t d, size_t c0, size_t full, const PanelRow* Y, size_t L, size_t m,
                                const uint32_t* pC, const double* sk) {
  for (size_t k = 0; k < m; ++k) {
    double* dst = SA + k * d + c0;
    const double s = sk[k];
    for (size_t q = 0; q < full; ++q) {
      const double* src = reinterpret_cast<const double*>(Y + q * L + pC[k]);
      for (size_t t = 0; t < kPanel; ++t) dst[q * kPanel + t] += s * src[t];
    }
  }
}

/// The SRHT of a dense block in one pass over A (docs/sketch.md §2.3). With B = 2^bits and L = 2^lb,
/// H_B = H_{B/L} ⊗ H_L: a sampled row p_lo = (a, c) (high bits a, low lb bits c) receives from the group
/// g of L permuted positions (−1)^popcount(a & g)·(H_L·Y_g)[c]. So each group's L rows are gathered
/// once (signed, at their permuted places), transformed in cache, and added into the m sampled rows;
/// the top level over blocks h is the same. Threads own column ranges of SA, so every SA entry sums its
/// terms in one fixed order (groups, then blocks, increasing) on any thread count. The low lb levels are
/// the oracle's own operations; the levels above are summed sequentially instead of by the FWHT's tree,
/// which re-associates the same terms (a difference within γ_{B/L}·Σ|terms|, Higham §4.2).
template <class T>
int64_t srht_apply_dense(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                         double* Sb, double limit, int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows;
  const uint64_t B = S.srhtB;
  if (n == 0) return -1;
  unsigned bits = 0;
  while ((1ull << bits) < B) ++bits;
  const unsigned lb = std::min(bits, kSrhtLocalBits);
  const size_t L = size_t{1} << lb;
  const size_t groups = static_cast<size_t>(B >> lb);
  const unsigned half = (bits + 1) / 2;
  const size_t tsize = size_t{1} << half;
  const size_t total = d + (b ? 1 : 0);
  const size_t npanels = (total + kPanel - 1) / kPanel;
  std::vector<uint64_t> pHi(m);
  std::vector<uint32_t> pA(m), pC(m);
  for (size_t k = 0; k < m; ++k) {
    pHi[k] = S.sample[k] / B;
    const uint32_t lo = static_cast<uint32_t>(S.sample[k] % B);
    pA[k] = lo >> lb;
    pC[k] = lo & static_cast<uint32_t>(L - 1);
  }
  const uint64_t first = off / B, last = (off + n - 1) / B;
  const int nt = plan_threads(threads, n * std::max<size_t>(total, 1) * lb, 1 << 16);
  const int workers = std::min<int>(nt, static_cast<int>(npanels));
  std::vector<uint32_t> tables(kSrhtFeistelRounds * tsize);
  std::vector<int32_t> inv(static_cast<size_t>(B));
  std::vector<double> sgn, blockSign(m);
  std::vector<int64_t> found(static_cast<size_t>(std::max(workers, 1)), -1);
  std::vector<PanelRows> Ys(static_cast<size_t>(std::max(workers, 1)));
  for (uint64_t h = first; h <= last; ++h) {
    const uint64_t g0 = std::max<uint64_t>(off, h * B), g1 = std::min<uint64_t>(off + n, (h + 1) * B);
    const size_t count = static_cast<size_t>(g1 - g0);
    feistel_tables(S, h, tsize, tables);
    std::fill(inv.begin(), inv.end(), -1);
    sgn.resize(count);
    parallel_run(nt, [&](int tid, int nth) {
      size_t t0, t1;
      even_split(count, tid, nth, t0, t1);
      for (size_t t = t0; t < t1; ++t) {
        const uint64_t g = g0 + t;
        inv[sketch_feistel(tables.data(), bits, static_cast<uint32_t>(g - h * B))] = static_cast<int32_t>(t);
      }
      srht_signs(S, g0 + t0, t1 - t0, sgn.data() + t0);
    });
    for (size_t k = 0; k < m; ++k) blockSign[k] = sketch_parity(static_cast<uint32_t>(pHi[k] & h)) ? -1.0 : 1.0;
    const size_t i0 = static_cast<size_t>(g0 - off);
    parallel_run(workers, [&](int tid, int nth) {
      size_t q0, q1;
      even_split(npanels, tid, nth, q0, q1);
      int64_t bad = found[static_cast<size_t>(tid)];
      std::vector<double> sk(m);
      // Up to kSrhtChunk panels at a time (a group's rows then take ≤ 8 MiB; A is re-read per chunk only
      // past 8·kSrhtChunk columns per thread).
      for (size_t qa = q0; qa < q1; qa += kSrhtChunk) {
        const size_t qb = std::min(q1, qa + kSrhtChunk);
        const size_t c0 = qa * kPanel, c1 = std::min(total, qb * kPanel);
        const size_t np = qb - qa;
        // The group's rows, panel-major (panel q holds L rows × 8 columns, contiguous: 32 KiB per 512 rows).
        PanelRow* Y = Ys[static_cast<size_t>(tid)].get(np * L);
        const GroupSource<T> src{A.data, b, d, i0, c0, c1, np * kPanel, sgn.data(), limit};
        const size_t full = c0 + np * kPanel <= d ? np : (d - c0) / kPanel;
        for (size_t g = 0; g < groups; ++g) {
          const int32_t* ig = inv.data() + g * L;
          if (std::all_of(ig, ig + L, [](int32_t t) { return t < 0; })) continue;
          bad = gather_group(src, ig, L, np, Y, bad);
          for (size_t k = 0; k < m; ++k) sk[k] = sketch_parity(pA[k] & static_cast<uint32_t>(g)) ? -blockSign[k] : blockSign[k];
          add_sampled_rows(SA, d, c0, full, Y, L, m, pC.data(), sk.data());
          for (size_t q = full; q < np; ++q) {
            const size_t c = c0 + q * kPanel;
            for (size_t k = 0; k < m; ++k) {
              const double* sq = reinterpret_cast<const double*>(Y + q * L + pC[k]);
              for (size_t t2 = 0; t2 < kPanel && c + t2 < total; ++t2) {
                if (c + t2 < d) SA[k * d + c + t2] += sk[k] * sq[t2];
                else Sb[k] += sk[k] * sq[t2];
              }
            }
          }
        }
      }
      found[static_cast<size_t>(tid)] = bad;
    });
  }
  return min_found(found);
}

}  // namespace

template <class T>
int64_t sketch_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t rowOffset, const T* b, double* SA,
                     double* Sb, bool accumulate, bool apply_scale, double limit, int threads) {
  const size_t md = static_cast<size_t>(S.m) * A.cols;
  if (!accumulate) {
    // An empty output may be a null pointer (a zero-length typed array): memset must not see it.
    if (md > 0) std::memset(SA, 0, md * sizeof(double));
    if (Sb && S.m > 0) std::memset(Sb, 0, S.m * sizeof(double));
  }
  int64_t bad = -1;
  if (!A.csr && limit > 0 && S.kind != kSkSrht && S.kind != kSkCountSketch && S.kind != kSkSparseSign)
    bad = screen_dense(A, limit, threads);
  if (A.rows > 0) {
    if (S.kind == kSkSrht) {
      if (A.csr) srht_apply(S, A, rowOffset, b, SA, Sb, threads);
      else bad = srht_apply_dense(S, A, rowOffset, b, SA, Sb, limit, threads);
    } else if (S.kind == kSkGaussian || S.kind == kSkRademacher) {
      dense_apply(S, A, rowOffset, b, SA, Sb, threads);
    } else {
      bad = sparse_apply(S, A, rowOffset, b, SA, Sb, limit, threads);
    }
  }
  if (apply_scale && S.scale != 1.0) {
    for (size_t k = 0; k < md; ++k) SA[k] *= S.scale;
    if (Sb)
      for (size_t k = 0; k < S.m; ++k) Sb[k] *= S.scale;
  }
  return bad;
}

template int64_t sketch_apply<float>(const SketchSpec&, const SketchOperandView<float>&, uint64_t, const float*,
                                     double*, double*, bool, bool, double, int);
template int64_t sketch_apply<double>(const SketchSpec&, const SketchOperandView<double>&, uint64_t, const double*,
                                      double*, double*, bool, bool, double, int);

}  // namespace numkern
