/** `ctx.linalg`: the shared primitives as a context namespace (each a one-line hand-off to ./primitives.ts). */
import type { Engine } from '../core/engine.js';
import type { OpOptions } from '../core/options.js';
import type { CsrMatrix, FloatArray, Ragged } from '../core/types.js';
import type { PreparedHandle } from '../core/validate.js';
import * as p from './primitives.js';
import './ops.js';

export function linalgApi(engine: Engine) {
  return {
    /** y = A x for a CSR matrix, or for a prepared one (ctx.relax.prepare(A): validated once, not per call). */
    spmv: (A: CsrMatrix | PreparedHandle, x: FloatArray, options?: p.SpmvOptions): Promise<FloatArray> => p.spmv(engine, A, x, options),
    /** Σ x_i y_i. */
    dot: (x: FloatArray, y: FloatArray, options?: OpOptions): Promise<number> => p.dot(engine, x, y, options),
    /** α x + y (a new array unless options.inPlace). */
    axpy: (alpha: number, x: FloatArray, y: FloatArray, options?: p.AxpyOptions): Promise<FloatArray> => p.axpy(engine, alpha, x, y, options),
    /** Euclidean norm ‖x‖₂. */
    nrm2: (x: FloatArray, options?: OpOptions): Promise<number> => p.nrm2(engine, x, options),
    /** Per-segment sum, mean and variance of a ragged batch. */
    segmentedMoments: (batch: Ragged, options?: p.MomentsOptions): Promise<p.Moments> => p.segmentedMoments(engine, batch, options),
  };
}

export type LinalgApi = ReturnType<typeof linalgApi>;
