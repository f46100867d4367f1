/**
 * relaxSolve and relaxSolveBatch through the addon's solver sessions (bindings/relax.cc), shared by the
 * native backend (native/src/relax*, ../native/relax.ts) and the cuda backend (native/cuda/relax.cu,
 * ../cuda/relax.ts), whose sessions differ only in where their systems live and which advance call
 * moves them. The addon iterates in f64 as the js oracle does (src/backends/js/relax.ts): on the CPU
 * iteration counts match it in f64 and in f32 (the addon widens f32 operands when it copies them in and
 * rounds x back when it is read out).
 *
 * A solve is a native session: relaxCreate copies the systems into native memory (so nothing the caller
 * does to its arrays mid-solve can reach the kernels, and nothing here caches a matrix keyed by the
 * caller's objects; a plain CSR equal entry by entry to the last one shares that one's copy, PlainCopies),
 * then relaxAdvance moves every unfinished system on by a bounded number of updates
 * per call. The session carries everything between calls, so chunking never changes an iterate; between
 * chunks the AbortSignal is honoured, progress reported and the event loop turns.
 */
import type { KernelControl } from '../../core/backend.js';
import { multicolorOrdering } from '../../core/coloring.js';
import { throwIfAborted } from '../../core/errors.js';
import type { OpArgs, OpResult } from '../../core/ops.js';
import { stencilToCsr } from '../../core/stencil.js';
import { isStencil, type CsrMatrix, type FloatArray, type LinearOperator, type StencilOperator } from '../../core/types.js';
import { RELAX_METHODS, type PreparedToken, type RelaxArgs, type RelaxMethod, type RelaxOutcome, type RelaxSettings } from '../../relax/ops.js';
import { familyExports, type NativeAddon } from './load.js';

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What the addon takes: CSR, or a stencil (constant: 1 + 2·dim numbers; variable: per-node arrays, 2·dim of them). */
export type NativeRelaxOp =
  | { readonly rowPtr: Int32Array; readonly colIdx: Int32Array; readonly values: FloatArray }
  | { readonly shape: Int32Array; readonly variable: false; readonly diag: Float64Array; readonly offdiag: Float64Array }
  | { readonly shape: Int32Array; readonly variable: true; readonly diag: FloatArray; readonly offdiag: readonly FloatArray[] };

export interface NativeColoring {
  readonly order: Int32Array;
  readonly offsets: Int32Array;
}

/** A native copy of an operator that sessions share (a prepared operator's); opaque. */
export interface NativeRelaxOperator {
  readonly [operatorBrand]: true;
}
declare const operatorBrand: unique symbol;

export interface NativeRelaxSystem {
  readonly op: NativeRelaxOp | NativeRelaxOperator;
  readonly coloring?: NativeColoring;
  readonly b: FloatArray;
  /** x0; the addon copies it and never writes here (relaxRead does). */
  readonly x: FloatArray;
  readonly omega: number;
}

declare const sessionBrand: unique symbol;
/** A solve's native state (systems, iterates, work vectors), owned by the addon. */
export interface NativeRelaxSession {
  readonly [sessionBrand]: true;
}

/** The tables the addon and this file share, as the addon reports them (bindings/relax.cc). */
export interface NativeRelaxLayout {
  readonly methods: Readonly<Record<string, number>>;
  readonly work: Readonly<Record<string, number>>;
  readonly state: Readonly<Record<string, number>>;
  readonly status: Readonly<Record<string, number>>;
}

/** The relax entry points of the addon. Every array a call reads is copied by relaxCreate. */
export interface NativeRelaxKernels {
  relaxLayout(): NativeRelaxLayout;
  /** Copies and checks the systems; settings is [method, omega (unused: per system), tol, relative, maxIter, checkEvery]. */
  relaxCreate(systems: readonly NativeRelaxSystem[], settings: Float64Array): NativeRelaxSession;
  /** Advances every unfinished system k by at most maxUpdates[k] updates; returns how many are still running. */
  relaxAdvance(session: NativeRelaxSession, maxUpdates: Float64Array, threads?: number): number;
  relaxAdvanceAsync(session: NativeRelaxSession, maxUpdates: Float64Array, threads?: number): Promise<number>;
  /** Copies system k's state vector (STATE.length slots) and, when given, its x (rounded to x's dtype). */
  relaxRead(session: NativeRelaxSession, k: number, state: Float64Array, x?: FloatArray): void;
  /** Frees the session's memory now; the session is unusable afterwards. */
  relaxRelease(session: NativeRelaxSession): void;
  /**
   * Copies and checks an operator once, for every session that names it (a prepared operator, or the
   * copy PlainCopies keeps). splitLanes (default true): SSOR-CG's split of it gets the passes' lane layouts.
   */
  relaxOperator(op: NativeRelaxOp, splitLanes?: boolean): NativeRelaxOperator;
  /** Whether op is a copy of exactly these CSR arrays (values compared as widened to f64). */
  relaxOperatorSame(op: NativeRelaxOperator, csr: NativeRelaxOp): boolean;
  /** Drops the operator's copy now (sessions still running keep theirs until they end). */
  relaxOperatorRelease(op: NativeRelaxOperator): void;
}

