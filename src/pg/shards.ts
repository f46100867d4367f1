/**
 * Group statistics as mergeable partials (docs/pg-advantages.md §5, docs/ARCHITECTURE.md §12): a
 * data-parallel trainer computes `groupStats` on its shard, combines the partials with its own
 * all-reduce or all-gather through `mergeGroupStats` (Chan, Golub & LeVeque's pairwise update), and
 * every rank turns the merged partial into per-group normalizers (`finalizeGroupStats`) that it
 * applies to its own samples (`applyGroupNormalizers`). The unsharded `advantages()` runs the same
 * three steps on one shard, so sharded and unsharded results differ only by summation order.
 *
 * Every group advantage here is a_i = (s_i − center[g]) / divisor[g]; the estimators only differ in
 * how center and divisor come from the group's (count, sum, M2) — reference §1.2, §2.2, §3.2.
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { describe } from '../core/validate.js';
import {
  allocOutput, ensureFinite, readBool, readChoice, readConvention, readCounts, readInt, readNumber, readOptions, readScalars, resolveGroups,
  type GroupSpec, type OutputOf, type PgConvention, type ResolvedGroups, type ScalarArray,
} from './groups.js';

/** The group-relative estimators that reduce to per-group normalizers. */
export type GroupEstimator = 'grpo' | 'rloo' | 'reinforce++-baseline' | 'ngrpo';
export const GROUP_ESTIMATORS: readonly GroupEstimator[] = ['grpo', 'rloo', 'reinforce++-baseline', 'ngrpo'];

/**
 * Per-group sufficient statistics of one shard, mergeable in any order. Plain data (typed arrays and
 * numbers): structuredClone-able, and number[] in place of the Float64Arrays is accepted back.
 */
export interface GroupStatsPartial {
  readonly kind: 'pg-group-stats';
  readonly numGroups: number;
  /** Whether per-sample token counts were given (needed by 'reinforce++-baseline'); all merged partials must agree. */
  readonly weighted: boolean;
  /** Samples and tokens (Σ lengths, 0 when not weighted) in the partial: the global token count for a token-mean. */
  readonly samples: number;
  readonly totalTokens: number;
  /** Per group: samples, Σ s, Σ (s − mean)², and the extremes (0 for an empty group). */
  readonly count: Float64Array;
  readonly sum: Float64Array;
  readonly m2: Float64Array;
  readonly min: Float64Array;
  readonly max: Float64Array;
  /** Per group, token-weighted (weights L_i): Σ L, Σ L·s, Σ L·(s − ν)² with ν = Σ L·s / Σ L. */
  readonly tokens: Float64Array;
  readonly tokenSum: Float64Array;
  readonly tokenM2: Float64Array;
}

/** One shard of a batch: its rewards, global group ids (or a group size with the first group's id), and optional token counts. */
export interface GroupShard<T extends ScalarArray = ScalarArray> {
  readonly rewards: T;
  /** Global group ids in [0, numGroups), or a group size: then the shard holds whole groups firstGroup, firstGroup + 1, ... */
  readonly groups: GroupSpec;
  readonly numGroups: number;
  readonly firstGroup?: number;
  readonly lengths?: Int32Array | readonly number[] | null;
}

/** How a group estimator turns statistics into advantages (docs/pg-advantages.md §2–§3). */
export interface GroupEstimatorOptions {
  estimator?: GroupEstimator;
  /** 'verl' (default) or 'trl': the eps default and what a group of one gets (docs/pg-advantages.md §2.1). */
  convention?: PgConvention;
  /** Added to the std (grpo, ngrpo, rloo with normalize): verl 1e-6, TRL 1e-4. */
  eps?: number;
  /** grpo: false is Dr.GRPO (no division by the std), the same as scale: 'none'. */
  normalizeStd?: boolean;
  /** grpo: divide by the group std (default), the whole batch's reward std (TRL 'batch'), or nothing. */
  scale?: 'group' | 'batch' | 'none';
  /** rloo: whiten the advantages over the batch afterwards (TRL normalize_advantages). */
  normalize?: boolean;
  /** reinforce++-baseline: added to the token-weighted variance before the square root (verl masked_whiten, 1e-8). */
  whitenEps?: number;
  /** ngrpo: the virtual sample's reward and how many are added (reference §3.2: 1.0 and 1). */
  maxReward?: number;
  virtualCount?: number;
}

