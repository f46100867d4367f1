/**
 * Reference relaxation and Krylov solvers: the oracle whose iteration counts every f64 backend must
 * reproduce exactly. Everything that decides a count is pinned down here and mirrored by the native
 * kernels (native/include/numkern/relax.hpp) operation for operation:
 *  - f64 throughout (f32 operands are widened once);
 *  - residual and matrix-vector row sums in ascending column order, starting from 0;
 *  - SOR update x_i ← (1 − ω)·x_i + (b_i − σ_i)·(ω/a_ii), σ_i the off-diagonal row sum taken with
 *    the most recently updated neighbours last (relaxForward, relaxBackward);
 *  - norms and dot products summed in blocks of 4096 (each block in order, then the block sums in order),
 *    so a threaded backend can reproduce them bit for bit;
 *  - the test ‖r_k‖ ≤ tol·‖r_0‖ (or ≤ tol) before the first update and after every checkEvery-th
 *    (Algorithm 1 of Learning to Relax: the count is the number of updates until it passes).
 */
import { throwIfAborted } from '../../core/errors.js';
import { multicolorOrdering } from '../../core/coloring.js';
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import { DIVERGENCE_FACTOR, type PreparedToken, type RelaxArgs, type RelaxOutcome } from '../../relax/ops.js';
import { blockedDot, blockedSum, csrResidual } from '../../core/operator.js';
import { stencilToCsr } from '../../core/stencil.js';
import { isStencil, type CsrMatrix, type LinearOperator } from '../../core/types.js';
import { spmv } from './spmv.js';

interface Prepared {
  readonly A: CsrMatrix;
  readonly n: number;
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  readonly values: Float64Array;
  readonly diag: Float64Array;
  readonly diagPos: Int32Array;
}

// No cache keyed by the operator object: a caller may edit a variable stencil in place between solves,
// and the O(nnz) conversion is small next to any solve.
function prepare(op: LinearOperator): Prepared {
  const A: CsrMatrix = isStencil(op) ? stencilToCsr(op) : op;
  const n = A.nrows;
  const values = A.values instanceof Float64Array ? A.values : Float64Array.from(A.values);
  const diag = new Float64Array(n);
  const diagPos = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    diagPos[i] = -1;
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) {
      if (A.colIdx[p] === i) {
        diagPos[i] = p;
        diag[i] = values[p]!;
      }
    }
  }
  return { A, n, rowPtr: A.rowPtr, colIdx: A.colIdx, values, diag, diagPos };
}

/** r := b − A x; returns ‖r‖₂ (the shared host residual: f32 values widen exactly). */
function residual(P: Prepared, b: Float64Array, x: Float64Array, r: Float64Array): number {
  return csrResidual(P.A, b, x, r);
}

/**
 * One SOR row update, forward sweeps and red-black: σ adds the entries right of the diagonal, then the
 * ones left of it, each part in ascending column order, so the neighbour updated last (x_{i−1}) enters
 * last and the sweep's row-to-row dependency chain crosses one add; ω/a_ii is off the chain.
 * With a diagonal absent (diagPos = −1) every entry is right of it.
 */
function relaxForward(P: Prepared, b: Float64Array, x: Float64Array, omega: number, i: number): void {
  const { rowPtr, colIdx, values, diagPos } = P;
  const d = diagPos[i]!;
  const start = rowPtr[i]!;
  const end = rowPtr[i + 1]!;
  let sigma = 0;
  for (let p = d + 1 > start ? d + 1 : start; p < end; p++) sigma += values[p]! * x[colIdx[p]!]!;
  for (let p = start; p < d; p++) sigma += values[p]! * x[colIdx[p]!]!;
  x[i] = (1 - omega) * x[i]! + (b[i]! - sigma) * (omega / P.diag[i]!);
}

/** The backward sweep's mirror: left part ascending, then the right part descending (x_{i+1} last). */
function relaxBackward(P: Prepared, b: Float64Array, x: Float64Array, omega: number, i: number): void {
  const { rowPtr, colIdx, values, diagPos } = P;
  const d = diagPos[i]!;
  const start = rowPtr[i]!;
  let sigma = 0;
  for (let p = start; p < d; p++) sigma += values[p]! * x[colIdx[p]!]!;
  for (let p = rowPtr[i + 1]! - 1, stop = d + 1 > start ? d + 1 : start; p >= stop; p--) sigma += values[p]! * x[colIdx[p]!]!;
  x[i] = (1 - omega) * x[i]! + (b[i]! - sigma) * (omega / P.diag[i]!);
}

