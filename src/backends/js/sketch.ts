/**
 * The sketch family (src/sketch/ops.ts) on the js backend: the oracle. Inputs f32 or f64; every
 * computation and every result is f64.
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { operandRows } from '../../sketch/ops.js';
import { sketchApply } from './sketch/apply.js';
import { gram, refine } from './sketch/cholesky.js';
import { applyQt, extractR, qrFactor, rankOf } from './sketch/dense.js';
import { kaczmarz, rowCdf, sketchProject } from './sketch/kaczmarz.js';
import { iterate, lsqr } from './sketch/lsqr.js';
import { residual } from './sketch/operand.js';

const BOTH = ['f32', 'f64'] as const;

export function sketchKernels(): AnyKernel[] {
  return [
    kernel({ op: 'sketchApply', dtypes: BOTH, run: (args) => sketchApply(args) }),
    kernel({
      op: 'sketchQr',
      dtypes: ['f64'],
      run: ({ M, rows, cols, rhs, R, perm, rcond }) => {
        const f = qrFactor(M, rows, cols, perm);
        if (rhs) applyQt(M, rows, cols, f, rhs);
        extractR(M, rows, cols, R);
        return { rank: rankOf(R, cols, f.steps, rcond) };
      },
    }),
    kernel({ op: 'sketchResidual', dtypes: BOTH, run: ({ A, b, x }) => residual(A, b, x, new Float64Array(operandRows(A))) }),
    kernel({ op: 'sketchLsqr', dtypes: BOTH, run: (args, ctl) => lsqr(args, ctl) }),
    kernel({ op: 'sketchIterate', dtypes: BOTH, run: (args, ctl) => iterate(args, ctl) }),
    kernel({ op: 'sketchGram', dtypes: BOTH, run: (args) => gram(args) }),  // always f64 (allowF32 is a permission)
    kernel({ op: 'sketchRefine', dtypes: BOTH, run: (args, ctl) => refine(args, ctl) }),
    kernel({ op: 'sketchRowCdf', dtypes: BOTH, run: ({ A, cdf }) => rowCdf(A, cdf) }),
    kernel({ op: 'sketchKaczmarz', dtypes: BOTH, run: (args, ctl) => kaczmarz(args, ctl) }),
    kernel({ op: 'sketchProject', dtypes: BOTH, run: (args, ctl) => sketchProject(args, ctl) }),
  ];
}
