/**
 * ctx.pg.policyLoss: validates a batch of per-token log-probs, resolves the convention (verl or TRL),
 * clip, KL, entropy and aggregation options into the plain numbers of PgLossArgs (src/pg/ops.ts),
 * allocates the gradients in the input dtype and dispatches one fused pass. No arithmetic on the tokens
 * here: formulas are in docs/pg.md §2–§4, the oracle in src/backends/js/pg/loss.ts.
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { allocLike, dtypeOf, type BackendName, type FloatArray } from '../core/types.js';
import { checkFloatArray } from '../core/validate.js';
import {
  AGGREGATION_MODES, CONVENTION_DEFAULTS, CONVENTIONS, checkNormalizers, checkNormalizersUsed, resolveAggregation,
  type AggregationMode, type PgConvention, type PgNormalizers, type ResolvedAggregation,
} from './conventions.js';
import { resolveLayout, type PgLayoutInput, type ResolvedLayout } from './layout.js';
import type { KlEstimator, PgLossArgs, PgLossArray, PgLossStats } from './ops.js';
import {
  checkBoolean, checkChoice, checkKeys, checkNumber, checkObject, checkOperand, checkPgOpOptions, nonFinite, positiveFinite, type PgOpOptions,
} from './validate.js';

export interface PgLossInput<T extends FloatArray = FloatArray> extends PgLayoutInput {
  /** log π_θ of each sampled token (the value the gradient is taken with respect to). */
  logp: T;
  /** log π_old, from the rollout policy. */
  oldLogp: T;
  /** log π_ref, needed with options.kl. */
  refLogp?: T;
  /** One per sequence, or one per position (input.advantagePerToken, or decided by length). */
  advantages: T;
}

/** PPO clip: r is clipped to [1 − low, 1 + high]; DAPO's clip-higher is {low: 0.2, high: 0.28}. */
export interface PgClipOptions {
  /** Default 0.2 (verl clip_ratio, TRL epsilon). */
  low?: number;
  /** Default: low (TRL epsilon_high = None, verl clip_ratio_high = clip_ratio). */
  high?: number;
  /** Dual-clip constant c > 1 for negative advantages, or false for none. Default: verl 3, TRL false. */
  dual?: number | false;
}

/** verl's names are accepted for the estimators: 'kl' (k1), 'mse' (k2), 'low_var_kl' (k3). */
export type KlEstimatorName = KlEstimator | 'kl' | 'mse' | 'low_var_kl';
const KL_ALIASES: Readonly<Record<KlEstimatorName, KlEstimator>> = { k1: 'k1', abs: 'abs', k2: 'k2', k3: 'k3', kl: 'k1', mse: 'k2', low_var_kl: 'k3' };

export interface PgKlOptions {
  estimator: KlEstimatorName;
  /** verl kl_loss_coef, TRL beta; ≥ 0. */
  coef: number;
  /** k3 only: verl's clamps (argument to ±20, value to ≤ 10, gradient 0 where active). Default: verl true, TRL false. */
  clamp?: boolean;
}

export interface PgEntropyOptions<T extends FloatArray = FloatArray> {
  /** Per-token entropy H (from tokenLogprobs), in the layout of logp. */
  values: T;
  /** The loss gets −coef·agg(H) (verl entropy_coeff). */
  coef: number;
  /** Default: verl aggregates H like the loss; TRL takes a token mean ('bnpo'). */
  aggregation?: AggregationMode;
}

export interface PgLossOptions<T extends FloatArray = FloatArray> extends PgOpOptions {
  /** Whose defaults and formulas (docs/pg.md §7); default 'verl'. */
  convention?: PgConvention;
  clip?: PgClipOptions;
  /** TRL's delta (INTELLECT-2): the unclipped ratio is capped at this. Default none. */
  ratioCap?: number;
  /** |logp − old| is clamped to this before exp; default verl 20, TRL Infinity (none). */
  logRatioClamp?: number;
  kl?: PgKlOptions;
  entropy?: PgEntropyOptions<T>;
  /** verl loss_agg_mode or TRL loss_type; default verl 'token-mean', TRL 'dapo'. */
  aggregation?: AggregationMode;
  normalizers?: PgNormalizers;
  /** Skip the non-finite check at masked and padding positions (their values never enter the loss). Default false. */
  ignoreMaskedNonFinite?: boolean;
  /** Write the gradients into these (length and dtype of logp; not sharing memory with an input), e.g. buffers reused every step. */
  out?: { grad?: T; gradEntropy?: T };
}

