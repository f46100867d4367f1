/**
 * SPO, Single-stream Policy Optimization (Xu & Ding, arXiv 2509.13232; verl recipe/spo at
 * 4b2b36432e8f, spo_ray_trainer.py): a per-prompt Beta(α, β) success tracker replaces the group
 * baseline, so one response per prompt suffices. Reference §3.1; docs/pg-advantages.md §4.
 *
 * The tracker is host state that must survive a trainer restart: toJSON() / fromJSON() carry every
 * number exactly (JSON writes the shortest representation that reads back to the same double), so a
 * restored tracker produces bit-identical advantages, weights and updates.
 */
import { fail } from '../core/errors.js';
import { describe } from '../core/validate.js';
import {
  allocOutput, ensureFinite, readBool, readChoice, readInt, readNumber, readOptions, readScalars,
  type OutputOf, type ScalarArray,
} from './groups.js';

export type PromptId = string | number;

export interface SpoTrackerOptions {
  /** 'adaptive' (default): ρ = clamp(2^(−D/halfLife), rhoMin, rhoMax); 'constant': ρ = rhoConstant. */
  rho?: 'adaptive' | 'constant';
  /** clip_lower in the recipe's config (0.875); also sets the offline prior's weight N_init = 1/(1 − rhoMin). */
  rhoMin?: number;
  /** Hard-coded 0.96 in the recipe: the discount of a prompt whose policy did not move (D = 0). */
  rhoMax?: number;
  rhoConstant?: number;
  /** D_half, hard-coded 0.06 in the recipe: the divergence at which ρ halves before clamping. */
  halfLife?: number;
  /** Beta prior of a prompt without offline data (0.5, 0.5). */
  priorAlpha?: number;
  priorBeta?: number;
  /** Added to sqrt(p̂(1 − p̂)) in the prioritized-sampling weight (0.05). */
  samplingFloor?: number;
}

export interface SpoPromptState {
  readonly alpha: number;
  readonly beta: number;
  /** Number of updates folded in (0: never trained on, so its divergence is taken as 0). */
  readonly updates: number;
}

export interface SpoTrackerState {
  readonly kind: 'spo-tracker';
  readonly version: 1;
  readonly options: Required<SpoTrackerOptions>;
  /** [promptId, alpha, beta, updates] in insertion order. */
  readonly prompts: readonly (readonly [PromptId, number, number, number])[];
}

export interface SpoAdvantageOptions {
  /** Batch-normalize (a − mean)/(std + eps) with the unbiased std, as the recipe does (default true). */
  normalize?: boolean;
  eps?: number;
}

export interface SpoAdvantages<A> {
  /** Per sample; broadcast it over the response's tokens. */
  advantages: A;
  /** p̂ of each sample's prompt, read before any update. */
  baseline: Float64Array;
}

const DEFAULTS: Required<SpoTrackerOptions> = {
  rho: 'adaptive', rhoMin: 0.875, rhoMax: 0.96, rhoConstant: 0.875, halfLife: 0.06, priorAlpha: 0.5, priorBeta: 0.5, samplingFloor: 0.05,
};

function readTrackerOptions(o: unknown, name: string): Required<SpoTrackerOptions> {
  const opts = readOptions<SpoTrackerOptions>(o, name);
  for (const key of Object.keys(opts)) {
    if (!(key in DEFAULTS)) fail('E_RANGE', `${name}.${key}`, 'is not an SpoTracker option');
  }
  const rhoMin = readNumber(opts.rhoMin, DEFAULTS.rhoMin, `${name}.rhoMin`, { lo: 0, hi: 1, loOpen: true, hiOpen: true });
  const rhoMax = readNumber(opts.rhoMax, DEFAULTS.rhoMax, `${name}.rhoMax`, { lo: 0, hi: 1, loOpen: true });
  if (rhoMax < rhoMin) fail('E_RANGE', `${name}.rhoMax`, `must be ≥ rhoMin = ${rhoMin}, got ${rhoMax}`);
  return {
    rho: readChoice(opts.rho, ['adaptive', 'constant'] as const, DEFAULTS.rho, `${name}.rho`),
    rhoMin,
    rhoMax,
    rhoConstant: readNumber(opts.rhoConstant, DEFAULTS.rhoConstant, `${name}.rhoConstant`, { lo: 0, hi: 1, loOpen: true }),
    halfLife: readNumber(opts.halfLife, DEFAULTS.halfLife, `${name}.halfLife`, { lo: 0, loOpen: true }),
    priorAlpha: readNumber(opts.priorAlpha, DEFAULTS.priorAlpha, `${name}.priorAlpha`, { lo: 0, loOpen: true }),
    priorBeta: readNumber(opts.priorBeta, DEFAULTS.priorBeta, `${name}.priorBeta`, { lo: 0, loOpen: true }),
    samplingFloor: readNumber(opts.samplingFloor, DEFAULTS.samplingFloor, `${name}.samplingFloor`, { lo: 0 }),
  };
}

