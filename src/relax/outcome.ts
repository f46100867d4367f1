/**
 * Why a solve stopped, judged on the true residual of the array the caller gets back.
 *
 * A backend reports its own verdict: stationary methods test the true residual, CG and SSOR-CG the
 * recurrence residual (as MATLAB pcg and PETSc KSPCG do), and an f32 solve iterates in f64 and rounds
 * x at the end. `converged: true` promises more — that ‖b − A x‖ of the returned x meets the tolerance
 * (in the returned dtype) — so the façade re-judges every outcome here and says in one line why a run
 * that the backend called converged is not.
 */
import { residual } from '../core/operator.js';
import { stencilToCsr } from '../core/stencil.js';
import { isStencil, type CsrMatrix, type FloatArray, type LinearOperator } from '../core/types.js';
import { CG_METHODS, DIVERGENCE_FACTOR, type RelaxOutcome, type RelaxSettings } from './ops.js';

export type StopReason =
  /** ‖b − A x‖ of the returned x meets the tolerance. */
  | 'converged'
  /** maxIter updates without meeting the tolerance. */
  | 'max-iterations'
  /** The residual grew past 1e8·‖r_0‖ or overflowed; x is the last finite iterate (or x0). */
  | 'diverged'
  /** CG found pᵀAp ≤ 0: A is not positive definite. */
  | 'breakdown'
  /** The f64 iterate met the tolerance, but rounding it to f32 does not. */
  | 'precision'
  /** CG's recurrence residual met the tolerance but the true residual does not. */
  | 'residual-gap';

export interface Judged {
  readonly converged: boolean;
  readonly diverged: boolean;
  readonly stop: StopReason;
  /** One line a user can act on (the CLI prints it). */
  readonly stopDetail: string;
  readonly residualNorm: number;
}

const fmt = (v: number): string => v.toExponential(2);

/**
 * Re-judges a backend's outcome on x as returned. `x` is the caller's array (f32 or f64); its residual
 * is recomputed on the host in f64 when the backend's figure may describe a different array (f32
 * results, whose iterate was f64).
 */
export function judge(A: LinearOperator, b: FloatArray, x: FloatArray, s: RelaxSettings, out: RelaxOutcome): Judged {
  const r0 = out.initialResidualNorm;
  const target = s.criterion === 'relative' ? s.tol * r0 : s.tol;
  const rel = (v: number): string => (s.criterion === 'relative' && r0 > 0 ? `${fmt(v / r0)}·‖r₀‖` : fmt(v));
  const want = s.criterion === 'relative' ? `${fmt(s.tol)}·‖r₀‖` : fmt(s.tol);
  const rn = x instanceof Float32Array ? trueResidual(A, b, x) : out.residualNorm;
  const base = { residualNorm: rn, diverged: false };
  if (out.breakdown) {
    return {
      ...base, converged: false, diverged: true, stop: 'breakdown',
      stopDetail: `CG breakdown after ${out.iterations} iterations: pᵀAp ≤ 0, so A is not positive definite (CG needs an SPD matrix; try sor or gmres-type solvers elsewhere)`,
    };
  }
  if (out.diverged) {
    return {
      ...base, converged: false, diverged: true, stop: 'diverged',
      stopDetail: `diverged after ${out.iterations} iterations: ‖r‖ passed ${fmt(DIVERGENCE_FACTOR)}·‖r₀‖ (ω outside the convergent range, or A not positive definite)`,
    };
  }
  if (out.converged && rn <= target) {
    return { ...base, converged: true, stop: 'converged', stopDetail: `converged in ${out.iterations} iterations: ‖b − Ax‖ = ${rel(rn)} ≤ ${want}` };
  }
  if (out.converged && x instanceof Float32Array && out.residualNorm <= target) {
    return {
      ...base, converged: false, stop: 'precision',
      stopDetail: `the f64 iterate met ${want} after ${out.iterations} iterations, but rounded to f32 it leaves ‖b − Ax‖ = ${rel(rn)}: ` +
        'the tolerance is below f32 precision for this system (pass Float64Array inputs, or loosen tol)',
    };
  }
  if (out.converged) {
    const far = target > 0 && rn > 100 * target;
    return {
      ...base, converged: false, stop: 'residual-gap',
      stopDetail: `CG's recurrence residual met ${want} after ${out.iterations} iterations but the true ‖b − Ax‖ is ${rel(rn)}: ` +
        (far ? 'A is likely singular and b inconsistent (no solution exists), or A is not symmetric'
          : 'the tolerance is below the accuracy f64 CG can reach on this conditioning (loosen tol)'),
    };
  }
  const hint = CG_METHODS.includes(s.method) && !isSymmetric(A) ? '; A is not symmetric, and CG needs a symmetric positive definite matrix' : '';
  return {
    ...base, converged: false, stop: 'max-iterations',
    stopDetail: `not converged: maxIter = ${s.maxIter} updates reached with ‖b − Ax‖ = ${rel(rn)} > ${want}${hint}`,
  };
}

function trueResidual(A: LinearOperator, b: FloatArray, x: Float32Array): number {
  const n = x.length;
  return residual(A, b, Float64Array.from(x), new Float64Array(n));
}

/** a_ij = a_ji for every stored entry (an absent entry counts as 0); O(nnz log d) by binary search in row j. */
export function isSymmetric(A: LinearOperator): boolean {
  const M: CsrMatrix = isStencil(A) ? stencilToCsr(A) : A;
  const { rowPtr, colIdx, values } = M;
  const find = (row: number, col: number): number => {
    let lo = rowPtr[row]!;
    let hi = rowPtr[row + 1]! - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = colIdx[mid]!;
      if (c === col) return values[mid]!;
      if (c < col) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  };
  for (let i = 0; i < M.nrows; i++) {
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const j = colIdx[p]!;
      if (j > i && values[p] !== find(j, i)) return false;
      if (j < i && find(j, i) === 0 && values[p] !== 0) return false;
    }
  }
  return true;
}
