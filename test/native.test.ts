/**
 * The N-API addon on its own: info(), every kernel against a plain JS loop in f32 and f64, the Async
 * twins, argument checks (never a crash), Philox known-answer vectors, the machine probes, and the
 * native/cuda backend factories. Skipped when the addon is not built, unless NUMKERN_REQUIRE names
 * 'native', in which case a missing addon fails the run.
 */
import { describe, expect, it } from 'vitest';
import type { OpArgs, OpName } from '../src/core/ops.js';
import { NumkernError } from '../src/core/errors.js';
import type { AnyKernel, KernelSpec } from '../src/core/backend.js';
import { loadNative, loadNativeUncached, type NativeAddon } from '../src/backends/addon/load.js';
import { nativeBackend } from '../src/backends/native/index.js';
import { linalgKernels } from '../src/backends/native/linalg.js';
import { relaxAddon, relaxKernels } from '../src/backends/native/relax.js';
import { registerBackend } from '../src/core/engine.js';
import { cudaBackend } from '../src/backends/cuda/index.js';
import { randomArray, required, rng } from './support/backends.js';

const { addon: loaded, reason } = loadNative();

describe.runIf(required().includes('native'))('native addon required by NUMKERN_REQUIRE', () => {
  it('loads', () => {
    expect(reason).toBeNull();
  });
});

type Float = Float32Array | Float64Array;
type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const DTYPES: ReadonlyArray<readonly [string, Ctor]> = [
  ['f32', Float32Array],
  ['f64', Float64Array],
];

const dtypeOf = (C: Ctor): 'f32' | 'f64' => (C === Float32Array ? 'f32' : 'f64');

interface Csr {
  nrows: number;
  ncols: number;
  rowPtr: Int32Array;
  colIdx: Int32Array;
  values: Float;
}

/** 5-point Laplacian on an m×m grid. */
function poisson(C: Ctor, m: number): Csr {
  const n = m * m;
  const rowPtr = new Int32Array(n + 1);
  const colIdx = new Int32Array(5 * n);
  const values = new C(5 * n);
  let k = 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      const r = i * m + j;
      const put = (c: number, v: number): void => {
        colIdx[k] = c;
        values[k++] = v;
      };
      if (i > 0) put(r - m, -1);
      if (j > 0) put(r - 1, -1);
      put(r, 4);
      if (j < m - 1) put(r + 1, -1);
      if (i < m - 1) put(r + m, -1);
      rowPtr[r + 1] = k;
    }
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: colIdx.slice(0, k), values: values.slice(0, k) };
}

/** Random CSR with ragged rows, some empty, sorted distinct columns. */
function randomCsr(C: Ctor, nrows: number, ncols: number, seed: number): Csr {
  const r = rng(seed);
  const rowPtr = new Int32Array(nrows + 1);
  const cols: number[] = [];
  for (let i = 0; i < nrows; i++) {
    const len = r() < 0.2 ? 0 : Math.floor(r() * Math.min(ncols, 12));
    const set = new Set<number>();
    while (set.size < len) set.add(Math.floor(r() * ncols));
    cols.push(...[...set].sort((a, b) => a - b));
    rowPtr[i + 1] = cols.length;
  }
  return { nrows, ncols, rowPtr, colIdx: Int32Array.from(cols), values: randomArray(cols.length, seed + 1, dtypeOf(C)) };
}

/** y = A x in double, and the bound Σ|a||x| per row for tolerances. */
function spmvRef(A: Csr, x: Float): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(A.nrows);
  const mag = new Float64Array(A.nrows);
  for (let i = 0; i < A.nrows; i++) {
    let s = 0;
    let m = 0;
    for (let k = A.rowPtr[i]; k < A.rowPtr[i + 1]; k++) {
      s += A.values[k] * x[A.colIdx[k]];
      m += Math.abs(A.values[k] * x[A.colIdx[k]]);
    }
    y[i] = s;
    mag[i] = m;
  }
  return { y, mag };
}

/** Relative tolerance of a result computed in the dtype (rounded inputs, dtype or double accumulation). */
const eps = (C: Ctor): number => (C === Float32Array ? 2 ** -23 : 2 ** -52);

