/**
 * relaxSolve and relaxSolveBatch on the WebGPU backend (src/backends/webgpu/relax/) against the js
 * oracle (src/backends/js/relax.ts).
 *
 * The device iterates in f32 inside an f64 refinement loop, so what must agree with the oracle is
 * the contract, not the bits: the same initial residual (computed the same way, bit for bit), the
 * same tolerance reached by the true f64 residual (1e-8 relative, far below what f32 alone
 * reaches), the same Algorithm-1 counting. Stationary methods re-anchored in f64 are the same
 * iteration, so their counts track the oracle's to within a check or two. Single-system CG runs in
 * double-f32 with reliable updating and tracks the oracle's count as closely; batched CG restarts
 * at each refinement round in f32, so it may take more steps
 * (test/relax/webgpu-refinement.test.ts has the ill-conditioned cases).
 *
 * Through an engine restricted to webgpu and js (core Engine + src/relax/solve.ts, no other
 * backend loaded): refused methods fall back with the reason recorded, and a device lost in the
 * middle of a solve hands the solve to js from the untouched x0. Tests that destroy a device take
 * one of their own (openGpuDevice exclusive): contexts otherwise share the process's device.
 *
 * Without an adapter the suite skips, unless NUMKERN_REQUIRE names webgpu.
 */
import { describe, expect, it } from 'vitest';
import { PRIORITY, type BackendInitOptions, type KernelControl, type KernelSpec } from '../src/core/backend.js';
import { Engine, registerBackend, registerFamilyKernels, type ContextOptions } from '../src/core/engine.js';
import { NumkernError } from '../src/core/errors.js';
import type { OpArgs, OpResult } from '../src/core/ops.js';
import { stencilSize, stencilToCsr } from '../src/core/stencil.js';
import { isStencil, type CsrMatrix, type FloatArray, type LinearOperator, type StencilOperator } from '../src/core/types.js';
import type { RelaxMethod, RelaxOutcome, RelaxSettings } from '../src/relax/ops.js';
import { jsBackend } from '../src/backends/js/index.js';
import { relaxKernels as jsRelaxKernels, relaxSolve as oracleSolve } from '../src/backends/js/relax.js';
import { openGpuDevice } from '../src/backends/webgpu/device.js';
import { GpuRuntime } from '../src/backends/webgpu/dispatch.js';
import { createWebgpuBackend, webgpuBackend, type WebGpuBackendInstance } from '../src/backends/webgpu/index.js';
import { BATCH_ROUND_UPDATES, batchCapacity } from '../src/backends/webgpu/relax/batch.js';
import { relaxKernels } from '../src/backends/webgpu/relax/kernels.js';
import { uploadStats } from '../src/backends/webgpu/relax/uploads.js';
import { diffusion2d, heatStep2d, poisson2d, poisson3d, shifted } from '../src/relax/generators.js';
import { solve, solveMany } from '../src/relax/solve.js';
import { openForFile, randomArray, required } from './support/backends.js';

const initOptions: BackendInitOptions = { allowSoftwareAdapter: true, threads: 0 };
const u32 = 2 ** -24;

const { main, initError, track } = await openForFile(() => webgpuBackend.init(initOptions));

async function open(options: Parameters<typeof createWebgpuBackend>[0]): Promise<WebGpuBackendInstance> {
  return track(await createWebgpuBackend(options).init(initOptions));
}

/** A runtime on a device of its own, shaped like main's: for tests that destroy the device. */
async function exclusiveRuntime(): Promise<GpuRuntime> {
  const gpu = await openGpuDevice({ allowSoftwareAdapter: true, exclusive: true });
  const { workgroupSize, bindingBytes } = main!.runtime;
  return track(new GpuRuntime(gpu, { workgroupSize, bindingBytes, maxPooledBytes: 2 ** 26 }));
}

// An engine over js and webgpu only, whose webgpu runtime the tests can reach (to lose its device,
// which is therefore its own).
let engineGpu: GpuRuntime | null = null;
registerFamilyKernels('relax', { js: jsRelaxKernels, webgpu: relaxKernels });
registerBackend(jsBackend);
registerBackend({
  name: 'webgpu',
  async init() {
    const rt = await exclusiveRuntime();
    engineGpu = rt;
    return {
      name: 'webgpu', priority: PRIORITY.webgpuSoftware, handle: rt, info: { description: 'webgpu (test device)' },
      lostReason: () => rt.gpu.lostReason(), dispose: () => rt.dispose(),
    };
  },
});

class TestEngine extends Engine {
  static async open(): Promise<{ engine: TestEngine; gpu: GpuRuntime }> {
    const o: ContextOptions = { backends: ['webgpu', 'js'] };
    const engine = track(new TestEngine(await Engine.initSlots(o), o));
    return { engine, gpu: engineGpu! };
  }
}

// ------------------------------------------------------------------------------------------------

function sizeOf(A: LinearOperator): number {
  return isStencil(A) ? stencilSize(A) : A.nrows;
}

