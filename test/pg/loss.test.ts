/**
 * ctx.pg.policyLoss on the js oracle: hand-worked cases under both conventions, every gradient against
 * central finite differences in f64 over the clip × KL × aggregation grid, ragged = padded, masked
 * positions, statistics (docs/pg.md §2–§4, §8).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createContext, type AggregationMode, type PgLossInput, type PgLossOptions } from '../../src/index.js';

const ctx = await createContext({ backends: ['js'] });
afterAll(() => ctx.dispose());
const js = { backend: 'js', strict: true } as const;
const f64 = (v: number[]) => Float64Array.from(v);
const e = Math.exp;

/**
 * 2 sequences × 3 positions, the last of sequence 1 masked. old = 0, so Δ = logp and r = e^Δ.
 * Sequence 0, A = 1:    Δ = 0.1  → r = e^0.1 ∈ [0.8, 1.2], ℓ = −e^0.1, unclipped (l1 = l2, the tie goes to l1)
 *                       Δ = 0.3  → r = e^0.3 > 1.2, ℓ = −1.2, clipped high, ∂ℓ = 0
 *                       Δ = −0.3 → r = e^−0.3 = 0.741 < 0.8: l1 = −0.741 > l2 = −0.8, ℓ = −e^−0.3, unclipped
 * Sequence 1, A = −0.5: Δ = 0.1  → ℓ = 0.5·e^0.1, unclipped, ∂ℓ = 0.5·e^0.1
 *                       Δ = −0.5 → r = 0.607 < 0.8: l1 = 0.303 < l2 = 0.4, ℓ = 0.4, clipped low, ∂ℓ = 0
 *                       masked
 */
const hand: PgLossInput<Float64Array> = {
  logp: f64([0.1, 0.3, -0.3, 0.1, -0.5, 7]),
  oldLogp: f64([0, 0, 0, 0, 0, 0]),
  advantages: f64([1, -0.5]),
  mask: Uint8Array.from([1, 1, 1, 1, 1, 0]),
  width: 3,
};
const ell = [-e(0.1), -1.2, -e(-0.3), 0.5 * e(0.1), 0.4];
const dEll = [-e(0.1), 0, -e(-0.3), 0.5 * e(0.1), 0, 0];
const S0 = ell[0]! + ell[1]! + ell[2]!;
const S1 = ell[3]! + ell[4]!;

