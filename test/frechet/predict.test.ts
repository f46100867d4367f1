/**
 * ctx.frechet.predict on the js oracle (docs/frechet.md §2–§4): the oracle against a brute-force score
 * matrix, the 0/1 metric as argmax, the tie rule, scale invariance, the embedding path against the
 * matrix path built from the same points, shard-placed metrics and the empty batch.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type FrechetMetric } from '../../src/index.js';
import { rng } from '../support/backends.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const fr = ctx.frechet;

type F = Float32Array | Float64Array;
const make = (dtype: 'f32' | 'f64', n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));

function randomProblem(B: number, K: number, N: number, seed: number, dtype: 'f32' | 'f64') {
  const r = rng(seed);
  const P = make(dtype, B * K);
  for (let i = 0; i < P.length; i++) P[i] = r();
  const D = make(dtype, K * N);
  for (let i = 0; i < D.length; i++) D[i] = 10 * r();
  const ids = Array.from({ length: N }, (_, j) => j);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const observed = Int32Array.from(ids.slice(0, K));
  return { P: { rows: B, cols: K, data: P }, D: { rows: K, cols: N, data: D }, observed };
}

/** Every score in f64, k ascending (the oracle's documented order), then rounded to the dtype. */
function bruteScores(P: F, B: number, K: number, D2: F, N: number, f32: boolean): Float64Array {
  const s = new Float64Array(B * N);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < N; j++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += P[b * K + k]! * D2[k * N + j]!;
      s[b * N + j] = f32 ? Math.fround(acc) : acc;
    }
  }
  return s;
}

function bruteTopk(s: Float64Array, B: number, N: number, topk: number) {
  const labels: number[] = [];
  const scores: number[] = [];
  for (let b = 0; b < B; b++) {
    const ids = Array.from({ length: N }, (_, j) => j).sort((i, j) => s[b * N + i]! - s[b * N + j]! || i - j);
    for (const j of ids.slice(0, topk)) {
      labels.push(j);
      scores.push(s[b * N + j]!);
    }
  }
  return { labels, scores };
}

