/**
 * Every result says why it stopped, judged on the true residual of the array returned (issue 8 stop
 * reasons; issue 9 defects 5, 6), and the solver/preconditioner split resolves to the same kernels.
 * Runs on every CPU backend (js and native must agree: the native one reproduces the oracle).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, poisson2d, type CsrMatrix } from '../../src/index.js';
import { residual } from '../../src/core/operator.js';
import { csrFromCoo } from '../../src/core/matrix-market.js';

const ctx = await createContext({ backends: ['js', 'native'] });
afterAll(() => ctx.dispose());
const cpu = ctx.available().filter((b) => b === 'js' || b === 'native');

/** 1-D Laplacian tridiag(−1, 2, −1), κ ≈ 4n²/π². */
function laplace1d(n: number, dtype: 'f32' | 'f64' = 'f64', shift = 0): CsrMatrix {
  const r: number[] = [];
  const c: number[] = [];
  const v: number[] = [];
  for (let i = 0; i < n; i++) {
    const add = (j: number, a: number): void => {
      r.push(i);
      c.push(j);
      v.push(a);
    };
    if (i > 0) add(i - 1, -1);
    add(i, 2 + shift);
    if (i < n - 1) add(i + 1, -1);
  }
  const m = csrFromCoo(n, n, Int32Array.from(r), Int32Array.from(c), Float64Array.from(v));
  return dtype === 'f32' ? { ...m, values: Float32Array.from(m.values) } : m;
}

/** Weighted path-graph Laplacian: singular (L·1 = 0), so b = ones has no solution. */
function graphLaplacian(n: number): CsrMatrix {
  const r: number[] = [];
  const c: number[] = [];
  const v: number[] = [];
  const w = (i: number) => 1 + (i % 3);
  for (let i = 0; i < n; i++) {
    const left = i > 0 ? w(i - 1) : 0;
    const right = i < n - 1 ? w(i) : 0;
    const add = (j: number, a: number): void => {
      r.push(i);
      c.push(j);
      v.push(a);
    };
    if (i > 0) add(i - 1, -left);
    add(i, left + right);
    if (i < n - 1) add(i + 1, -right);
  }
  return csrFromCoo(n, n, Int32Array.from(r), Int32Array.from(c), Float64Array.from(v));
}

describe.each(cpu)('stop reasons on %s', (backend) => {
  it('converged: the reported residual is the true one and meets the tolerance', async () => {
    const A = poisson2d(16);
    const b = new Float64Array(A.nrows).fill(1);
    for (const method of ['sor', 'cg', 'ssor-cg'] as const) {
      const r = await ctx.solve(A, b, { method, omega: 1.5, backend, strict: true });
      expect(r.stop).toBe('converged');
      expect(r.converged).toBe(true);
      const true_ = residual(A, b, Float64Array.from(r.x), new Float64Array(A.nrows));
      expect(r.residualNorm).toBe(true_);
      expect(r.residualNorm).toBeLessThanOrEqual(1e-8 * r.initialResidualNorm);
      expect(r.describe()).toMatch(/converged in \d+ iterations/);
    }
  });

  it('an indefinite matrix under CG is a breakdown that says A is not positive definite', async () => {
    // Positive diagonal, negative eigenvalue: [[1, 2], [2, 1]] has eigenvalues 3 and −1.
    const A = csrFromCoo(2, 2, Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1, 0, 1]), Float64Array.from([1, 2, 2, 1]));
    const r = await ctx.solve(A, Float64Array.from([1, -1]), { method: 'cg', backend, strict: true });
    expect(r.stop).toBe('breakdown');
    expect(r.converged).toBe(false);
    expect(r.diverged).toBe(true);
    expect(r.stopDetail).toMatch(/not positive definite/);
    expect(Number.isFinite(r.residualNorm)).toBe(true);
  });

  it('a nonsymmetric matrix under CG that runs out of iterations is told it is not symmetric', async () => {
    const n = 50;
    // Diagonally dominant, so its symmetric part is positive definite and CG cannot break down.
    const base = laplace1d(n, 'f64', 2);
    const values = base.values.slice();
    for (let i = 0; i < n; i++) for (let p = base.rowPtr[i]!; p < base.rowPtr[i + 1]!; p++) if (base.colIdx[p] === i + 1) values[p] = -1.3;
    const r = await ctx.solve({ ...base, values }, new Float64Array(n).fill(1), { method: 'cg', maxIter: 4, backend, strict: true });
    expect(r.stop).toBe('max-iterations');
    expect(r.stopDetail).toMatch(/maxIter = 4 .*A is not symmetric/);
    const sym = await ctx.solve(base, new Float64Array(n).fill(1), { method: 'cg', maxIter: 4, backend, strict: true });
    expect(sym.stop).toBe('max-iterations');
    expect(sym.stopDetail).not.toMatch(/symmetric/);
  });

  it('a singular, inconsistent system is never reported converged (defect 6)', async () => {
    const A = graphLaplacian(400);
    const b = new Float64Array(400).fill(1);
    for (const method of ['cg', 'ssor-cg'] as const) {
      const r = await ctx.solve(A, b, { method, omega: 1.2, maxIter: 5000, backend, strict: true });
      const true_ = residual(A, b, Float64Array.from(r.x), new Float64Array(400));
      expect(r.residualNorm).toBe(true_);
      // b has a component ‖b‖/… along the null vector 1 that no x can remove.
      expect(r.converged).toBe(false);
      if (r.stop === 'residual-gap') expect(r.stopDetail).toMatch(/singular|inconsistent/);
    }
  });

  it('f32 results report the residual of the f32 array, and say when rounding misses the tolerance (defect 5)', async () => {
    const n = 3000;
    const A = laplace1d(n, 'f32');
    // b = ones would have an integer solution that f32 holds exactly; a generic b does not.
    const b = Float32Array.from({ length: n }, (_, i) => Math.sin(0.37 * i + 1));
    const r = await ctx.solve(A, b, { method: 'cg', tol: 1e-8, maxIter: 20000, backend, strict: true });
    const true_ = residual(A, b, Float64Array.from(r.x), new Float64Array(n));
    expect(r.residualNorm).toBe(true_);
    expect(r.residualNorm / r.initialResidualNorm).toBeGreaterThan(1e-8);
    expect(r.converged).toBe(false);
    expect(r.stop).toBe('precision');
    expect(r.stopDetail).toMatch(/f32/);
  });
});

