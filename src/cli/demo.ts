/**
 * `numkern demo`: the package's main job on a built-in default. Online ω tuning on the shifted 10×10
 * Laplacian sequence of Learning to Relax (docs/relax.md §5.1: SOR, tol 1e-8, x0 = 0, truncated-
 * Gaussian right-hand sides), every policy on the very same instances: ω = 1, ω = 1.5, the best fixed ω in
 * hindsight, Tsallis-INF, ChebCB, numkern's SurrogateTS and the instance-optimal ω (Young's formula).
 * Prints total iterations and wall time per policy; --plot writes cumulative iterations per instance.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Context } from '../context.js';
import { fail } from '../core/errors.js';
import type { BackendName } from '../core/types.js';
import { shiftedLaplacianSequence } from '../relax/instances.js';
import { solveSequence, tunedTarget, type SequenceRecord, type SequenceResult } from '../relax/sequence.js';
import { ChebCB } from '../relax/tuners/chebcb.js';
import { bestFixedInHindsight, instanceOptimal } from '../relax/tuners/comparators.js';
import { FixedOmega } from '../relax/tuners/fixed.js';
import { SurrogateTS } from '../relax/tuners/surrogate-ts.js';
import { TsallisInf } from '../relax/tuners/tsallis-inf.js';
import type { Tuner } from '../relax/tuners/tuner.js';
import { fallbackNote } from './fallback.js';
import { plural, ProgressBar } from './progress.js';
import { linePlotSvg } from './svg.js';

export const DEMO_USAGE = `demo [--instances 5000] [--variance low|high] [--seed 1] [--plot out.svg]
       [--json] [--backend auto] [--progress]
                          online ω tuning on the paper's shifted-Laplacian sequence (SOR, tol 1e-8):
                          ω = 1, ω = 1.5, best fixed ω in hindsight, Tsallis-INF, ChebCB, SurrogateTS
                          and instance-optimal ω; prints total iterations and wall time per policy;
                          --plot writes cumulative iterations against instance index as SVG`;

export const DEMO_OPTIONS = {
  instances: { type: 'string' }, variance: { type: 'string' }, seed: { type: 'string' }, plot: { type: 'string' },
  json: { type: 'boolean' }, backend: { type: 'string' }, progress: { type: 'boolean' },
} as const;

/** Candidates for the best fixed ω, refined by golden section between the best one's neighbours. */
const FIXED_CANDIDATES = [1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9];
const FIXED_REFINE = 6;

interface Row {
  name: string;
  omega: string;
  iterations: number;
  wall: number;
  tuner: number | null;
  cappedSolves: number;
  backends: string[];
  records: SequenceRecord[];
}

