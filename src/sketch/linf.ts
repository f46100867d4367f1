/**
 * ctx.sketch.linfError: the coordinate-wise error of a solution against a reference, the quantity the
 * ℓ∞ guarantee bounds (docs/sketch.md §5; Price–Song–Woodruff 2017, Song–Ye–Yin–Zhang 2023).
 */
import { fail } from '../core/errors.js';
import type { FloatArray } from '../core/types.js';
import { checkFinite, checkFloatArray, checkLength } from '../core/validate.js';

export interface LinfError {
  /** max_i |x_i − xRef_i|. */
  readonly error: number;
  /** error / max_i |xRef_i| (0 when both are 0, Infinity when only xRef is). */
  readonly relative: number;
  /** The first index attaining the maximum (−1 for empty vectors). */
  readonly index: number;
}

export function linfError(x: FloatArray, xRef: FloatArray): LinfError {
  checkFloatArray(x, 'x');
  checkFloatArray(xRef, 'xRef');
  checkLength(x, xRef.length, 'x');
  checkFinite(x, 'x');
  checkFinite(xRef, 'xRef');
  let error = 0;
  let index = x.length > 0 ? 0 : -1;
  let ref = 0;
  for (let i = 0; i < x.length; i++) {
    const e = Math.abs(x[i]! - xRef[i]!);
    if (e > error) {
      error = e;
      index = i;
    }
    ref = Math.max(ref, Math.abs(xRef[i]!));
  }
  if (!Number.isFinite(error)) fail('E_RANGE', 'x', 'the difference overflows f64');
  return { error, relative: ref > 0 ? error / ref : error > 0 ? Infinity : 0, index };
}
