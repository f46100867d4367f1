/** The js backend: plain typed-array loops, always available, the oracle every other backend is tested against. */
import { kernel, PRIORITY, type BackendFactory } from '../../core/backend.js';
import { axpy, dot, nrm2 } from './blas1.js';
import { relaxSolve } from './relax.js';
import { segmentedMoments } from './segmented.js';
import { spmv } from './spmv.js';

const BOTH = ['f32', 'f64'] as const;

export const jsBackend: BackendFactory = {
  name: 'js',
  async init() {
    return {
      name: 'js',
      priority: PRIORITY.js,
      info: { description: `TypeScript reference kernels (f64 accumulation), Node ${process.versions.node}` },
      kernels: [
        kernel({ op: 'spmv', dtypes: BOTH, run: ({ A, x, y }) => spmv(A, x, y) }),
        kernel({ op: 'dot', dtypes: BOTH, run: ({ x, y }) => dot(x, y) }),
        kernel({ op: 'axpy', dtypes: BOTH, run: ({ alpha, x, y }) => axpy(alpha, x, y) }),
        kernel({ op: 'nrm2', dtypes: BOTH, run: ({ x }) => nrm2(x) }),
        kernel({
          op: 'segmentedMoments',
          dtypes: BOTH,
          run: ({ values, offsets, ddof, sum, mean, variance }) => segmentedMoments(values, offsets, ddof, sum, mean, variance),
        }),
        kernel({ op: 'relaxSolve', dtypes: BOTH, run: (args, ctl) => relaxSolve(args, ctl) }),
        kernel({
          op: 'relaxSolveBatch',
          dtypes: BOTH,
          run: async ({ systems, options }, ctl) => {
            const out = [];
            for (const s of systems) out.push(await relaxSolve({ ...options, ...s }, ctl));
            return out;
          },
        }),
      ],
      dispose() {},
    };
  },
};