export interface EstimatorConfig {
  readonly estimator: GroupEstimator;
  readonly convention: PgConvention;
  readonly eps: number;
  readonly scale: 'group' | 'batch' | 'none';
  readonly normalize: boolean;
  readonly whitenEps: number;
  readonly maxReward: number;
  readonly virtualCount: number;
}

/** Per-group affine normalizers: a_i = (s_i − center[g]) / divisor[g]. Plain data, like the partial. */
export interface GroupNormalizers {
  readonly kind: 'pg-group-normalizers';
  readonly estimator: GroupEstimator;
  readonly numGroups: number;
  readonly samples: number;
  readonly tokens: number;
  /** Per group: samples, mean and unbiased std of the rewards (std 0 for a group of one). */
  readonly count: Float64Array;
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly center: Float64Array;
  readonly divisor: Float64Array;
  /** Token-weighted whitening was applied: a sample with no tokens gets advantage 0. */
  readonly tokenWeighted: boolean;
  /** Mean and unbiased std of all rewards (the std 'batch' scaling divides by; for one sample: 1 under verl, 0 under TRL). */
  readonly batchMean: number;
  readonly batchStd: number;
}

const MAX_INT32 = 2 ** 31 - 1;
const EPS_DEFAULT: Readonly<Record<PgConvention, number>> = { verl: 1e-6, trl: 1e-4 };
const ESTIMATOR_KEYS: Readonly<Record<GroupEstimator, readonly string[]>> = {
  grpo: ['eps', 'normalizeStd', 'scale'],
  rloo: ['normalize', 'eps'],
  'reinforce++-baseline': ['whitenEps'],
  ngrpo: ['eps', 'maxReward', 'virtualCount'],
};
const COMMON_KEYS = ['estimator', 'convention'];

/** Resolves and checks the estimator options; `extraKeys` are the caller's own options (groups, ...). */
export function readEstimatorConfig(o: unknown, name: string, extraKeys: readonly string[] = []): EstimatorConfig {
  const opts = readOptions<GroupEstimatorOptions>(o, name) as Record<string, unknown>;
  const estimator = readChoice(opts.estimator, GROUP_ESTIMATORS, 'grpo', `${name}.estimator`);
  checkKeys(opts, [...COMMON_KEYS, ...ESTIMATOR_KEYS[estimator], ...extraKeys], name, estimator);
  const convention = readConvention(opts.convention, `${name}.convention`);
  const eps = readNumber(opts.eps, EPS_DEFAULT[convention], `${name}.eps`, { lo: 0 });
  let scale = readChoice(opts.scale, ['group', 'batch', 'none'] as const, 'group', `${name}.scale`);
  const normalizeStd = readBool(opts.normalizeStd, true, `${name}.normalizeStd`);
  if (!normalizeStd) {
    if (opts.scale !== undefined && scale !== 'none') fail('E_RANGE', `${name}.scale`, `'${scale}' contradicts normalizeStd: false (Dr.GRPO divides by nothing)`);
    scale = 'none';
  }
  return {
    estimator,
    convention,
    eps,
    scale,
    normalize: readBool(opts.normalize, false, `${name}.normalize`),
    whitenEps: readNumber(opts.whitenEps, 1e-8, `${name}.whitenEps`, { lo: 0 }),
    maxReward: readNumber(opts.maxReward, 1, `${name}.maxReward`),
    virtualCount: readInt(opts.virtualCount, 1, `${name}.virtualCount`, 1, 1 << 20),
  };
}

