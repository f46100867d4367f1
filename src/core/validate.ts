/**
 * Argument checks shared by every public entry point. Each throws a NumkernError whose message
 * starts with the argument's name, before any kernel runs. The checks are O(size) and allocation-free.
 */
import { fail } from './errors.js';
import { contentPrint } from './fingerprint.js';
import type { CsrMatrix, DenseMatrix, DType, FloatArray, Ragged } from './types.js';
import { dtypeOf } from './types.js';

export function isFloatArray(a: unknown): a is FloatArray {
  return a instanceof Float64Array || a instanceof Float32Array;
}

export function checkFloatArray(a: unknown, name: string): FloatArray {
  if (!isFloatArray(a)) fail('E_DTYPE', name, `expected a Float64Array or Float32Array, got ${describe(a)}`);
  checkAttached(a, name);
  return a;
}

export function checkInt32Array(a: unknown, name: string): Int32Array {
  if (!(a instanceof Int32Array)) fail('E_DTYPE', name, `expected an Int32Array, got ${describe(a)}`);
  checkAttached(a, name);
  return a;
}

/**
 * Whether a view's ArrayBuffer was detached (transferred by postMessage or structuredClone with a
 * transfer list, or resized away): it then reads as length 0 — or as NaN inside a kernel that kept its
 * old length. Node 20 has no ArrayBuffer.prototype.detached; constructing a view on a detached buffer
 * throws even for length 0, while an empty attached buffer accepts it.
 */
