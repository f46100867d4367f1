/**
 * ctx.relax.solve / solveMany: validate the operator, right-hand side and options, fill the defaults,
 * hand the whole iteration to one backend (the loop lives where the data lives), then judge the
 * outcome on the true residual of the returned x (./outcome.ts).
 *
 * Solver and preconditioner are separate parts, as PETSc's KSP and PC: `{method: 'cg', preconditioner:
 * {kind: 'ssor', omega}}` is SSOR-preconditioned CG ('ssor-cg' remains its short name). The stationary
 * methods take no preconditioner: ω is their own relaxation parameter.
 */
import type { Engine } from '../core/engine.js';
import { fail, NumkernError } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import { allocLike, dtypeOf, type BackendName, type FloatArray, type LinearOperator } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, checkOptions, describe, isDetached, overlaps } from '../core/validate.js';
import { CG_METHODS, RELAX_METHODS, type RelaxMethod, type RelaxOutcome, type RelaxSettings } from './ops.js';
import { poisson2d } from './generators.js';
import { judge, type StopReason } from './outcome.js';
import { checkPrepared, checkPrepareOptions, isPrepared, PreparedOperator, type PrepareOptions } from './prepared.js';
import { checkedOperator, checkSystem, hasNonFinite, type CheckedOperator, type CheckedSystem } from './validate.js';

export type PreconditionerKind = 'none' | 'ssor' | 'jacobi';

export interface PreconditionerOption {
  readonly kind: PreconditionerKind;
  /** The SSOR preconditioner's ω, 0 < ω < 2 (default: options.omega, else 1); 'jacobi' takes none. */
  readonly omega?: number;
}

export interface SolveOptions extends OpOptions {
  /**
   * Default 'ssor-cg' (= 'cg' with an SSOR preconditioner; 'jacobi-cg' = 'cg' with the diagonal one).
   * Natural-ordering SOR/SSOR/Gauss-Seidel are sequential; 'sor-redblack' is the parallel ordering.
   */
  method?: RelaxMethod;
  /** For 'cg' only: 'none' (the default for 'cg'), 'jacobi' (z = D⁻¹r), 'ssor', or {kind, omega}. */
  preconditioner?: PreconditionerKind | PreconditionerOption;
  /** Relaxation parameter, 0 < ω < 2 (default 1). Damping for Jacobi; the SSOR preconditioner's ω unless it names its own. */
  omega?: number;
  /** Default 1e-8. */
  tol?: number;
  /** 'relative' (default): ‖r_k‖ ≤ tol·‖r_0‖, with r_0 = b when x0 = 0, as in the paper. 'absolute': ‖r_k‖ ≤ tol. */
  criterion?: 'relative' | 'absolute';
  /** Default 10000. A solve that reaches it returns converged: false. */
  maxIter?: number;
  /** Initial guess (default zeros). Not modified unless inPlace. */
  x0?: FloatArray;
  /** Iterate in x0 itself (x0 must not share memory with b or A). */
  inPlace?: boolean;
  /** Test the residual every k updates (default 1: exact counts). A count is then the first multiple of k that passes. */
  checkEvery?: number;
}

/** The configuration a solve ran with, every default filled in. */
export interface SolveConfig extends RelaxSettings {
  /** The Krylov or stationary method ('cg' for SSOR-CG and Jacobi-CG: see preconditioner). */
  readonly solver: Exclude<RelaxMethod, 'ssor-cg' | 'jacobi-cg'>;
  readonly preconditioner: { readonly kind: PreconditionerKind; readonly omega?: number };
  /** The method's relaxation parameter (stationary methods) or the SSOR preconditioner's ω (ssor-cg). */
  readonly omega: number;
}

