/** Bad input to every public entry point: a NumkernError with the right code and the argument's name, before any kernel. */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, NumkernError, type CsrMatrix } from '../../src/index.js';

const ctx = await createContext();
afterAll(() => ctx.dispose());

const A: CsrMatrix = {
  nrows: 2, ncols: 3,
  rowPtr: Int32Array.from([0, 2, 3]),
  colIdx: Int32Array.from([0, 2, 1]),
  values: Float64Array.from([1, 2, 3]),
};
const x3 = new Float64Array(3);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof NumkernError) return `${e.code} ${e.message}`;
    throw e;
  }
  return 'ok';
}

describe('spmv input checks', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['not an object', () => ctx.spmv(null as never, x3), /^E_CSR_INVALID A:/],
    ['rowPtr wrong type', () => ctx.spmv({ ...A, rowPtr: [0, 2, 3] as never }, x3), /^E_DTYPE A\.rowPtr/],
    ['rowPtr wrong length', () => ctx.spmv({ ...A, rowPtr: Int32Array.from([0, 3]) }, x3), /^E_CSR_INVALID A\.rowPtr/],
    ['rowPtr decreasing', () => ctx.spmv({ ...A, rowPtr: Int32Array.from([0, 3, 3]), colIdx: Int32Array.from([0, 2, 1]) }, x3), /^E_CSR_INVALID A\.colIdx/],
    ['rowPtr end ≠ nnz', () => ctx.spmv({ ...A, rowPtr: Int32Array.from([0, 2, 2]) }, x3), /^E_CSR_INVALID A\.rowPtr/],
    ['column out of range', () => ctx.spmv({ ...A, colIdx: Int32Array.from([0, 3, 1]) }, x3), /^E_CSR_INVALID A\.colIdx/],
    ['negative column', () => ctx.spmv({ ...A, colIdx: Int32Array.from([-1, 2, 1]) }, x3), /^E_CSR_INVALID A\.colIdx/],
    ['unsorted row', () => ctx.spmv({ ...A, colIdx: Int32Array.from([2, 0, 1]) }, x3), /^E_CSR_INVALID A\.colIdx/],
    ['values length', () => ctx.spmv({ ...A, values: new Float64Array(2) }, x3), /^E_CSR_INVALID A\.values/],
    ['NaN value', () => ctx.spmv({ ...A, values: Float64Array.from([1, NaN, 3]) }, x3), /^E_NONFINITE A\.values: element 1/],
    ['x wrong length', () => ctx.spmv(A, new Float64Array(2)), /^E_SHAPE x/],
    ['x Inf', () => ctx.spmv(A, Float64Array.from([0, Infinity, 0])), /^E_NONFINITE x/],
    ['mixed dtypes', () => ctx.spmv(A, new Float32Array(3)), /^E_DTYPE x/],
    ['x plain array', () => ctx.spmv(A, [1, 2, 3] as never), /^E_DTYPE x/],
    ['out wrong length', () => ctx.spmv(A, x3, { out: new Float64Array(3) }), /^E_SHAPE options\.out/],
    ['out aliases x', () => ctx.spmv({ ...A, nrows: 3, rowPtr: Int32Array.from([0, 2, 3, 3]) }, x3, { out: x3 }), /^E_SHAPE options\.out/],
    ['unknown backend', () => ctx.spmv(A, x3, { backend: 'tpu' as never }), /^E_RANGE options\.backend/],
    ['bad signal', () => ctx.spmv(A, x3, { signal: {} as never }), /^E_DTYPE options\.signal/],
    ['nrows fractional', () => ctx.spmv({ ...A, nrows: 1.5 }, x3), /^E_DTYPE A\.nrows/],
  ];
  it.each(cases)('%s', async (_n, f, re) => {
    expect(await code(f())).toMatch(re);
  });

  it('an aborted signal stops before any kernel', async () => {
    const ac = new AbortController();
    ac.abort('stop');
    expect(await code(ctx.spmv(A, x3, { signal: ac.signal }))).toMatch(/^E_ABORTED/);
  });

  it('checkFinite: false skips the NaN scan (the caller vouches for the data)', async () => {
    const y = await ctx.spmv(A, Float64Array.from([NaN, 0, 0]), { checkFinite: false, backend: 'js' });
    expect(Number.isNaN(y[0])).toBe(true);
  });
});

