/**
 * Mergeable group statistics (docs/pg-advantages.md §5): any split of a batch into shards — random,
 * with empty shards and groups spread over shards — merged in any order, gives the unsharded
 * advantages within f64 rounding, for every group estimator and both conventions.
 *
 * Tolerance. The sharded path computes each group's mean and M2 by Chan et al.'s pairwise update
 * instead of the two-pass sums, and the batch-level terms from merged groups. All are sums of at most
 * M = samples + tokens terms, and any two orders of such a sum differ by at most about M·u times the
 * magnitude of the data (u = 2^−53; Higham, Accuracy and Stability of Numerical Algorithms, §4.2;
 * Chan, Golub & LeVeque 1983 for the pairwise update). An advantage (s − center)/divisor moves by
 * Δcenter/divisor plus |a|·Δdivisor/divisor, so per sample
 *   |a_sharded − a| ≤ 64·M·u·(max|s| + max|center|)/divisor·(1 + |a|),
 * 64 being margin for the constants. Measured over 3000 random batches the worst case was 0.05 of
 * M·u·(…)/divisor·(1 + |a|), about 1300 times inside the bound; a wrong formula errs by O(1).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pgHostApi } from '../../src/pg/host.js';
import type { GroupEstimatorOptions, GroupNormalizers, GroupStatsPartial } from '../../src/pg/shards.js';
import { codeOf } from '../support/errors.js';

const pg = pgHostApi();
const RUNS = Number(process.env.NUMKERN_FUZZ_RUNS ?? 100);
const U = 2 ** -53;

const CONFIGS: GroupEstimatorOptions[] = [
  { estimator: 'grpo' },
  { estimator: 'grpo', convention: 'trl' },
  { estimator: 'grpo', convention: 'trl', scale: 'batch' },
  { estimator: 'grpo', scale: 'batch' },
  { estimator: 'grpo', normalizeStd: false },
  { estimator: 'rloo' },
  { estimator: 'rloo', convention: 'trl', normalize: true },
  { estimator: 'rloo', normalize: true },
  { estimator: 'reinforce++-baseline' },
  { estimator: 'reinforce++-baseline', convention: 'trl' },
  { estimator: 'ngrpo' },
  { estimator: 'ngrpo', convention: 'trl', maxReward: 2, virtualCount: 3 },
];

/** A batch: per group a size and a reward style (binary, small integers, constant, or arbitrary doubles). */
const batchArb = fc.array(
  fc.record({
    size: fc.integer({ min: 1, max: 8 }),
    style: fc.constantFrom('binary', 'int', 'constant', 'double'),
    values: fc.array(fc.double({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), { minLength: 8, maxLength: 8 }),
    lengths: fc.array(fc.integer({ min: 0, max: 20 }), { minLength: 8, maxLength: 8 }),
  }),
  { minLength: 1, maxLength: 8 },
).chain((groups) => {
  const n = groups.reduce((a, g) => a + g.size, 0);
  return fc.record({
    groups: fc.constant(groups),
    order: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    shardOf: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: n, maxLength: n }),
    mergeOrder: fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 }),
    tree: fc.boolean(),
  });
});

interface Batch { rewards: number[]; ids: Int32Array; lengths: number[]; numGroups: number }

function materialize(groups: { size: number; style: string; values: number[]; lengths: number[] }[], order: number[]): Batch {
  const flat: { r: number; g: number; l: number }[] = [];
  groups.forEach((g, gi) => {
    for (let j = 0; j < g.size; j++) {
      const v = g.values[j]!;
      const r = g.style === 'binary' ? (v > 0 ? 1 : 0) : g.style === 'int' ? Math.round(v) : g.style === 'constant' ? g.values[0]! : v;
      flat.push({ r, g: gi, l: g.lengths[j]! });
    }
  });
  const shuffled = order.map((i) => flat[i]!);
  return {
    rewards: shuffled.map((x) => x.r), ids: Int32Array.from(shuffled, (x) => x.g), lengths: shuffled.map((x) => x.l), numGroups: groups.length,
  };
}

