/**
 * SurrogateTS: numkern's own contextual ω tuner (not from the paper). Thompson sampling on a smooth
 * Bayesian surrogate of the log iteration count over (ω, context), with a continuous ω.
 *
 * Why: ChebCB (chebcb.ts) fits every grid arm separately, so each of its 20 arms needs several
 * observations of its own before its regression means anything, and the early rounds pay for
 * exploring arms (ω = 1 at a hard context costs 20× the optimum) that neighbouring arms already show
 * to be bad. The cost of a relaxation solve is smooth in ω away from the optimum and the optimum
 * moves smoothly with the context (docs/relax.md §2, Lemma E.1), so one model over both lets every
 * solve inform all nearby ω, and a continuous ω removes the grid's own excess (§5.1: ≈ 3.5 % for 20 arms).
 *
 * Model. y = log(iterations) = log(1 + loss), whose noise is roughly multiplicative-constant and
 * whose range stays moderate even where a bad ω costs thousands of iterations. On ω knots
 * ω_1 < … < ω_K (uniform, spacing Δ) and Chebyshev features f_j(c) = T_j(x), x = 2(c − c_min)/C − 1
 * clamped (as ChebCB, §4.2 and §7),
 *   y(ω, c) ≈ Σ_j [(1 − a) θ_{i,j} + a θ_{i+1,j}] f_j(c),   ω = ω_i + aΔ,
 * i.e. piecewise linear in ω and polynomial of degree ≤ `degree` in the context. Prior: Gaussian,
 * with precision `smoothness`·(0.025/Δ)³ on every second difference θ_{i−1,j} − 2θ_{i,j} + θ_{i+1,j}
 * (a discretized ∫(∂²y/∂ω²)², so the smoothness does not depend on the knot count) plus a weak ridge
 * 1e-3 toward the running mean of y. The posterior precision Q = XᵀX + prior is banded (bandwidth
 * 2(degree + 1) with the context index fastest), so a refit is one band Cholesky.
 *
 * Each round: draw θ̃ = θ̂ + v σ L⁻ᵀ z (z standard normal, Q = L Lᵀ, v = `explore`, σ the running
 * RMS of one-step prediction errors in log space; consecutive rounds use the antithetic pair ±z, each an
 * exact posterior draw, at half the cost of two), minimize the sampled curve over the knots inside
 * the trust region, then refine to a continuous ω by the vertex of the parabola through the minimizing
 * knot and its neighbours (it moves at most Δ/2). The trust region is [lowest ω played − r, highest
 * ω played + r] (r = `trustRadius`); the first round plays the middle knot. It keeps Thompson sampling
 * from leaping to an edge of the range on an extrapolated draw before data says that side is good,
 * which on these problems is where the expensive exploration is.
 *
 * Cost. The factor is refreshed every round for the first 64, then every ⌈t/32⌉ rounds (batched
 * Thompson sampling; the sufficient statistics absorb every update at once, only the factor ages).
 * A round costs one band back-substitution and K(degree + 1) multiply-adds; a refit one band
 * Cholesky, O(K (degree + 1)³).
 *
 * The played arm is drawn implicitly (the probability of a Thompson draw has no closed form), so a
 * choice reports p = NaN; nothing here importance-weights.
 */
import { fail } from '../../core/errors.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../../core/validate.js';
import {
  TunerBase, checkInterval, checkSeed, checkState, makeGrid, stateArray, unitContext,
  type ContextInterval, type GridOption, type TunerChoice, type TunerState,
} from './tuner.js';
import { chebyshevFeatures } from './chebcb.js';

export interface SurrogateTSOptions {
  /** ω knots, uniformly spaced (default {min: 1, max: 1.95, arms: 25}: Δ ≈ 0.04). The played ω is continuous within [min, max]. */
  grid?: GridOption;
  /** Declared context interval; contexts outside are clamped and counted. Omit for a context-free tuner. */
  context?: ContextInterval;
  /** Chebyshev degree in the context (default 7; 0 without a context). */
  degree?: number;
  /** Prior precision of a second difference of log-iterations between knots 0.025 apart (default 30). */
  smoothness?: number;
  /** Scale of the Thompson draw relative to the posterior (default 0.35). */
  explore?: number;
  /** How far beyond the ω values played so far a round may go (default 0.05). */
  trustRadius?: number;
  seed?: number | bigint;
}

