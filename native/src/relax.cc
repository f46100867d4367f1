// Relaxation and Krylov solvers: the operation-for-operation twin of src/backends/js/relax.ts
// (see native/include/numkern/relax.hpp for what is pinned down and why).
#include "numkern/relax.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>
#include <type_traits>
#include <vector>

#include "numkern/common.hpp"
#include "numkern/kernels.hpp"
#include "numkern/parallel.hpp"

namespace numkern {
namespace relax {
namespace {

// Rows per thread below which a fork costs more than the pass it splits.
constexpr size_t kRowGrain = 16384;

int64_t nblocks(int64_t n) { return (n + kSumBlock - 1) / kSumBlock; }

/// Runs body(block_begin, block_end, block_index) over the SUM_BLOCK blocks of [0, n), each block on
/// one thread, blocks split contiguously between threads.
template <class F>
void over_blocks(int64_t n, int nt, F&& body) {
  const int64_t nb = nblocks(n);
  parallel_run(nt, [&](int t, int T) {
    size_t b0, b1;
    even_split(static_cast<size_t>(nb), t, T, b0, b1);
    for (size_t k = b0; k < b1; ++k) {
      const int64_t i0 = static_cast<int64_t>(k) * kSumBlock;
      body(i0, std::min(n, i0 + kSumBlock), static_cast<int64_t>(k));
    }
  });
}

/// Block partials added in block order from 0: blockedDot's outer sum.
double sum_partials(const std::vector<double>& part) {
  double total = 0;
  for (double v : part) total += v;
  return total;
}

/// blockedSum of the oracle: Σ term(i), each block in order from 0, then the block sums in order.
template <class F>
double blocked_sum(int64_t n, int nt, F&& term) {
  std::vector<double> part(static_cast<size_t>(nblocks(n)));
  over_blocks(n, nt, [&](int64_t i0, int64_t i1, int64_t k) {
    double s = 0;
    for (int64_t i = i0; i < i1; ++i) s += term(i);
    part[static_cast<size_t>(k)] = s;
  });
  return sum_partials(part);
}

double blocked_dot(int64_t n, const double* x, const double* y, int nt) {
  return blocked_sum(n, nt, [&](int64_t i) { return x[i] * y[i]; });
}

// ---------------------------------------------------------------------------------------------------
// CSR

/// A sequential triangular pass over CSR rows, run on two threads as a pipeline. The rows, in pass
/// order (row i of a backward pass is n − 1 − i), are cut into chains: runs of rows each coupled to the
/// one before it, the grid lines of a 2-D grid. Each chain is cut in half; thread 0 solves the first
/// halves in order, thread 1 the second halves, and a half waits only until the other thread has
/// finished the halves its rows read. On a grid, the first half of line c + 1 reads only first halves,
/// so thread 0 runs ahead while thread 1 follows one half-line behind. Every row still comes after each
/// row it reads, so a pass gives exactly the values of natural order.
struct PipePlan {
  std::vector<int32_t> start;   // chain c = pass-order rows [start[c], start[c + 1])
  std::vector<int32_t> need_a;  // the first half of chain c waits for thread 1 to finish chain need_a[c]
  std::vector<int32_t> need_b;  // the second half of chain c waits for thread 0 to finish chain need_b[c]
  bool usable = false;          // false: natural order on one thread

  int32_t mid(int32_t c) const { return start[c] + (start[c + 1] - start[c]) / 2; }
};

/// Halves shorter than this cost more in waiting than they overlap.
constexpr int32_t kMinHalfChain = 32;

/// Builds the plan for a pass over n rows in which the row at pass position k reads the rows that
/// deps(k, f) hands to f (pass positions).
template <class Deps>
PipePlan pipe_plan(int32_t n, Deps&& deps) {
  PipePlan plan;
  std::vector<int32_t> chain(static_cast<size_t>(n));
  bool triangular = true;  // every row reads only rows before it (raw input may break this)
  for (int32_t k = 0; k < n; ++k) {
    bool continues = false;
    deps(k, [&](int32_t j) {
      continues = continues || j == k - 1;
      triangular = triangular && j < k;
    });
    if (!continues) plan.start.push_back(k);
    chain[static_cast<size_t>(k)] = static_cast<int32_t>(plan.start.size()) - 1;
  }
  plan.start.push_back(n);
  const int32_t chains = static_cast<int32_t>(plan.start.size()) - 1;
  if (!triangular || chains < 2 || n / chains < 2 * kMinHalfChain) return plan;
  plan.need_a.assign(static_cast<size_t>(chains), -1);
  plan.need_b.assign(static_cast<size_t>(chains), -1);
  for (int32_t c = 0; c < chains; ++c) {
    const int32_t m = plan.mid(c);
    for (int32_t k = plan.start[c]; k < plan.start[c + 1]; ++k) {
      const bool first = k < m;
      deps(k, [&](int32_t j) {
        const int32_t cj = chain[static_cast<size_t>(j)];
        const bool j_first = j < plan.mid(cj);
        if (first && !j_first) plan.need_a[c] = std::max(plan.need_a[c], cj);
        if (!first && j_first) plan.need_b[c] = std::max(plan.need_b[c], cj);
      });
    }
  }
  plan.usable = true;
  return plan;
}

/// Calls f(pass-order index) for every row: the plan's two-thread pipeline, or natural order.
template <class F>
void pipelined(const PipePlan& P, int32_t n, F&& f) {
  const int32_t chains = static_cast<int32_t>(P.start.size()) - 1;
  std::atomic<int32_t> done[2] = {{-1}, {-1}};  // last chain whose half each thread has finished
  const auto lane = [&](int t) {
    const std::vector<int32_t>& need = t == 0 ? P.need_a : P.need_b;
    for (int32_t c = 0; c < chains; ++c) {
      for (unsigned spins = 0; done[1 - t].load(std::memory_order_acquire) < need[c]; ++spins) {
        if (spins > 4096) std::this_thread::yield();  // the other thread may have been descheduled
      }
      const int32_t k0 = t == 0 ? P.start[c] : P.mid(c), k1 = t == 0 ? P.mid(c) : P.start[c + 1];
      for (int32_t k = k0; k < k1; ++k) f(k);
      done[t].store(c, std::memory_order_release);
    }
  };
  if (P.usable && run_pair(lane)) return;
  for (int32_t k = 0; k < n; ++k) f(k);
}

/// What SSOR-CG's triangular passes read of a CSR matrix: the entries left of the diagonal and those
/// right of it, each part in its own arrays in the order its pass visits them (the right part from the
/// last row back, each row's entries descending), so each pass streams half the matrix, forward in
/// memory, instead of all of it. Also the passes' two-thread plans.
class CsrTriangles {
 public:
  std::vector<int32_t> lower_ptr, lower_col, upper_ptr, upper_col;
  std::vector<double> lower_val, upper_val;
  PipePlan lower_plan, upper_plan;

