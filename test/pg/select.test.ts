/**
 * Selection helpers (docs/pg-advantages.md §6): max-variance subsets against exhaustive search, D³S
 * token selection against a sort, GTPO conflicts on a hand-worked group, Knapsack-RL allocations
 * against brute force (including the k = 0 quirk) and the fallback paths.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumkernError } from '../../src/core/errors.js';
import { pgHostApi } from '../../src/pg/host.js';
import { codeOf } from '../support/errors.js';

const pg = pgHostApi();
const RUNS = Number(process.env.NUMKERN_FUZZ_RUNS ?? 200);

function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1);
}

/** The largest unbiased variance over all k-subsets, by enumeration. */
function bruteMaxVariance(xs: readonly number[], k: number): number {
  let best = k < 2 ? 0 : -Infinity;
  const n = xs.length;
  for (let bits = 0; bits < 1 << n; bits++) {
    let c = 0;
    for (let b = bits; b; b &= b - 1) c++;
    if (c !== k) continue;
    best = Math.max(best, variance(xs.filter((_, i) => (bits >> i) & 1)));
  }
  return best;
}

describe('maxVarianceSubset', () => {
  it('matches exhaustive search for n ≤ 12', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.double({ min: -100, max: 100, noNaN: true })), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      (xs, kSeed) => {
        const k = kSeed % (xs.length + 1);
        const r = pg.maxVarianceSubset(xs, k);
        expect(r.indices.length).toBe(k);
        expect(new Set(r.indices).size).toBe(k);
        const got = variance(Array.from(r.indices, (i) => xs[i]!));
        expect(r.variance[0]).toBeCloseTo(got, 9);
        const best = bruteMaxVariance(xs, k);
        // Both are sums of at most 12 squares of values ≤ 100: agreement to 1e-12 relative to their scale.
        expect(Math.abs(got - best)).toBeLessThanOrEqual(1e-12 * Math.max(1, best));
      },
    ), { numRuns: RUNS });
  });

  it('binary rewards: min(k/2, #pos) positives, the rest negatives', () => {
    const r = pg.maxVarianceSubset([1, 1, 1, 0, 0, 0, 0, 0], 4);
    expect(Array.from(r.indices).map((i) => [1, 1, 1, 0, 0, 0, 0, 0][i])).toEqual([1, 1, 0, 0]);
    expect(r.variance[0]).toBeCloseTo(1 / 3, 15);
  });

  it('per group, k from each group, each group at its own maximum', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: -10, max: 10, noNaN: true }), { minLength: 12, maxLength: 12 }),
      fc.integer({ min: 0, max: 4 }),
      (xs, k) => {
        const r = pg.maxVarianceSubset(xs, k, { groups: 4 });
        expect(r.indices.length).toBe(3 * k);
        for (let g = 0; g < 3; g++) {
          const own = Array.from(r.indices).filter((i) => Math.floor(i / 4) === g);
          expect(own.length).toBe(k);
          const best = bruteMaxVariance(xs.slice(4 * g, 4 * g + 4), k);
          expect(Math.abs(variance(own.map((i) => xs[i]!)) - best)).toBeLessThanOrEqual(1e-12 * Math.max(1, best));
        }
      },
    ), { numRuns: RUNS });
  });

  it('rejects k above the smallest group', () => {
    expect(codeOf(() => pg.maxVarianceSubset([1, 2, 3], 4))).toMatch(/^E_RANGE k/);
    expect(codeOf(() => pg.maxVarianceSubset([1, 2, 3, 4], 3, { groups: 2 }))).toMatch(/^E_RANGE k/);
  });
});

