/**
 * frechetTopk on the WebGPU backend on its own (src/backends/webgpu/frechet/): both layouts, bias,
 * topk > 1, exact ties, chunking over several bindings (forced with a small binding cap), more
 * labels than one dispatch dimension holds, SharedArrayBuffer operands, abort and buffer release,
 * and what the kernel refuses. Results are compared with a straightforward f64 reference here; the
 * generic comparison with the js oracle is test/frechet/conformance.test.ts.
 *
 * Tolerance: the device sums each score as one f32 fma chain plus the bias, so
 * |ŝ_j − s_j| ≤ e_j = γ_(K+1)·(|bias_j| + Σ_k |W_bk·M_kj|), γ_n = n·u/(1 − n·u), u = 2⁻²⁴ (Higham,
 * Accuracy and Stability, §3.1). With E = max_j e_j over a row, the r-th smallest computed score is
 * within E of the r-th smallest exact one, and rank r's label is determined wherever the exact
 * scores on both sides of it are more than 2E away. The tie tests use dyadic weights and integer
 * distances, for which every summation order gives the same bits, and compare exactly.
 *
 * Without an adapter the suite skips, unless NUMKERN_REQUIRE names webgpu; run it with
 * `node test/support/run-tests.mjs test/frechet/webgpu.test.ts`, which installs lavapipe if needed.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import { NumkernError } from '../../src/core/errors.js';
import type { FrechetLayout, FrechetTopkArgs } from '../../src/frechet/ops.js';
import { createWebgpuBackend, webgpuBackend, type WebGpuBackendInstance } from '../../src/backends/webgpu/index.js';
import { frechetKernels } from '../../src/backends/webgpu/frechet/kernels.js';
import { keyScore, scoreKey, TILE_LABELS } from '../../src/backends/webgpu/frechet/layout.js';
import { MAX_TOPK, planTopk } from '../../src/backends/webgpu/frechet/plan.js';
import { openForFile, required, rng } from '../support/backends.js';

const u = 2 ** -24;
const gamma = (k: number) => (k * u) / (1 - k * u);

const initOptions = { allowSoftwareAdapter: true, threads: 0 };
const { main, initError, track } = await openForFile(() => webgpuBackend.init(initOptions));

async function open(options: Parameters<typeof createWebgpuBackend>[0]): Promise<WebGpuBackendInstance> {
  return track(await createWebgpuBackend(options).init(initOptions));
}

function topkKernel(b: WebGpuBackendInstance): KernelSpec<'frechetTopk'> {
  return frechetKernels(b.runtime).find((k) => k.op === 'frechetTopk') as unknown as KernelSpec<'frechetTopk'>;
}

interface Problem {
  readonly W: Float32Array;
  readonly M: Float32Array;
  readonly bias: Float32Array | null;
  readonly B: number;
  readonly K: number;
  readonly N: number;
  readonly layout: FrechetLayout;
  readonly topk: number;
  readonly labelOffset: number;
}

function argsOf(p: Problem): FrechetTopkArgs {
  return { ...p, labels: new Int32Array(p.B * p.topk), scores: new Float32Array(p.B * p.topk) };
}

async function run(b: WebGpuBackendInstance, p: Problem, signal?: AbortSignal): Promise<FrechetTopkArgs> {
  const k = topkKernel(b);
  const args = argsOf(p);
  expect(k.accepts?.(args) ?? null).toBeNull();
  await k.run(args, { signal });
  return args;
}

/** M(k, j) in either layout. */
function mAt(p: Problem, k: number, j: number): number {
  return p.layout === 'kn' ? p.M[k * p.N + j]! : p.M[j * p.K + k]!;
}

/** Exact (f64) scores of row b and their error bounds e_j. */
function exactRow(p: Problem, b: number): { s: Float64Array; e: Float64Array } {
  const s = new Float64Array(p.N);
  const e = new Float64Array(p.N);
  for (let j = 0; j < p.N; j++) {
    const bj = p.bias ? p.bias[j]! : 0;
    let acc = bj;
    let mag = Math.abs(bj);
    for (let k = 0; k < p.K; k++) {
      const t = p.W[b * p.K + k]! * mAt(p, k, j);
      acc += t;
      mag += Math.abs(t);
    }
    s[j] = acc;
    e[j] = gamma(p.K + 1) * mag;
  }
  return { s, e };
}

/** Label ids 0 .. N−1 sorted by (score, id): the contract's order. */
function order(s: Float64Array): Int32Array {
  const idx = Int32Array.from({ length: s.length }, (_, j) => j);
  return idx.sort((a, c) => s[a]! - s[c]! || a - c);
}

