/**
 * Prepared operators (ctx.relax.prepare): validated and snapshot once; solves with the handle equal
 * solves with the matrix bit for bit; the caller's later edits do not reach the snapshot; dispose
 * releases what backends kept and makes the handle unusable. solveSequence prepares a repeated
 * matrix and notices an in-place edit between instances.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, FixedOmega, poisson2d, solveSequence, type SequenceInstance } from '../../src/index.js';

const ctx = await createContext({ backends: ['js', 'native'] });
afterAll(() => ctx.dispose());
const cpu = ctx.available().filter((b) => b === 'js' || b === 'native');

describe.each(cpu)('prepared operators on %s', (backend) => {
  const opts = { backend, strict: true } as const;

  it('solve with a prepared handle equals solve with the matrix, for every method', async () => {
    const A = poisson2d(12);
    const P = ctx.relax.prepare(A);
    const b = Float64Array.from({ length: A.nrows }, (_, i) => Math.cos(i));
    for (const method of ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg'] as const) {
      for (let rep = 0; rep < 2; rep++) {
        const plain = await ctx.solve(A, b, { ...opts, method, omega: 1.4, maxIter: 3000 });
        const prep = await ctx.solve(P, b, { ...opts, method, omega: 1.4, maxIter: 3000 });
        expect(prep.iterations).toBe(plain.iterations);
        expect(prep.x).toEqual(plain.x);
        expect(prep.residualNorm).toBe(plain.residualNorm);
      }
    }
    P.dispose();
  });

  it('the snapshot ignores later edits of the caller’s arrays; dispose releases and refuses further use', async () => {
    const A = poisson2d(8);
    const b = new Float64Array(A.nrows).fill(1);
    const P = ctx.relax.prepare(A);
    const before = await ctx.solve(P, b, opts);
    A.values.fill(7); // the caller edits its own matrix: the prepared snapshot is unaffected
    const after = await ctx.solve(P, b, opts);
    expect(after.x).toEqual(before.x);
    let released = 0;
    P.own(() => released++);
    P.dispose();
    expect(released).toBe(1);
    P.dispose();
    expect(released).toBe(1);
    await expect(ctx.solve(P, b, opts)).rejects.toMatchObject({ code: 'E_RANGE', argument: 'A' });
  });

  it('prepare validates once, up front', () => {
    expect(() => ctx.relax.prepare({ ...poisson2d(3), values: new Float64Array(33).fill(-1) })).toThrow(/positive definite/);
    expect(() => ctx.relax.prepare(null as never)).toThrow(/^A: /);
  });
});

describe('solveSequence prepares a repeated matrix', () => {
  const A = poisson2d(10);
  function* rhsSequence(T: number, edit?: number): Generator<SequenceInstance> {
    for (let t = 0; t < T; t++) {
      if (t === edit) for (let i = 0; i < A.nrows; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p] === i) A.values[p] = 5;
      yield { A, b: Float64Array.from({ length: A.nrows }, (_, i) => Math.sin(i + t)) };
    }
  }

  it('gives the same records with and without preparation, and sees an in-place edit', async () => {
    const run = (prepare: boolean, edit?: number) =>
      solveSequence(ctx, rhsSequence(6, edit), { tuner: new FixedOmega(1.5), method: 'sor', prepare });
    const saved = A.values.slice();
    const a = await run(true);
    const b = await run(false);
    expect(a.records.map((r) => r.iterations)).toEqual(b.records.map((r) => r.iterations));
    const edited = await run(true, 3);
    A.values.set(saved);
    const editedPlain = await run(false, 3);
    A.values.set(saved);
    expect(edited.records.map((r) => r.iterations)).toEqual(editedPlain.records.map((r) => r.iterations));
    // The edit (a heavier diagonal) changes the count from instance 3 on.
    expect(edited.records[3]!.iterations).not.toBe(a.records[3]!.iterations);
  });
});
