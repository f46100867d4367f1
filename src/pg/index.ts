/** The pg family's public names: policy-loss and log-prob options and results, conventions, the op contract's types. */
export type {
  KlEstimatorName, PgClipOptions, PgEntropyOptions, PgKlOptions, PgLossConfig, PgLossInput, PgLossOptions, PgLossResult,
} from './loss.js';
export type {
  TokenLogprobsBackwardOptions, TokenLogprobsBackwardResult, TokenLogprobsOptions, TokenLogprobsResult,
} from './logprobs.js';
export type { PgLayoutInput } from './layout.js';
export type { AggregationMode, PgConvention, PgNormalizers, ResolvedAggregation, TrlLossType, VerlAggregation } from './conventions.js';
export { AGGREGATION_MODES, CONVENTION_DEFAULTS } from './conventions.js';
export type { PgOpOptions } from './validate.js';
export type { KlEstimator, PgAggregation, PgLossArray, PgLossStats } from './ops.js';
export { PG_LOSS_ARRAYS } from './ops.js';
export type { PgApi } from './api.js';
export { SpoTracker } from './spo.js';
export type {
  AdvantageEstimator, AdvantageOptions, AdvantagesResult, UnlikelinessOptions,
} from './advantages.js';
export type { GroupEstimator, GroupEstimatorOptions, GroupNormalizers, GroupShard, GroupStatsPartial } from './shards.js';
export type { PromptId, SpoTrackerOptions, SpoTrackerState } from './spo.js';
export type {
  GtpoOptions, GtpoResult, KnapsackOptions, KnapsackResult, MaxVarianceResult, TokenSelectOptions,
} from './select.js';
export type { GroupSpec, OutputOf, ScalarArray, TokenLayoutInput } from './groups.js';
export type { PgHostApi } from './host.js';
