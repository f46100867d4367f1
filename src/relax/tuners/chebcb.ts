/**
 * ChebCB (docs/relax.md §4.2; paper Alg. 3/7, Thm 3.2/C.4; code `learners/ChebCB.m`): SquareCB
 * with follow-the-leader Chebyshev regression. Per arm i the cost model is
 *   s_i(c) = ⟨θ_i, f(c)⟩,   f_j(c) = T_j(2(c − c_min)/C − 1),  j = 0..degree  (T_j(x) = cos(j arccos x)),
 * refitted by box-constrained least squares on that arm's past (context, iterations − 1) pairs.
 * Each round plays arm i* = argmin s_i(c_t) or another by inverse-gap weighting
 *   p_i = 1/(d + η (s_i − s_{i*})) for i ≠ i*,   p_{i*} = 1 − Σ_{i≠i*} p_i.
 *
 * Normalizations, box and step size follow the reference code's practical settings (§4.2):
 *   K = largest cost seen, L = (max cost − min cost)/C, N = 2 + 4 C (L/K)(1 + log m) (m = degree + 1
 *   features, as `ChebCB.m`), targets (iterations − 1)/(K N),
 *   box |θ_0| ≤ 1/N, |θ_j| ≤ 2 C L/(K N j),
 *   η_t = 2t √(d t / (R_t + 2 α² t)),  α = (π + (2/π) log(2m + 1)) C L / (2 K N (m + 1)),
 * where R_t is the cumulative squared error of the played arm's prediction, all in the current
 * normalization. The code also subtracts the residual of whichever arm `lsqlin` last refitted, an
 * artifact of its fallback path; we use R_t alone. The step size grows like O(t) (the paper's
 * "increasing schedule", after Simchi-Levi & Xu).
 *
 * Implementation: each arm keeps the sufficient statistics G = Σ f fᵀ and h = Σ f·loss in raw loss
 * units; since the targets and the box both scale by 1/(K N), fitting in raw units and dividing the
 * predictions by K N is the same estimator. The box-constrained fit is solved exactly by a primal
 * active-set method (`boxQP`) with a 1e-9 relative ridge standing in for `lsqminnorm`'s minimum-norm
 * choice when an arm has fewer observations than features. All arms are refitted when K or the cost
 * range changes (the box moves), otherwise only the played arm, as the code does.
 */
import { fail } from '../../core/errors.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../../core/validate.js';
import {
  TunerBase, checkInterval, checkSeed, checkState, lossOf, makeGrid, stateArray, unitContext,
  type ContextInterval, type GridOption, type TunerChoice, type TunerState,
} from './tuner.js';

export interface ChebCBOptions {
  grid?: GridOption;
  /** Declared context interval; contexts outside are clamped and counted. */
  context: ContextInterval;
  /** Highest Chebyshev degree (default 5: T_0..T_5, the code's m = 6 features). */
  degree?: number;
  seed?: number | bigint;
}

/** T_0(x) .. T_degree(x) by the three-term recurrence T_{j+1} = 2x T_j − T_{j−1}; x is clamped to [−1, 1]. */
export function chebyshevFeatures(x: number, degree: number, out: Float64Array = new Float64Array(degree + 1)): Float64Array {
  const t = x < -1 ? -1 : x > 1 ? 1 : x;
  out[0] = 1;
  if (degree >= 1) out[1] = t;
  for (let j = 2; j <= degree; j++) out[j] = 2 * t * out[j - 1]! - out[j - 2]!;
  return out;
}

/**
 * Exact minimizer of ½ θᵀGθ − hᵀθ subject to lo ≤ θ ≤ hi, G symmetric positive definite (n small).
 * Primal active-set method (Nocedal & Wright §16.5): hold the working set of bounds fixed, move
 * toward the minimizer over the free variables, stop at the first bound hit and add it; at a
 * subspace minimizer, release the bound whose multiplier has the wrong sign, or stop (KKT holds).
 * `x` is the starting point (clipped into the box) and receives the solution.
 */
