/**
 * Randomized Kaczmarz and sketch-and-project on consistent systems (docs/sketch.md §7).
 *
 * Strohmer & Vershynin (2009): with rows drawn ∝ ‖a_i‖², E‖x_k − x*‖² ≤ (1 − 1/κ_F²)^k·‖x_0 − x*‖²,
 * κ_F = ‖A‖_F·‖A⁺‖₂. The bound is on the mean; the test compares the mean over seeds with it (it is
 * loose in practice, so a correct implementation sits well below and a wrong row law above).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext } from '../../src/index.js';
import { lsProblem, relDiff, toCsr } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

/** A consistent system: ρ = 0, σ_j from 1 down to 1/κ. */
const P = lsProblem(400, 10, 5, 0, 21);
const kappaF2 = (() => {
  let fro = 0;
  for (const v of P.A.data) fro += v * v;
  return fro * P.kappa ** 2; // ‖A‖₂ = 1, σ_min = 1/κ
})();

describe('randomized Kaczmarz', () => {
  it('the mean squared error after k projections is below the Strohmer–Vershynin bound', async () => {
    const k = Math.ceil(kappaF2 * 3);
    let mean = 0;
    const seeds = 20;
    for (let seed = 0; seed < seeds; seed++) {
      const r = await ctx.sketch.kaczmarz(P.A, P.b, { seed, maxIter: k, tol: 0 });
      expect(r.iterations).toBe(k);
      let e = 0;
      for (let j = 0; j < 10; j++) e += (r.x[j]! - P.xStar[j]!) ** 2;
      mean += e / seeds;
    }
    let x0 = 0;
    for (const v of P.xStar) x0 += v * v;
    expect(mean).toBeLessThanOrEqual((1 - 1 / kappaF2) ** k * x0);
  });

  it('converges to the tolerance, testing once per sweep', async () => {
    const r = await ctx.sketch.kaczmarz(P.A, P.b, { seed: 3, tol: 1e-10 });
    expect(r.converged).toBe(true);
    expect(r.iterations % 400).toBe(0);
    expect(r.residualNorm).toBeLessThanOrEqual(1e-10 * Math.hypot(...P.b));
    expect(relDiff(r.x, P.xStar)).toBeLessThanOrEqual(1e-8);
  });

  it('block Kaczmarz (x += A_τ⁺ r_τ) converges in fewer projections, CSR as dense', async () => {
    const one = await ctx.sketch.kaczmarz(P.A, P.b, { seed: 3, tol: 1e-10, checkEvery: 10 });
    const blk = await ctx.sketch.kaczmarz(P.A, P.b, { seed: 3, tol: 1e-10, block: 8, checkEvery: 10 });
    const csr = await ctx.sketch.kaczmarz(toCsr(P.A), P.b, { seed: 3, tol: 1e-10, block: 8, checkEvery: 10 });
    expect(blk.converged).toBe(true);
    expect(blk.iterations).toBeLessThan(one.iterations);
    expect(csr.x).toEqual(blk.x);
    expect(relDiff(blk.x, P.xStar)).toBeLessThanOrEqual(1e-8);
  });

  it('one seed, one row sequence: the same iterates twice; a start x0 is used and left untouched', async () => {
    const x0 = Float64Array.from(P.xStar, (v) => v + 0.01);
    const a = await ctx.sketch.kaczmarz(P.A, P.b, { seed: 8, maxIter: 500, tol: 0, x0 });
    const b = await ctx.sketch.kaczmarz(P.A, P.b, { seed: 8, maxIter: 500, tol: 0, x0 });
    expect(a.x).toEqual(b.x);
    expect(x0[0]).toBe(P.xStar[0]! + 0.01);
    expect(relDiff(a.x, P.xStar)).toBeLessThan(relDiff(x0, P.xStar));
  });

  it('a square system, and an inconsistent one that stalls at its noise floor (reported, not converged)', async () => {
    const S = lsProblem(30, 30, 10, 0, 4);
    // κ_F² ≈ 10³ here: about κ_F²·ln(10¹⁸) ≈ 4·10⁴ projections to 1e-9.
    const r = await ctx.sketch.kaczmarz(S.A, S.b, { seed: 1, tol: 1e-9, maxIter: 400_000 });
    expect(r.converged).toBe(true);
    expect(relDiff(r.x, S.xStar)).toBeLessThanOrEqual(1e-7);
    const noisy = lsProblem(400, 10, 5, 0.5, 22);
    const q = await ctx.sketch.kaczmarz(noisy.A, noisy.b, { seed: 1, tol: 1e-9, maxIter: 4000 });
    expect(q.converged).toBe(false);
    expect(q.iterations).toBe(4000);
    expect(q.residualNorm).toBeGreaterThanOrEqual(0.5);
  });
});

describe('sketch-and-project', () => {
  it.each(['countsketch', 'sparse-sign', 'gaussian', 'rademacher'] as const)('%s sketches converge on a consistent tall system', async (sketch) => {
    const r = await ctx.sketch.sketchAndProject(P.A, P.b, { sketch, q: 5, seed: 2, tol: 1e-10 });
    expect(r.converged).toBe(true);
    expect(relDiff(r.x, P.xStar)).toBeLessThanOrEqual(1e-8);
  });

  it('q ≥ d with a full-rank S·A projects onto the solution in one step', async () => {
    const r = await ctx.sketch.sketchAndProject(P.A, P.b, { sketch: 'gaussian', q: 10, seed: 2, tol: 1e-10 });
    expect(r.iterations).toBe(1);
  });

  it('a larger sketch contracts faster (Gower–Richtárik: ρ = 1 − λ_min(E[Z]) falls as q grows)', async () => {
    const small = await ctx.sketch.sketchAndProject(P.A, P.b, { q: 2, seed: 2, tol: 1e-8 });
    const large = await ctx.sketch.sketchAndProject(P.A, P.b, { q: 6, seed: 2, tol: 1e-8 });
    expect(large.iterations).toBeLessThan(small.iterations);
  });
});
