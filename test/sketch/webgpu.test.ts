/**
 * The sketch kernels on the WebGPU backend on their own (src/backends/webgpu/sketch/) against the js
 * oracle (src/backends/js/sketch*): the same S bit for bit (integer-derived kinds) for one seed, SA within
 * the f32 summation bound, chunking under a small binding limit (rows of A, rows of SA, SRHT panels),
 * more than 65,535 workgroups in one dispatch, SharedArrayBuffer inputs, CSR operands, buffer release,
 * and the refusals that send the QR to a CPU backend. test/sketch/conformance.test.ts holds the generic
 * conformance of every backend. Without an adapter the suite skips (unless NUMKERN_REQUIRE names webgpu).
 *
 * Tolerance (u = 2⁻²⁴; the oracle's f64 error is negligible): an SA entry adds k terms S₀[k, i]·a_i in f32,
 * each product rounded once, so it is within γ_{k+1}(u)·Σ_i |S₀[k, i]·a_i| of the exact sum (Higham,
 * Accuracy and Stability §4.2), k = the rows of the block (for the SRHT, log₂B butterfly levels and the
 * n/B blocks, whose sums the host adds in f64). Gaussian entries are the oracle's to a few ulps (the f32
 * Box–Muller, exact range reduction), which adds 8u·|term|. Σ_i |S₀[k, i]·a_i| is bounded by cap·Σ_i |a_i|,
 * cap = max|S₀|·scale (6.8 for the Gaussian, whose |N(0,1)| from a 32-bit uniform stays below √(2·ln 2³³)).
 */
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../../src/core/backend.js';
import type { OpArgs } from '../../src/core/ops.js';
import { sketchKernels as jsSketchKernels } from '../../src/backends/js/sketch.js';
import { createWebgpuBackend, webgpuBackend, type WebGpuBackendInstance } from '../../src/backends/webgpu/index.js';
import { sketchKernels } from '../../src/backends/webgpu/sketch/kernels.js';
import { bucketLists } from '../../src/backends/webgpu/sketch/apply.js';
import { resolveSketch } from '../../src/sketch/spec.js';
import { createContext, type SketchKind } from '../../src/index.js';
import type { SketchOperand } from '../../src/sketch/ops.js';
import { openForFile, randomArray } from '../support/backends.js';
import { identity, randomDense, toCsr } from './problems.js';

const u = 2 ** -24;
const gamma = (k: number) => (k * u) / (1 - k * u);
const initOptions = { allowSoftwareAdapter: true, threads: 0 };
const { main, track } = await openForFile(() => webgpuBackend.init(initOptions));
const KINDS: SketchKind[] = ['gaussian', 'rademacher', 'srht', 'countsketch', 'sparse-sign'];
const BIT_EXACT: SketchKind[] = ['rademacher', 'srht', 'countsketch', 'sparse-sign'];

async function open(maxBindingBytes: number): Promise<WebGpuBackendInstance> {
  return track(await createWebgpuBackend({ maxBindingBytes }).init(initOptions));
}

function gpuApply(b: WebGpuBackendInstance): KernelSpec<'sketchApply'> {
  return sketchKernels(b.runtime).find((k) => k.op === 'sketchApply') as unknown as KernelSpec<'sketchApply'>;
}

type Opts = { kind: SketchKind; m: number; seed: number; nnzPerCol?: number; isometric?: boolean };

function args(A: SketchOperand, rows: number, cols: number, b: Float32Array | Float64Array | null, o: Opts, rowOffset = 0, totalRows = rows): OpArgs<'sketchApply'> {
  const { S } = resolveSketch(o, totalRows);
  // allowF32: these tests measure the f32 kernel itself on f32 and f64 data (a preconditioner's call).
  return { S, A, rowOffset, b, SA: new Float64Array(S.m * cols), Sb: b ? new Float64Array(S.m) : null, allowF32: true };
}

async function both(backend: WebGpuBackendInstance, make: () => OpArgs<'sketchApply'>) {
  const js = jsSketchKernels().find((k) => k.op === 'sketchApply') as unknown as KernelSpec<'sketchApply'>;
  const want = make();
  await js.run(want, {});
  const got = make();
  const k = gpuApply(backend);
  expect(k.accepts!(got)).toBeNull();
  await k.run(got, {});
  return { want, got };
}

