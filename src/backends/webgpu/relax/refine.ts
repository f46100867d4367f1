/**
 * The host half of a webgpu relax solve: mixed-precision iterative refinement (docs/ARCHITECTURE.md §8, "f64 on a
 * GPU"). The outer loop runs on the host in f64, the inner work on the device in f32; the single
 * solve (device-solve.ts) and the batch (batch.ts) share this loop.
 *
 * A solve is a sequence of rounds. Each round starts from the f64 residual r = b − A x (computed
 * exactly as the oracle src/backends/js/relax.ts computes it: CSR row sums in ascending column
 * order, the 4096-blocked norm), hands the device the scaled residual r/‖r‖ in f32 (scaling keeps
 * any residual, however small, inside f32 range), lets the device solve A e ≈ r/‖r‖ from e = 0,
 * reads e back once, and sets x ← x + ‖r‖·e in f64. The f64 residual is what lets an f32 device
 * reach tolerances below f32's reach; for f32 operands the same loop runs and x is rounded to f32
 * only when it is written back.
 *
 *  - Convergence is decided only by the f64 true residual at the end of a round, against the
 *    oracle's target (tol·‖r_0‖ or tol). A round ends only at one of the oracle's check points
 *    (after every checkEvery-th update counted from the start of the solve, and after the last
 *    update maxIter allows), so the Algorithm-1 count keeps its meaning: the reported iterations are
 *    the device updates (sweeps or CG steps) summed over all rounds, up to the check that passed.
 *  - Inside a round the device tests its own f32 residual at those same check points and ends the
 *    round when it reaches η = max(target/‖r‖, η_min), when it passes the divergence limit, when
 *    it has stalled (no new smallest residual for max(2·checkEvery, 100) updates: f32 can do no
 *    better), or when maxIter is reached.
 *  - Stationary methods are affine, so x + e_k equals k sweeps applied to x itself: a new round
 *    continues the same iteration, re-anchored in f64, and the count tracks the oracle's up to f32
 *    rounding of the iterates. η_min = 1e-3 keeps each round well above the f32 floor (≈ κ·u₃₂).
 *    f32 CG (batches, and systems too large for double-f32) restarts at every round (the Krylov space is lost), so it takes
 *    more steps than the oracle; η_min = 1e-4 lets a round go as deep as the f32 recurrence
 *    residual (which the inner test uses, as the oracle's krylov() does) still tracks the true one.
 *  - Single-system CG (device-solve.ts, DeviceSolve.df) runs in double-f32: matrix values,
 *    vectors, dots and step sizes as (hi, lo) pairs of f32, about 48 bits. Its rounds are reliable
 *    updating (van der Vorst & Ye, SIAM J. Sci. Comput. 22, 2000): the device keeps its direction p
 *    across rounds, and each round's end (the recurrence residual fell by η_min = 0.1, or stalled)
 *    replaces the recurrence residual by the true f64 one, so the rounds are one Krylov run. f32
 *    alone cannot do this on ill-conditioned matrices: A rounded to f32, or f32 vectors and dots,
 *    each cost CG as many extra steps as restarting does (docs/relax.md §9).
 *  - Divergence: the oracle's rule, ‖r‖ > 1e8·‖r_0‖ or not finite, applied to the f64 residual at a
 *    round's end; a CG breakdown (pᵀAp ≤ 0) is divergence at once. x is then the last iterate whose
 *    f64 residual is finite (the round's start when the correction overflowed).
 *  - residualNorm is ‖b − A x‖₂ in f64 of the x handed back: for f32 operands, of the rounded x.
 *  - The caller's x changes only when the solve returns, so after a device loss the dispatcher
 *    reruns the solve elsewhere from the original x0.
 *  - The caller's arrays are read again at every round: one detached (transferred) during the
 *    solve stops it with E_SHAPE naming it, rather than a residual of NaN or a TypeError.
 */
import type { KernelControl } from '../../../core/backend.js';
import { residual } from '../../../core/operator.js';
import { isStencil, type FloatArray, type LinearOperator } from '../../../core/types.js';
import { DIVERGENCE_FACTOR, type RelaxMethod, type RelaxOutcome, type RelaxSettings } from '../../../relax/ops.js';
import { checkAttached } from '../../../core/validate.js';

