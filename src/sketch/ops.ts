/**
 * Op contracts of the sketch family (sketching for overdetermined least squares, docs/sketch.md).
 * Backends implement them in `src/backends/<b>/sketch.ts` (or `sketch/`); this file holds only the
 * contract and the tables every backend must agree on — a backend may import it, never the family's
 * orchestration.
 *
 * What is a kernel and what is not (docs/sketch.md §6):
 * - `sketchApply` — S applied to one row block of A (dense or CSR) and of b, S generated on the fly
 *   from Philox. The data-parallel pass over A; SRHT is one fused kernel (signs, permutation, FWHT,
 *   sample, scale).
 * - `sketchQr` — Householder QR with column pivoting of a dense f64 matrix (the m × d sketch, or A itself
 *   for method 'qr'), Qᵀ applied to one right-hand side. LAPACK's dgeqp3/dormqr where a backend has it.
 * - `sketchLsqr`, `sketchIterate`, `sketchKaczmarz`, `sketchProject` — whole iterative loops. They run
 *   where A lives (docs/ARCHITECTURE.md §2): every iteration reads all of A (or samples its rows), and
 *   a loop in the façade would cross the dispatch boundary (and, on a GPU, the bus) twice per iteration.
 * - `sketchResidual` — ‖b − A x‖₂ of a returned x, so every result reports its true residual.
 * - `sketchGram`, `sketchRefine` — method 'sketch-cholesky': the Gram matrix of A (or of A·R⁻¹) and Aᵀb in
 *   one BLAS-3 pass over A, and the refinement loop on its Cholesky factor (docs/sketch.md §4.5).
 * Triangular solves are not ops: they are d × d (microseconds) and are needed inside the loops, so each
 * loop kernel carries its own, and the façade does the one back-substitution of sketch-and-solve itself.
 */
import type { CsrMatrix, DenseMatrix, FloatArray } from '../core/types.js';

export type SketchKind = 'gaussian' | 'rademacher' | 'srht' | 'countsketch' | 'sparse-sign';
export const SKETCH_KINDS: readonly SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];
/** Kind codes of native/include/numkern/sketch.hpp (SketchKindCode), shared by the addon's CPU and CUDA entry points. */
export const SKETCH_KIND_CODES: Readonly<Record<SketchKind, number>> = { gaussian: 0, rademacher: 1, srht: 2, countsketch: 3, 'sparse-sign': 4 };
/** Kinds whose entries are derived from Philox words alone, without libm: the same bits on every backend. */
export const BIT_EXACT_KINDS: readonly SketchKind[] = ['rademacher', 'srht', 'countsketch', 'sparse-sign'];
/** Kinds with few nonzeros per column: no ℓ∞ guarantee (SYYZ23; docs/sketch.md §5). */
export const SPARSE_KINDS: readonly SketchKind[] = ['countsketch', 'sparse-sign'];

/**
 * Philox stream ids (docs/philox.md: word j of stream s under key = seed). Each purpose has its own
 * stream, so no two draws share a word. 0x534b = "SK".
 */
export const SKETCH_STREAMS = {
  /** Gaussian entry (k, i): word block ⌊j/4⌋, j = i·m + k (docs/sketch.md §2.1). */
  gaussian: 0x534b0001,
  /** Rademacher entry (k, i): bit j mod 32 of word ⌊j/32⌋, j = i·m + k. */
  rademacher: 0x534b0002,
  /** Sparse column i: words [2s·i, 2s·i + 2s). */
  sparse: 0x534b0003,
  /** SRHT sign σ_i: bit i mod 32 of word ⌊i/32⌋. */
  srhtSign: 0x534b0004,
  /** SRHT in-block Feistel permutation tables. */
  srhtPermutation: 0x534b0005,
  /** SRHT row sample (drawn by the façade and passed in `SketchOperator.srht.sample`). */
  srhtSample: 0x534b0006,
  /** Kaczmarz row draws: uniform from word t·block + l. */
  kaczmarz: 0x534b0007,
  /** Sketch-and-project: iteration t's sketch has the seed made of words 2t (low) and 2t + 1 (high). */
  project: 0x534b0008,
} as const;

/** Feistel rounds of the SRHT's in-block permutation (Luby–Rackoff: four rounds make a strong pseudo-random permutation). */
export const SRHT_FEISTEL_ROUNDS = 4;
/** The SRHT's smallest permutation block, 2^12 rows: one cache-resident Hadamard group (docs/sketch.md §2.3). */
export const SRHT_MIN_BLOCK = 4096;

/**
 * A sketch S (m × n) as a value: everything a kernel needs to generate any entry from (key, row,
 * column), so S is never stored and a row block needs nothing but its global row offset.
 *
 * SA := scale · (S₀ A), where S₀ has the unscaled entries (N(0,1), ±1) and the scale multiplies each
 * accumulated entry once at the end (docs/sketch.md §2).
 */
