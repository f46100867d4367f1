import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumkernError, type ErrorCode } from '../../src/core/errors.js';
import {
  PhiloxStream,
  boundedInt,
  mulhi32,
  philox4x32,
  philoxBlock,
  philoxFill,
  rademacherFill,
  seedToKey,
  uniform01,
  uniformFill,
} from '../../src/core/philox.js';

function expectCode(fn: () => unknown, code: ErrorCode, argument?: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(NumkernError);
  expect((caught as NumkernError).code).toBe(code);
  if (argument !== undefined) expect((caught as NumkernError).argument).toBe(argument);
}

/** Straight transcription of the Random123 round in BigInt, as an oracle independent of the limb arithmetic. */
function philoxRef(ctr: readonly number[], key: readonly number[]): number[] {
  const mask = 0xffffffffn;
  let [c0, c1, c2, c3] = ctr.map(BigInt);
  let [k0, k1] = key.map(BigInt);
  for (let r = 0; r < 10; r++) {
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & mask, p1 & mask, ((p0 >> 32n) ^ c3 ^ k1) & mask, p0 & mask];
    k0 = (k0 + 0x9e3779b9n) & mask;
    k1 = (k1 + 0xbb67ae85n) & mask;
  }
  return [c0, c1, c2, c3].map(Number);
}

/** The stream definition of philox.ts, spelled out with philox4x32. */
function wordAt(seed: bigint, stream: number, j: number): number {
  const b = BigInt(j) / 4n;
  const ctr = Uint32Array.of(Number(b & 0xffffffffn), Number(b >> 32n), stream, 0);
  const key = Uint32Array.of(Number(seed & 0xffffffffn), Number(seed >> 32n));
  return philox4x32(ctr, key)[j % 4];
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('philox4x32', () => {
  it.each([
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ])('reproduces the Random123 known-answer vector %#', (ctr, key, want) => {
    expect(Array.from(philox4x32(Uint32Array.from(ctr), Uint32Array.from(key)))).toEqual(want);
    expect(philoxRef(ctr, key)).toEqual(want);
  });

  it('mulhi32 is the exact high word of the 64-bit product', () => {
    const check = (a: number, b: number) => expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
    for (const a of [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xd2511f53, 0xcd9e8d57]) {
      for (const b of [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff]) check(a, b);
    }
    fc.assert(fc.property(u32, u32, (a, b) => mulhi32(a, b) === Number((BigInt(a) * BigInt(b)) >> 32n)), { numRuns: 2000 });
  });

  it('matches the BigInt transcription on random counters and keys', () => {
    fc.assert(
      fc.property(fc.tuple(u32, u32, u32, u32), fc.tuple(u32, u32), (ctr, key) => {
        expect(Array.from(philox4x32(Uint32Array.from(ctr), Uint32Array.from(key)))).toEqual(philoxRef(ctr, key));
      }),
      { numRuns: 300 },
    );
  });

  it('philoxBlock writes at the given offset and nowhere else', () => {
    const out = new Uint32Array(8).fill(7);
    philoxBlock(0, 0, 0, 0, 0, 0, out, 2);
    expect(Array.from(out)).toEqual([7, 7, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8, 7, 7]);
  });

  it('rejects wrong lengths and types', () => {
    expectCode(() => philox4x32(new Uint32Array(3), new Uint32Array(2)), 'E_SHAPE', 'counter');
    expectCode(() => philox4x32(new Uint32Array(4), new Uint32Array(3)), 'E_SHAPE', 'key');
    expectCode(() => philox4x32([0, 0, 0, 0] as unknown as Uint32Array, new Uint32Array(2)), 'E_DTYPE', 'counter');
  });
});

describe('stream definition', () => {
  it('philoxFill maps element j to word j%4 of block floor(j/4), across the 2^32-block carry', () => {
    const seed = 0x0123456789abcdefn;
    const start = 4 * 2 ** 32 - 7; // blocks 2^32 - 2 .. 2^32 + 1: the block index's high word changes mid-fill
    const out = philoxFill(seed, 7, start, new Uint32Array(19));
    for (let i = 0; i < out.length; i++) expect(out[i]).toBe(wordAt(seed, 7, start + i));
  });

  it('a fill equals the concatenation of fills of its parts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 37 }), fc.integer({ min: 0, max: 37 }), (start, n, cut) => {
        const k = Math.min(cut, n);
        const whole = philoxFill(42, 3, start, new Uint32Array(n));
        const a = philoxFill(42, 3, start, new Uint32Array(k));
        const b = philoxFill(42, 3, start + k, new Uint32Array(n - k));
        expect(Array.from(whole)).toEqual([...a, ...b]);
      }),
      { numRuns: 200 },
    );
  });

  it('number and bigint seeds agree; the key is (low word, high word)', () => {
    const seed = 2 ** 32 * 5 + 9;
    expect(Array.from(seedToKey(seed))).toEqual([9, 5]);
    expect(Array.from(seedToKey(BigInt(seed)))).toEqual([9, 5]);
    expect(Array.from(seedToKey(2n ** 64n - 1n))).toEqual([0xffffffff, 0xffffffff]);
    const a = philoxFill(seed, 1, 3, new Uint32Array(10));
    const b = philoxFill(BigInt(seed), 1, 3, new Uint32Array(10));
    expect(a).toEqual(b);
    expect(a[0]).toBe(philox4x32(Uint32Array.of(0, 0, 1, 0), Uint32Array.of(9, 5))[3]);
  });

  it('streams and seeds give different words', () => {
    const a = philoxFill(1, 0, 0, new Uint32Array(8));
    expect(philoxFill(1, 1, 0, new Uint32Array(8))).not.toEqual(a);
    expect(philoxFill(2, 0, 0, new Uint32Array(8))).not.toEqual(a);
  });
});

