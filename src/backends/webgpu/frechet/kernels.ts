/**
 * The frechet family's kernels on the WebGPU backend (wired by src/families.ts): the fused score +
 * running top-k (topk.ts), cut to the device's binding limit as plan.ts says, with the layouts it
 * shares with kernels/frechet in layout.ts. f32 only: WGSL has no f64, so an f64 call is refused
 * with that reason and runs on a CPU backend.
 */
import { kernel, type AnyKernel } from '../../../core/backend.js';
import type { GpuRuntime } from '../dispatch.js';
import { topkAccepts } from './plan.js';
import { webgpuFrechetTopk } from './topk.js';

/**
 * Auto-dispatch hand-off size, in the façade's size unit for frechetTopk (the B·K·N multiply-adds
 * of the score matrix). Two submits and a read-back cost tens of microseconds on a discrete GPU, in
 * which a CPU core does ~2^20 multiply-adds; below ~2^24 the CPU's BLAS tile wins. No hardware
 * adapter was available to measure the crossover: an estimate, overridable per context
 * (createContext({thresholds})).
 */
const MIN_WORK = 1 << 24;

export function frechetKernels(rt: GpuRuntime): AnyKernel[] {
  return [
    kernel({
      // f64 is listed so that a call pinned to webgpu gets the reason it cannot run, not "no kernel".
      op: 'frechetTopk', dtypes: ['f32', 'f64'], minSize: MIN_WORK,
      accepts: (args) => topkAccepts(rt, args),
      run: (args, ctl) => webgpuFrechetTopk(rt, args, ctl),
    }),
  ];
}