export function boxQP(G: Float64Array, h: Float64Array, lo: Float64Array, hi: Float64Array, x: Float64Array): Float64Array {
  const n = h.length;
  const state = new Int8Array(n); // 0 free, −1 at lo, +1 at hi
  for (let i = 0; i < n; i++) {
    if (!(lo[i]! <= hi[i]!)) fail('E_RANGE', `lo[${i}]`, `bound ${lo[i]} exceeds hi ${hi[i]}`);
    x[i] = x[i]! < lo[i]! ? lo[i]! : x[i]! > hi[i]! ? hi[i]! : x[i]!;
    if (lo[i] === hi[i]) state[i] = -1;
  }
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(h[i]!), Math.abs(G[i * n + i]!) * Math.max(Math.abs(lo[i]!), Math.abs(hi[i]!)));
  const tol = 1e-12 * (scale || 1);
  const free = new Int32Array(n);
  const L = new Float64Array(n * n);
  const z = new Float64Array(n);
  const g = new Float64Array(n);
  for (let iter = 0; iter < 20 * n + 20; iter++) {
    let nf = 0;
    for (let i = 0; i < n; i++) if (state[i] === 0) free[nf++] = i;
    // Subspace minimizer: G_FF z = h_F − G_FW x_W, by Cholesky of G_FF.
    for (let a = 0; a < nf; a++) {
      const i = free[a]!;
      let r = h[i]!;
      for (let j = 0; j < n; j++) if (state[j] !== 0) r -= G[i * n + j]! * x[j]!;
      z[a] = r;
      for (let b = 0; b <= a; b++) {
        let s = G[i * n + free[b]!]!;
        for (let k = 0; k < b; k++) s -= L[a * n + k]! * L[b * n + k]!;
        if (a === b) {
          if (!(s > 0)) fail('E_RANGE', 'G', 'is not positive definite');
          L[a * n + a] = Math.sqrt(s);
        } else {
          L[a * n + b] = s / L[b * n + b]!;
        }
      }
    }
    for (let a = 0; a < nf; a++) {
      let s = z[a]!;
      for (let k = 0; k < a; k++) s -= L[a * n + k]! * z[k]!;
      z[a] = s / L[a * n + a]!;
    }
    for (let a = nf - 1; a >= 0; a--) {
      let s = z[a]!;
      for (let k = a + 1; k < nf; k++) s -= L[k * n + a]! * z[k]!;
      z[a] = s / L[a * n + a]!;
    }
    // Step toward it, stopping at the first bound in the way.
    let alpha = 1;
    let block = -1;
    let side = 0;
    for (let a = 0; a < nf; a++) {
      const i = free[a]!;
      const d = z[a]! - x[i]!;
      if (d < 0 && lo[i]! - x[i]! > alpha * d) {
        alpha = (lo[i]! - x[i]!) / d;
        block = i;
        side = -1;
      } else if (d > 0 && hi[i]! - x[i]! < alpha * d) {
        alpha = (hi[i]! - x[i]!) / d;
        block = i;
        side = 1;
      }
    }
    for (let a = 0; a < nf; a++) {
      const i = free[a]!;
      x[i] = x[i]! + alpha * (z[a]! - x[i]!);
    }
    if (block >= 0) {
      x[block] = side < 0 ? lo[block]! : hi[block]!;
      state[block] = side;
      continue;
    }
    // x minimizes over the free set: check the multipliers of the fixed bounds (g ≥ 0 at lo, ≤ 0 at hi).
    for (let i = 0; i < n; i++) {
      let s = -h[i]!;
      for (let j = 0; j < n; j++) s += G[i * n + j]! * x[j]!;
      g[i] = s;
    }
    let worst = -1;
    let viol = tol;
    for (let i = 0; i < n; i++) {
      if (state[i] === 0 || lo[i] === hi[i]) continue;
      const v = state[i]! < 0 ? -g[i]! : g[i]!;
      if (v > viol) {
        viol = v;
        worst = i;
      }
    }
    if (worst < 0) return x;
    state[worst] = 0;
  }
  return x;
}

/** Sufficient statistics and fit of one arm's regression, in raw loss units. */
class ArmModel {
  readonly G: Float64Array;
  readonly h: Float64Array;
  readonly theta: Float64Array;
  count = 0;

  constructor(readonly m: number) {
    this.G = new Float64Array(m * m);
    this.h = new Float64Array(m);
    this.theta = new Float64Array(m);
  }

  add(f: Float64Array, y: number): void {
    const m = this.m;
    for (let i = 0; i < m; i++) {
      this.h[i] = this.h[i]! + f[i]! * y;
      for (let j = 0; j < m; j++) this.G[i * m + j] = this.G[i * m + j]! + f[i]! * f[j]!;
    }
    this.count++;
  }

