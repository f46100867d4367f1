/** Stencil operators as data: their size and their exact CSR twin (same entries, same column order). */
import { allocF64, allocI32, checkMemory } from './alloc.js';
import { fail } from './errors.js';
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
export function stencilToCsr(S: StencilOperator, dtype: DType = 'f64', argument = 'S'): CsrMatrix {
  const n = stencilSize(S);
  const nbrs = stencilNeighbours(S.shape);
  const c = S.coeffs;
  const keep = nbrs.map((nb) => c.kind === 'variable' || c.offdiag[nb.dir] !== 0);
  // Each kept direction couples the grid points that have a neighbour that way: n/len · (len − 1).
  const entries = nbrs.reduce((e, nb, k) => e + (keep[k] ? (n / S.shape[nb.axis]!) * (S.shape[nb.axis]! - 1) : 0), n);
  if (entries > 2 ** 31 - 1) {
    fail('E_RANGE', argument, `its CSR form would hold ${entries} entries, past the 2^31 − 1 an int32 row pointer can address; keep the stencil form`);
  }
  checkMemory(4 * (n + 1) + 12 * entries, argument);
  const rowPtr = allocI32(n + 1, argument);
  const colIdx = allocI32(entries, argument);
  const values = allocF64(entries, argument);
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
    colIdx,
    values: dtype === 'f32' ? Float32Array.from(values) : values,
  };
}

/**
 * The stencil whose exact CSR twin (stencilToCsr) is A, or null. A grid operator stored as CSR (a
 * 5-point 2-D or 7-point 3-D stencil in natural ordering, x fastest) is recognized from row 0's
 * neighbour offsets, read back into coefficients (constant when every direction's couplings agree),
 * and accepted only if its twin reproduces A's rowPtr, colIdx and values exactly, so every kernel
 * that runs the stencil computes what it would compute on A, bit for bit (the twins are tested to
 * agree). f64 values only: an f32 matrix keeps its own rounding. O(nnz), run once by a prepare.
 */
export function recognizeStencil(A: CsrMatrix): StencilOperator | null {
  const n = A.nrows;
  if (!(A.values instanceof Float64Array) || n < 2 || A.ncols !== n) return null;
  const shape = gridShape(A);
  if (shape === null) return null;
  const nbrs = stencilNeighbours(shape);
  const diag = new Float64Array(n);
  const offdiag = shape.flatMap(() => [new Float64Array(n), new Float64Array(n)]);
  for (let p = 0; p < n; p++) {
    for (let q = A.rowPtr[p]!; q < A.rowPtr[p + 1]!; q++) {
      const d = A.colIdx[q]! - p;
      if (d === 0) {
        diag[p] = A.values[q]!;
        continue;
      }
      const nb = nbrs.find((b) => b.sign * b.stride === d);
      if (nb === undefined) return null;
      offdiag[nb.dir]![p] = A.values[q]!;
    }
  }
  const constant = diag.every((v) => Object.is(v, diag[0])) && nbrs.every((nb) => {
    let value: number | null = null;
    for (let p = 0; p < n; p++) {
      if (!hasNeighbour(shape, p, nb)) continue;
      const v = offdiag[nb.dir]![p]!;
      if (value === null) value = v;
      else if (!Object.is(v, value)) return false;
    }
    return true;
  });
  const candidates: StencilOperator[] = [];
  if (constant) {
    const c = nbrs.map(() => 0);
    for (const nb of nbrs) for (let p = 0; p < n; p++) if (hasNeighbour(shape, p, nb)) { c[nb.dir] = offdiag[nb.dir]![p]!; break; }
    candidates.push({ kind: 'stencil', shape, coeffs: { kind: 'constant', diag: diag[0]!, offdiag: c } });
  }
  candidates.push({ kind: 'stencil', shape, coeffs: { kind: 'variable', diag, offdiag } });
  for (const S of candidates) if (sameCsr(stencilToCsr(S), A)) return S;
  return null;
}

/** [nx, ny] or [nx, ny, nz] from row 0's neighbours (+x at 1, +y at nx, +z at nx·ny), or null. */
function gridShape(A: CsrMatrix): number[] | null {
  const n = A.nrows;
  const up: number[] = [];
  for (let q = A.rowPtr[0]!; q < A.rowPtr[1]!; q++) if (A.colIdx[q]! > 0) up.push(A.colIdx[q]!);
  if (up.length < 2 || up.length > 3 || up[0] !== 1) return null;
  const nx = up[1]!;
  if (up.length === 2) return n % nx === 0 && nx > 1 && n / nx > 1 ? [nx, n / nx] : null;
  const nxy = up[2]!;
  if (nxy % nx !== 0 || n % nxy !== 0) return null;
  const shape = [nx, nxy / nx, n / nxy];
  return shape.every((s) => s > 1) ? shape : null;
}

function hasNeighbour(shape: readonly number[], p: number, nb: { axis: number; sign: -1 | 1; stride: number }): boolean {
  const c = Math.floor(p / nb.stride) % shape[nb.axis]!;
  return nb.sign < 0 ? c > 0 : c < shape[nb.axis]! - 1;
}

function sameCsr(a: CsrMatrix, b: CsrMatrix): boolean {
  const eq = (x: ArrayLike<number>, y: ArrayLike<number>): boolean => {
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  };
  return a.nrows === b.nrows && eq(a.rowPtr, b.rowPtr) && eq(a.colIdx, b.colIdx) && eq(a.values, b.values);
}