export const RELAX_EXPORTS = ['relaxLayout', 'relaxCreate', 'relaxAdvance', 'relaxAdvanceAsync', 'relaxRead', 'relaxRelease', 'relaxOperator', 'relaxOperatorRelease', 'relaxOperatorSame'] as const;

// The shared tables, as this file uses them. relaxKernels checks them against the addon's at load:
// a mismatch (an addon built from other sources) takes the family off the native backend, with the
// reason in status(), instead of misreading a slot.
// A method of src/relax/ops.ts missing here has no native kernel: the kernels refuse it per call
// (accepts), and dispatch moves on to the next backend.
export const METHOD_CODE: Readonly<Partial<Record<RelaxMethod, number>>> = { jacobi: 0, 'gauss-seidel': 1, sor: 2, ssor: 3, 'sor-redblack': 4, cg: 5, 'ssor-cg': 6, 'jacobi-cg': 7 };
/** n-vectors of work per method (numkern::relax::work_vectors): sizes nothing here, but part of the contract. */
export const WORK_VECTORS: Readonly<Partial<Record<RelaxMethod, number>>> = { jacobi: 1, 'gauss-seidel': 1, sor: 1, ssor: 1, 'sor-redblack': 1, cg: 3, 'ssor-cg': 6, 'jacobi-cg': 4 };
/** Slots of the state vector (numkern::relax::StateSlot). */
export const STATE = { iter: 0, nrm0: 1, target: 2, nrm: 3, rz: 4, status: 5, started: 6, final: 7, beta: 8, length: 9 } as const;
/** numkern::relax::Status. */
export const STATUS = { running: 0, converged: 1, diverged: 2, maxIter: 3, breakdown: 4, badIndex: 5 } as const;

const EXPECTED = { methods: METHOD_CODE, work: WORK_VECTORS, state: STATE, status: STATUS } as const;

/** Throws, naming every difference, unless the addon's tables are this file's. */
export function checkRelaxLayout(got: NativeRelaxLayout): void {
  const diffs: string[] = [];
  for (const table of ['methods', 'work', 'state', 'status'] as const) {
    const want: Readonly<Record<string, number | undefined>> = EXPECTED[table];
    const have: Readonly<Record<string, number | undefined>> = got?.[table] ?? {};
    for (const key of new Set([...Object.keys(want), ...Object.keys(have)])) {
      if (want[key] !== have[key]) diffs.push(`${table}.${key} is ${have[key] ?? 'missing'} in the addon, ${want[key] ?? 'missing'} here`);
    }
  }
  const foreign = Object.keys(got?.methods ?? {}).filter((m) => !(RELAX_METHODS as readonly string[]).includes(m));
  if (foreign.length > 0) diffs.push(`the addon's methods ${foreign.join(', ')} are not in src/relax/ops.ts`);
  if (diffs.length > 0) throw new Error(`relax layout mismatch between the addon and src/backends/native/relax.ts: ${diffs.join('; ')}`);
}

/**
 * Target wall time of one asynchronous chunk: an abort or a progress report comes within about this
 * long, and a worker round trip (tens of µs) stays a small fraction of it.
 */
const CHUNK_MS = 50;
/** A synchronous chunk blocks the event loop, so it is kept short; the loop turns at least every YIELD_MS. */
const SYNC_CHUNK_MS = 10;
const YIELD_MS = 20;
/**
 * A solve runs synchronously (chunks of SYNC_CHUNK_MS) for its first SYNC_SOLVE_MS, so a solve of a few
 * milliseconds is one native call, or a few, and never waits for the libuv pool, whose thread may start
 * cold and is only scheduled when the machine lets it; a longer solve moves there (operators cheaper
 * than SYNC_UNITS an update stay synchronous throughout: a worker round trip would dominate).
 */
