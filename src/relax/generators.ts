/**
 * Model problems, each as CSR or as a matrix-free stencil (the same matrix, same ordering).
 * All are unscaled finite-difference matrices on the interior of the unit square/cube with Dirichlet
 * boundary and spacing h = 1/(m + 1): poisson2d(m) is MATLAB's delsq(numgrid('S', m + 2)), the matrix of
 * the Learning-to-Relax experiments (docs/relax.md §5.1).
 */
import { allocF64, checkMemory } from '../core/alloc.js';
import { fail } from '../core/errors.js';
import { stencilToCsr } from '../core/stencil.js';
import { isStencil, type CsrMatrix, type LinearOperator, type StencilOperator } from '../core/types.js';
import { checkFiniteNumber, checkIntegerInRange, describe } from '../core/validate.js';

export interface GeneratorOptions {
  /** Return the matrix-free operator instead of CSR. */
  stencil?: boolean;
}

function emit(S: StencilOperator<Float64Array>, o: GeneratorOptions | undefined, argument: string): LinearOperator<Float64Array> {
  return o?.stencil ? S : (stencilToCsr(S, 'f64', argument) as CsrMatrix<Float64Array>);
}

/** 5-point Laplacian on an m×m grid: diagonal 4, neighbours −1. n = m². */
export function poisson2d(m: number, options: { stencil: true }): StencilOperator<Float64Array>;
export function poisson2d(m: number, options?: { stencil?: false }): CsrMatrix<Float64Array>;
export function poisson2d(m: number, options?: GeneratorOptions): LinearOperator<Float64Array> {
  checkIntegerInRange(m, 1, 46340, 'm');
  return emit({ kind: 'stencil', shape: [m, m], coeffs: { kind: 'constant', diag: 4, offdiag: [-1, -1, -1, -1] } }, options, 'm');
}

/** 7-point Laplacian on an m×m×m grid: diagonal 6, neighbours −1. n = m³. */
export function poisson3d(m: number, options: { stencil: true }): StencilOperator<Float64Array>;
export function poisson3d(m: number, options?: { stencil?: false }): CsrMatrix<Float64Array>;
export function poisson3d(m: number, options?: GeneratorOptions): LinearOperator<Float64Array> {
  checkIntegerInRange(m, 1, 1290, 'm');
  return emit({ kind: 'stencil', shape: [m, m, m], coeffs: { kind: 'constant', diag: 6, offdiag: [-1, -1, -1, -1, -1, -1] } }, options, 'm');
}

/** A + cI, for CSR (every row must store its diagonal) and stencils. */
export function shifted<T extends LinearOperator>(A: T, c: number): T {
  checkFiniteNumber(c, 'c');
  if (isStencil(A)) {
    const k = A.coeffs;
    const coeffs = k.kind === 'constant'
      ? { kind: 'constant' as const, diag: k.diag + c, offdiag: k.offdiag }
      : { kind: 'variable' as const, diag: k.diag.map((v) => v + c), offdiag: k.offdiag };
    return { kind: 'stencil', shape: A.shape, coeffs } as T;
  }
  const M = A as CsrMatrix;
  if (typeof M !== 'object' || M === null || !(M.rowPtr instanceof Int32Array)) fail('E_CSR_INVALID', 'A', `expected a CSR matrix or stencil, got ${describe(A)}`);
  const values = M.values.slice();
  for (let i = 0; i < M.nrows; i++) {
    let found = false;
    for (let p = M.rowPtr[i]!; p < M.rowPtr[i + 1]!; p++) {
      if (M.colIdx[p] === i) {
        values[p] = values[p]! + c;
        found = true;
      }
    }
    if (!found) fail('E_ZERO_DIAGONAL', 'A', `row ${i} stores no diagonal entry to shift`);
  }
  // Sharing rowPtr/colIdx keeps the structure validated once (src/core/validate.ts).
  return { nrows: M.nrows, ncols: M.ncols, rowPtr: M.rowPtr, colIdx: M.colIdx, values } as T;
}

/**
 * −∇·(κ∇u) on an m×m grid, scaled by h²: the coupling between neighbours is −κ at the midpoint of
 * their shared face and the diagonal is the sum of the four face values (so κ ≡ 1 gives poisson2d).
 * Symmetric positive definite whenever κ > 0.
 */
export function diffusion2d(m: number, kappa: (x: number, y: number) => number, options?: GeneratorOptions): LinearOperator<Float64Array> {
  checkIntegerInRange(m, 1, 46340, 'm');
  if (typeof kappa !== 'function') fail('E_DTYPE', 'kappa', `expected a function (x, y) => κ, got ${describe(kappa)}`);
  const n = m * m;
  const h = 1 / (m + 1);
  checkMemory(5 * 8 * n, 'm');
  const diag = allocF64(n, 'm');
  const off = [0, 1, 2, 3].map(() => allocF64(n, 'm'));
  const face = (x: number, y: number) => {
    const k = kappa(x, y);
    if (!(k > 0) || !Number.isFinite(k)) fail('E_RANGE', 'kappa', `must be finite and > 0, got ${k} at (${x}, ${y})`);
    return k;
  };
  for (let j = 0; j < m; j++) {
    for (let i = 0; i < m; i++) {
      const p = i + m * j;
      const x = (i + 1) * h;
      const y = (j + 1) * h;
      const kw = face(x - h / 2, y);
      const ke = face(x + h / 2, y);
      const ks = face(x, y - h / 2);
      const kn = face(x, y + h / 2);
      diag[p] = kw + ke + ks + kn;
      if (i > 0) off[0]![p] = -kw;
      if (i < m - 1) off[1]![p] = -ke;
      if (j > 0) off[2]![p] = -ks;
      if (j < m - 1) off[3]![p] = -kn;
    }
  }
  return emit({ kind: 'stencil', shape: [m, m], coeffs: { kind: 'variable', diag, offdiag: off } }, options, 'm');
}

export interface HeatStep {
  /** I + s·P: the matrix solved each step. */
  lhs: LinearOperator<Float64Array>;
  /** I − s·P: applied to uⁿ to form the right-hand side (add dt·f). */
  rhs: LinearOperator<Float64Array>;
  /** s = dt·κ / (2h²), h = 1/nx. */
  s: number;
}

/**
 * Crank–Nicolson step for u_t = κ Δu on the unit square with nx − 1 interior points per side
 * (docs/relax.md §5.2): A_t = I − (dt/2) κ L_h with L_h = −P/h², so A_t = I + s P.
 */
export function heatStep2d(nx: number, options: { kappa: number; dt?: number; stencil?: boolean }): HeatStep {
  checkIntegerInRange(nx, 2, 46341, 'nx');
  const kappa = checkFiniteNumber(options?.kappa, 'options.kappa');
  if (!(kappa > 0)) fail('E_RANGE', 'options.kappa', `must be > 0, got ${kappa}`);
  const dt = options.dt === undefined ? 1e-3 : checkFiniteNumber(options.dt, 'options.dt');
  if (!(dt > 0)) fail('E_RANGE', 'options.dt', `must be > 0, got ${dt}`);
  const m = nx - 1;
  const s = (dt * kappa * nx * nx) / 2;
  const op = (sign: 1 | -1): StencilOperator<Float64Array> => ({
    kind: 'stencil', shape: [m, m], coeffs: { kind: 'constant', diag: 1 + sign * 4 * s, offdiag: [-sign * s, -sign * s, -sign * s, -sign * s] },
  });
  return { lhs: emit(op(1), options, 'nx'), rhs: emit(op(-1), options, 'nx'), s };
}
