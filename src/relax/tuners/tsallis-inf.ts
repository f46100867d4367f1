/**
 * Tsallis-INF over a grid of ω (docs/relax.md §4.1; paper Alg. 2/4, Thm 2.1, App. B): the
 * ½-Tsallis-entropy FTRL bandit of Zimmert & Seldin, with importance-weighted loss estimates.
 *
 * Each round:
 *   p = argmin_{p ∈ simplex} ⟨L, p⟩ − (4/η) Σ √p_i,   L = (cumulative importance-weighted loss) / scale,
 * whose solution is p_i = 4 / (η (L_i − x))² with the scalar x < min L chosen so that Σ p_i = 1.
 * Then i ~ p, play ω = grid[i], and add (iterations − 1)/p_i to arm i's cumulative loss.
 *
 * Differences from the authors' MATLAB (`learners/TsallisINF.m`), all as docs/relax.md §7 asks:
 *  - x is found exactly, by Newton's method safeguarded with bisection on the bracket
 *    [min L − 2√d/η, min L − 2/η] until |Σp − 1| ≤ 1e-12, instead of 20 unguarded steps from x = −1;
 *  - p is renormalized afterwards and the *normalized* p_i is both the sampling law and the
 *    importance weight (the code divides by the raw Newton weight);
 *  - no silent fallback to uniform sampling: the exact normalizer cannot produce NaN weights.
 *
 * Normalization (documented choice): by default `scale: 'mean'`, the reference code's running mean of
 * all losses observed so far (§4.1 practical settings; 1 before the first loss), which adapts to a
 * problem whose cost range is unknown. `scale: K` with a fixed K ≥ max loss is the theory's
 * normalization (Thm 2.1 / B.2); with it and η_t = 2/√t the expected regret against the best arm
 * is at most 4K√(dT) + 1 (App. B, Thm B.2).
 */
import { fail } from '../../core/errors.js';
import { checkFiniteNumber, describe } from '../../core/validate.js';
import {
  TunerBase, RunningScale, checkSeed, checkState, lossOf, makeGrid, stateArray,
  type GridOption, type TunerChoice, type TunerState,
} from './tuner.js';

export interface TsallisInfOptions {
  /** ω grid (default {min: 1, max: 1.95, arms: 20}). */
  grid?: GridOption;
  /** 'anytime' (default): η_t = 2/√t (App. B, used in every experiment); a number: fixed η (Thm 2.1 takes 1/√T). */
  eta?: 'anytime' | number;
  /** 'mean' (default): divide losses by their running mean; a number K: fixed normalization (the theory's K). */
  scale?: 'mean' | number;
  seed?: number | bigint;
}

/** |Σp − 1| the normalizer is solved to before renormalizing (docs/relax.md §7). */
export const TSALLIS_TOLERANCE = 1e-12;

/**
 * The Tsallis-INF distribution for normalized cumulative losses L and learning rate η:
 * p_i = 4/(η(L_i − x))², Σp = 1, x < min L. Newton on f(x) = Σ 4/(η(L_i − x))² − 1 (convex and
 * increasing on x < min L, with f' = η Σ p_i^{3/2}) started from the right end of the bracket, where
 * f ≥ 0, converges monotonically; bisection guards against any step that leaves the bracket.
 * The result is renormalized so it sums to 1 to rounding.
 */
export function tsallisProbabilities(L: ArrayLike<number>, eta: number, out: Float64Array = new Float64Array(L.length)): Float64Array {
  const d = L.length;
  if (d < 1) fail('E_SHAPE', 'L', 'expected at least one arm');
  if (!(eta > 0) || !Number.isFinite(eta)) fail('E_RANGE', 'eta', `must be finite and > 0, got ${eta}`);
  let m = Infinity;
  for (let i = 0; i < d; i++) {
    const v = L[i]!;
    if (!Number.isFinite(v)) fail('E_NONFINITE', `L[${i}]`, `cumulative loss is ${v}`);
    if (v < m) m = v;
  }
  // At x = m − 2/η the best arm alone has p = 1 (f ≥ 0); at m − 2√d/η every p_i ≤ 1/d (f ≤ 0).
  let lo = m - (2 * Math.sqrt(d)) / eta;
  let hi = m - 2 / eta;
  let x = hi;
  let sum = 0;
  for (let iter = 0; iter < 200; iter++) {
    sum = 0;
    let slope = 0;
    for (let i = 0; i < d; i++) {
      const g = eta * (L[i]! - x);
      const p = 4 / (g * g);
      out[i] = p;
      sum += p;
      slope += p * Math.sqrt(p);
    }
    const f = sum - 1;
    if (Math.abs(f) <= TSALLIS_TOLERANCE) break;
    if (f > 0) hi = x;
    else lo = x;
    let next = x - f / (eta * slope);
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    // The bracket has shrunk to adjacent doubles: x is as exact as f64 allows.
    if (next === x || hi - lo <= 4 * Number.EPSILON * Math.max(1, Math.abs(x))) break;
    x = next;
  }
  for (let i = 0; i < d; i++) out[i] = out[i]! / sum;
  return out;
}

