// Bulk Philox words (definition in philox.hpp).
#include <algorithm>

#include "numkern/core.hpp"
#include "numkern/philox.hpp"

namespace numkern {

void philox_fill(const uint32_t key[2], uint32_t stream, uint64_t start, size_t n, uint32_t* out) {
  size_t i = 0;
  while (i < n) {
    const uint64_t j = start + i;
    uint32_t w[4];
    philox_block(key, stream, j >> 2, w);
    // A block yields words j mod 4 .. 3; only the first block of an unaligned start is partial.
    const size_t first = static_cast<size_t>(j & 3u);
    const size_t take = std::min<size_t>(4 - first, n - i);
    for (size_t k = 0; k < take; ++k) out[i + k] = w[first + k];
    i += take;
  }
}

}  // namespace numkern
