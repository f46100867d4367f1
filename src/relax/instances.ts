/**
 * The instance sequences of the Learning-to-Relax experiments (docs/relax.md §5), generated
 * deterministically from a seed so every policy in a comparison sees the very same systems.
 *
 * Paper-vs-code choices (docs/relax.md §7, "mismatches to decide and document"):
 *  - right-hand sides are truncated Gaussians with ‖b‖ ≤ √n (Sec. 3 and `utils/truncated_normal.m`;
 *    App. G.1's "‖b‖ ≤ n" would truncate nothing in practice): rejection sampling of N(0, I_n);
 *  - the heat coefficient defaults to the code's κ(t) = max(0.1 sin 2πt, −10 sin 2πt) (`scripts/h2d.m`,
 *    which produced the figures); `kappa: 'paper'` gives the printed max(0.01 sin 2πt, −10 sin 2πt);
 *  - the heat forcing orbits on (½ + cos(16πt)/4, ½ + sin(16πt)/4) as in the code (the paper prints cos
 *    twice, which would move the bump along a diagonal segment, not a circle);
 *  - the bump is the code's exp(1 − 1/(1 − min(1, |x − c|²/r²))), peak 1 (the paper drops the e¹);
 *  - the heat context is κ at the half step t + dt/2, the coefficient actually inside A_t (the code
 *    passes κ(t) at the start of the step, dt/2 earlier).
 */
import { checkMemory } from '../core/alloc.js';
import { fail } from '../core/errors.js';
import { PhiloxStream } from '../core/philox.js';
import type { FloatArray, LinearOperator } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, checkOptions, describe } from '../core/validate.js';
import { heatStep2d, poisson2d, shifted } from './generators.js';
import type { SequenceInstance } from './sequence.js';
import type { ContextInterval } from './tuners/tuner.js';

/** A re-iterable, seed-determined sequence: each pass yields the same systems. */
export interface InstanceSequence extends Iterable<SequenceInstance> {
  /** Number of instances. */
  readonly length: number;
  /** The context interval to declare to contextual tuners. */
  readonly context: ContextInterval;
}

export interface ShiftedLaplacianOptions {
  /** Number of instances (the paper: 5000). */
  T: number;
  /** 'low': c ~ −0.15 + 0.6·Beta(2, 6); 'high': c ~ −0.15 + 0.6·Beta(½, 3/2) (§5.1). */
  variance: 'low' | 'high';
  seed?: number | bigint;
  /** Interior grid side (default 10: the paper's 100 × 100 matrix `delsq(numgrid('S', 12))`). */
  m?: number;
  /** Emit matrix-free stencils instead of CSR (same matrices). */
  stencil?: boolean;
}

/**
 * Context interval given to the paper's contextual learners on this family, [−0.15, 0.65]
 * (`scripts/contextual.m`). The shifts themselves lie in [−0.15, 0.45]: Beta's support is [0, 1].
 */
export const SHIFTED_LAPLACIAN_CONTEXT: ContextInterval = Object.freeze({ min: -0.15, max: 0.65 });

/**
 * A_t = A + c_t I with A the 5-point Laplacian on an m×m grid (diagonal 4) and b_t a truncated
 * Gaussian, i.i.d. over t (§5.1). Each A_t is SPD: λ_min(A) = 4 − 4cos(π/(m+1)) > 0.15 for m ≤ 10
 * [derived, §5.1]; for larger m the lowest shifts would not be, so m is limited to 10.
 * Randomness: Philox stream 0 of the seed draws the shifts, stream 1 the right-hand sides.
 * Each instance carries its context c_t and its Jacobi radius β(c) = cos(π/(m+1))·4/(4 + c) (§2).
 */
export function shiftedLaplacianSequence(options: ShiftedLaplacianOptions): InstanceSequence {
  const o = checkOptions<ShiftedLaplacianOptions>(options);
  const T = checkIntegerInRange(o.T, 0, 10_000_000, 'options.T');
  if (o.variance !== 'low' && o.variance !== 'high') fail('E_RANGE', 'options.variance', `expected 'low' or 'high', got ${describe(o.variance)}`);
  const [a, b] = o.variance === 'low' ? [2, 6] : [0.5, 1.5];
  const m = o.m === undefined ? 10 : checkIntegerInRange(o.m, 1, 10, 'options.m');
  const seed = checkSeedOption(o.seed);
  const n = m * m;
  const base = o.stencil ? poisson2d(m, { stencil: true }) : poisson2d(m);
  const beta0 = Math.cos(Math.PI / (m + 1));
  return {
    length: T,
    context: SHIFTED_LAPLACIAN_CONTEXT,
    *[Symbol.iterator](): Iterator<SequenceInstance> {
      const shifts = new PhiloxStream(seed, 0);
      const rhs = new PhiloxStream(seed, 1);
      for (let t = 0; t < T; t++) {
        const c = -0.15 + 0.6 * shifts.nextBeta(a, b);
        yield { A: shifted(base, c) as LinearOperator, b: truncatedGaussian(rhs, n), context: c, jacobiRadius: (beta0 * 4) / (4 + c) };
      }
    },
  };
}

