/**
 * Philox4x32-10 on the device (kernels/core/philox.wgsl), exposed for tests and for checking the
 * WGSL generator against the CPU one and the Random123 known-answer vectors.
 */
import type { KernelControl } from '../../core/backend.js';
import { NumkernError } from '../../core/errors.js';
import { STAGING, STORAGE_OUT, UNIFORM } from './buffers.js';
import type { GpuRuntime } from './dispatch.js';
import { copyToStaging, readInto } from './readback.js';

export interface PhiloxFillOptions {
  /** Counter of element 0 as four 32-bit words (c0 least significant); element i uses counter + i (128-bit). */
  readonly counter: readonly [number, number, number, number];
  readonly key: readonly [number, number];
  /** Number of 4-word outputs. */
  readonly count: number;
}

/**
 * Returns count·4 words: words 4i .. 4i+3 are philox4x32(counter + i, key), computed on the device.
 * Accepts the backend instance (its `runtime`) or the runtime itself.
 */
export async function webgpuPhiloxFill(
  target: GpuRuntime | { readonly runtime: GpuRuntime }, options: PhiloxFillOptions, ctl: KernelControl = {},
): Promise<Uint32Array> {
  const rt = 'runtime' in target ? target.runtime : target;
  const { count } = options;
  if (!Number.isInteger(count) || count < 0) {
    throw new NumkernError('E_RANGE', `count: expected a non-negative integer, got ${count}`, { argument: 'count' });
  }
  const words = [...options.counter, ...options.key];
  if (words.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff)) {
    throw new NumkernError('E_RANGE', 'counter, key: expected 32-bit unsigned words', { argument: 'counter' });
  }
  const out = new Uint32Array(count * 4);
  if (count === 0) return out;
  const base = options.counter.reduce((acc, w, i) => acc | (BigInt(w) << BigInt(32 * i)), 0n);
  await rt.guard('philoxFill', ctl.signal, async (lease) => {
    const pipeline = await rt.pipeline('core/philox_fill.wgsl');
    const chunk = Math.min(count, rt.bindingElements(16));
    const outBuf = lease.acquire(chunk * 16, STORAGE_OUT);
    const staging = lease.acquire(chunk * 16, STAGING);
    const ub = lease.acquire(32, UNIFORM);
    const params = new Uint32Array(8);
    params[4] = options.key[0];
    params[5] = options.key[1];
    for (let off = 0; off < count; off += chunk) {
      const len = Math.min(chunk, count - off);
      const ctr = (base + BigInt(off)) & ((1n << 128n) - 1n);
      for (let w = 0; w < 4; w++) params[w] = Number((ctr >> BigInt(32 * w)) & 0xffffffffn);
      params[6] = len;
      rt.device.queue.writeBuffer(ub, 0, params);
      const enc = rt.device.createCommandEncoder();
      rt.dispatch(enc, pipeline, [ub, { buffer: outBuf, size: len * 16 }], Math.ceil(len / rt.workgroupSize));
      copyToStaging(enc, outBuf, staging, len * 16);
      rt.submit(enc, ctl.signal);
      await readInto(staging, out.subarray(off * 4, (off + len) * 4));
    }
  });
  return out;
}
