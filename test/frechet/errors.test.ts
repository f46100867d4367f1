/**
 * Bad input (docs/frechet.md §9): every public entry point of the frechet family throws a NumkernError
 * with a stable code whose message starts with the offending argument, before any kernel runs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, frechet, NumkernError, type CsrMatrix, type FrechetMetric } from '../../src/index.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const fr = ctx.frechet;

/** [code, argument] of what f throws (sync or async). */
async function failure(f: () => unknown): Promise<[string, string | undefined]> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof NumkernError)) throw e;
    if (e.argument !== undefined) expect(e.message.startsWith(e.argument)).toBe(true);
    return [e.code, e.argument];
  }
  return ['ok', undefined];
}

const N = 6;
const observed = () => Int32Array.from([1, 4]);
const D = () => ({ rows: 2, cols: N, data: Float64Array.from([1, 0, 1, 2, 3, 4, 4, 3, 2, 1, 0, 1]) });
const P = (data = [0.5, 0.5, 1, 0]) => ({ rows: data.length / 2, cols: 2, data: Float64Array.from(data) });
const matrix = (over: Record<string, unknown> = {}): FrechetMetric => ({ kind: 'matrix', D: D(), observed: observed(), ...over }) as FrechetMetric;
const E = () => ({ rows: N, cols: 2, data: Float64Array.from({ length: 2 * N }, (_, i) => i % 5) });
const path = (n: number, weights?: number[]): CsrMatrix => {
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) { cols.push(i - 1); vals.push(weights ? weights[i - 1]! : 1); }
    if (i < n - 1) { cols.push(i + 1); vals.push(weights ? weights[i]! : 1); }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: Float64Array.from(vals) };
};

describe('predict: weights P', () => {
  it.each([
    ['a negative weight', P([0.5, -0.5, 1, 0]), 'E_RANGE', 'P'],
    ['a NaN weight', P([0.5, NaN, 1, 0]), 'E_NONFINITE', 'P'],
    ['an infinite weight', P([Infinity, 0, 1, 0]), 'E_NONFINITE', 'P'],
    ['an all-zero row', P([0.5, 0.5, 0, 0]), 'E_RANGE', 'P'],
    ['K ≠ observed.length', { rows: 1, cols: 3, data: Float64Array.from([1, 1, 1]) }, 'E_SHAPE', 'P.cols'],
    ['data.length ≠ rows·cols', { rows: 2, cols: 2, data: Float64Array.from([1, 1, 1]) }, 'E_SHAPE', 'P.data'],
    ['f32 weights on an f64 metric', { rows: 1, cols: 2, data: Float32Array.from([1, 1]) }, 'E_DTYPE', 'P.data'],
    ['not a matrix', Float64Array.from([1, 1]), 'E_DTYPE', 'P.rows'],
  ])('%s', async (_name, p, code, arg) => {
    expect(await failure(() => fr.predict(p as never, matrix()))).toEqual([code, arg]);
  });
});

describe('predict: observed ids', () => {
  it.each([
    ['out of range', Int32Array.from([1, 6]), 'E_RANGE'],
    ['negative', Int32Array.from([-1, 4]), 'E_RANGE'],
    ['repeated', Int32Array.from([4, 4]), 'E_RANGE'],
    ['not an Int32Array', [1, 4], 'E_DTYPE'],
    ['empty', new Int32Array(0), 'E_SHAPE'],
  ])('%s', async (_name, obs, code) => {
    const [c, arg] = await failure(() => fr.predict(P(), matrix({ observed: obs })));
    expect(c).toBe(code);
    expect(arg).toBe('metric.observed');
  });

  it('K rows of D that do not match observed', async () => {
    expect(await failure(() => fr.predict(P(), matrix({ observed: Int32Array.from([1, 4, 5]) })))).toEqual(['E_SHAPE', 'metric.D.rows']);
  });
});

