/**
 * Locus and next class (loki.md §7, docs/frechet.md §5): the tree locus against brute force over a
 * simplex lattice fine enough to hit every tie, the vertex-and-edge locus of general metrics against an
 * exhaustive search over every breakpoint of t, the complete graph, and the greedy property of
 * next-class selection on trees.
 */
import { describe, expect, it } from 'vitest';
import { frechet, type CsrMatrix } from '../../src/index.js';
import { rng } from '../support/backends.js';

function csr(n: number, edges: readonly [number, number][]): CsrMatrix<Float64Array> {
  const rows: number[][] = Array.from({ length: n }, () => []);
  for (const [u, v] of edges) {
    rows[u]!.push(v);
    rows[v]!.push(u);
  }
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  for (let i = 0; i < n; i++) {
    cols.push(...rows[i]!.sort((a, b) => a - b));
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: new Float64Array(cols.length).fill(1) };
}

function randomTree(n: number, r: () => number): [number, number][] {
  return Array.from({ length: n - 1 }, (_, i) => [Math.floor(r() * (i + 1)), i + 1] as [number, number]);
}

/** All-pairs hop counts by BFS from every vertex (test-only: tiny graphs). */
function hops(n: number, edges: readonly [number, number][]): number[][] {
  const adj: number[][] = Array.from({ length: n }, () => []);
  for (const [u, v] of edges) {
    adj[u]!.push(v);
    adj[v]!.push(u);
  }
  return Array.from({ length: n }, (_, s) => {
    const d = new Array<number>(n).fill(Infinity);
    d[s] = 0;
    const q = [s];
    for (let h = 0; h < q.length; h++) for (const u of adj[q[h]!]!) if (d[u] === Infinity) { d[u] = d[q[h]!]! + 1; q.push(u); }
    return d;
  });
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** Every weight vector w ∈ ℕ^K with Σw = m: the simplex lattice of step 1/m. */
function* lattice(K: number, m: number, prefix: number[] = []): Generator<number[]> {
  if (prefix.length === K - 1) {
    yield [...prefix, m - prefix.reduce((a, b) => a + b, 0)];
    return;
  }
  const used = prefix.reduce((a, b) => a + b, 0);
  for (let w = 0; w <= m - used; w++) yield* lattice(K, m, [...prefix, w]);
}

/** Labels that are an argmin (ties counted) of Σ w_k d²(y, λ_k) for some lattice w; integer arithmetic, exact. */
function bruteLocus(d: number[][], observed: number[], m: number): number[] {
  const n = d.length;
  const hit = new Set<number>();
  for (const w of lattice(observed.length, m)) {
    const s = Array.from({ length: n }, (_, y) => observed.reduce((acc, o, k) => acc + w[k]! * d[o]![y]! ** 2, 0));
    const min = Math.min(...s);
    s.forEach((v, y) => v === min && hit.add(y));
  }
  return [...hit].sort((a, b) => a - b);
}

function latticeSize(K: number, m: number): number {
  let c = 1;
  for (let i = 1; i < K; i++) c = (c * (m + i)) / i;
  return c;
}

describe('tree locus', () => {
  it('equals brute force over a simplex lattice that hits every path vertex (random trees)', () => {
    const r = rng(17);
    let checked = 0;
    for (let trial = 0; trial < 80 && checked < 25; trial++) {
      const n = 5 + Math.floor(r() * 8);
      const edges = randomTree(n, r);
      const K = 2 + Math.floor(r() * 3);
      const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5);
      const observed = perm.slice(0, K);
      const d = hops(n, edges);
      // A vertex at distance x along the path λ_k → λ_l wins at w = ((L − x)/L, x/L): the lattice step
      // must divide every pairwise distance L.
      let m = 1;
      for (const a of observed) for (const b of observed) if (a !== b) m = (m * d[a]![b]!) / gcd(m, d[a]![b]!);
      if (latticeSize(K, m) > 60_000) continue;
      checked++;
      const got = frechet.locus(frechet.graphMetric(csr(n, edges), Int32Array.from(observed)));
      expect(Array.from(got)).toEqual(bruteLocus(d, observed, m));
      // The general (vertex-and-edge) algorithm on the same distances as a matrix metric agrees on trees.
      const D = Float64Array.from(observed.flatMap((o) => d[o]!));
      const viaMatrix = frechet.locus({ kind: 'matrix', D: { rows: K, cols: n, data: D }, observed: Int32Array.from(observed) });
      expect(viaMatrix).toEqual(got);
    }
    expect(checked).toBeGreaterThanOrEqual(15);
  });

  it('a forest: the union of the per-tree loci, and a tree with one class gives that class', () => {
    // Tree 1: star 0-{1,2,3}; tree 2: path 4-5-6-7.
    const A = csr(8, [[0, 1], [0, 2], [0, 3], [4, 5], [5, 6], [6, 7]]);
    expect(Array.from(frechet.locus(frechet.graphMetric(A, Int32Array.from([1, 2, 7]))))).toEqual([0, 1, 2, 7]);
    expect(Array.from(frechet.locus(frechet.graphMetric(A, Int32Array.from([1, 2, 4, 7]))))).toEqual([0, 1, 2, 4, 5, 6, 7]);
  });
});