/** What ran, every default filled in (Infinity = none). */
export interface PgLossConfig {
  readonly convention: PgConvention;
  readonly layout: 'ragged' | 'padded';
  readonly sequences: number;
  /** Padded width, or the longest ragged sequence. */
  readonly width: number;
  readonly advantagePerToken: boolean;
  readonly clipLow: number;
  readonly clipHigh: number;
  readonly dualClip: number;
  readonly ratioCap: number;
  readonly logRatioClamp: number;
  readonly kl: { readonly estimator: KlEstimator; readonly coef: number; readonly clamp: boolean } | null;
  readonly entropyCoef: number | null;
  readonly aggregation: ResolvedAggregation;
  readonly entropyAggregation: ResolvedAggregation | null;
  readonly ignoreMaskedNonFinite: boolean;
}

export interface PgLossResult<T extends FloatArray = FloatArray> {
  loss: number;
  /** ∂loss/∂logp, in the layout and dtype of logp (0 at masked and padding positions). */
  grad: T;
  /** ∂loss/∂H, with options.entropy: the upstream gradient tokenLogprobsBackward takes. */
  gradEntropy?: T;
  stats: PgLossStats;
  backend: BackendName;
  config: PgLossConfig;
}

const OPTION_KEYS = ['convention', 'clip', 'ratioCap', 'logRatioClamp', 'kl', 'entropy', 'aggregation', 'normalizers', 'ignoreMaskedNonFinite', 'out'];

/** Where each array the kernel checks lives in the call, for the E_NONFINITE message. */
const ARRAY_NAMES: Readonly<Record<PgLossArray, string>> = {
  logp: 'input.logp', oldLogp: 'input.oldLogp', refLogp: 'input.refLogp', advantages: 'input.advantages', entropy: 'options.entropy.values',
};

