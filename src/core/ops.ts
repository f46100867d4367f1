import type { CsrMatrix, FloatArray } from './types.js';

/**
 * The kernel-level contract every backend implements, one entry per op.
 * Arguments arrive validated (shapes, dtypes, CSR structure, finiteness) by the façade;
 * outputs are preallocated by the façade with the input dtype and written in place,
 * so results are always plain typed arrays the caller owns.
 * All arrays of one call share one dtype.
 */
export interface OpTable {
  /** y := A x. */
  spmv: { args: { A: CsrMatrix; x: FloatArray; y: FloatArray }; result: void };
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

export type OpName = keyof OpTable;
export type OpArgs<K extends OpName> = OpTable[K]['args'];
export type OpResult<K extends OpName> = OpTable[K]['result'];

export const OP_NAMES: readonly OpName[] = ['spmv', 'dot', 'axpy', 'nrm2', 'segmentedMoments'];
