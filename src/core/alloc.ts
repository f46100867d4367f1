/**
 * Typed arrays whose length comes from a caller (a size line, a sketch size): a length past what V8 or the
 * machine can give becomes NumkernError E_RANGE naming that argument, not a bare RangeError.
 */
import { NumkernError } from './errors.js';
import type { FloatArray } from './types.js';

function allocFailed(what: string, n: number, bytes: number, cause: unknown): never {
  throw new NumkernError('E_RANGE', `${what}: cannot allocate ${n} elements (${((n * bytes) / 2 ** 30).toFixed(1)} GiB)`, { argument: what, cause });
}

export function allocI32(n: number, what: string): Int32Array {
  try {
    return new Int32Array(n);
  } catch (e) {
    return allocFailed(what, n, 4, e);
  }
}

export function allocF64(n: number, what: string): Float64Array {
  try {
    return new Float64Array(n);
  } catch (e) {
    return allocFailed(what, n, 8, e);
  }
}

export function allocFloat(like: FloatArray, n: number, what: string): FloatArray {
  try {
    return like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  } catch (e) {
    return allocFailed(what, n, like.BYTES_PER_ELEMENT, e);
  }
}
