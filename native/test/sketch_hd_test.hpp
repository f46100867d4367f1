// Host checks of the sketch family's NK_HD element logic (numkern/sketch.hpp over numkern/philox.hpp),
// which native/cuda/sketch.cu runs on the device: words of the sketch streams against known answers
// computed by the TypeScript Philox (src/core/philox.ts, an independent implementation), and every
// entry helper against docs/sketch.md §2's definition written out from philox_fill's words.
#pragma once

#include <cassert>
#include <cmath>
#include <cstdint>
#include <vector>

#include "numkern/core.hpp"
#include "numkern/philox.hpp"
#include "numkern/sketch.hpp"

namespace sketch_hd_test {

using namespace numkern;

/// The seed 0x7f4a7c159e3779b9 as a key (low word first, src/core/philox.ts seedToKey).
constexpr uint32_t kKey[2] = {0x9e3779b9u, 0x7f4a7c15u};

inline void test_known_words() {
  struct Known {
    uint32_t stream;
    uint64_t start;
    uint32_t words[4];
  };
  // philoxFill(0x7f4a7c159e3779b9n, stream, start, 4) of src/core/philox.ts.
  const Known known[] = {
      {kSketchStreamGaussian, 0, {0x6582bdebu, 0x483c25aeu, 0xbede9116u, 0x2ef979b1u}},
      {kSketchStreamRademacher, 0, {0x7ce04d53u, 0xc8a0f3c2u, 0xeac397d5u, 0x947e9b2cu}},
      {kSketchStreamSparse, (uint64_t{1} << 34) - 2, {0xe4455caeu, 0xa0b7bf47u, 0x506351d2u, 0xb7249430u}},
      {kSketchStreamSrhtPermutation, 1024, {0x03e5c9afu, 0x3dbe7ab8u, 0xe19c6c39u, 0x8066e9a7u}},
  };
  for (const Known& k : known)
    for (uint64_t i = 0; i < 4; ++i) assert(philox_word(kKey, k.stream, k.start + i) == k.words[i]);
  // Random123's first known-answer vector is word 0..3 of stream 0 under the zero key.
  const uint32_t zero[2] = {0, 0};
  const uint32_t kat[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
  for (uint64_t j = 0; j < 4; ++j) assert(philox_word(zero, 0u, j) == kat[j]);
}

inline void test_entries() {
  // Rademacher and SRHT signs: bit j mod 32 of word ⌊j/32⌋.
  std::vector<uint32_t> w(64);
  philox_fill(kKey, kSketchStreamRademacher, 0, w.size(), w.data());
  for (uint64_t j = 0; j < 64 * 32; ++j)
    assert(sketch_rademacher_entry(kKey, j) == (((w[j / 32] >> (j % 32)) & 1u) ? -1.0 : 1.0));
  philox_fill(kKey, kSketchStreamSrhtSign, 0, w.size(), w.data());
  for (uint64_t i = 0; i < 64 * 32; ++i) assert(sketch_srht_sign(kKey, i) == (((w[i / 32] >> (i % 32)) & 1u) ? -1.0 : 1.0));

  // Gaussian numbers 4q .. 4q+3 from block q: Box–Muller on (w0, w1) and (w2, w3).
  for (uint64_t q : {uint64_t{0}, uint64_t{5}, uint64_t{1} << 33}) {
    uint32_t b[4];
    philox_block(kKey, kSketchStreamGaussian, q, b);
    for (unsigned lane = 0; lane < 4; ++lane) {
      const double u1 = (b[2 * (lane / 2)] + 0.5) / 4294967296.0, u2 = (b[2 * (lane / 2) + 1] + 0.5) / 4294967296.0;
      const double rad = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * 3.141592653589793 * u2;
      const double want = lane % 2 == 0 ? rad * std::cos(th) : rad * std::sin(th);
      const double got = sketch_gaussian_from_block(b, lane);
      assert(std::fabs(got - want) <= 1e-14 * std::max(1.0, std::fabs(want)));
      assert(std::fabs(got) < 6.8);
    }
  }

  // Sparse columns (Floyd): s distinct rows in [0, m); row t from words 2s·i + 2t (row) and + 2t + 1 (sign).
  for (uint32_t m : {1u, 7u, 50u}) {
    for (uint32_t s : {1u, std::min(m, 3u), m}) {
      for (uint64_t i : {uint64_t{0}, uint64_t{3}, uint64_t{1} << 31}) {
        std::vector<int32_t> rows(s);
        std::vector<double> signs(s);
        sketch_sparse_column(kKey, i, m, s, rows.data(), signs.data());
        std::vector<uint32_t> words(2 * s);
        philox_fill(kKey, kSketchStreamSparse, 2ull * s * i, words.size(), words.data());
        for (uint32_t t = 0; t < s; ++t) {
          const uint32_t J = m - s + t;
          int32_t r = static_cast<int32_t>((static_cast<uint64_t>(words[2 * t]) * (J + 1)) >> 32);
          for (uint32_t u = 0; u < t; ++u)
            if (rows[u] == r) r = static_cast<int32_t>(J);
          assert(rows[t] == r && r >= 0 && static_cast<uint32_t>(r) < m);
          for (uint32_t u = 0; u < t; ++u) assert(rows[u] != rows[t]);
          assert(signs[t] == (words[2 * t + 1] >= 0x80000000u ? -1.0 : 1.0));
        }
      }
    }
  }
}

inline void test_srht_helpers() {
  // Feistel table words: word (h·4 + r)·tsize + x of the permutation stream.
  for (uint64_t h : {uint64_t{0}, uint64_t{2}, uint64_t{1000}}) {
    const uint64_t tsize = 256;
    std::vector<uint32_t> w(4 * tsize);
    philox_fill(kKey, kSketchStreamSrhtPermutation, h * 4 * tsize, w.size(), w.data());
    for (int r = 0; r < 4; ++r)
      for (uint64_t x = 0; x < tsize; ++x) assert(sketch_feistel_word(kKey, h, r, tsize, x) == w[r * tsize + x]);
  }
  // The Feistel network is a permutation of [0, 2^bits) for even and odd bit counts.
  for (unsigned bits : {1u, 4u, 7u, 12u}) {
    const uint32_t n = 1u << bits, tsize = 1u << ((bits + 1) / 2);
    std::vector<uint32_t> tables(4 * tsize);
    for (uint32_t e = 0; e < tables.size(); ++e) tables[e] = sketch_feistel_word(kKey, 3, static_cast<int>(e / tsize), tsize, e % tsize);
    std::vector<char> seen(n, 0);
    for (uint32_t x = 0; x < n; ++x) {
      const uint32_t y = sketch_feistel(tables.data(), bits, x);
      assert(y < n && !seen[y]);
      seen[y] = 1;
    }
  }
  for (uint32_t x : {0u, 1u, 3u, 0x80000001u, 0xffffffffu, 0x12345678u}) {
    int p = 0;
    for (uint32_t y = x; y; y &= y - 1) p ^= 1;
    assert(sketch_parity(x) == p);
  }
}

inline void run_all() {
  test_known_words();
  test_entries();
  test_srht_helpers();
}

}  // namespace sketch_hd_test
