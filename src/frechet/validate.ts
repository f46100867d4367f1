/**
 * Input checks of the frechet family (docs/frechet.md §9). Each runs before any kernel and throws a
 * NumkernError whose message starts with the argument's name.
 */
import { fail } from '../core/errors.js';
import type { DenseMatrix, DType, FloatArray } from '../core/types.js';
import { dtypeOf } from '../core/types.js';
import { checkDense, checkInt32Array, checkIntegerInRange, describe } from '../core/validate.js';

/** Largest finite value of each dtype: scores and squared distances must stay below it. */
export const DTYPE_MAX: Readonly<Record<DType, number>> = { f32: 3.4028234663852886e38, f64: Number.MAX_VALUE };

/** Kernel operands are indexed with 32-bit integers on every backend. */
export const MAX_INDEX = 2 ** 31 - 1;

/**
 * Observed class ids: an Int32Array of distinct labels in [0, labelCount). Entry k names the label of
 * row k of D (or of the graph's k-th source) and of column k of P — never an implicit order (loki.md §9).
 */
export function checkObserved(observed: unknown, labelCount: number, name: string): Int32Array {
  const o = checkInt32Array(observed, name);
  if (o.length === 0) fail('E_SHAPE', name, 'is empty; Loki needs at least one observed class');
  const seen = new Set<number>();
  for (let k = 0; k < o.length; k++) {
    const id = o[k]!;
    if (id < 0 || id >= labelCount) fail('E_RANGE', name, `entry ${k} is label ${id}, outside the label space [0, ${labelCount})`);
    if (seen.has(id)) fail('E_RANGE', name, `label ${id} is repeated (entries ${o.indexOf(id)} and ${k}); each observed class needs its own row`);
    seen.add(id);
  }
  return o;
}

/**
 * P: a dense B×K matrix in the metric's dtype, K = observed.length (its shape; checkWeightValues checks
 * the values).
 */
export function checkWeightsShape(P: unknown, K: number, dtype: DType, observedName: string): DenseMatrix {
  const M = checkDense(P, 'P', { checkFinite: false });
  if (dtypeOf(M.data) !== dtype) fail('E_DTYPE', 'P.data', `dtype ${dtypeOf(M.data)} does not match the metric's ${dtype}`);
  if (M.cols !== K) fail('E_SHAPE', 'P.cols', `P has ${M.cols} columns but ${observedName} names ${K} observed classes; column k of P is the weight of ${observedName}[k]`);
  if (M.rows * Math.max(K, 1) > MAX_INDEX) fail('E_RANGE', 'P', `${M.rows}×${K} exceeds the 2^31 − 1 elements a kernel can index`);
  return M;
}

/**
 * P's values: nonnegative and finite, and no all-zero row (docs/frechet.md §2.4: the Fréchet mean of
 * zero weight is undefined). Returns the row sums (f64, k ascending), which the embedding reduction uses.
 * The native kernel makes the same test in its own pass (native/src/frechet/topk.cc, weights_bad).
 */
export function checkWeightValues(M: DenseMatrix): Float64Array {
  const d = M.data;
  const K = M.cols;
  const rowSums = new Float64Array(M.rows);
  // The common case in one tight pass (P is as large as D when N ≈ K); the loop below only names the fault.
  if (sumRows(d, M.rows, K, rowSums)) return rowSums;
  for (let b = 0; b < M.rows; b++) {
    let s = 0;
    for (let k = 0; k < K; k++) {
      const v = d[b * K + k]!;
      if (!(v >= 0 && v <= DTYPE_MAX.f64)) {
        fail(v - v !== 0 ? 'E_NONFINITE' : 'E_RANGE', 'P', `element (${b}, ${k}) is ${v}; weights must be finite and ≥ 0`);
      }
      s += v;
    }
    if (s === 0) fail('E_RANGE', 'P', `row ${b} is all zeros; the Fréchet mean needs some positive weight (docs/frechet.md §2.4)`);
    if (s === Infinity) fail('E_RANGE', 'P', `row ${b} sums past the f64 range; rescale the row (the prediction is scale-invariant)`);
    rowSums[b] = s;
  }
  return rowSums;
}

/** Names of the value checks a screening kernel may make in its own pass (see Deferred). */
export type DeferredCheck = 'D' | 'P';

