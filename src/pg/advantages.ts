/**
 * Advantage estimators for LLM RL trainers, computed on the host in f64 (docs/pg-advantages.md §2–§4):
 * they reduce O(N) per-sample scalars (N = B·G, thousands), where a kernel dispatch would cost more than
 * the work; verl does the same in Python loops. The group estimators (grpo, rloo,
 * reinforce++-baseline, ngrpo) go through the mergeable statistics of shards.ts, so a sharded batch
 * reproduces these results (shards.ts). Formulas: /work/shared/reference/policy-gradient.md §1.2,
 * §2.2, §3.1, §3.2, §3.4, §3.7, each cited where used.
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { describe } from '../core/validate.js';
import {
  allocOutput, ensureFinite, forEachActive, readBool, readChoice, readCounts, readInt, readLayout, readNumber, readOptions, readScalars, readTokenScalars,
  resolveGroups, toOutput,
  type GroupSpec, type OutputOf, type PgConvention, type ResolvedGroups, type ScalarArray, type TokenLayout,
} from './groups.js';
import {
  applyInto, checkKeys, computePartial, normalizersFor, readEstimatorConfig,
  type GroupEstimator, type GroupEstimatorOptions, type GroupNormalizers,
} from './shards.js';
import { SpoTracker, type PromptId } from './spo.js';

export type AdvantageEstimator = GroupEstimator | 'gae' | 'drpo' | 'spo';
export const ADVANTAGE_ESTIMATORS: readonly AdvantageEstimator[] = ['grpo', 'rloo', 'reinforce++-baseline', 'ngrpo', 'gae', 'drpo', 'spo'];

/**
 * "Rewarding the Unlikely" (He, Fried & Welleck, arXiv 2506.02355; reference §3.7): before the
 * estimator, r̃_i = r_i·(1 − penalty·rank_i/G), rank_i the ascending rank of the sample's mean old
 * log-prob within its group of G (0 = least likely; ties by sample index).
 */
export interface UnlikelinessOptions {
  /** Per sample: the masked mean of the old log-probs over its tokens (sequenceMeans). */
  meanLogp: ScalarArray;
  /** λ in [0, 1]; the paper's example uses 0.25 (examples/lean/grpo.sh). */
  penalty?: number;
}

interface Grouped {
  groups: GroupSpec;
  /** With per-sample ids: the number of groups (default max id + 1); every group needs a sample. */
  numGroups?: number;
  convention?: PgConvention;
  unlikeliness?: UnlikelinessOptions;
}

export type GrpoOptions = Grouped & Pick<GroupEstimatorOptions, 'eps' | 'normalizeStd' | 'scale'> & { estimator?: 'grpo' };
export type RlooOptions = Grouped & Pick<GroupEstimatorOptions, 'normalize' | 'eps'> & { estimator: 'rloo' };
export type NgrpoOptions = Grouped & Pick<GroupEstimatorOptions, 'eps' | 'maxReward' | 'virtualCount'> & { estimator: 'ngrpo' };
export type ReinforceBaselineOptions = Grouped & Pick<GroupEstimatorOptions, 'whitenEps'> & {
  estimator: 'reinforce++-baseline';
  /** Tokens per sample (L_i): the whitening is over all tokens of the batch, so sample i weighs L_i. */
  lengths: Int32Array | readonly number[];
};

/** GAE over per-token rewards and values in the policy loss's layout (src/pg/ops.ts PgLayout; reference §1.2). */
export interface GaeOptions {
  estimator: 'gae';
  values: ScalarArray;
  offsets: Int32Array;
  /** Default: the whole segment (ragged input). */
  lengths?: Int32Array | null;
  mask?: Uint8Array | null;
  /** γ and λ (verl defaults 1.0, 1.0). */
  gamma?: number;
  lambda?: number;
  /** Whiten the advantages over all active tokens (verl always does; default true). Returns are never whitened. */
  whiten?: boolean;
  whitenEps?: number;
  ignoreInactiveNonFinite?: boolean;
}

/**
 * DRPO's per-sample gradient weights (Li et al., arXiv 2510.04474; Optimization-AI/DRPO core_algos.py
 * compute_policy_loss_drpo; reference §3.4). Not an advantage in the GRPO sense: see docs/pg-advantages.md §3.3.
 */
