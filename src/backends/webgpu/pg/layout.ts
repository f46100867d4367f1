/**
 * Every layout the pg kernels share with the host, written once: the uniform parameters, the
 * per-row and per-workgroup records the host packs or reads back, and the codes in them. The KL
 * codes and the order in which non-finite inputs are reported come from the op contract
 * (src/pg/ops.ts: KL_CODES, PG_LOSS_ARRAYS) and are generated into the prelude here, never typed a
 * second time in WGSL (docs/ARCHITECTURE.md §7, §9). The .wgsl files under kernels/pg declare none
 * of these.
 */
import { KL_CODES, PG_LOSS_ARRAYS, type PgAggregation } from '../../../pg/ops.js';
import type { GpuRuntime } from '../dispatch.js';
import { WordStruct, wgslConstants, type WgslPrelude } from '../wgsl-layout.js';

/**
 * Uniform of the policy-loss passes (active_counts, active_totals, policy_loss). Positions
 * [base, base + count) are this chunk's; `total` = offsets[nSeq]; `groups` the workgroups of this
 * dispatch that do work (the rest of a folded grid returns at once).
 *
 * The per-token inputs of a chunk share one storage buffer (a device has as few as 8 storage
 * bindings per stage), each array at its own word offset (off*), the mask as bytes packed four to a
 * word at offMask. grad and gradEntropy share one output buffer: grad at word 0, gradEntropy at
 * outGradH; the per-workgroup LossPartial records go to a buffer of their own.
 *
 * Flags are 0/1. A clamp, cap or dual clip that is Infinity in the contract travels as its flag = 0
 * (WGSL may not assume infinities survive arithmetic), the bounds of the PPO clip as f32
 * (1 − clipLow, 1 + clipHigh). denom / len are DENOM_* / LEN_* codes of the two aggregations (ops.ts:
 * PgAggregation), denomValue the fixed denominator when denom is DENOM_FIXED.
 */
export const LOSS_PARAMS = new WordStruct('LossParams', {
  total: 'u32',
  nSeq: 'u32',
  base: 'u32',
  count: 'u32',
  groups: 'u32',
  offLogp: 'u32',
  offOld: 'u32',
  offRef: 'u32',
  offAdv: 'u32',
  offEnt: 'u32',
  offMask: 'u32',
  outGradH: 'u32',
  advPerToken: 'u32',
  hasMask: 'u32',
  hasRef: 'u32',
  hasEntropy: 'u32',
  ignoreInactive: 'u32',
  klCode: 'u32',
  klClamp: 'u32',
  clampOn: 'u32',
  capOn: 'u32',
  dualOn: 'u32',
  checkSeqAdv: 'u32',
  denom: 'u32',
  len: 'u32',
  denomH: 'u32',
  lenH: 'u32',
  clipLo: 'f32',
  clipHi: 'f32',
  dualC: 'f32',
  ratioCap: 'f32',
  logClamp: 'f32',
  klCoef: 'f32',
  entCoef: 'f32',
  scale: 'f32',
  denomValue: 'f32',
  scaleH: 'f32',
  denomValueH: 'f32',
});

/**
 * One sequence, packed by the host: its first position, how many of its positions lie within
 * lengths[i] (min(lengths[i], segment length), at least 0), and its advantage when advantages are
 * per sequence (else 0).
 */
export const SEQ_REC = new WordStruct('SeqRec', { start: 'u32', len: 'u32', adv: 'f32' });

/**
 * The status words of a policy-loss call: the smallest non-finite index per PG_LOSS_ARRAYS entry
 * (NO_INDEX when none; atomicMin), then Σ L_i and #{i: L_i > 0} (written by active_totals, or by the
 * host when there is no mask).
 */
export const STATUS_TOKENS = PG_LOSS_ARRAYS.length;
export const STATUS_SEQUENCES = PG_LOSS_ARRAYS.length + 1;
export const STATUS_WORDS = PG_LOSS_ARRAYS.length + 2;

/**
 * What one policy-loss workgroup leaves for the host, which adds the records of every workgroup and
 * chunk in f64: Σ w·ℓ, Σ w·v (KL), Σ wH·H, Σ r, Σ (old − logp) clamped, Σ v, Σ H, and the clip
 * counts (per workgroup at most WG·ITEMS ≤ 2^24, so exact in f32).
 */
export const LOSS_PARTIAL = new WordStruct('LossPartial', {
  policy: 'f32',
  kl: 'f32',
  ent: 'f32',
  ratio: 'f32',
  approxKl: 'f32',
  klValue: 'f32',
  entropy: 'f32',
  clipHigh: 'f32',
  clipLow: 'f32',
  clipDual: 'f32',
  _pad0: 'f32',
  _pad1: 'f32',
});

