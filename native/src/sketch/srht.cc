// The SRHT on the CPU (docs/sketch.md §2.3): S₀ = P·H_N·Π·D applied in one pass over A, S from Philox on
// the fly. A CSR block takes the oracle's own schedule (one length-B FWHT per permutation block and column
// panel); a dense block one of the two cache-resident schedules below, by its permutation block B. Threads
// own column ranges of SA, so every entry sums its terms in one fixed order on any thread count.
#include "srht.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/x86_intrinsics.hpp"
#include "fwht.hpp"
#include "screen.hpp"

namespace numkern {
namespace {

constexpr size_t kPanel = 8;  // SRHT columns per FWHT panel: one cache line per row

/// σ_g for rows g0 … g0 + count − 1 (sketch_srht_sign's bits): one Philox word serves 32 rows, where
/// sketch_srht_sign evaluates the generator once per row; the 32 signs of a word in a loop the compiler
/// vectorizes.
NK_CLONES void srht_signs(const SketchSpec& S, uint64_t g0, size_t count, double* sgn) {
  for (size_t t = 0; t < count;) {
    const uint64_t g = g0 + t;
    const uint32_t w = philox_word(S.key, kSketchStreamSrhtSign, g >> 5);
    const unsigned j0 = static_cast<unsigned>(g & 31u);
    const size_t run = std::min<size_t>(32 - j0, count - t);
    if (j0 == 0 && run == 32) {
      for (unsigned j = 0; j < 32; ++j) sgn[t + j] = 1.0 - 2.0 * static_cast<double>((w >> j) & 1u);
    } else {
      for (size_t j = 0; j < run; ++j) sgn[t + j] = 1.0 - 2.0 * static_cast<double>((w >> (j0 + j)) & 1u);
    }
    t += run;
  }
}

#if NK_HAVE_CLONES
/// One Feistel round on sixteen lanes: R = x & mR, L = x >> sR, x = (R << sL) | ((L ^ T[R]) & mL), T a
/// table of up to 64 words in four registers (vpermi2d looks up 32, bit 5 of R picks the half).
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __m512i feistel_round_v4(
    __m512i x, __m512i mR, __m128i sR, __m128i sL, __m512i mL, const __m512i* T, __m512i bit5) {
  const __m512i R = _mm512_and_si512(x, mR), L = _mm512_srl_epi32(x, sR);
  const __m512i lo = _mm512_permutex2var_epi32(T[0], R, T[1]), hi = _mm512_permutex2var_epi32(T[2], R, T[3]);
  const __m512i t = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(R, bit5), lo, hi);
  return _mm512_or_si512(_mm512_sll_epi32(R, sL), _mm512_and_si512(_mm512_xor_si512(L, t), mL));
}

/// feistel_places for blocks of up to 2¹² rows on AVX-512, sixteen rows at a time: the same integer
/// operations as sketch_feistel, so the same places (the rows past a multiple of 16 go through it).
__attribute__((target("arch=x86-64-v4"))) void feistel_places_v4(const uint32_t* tables, unsigned bits, uint32_t l0,
                                                                   size_t count, uint32_t* pos) {
  const unsigned s0 = (bits + 1) / 2, s1 = bits - s0;
  const uint32_t size = 1u << s0;
  alignas(64) uint32_t padded[kSrhtFeistelRounds][64] = {};
  for (int r = 0; r < kSrhtFeistelRounds; ++r) std::memcpy(padded[r], tables + r * size, size * sizeof(uint32_t));
  __m512i T[kSrhtFeistelRounds][4];
  for (int r = 0; r < kSrhtFeistelRounds; ++r)
    for (int j = 0; j < 4; ++j) T[r][j] = _mm512_load_si512(padded[r] + 16 * j);
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>((1u << s0) - 1u));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>((1u << s1) - 1u));
  const __m128i sh0 = _mm_cvtsi32_si128(static_cast<int>(s0)), sh1 = _mm_cvtsi32_si128(static_cast<int>(s1));
  const __m512i bit5 = _mm512_set1_epi32(32);
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t t = 0;
  for (; t + 16 <= count; t += 16) {
    __m512i x = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(l0 + static_cast<uint32_t>(t))), iota);
    // Even rounds split off s0 low bits and keep s1 above them, odd rounds the other way (sketch_feistel).
    x = feistel_round_v4(x, m0, sh0, sh1, m1, T[0], bit5);
    x = feistel_round_v4(x, m1, sh1, sh0, m0, T[1], bit5);
    x = feistel_round_v4(x, m0, sh0, sh1, m1, T[2], bit5);
    x = feistel_round_v4(x, m1, sh1, sh0, m0, T[3], bit5);
    _mm512_storeu_si512(pos + t, x);
  }
  for (; t < count; ++t) pos[t] = sketch_feistel(tables, bits, l0 + static_cast<uint32_t>(t));
}
#endif