describe.each(['f64', 'f32'] as const)('oracle, %s', (dtype) => {
  it('equals the brute-force score matrix, labels and scores bit for bit', async () => {
    const { P, D, observed } = randomProblem(7, 5, 600, 11, dtype);
    const D2 = make(dtype, D.data.length);
    for (let i = 0; i < D2.length; i++) D2[i] = D.data[i]! * D.data[i]!;
    const ref = bruteTopk(bruteScores(P.data, 7, 5, D2, 600, dtype === 'f32'), 7, 600, 6);
    const got = await fr.predict(P, { kind: 'matrix', D, observed }, { topk: 6, scores: true });
    expect(Array.from(got.labels)).toEqual(ref.labels);
    expect(Array.from(got.scores!)).toEqual(ref.scores);
    expect(got.scores).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
    expect(got.backend).toBe('js');
    // squared: true on D² is the same problem.
    const sq = await fr.predict(P, { kind: 'matrix', D: { rows: 5, cols: 600, data: D2 }, squared: true, observed }, { topk: 6, scores: true });
    expect(sq.labels).toEqual(got.labels);
    expect(sq.scores).toEqual(got.scores);
  });

  it('the 0/1 metric gives the argmax of P (complete graph, loki.md §3)', async () => {
    const B = 50, K = 8, N = 40;
    const r = rng(5);
    const observed = Int32Array.from([3, 39, 0, 17, 22, 8, 30, 11]);
    const D = make(dtype, K * N).fill(1);
    for (let k = 0; k < K; k++) D[k * N + observed[k]!] = 0;
    const P = make(dtype, B * K);
    for (let i = 0; i < P.length; i++) P[i] = r();
    const got = await fr.predict({ rows: B, cols: K, data: P }, { kind: 'matrix', D: { rows: K, cols: N, data: D }, observed });
    for (let b = 0; b < B; b++) {
      let arg = 0;
      for (let k = 1; k < K; k++) if (P[b * K + k]! > P[b * K + arg]!) arg = k;
      expect(got.labels[b]).toBe(observed[arg]);
    }
  });

  it('exact ties go to the smaller label id, at every rank', async () => {
    // Dyadic weights and integer distances: every score is exact, so ties are real ties.
    const K = 2, N = 8;
    const D = make(dtype, K * N);
    D.set([2, 1, 1, 0, 1, 2, 1, 3], 0);
    D.set([0, 1, 1, 2, 1, 0, 1, 1], N);
    const P = make(dtype, 2 * K);
    P.set([0.5, 0.5, 0.25, 0.75]);
    const got = await fr.predict({ rows: 2, cols: K, data: P }, { kind: 'matrix', D: { rows: K, cols: N, data: D }, observed: Int32Array.from([3, 5]) }, { topk: 8, scores: true });
    const s = bruteScores(P, 2, K, D.map((x) => x * x) as F, N, false);
    for (let b = 0; b < 2; b++) {
      const row = Array.from(got.labels.subarray(b * N, b * N + N));
      const expected = Array.from({ length: N }, (_, j) => j).sort((i, j) => s[b * N + i]! - s[b * N + j]! || i - j);
      expect(row).toEqual(expected);
    }
    // Row 0: labels 1, 2, 4, 6 all score 1 and lead in id order.
    expect(Array.from(got.labels.subarray(0, 4))).toEqual([1, 2, 4, 6]);
  });

  it('is invariant to rescaling P (loki.md §3); scores scale exactly by a power of two', async () => {
    const { P, D, observed } = randomProblem(9, 6, 300, 21, dtype);
    const a = await fr.predict(P, { kind: 'matrix', D, observed }, { topk: 3, scores: true });
    const P4 = { ...P, data: P.data.map((x) => 4 * x) as F };
    const b = await fr.predict(P4, { kind: 'matrix', D, observed }, { topk: 3, scores: true });
    expect(b.labels).toEqual(a.labels);
    expect(Array.from(b.scores!)).toEqual(Array.from(a.scores!, (x) => 4 * x));
  });

  it('leaves scores out unless asked, and predicts nothing for an empty batch', async () => {
    const { D, observed } = randomProblem(1, 4, 50, 3, dtype);
    const P = { rows: 1, cols: 4, data: make(dtype, 4).fill(1) };
    const r = await fr.predict(P, { kind: 'matrix', D, observed });
    expect(r.scores).toBeUndefined();
    expect(r.topk).toBe(1);
    const e = await fr.predict({ rows: 0, cols: 4, data: make(dtype, 0) }, { kind: 'matrix', D, observed }, { topk: 2, scores: true });
    expect(e.labels.length).toBe(0);
    expect(e.scores!.length).toBe(0);
  });

  it('a shard-placed matrix metric reports global label ids', async () => {
    const { P, D, observed } = randomProblem(4, 3, 100, 8, dtype);
    const whole = await fr.predict(P, { kind: 'matrix', D, observed }, { topk: 2, scores: true });
    const shifted = await fr.predict(P, { kind: 'matrix', D, observed, labelOffset: 1000, labelCount: 2000 }, { topk: 2, scores: true });
    expect(Array.from(shifted.labels)).toEqual(Array.from(whole.labels, (l) => l + 1000));
    expect(shifted.scores).toEqual(whole.scores);
  });
});

/** n×dim points and the K×n matrix of their distances to the observed ones. */
function pointsAndDistances(n: number, dim: number, observed: Int32Array, seed: number, integer: boolean) {
  const r = rng(seed);
  const E = new Float64Array(n * dim);
  for (let i = 0; i < E.length; i++) E[i] = integer ? Math.floor(r() * 9) - 4 : 2 * r() - 1;
  const D = new Float64Array(observed.length * n);
  for (let k = 0; k < observed.length; k++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < dim; c++) s += (E[j * dim + c]! - E[observed[k]! * dim + c]!) ** 2;
      D[k * n + j] = s;
    }
  }
  return { E: { rows: n, cols: dim, data: E }, D2: { rows: observed.length, cols: n, data: D } };
}

