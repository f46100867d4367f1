/**
 * The shared primitives (src/linalg/ops.ts) on the native backend, f32 and f64.
 *
 * Every call runs on the calling thread, on the caller's arrays (the kernels still use all the
 * context's threads). These kernels make one pass over memory, and an asynchronous call would first
 * have to copy its operands on the JS thread (bindings/args.hpp: JS may detach them while the pool
 * runs), blocking the event loop as long as the kernel itself would and then doing the work again.
 * Instead, large calls of the row-, element- and segment-parallel kernels (spmv, axpy,
 * segmentedMoments) run as slices of about SLICE units with the event loop turning between them: rows,
 * elements and segments are independent, so the result is bit for bit the one call's. dot and nrm2 sum
 * fixed blocks in a fixed order over the whole array, so they run whole.
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import type { CsrMatrix, FloatArray } from '../../core/types.js';
import { registerBoundScan, registerCsrScan, registerFiniteScan } from '../../core/validate.js';
import { guarded, mapNativeError } from '../addon/errors.js';
import type { NativeHandle } from './index.js';
import { inSlices } from './slices.js';

/** Units (nonzeros + rows for spmv, elements, values + segments) per slice: a few milliseconds of memory traffic. */
export const SLICE = 1 << 22;

/** a itself for a call in one piece (so the addon checks it whole), else the piece [lo, hi). */
function piece<T extends Int32Array | FloatArray>(a: T, lo: number, hi: number, count: number): T {
  return lo === 0 && hi === count ? a : (a.subarray(lo, hi) as T);
}

/** The offsets (rowPtr) of items [lo, hi): absolute, as the addon takes any first offset >= 0. */
const offsetsPiece = (offsets: Int32Array, lo: number, hi: number, count: number): Int32Array => piece(offsets, lo, hi + 1, count + 1);

/** A synchronous addon call: its value, or a promise rejected with its error mapped as guarded() maps it. */
function guardedSync<R>(call: () => R): R | Promise<never> {
  try {
    return call();
  } catch (e) {
    return Promise.reject(mapNativeError(e));
  }
}

export function linalgKernels({ addon, threads }: NativeHandle, slice: number = SLICE): AnyKernel[] {
  const dtypes = ['f32', 'f64'] as const;
  // Lends core the native CSR check (bindings/linalg.cc csrCheck): every public op that takes a CSR
  // matrix then validates it per call at native speed instead of a fingerprint and a JS scan.
  // The context's threads run its two flat passes on a large matrix (csr_check.cc).
  const csrCheck = addon.csrCheck?.bind(addon);
  if (csrCheck) registerCsrScan((rowPtr, colIdx, values, ncols, checks) => csrCheck(rowPtr, colIdx, values, ncols, checks, threads));
  // And its finite scan: every op's vector arguments are checked at memory speed (core/validate.ts checkFinite).
  if (typeof addon.firstNonFinite === 'function') registerFiniteScan(addon.firstNonFinite.bind(addon));
  // And its bound scan: the families' finite-and-bounded checks of large arrays in one pass (core/validate.ts withinBound).
  if (typeof addon.firstBeyond === 'function') registerBoundScan(addon.firstBeyond.bind(addon));
  const layouts = new WeakMap<CsrMatrix, object | null>();
  const lanesOf = (A: CsrMatrix): object | null => {
    if (!addon.csrLanes || !addon.spmvLanes) return null;
    let L = layouts.get(A);
    if (L === undefined) {
      L = addon.csrLanes(A.rowPtr, A.colIdx, A.values as Float64Array, A.ncols);
      layouts.set(A, L);
    }
    return L;
  };
  return [
    kernel({
      op: 'spmv',
      dtypes,
      // Built without fast-math (CMakeLists.txt): NaN and ±Inf propagate through every row's sum (src/linalg/ops.ts).
      run: ({ A, x, y, prepared }) => {
        const n = A.nrows;
        // A prepared snapshot never changes, so its lane layout (rows eight to a vector, numkern/csr_lanes.hpp;
        // the same bits) is built once, natively checked, and kept while the snapshot lives.
        if (prepared && A.rowPtr[n]! + n <= slice && A.values instanceof Float64Array) {
          const lanes = lanesOf(A);
          if (lanes) return guardedSync(() => (addon.spmvLanes!(lanes, x as Float64Array, y as Float64Array, threads), true));
        }
        // A call within one slice, the common case, is one plain synchronous call, without the promises
        // of guarded() and inSlices() (a small product is a few microseconds: per-call overhead shows).
        if (A.rowPtr[n]! + n <= slice) return guardedSync(() => (addon.spmv(A.rowPtr, A.colIdx, A.values, x, y, threads), true));
        return guarded(() =>
          inSlices(n, slice, (r) => A.rowPtr[r]! + r, (lo, hi) =>
            addon.spmv(offsetsPiece(A.rowPtr, lo, hi, n), A.colIdx, A.values, x, piece(y, lo, hi, n), threads),
          )).then(() => true);
      },
    }),
    kernel({ op: 'dot', dtypes, run: ({ x, y }) => guarded(() => addon.dot(x, y, threads)) }),
    kernel({
      op: 'axpy',
      dtypes,
      run: ({ alpha, x, y }) =>
        guarded(() => {
          const n = x.length;
          return inSlices(n, slice, (i) => i, (lo, hi) => addon.axpy(alpha, piece(x, lo, hi, n), piece(y, lo, hi, n), threads));
        }),
    }),
    kernel({ op: 'nrm2', dtypes, run: ({ x }) => guarded(() => addon.nrm2(x, threads)) }),
    kernel({
      op: 'segmentedMoments',
      dtypes,
      run: ({ values, offsets, ddof, sum, mean, variance }) =>
        guarded(() => {
          const n = Math.max(0, offsets.length - 1);
          return inSlices(n, slice, (k) => offsets[k]! + k, (lo, hi) => {
            const [s, m, v] = [sum, mean, variance].map((a) => piece(a, lo, hi, n));
            addon.segmentedMoments(values, offsetsPiece(offsets, lo, hi, n), ddof, s!, m!, v!, threads);
          });
        }),
    }),
  ];
}