const SYNC_SOLVE_MS = 20;
/** Work units (stored entries touched) per millisecond assumed before any chunk of a method was timed. */
const UNITS_PER_MS = 7e5;
/** Below this many units per update, chunks run synchronously (a worker round trip would dominate). */
const SYNC_UNITS = 100_000;
/** From this many units per update (several ms each), every chunk runs on the pool, the first included. */
const FIRST_SYNC_UNITS = 4_000_000;
/**
 * The last measured rate (units per ms) per method, which sizes the first chunk of the next solve: with
 * the fixed guess above (2–6× below what this machine does) a 4 ms solve took three calls. Used at 3/4,
 * since a larger operator runs fewer units per ms; a chunk that overshoots is re-aimed at the next.
 */
const measuredRate = new Map<RelaxMethod, number>();
const RATE_MARGIN = 0.75;

interface PreparedOp {
  readonly op: NativeRelaxOp;
  readonly n: number;
  /** Stored entries, the cost of one matrix pass. */
  readonly units: number;
}

/**
 * A few recent values by a key made of the operator's content (never its identity), so an in-place edit
 * changes the key rather than returning a stale entry. Stencils only: their content is a handful of
 * numbers, and their CSR twin and colouring are worth keeping across the solves of a sequence.
 */
class ContentCache<V> {
  private readonly entries = new Map<string, V>();
  constructor(private readonly capacity: number) {}
  get(key: string, make: () => V): V {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const v = make();
    this.entries.set(key, v);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return v;
  }
}

const twins = new ContentCache<CsrMatrix>(8);
const stencilColorings = new ContentCache<NativeColoring>(8);

/** Everything stencilToCsr reads of a constant stencil. */
function constantKey(S: StencilOperator, c: { diag: number; offdiag: readonly number[] }): string {
  return `${S.shape.join('x')}|${c.diag}|${c.offdiag.join(',')}`;
}

/** The operator as the addon takes it. Nothing is copied or cached here: relaxCreate copies. */
export function nativeOperator(A: LinearOperator): PreparedOp {
  if (!isStencil(A)) return { op: { rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values }, n: A.nrows, units: A.colIdx.length + A.nrows };
  const c = A.coeffs;
  const n = A.shape.reduce((p, q) => p * q, 1);
  const dirs = 2 * A.shape.length;
  if (c.kind === 'variable') {
    return { op: { shape: Int32Array.from(A.shape), variable: true, diag: c.diag, offdiag: c.offdiag.slice(0, dirs) }, n, units: 2 * n * (dirs + 1) };
  }
  if (c.offdiag.some((v) => v === 0)) {
    // The oracle's CSR twin drops constant zero couplings (0·x is not nothing once x overflows).
    const T = twins.get(constantKey(A, c), () => stencilToCsr(A));
    return { op: { rowPtr: T.rowPtr, colIdx: T.colIdx, values: T.values }, n, units: T.colIdx.length + n };
  }
  return { op: { shape: Int32Array.from(A.shape), variable: false, diag: Float64Array.of(c.diag), offdiag: Float64Array.from(c.offdiag.slice(0, dirs)) }, n, units: n * (dirs + 1) };
}

/** multicolorOrdering of the operator's CSR form, as the oracle computes it. */
function coloringOf(A: LinearOperator): NativeColoring {
  if (!isStencil(A)) {
    // multicolorOrdering's cache checks a content fingerprint of the index arrays, so a pattern edited
    // in place since the last solve gets a fresh colouring.
    const k = multicolorOrdering(A);
    return { order: k.order, offsets: k.offsets };
  }
  // A stencil's CSR pattern is its shape and, for constant coefficients, which couplings are zero.
  const c = A.coeffs;
  const pattern = c.kind === 'variable' ? 'variable' : c.offdiag.map((v) => (v === 0 ? 0 : 1)).join('');
  return stencilColorings.get(`${A.shape.join('x')}|${pattern}`, () => {
    const k = multicolorOrdering(stencilToCsr(A));
    return { order: k.order, offsets: k.offsets };
  });
}

/** Why the native kernels cannot run a method, or null when they can. */
export function refuse(method: RelaxMethod): string | null {
  return METHOD_CODE[method] === undefined ? `the native backend has no ${method} kernel` : null;
}

/**
 * Scratch vectors for the addon's small arguments, reused by every solve: each is filled and read by one
 * synchronous addon call (relaxCreate copies its settings, relaxAdvance its budget before any work is
 * queued, relaxRead writes the state that outcome() then reads), so no await falls between a write and
 * its read. A fresh small Float64Array costs ~1 µs of allocation and collection, a fifth of a 16-row solve.
 */
const SETTINGS = new Float64Array(6);
const STATE_SCRATCH = new Float64Array(STATE.length);
const BUDGET_1 = new Float64Array(1);

