/** The shared primitives (src/linalg/ops.ts) on the CUDA backend, f32 and f64. */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { CUDA_MIN_SIZE, type CudaHandle } from './index.js';

export function linalgKernels({ cuda, guarded }: CudaHandle): AnyKernel[] {
  const dtypes = ['f32', 'f64'] as const;
  const minSize = CUDA_MIN_SIZE;
  return [
    // No claim that NaN and ±Inf propagate (src/linalg/ops.ts): the device kernel shares the CPU's element
    // logic, but its arithmetic is not tested for it, so the façade scans A.values itself.
    kernel({ op: 'spmv', dtypes, minSize, run: ({ A, x, y }) => guarded(() => cuda.spmvAsync(A.rowPtr, A.colIdx, A.values, x, y)).then(() => false) }),
    kernel({ op: 'dot', dtypes, minSize, run: ({ x, y }) => guarded(() => cuda.dotAsync(x, y)) }),
    kernel({ op: 'axpy', dtypes, minSize, run: ({ alpha, x, y }) => guarded(() => cuda.axpyAsync(alpha, x, y)) }),
    kernel({ op: 'nrm2', dtypes, minSize, run: ({ x }) => guarded(() => cuda.nrm2Async(x)) }),
    kernel({
      op: 'segmentedMoments',
      dtypes,
      minSize,
      run: ({ values, offsets, ddof, sum, mean, variance }) =>
        guarded(() => cuda.segmentedMomentsAsync(values, offsets, ddof, sum, mean, variance)),
    }),
  ];
}