export interface SolveResult<T extends FloatArray = FloatArray> {
  x: T;
  /** Updates until the residual test passed (Algorithm 1 of Learning to Relax), or until the run stopped. */
  iterations: number;
  /** ‖b − A x‖₂ of the returned x (computed in f64 on the array as returned). */
  residualNorm: number;
  initialResidualNorm: number;
  /** residualNorm meets the tolerance. */
  converged: boolean;
  /** Stopped early: divergence or CG breakdown (see stop). */
  diverged: boolean;
  /** Why the run stopped. */
  stop: StopReason;
  /** The reason in one line (the CLI prints it). */
  stopDetail: string;
  omega: number;
  /** The kernel's method name ('ssor-cg' for CG with the SSOR preconditioner). */
  method: RelaxMethod;
  config: SolveConfig;
  backend: BackendName;
  seconds: number;
  /** The configuration and the outcome in words. */
  describe(): string;
}

export function checkOmega(v: unknown, name: string): number {
  const w = checkFiniteNumber(v, name);
  if (!(w > 0 && w < 2)) fail('E_RANGE', name, `must satisfy 0 < ω < 2, got ${w}`);
  return w;
}

/** Options given as null are refused like any other wrong type: only undefined takes the default. */
function given<T>(o: Partial<SolveOptions>, key: keyof SolveOptions): T | undefined {
  const v = o[key];
  if (v === null) fail('E_DTYPE', `options.${key}`, 'is null; omit it to take the default');
  return v as T | undefined;
}

export function resolveSettings(o: Partial<SolveOptions>): SolveConfig {
  const method = given<RelaxMethod>(o, 'method') ?? 'ssor-cg';
  if (!RELAX_METHODS.includes(method)) fail('E_RANGE', 'options.method', `expected one of ${RELAX_METHODS.join(', ')}, got ${describe(method)}`);
  const omegaOpt = given<number>(o, 'omega');
  const omega = omegaOpt === undefined ? 1 : checkOmega(omegaOpt, 'options.omega');
  const tolOpt = given<number>(o, 'tol');
  const tol = tolOpt === undefined ? 1e-8 : checkFiniteNumber(tolOpt, 'options.tol');
  if (tol < 0) fail('E_RANGE', 'options.tol', `must be ≥ 0, got ${tol}`);
  const criterion = given<'relative' | 'absolute'>(o, 'criterion') ?? 'relative';
  if (criterion !== 'relative' && criterion !== 'absolute') fail('E_RANGE', 'options.criterion', `expected 'relative' or 'absolute', got ${describe(criterion)}`);
  const maxIterOpt = given<number>(o, 'maxIter');
  const maxIter = maxIterOpt === undefined ? 10000 : checkIntegerInRange(maxIterOpt, 0, 2 ** 31 - 1, 'options.maxIter');
  const checkEveryOpt = given<number>(o, 'checkEvery');
  const checkEvery = checkEveryOpt === undefined ? 1 : checkIntegerInRange(checkEveryOpt, 1, 2 ** 31 - 1, 'options.checkEvery');
  const inPlace = given<unknown>(o, 'inPlace');
  if (inPlace !== undefined && typeof inPlace !== 'boolean') fail('E_DTYPE', 'options.inPlace', `expected a boolean, got ${describe(inPlace)}`);
  const pc = resolvePreconditioner(given(o, 'preconditioner'), method, omegaOpt === undefined ? undefined : omega);
  const kernelMethod: RelaxMethod = method !== 'cg' ? method : pc.kind === 'ssor' ? 'ssor-cg' : pc.kind === 'jacobi' ? 'jacobi-cg' : 'cg';
  const solver = CG_METHODS.includes(kernelMethod) ? 'cg' : (kernelMethod as SolveConfig['solver']);
  const w = kernelMethod === 'ssor-cg' ? pc.omega ?? 1 : method === 'gauss-seidel' || kernelMethod === 'jacobi-cg' || kernelMethod === 'cg' ? 1 : omega;
  return { method: kernelMethod, solver, preconditioner: pc, omega: w, tol, criterion, maxIter, checkEvery };
}