describe('d3sTokenSelect', () => {
  // Two sequences of widths 3 and 4; the second is 3 long and its middle token is masked.
  const layout = { offsets: Int32Array.of(0, 3, 7), lengths: Int32Array.of(3, 3), mask: Uint8Array.of(1, 1, 1, 1, 0, 1, 1) };
  const H = [0.5, 2, 1, 3, 9, 0.1, 99];

  it('keeps the largest |A|·H over the batch, ties to the lower position', () => {
    // Scores: seq 0 (A = −1): 0.5, 2, 1; seq 1 (A = 2): 6, –, 0.2; position 6 is padding.
    const r = pg.d3sTokenSelect([-1, 2], H, layout, { keepRatio: 0.6 });
    // 5 active tokens, ⌈0.6·5⌉ = 3: scores 6, 2, 1.
    expect(Array.from(r.mask)).toEqual([0, 1, 1, 1, 0, 0, 0]);
    expect(r.kept).toBe(3);
    const tie = pg.d3sTokenSelect([1, 1], [1, 1, 1, 1, 0, 1, 0], layout, { keepRatio: 0.4 });
    expect(Array.from(tie.mask)).toEqual([1, 1, 0, 0, 0, 0, 0]);
  });

  it('per sequence, and ⌈ratio·count⌉ forgives 0.3·10 = 3.0000000000000004', () => {
    const r = pg.d3sTokenSelect([-1, 2], H, layout, { keepRatio: 0.5, scope: 'sequence' });
    expect(Array.from(r.mask)).toEqual([0, 1, 1, 1, 0, 0, 0]);
    const ten = { offsets: Int32Array.of(0, 10) };
    const s = pg.d3sTokenSelect([1], Array.from({ length: 10 }, (_, i) => i), ten, { keepRatio: 0.3 });
    expect(s.kept).toBe(3);
    expect(Array.from(s.mask)).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
  });

  it('agrees with a full sort on random inputs (per-token advantages)', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: -3, max: 3 }), fc.integer({ min: 0, max: 4 }), fc.boolean()), { minLength: 1, maxLength: 40 }),
      fc.double({ min: 0.01, max: 1, noNaN: true }),
      (toks, ratio) => {
        const n = toks.length;
        const lay = { offsets: Int32Array.of(0, n), mask: Uint8Array.from(toks, (t) => (t[2] ? 1 : 0)) };
        const r = pg.d3sTokenSelect(toks.map((t) => t[0]), toks.map((t) => t[1]), lay, { keepRatio: ratio, advantagePerToken: true });
        const active = toks.map((t, i) => ({ i, s: Math.abs(t[0]) * t[1], on: t[2] })).filter((t) => t.on);
        const k = Math.min(active.length, Math.ceil(ratio * active.length - 1e-9 * Math.max(1, ratio * active.length)));
        const want = new Set(active.sort((a, b) => b.s - a.s || a.i - b.i).slice(0, k).map((t) => t.i));
        expect(Array.from(r.mask)).toEqual(toks.map((_, i) => (want.has(i) ? 1 : 0)));
      },
    ), { numRuns: RUNS });
  });

  it('rejects bad input', () => {
    expect(codeOf(() => pg.d3sTokenSelect([1, 1], H, layout, { keepRatio: 0 }))).toMatch(/^E_RANGE options\.keepRatio/);
    expect(codeOf(() => pg.d3sTokenSelect([1], H, layout, { keepRatio: 1 }))).toMatch(/^E_SHAPE advantages/);
    expect(codeOf(() => pg.d3sTokenSelect([1, 1], H.slice(1), layout, { keepRatio: 1 }))).toMatch(/^E_SHAPE entropy/);
    expect(codeOf(() => pg.d3sTokenSelect([1, 1], [NaN, ...H.slice(1)], layout, { keepRatio: 1 }))).toMatch(/^E_NONFINITE entropy: element 0/);
  });
});

