import type { FloatArray } from '../../core/types.js';

/**
 * Two-pass moments per segment: the mean first, then Σ(v − mean)², which avoids the cancellation of
 * the one-pass Σv² − n·mean² formula (Chan, Golub & LeVeque 1983).
 */
export function segmentedMoments(
  values: FloatArray, offsets: Int32Array, ddof: number, sum: FloatArray, mean: FloatArray, variance: FloatArray,
): void {
  for (let s = 0; s + 1 < offsets.length; s++) {
    const start = offsets[s]!;
    const end = offsets[s + 1]!;
    const count = end - start;
    let acc = 0;
    for (let i = start; i < end; i++) acc += values[i]!;
    const mu = count > 0 ? acc / count : 0;
    let m2 = 0;
    for (let i = start; i < end; i++) {
      const d = values[i]! - mu;
      m2 += d * d;
    }
    sum[s] = acc;
    mean[s] = mu;
    variance[s] = count > ddof ? m2 / (count - ddof) : 0;
  }
}
