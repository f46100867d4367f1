/**
 * Tsallis-INF-CB (docs/relax.md §4.2; paper Alg. 5, Thm 2.2/E.1/B.4; code `learners/TsallisINFCB.m`):
 * the context interval [c_min, c_max] is split into `bins` equal bins with centers
 * h_j = c_min + (C/m)(j − ½), and an independent anytime Tsallis-INF runs in each; a context goes to the
 * nearest center (contexts outside the interval are clamped first, §7). Each bin keeps its own round
 * counter (so its own η_t = 2/√t) and its own running-mean normalizer, exactly as m separate
 * `TsallisInf` learners would; they share one Philox stream, so the run is still one function of the seed.
 */
import { fail } from '../../core/errors.js';
import { checkIntegerInRange, describe } from '../../core/validate.js';
import { TsallisCore, checkEta, checkScale } from './tsallis-inf.js';
import {
  TunerBase, checkInterval, checkSeed, checkState, lossOf, makeGrid,
  type ContextInterval, type GridOption, type TunerChoice, type TunerState,
} from './tuner.js';

export interface TsallisInfCBOptions {
  grid?: GridOption;
  /** Declared context interval; contexts outside are clamped and counted. */
  context: ContextInterval;
  /** Number of context bins (default 5, as `scripts/contextual.m`; `h2d.m` uses 6). */
  bins?: number;
  eta?: 'anytime' | number;
  scale?: 'mean' | number;
  seed?: number | bigint;
}

export class TsallisInfCB extends TunerBase {
  readonly kind = 'tsallis-inf-cb';
  readonly bins: number;
  private readonly learners: TsallisCore[];
  private readonly options: { eta: 'anytime' | number; scale: number | null; bins: number; context: ContextInterval };

  constructor(options: TsallisInfCBOptions) {
    if (typeof options !== 'object' || options === null) fail('E_DTYPE', 'options', `expected an object, got ${describe(options)}`);
    const seed = checkSeed(options.seed);
    const interval = checkInterval(options.context);
    super(makeGrid(options.grid), seed, interval);
    const eta = checkEta(options.eta);
    const scale = checkScale(options.scale);
    this.bins = options.bins === undefined ? 5 : checkIntegerInRange(options.bins, 1, 10_000, 'options.bins');
    this.learners = Array.from({ length: this.bins }, () => new TsallisCore(this.grid.length, eta, scale));
    this.options = { eta, scale, bins: this.bins, context: interval };
  }

  /** Bin of a (clamped) context: the nearest of the centers c_min + (C/m)(j − ½). */
  binOf(context: number): number {
    const iv = this.interval!;
    const j = Math.floor(((context - iv.min) / (iv.max - iv.min)) * this.bins);
    return j < 0 ? 0 : j >= this.bins ? this.bins - 1 : j;
  }

  /** The distribution the next round would sample from at this context (a copy). */
  probabilities(context: number): Float64Array {
    const iv = this.interval!;
    return this.learners[this.binOf(Math.min(iv.max, Math.max(iv.min, context)))]!.probabilities().slice();
  }

  protected pick(context: number | undefined): { arm: number; p: number } {
    const p = this.learners[this.binOf(context!)]!.probabilities();
    const arm = this.rng.nextCategorical(p);
    return { arm, p: p[arm]! };
  }

  protected learn(choice: TunerChoice, iterations: number): void {
    this.learners[this.binOf(choice.context!)]!.learn(choice.arm, choice.p, lossOf(iterations));
  }

  protected stateFields(): Record<string, unknown> {
    return { options: { ...this.options }, learners: this.learners.map((l) => l.toJSON()) };
  }

  static fromJSON(state: TunerState | unknown): TsallisInfCB {
    const s = checkState(state, 'tsallis-inf-cb');
    const o = (s.options ?? {}) as Partial<TsallisInfCBOptions> & { scale?: number | null };
    const t = new TsallisInfCB({ grid: s.grid as number[], context: o.context!, bins: o.bins, eta: o.eta, scale: o.scale ?? undefined });
    t.restoreBase(s);
    if (!Array.isArray(s.learners) || s.learners.length !== t.bins) fail('E_SHAPE', 'state.learners', `expected ${t.bins} learners, got ${describe(s.learners)}`);
    s.learners.forEach((l, j) => t.learners[j]!.restore(l, `state.learners[${j}]`));
    return t;
  }
}
