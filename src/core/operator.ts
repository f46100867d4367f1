/**
 * A linear operator on the host in f64, in the exact operation order the relax oracle fixes
 * (src/backends/js/relax.ts): the residual b − A x with row sums in ascending column order from 0,
 * and its norm from a sum of squares taken in blocks of SUM_BLOCK (each block in order from 0, then
 * the block sums in order), which a threaded backend can reproduce bit for bit. Every backend that
 * reports or tests a residual on the host uses these, so counts agree wherever they can.
 */
import { stencilSize } from './stencil.js';
import { isStencil, type CsrMatrix, type FloatArray, type LinearOperator, type StencilOperator } from './types.js';

export const SUM_BLOCK = 4096;

/** Rows of a CSR matrix or grid points of a stencil. */
export function operatorRows(A: LinearOperator): number {
  return isStencil(A) ? stencilSize(A) : A.nrows;
}

export function blockedDot(x: Float64Array, y: Float64Array): number {
  return blockedSum(x.length, (i) => x[i]! * y[i]!);
}

/** Σ term(i) over [0, n): each SUM_BLOCK block summed in order from 0, then the block sums in order. */
export function blockedSum(n: number, term: (i: number) => number): number {
  let total = 0;
  for (let start = 0; start < n; start += SUM_BLOCK) {
    const end = Math.min(start + SUM_BLOCK, n);
    let s = 0;
    for (let i = start; i < end; i++) s += term(i);
    total += s;
  }
  return total;
}

/** r := b − A x in f64; returns ‖r‖₂. */
export function residual(A: LinearOperator, b: FloatArray, x: Float64Array, r: Float64Array): number {
  return isStencil(A) ? stencilResidual(A, b, x, r) : csrResidual(A, b, x, r);
}

export function csrResidual(A: CsrMatrix, b: FloatArray, x: Float64Array, r: Float64Array): number {
  const { rowPtr, colIdx, values } = A;
  for (let i = 0; i < A.nrows; i++) {
    let s = 0;
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) s += values[p]! * x[colIdx[p]!]!;
    r[i] = b[i]! - s;
  }
  return Math.sqrt(blockedDot(r, r));
}

/**
 * The stencil's residual without building its CSR twin (src/core/stencil.ts): the same terms in
 * the same order (−z, −y, −x, diagonal, +x, +y, +z), with constant zero couplings skipped as the
 * twin drops them, so the sums are bit for bit the oracle's.
 */
export function stencilResidual(S: StencilOperator, b: FloatArray, x: Float64Array, r: Float64Array): number {
  const nx = S.shape[0]!;
  const ny = S.shape[1]!;
  const nz = S.shape[2] ?? 1;
  const plane = nx * ny;
  const c = S.coeffs;
  if (c.kind === 'constant') {
    const [xm, xp, ym, yp, zm = 0, zp = 0] = c.offdiag as number[];
    const d = c.diag;
    for (let k = 0, p = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++, p++) {
          let s = 0;
          if (k > 0 && zm !== 0) s += zm * x[p - plane]!;
          if (j > 0 && ym !== 0) s += ym! * x[p - nx]!;
          if (i > 0 && xm !== 0) s += xm! * x[p - 1]!;
          s += d * x[p]!;
          if (i < nx - 1 && xp !== 0) s += xp! * x[p + 1]!;
          if (j < ny - 1 && yp !== 0) s += yp! * x[p + nx]!;
          if (k < nz - 1 && zp !== 0) s += zp * x[p + plane]!;
          r[p] = b[p]! - s;
        }
      }
    }
  } else {
    const d = c.diag;
    const [xm, xp, ym, yp, zm, zp] = c.offdiag;
    for (let k = 0, p = 0; k < nz; k++) {
      for (let j = 0; j < ny; j++) {
        for (let i = 0; i < nx; i++, p++) {
          let s = 0;
          if (k > 0) s += zm![p]! * x[p - plane]!;
          if (j > 0) s += ym![p]! * x[p - nx]!;
          if (i > 0) s += xm![p]! * x[p - 1]!;
          s += d[p]! * x[p]!;
          if (i < nx - 1) s += xp![p]! * x[p + 1]!;
          if (j < ny - 1) s += yp![p]! * x[p + nx]!;
          if (k < nz - 1) s += zp![p]! * x[p + plane]!;
          r[p] = b[p]! - s;
        }
      }
    }
  }
  return Math.sqrt(blockedDot(r, r));
}