describe('hand-worked cases', () => {
  it('verl token-mean: loss, gradient and statistics', async () => {
    const r = await ctx.pg.policyLoss(hand, js);
    expect(r.loss).toBeCloseTo((S0 + S1) / 5, 14);
    dEll.forEach((d, k) => expect(r.grad[k]).toBeCloseTo(d / 5, 14));
    expect(r.grad[5]).toBe(0);
    expect(r.stats).toMatchObject({ tokens: 5, sequences: 2, clipFracHigh: 1 / 5, clipFracLow: 1 / 5, clipFracDual: 0, klMean: 0, entropyMean: 0, klLoss: 0, entropyLoss: 0 });
    expect(r.stats.ratioMean).toBeCloseTo((e(0.1) + e(0.3) + e(-0.3) + e(0.1) + e(-0.5)) / 5, 14);
    expect(r.stats.approxKl).toBeCloseTo(-(0.1 + 0.3 - 0.3 + 0.1 - 0.5) / 5, 14);
    expect(r.stats.policyLoss).toBe(r.loss);
    expect(r.config).toMatchObject({ convention: 'verl', layout: 'padded', sequences: 2, width: 3, advantagePerToken: false, clipLow: 0.2, clipHigh: 0.2, dualClip: 3, logRatioClamp: 20 });
  });

  // S_i = Σ_t ℓ over sequence i's active positions (L_0 = 3, L_1 = 2), B = 2 sequences, T = 3.
  const modes: [AggregationMode, PgLossOptions['normalizers'], number][] = [
    ['token-mean', undefined, (S0 + S1) / 5],
    ['token-mean', { globalTokens: 20, dpSize: 4 }, ((S0 + S1) / 20) * 4],
    ['token-mean', { gradientAccumulation: 4 }, (S0 + S1) / 5 / 4],
    ['seq-mean-token-sum', undefined, (S0 + S1) / 2],
    ['seq-mean-token-sum', { globalBatchSize: 8, dpSize: 2 }, ((S0 + S1) / 8) * 2],
    ['seq-mean-token-mean', undefined, (S0 / (3 + 1e-8) + S1 / (2 + 1e-8)) / 2],
    ['seq-mean-token-sum-norm', undefined, (S0 + S1) / 3],
    ['seq-mean-token-sum-norm', { lossScaleFactor: 512 }, (S0 + S1) / 512],
    ['grpo', undefined, (S0 / 3 + S1 / 2) / 2],
    ['grpo', { gradientAccumulation: 2 }, (S0 / 3 + S1 / 2) / 2 / 2],
    ['bnpo', undefined, (S0 + S1) / 5],
    ['dr_grpo', undefined, (S0 + S1) / (2 * 3)],
    ['dr_grpo', { maxCompletionLength: 512 }, (S0 + S1) / (2 * 512)],
    ['dapo', undefined, (S0 + S1) / 5],
    ['dapo', { globalTokens: 40, dpSize: 2 }, (S0 + S1) / (40 / 2)],
  ];
  it.each(modes)('aggregation %s %j', async (aggregation, normalizers, expected) => {
    const r = await ctx.pg.policyLoss(hand, { ...js, aggregation, normalizers });
    expect(r.loss).toBeCloseTo(expected, 13);
    expect(r.config.aggregation.mode).toBe(aggregation);
  });

  it('an empty sequence: verl seq-mean leaves it out, TRL grpo counts it (B = 3)', async () => {
    const withEmpty = { ...hand, logp: f64([...hand.logp, 0, 0, 0]), oldLogp: f64(Array(9).fill(0)), advantages: f64([1, -0.5, 2]), mask: Uint8Array.from([1, 1, 1, 1, 1, 0, 0, 0, 0]) };
    expect((await ctx.pg.policyLoss(withEmpty, { ...js, aggregation: 'seq-mean-token-mean' })).loss).toBeCloseTo((S0 / (3 + 1e-8) + S1 / (2 + 1e-8)) / 2, 13);
    expect((await ctx.pg.policyLoss(withEmpty, { ...js, aggregation: 'grpo' })).loss).toBeCloseTo((S0 / 3 + S1 / 2) / 3, 13);
    const r = await ctx.pg.policyLoss(withEmpty, { ...js, aggregation: 'seq-mean-token-sum' });
    expect(r.stats.sequences).toBe(2);
    expect(r.grad.subarray(6)).toEqual(f64([0, 0, 0]));
  });

  it('dual clip (verl c = 3) versus TRL (none) and the log-ratio clamp', async () => {
    // A = −1, Δ = 1.5: r = e^1.5 = 4.48 > c. verl: l1 = 4.48 > l2 = 1.2, l3 = 3 < 4.48 → ℓ = 3, dual, ∂ℓ = 0.
    // TRL: ℓ = e^1.5, ∂ℓ = e^1.5. Token 2 (Δ = 25) is past verl's ±20 clamp: r = e^20, dual too, ∂ℓ = 0.
    const input = { logp: f64([1.5, 25]), oldLogp: f64([0, 0]), advantages: f64([-1]), width: 2 };
    const verl = await ctx.pg.policyLoss(input, { ...js, aggregation: 'seq-mean-token-sum' });
    expect(verl.loss).toBeCloseTo(3 + 3, 13);
    expect([...verl.grad]).toEqual([0, 0]);
    expect(verl.stats.clipFracDual).toBe(1);
    expect(verl.stats.ratioMean).toBeCloseTo((e(1.5) + e(20)) / 2, 0);
    const trl = await ctx.pg.policyLoss({ ...input, logp: f64([1.5, 0.1]) }, { ...js, convention: 'trl', aggregation: 'seq-mean-token-sum' });
    expect(trl.loss).toBeCloseTo(e(1.5) + e(0.1), 13);
    expect(trl.grad[0]).toBeCloseTo(e(1.5), 13);
    expect(trl.stats.clipFracDual).toBe(0);
    expect(trl.config).toMatchObject({ convention: 'trl', dualClip: Infinity, logRatioClamp: Infinity, aggregation: { mode: 'seq-mean-token-sum' } });
  });

  it('TRL: asymmetric clip, δ cap, unclamped k3, grpo aggregation', async () => {
    // One sequence, A = 2, clip [0.8, 1.28], δ = 1.5. old = 0, ref = −3 everywhere (k = ref − logp).
    // t0: Δ = 0.2 → r = 1.2214 ≤ 1.28: ℓ = −2·r, ∂ℓ = −2r.      k = −3.2: v = e^−3.2 + 2.2, g = 1 − e^−3.2
    // t1: Δ = 0.45 → r = 1.568 > δ: l1 = −2·1.5 = −3 < l2 = −2·1.28 → ℓ = −2.56, ∂ℓ = 0. k = −3.45
    const input = { logp: f64([0.2, 0.45]), oldLogp: f64([0, 0]), refLogp: f64([-3, -3]), advantages: f64([2]), seqLen: [2] };
    const beta = 0.04;
    const r = await ctx.pg.policyLoss(input, { ...js, convention: 'trl', clip: { low: 0.2, high: 0.28 }, ratioCap: 1.5, kl: { estimator: 'k3', coef: beta }, aggregation: 'grpo' });
    const v = [e(-3.2) + 3.2 - 1, e(-3.45) + 3.45 - 1];
    expect(r.stats.policyLoss).toBeCloseTo((-2 * e(0.2) - 2.56) / 2, 13);
    expect(r.stats.klLoss).toBeCloseTo((beta * (v[0]! + v[1]!)) / 2, 13);
    expect(r.loss).toBeCloseTo(r.stats.policyLoss + r.stats.klLoss, 14);
    expect(r.grad[0]).toBeCloseTo((-2 * e(0.2) + beta * (1 - e(-3.2))) / 2, 13);
    expect(r.grad[1]).toBeCloseTo((beta * (1 - e(-3.45))) / 2, 13);
    expect(r.stats.clipFracHigh).toBe(1 / 2);
    // Statistics see the uncapped ratio (δ caps only the l1 branch).
    expect(r.stats.ratioMean).toBeCloseTo((e(0.2) + e(0.45)) / 2, 14);
    expect(r.stats.approxKl).toBeCloseTo(-(0.2 + 0.45) / 2, 14);
    expect(r.config.kl).toEqual({ estimator: 'k3', coef: beta, clamp: false });
  });

  it("verl's k3 clamps: value ≤ 10, argument ±20, gradient 0 where a clamp is active", async () => {
    // k = ref − logp: 3 (e^3 − 4 = 16.1 → 10, g = 0), 25 (→ 20: e^20 − 21 → 10, g = 0), −1 (e^−1, g = 1 − e^−1), −25 (→ −20: v = e^−20 + 19 → 10, g = 0).
    const input = { logp: f64([0, 0, 0, 0]), oldLogp: f64([0, 0, 0, 0]), refLogp: f64([3, 25, -1, -25]), advantages: f64([0]), width: 4 };
    const r = await ctx.pg.policyLoss(input, { ...js, kl: { estimator: 'low_var_kl', coef: 1 }, aggregation: 'seq-mean-token-sum' });
    expect(r.stats.klMean).toBeCloseTo((10 + 10 + e(-1) + 10) / 4, 13);
    expect([...r.grad].map((g) => g + 0)).toEqual([0, 0, 1 - e(-1), 0]);
    const trl = await ctx.pg.policyLoss({ ...input, refLogp: f64([3, 1, -1, -2]) }, { ...js, convention: 'trl', kl: { estimator: 'k3', coef: 1 }, aggregation: 'seq-mean-token-sum' });
    expect(trl.grad[0]).toBeCloseTo(1 - e(3), 13);
    expect(trl.stats.klMean).toBeCloseTo((e(3) - 4 + e(1) - 2 + e(-1) + e(-2) + 1) / 4, 13);
  });

  it('entropy bonus: verl aggregates it like the loss, TRL by token mean', async () => {
    const H = f64([1, 2, 3, 4, 5, 99]);
    const verl = await ctx.pg.policyLoss(hand, { ...js, aggregation: 'seq-mean-token-sum', entropy: { values: H, coef: 0.1 } });
    expect(verl.stats.entropyLoss).toBeCloseTo((-0.1 * (1 + 2 + 3 + 4 + 5)) / 2, 14);
    expect(verl.stats.entropyMean).toBeCloseTo(3, 14);
    expect([...verl.gradEntropy!]).toEqual([-0.05, -0.05, -0.05, -0.05, -0.05, 0]);
    const trl = await ctx.pg.policyLoss(hand, { ...js, convention: 'trl', aggregation: 'grpo', entropy: { values: H, coef: 0.1 } });
    expect(trl.stats.entropyLoss).toBeCloseTo((-0.1 * 15) / 5, 14);
    expect(trl.config.entropyAggregation).toMatchObject({ mode: 'bnpo' });
    expect(trl.loss).toBeCloseTo(trl.stats.policyLoss + trl.stats.entropyLoss, 14);
  });
});

