/**
 * The public Context: the dispatch engine plus one namespace per family (`ctx.linalg`, `ctx.relax`,
 * ... from src/families.ts). The short names below (ctx.spmv, ctx.solve, ...) are documented aliases of
 * the namespaced ones, each a one-line hand-off.
 */
import { Engine, type ContextOptions, type Slot } from './core/engine.js';
import { fail } from './core/errors.js';
import type { OpOptions } from './core/options.js';
import { BACKEND_NAMES, type FloatArray, type Ragged } from './core/types.js';
import { checkOptions, describe } from './core/validate.js';
import { FAMILIES, type FamilyNamespaces } from './families.js';
import type * as linalg from './linalg/primitives.js';
import type * as relax from './relax/solve.js';
import './backends/register.js';

// The namespaces are created in the constructor from FAMILIES; this merges their types into the class.

export interface Context extends FamilyNamespaces {}

export class Context extends Engine {
  /** Creates a context and initializes every permitted backend (concurrently; failures are recorded, not thrown). */
  static async create(options?: ContextOptions): Promise<Context> {
    const o = checkContextOptions(options);
    return new Context(await Engine.initSlots(o), o);
  }

  protected constructor(slots: Slot[], options: ContextOptions) {
    super(slots, options);
    for (const [name, f] of Object.entries(FAMILIES)) {
      Object.defineProperty(this, name, { value: Object.freeze(f.api(this)), enumerable: true });
    }
  }

  override async dispose(): Promise<void> {
    if (sharedInstance === this) {
      sharedInstance = null;
      shared = null;
    }
    await super.dispose();
  }

  /** y = A x for a CSR matrix or a prepared one (ctx.relax.prepare). */
  spmv(A: Parameters<typeof linalg.spmv>[1], x: FloatArray, options?: linalg.SpmvOptions): Promise<FloatArray> {
    return this.linalg.spmv(A, x, options);
  }

  /** Σ x_i y_i. */
  dot(x: FloatArray, y: FloatArray, options?: OpOptions): Promise<number> {
    return this.linalg.dot(x, y, options);
  }

  /** α x + y (a new array unless options.inPlace). */
  axpy(alpha: number, x: FloatArray, y: FloatArray, options?: linalg.AxpyOptions): Promise<FloatArray> {
    return this.linalg.axpy(alpha, x, y, options);
  }

  /** Euclidean norm ‖x‖₂. */
  nrm2(x: FloatArray, options?: OpOptions): Promise<number> {
    return this.linalg.nrm2(x, options);
  }

  /** Per-segment sum, mean and variance of a ragged batch. */
  segmentedMoments(batch: Ragged, options?: linalg.MomentsOptions): Promise<linalg.Moments> {
    return this.linalg.segmentedMoments(batch, options);
  }

  /** Solves A x = b by a relaxation or Krylov method; the whole loop runs on one backend. */
  solve(A: relax.SolveOperand, b: FloatArray, options?: relax.SolveOptions): Promise<relax.SolveResult> {
    return this.relax.solve(A, b, options);
  }

  /** Many independent systems in one call (one dispatch on a GPU). */
  solveMany(systems: readonly relax.SystemSpec[], options?: relax.SolveManyOptions): Promise<relax.SolveResult[]> {
    return this.relax.solveMany(systems, options);
  }

  async segmentedSum(batch: Ragged, options?: OpOptions): Promise<FloatArray> {
    return (await this.linalg.segmentedMoments(batch, options)).sum;
  }

  async segmentedMean(batch: Ragged, options?: OpOptions): Promise<FloatArray> {
    return (await this.linalg.segmentedMoments(batch, options)).mean;
  }

  async segmentedVariance(batch: Ragged, options?: linalg.MomentsOptions): Promise<FloatArray> {
    return (await this.linalg.segmentedMoments(batch, options)).variance;
  }
}

function checkContextOptions(options: unknown): ContextOptions {
  const o = checkOptions<ContextOptions>(options);
  if (o.backends !== undefined) {
    if (!Array.isArray(o.backends) || o.backends.length === 0) fail('E_DTYPE', 'options.backends', `expected a non-empty array of backend names, got ${describe(o.backends)}`);
    for (const b of o.backends) if (!BACKEND_NAMES.includes(b)) fail('E_RANGE', 'options.backends', `unknown backend ${describe(b)}; expected ${BACKEND_NAMES.join(', ')}`);
  }
  for (const k of ['strict', 'allowSoftwareAdapter'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') fail('E_DTYPE', `options.${k}`, `expected a boolean, got ${describe(o[k])}`);
  }
  if (o.threads !== undefined && (!Number.isInteger(o.threads) || o.threads < 0 || o.threads > 1024)) {
    fail('E_RANGE', 'options.threads', `expected an integer in [0, 1024], got ${describe(o.threads)}`);
  }
  if (o.thresholds !== undefined) {
    checkOptions(o.thresholds, 'options.thresholds');
    for (const [op, perBackend] of Object.entries(o.thresholds)) {
      checkOptions(perBackend, `options.thresholds.${op}`);
      for (const [b, v] of Object.entries(perBackend ?? {})) {
        if (!BACKEND_NAMES.includes(b as never)) fail('E_RANGE', `options.thresholds.${op}`, `unknown backend '${b}'`);
        if (typeof v !== 'number' || !(v >= 0)) fail('E_RANGE', `options.thresholds.${op}.${b}`, `expected a size ≥ 0, got ${describe(v)}`);
      }
    }
  }
  return o as ContextOptions;
}

export function createContext(options?: ContextOptions): Promise<Context> {
  return Context.create(options);
}

let shared: Promise<Context> | null = null;
let sharedInstance: Context | null = null;

/** A lazily created process-wide context with default options. Disposing it lets the next call create a fresh one. */
export function defaultContext(): Promise<Context> {
  if (!shared) {
    const p = Context.create().then((ctx) => (sharedInstance = ctx));
    p.catch(() => { if (shared === p) shared = null; });
    shared = p;
  }
  return shared;
}
