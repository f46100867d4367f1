/** solveSequence, the instance generators, the offline comparators and `numkern demo`, on real solves. */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, NumkernError } from '../../src/index.js';
import {
  ChebCB, FixedOmega, SurrogateTS, TsallisInf, TsallisInfCB, bestFixedInHindsight, heatSequence, instanceOptimal,
  shiftedLaplacianSequence, solveSequence, youngOmega, type SequenceInstance,
} from '../../src/relax/index.js';
import { demoCommand } from '../../src/cli/demo.js';
import { poisson2d } from '../../src/relax/generators.js';
import type { CsrMatrix } from '../../src/core/types.js';

const poisson2dCsr = (m: number): CsrMatrix => poisson2d(m) as CsrMatrix;

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

async function codeOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.message}`;
    throw e;
  }
  return 'ok';
}

describe('shiftedLaplacianSequence (§5.1)', () => {
  it('is determined by its seed, re-iterable, with shifts in [−0.15, 0.45] and ‖b‖ ≤ √n', () => {
    const a = [...shiftedLaplacianSequence({ T: 200, variance: 'high', seed: 4 })];
    const b = [...shiftedLaplacianSequence({ T: 200, variance: 'high', seed: 4 })];
    const seq = shiftedLaplacianSequence({ T: 200, variance: 'high', seed: 4 });
    expect([...seq].map((i) => i.context)).toEqual(a.map((i) => i.context));
    expect(b.map((i) => i.context)).toEqual(a.map((i) => i.context));
    expect(Array.from(b[17]!.b)).toEqual(Array.from(a[17]!.b));
    for (const inst of a) {
      expect(inst.context!).toBeGreaterThanOrEqual(-0.15);
      expect(inst.context!).toBeLessThanOrEqual(0.45);
      let s = 0;
      for (const v of inst.b) s += v * v;
      expect(Math.sqrt(s)).toBeLessThanOrEqual(10);
      expect(inst.jacobiRadius).toBeCloseTo((Math.cos(Math.PI / 11) * 4) / (4 + inst.context!), 14);
    }
    expect(a.map((i) => i.context)).not.toEqual([...shiftedLaplacianSequence({ T: 200, variance: 'high', seed: 5 })].map((i) => i.context));
    // Means: c = −0.15 + 0.6·Beta, E[Beta(2, 6)] = E[Beta(½, 3/2)] = 1/4, so E[c] = 0 for both.
    for (const variance of ['low', 'high'] as const) {
      const cs = [...shiftedLaplacianSequence({ T: 2000, variance, seed: 1 })].map((i) => i.context!);
      expect(cs.reduce((x, y) => x + y, 0) / cs.length).toBeCloseTo(0, 1);
    }
  });

  it('checks its options', async () => {
    expect(await codeOf(async () => shiftedLaplacianSequence({ T: 10, variance: 'medium' as never }))).toMatch(/^E_RANGE options\.variance/);
    expect(await codeOf(async () => shiftedLaplacianSequence({ T: -1, variance: 'low' }))).toMatch(/^E_RANGE options\.T/);
    expect(await codeOf(async () => shiftedLaplacianSequence({ T: 5, variance: 'low', m: 20 }))).toMatch(/^E_RANGE options\.m/);
  });
});

describe('solveSequence', () => {
  it('counts exactly as ctx.solve (Algorithm 1, x0 = 0, relative test) and records every instance', async () => {
    const seq = shiftedLaplacianSequence({ T: 12, variance: 'low', seed: 2 });
    const res = await solveSequence(ctx, seq, { tuner: new FixedOmega(1.4), method: 'sor', tol: 1e-8 });
    let k = 0;
    for (const inst of seq) {
      const direct = await ctx.solve(inst.A, inst.b, { method: 'sor', omega: 1.4, tol: 1e-8 });
      expect(res.records[k]!.iterations).toBe(direct.iterations);
      expect(res.records[k]!.context).toBe(inst.context);
      k++;
    }
    expect(res.totals.instances).toBe(12);
    expect(res.totals.iterations).toBe(res.records.reduce((s, r) => s + r.iterations, 0));
    expect(res.totals.tunerSeconds).toBeGreaterThanOrEqual(0);
    expect(res.totals.backends).toEqual(['js']);
  });

  it('on a short real sequence every tuner beats ω = 1', async () => {
    const seq = shiftedLaplacianSequence({ T: 250, variance: 'low', seed: 3 });
    const base = await solveSequence(ctx, seq, { tuner: new FixedOmega(1) });
    const tuners = [
      new TsallisInf({ seed: 3 }), new TsallisInfCB({ context: seq.context, seed: 3 }),
      new ChebCB({ context: seq.context, seed: 3 }), new SurrogateTS({ context: seq.context, seed: 3 }),
    ];
    for (const tuner of tuners) {
      const r = await solveSequence(ctx, seq, { tuner });
      expect(r.totals.iterations, tuner.kind).toBeLessThan(0.6 * base.totals.iterations);
    }
  });

  it('a solve that hits maxIter feeds the cap and is flagged', async () => {
    const seq = shiftedLaplacianSequence({ T: 6, variance: 'low', seed: 1 });
    const tuner = new TsallisInf({ seed: 1 });
    const r = await solveSequence(ctx, seq, { tuner, maxIter: 15 });
    expect(r.records.every((x) => x.capped && x.iterations === 15)).toBe(true);
    expect(r.totals.cappedSolves).toBe(6);
    expect(tuner.cappedFeedback).toBe(6);
  });

  it('contexts outside the declared interval are clamped and counted', async () => {
    const seq = shiftedLaplacianSequence({ T: 40, variance: 'high', seed: 1 });
    const outside = [...seq].filter((i) => i.context! > 0.1).length;
    const r = await solveSequence(ctx, seq, { tuner: new ChebCB({ context: { min: -0.15, max: 0.1 }, seed: 1 }) });
    expect(outside).toBeGreaterThan(0);
    expect(r.totals.clampedContexts).toBe(outside);
    expect(r.records.filter((x) => x.clamped).length).toBe(outside);
  });

  it('takes async iterables, rejects bad input with the instance named, and stops on abort', async () => {
    const seq = shiftedLaplacianSequence({ T: 5, variance: 'low', seed: 1 });
    async function* gen(): AsyncGenerator<SequenceInstance> { yield* seq; }
    const r = await solveSequence(ctx, gen(), { tuner: new FixedOmega(1.5) });
    expect(r.totals.instances).toBe(5);
    const noContext = [...seq].map(({ A, b }) => ({ A, b }));
    expect(await codeOf(() => solveSequence(ctx, noContext, { tuner: new ChebCB({ context: { min: 0, max: 1 } }) }))).toMatch(/^E_DTYPE instances\[0\]\.context/);
    const bad = [...seq];
    bad[2] = { ...bad[2]!, b: bad[2]!.b.map((v, i) => (i === 3 ? NaN : v)) };
    expect(await codeOf(() => solveSequence(ctx, bad, { tuner: new FixedOmega(1.5) }))).toMatch(/^E_NONFINITE instances\[2\]: b/);
    expect(await codeOf(() => solveSequence(ctx, [{ ...bad[0]!, context: Infinity }], { tuner: new FixedOmega(1.5) }))).toMatch(/^E_NONFINITE instances\[0\]\.context/);
    expect(await codeOf(() => solveSequence(ctx, 42 as never, { tuner: new FixedOmega(1.5) }))).toMatch(/^E_DTYPE instances/);
    expect(await codeOf(() => solveSequence(ctx, seq, { tuner: {} as never }))).toMatch(/^E_DTYPE options\.tuner/);
    expect(await codeOf(() => solveSequence(ctx, seq, { tuner: new FixedOmega(1.5), method: 'jacobi' as never }))).toMatch(/^E_RANGE options\.method/);
    expect(await codeOf(() => solveSequence({} as never, seq, { tuner: new FixedOmega(1.5) }))).toMatch(/^E_DTYPE ctx/);
    const ac = new AbortController();
    ac.abort();
    expect(await codeOf(() => solveSequence(ctx, seq, { tuner: new FixedOmega(1.5), signal: ac.signal }))).toMatch(/^E_ABORTED/);
  });
});

describe('heatSequence (§5.2)', () => {
  it('warm-starts from the previous solution and stops relative to ‖b‖', async () => {
    const seq = heatSequence({ nx: 9, steps: 30 });
    expect(seq.context.min).toBeGreaterThan(0);
    const tuner = new ChebCB({ context: seq.context, seed: 1 });
    const r = await solveSequence(ctx, seq, { tuner, method: 'ssor-cg', tol: 1e-8 });
    expect(r.totals.instances).toBe(30);
    expect(r.totals.cappedSolves).toBe(0);
    // Replay the same policy's ω by hand: same counts, and each residual passes ‖b − Ax‖ ≤ 1e-8‖b‖.
    let k = 0;
    for (const inst of heatSequence({ nx: 9, steps: 30 })) {
      let nb = 0;
      for (const v of inst.b) nb += v * v;
      nb = Math.sqrt(nb);
      const s = await ctx.solve(inst.A, inst.b, { method: 'ssor-cg', omega: r.records[k]!.omega, x0: inst.x0, criterion: 'absolute', tol: 1e-8 * nb });
      expect(s.iterations).toBe(r.records[k]!.iterations);
      expect(s.residualNorm).toBeLessThanOrEqual(1e-8 * nb);
      expect(inst.context).toBe(seq.kappa(inst.time + seq.dt / 2));
      inst.onSolved!(s.x);
      k++;
    }
  });

  it('refuses to advance past a step nobody solved', async () => {
    const it = heatSequence({ nx: 5, steps: 3 })[Symbol.iterator]();
    it.next();
    expect(await codeOf(async () => it.next())).toMatch(/^E_RANGE heatSequence step 0/);
    expect(await codeOf(async () => heatSequence({ nx: 2 }))).toMatch(/^E_RANGE options\.nx/);
    expect(await codeOf(async () => heatSequence({ nx: 8, kappa: 'other' as never }))).toMatch(/^E_DTYPE options\.kappa/);
  });
});

describe('offline comparators', () => {
  it('instanceOptimal: Young ω*(c) from the Jacobi radius with SOR, else a golden-section search', async () => {
    const seq = shiftedLaplacianSequence({ T: 8, variance: 'low', seed: 6 });
    const young = await instanceOptimal(ctx, seq);
    [...seq].forEach((inst, k) => expect(young.records[k]!.omega).toBeCloseTo(youngOmega(inst.jacobiRadius!), 14));
    expect(young.solves).toBe(8);
    const search = await instanceOptimal(ctx, seq, { jacobiRadius: () => undefined, evaluations: 10 });
    expect(search.solves).toBe(80);
    let k = 0;
    for (const inst of seq) {
      // Never worse than the start grid it searched from.
      for (const w of [1, 1.3, 1.5, 1.75, 1.95]) {
        const s = await ctx.solve(inst.A, inst.b, { method: 'sor', omega: w });
        expect(search.records[k]!.iterations).toBeLessThanOrEqual(s.iterations);
      }
      k++;
    }
    // Young's asymptotic optimum is close to the searched one on these problems.
    expect(young.totals.iterations).toBeLessThan(1.1 * search.totals.iterations);
  });

  it('bestFixedInHindsight: the candidate with the fewest total iterations, refined on re-iterable sequences', async () => {
    const seq = shiftedLaplacianSequence({ T: 15, variance: 'low', seed: 7 });
    const grid = [1.2, 1.4, 1.6, 1.8];
    const r = await bestFixedInHindsight(ctx, seq, { grid });
    const totals = await Promise.all(grid.map(async (w) => (await solveSequence(ctx, seq, { tuner: new FixedOmega(w) })).totals.iterations));
    expect(r.candidates.map((c) => c.iterations)).toEqual(totals);
    expect(r.totals.iterations).toBe(Math.min(...totals));
    expect(r.omega).toBe(grid[totals.indexOf(Math.min(...totals))]);
    const refined = await bestFixedInHindsight(ctx, seq, { grid, refine: 4 });
    expect(refined.candidates.length).toBe(8);
    expect(refined.totals.iterations).toBeLessThanOrEqual(r.totals.iterations);
    // A one-shot generator cannot be refined.
    function* once(): Generator<SequenceInstance> { yield* seq; }
    expect(await codeOf(() => bestFixedInHindsight(ctx, once(), { grid, refine: 2 }))).toMatch(/^E_RANGE instances: refinement needs a re-iterable sequence/);
    expect(await codeOf(() => bestFixedInHindsight(ctx, seq, { grid: [1, 2.2] }))).toMatch(/^E_RANGE options\.grid\[1\]/);
  });
});

describe('numkern demo', () => {
  it('runs every policy on a short sequence and writes the plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'numkern-demo-'));
    const plot = join(dir, 'demo.svg');
    const chunks: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((s: string) => { chunks.push(String(s)); return true; }) as typeof process.stdout.write;
    let code: number;
    try {
      code = await demoCommand(ctx, ['--instances', '40', '--json', '--plot', plot, '--seed', '2']);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    const out = JSON.parse(chunks.join('')) as { policies: { name: string; iterations: number }[] };
    expect(out.policies.map((p) => p.name)).toEqual([
      'ω = 1', 'ω = 1.5', 'best fixed (hindsight)', 'Tsallis-INF', 'ChebCB', 'SurrogateTS (numkern)', 'instance-optimal',
    ]);
    const svg = readFileSync(plot, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<polyline/g) ?? []).length).toBe(7);
    expect(await codeOf(() => demoCommand(ctx, ['--instances', '0']))).toMatch(/^E_RANGE --instances/);
    expect(await codeOf(() => demoCommand(ctx, ['--variance', 'mid']))).toMatch(/^E_RANGE --variance/);
  });
});

describe('what a tuner tunes', () => {
  it('every tuner names its parameter, and the sequence says which solver option received it', async () => {
    for (const t of [new FixedOmega(1.2), new TsallisInf({ seed: 1 }), new ChebCB({ seed: 1, context: { min: 0, max: 1 } }), new SurrogateTS({ seed: 1 })]) {
      expect(t.parameter).toBe('omega');
    }
    const seq = [...shiftedLaplacianSequence({ T: 3, variance: 'low', seed: 2 })];
    const sor = await solveSequence(ctx, seq, { tuner: new FixedOmega(1.3), method: 'sor' });
    expect(sor.tuned).toMatchObject({ parameter: 'omega', option: 'omega' });
    const cg = await solveSequence(ctx, seq, { tuner: new FixedOmega(1.3), method: 'ssor-cg' });
    expect(cg.tuned).toMatchObject({ parameter: 'omega', option: 'preconditioner.omega' });
    expect(cg.tuned.description).toMatch(/SSOR preconditioner/);
    const best = await bestFixedInHindsight(ctx, seq, { method: 'ssor-cg', grid: [1.2, 1.5] });
    expect(best.tuned.option).toBe('preconditioner.omega');
  });

  it('a tuner of another parameter is refused before any solve', async () => {
    const t = Object.assign(new FixedOmega(1.3), {}) as FixedOmega;
    Object.defineProperty(t, 'parameter', { value: 'damping' });
    const msg = await codeOf(() => solveSequence(ctx, [...shiftedLaplacianSequence({ T: 2, variance: 'low', seed: 2 })], { tuner: t }));
    expect(msg).toMatch(/^E_RANGE options\.tuner\.parameter/);
  });
});

describe('solveSequence prepare options', () => {
  it('prepares with the options given, and names a bad one', async () => {
    const A = poissonForSequence();
    const inst = [0, 1, 2].map((t) => ({ A, b: Float64Array.from({ length: A.nrows }, (_, i) => 1 + Math.sin(i + t)) }));
    const run = (prepare: unknown) => solveSequence(ctx, inst, { tuner: new FixedOmega(1.5), method: 'ssor-cg', prepare: prepare as boolean });
    const a = await run({ recognizeStencil: false });
    const b = await run(true);
    const c = await run(false);
    expect(a.records.map((r) => r.iterations)).toEqual(c.records.map((r) => r.iterations));
    expect(b.records.map((r) => r.iterations)).toEqual(c.records.map((r) => r.iterations));
    expect(await codeOf(() => run(3))).toMatch(/^E_DTYPE options\.prepare/);
    expect(await codeOf(() => run({ recognizeStencil: 'no' }))).toMatch(/^E_DTYPE options\.prepare\.recognizeStencil/);
  });
});

function poissonForSequence() {
  return poisson2dCsr(12);
}
