/**
 * The two trainers whose policy loss the façade reproduces (docs/pg.md §7): the defaults each convention
 * sets, and the eight aggregation modes (verl's loss_agg_mode, TRL's loss_type) resolved into the plain
 * PgAggregation a kernel takes. Kernels never see a convention or a mode name.
 */
import { fail } from '../core/errors.js';
import type { PgAggregation } from './ops.js';
import { checkKeys, checkNumber, checkObject, positiveFinite, positiveInteger } from './validate.js';

export type PgConvention = 'verl' | 'trl';
export const CONVENTIONS: readonly PgConvention[] = ['verl', 'trl'];

/** verl's loss_agg_mode values (verl/trainer/ppo/core_algos.py, agg_loss). */
export type VerlAggregation = 'token-mean' | 'seq-mean-token-sum' | 'seq-mean-token-mean' | 'seq-mean-token-sum-norm';
/** TRL's loss_type values (trl/trainer/grpo_trainer.py, _compute_loss). */
export type TrlLossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export type AggregationMode = VerlAggregation | TrlLossType;
export const AGGREGATION_MODES: readonly AggregationMode[] = [
  'token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm', 'grpo', 'bnpo', 'dr_grpo', 'dapo',
];

/**
 * The trainer-side numbers the aggregation may divide by (docs/pg.md §4). Each mode uses some of them;
 * one that no mode of the call uses is an error, not silently dropped.
 */
export interface PgNormalizers {
  /** Token count of the global batch (verl batch_num_tokens, TRL num_items_in_batch); default: the active tokens here. */
  globalTokens?: number;
  /** Sequences of the global batch (verl global_batch_size); default: the sequences here with an active token. */
  globalBatchSize?: number;
  /** verl's seq-mean-token-sum-norm divisor; default: the padded width (ragged: the longest sequence). */
  lossScaleFactor?: number;
  /** TRL dr_grpo's max_completion_length; default: the padded width (ragged: the longest sequence). */
  maxCompletionLength?: number;
  /** Data-parallel world size (verl dp_size, TRL num_processes); default 1. */
  dpSize?: number;
  /** Micro-batches per optimizer step; the loss is divided by it (default 1). */
  gradientAccumulation?: number;
}
const NORMALIZER_KEYS = ['globalTokens', 'globalBatchSize', 'lossScaleFactor', 'maxCompletionLength', 'dpSize', 'gradientAccumulation'] as const;
type NormalizerKey = (typeof NORMALIZER_KEYS)[number];

/** What each convention sets when the caller does not (reference §6; verl actor.yaml, TRL grpo_config.py). */
export interface ConventionDefaults {
  readonly clipLow: number;
  readonly dualClip: number;
  readonly logRatioClamp: number;
  readonly klClamp: boolean;
  readonly aggregation: AggregationMode;
  /** null: the entropy term is aggregated like the loss (verl); otherwise this mode (TRL's token mean). */
  readonly entropyAggregation: AggregationMode | null;
}

export const CONVENTION_DEFAULTS: Readonly<Record<PgConvention, ConventionDefaults>> = {
  verl: { clipLow: 0.2, dualClip: 3, logRatioClamp: 20, klClamp: true, aggregation: 'token-mean', entropyAggregation: null },
  trl: { clipLow: 0.2, dualClip: Infinity, logRatioClamp: Infinity, klClamp: false, aggregation: 'dapo', entropyAggregation: 'bnpo' },
};

/** A resolved aggregation: the kernel's numbers and the mode they came from. */
export interface ResolvedAggregation extends PgAggregation {
  readonly mode: AggregationMode;
}

/** Facts of the layout some defaults come from. */
export interface LayoutFacts {
  readonly nSeq: number;
  /** Padded width T, or the longest ragged sequence. */
  readonly width: number;
}

type Checked = Partial<Record<NormalizerKey, number>>;

