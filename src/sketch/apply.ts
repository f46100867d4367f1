/**
 * ctx.sketch.apply and ctx.sketch.applyRows: S·A (and S·b) as a dense row-major m × d matrix, with S
 * generated from Philox inside the kernel. applyRows sketches one row block at its global offset, so
 * SA = Σᵢ Sᵢ·Aᵢ over row blocks computed anywhere and summed by the caller (docs/sketch.md §3).
 */
import { allocF64 } from '../core/alloc.js';
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { BackendName, DenseMatrix, FloatArray } from '../core/types.js';
import { checkAttached, checkFinite, checkIntegerInRange, checkLength, describe, overlaps } from '../core/validate.js';
import { operandData, type SketchOperand } from './ops.js';
import { resolveSketch, type SketchDescription, type SketchOptions } from './spec.js';
import { checkOperandShape, checkOperandValues, checkVector } from './validate.js';

export interface ApplyOptions extends OpOptions, SketchOptions {
  /** Sketch this vector too (same rows as A, same dtype): Sb. */
  b?: FloatArray;
  /**
   * A Float64Array of m × cols to hold SA (row-major), overwritten whole, instead of a new one each call:
   * fresh memory costs a page fault per 4 KiB at first touch (~10 µs on the development VM: 3.3 ms of a
   * 28 ms SRHT of 200000 × 200 with m = 800). It must not share memory with A or b. When A fails the
   * finiteness check after the pass, out is left holding NaN, never a partial sketch.
   */
  out?: Float64Array;
}

export interface ApplyRowsOptions extends ApplyOptions {
  /** Rows of the whole A the blocks belong to: S is m × totalRows (the SRHT pads totalRows, not the block). */
  totalRows: number;
}

/** S·A as a dense f64 matrix, m × cols, with S·b when b was given. */
export interface SketchResult extends DenseMatrix<Float64Array> {
  readonly Sb: Float64Array | null;
  readonly sketch: SketchDescription;
  readonly backend: BackendName;
}

export async function applyRows(engine: Engine, Ablock: SketchOperand, rowOffset: number, options: ApplyRowsOptions): Promise<SketchResult> {
  const o = checkOpOptions<ApplyRowsOptions>(options);
  const finite = o.checkFinite !== false;
  const op = checkOperandShape(Ablock, 'A');
  const { A, rows, cols, dtype, size } = op;
  const offset = checkIntegerInRange(rowOffset, 0, 2 ** 31 - 1, 'rowOffset');
  const total = checkIntegerInRange(o.totalRows, 0, 2 ** 31 - 1, 'options.totalRows');
  if (offset + rows > total) fail('E_RANGE', 'rowOffset', `rows ${offset}..${offset + rows - 1} of the block lie outside the ${total} rows of the whole A (options.totalRows)`);
  const b = o.b === undefined ? null : checkVector(o.b, rows, dtype, 'options.b', { checkFinite: false });
  const { S, description } = resolveSketch(o, total);
  // The kernels add into SA (block by block, shard by shard), so a caller's buffer starts from zeros as a new one does.
  const SA = o.out === undefined ? allocF64(S.m * cols, 'options.m') : checkOut(o.out, S.m, cols, [operandData(A), b]).fill(0);
  const Sb = b ? allocF64(S.m, 'options.m') : null;
  // A's values are screened in the sketch's own pass where the backend can (a dense A on native: a
  // separate finiteness scan would read A a second time, as much as the SRHT's whole budget), as
  // lstsq does (docs/sketch.md §1). SA is ours until returned: a backend that did not screen, or found
  // a bad element, leaves the verdict to the scan, which throws the E_NONFINITE naming it.
  const args = { S, A, rowOffset: offset, b, SA, Sb, allowF32: false };
  let backend: BackendName;
  try {
    const r = await engine.run('sketchApply', finite ? { ...args, screen: Number.MAX_VALUE } : args, { ...o, dtype, size });
    backend = r.backend;
    if (finite) {
      if (!r.value || !r.value.screened || r.value.badIndex >= 0) {
        checkOperandValues(op, 'A', { checkFinite: true });
        // The scan passed although the pass stopped early (A changed under an async call): sketch again.
        if (r.value && r.value.badIndex >= 0) await engine.run('sketchApply', { ...args, SA: SA.fill(0), Sb: Sb?.fill(0) ?? null }, { ...o, dtype, size });
      }
      if (b) checkFinite(b, 'options.b');
    }
  } catch (e) {
    // A caller's buffer is never left holding a partial sketch, or the sketch of an input that failed validation.
    if (o.out !== undefined) SA.fill(NaN);
    throw e;
  }
  return { rows: S.m, cols, data: SA, Sb, sketch: description, backend };
}

/** options.out against the sketch's shape, and apart from the inputs the kernel reads while it writes. */
function checkOut(out: unknown, m: number, cols: number, inputs: (FloatArray | null)[]): Float64Array {
  if (!(out instanceof Float64Array)) fail('E_DTYPE', 'options.out', `expected a Float64Array of ${m} × ${cols} (SA is f64), got ${describe(out)}`);
  checkAttached(out, 'options.out');
  checkLength(out, m * cols, 'options.out');
  for (const a of inputs) if (a !== null && overlaps(out, a)) fail('E_SHAPE', 'options.out', 'shares memory with an input; the kernel reads A and b while it writes SA');
  return out;
}

export function apply(engine: Engine, A: SketchOperand, options: ApplyOptions): Promise<SketchResult> {
  const o = checkOpOptions<ApplyOptions>(options);
  const rows = typeof A === 'object' && A !== null ? ((A as { rows?: number }).rows ?? (A as { nrows?: number }).nrows) : undefined;
  // checkOperand inside applyRows names A; the row count here only sets totalRows.
  return applyRows(engine, A, 0, { ...o, totalRows: typeof rows === 'number' && Number.isInteger(rows) && rows >= 0 ? rows : 0 } as ApplyRowsOptions);
}
