/**
 * pgPolicyLoss on the WebGPU backend, f32 (kernels/pg/active_counts, active_totals, policy_loss).
 *
 * Every aggregation weight scale / (D · len_i) needs the whole batch's Σ m, its count of non-empty
 * sequences and each L_i before a single gradient is written (src/pg/ops.ts: PgAggregation). Without
 * a mask the host knows them from the lengths; with one, active_counts adds each sequence's active
 * positions on the device and active_totals the two totals, both before policy_loss runs, in the
 * same submit when the tokens fit one chunk. The main pass then writes grad (and gradEntropy) per
 * position, reports non-finite inputs through atomicMin slots in PG_LOSS_ARRAYS order, and leaves
 * one LossPartial record per workgroup; the host adds the records of every chunk in f64 and forms
 * the loss parts and statistics from them.
 *
 * The per-token inputs of a chunk share one storage buffer (each array at its own offset, the mask
 * as packed bytes), so the pass needs six storage bindings however many inputs are present; a
 * device has as few as eight. Chunks are sized so that buffer fits one binding; with a mask and
 * several chunks the mask is uploaded twice (once for the counts, once for the main pass).
 *
 * Precision: values and gradients are computed in f32 (r = exp(Δ) overflows for Δ > 88 when
 * logRatioClamp is Infinity, as it would in TRL's f32 torch code), per-workgroup sums in f32 over
 * WG·LOSS_ITEMS positions in a log2(WG)-deep tree, everything after that in f64.
 */
import type { KernelControl } from '../../../core/backend.js';
import { NumkernError } from '../../../core/errors.js';
import type { OpArgs } from '../../../core/ops.js';
import type { FloatArray } from '../../../core/types.js';
import { KL_CODES, PG_LOSS_ARRAYS, type PgLossOutcome, type PgLossStats } from '../../../pg/ops.js';
import { STAGING, STORAGE_IN, STORAGE_OUT, UNIFORM } from '../buffers.js';
import type { GpuRuntime } from '../dispatch.js';
import { copyToStaging, readInto } from '../readback.js';
import {
  aggregationCodes, COUNT_WORDS, LOSS_ITEMS, LOSS_PARAMS, LOSS_PARTIAL, NO_INDEX, pgPipeline, SEQ_REC, STATUS_SEQUENCES, STATUS_TOKENS, STATUS_WORDS,
} from './layout.js';
import { f32Array } from './logprobs.js';

type LossArgs = OpArgs<'pgPolicyLoss'>;

/** Workgroups of the totals pass: enough to spread a long sequence list, few atomics. */
const MAX_TOTALS_GROUPS = 64;
const F32_MAX = 3.4028234663852886e38;

/** Why the per-sequence records cannot be bound here, or null. */
export function policyLossTrouble(rt: GpuRuntime, args: LossArgs): string | null {
  if (!(args.logp instanceof Float32Array)) return `logp: the webgpu backend computes in f32 only, got a ${args.logp.constructor.name}`;
  const nSeq = args.lengths.length;
  if (nSeq * SEQ_REC.bytes > rt.bindingBytes) {
    return `lengths: ${nSeq} sequences need ${nSeq * SEQ_REC.bytes} bytes of records, more than one webgpu binding holds (${rt.bindingBytes})`;
  }
  return null;
}

interface Present {
  readonly logp: Float32Array;
  readonly old: Float32Array;
  readonly ref: Float32Array | null;
  readonly advTok: Float32Array | null;
  readonly ent: Float32Array | null;
}

/** Word offsets of each input in a chunk's token buffer (capacity C positions per array). */
interface TokLayout {
  readonly logp: number;
  readonly old: number;
  readonly ref: number;
  readonly adv: number;
  readonly ent: number;
  readonly mask: number;
  readonly words: number;
}

function tokLayout(p: Present, hasMask: boolean, C: number): TokLayout {
  let w = 0;
  const slot = (present: boolean) => {
    if (!present) return 0;
    const at = w;
    w += C;
    return at;
  };
  const logp = slot(true);
  const old = slot(true);
  const ref = slot(p.ref !== null);
  const adv = slot(p.advTok !== null);
  const ent = slot(p.ent !== null);
  const mask = w;
  if (hasMask) w += C / 4;
  return { logp, old, ref, adv, ent, mask, words: w };
}

