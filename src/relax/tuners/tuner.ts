/**
 * The ω-tuner contract shared by every online learner and fixed policy (docs/relax.md §4), plus
 * the pieces they have in common: the ω grid, the context interval, feedback checks, the loss
 * convention and JSON state.
 *
 * One round is `choose(context?)` → solve with `choice.omega` → `update(choice, iterations)`.
 * The learners see the loss `iterations − 1` (paper Alg. 2; §1.1), never the raw count.
 * Every random draw comes from one Philox stream keyed by the tuner's seed (docs/ARCHITECTURE.md §9,
 * "Conventions"), so a run is a pure function of (seed, feedback sequence), and `toJSON()` /
 * `fromJSON()` resume it exactly: a resumed tuner makes the same choices as one never stopped.
 */
import { fail } from '../../core/errors.js';
import { PhiloxStream, type PhiloxState } from '../../core/philox.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../../core/validate.js';

/** ω grid as (min, max, arms): `arms` equally spaced values from min to max inclusive (MATLAB `linspace`). */
export interface GridSpec {
  readonly min: number;
  readonly max: number;
  readonly arms: number;
}

/** A grid spec, or the ω values themselves (each in (0, 2), strictly increasing). */
export type GridOption = GridSpec | readonly number[];

/** `linspace(1, 1.95, 20)`: the grid of every experiment in the reference code (§4.1, §4.2 practical settings). */
export const DEFAULT_GRID: GridSpec = Object.freeze({ min: 1, max: 1.95, arms: 20 });

/** Closed interval the contexts are declared to lie in; contexts outside are clamped (§7) and counted. */
export interface ContextInterval {
  readonly min: number;
  readonly max: number;
}

/** One decision: the ω to solve with, which arm it is and the probability it was drawn with. */
export interface TunerChoice {
  readonly omega: number;
  /** Index into `tuner.grid`. */
  readonly arm: number;
  /** Probability with which `arm` was drawn: 1 for deterministic policies, NaN for Thompson sampling (no closed form). */
  readonly p: number;
  /** The context as the tuner used it: clamped into the declared interval; undefined for context-free tuners. */
  readonly context: number | undefined;
  /** The context given was outside the declared interval and was clamped. */
  readonly clamped: boolean;
  /** 1-based round the choice belongs to; `update` accepts only the pending round's choice. */
  readonly round: number;
}

/** What a tuner tunes. Only ω today; a tuner of another parameter would add its name here. */
export type TunedParameter = 'omega';

/** Extra facts about one piece of feedback. */
export interface FeedbackInfo {
  /** The solve stopped at its iteration cap (or diverged) and `iterations` is that cap, not a converged count. */
  readonly capped?: boolean;
}

/** JSON form of a tuner: `kind` picks the class, `version` the layout. */
export interface TunerState {
  readonly kind: string;
  readonly version: 1;
  readonly [field: string]: unknown;
}

export interface Tuner {
  /** Stable name of the policy ('tsallis-inf', 'chebcb', ...); `toJSON().kind`. */
  readonly kind: string;
  /**
   * The parameter the tuner sets: a relaxation parameter ω in (0, 2). Which solver option receives it
   * depends on the method it is paired with (solveSequence's `tuned`): SOR's ω, or the ω of CG's SSOR
   * preconditioner.
   */
  readonly parameter: TunedParameter;
  /** The ω values the tuner chooses among, increasing. */
  readonly grid: Float64Array;
  /** Completed rounds (updates received). */
  readonly rounds: number;
  /** Contexts that fell outside the declared interval and were clamped. */
  readonly clampedContexts: number;
  /** Updates flagged `capped` (solves that hit their iteration cap). */
  readonly cappedFeedback: number;
  /** Draws the next ω. Contextual tuners require a finite context; the others ignore it. */
  choose(context?: number): TunerChoice;
  /** Feeds back the cost of the pending choice: an iteration count (or any cost ≥ 0). */
  update(choice: TunerChoice, iterations: number, info?: FeedbackInfo): void;
  toJSON(): TunerState;
}

// ---------------------------------------------------------------------------------------------
// Grid, interval, seed and feedback checks

