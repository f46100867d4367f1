/**
 * The WebGPU backend on its own: device bootstrap, every kernel against a float64 loop, chunking
 * (forced with a small binding cap), pipeline cache, buffer pool, abort, device loss, Philox on
 * the device, and teardown.
 *
 * Without an adapter the suite skips, unless NUMKERN_REQUIRE names webgpu; `npm test`
 * (test/support/run-tests.mjs) installs lavapipe first on a machine without a GPU.
 *
 * Tolerances are forward-error bounds in f32 unit roundoff u = 2^-24 (Higham, Accuracy and
 * Stability, §3.1): a k-term recursive sum has |ŝ − s| ≤ γ_k Σ|terms|, γ_k = k·u/(1 − k·u).
 * The f64 references add their own error of order 2^-53, negligible next to these.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { KernelSpec } from '../src/core/backend.js';
import { NumkernError } from '../src/core/errors.js';
import type { OpArgs, OpName, OpResult } from '../src/core/ops.js';
import { LINALG_OPS } from '../src/linalg/ops.js';
import type { CsrMatrix } from '../src/core/types.js';
import { openGpuDevice } from '../src/backends/webgpu/device.js';
import { GpuRuntime } from '../src/backends/webgpu/dispatch.js';
import {
  createWebgpuBackend, foldWorkgroups, webgpuBackend, webgpuPhiloxFill, type WebGpuBackendInstance,
} from '../src/backends/webgpu/index.js';
import { linalgKernels } from '../src/backends/webgpu/linalg.js';
import { relaxKernels } from '../src/backends/webgpu/relax/kernels.js';
import { openForFile, randomArray, required, rng } from './support/backends.js';

const u = 2 ** -24;
const gamma = (k: number) => (k * u) / (1 - k * u);
/** Host-side constants of the reduction kernels (src/backends/webgpu/linalg.ts). */
const MAX_REDUCE_GROUPS = 1024;

const initOptions = { allowSoftwareAdapter: true, threads: 0 };
const { main, initError, track } = await openForFile(() => webgpuBackend.init(initOptions));

async function open(options: Parameters<typeof createWebgpuBackend>[0]): Promise<WebGpuBackendInstance> {
  return track(await createWebgpuBackend(options).init(initOptions));
}

/** Every kernel the backend's families list over its runtime. */
function kernelsOf(b: WebGpuBackendInstance | GpuRuntime): KernelSpec[] {
  const rt = b instanceof GpuRuntime ? b : b.runtime;
  return [...linalgKernels(rt), ...relaxKernels(rt)] as unknown as KernelSpec[];
}

function op<K extends OpName>(b: WebGpuBackendInstance | GpuRuntime, name: K): (args: OpArgs<K>, signal?: AbortSignal) => Promise<OpResult<K>> {
  const k = kernelsOf(b).find((x) => x.op === name) as unknown as KernelSpec<K>;
  return async (args, signal) => k.run(args, { signal });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<NumkernError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(NumkernError);
  expect((e as NumkernError).code).toBe(code);
  return e as NumkernError;
}

/** Every operand of this backend is f32. */
const uniform = (n: number, seed: number, lo?: number, hi?: number): Float32Array => randomArray(n, seed, 'f32', lo, hi);

function randomCsr(nrows: number, ncols: number, perRow: number, seed: number): CsrMatrix<Float32Array> {
  const r = rng(seed);
  const rowPtr = new Int32Array(nrows + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < nrows; i++) {
    // Row lengths 0 .. 2·perRow, so empty rows occur.
    const len = Math.min(ncols, Math.floor(r() * (2 * perRow + 1)));
    const picked = new Set<number>();
    while (picked.size < len) picked.add(Math.floor(r() * ncols));
    for (const c of [...picked].sort((a, b) => a - b)) {
      cols.push(c);
      vals.push(2 * r() - 1);
    }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows, ncols, rowPtr, colIdx: Int32Array.from(cols), values: Float32Array.from(vals) };
}

