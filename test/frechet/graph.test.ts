/**
 * Graph label metrics (docs/frechet.md §2.3, §3.3): BFS and Dijkstra rows against Floyd–Warshall on
 * small graphs, the graph metric against the matrix metric built from all-pairs distances, the
 * disconnected-graph rule, and the caching of the K rows.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, frechet, GraphMetric, type CsrMatrix } from '../../src/index.js';
import { shortestPaths, snapshotGraph, TreeDistances } from '../../src/frechet/graph.js';
import { rng } from '../support/backends.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const fr = ctx.frechet;

/** Undirected CSR from an edge list (both directions stored; weights kept). */
function csr(n: number, edges: readonly [number, number, number][]): CsrMatrix<Float64Array> {
  const rows: [number, number][][] = Array.from({ length: n }, () => []);
  for (const [u, v, w] of edges) {
    rows[u]!.push([v, w]);
    rows[v]!.push([u, w]);
  }
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    rows[i]!.sort((a, b) => a[0] - b[0]);
    for (const [c, w] of rows[i]!) {
      cols.push(c);
      vals.push(w);
    }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: Float64Array.from(vals) };
}

/** A connected random graph: a random tree plus `extra` chords, integer weights in [1, 9] (or 1). */
function randomGraph(n: number, extra: number, seed: number, weighted: boolean) {
  const r = rng(seed);
  const w = () => (weighted ? 1 + Math.floor(r() * 9) : 1);
  const edges: [number, number, number][] = [];
  const has = new Set<string>();
  for (let v = 1; v < n; v++) {
    const u = Math.floor(r() * v);
    edges.push([u, v, w()]);
    has.add(`${u},${v}`);
  }
  for (let e = 0; e < extra; e++) {
    const u = Math.floor(r() * n), v = Math.floor(r() * n);
    const key = `${Math.min(u, v)},${Math.max(u, v)}`;
    if (u === v || has.has(key)) continue;
    has.add(key);
    edges.push([u, v, w()]);
  }
  return { A: csr(n, edges), edges };
}

function floydWarshall(n: number, edges: readonly [number, number, number][], weighted: boolean): Float64Array {
  const d = new Float64Array(n * n).fill(Infinity);
  for (let i = 0; i < n; i++) d[i * n + i] = 0;
  for (const [u, v, w] of edges) {
    const x = weighted ? w : 1;
    d[u * n + v] = Math.min(d[u * n + v]!, x);
    d[v * n + u] = Math.min(d[v * n + u]!, x);
  }
  for (let k = 0; k < n; k++) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    const t = d[i * n + k]! + d[k * n + j]!;
    if (t < d[i * n + j]!) d[i * n + j] = t;
  }
  return d;
}

describe('shortest paths against Floyd–Warshall', () => {
  it.each([false, true])('weighted = %s, single and multi-source', (weighted) => {
    for (let seed = 1; seed <= 12; seed++) {
      const n = 5 + seed * 3;
      const { A, edges } = randomGraph(n, n, seed, weighted);
      const fw = floydWarshall(n, edges, weighted);
      const g = snapshotGraph(A, weighted, 'A');
      const dist = new Float64Array(n);
      for (let s = 0; s < n; s++) {
        shortestPaths(g, [s], dist);
        expect(Array.from(dist)).toEqual(Array.from(fw.subarray(s * n, s * n + n)));
      }
      const sources = [0, n - 1, Math.floor(n / 2)];
      shortestPaths(g, sources, dist);
      for (let v = 0; v < n; v++) expect(dist[v]).toBe(Math.min(...sources.map((s) => fw[s * n + v]!)));
    }
  });
});

