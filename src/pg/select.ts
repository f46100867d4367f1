/**
 * Selection helpers for RL batches, all host-side (docs/pg-advantages.md §6): max-variance rollout
 * down-sampling (PODS / D³S sample level), D³S token selection by |A|·H, GTPO conflict-token masks
 * and weights, and Knapsack-RL rollout budgets. Reference §3.5, §3.6, §3.8.
 */
import { fail } from '../core/errors.js';
import { checkAttached, describe } from '../core/validate.js';
import {
  activeCounts, ensureFinite, forEachActive, readBool, readChoice, readInt, readLayout, readNumber, readOptions, readScalars, readTokenScalars,
  resolveGroups,
  type GroupSpec, type ScalarArray, type TokenLayout, type TokenLayoutInput,
} from './groups.js';

// ---------------------------------------------------------------------------------------------
// Max-variance subset (PODS, Xu et al. arXiv 2504.13818; D³S sample level, reference §3.5)

export interface MaxVarianceResult {
  /** Chosen sample indices, ascending. */
  indices: Int32Array;
  /** Unbiased variance of each group's chosen values (one entry without groups; 0 when k ≤ 1). */
  variance: Float64Array;
}

/**
 * The k-subset of largest variance, per group when groups are given (k from every group). PODS: once
 * sorted, a max-variance k-subset is the i largest plus the k − i smallest for some i, so only k + 1
 * candidates are evaluated: O(n log n). Ties between equal values are broken by sample index, and
 * between equally good candidates by the fewest largest values. D³S selects by Var(A) the same way;
 * its subset sizes and schedule are UNVERIFIED (only its abstract was available, reference §3.5).
 */
export function maxVarianceSubset(values: ScalarArray, k: number, options?: { groups?: GroupSpec; numGroups?: number }): MaxVarianceResult {
  const v = readScalars(values, 'values');
  const opts = readOptions<{ groups?: GroupSpec; numGroups?: number }>(options, 'options');
  const n = v.length;
  const groups = opts.groups === undefined
    ? { count: 1, start: Int32Array.of(0, n), members: Int32Array.from({ length: n }, (_, i) => i) }
    : resolveGroups(opts.groups, n, 'options.groups', { numGroups: opts.numGroups });
  let smallest = n;
  for (let g = 0; g < groups.count; g++) smallest = Math.min(smallest, groups.start[g + 1]! - groups.start[g]!);
  readInt(k, undefined, 'k', 0, smallest);
  const chosen: number[] = [];
  const variance = new Float64Array(groups.count);
  for (let g = 0; g < groups.count; g++) {
    const idx = Array.from(groups.members.subarray(groups.start[g]!, groups.start[g + 1]!));
    const pick = maxVarianceOf(v, idx, k);
    variance[g] = unbiasedVariance(v, pick);
    chosen.push(...pick);
  }
  ensureFinite(variance, 'values');
  return { indices: Int32Array.from(chosen).sort(), variance };
}

function maxVarianceOf(v: Float64Array, idx: number[], k: number): number[] {
  const m = idx.length;
  if (k === 0) return [];
  idx.sort((a, b) => v[a]! - v[b]! || a - b);
  // Centring first keeps the prefix-sum comparison free of the cancellation the raw Σx² − (Σx)²/k would suffer.
  let mean = 0;
  for (const i of idx) mean += v[i]!;
  mean /= m;
  const P = new Float64Array(m + 1);
  const Q = new Float64Array(m + 1);
  for (let j = 0; j < m; j++) {
    const c = v[idx[j]!]! - mean;
    P[j + 1] = P[j]! + c;
    Q[j + 1] = Q[j]! + c * c;
  }
  let best = -Infinity;
  let bestI = 0;
  for (let i = 0; i <= k; i++) {
    const s = P[k - i]! + (P[m]! - P[m - i]!);
    const q = Q[k - i]! + (Q[m]! - Q[m - i]!);
    const score = q - (s * s) / k;
    if (score > best) {
      best = score;
      bestI = i;
    }
  }
  return [...idx.slice(0, k - bestI), ...idx.slice(m - bestI)];
}

