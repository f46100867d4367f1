/**
 * The fused policy loss (pgPolicyLoss, src/pg/ops.ts) on the js backend: the oracle every other backend
 * is tested against. Plain loops in f64 (f32 inputs widen exactly; grad is rounded once on store), every
 * sum taken in one fixed order: sequence by sequence, position by position, each sequence's sum then
 * multiplied by its weight and added to the batch total (docs/pg.md §2–§4, §8).
 */
import { KL_CODES, type PgAggregation, type PgLossArgs, type PgLossArray, type PgLossOutcome, type PgLossStats } from '../../../pg/ops.js';
import type { FloatArray } from '../../../core/types.js';

/** verl's k3 clamps (core_algos.py kl_penalty, "low_var_kl"): the argument to ±20, the value to ≤ 10. */
const K3_ARG_CLAMP = 20;
const K3_VALUE_CLAMP = 10;

const isActive = (a: PgLossArgs, i: number, t: number): boolean =>
  t < a.lengths[i]! && (a.mask === null || a.mask[a.offsets[i]! + t] !== 0);

/** Active positions per sequence (L_i in docs/pg.md §4). */
function activeCounts(a: PgLossArgs): Int32Array {
  const nSeq = a.offsets.length - 1;
  const L = new Int32Array(nSeq);
  for (let i = 0; i < nSeq; i++) {
    const width = a.offsets[i + 1]! - a.offsets[i]!;
    let c = 0;
    for (let t = 0; t < width; t++) if (isActive(a, i, t)) c++;
    L[i] = c;
  }
  return L;
}

/** Per-sequence weight w_i = scale / (D · len_i) of docs/pg.md §4 (0 for a sequence with no active position). */
function weights(agg: PgAggregation, L: Int32Array, tokens: number, sequences: number): Float64Array {
  const nSeq = L.length;
  const D = agg.denominator === 'tokens' ? Math.max(tokens, 1)
    : agg.denominator === 'sequences' ? Math.max(sequences, 1)
    : agg.denominator === 'all-sequences' ? Math.max(nSeq, 1)
    : agg.denominator;
  const w = new Float64Array(nSeq);
  for (let i = 0; i < nSeq; i++) {
    if (L[i] === 0) continue;
    const len = !agg.perSequenceMean ? 1 : agg.lengthFloor === 'eps' ? L[i]! + 1e-8 : Math.max(L[i]!, 1);
    w[i] = agg.scale / (D * len);
  }
  return w;
}

/** The first array (PG_LOSS_ARRAYS order) holding a non-finite checked value, with its smallest index. */
function firstNonFinite(a: PgLossArgs): { array: PgLossArray; index: number } | null {
  const nSeq = a.offsets.length - 1;
  const perToken = (v: FloatArray): number => {
    for (let i = 0; i < nSeq; i++) {
      const base = a.offsets[i]!;
      const width = a.offsets[i + 1]! - base;
      for (let t = 0; t < width; t++) {
        if (a.ignoreInactiveNonFinite && !isActive(a, i, t)) continue;
        if (!Number.isFinite(v[base + t]!)) return base + t;
      }
    }
    return -1;
  };
  const checks: [PgLossArray, FloatArray | null, boolean][] = [
    ['logp', a.logp, true],
    ['oldLogp', a.oldLogp, true],
    ['refLogp', a.klEstimator === null ? null : a.refLogp, true],
    ['advantages', a.advantages, a.advantagePerToken],
    ['entropy', a.entropy, true],
  ];
  for (const [array, v, tokenLayout] of checks) {
    if (v === null) continue;
    if (tokenLayout) {
      const index = perToken(v);
      if (index >= 0) return { array, index };
    } else {
      for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return { array, index: i };
    }
  }
  return null;
}

/** KL value v and ∂v/∂logp for d = logp − ref (docs/pg.md §3). */
function klTerm(code: number, logp: number, ref: number, clamp: boolean): [number, number] {
  const d = logp - ref;
  switch (code) {
    case KL_CODES.k1:
      return [d, 1];
    case KL_CODES.abs:
      return [Math.abs(d), d > 0 ? 1 : d < 0 ? -1 : 0];
    case KL_CODES.k2:
      return [0.5 * d * d, d];
    default: {
      const k = ref - logp;
      const kc = clamp ? Math.min(Math.max(k, -K3_ARG_CLAMP), K3_ARG_CLAMP) : k;
      const e = Math.exp(kc);
      const raw = e - kc - 1;
      if (!clamp) return [raw, 1 - e];
      const clamped = Math.abs(k) > K3_ARG_CLAMP || raw > K3_VALUE_CLAMP;
      return [Math.min(raw, K3_VALUE_CLAMP), clamped ? 0 : 1 - e];
    }
  }
}