describe('predict: metrics', () => {
  it('matrix: negative, non-finite or overflowing distances, bad flags', async () => {
    const neg = D();
    neg.data[3] = -1;
    expect(await failure(() => fr.predict(P(), matrix({ D: neg })))).toEqual(['E_RANGE', 'metric.D.data']);
    const nan = D();
    nan.data[5] = NaN;
    expect(await failure(() => fr.predict(P(), matrix({ D: nan })))).toEqual(['E_NONFINITE', 'metric.D.data']);
    const big = { rows: 2, cols: N, data: Float32Array.from(D().data) };
    big.data[0] = 1e20; // squares past f32's range
    expect(await failure(() => fr.predict({ rows: 1, cols: 2, data: Float32Array.from([1, 1]) }, matrix({ D: big })))).toEqual(['E_RANGE', 'metric.D.data']);
    expect(await failure(() => fr.predict({ rows: 1, cols: 2, data: Float32Array.from([1, 1]) }, matrix({ D: big, squared: true })))).toEqual(['ok', undefined]);
    expect(await failure(() => fr.predict(P(), matrix({ squared: 'yes' })))).toEqual(['E_DTYPE', 'metric.squared']);
    expect(await failure(() => fr.predict(P(), matrix({ D: { rows: 2, cols: 0, data: new Float64Array(0) } })))).toEqual(['E_SHAPE', 'metric.D.cols']);
    expect(await failure(() => fr.predict(P(), matrix({ labelOffset: -3 })))).toEqual(['E_RANGE', 'metric.labelOffset']);
    expect(await failure(() => fr.predict(P(), matrix({ labelCount: 3 })))).toEqual(['E_RANGE', 'metric.labelCount']);
  });

  it('embedding: non-finite or overflowing entries, shapes, a shard without observedE', async () => {
    const e = E();
    e.data[4] = Infinity;
    expect(await failure(() => fr.predict(P(), { kind: 'embedding', E: e, observed: observed() }))).toEqual(['E_NONFINITE', 'metric.E.data']);
    const huge = E();
    huge.data[0] = 1e160;
    expect(await failure(() => fr.predict(P(), { kind: 'embedding', E: huge, observed: observed() }))).toEqual(['E_RANGE', 'metric.E.data']);
    expect(await failure(() => fr.predict(P(), { kind: 'embedding', E: { rows: N, cols: 0, data: new Float64Array(0) }, observed: observed() }))).toEqual(['E_SHAPE', 'metric.E.cols']);
    const shard = { kind: 'embedding' as const, E: E(), observed: Int32Array.from([1, 40]), labelOffset: 0, labelCount: 50 };
    expect(await failure(() => fr.predict(P(), shard))).toEqual(['E_RANGE', 'metric.observedE']);
    expect(await failure(() => fr.predict(P(), { ...shard, observedE: { rows: 3, cols: 2, data: new Float64Array(6) } }))).toEqual(['E_SHAPE', 'metric.observedE']);
  });

  it('graph: not symmetric, bad weights, not square, bad flags', async () => {
    const A = path(5);
    const oneWay = { ...A, rowPtr: Int32Array.from([0, 1, 2, 4, 6, 7]), colIdx: Int32Array.from([1, 2, 1, 3, 2, 4, 3]), values: new Float64Array(7).fill(1) };
    expect(await failure(() => frechet.graphMetric(oneWay, observed()))).toEqual(['E_CSR_INVALID', 'metric.adjacency']);
    expect(await failure(() => frechet.graphMetric(path(5, [1, 2, 0, 1]), observed(), { weighted: true }))).toEqual(['E_RANGE', 'metric.adjacency.values']);
    expect(await failure(() => frechet.graphMetric(path(5, [1, 2, -3, 1]), observed(), { weighted: true }))).toEqual(['E_RANGE', 'metric.adjacency.values']);
    const asym = path(5, [1, 2, 3, 4]);
    asym.values[1] = 7; // edge (1, 0) longer than (0, 1)
    expect(await failure(() => frechet.graphMetric(asym, observed(), { weighted: true }))).toEqual(['E_CSR_INVALID', 'metric.adjacency.values']);
    expect(await failure(() => frechet.graphMetric(asym, observed()))).toEqual(['ok', undefined]); // unweighted: lengths ignored
    const rect = { nrows: 2, ncols: 3, rowPtr: Int32Array.from([0, 0, 0]), colIdx: new Int32Array(0), values: new Float64Array(0) };
    expect(await failure(() => frechet.graphMetric(rect, Int32Array.from([0])))).toEqual(['E_SHAPE', 'metric.adjacency']);
    expect(await failure(() => frechet.graphMetric(A, observed(), { weighted: 1 as never }))).toEqual(['E_DTYPE', 'metric.weighted']);
    expect(await failure(() => frechet.graphMetric(A, observed(), { dtype: 'f16' as never }))).toEqual(['E_DTYPE', 'metric.dtype']);
    expect(await failure(() => frechet.graphMetric(A, Int32Array.from([0, 9])))).toEqual(['E_RANGE', 'metric.observed']);
    const broken = { ...A, rowPtr: Int32Array.from([0, 1, 3, 2, 6, 8]) };
    expect((await failure(() => frechet.graphMetric(broken, observed())))[0]).toBe('E_CSR_INVALID');
    expect(await failure(() => fr.predict(P(), { kind: 'graph', adjacency: oneWay, observed: observed() }))).toEqual(['E_CSR_INVALID', 'metric.adjacency']);
  });

  it('an unknown kind or no metric at all', async () => {
    expect(await failure(() => fr.predict(P(), { kind: 'tree' } as never))).toEqual(['E_RANGE', 'metric.kind']);
    expect(await failure(() => fr.predict(P(), null as never))).toEqual(['E_DTYPE', 'metric']);
  });
});

