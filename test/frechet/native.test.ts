/**
 * The native frechetTopk kernel (bindings/frechet.cc, native/src/frechet/, src/backends/native/frechet.ts)
 * at kernel level, against a plain reference written here: both layouts, f32 and f64, every engine
 * (the builtin blocked kernel, and OpenBLAS when built with it), bias or none, label offsets, tile
 * boundaries (N not a multiple of the tile, topk above a tile), the tie rule, NaN from an overflow,
 * results independent of the thread count and of slicing, the event loop turning between slices, abort,
 * the code-table check at load, and bad arguments rejected by the addon itself, naming the argument.
 * Generic conformance against the js oracle is test/frechet/conformance.test.ts. Skipped when the addon
 * is not built, unless NUMKERN_REQUIRE names 'native'.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import { NumkernError } from '../../src/core/errors.js';
import { loadNative, type NativeAddon } from '../../src/backends/addon/load.js';
import { FRECHET_ENGINE_CODES, frechetAddon, frechetKernels, nativeFrechetTopk, type FrechetEngine } from '../../src/backends/native/frechet.js';
import type { FrechetLayout, FrechetTopkArgs } from '../../src/frechet/ops.js';
import { frechetBarycenters as jsBarycenters } from '../../src/backends/js/frechet.js';
import { required, rng } from '../support/backends.js';

const { addon: loaded, reason } = loadNative();

describe.runIf(required().includes('native'))('native addon required by NUMKERN_REQUIRE', () => {
  it('loads', () => {
    expect(reason).toBeNull();
  });
});

type F = Float32Array | Float64Array;
type Dtype = 'f32' | 'f64';
const make = (dtype: Dtype, n: number): F => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));
/** Every engine this addon has (auto is one of them: checked below). */
const ENGINES: FrechetEngine[] = ['builtin', ...(loaded?.info().blas ? (['blas'] as const) : [])];
const LAYOUTS: FrechetLayout[] = ['kn', 'nk'];

interface Problem {
  W: F;
  B: number;
  K: number;
  M: F;
  N: number;
  layout: FrechetLayout;
  bias: F | null;
  labelOffset: number;
}

/**
 * Exact data: W in multiples of 1/8 up to 1, M small integers, bias integers. Every partial sum is then
 * exact in f32 and f64 (|s| < 2^24), so any summation order gives the same bits, and the few distinct
 * values make exact ties common.
 */
function exactProblem(dtype: Dtype, B: number, K: number, N: number, layout: FrechetLayout, withBias: boolean, seed: number): Problem {
  const r = rng(seed);
  const W = make(dtype, B * K).map(() => Math.floor(9 * r()) / 8);
  const M = make(dtype, K * N).map(() => Math.floor(6 * r()));
  const bias = withBias ? make(dtype, N).map(() => Math.floor(5 * r()) - 2) : null;
  return { W, B, K, M, N, layout, bias, labelOffset: 11 };
}

function randomProblem(dtype: Dtype, B: number, K: number, N: number, layout: FrechetLayout, seed: number): Problem {
  const r = rng(seed);
  return {
    W: make(dtype, B * K).map(() => r()),
    B,
    K,
    M: make(dtype, K * N).map(() => 10 * r()),
    N,
    layout,
    bias: make(dtype, N).map(() => r() - 0.5),
    labelOffset: 0,
  };
}

const mAt = (p: Problem, k: number, j: number): number => (p.layout === 'kn' ? p.M[k * p.N + j]! : p.M[j * p.K + k]!);

