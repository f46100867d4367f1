// The SRHT's schedule for permutation blocks of at most 2¹² rows (docs/sketch.md §2.3), one Hadamard group
// each: a block's rows are contiguous in A, read in order, scattered and transformed in cache.
#include "srht.hpp"

#include "numkern/parallel.hpp"
#include "srht_parts.hpp"

namespace numkern {
namespace {

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

}  // namespace

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
int64_t srht_blocks(const SketchSpec& S, const SrhtLayout& lay, const SketchOperandView<T>& A, uint64_t off, const T* b,
                    double* SA, double* Sb, double limit, int threads) {
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

template int64_t srht_blocks<float>(const SketchSpec&, const SrhtLayout&, const SketchOperandView<float>&, uint64_t, const float*, double*,
                                    double*, double, int);
template int64_t srht_blocks<double>(const SketchSpec&, const SrhtLayout&, const SketchOperandView<double>&, uint64_t, const double*,
                                     double*, double*, double, int);

}  // namespace numkern
