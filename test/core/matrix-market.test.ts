import fc from 'fast-check';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NumkernError, type ErrorCode } from '../../src/core/errors.js';
import {
  csrFromCoo,
  parseMatrixMarket,
  readMatrixMarket,
  writeMatrixMarket,
  writeMatrixMarketFile,
  type MatrixMarketData,
} from '../../src/core/matrix-market.js';
import { joinPieces, matrixMarketPieces } from '../../src/core/matrix-market-write.js';
import type { CsrMatrix, DenseMatrix, FloatArray } from '../../src/core/types.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp): NumkernError {
  const e = thrown(fn);
  expect(e).toBeInstanceOf(NumkernError);
  expect((e as NumkernError).code).toBe(code);
  if (message) expect((e as NumkernError).message).toMatch(message);
  return e as NumkernError;
}

function parseCode(text: string, code: ErrorCode, message?: RegExp): NumkernError {
  return expectCode(() => parseMatrixMarket(text), code, message);
}

function coo(m: MatrixMarketData): CsrMatrix {
  if (m.kind !== 'coordinate') throw new Error(`expected coordinate, got ${m.kind}`);
  return m.matrix;
}

function dense(m: MatrixMarketData): DenseMatrix {
  if (m.kind !== 'array') throw new Error(`expected array, got ${m.kind}`);
  return m.matrix;
}

function toDense(a: CsrMatrix): number[][] {
  const d = Array.from({ length: a.nrows }, () => new Array<number>(a.ncols).fill(0));
  for (let r = 0; r < a.nrows; r++) for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) d[r][a.colIdx[k]] = a.values[k];
  return d;
}

function rowsOf(d: DenseMatrix): number[][] {
  return Array.from({ length: d.rows }, (_, i) => Array.from(d.data.subarray(i * d.cols, (i + 1) * d.cols)));
}

/** Bitwise equality, so -0 vs 0 and f32 vs f64 differences are caught. */
function sameBits(a: FloatArray, b: FloatArray): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function expectSameCsr(a: CsrMatrix, b: CsrMatrix): void {
  expect([a.nrows, a.ncols]).toEqual([b.nrows, b.ncols]);
  expect(Array.from(a.rowPtr)).toEqual(Array.from(b.rowPtr));
  expect(Array.from(a.colIdx)).toEqual(Array.from(b.colIdx));
  expect(sameBits(a.values, b.values)).toBe(true);
}

/** CSR invariants from types.ts: pointers monotone from 0 to nnz, columns in range and strictly increasing per row. */
function expectCanonical(a: CsrMatrix): void {
  expect(a.rowPtr.length).toBe(a.nrows + 1);
  expect(a.rowPtr[0]).toBe(0);
  expect(a.rowPtr[a.nrows]).toBe(a.colIdx.length);
  expect(a.values.length).toBe(a.colIdx.length);
  for (let r = 0; r < a.nrows; r++) {
    expect(a.rowPtr[r + 1]).toBeGreaterThanOrEqual(a.rowPtr[r]);
    for (let k = a.rowPtr[r]; k < a.rowPtr[r + 1]; k++) {
      expect(a.colIdx[k]).toBeGreaterThanOrEqual(k > a.rowPtr[r] ? a.colIdx[k - 1] + 1 : 0);
      expect(a.colIdx[k]).toBeLessThan(a.ncols);
      expect(Number.isFinite(a.values[k])).toBe(true);
    }
  }
}

/** 5-point Laplacian on a g×g grid with Dirichlet boundary: 4 on the diagonal, -1 to each grid neighbour. */
function poisson2d(g: number): CsrMatrix<Float64Array> {
  const rows: number[] = [];
  const cols: number[] = [];
  const vals: number[] = [];
  const at = (i: number, j: number) => i * g + j;
  for (let i = 0; i < g; i++) {
    for (let j = 0; j < g; j++) {
      const r = at(i, j);
      const add = (c: number, v: number) => (rows.push(r), cols.push(c), vals.push(v));
      add(r, 4);
      if (i > 0) add(at(i - 1, j), -1);
      if (i < g - 1) add(at(i + 1, j), -1);
      if (j > 0) add(at(i, j - 1), -1);
      if (j < g - 1) add(at(i, j + 1), -1);
    }
  }
  return csrFromCoo(g * g, g * g, Int32Array.from(rows), Int32Array.from(cols), Float64Array.from(vals));
}