/** N(0, I_n) conditioned on ‖b‖ ≤ √n, by rejection (docs/relax.md §1.2; accepts about half the draws). */
export function truncatedGaussian(rng: PhiloxStream, n: number): Float64Array {
  const b = new Float64Array(n);
  for (;;) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const g = rng.nextGaussian();
      b[i] = g;
      s += g * g;
    }
    if (s <= n) return b;
  }
}

function checkSeedOption(seed: unknown): number | bigint {
  if (seed === undefined) return 0;
  if (typeof seed === 'bigint') return seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) fail('E_RANGE', 'options.seed', `expected a non-negative safe integer or bigint, got ${describe(seed)}`);
  return seed;
}

export type HeatCoefficient = 'code' | 'paper' | ((t: number) => number);

export interface HeatOptions {
  /** Grid parameter: spacing 1/nx, n = (nx − 1)² unknowns (the paper: 25, 50, 100, 200, 400). */
  nx: number;
  /** Time steps (default 5000: t ∈ [0, 5] at dt = 1e-3). */
  steps?: number;
  /** Default 1e-3. */
  dt?: number;
  /** Diffusion coefficient κ(t): 'code' (default), 'paper', or a function returning κ ≥ 0. */
  kappa?: HeatCoefficient;
  /** When given, the forcing orbit starts at a random angle drawn from this seed; omitted, at angle 0 (the code's). */
  seed?: number | bigint;
  /** Emit matrix-free stencils instead of CSR. */
  stencil?: boolean;
}

export interface HeatInstance extends SequenceInstance {
  readonly context: number;
  readonly x0: Float64Array;
  /** Time at the start of the step. */
  readonly time: number;
  readonly step: number;
}

/** The heat sequence: re-iterable like the others, but each step needs the previous step's solution. */
export interface HeatSequence extends InstanceSequence {
  readonly nx: number;
  readonly dt: number;
  /** κ(t) as configured. */
  kappa(t: number): number;
}

function bump(x: number, y: number, cx: number, cy: number, r: number): number {
  const q = Math.min(1, ((x - cx) ** 2 + (y - cy) ** 2) / (r * r));
  // q = 1 gives exp(−∞) = 0: the bump vanishes smoothly at radius r.
  return Math.exp(1 - 1 / (1 - q));
}

/**
 * 2-D heat equation u_t = κ(t) Δu + f(t, x) on [0, 1]² with zero Dirichlet boundary, Crank–Nicolson
 * with step dt on an (nx − 1)² interior grid (§5.2, `utils/Heat2D.m`):
 *   A_t = I − (dt/2) κ(t + dt/2) L_h,   b_t = (I + (dt/2) κ(t + dt/2) L_h) u_t + dt f(t + dt/2, ·),
 * u_0 = bump centred (½, ½), radius ¼; f = 32·bump of radius ⅛ orbiting the centre at radius ¼,
 * 8 turns per unit time. Each instance warm-starts from u_t (`x0`) and carries the context κ(t + dt/2).
 * The sequence advances with whatever solution the consumer passes to `onSolved`, as in the
 * reference (each policy runs its own simulation); asking for step t + 1 before step t was solved is
 * an E_RANGE error.
 */