function shardedAdvantages(b: Batch, cfg: GroupEstimatorOptions, shardOf: number[], mergeOrder: number[], tree: boolean): Float64Array {
  const members: number[][] = [[], [], [], [], []];
  shardOf.forEach((s, i) => members[s]!.push(i));
  const shards = members.map((idx) => ({
    rewards: Float64Array.from(idx, (i) => b.rewards[i]!),
    groups: Int32Array.from(idx, (i) => b.ids[i]!),
    numGroups: b.numGroups,
    lengths: idx.map((i) => b.lengths[i]!),
  }));
  // Partials travel as plain data: through structuredClone, as an all-gather would deliver them.
  let partials: GroupStatsPartial[] = mergeOrder.map((s) => structuredClone(pg.groupStats(shards[s]!)));
  if (tree) {
    while (partials.length > 1) {
      const next: GroupStatsPartial[] = [];
      for (let j = 0; j < partials.length; j += 2) next.push(j + 1 < partials.length ? pg.mergeGroupStats(partials[j]!, partials[j + 1]!) : partials[j]!);
      partials = next;
    }
  } else {
    partials = [partials.reduce((a, p) => pg.mergeGroupStats(a, p))];
  }
  const nz = pg.finalizeGroupStats(partials[0]!, cfg);
  const out = new Float64Array(b.rewards.length);
  shards.forEach((sh, s) => {
    const a = pg.applyGroupNormalizers(sh, nz);
    members[s]!.forEach((i, j) => { out[i] = a[j]!; });
  });
  return out;
}

function tolerance(b: Batch, nz: GroupNormalizers, a: number, g: number): number {
  const M = b.rewards.length + b.lengths.reduce((x, y) => x + y, 0);
  let scale = 0;
  for (const r of b.rewards) scale = Math.max(scale, Math.abs(r));
  for (const c of nz.center) scale = Math.max(scale, Math.abs(c));
  return (64 * M * U * scale / nz.divisor[g]!) * (1 + Math.abs(a));
}

