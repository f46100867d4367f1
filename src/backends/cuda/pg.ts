/**
 * The pg family (src/pg/ops.ts) on the CUDA backend (exports.cuda of bindings/pg.cc, native/cuda/pg.cu),
 * f32 and f64, with the contracts of the native backend's kernels (src/backends/native/pg.ts).
 *
 * pgPolicyLoss: the batch's totals (active tokens, sequences with one) are counted on the device first
 * (pgLossCounts), which resolves the 'tokens' and 'sequences' denominators, then one call takes the whole
 * batch: grad (and gradEntropy) and the sums, which the device forms per sequence and the addon adds in
 * sequence order (so they repeat bit for bit). pgTokenLogprobs and its backward are one call each.
 *
 * Each call copies its operands to the device and back, on the libuv pool (the Async twins); the addon's
 * pg tables (PARAM, SUM) are those the native backend checks at load, compiled into the same binding.
 */
import { kernel, type AnyKernel } from '../../core/backend.js';
import type { FloatArray } from '../../core/types.js';
import { PG_LOSS_ARRAYS, type PgLossArgs, type PgLossOutcome } from '../../pg/ops.js';
import { missingExports, type NativeCudaKernels } from '../addon/load.js';
import { lossOutcome, lossParams, SUM } from '../addon/pg.js';
import { CUDA_MIN_SIZE, type CudaHandle } from './index.js';

type Float = Float32Array | Float64Array;

/** The device entry points of bindings/pg.cc (exports.cuda): the CPU ones' arguments less the thread count. */
export interface CudaPgKernels {
  /** out = [active positions, sequences with one]. */
  pgLossCounts(offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, out: Float64Array): void;
  pgLossCountsAsync(offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, out: Float64Array): Promise<void>;
  pgPolicyLoss<T extends Float>(
    offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, logp: T, oldLogp: T, refLogp: T | null, advantages: T,
    entropy: T | null, grad: T, gradEntropy: T | null, params: Float64Array, sums: Float64Array,
  ): void;
  pgPolicyLossAsync<T extends Float>(
    offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, logp: T, oldLogp: T, refLogp: T | null, advantages: T,
    entropy: T | null, grad: T, gradEntropy: T | null, params: Float64Array, sums: Float64Array,
  ): Promise<void>;
  /** −1, or the smallest flat index of a non-finite logit. */
  pgTokenLogprobs<T extends Float>(logits: T, targets: Int32Array, vocab: number, temperature: number, logp: T, lse: T, entropy: T | null): number;
  pgTokenLogprobsAsync<T extends Float>(
    logits: T, targets: Int32Array, vocab: number, temperature: number, logp: T, lse: T, entropy: T | null,
  ): Promise<number>;
  /** gradLogits may be logits itself (in place). */
  pgTokenLogprobsBackward<T extends Float>(
    logits: T, targets: Int32Array, vocab: number, temperature: number, lse: T, entropy: T | null, gradLogp: T | null,
    gradEntropy: T | null, gradLogits: T,
  ): void;
  pgTokenLogprobsBackwardAsync<T extends Float>(
    logits: T, targets: Int32Array, vocab: number, temperature: number, lse: T, entropy: T | null, gradLogp: T | null,
    gradEntropy: T | null, gradLogits: T,
  ): Promise<void>;
}

const CUDA_PG_EXPORTS = [
  'pgLossCounts', 'pgLossCountsAsync', 'pgPolicyLoss', 'pgPolicyLossAsync', 'pgTokenLogprobs', 'pgTokenLogprobsAsync',
  'pgTokenLogprobsBackward', 'pgTokenLogprobsBackwardAsync',
] as const;

/** exports.cuda with the pg entry points, typed; throws when one is missing (an addon older than them). */
export function cudaPg(cuda: NativeCudaKernels): NativeCudaKernels & CudaPgKernels {
  const missing = missingExports(cuda, CUDA_PG_EXPORTS);
  if (missing.length > 0) throw new Error(`addon lacks the pg CUDA entry points ${missing.join(', ')} (stale build? run npm run rebuild:native)`);
  return cuda as NativeCudaKernels & CudaPgKernels;
}

export async function cudaPolicyLoss(pg: CudaPgKernels, a: PgLossArgs): Promise<PgLossOutcome> {
  const nSeq = Math.max(0, a.offsets.length - 1);
  const counts = new Float64Array(2);
  await pg.pgLossCountsAsync(a.offsets, a.lengths, a.mask, counts);
  const [tokens, sequences] = [counts[0]!, counts[1]!];
  const params = lossParams(a, tokens, sequences, nSeq);
  // The kernel writes ∂loss/∂H with the entropy term; a caller without a buffer for it gets a scratch one.
  const scratch = (): FloatArray => (a.logp instanceof Float32Array ? new Float32Array(a.logp.length) : new Float64Array(a.logp.length));
  const gradEntropy = a.entropy ? (a.gradEntropy ?? scratch()) : null;
  const sums = new Float64Array(SUM.length);
  await pg.pgPolicyLossAsync(a.offsets, a.lengths, a.mask, a.logp, a.oldLogp, a.klEstimator === null ? null : a.refLogp, a.advantages,
    a.entropy, a.grad, gradEntropy, params, sums);
  const bad = Array.from(sums.subarray(SUM.nonfinite, SUM.nonfinite + PG_LOSS_ARRAYS.length));
  return lossOutcome(a, tokens, sequences, sums.subarray(0, SUM.nonfinite), bad);
}

/** The pg family's CUDA kernels, f32 and f64; auto dispatch sends them problems of CUDA_MIN_SIZE (tokens, logits) and up. */
export function pgKernels({ cuda, guarded }: CudaHandle): AnyKernel[] {
  const pg = cudaPg(cuda);
  const dtypes = ['f32', 'f64'] as const;
  const minSize = CUDA_MIN_SIZE;
  return [
    kernel({ op: 'pgPolicyLoss', dtypes, minSize, run: (args) => guarded(() => cudaPolicyLoss(pg, args)) }),
    kernel({
      op: 'pgTokenLogprobs', dtypes, minSize,
      run: (a) => guarded(() => pg.pgTokenLogprobsAsync(a.logits, a.targets, a.vocab, a.temperature, a.logp, a.lse, a.entropy)),
    }),
    kernel({
      op: 'pgTokenLogprobsBackward', dtypes, minSize,
      run: (a) => guarded(() =>
        pg.pgTokenLogprobsBackwardAsync(a.logits, a.targets, a.vocab, a.temperature, a.lse, a.entropy, a.gradLogp, a.gradEntropy, a.gradLogits)),
    }),
  ];
}
