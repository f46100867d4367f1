/**
 * Input checks of the sketch family: the operand (dense row-major or CSR), right-hand sides, start
 * vectors and the shared numeric options. Every check runs before any kernel and throws a NumkernError
 * that names the argument.
 */
import { fail } from '../core/errors.js';
import { dtypeOf, type DType, type FloatArray } from '../core/types.js';
import {
  checkCsr, checkDense, checkFinite, checkFiniteNumber, checkFloatArray, checkIntegerInRange, checkLength, checkSameDtype, checkValues,
  describe,
} from '../core/validate.js';
import { isCsr, operandCols, operandData, operandRows, type SketchOperand } from './ops.js';

export { MAX_MAGNITUDE } from '../core/validate.js';

export interface CheckedOperand {
  readonly A: SketchOperand;
  readonly rows: number;
  readonly cols: number;
  readonly dtype: DType;
  /** Stored entries: the dispatch size. */
  readonly size: number;
}

export function checkOperand(A: unknown, name: string, options: { checkFinite: boolean; magnitude?: boolean }): CheckedOperand {
  const op = checkOperandShape(A, name);
  checkOperandValues(op, name, options);
  return op;
}

/** The operand's structure (dims, dtype, CSR indices), without looking at its values. */
export function checkOperandShape(A: unknown, name: string): CheckedOperand {
  if (typeof A !== 'object' || A === null) fail('E_SHAPE', name, `expected a dense matrix {rows, cols, data} or a CSR matrix {nrows, ncols, rowPtr, colIdx, values}, got ${describe(A)}`);
  const M = (A as { rowPtr?: unknown }).rowPtr !== undefined
    ? checkCsr(A, name, { checkFinite: false })
    : checkDense(A, name, { checkFinite: false });
  const data = operandData(M);
  return { A: M, rows: operandRows(M), cols: operandCols(M), dtype: dtypeOf(data), size: Math.max(data.length, operandRows(M)) };
}

/**
 * The value checks of checkOperand: E_NONFINITE (when checkFinite) for the first NaN/±Inf, then E_RANGE
 * for the first |entry| > MAX_MAGNITUDE (when magnitude). Also the façade's fallback when a kernel that
 * screens in its pass reports a bad element: rerun here, it throws exactly the error the scan would.
 */
export function checkOperandValues(op: CheckedOperand, name: string, options: { checkFinite: boolean; magnitude?: boolean }): void {
  checkValues(operandData(op.A), `${name}.${isCsr(op.A) ? 'values' : 'data'}`, options, 'problem');
}

/** A vector of the operand's dtype and length n. */
export function checkVector(v: unknown, n: number, dtype: DType, name: string, options: { checkFinite: boolean; magnitude?: boolean }): FloatArray {
  const a = checkFloatArray(v, name);
  checkSameDtype(dtype, a, name);
  checkLength(a, n, name);
  checkValues(a, name, options, 'problem');
  return a;
}

/** A start vector x0 of length d, any float dtype; copied into a fresh f64 array. */
export function checkStart(x0: unknown, d: number, name: string): Float64Array {
  const a = checkFloatArray(x0, name);
  checkLength(a, d, name);
  checkFinite(a, name);
  return Float64Array.from(a);
}

/** Options given as null are refused like any other wrong type: only undefined takes the default. */
export function given<T>(o: object, key: string, prefix = 'options'): T | undefined {
  const v = (o as Record<string, unknown>)[key];
  if (v === null) fail('E_DTYPE', `${prefix}.${key}`, 'is null; omit it to take the default');
  return v as T | undefined;
}

export function checkTol(v: unknown, name: string): number {
  const t = checkFiniteNumber(v, name);
  if (!(t >= 0)) fail('E_RANGE', name, `must be ≥ 0, got ${t}`);
  return t;
}

export function checkMaxIter(v: unknown, name: string): number {
  return checkIntegerInRange(v, 0, 2 ** 31 - 1, name);
}