/** Prompt ids: strings or finite numbers (1 and '1' are different prompts). */
function readPromptIds(x: unknown, name: string, n?: number): PromptId[] {
  if (!Array.isArray(x) && !(x instanceof Int32Array)) fail('E_DTYPE', name, `expected an array of prompt ids (string | number) or an Int32Array, got ${describe(x)}`);
  const src = x as ArrayLike<unknown>;
  if (n !== undefined && src.length !== n) fail('E_SHAPE', name, `expected length ${n}, got ${src.length}`);
  const out: PromptId[] = new Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (typeof v === 'string') out[i] = v;
    else if (typeof v === 'number' && Number.isFinite(v)) out[i] = v === 0 ? 0 : v; // −0 and 0 are one Map key already; keep JSON faithful
    else fail('E_DTYPE', `${name}[${i}]`, `expected a string or a finite number, got ${describe(v)}`);
  }
  return out;
}

interface MutableState { alpha: number; beta: number; updates: number }

export class SpoTracker {
  readonly options: Readonly<Required<SpoTrackerOptions>>;
  private readonly prompts = new Map<PromptId, MutableState>();

  constructor(options?: SpoTrackerOptions) {
    this.options = Object.freeze(readTrackerOptions(options, 'options'));
  }

  /** Prompts with a state (offline-initialized or updated). */
  get size(): number {
    return this.prompts.size;
  }

  /** A prompt's state, or undefined when it has none (it then reads as the prior). */
  state(promptId: PromptId): SpoPromptState | undefined {
    const s = this.prompts.get(readPromptIds([promptId], 'promptId')[0]!);
    return s === undefined ? undefined : { ...s };
  }

  /** ρ for a divergence D ≥ 0 (reference §3.1). */
  discount(divergence: number): number {
    const D = readNumber(divergence, undefined, 'divergence', { lo: 0 });
    return this.rho(D);
  }

  private rho(D: number): number {
    const o = this.options;
    if (o.rho === 'constant') return o.rhoConstant;
    return Math.min(Math.max(2 ** (-D / o.halfLife), o.rhoMin), o.rhoMax);
  }

  private mean(id: PromptId): number {
    const s = this.prompts.get(id);
    const a = s?.alpha ?? this.options.priorAlpha;
    const b = s?.beta ?? this.options.priorBeta;
    return a / (a + b);
  }

  /** p̂ = α/(α + β) per sample (the prior mean for prompts without a state). */
  baseline(promptIds: readonly PromptId[] | Int32Array): Float64Array {
    const ids = readPromptIds(promptIds, 'promptIds');
    return Float64Array.from(ids, (id) => this.mean(id));
  }

  /**
   * a_i = r_i − p̂(x_i), read before this batch's update, then batch-normalized (reference §3.1 step 3).
   * One sample normalizes to 0 (a − mean(a) = 0). Does not change the tracker.
   */
  advantages<T extends ScalarArray>(promptIds: readonly PromptId[] | Int32Array, rewards: T, options?: SpoAdvantageOptions): SpoAdvantages<OutputOf<T>> {
    const r = readScalars(rewards, 'rewards');
    const ids = readPromptIds(promptIds, 'promptIds', r.length);
    const opts = readOptions<SpoAdvantageOptions>(options, 'options');
    const normalize = readBool(opts.normalize, true, 'options.normalize');
    const eps = readNumber(opts.eps, 1e-8, 'options.eps', { lo: 0 });
    if (r.length === 0) fail('E_SHAPE', 'rewards', 'is empty');
    const baseline = Float64Array.from(ids, (id) => this.mean(id));
    const a = new Float64Array(r.length);
    for (let i = 0; i < r.length; i++) a[i] = r[i]! - baseline[i]!;
    if (normalize) batchNormalize(a, eps);
    const out = allocOutput(rewards, r.length);
    out.set(a);
    ensureFinite(out, 'rewards');
    return { advantages: out, baseline };
  }