const DEFAULT_KNOTS = { min: 1, max: 1.95, arms: 25 };
/** Ridge toward the running mean of y: keeps Q definite before the data pin every direction down. */
const RIDGE = 1e-3;
/** Prior RMS prediction error (log space) before there is any, its floor, and the clip on one error. */
const SIGMA_START = 0.3;
const SIGMA_FLOOR = 0.02;
const ERROR_CLIP = 1;
/** Half-life, in rounds, of the running mean of squared prediction errors. */
const SIGMA_HALF_LIFE = 50;

export class SurrogateTS extends TunerBase {
  readonly kind = 'surrogate-ts';
  readonly degree: number;
  readonly smoothness: number;
  readonly explore: number;
  readonly trustRadius: number;
  private readonly K: number;
  private readonly m: number;
  private readonly D: number;
  private readonly bw: number;
  private readonly spacing: number;
  /** Lower band of XᵀX (row p holds entries (p, p − k), k = 0..bw) and Xᵀy. */
  private readonly XtX: Float64Array;
  private readonly Xty: Float64Array;
  /** Band Cholesky factor of Q and the posterior mean, both as of the last refit. */
  private readonly factor: Float64Array;
  /** The same factor stored by columns (entry (k, i), k ≥ i, at i·(bw + 1) + (k − i)), for contiguous L⁻ᵀ solves. */
  private readonly factorT: Float64Array;
  private readonly mean: Float64Array;
  private ySum = 0;
  private sigma2 = SIGMA_START * SIGMA_START;
  private nextRefit = 0;
  private playedMin = Infinity;
  private playedMax = -Infinity;
  private pendingPrediction = 0;
  private refitted = false;
  // Scratch, reused every round.
  private readonly f: Float64Array;
  private readonly u: Float64Array;
  private readonly words: Uint32Array;
  private readonly curve: Float64Array;
  private readonly rowIndex: Int32Array;
  private readonly rowValue: Float64Array;

  constructor(options: SurrogateTSOptions = {}) {
    if (typeof options !== 'object' || options === null) fail('E_DTYPE', 'options', `expected an object, got ${describe(options)}`);
    const seed = checkSeed(options.seed);
    const interval = options.context === undefined ? null : checkInterval(options.context);
    const grid = makeGrid(options.grid ?? DEFAULT_KNOTS);
    super(grid, seed, interval);
    if (grid.length < 2) fail('E_RANGE', 'options.grid', `needs at least 2 knots, got ${grid.length}`);
    this.spacing = (grid[grid.length - 1]! - grid[0]!) / (grid.length - 1);
    for (let i = 1; i < grid.length; i++) {
      if (Math.abs(grid[i]! - grid[i - 1]! - this.spacing) > 1e-9 * Math.max(1, this.spacing)) fail('E_RANGE', 'options.grid', 'knots must be uniformly spaced');
    }
    this.degree = interval === null ? 0 : options.degree === undefined ? 7 : checkIntegerInRange(options.degree, 0, 12, 'options.degree');
    if (interval === null && options.degree !== undefined && options.degree !== 0) fail('E_RANGE', 'options.degree', 'a context-free tuner has degree 0');
    this.smoothness = positive(options.smoothness, 30, 'options.smoothness');
    this.explore = nonNegative(options.explore, 0.35, 'options.explore');
    this.trustRadius = nonNegative(options.trustRadius, 0.05, 'options.trustRadius');
    this.K = grid.length;
    this.m = this.degree + 1;
    this.D = this.K * this.m;
    this.bw = 2 * this.m;
    const band = this.D * (this.bw + 1);
    this.XtX = new Float64Array(band);
    this.Xty = new Float64Array(this.D);
    this.factor = new Float64Array(band);
    this.factorT = new Float64Array(band);
    this.mean = new Float64Array(this.D);
    this.f = new Float64Array(this.m);
    this.u = new Float64Array(this.D);
    this.words = new Uint32Array(this.D + (this.D & 1));
    this.curve = new Float64Array(this.K);
    this.rowIndex = new Int32Array(2 * this.m);
    this.rowValue = new Float64Array(2 * this.m);
  }

  private features(context: number | undefined): Float64Array {
    if (this.interval === null) this.f[0] = 1;
    else chebyshevFeatures(unitContext(context!, this.interval), this.degree, this.f);
    return this.f;
  }

  /** Knot interval i and weight a with ω = ω_i + aΔ, for ω inside the knot range. */
  private locate(omega: number): { i: number; a: number } {
    const t = (omega - this.grid[0]!) / this.spacing;
    const i = Math.min(this.K - 2, Math.max(0, Math.floor(t)));
    return { i, a: Math.min(1, Math.max(0, t - i)) };
  }

