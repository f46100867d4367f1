/**
 * Façade for the primitives every family shares (SpMV, BLAS-1, segmented reductions):
 * validate, allocate the output in the input dtype, dispatch. No arithmetic here.
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { allocLike, dtypeOf, type CsrMatrix, type FloatArray, type Ragged } from '../core/types.js';
import {
  checkCsr, checkFinite, checkFiniteNumber, firstNonFinite, checkFloatArray, checkIntegerInRange, checkLength, checkRagged, checkSameDtype, describe,
  preparedCsrOf, type PreparedHandle,
} from '../core/validate.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';

export interface SpmvOptions extends OpOptions {
  /**
   * Write y here instead of allocating (length A.nrows, same dtype). If the call throws E_NONFINITE for
   * A.values after the product ran (the check of a plain CSR's values follows the product: see spmv),
   * out is left holding NaN in every entry, never a partial product.
   */
  out?: FloatArray;
}

/**
 * y = A x. A is a CSR matrix, validated on every call (nothing cached can go stale after an in-place
 * edit), or a prepared handle (ctx.relax.prepare(A)) whose private snapshot was validated once.
 *
 * A plain CSR's structure (row pointers, every column index) is checked before any kernel runs (one
 * native pass when the addon is loaded: core/validate.ts checkCsr), x's finiteness too; the finiteness
 * of A.values is judged after the product. A backend whose arithmetic propagates NaN and ±Inf says so
 * (src/linalg/ops.ts): with x finite, a non-finite value a_ij makes the term a_ij·x_j, and so y_i,
 * non-finite; a y with no NaN or ±Inf (one scan of nrows entries instead of nnz) proves every value
 * finite. Only when y is not all finite (or the backend makes no such promise) are the values scanned,
 * for the same E_NONFINITE naming the first bad element as before the product; a y that overflowed
 * from finite values is returned as it was before. Errors keep their precedence: A's structure, then
 * A.values, then x, options.out and the dispatch.
 */
export async function spmv(engine: Engine, Ain: CsrMatrix | PreparedHandle, x: FloatArray, options?: SpmvOptions): Promise<FloatArray> {
  const o = checkOpOptions<SpmvOptions>(options);
  const finite = o.checkFinite !== false;
  const prepared = preparedCsrOf(Ain);
  if (!prepared && (Ain as { kind?: unknown } | null)?.kind === 'prepared') fail('E_RANGE', 'A', 'this prepared operator was disposed; prepare the matrix again');
  const A = prepared ?? checkCsr(Ain, 'A', { checkFinite: false });
  // The values are judged after the product unless A is prepared (validated then) or not checked at all.
  const valuesPending = finite && prepared === undefined;
  let y: FloatArray;
  let propagates: boolean;
  try {
    y = checkVectors(A, x, o.out, finite);
    propagates = (await engine.run('spmv', { A, x, y, prepared: prepared !== undefined }, { ...o, dtype: dtypeOf(A.values), size: A.colIdx.length })).value;
  } catch (e) {
    // A non-finite value of A is reported before anything wrong with x, out or the dispatch (an unknown
    // backend, an abort), as when the values were checked first.
    if (valuesPending) checkFinite(A.values, 'A.values');
    throw e;
  }
  if (valuesPending && (!propagates || firstNonFinite(y) >= 0) && firstNonFinite(A.values) >= 0) {
    // A product of a matrix that fails validation is never left behind looking like a result.
    if (o.out !== undefined) y.fill(NaN);
    checkFinite(A.values, 'A.values');
  }
  return y;
}

