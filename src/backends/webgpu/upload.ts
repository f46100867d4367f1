/**
 * The one path a caller's array takes to the device. Every kernel writes host data through
 * writeView() (or GpuRuntime.write / Lease.upload, which call it), so the checks below hold for
 * every family:
 *  - A view on a SharedArrayBuffer crashes the `webgpu` package inside queue.writeBuffer (SIGSEGV
 *    in 0.6.x; a TypeError when the buffer itself is passed), and another thread may write the
 *    memory while Dawn copies it. Such views, and any whose buffer is not a plain fixed-length
 *    ArrayBuffer, are copied into an ordinary one first.
 *  - A view whose ArrayBuffer was detached (transferred) reads as length 0, and Dawn then writes
 *    nothing, silently leaving stale device memory in its place: that is a NumkernError naming the
 *    argument, never garbage.
 */
import { checkAttached } from '../../core/validate.js';

/**
 * Whether Dawn may read the view's memory directly: an ordinary, non-resizable ArrayBuffer. The tag
 * test (rather than instanceof) accepts ArrayBuffers from other realms, which Dawn reads fine.
 */
function plainArrayBuffer(buffer: ArrayBufferLike): boolean {
  return Object.prototype.toString.call(buffer) === '[object ArrayBuffer]' && (buffer as { resizable?: boolean }).resizable !== true;
}

/**
 * The bytes of `view` in memory Dawn can take: the view's own buffer when it is a plain
 * ArrayBuffer, else a private copy. Throws E_SHAPE when the view is detached.
 */
export function uploadBytes(view: ArrayBufferView, name: string): { buffer: ArrayBuffer; offset: number; bytes: number } {
  checkAttached(view, name);
  if (plainArrayBuffer(view.buffer)) return { buffer: view.buffer as ArrayBuffer, offset: view.byteOffset, bytes: view.byteLength };
  const copy = new Uint8Array(view.byteLength);
  copy.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  return { buffer: copy.buffer, offset: 0, bytes: copy.byteLength };
}

/**
 * queue.writeBuffer for a caller's array, after the checks above. `name` is the argument the view
 * came from ('x', 'A.values'), used in the error. Nothing is written for an empty view.
 */
export function writeView(queue: GPUQueue, target: GPUBuffer, targetOffset: number, view: ArrayBufferView, name: string): void {
  const { buffer, offset, bytes } = uploadBytes(view, name);
  if (bytes > 0) queue.writeBuffer(target, targetOffset, buffer, offset, bytes);
}