  CsrTriangles(const CsrOp& A, bool two_threads) {
    // The two parts are independent: on two threads each builds one.
    parallel_run(two_threads ? 2 : 1, [&](int t, int T) {
      for (int part = t; part < 2; part += T) {
        if (part == 0) build_lower(A, two_threads);
        else build_upper(A, two_threads);
      }
    });
  }

 private:
  /// Row i's left part: [row_ptr[i], diag_pos[i]), ascending.
  void build_lower(const CsrOp& A, bool plan) {
    const int32_t n = A.n;
    lower_ptr.assign(static_cast<size_t>(n) + 1, 0);
    for (int32_t i = 0; i < n; ++i) lower_ptr[i + 1] = lower_ptr[i] + std::max(0, A.diag_pos[i] - A.row_ptr[i]);
    lower_col.resize(static_cast<size_t>(lower_ptr[n]));
    lower_val.resize(lower_col.size());
    for (int32_t i = 0; i < n; ++i)
      for (int32_t p = A.row_ptr[i], q = lower_ptr[i]; p < A.diag_pos[i]; ++p, ++q) {
        lower_col[q] = A.col_idx[p];
        lower_val[q] = A.values[p];
      }
    if (plan)
      lower_plan = pipe_plan(n, [&](int32_t k, auto&& f) {
        for (int32_t q = lower_ptr[k]; q < lower_ptr[k + 1]; ++q) f(lower_col[q]);
      });
  }

  /// Row i's right part: [max(diag_pos[i] + 1, row_ptr[i]), row_ptr[i + 1]), descending, stored at
  /// backward-pass position n − 1 − i.
  void build_upper(const CsrOp& A, bool plan) {
    const int32_t n = A.n;
    const auto right_begin = [&](int32_t i) { return std::max(A.diag_pos[i] + 1, A.row_ptr[i]); };
    upper_ptr.assign(static_cast<size_t>(n) + 1, 0);
    for (int32_t k = 0; k < n; ++k) upper_ptr[k + 1] = upper_ptr[k] + (A.row_ptr[n - k] - right_begin(n - 1 - k));
    upper_col.resize(static_cast<size_t>(upper_ptr[n]));
    upper_val.resize(upper_col.size());
    for (int32_t k = 0; k < n; ++k) {
      const int32_t i = n - 1 - k;
      for (int32_t p = A.row_ptr[i + 1] - 1, q = upper_ptr[k]; p >= right_begin(i); --p, ++q) {
        upper_col[q] = A.col_idx[p];
        upper_val[q] = A.values[p];
      }
    }
    if (plan)
      upper_plan = pipe_plan(n, [&](int32_t k, auto&& f) {
        for (int32_t q = upper_ptr[k]; q < upper_ptr[k + 1]; ++q) f(n - 1 - upper_col[q]);
      });
  }
};

/// relaxForward (FWD) / relaxBackward of the oracle on CSR row i: the part of the row updated earlier
/// in the sweep is added last, so the row-to-row chain through x_{i∓1} is one multiply and one add;
/// ω/a_ii is off the chain.
template <bool FWD>
NK_FORCEINLINE void csr_relax_row(const CsrOp& A, const double* __restrict b, double* __restrict x, double w, double omw,
                                  int32_t i) {
  const int32_t* __restrict ci = A.col_idx;
  const double* __restrict v = A.values;
  const int32_t d = A.diag_pos[i];
  const int32_t p0 = A.row_ptr[i], p1 = A.row_ptr[i + 1];
  double sigma = 0;
  if constexpr (FWD) {
    for (int32_t p = std::max(d + 1, p0); p < p1; ++p) sigma += v[p] * x[ci[p]];
    for (int32_t p = p0; p < d; ++p) sigma += v[p] * x[ci[p]];
  } else {
    for (int32_t p = p0; p < d; ++p) sigma += v[p] * x[ci[p]];
    for (int32_t p = p1 - 1, stop = std::max(d + 1, p0); p >= stop; --p) sigma += v[p] * x[ci[p]];
  }
  x[i] = omw * x[i] + (b[i] - sigma) * (w / A.diag[i]);
}

struct Csr {
  const CsrOp& A;
  const CsrTriangles* tri = nullptr;  // SSOR-CG only: what its triangular passes read
  int64_t n() const { return A.n; }
  double diag(int64_t i) const { return A.diag[i]; }
  static constexpr bool constant_diagonal() { return false; }

  NK_FORCEINLINE double row_sum(int64_t i, const double* x) const {
    double s = 0;
    for (int32_t p = A.row_ptr[i]; p < A.row_ptr[i + 1]; ++p) s += A.values[p] * x[A.col_idx[p]];
    return s;
  }

  NK_FORCEINLINE void relax_row(int64_t i, const double* b, double* x, double w) const {
    csr_relax_row<true>(A, b, x, w, 1 - w, static_cast<int32_t>(i));
  }

  void sweep_forward(const double* b, double* x, double w) const;
  void sweep_backward(const double* b, double* x, double w) const;

  /// Where a row sits: nothing a CSR row needs beyond i.
  struct At {};
  /// f(a_ij, j) for the entries stored left of the diagonal, ascending (diag_pos −1: none). Needs tri.
  template <class F>
  NK_FORCEINLINE void lower_ascending(int64_t i, At, F&& f) const {
    for (int32_t q = tri->lower_ptr[i]; q < tri->lower_ptr[i + 1]; ++q) f(tri->lower_val[q], tri->lower_col[q]);
  }
  /// f(a_ij, j) for the entries stored right of the diagonal, descending (diag_pos −1: the whole row).
  template <class F>
  NK_FORCEINLINE void upper_descending(int64_t i, At, F&& f) const {
    const int64_t k = A.n - 1 - i;
    for (int32_t q = tri->upper_ptr[k]; q < tri->upper_ptr[k + 1]; ++q) f(tri->upper_val[q], tri->upper_col[q]);
  }
  /// f(i, At) for every row so that each comes after the rows it reads in a forward (FWD) or backward
  /// triangular pass: the two-thread pipeline when there is a plan, natural (or reverse) order otherwise.
  template <bool FWD, class F>
  NK_FORCEINLINE void visit(F&& f) const {
    const int64_t last = A.n - 1;
    pipelined(FWD ? tri->lower_plan : tri->upper_plan, A.n, [&](int32_t k) { f(FWD ? k : last - k, At{}); });
  }

