/**
 * `npm run bench` / `numkern bench`: probe the machine's ceilings, run the suites per backend,
 * print each result as a fraction of the ceiling that bounds it, and write bench/results/*.json.
 * Speed lives here, never in tests.
 */
import { readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { closest } from '../src/cli/suggest.js';
import { createContext, type Context } from '../src/index.js';
import { probeCeilings } from './ceilings.js';
import { printTable, writeResults, type Row } from './report.js';
import type { Target } from './suites/linalg.js';

type Suite = (targets: Target[], c: Awaited<ReturnType<typeof probeCeilings>>, quick: boolean) => Promise<Row[]>;

// Every family's suites come from its own file, bench/suites/<family>.ts (`export const suites`), so a
// new family adds a file here and edits nothing.
const SUITES: Record<string, readonly [string, Suite]> = {};
const suiteDir = join(import.meta.dirname, 'suites');
for (const f of readdirSync(suiteDir).filter((x) => /\.(ts|js)$/.test(x) && !x.endsWith('.d.ts')).sort()) {
  const mod = (await import(pathToFileURL(join(suiteDir, f)).href)) as { suites?: Record<string, readonly [string, Suite]> };
  Object.assign(SUITES, mod.suites ?? {});
}

const { values } = parseArgs({
  options: { suite: { type: 'string' }, quick: { type: 'boolean' }, backends: { type: 'string' } },
});
const chosen = values.suite ? values.suite.split(',') : Object.keys(SUITES);
for (const s of chosen) {
  if (SUITES[s]) continue;
  // A usage error, as the CLI reports its own: one line, a suggestion, exit code 2.
  const best = closest(s, Object.keys(SUITES));
  process.stderr.write(`numkern bench: unknown suite '${s}'${best ? `; did you mean ${best}?` : ''} (suites: ${Object.keys(SUITES).join(', ')})\n`);
  process.exit(2);
}

const ceilings = await probeCeilings();
console.log(`# numkern bench — ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`ceilings (${ceilings.source}): triad ${ceilings.triad1.toFixed(1)} GB/s (1 thread), ${ceilings.triadAll.toFixed(1)} GB/s (${ceilings.threads} threads); ` +
  `dgemm ${ceilings.gemm1.toFixed(1)} GFLOP/s (1 thread), ${ceilings.gemmAll.toFixed(1)} GFLOP/s (${ceilings.threads} threads)${ceilings.blas ? ` via ${ceilings.blas}` : ''}`);

const contexts: Context[] = [];
const open = async (o: Parameters<typeof createContext>[0]) => {
  const c = await createContext(o);
  contexts.push(c);
  return c;
};
const all = await open({});
const one = await open({ threads: 1 });
const wanted = values.backends ? new Set(values.backends.split(',')) : null;
// A default context starts WebGPU at first use; the bench measures it when asked, so it starts it now.
if (!wanted || wanted.has('webgpu')) await all.start();
const targets: Target[] = [];
for (const s of all.status()) {
  if (!s.available || (wanted && !wanted.has(s.name))) continue;
  if (s.name === 'native') {
    targets.push({ label: 'native', backend: 'native', threads: 1, ctx: one });
    if (ceilings.threads > 1) targets.push({ label: 'native', backend: 'native', threads: ceilings.threads, ctx: all });
  } else {
    targets.push({ label: s.name === 'webgpu' ? `webgpu${s.info?.software ? ' (sw)' : ''}` : s.name, backend: s.name, threads: s.name === 'js' ? 1 : 'device', ctx: all });
  }
}

const rows: Row[] = [];
for (const name of chosen) {
  const [title, suite] = SUITES[name]!;
  const r = await suite(targets, ceilings, values.quick ?? false);
  printTable(title, r);
  rows.push(...r);
}
const file = writeResults('bench', { date: new Date().toISOString(), machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavg: loadavg() }, ceilings, backends: all.status(), rows });
console.log(`\nwrote ${file}`);
for (const c of contexts) await c.dispose();