  /** Value of a coefficient vector at knot i for the current features. */
  private at(theta: Float64Array, i: number): number {
    let s = 0;
    const base = i * this.m;
    for (let j = 0; j < this.m; j++) s += theta[base + j]! * this.f[j]!;
    return s;
  }

  /** Q = XᵀX + prior, its band Cholesky factor, and the posterior mean Q⁻¹(Xᵀy + ridge·prior mean). */
  private refit(): void {
    const { D, bw, m, K } = this;
    const W = bw + 1;
    const Q = this.factor;
    Q.set(this.XtX);
    const prior = this.nRounds > 0 ? this.ySum / this.nRounds : 0;
    const rhs = this.mean;
    rhs.set(this.Xty);
    for (let p = 0; p < D; p++) Q[p * W] = Q[p * W]! + RIDGE;
    for (let i = 0; i < K; i++) rhs[i * m] = rhs[i * m]! + RIDGE * prior;
    // Second differences across knots, coefficient by coefficient: rows (1, −2, 1) at offsets 0, m, 2m.
    const lam = this.smoothness * (0.025 / this.spacing) ** 3;
    for (let i = 1; i < K - 1; i++) {
      for (let j = 0; j < m; j++) {
        const a = (i - 1) * m + j;
        const b = i * m + j;
        const c = (i + 1) * m + j;
        Q[a * W] = Q[a * W]! + lam;
        Q[b * W] = Q[b * W]! + 4 * lam;
        Q[c * W] = Q[c * W]! + lam;
        Q[b * W + (b - a)] = Q[b * W + (b - a)]! - 2 * lam;
        Q[c * W + (c - b)] = Q[c * W + (c - b)]! - 2 * lam;
        Q[c * W + (c - a)] = Q[c * W + (c - a)]! + lam;
      }
    }
    bandCholesky(Q, D, bw);
    transposeBand(Q, D, bw, this.factorT);
    bandSolveLower(Q, D, bw, rhs);
    bandSolveUpperT(this.factorT, D, bw, rhs);
  }

  /** u = L⁻ᵀ z with z standard normal from the tuner's stream (Box–Muller, both halves). */
  private drawDeviation(): void {
    const n = this.D;
    const w = this.rng.fillU32(this.words);
    for (let k = 0; k + 1 < w.length; k += 2) {
      const r = Math.sqrt(-2 * Math.log((w[k]! + 0.5) / 4294967296));
      const phi = (2 * Math.PI * (w[k + 1]! + 0.5)) / 4294967296;
      this.u[k] = r * Math.cos(phi);
      if (k + 1 < n) this.u[k + 1] = r * Math.sin(phi);
    }
    bandSolveUpperT(this.factorT, n, this.bw, this.u);
  }

  protected pick(context: number | undefined): { arm: number; p: number; omega: number } {
    if (this.nRounds >= this.nextRefit) {
      this.refit();
      this.refitted = true;
      this.nextRefit = this.nRounds < 64 ? this.nRounds + 1 : this.nRounds + Math.ceil(this.nRounds / 32);
    }
    this.features(context);
    const { K, m } = this;
    let lo: number;
    let hi: number;
    if (this.nRounds === 0 || !Number.isFinite(this.playedMin)) {
      lo = hi = this.grid[(K - 1) >> 1]!;
    } else {
      lo = this.playedMin - this.trustRadius;
      hi = this.playedMax + this.trustRadius;
    }
    // Antithetic pairs: odd rounds reuse the previous round's deviation with the sign flipped; both are exact posterior draws.
    let sign = 1;
    if ((this.nRounds & 1) === 0 || this.refitted) {
      this.drawDeviation();
      this.refitted = false;
    } else {
      sign = -1;
    }
    const scale = sign * this.explore * Math.sqrt(this.sigma2);
    const slack = 1e-9 * this.spacing;
    let best = -1;
    for (let i = 0; i < K; i++) {
      let s = 0;
      const base = i * m;
      for (let j = 0; j < m; j++) s += (this.mean[base + j]! + scale * this.u[base + j]!) * this.f[j]!;
      this.curve[i] = s;
      const w = this.grid[i]!;
      if (w < lo - slack || w > hi + slack) continue;
      if (best < 0 || s < this.curve[best]!) best = i;
    }
    // The trust region always holds a knot: it is never narrower than the nearest knot to a played ω.
    if (best < 0) best = nearestKnot(this.grid, 0.5 * (lo + hi));
    let omega = this.grid[best]!;
    if (best > 0 && best < K - 1) {
      const l = this.curve[best - 1]!;
      const c = this.curve[best]!;
      const r = this.curve[best + 1]!;
      const curvature = l - 2 * c + r;
      if (curvature > 0) omega += Math.max(-0.5, Math.min(0.5, (0.5 * (l - r)) / curvature)) * this.spacing;
    }
    const { i, a } = this.locate(omega);
    this.pendingPrediction = (1 - a) * this.at(this.mean, i) + a * this.at(this.mean, i + 1);
    return { arm: best, p: Number.NaN, omega };
  }