  template <class F>
  NK_FORCEINLINE void rows(int64_t i0, int64_t i1, const double* x, F&& f) const {
    for (int64_t i = i0; i < i1; ++i) f(i, row_sum(i, x));
  }
};

// The natural-order sweeps are the single-threaded hot loops of SOR/SSOR/Gauss-Seidel.
NK_CLONES void csr_forward(const CsrOp& A, const double* __restrict b, double* __restrict x, double w) {
  for (int32_t i = 0; i < A.n; ++i) csr_relax_row<true>(A, b, x, w, 1 - w, i);
}

NK_CLONES void csr_backward(const CsrOp& A, const double* __restrict b, double* __restrict x, double w) {
  for (int32_t i = A.n - 1; i >= 0; --i) csr_relax_row<false>(A, b, x, w, 1 - w, i);
}

void Csr::sweep_forward(const double* b, double* x, double w) const { csr_forward(A, b, x, w); }
void Csr::sweep_backward(const double* b, double* x, double w) const { csr_backward(A, b, x, w); }

// ---------------------------------------------------------------------------------------------------
// Stencils. Each row adds its neighbours in the CSR twin's column order −z, −y, −x, (diag), +x, +y, +z
// (src/core/stencil.ts), so a stencil and its twin give bit-identical iterates.

/// Visits every (iy, ix) of an nx × ny grid so that f sees each point after its −x and −y neighbours
/// (FWD) or after its +x and +y neighbours (!FWD, the mirror image), and before the others: exactly the
/// values natural (or reverse natural) order gives it. A point waits on the one before it in its line
/// (a chain of ~20 cycles through σ), but (ix, iy) and (ix − 1, iy + 1) are independent, so LINES lines
/// advance together on a diagonal wavefront, line l lagging l columns: LINES chains in flight.
template <int LINES, bool FWD, class F>
NK_FORCEINLINE void wavefront2d(int64_t nx, int64_t ny, F&& f) {
  auto at = [&](int64_t iy, int64_t ix) {
    if constexpr (FWD) f(iy, ix);
    else f(ny - 1 - iy, nx - 1 - ix);
  };
  int64_t iy = 0;
  for (; iy + LINES <= ny; iy += LINES) {
    for (int64_t t = 0; t < nx + LINES - 1; ++t) {
      if (t >= LINES - 1 && t < nx) {
        for (int l = 0; l < LINES; ++l) at(iy + l, t - l);
      } else {
        for (int l = 0; l < LINES; ++l) {
          const int64_t ix = t - l;
          if (ix >= 0 && ix < nx) at(iy + l, ix);
        }
      }
    }
  }
  for (; iy < ny; ++iy)
    for (int64_t ix = 0; ix < nx; ++ix) at(iy, ix);
}

constexpr int kWaveLines = 4;

/// Constant-coefficient 2-D SOR sweep on the wavefront; the row update is relaxForward/relaxBackward.
template <bool FWD>
NK_CLONES void sten2c_sweep_fast(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const int64_t nx = op.nx, ny = op.ny;
  const double cmx = op.coff[0], cpx = op.coff[1], cmy = op.coff[2], cpy = op.coff[3];
  const double omw = 1 - w;
  const double wd = w / op.cdiag;
  wavefront2d<kWaveLines, FWD>(nx, ny, [&](int64_t iy, int64_t ix) {
    const int64_t i = iy * nx + ix;
    double s = 0;
    if constexpr (FWD) {
      if (ix < nx - 1) s += cpx * x[i + 1];
      if (iy < ny - 1) s += cpy * x[i + nx];
      if (iy > 0) s += cmy * x[i - nx];
      if (ix > 0) s += cmx * x[i - 1];
    } else {
      if (iy > 0) s += cmy * x[i - nx];
      if (ix > 0) s += cmx * x[i - 1];
      if (iy < ny - 1) s += cpy * x[i + nx];
      if (ix < nx - 1) s += cpx * x[i + 1];
    }
    x[i] = omw * x[i] + (b[i] - s) * wd;
  });
}

template <bool VAR, bool D3>
struct Sten {
  const StencilOp& A;
  int64_t sy, sz;
  explicit Sten(const StencilOp& a) : A(a), sy(a.nx), sz(static_cast<int64_t>(a.nx) * a.ny) {}

  int64_t n() const { return A.n; }
  NK_FORCEINLINE double cf(int dir, int64_t i) const {
    if constexpr (VAR) return A.voff[static_cast<int64_t>(dir) * A.n + i];
    else return A.coff[dir];
  }
  NK_FORCEINLINE double diag(int64_t i) const {
    if constexpr (VAR) return A.vdiag[i];
    else return A.cdiag;
  }
  static constexpr bool constant_diagonal() { return !VAR; }
  /// Where a row sits: which neighbours exist.
  struct At {
    bool mx, px, my, py, mz, pz;
  };
  NK_FORCEINLINE At at(int64_t i) const {
    const int64_t ix = i % A.nx;
    const int64_t iy = (i / A.nx) % A.ny;
    const int64_t iz = i / sz;
    return At{ix > 0, ix < A.nx - 1, iy > 0, iy < A.ny - 1, D3 && iz > 0, D3 && iz < A.nz - 1};
  }
  /// f(a_ij, j) for the neighbours the CSR twin stores left of the diagonal, ascending: −z, −y, −x.
  template <class F>
  NK_FORCEINLINE void lower_ascending(int64_t i, const At& a, F&& f) const {
    if (D3 && a.mz) f(cf(4, i), i - sz);
    if (a.my) f(cf(2, i), i - sy);
    if (a.mx) f(cf(0, i), i - 1);
  }
  /// f(a_ij, j) for the neighbours right of the diagonal, descending: +z, +y, +x.
  template <class F>
  NK_FORCEINLINE void upper_descending(int64_t i, const At& a, F&& f) const {
    if (D3 && a.pz) f(cf(5, i), i + sz);
    if (a.py) f(cf(3, i), i + sy);
    if (a.px) f(cf(1, i), i + 1);
  }
  NK_FORCEINLINE void lower(double& s, const double* x, int64_t i, const At& a) const {
    lower_ascending(i, a, [&](double c, int64_t j) { s += c * x[j]; });
  }
  NK_FORCEINLINE void upper(double& s, const double* x, int64_t i, const At& a) const {
    if (a.px) s += cf(1, i) * x[i + 1];
    if (a.py) s += cf(3, i) * x[i + sy];
    if (D3 && a.pz) s += cf(5, i) * x[i + sz];
  }
  NK_FORCEINLINE void upper_desc_sum(double& s, const double* x, int64_t i, const At& a) const {
    upper_descending(i, a, [&](double c, int64_t j) { s += c * x[j]; });
  }
  NK_FORCEINLINE double full(int64_t i, const double* x, const At& a) const {
    double s = 0;
    lower(s, x, i, a);
    s += diag(i) * x[i];
    upper(s, x, i, a);
    return s;
  }
  /// relaxForward / relaxBackward of the oracle on the CSR twin's entries (right part then left part
  /// forward; left part then right part descending backward).
  template <bool FWD = true>
  NK_FORCEINLINE void relax_at(int64_t i, const At& a, const double* b, double* x, double w) const {
    double sigma = 0;
    if constexpr (FWD) {
      upper(sigma, x, i, a);
      lower(sigma, x, i, a);
    } else {
      lower(sigma, x, i, a);
      upper_desc_sum(sigma, x, i, a);
    }
    x[i] = (1 - w) * x[i] + (b[i] - sigma) * (w / diag(i));
  }
  NK_FORCEINLINE void relax_row(int64_t i, const double* b, double* x, double w) const { relax_at(i, at(i), b, x, w); }