/** Σ_i |a_ic| (and Σ|b_i|) per column, for every output row: each entry sums at most these terms, each times |S₀| ≤ cap. */
function magnitude(A: Float64Array, rows: number, cols: number, b: Float64Array | null, m: number): { SA: Float64Array; Sb: number } {
  const SA = new Float64Array(m * cols);
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += Math.abs(A[i * cols + j]!);
    for (let k = 0; k < m; k++) SA[k * cols + j] = s;
  }
  return { SA, Sb: b ? b.reduce((acc, v) => acc + Math.abs(v), 0) : 0 };
}

function scaleOf(o: Opts): number {
  if (o.isometric === false) return 1;
  return o.kind === 'countsketch' ? 1 : o.kind === 'sparse-sign' ? 1 / Math.sqrt(o.nnzPerCol ?? Math.min(8, o.m)) : 1 / Math.sqrt(o.m);
}

async function checkClose(backend: WebGpuBackendInstance, A: SketchOperand, dense: Float64Array, rows: number, cols: number, b: Float64Array | null, o: Opts, rowOffset = 0, totalRows = rows) {
  const { want, got } = await both(backend, () => args(A, rows, cols, b, o, rowOffset, totalRows));
  const mag = magnitude(dense, rows, cols, b, o.m);
  const S = want.S;
  const terms = S.kind === 'srht' ? Math.log2(S.srht!.B) + Math.ceil(rows / S.srht!.B) + 1 : rows + 1;
  const cap = (o.kind === 'gaussian' ? 6.8 : 1) * scaleOf(o);
  const extra = o.kind === 'gaussian' ? 8 * u : 0;
  let worst = 0;
  for (let q = 0; q < want.SA.length; q++) {
    const bound = (gamma(terms) + extra) * cap * mag.SA[q]! + 1e-30;
    const err = Math.abs(got.SA[q]! - want.SA[q]!);
    worst = Math.max(worst, err / bound);
    if (!(err <= bound)) expect.fail(`${o.kind} SA[${q}]: ${got.SA[q]} vs ${want.SA[q]} (bound ${bound})`);
  }
  if (b) {
    for (let k = 0; k < S.m; k++) {
      const bound = (gamma(terms) + extra) * cap * mag.Sb + 1e-30;
      expect(Math.abs(got.Sb![k]! - want.Sb![k]!)).toBeLessThanOrEqual(bound);
    }
  }
  return worst;
}