describe('reading fixtures', () => {
  it('general real coordinate: out-of-order entries, duplicates summed, comments kept', async () => {
    const r = await readMatrixMarket(fixture('mm-general-real.mtx'));
    expect(r.kind).toBe('coordinate');
    expect(r.field).toBe('real');
    expect(r.symmetry).toBe('general');
    expect(r.comments).toEqual(['A 4 x 5 general matrix, entries out of order, one duplicate (2,3),', 'scientific notation and a blank line.']);
    const a = coo(r);
    expectCanonical(a);
    expect(a.values).toBeInstanceOf(Float64Array);
    expect(Array.from(a.rowPtr)).toEqual([0, 2, 4, 5, 7]);
    expect(Array.from(a.colIdx)).toEqual([0, 4, 0, 2, 1, 0, 4]);
    expect(Array.from(a.values)).toEqual([1.5, -7, 0.125, 0.75, -22.5, 3, 1e-3]);
  });

  it('symmetric coordinate: lower triangle mirrored to full CSR', async () => {
    const a = coo(await readMatrixMarket(fixture('mm-symmetric-real.mtx')));
    expectCanonical(a);
    expect(toDense(a)).toEqual([
      [4, -1, 0, 0.5],
      [-1, 4, -1, 0],
      [0, -1, 4, -1],
      [0.5, 0, -1, 4],
    ]);
    expect(a.colIdx.length).toBe(12);
  });

  it('pattern symmetric coordinate: ones on the mirrored structure', async () => {
    const r = await readMatrixMarket(fixture('mm-pattern.mtx'));
    expect(r.field).toBe('pattern');
    expect(toDense(coo(r))).toEqual([
      [1, 1, 0],
      [1, 0, 1],
      [0, 1, 1],
    ]);
  });

  it('integer array: column-major file to row-major dense', async () => {
    const r = await readMatrixMarket(fixture('mm-integer-array.mtx'));
    expect(r.kind).toBe('array');
    expect(r.field).toBe('integer');
    const d = dense(r);
    expect([d.rows, d.cols]).toEqual([3, 2]);
    expect(rowsOf(d)).toEqual([
      [1, 40],
      [-2, 5],
      [3, -6],
    ]);
  });

  it('skew-symmetric array: strict lower triangle, negated mirror, zero diagonal', async () => {
    const d = dense(await readMatrixMarket(fixture('mm-skew-array.mtx')));
    expect(rowsOf(d)).toEqual([
      [0, -1.5, 2],
      [1.5, 0, -3.25],
      [-2, 3.25, 0],
    ]);
  });

  it('dtype f32 gives Float32Array values', async () => {
    const r = await readMatrixMarket(fixture('mm-general-real.mtx'), { dtype: 'f32' });
    const a = coo(r);
    expect(a.values).toBeInstanceOf(Float32Array);
    expect(a.values[6]).toBe(Math.fround(1e-3));
    const d = dense(await readMatrixMarket(fixture('mm-integer-array.mtx'), { dtype: 'f32' }));
    expect(d.data).toBeInstanceOf(Float32Array);
  });

  it.each([
    ['mm-bad-banner.mtx', 'E_PARSE', /line 1: missing "%%MatrixMarket" banner/],
    ['mm-wrong-count.mtx', 'E_PARSE', /line 7: more entries than the 4 declared/],
    ['mm-index-out-of-range.mtx', 'E_RANGE', /line 4: row index 4 outside 1\.\.3/],
    ['mm-non-numeric.mtx', 'E_PARSE', /line 4: expected a real number, got "abc"/],
    ['mm-complex.mtx', 'E_PARSE', /line 1: complex matrices are not supported/],
    ['mm-truncated.mtx', 'E_PARSE', /truncated/],
    ['mm-nonfinite.mtx', 'E_NONFINITE', /line 4: value "inf" is not finite/],
  ] as const)('%s is rejected with %s', async (name, code, message) => {
    const e = await readMatrixMarket(fixture(name)).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NumkernError);
    expect((e as NumkernError).code).toBe(code);
    expect((e as NumkernError).message).toMatch(message);
    expect((e as NumkernError).message).toContain(name);
  });

  it('a missing file is E_IO naming the path', async () => {
    const path = fixture('no-such-file.mtx');
    const e = await readMatrixMarket(path).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NumkernError);
    expect((e as NumkernError).code).toBe('E_IO');
    expect((e as NumkernError).message).toContain(path);
    expect((e as NumkernError).argument).toBe(path);
  });
});

