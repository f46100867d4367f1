/**
 * The SPO tracker (docs/pg-advantages.md §4, reference §3.1): discount, update, offline prior,
 * sampling weights, and an exact resume from toJSON() through JSON text.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumkernError } from '../../src/core/errors.js';
import { pgHostApi } from '../../src/pg/host.js';
import { SpoTracker } from '../../src/pg/spo.js';
import { codeOf } from '../support/errors.js';

const pg = pgHostApi();

describe('SpoTracker', () => {
  it('ρ = clamp(2^(−D/0.06), 0.875, 0.96)', () => {
    const t = pg.spoTracker();
    expect(t.discount(0)).toBe(0.96);
    expect(t.discount(0.001)).toBe(0.96); // 2^(−1/60) = 0.9885 is clamped
    expect(t.discount(0.06)).toBe(0.875); // 0.5 is clamped
    expect(t.discount(0.005)).toBeCloseTo(2 ** (-0.005 / 0.06), 15); // 0.9439, inside the clamp
    expect(pg.spoTracker({ rho: 'constant' }).discount(0.5)).toBe(0.875);
  });

  it('update: α ← ρα + r, β ← ρβ + 1 − r; D of a never-updated prompt is taken as 0', () => {
    const t = pg.spoTracker();
    // First sight: D ignored (given 1), ρ = 0.96: α = 0.48 + 1 = 1.48, β = 0.48.
    t.update(['a'], [1], { divergence: [1] });
    expect(t.state('a')).toEqual({ alpha: 0.96 * 0.5 + 1, beta: 0.96 * 0.5, updates: 1 });
    expect(t.baseline(['a', 'new'])[0]).toBeCloseTo(0.7551020408163265, 15);
    // Second: D = 0.06 → ρ = 0.875: α = 1.295, β = 1.42.
    t.update(['a'], [0], { divergence: [0.06] });
    const s = t.state('a')!;
    expect(s.alpha).toBeCloseTo(1.295, 14);
    expect(s.beta).toBeCloseTo(1.42, 14);
    expect(s.updates).toBe(2);
    expect(t.baseline(['new'])[0]).toBe(0.5);
  });

  it('a prompt twice in one batch is discounted twice, in batch order', () => {
    const t = pg.spoTracker({ rho: 'constant', rhoConstant: 0.5 });
    t.update([7, 7], [1, 0]);
    // (0.5, 0.5) → (1.25, 0.25) → (0.625, 1.125).
    expect(t.state(7)).toEqual({ alpha: 0.625, beta: 1.125, updates: 2 });
    expect(t.state('7')).toBeUndefined();
  });

  it('offline prior: N_init = 1/(1 − ρ_min) = 8, α0 = 8(s + 0.5)/(n0 + 1)', () => {
    const t = pg.spoTracker();
    t.initializeOffline(['p'], [3], 8);
    const s = t.state('p')!;
    expect(s.alpha).toBeCloseTo(3.111111111111111, 14);
    expect(s.beta).toBeCloseTo(4.888888888888889, 14);
    expect(s.updates).toBe(0);
    // Not yet trained on: its first update uses ρ_max whatever D is given.
    t.update(['p'], [1], { divergence: [5] });
    expect(t.state('p')!.alpha).toBeCloseTo(0.96 * 3.111111111111111 + 1, 14);
  });

  it('sampling weights sqrt(p̂(1 − p̂)) + 0.05', () => {
    const t = pg.spoTracker();
    t.initializeOffline(['easy'], [8], 8);
    const w = t.samplingWeights(['unseen', 'easy']);
    expect(w[0]).toBe(0.55);
    const p = (8 * 8.5) / 9 / 8; // α0/(α0 + β0) = 8.5/9
    expect(w[1]).toBeCloseTo(Math.sqrt(p * (1 - p)) + 0.05, 15);
  });

  it('resumes bit-identically from JSON text', () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const batches = Array.from({ length: 12 }, () => {
      const ids = Array.from({ length: 16 }, () => (rand() < 0.5 ? `q${Math.floor(rand() * 10)}` : Math.floor(rand() * 10)));
      return { ids, rewards: ids.map(() => (rand() < 0.4 ? 1 : 0)), divergence: ids.map(() => rand() * 0.1) };
    });
    const a = new SpoTracker({ halfLife: 0.05 });
    a.initializeOffline(['q1', 3], [2, 5], [8, 8]);
    const run = (t: SpoTracker, from: number, to: number): Float64Array[] => {
      const out: Float64Array[] = [];
      for (let b = from; b < to; b++) {
        const { ids, rewards, divergence } = batches[b]!;
        out.push(t.advantages(ids, rewards).advantages, t.samplingWeights(ids));
        t.update(ids, rewards, { divergence });
      }
      return out;
    };
    run(a, 0, 6);
    const b = SpoTracker.fromJSON(JSON.parse(JSON.stringify(a)));
    const ra = run(a, 6, 12);
    const rb = run(b, 6, 12);
    ra.forEach((x, i) => expect(Buffer.from(rb[i]!.buffer).equals(Buffer.from(x.buffer))).toBe(true));
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
    expect(b.state(3)).toEqual(a.state(3));
    // 3 and '3' stay distinct prompts through JSON.
    expect(a.state('3')).toBeUndefined();
  });

  it('rejects bad input and bad states', () => {
    const t = pg.spoTracker();
    const cases: [() => unknown, RegExp][] = [
      [() => pg.spoTracker({ rhoMin: 1 }), /^E_RANGE options\.rhoMin/],
      [() => pg.spoTracker({ rhoMin: 0.9, rhoMax: 0.8 }), /^E_RANGE options\.rhoMax/],
      [() => pg.spoTracker({ halflife: 1 } as never), /^E_RANGE options\.halflife/],
      [() => t.update(['a'], [1]), /^E_SHAPE options\.divergence: is required/],
      [() => t.update(['a'], [1.5], { divergence: [0] }), /^E_RANGE rewards: element 0/],
      [() => t.update(['a'], [1], { divergence: [-1] }), /^E_RANGE options\.divergence/],
      [() => t.update([null as never], [1], { divergence: [0] }), /^E_DTYPE promptIds\[0\]/],
      [() => t.update(['a', 'b'], [1], { divergence: [0] }), /^E_SHAPE promptIds/],
      [() => t.initializeOffline(['a'], [9], 8), /^E_RANGE successes/],
      [() => t.discount(-1), /^E_RANGE divergence/],
      [() => SpoTracker.fromJSON({ kind: 'spo-tracker', version: 2 }), /^E_RANGE state\.version/],
      [() => SpoTracker.fromJSON({ kind: 'spo-tracker', version: 1, options: {}, prompts: [['a', -1, 1, 0]] }), /^E_RANGE state\.prompts\[0\]\[1\]/],
      [() => SpoTracker.fromJSON({ kind: 'spo-tracker', version: 1, options: {}, prompts: [['a', 1, 1, 0], ['a', 1, 1, 0]] }), /^E_RANGE state\.prompts\[1\]\[0\]/],
    ];
    for (const [f, re] of cases) expect(codeOf(f)).toMatch(re);
    expect(t.size).toBe(0);
  });

  it('spoDivergence is the masked mean |stored − current|', () => {
    expect(pg.spoDivergence([-1, -2, -3], [-1.5, -2, -2], Uint8Array.of(1, 1, 0))).toBe(0.25);
    expect(pg.spoDivergence([], [])).toBe(0);
  });
});

describe('fuzz', () => {
  it('random arguments to every tracker method give a result or a NumkernError', () => {
    const value = fc.oneof(
      fc.anything(), fc.constantFrom(NaN, -1, 0, 0.5, 1, 8),
      fc.array(fc.oneof(fc.string({ maxLength: 2 }), fc.integer({ min: -1, max: 3 }), fc.double()), { maxLength: 4 }),
      fc.record({ divergence: fc.array(fc.double(), { maxLength: 4 }) }),
    );
    fc.assert(fc.property(fc.integer({ min: 0, max: 7 }), fc.array(value, { minLength: 3, maxLength: 3 }), (which, [a, b, c]) => {
      const t = new SpoTracker();
      try {
        switch (which) {
          case 0: t.update(a as never, b as never, c as never); break;
          case 1: t.advantages(a as never, b as never, c as never); break;
          case 2: t.initializeOffline(a as never, b as never, c as never); break;
          case 3: t.samplingWeights(a as never); break;
          case 4: t.discount(a as never); break;
          case 5: SpoTracker.fromJSON(a); break;
          case 6: new SpoTracker(a as never); break;
          default: pg.spoDivergence(a as never, b as never, c as never);
        }
      } catch (e) {
        if (!(e instanceof NumkernError)) throw e;
      }
    }), { numRuns: Number(process.env.NUMKERN_FUZZ_RUNS ?? 300) });
  });
});