/** Uniform of the token log-prob kernels: rows of this chunk, vocab, 1/τ rounded to f32. */
export const LOGPROB_PARAMS = new WordStruct('LogprobParams', { rows: 'u32', vocab: 'u32', invTemp: 'f32', _pad: 'u32' });

/** Per-row output of token_logprobs. */
export const ROW_OUT = new WordStruct('RowOut', { logp: 'f32', lse: 'f32', entropy: 'f32' });

/** Per-row input of token_logprobs_backward, packed by the host (a null upstream array is 0). */
export const ROW_IN = new WordStruct('RowIn', { lse: 'f32', entropy: 'f32', gradLogp: 'f32', gradEntropy: 'f32' });

/** Aggregation denominators (PgAggregation.denominator) and length floors as codes. */
export const DENOM = { tokens: 0, sequences: 1, allSequences: 2, fixed: 3 } as const;
export const LEN = { none: 0, eps: 1, one: 2 } as const;

/**
 * Positions each policy-loss invocation handles (a workgroup covers WG·LOSS_ITEMS consecutive
 * positions, 4096 at WG = 256). Each workgroup ends in three log2(WG)-deep barrier trees, which a
 * CPU rasterizer runs as coroutine switches: on lavapipe 16 took the 64×8×1024 loss from 49 ms (at
 * 4) to 18 ms. A partial then sums 16-term chains in a tree, error ≤ (16 + log2 WG)·u relative.
 */
export const LOSS_ITEMS = 16;
/** Mask words (4 positions each) each active_counts invocation handles. */
export const COUNT_WORDS = 4;
/** "No non-finite value seen" in the atomicMin slots. */
export const NO_INDEX = 0xffffffff;

/** 'oldLogp' → 'OLD_LOGP'. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The slot of each PG_LOSS_ARRAYS entry in the non-finite report: its position in that order. */
export const NF_SLOT: Readonly<Record<(typeof PG_LOSS_ARRAYS)[number], number>> =
  Object.fromEntries(PG_LOSS_ARRAYS.map((a, i) => [a, i])) as Record<(typeof PG_LOSS_ARRAYS)[number], number>;

/** The constants the prelude declares, by WGSL name. */
export function pgConstants(): Record<string, number> {
  const kl = Object.fromEntries(Object.entries(KL_CODES).map(([k, v]) => [`KL_${upperSnake(k)}`, v]));
  const nf = Object.fromEntries(PG_LOSS_ARRAYS.map((a, i) => [`NF_${upperSnake(a)}`, i]));
  return {
    ...kl,
    ...nf,
    NF_COUNT: PG_LOSS_ARRAYS.length,
    DENOM_TOKENS: DENOM.tokens,
    DENOM_SEQUENCES: DENOM.sequences,
    DENOM_ALL_SEQUENCES: DENOM.allSequences,
    DENOM_FIXED: DENOM.fixed,
    LEN_NONE: LEN.none,
    LEN_EPS: LEN.eps,
    LEN_ONE: LEN.one,
    LOSS_ITEMS,
    COUNT_WORDS,
    NO_INDEX,
    STATUS_TOKENS,
    STATUS_SEQUENCES,
    STATUS_WORDS,
  };
}

/** The generated declarations every kernels/pg shader is compiled with. */
export const PG_PRELUDE: WgslPrelude = {
  name: 'pg',
  code: [LOSS_PARAMS, SEQ_REC, LOSS_PARTIAL, LOGPROB_PARAMS, ROW_OUT, ROW_IN].map((s) => s.wgsl()).join('') + wgslConstants(pgConstants()),
};

/** A kernels/pg pipeline at the runtime's workgroup size, compiled with PG_PRELUDE. */
export function pgPipeline(rt: GpuRuntime, file: string, entryPoint = 'main'): Promise<GPUComputePipeline> {
  return rt.pipeline(file, entryPoint, PG_PRELUDE);
}

/** The DENOM_* / LEN_* codes and fixed denominator of an aggregation. */
export function aggregationCodes(a: PgAggregation): { denom: number; len: number; value: number } {
  const len = a.perSequenceMean ? (a.lengthFloor === 'eps' ? LEN.eps : LEN.one) : LEN.none;
  if (typeof a.denominator === 'number') return { denom: DENOM.fixed, len, value: a.denominator };
  const denom = a.denominator === 'tokens' ? DENOM.tokens : a.denominator === 'sequences' ? DENOM.sequences : DENOM.allSequences;
  return { denom, len, value: 0 };
}

/** Bytes of workgroup memory the pg kernels need at workgroup size `wg` (one vec4f per invocation, plus the reduction's result). */
export function pgWorkgroupBytes(wg: number): number {
  return 16 * wg + 16;
}