export function isDetached(a: ArrayBufferView): boolean {
  if (a.byteLength !== 0) return false;
  const flag = (a.buffer as { detached?: unknown }).detached;
  if (typeof flag === 'boolean') return flag;
  try {
    new Uint8Array(a.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/** Whether two views share any byte of memory (same buffer, overlapping ranges). */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}

/** E_SHAPE naming the argument when the view's memory is gone (it holds no data); an empty attached view passes. */
export function checkAttached(a: ArrayBufferView, name: string): void {
  if (isDetached(a)) {
    fail('E_SHAPE', name, "its ArrayBuffer is detached (transferred or structuredClone'd with transfer) and holds no data; keep the array attached until the call settles");
  }
}

export function checkSameDtype(dtype: DType, a: FloatArray, name: string): void {
  if (dtypeOf(a) !== dtype) fail('E_DTYPE', name, `dtype ${dtypeOf(a)} does not match the other operands (${dtype})`);
}

export function checkLength(a: { length: number }, n: number, name: string): void {
  if (a.length !== n) fail('E_SHAPE', name, `expected length ${n}, got ${a.length}`);
}

/**
 * The index of the first NaN or ±Inf in a, or -1: a native scan the native backend lends when it loads
 * (src/backends/native/linalg.ts). It must find exactly what the JS loop finds.
 */
export type FiniteScan = (a: FloatArray) => number;

let finiteScan: FiniteScan | null = null;
/**
 * From this length the native scan beats V8's loop (~1.4 ns an element): a call into the addon costs
 * about 0.07 µs, which the loop spends on ~50 elements (measured 256: 0.09 against 0.17 µs; 1024: 0.22
 * against 1.4 µs). Every op's vector arguments go through here, so for a small matrix (a 1k-row SpMV)
 * the JS loop alone cost a quarter of the product.
 */
const FINITE_SCAN_MIN = 256;

export function registerFiniteScan(scan: FiniteScan | null): void {
  finiteScan = scan;
}

/**
 * The index of a's first entry with !(|a_i| <= bound) — NaN, ±Inf or a magnitude past bound — or -1: a
 * native scan the native backend lends when it loads (src/backends/native/linalg.ts).
 */
export type BoundScan = (a: FloatArray, bound: number) => number;

let boundScan: BoundScan | null = null;
/** From this length the lent bound scan is used: below it the JS loops cost less than the call. */
const BOUND_SCAN_MIN = 512;

/** Lends (or, with null, withdraws) the bound scan; returns the one it replaces. */
export function registerBoundScan(scan: BoundScan | null): BoundScan | null {
  const before = boundScan;
  boundScan = scan;
  return before;
}

/**
 * Whether the lent scan finds every entry of a within bound (finite and |a_i| ≤ bound), in one native
 * pass. False when there is no scan, a is short, the scan refused it or an entry fails: the caller's JS
 * checks then decide, and name the first failure as they always have.
 */
export function withinBound(a: FloatArray, bound: number): boolean {
  if (boundScan === null || a.length < BOUND_SCAN_MIN) return false;
  try {
    return boundScan(a, bound) === -1;
  } catch {
    return false;
  }
}

/**
 * Entries past this could overflow the f64 sums of squares that residual norms are (the oracles pin
 * their order), and keep a_ij·x_j finite for |x_j| ≤ 1e150: the bound of every family's value checks.
 */
export const MAX_MAGNITUDE = 1e150;

/** E_RANGE for the first |entry| > MAX_MAGNITUDE; `what` names what to rescale in the message. */
export function checkMagnitude(a: FloatArray, name: string, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (Math.abs(a[i]!) > MAX_MAGNITUDE) fail('E_RANGE', name, `entry ${i} is ${a[i]}; |entries| must stay below ${MAX_MAGNITUDE} (rescale the ${what})`);
  }
}

/**
 * E_NONFINITE (when checkFinite) for the first NaN/±Inf, then E_RANGE (when magnitude) for the first
 * |entry| > MAX_MAGNITUDE. With magnitude, an array the lent bound scan accepts whole costs one native
 * pass; otherwise the loops name the first failure.
 */
export function checkValues(a: FloatArray, name: string, options: { checkFinite: boolean; magnitude?: boolean }, what: string): void {
  if (options.magnitude && withinBound(a, MAX_MAGNITUDE)) return;
  if (options.checkFinite) checkFinite(a, name);
  if (options.magnitude) checkMagnitude(a, name, what);
}

export function checkFinite(a: FloatArray, name: string): void {
  const i = firstNonFinite(a);
  if (i >= 0) fail('E_NONFINITE', name, `element ${i} is ${a[i]}`);
}

/** The index of a's first NaN or ±Inf, or -1 (the native scan from FINITE_SCAN_MIN elements, its answer confirmed). */
export function firstNonFinite(a: FloatArray): number {
  if (finiteScan !== null && a.length >= FINITE_SCAN_MIN) {
    let i: number;
    try {
      i = finiteScan(a);
    } catch {
      i = -2; // the scan refused the array: the JS loop below decides
    }
    if (i === -1) return -1;
    if (i >= 0 && i < a.length && a[i]! - a[i]! !== 0) return i;
  }
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    // v - v is NaN exactly when v is NaN or ±Inf: one branch-free test per element.
    if (v - v !== 0) return i;
  }
  return -1;
}

export function checkFiniteNumber(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(typeof v === 'number' ? 'E_NONFINITE' : 'E_DTYPE', name, `expected a finite number, got ${describe(v)}`);
  return v;
}

export function checkIntegerInRange(v: unknown, lo: number, hi: number, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail('E_DTYPE', name, `expected an integer, got ${describe(v)}`);
  if (v < lo || v > hi) fail('E_RANGE', name, `expected ${lo} ≤ ${name} ≤ ${hi}, got ${v}`);
  return v;
}

export function checkDimension(v: unknown, name: string): number {
  return checkIntegerInRange(v, 0, 2 ** 31 - 1, name);
}

/**
 * Canonical CSR: rowPtr[0] = 0, non-decreasing, rowPtr[nrows] = nnz = colIdx.length = values.length,
 * and column indices strictly increasing within each row (so the diagonal, if stored, is found once).
 */
