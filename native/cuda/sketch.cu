// sketchApply on the device (docs/sketch.md §2–§3; the CPU kernel is native/src/sketch/apply.cc). S₀ is
// generated inside the kernels from the same NK_HD element logic as the CPU's (numkern/sketch.hpp over
// numkern/philox.hpp), so every entry of S₀ is the CPU's: bit for bit for the integer-derived kinds, to
// the device libm's ulps for the Gaussian's Box–Muller (docs/sketch.md §2.1).
//
// Arithmetic is the CPU's: f64 throughout, each term w·a rounded and added on its own (__dmul_rn and
// __dadd_rn: no contraction into an FMA, as the CPU kernels are built with -ffp-contract=off), and each
// SA entry sums the block's rows in increasing global order. Each output entry is owned by one thread,
// so nothing depends on scheduling (no floating-point atomics).
//  - gaussian, rademacher: per chunk of rows, S₀'s columns for those rows are written to device memory,
//    then a tiled product adds S₀_chunk·X_chunk into SA (rows in increasing order within the chunk).
//  - countsketch, sparse-sign: per chunk, each row's s (row, sign) pairs are generated on the device;
//    the host lists each bucket k's rows in increasing order (a stable counting sort, O(n·s)), and one
//    thread per SA entry adds ±X[i, c] over its bucket in that order: the CPU's order per entry.
//  - srht: per permutation block h and column panel, the signed rows are scattered to their Feistel
//    places, H_B is applied stage by stage (the low 8 stages per 256-row tile in shared memory), and the
//    m sampled rows are added with the block sign: the oracle's butterflies (docs/sketch.md §2.3, the
//    CPU's CSR path), blocks in increasing h. The CPU's one-pass dense SRHT re-associates the levels
//    above 4096 rows, so for B > 4096 the two differ within its stated bound, not bit for bit.
// X is [A | b] as f64, row-major, densified on the device for CSR. The scale is applied once, on the host.
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common.cuh"
#include "numkern/sketch.hpp"
#include "numkern/sketch_cuda.hpp"

