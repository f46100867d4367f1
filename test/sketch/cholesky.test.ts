/**
 * Method 'sketch-cholesky' (docs/sketch.md §4.5): the Gram of A (or of A·R⁻¹ with R from a sketch) in one
 * pass, its Cholesky factor, refinement with the true residual. Against the Householder QR oracle
 * ('qr') with the bounds of test/sketch/lstsq.test.ts's header, on both of its paths (the Gram of A for
 * well-conditioned A, the sketched Gram otherwise), on js and native (1 and 2 threads, with and
 * without OpenBLAS), and its bad input.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, NumkernError, type Context } from '../../src/index.js';
import { loadNative } from '../../src/backends/addon/load.js';
import { lsProblem, norm, randomDense, relDiff, toCsr } from './problems.js';

const u = 2 ** -53;
const ctxs: Context[] = [];
afterAll(async () => {
  for (const c of ctxs) await c.dispose();
});
const open = async (threads: number, backends: ('js' | 'native')[]) => {
  const c = await createContext({ threads, backends });
  ctxs.push(c);
  return c;
};
const ctx = await open(0, ['js']);
const method = 'sketch-cholesky' as const;

describe('js oracle against Householder QR', () => {
  it.each([1, 100, 1e3])('κ = %s: the Gram of A itself, x to 1e-10 and the residual to 1e-12 of QR, in ≤ 3 corrections', async (kappa) => {
    const P = lsProblem(1200, 12, kappa, 1, 1);
    const q = await ctx.sketch.lstsq(P.A, P.b, { method: 'qr' });
    const r = await ctx.sketch.lstsq(P.A, P.b, { method });
    expect(r).toMatchObject({ method, rank: 12, converged: true, stopReason: 'converged', warnings: [], sketch: null });
    expect(r.backends).toMatchObject({ gram: 'js', solve: 'js' });
    expect(r.iterations).toBeLessThanOrEqual(3);
    expect(relDiff(r.x, q.x)).toBeLessThanOrEqual(1e-10);
    expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-12);
  });

  it.each([1e-4, 1])('κ = 1e10, ρ = %s: sketched (R from a sparse-sign sketch), the residual to 1e-10 relative of QR', async (rho) => {
    const P = lsProblem(1500, 16, 1e10, rho, 4);
    const q = await ctx.sketch.lstsq(P.A, P.b, { method: 'qr' });
    for (const sketch of ['sparse-sign', 'gaussian', 'srht'] as const) {
      const r = await ctx.sketch.lstsq(P.A, P.b, { method, sketch, seed: 9 });
      expect(r).toMatchObject({ rank: 16, converged: true, warnings: [] });
      expect(r.sketch).toMatchObject({ kind: sketch, m: 64 });
      expect(r.backends).toMatchObject({ apply: 'js', qr: 'js', gram: 'js', solve: 'js' });
      expect(r.iterations).toBeLessThanOrEqual(6);
      expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-10);
    }
  });

  it.each([0, 1e-8])('κ = 1e10: x is as accurate as QR\'s, within 10·(κu + κ²uρ/‖x*‖) of x* (ρ = %s)', async (rho) => {
    const P = lsProblem(1500, 16, 1e10, rho, 5);
    const bound = 10 * (P.kappa * u + (P.kappa ** 2 * u * rho) / norm(P.xStar));
    const r = await ctx.sketch.lstsq(P.A, P.b, { method, seed: 1 });
    expect(r.converged).toBe(true);
    expect(relDiff(r.x, P.xStar)).toBeLessThanOrEqual(bound);
  });

  it('columns scaled from 1e-6 to 1e5 (κ ≈ 1e12, equilibrated κ = 10): the Gram of A itself still, x to 1e-10 of QR', async () => {
    // Cholesky and the Gram's rounding are invariant under column scaling (van der Sluis): the switch
    // looks at the equilibrated factor, so scaling alone does not cost a sketch.
    const P = lsProblem(5000, 12, 10, 0.3, 3);
    const data = P.A.data.slice();
    for (let i = 0; i < 5000; i++) for (let j = 0; j < 12; j++) data[i * 12 + j] *= 10 ** (j - 6);
    const A = { rows: 5000, cols: 12, data };
    const q = await ctx.sketch.lstsq(A, P.b, { method: 'qr' });
    const r = await ctx.sketch.lstsq(A, P.b, { method });
    expect(r).toMatchObject({ rank: 12, converged: true, sketch: null });
    expect(relDiff(r.x, q.x)).toBeLessThanOrEqual(1e-10);
    expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-12);
  });

  it('κ = 1e5 (past the Gram-of-A limit): sketched, x within the forward-error bound', async () => {
    const P = lsProblem(1500, 16, 1e5, 0.5, 8);
    const bound = 10 * (P.kappa * u + (P.kappa ** 2 * u * 0.5) / norm(P.xStar));
    const r = await ctx.sketch.lstsq(P.A, P.b, { method, seed: 2 });
    expect(r.sketch).not.toBeNull();
    expect(r).toMatchObject({ rank: 16, converged: true });
    expect(relDiff(r.x, P.xStar)).toBeLessThanOrEqual(bound);
  });

  it('rank deficiency is detected from the sketch\'s R and reported; the basic solution attains QR\'s residual', async () => {
    const P = lsProblem(800, 10, 10, 0.5, 7);
    const data = P.A.data.slice();
    for (let i = 0; i < 800; i++) data[i * 10 + 7] = data[i * 10 + 2]!;
    const A = { rows: 800, cols: 10, data };
    const q = await ctx.sketch.lstsq(A, P.b, { method: 'qr' });
    const r = await ctx.sketch.lstsq(A, P.b, { method, seed: 4 });
    expect(r).toMatchObject({ rank: 9, stopReason: 'rank-deficient' });
    expect(r.warnings.join(' ')).toMatch(/rank 9 < d = 10/);
    expect(r.x.every(Number.isFinite)).toBe(true);
    expect(norm(r.x)).toBeLessThan(1e3);
    expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-10);
  });

  it('a CSR operand gives the bits of its dense twin; f32 data is solved in f64', async () => {
    const P = lsProblem(1200, 12, 1e6, 1, 3);
    for (const p of [lsProblem(1200, 12, 100, 1, 1), P]) {
      const dense = await ctx.sketch.lstsq(p.A, p.b, { method, seed: 2 });
      const sparse = await ctx.sketch.lstsq(toCsr(p.A), p.b, { method, seed: 2 });
      expect(sparse.x).toEqual(dense.x);
      expect(sparse.iterations).toBe(dense.iterations);
    }
    const A32 = { rows: P.A.rows, cols: P.A.cols, data: Float32Array.from(P.A.data) };
    const b32 = Float32Array.from(P.b);
    const q = await ctx.sketch.lstsq(A32, b32, { method: 'qr' });
    const r = await ctx.sketch.lstsq(A32, b32, { method });
    expect(r.x).toBeInstanceOf(Float64Array);
    expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-12);
  });

  it('refinement that does not finish (maxIter 0) is completed by LSQR on the same factor, and says so', async () => {
    const P = lsProblem(1200, 12, 100, 1, 1);
    const q = await ctx.sketch.lstsq(P.A, P.b, { method: 'qr' });
    const r = await ctx.sketch.lstsq(P.A, P.b, { method, maxIter: 0 });
    expect(r.warnings.join(' ')).toMatch(/finished with LSQR/);
    expect(r.converged).toBe(true);
    expect(relDiff(r.x, q.x)).toBeLessThanOrEqual(1e-10);
  });
});

describe('bad input', () => {
  const P = lsProblem(300, 6, 10, 1, 2);
  it.each([
    [{ method: 'sketch-cholesky', tol: -1 }, 'options.tol'],
    [{ method: 'sketch-cholesky', maxIter: 1.5 }, 'options.maxIter'],
    [{ method: 'sketch-cholesky', m: 3 }, 'options.m'],
    [{ method: 'sketch-cholesky', guarantee: 'linf' }, 'options.guarantee'],
    [{ method: 'sketch-choleski' }, 'options.method'],
  ])('%o names %s', async (opts, arg) => {
    const e = await ctx.sketch.lstsq(P.A, P.b, opts as never).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(NumkernError);
    expect((e as NumkernError).message).toContain(arg);
  });
});

const { addon } = loadNative();
describe.skipIf(!addon)('native against the oracle', async () => {
  const one = addon ? await open(1, ['js', 'native']) : null!;
  const two = addon ? await open(2, ['js', 'native']) : null!;
  const has = addon ? two.supports('native', 'sketchGram', 'f64') && two.supports('native', 'sketchRefine', 'f64') : false;
  /** n·d ≥ 2²² takes the native fused pass's fast form and several Gram slabs. */
  const big = lsProblem(60_000, 72, 50, 0.3, 11);
  const ill = lsProblem(20_000, 24, 1e9, 0.3, 12);
  /** κ_s ≤ GRAM_F32_MAX_COND: the native Gram pass forms G in f32 (ssyrk) where OpenBLAS is linked. */
  const easy = lsProblem(60_000, 72, 2, 0.3, 13);

  it.skipIf(!has).each([['κ = 2 (an f32 Gram), 60000 × 72', easy], ['κ = 50, 60000 × 72', big], ['κ = 1e9, 20000 × 24', ill]] as const)('%s: the oracle\'s residual to 1e-12, x to 1e-10 of QR or its bound, the same bits on 1 and 2 threads', async (_n, P) => {
    const ref = await two.sketch.lstsq(P.A, P.b, { method: 'qr', backend: 'js' });
    const js = await two.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'js' });
    const r1 = await one.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'native' });
    const r2 = await two.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'native' });
    expect(r2.backends.gram).toBe('native');
    expect(r2.backends.solve).toBe('native');
    expect(r2.x).toEqual(r1.x);
    expect(r2.residualNorm).toBe(r1.residualNorm);
    expect(r2.iterations).toBe(r1.iterations);
    expect(Math.abs(r2.iterations - js.iterations)).toBeLessThanOrEqual(1);
    expect(Math.abs(r2.residualNorm - js.residualNorm) / js.residualNorm).toBeLessThanOrEqual(1e-12);
    expect(Math.abs(r2.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
    const bound = Math.max(1e-10, 10 * (P.kappa * u + (P.kappa ** 2 * u * 0.3) / norm(P.xStar)));
    expect(relDiff(r2.x, P.xStar)).toBeLessThanOrEqual(bound);
    expect(relDiff(r2.x, js.x)).toBeLessThanOrEqual(bound);
  });

  it.skipIf(!has)('the Gram pass without OpenBLAS (numkern\'s blocked kernels) agrees, and is thread-count independent too', async () => {
    const saved = process.env.NUMKERN_SKETCH_LAPACK;
    process.env.NUMKERN_SKETCH_LAPACK = '0';
    try {
      for (const P of [big, ill]) {
        const ref = await two.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'js' });
        const r1 = await one.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'native' });
        const r2 = await two.sketch.lstsq(P.A, P.b, { method, seed: 3, backend: 'native' });
        expect(r2.x).toEqual(r1.x);
        expect(Math.abs(r2.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
      }
    } finally {
      if (saved === undefined) delete process.env.NUMKERN_SKETCH_LAPACK;
      else process.env.NUMKERN_SKETCH_LAPACK = saved;
    }
  });

  it.skipIf(!has)('f32 and CSR operands, and a rank-deficient A, on native', async () => {
    const A = randomDense(5000, 9, 4);
    for (let i = 0; i < 5000; i++) A.data[i * 9 + 8] = A.data[i * 9 + 1]! + A.data[i * 9 + 3]!;
    const b = randomDense(5000, 1, 5).data;
    const q = await two.sketch.lstsq(A, b, { method: 'qr', backend: 'js' });
    for (const op of [A, toCsr(A)]) {
      const r = await two.sketch.lstsq(op, b, { method, seed: 6, backend: 'native' });
      expect(r).toMatchObject({ rank: 8, stopReason: 'rank-deficient' });
      expect(Math.abs(r.residualNorm - q.residualNorm) / q.residualNorm).toBeLessThanOrEqual(1e-10);
    }
    const P = lsProblem(4000, 10, 1e3, 1, 9);
    const A32 = { rows: P.A.rows, cols: P.A.cols, data: Float32Array.from(P.A.data) };
    const b32 = Float32Array.from(P.b);
    const j = await two.sketch.lstsq(A32, b32, { method, backend: 'js' });
    const n = await two.sketch.lstsq(A32, b32, { method, backend: 'native' });
    expect(Math.abs(n.residualNorm - j.residualNorm) / j.residualNorm).toBeLessThanOrEqual(1e-12);
  });

  it.skipIf(!has)('a non-finite A is an E_NONFINITE naming A, found through the Gram\'s diagonal', async () => {
    const P = lsProblem(500, 5, 10, 1, 3);
    const data = P.A.data.slice();
    data[1234] = Number.NaN;
    for (const backend of ['js', 'native'] as const) {
      const e = await two.sketch.lstsq({ rows: 500, cols: 5, data }, P.b, { method, backend }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NumkernError);
      expect(e).toMatchObject({ code: 'E_NONFINITE' });
      expect((e as NumkernError).message).toMatch(/A/);
    }
  });
});