function resolvePreconditioner(option: unknown, method: RelaxMethod, omega: number | undefined): SolveConfig['preconditioner'] {
  const implied: PreconditionerKind = method === 'ssor-cg' ? 'ssor' : method === 'jacobi-cg' ? 'jacobi' : 'none';
  if (option === undefined) return implied === 'ssor' ? { kind: 'ssor', omega: omega ?? 1 } : { kind: implied };
  const spec = typeof option === 'string' ? { kind: option } : checkOptions<PreconditionerOption>(option, 'options.preconditioner');
  const kind = spec.kind;
  if (kind !== 'none' && kind !== 'ssor' && kind !== 'jacobi') fail('E_RANGE', 'options.preconditioner.kind', `expected 'none', 'jacobi' or 'ssor', got ${describe(kind)}`);
  if (!CG_METHODS.includes(method) && kind !== 'none') {
    fail('E_RANGE', 'options.preconditioner', `a preconditioner applies to method 'cg'; ${method} is a stationary method whose ω is options.omega`);
  }
  if (method !== 'cg' && kind !== implied) fail('E_RANGE', 'options.preconditioner', `'${method}' is CG with the ${implied} preconditioner; use method 'cg' with the preconditioner you want`);
  const own = (spec as PreconditionerOption).omega;
  if (kind !== 'ssor') {
    if (own !== undefined) fail('E_RANGE', 'options.preconditioner.omega', "applies to kind 'ssor' only");
    return { kind };
  }
  if (own === undefined) return { kind: 'ssor', omega: omega ?? 1 };
  const w = checkOmega(own, 'options.preconditioner.omega');
  if (omega !== undefined && w !== omega) fail('E_RANGE', 'options.preconditioner.omega', `is ${w} but options.omega is ${omega}; give one`);
  return { kind: 'ssor', omega: w };
}

function operatorArrays(A: LinearOperator): ArrayBufferView[] {
  if ('rowPtr' in A) return [A.rowPtr, A.colIdx, A.values];
  return A.coeffs.kind === 'variable' ? [A.coeffs.diag, ...A.coeffs.offdiag] : [];
}

function finish(sys: CheckedSystem, x: FloatArray, x0: FloatArray | undefined, cfg: SolveConfig, out: RelaxOutcome, backend: BackendName, seconds: number): SolveResult {
  // An input transferred away while the kernel ran: whatever it computed read freed or zeroed memory.
  for (const a of [sys.b, x, ...operatorArrays(sys.A)]) {
    if (isDetached(a)) throw new NumkernError('E_SHAPE', 'an input ArrayBuffer was detached while the solve ran; no result', { argument: 'A' });
  }
  let o = out;
  if (!Number.isFinite(o.initialResidualNorm)) fail('E_RANGE', 'options.x0', 'the initial residual ‖b − A x0‖ overflows f64; rescale the system or x0');
  // A run that overflowed leaves nothing usable: hand back the initial guess and its residual.
  if (!Number.isFinite(o.residualNorm) || hasNonFinite(x)) {
    if (x0 && x0 !== x) x.set(x0);
    else if (!x0) x.fill(0);
    o = { ...o, residualNorm: o.initialResidualNorm, converged: false, diverged: true };
  }
  const j = judge(sys.A, sys.b, x, cfg, o);
  const result: Omit<SolveResult, 'describe'> = {
    x, iterations: o.iterations, residualNorm: j.residualNorm, initialResidualNorm: o.initialResidualNorm,
    converged: j.converged, diverged: j.diverged, stop: j.stop, stopDetail: j.stopDetail,
    omega: cfg.omega, method: cfg.method, config: cfg, backend, seconds,
  };
  Object.defineProperty(result, 'describe', DESCRIBE);
  return result as SolveResult;
}

/** SolveResult's describe(): one function that every result shares, instead of a closure made per solve. */
const DESCRIBE: PropertyDescriptor = {
  value(this: Omit<SolveResult, 'describe'>): string {
    return describeSolve(this);
  },
  enumerable: false,
};