const emptyStats = (): PgLossStats => ({
  tokens: 0, sequences: 0, clipFracHigh: 0, clipFracLow: 0, clipFracDual: 0, ratioMean: 0, approxKl: 0,
  klMean: 0, entropyMean: 0, policyLoss: 0, klLoss: 0, entropyLoss: 0,
});

export function policyLoss(a: PgLossArgs): PgLossOutcome {
  const nonFinite = firstNonFinite(a);
  if (nonFinite) return { loss: NaN, stats: emptyStats(), nonFinite };

  const nSeq = a.offsets.length - 1;
  const L = activeCounts(a);
  let tokens = 0;
  let sequences = 0;
  for (let i = 0; i < nSeq; i++) {
    tokens += L[i]!;
    if (L[i]! > 0) sequences++;
  }
  const w = weights(a.aggregation, L, tokens, sequences);
  const wH = weights(a.entropyAggregation, L, tokens, sequences);
  const klCode = a.klEstimator === null ? -1 : KL_CODES[a.klEstimator];
  const lo = 1 - a.clipLow;
  const hi = 1 + a.clipHigh;

  let policy = 0;
  let klSum = 0;
  let entSum = 0;
  let nHigh = 0;
  let nLow = 0;
  let nDual = 0;
  let sumRatio = 0;
  let sumNegLogRatio = 0;
  let sumKl = 0;
  let sumH = 0;
  for (let i = 0; i < nSeq; i++) {
    const base = a.offsets[i]!;
    const width = a.offsets[i + 1]! - base;
    let seqPolicy = 0;
    let seqKl = 0;
    let seqH = 0;
    for (let t = 0; t < width; t++) {
      const k = base + t;
      if (!isActive(a, i, t)) {
        a.grad[k] = 0;
        if (a.gradEntropy) a.gradEntropy[k] = 0;
        continue;
      }
      const A = a.advantagePerToken ? a.advantages[k]! : a.advantages[i]!;
      const logp = a.logp[k]!;
      const rawDelta = logp - a.oldLogp[k]!;
      const delta = Math.min(Math.max(rawDelta, -a.logRatioClamp), a.logRatioClamp);
      const r = Math.exp(delta);
      const rc = Math.min(r, a.ratioCap);
      const l1 = -A * rc;
      const l2 = -A * Math.min(Math.max(r, lo), hi);
      const lc = Math.max(l1, l2);
      let loss = lc;
      let dual = false;
      if (A < 0 && Number.isFinite(a.dualClip)) {
        const l3 = -A * a.dualClip;
        loss = Math.min(l3, lc);
        dual = l3 < lc;
      }
      // Ties go to the unclipped branch (verl, Liger); the clamp, the cap and the dual clip are constants in logp.
      const dPolicy = l1 >= l2 && !dual && Math.abs(rawDelta) <= a.logRatioClamp && r <= a.ratioCap ? -A * r : 0;
      let dKl = 0;
      if (klCode >= 0) {
        const [v, g] = klTerm(klCode, logp, a.refLogp![k]!, a.klClamp);
        seqKl += v;
        sumKl += v;
        dKl = a.klCoef * g;
      }
      seqPolicy += loss;
      a.grad[k] = w[i]! * (dPolicy + dKl);
      if (a.entropy) {
        const H = a.entropy[k]!;
        seqH += H;
        sumH += H;
        a.gradEntropy![k] = -a.entropyCoef * wH[i]!;
      }
      if (l2 > l1) {
        if (A > 0) nHigh++;
        else if (A < 0) nLow++;
      }
      if (dual) nDual++;
      sumRatio += r;
      sumNegLogRatio -= delta;
    }
    policy += w[i]! * seqPolicy;
    klSum += w[i]! * seqKl;
    entSum += wH[i]! * seqH;
  }
  const mean = (s: number): number => (tokens > 0 ? s / tokens : 0);
  const policyLoss = policy;
  const klLoss = klCode >= 0 ? a.klCoef * klSum : 0;
  const entropyLoss = a.entropy ? -a.entropyCoef * entSum : 0;
  const stats: PgLossStats = {
    tokens,
    sequences,
    clipFracHigh: mean(nHigh),
    clipFracLow: mean(nLow),
    clipFracDual: mean(nDual),
    ratioMean: mean(sumRatio),
    approxKl: mean(sumNegLogRatio),
    klMean: mean(sumKl),
    entropyMean: mean(sumH),
    policyLoss,
    klLoss,
    entropyLoss,
  };
  return { loss: policyLoss + klLoss + entropyLoss, stats, nonFinite: null };
}
