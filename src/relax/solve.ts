/**
 * ctx.solve / ctx.solveMany: validate the operator, right-hand side and options, fill the defaults,
 * and hand the whole iteration to one backend (the loop lives where the data lives).
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { RELAX_METHODS, type RelaxMethod, type RelaxOutcome, type RelaxSettings } from '../core/ops.js';
import { stencilSize } from '../core/stencil.js';
import { allocLike, dtypeOf, isStencil, type BackendName, type FloatArray, type LinearOperator } from '../core/types.js';
import {
  checkCsr, checkFinite, checkFiniteNumber, checkFloatArray, checkIntegerInRange, checkLength, checkSameDtype, describe,
} from '../core/validate.js';
import { checkOpOptions, type OpOptions } from '../linalg/options.js';

export interface SolveOptions extends OpOptions {
  /** Default 'ssor-cg'. Natural-ordering SOR/SSOR/Gauss-Seidel are sequential; 'sor-redblack' is the parallel ordering. */
  method?: RelaxMethod;
  /** Relaxation parameter, 0 < ω < 2 (default 1). Damping for Jacobi; the preconditioner's ω for ssor-cg. */
  omega?: number;
  /** Default 1e-8. */
  tol?: number;
  /** 'relative' (default): ‖r_k‖ ≤ tol·‖r_0‖, with r_0 = b when x0 = 0, as in the paper. 'absolute': ‖r_k‖ ≤ tol. */
  criterion?: 'relative' | 'absolute';
  /** Default 10000. A solve that reaches it returns converged: false. */
  maxIter?: number;
  /** Initial guess (default zeros). Not modified unless inPlace. */
  x0?: FloatArray;
  /** Iterate in x0 itself. */
  inPlace?: boolean;
  /** Test the residual every k updates (default 1: exact counts). A count is then the first multiple of k that passes. */
  checkEvery?: number;
}

export interface SolveResult<T extends FloatArray = FloatArray> {
  x: T;
  /** Updates until the residual test passed (Algorithm 1 of Learning to Relax), or until the run stopped. */
  iterations: number;
  /** ‖b − A x‖₂ of the returned x. */
  residualNorm: number;
  initialResidualNorm: number;
  converged: boolean;
  /** The residual grew past 1e8·‖r_0‖ (or CG broke down): stopped early, x is the last finite iterate. */
  diverged: boolean;
  omega: number;
  method: RelaxMethod;
  backend: BackendName;
  seconds: number;
}

interface Resolved extends RelaxSettings {
  omega: number;
}

/** Validates a CSR or stencil operator for relaxation: square, stored positive diagonal, finite. */
export function checkOperator(A: unknown, name = 'A'): LinearOperator {
  if (typeof A === 'object' && A !== null && (A as { kind?: unknown }).kind === 'stencil') return checkStencil(A, name);
  const M = checkCsr(A, name);
  if (M.nrows !== M.ncols) fail('E_SHAPE', name, `must be square, got ${M.nrows}×${M.ncols}`);
  for (let i = 0; i < M.nrows; i++) {
    let d = 0;
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) if (M.colIdx[p] === i) d = M.values[p]!;
    if (!(d > 0)) fail('E_ZERO_DIAGONAL', name, `diagonal entry ${i} is ${d}; relaxation needs a positive diagonal`);
  }
  return M;
}