describe('parsing edge cases', () => {
  const H = '%%MatrixMarket matrix coordinate real general\n';

  it('accepts CRLF, a BOM, tabs, case-insensitive banner words and blank lines anywhere', () => {
    const text = '\uFEFF%%MatrixMarket Matrix Coordinate REAL General\r\n% note\r\n\r\n2 2 2\r\n1\t1\t1\r\n\r\n  2 2 -2.5E+0  \r\n';
    const r = parseMatrixMarket(text);
    expect(r.comments).toEqual(['note']);
    expect(toDense(coo(r))).toEqual([
      [1, 0],
      [0, -2.5],
    ]);
  });

  it('keeps explicit zeros and duplicate sums that cancel as stored entries', () => {
    const a = coo(parseMatrixMarket(`${H}2 2 3\n1 2 0\n2 1 1.5\n2 1 -1.5\n`));
    expect(Array.from(a.colIdx)).toEqual([1, 0]);
    expect(Array.from(a.values)).toEqual([0, 0]);
  });

  it('mirrors symmetric entries from either triangle and sums duplicates after mirroring', () => {
    const a = coo(parseMatrixMarket('%%MatrixMarket matrix coordinate integer symmetric\n3 3 4\n1 3 2\n3 1 5\n2 2 -1\n2 2 4\n'));
    expect(toDense(a)).toEqual([
      [0, 0, 7],
      [0, 3, 0],
      [7, 0, 0],
    ]);
  });

  it('skew-symmetric coordinate negates the mirror and rejects a nonzero diagonal', () => {
    const a = coo(parseMatrixMarket('%%MatrixMarket matrix coordinate real skew-symmetric\n2 2 2\n2 1 3\n1 1 0\n'));
    expect(toDense(a)).toEqual([
      [0, -3],
      [3, 0],
    ]);
    parseCode('%%MatrixMarket matrix coordinate real skew-symmetric\n2 2 1\n1 1 2\n', 'E_PARSE', /line 3: .*nonzero diagonal/);
  });

  it('accepts empty matrices', () => {
    const a = coo(parseMatrixMarket(`${H}0 0 0\n`));
    expect([a.nrows, a.ncols, a.rowPtr.length, a.colIdx.length]).toEqual([0, 0, 1, 0]);
    const b = coo(parseMatrixMarket(`${H}3 2 0`));
    expect(Array.from(b.rowPtr)).toEqual([0, 0, 0, 0]);
    expect(dense(parseMatrixMarket('%%MatrixMarket matrix array real general\n0 4\n')).data.length).toBe(0);
  });

  it.each([
    ['', 'E_PARSE', /line 1: missing/],
    ['\n\n', 'E_PARSE', /line 1: missing/],
    ['%%MatrixMarket matrix coordinate real\n1 1 0\n', 'E_PARSE', /line 1: banner needs 5 words/],
    ['%%MatrixMarket vector coordinate real general\n1 1 0\n', 'E_PARSE', /line 1: object "vector"/],
    ['%%MatrixMarket matrix sparse real general\n1 1 0\n', 'E_PARSE', /line 1: format "sparse"/],
    ['%%MatrixMarket matrix coordinate double general\n1 1 0\n', 'E_PARSE', /line 1: field "double"/],
    ['%%MatrixMarket matrix coordinate real hermitian\n1 1 0\n', 'E_PARSE', /hermitian/],
    ['%%MatrixMarket matrix array pattern general\n1 1\n', 'E_PARSE', /array format cannot have a pattern/],
    ['%%MatrixMarket matrix coordinate real general\n% only comments\n', 'E_PARSE', /line 3: missing size line/],
    [`${H}2 2\n`, 'E_PARSE', /line 2: size line needs 3 integers/],
    [`${H}2 2 1 7\n1 1 1\n`, 'E_PARSE', /line 2: size line needs 3 integers/],
    [`${H}2 -2 1\n1 1 1\n`, 'E_PARSE', /line 2: expected a non-negative integer for column count, got "-2"/],
    [`${H}2.0 2 1\n1 1 1\n`, 'E_PARSE', /row count/],
    [`${H}2147483648 1 0\n`, 'E_RANGE', /exceed 2\^31 - 1/],
    [`${H}99999999999999999999 1 0\n`, 'E_RANGE', /too large/],
    [`${H}1000000 1000000 1000000000000\n1 1 1\n`, 'E_PARSE', /cannot hold them/],
    [`${H}2 2 2\n1 1 1\n`, 'E_PARSE', /cannot hold them|found 1/],
    [`${H}1000000000 3 2\n1 1 1\n2 2 1\n`, 'E_RANGE', /line 2: size line declares 1000000000 x 3 for 2 entries: past 4194304 rows \+ columns, at most 64 per entry/],
    [`${H}3 4194302 2\n1 1 1\n2 2 1\n`, 'E_RANGE', /3 x 4194302 for 2 entries/],
    [`${H}3 3 3\n1 1 1\n2 2 2\n\n\n\n\n\n\n\n\n`, 'E_PARSE', /line 12: expected 3 entries, found 2/],
    [`${H}2 2 1\n0 1 1\n`, 'E_RANGE', /line 3: row index 0 outside 1\.\.2/],
    [`${H}2 2 1\n1 3 1\n`, 'E_RANGE', /line 3: column index 3 outside 1\.\.2/],
    [`${H}2 2 1\n1.0 1 1\n`, 'E_PARSE', /line 3: expected a non-negative integer for row index/],
    [`${H}2 2 1\n1   1\n`, 'E_PARSE', /line 3: expected 3 fields/],
    [`${H}2 2 1\n1 1 1 0\n`, 'E_PARSE', /line 3: expected 3 fields/],
    [`${H}2 2 1\n1 1 0x10\n`, 'E_PARSE', /expected a real number, got "0x10"/],
    [`${H}2 2 1\n1 1 1,5\n`, 'E_PARSE', /expected a real number/],
    [`${H}2 2 1\n1 1 1.0D+00\n`, 'E_PARSE', /expected a real number/],
    [`${H}2 2 1\n1 1 Infinity\n`, 'E_NONFINITE', /not finite/],
    [`${H}2 2 1\n1 1 -NaN\n`, 'E_NONFINITE', /not finite/],
    [`${H}2 2 1\n1 1 1e400\n`, 'E_NONFINITE', /overflows f64/],
    [`${H}2 2 2\n1 1 1e308\n1 1 1e308\n`, 'E_NONFINITE', /^text: duplicate entries/],
    ['%%MatrixMarket matrix coordinate integer general\n2 2 1\n1 1 1.5\n', 'E_PARSE', /expected an integer, got "1.5"/],
    ['%%MatrixMarket matrix coordinate pattern general\n2 2 1\n1 1 1\n', 'E_PARSE', /expected 2 fields/],
    ['%%MatrixMarket matrix coordinate real symmetric\n2 3 0\n', 'E_PARSE', /must be square/],
    ['%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n', 'E_PARSE', /cannot hold them|found 3/],
    ['%%MatrixMarket matrix array real general\n1 1\n1\n2\n', 'E_PARSE', /line 4: more values than the 1/],
    ['%%MatrixMarket matrix array real general\n1 2\n1 2\n\n', 'E_PARSE', /line 3: expected 1 value per line/],
  ] as const)('rejects %j with %s', (text, code, message) => {
    parseCode(text, code, message);
  });

  it('rejects values that overflow f32 only when reading as f32', () => {
    const text = `${H}1 1 1\n1 1 1e39\n`;
    expect(coo(parseMatrixMarket(text)).values[0]).toBe(1e39);
    expectCode(() => parseMatrixMarket(text, { dtype: 'f32' }), 'E_NONFINITE', /line 3: value 1e\+39 overflows f32/);
    expectCode(() => parseMatrixMarket(text, { dtype: 'f16' as 'f32' }), 'E_DTYPE', /opts\.dtype/);
    expectCode(() => parseMatrixMarket(42 as unknown as string), 'E_DTYPE', /text/);
  });

  it('reads any shape up to 2^22 rows + columns, and past it 64 per declared entry', () => {
    const empty = coo(parseMatrixMarket(`${H}4194303 1 1\n4194303 1 2.5\n`));
    expect(empty.rowPtr.length).toBe(4194304);
    expect([empty.rowPtr[4194302], empty.rowPtr[4194303], empty.values[0]]).toEqual([0, 1, 2.5]);
    const lines = Array.from({ length: 70000 }, (_, k) => `${k + 1} 1 1`).join('\n');
    expect(coo(parseMatrixMarket(`${H}4479999 1 70000\n${lines}\n`)).nrows).toBe(4479999);
    parseCode(`${H}4480000 1 70000\n${lines}\n`, 'E_RANGE', /4480000 x 1 for 70000 entries/);
  });

  it('stays linear on a huge malformed token and keeps the message short', () => {
    const token = `${'1'.repeat(200_000)}x`;
    const e = parseCode(`${H}1 1 1\n1 1 ${token}\n`, 'E_PARSE', /line 3: expected a real number/);
    expect(e.message.length).toBeLessThan(200);
  });
});

