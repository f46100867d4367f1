/**
 * The pg family (src/pg/ops.ts) on the native backend (bindings/pg.cc, native/src/pg/), f32 and f64.
 *
 * Every call runs on the calling thread, on the caller's arrays, in slices with the event loop turning in
 * between (and the AbortSignal checked), never on the libuv pool: these kernels make one pass over
 * memory, and an async call would first copy its operands on the JS thread (bindings/args.hpp: JS may
 * detach them while the pool runs), blocking the loop about as long as the kernel and then doing the
 * work twice. Each slice is a complete addon call that checks its arguments again.
 *
 * pgPolicyLoss: the batch's totals (active tokens, sequences with one) are counted first
 * (pgLossCounts, one byte per position), which resolves the 'tokens' and 'sequences' denominators, so
 * every slice writes final gradients. Slices are whole sequences of about SLICE.tokens tokens; each
 * returns its sums (per sequence in f64, added in sequence order by the kernel), and the slices' sums
 * are added here in slice order. Slices depend on the lengths only, so no result depends on the thread
 * count.
 *
 * pgTokenLogprobs and its backward: slices of whole rows, about SLICE.logits logits each; rows are
 * independent.
 */
import { kernel, type AnyKernel, type KernelControl } from '../../core/backend.js';
import type { FloatArray } from '../../core/types.js';
import { PG_LOSS_ARRAYS, type PgLogprobsArgs, type PgLogprobsBackwardArgs, type PgLossArgs, type PgLossOutcome } from '../../pg/ops.js';
import { guarded } from '../addon/errors.js';
import { familyExports, type NativeAddon } from '../addon/load.js';
import { checkPgLayout, lossOutcome, lossParams, PARAM, SUM, type NativePgLayout } from '../addon/pg.js';
import type { NativeHandle } from './index.js';
import { inSlices } from './slices.js';

export { checkPgLayout, PARAM, SUM, type NativePgLayout } from '../addon/pg.js';

type Float = Float32Array | Float64Array;

/** pgPolicyLoss(offsets, lengths, mask, logp, oldLogp, refLogp, advantages, entropy, grad, gradEntropy, params, sums, threads?) */
type PolicyLossArgs<T extends Float> = [
  offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, logp: T, oldLogp: T, refLogp: T | null, advantages: T,
  entropy: T | null, grad: T, gradEntropy: T | null, params: Float64Array, sums: Float64Array, threads?: number,
];
/** pgTokenLogprobs(logits, targets, vocab, temperature, logp, lse, entropy, threads?) */
type LogprobsArgs<T extends Float> = [
  logits: T, targets: Int32Array, vocab: number, temperature: number, logp: T, lse: T, entropy: T | null, threads?: number,
];
/** pgTokenLogprobsBackward(logits, targets, vocab, temperature, lse, entropy, gradLogp, gradEntropy, gradLogits, threads?) */
type BackwardArgs<T extends Float> = [
  logits: T, targets: Int32Array, vocab: number, temperature: number, lse: T, entropy: T | null, gradLogp: T | null,
  gradEntropy: T | null, gradLogits: T, threads?: number,
];

/**
 * The pg entry points of the addon (bindings/pg.cc). Null stands for an absent optional array. Every
 * call checks its arguments and throws TypeError/RangeError naming the argument; the ...Async twins
 * run on the libuv pool on copies (unused here, see above).
 */
