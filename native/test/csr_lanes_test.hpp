// Standalone checks of the lane-layout SpMV (numkern/csr_lanes.hpp), included by native_test.cc: every
// row's sum has the bits of the sequential sum in stored order (csr_row_sum_trusted, the oracle's order),
// on ragged matrices (empty rows, rows far longer than their neighbours, n not a multiple of 8), over
// any row range, on the AVX-512 loop and the portable one; and so does the row-order dot that
// csr_lanes_rows_dot takes with them (CG's pᵀA p).
#pragma once

#undef NDEBUG  // the checks are plain asserts: never compiled out
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "numkern/csr_lanes.hpp"
#include "numkern/core.hpp"
#include "numkern/relax_rows.hpp"

namespace csr_lanes_test {

using namespace numkern;

struct Matrix {
  int32_t n = 0;
  std::vector<int32_t> row_ptr{0}, col_idx;
  std::vector<double> values;
};

/// n rows; row i's length from `length(i)`; columns and values from a Philox stream, values spread over
/// 40 binades so that the order of the additions shows in the bits.
template <class Length>
Matrix ragged(int32_t n, Length&& length, uint32_t stream) {
  Matrix A;
  A.n = n;
  const uint32_t key[2] = {0xa5a5u, 0x1357u};
  uint64_t ctr = 0;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t m = length(i);
    for (int32_t k = 0; k < m; ++k) {
      uint32_t w[4];
      philox_fill(key, stream, ctr, 4, w);
      ctr += 4;
      A.col_idx.push_back(static_cast<int32_t>(w[0] % static_cast<uint32_t>(n)));
      const double mant = static_cast<double>(w[1]) / 4294967296.0 + 0.5;
      const int e = static_cast<int>(w[2] % 40) - 20;
      A.values.push_back((w[3] & 1u ? -1.0 : 1.0) * std::ldexp(mant, e));
    }
    A.row_ptr.push_back(static_cast<int32_t>(A.col_idx.size()));
  }
  return A;
}

std::vector<double> ref_rows(const Matrix& A, const std::vector<double>& x) {
  std::vector<double> y(static_cast<size_t>(A.n));
  for (int32_t i = 0; i < A.n; ++i)
    y[static_cast<size_t>(i)] = relax::csr_row_sum_trusted(A.row_ptr.data(), A.col_idx.data(), A.values.data(), i, x.data());
  return y;
}

/// The same bits, or both NaN: which NaN an operation on two NaNs returns depends on its operand order,
/// which the compiler may swap (JavaScript has one NaN).
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

/// Rows [i0, i1) ∩ [0, n) of both loops equal the reference bit for bit, and no entry outside them is written;
/// the dot of csr_lanes_rows_dot has the bits of Σ x_i y_i summed in row order from +0.
void check_ranges(const Matrix& A, const CsrLanes& L, const std::vector<double>& x) {
  const std::vector<double> ref = ref_rows(A, x);
  const int32_t cuts[][2] = {{0, A.n}, {0, 1}, {3, 11}, {8, 16}, {5, A.n}, {A.n - 1, A.n}, {A.n / 2, A.n / 2}};
  for (const bool portable : {false, true}) {
    for (const auto& c : cuts) {
      double ref_dot = 0;
      for (int32_t i = c[0]; i < std::min(c[1], A.n); ++i) ref_dot += x[static_cast<size_t>(i)] * ref[static_cast<size_t>(i)];
      for (const bool dot : {false, true}) {
        std::vector<double> y(static_cast<size_t>(A.n), -7.5);
        if (dot) assert(same_bits(csr_lanes_rows_dot(L, c[0], c[1], x.data(), y.data(), portable), ref_dot));
        else csr_lanes_rows(L, c[0], c[1], x.data(), y.data(), portable);
        for (int32_t i = 0; i < A.n; ++i) {
          const bool in = i >= c[0] && i < c[1];
          assert(same_bits(y[static_cast<size_t>(i)], in ? ref[static_cast<size_t>(i)] : -7.5));
        }
      }
    }
  }
}

inline void test_lane_bits() {
  // n = 8k + 3 with empty rows, a few rows 2–10× longer than their neighbours, lengths 2..16 varying within
  // and across chunks (padding 1.42×, under the limit); n < 8; and several 4096-row blocks.
  const auto mixed = [](int32_t i) { return i % 11 == 4 ? 0 : i % 97 == 5 ? 25 : 2 + (i / 8 * 5) % 13 + i % 3; };
  const Matrix mats[] = {ragged(8 * 37 + 3, mixed, 1), ragged(5, [](int32_t i) { return i == 2 ? 0 : i + 1; }, 2),
                         ragged(4099, [](int32_t i) { return 5 + i % 9; }, 3)};
  for (const Matrix& A : mats) {
    const std::unique_ptr<CsrLanes> L = csr_lanes(A.n, A.row_ptr.data(), A.col_idx.data(), A.values.data());
    if (!csr_lanes_supported()) {
      assert(L == nullptr);
      continue;
    }
    assert(L != nullptr && L->n == A.n && L->slot.size() == static_cast<size_t>((A.n + 7) / 8) + 1);
    std::vector<double> x(static_cast<size_t>(A.n));
    for (int32_t i = 0; i < A.n; ++i) x[static_cast<size_t>(i)] = std::sin(0.37 * i + 1) * std::ldexp(1.0, i % 23 - 11);
    check_ranges(A, *L, x);
    // A non-finite x_j reaches only the rows that store column j: the padding (column 0) is masked out.
    for (const double bad : {double{INFINITY}, std::nan("")}) {
      std::vector<double> y = x;
      y[0] = bad;
      check_ranges(A, *L, y);
    }
  }
  // Rows of very different lengths side by side pad past the limit: no layout, the row loop runs.
  const Matrix spiky = ragged(64, [](int32_t i) { return i % 8 == 0 ? 30 : 1; }, 4);
  assert(csr_lanes(spiky.n, spiky.row_ptr.data(), spiky.col_idx.data(), spiky.values.data()) == nullptr);
  assert(csr_lanes(0, spiky.row_ptr.data(), spiky.col_idx.data(), spiky.values.data()) == nullptr);
}

inline void run_all() { test_lane_bits(); }

}  // namespace csr_lanes_test
