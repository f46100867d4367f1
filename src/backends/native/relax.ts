/**
 * relaxSolve and relaxSolveBatch on the native backend (bindings/relax.cc, native/src/relax.cc).
 * The addon iterates in f64 exactly as the js oracle does (src/backends/js/relax.ts), so iteration
 * counts match it in f64 and in f32 (f32 operands are widened once here and x is rounded back at the end).
 * A solve runs in chunks of roughly CHUNK_MS of work: the addon keeps everything it needs between chunks
 * in `state` and the work vectors, so chunking never changes an iterate, and between chunks the
 * AbortSignal is honoured and progress reported.
 */
import type { KernelControl } from '../../core/backend.js';
import { multicolorOrdering, type Coloring } from '../../core/coloring.js';
import { throwIfAborted } from '../../core/errors.js';
import type { OpArgs, OpResult, RelaxArgs, RelaxMethod, RelaxOutcome, RelaxSettings } from '../../core/ops.js';
import { stencilToCsr } from '../../core/stencil.js';
import { isStencil, type CsrMatrix, type FloatArray, type LinearOperator, type StencilOperator } from '../../core/types.js';

/** What the addon takes: CSR, or a stencil with its coefficients packed direction-major. */
export type NativeRelaxOp =
  | { readonly rowPtr: Int32Array; readonly colIdx: Int32Array; readonly values: Float64Array }
  | { readonly shape: Int32Array; readonly variable: boolean; readonly diag: Float64Array; readonly offdiag: Float64Array };

export interface NativeColoring {
  readonly order: Int32Array;
  readonly offsets: Int32Array;
}

/** Slots of the state vector (numkern::relax::StateSlot). */
export const STATE = { iter: 0, nrm0: 1, target: 2, nrm: 3, rz: 4, status: 5, started: 6, final: 7, beta: 8, length: 9 } as const;
const STATUS = { running: 0, converged: 1, diverged: 2, maxIter: 3 } as const;

export interface NativeRelaxKernels {
  /** Advances a solve by at most maxUpdates updates; returns the status (0 running, 1 converged, 2 diverged, 3 maxIter). */
  relaxStep(op: NativeRelaxOp, coloring: NativeColoring | undefined, b: Float64Array, x: Float64Array, work: Float64Array, settings: Float64Array, state: Float64Array, maxUpdates: number, threads?: number): number;
  relaxStepAsync(op: NativeRelaxOp, coloring: NativeColoring | undefined, b: Float64Array, x: Float64Array, work: Float64Array, settings: Float64Array, state: Float64Array, maxUpdates: number, threads?: number): Promise<number>;
  /** Solves every system to the end; out holds a final state vector (STATE.length slots) per system. */
  relaxBatch(systems: readonly NativeBatchSystem[], settings: Float64Array, out: Float64Array, threads?: number): void;
  relaxBatchAsync(systems: readonly NativeBatchSystem[], settings: Float64Array, out: Float64Array, threads?: number): Promise<void>;
}

export interface NativeBatchSystem {
  readonly op: NativeRelaxOp;
  readonly coloring?: NativeColoring;
  readonly b: Float64Array;
  readonly x: Float64Array;
  readonly omega: number;
}

const METHOD_CODE: Record<RelaxMethod, number> = { jacobi: 0, 'gauss-seidel': 1, sor: 2, ssor: 3, 'sor-redblack': 4, cg: 5, 'ssor-cg': 6 };
/** n-vectors of work per method (numkern::relax::work_vectors). */
const WORK_VECTORS: Record<RelaxMethod, number> = { jacobi: 1, 'gauss-seidel': 1, sor: 1, ssor: 1, 'sor-redblack': 1, cg: 3, 'ssor-cg': 6 };

/**
 * Target wall time of one chunk. Each chunk re-validates the operator in the binding (native code never
 * trusts arrays JS could have changed since the last call: an O(nnz) bounds check and diagonal search,
 * ~10 ms at 5M nonzeros), so a chunk must be long enough to make that small, and short enough that an
 * abort or a progress report comes within a fraction of a second.
 */
const CHUNK_MS = 200;
/** Work units (stored entries touched) per millisecond assumed before the first chunk is timed. */
const UNITS_PER_MS = 7e5;
/** Below this many units per update, chunks run synchronously (a worker round trip would dominate). */
const SYNC_UNITS = 100_000;

interface PreparedOp {
  readonly op: NativeRelaxOp;
  readonly n: number;
  /** Stored entries, the cost of one matrix pass. */
  readonly units: number;
}

const prepared = new WeakMap<object, PreparedOp>();
const twins = new WeakMap<object, CsrMatrix>();
const colorings = new WeakMap<object, NativeColoring>();

function widen(a: FloatArray): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

function csrTwin(S: StencilOperator): CsrMatrix {
  let A = twins.get(S);
  if (!A) twins.set(S, (A = stencilToCsr(S)));
  return A;
}