/** Terms each invocation of a reduction adds before the log2(WG)-deep tree. */
function perThread(b: WebGpuBackendInstance, n: number): number {
  if (n === 0) return 1;
  const wg = b.runtime.workgroupSize;
  const chunk = Math.min(n, Math.floor(b.runtime.bindingBytes / 4));
  const groups = Math.min(Math.ceil(chunk / wg), MAX_REDUCE_GROUPS);
  return Math.max(1, Math.ceil(chunk / (groups * wg)));
}

async function checkDot(b: WebGpuBackendInstance, n: number, seed: number): Promise<void> {
  const x = uniform(n, seed);
  const y = uniform(n, seed + 1);
  let s = 0;
  let abs = 0;
  for (let i = 0; i < n; i++) {
    s += x[i]! * y[i]!;
    abs += Math.abs(x[i]! * y[i]!);
  }
  const got = await op(b, 'dot')({ x, y });
  // fma makes each product exact inside its sum: k = per-thread terms + tree depth.
  const k = perThread(b, n) + Math.log2(b.runtime.workgroupSize) + 1;
  expect(Math.abs(got - s)).toBeLessThanOrEqual(gamma(k) * abs);
}

async function checkAxpy(b: WebGpuBackendInstance, n: number, seed: number): Promise<void> {
  const alpha = 0.7; // not an f32: the kernel sees fl32(α), |fl32(α) − α| ≤ u|α|
  const x = uniform(n, seed);
  const y = uniform(n, seed + 1);
  const y0 = y.slice();
  await op(b, 'axpy')({ alpha, x, y });
  for (let i = 0; i < n; i++) {
    const want = alpha * x[i]! + y0[i]!;
    // u|αx| from rounding α, u per multiply and add (2u when the device does not fuse fma), plus slack u.
    const tol = 4 * u * (Math.abs(alpha * x[i]!) + Math.abs(y0[i]!));
    if (Math.abs(y[i]! - want) > tol) expect.fail(`axpy n=${n} i=${i}: ${y[i]} vs ${want} (tol ${tol})`);
  }
}

async function checkNrm2(b: WebGpuBackendInstance, x: Float32Array): Promise<void> {
  const n = x.length;
  let scale = 0;
  for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(x[i]!));
  let ssq = 0;
  for (let i = 0; i < n; i++) ssq += (x[i]! / (scale || 1)) ** 2;
  const want = scale * Math.sqrt(ssq);
  const got = await op(b, 'nrm2')({ x });
  // Each (scale, ssq) merge rounds ~5 times (a division, three products, a sum) at depth
  // per-thread + log2(WG); the square root halves the relative error, the host adds ≤ 2u.
  const k = 5 * (perThread(b, n) + Math.log2(b.runtime.workgroupSize)) + 2;
  expect(Math.abs(got - want)).toBeLessThanOrEqual(gamma(k) * want);
}

async function checkSpmv(b: WebGpuBackendInstance, A: CsrMatrix<Float32Array>, seed: number): Promise<void> {
  const x = uniform(A.ncols, seed);
  const y = new Float32Array(A.nrows).fill(Number.NaN);
  await op(b, 'spmv')({ A, x, y });
  for (let i = 0; i < A.nrows; i++) {
    let s = 0;
    let abs = 0;
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) {
      s += A.values[p]! * x[A.colIdx[p]!]!;
      abs += Math.abs(A.values[p]! * x[A.colIdx[p]!]!);
    }
    // One fma chain per row: k = row length, plus one rounding for storing f32.
    const tol = gamma(A.rowPtr[i + 1]! - A.rowPtr[i]! + 1) * abs;
    if (!(Math.abs(y[i]! - s) <= tol)) expect.fail(`spmv row ${i}: ${y[i]} vs ${s} (tol ${tol})`);
  }
}