function settingsVector(s: RelaxSettings): Float64Array {
  SETTINGS[0] = METHOD_CODE[s.method]!;
  SETTINGS[1] = 1;
  SETTINGS[2] = s.tol;
  SETTINGS[3] = s.criterion === 'relative' ? 1 : 0;
  SETTINGS[4] = s.maxIter;
  SETTINGS[5] = s.checkEvery;
  return SETTINGS;
}

function updateCost(method: RelaxMethod, units: number): number {
  return Math.max(1, method === 'ssor' || method === 'ssor-cg' || method === 'cg' || method === 'jacobi-cg' || method === 'jacobi' ? 2 * units : units);
}

function outcome(st: Float64Array): RelaxOutcome {
  const status = st[STATE.status];
  const breakdown = status === STATUS.breakdown;
  return {
    iterations: st[STATE.iter]!,
    residualNorm: st[STATE.final]!,
    initialResidualNorm: st[STATE.nrm0]!,
    converged: status === STATUS.converged,
    diverged: status === STATUS.diverged || breakdown,
    // As the oracle reports it: present only when CG broke down.
    ...(breakdown ? { breakdown } : {}),
  };
}

/**
 * Runs a session to the end. `costs[k]` is system k's work per update; each call gives every system
 * the same share of a chunk's work budget, aimed at the target chunk time from the last measured rate
 * (never more than 4× the previous chunk). For its first SYNC_SOLVE_MS a solve runs synchronously and
 * yields to the event loop every YIELD_MS; then, unless an update is cheaper than SYNC_UNITS, it runs on
 * the libuv pool in chunks of CHUNK_MS (from the start when an update costs FIRST_SYNC_UNITS or more).
 */
async function drive(
  relax: NativeRelaxKernels, session: NativeRelaxSession, method: RelaxMethod, costs: readonly number[], threads: number, ctl: KernelControl,
  progress: (running: number) => void,
): Promise<void> {
  const total = costs.reduce((a, b) => a + b, 0);
  const budget = costs.length === 1 ? BUDGET_1 : new Float64Array(costs.length);
  let running = costs.length;
  let rate = RATE_MARGIN * (measuredRate.get(method) ?? UNITS_PER_MS / RATE_MARGIN);
  const start = performance.now();
  let lastYield = start;
  let units = 0;
  for (let chunk = 0; ; chunk++) {
    throwIfAborted(ctl.signal);
    const sync = total < SYNC_UNITS || (total < FIRST_SYNC_UNITS && performance.now() - start < SYNC_SOLVE_MS);
    const aim = (rate * (sync ? SYNC_CHUNK_MS : CHUNK_MS)) / running;
    units = chunk === 0 ? aim : Math.min(units * 4, aim);
    for (let k = 0; k < costs.length; k++) budget[k] = Math.max(1, Math.floor(units / costs[k]!));
    const t0 = performance.now();
    const left = sync ? relax.relaxAdvance(session, budget, threads) : await relax.relaxAdvanceAsync(session, budget, threads);
    const now = performance.now();
    const ms = now - t0;
    // A chunk long enough to time (a short last one mostly measures its final residual) sets the rate.
    if (ms >= 0.5 && left > 0) {
      rate = (units * running) / ms;
      measuredRate.set(method, rate);
    }
    if (left === 0) return;
    running = left;
    progress(left);
    if (sync && now - lastYield >= YIELD_MS) {
      await yieldToLoop();
      lastYield = performance.now();
    }
  }
}

/**
 * A prepared operator's native copy, made on its first native solve and shared by the rest (the copy,
 * the widening and the CSR diagonal are then paid once per matrix); released when the handle is disposed.
 */
const preparedOperators = new WeakMap<PreparedToken, NativeRelaxOperator>();

/**
 * The native copy of the last plain CSR matrix a context solved, kept for its next solve: when the arrays
 * passed then equal the copy entry by entry (relaxOperatorSame, a compare in place of a copy), the session
 * shares it and the split SSOR-CG derived from it instead of copying and splitting the matrix again into
 * fresh memory. A plain SSOR-CG solve of Poisson 512² faulted 12–18 thousand pages (~10 µs each on the
 * development VM) of which ~8,500 were that copy and split. Content decides, never the caller's objects:
 * an edit in place makes the next solve copy afresh. The kept copy's split has no lane layouts, as a
 * solve's own copy has none, so a first solve costs what it did; a matrix past MAX_KEPT_ENTRIES is not
 * kept (its copy and split would stay allocated after the solve). The context's dispose releases it.
 */
export class PlainCopies {
  static readonly MAX_KEPT_ENTRIES = 1 << 22;
  private last: NativeRelaxOperator | null = null;
  constructor(private readonly relax: NativeRelaxKernels) {}