/** The configuration and the outcome in words, e.g. for logs and the CLI. */
export function describeSolve(r: Omit<SolveResult, 'describe'>): string {
  const c = r.config;
  const pc = c.preconditioner;
  const what = c.solver === 'cg'
    ? `CG ${pc.kind === 'ssor' ? `with an SSOR preconditioner (ω = ${pc.omega})` : pc.kind === 'jacobi' ? 'with the Jacobi (diagonal) preconditioner' : 'without a preconditioner'}`
    : `${c.solver}${c.solver === 'gauss-seidel' ? '' : ` (ω = ${c.omega})`}`;
  const test = c.criterion === 'relative' ? `‖r‖ ≤ ${c.tol}·‖r₀‖` : `‖r‖ ≤ ${c.tol}`;
  return `${what} on ${r.x.length} unknowns in ${r.x instanceof Float32Array ? 'f32' : 'f64'} on ${r.backend}: stop at ${test}, at most ${c.maxIter} updates, ` +
    `tested every ${c.checkEvery}. ${r.stopDetail}. ${(r.seconds * 1e3).toFixed(1)} ms.`;
}

function settingsOf(c: SolveConfig): RelaxSettings {
  return { method: c.method, tol: c.tol, criterion: c.criterion, maxIter: c.maxIter, checkEvery: c.checkEvery };
}

/** A matrix (validated now) or a prepared operator (validated when it was prepared). */
export type SolveOperand = LinearOperator | PreparedOperator;

function operand(A: unknown, name: string): CheckedOperator & { prepared?: PreparedOperator } {
  if (!isPrepared(A)) return checkedOperator(A, name);
  const P = checkPrepared(A, name);
  return { A: P.operator, n: P.n, work: P.work, dtype: P.dtype, prepared: P };
}

export async function solve(engine: Engine, A: SolveOperand, b: FloatArray, options?: SolveOptions): Promise<SolveResult> {
  const o = checkOpOptions<SolveOptions>(options);
  const op = operand(A, 'A');
  const sys = checkSystem(op, b, o.x0, { b: 'b', x0: 'options.x0' });
  const cfg = resolveSettings(o);
  if (o.inPlace && o.x0 === undefined) fail('E_SHAPE', 'options.inPlace', 'needs options.x0 to iterate in');
  if (o.inPlace && o.x0) {
    // Iterating in b (or in A's storage) would overwrite what the iteration reads.
    if (overlaps(o.x0, sys.b)) fail('E_SHAPE', 'options.x0', 'shares memory with b; with inPlace the solve would overwrite its own right-hand side');
    for (const a of operatorArrays(sys.A)) if (overlaps(o.x0, a)) fail('E_SHAPE', 'options.x0', 'shares memory with A; with inPlace the solve would overwrite the matrix');
  }
  const x = o.x0 === undefined ? allocLike(sys.b, sys.n) : o.inPlace ? o.x0 : o.x0.slice();
  const x0 = o.inPlace && o.x0 ? o.x0.slice() : o.x0;
  const t0 = performance.now();
  const run = await engine.run(
    'relaxSolve',
    { A: sys.A, b: sys.b, x, ...settingsOf(cfg), omega: cfg.omega, ...(op.prepared ? { prepared: op.prepared } : {}) },
    { ...o, dtype: dtypeOf(sys.b), size: sys.work },
  );
  return finish(sys, x, x0, cfg, run.value, run.backend, (performance.now() - t0) / 1e3);
}

/**
 * Warms a new context's relax path on the native backend: one CG and one SSOR-CG solve of a 48×48
 * Poisson CSR (2304 unknowns), started when the context is made (src/relax/api.ts). A fresh process
 * otherwise pays, in its first solve, for compiling every JS function of the path (validation, dispatch,
 * the session driver, the outcome), for the addon's first calls, and for a first chunk sized from a
 * guessed rate instead of a measured one (src/backends/addon/relax.ts: a later solve's chunks are sized
 * from the rate its method last measured). A 4×4 warm-up did the first two but finished too fast to time
 * a chunk: measured on fem2d-4k, a fresh process's first SSOR-CG solve was 1.9–2.2× a warm one with it,
 * 1.95× with 32×32 (still one untimed chunk), 1.36–1.42× with 48×48, for 10–15 ms more in
 * createContext; CG 1.8–1.9× against 1.23–1.27×. The solves run synchronously (their chunks stay within
 * the first SYNC_SOLVE_MS), touch nothing of the caller's, and their outcome is dropped; a context
 * without the native backend skips them.
 */