const csrOf = (A: LinearOperator): CsrMatrix => (isStencil(A) ? stencilToCsr(A) : A);

/** ‖b − A x‖₂ in f64 as the oracle computes it (CSR row order, 4096-blocked sum of squares). */
function trueResidual(A: LinearOperator, b: FloatArray, x: FloatArray): number {
  const M = csrOf(A);
  const r = new Float64Array(M.nrows);
  for (let i = 0; i < M.nrows; i++) {
    let s = 0;
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) s += M.values[p]! * x[M.colIdx[p]!]!;
    r[i] = b[i]! - s;
  }
  let total = 0;
  for (let start = 0; start < r.length; start += 4096) {
    let s = 0;
    for (let i = start; i < Math.min(start + 4096, r.length); i++) s += r[i]! * r[i]!;
    total += s;
  }
  return Math.sqrt(total);
}

/** ‖ |A| |x| ‖₂: what rounding x to f32 can change A x by, per unit roundoff. */
function absProductNorm(A: LinearOperator, x: FloatArray): number {
  const M = csrOf(A);
  let s2 = 0;
  for (let i = 0; i < M.nrows; i++) {
    let s = 0;
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) s += Math.abs(M.values[p]! * x[M.colIdx[p]!]!);
    s2 += s * s;
  }
  return Math.sqrt(s2);
}

type Settings = RelaxSettings & { omega: number };

function settings(method: RelaxMethod, over: Partial<Settings> = {}): Settings {
  return { method, omega: method === 'jacobi' ? 0.8 : 1.3, tol: 1e-8, criterion: 'relative', maxIter: 20000, checkEvery: 1, ...over };
}

function kernelOf<K extends 'relaxSolve' | 'relaxSolveBatch'>(b: WebGpuBackendInstance | GpuRuntime, op: K): KernelSpec<K> {
  const rt = b instanceof GpuRuntime ? b : b.runtime;
  return relaxKernels(rt).find((k) => k.op === op) as unknown as KernelSpec<K>;
}

async function gpuSolve(
  b: WebGpuBackendInstance, A: LinearOperator, rhs: FloatArray, s: Settings, ctl: KernelControl = {}, x0?: FloatArray,
): Promise<{ out: RelaxOutcome; x: FloatArray }> {
  const x = x0 ? x0.slice() : rhs instanceof Float32Array ? new Float32Array(rhs.length) : new Float64Array(rhs.length);
  const k = kernelOf(b, 'relaxSolve');
  expect(k.accepts!({ A, b: rhs, x, ...s })).toBeNull();
  return { out: await k.run({ A, b: rhs, x, ...s }, ctl), x };
}

async function refSolve(A: LinearOperator, rhs: FloatArray, s: Settings, x0?: FloatArray): Promise<{ out: RelaxOutcome; x: FloatArray }> {
  const x = x0 ? x0.slice() : rhs instanceof Float32Array ? new Float32Array(rhs.length) : new Float64Array(rhs.length);
  return { out: await oracleSolve({ A, b: rhs, x, ...s }, {}), x };
}

async function batch(b: WebGpuBackendInstance, args: OpArgs<'relaxSolveBatch'>, ctl: KernelControl = {}): Promise<OpResult<'relaxSolveBatch'>> {
  const k = kernelOf(b, 'relaxSolveBatch');
  expect(k.accepts!(args)).toBeNull();
  return k.run(args, ctl);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<NumkernError> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(NumkernError);
  expect((e as NumkernError).code).toBe(code);
  return e as NumkernError;
}

/**
 * Stationary counts: the device runs the oracle's iteration in f32, re-anchored in f64, so counts
 * agree up to a couple of check intervals where f32 rounding moves the crossing of the tolerance.
 */
function expectStationaryCount(got: number, ref: number, checkEvery: number): void {
  expect(Math.abs(got - ref)).toBeLessThanOrEqual(2 * checkEvery + Math.ceil(0.02 * ref));
}

/** f32 CG restarts at every refinement round (at most a few for 1e-8), losing some convergence speed. */
function expectCgCount(got: number, ref: number): void {
  expect(got).toBeGreaterThan(0);
  expect(got).toBeLessThanOrEqual(Math.ceil(1.5 * ref) + 10);
}

/** Double-f32 CG keeps one Krylov run across rounds: its count tracks the f64 oracle's. */
function expectDfCgCount(got: number, ref: number, checkEvery: number): void {
  expect(Math.abs(got - ref)).toBeLessThanOrEqual(Math.ceil(0.02 * ref) + checkEvery);
}

/** max |got − ref| ≤ rel · max |ref|: one bound for the whole vector, as f32 rounding spreads over it. */
function expectNear(got: FloatArray, ref: FloatArray, rel: number): void {
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    diff = Math.max(diff, Math.abs(got[i]! - ref[i]!));
  }
  expect(diff).toBeLessThanOrEqual(rel * scale);
}