/**
 * Positions per chunk when a binding would hold more: 4 MiB per input array, as for the log-probs
 * (logprobs.ts, STREAM_CHUNK_BYTES): smaller buffers stay in the pool between calls and the next
 * chunk's upload overlaps this one's read-back. A 64×8×1024 batch is one chunk.
 */
const LOSS_CHUNK_POSITIONS = 2 ** 20;

/** Positions per chunk: a multiple of 4 (mask words) whose token buffer and outputs fit one binding. */
function chunkCapacity(rt: GpuRuntime, arrays: number, hasMask: boolean, outputs: number): number {
  const words = rt.bindingElements(4);
  const perPos = Math.max(arrays + (hasMask ? 0.25 : 0), outputs);
  return Math.min(LOSS_CHUNK_POSITIONS, Math.max(4, Math.floor(words / perPos / 4) * 4));
}

function sameLength(a: FloatArray | Uint8Array, n: number, name: string): void {
  if (a.length < n) throw new NumkernError('E_SHAPE', `${name}: length ${a.length}, expected ${n} (offsets[nSeq])`, { argument: name });
}

function f32Bound(v: number): number {
  return Math.max(-F32_MAX, Math.min(F32_MAX, v));
}

export async function webgpuPolicyLoss(rt: GpuRuntime, args: LossArgs, ctl: KernelControl): Promise<PgLossOutcome> {
  const { offsets, lengths, mask } = args;
  const nSeq = lengths.length;
  if (offsets.length !== nSeq + 1) {
    throw new NumkernError('E_SHAPE', `offsets: length ${offsets.length}, expected ${nSeq + 1} (lengths.length + 1)`, { argument: 'offsets' });
  }
  const T = nSeq > 0 ? offsets[nSeq]! : 0;
  const present: Present = {
    logp: f32Array(args.logp, 'logp'),
    old: f32Array(args.oldLogp, 'oldLogp'),
    ref: args.klEstimator !== null ? f32Array(args.refLogp ?? new Float32Array(0), 'refLogp') : null,
    advTok: args.advantagePerToken ? f32Array(args.advantages, 'advantages') : null,
    ent: args.entropy !== null ? f32Array(args.entropy, 'entropy') : null,
  };
  const grad = f32Array(args.grad, 'grad');
  const gradH = args.gradEntropy !== null ? f32Array(args.gradEntropy, 'gradEntropy') : null;
  sameLength(present.logp, T, 'logp');
  sameLength(present.old, T, 'oldLogp');
  if (present.ref) sameLength(present.ref, T, 'refLogp');
  if (present.advTok) sameLength(present.advTok, T, 'advantages');
  if (present.ent) sameLength(present.ent, T, 'entropy');
  if (mask) sameLength(mask, T, 'mask');
  sameLength(grad, T, 'grad');
  if (gradH) sameLength(gradH, T, 'gradEntropy');
  const advSeq = args.advantagePerToken ? null : f32Array(args.advantages, 'advantages');
  if (advSeq && advSeq.length !== nSeq) {
    throw new NumkernError('E_SHAPE', `advantages: length ${advSeq.length}, expected ${nSeq} (one per sequence)`, { argument: 'advantages' });
  }

  // Per-sequence records, and L_i with the totals where the lengths alone decide them.
  const seqWords = new ArrayBuffer(Math.max(1, nSeq) * SEQ_REC.bytes);
  const seqU = new Uint32Array(seqWords);
  const seqF = new Float32Array(seqWords);
  const counts = new Uint32Array(Math.max(1, nSeq));
  const status = new Uint32Array(STATUS_WORDS).fill(NO_INDEX);
  status[STATUS_TOKENS] = 0;
  status[STATUS_SEQUENCES] = 0;
  for (let i = 0; i < nSeq; i++) {
    const o = i * SEQ_REC.words;
    const len = Math.max(0, Math.min(lengths[i]!, offsets[i + 1]! - offsets[i]!));
    seqU[o + SEQ_REC.at.start] = Math.max(0, offsets[i]!);
    seqU[o + SEQ_REC.at.len] = len;
    seqF[o + SEQ_REC.at.adv] = advSeq ? advSeq[i]! : 0;
    if (!mask) {
      counts[i] = len;
      status[STATUS_TOKENS] += len;
      if (len > 0) status[STATUS_SEQUENCES]++;
    }
  }

  const hasMask = mask !== null;
  const nArrays = 2 + (present.ref ? 1 : 0) + (present.advTok ? 1 : 0) + (present.ent ? 1 : 0);
  const nOut = present.ent ? 2 : 1;
  const C = Math.min(chunkCapacity(rt, nArrays, hasMask, nOut), Math.max(4, Math.ceil(T / 4) * 4));
  const layout = tokLayout(present, hasMask, C);
  const nChunks = Math.max(1, Math.ceil(T / C));
  const perGroup = rt.workgroupSize * LOSS_ITEMS;
  const groupsOf = (count: number) => Math.max(1, Math.ceil(count / perGroup));
  let totalGroups = 0;
  for (let c = 0; c < nChunks; c++) totalGroups += groupsOf(Math.min(C, T - c * C));

  const agg = aggregationCodes(args.aggregation);
  const aggH = aggregationCodes(args.entropyAggregation);
  const params = new ArrayBuffer(LOSS_PARAMS.bytes);
  const pu = new Uint32Array(params);
  const pf = new Float32Array(params);
  const P = LOSS_PARAMS.at;
  pu[P.total] = T;
  pu[P.nSeq] = nSeq;
  pu[P.offLogp] = layout.logp;
  pu[P.offOld] = layout.old;
  pu[P.offRef] = layout.ref;
  pu[P.offAdv] = layout.adv;
  pu[P.offEnt] = layout.ent;
  pu[P.offMask] = layout.mask;
  pu[P.outGradH] = C;
  pu[P.advPerToken] = present.advTok ? 1 : 0;
  pu[P.hasMask] = hasMask ? 1 : 0;
  pu[P.hasRef] = present.ref ? 1 : 0;
  pu[P.hasEntropy] = present.ent ? 1 : 0;
  pu[P.ignoreInactive] = args.ignoreInactiveNonFinite ? 1 : 0;
  pu[P.klCode] = args.klEstimator !== null ? KL_CODES[args.klEstimator] : 0;
  pu[P.klClamp] = args.klClamp ? 1 : 0;
  const finite32 = (v: number) => Number.isFinite(Math.fround(v));
  pu[P.clampOn] = finite32(args.logRatioClamp) ? 1 : 0;
  pu[P.capOn] = finite32(args.ratioCap) ? 1 : 0;
  pu[P.dualOn] = finite32(args.dualClip) ? 1 : 0;
  pu[P.denom] = agg.denom;
  pu[P.len] = agg.len;
  pu[P.denomH] = aggH.denom;
  pu[P.lenH] = aggH.len;
  pf[P.clipLo] = f32Bound(1 - args.clipLow);
  pf[P.clipHi] = f32Bound(1 + args.clipHigh);
  pf[P.dualC] = pu[P.dualOn] ? args.dualClip : 0;
  pf[P.ratioCap] = pu[P.capOn] ? args.ratioCap : 0;
  pf[P.logClamp] = pu[P.clampOn] ? args.logRatioClamp : 0;
  pf[P.klCoef] = args.klCoef;
  pf[P.entCoef] = args.entropyCoef;
  pf[P.scale] = args.aggregation.scale;
  pf[P.denomValue] = agg.value;
  pf[P.scaleH] = args.entropyAggregation.scale;
  pf[P.denomValueH] = aggH.value;

  const summary = new Uint8Array(totalGroups * LOSS_PARTIAL.bytes + STATUS_WORDS * 4);

  await rt.guard('pgPolicyLoss', ctl.signal, async (lease) => {
    const [countsPipe, totalsPipe, mainPipe] = await Promise.all([
      pgPipeline(rt, 'pg/active_counts.wgsl'), pgPipeline(rt, 'pg/active_totals.wgsl'), pgPipeline(rt, 'pg/policy_loss.wgsl'),
    ]);
    const q = rt.device.queue;
    const ub = lease.acquire(LOSS_PARAMS.bytes, UNIFORM);
    const seqBuf = lease.acquire(seqWords.byteLength, STORAGE_IN);
    q.writeBuffer(seqBuf, 0, seqWords);
    const countBuf = lease.acquire(counts.byteLength, STORAGE_OUT);
    q.writeBuffer(countBuf, 0, counts);
    const statusBuf = lease.acquire(STATUS_WORDS * 4, STORAGE_OUT);
    q.writeBuffer(statusBuf, 0, status);
    const tokBuf = lease.acquire(layout.words * 4, STORAGE_IN);
    const gradBuf = lease.acquire(nOut * C * 4, STORAGE_OUT);
    const maxGroups = groupsOf(C);
    const partBuf = lease.acquire(maxGroups * LOSS_PARTIAL.bytes, STORAGE_OUT);
    const gradStaging = [lease.acquire(nOut * C * 4, STAGING), lease.acquire(nOut * C * 4, STAGING)];
    const sumStaging = lease.acquire(summary.byteLength, STAGING);
    const pending: (Promise<void> | null)[] = [null, null];

    const setChunk = (base: number, count: number, groups: number, first: boolean) => {
      pu[P.base] = base;
      pu[P.count] = count;
      pu[P.groups] = groups;
      pu[P.checkSeqAdv] = first && advSeq ? 1 : 0;
      q.writeBuffer(ub, 0, params);
    };
    const uploadMask = (base: number, count: number) => {
      const m = mask!.subarray(base, base + count);
      const whole = count & ~3;
      if (whole > 0) rt.write(tokBuf, m.subarray(0, whole), 'mask', layout.mask * 4);
      if (whole < count) {
        // writeBuffer moves whole words: the last 1-3 bytes go out padded with zeros.
        const tail = new Uint8Array(4);
        tail.set(m.subarray(whole));
        q.writeBuffer(tokBuf, layout.mask * 4 + whole, tail);
      }
    };
    // A binding of `n` records of `words` words each: at least one record, which a runtime-sized array needs.
    const binding = (buffer: GPUBuffer, n: number, words = 1) => ({ buffer, size: Math.max(1, n) * words * 4 });
    const countBindings = () => [ub, binding(seqBuf, nSeq, SEQ_REC.words), binding(tokBuf, layout.words), binding(countBuf, nSeq)];
    // Each active_counts invocation takes COUNT_WORDS mask words, four positions each.
    const countGroups = (count: number) => Math.ceil(count / (4 * COUNT_WORDS * rt.workgroupSize));
    const totalsBindings = () => [ub, binding(countBuf, nSeq), binding(statusBuf, STATUS_WORDS)];
    const totalsGroups = Math.max(1, Math.min(MAX_TOTALS_GROUPS, Math.ceil(nSeq / rt.workgroupSize)));

    // With a mask and several chunks, every L_i must be complete before the first gradient.
    const countsFirst = hasMask && nChunks > 1;
    if (countsFirst) {
      for (let c = 0; c < nChunks; c++) {
        const base = c * C;
        const count = Math.min(C, T - base);
        setChunk(base, count, 0, false);
        uploadMask(base, count);
        const enc = rt.device.createCommandEncoder();
        rt.dispatch(enc, countsPipe, countBindings(), countGroups(count));
        if (c === nChunks - 1) rt.dispatch(enc, totalsPipe, totalsBindings(), totalsGroups);
        rt.submit(enc, ctl.signal);
      }
    }

    let partAt = 0;
    try {
      for (let c = 0; c < nChunks; c++) {
        const base = c * C;
        const count = Math.max(0, Math.min(C, T - base));
        const groups = groupsOf(count);
        const k = c & 1;
        await pending[k];
        pending[k] = null;
        setChunk(base, count, groups, c === 0);
        rt.write(tokBuf, present.logp.subarray(base, base + count), 'logp', layout.logp * 4);
        rt.write(tokBuf, present.old.subarray(base, base + count), 'oldLogp', layout.old * 4);
        if (present.ref) rt.write(tokBuf, present.ref.subarray(base, base + count), 'refLogp', layout.ref * 4);
        if (present.advTok) rt.write(tokBuf, present.advTok.subarray(base, base + count), 'advantages', layout.adv * 4);
        if (present.ent) rt.write(tokBuf, present.ent.subarray(base, base + count), 'entropy', layout.ent * 4);
        if (hasMask) uploadMask(base, count);
        const enc = rt.device.createCommandEncoder();
        if (hasMask && !countsFirst) {
          rt.dispatch(enc, countsPipe, countBindings(), countGroups(count));
          rt.dispatch(enc, totalsPipe, totalsBindings(), totalsGroups);
        }
        rt.dispatch(enc, mainPipe, [
          ub, binding(seqBuf, nSeq, SEQ_REC.words), binding(tokBuf, layout.words), binding(countBuf, nSeq),
          binding(statusBuf, STATUS_WORDS), binding(gradBuf, nOut * C), binding(partBuf, groups, LOSS_PARTIAL.words),
        ], groups);
        copyToStaging(enc, partBuf, sumStaging, groups * LOSS_PARTIAL.bytes, 0, partAt * LOSS_PARTIAL.bytes);
        partAt += groups;
        if (c === nChunks - 1) copyToStaging(enc, statusBuf, sumStaging, STATUS_WORDS * 4, 0, totalGroups * LOSS_PARTIAL.bytes);
        const staging = gradStaging[k]!;
        if (count > 0) {
          copyToStaging(enc, gradBuf, staging, count * 4);
          if (present.ent) copyToStaging(enc, gradBuf, staging, count * 4, C * 4, C * 4);
        }
        rt.submit(enc, ctl.signal);
        if (count > 0) {
          const p = landGrads(staging, count, C, grad.subarray(base, base + count), gradH?.subarray(base, base + count) ?? null, present.ent !== null);
          p.catch(() => undefined);
          pending[k] = p;
        }
      }
      await Promise.all(pending);
      await readInto(sumStaging, summary);
    } finally {
      await Promise.allSettled(pending);
    }
  });

  return outcome(args, summary, totalGroups);
}