describe('gtpoConflicts', () => {
  // One group of four: c0 (A > 0) 5 6 7 9; c1 (A < 0) 5 6 8 9; c2 (A < 0) 5 1 2 3 9; c3 (A = 0) 5 6 7 9.
  // A second group holds c4 (A > 0) alone: no negative, so no conflict.
  const tokens = Int32Array.of(5, 6, 7, 9, 5, 6, 8, 9, 5, 1, 2, 3, 9, 5, 6, 7, 9, 5, 6);
  const layout = { offsets: Int32Array.of(0, 4, 8, 13, 17, 19) };
  const groups = Int32Array.of(0, 0, 0, 0, 1);
  const A = [1, -0.5, -0.5, 0, 1];

  it('leading forward and backward runs, weights W for A > 0 and 0 for A < 0', () => {
    const r = pg.gtpoConflicts(tokens, A, layout, groups);
    // Forward: t = 0 (5) is shared by all signs; t = 1: 6 is in c0 and c1 (c2 has 1 → its run ends); t = 2 differs.
    expect(Array.from(r.forward)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Backward: the last token 9 is shared; the one before (7 / 8 / 3) is not.
    expect(Array.from(r.backward)).toEqual([0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(r.weights)).toEqual([2, 2, 1, 2, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(r.conflicts)).toEqual([3, 3, 2, 0, 0]);
    const third = 1 / 3;
    expect(Array.from(r.tokenAdvantages)).toEqual([
      2 * third, 2 * third, third, 2 * third, -0, -0, -0.5 / 3, -0, -0, -0.25, -0.25, -0.25, -0, 0, 0, 0, 0, 1, 1,
    ]);
  });

  it('entropy filter and shaping (A − 0.1·H̄ if H̄ ≤ 0.7, else 0), conflict signs from before shaping', () => {
    const H = [0.5, 0.5, 0.5, 0.5, 0.8, 0.8, 0.8, 0.8, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.4, 0.4];
    const r = pg.gtpoConflicts(tokens, A, layout, groups, { entropy: H });
    expect(r.meanEntropy![1]).toBeCloseTo(0.8, 15);
    expect(r.advantages[0]).toBeCloseTo(0.95, 15);
    expect(r.advantages[1]).toBe(0);
    expect(r.advantages[2]).toBeCloseTo(-0.52, 15);
    // The code shapes every completion, so an A = 0 one ends slightly negative.
    expect(r.advantages[3]).toBeCloseTo(-0.01, 15);
    expect(Array.from(r.forward)).toEqual(Array.from(pg.gtpoConflicts(tokens, A, layout, groups).forward));
    expect(r.tokenAdvantages[13]).toBeCloseTo(-0.01, 15);
  });

  it('a masked position never conflicts and ends the run', () => {
    const mask = new Uint8Array(19).fill(1);
    mask[0] = 0;
    const r = pg.gtpoConflicts(tokens, A, { ...layout, mask }, groups);
    expect(Array.from(r.forward.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(r.weights[0]).toBe(0);
  });

  it('rejects bad input', () => {
    expect(codeOf(() => pg.gtpoConflicts(Int32Array.of(1), A, layout, groups))).toMatch(/^E_SHAPE tokens/);
    expect(codeOf(() => pg.gtpoConflicts(tokens, [1], layout, groups))).toMatch(/^E_SHAPE advantages/);
    expect(codeOf(() => pg.gtpoConflicts(tokens, A, layout, Int32Array.of(0, 0, 0, 0)))).toMatch(/^E_SHAPE groups/);
  });
});

describe('knapsackBudget', () => {
  /** Best quirk objective (k = 0 worth 0) over all extra-unit vectors summing to W, each ≤ K. */
  function bruteQuirk(ps: number[], minN: number, K: number, W: number): number {
    let best = -Infinity;
    const rec = (j: number, left: number, acc: number): void => {
      if (j === ps.length) {
        if (left === 0) best = Math.max(best, acc);
        return;
      }
      for (let k = 0; k <= Math.min(K, left); k++) rec(j + 1, left - k, acc + (k === 0 ? 0 : pg.knapsackValue(k + minN, ps[j]!)));
    };
    rec(0, W, 0);
    return best;
  }

  it('the DP reaches the exhaustive optimum of its objective and spends the whole budget', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 19 }).map((x) => x / 20), { minLength: 1, maxLength: 3 }),
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 10 }),
      (ps, K, extra) => {
        const minN = 2;
        const budget = ps.length * minN + extra;
        const r = pg.knapsackBudget(ps, { minN, maxN: minN + K, budget, fallback: false });
        expect(r.allocation.reduce((a, b) => a + b, 0)).toBe(budget);
        const usable = Math.min(extra, ps.length * K);
        const got = Array.from(r.allocation).reduce((acc, a, j) => {
          const k = Math.min(a - minN, K);
          return acc + (k === 0 ? 0 : pg.knapsackValue(k + minN, ps[j]!));
        }, 0);
        expect(got).toBeCloseTo(bruteQuirk(ps, minN, K, usable), 14);
      },
    ), { numRuns: RUNS });
  });

  it('k = 0 is worth 0 (the code’s quirk), which changes the answer', () => {
    // p = (0.5, 0.1), 2 extra units, ≤ 2 each. Quirk: (1, 1) = 0.09375 + 0.02187 beats (2, 0) = 0.109375.
    // Counting V(minN, p) for k = 0 would pick (2, 0) (0.109375 + 0.01458 > 0.11562).
    const r = pg.knapsackBudget([0.5, 0.1], { minN: 2, maxN: 4, budget: 6, fallback: false });
    expect(Array.from(r.allocation)).toEqual([3, 3]);
    expect(pg.knapsackValue(3, 0.5)).toBe(0.09375);
  });

  it('ties keep fewer units, then earlier prompts', () => {
    expect(Array.from(pg.knapsackBudget([0.5, 0.5], { minN: 2, maxN: 3, budget: 5 }).allocation)).toEqual([3, 2]);
  });

  it('fallback: budget beyond the effective prompts’ estimated cost goes to p = 0 prompts', () => {
    // Base 2 + 2 + 2, remaining 18; cost(0.5) = ln 0.1/ln 0.5 = 3.32 → 3 < 18: 15 go to the p = 0 prompt, the DP gets 3.
    const r = pg.knapsackBudget([0.5, 0, 1]);
    expect(Array.from(r.allocation)).toEqual([5, 17, 2]);
    expect(r.fallback).toBe(true);
    expect(r.fallbackEffectiveRatio).toBeCloseTo(3 / 18, 15);
    // 'expectation': 1/(0.25) − 1 = 3 as well.
    expect(Array.from(pg.knapsackBudget([0.5, 0, 1], { costEstimation: 'expectation' }).allocation)).toEqual([5, 17, 2]);
  });

  it('no effective prompt: p = 0 prompts take the rest; otherwise an even split; unknown prompts get n', () => {
    expect(Array.from(pg.knapsackBudget([0, 1]).allocation)).toEqual([14, 2]);
    expect(Array.from(pg.knapsackBudget([1, 1]).allocation)).toEqual([8, 8]);
    expect(Array.from(pg.knapsackBudget([0.5, 0.5], { known: [true, false], fallback: false, budget: 12 }).allocation)).toEqual([4, 8]);
  });

  it('units past every cap are spread over the effective prompts (past maxN, as the code does)', () => {
    expect(Array.from(pg.knapsackBudget([0.5], { minN: 2, maxN: 3, budget: 10, fallback: false }).allocation)).toEqual([10]);
  });

  it('rejects bad input', () => {
    expect(codeOf(() => pg.knapsackBudget([0.5, 1.5]))).toMatch(/^E_RANGE successRates: element 1/);
    expect(codeOf(() => pg.knapsackBudget([0.5, 0.5], { budget: 3 }))).toMatch(/^E_RANGE options\.budget: 3 is below the base allocation 4/);
    expect(codeOf(() => pg.knapsackBudget([0.5], { minN: 4, maxN: 3 }))).toMatch(/^E_RANGE options\.maxN/);
    expect(codeOf(() => pg.knapsackBudget([0.5], { minN: 200, budget: 300 }))).toMatch(/^E_RANGE options\.maxN: 128 \(the default\) is below minN = 200/);
    expect(codeOf(() => pg.knapsackBudget([0.5], { known: [true, true] }))).toMatch(/^E_SHAPE options\.known/);
  });
});

