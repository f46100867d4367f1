/** Stencil operators as data: their size and their exact CSR twin (same entries, same column order). */
import type { CsrMatrix, DType, StencilOperator } from './types.js';

export function stencilSize(S: StencilOperator): number {
  return S.shape.reduce((a, b) => a * b, 1);
}

/** Neighbour index offsets in ascending column order (−z, −y, −x, +x, +y, +z) with their direction slot. */
export function stencilNeighbours(shape: readonly number[]): { dir: number; axis: number; sign: -1 | 1; stride: number }[] {
  const strides = shape.map((_, a) => shape.slice(0, a).reduce((p, q) => p * q, 1));
  const lower = shape.map((_, a) => ({ dir: 2 * a, axis: a, sign: -1 as const, stride: strides[a]! })).reverse();
  const upper = shape.map((_, a) => ({ dir: 2 * a + 1, axis: a, sign: 1 as const, stride: strides[a]! }));
  return [...lower, ...upper];
}

/**
 * The CSR matrix a stencil applies, entries in ascending column order with the diagonal between the
 * lower and upper neighbours. Zero couplings are kept as explicit zeros only when variable coefficients
 * put them there; constant zero couplings are dropped.
 */
export function stencilToCsr(S: StencilOperator, dtype: DType = 'f64'): CsrMatrix {
  const n = stencilSize(S);
  const nbrs = stencilNeighbours(S.shape);
  const c = S.coeffs;
  const keep = nbrs.map((nb) => c.kind === 'variable' || c.offdiag[nb.dir] !== 0);
  const rowPtr = new Int32Array(n + 1);
  const colIdx = new Int32Array(n * (1 + nbrs.length));
  const values = new Float64Array(n * (1 + nbrs.length));
  const coord = new Int32Array(S.shape.length);
  let q = 0;
  for (let p = 0; p < n; p++) {
    let rest = p;
    for (let a = 0; a < S.shape.length; a++) {
      coord[a] = rest % S.shape[a]!;
      rest = Math.floor(rest / S.shape[a]!);
    }
    const emit = (nb: (typeof nbrs)[number]) => {
      const inside = nb.sign < 0 ? coord[nb.axis]! > 0 : coord[nb.axis]! < S.shape[nb.axis]! - 1;
      if (!inside || !keep[nbrs.indexOf(nb)]) return;
      colIdx[q] = p + nb.sign * nb.stride;
      values[q++] = c.kind === 'constant' ? c.offdiag[nb.dir]! : c.offdiag[nb.dir]![p]!;
    };
    for (const nb of nbrs) if (nb.sign < 0) emit(nb);
    colIdx[q] = p;
    values[q++] = c.kind === 'constant' ? c.diag : c.diag[p]!;
    for (const nb of nbrs) if (nb.sign > 0) emit(nb);
    rowPtr[p + 1] = q;
  }
  return {
    nrows: n,
    ncols: n,
    rowPtr,
    colIdx: colIdx.slice(0, q),
    values: dtype === 'f32' ? Float32Array.from(values.subarray(0, q)) : values.slice(0, q),
  };
}
