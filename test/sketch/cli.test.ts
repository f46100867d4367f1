/**
 * `numkern lstsq A.mtx b.mtx`: the command's function on real Matrix Market files (dense array and sparse
 * coordinate). The bin's dispatch to it is one line in src/cli/main.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lstsqCommand } from '../../src/cli/lstsq.js';
import { createContext, readMatrixMarket, writeMatrixMarket } from '../../src/index.js';
import { lsProblem, toCsr } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const dir = mkdtempSync(join(tmpdir(), 'numkern-lstsq-'));
const P = lsProblem(600, 6, 100, 0.5, 3);
const dense = join(dir, 'A.mtx');
const sparse = join(dir, 'As.mtx');
const rhs = join(dir, 'b.mtx');
writeFileSync(dense, writeMatrixMarket(P.A));
writeFileSync(sparse, writeMatrixMarket(toCsr(P.A)));
writeFileSync(rhs, writeMatrixMarket({ rows: 600, cols: 1, data: P.b }));

async function run(...args: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const code = await lstsqCommand(ctx, args, (s) => {
    text += s;
  });
  return { code, text };
}

describe('numkern lstsq', () => {
  it('prints residual, iterations, rank, time and backend', async () => {
    const r = await run(dense, rhs, '--method', 'sketch-and-precondition');
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/^sketch-and-precondition \(sparse-sign, m = \d+, seed 0\) on 600×6: converged after \d+ iterations, rank 6, ‖b−Ax‖ = \S+ \(relative \S+\), [\d.]+ ms on js$/m);
  });

  it('--json, a sparse file, every method: the optimal residual (ρ = 0.5 by construction)', async () => {
    for (const method of ['sketch-and-precondition', 'iterative-sketching', 'sketch-cholesky', 'qr']) {
      const r = await run(sparse, rhs, '--method', method, '--json', '--seed', '18446744073709551615');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.text);
      expect(j).toMatchObject({ rows: 600, cols: 6, method, rank: 6, converged: true, backend: 'js' });
      expect(Math.abs(j.residualNorm - 0.5)).toBeLessThan(1e-12);
      // sketch-cholesky sketches only an A too ill-conditioned for the Gram of A itself (κ = 100 is not).
      if (method === 'sketch-cholesky') expect(j).toMatchObject({ sketch: null, backends: { gram: 'js', solve: 'js' } });
      else if (method !== 'qr') expect(j.sketch.seed).toBe('18446744073709551615');
    }
  });

  it('--out writes x as a Matrix Market column', async () => {
    const out = join(dir, 'x.mtx');
    expect((await run(dense, rhs, '--method', 'qr', '--out', out)).code).toBe(0);
    const x = await readMatrixMarket(out);
    expect(x.kind).toBe('array');
    expect(x.matrix).toMatchObject({ rows: 6, cols: 1 });
  });

  it('bad arguments are NumkernErrors naming the flag; a wrong arity prints usage', async () => {
    await expect(run(dense, rhs, '--m', 'many')).rejects.toMatchObject({ code: 'E_DTYPE', argument: '--m' });
    await expect(run(dense, rhs, '--seed', '1.5')).rejects.toMatchObject({ code: 'E_RANGE', argument: '--seed' });
    await expect(run(dense, rhs, '--m', '3')).rejects.toMatchObject({ code: 'E_RANGE', argument: 'options.m' });
    expect((await run(dense)).code).toBe(2);
  });
});
