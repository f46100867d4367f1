/**
 * The native CSR scan (bindings/linalg.cc csrCheck, lent to core's checkCsr) against checkCsr's JS
 * scan: on canonical matrices and on every kind of corruption, including in-place edits of a matrix
 * that passed before, checkCsr must throw the same NumkernError (code and message) with and without it,
 * and never pass what the JS scan refuses.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadNative } from '../../src/backends/addon/load.js';
import { registerCsrScan, checkCsr } from '../../src/core/validate.js';
import type { CsrMatrix } from '../../src/index.js';
import { femAnisotropic3d, femPoisson2d } from '../../src/relax/fem.js';
import { checkOperator } from '../../src/relax/validate.js';
import { rng } from '../support/backends.js';

const { addon } = loadNative();
const scan = addon?.csrCheck;
afterAll(() => registerCsrScan(scan ?? null));

function outcome(A: CsrMatrix, checkFinite: boolean | 'relax' = true): string {
  try {
    if (checkFinite === 'relax') checkOperator(A, 'A');
    else checkCsr(A, 'A', { checkFinite });
    return 'ok';
  } catch (e) {
    return `${(e as { code?: string }).code}: ${(e as Error).message}`;
  }
}

function both(A: CsrMatrix, checkFinite: boolean | 'relax' = true): [string, string] {
  registerCsrScan(null);
  // Fresh index arrays each time, so that the JS path's structure cache cannot answer.
  const copy = (): CsrMatrix => ({ ...A, rowPtr: A.rowPtr.slice(), colIdx: A.colIdx.slice() });
  const js = outcome(copy(), checkFinite);
  registerCsrScan(scan!);
  return [js, outcome(copy(), checkFinite)];
}

type Edit = (A: CsrMatrix, r: () => number) => void;
const pick = (r: () => number, n: number) => Math.floor(r() * n);
const EDITS: [string, Edit][] = [
  ['none', () => undefined],
  ['column past ncols', (A, r) => { A.colIdx[pick(r, A.colIdx.length)] = A.ncols; }],
  ['negative column', (A, r) => { A.colIdx[pick(r, A.colIdx.length)] = -1; }],
  ['columns swapped in a row', (A, r) => {
    const i = pick(r, A.nrows);
    const p = A.rowPtr[i]!;
    if (A.rowPtr[i + 1]! - p >= 2) [A.colIdx[p], A.colIdx[p + 1]] = [A.colIdx[p + 1]!, A.colIdx[p]!];
    else A.colIdx[p] = -5;
  }],
  ['duplicate column', (A, r) => {
    const i = pick(r, A.nrows);
    const p = A.rowPtr[i]!;
    if (A.rowPtr[i + 1]! - p >= 2) A.colIdx[p + 1] = A.colIdx[p]!;
    else A.colIdx[p] = -5;
  }],
  ['row pointer decreases', (A, r) => { const i = 1 + pick(r, A.nrows - 1); A.rowPtr[i] = A.rowPtr[i + 1]! + 1; }],
  ['row pointer past nnz', (A, r) => { A.rowPtr[1 + pick(r, A.nrows - 1)] = A.colIdx.length + 7; }],
  ['row pointer 2^31 − 1', (A, r) => { A.rowPtr[1 + pick(r, A.nrows - 1)] = 2 ** 31 - 1; }],
  ['NaN value', (A, r) => { A.values[pick(r, A.values.length)] = NaN; }],
  ['huge value', (A, r) => { A.values[pick(r, A.values.length)] = -1e200; }],
  ['negative diagonal', (A, r) => { const i = pick(r, A.nrows); for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p] === i) A.values[p] = -2; }],
  ['zero diagonal', (A, r) => { const i = pick(r, A.nrows); for (let p = A.rowPtr[i]!; p < A.rowPtr[i + 1]!; p++) if (A.colIdx[p] === i) A.values[p] = 0; }],
  ['diagonal not stored', (A, r) => {
    // Row i's diagonal entry moved to a column the row lacks (kept sorted), so the row stores no diagonal.
    const i = pick(r, A.nrows);
    const p0 = A.rowPtr[i]!;
    const p1 = A.rowPtr[i + 1]!;
    const cols = new Set(Array.from(A.colIdx.subarray(p0, p1)));
    let free = 0;
    while (free === i || cols.has(free)) free++;
    const row = Array.from(A.colIdx.subarray(p0, p1)).map((c) => (c === i ? free : c)).sort((a, b) => a - b);
    A.colIdx.set(row, p0);
  }],
  ['−Infinity value', (A, r) => { A.values[pick(r, A.values.length)] = -Infinity; }],
];

describe.skipIf(!scan)('native CSR scan', () => {
  const matrices: [string, CsrMatrix][] = [
    ['fem2d f64', femPoisson2d(24)],
    ['fem3d f64', femAnisotropic3d(7)],
    ['fem2d f32', (() => { const A = femPoisson2d(20, { seed: 3 }); return { ...A, values: Float32Array.from(A.values) }; })()],
  ];
  for (const [name, A0] of matrices) {
    for (const [edit, apply] of EDITS) {
      it(`${name}, ${edit}: same verdict and message as the JS scan`, () => {
        for (let trial = 0; trial < 6; trial++) {
          const r = rng(1000 * trial + edit.length);
          const A: CsrMatrix = { ...A0, rowPtr: A0.rowPtr.slice(), colIdx: A0.colIdx.slice(), values: A0.values.slice() };
          apply(A, r);
          const [js, native] = both(A);
          expect(native).toBe(js);
          if (edit === 'none') expect(js).toBe('ok');
          const [jsNoFinite, nativeNoFinite] = both(A, false);
          expect(nativeNoFinite).toBe(jsNoFinite);
          const [jsRelax, nativeRelax] = both(A, 'relax');
          expect(nativeRelax).toBe(jsRelax);
          if (edit === 'none') expect(jsRelax).toBe('ok');
        }
      });
    }
  }

  it('an in-place edit after a passing check is caught on the next call', () => {
    registerCsrScan(scan!);
    const A = femPoisson2d(24);
    expect(outcome(A)).toBe('ok');
    A.colIdx[100] = A.ncols + 3;
    expect(outcome(A)).toMatch(/^E_CSR_INVALID: .*colIdx/);
    A.colIdx[100] = 0;
    A.values[5] = Infinity;
    expect(outcome(A)).toMatch(/^E_CSR_INVALID|^E_NONFINITE/);
  });
});

describe('ctx.linalg.spmv on a prepared operator', async () => {
  const { createContext } = await import('../../src/index.js');
  const ctx = await createContext({ backends: ['js', 'native'] });
  afterAll(() => ctx.dispose());

  it('gives the product of the snapshot, ignores later edits of the caller\'s matrix, and refuses a disposed handle', async () => {
    const A = femPoisson2d(12);
    const x = Float64Array.from({ length: A.ncols }, (_, i) => Math.sin(i));
    const P = ctx.relax.prepare(A, { recognizeStencil: false });
    const want = await ctx.spmv(A, x);
    A.values[3] = NaN;
    A.colIdx[0] = -1;
    expect(await ctx.spmv(P, x)).toEqual(want);
    await expect(ctx.spmv(A, x)).rejects.toMatchObject({ code: 'E_CSR_INVALID' });
    P.dispose();
    await expect(ctx.spmv(P, x)).rejects.toMatchObject({ code: 'E_RANGE', message: expect.stringMatching(/disposed/) });
  });
});