/** An option that belongs to another estimator is a mistake worth reporting, not ignoring. */
export function checkKeys(opts: Record<string, unknown>, allowed: readonly string[], name: string, estimator: string): void {
  for (const key of Object.keys(opts)) {
    if (opts[key] !== undefined && !allowed.includes(key)) fail('E_RANGE', `${name}.${key}`, `is not an option of estimator '${estimator}'`);
  }
}

// ---------------------------------------------------------------------------------------------
// Partials

function emptyPartial(numGroups: number, weighted: boolean): GroupStatsPartial {
  const z = (): Float64Array => new Float64Array(numGroups);
  return {
    kind: 'pg-group-stats', numGroups, weighted, samples: 0, totalTokens: 0,
    count: z(), sum: z(), m2: z(), min: z(), max: z(), tokens: z(), tokenSum: z(), tokenM2: z(),
  };
}

/** Two-pass statistics per group (the one-pass Σs² − (Σs)²/n cancels; reference §5). */
export function computePartial(values: Float64Array, groups: ResolvedGroups, lengths: Int32Array | null): GroupStatsPartial {
  const p = emptyPartial(groups.count, lengths !== null);
  const { start, members } = groups;
  let totalTokens = 0;
  for (let g = 0; g < groups.count; g++) {
    const a = start[g]!;
    const b = start[g + 1]!;
    if (a === b) continue;
    let sum = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = a; j < b; j++) {
      const v = values[members[j]!]!;
      sum += v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const n = b - a;
    const mean = sum / n;
    let m2 = 0;
    // A constant group has M2 exactly 0: sum/n can be off by an ulp, and that ulp would make an all-equal group's advantages tiny instead of 0.
    if (lo !== hi) {
      for (let j = a; j < b; j++) {
        const d = values[members[j]!]! - mean;
        m2 += d * d;
      }
    }
    p.count[g] = n; p.sum[g] = sum; p.m2[g] = m2; p.min[g] = lo; p.max[g] = hi;
    if (lengths !== null) {
      let w = 0;
      let ws = 0;
      for (let j = a; j < b; j++) {
        const i = members[j]!;
        w += lengths[i]!;
        ws += lengths[i]! * values[i]!;
      }
      let q = 0;
      if (w > 0 && lo !== hi) {
        const nu = ws / w;
        for (let j = a; j < b; j++) {
          const i = members[j]!;
          const d = values[i]! - nu;
          q += lengths[i]! * d * d;
        }
      }
      p.tokens[g] = w; p.tokenSum[g] = ws; p.tokenM2[g] = q;
      totalTokens += w;
    }
  }
  return { ...p, samples: values.length, totalTokens };
}

/** Statistics of one shard. Group ids are global; groups absent from the shard stay empty. */
export function groupStats(shard: GroupShard): GroupStatsPartial {
  if (typeof shard !== 'object' || shard === null) fail('E_DTYPE', 'shard', `expected {rewards, groups, numGroups, lengths?}, got ${describe(shard)}`);
  const { rewards, lengths, groups } = readShard(shard, 'shard');
  const p = computePartial(rewards, groups, lengths);
  for (const key of PARTIAL_ARRAYS) ensureFinite(p[key], 'shard.rewards');
  return p;
}

function readShard(shard: GroupShard, name: string): { rewards: Float64Array; groups: ResolvedGroups; lengths: Int32Array | null } {
  const rewards = readScalars(shard.rewards, `${name}.rewards`);
  const numGroups = readInt(shard.numGroups, undefined, `${name}.numGroups`, 0, MAX_INT32);
  const firstGroup = readInt(shard.firstGroup, 0, `${name}.firstGroup`, 0, MAX_INT32);
  if (shard.firstGroup !== undefined && typeof shard.groups !== 'number') fail('E_RANGE', `${name}.firstGroup`, 'applies only when groups is a group size');
  const groups = resolveGroups(shard.groups, rewards.length, `${name}.groups`, { numGroups, numGroupsName: `${name}.numGroups`, allowEmpty: true, firstGroup });
  const lengths = shard.lengths === undefined || shard.lengths === null ? null : readCounts(shard.lengths, `${name}.lengths`, rewards.length);
  return { rewards, groups, lengths };
}

