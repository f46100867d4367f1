/**
 * Child-process entry of the fuzz suite: `node --import tsx test/fuzz/run.ts <backend> <runs> <seed>`.
 * Prints one JSON line (the outcome counts) and exits 0, or prints the failing case and exits 1; a
 * crash shows as a signal in the parent (./fuzz.test.ts), which is a failure too.
 */
import { createContext } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import { fuzzEntryPoints } from './entry-points.js';

const [backend, runsArg, seedArg] = process.argv.slice(2) as [BackendName, string, string];
const runs = Number(runsArg ?? 50);
const seed = Number(seedArg ?? 1);
const ctx = await createContext({ backends: backend === 'js' ? ['js'] : [backend, 'js'] });
try {
  if (!ctx.available().includes(backend)) {
    process.stdout.write(`${JSON.stringify({ backend, unavailable: ctx.status().find((s) => s.name === backend)?.reason })}\n`);
  } else {
    const report = await fuzzEntryPoints(ctx, backend, runs, seed);
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
} catch (e) {
  // fast-check puts the property's own error in `cause`; the counterexample is in the message.
  const cause = e instanceof Error && e.cause instanceof Error ? `\ncaused by: ${e.cause.message}` : '';
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`${msg.length > 4000 ? `${msg.slice(0, 4000)}…` : msg}${cause}\n`);
  process.exitCode = 1;
} finally {
  await ctx.dispose();
}
