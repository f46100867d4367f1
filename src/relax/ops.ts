/**
 * Op contracts of the relax family: the whole iteration of one system (or a batch) runs on one
 * backend, where the data lives. Backends implement them in `src/backends/<b>/relax*`; this file holds
 * only the contract and the tables every backend must agree on (a backend may import it, never the
 * family's orchestration).
 */
import type { FloatArray, LinearOperator } from '../core/types.js';

/**
 * Kernel methods. 'ssor-cg' and 'jacobi-cg' are CG with the SSOR or the diagonal preconditioner: the
 * façade also accepts them as `{method: 'cg', preconditioner}` (src/relax/solve.ts).
 */
export type RelaxMethod = 'jacobi' | 'gauss-seidel' | 'sor' | 'ssor' | 'sor-redblack' | 'cg' | 'ssor-cg' | 'jacobi-cg';
export const RELAX_METHODS: readonly RelaxMethod[] = ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'jacobi-cg'];

/** Methods that are CG (with or without a preconditioner): their recurrence residual decides, and they need an SPD matrix. */
export const CG_METHODS: readonly RelaxMethod[] = ['cg', 'ssor-cg', 'jacobi-cg'];

export interface RelaxSettings {
  readonly method: RelaxMethod;
  /** Stop when ‖r_k‖₂ ≤ tol·‖r_0‖₂ ('relative') or ‖r_k‖₂ ≤ tol ('absolute'). */
  readonly tol: number;
  readonly criterion: 'relative' | 'absolute';
  readonly maxIter: number;
  readonly checkEvery: number;
}

/**
 * Identity of an explicitly prepared operator (ctx.relax.prepare): its arrays are a private snapshot
 * nobody can edit, so a backend may keep what it derives from them (widened values, the diagonal, split
 * triangles, colourings, device uploads) keyed by this token, and must release it when the token is
 * disposed. Without a token a backend must not trust any cache keyed by the operator object.
 */
export interface PreparedToken {
  readonly disposed: boolean;
  /** Registers a release function, run once when the prepared operator is disposed. */
  own(release: () => void): void;
}

export interface RelaxArgs extends RelaxSettings {
  readonly A: LinearOperator;
  /** Present when A is a prepared operator's snapshot. */
  readonly prepared?: PreparedToken;
  readonly b: FloatArray;
  /** x0 on entry, the last iterate on exit. */
  readonly x: FloatArray;
  /** Relaxation parameter (SOR-type methods, damping for Jacobi, the SSOR preconditioner's ω for ssor-cg). */
  readonly omega: number;
}

/**
 * What a backend reports. Iterations are counted as in Algorithm 1 of Learning to Relax: the number of
 * updates until the residual test passes, tested after every `checkEvery` updates (and before the first).
 */
export interface RelaxOutcome {
  iterations: number;
  /** ‖b − A x‖₂ at exit, in f64, for the returned x. */
  residualNorm: number;
  initialResidualNorm: number;
  /** The backend's own test passed (the recurrence residual for CG); the façade re-judges it on the true residual. */
  converged: boolean;
  /** Stopped early: the residual grew past DIVERGENCE_FACTOR·‖r_0‖ or became non-finite, or CG broke down (x is the last finite iterate). */
  diverged: boolean;
  /** The early stop was CG's curvature test: pᵀAp ≤ 0 (or non-finite), so A is not positive definite. Implies diverged. */
  breakdown?: boolean;
}

/** A residual past this many times ‖r_0‖ means the iteration diverges (non-SPD A or a bad ω): every backend stops there. */
export const DIVERGENCE_FACTOR = 1e8;

declare module '../core/ops.js' {
  interface OpTable {
    /** Runs a whole stationary or Krylov solve where the data lives; x holds x0 on entry and the last iterate on exit. */
    relaxSolve: { args: RelaxArgs; result: RelaxOutcome };
    /** Many independent systems with one method and one set of options; a GPU runs them in one dispatch. */
    relaxSolveBatch: {
      args: { systems: readonly { A: LinearOperator; b: FloatArray; x: FloatArray; omega: number; prepared?: PreparedToken }[]; options: RelaxSettings };
      result: RelaxOutcome[];
    };
  }
}
