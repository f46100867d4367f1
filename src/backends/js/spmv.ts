import type { CsrMatrix, FloatArray } from '../../core/types.js';

/** y := A x, one f64 accumulator per row (the row order is the summation order every backend shares). */
export function spmv(A: CsrMatrix, x: FloatArray, y: FloatArray): void {
  const { rowPtr, colIdx, values } = A;
  for (let i = 0; i < A.nrows; i++) {
    let s = 0;
    for (let p = rowPtr[i]!, end = rowPtr[i + 1]!; p < end; p++) s += values[p]! * x[colIdx[p]!]!;
    y[i] = s;
  }
}
