/**
 * relaxSolve and relaxSolveBatch on the CUDA backend: the addon's solver sessions with their systems on
 * the device (bindings/relax.cc cuda.relaxCreate, native/cuda/relax.cu), driven by the same loop as the
 * native backend's (../addon/relax.ts). The device iterates in f64 for f32 and f64 operands alike (the
 * addon widens f32 when it copies the system in), with the row updates of the CPU kernels
 * (numkern/relax_rows.hpp); the whole loop between two residual tests runs there, and only a test's
 * scalars come back. A batch of small systems advances in one launch, a block per system.
 *
 * Methods: all of them. The row-parallel ones row for row; the natural-ordering sweeps ('gauss-seidel',
 * 'sor', 'ssor') and the triangular passes of 'ssor-cg' level by level (numkern/relax_levels.hpp; the
 * sequential passes' bits). A batch of 'ssor-cg' systems runs each system's own launches in turn.
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import type { RelaxMethod } from '../../relax/ops.js';
import { missingExports } from '../addon/load.js';
import { checkRelaxLayout, nativeRelaxSolve, nativeRelaxSolveBatch, RELAX_EXPORTS, type NativeRelaxKernels } from '../addon/relax.js';
import type { CudaHandle } from './index.js';

/** The methods with a device kernel (numkern::relax::cuda_method). */
export const CUDA_RELAX_METHODS: readonly RelaxMethod[] = ['jacobi', 'gauss-seidel', 'sor', 'ssor', 'sor-redblack', 'cg', 'ssor-cg', 'jacobi-cg'];

/**
 * Auto-dispatch hand-off sizes (unknowns). A solve copies its system to the device once and reads back
 * only at residual tests, so it pays off well below a streaming op's CUDA_MIN_SIZE. Estimates: nothing
 * has run on a GPU yet (bench/gpu measures them); overridable per context (createContext({thresholds})).
 */
const MIN_SOLVE = 1 << 16;
const MIN_BATCH = 1 << 14;

/** Why the device has no kernel for `method`, or null when it has one. */
export function cudaMethodTrouble(method: RelaxMethod): string | null {
  if (CUDA_RELAX_METHODS.includes(method)) return null;
  return `method '${method}': no device kernel; cuda runs ${CUDA_RELAX_METHODS.join(', ')}`;
}

/** The addon's device relax entry points, typed; throws when one is missing or the tables disagree. */
export function cudaRelaxAddon(cuda: object): NativeRelaxKernels {
  const missing = missingExports(cuda, RELAX_EXPORTS);
  if (missing.length > 0) throw new Error(`addon lacks the relax CUDA entry points ${missing.join(', ')} (stale build? run npm run rebuild:native)`);
  const relax = cuda as NativeRelaxKernels;
  checkRelaxLayout(relax.relaxLayout());
  return relax;
}

export function relaxKernels({ cuda, guarded }: CudaHandle): AnyKernel[] {
  const relax = cudaRelaxAddon(cuda);
  const dtypes = ['f32', 'f64'] as const;
  return [
    kernel({
      op: 'relaxSolve', dtypes, minSize: MIN_SOLVE,
      accepts: (args) => cudaMethodTrouble(args.method),
      run: (args, ctl) => guarded(() => nativeRelaxSolve(relax, 0, args, ctl)),
    }),
    kernel({
      op: 'relaxSolveBatch', dtypes, minSize: MIN_BATCH,
      accepts: (args) => cudaMethodTrouble(args.options.method),
      run: (args, ctl) => guarded(() => nativeRelaxSolveBatch(relax, 0, args, ctl)),
    }),
  ];
}
