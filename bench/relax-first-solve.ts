/**
 * One fresh process's first solves (bench/suites/relax-real.ts runs it in a new `node`): creates a
 * context, reads a Matrix Market file and times ten consecutive solves of the same system on the
 * native backend with all threads. Prints {"create": s, "times": [s, ...]}.
 *   node --import tsx bench/relax-first-solve.ts file.mtx ssor-cg|cg omega
 */
import { createContext } from '../src/index.js';
import { readMatrixMarket } from '../src/core/matrix-market.js';
import type { RelaxMethod } from '../src/relax/ops.js';

const [file, method, omega] = process.argv.slice(2) as [string, RelaxMethod, string];
const d = await readMatrixMarket(file);
if (d.kind !== 'coordinate') throw new Error(`${file}: not a sparse matrix`);
const A = d.matrix;
const b = new Float64Array(A.nrows).fill(1);
const t0 = performance.now();
const ctx = await createContext({ backends: ['native'] });
const create = (performance.now() - t0) / 1e3;
const times: number[] = [];
for (let k = 0; k < 10; k++) {
  const t = performance.now();
  await ctx.solve(A, b, { method, omega: Number(omega), backend: 'native', strict: true });
  times.push((performance.now() - t) / 1e3);
}
await ctx.dispose();
process.stdout.write(JSON.stringify({ create, times }));