export interface DrpoOptions {
  estimator: 'drpo';
  groups: GroupSpec;
  numGroups?: number;
  /** Tokens per sample L_i (≤ maxLength). */
  lengths: Int32Array | readonly number[];
  /** T, the padded width (the recipe: max_response_length with use_max_seq_len). */
  maxLength: number;
  /** tau2 in the code: the length-reward temperature (0.1). */
  lambda?: number;
  /** τ of the negatives' log-sum-exp (10). */
  tau?: number;
  /** Per-sample scores s_j = mean token log-prob (the code's "logL"); without them negatives weigh 1/|N| (τ → ∞). */
  scores?: ScalarArray;
}

export interface SpoOptions {
  estimator: 'spo';
  tracker: SpoTracker;
  promptIds: readonly PromptId[] | Int32Array;
  normalize?: boolean;
  eps?: number;
}

export type AdvantageOptions = GrpoOptions | RlooOptions | NgrpoOptions | ReinforceBaselineOptions | GaeOptions | DrpoOptions | SpoOptions;

export interface AdvantagesResult<A> {
  /** Per sample (per token for 'gae'), in the rewards' dtype. */
  advantages: A;
  /** 'gae' only: A_raw + V per token (not whitened), 0 at inactive positions. */
  returns: A | null;
  /** Group estimators: the per-group statistics and normalizers, a_i = (s_i − center[g])/divisor[g]. */
  normalizers: GroupNormalizers | null;
  /** The rewards after unlikeliness shaping, when it was asked for. */
  shapedRewards: Float64Array | null;
  /** 'spo': p̂ of each sample's prompt, read before any update. */
  baseline: Float64Array | null;
  /** Number of groups (the aggregation denominator DRPO divides by); 0 for 'gae' and 'spo'. */
  groups: number;
}

const GROUPED_KEYS = ['groups', 'numGroups', 'unlikeliness'];

/**
 * Advantages by the chosen estimator (default 'grpo', convention 'verl'). All input is checked before
 * anything is computed; non-finite rewards are E_NONFINITE naming the first bad index (TRL's NaN
 * "unscorable" rows are not supported: give them a reward or leave them out).
 */
export function advantages<T extends ScalarArray>(rewards: T, options: AdvantageOptions): AdvantagesResult<OutputOf<T>> {
  if (options === undefined) fail('E_DTYPE', 'options', 'expected an object with at least groups (or estimator and its inputs)');
  const opts = readOptions<Record<string, unknown>>(options, 'options') as Record<string, unknown>;
  const estimator = readChoice(opts.estimator, ADVANTAGE_ESTIMATORS, 'grpo', 'options.estimator');
  switch (estimator) {
    case 'gae': return gae(rewards, opts);
    case 'drpo': return drpo(rewards, opts);
    case 'spo': return spo(rewards, opts);
    default: return grouped(rewards, opts);
  }
}

function empty<A>(advantages: A): AdvantagesResult<A> {
  return { advantages, returns: null, normalizers: null, shapedRewards: null, baseline: null, groups: 0 };
}

function grouped<T extends ScalarArray>(rewards: T, opts: Record<string, unknown>): AdvantagesResult<OutputOf<T>> {
  const extra = opts.estimator === 'reinforce++-baseline' ? [...GROUPED_KEYS, 'lengths'] : GROUPED_KEYS;
  const cfg = readEstimatorConfig(opts, 'options', extra);
  const r = readScalars(rewards, 'rewards');
  if (r.length === 0) fail('E_SHAPE', 'rewards', 'is empty');
  const groups = resolveGroups(opts.groups, r.length, 'options.groups', { numGroups: opts.numGroups });
  const lengths = cfg.estimator === 'reinforce++-baseline' ? readCounts(opts.lengths, 'options.lengths', r.length) : null;
  const shaping = opts.unlikeliness === undefined ? null : readUnlikeliness(opts.unlikeliness, r.length);
  if (lengths !== null) {
    let S = 0;
    for (let i = 0; i < lengths.length; i++) S += lengths[i]!;
    if (S < 2) fail('E_SHAPE', 'options.lengths', `token-weighted whitening needs at least 2 tokens in total, got ${S}`);
  }
  const s = shaping === null ? r : shapeUnlikely(r, groups, shaping.meanLogp, shaping.penalty);
  const nz = normalizersFor(computePartial(s, groups, lengths), cfg, 'rewards');
  const out = allocOutput(rewards, r.length);
  applyInto(out as FloatArray, s, groups.ids, nz, lengths);
  ensureFinite(out, 'rewards');
  return { ...empty(out), normalizers: nz, shapedRewards: shaping === null ? null : s, groups: groups.count };
}