export function checkCsr(A: unknown, name: string, options: { checkFinite?: boolean } = {}): CsrMatrix {
  const M = checkCsrHeader(A, name);
  const { ncols, rowPtr, colIdx, values } = M;
  const nnz = colIdx.length;
  const finite = options.checkFinite !== false;
  // The whole check at native speed, every call: nothing cached can go stale after an in-place edit.
  // Only a pass is final; on a failure the scan below names the first violation.
  if (fastScan !== null && nnz >= FAST_SCAN_MIN && fastVerdict(rowPtr, colIdx, values, ncols, { finite, bound: Infinity, positiveDiagonal: false })) return M;
  return scanCsr(M, name, finite);
}

/** Checks a caller may add to checkCsr's, verified in the same native pass when there is one. */
export interface CsrExtraChecks {
  /** Every |value| ≤ maxMagnitude. */
  readonly maxMagnitude: number;
  /** Every row stores its diagonal entry, and it is > 0. */
  readonly positiveDiagonal: boolean;
}

/**
 * checkCsr (values finite), plus `extra` when the native scan can verify it in the same pass:
 * `extraVerified` false means the extra checks were not made (the caller makes them), never that they failed.
 */
export function checkCsrWith(A: unknown, name: string, extra: CsrExtraChecks): { matrix: CsrMatrix; extraVerified: boolean } {
  if (fastScan !== null && typeof A === 'object' && A !== null) {
    const m = A as Partial<CsrMatrix>;
    const nnz = m.colIdx instanceof Int32Array ? m.colIdx.length : 0;
    if (nnz >= FAST_SCAN_MIN) {
      // The header (types, lengths, end pointers) as checkCsr checks it, then one native pass for the rest.
      const header = checkCsrHeader(A, name);
      const checks = { finite: true, bound: extra.maxMagnitude, positiveDiagonal: extra.positiveDiagonal };
      if (fastVerdict(header.rowPtr, header.colIdx, header.values, header.ncols, checks)) return { matrix: header, extraVerified: true };
    }
  }
  return { matrix: checkCsr(A, name), extraVerified: false };
}

function checkCsrHeader(A: unknown, name: string): CsrMatrix {
  if (typeof A !== 'object' || A === null) fail('E_CSR_INVALID', name, `expected a CSR matrix {nrows, ncols, rowPtr, colIdx, values}, got ${describe(A)}`);
  const m = A as Partial<CsrMatrix>;
  const nrows = checkDimension(m.nrows, `${name}.nrows`);
  checkDimension(m.ncols, `${name}.ncols`);
  const rowPtr = checkInt32Array(m.rowPtr, `${name}.rowPtr`);
  const colIdx = checkInt32Array(m.colIdx, `${name}.colIdx`);
  const values = checkFloatArray(m.values, `${name}.values`);
  if (rowPtr.length !== nrows + 1) fail('E_CSR_INVALID', `${name}.rowPtr`, `expected length nrows + 1 = ${nrows + 1}, got ${rowPtr.length}`);
  const nnz = colIdx.length;
  if (values.length !== nnz) fail('E_CSR_INVALID', `${name}.values`, `length ${values.length} differs from colIdx length ${nnz}`);
  if (rowPtr[0] !== 0) fail('E_CSR_INVALID', `${name}.rowPtr`, `rowPtr[0] must be 0, got ${rowPtr[0]}`);
  if (rowPtr[nrows] !== nnz) fail('E_CSR_INVALID', `${name}.rowPtr`, `rowPtr[nrows] must equal nnz = ${nnz}, got ${rowPtr[nrows]}`);
  return A as CsrMatrix;
}