  protected learn(choice: TunerChoice, iterations: number): void {
    const y = Math.log(Math.max(iterations, 1));
    const f = this.features(choice.context);
    const { i, a } = this.locate(choice.omega);
    const m = this.m;
    const W = this.bw + 1;
    // The observation's row of X: (1 − a) f on knot i, a f on knot i + 1; add x xᵀ (lower band) and x y.
    const idx = this.rowIndex;
    const val = this.rowValue;
    for (let j = 0; j < m; j++) {
      idx[j] = i * m + j;
      val[j] = (1 - a) * f[j]!;
      idx[m + j] = (i + 1) * m + j;
      val[m + j] = a * f[j]!;
    }
    for (let p = 0; p < 2 * m; p++) {
      const r = idx[p]!;
      const xr = val[p]!;
      this.Xty[r] = this.Xty[r]! + xr * y;
      // idx increases with p, so q ≤ p gives column ≤ row: the lower band.
      for (let q = 0; q <= p; q++) {
        const c = idx[q]!;
        this.XtX[r * W + (r - c)] = this.XtX[r * W + (r - c)]! + xr * val[q]!;
      }
    }
    if (this.nRounds > 0) {
      const e = Math.min(Math.abs(y - this.pendingPrediction), ERROR_CLIP);
      const g = 1 - 0.5 ** (1 / SIGMA_HALF_LIFE);
      this.sigma2 = Math.max((1 - g) * this.sigma2 + g * e * e, SIGMA_FLOOR * SIGMA_FLOOR);
    }
    this.ySum += y;
    this.playedMin = Math.min(this.playedMin, choice.omega);
    this.playedMax = Math.max(this.playedMax, choice.omega);
  }

  /** Posterior-mean prediction of log(iterations) at (ω, context), without exploration. */
  predictLogIterations(omega: number, context?: number): number {
    const w = checkFiniteNumber(omega, 'omega');
    let c = context;
    if (this.interval) c = Math.min(this.interval.max, Math.max(this.interval.min, checkFiniteNumber(context, 'context')));
    if (this.nextRefit === 0) this.refit();
    this.features(c);
    const { i, a } = this.locate(Math.min(this.grid[this.K - 1]!, Math.max(this.grid[0]!, w)));
    return (1 - a) * this.at(this.mean, i) + a * this.at(this.mean, i + 1);
  }

  protected stateFields(): Record<string, unknown> {
    return {
      options: {
        context: this.interval ? { ...this.interval } : null, degree: this.degree, smoothness: this.smoothness,
        explore: this.explore, trustRadius: this.trustRadius,
      },
      XtX: Array.from(this.XtX), Xty: Array.from(this.Xty), factor: Array.from(this.factor), mean: Array.from(this.mean),
      ySum: this.ySum, sigma2: this.sigma2, nextRefit: this.nextRefit,
      playedMin: Number.isFinite(this.playedMin) ? this.playedMin : null,
      playedMax: Number.isFinite(this.playedMax) ? this.playedMax : null,
      pendingPrediction: this.pendingPrediction, deviation: Array.from(this.u), refitted: this.refitted,
    };
  }

