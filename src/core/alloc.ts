/**
 * Typed arrays whose length comes from a caller (a size line, a sketch size): a length past what V8 or the
 * machine can give becomes NumkernError E_RANGE naming that argument, not a bare RangeError.
 */
import { totalmem } from 'node:os';
import { fail, NumkernError } from './errors.js';
import type { FloatArray } from './types.js';

const gib = (bytes: number): string => (bytes / 2 ** 30).toFixed(1);

function allocFailed(what: string, n: number, bytes: number, cause: unknown): never {
  throw new NumkernError('E_RANGE', `${what}: cannot allocate ${n} elements (${gib(n * bytes)} GiB)`, { argument: what, cause });
}

/**
 * Refuses, before anything is allocated, a call whose arrays together would exceed the machine's memory:
 * the OS lends large zeroed buffers lazily, so such a call otherwise runs until the kernel's OOM killer
 * ends the process (diffusion2d(46340) asked for 80 GiB on a 23.5 GiB machine).
 */
export function checkMemory(bytes: number, what: string): void {
  if (bytes > totalmem()) fail('E_RANGE', what, `needs ${gib(bytes)} GiB, more than this machine's ${gib(totalmem())} GiB`);
}

/** make(n) after the memory check; a length V8 refuses, or memory it cannot get, becomes E_RANGE naming `what`. */
function alloc<A>(make: (n: number) => A, n: number, bytes: number, what: string): A {
  checkMemory(bytes * n, what);
  try {
    return make(n);
  } catch (e) {
    return allocFailed(what, n, bytes, e);
  }
}

export const allocI32 = (n: number, what: string): Int32Array => alloc((k) => new Int32Array(k), n, 4, what);

export const allocF64 = (n: number, what: string): Float64Array => alloc((k) => new Float64Array(k), n, 8, what);

export const allocFloat = (like: FloatArray, n: number, what: string): FloatArray =>
  alloc((k): FloatArray => (like instanceof Float32Array ? new Float32Array(k) : new Float64Array(k)), n, like.BYTES_PER_ELEMENT, what);
