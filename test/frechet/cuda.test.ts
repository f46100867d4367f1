/**
 * frechetTopk on the CUDA backend (src/backends/cuda/frechet.ts, native/cuda/frechet.cu through
 * bindings/frechet.cc). What runs everywhere the addon loads:
 * - the kernel list's glue, driven through the CPU frechetTopk (the device entry point takes its first
 *   eleven arguments), against the js oracle;
 * - the list refuses, with the reason, when cuBLAS cannot be opened or the addon lacks the entry points;
 * - the device entry point's argument checks read exactly as the CPU one's and come before the device
 *   check; without a device it then throws "CUDA: ...";
 * - through a context without a device: a call pinned to cuda falls back with the reason recorded.
 * The device suite (skipped without one; test/frechet/conformance.test.ts also covers every available
 * backend) compares with the oracle: on dyadic weights and small integers every score is exact in any
 * summation order (cuBLAS's included), so labels and scores must be the oracle's bit for bit, ties to
 * the smaller id; on random data each reported score is within 2·γ_{K+2}·(|bias| + Σ|W·M|) of its
 * label's exact score (Higham §3.1: any order, FMA or not) and the ranks are ordered.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import { loadNative, type NativeCudaKernels } from '../../src/backends/addon/load.js';
import { cudaBackend, type CudaHandle } from '../../src/backends/cuda/index.js';
import { frechetKernels, type CudaFrechetKernels } from '../../src/backends/cuda/frechet.js';
import { frechetKernels as jsFrechetKernels } from '../../src/backends/js/frechet.js';
import { FRECHET_LAYOUT_CODES, type FrechetTopkArgs } from '../../src/frechet/ops.js';
import { createContext } from '../../src/index.js';
import { eps, openForFile, rng } from '../support/backends.js';
import { thrown } from '../support/errors.js';

const { addon } = loadNative();
const { main: device, initError } = await openForFile(() => cudaBackend.init({ allowSoftwareAdapter: false, threads: 0 }));
const gamma = (n: number, u: number) => (n * u) / (1 - n * u);
type Dt = 'f32' | 'f64';
const arr = (dtype: Dt, n: number) => (dtype === 'f32' ? new Float32Array(n) : new Float64Array(n));

interface Case { B: number; K: number; N: number; layout: 'kn' | 'nk'; bias: boolean; labelOffset: number; topk: number; exact: boolean }

const CASES: Case[] = [
  { B: 3, K: 4, N: 1, layout: 'kn', bias: false, labelOffset: 0, topk: 1, exact: true },
  { B: 40, K: 24, N: 3000, layout: 'kn', bias: false, labelOffset: 0, topk: 6, exact: true },
  { B: 40, K: 12, N: 2500, layout: 'nk', bias: true, labelOffset: 17, topk: 6, exact: true },
  { B: 4, K: 6, N: 37, layout: 'kn', bias: true, labelOffset: 9, topk: 37, exact: true },
  { B: 1100, K: 3, N: 500, layout: 'nk', bias: false, labelOffset: 0, topk: 2, exact: true },
  { B: 33, K: 50, N: 1500, layout: 'kn', bias: false, labelOffset: 0, topk: 5, exact: false },
  { B: 29, K: 16, N: 2049, layout: 'nk', bias: true, labelOffset: 1_000_000, topk: 70, exact: false },
  { B: 0, K: 5, N: 100, layout: 'kn', bias: false, labelOffset: 0, topk: 2, exact: false },
];

function build(c: Case, dtype: Dt, seed: number): FrechetTopkArgs {
  const r = rng(seed);
  const W = arr(dtype, c.B * c.K);
  const M = arr(dtype, c.K * c.N);
  const bias = c.bias ? arr(dtype, c.N) : null;
  const signed = c.layout === 'nk';
  for (let i = 0; i < W.length; i++) W[i] = c.exact ? (Math.floor(r() * 5) - (signed ? 2 : 0)) / 4 : signed ? 2 * r() - 1 : r();
  for (let i = 0; i < M.length; i++) M[i] = c.exact ? Math.floor(r() * 5) - (signed ? 2 : 0) : signed ? 2 * r() - 1 : 10 * r() * r();
  if (bias) for (let i = 0; i < bias.length; i++) bias[i] = c.exact ? Math.floor(r() * 6) : 3 * r();
  return { W, B: c.B, K: c.K, M, N: c.N, layout: c.layout, bias, labelOffset: c.labelOffset, topk: c.topk, labels: new Int32Array(c.B * c.topk), scores: arr(dtype, c.B * c.topk) };
}

const fresh = (a: FrechetTopkArgs): FrechetTopkArgs => ({ ...a, labels: new Int32Array(a.labels.length), scores: a.scores.slice() });
const jsTopk = jsFrechetKernels().find((k) => k.op === 'frechetTopk') as unknown as KernelSpec<'frechetTopk'>;

/** Runs `k` and the oracle on the case; checks as the header says. */
async function compare(k: KernelSpec<'frechetTopk'>, c: Case, dtype: Dt): Promise<void> {
  const got = build(c, dtype, 11 + c.N + c.K);
  const want = fresh(got);
  await jsTopk.run(want, {});
  await k.run(got, {});
  if (c.exact) {
    expect(Array.from(got.labels)).toEqual(Array.from(want.labels));
    expect(Array.from(got.scores)).toEqual(Array.from(want.scores));
    return;
  }
  const u = eps(dtype);
  for (let b = 0; b < c.B; b++) {
    for (let r = 0; r < c.topk; r++) {
      const j = got.labels[b * c.topk + r]! - c.labelOffset;
      expect(j >= 0 && j < c.N).toBe(true);
      let s = got.bias ? got.bias[j]! : 0;
      let mag = Math.abs(s);
      for (let q = 0; q < c.K; q++) {
        const t = got.W[b * c.K + q]! * (c.layout === 'kn' ? got.M[q * c.N + j]! : got.M[j * c.K + q]!);
        s += t;
        mag += Math.abs(t);
      }
      expect(Math.abs(got.scores[b * c.topk + r]! - s)).toBeLessThanOrEqual(2 * gamma(c.K + 2, u) * mag + 1e-300);
      if (r > 0) expect(got.scores[b * c.topk + r]!).toBeGreaterThanOrEqual(got.scores[b * c.topk + r - 1]!);
      // The best score is the oracle's within both roundings.
      if (r === 0) expect(Math.abs(got.scores[b * c.topk]! - want.scores[b * c.topk]!)).toBeLessThanOrEqual(4 * gamma(c.K + 2, u) * mag + 1e-300);
    }
  }
}

