/**
 * Advantage estimators (docs/pg-advantages.md §2–§4) on hand-worked cases under both conventions; the
 * expected numbers are written out (worked by hand from the reference formulas, digits from a
 * calculator), plus edge cases and the input checks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumkernError } from '../../src/core/errors.js';
import { pgHostApi } from '../../src/pg/host.js';
import { codeOf } from '../support/errors.js';

const pg = pgHostApi();

function close(actual: ArrayLike<number>, expected: readonly number[], digits = 12): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((x, i) => expect(actual[i]).toBeCloseTo(x, digits));
}

describe('grpo', () => {
  // Group [1, 0, 1, 1]: μ = 0.75, deviations (0.25, −0.75, 0.25, 0.25), M2 = 0.75, σ = sqrt(0.75/3) = 0.5.
  it('verl: (s − μ)/(σ + 1e-6)', () => {
    const r = pg.advantages([1, 0, 1, 1], { groups: 4 });
    close(r.advantages, [0.499999000002, -1.499997000006, 0.499999000002, 0.499999000002]);
    expect(r.normalizers!.mean[0]).toBe(0.75);
    expect(r.normalizers!.std[0]).toBe(0.5);
    expect(r.advantages).toBeInstanceOf(Float64Array);
  });

  it('trl: eps 1e-4', () => {
    const r = pg.advantages(Float64Array.of(1, 0, 1, 1), { groups: 4, convention: 'trl' });
    close(r.advantages, [0.4999000199960008, -1.4997000599880024, 0.4999000199960008, 0.4999000199960008]);
  });

  it('Float32Array rewards give Float32Array advantages', () => {
    const r = pg.advantages(Float32Array.of(1, 0, 1, 1), { groups: 4 });
    expect(r.advantages).toBeInstanceOf(Float32Array);
    expect(r.advantages[1]).toBe(Math.fround(-1.499997000006));
  });

  it('all-equal groups give exactly 0, however the mean rounds', () => {
    // 0.1·3 sums to 0.30000000000000004 and /3 to 0.10000000000000002: the constant-group rule keeps 0 exact.
    for (const convention of ['verl', 'trl'] as const) {
      const r = pg.advantages([0.1, 0.1, 0.1, 1, 0, 1], { groups: 3, convention });
      expect(Array.from(r.advantages.subarray(0, 3))).toEqual([0, 0, 0]);
      expect(r.advantages[3]).toBeGreaterThan(0);
    }
  });

  it('groups of one: verl μ = 0, σ = 1 (a = s/(1 + ε)); TRL a = 0', () => {
    const ids = Int32Array.of(0, 1, 1);
    expect(pg.advantages([0.7, 1, 0], { groups: ids }).advantages[0]).toBeCloseTo(0.6999993000007, 14);
    expect(pg.advantages([0.7, 1, 0], { groups: ids, convention: 'trl' }).advantages[0]).toBe(0);
    expect(pg.advantages([0.7, 1, 0], { groups: ids, normalizeStd: false }).advantages[0]).toBe(0.7);
  });

  it('Dr.GRPO (normalizeStd: false) is s − μ, the same as scale: none', () => {
    const a = pg.advantages([1, 0, 1, 1], { groups: 4, normalizeStd: false }).advantages;
    expect(Array.from(a)).toEqual([0.25, -0.75, 0.25, 0.25]);
    expect(Array.from(pg.advantages([1, 0, 1, 1], { groups: 4, scale: 'none' }).advantages)).toEqual(Array.from(a));
  });

  it("TRL scale 'batch': group mean, std of the whole batch (sqrt(2/7) here)", () => {
    const r = pg.advantages([1, 0, 1, 1, 0, 0, 0, 1], { groups: 4, convention: 'trl', scale: 'batch' });
    close(r.advantages, [
      0.4676196897134318, -1.4028590691402953, 0.4676196897134318, 0.4676196897134318,
      -0.4676196897134318, -0.4676196897134318, -0.4676196897134318, 1.4028590691402953,
    ]);
    expect(r.normalizers!.batchStd).toBeCloseTo(0.5345224838248488, 15);
  });

  it('per-sample group ids in any order equal the permuted consecutive layout', () => {
    const rewards = [0.3, 0.9, 0.1, 0.5, 0.2, 0.8];
    const ids = Int32Array.of(1, 0, 1, 0, 0, 1);
    const a = pg.advantages(rewards, { groups: ids }).advantages;
    const byGroup = pg.advantages([0.9, 0.5, 0.2, 0.3, 0.1, 0.8], { groups: 3 }).advantages;
    expect([a[1], a[3], a[4], a[0], a[2], a[5]]).toEqual(Array.from(byGroup));
  });
});

describe('rloo', () => {
  it('s_i − mean of the others; group of one: verl a = s, TRL 0', () => {
    close(pg.advantages([1, 0, 1, 1], { groups: 4, estimator: 'rloo' }).advantages, [1 / 3, -1, 1 / 3, 1 / 3], 15);
    close(pg.advantages([1, 0, 1, 1], { groups: 4, estimator: 'rloo', convention: 'trl' }).advantages, [1 / 3, -1, 1 / 3, 1 / 3], 15);
    expect(pg.advantages([0.4], { groups: 1, estimator: 'rloo' }).advantages[0]).toBe(0.4);
    expect(pg.advantages([0.4], { groups: 1, estimator: 'rloo', convention: 'trl' }).advantages[0]).toBe(0);
  });

  it('TRL normalize_advantages whitens the batch with eps 1e-4', () => {
    // a = (1/3, −1, 1/3, 1/3, −1/3, −1/3, −1/3, 1): mean 0, unbiased std 0.6172133998483676.
    const r = pg.advantages([1, 0, 1, 1, 0, 0, 0, 1], { groups: 4, estimator: 'rloo', convention: 'trl', normalize: true });
    close(r.advantages, [
      0.5399742390416454, -1.6199227171249364, 0.5399742390416454, 0.5399742390416454,
      -0.5399742390416454, -0.5399742390416454, -0.5399742390416454, 1.6199227171249364,
    ]);
  });
});

describe('reinforce++-baseline', () => {
  it('token-weighted global whitening of s − μ_g', () => {
    // Groups [1, 0], [1, 1] → c = (0.5, −0.5, 0, 0); lengths (2, 1, 3, 2): S = 8, μ_w = 0.0625,
    // M2_w = 0.71875, divisor sqrt(0.71875/7 + 1e-8) = 0.32043498783461744.
    const r = pg.advantages([1, 0, 1, 1], { groups: 2, estimator: 'reinforce++-baseline', lengths: [2, 1, 3, 2] });
    close(r.advantages, [1.3653315543239055, -1.7554262841307358, -0.1950473649034151, -0.1950473649034151]);
  });

  it('a sample without tokens gets 0; fewer than 2 tokens is an error', () => {
    const r = pg.advantages([1, 0, 1, 1], { groups: 2, estimator: 'reinforce++-baseline', lengths: Int32Array.of(2, 0, 3, 2) });
    expect(r.advantages[1]).toBe(0);
    expect(codeOf(() => pg.advantages([1, 0], { groups: 2, estimator: 'reinforce++-baseline', lengths: [1, 0] }))).toMatch(/^E_SHAPE options\.lengths/);
  });
});

describe('ngrpo', () => {
  it('a virtual max-reward sample joins each group’s statistics', () => {
    // [0, 0, 0] ∪ {1}: μ' = 0.25, σ' = 0.5. [1, 0] ∪ {1}: μ' = 2/3, σ' = sqrt(1/3). [1, 1, 1] ∪ {1}: 0.
    const r = pg.advantages([0, 0, 0, 1, 0, 1, 1, 1], { groups: Int32Array.of(0, 0, 0, 1, 1, 2, 2, 2), estimator: 'ngrpo' });
    close(r.advantages, [-0.499999000002, -0.499999000002, -0.499999000002, 0.5773492691913578, -1.1546985383827155, 0, 0, 0]);
  });

  it('group of one: verl μ = 0, σ = 1; TRL uses the augmented statistics', () => {
    expect(pg.advantages([0.5], { groups: 1, estimator: 'ngrpo' }).advantages[0]).toBeCloseTo(0.5 / (1 + 1e-6), 15);
    // TRL: [0.5] ∪ {1}: μ' = 0.75, σ' = sqrt(0.125) → (0.5 − 0.75)/(0.3535533905932738 + 1e-4).
    expect(pg.advantages([0.5], { groups: 1, estimator: 'ngrpo', convention: 'trl' }).advantages[0]).toBeCloseTo(-0.25 / (Math.sqrt(0.125) + 1e-4), 14);
  });
});

describe('unlikeliness shaping', () => {
  it('r̃ = r·(1 − λ·rank/G) by ascending mean old log-prob, then GRPO', () => {
    // meanLogp (−0.5, −2, −1, −0.1): ranks (2, 0, 1, 3); r̃ = (0.875, 1, 0, 0.8125).
    const r = pg.advantages([1, 1, 0, 1], { groups: 4, unlikeliness: { meanLogp: [-0.5, -2, -1, -0.1], penalty: 0.25 } });
    expect(Array.from(r.shapedRewards!)).toEqual([0.875, 1, 0, 0.8125]);
    close(r.advantages, [0.44677222513025205, 0.721708979056561, -1.4777850523539104, 0.30930384816709755]);
  });
});

describe('gae', () => {
  it('γ = λ = 1: advantages are returns-to-go minus values, whitened', () => {
    // Rewards (0, 0, 1), values (0.5, 0.6, 0.7): A_raw = (0.5, 0.4, 0.3), returns 1; whitened by sqrt(0.01 + 1e-8).
    const r = pg.advantages([0, 0, 1], { estimator: 'gae', values: [0.5, 0.6, 0.7], offsets: Int32Array.of(0, 3) });
    close(r.advantages, [0.9999995000003751, 0, -0.9999995000003751]);
    close(r.returns!, [1, 1, 1], 15);
  });

  it('a masked position is skipped: it neither bootstraps nor carries the running GAE', () => {
    // γ = 0.9, λ = 0.8, mask (1, 0, 1): t = 2: δ = 0.3; t = 0: δ = 0.9·0.7 − 0.5 = 0.13, A = 0.13 + 0.72·0.3 = 0.346.
    // Second sequence: width 3, length 2 (padding holds NaN, allowed with ignoreInactiveNonFinite): A = (1 − 0.2) + ... see below.
    const r = pg.advantages([0, 0, 1, 0.5, 1, NaN], {
      estimator: 'gae', values: [0.5, 0.6, 0.7, 0.1, 0.2, NaN], offsets: Int32Array.of(0, 3, 6), lengths: Int32Array.of(3, 2),
      mask: Uint8Array.of(1, 0, 1, 1, 1, 1), gamma: 0.9, lambda: 0.8, whiten: false, ignoreInactiveNonFinite: true,
    });
    // Sequence 2: t = 1: δ = 1 − 0.2 = 0.8; t = 0: δ = 0.5 + 0.9·0.2 − 0.1 = 0.58, A = 0.58 + 0.72·0.8 = 1.156.
    close(r.advantages, [0.346, 0, 0.3, 1.156, 0.8, 0], 14);
    close(r.returns!, [0.846, 0, 1, 1.256, 1, 0], 14);
  });

  it('non-finite padding is checked unless ignoreInactiveNonFinite', () => {
    expect(codeOf(() => pg.advantages([0, NaN], { estimator: 'gae', values: [0, 0], offsets: Int32Array.of(0, 2), lengths: Int32Array.of(1), whiten: false })))
      .toMatch(/^E_NONFINITE rewards: element 1/);
  });
});

describe('drpo', () => {
  it('positives: length-reward softmax; negatives: −softmax(s/τ) or −1/|N|; invalid groups 0', () => {
    // Group 0: rewards (1, 1, 0, 0), lengths (10, 20, 5, 30), T = 40, λ = 0.1: exponents 7.5 and 5.
    // Group 1: all correct → dropped. Group 2: a reward 0.5 is neither positive nor negative.
    const base = { estimator: 'drpo' as const, groups: 4, lengths: [10, 20, 5, 30, 1, 2, 3, 4, 1, 2, 3, 4], maxLength: 40 };
    const rewards = [1, 1, 0, 0, 1, 1, 1, 1, 1, 0.5, 0, 0];
    const plain = pg.advantages(rewards, base);
    close(plain.advantages.subarray(0, 4), [0.9241418199787566, 0.07585818002124345, -0.5, -0.5], 14);
    expect(Array.from(plain.advantages.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    expect(plain.advantages[9]).toBe(0);
    expect(plain.groups).toBe(3);
    const scored = pg.advantages(rewards, { ...base, scores: [0, 0, -1, -2, 0, 0, 0, 0, 0, 0, 0, 0] });
    close(scored.advantages.subarray(2, 4), [-0.52497918747894, -0.47502081252106], 14);
  });
});

describe('spo', () => {
  it('a = r − p̂ before the update, batch-normalized', () => {
    const tracker = pg.spoTracker();
    // p̂ = 0.5 for unseen prompts: a = (0.5, −0.5, 0.5), mean 1/6, std sqrt(1/3).
    const r = pg.advantages([1, 0, 1], { estimator: 'spo', tracker, promptIds: ['a', 'b', 'c'] });
    close(r.advantages, [0.5773502591896259, -1.1547005183792518, 0.5773502591896259]);
    expect(Array.from(r.baseline!)).toEqual([0.5, 0.5, 0.5]);
    expect(tracker.size).toBe(0);
  });
});

describe('input checks', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['no options', () => pg.advantages([1, 0], undefined as never), /^E_DTYPE options/],
    ['size does not divide', () => pg.advantages([1, 0, 1], { groups: 2 }), /^E_SHAPE options\.groups: 3 samples/],
    ['group size 0', () => pg.advantages([1, 0], { groups: 0 }), /^E_RANGE options\.groups/],
    ['empty group', () => pg.advantages([1, 0, 1], { groups: Int32Array.of(0, 2, 2) }), /^E_SHAPE options\.groups: group 1 has no samples/],
    ['negative id', () => pg.advantages([1, 0], { groups: Int32Array.of(0, -1) }), /^E_RANGE options\.groups: element 1 is -1/],
    ['id ≥ numGroups', () => pg.advantages([1, 0], { groups: Int32Array.of(0, 2), numGroups: 2 }), /^E_RANGE options\.groups: element 1 is 2/],
    ['ids length', () => pg.advantages([1, 0], { groups: Int32Array.of(0) }), /^E_SHAPE options\.groups/],
    ['NaN reward', () => pg.advantages([1, NaN, 0], { groups: 3 }), /^E_NONFINITE rewards: element 1 is NaN/],
    ['Infinity reward f32', () => pg.advantages(Float32Array.of(0, 1, Infinity, 0), { groups: 2 }), /^E_NONFINITE rewards: element 2 is Infinity/],
    ['string reward', () => pg.advantages([1, '0' as never], { groups: 2 }), /^E_DTYPE rewards\[1\]/],
    ['empty rewards', () => pg.advantages([], { groups: 1 }), /^E_SHAPE rewards: is empty/],
    ['unknown estimator', () => pg.advantages([1, 0], { groups: 2, estimator: 'ppo' as never }), /^E_RANGE options\.estimator/],
    ['foreign option', () => pg.advantages([1, 0], { groups: 2, estimator: 'rloo', scale: 'batch' } as never), /^E_RANGE options\.scale: is not an option of estimator 'rloo'/],
    ['Dr.GRPO vs batch', () => pg.advantages([1, 0], { groups: 2, normalizeStd: false, scale: 'batch' }), /^E_RANGE options\.scale/],
    ['negative eps', () => pg.advantages([1, 0], { groups: 2, eps: -1 }), /^E_RANGE options\.eps/],
    ['convention', () => pg.advantages([1, 0], { groups: 2, convention: 'openrlhf' as never }), /^E_RANGE options\.convention/],
    ['r++ without lengths', () => pg.advantages([1, 0], { groups: 2, estimator: 'reinforce++-baseline' } as never), /^E_DTYPE options\.lengths/],
    ['r++ negative length', () => pg.advantages([1, 0], { groups: 2, estimator: 'reinforce++-baseline', lengths: [1, -1] }), /^E_RANGE options\.lengths: element 1/],
    ['penalty > 1', () => pg.advantages([1, 0], { groups: 2, unlikeliness: { meanLogp: [0, 0], penalty: 2 } }), /^E_RANGE options\.unlikeliness\.penalty/],
    ['meanLogp length', () => pg.advantages([1, 0], { groups: 2, unlikeliness: { meanLogp: [0] } }), /^E_SHAPE options\.unlikeliness\.meanLogp/],
    ['ngrpo k = 0', () => pg.advantages([1, 0], { groups: 2, estimator: 'ngrpo', virtualCount: 0 }), /^E_RANGE options\.virtualCount/],
    ['gae values length', () => pg.advantages([0, 1], { estimator: 'gae', values: [0], offsets: Int32Array.of(0, 2) }), /^E_SHAPE options\.values/],
    ['gae γ > 1', () => pg.advantages([0, 1], { estimator: 'gae', values: [0, 0], offsets: Int32Array.of(0, 2), gamma: 1.5 }), /^E_RANGE options\.gamma/],
    ['gae one token whitened', () => pg.advantages([1], { estimator: 'gae', values: [0], offsets: Int32Array.of(0, 1) }), /^E_SHAPE options\.mask: whitening needs at least 2/],
    ['gae lengths > width', () => pg.advantages([0, 1], { estimator: 'gae', values: [0, 0], offsets: Int32Array.of(0, 2), lengths: Int32Array.of(3) }), /^E_RANGE options\.lengths/],
    ['drpo length > T', () => pg.advantages([1, 0], { estimator: 'drpo', groups: 2, lengths: [5, 50], maxLength: 40 }), /^E_RANGE options\.lengths: element 1/],
    ['spo tracker', () => pg.advantages([1], { estimator: 'spo', tracker: {} as never, promptIds: ['a'] }), /^E_DTYPE options\.tracker/],
    ['f64 overflow', () => pg.advantages([1.7e308, 1e308], { groups: 2 }), /^E_RANGE rewards: magnitudes too large/],
    ['f32 output overflow', () => pg.advantages(Float32Array.of(3e38, -3e38), { groups: 2, estimator: 'rloo' }), /^E_RANGE rewards: magnitudes too large/],
    ['spo ids length', () => pg.advantages([1, 0], { estimator: 'spo', tracker: pg.spoTracker(), promptIds: ['a'] }), /^E_SHAPE promptIds/],
  ];
  it.each(cases)('%s', (_n, f, re) => {
    expect(codeOf(f)).toMatch(re);
  });

  it('checks run before anything is computed: a bad option leaves the tracker and inputs untouched', () => {
    const rewards = Float64Array.of(1, 0);
    expect(codeOf(() => pg.advantages(rewards, { groups: 2, eps: NaN }))).toMatch(/^E_NONFINITE options\.eps/);
    expect(Array.from(rewards)).toEqual([1, 0]);
  });
});

describe('fuzz', () => {
  const RUNS = Number(process.env.NUMKERN_FUZZ_RUNS ?? 300);
  const value = fc.oneof(
    fc.anything(), fc.constantFrom(NaN, Infinity, -1, 0, 1, 2.5, 3, 1e9),
    fc.array(fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()), { maxLength: 8 }).map((a) => Float64Array.from(a)),
    fc.array(fc.integer({ min: -1, max: 8 }), { maxLength: 8 }).map((a) => Int32Array.from(a)),
    fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 8 }).map((a) => Uint8Array.from(a)),
  );
  const keys = ['groups', 'numGroups', 'convention', 'eps', 'normalizeStd', 'scale', 'normalize', 'lengths', 'whitenEps', 'maxReward',
    'virtualCount', 'unlikeliness', 'values', 'offsets', 'mask', 'gamma', 'lambda', 'whiten', 'maxLength', 'tau', 'scores', 'promptIds', 'tracker'];

  it('random options and rewards give a result or a NumkernError, never another exception', () => {
    fc.assert(fc.property(
      fc.constantFrom('grpo', 'rloo', 'reinforce++-baseline', 'ngrpo', 'gae', 'drpo', 'spo', 'bogus'),
      fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 6 }),
      fc.oneof(fc.array(fc.oneof(fc.integer({ min: 0, max: 1 }), fc.double()), { maxLength: 8 }), value),
      (estimator, extra, rewards) => {
        const options = { estimator, groups: 2, ...extra } as Record<string, unknown>;
        if (options.tracker !== undefined) options.tracker = pg.spoTracker();
        try {
          const r = pg.advantages(rewards as number[], options as never);
          for (const x of r.advantages) expect(Number.isFinite(x)).toBe(true);
        } catch (e) {
          if (!(e instanceof NumkernError)) throw e;
        }
      },
    ), { numRuns: RUNS });
  });
});