const GPU_METHODS: RelaxMethod[] = ['jacobi', 'sor-redblack', 'cg'];
const SEQUENTIAL: RelaxMethod[] = ['sor', 'gauss-seidel', 'ssor', 'ssor-cg'];
const kappa = (x: number, y: number) => 1 + 0.5 * Math.sin(3 * x) * y;

/** [name, operator, checkEvery]: CSR and stencil twins, 2-D and 3-D, constant and variable coefficients. */
const PROBLEMS: [string, () => LinearOperator, number][] = [
  ['poisson2d 12 + 0.3I, CSR', () => shifted(poisson2d(12), 0.3), 1],
  ['poisson2d 12 + 0.3I, stencil', () => shifted(poisson2d(12, { stencil: true }), 0.3), 1],
  ['poisson3d 6 + 0.5I, stencil', () => shifted(poisson3d(6, { stencil: true }), 0.5), 3],
  ['poisson3d 5, CSR', () => poisson3d(5), 2],
  ['diffusion2d 10, variable stencil', () => diffusion2d(10, kappa, { stencil: true }), 1],
  ['diffusion2d 10, CSR', () => diffusion2d(10, kappa), 4],
  ['heat CN step 16, stencil', () => heatStep2d(16, { kappa: 0.1 }).lhs, 1],
];

// ------------------------------------------------------------------------------------------------

describe('webgpu relax: backend', () => {
  it.skipIf(!main && !required().includes('webgpu'))('has an adapter', () => {
    if (!main) expect.fail(`NUMKERN_REQUIRE names webgpu, but init failed: ${initError}`);
  });

  it.skipIf(!main)('registers relaxSolve and relaxSolveBatch for f32 and f64', () => {
    for (const op of ['relaxSolve', 'relaxSolveBatch'] as const) {
      const k = relaxKernels(main!.runtime).find((x) => x.op === op);
      expect(k?.dtypes).toEqual(['f32', 'f64']);
      expect(typeof k?.accepts).toBe('function');
    }
  });

  it.skipIf(!main)('accepts jacobi, sor-redblack and cg; refuses natural-ordering sweeps with the reason', () => {
    const A = poisson2d(4);
    const b = new Float64Array(16).fill(1);
    const single = kernelOf(main!, 'relaxSolve');
    const many = kernelOf(main!, 'relaxSolveBatch');
    for (const method of GPU_METHODS) {
      expect(single.accepts!({ A, b, x: new Float64Array(16), ...settings(method) })).toBeNull();
      expect(many.accepts!({ systems: [{ A, b, x: new Float64Array(16), omega: 1 }], options: settings(method) })).toBeNull();
    }
    for (const method of SEQUENTIAL) {
      const why = 'natural-ordering sweeps are sequential; webgpu runs sor-redblack, jacobi and cg';
      expect(single.accepts!({ A, b, x: new Float64Array(16), ...settings(method) })).toContain(why);
      expect(many.accepts!({ systems: [{ A, b, x: new Float64Array(16), omega: 1 }], options: settings(method) })).toContain(why);
    }
  });

  it.skipIf(!main)('refuses operands beyond one binding before running', async () => {
    const small = await open({ maxBindingBytes: 4096 });
    const k = kernelOf(small, 'relaxSolve');
    // 1600 unknowns: 6400-byte vectors; 7840 nonzeros.
    const A = poisson2d(40);
    const b = new Float64Array(1600).fill(1);
    expect(k.accepts!({ A, b, x: new Float64Array(1600), ...settings('cg') })).toMatch(/binding limit of 4096 bytes/);
    const S = diffusion2d(20, kappa, { stencil: true });
    // 400 unknowns fit (1600 bytes), the 5 × 400 coefficients do not.
    expect(k.accepts!({ A: S, b: new Float64Array(400), x: new Float64Array(400), ...settings('cg') })).toMatch(/A\.coeffs: 2000 32-bit words/);
    expect(k.accepts!({ A: poisson2d(10), b: new Float64Array(100), x: new Float64Array(100), ...settings('cg') })).toBeNull();
  });

  it.skipIf(!main)('refuses a system larger than workgroup memory holds in a batch', () => {
    const many = kernelOf(main!, 'relaxSolveBatch');
    const cap = batchCapacity(main!.runtime, 'cg');
    expect(cap).toBeGreaterThanOrEqual(100);
    const m = Math.ceil(Math.sqrt(cap + 1));
    const big = { A: poisson2d(m), b: new Float64Array(m * m), x: new Float64Array(m * m), omega: 1 };
    const ok = { A: poisson2d(10), b: new Float64Array(100), x: new Float64Array(100), omega: 1 };
    expect(many.accepts!({ systems: [ok, big], options: settings('cg') })).toMatch(/^systems\[1\]: \d+ unknowns exceed the \d+ that one workgroup holds for cg/);
  });

  it.skipIf(!main)('refuses operands that f32 cannot represent', () => {
    const k = kernelOf(main!, 'relaxSolve');
    const A = poisson2d(3);
    const huge = { ...A, values: A.values.slice() };
    huge.values[1] = -1e300;
    const tiny = { ...A, values: A.values.slice() };
    tiny.values[0] = 1e-50;
    const b = new Float64Array(9).fill(1);
    expect(k.accepts!({ A: huge, b, x: new Float64Array(9), ...settings('cg') })).toMatch(/beyond f32 range/);
    expect(k.accepts!({ A: tiny, b, x: new Float64Array(9), ...settings('cg') })).toMatch(/diagonal entry 0 .* rounds to 0 in f32/);
  });
});

