/**
 * What the webgpu relax kernels can take, decided before anything runs (KernelSpec.accepts): the
 * method must have a parallel form, every operand must fit one storage binding
 * (maxStorageBufferBindingSize, 128 MiB on lavapipe) and be representable in f32. A refusal is a
 * reason string; the dispatcher moves on to a CPU backend and records it.
 *
 * Natural-ordering sweeps ('sor', 'gauss-seidel', 'ssor', and the SSOR preconditioner of
 * 'ssor-cg') are sequential, so only 'jacobi', 'sor-redblack' and 'cg' run here.
 */
import { operatorRows } from '../../../core/operator.js';
import { isStencil, type LinearOperator } from '../../../core/types.js';
import type { RelaxArgs, RelaxMethod } from '../../../relax/ops.js';
import type { GpuRuntime } from '../dispatch.js';

/** The methods with a parallel form on the device. */
export const GPU_METHODS: readonly RelaxMethod[] = ['jacobi', 'sor-redblack', 'cg'];
export const SEQUENTIAL_REASON = 'natural-ordering sweeps are sequential; webgpu runs sor-redblack, jacobi and cg';

/**
 * Why `A` cannot be handed to an f32 device, or null. Scanned on every call, not cached per array:
 * a caller may edit A in place between solves, and the scan costs about what a content check
 * would (one pass, no allocation).
 */
export function f32Trouble(A: LinearOperator, name = 'A'): string | null {
  if (isStencil(A)) {
    const c = A.coeffs;
    if (c.kind === 'constant') {
      if (Math.fround(c.diag) === 0 || !Number.isFinite(Math.fround(c.diag))) return `${name}: diagonal ${c.diag} is not representable in f32`;
      const bad = c.offdiag.findIndex((v) => !Number.isFinite(Math.fround(v)));
      return bad < 0 ? null : `${name}: coupling ${c.offdiag[bad]} is beyond f32 range`;
    }
    for (let p = 0; p < c.diag.length; p++) {
      const d = Math.fround(c.diag[p]!);
      if (d === 0 || !Number.isFinite(d)) return `${name}: diagonal entry ${p} (${c.diag[p]}) is not representable in f32`;
    }
    for (const a of c.offdiag) {
      for (let p = 0; p < a.length; p++) if (!Number.isFinite(Math.fround(a[p]!))) return `${name}: coupling ${a[p]} at node ${p} is beyond f32 range`;
    }
    return null;
  }
  // f32 values are representable by construction (the façade guarantees finite, positive diagonals).
  if (A.values instanceof Float32Array) return null;
  const { values, rowPtr, colIdx } = A;
  for (let i = 0; i < A.nrows; i++) {
    for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++) {
      const v = Math.fround(values[p]!);
      if (!Number.isFinite(v)) return `${name}: entry (${i}, ${colIdx[p]}) = ${values[p]} is beyond f32 range`;
      if (v === 0 && colIdx[p] === i) return `${name}: diagonal entry ${i} (${values[p]}) rounds to 0 in f32`;
    }
  }
  return null;
}

/** Why one system's operands exceed a binding, or null. */
export function bindingTrouble(rt: GpuRuntime, A: LinearOperator, name = 'A'): string | null {
  const limit = rt.bindingBytes;
  const n = operatorRows(A);
  const over = (what: string, count: number) =>
    count * 4 > limit ? `${what}: ${count} 32-bit words (${count * 4} bytes) exceed the webgpu binding limit of ${limit} bytes` : null;
  if (isStencil(A)) {
    return over(`${name} vectors`, n) ?? (A.coeffs.kind === 'variable' ? over(`${name}.coeffs`, (1 + 2 * A.shape.length) * n) : null);
  }
  return over(`${name} vectors`, n) ?? over(`${name}.rowPtr`, n + 1) ?? over(`${name}.colIdx`, A.colIdx.length);
}

/** Largest |entry| double-f32 CG takes: Dekker's split (df_arith.wgsl) overflows f32 past 2¹¹⁴, and q = A p must stay far inside. */
const DF_MAX_ENTRY = 2 ** 60;

/**
 * Whether CG on `A` fits double-f32 (device-solve.ts): (hi, lo) vectors of 2n words, and the matrix
 * (a stencil's CSR twin) as rowPtr, colIdx and 2·nnz words of (hi, lo) values, each in one binding,
 * with entries of at most DF_MAX_ENTRY in magnitude. A system that does not fit runs CG in f32
 * instead, restarted at every refinement round.
 */
export function dfFits(rt: GpuRuntime, A: LinearOperator): boolean {
  const n = operatorRows(A);
  const nnz = isStencil(A) ? (1 + 2 * A.shape.length) * n : A.colIdx.length;
  if (4 * Math.max(2 * n, n + 1, 2 * nnz) > rt.bindingBytes) return false;
  const small = (v: number) => Math.abs(v) <= DF_MAX_ENTRY;
  const allSmall = (a: ArrayLike<number>) => {
    for (let k = 0; k < a.length; k++) if (!small(a[k]!)) return false;
    return true;
  };
  if (!isStencil(A)) return allSmall(A.values);
  const c = A.coeffs;
  return c.kind === 'constant' ? small(c.diag) && c.offdiag.every(small) : allSmall(c.diag) && c.offdiag.every(allSmall);
}

/** Natural-ordering sweeps: each row update reads the ones before it. */
const SEQUENTIAL: readonly string[] = ['sor', 'gauss-seidel', 'ssor', 'ssor-cg'];

/** Why the device has no kernel for `method`, or null when it has one. */
export function methodTrouble(method: RelaxMethod): string | null {
  if (GPU_METHODS.includes(method)) return null;
  return SEQUENTIAL.includes(method) ? `method '${method}': ${SEQUENTIAL_REASON}` : `method '${method}': no webgpu kernel (webgpu runs ${GPU_METHODS.join(', ')})`;
}

export function relaxAccepts(rt: GpuRuntime, args: RelaxArgs): string | null {
  return methodTrouble(args.method) ?? bindingTrouble(rt, args.A) ?? f32Trouble(args.A);
}
