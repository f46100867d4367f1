// SpMV across rows on a trusted CSR copy's lane layout (numkern/csr_lanes.hpp says what and why).
#include "numkern/csr_lanes.hpp"

#include <algorithm>
#include <cstdint>

#include "numkern/common.hpp"
#include "numkern/linalg.hpp"
#include "numkern/parallel.hpp"
#include "numkern/x86_intrinsics.hpp"

namespace numkern {
namespace {

/// The lanes of chunk c that hold rows of [i0, i1), as a bit mask.
inline unsigned lanes_in(int32_t c, int32_t i0, int32_t i1) {
  const int32_t r0 = c * kCsrLanes;
  const int32_t lo = std::max(i0 - r0, 0), hi = std::min(i1 - r0, kCsrLanes);
  return hi <= lo ? 0u : ((1u << hi) - 1u) & ~((1u << lo) - 1u);
}

/// The reference loop over the layout: row by row, each in its stored order from +0; then Σ x_i y_i.
double rows_portable(const CsrLanes& L, int32_t i0, int32_t i1, const double* x, double* y) {
  for (int32_t i = i0; i < i1; ++i) {
    const int32_t c = i / kCsrLanes, l = i % kCsrLanes;
    const int64_t base = static_cast<int64_t>(L.slot[static_cast<size_t>(c)]) * kCsrLanes + l;
    const int32_t m = L.len[static_cast<size_t>(i)];
    double s = 0;
    for (int32_t k = 0; k < m; ++k) {
      const int64_t q = base + static_cast<int64_t>(k) * kCsrLanes;
      s += L.val[static_cast<size_t>(q)] * x[L.col[static_cast<size_t>(q)]];
    }
    y[i] = s;
  }
  double d = 0;
  for (int32_t i = i0; i < i1; ++i) d += x[i] * y[i];
  return d;
}

#if NK_HAVE_CLONES
/// Eight rows a step: lane l of the sum is row 8c + l's running sum, and the mask of lanes whose row has
/// an entry at this step is a compare of the slot number with the row lengths. The x values are loaded
/// one by one and assembled (load8_at). DOT: also Σ x_i y_i, chunk by chunk while its sums are still in a
/// register, each product rounded and added in row order, as a separate loop over x and y would (that loop cost ~14% of a CG update at fem2d-4k).
template <bool DOT>
__attribute__((target("arch=x86-64-v4"))) double rows_avx512(const CsrLanes& L, int32_t i0, int32_t i1,
                                                             const double* __restrict x, double* __restrict y) {
  double dot = 0;
  const int32_t c0 = i0 / kCsrLanes, c1 = (i1 + kCsrLanes - 1) / kCsrLanes;
  const int32_t* slot = L.slot.data();
  const int32_t* len = L.len.data();
  for (int32_t c = c0; c < c1; ++c) {
    const __m256i lens = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(len + static_cast<int64_t>(c) * kCsrLanes));
    const int32_t s0 = slot[c], width = slot[c + 1] - s0;
    const int32_t* col = L.col.data() + static_cast<int64_t>(s0) * kCsrLanes;
    const double* val = L.val.data() + static_cast<int64_t>(s0) * kCsrLanes;
    __m512d s = _mm512_setzero_pd();
    for (int32_t k = 0; k < width; ++k, col += kCsrLanes, val += kCsrLanes) {
      const __mmask8 live = _mm256_cmpgt_epi32_mask(lens, _mm256_set1_epi32(k));
      const __m512d xv = load8_at(col, x);
      // A rounded product, then a rounded add, in the lanes that have an entry: the scalar loop's two roundings.
      s = _mm512_mask_add_pd(s, live, s, _mm512_mul_pd(_mm512_loadu_pd(val), xv));
    }
    const unsigned keep = lanes_in(c, i0, i1);
    const int64_t r0 = static_cast<int64_t>(c) * kCsrLanes;
    if (keep == 0xffu) _mm512_storeu_pd(y + r0, s);
    else _mm512_mask_storeu_pd(y + r0, static_cast<__mmask8>(keep), s);
    if constexpr (DOT) {
      alignas(64) double xy[kCsrLanes];
      _mm512_store_pd(xy, _mm512_mul_pd(_mm512_maskz_loadu_pd(static_cast<__mmask8>(keep), x + r0), s));
      for (int32_t l = 0; l < kCsrLanes; ++l)
        if (keep >> l & 1u) dot += xy[l];
    }
  }
  return dot;
}
#endif

}  // namespace

bool csr_lanes_supported() { return cpu_x86_64_v4(); }

