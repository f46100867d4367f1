/**
 * Work arrays a family's call uses internally and never hands to its caller, kept between calls. Fresh
 * memory costs a page fault per 4 KiB at first touch (~10 µs on the development VM: 8 ms for the 3.2 MB
 * sketch of a 200000 × 200 CountSketch sketch-and-solve, 26 ms for the 10 MB one of
 * sketch-and-precondition), so a call needing the length the last one needed takes that array back.
 *
 * An array taken is the taker's alone until given back, so concurrent calls never share one; give it
 * back only after every kernel that writes it has settled (not from an error path, where an aborted
 * asynchronous kernel may still hold it). At most KEEP_BYTES stay kept, the most recently given first.
 */
import { isDetached } from './validate.js';

const KEEP_BYTES = 32 << 20;
const kept: Float64Array[] = [];
let keptBytes = 0;

/** A Float64Array of n zeros: a kept one of that length, cleared, or a new one. */
export function takeZeroed(n: number): Float64Array {
  const k = kept.findIndex((a) => a.length === n);
  if (k < 0) return new Float64Array(n);
  const a = kept.splice(k, 1)[0]!;
  keptBytes -= a.byteLength;
  return a.fill(0);
}

/** Keeps a taken array for later calls; the oldest kept ones are dropped past KEEP_BYTES. */
export function giveBack(a: Float64Array): void {
  if (a.byteLength > KEEP_BYTES || isDetached(a) || kept.includes(a)) return;
  kept.push(a);
  keptBytes += a.byteLength;
  while (keptBytes > KEEP_BYTES) keptBytes -= kept.shift()!.byteLength;
}

/** How many arrays and bytes are kept (tests). */
export function keptScratch(): { arrays: number; bytes: number } {
  return { arrays: kept.length, bytes: keptBytes };
}