describe('csrFromCoo', () => {
  it('sorts columns, sums duplicates in input order, keeps the vals dtype', () => {
    const a = csrFromCoo(3, 4, Int32Array.of(2, 0, 2, 0, 2, 1), Int32Array.of(3, 1, 0, 1, 3, 2), Float32Array.of(1, 2, 3, 4, 5, 6));
    expectCanonical(a);
    expect(a.values).toBeInstanceOf(Float32Array);
    expect(Array.from(a.rowPtr)).toEqual([0, 1, 2, 4]);
    expect(Array.from(a.colIdx)).toEqual([1, 2, 0, 3]);
    expect(Array.from(a.values)).toEqual([6, 6, 3, 6]);
  });

  it('agrees with a dense accumulation on random triplets and does not touch its inputs', () => {
    const triplets = fc
      .record({ m: fc.integer({ min: 0, max: 9 }), n: fc.integer({ min: 0, max: 9 }) })
      .chain(({ m, n }) =>
        fc.record({
          m: fc.constant(m),
          n: fc.constant(n),
          entries:
            m === 0 || n === 0
              ? fc.constant([] as [number, number, number][])
              : fc.array(fc.tuple(fc.nat(m - 1), fc.nat(n - 1), fc.integer({ min: -50, max: 50 })), { maxLength: 60 }),
        }),
      );
    fc.assert(
      fc.property(triplets, ({ m, n, entries }) => {
        const rows = Int32Array.from(entries, (e) => e[0]);
        const cols = Int32Array.from(entries, (e) => e[1]);
        const vals = Float64Array.from(entries, (e) => e[2]);
        const copy = [rows.slice(), cols.slice(), vals.slice()];
        const a = csrFromCoo(m, n, rows, cols, vals);
        expectCanonical(a);
        const want = Array.from({ length: m }, () => new Array<number>(n).fill(0));
        const present = new Set<number>();
        for (const [i, j, v] of entries) {
          want[i][j] += v;
          present.add(i * n + j);
        }
        expect(toDense(a)).toEqual(want);
        expect(a.colIdx.length).toBe(present.size);
        expect([rows, cols, vals]).toEqual(copy);
      }),
      { numRuns: 300 },
    );
  });

  it('validates its arguments', () => {
    const i = Int32Array.of(0);
    const v = Float64Array.of(1);
    expectCode(() => csrFromCoo(-1, 1, i, i, v), 'E_RANGE', /nrows/);
    expectCode(() => csrFromCoo(1, 2 ** 31, i, i, v), 'E_RANGE', /ncols/);
    expectCode(() => csrFromCoo(1, 1, Int32Array.of(0, 0), i, v), 'E_SHAPE', /cols/);
    expectCode(() => csrFromCoo(1, 1, i, i, Float64Array.of(1, 2)), 'E_SHAPE', /vals/);
    expectCode(() => csrFromCoo(1, 1, Int32Array.of(1), i, v), 'E_RANGE', /rows\[0\]/);
    expectCode(() => csrFromCoo(1, 1, i, Int32Array.of(-1), v), 'E_RANGE', /cols\[0\]/);
    expectCode(() => csrFromCoo(1, 1, i, i, Float64Array.of(NaN)), 'E_NONFINITE', /vals\[0\]/);
    expectCode(() => csrFromCoo(1, 1, Int32Array.of(0, 0), Int32Array.of(0, 0), Float32Array.of(3e38, 3e38)), 'E_NONFINITE', /overflowed/);
    expectCode(() => csrFromCoo(1, 1, [0] as unknown as Int32Array, i, v), 'E_DTYPE', /rows/);
  });
});

