/**
 * GPU bench cases of relax: a fixed number of updates (tol 0, so no test stops them early; one residual
 * test at the end) of each device method, so every backend does the same work. Bytes are those of the
 * updates alone (the copies in and out are paid once per solve and are not counted), per update:
 *  - jacobi, sor-redblack on a constant 5-point stencil: x read, b read, x written (3n words);
 *  - cg on the 5-point CSR matrix: A once (values, colIdx, rowPtr) with p read and q written, then x, r,
 *    p, q read and x, r written, then r, p read and p written (11n words + the matrix);
 *  - jacobi-cg adds D⁻¹ (read once) and z (written once, read once): 14n words + the matrix;
 *  - sor (natural order, level by level: 2M − 1 launches a sweep on the M² grid) on the 5-point stencil:
 *    x copied to xo (2n), then x, xo, b read and x written (6n words);
 *  - ssor-cg on the 5-point CSR matrix (its two triangular passes level by level): the backward pass
 *    reads r̂, p̂ and writes p̂, t, the forward one reads p̂, t and writes v, A t, the dot reads p̂, t, v,
 *    the update reads x, t, v, r̂, r, A t and writes x, r̂, r (20n words + the matrix, half per pass).
 * Words are f64: the cuda backend iterates in f64 whatever the operands (webgpu in f32 with f64
 * refinement moves fewer bytes, and its rate is reported on the same count).
 *
 * Checks against the CPU solve of the same updates: cuda's stationary iterates are the CPU's bit for
 * bit and its CG differs in the reductions' last bits, so the residual norms agree to 1e-6 relative;
 * webgpu's f32 sweeps agree to 2e-2 (f32 rounding accumulated over the updates, refined in f64).
 */
import { poisson2d, type Context, type LinearOperator, type RelaxMethod } from '../../src/index.js';
import type { BackendName } from '../../src/core/types.js';
import type { GpuCase } from './case.js';
import { QUICK, relDiff } from './sizes.js';

const M = QUICK ? 128 : 2048; // grid side: n = M²
const UPDATES = QUICK ? 20 : 200;

interface Outcome {
  readonly iterations: number;
  readonly residualNorm: number;
  readonly backend: BackendName;
}

function check(got: unknown, ref: unknown): string | null {
  const g = got as Outcome;
  const r = ref as Outcome;
  if (g.iterations !== r.iterations) return `${g.iterations} updates, the CPU did ${r.iterations}`;
  const limit = g.backend === 'cuda' ? 1e-6 : 2e-2;
  const d = relDiff(g.residualNorm, r.residualNorm);
  return Number.isFinite(g.residualNorm) && d <= limit ? null : `residual ${g.residualNorm} vs the CPU's ${r.residualNorm} (relative difference ${d.toExponential(2)} > ${limit})`;
}

function solveCase(method: RelaxMethod, stencil: boolean, wordsPerRow: number): GpuCase {
  const n = M * M;
  const nnz = 5 * n - 4 * M;
  const matrix = stencil ? 0 : nnz * 12 + (n + 1) * 4;
  return {
    family: 'relax', name: `${method} poisson2d ${M}² ${stencil ? 'stencil' : 'CSR'} x${UPDATES}`, dtype: 'f64',
    bytes: UPDATES * (wordsPerRow * 8 * n + matrix),
    async prepare(ctx: Context) {
      const A: LinearOperator = stencil ? poisson2d(M, { stencil: true }) : poisson2d(M);
      const b = new Float64Array(n);
      for (let i = 0; i < n; i++) b[i] = Math.sin(0.001 * i) + 0.5;
      const omega = method === 'jacobi' ? 0.8 : 1.9;
      return {
        run: (backend: BackendName) =>
          ctx.solve(A, b, { method, omega, tol: 0, maxIter: UPDATES, checkEvery: UPDATES, backend, strict: true }),
        check,
      };
    },
  };
}

export const cases: GpuCase[] = [
  solveCase('jacobi', true, 3),
  solveCase('sor-redblack', true, 3),
  solveCase('sor', true, 6),
  solveCase('cg', false, 11),
  solveCase('jacobi-cg', false, 14),
  solveCase('ssor-cg', false, 20),
];
