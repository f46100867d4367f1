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
 * Runs run(lo, hi) over items [0, count) in pieces of about `slice` units (the last up to 9/8 of it),
 * where units(i) (nondecreasing for valid input) counts the units before item i, units(count) all of them;
 * between pieces the event loop turns and `signal` is checked. At least one call is made, so even an
 * empty call is checked. run returning false stops early.
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
    // A remainder under an eighth of a slice joins this piece: a piece of its own would cost a thread
    // fork and a loop turn for next to no work (the 256×16×2048 pg loss batch is 2^23 tokens plus one unit
    // per sequence, so its last two sequences were a piece of their own: 0.1–0.4 ms of a ~4 ms call).
    if (hi < count && units(count) - units(hi) < slice / 8) hi = count;
    if (run(lo, hi) === false) return;
    lo = hi;
    if (lo >= count) return;
    await yieldToLoop();
    throwIfAborted(signal);
  }
}