const PARTIAL_ARRAYS = ['count', 'sum', 'm2', 'min', 'max', 'tokens', 'tokenSum', 'tokenM2'] as const;

/** Checks a partial (possibly round-tripped through a transport as number[]) and returns it with Float64Arrays. */
function readPartial(p: unknown, name: string): GroupStatsPartial {
  if (typeof p !== 'object' || p === null || (p as GroupStatsPartial).kind !== 'pg-group-stats') {
    fail('E_DTYPE', name, `expected a partial from groupStats (kind 'pg-group-stats'), got ${describe(p)}`);
  }
  const q = p as GroupStatsPartial;
  const numGroups = readInt(q.numGroups, undefined, `${name}.numGroups`, 0, MAX_INT32);
  const weighted = readBool(q.weighted, false, `${name}.weighted`);
  const samples = readInt(q.samples, undefined, `${name}.samples`, 0, Number.MAX_SAFE_INTEGER);
  const totalTokens = readInt(q.totalTokens, undefined, `${name}.totalTokens`, 0, Number.MAX_SAFE_INTEGER);
  const arrays = {} as Record<(typeof PARTIAL_ARRAYS)[number], Float64Array>;
  for (const key of PARTIAL_ARRAYS) arrays[key] = readScalars(q[key], `${name}.${key}`, numGroups);
  let n = 0;
  for (let g = 0; g < numGroups; g++) {
    const c = arrays.count[g]!;
    if (!Number.isInteger(c) || c < 0) fail('E_RANGE', `${name}.count`, `element ${g} is ${c}; counts are non-negative integers`);
    if (arrays.m2[g]! < 0 || arrays.tokenM2[g]! < 0 || arrays.tokens[g]! < 0) fail('E_RANGE', name, `group ${g} has a negative M2 or token count`);
    n += c;
  }
  if (n !== samples) fail('E_SHAPE', `${name}.samples`, `is ${samples} but the group counts add up to ${n}`);
  return { kind: 'pg-group-stats', numGroups, weighted, samples, totalTokens, ...arrays };
}

/**
 * Combines two partials (Chan et al. 1979): n = na + nb, δ = mean_b − mean_a, M2 = M2a + M2b + δ²·na·nb/n,
 * and the same update with token weights. Symmetric in a and b; the inputs are not modified.
 */
export function mergeGroupStats(a: GroupStatsPartial, b: GroupStatsPartial): GroupStatsPartial {
  const pa = readPartial(a, 'a');
  const pb = readPartial(b, 'b');
  if (pa.numGroups !== pb.numGroups) fail('E_SHAPE', 'b.numGroups', `is ${pb.numGroups} but a.numGroups is ${pa.numGroups}`);
  if (pa.weighted !== pb.weighted) fail('E_RANGE', 'b.weighted', `is ${pb.weighted} but a.weighted is ${pa.weighted}: give lengths on every shard or on none`);
  const out = emptyPartial(pa.numGroups, pa.weighted);
  for (let g = 0; g < pa.numGroups; g++) {
    const na = pa.count[g]!;
    const nb = pb.count[g]!;
    if (na === 0 || nb === 0) {
      const src = na === 0 ? pb : pa;
      for (const key of PARTIAL_ARRAYS) out[key][g] = src[key][g]!;
      continue;
    }
    const n = na + nb;
    const delta = pb.sum[g]! / nb - pa.sum[g]! / na;
    out.count[g] = n;
    out.sum[g] = pa.sum[g]! + pb.sum[g]!;
    out.m2[g] = pa.m2[g]! + pb.m2[g]! + delta * delta * (na * nb / n);
    out.min[g] = Math.min(pa.min[g]!, pb.min[g]!);
    out.max[g] = Math.max(pa.max[g]!, pb.max[g]!);
    const wa = pa.tokens[g]!;
    const wb = pb.tokens[g]!;
    if (wa === 0 || wb === 0) {
      const src = wa === 0 ? pb : pa;
      out.tokens[g] = src.tokens[g]!; out.tokenSum[g] = src.tokenSum[g]!; out.tokenM2[g] = src.tokenM2[g]!;
    } else {
      const w = wa + wb;
      const dw = pb.tokenSum[g]! / wb - pa.tokenSum[g]! / wa;
      out.tokens[g] = w;
      out.tokenSum[g] = pa.tokenSum[g]! + pb.tokenSum[g]!;
      out.tokenM2[g] = pa.tokenM2[g]! + pb.tokenM2[g]! + dw * dw * (wa * wb / w);
    }
  }
  return { ...out, samples: pa.samples + pb.samples, totalTokens: pa.totalTokens + pb.totalTokens };
}

