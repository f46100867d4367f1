/**
 * Running a large native call in pieces on the calling thread, with the event loop turning between
 * them. Native kernels run synchronously on the caller's arrays (an async call would first have to copy
 * its operands, bindings/args.hpp), so a long one is cut into pieces of independent items (rows,
 * sequences, label tiles); each piece is a complete addon call that checks its arguments again, so an
 * array changed or detached in between is an error, never a stale pointer.
 */
import { throwIfAborted } from '../../core/errors.js';

export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs run(lo, hi) over items [0, count) in pieces of about `slice` units, where units(i) (nondecreasing
 * for valid input) counts the units before item i; between pieces the event loop turns and `signal` is
 * checked. At least one call is made, so even an empty call is checked. run returning false stops early.
 */
export async function inSlices(
  count: number, slice: number, units: (i: number) => number, run: (lo: number, hi: number) => boolean | void, signal?: AbortSignal,
): Promise<void> {
  for (let lo = 0; ; ) {
    // The first hi past lo whose piece reaches the slice (at least one item, even a huge one).
    const target = units(lo) + slice;
    let hi = Math.min(lo + 1, count);
    let top = count;
    while (hi < top) {
      const mid = (hi + top) >>> 1;
      if (units(mid) < target) hi = mid + 1;
      else top = mid;
    }
    if (run(lo, hi) === false) return;
    lo = hi;
    if (lo >= count) return;
    await yieldToLoop();
    throwIfAborted(signal);
  }
}
