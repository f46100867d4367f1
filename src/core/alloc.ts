/**
 * Typed arrays whose length comes from a caller (a size line, a sketch size): a length past what V8 or the
 * machine can give becomes NumkernError E_RANGE naming that argument, not a bare RangeError.
 */
import { totalmem } from 'node:os';
import { NumkernError } from './errors.js';
import type { FloatArray } from './types.js';

const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(1);

function allocFailed(what: string, n: number, bytes: number, cause: unknown): never {
  throw new NumkernError('E_RANGE', `${what}: cannot allocate ${n} elements (${gib(n * bytes)} GiB)`, { argument: what, cause });
}

/**
 * Refuses, before anything is allocated, a call whose arrays together would exceed the machine's memory:
 * the OS lends large zeroed buffers lazily, so such a call otherwise runs until the kernel's OOM killer
 * ends the process (diffusion2d(46340) asked for 86 GiB on a 24 GiB machine).
 */
export function checkMemory(bytes: number, what: string): void {
  if (bytes > totalmem()) fail(what, `needs ${gib(bytes)} GiB, more than this machine's ${gib(totalmem())} GiB`);
}

function fail(what: string, message: string): never {
  throw new NumkernError('E_RANGE', `${what}: ${message}`, { argument: what });
}

export function allocI32(n: number, what: string): Int32Array {
  checkMemory(4 * n, what);
  try {
    return new Int32Array(n);
  } catch (e) {
    return allocFailed(what, n, 4, e);
  }
}

export function allocF64(n: number, what: string): Float64Array {
  checkMemory(8 * n, what);
  try {
    return new Float64Array(n);
  } catch (e) {
    return allocFailed(what, n, 8, e);
  }
}

export function allocFloat(like: FloatArray, n: number, what: string): FloatArray {
  checkMemory(like.BYTES_PER_ELEMENT * n, what);
  try {
    return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  } catch (e) {
    return allocFailed(what, n, like.BYTES_PER_ELEMENT, e);
  }
}