export interface NativePgKernels {
  pgLayout(): NativePgLayout;
  /** out = [active positions, sequences with one]. */
  pgLossCounts(offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, out: Float64Array, threads?: number): void;
  pgLossCountsAsync(offsets: Int32Array, lengths: Int32Array, mask: Uint8Array | null, out: Float64Array, threads?: number): Promise<void>;
  /** Sequences [params[PARAM.seqBegin], params[PARAM.seqEnd]): their grad (and gradEntropy) and their sums (SUM slots). */
  pgPolicyLoss<T extends Float>(...args: PolicyLossArgs<T>): void;
  pgPolicyLossAsync<T extends Float>(...args: PolicyLossArgs<T>): Promise<void>;
  /** Rows of logits (length N·vocab): −1, or the smallest flat index of a non-finite logit. */
  pgTokenLogprobs<T extends Float>(...args: LogprobsArgs<T>): number;
  pgTokenLogprobsAsync<T extends Float>(...args: LogprobsArgs<T>): Promise<number>;
  /** gradLogits may be logits itself (in place), and may overlap nothing else. */
  pgTokenLogprobsBackward<T extends Float>(...args: BackwardArgs<T>): void;
  pgTokenLogprobsBackwardAsync<T extends Float>(...args: BackwardArgs<T>): Promise<void>;
}

const PG_EXPORTS = [
  'pgLayout', 'pgLossCounts', 'pgLossCountsAsync', 'pgPolicyLoss', 'pgPolicyLossAsync', 'pgTokenLogprobs',
  'pgTokenLogprobsAsync', 'pgTokenLogprobsBackward', 'pgTokenLogprobsBackwardAsync',
] as const;

/** The addon's pg entry points, typed; throws when one is missing or the tables disagree. */
export function pgAddon(addon: NativeAddon): NativeAddon & NativePgKernels {
  const pg = familyExports<NativePgKernels>(addon, 'pg', PG_EXPORTS);
  checkPgLayout(pg.pgLayout());
  return pg;
}

/**
 * Units per slice, a few milliseconds of work each (frechet's slices are ~40 ms): tokens for the policy
 * loss (~0.5–1 ns per token on one thread since its AVX-512 loop, so 2²³ tokens are ~4–8 ms), logits for
 * the log-prob kernels (~0.2–0.4 ns each). A slice costs a thread fork and an event loop turn (tens of
 * µs, more when the loop has work): at 2²¹ tokens the 256×16×2048 bench batch took four slices and
 * ~0.3–0.5 ms more than in one.
 */
export const SLICE = { tokens: 1 << 23, logits: 1 << 23 } as const;

export async function nativePolicyLoss(pg: NativePgKernels, threads: number, a: PgLossArgs, ctl: KernelControl, slice: number = SLICE.tokens): Promise<PgLossOutcome> {
  const nSeq = Math.max(0, a.offsets.length - 1);
  const counts = new Float64Array(2);
  pg.pgLossCounts(a.offsets, a.lengths, a.mask, counts, threads);
  const [tokens, sequences] = [counts[0]!, counts[1]!];
  const params = lossParams(a, tokens, sequences, nSeq);
  const ref = a.klEstimator === null ? null : a.refLogp;
  // The kernel writes ∂loss/∂H with the entropy term; a caller without a buffer for it gets a scratch one.
  const scratch = (): FloatArray => (a.logp instanceof Float32Array ? new Float32Array(a.logp.length) : new Float64Array(a.logp.length));
  const gradEntropy = a.entropy ? (a.gradEntropy ?? scratch()) : null;
  const sums = new Float64Array(SUM.length);
  const total = new Float64Array(SUM.nonfinite);
  const bad = new Array<number>(PG_LOSS_ARRAYS.length).fill(-1);
  await inSlices(nSeq, slice, (i) => a.offsets[i]! + i, (lo, hi) => {
    params[PARAM.seqBegin] = lo;
    params[PARAM.seqEnd] = hi;
    pg.pgPolicyLoss(a.offsets, a.lengths, a.mask, a.logp, a.oldLogp, ref, a.advantages, a.entropy, a.grad, gradEntropy, params, sums,
      threads);
    for (let s = 0; s < SUM.nonfinite; s++) total[s] += sums[s]!;
    for (let k = 0; k < bad.length; k++) {
      const at = sums[SUM.nonfinite + k]!;
      if (at >= 0 && (bad[k]! < 0 || at < bad[k]!)) bad[k] = at;
    }
    return true;
  }, ctl.signal);
  return lossOutcome(a, tokens, sequences, total, bad);
}