describe('BLAS-1 and segmented input checks', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['dot length mismatch', () => ctx.dot(new Float64Array(3), new Float64Array(4)), /^E_SHAPE y/],
    ['dot dtype mismatch', () => ctx.dot(new Float64Array(3), new Float32Array(3)), /^E_DTYPE y/],
    ['dot NaN', () => ctx.dot(Float64Array.from([NaN]), new Float64Array(1)), /^E_NONFINITE x/],
    ['axpy alpha NaN', () => ctx.axpy(NaN, x3, x3), /^E_NONFINITE alpha/],
    ['axpy alpha string', () => ctx.axpy('2' as never, x3, x3), /^E_DTYPE alpha/],
    ['nrm2 Int32Array', () => ctx.nrm2(new Int32Array(3) as never), /^E_DTYPE x/],
    ['moments offsets not starting at 0', () => ctx.segmentedMoments({ offsets: Int32Array.from([1, 3]), values: x3 }), /^E_SHAPE batch\.offsets/],
    ['moments offsets decreasing', () => ctx.segmentedMoments({ offsets: Int32Array.from([0, 2, 1, 3]), values: x3 }), /^E_SHAPE batch\.offsets/],
    ['moments offsets end', () => ctx.segmentedMoments({ offsets: Int32Array.from([0, 2]), values: x3 }), /^E_SHAPE batch\.offsets/],
    ['moments empty offsets', () => ctx.segmentedMoments({ offsets: new Int32Array(0), values: x3 }), /^E_SHAPE batch\.offsets/],
    ['moments ddof negative', () => ctx.segmentedMoments({ offsets: Int32Array.from([0, 3]), values: x3 }, { ddof: -1 }), /^E_RANGE options\.ddof/],
    ['moments NaN', () => ctx.segmentedMoments({ offsets: Int32Array.from([0, 1]), values: Float32Array.from([NaN]) }), /^E_NONFINITE batch\.values/],
    ['options not an object', () => ctx.dot(x3, x3, 5 as never), /^E_DTYPE options/],
  ];
  it.each(cases)('%s', async (_n, f, re) => {
    expect(await code(f())).toMatch(re);
  });
});

describe('fuzz: random input gets a result or a NumkernError, never a crash or another error', () => {
  const anyValue = fc.oneof(
    fc.constant(undefined), fc.constant(null), fc.double(), fc.integer({ min: -5, max: 40 }), fc.string(),
    fc.float64Array({ maxLength: 40 }), fc.float32Array({ maxLength: 40 }), fc.int32Array({ min: -3, max: 40, maxLength: 40 }),
    fc.array(fc.double(), { maxLength: 5 }),
  );
  const csrLike = fc.record({
    nrows: fc.oneof(fc.integer({ min: -2, max: 12 }), fc.double()),
    ncols: fc.oneof(fc.integer({ min: -2, max: 12 }), fc.double()),
    rowPtr: fc.oneof(fc.int32Array({ min: -2, max: 30, maxLength: 14 }), anyValue),
    colIdx: fc.oneof(fc.int32Array({ min: -2, max: 14, maxLength: 30 }), anyValue),
    values: fc.oneof(fc.float64Array({ maxLength: 30 }), fc.float32Array({ maxLength: 30 }), anyValue),
  });

  async function settle(p: () => Promise<unknown>): Promise<void> {
    try {
      await p();
    } catch (e) {
      if (!(e instanceof NumkernError)) throw e;
    }
  }

  it('spmv', async () => {
    await fc.assert(fc.asyncProperty(csrLike, anyValue, async (m, x) => settle(() => ctx.spmv(m as never, x as never))), { numRuns: 400 });
  });

  it('dot, axpy, nrm2', async () => {
    await fc.assert(fc.asyncProperty(anyValue, anyValue, anyValue, async (a, x, y) => {
      await settle(() => ctx.dot(x as never, y as never));
      await settle(() => ctx.axpy(a as never, x as never, y as never));
      await settle(() => ctx.nrm2(x as never));
    }), { numRuns: 400 });
  });

  it('segmented moments', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({ offsets: fc.oneof(fc.int32Array({ min: -1, max: 40, maxLength: 8 }), anyValue), values: anyValue }),
      fc.option(fc.record({ ddof: anyValue })),
      async (b, o) => settle(() => ctx.segmentedMoments(b as never, (o ?? undefined) as never)),
    ), { numRuns: 400 });
  });
});

describe('addon failures as NumkernError', () => {
  it('a kernel that could not allocate (std::bad_alloc through the glue) is E_RANGE; argument errors keep their codes', async () => {
    const { mapNativeError } = await import('../../src/backends/addon/errors.js');
    const oom = mapNativeError(new Error('std::bad_alloc'));
    expect(oom).toBeInstanceOf(NumkernError);
    expect((oom as NumkernError).code).toBe('E_RANGE');
    expect((oom as NumkernError).message).toMatch(/could not allocate its working memory \(std::bad_alloc\)/);
    expect((mapNativeError(new RangeError('colIdx: index 7 outside [0, 3)')) as NumkernError).code).toBe('E_CSR_INVALID');
    const other = new Error('something else');
    expect(mapNativeError(other)).toBe(other);
  });
});