describe('samplers', () => {
  it('uniform01 is exact and strictly inside (0, 1)', () => {
    expect(uniform01(0)).toBe(2 ** -33);
    expect(uniform01(0xffffffff)).toBe(1 - 2 ** -33);
    expect(uniform01(0x80000000)).toBe(0.5 + 2 ** -33);
  });

  it('uniformFill is uniform01 of the words, with mean and variance of U(0,1)', () => {
    const n = 100_000;
    const u = uniformFill(2024n, 5, 11, new Float64Array(n));
    const words = philoxFill(2024n, 5, 11, new Uint32Array(n));
    let sum = 0;
    let sum2 = 0;
    let mismatches = 0;
    let inside = true;
    for (let i = 0; i < n; i++) {
      if (u[i] !== uniform01(words[i])) mismatches++;
      inside &&= u[i] > 0 && u[i] < 1;
      sum += u[i];
      sum2 += u[i] * u[i];
    }
    expect(mismatches).toBe(0);
    expect(inside).toBe(true);
    const mean = sum / n;
    const variance = sum2 / n - mean * mean;
    // 4 standard errors: sd(mean) = sqrt(1/12/n); sd(var) = sqrt((1/80 - 1/144)/n).
    expect(Math.abs(mean - 0.5)).toBeLessThan(4 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(4 * Math.sqrt((1 / 80 - 1 / 144) / n));
  });

  it('rademacherFill takes the sign from the top bit, in either float type', () => {
    const n = 4096;
    const words = philoxFill(9, 2, 5, new Uint32Array(n));
    const r64 = rademacherFill(9, 2, 5, new Float64Array(n), 0.25);
    const r32 = rademacherFill(9, 2, 5, new Float32Array(n));
    let sum = 0;
    for (let i = 0; i < n; i++) {
      expect(r64[i]).toBe(words[i] >>> 31 ? -0.25 : 0.25);
      expect(r32[i]).toBe(words[i] >>> 31 ? -1 : 1);
      sum += r32[i];
    }
    expect(Math.abs(sum)).toBeLessThan(4 * Math.sqrt(n));
  });

  it('boundedInt is floor(u n / 2^32)', () => {
    fc.assert(
      fc.property(u32, fc.integer({ min: 1, max: 2 ** 32 }), (u, n) => {
        const v = boundedInt(u, n);
        expect(v).toBe(Number((BigInt(u) * BigInt(n)) >> 32n));
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThan(n);
      }),
      { numRuns: 2000 },
    );
    expect(boundedInt(0xffffffff, 1)).toBe(0);
    expect(boundedInt(0xffffffff, 2 ** 32)).toBe(0xffffffff);
  });
});

describe('PhiloxStream', () => {
  it('nextU32 and fillU32 walk the same words as philoxFill, from any counter', () => {
    const s = new PhiloxStream(77n, 4, 2);
    const want = philoxFill(77n, 4, 2, new Uint32Array(23));
    const got: number[] = [];
    for (let i = 0; i < 10; i++) got.push(s.nextU32());
    got.push(...s.fillU32(new Uint32Array(6)));
    for (let i = 0; i < 7; i++) got.push(s.nextU32());
    expect(got).toEqual(Array.from(want));
    expect(s.counter).toBe(25);
  });

  it('nextInt is in range and roughly uniform', () => {
    const s = new PhiloxStream(3);
    const n = 7;
    const draws = 70_000;
    const counts = new Array<number>(n).fill(0);
    for (let i = 0; i < draws; i++) counts[s.nextInt(n)]++;
    // Pearson chi-square with 6 degrees of freedom; 22.46 is the 0.999 quantile.
    const e = draws / n;
    const chi2 = counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
    expect(chi2).toBeLessThan(22.46);
    for (const m of [1, 2, 3, 2 ** 31 + 1, 2 ** 32 - 1, 2 ** 32]) {
      for (let i = 0; i < 50; i++) {
        const v = s.nextInt(m);
        expect(Number.isInteger(v) && v >= 0 && v < m).toBe(true);
      }
    }
  });

  it('nextGaussian has mean 0 and variance 1', () => {
    const s = new PhiloxStream(11, 1);
    const n = 100_000;
    let sum = 0;
    let sum2 = 0;
    for (let i = 0; i < n; i++) {
      const z = s.nextGaussian();
      sum += z;
      sum2 += z * z;
    }
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThan(4 / Math.sqrt(n));
    expect(Math.abs(sum2 / n - mean * mean - 1)).toBeLessThan(4 * Math.sqrt(2 / n));
    expect(s.counter).toBe(2 * n);
  });

  it.each([
    [2, 6],
    [0.5, 1.5],
  ])('Beta(%s, %s) sample mean is within 4 standard errors of 0.25', (a, b) => {
    const s = new PhiloxStream(123456789n, 2);
    const n = 100_000;
    let sum = 0;
    let inside = true;
    for (let i = 0; i < n; i++) {
      const x = s.nextBeta(a, b);
      inside &&= x >= 0 && x <= 1;
      sum += x;
    }
    expect(inside).toBe(true);
    const mean = a / (a + b);
    const variance = (a * b) / ((a + b) ** 2 * (a + b + 1));
    expect(Math.abs(sum / n - mean)).toBeLessThan(4 * Math.sqrt(variance / n));
  });

  it('nextBeta stays in [0, 1] for tiny shapes, where the Gamma draws underflow', () => {
    const s = new PhiloxStream(5);
    for (let i = 0; i < 1000; i++) {
      const x = s.nextBeta(1e-3, 1e-3);
      expect(x >= 0 && x <= 1).toBe(true);
    }
  });

  it.each([0.3, 1, 2.5])('nextGamma(%s) has mean equal to its shape', (shape) => {
    const s = new PhiloxStream(8, 8);
    const n = 50_000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += s.nextGamma(shape);
    expect(Math.abs(sum / n - shape)).toBeLessThan(4 * Math.sqrt(shape / n));
  });

  it('nextCategorical follows the weights and never picks a zero weight', () => {
    const s = new PhiloxStream(99);
    const p = Float64Array.of(0.5, 0, 1.5, 2);
    const counts = [0, 0, 0, 0];
    const n = 40_000;
    for (let i = 0; i < n; i++) counts[s.nextCategorical(p)]++;
    expect(counts[1]).toBe(0);
    for (const i of [0, 2, 3]) {
      const q = p[i] / 4;
      expect(Math.abs(counts[i] / n - q)).toBeLessThan(4 * Math.sqrt((q * (1 - q)) / n));
    }
    expect(new PhiloxStream(1).nextCategorical([0, 0, 3])).toBe(2);
  });

  it('state() / fromState() continue the exact same sequence, through JSON', () => {
    const a = new PhiloxStream(2n ** 63n + 12345n, 17);
    const draw = (s: PhiloxStream) => [s.nextU32(), s.nextUniform(), s.nextGaussian(), s.nextBeta(0.7, 3), s.nextInt(1000), s.nextCategorical([1, 2, 3]), s.nextGamma(0.4)];
    draw(a);
    a.nextU32(); // leave the counter off a block boundary
    const saved = JSON.parse(JSON.stringify(a.state()));
    expect(saved.seed).toBe((2n ** 63n + 12345n).toString());
    const b = PhiloxStream.fromState(saved);
    for (let i = 0; i < 20; i++) expect(draw(b)).toEqual(draw(a));
    expect(b.state()).toEqual(a.state());
  });

  it('rejects bad arguments with a code naming the argument', () => {
    expectCode(() => philoxFill(-1, 0, 0, new Uint32Array(1)), 'E_RANGE', 'seed');
    expectCode(() => philoxFill(1.5, 0, 0, new Uint32Array(1)), 'E_RANGE', 'seed');
    expectCode(() => philoxFill(2 ** 60, 0, 0, new Uint32Array(1)), 'E_RANGE', 'seed');
    expectCode(() => philoxFill(2n ** 64n, 0, 0, new Uint32Array(1)), 'E_RANGE', 'seed');
    expectCode(() => philoxFill('1' as unknown as number, 0, 0, new Uint32Array(1)), 'E_RANGE', 'seed');
    expectCode(() => philoxFill(1, 2 ** 32, 0, new Uint32Array(1)), 'E_RANGE', 'stream');
    expectCode(() => philoxFill(1, -1, 0, new Uint32Array(1)), 'E_RANGE', 'stream');
    expectCode(() => philoxFill(1, 0, -1, new Uint32Array(1)), 'E_RANGE', 'start');
    expectCode(() => philoxFill(1, 0, Number.MAX_SAFE_INTEGER, new Uint32Array(2)), 'E_RANGE', 'start');
    expectCode(() => philoxFill(1, 0, 0, new Int32Array(1) as unknown as Uint32Array), 'E_DTYPE', 'out');
    expectCode(() => uniformFill(1, 0, 0, new Float32Array(1) as unknown as Float64Array), 'E_DTYPE', 'out');
    expectCode(() => rademacherFill(1, 0, 0, new Float64Array(1), NaN), 'E_NONFINITE', 'scale');
    expectCode(() => boundedInt(1, 0), 'E_RANGE', 'n');
    expectCode(() => boundedInt(1, 2 ** 32 + 1), 'E_RANGE', 'n');
    expectCode(() => boundedInt(-1, 5), 'E_RANGE', 'u');
    const s = new PhiloxStream(1);
    expectCode(() => s.nextInt(0), 'E_RANGE', 'n');
    expectCode(() => s.nextBeta(0, 1), 'E_RANGE', 'a');
    expectCode(() => s.nextBeta(1, Infinity), 'E_RANGE', 'b');
    expectCode(() => s.nextGamma(-2), 'E_RANGE', 'shape');
    expectCode(() => s.nextCategorical(new Float64Array(0)), 'E_SHAPE', 'p');
    expectCode(() => s.nextCategorical([1, -1]), 'E_RANGE', 'p[1]');
    expectCode(() => s.nextCategorical([1, NaN]), 'E_NONFINITE', 'p[1]');
    expectCode(() => s.nextCategorical([0, 0]), 'E_RANGE', 'p');
    expectCode(() => new PhiloxStream(1, 0, -3), 'E_RANGE', 'counter');
    const end = new PhiloxStream(1, 0, Number.MAX_SAFE_INTEGER);
    end.nextU32();
    expectCode(() => end.nextU32(), 'E_RANGE', 'counter');
    expectCode(() => PhiloxStream.fromState({ seed: '12x', stream: 0, counter: 0 }), 'E_RANGE', 'state.seed');
    expectCode(() => PhiloxStream.fromState({ seed: (2n ** 64n).toString(), stream: 0, counter: 0 }), 'E_RANGE', 'state.seed');
    expectCode(() => PhiloxStream.fromState({ seed: '1', stream: 0.5, counter: 0 }), 'E_RANGE', 'state.stream');
    expectCode(() => PhiloxStream.fromState(null as unknown as { seed: string; stream: number; counter: number }), 'E_RANGE', 'state');
    expect(s.counter).toBe(0); // failed validation consumed nothing
  });
});
