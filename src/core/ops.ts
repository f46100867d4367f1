import type { CsrMatrix, FloatArray, LinearOperator } from './types.js';

/**
 * The kernel-level contract every backend implements, one entry per op.
 * Arguments arrive validated (shapes, dtypes, CSR structure, finiteness) by the façade;
 * outputs are preallocated by the façade with the input dtype and written in place,
 * so results are always plain typed arrays the caller owns.
 * All arrays of one call share one dtype.
 */
export interface OpTable {
  /** y := A x. */
  spmv: { args: { A: CsrMatrix; x: FloatArray; y: FloatArray }; result: void };
  /** Σ x_i y_i, accumulated in at least the input precision. */
  dot: { args: { x: FloatArray; y: FloatArray }; result: number };
  /** y := α x + y. */
  axpy: { args: { alpha: number; x: FloatArray; y: FloatArray }; result: void };
  /** ‖x‖₂, computed without overflow for finite x. */
  nrm2: { args: { x: FloatArray }; result: number };
  /**
   * Per-segment sum, mean and variance (two-pass, divisor count − ddof) of a ragged batch.
   * Empty segments give 0 for all three; segments with count ≤ ddof give variance 0.
   */
  /**
   * Runs a whole stationary or Krylov solve where the data lives (src/relax/README semantics):
   * x holds x0 on entry and the last iterate on exit. Iterations are counted as in Algorithm 1 of
   * Learning to Relax: the number of updates until the residual test passes, tested after every
   * `checkEvery` updates (and before the first).
   */
  relaxSolve: { args: RelaxArgs; result: RelaxOutcome };
  /** Many independent systems with one method and one set of options; a GPU runs them in one dispatch. */
  relaxSolveBatch: { args: { systems: readonly { A: LinearOperator; b: FloatArray; x: FloatArray; omega: number }[]; options: RelaxSettings }; result: RelaxOutcome[] };
  segmentedMoments: {
    args: { values: FloatArray; offsets: Int32Array; ddof: number; sum: FloatArray; mean: FloatArray; variance: FloatArray };
    result: void;
  };
}

export type RelaxMethod = 'jacobi' | 'gauss-seidel' | 'sor' | 'ssor' | 'sor-redblack' | 'cg' | 'ssor-cg';
export const RELAX_METHODS: readonly RelaxMethod[] = ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg'];

export interface RelaxSettings {
  readonly method: RelaxMethod;
  /** Stop when ‖r_k‖₂ ≤ tol·‖r_0‖₂ ('relative') or ‖r_k‖₂ ≤ tol ('absolute'). */
  readonly tol: number;
  readonly criterion: 'relative' | 'absolute';
  readonly maxIter: number;
  readonly checkEvery: number;
}

export interface RelaxArgs extends RelaxSettings {
  readonly A: LinearOperator;
  readonly b: FloatArray;
  readonly x: FloatArray;
  /** Relaxation parameter (SOR-type methods, damping for Jacobi, the SSOR preconditioner's ω for ssor-cg). */
  readonly omega: number;
}

export interface RelaxOutcome {
  iterations: number;
  /** ‖b − A x‖₂ at exit, in f64, for the returned x. */
  residualNorm: number;
  initialResidualNorm: number;
  converged: boolean;
  /** Stopped early because the residual grew past 1e8·‖r_0‖ or became non-finite (x is the last finite iterate). */
  diverged: boolean;
}

/** A residual past this many times ‖r_0‖ means the iteration diverges (non-SPD A or a bad ω): every backend stops there. */
export const DIVERGENCE_FACTOR = 1e8;

export type OpName = keyof OpTable;
export type OpArgs<K extends OpName> = OpTable[K]['args'];
export type OpResult<K extends OpName> = OpTable[K]['result'];

export const OP_NAMES: readonly OpName[] = ['spmv', 'dot', 'axpy', 'nrm2', 'segmentedMoments', 'relaxSolve', 'relaxSolveBatch'];
