// numkern::csr_canonical (native/src/linalg/csr_check.cc) against a plain row-by-row reference of the same
// rules (checkCsr in src/core/validate.ts): random small matrices, empty rows and 0-2 entries included,
// each under every kind of corruption. The native check is a counting argument (descents vs row starts),
// so it must agree with the direct check on every input, including ones whose violations cancel no count.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

#include "numkern/linalg.hpp"
#include "numkern/core.hpp"

namespace csr_check_test {

struct Csr {
  int32_t nrows = 0, ncols = 0;
  std::vector<int32_t> rowPtr, colIdx;
  std::vector<double> values;
};

/// The rules as checkCsr's JS scan applies them, row by row.
inline bool reference(const Csr& A, int flags, double bound) {
  const int32_t nnz = static_cast<int32_t>(A.colIdx.size());
  if (A.rowPtr[0] != 0 || A.rowPtr[A.nrows] != nnz) return false;
  for (int32_t r = 0; r < A.nrows; ++r)
    if (A.rowPtr[r + 1] < A.rowPtr[r] || A.rowPtr[r + 1] > nnz) return false;
  for (int32_t r = 0; r < A.nrows; ++r) {
    int64_t prev = -1;
    bool diag = false;
    for (int32_t k = A.rowPtr[r]; k < A.rowPtr[r + 1]; ++k) {
      const int64_t c = A.colIdx[k];
      if (c < 0 || c >= A.ncols || c <= prev) return false;
      prev = c;
      diag |= c == r && A.values[k] > 0;
    }
    if ((flags & numkern::kCsrPositiveDiagonal) && !diag) return false;
  }
  for (double v : A.values) {
    if ((flags & (numkern::kCsrFinite | numkern::kCsrBounded)) && !std::isfinite(v)) return false;
    if ((flags & numkern::kCsrBounded) && std::fabs(v) > bound) return false;
  }
  return true;
}

class Rng {
 public:
  explicit Rng(uint32_t stream) : stream_(stream) {}
  uint32_t next() {
    const uint32_t key[2] = {0xc5c5u, 0x0123u};
    uint32_t w;
    numkern::philox_fill(key, stream_, counter_++, 1, &w);
    return w;
  }
  int32_t below(int32_t n) { return n <= 0 ? 0 : static_cast<int32_t>(next() % static_cast<uint32_t>(n)); }