describe.skipIf(!main)('webgpu relaxSolve vs the oracle, f64 to 1e-8 relative', () => {
  describe.each(PROBLEMS)('%s', (_name, make, checkEvery) => {
    const A = make();
    const rhs = randomArray(sizeOf(A), 5);
    it.each(GPU_METHODS)('%s', async (method) => {
      const s = settings(method, { checkEvery });
      const ref = await refSolve(A, rhs, s);
      const got = await gpuSolve(main!, A, rhs, s);
      expect(ref.out.converged).toBe(true);
      // The same r_0, computed the same way.
      expect(got.out.initialResidualNorm).toBe(ref.out.initialResidualNorm);
      expect(got.out).toMatchObject({ converged: true, diverged: false });
      // The reported norm is the true f64 residual of the returned x, and it meets the tolerance.
      expect(got.out.residualNorm).toBe(trueResidual(A, rhs, got.x));
      expect(got.out.residualNorm).toBeLessThanOrEqual(1e-8 * got.out.initialResidualNorm);
      // Checks happen every checkEvery updates.
      expect(got.out.iterations % checkEvery).toBe(0);
      if (method === 'cg') expectDfCgCount(got.out.iterations, ref.out.iterations, checkEvery);
      else expectStationaryCount(got.out.iterations, ref.out.iterations, checkEvery);
      // Both within 1e-8·‖r_0‖ of b: the solutions agree to what the conditioning allows.
      expectNear(got.x, ref.x, 1e-5);
    });
  });

  it.each(['sor-redblack', 'cg'] as const)('%s refines far below f32 reach: 1e-12 relative and 1e-11 absolute', async (method) => {
    const A = shifted(poisson2d(16), 0.1);
    const rhs = randomArray(256, 7);
    const rel = await gpuSolve(main!, A, rhs, settings(method, { tol: 1e-12 }));
    expect(rel.out.converged).toBe(true);
    expect(rel.out.residualNorm).toBeLessThanOrEqual(1e-12 * rel.out.initialResidualNorm);
    const abs = await gpuSolve(main!, A, rhs, settings(method, { tol: 1e-11, criterion: 'absolute' }));
    expect(abs.out.converged).toBe(true);
    expect(abs.out.residualNorm).toBeLessThanOrEqual(1e-11);
  });

  it('starts from x0 and keeps the caller x0 untouched until it returns', async () => {
    const A = shifted(poisson2d(12, { stencil: true }), 0.3);
    const rhs = randomArray(144, 8);
    const x0 = randomArray(144, 9);
    const s = settings('sor-redblack');
    const ref = await refSolve(A, rhs, s, x0);
    const got = await gpuSolve(main!, A, rhs, s, {}, x0);
    expect(got.out.initialResidualNorm).toBe(ref.out.initialResidualNorm);
    expect(got.out.converged).toBe(true);
    expectStationaryCount(got.out.iterations, ref.out.iterations, 1);
  });
});

describe.skipIf(!main)('webgpu relaxSolve past 65535 workgroups (workgroup size 2)', () => {
  // 140 625 unknowns at two invocations per workgroup: the sweeps stride over the grid, the CSR
  // product of CG folds its dispatch into two dimensions. Three updates from x0 = 0 are the
  // oracle's three updates up to f32 rounding (one refinement round, no restart).
  const m = 375;
  const rhs = randomArray(m * m, 60);
  it.each([
    ['stencil', () => poisson2d(m, { stencil: true })],
    ['CSR', () => poisson2d(m)],
  ] as const)('%s', async (_name, make) => {
    const b = await open({ workgroupSize: 2 });
    const A = make();
    for (const method of GPU_METHODS) {
      const s = settings(method, { maxIter: 3 });
      const ref = await refSolve(A, rhs, s);
      const got = await gpuSolve(b, A, rhs, s);
      expect(got.out).toMatchObject({ iterations: 3, converged: false, diverged: false });
      expectNear(got.x, ref.x, 1e-5);
    }
  });
});