function unbiasedVariance(v: Float64Array, idx: readonly number[]): number {
  if (idx.length < 2) return 0;
  let s = 0;
  for (const i of idx) s += v[i]!;
  const mean = s / idx.length;
  let m2 = 0;
  for (const i of idx) m2 += (v[i]! - mean) ** 2;
  return m2 / (idx.length - 1);
}

// ---------------------------------------------------------------------------------------------
// D³S token selection (Wang et al., arXiv 2509.22115; reference §3.5 — UNVERIFIED beyond the abstract)

export interface TokenSelectOptions {
  /** Fraction of active tokens to keep, in (0, 1]: k = ⌈keepRatio·count⌉ per scope. UNVERIFIED: the paper's ratios and schedule are unknown. */
  keepRatio: number;
  /** Rank over the whole batch (default) or within each sequence. */
  scope?: 'batch' | 'sequence';
  /** Advantages are per position of the layout rather than per sequence. */
  advantagePerToken?: boolean;
  ignoreInactiveNonFinite?: boolean;
}

/**
 * Keeps the active tokens with the largest |A|·H (H the policy's entropy at the token); ties go to the
 * lower position. The returned mask (1 = kept, always a subset of the active positions) can be the
 * policy loss's mask. UNVERIFIED: only the D³S abstract was available (reference §3.5, §7).
 */
export function d3sTokenSelect(advantages: ScalarArray, entropy: ScalarArray, layout: TokenLayoutInput, options: TokenSelectOptions): { mask: Uint8Array; kept: number } {
  const lay = readLayout(layout, 'layout');
  const opts = readOptions<TokenSelectOptions>(options, 'options');
  const keepRatio = readNumber(opts.keepRatio, undefined, 'options.keepRatio', { lo: 0, hi: 1, loOpen: true });
  const scope = readChoice(opts.scope, ['batch', 'sequence'] as const, 'batch', 'options.scope');
  const perToken = readBool(opts.advantagePerToken, false, 'options.advantagePerToken');
  const ignore = readBool(opts.ignoreInactiveNonFinite, false, 'options.ignoreInactiveNonFinite');
  const A = perToken ? readTokenScalars(advantages, 'advantages', lay, ignore) : readScalars(advantages, 'advantages', lay.nSeq);
  const H = readTokenScalars(entropy, 'entropy', lay, ignore);
  const score = new Float64Array(lay.total);
  forEachActive(lay, (k, i) => { score[k] = Math.abs(perToken ? A[k]! : A[i]!) * H[k]!; });
  const mask = new Uint8Array(lay.total);
  let kept = 0;
  if (scope === 'batch') {
    const pos: number[] = [];
    forEachActive(lay, (k) => { pos.push(k); });
    kept += keepTop(score, pos, keepCount(keepRatio, pos.length), mask);
  } else {
    const per: number[][] = Array.from({ length: lay.nSeq }, () => []);
    forEachActive(lay, (k, i) => { per[i]!.push(k); });
    for (const pos of per) kept += keepTop(score, pos, keepCount(keepRatio, pos.length), mask);
  }
  return { mask, kept };
}

/** ⌈ratio·count⌉, forgiving the rounding of products like 0.3·10 = 3.0000000000000004. */
function keepCount(ratio: number, count: number): number {
  const x = ratio * count;
  return Math.min(count, Math.ceil(x - 1e-9 * Math.max(1, x)));
}