export async function policyLoss<T extends FloatArray>(engine: Engine, input: PgLossInput<T>, options?: PgLossOptions<T>): Promise<PgLossResult<T>> {
  const o = checkPgOpOptions<PgLossOptions<T>>(options, OPTION_KEYS);
  const inp = checkObject(input, 'input') as unknown as PgLossInput<T>;
  const logp = checkFloatArray(inp.logp, 'input.logp') as T;
  const dtype = dtypeOf(logp);
  const n = logp.length;
  const oldLogp = checkOperand(inp.oldLogp, dtype, n, 'input.oldLogp');
  const advantagesIn = checkFloatArray(inp.advantages, 'input.advantages');
  const layout = resolveLayout(inp, n, advantagesIn.length);
  const advantages = checkOperand(advantagesIn, dtype, layout.advantagePerToken ? n : layout.nSeq, 'input.advantages');
  const refLogp = inp.refLogp === undefined ? null : checkOperand(inp.refLogp, dtype, n, 'input.refLogp');

  const convention = o.convention === undefined ? 'verl' : checkChoice(o.convention, CONVENTIONS, 'options.convention');
  const d = CONVENTION_DEFAULTS[convention];
  const clip = resolveClip(o.clip, d.clipLow, d.dualClip);
  const ratioCap = o.ratioCap === undefined ? Infinity : checkNumber(o.ratioCap, 'options.ratioCap', positiveFinite, 'a positive finite number');
  const logRatioClamp = o.logRatioClamp === undefined ? d.logRatioClamp : checkNumber(o.logRatioClamp, 'options.logRatioClamp', (x) => x > 0, 'a positive number (Infinity for none)');
  const kl = resolveKl(o.kl, d.klClamp);
  if (kl && refLogp === null) fail('E_SHAPE', 'input.refLogp', 'is needed with options.kl (the KL is taken against the reference policy)');
  const entropy = resolveEntropy(o.entropy, dtype, n);
  const ignore = checkBoolean(o.ignoreMaskedNonFinite, 'options.ignoreMaskedNonFinite') ?? false;

  const normalizers = checkNormalizers(o.normalizers);
  const mode = o.aggregation === undefined ? d.aggregation : checkChoice(o.aggregation, AGGREGATION_MODES, 'options.aggregation');
  const entropyMode = entropy ? (entropy.aggregation ?? d.entropyAggregation ?? mode) : null;
  const facts = { nSeq: layout.nSeq, width: layout.width };
  const main = resolveAggregation(mode, normalizers, facts);
  const ent = entropyMode === null ? null : resolveAggregation(entropyMode, normalizers, facts);
  checkNormalizersUsed(normalizers, new Set([...main.used, ...(ent?.used ?? [])]), entropyMode === null || entropyMode === mode ? [mode] : [mode, entropyMode]);

  // Caller-owned outputs: a trainer reuses them every step. Fresh memory is paid for at first touch
  // (page faults cost ~12 µs a page on the development VM: ~0.1 s for 8M f32 gradients), far more than
  // the pass itself, so `out` is how a hot loop avoids it.
  const out = o.out === undefined ? {} : (checkObject(o.out, 'options.out') as { grad?: unknown; gradEntropy?: unknown });
  checkKeys(out, ['grad', 'gradEntropy'], 'options.out');
  const inputs = [logp, oldLogp, advantages, refLogp, entropy?.values ?? null];
  const output = (v: unknown, name: string): T => {
    const a = checkOperand(v, dtype, n, name) as T;
    if (inputs.some((x) => x !== null && x.buffer === a.buffer)) fail('E_SHAPE', name, 'shares memory with an input; the kernel reads the inputs while it writes the gradient');
    return a;
  };
  const grad = out.grad === undefined ? (allocLike(logp, n) as T) : output(out.grad, 'options.out.grad');
  const gradEntropy = !entropy ? null : out.gradEntropy === undefined ? (allocLike(logp, n) as T) : output(out.gradEntropy, 'options.out.gradEntropy');
  if (gradEntropy !== null && gradEntropy.buffer === grad.buffer) fail('E_SHAPE', 'options.out.gradEntropy', 'shares memory with options.out.grad');
  const args: PgLossArgs = {
    offsets: layout.offsets, lengths: layout.lengths, mask: layout.mask,
    logp, oldLogp, refLogp: kl ? refLogp : null, advantages, advantagePerToken: layout.advantagePerToken,
    clipLow: clip.low, clipHigh: clip.high, dualClip: clip.dual, ratioCap, logRatioClamp,
    klEstimator: kl?.estimator ?? null, klCoef: kl?.coef ?? 0, klClamp: kl?.clamp ?? false,
    entropy: entropy?.values ?? null, entropyCoef: entropy?.coef ?? 0,
    aggregation: main.agg, entropyAggregation: ent?.agg ?? main.agg,
    ignoreInactiveNonFinite: ignore, grad, gradEntropy,
  };
  const r = await engine.run('pgPolicyLoss', args, { dtype, size: n, backend: o.backend, strict: o.strict, signal: o.signal, onProgress: o.onProgress });
  const bad = r.value.nonFinite;
  if (bad) {
    const arrays: Record<PgLossArray, FloatArray | null> = { logp, oldLogp, refLogp, advantages, entropy: entropy?.values ?? null };
    const value = arrays[bad.array]?.[bad.index] ?? NaN;
    nonFinite(ARRAY_NAMES[bad.array], bad.index, value, where(layout, bad.array === 'advantages' && !layout.advantagePerToken, bad.index));
  }
  // Finite inputs can still overflow where nothing clamps them (TRL's convention leaves exp(logp − old)
  // and k3's exp(ref − logp) unclamped): a ratio of +∞ makes the loss or a statistic ∞ or NaN. Every
  // such token enters the loss or the ratio mean, so checking those numbers catches it, and nothing
  // computed from it is returned.
  const st = r.value.stats;
  if (![r.value.loss, st.ratioMean, st.approxKl, st.klMean, st.entropyMean, st.policyLoss, st.klLoss, st.entropyLoss].every(Number.isFinite)) {
    fail('E_RANGE', 'logp', `the loss overflowed (loss ${r.value.loss}, ratio mean ${st.ratioMean}, KL mean ${st.klMean}): ` +
      `exp(logp − oldLogp)${kl ? ' or the KL estimator' : ''} is not representable for some token; clamp the log-ratio (logRatioClamp, as verl's 20)` +
      `${kl?.estimator === 'k3' && !kl.clamp ? ' or use kl.clamp' : ''}`);
  }
  const config: PgLossConfig = {
    convention, layout: layout.kind, sequences: layout.nSeq, width: layout.width, advantagePerToken: layout.advantagePerToken,
    clipLow: clip.low, clipHigh: clip.high, dualClip: clip.dual, ratioCap, logRatioClamp, kl,
    entropyCoef: entropy?.coef ?? null, aggregation: main.agg, entropyAggregation: ent?.agg ?? null, ignoreMaskedNonFinite: ignore,
  };
  return { loss: r.value.loss, grad, ...(gradEntropy ? { gradEntropy } : {}), stats: r.value.stats, backend: r.backend, config };
}