describe('embedding path (barycenter reduction, docs/frechet.md §3.2)', () => {
  it('equals the matrix path built from the same points', async () => {
    const n = 800, dim = 6, K = 12, B = 40, topk = 4;
    const observed = Int32Array.from({ length: K }, (_, k) => (k * 67 + 5) % n);
    const { E, D2 } = pointsAndDistances(n, dim, observed, 3, false);
    const r = rng(9);
    const P = { rows: B, cols: K, data: Float64Array.from({ length: B * K }, () => r() ** 3) };
    const viaE = await fr.predict(P, { kind: 'embedding', E, observed }, { topk, scores: true });
    const viaD = await fr.predict(P, { kind: 'matrix', D: D2, squared: true, observed }, { topk: topk + 1, scores: true });
    for (let b = 0; b < B; b++) {
      // Both paths are f64; the reduction cancels terms of size ≈ S·max‖e‖², so compare to that scale.
      let S = 0;
      for (let k = 0; k < K; k++) S += P.data[b * K + k]!;
      const tol = 1e-12 * S * dim * 4;
      for (let q = 0; q < topk; q++) {
        const e = viaE.scores![b * topk + q]!;
        const d = viaD.scores![b * (topk + 1) + q]!;
        expect(Math.abs(e - d)).toBeLessThanOrEqual(tol);
        const gapBefore = q === 0 ? Infinity : d - viaD.scores![b * (topk + 1) + q - 1]!;
        const gapAfter = viaD.scores![b * (topk + 1) + q + 1]! - d;
        if (Math.min(gapBefore, gapAfter) > 2 * tol) expect(viaE.labels[b * topk + q]).toBe(viaD.labels[b * (topk + 1) + q]);
      }
    }
  });

  it('integer points and dyadic weights: both paths agree exactly, ties included', async () => {
    const n = 300, dim = 3;
    const observed = Int32Array.from([0, 7, 19, 150]);
    const { E, D2 } = pointsAndDistances(n, dim, observed, 4, true);
    const r = rng(2);
    // Weights k/8 summing to a power of two keep the barycenter and every score exact.
    const rows: number[] = [];
    for (let b = 0; b < 30; b++) {
      const w = [0, 0, 0, 0];
      for (let u = 0; u < 8; u++) w[Math.floor(r() * 4)]! += 1 / 8;
      rows.push(...w);
    }
    const P = { rows: 30, cols: 4, data: Float64Array.from(rows) };
    const viaE = await fr.predict(P, { kind: 'embedding', E, observed }, { topk: 5, scores: true });
    const viaD = await fr.predict(P, { kind: 'matrix', D: D2, squared: true, observed }, { topk: 5, scores: true });
    expect(viaE.labels).toEqual(viaD.labels);
    expect(viaE.scores).toEqual(viaD.scores);
  });

  it('f32 embeddings agree with the f64 matrix path where the ranking is clear', async () => {
    const n = 500, dim = 8, K = 10, B = 20;
    const observed = Int32Array.from({ length: K }, (_, k) => 3 * k + 1);
    const { E, D2 } = pointsAndDistances(n, dim, observed, 6, false);
    const E32 = { ...E, data: Float32Array.from(E.data) };
    const r = rng(1);
    const P64 = Float64Array.from({ length: B * K }, () => r());
    const P32 = Float32Array.from(P64);
    const got = await fr.predict({ rows: B, cols: K, data: P32 }, { kind: 'embedding', E: E32, observed }, { topk: 1, scores: true });
    // Exact scores of the f32-rounded inputs, in f64.
    const E64 = Float64Array.from(E32.data);
    const exact = (b: number, j: number) => {
      let s = 0;
      for (let k = 0; k < K; k++) {
        let d = 0;
        for (let c = 0; c < dim; c++) d += (E64[j * dim + c]! - E64[observed[k]! * dim + c]!) ** 2;
        s += P32[b * K + k]! * d;
      }
      return s;
    };
    for (let b = 0; b < B; b++) {
      let S = 0;
      for (let k = 0; k < K; k++) S += P32[b * K + k]!;
      // f32 kernel over dim + 1 terms of size ≤ 3·max|e|² ≤ 3, scaled by S: a generous forward bound.
      const tol = 64 * 2 ** -24 * S * 3 * dim;
      const scores = Array.from({ length: n }, (_, j) => exact(b, j));
      const best = scores.indexOf(Math.min(...scores));
      expect(Math.abs(got.scores![b]! - scores[best]!)).toBeLessThanOrEqual(tol);
      const second = Math.min(...scores.filter((_, j) => j !== best));
      if (second - scores[best]! > 2 * tol) expect(got.labels[b]).toBe(best);
    }
    expect(D2.rows).toBe(K);
  });

  it('a shard of E with observedE predicts the shard\'s labels', async () => {
    const n = 200, dim = 4;
    const observed = Int32Array.from([5, 150, 190]);
    const { E } = pointsAndDistances(n, dim, observed, 12, true);
    const P = { rows: 3, cols: 3, data: Float64Array.from([0.5, 0.25, 0.25, 0, 1, 0, 0.125, 0.125, 0.75]) };
    const observedE = { rows: 3, cols: dim, data: Float64Array.from(Array.from(observed).flatMap((o) => Array.from(E.data.subarray(o * dim, o * dim + dim)))) };
    const shard: FrechetMetric = { kind: 'embedding', E: { rows: 100, cols: dim, data: E.data.subarray(100 * dim) }, observed, observedE, labelOffset: 100, labelCount: n };
    const got = await fr.predictShard(P, shard, { topk: 3 });
    const ref = await fr.predictShard(P, { kind: 'embedding', E, observed }, { topk: 3, range: [100, 200] });
    expect(got.labels).toEqual(ref.labels);
    expect(got.scores).toEqual(ref.scores);
    for (const l of got.labels) expect(l).toBeGreaterThanOrEqual(100);
  });
});