async function checkMoments(b: WebGpuBackendInstance, values: Float32Array, offsets: Int32Array, ddof: number): Promise<void> {
  const nseg = offsets.length - 1;
  const sum = new Float32Array(nseg).fill(Number.NaN);
  const mean = new Float32Array(nseg).fill(Number.NaN);
  const variance = new Float32Array(nseg).fill(Number.NaN);
  await op(b, 'segmentedMoments')({ values, offsets, ddof, sum, mean, variance });
  for (let s = 0; s < nseg; s++) {
    const c = offsets[s + 1]! - offsets[s]!;
    if (c === 0) {
      expect([sum[s], mean[s], variance[s]]).toEqual([0, 0, 0]);
      continue;
    }
    let t = 0;
    let abs = 0;
    for (let i = offsets[s]!; i < offsets[s + 1]!; i++) {
      t += values[i]!;
      abs += Math.abs(values[i]!);
    }
    const m = t / c;
    let m2 = 0;
    for (let i = offsets[s]!; i < offsets[s + 1]!; i++) m2 += (values[i]! - m) ** 2;
    // Sums: a c-term sum (per-thread path) bounds the strided-plus-tree one too; +8 covers the
    // tree and the f32 stores. The variance comes from the corrected two-pass formula: its error
    // is γ_(c+16) relative to Σ(v − m̃)² = M2 + c(m − m̃)², with |m − m̃| bounded by the mean's error.
    const sumTol = gamma(c + 8) * abs;
    const meanTol = sumTol / c + u * Math.abs(m);
    const where = `segment ${s} (count ${c})`;
    if (!(Math.abs(sum[s]! - t) <= sumTol + u * Math.abs(t))) expect.fail(`${where}: sum ${sum[s]} vs ${t}`);
    if (!(Math.abs(mean[s]! - m) <= meanTol)) expect.fail(`${where}: mean ${mean[s]} vs ${m}`);
    if (c <= ddof) {
      expect(variance[s]).toBe(0);
    } else {
      const v = m2 / (c - ddof);
      const varTol = (gamma(c + 16) * (m2 + c * meanTol * meanTol)) / (c - ddof);
      if (!(Math.abs(variance[s]! - v) <= varTol)) expect.fail(`${where}: variance ${variance[s]} vs ${v} (tol ${varTol})`);
    }
  }
}

/** Segment lengths drawn from 0 .. 2·meanLen, so empty and single-value segments occur. */
function randomOffsets(nseg: number, meanLen: number, seed: number): Int32Array {
  const r = rng(seed);
  const off = new Int32Array(nseg + 1);
  for (let s = 0; s < nseg; s++) off[s + 1] = off[s]! + Math.floor(r() * (2 * meanLen + 1));
  return off;
}

// ------------------------------------------------------------------------------------------------

describe('webgpu backend init', () => {
  it.skipIf(!main && !required().includes('webgpu'))('finds an adapter and opens a device', () => {
    if (!main) expect.fail(`NUMKERN_REQUIRE names webgpu, but init failed: ${initError}`);
    expect(main.name).toBe('webgpu');
    expect(typeof main.info.description).toBe('string');
    expect(main.info.description).toMatch(/^webgpu: /);
    expect(main.lostReason?.()).toBeNull();
  });

  it.skipIf(!main)('ranks itself by adapter kind and registers f32 kernels only', () => {
    const b = main!;
    expect(b.priority).toBe(b.info.software ? 40 : 80);
    if (b.info.software) expect(b.info.description).toMatch(/\[software\]/);
    const ops = kernelsOf(b).map((k) => k.op).sort();
    expect(ops).toEqual(['axpy', 'dot', 'nrm2', 'relaxSolve', 'relaxSolveBatch', 'segmentedMoments', 'spmv']);
    // Every primitive of the linalg family has a webgpu kernel.
    for (const name of LINALG_OPS) expect(ops).toContain(name);
    // Solvers take f64 too, through mixed-precision refinement (f32 on the device, f64 residuals on the host).
    for (const k of kernelsOf(b)) expect(k.dtypes).toEqual(k.op.startsWith('relax') ? ['f32', 'f64'] : ['f32']);
    const limits = b.info.limits as Record<string, number>;
    expect(b.runtime.bindingBytes).toBe(Math.floor(limits.maxStorageBufferBindingSize! / 16) * 16);
  });

  it.skipIf(!main?.info.software)('refuses a software adapter when allowSoftwareAdapter is false', async () => {
    await expect(webgpuBackend.init({ allowSoftwareAdapter: false, threads: 0 })).rejects.toThrow(/software adapter/);
  });

  it('rejects a binding cap below the minimum before touching the device', async () => {
    await expect(createWebgpuBackend({ maxBindingBytes: 8 }).init(initOptions)).rejects.toThrow(/maxBindingBytes/);
  });
});