function checkStencil(A: object, name: string): LinearOperator {
  const S = A as { shape?: unknown; coeffs?: { kind?: unknown; diag?: unknown; offdiag?: unknown } };
  if (!Array.isArray(S.shape) || (S.shape.length !== 2 && S.shape.length !== 3)) fail('E_SHAPE', `${name}.shape`, `expected [nx, ny] or [nx, ny, nz], got ${describe(S.shape)}`);
  S.shape.forEach((v, a) => checkIntegerInRange(v, 1, 2 ** 31 - 1, `${name}.shape[${a}]`));
  const n = S.shape.reduce((p: number, q: number) => p * q, 1);
  if (n > 2 ** 31 - 1) fail('E_SHAPE', `${name}.shape`, `grid of ${n} unknowns exceeds 2^31 − 1`);
  const c = S.coeffs;
  const dirs = 2 * S.shape.length;
  if (typeof c !== 'object' || c === null) fail('E_DTYPE', `${name}.coeffs`, `expected {kind, diag, offdiag}, got ${describe(c)}`);
  if (!Array.isArray(c.offdiag) || c.offdiag.length !== dirs) fail('E_SHAPE', `${name}.coeffs.offdiag`, `expected ${dirs} directions, got ${describe(c.offdiag)}`);
  if (c.kind === 'constant') {
    const d = checkFiniteNumber(c.diag, `${name}.coeffs.diag`);
    if (!(d > 0)) fail('E_ZERO_DIAGONAL', `${name}.coeffs.diag`, `is ${d}; relaxation needs a positive diagonal`);
    c.offdiag.forEach((v, k) => checkFiniteNumber(v, `${name}.coeffs.offdiag[${k}]`));
  } else if (c.kind === 'variable') {
    const diag = checkFloatArray(c.diag, `${name}.coeffs.diag`);
    checkLength(diag, n, `${name}.coeffs.diag`);
    checkFinite(diag, `${name}.coeffs.diag`);
    for (let i = 0; i < n; i++) if (!(diag[i]! > 0)) fail('E_ZERO_DIAGONAL', `${name}.coeffs.diag`, `entry ${i} is ${diag[i]}; relaxation needs a positive diagonal`);
    c.offdiag.forEach((v, k) => {
      const a = checkFloatArray(v, `${name}.coeffs.offdiag[${k}]`);
      checkSameDtype(dtypeOf(diag), a, `${name}.coeffs.offdiag[${k}]`);
      checkLength(a, n, `${name}.coeffs.offdiag[${k}]`);
      checkFinite(a, `${name}.coeffs.offdiag[${k}]`);
    });
  } else {
    fail('E_DTYPE', `${name}.coeffs.kind`, `expected 'constant' or 'variable', got ${describe(c.kind)}`);
  }
  return A as LinearOperator;
}

export function operatorSize(A: LinearOperator): { n: number; work: number } {
  if (isStencil(A)) {
    const n = stencilSize(A);
    return { n, work: n * (1 + 2 * A.shape.length) };
  }
  return { n: A.nrows, work: A.colIdx.length };
}

function operatorDtype(A: LinearOperator): 'f32' | 'f64' | null {
  if (isStencil(A)) return A.coeffs.kind === 'variable' ? dtypeOf(A.coeffs.diag) : null;
  return dtypeOf(A.values);
}

export function checkOmega(v: unknown, name: string): number {
  const w = checkFiniteNumber(v, name);
  if (!(w > 0 && w < 2)) fail('E_RANGE', name, `must satisfy 0 < ω < 2, got ${w}`);
  return w;
}

export function resolveSettings(o: Partial<SolveOptions>): Resolved {
  const method = o.method ?? 'ssor-cg';
  if (!RELAX_METHODS.includes(method)) fail('E_RANGE', 'options.method', `expected one of ${RELAX_METHODS.join(', ')}, got ${describe(method)}`);
  const omega = o.omega === undefined ? 1 : checkOmega(o.omega, 'options.omega');
  const tol = o.tol === undefined ? 1e-8 : checkFiniteNumber(o.tol, 'options.tol');
  if (tol < 0) fail('E_RANGE', 'options.tol', `must be ≥ 0, got ${tol}`);
  const criterion = o.criterion ?? 'relative';
  if (criterion !== 'relative' && criterion !== 'absolute') fail('E_RANGE', 'options.criterion', `expected 'relative' or 'absolute', got ${describe(criterion)}`);
  const maxIter = o.maxIter === undefined ? 10000 : checkIntegerInRange(o.maxIter, 0, 2 ** 31 - 1, 'options.maxIter');
  const checkEvery = o.checkEvery === undefined ? 1 : checkIntegerInRange(o.checkEvery, 1, 2 ** 31 - 1, 'options.checkEvery');
  return { method, omega, tol, criterion, maxIter, checkEvery };
}

function checkSystem(A: unknown, b: unknown, x0: unknown, names: { A: string; b: string; x0: string }): { A: LinearOperator; b: FloatArray; n: number; work: number } {
  const op = checkOperator(A, names.A);
  const rhs = checkFloatArray(b, names.b);
  const { n, work } = operatorSize(op);
  checkLength(rhs, n, names.b);
  const dt = operatorDtype(op);
  if (dt) checkSameDtype(dt, rhs, names.b);
  checkFinite(rhs, names.b);
  checkMagnitude(rhs, names.b);
  if (x0 !== undefined) {
    const x = checkFloatArray(x0, names.x0);
    checkSameDtype(dtypeOf(rhs), x, names.x0);
    checkLength(x, n, names.x0);
    checkFinite(x, names.x0);
    checkMagnitude(x, names.x0);
  }
  return { A: op, b: rhs, n, work };
}