export function checkNormalizers(o: unknown): Checked {
  if (o === undefined) return {};
  const n = checkObject(o, 'options.normalizers');
  checkKeys(n, NORMALIZER_KEYS, 'options.normalizers');
  const out: Checked = {};
  for (const k of NORMALIZER_KEYS) {
    if (n[k] === undefined) continue;
    const integer = k === 'dpSize' || k === 'maxCompletionLength';
    out[k] = checkNumber(n[k], `options.normalizers.${k}`, integer ? positiveInteger : positiveFinite, integer ? 'a positive integer' : 'a positive finite number');
  }
  return out;
}

/**
 * One mode's PgAggregation (docs/pg.md §4, table 4.1) and the normalizers it read. loss = scale ·
 * Σ_i Σ_t m·ℓ / (D · len_i) with:
 *  verl (core_algos.py agg_loss): token-mean D = batch_num_tokens, scale = dp_size; seq-mean-token-sum(-mean)
 *  D = global_batch_size over sequences with a token, scale = dp_size, len_i = L_i + 1e-8 for -mean;
 *  seq-mean-token-sum-norm D = loss_scale_factor (default T). The legacy dp_actor path divides every
 *  mode by the gradient accumulation.
 *  TRL (grpo_trainer.py): grpo len_i = max(L_i, 1), D = B; bnpo D = max(Σm, 1); dr_grpo D = B · max_completion_length,
 *  all three / gradient_accumulation_steps; dapo D = num_items_in_batch / num_processes.
 */
export function resolveAggregation(mode: AggregationMode, n: Checked, facts: LayoutFacts): { agg: ResolvedAggregation; used: NormalizerKey[] } {
  const ga = n.gradientAccumulation ?? 1;
  const dp = n.dpSize ?? 1;
  const T = Math.max(facts.width, 1);
  const make = (perSequenceMean: boolean, lengthFloor: 'eps' | 'one', denominator: PgAggregation['denominator'], scale: number, used: NormalizerKey[]) =>
    ({ agg: { mode, perSequenceMean, lengthFloor, denominator, scale }, used });
  switch (mode) {
    case 'token-mean':
      return make(false, 'eps', n.globalTokens ?? 'tokens', dp / ga, ['globalTokens', 'dpSize', 'gradientAccumulation']);
    case 'seq-mean-token-sum':
      return make(false, 'eps', n.globalBatchSize ?? 'sequences', dp / ga, ['globalBatchSize', 'dpSize', 'gradientAccumulation']);
    case 'seq-mean-token-mean':
      return make(true, 'eps', n.globalBatchSize ?? 'sequences', dp / ga, ['globalBatchSize', 'dpSize', 'gradientAccumulation']);
    case 'seq-mean-token-sum-norm':
      return make(false, 'eps', n.lossScaleFactor ?? T, 1 / ga, ['lossScaleFactor', 'gradientAccumulation']);
    case 'grpo':
      return make(true, 'one', 'all-sequences', 1 / ga, ['gradientAccumulation']);
    case 'bnpo':
      return make(false, 'one', 'tokens', 1 / ga, ['gradientAccumulation']);
    case 'dr_grpo':
      return make(false, 'one', Math.max(facts.nSeq, 1) * (n.maxCompletionLength ?? T), 1 / ga, ['maxCompletionLength', 'gradientAccumulation']);
    case 'dapo':
      return make(false, 'one', n.globalTokens ?? 'tokens', dp, ['globalTokens', 'dpSize']);
  }
}

/** E_RANGE for a normalizer none of the call's aggregations reads (it would change nothing, which is never what was meant). */
export function checkNormalizersUsed(n: Checked, used: ReadonlySet<NormalizerKey>, modes: readonly AggregationMode[]): void {
  for (const k of NORMALIZER_KEYS) {
    if (n[k] !== undefined && !used.has(k)) {
      fail('E_RANGE', `options.normalizers.${k}`, `is not used by aggregation ${modes.map((m) => `'${m}'`).join(' / ')} (docs/pg.md §4 lists which normalizer each mode reads)`);
    }
  }
}
