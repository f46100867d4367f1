/**
 * Device-to-host transfers: results are copied into a MAP_READ staging buffer inside the same
 * submit as the kernel, then mapped and copied straight into the caller's array, so the only host
 * allocation is the one the caller already made.
 */
import { MAP_MODE_READ } from './buffers.js';

/** Encodes the copy of `bytes` from `src` into `staging` (both offsets and the size multiples of 4). */
export function copyToStaging(
  encoder: GPUCommandEncoder, src: GPUBuffer, staging: GPUBuffer, bytes: number, srcOffset = 0, stagingOffset = 0,
): void {
  encoder.copyBufferToBuffer(src, srcOffset, staging, stagingOffset, bytes);
}

/**
 * Maps `staging` after the submit that filled it and copies its first `dest.byteLength` bytes into
 * `dest`, then unmaps. Rejects when the device is lost while the map is pending.
 */
export async function readInto(staging: GPUBuffer, dest: ArrayBufferView): Promise<void> {
  const bytes = dest.byteLength;
  if (bytes === 0) return;
  await staging.mapAsync(MAP_MODE_READ, 0, bytes);
  try {
    new Uint8Array(dest.buffer, dest.byteOffset, bytes).set(new Uint8Array(staging.getMappedRange(0, bytes)));
  } finally {
    staging.unmap();
  }
}

/** A copy of the first `count` f32 values of `staging`, for small results such as reduction partials. */
export async function readF32(staging: GPUBuffer, count: number): Promise<Float32Array> {
  const out = new Float32Array(count);
  await readInto(staging, out);
  return out;
}