  fit(lo: Float64Array, hi: Float64Array, work: Float64Array): void {
    if (this.count === 0) return;
    const m = this.m;
    let trace = 0;
    for (let i = 0; i < m; i++) trace += this.G[i * m + i]!;
    const ridge = (1e-9 * trace) / m;
    work.set(this.G);
    for (let i = 0; i < m; i++) work[i * m + i] = work[i * m + i]! + ridge;
    boxQP(work, this.h, lo, hi, this.theta);
  }

  predict(f: Float64Array): number {
    let s = 0;
    for (let j = 0; j < this.m; j++) s += this.theta[j]! * f[j]!;
    return s;
  }
}

export class ChebCB extends TunerBase {
  readonly kind = 'chebcb';
  readonly degree: number;
  private readonly arms: ArmModel[];
  private readonly f: Float64Array;
  private readonly s: Float64Array;
  private readonly p: Float64Array;
  private readonly lo: Float64Array;
  private readonly hi: Float64Array;
  private readonly work: Float64Array;
  /** Largest and smallest raw cost (iterations) seen; null before the first. */
  private maxCost: number | null = null;
  private minCost: number | null = null;
  /** Σ (prediction − loss)² of the played arms, raw units. */
  private sqError = 0;
  private eta = 0;
  /** Raw-unit prediction of the pending arm, for R_t. */
  private pendingPrediction = 0;

  constructor(options: ChebCBOptions) {
    if (typeof options !== 'object' || options === null) fail('E_DTYPE', 'options', `expected an object, got ${describe(options)}`);
    const seed = checkSeed(options.seed);
    const interval = checkInterval(options.context);
    super(makeGrid(options.grid), seed, interval);
    this.degree = options.degree === undefined ? 5 : checkIntegerInRange(options.degree, 0, 12, 'options.degree');
    const m = this.degree + 1;
    this.arms = Array.from({ length: this.grid.length }, () => new ArmModel(m));
    this.f = new Float64Array(m);
    this.s = new Float64Array(this.grid.length);
    this.p = new Float64Array(this.grid.length);
    this.lo = new Float64Array(m);
    this.hi = new Float64Array(m);
    this.work = new Float64Array(m * m);
  }

  get context(): ContextInterval {
    return { ...this.interval! };
  }

  /** K·N: predictions and losses are divided by this before they enter p and η. */
  private normalization(): { K: number; N: number; L: number } {
    const C = this.interval!.max - this.interval!.min;
    const K = Math.max(this.maxCost ?? 1, 1);
    const L = this.maxCost === null ? 0 : (this.maxCost - this.minCost!) / C;
    const N = 2 + ((4 * C * L) / K) * (1 + Math.log(this.degree + 1));
    return { K, N, L };
  }

  /** Normalized predicted losses s_i(c) of every arm at a context (a copy). */
  predictions(context: number): Float64Array {
    const x = unitContext(checkFiniteNumber(context, 'context'), this.interval!);
    chebyshevFeatures(x, this.degree, this.f);
    const { K, N } = this.normalization();
    return Float64Array.from(this.arms, (a) => a.predict(this.f) / (K * N));
  }

  /** The inverse-gap-weighted distribution at a context (a copy). */
  probabilities(context: number): Float64Array {
    const c = checkFiniteNumber(context, 'context');
    this.distribution(Math.min(this.interval!.max, Math.max(this.interval!.min, c)));
    return this.p.slice();
  }

  /** Current step size η. */
  get stepSize(): number {
    return this.eta;
  }

  private distribution(context: number): number {
    chebyshevFeatures(unitContext(context, this.interval!), this.degree, this.f);
    const { K, N } = this.normalization();
    const d = this.grid.length;
    let best = 0;
    for (let i = 0; i < d; i++) {
      this.s[i] = this.arms[i]!.predict(this.f) / (K * N);
      if (this.s[i]! < this.s[best]!) best = i;
    }
    inverseGapWeights(this.s, best, this.eta, this.p);
    return best;
  }

  protected pick(context: number | undefined): { arm: number; p: number } {
    this.distribution(context!);
    const arm = this.rng.nextCategorical(this.p);
    this.pendingPrediction = this.arms[arm]!.predict(this.f);
    return { arm, p: this.p[arm]! };
  }

