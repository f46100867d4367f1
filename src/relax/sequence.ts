/**
 * solveSequence: solve a sequence of related systems, letting a tuner pick ω for each one and feeding
 * back the iteration count (docs/relax.md §1.1, §4; paper Alg. 2).
 *
 * Counting (the learners' feedback, docs/relax.md §7 asks for it to be pinned down):
 *  - the count is ctx.solve's `iterations`: updates until ‖b − A x_k‖₂ ≤ tol·‖b‖₂ (Algorithm 1);
 *  - with x0 = 0 (the default) this is the solver's relative test, r_0 = b;
 *  - with a warm start (`instance.x0`, the heat sequence) the test stays relative to ‖b‖, not ‖r_0‖,
 *    as MATLAB's pcg in the reference experiments: it runs as an absolute test with tolerance tol·‖b‖;
 *  - a solve that stops without converging (it reached maxIter, or diverged) feeds the cap
 *    `maxIter` to the tuner and its record is flagged `capped`: one bad ω cannot produce an unbounded
 *    or a misleadingly small loss.
 * The tuner's time (choose + update) is measured apart from the solves and reported in the totals.
 */
import { NumkernError, fail, throwIfAborted } from '../core/errors.js';
import type { FloatArray, LinearOperator } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, checkOptions, checkSignal, describe } from '../core/validate.js';
import type { BackendName } from '../core/types.js';
import { checkPrepareOptions, PreparedOperator, sameContent, type PrepareOptions } from './prepared.js';
import type { SolveOperand, SolveOptions, SolveResult } from './solve.js';
import type { TunedParameter, Tuner } from './tuners/tuner.js';

/** One system of a sequence. */
export interface SequenceInstance {
  readonly A: LinearOperator;
  readonly b: FloatArray;
  /** The tuner's context (a diagonal shift, a diffusion coefficient, ...); required by contextual tuners. */
  readonly context?: number;
  /** Warm start; the stopping test then stays relative to ‖b‖. */
  readonly x0?: FloatArray;
  /** Spectral radius of the Jacobi matrix when known (lets `instanceOptimal` use Young's formula). */
  readonly jacobiRadius?: number;
  /** Receives the solution once solved; time-stepping sequences build the next system from it. */
  onSolved?(x: FloatArray): void;
}

export type InstanceSource = Iterable<SequenceInstance> | AsyncIterable<SequenceInstance>;

/** The solver interface the runner needs: a numkern Context satisfies it. */
export interface SolveProvider {
  solve(A: SolveOperand, b: FloatArray, options?: SolveOptions): Promise<SolveResult>;
}

export type SequenceMethod = 'sor' | 'ssor-cg';

export interface SequenceProgress {
  /** Instances finished so far. */
  readonly completed: number;
  readonly omega: number;
  readonly iterations: number;
  /** Iterations summed over the finished instances. */
  readonly totalIterations: number;
}

export interface SequenceOptions {
  tuner: Tuner;
  /** 'sor' (default; the paper's Algorithm 1) or 'ssor-cg' (the heat experiment). */
  method?: SequenceMethod;
  /** Default 1e-8, as every experiment of the reference. */
  tol?: number;
  /** Iteration cap per solve (default 10000, the reference code's hard-coded cap). */
  maxIter?: number;
  backend?: BackendName | 'auto';
  /**
   * Prepare an operator once when consecutive instances share a matrix object (default true): it is
   * validated and snapshot once, and backends keep what they derive from it. Each reuse first checks
   * that the object still holds the snapshot's values, so an in-place edit is never missed. Prepare
   * options (e.g. `{recognizeStencil: false}`) prepare with them.
   */
  prepare?: boolean | PrepareOptions;
  onProgress?: (p: SequenceProgress) => void;
  signal?: AbortSignal;
}

export interface SequenceRecord {
  readonly omega: number;
  /** The count fed to the tuner (the cap when `capped`). */
  readonly iterations: number;
  /** Solve time. */
  readonly seconds: number;
  /** The instance's context as given (before any clamping); undefined when it had none. */
  readonly context: number | undefined;
  readonly arm: number;
  readonly p: number;
  /** The context lay outside the tuner's declared interval and was clamped. */
  readonly clamped: boolean;
  /** The solve did not converge (cap reached or divergence) and the cap was fed back. */
  readonly capped: boolean;
}

export interface SequenceTotals {
  readonly instances: number;
  readonly iterations: number;
  /** Σ solve seconds. */
  readonly solveSeconds: number;
  /** Σ seconds spent in the tuner's choose + update: the learning overhead. */
  readonly tunerSeconds: number;
  /** Wall time of the whole run. */
  readonly seconds: number;
  readonly clampedContexts: number;
  readonly cappedSolves: number;
  /** Backends that ran the solves, in order of first use. */
  readonly backends: BackendName[];
}