namespace {

using nkcu::blocks_for;
using nkcu::DeviceArray;
using nkcu::global_index;
using nkcu::global_stride;
using nkcu::kThreads;
using numkern::SketchOperandView;
using numkern::SketchSpec;

/// Device memory for one chunk of X = [A | b] in f64 (and for the Gaussian/Rademacher S₀ columns of it).
constexpr size_t kChunkBytes = size_t{256} << 20;
/// Device memory for one SRHT panel: B rows × its columns in f64.
constexpr size_t kPanelBytes = size_t{1} << 30;
/// The SRHT's butterfly stages below this many rows run per tile in shared memory.
constexpr unsigned kFwhtTileRows = 256;
constexpr unsigned kFwhtTileCols = 16;
/// The dense product's tile: kTk rows of SA × kTc columns, kTi rows of A per step.
constexpr int kTk = 32, kTc = 32, kTi = 16;
constexpr uint32_t kSignBit = 0x80000000u;

// ---- kernels ----

/// X (rows × wc) := columns [c0, c0 + wc) of [A | b] for a dense block, as f64.
template <class T>
__global__ void pack_dense(size_t rows, size_t d, const T* a, const T* b, size_t c0, size_t wc, double* X) {
  const size_t count = rows * wc;
  for (size_t e = global_index(); e < count; e += global_stride()) {
    const size_t i = e / wc, c = c0 + e % wc;
    X[e] = c < d ? static_cast<double>(a[i * d + c]) : static_cast<double>(b[i]);
  }
}

/// The same for a CSR block (X zeroed first); rowPtr is absolute, the entries start at `base`.
template <class T>
__global__ void pack_csr(size_t rows, size_t d, const int32_t* rowPtr, int32_t base, const int32_t* colIdx,
                         const T* values, const T* b, size_t c0, size_t wc, double* X) {
  for (size_t i = global_index(); i < rows; i += global_stride()) {
    double* x = X + i * wc;
    for (int32_t p = rowPtr[i] - base; p < rowPtr[i + 1] - base; ++p) {
      const size_t c = static_cast<size_t>(colIdx[p]);
      if (c >= c0 && c < c0 + wc) x[c - c0] += static_cast<double>(values[p]);
    }
    if (b && d >= c0 && d < c0 + wc) x[d - c0] = static_cast<double>(b[i]);
  }
}

/// *bad := min(*bad, base + e) over the elements e with !(|a_e| ≤ limit): the first bad flat index,
/// whatever the scheduling (an integer minimum).
template <class T>
__global__ void screen_kernel(size_t n, const T* a, double limit, unsigned long long base, unsigned long long* bad) {
  for (size_t e = global_index(); e < n; e += global_stride())
    if (!(fabs(static_cast<double>(a[e])) <= limit)) atomicMin(bad, base + e);
}

/// S[e] = S₀ entry j0 + e (j = i·m + k, docs/sketch.md §2.1): column i of S₀ is m consecutive entries.
__global__ void dense_entries(int kind, uint32_t key0, uint32_t key1, uint64_t j0, size_t count, double* S) {
  const uint32_t key[2] = {key0, key1};
  for (size_t e = global_index(); e < count; e += global_stride()) {
    const uint64_t j = j0 + e;
    if (kind == numkern::kSkGaussian) {
      uint32_t w[4];
      numkern::philox_block(key, numkern::kSketchStreamGaussian, j >> 2, w);
      S[e] = numkern::sketch_gaussian_from_block(w, static_cast<unsigned>(j & 3u));
    } else {
      S[e] = numkern::sketch_rademacher_entry(key, j);
    }
  }
}

/// OUT[k, c] += Σ_i S[i·m + k]·X[i·total + c] over i = 0 .. rows − 1 in increasing order, each product
/// and sum rounded on its own. Blocks of 32 × 8 threads own 32 × 32 tiles of OUT (grid-stride over tiles).
__global__ void dense_product(size_t rows, size_t m, size_t total, const double* S, const double* X, double* OUT) {
  __shared__ double Ss[kTi][kTk + 1];
  __shared__ double Xs[kTi][kTc + 1];
  const int tx = threadIdx.x, ty = threadIdx.y, lin = ty * kTc + tx;
  const size_t tilesC = (total + kTc - 1) / kTc, tiles = tilesC * ((m + kTk - 1) / kTk);
  for (size_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const size_t kb = (t / tilesC) * kTk, cb = (t % tilesC) * kTc, c = cb + tx;
    double acc[kTk / 8];
    for (int q = 0; q < kTk / 8; ++q) {
      const size_t k = kb + ty + 8 * q;
      acc[q] = k < m && c < total ? OUT[k * total + c] : 0.0;
    }
    for (size_t i0 = 0; i0 < rows; i0 += kTi) {
      for (int e = lin; e < kTi * kTk; e += kTc * 8) {
        const size_t i = i0 + e / kTk, k = kb + e % kTk;
        Ss[e / kTk][e % kTk] = i < rows && k < m ? S[i * m + k] : 0.0;
      }
      for (int e = lin; e < kTi * kTc; e += kTc * 8) {
        const size_t i = i0 + e / kTc, cc = cb + e % kTc;
        Xs[e / kTc][e % kTc] = i < rows && cc < total ? X[i * total + cc] : 0.0;
      }
      __syncthreads();
      const int iend = static_cast<int>(min(static_cast<size_t>(kTi), rows - i0));
      for (int ii = 0; ii < iend; ++ii) {
        const double x = Xs[ii][tx];
        for (int q = 0; q < kTk / 8; ++q) acc[q] = __dadd_rn(acc[q], __dmul_rn(Ss[ii][ty + 8 * q], x));
      }
      __syncthreads();
    }
    for (int q = 0; q < kTk / 8; ++q) {
      const size_t k = kb + ty + 8 * q;
      if (k < m && c < total) OUT[k * total + c] = acc[q];
    }
  }
}

/// Rows i0 + i of a sparse sketch: their s (row, sign) pairs (Floyd's algorithm, docs/sketch.md §2.2).
__global__ void sparse_columns(uint32_t key0, uint32_t key1, uint64_t i0, size_t rows, uint32_t m, uint32_t s,
                               int32_t* buckets, double* signs) {
  const uint32_t key[2] = {key0, key1};
  for (size_t i = global_index(); i < rows; i += global_stride())
    numkern::sketch_sparse_column(key, i0 + i, m, s, buckets + i * s, signs + i * s);
}

/// OUT[k, c] += Σ ±X[i, c] over bucket k's entries (local row | kSignBit when −1) in list order.
__global__ void bucket_sum(size_t m, size_t total, const uint32_t* ptr, const uint32_t* entries, const double* X,
                           double* OUT) {
  const size_t count = m * total;
  for (size_t e = global_index(); e < count; e += global_stride()) {
    const size_t k = e / total, c = e % total;
    double acc = OUT[e];
    for (uint32_t p = ptr[k]; p < ptr[k + 1]; ++p) {
      const uint32_t v = entries[p];
      const double w = (v & kSignBit) ? -1.0 : 1.0;
      acc = __dadd_rn(acc, __dmul_rn(w, X[static_cast<size_t>(v & ~kSignBit) * total + c]));
    }
    OUT[e] = acc;
  }
}

/// The Feistel round tables of Hadamard block h (4 × tsize words).
__global__ void feistel_tables(uint32_t key0, uint32_t key1, uint64_t h, size_t tsize, uint32_t* tables) {
  const uint32_t key[2] = {key0, key1};
  const size_t count = numkern::kSrhtFeistelRounds * tsize;
  for (size_t e = global_index(); e < count; e += global_stride())
    tables[e] = numkern::sketch_feistel_word(key, h, static_cast<int>(e / tsize), tsize, e % tsize);
}

/// Global rows g0 + t of block h (h·B its first row): permuted place and sign σ.
__global__ void srht_rows(uint32_t key0, uint32_t key1, const uint32_t* tables, unsigned bits, uint64_t g0,
                          uint64_t hB, size_t count, uint32_t* pos, double* sgn) {
  const uint32_t key[2] = {key0, key1};
  for (size_t t = global_index(); t < count; t += global_stride()) {
    const uint64_t g = g0 + t;
    pos[t] = numkern::sketch_feistel(tables, bits, static_cast<uint32_t>(g - hB));
    sgn[t] = numkern::sketch_srht_sign(key, g);
  }
}

/// Y[pos[t], c] = σ_t·X[t, c] (Y zeroed first).
__global__ void srht_scatter(size_t count, size_t wc, const uint32_t* pos, const double* sgn, const double* X,
                             double* Y) {
  const size_t n = count * wc;
  for (size_t e = global_index(); e < n; e += global_stride()) {
    const size_t t = e / wc, c = e % wc;
    Y[static_cast<size_t>(pos[t]) * wc + c] = __dmul_rn(sgn[t], X[e]);
  }
}

/// The butterfly stages of half-size 1 .. tile/2 on each aligned tile of `tile` rows (tile ≤
/// kFwhtTileRows), kFwhtTileCols columns at a time in shared memory: the same operations as stage by
/// stage, since these stages pair rows inside one tile only.
__global__ void fwht_low(size_t B, size_t wc, unsigned tile, double* Y) {
  __shared__ double sh[kFwhtTileRows * kFwhtTileCols];
  const size_t colTiles = (wc + kFwhtTileCols - 1) / kFwhtTileCols, tiles = (B / tile) * colTiles;
  for (size_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const size_t r0 = (t / colTiles) * tile, c0 = (t % colTiles) * kFwhtTileCols;
    const unsigned cw = static_cast<unsigned>(min(static_cast<size_t>(kFwhtTileCols), wc - c0));
    for (unsigned e = threadIdx.x; e < tile * cw; e += blockDim.x)
      sh[e] = Y[(r0 + e / cw) * wc + c0 + e % cw];
    __syncthreads();
    for (unsigned hs = 1; hs < tile; hs *= 2) {
      for (unsigned e = threadIdx.x; e < (tile / 2) * cw; e += blockDim.x) {
        const unsigned p = e / cw, c = e % cw, j = (p / hs) * 2 * hs + p % hs;
        const double a = sh[j * cw + c], b = sh[(j + hs) * cw + c];
        sh[j * cw + c] = __dadd_rn(a, b);
        sh[(j + hs) * cw + c] = __dsub_rn(a, b);
      }
      __syncthreads();
    }
    for (unsigned e = threadIdx.x; e < tile * cw; e += blockDim.x)
      Y[(r0 + e / cw) * wc + c0 + e % cw] = sh[e];
    __syncthreads();
  }
}

/// One butterfly stage of half-size hs over all B rows.
__global__ void fwht_stage(size_t B, size_t wc, size_t hs, double* Y) {
  const size_t n = (B / 2) * wc;
  for (size_t e = global_index(); e < n; e += global_stride()) {
    const size_t p = e / wc, c = e % wc, j = (p / hs) * 2 * hs + p % hs;
    const double a = Y[j * wc + c], b = Y[(j + hs) * wc + c];
    Y[j * wc + c] = __dadd_rn(a, b);
    Y[(j + hs) * wc + c] = __dsub_rn(a, b);
  }
}

/// OUT[k, c0 + c] += (−1)^popcount(pHi_k & h)·Y[pLo_k, c]: block h's part of the m sampled rows.
__global__ void srht_gather(size_t m, size_t wc, size_t total, size_t c0, uint64_t h, const uint32_t* pHi,
                            const uint32_t* pLo, const double* Y, double* OUT) {
  const size_t n = m * wc;
  for (size_t e = global_index(); e < n; e += global_stride()) {
    const size_t k = e / wc, c = e % wc;
    const double s = numkern::sketch_parity(static_cast<uint32_t>(pHi[k] & h)) ? -1.0 : 1.0;
    double* o = OUT + k * total + c0 + c;
    *o = __dadd_rn(*o, __dmul_rn(s, Y[static_cast<size_t>(pLo[k]) * wc + c]));
  }
}

// ---- host side ----

/// Rows [r0, r1) of A (and b) on the device as the caller stores them.
template <class T>
struct RawRows {
  size_t rows = 0;
  int32_t base = 0;  // CSR: rowPtr[r0], where the block's entries start
  DeviceArray<T> data, values, b;
  DeviceArray<int32_t> rowPtr, colIdx;
};

template <class T>
int upload_rows(const SketchOperandView<T>& A, const T* b, size_t r0, size_t r1, RawRows<T>& raw, const char** err) {
  raw.rows = r1 - r0;
  if (A.csr) {
    const int32_t p0 = A.rowPtr[r0], p1 = A.rowPtr[r1];
    raw.base = p0;
    NK_CUDA_TRY(raw.rowPtr.upload(A.rowPtr + r0, raw.rows + 1));
    NK_CUDA_TRY(raw.colIdx.upload(A.colIdx + p0, static_cast<size_t>(p1 - p0)));
    NK_CUDA_TRY(raw.values.upload(A.values + p0, static_cast<size_t>(p1 - p0)));
  } else {
    NK_CUDA_TRY(raw.data.upload(A.data + r0 * A.cols, raw.rows * A.cols));
  }
  if (b) NK_CUDA_TRY(raw.b.upload(b + r0, raw.rows));
  return 0;
}

/// X (raw.rows × wc) := columns [c0, c0 + wc) of [A | b] in f64.
template <class T>
int pack(const SketchOperandView<T>& A, bool hasB, const RawRows<T>& raw, size_t c0, size_t wc, double* X,
         const char** err) {
  const size_t n = raw.rows * wc;
  if (A.csr) {
    NK_CUDA_TRY(cudaMemset(X, 0, std::max<size_t>(n, 1) * sizeof(double)));
    pack_csr<T><<<blocks_for(raw.rows), kThreads>>>(raw.rows, A.cols, raw.rowPtr.p, raw.base, raw.colIdx.p,
                                                    raw.values.p, hasB ? raw.b.p : nullptr, c0, wc, X);
  } else {
    pack_dense<T><<<blocks_for(n), kThreads>>>(raw.rows, A.cols, raw.data.p, hasB ? raw.b.p : nullptr, c0, wc, X);
  }
  NK_CUDA_TRY(cudaGetLastError());
  return 0;
}

template <class T>
int screen(const SketchOperandView<T>& A, const RawRows<T>& raw, size_t r0, double limit, unsigned long long* bad,
           const char** err) {
  if (A.csr || !(limit > 0)) return 0;
  const size_t n = raw.rows * A.cols;
  screen_kernel<T><<<blocks_for(n), kThreads>>>(n, raw.data.p, limit, static_cast<unsigned long long>(r0 * A.cols), bad);
  NK_CUDA_TRY(cudaGetLastError());
  return 0;
}

/// Rows per chunk: X (and S₀'s columns, or the sparse pairs) within kChunkBytes; at least one.
size_t chunk_rows(const SketchSpec& S, size_t n, size_t total) {
  size_t per_row = total * sizeof(double);
  if (S.kind == numkern::kSkGaussian || S.kind == numkern::kSkRademacher)
    per_row = std::max<size_t>(per_row, static_cast<size_t>(S.m) * sizeof(double));
  else
    per_row = std::max<size_t>(per_row, static_cast<size_t>(S.s) * (sizeof(int32_t) + sizeof(double)));
  return std::max<size_t>(1, std::min(n, kChunkBytes / std::max<size_t>(per_row, 1)));
}

template <class T>
int rows_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* OUT,
               size_t total, double limit, unsigned long long* bad, const char** err) {
  const size_t n = A.rows, m = S.m, s = S.s;
  const bool dense = S.kind == numkern::kSkGaussian || S.kind == numkern::kSkRademacher;
  const size_t per = chunk_rows(S, n, total);
  std::vector<int32_t> hostBuckets;
  std::vector<double> hostSigns;
  std::vector<uint32_t> ptr, entries, fill;
  for (size_t r0 = 0; r0 < n; r0 += per) {
    const size_t r1 = std::min(n, r0 + per), rows = r1 - r0;
    RawRows<T> raw;
    if (const int rc = upload_rows(A, b, r0, r1, raw, err)) return rc;
    if (const int rc = screen(A, raw, r0, limit, bad, err)) return rc;
    DeviceArray<double> X;
    NK_CUDA_TRY(X.alloc(rows * total));
    if (const int rc = pack(A, b != nullptr, raw, 0, total, X.p, err)) return rc;
    if (dense) {
      DeviceArray<double> Sc;
      NK_CUDA_TRY(Sc.alloc(rows * m));
      dense_entries<<<blocks_for(rows * m), kThreads>>>(S.kind, S.key[0], S.key[1], (off + r0) * m, rows * m, Sc.p);
      NK_CUDA_TRY(cudaGetLastError());
      const size_t tiles = ((m + kTk - 1) / kTk) * ((total + kTc - 1) / kTc);
      const unsigned grid = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(tiles, 1u << 20)));
      dense_product<<<grid, dim3(kTc, 8)>>>(rows, m, total, Sc.p, X.p, OUT);
      NK_CUDA_TRY(cudaGetLastError());
      continue;
    }
    DeviceArray<int32_t> buckets;
    DeviceArray<double> signs;
    NK_CUDA_TRY(buckets.alloc(rows * s));
    NK_CUDA_TRY(signs.alloc(rows * s));
    sparse_columns<<<blocks_for(rows), kThreads>>>(S.key[0], S.key[1], off + r0, rows, S.m, S.s, buckets.p, signs.p);
    NK_CUDA_TRY(cudaGetLastError());
    hostBuckets.resize(rows * s);
    hostSigns.resize(rows * s);
    NK_CUDA_TRY(buckets.download(hostBuckets.data(), rows * s));
    NK_CUDA_TRY(signs.download(hostSigns.data(), rows * s));
    // Bucket k's rows in increasing order: a stable counting sort (chunk_rows keeps rows·s below 2^31).
    ptr.assign(m + 1, 0);
    for (size_t q = 0; q < rows * s; ++q) ++ptr[static_cast<size_t>(hostBuckets[q]) + 1];
    for (size_t k = 0; k < m; ++k) ptr[k + 1] += ptr[k];
    fill.assign(ptr.begin(), ptr.end() - 1);
    entries.resize(rows * s);
    for (size_t q = 0; q < rows * s; ++q)
      entries[fill[static_cast<size_t>(hostBuckets[q])]++] =
          static_cast<uint32_t>(q / s) | (hostSigns[q] < 0 ? kSignBit : 0u);
    DeviceArray<uint32_t> dptr, dentries;
    NK_CUDA_TRY(dptr.upload(ptr.data(), m + 1));
    NK_CUDA_TRY(dentries.upload(entries.data(), entries.size()));
    bucket_sum<<<blocks_for(m * total), kThreads>>>(m, total, dptr.p, dentries.p, X.p, OUT);
    NK_CUDA_TRY(cudaGetLastError());
  }
  return 0;
}

