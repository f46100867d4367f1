/**
 * Test problems of the sketch suites: dense matrices with a prescribed SVD (so κ and the optimal
 * residual are known by construction), CSR twins, the identity (whose sketch is S itself) and the
 * Philox words of the reproducibility contract computed through the public philoxFill only.
 */
import { philoxFill, type CsrMatrix, type DenseMatrix } from '../../src/index.js';
import { rng } from '../support/backends.js';

export function gaussian(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

export function randomDense(rows: number, cols: number, seed: number): DenseMatrix<Float64Array> {
  const r = rng(seed);
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => gaussian(r)) };
}

/** n × k with orthonormal columns (modified Gram–Schmidt, twice: orthogonal to ~1e-16). */
export function orthonormal(n: number, k: number, seed: number): Float64Array {
  const Q = randomDense(n, k, seed).data;
  for (let pass = 0; pass < 2; pass++) {
    for (let j = 0; j < k; j++) {
      for (let l = 0; l < j; l++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += Q[i * k + j]! * Q[i * k + l]!;
        for (let i = 0; i < n; i++) Q[i * k + j] -= s * Q[i * k + l]!;
      }
      let s = 0;
      for (let i = 0; i < n; i++) s += Q[i * k + j]! ** 2;
      s = Math.sqrt(s);
      for (let i = 0; i < n; i++) Q[i * k + j] /= s;
    }
  }
  return Q;
}

export interface LsProblem {
  A: DenseMatrix<Float64Array>;
  b: Float64Array;
  /** The exact solution of the exact problem (A and b are its rounding). */
  xStar: Float64Array;
  /** ‖r*‖ (by construction r* ⊥ range(A)). */
  opt: number;
  kappa: number;
}

/**
 * A = U·diag(σ)·Vᵀ with σ_j = κ^(−j/(d−1)) (‖A‖ = 1, cond κ), x* Gaussian, b = A x* + ρ·u_⊥ with u_⊥ a
 * unit vector orthogonal to range(U): so x* is the least-squares solution and ‖r*‖ = ρ.
 */
export function lsProblem(n: number, d: number, kappa: number, rho: number, seed: number): LsProblem {
  if (n === d && rho !== 0) throw new Error('a square problem is consistent: rho must be 0');
  // A square problem has no direction orthogonal to range(A); its (d+1)-th column is unused (rho = 0).
  const U = n > d ? orthonormal(n, d + 1, seed) : (() => {
    const Q = orthonormal(n, d, seed);
    const W = new Float64Array(n * (d + 1));
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) W[i * (d + 1) + j] = Q[i * d + j]!;
    return W;
  })();
  const V = orthonormal(d, d, seed + 1);
  const sigma = Array.from({ length: d }, (_, j) => (d === 1 ? 1 : kappa ** (-j / (d - 1))));
  const A = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += U[i * (d + 1) + k]! * sigma[k]! * V[j * d + k]!;
      A[i * d + j] = s;
    }
  }
  const r = rng(seed + 2);
  const xStar = Float64Array.from({ length: d }, () => gaussian(r));
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += A[i * d + j]! * xStar[j]!;
    b[i] = s + rho * U[i * (d + 1) + d]!;
  }
  return { A: { rows: n, cols: d, data: A }, b, xStar, opt: rho, kappa };
}

export function toCsr(A: DenseMatrix<Float64Array>): CsrMatrix<Float64Array> {
  const rowPtr = new Int32Array(A.rows + 1);
  const cols: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < A.rows; i++) {
    for (let j = 0; j < A.cols; j++) {
      const v = A.data[i * A.cols + j]!;
      if (v !== 0) {
        cols.push(j);
        vals.push(v);
      }
    }
    rowPtr[i + 1] = cols.length;
  }
  return { nrows: A.rows, ncols: A.cols, rowPtr, colIdx: Int32Array.from(cols), values: Float64Array.from(vals) };
}

export function identity(n: number): DenseMatrix<Float64Array> {
  const data = new Float64Array(n * n);
  for (let i = 0; i < n; i++) data[i * n + i] = 1;
  return { rows: n, cols: n, data };
}

/** Rows [r0, r1) of a dense matrix (a view). */
export function rowBlock(A: DenseMatrix<Float64Array>, r0: number, r1: number): DenseMatrix<Float64Array> {
  return { rows: r1 - r0, cols: A.cols, data: A.data.subarray(r0 * A.cols, r1 * A.cols) };
}

/** Word q of stream s under seed, through the public philoxFill. */
export function word(seed: number, stream: number, q: number): number {
  return philoxFill(seed, stream, q, new Uint32Array(1))[0]!;
}

export function residualNorm(A: DenseMatrix<Float64Array>, b: Float64Array, x: Float64Array): number {
  let s2 = 0;
  for (let i = 0; i < A.rows; i++) {
    let s = 0;
    for (let j = 0; j < A.cols; j++) s += A.data[i * A.cols + j]! * x[j]!;
    s2 += (b[i]! - s) ** 2;
  }
  return Math.sqrt(s2);
}

export function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! ** 2;
  return Math.sqrt(s);
}

export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s) / norm(b);
}