/** Losses, round counter and normalizer of one Tsallis-INF learner (shared with TsallisInfCB's per-bin learners). */
export class TsallisCore {
  /** Cumulative importance-weighted raw losses Σ (iterations − 1)/p, per arm. */
  readonly k: Float64Array;
  /** Rounds this learner has been updated in. */
  t = 0;
  readonly scale = new RunningScale();
  private readonly L: Float64Array;
  private readonly p: Float64Array;

  constructor(d: number, private readonly eta: 'anytime' | number, private readonly fixedScale: number | null) {
    this.k = new Float64Array(d);
    this.L = new Float64Array(d);
    this.p = new Float64Array(d);
  }

  /** η for the coming round t + 1: 2/√(t+1) (anytime) or the fixed value. */
  currentEta(): number {
    return this.eta === 'anytime' ? 2 / Math.sqrt(this.t + 1) : this.eta;
  }

  normalizer(): number {
    return this.fixedScale ?? this.scale.value;
  }

  /** The distribution for the coming round (a view, valid until the next call). */
  probabilities(): Float64Array {
    const s = this.normalizer();
    for (let i = 0; i < this.k.length; i++) this.L[i] = this.k[i]! / s;
    return tsallisProbabilities(this.L, this.currentEta(), this.p);
  }

  learn(arm: number, p: number, loss: number): void {
    this.scale.add(loss);
    this.k[arm] = this.k[arm]! + loss / p;
    this.t++;
  }

  toJSON(): Record<string, unknown> {
    return { k: Array.from(this.k), t: this.t, scaleSum: this.scale.sum, scaleCount: this.scale.count };
  }

  restore(s: unknown, name: string): void {
    if (typeof s !== 'object' || s === null) fail('E_DTYPE', name, `expected a learner state, got ${describe(s)}`);
    const o = s as Record<string, unknown>;
    this.k.set(stateArray(o.k, this.k.length, `${name}.k`));
    this.t = checkNonNegativeInteger(o.t, `${name}.t`);
    this.scale.sum = checkFiniteNumber(o.scaleSum, `${name}.scaleSum`);
    this.scale.count = checkNonNegativeInteger(o.scaleCount, `${name}.scaleCount`);
  }
}

function checkNonNegativeInteger(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail('E_RANGE', name, `expected a non-negative integer, got ${describe(v)}`);
  return v;
}

export function checkEta(eta: unknown, name = 'options.eta'): 'anytime' | number {
  if (eta === undefined || eta === 'anytime') return 'anytime';
  const v = checkFiniteNumber(eta, name);
  if (!(v > 0)) fail('E_RANGE', name, `must be 'anytime' or a number > 0, got ${v}`);
  return v;
}

export function checkScale(scale: unknown, name = 'options.scale'): number | null {
  if (scale === undefined || scale === 'mean') return null;
  const v = checkFiniteNumber(scale, name);
  if (!(v > 0)) fail('E_RANGE', name, `must be 'mean' or a number > 0, got ${v}`);
  return v;
}

export class TsallisInf extends TunerBase {
  readonly kind = 'tsallis-inf';
  private readonly core: TsallisCore;
  private readonly options: { eta: 'anytime' | number; scale: number | null; seed: string };

  constructor(options: TsallisInfOptions = {}) {
    if (typeof options !== 'object' || options === null) fail('E_DTYPE', 'options', `expected an object, got ${describe(options)}`);
    const seed = checkSeed(options.seed);
    super(makeGrid(options.grid), seed, null);
    const eta = checkEta(options.eta);
    const scale = checkScale(options.scale);
    this.core = new TsallisCore(this.grid.length, eta, scale);
    this.options = { eta, scale, seed: String(seed) };
  }

  /** The sampling distribution of the next round (a copy). */
  probabilities(): Float64Array {
    return this.core.probabilities().slice();
  }

  protected pick(): { arm: number; p: number } {
    const p = this.core.probabilities();
    const arm = this.rng.nextCategorical(p);
    return { arm, p: p[arm]! };
  }

  protected learn(choice: TunerChoice, iterations: number): void {
    this.core.learn(choice.arm, choice.p, lossOf(iterations));
  }

  protected stateFields(): Record<string, unknown> {
    return { options: { ...this.options }, learner: this.core.toJSON() };
  }

  static fromJSON(state: TunerState | unknown): TsallisInf {
    const s = checkState(state, 'tsallis-inf');
    const o = (s.options ?? {}) as { eta?: unknown; scale?: unknown };
    const t = new TsallisInf({ grid: s.grid as number[], eta: o.eta as number | 'anytime', scale: (o.scale ?? undefined) as number | undefined });
    t.restoreBase(s);
    t.core.restore(s.learner, 'state.learner');
    return t;
  }
}