describe('solver and preconditioner as separate parts', () => {
  const A = poisson2d(12);
  const b = new Float64Array(A.nrows).fill(1);

  it("{method: 'cg', preconditioner: {kind: 'ssor', omega}} is ssor-cg with that ω", async () => {
    const split = await ctx.solve(A, b, { method: 'cg', preconditioner: { kind: 'ssor', omega: 1.6 } });
    const short = await ctx.solve(A, b, { method: 'ssor-cg', omega: 1.6 });
    expect(split.iterations).toBe(short.iterations);
    expect(split.x).toEqual(short.x);
    expect(split.config).toMatchObject({ solver: 'cg', preconditioner: { kind: 'ssor', omega: 1.6 }, method: 'ssor-cg' });
    expect(split.describe()).toMatch(/CG with an SSOR preconditioner \(ω = 1\.6\)/);
    const plain = await ctx.solve(A, b, { method: 'cg' });
    expect(plain.config.preconditioner).toEqual({ kind: 'none' });
    expect(plain.describe()).toMatch(/CG without a preconditioner/);
  });

  it("'jacobi' is CG preconditioned by the diagonal: immune to a diagonal scaling that slows plain CG", async () => {
    // D A D with D spanning four decades: κ grows by ~1e8 for CG, while D⁻¹-preconditioning undoes the scaling.
    const S = poisson2d(10);
    const d = Float64Array.from({ length: S.nrows }, (_, i) => 10 ** (4 * ((i * 37) % S.nrows) / S.nrows));
    const values = S.values.slice();
    for (let i = 0; i < S.nrows; i++) for (let p = S.rowPtr[i]!; p < S.rowPtr[i + 1]!; p++) values[p] = values[p]! * d[i]! * d[S.colIdx[p]!]!;
    const A = { ...S, values };
    const rhs = Float64Array.from({ length: S.nrows }, (_, i) => d[i]! * Math.sin(i));
    const pcg = await ctx.solve(A, rhs, { method: 'cg', preconditioner: 'jacobi', maxIter: 5000 });
    const plain = await ctx.solve(A, rhs, { method: 'cg', maxIter: 5000 });
    const short = await ctx.solve(A, rhs, { method: 'jacobi-cg', maxIter: 5000 });
    expect(pcg.converged).toBe(true);
    expect(pcg.config).toMatchObject({ solver: 'cg', preconditioner: { kind: 'jacobi' }, method: 'jacobi-cg' });
    expect(short.iterations).toBe(pcg.iterations);
    expect(pcg.iterations * 3).toBeLessThan(plain.iterations);
    expect(pcg.describe()).toMatch(/Jacobi \(diagonal\) preconditioner/);
    // Every CPU backend runs it, and the native kernel reproduces the oracle bit for bit (chunked or not).
    for (const backend of cpu) {
      for (const checkEvery of [1, 3]) {
        const oracle = await ctx.solve(A, rhs, { method: 'jacobi-cg', maxIter: 5000, checkEvery, backend: 'js', strict: true });
        const r = await ctx.solve(A, rhs, { method: 'jacobi-cg', maxIter: 5000, checkEvery, backend, strict: true });
        expect(r.iterations).toBe(oracle.iterations);
        expect(r.x).toEqual(oracle.x);
      }
    }
  });

  it('refuses a preconditioner on a stationary method, or two different ωs', async () => {
    await expect(ctx.solve(A, b, { method: 'sor', preconditioner: 'ssor' })).rejects.toMatchObject({ code: 'E_RANGE', argument: 'options.preconditioner' });
    await expect(ctx.solve(A, b, { method: 'cg', omega: 1.2, preconditioner: { kind: 'ssor', omega: 1.5 } })).rejects.toMatchObject({ code: 'E_RANGE' });
    await expect(ctx.solve(A, b, { method: 'cg', preconditioner: { kind: 'ilu' as never } })).rejects.toMatchObject({ code: 'E_RANGE' });
    await expect(ctx.solve(A, b, { method: 'cg', preconditioner: { kind: 'jacobi', omega: 1.2 } })).rejects.toMatchObject({ code: 'E_RANGE', argument: 'options.preconditioner.omega' });
    await expect(ctx.solve(A, b, { method: 'ssor-cg', preconditioner: 'jacobi' })).rejects.toMatchObject({ code: 'E_RANGE' });
  });
});