  /// Calls f(i, At) for every row in natural order (or reverse), a line at a time so the neighbour flags
  /// are worked out per line instead of per row.
  template <bool FWD, class F>
  NK_FORCEINLINE void each(F&& f) const {
    const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
    for (int64_t kz = 0; kz < nz; ++kz) {
      const int64_t iz = FWD ? kz : nz - 1 - kz;
      for (int64_t ky = 0; ky < ny; ++ky) {
        const int64_t iy = FWD ? ky : ny - 1 - ky;
        const int64_t base = (iz * ny + iy) * nx;
        At a{false, false, iy > 0, iy < ny - 1, D3 && iz > 0, D3 && iz < nz - 1};
        for (int64_t kx = 0; kx < nx; ++kx) {
          const int64_t ix = FWD ? kx : nx - 1 - kx;
          a.mx = ix > 0;
          a.px = ix < nx - 1;
          f(base + ix, a);
        }
      }
    }
  }
  /// Rows [i0, i1) in natural order.
  template <class F>
  NK_FORCEINLINE void rows(int64_t i0, int64_t i1, const double* x, F&& f) const {
    for (int64_t i = i0; i < i1;) {
      At a = at(i);
      const int64_t line_end = std::min(i1, (i / A.nx + 1) * A.nx);
      for (int64_t ix = i % A.nx; i < line_end; ++i, ++ix) {
        a.mx = ix > 0;
        a.px = ix < A.nx - 1;
        f(i, full(i, x, a));
      }
    }
  }

  void sweep_forward(const double* b, double* x, double w) const;
  void sweep_backward(const double* b, double* x, double w) const;

