// Standalone checks of the level schedules of the natural-ordering sweeps (numkern/relax_levels.hpp),
// which the CUDA launchers run level by level: every dependency of a row lies in an earlier level, and
// the sweep run level by level on the host with the device's row functions (csr_relax_row_split,
// StencilRows::relax_split) gives the sequential sweep's bits, forward and backward; and SSOR-CG's three
// passes over CsrInPlaceSplit / StencilRows, level by level, give the sequential passes' bits. Included by
// native_test.cc after relax_test.hpp (make_problem).
#pragma once

#undef NDEBUG
#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../src/relax/eisenstat_lanes.hpp"  // private to numkern_core: the lane passes have no public API
#include "numkern/common.hpp"
#include "numkern/relax_levels.hpp"
#include "numkern/relax_rows.hpp"
#include "relax_test.hpp"

namespace relax_levels_test {

using namespace numkern::relax;

struct Csr {
  int32_t n = 0;
  std::vector<int32_t> row_ptr{0}, col_idx, diag_pos;
  std::vector<double> values, diag;
  void add(int32_t j, double v) {
    col_idx.push_back(j);
    values.push_back(v);
  }
  void end_row() { row_ptr.push_back(static_cast<int32_t>(col_idx.size())); ++n; }
  void find_diagonals() {
    diag_pos.assign(n, -1);
    diag.assign(n, 0);
    for (int32_t i = 0; i < n; ++i)
      for (int32_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p)
        if (col_idx[p] == i) {
          diag_pos[i] = p;
          diag[i] = values[p];
        }
  }
};

/// A deterministic generator (the checks must not depend on the platform's rand).
struct Lcg {
  uint64_t s;
  uint32_t next() { return static_cast<uint32_t>((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 33); }
  double unit() { return next() / 2147483648.0; }
};

/// A random sparse symmetric matrix, diagonally dominant (SPD), columns stored in a shuffled order.
inline Csr random_spd(int32_t n, int per_row, uint64_t seed) {
  Lcg g{seed};
  std::vector<std::vector<std::pair<int32_t, double>>> rows(n);
  for (int32_t i = 0; i < n; ++i)
    for (int k = 0; k < per_row; ++k) {
      const int32_t j = static_cast<int32_t>(g.next() % static_cast<uint32_t>(n));
      if (j == i) continue;
      const double v = -(0.1 + g.unit());
      rows[i].push_back({j, v});
      rows[j].push_back({i, v});
    }
  Csr A;
  for (int32_t i = 0; i < n; ++i) {
    double sum = 0;
    for (auto& e : rows[i]) sum -= e.second;
    rows[i].push_back({i, 1.5 * sum + 1});
    for (size_t k = rows[i].size(); k > 1; --k) std::swap(rows[i][k - 1], rows[i][g.next() % k]);  // unsorted
    for (auto& e : rows[i]) A.add(e.first, e.second);
    A.end_row();
  }
  A.find_diagonals();
  return A;
}

/// Rows with only a diagonal between coupled ones, and one dense-ish row coupled to every other column.
inline Csr sparse_and_dense(int32_t n) {
  Csr A;
  const int32_t dense = n / 2;
  for (int32_t i = 0; i < n; ++i) {
    if (i == dense) {
      for (int32_t j = 0; j < n; j += (j % 3 == 0 ? 1 : 2)) A.add(j, j == i ? 4.0 * n : -0.5);
    } else if (i % 4 == 1) {
      A.add(i, 3.0);  // no off-diagonal entry
    } else {
      if (i > 0) A.add(i - 1, -1.0);
      A.add(i, 4.0 * n);
      if (i + 3 < n) A.add(i + 3, -0.75);
      if (i % 3 == 0 && dense % 3 != 1) A.add(dense, -0.5);
    }
    A.end_row();
  }
  A.find_diagonals();
  return A;
}

/// Every row's stored columns on the swept side lie in earlier levels; each row appears once.
inline void check_schedule(const LevelSchedule& L, const Csr& A, bool fwd) {
  std::vector<int64_t> level(A.n, -1);
  assert(static_cast<int32_t>(L.order.size()) == A.n && L.offsets.front() == 0 && L.offsets.back() == A.n);
  for (int64_t l = 0; l < L.levels(); ++l) {
    assert(L.offsets[l] < L.offsets[l + 1]);  // no empty level
    for (int64_t q = L.offsets[l]; q < L.offsets[l + 1]; ++q) {
      assert(level[L.order[q]] == -1);
      level[L.order[q]] = l;
    }
  }
  for (int32_t i = 0; i < A.n; ++i)
    for (int32_t p = A.row_ptr[i]; p < A.row_ptr[i + 1]; ++p) {
      const int32_t j = A.col_idx[p];
      if (fwd ? j < i : j > i) assert(level[j] < level[i]);
    }
}

/// The sweep level by level (rows of a level in reverse order, as any order must do) against the
/// sequential sweep, bit for bit.
inline void check_sweep(const LevelSchedule& L, const Csr& A, bool fwd, double w) {
  std::vector<double> b(A.n), x(A.n), y, yo;
  for (int32_t i = 0; i < A.n; ++i) {
    b[i] = 1 + std::sin(0.3 * i);
    x[i] = std::cos(1.7 * i);
  }
  y = x;
  const int32_t nnz = static_cast<int32_t>(A.values.size());
  const uint32_t un = static_cast<uint32_t>(A.n);
  bool bad = false;
  for (int32_t k = 0; k < A.n; ++k) {
    const int32_t i = fwd ? k : A.n - 1 - k;
    if (fwd)
      csr_relax_row<true>(A.row_ptr.data(), A.col_idx.data(), A.values.data(), nnz, un, i, A.diag_pos[i], A.diag[i],
                          b.data(), x.data(), w, 1 - w, bad);
    else
      csr_relax_row<false>(A.row_ptr.data(), A.col_idx.data(), A.values.data(), nnz, un, i, A.diag_pos[i], A.diag[i],
                           b.data(), x.data(), w, 1 - w, bad);
  }
  yo = y;
  for (int64_t l = 0; l < L.levels(); ++l)
    for (int64_t q = L.offsets[l + 1] - 1; q >= L.offsets[l]; --q) {
      const int32_t i = L.order[q];
      if (fwd)
        csr_relax_row_split<true>(A.row_ptr.data(), A.col_idx.data(), A.values.data(), nnz, un, i, A.diag_pos[i],
                                  A.diag[i], b.data(), y.data(), yo.data(), w, 1 - w, bad);
      else
        csr_relax_row_split<false>(A.row_ptr.data(), A.col_idx.data(), A.values.data(), nnz, un, i, A.diag_pos[i],
                                   A.diag[i], b.data(), y.data(), yo.data(), w, 1 - w, bad);
    }
  assert(!bad);
  assert(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
}

inline void check_csr(const Csr& A) {
  for (const bool fwd : {true, false}) {
    const LevelSchedule L = csr_level_schedule(A.row_ptr.data(), A.col_idx.data(), A.n,
                                               static_cast<int64_t>(A.values.size()), fwd);
    check_schedule(L, A, fwd);
    for (const double w : {1.0, 1.5}) check_sweep(L, A, fwd, w);
  }
}

/// A stencil: its schedule is the CSR twin's, and relax_split level by level is relax_at's sweep.
template <bool VAR, bool D3>
void check_stencil(const relax_test::Problem& P) {
  const StencilRows<VAR, D3> rows(P.sten);
  Csr A;
  A.n = P.n;
  A.row_ptr = P.row_ptr;
  A.col_idx = P.col_idx;
  A.values = P.values;
  A.find_diagonals();
  for (const bool fwd : {true, false}) {
    const LevelSchedule L = stencil_level_schedule(rows, P.n, fwd);
    const LevelSchedule C = csr_level_schedule(A.row_ptr.data(), A.col_idx.data(), A.n,
                                               static_cast<int64_t>(A.values.size()), fwd);
    check_schedule(L, A, fwd);
    assert(L.offsets == C.offsets && L.order == C.order);
    std::vector<double> b(P.n), x(P.n), y, yo;
    for (int i = 0; i < P.n; ++i) {
      b[i] = 1 + std::sin(0.3 * i);
      x[i] = std::cos(1.7 * i);
    }
    y = x;
    yo = y;
    for (int k = 0; k < P.n; ++k) {
      const int64_t i = fwd ? k : P.n - 1 - k;
      if (fwd) rows.template relax_at<true>(i, rows.at(i), b.data(), x.data(), 1.5);
      else rows.template relax_at<false>(i, rows.at(i), b.data(), x.data(), 1.5);
    }
    for (int64_t l = 0; l < L.levels(); ++l)
      for (int64_t q = L.offsets[l + 1] - 1; q >= L.offsets[l]; --q) {
        const int64_t i = L.order[q];
        if (fwd) rows.template relax_split<true>(i, rows.at(i), b.data(), y.data(), yo.data(), 1.5);
        else rows.template relax_split<false>(i, rows.at(i), b.data(), y.data(), yo.data(), 1.5);
      }
    assert(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
  }
}

/// A with the entries of every row sorted by column (SSOR-CG's passes need it: CsrInPlaceSplit).
inline Csr sorted(const Csr& A) {
  Csr S;
  for (int32_t i = 0; i < A.n; ++i) {
    std::vector<std::pair<int32_t, double>> row;
    for (int32_t p = A.row_ptr[i]; p < A.row_ptr[i + 1]; ++p) row.push_back({A.col_idx[p], A.values[p]});
    std::sort(row.begin(), row.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& e : row) S.add(e.first, e.second);
    S.end_row();
  }
  S.find_diagonals();
  return S;
}

/// f(i) for every row, level by level (rows of a level in reverse), or in sequence (levels null).
template <class F>
void each_row(const LevelSchedule* L, int64_t n, bool fwd, F&& f) {
  if (L == nullptr) {
    for (int64_t k = 0; k < n; ++k) f(fwd ? k : n - 1 - k);
    return;
  }
  for (int64_t l = 0; l < L->levels(); ++l)
    for (int64_t q = L->offsets[l + 1] - 1; q >= L->offsets[l]; --q) f(static_cast<int64_t>(L->order[q]));
}

/// SSOR-CG's three passes (relax_rows.hpp: lower_solve_row, eisenstat_backward_row / _forward_row) over
/// Rows (CsrInPlaceSplit or StencilRows, as the device runs them) level by level equal the sequential
/// passes bit for bit: they read only rows already passed.
template <class Rows, class Diag>
void check_eisenstat(const Rows& R, int64_t n, Diag&& diag, const LevelSchedule& F, const LevelSchedule& B) {
  const double w = 1.3, beta = 0.7;
  std::vector<double> u(n), rh(n), ph0(n);
  for (int64_t i = 0; i < n; ++i) {
    u[i] = std::sin(0.9 * i) + 0.25;
    rh[i] = std::cos(0.4 * i);
    ph0[i] = std::sin(2.1 * i);
  }
  const auto run = [&](const LevelSchedule* f, const LevelSchedule* b, std::vector<double>* out) {
    std::vector<double> y(n, 0.0), ph = ph0, t(n, 0.0), v(n, 0.0), at(n, 0.0);
    each_row(f, n, true, [&](int64_t i) { lower_solve_row(R, i, R.at(i), w / diag(i), u.data(), y.data()); });
    each_row(b, n, false, [&](int64_t i) {
      eisenstat_backward_row(R, i, R.at(i), diag(i) / w, w / diag(i), beta, rh.data(), ph.data(), t.data());
    });
    each_row(f, n, true, [&](int64_t i) {
      eisenstat_forward_row(R, i, R.at(i), diag(i), diag(i) / w, w / diag(i), ph.data(), t.data(), v.data(), at.data());
    });
    for (auto* vec : {&y, &ph, &t, &v, &at}) out->insert(out->end(), vec->begin(), vec->end());
  };
  std::vector<double> seq, lev;
  run(nullptr, nullptr, &seq);
  run(&F, &B, &lev);
  assert(seq.size() == lev.size() && std::memcmp(seq.data(), lev.data(), seq.size() * sizeof(double)) == 0);
}

inline void check_eisenstat_csr(const Csr& A0) {
  const Csr A = sorted(A0);
  const CsrInPlaceSplit R{A.row_ptr.data(), A.col_idx.data(), A.values.data(), A.diag_pos.data()};
  const int64_t nnz = static_cast<int64_t>(A.values.size());
  check_eisenstat(R, A.n, [&](int64_t i) { return A.diag[i]; },
                  csr_level_schedule(A.row_ptr.data(), A.col_idx.data(), A.n, nnz, true),
                  csr_level_schedule(A.row_ptr.data(), A.col_idx.data(), A.n, nnz, false));
}

template <bool VAR, bool D3>
void check_eisenstat_stencil(const relax_test::Problem& P) {
  const StencilRows<VAR, D3> R(P.sten);
  check_eisenstat(R, P.n, [&](int64_t i) { return R.diag(i); }, stencil_level_schedule(R, P.n, true),
                  stencil_level_schedule(R, P.n, false));
}

/// SSOR-CG's passes in level-ordered lanes (native/src/relax/eisenstat_lanes.hpp), AVX-512 and portable,
/// equal the natural-order passes over the split bit for bit (ph, t, v, At t), non-finite inputs included.
inline void check_eisenstat_lanes(const Csr& A0) {
  namespace d = numkern::relax::detail;
  const Csr A = sorted(A0);
  const int32_t n = A.n;
  std::vector<int32_t> lp{0}, lc, up{0}, uc;
  std::vector<double> lv, uv;
  for (int32_t i = 0; i < n; ++i) {
    for (int32_t p = A.row_ptr[i]; p < A.row_ptr[i + 1] && A.col_idx[p] < i; ++p) {
      lc.push_back(A.col_idx[p]);
      lv.push_back(A.values[p]);
    }
    lp.push_back(static_cast<int32_t>(lc.size()));
  }
  for (int32_t k = 0; k < n; ++k) {
    const int32_t i = n - 1 - k;
    for (int32_t p = A.row_ptr[i + 1] - 1; p >= A.row_ptr[i] && A.col_idx[p] > i; --p) {
      uc.push_back(A.col_idx[p]);
      uv.push_back(A.values[p]);
    }
    up.push_back(static_cast<int32_t>(uc.size()));
  }
  const CsrSplit S{n, {lp.data(), lc.data(), lv.data()}, {up.data(), uc.data(), uv.data()}};
  const auto lower = d::pass_lanes(n, S.lower, true, true), upper = d::pass_lanes(n, S.upper, false, true);
  assert(lower != nullptr && upper != nullptr);
  const double w = 1.3, beta = 0.7;
  std::vector<double> dt(n), wd(n), rh(n), ph0(n);
  for (int32_t i = 0; i < n; ++i) {
    dt[i] = A.diag[i] / w;
    wd[i] = w / A.diag[i];
    rh[i] = i % 17 == 5 ? -0.0 : std::cos(0.4 * i);
    ph0[i] = std::sin(2.1 * i);
  }
  rh[n / 3] = std::numeric_limits<double>::infinity();  // reaches the rows coupled to it, as in natural order
  const d::LaneScale g(upper.get(), lower.get(), A.diag.data(), dt.data(), wd.data());
  const auto run = [&](int how) {  // 0: natural order, 1: lanes portable, 2: lanes AVX-512
    std::vector<double> ph = ph0, t(n, 0.0), v(n, 0.0), at(n, 0.0), out;
    if (how == 0) {
      for (int32_t i = n - 1; i >= 0; --i)
        eisenstat_backward_row(S, i, CsrSplit::At{}, dt[i], wd[i], beta, rh.data(), ph.data(), t.data());
      for (int32_t i = 0; i < n; ++i)
        eisenstat_forward_row(S, i, CsrSplit::At{}, A.diag[i], dt[i], wd[i], ph.data(), t.data(), v.data(), at.data());
    } else {
      d::lanes_backward(*upper, g, beta, rh.data(), ph.data(), t.data(), how == 1);
      d::lanes_forward(*lower, g, ph.data(), t.data(), v.data(), at.data(), how == 1);
    }
    for (auto* vec : {&ph, &t, &v, &at}) out.insert(out.end(), vec->begin(), vec->end());
    return out;
  };
  const std::vector<double> seq = run(0);
  for (int how = 1; how <= (numkern::cpu_x86_64_v4() ? 2 : 1); ++how) {
    const std::vector<double> lanes = run(how);
    assert(std::memcmp(seq.data(), lanes.data(), seq.size() * sizeof(double)) == 0);
  }
}

inline void run_all() {
  // Poisson 2-D (5-point) as CSR: levels are the anti-diagonals ix + iy.
  const relax_test::Problem p2 = relax_test::make_problem(2, 13, 9, 1, false);
  Csr A;
  A.n = p2.n;
  A.row_ptr = p2.row_ptr;
  A.col_idx = p2.col_idx;
  A.values = p2.values;
  A.find_diagonals();
  check_csr(A);
  const LevelSchedule L = csr_level_schedule(A.row_ptr.data(), A.col_idx.data(), A.n, static_cast<int64_t>(A.values.size()), true);
  assert(L.levels() == 13 + 9 - 1);
  check_csr(random_spd(300, 3, 7));
  check_csr(random_spd(64, 12, 11));
  check_csr(sparse_and_dense(97));
  check_stencil<false, false>(p2);
  check_stencil<true, false>(relax_test::make_problem(2, 7, 11, 1, true));
  check_stencil<false, true>(relax_test::make_problem(3, 5, 4, 6, false));
  check_stencil<true, true>(relax_test::make_problem(3, 4, 6, 5, true));
  check_eisenstat_csr(A);
  check_eisenstat_csr(random_spd(300, 3, 7));
  check_eisenstat_csr(random_spd(64, 12, 11));
  check_eisenstat_csr(sparse_and_dense(97));
  check_eisenstat_lanes(A);
  check_eisenstat_lanes(random_spd(300, 3, 7));
  check_eisenstat_lanes(random_spd(64, 12, 11));
  check_eisenstat_lanes(random_spd(2000, 5, 13));
  Csr zeros = random_spd(500, 4, 17);  // products of ±0: the masked lanes must keep each zero's sign
  for (size_t q = 0; q < zeros.values.size(); q += 7) zeros.values[q] = q % 2 ? 0.0 : -0.0;
  check_eisenstat_lanes(zeros);
  check_eisenstat_lanes(sparse_and_dense(97));
  check_eisenstat_stencil<false, false>(p2);
  check_eisenstat_stencil<true, false>(relax_test::make_problem(2, 7, 11, 1, true));
  check_eisenstat_stencil<false, true>(relax_test::make_problem(3, 5, 4, 6, false));
  check_eisenstat_stencil<true, true>(relax_test::make_problem(3, 4, 6, 5, true));
}

}  // namespace relax_levels_test