  /** The kept copy when it is A's, else a new kept copy of A; null for a stencil or a matrix too large to keep. */
  take(A: LinearOperator, op: NativeRelaxOp): NativeRelaxOperator | null {
    if (isStencil(A) || A.colIdx.length > PlainCopies.MAX_KEPT_ENTRIES) return null;
    if (this.last !== null && this.relax.relaxOperatorSame(this.last, op)) return this.last;
    const made = this.relax.relaxOperator(op, false);
    if (this.last !== null) this.relax.relaxOperatorRelease(this.last);
    this.last = made;
    return made;
  }

  /** Drops the kept copy now (the context's dispose); a session still running keeps its own hold. */
  release(): void {
    if (this.last !== null) this.relax.relaxOperatorRelease(this.last);
    this.last = null;
  }
}

function operand(relax: NativeRelaxKernels, A: LinearOperator, prepared: PreparedToken | undefined, plain?: PlainCopies): { op: NativeRelaxOp | NativeRelaxOperator; n: number; units: number } {
  const P = nativeOperator(A);
  if (!prepared) {
    const kept = plain?.take(A, P.op);
    return kept ? { ...P, op: kept } : P;
  }
  let op = preparedOperators.get(prepared);
  if (!op) {
    const made = relax.relaxOperator(P.op);
    preparedOperators.set(prepared, made);
    prepared.own(() => {
      preparedOperators.delete(prepared);
      relax.relaxOperatorRelease(made);
    });
    op = made;
  }
  return { ...P, op };
}

export async function nativeRelaxSolve(relax: NativeRelaxKernels, threads: number, args: RelaxArgs, ctl: KernelControl, plain?: PlainCopies): Promise<RelaxOutcome> {
  const P = operand(relax, args.A, args.prepared, plain);
  const coloring = args.method === 'sor-redblack' ? coloringOf(args.A) : undefined;
  const session = relax.relaxCreate([{ op: P.op, coloring, b: args.b, x: args.x, omega: args.omega }], settingsVector(args));
  const state = STATE_SCRATCH;
  try {
    await drive(relax, session, args.method, [updateCost(args.method, P.units)], threads, ctl, () => {
      relax.relaxRead(session, 0, state);
      ctl.onProgress?.({ iteration: state[STATE.iter]!, residualNorm: state[STATE.nrm]! });
    });
    relax.relaxRead(session, 0, state, args.x);
    return outcome(state);
  } finally {
    relax.relaxRelease(session);
  }
}

/** Rows per session: a batch is solved a group at a time, so its native copies stay bounded. */
const BATCH_ROWS = 1 << 20;

export async function nativeRelaxSolveBatch(relax: NativeRelaxKernels, threads: number, args: OpArgs<'relaxSolveBatch'>, ctl: KernelControl): Promise<OpResult<'relaxSolveBatch'>> {
  const { systems, options } = args;
  const settings = settingsVector(options);
  const results: RelaxOutcome[] = [];
  const state = new Float64Array(STATE.length);
  let k0 = 0;
  while (k0 < systems.length) {
    throwIfAborted(ctl.signal);
    const group: NativeRelaxSystem[] = [];
    const costs: number[] = [];
    let rows = 0;
    for (let k = k0; k < systems.length && (group.length === 0 || rows < BATCH_ROWS); k++) {
      const s = systems[k]!;
      const P = operand(relax, s.A, s.prepared);
      rows += P.n;
      costs.push(updateCost(options.method, P.units));
      group.push({ op: P.op, coloring: options.method === 'sor-redblack' ? coloringOf(s.A) : undefined, b: s.b, x: s.x, omega: s.omega });
    }
    const session = relax.relaxCreate(group, settings);
    try {
      await drive(relax, session, options.method, costs, threads, ctl, (left) => ctl.onProgress?.({ iteration: k0 + group.length - left }));
      for (let j = 0; j < group.length; j++) {
        relax.relaxRead(session, j, state, systems[k0 + j]!.x);
        results.push(outcome(state));
      }
    } finally {
      relax.relaxRelease(session);
    }
    k0 += group.length;
    ctl.onProgress?.({ iteration: k0 });
  }
  return results;
}

/** The addon's relax entry points, typed; throws when one is missing or the tables disagree. */
export function relaxAddon(addon: NativeAddon): NativeAddon & NativeRelaxKernels {
  const relax = familyExports<NativeRelaxKernels>(addon, 'relax', RELAX_EXPORTS);
  checkRelaxLayout(relax.relaxLayout());
  return relax;
}
