/**
 * The native sketch kernels (src/backends/native/sketch.ts) beyond the generic conformance suite:
 * results independent of the thread count and of the slicing, argument checks in the addon, and the
 * large-problem paths (LAPACK QR, the fast fused pass) against the oracle's residual.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type Context } from '../../src/index.js';
import { loadNative } from '../../src/backends/addon/load.js';
import { lsProblem, randomDense, toCsr } from './problems.js';
import { srhtBlock } from '../../src/sketch/spec.js';
import { seedToKey } from '../../src/core/philox.js';

const { addon } = loadNative();
const ctxs: Context[] = [];
afterAll(async () => {
  for (const c of ctxs) await c.dispose();
});
const open = async (threads: number) => {
  const c = await createContext({ threads, backends: ['js', 'native'] });
  ctxs.push(c);
  return c;
};

/** Records the ops a context dispatches (its `run`), so a test can see which kernels ran. */
function recordRuns(ctx: unknown): { calls: string[]; restore: () => void } {
  const calls: string[] = [];
  const spy = ctx as { run: (op: string, ...rest: unknown[]) => unknown };
  const original = spy.run.bind(ctx);
  spy.run = (op: string, ...rest: unknown[]) => {
    calls.push(op);
    return original(op, ...rest);
  };
  return { calls, restore: () => { spy.run = original; } };
}