describe('writing', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'numkern-mm-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a 5-point Poisson matrix exactly, general, symmetric and integer', () => {
    const a = poisson2d(12);
    expect(a.colIdx.length).toBe(5 * 144 - 4 * 12);
    for (const opts of [{}, { symmetric: true }, { field: 'integer' as const }, { symmetric: true, field: 'integer' as const }]) {
      const text = writeMatrixMarket(a, { ...opts, comment: '5-point Laplacian, 12 x 12 grid' });
      const r = parseMatrixMarket(text);
      expect(r.symmetry).toBe(opts.symmetric ? 'symmetric' : 'general');
      expect(r.comments).toEqual(['5-point Laplacian, 12 x 12 grid']);
      expectSameCsr(coo(r), a);
    }
    const lower = writeMatrixMarket(a, { symmetric: true });
    expect(lower.split('\n')[1]).toBe(`144 144 ${(a.colIdx.length + 144) / 2}`);
  });

  it('writes the exact text of a small matrix', () => {
    const a = csrFromCoo(2, 3, Int32Array.of(0, 1, 0), Int32Array.of(2, 0, 0), Float64Array.of(0.1, -0, 2.5e-300));
    expect(writeMatrixMarket(a, { comment: 'first\n\nthird' })).toBe(
      '%%MatrixMarket matrix coordinate real general\n% first\n%\n% third\n2 3 3\n1 1 2.5e-300\n1 3 0.1\n2 1 -0\n',
    );
    expect(writeMatrixMarket(a, { field: 'pattern' })).toBe('%%MatrixMarket matrix coordinate pattern general\n2 3 3\n1 1\n1 3\n2 1\n');
    const d: DenseMatrix = { rows: 2, cols: 2, data: Float64Array.of(1, 2, 2, 3) };
    expect(writeMatrixMarket(d)).toBe('%%MatrixMarket matrix array real general\n2 2\n1\n2\n2\n3\n');
    expect(writeMatrixMarket(d, { symmetric: true })).toBe('%%MatrixMarket matrix array real symmetric\n2 2\n1\n2\n3\n');
    const big: DenseMatrix = { rows: 1, cols: 1, data: Float64Array.of(1e21) };
    expect(writeMatrixMarket(big, { field: 'integer' })).toBe('%%MatrixMarket matrix array integer general\n1 1\n1000000000000000000000\n');
    expect(dense(parseMatrixMarket(writeMatrixMarket(big, { field: 'integer' }))).data[0]).toBe(1e21);
  });

  it('round-trips through files', async () => {
    const a = poisson2d(5);
    const path = join(dir, 'poisson.mtx');
    await writeMatrixMarketFile(path, a, { symmetric: true });
    expectSameCsr(coo(await readMatrixMarket(path)), a);
    const f32 = coo(await readMatrixMarket(path, { dtype: 'f32' }));
    expect(f32.values).toBeInstanceOf(Float32Array);
    const bad = join(dir, 'missing-dir', 'x.mtx');
    const e = await writeMatrixMarketFile(bad, a).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(NumkernError);
    expect((e as NumkernError).code).toBe('E_IO');
    expect((e as NumkernError).message).toContain(bad);
  });

  it('streams a text of many pieces to a file exactly as writeMatrixMarket gives it, and refuses one string past the limit', async () => {
    const a = poisson2d(170);
    expect(a.rowPtr[a.nrows]).toBeGreaterThan(2 * 65536);
    const path = join(dir, 'pieces.mtx');
    await writeMatrixMarketFile(path, a, { symmetric: true, comment: 'pieces' });
    const text = writeMatrixMarket(a, { symmetric: true, comment: 'pieces' });
    expect(await readFile(path, 'utf8')).toBe(text);
    expect([...matrixMarketPieces(a)].length).toBeGreaterThan(2);
    expectCode(() => joinPieces(matrixMarketPieces(a), 1000), 'E_RANGE', /^m: its Matrix Market text passes 1000 characters, more than one JavaScript string holds: write it with writeMatrixMarketFile/);
    const general = writeMatrixMarket(a);
    expect(joinPieces(matrixMarketPieces(a), general.length)).toBe(general);
    expectCode(() => joinPieces(matrixMarketPieces(a), general.length - 1), 'E_RANGE', /passes \d+ characters/);
  });

  it('rejects what it cannot write faithfully', () => {
    const ok = csrFromCoo(2, 2, Int32Array.of(0, 1), Int32Array.of(1, 0), Float64Array.of(1, 2));
    expectCode(() => writeMatrixMarket(ok, { symmetric: true }), 'E_SHAPE', /not symmetric: \(0, 1\) = 1 but \(1, 0\) = 2/);
    const oneSided = csrFromCoo(2, 2, Int32Array.of(0), Int32Array.of(1), Float64Array.of(1));
    expectCode(() => writeMatrixMarket(oneSided, { symmetric: true }), 'E_SHAPE', /entry \(0, 1\) is stored but \(1, 0\) is not/);
    expect(writeMatrixMarket(ok, { symmetric: true, field: 'pattern' })).toBe('%%MatrixMarket matrix coordinate pattern symmetric\n2 2 1\n2 1\n');
    const rect = csrFromCoo(2, 3, new Int32Array(0), new Int32Array(0), new Float64Array(0));
    expectCode(() => writeMatrixMarket(rect, { symmetric: true }), 'E_SHAPE', /square/);
    const unsorted: CsrMatrix = { nrows: 1, ncols: 3, rowPtr: Int32Array.of(0, 2), colIdx: Int32Array.of(2, 1), values: Float64Array.of(1, 2) };
    expectCode(() => writeMatrixMarket(unsorted), 'E_CSR_INVALID', /strictly increasing/);
    const shortPtr: CsrMatrix = { nrows: 2, ncols: 3, rowPtr: Int32Array.of(0, 0), colIdx: new Int32Array(0), values: new Float64Array(0) };
    expectCode(() => writeMatrixMarket(shortPtr), 'E_CSR_INVALID', /m\.rowPtr/);
    const nan: CsrMatrix = { nrows: 1, ncols: 1, rowPtr: Int32Array.of(0, 1), colIdx: Int32Array.of(0), values: Float64Array.of(NaN) };
    expectCode(() => writeMatrixMarket(nan), 'E_NONFINITE', /m\.values\[0\]/);
    expect(writeMatrixMarket(nan, { field: 'pattern' })).toContain('\n1 1\n');
    const half = csrFromCoo(1, 1, Int32Array.of(0), Int32Array.of(0), Float64Array.of(0.5));
    expectCode(() => writeMatrixMarket(half, { field: 'integer' }), 'E_RANGE', /0\.5 is not an integer/);
    expectCode(() => writeMatrixMarket(ok, { field: 'complex' as 'real' }), 'E_RANGE', /opts\.field/);
    const d: DenseMatrix = { rows: 2, cols: 2, data: Float64Array.of(1, 2, 3, 4) };
    expectCode(() => writeMatrixMarket(d, { symmetric: true }), 'E_SHAPE', /not symmetric/);
    expectCode(() => writeMatrixMarket(d, { field: 'pattern' }), 'E_RANGE', /opts\.field/);
    expectCode(() => writeMatrixMarket({ rows: 2, cols: 2, data: new Float64Array(3) }), 'E_SHAPE', /m\.data/);
    expectCode(() => writeMatrixMarket({ rows: 1, cols: 1, data: Float64Array.of(Infinity) }), 'E_NONFINITE', /m\.data\[0\]/);
    expectCode(() => writeMatrixMarket({} as DenseMatrix), 'E_DTYPE', /CsrMatrix/);
  });
});