/** Where the tuner's value went: the solver option it set, and the same in words. */
export interface TunedTarget {
  readonly parameter: TunedParameter;
  /** The option path in SolveOptions: 'omega' (SOR) or 'preconditioner.omega' (CG with SSOR). */
  readonly option: 'omega' | 'preconditioner.omega';
  readonly description: string;
}

export interface SequenceResult {
  readonly records: SequenceRecord[];
  readonly totals: SequenceTotals;
  readonly tuned: TunedTarget;
}

/** The solver option a tuner's ω sets under each sequence method. */
export function tunedTarget(method: SequenceMethod): TunedTarget {
  return method === 'sor'
    ? { parameter: 'omega', option: 'omega', description: 'ω of SOR, the relaxation parameter of every sweep' }
    : { parameter: 'omega', option: 'preconditioner.omega', description: "ω of CG's SSOR preconditioner" };
}

interface Resolved {
  method: SequenceMethod;
  tol: number;
  maxIter: number;
  backend: BackendName | 'auto' | undefined;
  prepare: false | PrepareOptions;
  onProgress: ((p: SequenceProgress) => void) | undefined;
  signal: AbortSignal | undefined;
}

/** Validates the options shared by the runner and the offline comparators. */
export function resolveSequenceOptions(options: unknown): Resolved {
  const o = checkOptions<SequenceOptions>(options);
  const method = o.method ?? 'sor';
  if (method !== 'sor' && method !== 'ssor-cg') fail('E_RANGE', 'options.method', `expected 'sor' or 'ssor-cg', got ${describe(method)}`);
  const tol = o.tol === undefined ? 1e-8 : checkFiniteNumber(o.tol, 'options.tol');
  if (!(tol > 0)) fail('E_RANGE', 'options.tol', `must be > 0, got ${tol}`);
  const maxIter = o.maxIter === undefined ? 10000 : checkIntegerInRange(o.maxIter, 1, 2 ** 31 - 1, 'options.maxIter');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') fail('E_DTYPE', 'options.onProgress', `expected a function, got ${describe(o.onProgress)}`);
  const prepare = o.prepare === undefined || o.prepare === true ? {} : o.prepare === false ? false
    : typeof o.prepare === 'object' && o.prepare !== null ? checkPrepareOptions(o.prepare, 'options.prepare')
    : fail('E_DTYPE', 'options.prepare', `expected a boolean or prepare options, got ${describe(o.prepare)}`);
  return { method, tol, maxIter, backend: o.backend, prepare, onProgress: o.onProgress, signal: checkSignal(o.signal) };
}

export function checkSolveProvider(ctx: unknown): SolveProvider {
  if (typeof ctx !== 'object' || ctx === null || typeof (ctx as SolveProvider).solve !== 'function') {
    fail('E_DTYPE', 'ctx', `expected a numkern Context (anything with solve(A, b, options)), got ${describe(ctx)}`);
  }
  return ctx as SolveProvider;
}

/** Iterates a sync or async source, checking that each item looks like an instance. */
export async function* eachInstance(instances: unknown): AsyncGenerator<SequenceInstance> {
  if (typeof instances !== 'object' || instances === null) fail('E_DTYPE', 'instances', `expected an iterable of {A, b, context?}, got ${describe(instances)}`);
  const src = instances as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
  if (typeof src[Symbol.asyncIterator] !== 'function' && typeof src[Symbol.iterator] !== 'function') {
    fail('E_DTYPE', 'instances', `expected a (sync or async) iterable, got ${describe(instances)}`);
  }
  let k = 0;
  for await (const inst of src as AsyncIterable<unknown>) {
    if (typeof inst !== 'object' || inst === null) fail('E_DTYPE', `instances[${k}]`, `expected {A, b, context?}, got ${describe(inst)}`);
    const i = inst as SequenceInstance;
    if (i.context !== undefined) checkFiniteNumber(i.context, `instances[${k}].context`);
    if (i.onSolved !== undefined && typeof i.onSolved !== 'function') fail('E_DTYPE', `instances[${k}].onSolved`, `expected a function, got ${describe(i.onSolved)}`);
    yield i;
    k++;
  }
}

function norm2(b: FloatArray): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) s += b[i]! * b[i]!;
  return Math.sqrt(s);
}

