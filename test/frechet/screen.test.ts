/**
 * The value checks the native kernel makes in its own pass (docs/frechet.md §9, src/frechet/validate.ts
 * Deferred): P's weights and a D of squared distances are screened by the kernel instead of a JS scan
 * before it. Every bad input must still get the error it got when every check ran first — the same
 * code, argument and message, on the native backend (which screens) and on js (which does not: the
 * façade scans after its call), including inputs with several faults, where the first check in the
 * documented order wins. Inputs the screen flags but the scan passes (the conservative f64 row-sum
 * test) are predicted all the same. Skipped without the addon, unless NUMKERN_REQUIRE names 'native'.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, frechet, NumkernError, type CsrMatrix, type FrechetMetric } from '../../src/index.js';
import { required, rng } from '../support/backends.js';

const js = await createContext({ backends: ['js'] });
const native = await createContext({ backends: ['native'] });
afterAll(async () => {
  await js.dispose();
  await native.dispose();
});
const haveNative = native.status().some((s) => s.name === 'native' && s.available);

describe.runIf(required().includes('native'))('native required by NUMKERN_REQUIRE', () => {
  it('is available', () => expect(haveNative).toBe(true));
});

type Dt = 'f32' | 'f64';
type F = Float32Array | Float64Array;
const arr = (dtype: Dt, n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));

/** What a call gives: the error's [code, argument, message], or 'ok' and the labels. */
async function outcome(f: () => Promise<{ labels: Int32Array }>): Promise<[string, string | undefined, string]> {
  try {
    const r = await f();
    return ['ok', undefined, Array.from(r.labels).join(',')];
  } catch (e) {
    if (!(e instanceof NumkernError)) throw e;
    return [e.code, e.argument, e.message];
  }
}

// B rows, K observed classes, N labels: several 32-label tiles of the native kernel.
const B = 5, K = 4, N = 300;

function problem(dtype: Dt, seed: number) {
  const r = rng(seed);
  const P = { rows: B, cols: K, data: arr(dtype, B * K).map(() => r() + 0.01) };
  const D = { rows: K, cols: N, data: arr(dtype, K * N).map(() => r()) };
  const observed = Int32Array.from([3, 77, 150, 299]);
  return { P, D, observed };
}

type Mutate = (p: ReturnType<typeof problem>) => { P?: unknown; metric?: FrechetMetric; opts?: Record<string, unknown>; shard?: boolean };

/** [name, the argument the error names (null: no error), the fault]. */
const CASES: [string, string | null, Mutate][] = [
  ['a negative weight', 'P', (p) => ((p.P.data[3 * K + 2] = -1), {})],
  ['a NaN weight', 'P', (p) => ((p.P.data[4 * K + 1] = NaN), {})],
  ['an infinite weight', 'P', (p) => ((p.P.data[1] = Infinity), {})],
  ['an all-zero row', 'P', (p) => (p.P.data.fill(0, 2 * K, 3 * K), {})],
  ['a negative squared distance', 'metric.D.data', (p) => ((p.D.data[2 * N + 250] = -0.5), {})],
  ['a NaN squared distance in the last tile', 'metric.D.data', (p) => ((p.D.data[3 * N + 299] = NaN), {})],
  ['an infinite squared distance', 'metric.D.data', (p) => ((p.D.data[N + 40] = Infinity), {})],
  ['a bad D and a bad P: D is checked first', 'metric.D.data', (p) => ((p.D.data[K * N - 1] = NaN), (p.P.data[0] = -1), {})],
  ['a bad D and P of the wrong shape: D first', 'metric.D.data', (p) => ((p.D.data[7] = -1), { P: { rows: 1, cols: 3, data: p.P.data.subarray(0, 3) } })],
  ['a bad P and a bad topk: P first', 'P', (p) => ((p.P.data[5] = NaN), { opts: { topk: 0 } })],
  ['a bad P and an unknown backend: the options are checked first', 'options.backend', (p) => ((p.P.data[5] = -2), { opts: { backend: 'tpu' } })],
  ['a bad P and a pinned backend that is not there (strict): P first', 'P', (p) => ((p.P.data[5] = -2), { opts: { backend: 'cuda', strict: true } })],
  ['a bad P and an aborted signal: P first', 'P', (p) => {
    p.P.data[6] = NaN;
    const c = new AbortController();
    c.abort('stop');
    return { opts: { signal: c.signal } };
  }],
  ['a bad D under checkFinite: false is not an error', null, (p) => ((p.D.data[10] = -3), { opts: { checkFinite: false } })],
  ['a bad P under checkFinite: false still is', 'P', (p) => ((p.P.data[10] = -3), { opts: { checkFinite: false } })],
  ['a bad D outside a shard range', 'metric.D.data', (p) => ((p.D.data[5] = NaN), { opts: { range: [100, 200] }, shard: true })],
  ['a bad P in a shard', 'P', (p) => ((p.P.data[5] = NaN), { opts: { range: [100, 200] }, shard: true })],
  ['a bad D outside a shard range and a bad P: D first', 'metric.D.data', (p) => ((p.D.data[5] = NaN), (p.P.data[5] = -1), { opts: { range: [100, 200] }, shard: true })],
  ['a bad D inside a shard range and a bad P: D first', 'metric.D.data', (p) => ((p.D.data[150] = -1), (p.P.data[0] = NaN), { opts: { range: [100, 200] }, shard: true })],
  ['a bad D of plain (unsquared) distances', 'metric.D.data', (p) => ((p.D.data[N + 1] = -1), { metric: { kind: 'matrix', D: p.D, observed: p.observed } })],
  ['no fault at all', null, () => ({})],
];

