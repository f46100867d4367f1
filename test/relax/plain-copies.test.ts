/**
 * PlainCopies (src/backends/addon/relax.ts): a plain CSR solve shares the native copy of the last one when
 * the addon finds the arrays equal, and copies afresh (releasing the old copy) when they are not. Against a
 * fake addon that records its calls; the real compare and the edits reaching every method are in
 * native-robustness.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { PlainCopies, type NativeRelaxKernels, type NativeRelaxOp, type NativeRelaxOperator } from '../../src/backends/addon/relax.js';
import { poisson2d } from '../../src/index.js';
import type { CsrMatrix } from '../../src/core/types.js';

function fakeAddon() {
  const calls: string[] = [];
  let made = 0;
  const copies = new Map<NativeRelaxOperator, Float64Array>();
  const relax = {
    relaxOperator(op: NativeRelaxOp, splitLanes?: boolean) {
      calls.push(`copy lanes=${String(splitLanes)}`);
      const h = { id: ++made } as unknown as NativeRelaxOperator;
      copies.set(h, Float64Array.from((op as { values: Float64Array }).values));
      return h;
    },
    relaxOperatorRelease(h: NativeRelaxOperator) {
      calls.push(`release ${(h as unknown as { id: number }).id}`);
      copies.delete(h);
    },
    relaxOperatorSame(h: NativeRelaxOperator, op: NativeRelaxOp) {
      calls.push('compare');
      const v = (op as { values: Float64Array }).values;
      const c = copies.get(h)!;
      return c.length === v.length && c.every((x, i) => Object.is(x, v[i]));
    },
  } as unknown as NativeRelaxKernels;
  return { relax, calls };
}

const op = (A: CsrMatrix): NativeRelaxOp => ({ rowPtr: A.rowPtr, colIdx: A.colIdx, values: A.values });

describe('PlainCopies', () => {
  it('shares the kept copy while the arrays are equal, copies afresh and releases the old one when not', () => {
    const { relax, calls } = fakeAddon();
    const keep = new PlainCopies(relax);
    const A = poisson2d(8);
    const first = keep.take(A, op(A));
    expect(keep.take(A, op(A))).toBe(first);
    A.values[5] = 7; // an edit in place: the content decides, not the object
    const second = keep.take(A, op(A));
    expect(second).not.toBe(first);
    const B = poisson2d(8);
    expect(keep.take(B, op(B))).not.toBe(second);
    expect(calls).toEqual(['copy lanes=false', 'compare', 'compare', 'copy lanes=false', 'release 1', 'compare', 'copy lanes=false', 'release 2']);
    keep.release(); // the context's dispose
    keep.release();
    expect(calls.slice(8)).toEqual(['release 3']);
    expect(keep.take(B, op(B))).not.toBeNull();
  });

  it('keeps no stencil and no matrix past the bound', () => {
    const { relax, calls } = fakeAddon();
    const keep = new PlainCopies(relax);
    expect(keep.take(poisson2d(8, { stencil: true }), { shape: Int32Array.of(8, 8), variable: false, diag: Float64Array.of(4), offdiag: new Float64Array(4) })).toBeNull();
    const nnz = PlainCopies.MAX_KEPT_ENTRIES + 1;
    const big = { nrows: 1, ncols: 1, rowPtr: Int32Array.of(0, nnz), colIdx: { length: nnz } as unknown as Int32Array, values: new Float64Array(0) } as CsrMatrix;
    expect(keep.take(big, op(big))).toBeNull();
    expect(calls).toEqual([]);
  });
});
