/**
 * Caller arrays the WebGPU backend must survive (regressions from a robustness run):
 *  - views on a SharedArrayBuffer (the `webgpu` package's writeBuffer crashed the process on them,
 *    and a relax solve threw a raw TypeError), or on a resizable ArrayBuffer;
 *  - arrays detached (transferred) before or during a call: a NumkernError naming the argument,
 *    never NaN or a TypeError;
 *  - a matrix edited in place between two solves with the same object: the second solve must see
 *    the edit (the upload cache was keyed by identity and returned the old matrix's answer).
 * The upload path (src/backends/webgpu/upload.ts) and the content fingerprint
 * (src/backends/webgpu/fingerprint.ts) are tested on their own as well.
 *
 * Without an adapter the device half skips, unless NUMKERN_REQUIRE names webgpu.
 */
import { describe, expect, it } from 'vitest';
import type { KernelControl, KernelSpec } from '../src/core/backend.js';
import { NumkernError } from '../src/core/errors.js';
import type { OpArgs } from '../src/core/ops.js';
import type { CsrMatrix, FloatArray, LinearOperator, StencilOperator } from '../src/core/types.js';
import type { RelaxMethod, RelaxOutcome } from '../src/relax/ops.js';
import { diffusion2d, poisson2d, shifted } from '../src/relax/generators.js';
import { residual } from '../src/core/operator.js';
import { STAGING, STORAGE_OUT } from '../src/backends/webgpu/buffers.js';
import type { GpuRuntime } from '../src/backends/webgpu/dispatch.js';
import { contentPrint } from '../src/core/fingerprint.js';
import { webgpuBackend } from '../src/backends/webgpu/index.js';
import { readInto } from '../src/backends/webgpu/readback.js';
import { relaxKernels } from '../src/backends/webgpu/relax/kernels.js';
import { uploadStats } from '../src/backends/webgpu/relax/uploads.js';
import { isDetached } from '../src/core/validate.js';
import { openForFile, randomArray, required } from './support/backends.js';

const { main, initError } = await openForFile(() => webgpuBackend.init({ allowSoftwareAdapter: true, threads: 0 }));

const settings = (method: RelaxMethod, over: Partial<{ maxIter: number; tol: number }> = {}) => ({
  method, omega: method === 'jacobi' ? 0.8 : 1.3, tol: 1e-8, criterion: 'relative' as const, maxIter: 20000, checkEvery: 1, ...over,
});

function kernel<K extends 'relaxSolve' | 'relaxSolveBatch'>(op: K): KernelSpec<K> {
  return relaxKernels(main!.runtime).find((k) => k.op === op) as unknown as KernelSpec<K>;
}

async function solve(A: LinearOperator, b: FloatArray, x: FloatArray, method: RelaxMethod, ctl: KernelControl = {}): Promise<RelaxOutcome> {
  const args = { A, b, x, ...settings(method) };
  expect(kernel('relaxSolve').accepts!(args)).toBeNull();
  return kernel('relaxSolve').run(args, ctl);
}

async function rejectsWith(p: Promise<unknown>, code: string, argument: string): Promise<void> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(NumkernError);
  expect((e as NumkernError).code).toBe(code);
  expect((e as NumkernError).argument).toBe(argument);
  expect((e as NumkernError).message).toMatch(/detached/);
}

/** ‖b − A x‖₂ in f64, for the matrix as it is now. */
const trueResidual = (A: LinearOperator, b: FloatArray, x: FloatArray) => residual(A, b, Float64Array.from(x), new Float64Array(b.length));

function detach(a: ArrayBufferView): void {
  structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
}

