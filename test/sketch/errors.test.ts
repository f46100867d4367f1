/**
 * Bad input to every ctx.sketch entry point: a NumkernError with a stable code that names the argument,
 * thrown before any kernel runs (a spy backend below counts kernel calls: none may happen).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, NumkernError } from '../../src/index.js';
import { randomDense } from './problems.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());

const A = randomDense(50, 4, 1);
const b = randomDense(50, 1, 2).data;

async function code(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.argument}`;
    throw e;
  }
  return 'ok';
}

describe('lstsq', () => {
  const cases: [string, () => Promise<unknown>, string][] = [
    ['m < d', () => ctx.sketch.lstsq(A, b, { m: 3 }), 'E_RANGE options.m'],
    ['a sketch taller than A', () => ctx.sketch.lstsq(A, b, { m: 51 }), 'E_RANGE options.m'],
    ['a sketch of 2^30 rows (S·A would not fit)', () => ctx.sketch.lstsq(A, b, { method: 'sketch-and-solve', sketch: 'gaussian', m: 2 ** 30 }), 'E_RANGE options.m'],
    ['n < d', () => ctx.sketch.lstsq(randomDense(3, 4, 1), b.subarray(0, 3)), 'E_RANGE A'],
    ['no columns', () => ctx.sketch.lstsq({ rows: 5, cols: 0, data: new Float64Array(0) }, b.subarray(0, 5)), 'E_RANGE A'],
    ['NaN in A', () => ctx.sketch.lstsq({ ...A, data: Float64Array.from(A.data, (v, i) => (i === 17 ? NaN : v)) }, b), 'E_NONFINITE A.data'],
    ['Inf in b', () => ctx.sketch.lstsq(A, Float64Array.from(b, (v, i) => (i === 3 ? Infinity : v))), 'E_NONFINITE b'],
    ['an entry past 1e150', () => ctx.sketch.lstsq({ ...A, data: Float64Array.from(A.data, (v, i) => (i === 0 ? 1e200 : v)) }, b), 'E_RANGE A.data'],
    ['b too short', () => ctx.sketch.lstsq(A, b.subarray(0, 49)), 'E_SHAPE b'],
    ['b of another dtype', () => ctx.sketch.lstsq(A, Float32Array.from(b)), 'E_DTYPE b'],
    ['A.data of the wrong length', () => ctx.sketch.lstsq({ rows: 50, cols: 4, data: new Float64Array(199) }, b), 'E_SHAPE A.data'],
    ['A not a matrix', () => ctx.sketch.lstsq(42 as never, b), 'E_SHAPE A'],
    ['broken CSR', () => ctx.sketch.lstsq({ nrows: 2, ncols: 2, rowPtr: Int32Array.of(0, 2, 1), colIdx: Int32Array.of(0, 1), values: Float64Array.of(1, 2) }, b.subarray(0, 2)), 'E_CSR_INVALID A.rowPtr'],
    ['an unknown method', () => ctx.sketch.lstsq(A, b, { method: 'normal-equations' as never }), 'E_RANGE options.method'],
    ['an unknown sketch', () => ctx.sketch.lstsq(A, b, { sketch: 'fft' as never }), 'E_RANGE options.sketch'],
    ['nnzPerCol with countsketch', () => ctx.sketch.lstsq(A, b, { sketch: 'countsketch', nnzPerCol: 2 }), 'E_RANGE options.nnzPerCol'],
    ['nnzPerCol > m', () => ctx.sketch.lstsq(A, b, { sketch: 'sparse-sign', m: 6, nnzPerCol: 7 }), 'E_RANGE options.nnzPerCol'],
    ['nnzPerCol on a dense kind', () => ctx.sketch.lstsq(A, b, { sketch: 'gaussian', nnzPerCol: 2 }), 'E_RANGE options.nnzPerCol'],
    ['a negative seed', () => ctx.sketch.lstsq(A, b, { seed: -1 }), 'E_RANGE options.seed'],
    ['a seed past 2^64', () => ctx.sketch.lstsq(A, b, { seed: 2n ** 64n }), 'E_RANGE options.seed'],
    ['a negative tol', () => ctx.sketch.lstsq(A, b, { tol: -1 }), 'E_RANGE options.tol'],
    ['maxIter not an integer', () => ctx.sketch.lstsq(A, b, { maxIter: 2.5 }), 'E_DTYPE options.maxIter'],
    ['an SRHT with m > N', () => ctx.sketch.lstsq(A, b, { sketch: 'srht', m: 65 }), 'E_RANGE options.m'],
    ['linf with a sparse sketch', () => ctx.sketch.lstsq(A, b, { method: 'sketch-and-solve', guarantee: 'linf', sketch: 'sparse-sign' }), 'E_RANGE options.sketch'],
    ['linf on a full-precision method', () => ctx.sketch.lstsq(A, b, { guarantee: 'linf' }), 'E_RANGE options.guarantee'],
    ['epsilon without linf', () => ctx.sketch.lstsq(A, b, { epsilon: 0.1 }), 'E_RANGE options.epsilon'],
    ['a null option', () => ctx.sketch.lstsq(A, b, { m: null as never }), 'E_DTYPE options.m'],
    ['an unknown backend', () => ctx.sketch.lstsq(A, b, { backend: 'tpu' as never }), 'E_RANGE options.backend'],
  ];
  it.each(cases)('%s', async (_name, f, want) => {
    expect(await code(f)).toBe(want);
  });
});

describe('apply and applyRows', () => {
  const cases: [string, () => Promise<unknown>, string][] = [
    ['no seed', () => ctx.sketch.apply(A, { kind: 'gaussian', m: 4 } as never), 'E_RANGE options.seed'],
    ['no kind', () => ctx.sketch.apply(A, { m: 4, seed: 1 } as never), 'E_RANGE options.kind'],
    ['m = 0', () => ctx.sketch.apply(A, { kind: 'rademacher', m: 0, seed: 1 }), 'E_RANGE options.m'],
    ['S·A past the longest typed array', () => ctx.sketch.apply(A, { kind: 'countsketch', m: 2 ** 31 - 1, seed: 1 }), 'E_RANGE options.m'],
    ['a seed of the wrong type', () => ctx.sketch.apply(A, { kind: 'rademacher', m: 2, seed: '1' as never }), 'E_DTYPE options.seed'],
    ['isometric not a boolean', () => ctx.sketch.apply(A, { kind: 'rademacher', m: 2, seed: 1, isometric: 1 as never }), 'E_DTYPE options.isometric'],
    ['b of the wrong length', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, b: b.subarray(1) }), 'E_SHAPE options.b'],
    ['NaN in b', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, b: Float64Array.from(b, () => NaN) }), 'E_NONFINITE options.b'],
    // A's values are screened in the sketch's pass where a backend can, else scanned after it (src/sketch/apply.ts).
    ['NaN in A', () => ctx.sketch.apply({ ...A, data: Float64Array.from(A.data, (v, i) => (i === 77 ? NaN : v)) }, { kind: 'srht', m: 2, seed: 1 }), 'E_NONFINITE A.data'],
    ['Inf in a CSR A', () => ctx.sketch.apply({ nrows: 2, ncols: 2, rowPtr: Int32Array.of(0, 1, 2), colIdx: Int32Array.of(0, 1), values: Float64Array.of(1, -Infinity) }, { kind: 'countsketch', m: 2, seed: 1 }), 'E_NONFINITE A.values'],
    ['NaN in A and in b: A is named', () => ctx.sketch.apply({ ...A, data: Float64Array.from(A.data, () => NaN) }, { kind: 'gaussian', m: 2, seed: 1, b: Float64Array.from(b, () => NaN) }), 'E_NONFINITE A.data'],
    ['NaN in a row block', () => ctx.sketch.applyRows({ rows: 2, cols: 4, data: Float32Array.of(1, 2, 3, 4, 5, 6, NaN, 8) }, 3, { kind: 'rademacher', m: 2, seed: 1, totalRows: 60 }), 'E_NONFINITE A.data'],
    ['out of the wrong dtype', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, out: new Float32Array(8) as never }), 'E_DTYPE options.out'],
    ['out of the wrong length', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, out: new Float64Array(9) }), 'E_SHAPE options.out'],
    ['out sharing A', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, out: A.data.subarray(0, 8) }), 'E_SHAPE options.out'],
    ['out sharing b', () => ctx.sketch.apply(A, { kind: 'srht', m: 2, seed: 1, b, out: new Float64Array(b.buffer, b.byteOffset, 8) }), 'E_SHAPE options.out'],
    ['a fractional offset', () => ctx.sketch.applyRows(A, 0.5, { kind: 'srht', m: 2, seed: 1, totalRows: 60 }), 'E_DTYPE rowOffset'],
    ['n·m past 2^53 words', () => ctx.sketch.applyRows({ rows: 1, cols: 1, data: new Float64Array(1) }, 0, { kind: 'gaussian', m: 2 ** 31 - 1, seed: 1, totalRows: 2 ** 31 - 1 }), 'E_RANGE options.m'],
  ];
  it.each(cases)('%s', async (_name, f, want) => {
    expect(await code(f)).toBe(want);
  });
});

/** A 600 × 4 A (2400 entries: past the native scan's minimum) with entries at i set to v. */
function bigWith(...set: number[]): { rows: number; cols: number; data: Float64Array } {
  const data = Float64Array.from({ length: 2400 }, (_, k) => 1 + (k % 7));
  for (let k = 0; k + 1 < set.length; k += 2) data[set[k]!] = set[k + 1]!;
  return { rows: 600, cols: 4, data };
}
const bigB = Float64Array.from({ length: 600 }, (_, i) => Math.sin(i));

