/**
 * The pg family on every available backend against the js oracle (src/backends/js/pg/), f64 and f32.
 * A backend that does not register a dtype must fall back, and the context must record it.
 *
 * Tolerances. The oracle computes in f64 on the very values the backend gets (f32 inputs are the same
 * f32 numbers for both), so the difference is the backend's own rounding, bounded with u its unit
 * roundoff (Higham, Accuracy and Stability, §3.1):
 *  - a per-element quantity (grad, ∂logits) takes a handful of roundings plus the rounding of an
 *    exp/log argument of size |z|: |err| ≤ 64·u·(1 + |args|)·(the element's magnitude, from its terms);
 *  - a sum of n terms is within γ_n·Σ|terms|; a backend may add f32 partials over at most 4096 terms
 *    (native blocks, GPU workgroup trees) and combines partials in f64, so n is capped at 4096 for f32.
 *    Σ|terms| is bounded by Σ_k w_k·max|term|, with the weights w_k read off the oracle itself: at
 *    A = −1 and logp = old every ℓ_k is 1 and every ∂ℓ_k is w_k (docs/pg.md §4).
 * Inputs keep every ratio and KL argument ≥ 1e-3 away from a clip, cap, dual-clip or k3-clamp kink, so
 * no branch can flip between the oracle's f64 and a backend's rounding.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { eps, openForConformance, rng } from '../support/backends.js';
import type { AggregationMode, BackendName, FloatArray, PgLossInput, PgLossOptions, PgLossResult } from '../../src/index.js';

const { ctx, backends } = await openForConformance();
afterAll(() => ctx.dispose());
const others = backends.filter((b) => b !== 'js');

type DT = 'f32' | 'f64';
const make = (dtype: DT, v: ArrayLike<number>): FloatArray => (dtype === 'f32' ? Float32Array.from(v) : Float64Array.from(v));

// Every kink of the option grid below: ratio bounds 1 − low, 1 + high, dual c, cap δ (as log-ratios), the log-ratio clamp.
const RATIO_KINKS = [0.75, 0.8, 1.2, 1.28, 1.5, 1.6, 2, 3].map(Math.log).concat([0.9, -0.9]);
/** k where verl's k3 value clamp starts (e^k − k − 1 = 10), by bisection. */
const K3_KINK = (() => {
  let lo = 2;
  let hi = 3;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (Math.exp(mid) - mid - 1 < 10) lo = mid;
    else hi = mid;
  }
  return lo;
})();
const awayFrom = (x: number, kinks: number[]) => (kinks.some((k) => Math.abs(x - k) < 1e-3) ? x + 5e-3 : x);

interface Batch {
  input: PgLossInput;
  entropy: FloatArray;
  /** Per position: Δ = logp − old and k = ref − logp as the kernels see them (from the dtype's values). */
  delta: Float64Array;
  k: Float64Array;
  A: Float64Array;
}

function makeBatch(seed: number, dtype: DT, o: { nSeq: number; maxLen: number; ragged: boolean; holes: boolean; perToken: boolean }): Batch {
  const r = rng(seed);
  const lens = Array.from({ length: o.nSeq }, (_, i) => (i === 1 ? 0 : 1 + Math.floor(r() * o.maxLen)));
  const width = o.maxLen;
  const n = o.ragged ? lens.reduce((a, b) => a + b, 0) : o.nSeq * width;
  const old = new Float64Array(n);
  const logp = new Float64Array(n);
  const ref = new Float64Array(n);
  const H = new Float64Array(n);
  const mask = new Uint8Array(n);
  for (let p = 0; p < n; p++) {
    old[p] = -4 * r();
    logp[p] = old[p]! + awayFrom(-1.2 + 2.4 * r(), RATIO_KINKS);
    ref[p] = logp[p]! + awayFrom(-3 + 6.4 * r(), [0, K3_KINK]);
    H[p] = 3 * r();
  }
  const offsets = [0];
  for (let i = 0; i < o.nSeq; i++) {
    const start = offsets[i]!;
    const span = o.ragged ? lens[i]! : width;
    for (let t = 0; t < span; t++) mask[start + t] = t < lens[i]! && !(o.holes && r() < 0.15) ? 1 : 0;
    offsets.push(start + span);
  }
  const A = Float64Array.from({ length: o.perToken ? n : o.nSeq }, () => -1.5 + 3 * r());
  const input: PgLossInput = {
    logp: make(dtype, logp), oldLogp: make(dtype, old), refLogp: make(dtype, ref), advantages: make(dtype, A),
    ...(o.ragged ? { offsets } : { width }), mask, advantagePerToken: o.perToken,
  };
  // Recomputed from the rounded values, in f64, as the oracle computes them.
  const delta = Float64Array.from({ length: n }, (_, p) => input.logp[p]! - input.oldLogp[p]!);
  const k = Float64Array.from({ length: n }, (_, p) => input.refLogp![p]! - input.logp[p]!);
  return { input, entropy: make(dtype, H), delta, k, A: Float64Array.from(input.advantages) };
}