describe.skipIf(!addon)('native sketch', async () => {
  const one = addon ? await open(1) : null!;
  const two = addon ? await open(2) : null!;
  const has = addon ? two.supports('native', 'sketchApply', 'f64') : false;

  it.skipIf(!has).each(['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'] as const)('%s: SA is bit for bit the same on 1 and 2 threads, dense and CSR, and the oracle\'s for integer kinds', async (kind) => {
    const A = randomDense(3000, 9, 21);
    const b = randomDense(3000, 1, 22).data;
    for (const op of [A, toCsr(A)]) {
      const opts = { kind, m: 50, seed: 17, b, backend: 'native' as const, strict: true };
      const r1 = await one.sketch.apply(op as never, opts);
      const r2 = await two.sketch.apply(op as never, opts);
      expect(r2.data).toEqual(r1.data);
      expect(r2.Sb).toEqual(r1.Sb);
      if (kind !== 'gaussian') {
        const ref = await two.sketch.apply(op as never, { ...opts, backend: 'js' });
        expect(r2.data).toEqual(ref.data);
      }
    }
  });

  it.skipIf(!has)('row shards add up to the whole sketch (countsketch on integer data: bit for bit)', async () => {
    const A = randomDense(1000, 5, 3);
    for (let k = 0; k < A.data.length; k++) A.data[k] = Math.round(A.data[k]! * 8);
    const whole = await two.sketch.apply(A, { kind: 'countsketch', m: 30, seed: 2, backend: 'native' });
    const sum = new Float64Array(whole.data.length);
    for (const [lo, hi] of [[0, 1], [1, 400], [400, 1000]] as const) {
      const blk = { rows: hi - lo, cols: 5, data: A.data.subarray(lo * 5, hi * 5) };
      const p = await two.sketch.applyRows(blk, lo, { kind: 'countsketch', m: 30, seed: 2, totalRows: 1000, backend: 'native' });
      for (let k = 0; k < sum.length; k++) sum[k] += p.data[k]!;
    }
    expect(sum).toEqual(whole.data);
  });

  it.skipIf(!has)('full-precision methods reach the oracle\'s residual on 1 and 2 threads, with the same iterates', async () => {
    const P = lsProblem(3000, 15, 1e8, 0.3, 5);
    const ref = await two.sketch.lstsq(P.A, P.b, { method: 'qr', backend: 'js' });
    for (const method of ['sketch-and-precondition', 'iterative-sketching'] as const) {
      const r1 = await one.sketch.lstsq(P.A, P.b, { method, m: 200, seed: 4, backend: 'native' });
      const r2 = await two.sketch.lstsq(P.A, P.b, { method, m: 200, seed: 4, backend: 'native' });
      expect(r2.x).toEqual(r1.x);
      expect(r2.iterations).toBe(r1.iterations);
      expect(Math.abs(r2.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
    }
  });

  it.skipIf(!has)('srht within one Hadamard group, every group size (N = 1 … 4096): the oracle\'s bits, with b', async () => {
    // The native gather does the three lowest levels in registers and levels 8–256 per tile (fwht.hpp):
    // groups of fewer than 8, 64 and 512 rows each take another path through it.
    for (const n of [1, 2, 3, 5, 8, 9, 33, 64, 65, 300, 512, 513, 1000, 4096]) {
      for (const d of [1, 7, 8, 13]) {
        const A = randomDense(n, d, n + d);
        const b = randomDense(n, 1, n + 2 * d).data;
        const opts = { kind: 'srht' as const, m: Math.min(8, n), seed: 5, b, backend: 'native' as const, strict: true };
        const r = await two.sketch.apply(A, opts);
        const ref = await two.sketch.apply(A, { ...opts, backend: 'js' });
        expect(r.data).toEqual(ref.data);
        expect(r.Sb).toEqual(ref.Sb);
      }
    }
  });

  it.skipIf(!has)('srht over many one-group permutation blocks (B = 4096): the oracle\'s bits on 1 and 2 threads, f64 and f32, with b, in row shards', async () => {
    // m ≤ 1024 gives B = 2^12: each block's rows are scattered, transformed and added by the block kernel
    // (srht.cc): sweeps of 4 panels, a last single panel merged into the sweep before (d = 33 with b on one
    // thread, d = 72 on two), a partial last chunk (b's column) and a partial last block.
    for (const d of [5, 13, 33, 40, 72]) {
      const n = 20000, m = 50;
      expect(srhtBlock(32768, m)).toBe(4096);
      const A = randomDense(n, d, 60 + d);
      const b = randomDense(n, 1, 61 + d).data;
      for (const f32 of [false, true]) {
        const data = f32 ? Float32Array.from(A.data) : A.data;
        const bb = f32 ? Float32Array.from(b) : b;
        const opts = { kind: 'srht' as const, m, seed: 9, b: bb, backend: 'native' as const, strict: true };
        const X = { rows: n, cols: d, data };
        const ref = await two.sketch.apply(X, { ...opts, backend: 'js' });
        for (const ctx of [one, two]) {
          const r = await ctx.sketch.apply(X, opts);
          expect(r.data).toEqual(ref.data);
          expect(r.Sb).toEqual(ref.Sb);
        }
        // Shards that start and end inside blocks: each the oracle's shard, bit for bit.
        for (const [lo, hi] of [[0, 3000], [3000, 9001], [9001, n]] as const) {
          const blk = { rows: hi - lo, cols: d, data: data.subarray(lo * d, hi * d) };
          const so = { ...opts, b: bb.subarray(lo, hi), totalRows: n };
          const got = await two.sketch.applyRows(blk, lo, so);
          const want = await two.sketch.applyRows(blk, lo, { ...so, backend: 'js' });
          expect(got.data).toEqual(want.data);
          expect(got.Sb).toEqual(want.Sb);
        }
      }
    }
  });

  it.skipIf(!has)('srht past one Hadamard group (m = 1100: B = 8192): the same bits on 1 and 2 threads, the oracle within re-association', async () => {
    // The one-pass SRHT sums the levels above its 4096-row groups sequentially, the oracle by the FWHT's
    // tree: the same signed terms re-associated, so |Δ| ≤ 2·γ_n·scale·Σ_i|a_ij| per entry (Higham §4.2).
    const n = 20000, d = 9, m = 1100;
    expect(srhtBlock(32768, m)).toBe(8192);
    const A = randomDense(n, d, 41);
    const b = randomDense(n, 1, 42).data;
    const opts = { kind: 'srht' as const, m, seed: 8, b, backend: 'native' as const, strict: true };
    const r1 = await one.sketch.apply(A, opts);
    const r2 = await two.sketch.apply(A, opts);
    expect(r2.data).toEqual(r1.data);
    expect(r2.Sb).toEqual(r1.Sb);
    const ref = await two.sketch.apply(A, { ...opts, backend: 'js' });
    const u = 2 ** -53;
    const gamma = (n * u) / (1 - n * u);
    for (let j = 0; j <= d; j++) {
      let abs = 0;
      for (let i = 0; i < n; i++) abs += Math.abs(j < d ? A.data[i * d + j]! : b[i]!);
      for (let k = 0; k < m; k++) {
        const g = j < d ? r2.data[k * d + j]! : r2.Sb![k]!;
        const w = j < d ? ref.data[k * d + j]! : ref.Sb![k]!;
        expect(Math.abs(g - w)).toBeLessThanOrEqual((2 * gamma * abs) / Math.sqrt(m));
      }
    }
  });

  it.skipIf(!has)('the sketch pass screens a dense A: the kernel reports the first bad element, lstsq throws before anything else runs', async () => {
    // Bad entries in both threads' column ranges and in several slices; the first in row-major order wins.
    const n = 5000, d = 24;
    const A = randomDense(n, d, 31);
    const a = addon as unknown as Record<string, (...args: unknown[]) => number>;
    const run = (kind: number, s: number, m: number, limit: number, data: Float64Array) => {
      const N = 8192;
      const sample = kind === 2 ? Uint32Array.from({ length: m }, (_, k) => (k * 37) % N) : null;
      return a.sketchApply!(kind, m, s, 1, 2, 1, kind === 2 ? N : 0, kind === 2 ? N : 0, sample, { rows: n, cols: d, data }, 0, null,
        new Float64Array(m * d), null, false, true, 0, limit);
    };
    const data = A.data.slice();
    data[4500 * d + 1] = Infinity;
    data[4200 * d + 3] = 1e200;
    data[4000 * d + 20] = NaN;
    for (const [kind, s] of [[1, 0], [2, 0], [3, 1], [4, 8]] as const) {
      expect(run(kind, s, 64, 1e150, data)).toBe(4000 * d + 20);
      expect(run(kind, s, 64, 1e150, A.data)).toBe(-1);
      expect(run(kind, s, 64, 0, data)).toBe(-1); // limit 0: no screening
    }
    const { calls, restore } = recordRuns(two);
    try {
      const b = randomDense(n, 1, 32).data;
      for (const sketch of ['countsketch', 'sparse-sign', 'srht'] as const) {
        calls.length = 0;
        await expect(two.sketch.lstsq({ rows: n, cols: d, data }, b, { sketch, backend: 'native' })).rejects.toThrow(/A\.data.*element 96020 is NaN/);
        expect(calls).toEqual(['sketchApply']);
        const big = A.data.slice();
        big[4200 * d + 3] = 1e200;
        await expect(two.sketch.lstsq({ rows: n, cols: d, data: big }, b, { sketch, backend: 'native' })).rejects.toThrow(/entry 100803 is 1e\+200/);
      }
    } finally {
      restore();
    }
  });

  it.skipIf(!has)('apply screens a dense A in its own pass: one kernel call, the first non-finite element named, f32 and f64', async () => {
    const n = 5000, d = 24;
    const { calls, restore } = recordRuns(two);
    try {
      for (const kind of ['srht', 'gaussian', 'countsketch'] as const) {
        for (const f32 of [false, true]) {
          const src = randomDense(n, d, 33).data;
          const data = f32 ? Float32Array.from(src) : src;
          calls.length = 0;
          await two.sketch.apply({ rows: n, cols: d, data }, { kind, m: 64, seed: 3, backend: 'native' });
          expect(calls).toEqual(['sketchApply']);
          data[4700 * d + 5] = -Infinity;
          data[4100 * d + 9] = NaN;
          await expect(two.sketch.apply({ rows: n, cols: d, data }, { kind, m: 64, seed: 3, backend: 'native' })).rejects.toThrow(/A\.data.*element 98409 is NaN/);
          // checkFinite: false lets the values through, as documented.
          const r = await two.sketch.apply({ rows: n, cols: d, data }, { kind, m: 64, seed: 3, backend: 'native', checkFinite: false });
          expect(r.data.some((v) => Number.isNaN(v))).toBe(true);
        }
      }
    } finally {
      restore();
    }
  });

  it.skipIf(!has)('srht: a finite A whose transform overflows is acquitted by the screen, and a NaN is still found', async () => {
    // The block kernel judges finiteness from the transform's sampled rows and searches the rows only
    // when one is NaN or ±Inf: an overflow from finite data must pass, as on the oracle.
    const n = 5000, d = 8;
    const data = randomDense(n, d, 71).data;
    for (let i = 0; i < n; i += 3) data[i * d + 2] = 1.5e308;
    const opts = { kind: 'srht' as const, m: 32, seed: 4 };
    const r = await two.sketch.apply({ rows: n, cols: d, data }, { ...opts, backend: 'native' });
    const ref = await two.sketch.apply({ rows: n, cols: d, data }, { ...opts, backend: 'js' });
    expect(r.data.some((v) => !Number.isFinite(v))).toBe(true);
    expect(r.data).toEqual(ref.data);
    data[4321 * d + 6] = NaN;
    await expect(two.sketch.apply({ rows: n, cols: d, data }, { ...opts, backend: 'native' })).rejects.toThrow(/A\.data.*element 34574 is NaN/);
  });

  it.skipIf(!has)('the addon re-checks sizes and indices', () => {
    const a = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    const SA = new Float64Array(4 * 2);
    const A = { rows: 3, cols: 2, data: new Float64Array(6) };
    expect(() => a.sketchApply!(3, 4, 1, 0, 0, 1, 0, 0, null, A, 0, null, new Float64Array(7), null, false, true, 0)).toThrow(/SA/);
    expect(() => a.sketchApply!(3, 4, 1, 0, 0, 1, 0, 0, null, { rows: 4, cols: 2, data: new Float64Array(6) }, 0, null, SA, null, false, true, 0)).toThrow(/A\.data/);
    const bad = { nrows: 1, ncols: 2, rowPtr: new Int32Array([0, 1]), colIdx: new Int32Array([5]), values: new Float64Array([1]) };
    expect(() => a.sketchApply!(3, 4, 1, 0, 0, 1, 0, 0, null, bad, 0, null, SA, null, false, true, 0)).toThrow(/colIdx/);
    expect(() => a.sketchApply!(4, 4, 9, 0, 0, 1, 0, 0, null, A, 0, null, SA, null, false, true, 0)).toThrow(/nnzPerCol/);
    expect(() => a.sketchApply!(2, 4, 0, 0, 0, 1, 4, 4, new Uint32Array([0, 1, 2, 9]), A, 0, null, SA, null, false, true, 0)).toThrow(/sample/);
    expect(() => a.sketchQr!(new Float64Array(5), 3, 2, null, new Float64Array(4), new Int32Array(2), 1e-12, true, 0)).toThrow(/M/);
  });

  it.skipIf(!has)('Kaczmarz\'s row table: native gives the oracle\'s bits (dense f64 and f32 over several row slices, CSR)', async () => {
    // 43 693 × 200 is three slices of RESIDUAL_SLICE elements, with rows past a multiple of eight.
    const D = randomDense(43_693, 200, 31);
    const C = toCsr(randomDense(5001, 13, 32));
    const operands = [
      { A: D, dtype: 'f64' as const, n: D.rows },
      { A: { rows: D.rows, cols: D.cols, data: Float32Array.from(D.data) }, dtype: 'f32' as const, n: D.rows },
      { A: C, dtype: 'f64' as const, n: C.nrows },
    ];
    for (const { A, dtype, n } of operands) {
      const ref = new Float64Array(n);
      const got = new Float64Array(n).fill(Number.NaN);
      await one.run('sketchRowCdf', { A, cdf: ref }, { backend: 'js', strict: true, dtype, size: n });
      for (const c of [one, two]) {
        const r = await c.run('sketchRowCdf', { A, cdf: got }, { backend: 'native', strict: true, dtype, size: n });
        expect(r.backend).toBe('native');
        expect(got).toEqual(ref);
      }
      expect(ref[n - 1]).toBeGreaterThan(ref[0]!);
    }
  });

  it.skipIf(!has)('kaczmarz and sketch-and-project in slices (a zero time budget) end with the bits of one whole call, and the oracle\'s count', async () => {
    type Run = (...args: unknown[]) => number;
    const a = addon as unknown as { sketchKaczmarzRun: Run; sketchProjectRun: Run };
    const P = lsProblem(300, 12, 2, 0, 5);
    const rowCdf = new Float64Array(300);
    for (let i = 0, acc = 0; i < 300; i++) {
      for (let j = 0; j < 12; j++) acc += P.A.data[i * 12 + j]! ** 2;
      rowCdf[i] = acc;
    }
    const [k0, k1] = seedToKey(7);
    const solve = (run: (x: Float64Array, st: Float64Array, budget: number) => number, budget: number) => {
      const x = new Float64Array(12);
      const st = new Float64Array(4);
      let calls = 1;
      while (!run(x, st, budget)) calls++;
      return { x, st, calls };
    };
    for (const block of [1, 4]) {
      const work = new Float64Array(block === 1 ? 600 : 300);
      const run = (x: Float64Array, st: Float64Array, budget: number) =>
        a.sketchKaczmarzRun(P.A, P.b, x, block, rowCdf, k0, k1, 1e-9, 3000, 50, st, work, budget, 2);
      const whole = solve(run, 1e9);
      const sliced = solve(run, 0);
      expect(whole.calls).toBe(1);
      // A zero budget ends a slice at every 64th projection (the clock is read there).
      expect(sliced.calls).toBe(Math.ceil(whole.st[0]! / 64));
      expect(sliced.calls).toBeGreaterThan(1);
      expect(sliced.x).toEqual(whole.x);
      expect(sliced.st).toEqual(whole.st);
      const oracle = await one.sketch.kaczmarz(P.A, P.b, { seed: 7, tol: 1e-9 / Math.hypot(...P.b), maxIter: 3000, checkEvery: 50, block, backend: 'js' });
      expect(whole.st[0]).toBe(oracle.iterations);
      expect(whole.st[2]).toBe(1); // converged, before maxIter
    }
    const work = new Float64Array(300);
    const run = (x: Float64Array, st: Float64Array, budget: number) =>
      a.sketchProjectRun(3, 6, 1, k0, k1, 1, P.A, P.b, x, 1e-9, 400, st, work, budget, 2);
    const whole = solve(run, 1e9);
    const sliced = solve(run, 0);
    expect(whole.st[0]).toBeGreaterThan(1);
    expect(sliced.calls).toBe(sliced.st[0]); // one step a call
    expect(sliced.x).toEqual(whole.x);
    expect(sliced.st).toEqual(whole.st);
  });
});