describe('tree pass (TreeDistances)', () => {
  it('gives the same bits as BFS / Dijkstra, fractional lengths included, in either vertex order', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const n = 50 + 20 * seed;
      const r = rng(seed);
      const grown: [number, number, number][] = [];
      for (let v = 1; v < n; v++) grown.push([Math.floor(r() * v), v, 0.1 + r()]);
      // Renumbered at random, parents no longer precede children: the pass runs in BFS order instead.
      const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5);
      const shuffled = grown.map(([u, v, w]) => [perm[u]!, perm[v]!, w] as [number, number, number]);
      for (const [edges, topological] of [[grown, true], [shuffled, false]] as const) {
        for (const weighted of [false, true]) {
          const g = snapshotGraph(csr(n, edges), weighted, 'A');
          const t = new TreeDistances(g);
          expect(t.order === null).toBe(topological);
          const pass = new Float64Array(n);
          const ref = new Float64Array(n);
          for (const s of [0, 1, n - 1, Math.floor(n / 3)]) {
            const far = t.fromSource(s, pass);
            const refFar = shortestPaths(g, [s], ref);
            const byVertex = new Float64Array(n);
            for (let pos = 0; pos < n; pos++) byVertex[t.order === null ? pos : t.order[pos]!] = pass[pos]!;
            expect(Array.from(byVertex)).toEqual(Array.from(ref));
            expect(far).toBe(refFar);
          }
        }
      }
    }
  });
});

describe('graph metric', () => {
  it.each([[false, 40], [true, 40], [false, 0], [true, 0]])('weighted = %s, %i chords: equals the matrix metric of all-pairs distances', async (weighted, chords) => {
    const n = 60;
    const { A, edges } = randomGraph(n, chords, 77, weighted);
    const fw = floydWarshall(n, edges, weighted);
    const observed = Int32Array.from([4, 17, 33, 58, 0]);
    const K = observed.length;
    const D = new Float64Array(K * n);
    for (let k = 0; k < K; k++) D.set(fw.subarray(observed[k]! * n, observed[k]! * n + n), k * n);
    const r = rng(3);
    const P = { rows: 25, cols: K, data: Float64Array.from({ length: 25 * K }, () => Math.floor(r() * 8) / 8) };
    for (let b = 0; b < 25; b++) P.data[b * K] += 1 / 8; // no all-zero row
    const M = frechet.graphMetric(A, observed, { weighted });
    expect(M).toBeInstanceOf(GraphMetric);
    expect(M.connected).toBe(true);
    const got = await fr.predict(P, M, { topk: 4, scores: true });
    const ref = await fr.predict(P, { kind: 'matrix', D: { rows: K, cols: n, data: D }, observed }, { topk: 4, scores: true });
    expect(got.labels).toEqual(ref.labels);
    expect(got.scores).toEqual(ref.scores);
  });

  it('a tree numbered in no particular order (the BFS-order pass) equals the all-pairs matrix metric', async () => {
    const n = 80;
    const r = rng(8);
    const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5);
    const edges: [number, number, number][] = [];
    for (let v = 1; v < n; v++) edges.push([perm[Math.floor(r() * v)]!, perm[v]!, 1 + Math.floor(r() * 5)]);
    const fw = floydWarshall(n, edges, true);
    const observed = Int32Array.from([perm[0]!, 3, 41, 77]);
    const K = observed.length;
    const D = new Float64Array(K * n);
    for (let k = 0; k < K; k++) D.set(fw.subarray(observed[k]! * n, observed[k]! * n + n), k * n);
    const P = { rows: 6, cols: K, data: Float64Array.from({ length: 6 * K }, (_, i) => ((i * 7) % 5) / 4 + 0.25) };
    const got = await fr.predict(P, fr.graphMetric(csr(n, edges), observed, { weighted: true }), { topk: n, scores: true });
    const ref = await fr.predict(P, { kind: 'matrix', D: { rows: K, cols: n, data: D }, observed }, { topk: n, scores: true });
    expect(got.labels).toEqual(ref.labels);
    expect(got.scores).toEqual(ref.scores);
  });

  it('keeps its own copy of the graph and observed ids', async () => {
    const { A } = randomGraph(30, 10, 5, false);
    const observed = Int32Array.from([1, 2, 3]);
    const M = fr.graphMetric(A, observed);
    const P = { rows: 1, cols: 3, data: Float64Array.from([1, 0, 0]) };
    const before = await fr.predict(P, M, { topk: 30, scores: true });
    observed[0] = 29;
    A.colIdx.reverse();
    const after = await fr.predict(P, M, { topk: 30, scores: true });
    expect(after.labels).toEqual(before.labels);
    expect(after.scores).toEqual(before.scores);
    expect(M.observed[0]).toBe(1);
  });

  it('a plain {kind: graph} descriptor is cached, and rebuilt after an in-place edit', async () => {
    const { A } = randomGraph(40, 0, 9, false);
    const spec = { kind: 'graph' as const, adjacency: A, observed: Int32Array.from([0, 39]) };
    const P = { rows: 1, cols: 2, data: Float64Array.from([1, 0]) };
    const a = await fr.predict(P, spec, { topk: 1, scores: true });
    expect(a.labels[0]).toBe(0);
    spec.observed[0] = 7;
    const b = await fr.predict(P, spec, { topk: 1, scores: true });
    expect(b.labels[0]).toBe(7);
  });

  it('f32 rows when the adjacency is f32, or by option; P must match', async () => {
    const { A } = randomGraph(20, 5, 2, false);
    const A32 = { ...A, values: Float32Array.from(A.values) };
    const observed = Int32Array.from([0, 5]);
    expect(fr.graphMetric(A32, observed).dtype).toBe('f32');
    const M = fr.graphMetric(A, observed, { dtype: 'f32' });
    expect(M.dtype).toBe('f32');
    const r = await fr.predict({ rows: 1, cols: 2, data: Float32Array.from([1, 1]) }, M, { scores: true });
    expect(r.scores).toBeInstanceOf(Float32Array);
    await expect(fr.predict({ rows: 1, cols: 2, data: Float64Array.from([1, 1]) }, M)).rejects.toMatchObject({ code: 'E_DTYPE' });
  });
});

