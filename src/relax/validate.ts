/**
 * Input checks of the relax family: the operator (CSR or stencil, square, positive stored diagonal,
 * finite, not so large that residual sums of squares overflow), the right-hand side and x0. Every check
 * runs before any kernel and throws a NumkernError naming the argument.
 */
import { fail } from '../core/errors.js';
import { stencilSize } from '../core/stencil.js';
import { dtypeOf, isStencil, type FloatArray, type LinearOperator } from '../core/types.js';
import {
  checkCsrWith, checkFiniteNumber, checkFloatArray, checkIntegerInRange, checkLength, checkMagnitude, checkSameDtype, checkValues,
  describe, MAX_MAGNITUDE, withinBound,
} from '../core/validate.js';

export interface OperatorCheckOptions {
  /**
   * Base of the row indices in messages: 1 when the matrix came from a Matrix Market file, whose
   * indices start at 1, so "diagonal entry 5" names the line a user will look for.
   */
  readonly indexBase?: 0 | 1;
}

export { MAX_MAGNITUDE } from '../core/validate.js';

/** checkFinite then checkMagnitude, in one native pass when the scan passes the whole array; else the loops name the first failure. */
export function checkBoundedVector(v: FloatArray, name: string): void {
  checkValues(v, name, { checkFinite: true, magnitude: true }, 'system');
}

/** Whether a holds a NaN or ±Inf. */
export function hasNonFinite(a: FloatArray): boolean {
  // !(|v| <= MAX_VALUE) is exactly NaN or ±Inf.
  if (withinBound(a, Number.MAX_VALUE)) return false;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return true;
  return false;
}

/** Validates a CSR or stencil operator for relaxation: square, stored positive diagonal, finite, bounded. */
export function checkOperator(A: unknown, name = 'A', options: OperatorCheckOptions = {}): LinearOperator {
  if (typeof A === 'object' && A !== null && (A as { kind?: unknown }).kind === 'stencil') return checkStencil(A, name);
  const base = options.indexBase ?? 0;
  // One native pass checks the magnitudes and diagonals with the structure when the addon is there.
  const { matrix: M, extraVerified } = checkCsrWith(A, name, { maxMagnitude: MAX_MAGNITUDE, positiveDiagonal: true });
  if (M.nrows !== M.ncols) fail('E_SHAPE', name, `must be square, got ${M.nrows}×${M.ncols}`);
  if (extraVerified) return M;
  checkMagnitude(M.values, `${name}.values`, 'system');
  for (let i = 0; i < M.nrows; i++) {
    let d = 0;
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) if (M.colIdx[p] === i) d = M.values[p]!;
    checkDiagonal(d, i + base, name);
  }
  return M;
}

/** Zero is E_ZERO_DIAGONAL; a negative entry is a matrix that is not positive definite (E_RANGE). */
function checkDiagonal(d: number, i: number, name: string): void {
  if (d === 0) fail('E_ZERO_DIAGONAL', name, `diagonal entry ${i} is 0 (or not stored); relaxation divides by the diagonal`);
  if (!(d > 0)) fail('E_RANGE', name, `diagonal entry ${i} is ${d} < 0: A is not positive definite (relaxation and CG need a positive diagonal; solve −A x = −b if A is negative definite)`);
}

