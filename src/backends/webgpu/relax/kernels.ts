/**
 * The relax family's kernels on the WebGPU backend (wired by src/families.ts): single solves
 * (device-solve.ts) and batches of small systems (batch.ts), for f32 and f64 operands by
 * mixed-precision refinement (refine.ts).
 */
import { kernel, type AnyKernel } from '../../../core/backend.js';
import type { GpuRuntime } from '../dispatch.js';
import { relaxAccepts } from './accepts.js';
import { relaxBatchAccepts, webgpuRelaxSolveBatch } from './batch.js';
import { webgpuRelaxSolve } from './device-solve.js';

/**
 * Auto-dispatch hand-off sizes (unknowns, or stencil work). A submit plus a read-back costs tens of
 * microseconds on a discrete GPU; a solve reads back only at residual checks, so it pays off
 * sooner than a streaming op, and a batch of small systems is one dispatch per refinement round.
 * No hardware adapter was available to measure the crossover: these are estimates, overridable
 * per context (createContext({thresholds})).
 */
const MIN_SOLVE = 1 << 16;
const MIN_BATCH = 1 << 14;

export function relaxKernels(rt: GpuRuntime): AnyKernel[] {
  return [
    kernel({
      op: 'relaxSolve', dtypes: ['f32', 'f64'], minSize: MIN_SOLVE,
      accepts: (args) => relaxAccepts(rt, args), run: (args, ctl) => webgpuRelaxSolve(rt, args, ctl),
    }),
    kernel({
      op: 'relaxSolveBatch', dtypes: ['f32', 'f64'], minSize: MIN_BATCH,
      accepts: (args) => relaxBatchAccepts(rt, args), run: (args, ctl) => webgpuRelaxSolveBatch(rt, args, ctl),
    }),
  ];
}