  /// f(i, At) for every row so that each comes after its lower (FWD) or upper (!FWD) neighbours: the
  /// diagonal wavefront for the backward pass over a 2-D grid, natural order otherwise. Either order
  /// gives a triangular solve the same values. (SSOR-CG's forward pass, which reads two vectors at
  /// three points and writes two, measured 2–3× slower on the wavefront than in natural order.)
  template <bool FWD, class F>
  NK_FORCEINLINE void visit(F&& f) const {
    if constexpr (!D3 && !FWD) {
      const int64_t nx = A.nx, ny = A.ny;
      if (nx >= kWaveLines) {
        wavefront2d<kWaveLines, FWD>(nx, ny, [&](int64_t iy, int64_t ix) {
          f(iy * nx + ix, At{ix > 0, ix < nx - 1, iy > 0, iy < ny - 1, false, false});
        });
        return;
      }
    }
    each<FWD>(f);
  }
};

template <bool VAR, bool D3>
NK_CLONES void sten_forward(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const Sten<VAR, D3> S(op);
  S.template each<true>([&](int64_t i, const typename Sten<VAR, D3>::At& a) { S.relax_at(i, a, b, x, w); });
}

template <bool VAR, bool D3>
NK_CLONES void sten_backward(const StencilOp& op, const double* __restrict b, double* __restrict x, double w) {
  const Sten<VAR, D3> S(op);
  S.template each<false>([&](int64_t i, const typename Sten<VAR, D3>::At& a) { S.template relax_at<false>(i, a, b, x, w); });
}

template <bool VAR, bool D3>
void Sten<VAR, D3>::sweep_forward(const double* b, double* x, double w) const {
  if constexpr (!VAR && !D3) {
    if (A.nx >= kWaveLines) return sten2c_sweep_fast<true>(A, b, x, w);
  }
  sten_forward<VAR, D3>(A, b, x, w);
}
template <bool VAR, bool D3>
void Sten<VAR, D3>::sweep_backward(const double* b, double* x, double w) const {
  if constexpr (!VAR && !D3) {
    if (A.nx >= kWaveLines) return sten2c_sweep_fast<false>(A, b, x, w);
  }
  sten_backward<VAR, D3>(A, b, x, w);
}

// ---------------------------------------------------------------------------------------------------
// Red-black SOR on stencils. multicolorOrdering of a stencil's twin is the checkerboard, colour
// (ix + iy + iz) mod 2 with red = 0 first and rows ascending within a colour (checkerboard() makes
// sure of it), so the rows of a colour are found by parity instead of through the order array. Every
// neighbour of a row has the other colour: the rows of one colour may go in any order and on any
// thread, and the iterates are the oracle's whatever the split.
//
// A slab is a line (2-D) or a plane (3-D). The black rows of slab u see red rows of slabs u − 1, u and
// u + 1 only, and the red rows of slab u see black rows of those same slabs, still from the previous
// sweep while black lags one slab. So one pass relaxes red in slab u and then black in slab u − 1:
// x and b are read once and x written once per sweep, where two colour passes would move them twice.
// A thread owns a contiguous range of slabs; the black rows of its first and last slab need red rows
// of its neighbours' ranges and so wait for the one barrier of the sweep.

template <class Op>
struct IsStencil : std::false_type {};
template <bool VAR, bool D3>
struct IsStencil<Sten<VAR, D3>> : std::true_type {};

/// Whether the colouring is exactly the checkerboard in multicolorOrdering's layout. The order array
/// is compared entry by entry, so any other colouring keeps the generic path and its own order.
template <bool VAR, bool D3>
bool checkerboard(const Sten<VAR, D3>& S, const Coloring& col) {
  const StencilOp& A = S.A;
  const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
  if (col.colors < 0 || col.colors > 2) return false;
  int64_t q = 0;
  for (int c = 0; c < 2; ++c) {
    const int64_t end = col.offsets[std::min(c + 1, col.colors)];
    for (int64_t iz = 0; iz < nz; ++iz) {
      for (int64_t iy = 0; iy < ny; ++iy) {
        const int64_t p = (c + iy + iz) & 1;
        const int32_t m = static_cast<int32_t>((nx - p + 1) / 2);
        if (q + m > end) return false;
        const int32_t* o = col.order + q;
        const int32_t first = static_cast<int32_t>((iz * ny + iy) * nx + p);
        int32_t diff = 0;
        for (int32_t j = 0; j < m; ++j) diff |= o[j] ^ (first + 2 * j);
        if (diff != 0) return false;
        q += m;
      }
    }
    if (q != end) return false;
  }
  return true;
}

/// relaxForward of the rows ix = p + 2j, j in [j0, j1), of one interior line: every neighbour present.
/// The pointers are the line itself, its ±y and ±z neighbour lines, its b and (VAR) its couplings
/// c0..c5 (−x, +x, −y, +y, −z, +z) and diagonal, all offset by p, so row j sits at [2j] and its ±x
/// neighbours (the other colour) at [2j ± 1]. Written this way the loop vectorizes with unit-stride
/// loads de-interleaved in registers instead of gathers; only the stores are strided.
template <bool VAR, bool D3>
NK_FORCEINLINE void checker_span(const StencilOp& A, int64_t j0, int64_t j1, double* __restrict xc,
                                 const double* __restrict xpy, const double* __restrict xmy,
                                 const double* __restrict xpz, const double* __restrict xmz,
                                 const double* __restrict bc, const double* __restrict c0, const double* __restrict c1,
                                 const double* __restrict c2, const double* __restrict c3,
                                 const double* __restrict c4, const double* __restrict c5,
                                 const double* __restrict dg, double w) {
  const double omw = 1 - w;
  if constexpr (VAR) {
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t k = 2 * j;
      double s = 0;
      s += c1[k] * xc[k + 1];
      s += c3[k] * xpy[k];
      if constexpr (D3) {
        s += c5[k] * xpz[k];
        s += c4[k] * xmz[k];
      }
      s += c2[k] * xmy[k];
      s += c0[k] * xc[k - 1];
      xc[k] = omw * xc[k] + (bc[k] - s) * (w / dg[k]);
    }
  } else {
    const double cmx = A.coff[0], cpx = A.coff[1], cmy = A.coff[2], cpy = A.coff[3];
    const double cmz = D3 ? A.coff[4] : 0, cpz = D3 ? A.coff[5] : 0;
    const double wd = w / A.cdiag;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t k = 2 * j;
      double s = 0;
      s += cpx * xc[k + 1];
      s += cpy * xpy[k];
      if constexpr (D3) {
        s += cpz * xpz[k];
        s += cmz * xmz[k];
      }
      s += cmy * xmy[k];
      s += cmx * xc[k - 1];
      xc[k] = omw * xc[k] + (bc[k] - s) * wd;
    }
  }
}

/// Relaxes the rows of colour c in line (iy, iz). Rows missing a neighbour (grid faces) take the
/// generic row update, which skips the absent couplings as the CSR twin does.
template <bool VAR, bool D3>
NK_FORCEINLINE void checker_line(const Sten<VAR, D3>& S, const double* b, double* x, double w, int c, int64_t iy,
                                 int64_t iz) {
  const StencilOp& A = S.A;
  const int64_t nx = A.nx, ny = A.ny, nz = D3 ? A.nz : 1;
  const int64_t p = (c + iy + iz) & 1;
  const int64_t base = (iz * ny + iy) * nx;
  typename Sten<VAR, D3>::At a{false, false, iy > 0, iy < ny - 1, D3 && iz > 0, D3 && iz < nz - 1};
  const auto edge = [&](int64_t ix) __attribute__((always_inline)) {
    a.mx = ix > 0;
    a.px = ix < nx - 1;
    S.relax_at(base + ix, a, b, x, w);
  };
  if (!(a.my && a.py && (!D3 || (a.mz && a.pz)))) {
    for (int64_t ix = p; ix < nx; ix += 2) edge(ix);
    return;
  }
  int64_t j0 = 0, j1 = (nx - p + 1) / 2;
  if (j0 < j1 && p == 0) {
    edge(0);
    j0 = 1;
  }
  if (j0 < j1 && p + 2 * (j1 - 1) == nx - 1) {
    edge(nx - 1);
    --j1;
  }
  if (j0 >= j1) return;
  const int64_t i = base + p, n = A.n, sy = S.sy, sz = S.sz;
  const double* xpz = D3 ? x + i + sz : nullptr;
  const double* xmz = D3 ? x + i - sz : nullptr;
  if constexpr (VAR) {
    const double* v = A.voff;
    checker_span<VAR, D3>(A, j0, j1, x + i, x + i + sy, x + i - sy, xpz, xmz, b + i, v + i, v + n + i,
                          v + 2 * n + i, v + 3 * n + i, D3 ? v + 4 * n + i : nullptr,
                          D3 ? v + 5 * n + i : nullptr, A.vdiag + i, w);
  } else {
    checker_span<VAR, D3>(A, j0, j1, x + i, x + i + sy, x + i - sy, xpz, xmz, b + i, nullptr, nullptr, nullptr,
                          nullptr, nullptr, nullptr, nullptr, w);
  }
}

/// One thread's share of `levels` / 2 sweeps (one or two) over its slabs [u0, u1): everything but the
/// updates near a boundary shared with another thread (first phase), or, after the barrier, those near
/// the thread's lower boundary, on both sides of it (second phase). Update l = 0, 1, 2, 3 is red and
/// black of the first sweep, then red and black of the second. It runs on slab v at step v + l: after
/// update l − 1 has reached slab v + 1 and before update l + 1 reaches v − 1, so every row sees the
/// values the sweeps in sequence give it, and x and b are read and x written once for all of them.
/// Update l ≥ 1 on the l slabs either side of a shared boundary reads rows the other thread writes.
/// In 3-D (one sweep at a time) the black line (iy, u − 1) follows the red line (iy, u) at once: its
/// other red neighbours, in planes u − 1 and u − 2, are older, and (iy, u) is the red line's only black
/// neighbour in plane u − 1. The lines used by both then come from L1.
template <bool VAR, bool D3>
NK_CLONES void checker_pass(const StencilOp& op, const double* b, double* x, double w, int64_t u0, int64_t u1,
                            int levels, bool first_phase) {
  const Sten<VAR, D3> S(op);
  const int64_t slabs = D3 ? op.nz : op.ny;
  const auto near = [&](int l, int64_t v, int64_t B) { return B > 0 && B < slabs && v >= B - l && v < B + l; };
  const int64_t lines = D3 ? op.ny : 1;
  // checker_line is called directly, not through a lambda: a lambda would be compiled for the baseline
  // target rather than this clone's, and the line kernel would lose its vector code.
  if (!first_phase) {
    const int64_t B = u0;
    if (!(B > 0 && B < slabs)) return;
    for (int l = 1; l < levels; ++l)
      for (int64_t v = std::max<int64_t>(0, B - l); v < std::min(slabs, B + l); ++v)
        for (int64_t iy = 0; iy < lines; ++iy) {
          if constexpr (D3) checker_line(S, b, x, w, l & 1, iy, v);
          else checker_line(S, b, x, w, l & 1, v, 0);
        }
    return;
  }
  for (int64_t u = u0; u < u1 + levels - 1; ++u) {
    for (int64_t iy = 0; iy < lines; ++iy) {
      for (int l = 0; l < levels; ++l) {
        const int64_t v = u - l;
        if (v < u0 || v >= u1 || (l > 0 && (near(l, v, u0) || near(l, v, u1)))) continue;
        if constexpr (D3) checker_line(S, b, x, w, l & 1, iy, v);
        else checker_line(S, b, x, w, l & 1, v, 0);
      }
    }
  }
}

/// Runs first(t, nt) for every t, then second(t, nt) for every t, in one team with a barrier between
/// the phases. The parts of a phase never wait on each other, so a team that comes back smaller than
/// asked runs the missing members' parts as parallel_run does.
template <class F1, class F2>
void two_phase_run(int nt, F1&& first, F2&& second) {
#if defined(NUMKERN_HAVE_OPENMP)
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int got = omp_get_num_threads();
      for (int t = omp_get_thread_num(); t < nt; t += got) first(t, nt);
#pragma omp barrier
      for (int t = omp_get_thread_num(); t < nt; t += got) second(t, nt);
    }
    return;
  }