  protected learn(choice: TunerChoice, iterations: number): void {
    const loss = lossOf(iterations);
    const before = this.normalization();
    this.sqError += (this.pendingPrediction - loss) ** 2;
    this.maxCost = this.maxCost === null ? iterations : Math.max(this.maxCost, iterations);
    this.minCost = this.minCost === null ? iterations : Math.min(this.minCost, iterations);
    const { K, N, L } = this.normalization();
    const C = this.interval!.max - this.interval!.min;
    const m = this.degree + 1;
    // Box in raw units: |θ_0| ≤ K N/N = K, |θ_j| ≤ 2 C L/j (the code's bounds times its scale K N).
    this.lo[0] = -K;
    this.hi[0] = K;
    for (let j = 1; j < m; j++) {
      this.hi[j] = (2 * C * L) / j;
      this.lo[j] = -this.hi[j]!;
    }
    chebyshevFeatures(unitContext(choice.context!, this.interval!), this.degree, this.f);
    this.arms[choice.arm]!.add(this.f, loss);
    const rescaled = before.K !== K || before.L !== L;
    for (let i = 0; i < this.arms.length; i++) if (rescaled || i === choice.arm) this.arms[i]!.fit(this.lo, this.hi, this.work);
    const t = this.nRounds + 1;
    const alpha = ((Math.PI + (2 / Math.PI) * Math.log(2 * m + 1)) * C * L) / (2 * K * N * (m + 1));
    const denominator = this.sqError / (K * N) ** 2 + 2 * alpha * alpha * t;
    this.eta = denominator > 0 ? 2 * t * Math.sqrt((this.grid.length * t) / denominator) : Number.MAX_VALUE;
  }

  protected stateFields(): Record<string, unknown> {
    return {
      options: { context: { ...this.interval! }, degree: this.degree },
      arms: this.arms.map((a) => ({ G: Array.from(a.G), h: Array.from(a.h), theta: Array.from(a.theta), count: a.count })),
      maxCost: this.maxCost, minCost: this.minCost, sqError: this.sqError, eta: this.eta, pendingPrediction: this.pendingPrediction,
    };
  }

  static fromJSON(state: TunerState | unknown): ChebCB {
    const s = checkState(state, 'chebcb');
    const o = (s.options ?? {}) as Partial<ChebCBOptions>;
    const t = new ChebCB({ grid: s.grid as number[], context: o.context!, degree: o.degree });
    t.restoreBase(s);
    const m = t.degree + 1;
    if (!Array.isArray(s.arms) || s.arms.length !== t.grid.length) fail('E_SHAPE', 'state.arms', `expected ${t.grid.length} arms, got ${describe(s.arms)}`);
    s.arms.forEach((a: { G?: unknown; h?: unknown; theta?: unknown; count?: unknown }, i) => {
      const arm = t.arms[i]!;
      arm.G.set(stateArray(a?.G, m * m, `state.arms[${i}].G`));
      arm.h.set(stateArray(a?.h, m, `state.arms[${i}].h`));
      arm.theta.set(stateArray(a?.theta, m, `state.arms[${i}].theta`));
      arm.count = checkIntegerInRange(a?.count, 0, Number.MAX_SAFE_INTEGER, `state.arms[${i}].count`);
    });
    t.maxCost = s.maxCost === null ? null : checkFiniteNumber(s.maxCost, 'state.maxCost');
    t.minCost = s.minCost === null ? null : checkFiniteNumber(s.minCost, 'state.minCost');
    t.sqError = checkFiniteNumber(s.sqError, 'state.sqError');
    t.eta = checkFiniteNumber(s.eta, 'state.eta');
    t.pendingPrediction = checkFiniteNumber(s.pendingPrediction, 'state.pendingPrediction');
    return t;
  }
}

/**
 * SquareCB's inverse-gap weighting (Foster & Rakhlin; paper Alg. 3): p_i = 1/(d + η(s_i − s_best)) for
 * i ≠ best and the rest to `best`. Every p_i ≤ 1/d, so p_best ≥ 1/d; η = ∞ would be greedy.
 */
export function inverseGapWeights(s: ArrayLike<number>, best: number, eta: number, out: Float64Array = new Float64Array(s.length)): Float64Array {
  const d = s.length;
  const sb = s[best]!;
  let rest = 0;
  for (let i = 0; i < d; i++) {
    if (i === best) continue;
    const gap = s[i]! - sb;
    const denom = d + (gap > 0 ? eta * gap : 0);
    const p = Number.isFinite(denom) ? 1 / denom : 0;
    out[i] = p;
    rest += p;
  }
  out[best] = Math.max(0, 1 - rest);
  return out;
}
