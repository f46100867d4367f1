/**
 * The unstructured FEM generators (src/relax/fem.ts): deterministic, exactly symmetric, SPD (CG
 * converges, no breakdown), irregular rows, not a grid stencil's twin; and the counts of CG and
 * SSOR-CG on them identical on every available CPU backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { femAnisotropic3d, femPoisson2d } from '../../src/relax/fem.js';
import { recognizeStencil } from '../../src/core/stencil.js';
import type { CsrMatrix } from '../../src/index.js';
import { openForConformance } from '../support/backends.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

function entry(A: CsrMatrix, i: number, j: number): number {
  for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p] === j) return A.values[p]!;
  return 0;
}

describe('FEM generators', () => {
  const cases: [string, () => CsrMatrix][] = [
    ['femPoisson2d(20)', () => femPoisson2d(20)],
    ['femPoisson2d(16, contrast 100)', () => femPoisson2d(16, { contrast: 100, seed: 7 })],
    ['femAnisotropic3d(7)', () => femAnisotropic3d(7)],
  ];
  for (const [name, make] of cases) {
    it(`${name}: deterministic, exactly symmetric, irregular, positive diagonal`, () => {
      const A = make();
      const B = make();
      expect(B.values).toEqual(A.values);
      expect(B.colIdx).toEqual(A.colIdx);
      const lengths = new Set<number>();
      for (let i = 0; i < A.nrows; i++) {
        lengths.add(A.rowPtr[i + 1]! - A.rowPtr[i]!);
        expect(entry(A, i, i)).toBeGreaterThan(0);
        for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) expect(entry(A, A.colIdx[p]!, i)).toBe(A.values[p]);
      }
      expect(lengths.size).toBeGreaterThan(2);
      expect(recognizeStencil(A)).toBeNull();
    });
  }

  it('another seed gives another mesh', () => {
    expect(femPoisson2d(12, { seed: 2 }).values).not.toEqual(femPoisson2d(12, { seed: 3 }).values);
  });

  it('refuses bad options with NumkernError', () => {
    expect(() => femPoisson2d(8, { jitter: 0.5 })).toThrow(/options.jitter/);
    expect(() => femAnisotropic3d(4, { epsilon: 0 })).toThrow(/options.epsilon/);
    expect(() => femPoisson2d(0)).toThrow(/\bm\b/);
  });

  for (const method of ['cg', 'ssor-cg'] as const) {
    it(`${method}: converges, same count on ${backends.join(', ')}`, async () => {
      for (const A of [femPoisson2d(20), femAnisotropic3d(7)]) {
        const b = new Float64Array(A.nrows).fill(1);
        const counts = new Set<number>();
        for (const backend of backends.filter((x) => x === 'js' || x === 'native')) {
          const r = await ctx.solve(A, b, { method, omega: 1.4, backend, strict: true });
          expect(r.converged).toBe(true);
          counts.add(r.iterations);
        }
        expect(counts.size).toBe(1);
      }
    });
  }
});
