/**
 * The sketch family's kernels on the WebGPU backend (wired by src/families.ts). WGSL has no f64, so:
 *
 * - `sketchApply` runs in f32 (apply.ts): S₀ is generated on the device and is the oracle's bit for bit
 *   (integer-derived kinds) or to a few ulps (Gaussian); SA is an f32 product, within γ_k(2⁻²⁴)·Σ|terms|
 *   of the exact one. f64 operands are taken only when SA is a preconditioner (allowF32,
 *   sketch-and-precondition; docs/sketch.md §6); otherwise `accepts` refuses and the call falls back.
 * - `sketchQr` (a pivoted Householder QR in f64) is registered only to refuse, with the reason, so the
 *   dispatcher falls back to a CPU backend and records why.
 * - the residual and the loops (sketchResidual, sketchLsqr, sketchIterate, sketchKaczmarz,
 *   sketchProject) are not registered: their results are f64 quantities, and they fall back whole.
 */
import { kernel, type AnyKernel } from '../../../core/backend.js';
import type { GpuRuntime } from '../dispatch.js';
import { applyTrouble, webgpuSketchApply } from './apply.js';

/**
 * Auto-dispatch hand-off size (elements of A). As for the streaming primitives (../linalg.ts), no
 * hardware adapter was available to measure the crossover; an estimate, overridable per context
 * (createContext({thresholds})).
 */
const MIN_ELEMENTS = 1 << 18;

export function sketchKernels(rt: GpuRuntime): AnyKernel[] {
  return [
    kernel({
      op: 'sketchApply', dtypes: ['f32', 'f64'], minSize: MIN_ELEMENTS,
      accepts: (args) => applyTrouble(rt, args),
      run: (args, ctl) => webgpuSketchApply(rt, args, ctl),
    }),
    kernel({
      op: 'sketchQr', dtypes: ['f64'],
      accepts: () => 'a pivoted Householder QR in f64 (WGSL has no f64); the m × d sketch is factored on a CPU backend',
      run: () => {
        throw new Error('webgpu sketchQr: refused by accepts');
      },
    }),
  ];
}