/** checkCsr's JS scan of the rows and values (the header already checked). */
function scanCsr(A: CsrMatrix, name: string, finite: boolean): CsrMatrix {
  const { nrows, ncols, rowPtr, colIdx, values } = A;
  const nnz = colIdx.length;
  if (structureSeen(rowPtr, colIdx, ncols)) {
    if (finite) checkFinite(values, `${name}.values`);
    return A;
  }
  // Row pointers first, in O(nrows): the entry scan below then runs over exactly nnz entries, however
  // large a bad pointer is (a pointer of 2^31 − 1 must not become a 2^31-step loop).
  for (let i = 0; i < nrows; i++) {
    const start = rowPtr[i]!;
    const end = rowPtr[i + 1]!;
    if (end < start) fail('E_CSR_INVALID', `${name}.rowPtr`, `decreases at row ${i} (${start} > ${end})`);
    if (end > nnz) fail('E_CSR_INVALID', `${name}.rowPtr`, `rowPtr[${i + 1}] = ${end} exceeds nnz = ${nnz}`);
  }
  for (let i = 0; i < nrows; i++) {
    const start = rowPtr[i]!;
    const end = rowPtr[i + 1]!;
    let prev = -1;
    for (let p = start; p < end; p++) {
      const j = colIdx[p]!;
      if (j < 0 || j >= ncols) fail('E_CSR_INVALID', `${name}.colIdx`, `entry ${p} (row ${i}) is ${j}, outside [0, ${ncols})`);
      if (j <= prev) fail('E_CSR_INVALID', `${name}.colIdx`, `row ${i} is not strictly increasing at entry ${p} (${prev} then ${j})`);
      prev = j;
    }
  }
  rememberStructure(rowPtr, colIdx, ncols);
  if (finite) checkFinite(values, `${name}.values`);
  return A;
}

/**
 * A native scan of checkCsr's checks (structure, and values finite when asked): true only when A passes
 * them all. The native backend lends it when it loads (src/backends/native/linalg.ts); without it
 * (js only) checkCsr scans in JS. It must never pass what the JS scan refuses.
 */
export type CsrScan = (rowPtr: Int32Array, colIdx: Int32Array, values: FloatArray, ncols: number, checks: CsrScanChecks) => boolean;

/** What a CsrScan checks besides the structure, by name (no code table shared with C++). */
export interface CsrScanChecks {
  /** Every value finite. */
  readonly finite: boolean;
  /** Every |value| ≤ bound (Infinity: no bound; a finite bound implies finite values). */
  readonly bound: number;
  /** Every row stores its diagonal entry, and it is > 0. */
  readonly positiveDiagonal: boolean;
}

let fastScan: CsrScan | null = null;
/** Below this many entries the JS scan is as fast as a call into the addon. */
const FAST_SCAN_MIN = 512;

export function registerCsrScan(scan: CsrScan | null): void {
  fastScan = scan;
}

function fastVerdict(rowPtr: Int32Array, colIdx: Int32Array, values: FloatArray, ncols: number, checks: CsrScanChecks): boolean {
  try {
    return fastScan!(rowPtr, colIdx, values, ncols, checks) === true;
  } catch {
    return false;
  }
}

/**
 * Without the native scan: the O(nnz) structure scan dominates a single SpMV, so a structure that passed is remembered by the
 * identity of its index arrays (shared by A, A + cI, ... built on the same pattern) together with a
 * content fingerprint of both: an in-place edit of either array changes the fingerprint, and the
 * structure is scanned again. The fingerprint reads memory about three times faster than the scan.
 */
const validatedStructures = new WeakMap<Int32Array, WeakMap<Int32Array, string>>();

function structureKey(rowPtr: Int32Array, colIdx: Int32Array, ncols: number): string {
  return `${ncols}/${contentPrint(rowPtr)}/${contentPrint(colIdx)}`;
}

function structureSeen(rowPtr: Int32Array, colIdx: Int32Array, ncols: number): boolean {
  const seen = validatedStructures.get(rowPtr)?.get(colIdx);
  return seen !== undefined && seen === structureKey(rowPtr, colIdx, ncols);
}

function rememberStructure(rowPtr: Int32Array, colIdx: Int32Array, ncols: number): void {
  let inner = validatedStructures.get(rowPtr);
  if (!inner) validatedStructures.set(rowPtr, (inner = new WeakMap()));
  inner.set(colIdx, structureKey(rowPtr, colIdx, ncols));
}

