/**
 * The pg family's host-side helpers as one object for `ctx.pg` (docs/pg-advantages.md): advantage
 * estimators, the SPO tracker, selection helpers and mergeable shard statistics. They work on O(N)
 * per-sample scalars in f64 on the host, where a kernel dispatch would cost more than the work, so
 * they need no engine and return their results directly (synchronously, like ctx.relax.prepare).
 */
import { advantages } from './advantages.js';
import { sequenceMeans } from './groups.js';
import { d3sTokenSelect, gtpoConflicts, knapsackBudget, knapsackValue, maxVarianceSubset } from './select.js';
import { applyGroupNormalizers, finalizeGroupStats, groupStats, mergeGroupStats } from './shards.js';
import { SpoTracker, spoDivergence, type SpoTrackerOptions } from './spo.js';

export function pgHostApi() {
  return {
    /** Per-sample (per-token for 'gae') advantages by estimator: grpo, rloo, reinforce++-baseline, ngrpo, gae, drpo, spo. */
    advantages,
    /** Mergeable per-group statistics of one shard of a batch. */
    groupStats,
    /** Chan et al.'s pairwise merge of two partials (any order, any tree). */
    mergeGroupStats,
    /** Per-group means, stds and advantage normalizers from the merged statistics of the whole batch. */
    finalizeGroupStats,
    /** A shard's advantages from the finalized normalizers. */
    applyGroupNormalizers,
    /** A new SPO Beta tracker (per-prompt success estimates with KL-adaptive forgetting). */
    spoTracker: (options?: SpoTrackerOptions): SpoTracker => new SpoTracker(options),
    /** Restores an SPO tracker from toJSON(); it continues bit-identically. */
    spoTrackerFromJSON: (state: unknown): SpoTracker => SpoTracker.fromJSON(state),
    /** SPO's D: mean |Δ log p| of a stored response between its generating and the current policy. */
    spoDivergence,
    /** Per-sequence means over active positions (mean old log-prob, mean entropy). */
    sequenceMeans,
    /** PODS / D³S max-variance k-subset, optionally per group. */
    maxVarianceSubset,
    /** D³S token selection by |A|·H (UNVERIFIED beyond the abstract). */
    d3sTokenSelect,
    /** GTPO conflict masks, token weights and shaped advantages. */
    gtpoConflicts,
    /** Knapsack-RL rollout allocation from per-prompt success rates. */
    knapsackBudget,
    /** Knapsack-RL's Value(N, p). */
    knapsackValue,
  };
}

export type PgHostApi = ReturnType<typeof pgHostApi>;
