/**
 * Multicolor ordering for parallel SOR: greedy colouring in natural order (each row takes the smallest
 * colour none of its already-coloured neighbours has). On 5- and 7-point grids this is exactly the
 * red-black checkerboard, colour (i + j [+ k]) mod 2, red first.
 */
import { contentPrint } from './fingerprint.js';
import type { CsrMatrix } from './types.js';

export interface Coloring {
  /** Rows grouped by colour, ascending within a colour. */
  readonly order: Int32Array;
  /** Colour c owns order[offsets[c] .. offsets[c+1]). */
  readonly offsets: Int32Array;
  readonly colors: number;
}

/**
 * Colourings by the identity of the index arrays, checked against a fingerprint of their content: a
 * stale colouring of an edited pattern would let red-black rows of one colour depend on each other.
 */
const cache = new WeakMap<Int32Array, WeakMap<Int32Array, { print: string; coloring: Coloring }>>();

/** Rows i and j conflict when a_ij or a_ji is stored; the pattern is symmetrized on the fly. */
export function multicolorOrdering(A: CsrMatrix): Coloring {
  const print = `${contentPrint(A.rowPtr)}/${contentPrint(A.colIdx)}`;
  const hit = cache.get(A.rowPtr)?.get(A.colIdx);
  if (hit?.print === print) return hit.coloring;
  const n = A.nrows;
  const color = new Int32Array(n).fill(-1);
  // Lower neighbours through the transpose: row j > i sees i via a_ij with i < j, or via a_ji.
  const tPtr = new Int32Array(n + 1);
  for (let p = 0; p < A.colIdx.length; p++) tPtr[A.colIdx[p]! + 1]!++;
  for (let i = 0; i < n; i++) tPtr[i + 1]! += tPtr[i]!;
  const tIdx = new Int32Array(A.colIdx.length);
  const fill = tPtr.slice(0, n);
  for (let i = 0; i < n; i++) for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) tIdx[fill[A.colIdx[p]!]!++] = i;
  let maxDegree = 0;
  for (let i = 0; i < n; i++) maxDegree = Math.max(maxDegree, A.rowPtr[i + 1]! - A.rowPtr[i]! + tPtr[i + 1]! - tPtr[i]!);
  // Greedy never needs more colours than the largest degree plus one.
  const used = new Int32Array(maxDegree + 1).fill(-1);
  let colors = 0;
  for (let i = 0; i < n; i++) {
    const mark = (j: number) => {
      if (j < i && color[j]! >= 0) used[color[j]!] = i;
    };
    for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) mark(A.colIdx[p]!);
    for (let p = tPtr[i]!; p < tPtr[i + 1]!; p++) mark(tIdx[p]!);
    let c = 0;
    while (used[c] === i) c++;
    color[i] = c;
    colors = Math.max(colors, c + 1);
  }
  const offsets = new Int32Array(colors + 1);
  for (let i = 0; i < n; i++) offsets[color[i]! + 1]!++;
  for (let c = 0; c < colors; c++) offsets[c + 1]! += offsets[c]!;
  const order = new Int32Array(n);
  const next = offsets.slice(0, colors);
  for (let i = 0; i < n; i++) order[next[color[i]!]!++] = i;
  const result = { order, offsets, colors };
  let inner = cache.get(A.rowPtr);
  if (!inner) cache.set(A.rowPtr, (inner = new WeakMap()));
  inner.set(A.colIdx, { print, coloring: result });
  return result;
}
