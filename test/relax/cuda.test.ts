/**
 * relax on the cuda backend (native/cuda/relax.cu through bindings/relax.cc and src/backends/cuda/relax.ts).
 *
 * Everywhere: without a device the backend registers nothing, calls pinned to 'cuda' fall back with the
 * reason recorded (or throw E_BACKEND_UNAVAILABLE under strict), and the addon's device entry points
 * check their arguments exactly as the CPU ones do before they ask for a device.
 *
 * With a device (skipped elsewhere; written to run unchanged on a GPU machine): every device method
 * against the js oracle. The row updates are the CPU's NK_HD code compiled without FMA contraction, so
 * Jacobi and red-black iterates are the oracle's bit for bit and their counts equal, and so are those of
 * the natural-ordering sweeps (gauss-seidel, sor, ssor), run level by level with the rows not yet passed
 * read from a copy of the iterate (numkern/relax_levels.hpp; native/test/relax_levels_test.hpp checks the
 * schedules and bits on the host). SSOR-CG's triangular passes run level by level too, with the CPU's
 * row functions; its sums are reductions like CG's. Only the order of
 * the device reductions (block trees, not the oracle's 4096-row blocks) differs, which moves residual
 * norms and CG's α, β in their last bits: CG's count may then differ by one where a test lands within
 * rounding of the tolerance, and its x agrees to the accuracy the tolerance gives.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, diffusion2d, poisson2d, poisson3d, shifted, type LinearOperator, type RelaxMethod } from '../../src/index.js';
import { loadNative } from '../../src/backends/addon/load.js';
import { CUDA_RELAX_METHODS, cudaMethodTrouble } from '../../src/backends/cuda/relax.js';
import { relaxAddon } from '../../src/backends/native/relax.js';
import { RELAX_METHODS } from '../../src/relax/ops.js';
import { randomArray } from '../support/backends.js';

const { addon } = loadNative();
const info = addon?.info();
const ctx = await createContext();
await ctx.start();
afterAll(() => ctx.dispose());
const cudaStatus = ctx.status().find((s) => s.name === 'cuda');
const cudaAvailable = cudaStatus?.available === true;

const omegaOf = (m: RelaxMethod) => (m === 'jacobi' ? 0.8 : 1.3);
const sizeOf = (A: LinearOperator) => ('kind' in A ? A.shape.reduce((a, b) => a * b, 1) : A.nrows);

describe('cuda relax: what it runs', () => {
  it('accepts every method: the row-parallel ones, the level-scheduled sweeps and ssor-cg', () => {
    expect([...CUDA_RELAX_METHODS].sort()).toEqual([...RELAX_METHODS].sort());
    for (const m of RELAX_METHODS) expect(cudaMethodTrouble(m)).toBeNull();
  });
});

describe.skipIf(cudaAvailable)('cuda relax without a device', () => {
  it('registers nothing: pinned calls fall back with the reason, strict calls throw', async () => {
    expect(cudaStatus?.reason).toMatch(/no CUDA device|built without CUDA|addon/);
    const A = shifted(poisson2d(8), 0.3);
    const b = randomArray(64, 3);
    for (const method of CUDA_RELAX_METHODS) {
      const r = await ctx.solve(A, b, { method, omega: omegaOf(method), backend: 'cuda' });
      expect(r.backend).not.toBe('cuda');
      expect(r.converged).toBe(true);
      expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'relaxSolve', requested: 'cuda' });
      await expect(ctx.solve(A, b, { method, backend: 'cuda', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    }
    const many = await ctx.solveMany([{ A, b }, { A, b }], { method: 'cg', backend: 'cuda' });
    expect(many.every((r) => r.backend !== 'cuda' && r.converged)).toBe(true);
    expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'relaxSolveBatch', requested: 'cuda' });
  });
});

describe.skipIf(!addon || (info?.cuda.devices ?? 0) > 0)('addon cuda relax entry points without a device', () => {
  const cpu = addon ? relaxAddon(addon) : null!;
  const dev = addon?.cuda as unknown as typeof cpu;
  const settings = (method: number) => Float64Array.of(method, 1, 1e-8, 1, 100, 1);
  const csr = { rowPtr: Int32Array.of(0, 2, 4), colIdx: Int32Array.of(0, 1, 0, 1), values: Float64Array.of(4, -1, -1, 4) };
  const good = { op: csr, b: Float64Array.of(1, 2), x: new Float64Array(2), omega: 1 };

  it('check every argument as the CPU entry points do, before the device', () => {
    const bad: [string, unknown[], unknown][] = [
      ['systems not an array', [{}, settings(5)], TypeError],
      ['settings too short', [[good], new Float64Array(5)], RangeError],
      ['tol negative', [[good], Float64Array.of(5, 1, -1, 1, 100, 1)], RangeError],
      ['checkEvery 0', [[good], Float64Array.of(5, 1, 1e-8, 1, 100, 0)], RangeError],
      ['b too short', [[{ ...good, b: Float64Array.of(1) }], settings(5)], RangeError],
      ['column out of range', [[{ ...good, op: { ...csr, colIdx: Int32Array.of(0, 1, 0, 2) } }], settings(5)], RangeError],
      ['rowPtr not monotone', [[{ ...good, op: { ...csr, rowPtr: Int32Array.of(0, 3, 2) } }], settings(5)], RangeError],
      ['stencil zero coupling', [[{ ...good, op: { shape: Int32Array.of(2, 1), variable: false, diag: Float64Array.of(4), offdiag: Float64Array.of(-1, 0, -1, -1) } }], settings(5)], RangeError],
      ['sor-redblack without a colouring', [[good], settings(4)], TypeError],
      ['omega not finite', [[{ ...good, omega: NaN }], settings(0)], RangeError],
      // The level-scheduled sweeps check the same arguments before the device.
      ['gauss-seidel: b too short', [[{ ...good, b: Float64Array.of(1) }], settings(1)], RangeError],
      ['sor: column out of range', [[{ ...good, op: { ...csr, colIdx: Int32Array.of(0, 1, 0, 2) } }], settings(2)], RangeError],
      ['sor: omega not finite', [[{ ...good, omega: NaN }], settings(2)], RangeError],
      ['ssor: rowPtr not monotone', [[{ ...good, op: { ...csr, rowPtr: Int32Array.of(0, 3, 2) } }], settings(3)], RangeError],
      ['ssor: x too short', [[{ ...good, x: new Float64Array(1) }], settings(3)], RangeError],
      ['ssor-cg: values too short', [[{ ...good, op: { ...csr, values: Float64Array.of(4, -1, -1) } }], settings(6)], RangeError],
      ['ssor-cg: omega not finite', [[{ ...good, omega: Infinity }], settings(6)], RangeError],
    ];
    for (const [what, args, kind] of bad) {
      let want: Error | null = null;
      try {
        (cpu.relaxCreate as (...a: unknown[]) => unknown)(...args);
      } catch (e) {
        want = e as Error;
      }
      expect(want, what).toBeInstanceOf(kind);
      expect(() => (dev.relaxCreate as (...a: unknown[]) => unknown)(...args), what).toThrow(want!.message);
    }
  });

  it('report the missing device once the arguments are good, for every method', () => {
    for (const method of [0, 1, 2, 3, 5, 6, 7]) expect(() => dev.relaxCreate([good], settings(method))).toThrow(/^CUDA: (no CUDA device|built without CUDA)/);
    const coloring = { order: Int32Array.of(0, 1), offsets: Int32Array.of(0, 1, 2) };
    expect(() => dev.relaxCreate([{ ...good, coloring }], settings(4))).toThrow(/^CUDA: /);
  });

  it('advance only sessions of their own kind', async () => {
    const s = cpu.relaxCreate([good], settings(5));
    try {
      expect(() => dev.relaxAdvance(s, Float64Array.of(10))).toThrow(/on the host; advance it with relaxAdvance/);
      await expect(dev.relaxAdvanceAsync(s, Float64Array.of(10))).rejects.toThrow(/on the host/);
      expect(cpu.relaxAdvance(s, Float64Array.of(100))).toBe(0);
    } finally {
      cpu.relaxRelease(s);
    }
  });
});

// ---- with a device ----

const PROBLEMS: [string, () => LinearOperator][] = [
  ['poisson2d 40 CSR', () => shifted(poisson2d(40), 0.3)],
  ['poisson2d 40 stencil', () => shifted(poisson2d(40, { stencil: true }), 0.3)],
  ['poisson3d 12 stencil', () => shifted(poisson3d(12, { stencil: true }), 0.5)],
  ['diffusion2d 30 stencil (variable)', () => diffusion2d(30, (x, y) => 1 + 0.5 * Math.sin(3 * x) * y, { stencil: true })],
  ['diffusion2d 30 CSR', () => diffusion2d(30, (x, y) => 1 + 0.5 * Math.sin(3 * x) * y)],
];
const isCg = (m: RelaxMethod) => m === 'cg' || m === 'jacobi-cg' || m === 'ssor-cg';

describe.skipIf(!cudaAvailable)('cuda relax against the js oracle', () => {
  describe.each(PROBLEMS)('%s', (_name, make) => {
    const A = make();
    const b = randomArray(sizeOf(A), 11);
    it.each(CUDA_RELAX_METHODS)('%s, f64', async (method) => {
      const opts = { method, omega: omegaOf(method), tol: 1e-8, maxIter: 50_000, checkEvery: 3 };
      const ref = await ctx.solve(A, b, { ...opts, backend: 'js' });
      const got = await ctx.solve(A, b, { ...opts, backend: 'cuda', strict: true });
      expect(got.backend).toBe('cuda');
      expect(ref.converged).toBe(true);
      expect(got.converged).toBe(true);
      // The true residual the façade reports: within the tolerance (the test of a CG is on its recurrence).
      expect(got.residualNorm).toBeLessThanOrEqual(1e-8 * ref.initialResidualNorm * (isCg(method) ? 10 : 1 + 1e-9));
      if (!isCg(method)) {
        expect(got.iterations).toBe(ref.iterations);
        for (let i = 0; i < ref.x.length; i++) expect(got.x[i]).toBe(ref.x[i]);
      } else {
        expect(Math.abs(got.iterations - ref.iterations)).toBeLessThanOrEqual(3);
        for (let i = 0; i < ref.x.length; i++) expect(got.x[i]).toBeCloseTo(ref.x[i]!, 6);
      }
    });
    it.each(CUDA_RELAX_METHODS)('%s, f32 operands reach the tolerance', async (method) => {
      const b32 = Float32Array.from(b);
      const A32 = !('kind' in A) ? { ...A, values: Float32Array.from(A.values) } : A;
      const ref = await ctx.solve(A32 as LinearOperator, b32, { method, omega: omegaOf(method), tol: 1e-5, backend: 'js' });
      const got = await ctx.solve(A32 as LinearOperator, b32, { method, omega: omegaOf(method), tol: 1e-5, backend: 'cuda', strict: true });
      expect(got.x).toBeInstanceOf(Float32Array);
      expect(got.converged).toBe(true);
      if (!isCg(method)) expect(got.iterations).toBe(ref.iterations);
    });
  });

  it('stops where the oracle stops: maxIter, divergence, CG breakdown', async () => {
    const A = shifted(poisson2d(32), 0.3);
    const b = randomArray(A.nrows, 12);
    for (const method of CUDA_RELAX_METHODS) {
      const ref = await ctx.solve(A, b, { method, omega: omegaOf(method), maxIter: 7, tol: 1e-14, backend: 'js' });
      const got = await ctx.solve(A, b, { method, omega: omegaOf(method), maxIter: 7, tol: 1e-14, backend: 'cuda', strict: true });
      expect(got.iterations).toBe(7);
      expect(got.converged).toBe(false);
      if (!isCg(method)) for (let i = 0; i < ref.x.length; i++) expect(got.x[i]).toBe(ref.x[i]);
    }
    // Jacobi damped by ω = 1.9 diverges on this matrix (ω·λ_max(D⁻¹A) > 2); an indefinite matrix breaks CG down.
    const div = await ctx.solve(A, b, { method: 'jacobi', omega: 1.9, backend: 'cuda', strict: true });
    const divRef = await ctx.solve(A, b, { method: 'jacobi', omega: 1.9, backend: 'js' });
    expect(divRef.diverged).toBe(true);
    expect(div.stop).toBe(divRef.stop);
    expect(div.iterations).toBe(divRef.iterations);
    const indefinite = shifted(poisson2d(16), -1.5);
    const bd = await ctx.solve(indefinite, randomArray(256, 2), { method: 'cg', backend: 'cuda', strict: true });
    const bdRef = await ctx.solve(indefinite, randomArray(256, 2), { method: 'cg', backend: 'js' });
    expect(bd.stop).toBe(bdRef.stop);
  });

  it('solveMany on the device (one launch, a block per system) matches single solves', async () => {
    const systems = [16, 20, 24].map((m, k) => ({ A: shifted(poisson2d(m, { stencil: k % 2 === 0 }), 0.4), b: randomArray(m * m, 20 + k) }));
    for (const method of CUDA_RELAX_METHODS) {
      const many = await ctx.solveMany(systems, { method, omega: omegaOf(method), backend: 'cuda', strict: true });
      for (let k = 0; k < systems.length; k++) {
        const one = await ctx.solve(systems[k]!.A, systems[k]!.b, { method, omega: omegaOf(method), backend: 'cuda', strict: true });
        // One block per system: stationary rows as a single solve's; CG's sums are block-wide instead.
        if (!isCg(method)) {
          expect(many[k]!.iterations).toBe(one.iterations);
          expect(Array.from(many[k]!.x)).toEqual(Array.from(one.x));
        } else {
          expect(many[k]!.converged).toBe(true);
          expect(Math.abs(many[k]!.iterations - one.iterations)).toBeLessThanOrEqual(3);
          for (let i = 0; i < one.x.length; i++) expect(many[k]!.x[i]).toBeCloseTo(one.x[i]!, 6);
        }
      }
    }
  });
});
