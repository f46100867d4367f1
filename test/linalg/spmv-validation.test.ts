/**
 * ctx.spmv's per-call validation of a plain CSR (src/linalg/primitives.ts): the structure is checked
 * before the product, the values' finiteness after it, from y, on backends whose arithmetic propagates
 * NaN and ±Inf. On every backend, f32 and f64, small (JS scan) and large (native scan) matrices: an
 * in-place edit between two calls is caught with the error a fresh check gives; every non-finite value,
 * wherever it sits and whatever x multiplies it by (0 · ±Inf included), is reported, never returned as
 * a product; out is left all NaN when the values fail after the product; errors keep their precedence;
 * a product that overflows from finite values is returned, as before.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CsrMatrix, FloatArray } from '../../src/index.js';
import { checkCsr, checkFinite } from '../../src/core/validate.js';
import { femAnisotropic3d, femPoisson2d } from '../../src/relax/fem.js';
import { openForConformance, rng } from '../support/backends.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());

type DType = 'f32' | 'f64';
const cast = (a: Float64Array, dtype: DType): FloatArray => (dtype === 'f32' ? Float32Array.from(a) : a.slice());

function matrix(size: 'small' | 'large', dtype: DType): CsrMatrix {
  // small: 100 entries (below the native scan's 512: the JS scan); large: ~13k entries (the native scan).
  const A = size === 'small' ? femPoisson2d(4) : femAnisotropic3d(7);
  return { ...A, rowPtr: A.rowPtr.slice(), colIdx: A.colIdx.slice(), values: cast(A.values, dtype) };
}

/** What a fresh, whole validation says about A and x, as the façade checked before this change. */
function reference(A: CsrMatrix, x: FloatArray): string {
  try {
    checkCsr({ ...A, rowPtr: A.rowPtr.slice(), colIdx: A.colIdx.slice() }, 'A');
    checkFinite(x, 'x');
    return 'ok';
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
}

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return `${(e as { code: string }).code}: ${(e as Error).message}`;
  }
}

