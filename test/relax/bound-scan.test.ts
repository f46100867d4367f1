/**
 * The native bound scan (bindings/linalg.cc firstBeyond, lent to core's withinBound through
 * registerBoundScan, src/core/validate.ts) against the JS loops it stands in for in the relax checks: the same verdict and the same NumkernError for b and
 * x0 (checkFinite, then checkMagnitude over the whole array), and the same answer as `!Number.isFinite`
 * for the returned x — NaN, ±Inf and magnitudes just past MAX_MAGNITUDE at every position class (first,
 * last, the scan's block edges), with a later bad value of the other kind, f32 and f64, views.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/backends/addon/load.js';
import { registerBoundScan } from '../../src/core/validate.js';
import { checkBoundedVector, hasNonFinite, MAX_MAGNITUDE } from '../../src/relax/validate.js';
import { rng } from '../support/backends.js';

const { addon } = loadNative();
const scan = addon?.firstBeyond?.bind(addon);
const lent = registerBoundScan(null);
registerBoundScan(lent);
afterAll(() => {
  registerBoundScan(lent);
});

function outcome(a: Float32Array | Float64Array, native: boolean): string {
  registerBoundScan(native ? scan! : null);
  try {
    checkBoundedVector(a, 'b');
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

function nonFinite(a: Float32Array | Float64Array, native: boolean): boolean {
  registerBoundScan(native ? scan! : null);
  return hasNonFinite(a);
}

describe.skipIf(!scan)('native bound scan', () => {
  const r = rng(11);
  for (const Ctor of [Float32Array, Float64Array]) {
    const big = Ctor === Float64Array ? 1.0000000001e150 : Infinity; // f32 cannot hold a finite value past 1e150
    for (const n of [511, 512, 1500, 4096, 5000]) {
      it(`${Ctor.name} of ${n}: same verdict and message as the JS loops`, () => {
        const a = new Ctor(n);
        for (let i = 0; i < n; i++) a[i] = r() * 2e30 - 1e30;
        expect(outcome(a, true)).toBe('ok');
        expect(nonFinite(a, true)).toBe(false);
        expect(scan!(a, MAX_MAGNITUDE)).toBe(-1);
        for (const p of [0, 1023, 1024, 1025, n - 1, Math.floor(r() * n)].filter((q) => q < n)) {
          for (const bad of [NaN, Infinity, -Infinity, big, -big]) {
            for (const later of [NaN, big]) {
              const c = a.slice();
              c[p] = bad;
              if (p + 5 < n) c[p + 5] = later; // the checks' order decides which one is named
              const js = outcome(c, false);
              expect(js).toMatch(/^E_(NONFINITE|RANGE): b: /);
              expect(outcome(c, true)).toBe(js);
              expect(scan!(c, MAX_MAGNITUDE)).toBe(p);
              expect(nonFinite(c, true)).toBe(nonFinite(c, false));
            }
          }
        }
      });
    }
  }

  it('the binding refuses what is not a float array and a number bound (a thrown error, no crash)', () => {
    const call = scan as unknown as (...args: unknown[]) => number;
    for (const args of [['x', 1], [new Int32Array(600), 1], [new Float64Array(600)], [new Float64Array(600), 'big'], [null, 1]]) {
      expect(() => call(...args)).toThrow();
    }
    expect(call(new Float64Array(0), 1)).toBe(-1);
  });

  it('the bound itself, the largest finite, subnormals and −0 pass; views are read as views', () => {
    const a = new Float64Array(3000).fill(1);
    a[7] = MAX_MAGNITUDE;
    a[8] = -MAX_MAGNITUDE;
    a[9] = 5e-324;
    a[10] = -0;
    expect(outcome(a, true)).toBe('ok');
    a[11] = Number.MAX_VALUE;
    expect(nonFinite(a, true)).toBe(false);
    expect(outcome(a, true)).toBe(outcome(a, false));
    const v = new Float64Array(4000).fill(2);
    v[100] = NaN;
    expect(scan!(v.subarray(200), MAX_MAGNITUDE)).toBe(-1);
    expect(scan!(v.subarray(50), MAX_MAGNITUDE)).toBe(50);
    expect(nonFinite(v.subarray(200), true)).toBe(false);
    expect(nonFinite(v.subarray(50), true)).toBe(true);
  });
});
