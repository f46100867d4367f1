// first_beyond (relax.hpp): the façade's check of a right-hand side, x0 or returned x (src/relax/validate.ts)
// in one native pass instead of V8 loops, which a fresh process runs interpreted for its first solves.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/relax.hpp"

namespace numkern {
namespace relax {
namespace {

// Each block is tested branch-free (the compare and count vectorize); only a block that fails is
// scanned again for the index.
constexpr size_t kBlock = 1024;

template <class T>
NK_CLONES size_t count_beyond(const T* __restrict a, size_t n, double bound) {
  size_t out = 0;
  // !(|v| <= bound) holds for NaN too, so one compare covers NaN, ±Inf and magnitude.
  for (size_t i = 0; i < n; ++i) out += !(std::fabs(static_cast<double>(a[i])) <= bound);
  return out;
}

}  // namespace

template <class T>
int64_t first_beyond(size_t n, const T* a, double bound) {
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t m = std::min(kBlock, n - b);
    if (count_beyond(a + b, m, bound) == 0) continue;
    for (size_t i = b; i < b + m; ++i)
      if (!(std::fabs(static_cast<double>(a[i])) <= bound)) return static_cast<int64_t>(i);
  }
  return -1;
}

template int64_t first_beyond<float>(size_t, const float*, double);
template int64_t first_beyond<double>(size_t, const double*, double);

}  // namespace relax
}  // namespace numkern