function momentsRef(values: Float, offsets: Int32Array, ddof: number): { sum: number[]; mean: number[]; variance: number[] } {
  const sum: number[] = [];
  const mean: number[] = [];
  const variance: number[] = [];
  for (let s = 0; s + 1 < offsets.length; s++) {
    const b = offsets[s];
    const e = offsets[s + 1];
    const n = e - b;
    if (n === 0) {
      sum.push(0);
      mean.push(0);
      variance.push(0);
      continue;
    }
    let t = 0;
    for (let i = b; i < e; i++) t += values[i];
    const m = t / n;
    let q = 0;
    for (let i = b; i < e; i++) q += (values[i] - m) ** 2;
    sum.push(t);
    mean.push(m);
    variance.push(n <= ddof ? 0 : q / (n - ddof));
  }
  return { sum, mean, variance };
}

function raggedOffsets(total: number, seed: number): Int32Array {
  const r = rng(seed);
  const off = [0, 0, 1, 3]; // an empty segment, a single element, a pair
  while (off[off.length - 1] < total) {
    const len = r() < 0.1 ? 0 : Math.floor(r() * 40);
    off.push(Math.min(total, off[off.length - 1] + len));
  }
  return Int32Array.from(off);
}

const SIZES = [0, 1, 2, 7, 1001, 1_000_003];

/** First index where |actual − expected| exceeds bound(i), or −1; one expect per array keeps 1e6-element checks fast. */
function firstOutside(actual: ArrayLike<number>, expected: ArrayLike<number>, bound: (i: number) => number): number {
  if (actual.length !== expected.length) return -2;
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= bound(i))) return i;
  }
  return -1;
}

/** First index where the two arrays differ (Object.is: NaN equals NaN, 0 differs from −0), or −1. */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