describe.skipIf(!main)('webgpu relaxSolve, f32 operands', () => {
  const A64 = shifted(poisson2d(12), 0.3);
  const cases: [string, LinearOperator][] = [
    ['CSR with f32 values', { ...A64, values: Float32Array.from(A64.values) }],
    ['constant stencil', shifted(poisson2d(12, { stencil: true }), 0.3)],
    ['variable stencil with f32 coefficients', (() => {
      const S = diffusion2d(12, kappa, { stencil: true }) as StencilOperator<Float64Array>;
      const c = S.coeffs as { diag: Float64Array; offdiag: readonly Float64Array[] };
      return { ...S, coeffs: { kind: 'variable' as const, diag: Float32Array.from(c.diag), offdiag: c.offdiag.map((a) => Float32Array.from(a)) } };
    })()],
  ];
  describe.each(cases)('%s', (_name, A) => {
    const rhs = Float32Array.from(randomArray(144, 11));
    it.each(GPU_METHODS)('%s reaches 1e-5 and returns f32', async (method) => {
      const s = settings(method, { tol: 1e-5 });
      const ref = await refSolve(A, rhs, s);
      const got = await gpuSolve(main!, A, rhs, s);
      expect(got.x).toBeInstanceOf(Float32Array);
      expect(got.out.initialResidualNorm).toBe(ref.out.initialResidualNorm);
      expect(got.out.converged).toBe(true);
      // The residual is that of the f32 x handed back: the f64 iterate passed the test, rounding it
      // to f32 moves A x by at most u₃₂·‖|A||x|‖.
      expect(got.out.residualNorm).toBe(trueResidual(A, rhs, got.x));
      expect(got.out.residualNorm).toBeLessThanOrEqual(1e-5 * got.out.initialResidualNorm + 2 * u32 * absProductNorm(A, got.x));
    });
  });
});

describe.skipIf(!main)('webgpu relaxSolve: Algorithm-1 counting', () => {
  const A = shifted(poisson2d(10), 0.2);
  const rhs = randomArray(100, 12);

  it('0 updates when x0 already passes the test; the cap when maxIter is hit; 0 when maxIter is 0', async () => {
    for (const method of GPU_METHODS) {
      const exact = await refSolve(A, rhs, settings(method, { tol: 1e-12 }));
      const again = await gpuSolve(main!, A, rhs, settings(method, { criterion: 'absolute', tol: 1e-6 }), {}, exact.x);
      expect(again.out).toMatchObject({ iterations: 0, converged: true });
      expect(again.x).toEqual(exact.x);
      const capped = await gpuSolve(main!, A, rhs, settings(method, { maxIter: 7 }));
      expect(capped.out).toMatchObject({ iterations: 7, converged: false, diverged: false });
      const none = await gpuSolve(main!, A, rhs, settings(method, { maxIter: 0 }));
      expect(none.out).toMatchObject({ iterations: 0, converged: false, diverged: false });
      expect(none.out.residualNorm).toBe(none.out.initialResidualNorm);
    }
  });

  it('with checkEvery = 5 the count is a multiple of 5, as the oracle counts', async () => {
    for (const method of ['jacobi', 'sor-redblack'] as const) {
      const s = settings(method, { checkEvery: 5 });
      const ref = await refSolve(A, rhs, s);
      const got = await gpuSolve(main!, A, rhs, s);
      expect(ref.out.iterations % 5).toBe(0);
      expect(got.out.iterations % 5).toBe(0);
      expectStationaryCount(got.out.iterations, ref.out.iterations, 5);
    }
  });

  it('reports progress at checks with increasing iteration counts', async () => {
    const seen: { iteration: number; residualNorm?: number }[] = [];
    const got = await gpuSolve(main!, A, rhs, settings('jacobi'), { onProgress: (p) => seen.push(p) });
    expect(seen.length).toBeGreaterThan(0);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.iteration).toBeGreaterThanOrEqual(seen[i - 1]!.iteration);
    // A round's end reports the true residual of the re-anchored x.
    expect(seen[seen.length - 1]).toEqual({ iteration: got.out.iterations, residualNorm: got.out.residualNorm });
  });
});

describe.skipIf(!main)('webgpu relaxSolve: divergence', () => {
  // Positive diagonal, indefinite: eigenvalues 1 ± 3 (the conformance suite's example).
  const M: CsrMatrix = { nrows: 2, ncols: 2, rowPtr: Int32Array.from([0, 2, 4]), colIdx: Int32Array.from([0, 1, 0, 1]), values: Float64Array.from([1, 3, 3, 1]) };

  it.each(GPU_METHODS)('%s on an indefinite 2×2 stops early with diverged: true and finite numbers', async (method) => {
    const rhs = Float64Array.from([1, 2]);
    const s = settings(method, { omega: 1.2 });
    const ref = await refSolve(M, rhs, s);
    const got = await gpuSolve(main!, M, rhs, s);
    expect(got.out).toMatchObject({ converged: false, diverged: true });
    expect(ref.out.diverged).toBe(true);
    expect(Math.abs(got.out.iterations - ref.out.iterations)).toBeLessThanOrEqual(2);
    expect([...got.x].every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(got.out.residualNorm)).toBe(true);
    expect(got.out.residualNorm).toBe(trueResidual(M, rhs, got.x));
  });

  it.each(GPU_METHODS)('%s on an indefinite grid operator (Laplacian − 3I) as well', async (method) => {
    const A = shifted(poisson2d(8, { stencil: true }), -3);
    const got = await gpuSolve(main!, A, randomArray(64, 13), settings(method, { omega: 1 }));
    expect(got.out).toMatchObject({ converged: false, diverged: true });
    expect(got.out.iterations).toBeLessThan(1000);
    expect([...got.x].every(Number.isFinite)).toBe(true);
    expect(Number.isFinite(got.out.residualNorm)).toBe(true);
  });
});