const clips: PgLossOptions[] = [
  { clip: { low: 0.2 } },
  { clip: { low: 0.2, high: 0.28, dual: false } },
  { clip: { low: 0.2, dual: 1.5 } },
  { convention: 'trl', clip: { low: 0.2, high: 0.28 }, ratioCap: 1.6 },
  { clip: { low: 0.25, dual: 2 }, logRatioClamp: 0.9 },
];
const kls: PgLossOptions['kl'][] = [
  undefined, { estimator: 'k1', coef: 0.1 }, { estimator: 'abs', coef: 0.1 }, { estimator: 'k2', coef: 0.1 },
  { estimator: 'k3', coef: 0.1, clamp: true }, { estimator: 'k3', coef: 0.1, clamp: false },
];
const aggregations: AggregationMode[] = ['token-mean', 'seq-mean-token-sum', 'seq-mean-token-mean', 'seq-mean-token-sum-norm', 'grpo', 'bnpo', 'dr_grpo', 'dapo'];

/** Per-token bounds on |ℓ|, |KL value|, |∂KL|, r and |Δ| for the magnitudes of the tolerance. */
function termBounds(b: Batch, o: PgLossOptions, p: number) {
  const Lc = o.logRatioClamp ?? (o.convention === 'trl' ? Infinity : 20);
  const d = Math.min(Math.max(b.delta[p]!, -Lc), Lc);
  const r = Math.exp(d);
  const k = b.k[p]!;
  const kc = o.kl?.clamp ? Math.min(Math.max(k, -20), 20) : k;
  return { r, d, v: Math.max(Math.abs(k), 0.5 * k * k, Math.exp(kc) - kc - 1), g: Math.max(1, Math.abs(k), Math.abs(1 - Math.exp(kc))) };
}

function expectWithin(got: number, want: number, bound: number, what: string): void {
  expect(Math.abs(got - want), `${what}: ${got} vs oracle ${want} (bound ${bound})`).toBeLessThanOrEqual(bound);
}

