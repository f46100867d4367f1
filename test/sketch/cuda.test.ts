/**
 * The sketch family on the CUDA backend (src/backends/cuda/sketch.ts, native/cuda/sketch.cu through
 * bindings/sketch.cc). What runs everywhere the addon loads:
 * - the kernel list's glue, driven through the CPU sketchApply (the device entry point takes the CPU
 *   one's arguments less `threads`), against the js oracle;
 * - the device entry point's argument checks, which must read exactly as the CPU one's and come before
 *   the device check; without a device it then throws "CUDA: ...";
 * - through a context without a device: a call pinned to cuda falls back with the reason recorded, or
 *   throws E_BACKEND_UNAVAILABLE under strict.
 * The device suite (skipped without one) compares the device kernel with the js oracle for every kind,
 * f32 and f64, dense and CSR, with b, at a row offset, across several chunks and SRHT blocks.
 *
 * Tolerance: the device generates S₀ with the CPU's element logic and sums each entry in the oracle's
 * order with the same roundings (docs/sketch.md §3; the SRHT with the oracle's butterflies), so the
 * integer-derived kinds must match the oracle bit for bit. Gaussian entries come from the device's libm
 * (a few ulps from V8's), so an entry may differ by 8u·|term| per term plus the rounding of two sums of
 * k terms, 2γ_k(u)·Σ|terms| (u = 2⁻⁵³; Higham, Accuracy and Stability §4.2), with Σ|terms| ≤ 6.8·scale·Σ_i|a_ic|.
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import type { OpArgs } from '../../src/core/ops.js';
import { loadNative, type NativeCudaKernels } from '../../src/backends/addon/load.js';
import { cudaBackend, type CudaHandle } from '../../src/backends/cuda/index.js';
import { sketchKernels, type CudaSketchKernels } from '../../src/backends/cuda/sketch.js';
import { sketchKernels as jsSketchKernels } from '../../src/backends/js/sketch.js';
import { createContext, type SketchKind } from '../../src/index.js';
import { BIT_EXACT_KINDS, SKETCH_KIND_CODES, type SketchOperand } from '../../src/sketch/ops.js';
import { resolveSketch } from '../../src/sketch/spec.js';
import { openForFile, randomArray } from '../support/backends.js';
import { thrown } from '../support/errors.js';
import { identity, randomDense, toCsr } from './problems.js';

const u = 2 ** -53;
const gamma = (k: number) => (k * u) / (1 - k * u);
const KINDS: SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];
const { addon } = loadNative();
const { main: device, initError } = await openForFile(() => cudaBackend.init({ allowSoftwareAdapter: false, threads: 0 }));

type Opts = { kind: SketchKind; m: number; seed: number; nnzPerCol?: number; isometric?: boolean };

function args(A: SketchOperand, cols: number, b: Float32Array | Float64Array | null, o: Opts, rowOffset: number, totalRows: number): OpArgs<'sketchApply'> {
  const { S } = resolveSketch(o, totalRows);
  return { S, A, rowOffset, b, SA: new Float64Array(S.m * cols), Sb: b ? new Float64Array(S.m) : null, allowF32: false };
}

const jsApply = jsSketchKernels().find((k) => k.op === 'sketchApply') as unknown as KernelSpec<'sketchApply'>;

function applyOf(handle: CudaHandle): KernelSpec<'sketchApply'> {
  const ks = sketchKernels(handle);
  expect(ks.map((k) => `${k.op}:${k.dtypes.join(',')}`)).toEqual(['sketchApply:f32,f64']);
  return ks[0] as unknown as KernelSpec<'sketchApply'>;
}

/** The device entry point's contract served by the CPU sketchApply (threads = 1 inserted before limit). */
function viaCpu(): CudaHandle {
  const cpu = addon as unknown as { sketchApply(...a: unknown[]): number };
  const sk: CudaSketchKernels = {
    sketchApply: (...a: unknown[]) => cpu.sketchApply(...a.slice(0, 16), 1, a[16]),
    sketchApplyAsync: (...a: Parameters<CudaSketchKernels['sketchApply']>) => Promise.resolve(sk.sketchApply(...a)),
  } as CudaSketchKernels;
  return { cuda: sk as unknown as NativeCudaKernels, guarded: (call) => call() };
}