/**
 * Checks the device's top-k against the f64 reference within the forward-error bound (header);
 * returns how many ranks had their label pinned down by the gaps (so a test can insist it checked some).
 */
function checkWithinBound(p: Problem, out: FrechetTopkArgs): number {
  let pinned = 0;
  for (let b = 0; b < p.B; b++) {
    const { s, e } = exactRow(p, b);
    const ref = order(s);
    const E = e.reduce((x, y) => Math.max(x, y), 0);
    const seen = new Set<number>();
    for (let r = 0; r < p.topk; r++) {
      const label = out.labels[b * p.topk + r]! - p.labelOffset;
      const score = out.scores[b * p.topk + r]!;
      expect(label >= 0 && label < p.N, `row ${b} rank ${r}: label ${label}`).toBe(true);
      expect(seen.has(label), `row ${b}: label ${label} twice`).toBe(false);
      seen.add(label);
      expect(Math.abs(score - s[label]!), `row ${b} rank ${r}: score of label ${label}`).toBeLessThanOrEqual(e[label]!);
      expect(Math.abs(score - s[ref[r]!]!), `row ${b} rank ${r}: rank score`).toBeLessThanOrEqual(E);
      if (r > 0) expect(score).toBeGreaterThanOrEqual(out.scores[b * p.topk + r - 1]!);
      const below = r === 0 ? Infinity : s[ref[r]!]! - s[ref[r - 1]!]!;
      const above = r + 1 >= p.N ? Infinity : s[ref[r + 1]!]! - s[ref[r]!]!;
      if (below > 2 * E && above > 2 * E) {
        expect(label, `row ${b} rank ${r}`).toBe(ref[r]);
        pinned++;
      }
    }
  }
  return pinned;
}

/** Exact comparison, for data on which f32 arithmetic is exact in every order. */
function checkExact(p: Problem, out: FrechetTopkArgs): void {
  for (let b = 0; b < p.B; b++) {
    const { s } = exactRow(p, b);
    const ref = order(s);
    const want = Array.from(ref.subarray(0, p.topk), (j) => j + p.labelOffset);
    expect(Array.from(out.labels.subarray(b * p.topk, (b + 1) * p.topk)), `row ${b} labels`).toEqual(want);
    expect(Array.from(out.scores.subarray(b * p.topk, (b + 1) * p.topk)), `row ${b} scores`).toEqual(Array.from(ref.subarray(0, p.topk), (j) => s[j]));
  }
}

/** Nonnegative weights in [0, 1), distances in [0, 10), bias in [−5, 5): the shapes Loki produces. */
function randomProblem(
  B: number, K: number, N: number, layout: FrechetLayout, topk: number, seed: number, withBias: boolean, labelOffset = 0,
): Problem {
  const r = rng(seed);
  const W = Float32Array.from({ length: B * K }, () => r());
  const M = Float32Array.from({ length: K * N }, () => 10 * r());
  const bias = withBias ? Float32Array.from({ length: N }, () => 10 * r() - 5) : null;
  return { W, M, bias, B, K, N, layout, topk, labelOffset };
}

/**
 * Many exact ties: weights multiples of 1/4 in [0, 2), distances integers 0 .. 3, bias integers: all
 * sums are small dyadic numbers, exact in f32. A run of labels shares one distance column, so equal
 * scores occur far apart (across tiles, spans and chunks), and the tie must still go to the smaller id.
 */
function tieProblem(
  B: number, K: number, N: number, layout: FrechetLayout, topk: number, seed: number, withBias: boolean, labelOffset = 0,
): Problem {
  const r = rng(seed);
  const W = Float32Array.from({ length: B * K }, () => Math.floor(8 * r()) / 4);
  const cols = Array.from({ length: 7 }, () => Float64Array.from({ length: K }, () => Math.floor(4 * r())));
  const M = new Float32Array(K * N);
  for (let j = 0; j < N; j++) {
    // Mostly one of 7 shared columns (ties), sometimes a fresh one.
    const col = r() < 0.8 ? cols[Math.floor(7 * r())]! : Float64Array.from({ length: K }, () => Math.floor(4 * r()));
    for (let k = 0; k < K; k++) M[layout === 'kn' ? k * N + j : j * K + k] = col[k]!;
  }
  const bias = withBias ? Float32Array.from({ length: N }, () => Math.floor(3 * r())) : null;
  return { W, M, bias, B, K, N, layout, topk, labelOffset };
}

const LAYOUTS: readonly FrechetLayout[] = ['kn', 'nk'];