async function compareLoss(backend: BackendName, dtype: DT, b: Batch, options: PgLossOptions): Promise<void> {
  const u = eps(dtype);
  const n = b.input.logp.length;
  const opts = { ...options, ...(options.entropy ? { entropy: { ...options.entropy, values: b.entropy } } : {}) };
  const ref = await ctx.pg.policyLoss(b.input, { ...opts, backend: 'js', strict: true });
  if (!ctx.supports(backend, 'pgPolicyLoss', dtype)) {
    const got = await ctx.pg.policyLoss(b.input, { ...opts, backend });
    expect(got.backend).not.toBe(backend);
    expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'pgPolicyLoss', dtype, requested: backend });
    return;
  }
  const got: PgLossResult = await ctx.pg.policyLoss(b.input, { ...opts, backend, strict: true });
  expect(got.backend).toBe(backend);
  expect(got.grad).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);

  // The weights w_k (and entropy weights) from the oracle: A = −1, logp = old → ℓ = 1 and ∂ℓ = w_k per active position.
  const zero = make(dtype, new Float64Array(n));
  const unitA = make(dtype, new Float64Array(b.input.advantages.length).fill(-1));
  const unitInput = { ...b.input, logp: zero, oldLogp: zero, refLogp: zero, advantages: unitA };
  const unit = await ctx.pg.policyLoss(unitInput, { ...options, kl: undefined, entropy: undefined, backend: 'js' });
  const unitH = options.entropy
    ? await ctx.pg.policyLoss({ ...unitInput, advantages: make(dtype, new Float64Array(b.input.advantages.length)) }, { ...options, kl: undefined, entropy: { ...options.entropy, values: make(dtype, new Float64Array(n).fill(1)), coef: -1 }, backend: 'js' })
    : null;

  let maxL = 0;
  let maxV = 0;
  let maxR = 0;
  let maxD = 0;
  let maxH = 0;
  const kl = options.kl;
  for (let p = 0; p < n; p++) {
    if (!b.input.mask![p]) continue;
    const t = termBounds(b, options, p);
    const seq = b.input.advantagePerToken ? p : seqOf(b, p);
    const a = Math.abs(b.A[seq]!);
    maxL = Math.max(maxL, a * Math.max(t.r, 1.3));
    maxV = Math.max(maxV, t.v);
    maxR = Math.max(maxR, t.r);
    maxD = Math.max(maxD, Math.abs(t.d));
    maxH = Math.max(maxH, b.entropy[p]!);
    const w = unit.grad[p]!;
    const bound = 64 * u * (1 + Math.abs(b.input.logp[p]!) + Math.abs(b.input.oldLogp[p]!) + Math.abs(b.input.refLogp![p]!)) * w * (a * t.r + (kl ? kl.coef * t.g : 0));
    expectWithin(got.grad[p]!, ref.grad[p]!, bound, `grad[${p}]`);
    if (options.entropy) expectWithin(got.gradEntropy![p]!, ref.gradEntropy![p]!, 64 * u * Math.abs(options.entropy.coef) * unitH!.gradEntropy![p]!, `gradEntropy[${p}]`);
  }
  for (let p = 0; p < n; p++) {
    if (!b.input.mask![p]) {
      expect(got.grad[p]).toBe(0);
      if (options.entropy) expect(got.gradEntropy![p]).toBe(0);
    }
  }
  const terms = Math.min(n, dtype === 'f32' ? 4096 : n) + 64;
  const sumW = unit.loss;
  const bounds = {
    policyLoss: terms * u * sumW * maxL,
    klLoss: kl ? terms * u * kl.coef * sumW * maxV : 0,
    entropyLoss: options.entropy ? terms * u * Math.abs(options.entropy.coef) * unitH!.loss * maxH : 0,
  };
  expectWithin(got.stats.policyLoss, ref.stats.policyLoss, bounds.policyLoss, 'policyLoss');
  expectWithin(got.stats.klLoss, ref.stats.klLoss, bounds.klLoss, 'klLoss');
  expectWithin(got.stats.entropyLoss, ref.stats.entropyLoss, bounds.entropyLoss, 'entropyLoss');
  expectWithin(got.loss, ref.loss, bounds.policyLoss + bounds.klLoss + bounds.entropyLoss, 'loss');
  expect(got.stats.tokens).toBe(ref.stats.tokens);
  expect(got.stats.sequences).toBe(ref.stats.sequences);
  for (const f of ['clipFracHigh', 'clipFracLow', 'clipFracDual'] as const) expectWithin(got.stats[f], ref.stats[f], 1e-12, f);
  expectWithin(got.stats.ratioMean, ref.stats.ratioMean, terms * u * maxR, 'ratioMean');
  expectWithin(got.stats.approxKl, ref.stats.approxKl, terms * u * maxD + 64 * u * 4, 'approxKl');
  expectWithin(got.stats.klMean, ref.stats.klMean, terms * u * maxV, 'klMean');
  expectWithin(got.stats.entropyMean, ref.stats.entropyMean, terms * u * maxH, 'entropyMean');
}

