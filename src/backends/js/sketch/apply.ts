/**
 * sketchApply on the js backend (the oracle): SA := scale·(S₀·A_block), Sb := scale·(S₀·b_block), in
 * f64, for one row block at a global row offset. Every entry of SA is a sum over the block's rows in
 * increasing row order, scaled once at the end (docs/sketch.md §3), so two row blocks' results add up to
 * the result for their union up to re-association, and exactly when the sums are exact.
 */
import { isCsr, SKETCH_STREAMS, type SketchApplyArgs, type SketchOperand } from '../../../sketch/ops.js';
import type { FloatArray } from '../../../core/types.js';
import { gaussianColumn, rademacherColumn, sparseColumn, WordSource } from './operator.js';
import { srhtApply } from './srht.js';

export function sketchApply(args: SketchApplyArgs): void {
  const { S, A, rowOffset, b, SA, Sb } = args;
  SA.fill(0);
  Sb?.fill(0);
  if (S.kind === 'srht') srhtApply(S, A, rowOffset, b, SA, Sb);
  else if (S.kind === 'gaussian' || S.kind === 'rademacher') denseApply(args);
  else sparseApply(args);
  const c = S.scale;
  if (c !== 1) {
    for (let k = 0; k < SA.length; k++) SA[k] = SA[k]! * c;
    if (Sb) for (let k = 0; k < Sb.length; k++) Sb[k] = Sb[k]! * c;
  }
}

/** SA[row_t, :] += w_t·(row i of A) for the count weights w_t = col[t] (rows[t], or t itself when rows is null), and Sb likewise. */
function addRow(A: SketchOperand, i: number, col: ArrayLike<number>, rows: ArrayLike<number> | null, count: number, b: FloatArray | null, SA: Float64Array, Sb: Float64Array | null): void {
  if (isCsr(A)) {
    const { rowPtr, colIdx, values } = A;
    const d = A.ncols;
    const p0 = rowPtr[i]!;
    const p1 = rowPtr[i + 1]!;
    for (let t = 0; t < count; t++) {
      const w = col[t]!;
      const base = (rows ? rows[t]! : t) * d;
      for (let p = p0; p < p1; p++) SA[base + colIdx[p]!] += w * values[p]!;
    }
  } else {
    const d = A.cols;
    const data = A.data;
    const off = i * d;
    for (let t = 0; t < count; t++) {
      const w = col[t]!;
      const base = (rows ? rows[t]! : t) * d;
      for (let j = 0; j < d; j++) SA[base + j] += w * data[off + j]!;
    }
  }
  if (b && Sb) {
    const bi = b[i]!;
    for (let t = 0; t < count; t++) Sb[rows ? rows[t]! : t] += col[t]! * bi;
  }
}

function blockRows(A: SketchOperand): number {
  return isCsr(A) ? A.nrows : A.rows;
}

/** Gaussian and Rademacher: column g = rowOffset + i of S₀ weighs row i (m·d multiply-adds per row). */
function denseApply({ S, A, rowOffset, b, SA, Sb }: SketchApplyArgs): void {
  const m = S.m;
  const col = new Float64Array(m);
  const scratch = new Uint32Array(4);
  const src = new WordSource(S.key0, S.key1, SKETCH_STREAMS.rademacher);
  const nrows = blockRows(A);
  for (let i = 0; i < nrows; i++) {
    if (S.kind === 'gaussian') gaussianColumn(S.key0, S.key1, rowOffset + i, m, col, scratch);
    else rademacherColumn(src, rowOffset + i, m, col);
    addRow(A, i, col, null, m, b, SA, Sb);
  }
}

/** CountSketch and sparse-sign: row i adds ±(row i) into s distinct rows of SA. */
function sparseApply({ S, A, rowOffset, b, SA, Sb }: SketchApplyArgs): void {
  const s = S.nnzPerCol;
  const rows = new Int32Array(s);
  const signs = new Float64Array(s);
  const src = new WordSource(S.key0, S.key1, SKETCH_STREAMS.sparse);
  const nrows = blockRows(A);
  for (let i = 0; i < nrows; i++) {
    sparseColumn(src, rowOffset + i, S.m, s, rows, signs);
    addRow(A, i, signs, rows, s, b, SA, Sb);
  }
}
