/**
 * Randomized (block) Kaczmarz and sketch-and-project on the js backend (src/sketch/ops.ts states the
 * draws; docs/sketch.md §7). Both are for consistent systems: each step projects x onto the solution
 * set of a few (sketched) equations.
 */
import type { KernelControl } from '../../../core/backend.js';
import { throwIfAborted } from '../../../core/errors.js';
import { philoxBlock } from '../../../core/philox.js';
import { operandCols, operandRows, SKETCH_STREAMS, type SketchKaczmarzArgs, type SketchOperand, type SketchProjectArgs, type SketchSolveOutcome } from '../../../sketch/ops.js';
import { sketchApply } from './apply.js';
import { minNormSolve } from './dense.js';
import { WordSource } from './operator.js';
import { addRowTo, residual, rowDot, rowInto, rowNormSq } from './operand.js';

const EPS = 2 ** -52;
const TWO_NEG_32 = 2 ** -32;

/** The least i with cdf[i] > v (v < cdf[n−1]). */
function search(cdf: Float64Array, v: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid]! > v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** cdf[i] = Σ_{k ≤ i} ‖a_k‖² in row order (the table Kaczmarz draws rows from). */
export function rowCdf(A: SketchOperand, cdf: Float64Array): void {
  let acc = 0;
  for (let i = 0; i < cdf.length; i++) {
    acc += rowNormSq(A, i);
    cdf[i] = acc;
  }
}

export function kaczmarz(args: SketchKaczmarzArgs, ctl: KernelControl): SketchSolveOutcome {
  const { A, b, x, block, rowCdf, target, maxIter, checkEvery } = args;
  const n = operandRows(A);
  const d = operandCols(A);
  const r = new Float64Array(n);
  let rn = residual(A, b, x, r);
  if (rn <= target) return { iterations: 0, converged: true, residualNorm: rn };
  const total = rowCdf[n - 1]!;
  const src = new WordSource(args.key0, args.key1, SKETCH_STREAMS.kaczmarz);
  const M = new Float64Array(block * d);
  const c = new Float64Array(block);
  const rows = new Int32Array(block);
  // ‖a_i‖² exactly, not from differences of the running sums (which lose digits far down the table).
  const norms = new Float64Array(block === 1 ? n : 0);
  for (let i = 0; i < norms.length; i++) norms[i] = rowNormSq(A, i);
  for (let t = 0; t < maxIter; t++) {
    for (let l = 0; l < block; l++) {
      const u = (src.word(t * block + l) + 0.5) * TWO_NEG_32;
      rows[l] = search(rowCdf, u * total);
    }
    if (block === 1) {
      const i = rows[0]!;
      // Classic randomized Kaczmarz: x += (b_i − ⟨a_i, x⟩)/‖a_i‖²·a_i.
      if (norms[i]! > 0) addRowTo(A, i, (b[i]! - rowDot(A, i, x)) / norms[i]!, x);
    } else {
      for (let l = 0; l < block; l++) {
        rowInto(A, rows[l]!, M, l * d);
        c[l] = b[rows[l]!]! - rowDot(A, rows[l]!, x);
      }
      const delta = minNormSolve(M, block, d, c, EPS * Math.max(block, d));
      for (let j = 0; j < d; j++) x[j] += delta[j]!;
    }
    const done = t + 1;
    if (done % checkEvery === 0 || done === maxIter) {
      throwIfAborted(ctl.signal);
      rn = residual(A, b, x, r);
      ctl.onProgress?.({ iteration: done, residualNorm: rn });
      if (rn <= target) return { iterations: done, converged: true, residualNorm: rn };
      if (!Number.isFinite(rn)) return { iterations: done, converged: false, residualNorm: rn };
    }
  }
  return { iterations: maxIter, converged: false, residualNorm: rn };
}

export function sketchProject(args: SketchProjectArgs, ctl: KernelControl): SketchSolveOutcome {
  const { A, b, x, S, target, maxIter } = args;
  const n = operandRows(A);
  const d = operandCols(A);
  const q = S.m;
  const r = new Float64Array(n);
  let rn = residual(A, b, x, r);
  if (rn <= target) return { iterations: 0, converged: true, residualNorm: rn };
  const SA = new Float64Array(q * d);
  const Sr = new Float64Array(q);
  const key = new Uint32Array(4);
  for (let t = 0; t < maxIter; t++) {
    throwIfAborted(ctl.signal);
    // Iteration t's seed: words 2t (low) and 2t + 1 (high) of the project stream, i.e. block ⌊t/2⌋.
    const blk = Math.floor(t / 2);
    philoxBlock(blk >>> 0, Math.floor(blk / 4294967296), SKETCH_STREAMS.project, 0, S.key0, S.key1, key, 0);
    const lane = 2 * (t - 2 * blk);
    const St = { ...S, key0: key[lane]!, key1: key[lane + 1]! };
    sketchApply({ S: St, A, rowOffset: 0, b: r, SA, Sb: Sr, allowF32: false });
    const delta = minNormSolve(SA, q, d, Sr, EPS * Math.max(q, d));
    for (let j = 0; j < d; j++) x[j] += delta[j]!;
    rn = residual(A, b, x, r);
    ctl.onProgress?.({ iteration: t + 1, residualNorm: rn });
    if (rn <= target) return { iterations: t + 1, converged: true, residualNorm: rn };
    if (!Number.isFinite(rn)) return { iterations: t + 1, converged: false, residualNorm: rn };
  }
  return { iterations: maxIter, converged: false, residualNorm: rn };
}