std::unique_ptr<CsrLanes> csr_lanes(int32_t n, const int32_t* row_ptr, const int32_t* col_idx,
                                    const double* values) {
  if (n <= 0 || !csr_lanes_supported()) return nullptr;
  auto L = std::make_unique<CsrLanes>();
  L->n = n;
  L->ncols = n;
  const int32_t chunks = (n + kCsrLanes - 1) / kCsrLanes;
  L->slot.resize(static_cast<size_t>(chunks) + 1);
  L->len.assign(static_cast<size_t>(chunks) * kCsrLanes, 0);
  int64_t slots = 0;
  for (int32_t c = 0; c < chunks; ++c) {
    L->slot[static_cast<size_t>(c)] = static_cast<int32_t>(slots);
    int32_t width = 0;
    for (int32_t i = c * kCsrLanes; i < std::min(n, (c + 1) * kCsrLanes); ++i) {
      L->len[static_cast<size_t>(i)] = row_ptr[i + 1] - row_ptr[i];
      width = std::max(width, L->len[static_cast<size_t>(i)]);
    }
    slots += width;
  }
  L->slot[static_cast<size_t>(chunks)] = static_cast<int32_t>(slots);
  // Rows of very different lengths in one chunk pad it with masked slots that cost loads (and memory)
  // like real entries: past half as many again as the matrix stores, the row loop is the better one.
  const int64_t nnz = row_ptr[n];
  if (slots * kCsrLanes > nnz + nnz / 2 + 64) return nullptr;
  L->col.assign(static_cast<size_t>(slots) * kCsrLanes, 0);
  L->val.assign(static_cast<size_t>(slots) * kCsrLanes, 0.0);
  for (int32_t i = 0; i < n; ++i) {
    const int64_t base = static_cast<int64_t>(L->slot[static_cast<size_t>(i / kCsrLanes)]) * kCsrLanes + i % kCsrLanes;
    for (int32_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p) {
      const size_t q = static_cast<size_t>(base + static_cast<int64_t>(p - row_ptr[i]) * kCsrLanes);
      L->col[q] = col_idx[p];
      L->val[q] = values[p];
    }
  }
  return L;
}

std::unique_ptr<CsrLanes> csr_lanes_checked(int32_t n, const int32_t* row_ptr, size_t entries, const int32_t* col_idx,
                                            const double* values, int64_t ncols) {
  // The structure as checkCsr defines it, by the check every CSR op already uses (csr_check.cc).
  if (n <= 0 || entries > static_cast<size_t>(INT32_MAX) ||
      !csr_canonical<double>(n, row_ptr, static_cast<int32_t>(entries), col_idx, values, ncols, 0, 0.0))
    return nullptr;
  std::unique_ptr<CsrLanes> L = csr_lanes(n, row_ptr, col_idx, values);
  if (L) L->ncols = ncols;
  return L;
}

void csr_lanes_spmv(const CsrLanes& L, const double* x, double* y, int threads) {
  // The grain of the checked spmv (spmv.cc): a thread's wake-up costs a few microseconds.
  const int32_t chunks = static_cast<int32_t>(L.slot.size()) - 1;
  const size_t work = static_cast<size_t>(L.slot.back()) * kCsrLanes + static_cast<size_t>(L.n);
  const int nt = plan_threads(threads, work, size_t{1} << 15);
  parallel_run(std::min(nt, std::max(chunks, 1)), [&](int t, int nth) {
    size_t c0, c1;
    even_split(static_cast<size_t>(chunks), t, nth, c0, c1);
    csr_lanes_rows(L, static_cast<int32_t>(c0) * kCsrLanes, static_cast<int32_t>(c1) * kCsrLanes, x, y);
  });
}

void csr_lanes_rows(const CsrLanes& L, int32_t i0, int32_t i1, const double* x, double* y, bool portable) {
  i0 = std::max(i0, 0);
  i1 = std::min(i1, L.n);
  if (i1 <= i0) return;
#if NK_HAVE_CLONES
  if (!portable && csr_lanes_supported()) {
    rows_avx512<false>(L, i0, i1, x, y);
    return;
  }
#endif
  rows_portable(L, i0, i1, x, y);
}

double csr_lanes_rows_dot(const CsrLanes& L, int32_t i0, int32_t i1, const double* x, double* y, bool portable) {
  i0 = std::max(i0, 0);
  i1 = std::min(i1, L.n);
  if (i1 <= i0) return 0;
#if NK_HAVE_CLONES
  if (!portable && csr_lanes_supported()) return rows_avx512<true>(L, i0, i1, x, y);
#endif
  return rows_portable(L, i0, i1, x, y);
}

}  // namespace numkern
