/**
 * frechetTopk on every available backend other than js against the js oracle, f32 and f64, at the op
 * level (both layouts, bias, label offsets, tile and chunk edges) and through ctx.frechet.predict.
 *
 * Tolerances (docs/frechet.md §4.3). A backend sums the K + 1 terms of a score (bias and K products) in
 * its dtype in any order (blocked, BLAS, FMA): |ŝ − s| ≤ γ_{K+1}·A with A = |bias_j| + Σ_k |W_bk·M_kj|
 * and γ_n = n·u / (1 − n·u) (Higham, Accuracy and Stability, §3.1). The oracle sums in f64 and rounds
 * once, |õ − s| ≤ u·A. So a reported score is checked against the exact score of its label within
 * tol = 2·γ_{K+2}·A, the backend's rank-r score against the oracle's within 2·tol, and its rank-r label
 * against the oracle's wherever the oracle's neighbouring gaps exceed 2·tol (otherwise the two labels
 * are within rounding of each other and either order is right). Cases built from dyadic weights and
 * small integers have exact scores in every order: there labels and scores must match bit for bit,
 * which exercises the tie rule (equal score → smaller id) on the backend.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { FrechetTopkArgs } from '../../src/frechet/ops.js';
import { frechet, type CsrMatrix, type FrechetMetric } from '../../src/index.js';
import { eps, openForConformance, rng } from '../support/backends.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

type Dt = 'f32' | 'f64';
type F = Float32Array | Float64Array;
const arr = (dtype: Dt, n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));
const gamma = (n: number, u: number) => (n * u) / (1 - n * u);

interface Case {
  name: string;
  B: number;
  K: number;
  N: number;
  layout: 'kn' | 'nk';
  bias: boolean;
  labelOffset: number;
  topk: number;
  /** Dyadic weights and small integers: every order gives the same bits. */
  exact: boolean;
}

const cases: Case[] = [
  { name: 'kn, one label', B: 3, K: 4, N: 1, layout: 'kn', bias: false, labelOffset: 0, topk: 1, exact: false },
  { name: 'kn, K = 1', B: 5, K: 1, N: 300, layout: 'kn', bias: false, labelOffset: 0, topk: 2, exact: false },
  { name: 'kn, random', B: 33, K: 50, N: 1500, layout: 'kn', bias: false, labelOffset: 0, topk: 5, exact: false },
  { name: 'nk with bias (embedding shape)', B: 29, K: 16, N: 2049, layout: 'nk', bias: true, labelOffset: 0, topk: 4, exact: false },
  { name: 'kn with bias, offset ids', B: 7, K: 9, N: 513, layout: 'kn', bias: true, labelOffset: 1_000_000, topk: 3, exact: false },
  { name: 'kn, topk = N', B: 4, K: 6, N: 37, layout: 'kn', bias: false, labelOffset: 0, topk: 37, exact: false },
  { name: 'kn, long rows across chunks', B: 64, K: 40, N: 70_000, layout: 'kn', bias: false, labelOffset: 0, topk: 3, exact: false },
  { name: 'nk, many rows', B: 300, K: 8, N: 900, layout: 'nk', bias: true, labelOffset: 5, topk: 2, exact: false },
  { name: 'kn, exact ties', B: 40, K: 24, N: 3000, layout: 'kn', bias: false, labelOffset: 0, topk: 6, exact: true },
  { name: 'nk, exact ties, signed', B: 40, K: 12, N: 2500, layout: 'nk', bias: true, labelOffset: 17, topk: 6, exact: true },
  { name: 'empty batch', B: 0, K: 5, N: 100, layout: 'kn', bias: false, labelOffset: 0, topk: 2, exact: false },
];

