/**
 * Problem sizes of the GPU bench cases: full size on a GPU machine, small with --quick (the runner sets
 * NUMKERN_GPU_BENCH_QUICK before it imports the case lists), enough to exercise every case on a
 * software adapter.
 */
export const QUICK = process.env.NUMKERN_GPU_BENCH_QUICK === '1';

/** Relative difference of two norms (0 when both are 0). */
export function relDiff(a: number, b: number): number {
  const scale = Math.max(Math.abs(a), Math.abs(b));
  return scale === 0 ? 0 : Math.abs(a - b) / scale;
}

/** max_i |a_i − b_i| / max_i |b_i|: the error of a relative to b in the max norm. */
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return scale === 0 ? err : err / scale;
}