  /**
   * Folds a batch in: α ← ρ·α + r, β ← ρ·β + (1 − r), in batch order (a prompt seen twice is
   * discounted twice). `divergence[i]` is D for sample i's prompt: the mean |Δ log p| of the response
   * last stored for it, re-scored by the current policy (spoDivergence); required with rho 'adaptive'
   * and ignored for a prompt never updated before, whose D is 0 (ρ = rhoMax) as in the recipe.
   * Rewards must lie in [0, 1] (the recipe's are binary).
   */
  update(promptIds: readonly PromptId[] | Int32Array, rewards: ScalarArray, options?: { divergence?: ScalarArray }): void {
    const r = readScalars(rewards, 'rewards');
    const ids = readPromptIds(promptIds, 'promptIds', r.length);
    const opts = readOptions<{ divergence?: ScalarArray }>(options, 'options');
    for (const key of Object.keys(opts)) if (key !== 'divergence') fail('E_RANGE', `options.${key}`, 'is not an update option');
    for (let i = 0; i < r.length; i++) {
      if (!(r[i]! >= 0 && r[i]! <= 1)) fail('E_RANGE', 'rewards', `element ${i} is ${r[i]}; SPO rewards lie in [0, 1]`);
    }
    let D: Float64Array | null = null;
    if (opts.divergence !== undefined) {
      D = readScalars(opts.divergence, 'options.divergence', r.length);
      for (let i = 0; i < D.length; i++) if (D[i]! < 0) fail('E_RANGE', 'options.divergence', `element ${i} is ${D[i]}; a divergence is ≥ 0`);
    } else if (this.options.rho === 'adaptive') {
      fail('E_SHAPE', 'options.divergence', "is required with rho 'adaptive' (one D per sample; its value is ignored for prompts never updated)");
    }
    for (let i = 0; i < r.length; i++) {
      let s = this.prompts.get(ids[i]!);
      if (s === undefined) {
        s = { alpha: this.options.priorAlpha, beta: this.options.priorBeta, updates: 0 };
        this.prompts.set(ids[i]!, s);
      }
      const rho = this.rho(s.updates === 0 || D === null ? 0 : D[i]!);
      s.alpha = rho * s.alpha + r[i]!;
      s.beta = rho * s.beta + (1 - r[i]!);
      s.updates++;
    }
  }

  /**
   * Offline initialization from n0 samples with s successes (reference §3.1): N_init = 1/(1 − rhoMin),
   * α0 = N_init·(s + 0.5)/(n0 + 1), β0 = N_init·(n0 − s + 0.5)/(n0 + 1). Replaces any state of those prompts.
   */
  initializeOffline(promptIds: readonly PromptId[] | Int32Array, successes: ScalarArray, trials: number | ScalarArray = 8): void {
    const s = readScalars(successes, 'successes');
    const ids = readPromptIds(promptIds, 'promptIds', s.length);
    const n0 = typeof trials === 'number'
      ? new Float64Array(s.length).fill(readInt(trials, undefined, 'trials', 0, 2 ** 31 - 1))
      : readScalars(trials, 'trials', s.length);
    for (let i = 0; i < s.length; i++) {
      if (!Number.isInteger(n0[i]!) || n0[i]! < 0) fail('E_RANGE', 'trials', `element ${i} is ${n0[i]}; expected a non-negative integer`);
      if (!Number.isInteger(s[i]!) || s[i]! < 0 || s[i]! > n0[i]!) fail('E_RANGE', 'successes', `element ${i} is ${s[i]}; expected an integer in [0, ${n0[i]}]`);
    }
    const nInit = 1 / (1 - this.options.rhoMin);
    for (let i = 0; i < s.length; i++) {
      this.prompts.set(ids[i]!, {
        alpha: nInit * (s[i]! + 0.5) / (n0[i]! + 1),
        beta: nInit * (n0[i]! - s[i]! + 0.5) / (n0[i]! + 1),
        updates: 0,
      });
    }
  }