// ---------------------------------------------------------------------------------------------
// Normalizers

/**
 * Per-group normalizers of the merged statistics of the whole batch. Every group must have a sample
 * (E_SHAPE otherwise: an empty group has no baseline).
 */
export function finalizeGroupStats(partial: GroupStatsPartial, options?: GroupEstimatorOptions): GroupNormalizers {
  const p = readPartial(partial, 'partial');
  const cfg = readEstimatorConfig(options, 'options');
  return normalizersFor(p, cfg, 'partial');
}

/** The shared core of finalizeGroupStats and advantages(); `name` is what a data error should blame. */
export function normalizersFor(p: GroupStatsPartial, cfg: EstimatorConfig, name: string): GroupNormalizers {
  const G = p.numGroups;
  if (p.samples === 0) fail('E_SHAPE', name, 'holds no samples');
  for (let g = 0; g < G; g++) if (p.count[g] === 0) fail('E_SHAPE', name, `group ${g} has no samples`);
  if (cfg.estimator === 'reinforce++-baseline') {
    if (!p.weighted) fail('E_SHAPE', `${name}.lengths`, "'reinforce++-baseline' whitens token-weighted: per-sample token counts are required");
    // verl's masked_var raises for fewer than 2 tokens (its Bessel factor S/(S − 1)).
    if (p.totalTokens < 2) fail('E_SHAPE', `${name}.lengths`, `token-weighted whitening needs at least 2 tokens, got ${p.totalTokens}`);
  }
  const mean = new Float64Array(G);
  const std = new Float64Array(G);
  let total = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let g = 0; g < G; g++) {
    const n = p.count[g]!;
    const constant = p.min[g] === p.max[g];
    mean[g] = constant ? p.min[g]! : p.sum[g]! / n;
    std[g] = n > 1 && !constant ? Math.sqrt(p.m2[g]! / (n - 1)) : 0;
    total += p.sum[g]!;
    lo = Math.min(lo, p.min[g]!);
    hi = Math.max(hi, p.max[g]!);
  }
  const N = p.samples;
  const batchMean = lo === hi ? lo : total / N;
  let batchM2 = 0;
  if (lo !== hi) {
    for (let g = 0; g < G; g++) {
      const d = mean[g]! - batchMean;
      batchM2 += (p.min[g] === p.max[g] ? 0 : p.m2[g]!) + p.count[g]! * d * d;
    }
  }
  // torch.std of one value is NaN; verl's rule for a lone sample is σ = 1, TRL's is 0 (reference §6).
  const loneStd = cfg.convention === 'verl' ? 1 : 0;
  const batchStd = N > 1 ? Math.sqrt(batchM2 / (N - 1)) : loneStd;

  const center = new Float64Array(G);
  const divisor = new Float64Array(G);
  const verlLone = (g: number): boolean => p.count[g] === 1 && cfg.convention === 'verl';
  switch (cfg.estimator) {
    case 'grpo':
      // verl: a group of one gets μ = 0, σ = 1; TRL: μ = s, so a = 0 (reference §1.2, §2.2).
      for (let g = 0; g < G; g++) {
        center[g] = verlLone(g) ? 0 : mean[g]!;
        const sigma = verlLone(g) ? 1 : std[g]!;
        divisor[g] = cfg.scale === 'group' ? sigma + cfg.eps : cfg.scale === 'batch' ? batchStd + cfg.eps : 1;
      }
      break;
    case 'rloo':
      // s − mean_{j≠i} s_j = (s − μ)·n/(n − 1); a group of one: verl a = s, TRL a = 0.
      for (let g = 0; g < G; g++) {
        const n = p.count[g]!;
        center[g] = verlLone(g) ? 0 : mean[g]!;
        divisor[g] = n > 1 ? (n - 1) / n : 1;
      }
      if (cfg.normalize) whitenBatch(p, mean, center, divisor, cfg.eps, loneStd);
      break;
    case 'reinforce++-baseline':
      for (let g = 0; g < G; g++) {
        center[g] = verlLone(g) ? 0 : mean[g]!;
        divisor[g] = 1;
      }
      whitenTokens(p, center, divisor, cfg.whitenEps);
      break;
    case 'ngrpo': {
      // k virtual samples of reward r_max join each group's statistics only (reference §3.2).
      const k = cfg.virtualCount;
      const r = cfg.maxReward;
      for (let g = 0; g < G; g++) {
        if (verlLone(g)) {
          center[g] = 0;
          divisor[g] = 1 + cfg.eps;
          continue;
        }
        const n = p.count[g]!;
        const n2 = n + k;
        const constant = p.min[g] === p.max[g] && p.min[g] === r;
        const mu = constant ? r : (p.sum[g]! + k * r) / n2;
        const d = r - mean[g]!;
        const m2 = constant ? 0 : (p.min[g] === p.max[g] ? 0 : p.m2[g]!) + d * d * (k * n / n2);
        center[g] = mu;
        divisor[g] = Math.sqrt(m2 / (n2 - 1)) + cfg.eps;
      }
      break;
    }
  }
  for (const arr of [mean, std, center, divisor, [batchMean, batchStd]]) ensureFinite(arr, name);
  return {
    kind: 'pg-group-normalizers', estimator: cfg.estimator, numGroups: G, samples: N, tokens: p.totalTokens,
    count: p.count.slice(), mean, std, center, divisor, tokenWeighted: cfg.estimator === 'reinforce++-baseline', batchMean, batchStd,
  };
}