/**
 * Exhaustive vertex-and-edge locus: for each pair, t = p/q at every tie between two labels and at every
 * midpoint between consecutive ties, compared in integers (scores p·a + (q − p)·b).
 */
function bruteEdgeLocus(d2: number[][], observed: number[], n: number): number[] {
  const hit = new Set<number>();
  const argminSet = (f: (y: number) => number) => {
    const s = Array.from({ length: n }, (_, y) => f(y));
    const min = Math.min(...s);
    s.forEach((v, y) => v === min && hit.add(y));
  };
  for (const o of observed) argminSet((y) => d2[o]![y]!);
  for (let i = 0; i < observed.length; i++) for (let j = i + 1; j < observed.length; j++) {
    const a = d2[observed[i]!]!, b = d2[observed[j]!]!;
    const ts: [number, number][] = [];
    for (let y = 0; y < n; y++) for (let z = 0; z < n; z++) {
      // t·(a_y − a_z) + (1 − t)·(b_y − b_z) = 0 → t = (b_z − b_y) / ((a_y − a_z) − (b_y − b_z)).
      const num = b[z]! - b[y]!, den = a[y]! - a[z]! - (b[y]! - b[z]!);
      if (den !== 0 && num * den > 0 && Math.abs(num) < Math.abs(den)) ts.push([Math.abs(num), Math.abs(den)]);
    }
    const sorted = ts.sort((x, y) => x[0] * y[1] - y[0] * x[1]);
    const probes: [number, number][] = [...sorted];
    const ends: [number, number][] = [[0, 1], ...sorted, [1, 1]];
    for (let k = 0; k + 1 < ends.length; k++) probes.push([ends[k]![0] * ends[k + 1]![1] + ends[k + 1]![0] * ends[k]![1], 2 * ends[k]![1] * ends[k + 1]![1]]);
    for (const [p, q] of probes) if (p > 0 && p < q) argminSet((y) => p * a[y]! + (q - p) * b[y]!);
  }
  return [...hit].sort((x, y) => x - y);
}