describe('properties', () => {
  /** Random finite doubles, including -0, subnormals and the extremes, to exercise shortest round-trip printing. */
  const value = fc.double({ noNaN: true, noDefaultInfinity: true });
  const sparse = fc
    .record({ m: fc.integer({ min: 1, max: 12 }), n: fc.integer({ min: 1, max: 12 }) })
    .chain(({ m, n }) =>
      fc.record({
        m: fc.constant(m),
        n: fc.constant(n),
        entries: fc.uniqueArray(fc.tuple(fc.nat(m - 1), fc.nat(n - 1), value), {
          maxLength: m * n,
          selector: (e) => e[0] * n + e[1],
        }),
      }),
    );
  const build = ({ m, n, entries }: { m: number; n: number; entries: [number, number, number][] }) =>
    csrFromCoo(m, n, Int32Array.from(entries, (e) => e[0]), Int32Array.from(entries, (e) => e[1]), Float64Array.from(entries, (e) => e[2]));

  it('write → parse is the identity on random sparse matrices, bit for bit', () => {
    fc.assert(
      fc.property(sparse, (spec) => {
        const a = build(spec);
        expectSameCsr(coo(parseMatrixMarket(writeMatrixMarket(a))), a);
      }),
      { numRuns: 300 },
    );
  });

  it('symmetric write → parse is the identity on random symmetric matrices, in f64 and f32', () => {
    fc.assert(
      fc.property(sparse, (spec) => {
        // Keep each entry's lower-triangle copy only, then mirror: exactly symmetric by construction.
        const n = Math.max(spec.m, spec.n);
        const lower = spec.entries.map(([i, j, v]) => (i >= j ? [i, j, v] : [j, i, v]) as [number, number, number]);
        const seen = new Set<number>();
        const uniq = lower.filter(([i, j]) => !seen.has(i * n + j) && seen.add(i * n + j));
        const full = uniq.flatMap(([i, j, v]) => (i === j ? [[i, j, v]] : [[i, j, v], [j, i, v]]) as [number, number, number][]);
        const a = build({ m: n, n, entries: full });
        expectSameCsr(coo(parseMatrixMarket(writeMatrixMarket(a, { symmetric: true }))), a);
        const f32 = a.values.map(Math.fround);
        if (f32.every(Number.isFinite)) {
          const a32: CsrMatrix = { ...a, values: Float32Array.from(f32) };
          expectSameCsr(coo(parseMatrixMarket(writeMatrixMarket(a32, { symmetric: true }), { dtype: 'f32' })), a32);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('write → parse is the identity on random dense matrices', () => {
    const denseSpec = fc
      .record({ m: fc.integer({ min: 0, max: 6 }), n: fc.integer({ min: 0, max: 6 }) })
      .chain(({ m, n }) => fc.record({ m: fc.constant(m), n: fc.constant(n), data: fc.array(value, { minLength: m * n, maxLength: m * n }) }));
    fc.assert(
      fc.property(denseSpec, ({ m, n, data }) => {
        const d: DenseMatrix = { rows: m, cols: n, data: Float64Array.from(data) };
        const back = dense(parseMatrixMarket(writeMatrixMarket(d)));
        expect([back.rows, back.cols]).toEqual([m, n]);
        expect(sameBits(back.data, d.data)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  /** Parse must either succeed with a canonical matrix or throw a NumkernError; anything else is a bug. */
  function parsesOrFailsCleanly(text: string): void {
    let r: MatrixMarketData | undefined;
    try {
      r = parseMatrixMarket(text);
    } catch (e) {
      if (!(e instanceof NumkernError)) throw e;
      expect(e.message).toMatch(/^(line \d+|text): /);
      return;
    }
    if (r.kind === 'coordinate') expectCanonical(r.matrix);
    else expect(r.matrix.data.length).toBe(r.matrix.rows * r.matrix.cols);
  }

  it('random strings parse or throw NumkernError', () => {
    const banner = fc.constantFrom(
      '',
      '%%MatrixMarket matrix coordinate real general\n',
      '%%MatrixMarket matrix coordinate pattern symmetric\n',
      '%%MatrixMarket matrix array integer skew-symmetric\n',
    );
    fc.assert(
      fc.property(banner, fc.string({ unit: 'binary', maxLength: 80 }), (b, s) => parsesOrFailsCleanly(b + s)),
      { numRuns: 1000 },
    );
    const tokens = fc.constantFrom('1', '2', '3', '0', '-1', '1.5', 'nan', '1e400', '%', ' ', '\t', '\n', '\r\n', 'x', '99999999999999999999', '2147483648');
    fc.assert(
      fc.property(banner, fc.array(tokens, { maxLength: 40 }), (b, ts) => parsesOrFailsCleanly(b + ts.join(''))),
      { numRuns: 2000 },
    );
  });

  it('mutated valid files parse or throw NumkernError', () => {
    const seeds = [
      writeMatrixMarket(poisson2d(3)),
      writeMatrixMarket(poisson2d(3), { symmetric: true, field: 'integer' }),
      writeMatrixMarket(poisson2d(2), { field: 'pattern', comment: 'pattern' }),
      writeMatrixMarket({ rows: 3, cols: 3, data: Float64Array.of(1, 2, 3, 2, 5, 6, 3, 6, 9) }, { symmetric: true }),
      '%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 2\n2 1 1.5\n3 2 -2\n',
      '%%MatrixMarket matrix array real skew-symmetric\n3 3\n1\n2\n3\n',
    ];
    const pieces = ['0', '9', '-', '.', 'e', 'E+', ' ', '\n', '%', '%%MatrixMarket', 'inf', 'NaN', '1e999', '0x1', '\u0000', '\uFEFF', 'é', '999999999999'];
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), piece: fc.constantFrom(...pieces) }),
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), piece: fc.constantFrom(...pieces) }),
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) => {
        let s = seed;
        for (const mu of muts) {
          const at = mu.at % (s.length + 1);
          if (mu.kind === 'delete') s = s.slice(0, at) + s.slice(at + mu.len);
          else if (mu.kind === 'insert') s = s.slice(0, at) + mu.piece + s.slice(at);
          else if (mu.kind === 'replace') s = s.slice(0, at) + mu.piece + s.slice(at + 1);
          else s = s.slice(0, at);
        }
        parsesOrFailsCleanly(s);
      }),
      { numRuns: 3000 },
    );
  });
});