function build(c: Case, dtype: Dt, seed: number): FrechetTopkArgs {
  const r = rng(seed);
  const W = arr(dtype, c.B * c.K);
  const M = arr(dtype, c.K * c.N);
  const bias = c.bias ? arr(dtype, c.N) : null;
  const signed = c.layout === 'nk';
  if (c.exact) {
    for (let i = 0; i < W.length; i++) W[i] = (Math.floor(r() * 5) - (signed ? 2 : 0)) / 4;
    for (let i = 0; i < M.length; i++) M[i] = Math.floor(r() * 5) - (signed ? 2 : 0);
    if (bias) for (let i = 0; i < bias.length; i++) bias[i] = Math.floor(r() * 6);
  } else {
    for (let i = 0; i < W.length; i++) W[i] = signed ? 2 * r() - 1 : r();
    for (let i = 0; i < M.length; i++) M[i] = signed ? 2 * r() - 1 : 10 * r() * r();
    if (bias) for (let i = 0; i < bias.length; i++) bias[i] = 3 * r();
  }
  return { W, B: c.B, K: c.K, M, N: c.N, layout: c.layout, bias, labelOffset: c.labelOffset, topk: c.topk, labels: new Int32Array(c.B * c.topk), scores: arr(dtype, c.B * c.topk) };
}

const withOutputs = (a: FrechetTopkArgs, topk: number): FrechetTopkArgs => ({ ...a, topk, labels: new Int32Array(a.B * topk), scores: arr(a.scores instanceof Float32Array ? 'f32' : 'f64', a.B * topk) });

/** Exact score (f64) and its magnitude A = |bias| + Σ|W·M| for row b, local label j. */
function exactScore(a: FrechetTopkArgs, b: number, j: number): [number, number] {
  let s = a.bias ? a.bias[j]! : 0;
  let abs = Math.abs(s);
  for (let k = 0; k < a.K; k++) {
    const t = a.W[b * a.K + k]! * (a.layout === 'kn' ? a.M[k * a.N + j]! : a.M[j * a.K + k]!);
    s += t;
    abs += Math.abs(t);
  }
  return [s, abs];
}

const sample = (dtype: Dt): FrechetTopkArgs => build({ name: '', B: 1, K: 1, N: 1, layout: 'kn', bias: false, labelOffset: 0, topk: 1, exact: true }, dtype, 1);