/// pos[t] = f_h(l0 + t) for t < count: block h's Feistel places (sketch_feistel).
void feistel_places(const uint32_t* tables, unsigned bits, uint32_t l0, size_t count, uint32_t* pos) {
  static_assert(kSrhtFeistelRounds == 4, "feistel_places_v4 writes out four rounds");
#if NK_HAVE_CLONES
  if (bits <= 12 && cpu_x86_64_v4()) return feistel_places_v4(tables, bits, l0, count, pos);
#endif
  for (size_t t = 0; t < count; ++t) pos[t] = sketch_feistel(tables, bits, l0 + static_cast<uint32_t>(t));
}

/// The Feistel round tables of Hadamard block h's row permutation (docs/sketch.md §2.3), from Philox.
void feistel_tables(const SketchSpec& S, uint64_t h, size_t tsize, std::vector<uint32_t>& tables) {
  for (int r = 0; r < kSrhtFeistelRounds; ++r)
    for (size_t x = 0; x < tsize; ++x) tables[r * tsize + x] = sketch_feistel_word(S.key, h, r, tsize, x);
}

/// What every SRHT schedule derives from S and the row block first: B's bits, the Feistel tables' size, the
/// augmented [A | b] width in panels, the sampled rows split at B, and the permutation blocks the rows touch.
struct SrhtLayout {
  size_t m, d, n, total, npanels, tsize;
  uint64_t B, first, last;
  unsigned bits;
  std::vector<uint64_t> pHi;  // sample_k / B
  std::vector<uint32_t> pLo;  // sample_k mod B
};

template <class T>
SrhtLayout srht_layout(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, bool hasB) {
  SrhtLayout L;
  L.m = S.m;
  L.d = A.cols;
  L.n = A.rows;
  L.B = S.srhtB;
  L.bits = 0;
  while ((uint64_t{1} << L.bits) < L.B) ++L.bits;
  L.tsize = size_t{1} << ((L.bits + 1) / 2);
  L.total = L.d + (hasB ? 1 : 0);
  L.npanels = (L.total + kPanel - 1) / kPanel;
  L.pHi.resize(L.m);
  L.pLo.resize(L.m);
  for (size_t k = 0; k < L.m; ++k) {
    L.pHi[k] = S.sample[k] / L.B;
    L.pLo[k] = static_cast<uint32_t>(S.sample[k] % L.B);
  }
  L.first = off / L.B;
  L.last = (off + std::max<size_t>(L.n, 1) - 1) / L.B;
  return L;
}