/** Runs `k` and the oracle on the same arguments; checks SA and Sb as the header says. */
async function compare(k: KernelSpec<'sketchApply'>, A: SketchOperand, dense: Float64Array, rows: number, cols: number,
  b: Float64Array | Float32Array | null, o: Opts, rowOffset = 0, totalRows = rows): Promise<void> {
  const want = args(A, cols, b, o, rowOffset, totalRows);
  await jsApply.run(want, {});
  const got = args(A, cols, b, o, rowOffset, totalRows);
  await k.run(got, {});
  if (BIT_EXACT_KINDS.includes(o.kind)) {
    for (let q = 0; q < want.SA.length; q++) if (got.SA[q] !== want.SA[q]) expect.fail(`${o.kind} SA[${q}]: ${got.SA[q]} vs ${want.SA[q]}`);
    for (let q = 0; q < (want.Sb?.length ?? 0); q++) expect(got.Sb![q]).toBe(want.Sb![q]);
    return;
  }
  const scale = o.isometric === false ? 1 : 1 / Math.sqrt(o.m);
  const tol = (8 * u + 2 * gamma(rows + 1)) * 6.8 * scale;
  for (let j = 0; j < cols; j++) {
    let mag = 0;
    for (let i = 0; i < rows; i++) mag += Math.abs(dense[i * cols + j]!);
    for (let q = 0; q < o.m; q++) expect(Math.abs(got.SA[q * cols + j]! - want.SA[q * cols + j]!)).toBeLessThanOrEqual(tol * mag + 1e-300);
  }
  if (b) {
    const mag = Array.from(b).reduce((s, v) => s + Math.abs(v), 0);
    for (let q = 0; q < o.m; q++) expect(Math.abs(got.Sb![q]! - want.Sb![q]!)).toBeLessThanOrEqual(tol * mag + 1e-300);
  }
}

/** The CPU sketchApply's arguments for a small valid call, as an array to corrupt one at a time. */
function cpuCall(kind: SketchKind): unknown[] {
  const A = randomDense(40, 3, 5);
  const { S } = resolveSketch({ kind, m: 8, seed: 9 }, 40);
  return [SKETCH_KIND_CODES[kind], S.m, S.nnzPerCol, S.key0, S.key1, S.scale, S.srht?.N ?? 0, S.srht?.B ?? 0, S.srht?.sample ?? null,
    A, 0, randomArray(40, 6), new Float64Array(S.m * 3), new Float64Array(S.m), false, true, 1, 0];
}

describe.skipIf(!addon)('sketch on cuda: the glue and the entry point without a device', () => {
  it.each(KINDS)('%s: the kernel list passes the CPU contract through (dense, CSR, f32, b, row offset)', async (kind) => {
    const k = applyOf(viaCpu());
    const rows = 500;
    const cols = 7;
    const A = randomDense(rows, cols, 31);
    const bv = randomArray(rows, 32);
    const o: Opts = { kind, m: 33, seed: 0xabcdef, ...(kind === 'sparse-sign' ? { nnzPerCol: 4 } : {}) };
    await compare(k, A, A.data, rows, cols, bv, o, 300, 2000);
    await compare(k, toCsr(A), A.data, rows, cols, bv, o, 300, 2000);
    const A32 = { rows, cols, data: Float32Array.from(A.data) };
    await compare(k, A32, Float64Array.from(A32.data), rows, cols, null, o);
  });

  it('reports the screened bad element of a dense A', async () => {
    const k = applyOf(viaCpu());
    const A = randomDense(60, 4, 3);
    A.data[37] = Number.NaN;
    const a = { ...args(A, 4, null, { kind: 'countsketch', m: 9, seed: 1 }, 0, 60), screen: 1e150 };
    expect(await k.run(a, {})).toEqual({ screened: true, badIndex: 37 });
  });

  it('lists nothing from an addon without the entry points (a stale build), saying which', () => {
    expect(() => sketchKernels({ cuda: {} as NativeCudaKernels, guarded: (c) => c() })).toThrow(/lacks the CUDA sketch entry points sketchApply, sketchApplyAsync/);
  });

  it('cuda.sketchApply checks its arguments exactly as the CPU one, before the device', async () => {
    const cpu = addon as unknown as { sketchApply(...a: unknown[]): number; cuda: { sketchApply(...a: unknown[]): number; sketchApplyAsync(...a: unknown[]): Promise<number> } };
    const toCuda = (a: unknown[]) => [...a.slice(0, 16), a[17]];
    const corrupt: [number, unknown][] = [
      [12, new Float64Array(5)], // SA length
      [13, new Float32Array(8)], // Sb dtype
      [1, 0], // m
      [11, new Float32Array(40)], // b's dtype differs from A's
      [10, -1], // rowOffset
      [9, { rows: 40, cols: 3, data: new Float64Array(7) }], // A too short
      [17, -1], // limit
    ];
    for (const kind of KINDS) {
      for (const [at, value] of corrupt) {
        const bad = cpuCall(kind);
        bad[at] = value;
        const want = thrown(() => cpu.sketchApply(...bad));
        expect(want, `${kind}: argument ${at}`).not.toBeNull();
        expect(thrown(() => cpu.cuda.sketchApply(...toCuda(bad)))).toBe(want);
        await expect(cpu.cuda.sketchApplyAsync(...toCuda(bad))).rejects.toThrow(want!.replace(/^\w+: /, ''));
      }
    }
    const srht = cpuCall('srht');
    srht[8] = Uint32Array.of(0, 1, 2, 3, 4, 5, 6, 1 << 20); // a sample outside [0, N)
    expect(thrown(() => cpu.cuda.sketchApply(...toCuda(srht)))).toBe(thrown(() => cpu.sketchApply(...srht)));
    if (addon!.info().cuda.devices === 0) {
      for (const kind of KINDS) {
        expect(() => cpu.cuda.sketchApply(...toCuda(cpuCall(kind)))).toThrow(/^CUDA: (no CUDA device|built without CUDA)/);
        await expect(cpu.cuda.sketchApplyAsync(...toCuda(cpuCall(kind)))).rejects.toThrow(/^CUDA: (no CUDA device|built without CUDA)/);
      }
    }
  });
});