describe('score keys', () => {
  it('order like the scores, with −0 as +0 and NaN after +∞, and decode back', () => {
    const xs = [-Infinity, -3.4e38, -1, -1e-45, 0, 1e-45, 1, 2.5, 3.4e38, Infinity];
    for (let i = 1; i < xs.length; i++) expect(scoreKey(xs[i]!)).toBeGreaterThan(scoreKey(xs[i - 1]!));
    expect(scoreKey(-0)).toBe(scoreKey(0));
    expect(scoreKey(NaN)).toBeGreaterThan(scoreKey(Infinity));
    for (const x of xs) expect(keyScore(scoreKey(x))).toBe(Math.fround(x));
    expect(keyScore(scoreKey(NaN))).toBeNaN();
  });
});

describe.skipIf(!main && !required().includes('webgpu'))('frechetTopk on webgpu', () => {
  const b = (): WebGpuBackendInstance => {
    if (!main) throw new Error(`NUMKERN_REQUIRE names webgpu, but it failed to start: ${initError}`);
    return main;
  };

  for (const layout of LAYOUTS) {
    it(`${layout}: top-1 and top-5 within the f32 bound, ragged tile edges, with and without bias`, async () => {
      // B, K, N off every tile multiple (64 rows, 16 k, 64 labels).
      for (const [topk, withBias, seed] of [[1, false, 1], [5, true, 2]] as const) {
        const p = randomProblem(70, 37, 301, layout, topk, seed, withBias, 11);
        const pinned = checkWithinBound(p, await run(b(), p));
        expect(pinned).toBeGreaterThan(p.B * topk * 0.9);
      }
    });

    it(`${layout}: exact ties go to the smaller label id, topk 1 and 7`, async () => {
      for (const [topk, withBias, seed] of [[1, false, 3], [7, true, 4]] as const) {
        const p = tieProblem(66, 19, 517, layout, topk, seed, withBias, 1000);
        checkExact(p, await run(b(), p));
      }
    });

    it(`${layout}: a single row, a single label per rank (topk = N), K = 1`, async () => {
      const p = tieProblem(1, 1, 6, layout, 6, 5, true);
      checkExact(p, await run(b(), p));
    });

    it(`${layout}: several tiles per span and many row blocks, exact ties across them`, async () => {
      const p = tieProblem(1100, 5, 2000, layout, 3, 15, true, 3);
      const plan = planTopk(b().runtime, p.B, p.K, p.N, p.topk);
      if (typeof plan === 'string') throw new Error(plan);
      // 18 row blocks share the workgroups, so each span walks several 64-label tiles.
      expect(plan.spanLen).toBeGreaterThan(TILE_LABELS);
      checkExact(p, await run(b(), p));
    });

    it(`${layout}: more labels (70,000) than one dispatch dimension holds, small K`, async () => {
      const p = randomProblem(5, 3, 70_000, layout, 4, 6, true);
      expect(checkWithinBound(p, await run(b(), p))).toBeGreaterThan(p.B * p.topk * 0.9);
      const t = tieProblem(3, 3, 70_000, layout, 3, 7, false, 5);
      checkExact(t, await run(b(), t));
    });
  }

  describe('chunked over several bindings (4 KiB binding cap)', () => {
    let small: WebGpuBackendInstance | undefined;
    const chunked = async () => (small ??= await open({ maxBindingBytes: 4096 }));

    for (const layout of LAYOUTS) {
      it(`${layout}: row and label chunks merge to the unchunked answer`, async () => {
        const s = await chunked();
        const t = tieProblem(40, 20, 300, layout, 3, 8, true, 7);
        // The cap forces several label chunks (51 labels of K = 20) and several row chunks.
        const plan = planTopk(s.runtime, t.B, t.K, t.N, t.topk);
        if (typeof plan === 'string') throw new Error(plan);
        expect(Math.ceil(t.N / plan.labelsPerChunk)).toBeGreaterThanOrEqual(5);
        expect(Math.ceil(t.B / plan.rowsPerChunk)).toBeGreaterThanOrEqual(3);
        checkExact(t, await run(s, t));
        const whole = await run(b(), t);
        const parts = await run(s, t);
        expect(parts.labels).toEqual(whole.labels);
        expect(parts.scores).toEqual(whole.scores);

        const p = randomProblem(40, 20, 300, layout, 2, 9, false);
        expect(checkWithinBound(p, await run(s, p))).toBeGreaterThan(p.B * p.topk * 0.9);
      });
    }

    it('refuses what it cannot chunk, with the reason', async () => {
      const s = await chunked();
      const k = topkKernel(s);
      // One label's K = 2000 values (8 KB) exceed the 4 KiB binding.
      const wide = argsOf(randomProblem(2, 2000, 3, 'kn', 1, 10, false));
      expect(k.accepts?.(wide)).toMatch(/K = 2000.*binding/);
    });
  });

  it('accepts SharedArrayBuffer operands and gives the same bits', async () => {
    for (const layout of LAYOUTS) {
      const p = randomProblem(33, 24, 500, layout, 3, 11, true);
      const shared = (a: Float32Array) => {
        const c = new Float32Array(new SharedArrayBuffer(a.byteLength));
        c.set(a);
        return c;
      };
      const sp: Problem = { ...p, W: shared(p.W), M: shared(p.M), bias: shared(p.bias!) };
      const plain = await run(b(), p);
      const fromShared = await run(b(), sp);
      expect(fromShared.labels).toEqual(plain.labels);
      expect(fromShared.scores).toEqual(plain.scores);
    }
  });

  it('refuses f64 operands and topk beyond its lists, with the reason', () => {
    const k = topkKernel(b());
    const p = randomProblem(2, 3, 100, 'nk', 1, 12, true);
    const f64 = { ...argsOf(p), M: Float64Array.from(p.M), scores: new Float64Array(2) };
    expect(k.accepts?.(f64)).toMatch(/^M: .*f32 only/);
    expect(k.accepts?.({ ...argsOf(p), topk: MAX_TOPK + 1 })).toMatch(/topk/);
    expect(k.accepts?.({ ...argsOf(p), topk: MAX_TOPK })).toBeNull();
  });

  it('throws E_DTYPE naming the argument when run on f64 regardless', async () => {
    const k = topkKernel(b());
    const p = randomProblem(2, 3, 10, 'kn', 1, 13, false);
    const e = await Promise.resolve(k.run({ ...argsOf(p), W: Float64Array.from(p.W) }, {})).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(NumkernError);
    expect((e as NumkernError).code).toBe('E_DTYPE');
    expect((e as NumkernError).argument).toBe('W');
  });

  it('releases its buffers to the pool, after success and after an abort mid-run', async () => {
    const s = await open({ maxBindingBytes: 4096 });
    const p = tieProblem(20, 20, 300, 'nk', 2, 14, true);
    const first = await run(s, p);
    const after = s.runtime.pool.stats();
    // Every buffer the call leased is back in the pool, and an identical call creates none.
    expect(after.pooled).toBe(after.created);
    await run(s, p);
    expect(s.runtime.pool.stats().created).toBe(after.created);

    // `aborted` is read once in the guard, then before each submit: it flips before the third chunk.
    let reads = 0;
    const signal = { get aborted() { return ++reads > 3; }, reason: 'mid-run' } as unknown as AbortSignal;
    const k = topkKernel(s);
    const e = await Promise.resolve(k.run(argsOf(p), { signal })).then(() => null, (err: unknown) => err);
    expect((e as NumkernError).code).toBe('E_ABORTED');
    expect(reads).toBeGreaterThan(3);
    const stats = s.runtime.pool.stats();
    expect(stats.pooled).toBe(stats.created);
    expect(stats.created).toBe(after.created);
    // The device is still fine.
    const again = await run(s, p);
    expect(again.labels).toEqual(first.labels);
    expect(again.scores).toEqual(first.scores);
  });

  it('is what ctx.frechet.predict runs for f32 on webgpu; f64 falls back with the reason', async () => {
    const { createContext } = await import('../../src/index.js');
    const ctx = track(await createContext({ backends: ['js', 'webgpu'], allowSoftwareAdapter: true }));
    const p = tieProblem(9, 6, 400, 'kn', 4, 16, false);
    const D = { rows: p.K, cols: p.N, data: p.M };
    const observed = Int32Array.from({ length: p.K }, (_, k) => 50 * k);
    const metric = { kind: 'matrix' as const, D, squared: true, observed };
    const P = { rows: p.B, cols: p.K, data: p.W };
    const gpu = await ctx.frechet.predict(P, metric, { topk: 4, scores: true, backend: 'webgpu', strict: true });
    const cpu = await ctx.frechet.predict(P, metric, { topk: 4, scores: true, backend: 'js' });
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.labels).toEqual(cpu.labels);
    expect(gpu.scores).toEqual(cpu.scores);

    const P64 = { rows: p.B, cols: p.K, data: Float64Array.from(p.W) };
    const metric64 = { ...metric, D: { ...D, data: Float64Array.from(p.M) } };
    const r64 = await ctx.frechet.predict(P64, metric64, { topk: 4, backend: 'webgpu' });
    expect(r64.backend).not.toBe('webgpu');
    expect(r64.labels).toEqual(cpu.labels);
    expect(ctx.fallbacks().at(-1)?.reason).toMatch(/f32 only/);
  });
});