for (const backend of backends) {
  for (const dtype of ['f64', 'f32'] as const) {
    const runs = ctx.supports(backend, 'spmv', dtype);
    const opts = { backend, strict: true } as const;
    describe.skipIf(!runs)(`spmv on ${backend}, ${dtype}`, () => {
      for (const size of ['small', 'large'] as const) {
        it(`${size}: in-place edits between calls are caught, with a fresh check's error, and undoing them gives the product again`, async () => {
          const A = matrix(size, dtype);
          const x = cast(Float64Array.from({ length: A.ncols }, (_, i) => Math.cos(i)), dtype);
          const want = await ctx.spmv(A, x, opts);
          const r = rng(11);
          const edits: [string, RegExp, () => () => void][] = [
            ['NaN value', /^E_NONFINITE: A\.values: element \d+ is NaN$/, () => {
              const k = Math.floor(r() * A.values.length);
              const v = A.values[k]!;
              A.values[k] = NaN;
              return () => { A.values[k] = v; };
            }],
            ['+Inf value', /^E_NONFINITE: A\.values: element \d+ is Infinity$/, () => {
              const k = Math.floor(r() * A.values.length);
              const v = A.values[k]!;
              A.values[k] = Infinity;
              return () => { A.values[k] = v; };
            }],
            ['column past ncols', /^E_CSR_INVALID: A\.colIdx: entry \d+ \(row \d+\) is \d+, outside/, () => {
              const k = Math.floor(r() * A.colIdx.length);
              const c = A.colIdx[k]!;
              A.colIdx[k] = A.ncols + 2;
              return () => { A.colIdx[k] = c; };
            }],
            ['negative column', /^E_CSR_INVALID: A\.colIdx: entry \d+ \(row \d+\) is -1, outside/, () => {
              const k = Math.floor(r() * A.colIdx.length);
              const c = A.colIdx[k]!;
              A.colIdx[k] = -1;
              return () => { A.colIdx[k] = c; };
            }],
            ['duplicate column', /^E_CSR_INVALID: A\.colIdx: row \d+ is not strictly increasing/, () => {
              const i = Math.floor(r() * (A.nrows - 1));
              const p = A.rowPtr[i]!;
              const c = A.colIdx[p + 1]!;
              A.colIdx[p + 1] = A.colIdx[p]!;
              return () => { A.colIdx[p + 1] = c; };
            }],
            ['row pointer decreases', /^E_CSR_INVALID: A\.rowPtr: decreases at row \d+/, () => {
              const i = 1 + Math.floor(r() * (A.nrows - 2));
              const v = A.rowPtr[i]!;
              A.rowPtr[i] = A.rowPtr[i + 1]! + 1;
              return () => { A.rowPtr[i] = v; };
            }],
            ['row pointer past nnz', /^E_CSR_INVALID: A\.rowPtr: /, () => {
              const i = 1 + Math.floor(r() * (A.nrows - 2));
              const v = A.rowPtr[i]!;
              A.rowPtr[i] = 2 ** 31 - 1;
              return () => { A.rowPtr[i] = v; };
            }],
          ];
          for (const [what, pattern, edit] of edits) {
            for (let trial = 0; trial < 3; trial++) {
              const undo = edit();
              const got = await outcome(ctx.spmv(A, x, opts));
              expect(got, what).toMatch(pattern);
              expect(got, what).toBe(reference(A, x));
              undo();
              expect(await ctx.spmv(A, x, opts), what).toEqual(want);
            }
          }
        });
      }

      it('every non-finite value is reported wherever it sits, x = 0 there (0 · ±Inf) or not; out is left all NaN', async () => {
        const A = matrix('large', dtype);
        const nnz = A.values.length;
        const r = rng(5);
        const positions = [0, 1, nnz - 1, ...Array.from({ length: 12 }, () => Math.floor(r() * nnz))];
        const xs: [string, FloatArray][] = [
          ['zeros', cast(new Float64Array(A.ncols), dtype)],
          ['mixed', cast(Float64Array.from({ length: A.ncols }, (_, i) => (i % 3 === 0 ? 0 : Math.sin(i) - 2)), dtype)],
        ];
        for (const [xname, x] of xs) {
          for (const k of positions) {
            for (const bad of [NaN, Infinity, -Infinity]) {
              const v = A.values[k]!;
              A.values[k] = bad;
              const out = cast(new Float64Array(A.nrows).fill(7), dtype);
              const got = await outcome(ctx.spmv(A, x, { ...opts, out }));
              expect(got, `x ${xname}, entry ${k} = ${bad}`).toBe(`E_NONFINITE: A.values: element ${k} is ${bad}`);
              expect(out.every(Number.isNaN), 'out after the error').toBe(true);
              // With checks off the product is computed, and its row is not finite.
              const y = await ctx.spmv(A, x, { ...opts, checkFinite: false });
              expect(y.length).toBe(A.nrows);
              A.values[k] = v;
            }
          }
        }
      });

      it('errors keep their precedence: A.values before x and options.out', async () => {
        for (const size of ['small', 'large'] as const) {
          const A = matrix(size, dtype);
          A.values[3] = NaN;
          A.values[7] = NaN;
          const nanX = cast(new Float64Array(A.ncols).fill(1), dtype);
          nanX[0] = NaN;
          const cases: [string, () => Promise<unknown>][] = [
            ['x NaN', () => ctx.spmv(A, nanX, opts)],
            ['x too short', () => ctx.spmv(A, cast(new Float64Array(A.ncols - 1), dtype), opts)],
            ['x of the other dtype', () => ctx.spmv(A, dtype === 'f32' ? new Float64Array(A.ncols) : new Float32Array(A.ncols), opts)],
            ['out too short', () => ctx.spmv(A, cast(new Float64Array(A.ncols), dtype), { ...opts, out: cast(new Float64Array(1), dtype) })],
          ];
          for (const [what, call] of cases) expect(await outcome(call()), `${size}, ${what}`).toBe('E_NONFINITE: A.values: element 3 is NaN');
          A.values[3] = 1;
          A.values[7] = 1;
          expect(await outcome(ctx.spmv(A, nanX, opts))).toBe('E_NONFINITE: x: element 0 is NaN');
        }
      });

      it('a product that overflows from finite values is returned, as the oracle returns it', async () => {
        const A = matrix('large', dtype);
        const big = dtype === 'f32' ? 3e38 : 1.7e308;
        A.values.fill(big);
        const x = cast(new Float64Array(A.ncols).fill(1), dtype);
        const y = await ctx.spmv(A, x, opts);
        const ref = await ctx.spmv(A, x, { backend: 'js' });
        expect(y.some((v) => v === Infinity)).toBe(true);
        expect(Array.from(y, (v) => v === Infinity)).toEqual(Array.from(ref, (v) => v === Infinity));
      });
    });
  }
}
