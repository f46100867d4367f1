/** Reference BLAS-1 kernels: f64 accumulation whatever the input dtype, so they serve as the oracle. */
import type { FloatArray } from '../../core/types.js';

export function dot(x: FloatArray, y: FloatArray): number {
  const n = x.length;
  // Four accumulators break the add dependency chain (about 2x on V8) without changing the oracle's
  // role: the summation order is fixed and documented, and every backend is compared with a tolerance.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += x[i]! * y[i]!;
    s1 += x[i + 1]! * y[i + 1]!;
    s2 += x[i + 2]! * y[i + 2]!;
    s3 += x[i + 3]! * y[i + 3]!;
  }
  for (; i < n; i++) s0 += x[i]! * y[i]!;
  return s0 + s1 + (s2 + s3);
}

export function axpy(alpha: number, x: FloatArray, y: FloatArray): void {
  for (let i = 0; i < x.length; i++) y[i] = alpha * x[i]! + y[i]!;
}

/** ‖x‖₂: the plain sum of squares unless it over- or underflows, then the LAPACK-style rescaled pass. */
export function nrm2(x: FloatArray): number {
  const ss = dot(x, x);
  if (ss > 1e-290 && ss < 1e290) return Math.sqrt(ss);
  let scale = 0;
  for (let i = 0; i < x.length; i++) scale = Math.max(scale, Math.abs(x[i]!));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const t = x[i]! / scale;
    s += t * t;
  }
  return scale * Math.sqrt(s);
}
