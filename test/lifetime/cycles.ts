/**
 * Child of ./native-lifetime.test.ts: `node --import tsx test/lifetime/cycles.ts <backend> <cycles>`.
 * Runs create → solve → dispose cycles and prints one JSON line per checkpoint:
 * {cycle, rss, t} with t = Date.now(), the last line printed just before the process should exit.
 */
import { createContext, poisson2d } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';

const [backend, cyclesArg] = process.argv.slice(2) as [BackendName, string];
const cycles = Number(cyclesArg);
const A = poisson2d(24);
const b = new Float64Array(A.nrows).fill(1);
const line = (cycle: number): void => void process.stdout.write(`${JSON.stringify({ cycle, rss: process.memoryUsage().rss, t: Date.now() })}\n`);
for (let c = 1; c <= cycles; c++) {
  const ctx = await createContext({ backends: [backend, 'js'] });
  const r = await ctx.solve(A, b, { method: 'cg', backend, strict: true });
  if (!r.converged) throw new Error(`cycle ${c}: not converged`);
  const P = ctx.relax.prepare(A);
  await ctx.solve(P, b, { method: 'ssor-cg', omega: 1.5, backend, strict: true });
  P.dispose();
  await ctx.dispose();
  if (c === Math.ceil(cycles / 10) || c === cycles) line(c);
}