  static fromJSON(state: TunerState | unknown): SurrogateTS {
    const s = checkState(state, 'surrogate-ts');
    const o = (s.options ?? {}) as Partial<SurrogateTSOptions> & { context?: ContextInterval | null };
    const t = new SurrogateTS({
      grid: s.grid as number[], context: o.context ?? undefined, degree: o.degree, smoothness: o.smoothness,
      explore: o.explore, trustRadius: o.trustRadius,
    });
    t.restoreBase(s);
    const band = t.D * (t.bw + 1);
    t.XtX.set(stateArray(s.XtX, band, 'state.XtX'));
    t.Xty.set(stateArray(s.Xty, t.D, 'state.Xty'));
    t.factor.set(stateArray(s.factor, band, 'state.factor'));
    transposeBand(t.factor, t.D, t.bw, t.factorT);
    t.mean.set(stateArray(s.mean, t.D, 'state.mean'));
    t.ySum = checkFiniteNumber(s.ySum, 'state.ySum');
    t.sigma2 = checkFiniteNumber(s.sigma2, 'state.sigma2');
    t.nextRefit = checkIntegerInRange(s.nextRefit, 0, Number.MAX_SAFE_INTEGER, 'state.nextRefit');
    t.playedMin = s.playedMin === null ? Infinity : checkFiniteNumber(s.playedMin, 'state.playedMin');
    t.playedMax = s.playedMax === null ? -Infinity : checkFiniteNumber(s.playedMax, 'state.playedMax');
    t.pendingPrediction = checkFiniteNumber(s.pendingPrediction, 'state.pendingPrediction');
    t.u.set(stateArray(s.deviation, t.D, 'state.deviation'));
    t.refitted = s.refitted === true;
    return t;
  }
}

function positive(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const x = checkFiniteNumber(v, name);
  if (!(x > 0)) fail('E_RANGE', name, `must be > 0, got ${x}`);
  return x;
}

function nonNegative(v: unknown, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  const x = checkFiniteNumber(v, name);
  if (!(x >= 0)) fail('E_RANGE', name, `must be ≥ 0, got ${x}`);
  return x;
}

function nearestKnot(grid: Float64Array, w: number): number {
  let best = 0;
  for (let i = 1; i < grid.length; i++) if (Math.abs(grid[i]! - w) < Math.abs(grid[best]! - w)) best = i;
  return best;
}

// Band storage: row p holds the lower band entries (p, p − k) at p·(bw + 1) + k, k = 0..bw.

/** In-place Cholesky Q = L Lᵀ of a symmetric positive definite band matrix. */
export function bandCholesky(Q: Float64Array, n: number, bw: number): void {
  const W = bw + 1;
  for (let i = 0; i < n; i++) {
    const first = Math.max(0, i - bw);
    for (let j = first; j <= i; j++) {
      let s = Q[i * W + (i - j)]!;
      for (let k = Math.max(first, j - bw); k < j; k++) s -= Q[i * W + (i - k)]! * Q[j * W + (j - k)]!;
      if (i === j) {
        if (!(s > 0)) fail('E_RANGE', 'Q', `is not positive definite (pivot ${i} is ${s})`);
        Q[i * W] = Math.sqrt(s);
      } else {
        Q[i * W + (i - j)] = s / Q[j * W]!;
      }
    }
  }
}

/** x ← L⁻¹ x. */
export function bandSolveLower(L: Float64Array, n: number, bw: number, x: Float64Array): void {
  const W = bw + 1;
  for (let i = 0; i < n; i++) {
    let s = x[i]!;
    for (let k = Math.max(0, i - bw); k < i; k++) s -= L[i * W + (i - k)]! * x[k]!;
    x[i] = s / L[i * W]!;
  }
}

/** The column-wise copy of a lower band: out[i·(bw + 1) + (k − i)] = L(k, i). */
export function transposeBand(L: Float64Array, n: number, bw: number, out: Float64Array): void {
  const W = bw + 1;
  out.fill(0);
  for (let k = 0; k < n; k++) for (let d = 0; d <= bw && d <= k; d++) out[(k - d) * W + d] = L[k * W + d]!;
}

/** x ← L⁻ᵀ x with L given column-wise (transposeBand): the inner loop runs over contiguous memory. */
export function bandSolveUpperT(U: Float64Array, n: number, bw: number, x: Float64Array): void {
  const W = bw + 1;
  for (let i = n - 1; i >= 0; i--) {
    const row = i * W;
    let s = x[i]!;
    const last = Math.min(n - 1 - i, bw);
    for (let d = 1; d <= last; d++) s -= U[row + d]! * x[i + d]!;
    x[i] = s / U[row]!;
  }
}

/** x ← L⁻ᵀ x. */
export function bandSolveUpper(L: Float64Array, n: number, bw: number, x: Float64Array): void {
  const W = bw + 1;
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i]!;
    const last = Math.min(n - 1, i + bw);
    for (let k = i + 1; k <= last; k++) s -= L[k * W + (k - i)]! * x[k]!;
    x[i] = s / L[i * W]!;
  }
}