/** One solve with the sequence's counting rules; returns the result and the count to feed back. */
export async function solveInstance(
  ctx: SolveProvider, inst: SequenceInstance, omega: number, o: Resolved, name: string, operator: SolveOperand = inst.A,
): Promise<{ result: SolveResult; iterations: number; capped: boolean }> {
  const opts: SolveOptions = { method: o.method, omega, tol: o.tol, maxIter: o.maxIter, backend: o.backend, signal: o.signal };
  if (inst.x0 !== undefined) {
    const nb = norm2(inst.b);
    opts.x0 = inst.x0;
    // ‖r_k‖ ≤ tol·‖b‖ (MATLAB pcg, the heat experiment); with b = 0 fall back to the relative test.
    if (nb > 0) {
      opts.criterion = 'absolute';
      opts.tol = o.tol * nb;
    }
  }
  let result: SolveResult;
  try {
    result = await ctx.solve(operator, inst.b, opts);
  } catch (e) {
    // Name the instance in argument errors; the code stays.
    if (e instanceof NumkernError && e.argument !== undefined && e.code !== 'E_ABORTED') e.message = `${name}: ${e.message}`;
    throw e;
  }
  const capped = !result.converged;
  return { result, iterations: capped ? o.maxIter : result.iterations, capped };
}

/**
 * Prepares a matrix once it repeats: the first instance with a matrix object solves it as given, the
 * next ones with the same object use a prepared snapshot — after checking that the object still holds
 * the snapshot's values (an in-place edit starts over).
 */
class OperatorReuse {
  private A: object | null = null;
  private P: PreparedOperator | null = null;

  constructor(private readonly options: false | PrepareOptions) {}

  operand(A: LinearOperator, name: string): SolveOperand {
    if (this.options === false) return A;
    if (this.A === A && (this.P === null || sameContent(A, this.P.source))) {
      this.P ??= new PreparedOperator(A, `${name}.A`, this.options);
      return this.P;
    }
    this.release();
    this.A = A;
    return A;
  }

  release(): void {
    this.P?.dispose();
    this.P = null;
  }
}

/**
 * Runs the tuner over the instances: choose ω (with the instance's context), solve, feed back the
 * count, record. Instances are consumed once, in order; `onSolved` is called with each solution.
 */
export async function solveSequence(ctx: SolveProvider, instances: InstanceSource, options: SequenceOptions): Promise<SequenceResult> {
  const solver = checkSolveProvider(ctx);
  const o = resolveSequenceOptions(options);
  const tuner = options.tuner;
  if (typeof tuner !== 'object' || tuner === null || typeof tuner.choose !== 'function' || typeof tuner.update !== 'function') {
    fail('E_DTYPE', 'options.tuner', `expected a tuner (choose/update), got ${describe(tuner)}`);
  }
  // A tuner written before `parameter` existed tunes ω; one that names another parameter has nothing to set here.
  const parameter = (tuner as { parameter?: unknown }).parameter ?? 'omega';
  if (parameter !== 'omega') fail('E_RANGE', 'options.tuner.parameter', `method '${o.method}' has only ω to tune, got a tuner of ${describe(parameter)}`);
  const records: SequenceRecord[] = [];
  let iterations = 0;
  let solveSeconds = 0;
  let tunerSeconds = 0;
  let clamped = 0;
  let capped = 0;
  const backends: BackendName[] = [];
  const t0 = performance.now();
  let k = 0;
  // The last matrix object seen and, once it repeats, its prepared snapshot.
  const reuse = new OperatorReuse(o.prepare);
  try {
  for await (const inst of eachInstance(instances)) {
    throwIfAborted(o.signal);
    const name = `instances[${k}]`;
    const a = performance.now();
    let choice;
    try {
      choice = tuner.choose(inst.context);
    } catch (e) {
      if (e instanceof NumkernError && e.argument === 'context') e.message = `${name}.${e.message}`;
      throw e;
    }
    tunerSeconds += (performance.now() - a) / 1e3;
    const s = await solveInstance(solver, inst, choice.omega, o, name, reuse.operand(inst.A, name));
    const b = performance.now();
    tuner.update(choice, s.iterations, { capped: s.capped });
    tunerSeconds += (performance.now() - b) / 1e3;
    inst.onSolved?.(s.result.x);
    if (!backends.includes(s.result.backend)) backends.push(s.result.backend);
    iterations += s.iterations;
    solveSeconds += s.result.seconds;
    if (choice.clamped) clamped++;
    if (s.capped) capped++;
    records.push({
      omega: choice.omega, iterations: s.iterations, seconds: s.result.seconds, context: inst.context,
      arm: choice.arm, p: choice.p, clamped: choice.clamped, capped: s.capped,
    });
    k++;
    o.onProgress?.({ completed: k, omega: choice.omega, iterations: s.iterations, totalIterations: iterations });
  }
  } finally {
    reuse.release();
  }
  return {
    records,
    totals: {
      instances: k, iterations, solveSeconds, tunerSeconds, seconds: (performance.now() - t0) / 1e3,
      clampedContexts: clamped, cappedSolves: capped, backends,
    },
    tuned: tunedTarget(o.method),
  };
}