describe('kaczmarz, sketchAndProject, linfError', () => {
  const cases: [string, () => Promise<unknown> | unknown, string][] = [
    ['block > n', () => ctx.sketch.kaczmarz(A, b, { block: 51 }), 'E_RANGE options.block'],
    ['a zero matrix', () => ctx.sketch.kaczmarz({ rows: 50, cols: 4, data: new Float64Array(200) }, b), 'E_RANGE A'],
    ['x0 of the wrong length', () => ctx.sketch.kaczmarz(A, b, { x0: new Float64Array(3) }), 'E_SHAPE options.x0'],
    ['checkEvery 0', () => ctx.sketch.kaczmarz(A, b, { checkEvery: 0 }), 'E_RANGE options.checkEvery'],
    ['an srht sketch', () => ctx.sketch.sketchAndProject(A, b, { sketch: 'srht' as never }), 'E_RANGE options.sketch'],
    ['q > n', () => ctx.sketch.sketchAndProject(A, b, { q: 51 }), 'E_RANGE options.q'],
    ['NaN in b', () => ctx.sketch.sketchAndProject(A, Float64Array.from(b, () => NaN)), 'E_NONFINITE b'],
    // Past 512 entries a native scan accepts clean arrays in one pass; a failing one is named by the JS checks.
    ['|entry| past 1e150 in a large A', () => ctx.sketch.kaczmarz(bigWith(317, 1e200), bigB), 'E_RANGE A.data'],
    ['NaN after a large entry in a large A', () => ctx.sketch.kaczmarz(bigWith(317, 1e200, 900, NaN), bigB), 'E_NONFINITE A.data'],
    ['|entry| past 1e150 in a large b', () => ctx.sketch.kaczmarz(bigWith(), Float64Array.from(bigB, (v, i) => (i === 599 ? -2e150 : v))), 'E_RANGE b'],
    ['linfError lengths', () => ctx.sketch.linfError(new Float64Array(3), new Float64Array(4)), 'E_SHAPE x'],
    ['linfError NaN', () => ctx.sketch.linfError(Float64Array.of(NaN), Float64Array.of(1)), 'E_NONFINITE x'],
  ];
  it.each(cases)('%s', async (_name, f, want) => {
    expect(await code(f as () => unknown)).toBe(want);
  });
});

describe('validation runs before any kernel', () => {
  it('no sketch op is dispatched for a rejected call', async () => {
    const calls: string[] = [];
    const spy = ctx as unknown as { run: (op: string, ...rest: unknown[]) => unknown };
    const original = spy.run.bind(ctx);
    spy.run = (op: string, ...rest: unknown[]) => {
      calls.push(op);
      return original(op, ...rest);
    };
    try {
      await code(ctx.sketch.lstsq(A, b, { m: 3 }));
      await code(ctx.sketch.kaczmarz(A, b, { block: 99 }));
      expect(calls).toEqual([]);
      // A's values are screened in the sketch's own pass (docs/sketch.md §1): a NaN A reaches the sketch
      // and nothing after it — no QR, no loop, no output.
      expect(await code(ctx.sketch.lstsq({ ...A, data: Float64Array.from(A.data, () => NaN) }, b))).toBe('E_NONFINITE A.data');
      expect(calls).toEqual(['sketchApply']);
      calls.length = 0;
      await ctx.sketch.lstsq(A, b, { method: 'sketch-and-solve' });
      expect(calls).toEqual(['sketchApply', 'sketchQr', 'sketchResidual']);
    } finally {
      spy.run = original;
    }
  });
});
