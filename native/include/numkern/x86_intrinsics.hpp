// <immintrin.h> for the kernels with explicit AVX-512 loops (x86-64 builds with target clones only).
// GCC 12 warns, wrongly, that the _mm512_undefined_ps() in the unmasked forms of vmaxps, vminps and
// vrndscaleps may be uninitialized (GCC bug 105593, fixed in 13); the warning points into the header,
// so it is silenced around the include.
#pragma once

#include <cstdint>
#include <cstring>

#include "numkern/common.hpp"

#if NK_HAVE_CLONES
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

namespace numkern {

/// base[idx[0..7]] as one vector (lane l = base[idx[l]]), loaded one by one and assembled: vgatherdpd
/// measured no faster than scalar loads on Zen 5, and a 64-bit load takes two indices at once (loads,
/// not arithmetic, bound the loops that use this).
__attribute__((target("arch=x86-64-v4"), always_inline)) inline __m512d load8_at(const int32_t* idx,
                                                                               const double* base) {
  uint64_t u[4];
  std::memcpy(u, idx, sizeof u);
  const auto pair = [&](uint64_t w) {
    return _mm_loadh_pd(_mm_load_sd(base + static_cast<uint32_t>(w)), base + (w >> 32));
  };
  const __m256d lo = _mm256_insertf128_pd(_mm256_castpd128_pd256(pair(u[0])), pair(u[1]), 1);
  const __m256d hi = _mm256_insertf128_pd(_mm256_castpd128_pd256(pair(u[2])), pair(u[3]), 1);
  return _mm512_insertf64x4(_mm512_castpd256_pd512(lo), hi, 1);
}

/// base[idx[l]] = lane l of v for l = 0..7, in lane order, one scalar store each.
__attribute__((target("arch=x86-64-v4"), always_inline)) inline void store8_at(const int32_t* idx, double* base,
                                                                             __m512d v) {
  const __m256d lo = _mm512_castpd512_pd256(v), hi = _mm512_extractf64x4_pd(v, 1);
  const __m128d q[4] = {_mm256_castpd256_pd128(lo), _mm256_extractf128_pd(lo, 1), _mm256_castpd256_pd128(hi),
                        _mm256_extractf128_pd(hi, 1)};
  for (int k = 0; k < 4; ++k) {
    _mm_storel_pd(base + idx[2 * k], q[k]);
    _mm_storeh_pd(base + idx[2 * k + 1], q[k]);
  }
}

}  // namespace numkern
#endif
