/** Bad input to ctx.solve / solveMany and the generators: the right NumkernError before any work. */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, NumkernError, poisson2d, shifted, heatStep2d, diffusion2d } from '../../src/index.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const A = poisson2d(3);
const b = new Float64Array(9).fill(1);

async function code(p: () => Promise<unknown> | unknown): Promise<string> {
  try {
    await p();
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.message}`;
    throw e;
  }
  return 'ok';
}

describe('solve input checks', () => {
  const cases: [string, () => Promise<unknown> | unknown, RegExp][] = [
    ['non-square', () => ctx.solve({ ...poisson2d(2), ncols: 5 } as never, new Float64Array(4)), /^E_CSR_INVALID|^E_SHAPE/],
    ['b length', () => ctx.solve(A, new Float64Array(8)), /^E_SHAPE b/],
    ['b dtype', () => ctx.solve(A, new Float32Array(9)), /^E_DTYPE b/],
    ['b NaN', () => ctx.solve(A, Float64Array.from({ length: 9 }, (_, i) => (i === 4 ? NaN : 1))), /^E_NONFINITE b/],
    ['zero diagonal', () => ctx.solve(shifted(A, -4), b), /^E_ZERO_DIAGONAL A: diagonal entry 0 is 0/],
    ['negative diagonal', () => ctx.solve(shifted(A, -5), b), /^E_RANGE A: diagonal entry 0 is -1 < 0: A is not positive definite/],
    ['missing diagonal', () => ctx.solve({ nrows: 2, ncols: 2, rowPtr: Int32Array.from([0, 1, 2]), colIdx: Int32Array.from([1, 0]), values: Float64Array.from([1, 1]) }, new Float64Array(2)), /^E_ZERO_DIAGONAL/],
    ['invalid CSR', () => ctx.solve({ ...A, colIdx: A.colIdx.map((c) => c + 1) }, b), /^E_CSR_INVALID/],
    ['A NaN', () => ctx.solve({ ...A, values: A.values.map((v, i) => (i === 3 ? Infinity : v)) }, b), /^E_NONFINITE A\.values/],
    ['ω = 0', () => ctx.solve(A, b, { omega: 0 }), /^E_RANGE options\.omega/],
    ['ω = 2', () => ctx.solve(A, b, { omega: 2 }), /^E_RANGE options\.omega/],
    ['ω NaN', () => ctx.solve(A, b, { omega: NaN }), /^E_NONFINITE options\.omega/],
    ['unknown method', () => ctx.solve(A, b, { method: 'multigrid' as never }), /^E_RANGE options\.method/],
    ['negative tol', () => ctx.solve(A, b, { tol: -1 }), /^E_RANGE options\.tol/],
    ['maxIter fractional', () => ctx.solve(A, b, { maxIter: 2.5 }), /^E_DTYPE options\.maxIter/],
    ['checkEvery 0', () => ctx.solve(A, b, { checkEvery: 0 }), /^E_RANGE options\.checkEvery/],
    ['criterion', () => ctx.solve(A, b, { criterion: 'rel' as never }), /^E_RANGE options\.criterion/],
    ['x0 length', () => ctx.solve(A, b, { x0: new Float64Array(3) }), /^E_SHAPE options\.x0/],
    ['inPlace without x0', () => ctx.solve(A, b, { inPlace: true }), /^E_SHAPE options\.inPlace/],
    ['stencil shape', () => ctx.solve({ ...poisson2d(3, { stencil: true }), shape: [3] }, b), /^E_SHAPE A\.shape/],
    ['stencil zero diagonal', () => ctx.solve(shifted(poisson2d(3, { stencil: true }), -4), b), /^E_ZERO_DIAGONAL A\.coeffs\.diag/],
    ['stencil offdiag count', () => ctx.solve({ kind: 'stencil', shape: [3, 3], coeffs: { kind: 'constant', diag: 4, offdiag: [-1, -1] } }, b), /^E_SHAPE A\.coeffs\.offdiag/],
    ['solveMany not array', () => ctx.solveMany({} as never), /^E_DTYPE systems/],
    ['solveMany bad system', () => ctx.solveMany([{ A, b }, { A, b: new Float64Array(2) }]), /^E_SHAPE systems\[1\]\.b/],
    ['solveMany bad ω', () => ctx.solveMany([{ A, b, omega: 2.5 }]), /^E_RANGE systems\[0\]\.omega/],
    ['poisson2d(0)', () => poisson2d(0), /^E_RANGE m/],
    ['heat κ ≤ 0', () => heatStep2d(8, { kappa: 0 }), /^E_RANGE options\.kappa/],
    ['diffusion κ < 0', () => diffusion2d(4, () => -1), /^E_RANGE kappa/],
  ];
  it.each(cases)('%s', async (_n, f, re) => {
    expect(await code(f)).toMatch(re);
  });
});

describe('fuzz', () => {
  it('random options and right-hand sides give a result or a NumkernError', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        method: fc.constantFrom('jacobi', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'gauss-seidel', 'x'),
        omega: fc.oneof(fc.double({ min: -1, max: 3 }), fc.constant(undefined)),
        tol: fc.oneof(fc.double({ min: -1, max: 1 }), fc.constant(undefined)),
        maxIter: fc.oneof(fc.integer({ min: -2, max: 50 }), fc.constant(undefined)),
        checkEvery: fc.oneof(fc.integer({ min: -1, max: 5 }), fc.constant(undefined)),
      }, { requiredKeys: [] }),
      fc.float64Array({ minLength: 8, maxLength: 10 }),
      async (opts, rhs) => {
        try {
          const r = await ctx.solve(A, rhs, opts as never);
          expect(Number.isFinite(r.residualNorm)).toBe(true);
        } catch (e) {
          if (!(e instanceof NumkernError)) throw e;
        }
      },
    ), { numRuns: 300 });
  });
});