/** Resolves a grid option to its ω values. Every ω must lie in (0, 2) (Ostrowski–Reich, §2): E_RANGE otherwise. */
export function makeGrid(option: unknown, name = 'options.grid'): Float64Array {
  if (option === undefined) option = DEFAULT_GRID;
  let values: Float64Array;
  if (Array.isArray(option) || option instanceof Float64Array) {
    const list = option as ArrayLike<unknown>;
    if (list.length < 1) fail('E_SHAPE', name, 'expected at least one ω');
    values = new Float64Array(list.length);
    for (let i = 0; i < list.length; i++) values[i] = checkFiniteNumber(list[i], `${name}[${i}]`);
  } else if (typeof option === 'object' && option !== null) {
    const g = option as Partial<GridSpec>;
    const min = checkFiniteNumber(g.min, `${name}.min`);
    const max = checkFiniteNumber(g.max, `${name}.max`);
    const arms = checkIntegerInRange(g.arms, 1, 100_000, `${name}.arms`);
    if (max < min) fail('E_RANGE', `${name}.max`, `must be ≥ ${name}.min (${min}), got ${max}`);
    if (arms === 1 && max !== min) fail('E_RANGE', `${name}.arms`, 'one arm needs min = max');
    values = new Float64Array(arms);
    // Endpoints exact, interior points min + (max − min)·i/(arms − 1), as MATLAB's linspace.
    for (let i = 0; i < arms; i++) values[i] = i === arms - 1 ? max : min + ((max - min) * i) / (arms - 1);
  } else {
    return fail('E_DTYPE', name, `expected {min, max, arms} or an array of ω values, got ${describe(option)}`);
  }
  for (let i = 0; i < values.length; i++) {
    const w = values[i]!;
    if (!(w > 0 && w < 2)) fail('E_RANGE', Array.isArray(option) ? `${name}[${i}]` : name, `every ω must satisfy 0 < ω < 2, got ${w}`);
    if (i > 0 && !(w > values[i - 1]!)) fail('E_RANGE', `${name}[${i}]`, `ω values must be strictly increasing, got ${values[i - 1]} then ${w}`);
  }
  return values;
}

export function checkInterval(option: unknown, name = 'options.context'): ContextInterval {
  if (typeof option !== 'object' || option === null) fail('E_DTYPE', name, `expected {min, max}, got ${describe(option)}`);
  const o = option as Partial<ContextInterval>;
  const min = checkFiniteNumber(o.min, `${name}.min`);
  const max = checkFiniteNumber(o.max, `${name}.max`);
  if (!(max > min)) fail('E_RANGE', `${name}.max`, `must exceed ${name}.min (${min}), got ${max}`);
  return { min, max };
}

/** Seeds as the Philox key accepts them; default 0. */
export function checkSeed(seed: unknown, name = 'options.seed'): number | bigint {
  if (seed === undefined) return 0;
  if (typeof seed === 'bigint') return seed;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) fail('E_RANGE', name, `expected a non-negative safe integer or bigint, got ${describe(seed)}`);
  return seed;
}

/** Feedback must be a finite cost ≥ 0: NaN/±Inf is E_NONFINITE, a negative or non-number cost E_RANGE / E_DTYPE. */
export function checkFeedback(iterations: unknown, name = 'iterations'): number {
  if (typeof iterations !== 'number') fail('E_DTYPE', name, `expected a number, got ${describe(iterations)}`);
  if (!Number.isFinite(iterations)) fail('E_NONFINITE', name, `expected a finite cost, got ${iterations}`);
  if (iterations < 0) fail('E_RANGE', name, `a cost must be ≥ 0, got ${iterations}`);
  return iterations;
}

/**
 * The learners' loss: `iterations − 1` (paper Alg. 2, §1.1). Zero iterations happen only when the
 * right-hand side is already solved (r_0 passes the test); that costs no more than one, so it maps to 0.
 */
export function lossOf(iterations: number): number {
  return iterations > 1 ? iterations - 1 : 0;
}

export function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** x ∈ [−1, 1] for a context in the interval: the Chebyshev variable 2(c − c_min)/C − 1 of §4.2, clamped (§7). */
export function unitContext(c: number, iv: ContextInterval): number {
  return clamp((2 * (c - iv.min)) / (iv.max - iv.min) - 1, -1, 1);
}

// ---------------------------------------------------------------------------------------------
// The common machinery: round bookkeeping, pending-choice check, state layout

interface BaseState {
  grid: number[];
  rng: PhiloxState;
  rounds: number;
  clampedContexts: number;
  cappedFeedback: number;
  pending: TunerChoice | null;
}

/**
 * What every tuner does the same way: owns the grid and the Philox stream, checks the context and the
 * feedback, insists that each update answers the pending choice (so importance weights always refer to
 * the draw that produced the cost), and counts clamped contexts and capped solves.
 */
export abstract class TunerBase implements Tuner {
  abstract readonly kind: string;
  readonly parameter: TunedParameter = 'omega';
  readonly grid: Float64Array;
  protected rng: PhiloxStream;
  protected nRounds = 0;
  protected nClamped = 0;
  protected nCapped = 0;
  protected pending: TunerChoice | null = null;
  /** The declared context interval; null for context-free tuners. */
  protected readonly interval: ContextInterval | null;

  protected constructor(grid: Float64Array, seed: number | bigint, interval: ContextInterval | null) {
    this.grid = grid;
    this.rng = new PhiloxStream(seed, 0);
    this.interval = interval;
  }

  get rounds(): number {
    return this.nRounds;
  }

  get clampedContexts(): number {
    return this.nClamped;
  }

  get cappedFeedback(): number {
    return this.nCapped;
  }

  choose(context?: number): TunerChoice {
    let c: number | undefined;
    let clamped = false;
    if (this.interval) {
      const v = checkFiniteNumber(context, 'context');
      c = clamp(v, this.interval.min, this.interval.max);
      clamped = c !== v;
    } else if (context !== undefined) {
      checkFiniteNumber(context, 'context');
    }
    const { arm, p, omega } = this.pick(c);
    // A second choose() before update() replaces the pending draw; the earlier one can no longer be fed back.
    const choice: TunerChoice = Object.freeze({ omega: omega ?? this.grid[arm]!, arm, p, context: c, clamped, round: this.nRounds + 1 });
    this.pending = choice;
    return choice;
  }