/**
 * Smallest inner reduction a round aims for (see the header): stationary rounds stop well above the
 * f32 floor, f32 CG ones as deep as f32 tracks; double-f32 CG replaces its recurrence residual by
 * the true one each time it has fallen by this factor (reliable updating, δ = 0.1).
 */
export const ETA_MIN: Readonly<Record<'stationary' | 'cg' | 'reliable', number>> = { stationary: 1e-3, cg: 1e-4, reliable: 0.1 };
/** A round has stalled after this many updates (at least) without a new smallest inner residual. */
export const STALL_MIN_UPDATES = 100;
/** Throttle for onProgress inside a round, as the oracle's Pacer. */
const PROGRESS_MS = 20;
const F32_MAX = 3.4028234663852886e38;

export type Family = 'stationary' | 'cg';

export function familyOf(method: RelaxMethod): Family {
  return method === 'cg' ? 'cg' : 'stationary';
}

export function stallUpdates(checkEvery: number): number {
  return Math.max(2 * checkEvery, STALL_MIN_UPDATES);
}

/** b − A x into r in f64, returning ‖r‖₂ (blocked sum), operation for operation as the oracle. */
export type Residual = (b: FloatArray, x: Float64Array, r: Float64Array) => number;

export function hostResidual(A: LinearOperator): Residual {
  return (b, x, r) => residual(A, b, x, r);
}

/** Why a device round ended; the batch kernels report the same reasons as codes (layout.ts ROUND_ENDS). */
export type RoundEnd = 'tolerance' | 'diverged' | 'stalled' | 'budget' | 'paused' | 'breakdown';

/** What the device needs for one round besides the scaled residual. */
export interface RoundPlan {
  /** Squared inner tolerance, relative to the scaled residual (norm 1). */
  readonly eta2: number;
  /** Squared inner divergence limit: 1e8·‖r_0‖ in units of this round's ‖r‖. */
  readonly div2: number;
  /** Updates this round may make. */
  readonly budget: number;
  /** Updates made before this round (check points are counted from the start of the solve). */
  readonly phase: number;
  /** Whether the budget ends at maxIter, whose last update is followed by a test. */
  readonly last: boolean;
}

/** The caller's arrays a solve reads, with the argument name an error would give. */
type Operand = readonly [name: string, view: ArrayBufferView];

function operandsOf(A: LinearOperator, b: FloatArray, x: FloatArray, prefix: string): Operand[] {
  const ops: Operand[] = [[`${prefix}b`, b], [`${prefix}x`, x]];
  if (isStencil(A)) {
    const c = A.coeffs;
    if (c.kind === 'variable') {
      ops.push([`${prefix}A.coeffs.diag`, c.diag]);
      c.offdiag.forEach((a, d) => ops.push([`${prefix}A.coeffs.offdiag[${d}]`, a]));
    }
  } else {
    ops.push([`${prefix}A.rowPtr`, A.rowPtr], [`${prefix}A.colIdx`, A.colIdx], [`${prefix}A.values`, A.values]);
  }
  return ops;
}

/** The outer, f64 half of a solve: residuals, targets, the x update and the oracle's tests. */
export class Refiner {
  readonly n: number;
  readonly nrm0: number;
  readonly target: number;
  /** ‖b − A x‖ of the current x. */
  nrm: number;
  iterations = 0;
  state: 'running' | 'converged' | 'diverged' | 'stopped';
  /** The divergence was CG's curvature test (pᵀAp ≤ 0), not a growing residual. */
  private breakdown = false;
  private x: Float64Array;
  private r: Float64Array;
  private xTry: Float64Array;
  private rTry: Float64Array;
  private readonly etaMin: number;
  private readonly operands: readonly Operand[];