/** Copies a chunk's gradients out of its staging buffer (grad at 0, gradEntropy at C words). */
async function landGrads(
  staging: GPUBuffer, count: number, C: number, grad: Float32Array, gradH: Float32Array | null, hasEnt: boolean,
): Promise<void> {
  const bytes = hasEnt ? (C + count) * 4 : count * 4;
  const host = new Float32Array(bytes / 4);
  await readInto(staging, host);
  grad.set(host.subarray(0, count));
  if (gradH) gradH.set(host.subarray(C, C + count));
}

/** The loss, its parts and the statistics from the partial records and status words, in f64. */
function outcome(args: LossArgs, summary: Uint8Array, groups: number): PgLossOutcome {
  const part = new Float32Array(summary.buffer, 0, groups * LOSS_PARTIAL.words);
  const status = new Uint32Array(summary.buffer, groups * LOSS_PARTIAL.bytes, STATUS_WORDS);
  const A = LOSS_PARTIAL.at;
  const sum = { policy: 0, kl: 0, ent: 0, ratio: 0, approxKl: 0, klValue: 0, entropy: 0, clipHigh: 0, clipLow: 0, clipDual: 0 };
  const keys = Object.keys(sum) as (keyof typeof sum)[];
  for (let g = 0; g < groups; g++) {
    const o = g * LOSS_PARTIAL.words;
    for (const key of keys) sum[key] += part[o + A[key]]!;
  }
  let nonFinite: PgLossOutcome['nonFinite'] = null;
  for (let slot = 0; slot < PG_LOSS_ARRAYS.length; slot++) {
    if (status[slot] !== NO_INDEX) {
      nonFinite = { array: PG_LOSS_ARRAYS[slot]!, index: status[slot]! };
      break;
    }
  }
  const tokens = status[STATUS_TOKENS]!;
  const mean = (s: number) => (tokens > 0 ? s / tokens : 0);
  const hasKl = args.klEstimator !== null;
  const hasEnt = args.entropy !== null;
  const policyLoss = sum.policy;
  const klLoss = hasKl ? args.klCoef * sum.kl : 0;
  const entropyLoss = hasEnt ? -args.entropyCoef * sum.ent : 0;
  const stats: PgLossStats = {
    tokens,
    sequences: status[STATUS_SEQUENCES]!,
    // The counts are exact integers in every f32 partial (at most WG·LOSS_ITEMS per workgroup).
    clipFracHigh: mean(sum.clipHigh),
    clipFracLow: mean(sum.clipLow),
    clipFracDual: mean(sum.clipDual),
    ratioMean: mean(sum.ratio),
    approxKl: mean(sum.approxKl),
    klMean: hasKl ? mean(sum.klValue) : 0,
    entropyMean: hasEnt ? mean(sum.entropy) : 0,
    policyLoss,
    klLoss,
    entropyLoss,
  };
  return { loss: policyLoss + klLoss + entropyLoss, stats, nonFinite };
}
