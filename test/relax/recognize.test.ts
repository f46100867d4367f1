/**
 * prepare() runs a CSR matrix that is exactly a grid stencil's twin as that stencil: the same bits on
 * every CPU backend (the twins compute identically), and nothing else is mistaken for a stencil.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openForConformance } from '../support/backends.js';
import { recognizeStencil, stencilToCsr } from '../../src/core/stencil.js';
import { diffusion2d, poisson2d, poisson3d, shifted, type CsrMatrix, type RelaxMethod } from '../../src/index.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

const grids: [string, () => CsrMatrix, string][] = [
  ['poisson2d 13', () => poisson2d(13) as CsrMatrix, '2-D 5-point stencil 13×13, constant coefficients'],
  ['shifted poisson3d 6', () => shifted(poisson3d(6), 0.4) as CsrMatrix, '3-D 7-point stencil 6×6×6, constant coefficients'],
  ['diffusion2d 11', () => diffusion2d(11, (x, y) => 1 + 0.5 * Math.sin(3 * x) * y) as CsrMatrix, '2-D 5-point stencil 11×11, variable coefficients'],
];

describe('recognizeStencil', () => {
  it.each(grids)('%s is recognized, and its twin is the matrix', (_n, make, words) => {
    const A = make();
    const S = recognizeStencil(A)!;
    expect(S).not.toBeNull();
    const T = stencilToCsr(S);
    expect(Array.from(T.values)).toEqual(Array.from(A.values));
    expect(ctx.relax.prepare(A).recognized).toBe(words);
    expect(ctx.relax.prepare(A, { recognizeStencil: false }).recognized).toBeNull();
  });

  it('near misses stay CSR', () => {
    const A = poisson2d(9) as CsrMatrix;
    const perturbed = { ...A, values: A.values.slice() };
    perturbed.values[40] = perturbed.values[40]! + 1e-12; // one coupling differs: a variable stencil still matches
    expect(recognizeStencil(perturbed)?.coeffs.kind).toBe('variable');
    const swapped = { ...A, colIdx: A.colIdx.slice() };
    [swapped.colIdx[20], swapped.colIdx[21]] = [swapped.colIdx[21]!, swapped.colIdx[20]!]; // unsorted row: a different matrix order
    expect(recognizeStencil(swapped)).toBeNull();
    const f32 = { ...A, values: Float32Array.from(A.values) };
    expect(recognizeStencil(f32)).toBeNull();
    const tri: CsrMatrix = { nrows: 3, ncols: 3, rowPtr: Int32Array.of(0, 2, 5, 7), colIdx: Int32Array.of(0, 1, 0, 1, 2, 1, 2), values: Float64Array.of(2, -1, -1, 2, -1, -1, 2) };
    expect(recognizeStencil(tri)).toBeNull();
    // A periodic wrap (row 0 coupled to the last row) is no Dirichlet grid.
    const wrap: CsrMatrix = { nrows: 4, ncols: 4, rowPtr: Int32Array.of(0, 3, 5, 7, 9), colIdx: Int32Array.of(0, 1, 3, 0, 1, 2, 3, 0, 3), values: Float64Array.of(4, -1, -1, -1, 4, 4, -1, -1, 4) };
    expect(recognizeStencil(wrap)).toBeNull();
  });
});

const methods: RelaxMethod[] = ['sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'jacobi-cg'];

describe.each(backends.filter((b) => b !== 'webgpu'))('%s: a recognized matrix solves to the bits of the CSR solve', (backend) => {
  it.each(grids)('%s', async (_n, make) => {
    const A = make();
    const b = Float64Array.from({ length: A.nrows }, (_, i) => 1 + Math.sin(i));
    const P = ctx.relax.prepare(A);
    expect(P.recognized).not.toBeNull();
    for (const method of methods) {
      const opts = { method, omega: 1.4, tol: 1e-9, maxIter: 5000, backend, strict: true };
      const plain = await ctx.relax.solve(A, b, opts);
      const prep = await ctx.relax.solve(P, b, opts);
      expect(prep.iterations, method).toBe(plain.iterations);
      expect(Array.from(prep.x), method).toEqual(Array.from(plain.x));
    }
    P.dispose();
  });
});