describe('general metrics: the vertex-and-edge locus', () => {
  it('equals an exhaustive search over t on graphs with cycles', () => {
    const r = rng(5);
    for (let trial = 0; trial < 12; trial++) {
      const n = 8 + Math.floor(r() * 10);
      const edges = randomTree(n, r);
      for (let e = 0; e < 4; e++) {
        const u = Math.floor(r() * n), v = Math.floor(r() * n);
        if (u !== v && !edges.some(([x, y]) => (x === u && y === v) || (x === v && y === u))) edges.push([u, v]);
      }
      const K = 2 + Math.floor(r() * 3);
      const observed = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5).slice(0, K);
      const d = hops(n, edges);
      const d2 = d.map((row) => row.map((x) => x * x));
      const got = frechet.locus(frechet.graphMetric(csr(n, edges), Int32Array.from(observed)));
      expect(Array.from(got)).toEqual(bruteEdgeLocus(d2, observed, n));
      // Every label found is a Fréchet mean of some weighting: with K = 2 that is the whole locus.
      if (K === 2) {
        let m = 1;
        for (let x = 1; x <= 12; x++) m = (m * x) / gcd(m, x);
        for (const y of bruteLocus(d, observed, m)) expect(Array.from(got)).toContain(y);
      }
    }
  });

  it('the complete graph (0/1 metric): the locus is the observed set (loki.md §7)', () => {
    const n = 12;
    const observed = Int32Array.from([2, 5, 9, 11]);
    const D = new Float64Array(4 * n).fill(1);
    observed.forEach((o, k) => (D[k * n + o] = 0));
    expect(Array.from(frechet.locus({ kind: 'matrix', D: { rows: 4, cols: n, data: D }, observed }))).toEqual([2, 5, 9, 11]);
  });

  it('the 10×10 grid of the paper\'s Figure 1: with ties counted, corners 0 and 99 already cover it (loki.md §7)', () => {
    const edges: [number, number][] = [];
    for (let i = 0; i < 10; i++) for (let j = 0; j < 10; j++) {
      if (j < 9) edges.push([i * 10 + j, i * 10 + j + 1]);
      if (i < 9) edges.push([i * 10 + j, (i + 1) * 10 + j]);
    }
    const observed = [0, 39, 99];
    const got = Array.from(frechet.locus(frechet.graphMetric(csr(100, edges), Int32Array.from(observed))));
    expect(got.length).toBe(100);
    const d = hops(100, edges);
    expect(got).toEqual(bruteEdgeLocus(d.map((row) => row.map((x) => x * x)), observed, 100));
  });

  it('embedding metric: points on a line between two observed classes', () => {
    // 1-D points 0, 1, …, 6 and one far off the segment: the edge locus is the segment.
    const E = { rows: 8, cols: 2, data: Float64Array.from([0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 3, 9]) };
    expect(Array.from(frechet.locus({ kind: 'embedding', E, observed: Int32Array.from([1, 5]) }))).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('next class (active selection)', () => {
  it('on trees, adding it grows the locus by its distance to the locus (greedy-optimal, loki.md §7)', () => {
    const r = rng(23);
    for (let trial = 0; trial < 20; trial++) {
      const n = 20;
      const edges = randomTree(n, r);
      const A = csr(n, edges);
      const observed = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5).slice(0, 3);
      const d = hops(n, edges);
      const pi = Array.from(frechet.locus(frechet.graphMetric(A, Int32Array.from(observed))));
      const next = frechet.nextClass(frechet.graphMetric(A, Int32Array.from(observed)));
      if (pi.length === n) {
        expect(next).toBeNull();
        continue;
      }
      const far = (v: number) => Math.min(...pi.map((u) => d[v]![u]!));
      const outside = Array.from({ length: n }, (_, v) => v).filter((v) => !pi.includes(v));
      const maxFar = Math.max(...outside.map(far));
      expect(next).toEqual({ label: outside.find((v) => far(v) === maxFar), distance: maxFar });
      const grown = frechet.locus(frechet.graphMetric(A, Int32Array.from([...observed, next!.label])));
      expect(grown.length).toBe(pi.length + maxFar);
    }
  });

  it('a matrix metric chooses among the classes it has rows for; an unreachable class counts as infinitely far', () => {
    const n = 6;
    // Path 0-1-2-3-4-5 distances from the rows' classes 0, 2, 5.
    const observed = Int32Array.from([0, 2, 5]);
    const D = Float64Array.from([0, 1, 2, 3, 4, 5, 2, 1, 0, 1, 2, 3, 5, 4, 3, 2, 1, 0]);
    const M = { kind: 'matrix' as const, D: { rows: 3, cols: n, data: D }, observed };
    expect(frechet.nextClass(M, Int32Array.from([0, 2]))).toEqual({ label: 5, distance: 3 });
    expect(frechet.nextClass(M)).toBeNull();
    const forest = csr(5, [[0, 1], [1, 2]]);
    expect(frechet.nextClass(frechet.graphMetric(forest, Int32Array.from([0, 2])))).toEqual({ label: 3, distance: Infinity });
  });
});