template <class T>
void srht_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA, double* Sb,
                int threads) {
  if (A.rows == 0) return;
  const SrhtLayout lay = srht_layout(S, A, off, b != nullptr);
  const size_t m = lay.m, d = lay.d, n = lay.n, total = lay.total, npanels = lay.npanels, tsize = lay.tsize;
  const uint64_t B = lay.B, first = lay.first, last = lay.last;
  const unsigned bits = lay.bits;
  const std::vector<uint64_t>& pHi = lay.pHi;
  const std::vector<uint32_t>& pLo = lay.pLo;
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
      feistel_places(tables.data(), bits, static_cast<uint32_t>(g0 + t0 - h * B), t1 - t0, pos.data() + t0);
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

/// SA[k, c0 + c] (or Sb[k] for c0 + c = d) += sk[k]·Y[q·L + pC[k]][c mod 8], c over the np panels from c0:
/// full panels through add_sampled_rows, the last partial one (b's column) here.
void add_sampled(double* SA, double* Sb, size_t d, size_t total, size_t c0, size_t np, const PanelRow* Y, size_t L,
                 size_t m, const uint32_t* pC, const double* sk) {
  const size_t full = c0 + np * kPanel <= d ? np : (d - c0) / kPanel;
  add_sampled_rows(SA, d, c0, full, Y, L, m, pC, sk);
  for (size_t q = full; q < np; ++q) {
    const size_t c = c0 + q * kPanel;
    for (size_t k = 0; k < m; ++k) {
      const double* sq = reinterpret_cast<const double*>(Y + q * L + pC[k]);
      for (size_t t = 0; t < kPanel && c + t < total; ++t) {
        if (c + t < d) SA[k * d + c + t] += sk[k] * sq[t];
        else Sb[k] += sk[k] * sq[t];
      }
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
  if (A.rows == 0) return -1;
  const SrhtLayout lay = srht_layout(S, A, off, b != nullptr);
  const size_t m = lay.m, d = lay.d, n = lay.n, total = lay.total, npanels = lay.npanels, tsize = lay.tsize;
  const uint64_t B = lay.B, first = lay.first, last = lay.last;
  const unsigned bits = lay.bits;
  const std::vector<uint64_t>& pHi = lay.pHi;
  const unsigned lb = std::min(bits, kSrhtLocalBits);
  const size_t L = size_t{1} << lb;
  const size_t groups = static_cast<size_t>(B >> lb);
  std::vector<uint32_t> pA(m), pC(m);
  for (size_t k = 0; k < m; ++k) {
    pA[k] = lay.pLo[k] >> lb;
    pC[k] = lay.pLo[k] & static_cast<uint32_t>(L - 1);
  }
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
        for (size_t g = 0; g < groups; ++g) {
          const int32_t* ig = inv.data() + g * L;
          if (std::all_of(ig, ig + L, [](int32_t t) { return t < 0; })) continue;
          bad = gather_group(src, ig, L, np, Y, bad);
          for (size_t k = 0; k < m; ++k) sk[k] = sketch_parity(pA[k] & static_cast<uint32_t>(g)) ? -blockSign[k] : blockSign[k];
          add_sampled(SA, Sb, d, total, c0, np, Y, L, m, pC.data(), sk.data());
        }
      }
      found[static_cast<size_t>(tid)] = bad;
    });
  }
  return min_found(found);
}

/// Panels a thread scatters per sweep over a one-group block: 4 panels × 4096 rows × 64 B = 1 MiB (5 for a
/// thread's last sweep, rather than a sweep of one).
constexpr size_t kSrhtBlockPanels = 4;
/// Rows the scatter prefetches ahead: they come in order, but every 2.5 rows cross a page, where the
/// hardware's stream stops.
constexpr size_t kSrhtScatterAhead = 16;

