// Relaxation and Krylov solvers (docs/relax.md §1, §2, §7) over CSR and stencil operators, in f64.
//
// The oracle is src/backends/js/relax.ts: every operation that can change an iteration count is
// reproduced in the same order with the same rounding (residual row sums in ascending column order
// from 0; the SOR update (1 − ω)·x_i + (b_i − σ_i)·(ω/a_ii) with σ_i taken right part first, left part
// last in a forward sweep and mirrored in a backward one; norms and dots in blocks of SUM_BLOCK rows, each
// block from 0 and the block sums in block order). numkern_core is compiled with -ffp-contract=off, so no
// target_clones variant fuses a multiply-add that JS rounds twice. Threads never change a result: the
// residual, spmv, dots and the Jacobi update are split on block boundaries, and red-black rows within a
// colour are independent.
//
// The solve runs in chunks: relax_step() advances at most max_updates updates and keeps everything it
// needs between calls in `state` and the caller-owned work vectors, so the caller can check for an
// abort or report progress between chunks without changing a single iterate.
//
// Index arrays are never trusted (docs/ARCHITECTURE.md §9): an async caller can write to rowPtr, colIdx
// or the colouring while a chunk runs. Every row pointer, column index and colour entry is re-checked
// where it is read (a branch never taken and a flag, relax_rows.hpp), and so is everything derived
// from them (diag_pos, SSOR-CG's split triangles and their two-thread layout): a bad one is read as a harmless
// in-range one, and the solve stops after the pass that met it with status BadIndex. x is then a finite
// mix of old and new iterates (for finite inputs), never the result of an out-of-bounds access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace numkern {
struct CsrLanes;  // numkern/csr_lanes.hpp
namespace relax {

constexpr int64_t kSumBlock = 4096;           // SUM_BLOCK of the oracle
constexpr double kDivergenceFactor = 1e8;     // DIVERGENCE_FACTOR of the oracle

enum Method : int { Jacobi = 0, GaussSeidel = 1, Sor = 2, Ssor = 3, SorRedBlack = 4, Cg = 5, SsorCg = 6, JacobiCg = 7 };
/// Diverged: the tested residual norm exceeds kDivergenceFactor·‖r_0‖ or is not finite (every method).
/// Breakdown: CG or SSOR-CG found !(pᵀAp > 0) (≤ 0 or NaN), the oracle's curvature test (A is not
/// positive definite); nothing else reports it. BadIndex: an index array changed under the solve (see
/// above); the solve stopped at once.
enum Status : int { Running = 0, Converged = 1, Diverged = 2, MaxIter = 3, Breakdown = 4, BadIndex = 5 };

/// Slots of the state vector (Float64Array on the JS side).
enum StateSlot : int {
  kIter = 0,      // updates done
  kNrm0 = 1,      // ‖r_0‖
  kTarget = 2,    // tol·‖r_0‖ or tol
  kNrm = 3,       // last tested residual norm (recurrence norm for CG)
  kRz = 4,        // rᵀz carried by CG between updates
  kStatus = 5,    // Status
  kStarted = 6,   // 1 once relax_step has computed r_0 (2: SSOR-CG's vectors in its two-thread order)
  kFinal = 7,     // true ‖b − A x‖ at exit
  kBeta = 8,      // SSOR-CG: the β still to be applied to the direction
  kStateLen = 9
};

struct Settings {
  int method;
  double omega;
  double tol;
  bool relative;
  int64_t max_iter;
  int64_t check_every;
};

/// CSR with the diagonal located as the oracle does: the last stored entry of column i in row i.
/// diag_pos and diag are the caller's own n-vectors from csr_find_diagonal(); null (both) lets
/// relax_step find them itself, with the same checks. A row that stores no diagonal (diag_pos −1) stops
/// the solve with BadIndex: validated input stores one in every row (E_ZERO_DIAGONAL), so its indices
/// changed.
/// nnz is how many entries col_idx and values hold (their length): every row range is checked against
/// it. −1, the default, means "unknown": row_ptr[n] is read once and taken as the length, which is
/// only as safe as that one read.
/// trusted: the arrays are an immutable private copy whose every index was checked when it was made
/// (row_ptr from 0 to nnz, nondecreasing; columns in [0, n); a diagonal in every row) and that nothing
/// writes — a solver session's or a prepared operator's (bindings/relax_system.hpp). The row products
/// (residual, CG's A p) then skip the per-index re-checks, which cost ~20% of a product; the sums are
/// the same. Never set it for arrays a caller can reach.
/// lanes: the same trusted matrix laid out for SpMV across rows (numkern/csr_lanes.hpp), or null; when set,
/// the row products read it instead of the CSR arrays (the same sums, ~25% less time). Only with trusted.
struct CsrOp {
  int32_t n;
  const int32_t* row_ptr;
  const int32_t* col_idx;
  const double* values;
  const int32_t* diag_pos;
  const double* diag;
  int64_t nnz = -1;
  bool trusted = false;
  const CsrLanes* lanes = nullptr;
};

/// 2-D or 3-D stencil, natural ordering (x fastest), Dirichlet: couplings across the boundary dropped.
/// Directions −x, +x, −y, +y, −z, +z. Constant: coeffs in cdiag/coff; variable: vdiag[n] and voff[dir][n]
/// (voff = one array of 2·dim·n values, direction-major). A constant zero coupling must not be passed
/// here: the oracle's CSR twin drops it, and 0·x differs from nothing when x overflows (use CSR).
struct StencilOp {
  int dim;
  int32_t nx, ny, nz;
  int32_t n;
  bool variable;
  double cdiag;
  double coff[6];
  const double* vdiag;
  const double* voff;
};

/// Colour classes for sor-redblack (src/core/coloring.ts): colour c owns order[offsets[c] .. offsets[c+1]).
/// A stencil coloured as the checkerboard (what multicolorOrdering gives every stencil) is relaxed by
/// parity, both colours in one pass over memory, without reading order; any other colouring is
/// followed as given. order holds n entries and offsets colors + 1; both are re-checked as they are
/// read, and sor-redblack without a colouring stops with BadIndex.
struct Coloring {
  const int32_t* order;
  const int32_t* offsets;
  int32_t colors;
};

/// Work vectors, each of n doubles. Stationary methods use r; CG r, p, q; SSOR-CG (Eisenstat's form)
/// all six: r, r̂ (z), p̂ (p), A t (q), t and v.
struct Work {
  double* r;
  double* z;
  double* p;
  double* q;
  double* t;
  double* v;
};

/// Whether a method takes a product with A every update (CG, Jacobi-CG, Jacobi), so that a lane layout
/// of A (CsrOp::lanes) pays for itself; the others take one only for the residual at a check.
constexpr bool products_every_update(int method) { return method == Cg || method == JacobiCg || method == Jacobi; }

/// How many n-vectors of work a method needs.
constexpr int work_vectors(int method) { return method == SsorCg ? 6 : method == JacobiCg ? 4 : method == Cg ? 3 : 1; }

/// A method's work vectors in one caller-owned array of work_vectors(method)·n doubles; the ones the
/// method does not use are null, so touching one faults rather than corrupts.
Work work_layout(int method, double* work, int64_t n);

/// Finds the diagonal as the oracle's prepare() does. diag_pos and diag have n entries. nnz as in
/// CsrOp (−1: row_ptr[n]). Returns false when a row range is not inside [0, nnz] (or decreases; that
/// row is then read as empty), a column is outside [0, n), or a row stores no diagonal (diag_pos −1,
/// diag 0: validated input stores one in every row, so its indices changed). The caller should then
/// report BadIndex instead of solving, which is what relax_step does when it is handed null
/// diag_pos/diag and finds them itself.
bool csr_find_diagonal(int32_t n, const int32_t* row_ptr, const int32_t* col_idx, const double* values,
                       int32_t* diag_pos, double* diag, int64_t nnz = -1);

/// SSOR-CG's split of one CSR matrix: its strict triangles copied in pass order, checked as they are
/// copied, the passes' two-thread layout and their lane layouts (src/relax/csr_triangles.hpp). Without one,
/// relax_step builds it, without lane layouts, at every call, i.e. every chunk; an owner of an immutable
/// copy of A (a session's or a prepared operator's) builds it once and hands it to every call. Opaque
/// outside the kernels.
struct CsrSsorSplit;
/// The split of A (diag_pos/diag set) for a solve on `threads` threads; never null (a bad index makes
/// a split that relax_step reports as BadIndex). lanes: also lay the passes out by level where that pays
/// (src/relax/eisenstat_lanes.hpp). The layouts are about one more copy of the triangles, whose first
/// touch costs more than a few-millisecond solve gains from them (~12 µs a page on the dev VM): worth
/// it for an operator that many solves share, not for a copy made for one solve.
std::shared_ptr<const CsrSsorSplit> csr_ssor_split(const CsrOp& A, int threads, bool lanes = true);
/// Whether `split` has the two-thread layout a solve on `threads` threads of an n-row matrix uses.
bool csr_ssor_split_fits(const CsrSsorSplit& split, int64_t n, int threads);

/// Advances the solve by at most max_updates updates (the first call also computes r_0 and may finish
/// with 0 updates). Returns state[kStatus]; once it is not Running, state[kFinal] holds the true residual
/// (after BadIndex, the residual as far as the checked indices let it be computed: finite, meaningless).
int relax_step(const CsrOp& A, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads, const CsrSsorSplit* split = nullptr);
int relax_step(const StencilOp& A, const Settings& s, const Coloring* coloring, const double* b, double* x, Work& w,
               double* state, int64_t max_updates, int threads);

}  // namespace relax
}  // namespace numkern