  /** Prioritized-sampling weights w = sqrt(p̂(1 − p̂)) + samplingFloor; sample prompts with probability ∝ w. */
  samplingWeights(promptIds: readonly PromptId[] | Int32Array): Float64Array {
    const ids = readPromptIds(promptIds, 'promptIds');
    return Float64Array.from(ids, (id) => {
      const p = this.mean(id);
      return Math.sqrt(p * (1 - p)) + this.options.samplingFloor;
    });
  }

  toJSON(): SpoTrackerState {
    const prompts: [PromptId, number, number, number][] = [];
    for (const [id, s] of this.prompts) prompts.push([id, s.alpha, s.beta, s.updates]);
    return { kind: 'spo-tracker', version: 1, options: { ...this.options }, prompts };
  }

  /** Rebuilds a tracker from toJSON() (or its JSON text parsed); it continues exactly where it stopped. */
  static fromJSON(state: unknown): SpoTracker {
    if (typeof state !== 'object' || state === null) fail('E_DTYPE', 'state', `expected an SpoTracker state object, got ${describe(state)}`);
    const s = state as Partial<SpoTrackerState>;
    if (s.kind !== 'spo-tracker') fail('E_RANGE', 'state.kind', `expected 'spo-tracker', got ${describe(s.kind)}`);
    if (s.version !== 1) fail('E_RANGE', 'state.version', `unsupported state version ${describe(s.version)}`);
    const t = new SpoTracker(readTrackerOptions(s.options, 'state.options'));
    if (!Array.isArray(s.prompts)) fail('E_DTYPE', 'state.prompts', `expected an array, got ${describe(s.prompts)}`);
    s.prompts.forEach((entry: unknown, i: number) => {
      const name = `state.prompts[${i}]`;
      if (!Array.isArray(entry) || entry.length !== 4) fail('E_DTYPE', name, `expected [promptId, alpha, beta, updates], got ${describe(entry)}`);
      const id = readPromptIds([entry[0]], `${name}[0]`)[0]!;
      const alpha = readNumber(entry[1], undefined, `${name}[1]`, { lo: 0, loOpen: true });
      const beta = readNumber(entry[2], undefined, `${name}[2]`, { lo: 0, loOpen: true });
      const updates = readInt(entry[3], undefined, `${name}[3]`, 0, Number.MAX_SAFE_INTEGER);
      if (t.prompts.has(id)) fail('E_RANGE', `${name}[0]`, `prompt ${describe(id)} appears twice`);
      t.prompts.set(id, { alpha, beta, updates });
    });
    return t;
  }
}

/** (a − mean)/(std + eps) in place, two-pass, unbiased std (0 for one value). */
export function batchNormalize(a: Float64Array, eps: number): void {
  const n = a.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i]!;
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - mean;
    m2 += d * d;
  }
  const div = (n > 1 ? Math.sqrt(m2 / (n - 1)) : 0) + eps;
  for (let i = 0; i < n; i++) {
    const d = a[i]! - mean;
    // eps = 0 on a constant batch: 0, not 0/0.
    a[i] = div === 0 ? 0 : d / div;
  }
}

/**
 * The recipe's D_x: mean over the (masked) tokens of |stored − current|, the log-probs of the response
 * last stored for a prompt under the policy that generated it and under the current one. 0 for no tokens.
 */
export function spoDivergence(stored: ScalarArray, current: ScalarArray, mask?: Uint8Array | null): number {
  const a = readScalars(stored, 'stored');
  const b = readScalars(current, 'current', a.length);
  if (mask !== undefined && mask !== null) {
    if (!(mask instanceof Uint8Array)) fail('E_DTYPE', 'mask', `expected a Uint8Array or null, got ${describe(mask)}`);
    if (mask.length !== a.length) fail('E_SHAPE', 'mask', `expected length ${a.length}, got ${mask.length}`);
  }
  let sum = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (mask && mask[i] === 0) continue;
    sum += Math.abs(a[i]! - b[i]!);
    n++;
  }
  return n === 0 ? 0 : sum / n;
}