/** Yields to the event loop every ~20 ms so an AbortSignal can fire and progress can be reported. */
class Pacer {
  private last = performance.now();
  constructor(private readonly ctl: KernelControl) {}
  async tick(iteration: number, residualNorm: number): Promise<void> {
    const now = performance.now();
    if (now - this.last < 20) return;
    this.last = now;
    this.ctl.onProgress?.({ iteration, residualNorm });
    await new Promise((resolve) => setImmediate(resolve));
    throwIfAborted(this.ctl.signal);
  }
}

function widen(a: Float32Array | Float64Array): Float64Array {
  return a instanceof Float64Array ? a : Float64Array.from(a);
}

/** What the oracle derives from a prepared operator's snapshot, kept until the handle is disposed. */
const preparedCache = new WeakMap<PreparedToken, Prepared>();

function preparedOf(args: RelaxArgs): Prepared {
  const token = args.prepared;
  if (!token) return prepare(args.A);
  let P = preparedCache.get(token);
  if (!P) {
    P = prepare(args.A);
    preparedCache.set(token, P);
    token.own(() => preparedCache.delete(token));
  }
  return P;
}

export async function relaxSolve(args: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const P = preparedOf(args);
  const b = widen(args.b);
  const x = args.x instanceof Float64Array ? args.x : Float64Array.from(args.x);
  const out =
    args.method === 'ssor-cg' ? await ssorCg(P, b, x, args, ctl)
    : args.method === 'cg' || args.method === 'jacobi-cg' ? await cg(P, b, x, args, ctl)
    : await stationary(P, b, x, args, ctl);
  if (x !== args.x) args.x.set(x);
  return out;
}

async function stationary(P: Prepared, b: Float64Array, x: Float64Array, a: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const r = new Float64Array(P.n);
  const omega = a.method === 'gauss-seidel' ? 1 : a.omega;
  const coloring = a.method === 'sor-redblack' ? multicolorOrdering(P.A) : null;
  const pacer = new Pacer(ctl);
  const nrm0 = residual(P, b, x, r);
  const target = a.criterion === 'relative' ? a.tol * nrm0 : a.tol;
  let nrm = nrm0;
  let k = 0;
  if (nrm <= target) return done(P, b, x, r, k, nrm0, true, false);
  while (k < a.maxIter) {
    switch (a.method) {
      case 'jacobi':
        // x ← x + ω D⁻¹ (b − A x): the residual of the current iterate drives the update.
        if (k % a.checkEvery !== 0) residual(P, b, x, r);
        for (let i = 0; i < P.n; i++) x[i] = x[i]! + omega * (r[i]! / P.diag[i]!);
        break;
      case 'ssor':
        for (let i = 0; i < P.n; i++) relaxForward(P, b, x, omega, i);
        for (let i = P.n - 1; i >= 0; i--) relaxBackward(P, b, x, omega, i);
        break;
      case 'sor-redblack':
        for (let q = 0; q < P.n; q++) relaxForward(P, b, x, omega, coloring!.order[q]!);
        break;
      default:
        for (let i = 0; i < P.n; i++) relaxForward(P, b, x, omega, i);
    }
    k++;
    if (k % a.checkEvery === 0 || k === a.maxIter) {
      nrm = residual(P, b, x, r);
      if (nrm <= target) return done(P, b, x, r, k, nrm0, true, false);
      if (!(nrm <= DIVERGENCE_FACTOR * nrm0)) return done(P, b, x, r, k, nrm0, false, true);
      await pacer.tick(k, nrm);
    }
  }
  return done(P, b, x, r, k, nrm0, false, false);
}

/**
 * CG, or CG preconditioned by the diagonal (method 'jacobi-cg': z = D⁻¹ r). The recurrence residual
 * ‖r_k‖ decides convergence (as MATLAB pcg and PETSc KSPCG do); the true one is reported. Without a
 * preconditioner z is r itself and rᵀz is ‖r‖², so plain CG does exactly the operations it always did.
 */