template <class T>
int srht_apply(const SketchSpec& S, const SketchOperandView<T>& A, uint64_t off, const T* b, double* OUT, size_t total,
               double limit, unsigned long long* bad, const char** err) {
  const size_t n = A.rows, m = S.m;
  const uint64_t B = S.srhtB;
  unsigned bits = 0;
  while ((uint64_t{1} << bits) < B) ++bits;
  const size_t tsize = size_t{1} << ((bits + 1) / 2);
  const size_t w = std::max<size_t>(1, std::min<size_t>(total, kPanelBytes / (static_cast<size_t>(B) * sizeof(double))));
  const unsigned tile = static_cast<unsigned>(std::min<uint64_t>(B, kFwhtTileRows));
  std::vector<uint32_t> hi(m), lo(m);
  for (size_t k = 0; k < m; ++k) {
    hi[k] = static_cast<uint32_t>(S.sample[k] / B);
    lo[k] = static_cast<uint32_t>(S.sample[k] % B);
  }
  DeviceArray<uint32_t> pHi, pLo, tables, pos;
  DeviceArray<double> sgn, X, Y;
  NK_CUDA_TRY(pHi.upload(hi.data(), m));
  NK_CUDA_TRY(pLo.upload(lo.data(), m));
  NK_CUDA_TRY(tables.alloc(numkern::kSrhtFeistelRounds * tsize));
  NK_CUDA_TRY(pos.alloc(static_cast<size_t>(std::min<uint64_t>(B, n))));
  NK_CUDA_TRY(sgn.alloc(static_cast<size_t>(std::min<uint64_t>(B, n))));
  NK_CUDA_TRY(X.alloc(static_cast<size_t>(std::min<uint64_t>(B, n)) * w));
  NK_CUDA_TRY(Y.alloc(static_cast<size_t>(B) * w));
  const uint64_t first = off / B, last = (off + n - 1) / B;
  for (uint64_t h = first; h <= last; ++h) {
    const uint64_t g0 = std::max<uint64_t>(off, h * B), g1 = std::min<uint64_t>(off + n, (h + 1) * B);
    const size_t count = static_cast<size_t>(g1 - g0), i0 = static_cast<size_t>(g0 - off);
    feistel_tables<<<blocks_for(numkern::kSrhtFeistelRounds * tsize), kThreads>>>(S.key[0], S.key[1], h, tsize, tables.p);
    srht_rows<<<blocks_for(count), kThreads>>>(S.key[0], S.key[1], tables.p, bits, g0, h * B, count, pos.p, sgn.p);
    NK_CUDA_TRY(cudaGetLastError());
    RawRows<T> raw;
    if (const int rc = upload_rows(A, b, i0, i0 + count, raw, err)) return rc;
    if (const int rc = screen(A, raw, i0, limit, bad, err)) return rc;
    for (size_t c0 = 0; c0 < total; c0 += w) {
      const size_t wc = std::min(w, total - c0);
      if (const int rc = pack(A, b != nullptr, raw, c0, wc, X.p, err)) return rc;
      NK_CUDA_TRY(cudaMemset(Y.p, 0, static_cast<size_t>(B) * wc * sizeof(double)));
      srht_scatter<<<blocks_for(count * wc), kThreads>>>(count, wc, pos.p, sgn.p, X.p, Y.p);
      if (tile > 1) {
        const size_t tiles = static_cast<size_t>(B / tile) * ((wc + kFwhtTileCols - 1) / kFwhtTileCols);
        fwht_low<<<static_cast<unsigned>(std::min<size_t>(tiles, 1u << 20)), kThreads>>>(B, wc, tile, Y.p);
      }
      for (uint64_t hs = tile; hs < B; hs *= 2)
        fwht_stage<<<blocks_for(static_cast<size_t>(B / 2) * wc), kThreads>>>(B, wc, hs, Y.p);
      srht_gather<<<blocks_for(m * wc), kThreads>>>(m, wc, total, c0, h, pHi.p, pLo.p, Y.p, OUT);
      NK_CUDA_TRY(cudaGetLastError());
    }
  }
  return 0;
}