/** " (sequence i, position t)" for a per-token index, " (sequence i)" for a per-sequence one. */
function where(layout: ResolvedLayout, perSequence: boolean, index: number): string {
  if (perSequence) return ` (sequence ${index})`;
  let lo = 0;
  let hi = layout.nSeq - 1;
  // The last sequence whose start is ≤ index (empty sequences share their start with the next one).
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (layout.offsets[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return ` (sequence ${lo}, position ${index - layout.offsets[lo]!})`;
}

function resolveClip(c: unknown, defaultLow: number, defaultDual: number): { low: number; high: number; dual: number } {
  if (c === undefined) return { low: defaultLow, high: defaultLow, dual: defaultDual };
  const clip = checkObject(c, 'options.clip');
  checkKeys(clip, ['low', 'high', 'dual'], 'options.clip');
  const low = clip.low === undefined ? defaultLow : checkNumber(clip.low, 'options.clip.low', (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  const high = clip.high === undefined ? low : checkNumber(clip.high, 'options.clip.high', (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0');
  let dual = defaultDual;
  if (clip.dual === false) dual = Infinity;
  else if (clip.dual !== undefined) {
    // verl asserts clip_ratio_c > 1: at c ≤ 1 the dual bound would cut below the unclipped loss at r = 1.
    dual = checkNumber(clip.dual, 'options.clip.dual', (x) => Number.isFinite(x) && x > 1, 'a finite number > 1, or false for no dual clip');
  }
  return { low, high, dual };
}

function resolveKl(k: unknown, defaultClamp: boolean): { estimator: KlEstimator; coef: number; clamp: boolean } | null {
  if (k === undefined) return null;
  const kl = checkObject(k, 'options.kl');
  checkKeys(kl, ['estimator', 'coef', 'clamp'], 'options.kl');
  const estimator = KL_ALIASES[checkChoice(kl.estimator, Object.keys(KL_ALIASES) as KlEstimatorName[], 'options.kl.estimator')];
  const coef = checkNumber(kl.coef, 'options.kl.coef', (x) => Number.isFinite(x) && x >= 0, 'a finite number ≥ 0');
  const clampGiven = checkBoolean(kl.clamp, 'options.kl.clamp');
  if (clampGiven === true && estimator !== 'k3') fail('E_RANGE', 'options.kl.clamp', `only k3 has clamps (verl low_var_kl); estimator is ${estimator}`);
  const clamp = estimator === 'k3' ? (clampGiven ?? defaultClamp) : false;
  return { estimator, coef, clamp };
}

function resolveEntropy<T extends FloatArray>(e: unknown, dtype: 'f32' | 'f64', n: number): { values: T; coef: number; aggregation: AggregationMode | undefined } | null {
  if (e === undefined) return null;
  const ent = checkObject(e, 'options.entropy');
  checkKeys(ent, ['values', 'coef', 'aggregation'], 'options.entropy');
  const values = checkOperand(ent.values, dtype, n, 'options.entropy.values') as T;
  const coef = checkNumber(ent.coef, 'options.entropy.coef', Number.isFinite, 'a finite number');
  const aggregation = ent.aggregation === undefined ? undefined : checkChoice(ent.aggregation, AGGREGATION_MODES, 'options.entropy.aggregation');
  return { values, coef, aggregation };
}
