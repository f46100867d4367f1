/**
 * Op contracts of the shared primitives (SpMV, BLAS-1, segmented moments). Backends implement them in
 * `src/backends/<b>/linalg.ts`; every family may call them through the engine.
 */
import type { CsrMatrix, FloatArray } from '../core/types.js';

declare module '../core/ops.js' {
  interface OpTable {
    /**
     * y := A x. The result says whether the kernel's arithmetic propagates NaN and ±Inf as IEEE 754 does
     * (no fast-math, no f16 storage): a row with a non-finite term then comes out non-finite, so with x
     * finite the façade may judge A.values' finiteness from y (./primitives.ts spmv). false: no such
     * promise, and the façade scans A.values itself.
     */
    spmv: {
      args: {
        A: CsrMatrix; x: FloatArray; y: FloatArray;
        /**
         * A is a prepared operator's private snapshot (ctx.relax.prepare): validated once and never
         * written, so a backend may keep what it derives from it, keyed on A, for later calls.
         */
        prepared?: boolean;
      };
      result: boolean;
    };
    /** Σ x_i y_i, accumulated in at least the input precision. */
    dot: { args: { x: FloatArray; y: FloatArray }; result: number };
    /** y := α x + y. */
    axpy: { args: { alpha: number; x: FloatArray; y: FloatArray }; result: void };
    /** ‖x‖₂, computed without overflow for finite x. */
    nrm2: { args: { x: FloatArray }; result: number };
    /**
     * Per-segment sum, mean and variance (two-pass, divisor count − ddof) of a ragged batch.
     * Empty segments give 0 for all three; segments with count ≤ ddof give variance 0.
     */
    segmentedMoments: {
      args: { values: FloatArray; offsets: Int32Array; ddof: number; sum: FloatArray; mean: FloatArray; variance: FloatArray };
      result: void;
    };
  }
}

export const LINALG_OPS = ['spmv', 'dot', 'axpy', 'nrm2', 'segmentedMoments'] as const;
