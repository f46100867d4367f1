/** Element types a kernel can be registered for. */
export type DType = 'f32' | 'f64';
export type FloatArray = Float32Array | Float64Array;
export type BackendName = 'cuda' | 'webgpu' | 'native' | 'js';
export const BACKEND_NAMES: readonly BackendName[] = ['cuda', 'webgpu', 'native', 'js'];

/** Compressed sparse row matrix; column indices strictly increasing within each row. */
export interface CsrMatrix<T extends FloatArray = FloatArray> {
  readonly nrows: number;
  readonly ncols: number;
  readonly rowPtr: Int32Array;
  readonly colIdx: Int32Array;
  readonly values: T;
}

/** Row-major dense matrix. */
export interface DenseMatrix<T extends FloatArray = FloatArray> {
  readonly rows: number;
  readonly cols: number;
  readonly data: T;
}

/** Ragged batch: segment s holds values[offsets[s] .. offsets[s+1]). */
export interface Ragged<T extends FloatArray = FloatArray> {
  readonly offsets: Int32Array;
  readonly values: T;
}

export function dtypeOf(a: FloatArray): DType {
  return a instanceof Float32Array ? 'f32' : 'f64';
}

export function allocLike(a: FloatArray, n: number): FloatArray {
  return a instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

export function allocOf(dtype: DType, n: number): FloatArray {
  return dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
}