describe('sharded statistics', () => {
  it('any split into shards merges to the unsharded advantages (every estimator, both conventions)', () => {
    fc.assert(fc.property(batchArb, ({ groups, order, shardOf, mergeOrder, tree }) => {
      const b = materialize(groups, order);
      for (const cfg of CONFIGS) {
        const weighted = cfg.estimator === 'reinforce++-baseline';
        if (weighted && b.lengths.reduce((x, y) => x + y, 0) < 2) continue;
        const full = pg.advantages(b.rewards, { ...cfg, groups: b.ids, numGroups: b.numGroups, ...(weighted ? { lengths: b.lengths } : {}) } as never);
        const sharded = shardedAdvantages(b, cfg, shardOf, mergeOrder, tree);
        const nz = full.normalizers!;
        for (let i = 0; i < b.rewards.length; i++) {
          const a = full.advantages[i]!;
          const err = Math.abs(sharded[i]! - a);
          if (!(err <= tolerance(b, nz, a, b.ids[i]!))) {
            throw new Error(`${JSON.stringify(cfg)} sample ${i}: sharded ${sharded[i]} vs ${a} (error ${err})`);
          }
        }
      }
    }), { numRuns: RUNS });
  });

  it('constant groups stay exactly 0 however they are split', () => {
    const rewards = [0.1, 0.1, 0.1, 0.1, 0.7, 0.3];
    const ids = Int32Array.of(0, 0, 0, 0, 1, 1);
    for (const split of [[0, 1, 0, 1, 0, 1], [0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 0, 0]]) {
      const a = shardedAdvantages({ rewards, ids, lengths: [1, 1, 1, 1, 1, 1], numGroups: 2 }, { estimator: 'grpo' }, split, [0, 1, 2, 3, 4], false);
      expect(Array.from(a.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    }
  });

  it('merging is symmetric bit for bit, and a single shard reproduces advantages() exactly', () => {
    const a = pg.groupStats({ rewards: [0.3, 1.7, 2.2], groups: Int32Array.of(0, 1, 1), numGroups: 3 });
    const b = pg.groupStats({ rewards: Float32Array.of(0.5, 0.25), groups: Int32Array.of(1, 2), numGroups: 3 });
    expect(pg.mergeGroupStats(a, b)).toEqual(pg.mergeGroupStats(b, a));
    const rewards = [0.3, 1.7, 2.2, 0.5, 0.25, 4];
    const ids = Int32Array.of(0, 1, 1, 1, 2, 2);
    const nz = pg.finalizeGroupStats(pg.groupStats({ rewards, groups: ids, numGroups: 3 }), { convention: 'trl' });
    const applied = pg.applyGroupNormalizers({ rewards, groups: ids, numGroups: 3 }, nz);
    expect(Array.from(applied)).toEqual(Array.from(pg.advantages(rewards, { groups: ids, convention: 'trl' }).advantages));
  });

  it('shards by group size: whole consecutive groups from firstGroup', () => {
    const rewards = [1, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1];
    const p1 = pg.groupStats({ rewards: rewards.slice(0, 8), groups: 4, numGroups: 3 });
    const p2 = pg.groupStats({ rewards: rewards.slice(8), groups: 4, firstGroup: 2, numGroups: 3 });
    const nz = pg.finalizeGroupStats(pg.mergeGroupStats(p1, p2));
    const full = pg.advantages(rewards, { groups: 4 });
    expect(Array.from(pg.applyGroupNormalizers({ rewards: rewards.slice(8), groups: 4, firstGroup: 2, numGroups: 3 }, nz)))
      .toEqual(Array.from(full.advantages.subarray(8)));
    expect(nz.std[0]).toBe(full.normalizers!.std[0]);
  });

  it('partials round-trip through JSON (arrays as number[]) and carry the global token count', () => {
    const p = pg.groupStats({ rewards: [1, 0, 1], groups: Int32Array.of(0, 0, 1), numGroups: 2, lengths: [3, 4, 5] });
    expect(p.totalTokens).toBe(12);
    const json = JSON.parse(JSON.stringify(p, (_k, v) => (v instanceof Float64Array ? Array.from(v) : v)));
    const nz = pg.finalizeGroupStats(json, { estimator: 'reinforce++-baseline' });
    expect(nz.tokens).toBe(12);
    expect(nz.tokenWeighted).toBe(true);
    const f32 = pg.applyGroupNormalizers({ rewards: Float32Array.of(1, 0, 1), groups: Int32Array.of(0, 0, 1), numGroups: 2, lengths: [3, 4, 5] }, nz);
    expect(f32).toBeInstanceOf(Float32Array);
  });

  it('rejects mismatched or malformed partials and empty groups', () => {
    const p2 = pg.groupStats({ rewards: [1], groups: Int32Array.of(0), numGroups: 2 });
    const p3 = pg.groupStats({ rewards: [1], groups: Int32Array.of(0), numGroups: 3 });
    const pw = pg.groupStats({ rewards: [1], groups: Int32Array.of(1), numGroups: 2, lengths: [1] });
    const cases: [() => unknown, RegExp][] = [
      [() => pg.mergeGroupStats(p2, p3), /^E_SHAPE b\.numGroups/],
      [() => pg.mergeGroupStats(p2, pw), /^E_RANGE b\.weighted/],
      [() => pg.mergeGroupStats(p2, {} as never), /^E_DTYPE b/],
      [() => pg.mergeGroupStats(p2, { ...p2, count: Float64Array.of(1.5, 0) }), /^E_RANGE b\.count/],
      [() => pg.mergeGroupStats(p2, { ...p2, sum: Float64Array.of(NaN, 0) }), /^E_NONFINITE b\.sum: element 0/],
      [() => pg.mergeGroupStats(p2, { ...p2, samples: 5 }), /^E_SHAPE b\.samples/],
      [() => pg.finalizeGroupStats(p2), /^E_SHAPE partial: group 1 has no samples/],
      [() => pg.finalizeGroupStats(pg.mergeGroupStats(p2, { ...pw, weighted: false, totalTokens: 0 }), { estimator: 'reinforce++-baseline' }), /^E_SHAPE partial\.lengths/],
      [() => pg.finalizeGroupStats(pg.mergeGroupStats(p2, pg.groupStats({ rewards: [1], groups: Int32Array.of(1), numGroups: 2 })), { scale: 'bogus' as never }), /^E_RANGE options\.scale/],
      [() => pg.groupStats({ rewards: [1], groups: Int32Array.of(2), numGroups: 2 }), /^E_RANGE shard\.groups: element 0 is 2/],
      [() => pg.groupStats({ rewards: [1], groups: Int32Array.of(0) } as never), /^E_DTYPE shard\.numGroups/],
      [() => pg.groupStats({ rewards: [1.7e308, 1e308], groups: Int32Array.of(0, 0), numGroups: 1 }), /^E_RANGE shard\.rewards: magnitudes too large/],
      [() => pg.groupStats({ rewards: [1, 2], groups: 2, firstGroup: 2, numGroups: 2 }), /^E_RANGE shard\.numGroups/],
      [() => pg.groupStats({ rewards: [1, 2], groups: Int32Array.of(0, 1), firstGroup: 1, numGroups: 2 }), /^E_RANGE shard\.firstGroup/],
      [() => pg.applyGroupNormalizers({ rewards: [1], groups: Int32Array.of(0), numGroups: 3 }, pg.finalizeGroupStats(pg.groupStats({ rewards: [1, 2], groups: Int32Array.of(0, 1), numGroups: 2 }))), /^E_SHAPE shard\.numGroups/],
      [() => pg.applyGroupNormalizers({ rewards: [1], groups: Int32Array.of(0), numGroups: 1 }, {} as never), /^E_DTYPE normalizers/],
    ];
    for (const [f, re] of cases) expect(codeOf(f)).toMatch(re);
  });
});
