/**
 * The kept work arrays of src/core/scratch.ts: a taken array is zeroed and the taker's alone, a given-back
 * one serves the next take of its length, and no more than the bound stays kept. And through lstsq, which
 * takes its sketch from them: concurrent solves get their own arrays, so their results are the sequential ones.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/index.js';
import { giveBack, keptScratch, takeZeroed } from '../../src/core/scratch.js';
import { lsProblem } from '../sketch/problems.js';

describe('kept work arrays', () => {
  it('a given-back array serves the next take of its length, zeroed, and only one taker at a time', () => {
    const n = 1000 + Math.floor(Math.random() * 1000);
    const a = takeZeroed(n);
    a.fill(5);
    giveBack(a);
    giveBack(a); // twice is once
    const b = takeZeroed(n);
    expect(b).toBe(a);
    expect(b.every((v) => v === 0)).toBe(true);
    const c = takeZeroed(n);
    expect(c).not.toBe(b);
    giveBack(b);
    giveBack(c);
    expect(takeZeroed(n + 1)).not.toBe(b);
  });

  it('keeps at most 32 MiB, dropping the oldest', () => {
    const big = Array.from({ length: 5 }, () => takeZeroed(1 << 20)); // 8 MiB each
    for (const a of big) giveBack(a);
    expect(keptScratch().bytes).toBeLessThanOrEqual(32 << 20);
    expect(takeZeroed(1 << 20)).not.toBe(big[0]);
    expect(takeZeroed((33 << 20) / 8).byteLength).toBe(33 << 20);
  });
});

describe('lstsq through the kept arrays', async () => {
  const ctx = await createContext();
  afterAll(() => ctx.dispose());

  it('concurrent sketch-and-precondition solves give the sequential results', async () => {
    const probs = [1, 2, 3].map((seed) => lsProblem(3000, 12, 1e3, 0.1, seed));
    const opts = { method: 'sketch-and-precondition' as const, seed: 4 };
    const one = [];
    for (const p of probs) one.push(await ctx.sketch.lstsq(p.A, p.b, opts));
    const all = await Promise.all(probs.map((p) => ctx.sketch.lstsq(p.A, p.b, opts)));
    for (let k = 0; k < probs.length; k++) {
      expect(all[k]!.x).toEqual(one[k]!.x);
      expect(all[k]!.iterations).toBe(one[k]!.iterations);
    }
  });
});
