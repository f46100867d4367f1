/**
 * Method 'sketch-cholesky' on the js oracle (src/sketch/ops.ts states the contracts; docs/sketch.md §4.5):
 * the Gram pass G = BᵀB, c = Bᵀb with B = A_P (or A_P·R₁₁⁻¹), and the refinement loop on the Cholesky
 * factor U of G with the true residual recomputed every step (Björck's corrected semi-normal equations).
 * Every sum runs over rows in increasing order; the refinement's pass is the least-squares loops'
 * fusedPass (one read of A per step).
 */
import type { KernelControl } from '../../../core/backend.js';
import { throwIfAborted } from '../../../core/errors.js';
import { isCsr, operandCols, operandRows, type SketchGramArgs, type SketchGramOutcome, type SketchLoopOutcome, type SketchRefineArgs } from '../../../sketch/ops.js';
import { solveUpper, solveUpperT } from './dense.js';
import { fusedPass } from './lsqr.js';
import { norm2 } from './operand.js';

const EPS = 2 ** -52;

/** G := BᵀB (both triangles), c := Bᵀb, B = A·P[:, :r] (·R₁₁⁻¹ when R is given), rows in increasing order. */
export function gram({ A, b, R, perm, rank: r, G, c }: SketchGramArgs): SketchGramOutcome {
  const n = operandRows(A);
  const d = operandCols(A);
  const inv = new Int32Array(d).fill(-1);
  for (let k = 0; k < r; k++) inv[perm[k]!] = k;
  const row = new Float64Array(r);
  G.fill(0, 0, r * r);
  c.fill(0, 0, r);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    if (isCsr(A)) {
      for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) {
        const k = inv[A.colIdx[p]!]!;
        if (k >= 0) row[k] = A.values[p]!;
      }
    } else {
      for (let k = 0; k < r; k++) row[k] = A.data[i * d + perm[k]!]!;
    }
    // b_i := a_i,P·R₁₁⁻¹, the row of B (a forward substitution with R₁₁ᵀ).
    if (R) solveUpperT(R, d, r, row);
    const bi = b[i]!;
    for (let j = 0; j < r; j++) {
      const v = row[j]!;
      if (v === 0) continue;
      c[j] += v * bi;
      for (let l = j; l < r; l++) G[j * r + l] += v * row[l]!;
    }
  }
  for (let j = 0; j < r; j++) for (let l = j + 1; l < r; l++) G[l * r + j] = G[j * r + l]!;
  return { f32: false };
}

/** The refinement loop of SketchRefineArgs: one pass over A per step. */
export function refine(args: SketchRefineArgs, ctl: KernelControl): SketchLoopOutcome {
  const { A, b, R, U, perm, rank: r, x, tol, normEst, condEst, maxIter } = args;
  const n = operandRows(A);
  const d = operandCols(A);
  const res = new Float64Array(n);
  const g = new Float64Array(d);
  const y = new Float64Array(r);
  let prevY = Infinity;
  let itn = 0;
  let rnorm = 0;
  let stop: SketchLoopOutcome['stop'] = 'max-iterations';
  for (;;) {
    throwIfAborted(ctl.signal);
    rnorm = Math.sqrt(fusedPass(A, x, b, 1, -1, res, g, null).sumSq);
    ctl.onProgress?.({ iteration: itn, residualNorm: rnorm });
    for (let k = 0; k < r; k++) y[k] = g[perm[k]!]!;
    if (R) solveUpperT(R, d, r, y);
    solveUpperT(U, r, r, y);
    const ynorm = norm2(y);
    const xnorm = norm2(x);
    if (!Number.isFinite(ynorm) || !Number.isFinite(rnorm)) {
      stop = 'breakdown';
      break;
    }
    if (ynorm <= tol * (normEst * xnorm + (1 + 0.01 * condEst) * rnorm)) {
      stop = 'converged';
      break;
    }
    if (ynorm > 0.5 * prevY) {
      // The correction stopped shrinking: at the rounding floor this is convergence; far above it the
      // factor is too poor a preconditioner (the façade then finishes with LSQR).
      stop = ynorm <= Math.sqrt(EPS) * (normEst * xnorm + rnorm) ? 'converged' : 'breakdown';
      break;
    }
    if (itn >= maxIter) break;
    prevY = ynorm;
    itn++;
    solveUpper(U, r, r, y);
    if (R) solveUpper(R, d, r, y);
    for (let k = 0; k < r; k++) x[perm[k]!] += y[k]!;
  }
  return { iterations: itn, stop, residualNorm: rnorm };
}