/** Marks the k highest-scoring positions (ascending position among equal scores); `pos` is ascending. */
function keepTop(score: Float64Array, pos: readonly number[], k: number, mask: Uint8Array): number {
  if (k <= 0) return 0;
  const sorted = Float64Array.from(pos, (p) => score[p]!).sort();
  const threshold = sorted[pos.length - k]!;
  let above = 0;
  for (const p of pos) if (score[p]! > threshold) above++;
  let ties = k - above;
  for (const p of pos) {
    if (score[p]! > threshold) mask[p] = 1;
    else if (score[p] === threshold && ties > 0) {
      mask[p] = 1;
      ties--;
    }
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// GTPO conflict tokens (Simoni et al., arXiv 2508.03772; winstonsmith1897/GTPO gtpo/gtpo_training.py; reference §3.6)

export interface GtpoOptions {
  numGroups?: number;
  /** Per-token entropy of π_θ: enables the filter and shaping A ← A − entropyScale·H̄ if H̄ ≤ entropyThreshold, else 0. */
  entropy?: ScalarArray;
  /** W_RAW (2), ENT_THRESHOLD (0.7, the paper's "provable threshold" is this constant in code), ENT_SCALE (0.1). */
  conflictWeight?: number;
  entropyThreshold?: number;
  entropyScale?: number;
  ignoreInactiveNonFinite?: boolean;
}

export interface GtpoResult {
  /** 1 at positions in the leading run of forward (prefix) / backward (suffix) conflicts. */
  forward: Uint8Array;
  backward: Uint8Array;
  /** δ = δ_fwd·δ_bwd ∈ {0, 1, W, W²} at active positions (1 for completions with A = 0), 0 elsewhere. */
  weights: Float64Array;
  /** Conflict positions (forward or backward) per completion; the loss divides by max(conflicts, 1). */
  conflicts: Int32Array;
  /** Mean entropy per completion (null without entropy) and the shaped advantages (a copy without entropy). */
  meanEntropy: Float64Array | null;
  advantages: Float64Array;
  /**
   * A_g·δ_t / max(conflicts_g, 1) at active positions: with ratio 1 (on-policy) and aggregation
   * {perSequenceMean: true, lengthFloor: 'one', denominator: 1, scale: 1}, pgPolicyLoss then has the
   * GTPO loss's gradient (per completion Σ_t −A·δ·ratio·m / L, divided by the conflicts, summed).
   */
  tokenAdvantages: Float64Array;
}

/**
 * GTPO's conflict masks per group among completions with A ≠ 0: position t of a completion is a raw
 * conflict when its token id occurs at t in some A > 0 and some A < 0 completion; only the leading run
 * counts (a shared prefix). Backward: the same with completions right-aligned at their last token
 * (t counted from lengths[i] − 1), a shared suffix. A conflict weighs conflictWeight for A > 0 and 0 for
 * A < 0. Here only active positions take part and an inactive one ends a run (the code compares
 * padded ids and assumes a prefix mask).
 */
export function gtpoConflicts(tokens: Int32Array, advantages: ScalarArray, layout: TokenLayoutInput, groups: GroupSpec, options?: GtpoOptions): GtpoResult {
  const lay = readLayout(layout, 'layout');
  if (!(tokens instanceof Int32Array)) fail('E_DTYPE', 'tokens', `expected an Int32Array, got ${describe(tokens)}`);
  checkAttached(tokens, 'tokens');
  if (tokens.length !== lay.total) fail('E_SHAPE', 'tokens', `expected length offsets[nSeq] = ${lay.total}, got ${tokens.length}`);
  const A = readScalars(advantages, 'advantages', lay.nSeq);
  const opts = readOptions<GtpoOptions>(options, 'options');
  const grp = resolveGroups(groups, lay.nSeq, 'groups', { numGroups: opts.numGroups });
  const W = readNumber(opts.conflictWeight, 2, 'options.conflictWeight', { lo: 0 });
  const thr = readNumber(opts.entropyThreshold, 0.7, 'options.entropyThreshold');
  const scale = readNumber(opts.entropyScale, 0.1, 'options.entropyScale');
  const ignore = readBool(opts.ignoreInactiveNonFinite, false, 'options.ignoreInactiveNonFinite');
  const H = opts.entropy === undefined ? null : readTokenScalars(opts.entropy, 'options.entropy', lay, ignore);

  const active = new Uint8Array(lay.total);
  forEachActive(lay, (k) => { active[k] = 1; });
  const forward = new Uint8Array(lay.total);
  const backward = new Uint8Array(lay.total);
  for (let g = 0; g < grp.count; g++) {
    const members = Array.from(grp.members.subarray(grp.start[g]!, grp.start[g + 1]!)).filter((i) => A[i] !== 0);
    leadingConflicts(lay, tokens, active, A, members, false, forward);
    leadingConflicts(lay, tokens, active, A, members, true, backward);
  }
  const weights = new Float64Array(lay.total);
  const conflicts = new Int32Array(lay.nSeq);
  forEachActive(lay, (k, i) => {
    if (A[i] === 0) {
      weights[k] = 1;
      return;
    }
    const onConflict = A[i]! > 0 ? W : 0;
    weights[k] = (forward[k] ? onConflict : 1) * (backward[k] ? onConflict : 1);
    if (forward[k] || backward[k]) conflicts[i]!++;
  });
  let meanEntropy: Float64Array | null = null;
  const shaped = A.slice();
  if (H !== null) {
    meanEntropy = new Float64Array(lay.nSeq);
    const cnt = activeCounts(lay);
    forEachActive(lay, (k, i) => { meanEntropy![i]! += H[k]!; });
    for (let i = 0; i < lay.nSeq; i++) {
      // The code divides by max(Σm, 1) and shapes every completion, A = 0 ones included.
      meanEntropy[i] = meanEntropy[i]! / Math.max(cnt[i]!, 1);
      shaped[i] = meanEntropy[i]! <= thr ? A[i]! - scale * meanEntropy[i]! : 0;
    }
  }
  const tokenAdvantages = new Float64Array(lay.total);
  forEachActive(lay, (k, i) => { tokenAdvantages[k] = (shaped[i]! * weights[k]!) / Math.max(conflicts[i]!, 1); });
  ensureFinite(shaped, 'advantages');
  ensureFinite(tokenAdvantages, 'advantages');
  return { forward, backward, weights, conflicts, meanEntropy, advantages: shaped, tokenAdvantages };
}

/** Marks the leading run of raw conflicts of each member (forward from t = 0, or backward from its last token). */
function leadingConflicts(lay: TokenLayout, tokens: Int32Array, active: Uint8Array, A: Float64Array, members: number[], fromEnd: boolean, out: Uint8Array): void {
  const at = (i: number, t: number): number => lay.offsets[i]! + (fromEnd ? lay.lengths[i]! - 1 - t : t);
  let running = members.filter((i) => lay.lengths[i]! > 0);
  for (let t = 0; running.length > 0; t++) {
    // The token sets at t come from every member (signed) holding an active position t, run or not.
    const pos = new Set<number>();
    const neg = new Set<number>();
    for (const i of members) {
      if (t >= lay.lengths[i]!) continue;
      const k = at(i, t);
      if (active[k]) (A[i]! > 0 ? pos : neg).add(tokens[k]!);
    }
    running = running.filter((i) => {
      if (t >= lay.lengths[i]!) return false;
      const k = at(i, t);
      if (!active[k] || !pos.has(tokens[k]!) || !neg.has(tokens[k]!)) return false;
      out[k] = 1;
      return true;
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Knapsack-RL budgets (Li et al., arXiv 2509.25849; liziniu/KnapsackRL exploration_utils.py; reference §3.8)

export interface KnapsackOptions {
  /** Rollouts per prompt by default (8): prompts without history get n, and the budget defaults to prompts·n. */
  n?: number;
  budget?: number;
  /** Base for 0 < p < 1 (2), cap per prompt (128), and the bases for p = 0 and p = 1 (default minN). */
  minN?: number;
  maxN?: number;
  negativeN?: number;
  positiveN?: number;
  /** Which prompts have a success-rate estimate (default all). */
  known?: Uint8Array | readonly boolean[];
  /** Fallback cost: 'probability' ln(1 − α)/ln(max(p, 1 − p)) (default, α = 0.9) or 'expectation' 1/(p(1 − p)) − 1. */
  costEstimation?: 'probability' | 'expectation';
  alpha?: number;
  /** Move budget the effective prompts cannot use to p = 0 prompts (else the others) before the DP (default true). */
  fallback?: boolean;
}

export interface KnapsackResult {
  /** Rollouts per prompt; sums to the budget. */
  allocation: Int32Array;
  fallback: boolean;
  /** Estimated cost over the remaining budget when the fallback fired, else 1. */
  fallbackEffectiveRatio: number;
}

/** Value(N, p) = (1 − p^N − (1 − p)^N)·p(1 − p)²: P(non-zero GRPO gradient) times the InfoGain proxy. */
export function knapsackValue(N: number, p: number): number {
  return (1 - p ** N - (1 - p) ** N) * p * (1 - p) ** 2;
}

const DP_CELL_LIMIT = 2 ** 24;

/**
 * Rollout counts per prompt from success rates p (sampling_budget_by_knapsack). Effective prompts
 * (0 < p < 1) start at minN, the rest at their base; a DP then spreads the remaining units over the
 * effective prompts, k extra units worth Value(k + minN, p) for k ≥ 1 and **0 for k = 0** (the
 * code's quirk, not Value(minN, p)); ties keep fewer units, then earlier prompts. Units the DP cannot
 * place (each prompt takes at most maxN − minN) are spread evenly over the effective prompts, even
 * past maxN, as the code does.
 */
export function knapsackBudget(successRates: ScalarArray, options?: KnapsackOptions): KnapsackResult {
  const p = readScalars(successRates, 'successRates');
  const B = p.length;
  for (let i = 0; i < B; i++) if (!(p[i]! >= 0 && p[i]! <= 1)) fail('E_RANGE', 'successRates', `element ${i} is ${p[i]}; a success rate lies in [0, 1]`);
  const opts = readOptions<KnapsackOptions>(options, 'options');
  const n = readInt(opts.n, 8, 'options.n', 0, 2 ** 31 - 1);
  const budget = readInt(opts.budget, B * n, 'options.budget', 0, 2 ** 31 - 1);
  const minN = readInt(opts.minN, 2, 'options.minN', 0, 65535);
  const maxN = readInt(opts.maxN, 128, 'options.maxN', 0, minN + 65535);
  if (maxN < minN) fail('E_RANGE', 'options.maxN', `${maxN}${opts.maxN === undefined ? ' (the default)' : ''} is below minN = ${minN}`);
  const negN = readInt(opts.negativeN, minN, 'options.negativeN', 0, 2 ** 31 - 1);
  const posN = readInt(opts.positiveN, minN, 'options.positiveN', 0, 2 ** 31 - 1);
  const costKind = readChoice(opts.costEstimation, ['probability', 'expectation'] as const, 'probability', 'options.costEstimation');
  const alpha = readNumber(opts.alpha, 0.9, 'options.alpha', { lo: 0, hi: 1, loOpen: true, hiOpen: true });
  const allowFallback = readBool(opts.fallback, true, 'options.fallback');
  const known = readKnown(opts.known, B);

  const alloc = new Int32Array(B);
  const eff: number[] = [];
  const zero: number[] = [];
  const cost = new Float64Array(B);
  let base = 0;
  for (let i = 0; i < B; i++) {
    if (!known[i]) alloc[i] = n;
    else if (p[i]! > 0 && p[i]! < 1) {
      alloc[i] = minN;
      eff.push(i);
      cost[i] = costKind === 'probability' ? Math.log(1 - alpha) / Math.log(Math.max(p[i]!, 1 - p[i]!)) : 1 / (p[i]! * (1 - p[i]!)) - 1;
    } else if (p[i] === 0) {
      alloc[i] = negN;
      zero.push(i);
    } else alloc[i] = posN;
    base += alloc[i]!;
  }
  let remaining = budget - base;
  if (remaining < 0) fail('E_RANGE', 'options.budget', `${budget} is below the base allocation ${base} (minN/negativeN/positiveN/n per prompt)`);
  let fallback = false;
  let ratio = 1;
  if (remaining > 0 && eff.length === 0) {
    // Nothing to optimize: p = 0 prompts take the rest; without any, the code resets every prompt to n,
    // which is this even split when the budget is the default prompts·n.
    if (zero.length > 0) spread(alloc, zero, remaining);
    else {
      alloc.fill(0);
      spread(alloc, Array.from({ length: B }, (_, i) => i), budget);
    }
    return { allocation: alloc, fallback, fallbackEffectiveRatio: ratio };
  }
  let estimated = 0;
  for (const i of eff) estimated += Math.floor(Math.min(maxN, cost[i]!));
  if (allowFallback && estimated < remaining) {
    const effSet = new Set(eff);
    const candidates = zero.length > 0 ? zero : Array.from({ length: B }, (_, i) => i).filter((i) => !effSet.has(i));
    // With every prompt effective the code divides by zero here; there is nobody to move the budget to.
    if (candidates.length > 0) {
      fallback = true;
      ratio = estimated / remaining;
      spread(alloc, candidates, remaining - estimated);
      remaining = estimated;
    }
  }
  if (remaining > 0) {
    const K = maxN - minN;
    const usable = Math.min(remaining, eff.length * K);
    if (eff.length * (usable + 1) > DP_CELL_LIMIT) {
      fail('E_RANGE', 'options.budget', `the exact DP over ${eff.length} prompts and ${usable} units needs ${eff.length * (usable + 1)} cells, above the ${DP_CELL_LIMIT} limit`);
    }
    const extra = knapsackDp(eff.map((i) => p[i]!), minN, K, usable);
    eff.forEach((i, j) => { alloc[i]! += extra[j]!; });
    spread(alloc, eff, remaining - usable);
  }
  return { allocation: alloc, fallback, fallbackEffectiveRatio: ratio };
}

function readKnown(x: unknown, B: number): Uint8Array {
  if (x === undefined) return new Uint8Array(B).fill(1);
  if (!(x instanceof Uint8Array) && !Array.isArray(x)) fail('E_DTYPE', 'options.known', `expected a Uint8Array or boolean[], got ${describe(x)}`);
  const src = x as ArrayLike<unknown>;
  if (src.length !== B) fail('E_SHAPE', 'options.known', `expected length ${B}, got ${src.length}`);
  return Uint8Array.from({ length: B }, (_, i) => (src[i] ? 1 : 0));
}

/** Adds `amount` evenly over `idx`, the first (amount mod |idx|) getting one more (the code's split). */
function spread(alloc: Int32Array, idx: readonly number[], amount: number): void {
  if (amount <= 0 || idx.length === 0) return;
  const each = Math.floor(amount / idx.length);
  const rest = amount % idx.length;
  idx.forEach((i, j) => { alloc[i]! += each + (j < rest ? 1 : 0); });
}

/** Exact multiple-choice knapsack filling exactly W units; the code's order of comparisons decides ties. */
function knapsackDp(p: readonly number[], minN: number, K: number, W: number): Int32Array {
  const m = p.length;
  const choice = new Uint16Array(m * (W + 1));
  let prev = new Float64Array(W + 1).fill(-Infinity);
  prev[0] = 0;
  const gain = new Float64Array(K + 1);
  for (let j = 0; j < m; j++) {
    for (let k = 1; k <= K; k++) gain[k] = knapsackValue(k + minN, p[j]!);
    const cur = new Float64Array(W + 1);
    for (let w = 0; w <= W; w++) {
      let best = prev[w]!;
      let c = 0;
      const top = Math.min(K, w);
      for (let k = 1; k <= top; k++) {
        const v = prev[w - k]! + gain[k]!;
        if (v > best) {
          best = v;
          c = k;
        }
      }
      cur[w] = best;
      choice[j * (W + 1) + w] = c;
    }
    prev = cur;
  }
  const out = new Int32Array(m);
  let w = W;
  for (let j = m - 1; j >= 0; j--) {
    const k = choice[j * (W + 1) + w]!;
    out[j] = k;
    w -= k;
  }
  return out;
}