#endif
  parallel_run(nt, first);
  parallel_run(nt, second);
}

/// `sweeps` (one, or two on a 2-D grid) red-black sweeps of a stencil whose colouring is the
/// checkerboard, on up to nt threads, each owning at least 2·levels slabs so that the updates held back
/// around different boundaries never touch.
template <bool VAR, bool D3>
void checker_sweep(const Sten<VAR, D3>& S, const double* b, double* x, double w, int nt, int sweeps) {
  const StencilOp& op = S.A;
  const int levels = 2 * sweeps;
  const int64_t slabs = D3 ? op.nz : op.ny;
  const int t = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, slabs / (2 * levels))));
  const auto pass = [&](int k, int T, bool first_phase) {
    size_t a, e;
    even_split(static_cast<size_t>(slabs), k, T, a, e);
    checker_pass<VAR, D3>(op, b, x, w, static_cast<int64_t>(a), static_cast<int64_t>(e), levels, first_phase);
  };
  if (t <= 1) return pass(0, 1, true);
  two_phase_run(t, [&](int k, int T) { pass(k, T, true); }, [&](int k, int T) { pass(k, T, false); });
}

// ---------------------------------------------------------------------------------------------------
// SSOR-CG in Eisenstat's form (ssorCg of the oracle): per iteration one backward solve with D̃ + U and
// one forward solve with D̃ + L, D̃ = D/ω, and no product with A. Both passes are sequential; a row
// subtracts its neighbours one at a time with the one solved last entering last, so the row-to-row
// chain is one multiply, one subtract and the scaling by ω/a_ii.

/// d̃_i = a_ii/ω and ω/a_ii, divided once per chunk instead of per row and pass (the same roundings as
/// the oracle's per-row divisions); one scalar of each for a constant diagonal.
template <class Op>
struct DiagScale {
  static constexpr bool kConstant = Op::constant_diagonal();
  std::vector<double> dt, wd;
  double cdt = 0, cwd = 0;

  DiagScale(const Op& A, double w, int nt) {
    if constexpr (kConstant) {
      cdt = A.diag(0) / w;
      cwd = w / A.diag(0);
    } else {
      dt.resize(static_cast<size_t>(A.n()));
      wd.resize(static_cast<size_t>(A.n()));
      over_blocks(A.n(), nt, [&](int64_t i0, int64_t i1, int64_t) {
        for (int64_t i = i0; i < i1; ++i) {
          dt[static_cast<size_t>(i)] = A.diag(i) / w;
          wd[static_cast<size_t>(i)] = w / A.diag(i);
        }
      });
    }
  }
  NK_FORCEINLINE double dtil(int64_t i) const {
    if constexpr (kConstant) return cdt;
    else return dt[static_cast<size_t>(i)];
  }
  NK_FORCEINLINE double wdiv(int64_t i) const {
    if constexpr (kConstant) return cwd;
    else return wd[static_cast<size_t>(i)];
  }
};

/// (D̃ + L) y = u.
template <class Op>
NK_CLONES void lower_solve(const Op& A, const DiagScale<Op>& g, const double* __restrict u, double* __restrict y) {
  A.template visit<true>([&](int64_t i, const typename Op::At& a) {
    double s = u[i];
    A.lower_ascending(i, a, [&](double c, int64_t j) { s -= c * y[j]; });
    y[i] = s * g.wdiv(i);
  });
}

/// p̂ ← D̃ r̂ + β p̂ (the previous iteration's direction update), then (D̃ + U) t = p̂.
template <class Op>
NK_CLONES void eisenstat_backward(const Op& A, const DiagScale<Op>& g, const double* __restrict rh,
                                  double* __restrict ph, double* __restrict t, double beta) {
  A.template visit<false>([&](int64_t i, const typename Op::At& a) {
    const double p = g.dtil(i) * rh[i] + beta * ph[i];
    ph[i] = p;
    double s = p;
    A.upper_descending(i, a, [&](double c, int64_t j) { s -= c * t[j]; });
    t[i] = s * g.wdiv(i);
  });
}