/**
 * CSR snapshots a prepare() made and keeps private (src/relax/prepared.ts), by the handle the caller
 * holds: validated once, never handed out for editing, so an op given the handle (ctx.linalg.spmv(P, x))
 * skips re-validation. A disposed handle is forgotten.
 */
const preparedCsr = new WeakMap<object, CsrMatrix>();

/** A prepared handle in the type of an op's matrix argument. */
export interface PreparedHandle {
  readonly kind: 'prepared';
}

export function registerPreparedCsr(handle: object, A: CsrMatrix | null): void {
  if (A === null) preparedCsr.delete(handle);
  else preparedCsr.set(handle, A);
}

/** The validated snapshot behind a live prepared handle, or undefined. */
export function preparedCsrOf(handle: unknown): CsrMatrix | undefined {
  return typeof handle === 'object' && handle !== null ? preparedCsr.get(handle) : undefined;
}

/** Row-major dense matrix: integer dimensions and data.length = rows·cols. */
export function checkDense(M: unknown, name: string, options: { checkFinite?: boolean } = {}): DenseMatrix {
  if (typeof M !== 'object' || M === null) fail('E_SHAPE', name, `expected a dense matrix {rows, cols, data}, got ${describe(M)}`);
  const m = M as Partial<DenseMatrix>;
  const rows = checkDimension(m.rows, `${name}.rows`);
  const cols = checkDimension(m.cols, `${name}.cols`);
  const data = checkFloatArray(m.data, `${name}.data`);
  if (data.length !== rows * cols) fail('E_SHAPE', `${name}.data`, `length ${data.length}, expected rows·cols = ${rows * cols}`);
  if (options.checkFinite !== false) checkFinite(data, `${name}.data`);
  return M as DenseMatrix;
}

/** Ragged batch: offsets[0] = 0, non-decreasing, offsets[last] = values.length. */
export function checkRagged(r: unknown, name: string, options: { checkFinite?: boolean } = {}): Ragged {
  if (typeof r !== 'object' || r === null) fail('E_SHAPE', name, `expected {offsets, values}, got ${describe(r)}`);
  const g = r as Partial<Ragged>;
  const offsets = checkInt32Array(g.offsets, `${name}.offsets`);
  const values = checkFloatArray(g.values, `${name}.values`);
  if (offsets.length < 1) fail('E_SHAPE', `${name}.offsets`, 'needs at least one entry (0)');
  if (offsets[0] !== 0) fail('E_SHAPE', `${name}.offsets`, `offsets[0] must be 0, got ${offsets[0]}`);
  for (let s = 1; s < offsets.length; s++) {
    if (offsets[s]! < offsets[s - 1]!) fail('E_SHAPE', `${name}.offsets`, `decreases at segment ${s - 1}`);
    if (offsets[s]! > values.length) fail('E_SHAPE', `${name}.offsets`, `offsets[${s}] = ${offsets[s]} exceeds values.length = ${values.length}`);
  }
  if (offsets[offsets.length - 1] !== values.length) {
    fail('E_SHAPE', `${name}.offsets`, `last offset ${offsets[offsets.length - 1]} must equal values.length = ${values.length}`);
  }
  if (options.checkFinite !== false) checkFinite(values, `${name}.values`);
  return r as Ragged;
}

export function checkSignal(signal: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (!(signal instanceof AbortSignal)) fail('E_DTYPE', name, `expected an AbortSignal, got ${describe(signal)}`);
  return signal;
}

export function checkOptions<T extends object>(o: unknown, name = 'options'): Partial<T> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) fail('E_DTYPE', name, `expected an object, got ${describe(o)}`);
  return o as Partial<T>;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length?: number }).length ?? v.byteLength})`;
  if (Array.isArray(v)) return `Array(${v.length})`;
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}
