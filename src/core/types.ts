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

/**
 * Matrix-free 5-point (2-D) or 7-point (3-D) operator on an interior grid with Dirichlet boundary.
 * Unknown (i, j[, k]) sits at index i + nx·(j + ny·k) (natural ordering, x fastest), the same
 * ordering poisson2d/poisson3d give their CSR twins, so a stencil and its CSR form are the same matrix.
 * Couplings that would cross the boundary are dropped.
 */
export interface StencilOperator<T extends FloatArray = FloatArray> {
  readonly kind: 'stencil';
  /** [nx, ny] or [nx, ny, nz]. */
  readonly shape: readonly number[];
  readonly coeffs: StencilCoefficients<T>;
}

/**
 * Constant coefficients move only x and b through memory (the fast case); variable ones carry one
 * value per node and direction. Directions, in order: −x, +x, −y, +y[, −z, +z].
 */
export type StencilCoefficients<T extends FloatArray = FloatArray> =
  | { readonly kind: 'constant'; readonly diag: number; readonly offdiag: readonly number[] }
  | { readonly kind: 'variable'; readonly diag: T; readonly offdiag: readonly T[] };

export type LinearOperator<T extends FloatArray = FloatArray> = CsrMatrix<T> | StencilOperator<T>;

export function isStencil(A: LinearOperator): A is StencilOperator {
  return (A as StencilOperator).kind === 'stencil';
}
