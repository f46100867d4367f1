// sketchApply on the CPU (docs/sketch.md §2–§3): S generated from Philox on the fly, every SA entry a sum
// over the block's rows in increasing global order — the oracle's order (src/backends/js/sketch/apply.ts),
// so the threads split the OUTPUT (rows of SA for the dense and sparse kinds, column ranges for the
// SRHT on dense data) and never re-associate a sum across threads: the result is bit
// for bit the same on any thread count. Dense inputs are screened in the same pass (docs/sketch.md §1):
// the kernel reports the first element with !(|a| ≤ limit), so the façade needs no scan of its own.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "numkern/parallel.hpp"
#include "numkern/sketch.hpp"
#include "screen.hpp"
#include "srht.hpp"

namespace numkern {
namespace {

constexpr size_t kDenseChunk = 32;  // rows of A whose S columns are generated at once
// Rows of SA a thread takes at a time: its scratch of S columns stays 32 × 32768 doubles (8 MiB) whatever
// m is (a thread once took all its rows at once, and m = 2^28 asked for 32 GiB inside the parallel part).
// Each SA entry is still summed over A's rows in increasing order, so the tiles change no bit.
constexpr size_t kDenseTile = size_t{1} << 15;

/// SA[k, :] += w·(row i of A) over dense or CSR storage.
template <class T>
NK_FORCEINLINE void add_row(const SketchOperandView<T>& A, size_t i, double w, double* dst) {
  if (A.csr) {
    for (int32_t p = A.rowPtr[i]; p < A.rowPtr[i + 1]; ++p) dst[A.colIdx[p]] += w * static_cast<double>(A.values[p]);
  } else {
    const T* a = A.data + i * A.cols;
    for (size_t j = 0; j < A.cols; ++j) dst[j] += w * static_cast<double>(a[j]);
  }
}

/// Rows [k0, k1) of SA (and of Sb): S's entries for a chunk of A's rows at a time (into col), then each
/// SA row's sum continued over that chunk in row order.
template <class T>
void dense_rows(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA, double* Sb,
                size_t k0, size_t k1, std::vector<double>& col) {
  const size_t m = S.m, d = A.cols, n = A.rows, mk = k1 - k0;
  for (size_t i0 = 0; i0 < n; i0 += kDenseChunk) {
    const size_t i1 = std::min(n, i0 + kDenseChunk);
    for (size_t i = i0; i < i1; ++i) {
      double* c = col.data() + (i - i0) * mk;
      const uint64_t j0 = (off + i) * m;
      if (S.kind == kSkGaussian) {
        uint32_t w[4];
        uint64_t have = ~0ull;
        for (size_t k = k0; k < k1; ++k) {
          const uint64_t j = j0 + k;
          if ((j >> 2) != have) { have = j >> 2; philox_block(S.key, kSketchStreamGaussian, have, w); }
          c[k - k0] = sketch_gaussian_from_block(w, static_cast<unsigned>(j & 3u));
        }
      } else {
        uint32_t w = 0;
        uint64_t have = ~0ull;
        for (size_t k = k0; k < k1; ++k) {
          const uint64_t j = j0 + k;
          if ((j >> 5) != have) { have = j >> 5; w = philox_word(S.key, kSketchStreamRademacher, have); }
          c[k - k0] = ((w >> (j & 31u)) & 1u) ? -1.0 : 1.0;
        }
      }
    }
    for (size_t k = k0; k < k1; ++k) {
      double* dst = SA + k * d;
      for (size_t i = i0; i < i1; ++i) add_row(A, i, col[(i - i0) * mk + (k - k0)], dst);
      if (b && Sb) {
        double acc = Sb[k];
        for (size_t i = i0; i < i1; ++i) acc += col[(i - i0) * mk + (k - k0)] * static_cast<double>(b[i]);
        Sb[k] = acc;
      }
    }
  }
}

template <class T>
void dense_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA, double* Sb,
                 int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows;
  const int nt = plan_threads(threads, m * n * std::max<size_t>(d, 1), 1 << 16);
  parallel_run(std::min<int>(nt, static_cast<int>(std::max<size_t>(m, 1))), [&](int tid, int nth) {
    size_t t0, t1;
    even_split(m, tid, nth, t0, t1);
    std::vector<double> col(kDenseChunk * std::min(kDenseTile, t1 - t0));
    for (size_t k0 = t0; k0 < t1; k0 += kDenseTile) dense_rows(S, A, off, b, SA, Sb, k0, std::min(t1, k0 + kDenseTile), col);
  });
}

/// Screens a dense block in parallel (the kinds whose pass is compute-bound: one more read is noise).
template <class T>
int64_t screen_dense(const SketchOperandView<T>& A, double limit, int threads) {
  const size_t n = A.rows, d = A.cols;
  const int nt = plan_threads(threads, n * std::max<size_t>(d, 1), 1 << 16);
  std::vector<int64_t> found(static_cast<size_t>(std::max(nt, 1)), -1);
  parallel_run(nt, [&](int tid, int nth) {
    size_t i0, i1;
    even_split(n, tid, nth, i0, i1);
    for (size_t i = i0; i < i1; ++i) {
      const int64_t c = first_bad(A.data + i * d, 0, d, limit);
      if (c >= 0) { found[static_cast<size_t>(tid)] = static_cast<int64_t>(i * d) + c; return; }
    }
  });
  for (const int64_t f : found)
    if (f >= 0) return f;  // threads own increasing row ranges
  return -1;
}

/// dst[0, d) ± a[0, d) for a sign w = ±1: the bits of dst + w·a (w·a is exact), in the widest vector unit
/// the machine has (this is the sparse sketches' inner loop; a baseline x86-64 build runs it 2 lanes wide).
template <class T>
NK_FORCEINLINE void add_signed_body(double* __restrict dst, const T* __restrict a, size_t d, double w) {
  if (w > 0) {
    for (size_t j = 0; j < d; ++j) dst[j] += static_cast<double>(a[j]);
  } else {
    for (size_t j = 0; j < d; ++j) dst[j] -= static_cast<double>(a[j]);
  }
}
NK_CLONES void add_signed_f64(double* dst, const double* a, size_t d, double w) { add_signed_body<double>(dst, a, d, w); }
NK_CLONES void add_signed_f32(double* dst, const float* a, size_t d, double w) { add_signed_body<float>(dst, a, d, w); }
inline void add_signed(double* dst, const double* a, size_t d, double w) { add_signed_f64(dst, a, d, w); }
inline void add_signed(double* dst, const float* a, size_t d, double w) { add_signed_f32(dst, a, d, w); }

template <class T>
int64_t sparse_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* SA,
                     double* Sb, double limit, int threads) {
  const size_t m = S.m, d = A.cols, n = A.rows, s = S.s;
  // Row i's s nonzeros as codes: the row of S₀ in the low 31 bits, bit 31 set for −1 (a third of the bytes
  // of separate rows and signs, read by every thread).
  std::vector<uint32_t> code(n * s);
  const int nt = plan_threads(threads, n * s * std::max<size_t>(d, 1), 1 << 16);
  parallel_run(nt, [&](int tid, int nth) {
    size_t i0, i1;
    even_split(n, tid, nth, i0, i1);
    std::vector<int32_t> rows(s);
    std::vector<double> signs(s);
    for (size_t i = i0; i < i1; ++i) {
      sketch_sparse_column(S.key, off + i, S.m, S.s, rows.data(), signs.data());
      for (size_t t = 0; t < s; ++t)
        code[i * s + t] = static_cast<uint32_t>(rows[t]) | (signs[t] < 0 ? 0x80000000u : 0u);
    }
  });
  std::vector<int64_t> found(static_cast<size_t>(std::max(nt, 1)), -1);
  // Each thread owns a range of SA rows and walks every row of A in order, adding only into its own
  // (countsketch: each thread reads just the rows that land in its range, so A is read once in all).
  // A dense row is screened by the thread that owns its first nonzero's row: every row exactly once.
  // (Measured on the 2-core machine under load: splitting SA by columns, or scattering 8-column panels
  // of a cache-resident SA, was not faster, and 2-3× slower for countsketch; a panel-major SA per thread
  // with A copied panel-major per 4096-row chunk was 1.3-3× slower again, its SA panel loads missing; a
  // software prefetch of the SA rows two rows ahead cost more than it saved.)
  parallel_run(nt, [&](int tid, int nth) {
    size_t k0, k1;
    even_split(m, tid, nth, k0, k1);
    if (k0 >= k1) return;
    int64_t bad = -1;
    for (size_t i = 0; i < n; ++i) {
      for (size_t t = 0; t < s; ++t) {
        const uint32_t q = code[i * s + t];
        const size_t k = q & 0x7fffffffu;
        if (k < k0 || k >= k1) continue;
        if (t == 0 && limit > 0 && bad < 0 && !A.csr) {
          const int64_t c = first_bad(A.data + i * d, 0, d, limit);
          if (c >= 0) bad = static_cast<int64_t>(i * d) + c;
        }
        const double w = (q >> 31) ? -1.0 : 1.0;
        if (A.csr) add_row(A, i, w, SA + k * d);
        else add_signed(SA + k * d, A.data + i * d, d, w);
        if (b && Sb) Sb[k] += w * static_cast<double>(b[i]);
      }
    }
    found[static_cast<size_t>(tid)] = bad;
  });
  return min_found(found);
}

}  // namespace