async function cg(P: Prepared, b: Float64Array, x: Float64Array, a: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const n = P.n;
  const jacobi = a.method === 'jacobi-cg';
  const r = new Float64Array(n);
  const q = new Float64Array(n);
  const pacer = new Pacer(ctl);
  const nrm0 = residual(P, b, x, r);
  const target = a.criterion === 'relative' ? a.tol * nrm0 : a.tol;
  if (nrm0 <= target) return done(P, b, x, q, 0, nrm0, true, false);
  const z = jacobi ? new Float64Array(n) : r;
  const diag = P.diag;
  if (jacobi) for (let i = 0; i < n; i++) z[i] = r[i]! / diag[i]!;
  const p = z.slice();
  let rz = blockedDot(r, z);
  let k = 0;
  while (k < a.maxIter) {
    spmv(P.A, p, q);
    const pq = blockedDot(p, q);
    // pᵀAp ≤ 0 (or NaN) means A is not SPD: CG has broken down.
    if (!(pq > 0)) return done(P, b, x, q, k, nrm0, false, true, true);
    const alpha = rz / pq;
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! + alpha * p[i]!;
      r[i] = r[i]! - alpha * q[i]!;
    }
    k++;
    const rr = blockedDot(r, r);
    if (jacobi) for (let i = 0; i < n; i++) z[i] = r[i]! / diag[i]!;
    const rzNew = jacobi ? blockedDot(r, z) : rr;
    if (k % a.checkEvery === 0 || k === a.maxIter) {
      const nrm = Math.sqrt(rr);
      if (nrm <= target) return done(P, b, x, q, k, nrm0, true, false);
      if (!(nrm <= DIVERGENCE_FACTOR * nrm0)) return done(P, b, x, q, k, nrm0, false, true);
      await pacer.tick(k, nrm);
    }
    const beta = rzNew / rz;
    rz = rzNew;
    for (let i = 0; i < n; i++) p[i] = z[i]! + beta * p[i]!;
  }
  return done(P, b, x, q, k, nrm0, false, false);
}

/**
 * (D̃ + L) y = u row by row, D̃ = D/ω, L the entries stored left of the diagonal: y_i = (u_i − Σ a_ij y_j)·(ω/a_ii),
 * the terms subtracted one at a time in ascending column order, so y_{i−1} enters last and the row-to-row
 * chain is one multiply, one subtract and the scaling.
 */
function lowerSolve(P: Prepared, u: Float64Array, y: Float64Array, omega: number): void {
  const { rowPtr, colIdx, values, diagPos, diag } = P;
  for (let i = 0; i < P.n; i++) {
    let s = u[i]!;
    for (let p = rowPtr[i]!; p < diagPos[i]!; p++) s -= values[p]! * y[colIdx[p]!]!;
    y[i] = s * (omega / diag[i]!);
  }
}

/**
 * SSOR-CG with Eisenstat's trick [S. C. Eisenstat, SIAM J. Sci. Stat. Comput. 2 (1981); PETSc PCEISENSTAT].
 * A = L + D + U, D̃ = D/ω. The preconditioner is the paper's W̃_ω (docs/relax.md §1.4, forward factor first):
 * M ∝ (D̃ + L) D̃⁻¹ (D̃ + U). PCG on A with M is CG on Â = (D̃ + L)⁻¹ A (D̃ + U)⁻¹ preconditioned by D̃⁻¹
 * in the variables x̂ = (D̃ + U) x, r̂ = (D̃ + L)⁻¹ r — the same iterates in exact arithmetic. Since
 * A = (D̃ + L) + (D̃ + U) + (D − 2D̃), Â p̂ = t + (D̃ + L)⁻¹ (p̂ + (D − 2D̃) t) with t = (D̃ + U)⁻¹ p̂:
 * one backward and one forward triangular solve per iteration and no product with A. t is the search
 * direction in x, so x += αt. The stopping test is on the true-space residual r (‖r_k‖ ≤ tol·‖r_0‖), which
 * is carried as r −= α A t with A t = p̂ + (D − D̃) t + L t, L t summed in the forward pass.
 *
 * Pinned for every backend: d̃_i = a_ii/ω and ω/a_ii evaluated as written; the direction update
 * p̂ = D̃ r̂ + β p̂ happens at the top of the next backward pass (β = 0 and p̂ = 0 at the start);
 * p̂ᵀÂp̂, r̂ᵀD̃r̂ = Σ r̂_i·(d̃_i·r̂_i) and ‖r‖² are blocked sums.
 */