describe.skipIf(!haveNative)('the native screen gives the errors of the JS checks', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    it.each(CASES)(`%s (${dtype})`, async (_name, argument, mutate) => {
      const base = problem(dtype, 1);
      const m = mutate(base);
      const metric = m.metric ?? { kind: 'matrix', D: base.D, squared: true, observed: base.observed };
      const P = (m.P ?? base.P) as typeof base.P;
      const call = (ctx: typeof js) => () =>
        m.shard ? ctx.frechet.predictShard(P, metric, m.opts as never) : ctx.frechet.predict(P, metric, { topk: 3, ...m.opts } as never);
      const want = await outcome(call(js));
      const got = await outcome(call(native));
      expect(got).toEqual(want);
      expect(want[1]).toBe(argument ?? undefined);
      expect(want[0] === 'ok').toBe(argument === null);
    });
  }

  it('names the first bad element as the scan always did', async () => {
    const p = problem('f32', 1);
    p.P.data[3 * K + 2] = -1;
    p.P.data[4 * K] = NaN;
    const metric: FrechetMetric = { kind: 'matrix', D: p.D, squared: true, observed: p.observed };
    expect(await outcome(() => native.frechet.predict(p.P, metric))).toEqual(['E_RANGE', 'P', 'P: element (3, 2) is -1; weights must be finite and ≥ 0']);
    const q = problem('f64', 2);
    q.D.data[2 * N + 250] = -0.5;
    q.D.data[3 * N] = NaN;
    const m2: FrechetMetric = { kind: 'matrix', D: q.D, squared: true, observed: q.observed };
    expect(await outcome(() => native.frechet.predict(q.P, m2))).toEqual(['E_RANGE', 'metric.D.data', `metric.D.data: element ${2 * N + 250} is -0.5; distances must be ≥ 0`]);
    const zero = problem('f64', 3);
    zero.P.data.fill(0, K, 2 * K);
    expect(await outcome(() => native.frechet.predict(zero.P, { kind: 'matrix', D: zero.D, squared: true, observed: zero.observed }))).toEqual(
      ['E_RANGE', 'P', 'P: row 1 is all zeros; the Fréchet mean needs some positive weight (docs/frechet.md §2.4)'],
    );
  });

  it('f64 rows near overflow: an overflowing sum is an error, a large finite one is predicted (flagged, scanned, run again)', async () => {
    const p = problem('f64', 4);
    const metric: FrechetMetric = { kind: 'matrix', D: p.D, squared: true, observed: p.observed };
    p.P.data.fill(1e308, 2 * K, 3 * K);
    expect(await outcome(() => native.frechet.predict(p.P, metric))).toEqual(
      ['E_RANGE', 'P', 'P: row 2 sums past the f64 range; rescale the row (the prediction is scale-invariant)'],
    );
    // Above DBL_MAX / 2K (the native screen's conservative bound) but summing to a finite value.
    p.P.data.fill(0, 2 * K, 3 * K);
    p.P.data[2 * K + 1] = 1e308;
    const want = await outcome(() => js.frechet.predict(p.P, metric, { topk: 4 }));
    expect(want[0]).toBe('ok');
    expect(await outcome(() => native.frechet.predict(p.P, metric, { topk: 4 }))).toEqual(want);
  });

  it('graphs: P is screened for a connected graph and scanned first for a disconnected one', async () => {
    const path = (n: number, cut: number): CsrMatrix => {
      const rowPtr = new Int32Array(n + 1);
      const cols: number[] = [];
      for (let i = 0; i < n; i++) {
        if (i > 0 && i !== cut) cols.push(i - 1);
        if (i < n - 1 && i + 1 !== cut) cols.push(i + 1);
        rowPtr[i + 1] = cols.length;
      }
      return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: new Float64Array(cols.length).fill(1) };
    };
    const observed = Int32Array.from([1, 5, 9, 30]);
    for (const cut of [-1, 8]) {
      const metric = frechet.graphMetric(path(40, cut), observed);
      const P = { rows: 3, cols: 4, data: Float64Array.from([1, 0, 0, 2, 0, 1, 1, 0, 0.5, 0.5, 0, 1]) };
      expect((await outcome(() => native.frechet.predict(P, metric)))[0]).toBe('ok');
      expect(await outcome(() => native.frechet.predict(P, metric))).toEqual(await outcome(() => js.frechet.predict(P, metric)));
      P.data[7] = NaN;
      const want = await outcome(() => js.frechet.predict(P, metric));
      expect(want).toEqual(['E_NONFINITE', 'P', 'P: element (1, 3) is NaN; weights must be finite and ≥ 0']);
      expect(await outcome(() => native.frechet.predict(P, metric))).toEqual(want);
    }
  });

  it('an empty batch still has D checked', async () => {
    const p = problem('f32', 5);
    p.D.data[N + 3] = NaN;
    const empty = { rows: 0, cols: K, data: new Float32Array(0) };
    const metric: FrechetMetric = { kind: 'matrix', D: p.D, squared: true, observed: p.observed };
    const want = await outcome(() => js.frechet.predict(empty, metric));
    expect(want[0]).toBe('E_NONFINITE');
    expect(await outcome(() => native.frechet.predict(empty, metric))).toEqual(want);
  });
});