export async function demoCommand(ctx: Context, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: DEMO_OPTIONS });
  const int = (v: string | undefined, fallback: number, lo: number, hi: number, name: string): number => {
    if (v === undefined) return fallback;
    const x = Number(v);
    if (v.trim() === '' || !Number.isInteger(x)) fail('E_DTYPE', name, `expected an integer, got '${v}'`);
    if (x < lo || x > hi) fail('E_RANGE', name, `expected ${lo} ≤ ${name} ≤ ${hi}, got ${x}`);
    return x;
  };
  const T = int(values.instances, 5000, 1, 1_000_000, '--instances');
  const seed = int(values.seed, 1, 0, Number.MAX_SAFE_INTEGER, '--seed');
  const variance = (values.variance ?? 'low') as 'low' | 'high';
  if (variance !== 'low' && variance !== 'high') fail('E_RANGE', '--variance', `expected low or high, got '${values.variance}'`);
  const backend = values.backend as BackendName | 'auto' | undefined;
  const showProgress = values.progress ?? (process.stderr.isTTY === true && !values.json);
  const seq = shiftedLaplacianSequence({ T, variance, seed });
  const common = { method: 'sor' as const, tol: 1e-8, backend };
  const rows: Row[] = [];
  const t0 = performance.now();
  const before = ctx.fallbacks().length;
  // The table streams: a row is printed when its policy finishes (a piped run shows progress too), so
  // the instance-optimal comparator, which every row's ratio needs, runs first.
  const head = ['policy', 'ω', 'iterations', '× inst-opt', 'wall s', 'of it tuner s'];
  const widths = [22, 11, 10, 10, 7, 13];
  const line = (c: string[]) => c.map((x, i) => (i >= 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  let opt = 0;
  const emit = (r: Row) => {
    if (values.json) return;
    if (r.name === 'instance-optimal') {
      opt = r.iterations;
      process.stdout.write(
        `shifted ${10}×${10} Laplacian + c·I, ${variance} variance, T = ${T}, seed ${seed}: SOR, tol 1e-8, x0 = 0\n` +
        `the policies tune ${tunedTarget(common.method).description}\n\n` +
        `${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`,
      );
    }
    process.stdout.write(`${line([
      r.name, r.omega, r.iterations.toLocaleString('en-US'), (r.iterations / opt).toFixed(3), r.wall.toFixed(2), r.tuner === null ? '-' : r.tuner.toFixed(3),
    ])}\n`);
  };

  let bestOmega = Number.NaN;
  /** Runs one policy with a progress bar; `learns` marks policies whose tuner overhead is reported. */
  const track = async (name: string, omega: string, learns: boolean, run: (bar: ProgressBar) => Promise<SequenceResult>): Promise<void> => {
    const bar = new ProgressBar(name.padEnd(22), showProgress);
    const r = await run(bar);
    bar.done();
    const row: Row = {
      name, omega: omega === '' && Number.isFinite(bestOmega) ? bestOmega.toFixed(4) : omega, iterations: r.totals.iterations,
      wall: r.totals.solveSeconds + r.totals.tunerSeconds, tuner: learns ? r.totals.tunerSeconds : null,
      cappedSolves: r.totals.cappedSolves, backends: r.totals.backends, records: r.records,
    };
    rows.push(row);
    emit(row);
  };
  const policy = (name: string, omega: string, tuner: Tuner) => track(name, omega, omega === 'learned', (bar) =>
    solveSequence(ctx, seq, { ...common, tuner, onProgress: (p) => bar.update(p.completed / T, plural(p.totalIterations, 'iteration')) }));

  await track('instance-optimal', 'Young ω*(c)', false, (bar) =>
    instanceOptimal(ctx, seq, { ...common, onProgress: (p) => bar.update(p.completed / T, plural(p.totalIterations, 'iteration')) }));
  await policy('ω = 1', '1', new FixedOmega(1));
  await policy('ω = 1.5', '1.5', new FixedOmega(1.5));
  await track('best fixed (hindsight)', '', false, async (bar) => {
    let pass = 0;
    const r = await bestFixedInHindsight(ctx, seq, {
      ...common, grid: FIXED_CANDIDATES, refine: FIXED_REFINE,
      onProgress: (p) => {
        if (p.completed === 1) pass++;
        bar.update(((pass - 1) + p.completed / T) / (FIXED_REFINE + 1), pass === 1 ? `${FIXED_CANDIDATES.length} candidates` : `refining, pass ${pass - 1}/${FIXED_REFINE}`);
      },
    });
    bestOmega = r.omega;
    return r;
  });
  await policy('Tsallis-INF', 'learned', new TsallisInf({ seed }));
  await policy('ChebCB', 'learned', new ChebCB({ context: seq.context, seed }));
  await policy('SurrogateTS (numkern)', 'learned', new SurrogateTS({ context: seq.context, seed }));
  const elapsed = (performance.now() - t0) / 1e3;

  opt = rows.find((r) => r.name === 'instance-optimal')!.iterations;
  // The comparator ran first for the streamed table; the plot and JSON list it last, after the policies.
  rows.push(...rows.splice(rows.findIndex((r) => r.name === 'instance-optimal'), 1));
  if (values.plot) {
    // ω = 1 costs several times the rest; past 2.5× the runner-up it is drawn clipped so the others stay readable.
    const finals = rows.map((r) => r.iterations).sort((a, b) => b - a);
    const clip = finals.length > 1 && finals[0]! > 2.5 * finals[1]! ? 1.1 * finals[1]! : undefined;
    const svg = linePlotSvg(
      rows.map((r) => {
        const cum = new Float64Array(r.records.length);
        let s = 0;
        r.records.forEach((rec, k) => { s += rec.iterations; cum[k] = s; });
        const off = clip !== undefined && r.iterations > clip ? ` (off scale: ${r.iterations.toLocaleString('en-US')})` : '';
        return { name: `${r.name}${off}`, values: cum, dashed: r.omega !== 'learned' };
      }),
      { title: `Shifted Laplacian (${variance} variance), SOR, tol 1e-8`, xLabel: 'instance', yLabel: 'cumulative iterations', yMax: clip },
    );
    await writeFile(values.plot, svg);
  }
  const backendUsed = [...new Set(rows.flatMap((r) => r.backends))].join(', ') || 'none';
  const fallback = fallbackNote(ctx, before, backend, rows.flatMap((r) => r.backends)[0] as BackendName ?? 'js');
  if (values.json) {
    process.stdout.write(`${JSON.stringify({
      sequence: { family: 'shifted-laplacian', variance, T, seed, method: 'sor', tol: 1e-8 }, tuned: tunedTarget(common.method), backend: backendUsed, seconds: elapsed,
      policies: rows.map((r) => ({
        name: r.name, omega: r.omega, iterations: r.iterations, ratioToInstanceOptimal: r.iterations / opt,
        wallSeconds: r.wall, tunerSeconds: r.tuner, cappedSolves: r.cappedSolves,
      })),
      plot: values.plot ?? null, requestedBackend: backend ?? 'auto', fallback,
    })}\n`);
    return 0;
  }
  process.stdout.write(
    `\nbackend ${backendUsed}${fallback ? ` (--backend ${fallback.requested} fell back to ${fallback.used}: ${fallback.reason})` : ''}\n` +
    `wall s: solve time of the policy's own solves plus its tuner's overhead; the comparators' searches are not counted.\n` +
    `${elapsed.toFixed(1)} s in all${values.plot ? `; plot written to ${values.plot}` : ''}\n`,
  );
  return 0;
}