/**
 * Value checks left to the kernel's own pass (docs/frechet.md §9): the native kernel screens P (its W)
 * and a D of squared distances (its M) as it reads them, where a JS scan costs as much as a small
 * prediction. A check keeps its place in the order of checks: whatever is thrown after it was deferred
 * (a later check, the dispatch, an abort) first runs the pending checks in the order they were
 * deferred, and a kernel that flags a value, or does not screen, has them run before its result is
 * used. So every input, however many faults it has, gets the error it got when every check ran first.
 */
export class Deferred {
  private pending: { what: DeferredCheck; run: () => void }[] = [];

  add(what: DeferredCheck, run: () => void): void {
    this.pending.push({ what, run });
  }

  has(what: DeferredCheck): boolean {
    return this.pending.some((c) => c.what === what);
  }

  /**
   * Runs the pending checks in order (only `what`'s, when given; the others stay pending) and drops them.
   * One that throws drops every check still pending: they come after it, and must not replace its error.
   */
  flush(what?: DeferredCheck): void {
    const now = what === undefined ? this.pending : this.pending.filter((c) => c.what === what);
    this.pending = what === undefined ? [] : this.pending.filter((c) => c.what !== what);
    try {
      for (const c of now) c.run();
    } catch (e) {
      this.pending = [];
      throw e;
    }
  }

  /** The kernel passed every pending check in its own pass. */
  clear(): void {
    this.pending = [];
  }

  /** fn's result; if fn throws, the pending checks run first (one of them may throw instead). */
  async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      this.flush();
      throw e;
    }
  }
}

export function checkBoolean(v: unknown, name: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') fail('E_DTYPE', name, `expected a boolean, got ${describe(v)}`);
  return v;
}

export function checkTies(v: unknown, name = 'options.ties'): 'first' {
  if (v !== undefined && v !== 'first') {
    fail('E_RANGE', name, `expected 'first' (exact ties go to the smaller label id, docs/frechet.md §4.2), got ${describe(v)}`);
  }
  return 'first';
}

export function checkTopk(v: unknown, max: number, name = 'options.topk'): number {
  if (v === undefined) return 1;
  return checkIntegerInRange(v, 1, Math.max(1, max), name);
}

/**
 * Row sums of a rows×K matrix into `sums`; true when every entry is ≥ 0 and finite and every sum is
 * positive and finite (NaN and ±∞ entries make the sum or the minimum fail the test, never pass it).
 */
function sumRows(d: FloatArray, rows: number, K: number, sums: Float64Array): boolean {
  let ok = true;
  for (let b = 0, o = 0; b < rows; b++, o += K) {
    let s = 0;
    let lo = 0;
    for (let i = o; i < o + K; i++) {
      const v = d[i]!;
      s += v;
      if (v < lo) lo = v;
    }
    sums[b] = s;
    ok = ok && lo >= 0 && s > 0 && s < Infinity;
  }
  return ok;
}

/** Finite, ≥ 0, and (when `square`) still finite once squared in the dtype: one compare pair per entry. */
export function checkDistances(data: FloatArray, dtype: DType, square: boolean, name: string): void {
  const lim = square ? Math.sqrt(DTYPE_MAX[dtype]) : DTYPE_MAX[dtype];
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v >= 0 && v <= lim) continue;
    if (v - v !== 0) fail('E_NONFINITE', name, `element ${i} is ${v}`);
    if (v < 0) fail('E_RANGE', name, `element ${i} is ${v}; distances must be ≥ 0`);
    fail('E_RANGE', name, `element ${i} is ${v}; its square overflows ${dtype} (rescale the metric: the prediction is scale-invariant)`);
  }
}

/** Returns max |v| after checking that every entry is finite. */
export function maxAbsFinite(data: FloatArray, name: string): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) fail('E_NONFINITE', name, `element ${i} is ${v}`);
    const a = Math.abs(v);
    if (a > m) m = a;
  }
  return m;
}

/** A label range [start, end) inside the ids a metric covers. */
export function checkRange(range: unknown, lo: number, hi: number, name = 'options.range'): [number, number] {
  if (range === undefined) return [lo, hi];
  if (!Array.isArray(range) || range.length !== 2) fail('E_DTYPE', name, `expected [start, end], got ${describe(range)}`);
  const start = checkIntegerInRange(range[0], lo, hi, `${name}[0]`);
  const end = checkIntegerInRange(range[1], lo, hi, `${name}[1]`);
  if (end <= start) fail('E_RANGE', name, `[${start}, ${end}) is empty; a shard needs at least one label`);
  return [start, end];
}
