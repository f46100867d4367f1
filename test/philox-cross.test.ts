/**
 * One Philox stream, three implementations: the TS generator (src/core/philox.ts), the C++ one
 * (native/include/numkern/philox.hpp, through the addon) and the WGSL one (kernels/core/philox.wgsl)
 * must give the same words for the same (seed, stream, element index), carries across 2^32 blocks included.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { philoxFill, seedToKey } from '../src/core/philox.js';
import { loadNative } from '../src/backends/addon/load.js';
import { webgpuPhiloxFill } from '../src/backends/webgpu/philox.js';
import { openForConformance } from './support/backends.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());
const { addon } = loadNative();

const cases: [string, bigint, number, number][] = [
  ['seed 0, stream 0, from 0', 0n, 0, 0],
  ['64-bit seed, odd start', 0x0123456789abcdefn, 3, 5],
  ['block index crossing 2^32', 42n, 7, 2 ** 34 - 6],
];

describe.each(cases)('%s', (_name, seed, stream, start) => {
  const ts = philoxFill(seed, stream, start, new Uint32Array(64));

  it.skipIf(!backends.includes('native'))('native matches TS word for word', () => {
    const out = new Uint32Array(64);
    addon!.philoxFill(seedToKey(seed), stream, start, out);
    expect(out).toEqual(ts);
  });

  it.skipIf(!backends.includes('webgpu'))('WGSL matches TS word for word', async () => {
    // Element j lives in block floor(j/4), word j mod 4, counter (block low, block high, stream, 0).
    const first = Math.floor(start / 4);
    const blocks = Math.ceil((start + 64) / 4) - first;
    const { createWebgpuBackend } = await import('../src/backends/webgpu/index.js');
    const be = await createWebgpuBackend().init({ allowSoftwareAdapter: true, threads: 0 });
    try {
      const words = await webgpuPhiloxFill(be, {
        counter: [first % 2 ** 32, Math.floor(first / 2 ** 32), stream, 0],
        key: [seedToKey(seed)[0]!, seedToKey(seed)[1]!],
        count: blocks,
      });
      const off = start - 4 * first;
      expect(words.subarray(off, off + 64)).toEqual(ts);
    } finally {
      await be.dispose();
    }
  });
});