// ----- finite differences over the option grid -----

/** 3 padded sequences of width 4 (a hole in sequence 0, sequence 2 of length 2), Δ away from every kink of the grid below. */
const deltas = [0.15, -0.6, 0.55, -0.1, 1.3, 0.05, -1.2, 0.3, 0.8, -0.1, 9, 9];
const kArgs = [-1.5, -0.4, 0.3, 1.1, 2.2, 3.2, -0.4, 0.3, 1.1, -1.5, 0, 0]; // k = ref − logp
const logp0 = f64(deltas.map((d, k) => -1 - 0.1 * k + d));
const grid: PgLossInput<Float64Array> = {
  logp: logp0,
  oldLogp: f64(deltas.map((_, k) => -1 - 0.1 * k)),
  refLogp: f64(kArgs.map((a, k) => logp0[k]! + a)),
  advantages: f64([0.7, -1.3, 0.4]),
  mask: Uint8Array.from([1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]),
  width: 4,
};
const H0 = f64([0.5, 1.5, 2.5, 0.2, 1.1, 3, 0.7, 0.9, 2, 1.3, 0, 0]);

const clips: [string, PgLossOptions][] = [
  ['verl symmetric, c = 3', { clip: { low: 0.2 } }],
  ['asymmetric 0.2 / 0.28, no dual', { clip: { low: 0.2, high: 0.28, dual: false } }],
  ['dual c = 1.5', { clip: { low: 0.2, dual: 1.5 } }],
  ['TRL δ = 1.6, 0.2 / 0.28', { convention: 'trl', clip: { low: 0.2, high: 0.28 }, ratioCap: 1.6 }],
  ['log-ratio clamp 0.9, c = 2', { clip: { low: 0.25, dual: 2 }, logRatioClamp: 0.9 }],
];
const kls: [string, PgLossOptions['kl']][] = [
  ['no KL', undefined],
  ['k1', { estimator: 'k1', coef: 0.3 }],
  ['abs', { estimator: 'abs', coef: 0.3 }],
  ['k2', { estimator: 'k2', coef: 0.3 }],
  ['k3 clamped', { estimator: 'k3', coef: 0.3, clamp: true }],
  ['k3 unclamped', { estimator: 'k3', coef: 0.3, clamp: false }],
];
const aggregations: AggregationMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm', 'grpo', 'bnpo', 'dr_grpo', 'dapo'];