/// The block's rows t < count (A's row i0 + t), columns [c0, c0 + 8·np) of [A | b] (zeros past b), signed,
/// into panels Y[q·B + pos[t]]. Returns the lowered `bad`.
template <class T>
NK_FORCEINLINE int64_t scatter_block_body(const GroupSource<T>& G, const uint32_t* __restrict pos, size_t count,
                                          size_t B, size_t np, PanelRow* __restrict Y, int64_t bad) {
  // Locals, not G's fields: the stores into Y would make the compiler reload those per row (measured:
  // 41-45 ms against 26 ms of scatter on one thread at 200000 × 200).
  const size_t d = G.d, c0 = G.c0, cEnd = std::min(G.c1, G.d), i0 = G.i0;
  const T* const base = G.data + i0 * d + c0;
  const double* const sgn = G.sgn;
  const double limit = G.limit;
  const bool fullPanels = c0 + np * kPanel <= d;
  const size_t pfLines = ((cEnd - std::min(c0, cEnd)) * sizeof(T) + 63) / 64;
  for (size_t t = 0; t < count; ++t) {
    if (t + kSrhtScatterAhead < count) {
      const char* p = reinterpret_cast<const char*>(base + (t + kSrhtScatterAhead) * d);
      for (size_t o = 0; o < pfLines; ++o) __builtin_prefetch(p + 64 * o);
    }
    const T* a = base + t * d;
    PanelRow* y = Y + pos[t];
    if (fullPanels) {
      const double sg = sgn[t];
      for (size_t q = 0; q < np; ++q) {
        PanelRow v;
        if constexpr (sizeof(T) == sizeof(double)) {
          std::memcpy(&v, a + q * kPanel, sizeof v);
        } else {
          for (size_t j = 0; j < kPanel; ++j) v[j] = static_cast<double>(a[q * kPanel + j]);
        }
        y[q * B] = sg * v;
      }
      if (limit > 0 && any_bad(a, np * kPanel, limit)) {
        const size_t i = i0 + t;
        const int64_t c = first_bad(G.data + i * d, c0, cEnd, limit);
        if (c >= 0 && (bad < 0 || static_cast<int64_t>(i * d) + c < bad)) bad = static_cast<int64_t>(i * d) + c;
      }
    } else {
      // The last chunk (columns past d, b's column): through the gather's row copy.
      alignas(64) double row[kPanel * (kSrhtBlockPanels + 1)];
      signed_row(G, static_cast<int32_t>(t), row, bad);
      for (size_t q = 0; q < np; ++q) std::memcpy(&y[q * B], row + q * kPanel, sizeof(PanelRow));
    }
  }
  return bad;
}
NK_CLONES int64_t scatter_block(const GroupSource<double>& G, const uint32_t* pos, size_t count, size_t B, size_t np,
                                PanelRow* Y, int64_t bad) {
  return scatter_block_body(G, pos, count, B, np, Y, bad);
}
NK_CLONES int64_t scatter_block(const GroupSource<float>& G, const uint32_t* pos, size_t count, size_t B, size_t np,
                                PanelRow* Y, int64_t bad) {
  return scatter_block_body(G, pos, count, B, np, Y, bad);
}

/// acc[q·m + k] += sk[k]·Y[q·B + pC[k]] for q < np: one block's sampled rows, panel-major.
NK_CLONES void add_block_rows(PanelRow* acc, const PanelRow* Y, size_t B, size_t np, size_t m, const uint32_t* pC,
                              const double* sk) {
  for (size_t q = 0; q < np; ++q)
    for (size_t k = 0; k < m; ++k) acc[q * m + k] += sk[k] * Y[q * B + pC[k]];
}

/// Whether the m sampled rows of panels Y[q·B, …), q < np, are all finite (0·v is NaN exactly for NaN, ±Inf).
NK_CLONES bool sampled_finite(const PanelRow* Y, size_t B, size_t np, size_t m, const uint32_t* pC) {
  PanelRow z{};
  for (size_t q = 0; q < np; ++q)
    for (size_t k = 0; k < m; ++k) z += Y[q * B + pC[k]] * 0.0;
  bool ok = true;
  for (int j = 0; j < 8; ++j) ok &= z[j] == z[j];
  return ok;
}