export interface SketchOperator {
  readonly kind: SketchKind;
  /** Rows of S (the sketch size). */
  readonly m: number;
  /** Columns of S: the rows of the whole A, of which a kernel may see one block. */
  readonly n: number;
  /** Nonzeros per column for countsketch (1) and sparse-sign (s ≤ m); 0 for dense kinds. */
  readonly nnzPerCol: number;
  /** Philox key: the seed's low and high 32 bits. */
  readonly key0: number;
  readonly key1: number;
  /** 1/√m (gaussian, rademacher, srht), 1/√s (sparse kinds), or 1 when the caller asked for the unscaled S₀. */
  readonly scale: number;
  /** SRHT only: padded length N = 2^⌈log₂ n⌉, permutation block B, and the m sampled rows of H_N (distinct, in draw order). */
  readonly srht: { readonly N: number; readonly B: number; readonly sample: Uint32Array } | null;
}

/** A least-squares operand: dense row-major or CSR. */
export type SketchOperand = DenseMatrix | CsrMatrix;

export function isCsr(A: SketchOperand): A is CsrMatrix {
  return (A as CsrMatrix).rowPtr !== undefined;
}

export function operandRows(A: SketchOperand): number {
  return isCsr(A) ? A.nrows : A.rows;
}

export function operandCols(A: SketchOperand): number {
  return isCsr(A) ? A.ncols : A.cols;
}

export function operandData(A: SketchOperand): FloatArray {
  return isCsr(A) ? A.values : A.data;
}

export interface SketchApplyArgs {
  readonly S: SketchOperator;
  /** Rows [rowOffset, rowOffset + rows) of the whole A (n rows). */
  readonly A: SketchOperand;
  readonly rowOffset: number;
  /** The same rows of b, or null. */
  readonly b: FloatArray | null;
  /** Out: m × cols row-major, overwritten (not accumulated). */
  readonly SA: Float64Array;
  /** Out: m, overwritten; null when b is. */
  readonly Sb: Float64Array | null;
  /**
   * The caller only needs a preconditioner (sketch-and-precondition refines x in f64), so a backend may
   * sketch in f32 and widen. False for ctx.sketch.apply and sketch-and-solve, whose SA is the answer.
   */
  readonly allowF32: boolean;
  /**
   * Optional screening of a dense A in the same pass (docs/sketch.md §1): a backend that does it reports
   * the first element with !(|a| ≤ screen) — NaN, ±Inf or past the limit — so the façade needs no scan
   * of its own. A backend may ignore it (returning nothing); the façade then scans A itself.
   */
  readonly screen?: number;
}

/** What a screening sketchApply reports: `screened` false (or no result) means A was not looked at. */
export interface SketchApplyOutcome {
  readonly screened: boolean;
  /** First flat index of A.data with !(|a| ≤ screen), −1 for none. SA is unspecified when ≥ 0. */
  readonly badIndex: number;
}

export interface SketchQrArgs {
  /** rows × cols row-major, destroyed (workspace). */
  readonly M: Float64Array;
  readonly rows: number;
  readonly cols: number;
  /** In: a length-rows right-hand side; out: Qᵀ rhs. Or null. */
  readonly rhs: Float64Array | null;
  /** Out: cols × cols row-major; the leading k × k upper triangle (k = min(rows, cols)) holds R, the rest is 0. */
  readonly R: Float64Array;
  /** Out: M·P = Q·R with P the permutation taking column j of M·P to column perm[j] of M. */
  readonly perm: Int32Array;
  /**
   * The kernel reports rank = the number of leading |R_jj| > rcond·|R_00| (stopping at the first that
   * is not; column pivoting makes |R_jj| non-increasing). 0 when R_00 = 0.
   */
  readonly rcond: number;
  /** As in SketchApplyArgs: an f32 factor is acceptable (a preconditioner only). */
  readonly allowF32: boolean;
}

/**
 * The shared shape of the least-squares loops. They work on the r = rank leading pivot columns:
 * Ā = A·P[:, :r]·R₁₁⁻¹ (n × r), with R₁₁ the leading r × r block of R; columns perm[r..] of x stay as
 * they enter. x enters holding x0 (the sketch-and-solve solution) and leaves holding the result.
 */
export interface SketchLoopArgs {
  readonly A: SketchOperand;
  readonly b: FloatArray;
  /** cols × cols row-major, upper triangular in its leading rank × rank block. */
  readonly R: Float64Array;
  readonly perm: Int32Array;
  readonly rank: number;
  readonly x: Float64Array;
  readonly maxIter: number;
}