/// (D̃ + L) v = p̂ + (D − 2D̃) t, and from the same entries A t = p̂ + (D − D̃) t + L t.
template <class Op>
NK_CLONES void eisenstat_forward(const Op& A, const DiagScale<Op>& g, const double* __restrict ph,
                                 const double* __restrict t, double* __restrict v, double* __restrict at) {
  A.template visit<true>([&](int64_t i, const typename Op::At& a) {
    const double aii = A.diag(i);
    const double dt = g.dtil(i);
    double s = ph[i] + (aii - 2 * dt) * t[i];
    double lt = 0;
    A.lower_ascending(i, a, [&](double c, int64_t j) {
      s -= c * v[j];
      lt += c * t[j];
    });
    v[i] = s * g.wdiv(i);
    at[i] = ph[i] + (aii - dt) * t[i] + lt;
  });
}

// ---------------------------------------------------------------------------------------------------
// The driver: stationary(), cg() and ssorCg() of the oracle, resumable.

template <class Op>
struct Driver {
  const Op& A;
  const Settings& s;
  const Coloring* col;
  const double* b;
  double* x;
  Work& w;
  int nt;        // threads for the row-parallel passes
  bool checker;  // sor-redblack on a stencil coloured as the checkerboard: no order array needed

  int64_t n() const { return A.n(); }

  /// r := b − A x; ‖r‖ with the blocked sum of squares.
  double residual(double* r) const {
    const int64_t N = n();
    std::vector<double> part(static_cast<size_t>(nblocks(N)));
    over_blocks(N, nt, [&](int64_t i0, int64_t i1, int64_t k) {
      double ss = 0;
      A.rows(i0, i1, x, [&](int64_t i, double rs) {
        const double ri = b[i] - rs;
        r[i] = ri;
        ss += ri * ri;
      });
      part[static_cast<size_t>(k)] = ss;
    });
    return std::sqrt(sum_partials(part));
  }

  void multiply(const double* p, double* q) const {
    over_blocks(n(), nt, [&](int64_t i0, int64_t i1, int64_t) { A.rows(i0, i1, p, [&](int64_t i, double rs) { q[i] = rs; }); });
  }

  template <class F>
  void elementwise(F&& f) const {
    over_blocks(n(), nt, [&](int64_t i0, int64_t i1, int64_t) {
      for (int64_t i = i0; i < i1; ++i) f(i);
    });
  }

  /// Whether redblack() can do two sweeps in one pass: a 2-D stencil coloured as the checkerboard.
  bool fuses_sweeps() const {
    if constexpr (IsStencil<Op>::value) return checker && A.A.dim == 2;
    return false;
  }

  /// `sweeps` multicolour sweeps (two only where fuses_sweeps()): colours in order, rows of a colour
  /// split statically between threads.
  void redblack(double omega, int sweeps) const {
    if constexpr (IsStencil<Op>::value) {
      if (checker) return checker_sweep(A, b, x, omega, nt, sweeps);
    }
    for (int32_t c = 0; c < col->colors; ++c) {
      const int64_t q0 = col->offsets[c], q1 = col->offsets[c + 1];
      const int64_t cnt = q1 - q0;
      const int t = plan_threads(nt, static_cast<size_t>(cnt), kRowGrain / 2);
      parallel_run(t, [&](int tid, int T) {
        size_t a, e;
        even_split(static_cast<size_t>(cnt), tid, T, a, e);
        for (size_t q = a; q < e; ++q) A.relax_row(col->order[q0 + static_cast<int64_t>(q)], b, x, omega);
      });
    }
  }

  int finish(double* st, int status, double* scratch) const {
    st[kStatus] = status;
    st[kFinal] = residual(scratch);
    return status;
  }

  /// Computes r_0 and the test's target on the first call; true when that already ends the solve.
  bool start(double* st, double* r, double* scratch) const {
    if (st[kStarted] != 0) return false;
    const double nrm0 = residual(r);
    st[kStarted] = 1;
    st[kIter] = 0;
    st[kNrm0] = nrm0;
    st[kTarget] = s.relative ? s.tol * nrm0 : s.tol;
    st[kNrm] = nrm0;
    if (nrm0 <= st[kTarget]) {
      finish(st, Converged, scratch);
      return true;
    }
    return false;
  }

  /// Whether the residual is tested after update k.
  bool is_check(int64_t k) const { return k % s.check_every == 0 || k == s.max_iter; }

  /// The test after update k (when k is a check): converged, diverged, or keep going (Running).
  int test(double* st, int64_t k, double nrm, double* scratch) const {
    if (!is_check(k)) return Running;
    st[kNrm] = nrm;
    if (nrm <= st[kTarget]) return finish(st, Converged, scratch);
    if (!(nrm <= kDivergenceFactor * st[kNrm0])) return finish(st, Diverged, scratch);
    return Running;
  }

  int step(double* st, int64_t max_updates) const {
    if (st[kStatus] != Running) return static_cast<int>(st[kStatus]);
    if (s.method == Cg) return cg(st, max_updates);
    if (s.method == SsorCg) return ssor_cg(st, max_updates);
    double* r = w.r;
    if (start(st, r, r)) return Converged;
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    const double omega = s.method == GaussSeidel ? 1 : s.omega;
    while (k < stop) {
      switch (s.method) {
        case Jacobi:
          // x ← x + ω D⁻¹ (b − A x): after a check r already holds the residual of this x.
          if (k % s.check_every != 0) residual(r);
          elementwise([&](int64_t i) { x[i] = x[i] + omega * (r[i] / A.diag(i)); });
          break;
        case Ssor:
          A.sweep_forward(b, x, omega);
          A.sweep_backward(b, x, omega);
          break;
        case SorRedBlack:
          // Two sweeps in one pass over memory when no test falls between them.
          if (fuses_sweeps() && k + 2 <= stop && !is_check(k + 1)) {
            redblack(omega, 2);
            ++k;
          } else {
            redblack(omega, 1);
          }
          break;
        default:
          A.sweep_forward(b, x, omega);
      }
      ++k;
      st[kIter] = static_cast<double>(k);
      if (is_check(k)) {
        const int status = test(st, k, residual(r), r);
        if (status != Running) return status;
      }
    }
    return k >= s.max_iter ? finish(st, MaxIter, r) : Running;
  }

  int64_t last_update(int64_t k, int64_t max_updates) const {
    return max_updates >= s.max_iter - k ? s.max_iter : k + max_updates;
  }

