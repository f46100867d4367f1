/**
 * Online ω tuning, the Learning-to-Relax experiments reproduced (docs/relax.md §5) and numkern's
 * SurrogateTS beside the published learners: same instances, same seeds, same counting.
 *
 *   node --import tsx bench/tuning.ts [--seeds 5] [--T 5000] [--heat-nx 25] [--heat-steps 5000] [--no-heat] [--quick]
 *
 * Shifted 10×10 Laplacian, low and high variance: SOR, tol 1e-8, x0 = 0, instances and learners seeded
 * by the same seed (1..seeds). Heat equation (one grid size): SSOR-CG warm-started from the previous
 * step, tol 1e-8 relative to ‖b‖, context κ(t + dt/2); the simulation is deterministic, so its
 * comparators run once and only the learners vary with the seed.
 * Comparators: instance-optimal (Young's ω*(c) from β(c) on the Laplacian; golden-section search on the
 * count for the heat equation) and the best fixed ω in hindsight (8 candidates, then golden-section
 * refinement of the total). Prints totals and ratios; writes bench/results/tuning-*.json.
 * Speed is measured here only; tests never assert it.
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { createContext, type Context } from '../src/index.js';
import {
  ChebCB, FixedOmega, SurrogateTS, TsallisInf, TsallisInfCB, bestFixedInHindsight, heatSequence, instanceOptimal,
  shiftedLaplacianSequence, solveSequence, type InstanceSequence, type SequenceResult, type Tuner,
} from '../src/relax/index.js';
import { writeResults } from './report.js';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' }, T: { type: 'string' }, 'heat-nx': { type: 'string' }, 'heat-steps': { type: 'string' },
    'no-heat': { type: 'boolean' }, quick: { type: 'boolean' }, backend: { type: 'string' },
  },
});
const quick = values.quick ?? false;
const SEEDS = Number(values.seeds ?? (quick ? 2 : 5));
const T = Number(values.T ?? (quick ? 1000 : 5000));
const HEAT_NX = Number(values['heat-nx'] ?? 25);
const HEAT_STEPS = Number(values['heat-steps'] ?? (quick ? 1000 : 5000));
const MID = Math.min(2000, T);
const backend = (values.backend ?? 'auto') as 'auto';
const FIXED_CANDIDATES = [1.2, 1.3, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9];
const FIXED_REFINE = 8;

type PolicyName = 'ω = 1' | 'ω = 1.5' | 'best fixed' | 'instance-optimal' | 'Tsallis-INF' | 'Tsallis-INF-CB' | 'ChebCB' | 'SurrogateTS';
const LEARNERS: PolicyName[] = ['Tsallis-INF', 'Tsallis-INF-CB', 'ChebCB', 'SurrogateTS'];
const ORDER: PolicyName[] = ['ω = 1', 'ω = 1.5', 'best fixed', 'instance-optimal', ...LEARNERS];

interface Run {
  total: number;
  /** Iterations over the first MID instances. */
  mid: number;
  solveSeconds: number;
  tunerSeconds: number;
  capped: number;
  omega?: number;
}

function summarize(r: SequenceResult, omega?: number): Run {
  let mid = 0;
  for (let k = 0; k < Math.min(MID, r.records.length); k++) mid += r.records[k]!.iterations;
  return { total: r.totals.iterations, mid, solveSeconds: r.totals.solveSeconds, tunerSeconds: r.totals.tunerSeconds, capped: r.totals.cappedSolves, omega };
}

function learner(name: PolicyName, seq: InstanceSequence, seed: number, bins: number): Tuner {
  switch (name) {
    case 'Tsallis-INF': return new TsallisInf({ seed });
    case 'Tsallis-INF-CB': return new TsallisInfCB({ context: seq.context, bins, seed });
    case 'ChebCB': return new ChebCB({ context: seq.context, seed });
    case 'SurrogateTS': return new SurrogateTS({ context: seq.context, seed });
    default: throw new Error(name);
  }
}

const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const std = (a: number[]) => (a.length > 1 ? Math.sqrt(a.reduce((s, v) => s + (v - mean(a)) ** 2, 0) / (a.length - 1)) : 0);

interface Experiment {
  title: string;
  instances: number;
  runs: Record<PolicyName, Run[]>;
}