/**
 * LSQR (Paige & Saunders 1982) on min ‖Ā·dy − r0‖, r0 = b − A x0, dy0 = 0; x = x0 + P[R₁₁⁻¹ dy; 0].
 * If ‖r0‖ ≥ ‖b‖ the warm start is dropped (x0 := 0), as PARLA and Blendenpik do. Stops (the LSQR
 * tests with the recurrence estimates) when ‖r‖ ≤ btol·‖b‖ + atol·‖Ā‖_F·‖y‖ ('compatible'), or
 * ‖Āᵀr‖ ≤ atol·‖Ā‖_F·‖r‖ ('least-squares'), with y = R₁₁·x_P + dy the iterate in Ā's coordinates.
 */
export interface SketchLsqrArgs extends SketchLoopArgs {
  readonly atol: number;
  readonly btol: number;
}

/**
 * Iterative sketching with momentum (Epperly, arXiv 2311.04362, code/iterative_sketching.m):
 *   x_{i+1} = x_i + α·P[R₁₁⁻¹R₁₁⁻ᵀ(Aᵀ(b − A x_i))_P; 0] + β·(x_i − x_{i−1}),
 * with r_i = b − A x_i recomputed every step. Stops when
 *   ‖r_{i+1} − r_i‖ ≤ tol·(normEst·‖x_{i+1}‖ + (1 + 0.01·condEst)·‖r_{i+1}‖):
 * Epperly's rule plus the computed residual's own rounding floor (one ulp of each r_i, u·‖r‖), without
 * which the rule never fires on a well-conditioned problem with a large residual (docs/sketch.md §4.3).
 * A residual that grows past 10× the smallest so far (or overflows) stops with 'breakdown'. Unless
 * converged, x leaves as the iterate of smallest residual (never worse than x0).
 */
export interface SketchIterateArgs extends SketchLoopArgs {
  readonly alpha: number;
  readonly beta: number;
  readonly tol: number;
  /** ‖R₁₁‖₂ and κ(R₁₁) estimates (the façade's, so every backend stops on the same numbers). */
  readonly normEst: number;
  readonly condEst: number;
}

/**
 * The Gram pass of method 'sketch-cholesky' (docs/sketch.md §4.5): with A_P = A·P[:, :r] (the r = rank
 * leading pivot columns) and B = A_P·R₁₁⁻¹ when R is given, else B = A_P: G := BᵀB (r × r, row-major,
 * both triangles) and c := Bᵀb (r). One pass over A; a backend sums rows in an order of its own that does
 * not depend on its thread count.
 */
export interface SketchGramArgs {
  readonly A: SketchOperand;
  readonly b: FloatArray;
  /** cols × cols row-major, upper triangular in its leading rank × rank block; null: the Gram of A_P itself. */
  readonly R: Float64Array | null;
  readonly perm: Int32Array;
  readonly rank: number;
  /** Out: rank × rank. */
  readonly G: Float64Array;
  /** Out: rank. */
  readonly c: Float64Array;
  /**
   * G is only a preconditioner (R null, refinement in f64 follows): a backend may form it from A rounded to
   * f32 with f32 products and sums over row chunks (the chunks then added in f64); c stays f64.
   */
  readonly allowF32: boolean;
}

export interface SketchGramOutcome {
  /** G was formed in f32 (allowF32 and the backend took it). */
  readonly f32: boolean;
}

/**
 * Refinement with the true residual on a Cholesky factor (method 'sketch-cholesky'; Björck's corrected
 * semi-normal equations): with U upper triangular (rank × rank) such that UᵀU ≈ BᵀB, B = A_P·R₁₁⁻¹ (or
 * A_P when R is null), step i computes r_i = b − A x_i and g = Aᵀr_i in one pass, then
 *   y = U⁻ᵀR₁₁⁻ᵀ(g)_P,  dx = R₁₁⁻¹U⁻¹y  (‖y‖ ≈ ‖A dx‖),
 * and stops with x_i ('converged') when ‖y‖ ≤ tol·(normEst·‖x_i‖ + (1 + 0.01·condEst)·‖r_i‖) (the rule of
 * SketchIterateArgs) or when ‖y‖ > ½ of the previous step's ‖y‖ at ‖y‖ ≤ √ε·(normEst·‖x_i‖ + ‖r_i‖) (the
 * correction stopped shrinking at the rounding floor); it stops with 'breakdown' when the correction stops
 * shrinking above that, or is not finite. Otherwise x_P += dx. x leaves as the last x_i, whose residual is
 * the one reported.
 */
export interface SketchRefineArgs {
  readonly A: SketchOperand;
  readonly b: FloatArray;
  readonly R: Float64Array | null;
  readonly U: Float64Array;
  readonly perm: Int32Array;
  readonly rank: number;
  readonly x: Float64Array;
  readonly tol: number;
  readonly normEst: number;
  readonly condEst: number;
  readonly maxIter: number;
}

