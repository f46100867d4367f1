/**
 * The pg family's kernels on the WebGPU backend (wired by src/families.ts), f32 only: WGSL has no
 * f64, so f64 calls fall back to a CPU backend. The policy loss is policy-loss.ts, the token
 * log-probs forward and backward logprobs.ts, the layouts they share with kernels/pg layout.ts.
 */
import { kernel, type AnyKernel } from '../../../core/backend.js';
import type { GpuRuntime } from '../dispatch.js';
import { pgWorkgroupBytes } from './layout.js';
import { logprobsTrouble, webgpuTokenLogprobs, webgpuTokenLogprobsBackward } from './logprobs.js';
import { policyLossTrouble, webgpuPolicyLoss } from './policy-loss.js';

/**
 * Auto-dispatch hand-off sizes (tokens for the loss, logits for the log-probs). As for the
 * streaming primitives (linalg.ts), a submit plus read-back costs tens of microseconds on a discrete
 * GPU, in which a CPU core streams ~2^18 values; no hardware adapter was available to measure the
 * crossover, so these are estimates, overridable per context (createContext({thresholds})).
 */
const MIN_TOKENS = 1 << 18;
const MIN_LOGITS = 1 << 18;

/** Why this device cannot run the pg kernels at the runtime's workgroup size, or null. */
function deviceTrouble(rt: GpuRuntime): string | null {
  const need = pgWorkgroupBytes(rt.workgroupSize);
  const have = rt.gpu.limits.maxComputeWorkgroupStorageSize;
  return need > have ? `workgroup size ${rt.workgroupSize} needs ${need} bytes of workgroup memory, the device has ${have}` : null;
}

export function pgKernels(rt: GpuRuntime): AnyKernel[] {
  return [
    kernel({
      op: 'pgPolicyLoss', dtypes: ['f32'], minSize: MIN_TOKENS,
      accepts: (args) => deviceTrouble(rt) ?? policyLossTrouble(rt, args),
      run: (args, ctl) => webgpuPolicyLoss(rt, args, ctl),
    }),
    kernel({
      op: 'pgTokenLogprobs', dtypes: ['f32'], minSize: MIN_LOGITS,
      accepts: (args) => deviceTrouble(rt) ?? logprobsTrouble(rt, args.logits, args.vocab),
      run: (args, ctl) => webgpuTokenLogprobs(rt, args, ctl),
    }),
    kernel({
      op: 'pgTokenLogprobsBackward', dtypes: ['f32'], minSize: MIN_LOGITS,
      accepts: (args) => deviceTrouble(rt) ?? logprobsTrouble(rt, args.logits, args.vocab),
      run: (args, ctl) => webgpuTokenLogprobsBackward(rt, args, ctl),
    }),
  ];
}