describe('predict: options', () => {
  it.each([
    ['topk 0', { topk: 0 }, 'E_RANGE', 'options.topk'],
    ['topk past the labels', { topk: N + 1 }, 'E_RANGE', 'options.topk'],
    ['a fractional topk', { topk: 1.5 }, 'E_DTYPE', 'options.topk'],
    ['another tie rule', { ties: 'last' }, 'E_RANGE', 'options.ties'],
    ['scores not a boolean', { scores: 1 }, 'E_DTYPE', 'options.scores'],
    ['an unknown backend', { backend: 'tpu' }, 'E_RANGE', 'options.backend'],
    ['a signal that is not one', { signal: {} }, 'E_DTYPE', 'options.signal'],
  ])('%s', async (_name, opts, code, arg) => {
    expect(await failure(() => fr.predict(P(), matrix(), opts as never))).toEqual([code, arg]);
  });

  it('an aborted signal', async () => {
    const c = new AbortController();
    c.abort('stop');
    expect((await failure(() => fr.predict(P(), matrix(), { signal: c.signal })))[0]).toBe('E_ABORTED');
  });

  it('shard ranges outside the metric, empty or malformed', async () => {
    expect(await failure(() => fr.predictShard(P(), matrix(), { range: [2, 9] }))).toEqual(['E_RANGE', 'options.range[1]']);
    expect(await failure(() => fr.predictShard(P(), matrix(), { range: [3, 3] }))).toEqual(['E_RANGE', 'options.range']);
    expect(await failure(() => fr.predictShard(P(), matrix(), { range: 3 as never }))).toEqual(['E_DTYPE', 'options.range']);
    expect(await failure(() => fr.predictShard(P(), matrix({ labelOffset: 10, labelCount: 20 }), { range: [0, 4] }))).toEqual(['E_RANGE', 'options.range[0]']);
  });
});

describe('locus, next class and evaluation', () => {
  it('locus and nextClass: ids without a row of D, bad ids', async () => {
    expect(await failure(() => frechet.locus(matrix(), Int32Array.from([1, 2])))).toEqual(['E_RANGE', 'observed']);
    expect(await failure(() => frechet.nextClass(matrix(), Int32Array.from([1, 1])))).toEqual(['E_RANGE', 'observed']);
    expect(await failure(() => frechet.locus(matrix(), [1] as never))).toEqual(['E_DTYPE', 'observed']);
  });

  it('expectedSquaredDistance and accuracy: shapes and ranges', async () => {
    const t = Int32Array.from([0, 5]);
    expect(await failure(() => frechet.expectedSquaredDistance(Int32Array.from([1]), t, matrix()))).toEqual(['E_SHAPE', 'pred']);
    expect(await failure(() => frechet.expectedSquaredDistance(Int32Array.from([1, 9]), t, matrix()))).toEqual(['E_RANGE', 'pred']);
    expect(await failure(() => frechet.expectedSquaredDistance(Int32Array.from([0, 2]), t, matrix()))).toEqual(['E_RANGE', 'truth']);
    expect(await failure(() => frechet.expectedSquaredDistance(new Int32Array(0), new Int32Array(0), matrix()))).toEqual(['E_SHAPE', 'truth']);
    expect(await failure(() => frechet.accuracy(Int32Array.from([1, 2, 3]), t))).toEqual(['E_SHAPE', 'pred']);
    expect(await failure(() => frechet.accuracy(Int32Array.from([1, 2]), t, 2))).toEqual(['E_RANGE', 'k']);
  });

  it('centralClass: class weights of the wrong length, dtype or sign', async () => {
    expect(await failure(() => fr.centralClass(matrix(), Float64Array.from([1])))).toEqual(['E_SHAPE', 'classWeights']);
    expect(await failure(() => fr.centralClass(matrix(), Float32Array.from([1, 1])))).toEqual(['E_DTYPE', 'classWeights']);
    expect(await failure(() => fr.centralClass(matrix(), Float64Array.from([1, -1])))).toEqual(['E_RANGE', 'classWeights']);
    expect(await failure(() => fr.centralClass(matrix(), Float64Array.from([0, 0])))).toEqual(['E_RANGE', 'classWeights']);
  });
});