/** Rows [lo, hi) of a per-row array, or the array itself for the whole range (so the addon checks it whole). */
function rows<T extends FloatArray | Int32Array>(a: T, lo: number, hi: number, n: number, width = 1): T {
  return lo === 0 && hi === n ? a : (a.subarray(lo * width, hi * width) as T);
}

const rowCount = (logits: FloatArray, vocab: number): number => (vocab > 0 ? Math.floor(logits.length / vocab) : 0);

/**
 * Whether the row arrays fit N = logits.length / vocab rows exactly; if not, the call is made whole, so
 * the addon names the misfit (a slice of a too-long array would look well formed).
 */
function fitsRows(a: { logits: FloatArray; targets: Int32Array; vocab: number }, perRow: readonly (FloatArray | null)[], N: number): boolean {
  return Number.isInteger(a.vocab) && a.vocab > 0 && a.logits.length === N * a.vocab && a.targets.length === N && perRow.every((x) => x === null || x.length === N);
}

export async function nativeTokenLogprobs(pg: NativePgKernels, threads: number, a: PgLogprobsArgs, ctl: KernelControl, slice: number = SLICE.logits): Promise<number> {
  const N = rowCount(a.logits, a.vocab);
  const V = a.vocab;
  const step = fitsRows(a, [a.logp, a.lse, a.entropy], N) ? slice : Infinity;
  let bad = -1;
  await inSlices(N, step, (n) => n * V, (lo, hi) => {
    const piece = <T extends FloatArray | Int32Array>(x: T): T => rows(x, lo, hi, N);
    const at = pg.pgTokenLogprobs(rows(a.logits, lo, hi, N, V), piece(a.targets), V, a.temperature, piece(a.logp), piece(a.lse),
      a.entropy && piece(a.entropy), threads);
    if (at < 0) return true;
    // Rows before lo were clean, so this is the batch's first non-finite logit; the rest is unspecified.
    bad = lo * V + at;
    return false;
  }, ctl.signal);
  return bad;
}

export async function nativeTokenLogprobsBackward(pg: NativePgKernels, threads: number, a: PgLogprobsBackwardArgs, ctl: KernelControl, slice: number = SLICE.logits): Promise<void> {
  const N = rowCount(a.logits, a.vocab);
  const V = a.vocab;
  const opt = <T extends FloatArray>(x: T | null, lo: number, hi: number): T | null => x && rows(x, lo, hi, N);
  const step = fitsRows(a, [a.lse, a.entropy, a.gradLogp, a.gradEntropy], N) && a.gradLogits.length === a.logits.length ? slice : Infinity;
  await inSlices(N, step, (n) => n * V, (lo, hi) => {
    // In place stays in place: both pieces start at the same element of the same buffer.
    pg.pgTokenLogprobsBackward(rows(a.logits, lo, hi, N, V), rows(a.targets, lo, hi, N), V, a.temperature, rows(a.lse, lo, hi, N),
      opt(a.entropy, lo, hi), opt(a.gradLogp, lo, hi), opt(a.gradEntropy, lo, hi), rows(a.gradLogits, lo, hi, N, V), threads);
    return true;
  }, ctl.signal);
}

/** The pg family's native kernels, f32 and f64. `slice` (tests) sets both slice sizes. */
export function pgKernels({ addon, threads }: NativeHandle, slice?: number): AnyKernel[] {
  const pg = pgAddon(addon);
  const dtypes = ['f32', 'f64'] as const;
  const tokens = slice ?? SLICE.tokens;
  const logits = slice ?? SLICE.logits;
  return [
    kernel({ op: 'pgPolicyLoss', dtypes, run: (args, ctl) => guarded(() => nativePolicyLoss(pg, threads, args, ctl, tokens)) }),
    kernel({ op: 'pgTokenLogprobs', dtypes, run: (args, ctl) => guarded(() => nativeTokenLogprobs(pg, threads, args, ctl, logits)) }),
    kernel({ op: 'pgTokenLogprobsBackward', dtypes, run: (args, ctl) => guarded(() => nativeTokenLogprobsBackward(pg, threads, args, ctl, logits)) }),
  ];
}