/// The first flat index of rows [i0, i0 + count), columns [c0, c1), with !(|a| ≤ limit), lowering `bad`.
template <class T>
int64_t first_bad_rows(const T* data, size_t d, size_t i0, size_t count, size_t c0, size_t c1, double limit,
                       int64_t bad) {
  for (size_t i = i0; i < i0 + count; ++i) {
    const int64_t c = first_bad(data + i * d, c0, c1, limit);
    if (c >= 0) {
      const int64_t at = static_cast<int64_t>(i * d) + c;
      return bad < 0 || at < bad ? at : bad;
    }
  }
  return bad;
}

/// The SRHT of a dense block whose permutation blocks are single Hadamard groups (B ≤ 2¹², docs/sketch.md
/// §2.3). A block's rows are contiguous in A, so each thread reads them in order, a few panels at a time,
/// scatters them to their permuted places in an L2-resident panel, transforms it there and adds the
/// sampled rows (into SA, or into the thread's own accumulators, below). These are the oracle's
/// operations in its order (the block's FWHT, then the blocks in increasing h per entry): its bits.
/// Threads own column panels (taking alternate blocks instead, whole rows each, with the adds kept in
/// block order by per-sweep tickets, measured 28 against 20-21 ms: the accumulators cross between the
/// cores). No table scales with A: on the development VM a first-touched page costs ~10 µs, and a table
/// of every row's place and sign (n entries, per call) cost more than each thread computing its blocks'
/// own (1 thread: 49-55 → 37-38 ms).
template <class T>
int64_t srht_apply_blocks(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                          double* Sb, double limit, int threads) {
  if (A.rows == 0) return -1;
  const SrhtLayout lay = srht_layout(S, A, off, b != nullptr);
  const size_t m = lay.m, d = lay.d, n = lay.n, total = lay.total, npanels = lay.npanels, tsize = lay.tsize;
  const size_t B = static_cast<size_t>(lay.B);
  const uint64_t first = lay.first, last = lay.last;
  const unsigned bits = lay.bits;
  const std::vector<uint64_t>& pHi = lay.pHi;
  const std::vector<uint32_t>& pC = lay.pLo;
  const int nt = plan_threads(threads, n * std::max<size_t>(total, 1) * bits, 1 << 16);
  const int workers = std::min<int>(nt, static_cast<int>(npanels));
  // A screen for finiteness only is judged from the transform: a NaN or ±Inf in a block's column makes
  // every output of that column NaN or ±Inf, so the sampled ones tell, and the rows are searched only
  // then (an overflow to ±Inf from finite data is searched and acquitted). A finite limit screens rows.
  const bool finiteOnly = limit >= std::numeric_limits<double>::max();
  std::vector<int64_t> found(static_cast<size_t>(std::max(workers, 1)), -1);
  parallel_run(workers, [&](int tid, int nth) {
    size_t q0, q1;
    even_split(npanels, tid, nth, q0, q1);
    // Per call, not kept by the thread: a thread_local buffer measured slower (38 against 29 ms at
    // 200000 × 200 on 2 threads), unexplained.
    PanelRows ybuf;
    PanelRow* Y = ybuf.get((kSrhtBlockPanels + 1) * B);
    std::vector<uint32_t> tables(kSrhtFeistelRounds * tsize), pos(B);
    std::vector<double> sgn(B), sk(m);
    // With several threads each adds into its own accumulators, panel-major, written to SA at the end:
    // added into SA's rows directly, the line at two threads' column boundary is written by both on
    // every row (2 threads at 200000 × 200: 26-29 against 22-24 ms). One thread adds into SA directly
    // (accumulators cost it 37 → 44 ms). Either way each entry's terms come in the oracle's order from
    // SA's and Sb's own start values.
    const bool own = nth > 1;
    const size_t nq = own ? q1 - q0 : 0;
    PanelRows abuf;
    PanelRow* acc = abuf.get(nq * m);
    for (size_t q = 0; q < nq; ++q)
      for (size_t k = 0; k < m; ++k)
        for (size_t t = 0; t < kPanel; ++t) {
          const size_t c = (q0 + q) * kPanel + t;
          acc[q * m + k][t] = c < d ? SA[k * d + c] : c == d && Sb ? Sb[k] : 0.0;
        }
    int64_t bad = -1;
    for (uint64_t h = first; h <= last; ++h) {
      const uint64_t g0 = std::max<uint64_t>(off, h * B), g1 = std::min<uint64_t>(off + n, (h + 1) * B);
      const size_t count = static_cast<size_t>(g1 - g0), i0 = static_cast<size_t>(g0 - off);
      // The block's permuted places and signs, on each thread (a table for all of A would be n fresh entries).
      feistel_tables(S, h, tsize, tables);
      feistel_places(tables.data(), bits, static_cast<uint32_t>(g0 - h * B), count, pos.data());
      srht_signs(S, g0, count, sgn.data());
      for (size_t k = 0; k < m; ++k) sk[k] = sketch_parity(static_cast<uint32_t>(pHi[k] & h)) ? -1.0 : 1.0;
      for (size_t qa = q0, np = 0; qa < q1; qa += np) {
        // Sweeps of four panels; a last single panel joins the sweep before it (a sweep costs nearly as
        // much for one panel as for four: 2.5 ms of 29 at 200000 × 200 on 2 threads).
        np = std::min(q1, qa + kSrhtBlockPanels) - qa;
        if (q1 - qa - np == 1) ++np;
        const size_t c0 = qa * kPanel;
        // A partial block (the last, or a shard's ends) leaves permuted places empty: zeros there.
        if (count < B) std::memset(static_cast<void*>(Y), 0, np * B * sizeof(PanelRow));
        const GroupSource<T> src{A.data, b, d, i0, c0, std::min(total, c0 + np * kPanel), np * kPanel, sgn.data(),
                                 finiteOnly ? 0.0 : limit};
        bad = scatter_block(src, pos.data(), count, B, np, Y, bad);
        for (size_t q = 0; q < np; ++q) fwht_panel(Y + q * B, B);
        if (finiteOnly && !sampled_finite(Y, B, np, m, pC.data()))
          bad = first_bad_rows(A.data, d, i0, count, c0, std::min(d, c0 + np * kPanel), limit, bad);
        if (own) {
          add_block_rows(acc + (qa - q0) * m, Y, B, np, m, pC.data(), sk.data());
          continue;
        }
        add_sampled(SA, Sb, d, total, c0, np, Y, B, m, pC.data(), sk.data());
      }
    }
    for (size_t q = 0; q < nq; ++q)
      for (size_t k = 0; k < m; ++k)
        for (size_t t = 0; t < kPanel; ++t) {
          const size_t c = (q0 + q) * kPanel + t;
          if (c < d) SA[k * d + c] = acc[q * m + k][t];
          else if (c == d && Sb) Sb[k] = acc[q * m + k][t];
        }
    found[static_cast<size_t>(tid)] = bad;
  });
  return min_found(found);
}

}  // namespace

template <class T>
int64_t srht_sketch(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                    double* Sb, double limit, int threads) {
  if (A.csr) {
    srht_apply(S, A, off, b, SA, Sb, threads);
    return -1;
  }
  if (S.srhtB <= (uint64_t{1} << kSrhtLocalBits)) return srht_apply_blocks(S, A, off, b, SA, Sb, limit, threads);
  return srht_apply_dense(S, A, off, b, SA, Sb, limit, threads);
}

template int64_t srht_sketch<float>(const SketchSpec&, const SketchOperandView<float>&, uint64_t, const float*, double*,
                                    double*, double, int);
template int64_t srht_sketch<double>(const SketchSpec&, const SketchOperandView<double>&, uint64_t, const double*,
                                     double*, double*, double, int);

}  // namespace numkern