describe.skipIf(!main)('webgpu relaxSolve: abort and device loss', () => {
  const A = poisson2d(24);
  const rhs = new Float64Array(576).fill(1);
  // tol 0 never passes: only the cap, an abort or a loss ends these solves.
  const endless = settings('jacobi', { tol: 0, maxIter: 1e7, checkEvery: 4 });

  it('an aborted signal stops the solve with E_ABORTED before anything runs', async () => {
    const ac = new AbortController();
    ac.abort('stop');
    const k = kernelOf(main!, 'relaxSolve');
    const x = new Float64Array(576);
    const e = await rejectsWith(Promise.resolve(k.run({ A, b: rhs, x, ...endless }, { signal: ac.signal })), 'E_ABORTED');
    expect(e.message).toMatch(/stop/);
  });

  it('an abort during the solve stops it between submits and leaves x as it was', async () => {
    const ac = new AbortController();
    const k = kernelOf(main!, 'relaxSolve');
    const x0 = randomArray(576, 14);
    const x = x0.slice();
    let calls = 0;
    const run = k.run({ A, b: rhs, x, ...endless }, { signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort('mid-solve'); } });
    await rejectsWith(Promise.resolve(run), 'E_ABORTED');
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(x).toEqual(x0);
  });

  it('a device lost mid-solve gives E_DEVICE_LOST and leaves x as it was', async () => {
    const rt = await exclusiveRuntime();
    const k = kernelOf(rt, 'relaxSolve');
    const x0 = randomArray(576, 15);
    const x = x0.slice();
    let destroyed = false;
    const run = k.run({ A, b: rhs, x, ...endless }, {
      onProgress: () => {
        if (!destroyed) rt.device.destroy();
        destroyed = true;
      },
    });
    await rejectsWith(Promise.resolve(run), 'E_DEVICE_LOST');
    expect(destroyed).toBe(true);
    expect(x).toEqual(x0);
    expect(rt.gpu.lostReason()).not.toBeNull();
  });
});

describe.skipIf(!main)('webgpu relaxSolve: operands stay on the device between solves', () => {
  it('a second solve on the same A uploads nothing; a shift A + cI uploads only its values', async () => {
    const rt = main!.runtime;
    const A = poisson2d(11);
    const rhs = randomArray(121, 16);
    const s = settings('sor-redblack');
    const before = uploadStats(rt);
    await gpuSolve(main!, A, rhs, s);
    const first = uploadStats(rt);
    // rowPtr, colIdx, values and the colour order.
    expect(first.uploads - before.uploads).toBe(4);
    await gpuSolve(main!, A, rhs, s);
    const second = uploadStats(rt);
    expect(second.uploads).toBe(first.uploads);
    expect(second.hits - first.hits).toBe(4);
    await gpuSolve(main!, shifted(A, 0.5), rhs, s);
    const third = uploadStats(rt);
    expect(third.uploads - second.uploads).toBe(1);
    // A constant stencil has nothing to upload: its coefficients are uniforms.
    await gpuSolve(main!, poisson2d(11, { stencil: true }), rhs, s);
    expect(uploadStats(rt).uploads).toBe(third.uploads);
  });

  it("a prepared operator's uploads live until it is disposed", async () => {
    const rt = main!.runtime;
    const releases: (() => void)[] = [];
    const prepared = { disposed: false, own: (r: () => void) => void releases.push(r) };
    const A = shifted(poisson2d(13), 0.2);
    const rhs = randomArray(169, 17);
    const k = kernelOf(main!, 'relaxSolve');
    const run = () => k.run({ A, prepared, b: rhs, x: new Float64Array(169), ...settings('cg') }, {});
    const before = uploadStats(rt);
    expect((await run()).converged).toBe(true);
    const held = uploadStats(rt);
    // rowPtr, colIdx and values, each handing the prepared operator its release.
    expect(held.uploads - before.uploads).toBe(3);
    expect(releases).toHaveLength(3);
    expect((await run()).converged).toBe(true);
    expect(uploadStats(rt).uploads).toBe(held.uploads);
    for (const r of releases) r();
    expect(uploadStats(rt).bytes).toBeLessThan(held.bytes);
    // Released entries are gone: the next solve uploads again.
    await run();
    expect(uploadStats(rt).uploads - held.uploads).toBe(3);
  });
});

// ------------------------------------------------------------------------------------------------

