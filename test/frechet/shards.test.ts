/**
 * Label-space sharding (docs/frechet.md §7): per-shard partials merged in any order equal the
 * unsharded prediction — labels and scores bit for bit, ties included — for every metric kind; and the
 * merge's own contract (padding, overlap, order, shapes).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, frechet, NumkernError, type FrechetMetric, type FrechetPartial } from '../../src/index.js';
import { rng } from '../support/backends.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const fr = ctx.frechet;

const N = 257;
const K = 6;
const B = 11;
const observed = Int32Array.from([0, 40, 41, 128, 200, 256]);

function metrics(): [string, FrechetMetric, Float64Array][] {
  const r = rng(31);
  // Integer distances and dyadic weights: many exact ties across shard boundaries.
  const D = Float64Array.from({ length: K * N }, () => Math.floor(r() * 6));
  const E = Float64Array.from({ length: N * 3 }, () => Math.floor(r() * 5) - 2);
  const tree: number[][] = Array.from({ length: N }, () => []);
  for (let v = 1; v < N; v++) {
    const u = Math.floor(r() * v);
    tree[u]!.push(v);
    tree[v]!.push(u);
  }
  const rowPtr = new Int32Array(N + 1);
  const cols: number[] = [];
  for (let i = 0; i < N; i++) {
    cols.push(...tree[i]!.sort((a, b) => a - b));
    rowPtr[i + 1] = cols.length;
  }
  const A = { nrows: N, ncols: N, rowPtr, colIdx: Int32Array.from(cols), values: new Float64Array(cols.length).fill(1) };
  // The same tree with the edges to every vertex v ≡ 0 (mod 50) cut: a forest, scored per component (§2.3).
  const keep = (u: number, v: number) => Math.max(u, v) % 50 !== 0 || Math.min(u, v) !== tree[Math.max(u, v)]![0];
  const fRowPtr = new Int32Array(N + 1);
  const fCols: number[] = [];
  for (let i = 0; i < N; i++) {
    for (const j of tree[i]!) if (keep(i, j)) fCols.push(j);
    fRowPtr[i + 1] = fCols.length;
  }
  const F = { nrows: N, ncols: N, rowPtr: fRowPtr, colIdx: Int32Array.from(fCols), values: new Float64Array(fCols.length).fill(1) };
  const P = Float64Array.from({ length: B * K }, () => Math.floor(r() * 4) / 4 + 0.25);
  return [
    ['matrix', { kind: 'matrix', D: { rows: K, cols: N, data: D }, observed }, P],
    ['matrix, squared', { kind: 'matrix', D: { rows: K, cols: N, data: D }, squared: true, observed }, P],
    ['embedding', { kind: 'embedding', E: { rows: N, cols: 3, data: E }, observed }, P],
    ['graph (tree)', frechet.graphMetric(A, observed), P],
    ['graph (forest)', frechet.graphMetric(F, observed), P],
  ];
}

describe.each(metrics())('%s', (_name, metric, Pdata) => {
  const P = { rows: B, cols: K, data: Pdata };
  it.each([1, 5, 40])('three shards merged equal the unsharded prediction, topk = %i', async (topk) => {
    const whole = await fr.predict(P, metric, { topk, scores: true });
    // A partial holds what the kernel ranked: the objective itself except for the embedding metric's reduced score.
    const full = await fr.predictShard(P, metric, { topk });
    expect(full.labels).toEqual(whole.labels);
    if (metric.kind !== 'embedding') expect(full.scores).toEqual(whole.scores);
    const cuts = [0, 41, 42, 257];
    const parts: FrechetPartial[] = [];
    for (let s = 0; s + 1 < cuts.length; s++) parts.push(await fr.predictShard(P, metric, { topk, range: [cuts[s]!, cuts[s + 1]!] }));
    // The one-label shard pads past its single label.
    if (topk > 1) expect(parts[1]!.labels[1]).toBe(-1);
    for (const order of [[0, 1, 2], [2, 0, 1], [1, 2, 0]]) {
      const merged = frechet.mergeShards(frechet.mergeShards(parts[order[0]!]!, parts[order[1]!]!), parts[order[2]!]!);
      expect(merged.labels).toEqual(whole.labels);
      expect(merged.scores).toEqual(full.scores);
    }
    // Associativity: a ∪ (b ∪ c).
    const right = frechet.mergeShards(parts[0]!, frechet.mergeShards(parts[1]!, parts[2]!));
    expect(right.labels).toEqual(whole.labels);
  });
});

it('the forest case really has several components holding observed classes', () => {
  const forest = metrics()[4]![1] as ReturnType<typeof frechet.graphMetric>;
  expect(forest.connected).toBe(false);
  expect(forest.blocks.length).toBeGreaterThan(1);
});

describe('shard-local matrix metrics (each machine holds its own columns of D)', () => {
  it('merge to the whole-metric prediction', async () => {
    const [, whole, Pdata] = metrics()[0]!;
    const D = (whole as { D: { data: Float64Array } }).D.data;
    const P = { rows: B, cols: K, data: Pdata };
    const ref = await fr.predict(P, whole, { topk: 3, scores: true });
    const cuts = [0, 100, 257];
    let acc: FrechetPartial | null = null;
    for (let s = 0; s + 1 < cuts.length; s++) {
      const n = cuts[s + 1]! - cuts[s]!;
      const local = new Float64Array(K * n);
      for (let k = 0; k < K; k++) local.set(D.subarray(k * N + cuts[s]!, k * N + cuts[s + 1]!), k * n);
      const part = await fr.predictShard(P, { kind: 'matrix', D: { rows: K, cols: n, data: local }, observed, labelOffset: cuts[s]!, labelCount: N }, { topk: 3 });
      acc = acc === null ? part : frechet.mergeShards(acc, part);
    }
    expect(acc!.labels).toEqual(ref.labels);
    expect(acc!.scores).toEqual(ref.scores);
  });
});

describe('mergeShards contract', () => {
  const part = (labels: number[], scores: number[], rows = 1): FrechetPartial => ({
    kind: 'frechet-partial', rows, topk: labels.length / rows, labels: Int32Array.from(labels), scores: Float64Array.from(scores),
  });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (e instanceof NumkernError) return e.code;
      throw e;
    }
    return 'ok';
  };

  it('ties between shards go to the smaller label id; padding sorts last', () => {
    const m = frechet.mergeShards(part([9, -1], [1, Infinity]), part([3, 12], [1, 1]));
    expect(Array.from(m.labels)).toEqual([3, 9]);
    const p = frechet.mergeShards(part([7, -1, -1], [2, Infinity, Infinity]), part([4, -1, -1], [Infinity, Infinity, Infinity]));
    expect(Array.from(p.labels)).toEqual([7, 4, -1]);
    expect(Array.from(p.scores)).toEqual([2, Infinity, Infinity]);
  });

  it('rejects overlapping shards, unordered or malformed partials, and mismatched batches', () => {
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), part([2, 5], [1, 3])))).toBe('E_RANGE');
    expect(code(() => frechet.mergeShards(part([1, 2], [1, 0]), part([3, 4], [0, 1])))).toBe('E_RANGE');
    expect(code(() => frechet.mergeShards(part([-1, 2], [Infinity, 1]), part([3, 4], [0, 1])))).toBe('E_RANGE');
    expect(code(() => frechet.mergeShards(part([1, 2], [0, NaN]), part([3, 4], [0, 1])))).toBe('E_NONFINITE');
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), part([3, 4, 5, 6], [0, 1, 0, 1], 2)))).toBe('E_SHAPE');
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), part([3], [0])))).toBe('E_SHAPE');
    const f32 = { ...part([3, 4], [0, 1]), scores: Float32Array.from([0, 1]) };
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), f32))).toBe('E_DTYPE');
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), { ...part([3, 4], [0, 1]), kind: 'x' } as never))).toBe('E_DTYPE');
    expect(code(() => frechet.mergeShards(part([1, 2], [0, 1]), { ...part([3, 4], [0, 1]), labels: Int32Array.from([3]) }))).toBe('E_SHAPE');
  });

  it('partials are plain data: a structuredClone merges the same', async () => {
    const [, metric, Pdata] = metrics()[0]!;
    const P = { rows: B, cols: K, data: Pdata };
    const a = await fr.predictShard(P, metric, { topk: 2, range: [0, 128] });
    const b = await fr.predictShard(P, metric, { topk: 2, range: [128, 257] });
    expect(frechet.mergeShards(structuredClone(a), structuredClone(b)).labels).toEqual(frechet.mergeShards(a, b).labels);
  });
});