describe('dispatch folding', () => {
  it('keeps one dimension up to the limit and folds beyond it', () => {
    expect(foldWorkgroups(65535, 65535)).toEqual([65535, 1]);
    const [x, y] = foldWorkgroups(131073, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(131073);
    expect(() => foldWorkgroups(65535 * 65535 + 1, 65535)).toThrow(NumkernError);
  });
});

const SIZES = [0, 1, 255, 256, 257, 100_000];

describe.skipIf(!main)('webgpu kernels vs float64 loops', () => {
  const b = () => main!;

  it.each(SIZES)('dot n=%i', (n) => checkDot(b(), n, 10 + n));
  it.each(SIZES)('axpy n=%i', (n) => checkAxpy(b(), n, 20 + n));
  it.each(SIZES)('nrm2 n=%i', (n) => checkNrm2(b(), uniform(n, 30 + n)));

  it('nrm2 neither overflows nor underflows for finite f32 input', async () => {
    // Squares of 1e30 overflow f32 and squares of 1e-30 underflow it; the scaled recurrence needs neither.
    await checkNrm2(b(), uniform(1000, 41, 1e29, 1e30));
    await checkNrm2(b(), uniform(1000, 42, -1e-30, 1e-30));
    expect(await op(b(), 'nrm2')({ x: new Float32Array(300) })).toBe(0);
  });

  it.each(SIZES)('spmv nrows=%i', (n) => checkSpmv(b(), randomCsr(n, Math.max(n, 1), 4, 50 + n), 51 + n));

  it('spmv with no nonzeros and with a wide row', async () => {
    await checkSpmv(b(), randomCsr(10, 10, 0, 60), 61);
    await checkSpmv(b(), randomCsr(3, 5000, 2000, 62), 63);
  });

  it.each(SIZES)('segmentedMoments, short segments, %i values', async (n) => {
    // Mean length 3: the one-invocation-per-segment entry point.
    const offsets = randomOffsets(Math.ceil(n / 3), 3, 70 + n);
    const total = offsets[offsets.length - 1]!;
    await checkMoments(b(), uniform(total, 71 + n, 1, 5), offsets, 1);
  });

  it('segmentedMoments, long segments (one workgroup each), ddof 0 and 1', async () => {
    const offsets = randomOffsets(40, 2500, 80);
    const values = uniform(offsets[40]!, 81, 1, 5);
    await checkMoments(b(), values, offsets, 0);
    await checkMoments(b(), values, offsets, 1);
  });

  it('segmentedMoments edge cases: no segments, empty ones, count ≤ ddof, nonzero first offset', async () => {
    await checkMoments(b(), new Float32Array(0), new Int32Array([0]), 0);
    await checkMoments(b(), uniform(10, 90), Int32Array.from([0, 0, 1, 1, 3, 10, 10]), 1);
    await checkMoments(b(), uniform(10, 91), Int32Array.from([4, 5, 9]), 2);
  });

  it('refuses f64 arrays (WGSL has no f64)', async () => {
    await rejectsWith(op(b(), 'dot')({ x: new Float64Array(3), y: new Float64Array(3) }), 'E_DTYPE');
  });

  it('serves repeated calls from the pipeline cache', async () => {
    const x = uniform(1000, 100);
    await op(b(), 'dot')({ x, y: x });
    const before = b().runtime.pipelines.stats();
    await op(b(), 'dot')({ x, y: x });
    await op(b(), 'dot')({ x: uniform(77, 101), y: uniform(77, 102) });
    const after = b().runtime.pipelines.stats();
    expect(after.misses).toBe(before.misses);
    expect(after.size).toBe(before.size);
    expect(after.hits).toBe(before.hits + 2);
  });

  it('reuses pooled buffers across calls', async () => {
    const x = uniform(5000, 110);
    const y = uniform(5000, 111);
    await op(b(), 'axpy')({ alpha: 2, x, y });
    const before = b().runtime.pool.stats();
    expect(before.pooled).toBeGreaterThan(0);
    await op(b(), 'axpy')({ alpha: 2, x, y });
    const after = b().runtime.pool.stats();
    expect(after.created).toBe(before.created);
    expect(after.reused).toBeGreaterThan(before.reused);
  });

  it('rejects with E_ABORTED on an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort('stop');
    const e = await rejectsWith(op(b(), 'dot')({ x: uniform(10, 120), y: uniform(10, 121) }, ac.signal), 'E_ABORTED');
    expect(e.message).toMatch(/stop/);
  });
});

