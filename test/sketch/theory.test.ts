/**
 * Sketch-and-solve residual ratios against the theory of the reference (§3) over many seeds.
 *
 * Gaussian S: because Uᵀr* = 0, the blocks G·U and G·r* are independent, and
 *   E‖A x_s − b‖² = OPT²·(1 + d/(m − d − 1))   exactly (the mean of an inverse Wishart),
 * so the sample mean of ratio² − 1 over N seeds must sit within 4 standard errors of d/(m − d − 1)
 * (a two-sided normal tail of 6e-5; the seeds are fixed, so the test is deterministic).
 *
 * The other sketches share the Gaussian's first two moments (E[SᵀS] = I, entries of variance 1/m per
 * column) and differ in higher moments, whose effect on ratio² − 1 is of relative order the coherence
 * of A (max leverage·n/d) times d/m. On an incoherent A (test/sketch/problems.ts: U from Gaussian
 * vectors) the measured means lie within 9 % of the Gaussian value for every kind and m here; the test
 * allows 20 % plus 4 standard errors. A construction error (reused words, aliasing, a wrong sample)
 * correlates rows of S and moves the mean by far more.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type SketchKind } from '../../src/index.js';
import { lsProblem } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const n = 1000;
const d = 8;
const SEEDS = 300;
const P = lsProblem(n, d, 10, 1, 3);

async function excess(kind: SketchKind, m: number): Promise<{ mean: number; se: number }> {
  const v: number[] = [];
  for (let seed = 0; seed < SEEDS; seed++) {
    const r = await ctx.sketch.lstsq(P.A, P.b, { method: 'sketch-and-solve', sketch: kind, m, seed });
    v.push((r.residualNorm / P.opt) ** 2 - 1);
  }
  const mean = v.reduce((a, b) => a + b, 0) / SEEDS;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (SEEDS - 1));
  return { mean, se: sd / Math.sqrt(SEEDS) };
}

describe.each([20, 80])('m = %i', (m) => {
  const theory = d / (m - d - 1);

  it('gaussian: E[ratio²] = 1 + d/(m − d − 1) within 4 standard errors', async () => {
    const { mean, se } = await excess('gaussian', m);
    expect(Math.abs(mean - theory)).toBeLessThanOrEqual(4 * se);
  });

  it.each(['rademacher', 'srht', 'countsketch', 'sparse-sign'] as const)('%s: within 20 %% of the Gaussian value (incoherent A)', async (kind) => {
    const { mean, se } = await excess(kind, m);
    expect(Math.abs(mean - theory)).toBeLessThanOrEqual(0.2 * theory + 4 * se);
  });
});

it('the default sketch-and-solve (sparse-sign, m = 10d) stays within the issue\'s 1.07 residual ratio on average', async () => {
  // Gaussian theory at m = 10d: √(1 + d/(9d − 1)) = 1.0554 for d = 8.
  let sum = 0;
  for (let seed = 0; seed < 50; seed++) sum += (await ctx.sketch.lstsq(P.A, P.b, { method: 'sketch-and-solve', seed })).residualNorm / P.opt;
  expect(sum / 50).toBeLessThanOrEqual(1.07);
});