  update(choice: TunerChoice, iterations: number, info?: FeedbackInfo): void {
    const cost = checkFeedback(iterations);
    const pending = this.pending;
    if (typeof choice !== 'object' || choice === null) fail('E_DTYPE', 'choice', `expected the object choose() returned, got ${describe(choice)}`);
    if (!pending || choice.round !== pending.round || choice.arm !== pending.arm || choice.omega !== pending.omega) {
      fail('E_RANGE', 'choice', pending ? `is not the pending choice (round ${pending.round}) of this tuner` : 'no choice is pending: call choose() first');
    }
    if (info !== undefined && (typeof info !== 'object' || info === null)) fail('E_DTYPE', 'info', `expected {capped?}, got ${describe(info)}`);
    this.learn(pending, cost);
    this.pending = null;
    this.nRounds++;
    if (pending.clamped) this.nClamped++;
    if (info?.capped) this.nCapped++;
  }

  /** Draw an arm for the (already clamped) context; `omega` only when it is not `grid[arm]`. */
  protected abstract pick(context: number | undefined): { arm: number; p: number; omega?: number };
  /** Learn from the cost (≥ 0, raw iteration count) of the pending choice. */
  protected abstract learn(choice: TunerChoice, iterations: number): void;
  /** The subclass's own fields for toJSON. */
  protected abstract stateFields(): Record<string, unknown>;

  toJSON(): TunerState {
    const base: BaseState = {
      grid: Array.from(this.grid),
      rng: this.rng.state(),
      rounds: this.nRounds,
      clampedContexts: this.nClamped,
      cappedFeedback: this.nCapped,
      pending: this.pending ? { ...this.pending } : null,
    };
    return { kind: this.kind, version: 1, ...base, ...this.stateFields() };
  }

  /** Restores the fields toJSON wrote; called by each subclass's fromJSON after constructing. */
  protected restoreBase(s: Record<string, unknown>): void {
    this.rng = PhiloxStream.fromState(s.rng as PhiloxState);
    this.nRounds = checkIntegerInRange(s.rounds, 0, Number.MAX_SAFE_INTEGER, 'state.rounds');
    this.nClamped = checkIntegerInRange(s.clampedContexts, 0, Number.MAX_SAFE_INTEGER, 'state.clampedContexts');
    this.nCapped = checkIntegerInRange(s.cappedFeedback, 0, Number.MAX_SAFE_INTEGER, 'state.cappedFeedback');
    const p = s.pending as TunerChoice | null | undefined;
    if (p === null || p === undefined) this.pending = null;
    else {
      if (typeof p !== 'object') fail('E_DTYPE', 'state.pending', `expected a choice or null, got ${describe(p)}`);
      checkIntegerInRange(p.arm, 0, this.grid.length - 1, 'state.pending.arm');
      checkFiniteNumber(p.omega, 'state.pending.omega');
      // Thompson-sampling tuners report p = NaN, which JSON writes as null.
      const prob = p.p === null || Number.isNaN(p.p) ? Number.NaN : checkFiniteNumber(p.p, 'state.pending.p');
      if (p.round !== this.nRounds + 1) fail('E_RANGE', 'state.pending.round', `expected ${this.nRounds + 1}, got ${describe(p.round)}`);
      this.pending = Object.freeze({ omega: p.omega, arm: p.arm, p: prob, context: p.context ?? undefined, clamped: p.clamped === true, round: p.round });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// State helpers

/** Checks the envelope of a serialized tuner and returns it as a record. */
export function checkState(state: unknown, kind: string): Record<string, unknown> {
  if (typeof state !== 'object' || state === null) fail('E_DTYPE', 'state', `expected a tuner state object, got ${describe(state)}`);
  const s = state as Record<string, unknown>;
  if (s.kind !== kind) fail('E_RANGE', 'state.kind', `expected '${kind}', got ${describe(s.kind)}`);
  if (s.version !== 1) fail('E_RANGE', 'state.version', `unsupported state version ${describe(s.version)}`);
  return s;
}

/** A finite number array of the given length from a state field. */
export function stateArray(v: unknown, length: number, name: string): Float64Array {
  if (!Array.isArray(v)) fail('E_DTYPE', name, `expected an array, got ${describe(v)}`);
  if (v.length !== length) fail('E_SHAPE', name, `expected length ${length}, got ${v.length}`);
  const out = new Float64Array(length);
  for (let i = 0; i < length; i++) out[i] = checkFiniteNumber(v[i], `${name}[${i}]`);
  return out;
}

/** Running mean of the losses, the reference code's normalizer K (§4.1 practical settings); 1 until a positive mean exists. */
export class RunningScale {
  sum = 0;
  count = 0;

  add(loss: number): void {
    this.sum += loss;
    this.count++;
  }

  get value(): number {
    const m = this.count > 0 ? this.sum / this.count : 0;
    return m > 0 ? m : 1;
  }
}
