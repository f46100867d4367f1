/**
 * ctx.sketch.apply and ctx.sketch.applyRows: S·A (and S·b) as a dense row-major m × d matrix, with S
 * generated from Philox inside the kernel. applyRows sketches one row block at its global offset, so
 * SA = Σᵢ Sᵢ·Aᵢ over row blocks computed anywhere and summed by the caller (docs/sketch.md §3).
 */
import type { Engine } from '../core/engine.js';
import { fail } from '../core/errors.js';
import { checkOpOptions, type OpOptions } from '../core/options.js';
import type { BackendName, DenseMatrix, FloatArray } from '../core/types.js';
import { checkIntegerInRange } from '../core/validate.js';
import type { SketchOperand } from './ops.js';
import { resolveSketch, type SketchDescription, type SketchOptions } from './spec.js';
import { checkOperand, checkVector } from './validate.js';

export interface ApplyOptions extends OpOptions, SketchOptions {
  /** Sketch this vector too (same rows as A, same dtype): Sb. */
  b?: FloatArray;
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
  const { A, rows, cols, dtype, size } = checkOperand(Ablock, 'A', { checkFinite: finite });
  const offset = checkIntegerInRange(rowOffset, 0, 2 ** 31 - 1, 'rowOffset');
  const total = checkIntegerInRange(o.totalRows, 0, 2 ** 31 - 1, 'options.totalRows');
  if (offset + rows > total) fail('E_RANGE', 'rowOffset', `rows ${offset}..${offset + rows - 1} of the block lie outside the ${total} rows of the whole A (options.totalRows)`);
  const b = o.b === undefined ? null : checkVector(o.b, rows, dtype, 'options.b', { checkFinite: finite });
  const { S, description } = resolveSketch(o, total);
  const SA = new Float64Array(S.m * cols);
  const Sb = b ? new Float64Array(S.m) : null;
  const r = await engine.run('sketchApply', { S, A, rowOffset: offset, b, SA, Sb, allowF32: false }, { ...o, dtype, size });
  return { rows: S.m, cols, data: SA, Sb, sketch: description, backend: r.backend };
}

export function apply(engine: Engine, A: SketchOperand, options: ApplyOptions): Promise<SketchResult> {
  const o = checkOpOptions<ApplyOptions>(options);
  const rows = typeof A === 'object' && A !== null ? ((A as { rows?: number }).rows ?? (A as { nrows?: number }).nrows) : undefined;
  // checkOperand inside applyRows names A; the row count here only sets totalRows.
  return applyRows(engine, A, 0, { ...o, totalRows: typeof rows === 'number' && Number.isInteger(rows) && rows >= 0 ? rows : 0 } as ApplyRowsOptions);
}
