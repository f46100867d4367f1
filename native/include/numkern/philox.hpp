// Philox4x32-10 counter-based random numbers (Salmon, Moraes, Dror, Shaw, "Parallel Random Numbers:
// As Easy as 1, 2, 3", SC'11; Random123). Reproduces the Random123 known-answer vectors
// (docs/philox.md), which native/test checks.
//
// ---------------------------------------------------------------------------------------------------
// numkern's random stream (every backend, CPU, CUDA, WGSL and TypeScript, must follow this exactly):
//
//   key     = (k0, k1)          the two 32-bit words of the seed
//   stream  = s                 a 32-bit stream id, so one seed gives independent streams
//   element = j                 a 64-bit element index, 0 <= j < 2^62
//
//   block   b = floor(j / 4)                       (64-bit)
//   counter   = (b mod 2^32, floor(b / 2^32), s, 0)
//   word(j)   = philox4x32(counter, key)[j mod 4]
//
// so elements 4b .. 4b+3 are the four output words of one Philox block, in order. philoxFill(key,
// stream, start, out) writes out[i] = word(start + i). Because word(j) depends only on (key, stream, j),
// any slice can be generated on its own, in any order, by any number of threads, with identical bits.
// ---------------------------------------------------------------------------------------------------
//
// One round on counter (c0, c1, c2, c3) and key (k0, k1), with M0 = 0xD2511F53, M1 = 0xCD9E8D57:
//   (hi0, lo0) = M0 * c0 (64-bit product),  (hi1, lo1) = M1 * c2
//   (c0, c1, c2, c3) <- (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
// then the key takes a Weyl step k0 += 0x9E3779B9, k1 += 0xBB67AE85 (mod 2^32). Ten rounds; the first
// uses the key as given.
#pragma once

#include <cstdint>

#include "numkern/common.hpp"

namespace numkern {

constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

NK_HD inline void philox4x32_round(uint32_t c[4], uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c[0];
  const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  const uint32_t n0 = hi1 ^ c[1] ^ k0;
  const uint32_t n2 = hi0 ^ c[3] ^ k1;
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}

/// out = Philox4x32-10(ctr, key). out may alias ctr.
NK_HD inline void philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
  uint32_t k0 = key[0], k1 = key[1];
  philox4x32_round(c, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
    philox4x32_round(c, k0, k1);
  }
  out[0] = c[0];
  out[1] = c[1];
  out[2] = c[2];
  out[3] = c[3];
}

/// The four words of block b of stream s (elements 4b .. 4b+3), per the definition above.
NK_HD inline void philox_block(const uint32_t key[2], uint32_t stream, uint64_t block, uint32_t out[4]) {
  const uint32_t ctr[4] = {static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), stream, 0u};
  philox4x32(ctr, key, out);
}

/// word(j) of stream s, per the definition above.
NK_HD inline uint32_t philox_word(const uint32_t key[2], uint32_t stream, uint64_t j) {
  uint32_t w[4];
  philox_block(key, stream, j >> 2, w);
  return w[j & 3u];
}

}  // namespace numkern