function topkOf(handle: CudaHandle): KernelSpec<'frechetTopk'> {
  const ks = frechetKernels(handle);
  expect(ks.map((k) => `${k.op}:${k.dtypes.join(',')}`)).toEqual(['frechetTopk:f32,f64']);
  return ks[0] as unknown as KernelSpec<'frechetTopk'>;
}

type Loose = (...a: unknown[]) => unknown;

/** The device entry points' contract served by the CPU frechetTopk, with cuBLAS reported as `cublas`. */
function viaCpu(cublas: string | null = null): CudaHandle {
  const cpu = addon as unknown as { frechetTopk: Loose };
  const fr = {
    frechetTopk: (...a: unknown[]) => cpu.frechetTopk(...a.slice(0, 11)),
    frechetTopkAsync: (...a: unknown[]) => Promise.resolve(cpu.frechetTopk(...a.slice(0, 11))),
    frechetCublas: () => cublas,
  } as unknown as CudaFrechetKernels;
  return { cuda: fr as unknown as NativeCudaKernels, guarded: (call) => call() };
}

describe.skipIf(!addon)('frechet on cuda: the glue and the entry point without a device', () => {
  it.each(['f32', 'f64'] as const)('%s: the kernel list passes the CPU contract through', async (dtype) => {
    const k = topkOf(viaCpu());
    for (const c of CASES) await compare(k, c, dtype);
  });

  it('is not listed without cuBLAS, nor from an addon without the entry points, and says why', () => {
    expect(() => frechetKernels(viaCpu('cannot open libcublas.so.13 (CUDA 13 cuBLAS): no such file'))).toThrow(/^frechetTopk on cuda needs cuBLAS: cannot open libcublas\.so\.13/);
    expect(() => frechetKernels({ cuda: {} as NativeCudaKernels, guarded: (c) => c() })).toThrow(/lacks the CUDA frechet entry points frechetTopk, frechetTopkAsync, frechetCublas/);
    const real = (addon as unknown as { cuda: { frechetCublas(): string | null } }).cuda.frechetCublas();
    expect(real === null || /cuBLAS|CUDA/.test(real)).toBe(true);
  });

  it('cuda.frechetTopk checks its arguments exactly as the CPU one, before the device', async () => {
    const cpu = addon as unknown as { frechetTopk: Loose; cuda: { frechetTopk: Loose; frechetTopkAsync(...a: unknown[]): Promise<void> } };
    const good = (): unknown[] => {
      const a = build(CASES[2]!, 'f64', 3);
      return [a.W, a.B, a.K, a.M, a.N, FRECHET_LAYOUT_CODES[a.layout], a.bias, a.labelOffset, a.topk, a.labels, a.scores];
    };
    const corrupt: [number, unknown][] = [
      [0, new Float64Array(3)], [3, new Float32Array(12 * 2500)], [4, 0], [5, 2], [6, new Float64Array(3)],
      [7, 2 ** 31], [8, 2501], [9, new Int32Array(1)], [10, new Float64Array(1)], [1, -1],
    ];
    for (const [at, value] of corrupt) {
      const bad = good();
      bad[at] = value;
      const want = thrown(() => cpu.frechetTopk(...bad));
      expect(want, `argument ${at}`).not.toBeNull();
      expect(thrown(() => cpu.cuda.frechetTopk(...bad))).toBe(want);
      await expect(cpu.cuda.frechetTopkAsync(...bad)).rejects.toThrow(want!.replace(/^\w+: /, ''));
    }
    if (addon!.info().cuda.devices === 0) {
      expect(() => cpu.cuda.frechetTopk(...good())).toThrow(/^CUDA: (no CUDA device|built without CUDA)/);
      await expect(cpu.cuda.frechetTopkAsync(...good())).rejects.toThrow(/^CUDA: (no CUDA device|built without CUDA)/);
    }
  });
});