describe.runIf(!device)('sketch on cuda: a context without a device', () => {
  it('falls back from a call pinned to cuda with the reason, or refuses under strict', async () => {
    const ctx = await createContext({ backends: ['js', 'cuda'] });
    try {
      const A = randomDense(200, 5, 2);
      const r = await ctx.sketch.apply(A, { kind: 'srht', m: 20, seed: 3, backend: 'cuda' });
      expect(r.backend).toBe('js');
      const f = ctx.fallbacks().at(-1)!;
      expect(f).toMatchObject({ op: 'sketchApply', requested: 'cuda' });
      expect(f.reason).toContain(initError);
      expect(ctx.status().find((s) => s.name === 'cuda')).toMatchObject({ available: false, reason: initError });
      await expect(ctx.sketch.apply(A, { kind: 'srht', m: 20, seed: 3, backend: 'cuda', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    } finally {
      await ctx.dispose();
    }
  });
});

describe.skipIf(!device)('sketchApply on a CUDA device', () => {
  const k = () => applyOf(device!.handle);

  it.each(KINDS)('%s: the oracle\'s S for one seed (the sketch of the identity, unscaled)', async (kind) => {
    const n = 300;
    const I = identity(n);
    await compare(k(), I, I.data, n, n, null, { kind, m: 37, seed: 0x1234abcd, isometric: false });
    await compare(k(), toCsr(I), I.data, n, n, null, { kind, m: 37, seed: 0x1234abcd, isometric: false });
  });

  it.each(KINDS)('%s: dense and CSR, f64 and f32, with b, at a row offset', async (kind) => {
    const rows = 3000;
    const cols = 40;
    const A = randomDense(rows, cols, 41);
    const bv = randomArray(rows, 42);
    const o: Opts = { kind, m: 120, seed: 99 };
    await compare(k(), A, A.data, rows, cols, bv, o, 5000, 70000);
    await compare(k(), toCsr(A), A.data, rows, cols, bv, o, 5000, 70000);
    const A32 = { rows, cols, data: Float32Array.from(A.data) };
    await compare(k(), A32, Float64Array.from(A32.data), rows, cols, Float32Array.from(bv), o);
  });

  it('srht across several permutation blocks, and sparse-sign with s = m', async () => {
    const rows = 140000;
    const cols = 3;
    const A = randomDense(rows, cols, 43);
    await compare(k(), A, A.data, rows, cols, randomArray(rows, 44), { kind: 'srht', m: 64, seed: 5 });
    await compare(k(), A, A.data, rows, cols, null, { kind: 'sparse-sign', m: 6, seed: 5, nnzPerCol: 6 });
  });

  it('screens a dense A and reports the first bad element', async () => {
    const A = randomDense(5000, 8, 3);
    A.data[12345] = Number.POSITIVE_INFINITY;
    A.data[30001] = Number.NaN;
    for (const kind of KINDS) {
      const a = { ...args(A, 8, null, { kind, m: 16, seed: 1 }, 0, 5000), screen: 1e150 };
      expect(await k().run(a, {})).toEqual({ screened: true, badIndex: 12345 });
    }
  });

  it('through a context: apply and lstsq pinned to cuda, the QR on a CPU backend', async () => {
    const ctx = await createContext();
    try {
      const A = randomDense(20000, 20, 8);
      const bv = randomArray(20000, 9);
      const r = await ctx.sketch.apply(A, { kind: 'sparse-sign', m: 200, seed: 4, b: bv, backend: 'cuda', strict: true });
      expect(r.backend).toBe('cuda');
      const fit = await ctx.sketch.lstsq(A, bv, { method: 'sketch-and-precondition', sketch: 'srht', m: 100, backend: 'cuda' });
      expect(fit.backends.apply).toBe('cuda');
      const ref = await ctx.sketch.lstsq(A, bv, { method: 'qr', backend: 'js' });
      expect(Math.abs(fit.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
    } finally {
      await ctx.dispose();
    }
  });
});