function readUnlikeliness(u: unknown, n: number): { meanLogp: Float64Array; penalty: number } {
  const o = readOptions<UnlikelinessOptions>(u, 'options.unlikeliness');
  for (const key of Object.keys(o)) if (key !== 'meanLogp' && key !== 'penalty') fail('E_RANGE', `options.unlikeliness.${key}`, 'is not an unlikeliness option');
  return {
    meanLogp: readScalars(o.meanLogp, 'options.unlikeliness.meanLogp', n),
    penalty: readNumber(o.penalty, 0.25, 'options.unlikeliness.penalty', { lo: 0, hi: 1 }),
  };
}

/** r̃_i = r_i·(1 − λ·rank_i/G) with a stable ascending rank of meanLogp in the group (reference §3.7 steps 1–3). */
export function shapeUnlikely(r: Float64Array, groups: ResolvedGroups, meanLogp: Float64Array, penalty: number): Float64Array {
  const out = new Float64Array(r.length);
  for (let g = 0; g < groups.count; g++) {
    const members = Array.from(groups.members.subarray(groups.start[g]!, groups.start[g + 1]!));
    members.sort((a, b) => meanLogp[a]! - meanLogp[b]! || a - b);
    const G = members.length;
    members.forEach((i, rank) => { out[i] = r[i]! * (1 - penalty * rank / G); });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// GAE (verl compute_gae_advantage_return; reference §1.2)

function gae<T extends ScalarArray>(rewards: T, opts: Record<string, unknown>): AdvantagesResult<OutputOf<T>> {
  checkKeys(opts, ['estimator', 'convention', 'values', 'offsets', 'lengths', 'mask', 'gamma', 'lambda', 'whiten', 'whitenEps', 'ignoreInactiveNonFinite'], 'options', 'gae');
  const layout: TokenLayout = readLayout({ offsets: opts.offsets as Int32Array, lengths: opts.lengths as Int32Array | null, mask: opts.mask as Uint8Array | null }, 'options');
  const ignore = readBool(opts.ignoreInactiveNonFinite, false, 'options.ignoreInactiveNonFinite');
  const r = readTokenScalars(rewards, 'rewards', layout, ignore);
  const v = readTokenScalars(opts.values, 'options.values', layout, ignore);
  const gamma = readNumber(opts.gamma, 1, 'options.gamma', { lo: 0, hi: 1 });
  const lambda = readNumber(opts.lambda, 1, 'options.lambda', { lo: 0, hi: 1 });
  const whiten = readBool(opts.whiten, true, 'options.whiten');
  const whitenEps = readNumber(opts.whitenEps, 1e-8, 'options.whitenEps', { lo: 0 });
  let S = 0;
  forEachActive(layout, () => { S++; });
  // verl's masked_var raises below 2 tokens (Bessel's S/(S − 1)).
  if (whiten && S < 2) fail('E_SHAPE', 'options.mask', `whitening needs at least 2 active tokens, got ${S}`);

  const adv = new Float64Array(layout.total);
  const ret = new Float64Array(layout.total);
  const active = new Uint8Array(layout.total);
  forEachActive(layout, (k) => { active[k] = 1; });
  const { offsets, lengths } = layout;
  for (let i = 0; i < layout.nSeq; i++) {
    // Backwards over the sequence; an inactive position neither updates nextV nor the running GAE, as
    // verl's `x·m + (1 − m)·x_prev` updates, so it is skipped outright.
    let nextV = 0;
    let last = 0;
    for (let t = lengths[i]! - 1; t >= 0; t--) {
      const k = offsets[i]! + t;
      if (active[k] === 0) continue;
      const delta = r[k]! + gamma * nextV - v[k]!;
      last = delta + gamma * lambda * last;
      nextV = v[k]!;
      adv[k] = last;
      ret[k] = last + v[k]!;
    }
  }
  if (whiten) {
    let sum = 0;
    for (let k = 0; k < layout.total; k++) if (active[k]) sum += adv[k]!;
    const mean = sum / S;
    let m2 = 0;
    for (let k = 0; k < layout.total; k++) {
      if (!active[k]) continue;
      const d = adv[k]! - mean;
      m2 += d * d;
    }
    const div = Math.sqrt(m2 / (S - 1) + whitenEps);
    for (let k = 0; k < layout.total; k++) adv[k] = active[k] && div > 0 ? (adv[k]! - mean) / div : 0;
  }
  const out = toOutput(rewards, adv);
  const returns = toOutput(rewards, ret);
  ensureFinite(out, 'rewards');
  ensureFinite(returns, 'rewards');
  return { ...empty(out), returns };
}

// ---------------------------------------------------------------------------------------------
// DRPO (reference §3.4)

function drpo<T extends ScalarArray>(rewards: T, opts: Record<string, unknown>): AdvantagesResult<OutputOf<T>> {
  checkKeys(opts, ['estimator', 'groups', 'numGroups', 'lengths', 'maxLength', 'lambda', 'tau', 'scores'], 'options', 'drpo');
  const r = readScalars(rewards, 'rewards');
  if (r.length === 0) fail('E_SHAPE', 'rewards', 'is empty');
  const groups = resolveGroups(opts.groups, r.length, 'options.groups', { numGroups: opts.numGroups });
  const lengths = readCounts(opts.lengths, 'options.lengths', r.length);
  const T = readInt(opts.maxLength, undefined, 'options.maxLength', 1, 2 ** 31 - 1);
  for (let i = 0; i < lengths.length; i++) if (lengths[i]! > T) fail('E_RANGE', 'options.lengths', `element ${i} is ${lengths[i]} > maxLength = ${T}`);
  const lambda = readNumber(opts.lambda, 0.1, 'options.lambda', { lo: 0, loOpen: true });
  const tau = readNumber(opts.tau, 10, 'options.tau', { lo: 0, loOpen: true });
  const scores = opts.scores === undefined ? null : readScalars(opts.scores, 'options.scores', r.length);

  const a = new Float64Array(r.length);
  for (let g = 0; g < groups.count; g++) {
    const members = groups.members.subarray(groups.start[g]!, groups.start[g + 1]!);
    // The code's masks are reward == 1 and reward == 0 exactly; a group lacking either is dropped.
    const pos = Array.from(members).filter((i) => r[i] === 1);
    const neg = Array.from(members).filter((i) => r[i] === 0);
    if (pos.length === 0 || neg.length === 0) continue;
    // Positives: w_i = exp((1 − L_i/T)/λ) normalized over the positives (max-shifted: λ may be small).
    const e = pos.map((i) => (1 - lengths[i]! / T) / lambda);
    softmaxInto(a, pos, e, 1);
    // Negatives: ∂(τ·log Σ_N exp(s/τ))/∂s_j = softmax_N(s/τ)_j, entering the loss with a minus sign.
    const z = neg.map((j) => (scores === null ? 0 : scores[j]! / tau));
    softmaxInto(a, neg, z, -1);
  }
  return { ...empty(toOutput(rewards, a)), groups: groups.count };
}

function softmaxInto(out: Float64Array, idx: number[], logits: number[], sign: number): void {
  let m = -Infinity;
  for (const x of logits) if (x > m) m = x;
  let sum = 0;
  const w = logits.map((x) => Math.exp(x - m));
  for (const x of w) sum += x;
  idx.forEach((i, j) => { out[i] = sign * (w[j]! / sum); });
}

// ---------------------------------------------------------------------------------------------
// SPO (reference §3.1)

function spo<T extends ScalarArray>(rewards: T, opts: Record<string, unknown>): AdvantagesResult<OutputOf<T>> {
  checkKeys(opts, ['estimator', 'tracker', 'promptIds', 'normalize', 'eps'], 'options', 'spo');
  if (!(opts.tracker instanceof SpoTracker)) fail('E_DTYPE', 'options.tracker', `expected an SpoTracker, got ${describe(opts.tracker)}`);
  const res = opts.tracker.advantages(opts.promptIds as PromptId[], rewards, { normalize: opts.normalize as boolean | undefined, eps: opts.eps as number | undefined });
  return { ...empty(res.advantages), baseline: res.baseline };
}