/** A copy of `a` whose memory is a SharedArrayBuffer. */
function shared<T extends Float32Array | Float64Array | Int32Array>(a: T): T {
  const C = a.constructor as new (buf: SharedArrayBuffer) => T;
  const out = new C(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  return out;
}

const sharedCsr = (A: CsrMatrix): CsrMatrix => ({ ...A, rowPtr: shared(A.rowPtr), colIdx: shared(A.colIdx), values: shared(A.values as Float64Array) });

// ------------------------------------------------------------------------------------------------

describe('content fingerprint', () => {
  it('changes with every single edited word, and only then', () => {
    const a = Float64Array.from(randomArray(37, 1));
    const base = contentPrint(a);
    expect(contentPrint(a.slice())).toBe(base);
    const bits = new Uint32Array(a.buffer);
    for (let w = 0; w < bits.length; w++) {
      const old = bits[w]!;
      // The smallest edit there is: the lowest bit of one word (half of one f64).
      bits[w] = old ^ 1;
      expect(contentPrint(a)).not.toBe(base);
      bits[w] = old;
    }
    expect(contentPrint(a)).toBe(base);
    // −0 and 0 compare equal but are different bytes: a changed upload, harmlessly.
    const z = new Float64Array([0, 1]);
    const zp = contentPrint(z);
    z[0] = -0;
    expect(contentPrint(z)).not.toBe(zp);
  });

  it('covers the tail past the last word, unaligned views and the length', () => {
    const bytes = Uint8Array.from({ length: 23 }, (_, i) => i * 7);
    const view = new Uint8Array(bytes.buffer, 3, 19);
    const base = contentPrint(view);
    for (let i = 0; i < view.length; i++) {
      view[i]! ^= 0x80;
      expect(contentPrint(view)).not.toBe(base);
      view[i]! ^= 0x80;
    }
    expect(contentPrint(new Uint8Array(bytes.buffer, 3, 18))).not.toBe(base);
    expect(contentPrint(new Int32Array(4))).not.toBe(contentPrint(new Int32Array(5)));
  });
});

describe('detachment', () => {
  it('tells a detached buffer from an empty one (Node 20 has no ArrayBuffer.prototype.detached)', () => {
    const a = new Float64Array(4);
    expect(isDetached(a)).toBe(false);
    expect(isDetached(new Uint8Array(new ArrayBuffer(0)))).toBe(false);
    expect(isDetached(new Uint8Array(new SharedArrayBuffer(8)))).toBe(false);
    detach(a);
    expect(a.length).toBe(0);
    expect(isDetached(a)).toBe(true);
  });
});

describe('webgpu inputs: adapter', () => {
  it.skipIf(!main && !required().includes('webgpu'))('has an adapter', () => {
    if (!main) expect.fail(`NUMKERN_REQUIRE names webgpu, but init failed: ${initError}`);
  });
});

describe.skipIf(!main)('the upload path (GpuRuntime.write, Lease.upload)', () => {
  /** Writes `data` through rt.write at byte `offset` of a fresh buffer and reads the buffer back. */
  async function roundTrip(rt: GpuRuntime, data: ArrayBufferView, offset = 0): Promise<Uint8Array> {
    const bytes = offset + data.byteLength;
    return rt.guard('roundTrip', undefined, async (lease) => {
      const buf = lease.acquire(bytes, STORAGE_OUT);
      const staging = lease.acquire(bytes, STAGING);
      rt.write(buf, data, 'data', offset);
      const enc = rt.device.createCommandEncoder();
      enc.copyBufferToBuffer(buf, 0, staging, 0, Math.ceil(bytes / 4) * 4);
      rt.submit(enc, undefined);
      const out = new Uint8Array(Math.ceil(bytes / 4) * 4);
      await readInto(staging, out);
      return out.subarray(offset, bytes);
    });
  }

  const asBytes = (v: ArrayBufferView) => new Uint8Array(v.buffer, v.byteOffset, v.byteLength).slice();

  it('writes views on a SharedArrayBuffer (which crashed the webgpu package) intact, at any offset', async () => {
    const rt = main!.runtime;
    const a = shared(randomArray(1000, 2, 'f32'));
    expect(await roundTrip(rt, a)).toEqual(asBytes(a));
    const part = a.subarray(13, 577);
    expect(await roundTrip(rt, part, 64)).toEqual(asBytes(part));
    const idx = shared(Int32Array.from({ length: 99 }, (_, i) => i * i - 50));
    expect(await roundTrip(rt, idx)).toEqual(asBytes(idx));
  });

  it('writes views on a resizable ArrayBuffer intact', async () => {
    const buf = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(64, { maxByteLength: 256 });
    const a = new Float32Array(buf);
    a.set(randomArray(16, 3, 'f32'));
    expect(await roundTrip(main!.runtime, a)).toEqual(asBytes(a));
  });

  it('refuses a detached view with E_SHAPE naming the argument, through write and Lease.upload', async () => {
    const rt = main!.runtime;
    const a = randomArray(64, 4, 'f32');
    detach(a);
    await rejectsWith(roundTrip(rt, a), 'E_SHAPE', 'data');
    await rejectsWith(rt.guard('upload', undefined, async (lease) => lease.upload(a, 'x')), 'E_SHAPE', 'x');
    // An empty attached view is fine: nothing to write.
    expect(await roundTrip(rt, new Float32Array(0), 16)).toHaveLength(0);
  });
});

// ------------------------------------------------------------------------------------------------

describe.skipIf(!main)('relax on webgpu: SharedArrayBuffer operands', () => {
  it.each(['cg', 'sor-redblack'] as const)('%s on a CSR matrix, b and x in shared memory solves as with ordinary arrays', async (method) => {
    const A = shifted(poisson2d(12), 0.3);
    const b = randomArray(144, 5);
    const x = new Float64Array(144);
    const ref = await solve(A, b, x, method);
    const xs = shared(new Float64Array(144));
    const got = await solve(sharedCsr(A), shared(b), xs, method);
    expect(got).toEqual(ref);
    expect([...xs]).toEqual([...x]);
  });

  it('a variable stencil with shared coefficients, and f32 operands in shared memory', async () => {
    const S = diffusion2d(10, (u, v) => 1 + u * v, { stencil: true }) as StencilOperator<Float64Array>;
    const c = S.coeffs as { kind: 'variable'; diag: Float64Array; offdiag: Float64Array[] };
    const Sh: StencilOperator = { ...S, coeffs: { kind: 'variable', diag: shared(c.diag), offdiag: c.offdiag.map(shared) } };
    const b = randomArray(100, 6);
    const x = new Float64Array(100);
    const ref = await solve(S, b, x, 'cg');
    expect(await solve(Sh, shared(b), new Float64Array(100), 'cg')).toEqual(ref);

    const A = shifted(poisson2d(10), 0.2);
    const A32: CsrMatrix = { ...A, rowPtr: shared(A.rowPtr), colIdx: shared(A.colIdx), values: shared(Float32Array.from(A.values)) };
    const out = await solve(A32, shared(Float32Array.from(b)), shared(new Float32Array(100)), 'cg');
    expect(out.converged).toBe(true);
  });

  it('a batch with shared operands', async () => {
    const A = shifted(poisson2d(10), 0.2);
    const systems = [0, 1].map((k) => ({ A: sharedCsr(A), b: shared(randomArray(100, 7 + k)), x: shared(new Float64Array(100)), omega: 1.2 }));
    const outs = await kernel('relaxSolveBatch').run({ systems, options: settings('sor-redblack') }, {});
    outs.forEach((o, k) => {
      expect(o.converged).toBe(true);
      expect(trueResidual(A, systems[k]!.b, systems[k]!.x)).toBeLessThanOrEqual(1e-8 * o.initialResidualNorm);
    });
  });
});

describe.skipIf(!main)('relax on webgpu: detached arrays', () => {
  const make = () => ({ A: shifted(poisson2d(12), 0.3), b: randomArray(144, 8), x: randomArray(144, 9) });

  it.each([
    ['A.values', (p: ReturnType<typeof make>) => p.A.values],
    ['A.colIdx', (p: ReturnType<typeof make>) => p.A.colIdx],
    ['A.rowPtr', (p: ReturnType<typeof make>) => p.A.rowPtr],
    ['b', (p: ReturnType<typeof make>) => p.b],
    ['x', (p: ReturnType<typeof make>) => p.x],
  ] as const)('%s detached before the call: E_SHAPE naming it', async (name, pick) => {
    const p = make();
    detach(pick(p));
    await rejectsWith(Promise.resolve(kernel('relaxSolve').run({ ...p, ...settings('cg') }, {})), 'E_SHAPE', name);
  });

  it.each(['b', 'A.values'] as const)('%s detached during the solve: E_SHAPE naming it, x left as it was', async (name) => {
    const p = make();
    const x0 = p.x.slice();
    let fired = false;
    const run = kernel('relaxSolve').run({ ...p, ...settings('jacobi', { tol: 1e-12 }) }, {
      onProgress: () => {
        if (fired) return;
        fired = true;
        detach(name === 'b' ? p.b : p.A.values);
      },
    });
    await rejectsWith(Promise.resolve(run), 'E_SHAPE', name);
    expect(fired).toBe(true);
    expect(p.x).toEqual(x0);
  });

  it('x detached during the solve: E_SHAPE naming it, instead of a TypeError on write-back', async () => {
    const p = make();
    let fired = false;
    const run = kernel('relaxSolve').run({ ...p, ...settings('cg') }, {
      onProgress: () => {
        if (!fired) detach(p.x);
        fired = true;
      },
    });
    await rejectsWith(Promise.resolve(run), 'E_SHAPE', 'x');
  });

  it('a batch names the system whose array was detached', async () => {
    const systems = [0, 1, 2].map((k) => ({ A: shifted(poisson2d(8), 0.2), b: randomArray(64, 10 + k), x: new Float64Array(64), omega: 1.2 }));
    detach(systems[1]!.b);
    const run = kernel('relaxSolveBatch').run({ systems, options: settings('cg') } as OpArgs<'relaxSolveBatch'>, {});
    await rejectsWith(Promise.resolve(run), 'E_SHAPE', 'systems[1].b');
  });
});

describe.skipIf(!main)('relax on webgpu: a matrix edited in place between solves', () => {
  it.each(['cg', 'sor-redblack', 'jacobi'] as const)('%s: the second solve with the same object sees the edit', async (method) => {
    const rt = main!.runtime;
    const A = shifted(poisson2d(16), 0.5);
    const b = randomArray(256, 11);
    const x1 = new Float64Array(256);
    expect((await solve(A, b, x1, method)).converged).toBe(true);
    const before = uploadStats(rt);

    // One diagonal entry, in place: a different matrix, same object.
    const diag = A.rowPtr[40]! + [...A.colIdx.subarray(A.rowPtr[40]!, A.rowPtr[41]!)].indexOf(40);
    A.values[diag] = A.values[diag]! + 3;
    const x2 = new Float64Array(256);
    const out = await solve(A, b, x2, method);
    expect(out.converged).toBe(true);
    // The answer is the edited system's: its own f64 residual meets the tolerance.
    expect(trueResidual(A, b, x2)).toBeLessThanOrEqual(1e-8 * out.initialResidualNorm);
    expect(out.residualNorm).toBe(trueResidual(A, b, x2));
    // Only the values travelled again; the structure (and colouring) stayed on the device.
    const after = uploadStats(rt);
    expect(after.uploads - before.uploads).toBe(1);

    // Unchanged again: nothing uploaded.
    await solve(A, b, new Float64Array(256), method);
    expect(uploadStats(rt).uploads).toBe(after.uploads);
  });

  it('a one-ulp edit of one off-diagonal value is noticed (a sampled check would miss it)', async () => {
    const rt = main!.runtime;
    const A = shifted(poisson2d(16), 0.5);
    const b = randomArray(256, 12);
    await solve(A, b, new Float64Array(256), 'cg');
    const before = uploadStats(rt).uploads;
    const k = 777;
    A.values[k] = A.values[k]! * (1 + 2 ** -52);
    await solve(A, b, new Float64Array(256), 'cg');
    expect(uploadStats(rt).uploads - before).toBe(1);
  });

  it('a variable stencil edited in place: the coefficients travel again', async () => {
    const rt = main!.runtime;
    const S = diffusion2d(12, (u, v) => 1 + u + v, { stencil: true }) as StencilOperator<Float64Array>;
    const c = S.coeffs as { kind: 'variable'; diag: Float64Array; offdiag: Float64Array[] };
    const b = randomArray(144, 13);
    await solve(S, b, new Float64Array(144), 'sor-redblack');
    const before = uploadStats(rt).uploads;
    c.diag[70] = c.diag[70]! * 2;
    const x = new Float64Array(144);
    const out = await solve(S, b, x, 'sor-redblack');
    expect(uploadStats(rt).uploads - before).toBe(1);
    expect(trueResidual(S, b, x)).toBeLessThanOrEqual(1e-8 * out.initialResidualNorm);
  });

  it('accepts() judges the matrix as it is now, not as it was first seen', () => {
    const A = poisson2d(6);
    const args = { A, b: new Float64Array(36).fill(1), x: new Float64Array(36), ...settings('cg') };
    expect(kernel('relaxSolve').accepts!(args)).toBeNull();
    A.values[1] = -1e300;
    expect(kernel('relaxSolve').accepts!(args)).toMatch(/beyond f32 range/);
  });
});