describe.skipIf(!main)('webgpu kernels in chunks (binding capped at 4 KiB = 1024 f32)', () => {
  let c: WebGpuBackendInstance;
  const chunked = async () => (c ??= await open({ maxBindingBytes: 4096 }));

  it('reports the cap', async () => {
    expect((await chunked()).runtime.bindingBytes).toBe(4096);
    expect((await chunked()).info.bindingBytes).toBe(4096);
  });

  it.each([1023, 1024, 1025, 100_000])('dot, axpy and nrm2 at n=%i', async (n) => {
    const b = await chunked();
    await checkDot(b, n, 200 + n);
    await checkAxpy(b, n, 210 + n);
    await checkNrm2(b, uniform(n, 220 + n));
  });

  it('spmv over row blocks', async () => {
    const b = await chunked();
    // ~3000 nonzeros over 1000 rows and x of 1000: three or more blocks, x in one binding.
    await checkSpmv(b, randomCsr(1000, 1000, 3, 230), 231);
    await checkSpmv(b, randomCsr(5000, 700, 1, 232), 233);
  });

  it('spmv refuses x beyond one binding and rows longer than one binding with E_RANGE', async () => {
    const b = await chunked();
    const wide = randomCsr(2, 2000, 1, 240);
    const e = await rejectsWith(op(b, 'spmv')({ A: wide, x: uniform(2000, 241), y: new Float32Array(2) }), 'E_RANGE');
    expect(e.message).toMatch(/x: .*binding limit/);
    const rowPtr = Int32Array.from([0, 1500]);
    const colIdx = Int32Array.from({ length: 1500 }, (_, i) => i % 1000);
    colIdx.sort();
    const long = { nrows: 1, ncols: 1000, rowPtr, colIdx, values: uniform(1500, 242) };
    const e2 = await rejectsWith(op(b, 'spmv')({ A: long, x: uniform(1000, 243), y: new Float32Array(1) }), 'E_RANGE');
    expect(e2.message).toMatch(/row 0 has 1500 nonzeros/);
  });

  it('segmentedMoments splits long segments and many pieces across chunks', async () => {
    const b = await chunked();
    // Segments of 5000 values span five chunks; 2000 short segments exceed 256 pieces per chunk.
    const long = randomOffsets(6, 5000, 250);
    await checkMoments(b, uniform(long[6]!, 251, 1, 5), long, 1);
    const short = randomOffsets(2000, 2, 252);
    await checkMoments(b, uniform(short[2000]!, 253, -3, 5), short, 1);
  });

  it('aborts between submits and leaves axpy output untouched', async () => {
    const b = await chunked();
    const x = uniform(10_000, 260);
    const y = uniform(10_000, 261);
    const y0 = y.slice();
    // aborted reads: 1 in the guard, then one before each chunk's submit; flips before the third chunk.
    let reads = 0;
    const signal = { get aborted() { return ++reads > 3; }, reason: 'mid-run' } as unknown as AbortSignal;
    await rejectsWith(op(b, 'axpy')({ alpha: 1, x, y }, signal), 'E_ABORTED');
    expect(reads).toBe(4);
    expect(y).toEqual(y0);
  });
});

