/**
 * frechetTopk (src/frechet/ops.ts) on the CUDA backend, f32 and f64: native/cuda/frechet.cu through
 * bindings/frechet.cc. Score blocks come from cuBLAS sgemm/dgemm, each folded at once into per-row top-k
 * heaps by a device kernel that runs the CPU kernel's own heap code (numkern/frechet_topk.hpp: ascending
 * score, exact ties to the smaller label id, NaN last), so the B×N scores are never stored whole.
 *
 * cuBLAS is opened at run time, not linked: where libcublas.so.13 is missing the addon still loads and
 * the other CUDA kernels run, but this list throws, so the op is not registered on cuda and status()
 * reports the reason for the frechet family.
 *
 * Scores are formed by cuBLAS in the dtype, in its own order and with fused multiply-adds, then bias[j]
 * is added once in the dtype: a near-tie within rounding may rank differently from the CPU engines (the
 * op contract allows it), an exact tie never. The call runs whole on the libuv pool (on copies of the
 * operands, which go to the device anyway); the AbortSignal is checked before it starts.
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import { throwIfAborted } from '../../core/errors.js';
import type { FloatArray } from '../../core/types.js';
import { FRECHET_LAYOUT_CODES } from '../../frechet/ops.js';
import { cudaExports, type CudaHandle } from './index.js';

/**
 * Auto-dispatch hand-off size, in the façade's unit for frechetTopk (B·K·N multiply-adds). A call copies
 * W and M to the device, so below ~2^24 multiply-adds a CPU tile wins. Not measured on a GPU machine (none
 * was available): an estimate, overridable per context (createContext({thresholds})).
 */
const MIN_WORK = 1 << 24;

/** The frechet entry points of addon.cuda: the CPU frechetTopk's first eleven arguments (one call, all N labels). */
export interface CudaFrechetKernels {
  frechetTopk<T extends FloatArray>(W: T, B: number, K: number, M: T, N: number, layout: number, bias: T | null, labelOffset: number,
    topk: number, labels: Int32Array, scores: T): void;
  frechetTopkAsync(...args: Parameters<CudaFrechetKernels['frechetTopk']>): Promise<void>;
  /** null when cuBLAS opened with every symbol the kernel needs; else why not. */
  frechetCublas(): string | null;
}

export const CUDA_FRECHET_EXPORTS = ['frechetTopk', 'frechetTopkAsync', 'frechetCublas'] as const;

export function frechetKernels({ cuda, guarded }: CudaHandle): AnyKernel[] {
  const fr = cudaExports<CudaFrechetKernels>(cuda, 'frechet', CUDA_FRECHET_EXPORTS);
  const why = fr.frechetCublas();
  if (why !== null) throw new Error(`frechetTopk on cuda needs cuBLAS: ${why}`);
  return [
    kernel({
      op: 'frechetTopk',
      dtypes: ['f32', 'f64'],
      minSize: MIN_WORK,
      run: (a, ctl) => {
        throwIfAborted(ctl.signal);
        return guarded(() =>
          fr.frechetTopkAsync(a.W, a.B, a.K, a.M, a.N, FRECHET_LAYOUT_CODES[a.layout], a.bias, a.labelOffset, a.topk, a.labels, a.scores));
      },
    }),
  ];
}
