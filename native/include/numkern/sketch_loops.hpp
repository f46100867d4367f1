// The sketch family's iterative loops on the CPU (native/src/sketch/loops.cc), resumable: all state lives
// in caller-owned arrays, so the binding can run a loop in slices of a few tens of milliseconds on the
// caller's arrays and let the event loop turn between them (src/backends/native/sketch.ts). The
// arithmetic is the oracle's (src/backends/js/sketch/lsqr.ts, kaczmarz.ts) with a threaded fused pass
// whose partial sums are combined in SUM_BLOCK order, so results do not depend on the thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "numkern/sketch.hpp"

namespace numkern {

// Stop codes shared with src/backends/native/sketch.ts (SKETCH_STOP_CODES there).
enum SketchStop : int { kStopRunning = 0, kStopCompatible = 1, kStopLeastSquares = 2, kStopConverged = 3,
                        kStopMaxIter = 4, kStopBreakdown = 5 };

// LSQR scalars (st[]): itn, stop, alpha, beta, phibar, rhobar, anorm, arnorm, bnorm, warmStart, phase.
constexpr int kLsqrScalars = 12;
/// LSQR work vectors: u (n) then v, w, dy, y0, tmp (rank each) then g, z (cols each).
inline size_t sketch_lsqr_work(size_t n, size_t r, size_t d) { return n + 5 * r + 2 * d; }

struct SketchLoopInput {
  const double* R;
  const int32_t* perm;
  size_t rank;
};

/// Runs LSQR from its state for at most budget_s seconds (at least one step); returns true when done
/// (the caller then finishes: x += P[R⁻¹dy; 0] happens here, the residual is the caller's call).
template <class T>
bool sketch_lsqr_run(const SketchOperandView<T>& A, const T* b, const SketchLoopInput& L, double* x, double* st,
                     double* work, double atol, double btol, int maxIter, double budget_s, int threads);

// Iterate scalars: itn, stop, rnorm, bestNorm, phase.
constexpr int kIterScalars = 8;
/// Iterate work: res (n), g, prev, best (cols each), t (rank).
inline size_t sketch_iterate_work(size_t n, size_t r, size_t d) { return n + 3 * d + r; }

template <class T>
bool sketch_iterate_run(const SketchOperandView<T>& A, const T* b, const SketchLoopInput& L, double* x, double* st,
                        double* work, double alpha, double beta, double tol, double normEst, double condEst,
                        int maxIter, double budget_s, int threads);

// Method 'sketch-cholesky' (docs/sketch.md §4.5; src/backends/js/sketch/cholesky.ts is the oracle).
// The Gram pass: G (rank × rank) := BᵀB, c := Bᵀb, B = A·P[:, :rank] (·R₁₁⁻¹ when R is not null), over
// row chunks of a size fixed by cols; the chunks form a fixed number of slabs (fixed by the shape), each
// slab summing its chunks in order into its own accumulator, and the slabs are added in order at the end:
// the same bits on any thread count. Resumable: st = {step, phase}; work holds the slabs' accumulators.
constexpr int kGramScalars = 4;
/// Doubles of Gram-pass work for an n × d operand at this rank.
size_t sketch_gram_work(size_t n, size_t d, size_t rank);
/// Runs the Gram pass from its state for at most budget_s seconds (at least one step); true when done.
/// use_blas: OpenBLAS's dtrsm/dsyrk/dgemv where linked, else (or when false) numkern's blocked kernels.
/// f32 (with OpenBLAS only; the caller asks for it only when G is a preconditioner): each chunk's BᵀB by
/// ssyrk on B rounded to f32, added to the f64 sums; c stays f64. sketch_gram_uses_f32 says whether it is.
template <class T>
bool sketch_gram_run(const SketchOperandView<T>& A, const T* b, const double* R, const int32_t* perm, size_t rank,
                     double* G, double* c, double* st, double* work, bool use_blas, bool f32, double budget_s,
                     int threads);
/// Whether sketch_gram_run forms G in f32 for these arguments (OpenBLAS linked and asked to, f32 asked).
bool sketch_gram_uses_f32(bool use_blas, bool f32);
// Refinement on the Cholesky factor U (rank × rank): st = {itn, stop, rnorm, prevY, phase}; work: res (n),
// g (cols), y (rank). The contract is SketchRefineArgs in src/sketch/ops.ts.
constexpr int kRefineScalars = 8;
inline size_t sketch_refine_work(size_t n, size_t r, size_t d) { return n + d + r; }
template <class T>
bool sketch_refine_run(const SketchOperandView<T>& A, const T* b, const double* R, const double* U,
                       const int32_t* perm, size_t rank, double* x, double* st, double* work, double tol,
                       double normEst, double condEst, int maxIter, double budget_s, int threads);

// Row-action scalars (Kaczmarz and sketch-and-project): projections done, phase (0 not started, 1 running,
// 2 finished), converged (0/1), the last residual norm.
enum SketchRowSlot : int { kRowDone = 0, kRowPhase = 1, kRowConverged = 2, kRowResidual = 3 };
constexpr int kRowScalars = 4;
/// Kaczmarz work: the residual (n), then the squared row norms (n) when block = 1.
inline size_t sketch_kaczmarz_work(size_t n, size_t block) { return block == 1 ? 2 * n : n; }

/// Randomized (block) Kaczmarz from its state for about budget_s seconds; true when done (the oracle's
/// loop and arithmetic: iteration t takes its rows from Philox counter t, so slices change nothing).
template <class T>
bool sketch_kaczmarz_run(const SketchOperandView<T>& A, const T* b, double* x, size_t block, const double* rowCdf,
                         const uint32_t key[2], double target, int maxIter, int checkEvery, double* st, double* work,
                         double budget_s, int threads);

/// Sketch-and-project from its state (work: the residual, n), at least one step a call; true when done.
template <class T>
bool sketch_project_run(const SketchOperandView<T>& A, const T* b, double* x, const SketchSpec& S, double target,
                        int maxIter, double* st, double* work, double budget_s, int threads);

}  // namespace numkern