describe.each(backends.filter((b) => b !== 'js'))('%s backend', (backend) => {
  describe.each(['f32', 'f64'] as const)('%s', (dtype) => {
    const supported = ctx.supports(backend, 'frechetTopk', dtype, sample(dtype));
    const u = eps(dtype);

    it.skipIf(!supported).each(cases)('op: $name', async (c) => {
      const args = build(c, dtype, 100 + c.N + c.K);
      const req = { dtype, size: c.B * c.K * c.N };
      if (!ctx.supports(backend, 'frechetTopk', dtype, args)) {
        // A refused operand falls back, and the context says why.
        const r = await ctx.run('frechetTopk', args, { ...req, backend });
        expect(r.backend).not.toBe(backend);
        expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'frechetTopk', requested: backend });
        return;
      }
      const wide = Math.min(c.topk + 1, c.N);
      const ref = withOutputs(args, wide);
      await ctx.run('frechetTopk', ref, { ...req, backend: 'js' });
      const got = await ctx.run('frechetTopk', args, { ...req, backend, strict: true });
      expect(got.backend).toBe(backend);
      if (c.exact) {
        for (let b = 0; b < c.B; b++) {
          expect(Array.from(args.labels.subarray(b * c.topk, (b + 1) * c.topk))).toEqual(Array.from(ref.labels.subarray(b * wide, b * wide + c.topk)));
          expect(Array.from(args.scores.subarray(b * c.topk, (b + 1) * c.topk))).toEqual(Array.from(ref.scores.subarray(b * wide, b * wide + c.topk)));
        }
        return;
      }
      for (let b = 0; b < c.B; b++) {
        const seen = new Set<number>();
        for (let r = 0; r < c.topk; r++) {
          const label = args.labels[b * c.topk + r]!;
          const score = args.scores[b * c.topk + r]!;
          const j = label - c.labelOffset;
          expect(j >= 0 && j < c.N && !seen.has(label)).toBe(true);
          seen.add(label);
          const [exact, A] = exactScore(args, b, j);
          const tol = 2 * gamma(c.K + 2, u) * A + 1e-300;
          expect(Math.abs(score - exact)).toBeLessThanOrEqual(tol);
          if (r > 0) expect(score).toBeGreaterThanOrEqual(args.scores[b * c.topk + r - 1]!);
          const refLabel = ref.labels[b * wide + r]!;
          const refScore = ref.scores[b * wide + r]!;
          const [, Aref] = exactScore(args, b, refLabel - c.labelOffset);
          const tolRef = 2 * gamma(c.K + 2, u) * Math.max(A, Aref);
          expect(Math.abs(score - refScore)).toBeLessThanOrEqual(2 * tolRef);
          const gapBefore = r === 0 ? Infinity : refScore - ref.scores[b * wide + r - 1]!;
          const gapAfter = r + 1 < wide ? ref.scores[b * wide + r + 1]! - refScore : Infinity;
          if (Math.min(gapBefore, gapAfter) > 2 * tolRef) expect(label).toBe(refLabel);
        }
      }
    });

    // Through the façade: dyadic weights and integer metrics make every score exact, so each metric
    // kind's reduction (one call, several components, a shard) must give the oracle's bits.
    const tree = (n: number, seed: number): CsrMatrix => {
      const r = rng(seed);
      const adj: number[][] = Array.from({ length: n }, () => []);
      for (let v = 1; v < n; v++) {
        const p = Math.floor(r() * v);
        if (v % 97 === 0) continue; // a few cuts: a forest, several components
        adj[p]!.push(v);
        adj[v]!.push(p);
      }
      const rowPtr = new Int32Array(n + 1);
      const cols: number[] = [];
      for (let i = 0; i < n; i++) {
        cols.push(...adj[i]!.sort((x, y) => x - y));
        rowPtr[i + 1] = cols.length;
      }
      return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: arr(dtype, cols.length).fill(1) };
    };
    const N = 1200;
    const K = 10;
    const observed = Int32Array.from({ length: K }, (_, k) => (k * 389 + 3) % N);
    const r = rng(7);
    // Rows of eight 1/8 units: S = 1, so the embedding path's barycenter −2·P·E_Λ/S is exact too.
    const P = { rows: 50, cols: K, data: arr(dtype, 50 * K) };
    for (let b = 0; b < 50; b++) for (let u = 0; u < 8; u++) P.data[b * K + Math.floor(r() * K)] += 1 / 8;
    const Dm = arr(dtype, K * N).map(() => Math.floor(r() * 7));
    const Em = arr(dtype, N * 3).map(() => Math.floor(r() * 5) - 2);
    const metrics: [string, () => FrechetMetric][] = [
      ['matrix', () => ({ kind: 'matrix', D: { rows: K, cols: N, data: Dm }, observed })],
      ['embedding', () => ({ kind: 'embedding', E: { rows: N, cols: 3, data: Em }, observed })],
      ['graph (forest)', () => frechet.graphMetric(tree(N, 3), observed)],
    ];
    it.skipIf(!supported).each(metrics)('predict: %s', async (_name, make) => {
      const metric = make();
      const ref = await ctx.frechet.predict(P, metric, { topk: 4, scores: true, backend: 'js' });
      const got = await ctx.frechet.predict(P, metric, { topk: 4, scores: true, backend, strict: true });
      expect(got.backend).toBe(backend);
      expect(got.labels).toEqual(ref.labels);
      expect(got.scores).toEqual(ref.scores);
      const part = await ctx.frechet.predictShard(P, metric, { topk: 4, range: [100, 700], backend, strict: true });
      const refPart = await ctx.frechet.predictShard(P, metric, { topk: 4, range: [100, 700], backend: 'js' });
      expect(part.labels).toEqual(refPart.labels);
      expect(part.scores).toEqual(refPart.scores);
    });
  });
});

describe('oracle semantics (js)', () => {
  it('f32: each score is the f64 sum (bias, then k ascending) rounded once', async () => {
    const c: Case = { name: '', B: 6, K: 30, N: 700, layout: 'nk', bias: true, labelOffset: 0, topk: 700, exact: false };
    const a = build(c, 'f32', 9);
    await ctx.run('frechetTopk', a, { dtype: 'f32', size: 1, backend: 'js', strict: true });
    for (let b = 0; b < c.B; b++) {
      for (let r = 0; r < c.topk; r++) {
        const j = a.labels[b * c.topk + r]!;
        expect(a.scores[b * c.topk + r]).toBe(Math.fround(exactScore(a, b, j)[0]));
        if (r > 0) {
          const prev = a.scores[b * c.topk + r - 1]!;
          expect(prev < a.scores[b * c.topk + r]! || (prev === a.scores[b * c.topk + r] && a.labels[b * c.topk + r - 1]! < j)).toBe(true);
        }
      }
    }
  });

  it('lists the backends this file compared', () => {
    expect(backends[0]).toBe('js');
  });
});