function seqOf(b: Batch, p: number): number {
  if (b.input.offsets) {
    const off = b.input.offsets as number[];
    let i = 0;
    while (off[i + 1]! <= p) i++;
    return i;
  }
  return Math.floor(p / b.input.width!);
}

describe.each(others)('%s backend: policyLoss', (backend) => {
  describe.each(['f64', 'f32'] as const)('%s', (dtype) => {
    const padded = makeBatch(1, dtype, { nSeq: 7, maxLen: 40, ragged: false, holes: true, perToken: false });
    const withEntropy = { entropy: { values: padded.entropy, coef: 0.01 } };
    const grid = aggregations.flatMap((aggregation, a) => kls.map((kl, k) => ({ aggregation, kl, ...clips[(a + k) % clips.length]!, ...(k % 2 ? withEntropy : {}) })));
    it.each(grid.map((o, i) => [i, o] as const))('option set %i: %j', async (_i, options) => {
      await compareLoss(backend, dtype, padded, options as PgLossOptions);
    });

    const layouts: [string, Batch][] = [
      ['ragged, per-token advantages', makeBatch(2, dtype, { nSeq: 9, maxLen: 33, ragged: true, holes: true, perToken: true })],
      ['padded without holes, 64 × 300', makeBatch(3, dtype, { nSeq: 64, maxLen: 300, ragged: false, holes: false, perToken: false })],
      ['ragged, 200 sequences up to 257', makeBatch(4, dtype, { nSeq: 200, maxLen: 257, ragged: true, holes: true, perToken: false })],
    ];
    it.each(layouts)('%s', async (_name, b) => {
      for (const [i, aggregation] of aggregations.entries()) {
        await compareLoss(backend, dtype, b, { ...clips[i % clips.length]!, aggregation, kl: kls[1 + (i % 5)], entropy: { values: b.entropy, coef: -0.02 } });
      }
    });
  });
});

/** Rows of logits uniform in [−spread, spread] and targets; the oracle's f64 lse is the reference for the bounds. */
function makeLogits(dtype: DT, N: number, V: number, spread: number, seed: number) {
  const r = rng(seed);
  const logits = make(dtype, Float64Array.from({ length: N * V }, () => spread * (2 * r() - 1)));
  const targets = Int32Array.from({ length: N }, () => Math.floor(r() * V));
  return { logits, targets };
}