describe('disconnected graphs (docs/frechet.md §2.3)', () => {
  // Component A: path 0-1-2-3-4 (labels 0..4); component B: path 5-6-7 (labels 5..7); label 8 isolated.
  const A = csr(9, [[0, 1, 1], [1, 2, 1], [2, 3, 1], [3, 4, 1], [5, 6, 1], [6, 7, 1]]);
  const observed = Int32Array.from([0, 4, 5, 7]);
  const M = frechet.graphMetric(A, observed);

  it('predicts inside the component holding the most weight, from its classes alone', async () => {
    const P = { rows: 3, cols: 4, data: Float64Array.from([
      0.25, 0.25, 0.125, 0.125, // A holds 1/2 > 1/4: the midpoint of 0 and 4
      0.125, 0, 0.25, 0.25, // B holds 1/2: the midpoint 6
      0.5, 0, 0, 0.25, // A: label 0 itself
    ]) };
    const r = await fr.predict(P, M, { topk: 2, scores: true });
    expect(Array.from(r.labels)).toEqual([2, 1, 6, 5, 0, 1]);
    // Scores count only the winning component's classes: 0.25·2² + 0.25·2² = 2 for label 2.
    expect(r.scores![0]).toBe(2);
    expect(r.scores![2]).toBe(0.5);
    expect(M.connected).toBe(false);
  });

  it('a tie in component weight ranks both components together, and pads past their labels', async () => {
    const P = { rows: 1, cols: 4, data: Float64Array.from([0.25, 0.25, 0.25, 0.25]) };
    const r = await fr.predict(P, M, { topk: 9, scores: true });
    // A: label 2 scores 2, labels 1 and 3 score 2.5 ...; B: label 6 scores 0.5, labels 5 and 7 score 1.
    expect(Array.from(r.labels)).toEqual([6, 5, 7, 2, 1, 3, 0, 4, -1]);
    expect(r.scores![8]).toBe(Infinity);
    for (const s of r.scores!) expect(Number.isNaN(s)).toBe(false);
  });

  it('never predicts a label no observed class can reach', async () => {
    const r = rng(4);
    const P = { rows: 40, cols: 4, data: Float64Array.from({ length: 160 }, () => r() + 0.01) };
    const got = await fr.predict(P, M, { topk: 3 });
    for (const l of got.labels) expect(l).not.toBe(8);
  });
});
