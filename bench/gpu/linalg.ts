/**
 * GPU bench cases of the shared primitives (src/linalg): spmv on a 5-point Poisson matrix, dot, axpy
 * and nrm2, f32 and f64. Each call copies its operands to the device and back (the CUDA entry points
 * take host arrays), so these rates include the transfers: bytes count what a bandwidth-bound kernel
 * moves, each byte once.
 */
import { poisson2d, type Context } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import type { GpuCase } from './case.js';
import { maxRelError, QUICK, relDiff } from './sizes.js';

const M = QUICK ? 256 : 2048; // spmv grid side: n = M², nnz ≈ 5n
const N = QUICK ? 1 << 16 : 1 << 24; // vector length

/**
 * Tolerances against the CPU result, relative: f64 reductions summed in another order differ by
 * ~n·u₆₄ at worst (u₆₄ ≈ 1.1e-16); f32 ones by ~√n·u₃₂ in practice, bounded here by 1e-3 (u₃₂ ≈ 6e-8,
 * n up to 2^24, and the GPU may sum f32 in f32). Element-wise results (spmv rows of 5 terms, axpy)
 * differ by a few ulps at most.
 */
const tol = (dtype: 'f32' | 'f64', reduction: boolean) => (dtype === 'f64' ? (reduction ? 1e-12 : 1e-14) : reduction ? 1e-3 : 1e-6);

function vector(n: number, dtype: 'f32' | 'f64', seed: number): Float32Array | Float64Array {
  const out = dtype === 'f32' ? new Float32Array(n) : new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

const elementwise = (dtype: 'f32' | 'f64') => (got: unknown, ref: unknown) => {
  const e = maxRelError(got as Float64Array, ref as Float64Array);
  return e <= tol(dtype, false) ? null : `max relative error ${e.toExponential(2)} > ${tol(dtype, false)}`;
};
const scalar = (dtype: 'f32' | 'f64') => (got: unknown, ref: unknown) => {
  const e = relDiff(got as number, ref as number);
  return e <= tol(dtype, true) ? null : `relative difference ${e.toExponential(2)} > ${tol(dtype, true)}`;
};

function casesOf(dtype: 'f32' | 'f64'): GpuCase[] {
  const w = dtype === 'f32' ? 4 : 8;
  const n2 = M * M;
  const nnz = 5 * n2 - 4 * M;
  return [
    {
      family: 'linalg', name: `spmv poisson2d ${M}²`, dtype,
      // values and colIdx once, rowPtr once, x once (cached), y written once.
      bytes: nnz * (w + 4) + (n2 + 1) * 4 + 2 * n2 * w,
      async prepare(ctx: Context) {
        const P = poisson2d(M);
        const A = dtype === 'f64' ? P : { ...P, values: Float32Array.from(P.values) };
        const x = vector(n2, dtype, 1);
        return { run: (backend: BackendName) => ctx.spmv(A, x, { backend, strict: true }), check: elementwise(dtype) };
      },
    },
    {
      family: 'linalg', name: `dot n=${N}`, dtype, bytes: 2 * N * w,
      async prepare(ctx: Context) {
        const x = vector(N, dtype, 2);
        const y = vector(N, dtype, 3);
        return { run: (backend: BackendName) => ctx.dot(x, y, { backend, strict: true }), check: scalar(dtype) };
      },
    },
    {
      family: 'linalg', name: `axpy n=${N}`, dtype, bytes: 3 * N * w,
      async prepare(ctx: Context) {
        const x = vector(N, dtype, 4);
        const y = vector(N, dtype, 5);
        return { run: (backend: BackendName) => ctx.axpy(0.75, x, y, { backend, strict: true }), check: elementwise(dtype) };
      },
    },
    {
      family: 'linalg', name: `nrm2 n=${N}`, dtype, bytes: N * w,
      async prepare(ctx: Context) {
        const x = vector(N, dtype, 6);
        return { run: (backend: BackendName) => ctx.nrm2(x, { backend, strict: true }), check: scalar(dtype) };
      },
    },
  ];
}

export const cases: GpuCase[] = [...casesOf('f64'), ...casesOf('f32')];