function shared<T extends Float64Array | Float32Array>(a: T): T {
  const C = a.constructor as new (buf: SharedArrayBuffer) => T;
  const out = new C(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

describe.skipIf(!main)('sketchApply on webgpu', () => {
  const b = () => main!;

  it.each(KINDS)('%s: the same S as the oracle for one seed (the sketch of the identity, unscaled)', async (kind) => {
    const n = 300;
    const I = identity(n);
    const o: Opts = { kind, m: 37, seed: 0x1234abcd, isometric: false, ...(kind === 'sparse-sign' ? { nnzPerCol: 5 } : {}) };
    const { want, got } = await both(b(), () => args(I, n, n, null, o));
    if (BIT_EXACT.includes(kind)) {
      expect(Array.from(got.SA)).toEqual(Array.from(want.SA));
    } else {
      let worst = 0;
      for (let q = 0; q < want.SA.length; q++) {
        const e = Math.abs(got.SA[q]! - want.SA[q]!) / Math.abs(want.SA[q]!);
        worst = Math.max(worst, e / u);
      }
      // Box–Muller in f32 with exact integer range reduction: a few ulps (observed ≤ 4).
      expect(worst).toBeLessThanOrEqual(16);
    }
  });

  it.each(KINDS)('%s: dense and CSR data with b, at a row offset, within the f32 summation bound', async (kind) => {
    const rows = 700;
    const cols = 9;
    const A = randomDense(rows, cols, 21);
    const bv = randomArray(rows, 22);
    const o: Opts = { kind, m: 45, seed: 77 };
    await checkClose(b(), A, A.data, rows, cols, bv, o, 1000, 5000);
    await checkClose(b(), toCsr(A), A.data, rows, cols, bv, o, 1000, 5000);
    const A32 = { rows, cols, data: Float32Array.from(A.data) };
    await checkClose(b(), A32, Float64Array.from(A32.data), rows, cols, null, o);
  });

  it('the bucket lists are a stable counting sort', () => {
    const cols = Uint32Array.from([2, 0x80000001, 0, 0x80000002, 1, 0]);
    const { ptr, entries } = bucketLists(cols, 3, 2, 3);
    expect(Array.from(ptr)).toEqual([0, 2, 4, 6]);
    expect(Array.from(entries)).toEqual([1, 2, 0x80000000, 2, 0, 0x80000001]);
  });

  it.each(KINDS)('%s: chunked under a small binding limit (rows of A, rows of SA, SRHT panels) gives the unchunked bits', async (kind) => {
    const small = await open(kind === 'srht' ? 4096 * 4 * 3 : 4096);
    const rows = 2100;
    const cols = 13;
    const A = randomDense(rows, cols, 5);
    const bv = randomArray(rows, 6);
    // m·cols·4 > 4096: SA comes in k-ranges; rows·(cols+1)·4 ≫ 4096: A in row chunks; the SRHT block of 4096 rows in panels of 3 columns.
    const o: Opts = { kind, m: 130, seed: 3, ...(kind === 'sparse-sign' ? { nnzPerCol: 3 } : {}) };
    const big = gpuApply(b());
    const x = args(A, rows, cols, bv, o);
    await big.run(x, {});
    const y = args(A, rows, cols, bv, o);
    expect(gpuApply(small).accepts!(y)).toBeNull();
    await gpuApply(small).run(y, {});
    // Row chunks carry each entry's sum in the device buffer (the same additions in the same order), and
    // SRHT panels change nothing in a column's arithmetic: the same bits either way.
    expect(Array.from(y.SA)).toEqual(Array.from(x.SA));
    expect(Array.from(y.Sb!)).toEqual(Array.from(x.Sb!));
    await checkClose(small, A, A.data, rows, cols, bv, o);
  });

  it('more than 65,535 workgroups in one dispatch (folded grid) and a large row count', async () => {
    // Rademacher with m = 600 000 rows of S over 3 columns: ⌈600000/8⌉ = 75 000 workgroups.
    const rows = 40;
    const cols = 3;
    const A = randomDense(rows, cols, 9);
    const o: Opts = { kind: 'rademacher', m: 600_000, seed: 11 };
    await checkClose(b(), A, A.data, rows, cols, null, o);
    // Rows far into a large A: word indices g·m and 2s·g past 2^32 (64-bit index arithmetic in WGSL).
    const o2: Opts = { kind: 'sparse-sign', m: 1000, seed: 12, nnzPerCol: 8 };
    await checkClose(b(), A, A.data, rows, cols, null, o2, 2 ** 30, 2 ** 31 - 1);
    const o3: Opts = { kind: 'gaussian', m: 3000, seed: 13 };
    await checkClose(b(), A, A.data, rows, cols, null, o3, 2 ** 30, 2 ** 31 - 1);
  });

  it('an SRHT over many permutation blocks (n = 70000: eighteen of 2^12) at a row offset', async () => {
    const rows = 70_000;
    const cols = 2;
    const A = randomDense(rows, cols, 31);
    const bv = randomArray(rows, 32);
    await checkClose(b(), A, A.data, rows, cols, bv, { kind: 'srht', m: 64, seed: 5 }, 100_000, 300_000);
  });

  it('SharedArrayBuffer inputs give the same result', async () => {
    const rows = 500;
    const cols = 6;
    const A = randomDense(rows, cols, 41);
    const bv = randomArray(rows, 42);
    for (const kind of KINDS) {
      const o: Opts = { kind, m: 30, seed: 2 };
      const x = args(A, rows, cols, bv, o);
      await gpuApply(b()).run(x, {});
      const Ash = { rows, cols, data: shared(A.data) };
      const y = args(Ash, rows, cols, shared(bv), o);
      await gpuApply(b()).run(y, {});
      expect(Array.from(y.SA)).toEqual(Array.from(x.SA));
      expect(Array.from(y.Sb!)).toEqual(Array.from(x.Sb!));
    }
  });

  it('releases every buffer of a call to the pool, and reuses them', async () => {
    const small = await open(1 << 16);
    const A = randomDense(400, 5, 1);
    for (const kind of KINDS) await gpuApply(small).run(args(A, 400, 5, null, { kind, m: 20, seed: 1 }), {});
    const before = small.runtime.pool.stats();
    expect(before.pooled).toBeGreaterThan(0);
    for (const kind of KINDS) await gpuApply(small).run(args(A, 400, 5, null, { kind, m: 20, seed: 1 }), {});
    const after = small.runtime.pool.stats();
    expect(after).toMatchObject({ created: before.created, pooled: before.pooled, pooledBytes: before.pooledBytes });
  });

  it('refuses what does not fit or could overflow f32, and the f64 QR, with reasons', async () => {
    const tiny = await open(256);
    const A = randomDense(10, 100, 1);
    expect(gpuApply(tiny).accepts!(args(A, 10, 100, null, { kind: 'rademacher', m: 4, seed: 1 }))).toMatch(/binding/);
    const huge = { rows: 2, cols: 2, data: Float64Array.from([1e300, 1, 1, 1]) };
    expect(gpuApply(b()).accepts!(args(huge, 2, 2, null, { kind: 'countsketch', m: 2, seed: 1 }))).toMatch(/overflow f32/);
    const qr = sketchKernels(b().runtime).find((k) => k.op === 'sketchQr') as unknown as KernelSpec<'sketchQr'>;
    expect(qr.accepts!({} as never)).toMatch(/f64/);
  });

  it('through a context: apply pinned to webgpu, the QR of lstsq falls back with its reason recorded', async () => {
    const ctx = await createContext({ backends: ['js', 'webgpu'] });
    try {
      const A = randomDense(3000, 6, 8);
      const bv = randomArray(3000, 9);
      // An f64 S·A that is the answer is refused (WGSL has no f64) and falls back, with the reason;
      // f32 data runs here.
      const r64 = await ctx.sketch.apply(A, { kind: 'countsketch', m: 60, seed: 4, b: bv, backend: 'webgpu' });
      expect(r64.backend).toBe('js');
      expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'sketchApply', requested: 'webgpu' });
      expect(ctx.fallbacks().at(-1)!.reason).toMatch(/no f64/);
      const A32 = { ...A, data: Float32Array.from(A.data) };
      const r = await ctx.sketch.apply(A32, { kind: 'countsketch', m: 60, seed: 4, b: Float32Array.from(bv), backend: 'webgpu', strict: true });
      expect(r.backend).toBe('webgpu');
      const fit = await ctx.sketch.lstsq(A, bv, { method: 'sketch-and-precondition', sketch: 'sparse-sign', m: 60, backend: 'webgpu' });
      expect(fit.backends.apply).toBe('webgpu');
      expect(fit.backends.qr).toBe('js');
      expect(ctx.fallbacks().some((f) => f.op === 'sketchQr' && /f64/.test(f.reason))).toBe(true);
      const ref = await ctx.sketch.lstsq(A, bv, { method: 'sketch-and-precondition', sketch: 'sparse-sign', m: 60, backend: 'js' });
      expect(Math.abs(fit.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
      // sketch-cholesky's Gram pass and refinement are CPU ops (docs/sketch.md §4.5): they run on js here.
      const ch = await ctx.sketch.lstsq(A, bv, { method: 'sketch-cholesky', backend: 'webgpu' });
      expect(ch.backends).toMatchObject({ gram: 'js', solve: 'js' });
      expect(Math.abs(ch.residualNorm - ref.residualNorm) / ref.residualNorm).toBeLessThanOrEqual(1e-12);
    } finally {
      await ctx.dispose();
    }
  });
});