 private:
  uint32_t stream_;
  uint64_t counter_ = 0;
};

/// A canonical matrix: each row a random sorted subset of the columns (the diagonal kept with probability 3/4).
inline Csr random_csr(Rng& g) {
  Csr A;
  A.nrows = 1 + g.below(12);
  A.ncols = 1 + g.below(12);
  A.rowPtr.push_back(0);
  for (int32_t r = 0; r < A.nrows; ++r) {
    const int32_t density = g.below(4);  // 0: empty rows happen
    for (int32_t c = 0; c < A.ncols; ++c) {
      const bool keep = c == r ? g.below(4) != 0 : g.below(4) < density;
      if (!keep) continue;
      A.colIdx.push_back(c);
      A.values.push_back(c == r ? 4.0 : -1.0 + 0.1 * g.below(9));
    }
    A.rowPtr.push_back(static_cast<int32_t>(A.colIdx.size()));
  }
  return A;
}

inline void corrupt(Csr& A, Rng& g, int kind) {
  const int32_t nnz = static_cast<int32_t>(A.colIdx.size());
  const int32_t k = g.below(nnz);
  const int32_t r = 1 + g.below(A.nrows - 1);
  switch (kind) {
    case 1: if (nnz > 0) A.colIdx[k] = A.ncols; break;
    case 2: if (nnz > 0) A.colIdx[k] = -1 - g.below(3); break;
    case 3: if (nnz > 1 && k + 1 < nnz) std::swap(A.colIdx[k], A.colIdx[k + 1]); break;  // maybe across a row end
    case 4: if (nnz > 1 && k + 1 < nnz) A.colIdx[k + 1] = A.colIdx[k]; break;
    case 5: if (A.nrows > 1) A.rowPtr[r] = A.rowPtr[r + 1] + 1 + g.below(2); break;
    case 6: if (A.nrows > 1) A.rowPtr[r] = nnz + 1 + g.below(5); break;
    case 7: if (A.nrows > 1) A.rowPtr[r] = std::numeric_limits<int32_t>::max(); break;
    case 8: if (A.nrows > 1) A.rowPtr[r] = -1 - g.below(3); break;
    case 9: if (nnz > 0) A.values[k] = std::numeric_limits<double>::quiet_NaN(); break;
    case 10: if (nnz > 0) A.values[k] = -std::numeric_limits<double>::infinity(); break;
    case 11: if (nnz > 0) A.values[k] = 1e200; break;
    case 12: if (nnz > 0) A.values[k] = -A.values[k]; break;  // may make a diagonal non-positive
    case 13: if (nnz > 0) A.colIdx[k] = A.colIdx[g.below(nnz)]; break;  // any column, anywhere
    default: break;
  }
}

template <class T>
void run_one(const Csr& A, int flags, double bound, int threads = 1) {
  std::vector<T> vals(A.values.begin(), A.values.end());
  const bool got = numkern::csr_canonical<T>(A.nrows, A.rowPtr.data(), static_cast<int32_t>(A.colIdx.size()),
                                             A.colIdx.data(), vals.data(), A.ncols, flags, bound, threads);
  Csr B = A;
  B.values.assign(vals.begin(), vals.end());
  assert(got == reference(B, flags, bound));
}

inline void test_csr_canonical() {
  Rng g(7);
  int bad = 0;
  for (int trial = 0; trial < 6000; ++trial) {
    Csr A = random_csr(g);
    const int kind = trial % 14;
    corrupt(A, g, kind);
    if (g.below(3) == 0) corrupt(A, g, g.below(14));  // two corruptions whose counts might offset
    for (int flags : std::initializer_list<int>{0, numkern::kCsrFinite, numkern::kCsrBounded | numkern::kCsrFinite, numkern::kCsrPositiveDiagonal,
                      numkern::kCsrFinite | numkern::kCsrPositiveDiagonal}) {
      run_one<double>(A, flags, (flags & numkern::kCsrBounded) ? 1e150 : INFINITY);
      run_one<float>(A, flags, (flags & numkern::kCsrBounded) ? 1e30 : INFINITY);
    }
    bad += !reference(A, 0, INFINITY);
  }
  assert(bad > 2000);  // the corruptions did corrupt

  // A matrix large enough for the structure passes to split over threads (threads = 0: all there are),
  // corrupted next to the parts' edges (an even split of rows and of entries) and elsewhere.
  Csr B;
  B.nrows = B.ncols = 120000;
  B.rowPtr.push_back(0);
  for (int32_t r = 0; r < B.nrows; ++r) {
    for (int32_t c = std::max(0, r - 2); c <= std::min(B.ncols - 1, r + 2); ++c) {
      B.colIdx.push_back(c);
      B.values.push_back(c == r ? 4.0 : -1.0);
    }
    B.rowPtr.push_back(static_cast<int32_t>(B.colIdx.size()));
  }
  const int32_t nnz = static_cast<int32_t>(B.colIdx.size());
  run_one<double>(B, 0, INFINITY, 0);
  assert(reference(B, 0, INFINITY));
  for (int32_t at : {nnz / 2 - 1, nnz / 2, nnz / 2 + 1, nnz / 3, 2 * nnz / 3, 1, nnz - 1}) {
    for (int kind : {1, 2, 3, 4}) {
      Csr C = B;
      if (kind == 1) C.colIdx[at] = C.ncols;
      if (kind == 2) C.colIdx[at] = -1;
      if (kind == 3) std::swap(C.colIdx[at - 1], C.colIdx[at]);  // inside a row or across a row end
      if (kind == 4) C.colIdx[at] = C.colIdx[at - 1];
      for (int threads : {0, 1}) run_one<double>(C, numkern::kCsrFinite, INFINITY, threads);
    }
  }
  for (int32_t r : {B.nrows / 2 - 1, B.nrows / 2, B.nrows / 2 + 1, B.nrows / 3, 2 * B.nrows / 3}) {
    Csr C = B;
    C.rowPtr[r] = C.rowPtr[r + 1] + 1;
    for (int threads : {0, 1}) run_one<double>(C, 0, INFINITY, threads);
  }
}

}  // namespace csr_check_test
