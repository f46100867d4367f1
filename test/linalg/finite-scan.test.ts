/**
 * The native finite scan (bindings/linalg.cc firstNonFinite, lent to core's checkFinite) against
 * checkFinite's JS loop: the same first index, hence the same NumkernError, for NaN, +Inf and −Inf at
 * every position class (first, last, block edges of the native scan, several bad values), f32 and f64.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/backends/addon/load.js';
import { checkFinite, registerFiniteScan } from '../../src/core/validate.js';
import { rng } from '../support/backends.js';

const { addon } = loadNative();
const scan = addon?.firstNonFinite;
afterAll(() => registerFiniteScan(scan ?? null));

function outcome(a: Float32Array | Float64Array, native: boolean): string {
  registerFiniteScan(native ? scan! : null);
  try {
    checkFinite(a, 'x');
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

describe.skipIf(!scan)('native finite scan', () => {
  const r = rng(7);
  const lengths = [255, 256, 1023, 2047, 2048, 3000, 5000, 1 << 16];
  for (const Ctor of [Float32Array, Float64Array]) {
    for (const n of lengths) {
      it(`${Ctor.name} of ${n}: same verdict and message as the JS loop`, () => {
        const positions = [0, 1023, 1024, 1025, n - 1, Math.floor(r() * n)].filter((p) => p < n);
        const a = new Ctor(n);
        for (let i = 0; i < n; i++) a[i] = r() * 2e30 - 1e30;
        expect(outcome(a, true)).toBe('ok');
        expect(scan!(a)).toBe(-1);
        for (const p of positions) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const b = a.slice();
            b[p] = bad;
            if (p + 7 < n) b[p + 7] = NaN; // a later bad value must not be the one reported
            const js = outcome(b, false);
            expect(js).toBe(`E_NONFINITE: x: element ${p} is ${bad}`);
            expect(outcome(b, true)).toBe(js);
            expect(scan!(b)).toBe(p);
          }
        }
      });
    }
  }

  it('subarrays: the scan reads the view, not its buffer', () => {
    const a = new Float64Array(10000).fill(1);
    a[100] = NaN;
    a[9000] = Infinity;
    expect(scan!(a.subarray(200, 8000))).toBe(-1);
    expect(scan!(a.subarray(50, 8000))).toBe(50);
    expect(outcome(a.subarray(8500), true)).toBe('E_NONFINITE: x: element 500 is Infinity');
  });

  it('extreme finite values pass: the largest finite, subnormals, −0', () => {
    const a = new Float64Array(4096).fill(-0);
    a[1] = Number.MAX_VALUE;
    a[2] = -Number.MAX_VALUE;
    a[3] = 5e-324;
    const f = new Float32Array(4096);
    f[5] = 3.4028234663852886e38;
    f[6] = 1.4e-45;
    expect(scan!(a)).toBe(-1);
    expect(scan!(f)).toBe(-1);
  });
});
