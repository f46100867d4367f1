/** The pg family (src/pg/ops.ts) on the js backend: the oracle, f32 and f64 (f64 arithmetic, outputs stored in the input dtype). */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { tokenLogprobs, tokenLogprobsBackward } from './pg/logprobs.js';
import { policyLoss } from './pg/loss.js';

const BOTH = ['f32', 'f64'] as const;

export function pgKernels(): AnyKernel[] {
  return [
    kernel({ op: 'pgPolicyLoss', dtypes: BOTH, run: (args) => policyLoss(args) }),
    kernel({ op: 'pgTokenLogprobs', dtypes: BOTH, run: (args) => tokenLogprobs(args) }),
    kernel({ op: 'pgTokenLogprobsBackward', dtypes: BOTH, run: (args) => tokenLogprobsBackward(args) }),
  ];
}
