/**
 * Hostile use of ctx.solve (issue 9): aliasing, detached buffers, in-place edits between calls, values
 * that overflow, pointers that would make validation scale with a value, null options. Each gives a
 * NumkernError naming the argument or a right answer — never a stale one, a crash or a hang.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { totalmem } from 'node:os';
import { createContext, heatStep2d, NumkernError, poisson2d, poisson3d, stencilToCsr } from '../../src/index.js';
import { checkMemory } from '../../src/core/alloc.js';
import { residual } from '../../src/core/operator.js';
import { codeOf } from '../support/errors.js';

const ctx = await createContext({ backends: ['js', 'native'] });
afterAll(() => ctx.dispose());
const cpu = ctx.available().filter((b) => b === 'js' || b === 'native');

const detach = (a: ArrayBufferView): void => void structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });

describe.each(cpu)('hostile solves on %s', (backend) => {
  const opts = { backend, strict: true } as const;

  it('x0 === b with inPlace is refused (defect 8), and so is x0 overlapping b or A', async () => {
    const A = poisson2d(6);
    const b = new Float64Array(A.nrows).fill(1);
    await expect(ctx.solve(A, b, { ...opts, x0: b, inPlace: true })).rejects.toMatchObject({ code: 'E_SHAPE', argument: 'options.x0' });
    const big = new Float64Array(2 * A.nrows).fill(1);
    const b2 = big.subarray(0, A.nrows);
    const x0 = big.subarray(A.nrows - 1, 2 * A.nrows - 1);
    await expect(ctx.solve(A, b2, { ...opts, x0, inPlace: true })).rejects.toMatchObject({ code: 'E_SHAPE' });
    await expect(ctx.solve(A, b, { ...opts, x0: new Float64Array(A.values.buffer, 0, A.nrows), inPlace: true })).rejects.toMatchObject({ code: 'E_SHAPE' });
    // Without inPlace x0 is copied, so sharing memory with b is harmless.
    const r = await ctx.solve(A, b, { ...opts, x0: b });
    expect(r.converged).toBe(true);
  });

  it('an in-place edit of A between two solves gives the new answer, f32 and f64 (defect 4)', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const P = poisson2d(10);
      const A = { ...P, values: dtype === 'f32' ? Float32Array.from(P.values) : P.values.slice() };
      const b = dtype === 'f32' ? new Float32Array(A.nrows).fill(1) : new Float64Array(A.nrows).fill(1);
      // f32 results are judged in f32: ask for what f32 can hold on this κ ≈ 50 system.
      const tol = dtype === 'f32' ? 1e-4 : 1e-10;
      for (const method of ['sor', 'ssor-cg', 'cg'] as const) {
        const first = await ctx.solve(A, b, { ...opts, method, omega: 1.3, tol });
        expect(first.converged).toBe(true);
        const before = A.values.slice();
        for (let i = 0; i < A.nrows; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p] === i) A.values[p] = A.values[p]! + 3;
        const second = await ctx.solve(A, b, { ...opts, method, omega: 1.3, tol });
        const true_ = residual(A, b, Float64Array.from(second.x), new Float64Array(A.nrows));
        expect(second.residualNorm).toBe(true_);
        expect(second.converged).toBe(true);
        expect(true_).toBeLessThanOrEqual(tol * second.initialResidualNorm);
        A.values.set(before);
      }
    }
  });

  it('finite but huge matrix values are E_RANGE, and no result carries Inf or NaN (defect 9)', async () => {
    const A = poisson2d(4);
    const b = new Float64Array(A.nrows).fill(1);
    const values = A.values.slice();
    values[1] = -1e300;
    await expect(ctx.solve({ ...A, values }, b, opts)).rejects.toMatchObject({ code: 'E_RANGE', argument: 'A.values' });
    // Within the bound but wildly non-SPD: the run diverges or breaks down with finite numbers.
    values[1] = -1e140;
    for (const method of ['sor', 'cg', 'ssor-cg', 'jacobi'] as const) {
      const r = await ctx.solve({ ...A, values }, b, { ...opts, method, maxIter: 50 });
      expect(Number.isFinite(r.residualNorm)).toBe(true);
      expect(Number.isFinite(r.initialResidualNorm)).toBe(true);
      expect(r.x.every(Number.isFinite)).toBe(true);
      expect(r.converged).toBe(false);
    }
  });

  it('detached inputs are E_SHAPE naming the argument, even for an empty system (defects 1, 12)', async () => {
    const A = poisson2d(4);
    const b = new Float64Array(A.nrows).fill(1);
    const x0 = new Float64Array(A.nrows);
    detach(x0);
    await expect(ctx.solve(A, b, { ...opts, x0 })).rejects.toMatchObject({ code: 'E_SHAPE', argument: 'options.x0' });
    const b2 = b.slice();
    detach(b2);
    await expect(ctx.solve(A, b2, opts)).rejects.toMatchObject({ code: 'E_SHAPE', argument: 'b' });
    const values = A.values.slice();
    detach(values);
    await expect(ctx.solve({ ...A, values }, b, opts)).rejects.toMatchObject({ code: 'E_SHAPE', argument: 'A.values' });
    const empty = { nrows: 0, ncols: 0, rowPtr: Int32Array.from([0]), colIdx: new Int32Array(0), values: new Float64Array(0) };
    const e0 = new Float64Array(0);
    detach(e0);
    await expect(ctx.solve(empty, new Float64Array(0), { ...opts, x0: e0 })).rejects.toBeInstanceOf(NumkernError);
  });
});

describe('validation cost and option types', () => {
  it('a row pointer of 2^31 − 1 is rejected in O(nrows + nnz) (defect 10)', async () => {
    const A = { nrows: 2, ncols: 2, rowPtr: Int32Array.from([0, 2 ** 31 - 1, 2]), colIdx: Int32Array.from([0, 1]), values: Float64Array.from([1, 1]) };
    await expect(ctx.solve(A, new Float64Array(2))).rejects.toMatchObject({ code: 'E_CSR_INVALID', argument: 'A.rowPtr' });
    await expect(ctx.spmv(A, new Float64Array(2))).rejects.toMatchObject({ code: 'E_CSR_INVALID', argument: 'A.rowPtr' });
  });

  it('null options are refused like any other wrong type (defect 12)', async () => {
    const A = poisson2d(3);
    const b = new Float64Array(9).fill(1);
    for (const key of ['method', 'criterion', 'omega', 'tol', 'maxIter', 'checkEvery', 'preconditioner', 'inPlace'] as const) {
      await expect(ctx.solve(A, b, { [key]: null } as never)).rejects.toMatchObject({ code: 'E_DTYPE', argument: `options.${key}` });
    }
  });
});

describe('sizes past what the formats or the machine hold', () => {
  it('a generator whose CSR form would pass 2^31 − 1 entries refuses before allocating; its stencil form is fine', () => {
    expect(5 * 20724 * 20724 - 4 * 20724).toBeLessThan(2 ** 31);
    for (const [make, argument] of [
      [() => poisson2d(20725), 'm'], [() => poisson3d(1290), 'm'], [() => heatStep2d(46341, { kappa: 1 }), 'nx'],
    ] as const) {
      expect(codeOf(make)).toMatch(new RegExp(`^E_RANGE ${argument}: its CSR form would hold \\d+ entries, past the 2\\^31 − 1`));
    }
    expect(poisson3d(1290, { stencil: true }).shape).toEqual([1290, 1290, 1290]);
  });

  it('the CSR twin is allocated to its exact size: every row pointer and entry in place', () => {
    for (const S of [poisson2d(7, { stencil: true }), poisson3d(4, { stencil: true }), { ...poisson2d(5, { stencil: true }), coeffs: { kind: 'constant' as const, diag: 4, offdiag: [-1, 0, -1, -1] } }]) {
      const A = stencilToCsr(S);
      expect(A.colIdx.length).toBe(A.rowPtr[A.nrows]);
      expect(A.values.length).toBe(A.rowPtr[A.nrows]);
    }
  });

  it('checkMemory refuses more bytes than the machine has, naming the argument', () => {
    expect(() => checkMemory(totalmem() + 1, 'options.nx')).toThrow(/options\.nx: needs [\d.]+ GiB, more than this machine's/);
    expect(() => checkMemory(1024, 'm')).not.toThrow();
  });
});
