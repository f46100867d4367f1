// The SRHT on the CPU (docs/sketch.md §2.3): S₀ = P·H_N·Π·D applied in one pass over A, S from Philox on
// the fly. A CSR block takes the oracle's own schedule (one length-B FWHT per permutation block and column
// panel); a dense block one of two cache-resident schedules, by its permutation block B: the two-level
// one below (B > 2¹²) or srht_blocks.cc's (B ≤ 2¹²). Threads own column ranges of SA, so every entry sums
// its terms in one fixed order on any thread count.
#include "srht.hpp"

#include "numkern/parallel.hpp"
#include "srht_parts.hpp"

namespace numkern {
namespace {

template <class T>
void srht_apply(const SketchSpec& S, const SrhtLayout& lay, const SketchOperandView<T>& A, uint64_t off, const T* b,
                double* SA, double* Sb, int threads) {
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

/// Panels a thread transforms per sweep over the groups.
constexpr size_t kSrhtChunk = 32;
/// Source rows a group's gather prefetches ahead: they come in permuted order, so the hardware prefetcher
/// sees no stream.
constexpr size_t kSrhtPrefetchRows = 16;

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

/// The SRHT of a dense block in one pass over A (docs/sketch.md §2.3). With B = 2^bits and L = 2^lb,
/// H_B = H_{B/L} ⊗ H_L: a sampled row p_lo = (a, c) (high bits a, low lb bits c) receives from the group
/// g of L permuted positions (−1)^popcount(a & g)·(H_L·Y_g)[c]. So each group's L rows are gathered
/// once (signed, at their permuted places), transformed in cache, and added into the m sampled rows;
/// the top level over blocks h is the same. Threads own column ranges of SA, so every SA entry sums its
/// terms in one fixed order (groups, then blocks, increasing) on any thread count. The low lb levels are
/// the oracle's own operations; the levels above are summed sequentially instead of by the FWHT's tree,
/// which re-associates the same terms (a difference within γ_{B/L}·Σ|terms|, Higham §4.2).
template <class T>
int64_t srht_apply_dense(const SketchSpec& S, const SrhtLayout& lay, const SketchOperandView<T>& A, uint64_t off,
                         const T* b, double* SA, double* Sb, double limit, int threads) {
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

}  // namespace

template <class T>
int64_t srht_sketch(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                    double* Sb, double limit, int threads) {
  if (A.rows == 0) return -1;
  // What every schedule derives from S and the block first, made once here.
  const SrhtLayout lay = srht_layout(S, A, off, b != nullptr);
  if (A.csr) {
    srht_apply(S, lay, A, off, b, SA, Sb, threads);
    return -1;
  }
  if (lay.B <= (uint64_t{1} << kSrhtLocalBits)) return srht_blocks(S, lay, A, off, b, SA, Sb, limit, threads);
  return srht_apply_dense(S, lay, A, off, b, SA, Sb, limit, threads);
}

template int64_t srht_sketch<float>(const SketchSpec&, const SketchOperandView<float>&, uint64_t, const float*, double*,
                                    double*, double, int);
template int64_t srht_sketch<double>(const SketchSpec&, const SketchOperandView<double>&, uint64_t, const double*,
                                     double*, double*, double, int);

}  // namespace numkern