describe.skipIf(!main)('dispatches past 65535 workgroups (workgroup size 2)', () => {
  // With two invocations per workgroup, 140 000 elements need 70 000 workgroups: folded into 2-D.
  let w: WebGpuBackendInstance;
  const small = async () => (w ??= await open({ workgroupSize: 2 }));
  const n = 140_000;

  it('axpy, dot and nrm2', async () => {
    const b = await small();
    expect(b.runtime.workgroupSize).toBe(2);
    await checkAxpy(b, n, 400);
    await checkDot(b, n, 401);
    await checkNrm2(b, uniform(n, 402));
  });

  it('spmv', async () => {
    await checkSpmv(await small(), randomCsr(n, 1000, 1, 403), 404);
  });

  it('segmentedMoments, both entry points', async () => {
    const b = await small();
    // 70 000 one-value segments: one invocation each, 35 000 workgroups; then 70 000 segments of
    // mean length 40, one workgroup each.
    await checkMoments(b, uniform(n / 2, 405), Int32Array.from({ length: n / 2 + 1 }, (_, i) => i), 0);
    const offsets = randomOffsets(70_000, 40, 406);
    await checkMoments(b, uniform(offsets[70_000]!, 407, 1, 5), offsets, 1);
  });

  it('Philox fill', async () => {
    const got = await webgpuPhiloxFill(await small(), { counter: [0, 0, 0, 0], key: [1, 2], count: n });
    for (const i of [0, 65_535 * 2, n - 1]) expect([...got.subarray(4 * i, 4 * i + 4)]).toEqual(philoxCpu([i, 0, 0, 0], [1, 2]));
  });
});

describe.skipIf(!main)('device loss', () => {
  it('surfaces as lostReason() and E_DEVICE_LOST, before and during a kernel', async () => {
    // A device of its own: contexts share the process's device, whose loss would reach them all.
    const gpu = await openGpuDevice({ allowSoftwareAdapter: true, exclusive: true });
    const b = track(new GpuRuntime(gpu, { workgroupSize: main!.runtime.workgroupSize, bindingBytes: 4096, maxPooledBytes: 2 ** 26 }));
    const axpy = op(b, 'axpy');
    const x = uniform(20_000, 300);
    const y = uniform(20_000, 301);
    const y0 = y.slice();
    // Lost while a chunked kernel is under way: it must reject, not hang, and leave y alone.
    const running = axpy({ alpha: 3, x, y });
    b.device.destroy();
    await rejectsWith(running, 'E_DEVICE_LOST');
    expect(y).toEqual(y0);

    expect(await b.gpu.waitLost(1000)).not.toBeNull();
    expect(b.gpu.lostReason()).toMatch(/destroyed/);
    // The shared device is untouched.
    expect(main!.lostReason?.()).toBeNull();
    const A = randomCsr(10, 10, 2, 302);
    const offsets = Int32Array.from([0, 2, 5]);
    const z = new Float32Array(2);
    await rejectsWith(op(b, 'dot')({ x, y }), 'E_DEVICE_LOST');
    await rejectsWith(op(b, 'nrm2')({ x }), 'E_DEVICE_LOST');
    await rejectsWith(axpy({ alpha: 1, x, y }), 'E_DEVICE_LOST');
    await rejectsWith(op(b, 'spmv')({ A, x: uniform(10, 303), y: new Float32Array(10) }), 'E_DEVICE_LOST');
    await rejectsWith(op(b, 'segmentedMoments')({ values: uniform(5, 304), offsets, ddof: 0, sum: z, mean: z.slice(), variance: z.slice() }), 'E_DEVICE_LOST');
  });
});