  /** `prefix` names this system in errors ('systems[3].' in a batch). */
  constructor(
    private readonly residual: Residual,
    A: LinearOperator,
    private readonly b: FloatArray,
    x0: FloatArray,
    private readonly s: RelaxSettings,
    prefix = '',
    etaMin = ETA_MIN[familyOf(s.method)],
  ) {
    this.operands = operandsOf(A, b, x0, prefix);
    this.checkOperands();
    this.n = b.length;
    this.x = Float64Array.from(x0);
    this.r = new Float64Array(this.n);
    this.xTry = new Float64Array(this.n);
    this.rTry = new Float64Array(this.n);
    this.etaMin = etaMin;
    this.nrm0 = residual(b, this.x, this.r);
    this.nrm = this.nrm0;
    this.target = s.criterion === 'relative' ? s.tol * this.nrm0 : s.tol;
    // Algorithm 1: the test before the first update.
    this.state = this.nrm0 <= this.target ? 'converged' : s.maxIter === 0 ? 'stopped' : 'running';
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Throws E_SHAPE naming the first of the caller's arrays that has been detached. */
  checkOperands(): void {
    for (const [name, view] of this.operands) checkAttached(view, name);
  }

  /**
   * Writes r/‖r‖ into `rhs` (f32, or (hi, lo) pairs when rhs holds 2n) and returns the round's plan;
   * `cap` bounds the round's updates.
   */
  plan(rhs: Float32Array, cap = Infinity): RoundPlan {
    const scale = this.nrm;
    if (rhs.length === 2 * this.n) {
      for (let i = 0; i < this.n; i++) {
        const v = this.r[i]! / scale;
        const hi = Math.fround(v);
        rhs[2 * i] = hi;
        rhs[2 * i + 1] = v - hi;
      }
    } else {
      for (let i = 0; i < this.n; i++) rhs[i] = this.r[i]! / scale;
    }
    const remaining = this.s.maxIter - this.iterations;
    const budget = Math.min(remaining, cap);
    const eta = Math.max(this.target / scale, this.etaMin);
    const div = (DIVERGENCE_FACTOR * this.nrm0) / scale;
    return { eta2: Math.min(eta * eta, F32_MAX), div2: Math.min(div * div, F32_MAX), budget, phase: this.iterations, last: budget === remaining };
  }

  /** Applies a round's correction e (scaled by the round's ‖r‖; (hi, lo) pairs when e holds 2n) after `updates` device updates. */
  apply(e: Float32Array, updates: number, end: RoundEnd): void {
    // The residual below reads A and b again: a caller who detached one since gets an error, not NaN.
    this.checkOperands();
    this.iterations += updates;
    const scale = this.nrm;
    let finite = true;
    const pairs = e.length === 2 * this.n;
    for (let i = 0; i < this.n; i++) {
      const v = this.x[i]! + scale * (pairs ? e[2 * i]! + e[2 * i + 1]! : e[i]!);
      this.xTry[i] = v;
      if (!Number.isFinite(v)) finite = false;
    }
    const nrmTry = finite ? this.residual(this.b, this.xTry, this.rTry) : Number.NaN;
    if (!Number.isFinite(nrmTry)) {
      // Overflowed: keep the last finite iterate and its residual.
      this.state = 'diverged';
      return;
    }
    [this.x, this.xTry] = [this.xTry, this.x];
    [this.r, this.rTry] = [this.rTry, this.r];
    this.nrm = nrmTry;
    if (end === 'breakdown') {
      this.state = 'diverged';
      this.breakdown = true;
      return;
    }
    // A round paused between check points makes no test (Algorithm 1 counts tests at check points only).
    if (end === 'paused') return;
    if (this.nrm <= this.target) this.state = 'converged';
    else if (!(this.nrm <= DIVERGENCE_FACTOR * this.nrm0)) this.state = 'diverged';
    else if (this.iterations >= this.s.maxIter) this.state = 'stopped';
  }

  /** Writes x into the caller's array (rounding to its dtype) and returns the outcome. */
  finish(out: FloatArray): RelaxOutcome {
    this.checkOperands();
    out.set(this.x);
    let residualNorm = this.nrm;
    if (!(out instanceof Float64Array)) {
      // The residual of the x handed back, not of its f64 original.
      for (let i = 0; i < this.n; i++) this.xTry[i] = out[i]!;
      residualNorm = this.residual(this.b, this.xTry, this.rTry);
    }
    return {
      iterations: this.iterations,
      residualNorm,
      initialResidualNorm: this.nrm0,
      converged: this.state === 'converged',
      diverged: this.state === 'diverged',
      ...(this.breakdown ? { breakdown: true } : {}),
    };
  }
}

/** onProgress at most every PROGRESS_MS inside rounds (always at a round's end). */
export class Progress {
  private last = performance.now();
  constructor(private readonly ctl: KernelControl) {}

  tick(iteration: number, residualNorm: number, force = false): void {
    if (!this.ctl.onProgress) return;
    const now = performance.now();
    if (!force && now - this.last < PROGRESS_MS) return;
    this.last = now;
    this.ctl.onProgress({ iteration, residualNorm });
  }
}