/** Central differences with h = 1e-6: truncation O(h²·ℓ''') ≈ 1e-11, rounding ≈ u·|loss|/h ≈ 1e-9. */
async function fdCheck(input: PgLossInput<Float64Array>, options: PgLossOptions<Float64Array>, field: 'logp' | 'entropy'): Promise<void> {
  const base = await ctx.pg.policyLoss(input, { ...options, ...js });
  const x = field === 'logp' ? input.logp : options.entropy!.values;
  const analytic = field === 'logp' ? base.grad : base.gradEntropy!;
  const h = 1e-6;
  for (let k = 0; k < x.length; k++) {
    const at = async (s: number) => {
      const y = x.slice();
      y[k] = x[k]! + s * h;
      const o = field === 'logp' ? (await ctx.pg.policyLoss({ ...input, logp: y }, { ...options, ...js }))
        : (await ctx.pg.policyLoss(input, { ...options, ...js, entropy: { ...options.entropy!, values: y } }));
      return o.loss;
    };
    const fd = ((await at(1)) - (await at(-1))) / (2 * h);
    expect(Math.abs(fd - analytic[k]!), `${field}[${k}]: fd ${fd}, analytic ${analytic[k]}`).toBeLessThanOrEqual(1e-7 * (1 + Math.abs(fd)));
    if (input.mask && input.mask[k] === 0) expect(analytic[k]).toBe(0);
  }
}

describe.each(clips)('∂loss/∂logp against finite differences: %s', (_name, clipOptions) => {
  describe.each(kls)('%s', (_kl, kl) => {
    it.each(aggregations)('%s', async (aggregation) => {
      await fdCheck(grid, { ...clipOptions, kl, aggregation }, 'logp');
    });
  });
});

describe('∂loss/∂H against finite differences', () => {
  it.each(aggregations)('%s (verl: like the loss) and under TRL (token mean)', async (aggregation) => {
    await fdCheck(grid, { aggregation, entropy: { values: H0, coef: 0.05 } }, 'entropy');
    await fdCheck(grid, { aggregation, convention: 'trl', entropy: { values: H0, coef: -0.2 } }, 'entropy');
    await fdCheck(grid, { aggregation, entropy: { values: H0, coef: 0.05, aggregation: 'seq-mean-token-mean' }, kl: { estimator: 'k2', coef: 0.1 } }, 'logp');
  });

  it('per-token advantages', async () => {
    const perToken = { ...grid, advantages: f64([0.7, 9, -0.2, 1.1, -1.3, 0.5, -0.8, -0.3, 0.4, -0.9, 9, 9]) };
    for (const [, clip] of clips) await fdCheck(perToken, { ...clip, kl: { estimator: 'k3', coef: 0.2, clamp: true }, aggregation: 'seq-mean-token-mean' }, 'logp');
    expect((await ctx.pg.policyLoss(perToken, js)).config.advantagePerToken).toBe(true);
  });
});

