// Standalone checks of the relax solvers (numkern/relax.hpp), included by native_test.cc: every method
// on a CSR matrix and on the same stencil, thread and chunking invariance, CG breakdown, and index
// arrays that change under the solve (BadIndex, never a crash: run this under ASan/UBSan too).
#pragma once

#undef NDEBUG  // the checks are plain asserts, some with the call under test inside: never compiled out
#include <atomic>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "numkern/csr_lanes.hpp"
#include "numkern/parallel.hpp"
#include "numkern/linalg.hpp"
#include "numkern/relax.hpp"
#include "numkern/relax_rows.hpp"

namespace relax_test {

using namespace numkern::relax;
using numkern::CsrLanes;
using numkern::csr_lanes;
using numkern::csr_lanes_supported;

/// A stencil and its CSR twin (columns −z, −y, −x, diag, +x, +y, +z, as src/core/stencil.ts stores
/// them), plus the checkerboard colouring multicolorOrdering gives it.
struct Problem {
  int n = 0;
  StencilOp sten{};
  std::vector<double> vdiag, voff;
  std::vector<int32_t> row_ptr, col_idx, order, offsets;
  std::vector<double> values;

  CsrOp csr() const {  // diag_pos/diag null: relax_step finds them
    return CsrOp{n, row_ptr.data(), col_idx.data(), values.data(), nullptr, nullptr,
                 static_cast<int64_t>(values.size())};
  }
  Coloring coloring() const { return Coloring{order.data(), offsets.data(), static_cast<int32_t>(offsets.size()) - 1}; }
};

/// Constant: the Poisson stencil (4 or 6 on the diagonal, −1 off it). Variable: symmetric couplings in
/// (−1.5, −0.5) from a fixed formula, diagonal 1.1 × the sum of their magnitudes.
inline Problem make_problem(int dim, int nx, int ny, int nz, bool variable) {
  Problem P;
  P.n = nx * ny * (dim == 3 ? nz : 1);
  const int n = P.n;
  StencilOp& s = P.sten;
  s.dim = dim;
  s.nx = nx;
  s.ny = ny;
  s.nz = dim == 3 ? nz : 1;
  s.n = n;
  s.variable = variable;
  s.cdiag = 2.0 * dim;
  for (double& c : s.coff) c = -1;
  const int64_t stride[3] = {1, nx, static_cast<int64_t>(nx) * ny};
  // The coupling between i and its +axis neighbour, shared by both rows so the matrix is symmetric.
  const auto bond = [&](int64_t i, int axis) { return -(1.0 + 0.45 * std::sin(0.7 * static_cast<double>(i) + axis)); };
  if (variable) {
    P.vdiag.assign(n, 0);
    P.voff.assign(static_cast<size_t>(2 * dim) * n, 0);
  }
  const auto coord = [&](int64_t i, int axis) {
    return axis == 0 ? i % nx : axis == 1 ? (i / nx) % ny : i / stride[2];
  };
  const int extent[3] = {nx, ny, nz};
  P.row_ptr.push_back(0);
  for (int64_t i = 0; i < n; ++i) {
    double cf[6] = {0, 0, 0, 0, 0, 0};
    bool has[6] = {false, false, false, false, false, false};
    double sum = 0;
    for (int a = 0; a < dim; ++a) {
      has[2 * a] = coord(i, a) > 0;
      has[2 * a + 1] = coord(i, a) < extent[a] - 1;
      cf[2 * a] = has[2 * a] ? (variable ? bond(i - stride[a], a) : -1.0) : 0;
      cf[2 * a + 1] = has[2 * a + 1] ? (variable ? bond(i, a) : -1.0) : 0;
      sum -= cf[2 * a] + cf[2 * a + 1];
    }
    const double diag = variable ? 1.1 * sum : s.cdiag;
    if (variable) {
      P.vdiag[i] = diag;
      for (int d = 0; d < 2 * dim; ++d) P.voff[static_cast<size_t>(d) * n + i] = cf[d];
    }
    const auto put = [&](int64_t j, double v) {
      P.col_idx.push_back(static_cast<int32_t>(j));
      P.values.push_back(v);
    };
    for (int a = dim - 1; a >= 0; --a)
      if (has[2 * a]) put(i - stride[a], cf[2 * a]);
    put(i, diag);
    for (int a = 0; a < dim; ++a)
      if (has[2 * a + 1]) put(i + stride[a], cf[2 * a + 1]);
    P.row_ptr.push_back(static_cast<int32_t>(P.col_idx.size()));
  }
  if (variable) {
    s.vdiag = P.vdiag.data();
    s.voff = P.voff.data();
  }
  P.offsets.push_back(0);
  for (int c = 0; c < 2; ++c) {
    for (int64_t i = 0; i < n; ++i)
      if (((coord(i, 0) + coord(i, 1) + (dim == 3 ? coord(i, 2) : 0)) & 1) == c)
        P.order.push_back(static_cast<int32_t>(i));
    P.offsets.push_back(static_cast<int32_t>(P.order.size()));
  }
  return P;
}

struct Outcome {
  std::vector<double> x;
  double state[kStateLen];
  int status;
};

inline double omega_for(int method) { return method == Jacobi ? 0.8 : 1.5; }

/// Solves A x = b from x = 0 (b_i = 1 + sin i), max_updates per relax_step call until the solve ends.
template <class Op>
Outcome solve(const Op& A, int n, const Coloring* col, int method, int threads, int64_t max_updates, int64_t max_iter,
              double tol = 1e-8, double omega = -1, const double* b_in = nullptr) {
  std::vector<double> b(n), work(static_cast<size_t>(work_vectors(method)) * n);
  for (int i = 0; i < n; ++i) b[i] = b_in ? b_in[i] : 1 + std::sin(static_cast<double>(i));
  Outcome o;
  o.x.assign(n, 0.0);
  std::memset(o.state, 0, sizeof o.state);
  const Settings s{method, omega < 0 ? omega_for(method) : omega, tol, true, max_iter, 3};
  Work w = work_layout(method, work.data(), n);
  do {
    o.status = relax_step(A, s, col, b.data(), o.x.data(), w, o.state, max_updates, threads);
  } while (o.status == Running);
  assert(o.status == static_cast<int>(o.state[kStatus]));
  return o;
}

/// The same status, x and state, bit for bit; kStarted only as started or not (an SSOR-CG solve on two
/// threads marks its work vectors' order there).
inline bool same_bits(const Outcome& a, const Outcome& b) {
  double sa[kStateLen], sb[kStateLen];
  std::memcpy(sa, a.state, sizeof sa);
  std::memcpy(sb, b.state, sizeof sb);
  sa[kStarted] = sa[kStarted] != 0;
  sb[kStarted] = sb[kStarted] != 0;
  return a.status == b.status && std::memcmp(sa, sb, sizeof sa) == 0 &&
         std::memcmp(a.x.data(), b.x.data(), a.x.size() * sizeof(double)) == 0;
}

inline bool all_finite(const std::vector<double>& x) {
  for (double v : x)
    if (!std::isfinite(v)) return false;
  return true;
}

/// Every method converges on 2-D Poisson, CSR and stencil alike, in the same count to the same bits.
inline void test_methods_converge() {
  const Problem P = make_problem(2, 19, 17, 1, false);
  const CsrOp A = P.csr();
  const Coloring col = P.coloring();
  for (int m = Jacobi; m <= SsorCg; ++m) {
    const Coloring* c = m == SorRedBlack ? &col : nullptr;
    const Outcome oc = solve(A, P.n, c, m, 1, int64_t{1} << 40, 20000);
    const Outcome os = solve(P.sten, P.n, c, m, 1, int64_t{1} << 40, 20000);
    assert(oc.status == Converged);
    assert(oc.state[kFinal] <= 1e-7 * oc.state[kNrm0]);
    assert(same_bits(oc, os));
  }
}

/// Threads never change a result: 1 and 2 threads on grids large enough to be split (and to run the
/// two-thread SSOR-CG pipeline); and one call per update gives the bits of one call for all of them.
inline void test_threads_and_chunks() {
  const Problem probs[] = {make_problem(2, 190, 181, 1, false), make_problem(2, 190, 181, 1, true),
                           make_problem(3, 33, 32, 34, true), make_problem(3, 9, 7, 6, false)};
  for (const Problem& P : probs) {
    const CsrOp A = P.csr();
    const Coloring col = P.coloring();
    for (int m = Jacobi; m <= SsorCg; ++m) {
      const Coloring* c = m == SorRedBlack ? &col : nullptr;
      const Outcome one = solve(A, P.n, c, m, 1, int64_t{1} << 40, 12, 0);
      assert(one.status == MaxIter && one.state[kIter] == 12 && all_finite(one.x));
      assert(same_bits(one, solve(A, P.n, c, m, 2, int64_t{1} << 40, 12, 0)));
      assert(same_bits(one, solve(A, P.n, c, m, 2, 1, 12, 0)));
      assert(same_bits(one, solve(P.sten, P.n, c, m, 1, int64_t{1} << 40, 12, 0)));
      assert(same_bits(one, solve(P.sten, P.n, c, m, 2, 1, 12, 0)));
    }
  }
  // Chunked to convergence on a small grid: the same count and bits as one call.
  const Problem P = make_problem(2, 23, 21, 1, false);
  const Coloring col = P.coloring();
  for (int m = Jacobi; m <= SsorCg; ++m) {
    const Coloring* c = m == SorRedBlack ? &col : nullptr;
    const Outcome one = solve(P.csr(), P.n, c, m, 1, int64_t{1} << 40, 20000);
    assert(one.status == Converged);
    assert(same_bits(one, solve(P.csr(), P.n, c, m, 1, 1, 20000)));
    assert(same_bits(one, solve(P.sten, P.n, c, m, 2, 1, 20000)));
  }
}

/// SSOR-CG to max_iter updates (tol 0, b as solve's) in chunks of `chunk` updates, chunk k on
/// threads_for(k) threads and handed `split` (null: relax_step splits A itself).
template <class Threads>
Outcome ssor_cg_chunks(const CsrOp& A, int n, int64_t max_iter, int64_t chunk, Threads&& threads_for,
                       const CsrSsorSplit* split = nullptr) {
  std::vector<double> b(n), work(static_cast<size_t>(work_vectors(SsorCg)) * n);
  for (int i = 0; i < n; ++i) b[i] = 1 + std::sin(static_cast<double>(i));
  Outcome o;
  o.x.assign(n, 0.0);
  std::memset(o.state, 0, sizeof o.state);
  const Settings s{SsorCg, omega_for(SsorCg), 0, true, max_iter, 3};
  Work w = work_layout(SsorCg, work.data(), n);
  int k = 0;
  do o.status = relax_step(A, s, nullptr, b.data(), o.x.data(), w, o.state, chunk, threads_for(k++), split);
  while (o.status == Running);
  return o;
}

/// Storage for a CsrOp's located diagonal, which must outlive the operator's use.
struct Diagonal {
  std::vector<int32_t> pos;
  std::vector<double> val;
};
/// Locates A's diagonal (csr_find_diagonal) into D and points A at it.
inline void locate_diagonal(CsrOp& A, Diagonal& D) {
  D.pos.resize(static_cast<size_t>(A.n));
  D.val.resize(static_cast<size_t>(A.n));
  const bool ok = csr_find_diagonal(A.n, A.row_ptr, A.col_idx, A.values, D.pos.data(), D.val.data(), A.nnz);
  assert(ok);
  (void)ok;
  A.diag_pos = D.pos.data();
  A.diag = D.val.data();
}

/// A split made once (csr_ssor_split) and handed to every chunk gives the bits of a solve that splits A
/// at every call; so does a split made for the other thread count (relax_step then makes its own).
inline void test_ssor_split_reuse() {
  const Problem P = make_problem(2, 190, 181, 1, false);
  CsrOp A = P.csr();
  Diagonal dg;
  locate_diagonal(A, dg);
  for (int threads : {1, 2}) {
    const Outcome plain = solve(A, P.n, nullptr, SsorCg, threads, 3, 40, 0);
    for (int made_for : {1, 2}) {
      const auto split = csr_ssor_split(A, made_for);
      assert(same_bits(plain, ssor_cg_chunks(A, P.n, 40, 3, [=](int) { return threads; }, split.get())));
    }
  }
}

/// CG's curvature test is Breakdown; a residual that grows past 1e8·‖r_0‖ is Diverged.
inline void test_breakdown_and_divergence() {
  const int n = 40;
  std::vector<int32_t> rp(n + 1), ci(n);
  std::vector<double> v(n), b(n, 1.0);
  for (int i = 0; i < n; ++i) {
    rp[i + 1] = i + 1;
    ci[i] = i;
    v[i] = i % 2 ? -1.0 : 1.0;  // diag(1, −1, ...): pᵀAp = 0 for p = r_0 = 1
  }
  const CsrOp A{n, rp.data(), ci.data(), v.data(), nullptr, nullptr, n};
  for (int m : {Cg, SsorCg}) {
    const Outcome o = solve(A, n, nullptr, m, 1, int64_t{1} << 40, 100, 1e-8, 1.0, b.data());
    assert(o.status == Breakdown && o.state[kIter] == 0);
  }
  const Problem P = make_problem(2, 12, 11, 1, false);
  const Outcome o = solve(P.csr(), P.n, nullptr, Jacobi, 1, int64_t{1} << 40, 5000, 1e-8, 3.0);
  assert(o.status == Diverged);
}

/// How the diagonal reaches relax_step in expect_bad_index.
enum class Diag {
  kFound,         // null: relax_step finds it on every call, with CsrOp::nnz known
  kFoundBefore,   // found once before the change, as the binding finds it before a chunk that is then
                  // scribbled on: the kernels meet the bad index themselves
  kNnzUnknown,    // found by relax_step, CsrOp::nnz left at −1 (row_ptr[n] is the bound)
};

/// Runs every CSR method on P with one index changed by `spoil` before the first call (before = 0) or
/// after `before` updates: each stops with BadIndex, x finite, and stays stopped.
template <class Spoil>
void expect_bad_index(const Problem& P, Spoil&& spoil, int threads, int64_t before, Diag how = Diag::kFound) {
  for (int m = Jacobi; m <= SsorCg; ++m) {
    Problem Q = P;
    CsrOp A = Q.csr();
    if (how == Diag::kNnzUnknown) A.nnz = -1;
    std::vector<int32_t> dpos(Q.n);
    std::vector<double> dg(Q.n);
    if (how == Diag::kFoundBefore) {
      assert(csr_find_diagonal(Q.n, A.row_ptr, A.col_idx, A.values, dpos.data(), dg.data(), A.nnz));
      A.diag_pos = dpos.data();
      A.diag = dg.data();
    }
    const Coloring col = Q.coloring();
    std::vector<double> b(Q.n, 1.0), x(Q.n, 0.0), work(static_cast<size_t>(work_vectors(m)) * Q.n);
    double st[kStateLen] = {0};
    const Settings s{m, omega_for(m), 0.0, true, 1000, 2};
    Work w = work_layout(m, work.data(), Q.n);
    const Coloring* c = m == SorRedBlack ? &col : nullptr;
    if (before > 0) assert(relax_step(A, s, c, b.data(), x.data(), w, st, before, threads) == Running);
    spoil(Q);
    int status;
    do status = relax_step(A, s, c, b.data(), x.data(), w, st, 3, threads);
    while (status == Running);
    assert(status == BadIndex && st[kStatus] == BadIndex);
    assert(all_finite(x) && std::isfinite(st[kFinal]));
    assert(relax_step(A, s, c, b.data(), x.data(), w, st, 3, threads) == BadIndex);  // stays stopped
  }
}

inline void test_bad_indices() {
  const Problem small = make_problem(2, 13, 11, 1, false), big = make_problem(2, 190, 181, 1, false);
  for (const Problem* P : {&small, &big}) {
    const int n = P->n;
    const int32_t nnz = static_cast<int32_t>(P->values.size());
    for (Diag how : {Diag::kFound, Diag::kFoundBefore})
      for (int threads : {1, 2})
        for (int64_t before : {int64_t{0}, int64_t{4}}) {
          expect_bad_index(*P, [&](Problem& Q) { Q.col_idx[7] = n + 5; }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { Q.col_idx[nnz / 2] = -3; }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { Q.col_idx[nnz - 1] = n; }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { Q.row_ptr[5] = nnz + 10; }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { Q.row_ptr[n / 2] = -1; }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { std::swap(Q.row_ptr[9], Q.row_ptr[10]); }, threads, before, how);
          expect_bad_index(*P, [&](Problem& Q) { Q.row_ptr[n] = nnz + 1; }, threads, before, how);
        }
    // CsrOp::nnz unknown: row_ptr[n] is the bound, and a row past it is still caught.
    expect_bad_index(*P, [&](Problem& Q) { Q.row_ptr[3] = nnz + 1; }, 1, 0, Diag::kNnzUnknown);
  }
  // Valid row pointers that no longer put the diagonal where it was found: row 3 gains row 4's first
  // two entries, so row 4's diagonal position now lies in row 3. Every method that reads diag_pos
  // (all but Jacobi and CG) must see it; none may produce a non-finite x.
  {
    Problem Q = small;
    std::vector<int32_t> dpos(Q.n);
    std::vector<double> dg(Q.n);
    assert(csr_find_diagonal(Q.n, Q.row_ptr.data(), Q.col_idx.data(), Q.values.data(), dpos.data(), dg.data(),
                             static_cast<int64_t>(Q.values.size())));
    Q.row_ptr[4] += 2;
    for (int m = Jacobi; m <= SsorCg; ++m) {
      CsrOp A = Q.csr();
      A.diag_pos = dpos.data();
      A.diag = dg.data();
      const Coloring col = Q.coloring();
      const Outcome o = solve(A, Q.n, m == SorRedBlack ? &col : nullptr, m, 1, 5, 100);
      if (m != Jacobi && m != Cg) assert(o.status == BadIndex);
      assert(all_finite(o.x));
    }
    assert(!csr_find_diagonal(Q.n, Q.row_ptr.data(), Q.col_idx.data(), Q.values.data(), dpos.data(), dg.data(), 5));
  }
  // Row 3's diagonal entry moved to column 4, all indices in range: the row stores no diagonal, which
  // validated input never lacks. BadIndex for every method, whether relax_step finds the diagonal or
  // is handed the one csr_find_diagonal found (having said false) by a caller that did not look.
  {
    Problem Q = small;
    for (int32_t p = Q.row_ptr[3]; p < Q.row_ptr[4]; ++p)
      if (Q.col_idx[p] == 3) Q.col_idx[p] = 4;
    std::vector<int32_t> dpos(Q.n);
    std::vector<double> dg(Q.n);
    assert(!csr_find_diagonal(Q.n, Q.row_ptr.data(), Q.col_idx.data(), Q.values.data(), dpos.data(), dg.data(),
                              static_cast<int64_t>(Q.values.size())));
    for (int m = Jacobi; m <= SsorCg; ++m) {
      const Coloring col = Q.coloring();
      CsrOp A = Q.csr();
      const Outcome found = solve(A, Q.n, m == SorRedBlack ? &col : nullptr, m, 1, 5, 100);
      A.diag_pos = dpos.data();
      A.diag = dg.data();
      const Outcome given = solve(A, Q.n, m == SorRedBlack ? &col : nullptr, m, 1, 5, 100);
      assert(found.status == BadIndex && given.status == BadIndex && all_finite(found.x) && all_finite(given.x));
    }
  }
  // Colourings: an order entry or an offset out of range, on CSR and on a stencil (whose checkerboard
  // test then fails and the order array is followed).
  for (int spoil = 0; spoil < 3; ++spoil) {
    Problem Q = small;
    if (spoil == 0) Q.order[17] = Q.n + 1;
    if (spoil == 1) Q.order[3] = -7;
    if (spoil == 2) Q.offsets[1] = Q.n + 3;
    const Coloring col = Q.coloring();
    const Outcome oc = solve(Q.csr(), Q.n, &col, SorRedBlack, 1, 5, 100);
    const Outcome os = solve(Q.sten, Q.n, &col, SorRedBlack, 2, 5, 100);
    assert(oc.status == BadIndex && os.status == BadIndex && all_finite(oc.x) && all_finite(os.x));
  }
  assert(solve(small.sten, small.n, nullptr, SorRedBlack, 1, 5, 100).status == BadIndex);  // no colouring
}

/// Another thread scribbles on colIdx and rowPtr while the solve runs (within chunks and between
/// them): the solve ends in BadIndex with x finite, whatever it read. (A data race by design: ASan, not
/// TSan, is the tool for this one.)
inline void test_scribble_during_solve() {
  const Problem P = make_problem(2, 150, 140, 1, false);
  for (int m = Jacobi; m <= SsorCg; ++m) {
    Problem Q = P;
    std::atomic<bool> started{false}, stop{false};
    std::thread scribbler([&] {
      while (!started.load()) std::this_thread::yield();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      uint32_t k = 12345;
      const auto nnz = static_cast<uint32_t>(Q.values.size());
      while (!stop.load()) {
        k = k * 1664525u + 1013904223u;
        volatile int32_t* ci = Q.col_idx.data();
        volatile int32_t* rp = Q.row_ptr.data();
        ci[k % nnz] = (k & 1) ? Q.n + static_cast<int32_t>(k % 97) : -1 - static_cast<int32_t>(k % 89);
        if ((k & 15) == 0) rp[1 + (k >> 4) % static_cast<uint32_t>(Q.n - 1)] = static_cast<int32_t>(nnz + k % 50);
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    });
    const Coloring col = Q.coloring();
    std::vector<double> b(Q.n, 1.0), x(Q.n, 0.0), work(static_cast<size_t>(work_vectors(m)) * Q.n);
    double st[kStateLen] = {0};
    const Settings s{m, omega_for(m), 0.0, true, int64_t{1} << 40, 4};
    Work w = work_layout(m, work.data(), Q.n);
    const CsrOp A = Q.csr();
    started = true;
    int status;
    do status = relax_step(A, s, m == SorRedBlack ? &col : nullptr, b.data(), x.data(), w, st, 25, 2);
    while (status == Running);
    stop = true;
    scribbler.join();
    assert(status == BadIndex && all_finite(x));
  }
}

/// The row inlines the CUDA kernels share (relax_rows.hpp), on the host: a stencil's rows and its CSR
/// twin's give the same bits (row sums, SOR rows of a red-black sweep, Jacobi), and one Jacobi-type
/// sweep by the inlines reproduces relax_step's first Jacobi iterate bit for bit.
inline void test_row_inlines() {
  for (const bool variable : {false, true}) {
    for (const int dim : {2, 3}) {
      const Problem P = make_problem(dim, 7, 5, 4, variable);
      const int n = P.n;
      std::vector<int32_t> diag_pos(n);
      std::vector<double> diag(n);
      assert(csr_find_diagonal(n, P.row_ptr.data(), P.col_idx.data(), P.values.data(), diag_pos.data(), diag.data(),
                               static_cast<int64_t>(P.values.size())));
      std::vector<double> b(n), x(n);
      for (int i = 0; i < n; ++i) {
        b[i] = std::cos(0.3 * i);
        x[i] = 0.01 * (i % 13) - 0.05;
      }
      const int32_t nnz = static_cast<int32_t>(P.values.size());
      bool bad = false;
      const auto check_rows = [&](auto R) {
        // Row sums and the Jacobi update, as the device's residual and Jacobi kernels compute them.
        std::vector<double> xj(n);
        for (int i = 0; i < n; ++i) {
          const double s_csr = csr_row_sum(P.row_ptr.data(), P.col_idx.data(), P.values.data(), nnz, n, i, x.data(), bad);
          const double s_st = R.full(i, x.data(), R.at(i));
          assert(std::memcmp(&s_csr, &s_st, sizeof(double)) == 0);
          assert(R.diag(i) == diag[i]);
          xj[i] = jacobi_update(x[i], 0.8, b[i] - s_csr, diag[i]);
        }
        // relax_step's first Jacobi update from the same x0: the same bits.
        std::vector<double> xs = x, work(n);
        Settings st{Jacobi, 0.8, 0, true, 1, 1};
        double state[kStateLen] = {};
        Work w = work_layout(Jacobi, work.data(), n);
        relax_step(P.csr(), st, nullptr, b.data(), xs.data(), w, state, 1, 1);
        assert(state[kIter] == 1);
        assert(std::memcmp(xs.data(), xj.data(), sizeof(double) * n) == 0);
        // One red-black sweep, colour by colour, by the CSR and the stencil row updates.
        std::vector<double> xc = x, xt = x;
        const Coloring col = P.coloring();
        for (int c = 0; c < col.colors; ++c)
          for (int q = col.offsets[c]; q < col.offsets[c + 1]; ++q) {
            const int32_t i = col.order[q];
            csr_relax_row<true>(P.row_ptr.data(), P.col_idx.data(), P.values.data(), nnz, n, i, diag_pos[i], diag[i],
                                b.data(), xc.data(), 1.3, 1 - 1.3, bad);
            R.template relax_at<true>(i, R.at(i), b.data(), xt.data(), 1.3);
          }
        assert(std::memcmp(xc.data(), xt.data(), sizeof(double) * n) == 0);
        // ... and relax_step's sor-redblack sweep.
        std::vector<double> xr = x;
        Settings sr{SorRedBlack, 1.3, 0, true, 1, 1};
        double state2[kStateLen] = {};
        Work w2 = work_layout(SorRedBlack, work.data(), n);
        relax_step(P.sten, sr, &col, b.data(), xr.data(), w2, state2, 1, 1);
        assert(state2[kIter] == 1);
        assert(std::memcmp(xr.data(), xc.data(), sizeof(double) * n) == 0);
      };
      if (dim == 2 && !variable) check_rows(StencilRows<false, false>(P.sten));
      if (dim == 2 && variable) check_rows(StencilRows<true, false>(P.sten));
      if (dim == 3 && !variable) check_rows(StencilRows<false, true>(P.sten));
      if (dim == 3 && variable) check_rows(StencilRows<true, true>(P.sten));
      assert(!bad);
    }
  }
  // The CG updates are the oracle's expressions.
  assert(cg_step_x(1.0, 0.5, 3.0) == 1.0 + 0.5 * 3.0);
  assert(cg_step_r(1.0, 0.5, 3.0) == 1.0 - 0.5 * 3.0);
  assert(cg_direction(2.0, 0.25, 3.0) == 2.0 + 0.25 * 3.0);
  assert(jacobi_precondition(3.0, 4.0) == 0.75);
}

/// A trusted CSR copy (CsrOp::trusted: its row products skip the index re-checks) gives the bits of the
/// same arrays untrusted, for every method, one call or one update per call, on 1 and 2 threads; so does
/// the trusted copy whose row products run on its lane layout (CsrOp::lanes).
inline void test_trusted_csr() {
  const Problem probs[] = {make_problem(2, 23, 21, 1, true), make_problem(3, 33, 32, 34, true)};
  for (const Problem& P : probs) {
    CsrOp A = P.csr();
    Diagonal dg;
    locate_diagonal(A, dg);
    CsrOp T = A;
    T.trusted = true;
    // And with its products on the lane layout (numkern/csr_lanes.hpp) where this CPU has one.
    const std::unique_ptr<CsrLanes> lanes = csr_lanes(A.n, A.row_ptr, A.col_idx, A.values);
    assert((lanes != nullptr) == csr_lanes_supported());
    CsrOp L = T;
    L.lanes = lanes.get();
    const Coloring col = P.coloring();
    for (int m = Jacobi; m <= JacobiCg; ++m) {
      const Coloring* c = m == SorRedBlack ? &col : nullptr;
      for (int threads : {1, 2}) {
        const Outcome checked = solve(A, P.n, c, m, threads, int64_t{1} << 40, 60, 0);
        assert(checked.status == MaxIter && all_finite(checked.x));
        assert(same_bits(checked, solve(T, P.n, c, m, threads, int64_t{1} << 40, 60, 0)));
        assert(same_bits(checked, solve(T, P.n, c, m, threads, 1, 60, 0)));
        assert(same_bits(checked, solve(L, P.n, c, m, threads, int64_t{1} << 40, 60, 0)));
      }
    }
  }
}

/// first_beyond: the first entry that is NaN, ±Inf or past the bound, at block edges, in both dtypes.
inline void test_first_beyond() {
  for (const size_t n : {size_t{1}, size_t{1023}, size_t{1024}, size_t{3000}}) {
    std::vector<double> a(n, 1.0);
    std::vector<float> f(n, 1.0f);
    assert(numkern::first_beyond(n, a.data(), 1e150) == -1 && numkern::first_beyond(n, f.data(), 1e150) == -1);
    for (const size_t p : {size_t{0}, size_t{1023}, size_t{1024}, n - 1}) {
      if (p >= n) continue;
      for (const double bad : {std::nan(""), double{INFINITY}, -double{INFINITY}, 2e150, -2e150}) {
        std::vector<double> b = a;
        b[p] = bad;
        if (p + 3 < n) b[p + 3] = std::nan("");
        assert(numkern::first_beyond(n, b.data(), 1e150) == static_cast<int64_t>(p));
        std::vector<float> g = f;
        g[p] = static_cast<float>(bad > 1e38 ? double{INFINITY} : bad < -1e38 ? -double{INFINITY} : bad);
        assert(numkern::first_beyond(n, g.data(), 1e150) == static_cast<int64_t>(p));
      }
      std::vector<double> b = a;
      b[p] = 1e150;  // the bound itself passes
      assert(numkern::first_beyond(n, b.data(), 1e150) == -1);
    }
  }
}

inline void run_all() {
  test_row_inlines();
  test_trusted_csr();
  test_first_beyond();
  test_methods_converge();
  test_threads_and_chunks();
  test_ssor_split_reuse();
  test_breakdown_and_divergence();
  test_bad_indices();
  test_scribble_during_solve();
}

}  // namespace relax_test