/** Residual norms are plain sums of squares (src/backends/js/relax.ts): entries past 1e150 would overflow them. */
const MAX_MAGNITUDE = 1e150;

function checkMagnitude(v: FloatArray, name: string): void {
  for (let i = 0; i < v.length; i++) {
    if (Math.abs(v[i]!) > MAX_MAGNITUDE) fail('E_RANGE', name, `entry ${i} is ${v[i]}; |entries| must stay below ${MAX_MAGNITUDE} (rescale the system)`);
  }
}

function finish(x: FloatArray, x0: FloatArray | undefined, out: RelaxOutcome): RelaxOutcome {
  // A diverging run that overflowed leaves nothing usable: hand back the initial guess and its residual.
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i]!)) {
      if (x0 && x0 !== x) x.set(x0);
      else x.fill(0);
      return { ...out, residualNorm: out.initialResidualNorm, converged: false, diverged: true };
    }
  }
  return out;
}

export async function solve(engine: Engine, A: LinearOperator, b: FloatArray, options?: SolveOptions): Promise<SolveResult> {
  const o = checkOpOptions<SolveOptions>(options);
  const sys = checkSystem(A, b, o.x0, { A: 'A', b: 'b', x0: 'options.x0' });
  const s = resolveSettings(o);
  if (o.inPlace && o.x0 === undefined) fail('E_SHAPE', 'options.inPlace', 'needs options.x0 to iterate in');
  const x = o.x0 === undefined ? allocLike(sys.b, sys.n) : o.inPlace ? o.x0 : o.x0.slice();
  const x0 = o.inPlace && o.x0 ? o.x0.slice() : o.x0;
  const t0 = performance.now();
  const run = await engine.run('relaxSolve', { A: sys.A, b: sys.b, x, ...s }, { ...o, dtype: dtypeOf(sys.b), size: sys.work });
  const seconds = (performance.now() - t0) / 1e3;
  return { x, ...finish(x, x0, run.value), omega: s.method === 'gauss-seidel' ? 1 : s.omega, method: s.method, backend: run.backend, seconds };
}

export interface SystemSpec {
  A: LinearOperator;
  b: FloatArray;
  x0?: FloatArray;
  /** Per-system ω (a tuner's choice); default options.omega. */
  omega?: number;
}

/** Many independent systems, one method and tolerance; one kernel launch on a GPU. Results in input order. */
export async function solveMany(engine: Engine, systems: readonly SystemSpec[], options?: Omit<SolveOptions, 'x0' | 'inPlace'>): Promise<SolveResult[]> {
  const o = checkOpOptions<SolveOptions>(options);
  if (!Array.isArray(systems)) fail('E_DTYPE', 'systems', `expected an array of {A, b}, got ${describe(systems)}`);
  const s = resolveSettings(o);
  let work = 0;
  let dtype: 'f32' | 'f64' | null = null;
  const prepared = systems.map((sys, k) => {
    if (typeof sys !== 'object' || sys === null) fail('E_DTYPE', `systems[${k}]`, `expected {A, b}, got ${describe(sys)}`);
    const c = checkSystem(sys.A, sys.b, sys.x0, { A: `systems[${k}].A`, b: `systems[${k}].b`, x0: `systems[${k}].x0` });
    if (dtype && dtypeOf(c.b) !== dtype) fail('E_DTYPE', `systems[${k}].b`, `dtype ${dtypeOf(c.b)} differs from systems[0] (${dtype})`);
    dtype = dtypeOf(c.b);
    work += c.work;
    const omega = sys.omega === undefined ? s.omega : checkOmega(sys.omega, `systems[${k}].omega`);
    return { A: c.A, b: c.b, x: sys.x0 ? sys.x0.slice() : allocLike(c.b, c.n), omega, x0: sys.x0 };
  });
  if (prepared.length === 0) return [];
  const t0 = performance.now();
  const run = await engine.run('relaxSolveBatch', { systems: prepared, options: s }, { ...o, dtype: dtype!, size: work });
  const seconds = (performance.now() - t0) / 1e3;
  return run.value.map((out, k) => ({
    x: prepared[k]!.x, ...finish(prepared[k]!.x, prepared[k]!.x0, out),
    omega: s.method === 'gauss-seidel' ? 1 : prepared[k]!.omega, method: s.method, backend: run.backend, seconds: seconds / prepared.length,
  }));
}
