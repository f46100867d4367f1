/**
 * A dense or CSR operand on the js backend, in f64: the residual ‖b − A x‖₂ and the row operations of
 * the Kaczmarz loops (the fused passes of the least-squares loops are in ./lsqr.ts).
 * Row sums run in column order and squares are summed in blocks of SUM_BLOCK (src/core/operator.ts),
 * the order a threaded backend can reproduce.
 */
import { blockedDot } from '../../../core/operator.js';
import type { FloatArray } from '../../../core/types.js';
import { isCsr, type SketchOperand } from '../../../sketch/ops.js';

/** y := A·x. */
function mulA(A: SketchOperand, x: Float64Array, y: Float64Array): void {
  if (isCsr(A)) {
    const { rowPtr, colIdx, values } = A;
    for (let i = 0; i < A.nrows; i++) {
      let s = 0;
      for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) s += values[p]! * x[colIdx[p]!]!;
      y[i] = s;
    }
  } else {
    const { rows, cols, data } = A;
    for (let i = 0; i < rows; i++) {
      let s = 0;
      const off = i * cols;
      for (let j = 0; j < cols; j++) s += data[off + j]! * x[j]!;
      y[i] = s;
    }
  }
}

/** r := b − A·x; returns ‖r‖₂. */
export function residual(A: SketchOperand, b: FloatArray, x: Float64Array, r: Float64Array): number {
  mulA(A, x, r);
  for (let i = 0; i < r.length; i++) r[i] = b[i]! - r[i]!;
  return Math.sqrt(blockedDot(r, r));
}

export function norm2(v: Float64Array): number {
  return Math.sqrt(blockedDot(v, v));
}

/** The dot product of row i of A with x. */
export function rowDot(A: SketchOperand, i: number, x: Float64Array): number {
  let s = 0;
  if (isCsr(A)) {
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) s += A.values[p]! * x[A.colIdx[p]!]!;
  } else {
    const off = i * A.cols;
    for (let j = 0; j < A.cols; j++) s += A.data[off + j]! * x[j]!;
  }
  return s;
}

/** x += c·(row i of A). */
export function addRowTo(A: SketchOperand, i: number, c: number, x: Float64Array): void {
  if (isCsr(A)) {
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) x[A.colIdx[p]!] += c * A.values[p]!;
  } else {
    const off = i * A.cols;
    for (let j = 0; j < A.cols; j++) x[j] += c * A.data[off + j]!;
  }
}

/** Row i of A, densified into out (length cols). */
export function rowInto(A: SketchOperand, i: number, out: Float64Array, off: number): void {
  if (isCsr(A)) {
    out.fill(0, off, off + A.ncols);
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) out[off + A.colIdx[p]!] = A.values[p]!;
  } else {
    for (let j = 0; j < A.cols; j++) out[off + j] = A.data[i * A.cols + j]!;
  }
}

/** ‖row i of A‖₂². */
export function rowNormSq(A: SketchOperand, i: number): number {
  let s = 0;
  if (isCsr(A)) {
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) s += A.values[p]! * A.values[p]!;
  } else {
    const off = i * A.cols;
    for (let j = 0; j < A.cols; j++) s += A.data[off + j]! * A.data[off + j]!;
  }
  return s;
}
