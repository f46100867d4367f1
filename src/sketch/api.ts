/** `ctx.sketch`: the sketch family as a context namespace (each a one-line hand-off to the family's façade files). */
import type { Engine } from '../core/engine.js';
import type { FloatArray } from '../core/types.js';
import * as ap from './apply.js';
import * as it from './iterative.js';
import { linfError, type LinfError } from './linf.js';
import * as ls from './lstsq.js';
import type { SketchOperand } from './ops.js';

export function sketchApi(engine: Engine) {
  return {
    /** S·A (and S·b) as a dense m × d matrix; S is generated from Philox in the kernel, never stored. */
    apply: (A: SketchOperand, options: ap.ApplyOptions): Promise<ap.SketchResult> => ap.apply(engine, A, options),
    /** S·A_block for the rows [rowOffset, rowOffset + rows) of a larger A: the blocks' results sum to S·A. */
    applyRows: (Ablock: SketchOperand, rowOffset: number, options: ap.ApplyRowsOptions): Promise<ap.SketchResult> =>
      ap.applyRows(engine, Ablock, rowOffset, options),
    /** min ‖A x − b‖₂ for tall A: sketch-and-solve, sketch-and-precondition, iterative sketching or Householder QR. */
    lstsq: (A: SketchOperand, b: FloatArray, options?: ls.LstsqOptions): Promise<ls.LstsqResult> => ls.lstsq(engine, A, b, options),
    /** max_i |x_i − xRef_i| and its relative size. */
    linfError: (x: FloatArray, xRef: FloatArray): LinfError => linfError(x, xRef),
    /** Randomized (block) Kaczmarz for a consistent system. */
    kaczmarz: (A: SketchOperand, b: FloatArray, options?: it.KaczmarzOptions): Promise<it.RowActionResult> => it.kaczmarz(engine, A, b, options),
    /** Sketch-and-project (Gower–Richtárik) for a consistent system. */
    sketchAndProject: (A: SketchOperand, b: FloatArray, options?: it.SketchAndProjectOptions): Promise<it.RowActionResult> =>
      it.sketchAndProject(engine, A, b, options),
  };
}

export type SketchApi = ReturnType<typeof sketchApi>;