/**
 * Whitens a_i = (s_i − c_g)/d_g over the batch, (a − m)/(σ_a + eps), by folding m and σ_a into the
 * normalizers: per group the a's have mean (μ_g − c_g)/d_g and M2 = M2_g/d_g², combined over groups.
 */
function whitenBatch(p: GroupStatsPartial, mean: Float64Array, center: Float64Array, divisor: Float64Array, eps: number, loneStd: number): void {
  const G = p.numGroups;
  const ma = new Float64Array(G);
  let sum = 0;
  for (let g = 0; g < G; g++) {
    ma[g] = (mean[g]! - center[g]!) / divisor[g]!;
    sum += p.count[g]! * ma[g]!;
  }
  const N = p.samples;
  const m = sum / N;
  let m2 = 0;
  for (let g = 0; g < G; g++) {
    const d = ma[g]! - m;
    const own = p.min[g] === p.max[g] ? 0 : p.m2[g]! / (divisor[g]! * divisor[g]!);
    m2 += own + p.count[g]! * d * d;
  }
  const sigma = N > 1 ? Math.sqrt(m2 / (N - 1)) : loneStd;
  for (let g = 0; g < G; g++) {
    center[g] = center[g]! + m * divisor[g]!;
    divisor[g] = divisor[g]! * (sigma + eps);
  }
}

/**
 * verl's masked_whiten of c_i = s_i − c_g broadcast over tokens (reference §1.1, §1.2): the mean and
 * unbiased variance are over all tokens of the batch, so sample i weighs L_i. Per group the weighted
 * mean of c is ν_g − c_g and its weighted M2 is Q_g; divisor = sqrt(var + eps).
 */