export function heatSequence(options: HeatOptions): HeatSequence {
  const o = checkOptions<HeatOptions>(options);
  const nx = checkIntegerInRange(o.nx, 3, 46341, 'options.nx');
  const steps = o.steps === undefined ? 5000 : checkIntegerInRange(o.steps, 0, 10_000_000, 'options.steps');
  const dt = o.dt === undefined ? 1e-3 : checkFiniteNumber(o.dt, 'options.dt');
  if (!(dt > 0)) fail('E_RANGE', 'options.dt', `must be > 0, got ${dt}`);
  const kappa = resolveKappa(o.kappa);
  const phase = o.seed === undefined ? 0 : 2 * Math.PI * new PhiloxStream(checkSeedOption(o.seed), 0).nextUniform();
  const m = nx - 1;
  const n = m * m;
  const h = 1 / nx;
  // Context range over the steps actually taken.
  let cmin = Infinity;
  let cmax = -Infinity;
  for (let k = 0; k < steps; k++) {
    const v = kappa((k + 0.5) * dt);
    cmin = Math.min(cmin, v);
    cmax = Math.max(cmax, v);
  }
  if (!(cmax > cmin)) {
    cmin = Number.isFinite(cmin) ? cmin : 0;
    cmax = cmin + 1;
  }
  const context: ContextInterval = Object.freeze({ min: cmin, max: cmax });
  // u, its copy, b and x0 live together while a step is solved (the CSR form of A comes on top).
  checkMemory(4 * 8 * n, 'options.nx');
  const initial = new Float64Array(n);
  for (let j = 0; j < m; j++) for (let i = 0; i < m; i++) initial[i + m * j] = bump((i + 1) * h, (j + 1) * h, 0.5, 0.5, 0.25);
  return {
    length: steps, context, nx, dt, kappa,
    *[Symbol.iterator](): Iterator<HeatInstance> {
      let u: Float64Array = initial.slice();
      for (let k = 0; k < steps; k++) {
        const t = k * dt;
        const half = t + dt / 2;
        const kv = kappa(half);
        const s = (dt * kv * nx * nx) / 2;
        const A: LinearOperator = kv > 0
          ? heatStep2d(nx, { kappa: kv, dt, stencil: o.stencil }).lhs
          : identityStep(m, o.stencil === true);
        // b = (I − sP) u + dt f(t + dt/2): P is the unscaled 5-point Laplacian (diagonal 4, neighbours −1).
        const b = new Float64Array(n);
        const angle = 16 * Math.PI * half + phase;
        const fx = 0.5 + Math.cos(angle) / 4;
        const fy = 0.5 + Math.sin(angle) / 4;
        for (let j = 0; j < m; j++) {
          for (let i = 0; i < m; i++) {
            const p = i + m * j;
            let nb = 0;
            if (i > 0) nb += u[p - 1]!;
            if (i < m - 1) nb += u[p + 1]!;
            if (j > 0) nb += u[p - m]!;
            if (j < m - 1) nb += u[p + m]!;
            b[p] = (1 - 4 * s) * u[p]! + s * nb + dt * 32 * bump((i + 1) * h, (j + 1) * h, fx, fy, 0.125);
          }
        }
        const solved: { x: Float64Array | null } = { x: null };
        const x0 = u;
        yield {
          A, b, x0, context: kv, time: t, step: k,
          onSolved(x: FloatArray): void {
            if (x.length !== n) fail('E_SHAPE', 'x', `expected length ${n}, got ${x.length}`);
            solved.x = x instanceof Float64Array ? x.slice() : Float64Array.from(x);
          },
        };
        if (solved.x === null) fail('E_RANGE', `heatSequence step ${k}`, 'was not solved: pass its solution to instance.onSolved(x) before asking for the next step');
        u = solved.x;
      }
    },
  };
}

function identityStep(m: number, stencil: boolean): LinearOperator {
  const S = { kind: 'stencil' as const, shape: [m, m], coeffs: { kind: 'constant' as const, diag: 1, offdiag: [0, 0, 0, 0] } };
  return stencil ? S : identityCsr(m * m);
}

function identityCsr(n: number): LinearOperator {
  const rowPtr = new Int32Array(n + 1);
  const colIdx = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    rowPtr[i + 1] = i + 1;
    colIdx[i] = i;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx, values: new Float64Array(n).fill(1) };
}

function resolveKappa(k: unknown): (t: number) => number {
  if (k === undefined || k === 'code') return (t) => Math.max(0.1 * Math.sin(2 * Math.PI * t), -10 * Math.sin(2 * Math.PI * t));
  if (k === 'paper') return (t) => Math.max(0.01 * Math.sin(2 * Math.PI * t), -10 * Math.sin(2 * Math.PI * t));
  if (typeof k !== 'function') fail('E_DTYPE', 'options.kappa', `expected 'code', 'paper' or a function of t, got ${describe(k)}`);
  const f = k as (t: number) => number;
  return (t) => {
    const v = f(t);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail('E_RANGE', 'options.kappa', `κ(${t}) must be finite and ≥ 0, got ${describe(v)}`);
    return v;
  };
}