describe('sequenceMeans', () => {
  it('means over active positions, 0 for none', () => {
    const m = pg.sequenceMeans([-1, -3, 7, -2], { offsets: Int32Array.of(0, 3, 4, 4), mask: Uint8Array.of(1, 1, 0, 1) });
    expect(Array.from(m)).toEqual([-2, -2, 0]);
  });
});

describe('fuzz', () => {
  const value = fc.oneof(
    fc.anything(), fc.constantFrom(NaN, Infinity, -1, 0, 1, 0.5, 3, 200),
    fc.array(fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()), { maxLength: 8 }),
    fc.array(fc.integer({ min: -1, max: 8 }), { maxLength: 8 }).map((a) => Int32Array.from(a)),
    fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 8 }).map((a) => Uint8Array.from(a)),
    fc.constant({ offsets: Int32Array.of(0, 2, 4) }),
  );
  const calls: ((a: unknown[]) => unknown)[] = [
    (a) => pg.maxVarianceSubset(a[0] as never, a[1] as never, a[2] as never),
    (a) => pg.d3sTokenSelect(a[0] as never, a[1] as never, a[2] as never, a[3] as never),
    (a) => pg.gtpoConflicts(a[0] as never, a[1] as never, a[2] as never, a[3] as never, a[4] as never),
    (a) => pg.knapsackBudget(a[0] as never, a[1] as never),
    (a) => pg.sequenceMeans(a[0] as never, a[1] as never, a[2] as never),
    (a) => pg.groupStats(a[0] as never),
    (a) => pg.mergeGroupStats(a[0] as never, a[1] as never),
    (a) => pg.finalizeGroupStats(a[0] as never, a[1] as never),
  ];

  it('random arguments give a result or a NumkernError, never another exception', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: calls.length - 1 }), fc.array(value, { minLength: 5, maxLength: 5 }), (which, args) => {
      try {
        calls[which]!(args);
      } catch (e) {
        if (!(e instanceof NumkernError)) throw e;
      }
    }), { numRuns: Number(process.env.NUMKERN_FUZZ_RUNS ?? 300) });
  });
});
