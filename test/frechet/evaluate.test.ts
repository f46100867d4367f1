/**
 * Evaluation helpers (loki.md §6, §9; docs/frechet.md §6): expected squared distance on every metric
 * kind against hand-computed values, top-k accuracy, and the central-class baseline.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, frechet, type CsrMatrix } from '../../src/index.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const fr = ctx.frechet;

/** The path 0 − 1 − … − (n−1), optionally with edge lengths. */
function path(n: number, lengths?: number[]): CsrMatrix {
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) { cols.push(i - 1); vals.push(lengths ? lengths[i - 1]! : 1); }
    if (i < n - 1) { cols.push(i + 1); vals.push(lengths ? lengths[i]! : 1); }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: Float64Array.from(vals) };
}

describe('expected squared distance', () => {
  const pred = Int32Array.from([0, 3, 4, 2]);
  const truth = Int32Array.from([0, 1, 4, 6]);
  // On the unit path: d = 0, 2, 0, 4 → mean d² = (0 + 4 + 0 + 16) / 4 = 5.
  it('graph metric (one BFS per distinct truth label)', () => {
    expect(frechet.expectedSquaredDistance(pred, truth, frechet.graphMetric(path(7), Int32Array.from([0])))).toBe(5);
    // Lengths 1, 2, 3, …: d(3, 1) = 2 + 3 = 5, d(2, 6) = 3 + 4 + 5 + 6 = 18.
    const weighted = frechet.graphMetric(path(7, [1, 2, 3, 4, 5, 6]), Int32Array.from([0]), { weighted: true });
    expect(frechet.expectedSquaredDistance(pred, truth, weighted)).toBe((25 + 324) / 4);
  });

  it('matrix metric, reading the row of whichever label is observed', () => {
    const n = 7;
    const rows = [0, 1, 6];
    const D = Float64Array.from(rows.flatMap((r) => Array.from({ length: n }, (_, j) => Math.abs(r - j))));
    const metric = { kind: 'matrix' as const, D: { rows: 3, cols: n, data: D }, observed: Int32Array.from(rows) };
    expect(frechet.expectedSquaredDistance(pred, truth, metric)).toBe(5);
    const sq = { ...metric, D: { ...metric.D, data: D.map((x) => x * x) }, squared: true };
    expect(frechet.expectedSquaredDistance(pred, truth, sq)).toBe(5);
  });

  it('embedding metric', () => {
    const E = { rows: 7, cols: 1, data: Float64Array.from([0, 1, 2, 3, 4, 5, 6]) };
    expect(frechet.expectedSquaredDistance(pred, truth, { kind: 'embedding', E, observed: Int32Array.from([0]) })).toBe(5);
  });

  it('is +Infinity when a prediction lies in another component', () => {
    const forest = { ...path(4), rowPtr: Int32Array.from([0, 1, 2, 2, 2]), colIdx: Int32Array.from([1, 0]), values: Float64Array.from([1, 1]) };
    expect(frechet.expectedSquaredDistance(Int32Array.from([0, 3]), Int32Array.from([1, 2]), frechet.graphMetric(forest, Int32Array.from([0])))).toBe(Infinity);
  });
});

describe('accuracy', () => {
  it('top-1 and top-k over a rows×topk prediction', () => {
    const pred = Int32Array.from([5, 1, 2, 7, 3, 9]); // 3 rows × topk 2
    const truth = Int32Array.from([5, 7, 4]);
    expect(frechet.accuracy(pred, truth)).toBe(1 / 3);
    expect(frechet.accuracy(pred, truth, 2)).toBe(2 / 3);
  });
});

describe('central class (loki.md §9)', () => {
  it('on a path with every label observed, the middle label; class weights move it', async () => {
    const M = fr.graphMetric(path(9), Int32Array.from({ length: 9 }, (_, i) => i));
    const c = await fr.centralClass(M);
    expect(c.label).toBe(4);
    // Mean of (4 − j)² over j = 0..8: 2·(1 + 4 + 9 + 16) / 9.
    expect(c.meanSquaredDistance).toBeCloseTo(60 / 9, 12);
    const w = new Float64Array(9);
    w[8] = 3;
    w[0] = 1;
    expect((await fr.centralClass(M, w)).label).toBe(6);
  });

  it('matches the best constant prediction on every metric kind', async () => {
    const E = { rows: 5, cols: 2, data: Float64Array.from([0, 0, 4, 0, 0, 4, 1, 1, 9, 9]) };
    const observed = Int32Array.from([0, 1, 2, 4]);
    const c = await fr.centralClass({ kind: 'embedding', E, observed });
    // Brute force: the label with the least mean squared distance to the observed classes.
    const mean = (j: number) => Array.from(observed).reduce((s, o) => s + (E.data[2 * j]! - E.data[2 * o]!) ** 2 + (E.data[2 * j + 1]! - E.data[2 * o + 1]!) ** 2, 0) / 4;
    const means = [0, 1, 2, 3, 4].map(mean);
    expect(c.label).toBe(means.indexOf(Math.min(...means)));
    expect(c.meanSquaredDistance).toBeCloseTo(Math.min(...means), 10);
    // A constant prediction of the central class has exactly that E[d²] over truths drawn from the observed classes.
    const truth = observed;
    expect(frechet.expectedSquaredDistance(new Int32Array(4).fill(c.label), truth, { kind: 'embedding', E, observed })).toBeCloseTo(c.meanSquaredDistance, 10);
  });
});