describe.skipIf(!loaded)('native addon', () => {
  const addon = loaded as NativeAddon;

  describe('info()', () => {
    it('reports the build and the machine', () => {
      const info = addon.info();
      expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
      expect(Number.isInteger(info.threads) && info.threads >= 1).toBe(true);
      expect(typeof info.openmp).toBe('boolean');
      expect(info.blas === null || /^OpenBLAS \d+\.\d+\.\d+/.test(info.blas)).toBe(true);
      expect(['x86-64-v4', 'avx2', 'default']).toContain(info.simd);
      expect(typeof info.cuda.compiled).toBe('boolean');
      expect(Number.isInteger(info.cuda.devices)).toBe(true);
      if (info.cuda.devices === 0) expect(typeof info.cuda.error).toBe('string');
      else expect(info.cuda.error).toBeNull();
    });
  });

  describe.each(DTYPES)('kernels %s', (_name, C) => {
    const tol = eps(C);

    it.each([3, 40, 450])('spmv matches a JS loop on the %i² Poisson matrix, any thread count', (m) => {
      const A = poisson(C, m);
      const x = randomArray(A.ncols, m, dtypeOf(C));
      const { y: ref, mag } = spmvRef(A, x);
      const y1 = new C(A.nrows).fill(NaN);
      const y0 = new C(A.nrows).fill(NaN);
      addon.spmv(A.rowPtr, A.colIdx, A.values, x, y1, 1);
      addon.spmv(A.rowPtr, A.colIdx, A.values, x, y0);
      expect(firstOutside(y1, ref, (i) => 8 * tol * mag[i])).toBe(-1);
      expect(firstDiff(y0, y1)).toBe(-1);
    });

    it('spmv handles empty rows, empty matrices and ragged rows', () => {
      for (const [nrows, ncols] of [[0, 0], [1, 1], [5, 3], [1001, 777]] as const) {
        const A = randomCsr(C, nrows, ncols, nrows + 17);
        const x = randomArray(ncols, 3, dtypeOf(C));
        const { y: ref, mag } = spmvRef(A, x);
        const y = new C(nrows).fill(NaN);
        addon.spmv(A.rowPtr, A.colIdx, A.values, x, y, 0);
        expect(firstOutside(y, ref, (i) => 16 * tol * mag[i])).toBe(-1);
      }
    });

    it('spmv splits rows by nonzeros: one dense row among many empty ones', () => {
      const nrows = 100_000;
      const ncols = 400_000;
      const rowPtr = new Int32Array(nrows + 1);
      rowPtr.fill(ncols, 50_001); // row 50000 holds every column, all other rows are empty
      const colIdx = Int32Array.from({ length: ncols }, (_, i) => i);
      const A: Csr = { nrows, ncols, rowPtr, colIdx, values: randomArray(ncols, 8, dtypeOf(C)) };
      const x = randomArray(ncols, 9, dtypeOf(C));
      const { y: ref, mag } = spmvRef(A, x);
      const y = new C(nrows).fill(NaN);
      addon.spmv(A.rowPtr, A.colIdx, A.values, x, y, 0);
      // One row of 4e5 terms summed in the dtype: the bound grows with the row length.
      expect(firstOutside(y, ref, (i) => ncols * tol * mag[i])).toBe(-1);
      const y1 = new C(nrows);
      addon.spmv(A.rowPtr, A.colIdx, A.values, x, y1, 1);
      expect(firstDiff(y, y1)).toBe(-1);
    });

    it.each(SIZES)('dot, nrm2, axpy match JS loops at n = %i', (n) => {
      const x = randomArray(n, n + 1, dtypeOf(C));
      const y = randomArray(n, n + 2, dtypeOf(C));
      let d = 0;
      let dm = 0;
      let ss = 0;
      for (let i = 0; i < n; i++) {
        d += x[i] * y[i];
        dm += Math.abs(x[i] * y[i]);
        ss += x[i] * x[i];
      }
      // f32 products are exact in double and both sums are in double: only the summation order differs
      // (the sequential JS sum carries most of the n·eps).
      const dot1 = addon.dot(x, y, 1);
      expect(Math.abs(dot1 - d)).toBeLessThanOrEqual(1e-12 * dm);
      expect(addon.dot(x, y, 0)).toBe(dot1);
      expect(addon.dot(x, y, 64)).toBe(dot1); // more threads than cores: capped, same bits
      const nrm = addon.nrm2(x, 1);
      expect(Math.abs(nrm - Math.sqrt(ss))).toBeLessThanOrEqual(1e-12 * Math.sqrt(ss));
      expect(addon.nrm2(x)).toBe(nrm);

      // y := α x + y rounds like the dtype's own arithmetic (no FMA), so it is bit-exact.
      const alpha = 0.3;
      const z = y.slice();
      addon.axpy(alpha, x, z, 0);
      const round = C === Float32Array ? Math.fround : (v: number) => v;
      const a = round(alpha);
      for (let i = 0; i < n; i++) {
        if (z[i] !== round(round(a * x[i]) + y[i])) expect.fail(`axpy differs at ${i}: ${z[i]}`);
      }
    });

    it('nrm2 neither overflows nor underflows, and propagates inf and NaN', () => {
      const big = C === Float32Array ? 1e37 : 1e300;
      const tiny = C === Float32Array ? 1e-40 : 1e-300;
      expect(addon.nrm2(new C([big, big, big, big]))).toBeCloseTo(2 * big, -Math.log10(big) + 6);
      const t = addon.nrm2(new C([tiny, tiny, tiny, tiny]));
      expect(Math.abs(t / (2 * (C === Float32Array ? Math.fround(tiny) : tiny)) - 1)).toBeLessThan(1e-12);
      expect(addon.nrm2(new C([1, Infinity, 2]))).toBe(Infinity);
      expect(addon.nrm2(new C([1, NaN, 2]))).toBeNaN();
      expect(addon.nrm2(new C(0))).toBe(0);
    });

    it.each([
      [0, 10],
      [1, 10],
      [0, 1_000_000],
      [1, 1_000_000],
    ])('segmentedMoments matches a two-pass JS loop (ddof %i, %i values)', (ddof, total) => {
      const raw = randomArray(total, total + ddof, dtypeOf(C));
      for (let i = 0; i < total; i++) raw[i] += 100; // a mean far from 0 stresses the variance
      const offsets = raggedOffsets(total, 5);
      const nseg = offsets.length - 1;
      const out = () => [new C(nseg).fill(NaN), new C(nseg).fill(NaN), new C(nseg).fill(NaN)] as const;
      const [s1, m1, v1] = out();
      const [s0, m0, v0] = out();
      addon.segmentedMoments(raw, offsets, ddof, s1, m1, v1, 1);
      addon.segmentedMoments(raw, offsets, ddof, s0, m0, v0);
      expect([firstDiff(s0, s1), firstDiff(m0, m1), firstDiff(v0, v1)]).toEqual([-1, -1, -1]);
      const ref = momentsRef(raw, offsets, ddof);
      const rel = C === Float32Array ? 2e-6 : 1e-12;
      expect(firstOutside(s1, ref.sum, (i) => rel * Math.abs(ref.sum[i]))).toBe(-1);
      expect(firstOutside(m1, ref.mean, (i) => rel * Math.abs(ref.mean[i]))).toBe(-1);
      expect(firstOutside(v1, ref.variance, (i) => 1e-5 * Math.max(ref.variance[i], 1e-3))).toBe(-1);
      expect([s1[0], m1[0], v1[0]]).toEqual([0, 0, 0]); // empty segment
      expect(v1[1]).toBe(0); // one value: count <= ddof when ddof = 1, exactly 0 spread when ddof = 0
    });

    it('the Async twins give the same results as the sync calls', async () => {
      const n = 300_001;
      const x = randomArray(n, 11, dtypeOf(C));
      const y = randomArray(n, 12, dtypeOf(C));
      expect(await addon.dotAsync(x, y)).toBe(addon.dot(x, y));
      expect(await addon.nrm2Async(x, 1)).toBe(addon.nrm2(x, 1));
      const z1 = y.slice();
      const z2 = y.slice();
      addon.axpy(-2, x, z1);
      await expect(addon.axpyAsync(-2, x, z2)).resolves.toBeUndefined();
      expect(firstDiff(z2, z1)).toBe(-1);

      const A = poisson(C, 200);
      const xa = randomArray(A.ncols, 4, dtypeOf(C));
      const ya = new C(A.nrows);
      const yb = new C(A.nrows);
      addon.spmv(A.rowPtr, A.colIdx, A.values, xa, ya);
      await addon.spmvAsync(A.rowPtr, A.colIdx, A.values, xa, yb);
      expect(firstDiff(yb, ya)).toBe(-1);

      const offsets = raggedOffsets(n, 9);
      const k = offsets.length - 1;
      const sync = [new C(k), new C(k), new C(k)] as const;
      const async_ = [new C(k), new C(k), new C(k)] as const;
      addon.segmentedMoments(x, offsets, 1, ...sync);
      await addon.segmentedMomentsAsync(x, offsets, 1, ...async_);
      expect(async_.map((a, i) => firstDiff(a, sync[i]))).toEqual([-1, -1, -1]);

      // Several in flight at once on the libuv pool.
      const all = await Promise.all([0, 1, 2, 3].map(() => addon.dotAsync(x, y, 1)));
      expect(new Set(all).size).toBe(1);
    });
  });

  describe('argument checks', () => {
    const x = new Float64Array(4);
    const A = poisson(Float64Array, 3);
    const xa = new Float64Array(9);
    const ya = new Float64Array(9);

    it('rejects wrong types, naming the argument', () => {
      expect(() => addon.dot([1, 2] as unknown as Float64Array, x)).toThrow(/^x: expected Float32Array or Float64Array, got Array$/);
      expect(() => addon.dot(new Float32Array(4), x as unknown as Float32Array)).toThrow(TypeError);
      expect(() => addon.dot(new Float32Array(4), x as unknown as Float32Array)).toThrow(/^y: expected Float32Array to match x/);
      expect(() => addon.nrm2(new Int32Array(3) as unknown as Float64Array)).toThrow(/x: expected .* got Int32Array/);
      expect(() => addon.axpy('2' as unknown as number, x, x)).toThrow(/^alpha: expected a number, got string/);
      expect(() => addon.spmv(new Float64Array(A.rowPtr) as unknown as Int32Array, A.colIdx, A.values, xa, ya)).toThrow(
        /^rowPtr: expected Int32Array, got Float64Array/,
      );
      expect(() => addon.spmv(A.rowPtr, new Uint32Array(A.colIdx) as unknown as Int32Array, A.values, xa, ya)).toThrow(
        /^colIdx: expected Int32Array, got Uint32Array/,
      );
      expect(() => addon.philox4x32(new Int32Array(4) as unknown as Uint32Array, new Uint32Array(2))).toThrow(/^counter: expected Uint32Array/);
    });

    it('rejects wrong lengths and bad scalars', () => {
      expect(() => addon.dot(x, new Float64Array(3))).toThrow(RangeError);
      expect(() => addon.dot(x, new Float64Array(3))).toThrow(/^y: length 3 should be 4/);
      expect(() => addon.axpy(1, x, new Float64Array(5))).toThrow(/^y: length 5/);
      expect(() => addon.spmv(A.rowPtr, A.colIdx, A.values, xa, new Float64Array(8))).toThrow(/^y: length 8 should be 9/);
      expect(() => addon.spmv(new Int32Array(0), A.colIdx, A.values, xa, new Float64Array(0))).toThrow(/^rowPtr: length/);
      expect(() => addon.spmv(A.rowPtr, A.colIdx.subarray(1), A.values, xa, ya)).toThrow(/^rowPtr: .* exceeds colIdx length/);
      expect(() => addon.spmv(A.rowPtr, A.colIdx, A.values.subarray(2), xa, ya)).toThrow(/^rowPtr: .* exceeds values length/);
      expect(() => addon.dot(x, x, 1.5)).toThrow(/^threads: expected an integer/);
      expect(() => addon.dot(x, x, -1)).toThrow(/^threads:/);
      const s = new Float64Array(2);
      expect(() => addon.segmentedMoments(x, new Int32Array([0, 2, 4]), -1, s, s, s)).toThrow(/^ddof:/);
      expect(() => addon.segmentedMoments(x, new Int32Array([0, 2, 5]), 0, s, s, s)).toThrow(/^offsets: offsets\[2\] = 5 exceeds values length 4/);
      expect(() => addon.segmentedMoments(x, new Int32Array([0, 3, 2]), 0, s, s, s)).toThrow(/^offsets: not monotone/);
      expect(() => addon.segmentedMoments(x, new Int32Array([-1, 2, 4]), 0, s, s, s)).toThrow(/^offsets: offsets\[0\] = -1 is negative/);
      expect(() => addon.segmentedMoments(x, new Int32Array([0, 2, 4]), 0, new Float64Array(3), s, s)).toThrow(/^sum: length 3 should be 2/);
      expect(() => addon.philox4x32(new Uint32Array(3), new Uint32Array(2))).toThrow(/^counter: length 3 should be 4/);
      expect(() => addon.philoxFill(new Uint32Array(2), 2 ** 32, 0, new Uint32Array(4))).toThrow(/^stream:/);
      expect(() => addon.philoxFill(new Uint32Array(2), 0, -1, new Uint32Array(4))).toThrow(/^start:/);
      expect(() => addon.gemmGflops(0)).toThrow(/^n:/);
    });

    it('rejects a CSR that would read out of bounds, without crashing', () => {
      const bad = A.rowPtr.slice();
      bad[4] = bad[2] - 1;
      expect(() => addon.spmv(bad, A.colIdx, A.values, xa, ya)).toThrow(/^rowPtr: not monotone: rowPtr\[3\] = \d+ > rowPtr\[4\]/);
      const neg = A.rowPtr.slice();
      neg[0] = -1;
      expect(() => addon.spmv(neg, A.colIdx, A.values, xa, ya)).toThrow(/^rowPtr: rowPtr\[0\] = -1 is negative/);
      for (const c of [9, 1_000_000, -1, -(2 ** 31)]) {
        const cols = A.colIdx.slice();
        cols[7] = c;
        expect(() => addon.spmv(A.rowPtr, cols, A.values, xa, ya)).toThrow(RangeError);
        expect(() => addon.spmv(A.rowPtr, cols, A.values, xa, ya)).toThrow(`colIdx: colIdx[7] = ${c} is outside [0, 9) (x.length)`);
      }
      expect(() => addon.spmv(A.rowPtr, A.colIdx, A.values, new Float64Array(0), ya)).toThrow(/^x: empty/);
    });

    it('refuses a detached buffer by name, in both twins', async () => {
      const d = new Float64Array(16);
      structuredClone(d.buffer, { transfer: [d.buffer] });
      expect(d.length).toBe(0);
      expect(() => addon.dot(x, d)).toThrow(TypeError);
      expect(() => addon.dot(x, d)).toThrow(/^y: its ArrayBuffer is detached/);
      expect(() => addon.nrm2(d)).toThrow(/^x: its ArrayBuffer is detached/);
      await expect(addon.axpyAsync(1, x, d)).rejects.toThrow(/^y: its ArrayBuffer is detached/);
      const v = A.values.slice();
      structuredClone(v.buffer, { transfer: [v.buffer] });
      expect(() => addon.spmv(A.rowPtr, A.colIdx, v, xa, ya)).toThrow(/^values: its ArrayBuffer is detached/);
    });

    it('the Async twins reject instead of throwing', async () => {
      await expect(addon.dotAsync(x, new Float64Array(3))).rejects.toThrow(RangeError);
      await expect(addon.nrm2Async('x' as unknown as Float64Array)).rejects.toThrow(TypeError);
      const cols = A.colIdx.slice();
      cols[0] = 99;
      await expect(addon.spmvAsync(A.rowPtr, cols, A.values, xa, ya)).rejects.toThrow(/^colIdx: colIdx\[0\] = 99/);
      await expect(addon.spmvAsync(A.rowPtr, cols, A.values, xa, ya)).rejects.toBeInstanceOf(RangeError);
    });
  });

  describe('Philox4x32-10', () => {
    const hex = (a: Uint32Array): string[] => [...a].map((v) => v.toString(16).padStart(8, '0'));
    it.each([
      [[0, 0, 0, 0], [0, 0], '6627e8d5 e169c58d bc57ac4c 9b00dbd8'],
      [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], '408f276d 41c83b0e a20bc7c6 6d5451fd'],
      [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], 'd16cfe09 94fdcceb 5001e420 24126ea1'],
    ])('reproduces the Random123 known-answer vector %#', (ctr, key, out) => {
      expect(hex(addon.philox4x32(Uint32Array.from(ctr), Uint32Array.from(key))).join(' ')).toBe(out);
    });

    it('philoxFill follows the stream definition from any start', async () => {
      const key = Uint32Array.from([0xdeadbeef, 42]);
      const stream = 7;
      for (const start of [0, 1, 6, 2 ** 34 - 3]) {
        const out = new Uint32Array(21);
        addon.philoxFill(key, stream, start, out);
        for (let i = 0; i < out.length; i++) {
          const j = start + i;
          const b = Math.floor(j / 4);
          const ctr = Uint32Array.from([b % 2 ** 32, Math.floor(b / 2 ** 32), stream, 0]);
          expect(out[i]).toBe(addon.philox4x32(ctr, key)[j % 4]);
        }
        const again = new Uint32Array(21);
        await addon.philoxFillAsync(key, stream, start, again);
        expect(again).toEqual(out);
      }
    });
  });

  describe('machine probes', () => {
    it('triad computes a = b + s·c and returns a positive time', async () => {
      const n = 1 << 16;
      const a = new Float64Array(n);
      const b = new Float64Array(n).fill(1);
      const c = new Float64Array(n).fill(2);
      expect(addon.triad(a, b, c, 3, 0, 2)).toBeGreaterThan(0);
      expect(a.every((v) => v === 7)).toBe(true);
      expect(await addon.triadAsync(a, b, c, 0.5, 1)).toBeGreaterThan(0);
      expect(a[n - 1]).toBe(2);
    });

    it('gemmGflops returns a positive rate', async () => {
      expect(addon.gemmGflops(64, 1, 1)).toBeGreaterThan(0);
      expect(await addon.gemmGflopsAsync(128)).toBeGreaterThan(0);
    });
  });

  // What it leaves in the allocator is checked by the standalone C++ test (native_test.cc test_warm_heap).
  describe('warmHeap', () => {
    it('touches the bytes asked for and refuses a bad size', () => {
      expect(addon.warmHeap!(1 << 20)).toBe(1 << 20);
      expect(addon.warmHeap!(0)).toBe(0);
      for (const bad of [-1, 0.5, NaN, 2 ** 31, '1']) expect(() => addon.warmHeap!(bad as number)).toThrow(/bytes/);
    });
  });

  describe('cuda entry points', () => {
    it.runIf(loaded?.info().cuda.devices === 0)('throw or reject "CUDA: ..." without a device', async () => {
      const x = new Float64Array(8);
      expect(() => addon.cuda.dot(x, x)).toThrow(/^CUDA: /);
      await expect(addon.cuda.nrm2Async(x)).rejects.toThrow(/^CUDA: /);
      // Arguments are still checked first.
      expect(() => addon.cuda.dot(x, new Float64Array(2))).toThrow(/^y: length/);
    });
  });
});