describe.each(others)('%s backend: tokenLogprobs', (backend) => {
  const shapes: [number, number, number, number][] = [[5, 37, 8, 1], [33, 1000, 8, 0.7], [4, 5000, 60, 1.3], [70_000, 3, 5, 1]];
  describe.each(['f64', 'f32'] as const)('%s', (dtype) => {
    const u = eps(dtype);
    const tinyNormal = dtype === 'f32' ? 2 ** -126 : 2 ** -1022;
    it.each(shapes)('N = %i, V = %i, logits in ±%s, τ = %s: forward and backward', async (N, V, spread, temperature) => {
      const { logits, targets } = makeLogits(dtype, N, V, spread, N + V);
      const opts = { vocab: V, temperature };
      const ref = await ctx.pg.tokenLogprobs(logits, targets, { ...opts, backend: 'js' });
      const gradLogp = make(dtype, Float64Array.from({ length: N }, (_, n) => Math.sin(n + 1)));
      const gradEntropy = make(dtype, Float64Array.from({ length: N }, (_, n) => 0.5 * Math.cos(n)));
      const back = { ...opts, lse: ref.lse, entropy: ref.entropy, gradLogp, gradEntropy };
      if (!ctx.supports(backend, 'pgTokenLogprobs', dtype)) {
        const got = await ctx.pg.tokenLogprobs(logits, targets, { ...opts, backend });
        expect(got.backend).not.toBe(backend);
        expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'pgTokenLogprobs', dtype, requested: backend });
      } else {
        const got = await ctx.pg.tokenLogprobs(logits, targets, { ...opts, backend, strict: true });
        expect(got.backend).toBe(backend);
        expect(got.logp).toBeInstanceOf(dtype === 'f32' ? Float32Array : Float64Array);
        // lse = m + log S: |z| rounding of the max plus γ on S (terms in (0, 1], S ≥ 1); logp adds z_target; H = log S + Σp(m − z).
        const terms = Math.min(V, dtype === 'f32' ? 4096 : V) + 64;
        const zmax = spread / temperature;
        for (let n = 0; n < N; n++) {
          const scale = terms * u * (1 + 2 * zmax + Math.abs(ref.lse[n]!) + ref.entropy![n]!);
          expectWithin(got.lse[n]!, ref.lse[n]!, scale, `lse[${n}]`);
          expectWithin(got.logp[n]!, ref.logp[n]!, scale, `logp[${n}]`);
          expectWithin(got.entropy![n]!, ref.entropy![n]!, scale, `entropy[${n}]`);
        }
      }
      const want = await ctx.pg.tokenLogprobsBackward(logits, targets, { ...back, backend: 'js' });
      if (!ctx.supports(backend, 'pgTokenLogprobsBackward', dtype)) {
        const got = await ctx.pg.tokenLogprobsBackward(logits, targets, { ...back, backend });
        expect(got.backend).not.toBe(backend);
        expect(ctx.fallbacks().at(-1)).toMatchObject({ op: 'pgTokenLogprobsBackward', dtype, requested: backend });
        return;
      }
      const got = await ctx.pg.tokenLogprobsBackward(logits, targets, { ...back, backend, strict: true });
      const inPlace = await ctx.pg.tokenLogprobsBackward(logits.slice(), targets, { ...back, backend, strict: true, inPlace: true });
      const onlyL = await ctx.pg.tokenLogprobsBackward(logits, targets, { ...opts, lse: ref.lse, gradLogp, backend, strict: true });
      const wantL = await ctx.pg.tokenLogprobsBackward(logits, targets, { ...opts, lse: ref.lse, gradLogp, backend: 'js' });
      for (let n = 0; n < N; n++) {
        const lse = ref.lse[n]!;
        const H = ref.entropy![n]!;
        for (let j = 0; j < V; j++) {
          const i = n * V + j;
          const z = logits[i]! / temperature;
          const p = Math.exp(z - lse);
          const hot = j === targets[n] ? 1 : 0;
          // exp's argument z − lse carries u·(|z| + |lse|); the rest is a few roundings of the element's terms.
          const magNoP = (Math.abs(gradLogp[n]!) + Math.abs(gradEntropy[n]!) * (Math.abs(z - lse) + H + 1)) / temperature;
          const mag = (Math.abs(gradLogp[n]!) * (hot + p) + Math.abs(gradEntropy[n]!) * p * (Math.abs(z - lse) + H + 1)) / temperature;
          // A p below the smallest normal number may be flushed to 0 (GPUs) or lose bits as a subnormal: absolute slack.
          const bound = 64 * u * (1 + Math.abs(z) + Math.abs(lse) + H) * mag + 4 * tinyNormal * magNoP;
          expectWithin(got.gradLogits[i]!, want.gradLogits[i]!, bound, `gradLogits[${i}]`);
          expectWithin(inPlace.gradLogits[i]!, want.gradLogits[i]!, bound, `in-place gradLogits[${i}]`);
          expectWithin(onlyL.gradLogits[i]!, wantL.gradLogits[i]!, bound, `gradLogits[${i}] (∂logp only)`);
        }
      }
    });
  });
});

describe('the oracle', () => {
  it('registers every pg op for f32 and f64 on js', () => {
    const js = ctx.status().find((s) => s.name === 'js')!;
    for (const op of ['pgPolicyLoss', 'pgTokenLogprobs', 'pgTokenLogprobsBackward']) {
      for (const d of ['f32', 'f64']) expect(js.kernels).toContain(`${op}:${d}`);
    }
  });

  it('lists the backends this file compares (none besides js until a backend registers pg kernels)', () => {
    for (const b of others) expect(ctx.status().find((s) => s.name === b)?.available).toBe(true);
    expect(backends[0]).toBe('js');
  });
});
