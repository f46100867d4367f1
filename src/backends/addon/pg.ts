/**
 * The pg family's addon contract that the native and cuda backends share (bindings/pg.cc): the slots
 * of pgPolicyLoss's params and sums vectors, the check of the addon's copy of those tables, the params
 * of a call from its totals, and the outcome from its sums. Each backend calls its own entry points
 * (exports or exports.cuda) with these vectors.
 */
import { KL_CODES, PG_LOSS_ARRAYS, type PgAggregation, type PgLossArgs, type PgLossOutcome, type PgLossStats } from '../../pg/ops.js';

/** The tables the addon and this file share, as the addon reports them (pgLayout in bindings/pg.cc). */
export interface NativePgLayout {
  readonly kl: Readonly<Record<string, number>>;
  readonly arrays: readonly string[];
  readonly params: Readonly<Record<string, number>>;
  readonly sums: Readonly<Record<string, number>>;
}

/** Slots of pgPolicyLoss's params vector (bindings/pg.cc Param). */
export const PARAM = {
  clipLow: 0, clipHigh: 1, dualClip: 2, ratioCap: 3, logRatioClamp: 4, kl: 5, klCoef: 6, klClamp: 7, entropyCoef: 8,
  aggPerSequenceMean: 9, aggFloorOne: 10, aggDenominator: 11, aggScale: 12,
  entropyAggPerSequenceMean: 13, entropyAggFloorOne: 14, entropyAggDenominator: 15, entropyAggScale: 16,
  advantagePerToken: 17, ignoreInactiveNonFinite: 18, seqBegin: 19, seqEnd: 20, length: 21,
} as const;

/** Slots of pgPolicyLoss's sums vector (bindings/pg.cc Sum); nonfinite is the first of PG_LOSS_ARRAYS.length. */
export const SUM = {
  policy: 0, kl: 1, entropy: 2, ratio: 3, negLogRatio: 4, klValue: 5, entropyValue: 6, high: 7, low: 8, dual: 9,
  tokens: 10, sequences: 11, nonfinite: 12, length: 12 + PG_LOSS_ARRAYS.length,
} as const;

/**
 * Throws, naming every difference, unless the addon's tables are src/pg/ops.ts's (KL codes, the order of
 * PG_LOSS_ARRAYS) and this file's (PARAM, SUM). A mismatch (an addon built from other sources) takes the
 * family off the backend, with the reason in status(), instead of misreading a slot.
 */
export function checkPgLayout(got: NativePgLayout): void {
  const diffs: string[] = [];
  const compare = (table: string, want: Readonly<Record<string, number>>, have: Readonly<Record<string, number>> | undefined, where: string): void => {
    const h: Readonly<Record<string, number | undefined>> = have ?? {};
    for (const key of new Set([...Object.keys(want), ...Object.keys(h)])) {
      if (want[key] !== h[key]) diffs.push(`${table}.${key} is ${h[key] ?? 'missing'} in the addon, ${want[key] ?? 'missing'} in ${where}`);
    }
  };
  compare('kl', KL_CODES, got?.kl, 'src/pg/ops.ts (KL_CODES)');
  const arrays: readonly string[] = Array.isArray(got?.arrays) ? got.arrays : [];
  for (let i = 0; i < Math.max(arrays.length, PG_LOSS_ARRAYS.length); i++) {
    if (arrays[i] !== PG_LOSS_ARRAYS[i]) diffs.push(`arrays[${i}] is ${arrays[i] ?? 'missing'} in the addon, ${PG_LOSS_ARRAYS[i] ?? 'missing'} in src/pg/ops.ts (PG_LOSS_ARRAYS)`);
  }
  compare('params', PARAM, got?.params, 'src/backends/addon/pg.ts');
  compare('sums', SUM, got?.sums, 'src/backends/addon/pg.ts');
  if (diffs.length > 0) throw new Error(`pg layout mismatch between the addon and src/backends/addon/pg.ts: ${diffs.join('; ')}`);
}