template <class T>
int sketch_apply(const SketchSpec* Sp, const SketchOperandView<T>* Ap, uint64_t off, const T* b, double* SA,
                 double* Sb, int accumulate, int apply_scale, double limit, int64_t* bad_out, const char** err) {
  const SketchSpec& S = *Sp;
  const SketchOperandView<T>& A = *Ap;
  *bad_out = -1;
  const size_t m = S.m, d = A.cols, total = d + (b ? 1 : 0);
  // OUT = [SA | Sb] (m × total), on the host between the caller's arrays and the device.
  std::vector<double> out(m * total, 0.0);
  if (accumulate)
    for (size_t k = 0; k < m; ++k) {
      std::memcpy(out.data() + k * total, SA + k * d, d * sizeof(double));
      if (b) out[k * total + d] = Sb[k];
    }
  if (A.rows > 0 && total > 0 && m > 0) {
    DeviceArray<double> OUT;
    DeviceArray<unsigned long long> bad;
    NK_CUDA_TRY(OUT.upload(out.data(), m * total));
    const unsigned long long none = ULLONG_MAX;
    NK_CUDA_TRY(bad.upload(&none, 1));
    const int rc = S.kind == numkern::kSkSrht ? srht_apply(S, A, off, b, OUT.p, total, limit, bad.p, err)
                                               : rows_apply(S, A, off, b, OUT.p, total, limit, bad.p, err);
    if (rc) return rc;
    NK_CUDA_TRY(OUT.download(out.data(), m * total));
    unsigned long long first = none;
    NK_CUDA_TRY(bad.download(&first, 1));
    if (first != none) *bad_out = static_cast<int64_t>(first);
  }
  const double c = apply_scale ? S.scale : 1.0;
  for (size_t k = 0; k < m; ++k) {
    for (size_t j = 0; j < d; ++j) SA[k * d + j] = c != 1.0 ? out[k * total + j] * c : out[k * total + j];
    if (Sb) Sb[k] = b ? (c != 1.0 ? out[k * total + d] * c : out[k * total + d]) : (accumulate ? Sb[k] * c : 0.0);
  }
  return 0;
}

}  // namespace

extern "C" {

int nk_cuda_sketch_apply_f32(const numkern::SketchSpec* S, const numkern::SketchOperandView<float>* A,
                             uint64_t rowOffset, const float* b, double* SA, double* Sb, int accumulate,
                             int apply_scale, double limit, int64_t* bad, const char** err) {
  return sketch_apply(S, A, rowOffset, b, SA, Sb, accumulate, apply_scale, limit, bad, err);
}
int nk_cuda_sketch_apply_f64(const numkern::SketchSpec* S, const numkern::SketchOperandView<double>* A,
                             uint64_t rowOffset, const double* b, double* SA, double* Sb, int accumulate,
                             int apply_scale, double limit, int64_t* bad, const char** err) {
  return sketch_apply(S, A, rowOffset, b, SA, Sb, accumulate, apply_scale, limit, bad, err);
}

}  // extern "C"