// ------------------------------------------------------------------------------------------------

/** Philox4x32-10 on the CPU, for comparison: mulhi from 16-bit halves, as in the WGSL. */
function philoxCpu(ctr: readonly number[], key: readonly number[]): number[] {
  const mulhi = (a: number, b: number) => {
    const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
    const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
    return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  };
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((v) => v >>> 0) as [number, number];
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(0xd2511f53, c0), lo0 = Math.imul(0xd2511f53, c0) >>> 0;
    const hi1 = mulhi(0xcd9e8d57, c2), lo1 = Math.imul(0xcd9e8d57, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + 0x9e3779b9) >>> 0;
    k1 = (k1 + 0xbb67ae85) >>> 0;
  }
  return [c0, c1, c2, c3];
}

describe.skipIf(!main)('Philox4x32-10 in WGSL', () => {
  // Random123 kat_vectors (docs/philox.md).
  const KAT: [number[], number[], number[]][] = [
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ];

  it.each(KAT.map((k, i) => [i, ...k] as const))('known-answer vector %i', async (_i, ctr, key, want) => {
    expect(philoxCpu(ctr, key)).toEqual(want);
    const got = await webgpuPhiloxFill(main!, { counter: ctr as [number, number, number, number], key: key as [number, number], count: 1 });
    expect([...got]).toEqual(want);
  });

  it('matches the CPU generator over a range whose counter carries across words', async () => {
    const counter = [0xfffffc00, 0xffffffff, 7, 0] as const;
    const key = [0x12345678, 0x9abcdef0] as const;
    const count = 3000;
    // Through the chunked runtime as well: 4 KiB holds 256 outputs, so the counter advances per chunk on the host.
    const small = await open({ maxBindingBytes: 4096 });
    for (const b of [main!, small]) {
      const got = await webgpuPhiloxFill(b, { counter, key, count });
      for (let i = 0; i < count; i += 37) {
        const c = BigInt(counter[0]) + (BigInt(counter[1]) << 32n) + (BigInt(counter[2]) << 64n) + BigInt(i);
        const ctr = [0, 1, 2, 3].map((w) => Number((c >> BigInt(32 * w)) & 0xffffffffn));
        expect([...got.subarray(4 * i, 4 * i + 4)]).toEqual(philoxCpu(ctr, key));
      }
    }
  });
});

describe.skipIf(!main)('teardown', () => {
  it('dispose releases the device and lets the process exit', async () => {
    const entry = fileURLToPath(new URL('../src/backends/webgpu/index.ts', import.meta.url));
    const linalg = fileURLToPath(new URL('../src/backends/webgpu/linalg.ts', import.meta.url));
    const script = `
      const { webgpuBackend } = await import(${JSON.stringify(entry)});
      const { linalgKernels } = await import(${JSON.stringify(linalg)});
      const b = await webgpuBackend.init({ allowSoftwareAdapter: true, threads: 0 });
      const x = new Float32Array(1000).fill(1);
      const k = linalgKernels(b.runtime).find((k) => k.op === 'dot');
      const s = await k.run({ x, y: x }, {});
      await b.dispose();
      console.log('result', s, 'lost', b.lostReason());
    `;
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 30_000 }, (err, out) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout: out }),
      );
      child.stdin?.end();
    });
    expect(stdout).toContain('result 1000 lost null');
    // A process kept alive by the device would hit the timeout and be killed (code -1).
    expect(code).toBe(0);
  });
});
