/**
 * The two full-precision least-squares loops of the js oracle (src/sketch/ops.ts states their
 * contracts): LSQR on the preconditioned operator Ā = A·P[:, :r]·R₁₁⁻¹ (sketch-and-precondition,
 * docs/sketch.md §4.2) and iterative sketching with momentum (§4.3).
 *
 * Each iteration reads A once (docs/sketch.md §6): a row's product with the current vector and its
 * contribution to Aᵀ(·) are taken in the same pass (fusedPass), since A is what costs memory bandwidth.
 * Sums of squares over rows run in blocks of SUM_BLOCK (src/core/operator.ts), an order a threaded
 * backend reproduces.
 */
import type { KernelControl } from '../../../core/backend.js';
import { throwIfAborted } from '../../../core/errors.js';
import { SUM_BLOCK } from '../../../core/operator.js';
import type { FloatArray } from '../../../core/types.js';
import { isCsr, operandCols, operandRows, type SketchIterateArgs, type SketchLoopOutcome, type SketchLsqrArgs, type SketchOperand } from '../../../sketch/ops.js';
import { solveUpper, solveUpperT } from './dense.js';
import { norm2, residual } from './operand.js';

/**
 * One pass over A: t_i := c·w_i + s·(a_i·z) for every row (t may be w itself), g := Σ_i t_i·a_i, and
 * Σ t_i² (blocked). With prev, also Σ (t_i − prev_i)² (blocked), read before t_i is written.
 */
export function fusedPass(
  A: SketchOperand, z: Float64Array, w: FloatArray, c: number, s: number, t: Float64Array, g: Float64Array, prev: Float64Array | null,
): { sumSq: number; diffSq: number } {
  g.fill(0);
  const n = operandRows(A);
  let sumSq = 0;
  let diffSq = 0;
  let blockSq = 0;
  let blockDiff = 0;
  const csr = isCsr(A);
  for (let i = 0; i < n; i++) {
    let dot = 0;
    if (csr) {
      for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) dot += A.values[p]! * z[A.colIdx[p]!]!;
    } else {
      const off = i * A.cols;
      for (let j = 0; j < A.cols; j++) dot += A.data[off + j]! * z[j]!;
    }
    const ti = c * w[i]! + s * dot;
    if (prev) blockDiff += (ti - prev[i]!) ** 2;
    t[i] = ti;
    blockSq += ti * ti;
    if (ti !== 0) {
      if (csr) {
        for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) g[A.colIdx[p]!] += A.values[p]! * ti;
      } else {
        const off = i * A.cols;
        for (let j = 0; j < A.cols; j++) g[j] += A.data[off + j]! * ti;
      }
    }
    if ((i + 1) % SUM_BLOCK === 0 || i === n - 1) {
      sumSq += blockSq;
      diffSq += blockDiff;
      blockSq = 0;
      blockDiff = 0;
    }
  }
  return { sumSq, diffSq };
}

function scaleInPlace(v: Float64Array, c: number): void {
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * c;
}

/** out (r) := R₁₁⁻ᵀ·(g_P)·scale. */
function pullBack(R: Float64Array, d: number, perm: Int32Array, r: number, g: Float64Array, scale: number, out: Float64Array): void {
  for (let k = 0; k < r; k++) out[k] = g[perm[k]!]! * scale;
  solveUpperT(R, d, r, out);
}

/** z (d) := P·[R₁₁⁻¹·v; 0]. */
function pushForward(R: Float64Array, d: number, perm: Int32Array, r: number, v: Float64Array, z: Float64Array): void {
  const t = v.slice(0, r);
  solveUpper(R, d, r, t);
  z.fill(0);
  for (let k = 0; k < r; k++) z[perm[k]!] = t[k]!;
}