export type SketchLoopStop = 'compatible' | 'least-squares' | 'converged' | 'max-iterations' | 'breakdown';

export interface SketchLoopOutcome {
  iterations: number;
  stop: SketchLoopStop;
  /** ‖b − A x‖₂ of the returned x, computed afresh (not a recurrence estimate). */
  residualNorm: number;
  /** LSQR only: ‖Āᵀr‖ estimate at exit. */
  arNorm?: number;
  /** Whether the warm start was kept (LSQR). */
  warmStart?: boolean;
}

/**
 * Randomized (block) Kaczmarz (Strohmer & Vershynin 2009; Needell & Tropp 2014). Projection t draws
 * `block` rows i with probability ‖a_i‖²/‖A‖_F²: row = the least i with rowCdf[i] > u·rowCdf[n−1],
 * u = uniform01(word t·block + l of stream SKETCH_STREAMS.kaczmarz), l = 0..block−1 (with replacement).
 * Update x += A_τ⁺ (b_τ − A_τ x). The residual is tested every checkEvery projections (and at the start).
 */
export interface SketchKaczmarzArgs {
  readonly A: SketchOperand;
  readonly b: FloatArray;
  readonly x: Float64Array;
  readonly block: number;
  /** Running sums of ‖a_i‖² in row order (the façade's, so every backend draws the same rows). */
  readonly rowCdf: Float64Array;
  readonly key0: number;
  readonly key1: number;
  /** Stop when ‖b − A x‖ ≤ target (absolute: the façade turned tol into tol·‖b‖). */
  readonly target: number;
  readonly maxIter: number;
  readonly checkEvery: number;
}

/**
 * Sketch-and-project (Gower & Richtárik 2015) with B = I: iteration t draws S_t (q × n, the sketch
 * `S` with its key replaced by iteration t's seed, SKETCH_STREAMS.project) and sets
 * x −= (S_t A)⁺ S_t (A x − b). The residual is tested after every iteration (it is needed anyway).
 */
export interface SketchProjectArgs {
  readonly A: SketchOperand;
  readonly b: FloatArray;
  readonly x: Float64Array;
  /** The per-iteration sketch template: kind, m = q, nnzPerCol, key = the user's seed, scale; never srht. */
  readonly S: SketchOperator;
  readonly target: number;
  readonly maxIter: number;
}

export interface SketchSolveOutcome {
  iterations: number;
  converged: boolean;
  /** ‖b − A x‖₂ of the returned x. */
  residualNorm: number;
}

declare module '../core/ops.js' {
  interface OpTable {
    /** SA := S·A_block (and Sb := S·b_block) for one row block at a global row offset; dtype = A's. */
    sketchApply: { args: SketchApplyArgs; result: SketchApplyOutcome | void };
    /** Pivoted Householder QR of a dense f64 matrix, Qᵀ applied to rhs; dtype 'f64'. */
    sketchQr: { args: SketchQrArgs; result: { rank: number } };
    /** ‖b − A x‖₂ in f64: row sums in column order, squares summed in blocks of SUM_BLOCK (src/core/operator.ts). */
    sketchResidual: { args: { A: SketchOperand; b: FloatArray; x: Float64Array }; result: number };
    /** The LSQR loop of sketch-and-precondition. */
    sketchLsqr: { args: SketchLsqrArgs; result: SketchLoopOutcome };
    /** The momentum loop of iterative sketching. */
    sketchIterate: { args: SketchIterateArgs; result: SketchLoopOutcome };
    /** The Gram pass of 'sketch-cholesky'. */
    sketchGram: { args: SketchGramArgs; result: SketchGramOutcome };
    /** The refinement loop of 'sketch-cholesky'. */
    sketchRefine: { args: SketchRefineArgs; result: SketchLoopOutcome };
    /**
     * Randomized Kaczmarz's row table: cdf[i] = Σ_{k ≤ i} ‖a_k‖², each ‖a_k‖² summed in stored order from +0
     * and the running sum in row order; dtype = A's.
     */
    sketchRowCdf: { args: { A: SketchOperand; cdf: Float64Array }; result: void };
    /** Randomized (block) Kaczmarz. */
    sketchKaczmarz: { args: SketchKaczmarzArgs; result: SketchSolveOutcome };
    /** Sketch-and-project. */
    sketchProject: { args: SketchProjectArgs; result: SketchSolveOutcome };
  }
}

export const SKETCH_OPS = [
  'sketchApply', 'sketchQr', 'sketchResidual', 'sketchLsqr', 'sketchIterate', 'sketchGram', 'sketchRefine', 'sketchRowCdf', 'sketchKaczmarz',
  'sketchProject',
] as const;
