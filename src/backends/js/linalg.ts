/** The shared primitives (src/linalg/ops.ts) on the js backend: the oracle, f32 and f64 (f64 accumulation). */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { axpy, dot, nrm2 } from './blas1.js';
import { segmentedMoments } from './segmented.js';
import { spmv } from './spmv.js';

const BOTH = ['f32', 'f64'] as const;

export function linalgKernels(): AnyKernel[] {
  return [
    // JS numbers are IEEE 754 doubles, and a NaN or ±Inf stays one when stored into a Float32Array.
    kernel({ op: 'spmv', dtypes: BOTH, run: ({ A, x, y }) => (spmv(A, x, y), true) }),
    kernel({ op: 'dot', dtypes: BOTH, run: ({ x, y }) => dot(x, y) }),
    kernel({ op: 'axpy', dtypes: BOTH, run: ({ alpha, x, y }) => axpy(alpha, x, y) }),
    kernel({ op: 'nrm2', dtypes: BOTH, run: ({ x }) => nrm2(x) }),
    kernel({
      op: 'segmentedMoments',
      dtypes: BOTH,
      run: ({ values, offsets, ddof, sum, mean, variance }) => segmentedMoments(values, offsets, ddof, sum, mean, variance),
    }),
  ];
}
