/**
 * The sketch family on the CUDA backend: `sketchApply` (native/cuda/sketch.cu through bindings/sketch.cc),
 * f32 and f64 operands, f64 arithmetic — SA and Sb, which is everything the sketched QR takes
 * (src/sketch/lstsq.ts hands them to sketchQr). S₀ is generated on the device by the CPU kernels' own
 * element logic (numkern/sketch.hpp over numkern/philox.hpp), so the sketch is the CPU's: bit for bit for
 * rademacher, countsketch, sparse-sign and the SRHT, to the device libm's ulps for the Gaussian. Each SA
 * entry is summed in the CPU's order with the CPU's roundings (no FMA contraction); only the dense SRHT
 * differs from the native backend, whose one-pass kernel re-associates the levels above 4096 rows
 * (docs/sketch.md §2.3), while this one applies the oracle's butterflies.
 *
 * The QR (a d × d pivoted factorization), the residual and the loops are not registered: they fall back
 * to a CPU backend (the sketch is where the data volume is). Each call copies its operands to the device
 * and back on the libuv pool. A dense A is screened in the same pass when the façade asks (args.screen).
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import type { FloatArray } from '../../core/types.js';
import { isCsr, SKETCH_KIND_CODES, type SketchApplyArgs, type SketchApplyOutcome, type SketchOperand } from '../../sketch/ops.js';
import { CUDA_MIN_SIZE, cudaExports, type CudaHandle } from './index.js';

/** The sketch entry points of addon.cuda: the CPU sketchApply's arguments without `threads`. */
export interface CudaSketchKernels {
  sketchApply(kind: number, m: number, s: number, key0: number, key1: number, scale: number, N: number, B: number, sample: Uint32Array | null,
    A: SketchOperand, rowOffset: number, b: FloatArray | null, SA: Float64Array, Sb: Float64Array | null, accumulate: boolean, applyScale: boolean,
    limit: number): number;
  sketchApplyAsync(...args: Parameters<CudaSketchKernels['sketchApply']>): Promise<number>;
}

export const CUDA_SKETCH_EXPORTS = ['sketchApply', 'sketchApplyAsync'] as const;

async function apply(sk: CudaSketchKernels, args: SketchApplyArgs): Promise<SketchApplyOutcome> {
  const { S, A, rowOffset, b, SA, Sb } = args;
  const limit = args.screen ?? 0;
  const bad = await sk.sketchApplyAsync(SKETCH_KIND_CODES[S.kind], S.m, S.nnzPerCol, S.key0, S.key1, S.scale, S.srht?.N ?? 0, S.srht?.B ?? 0,
    S.srht?.sample ?? null, A, rowOffset, b, SA, Sb, false, true, limit);
  return { screened: limit > 0 && !isCsr(A), badIndex: bad };
}

export function sketchKernels({ cuda, guarded }: CudaHandle): AnyKernel[] {
  const sk = cudaExports<CudaSketchKernels>(cuda, 'sketch', CUDA_SKETCH_EXPORTS);
  return [
    kernel({ op: 'sketchApply', dtypes: ['f32', 'f64'], minSize: CUDA_MIN_SIZE, run: (args) => guarded(() => apply(sk, args)) }),
  ];
}