  int cg(double* st, int64_t max_updates) const {
    double* r = w.r;
    double* p = w.p;
    double* q = w.q;
    const int64_t N = n();
    if (st[kStarted] == 0) {
      if (start(st, r, q)) return Converged;
      std::copy(r, r + N, p);
      st[kRz] = blocked_dot(N, r, r, nt);
    }
    double rr = st[kRz];
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    while (k < stop) {
      multiply(p, q);
      const double pq = blocked_dot(N, p, q, nt);
      // pᵀAp ≤ 0 (or NaN): A is not SPD and CG has broken down.
      if (!(pq > 0)) return finish(st, Diverged, q);
      const double alpha = rr / pq;
      elementwise([&](int64_t i) {
        x[i] = x[i] + alpha * p[i];
        r[i] = r[i] - alpha * q[i];
      });
      ++k;
      st[kIter] = static_cast<double>(k);
      const double rr_new = blocked_dot(N, r, r, nt);
      // The recurrence residual decides convergence; the true one is reported (finish()).
      const int status = test(st, k, std::sqrt(rr_new), q);
      if (status != Running) return status;
      const double beta = rr_new / rr;
      rr = rr_new;
      st[kRz] = rr;
      elementwise([&](int64_t i) { p[i] = r[i] + beta * p[i]; });
    }
    return k >= s.max_iter ? finish(st, MaxIter, q) : Running;
  }

  /// ssorCg of the oracle. Between calls the state carries ρ = r̂ᵀD̃r̂ (kRz) and the β not yet applied to
  /// p̂ (kBeta): the direction update is the first thing the next backward pass does.
  int ssor_cg(double* st, int64_t max_updates) const {
    double* r = w.r;
    double* rh = w.z;
    double* ph = w.p;
    double* at = w.q;
    double* t = w.t;
    double* v = w.v;
    const int64_t N = n();
    const DiagScale<Op> g(A, s.omega, nt);
    const auto rho_term = [&](int64_t i) { return rh[i] * (g.dtil(i) * rh[i]); };
    if (st[kStarted] == 0) {
      if (start(st, r, at)) return Converged;
      lower_solve(A, g, r, rh);
      std::fill(ph, ph + N, 0.0);
      st[kRz] = blocked_sum(N, nt, rho_term);
      st[kBeta] = 0;
    }
    int64_t k = static_cast<int64_t>(st[kIter]);
    const int64_t stop = last_update(k, max_updates);
    const int64_t nb = nblocks(N);
    std::vector<double> part_rho(static_cast<size_t>(nb)), part_rr(static_cast<size_t>(nb));
    while (k < stop) {
      eisenstat_backward(A, g, rh, ph, t, st[kBeta]);
      eisenstat_forward(A, g, ph, t, v, at);
      const double pq = blocked_sum(N, nt, [&](int64_t i) { return ph[i] * (t[i] + v[i]); });
      // p̂ᵀÂp̂ ≤ 0 (or NaN): A is not SPD and CG has broken down.
      if (!(pq > 0)) return finish(st, Diverged, at);
      const double alpha = st[kRz] / pq;
      over_blocks(N, nt, [&](int64_t i0, int64_t i1, int64_t kb) {
        double sr = 0, srr = 0;
        for (int64_t i = i0; i < i1; ++i) {
          x[i] = x[i] + alpha * t[i];
          rh[i] = rh[i] - alpha * (t[i] + v[i]);
          r[i] = r[i] - alpha * at[i];
          sr += rho_term(i);
          srr += r[i] * r[i];
        }
        part_rho[static_cast<size_t>(kb)] = sr;
        part_rr[static_cast<size_t>(kb)] = srr;
      });
      ++k;
      st[kIter] = static_cast<double>(k);
      const double rho_new = sum_partials(part_rho);
      const int status = test(st, k, std::sqrt(sum_partials(part_rr)), at);
      if (status != Running) return status;
      st[kBeta] = rho_new / st[kRz];
      st[kRz] = rho_new;
    }
    return k >= s.max_iter ? finish(st, MaxIter, at) : Running;
  }
};

template <class Op>
int run_step(const Op& A, const Settings& s, const Coloring* col, const double* b, double* x, Work& w, double* st,
             int64_t max_updates, int threads) {
  const int nt = plan_threads(threads, static_cast<size_t>(A.n()), kRowGrain);
  bool checker = false;
  if constexpr (IsStencil<Op>::value) checker = s.method == SorRedBlack && col != nullptr && checkerboard(A, *col);
  Driver<Op> d{A, s, col, b, x, w, nt, checker};
  return d.step(st, max_updates);
}

}  // namespace

Work work_layout(int method, double* work, int64_t n) {
  const auto at = [&](int k) { return work + k * n; };
  if (method == SsorCg) return Work{at(0), at(1), at(2), at(3), at(4), at(5)};
  if (method == Cg) return Work{at(0), nullptr, at(1), at(2), nullptr, nullptr};
  return Work{at(0), nullptr, nullptr, nullptr, nullptr, nullptr};
}

void csr_find_diagonal(int32_t n, const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                       int32_t* diag_pos, double* diag) {
  for (int32_t i = 0; i < n; ++i) {
    diag_pos[i] = -1;
    diag[i] = 0;
    for (int32_t p = row_ptr[i]; p < row_ptr[i + 1]; ++p) {
      if (col_idx[p] == i) {
        diag_pos[i] = p;
        diag[i] = values[p];
      }
    }
  }
}

int relax_step(const CsrOp& A, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads) {
  if (s.method != SsorCg) return run_step(Csr{A}, s, coloring, b, x, w, state, max_updates, threads);
  const CsrTriangles tri(A, plan_threads(threads, static_cast<size_t>(A.n), kRowGrain) >= 2);
  return run_step(Csr{A, &tri}, s, coloring, b, x, w, state, max_updates, threads);
}

int relax_step(const StencilOp& A, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads) {
  if (A.dim == 3) {
    if (A.variable) return run_step(Sten<true, true>(A), s, coloring, b, x, w, state, max_updates, threads);
    return run_step(Sten<false, true>(A), s, coloring, b, x, w, state, max_updates, threads);
  }
  if (A.variable) return run_step(Sten<true, false>(A), s, coloring, b, x, w, state, max_updates, threads);
  return run_step(Sten<false, false>(A), s, coloring, b, x, w, state, max_updates, threads);
}

void sor_sweep(const CsrOp& A, const double* b, double* x, double omega) { csr_forward(A, b, x, omega); }

void sor_sweep(const StencilOp& A, const double* b, double* x, double omega) {
  if (A.dim == 3) {
    if (A.variable) return Sten<true, true>(A).sweep_forward(b, x, omega);
    return Sten<false, true>(A).sweep_forward(b, x, omega);
  }
  if (A.variable) return Sten<true, false>(A).sweep_forward(b, x, omega);
  return Sten<false, false>(A).sweep_forward(b, x, omega);
}

}  // namespace relax
}  // namespace numkern
