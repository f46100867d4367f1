/**
 * Relaxation solvers on every backend against the js oracle. In f64 a CPU backend must reproduce the
 * oracle's iteration count exactly (same operations in the same order, src/backends/js/relax.ts), and so
 * must cuda's stationary methods (the CPU's row updates on the device); webgpu (f32 sweeps with f64
 * refinement) and cuda's CG (device-ordered dot products) must reach the same tolerance.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openForConformance, randomArray } from '../support/backends.js';
import { diffusion2d, heatStep2d, poisson2d, poisson3d, shifted, type LinearOperator, type RelaxMethod } from '../../src/index.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

const methods: RelaxMethod[] = ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg'];
const problems: [string, () => LinearOperator][] = [
  ['poisson2d 12 CSR', () => shifted(poisson2d(12), 0.3)],
  ['poisson2d 12 stencil', () => shifted(poisson2d(12, { stencil: true }), 0.3)],
  ['poisson3d 6 stencil', () => shifted(poisson3d(6, { stencil: true }), 0.5)],
  ['diffusion2d 10 CSR', () => diffusion2d(10, (x, y) => 1 + 0.5 * Math.sin(3 * x) * y)],
  ['diffusion2d 10 stencil', () => diffusion2d(10, (x, y) => 1 + 0.5 * Math.sin(3 * x) * y, { stencil: true })],
  ['heat CN step 16 stencil', () => heatStep2d(16, { kappa: 0.1 }).lhs],
];

function sizeOf(A: LinearOperator): number {
  return 'kind' in A ? A.shape.reduce((a, b) => a * b, 1) : A.nrows;
}

describe.each(backends.filter((b) => b !== 'js'))('%s backend', (backend) => {
  describe.each(problems)('%s', (_name, make) => {
    const A = make();
    const b = randomArray(sizeOf(A), 5);
    const accepts = (method: RelaxMethod, dtype: 'f32' | 'f64') =>
      ctx.supports(backend, 'relaxSolve', dtype, { A, b, x: b, method, omega: 1.3, tol: 1e-8, criterion: 'relative', maxIter: 1, checkEvery: 1 });

    it.each(methods)('%s, f64', async (method) => {
      const opts = { method, omega: method === 'jacobi' ? 0.8 : 1.3, tol: 1e-8, maxIter: 20000 };
      if (!accepts(method, 'f64')) {
        // A method the backend has no form of falls back, and the context says why.
        const r = await ctx.solve(A, b, { ...opts, backend });
        expect(r.backend).not.toBe(backend);
        expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'relaxSolve', requested: backend });
        return;
      }
      const ref = await ctx.solve(A, b, { ...opts, backend: 'js' });
      const got = await ctx.solve(A, b, { ...opts, backend, strict: true });
      expect(ref.converged).toBe(true);
      expect(got.converged).toBe(true);
      expect(got.backend).toBe(backend);
      // cuda's CG sums its dot products in device trees, not the oracle's row blocks (native/cuda/relax.cu):
      // its recurrence, and so its count, may differ where a test lands within rounding of the tolerance,
      // and its true residual may exceed the recurrence's by rounding. Its row updates are the oracle's.
      const cudaCg = backend === 'cuda' && method === 'cg';
      expect(got.residualNorm).toBeLessThanOrEqual(1e-8 * ref.initialResidualNorm * (backend === 'webgpu' ? 1 : cudaCg ? 10 : 1 + 1e-9));
      if (cudaCg) {
        expect(Math.abs(got.iterations - ref.iterations)).toBeLessThanOrEqual(3);
        for (let i = 0; i < ref.x.length; i++) expect(got.x[i]).toBeCloseTo(ref.x[i]!, 6);
      } else if (backend !== 'webgpu') {
        expect(got.iterations).toBe(ref.iterations);
        for (let i = 0; i < ref.x.length; i++) expect(got.x[i]).toBeCloseTo(ref.x[i]!, 12);
      }
    });
    it.each(methods)('%s, f32 reaches the tolerance f32 storage allows', async (method) => {
      if (!accepts(method, 'f32')) return;
      const b32 = Float32Array.from(b);
      const A32 = !('kind' in A) ? { ...A, values: Float32Array.from(A.values) }
        : A.coeffs.kind === 'constant' ? A
        : { ...A, coeffs: { kind: 'variable' as const, diag: Float32Array.from(A.coeffs.diag), offdiag: A.coeffs.offdiag.map((o) => Float32Array.from(o)) } };
      const got = await ctx.solve(A32 as LinearOperator, b32, { method, omega: method === 'jacobi' ? 0.8 : 1.3, tol: 1e-5, backend, strict: true, maxIter: 20000 });
      expect(got.converged).toBe(true);
      expect(got.x).toBeInstanceOf(Float32Array);
      // The f64 residual of the f32-rounded x: the test passed before rounding, rounding adds ≲ κ·u₃₂.
      expect(got.residualNorm).toBeLessThanOrEqual(1e-4 * got.initialResidualNorm);
    });
  });

  it.skipIf(!ctx.supports(backend, 'relaxSolveBatch', 'f64'))('solveMany matches single solves', async () => {
    const systems = [0.1, 0.2, -0.1].map((c, k) => ({ A: shifted(poisson2d(10), c), b: randomArray(100, 40 + k), omega: 1.2 + 0.1 * k }));
    // Natural-ordering SOR where the backend has it; the parallel ordering otherwise (a GPU has no sequential sweep).
    const method = ctx.supports(backend, 'relaxSolveBatch', 'f64', { systems: systems.map((s) => ({ ...s, x: s.b })), options: { method: 'sor', tol: 1e-8, criterion: 'relative', maxIter: 1, checkEvery: 1 } }) ? 'sor' : 'sor-redblack';
    const many = await ctx.solveMany(systems, { method, backend, strict: true });
    for (let k = 0; k < systems.length; k++) {
      const one = await ctx.solve(systems[k]!.A, systems[k]!.b, { method, omega: systems[k]!.omega, backend: 'js' });
      expect(many[k]!.converged).toBe(true);
      expect(many[k]!.backend).toBe(backend);
      if (backend !== 'webgpu') expect(many[k]!.iterations).toBe(one.iterations);
      else expect(many[k]!.residualNorm).toBeLessThanOrEqual(1e-8 * one.initialResidualNorm);
    }
  });
});

describe('oracle semantics (js)', () => {
  const A = poisson2d(10);
  const b = randomArray(100, 1);

  it('Gauss-Seidel is SOR at ω = 1, update for update', async () => {
    const gs = await ctx.solve(A, b, { method: 'gauss-seidel', backend: 'js' });
    const sor = await ctx.solve(A, b, { method: 'sor', omega: 1, backend: 'js' });
    expect(gs.iterations).toBe(sor.iterations);
    expect(gs.x).toEqual(sor.x);
  });

  it('CSR and stencil forms give identical iterates', async () => {
    for (const method of methods) {
      const csr = await ctx.solve(poisson2d(9), b.subarray(0, 81), { method, omega: 1.4, backend: 'js' });
      const st = await ctx.solve(poisson2d(9, { stencil: true }), b.subarray(0, 81), { method, omega: 1.4, backend: 'js' });
      expect(st.iterations).toBe(csr.iterations);
      expect(st.x).toEqual(csr.x);
    }
  });

  it('counts follow Algorithm 1: 0 updates when x0 already solves, the cap when maxIter is hit', async () => {
    const exact = await ctx.solve(A, b, { method: 'sor', omega: 1.5, tol: 1e-12, backend: 'js' });
    const again = await ctx.solve(A, b, { method: 'sor', omega: 1.5, x0: exact.x, criterion: 'absolute', tol: 1e-6, backend: 'js' });
    expect(again.iterations).toBe(0);
    expect(again.converged).toBe(true);
    const capped = await ctx.solve(A, b, { method: 'sor', omega: 1.5, maxIter: 7, backend: 'js' });
    expect(capped).toMatchObject({ iterations: 7, converged: false, diverged: false });
    const everyFive = await ctx.solve(A, b, { method: 'sor', omega: 1.5, checkEvery: 5, backend: 'js' });
    const everyOne = await ctx.solve(A, b, { method: 'sor', omega: 1.5, backend: 'js' });
    expect(everyFive.iterations).toBe(Math.ceil(everyOne.iterations / 5) * 5);
  });

  it("Young's ω* minimizes the SOR count over a fine grid (5-point Poisson, β = cos(πh))", async () => {
    const m = 16;
    const P = poisson2d(m);
    const rhs = randomArray(m * m, 3);
    const grid = Array.from({ length: 50 }, (_, i) => 1 + 0.02 * i);
    const counts = [];
    for (const omega of grid) counts.push((await ctx.solve(P, rhs, { method: 'sor', omega, backend: 'js' })).iterations);
    const best = grid[counts.indexOf(Math.min(...counts))]!;
    const young = 2 / (1 + Math.sin(Math.PI / (m + 1)));
    expect(Math.abs(best - young)).toBeLessThanOrEqual(0.04);
  });

  it('a non-SPD system ends with converged: false, finite numbers, detected early', async () => {
    // Positive diagonal, indefinite: eigenvalues 1 ± 3.
    const M = { nrows: 2, ncols: 2, rowPtr: Int32Array.from([0, 2, 4]), colIdx: Int32Array.from([0, 1, 0, 1]), values: Float64Array.from([1, 3, 3, 1]) };
    for (const method of methods) {
      const r = await ctx.solve(M, Float64Array.from([1, 2]), { method, omega: 1.2, backend: 'js' });
      expect(r.converged).toBe(false);
      expect(r.diverged).toBe(true);
      expect(r.iterations).toBeLessThan(100);
      expect([...r.x].every(Number.isFinite)).toBe(true);
      expect(Number.isFinite(r.residualNorm)).toBe(true);
    }
  });
});

describe.each(backends)('abort on %s', (backend) => {
  it.skipIf(!ctx.supports(backend, 'relaxSolve', 'f64'))('an AbortSignal stops a long solve with E_ABORTED', async () => {
    const A = poisson2d(200);
    const ac = new AbortController();
    setTimeout(() => ac.abort('test'), 30);
    await expect(ctx.solve(A, new Float64Array(A.nrows).fill(1), { method: 'jacobi', tol: 0, maxIter: 10_000_000, backend, strict: true, signal: ac.signal }))
      .rejects.toMatchObject({ code: 'E_ABORTED' });
  });
});