function whitenTokens(p: GroupStatsPartial, center: Float64Array, divisor: Float64Array, eps: number): void {
  const G = p.numGroups;
  const S = p.totalTokens;
  const nu = new Float64Array(G);
  let sum = 0;
  for (let g = 0; g < G; g++) {
    const w = p.tokens[g]!;
    if (w === 0) continue;
    nu[g] = p.min[g] === p.max[g] ? p.min[g]! : p.tokenSum[g]! / w;
    sum += w * (nu[g]! - center[g]!);
  }
  const mw = sum / S;
  let m2 = 0;
  for (let g = 0; g < G; g++) {
    const w = p.tokens[g]!;
    if (w === 0) continue;
    const d = nu[g]! - center[g]! - mw;
    m2 += (p.min[g] === p.max[g] ? 0 : p.tokenM2[g]!) + w * d * d;
  }
  const div = Math.sqrt(m2 / (S - 1) + eps);
  for (let g = 0; g < G; g++) {
    center[g] = center[g]! + mw;
    divisor[g] = div;
  }
}

const NORMALIZER_ARRAYS = ['count', 'mean', 'std', 'center', 'divisor'] as const;

function readNormalizers(x: unknown, name: string): GroupNormalizers {
  if (typeof x !== 'object' || x === null || (x as GroupNormalizers).kind !== 'pg-group-normalizers') {
    fail('E_DTYPE', name, `expected normalizers from finalizeGroupStats (kind 'pg-group-normalizers'), got ${describe(x)}`);
  }
  const q = x as GroupNormalizers;
  const numGroups = readInt(q.numGroups, undefined, `${name}.numGroups`, 0, MAX_INT32);
  const arrays = {} as Record<(typeof NORMALIZER_ARRAYS)[number], Float64Array>;
  for (const key of NORMALIZER_ARRAYS) arrays[key] = readScalars(q[key], `${name}.${key}`, numGroups);
  return {
    ...q, numGroups, ...arrays,
    tokenWeighted: readBool(q.tokenWeighted, false, `${name}.tokenWeighted`),
  };
}

/**
 * Advantages of one shard's samples: a_i = (s_i − center[g])/divisor[g], in the rewards' dtype. With
 * token-weighted normalizers, lengths are required and a sample with no tokens gets 0 (it has no
 * token to carry an advantage). A zero divisor (eps = 0 on a constant group) gives 0, not NaN.
 */
export function applyGroupNormalizers<T extends ScalarArray>(shard: GroupShard<T>, normalizers: GroupNormalizers): OutputOf<T> {
  if (typeof shard !== 'object' || shard === null) fail('E_DTYPE', 'shard', `expected {rewards, groups, numGroups, lengths?}, got ${describe(shard)}`);
  const nz = readNormalizers(normalizers, 'normalizers');
  const { rewards, groups, lengths } = readShard(shard, 'shard');
  if (groups.count !== nz.numGroups) fail('E_SHAPE', 'shard.numGroups', `is ${groups.count} but the normalizers have ${nz.numGroups} groups`);
  if (nz.tokenWeighted && lengths === null) fail('E_SHAPE', 'shard.lengths', 'token-weighted normalizers need per-sample token counts');
  const out = allocOutput(shard.rewards, rewards.length);
  applyInto(out, rewards, groups.ids, nz, lengths);
  ensureFinite(out, 'shard.rewards');
  return out;
}

export function applyInto(out: FloatArray, rewards: Float64Array, ids: Int32Array, nz: GroupNormalizers, lengths: Int32Array | null): void {
  for (let i = 0; i < rewards.length; i++) {
    const g = ids[i]!;
    const d = nz.divisor[g]!;
    const zero = d === 0 || (nz.tokenWeighted && lengths !== null && lengths[i] === 0);
    out[i] = zero ? 0 : (rewards[i]! - nz.center[g]!) / d;
  }
}