describe.skipIf(!loaded)('native backend', () => {
  it('registers every op for f32 and f64 and runs them', async () => {
    const inst = await nativeBackend.init({ allowSoftwareAdapter: false, threads: 1 });
    expect(inst.name).toBe('native');
    expect(inst.priority).toBe(60);
    expect(inst.info.description).toMatch(/^C\+\+17, 1 thread, /);
    const kernels = [...linalgKernels(inst.handle), ...relaxKernels(inst.handle)];
    const ops: OpName[] = ['spmv', 'dot', 'axpy', 'nrm2', 'segmentedMoments', 'relaxSolve', 'relaxSolveBatch'];
    expect(kernels.map((k) => k.op).sort()).toEqual([...ops].sort());
    for (const k of kernels) expect(k.dtypes).toEqual(['f32', 'f64']);
    const spmv = kernels.find((k) => k.op === 'spmv') as Extract<AnyKernel, { op: 'spmv' }>;
    for (const m of [10, 60]) {
      const A = poisson(Float64Array, m);
      const x = randomArray(A.ncols, 1);
      const y = new Float64Array(A.nrows);
      await spmv.run({ A, x, y }, {});
      const { y: ref, mag } = spmvRef(A, x);
      expect(firstOutside(y, ref, (i) => 8 * 2 ** -52 * mag[i])).toBe(-1);
    }
    const dot = kernels.find((k) => k.op === 'dot') as Extract<AnyKernel, { op: 'dot' }>;
    await expect(dot.run({ x: new Float32Array(3), y: new Float32Array(2) }, {})).rejects.toMatchObject({
      name: 'NumkernError',
      code: 'E_SHAPE',
      argument: 'y',
    });
    const bad = poisson(Float64Array, 3);
    bad.colIdx[0] = 100;
    await expect(spmv.run({ A: bad, x: new Float64Array(9), y: new Float64Array(9) }, {})).rejects.toBeInstanceOf(NumkernError);
    const gone = new Float64Array(9);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    await expect(spmv.run({ A: poisson(Float64Array, 3), x: gone, y: new Float64Array(9) }, {})).rejects.toMatchObject({
      name: 'NumkernError',
      code: 'E_DTYPE',
      argument: 'x',
    });
    await inst.dispose();
  });

  // Slices of 50 units: every call below spans many pieces, with the event loop turning between them.
  it.each(DTYPES)('sliced calls give the one call\'s results bit for bit and let the event loop turn, %s', async (_name, C) => {
    const inst = await nativeBackend.init({ allowSoftwareAdapter: false, threads: 2 });
    const whole = linalgKernels(inst.handle, Number.MAX_SAFE_INTEGER);
    const sliced = linalgKernels(inst.handle, 50);
    /** Runs op; 'turn' when the event loop turned before it finished, 'done' when it did not. */
    const run = async <K extends 'spmv' | 'axpy' | 'segmentedMoments'>(list: AnyKernel[], op: K, args: OpArgs<K>) => {
      const order: string[] = [];
      setImmediate(() => order.push('turn'));
      await (list.find((k) => k.op === op) as KernelSpec<K>).run(args, {});
      order.push('done');
      return order[0];
    };
    const A = randomCsr(C, 700, 500, 3);
    const x = randomArray(500, 4, dtypeOf(C));
    const [y1, y2] = [new C(700), new C(700)];
    expect(await run(whole, 'spmv', { A, x, y: y1 })).toBe('done');
    expect(await run(sliced, 'spmv', { A, x, y: y2 })).toBe('turn');
    expect(firstDiff(y2, y1)).toBe(-1);

    const u = randomArray(3001, 5, dtypeOf(C));
    const [v1, v2] = [randomArray(3001, 6, dtypeOf(C)), randomArray(3001, 6, dtypeOf(C))];
    expect(await run(whole, 'axpy', { alpha: 0.3, x: u, y: v1 })).toBe('done');
    expect(await run(sliced, 'axpy', { alpha: 0.3, x: u, y: v2 })).toBe('turn');
    expect(firstDiff(v2, v1)).toBe(-1);

    const values = randomArray(5000, 7, dtypeOf(C));
    const offsets = raggedOffsets(5000, 8);
    const k = offsets.length - 1;
    const [m1, m2] = [[new C(k), new C(k), new C(k)], [new C(k), new C(k), new C(k)]] as const;
    expect(await run(whole, 'segmentedMoments', { values, offsets, ddof: 1, sum: m1[0], mean: m1[1], variance: m1[2] })).toBe('done');
    expect(await run(sliced, 'segmentedMoments', { values, offsets, ddof: 1, sum: m2[0], mean: m2[1], variance: m2[2] })).toBe('turn');
    expect(m2.map((a, i) => firstDiff(a, m1[i]!))).toEqual([-1, -1, -1]);

    // A bad argument is still caught, whole or in pieces, and so is an empty call's.
    await expect(run(sliced, 'axpy', { alpha: 1, x: new C(0), y: new C(3) })).rejects.toMatchObject({ code: 'E_SHAPE', argument: 'y' });
    await expect(run(sliced, 'spmv', { A, x, y: new C(699) })).rejects.toMatchObject({ code: 'E_SHAPE' });
    await inst.dispose();
  });
});