template <class T>
int64_t sketch_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t rowOffset, const T* b, double* SA,
                     double* Sb, bool accumulate, bool apply_scale, double limit, int threads) {
  const size_t md = static_cast<size_t>(S.m) * A.cols;
  if (!accumulate) {
    // An empty output may be a null pointer (a zero-length typed array): memset must not see it.
    if (md > 0) std::memset(SA, 0, md * sizeof(double));
    if (Sb && S.m > 0) std::memset(Sb, 0, S.m * sizeof(double));
  }
  int64_t bad = -1;
  if (!A.csr && limit > 0 && S.kind != kSkSrht && S.kind != kSkCountSketch && S.kind != kSkSparseSign)
    bad = screen_dense(A, limit, threads);
  if (A.rows > 0) {
    if (S.kind == kSkSrht) {
      bad = srht_sketch(S, A, rowOffset, b, SA, Sb, limit, threads);
    } else if (S.kind == kSkGaussian || S.kind == kSkRademacher) {
      dense_apply(S, A, rowOffset, b, SA, Sb, threads);
    } else {
      bad = sparse_apply(S, A, rowOffset, b, SA, Sb, limit, threads);
    }
  }
  if (apply_scale && S.scale != 1.0) {
    for (size_t k = 0; k < md; ++k) SA[k] *= S.scale;
    if (Sb)
      for (size_t k = 0; k < S.m; ++k) Sb[k] *= S.scale;
  }
  return bad;
}

template int64_t sketch_apply<float>(const SketchSpec&, const SketchOperandView<float>&, uint64_t, const float*,
                                     double*, double*, bool, bool, double, int);
template int64_t sketch_apply<double>(const SketchSpec&, const SketchOperandView<double>&, uint64_t, const double*,
                                      double*, double*, bool, bool, double, int);

}  // namespace numkern