/** Every label's score (sum in f64 rounded to the dtype, then + bias rounded) and the rows ranked in full. */
function reference(p: Problem): { score: Float64Array; ranked: Int32Array[] } {
  const f32 = p.W instanceof Float32Array;
  const round = (x: number) => (f32 ? Math.fround(x) : x);
  const score = new Float64Array(p.B * p.N);
  const ranked: Int32Array[] = [];
  for (let b = 0; b < p.B; b++) {
    for (let j = 0; j < p.N; j++) {
      let s = 0;
      for (let k = 0; k < p.K; k++) s += p.W[b * p.K + k]! * mAt(p, k, j);
      score[b * p.N + j] = p.bias ? round(round(s) + p.bias[j]!) : round(s);
    }
    const row = score.subarray(b * p.N, (b + 1) * p.N);
    ranked.push(Int32Array.from({ length: p.N }, (_, j) => j).sort((x, y) => row[x]! - row[y]! || x - y));
  }
  return { score, ranked };
}

function outputs(p: Problem, topk: number): { labels: Int32Array; scores: F } {
  return { labels: new Int32Array(p.B * topk), scores: make(p.W instanceof Float32Array ? 'f32' : 'f64', p.B * topk) };
}

const args = (p: Problem, topk: number, out = outputs(p, topk)): FrechetTopkArgs => ({ ...p, topk, ...out });