/** The operator in f64, widened once per operator object (solveMany and sequences reuse it). */
export function nativeOperator(A: LinearOperator): PreparedOp {
  const hit = prepared.get(A);
  if (hit) return hit;
  let out: PreparedOp;
  if (isStencil(A)) {
    const c = A.coeffs;
    const n = A.shape.reduce((p, q) => p * q, 1);
    const dirs = 2 * A.shape.length;
    if (c.kind === 'constant' && c.offdiag.some((v) => v === 0)) {
      // The oracle's CSR twin drops constant zero couplings (0·x is not nothing once x overflows).
      const T = csrTwin(A);
      out = { op: { rowPtr: T.rowPtr, colIdx: T.colIdx, values: widen(T.values) }, n, units: T.colIdx.length + n };
    } else if (c.kind === 'constant') {
      out = { op: { shape: Int32Array.from(A.shape), variable: false, diag: Float64Array.of(c.diag), offdiag: Float64Array.from(c.offdiag.slice(0, dirs)) }, n, units: n * (dirs + 1) };
    } else {
      const offdiag = new Float64Array(dirs * n);
      for (let d = 0; d < dirs; d++) offdiag.set(c.offdiag[d]!, d * n);
      out = { op: { shape: Int32Array.from(A.shape), variable: true, diag: widen(c.diag), offdiag }, n, units: 2 * n * (dirs + 1) };
    }
  } else {
    out = { op: { rowPtr: A.rowPtr, colIdx: A.colIdx, values: widen(A.values) }, n: A.nrows, units: A.colIdx.length + A.nrows };
  }
  // An f64 CSR is passed through as is: caching it would hide a caller's in-place edit of its values.
  if (isStencil(A) || !(A.values instanceof Float64Array)) prepared.set(A, out);
  return out;
}

/** multicolorOrdering of the operator's CSR form, as the oracle computes it. */
function coloringOf(A: LinearOperator): NativeColoring {
  let c = colorings.get(A);
  if (!c) {
    const k: Coloring = multicolorOrdering(isStencil(A) ? csrTwin(A) : A);
    colorings.set(A, (c = { order: k.order, offsets: k.offsets }));
  }
  return c;
}

function settingsVector(s: RelaxSettings, omega: number): Float64Array {
  return Float64Array.of(METHOD_CODE[s.method], omega, s.tol, s.criterion === 'relative' ? 1 : 0, s.maxIter, s.checkEvery);
}

function updateCost(method: RelaxMethod, units: number): number {
  return method === 'ssor' || method === 'ssor-cg' || method === 'cg' || method === 'jacobi' ? 2 * units : units;
}

function outcome(st: Float64Array): RelaxOutcome {
  return {
    iterations: st[STATE.iter]!,
    residualNorm: st[STATE.final]!,
    initialResidualNorm: st[STATE.nrm0]!,
    converged: st[STATE.status] === STATUS.converged,
    diverged: st[STATE.status] === STATUS.diverged,
  };
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function nativeRelaxSolve(addon: NativeRelaxKernels, threads: number, args: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const P = nativeOperator(args.A);
  const coloring = args.method === 'sor-redblack' ? coloringOf(args.A) : undefined;
  const b = widen(args.b);
  const x = widen(args.x);
  const work = new Float64Array(WORK_VECTORS[args.method] * P.n);
  const settings = settingsVector(args, args.omega);
  const state = new Float64Array(STATE.length);
  const cost = Math.max(1, updateCost(args.method, P.units));
  const sync = cost < SYNC_UNITS;
  let updates = Math.max(1, Math.floor((CHUNK_MS * UNITS_PER_MS) / cost));
  let lastYield = performance.now();
  for (;;) {
    throwIfAborted(ctl.signal);
    const t0 = performance.now();
    const status = sync
      ? addon.relaxStep(P.op, coloring, b, x, work, settings, state, updates, threads)
      : await addon.relaxStepAsync(P.op, coloring, b, x, work, settings, state, updates, threads);
    if (status !== STATUS.running) break;
    const now = performance.now();
    // Aim the next chunk at CHUNK_MS from this one's measured speed (never more than 4× bigger).
    const ms = Math.max(now - t0, 0.05);
    updates = Math.max(1, Math.min(updates * 4, Math.floor((updates * CHUNK_MS) / ms)));
    ctl.onProgress?.({ iteration: state[STATE.iter]!, residualNorm: state[STATE.nrm]! });
    if (sync && now - lastYield >= 20) {
      await yieldToLoop();
      lastYield = performance.now();
    }
  }
  if (x !== args.x) args.x.set(x);
  return outcome(state);
}

/** Systems per native call are capped at this many rows in all, so an abort is seen between calls. */
const BATCH_ROWS = 1 << 20;

export async function nativeRelaxSolveBatch(addon: NativeRelaxKernels, threads: number, args: OpArgs<'relaxSolveBatch'>, ctl: KernelControl): Promise<OpResult<'relaxSolveBatch'>> {
  const { systems, options } = args;
  const settings = settingsVector(options, 1);
  const results: RelaxOutcome[] = [];
  let k0 = 0;
  while (k0 < systems.length) {
    throwIfAborted(ctl.signal);
    const group: NativeBatchSystem[] = [];
    let rows = 0;
    let units = 0;
    for (let k = k0; k < systems.length && (group.length === 0 || rows < BATCH_ROWS); k++) {
      const s = systems[k]!;
      const P = nativeOperator(s.A);
      rows += P.n;
      units += P.units;
      group.push({ op: P.op, coloring: options.method === 'sor-redblack' ? coloringOf(s.A) : undefined, b: widen(s.b), x: widen(s.x), omega: s.omega });
    }
    const out = new Float64Array(group.length * STATE.length);
    if (units < SYNC_UNITS) addon.relaxBatch(group, settings, out, threads);
    else await addon.relaxBatchAsync(group, settings, out, threads);
    for (let j = 0; j < group.length; j++) {
      const s = systems[k0 + j]!;
      if (group[j]!.x !== s.x) s.x.set(group[j]!.x);
      results.push(outcome(out.subarray(j * STATE.length, (j + 1) * STATE.length)));
    }
    k0 += group.length;
    ctl.onProgress?.({ iteration: k0 });
  }
  return results;
}