describe.skipIf(!loaded)('native relax layout check', () => {
  it('a table that disagrees with the addon takes relax off native, with the reason, and solves fall back', async () => {
    const inst = await nativeBackend.init({ allowSoftwareAdapter: false, threads: 1 });
    const real = inst.handle.addon;
    const layout = relaxAddon(real).relaxLayout();
    const skewed = Object.create(real, { relaxLayout: { value: () => ({ ...layout, state: { ...layout.state, final: 8 } }) } }) as NativeAddon;
    expect(() => relaxKernels({ ...inst.handle, addon: skewed })).toThrow(/^relax layout mismatch .*state\.final is 8 in the addon, 7 here/);
    const renamed = Object.create(real, { relaxLayout: { value: () => ({ ...layout, methods: { ...layout.methods, sor: undefined, 'sor-natural': 2 } }) } }) as NativeAddon;
    expect(() => relaxKernels({ ...inst.handle, addon: renamed })).toThrow(/methods\.sor is missing in the addon, 2 here; methods\.sor-natural is 2 in the addon, missing here/);
    const stale = Object.create(real, { relaxAdvanceAsync: { value: undefined } }) as NativeAddon;
    expect(() => relaxKernels({ ...inst.handle, addon: stale })).toThrow(/^addon lacks the relax entry points relaxAdvanceAsync \(stale build/);
    expect(relaxKernels(inst.handle).map((k) => k.op)).toEqual(['relaxSolve', 'relaxSolveBatch']);

    // The façade registers every backend when it loads, so it is loaded here, before the override.
    const { createContext } = await import('../src/index.js');
    registerBackend({ ...nativeBackend, init: async (o) => ({ ...(await nativeBackend.init(o)), handle: { addon: skewed, threads: 1 } }) });
    try {
      const ctx = await createContext({ backends: ['native', 'js'] });
      const status = ctx.status().find((s) => s.name === 'native')!;
      expect(status.available).toBe(true);
      expect(status.families?.relax).toMatch(/^relax layout mismatch/);
      expect(status.kernels).toContain('dot:f64');
      expect(status.kernels).not.toContain('relaxSolve:f64');
      const A = poisson(Float64Array, 4);
      const solved = await ctx.solve(A, new Float64Array(16).fill(1), { method: 'cg', backend: 'native' });
      expect(solved.backend).toBe('js');
      expect(solved.converged).toBe(true);
      await ctx.dispose();
    } finally {
      registerBackend(nativeBackend);
    }
  });
});

describe('native loader', () => {
  it('explains a missing build', () => {
    const r = loadNativeUncached({}, '/nonexistent-root');
    expect(r.addon).toBeNull();
    expect(r.reason).toBe('addon not built: build/Release/numkern.node missing (run npm run build:native)');
  });

  it('honours NUMKERN_NATIVE_PATH', () => {
    const r = loadNativeUncached({ NUMKERN_NATIVE_PATH: '/nonexistent/numkern.node' });
    expect(r.addon).toBeNull();
    expect(r.reason).toMatch(/^NUMKERN_NATIVE_PATH=\/nonexistent\/numkern.node: no such file/);
  });
});

describe('cuda backend', () => {
  it('init says precisely why it cannot run here', async () => {
    const info = loaded?.info();
    const outcome = await cudaBackend.init({ allowSoftwareAdapter: false, threads: 0 }).then(
      async (inst) => {
        await inst.dispose();
        return null;
      },
      (e: Error) => e.message,
    );
    if (!info) expect(outcome).toBe(reason);
    else if (!info.cuda.compiled) expect(outcome).toMatch(/^built without CUDA \(/);
    else if (info.cuda.devices === 0) expect(outcome).toMatch(/^no CUDA device: .*(driver|device)/i);
    else expect(outcome).toBeNull();
  });
});
