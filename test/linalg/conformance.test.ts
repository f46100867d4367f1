/**
 * Every available backend against the js oracle, f32 and f64.
 * Tolerances are the standard forward-error bounds of a k-term sum computed in unit roundoff u
 * (Higham, Accuracy and Stability, §3.1): |ŝ − s| ≤ γ_k Σ|terms|, γ_k = k u / (1 − k u).
 * The oracle accumulates in f64, so its own error is negligible next to an f32 backend's.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openForConformance, randomArray, eps, rng } from '../support/backends.js';
import type { CsrMatrix } from '../../src/index.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

const gamma = (k: number, u: number) => (k * u) / (1 - k * u);

function randomCsr(nrows: number, ncols: number, density: number, seed: number, dtype: 'f32' | 'f64'): CsrMatrix {
  const r = rng(seed);
  const rowPtr = new Int32Array(nrows + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < nrows; i++) {
    for (let j = 0; j < ncols; j++) if (r() < density) { cols.push(j); vals.push(2 * r() - 1); }
    rowPtr[i + 1] = cols.length;
  }
  return {
    nrows, ncols, rowPtr, colIdx: Int32Array.from(cols),
    values: dtype === 'f32' ? Float32Array.from(vals) : Float64Array.from(vals),
  };
}

function poisson5(m: number, dtype: 'f32' | 'f64'): CsrMatrix {
  const n = m * m;
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) {
    const row = i * m + j;
    if (i > 0) { cols.push(row - m); vals.push(-1); }
    if (j > 0) { cols.push(row - 1); vals.push(-1); }
    cols.push(row); vals.push(4);
    if (j < m - 1) { cols.push(row + 1); vals.push(-1); }
    if (i < m - 1) { cols.push(row + m); vals.push(-1); }
    rowPtr[row + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: dtype === 'f32' ? Float32Array.from(vals) : Float64Array.from(vals) };
}

const sizes = [0, 1, 7, 256, 257, 100_003];

describe.each(backends)('%s backend', (backend) => {
  describe.each(['f64', 'f32'] as const)('%s', (dtype) => {
    const supported = ctx.supports(backend, 'dot', dtype);
    const opts = { backend, strict: true } as const;
    const u = eps(backend === 'js' ? 'f64' : dtype);

    it.skipIf(!supported).each(sizes)('dot, n = %i', async (n) => {
      const x = randomArray(n, 1 + n, dtype);
      const y = randomArray(n, 2 + n, dtype);
      const ref = await ctx.dot(x, y, { backend: 'js' });
      let absSum = 0;
      for (let i = 0; i < n; i++) absSum += Math.abs(x[i]! * y[i]!);
      expect(Math.abs((await ctx.dot(x, y, opts)) - ref)).toBeLessThanOrEqual(gamma(n, u) * absSum + 1e-300);
    });

    it.skipIf(!supported).each(sizes)('nrm2, n = %i', async (n) => {
      const x = randomArray(n, 3 + n, dtype);
      const ref = await ctx.nrm2(x, { backend: 'js' });
      // ‖x‖ = sqrt(Σx²): the sum's relative error γ_n halves under the square root, plus one rounding.
      expect(Math.abs((await ctx.nrm2(x, opts)) - ref)).toBeLessThanOrEqual((gamma(n, u) / 2 + 2 * u) * ref + 1e-300);
    });

    it.skipIf(!supported)('nrm2 does not overflow or underflow', async () => {
      const big = dtype === 'f32' ? 1e30 : 1e200;
      const tiny = dtype === 'f32' ? 1e-30 : 1e-200;
      for (const s of [big, tiny]) {
        const x = dtype === 'f32' ? new Float32Array([3 * s, 4 * s]) : new Float64Array([3 * s, 4 * s]);
        const expected = Math.hypot(x[0]!, x[1]!);
        expect(Math.abs((await ctx.nrm2(x, opts)) - expected) / expected).toBeLessThan(8 * u);
      }
    });

    it.skipIf(!supported).each(sizes)('axpy, n = %i', async (n) => {
      const x = randomArray(n, 5 + n, dtype);
      const y = randomArray(n, 6 + n, dtype);
      const yCopy = y.slice();
      const ref = await ctx.axpy(-0.75, x, y, { backend: 'js' });
      const got = await ctx.axpy(-0.75, x, y, opts);
      expect(y).toEqual(yCopy); // not in place unless asked
      // Each element is one multiply-add, rounded once or twice in the backend's precision.
      for (let i = 0; i < n; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(2 * u * (0.75 * Math.abs(x[i]!) + Math.abs(y[i]!)));
    });

    it.skipIf(!supported)('axpy in place', async () => {
      const x = randomArray(1000, 11, dtype);
      const y = randomArray(1000, 12, dtype);
      const expected = await ctx.axpy(2, x, y, { backend: 'js' });
      const out = await ctx.axpy(2, x, y, { ...opts, inPlace: true });
      expect(out).toBe(y);
      for (let i = 0; i < 1000; i++) expect(Math.abs(y[i]! - expected[i]!)).toBeLessThanOrEqual(2 * u * 3);
    });

    const matrices: [string, () => CsrMatrix][] = [
      ['empty 0x0', () => randomCsr(0, 0, 0, 1, dtype)],
      ['rectangular 37x53 with empty rows', () => randomCsr(37, 53, 0.1, 7, dtype)],
      ['dense-ish 64x64', () => randomCsr(64, 64, 0.9, 8, dtype)],
      ['poisson 5-point 300²', () => poisson5(300, dtype)],
    ];
    it.skipIf(!ctx.supports(backend, 'spmv', dtype)).each(matrices)('spmv, %s', async (_name, make) => {
      const A = make();
      const x = randomArray(A.ncols, 9, dtype);
      const ref = await ctx.spmv(A, x, { backend: 'js' });
      const got = await ctx.spmv(A, x, opts);
      expect(got.constructor).toBe(x.constructor);
      for (let i = 0; i < A.nrows; i++) {
        let absSum = 0;
        for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) absSum += Math.abs(A.values[p]! * x[A.colIdx[p]!]!);
        const k = A.rowPtr[i + 1]! - A.rowPtr[i]!;
        expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(gamma(k + 1, u) * absSum);
      }
    });

    it.skipIf(!ctx.supports(backend, 'spmv', dtype))('spmv writes into options.out', async () => {
      const A = poisson5(20, dtype);
      const x = randomArray(A.ncols, 10, dtype);
      const out = dtype === 'f32' ? new Float32Array(A.nrows) : new Float64Array(A.nrows);
      const y = await ctx.spmv(A, x, { ...opts, out });
      expect(y).toBe(out);
    });

    const batches: [string, number[]][] = [
      ['no segments', [0]],
      ['empty and singleton segments', [0, 0, 1, 1, 5]],
      ['GRPO-shaped 64 groups of 8', Array.from({ length: 65 }, (_, i) => i * 8)],
      ['ragged long segments', [0, 1000, 1001, 5000, 5003, 70_000]],
    ];
    it.skipIf(!ctx.supports(backend, 'segmentedMoments', dtype)).each(batches)('segmented moments, %s', async (_name, offs) => {
      const offsets = Int32Array.from(offs);
      const n = offs[offs.length - 1]!;
      const values = randomArray(n, 13, dtype);
      for (let i = 0; i < n; i++) values[i] = values[i]! + 3; // an offset mean makes naive one-pass variance lose digits
      for (const ddof of [0, 1]) {
        const ref = await ctx.segmentedMoments({ offsets, values }, { backend: 'js', ddof });
        const got = await ctx.segmentedMoments({ offsets, values }, { ...opts, ddof });
        for (let s = 0; s + 1 < offsets.length; s++) {
          const k = offsets[s + 1]! - offsets[s]!;
          let absSum = 0;
          for (let i = offsets[s]!; i < offsets[s + 1]!; i++) absSum += Math.abs(values[i]!);
          expect(Math.abs(got.sum[s]! - ref.sum[s]!)).toBeLessThanOrEqual(gamma(k, u) * absSum);
          expect(Math.abs(got.mean[s]! - ref.mean[s]!)).toBeLessThanOrEqual(gamma(k + 1, u) * (absSum / Math.max(k, 1)));
          // Two-pass variance: error ≈ γ_k·var plus the mean's error squared-term; bounded by a small multiple of
          // γ_k times the second moment about zero (Chan, Golub & LeVeque 1983).
          let m2 = 0;
          for (let i = offsets[s]!; i < offsets[s + 1]!; i++) m2 += values[i]! ** 2;
          expect(Math.abs(got.variance[s]! - ref.variance[s]!)).toBeLessThanOrEqual(4 * gamma(k + 2, u) * (m2 / Math.max(k - ddof, 1)));
        }
      }
    });
  });
});

describe('dispatch', () => {
  it('auto picks an available backend and results match js', async () => {
    const x = randomArray(5000, 21);
    expect(Math.abs((await ctx.dot(x, x)) - (await ctx.dot(x, x, { backend: 'js' })))).toBeLessThan(1e-9);
  });
});