function checkStencil(A: object, name: string): LinearOperator {
  const S = A as { shape?: unknown; coeffs?: { kind?: unknown; diag?: unknown; offdiag?: unknown } };
  if (!Array.isArray(S.shape) || (S.shape.length !== 2 && S.shape.length !== 3)) fail('E_SHAPE', `${name}.shape`, `expected [nx, ny] or [nx, ny, nz], got ${describe(S.shape)}`);
  S.shape.forEach((v, a) => checkIntegerInRange(v, 1, 2 ** 31 - 1, `${name}.shape[${a}]`));
  const n = S.shape.reduce((p: number, q: number) => p * q, 1);
  if (n > 2 ** 31 - 1) fail('E_SHAPE', `${name}.shape`, `grid of ${n} unknowns exceeds 2^31 − 1`);
  const c = S.coeffs;
  const dirs = 2 * S.shape.length;
  if (typeof c !== 'object' || c === null) fail('E_DTYPE', `${name}.coeffs`, `expected {kind, diag, offdiag}, got ${describe(c)}`);
  if (!Array.isArray(c.offdiag) || c.offdiag.length !== dirs) fail('E_SHAPE', `${name}.coeffs.offdiag`, `expected ${dirs} directions, got ${describe(c.offdiag)}`);
  if (c.kind === 'constant') {
    const d = checkFiniteNumber(c.diag, `${name}.coeffs.diag`);
    if (Math.abs(d) > MAX_MAGNITUDE) fail('E_RANGE', `${name}.coeffs.diag`, `is ${d}; must stay below ${MAX_MAGNITUDE} (rescale the system)`);
    checkDiagonal(d, 0, `${name}.coeffs.diag`);
    c.offdiag.forEach((v, k) => {
      const o = checkFiniteNumber(v, `${name}.coeffs.offdiag[${k}]`);
      if (Math.abs(o) > MAX_MAGNITUDE) fail('E_RANGE', `${name}.coeffs.offdiag[${k}]`, `is ${o}; must stay below ${MAX_MAGNITUDE} (rescale the system)`);
    });
  } else if (c.kind === 'variable') {
    const diag = checkFloatArray(c.diag, `${name}.coeffs.diag`);
    checkLength(diag, n, `${name}.coeffs.diag`);
    checkValues(diag, `${name}.coeffs.diag`, { checkFinite: true, magnitude: true }, 'system');
    for (let i = 0; i < n; i++) checkDiagonal(diag[i]!, i, `${name}.coeffs.diag`);
    c.offdiag.forEach((v, k) => {
      const a = checkFloatArray(v, `${name}.coeffs.offdiag[${k}]`);
      checkSameDtype(dtypeOf(diag), a, `${name}.coeffs.offdiag[${k}]`);
      checkLength(a, n, `${name}.coeffs.offdiag[${k}]`);
      checkValues(a, `${name}.coeffs.offdiag[${k}]`, { checkFinite: true, magnitude: true }, 'system');
    });
  } else {
    fail('E_DTYPE', `${name}.coeffs.kind`, `expected 'constant' or 'variable', got ${describe(c.kind)}`);
  }
  return A as LinearOperator;
}

export function operatorSize(A: LinearOperator): { n: number; work: number } {
  if (isStencil(A)) {
    const n = stencilSize(A);
    return { n, work: n * (1 + 2 * A.shape.length) };
  }
  return { n: A.nrows, work: A.colIdx.length };
}

export function operatorDtype(A: LinearOperator): 'f32' | 'f64' | null {
  if (isStencil(A)) return A.coeffs.kind === 'variable' ? dtypeOf(A.coeffs.diag) : null;
  return dtypeOf(A.values);
}

export interface CheckedOperator {
  readonly A: LinearOperator;
  readonly n: number;
  /** Stored entries touched by one pass over the operator: the dispatch size. */
  readonly work: number;
  /** dtype of the values; null for a constant stencil. */
  readonly dtype: 'f32' | 'f64' | null;
}

export interface CheckedSystem extends CheckedOperator {
  readonly b: FloatArray;
}

export function checkedOperator(A: unknown, name: string): CheckedOperator {
  const op = checkOperator(A, name);
  return { A: op, ...operatorSize(op), dtype: operatorDtype(op) };
}

/** The right-hand side and x0 against an operator already checked (or prepared). */
export function checkSystem(op: CheckedOperator, b: unknown, x0: unknown, names: { b: string; x0: string }): CheckedSystem {
  const rhs = checkFloatArray(b, names.b);
  checkLength(rhs, op.n, names.b);
  if (op.dtype) checkSameDtype(op.dtype, rhs, names.b);
  checkBoundedVector(rhs, names.b);
  if (x0 !== undefined) {
    const x = checkFloatArray(x0, names.x0);
    checkSameDtype(dtypeOf(rhs), x, names.x0);
    checkLength(x, op.n, names.x0);
    checkBoundedVector(x, names.x0);
  }
  return { ...op, b: rhs };
}