async function ssorCg(P: Prepared, b: Float64Array, x: Float64Array, a: RelaxArgs, ctl: KernelControl): Promise<RelaxOutcome> {
  const { n, rowPtr, colIdx, values, diagPos, diag } = P;
  const omega = a.omega;
  const r = new Float64Array(n);
  const rh = new Float64Array(n);
  const ph = new Float64Array(n);
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  const at = new Float64Array(n);
  const pacer = new Pacer(ctl);
  const nrm0 = residual(P, b, x, r);
  const target = a.criterion === 'relative' ? a.tol * nrm0 : a.tol;
  if (nrm0 <= target) return done(P, b, x, at, 0, nrm0, true, false);
  lowerSolve(P, r, rh, omega);
  let rho = blockedSum(n, (i) => rh[i]! * ((diag[i]! / omega) * rh[i]!));
  let beta = 0;
  let k = 0;
  while (k < a.maxIter) {
    for (let i = n - 1; i >= 0; i--) {
      const p = (diag[i]! / omega) * rh[i]! + beta * ph[i]!;
      ph[i] = p;
      let s = p;
      for (let q = rowPtr[i + 1]! - 1, lo = Math.max(diagPos[i]! + 1, rowPtr[i]!); q >= lo; q--) s -= values[q]! * t[colIdx[q]!]!;
      t[i] = s * (omega / diag[i]!);
    }
    for (let i = 0; i < n; i++) {
      const aii = diag[i]!;
      const dt = aii / omega;
      let s = ph[i]! + (aii - 2 * dt) * t[i]!;
      let lt = 0;
      for (let q = rowPtr[i]!; q < diagPos[i]!; q++) {
        s -= values[q]! * v[colIdx[q]!]!;
        lt += values[q]! * t[colIdx[q]!]!;
      }
      v[i] = s * (omega / aii);
      at[i] = ph[i]! + (aii - dt) * t[i]! + lt;
    }
    const pq = blockedSum(n, (i) => ph[i]! * (t[i]! + v[i]!));
    // p̂ᵀÂp̂ ≤ 0 (or NaN) means A is not SPD: CG has broken down.
    if (!(pq > 0)) return done(P, b, x, at, k, nrm0, false, true, true);
    const alpha = rho / pq;
    for (let i = 0; i < n; i++) {
      x[i] = x[i]! + alpha * t[i]!;
      rh[i] = rh[i]! - alpha * (t[i]! + v[i]!);
      r[i] = r[i]! - alpha * at[i]!;
    }
    k++;
    const rhoNew = blockedSum(n, (i) => rh[i]! * ((diag[i]! / omega) * rh[i]!));
    if (k % a.checkEvery === 0 || k === a.maxIter) {
      // The recurrence residual decides convergence (as MATLAB pcg and PETSc KSPCG do); the true one is reported.
      const nrm = Math.sqrt(blockedDot(r, r));
      if (nrm <= target) return done(P, b, x, at, k, nrm0, true, false);
      if (!(nrm <= DIVERGENCE_FACTOR * nrm0)) return done(P, b, x, at, k, nrm0, false, true);
      await pacer.tick(k, nrm);
    }
    beta = rhoNew / rho;
    rho = rhoNew;
  }
  return done(P, b, x, at, k, nrm0, false, false);
}

function done(
  P: Prepared, b: Float64Array, x: Float64Array, scratch: Float64Array, iterations: number, nrm0: number, converged: boolean, diverged: boolean,
  breakdown = false,
): RelaxOutcome {
  return { iterations, residualNorm: residual(P, b, x, scratch), initialResidualNorm: nrm0, converged, diverged, ...(breakdown ? { breakdown } : {}) };
}

/** The relax family's js kernels: the oracle, f32 and f64 (f32 widened to f64). */
export function relaxKernels(): AnyKernel[] {
  const BOTH = ['f32', 'f64'] as const;
  return [
    kernel({ op: 'relaxSolve', dtypes: BOTH, run: (args, ctl) => relaxSolve(args, ctl) }),
    kernel({
      op: 'relaxSolveBatch',
      dtypes: BOTH,
      run: async ({ systems, options }, ctl) => {
        const out = [];
        for (const s of systems) out.push(await relaxSolve({ ...options, ...s }, ctl));
        return out;
      },
    }),
  ];
}