/** x against A (dtype, length, finite when asked), and options.out, or a new y. */
function checkVectors(A: CsrMatrix, x: FloatArray, out: FloatArray | undefined, finite: boolean): FloatArray {
  checkFloatArray(x, 'x');
  const dtype = dtypeOf(A.values);
  checkSameDtype(dtype, x, 'x');
  checkLength(x, A.ncols, 'x');
  if (finite) checkFinite(x, 'x');
  if (out === undefined) return allocLike(x, A.nrows);
  const y = checkFloatArray(out, 'options.out');
  checkSameDtype(dtype, y, 'options.out');
  checkLength(y, A.nrows, 'options.out');
  if (y.buffer === x.buffer) fail('E_SHAPE', 'options.out', 'must not alias x');
  return y;
}

function checkPair(x: FloatArray, y: FloatArray, finite: boolean): void {
  checkFloatArray(x, 'x');
  checkFloatArray(y, 'y');
  checkSameDtype(dtypeOf(x), y, 'y');
  checkLength(y, x.length, 'y');
  if (finite) {
    checkFinite(x, 'x');
    checkFinite(y, 'y');
  }
}

export async function dot(engine: Engine, x: FloatArray, y: FloatArray, options?: OpOptions): Promise<number> {
  const o = checkOpOptions(options);
  checkPair(x, y, o.checkFinite !== false);
  return (await engine.run('dot', { x, y }, { ...o, dtype: dtypeOf(x), size: x.length })).value;
}

export interface AxpyOptions extends OpOptions {
  /** Update y itself instead of returning a new array. */
  inPlace?: boolean;
}

/** Returns α x + y; y is left untouched unless options.inPlace. */
export async function axpy(engine: Engine, alpha: number, x: FloatArray, y: FloatArray, options?: AxpyOptions): Promise<FloatArray> {
  const o = checkOpOptions<AxpyOptions>(options);
  checkFiniteNumber(alpha, 'alpha');
  checkPair(x, y, o.checkFinite !== false);
  // Kernels round α to the dtype first (as BLAS saxpy does): an α past f32's range would become ±Inf.
  if (x instanceof Float32Array && !Number.isFinite(Math.fround(alpha))) fail('E_RANGE', 'alpha', `${alpha} is outside the f32 range of x and y`);
  if (o.inPlace !== undefined && typeof o.inPlace !== 'boolean') fail('E_DTYPE', 'options.inPlace', `expected a boolean, got ${describe(o.inPlace)}`);
  const target = o.inPlace ? y : y.slice();
  await engine.run('axpy', { alpha, x, y: target }, { ...o, dtype: dtypeOf(x), size: x.length });
  return target;
}

export async function nrm2(engine: Engine, x: FloatArray, options?: OpOptions): Promise<number> {
  const o = checkOpOptions(options);
  checkFloatArray(x, 'x');
  if (o.checkFinite !== false) checkFinite(x, 'x');
  return (await engine.run('nrm2', { x }, { ...o, dtype: dtypeOf(x), size: x.length })).value;
}

export interface MomentsOptions extends OpOptions {
  /** Variance divisor is count − ddof (0: population, 1: sample). Default 0. */
  ddof?: number;
}

export interface Moments<T extends FloatArray = FloatArray> {
  sum: T;
  mean: T;
  variance: T;
}

/** Sum, mean and variance of every segment of a ragged batch in one pass over the data. */
export async function segmentedMoments(engine: Engine, batch: Ragged, options?: MomentsOptions): Promise<Moments> {
  const o = checkOpOptions<MomentsOptions>(options);
  checkRagged(batch, 'batch', { checkFinite: o.checkFinite !== false });
  const ddof = o.ddof === undefined ? 0 : checkIntegerInRange(o.ddof, 0, 2 ** 31 - 1, 'options.ddof');
  const nseg = batch.offsets.length - 1;
  const sum = allocLike(batch.values, nseg);
  const mean = allocLike(batch.values, nseg);
  const variance = allocLike(batch.values, nseg);
  await engine.run(
    'segmentedMoments',
    { values: batch.values, offsets: batch.offsets, ddof, sum, mean, variance },
    { ...o, dtype: dtypeOf(batch.values), size: batch.values.length },
  );
  return { sum, mean, variance };
}