const WARM_UP_GRID = 48;

export function warmUp(engine: Engine): void {
  if (!engine.supports('native', 'relaxSolve', 'f64')) return;
  const A = poisson2d(WARM_UP_GRID);
  const b = new Float64Array(WARM_UP_GRID * WARM_UP_GRID).fill(1);
  for (const method of ['cg', 'ssor-cg'] as const) solve(engine, A, b, { method, backend: 'native', strict: true }).catch(() => undefined);
}

export interface SystemSpec {
  A: SolveOperand;
  b: FloatArray;
  x0?: FloatArray;
  /** Per-system ω (a tuner's choice); default options.omega. */
  omega?: number;
}

export type SolveManyOptions = Omit<SolveOptions, 'x0' | 'inPlace'>;

/** Many independent systems, one method and tolerance; one kernel launch on a GPU. Results in input order. */
/** Validates A once and snapshots it for many solves (./prepared.ts). */
export function prepare(A: LinearOperator, options?: PrepareOptions): PreparedOperator {
  return new PreparedOperator(A, 'A', checkPrepareOptions(options));
}

export async function solveMany(engine: Engine, systems: readonly SystemSpec[], options?: SolveManyOptions): Promise<SolveResult[]> {
  const o = checkOpOptions<SolveOptions>(options);
  if (!Array.isArray(systems)) fail('E_DTYPE', 'systems', `expected an array of {A, b}, got ${describe(systems)}`);
  if ((o as SolveOptions).x0 !== undefined || (o as SolveOptions).inPlace !== undefined) {
    fail('E_RANGE', 'options', 'x0 and inPlace are per system: give systems[k].x0');
  }
  const cfg = resolveSettings(o);
  let work = 0;
  let dtype: 'f32' | 'f64' | null = null;
  const prepared = systems.map((spec, k) => {
    if (typeof spec !== 'object' || spec === null) fail('E_DTYPE', `systems[${k}]`, `expected {A, b}, got ${describe(spec)}`);
    const op = operand(spec.A, `systems[${k}].A`);
    const sys = checkSystem(op, spec.b, spec.x0, { b: `systems[${k}].b`, x0: `systems[${k}].x0` });
    if (dtype && dtypeOf(sys.b) !== dtype) fail('E_DTYPE', `systems[${k}].b`, `dtype ${dtypeOf(sys.b)} differs from systems[0] (${dtype})`);
    dtype = dtypeOf(sys.b);
    work += sys.work;
    const omega = spec.omega === undefined || cfg.method === 'gauss-seidel' ? cfg.omega : checkOmega(spec.omega, `systems[${k}].omega`);
    const own: SolveConfig = omega === cfg.omega ? cfg
      : { ...cfg, omega, preconditioner: cfg.preconditioner.kind === 'ssor' ? { kind: 'ssor', omega } : cfg.preconditioner };
    return { sys, cfg: own, x: spec.x0 ? spec.x0.slice() : allocLike(sys.b, sys.n), x0: spec.x0, prepared: op.prepared };
  });
  if (prepared.length === 0) return [];
  const t0 = performance.now();
  const run = await engine.run(
    'relaxSolveBatch',
    { systems: prepared.map((p) => ({ A: p.sys.A, b: p.sys.b, x: p.x, omega: p.cfg.omega, ...(p.prepared ? { prepared: p.prepared } : {}) })), options: settingsOf(cfg) },
    { ...o, dtype: dtype!, size: work },
  );
  const seconds = (performance.now() - t0) / 1e3 / prepared.length;
  return run.value.map((out, k) => finish(prepared[k]!.sys, prepared[k]!.x, prepared[k]!.x0, prepared[k]!.cfg, out, run.backend, seconds));
}
