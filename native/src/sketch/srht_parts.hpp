// What the SRHT's CPU schedules share (docs/sketch.md §2.3): the row signs and Feistel places, the layout
// of a call, a gathered row's source and the sampled-row adds. Included by native/src/sketch/srht.cc and
// native/src/sketch/srht_blocks.cc.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "numkern/sketch.hpp"
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

}  // namespace

// Outside the anonymous namespace: srht.cc's dispatcher passes the layout to srht_blocks.cc's schedule.
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

namespace {

/// Rows of a local Hadamard group of the one-pass SRHT: 2¹² rows, so every permutation block of up to
/// 4096 rows (every A of up to 4096 rows) is transformed whole, in the oracle's order: its bits.
constexpr unsigned kSrhtLocalBits = 12;
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

}  // namespace
}  // namespace numkern
