/**
 * ctx.spmv on a prepared operator (ctx.relax.prepare): its snapshot never changes, so the native backend
 * keeps a lane layout of it (numkern/csr_lanes.hpp, built once and checked natively) and runs the product
 * on it. The same bits as the js oracle's row-order sums, on every call, on 1 and all threads; an f32
 * matrix (f32 accumulation, as the plain CSR's kernel), or one whose rows differ too much in length for the layout, takes the checked kernel instead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type CsrMatrix } from '../../src/index.js';
import { femAnisotropic3d, femPoisson2d } from '../../src/relax/fem.js';
import { rng } from '../support/backends.js';
import { loadNative } from '../../src/backends/addon/load.js';

const js = await createContext({ backends: ['js'] });
const native = await createContext({ backends: ['native', 'js'] }).catch(() => null);
const one = await createContext({ backends: ['native', 'js'], threads: 1 }).catch(() => null);
const has = native !== null && native.status().some((b) => b.name === 'native' && b.available);
afterAll(() => Promise.all([js.dispose(), native?.dispose(), one?.dispose()]));

/** A symmetric matrix whose first row is dense: one chunk of eight rows is padded to n slots. */
function arrowhead(n: number): CsrMatrix<Float64Array> {
  const rowPtr = new Int32Array(n + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i === 0) for (let j = 0; j < n; j++) { cols.push(j); vals.push(j === 0 ? n : -1 / (j + 1)); }
    else { cols.push(0, i); vals.push(-1 / (i + 1), 4); }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: n, ncols: n, rowPtr, colIdx: Int32Array.from(cols), values: Float64Array.from(vals) };
}

describe.skipIf(!has)('ctx.spmv on a prepared operator (native lane layout)', () => {
  const cases: [string, CsrMatrix<Float64Array>][] = [
    ['fem2d', femPoisson2d(40)],
    ['fem3d anisotropic', femAnisotropic3d(9)],
    ['arrowhead (declined: padding)', arrowhead(3001)],
  ];
  it.each(cases)('%s: the oracle\'s bits on every call and thread count; f32 too', async (_name, A) => {
    const r = rng(A.nrows);
    for (const ctx of [native!, one!]) {
      const P = ctx.relax.prepare(A, { recognizeStencil: false });
      for (let call = 0; call < 3; call++) {
        const x = Float64Array.from({ length: A.ncols }, () => r() * 2 - 1);
        const want = await js.spmv(A, x);
        expect(await ctx.spmv(P, x, { backend: 'native', strict: true })).toEqual(want);
      }
      const A32 = { ...A, values: Float32Array.from(A.values) };
      const P32 = ctx.relax.prepare(A32, { recognizeStencil: false });
      const x32 = Float32Array.from({ length: A.ncols }, () => r() * 2 - 1);
      // f32 takes the checked kernel: the plain CSR's product, bit for bit (f32 accumulation; the oracle's f64 sums differ).
      expect(await ctx.spmv(P32, x32, { backend: 'native', strict: true })).toEqual(await ctx.spmv(A32, x32, { backend: 'native', strict: true }));
      P.dispose();
      P32.dispose();
    }
  });

  it('the addon builds a layout only of a canonical CSR: it re-checks what it will follow unchecked', () => {
    const { addon } = loadNative();
    if (!addon?.csrLanes) return;
    const A = femPoisson2d(30);
    expect(addon.csrLanes(A.rowPtr, A.colIdx, A.values, A.ncols)).not.toBeNull();
    for (const [k, v] of [[5, A.ncols], [7, -1], [0, 3]] as const) {
      const bad = A.colIdx.slice();
      bad[k] = v; // past ncols, negative, or out of order in its row
      expect(addon.csrLanes(A.rowPtr, bad, A.values, A.ncols)).toBeNull();
    }
    const rp = A.rowPtr.slice();
    rp[3] = rp[2]! - 1;
    expect(addon.csrLanes(rp, A.colIdx, A.values, A.ncols)).toBeNull();
  });

  it('the caller\'s later edits of A do not reach the prepared product (the snapshot and its layout are private)', async () => {
    const A = femPoisson2d(20);
    const P = native!.relax.prepare(A, { recognizeStencil: false });
    const x = new Float64Array(A.ncols).fill(1);
    const before = await native!.spmv(P, x, { backend: 'native', strict: true });
    A.values.fill(NaN);
    A.colIdx.fill(-5);
    expect(await native!.spmv(P, x, { backend: 'native', strict: true })).toEqual(before);
  });
});