describe.runIf(!device)('frechet on cuda: a context without a device', () => {
  it('falls back from a call pinned to cuda with the reason, or refuses under strict', async () => {
    const ctx = await createContext({ backends: ['js', 'cuda'] });
    try {
      const P = { rows: 2, cols: 2, data: Float64Array.of(0.5, 0.5, 1, 0) };
      const metric = { kind: 'matrix' as const, D: { rows: 2, cols: 3, data: Float64Array.of(0, 1, 4, 1, 0, 1) }, observed: Int32Array.of(0, 1) };
      const r = await ctx.frechet.predict(P, metric, { backend: 'cuda' });
      expect(r.backend).toBe('js');
      const f = ctx.fallbacks().at(-1)!;
      expect(f).toMatchObject({ op: 'frechetTopk', requested: 'cuda' });
      expect(f.reason).toContain(initError);
      await expect(ctx.frechet.predict(P, metric, { backend: 'cuda', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    } finally {
      await ctx.dispose();
    }
  });
});

describe.skipIf(!device)('frechetTopk on a CUDA device', () => {
  it.each(['f32', 'f64'] as const)('%s: the oracle\'s labels and scores (exact cases bit for bit)', async (dtype) => {
    const k = topkOf(device!.handle);
    for (const c of CASES) await compare(k, c, dtype);
    // Long rows over several score blocks of 1024-row blocks.
    await compare(k, { B: 1500, K: 40, N: 70_000, layout: 'kn', bias: false, labelOffset: 0, topk: 3, exact: true }, dtype);
  });
});