describe.skipIf(!main)('webgpu relaxSolveBatch', () => {
  /** The paper's 10×10 shifted Laplacians plus CSR, 3-D and variable-coefficient neighbours, each with its own ω. */
  function systems(method: RelaxMethod): OpArgs<'relaxSolveBatch'>['systems'] {
    const ops: LinearOperator[] = [
      shifted(poisson2d(10, { stencil: true }), 0.1),
      shifted(poisson2d(10), 0.2),
      shifted(poisson2d(10, { stencil: true }), 0.05),
      poisson3d(5),
      diffusion2d(9, kappa, { stencil: true }),
      diffusion2d(8, kappa),
      heatStep2d(12, { kappa: 0.1 }).lhs,
    ];
    return ops.map((A, k) => {
      const n = sizeOf(A);
      return { A, b: randomArray(n, 40 + k), x: new Float64Array(n), omega: method === 'jacobi' ? 0.7 + 0.03 * k : 1.1 + 0.1 * k };
    });
  }

  it.each(GPU_METHODS)('%s: one dispatch per round solves every system like a single solve', async (method) => {
    const sys = systems(method);
    const options = settings(method);
    const outs = await batch(main!, { systems: sys, options });
    expect(outs).toHaveLength(sys.length);
    for (let k = 0; k < sys.length; k++) {
      const { A, b, omega } = sys[k]!;
      const ref = await refSolve(A, b, { ...options, omega });
      const one = await gpuSolve(main!, A, b, { ...options, omega });
      const got = outs[k]!;
      expect(got.initialResidualNorm).toBe(ref.out.initialResidualNorm);
      expect(got).toMatchObject({ converged: true, diverged: false });
      expect(got.residualNorm).toBe(trueResidual(A, b, sys[k]!.x));
      expect(got.residualNorm).toBeLessThanOrEqual(1e-8 * got.initialResidualNorm);
      if (method === 'cg') {
        expectCgCount(got.iterations, ref.out.iterations);
        // A batch restarts f32 CG at every round; a single solve runs in double-f32 and tracks the oracle.
        expectDfCgCount(one.out.iterations, ref.out.iterations, 1);
      } else {
        expectStationaryCount(got.iterations, ref.out.iterations, 1);
        expectStationaryCount(got.iterations, one.out.iterations, 1);
      }
    }
  });

  it(`keeps the oracle's check points across dispatches of ${BATCH_ROUND_UPDATES} updates`, async () => {
    // Damped Jacobi on an unshifted 28×28 Laplacian needs more updates than one dispatch makes,
    // and checkEvery = 3 does not divide the per-dispatch cap.
    const A = poisson2d(28, { stencil: true });
    const b = randomArray(784, 17);
    const options = settings('jacobi', { omega: 0.8, checkEvery: 3 });
    const ref = await refSolve(A, b, options);
    expect(ref.out.iterations).toBeGreaterThan(BATCH_ROUND_UPDATES);
    const [got] = await batch(main!, { systems: [{ A, b, x: new Float64Array(784), omega: 0.8 }], options });
    expect(got!.converged).toBe(true);
    expect(got!.iterations % 3).toBe(0);
    expectStationaryCount(got!.iterations, ref.out.iterations, 3);
  });

  it('a diverging system stops alone with finite numbers; the others converge', async () => {
    const M: CsrMatrix = { nrows: 2, ncols: 2, rowPtr: Int32Array.from([0, 2, 4]), colIdx: Int32Array.from([0, 1, 0, 1]), values: Float64Array.from([1, 3, 3, 1]) };
    for (const method of GPU_METHODS) {
      const sys = [
        { A: shifted(poisson2d(10), 0.2), b: randomArray(100, 18), x: new Float64Array(100), omega: 1 },
        { A: M, b: Float64Array.from([1, 2]), x: new Float64Array(2), omega: 1.2 },
        { A: shifted(poisson2d(8, { stencil: true }), -3), b: randomArray(64, 19), x: new Float64Array(64), omega: 1 },
      ];
      const outs = await batch(main!, { systems: sys, options: settings(method, { omega: 1 }) });
      expect(outs[0]).toMatchObject({ converged: true, diverged: false });
      for (const k of [1, 2]) {
        expect(outs[k]).toMatchObject({ converged: false, diverged: true });
        expect([...sys[k]!.x].every(Number.isFinite)).toBe(true);
        expect(Number.isFinite(outs[k]!.residualNorm)).toBe(true);
      }
    }
  });

  it('f32 systems come back as f32 at the tolerance', async () => {
    const A = shifted(poisson2d(10), 0.2);
    const A32 = { ...A, values: Float32Array.from(A.values) };
    const sys = [0, 1, 2].map((k) => ({ A: A32, b: Float32Array.from(randomArray(100, 20 + k)), x: new Float32Array(100), omega: 1.2 + 0.1 * k }));
    const outs = await batch(main!, { systems: sys, options: settings('sor-redblack', { tol: 1e-5 }) });
    outs.forEach((o, k) => {
      expect(o.converged).toBe(true);
      expect(o.residualNorm).toBeLessThanOrEqual(1e-5 * o.initialResidualNorm + 2 * u32 * absProductNorm(A32, sys[k]!.x));
    });
  });

  it('an aborted signal stops the batch with E_ABORTED and leaves every x as it was', async () => {
    const ac = new AbortController();
    ac.abort('stop');
    const sys = systems('cg');
    await rejectsWith(Promise.resolve(kernelOf(main!, 'relaxSolveBatch').run({ systems: sys, options: settings('cg') }, { signal: ac.signal })), 'E_ABORTED');
    for (const s of sys) expect(s.x.every((v) => v === 0)).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------

describe.skipIf(!main)('webgpu relax through the dispatcher (webgpu and js only)', () => {
  it('refused methods fall back to js, and the fallback is recorded with the reason', async () => {
    const { engine } = await TestEngine.open();
    const A = shifted(poisson2d(10), 0.2);
    const b = randomArray(100, 30);
    for (const method of SEQUENTIAL) {
      const r = await solve(engine, A, b, { method, omega: 1.2, backend: 'webgpu' });
      expect(r.backend).toBe('js');
      expect(r.converged).toBe(true);
      const last = engine.fallbacks()[engine.fallbacks().length - 1]!;
      expect(last).toMatchObject({ op: 'relaxSolve', dtype: 'f64', requested: 'webgpu', used: 'js' });
      expect(last.reason).toMatch(/natural-ordering sweeps are sequential/);
      await expect(solve(engine, A, b, { method, backend: 'webgpu', strict: true })).rejects.toMatchObject({ code: 'E_BACKEND_UNAVAILABLE' });
    }
    for (const method of GPU_METHODS) {
      const omega = method === 'jacobi' ? 0.8 : 1.2;
      const r = await solve(engine, A, b, { method, omega, backend: 'webgpu', strict: true });
      expect(r).toMatchObject({ backend: 'webgpu', converged: true });
      // Auto dispatch keeps a 100-unknown solve on the CPU: it is below webgpu's hand-off size.
      expect((await solve(engine, A, b, { method, omega })).backend).toBe('js');
    }
  });

  it('auto dispatch ranks webgpu above js once a solve passes the hand-off size', async () => {
    const { engine } = await TestEngine.open();
    const A = poisson2d(120, { stencil: true });
    expect((await solve(engine, A, randomArray(120 * 120, 31), { method: 'cg', maxIter: 5 })).backend).toBe('webgpu');
  });

  it('solveMany runs on webgpu and matches single solves', async () => {
    const { engine } = await TestEngine.open();
    const specs = [0.1, 0.2, -0.1].map((c, k) => ({ A: shifted(poisson2d(10), c), b: randomArray(100, 40 + k), omega: 1.2 + 0.1 * k }));
    const many = await solveMany(engine, specs, { method: 'sor-redblack', backend: 'webgpu', strict: true });
    for (let k = 0; k < specs.length; k++) {
      const one = await solve(engine, specs[k]!.A, specs[k]!.b, { method: 'sor-redblack', omega: specs[k]!.omega, backend: 'js' });
      expect(many[k]).toMatchObject({ backend: 'webgpu', converged: true, omega: specs[k]!.omega });
      expectStationaryCount(many[k]!.iterations, one.iterations, 1);
    }
    // A system beyond workgroup memory sends the batch to js, recorded.
    const cap = batchCapacity(engineGpu!, 'sor-redblack');
    const m = Math.ceil(Math.sqrt(cap + 1));
    const big = await solveMany(engine, [...specs, { A: shifted(poisson2d(m), 1), b: randomArray(m * m, 50) }], { method: 'sor-redblack', backend: 'webgpu' });
    expect(big.every((r) => r.backend === 'js' && r.converged)).toBe(true);
    expect(engine.fallbacks()[engine.fallbacks().length - 1]!.reason).toMatch(/workgroup/);
  });

  it('a device lost mid-solve hands the solve to js from the original x0', async () => {
    const { engine, gpu } = await TestEngine.open();
    const A = poisson2d(16);
    const b = randomArray(256, 31);
    const x0 = randomArray(256, 32);
    const opts = { method: 'jacobi' as const, omega: 0.9, x0, maxIter: 50_000 };
    const ref = await solve(engine, A, b, { ...opts, backend: 'js' });
    let destroyed = false;
    const got = await solve(engine, A, b, {
      ...opts,
      backend: 'webgpu',
      onProgress: () => {
        if (!destroyed) gpu.device.destroy();
        destroyed = true;
      },
    });
    expect(destroyed).toBe(true);
    expect(got.backend).toBe('js');
    // The js run started from x0 itself: it is the oracle's run, update for update.
    expect(got.iterations).toBe(ref.iterations);
    expect(got.x).toEqual(ref.x);
    const rec = engine.fallbacks()[engine.fallbacks().length - 1]!;
    expect(rec).toMatchObject({ op: 'relaxSolve', requested: 'webgpu', used: 'js' });
    expect(rec.reason).toMatch(/webgpu/);
    expect(engine.available()).toEqual(['js']);
  });
});
