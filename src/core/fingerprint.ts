/**
 * Content fingerprints for caches keyed by a caller's array (docs/ARCHITECTURE.md §9: "a cache keyed by an input
 * object detects in-place edits"). Identity alone lets a solve after `A.values[k] = v` run on the
 * stale device copy and return a false answer.
 *
 * The fingerprint reads every byte: four interleaved FNV-1a-style lanes over 32-bit words,
 * h ← (h ⊕ w)·p mod 2³² with p odd. For a fixed h the step is a bijection of w, and for a fixed w a
 * bijection of h, so changing any single word changes its lane's final value: a single edited
 * value is always detected, not just with high probability (a sampled fingerprint would miss
 * it). Several edits collide only by chance (2⁻¹²⁸ for unrelated data). Four lanes keep four
 * multiply chains in flight: ≈ 3 GB/s, a few ms for a million f64 nonzeros, well under one upload.
 */

const PRIME = 0x01000193;

/** A string that changes whenever any byte of `view` (or its length) does. */
export function contentPrint(view: ArrayBufferView): string {
  const bytes = view.byteLength;
  const words = bytes >>> 2;
  const w = (view.byteOffset & 3) === 0 ? new Int32Array(view.buffer, view.byteOffset, words) : null;
  let a = 0x811c9dc5 | 0;
  let b = 0x1b873593 | 0;
  let c = 0x9e3779b9 | 0;
  let d = 0x85ebca6b | 0;
  let i = 0;
  if (w) {
    for (; i + 4 <= words; i += 4) {
      a = Math.imul(a ^ w[i]!, PRIME);
      b = Math.imul(b ^ w[i + 1]!, PRIME);
      c = Math.imul(c ^ w[i + 2]!, PRIME);
      d = Math.imul(d ^ w[i + 3]!, PRIME);
    }
    for (; i < words; i++) a = Math.imul(a ^ w[i]!, PRIME);
    i *= 4;
  }
  // The tail past the last whole word, or every byte of a view that is not word-aligned.
  const u8 = new Uint8Array(view.buffer, view.byteOffset, bytes);
  for (; i < bytes; i++) b = Math.imul(b ^ u8[i]!, PRIME);
  return `${bytes}:${(a >>> 0).toString(36)}:${(b >>> 0).toString(36)}:${(c >>> 0).toString(36)}:${(d >>> 0).toString(36)}`;
}