/** D of an aggregation (PgAggregation in ops.ts), from the batch's totals. */
function denominator(agg: PgAggregation, tokens: number, sequences: number, nSeq: number): number {
  if (agg.denominator === 'tokens') return Math.max(tokens, 1);
  if (agg.denominator === 'sequences') return Math.max(sequences, 1);
  if (agg.denominator === 'all-sequences') return Math.max(nSeq, 1);
  return agg.denominator;
}

/** The params vector of a call over the whole batch (seqBegin 0, seqEnd nSeq), its denominators resolved. */
export function lossParams(a: PgLossArgs, tokens: number, sequences: number, nSeq: number): Float64Array {
  const p = new Float64Array(PARAM.length);
  p[PARAM.clipLow] = a.clipLow;
  p[PARAM.clipHigh] = a.clipHigh;
  p[PARAM.dualClip] = a.dualClip;
  p[PARAM.ratioCap] = a.ratioCap;
  p[PARAM.logRatioClamp] = a.logRatioClamp;
  p[PARAM.kl] = a.klEstimator === null ? -1 : KL_CODES[a.klEstimator];
  p[PARAM.klCoef] = a.klCoef;
  p[PARAM.klClamp] = a.klClamp ? 1 : 0;
  p[PARAM.entropyCoef] = a.entropyCoef;
  const aggs: [PgAggregation, number][] = [[a.aggregation, PARAM.aggPerSequenceMean], [a.entropyAggregation, PARAM.entropyAggPerSequenceMean]];
  for (const [agg, at] of aggs) {
    p[at] = agg.perSequenceMean ? 1 : 0;
    p[at + 1] = agg.lengthFloor === 'one' ? 1 : 0;
    p[at + 2] = denominator(agg, tokens, sequences, nSeq);
    p[at + 3] = agg.scale;
  }
  p[PARAM.advantagePerToken] = a.advantagePerToken ? 1 : 0;
  p[PARAM.ignoreInactiveNonFinite] = a.ignoreInactiveNonFinite ? 1 : 0;
  p[PARAM.seqEnd] = nSeq;
  return p;
}

const zeroStats = (): PgLossStats => ({
  tokens: 0, sequences: 0, clipFracHigh: 0, clipFracLow: 0, clipFracDual: 0, ratioMean: 0, approxKl: 0,
  klMean: 0, entropyMean: 0, policyLoss: 0, klLoss: 0, entropyLoss: 0,
});

/**
 * The outcome from the batch's totals and its summed SUM slots (`total`, the first SUM.nonfinite), and
 * per PG_LOSS_ARRAYS entry the smallest non-finite index or −1 (`bad`).
 */
export function lossOutcome(a: PgLossArgs, tokens: number, sequences: number, total: Float64Array, bad: readonly number[]): PgLossOutcome {
  const first = bad.findIndex((i) => i >= 0);
  if (first >= 0) return { loss: NaN, stats: zeroStats(), nonFinite: { array: PG_LOSS_ARRAYS[first]!, index: bad[first]! } };
  const mean = (s: number): number => (tokens > 0 ? total[s]! / tokens : 0);
  const policyLoss = total[SUM.policy]!;
  const klLoss = a.klEstimator === null ? 0 : a.klCoef * total[SUM.kl]!;
  const entropyLoss = a.entropy ? -a.entropyCoef * total[SUM.entropy]! : 0;
  const stats: PgLossStats = {
    tokens,
    sequences,
    clipFracHigh: mean(SUM.high),
    clipFracLow: mean(SUM.low),
    clipFracDual: mean(SUM.dual),
    ratioMean: mean(SUM.ratio),
    approxKl: mean(SUM.negLogRatio),
    klMean: a.klEstimator === null ? 0 : mean(SUM.klValue),
    entropyMean: a.entropy ? mean(SUM.entropyValue) : 0,
    policyLoss,
    klLoss,
    entropyLoss,
  };
  return { loss: policyLoss + klLoss + entropyLoss, stats, nonFinite: null };
}