/** LSQR (Paige & Saunders, ACM TOMS 8(1), 1982; the tests and their order as in SciPy's lsqr) on the warm-started correction. */
export function lsqr(args: SketchLsqrArgs, ctl: KernelControl): SketchLoopOutcome {
  const { A, b, R, perm, rank: r, x, atol, btol, maxIter } = args;
  const n = operandRows(A);
  const d = operandCols(A);
  const u = new Float64Array(n);
  const g = new Float64Array(d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) u[i] = b[i]!;
  const bnorm = norm2(u);
  // r0 = b − A x0 and Aᵀr0 in one pass.
  let pass = fusedPass(A, x, b, 1, -1, u, g, null);
  let beta = Math.sqrt(pass.sumSq);
  let warmStart = true;
  if (!(beta < bnorm)) {
    // The sketch-and-solve start is no better than zero (PARLA, Blendenpik): start from zero.
    warmStart = false;
    x.fill(0);
    pass = fusedPass(A, x, b, 1, -1, u, g, null);
    beta = Math.sqrt(pass.sumSq);
  }
  // y0 = R₁₁·x_P: the start in Ā's coordinates, for the ‖y‖ of the compatible-system test.
  const y0 = new Float64Array(r);
  for (let k = 0; k < r; k++) {
    let s = 0;
    for (let j = k; j < r; j++) s += R[k * d + j]! * x[perm[j]!]!;
    y0[k] = s;
  }
  const v = new Float64Array(r);
  if (beta > 0) {
    scaleInPlace(u, 1 / beta);
    pullBack(R, d, perm, r, g, 1 / beta, v);
  }
  let alpha = norm2(v);
  if (alpha > 0) scaleInPlace(v, 1 / alpha);
  const w = v.slice();
  const dy = new Float64Array(r);
  const tmpR = new Float64Array(r);
  let phibar = beta;
  let rhobar = alpha;
  let anorm = 0;
  let arnorm = alpha * beta;
  let itn = 0;
  let stop: SketchLoopOutcome['stop'] = 'max-iterations';
  if (beta === 0) stop = 'compatible';
  else if (arnorm === 0) stop = 'least-squares';
  else {
    while (itn < maxIter) {
      throwIfAborted(ctl.signal);
      itn++;
      // Golub–Kahan step in one pass: t = Ā v − α u (into u), Aᵀt alongside; then scale both by 1/β.
      pushForward(R, d, perm, r, v, z);
      beta = Math.sqrt(fusedPass(A, z, u, -alpha, 1, u, g, null).sumSq);
      if (beta > 0) {
        scaleInPlace(u, 1 / beta);
        anorm = Math.sqrt(anorm * anorm + alpha * alpha + beta * beta);
        pullBack(R, d, perm, r, g, 1 / beta, tmpR);
        for (let k = 0; k < r; k++) v[k] = tmpR[k]! - beta * v[k]!;
        alpha = norm2(v);
        if (alpha > 0) scaleInPlace(v, 1 / alpha);
      }
      // Plane rotation eliminating β from the lower bidiagonal matrix.
      const rho = Math.hypot(rhobar, beta);
      const cs = rhobar / rho;
      const sn = beta / rho;
      const theta = sn * alpha;
      rhobar = -cs * alpha;
      const phi = cs * phibar;
      phibar = sn * phibar;
      const tau = sn * phi;
      const t1 = phi / rho;
      const t2 = -theta / rho;
      for (let k = 0; k < r; k++) {
        dy[k] += t1 * w[k]!;
        w[k] = v[k]! + t2 * w[k]!;
      }
      const rnorm = phibar;
      arnorm = alpha * Math.abs(tau);
      let ynorm = 0;
      for (let k = 0; k < r; k++) ynorm += (y0[k]! + dy[k]!) ** 2;
      ynorm = Math.sqrt(ynorm);
      ctl.onProgress?.({ iteration: itn, residualNorm: rnorm });
      if (rnorm === 0) {
        stop = 'compatible';
        break;
      }
      const test1 = rnorm / bnorm;
      const test2 = arnorm / (anorm * rnorm);
      const rtol = btol + (atol * anorm * ynorm) / bnorm;
      const t1n = test1 / (1 + (anorm * ynorm) / bnorm);
      // Tolerances below what f64 can resolve count as met ("1 + test ≤ 1", SciPy's istop 4 and 5).
      if (test1 <= rtol || 1 + t1n <= 1) {
        stop = 'compatible';
        break;
      }
      if (test2 <= atol || 1 + test2 <= 1) {
        stop = 'least-squares';
        break;
      }
      if (!Number.isFinite(test2) || !Number.isFinite(test1)) {
        stop = 'breakdown';
        break;
      }
    }
  }
  solveUpper(R, d, r, dy);
  for (let k = 0; k < r; k++) x[perm[k]!] += dy[k]!;
  const residualNorm = residual(A, b, x, u);
  return { iterations: itn, stop, residualNorm, arNorm: arnorm, warmStart };
}

/** Iterative sketching with momentum (Epperly 2023, code/iterative_sketching.m), one pass over A per step. */
export function iterate(args: SketchIterateArgs, ctl: KernelControl): SketchLoopOutcome {
  const { A, b, R, perm, rank: r, x, alpha, beta, tol, normEst, condEst, maxIter } = args;
  const n = operandRows(A);
  const d = operandCols(A);
  const res = new Float64Array(n);
  const g = new Float64Array(d);
  // r = b − A x and g = Aᵀr in one pass; each step's pass makes the next step's gradient.
  let rnorm = Math.sqrt(fusedPass(A, x, b, 1, -1, res, g, null).sumSq);
  const prev = x.slice();
  const best = x.slice();
  let bestNorm = rnorm;
  const t = new Float64Array(r);
  let itn = 0;
  let stop: SketchLoopOutcome['stop'] = 'max-iterations';
  if (rnorm === 0) stop = 'converged';
  while (stop === 'max-iterations' && itn < maxIter) {
    throwIfAborted(ctl.signal);
    itn++;
    for (let k = 0; k < r; k++) t[k] = g[perm[k]!]!;
    solveUpperT(R, d, r, t);
    solveUpper(R, d, r, t);
    for (let k = 0; k < r; k++) {
      const j = perm[k]!;
      const xj = x[j]!;
      x[j] = xj + alpha * t[k]! + beta * (xj - prev[j]!);
      prev[j] = xj;
    }
    const pass = fusedPass(A, x, b, 1, -1, res, g, res);
    rnorm = Math.sqrt(pass.sumSq);
    const dr = Math.sqrt(pass.diffSq);
    ctl.onProgress?.({ iteration: itn, residualNorm: rnorm });
    if (!Number.isFinite(rnorm) || rnorm > 10 * bestNorm) {
      // The sketch's spectrum is outside the interval the momentum parameters assume (small d, m near 4d).
      stop = 'breakdown';
      break;
    }
    if (rnorm < bestNorm) {
      bestNorm = rnorm;
      best.set(x);
    }
    if (dr <= tol * (normEst * norm2(x) + (1 + 0.01 * condEst) * rnorm)) stop = 'converged';
  }
  if (stop !== 'converged' && !(rnorm <= bestNorm)) {
    x.set(best);
    rnorm = residual(A, b, x, res);
  }
  return { iterations: itn, stop, residualNorm: rnorm };
}