function report(e: Experiment): Record<string, unknown> {
  const m = (p: PolicyName, f: (r: Run) => number) => mean(e.runs[p].map(f));
  const opt = m('instance-optimal', (r) => r.total);
  const fixed = m('best fixed', (r) => r.total);
  const one = m('ω = 1', (r) => r.total);
  const optMid = m('instance-optimal', (r) => r.mid);
  const head = ['policy', 'total iterations', '± sd', '× inst-opt', '× best fixed', '× ω=1', `× inst-opt @${MID}`, 'solve µs/inst', 'tuner µs/inst', 'capped'];
  const rows = ORDER.map((p) => {
    const totals = e.runs[p].map((r) => r.total);
    const t = mean(totals);
    const isLearner = LEARNERS.includes(p);
    return [
      p + (p === 'best fixed' ? ` (ω ${e.runs[p].map((r) => r.omega!.toFixed(3)).join('/')})` : ''),
      t.toFixed(0), std(totals).toFixed(0), (t / opt).toFixed(3), (t / fixed).toFixed(3), (t / one).toFixed(3),
      (m(p, (r) => r.mid) / optMid).toFixed(3),
      ((1e6 * m(p, (r) => r.solveSeconds)) / e.instances).toFixed(1),
      isLearner ? ((1e6 * m(p, (r) => r.tunerSeconds)) / e.instances).toFixed(1) : '-',
      String(e.runs[p].reduce((s, r) => s + r.capped, 0)),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ');
  console.log(`\n## ${e.title}\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}`);
  return {
    title: e.title, instances: e.instances, mid: MID,
    policies: Object.fromEntries(ORDER.map((p) => [p, {
      totals: e.runs[p].map((r) => r.total), mean: m(p, (r) => r.total), ratioInstanceOptimal: m(p, (r) => r.total) / opt,
      ratioBestFixed: m(p, (r) => r.total) / fixed, ratioOmega1: m(p, (r) => r.total) / one,
      ratioInstanceOptimalAtMid: m(p, (r) => r.mid) / optMid, solveSeconds: m(p, (r) => r.solveSeconds), tunerSeconds: m(p, (r) => r.tunerSeconds),
      omegas: e.runs[p].map((r) => r.omega ?? null), capped: e.runs[p].reduce((s, r) => s + r.capped, 0),
    }])),
  };
}

function empty(): Record<PolicyName, Run[]> {
  return Object.fromEntries(ORDER.map((p) => [p, []])) as unknown as Record<PolicyName, Run[]>;
}

async function shiftedExperiment(ctx: Context, variance: 'low' | 'high'): Promise<Experiment> {
  const runs = empty();
  const common = { method: 'sor' as const, tol: 1e-8, backend };
  for (let seed = 1; seed <= SEEDS; seed++) {
    const t0 = performance.now();
    const seq = shiftedLaplacianSequence({ T, variance, seed });
    runs['ω = 1'].push(summarize(await solveSequence(ctx, seq, { ...common, tuner: new FixedOmega(1) })));
    runs['ω = 1.5'].push(summarize(await solveSequence(ctx, seq, { ...common, tuner: new FixedOmega(1.5) })));
    const bf = await bestFixedInHindsight(ctx, seq, { ...common, grid: FIXED_CANDIDATES, refine: FIXED_REFINE });
    runs['best fixed'].push(summarize(bf, bf.omega));
    runs['instance-optimal'].push(summarize(await instanceOptimal(ctx, seq, common)));
    for (const p of LEARNERS) runs[p].push(summarize(await solveSequence(ctx, seq, { ...common, tuner: learner(p, seq, seed, 5) })));
    console.error(`  ${variance} variance, seed ${seed}: ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  }
  return { title: `Shifted 10×10 Laplacian, ${variance} variance, T = ${T}, SOR, tol 1e-8, ${SEEDS} seeds`, instances: T, runs };
}

async function heatExperiment(ctx: Context): Promise<Experiment> {
  const runs = empty();
  const common = { method: 'ssor-cg' as const, tol: 1e-8, backend };
  const seq = () => heatSequence({ nx: HEAT_NX, steps: HEAT_STEPS });
  const s0 = seq();
  let t0 = performance.now();
  const fixed1 = summarize(await solveSequence(ctx, seq(), { ...common, tuner: new FixedOmega(1) }));
  const fixed15 = summarize(await solveSequence(ctx, seq(), { ...common, tuner: new FixedOmega(1.5) }));
  const bf = await bestFixedInHindsight(ctx, seq, { ...common, grid: FIXED_CANDIDATES, refine: FIXED_REFINE });
  const io = summarize(await instanceOptimal(ctx, seq(), common));
  const bfRun = summarize(bf, bf.omega);
  console.error(`  heat comparators: ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  for (let seed = 1; seed <= SEEDS; seed++) {
    t0 = performance.now();
    runs['ω = 1'].push(fixed1);
    runs['ω = 1.5'].push(fixed15);
    runs['best fixed'].push(bfRun);
    runs['instance-optimal'].push(io);
    for (const p of LEARNERS) runs[p].push(summarize(await solveSequence(ctx, seq(), { ...common, tuner: learner(p, s0, seed, 6) })));
    console.error(`  heat, seed ${seed}: ${((performance.now() - t0) / 1e3).toFixed(1)} s`);
  }
  return {
    title: `Heat equation nx = ${HEAT_NX} (n = ${(HEAT_NX - 1) ** 2}), ${HEAT_STEPS} steps, SSOR-CG warm start, tol 1e-8, κ ∈ [${s0.context.min.toPrecision(2)}, ${s0.context.max.toPrecision(3)}], ${SEEDS} learner seeds`,
    instances: HEAT_STEPS, runs,
  };
}

function targets(low: Experiment, high: Experiment, heat: Experiment | null): string[] {
  const r = (e: Experiment, p: PolicyName, over: PolicyName | null, mid = false) => {
    const v = mean(e.runs[p].map((x) => (mid ? x.mid : x.total)));
    return over ? v / mean(e.runs[over].map((x) => (mid ? x.mid : x.total))) : v;
  };
  const check = (ok: boolean) => (ok ? 'met' : 'MISSED');
  const lines = [
    `low variance, T = ${T}: ChebCB / instance-optimal = ${r(low, 'ChebCB', 'instance-optimal').toFixed(3)} (target ≤ 1.15: ${check(r(low, 'ChebCB', 'instance-optimal') <= 1.15)})`,
    `low variance, T = ${T}: ChebCB / best fixed = ${r(low, 'ChebCB', 'best fixed').toFixed(3)} (target ≤ 0.85: ${check(r(low, 'ChebCB', 'best fixed') <= 0.85)})`,
    `low variance, T = ${T}: Tsallis-INF / best fixed = ${r(low, 'Tsallis-INF', 'best fixed').toFixed(3)} (target ≤ 1.20: ${check(r(low, 'Tsallis-INF', 'best fixed') <= 1.2)})`,
    `low variance, T = ${T}: Tsallis-INF / ω=1 = ${r(low, 'Tsallis-INF', 'ω = 1').toFixed(3)}, ChebCB / ω=1 = ${r(low, 'ChebCB', 'ω = 1').toFixed(3)} (target < 0.30: ${check(r(low, 'Tsallis-INF', 'ω = 1') < 0.3 && r(low, 'ChebCB', 'ω = 1') < 0.3)})`,
  ];
  for (const e of [low, high, ...(heat ? [heat] : [])]) {
    const s = r(e, 'SurrogateTS', 'instance-optimal', true);
    const c = r(e, 'ChebCB', 'instance-optimal', true);
    lines.push(`${e.title.split(',').slice(0, 2).join(',')}: at T = ${Math.min(MID, e.instances)} SurrogateTS ${s.toFixed(3)}× vs ChebCB ${c.toFixed(3)}× instance-optimal (target ≤ 1.10 and below ChebCB: ${check(s <= 1.1 && s < c)})`);
  }
  return lines;
}

const ctx = await createContext();
console.log(`# numkern bench: ω tuning — ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const started = performance.now();
const low = await shiftedExperiment(ctx, 'low');
const lowReport = report(low);
const high = await shiftedExperiment(ctx, 'high');
const highReport = report(high);
const heat = values['no-heat'] ? null : await heatExperiment(ctx);
const heatReport = heat ? report(heat) : null;
const lines = targets(low, high, heat);
console.log(`\n## Targets (issue 4)\n${lines.join('\n')}`);
const seconds = (performance.now() - started) / 1e3;
console.log(`\n${seconds.toFixed(0)} s in all; backends used: ${ctx.status().filter((s) => s.available).map((s) => s.name).join(', ')} (auto)`);
const file = writeResults('tuning', {
  date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, seeds: SEEDS, T, heat: heat ? { nx: HEAT_NX, steps: HEAT_STEPS } : null,
  experiments: [lowReport, highReport, heatReport].filter(Boolean), targets: lines, seconds,
});
console.log(`results: ${file}`);
await ctx.dispose();