describe.skipIf(!loaded)('native frechetTopk', () => {
  const fr = frechetAddon(loaded!);
  /** One call through the TS slicing; sliceMs 0 cuts it into slices of one tile per thread, else it runs whole. */
  const run = async (a: FrechetTopkArgs, engine: FrechetEngine, threads: number, sliceMs = 1e9) =>
    nativeFrechetTopk(fr, a, {}, { threads, engine, sliceMs, minSliceLabels: sliceMs === 0 ? 0 : Infinity });

  it('reports the code tables src/frechet/ops.ts declares, and a plan', () => {
    expect(fr.frechetLayout()).toEqual({ layouts: { kn: 0, nk: 1 }, engines: { auto: 0, builtin: 1, blas: 2 } });
    const info = loaded!.info();
    const plan = fr.frechetPlan(1024, 1000, 100_000, 'f32', 0, 2);
    // auto: OpenBLAS, unless there is none or it runs narrower vectors than the builtin AVX-512 tile.
    const narrower = info.simd === 'x86-64-v4' && !/skylakex|cooperlake|sapphirerapids/i.test(info.blas?.split('(kernels:')[1] ?? '');
    expect(plan.blas).toBe(info.blas !== null && !narrower);
    expect(plan.variant).toBe(plan.blas ? 'blas' : info.simd);
    if (plan.blas) expect(fr.frechetPlan(1024, 1000, 7, 'f32', 0, 2)).toMatchObject({ tile: plan.tile, rows: plan.rows });
    // The builtin engine's tile narrows with N: four threads' scratch, (K + rows)·tile values each, stays
    // within 1/8 of the B×N scores, or the tile is the narrowest (32 labels).
    for (const N of [7, 1000, 10_000, 100_000]) {
      const b = fr.frechetPlan(1024, 1000, N, 'f32', 1, 2);
      expect(b.tile % 32).toBe(0);
      expect(b.tile === 32 || 4 * (1000 + b.rows) * b.tile <= (1024 * N) / 8).toBe(true);
    }
    expect(fr.frechetPlan(1024, 1000, 1000, 'f32', 1, 2).tile).toBe(32);
    expect(fr.frechetPlan(1024, 1000, 100_000, 'f32', 1, 2).tile).toBe(128);
    expect(fr.frechetPlan(1024, 1000, 7, 'f32', 1, 2)).toMatchObject({ blas: false, variant: info.simd });
    if (info.blas) expect(fr.frechetPlan(1024, 1000, 7, 'f32', 2, 2)).toMatchObject({ blas: true, variant: 'blas' });
    else expect(() => fr.frechetPlan(1024, 1000, 7, 'f32', 2, 2)).toThrow(/^engine: 2 \(blas\) needs an addon built with OpenBLAS/);
  });

  it('auto gives the bits of the engine its plan names', async () => {
    const p = randomProblem('f32', 20, 30, 3000, 'nk', 3);
    const auto = args(p, 3);
    await run(auto, 'auto', 2);
    const named = args(p, 3);
    await run(named, fr.frechetPlan(20, 30, 3000, 'f32', 0, 2).blas ? 'blas' : 'builtin', 2);
    expect(auto.labels).toEqual(named.labels);
    expect(auto.scores).toEqual(named.scores);
  });

  for (const dtype of ['f32', 'f64'] as const)
    for (const layout of LAYOUTS)
      it(`equals the reference bit for bit on exact data, ${dtype} ${layout}, both engines, bias or none`, async () => {
        for (const withBias of [false, true]) {
          const p = exactProblem(dtype, 7, 13, 1500, layout, withBias, withBias ? 1 : 2);
          const { score, ranked } = reference(p);
          for (const topk of [1, 4, 40]) {
            for (const engine of ENGINES) {
              const a = args(p, topk);
              await run(a, engine, 2);
              for (let b = 0; b < p.B; b++) {
                const want = Array.from(ranked[b]!.subarray(0, topk));
                expect(Array.from(a.labels.subarray(b * topk, (b + 1) * topk))).toEqual(want.map((j) => j + p.labelOffset));
                expect(Array.from(a.scores.subarray(b * topk, (b + 1) * topk))).toEqual(want.map((j) => score[b * p.N + j]));
              }
            }
          }
        }
      });

  it('crosses tile boundaries: N not a multiple of the tile, topk above a tile, several row blocks', async () => {
    for (const [dtype, B, K] of [['f32', 3, 4], ['f64', 300, 2]] as const) {
      const tile = Math.max(...ENGINES.map((e) => fr.frechetPlan(B, K, 1, dtype, FRECHET_ENGINE_CODES[e], 2).tile));
      const N = 2 * tile + 37;
      for (const layout of LAYOUTS) {
        const p = exactProblem(dtype, B, K, N, layout, true, N);
        const { score, ranked } = reference(p);
        const topk = B === 3 ? tile + 5 : 3;
        for (const engine of ENGINES) {
          const a = args(p, topk);
          await run(a, engine, 2, 0);
          for (const b of [0, B - 1]) {
            const want = Array.from(ranked[b]!.subarray(0, topk));
            expect(Array.from(a.labels.subarray(b * topk, (b + 1) * topk))).toEqual(want.map((j) => j + p.labelOffset));
            expect(Array.from(a.scores.subarray(b * topk, (b + 1) * topk))).toEqual(want.map((j) => score[b * p.N + j]));
          }
        }
      }
    }
  });

  it('sends exact ties to the smaller label id, across tiles, threads and slices', async () => {
    const tile = Math.max(...ENGINES.map((e) => fr.frechetPlan(2, 3, 1, 'f32', FRECHET_ENGINE_CODES[e], 2).tile));
    const N = 3 * tile + 10;
    // Every label scores 1 except four that score 0, in different tiles; row 1 has W = 0: all tie at 0.
    const M = new Float32Array(3 * N).fill(1);
    const zeros = [N - 1, 2 * tile + 3, tile - 1, tile + 2];
    for (const j of zeros) M[j] = 0;
    const p: Problem = { W: Float32Array.of(1, 0, 0, 0, 0, 0), B: 2, K: 3, M, N, layout: 'kn', bias: null, labelOffset: 1000 };
    for (const engine of ENGINES)
      for (const [threads, sliceMs] of [[1, 1e9], [2, 0], [3, 1e9]] as const) {
        const a = args(p, 6);
        await run(a, engine, threads, sliceMs);
        expect(Array.from(a.labels.subarray(0, 6))).toEqual([tile - 1, tile + 2, 2 * tile + 3, N - 1, 0, 1].map((j) => j + 1000));
        expect(Array.from(a.scores.subarray(0, 6))).toEqual([0, 0, 0, 0, 1, 1]);
        expect(Array.from(a.labels.subarray(6))).toEqual([1000, 1001, 1002, 1003, 1004, 1005]);
      }
  });

  for (const dtype of ['f32', 'f64'] as const)
    it(`gives the same bits on 1, 2 and 3 threads and in any slicing, and a valid top-k of random data, ${dtype}`, async () => {
      for (const layout of LAYOUTS) {
        const B = 300;
        const N = 2 * Math.max(...ENGINES.map((e) => fr.frechetPlan(B, 37, 1, dtype, FRECHET_ENGINE_CODES[e], 2).tile)) + 123;
        const p = randomProblem(dtype, B, 37, N, layout, layout === 'kn' ? 5 : 6);
        const { score, ranked } = reference(p);
        const topk = 40;
        const u = dtype === 'f32' ? 2 ** -24 : 2 ** -53;
        for (const engine of ENGINES) {
          const first = args(p, topk);
          await run(first, engine, 1);
          for (const [threads, sliceMs] of [[2, 1e9], [3, 1e9], [2, 0]] as const) {
            const again = args(p, topk);
            await run(again, engine, threads, sliceMs);
            expect(again.labels).toEqual(first.labels);
            expect(again.scores).toEqual(first.scores);
          }
          for (let b = 0; b < B; b += 7) {
            const kth = score[b * N + ranked[b]![topk - 1]!]!;
            for (let r = 0; r < topk; r++) {
              const j = first.labels[b * topk + r]!;
              const want = score[b * N + j]!;
              // K products of terms below 10, then the bias: a few K·u relative to the sum's size, 10·K.
              const tol = 4 * (p.K + 2) * u * 10 * p.K;
              expect(Math.abs(first.scores[b * topk + r]! - want)).toBeLessThanOrEqual(tol);
              expect(want).toBeLessThanOrEqual(kth + 2 * tol);
              if (r > 0) expect(first.scores[b * topk + r - 1]!).toBeLessThanOrEqual(first.scores[b * topk + r]!);
            }
          }
        }
      }
    });

  it('takes K = 0 (the scores are the bias) and an empty batch', async () => {
    const p: Problem = { W: new Float64Array(0), B: 3, K: 0, M: new Float64Array(0), N: 5, layout: 'nk', bias: Float64Array.of(3, -1, 2, -1, 0), labelOffset: 0 };
    for (const engine of ENGINES) {
      const a = args(p, 3);
      await run(a, engine, 2);
      expect(Array.from(a.labels)).toEqual([1, 3, 4, 1, 3, 4, 1, 3, 4]);
      expect(Array.from(a.scores)).toEqual([-1, -1, 0, -1, -1, 0, -1, -1, 0]);
    }
    const empty = args({ ...p, B: 0, W: new Float64Array(0) }, 2);
    await run(empty, 'builtin', 2);
    expect(empty.labels.length).toBe(0);
  });

  it('ranks NaN (inf·0, an overflow) after every number, NaNs by label', async () => {
    const N = 9;
    const M = Float32Array.from({ length: 2 * N }, (_, i) => (i < N && i % 3 === 0 ? 0 : 1));
    const p: Problem = { W: Float32Array.of(Infinity, 1), B: 1, K: 2, M, N, layout: 'kn', bias: null, labelOffset: 0 };
    for (const engine of ENGINES) {
      const a = args(p, N);
      await run(a, engine, 2);
      expect(Array.from(a.labels)).toEqual([1, 2, 4, 5, 7, 8, 0, 3, 6]);
      expect(Array.from(a.scores.subarray(0, 6))).toEqual(new Array(6).fill(Infinity));
      expect(Array.from(a.scores.subarray(6)).every(Number.isNaN)).toBe(true);
    }
  });

  it('screens W as weights and M as squared distances when asked, in every slice, and gives the same bits', async () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const p = randomProblem(dtype, 30, 20, 700, 'kn', 21);
      for (const engine of ENGINES) {
        const plain = args(p, 3);
        expect(await run(plain, engine, 2)).toBeUndefined();
        for (const sliceMs of [1e9, 0]) {
          const screened = args(p, 3);
          expect(await run({ ...screened, screenW: true, screenM: true }, engine, 2, sliceMs)).toEqual({ screened: true, bad: false });
          expect(screened.labels).toEqual(plain.labels);
          expect(screened.scores).toEqual(plain.scores);
        }
        const flagged = async (W: F, M: F, screenW: boolean, screenM: boolean, sliceMs = 0) =>
          ((await run({ ...args({ ...p, W, M }, 3), screenW, screenM }, engine, 2, sliceMs)) as { bad: boolean } | undefined)?.bad;
        const bad = (a: F, i: number, v: number) => {
          const c = a.slice() as F;
          c[i] = v;
          return c;
        };
        for (const v of [-1, NaN, Infinity, -Infinity]) {
          expect(await flagged(bad(p.W, 17 * 20 + 3, v), p.M, true, false)).toBe(true);
          expect(await flagged(bad(p.W, 17 * 20 + 3, v), p.M, false, true)).toBe(false); // not asked
          expect(await flagged(p.W, bad(p.M, 19 * 700 + 650, v), false, true)).toBe(true); // the last slices
          expect(await flagged(p.W, bad(p.M, 19 * 700 + 650, v), false, true, 1e9)).toBe(true);
        }
        const zeroRow = p.W.slice() as F;
        zeroRow.fill(0, 29 * 20, 30 * 20);
        expect(await flagged(zeroRow, p.M, true, false)).toBe(true);
        // -0 is a weight of 0 and a distance of 0.
        expect(await flagged(bad(p.W, 5, -0), bad(p.M, 5, -0), true, true)).toBe(false);
        if (dtype === 'f64') {
          // Conservative: an entry above DBL_MAX / 2K is flagged though the row sums to a finite value.
          expect(await flagged(bad(p.W, 3, 1e307), p.M, true, false)).toBe(true);
          expect(await flagged(bad(p.W, 3, 1e306), p.M, true, false)).toBe(false);
        }
        // An empty batch still screens M.
        const empty = { ...args({ ...p, W: p.W.subarray(0, 0) as F, B: 0, M: bad(p.M, 3, NaN) }, 3), screenM: true };
        expect(await run(empty, engine, 2)).toEqual({ screened: true, bad: true });
      }
    }
  });

  it('frechetBarycenters gives the bits of the js oracle, f32 and f64, on 1 to 3 threads', async () => {
    const k = frechetKernels({ addon: loaded!, threads: 2 }).find((x) => x.op === 'frechetBarycenters') as KernelSpec<'frechetBarycenters'>;
    for (const dtype of ['f32', 'f64'] as const) {
      for (const [B, K, dim] of [[1, 1, 1], [13, 37, 5], [67, 200, 64], [0, 3, 2]] as const) {
        const r = rng(B * 7 + K + dim);
        const P = make(dtype, B * K).map(() => r() ** 3);
        const E = Float64Array.from({ length: K * dim }, () => Math.fround(4 * r() - 2));
        const norms = Float64Array.from({ length: K }, (_, q) => E.subarray(q * dim, q * dim + dim).reduce((s, v) => s + v * v, 0));
        const rowSums = Float64Array.from({ length: B }, (_, b) => P.subarray(b * K, b * K + K).reduce((s, v) => s + v, 0) || 1);
        const want = { W: make(dtype, B * dim), shift: new Float64Array(B) };
        jsBarycenters({ P, B, K, E, dim, norms, rowSums, ...want });
        for (const threads of [1, 2, 3]) {
          const got = { W: make(dtype, B * dim), shift: new Float64Array(B) };
          fr.frechetBarycenters(P, B, K, E, dim, norms, rowSums, got.W, got.shift, threads);
          expect(got.W).toEqual(want.W);
          expect(got.shift).toEqual(want.shift);
        }
        const viaKernel = { W: make(dtype, B * dim), shift: new Float64Array(B) };
        await k.run({ P, B, K, E, dim, norms, rowSums, ...viaKernel }, {});
        expect(viaKernel.W).toEqual(want.W);
      }
    }
    const P = new Float32Array(6);
    expect(() => fr.frechetBarycenters(P, 2, 3, new Float64Array(5), 2, new Float64Array(3), new Float64Array(2), new Float32Array(4), new Float64Array(2))).toThrow(/^E: length 5 should be 6/);
    expect(() => fr.frechetBarycenters(P, 2, 3, new Float64Array(6), 2, new Float64Array(3), new Float64Array(2), new Float64Array(4), new Float64Array(2))).toThrow(/^W: expected Float32Array to match P/);
    expect(() => fr.frechetBarycenters(P, 2, 3, new Float32Array(6) as never, 2, new Float64Array(3), new Float64Array(2), new Float32Array(4), new Float64Array(2))).toThrow(/^E: expected Float64Array/);
  });

  it('lets the event loop turn between slices, and stops between them on abort', async () => {
    const p = randomProblem('f32', 64, 16, 6 * fr.frechetPlan(64, 16, 1, 'f32', 0, 2).tile, 'kn', 9);
    const kernels = frechetKernels({ addon: loaded!, threads: 2 }, { sliceMs: 0, minSliceLabels: 0 });
    const k = kernels.find((x) => x.op === 'frechetTopk') as KernelSpec<'frechetTopk'>;
    const order: string[] = [];
    setImmediate(() => order.push('turn'));
    const sliced = args(p, 2);
    await k.run(sliced, {});
    order.push('done');
    expect(order[0]).toBe('turn');
    const whole = args(p, 2);
    await run(whole, 'auto', 2);
    expect(sliced.labels).toEqual(whole.labels);
    expect(sliced.scores).toEqual(whole.scores);

    const ac = new AbortController();
    setImmediate(() => ac.abort('stop'));
    await expect(k.run(args(p, 2), { signal: ac.signal })).rejects.toMatchObject({ code: 'E_ABORTED' });

    // An operand detached between two slices is caught by the next one, naming it.
    const M = p.M.slice();
    setImmediate(() => structuredClone(M.buffer, { transfer: [M.buffer] }));
    await expect(k.run(args({ ...p, M }, 2), {})).rejects.toMatchObject({ name: 'NumkernError', code: 'E_DTYPE', argument: 'M' });
  });

  it('rejects bad arguments at the addon, naming them, and through the kernel as NumkernError', async () => {
    const B = 2, K = 3, N = 4, topk = 2;
    const W = new Float32Array(B * K), M = new Float32Array(K * N), labels = new Int32Array(B * topk), scores = new Float32Array(B * topk);
    const call = (over: Partial<Record<string, unknown>>) => () => {
      const a = { W, B, K, M, N, layout: 0, bias: null, labelOffset: 0, topk, labels, scores, begin: undefined, end: undefined, merge: undefined, threads: 2, engine: 0, ...over };
      (fr.frechetTopk as (...x: unknown[]) => void)(a.W, a.B, a.K, a.M, a.N, a.layout, a.bias, a.labelOffset, a.topk, a.labels, a.scores, a.begin, a.end, a.merge, a.threads, a.engine);
    };
    expect(call({})).not.toThrow();
    const cases: [Partial<Record<string, unknown>>, RegExp][] = [
      [{ W: new Float32Array(5) }, /^W: length 5 should be 6 \(B·K/],
      [{ B: 3 }, /^W: length 6 should be 9/],
      [{ M: new Float32Array(11) }, /^M: length 11 should be 12 \(K·N/],
      [{ M: new Float64Array(12) }, /^M: expected Float32Array to match W/],
      [{ W: new Int32Array(6) }, /^W: expected Float32Array or Float64Array/],
      [{ bias: new Float32Array(3) }, /^bias: length 3 should be 4/],
      [{ bias: new Float64Array(4) }, /^bias: expected Float32Array/],
      [{ labels: new Int32Array(3) }, /^labels: length 3 should be 4 \(B·topk/],
      [{ labels: new Float32Array(4) }, /^labels: expected Int32Array/],
      [{ scores: new Float32Array(5) }, /^scores: length 5 should be 4/],
      [{ topk: 5 }, /^topk: expected an integer in \[1, 4\]/],
      [{ topk: 0 }, /^topk: expected an integer in \[1, 4\]/],
      [{ N: 0, M: new Float32Array(0) }, /^N: expected an integer in \[1,/],
      [{ B: -1 }, /^B: expected an integer/],
      [{ K: 1.5 }, /^K: expected an integer/],
      [{ layout: 2 }, /^layout: expected an integer in \[0, 1\]/],
      [{ engine: 7 }, /^engine: expected an integer in \[0, 2\]/],
      [{ labelOffset: 2 ** 31 - 3 }, /^labelOffset: expected an integer in \[0, 2147483644\]/],
      [{ begin: 5 }, /^begin: expected an integer in \[0, 4\]/],
      [{ begin: 3, end: 2 }, /^end: expected an integer in \[3, 4\]/],
      [{ begin: 3 }, /^end: \[begin, end\) = \[3, 4\) holds fewer than topk = 2 labels, and merge is false/],
      [{ merge: 1 }, /^merge: expected a boolean/],
      [{ threads: -1 }, /^threads: expected an integer/],
    ];
    for (const [over, message] of cases) expect(call(over)).toThrow(message);
    // A detached array is a TypeError naming it, never a read of freed memory.
    const gone = new Float32Array(K * N);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expect(call({ M: gone })).toThrow(/^M: its ArrayBuffer is detached/);

    const k = frechetKernels({ addon: loaded!, threads: 2 }).find((x) => x.op === 'frechetTopk') as KernelSpec<'frechetTopk'>;
    const a: FrechetTopkArgs = { W, B, K, M, N, layout: 'kn', bias: new Float32Array(3), labelOffset: 0, topk, labels, scores };
    await expect(k.run(a, {})).rejects.toMatchObject({ name: 'NumkernError', code: 'E_SHAPE', argument: 'bias' });
    await expect(k.run({ ...a, bias: null, scores: new Float64Array(4) }, {})).rejects.toBeInstanceOf(NumkernError);
  });

  it('a code table that disagrees with the addon, or a missing entry point, takes the family off native', () => {
    const real = loaded!;
    const table = fr.frechetLayout();
    const skewed = Object.create(real, { frechetLayout: { value: () => ({ ...table, layouts: { kn: 1, nk: 0 } }) } }) as NativeAddon;
    expect(() => frechetKernels({ addon: skewed, threads: 1 })).toThrow(
      /^frechet layout mismatch .*layouts\.kn is 1 in the addon, 0 here; layouts\.nk is 0 in the addon, 1 here/,
    );
    const renamed = Object.create(real, { frechetLayout: { value: () => ({ ...table, engines: { auto: 0, blis: 1, blas: 2 } }) } }) as NativeAddon;
    expect(() => frechetKernels({ addon: renamed, threads: 1 })).toThrow(/engines\.builtin is missing in the addon, 1 here; engines\.blis is 1 in the addon, missing here/);
    const stale = Object.create(real, { frechetTopk: { value: undefined } }) as NativeAddon;
    expect(() => frechetKernels({ addon: stale, threads: 1 })).toThrow(/^addon lacks the frechet entry points frechetTopk \(stale build/);
    expect(frechetKernels({ addon: real, threads: 1 }).map((x) => x.op)).toEqual(['frechetTopk', 'frechetBarycenters']);
  });
});