describe('layouts', () => {
  /** The grid's active positions as a ragged batch; the hole in sequence 0 stays masked. */
  const raggedOf = (input: PgLossInput<Float64Array>) => {
    const rows = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]];
    const pick = (a: Float64Array) => f64(rows.flat().map((k) => a[k]!));
    return {
      input: {
        logp: pick(input.logp), oldLogp: pick(input.oldLogp), refLogp: pick(input.refLogp!), advantages: input.advantages,
        offsets: [0, 4, 8, 10], mask: Uint8Array.from([1, 0, 1, 1, 1, 1, 1, 1, 1, 1]),
      },
      positions: rows.flat(),
      pick,
    };
  };

  it.each(aggregations)('ragged and padded give the same loss, gradients and statistics (%s)', async (aggregation) => {
    const { input, positions, pick } = raggedOf(grid);
    const options: PgLossOptions<Float64Array> = { aggregation, kl: { estimator: 'k3', coef: 0.2 }, entropy: { values: H0, coef: 0.01 } };
    const padded = await ctx.pg.policyLoss(grid, { ...options, ...js });
    const ragged = await ctx.pg.policyLoss(input, { ...options, ...js, entropy: { values: pick(H0), coef: 0.01 } });
    expect(ragged.config.layout).toBe('ragged');
    expect(ragged.loss).toBe(padded.loss);
    expect(ragged.stats).toEqual(padded.stats);
    expect([...ragged.grad]).toEqual(positions.map((k) => padded.grad[k]));
    expect([...ragged.gradEntropy!]).toEqual(positions.map((k) => padded.gradEntropy![k]));
    expect([...padded.grad.subarray(10)]).toEqual([0, 0]);
  });

  it('seqLen alone, mask alone, and both (agreeing) are the same padded layout', async () => {
    const base = { logp: grid.logp, oldLogp: grid.oldLogp, advantages: grid.advantages };
    const mask = Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    const a = await ctx.pg.policyLoss({ ...base, seqLen: [4, 4, 2] }, js);
    const b = await ctx.pg.policyLoss({ ...base, mask }, js);
    const c = await ctx.pg.policyLoss({ ...base, mask, seqLen: Int32Array.from([4, 4, 2]) }, js);
    expect(b.loss).toBe(a.loss);
    expect(c.loss).toBe(a.loss);
    expect(b.grad).toEqual(a.grad);
    expect(a.config.width).toBe(4);
  });

  it('values at masked positions never matter (with ignoreMaskedNonFinite, not even NaN)', async () => {
    const a = await ctx.pg.policyLoss(grid, js);
    const junk = (v: Float64Array) => v.map((x, k) => (grid.mask![k] === 0 ? NaN : x));
    const b = await ctx.pg.policyLoss({ ...grid, logp: junk(grid.logp), oldLogp: junk(grid.oldLogp) }, { ...js, ignoreMaskedNonFinite: true });
    expect(b.loss).toBe(a.loss);
    expect(b.grad).toEqual(a.grad);
    expect(b.stats).toEqual(a.stats);
  });

  it('f32 input gives f32 gradients close to the f64 result on the same values', async () => {
    const r64 = await ctx.pg.policyLoss(grid, { ...js, kl: { estimator: 'k2', coef: 0.1 } });
    const f32 = (a: Float64Array) => Float32Array.from(a);
    const g32 = { ...grid, logp: f32(grid.logp), oldLogp: f32(grid.oldLogp), refLogp: f32(grid.refLogp!), advantages: f32(grid.advantages) };
    const r32 = await ctx.pg.policyLoss(g32, { ...js, kl: { estimator: 'k2', coef: 0.1 } });
    expect(r32.grad).toBeInstanceOf(Float32Array);
    // The oracle computes in f64 on the f32 values: only the input rounding (|Δ| ≤ u·|logp|) separates the two.
    expect(Math.abs(r32.loss - r64.loss)).toBeLessThan(1e-6);
    r64.grad.forEach((g, k) => expect(Math.abs(r32.grad[k]! - g)).toBeLessThan(1e-6));
  });
});
